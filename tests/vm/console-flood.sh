#!/usr/bin/env bash
# A guest that floods its serial console cannot fill the host's disk:
# console.log moves to console.log.1 at the cap, so at most about twice the
# cap is kept, and the newest output is in console.log.
. "$(dirname "$0")/lib.sh"

p=$(new_project "$PREFIX-flood")
cd "$p"
cap=65536
GRAINVM_CONSOLE_LOG_MAX=$cap expect_code 0 "$GRAINVM" up -q
# ~640 KiB through the emulated UART, ten times the cap, then a marker.
expect_code 0 "$GRAINVM" exec -- sh -c \
	'i=0; while [ $i -lt 640 ]; do head -c 1023 /dev/zero | tr "\0" x > /dev/console; echo > /dev/console; i=$((i+1)); done; echo END-OF-FLOOD > /dev/console'
log=$GRAINVM_HOME/run/$PREFIX-flood/console.log
for _ in $(seq 1 100); do grep -q END-OF-FLOOD "$log" 2>/dev/null && break; sleep 0.1; done
grep -q END-OF-FLOOD "$log" || fail "the newest output is not in console.log"
[ -f "$log.1" ] || fail "console.log was never rotated"
size=$(stat -c %s "$log")
old=$(stat -c %s "$log.1")
note "console.log $size bytes, console.log.1 $old bytes (cap $cap)"
# One read (16 KiB) may land after the size check.
[ "$size" -le $((cap + 16384)) ] || fail "console.log is $size bytes, over the cap"
[ "$old" -le $((cap + 16384)) ] || fail "console.log.1 is $old bytes, over the cap"
expect_code 0 "$GRAINVM" logs
echo "$OUT" | grep -q END-OF-FLOOD || fail "logs does not show the newest output"
expect_code 0 "$GRAINVM" down
no_leftovers "$PREFIX-flood"
note "ok"
