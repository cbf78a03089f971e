#!/usr/bin/env bash
# Issue 16: a cloud image becomes a grainvm guest through the NoCloud seed.
# The image is a stand-in built here: Debian 12 minbase with cloud-init and
# openssh-server and no grainvm-agent (debian-guest.sh cloud-init), made
# bootable with `grainvm image build`.  With `[cloud-init] enabled=true` it
# boots to ready: grainvm-agent (from the seed) answers and mounted the
# workspace, the hostname is the VM's name, the key is in root's
# authorized_keys, `grainvm ip`, `shell -- CMD` and exec work, and `down`
# is a guest poweroff.  A second boot starts the installed agent from its
# unit.  Then the same image with the agent baked in (debian_install_agent)
# and no seed boots for comparison: both boot-to-ready figures are printed.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/debian-lib.sh"

# A fixed public key (its private half was thrown away): what `ssh-key=`
# puts in the guest, compared byte for byte.
key='ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAII/TJaDPMuS3ro6cVCc6VXXLZI3519WEQW4EQIC1syIs grainvm-cloud-image-test'
echo "$key" >"$T/key.pub"

cloud=$(debian_rootfs cloud-init)
baked=$(debian_rootfs cloud-init)
[ -x "$cloud/usr/bin/cloud-init" ] || fail "the stand-in has no cloud-init"
for r in "$cloud" "$baked"; do
	if [ -e "$r/usr/sbin/grainvm-agent" ] || [ -e "$r/usr/sbin/qemu-ga" ]; then
		fail "the stand-in already has an agent"
	fi
done
debian_install_agent "$baked"
debian_image "$cloud" "$T/cloud.qcow2"
debian_image "$baked" "$T/baked.qcow2"

# console_tail VM: the guest's last console lines, for a failure's report.
console_tail() {
	local f=$GRAINVM_HOME/run/$1/console.log
	[ -f "$f" ] && tail -n 40 "$f" | cat -v >&2
	return 0
}

vm=$PREFIX-cloud
p=$(new_project "$vm")
cd "$p"
# TCG through OVMF, a full systemd boot and cloud-init's Python stages on a
# loaded CI machine: room.
printf '[vm]\nready-timeout=500\n[disk]\nimage=%s\n[cloud-init]\nenabled=true\nssh-key=%s\n' \
	"$T/cloud.qcow2" "$T/key.pub" >>grainvm.conf
echo "marker $$" >marker
"$GRAINVM" up >"$T/up.out" 2>&1 || {
	cat "$T/up.out" >&2
	console_tail "$vm"
	fail "the cloud image did not boot to ready"
}
OUT=$(cat "$T/up.out")
echo "$OUT"
cloud_ready=$(ready_seconds)
note "cloud image + seed, first boot to ready: $cloud_ready s"
echo "$OUT" | grep -q "cloud-init seed" || fail "up did not attach the seed: $OUT"

expect_code 0 "$GRAINVM" status
echo "$OUT"
echo "$OUT" | grep -q "^agent    grainvm-agent" || fail "grainvm-agent did not answer: $OUT"
echo "$OUT" | grep -q "(tag workspace): mounted, writable" || fail "share: $OUT"
expect_code 0 "$GRAINVM" exec -- cat /mnt/workspace/marker
[ "$OUT" = "marker $$" ] || fail "the workspace in the guest: $OUT"
# The agent is the seed's, run by its unit.
expect_code 0 "$GRAINVM" exec -- systemctl is-active grainvm-agent.service
[ "$OUT" = active ] || fail "grainvm-agent.service: $OUT"
expect_code 0 "$GRAINVM" exec -- hostname
[ "$OUT" = "$vm" ] || fail "hostname: $OUT, not $vm"
# Root's key as given, usable (no "log in as debian" command in front).
expect_code 0 "$GRAINVM" exec -- cat /root/.ssh/authorized_keys
echo "$OUT" | grep -qxF "$key" || fail "root's authorized_keys: $OUT"
expect_code 0 "$GRAINVM" ip
[ "$OUT" = 10.0.2.15 ] || fail "grainvm ip: $OUT"
expect_code 3 "$GRAINVM" shell -- sh -c 'exit 3' </dev/null
expect_code 0 "$GRAINVM" shell -- sh -c 'echo "in $(pwd) as $(id -un)"' </dev/null
[ "$OUT" = "in /mnt/workspace as root" ] || fail "grainvm shell -- CMD: $OUT"
# cloud-init finished (its final stage ran the seed's runcmd), and nothing
# of the seed failed.  One module of the image's own configuration does:
# locale (the stand-in is minbase, without the locales package).
"$GRAINVM" exec -- cloud-init status --wait >/dev/null 2>&1 || true
expect_code 0 "$GRAINVM" exec -- python3 -c 'import json
r = json.load(open("/run/cloud-init/result.json"))["v1"]
print(r["datasource"])
for e in r["errors"]: print("error:", e)'
echo "$OUT"
echo "$OUT" | grep -q "^DataSourceNoCloud" || fail "cloud-init's datasource: $OUT"
if echo "$OUT" | grep "^error:" | grep -v "^error: .*'locale'"; then
	fail "cloud-init failed running the seed"
fi

t0=$(date +%s.%N)
expect_code 0 "$GRAINVM" down
t1=$(date +%s.%N)
echo "$OUT"
echo "$OUT" | grep -q "stopped: guest powered off" || fail "down was not a guest poweroff: $OUT"
note "down: $(awk "BEGIN { printf \"%.1f\", $t1 - $t0 }") s"
no_leftovers "$vm"

# The second boot: the same instance, so cloud-init installs nothing; the
# agent comes from the unit and the udev rule the first boot wrote.
"$GRAINVM" up >"$T/up.out" 2>&1 || {
	cat "$T/up.out" >&2
	console_tail "$vm"
	fail "the cloud image's second boot did not reach ready"
}
OUT=$(cat "$T/up.out")
note "cloud image + seed, second boot to ready: $(ready_seconds) s"
expect_code 0 "$GRAINVM" exec -- cat /mnt/workspace/marker
[ "$OUT" = "marker $$" ] || fail "the workspace after the second boot: $OUT"
expect_code 0 "$GRAINVM" down
echo "$OUT" | grep -q "stopped: guest powered off" || fail "second down: $OUT"
no_leftovers "$vm"

# The same image with the agent baked in and no seed: cloud-init finds no
# datasource and stays out of the way.
vm2=$PREFIX-baked
p2=$(new_project "$vm2")
cd "$p2"
printf '[vm]\nready-timeout=500\n[disk]\nimage=%s\n' "$T/baked.qcow2" >>grainvm.conf
"$GRAINVM" up >"$T/up.out" 2>&1 || {
	cat "$T/up.out" >&2
	console_tail "$vm2"
	fail "the image with the agent baked in did not boot to ready"
}
OUT=$(cat "$T/up.out")
baked_ready=$(ready_seconds)
expect_code 0 "$GRAINVM" down
no_leftovers "$vm2"
note "boot to ready (agent answers, workspace mounted; TCG, OVMF): cloud image + seed $cloud_ready s, same image with the agent baked in $baked_ready s"
note "ok"
