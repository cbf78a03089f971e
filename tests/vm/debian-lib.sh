# shellcheck shell=bash
# debian-lib.sh - the stock Debian 12 guest for VM tests (after lib.sh):
# a private copy of the cached tree from debian-guest.sh, grainvm-agent put
# in as a user would, and the disk made with `grainvm image build`.

# debian_rootfs [VARIANT]: print a private, writable copy of the cached
# Debian tree (VARIANT cloud-init: the cloud image stand-in, see
# debian-guest.sh).  A hard-link copy beside the cache (the same file
# system), removed when the test ends: files in it are replaced, never
# written into.
debian_rootfs() {
	local cached work
	cached=$("$(dirname "${BASH_SOURCE[0]}")/debian-guest.sh" "$@") || fail "no Debian guest tree"
	work=$(mktemp -d "$(dirname "$(dirname "$cached")")/work.XXXXXX")
	# Callers run this in $(...), a subshell: the list is a file, which
	# the test's own cleanup reads.
	echo "$work" >>"$T/debian-work"
	cp -al "$cached" "$work/root"
	echo "$work/root"
}
debian_cleanup() {
	local w
	[ -f "$T/debian-work" ] || return 0
	while read -r w; do rm -rf "$w"; done <"$T/debian-work"
}
on_cleanup debian_cleanup

# debian_replace ROOT PATH: make PATH in ROOT a file of its own (it is a
# hard link into the cache), so it can be written.
debian_replace() {
	local f=$1$2
	if [ -e "$f" ]; then
		cp -p "$f" "$f.gv-new" && mv -f "$f.gv-new" "$f"
	fi
}

# debian_install_agent ROOT: grainvm-agent as a systemd service started by
# udev when its port appears, with no fstab line and no --mount: the
# supervisor mounts the shares through grain-mount.  (The static binary,
# the unit and the rule, which is what the grainvm-agent package holds.)
debian_install_agent() {
	local r=$1
	: "${GV_AGENT_BIN:?GV_AGENT_BIN must name the built grainvm-agent (meson sets it)}"
	install -m 0755 "$GV_AGENT_BIN" "$r/usr/sbin/grainvm-agent"
	mkdir -p "$r/etc/systemd/system" "$r/etc/udev/rules.d"
	cat >"$r/etc/systemd/system/grainvm-agent.service" <<'UNIT'
[Unit]
Description=grainvm guest agent
BindsTo=dev-virtio\x2dports-org.grainvm.agent.0.device
After=dev-virtio\x2dports-org.grainvm.agent.0.device

[Service]
ExecStart=/usr/sbin/grainvm-agent --port /dev/virtio-ports/org.grainvm.agent.0
Environment=HOME=/root
Restart=always
RestartSec=1
RuntimeDirectory=grainvm
RuntimeDirectoryPreserve=restart
UNIT
	cat >"$r/etc/udev/rules.d/60-grainvm-agent.rules" <<'RULE'
SUBSYSTEM=="virtio-ports", ATTR{name}=="org.grainvm.agent.0", TAG+="systemd", ENV{SYSTEMD_WANTS}="grainvm-agent.service"
RULE
}

# debian_install_agent_deb ROOT: the grainvm-agent package installed as a
# user installs it into a debootstrapped tree: the guest's own `dpkg -i` in
# a chroot, which runs the maintainer scripts there, and nothing else.  The
# packages are packaging/debian/build-debs.sh's in $GV_DEBS_DIR (meson: the
# deb suite's BUILD/debs), built once under its lock and again only when a
# source file changed.  dpkg rewrites its database and appends to its log:
# those get files of their own first, and any file still linked into the
# cached tree that the install changed fails the test.
debian_install_agent_deb() {
	local r=$1 debs deb d
	: "${GV_DEBS_DIR:?GV_DEBS_DIR must name the directory of the Debian packages (meson sets it)}"
	note "packaging/debian/build-debs.sh $GV_DEBS_DIR (minutes when the sources changed)"
	debs=$("$(dirname "${BASH_SOURCE[0]}")/../../packaging/debian/build-debs.sh" "$GV_DEBS_DIR") ||
		fail "build-debs.sh could not build the Debian packages"
	deb=$(sed -n 2p <<<"$debs")
	case $deb in */grainvm-agent_*.deb) ;; *) fail "build-debs.sh named no agent package: $debs" ;; esac
	for d in var/lib/dpkg var/log; do
		cp -a "$r/$d" "$r/$d.gv-new" && rm -rf "${r:?}/$d" && mv "$r/$d.gv-new" "$r/$d" ||
			fail "a private copy of $d in the Debian tree"
	done
	cp "$deb" "$r/tmp/" || fail "copying $deb into the Debian tree"
	: >"$T/deb-stamp"
	chroot "$r" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C \
		dpkg -i "/tmp/${deb##*/}" >"$T/dpkg.log" 2>&1 ||
		fail "dpkg -i ${deb##*/} in the Debian tree: $(cat "$T/dpkg.log")"
	rm -f "$r/tmp/${deb##*/}"
	cat "$T/dpkg.log"
	d=$(find "$r" -xdev -type f -links +1 -newer "$T/deb-stamp" -print -quit)
	[ -z "$d" ] || fail "dpkg -i wrote into $d, a file shared with the cached Debian tree"
	# What the package must have put there for the guest to need nothing
	# else: the agent, the unit and the udev rule that starts it.
	[ "$(chroot "$r" dpkg-query -W -f='${Status}' grainvm-agent)" = "install ok installed" ] ||
		fail "dpkg does not list grainvm-agent as installed in the Debian tree"
	[ -x "$r/usr/sbin/grainvm-agent" ] || fail "the package put no /usr/sbin/grainvm-agent"
	grep -qx 'ExecStart=/usr/sbin/grainvm-agent --port /dev/virtio-ports/org.grainvm.agent.0 .*' \
		"$r/usr/lib/systemd/system/grainvm-agent.service" ||
		fail "the package put no grainvm-agent.service that starts /usr/sbin/grainvm-agent"
	grep -q 'ATTR{name}=="org.grainvm.agent.0".*ENV{SYSTEMD_WANTS}="grainvm-agent.service"' \
		"$r/usr/lib/udev/rules.d/60-grainvm-agent.rules" ||
		fail "the package put no udev rule that starts grainvm-agent.service"
}

# debian_image ROOT OUT: the bootable disk, default settings (the kernel
# command line is image build's own: root by PARTUUID, console=ttyS0).
debian_image() {
	local r=$1 out=$2 k i
	k=$(ls "$r"/boot/vmlinuz-* | sort -V | tail -1)
	i=$r/boot/initrd.img-${k##*/vmlinuz-}
	"$GRAINVM" image build --rootfs "$r" --kernel "$k" --initrd "$i" -o "$out" >/dev/null ||
		fail "grainvm image build of the Debian tree"
}

# ready_seconds: the "ready in X s" of up's report in $OUT.
ready_seconds() {
	echo "$OUT" | sed -n 's/.* is ready in \([0-9.]*\) s.*/\1/p'
}
