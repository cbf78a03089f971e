#!/usr/bin/env bash
# bench/image-convert.sh - grainvm image convert against qemu-img, same run
#
# Usage: bench/image-convert.sh [BUILD_DIR]        (by hand; not in the test suite)
#
# Source: a raw ext4 image holding real files, made once with
#   mke2fs -t ext4 -d $GV_BENCH_TREE $GV_BENCH_DIR/src.ext4 $GV_BENCH_SIZE
# (defaults /usr/lib, 6G, /var/tmp/grainvm-bench) and kept for later runs.
# GV_BENCH_MODES picks modes (default "plain zstd zlib").
# Each mode runs both tools $GV_BENCH_REPEAT times (default 3; zlib once),
# interleaved, from a warm page cache, and reports the fastest of each.
# grainvm's time includes its fsync before the rename; qemu-img does not
# sync, so "qemu-img+sync" adds a sync after it for the durable comparison.
set -euo pipefail

build=${1:-build}
cli=${GV_BENCH_CLI:-$build/tests/image/gv-image-cli}
qemu_img=${GRAINVM_QEMU_IMG:-qemu-img}
dir=${GV_BENCH_DIR:-/var/tmp/grainvm-bench}
tree=${GV_BENCH_TREE:-/usr/lib}
size=${GV_BENCH_SIZE:-6G}
repeat=${GV_BENCH_REPEAT:-3}
src=$dir/src.ext4

mkdir -p "$dir"
if [ ! -f "$src" ] || [ "$(cat "$src.made-from" 2>/dev/null)" != "$tree $size" ]; then
	echo "making $src from $tree ($size)..." >&2
	rm -f "$src"
	truncate -s "$size" "$src"
	mke2fs -q -t ext4 -d "$tree" "$src"
	echo "$tree $size" > "$src.made-from"
fi

now() { date +%s.%N; }
secs() { echo "$2 - $1" | bc; }
min() { printf '%s\n' "$@" | sort -g | head -1; }
fsize() { stat -c %s "$1"; }

echo "source: $src, $(du -h --apparent-size "$src" | cut -f1) apparent, $(du -h "$src" | cut -f1) allocated; $(nproc) CPUs"
printf '%-6s %12s %15s %12s %8s %8s %14s %14s\n' mode qemu-img qemu-img+sync grainvm ratio ratio+s qemu-size grainvm-size

run_mode() {
	local mode=$1 n=$2; shift 2
	local -a qargs=("$@")
	local q=() qs=() g=() qsz=0 gsz=0
	for _ in $(seq "$n"); do
		cat "$src" > /dev/null   # warm cache, same for both
		sync
		rm -f "$dir/q.qcow2"
		local t0; t0=$(now)
		"$qemu_img" convert "${qargs[@]}" -O qcow2 "$src" "$dir/q.qcow2"
		local t1; t1=$(now)
		sync
		local t2; t2=$(now)
		q+=("$(secs "$t0" "$t1")"); qs+=("$(secs "$t0" "$t2")")
		qsz=$(fsize "$dir/q.qcow2"); rm -f "$dir/q.qcow2"; sync

		rm -f "$dir/g.qcow2"
		t0=$(now)
		"$cli" convert "${gargs[@]}" "$src" "$dir/g.qcow2"
		t1=$(now)
		g+=("$(secs "$t0" "$t1")")
		gsz=$(fsize "$dir/g.qcow2"); rm -f "$dir/g.qcow2"; sync
	done
	local qm qsm gm
	qm=$(min "${q[@]}"); qsm=$(min "${qs[@]}"); gm=$(min "${g[@]}")
	printf '%-6s %11.2fs %14.2fs %11.2fs %7.2fx %7.2fx %14s %14s\n' "$mode" "$qm" "$qsm" "$gm" \
		"$(echo "$gm / $qm" | bc -l)" "$(echo "$gm / $qsm" | bc -l)" "$qsz" "$gsz"
	echo "       runs: qemu-img ${q[*]} | grainvm ${g[*]}" >&2
}

for mode in ${GV_BENCH_MODES:-plain zstd zlib}; do
	case $mode in
	plain) gargs=(); run_mode plain "$repeat" ;;
	zstd) gargs=(-c --compression zstd); run_mode zstd "$repeat" -c -o compression_type=zstd -m 8 -W ;;
	zlib) gargs=(-c --compression zlib); run_mode zlib 1 -c -m 8 -W ;;
	esac
done
echo "ratio = grainvm time / qemu-img time (below 1 is faster); ratio+s against qemu-img followed by sync"
