#!/usr/bin/env bash
# Two VMs at once, each with its own share; both ready, both listed, each down leaves nothing.
. "$(dirname "$0")/lib.sh"

a=$(new_project "$PREFIX-a")
b=$(new_project "$PREFIX-b")
echo "only in a" >"$a/which.txt"
echo "only in b" >"$b/which.txt"

(cd "$a" && "$GRAINVM" up -q) &
pa=$!
(cd "$b" && "$GRAINVM" up -q) &
pb=$!
wait $pa || fail "up of a failed"
wait $pb || fail "up of b failed"

[ "$(guest_read "$PREFIX-a" /mnt/workspace/which.txt)" = "only in a" ] || fail "a sees the wrong share"
[ "$(guest_read "$PREFIX-b" /mnt/workspace/which.txt)" = "only in b" ] || fail "b sees the wrong share"

expect_code 0 "$GRAINVM" list
echo "$OUT"
echo "$OUT" | grep -Eq "^$PREFIX-a +ready" || fail "a not listed ready"
echo "$OUT" | grep -Eq "^$PREFIX-b +ready" || fail "b not listed ready"

expect_code 0 "$GRAINVM" down "$PREFIX-a"
no_leftovers "$PREFIX-a"
expect_code 0 "$GRAINVM" status "$PREFIX-b"
echo "$OUT" | grep -q "^state    ready" || fail "b affected by a's down"
expect_code 0 "$GRAINVM" down --force "$PREFIX-b"
echo "$OUT" | grep -q "QEMU quit over QMP" || fail "--force should quit over QMP: $OUT"
no_leftovers "$PREFIX-b"
note "ok"
