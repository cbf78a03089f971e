#!/usr/bin/env bash
# firmware=uefi: OVMF's code stays read-only, the VM gets its own copy of the
# UEFI variables, kept across down and up; the guest boots to ready.
. "$(dirname "$0")/lib.sh"

p=$(new_project "$PREFIX-efi")
printf '[vm]\nfirmware=uefi\n' >>"$p/grainvm.conf"
cd "$p"
code=$(ls /usr/share/OVMF/OVMF_CODE_4M.fd)
code_sum=$(sha256sum "$code")

expect_code 0 "$GRAINVM" up
echo "$OUT"
echo "$OUT" | grep -q "boot     direct kernel, .* through OVMF" || fail "not booted through OVMF"
vars=$GRAINVM_HOME/state/$PREFIX-efi/efi-vars.fd
[ -f "$vars" ] || fail "no per-VM variables at $vars"
[ "$(stat -c %a "$vars")" = 600 ] || fail "variables not private"
inode=$(stat -c %i "$vars")
expect_code 0 "$GRAINVM" down
no_leftovers "$PREFIX-efi"

expect_code 0 "$GRAINVM" up -q
[ "$(stat -c %i "$vars")" = "$inode" ] || fail "variables were recreated, not kept"
expect_code 0 "$GRAINVM" down
[ "$(sha256sum "$code")" = "$code_sum" ] || fail "OVMF code changed"

# rm forgets the VM's persistent state.
expect_code 0 "$GRAINVM" rm "$PREFIX-efi"
[ ! -e "$vars" ] || fail "rm left the variables"
note "ok"
