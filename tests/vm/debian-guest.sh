#!/usr/bin/env bash
# debian-guest.sh - a stock Debian 12 systemd guest's root tree, built once
# per package list and reused: `debian-guest.sh` prints the directory.
#
# The tree is what a user gets from debootstrap --variant=minbase with
# systemd, udev, a kernel and qemu-guest-agent, plus the two things every
# Debian guest needs whatever its hypervisor: a DHCP network (systemd-
# networkd on every en*/eth* card) and a root with no password on the
# serial console.  Nothing grainvm-specific is in it: tests add grainvm-agent
# (or not) to a copy, so one cached tree serves every Debian test (the
# distribution guest tests, later cloud images and Slurm).
#
# Cache: $GV_DEBIAN_CACHE (meson points it into the build directory) or
# /var/tmp/grainvm-debian-guest, one tree per key (suite + package list +
# this script's setup version), built under a lock so that tests started
# together build it once; a failed build leaves no tree under the key.
# debootstrap needs root and the Debian archive ($GV_DEBIAN_MIRROR, default
# deb.debian.org): it costs about 2 minutes and 350 MB here.
#
# Use: root=$(tests/vm/debian-guest.sh) && cp -al "$root" "$T/rootfs"
# (a hard-link copy: replace files in it, never write into them).
#
# `debian-guest.sh cloud-init` prints a cloud image stand-in instead: the
# same tree without qemu-guest-agent (Debian's cloud images have none), with
# cloud-init and openssh-server, as the genericcloud images carry them.
# They are installed with apt in the tree after debootstrap: debootstrap
# --include=cloud-init fails configuring python3-cryptography in its second
# stage.  Its own cache key, so the plain tree is unchanged.
set -euo pipefail

variant=${1:-plain}
case $variant in
plain | cloud-init) ;;
*)
	echo "debian-guest.sh: unknown variant '$variant' (plain or cloud-init)" >&2
	exit 2
	;;
esac

suite=bookworm
mirror=${GV_DEBIAN_MIRROR:-http://deb.debian.org/debian}
# What a minimal systemd guest needs; initramfs-tools comes with the kernel.
include=systemd,systemd-sysv,udev,linux-image-amd64,qemu-guest-agent,kmod,e2fsprogs
# Bump when the set-up below changes, so old trees are not reused.
setup_version=1

cache=${GV_DEBIAN_CACHE:-/var/tmp/grainvm-debian-guest}
key=$(printf '%s\n' "$suite" "$include" "$setup_version" | sha256sum | cut -c1-16)
dir=$cache/$suite-$key
if [ "$variant" = cloud-init ]; then
	include=${include/,qemu-guest-agent/}
	# What apt adds to the tree; bump cloud_version when that set-up changes.
	cloud_pkgs="cloud-init openssh-server"
	cloud_version=1
	key=$(printf '%s\n' "$suite" "$include" "$setup_version" cloud-init "$cloud_pkgs" \
		"$cloud_version" | sha256sum | cut -c1-16)
	dir=$cache/$suite-cloud-$key
fi

[ "$(id -u)" -eq 0 ] || { echo "debian-guest.sh: debootstrap needs root" >&2; exit 77; }
command -v debootstrap >/dev/null || {
	echo "debian-guest.sh: debootstrap is not installed (apt-get install debootstrap; .ci/deps has it)" >&2
	exit 1
}
mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9

if [ -f "$dir/.complete" ]; then
	echo "$dir/root"
	exit 0
fi

rm -rf "$dir" "$dir.tmp"
mkdir -p "$dir.tmp"
trap 'rm -rf "$dir.tmp"' EXIT
started=$(date +%s)
echo "debian-guest.sh: debootstrap $suite ($include) into $dir; about 2 minutes" >&2
if ! debootstrap --variant=minbase --include="$include" "$suite" "$dir.tmp/root" "$mirror" \
	>"$dir.tmp/debootstrap.log" 2>&1; then
	tail -n 20 "$dir.tmp/debootstrap.log" >&2
	echo "debian-guest.sh: debootstrap failed (log above)" >&2
	exit 1
fi
r=$dir.tmp/root

if [ "$variant" = cloud-init ]; then
	# apt in the tree: the host's resolver, /proc, and no service started
	# in the chroot (policy-rc.d); all three gone again afterwards.
	cp /etc/resolv.conf "$r/etc/resolv.conf"
	printf '#!/bin/sh\nexit 101\n' >"$r/usr/sbin/policy-rc.d"
	chmod 755 "$r/usr/sbin/policy-rc.d"
	mount -t proc proc "$r/proc"
	trap 'umount "$r/proc" 2>/dev/null; rm -rf "$dir.tmp"' EXIT
	echo "debian-guest.sh: apt-get install $cloud_pkgs in the tree" >&2
	# shellcheck disable=SC2086 # the package list splits on spaces
	if ! { chroot "$r" apt-get update &&
		DEBIAN_FRONTEND=noninteractive chroot "$r" apt-get install -y \
			--no-install-recommends $cloud_pkgs; } >"$dir.tmp/apt.log" 2>&1; then
		tail -n 20 "$dir.tmp/apt.log" >&2
		echo "debian-guest.sh: apt-get install $cloud_pkgs failed (log above)" >&2
		exit 1
	fi
	umount "$r/proc"
	trap 'rm -rf "$dir.tmp"' EXIT
	rm -f "$r/usr/sbin/policy-rc.d" "$r/etc/resolv.conf"
	rm -rf "$r"/var/lib/apt/lists/*
fi

# A DHCP network on every card, as a cloud image has.
mkdir -p "$r/etc/systemd/network"
printf '[Match]\nName=en* eth*\n\n[Network]\nDHCP=yes\n' >"$r/etc/systemd/network/80-dhcp.network"
ln -sf /lib/systemd/system/systemd-networkd.service \
	"$r/etc/systemd/system/multi-user.target.wants/systemd-networkd.service"
echo debian >"$r/etc/hostname"
# Root logs in on the serial console without a password (a test guest).
chroot "$r" passwd -d root >/dev/null
# What the guest does not need: the package cache.
rm -f "$r"/var/cache/apt/archives/*.deb
ls "$r"/boot/vmlinuz-* "$r"/boot/initrd.img-* >/dev/null || {
	echo "debian-guest.sh: no kernel or initrd in $r/boot" >&2
	exit 1
}
touch "$r/.grainvm-debian-guest"
: >"$dir.tmp/.complete"
mv "$dir.tmp" "$dir"
trap - EXIT
echo "debian-guest.sh: built in $(( $(date +%s) - started )) s" >&2
echo "$dir/root"
