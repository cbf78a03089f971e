# grainvm as a flake: the host tool, the static guest agent, the NixOS
# module for guests, and an example test VM (nix/examples/).  nix/default.nix
# builds the same for users without flakes.
{
  description = "grainvm: QEMU VMs without libvirt, ready when the guest is";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs = { self, nixpkgs }:
    let
      systems = [ "x86_64-linux" ];
      forAll = f: nixpkgs.lib.genAttrs systems (system: f system (import ./nix {
        pkgs = nixpkgs.legacyPackages.${system};
      }));
    in
    {
      packages = forAll (system: p: {
        default = p.grainvm;
        grainvm = p.grainvm;
        grainvm-agent = p.grainvm-agent;
      });

      nixosModules.grainvm-guest = ./nix/module.nix;
      nixosModules.default = self.nixosModules.grainvm-guest;

      # nix build .#nixosConfigurations.grainvm-example.config.system.build.toplevel
      nixosConfigurations.grainvm-example = nixpkgs.lib.nixosSystem {
        system = "x86_64-linux";
        modules = [ self.nixosModules.grainvm-guest ./nix/examples/test-vm.nix ];
      };

      templates.default = {
        path = ./nix/examples;
        description = "a project with a NixOS test VM booted by grainvm";
      };

      devShells = forAll (system: p: {
        default = nixpkgs.legacyPackages.${system}.mkShell {
          inputsFrom = [ p.grainvm ];
        };
      });
    };
}
