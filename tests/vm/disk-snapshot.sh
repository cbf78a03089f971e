#!/usr/bin/env bash
# Live external disk snapshot: `grainvm snapshot NAME TAG` freezes the
# file the running VM writes to and the VM goes on writing to a new
# overlay on it.  The frozen layer keeps the disk as it was (checked with
# qemu-img, outside the guest), the next up boots the newest data, a
# second snapshot stacks on the first, and a frozen layer serves as
# another VM's [disk] image without being written.
. "$(dirname "$0")/lib.sh"

vm=$PREFIX-ds
p=$(new_project "$vm")
cd "$p"
printf '[disk]\nsize=64M\n' >>grainvm.conf
state=$GRAINVM_HOME/state/$vm

# sector N of the guest's disk, as the guest sees it
guest_sector() { "$GRAINVM" exec "$vm" -- sh -c "dd if=/dev/vda bs=512 skip=$1 count=1 2>/dev/null | tr -d '\\000'"; }
guest_mark() { "$GRAINVM" exec "$vm" -- sh -c "echo $2 | dd of=/dev/vda bs=512 seek=$1 conv=fsync 2>/dev/null"; }
# sector N of an image file, read by qemu-img while QEMU may hold it (-U)
image_sector() {
	qemu-img dd -U -O raw if="$1" of="$T/sector" bs=512 skip="$2" count=1 >/dev/null
	tail -c 512 "$T/sector" | tr -d '\000'
}

# Refused: not running, then no disk (nothing created either way).
expect_code 3 "$GRAINVM" snapshot "$vm" t1
echo "$OUT" | grep -q "vm $vm is not running" || fail "$OUT"

expect_code 0 "$GRAINVM" up -q
guest_mark 0 before-snapshot

# QEMU refuses the switch (a node already holds the name grainvm gives the
# new layer, made here over QMP): exit 1, and the chain, the new file and
# the VM's disk are as they were.
block_name() { "$GRAINVM" qmp "$vm" "$1" "{\"driver\":\"null-co\",\"node-name\":\"$2\"}"; }
refused_switch() { # NODE FILE: a snapshot QEMU refuses leaves no FILE and the chain as it was
	local chain_before
	chain_before=$(cat "$state/disk-layers.json" 2>/dev/null || true)
	block_name blockdev-add "$1" >/dev/null
	expect_code 1 "$GRAINVM" snapshot disk "$vm" refused
	echo "$OUT" | grep -q "qmp blockdev-add" || fail "refused switch: $OUT"
	[ ! -e "$2" ] || fail "a refused snapshot left $2"
	[ "$(cat "$state/disk-layers.json" 2>/dev/null || true)" = "$chain_before" ] ||
		fail "a refused snapshot changed the chain"
	"$GRAINVM" qmp "$vm" blockdev-del "{\"node-name\":\"$1\"}" >/dev/null
}
refused_switch disk0-1 "$state/overlay.1.qcow2"
expect_code 0 "$GRAINVM" status
echo "$OUT" | grep -qx "disk     $state/overlay.qcow2" || fail "status after a refused switch: $OUT"
expect_code 0 "$GRAINVM" status
echo "$OUT" | grep -qx "disk     $state/overlay.qcow2" || fail "status before: $OUT"
expect_code 0 "$GRAINVM" snapshot "$vm" t1
echo "$OUT"
echo "$OUT" | grep -q "frozen   $state/overlay.qcow2 " || fail "frozen layer: $OUT"
echo "$OUT" | grep -q "writes   $state/overlay.1.qcow2" || fail "new top: $OUT"
expect_code 0 "$GRAINVM" status
echo "$OUT" | grep -qx "disk     $state/overlay.1.qcow2 (on disk snapshots t1)" || fail "status: $OUT"
guest_mark 8 after-snapshot
[ "$(guest_sector 8)" = after-snapshot ] || fail "the guest lost its write after the snapshot"

# The frozen file holds the disk of the snapshot's instant, and nothing later.
[ "$(image_sector "$state/overlay.qcow2" 0)" = before-snapshot ] || fail "frozen layer lost data"
[ -z "$(image_sector "$state/overlay.qcow2" 8)" ] || fail "the frozen layer was written after the snapshot"
qemu-img check -U -q "$state/overlay.1.qcow2" || fail "qemu-img check of the new top"
qemu-img info -U "$state/overlay.1.qcow2" | grep -q "^backing file: $state/overlay.qcow2" ||
	fail "the new top is not on the frozen layer"

expect_code 2 "$GRAINVM" snapshot disk "$vm" t1
echo "$OUT" | grep -q "already has a disk snapshot t1" || fail "$OUT"
expect_code 2 "$GRAINVM" snapshot disk "$vm" "bad/tag"

# down and up: the VM boots from the top, with every write.
expect_code 0 "$GRAINVM" down -q
expect_code 0 "$GRAINVM" up -q
[ "$(guest_sector 0)" = before-snapshot ] || fail "after up: sector 0"
[ "$(guest_sector 8)" = after-snapshot ] || fail "after up: the write after the snapshot is gone"

# A second snapshot stacks on the first (after one QEMU refused, which
# leaves the one-layer chain as it was); the default tag is the time.
refused_switch disk0-2 "$state/overlay.2.qcow2"
expect_code 0 "$GRAINVM" snapshot disk "$vm"
echo "$OUT" | grep -q "disk snapshot disk-[0-9]\{8\}-[0-9]\{6\} taken" || fail "$OUT"
echo "$OUT" | grep -q "frozen   $state/overlay.1.qcow2 " || fail "$OUT"
guest_mark 16 third
qemu-img info -U --backing-chain "$state/overlay.2.qcow2" | grep -c "^image:" | grep -qx 3 ||
	fail "chain is not overlay.2 -> overlay.1 -> overlay"
expect_code 0 "$GRAINVM" down -q

# A frozen layer as another VM's base: it boots on it, and it is not written.
sum=$(sha256sum "$state/overlay.1.qcow2" | cut -d' ' -f1)
other=$PREFIX-ds2
q=$(new_project "$other")
# (kernel=host: a disk image alone means "boot the disk", and this one has no loader)
printf '[boot]\nkernel=host\n[disk]\nimage=%s\n' "$state/overlay.1.qcow2" >>"$q/grainvm.conf"
# Its chain names the layers under it by absolute paths: refused until trusted.
(cd "$q" && expect_code 2 "$GRAINVM" up -q && echo "$OUT" | grep -q "is an absolute path") ||
	fail "an untrusted frozen layer was taken as a base"
printf 'trust-backing=true\n' >>"$q/grainvm.conf"
(cd "$q" && expect_code 0 "$GRAINVM" up -q) || fail "up on a frozen layer"
[ "$("$GRAINVM" exec "$other" -- sh -c "dd if=/dev/vda bs=512 skip=8 count=1 2>/dev/null | tr -d '\\000'")" = after-snapshot ] ||
	fail "the VM on the frozen layer does not see its data"
"$GRAINVM" exec "$other" -- sh -c "echo scribble | dd of=/dev/vda bs=512 seek=8 conv=fsync 2>/dev/null"
(cd "$q" && expect_code 0 "$GRAINVM" down -q) || fail "down $other"
[ "$(sha256sum "$state/overlay.1.qcow2" | cut -d' ' -f1)" = "$sum" ] || fail "the frozen layer was written"

no_leftovers "$vm"
no_leftovers "$other"
note "ok"
