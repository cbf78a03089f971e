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
. "$(dirname "$0")/busybox-stage.sh"
qga=$(command -v qemu-ga || echo /usr/sbin/qemu-ga)
[ -x "$qga" ] || { echo "qemu-ga is not installed (apt-get install qemu-guest-agent)" >&2; exit 1; }
stage_begin "${2:-}"

# qemu-ga and its libraries, at the paths the dynamic loader looks in.
cp "$qga" "$stage/usr/sbin/qemu-ga"
ldd "$qga" | awk '/=>/ { print $3 } /^[ \t]*\// { print $1 }' | while read -r lib; do
	[ -f "$lib" ] || continue
	mkdir -p "$stage$(dirname "$lib")"
	cp -L "$lib" "$stage$lib"
done

cat >"$stage/sbin/shutdown" <<'EOF'
#!/bin/sh
# qemu-ga's guest-shutdown runs "shutdown -P|-H|-r +0 MESSAGE".
case "$1" in -r) exec reboot -f ;; -H) exec halt -f ;; *) exec poweroff -f ;; esac
EOF
chmod 0755 "$stage/sbin/shutdown"

{
stage_init_head qga-guest
cat <<'EOF'
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
} >"$stage/init"
stage_pack "$out"
echo "$out: $(wc -c <"$out") bytes, kernel $ver, qemu-ga $("$qga" --version 2>/dev/null | head -n 1)"
