#!/usr/bin/env bash
# A guest that runs QEMU's own qemu-ga (Debian's binary, in a real guest)
# and no grainvm-agent: up reaches ready through it (the share checked in
# the guest's mount table), status says qemu-ga answered, exec works with
# its output at exit (stdout and stderr apart, exit codes, stdin), builds
# are refused clearly, and down powers the guest off through it.
. "$(dirname "$0")/lib.sh"

: "${GV_QGA_INITRAMFS:?GV_QGA_INITRAMFS must name make-qga-initramfs.sh (meson sets it)}"
"$GV_QGA_INITRAMFS" "$T/qga.cpio"

vm=$PREFIX-qga
p=$(new_project "$vm")
cd "$p"
printf '[boot]\ninitrd=%s\n[vm]\nready-timeout=120\n' "$T/qga.cpio" >>grainvm.conf
expect_code 0 "$GRAINVM" up
echo "$OUT"

expect_code 0 "$GRAINVM" status
echo "$OUT"
echo "$OUT" | grep -q "^agent    qemu-ga [0-9]" || fail "status does not say qemu-ga answered: $OUT"
echo "$OUT" | grep -q "(tag workspace): mounted, writable" || fail "share: $OUT"

echo "from the host" >hello.txt
expect_code 0 "$GRAINVM" exec -- cat hello.txt
[ "$OUT" = "from the host" ] || fail "exec through qemu-ga: $OUT"
set +e
"$GRAINVM" exec -- sh -c 'echo out; echo err >&2; exit 4' >"$T/out" 2>"$T/err" </dev/null
rc=$?
set -e
[ $rc -eq 4 ] || fail "exit code through qemu-ga: $rc"
[ "$(cat "$T/out")" = out ] || fail "stdout: $(cat "$T/out")"
[ "$(cat "$T/err")" = err ] || fail "stderr: $(cat "$T/err")"
expect_code 143 "$GRAINVM" exec -- sh -c 'kill -TERM $$'
got=$(printf 'piped in' | "$GRAINVM" exec -- cat)
[ "$got" = "piped in" ] || fail "stdin through qemu-ga: $got"
expect_code 0 "$GRAINVM" exec --cwd /tmp --env X=y -- sh -c 'echo "$(pwd) $X"'
[ "$OUT" = "/tmp y" ] || fail "cwd/env through qemu-ga: $OUT"

expect_code 1 "$GRAINVM" build -- true
# A terminal needs grainvm-agent: one clear line, exit 125.
printf 'expect a terminal needs grainvm-agent\nexit 125\n' >"$T/steps"
python3 "$(dirname "$0")/pty-drive.py" "$T/steps" -- "$GRAINVM" shell "$vm" || fail "shell on qemu-ga"
echo "$OUT" | grep -q "only qemu-ga answers in this guest" || fail "build: $OUT"
expect_code 0 "$GRAINVM" agent "$vm" guest-info
echo "$OUT" | grep -q '"guest-exec"' || fail "agent passthrough to qemu-ga: $OUT"

# The init here ignores the ACPI button: down's next rung is qemu-ga's
# guest-shutdown.
expect_code 0 "$GRAINVM" down --timeout 2
echo "$OUT" | grep -q "guest powered off (agent guest-shutdown)" || fail "down: $OUT"
no_leftovers "$vm"
note "ok"
