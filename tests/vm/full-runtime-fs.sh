#!/usr/bin/env bash
# The runtime file system full (a small tmpfs as GRAINVM_HOME/run, in a
# private mount namespace, filled to the last block after up): down still
# powers the guest off, and the state it leaves is the true one (stopped),
# not "ready" read back later as a crash.
if [ "${GV_IN_MOUNT_NS:-}" != 1 ]; then
	if ! unshare -m true 2>/dev/null; then
		echo "SKIP: no private mount namespace here (needs root or CAP_SYS_ADMIN)"
		exit 77
	fi
	exec unshare -m --propagation private env GV_IN_MOUNT_NS=1 bash "$0" "$@"
fi
. "$(dirname "$0")/lib.sh"

mkdir -p "$GRAINVM_HOME/run"
# 4 MiB: the sockets, pid files, state.json and the boot's console.log fit.
mount -t tmpfs -o size=4m,mode=0700 tmpfs "$GRAINVM_HOME/run"
on_cleanup umount -l "$GRAINVM_HOME/run"

vm=$PREFIX-full
p=$(new_project "$vm")
cd "$p"
expect_code 0 "$GRAINVM" up -q
state=$GRAINVM_HOME/run/$vm/state.json
grep -q '"phase" : "ready"' "$state" || fail "not ready: $(cat "$state")"
# Fill every block: the atomic write's temporary file now gets none.
dd if=/dev/zero of="$GRAINVM_HOME/run/fill" bs=4k 2>/dev/null || true
if echo x >"$GRAINVM_HOME/run/probe" 2>/dev/null; then fail "the runtime file system is not full"; fi
df -k "$GRAINVM_HOME/run" | tail -n 1

expect_code 0 "$GRAINVM" down --timeout 5
echo "$OUT"
echo "$OUT" | grep -q "stopped: guest powered off" || fail "down: $OUT"
echo "$OUT" | grep -q "could not be recorded" && fail "down: $OUT"
grep -q '"phase" : "stopped"' "$state" || fail "state.json after down: $(cat "$state")"
expect_code 0 "$GRAINVM" status "$vm"
echo "$OUT" | grep -q "^state    stopped: guest powered off" || fail "status after down: $OUT"
no_leftovers "$vm"
rm -f "$GRAINVM_HOME/run/fill"
note "ok"
