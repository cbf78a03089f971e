#!/usr/bin/env bash
# What QEMU may do.  Always: its seccomp sandbox (Seccomp: 2 in
# /proc/PID/status).  As root with GRAINVM_QEMU_USER: it runs as that user,
# not root, with no capabilities at all (effective, permitted, bounding)
# and no_new_privs, and still boots, mounts its share (handed over as a
# directory descriptor: the project sits under this test's 0700 directory,
# which that user cannot walk) and writes into it as that user; snapshots
# (save, restore, live disk snapshots) work as that user too.  The user
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

# 1. As root, by default: QEMU runs as the system user grainvm (not
#    through sudo here: SUDO_UID is taken away), sandboxed, and status says
#    whom and why.  GRAINVM_QEMU_USER=root: root on purpose, sandboxed
#    still.  Through sudo: the caller, here nobody, who cannot write to the
#    share (the test's ACL is grainvm's): up warns, naming share, user
#    and fixes, and the VM still comes up.
expect_code 0 env -u SUDO_UID "$GRAINVM" up -q
qpid=$(cat "$GRAINVM_HOME/run/$vm/qemu.pid")
note "default: Uid $(status_of "$qpid" Uid), Seccomp $(status_of "$qpid" Seccomp)"
[ "$(status_of "$qpid" Uid)" = "$uid $uid $uid $uid" ] || fail "by default QEMU's Uid is $(status_of "$qpid" Uid)"
[ "$(status_of "$qpid" CapEff)" = 0000000000000000 ] || fail "by default QEMU has capabilities"
[ "$(status_of "$qpid" Seccomp)" = 2 ] || fail "QEMU has no seccomp filter"
tr '\0' ' ' <"/proc/$qpid/cmdline" | grep -q -- \
	"-sandbox on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny " ||
	fail "no -sandbox in QEMU's command line"
expect_code 0 "$GRAINVM" status "$vm"
echo "$OUT" | grep -qx "user     QEMU runs as $user (uid $uid): the system user grainvm" ||
	fail "status does not say whom QEMU runs as: $OUT"
expect_code 0 "$GRAINVM" down -q

expect_code 0 env -u SUDO_UID GRAINVM_QEMU_USER=root "$GRAINVM" up -q
qpid=$(cat "$GRAINVM_HOME/run/$vm/qemu.pid")
[ "$(status_of "$qpid" Uid)" = "0 0 0 0" ] || fail "GRAINVM_QEMU_USER=root: QEMU's Uid is $(status_of "$qpid" Uid)"
[ "$(status_of "$qpid" Seccomp)" = 2 ] || fail "QEMU as root has no seccomp filter"
expect_code 0 "$GRAINVM" status "$vm"
echo "$OUT" | grep -qx "user     QEMU runs as root (uid 0): GRAINVM_QEMU_USER=root" || fail "status: $OUT"
expect_code 0 "$GRAINVM" down -q

nobody_uid=$(id -u nobody)
chmod o-rx "$p"
expect_code 2 env SUDO_UID="$nobody_uid" "$GRAINVM" up -q
echo "$OUT" | grep -qx "grainvm: \[share workspace\] $p: QEMU runs as nobody (the sudo caller), who cannot read it (.*)" ||
	fail "a share nobody cannot read: $OUT"
no_leftovers "$vm"
chmod o+rx "$p"
expect_code 0 env SUDO_UID="$nobody_uid" "$GRAINVM" up -q
echo "$OUT" | grep -qx "grainvm: warning: \[share workspace\] $p is read-write, but QEMU runs as nobody (the sudo caller), who cannot write to it: the guest can only read it (chown -R nobody $p, or setfacl -R -m u:nobody:rwX -m d:u:nobody:rwX $p, or GRAINVM_QEMU_USER=root)" ||
	fail "no warning about the share nobody cannot write: $OUT"
qpid=$(cat "$GRAINVM_HOME/run/$vm/qemu.pid")
[ "$(status_of "$qpid" Uid)" = "$nobody_uid $nobody_uid $nobody_uid $nobody_uid" ] ||
	fail "through sudo QEMU's Uid is $(status_of "$qpid" Uid)"
expect_code 0 "$GRAINVM" status "$vm"
echo "$OUT" | grep -qx "user     QEMU runs as nobody (uid $nobody_uid): the sudo caller" || fail "status: $OUT"
expect_code 0 "$GRAINVM" down -q
no_leftovers "$vm"
chmod o-rx "$p"

# A template VM keeps QEMU root by default (its RAM file, docs/security.md),
# saying so; with a user named it is refused.
expect_code 0 env -u SUDO_UID "$GRAINVM" up --dry-run --set vm.template=true
echo "$OUT" | grep -q "^grainvm: warning: QEMU runs as root for this VM: \[vm\] template=true: " ||
	fail "template dry run: $OUT"
if echo "$OUT" | grep -q "/dev/fdset/\|/proc/self/fd/"; then fail "a root QEMU got descriptors: $OUT"; fi
expect_code 2 env GRAINVM_QEMU_USER=$user "$GRAINVM" up --dry-run --set vm.template=true

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

# A saved snapshot: QEMU, which cannot reach the run directory, gets the
# migration stream as a descriptor (getfd); the VM goes on, and a restore
# as that user brings back the guest's own file from before the save.
guest_write "$vm" /tmp/before-save "written before the save"
expect_code 0 "$GRAINVM" snapshot save "$vm" priv-s1
note "save as $user: $(echo "$OUT" | head -1)"
expect_code 0 "$GRAINVM" status "$vm"
echo "$OUT" | grep -q "^state    ready" || fail "after the save: $OUT"
expect_code 0 "$GRAINVM" down
echo "$OUT" | grep -q "stopped: guest powered off" || fail "down: $OUT"
no_leftovers "$vm"
expect_code 0 env GRAINVM_QEMU_USER=$user "$GRAINVM" up "$vm" --from priv-s1
echo "$OUT" | grep -q "boot     snapshot priv-s1, saved" || fail "up --from as $user: $OUT"
qpid=$(cat "$GRAINVM_HOME/run/$vm/qemu.pid")
[ "$(status_of "$qpid" Uid)" = "$uid $uid $uid $uid" ] || fail "restored QEMU's Uid is $(status_of "$qpid" Uid)"
[ "$(guest_read "$vm" /tmp/before-save)" = "written before the save" ] ||
	fail "the restored guest lost its file"
expect_code 0 "$GRAINVM" down -q
no_leftovers "$vm"
expect_code 0 "$GRAINVM" snapshot rm "$vm" priv-s1

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

# A live disk snapshot as that user: the supervisor makes the new layer
# and QEMU gets it as an fd set (add-fd, blockdev-add, blockdev-snapshot).
# The guest's writes after it land in the new layer, the frozen one keeps
# the old; then a full save of that disk, and a restore as that user runs
# on a new overlay of it, also handed over in an fd set.
expect_code 0 env GRAINVM_QEMU_USER=$user "$GRAINVM" up -q
expect_code 0 "$GRAINVM" snapshot disk "$vm" layer1
echo "$OUT" | grep -q "writes   $GRAINVM_HOME/state/$vm/overlay.1.qcow2" || fail "snapshot disk: $OUT"
expect_code 0 "$GRAINVM" exec "$vm" -- sh -c \
	'printf after-layer1 | dd of=/dev/vda bs=512 seek=8 conv=fsync 2>/dev/null && echo written'
echo "$OUT" | grep -q written || fail "the guest cannot write its new layer: $OUT"
expect_code 0 "$GRAINVM" snapshot save "$vm" priv-disk
expect_code 0 "$GRAINVM" down -q
no_leftovers "$vm"
top=$GRAINVM_HOME/state/$vm/overlay.1.qcow2
qemu-img check -q "$overlay" || fail "qemu-img check of the frozen layer failed"
qemu-img check -q "$top" || fail "qemu-img check of the new layer failed"
qemu-io -r -f qcow2 -c 'read -v 4096 11' "$top" 2>&1 | grep -q "61 66 74 65 72 2d 6c 61 79 65 72" ||
	fail "the write after the disk snapshot is not in the new layer"
if qemu-io -r -f qcow2 -c 'read -v 4096 11' "$overlay" 2>&1 | grep -q "61 66 74 65 72 2d 6c 61 79 65 72"; then
	fail "the write after the disk snapshot reached the frozen layer"
fi
expect_code 0 env GRAINVM_QEMU_USER=$user "$GRAINVM" up "$vm" --from priv-disk
echo "$OUT" | grep -q "boot     snapshot priv-disk, saved" || fail "up --from as $user: $OUT"
qpid=$(cat "$GRAINVM_HOME/run/$vm/qemu.pid")
[ "$(status_of "$qpid" Uid)" = "$uid $uid $uid $uid" ] || fail "restored QEMU's Uid is $(status_of "$qpid" Uid)"
expect_code 0 "$GRAINVM" exec "$vm" -- sh -c 'dd if=/dev/vda bs=512 skip=8 count=1 2>/dev/null | head -c 11'
[ "$OUT" = after-layer ] || fail "the restored guest reads '$OUT' from its disk"
expect_code 0 "$GRAINVM" down -q
no_leftovers "$vm"
[ "$(sha256sum "$img/base.qcow2" "$img/mid.qcow2")" = "$bases_sum" ] || fail "a base image changed"
expect_code 0 "$GRAINVM" rm "$vm"

expect_code 2 env GRAINVM_QEMU_USER=no-such-user-here "$GRAINVM" up
echo "$OUT" | grep -q "no such user" || fail "$OUT"
note "ok"
