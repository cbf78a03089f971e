#!/bin/sh
# SPDX-License-Identifier: MIT
#
# make-qga-initramfs.sh - a test guest that runs Debian's real qemu-ga and
# no grainvm-agent, for the qemu-ga fallback test (tests/vm/qga.sh).
#
# usage: make-qga-initramfs.sh OUT.cpio [KERNEL-VERSION]
#
# Contents: busybox (static) as the tools, the virtio/9p modules of the
# kernel grainvm boots by default, /usr/sbin/qemu-ga with every shared
# library ldd names, and an /init script that loads the modules, mounts
# the workspace share (tag "workspace" at /mnt/workspace, as the default
# spec has it), finds the virtio port named org.qemu.guest_agent.0 under
# /sys/class/virtio-ports and starts qemu-ga on it:
#   qemu-ga -m virtio-serial -p /dev/vportNpM
# qemu-ga's guest-shutdown runs /sbin/shutdown, which here powers off at
# once.  Needs: qemu-guest-agent, busybox-static, cpio (see .ci/deps).
set -eu

out=$1
ver=${2:-}
if [ -z "$ver" ]; then
	# The kernel grainvm's "host" choice boots: the running one if /boot
	# has it, else the newest /boot/vmlinuz-*.
	ver=$(uname -r)
	[ -e "/boot/vmlinuz-$ver" ] || ver=$(ls /boot/vmlinuz-* | sed 's|/boot/vmlinuz-||' | sort -V | tail -n 1)
fi
[ -d "/lib/modules/$ver" ] || { echo "no modules for kernel $ver" >&2; exit 1; }
qga=$(command -v qemu-ga || echo /usr/sbin/qemu-ga)
[ -x "$qga" ] || { echo "qemu-ga is not installed (apt-get install qemu-guest-agent)" >&2; exit 1; }
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

# qemu-ga and its libraries, at the paths the dynamic loader looks in.
cp "$qga" "$stage/usr/sbin/qemu-ga"
ldd "$qga" | awk '/=>/ { print $3 } /^[ \t]*\// { print $1 }' | while read -r lib; do
	[ -f "$lib" ] || continue
	mkdir -p "$stage$(dirname "$lib")"
	cp -L "$lib" "$stage$lib"
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

cat >"$stage/sbin/shutdown" <<'EOF'
#!/bin/sh
# qemu-ga's guest-shutdown runs "shutdown -P|-H|-r +0 MESSAGE".
case "$1" in -r) exec reboot -f ;; -H) exec halt -f ;; *) exec poweroff -f ;; esac
EOF
chmod 0755 "$stage/sbin/shutdown"

cat >"$stage/init" <<'EOF'
#!/bin/sh
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs -o mode=0755 tmpfs /run
mount -t tmpfs -o mode=1777 tmpfs /tmp
while read -r m; do insmod "$m" 2>/dev/null; done </etc/modules
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=mmap workspace /mnt/workspace ||
	echo "qga-guest: cannot mount the workspace share"
port=
for i in $(seq 1 50); do
	for p in /sys/class/virtio-ports/*; do
		[ "$(cat "$p/name" 2>/dev/null)" = org.qemu.guest_agent.0 ] && port=/dev/${p##*/}
	done
	[ -n "$port" ] && [ -e "$port" ] && break
	sleep 0.1
done
echo "qga-guest: starting qemu-ga on $port"
mkdir -p /run/qga
qemu-ga -m virtio-serial -p "$port" -t /run/qga -f /run/qemu-ga.pid &
# PID 1 must not exit; reap what qemu-ga leaves.
while :; do wait; sleep 1; done
EOF
chmod 0755 "$stage/init"
mknod -m 600 "$stage/dev/console" c 5 1 2>/dev/null || true

(cd "$stage" && find . | cpio -o -H newc --quiet) >"$out"
echo "$out: $(wc -c <"$out") bytes, kernel $ver, qemu-ga $("$qga" --version 2>/dev/null | head -n 1)"
