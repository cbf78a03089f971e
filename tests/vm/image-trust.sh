#!/usr/bin/env bash
# Untrusted base images and the host's own files (docs/security.md, "Images"
# and "The host's own files"), played as the attacker would:
#  - a base whose header names an absolute secret, a device, an external
#    data file, a FIFO, a "../" escape, a symlink out of its directory, or
#    an A<->B loop: `up` refuses each with exit 2 and one line naming the
#    image and the reference, writes no state, starts nothing and leaves the
#    base as it was; `image info` and `image check` return at once (run
#    under timeout: a FIFO used to hang them) with a clear error or with
#    the reference shown;
#  - with [disk] trust-backing=true a legitimate absolute backing boots,
#    and the guest reads its bytes (the control that shows the refusals
#    are the policy, not a broken chain);
#  - the implicit default share from / and from $HOME is refused; an
#    explicit one passes.
. "$(dirname "$0")/lib.sh"

imgs=$T/imgs
mkdir -p "$imgs" "$T/outside"
echo "the host's secret $$" >"$T/secret"
truncate -s 1M "$T/secret"
qemu-img create -q -f qcow2 "$T/outside/real.qcow2" 64M

mk() { # NAME BACKING FMT: an overlay recording BACKING verbatim (-u: not opened)
	qemu-img create -q -f qcow2 -u -b "$2" -F "$3" "$imgs/$1" 64M
}
mk abs.qcow2 "$T/secret" raw
mk dev.qcow2 /dev/zero raw
ln -s /dev/zero "$imgs/zero"
mk chr.qcow2 zero raw
mkfifo "$imgs/fifo"
mk fifo.qcow2 fifo raw
mk up.qcow2 ../secret raw
ln -s "$T/outside/real.qcow2" "$imgs/link.qcow2"
mk link-out.qcow2 link.qcow2 qcow2
mk A.qcow2 B.qcow2 qcow2
mk B.qcow2 A.qcow2 qcow2
qemu-img create -q -f qcow2 -o data_file="$T/secret",data_file_raw=on "$imgs/data.qcow2" 1M
# qemu-img create sized the data file to the image: put the secret back.
echo "the host's secret $$" >"$T/secret"
truncate -s 1M "$T/secret"
secret_sum=$(sha256sum "$T/secret")
blk=
for d in /dev/loop0 /dev/vda /dev/sda; do
	if [ -b "$d" ]; then blk=$d; break; fi
done
[ -n "$blk" ] || fail "no block device on this host to name as a backing file"
ln -s "$blk" "$imgs/disk"
mk blk.qcow2 disk raw

p=$(new_project "$PREFIX-evil")
cd "$p"

# refused IMAGE NEEDLE: up refuses IMAGE as [disk] image; nothing written or started.
refused() {
	local img=$imgs/$1 want=$2 sum
	sum=$(sha256sum "$img")
	printf '[vm]\nname=%s\n[boot]\nkernel=host\n[disk]\nimage=%s\n' "$PREFIX-evil" "$img" >grainvm.conf
	expect_code 2 timeout 60 "$GRAINVM" up
	[ "$(echo "$OUT" | wc -l)" -eq 1 ] || fail "not one line: $OUT"
	echo "$OUT" | grep -qF -- "$want" || fail "message '$OUT' lacks '$want'"
	echo "$OUT" | grep -qF -- "$img" || fail "message '$OUT' does not name $img"
	[ ! -e "$GRAINVM_HOME/state" ] || fail "state written: $(find "$GRAINVM_HOME/state")"
	[ "$(sha256sum "$img")" = "$sum" ] || fail "$img was written"
	[ "$(sha256sum "$T/secret")" = "$secret_sum" ] || fail "the secret was written"
	if pgrep -f -- "-name $PREFIX-evil " >/dev/null; then fail "QEMU was started"; fi
	note "up refused $1: $OUT"
}
refused abs.qcow2 "backing file \"$T/secret\" is an absolute path"
refused abs.qcow2 "trust-backing=true"
refused dev.qcow2 "backing file \"/dev/zero\" is an absolute path"
refused chr.qcow2 "is a character device"
refused blk.qcow2 "is a block device"
refused fifo.qcow2 "is a FIFO"
refused up.qcow2 "backing file \"../secret\" climbs out"
refused link-out.qcow2 "outside the base's directory"
refused A.qcow2 "loops back"
refused data.qcow2 "external data file \"$T/secret\""

# info and check never block, and say what the header names.
info() { # EXPECTED-CODE ARGS...: grainvm image ARGS, within 20 s
	local want=$1
	shift
	expect_code "$want" timeout 20 "$GRAINVM" image "$@"
}
info 2 info --backing-chain "$imgs/fifo.qcow2"
echo "$OUT" | grep -q "is a FIFO" || fail "info --backing-chain on a FIFO backing: $OUT"
info 0 info "$imgs/fifo.qcow2"
echo "$OUT" | grep -q "^backing file: fifo " || fail "info does not show the FIFO backing: $OUT"
info 2 info --backing-chain --json "$imgs/A.qcow2"
echo "$OUT" | grep -q "loops back" || fail "info on a loop: $OUT"
info 0 info "$imgs/abs.qcow2"
echo "$OUT" | grep -qF "backing file: $T/secret" || fail "info hides the absolute backing: $OUT"
info 0 info "$imgs/data.qcow2"
echo "$OUT" | grep -qF "    data file: $T/secret" || fail "info hides the data file: $OUT"
info 0 info --json "$imgs/data.qcow2"
echo "$OUT" | grep -qF "\"data-file\" : \"$T/secret\"" || fail "info --json hides the data file: $OUT"
for img in fifo A abs dev up link-out; do
	# Only the image itself is checked: qemu-img gets "backing": null.
	info 0 check "$imgs/$img.qcow2"
	echo "$OUT" | grep -q "No errors were found" || fail "check $img: $OUT"
done
info 2 check "$imgs/fifo"
echo "$OUT" | grep -q "is a FIFO" || fail "check of a FIFO: $OUT"
qemu-img create -q -f qcow2 -o data_file="$imgs/df-fifo",data_file_raw=on "$imgs/df.qcow2" 1M
rm "$imgs/df-fifo"
mkfifo "$imgs/df-fifo"
info 2 check "$imgs/df.qcow2"
echo "$OUT" | grep -q "external data file .* is a FIFO" || fail "check with a FIFO data file: $OUT"
# A name with an escape sequence is shown escaped, never sent to the terminal.
mk "esc.qcow2" $'x\e[2Jy.qcow2' qcow2
info 0 info "$imgs/esc.qcow2"
echo "$OUT" | grep -qF 'backing file: x\x1b[2Jy.qcow2' || fail "backing name not escaped: $OUT"
if echo "$OUT" | grep -q $'\e'; then fail "an escape byte reached the output"; fi
note "info and check: prompt, and clear"

# The default share: / and $HOME refused unless shared on purpose.
cd /
expect_code 2 "$GRAINVM" up --dry-run --set vm.name="$PREFIX-root"
echo "$OUT" | grep -q "the default share is the project directory /, the whole host filesystem" ||
	fail "up in / was not refused: $OUT"
[ "$(echo "$OUT" | wc -l)" -eq 1 ] || fail "not one line: $OUT"
expect_code 0 "$GRAINVM" up --dry-run --set vm.name="$PREFIX-root" --set share.workspace.source=/
mkdir -p "$T/home"
cd "$T/home"
expect_code 2 env HOME="$T/home" "$GRAINVM" up --dry-run --set vm.name="$PREFIX-home"
echo "$OUT" | grep -qF "project directory $T/home, a home directory" || fail "up in \$HOME: $OUT"
echo "$OUT" | grep -qF -- "--set share.workspace.source=$T/home" || fail "no way out said: $OUT"
expect_code 0 env HOME="$T/home" "$GRAINVM" up --dry-run --set vm.name="$PREFIX-home" \
	--set share.workspace.source="$T/home"
note "default share: / and \$HOME refused, explicit allowed"

# The control: trust-backing=true lets a legitimate absolute backing through,
# and the guest reads the backing file's bytes as its disk.
mkdir -p "$T/shared"
printf 'legit base %s\n' "$$" >"$T/shared/legit.raw"
truncate -s 64M "$T/shared/legit.raw"
mk trusted.qcow2 "$T/shared/legit.raw" raw
p=$(new_project "$PREFIX-trust")
cd "$p"
printf '[vm]\nready-timeout=240\n[boot]\nkernel=host\n[disk]\nimage=%s\n' "$imgs/trusted.qcow2" >>grainvm.conf
expect_code 2 "$GRAINVM" up
echo "$OUT" | grep -q "is an absolute path" || fail "untrusted absolute backing: $OUT"
sum=$(sha256sum "$T/shared/legit.raw")
expect_code 0 "$GRAINVM" up --set disk.trust-backing=true
expect_code 0 "$GRAINVM" exec -- sh -c 'head -c 64 /dev/vda | head -n 1'
echo "$OUT" | grep -q "^legit base $$" || fail "the guest does not see the trusted backing: $OUT"
expect_code 0 "$GRAINVM" down
no_leftovers "$PREFIX-trust"
[ "$(sha256sum "$T/shared/legit.raw")" = "$sum" ] || fail "the trusted base was written"
note "ok"
