#!/usr/bin/env bash
# Snapshots of one VM never interleave: the supervisor runs one at a time
# and refuses another meanwhile (exit 3, "busy with snapshot ..."), so the
# disk chain is always one a crash or the next up can trust.
#
#   - four `grainvm snapshot disk` at once: each either took its snapshot
#     (exit 0) or was refused as busy (exit 3) and created nothing; the
#     chain has exactly the ones taken, stacked in one line, and qemu-img
#     check passes on every file of it; the guest's writes survive up
#   - a disk snapshot while a `snapshot save` runs: refused as busy, and
#     the save completes as if alone
. "$(dirname "$0")/lib.sh"

vm=$PREFIX-dsc
p=$(new_project "$vm")
cd "$p"
printf '[disk]\nsize=64M\n' >>grainvm.conf
state=$GRAINVM_HOME/state/$vm

guest_sector() { "$GRAINVM" exec "$vm" -- sh -c "dd if=/dev/vda bs=512 skip=$1 count=1 2>/dev/null | tr -d '\\000'"; }
guest_mark() { "$GRAINVM" exec "$vm" -- sh -c "echo $2 | dd of=/dev/vda bs=512 seek=$1 conv=fsync 2>/dev/null"; }

expect_code 0 "$GRAINVM" up -q
guest_mark 0 before

# Four at once.
for t in c1 c2 c3 c4; do
	( set +e; "$GRAINVM" snapshot disk "$vm" "$t" >"$T/$t.out" 2>&1; echo $? >"$T/$t.rc" ) &
done
wait
taken=0 refused=0
for t in c1 c2 c3 c4; do
	rc=$(cat "$T/$t.rc")
	out=$(cat "$T/$t.out")
	echo "# $t: exit $rc: $out"
	case $rc in
	0)
		echo "$out" | grep -q "disk snapshot $t taken" || fail "$t: $out"
		taken=$((taken + 1)) ;;
	3)
		echo "$out" | grep -q "^grainvm: vm $vm is busy with snapshot disk c[1-4] (started [0-9]* s ago): nothing done" ||
			fail "$t refused without saying why: $out"
		refused=$((refused + 1)) ;;
	*)
		fail "$t: exit $rc: $out" ;;
	esac
done
[ "$taken" -ge 1 ] || fail "no snapshot was taken"
note "$taken taken, $refused refused as busy"

# The chain: one layer per snapshot taken, each file's backing the one before.
layers=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(" ".join(l["tag"] for l in d["layers"])); print(d["top"])' "$state/disk-layers.json")
tags=$(echo "$layers" | head -1)
top=$(echo "$layers" | tail -1)
[ "$(echo "$tags" | wc -w)" -eq "$taken" ] || fail "chain has [$tags], $taken were taken"
for t in c1 c2 c3 c4; do
	if [ "$(cat "$T/$t.rc")" = 0 ]; then
		echo " $tags " | grep -q " $t " || fail "$t was taken but is not in the chain [$tags]"
	else
		echo " $tags " | grep -q " $t " && fail "$t was refused but is in the chain [$tags]"
	fi
done
[ "$(ls "$state"/overlay*.qcow2 | wc -l)" -eq $((taken + 1)) ] ||
	fail "files left by refused snapshots: $(ls "$state")"
qemu-img info -U --backing-chain "$top" | grep -c "^image:" | grep -qx $((taken + 1)) ||
	fail "the chain from $top is not $((taken + 1)) files long"
for f in "$state"/overlay*.qcow2; do
	qemu-img check -U -q "$f" || fail "qemu-img check $f"
done
expect_code 0 "$GRAINVM" status
echo "$OUT" | grep -q "^disk     $top (on disk snapshots " || fail "status: $OUT"

# A disk snapshot while a save runs: refused as busy; the save is unharmed.
guest_mark 8 during-save
( set +e; "$GRAINVM" snapshot save "$vm" s1 >"$T/save.out" 2>&1; echo $? >"$T/save.rc" ) &
save_pid=$!
# The save runs while its staging directory exists (the guest is stopped,
# the state and disk go into it).
staging() { compgen -G "$state/snapshots/.stage-*" >/dev/null; }
for _ in $(seq 1 600); do
	staging && break
	[ -e "$T/save.rc" ] && fail "the save ended before the test saw it run: $(cat "$T/save.out")"
	sleep 0.01
done
staging || fail "the save never started"
expect_code 3 "$GRAINVM" snapshot disk "$vm" during
echo "$OUT" | grep -q "vm $vm is busy with snapshot save s1" || fail "$OUT"
wait "$save_pid"
[ "$(cat "$T/save.rc")" = 0 ] || fail "the save failed: $(cat "$T/save.out")"
grep -q "saved as snapshot s1" "$T/save.out" || fail "$(cat "$T/save.out")"
[ ! -e "$state/overlay.$((taken + 1)).qcow2" ] || fail "the refused snapshot left a file"
echo " $(python3 -c 'import json,sys; print(" ".join(l["tag"] for l in json.load(open(sys.argv[1]))["layers"]))' "$state/disk-layers.json") " |
	grep -q " during " && fail "the refused snapshot is in the chain"

# After all that, the guest's disk has every write, through down and up.
expect_code 0 "$GRAINVM" down -q
expect_code 0 "$GRAINVM" up -q
[ "$(guest_sector 0)" = before ] || fail "sector 0 after up"
[ "$(guest_sector 8)" = during-save ] || fail "sector 8 after up"
expect_code 0 "$GRAINVM" down -q
no_leftovers "$vm"
note "ok"
