# nix/package.nix - grainvm, the host tool, built with meson.
#
# The agent that goes into the default guest's initramfs is built by meson
# too, with agentCC (a static musl compiler, pkgsStatic.stdenv.cc) as
# guest-agent/meson.build's agent_cc, exactly as musl-gcc is used on Debian.
# The test suites are not run: they boot QEMU guests on the host's kernel.
{ lib
, stdenv
, meson
, ninja
, pkg-config
, makeWrapper
, glib
, json-glib
, zlib
, xz
, zstd
, liburing
, libslirp
, qemu_kvm
, version
, src
, agentCC ? null       # a compiler for the static agent, e.g. pkgsStatic.stdenv.cc
, busyboxStatic ? null # a static busybox, the default guest's console shell
}:

stdenv.mkDerivation {
  pname = "grainvm";
  inherit version src;

  nativeBuildInputs = [ meson ninja pkg-config makeWrapper ];
  buildInputs = [ glib json-glib zlib xz zstd liburing libslirp ];

  mesonFlags = lib.optionals (agentCC != null) [
    "-Dagent_cc=${agentCC}/bin/${agentCC.targetPrefix}cc"
  ];

  doCheck = false;

  # QEMU from nixpkgs unless the user's PATH has one first; busybox for the
  # generated initramfs, which looks in /bin and /usr/bin otherwise (absent
  # on NixOS).
  postInstall = ''
    wrapProgram $out/bin/grainvm \
      --suffix PATH : ${lib.makeBinPath [ qemu_kvm ]} \
      ${lib.optionalString (busyboxStatic != null)
        "--set-default GRAINVM_BUSYBOX ${busyboxStatic}/bin/busybox"}
  '';

  meta = {
    description = "QEMU VM launcher that returns when the guest is ready";
    license = lib.licenses.mit;
    platforms = lib.platforms.linux;
    mainProgram = "grainvm";
  };
}
