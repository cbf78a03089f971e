#!/usr/bin/env bash
# A VM's overlay remembers its base image's size and mtime (issue 17: bases
# on shared storage, overlays on the node): a base changed under a running
# VM makes `exec` and `build` refuse, and `up` of the overlay refuses too,
# until `grainvm rm` starts the VM from the new base.  The base is never
# written.
. "$(dirname "$0")/lib.sh"

p=$(new_project "$PREFIX-base")
cd "$p"
qemu-img create -q -f raw "$T/base.img" 64M
printf '[boot]\nkernel=host\n[disk]\nimage=%s\n' "$T/base.img" >>grainvm.conf
sum=$(sha256sum <"$T/base.img")

expect_code 0 "$GRAINVM" up
grep -q "^path=$T/base.img$" "$GRAINVM_HOME/state/$PREFIX-base/overlay.base" ||
	fail "no overlay.base recorded: $(cat "$GRAINVM_HOME/state/$PREFIX-base/overlay.base")"
expect_code 0 "$GRAINVM" exec -- true

# Someone updates the base in place on the shared storage.
touch -d '2001-01-01' "$T/base.img"
expect_code 125 "$GRAINVM" exec -- true
echo "$OUT"
echo "$OUT" | grep -q "^grainvm: vm $PREFIX-base: the base image $T/base.img changed since its overlay was made (same size, mtime changed).*grainvm rm $PREFIX-base" ||
	fail "exec: $OUT"
expect_code 3 "$GRAINVM" build -- true
echo "$OUT" | grep -q "the base image $T/base.img changed since its overlay was made" || fail "build: $OUT"
expect_code 0 "$GRAINVM" down

# Grown in place: the size differs too.
truncate -s 128M "$T/base.img"
sum=$(sha256sum <"$T/base.img")
expect_code 3 "$GRAINVM" up
echo "$OUT" | grep -q "(size [0-9]* -> [0-9]* bytes)" || fail "up: $OUT"
no_leftovers "$PREFIX-base"

# rm, and the VM starts from the new base.
expect_code 0 "$GRAINVM" rm "$PREFIX-base"
expect_code 0 "$GRAINVM" up
expect_code 0 "$GRAINVM" exec -- true
# A base moved away under the running VM (QEMU keeps the file it has open):
# refused, naming it, until it is back.
mv "$T/base.img" "$T/base.moved"
expect_code 125 "$GRAINVM" exec -- true
echo "$OUT" | grep -q "vm $PREFIX-base: cannot stat the base image $T/base.img" || fail "exec without base: $OUT"
mv "$T/base.moved" "$T/base.img"
expect_code 0 "$GRAINVM" exec -- true
expect_code 0 "$GRAINVM" down
no_leftovers "$PREFIX-base"
[ "$(sha256sum <"$T/base.img")" = "$sum" ] || fail "the base image was written"
note "ok"
