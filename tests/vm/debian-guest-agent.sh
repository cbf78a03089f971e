#!/usr/bin/env bash
# Issue 15: a stock Debian 12 minbase systemd guest (debootstrap, then
# `grainvm image build`) with grainvm-agent installed as a service and no
# other grainvm-specific change: it boots with default firmware settings
# (auto finds the ESP: UEFI), reaches ready=system (systemd running or
# degraded, the card addressed), has the workspace mounted with no fstab
# line (the supervisor's grain-mount), answers `grainvm ip`, and `down`
# powers it off through the agent (minbase has no D-Bus, so logind never
# handles the power button): the next boot replays no journal.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/debian-lib.sh"

root=$(debian_rootfs)
debian_install_agent "$root"
debian_image "$root" "$T/debian.qcow2"

vm=$PREFIX-deb
p=$(new_project "$vm")
cd "$p"
# TCG through OVMF, a full systemd boot, on a loaded CI machine: room.
printf '[vm]\nready=system\nready-timeout=500\n[disk]\nimage=%s\n' "$T/debian.qcow2" >>grainvm.conf
echo "marker $$" >marker
expect_code 0 "$GRAINVM" up
echo "$OUT"
note "boot to ready=system, grainvm-agent: $(ready_seconds) s"
echo "$OUT" | grep -q "boot     UEFI (OVMF) from the disk (firmware=auto" ||
	fail "firmware=auto did not pick UEFI for the built disk"

expect_code 0 "$GRAINVM" status
echo "$OUT"
echo "$OUT" | grep -q "^agent    grainvm-agent" || fail "grainvm-agent did not answer: $OUT"
echo "$OUT" | grep -q "(tag workspace): mounted, writable" || fail "share: $OUT"
expect_code 0 "$GRAINVM" exec -- cat /mnt/workspace/marker
[ "$OUT" = "marker $$" ] || fail "the workspace in the guest: $OUT"
# Mounted by grain-mount, not by anything in the guest's configuration.
expect_code 1 "$GRAINVM" exec -- grep -q workspace /etc/fstab
expect_code 0 "$GRAINVM" exec -- systemctl is-system-running
case "$OUT" in running | degraded) ;; *) fail "ready=system came while systemd says: $OUT" ;; esac
expect_code 0 "$GRAINVM" ip
[ "$OUT" = 10.0.2.15 ] || fail "grainvm ip: $OUT"

t0=$(date +%s.%N)
expect_code 0 "$GRAINVM" down
t1=$(date +%s.%N)
echo "$OUT"
echo "$OUT" | grep -q "stopped: guest powered off" || fail "down was not a guest poweroff: $OUT"
note "down: $(awk "BEGIN { printf \"%.1f\", $t1 - $t0 }") s ($OUT)"
no_leftovers "$vm"

# The next boot: the root file system was unmounted cleanly.
expect_code 0 "$GRAINVM" up --set vm.ready=agent
note "second boot to ready=agent: $(ready_seconds) s"
expect_code 0 "$GRAINVM" exec -- dmesg
if echo "$OUT" | grep -Ei "recovery complete|recovering journal|orphan"; then
	fail "the root file system was not shut down cleanly"
fi
echo "$OUT" | grep -q "EXT4-fs (vda2): mounted filesystem" || fail "no ext4 root in dmesg: $OUT"
expect_code 0 "$GRAINVM" down
no_leftovers "$vm"
note "ok"
