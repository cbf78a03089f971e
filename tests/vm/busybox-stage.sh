# shellcheck shell=sh
# SPDX-License-Identifier: MIT
#
# busybox-stage.sh - what the test guests' initramfs builders share
# (make-qga-initramfs.sh, make-liar-initramfs.sh; sourced, POSIX sh):
#
#   stage_begin [KERNEL-VERSION]  pick the kernel grainvm boots by default
#                                 (the running one if /boot has it, else the
#                                 newest), make $stage with busybox linked
#                                 for every applet and that kernel's virtio
#                                 and 9p modules listed in /etc/modules
#   stage_init_head NAME          print the /init lines every guest starts
#                                 with: mounts, modules, the workspace share
#   stage_pack OUT                the cpio archive of $stage
#
# Sets $ver and $stage; $stage is removed when the script exits.

stage_begin() {
	ver=${1:-}
	if [ -z "$ver" ]; then
		ver=$(uname -r)
		[ -e "/boot/vmlinuz-$ver" ] || ver=$(ls /boot/vmlinuz-* | sed 's|/boot/vmlinuz-||' | sort -V | tail -n 1)
	fi
	[ -d "/lib/modules/$ver" ] || { echo "no modules for kernel $ver" >&2; exit 1; }
	[ -x /bin/busybox ] || { echo "busybox is not installed (busybox-static)" >&2; exit 1; }

	stage=$(mktemp -d)
	trap 'rm -rf "$stage"' EXIT
	mkdir -p "$stage/bin" "$stage/sbin" "$stage/dev" "$stage/proc" "$stage/sys" \
		"$stage/run" "$stage/tmp" "$stage/lib/modules" "$stage/etc" "$stage/usr/sbin" \
		"$stage/mnt/workspace" "$stage/var"
	ln -s ../run "$stage/var/run"

	cp /bin/busybox "$stage/bin/busybox"
	for app in $("$stage/bin/busybox" --list); do
		[ "$app" = busybox ] || ln -sf busybox "$stage/bin/$app"
	done

	# Modules in dependency order, each once, decompressed.
	for m in virtio_pci virtio_console 9pnet_virtio 9p button; do
		modprobe -S "$ver" --show-depends "$m" 2>/dev/null | awk '$1 == "insmod" { print $2 }'
	done | awk '!seen[$0]++' | while read -r ko; do
		base=$(basename "$ko")
		case "$base" in
		*.ko.xz) xz -dc "$ko" >"$stage/lib/modules/${base%.xz}"; base=${base%.xz} ;;
		*.ko.zst) zstd -qdc "$ko" >"$stage/lib/modules/${base%.zst}"; base=${base%.zst} ;;
		*) cp "$ko" "$stage/lib/modules/$base" ;;
		esac
		echo "/lib/modules/$base" >>"$stage/etc/modules"
	done
}

stage_init_head() {
	cat <<HEAD
#!/bin/sh
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs -o mode=0755 tmpfs /run
mount -t tmpfs -o mode=1777 tmpfs /tmp
while read -r m; do insmod "\$m" 2>/dev/null; done </etc/modules
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=mmap workspace /mnt/workspace ||
	echo "$1: cannot mount the workspace share"
HEAD
}

stage_pack() {
	chmod 0755 "$stage/init"
	mknod -m 600 "$stage/dev/console" c 5 1 2>/dev/null || true
	(cd "$stage" && find . | cpio -o -H newc --quiet) >"$1"
}
