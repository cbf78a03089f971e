# tests/packaging/nix/stand-in.nix - a STAND-IN for nixpkgs, for checking
# grainvm's Nix files on a machine with Debian's nix-bin and no nixpkgs.
#
# This is NOT nixpkgs and NOT the NixOS module system.  It is the small part
# of both that nix/module.nix, nix/default.nix and flake.nix use, written
# from their documented behaviour:
#
#   lib        mkOption, mkIf, mkMerge, mkDefault/mkForce, the option types
#              the module uses (with their checks), string and list helpers
#   evalModules
#              options are declared by modules; definitions are merged: mkMerge
#              is flattened, mkIf and priorities are pushed down into
#              attribute sets (so attribute names never depend on conditions,
#              as in NixOS), lists concatenate, `lines` join with newlines,
#              other values must agree; an option's default applies when
#              nothing defines it; an undeclared path merges freely (like a
#              freeform submodule)
#   nixos      declarations of the few NixOS options whose type changes how
#              the module's definitions merge (lines, lists, booleans read by
#              the module)
#   pkgs       callPackage with stub derivations: packages are evaluated (their
#              attributes can be checked) but never built
#   render     a systemd unit as text from systemd.services.NAME, in the shape
#              NixOS writes (NixOS adds more: default PATH entries, Unit
#              dependencies, X-* keys)
#
# What passes here can still fail against real nixpkgs (an option renamed
# upstream, a type stricter than this one): see docs/nixos.md for what needs
# a machine with Nix and nixpkgs.
let
  b = builtins;

  # ---- lib ----------------------------------------------------------------

  lib = rec {
    inherit (b) elem filter head tail length toJSON attrNames;

    id = x: x;
    optional = c: x: if c then [ x ] else [ ];
    optionals = c: xs: if c then xs else [ ];
    optionalString = c: s: if c then s else "";
    optionalAttrs = c: a: if c then a else { };
    concatStringsSep = b.concatStringsSep;
    concatMapStringsSep = sep: f: xs: b.concatStringsSep sep (map f xs);
    concatMap = f: xs: b.concatLists (map f xs);
    hasPrefix = p: s: b.substring 0 (b.stringLength p) s == p;
    removePrefix = p: s:
      if hasPrefix p s then b.substring (b.stringLength p) (b.stringLength s) s else s;
    makeBinPath = xs: b.concatStringsSep ":" (map (x: "${toString x}/bin") xs);
    genAttrs = names: f: b.listToAttrs (map (n: { name = n; value = f n; }) names);
    mapAttrs = b.mapAttrs;
    filterAttrs = pred: set:
      b.listToAttrs (b.concatMap (n: if pred n set.${n} then [{ name = n; value = set.${n}; }] else [ ])
        (b.attrNames set));
    recursiveUpdate = l: r: l // b.mapAttrs
      (n: v: if b.isAttrs v && b.isAttrs (l.${n} or null) && !(v ? _type) then recursiveUpdate l.${n} v else v) r;
    isDerivation = x: b.isAttrs x && (x.type or null) == "derivation";
    escapeShellArg = s: "'" + b.replaceStrings [ "'" ] [ "'\\''" ] (toString s) + "'";
    escapeShellArgs = xs: b.concatStringsSep " " (map escapeShellArg xs);

    literalExpression = text: { _type = "literalExpression"; inherit text; };

    mkOption = attrs: attrs // { _type = "option"; };
    mkEnableOption = name: mkOption {
      type = types.bool;
      default = false;
      description = "Whether to enable ${name}.";
    };
    mkIf = condition: content: { _type = "if"; inherit condition content; };
    mkMerge = contents: { _type = "merge"; inherit contents; };
    mkOverride = priority: content: { _type = "override"; inherit priority content; };
    mkDefault = mkOverride 1000;
    mkForce = mkOverride 50;

    # A source filter is kept as data, so that a test can call it.
    cleanSourceWith = { src, filter ? _: _: true, name ? "source" }:
      { _standInSource = true; inherit src filter name; outPath = toString (src.outPath or src); };
    cleanSource = src: src;

    licenses.mit = { spdxId = "MIT"; };
    platforms.linux = [ "x86_64-linux" "aarch64-linux" ];

    types = rec {
      mkType = name: check: { inherit name check; merge = mergeEqual; };
      bool = mkType "bool" b.isBool;
      str = mkType "str" b.isString;
      int = mkType "int" b.isInt;
      package = mkType "package" isDerivation;
      unspecified = mkType "unspecified" (_: true);
      anything = unspecified;
      lines = { name = "lines"; check = b.isString; merge = _: vs: b.concatStringsSep "\n" vs; };
      strMatching = re: mkType "strMatching ${re}" (v: b.isString v && b.match re v != null);
      enum = vals: mkType "one of ${toJSON vals}" (v: b.elem v vals);
      ints = {
        between = lo: hi: mkType "int between ${toString lo} and ${toString hi}"
          (v: b.isInt v && v >= lo && v <= hi);
        positive = mkType "positive int" (v: b.isInt v && v > 0);
      };
      listOf = t: {
        name = "list of ${t.name}";
        check = v: b.isList v && b.all t.check v;
        merge = _: b.concatLists;
      };
      nullOr = t: {
        name = "null or ${t.name}";
        check = v: v == null || t.check v;
        merge = path: vs: let nn = b.filter (v: v != null) vs; in
          if nn == [ ] then null
          else if b.length nn != b.length vs then conflict path vs
          else t.merge path nn;
      };
      attrsOf = t: {
        name = "attrs of ${t.name}";
        check = v: b.isAttrs v && b.all t.check (b.attrValues v);
        merge = path: vs: b.zipAttrsWith (n: t.merge (path ++ [ n ])) vs;
      };
    };

    conflict = path: vs: throw
      "stand-in: the option `${b.concatStringsSep "." path}' has conflicting definitions: ${toJSON (map (v: if isDerivation v then v.name else v) vs)}";
    mergeEqual = path: vs:
      if b.all (v: v == b.head vs) vs then b.head vs else conflict path vs;
  };

  # ---- evalModules ----------------------------------------------------------

  isOption = x: b.isAttrs x && (x._type or null) == "option";

  # A definition's attribute set, with mkMerge flattened and mkIf/priorities
  # moved onto each attribute (conditions are not evaluated here).
  pushAttrs = d:
    let t = d._type or null; in
    if t == "merge" then lib.concatMap pushAttrs d.contents
    else if t == "if" then map (a: b.mapAttrs (_: lib.mkIf d.condition) a) (pushAttrs d.content)
    else if t == "override" then map (a: b.mapAttrs (_: lib.mkOverride d.priority) a) (pushAttrs d.content)
    else [ d ];

  # What a definition is, under its mkIf/mkOverride wrappers.
  peel = d:
    let t = d._type or null; in
    if t == "if" || t == "override" then peel d.content else d;
  isAttrNode = d:
    let p = peel d; in
    (b.isAttrs p && !(p ? _type) && !lib.isDerivation p && !(p ? outPath))
    || (b.isAttrs p && (p._type or null) == "merge");

  # Leaf definitions: [{ value, priority }] of those whose conditions hold.
  leaves = prio: d:
    let t = d._type or null; in
    if t == "merge" then lib.concatMap (leaves prio) d.contents
    else if t == "if" then (if d.condition then leaves prio d.content else [ ])
    else if t == "override" then leaves d.priority d.content
    else [{ value = d; priority = prio; }];

  resolve = path: defs:
    let
      ls = lib.concatMap (leaves 100) defs;
      best = b.foldl' (m: l: if l.priority < m then l.priority else m) 9999 ls;
    in
    map (l: l.value) (b.filter (l: l.priority == best) ls);

  mergeOption = path: opt: defs:
    let
      vs = resolve path defs;
      name = b.concatStringsSep "." path;
      bad = b.filter (v: !opt.type.check v) vs;
    in
    if vs == [ ] then
      (if opt ? default then opt.default
       else throw "stand-in: the option `${name}' is used but not defined")
    else if bad != [ ] then
      throw "stand-in: the option `${name}' (${opt.type.name}) is given ${b.toJSON (b.head bad)}"
    else opt.type.merge path vs;

  mergeFree = path: defs:
    let vs = resolve path defs; in
    if vs == [ ] then throw "stand-in: nothing defines `${b.concatStringsSep "." path}'"
    else if b.all b.isList vs then b.concatLists vs
    else lib.mergeEqual path vs;

  # Whether a definition survives its conditions.
  alive = d:
    let t = d._type or null; in
    if t == "if" then d.condition && alive d.content
    else if t == "override" then alive d.content
    else if t == "merge" then b.any alive d.contents
    else true;

  mergeAt = path: decl: defs:
    if isOption decl then mergeOption path decl defs
    else if decl == null && !(b.all isAttrNode defs) then mergeFree path defs
    else
      let
        attrDefs = lib.concatMap pushAttrs defs;
        all = b.attrNames (b.foldl' (acc: a: acc // a) (if decl == null then { } else decl) attrDefs);
        # Undeclared attribute sets (fileSystems, systemd.services) behave as
        # NixOS's attrsOf: a name all of whose definitions are switched off
        # by mkIf does not exist.  Declared levels keep every name, so that
        # the names never depend on the conditions' values.
        names = if decl != null then all
          else b.filter (n: b.any (a: a ? ${n} && alive a.${n}) attrDefs) all;
      in
      lib.genAttrs names (n:
        mergeAt (path ++ [ n ])
          (if decl != null && decl ? ${n} then decl.${n} else null)
          (lib.concatMap (a: if a ? ${n} then [ a.${n} ] else [ ]) attrDefs));

  evalModules = { modules, specialArgs ? { } }:
    let
      args = { inherit lib pkgs config options; modulesPath = "/stand-in/nixos/modules"; } // specialArgs;
      load = m:
        let
          f = if b.isPath m || b.isString m then import m else m;
          v = if b.isFunction f then f args else f;
        in
        [ v ] ++ lib.concatMap load (v.imports or [ ]);
      loaded = lib.concatMap load modules;
      options = b.foldl' lib.recursiveUpdate { } (map (v: v.options or { }) loaded);
      defs = map (v: if v ? options || v ? config then v.config or { }
                     else removeAttrs v [ "imports" "_file" ]) loaded;
      config = mergeAt [ ] options defs;
    in
    { inherit config options; };

  # ---- NixOS declarations whose type matters here ---------------------------

  nixos = { lib, ... }: with lib; {
    options = {
      services.udev.extraRules = mkOption { type = types.lines; default = ""; };
      boot.initrd.postMountCommands = mkOption { type = types.lines; default = ""; };
      boot.postBootCommands = mkOption { type = types.lines; default = ""; };
      boot.initrd.availableKernelModules = mkOption { type = types.listOf types.str; default = [ ]; };
      boot.initrd.kernelModules = mkOption { type = types.listOf types.str; default = [ ]; };
      boot.initrd.systemd.enable = mkOption { type = types.bool; default = false; };
      boot.initrd.systemd.mounts = mkOption { type = types.listOf types.anything; default = [ ]; };
      boot.loader.grub.enable = mkOption { type = types.bool; default = true; };
      nix.enable = mkOption { type = types.bool; default = true; };
      nix.package = mkOption { type = types.package; default = stub "nix-2.24"; };
      environment.systemPackages = mkOption { type = types.listOf types.package; default = [ ]; };
      system.stateVersion = mkOption { type = types.str; };
    };
    config.system.build.toplevel = stub "nixos-system-stand-in";
  };

  # ---- pkgs -------------------------------------------------------------------

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
  };
  pkgs = mkPkgs false // { inherit pkgsStatic; };
  pkgsStatic = mkPkgs true;

  # ---- a systemd unit as text ---------------------------------------------------

  iniValue = v: if b.isBool v then (if v then "true" else "false") else toString v;
  section = name: attrs:
    "[${name}]\n" + b.concatStringsSep "" (map (k: "${k}=${iniValue attrs.${k}}\n") (b.attrNames attrs));
  render = s:
    let
      env = (s.environment or { })
        // lib.optionalAttrs ((s.path or [ ]) != [ ]) { PATH = lib.makeBinPath s.path; };
    in
    section "Unit" ({ Description = s.description or ""; } // (s.unitConfig or { }))
    + "\n[Service]\n"
    + b.concatStringsSep "" (map (k: "Environment=\"${k}=${env.${k}}\"\n") (b.attrNames env))
    + b.concatStringsSep "" (map (k: "${k}=${iniValue s.serviceConfig.${k}}\n") (b.attrNames s.serviceConfig));
in
{
  inherit lib pkgs evalModules nixos render;

  # As nixpkgs' flake: lib.nixosSystem and legacyPackages.
  nixpkgs = {
    lib = lib // {
      nixosSystem = { system, modules }: evalModules { modules = [ nixos ] ++ modules; };
    };
    legacyPackages.x86_64-linux = pkgs;
  };
}
