#!/usr/bin/env bash
# Issue 15: a stock Debian 12 minbase systemd guest (debootstrap, then
# `grainvm image build`) with the grainvm-agent .deb installed (dpkg -i, as
# packaging/debian/build-debs.sh builds it) and no other grainvm-specific
# change: the package's unit and udev rule start the agent.  It boots with
# default firmware settings (auto finds the ESP: UEFI), reaches
# ready=system (systemd running or degraded, the card addressed), has the workspace mounted with no fstab
# line (the supervisor's grain-mount), answers `grainvm ip`, and `down`
# powers it off through the agent (minbase has no D-Bus, so logind never
# handles the power button): the next boot replays no journal.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/debian-lib.sh"

root=$(debian_rootfs)
debian_install_agent_deb "$root"
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
# The agent that answers is the package's: its unit, started because udev's
# rule wants it for the port's device (nothing enables it), and no unit or
# rule of anyone else's.
expect_code 0 "$GRAINVM" exec -- dpkg-query -W -f='${Status}' grainvm-agent
[ "$OUT" = "install ok installed" ] || fail "dpkg in the guest: grainvm-agent $OUT"
expect_code 0 "$GRAINVM" exec -- systemctl show -p FragmentPath -p ActiveState -p WantedBy grainvm-agent.service
echo "$OUT"
# (/lib is /usr/lib in Debian 12, and its systemd names the first.)
echo "$OUT" | grep -Eqx "FragmentPath=(/usr)?/lib/systemd/system/grainvm-agent.service" ||
	fail "the agent's unit is not the package's: $OUT"
echo "$OUT" | grep -qx "ActiveState=active" || fail "grainvm-agent.service is not active: $OUT"
# The port's device unit, named by its sysfs path (…virtio\x2dports-vport0p1).
echo "$OUT" | grep -q '^WantedBy=.*virtio.*ports-vport[^ ]*\.device' ||
	fail "grainvm-agent.service was not started by the udev rule's device: $OUT"
expect_code 1 "$GRAINVM" exec -- test -e /etc/systemd/system/grainvm-agent.service \
	-o -e /etc/udev/rules.d/60-grainvm-agent.rules
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
