#!/usr/bin/env bash
# What a broken KVM does to a real guest is recorded, not mistaken for a boot:
# with the probe skipped, OVMF under this host's /dev/kvm stops with "KVM
# internal error" (seen on our test hosts); up must fail fast with that reason
# and leave nothing.  On a host where KVM works the scenario cannot happen.
. "$(dirname "$0")/lib.sh"

if [ ! -e /dev/kvm ]; then
	echo "SKIP: no /dev/kvm on this host, so no broken KVM to observe"
	exit 77
fi
p=$(new_project "$PREFIX-kvm")
# cpu=qemu64: -cpu host trips an MSR assertion in QEMU here before the guest runs.
printf '[vm]\naccel=kvm\ncpu=qemu64\nfirmware=uefi\nready-timeout=120\n' >>"$p/grainvm.conf"
cd "$p"
# With the probe, accel=kvm is refused here (exit 1) unless KVM really works.
if GRAINVM_HOME=$T/probe-home "$GRAINVM" up --dry-run >/dev/null 2>&1; then
	echo "SKIP: KVM runs guests on this host; the broken-KVM case does not arise"
	exit 77
fi
start=$(date +%s)
set +e
OUT=$(GRAINVM_KVM_PROBE=skip "$GRAINVM" up 2>&1)
code=$?
set -e
took=$(($(date +%s) - start))
echo "$OUT"
[ $code -eq 1 ] || fail "expected exit 1, got $code"
echo "$OUT" | grep -q "KVM internal error" || fail "reason not given"
[ $took -lt 60 ] || fail "took $took s: waited for the ready timeout instead of noticing"
no_leftovers "$PREFIX-kvm"
expect_code 0 "$GRAINVM" status
echo "$OUT" | grep -q "^state    crashed: KVM internal error" || fail "$OUT"
note "ok ($took s)"
