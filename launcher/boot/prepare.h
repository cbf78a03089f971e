/* SPDX-License-Identifier: MIT */
/*
 * prepare.h - everything `up` must learn from or make on the host
 *
 * The impure half of turning a spec into a QEMU command line: find QEMU,
 * decide the accelerator, find or extract the kernel, build the
 * initramfs, locate OVMF and give the VM its own variables, create the
 * overlay disk.  The result is a GvHostFacts for the pure argv builder plus
 * human-readable lines saying what was chosen and why.
 */
#pragma once

#include <glib.h>

#include "boot/argv.h"
#include "supervisor/privdrop.h"
#include "net/nic.h"
#include "paths.h"
#include "boot/spec.h"

typedef struct {
	GvHostFacts facts;   /* points into the strings below */
	char *qemu;
	char *accel_reason;
	char *kernel;        /* what -kernel gets */
	char *initrd;
	char *ovmf_code;
	char *ovmf_vars;
	char *disk;
	char *nixos_toplevel; /* [nixos]: the system, as the guest sees it */
	char *nixos_params;   /* [nixos]: its kernel-params */
	char *seed;           /* [cloud-init]: the NoCloud seed image, or NULL */
	char *boot;          /* one line: the boot path and why */
	GPtrArray *notes;    /* lines worth telling the user (missing busybox...) */
	GPtrArray *warnings; /* lines to tell even with -q (QEMU as root, a share it cannot write) */
	GPtrArray *created;  /* files this preparation created */
	GvNetPrepared *net;  /* the NICs' host side (nic.h) */
	GvQemuUser qemu_user; /* whom QEMU runs as (gv_qemu_user()) */
	GArray *disk_chain;  /* GvDiskLayer, for facts.disk_chain (gv_prepare_disk_chain()) */
	GPtrArray *disk_chain_strings; /* what disk_chain points into */
} GvPrepared;

void gv_prepared_free(GvPrepared *p);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(GvPrepared, gv_prepared_free)

/**
 * gv_prepare() - gather the host facts for @spec
 * @spec: the validated spec
 * @paths: the VM's paths (state files are created in paths->state_dir)
 * @error: GV_ERROR_INVALID for missing host pieces (QEMU, kernel,
 *         modules, OVMF) with what to install; GV_ERROR_FAILED otherwise
 *
 * On failure, files it created are removed again.
 *
 * Return: (transfer full) (nullable): the facts.
 */
GvPrepared *gv_prepare(const GvSpec *spec, const GvVmPaths *paths, GError **error);

/**
 * gv_prepare_keep_root() - QEMU stays root for this VM after all
 * @p: prepared facts, with QEMU dropping to a user by default (not one
 *     GRAINVM_QEMU_USER named)
 * @why: what needs it, for the warning
 *
 * For what the drop cannot do yet (a template's RAM file, docs/security.md):
 * files go by path again, and the share warnings about that user go; one
 * warning says QEMU runs as root and why.
 */
void gv_prepare_keep_root(GvPrepared *p, const char *why);

/**
 * gv_prepare_disk_chain() - list the disk's layers for a QEMU of another user
 * @p: prepared facts; p->disk is final (after a restore's run overlay)
 * @error: GV_ERROR_INVALID for a chain that cannot be handed over
 *
 * Without the drop, or without a disk, does nothing.  Otherwise reads the
 * chain of p->disk (the base's part was checked by gv_prepare()) into
 * p->facts.disk_chain, for gv_qemu_argv() to hand QEMU every layer as a
 * descriptor.  An external data file, or more than GV_DISK_LAYERS_MAX
 * layers, is refused: QEMU would have to open it by path.
 *
 * Return: TRUE on success.
 */
gboolean gv_prepare_disk_chain(GvPrepared *p, GError **error);

/**
 * gv_invoking_homes() - the home directories the default share must not be
 *
 * $HOME, the caller's passwd entry, SUDO_USER's when run through sudo,
 * and root's.
 *
 * Return: (transfer full): a NULL-terminated list (may hold duplicates).
 */
GStrv gv_invoking_homes(void);

/** gv_prepared_remove_created() - undo: remove the files gv_prepare() made */
void gv_prepared_remove_created(GvPrepared *p);

/** gv_find_qemu() - $GRAINVM_QEMU or qemu-system-x86_64 in PATH */
char *gv_find_qemu(GError **error);

/** gv_find_agent() - $GRAINVM_AGENT, the build tree's, or the installed agent */
char *gv_find_agent(GError **error);
