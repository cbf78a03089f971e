#!/usr/bin/env bash
# Issue 15: the same stock Debian 12 guest with only its own qemu-ga (no
# grainvm-agent): one fstab line mounts the workspace, up reaches
# ready=system through qemu-ga, status and `ip` report its address (from
# qemu-ga's guest-network-get-interfaces), what needs grainvm-agent says so.
# qemu-ga's guest-shutdown runs "shutdown -P +0", which needs logind over
# D-Bus, which minbase lacks: down has to quit QEMU, and says so (exit 1,
# "forced after ...").  Then a UEFI-only disk forced onto SeaBIOS: up says
# early, on stderr, that the console is empty, and the timeout is "failed".
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/debian-lib.sh"

root=$(debian_rootfs)
debian_replace "$root" /etc/fstab
# The line a qemu-ga guest needs (README): 9p, the spec's msize and cache.
echo "workspace /mnt/workspace 9p trans=virtio,version=9p2000.L,msize=524288,cache=mmap,nofail,x-systemd.requires=modprobe@9pnet_virtio.service 0 0" \
	>>"$root/etc/fstab"
mkdir -p "$root/mnt/workspace"
debian_image "$root" "$T/debian.qcow2"

vm=$PREFIX-dqga
p=$(new_project "$vm")
cd "$p"
printf '[vm]\nready=system\nready-timeout=500\n[disk]\nimage=%s\n' "$T/debian.qcow2" >>grainvm.conf
echo "marker $$" >marker
expect_code 0 "$GRAINVM" up
echo "$OUT"
note "boot to ready=system, qemu-ga only: $(ready_seconds) s"

expect_code 0 "$GRAINVM" status
echo "$OUT"
echo "$OUT" | grep -q "^agent    qemu-ga [0-9]" || fail "status does not say qemu-ga answered: $OUT"
echo "$OUT" | grep -q "10\.0\.2\.15" || fail "status shows no address: $OUT"
expect_code 0 "$GRAINVM" ip
[ "$OUT" = 10.0.2.15 ] || fail "grainvm ip through qemu-ga: $OUT"
expect_code 0 "$GRAINVM" exec -- cat /mnt/workspace/marker
[ "$OUT" = "marker $$" ] || fail "the workspace in the guest: $OUT"

# What needs grainvm-agent says so, in one line.
set +e
msg=$("$GRAINVM" snapshot save "$vm" s1 2>&1)
rc=$?
set -e
[ "$rc" -ne 0 ] || fail "snapshot save through qemu-ga succeeded?"
echo "$msg" | grep -q "grain-quiesce needs grainvm-agent" || fail "snapshot save: $msg"
[ "$(echo "$msg" | wc -l)" -eq 1 ] || fail "not one line: $msg"

t0=$(date +%s.%N)
set +e
msg=$("$GRAINVM" down --timeout 3 2>&1)
rc=$?
set -e
t1=$(date +%s.%N)
echo "$msg"
note "down (forced): $(awk "BEGIN { printf \"%.1f\", $t1 - $t0 }") s"
[ "$rc" -eq 1 ] || fail "a forced down exited $rc"
echo "$msg" | grep -q "forced after the guest ignored the power button and the agent for [0-9]* s" ||
	fail "down did not say it forced: $msg"
expect_code 0 "$GRAINVM" status
echo "$OUT" | grep -q "^state    stopped: forced after the guest ignored" || fail "final state: $OUT"
no_leftovers "$vm"

# The UEFI-only disk under SeaBIOS: an early hint, then "failed".
set +e
msg=$("$GRAINVM" up --set vm.firmware=bios --set vm.ready-timeout=30 2>&1)
rc=$?
set -e
echo "$msg"
[ "$rc" -eq 4 ] || fail "up of a disk SeaBIOS cannot boot exited $rc"
echo "$msg" | grep -q "still waiting after [0-9]* s, and the guest has written nothing on its serial console" ||
	fail "no early hint: $msg"
expect_code 0 "$GRAINVM" status
echo "$OUT" | grep -q "^state    failed: not ready within 30 s" || fail "$OUT"
no_leftovers "$vm"
note "ok"
