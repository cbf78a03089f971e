#!/usr/bin/env bash
# `grainvm up` in an empty directory reaches ready; the share works both ways;
# status, logs, qmp, console; `up` twice is refused; `down` leaves nothing.
. "$(dirname "$0")/lib.sh"

proj=$T/empty-$PREFIX
mkdir -p "$proj"
cd "$proj"
vm=$(basename "$proj")

expect_code 0 "$GRAINVM" up
echo "$OUT"
echo "$OUT" | grep -q "vm $vm is ready in" || fail "no ready line"
echo "$OUT" | grep -q "share    $proj -> /mnt/workspace" || fail "share not reported"
echo "$OUT" | grep -Eq "accel    (tcg|kvm): " || fail "accelerator and reason not reported"
echo "$OUT" | grep -q "boot     direct kernel" || fail "boot path not reported"

# A file created on the host after boot is seen in the guest.
echo "made on the host $$" >"$proj/hello.txt"
got=$(guest_read "$vm" /mnt/workspace/hello.txt)
[ "$got" = "made on the host $$" ] || fail "guest read '$got'"

# A file the guest writes appears on the host, owned by the user QEMU runs
# as: the one running grainvm, or as root the unprivileged user QEMU drops
# to (lib.sh's QEMU_USER, docs/security.md).
guest_write "$vm" /mnt/workspace/from-guest.txt "written in the guest"
[ "$(cat "$proj/from-guest.txt")" = "written in the guest" ] || fail "host does not see the guest's file"
[ "$(stat -c %u "$proj/from-guest.txt")" = "$(id -u "${QEMU_USER:-$(id -un)}")" ] ||
	fail "guest file not owned by QEMU's user ($(stat -c %U "$proj/from-guest.txt"))"

expect_code 0 "$GRAINVM" status
echo "$OUT"
echo "$OUT" | grep -q "^state    ready" || fail "status is not ready"
echo "$OUT" | grep -q "/mnt/workspace (tag workspace): mounted, writable" || fail "status lacks the mount"
expect_code 0 "$GRAINVM" status --json "$vm"
echo "$OUT" | grep -q '"phase" : "ready"' || fail "status --json"

expect_code 0 "$GRAINVM" list
echo "$OUT" | grep -Eq "^$vm +ready" || fail "list: $OUT"

expect_code 0 "$GRAINVM" qmp "$vm" query-status
echo "$OUT" | grep -q '"running" : true' || fail "qmp query-status: $OUT"
expect_code 1 "$GRAINVM" qmp "$vm" no-such-command
echo "$OUT" | grep -q "CommandNotFound" || fail "qmp error class missing: $OUT"
expect_code 2 "$GRAINVM" qmp "$vm" query-status '{not json'

expect_code 0 "$GRAINVM" logs "$vm"
echo "$OUT" | grep -q "Linux version" || fail "console log lacks the kernel banner"

# The console runs a shell in the default guest.
if [ -x /bin/busybox ]; then
	out=$(printf 'echo console-says-$((6*7))\n' | "$GRAINVM" console --idle 2 "$vm" 2>&1)
	echo "$out" | grep -q "console-says-42" || fail "console shell did not answer: $out"
fi

# Twice: refused, exit 3, the running VM untouched.
expect_code 3 "$GRAINVM" up
echo "$OUT" | grep -q "already running" || fail "$OUT"
expect_code 0 "$GRAINVM" status
echo "$OUT" | grep -q "^state    ready" || fail "second up disturbed the VM"

expect_code 0 "$GRAINVM" down
echo "$OUT"
echo "$OUT" | grep -q "stopped: guest powered off" || fail "down did not power off cleanly: $OUT"
no_leftovers "$vm"
expect_code 0 "$GRAINVM" status
echo "$OUT" | grep -q "^state    stopped: guest powered off" || fail "status after down: $OUT"
expect_code 3 "$GRAINVM" down
note "ok"
