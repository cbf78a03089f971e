#!/usr/bin/env bash
# Clones: one cold boot of a template guest ([vm] template=true), saved with
# snapshot save --template, then VMs started from it that share its RAM.
#
#   - bad input (a malformed VM:TAG, an unknown VM or tag, an ordinary
#     snapshot) is refused in one line with its documented exit code and
#     leaves no process, socket or state behind
#   - the template save stops the VM and leaves its RAM in tmpfs
#   - two clones, started from two project directories: each is ready,
#     has its own name, hostname and MAC (in the guest as in status), its
#     own share (its own directory), sees what the template had in its
#     RAM, and not what the other clone wrote; /dev/urandom differs
#   - snapshot rm and rm of the template are refused (exit 3, naming the
#     clones) while clones run
#   - --count 3: all ready
#   - the template's RAM file is byte-identical after the clones wrote
#     their memory; gone (a host reboot), the template lists as damaged
#     and clone is refused; with the clones down, snapshot rm removes it
. "$(dirname "$0")/lib.sh"

tvm=$PREFIX-tmpl
tp=$(new_project "$tvm")
printf 'memory=512M\ntemplate=true\n' >>"$tp/grainvm.conf"
on_cleanup "$GRAINVM" rm "$tvm"

# clone_project NAME: a project directory for a clone (the template's hardware keys).
clone_project() {
	local dir=$T/$1
	mkdir -p "$dir"
	printf '[vm]\nmemory=512M\n' >"$dir/grainvm.conf"
	echo "$dir"
}

gsh() {
	"$GRAINVM" exec "$1" -- sh -c "$2"
}

mac_of() {
	"$GRAINVM" status --json "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["nics"][0]["mac"])'
}

cd "$tp" || exit 1
expect_code 0 "$GRAINVM" up -q
expect_code 0 "$GRAINVM" status "$tvm"
echo "$OUT" | grep -q "^ram      .*/$tvm-[A-Za-z0-9]*\.ram, [0-9.]* MB in tmpfs" || fail "status: no RAM file: $OUT"
run_ram=$(echo "$OUT" | sed -n 's/^ram      \(.*\.ram\), .*/\1/p')
[ "$(stat -f -c %T "$(dirname "$run_ram")")" = tmpfs ] || fail "$run_ram is not in tmpfs"
gsh "$tvm" 'echo from-the-template >/tmp/tmpl-file'

# An ordinary snapshot of it starts no other VM.
expect_code 0 "$GRAINVM" snapshot save "$tvm" plain
ca=$(clone_project ca)
cd "$ca" || exit 1
expect_code 2 "$GRAINVM" clone "$tvm:plain" "$PREFIX-x"
[ "$(echo "$OUT" | wc -l)" -eq 1 ] || fail "not one line: $OUT"
echo "$OUT" | grep -q "snapshot plain of vm $tvm is not a template" || fail "non-template: $OUT"
expect_code 3 "$GRAINVM" clone "$PREFIX-nosuch:base" "$PREFIX-x"
echo "$OUT" | grep -q "vm $PREFIX-nosuch has no snapshot base" || fail "unknown vm: $OUT"
expect_code 3 "$GRAINVM" up "$PREFIX-x" --from "$tvm:nosuch"
echo "$OUT" | grep -q "vm $tvm has no snapshot nosuch" || fail "unknown tag: $OUT"
expect_code 2 "$GRAINVM" clone "$tvm-base" "$PREFIX-x"
echo "$OUT" | grep -q "is not VM:TAG" || fail "malformed: $OUT"
expect_code 2 "$GRAINVM" clone --count 0 "$tvm:plain" "$PREFIX-x"
no_leftovers "$PREFIX-x"
[ ! -e "$GRAINVM_HOME/state/$PREFIX-x/overlay.qcow2" ] || fail "a refused clone left a disk"
[ ! -e "$GRAINVM_HOME/run/$PREFIX-x/plan.json" ] || fail "a refused clone left its plan"

# The template save: the VM stops, its RAM stays in tmpfs as the template's.
cd "$tp" || exit 1
expect_code 0 "$GRAINVM" snapshot save --template "$tvm" base
note "$(echo "$OUT" | head -1)"
expect_code 0 "$GRAINVM" status "$tvm"
echo "$OUT" | grep -q "^state    stopped" || fail "the template's VM still runs: $OUT"
[ ! -e "$run_ram" ] || fail "the stopped template VM's own RAM file is still there"
ram=$("$GRAINVM" snapshot list --json "$tvm" |
	python3 -c 'import json,sys; print([m for m in json.load(sys.stdin) if m["tag"]=="base"][0]["template"]["ram"])')
[ -f "$ram" ] || fail "no template RAM file $ram"
sum_before=$(sha256sum "$ram" | cut -d' ' -f1)
expect_code 0 "$GRAINVM" snapshot list "$tvm"
echo "$OUT" | grep -q "^base .*RAM [0-9.]* MB in tmpfs, 0 clones running" || fail "list: $OUT"

# Two clones from two project directories.
touch "$ca/only-in-a"
cb=$(clone_project cb)
touch "$cb/only-in-b"
a=$PREFIX-ca b=$PREFIX-cb
cd "$ca" || exit 1
expect_code 0 "$GRAINVM" clone "$tvm:base" "$a"
note "$OUT"
cd "$cb" || exit 1
expect_code 0 "$GRAINVM" up -q "$b" --from "$tvm:base"
expect_code 0 "$GRAINVM" status "$a"
echo "$OUT" | grep -q "^boot     clone of template $tvm:base" || fail "status boot line: $OUT"

for v in "$a" "$b"; do
	[ "$(gsh "$v" hostname)" = "$v" ] || fail "$v: hostname is $(gsh "$v" hostname)"
	want=$(mac_of "$v")
	got=$(gsh "$v" 'cat /sys/class/net/eth0/address')
	[ "$got" = "$want" ] || fail "$v: the guest's MAC is $got, status says $want"
	[ "$(gsh "$v" 'cat /tmp/tmpl-file')" = from-the-template ] || fail "$v lacks the template's RAM"
done
[ "$(mac_of "$a")" != "$(mac_of "$b")" ] || fail "the clones have one MAC"
[ "$(gsh "$a" 'ls /mnt/workspace')" = "$(printf 'grainvm.conf\nonly-in-a')" ] || fail "$a's share: $(gsh "$a" 'ls /mnt/workspace')"
[ "$(gsh "$b" 'ls /mnt/workspace')" = "$(printf 'grainvm.conf\nonly-in-b')" ] || fail "$b's share: $(gsh "$b" 'ls /mnt/workspace')"

# Independent: what one writes (RAM, tmpfs) the other does not see.
gsh "$a" 'echo mine >/tmp/written-by-a; dd if=/dev/urandom of=/tmp/fill bs=1M count=16 2>/dev/null'
gsh "$b" 'test ! -e /tmp/written-by-a' || fail "$b sees $a's file"
ra=$(gsh "$a" 'head -c 32 /dev/urandom | od -An -tx1 | tr -d " \n"')
rb=$(gsh "$b" 'head -c 32 /dev/urandom | od -An -tx1 | tr -d " \n"')
[ ${#ra} -eq 64 ] && [ "$ra" != "$rb" ] || fail "the clones read the same /dev/urandom bytes: $ra"

# The template cannot go while clones map it.
expect_code 3 "$GRAINVM" snapshot rm "$tvm" base
echo "$OUT" | grep -q "template base of vm $tvm is in use by 2 running clones ($a, $b): nothing removed" ||
	fail "snapshot rm in use: $OUT"
expect_code 3 "$GRAINVM" rm "$tvm"
echo "$OUT" | grep -q "in use by 2 running clones" || fail "rm in use: $OUT"
[ -f "$ram" ] || fail "a refused rm removed the template's RAM"

# Three at once.
cc=$(clone_project cc)
cd "$cc" || exit 1
expect_code 0 "$GRAINVM" clone --count 3 "$tvm:base" "$PREFIX-n"
note "$(echo "$OUT" | tail -1)"
echo "$OUT" | grep -q "3 of 3 clones of $tvm:base ready" || fail "--count 3: $OUT"
for i in 1 2 3; do
	expect_code 0 "$GRAINVM" status "$PREFIX-n-$i"
	echo "$OUT" | grep -q "^state    ready" || fail "$PREFIX-n-$i: $OUT"
done

for v in "$a" "$b" "$PREFIX-n-1" "$PREFIX-n-2" "$PREFIX-n-3"; do
	expect_code 0 "$GRAINVM" down -q "$v"
done
[ "$(sha256sum "$ram" | cut -d' ' -f1)" = "$sum_before" ] || fail "a clone wrote the template's RAM file"

# A template whose RAM is gone (as after a host reboot): listed as damaged
# with why, clone refused in one line, nothing left behind.
mv "$ram" "$ram.away"
expect_code 0 "$GRAINVM" snapshot list "$tvm"
echo "$OUT" | grep -q "^base .*damaged: template base is damaged: its RAM file .* is gone (templates live in tmpfs and do not survive a host reboot" ||
	fail "list of a gone template: $OUT"
cd "$ca" || exit 1
expect_code 1 "$GRAINVM" clone "$tvm:base" "$PREFIX-x"
[ "$(echo "$OUT" | wc -l)" -eq 1 ] && echo "$OUT" | grep -q "is gone" || fail "clone of a gone template: $OUT"
no_leftovers "$PREFIX-x"
mv "$ram.away" "$ram"
expect_code 0 "$GRAINVM" snapshot rm "$tvm" base
[ ! -e "$ram" ] || fail "snapshot rm left the template's RAM file"
echo "ok"
