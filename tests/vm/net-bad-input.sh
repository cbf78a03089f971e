#!/usr/bin/env bash
# Network bad input: an unknown mode, a bridge that does not exist, a
# malformed forward, a forwarded host port in use, a bridge that QEMU's
# helper may not use without root.  Each is exit 2 with one line saying
# what and where, before anything starts: no process, no VM state.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/net-lib.sh"

p=$T/netbad
mkdir -p "$p"
cd "$p"

check_bad() { # CONF EXPECTED-SUBSTRING
	printf '%b' "$1" >grainvm.conf
	expect_code 2 "$GRAINVM" up
	[ "$(echo "$OUT" | wc -l)" -eq 1 ] || fail "not one line: $OUT"
	echo "$OUT" | grep -qF -- "$2" || fail "message '$OUT' lacks '$2'"
	[ ! -e "$GRAINVM_HOME/state" ] || fail "state written: $(find "$GRAINVM_HOME/state")"
	if pgrep -f -- "$T" >/dev/null; then fail "a process was started"; fi
	note "rejected: $OUT"
}

check_bad '[net]\nmode=vde\n' 'grainvm.conf: [net] mode: "vde" is not one of user, none, bridge, switch'
check_bad '[net]\nmode=bridge\n' 'grainvm.conf: [net] mode: mode=bridge needs bridge=NAME'
check_bad "[net]\nmode=bridge\nbridge=nobr$$\n" "[net] bridge: there is no interface nobr$$ on this host (create it: ip link add nobr$$ type bridge"
check_bad '[net]\nmode=bridge\nbridge=lo\n' '[net] bridge: lo is not a bridge'
check_bad '[net]\nforward=tcp:22\n' 'grainvm.conf: [net] forward: forward "tcp:22" is not'
check_bad '[net]\nforward=udp:0.0.0.0:70000:53\n' 'ports must be numbers from 1 to 65535'
check_bad '[net lab]\nmode=switch\nforward=8080:80\n' 'grainvm.conf: [net lab] forward: only for mode=user (this NIC is mode=switch)'

busy=$(free_port)
python3 -c "import socket,time; s=socket.socket(); s.bind(('127.0.0.1',$busy)); s.listen(); time.sleep(60)" &
holder=$!
wait_for 5 python3 -c "import socket; socket.create_connection(('127.0.0.1',$busy))"
check_bad "[net]\nforward=tcp:$busy:22\n" "[net] forward: host port tcp 127.0.0.1:$busy is in use by another program"
kill $holder

# Without root, a bridge goes through QEMU's setuid helper: grainvm says what
# is missing.  As nobody, in a namespace with a real bridge, so only the
# helper's conditions are left to fail.
NS=gvt-nb-$$
on_cleanup ip netns del "$NS"
ip netns add "$NS"
ip netns exec "$NS" ip link add br0 type bridge
chmod 755 "$T"
mkdir -m 777 "$T/nobody"
printf '[vm]\nname=nb\n[share workspace]\nenabled=false\n[net]\nmode=bridge\nbridge=br0\n' >"$T/nobody/grainvm.conf"
as_nobody() {
	(cd "$T/nobody" && ip netns exec "$NS" env GRAINVM_HOME="$T/nobody/h" "$@" \
		setpriv --reuid=65534 --regid=65534 --clear-groups "$GRAINVM" up)
}
# A helper that is not setuid root cannot make a tap.
cp /bin/true "$T/helper-plain"
expect_code 2 as_nobody GRAINVM_BRIDGE_HELPER="$T/helper-plain"
echo "$OUT" | grep -qF "[net] mode=bridge without root: $T/helper-plain is not setuid root" || fail "$OUT"
note "rejected: $OUT"
# A setuid root one: then /etc/qemu/bridge.conf must allow the bridge.
if ! grep -qsE '^\s*allow\s+(br0|all)\s*$' /etc/qemu/bridge.conf; then
	install -m 4755 /bin/true "$T/helper-suid"
	expect_code 2 as_nobody GRAINVM_BRIDGE_HELPER="$T/helper-suid"
	echo "$OUT" | grep -qF "/etc/qemu/bridge.conf" || fail "no bridge.conf hint: $OUT"
	echo "$OUT" | grep -qF "allow br0" || fail "no 'allow br0' hint: $OUT"
	note "rejected: $OUT"
fi
[ ! -e "$T/nobody/h/state" ] || fail "state written for nobody"
if pgrep -f -- "$T" >/dev/null; then fail "a process was started"; fi
note "ok"
