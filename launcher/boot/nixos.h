/* SPDX-License-Identifier: MIT */
/*
 * nixos.h - find (or build with nix) the NixOS system a [nixos] spec boots
 *
 * A built NixOS system is a directory in the Nix store, its "toplevel":
 * kernel, initrd, init (stage 2) and kernel-params are in it.  grainvm
 * boots the kernel and initrd directly and passes init=TOPLEVEL/init plus
 * kernel-params, as nixpkgs' qemu-vm.nix does; the guest finds TOPLEVEL
 * in the store that grainvm shares with it.
 *
 * Paths inside the store (symlinks in the toplevel, the toplevel itself)
 * are written as the store sees itself, /nix/store/...  [nixos] store
 * says where that directory is on the host, so a store kept elsewhere (a
 * chroot store, `nix --store DIR`) works: /nix/store/X is read from
 * STORE/X, while the guest, which gets STORE at /nix/store, is told
 * /nix/store/X.
 */
#pragma once

#include <glib.h>

#include "boot/spec.h"

/* The store directory as store paths name it (Nix's storeDir). */
#define GV_NIX_STORE_DIR "/nix/store"

typedef struct {
	char *toplevel;   /* as the guest sees it: /nix/store/...-nixos-system-... */
	char *kernel;     /* host path of the kernel */
	char *initrd;     /* host path of the initrd */
	char *params;     /* the system's kernel-params, one line */
	char *source;     /* what it came from, for the boot line */
	char *new_link;   /* flake=: the result link, when this call made it */
} GvNixosSystem;

void gv_nixos_system_free(GvNixosSystem *sys);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(GvNixosSystem, gv_nixos_system_free)

/**
 * gv_nixos_installable() - the nix installable for [nixos] flake=REF#NAME
 * @flake: REF#NAME (syntax checked by the spec)
 *
 * NAME is quoted when it is not a plain Nix identifier ("my.host").
 *
 * Return: (transfer full): REF#nixosConfigurations.NAME.config.system.build.toplevel
 */
char *gv_nixos_installable(const char *flake);

/**
 * gv_nixos_prepare() - the system of @spec's [nixos] group, built if need be
 * @spec: a spec with nixos_system or nixos_flake set
 * @state_dir: the VM's state directory (exists); with flake=, the result
 *             link "nixos-system" goes there, a GC root for as long as the
 *             VM is kept
 * @error: GV_ERROR_INVALID when the system is not a usable toplevel (or
 *         nix is missing); GV_ERROR_FAILED when `nix build` fails
 *
 * With flake=, runs `nix build --out-link STATE_DIR/nixos-system
 * INSTALLABLE` in the project directory (so ".#NAME" is the flake beside
 * grainvm.conf), its output on stderr.  A link that was not there before
 * is named in new_link, for the caller to remove if `up` goes no further
 * (it is removed here when this call fails).
 *
 * Return: (transfer full) (nullable): the system.
 */
GvNixosSystem *gv_nixos_prepare(const GvSpec *spec, const char *state_dir, GError **error);
