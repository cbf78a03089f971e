#!/usr/bin/env bash
# A plan.json swapped after up wrote it is not what the supervisor runs.
#
# The supervisor used to read RUNDIR/plan.json back and execute its
# argv[0]: whoever could replace that file between up's write and the
# supervisor's read chose the program.  Here a loop replaces it, as fast as
# it can, with a plan whose argv[0] is a script that leaves a marker.  up
# hands the supervisor its plan in a sealed memfd (launcher/plan.h), so the
# VM must come up on the real QEMU and the script must never run.  The
# loop runs as the same user (the runtime directory's checks keep other
# users out; this test is about the window, not the permissions).
. "$(dirname "$0")/lib.sh"

vm=$PREFIX-swap
p=$(new_project "$vm")
cd "$p"
run=$GRAINVM_HOME/run/$vm

# A genuine plan to start from: the one a first up wrote.
expect_code 0 "$GRAINVM" up -q
cp "$run/plan.json" "$T/good.json"
expect_code 0 "$GRAINVM" down -q
qemu=$(sed -n '/"argv"/,/]/p' "$T/good.json" | sed -n '2s/^ *"\(.*\)",$/\1/p')
[ -x "$qemu" ] || fail "no QEMU path in the plan: $qemu"

marker=$T/evil-ran
cat >"$T/evil.sh" <<SH
#!/bin/sh
echo "\$@" >"$marker"
exec "$qemu" "\$@"
SH
chmod +x "$T/evil.sh"
sed "s|\"$qemu\"|\"$T/evil.sh\"|" "$T/good.json" >"$T/evil.json"
grep -q "evil.sh" "$T/evil.json" || fail "could not make the evil plan"

swapper() {
	while :; do
		mkdir -p -m 0700 "$run" 2>/dev/null
		cp "$T/evil.json" "$run/.swap" 2>/dev/null && mv -f "$run/.swap" "$run/plan.json" 2>/dev/null
	done
}
swapper &
swap_pid=$!
stop_swapper() { kill "$swap_pid" 2>/dev/null; wait "$swap_pid" 2>/dev/null || true; }
on_cleanup stop_swapper

expect_code 0 "$GRAINVM" up -q
# The loop has been replacing plan.json all along: it is the evil one now.
grep -q "evil.sh" "$run/plan.json" || fail "the swapper never replaced plan.json"
stop_swapper
[ ! -e "$marker" ] || fail "the supervisor ran the swapped plan: $(cat "$marker")"
qpid=$("$GRAINVM" status --json | sed -n 's/.*"qemu-pid" : \([0-9]*\).*/\1/p')
[ -n "$qpid" ] || fail "no qemu pid in status"
[ "$(readlink "/proc/$qpid/exe")" = "$(readlink -f "$qemu")" ] || fail "QEMU runs $(readlink "/proc/$qpid/exe")"
expect_code 0 "$GRAINVM" down -q
no_leftovers "$vm"
note "ok"
