#!/usr/bin/env bash
# 20 restarts in a row (up to ready, down), each one ready and answering
# over the agent port: the failure Lima saw (lima-vm/lima#2064, an agent
# port that stops answering after some VM restarts) must not happen here.
# Prints how long the loop took.
. "$(dirname "$0")/lib.sh"

vm=$PREFIX-loop
p=$(new_project "$vm")
cd "$p"
runs=${GV_RESTARTS:-20}
start=$(date +%s.%N)
for i in $(seq 1 "$runs"); do
	t0=$(date +%s.%N)
	expect_code 0 "$GRAINVM" up -q
	expect_code 0 "$GRAINVM" exec -- echo "run $i"
	[ "$OUT" = "run $i" ] || fail "run $i: exec said $OUT"
	t1=$(date +%s.%N)
	expect_code 0 "$GRAINVM" down -q
	t2=$(date +%s.%N)
	no_leftovers "$vm"
	note "$(awk "BEGIN {printf \"run %d: up+exec %.2f s, down %.2f s\", $i, $t1 - $t0, $t2 - $t1}")"
done
end=$(date +%s.%N)
note "$(awk "BEGIN {printf \"%d restarts in %.1f s (%.2f s each, up to ready + exec + down)\", $runs, $end - $start, ($end - $start) / $runs}")"
note "ok"
