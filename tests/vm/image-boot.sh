#!/usr/bin/env bash
# Issue 4's end to end: `grainvm image build` turns the test guest's rootfs
# (the default guest's own initramfs tree: grainvm-agent as init, busybox,
# modules) into a GPT disk with systemd-boot; grainvm boots it under OVMF
# with no -kernel, the root on virtio-blk, to grainvm-agent ready with the
# workspace mounted.  The built image is the base: it is never written.
. "$(dirname "$0")/lib.sh"

p=$(new_project "$PREFIX-img")
cd "$p"
# The default guest's initramfs, as up would make it, becomes the root tree.
initrd=$(by_path "$GRAINVM" up --dry-run --json | python3 -c \
	'import json, sys; a = json.load(sys.stdin); print(a[a.index("-initrd") + 1])')
mkdir -p "$T/rootfs"
(cd "$T/rootfs" && cpio -id --quiet <"$initrd")
kernel=$(ls /boot/vmlinuz-* | sort -V | tail -1)
host_initrd=/boot/initrd.img-${kernel#/boot/vmlinuz-}
[ -r "$host_initrd" ] || fail "no $host_initrd: the distribution initrd mounts the root by PARTUUID"

expect_code 0 "$GRAINVM" image build --rootfs "$T/rootfs" --kernel "$kernel" --initrd "$host_initrd" \
	--cmdline "console=ttyS0 panic=-1 init=/init grainvm.mount=workspace:/mnt/workspace:msize=512000,cache=mmap" \
	-o "$T/disk.qcow2"
qemu-img check -q "$T/disk.qcow2" || fail "qemu-img check of the built image"
sum=$(sha256sum "$T/disk.qcow2")

printf '[vm]\nready-timeout=180\n[disk]\nimage=%s\n' "$T/disk.qcow2" >>grainvm.conf
expect_code 0 "$GRAINVM" up
echo "$OUT"
# No firmware= in the spec: auto finds the ESP and no BIOS boot code.
echo "$OUT" | grep -q "boot     UEFI (OVMF) from the disk (firmware=auto: the disk has an EFI system partition and no BIOS boot code)" ||
	fail "firmware=auto did not choose UEFI for the built disk"
echo "marker $$" >"$p/marker"
expect_code 0 "$GRAINVM" exec -- sh -c 'grep " / " /proc/mounts; cat /mnt/workspace/marker'
echo "$OUT"
echo "$OUT" | grep -q "^/dev/vda2 / ext4" || fail "the root is not the disk's ext4 partition on virtio-blk"
echo "$OUT" | grep -q "marker $$" || fail "the workspace is not shared"
expect_code 0 "$GRAINVM" exec -- sh -c 'echo written-in-guest > /root/f && sync'
expect_code 0 "$GRAINVM" down
no_leftovers "$PREFIX-img"
[ "$(sha256sum "$T/disk.qcow2")" = "$sum" ] || fail "the base image was written"
qemu-img check -q "$GRAINVM_HOME/state/$PREFIX-img/overlay.qcow2" || fail "overlay check"
note "ok"
