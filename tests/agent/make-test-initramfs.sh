#!/bin/sh
# SPDX-License-Identifier: MIT
#
# make-test-initramfs.sh - build a minimal initramfs with grainvm-agent as
# /init, for booting the agent by hand before (or beside) the launcher.
# Not run by meson: the launcher's VM tests generate their own initramfs.
#
# usage: make-test-initramfs.sh AGENT OUT.cpio [KERNEL-VERSION]
#
# Then, for example (TCG: /dev/kvm on the build machines is unusable):
#   qemu-system-x86_64 -accel tcg -M q35 -m 512 -nodefaults -nographic \
#     -no-reboot -kernel /boot/vmlinuz-VER -initrd OUT.cpio \
#     -append "console=ttyS0 grainvm.mount=ws:/mnt/ws:msize=524288,cache=mmap" \
#     -serial stdio -device virtio-serial-pci \
#     -chardev socket,id=ag,path=/tmp/ag.sock,server=on,wait=off \
#     -device virtserialport,chardev=ag,name=org.grainvm.agent.0 \
#     -fsdev local,id=fs0,path=/tmp/share,security_model=mapped-xattr \
#     -device virtio-9p-pci,fsdev=fs0,mount_tag=ws
set -eu

agent=$1
out=$2
ver=${3:-$(uname -r)}
[ -d "/lib/modules/$ver" ] || ver=$(ls /lib/modules | head -n 1)

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/etc/grainvm" "$stage/bin" "$stage/sbin" "$stage/dev" \
	"$stage/lib/modules"
cp "$agent" "$stage/init"
chmod 0755 "$stage/init"

# Modules in dependency order, each once; decompress if needed.
: > "$stage/etc/grainvm/modules"
for m in virtio_pci virtio_console 9pnet_virtio 9p virtio_net button evdev; do
	modprobe -S "$ver" --show-depends "$m" 2>/dev/null |
		awk '$1 == "insmod" { print $2 }'
done | awk '!seen[$0]++' | while read -r ko; do
	base=$(basename "$ko")
	case "$base" in
	*.ko.xz) xz -dc "$ko" > "$stage/lib/modules/${base%.xz}"; base=${base%.xz} ;;
	*.ko.zst) zstd -qdc "$ko" > "$stage/lib/modules/${base%.zst}"; base=${base%.zst} ;;
	*) cp "$ko" "$stage/lib/modules/$base" ;;
	esac
	echo "/lib/modules/$base" >> "$stage/etc/grainvm/modules"
done

if [ -x /bin/busybox ]; then
	cp /bin/busybox "$stage/bin/busybox"
	for app in $("$stage/bin/busybox" --list); do
		[ "$app" = busybox ] || ln -sf busybox "$stage/bin/$app"
	done
fi
# Lets the kernel open a console for /init before devtmpfs is mounted.
mknod -m 600 "$stage/dev/console" c 5 1 2>/dev/null || true

(cd "$stage" && find . | cpio -o -H newc --quiet) > "$out"
echo "$out: $(wc -c < "$out") bytes, modules:" \
	"$(tr '\n' ' ' < "$stage/etc/grainvm/modules")"
