#!/usr/bin/env bash
# test-packaging.sh - the distribution files, checked without the distributions
#
#   shellcheck   the OpenRC service, the s6 run/finish scripts, the bash
#                completion, the Debian build script and postinst (the
#                packages themselves: test-deb.sh, suite deb)
#   APKBUILD     `sh -n`, then sourced with abuild's helpers absent: the
#                variables abuild reads, the subpackage functions, pkgver ==
#                meson's version (no abuild here: nothing is built with it)
#   meson install into a DESTDIR: binary, agent, man pages, completion,
#                systemd unit, s6 directory in the usual places; the s6
#                run script confines what it starts as the unit does;
#                `systemd-analyze verify` on the installed grainvm@.service
#   completion   completes commands, options, subcommands, --set keys and VM
#                names from the real grainvm
set -euo pipefail

SRC=${GV_SOURCE_ROOT:?}
BUILD=${GV_BUILD_ROOT:?}
GRAINVM=${GRAINVM:-$BUILD/launcher/grainvm}
T=$(mktemp -d /tmp/gvpkg.XXXXXX)
trap 'rm -rf "$T"' EXIT
failures=0

ok() { echo "ok - $*"; }
bad() {
	echo "not ok - $*"
	failures=$((failures + 1))
}
check() { # WHAT CMD...
	local what=$1
	shift
	if "$@"; then ok "$what"; else bad "$what"; fi
}

# ---- shellcheck --------------------------------------------------------------------
for f in packaging/alpine/grainvm-agent.initd packaging/alpine/grainvm.pre-install \
	packaging/s6/grainvm-agent/run \
	packaging/s6/grainvm-vm/run packaging/s6/grainvm-vm/finish; do
	check "shellcheck $f" shellcheck -s sh "$SRC/$f"
	check "$f is executable" test -x "$SRC/$f"
done
check "shellcheck packaging/bash-completion/grainvm" shellcheck -s bash "$SRC/packaging/bash-completion/grainvm"
check "shellcheck packaging/debian/build-debs.sh" shellcheck -s bash "$SRC/packaging/debian/build-debs.sh"
for f in grainvm-agent.postinst grainvm.postinst; do
	check "shellcheck packaging/debian/$f" shellcheck -s sh "$SRC/packaging/debian/$f"
done
for f in packaging/debian/build-debs.sh packaging/debian/rules packaging/debian/grainvm-agent.postinst \
	packaging/debian/grainvm.postinst; do
	check "$f is executable" test -x "$SRC/$f"
done
check "shellcheck packaging/slurm/grainvm-job" shellcheck -s bash "$SRC/packaging/slurm/grainvm-job"
check "packaging/slurm/grainvm-job is executable" test -x "$SRC/packaging/slurm/grainvm-job"
for f in grainvm-job.sbatch grainvm-matrix.sbatch; do
	check "shellcheck packaging/slurm/$f (as configured)" shellcheck -s bash "$BUILD/packaging/$f"
done
check "the OpenRC script runs under openrc-run" \
	grep -qx '#!/sbin/openrc-run' "$SRC/packaging/alpine/grainvm-agent.initd"

# ---- APKBUILD ------------------------------------------------------------------------
apk=$SRC/packaging/alpine/APKBUILD
check "sh -n APKBUILD" sh -n "$apk"
version=$(sed -n "s/^  version: '\([^']*\)',\$/\1/p" "$SRC/meson.build")
# Sourced in a subshell: abuild's helpers are not defined, so a top-level
# call of one would fail here; the functions are only declared.
apk_vars=$(sh -c '
	set -eu
	srcdir=/src pkgdir=/pkg subpkgdir=/sub
	. "$1"
	for f in build package _agent; do
		command -v "$f" >/dev/null || { echo "missing function $f"; exit 1; }
	done
	echo "pkgname=$pkgname pkgver=$pkgver pkgrel=$pkgrel arch=$arch license=$license"
	echo "subpackages=" $subpackages
	echo "depends=$depends"
	echo "options=$options"
' sh "$apk")
echo "$apk_vars" | sed 's/^/# /'
check "APKBUILD: pkgver is meson's version ($version)" grep -q "pkgver=$version " <<<"$apk_vars"
check "APKBUILD: the agent is a subpackage built by _agent" grep -q "subpackages=.* grainvm-agent:_agent" <<<"$apk_vars"
check "APKBUILD: the host package needs its agent" grep -q 'depends=.*grainvm-agent=' <<<"$apk_vars"
for f in packaging/alpine/grainvm-agent.initd packaging/alpine/grainvm-agent.confd packaging/s6/grainvm-agent/run; do
	check "APKBUILD installs $f" grep -q "\$builddir\"/$f" "$apk"
	check "$f exists" test -f "$SRC/$f"
done

# ---- meson install -------------------------------------------------------------------
dest=$T/dest
if DESTDIR=$dest meson install -C "$BUILD" --no-rebuild --quiet >"$T/install.log" 2>&1; then
	ok "meson install into a DESTDIR"
else
	bad "meson install into a DESTDIR"
	cat "$T/install.log"
fi
prefix=$(meson introspect --buildoptions "$BUILD" | python3 -c '
import json, sys
print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == "prefix"))')
root=$dest$prefix
for f in bin/grainvm libexec/grainvm/grainvm-agent share/man/man1/grainvm.1 share/man/man5/grainvm.conf.5 \
	share/bash-completion/completions/grainvm lib/systemd/system/grainvm@.service \
	share/grainvm/s6/grainvm-vm/run share/grainvm/s6/grainvm-vm/finish share/grainvm/s6/grainvm-vm/type; do
	check "installed: $prefix/$f" test -e "$root/$f"
done
check "installed s6 run script is executable" test -x "$root/share/grainvm/s6/grainvm-vm/run"
# The installed run script confines what it starts as the unit does: run
# it in a service directory with a stand-in `grainvm` first on PATH that
# records what it was given (the real one would boot a VM; the point here
# is the confinement the script puts around it, read back from /proc).
mkdir -p "$T/sv/grainvm-t1" "$T/fakebin"
cat >"$T/fakebin/grainvm" <<EOF
#!/bin/sh
{ echo "args \$*"; echo "umask \$(umask)"; grep -E '^(CapBnd|CapInh|CapAmb|NoNewPrivs):' /proc/self/status; } >"$T/s6.out"
EOF
chmod +x "$T/fakebin/grainvm"
(cd "$T/sv/grainvm-t1" && PATH=$T/fakebin:$PATH "$root/share/grainvm/s6/grainvm-vm/run") >/dev/null
# The bounding set the unit names, as a mask, in the kernel's numbering.
want=$(python3 - "$SRC/packaging/systemd/grainvm@.service.in" <<'PY'
import re, sys
names = re.search(r"^CapabilityBoundingSet=(.*)$", open(sys.argv[1]).read(), re.M).group(1).split()
nums = dict(re.findall(r"#define\s+(CAP_\w+)\s+(\d+)", open("/usr/include/linux/capability.h").read()))
print("%016x" % sum(1 << int(nums[n]) for n in names))
PY
)
check "s6 run script: up --foreground of the service's VM" \
	grep -qx "args up --foreground --file=/etc/grainvm/t1.conf t1" "$T/s6.out"
check "s6 run script: umask 0077" grep -qx "umask 0077" "$T/s6.out"
check "s6 run script: no_new_privs" grep -qx "NoNewPrivs:	1" "$T/s6.out"
check "s6 run script: the unit's capability bounding set ($want)" grep -qx "CapBnd:	$want" "$T/s6.out"
check "s6 run script: no inheritable capabilities" \
	grep -qx "CapInh:	0000000000000000" "$T/s6.out"
check "s6 run script: no ambient capabilities" grep -qx "CapAmb:	0000000000000000" "$T/s6.out"
for f in grainvm-job grainvm-job.sbatch grainvm-matrix.sbatch slurm.conf.fragment; do
	check "installed: $prefix/share/grainvm/slurm/$f" test -e "$root/share/grainvm/slurm/$f"
done
check "the installed sbatch script runs the installed job runner" \
	grep -q "$prefix/share/grainvm/slurm/grainvm-job}" "$root/share/grainvm/slurm/grainvm-job.sbatch"

unit=$root/lib/systemd/system/grainvm@.service
check "the unit runs up --foreground with the installed binary" \
	grep -qx "ExecStart=$prefix/bin/grainvm up --foreground --file=.*/grainvm/%i.conf %i" "$unit"
check "the unit stops with grainvm down" grep -qx "ExecStop=-$prefix/bin/grainvm down --quiet %i" "$unit"
check "the unit is Type=notify" grep -qx "Type=notify" "$unit"
# verify checks that ExecStart's program exists: point it at the build's.
mkdir -p "$T/units"
sed "s|$prefix/bin/grainvm|$GRAINVM|g" "$unit" >"$T/units/grainvm@t1.service"
if out=$(systemd-analyze verify --man=no "$T/units/grainvm@t1.service" 2>&1) && [ -z "$out" ]; then
	ok "systemd-analyze verify grainvm@.service: no complaint"
else
	bad "systemd-analyze verify grainvm@.service: $out"
fi
for f in grainvm.1 grainvm.conf.5; do
	check "installed $f is the source's" cmp -s "$SRC/packaging/man/$f" "$root/share/man/man${f##*.}/$f"
done

# ---- bash completion ----------------------------------------------------------------
export GRAINVM_HOME=$T/home
# A VM grainvm knows of (as after up and down): its state directory.
mkdir -p "$GRAINVM_HOME/state/known-vm" "$T/proj"
complete_words() { # WORDS...: what _grainvm offers for the last one
	(
		cd "$T/proj"
		PATH=$(dirname "$GRAINVM"):$PATH
		# compopt only works while bash itself is completing.
		compopt() { :; }
		# shellcheck source=/dev/null
		. "$SRC/packaging/bash-completion/grainvm"
		COMP_WORDS=("$@")
		COMP_CWORD=$(($# - 1))
		_grainvm
		echo "${COMPREPLY[*]}"
	)
}
expect_completion() { # WANT WORDS...
	local want=$1 got
	shift
	got=$(complete_words "$@")
	if [ "$got" = "$want" ]; then ok "completion of '$*': $want"; else bad "completion of '$*': got '$got', want '$want'"; fi
}
expect_completion "up" grainvm u
expect_completion "--file= --foreground --from=" grainvm up --f
expect_completion "create convert check" grainvm image c
expect_completion "--backing= --backing-format=" grainvm image create --b
expect_completion "vm.memory=" grainvm up --set vm.me
expect_completion "share.workspace.mount=" grainvm up -s share.workspace.mo
expect_completion "known-vm" grainvm down k
all=$(complete_words grainvm "")
for c in $("$GRAINVM" --help | awk '/^Commands:/ { on = 1; next } on && /^  [a-z]/ { print $1 }'); do
	case " $all " in *" $c "*) ;; *) bad "completion lacks command $c" ;; esac
done
ok "completion offers every command of grainvm --help"

echo "# $failures failed"
[ "$failures" -eq 0 ]
