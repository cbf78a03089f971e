# nix/examples/test-vm.nix - a NixOS test VM for grainvm
#
# Booted by `grainvm up` with [nixos] flake=.#test-vm (see grainvm.conf
# here and docs/nixos.md): the host's store shared, the project directory
# at /mnt/workspace, `grainvm build` running `nix build` there.
{ pkgs, ... }:

{
  grainvm.vm.enable = true;

  networking.hostName = "test-vm";

  # `nix build` of the project's flake in the guest.
  nix.settings.experimental-features = [ "nix-command" "flakes" ];
  environment.systemPackages = [ pkgs.git ];

  # A shell on `grainvm console` without a password: a throwaway test VM.
  services.getty.autologinUser = "root";

  system.stateVersion = "24.05";
}
