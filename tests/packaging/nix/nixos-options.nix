# tests/packaging/nix/nixos-options.nix - declarations of the NixOS options
# grainvm's module and example set, for evaluating them with the real
# nixpkgs lib (lib.evalModules) where nixpkgs' nixos/ tree is not at hand.
#
# Written here from the types NixOS declares these options with (read in
# nixpkgs' nixos/modules: system/boot/systemd.nix and
# nixos/lib/systemd-unit-options.nix for units, tasks/filesystems.nix for
# fileSystems, services/hardware/udev.nix, system/boot/stage-1.nix and
# stage-2.nix, services/system/nix-daemon.nix, misc/version.nix,
# tasks/network-interfaces.nix), so that a value NixOS would reject is
# rejected here: a unit option defined twice with two values, a list and a
# non-list for one unit option, a Restart= systemd does not know, a
# description over one line, an empty fileSystems option, a mount point with
# a trailing slash, a bad host name.  Only the options the module and the
# example touch are declared, with only what their types need; what NixOS
# does with them (unit files, stage 1 scripts) is not here: test-nix.py
# renders the agent's unit itself.  Packages are stand-ins (cases.nix).
{ lib, pkgs, config, ... }:

let
  inherit (lib) mkOption types;
  b = builtins;

  # A systemd directive's value: equal definitions merge, lists (repeated
  # directives) concatenate, a list mixed with a non-list is an error.
  unitOption = lib.mkOptionType {
    name = "systemd option";
    check = v: builtins.isList v || builtins.isString v || builtins.isInt v
      || builtins.isBool v || builtins.isPath v || lib.isDerivation v;
    merge = loc: defs:
      let lists = builtins.filter (d: builtins.isList d.value) defs; in
      if lists == [ ] then lib.mergeEqualOption loc defs
      else if builtins.length lists != builtins.length defs then
        throw "systemd option `${lib.showOption loc}': lists mixed with single values"
      else lib.concatMap (d: d.value) defs;
  };

  unitName = types.str;
  unitList = mkOption { type = types.listOf unitName; default = [ ]; };

  # What every unit declares (NixOS: commonUnitOptions).
  commonUnit = {
    options = {
      enable = mkOption { type = types.bool; default = true; };
      description = mkOption { type = types.singleLineStr; default = ""; };
      documentation = mkOption { type = types.listOf types.str; default = [ ]; };
      wantedBy = unitList;
      requiredBy = unitList;
      requires = unitList;
      wants = unitList;
      after = unitList;
      before = unitList;
      bindsTo = unitList;
      partOf = unitList;
      conflicts = unitList;
      unitConfig = mkOption { type = types.attrsOf unitOption; default = { }; };
    };
  };

  restartValues = [ "no" "on-success" "on-failure" "on-abnormal" "on-watchdog" "on-abort" "always" ];
  typeValues = [ "exec" "simple" "forking" "oneshot" "dbus" "notify" "notify-reload" "idle" ];
  # The check sees definitions before priorities are applied: look under
  # mkForce/mkIf wrappers, as NixOS's does.
  unwrap = v: if b.elem (v._type or "") [ "override" "if" ] then unwrap v.content else v;
  checkService = cfg:
    let c = b.mapAttrs (_: unwrap) cfg; in
    (!(c ? Restart) || b.elem c.Restart restartValues)
    && (!(c ? Type) || b.elem c.Type typeValues);

  service = {
    imports = [ commonUnit ];
    options = {
      environment = mkOption {
        type = types.attrsOf (types.nullOr (types.oneOf [ types.str types.path types.package ]));
        default = { };
      };
      path = mkOption { type = types.listOf (types.oneOf [ types.package types.str ]); default = [ ]; };
      serviceConfig = mkOption {
        type = types.addCheck (types.attrsOf unitOption) checkService;
        default = { };
      };
      script = mkOption { type = types.lines; default = ""; };
    };
  };

  mount = {
    imports = [ commonUnit ];
    options = {
      what = mkOption { type = types.str; };
      where = mkOption { type = types.str; };
      type = mkOption { type = types.str; default = ""; };
      options = mkOption { type = types.commas; default = ""; };
      mountConfig = mkOption { type = types.attrsOf unitOption; default = { }; };
    };
  };

  # NixOS: a non-empty string with no trailing slash (but "/").
  mountPath = types.addCheck types.nonEmptyStr (s: s == "/" || !(lib.hasSuffix "/" s));

  fileSystem = { name, ... }: {
    options = {
      mountPoint = mkOption { type = mountPath; default = name; };
      device = mkOption { type = types.nullOr types.nonEmptyStr; default = null; };
      fsType = mkOption { type = types.nonEmptyStr; default = "auto"; };
      options = mkOption { type = types.nonEmptyListOf types.nonEmptyStr; default = [ "defaults" ]; };
      depends = mkOption { type = types.listOf mountPath; default = [ ]; };
      label = mkOption { type = types.nullOr types.str; default = null; };
      neededForBoot = mkOption { type = types.bool; default = false; };
      noCheck = mkOption { type = types.bool; default = false; };
    };
  };

  # nix.conf settings: free-form, each value an atom or a list of atoms.
  nixSetting = types.oneOf [ types.bool types.int types.float types.str types.path types.package
    (types.listOf (types.oneOf [ types.bool types.int types.str types.path types.package ])) ];
in
{
  options = {
    systemd.services = mkOption { type = types.attrsOf (types.submodule service); default = { }; };

    fileSystems = mkOption { type = types.attrsOf (types.submodule fileSystem); default = { }; };

    services.udev.extraRules = mkOption { type = types.lines; default = ""; };
    services.getty.autologinUser = mkOption { type = types.nullOr types.str; default = null; };

    boot.loader.grub.enable = mkOption { type = types.bool; default = true; };
    boot.initrd.availableKernelModules = mkOption { type = types.listOf types.str; default = [ ]; };
    boot.initrd.kernelModules = mkOption { type = types.listOf types.str; default = [ ]; };
    boot.initrd.postMountCommands = mkOption { type = types.lines; default = ""; };
    boot.initrd.systemd.enable = mkOption { type = types.bool; default = false; };
    boot.initrd.systemd.services = mkOption { type = types.attrsOf (types.submodule service); default = { }; };
    boot.initrd.systemd.mounts = mkOption { type = types.listOf (types.submodule mount); default = [ ]; };
    boot.postBootCommands = mkOption { type = types.lines; default = ""; };

    nix.enable = mkOption { type = types.bool; default = true; };
    nix.package = mkOption { type = types.package; default = pkgs.nix; };
    nix.settings = mkOption {
      type = types.submodule { freeformType = types.attrsOf nixSetting; };
      default = { };
    };

    networking.hostName = mkOption {
      type = types.strMatching "^$|^[[:alnum:]]([[:alnum:]_-]{0,61}[[:alnum:]])?$";
      default = "nixos";
    };

    environment.systemPackages = mkOption { type = types.listOf types.package; default = [ ]; };

    system.stateVersion = mkOption { type = types.str; };
    # Free-form, as NixOS's: what other modules build (toplevel, grainvmRegInfo).
    system.build = mkOption {
      type = types.submoduleWith { modules = [{ freeformType = types.lazyAttrsOf types.unspecified; }]; };
      default = { };
    };
  };

  config.system.build.toplevel = pkgs.stubSystem config.networking.hostName;
}
