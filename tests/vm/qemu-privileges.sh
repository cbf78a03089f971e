#!/usr/bin/env bash
# What QEMU may do.  Always: its seccomp sandbox (Seccomp: 2 in
# /proc/PID/status).  As root with GRAINVM_QEMU_USER: it runs as that user,
# not root, with no capabilities at all (effective, permitted, bounding)
# and no_new_privs, and still boots, mounts its share (handed over as a
# directory descriptor: the project sits under this test's 0700 directory,
# which that user cannot walk) and writes into it as that user.  The user
# is the dedicated system account docs/security.md recommends, created
# here if this host has none yet.
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" -eq 0 ] || { echo "not root: nothing to drop"; exit 77; }
user=grainvm
if ! id "$user" >/dev/null 2>&1; then
	useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$user"
fi
uid=$(id -u "$user")

vm=$PREFIX-priv
p=$(new_project "$vm")
cd "$p"

# status_of PID FIELD: one field of /proc/PID/status, whitespace squeezed.
status_of() { sed -n "s/^$2:[[:space:]]*//p" "/proc/$1/status" | tr -s '\t ' ' '; }

# 1. As root, without GRAINVM_QEMU_USER: root, but sandboxed.
expect_code 0 "$GRAINVM" up -q
qpid=$(cat "$GRAINVM_HOME/run/$vm/qemu.pid")
note "default: Uid $(status_of "$qpid" Uid), Seccomp $(status_of "$qpid" Seccomp)"
[ "$(status_of "$qpid" Seccomp)" = 2 ] || fail "QEMU has no seccomp filter"
tr '\0' ' ' <"/proc/$qpid/cmdline" | grep -q -- \
	"-sandbox on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny " ||
	fail "no -sandbox in QEMU's command line"
expect_code 0 "$GRAINVM" down -q

# 2. GRAINVM_QEMU_USER: the share must be that user's to write in.
chown "$user" "$p"
expect_code 0 env GRAINVM_QEMU_USER=$user "$GRAINVM" up -q
qpid=$(cat "$GRAINVM_HOME/run/$vm/qemu.pid")
for f in Uid Gid Groups CapInh CapPrm CapEff CapBnd CapAmb Seccomp NoNewPrivs; do
	note "$f: $(status_of "$qpid" "$f")"
done
[ "$(status_of "$qpid" Uid)" = "$uid $uid $uid $uid" ] || fail "QEMU's Uid is $(status_of "$qpid" Uid)"
for f in CapInh CapPrm CapEff CapBnd CapAmb; do
	[ "$(status_of "$qpid" $f)" = 0000000000000000 ] || fail "QEMU's $f is $(status_of "$qpid" $f)"
done
[ "$(status_of "$qpid" Seccomp)" = 2 ] || fail "QEMU has no seccomp filter"
[ "$(status_of "$qpid" NoNewPrivs)" = 1 ] || fail "QEMU could gain privileges"
[ -z "$(status_of "$qpid" Groups)" ] || fail "QEMU kept groups $(status_of "$qpid" Groups)"

# The share works, and what the guest writes is that user's on the host.
echo from-host >"$p/host-file"
expect_code 0 "$GRAINVM" exec "$vm" -- sh -c 'cat /mnt/workspace/host-file; echo from-guest > /mnt/workspace/guest-file'
echo "$OUT" | grep -q from-host || fail "the guest cannot read the share: $OUT"
[ "$(cat "$p/guest-file")" = from-guest ] || fail "the guest's file is not in the share"
[ "$(stat -c %U "$p/guest-file")" = "$user" ] || fail "the guest's file is $(stat -c %U "$p/guest-file")'s"

# A snapshot needs QEMU to reach a socket by path: refused, the VM unharmed.
expect_code 2 "$GRAINVM" snapshot save "$vm"
echo "$OUT" | grep -q "runs QEMU as user $user (GRAINVM_QEMU_USER), which cannot save snapshots yet" ||
	fail "snapshot save: $OUT"
expect_code 0 "$GRAINVM" status "$vm"
echo "$OUT" | grep -q "^state    ready" || fail "after a refused save: $OUT"

expect_code 0 "$GRAINVM" down
echo "$OUT" | grep -q "stopped: guest powered off" || fail "down: $OUT"
no_leftovers "$vm"

# 2b. On a switch network: the switch's work (libslirp) runs as that user
#     too, in a child of a root process that only removes the socket and
#     pid file at the end; the guest still gets its address, and the
#     switch goes with the VM, leaving no file.
net=$PREFIX-pn
printf '[vm]\nname=%s\n[net]\nmode=switch\nnetwork=%s\n' "$vm" "$net" >grainvm.local.conf
expect_code 0 env GRAINVM_QEMU_USER=$user "$GRAINVM" up
echo "$OUT" | grep -q "switch network $net" || fail "not on the switch: $OUT"
ndir=$GRAINVM_HOME/run/.networks/$net
spid=$(cat "$ndir/switch.pid")
note "switch worker $spid: Uid $(status_of "$spid" Uid), CapEff $(status_of "$spid" CapEff)"
[ "$(status_of "$spid" Uid)" = "$uid $uid $uid $uid" ] || fail "the switch runs as $(status_of "$spid" Uid)"
[ "$(status_of "$spid" CapEff)" = 0000000000000000 ] || fail "the switch has capabilities"
[ "$(status_of "$spid" NoNewPrivs)" = 1 ] || fail "the switch could gain privileges"
expect_code 0 "$GRAINVM" down -q
for _ in $(seq 1 100); do [ -e "/proc/$spid" ] || break; sleep 0.1; done
[ ! -e "/proc/$spid" ] || fail "the switch still runs after its last VM"
[ ! -e "$ndir/switch.sock" ] && [ ! -e "$ndir/switch.pid" ] || fail "switch files left: $(ls "$ndir")"
no_leftovers "$vm"

# 3. A VM with a [disk] on a base chain and UEFI firmware: every block
#    file (OVMF code and the VM's variables, the overlay, each base) is
#    handed over as a descriptor in one of QEMU's fd sets, so QEMU, as
#    that user, opens none of them by path (they sit in root's 0700
#    directories; the overlay is root's 0600).  The guest writes its disk;
#    afterwards the overlay is clean and holds the write, the bases are
#    untouched.
img=$T/priv-img
mkdir -p "$img"
qemu-img create -q -f qcow2 "$img/base.qcow2" 64M
qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 "$img/mid.qcow2"
chmod 600 "$img"/*.qcow2
bases_sum=$(sha256sum "$img/base.qcow2" "$img/mid.qcow2")
# kernel=host: grainvm's kernel and agent, through OVMF, with the disk beside.
printf '[vm]\nname=%s\nfirmware=uefi\nready-timeout=180\n[boot]\nkernel=host\n[disk]\nimage=%s\n' \
	"$vm" "$img/mid.qcow2" >grainvm.local.conf
expect_code 0 env GRAINVM_QEMU_USER=$user "$GRAINVM" up
echo "$OUT" | grep -q "through OVMF" || fail "not booted through OVMF: $OUT"
qpid=$(cat "$GRAINVM_HOME/run/$vm/qemu.pid")
note "disk+uefi: Uid $(status_of "$qpid" Uid), CapEff $(status_of "$qpid" CapEff), Seccomp $(status_of "$qpid" Seccomp)"
[ "$(status_of "$qpid" Uid)" = "$uid $uid $uid $uid" ] || fail "QEMU's Uid is $(status_of "$qpid" Uid)"
[ "$(status_of "$qpid" CapEff)" = 0000000000000000 ] || fail "QEMU has capabilities"
[ "$(status_of "$qpid" Seccomp)" = 2 ] || fail "QEMU has no seccomp filter"
tr '\0' ' ' <"/proc/$qpid/cmdline" | grep -q "filename=/dev/fdset/" || fail "the disk is not an fd set"
if tr '\0' '\n' <"/proc/$qpid/cmdline" | grep -v '^fd=' | grep -q "$img\|overlay.qcow2\|efi-vars"; then
	fail "QEMU was given a block file by path"
fi
# (A missing /dev/vda would make the printf create a plain file: check.)
expect_code 0 "$GRAINVM" exec "$vm" -- sh -c \
	'[ -b /dev/vda ] || { ls /sys/block; exit 1; }; printf drop-disk-ok >/dev/vda && sync && echo written'
echo "$OUT" | grep -q written || fail "the guest cannot write its disk: $OUT"
expect_code 0 "$GRAINVM" down -q
no_leftovers "$vm"
overlay=$GRAINVM_HOME/state/$vm/overlay.qcow2
qemu-img check -q "$overlay" || fail "qemu-img check of the overlay failed"
got=$(qemu-io -r -f qcow2 -c 'read -v 0 12' "$overlay" 2>&1)
# qemu-io's dump: the bytes of "drop-disk-ok" (its text column shows '-' as '.')
echo "$got" | grep -q "64 72 6f 70 2d 64 69 73 6b 2d 6f 6b" ||
	fail "the guest's write is not in the overlay: $got; $(qemu-img map "$overlay" 2>&1)"
[ "$(sha256sum "$img/base.qcow2" "$img/mid.qcow2")" = "$bases_sum" ] || fail "a base image changed"

# Live disk snapshots and saves still need a path: refused, VM unharmed.
expect_code 0 env GRAINVM_QEMU_USER=$user "$GRAINVM" up -q
expect_code 2 "$GRAINVM" snapshot disk "$vm" layer1
echo "$OUT" | grep -q "which cannot take disk snapshots yet" || fail "snapshot disk: $OUT"
expect_code 0 "$GRAINVM" down -q
no_leftovers "$vm"
expect_code 0 "$GRAINVM" rm "$vm"

expect_code 2 env GRAINVM_QEMU_USER=no-such-user-here "$GRAINVM" up
echo "$OUT" | grep -q "no such user" || fail "$OUT"
note "ok"
