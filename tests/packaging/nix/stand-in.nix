# tests/packaging/nix/stand-in.nix - STAND-IN packages for evaluating
# grainvm's Nix files with the real nixpkgs lib but without nixpkgs
#
#   import ./stand-in.nix { lib = <nixpkgs' lib>; }
#
# The module system and lib are nixpkgs' own (test-nix.py unpacks the
# tarball .ci/run names); what cannot exist here is nixpkgs' package set
# and its nixos/ tree.  So:
#
#   pkgs       derivations as plain attribute sets (name, outPath under a
#              fake hash, the attributes given to mkDerivation kept, so
#              that a test can read buildPhase or a source filter), a
#              callPackage that fills arguments from them, pkgsStatic
#   nixpkgs    as nixpkgs' flake: lib (the real one) with nixosSystem, which
#              is lib.evalModules over nixos-options.nix (declarations of
#              the NixOS options grainvm sets, with NixOS's types) and the
#              given modules, and legacyPackages
#   render     a systemd unit as text from an evaluated systemd.services.NAME,
#              in the shape NixOS writes (NixOS adds more: default PATH
#              entries, Unit dependencies, X-* keys)
{ lib }:

let
  b = builtins;

  fakeHash = "00000000000000000000000000000000";
  stub = name: { type = "derivation"; inherit name; outPath = "/nix/store/${fakeHash}-${name}"; out = stub name; };

  mkPkgs = static: rec {
    inherit lib;
    stdenv = {
      hostPlatform = { isStatic = static; system = "x86_64-linux"; };
      cc = stub "cc" // { targetPrefix = if static then "x86_64-unknown-linux-musl-" else ""; };
      mkDerivation = attrs:
        let name = attrs.name or "${attrs.pname}-${attrs.version}"; in
        attrs // { type = "derivation"; inherit name; outPath = "/nix/store/${fakeHash}-${name}"; };
    };
    callPackage = fn: args:
      let
        f = if b.isPath fn then import fn else fn;
        wanted = lib.filterAttrs (n: hasDefault: !hasDefault && !(args ? ${n})) (b.functionArgs f);
        auto = b.mapAttrs (n: _: pkgs'.${n} or (stub n)) wanted;
        pkgs' = if static then pkgsStatic else pkgs;
      in
      f (auto // args);
    closureInfo = { rootPaths }: stub "closure-info";
    mkShell = attrs: stub "nix-shell";
    git = stub "git";
    hello = stub "hello";
    busybox = stub "busybox";
    nix = stub "nix-2.24";
    stubSystem = host: stub "nixos-system-${host}";
  };
  pkgs = mkPkgs false // { inherit pkgsStatic; };
  pkgsStatic = mkPkgs true;

  evalNixos = modules: lib.evalModules {
    specialArgs.modulesPath = "/stand-in/nixos/modules";
    modules = [ ./nixos-options.nix { _module.args.pkgs = pkgs; } ] ++ modules;
  };

  iniValue = v: if b.isBool v then (if v then "true" else "false") else toString v;
  # A list is a directive repeated, as NixOS writes it.
  directives = attrs: lib.concatMapStrings
    (k: lib.concatMapStrings (v: "${k}=${iniValue v}\n") (lib.toList attrs.${k}))
    (b.attrNames attrs);
  render = s:
    let
      env = lib.filterAttrs (_: v: v != null) s.environment
        // lib.optionalAttrs (s.path != [ ]) { PATH = lib.makeBinPath s.path; };
    in
    "[Unit]\n" + directives ({ Description = s.description; } // s.unitConfig)
    + "\n[Service]\n"
    + lib.concatMapStrings (k: "Environment=\"${k}=${env.${k}}\"\n") (b.attrNames env)
    + directives s.serviceConfig;
in
{
  inherit pkgs evalNixos render;

  nixpkgs = {
    lib = lib // { nixosSystem = { system, modules }: evalNixos modules; };
    legacyPackages.x86_64-linux = pkgs;
  };
}
