#!/usr/bin/env bash
# bench/image-build.sh - grainvm image build against the make-disk-image way
#
# Usage: bench/image-build.sh [BUILD_DIR]          (by hand; not in the test suite)
#
# The reference is how disk images are usually made without root: a raw
# disk file, sfdisk, mke2fs -d at the root partition's offset, mkfs.vfat
# and mcopy at the ESP's, then qemu-img convert to qcow2.  Both sides get
# the same tree ($GV_BENCH_TREE, default /usr/lib), kernel and initrd
# (newest in /boot, or $GV_BENCH_KERNEL / $GV_BENCH_INITRD), the same disk
# size (grainvm's auto size) and the same ESP size.  Runs alternate,
# $GV_BENCH_REPEAT times (default 2), from a warm page cache; the fastest
# of each is reported, uncompressed and with zstd (-c).
set -euo pipefail

build=${1:-build}
cli=${GV_BENCH_CLI:-$build/tests/image/gv-image-cli}
qemu_img=${GRAINVM_QEMU_IMG:-qemu-img}
dir=${GV_BENCH_DIR:-/var/tmp/grainvm-bench}
tree=${GV_BENCH_TREE:-/usr/lib}
kernel=${GV_BENCH_KERNEL:-$(ls -t /boot/vmlinuz-* | head -1)}
initrd=${GV_BENCH_INITRD:-$(ls -t /boot/initrd.img-* | head -1)}
efi=${GRAINVM_SYSTEMD_BOOT_EFI:-/usr/lib/systemd/boot/efi/systemd-bootx64.efi}
repeat=${GV_BENCH_REPEAT:-2}
export MTOOLS_SKIP_CHECK=1

mkdir -p "$dir"
now() { date +%s.%N; }
secs() { echo "$2 - $1" | bc; }
min() { printf '%s\n' "$@" | sort -g | head -1; }

warm() { tar -cf - -C "$tree" . 2>/dev/null | cat > /dev/null; cat "$kernel" "$initrd" > /dev/null; }

ours() { # OUT [extra options]
	local out=$1; shift
	rm -f "$out"
	"$cli" build --rootfs "$tree" --kernel "$kernel" --initrd "$initrd" --esp-size "$esp_mb"M "$@" -o "$out"
}

reference() { # OUT [qemu-img convert options]
	local out=$1; shift
	local raw=$dir/ref.raw
	rm -f "$raw" "$out"
	truncate -s "$disk" "$raw"
	sfdisk -q "$raw" <<-SFDISK
		label: gpt
		start=2048, size=$((esp_mb * 2048)), type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name=ESP
		start=$((root_off / 512)), size=$((root_size / 512)), type=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709, name=root
	SFDISK
	mke2fs -q -t ext4 -L root -E offset="$root_off" -d "$tree" "$raw" "$((root_size / 1024))k"
	mkfs.vfat -F 32 -s 1 -n ESP --offset=2048 "$raw" "$((esp_mb * 1024))" > /dev/null 2>&1
	local esp="$raw@@1M"
	mmd -i "$esp" ::/EFI ::/EFI/BOOT ::/EFI/systemd ::/loader ::/loader/entries ::/grainvm
	printf 'default grainvm.conf\ntimeout 0\n' > "$dir/loader.conf"
	printf 'title grainvm\nlinux /grainvm/linux\ninitrd /grainvm/initrd\noptions root=PARTLABEL=root rw\n' > "$dir/grainvm.conf"
	mcopy -i "$esp" "$efi" ::/EFI/BOOT/BOOTX64.EFI
	mcopy -i "$esp" "$efi" ::/EFI/systemd/systemd-bootx64.efi
	mcopy -i "$esp" "$dir/loader.conf" ::/loader/loader.conf
	mcopy -i "$esp" "$dir/grainvm.conf" ::/loader/entries/grainvm.conf
	mcopy -i "$esp" "$kernel" ::/grainvm/linux
	mcopy -i "$esp" "$initrd" ::/grainvm/initrd
	"$qemu_img" convert "$@" -O qcow2 "$raw" "$out"
	rm -f "$raw"
}

esp_mb=128
echo "tree $tree ($(du -sh "$tree" 2>/dev/null | cut -f1)), kernel $kernel, initrd $initrd; $(nproc) CPUs" >&2
warm
ours "$dir/g.qcow2"   # learn the disk size grainvm picks
disk=$("$qemu_img" info --output=json "$dir/g.qcow2" | sed -n 's/.*"virtual-size": \([0-9]*\).*/\1/p')
root_off=$(( (1 + esp_mb) << 20 ))
root_size=$(( disk - root_off - (1 << 20) ))
echo "disk $disk bytes: ESP ${esp_mb} MiB, root $((root_size >> 20)) MiB" >&2

# Sizes: bytes allocated on disk (du); grainvm's uncompressed file is
# sparse with the disk's apparent length, see docs/image.md.
printf '%-6s %12s %12s %8s %14s %14s\n' mode reference grainvm ratio ref-alloc grainvm-alloc
for mode in plain zstd; do
	r=() g=()
	if [ "$mode" = zstd ]; then ropts=(-c -o compression_type=zstd -m 8 -W); gopts=(-c); else ropts=(); gopts=(); fi
	for _ in $(seq "$repeat"); do
		warm; sync
		t0=$(now); reference "$dir/r.qcow2" "${ropts[@]}"; t1=$(now)
		r+=("$(secs "$t0" "$t1")"); rsz=$(du -B1 "$dir/r.qcow2" | cut -f1); rm -f "$dir/r.qcow2"; sync
		warm; sync
		t0=$(now); ours "$dir/g.qcow2" "${gopts[@]}"; t1=$(now)
		g+=("$(secs "$t0" "$t1")"); gsz=$(du -B1 "$dir/g.qcow2" | cut -f1); rm -f "$dir/g.qcow2"; sync
	done
	rm_=$(min "${r[@]}"); gm=$(min "${g[@]}")
	printf '%-6s %11.2fs %11.2fs %7.2fx %14s %14s\n' "$mode" "$rm_" "$gm" "$(echo "$rm_ / $gm" | bc -l)" "$rsz" "$gsz"
	echo "       runs: reference ${r[*]} | grainvm ${g[*]}" >&2
done
echo "ratio = reference time / grainvm time (above 1: grainvm is faster)"
