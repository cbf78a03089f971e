#!/usr/bin/env bash
# grainvm build: a failing [build] reports failed with its exit code and log
# tail; a second build is refused while one runs; a build survives its
# supervisor being killed, and build --follow after `up` adopted the VM
# replays the whole log and ends with the build's status.
. "$(dirname "$0")/lib.sh"

vm=$PREFIX-build
p=$(new_project "$vm")
cd "$p"
cat >>grainvm.conf <<'EOF'
[build]
command=echo "building in $(pwd) with $MODE"; cat input.txt; echo "the compiler says no" >&2; exit 3
env=MODE=release build
EOF
echo "source file" >input.txt
expect_code 0 "$GRAINVM" up -q

# A failing build: its log (stdout and stderr merged), its exit code.
expect_code 3 "$GRAINVM" build
echo "$OUT"
echo "$OUT" | grep -q "^building in /mnt/workspace with release build$" || fail "workdir/env: $OUT"
echo "$OUT" | grep -q "^source file$" || fail "the share: $OUT"
echo "$OUT" | grep -q "^the compiler says no$" || fail "stderr: $OUT"
echo "$OUT" | grep -q "build failed (exit code 3)" || fail "summary: $OUT"
expect_code 0 "$GRAINVM" status
echo "$OUT"
echo "$OUT" | grep -q "^build    failed, exit code 3, took [0-9.]* s" || fail "status: $OUT"
echo "$OUT" | grep -q "^  | the compiler says no$" || fail "log tail: $OUT"
expect_code 0 "$GRAINVM" status --json
echo "$OUT" | grep -q '"exit-code" : 3' || fail "json: $OUT"

# One at a time: a second request while one runs is refused, clearly.
expect_code 0 "$GRAINVM" build --detach -- sh -c 'echo slow; sleep 3'
expect_code 3 "$GRAINVM" build -- true
echo "$OUT" | grep -q "a build is already running (handle [0-9]*, pid [0-9]*); grainvm build $vm --follow shows it" \
	|| fail "refusal: $OUT"
expect_code 0 "$GRAINVM" build --follow
[ "$(echo "$OUT" | head -1)" = slow ] || fail "follow: $OUT"

# Survives the supervisor: kill -9 it while the build runs and a CLI follows.
expect_code 0 "$GRAINVM" build --detach -- sh -c \
	'i=0; while [ $i -lt 30 ]; do echo "line $i"; i=$((i+1)); sleep 0.2; done; echo done >&2; exit 5'
"$GRAINVM" build --follow >"$T/before" 2>&1 &
follower=$!
for _ in $(seq 1 50); do grep -q "line 3" "$T/before" && break; sleep 0.1; done
qpid=$(cat "$GRAINVM_HOME/run/$vm/qemu.pid")
kill -9 "$(cat "$GRAINVM_HOME/run/$vm/supervisor.pid")"
set +e
wait "$follower"
rc=$?
set -e
[ $rc -ne 0 ] || fail "the follower did not notice"
grep -q "lost the supervisor" "$T/before" || fail "$(cat "$T/before")"
expect_code 0 "$GRAINVM" up
echo "$OUT" | grep -q "adopted its running QEMU (pid $qpid)" || fail "adopt: $OUT"
expect_code 5 "$GRAINVM" build --follow
for i in $(seq 0 29); do
	echo "$OUT" | grep -qx "line $i" || fail "line $i missing after the restart: $OUT"
done
echo "$OUT" | grep -qx "done" || fail "$OUT"
[ "$(echo "$OUT" | grep -c '^line ')" = 30 ] || fail "duplicated lines: $OUT"
echo "$OUT" | grep -q "build failed (exit code 5)" || fail "$OUT"
expect_code 0 "$GRAINVM" status
echo "$OUT" | grep -q "^build    failed, exit code 5" || fail "status after restart: $OUT"
echo "$OUT" | grep -q "^  | line 29$" || fail "$OUT"

expect_code 0 "$GRAINVM" down
no_leftovers "$vm"
note "ok"
