#!/usr/bin/env bash
# Ctrl-C while `up` waits for ready ends it like a failed up: the booting
# guest is stopped, up exits 128+2, nothing of the VM is left, and the next
# up boots.  The guest is made to hang before ready (rdinit=/bin/sh on a
# console nobody types into), so the signal always lands while it boots.
. "$(dirname "$0")/lib.sh"

p=$(new_project "$PREFIX-int")
cd "$p"
printf '[vm]\nname=%s\nready-timeout=300\n[boot]\ncmdline=rdinit=/bin/sh\n' "$PREFIX-int" \
	>grainvm.local.conf

# Job control, so that the background up gets SIGINT as a terminal's
# foreground job would (without it, bash starts it with SIGINT ignored).
set -m
"$GRAINVM" up >"$T/up.out" 2>&1 &
up=$!
set +m
for _ in $(seq 1 300); do
	"$GRAINVM" status "$PREFIX-int" 2>/dev/null | grep -q "^state    booting" && break
	kill -0 $up 2>/dev/null || { cat "$T/up.out"; fail "up exited before the signal"; }
	sleep 0.1
done
"$GRAINVM" status "$PREFIX-int" | grep -q "^state    booting" || fail "never booting"
qpid=$("$GRAINVM" status --json "$PREFIX-int" | sed -n 's/.*"qemu-pid" : \([0-9]*\).*/\1/p')
[ -n "$qpid" ] || fail "no qemu pid"

t0=$(date +%s%N)
kill -INT $up
set +e
wait $up
rc=$?
set -e
ms=$((($(date +%s%N) - t0) / 1000000))
cat "$T/up.out"
note "up returned $rc, ${ms} ms after SIGINT"
[ "$rc" -eq 130 ] || fail "up exited $rc after SIGINT, not 130"
grep -q "up interrupted (Interrupt) before ready; the VM was stopped" "$T/up.out" ||
	fail "no interrupted message"
# Not the graceful 10 s down: nobody in a booting guest answers the power button.
[ "$ms" -lt 8000 ] || fail "stopping a booting guest took ${ms} ms"
kill -0 "$qpid" 2>/dev/null && fail "QEMU (pid $qpid) still runs"
no_leftovers "$PREFIX-int"
expect_code 0 "$GRAINVM" status "$PREFIX-int"
echo "$OUT" | grep -q "^state    stopped" || fail "status after the interrupt: $OUT"

# Nothing was lost: the next up, with a guest that gets ready, boots.
rm grainvm.local.conf
expect_code 0 "$GRAINVM" up -q
expect_code 0 "$GRAINVM" status
echo "$OUT" | grep -q "^state    ready" || fail "up after the interrupt: $OUT"
expect_code 0 "$GRAINVM" down -q
no_leftovers "$PREFIX-int"
note "ok"
