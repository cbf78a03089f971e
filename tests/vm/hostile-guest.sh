#!/usr/bin/env bash
# A hostile guest: its agent is a scripted liar (tests/vm/liar.sh) that
# answers every command grainvm sends with one kind of lie at a time:
# wrong types in every member, huge arrays, deep nesting, invalid UTF-8,
# terminal escapes, replies to ids never sent, no replies, floods on both
# agent ports and the console.  After each, the supervisor still runs,
# logged no GLib critical or warning, the command failed with a clear
# message or succeeded, nothing raw reached the terminal, and an honest
# answer afterwards works again.  The supervisor's peak RSS under the
# worst flood is measured against its idle RSS and must stay under
# FLOOD_RSS_MAX_KB.
. "$(dirname "$0")/lib.sh"

: "${GV_LIAR_INITRAMFS:?GV_LIAR_INITRAMFS must name make-liar-initramfs.sh (meson sets it)}"
"$GV_LIAR_INITRAMFS" "$T/liar.cpio"

# Goal of the issue: a flood costs the supervisor less than 32 MiB.
FLOOD_RSS_MAX_KB=$((32 * 1024))

vm=$PREFIX-liar
p=$(new_project "$vm")
cd "$p"
printf '[boot]\ninitrd=%s\n[vm]\nready-timeout=120\n' "$T/liar.cpio" >>grainvm.conf
echo honest >.liar
expect_code 0 "$GRAINVM" up -q
log=$GRAINVM_HOME/run/$vm/supervisor.log
svpid=$("$GRAINVM" status --json | sed -n 's/.*"supervisor-pid" *: *\([0-9]*\).*/\1/p')
[ -n "$svpid" ] || fail "no supervisor pid"
kb() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$svpid/status"; }
idle_rss=$(kb VmRSS)
idle_hwm=$(kb VmHWM)
note "supervisor $svpid idle: VmRSS $idle_rss kB, VmHWM $idle_hwm kB"

cases=0
# check CASE: the supervisor survived, logged no critical, printed nothing raw.
check() {
	cases=$((cases + 1))
	kill -0 "$svpid" 2>/dev/null || fail "$1: the supervisor died"
	if grep -E 'CRITICAL|WARNING|Segmentation|AddressSanitizer|runtime error' "$log" >&2; then
		fail "$1: the supervisor logged the above"
	fi
	if printf '%s' "$OUT" | LC_ALL=C grep -q $'[\x01-\x08\x0b-\x1f\x7f]'; then
		printf '%s' "$OUT" | od -c | head >&2
		fail "$1: raw control characters reached the terminal"
	fi
}
# expect_one_of "CODES" CMD...: like expect_code, for a command whose
# outcome depends on which reply a lie lands on.
expect_one_of() {
	local want=$1
	shift
	set +e
	OUT=$("$@" 2>&1)
	local got=$?
	set -e
	case " $want " in *" $got "*) ;; *) echo "$OUT" >&2; fail "expected exit in {$want}, got $got from: $*" ;; esac
}

lies() {
	local mode=$1 exec_codes=$2
	echo "$mode" >.liar
	expect_code 0 "$GRAINVM" status
	check "$mode: status"
	expect_code 0 "$GRAINVM" list
	check "$mode: list"
	expect_one_of "$exec_codes" "$GRAINVM" exec -- true
	check "$mode: exec"
	echo "$OUT" | grep -q "Segmentation\|core dumped" && fail "$mode: exec: $OUT"
	echo honest >.liar
	# The host recovers: the next honest answer is taken.
	expect_code 0 "$GRAINVM" exec -- true
	[ "$OUT" = hi ] || fail "$mode: exec after the lie: $OUT"
	check "$mode: recovery"
	note "$mode: ok"
}

# The crash of the issue: data-b64 a number, null, an object.
echo b64 >.liar
set +e
"$GRAINVM" exec -- true >"$T/out" 2>"$T/err"
rc=$?
set -e
OUT=$(cat "$T/err")
check "b64: exec"
[ $rc -eq 1 ] || fail "b64: exec exit $rc (a grain-exit without an exit code is a failure): $OUT"
[ "$(cat "$T/out")" = hi ] || fail "b64: the good output was lost: $(cat "$T/out")"
echo "$OUT" | grep -q "pieces of output were lost" || fail "b64: the dropped events are not reported: $OUT"

# Each lie: status and list answer (with a note), exec fails with a clear
# message (125) or, where the lie lands elsewhere, succeeds.
lies types 125
echo types >.liar
expect_code 125 "$GRAINVM" exec -- true
echo "$OUT" | grep -q 'grainvm-agent: member "handle" is a string, not an integer' ||
	fail "types: the message does not name the member: $OUT"
cases=$((cases + 1))
lies huge 125
lies deep 125
lies utf8 125
lies ctrl 125
lies stray "0 125"
lies silent 125

# Terminal escapes in every string status, list and ip show.
echo ctrl >.liar
expect_code 0 "$GRAINVM" status
check "ctrl: status"
echo "$OUT" | grep -qF 'version' || true
echo "$OUT" | grep -qF '\x1b]0;PWN\x07\x1b[2J' || fail "ctrl: status does not show the escapes escaped: $OUT"
echo "$OUT" | grep -qF '  | \x1b]0;PWN\x07\x1b[2J' || fail "ctrl: the build log tail is not escaped: $OUT"
expect_one_of "0 1" "$GRAINVM" ip
check "ctrl: ip"
expect_code 125 "$GRAINVM" exec -- true
check "ctrl: exec error"
echo "$OUT" | grep -qF 'cannot run\x1b]0;PWN' || fail "ctrl: exec's error: $OUT"

# Floods: a 16 MB line on grainvm-agent's port (before an honest answer),
# the issue's 16 MB line of {} on qemu-ga's port, 1 MB on the console.
# The line over the agent's 1 MiB cap fails the command it came before;
# the reader drops it as it comes, holding none of it.
echo flood >.liar
expect_code 125 "$GRAINVM" exec -- true
check "flood: agent port"
echo "$OUT" | grep -q "message longer than 1048576 bytes dropped" || fail "flood: $OUT"
echo honest >.liar
for what in qga console; do
	touch ".flood-$what"
	for _ in $(seq 1 1200); do [ -e ".flood-$what-done" ] && break; sleep 0.25; done
	[ -e ".flood-$what-done" ] || fail "the guest did not finish the $what flood"
	expect_code 0 "$GRAINVM" status
	check "flood: $what"
done
expect_code 0 "$GRAINVM" exec -- true
[ "$OUT" = hi ] || fail "after the floods: $OUT"
check "flood: recovery"
peak=$(kb VmHWM)
now=$(kb VmRSS)
note "supervisor peak RSS under the floods: VmHWM $peak kB (idle VmRSS $idle_rss kB, VmHWM $idle_hwm kB); VmRSS after: $now kB"
[ "$peak" -lt "$FLOOD_RSS_MAX_KB" ] || fail "the supervisor's peak RSS was $peak kB, over $FLOOD_RSS_MAX_KB kB"

# While a command whose reply may be large is in flight (a user's agent
# passthrough), the cap is 16 MiB: the worst the guest can then send is a
# 16 MB string, which is parsed and handed on whole, as a file read is.
echo bigstr >.liar
set +e
"$GRAINVM" agent "$vm" guest-info >"$T/big" 2>"$T/big-err"
rc=$?
set -e
OUT=$(cat "$T/big-err")
check "bigstr: passthrough"
[ $rc -eq 0 ] || fail "bigstr: passthrough exit $rc: $OUT"
[ "$(wc -c <"$T/big")" -ge 16000000 ] || fail "bigstr: the reply was not handed on whole"
echo flood >.liar
expect_one_of "1 125" "$GRAINVM" agent "$vm" guest-info
check "flood: during a passthrough"
echo honest >.liar
expect_code 0 "$GRAINVM" exec -- true
check "bigstr: recovery"
window=$(kb VmHWM)
sleep 2 # the supervisor gives memory back a second after a large reply
after=$(kb VmRSS)
note "supervisor peak RSS with a 16 MB reply in a passthrough: VmHWM $window kB; VmRSS after: $after kB"
# What the large reply took is given back once it is handed on.
[ "$after" -lt "$FLOOD_RSS_MAX_KB" ] || fail "the supervisor holds $after kB after the large reply"

note "$cases hostile cases"
expect_code 0 "$GRAINVM" down --timeout 2
no_leftovers "$vm"
note "ok"
