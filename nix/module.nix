# nix/module.nix - nixosModules.grainvm-guest: a NixOS system as a grainvm guest
#
# Three parts, each usable alone:
#
#   services.grainvm-agent   the agent as a systemd service, started by udev
#                            when its virtio-serial port appears (the way
#                            nixpkgs starts qemu-ga), restarted always
#   grainvm.workspace        the project directory grainvm shares over 9p,
#                            as a fileSystems entry that never blocks boot
#   grainvm.build.command    what the agent runs for `grainvm build`
#
# and grainvm.vm, for systems booted by grainvm's [nixos] path (the kernel
# and initrd from the toplevel, no boot loader, no disk): the root on tmpfs
# and the host's /nix/store from the 9p share tagged "nix-store", with a
# tmpfs overlay so `nix build` works in the guest.  The store follows
# nixpkgs' qemu-vm.nix (/nix/.ro-store, overlay or bind on /nix/store,
# regInfo= on the kernel command line) so that the same habits apply.
{ config, lib, pkgs, ... }:

let
  inherit (lib) mkOption mkEnableOption mkIf mkMerge mkDefault types literalExpression;

  cfg = config.services.grainvm-agent;
  ws = config.grainvm.workspace;
  build = config.grainvm.build;
  vm = config.grainvm.vm;

  # One word of ExecStart: JSON quoting is C quoting, which systemd reads;
  # % and $ would be systemd specifiers and variables.
  execArg = arg: builtins.replaceStrings [ "%" "$" ] [ "%%" "$$" ] (builtins.toJSON (toString arg));

  storeTag = "nix-store";

  agentArgs =
    [ "${cfg.package}/bin/grainvm-agent" "--port" "/dev/virtio-ports/${cfg.port}" ]
    # grain-status reports these as expected shares, so "ready" means mounted.
    ++ lib.optionals ws.enable [ "--mount" "${ws.tag}:${ws.mountPoint}" ]
    ++ lib.optionals vm.enable [ "--mount" "${storeTag}:/nix/.ro-store" ]
    ++ lib.optionals (build.command != null) [ "--build-command" build.command ]
    ++ lib.optionals (build.command != null && ws.enable) [ "--build-cwd" ws.mountPoint ]
    ++ cfg.extraArgs;

  ninePOptions = msize: cache: [
    "trans=virtio"
    "version=9p2000.L"
    "msize=${toString msize}"
    "cache=${cache}"
    # The 9p transport is a module that nothing else loads on demand.
    "x-systemd.requires=modprobe@9pnet_virtio.service"
  ];

  defaultAgent = (import ./default.nix { inherit pkgs; }).grainvm-agent;
in
{
  options = {
    services.grainvm-agent = {
      enable = mkEnableOption "the grainvm guest agent on its virtio-serial port";

      package = mkOption {
        type = types.package;
        default = defaultAgent;
        defaultText = literalExpression "(import grainvm/nix { inherit pkgs; }).grainvm-agent";
        description = "The grainvm-agent package (static, built with pkgsStatic).";
      };

      port = mkOption {
        type = types.strMatching "[A-Za-z0-9_.-]+";
        default = "org.grainvm.agent.0";
        description = ''
          Name of the virtio-serial port the agent serves, as QEMU's
          virtserialport name= (grainvm uses org.grainvm.agent.0).  udev links
          it at /dev/virtio-ports/NAME and starts the service when it appears.
        '';
      };

      extraArgs = mkOption {
        type = types.listOf types.str;
        default = [ ];
        example = [ "--state-dir" "/var/lib/grainvm" ];
        description = "More arguments for grainvm-agent.";
      };
    };

    grainvm.workspace = {
      enable = mkOption {
        type = types.bool;
        default = true;
        description = ''
          Mount the workspace share grainvm exports ([share workspace] in
          grainvm.conf).  The mount is nofail: a boot without the share, e.g.
          under another launcher, goes on without it.
        '';
      };

      tag = mkOption {
        type = types.strMatching "[A-Za-z0-9_.-]{1,31}";
        default = "workspace";
        description = "The 9p mount tag ([share NAME] tag=, default NAME).";
      };

      mountPoint = mkOption {
        type = types.strMatching "/[^: ]*";
        default = "/mnt/workspace";
        description = "Where the share is mounted ([share NAME] mount=).";
      };

      msize = mkOption {
        type = types.ints.between 4096 524288;
        default = 524288;
        description = ''
          9p message size in bytes.  grainvm's default: a 128 MiB read took
          0.46 s at 512 KiB and 2.64 s at nixpkgs' 16 KiB (TCG); Linux 6.1
          caps virtio at 512000.
        '';
      };

      cache = mkOption {
        type = types.enum [ "none" "mmap" "loose" "fscache" ];
        default = "mmap";
        description = ''
          9p cache mode: mmap (host edits visible, mmap(2) works), none,
          loose (fastest, may miss host edits), fscache.
        '';
      };
    };

    grainvm.build.command = mkOption {
      type = types.nullOr (types.strMatching "[^\n]+");
      default = "nix build --print-build-logs --no-link --print-out-paths";
      example = "make -j$(nproc) check";
      description = ''
        The command `grainvm build` runs in the guest when it names none: one
        shell command line, run by /bin/sh in the workspace (the agent's
        --build-command and --build-cwd).  null: no default.
      '';
    };

    grainvm.vm = {
      enable = mkEnableOption ''
        the setup for grainvm's [nixos] boot path: no boot loader, the root on
        tmpfs, the host's store over 9p (tag nix-store) and the agent'';

      tmpfsRoot = mkOption {
        type = types.bool;
        default = true;
        description = ''
          Mount a tmpfs on / (nothing persists across boots).  false: define
          fileSystems."/" yourself, e.g. on a [disk] image.
        '';
      };

      writableStore = mkOption {
        type = types.bool;
        default = true;
        description = ''
          Put a tmpfs overlay on the shared store, so that nix can build in
          the guest (the host's store is never written).  false: /nix/store
          is the read-only share itself.
        '';
      };

      storeMsize = mkOption {
        type = types.ints.between 4096 524288;
        default = 524288;
        description = "9p message size of the store share.";
      };
    };
  };

  config = mkMerge [
    (mkIf cfg.enable {
      services.udev.extraRules = ''
        SUBSYSTEM=="virtio-ports", ATTR{name}=="${cfg.port}", TAG+="systemd", ENV{SYSTEMD_WANTS}="grainvm-agent.service"
      '';

      systemd.services.grainvm-agent = {
        description = "grainvm guest agent";
        # What `grainvm exec` and builds find: the system's programs (nix, git).
        path = [ "/run/wrappers" "/run/current-system/sw" ];
        environment.HOME = "/root";
        serviceConfig = {
          ExecStart = lib.concatMapStringsSep " " execArg agentArgs;
          Restart = "always";
          RestartSec = 1;
          # The build log; kept when the agent restarts.
          RuntimeDirectory = "grainvm";
          RuntimeDirectoryMode = "0755";
          RuntimeDirectoryPreserve = "restart";
        };
      };
    })

    (mkIf ws.enable {
      fileSystems.${ws.mountPoint} = {
        device = ws.tag;
        fsType = "9p";
        options = ninePOptions ws.msize ws.cache ++ [ "nofail" ];
      };
    })

    (mkIf vm.enable {
      services.grainvm-agent.enable = mkDefault true;

      boot.loader.grub.enable = mkDefault false;
      boot.initrd.availableKernelModules = [ "virtio_pci" "virtio_console" "virtio_net" "9p" "9pnet_virtio" "overlay" ];
      boot.initrd.kernelModules = [ "virtio_pci" "9pnet_virtio" "9p" ]
        ++ lib.optional vm.writableStore "overlay";

      fileSystems = {
        "/" = mkIf vm.tmpfsRoot {
          device = "tmpfs";
          fsType = "tmpfs";
          options = [ "mode=0755" ];
        };
        "/nix/.ro-store" = {
          device = storeTag;
          fsType = "9p";
          neededForBoot = true;
          options = ninePOptions vm.storeMsize "loose" ++ [ "ro" ];
        };
        "/nix/.rw-store" = mkIf vm.writableStore {
          device = "tmpfs";
          fsType = "tmpfs";
          neededForBoot = true;
          options = [ "mode=0755" ];
        };
        "/nix/store" = mkIf (!vm.writableStore) {
          device = "/nix/.ro-store";
          options = [ "bind" ];
          neededForBoot = true;
        };
      };

      # The overlay needs its directories on the tmpfs first, which a
      # fileSystems entry cannot say: mount it by hand, as qemu-vm.nix did.
      boot.initrd.postMountCommands = mkIf (vm.writableStore && !config.boot.initrd.systemd.enable) ''
        mkdir -p -m 0755 $targetRoot/nix/.rw-store/store $targetRoot/nix/.rw-store/work $targetRoot/nix/store
        mount -t overlay overlay $targetRoot/nix/store \
          -o lowerdir=$targetRoot/nix/.ro-store,upperdir=$targetRoot/nix/.rw-store/store,workdir=$targetRoot/nix/.rw-store/work || fail
      '';
      boot.initrd.systemd.services.grainvm-rw-store = mkIf (vm.writableStore && config.boot.initrd.systemd.enable) {
        description = "grainvm: directories of the /nix/store overlay";
        unitConfig.DefaultDependencies = false;
        unitConfig.RequiresMountsFor = "/sysroot/nix/.rw-store";
        serviceConfig.Type = "oneshot";
        serviceConfig.ExecStart = "/bin/mkdir -p -m 0755 /sysroot/nix/.rw-store/store /sysroot/nix/.rw-store/work /sysroot/nix/store";
      };
      boot.initrd.systemd.mounts = lib.optional (vm.writableStore && config.boot.initrd.systemd.enable) {
        where = "/sysroot/nix/store";
        what = "overlay";
        type = "overlay";
        options = "lowerdir=/sysroot/nix/.ro-store,upperdir=/sysroot/nix/.rw-store/store,workdir=/sysroot/nix/.rw-store/work";
        wantedBy = [ "initrd-fs.target" ];
        before = [ "initrd-fs.target" ];
        requires = [ "grainvm-rw-store.service" ];
        after = [ "grainvm-rw-store.service" ];
        unitConfig.RequiresMountsFor = "/sysroot/nix/.ro-store";
      };

      # The guest's Nix database starts empty.  With regInfo=PATH on the
      # kernel command line ([boot] cmdline), the paths it lists (see
      # system.build.grainvmRegInfo) become valid, as in qemu-vm.nix; a
      # direct reference here would make the system depend on itself.
      boot.postBootCommands = mkIf config.nix.enable ''
        if [[ "$(cat /proc/cmdline)" =~ regInfo=([^ ]*) ]]; then
          ${config.nix.package.out}/bin/nix-store --load-db < "''${BASH_REMATCH[1]}"
        fi
      '';
      system.build.grainvmRegInfo = pkgs.closureInfo { rootPaths = [ config.system.build.toplevel ]; };
    })
  ];
}
