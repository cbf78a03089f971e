#!/usr/bin/env bash
# Another local user must not own grainvm's runtime directory.  Without
# XDG_RUNTIME_DIR (sudo -u, runuser, cron, CI runners) the runtime root is
# /tmp/grainvm-UID, a name anyone can create first; from there an attacker
# could swap the plan the supervisor runs.  Here an attacker uid pre-creates
# it as a directory of its own, a symlink to its own directory, a mode 777
# directory, and the victim's own mode 777 directory: grainvm, run as the
# victim uid, refuses each with exit 2 and a line naming the path, and
# writes nothing through it.  Two unused numeric uids play the users
# (setpriv needs no passwd entry), so the test adds no account to the host.
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" -eq 0 ] || { echo "not root: cannot act as two other users"; exit 77; }
victim=$((40000 + $$ % 10000 * 2))
attacker=$((victim + 1))
root_dir=/tmp/grainvm-$victim
[ ! -e "$root_dir" ] || fail "$root_dir exists before the test"
on_cleanup rm -rf "$root_dir" "/tmp/gvt-attacker-$attacker"

U=$T/u
mkdir -p "$U/bin" "$U/p" "$U/home"
chmod 755 "$T"
cp "$GRAINVM" "$U/bin/grainvm"
printf '[vm]\nname=victim\n' >"$U/p/grainvm.conf"
chown -R "$victim:$victim" "$U"

as() {
	local uid=$1
	shift
	setpriv --reuid="$uid" --regid="$uid" --clear-groups -- "$@"
}
# grainvm as the victim, with no XDG_RUNTIME_DIR and no GRAINVM_HOME.
victim_grainvm() {
	(cd "$U/p" && as "$victim" env -u XDG_RUNTIME_DIR -u GRAINVM_HOME -u GRAINVM_CACHE_DIR \
		HOME="$U/home" "$U/bin/grainvm" "$@")
}

# refused WHAT: up and down both exit 2 naming $root_dir, and nothing of
# the victim's appears in it.
refused() {
	local what=$1
	expect_code 2 victim_grainvm up --dry-run
	echo "$OUT" | grep -q "^grainvm: $root_dir" || fail "$what: up does not name $root_dir: $OUT"
	[ "$(echo "$OUT" | wc -l)" -eq 1 ] || fail "$what: not one line: $OUT"
	note "$what: $OUT"
	expect_code 2 victim_grainvm down victim
	echo "$OUT" | grep -q "$root_dir" || fail "$what: down does not name $root_dir: $OUT"
	if [ -n "$(find "$root_dir/" -mindepth 1 -user "$victim" 2>/dev/null)" ]; then
		fail "$what: the victim wrote into $root_dir"
	fi
}

# 1. A directory of the attacker's.
as "$attacker" mkdir -m 755 "$root_dir"
refused "attacker's directory"
echo "$OUT" | grep -q "belongs to uid $attacker" || fail "owner not named: $OUT"
rm -rf "$root_dir"

# 2. The same, mode 777, as in the attack that swapped plan.json.
as "$attacker" mkdir -m 777 "$root_dir"
refused "attacker's mode 777 directory"
rm -rf "$root_dir"

# 3. A symlink to a directory of the attacker's, which even passes the
#    owner and mode checks if followed.
as "$attacker" mkdir -m 700 "/tmp/gvt-attacker-$attacker"
chown "$victim:$victim" "/tmp/gvt-attacker-$attacker"
as "$attacker" ln -s "/tmp/gvt-attacker-$attacker" "$root_dir"
refused "symlink"
echo "$OUT" | grep -q "is a symlink" || fail "symlink not named: $OUT"
rm -f "$root_dir"
[ -z "$(ls -A "/tmp/gvt-attacker-$attacker")" ] || fail "something was written through the symlink"

# 4. The victim's own directory, but mode 777 (an old umask 0 mkdir).
as "$victim" mkdir -m 777 "$root_dir"
chmod 777 "$root_dir"
refused "victim's mode 777 directory"
echo "$OUT" | grep -q "has mode 0777, not 0700" || fail "mode not named: $OUT"
rm -rf "$root_dir"

# 5. Nothing there: grainvm makes its own, 0700 at each level it owns.
set +e
victim_grainvm up --dry-run >/dev/null 2>&1
set -e
[ -d "$root_dir/victim" ] || fail "up did not create $root_dir/victim"
for d in "$root_dir" "$root_dir/victim"; do
	[ "$(stat -c '%u %a' "$d")" = "$victim 700" ] || fail "$d is $(stat -c '%U %a' "$d")"
done
note "ok"
