#!/usr/bin/env bash
# build-debs.sh - build grainvm's Debian packages from this source tree
#
#   packaging/debian/build-debs.sh OUTDIR       e.g. build/debs
#
# The repository's top level holds no debian/ (it is the same for every
# distribution), so this copies the source tree into OUTDIR/src, puts
# packaging/debian there as debian/, runs `dpkg-buildpackage -b -us -uc`
# and leaves in OUTDIR:
#
#   grainvm_VERSION_ARCH.deb        the host tool
#   grainvm-agent_VERSION_ARCH.deb  the static guest agent, unit, udev rule
#   grainvm_VERSION_ARCH.buildinfo, .changes, build.log
#
# and prints the two .deb paths, host first, one a line, on stdout (nothing
# else goes there).  VERSION is packaging/debian/changelog's, which must be
# meson.build's (checked here).
#
# Tests call it too (tests/packaging/test-deb.sh, the Debian guest's vm
# test), maybe at once: it holds OUTDIR/.lock while it works, and builds
# again only when a file of the source tree is newer than the last build,
# so the second caller gets the first one's packages.  OUTDIR should be
# outside the source tree or under a build*/ directory, which is not
# copied (nor is .git).  Needs dpkg-dev, debhelper and the build
# dependencies in packaging/debian/control (.ci/deps installs them).
# Exit status: 0, or 1 when the build failed (its log's end on stderr).
set -euo pipefail

if [ $# -ne 1 ]; then
	echo "usage: $0 OUTDIR" >&2
	exit 2
fi
src=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$1"
out=$(cd "$1" && pwd)

meson_version=$(sed -n "s/^  version: '\([^']*\)',\$/\1/p" "$src/meson.build")
deb_version=$(dpkg-parsechangelog -l "$src/packaging/debian/changelog" -S Version)
if [ "$meson_version" != "$deb_version" ]; then
	echo "build-debs.sh: packaging/debian/changelog says $deb_version, meson.build $meson_version: add a changelog entry" >&2
	exit 1
fi
arch=$(dpkg --print-architecture)
host_deb=$out/grainvm_${deb_version}_$arch.deb
agent_deb=$out/grainvm-agent_${deb_version}_$arch.deb

exec 9>"$out/.lock"
flock 9

# Up to date: both packages there and no source file changed since.
if [ -f "$out/.stamp" ] && [ -f "$host_deb" ] && [ -f "$agent_deb" ] &&
	[ -z "$(find "$src" \( -path "$src/build*" -o -path "$src/.git" -o -path "$out" \) -prune \
		-o -newer "$out/.stamp" -print -quit)" ]; then
	printf '%s\n' "$host_deb" "$agent_deb"
	exit 0
fi

# A fresh copy every time: dpkg-buildpackage builds in the tree it is given,
# and a stale one would hide a file missing from the source.
rm -f "$out/.stamp" "$out"/grainvm_*.deb "$out"/grainvm-agent_*.deb "$out"/grainvm_*.buildinfo "$out"/grainvm_*.changes
rm -rf "$out/src"
mkdir -p "$out/src"
: >"$out/.stamp.new"
tar -C "$src" --exclude='./build*' --exclude=./.git --exclude='./result*' -cf - . | tar -C "$out/src" -xf -
cp -a "$src/packaging/debian" "$out/src/debian"
rm -f "$out/src/debian/build-debs.sh"

# dpkg-buildpackage writes its results next to the tree, i.e. in $out.
# nocheck: the tests boot QEMU guests (.ci/run runs them on this tree);
# noddebs: no -dbgsym package.
jobs=$(nproc 2>/dev/null || echo 1)
if ! (cd "$out/src" && DEB_BUILD_OPTIONS="nocheck noddebs parallel=$jobs" \
	dpkg-buildpackage -b -us -uc) >"$out/build.log" 2>&1; then
	tail -n 40 "$out/build.log" >&2
	echo "build-debs.sh: dpkg-buildpackage failed; the whole log is $out/build.log" >&2
	exit 1
fi
rm -rf "$out/src"
for f in "$host_deb" "$agent_deb"; do
	[ -f "$f" ] || {
		echo "build-debs.sh: dpkg-buildpackage made no $f" >&2
		exit 1
	}
done
# The stamp is as old as the copy: a file edited during the build is newer.
mv "$out/.stamp.new" "$out/.stamp"
printf '%s\n' "$host_deb" "$agent_deb"
