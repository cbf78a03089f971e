# tests/packaging/nix/cases.nix - grainvm's Nix files evaluated with the
# real nixpkgs lib (lib.evalModules) over nixos-options.nix, with the
# STAND-IN packages of stand-in.nix; test-nix.py checks the result.
#
#   nix-instantiate --store dummy:// --eval --strict --json cases.nix \
#     --arg root ../../.. --arg nixpkgsLib /tmp/x/nixpkgs-lib/lib
{ root, nixpkgsLib }:

let
  lib = import nixpkgsLib;
  s = import ./stand-in.nix { inherit lib; };
  b = builtins;

  eval = user: (s.evalNixos [ (root + "/nix/module.nix") user ]).config;

  # What a test compares of a fileSystems entry: NixOS's other options keep
  # their defaults here; neededForBoot only where set.
  fsView = fs: { inherit (fs) device fsType options; } // lib.optionalAttrs fs.neededForBoot { neededForBoot = true; };

  # What a test looks at in an evaluated system.
  view = c: {
    unit = if c ? systemd && c.systemd ? services && c.systemd.services ? grainvm-agent
      then s.render c.systemd.services.grainvm-agent else null;
    execStart = c.systemd.services.grainvm-agent.serviceConfig.ExecStart or null;
    udev = c.services.udev.extraRules;
    fileSystems = b.mapAttrs (_: fsView) c.fileSystems;
    initrdModules = c.boot.initrd.availableKernelModules;
    initrdLoad = c.boot.initrd.kernelModules;
    postMount = c.boot.initrd.postMountCommands;
    postBoot = c.boot.postBootCommands;
    initrdMounts = c.boot.initrd.systemd.mounts;
    initrdServices = b.attrNames (c.boot.initrd.systemd.services or { });
    grub = c.boot.loader.grub.enable;
    agentEnabled = c.services.grainvm-agent.enable;
    regInfo = (c.system.build.grainvmRegInfo or { name = null; }).name;
  };

  base = { system.stateVersion = "24.05"; };

  # The module's options, with their defaults (packages by name).
  options = (s.evalNixos [ (root + "/nix/module.nix") base ]).options;
  optionView = prefix: set: b.concatLists (map
    (n:
      let o = set.${n}; p = prefix ++ [ n ]; in
      if (o._type or null) == "option" then [{
        path = b.concatStringsSep "." p;
        type = o.type.description;
        default = if !(o ? default) then "(none)"
          else if lib.isDerivation o.default then o.default.name else o.default;
      }]
      else optionView p o)
    (b.attrNames set));

  flake = import (root + "/flake.nix");
  outputs = flake.outputs { self = outputs; nixpkgs = s.nixpkgs; };
  direct = import (root + "/nix") { pkgs = s.pkgs; };
  agent = outputs.packages.x86_64-linux.grainvm-agent;
  host = outputs.packages.x86_64-linux.default;
  under = rel: toString root + "/" + rel;
in
{
  standIn = "evaluated with nixpkgs lib ${lib.version} (lib.evalModules), NixOS option declarations from tests/packaging/nix/nixos-options.nix and stand-in packages";

  options = optionView [ ] { inherit (options) grainvm; services = { inherit (options.services) grainvm-agent; }; };

  defaults = view (eval (base // { services.grainvm-agent.enable = true; }));

  custom = view (eval (base // {
    services.grainvm-agent = {
      enable = true;
      port = "org.example.agent.1";
      extraArgs = [ "--state-dir" "/var/lib/grainvm" ];
    };
    grainvm.workspace = { tag = "src"; mountPoint = "/src"; msize = 131072; cache = "loose"; };
    grainvm.build.command = "make -j4 'all' \"x\" 100% $HOME";
  }));

  # The module imported, nothing enabled: only the workspace mount.
  importedOnly = view (eval base);

  bare = view (eval (base // {
    services.grainvm-agent.enable = true;
    grainvm.workspace.enable = false;
    grainvm.build.command = null;
  }));

  vm = view (eval (base // { grainvm.vm.enable = true; }));
  vmReadOnlyStore = view (eval (base // { grainvm.vm = { enable = true; writableStore = false; tmpfsRoot = false; }; fileSystems."/" = { device = "/dev/vda"; fsType = "ext4"; }; }));
  vmSystemdInitrd = view (eval (base // { grainvm.vm.enable = true; boot.initrd.systemd.enable = true; }));
  vmAgentOff = view (eval (base // { grainvm.vm.enable = true; services.grainvm-agent.enable = false; }));

  # NixOS's merge rules for unit options: a second value for Restart is a
  # conflict; mkForce wins; a list adds repeated directives.
  userRestart = {
    plain = !(b.tryEval (b.deepSeq (eval (base // { services.grainvm-agent.enable = true;
      systemd.services.grainvm-agent.serviceConfig.Restart = "on-failure"; })).systemd.services true)).success;
    forced = (eval (base // { services.grainvm-agent.enable = true;
      systemd.services.grainvm-agent.serviceConfig.Restart = lib.mkForce "on-failure"; })).systemd.services.grainvm-agent.serviceConfig.Restart;
    extra = s.render (eval (base // { services.grainvm-agent.enable = true;
      systemd.services.grainvm-agent.serviceConfig.ExecStartPre = [ "/bin/true" ]; })).systemd.services.grainvm-agent;
  };

  # Values a type check rejects make the evaluation fail.
  rejected = {
    cache = !(b.tryEval (b.deepSeq (eval (base // { grainvm.workspace.cache = "bogus"; })).fileSystems true)).success;
    msize = !(b.tryEval (b.deepSeq (eval (base // { grainvm.workspace.msize = 100; })).fileSystems true)).success;
    port = !(b.tryEval (b.deepSeq (eval (base // { services.grainvm-agent = { enable = true; port = "a b"; }; })).systemd true)).success;
    command = !(b.tryEval (b.deepSeq (eval (base // { services.grainvm-agent.enable = true; grainvm.build.command = "a\nb"; })).systemd true)).success;
    mountPoint = !(b.tryEval (b.deepSeq (eval (base // { grainvm.workspace.mountPoint = "relative"; })).fileSystems true)).success;
  };

  flake = {
    packages = b.attrNames outputs.packages.x86_64-linux;
    modules = b.attrNames outputs.nixosModules;
    moduleIsFile = outputs.nixosModules.grainvm-guest == root + "/nix/module.nix";
    templates = b.attrNames outputs.templates;
    example = view outputs.nixosConfigurations.grainvm-example.config;
    exampleHost = outputs.nixosConfigurations.grainvm-example.config.networking.hostName;
    agent = {
      inherit (agent) name buildPhase installPhase;
      mainProgram = agent.meta.mainProgram;
      srcTakes = map (p: agent.src.filter (under p) "regular") [ "guest-agent/main.c" "launcher/cli/main.c" "meson.build" ];
      srcTakesDir = agent.src.filter (under "guest-agent") "directory";
    };
    host = {
      inherit (host) name mesonFlags postInstall;
      srcTakes = map (p: host.src.filter (under p) "directory") [ "launcher" "build" "build-asan" "tests" ];
    };
    sameAsDefaultNix = direct.grainvm.name == host.name && direct.grainvm-agent.name == agent.name;
  };
}
