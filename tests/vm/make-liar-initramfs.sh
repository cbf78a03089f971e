#!/bin/sh
# SPDX-License-Identifier: MIT
#
# make-liar-initramfs.sh - a test guest whose agent lies, for the
# hostile-guest test (tests/vm/hostile-guest.sh).
#
# usage: make-liar-initramfs.sh OUT.cpio [KERNEL-VERSION]
#
# Contents: busybox (static), the virtio/9p modules of the kernel grainvm
# boots by default, and an /init that mounts the workspace share and runs
# /bin/liar on grainvm-agent's port (org.grainvm.agent.0) in its place.
# The liar speaks just enough of the agent protocol (0xFF and the
# guest-sync-delimited reply) for the host to talk to it, and answers
# every command as the word in /mnt/workspace/.liar says: honestly, or
# with one kind of lie (see liar's opening comment).  Floods on qemu-ga's
# port and the console start when the host creates .flood-qga or
# .flood-console in the workspace.  Needs: busybox-static, cpio.
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

cp "$(dirname "$0")/liar.sh" "$stage/bin/liar"
chmod 0755 "$stage/bin/liar"

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
	echo "liar-guest: cannot mount the workspace share"
# port NAME: the /dev node of the virtio port called NAME.
port() {
	for p in /sys/class/virtio-ports/*; do
		[ "$(cat "$p/name" 2>/dev/null)" = "$1" ] && echo "/dev/${p##*/}"
	done
}
for i in $(seq 1 50); do
	agent=$(port org.grainvm.agent.0)
	qga=$(port org.qemu.guest_agent.0)
	[ -n "$agent" ] && [ -e "$agent" ] && [ -n "$qga" ] && break
	sleep 0.1
done
echo "liar-guest: lying on $agent"
liar "$agent" &
# Floods the host asks for, on the ports it reads without asking.
ws=/mnt/workspace
while :; do
	if [ -e $ws/.flood-qga ]; then
		rm -f $ws/.flood-qga
		# The issue's line: 16 MB of {} in one array, on qemu-ga's port.
		{ printf '{"return":['; yes '{},' | tr -d '\n' | head -c 16000000; printf '{}]}\n'; } >"$qga"
		touch $ws/.flood-qga-done
	fi
	if [ -e $ws/.flood-console ]; then
		rm -f $ws/.flood-console
		# 1 MB of one line through the emulated UART (slow under TCG), then a marker.
		{ yes x | tr -d '\n' | head -c 1000000; echo; echo END-OF-FLOOD; } >/dev/console
		touch $ws/.flood-console-done
	fi
	sleep 0.2
done
EOF
chmod 0755 "$stage/init"
mknod -m 600 "$stage/dev/console" c 5 1 2>/dev/null || true

(cd "$stage" && find . | cpio -o -H newc --quiet) >"$out"
echo "$out: $(wc -c <"$out") bytes, kernel $ver"
