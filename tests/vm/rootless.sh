#!/usr/bin/env bash
# grainvm as an ordinary user (nobody): up boots under TCG (no /dev/kvm
# access) with a switch network, whose switch runs as that user too; files
# the guest writes into the workspace belong to that user on the host; down
# leaves no process.  The binaries are copied out of the build tree, which
# another user may not be able to reach (a clone under /root).
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" -eq 0 ] || { echo "not root: cannot run grainvm as another user"; exit 77; }
user=nobody
id "$user" >/dev/null

U=$T/u                      # nobody's: binaries, GRAINVM_HOME, the project
mkdir -p "$U/bin" "$U/p"
chmod 755 "$T"
cp "$GRAINVM" "$U/bin/grainvm"
cp "$GRAINVM_AGENT" "$U/bin/grainvm-agent"
chown -R "$user" "$U"
vm=$PREFIX-rl
printf '[vm]\nname=%s\n[net]\nmode=switch\nnetwork=%s-net\n' "$vm" "$PREFIX" >"$U/p/grainvm.conf"
chown "$user" "$U/p/grainvm.conf"

# As $user, in the project; the test cache is root's, so theirs is their own.
as_user() {
	(cd "$U/p" && runuser -u "$user" -- env -u GRAINVM_CACHE_DIR HOME="$U" \
		GRAINVM_HOME="$U/h" GRAINVM_AGENT="$U/bin/grainvm-agent" "$U/bin/grainvm" "$@")
}

expect_code 0 as_user up
echo "$OUT"
echo "$OUT" | grep -q "is ready in" || fail "not ready"
echo "$OUT" | grep -q "^  net      switch network $PREFIX-net" || fail "no switch network: $OUT"

# Every process of the VM runs as $user: supervisor, QEMU, switch.
for pat in "__supervise $vm\$" "-name $vm " "__switch $PREFIX-net "; do
	pid=$(pgrep -f -- "$pat" | head -1)
	[ -n "$pid" ] || fail "no process matching '$pat'"
	owner=$(ps -o user= -p "$pid")
	[ "$owner" = "$user" ] || fail "'$pat' (pid $pid) runs as $owner, not $user"
done

# The guest (root in there) writes into the workspace: on the host the file
# is $user's, not root's.
expect_code 0 as_user exec "$vm" -- sh -c 'echo from-guest > /mnt/workspace/made-in-guest'
[ "$(cat "$U/p/made-in-guest")" = "from-guest" ] || fail "file not in the workspace"
owner=$(stat -c %U "$U/p/made-in-guest")
[ "$owner" = "$user" ] || fail "the guest's file belongs to $owner on the host"

expect_code 0 as_user down
for _ in $(seq 1 100); do pgrep -f -- "__switch $PREFIX-net " >/dev/null || break; sleep 0.1; done
if pgrep -f -- "__switch $PREFIX-net " >/dev/null; then fail "switch still runs after the last VM"; fi
GRAINVM_HOME=$U/h no_leftovers "$vm"
note "ok"
