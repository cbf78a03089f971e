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
. "$(dirname "$0")/busybox-stage.sh"
stage_begin "${2:-}"

cp "$(dirname "$0")/liar.sh" "$stage/bin/liar"
chmod 0755 "$stage/bin/liar"

{
stage_init_head liar-guest
cat <<'EOF'
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
} >"$stage/init"
stage_pack "$out"
echo "$out: $(wc -c <"$out") bytes, kernel $ver"
