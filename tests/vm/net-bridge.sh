#!/usr/bin/env bash
# Bridge mode as root, inside a network namespace this test makes: a bridge
# with an address, a VM started in the namespace on it with a static guest
# address; the namespace reaches a TCP server in the guest, and the guest
# reaches the namespace; status and ip show the address; down removes the
# tap.  The VM has a second card on a switch network at the same time, whose
# gateway reaches the namespace's loopback.  Nothing leaves the namespace.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/net-lib.sh"

[ "$(id -u)" -eq 0 ] || fail "this test needs root (network namespaces, taps)"
NS=gvt-br-$$
on_cleanup ip netns del "$NS"
ip netns add "$NS"
in_ns() { ip netns exec "$NS" "$@"; }
in_ns ip link set lo up
in_ns ip link add br0 type bridge
in_ns ip addr add 10.77.0.1/24 dev br0
in_ns ip link set br0 up

vm=$PREFIX-br
p=$(new_project "$vm")
printf '[net]\nmode=bridge\nbridge=br0\naddress=10.77.0.2/24\ngateway=10.77.0.1\n' >>"$p/grainvm.conf"
printf '[net lab]\nmode=switch\nnetwork=%s\n' "$PREFIX-lab" >>"$p/grainvm.conf"
(cd "$p" && in_ns "$GRAINVM" up -q) || fail "up in the namespace failed"

tap=gv-$vm
in_ns ip -o link show "$tap" | grep -q "master br0" || fail "tap $tap is not on br0: $(in_ns ip -o link)"
expect_code 0 "$GRAINVM" status "$vm"
echo "$OUT" | grep -q "^net      bridge br0, tap $tap, mac .*, guest 10.77.0.2/24" || fail "status: $OUT"
echo "$OUT" | grep -q "^address  eth.* 10.77.0.2/24" || fail "status lacks the bridge address: $OUT"
echo "$OUT" | grep -q "^net      lab: switch network $PREFIX-lab, mac .*, guest 10.0.2.15/24" || fail "status: $OUT"
echo "$OUT" | grep -q "^address  eth.* 10.0.2.15/24" || fail "status lacks the switch address: $OUT"
expect_code 0 "$GRAINVM" ip "$vm"
[ "$OUT" = 10.77.0.2 ] || fail "ip printed '$OUT'"

# The namespace reaches a server in the guest ...
guest_bg "$vm" "exec nc -ll -p 7000 -e /bin/cat" >/dev/null
talk() { [ "$(in_ns bash -c "$(declare -f tcp_talk); tcp_talk 10.77.0.2 7000 $1")" = "$1" ]; }
wait_for 15 talk hello-guest || fail "the namespace cannot reach the guest's server"
talk again || fail "second connection failed"
# ... and the guest reaches the namespace through its gateway.
in_ns python3 -c "
import socket; s=socket.socket(); s.bind(('10.77.0.1',7001)); s.listen(); s.settimeout(30)
c,_=s.accept(); c.sendall(b'ns-here'); c.close()" &
srv=$!
wait_listening 7001 in_ns || fail "the namespace's server did not start"
[ "$(guest_sh "$vm" "nc 10.77.0.1 7001 </dev/null")" = ns-here ] || fail "the guest cannot reach the namespace"
wait $srv
# ... and through the other card, the switch's gateway: the namespace's loopback.
in_ns python3 -c "
import socket; s=socket.socket(); s.bind(('127.0.0.1',7002)); s.listen(); s.settimeout(30)
c,_=s.accept(); c.sendall(b'lo-here'); c.close()" &
srv=$!
wait_listening 7002 in_ns || fail "the namespace's server did not start"
[ "$(guest_sh "$vm" "nc 10.0.2.2 7002 </dev/null")" = lo-here ] || fail "the guest cannot reach the switch's gateway"
wait $srv

expect_code 0 "$GRAINVM" down "$vm"
no_leftovers "$vm"
if in_ns ip link show "$tap" >/dev/null 2>&1; then fail "tap $tap left after down"; fi
switch_gone() { ! pgrep -f -- "__switch $PREFIX-lab " >/dev/null; }
wait_for 10 switch_gone || fail "the switch outlived its only VM"
note "ok"
