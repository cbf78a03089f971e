#!/usr/bin/env bash
# Malformed specs and impossible requests: exit 2 (or 4), one line naming
# file, group and key; no VM state, no process, and a failed boot removes
# what it created.
. "$(dirname "$0")/lib.sh"

p=$T/bad
mkdir -p "$p"
cd "$p"

check_bad() { # CONF EXPECTED-SUBSTRING [EXTRA ARGS]
	printf '%b' "$1" >grainvm.conf
	shift
	local want=$1
	shift
	expect_code 2 "$GRAINVM" up "$@"
	[ "$(echo "$OUT" | wc -l)" -eq 1 ] || fail "not one line: $OUT"
	echo "$OUT" | grep -qF -- "$want" || fail "message '$OUT' lacks '$want'"
	[ ! -e "$GRAINVM_HOME/state" ] || fail "state written for a bad spec: $(find "$GRAINVM_HOME/state")"
	if pgrep -f -- "$T" >/dev/null; then fail "a process was started"; fi
	note "rejected: $OUT"
}

check_bad '[vm]\nmemory=12Q\n' 'grainvm.conf: [vm] memory: invalid size "12Q"'
check_bad '[vm]\nnosuchkey=1\n' 'grainvm.conf: [vm] unknown key "nosuchkey"'
check_bad '[vmm]\n' 'grainvm.conf: unknown group [vmm]'
check_bad '[boot]\nkernel=./no-such-kernel\n' 'grainvm.conf: [boot] kernel: '"$p"'/no-such-kernel: No such file or directory'
check_bad '[share src]\nsource=../missing\n' 'grainvm.conf: [share src] source: '"$T"'/missing: No such file or directory'
check_bad '[disk]\nimage=base.qcow2\n' 'grainvm.conf: [disk] image: '
check_bad '[net]\nforward=tcp:22\n' 'grainvm.conf: [net] forward: forward "tcp:22" is not'
check_bad '[vm]\n' '--set vm.cpus=zero: [vm] cpus' --set vm.cpus=zero
check_bad 'this is not a key file' 'grainvm.conf: '

# A base image with a qcow2 magic and a corrupt header: refused before anything starts.
printf 'QFI\373\000\000\000\003this is no qcow2 header' >base.qcow2
sha_bad=$(sha256sum base.qcow2)
printf '[vm]\nname=badbase\n[disk]\nimage=base.qcow2\n' >grainvm.conf
expect_code 2 "$GRAINVM" up
[ "$(echo "$OUT" | wc -l)" -eq 1 ] || fail "not one line: $OUT"
echo "$OUT" | grep -q "base.qcow2" || fail "the message does not name the image: $OUT"
[ "$(sha256sum base.qcow2)" = "$sha_bad" ] || fail "base image was written"
if pgrep -f -- "$T" >/dev/null; then fail "a process was started"; fi
[ ! -e "$GRAINVM_HOME/state/badbase/overlay.qcow2" ] || fail "overlay left behind"
note "garbage base: $OUT"

# A guest that cannot be ready in time: exit 4, QEMU gone, nothing left, no overlay kept.
qemu-img create -q -f qcow2 "$p/blank.qcow2" 64M
printf '[vm]\nname=slow\nready-timeout=1\n[boot]\nkernel=host\n[disk]\nimage=blank.qcow2\n' >grainvm.conf
sha_before=$(sha256sum blank.qcow2)
expect_code 4 "$GRAINVM" up
echo "$OUT" | grep -q "not ready within 1 s" || fail "timeout not explained: $OUT"
no_leftovers slow
[ ! -e "$GRAINVM_HOME/state/slow/overlay.qcow2" ] || fail "the failed up kept the overlay it made"
[ "$(sha256sum blank.qcow2)" = "$sha_before" ] || fail "base image changed"
expect_code 0 "$GRAINVM" status slow
# A guest that was never ready did not crash: its own state says so.
echo "$OUT" | grep -q "^state    failed: not ready within 1 s" || fail "$OUT"
note "ok"
