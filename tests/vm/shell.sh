#!/usr/bin/env bash
# grainvm shell and exec --tty, driven on a pseudo-terminal as a person
# would: type a command and read the screen, resize the window, Ctrl-C a
# sleep, Ctrl-Z a job, exit with a status; without a terminal both behave
# as exec.  A qemu-ga guest gets a clear error (in qga.sh).
. "$(dirname "$0")/lib.sh"
DRIVE=$(dirname "$0")/pty-drive.py

vm=$PREFIX-shell
p=$(new_project "$vm")
cd "$p"
expect_code 0 "$GRAINVM" up -q

cat >"$T/steps" <<'STEPS'
# The prompt comes once grainvm made our terminal raw.
expect [#$] 
# The shell starts in the workspace, on a terminal of our size.
send pwd; tty; stty size\r
expect /mnt/workspace
expect /dev/pts/\d+
expect 24 80
send echo typed-$((6*7))\r
expect typed-42
resize 40 120
sleep 1
send stty size\r
expect 40 120
# Ctrl-C reaches the foreground command, not grainvm.
send sleep 100\r
sleep 1
send \x03
send echo after-$?\r
expect after-130
# Ctrl-Z stops the job; the shell takes over again.
send sleep 200\r
sleep 1
send \x1a
expect [Ss]topped
send kill -9 %1; echo killed-job\r
expect killed-job
send exit 7\r
exit 7
STEPS
python3 "$DRIVE" "$T/steps" -- "$GRAINVM" shell "$vm" || fail "shell session"

# exec --tty: the command has a terminal; plain exec on a terminal has none.
cat >"$T/steps" <<'STEPS'
expect tty=/dev/pts/\d+
exit 3
STEPS
python3 "$DRIVE" "$T/steps" -- "$GRAINVM" exec -t "$vm" -- sh -c 'echo tty=$(tty); exit 3' ||
	fail "exec -t"
cat >"$T/steps" <<'STEPS'
expect tty=not a tty
exit 0
STEPS
python3 "$DRIVE" "$T/steps" -- "$GRAINVM" exec "$vm" -- sh -c 'echo tty=$(tty)' || fail "exec without -t"

# Without a terminal on stdin: the shell reads its commands from stdin.
OUT=$(printf 'echo piped-$((1+1))\nexit 5\n' | "$GRAINVM" shell "$vm" 2>&1) && rc=0 || rc=$?
[ "$rc" = 5 ] || fail "piped shell exited $rc: $OUT"
echo "$OUT" | grep -qx piped-2 || fail "piped shell: $OUT"
expect_code 0 "$GRAINVM" shell "$vm" -- echo given-command </dev/null
[ "$OUT" = given-command ] || fail "shell -- CMD: $OUT"

# Bad input: a window size the agent refuses never reaches a terminal.
expect_code 1 "$GRAINVM" agent "$vm" grain-exec-start '{"path":"true","tty":true,"rows":0}'
echo "$OUT" | grep -q "Invalid parameter 'rows'" || fail "rows=0: $OUT"
expect_code 1 "$GRAINVM" agent "$vm" grain-exec-start '{"path":"true","tty":true,"term":"x\u001b[2J"}'
echo "$OUT" | grep -q "Invalid parameter 'term'" || fail "bad term: $OUT"

expect_code 0 "$GRAINVM" down -q "$vm"
note "shell: ok"
