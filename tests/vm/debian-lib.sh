# shellcheck shell=bash
# debian-lib.sh - the stock Debian 12 guest for VM tests (after lib.sh):
# a private copy of the cached tree from debian-guest.sh, grainvm-agent put
# in as a user would, and the disk made with `grainvm image build`.

# debian_rootfs: print a private, writable copy of the cached Debian tree.
# A hard-link copy beside the cache (the same file system), removed when the
# test ends: files in it are replaced, never written into.
debian_rootfs() {
	local cached work
	cached=$("$(dirname "${BASH_SOURCE[0]}")/debian-guest.sh") || fail "no Debian guest tree"
	work=$(mktemp -d "$(dirname "$(dirname "$cached")")/work.XXXXXX")
	DEBIAN_WORK+=("$work")
	cp -al "$cached" "$work/root"
	echo "$work/root"
}
DEBIAN_WORK=()
debian_cleanup() {
	local w
	for w in "${DEBIAN_WORK[@]}"; do rm -rf "$w"; done
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
