#!/usr/bin/env bash
# A supervisor killed during `up`, after QEMU started: up fails (exit 1,
# no report came), and leaves no QEMU behind, in particular none that
# writes to the overlay up made and then removed (a QEMU whose disk is a
# deleted file loses every guest write, and the next up would adopt it).
# The guest hangs before ready (rdinit=/bin/sh), so the kill always lands
# while up waits.
. "$(dirname "$0")/lib.sh"

vm=$PREFIX-kill
p=$(new_project "$vm")
cd "$p"
printf '[vm]\nname=%s\nready-timeout=300\n[disk]\nsize=64M\n[boot]\ncmdline=rdinit=/bin/sh\n' "$vm" \
	>grainvm.local.conf
run=$GRAINVM_HOME/run/$vm
overlay=$GRAINVM_HOME/state/$vm/overlay.qcow2

"$GRAINVM" up >"$T/up.out" 2>&1 &
up=$!
for _ in $(seq 1 300); do
	"$GRAINVM" status "$vm" 2>/dev/null | grep -q "^state    booting" && break
	kill -0 $up 2>/dev/null || { cat "$T/up.out"; fail "up exited before the kill"; }
	sleep 0.1
done
"$GRAINVM" status "$vm" | grep -q "^state    booting" || fail "never booting"
qpid=$(cat "$run/qemu.pid")
spid=$(cat "$run/supervisor.pid")
[ -f "$overlay" ] || fail "no overlay while booting"
grep -q "$overlay" <(ls -l "/proc/$qpid/fd") || fail "QEMU $qpid does not hold $overlay"

kill -9 "$spid"
set +e
wait $up
rc=$?
set -e
cat "$T/up.out"
[ "$rc" -eq 1 ] || fail "up exited $rc after its supervisor was killed, not 1"
grep -q "stopped the QEMU (pid $qpid) its supervisor left" "$T/up.out" ||
	fail "up did not say it stopped QEMU"
# Gone, or a zombie its new parent has not reaped yet (ended, files closed).
if [ -e "/proc/$qpid" ] && ! grep -q "^State:.*zombie" "/proc/$qpid/status" 2>/dev/null; then
	fail "QEMU (pid $qpid) still runs"
fi
# No QEMU anywhere holds a deleted file of this test.
for pid in $(pgrep -f -- "-name $vm " || true); do
	if ls -l "/proc/$pid/fd" 2>/dev/null | grep "$T" | grep -q "(deleted)"; then
		fail "QEMU $pid writes to a deleted file: $(ls -l "/proc/$pid/fd" | grep deleted)"
	fi
done
[ ! -e "$overlay" ] || fail "the overlay this up made was kept"
no_leftovers "$vm"

# The next up boots cleanly, with a new overlay.
rm grainvm.local.conf
printf '[vm]\nname=%s\n[disk]\nsize=64M\n' "$vm" >grainvm.local.conf
expect_code 0 "$GRAINVM" up -q
[ -f "$overlay" ] || fail "no overlay after the second up"
expect_code 0 "$GRAINVM" down -q
no_leftovers "$vm"
note "ok"
