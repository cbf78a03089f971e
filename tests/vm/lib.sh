# shellcheck shell=bash
# lib.sh - shared set-up for the VM tests: a private GRAINVM_HOME, a project
# directory per VM, cleanup that leaves no QEMU behind even when a test fails.
set -euo pipefail

: "${GRAINVM:?GRAINVM must name the grainvm binary (meson sets it)}"
T=$(mktemp -d /tmp/gvt.XXXXXX)
export GRAINVM_HOME=$T/h
mkdir -p "$GRAINVM_HOME"
PREFIX=t$$

# QEMU_USER: whom QEMU runs as, by grainvm's rule (docs/security.md, "QEMU's
# privileges"); empty when that is the test's own user.  As root that is
# an unprivileged user, and the tests' projects (their shares) sit in $T,
# which is root's and 0700: that user gets rwX on $T and on all that is
# made in it (a default ACL), as an administrator would give it on a
# shared workspace.  The default ACL's group and other entries are r-x, so
# that what the tests make is readable by others as under umask 022 (a
# default ACL replaces the umask).  GRAINVM_HOME was made first and
# inherits nothing: grainvm's own directories must stay the caller's alone.
QEMU_USER=
if [ "$(id -u)" -eq 0 ]; then
	if [ -n "${GRAINVM_QEMU_USER:-}" ]; then
		[ "$GRAINVM_QEMU_USER" = root ] || QEMU_USER=$GRAINVM_QEMU_USER
	elif [ "${SUDO_UID:-0}" != 0 ] && getent passwd "$SUDO_UID" >/dev/null; then
		QEMU_USER=$(getent passwd "$SUDO_UID" | cut -d: -f1)
	elif getent passwd grainvm >/dev/null; then
		QEMU_USER=grainvm
	fi
fi
if [ -n "$QEMU_USER" ]; then
	setfacl -m "u:$QEMU_USER:rwX" -m "d:u:$QEMU_USER:rwX" -m d:g::rX -m d:o::rX "$T"
fi

# by_path CMD...: run CMD (grainvm up --dry-run, to read a file out of QEMU's
# command line) with QEMU as grainvm's own user: as root QEMU otherwise
# gets its files as descriptors (-kernel /proc/self/fd/64), not paths.
by_path() {
	if [ "$(id -u)" -eq 0 ]; then GRAINVM_QEMU_USER=root "$@"; else "$@"; fi
}

# on_cleanup CMD...: run CMD (a function name and arguments) when the test
# ends, after its VMs are down: namespaces, helper servers.  Its failure
# does not change the test's status.
CLEANUP_HOOKS=()
on_cleanup() { CLEANUP_HOOKS+=("$*"); }

# kill_leftovers: a process grainvm started for this test and that still
# runs is a leak: kill it by the PID its pid file holds, once /proc shows
# that this PID is still ours (our temp dir in its command line or its
# GRAINVM_HOME), never by name.
kill_leftovers() {
	local f pid
	for f in "$GRAINVM_HOME"/run/*/*.pid "$GRAINVM_HOME"/run/.networks/*/*.pid; do
		[ -f "$f" ] || continue
		pid=$(cat "$f" 2>/dev/null) || continue
		case $pid in '' | *[!0-9]*) continue ;; esac
		if tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$T" ||
			tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qxF "GRAINVM_HOME=$GRAINVM_HOME"; then
			kill -9 "$pid" 2>/dev/null || true
		fi
	done
}

cleanup() {
	local rc=$?
	set +e
	if [ -d "$GRAINVM_HOME/run" ]; then
		for d in "$GRAINVM_HOME"/run/*/; do
			[ -d "$d" ] || continue
			"$GRAINVM" down --force -q "$(basename "$d")" >/dev/null 2>&1 || true
		done
	fi
	for hook in "${CLEANUP_HOOKS[@]}"; do
		$hook
	done
	kill_leftovers
	if [ $rc -ne 0 ] && [ -d "$GRAINVM_HOME/run" ]; then
		for f in "$GRAINVM_HOME"/run/*/console.log "$GRAINVM_HOME"/run/*/qemu.log "$GRAINVM_HOME"/run/*/supervisor.log; do
			[ -f "$f" ] || continue
			echo "---- $f (last 30 lines)" >&2
			tail -n 30 "$f" >&2
		done
	fi
	rm -rf "$T"
	exit $rc
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

note() {
	echo "# $*"
}

# expect_code N CMD...: run CMD, capture stdout+stderr in $OUT, demand exit N.
expect_code() {
	local want=$1
	shift
	set +e
	OUT=$("$@" 2>&1)
	local got=$?
	set -e
	if [ "$got" -ne "$want" ]; then
		echo "$OUT" >&2
		fail "expected exit $want, got $got from: $*"
	fi
}

# new_project NAME: a project directory with a grainvm.conf naming the VM.
new_project() {
	local dir=$T/$1
	mkdir -p "$dir"
	printf '[vm]\nname=%s\n' "$1" >"$dir/grainvm.conf"
	echo "$dir"
}

# guest_read VM PATH: a file's contents read by the agent in the guest.
guest_read() {
	local vm=$1 path=$2 h out
	h=$("$GRAINVM" agent "$vm" guest-file-open "{\"path\":\"$path\"}")
	out=$("$GRAINVM" agent "$vm" guest-file-read "{\"handle\":$h,\"count\":65536}")
	"$GRAINVM" agent "$vm" guest-file-close "{\"handle\":$h}" >/dev/null
	echo "$out" | sed -n 's/.*"buf-b64" *: *"\([^"]*\)".*/\1/p' | base64 -d
}

# guest_write VM PATH TEXT: write a file from inside the guest.
guest_write() {
	local vm=$1 path=$2 text=$3 h b64
	h=$("$GRAINVM" agent "$vm" guest-file-open "{\"path\":\"$path\",\"mode\":\"w\"}")
	b64=$(printf '%s' "$text" | base64 -w0)
	"$GRAINVM" agent "$vm" guest-file-write "{\"handle\":$h,\"buf-b64\":\"$b64\"}" >/dev/null
	"$GRAINVM" agent "$vm" guest-file-close "{\"handle\":$h}" >/dev/null
}

# no_leftovers VM: no process and no runtime socket of VM.
no_leftovers() {
	local vm=$1
	if pgrep -f "__supervise $vm\$" >/dev/null; then fail "supervisor of $vm still runs"; fi
	if pgrep -f -- "-name $vm " >/dev/null; then fail "QEMU of $vm still runs"; fi
	if compgen -G "$GRAINVM_HOME/run/$vm/*.sock" >/dev/null; then
		fail "sockets left: $(ls "$GRAINVM_HOME/run/$vm")"
	fi
}
