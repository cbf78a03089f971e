#!/usr/bin/env bash
# QEMU killed with SIGKILL: status says crashed and why, nothing is left, up works again.
# The supervisor killed: up adopts the QEMU it left, or down cleans it up.
. "$(dirname "$0")/lib.sh"

p=$(new_project "$PREFIX-crash")
cd "$p"
expect_code 0 "$GRAINVM" up -q
qpid=$("$GRAINVM" status --json | sed -n 's/.*"qemu-pid" : \([0-9]*\).*/\1/p')
[ -n "$qpid" ] || fail "no qemu pid in status"
kill -9 "$qpid"
for _ in $(seq 1 100); do
	"$GRAINVM" status | grep -q "^state    crashed" && break
	sleep 0.1
done
expect_code 0 "$GRAINVM" status
echo "$OUT"
echo "$OUT" | grep -q "^state    crashed: QEMU was killed by signal 9" || fail "crash not recorded: $OUT"
for _ in $(seq 1 50); do pgrep -f "__supervise $PREFIX-crash\$" >/dev/null || break; sleep 0.1; done
no_leftovers "$PREFIX-crash"

expect_code 0 "$GRAINVM" up -q
expect_code 0 "$GRAINVM" status
echo "$OUT" | grep -q "^state    ready" || fail "up after a crash"

# The supervisor killed instead: status says orphaned; up adopts the QEMU that
# kept running (same pid, the guest's uptime goes on), and down then stops
# it the normal way.
spid=$("$GRAINVM" status --json | sed -n 's/.*"supervisor-pid" : \([0-9]*\).*/\1/p')
qpid=$("$GRAINVM" status --json | sed -n 's/.*"qemu-pid" : \([0-9]*\).*/\1/p')
kill -9 "$spid"
sleep 0.3
expect_code 0 "$GRAINVM" status
# Not a crash of the VM: the guest runs on, and status says what to do.
echo "$OUT" | grep -q "^state    orphaned: the supervisor is gone but QEMU (pid $qpid) and the guest run on: \`grainvm up\` adopts it, \`grainvm down\` stops it" || fail "$OUT"
expect_code 0 "$GRAINVM" list
echo "$OUT" | grep -q "^$PREFIX-crash *orphaned" || fail "list: $OUT"
expect_code 0 "$GRAINVM" up
echo "$OUT"
echo "$OUT" | grep -q "adopted its running QEMU (pid $qpid), left by a supervisor that died" || fail "$OUT"
expect_code 0 "$GRAINVM" status --json
echo "$OUT" | grep -q "\"qemu-pid\" : $qpid" || fail "adopted a different QEMU: $OUT"
echo "$OUT" | grep -q '"phase" : "ready"' || fail "not ready after adoption: $OUT"
expect_code 0 "$GRAINVM" down
echo "$OUT" | grep -q "guest powered off" || fail "$OUT"
no_leftovers "$PREFIX-crash"

# A supervisor that dies again: down alone stops the orphaned QEMU, through
# its QMP socket (the ACPI power button: the guest powers off) rather than
# SIGKILL, and waits for its end.
expect_code 0 "$GRAINVM" up -q
spid=$("$GRAINVM" status --json | sed -n 's/.*"supervisor-pid" : \([0-9]*\).*/\1/p')
qpid=$(cat "$GRAINVM_HOME/run/$PREFIX-crash/qemu.pid")
kill -9 "$spid"
sleep 0.3
expect_code 0 "$GRAINVM" status
echo "$OUT" | grep -q "^state    orphaned" || fail "$OUT"
expect_code 0 "$GRAINVM" down
echo "$OUT"
echo "$OUT" | grep -q "stopped: guest powered off (ACPI power button) (its QEMU, pid $qpid, had outlived its supervisor)" ||
	fail "orphan not stopped through QMP: $OUT"
# Gone, or a zombie its new parent has not reaped yet (ended, files closed).
if [ -e "/proc/$qpid" ] && ! grep -q "^State:.*zombie" "/proc/$qpid/status" 2>/dev/null; then
	fail "QEMU (pid $qpid) still runs"
fi
no_leftovers "$PREFIX-crash"
# The end is recorded: stopped, not crashed.
expect_code 0 "$GRAINVM" status
echo "$OUT" | grep -q "^state    stopped: guest powered off (ACPI power button) (its QEMU, pid $qpid, had outlived its supervisor)" ||
	fail "status after down of an orphan: $OUT"

# A reused pid: qemu.pid names a live process that is not this VM's QEMU
# (here a decoy with "qemu" in its command line, as the old check matched).
# Neither with the start time recorded nor without it does down touch it.
run=$GRAINVM_HOME/run/$PREFIX-crash
bash -c 'exec -a qemu-system-x86_64 sleep 600' &
decoy=$!
on_cleanup kill "$decoy"
echo "$decoy" >"$run/qemu.pid"
echo 1 >"$run/qemu.start"
expect_code 3 "$GRAINVM" down
rm -f "$run/qemu.start"   # down removed it with the other runtime files
echo "$decoy" >"$run/qemu.pid"
expect_code 3 "$GRAINVM" down
kill -0 "$decoy" || fail "down killed a process that is not the VM's QEMU"
note "ok"
