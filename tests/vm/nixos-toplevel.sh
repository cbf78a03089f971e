#!/usr/bin/env bash
# The [nixos] boot path, launcher side: `flake=` runs the real `nix build`,
# the toplevel's kernel and initrd are booted with its kernel-params and
# init=TOPLEVEL/init, and the store is shared read-only with tag nix-store.
#
# There is no nixpkgs here, so the "NixOS system" is a fake toplevel that
# a real `nix build` makes in a private chroot store ($T/nixroot, so the
# host gets no /nix): kernel -> the host kernel grainvm extracted, initrd ->
# grainvm's own initramfs (copied into the store), init -> the agent in the
# store, and kernel-params holding the grainvm.mount= parameters that stand
# in for the fileSystems entries NixOS's stage 1 would mount.  What this
# proves: grainvm finds and boots what a toplevel names, passes what the
# guest needs to find stage 2, and the guest sees the store at /nix/store.
# What it cannot: NixOS's own stage 1 and 2 (see docs/nixos.md).
. "$(dirname "$0")/lib.sh"

command -v nix >/dev/null || fail "nix is not installed (apt-get install nix-bin; .ci/deps lists it)"
[ -x /bin/busybox ] || fail "busybox-static is needed as the build sandbox's /bin/sh"

# The host kernel and initramfs the default guest would boot.
plain=$T/plain
mkdir -p "$plain"
read -r kernel initrd < <(cd "$plain" && by_path "$GRAINVM" up --dry-run --json | python3 -c '
import json, sys
a = json.load(sys.stdin)
print(a[a.index("-kernel") + 1], a[a.index("-initrd") + 1])')
[ -f "$kernel" ] && [ -f "$initrd" ] || fail "no kernel/initrd from the dry run: $kernel $initrd"

# A private store and nix configuration: no network, no build users, the
# build sandbox gets busybox as /bin/sh.
# Without lib.sh's ACL for QEMU's user: nix rejects build outputs with
# extended permissions ("suspicious ownership or permission").  The store
# is world-readable as nix makes it, which is all its read-only share needs.
mkdir -p "$T/nixroot"
[ -z "$QEMU_USER" ] || setfacl -b -k "$T/nixroot"
mkdir -p "$T/nixroot/nix/store" "$T/xdg-cache"
export XDG_CACHE_HOME=$T/xdg-cache
NIX_CONFIG="store = $T/nixroot
substituters =
build-users-group =
sandbox-paths = /bin/sh=/bin/busybox"
# Building into a private store (one not at /nix/store) needs nix's
# sandbox, and that needs user namespaces, which a chroot (or a locked-down
# container) does not allow; sandbox = false does not help there.  This
# test machine has them, so the test runs here.
if ! unshare --user true 2>/dev/null; then
	echo "skipped: no user namespaces (a chroot?), and nix builds into a private store only in its sandbox"
	exit 77
fi
export NIX_CONFIG

params="grainvm.mount=nix-store:/nix/store:ro,cache=loose,msize=524288"
params+=" grainvm.mount=workspace:/mnt/workspace:msize=524288,cache=mmap"
params+=" grainvm.hostname=fake-nixos loglevel=4"
flake=$T/flake
mkdir -p "$flake"
cp "$initrd" "$flake/initrd"
cp "${GRAINVM_AGENT:-$(dirname "$GRAINVM")/../guest-agent/grainvm-agent}" "$flake/init"
cat >"$flake/flake.nix" <<EOF
{
  description = "a fake NixOS toplevel for grainvm's [nixos] VM test";
  outputs = { self }: {
    nixosConfigurations.fake.config.system.build.toplevel = derivation {
      name = "nixos-system-fake";
      system = "x86_64-linux";
      builder = "/bin/sh";
      args = [ "-c" ''
        mkdir \$out
        ln -s $kernel \$out/kernel
        ln -s \${./initrd} \$out/initrd
        ln -s \${./init} \$out/init
        printf %s '$params' > \$out/kernel-params
      '' ];
    };
  };
}
EOF

proj=$T/proj
mkdir -p "$proj"
vm=nixos-$PREFIX
cat >"$proj/grainvm.conf" <<EOF
[vm]
name=$vm
memory=512M
[nixos]
flake=path:../flake#fake
store=$T/nixroot/nix/store
EOF
cd "$proj"

# Bad input first (no boot): a system outside the store, a flake that has
# no such configuration.  Nothing may be left running.
expect_code 2 "$GRAINVM" up --set nixos.flake= --set "nixos.system=$plain"
echo "$OUT" | grep -q "\[nixos\] system: $plain is not a store path in /nix/store" || fail "$OUT"
expect_code 1 "$GRAINVM" up --set "nixos.flake=path:$flake#nosuch"
echo "$OUT" | grep -q "nix build path:$flake#nixosConfigurations.nosuch.config.system.build.toplevel\` failed" || fail "$OUT"
no_leftovers "$vm"

# From another directory: the relative flake is still the one beside grainvm.conf.
cd "$T"
expect_code 0 "$GRAINVM" up -f "$proj/grainvm.conf"
cd "$proj"
echo "$OUT"
link=$GRAINVM_HOME/state/$vm/nixos-system
top=$(readlink "$link") || fail "no result link $link"
case $top in /nix/store/*-nixos-system-fake) ;; *) fail "result link points at '$top'" ;; esac
[ -d "$T/nixroot$top" ] || fail "$top is not in the chroot store"
echo "$OUT" | grep -q "boot     NixOS $top (flake path:../flake#fake); direct kernel" || fail "boot line"
echo "$OUT" | grep -q "share    $T/nixroot/nix/store -> /nix/.ro-store (9p, tag nix-store, msize 512K, cache=loose, read-only)" ||
	fail "store share not reported"

# The kernel command line: kernel-params, then init=, then grainvm's console.
cmdline=$(guest_read "$vm" /proc/cmdline)
note "guest /proc/cmdline: $cmdline"
case $cmdline in
"$params init=$top/init console=ttyS0 panic=-1"*) ;;
*) fail "unexpected kernel command line: $cmdline" ;;
esac

# init= names a file the guest can run: the store really is at /nix/store.
pid=$("$GRAINVM" agent "$vm" guest-exec "{\"path\":\"$top/init\",\"arg\":[\"--version\"],\"capture-output\":true}" |
	sed -n 's/.*"pid" *: *\([0-9]*\).*/\1/p')
[ -n "$pid" ] || fail "guest-exec of $top/init did not start"
for _ in $(seq 50); do
	st=$("$GRAINVM" agent "$vm" guest-exec-status "{\"pid\":$pid}")
	echo "$st" | grep -q '"exited" : true' && break
	sleep 0.1
done
out=$(echo "$st" | sed -n 's/.*"out-data" *: *"\([^"]*\)".*/\1/p' | base64 -d)
echo "$out" | grep -q "^grainvm-agent " || fail "running $top/init in the guest gave '$out' ($st)"

# The store is read-only from the guest; the workspace is the project.
expect_code 1 "$GRAINVM" agent "$vm" guest-file-open '{"path":"/nix/store/written-by-guest","mode":"w"}'
echo "$OUT" | grep -q "Read-only file system" || fail "store writable? $OUT"
echo "host $$" >"$proj/marker"
[ "$(guest_read "$vm" /mnt/workspace/marker)" = "host $$" ] || fail "workspace not shared"

# A dry run builds the system (to know its command line) but keeps no result link.
expect_code 0 "$GRAINVM" up --dry-run --set vm.name=dry1-$PREFIX
echo "$OUT" | grep -q "init=$top/init" || fail "flake= dry run: $OUT"
[ ! -e "$GRAINVM_HOME/state/dry1-$PREFIX/nixos-system" ] && [ ! -L "$GRAINVM_HOME/state/dry1-$PREFIX/nixos-system" ] ||
	fail "the dry run left a result link"

# system= with the same toplevel, through the link nix left: same command line.
expect_code 0 "$GRAINVM" up --dry-run --json --set nixos.flake= --set "nixos.system=$link" --set vm.name=dry-$PREFIX
echo "$OUT" | grep -q "init=$top/init console=ttyS0" || fail "system= dry run: $OUT"

expect_code 0 "$GRAINVM" down "$vm"
echo "$OUT" | grep -q "stopped: guest powered off" || fail "down: $OUT"
no_leftovers "$vm"
note "ok"
