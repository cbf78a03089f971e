#!/usr/bin/env bash
# test-deb.sh - the Debian packages, as built by packaging/debian/build-debs.sh
# (the meson target `debs`), checked with Debian's own tools
#
#   dpkg-deb -I   names, version == meson's, the host needs its agent, the
#                 agent needs no library (Depends empty, Built-Using musl)
#   dpkg-deb -c   each package holds what it must, at its path
#   dpkg --root   the agent package installed into an empty scratch root
#                 (its postinst runs on the host, DPKG_ROOT set, and must do
#                 nothing there): the binary is static (no ELF interpreter,
#                 `file` says so) and runs; the unit's ExecStart program,
#                 EnvironmentFile and the rule's SYSTEMD_WANTS unit exist
#                 where the unit and rule name them; `systemd-analyze verify`
#                 accepts the installed unit
#   man page      grainvm-agent(8) lists exactly `grainvm-agent --help`'s options
#   lintian       no error (warnings are printed)
#
# The packages are built (or found up to date) in GV_DEBS_DIR by
# packaging/debian/build-debs.sh.
set -euo pipefail

SRC=${GV_SOURCE_ROOT:?}
T=$(mktemp -d /tmp/gvdeb.XXXXXX)
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
for tool in dpkg-deb dpkg file readelf lintian systemd-analyze man; do
	command -v "$tool" >/dev/null || { echo "not ok - $tool missing (.ci/deps installs it)"; exit 1; }
done

echo "# packaging/debian/build-debs.sh ${GV_DEBS_DIR:?} (minutes when the sources changed)"
start=$(date +%s)
if ! debs=$("$SRC/packaging/debian/build-debs.sh" "$GV_DEBS_DIR"); then
	echo "not ok - build-debs.sh failed"
	exit 1
fi
echo "# built or found in $(($(date +%s) - start)) s"
host_deb=$(sed -n 1p <<<"$debs")
agent_deb=$(sed -n 2p <<<"$debs")
ok "build-debs.sh: $(basename "$host_deb") $(basename "$agent_deb")"

version=$(sed -n "s/^  version: '\([^']*\)',\$/\1/p" "$SRC/meson.build")
arch=$(dpkg --print-architecture)

# ---- dpkg-deb -I -----------------------------------------------------------------
field() { dpkg-deb -f "$1" "$2"; }
check "host package: grainvm $version $arch" \
	test "$(field "$host_deb" Package) $(field "$host_deb" Version) $(field "$host_deb" Architecture)" = "grainvm $version $arch"
check "agent package: grainvm-agent $version $arch" \
	test "$(field "$agent_deb" Package) $(field "$agent_deb" Version) $(field "$agent_deb" Architecture)" = "grainvm-agent $version $arch"
host_depends=$(field "$host_deb" Depends)
echo "# grainvm Depends: $host_depends"
check "the host package depends on its own agent ($version)" grep -q "grainvm-agent (= $version)" <<<"$host_depends"
check "the host package depends on QEMU and qemu-img" grep -q "qemu-system-x86.*qemu-utils" <<<"$host_depends"
check "the host package's library dependencies were computed (glib)" grep -q "libglib2.0-0" <<<"$host_depends"
check "the agent package depends on nothing (static)" test -z "$(field "$agent_deb" Depends)"
check "the agent package names the musl it was linked with (Built-Using)" \
	grep -q "^musl (= " <<<"$(field "$agent_deb" Built-Using)"

# ---- dpkg-deb -c -----------------------------------------------------------------
contents() { dpkg-deb -c "$1" | awk '{ print $6 }' | sed 's|^\./|/|'; }
contents "$host_deb" >"$T/host.list"
contents "$agent_deb" >"$T/agent.list"
for f in /usr/bin/grainvm /usr/share/man/man1/grainvm.1.gz /usr/share/man/man5/grainvm.conf.5.gz \
	/usr/share/bash-completion/completions/grainvm /usr/lib/systemd/system/grainvm@.service \
	/usr/share/doc/grainvm/copyright; do
	check "grainvm holds $f" grep -qx "$f" "$T/host.list"
done
for f in /usr/libexec/grainvm/grainvm-agent /usr/sbin/grainvm-agent /usr/lib/systemd/system/grainvm-agent.service \
	/usr/lib/udev/rules.d/60-grainvm-agent.rules /etc/default/grainvm-agent \
	/usr/share/man/man8/grainvm-agent.8.gz /usr/share/doc/grainvm-agent/copyright; do
	check "grainvm-agent holds $f" grep -qx "$f" "$T/agent.list"
done
check "no file is in both packages" test -z "$(comm -12 <(grep -v '/$' "$T/host.list" | sort) \
	<(grep -v '/$' "$T/agent.list" | grep -v '^/usr/share/doc/' | sort))"
check "the host package holds no guest unit or rule" \
	test -z "$(grep -e grainvm-agent.service -e rules.d "$T/host.list" || true)"
# The host writes the default guest's initramfs from the agent package's file.
dpkg-deb -x "$host_deb" "$T/host"
check "grainvm looks for the agent where grainvm-agent puts it (/usr/libexec/grainvm)" \
	grep -qa "/usr/libexec/grainvm" "$T/host/usr/bin/grainvm"

# ---- install the agent into a scratch root ---------------------------------------------
root=$T/root
mkdir -p "$root/var/lib/dpkg/updates" "$root/var/lib/dpkg/info"
: >"$root/var/lib/dpkg/status"
# The root has no shell to run the postinst in: it runs on the host with
# DPKG_ROOT set, as it does for any dpkg --root install.
if dpkg --root="$root" --force-script-chrootless --force-not-root --log=/dev/null \
	-i "$agent_deb" >"$T/dpkg.log" 2>&1; then
	ok "dpkg --root -i grainvm-agent into an empty root"
else
	bad "dpkg --root -i grainvm-agent into an empty root: $(cat "$T/dpkg.log")"
fi
check "dpkg records grainvm-agent $version as installed in the root" \
	test "$(dpkg-query --admindir="$root/var/lib/dpkg" -W -f='${Status} ${Version}' grainvm-agent)" = "install ok installed $version"
check "/etc/default/grainvm-agent is a conffile" \
	grep -q "/etc/default/grainvm-agent" <<<"$(dpkg-query --admindir="$root/var/lib/dpkg" -W -f='${Conffiles}' grainvm-agent)"

agent=$root/usr/libexec/grainvm/grainvm-agent
desc=$(file -b "$agent")
echo "# file: $desc"
check "the agent is a static ELF (file: statically linked)" grep -q "ELF 64-bit.*statically linked" <<<"$desc"
check "the agent has no ELF interpreter (readelf -l: no INTERP)" \
	test -z "$(readelf -lW "$agent" | grep -e INTERP -e 'program interpreter' || true)"
check "the agent needs no shared library (readelf -d: no NEEDED)" \
	test -z "$(readelf -dW "$agent" 2>/dev/null | grep NEEDED || true)"
check "/usr/sbin/grainvm-agent runs and says its version" \
	test "$("$root/usr/sbin/grainvm-agent" --version)" = "grainvm-agent $version"

unit=$root/usr/lib/systemd/system/grainvm-agent.service
rule=$root/usr/lib/udev/rules.d/60-grainvm-agent.rules
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
prog=${exec_start%% *}
check "the unit's ExecStart program ($prog) is installed and executable" test -x "$root$prog"
env_file=$(sed -n 's/^EnvironmentFile=-\{0,1\}//p' "$unit")
check "the unit's EnvironmentFile ($env_file) is installed" test -f "$root$env_file"
port=$(sed -n 's/.*ATTR{name}=="\([^"]*\)".*/\1/p' "$rule")
check "the unit serves the port the rule matches (/dev/virtio-ports/$port)" \
	grep -q -- "--port /dev/virtio-ports/$port " <<<"$exec_start "
wants=$(sed -n 's/.*ENV{SYSTEMD_WANTS}="\([^"]*\)".*/\1/p' "$rule")
check "the rule's SYSTEMD_WANTS ($wants) is the installed unit" test -f "$root/usr/lib/systemd/system/$wants"
# shellcheck disable=SC2016 # $attr{name} is udev's, literal here
check "the rule tags the port for systemd and links it under /dev/virtio-ports" \
	grep -q 'SUBSYSTEM=="virtio-ports".*SYMLINK+="virtio-ports/$attr{name}".*TAG+="systemd"' "$rule"
check "the defaults file only holds comments" test -z "$(grep -v '^#' "$root$env_file" | grep -v '^$' || true)"
# verify wants the ExecStart program on this machine: the installed one.
mkdir -p "$T/units"
sed "s|^ExecStart=$prog|ExecStart=$root$prog|" "$unit" >"$T/units/grainvm-agent.service"
if out=$(systemd-analyze verify --man=no "$T/units/grainvm-agent.service" 2>&1) && [ -z "$out" ]; then
	ok "systemd-analyze verify: the installed grainvm-agent.service, no complaint"
else
	bad "systemd-analyze verify grainvm-agent.service: $out"
fi

# ---- the man page against --help --------------------------------------------------------
help_opts=$("$agent" --help | grep -o -- '--[a-z][a-z-]*' | sort -u)
man_opts=$(man -l "$root/usr/share/man/man8/grainvm-agent.8.gz" 2>/dev/null | grep -o -- '--[a-z][a-z-]*' | sort -u)
check "grainvm-agent(8) names exactly the options of grainvm-agent --help" test "$help_opts" = "$man_opts"

# ---- lintian -------------------------------------------------------------------------------
lintian "$host_deb" "$agent_deb" 2>&1 | grep -v '^running with root' >"$T/lintian.log" || true
sed 's/^/# lintian: /' "$T/lintian.log"
check "lintian: no error" test -z "$(grep '^E:' "$T/lintian.log" || true)"

echo "# $failures failed"
[ "$failures" -eq 0 ]
