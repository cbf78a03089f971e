#!/usr/bin/env bash
# grainvm exec: the share is live, exit codes and signals propagate, stdout
# and stderr stay apart, stdin is forwarded, signals are passed on, a flood
# of output neither breaks nor bloats the supervisor.
. "$(dirname "$0")/lib.sh"

vm=$PREFIX-exec
p=$(new_project "$vm")
cd "$p"
expect_code 0 "$GRAINVM" up -q

# A file the host just wrote is there in the guest, in the directory that
# corresponds to ours; one the guest writes is here.
mkdir -p sub
echo "written by the host $$" >sub/host.txt
expect_code 0 "$GRAINVM" exec "$vm" -- cat /mnt/workspace/sub/host.txt
[ "$OUT" = "written by the host $$" ] || fail "guest read: $OUT"
cd sub
expect_code 0 "$GRAINVM" exec "$vm" -- sh -c 'pwd; cat host.txt; echo back >guest.txt'
cd ..
[ "$OUT" = "/mnt/workspace/sub
written by the host $$" ] || fail "cwd mapping: $OUT"
[ "$(cat sub/guest.txt)" = back ] || fail "guest write not on the host"

# Exit codes and signals: the command's status, 128+N for signal N.
expect_code 7 "$GRAINVM" exec -- sh -c 'exit 7'
expect_code 0 "$GRAINVM" exec -- true
expect_code 143 "$GRAINVM" exec -- sh -c 'kill -TERM $$'
expect_code 137 "$GRAINVM" exec -- sh -c 'kill -KILL $$'
expect_code 127 "$GRAINVM" exec -- /no/such/program
echo "$OUT" | grep -q "No such file or directory" || fail "$OUT"
expect_code 126 "$GRAINVM" exec -- /mnt/workspace/grainvm.conf
expect_code 124 "$GRAINVM" exec --timeout 1 -- sleep 30
echo "$OUT" | grep -q "timed out after 1 s" || fail "$OUT"

# stdout and stderr kept apart, in order within each.
set +e
"$GRAINVM" exec -- sh -c 'for i in 1 2 3; do echo out$i; echo err$i >&2; done; exit 3' \
	>"$T/out" 2>"$T/err" </dev/null
rc=$?
set -e
[ $rc -eq 3 ] || fail "exit $rc"
[ "$(cat "$T/out")" = "$(printf 'out1\nout2\nout3')" ] || fail "stdout: $(cat "$T/out")"
[ "$(cat "$T/err")" = "$(printf 'err1\nerr2\nerr3')" ] || fail "stderr: $(cat "$T/err")"

# --env adds to the guest's environment (PATH stays), --cwd is obeyed.
expect_code 0 "$GRAINVM" exec --env A=1 --env 'B=two words' --cwd /tmp -- sh -c 'echo "$A|$B|$(pwd)"; echo "PATH=$PATH"'
[ "$(echo "$OUT" | head -1)" = "1|two words|/tmp" ] || fail "env/cwd: $OUT"
echo "$OUT" | grep -q '^PATH=.*/bin' || fail "PATH lost: $OUT"

# stdin: 3 MiB of random bytes arrive intact; EOF arrives.
head -c 3145728 /dev/urandom >"$T/in"
want=$(md5sum <"$T/in" | cut -d' ' -f1)
got=$("$GRAINVM" exec -- md5sum <"$T/in" | cut -d' ' -f1)
[ "$got" = "$want" ] || fail "stdin: $got != $want"
got=$(printf 'abc' | "$GRAINVM" exec -- wc -c | tr -d ' ')
[ "$got" = 3 ] || fail "short stdin: $got"

# SIGTERM to grainvm reaches the command, whose trap decides the status.
"$GRAINVM" exec -- sh -c 'trap "echo got TERM; exit 42" TERM; echo ready; sleep 30 & wait' \
	>"$T/sig" 2>&1 </dev/null &
cli=$!
for _ in $(seq 1 100); do grep -q ready "$T/sig" && break; sleep 0.1; done
kill -TERM "$cli"
set +e
wait "$cli"
rc=$?
set -e
[ $rc -eq 42 ] || fail "signal forwarding: exit $rc, $(cat "$T/sig")"
grep -q "got TERM" "$T/sig" || fail "trap did not run: $(cat "$T/sig")"

# A flood: 24 MB into a reader that waits 4 s before it reads.  Everything
# arrives, and meanwhile the supervisor does not hold it (back-pressure
# reaches the command in the guest).
spid=$(cat "$GRAINVM_HOME/run/$vm/supervisor.pid")
rss0=$(awk '/VmRSS/ {print $2}' "/proc/$spid/status")
("$GRAINVM" exec -- head -c 24000000 /dev/zero </dev/null | (sleep 4; wc -c) >"$T/flood") &
flood=$!
peak=0
for _ in $(seq 1 8); do
	sleep 0.5
	r=$(awk '/VmRSS/ {print $2}' "/proc/$spid/status")
	[ "$r" -gt "$peak" ] && peak=$r
done
wait "$flood"
[ "$(tr -d ' ' <"$T/flood")" = 24000000 ] || fail "flood: $(cat "$T/flood") bytes"
note "supervisor RSS ${rss0} KiB idle, ${peak} KiB peak while a reader stalled on a 24 MB flood"
[ "$peak" -lt $((rss0 + 16384)) ] || fail "the supervisor buffered the flood: $peak KiB"

# The VM is still fine, and down leaves nothing.
expect_code 0 "$GRAINVM" exec -- echo still here
[ "$OUT" = "still here" ] || fail "$OUT"
expect_code 0 "$GRAINVM" down
no_leftovers "$vm"
note "ok"
