# nix/default.nix - grainvm for Nix without flakes
#
#   nix-build nix -A grainvm           # the host tool
#   nix-build nix -A grainvm-agent     # the static guest agent
#   imports = [ /path/to/grainvm/nix/module.nix ];   # NixOS guests
#
# flake.nix calls this file too, so both ways build the same thing.
{ pkgs ? import <nixpkgs> { } }:

let
  inherit (pkgs) lib;

  root = ../.;
  rel = path: lib.removePrefix (toString root + "/") (toString path);

  # The project's version, from the one place it is written.
  version = builtins.head
    (builtins.elemAt (builtins.split "[^_]version: '([^']*)'" (builtins.readFile ../meson.build)) 1);

  # The tree without build directories, results and VCS data.
  src = lib.cleanSourceWith {
    name = "grainvm-source";
    src = lib.cleanSource root;
    filter = path: type: !(type == "directory" && builtins.match "build.*" (rel path) != null);
  };

  # Only guest-agent/: the agent is rebuilt when the agent changes.
  agentSrc = lib.cleanSourceWith {
    name = "grainvm-agent-source";
    src = root;
    filter = path: type: rel path == "guest-agent" || lib.hasPrefix "guest-agent/" (rel path);
  };
in
{
  grainvm = pkgs.callPackage ./package.nix {
    inherit version src;
    agentCC = pkgs.pkgsStatic.stdenv.cc;
    busyboxStatic = pkgs.pkgsStatic.busybox;
  };

  grainvm-agent = pkgs.pkgsStatic.callPackage ./agent.nix {
    inherit version;
    src = agentSrc;
  };

  module = ./module.nix;
}
