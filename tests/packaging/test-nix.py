#!/usr/bin/env python3
# test-nix.py - grainvm's Nix files, checked with Debian's nix-bin and the
# real nixpkgs lib
#
# 1. Every .nix file in the tree parses (nix-instantiate --parse).
# 2. nix/module.nix, nix/default.nix and flake.nix are evaluated with
#    nixpkgs' own lib.evalModules and types (the nixpkgs-lib tarball named
#    by GRAINVM_TEST_NIXPKGS_LIB, which .ci/run sets), over
#    tests/packaging/nix/nixos-options.nix (the NixOS options they set,
#    declared with NixOS's types) and STAND-IN packages
#    (tests/packaging/nix/stand-in.nix: there is no nixpkgs package set
#    here).  The systemd unit, the udev rule and the fileSystems entries they
#    produce are compared with what they must be.  The module's defaults are
#    also compared with the launcher's (port name, share tag, mount point,
#    msize, cache), its unit and rule with packaging/systemd's, and its
#    workspace entry with docs/guests.md's fstab line, so that none of them
#    can drift apart.
#
# Without GRAINVM_TEST_NIXPKGS_LIB step 2 cannot run: the test says so and
# skips (exit 77), or fails under CI=true, where .ci/run always sets it.
#
# `--store dummy://`: evaluation needs no store, and without it nix-bin
# creates /nix on the host.
import glob
import json
import os
import re
import shlex
import subprocess
import sys
import tarfile
import tempfile

SRC = os.environ.get("GV_SOURCE_ROOT") or os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
NIX = os.environ.get("NIX_INSTANTIATE", "nix-instantiate")
failures = 0


def check(cond, what, detail=""):
    global failures
    if cond:
        print(f"ok - {what}")
    else:
        failures += 1
        print(f"not ok - {what}\n    {detail}")


def nix(*args):
    try:
        r = subprocess.run([NIX, "--store", "dummy://", *args], capture_output=True, text=True)
    except FileNotFoundError:
        print(f"not ok - {NIX} not found: apt-get install nix-bin (.ci/deps lists it)")
        sys.exit(1)
    # nix-bin warns that the build group does not exist; only that is noise.
    err = "\n".join(l for l in r.stderr.splitlines() if "nixbld" not in l)
    return r.returncode, r.stdout, err


def read(rel):
    with open(os.path.join(SRC, rel)) as f:
        return f.read()


print("# NOTE: nixpkgs' real lib and module system, NixOS option declarations written after")
print("# NixOS's types (tests/packaging/nix/nixos-options.nix), STAND-IN packages")
print("# (tests/packaging/nix/stand-in.nix); see docs/nixos.md for what still needs nixpkgs.")

# ---- 1. every .nix file parses ------------------------------------------------
nix_files = []
for top, dirs, files in os.walk(SRC):
    dirs[:] = [d for d in dirs if not d.startswith(("build", ".git", "result"))]
    nix_files += [os.path.join(top, f) for f in files if f.endswith(".nix")]
check(len(nix_files) >= 9, f"found {len(nix_files)} .nix files")
for path in sorted(nix_files):
    rc, _, err = nix("--parse", path)
    check(rc == 0, f"parses: {os.path.relpath(path, SRC)}", err)

# ---- 2. evaluation with nixpkgs' lib -----------------------------------------------
tarball = os.environ.get("GRAINVM_TEST_NIXPKGS_LIB", "")
if not tarball or not os.path.isfile(tarball):
    why = (f"GRAINVM_TEST_NIXPKGS_LIB={tarball}: no such file" if tarball else
           "GRAINVM_TEST_NIXPKGS_LIB is not set (a nixpkgs-lib .tar.xz, e.g. from "
           "nix-community/nixpkgs.lib; .ci/run sets it)")
    if os.environ.get("CI") == "true":
        print(f"not ok - the module cannot be evaluated: {why}")
        sys.exit(1)
    print(f"# SKIP the module's evaluation: {why}")
    sys.exit(77 if failures == 0 else 1)
tmp = tempfile.TemporaryDirectory(prefix="gvnixlib.")
with tarfile.open(tarball) as t:
    t.extractall(tmp.name)
libs = glob.glob(os.path.join(tmp.name, "*", "lib", "default.nix"))
check(len(libs) == 1, f"{os.path.basename(tarball)} holds one lib/default.nix", libs)
if len(libs) != 1:
    sys.exit(1)
rc, out, err = nix("--eval", "--strict", "--json", os.path.join(SRC, "tests/packaging/nix/cases.nix"),
                   "--arg", "root", SRC, "--arg", "nixpkgsLib", os.path.dirname(libs[0]))
check(rc == 0, "cases.nix evaluates", err)
if rc != 0:
    sys.exit(1)
c = json.loads(out)
print(f"# {c['standIn']}")

version = re.search(r"[^_]version: '([^']*)'", read("meson.build")).group(1)
agent_store = f"/nix/store/00000000000000000000000000000000-grainvm-agent-{version}"

# The launcher's side of the contract.
port = re.search(r'#define GV_AGENT_PORT "([^"]+)"', read("launcher/boot/argv.h")).group(1)
spec_c = read("launcher/boot/spec.c")
msize = eval(re.search(r"#define SHARE_DEFAULT_MSIZE \(([^)]*)\)", spec_c).group(1))
cache = re.search(r'#define SHARE_DEFAULT_CACHE "([^"]+)"', spec_c).group(1)
ws_mount = re.search(r'"\[share workspace\]\\n"\s*"source=.\\n"\s*"mount=([^\\]+)\\n"', spec_c).group(1)
store_tag = re.search(r'#define NIXOS_STORE_TAG "([^"]+)"', spec_c).group(1)
store_mount = re.search(r'#define NIXOS_STORE_MOUNT "([^"]+)"', spec_c).group(1)

opts = {o["path"]: o for o in c["options"]}
check(set(opts) == {
    "services.grainvm-agent.enable", "services.grainvm-agent.package", "services.grainvm-agent.port",
    "services.grainvm-agent.extraArgs", "grainvm.workspace.enable", "grainvm.workspace.tag",
    "grainvm.workspace.mountPoint", "grainvm.workspace.msize", "grainvm.workspace.cache",
    "grainvm.build.command", "grainvm.vm.enable", "grainvm.vm.tmpfsRoot", "grainvm.vm.writableStore",
    "grainvm.vm.storeMsize"}, "the module declares exactly its options", sorted(opts))
want_defaults = {
    "services.grainvm-agent.enable": False,
    "services.grainvm-agent.package": f"grainvm-agent-{version}",
    "services.grainvm-agent.port": port,
    "grainvm.workspace.tag": "workspace",
    "grainvm.workspace.mountPoint": ws_mount,
    "grainvm.workspace.msize": msize,
    "grainvm.workspace.cache": cache,
    "grainvm.vm.enable": False,
    "grainvm.vm.storeMsize": msize,
}
for k, v in want_defaults.items():
    check(opts.get(k, {}).get("default") == v, f"default of {k} is {v!r} (the launcher's)",
          opts.get(k))
check(opts["grainvm.workspace.cache"]["type"] == 'one of "none", "mmap", "loose", "fscache"',
      "cache takes the spec's cache modes", opts["grainvm.workspace.cache"]["type"])

# The systemd unit and the udev rule, with the defaults.
d = c["defaults"]
unit = (
    "[Unit]\nDescription=grainvm guest agent\n\n[Service]\n"
    'Environment="HOME=/root"\n'
    'Environment="PATH=/run/wrappers/bin:/run/current-system/sw/bin"\n'
    f'ExecStart="{agent_store}/bin/grainvm-agent" "--port" "/dev/virtio-ports/{port}" '
    '"--mount" "workspace:/mnt/workspace" '
    '"--build-command" "nix build --print-build-logs --no-link --print-out-paths" '
    '"--build-cwd" "/mnt/workspace"\n'
    "Restart=always\nRestartSec=1\n"
    "RuntimeDirectory=grainvm\nRuntimeDirectoryMode=0755\nRuntimeDirectoryPreserve=restart\n")
check(d["unit"] == unit, "the agent's unit (defaults)", f"got:\n{d['unit']}\nwant:\n{unit}")
check(d["udev"] == f'SUBSYSTEM=="virtio-ports", ATTR{{name}}=="{port}", TAG+="systemd", '
      'ENV{SYSTEMD_WANTS}="grainvm-agent.service"\n', "udev starts the service when the port appears",
      d["udev"])
ninep = ["trans=virtio", "version=9p2000.L"]
modprobe = "x-systemd.requires=modprobe@9pnet_virtio.service"
check(d["fileSystems"] == {"/mnt/workspace": {
    "device": "workspace", "fsType": "9p",
    "options": ninep + [f"msize={msize}", f"cache={cache}", modprobe, "nofail"]}},
    "the workspace is a nofail 9p fileSystems entry", d["fileSystems"])

# Everything set: the port, the share, a build command needing systemd escapes.
cu = c["custom"]
check(cu["execStart"] == f'"{agent_store}/bin/grainvm-agent" "--port" "/dev/virtio-ports/org.example.agent.1" '
      '"--mount" "src:/src" "--build-command" "make -j4 \'all\' \\"x\\" 100%% $$HOME" '
      '"--build-cwd" "/src" "--state-dir" "/var/lib/grainvm"',
      "ExecStart quotes the build command for systemd (%% and $$)", cu["execStart"])
check(cu["udev"].startswith('SUBSYSTEM=="virtio-ports", ATTR{name}=="org.example.agent.1"'),
      "the udev rule follows the port", cu["udev"])
check(cu["fileSystems"] == {"/src": {"device": "src", "fsType": "9p",
                                     "options": ninep + ["msize=131072", "cache=loose", modprobe, "nofail"]}},
      "tag, mount point, msize and cache reach the fileSystems entry", cu["fileSystems"])

check(c["bare"]["execStart"] == f'"{agent_store}/bin/grainvm-agent" "--port" "/dev/virtio-ports/{port}"'
      and c["bare"]["fileSystems"] == {}, "no workspace, no build command: the agent alone", c["bare"])
check(c["importedOnly"]["unit"] is None and list(c["importedOnly"]["fileSystems"]) == ["/mnt/workspace"]
      and c["importedOnly"]["udev"] == "", "imported, not enabled: no agent, the workspace mount only",
      c["importedOnly"])

# grainvm.vm: what the [nixos] boot path needs from the guest.
vm = c["vm"]
fs = vm["fileSystems"]
check(sorted(fs) == ["/", "/mnt/workspace", "/nix/.ro-store", "/nix/.rw-store"], "vm: its mounts", sorted(fs))
check(fs.get(store_mount) == {"device": store_tag, "fsType": "9p", "neededForBoot": True,
                              "options": ninep + [f"msize={msize}", "cache=loose", modprobe, "ro"]},
      f"vm: the store share (tag {store_tag}) at {store_mount} in stage 1, read-only", fs.get(store_mount))
check(fs.get("/") == {"device": "tmpfs", "fsType": "tmpfs", "options": ["mode=0755"]}, "vm: root on tmpfs")
check("mount -t overlay overlay $targetRoot/nix/store" in vm["postMount"] and "overlay" in vm["initrdLoad"],
      "vm: the writable store overlay, its module loaded in stage 1", vm)
check(vm["agentEnabled"] and f'"--mount" "{store_tag}:{store_mount}"' in vm["execStart"],
      "vm: the agent runs and expects the store share", vm["execStart"])
check(not vm["grub"] and {"9p", "9pnet_virtio", "virtio_pci", "virtio_console"} <= set(vm["initrdModules"]),
      "vm: no boot loader; 9p and virtio in the initrd", vm)
check("regInfo=" in vm["postBoot"] and vm["regInfo"] == "closure-info",
      "vm: regInfo= loads the Nix database, system.build.grainvmRegInfo makes one", vm["postBoot"])
ro = c["vmReadOnlyStore"]
check(ro["fileSystems"].get("/nix/store") == {"device": store_mount, "fsType": "auto", "options": ["bind"],
                                             "neededForBoot": True}
      and "/nix/.rw-store" not in ro["fileSystems"] and ro["postMount"] == ""
      and ro["fileSystems"]["/"] == {"device": "/dev/vda", "fsType": "ext4", "options": ["defaults"]},
      "vm, read-only store, own root: a bind mount, no overlay, the user's root untouched", ro["fileSystems"])
sd = c["vmSystemdInitrd"]
check(sd["postMount"] == "" and [m["where"] for m in sd["initrdMounts"]] == ["/sysroot/nix/store"]
      and sd["initrdServices"] == ["grainvm-rw-store"], "vm with systemd in stage 1: the overlay as a mount unit",
      sd)
check(not c["vmAgentOff"]["agentEnabled"] and c["vmAgentOff"]["unit"] is None,
      "vm: the agent can still be switched off")
for k, v in c["rejected"].items():
    check(v, f"a bad {k} is rejected by its option type")

# The flake and nix/default.nix.
fl = c["flake"]
check(fl["packages"] == ["default", "grainvm", "grainvm-agent"], "flake packages", fl["packages"])
check("grainvm-guest" in fl["modules"] and fl["moduleIsFile"], "flake nixosModules.grainvm-guest is nix/module.nix")
check(fl["templates"] == ["default"], "flake template")
check(fl["exampleHost"] == "test-vm" and sorted(fl["example"]["fileSystems"]) == sorted(fs),
      "the example test VM evaluates with grainvm.vm", fl["example"]["fileSystems"].keys())
ag = fl["agent"]
check(ag["name"] == f"grainvm-agent-{version}" and "-static" in ag["buildPhase"]
      and f"-DGV_AGENT_VERSION='\"{version}\"'" in ag["buildPhase"] and ag["mainProgram"] == "grainvm-agent",
      "the agent package: static, versioned from meson.build", ag["buildPhase"])
meson_agent = read("guest-agent/meson.build")
musl_cmd = meson_agent[meson_agent.index("command: [agent_cc_prog,"):meson_agent.index("'-o', '@OUTPUT@'")]
flags = [f for f in re.findall(r"'(-[^']+)'", musl_cmd) if not f.startswith("-DGV_AGENT_VERSION")]
missing = [f for f in flags if f not in ag["buildPhase"]]
check(flags and not missing, f"the agent package uses guest-agent/meson.build's {len(flags)} flags", missing)
check(ag["srcTakes"] == [True, False, False] and ag["srcTakesDir"],
      "the agent's source is guest-agent/ only", ag["srcTakes"])
ho = fl["host"]
check(ho["name"] == f"grainvm-{version}"
      and ho["mesonFlags"] == ["-Dagent_cc=/nix/store/00000000000000000000000000000000-cc/bin/x86_64-unknown-linux-musl-cc"],
      "the host package builds its initramfs agent with pkgsStatic's cc", ho["mesonFlags"])
check("GRAINVM_BUSYBOX" in ho["postInstall"] and "qemu" in ho["postInstall"], "the host package wraps QEMU and busybox",
      ho["postInstall"])
check(ho["srcTakes"] == [True, False, False, True], "the host source leaves build directories out", ho["srcTakes"])
check(fl["sameAsDefaultNix"], "flake.nix and nix/default.nix build the same packages")

# NixOS's merge rules, which the stand-in module system did not have.
ur = c["userRestart"]
check(ur["plain"], "a user's second Restart= for the agent is a conflict, as in NixOS")
check(ur["forced"] == "on-failure", "mkForce overrides the module's Restart=", ur["forced"])
check("ExecStartPre=/bin/true\n" in ur["extra"] and "Restart=always\n" in ur["extra"],
      "a user's own directive adds to the module's unit", ur["extra"])

# ---- 3. packaging/systemd's unit and rule say what the module's say ----------------
def unit_directives(text):
    out = {}
    for line in text.splitlines():
        if line and not line.startswith(("#", "[")):
            k, _, v = line.partition("=")
            out.setdefault(k, []).append(v)
    return out

deb_unit = unit_directives(read("packaging/systemd/grainvm-agent.service"))
nix_unit = unit_directives(c["bare"]["unit"])
for k in ("Description", "Restart", "RestartSec", "RuntimeDirectory", "RuntimeDirectoryMode",
          "RuntimeDirectoryPreserve"):
    check(deb_unit.get(k) == nix_unit.get(k), f"grainvm-agent.service and the module agree on {k}",
          f"packaging/systemd: {deb_unit.get(k)}, module: {nix_unit.get(k)}")
check('"HOME=/root"' in deb_unit.get("Environment", []), "grainvm-agent.service sets HOME=/root as the module does",
      deb_unit.get("Environment"))
deb_exec = shlex.split(deb_unit["ExecStart"][0])
nix_exec = shlex.split(c["bare"]["execStart"])
check(deb_exec[1:3] == nix_exec[1:] == ["--port", f"/dev/virtio-ports/{port}"]
      and deb_exec[3:] == ["$GRAINVM_AGENT_OPTS"],
      "grainvm-agent.service runs the agent on the module's port, plus GRAINVM_AGENT_OPTS", deb_exec)
deb_rule = [l for l in read("packaging/systemd/60-grainvm-agent.rules").splitlines() if l and not l.startswith("#")]
link = ' SYMLINK+="virtio-ports/$attr{name}",'
check(len(deb_rule) == 1 and link in deb_rule[0] and deb_rule[0].replace(link, "") + "\n" == d["udev"],
      "60-grainvm-agent.rules is the module's rule plus the /dev/virtio-ports link", deb_rule)

# ---- 4. docs/guests.md's fstab line is the module's workspace entry ------------------
fstab = [l.split() for l in read("docs/guests.md").splitlines() if l.startswith("    workspace ")]
ws = d["fileSystems"]["/mnt/workspace"]
check(len(fstab) == 1 and fstab[0][:3] == [ws["device"], "/mnt/workspace", ws["fsType"]]
      and sorted(fstab[0][3].split(",")) == sorted(ws["options"]) and fstab[0][4:] == ["0", "0"],
      "docs/guests.md's fstab line mounts what the module mounts (tag, msize, cache: the launcher's)",
      f"{fstab} vs {ws}")

print(f"# {failures} failed" if failures else "# all passed")
sys.exit(1 if failures else 0)
