# A project with a NixOS test VM booted by grainvm.  `nix flake init -t
# path:/where/grainvm/is` copies this directory; then point the grainvm
# input at where grainvm really is.
{
  description = "a project tested in a NixOS VM with grainvm";

  inputs = {
    grainvm.url = "path:/where/grainvm/is";
    nixpkgs.follows = "grainvm/nixpkgs";
  };

  outputs = { self, nixpkgs, grainvm }:
    let
      system = "x86_64-linux";
      pkgs = nixpkgs.legacyPackages.${system};
    in
    {
      # What `grainvm build` builds in the guest (nix build's default).
      packages.${system}.default = pkgs.hello;

      nixosConfigurations.test-vm = nixpkgs.lib.nixosSystem {
        inherit system;
        modules = [ grainvm.nixosModules.grainvm-guest ./test-vm.nix ];
      };

      devShells.${system}.default = pkgs.mkShell {
        packages = [ grainvm.packages.${system}.default ];
      };
    };
}
