# nix/agent.nix - grainvm-agent alone, for guests.
#
# Called from pkgsStatic (nix/default.nix), stdenv's compiler is a static
# musl one, which is what the agent is built with everywhere else
# (guest-agent/meson.build uses musl-gcc -static): one file that runs on any
# Linux guest, NixOS or not.  The agent is libc only, so it needs no build
# system here; the flags are guest-agent/meson.build's: keep them in step.
{ lib, stdenv, version, src }:

stdenv.mkDerivation {
  pname = "grainvm-agent";
  inherit version src;

  dontConfigure = true;

  buildPhase = ''
    runHook preBuild
    $CC -std=gnu11 -Os -Wall -Wextra -Wshadow \
      -Werror=implicit-function-declaration -Werror=missing-prototypes \
      -Werror=format-security -Werror=return-type \
      -D_GNU_SOURCE -DGV_AGENT_VERSION='"${version}"' \
      -ffunction-sections -fdata-sections -Wl,--gc-sections \
      ${lib.optionalString stdenv.hostPlatform.isStatic "-static"} \
      -o grainvm-agent guest-agent/*.c
    runHook postBuild
  '';

  installPhase = ''
    runHook preInstall
    install -Dm755 grainvm-agent $out/bin/grainvm-agent
    runHook postInstall
  '';

  meta = {
    description = "grainvm's guest agent (qemu-ga protocol, static, libc only)";
    license = lib.licenses.mit;
    platforms = lib.platforms.linux;
    mainProgram = "grainvm-agent";
  };
}
