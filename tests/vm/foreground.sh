#!/usr/bin/env bash
# up --foreground supervises in the calling process (systemd, s6): ready is
# reported, SIGTERM (sent to QEMU too) runs a clean down and nothing is
# left.  Without busybox the user is told what to install and the guest
# still becomes ready.
. "$(dirname "$0")/lib.sh"

p=$(new_project "$PREFIX-fg")
cd "$p"

GRAINVM_BUSYBOX= "$GRAINVM" up --foreground >"$T/fg.out" 2>"$T/fg.err" &
fg=$!
for _ in $(seq 1 600); do
	grep -q "is ready in" "$T/fg.out" 2>/dev/null && break
	kill -0 $fg 2>/dev/null || { cat "$T/fg.out" "$T/fg.err"; fail "up --foreground exited"; }
	sleep 0.1
done
cat "$T/fg.out" "$T/fg.err"
grep -q "is ready in" "$T/fg.out" || fail "never ready"
grep -q "note: busybox not found: .*apt-get install busybox-static" "$T/fg.err" || fail "no busybox note"
kill -0 $fg || fail "foreground supervisor gone after ready"

expect_code 0 "$GRAINVM" status
echo "$OUT" | grep -q "^state    ready" || fail "status: $OUT"

# SIGTERM to every process of the VM at once, as Slurm's scancel or
# systemd's KillMode=control-group send it: QEMU must not take it itself
# ("QEMU shut down (host-signal)"), the supervisor powers the guest off.
qemu=$(cat "$GRAINVM_HOME/run/$PREFIX-fg/qemu.pid")
kill -TERM $fg "$qemu"
wait $fg || fail "up --foreground exited non-zero after SIGTERM"
expect_code 0 "$GRAINVM" status
echo "$OUT" | grep -q "^state    stopped: guest powered off (ACPI power button)" || fail "$OUT"
no_leftovers "$PREFIX-fg"
note "ok"
