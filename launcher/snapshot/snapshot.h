/* SPDX-License-Identifier: MIT */
/*
 * snapshot.h - saved VM states: where they live, what they promise, and
 * whether a spec may be restored from one
 *
 * A snapshot is a directory next to the VM's overlay disk:
 *
 *   STATE/NAME/snapshots/TAG/manifest.json   what was saved, from what
 *                            state.zst       QEMU's migration stream
 *                                            (snapshot-state.h)
 *                            disk.qcow2      the disk at the same instant,
 *                                            only for VMs with a disk
 *   STATE/NAME/snapshot-run.qcow2            the disposable overlay of a
 *                                            VM running from a snapshot
 *
 * A VM without a disk (the default guest: kernel, initramfs, tmpfs) keeps
 * its whole filesystem in RAM, so its state file alone is the snapshot.
 * A VM with a disk gets a copy of its active overlay, taken while QEMU is
 * stopped after the migration flushed it, so RAM and disk agree; every
 * restore runs on a fresh overlay on top of that copy, and the copy never
 * changes.
 *
 * The manifest pins what the saved device state depends on: the QEMU
 * command line (less the host paths that do not reach the guest), the
 * QEMU version, and the kernel and initrd files.  Restoring into anything
 * else is refused before QEMU starts, with each difference named.
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "paths.h"
#include "plan.h"
#include "boot/prepare.h"
#include "boot/spec.h"

/* The manifest's "format": bump when an older grainvm could misread it. */
#define GV_SNAPSHOT_FORMAT 1

typedef struct {
	char *tag;
	char *dir;       /* STATE/NAME/snapshots/TAG */
	char *manifest;
	char *state;
	char *disk;
} GvSnapshotPaths;

/**
 * gv_snapshot_paths_new() - the files of snapshot @tag of a VM
 * @vm: the VM
 * @tag: the tag; must be valid (gv_spec_name_valid())
 *
 * Creates nothing.
 *
 * Return: (transfer full): the paths.
 */
GvSnapshotPaths *gv_snapshot_paths_new(const GvVmPaths *vm, const char *tag);
void gv_snapshot_paths_free(GvSnapshotPaths *sp);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(GvSnapshotPaths, gv_snapshot_paths_free)

/** gv_snapshot_root() - STATE/NAME/snapshots (transfer full) */
char *gv_snapshot_root(const GvVmPaths *vm);

/** gv_snapshot_run_overlay() - STATE/NAME/snapshot-run.qcow2 (transfer full) */
char *gv_snapshot_run_overlay(const GvVmPaths *vm);

/**
 * gv_snapshot_check_tag() - a tag is a name: 1-63 of [A-Za-z0-9_.-]
 * @tag: the tag
 * @error: GV_ERROR_INVALID saying what a tag may be
 *
 * Return: TRUE when valid.
 */
gboolean gv_snapshot_check_tag(const char *tag, GError **error);

/**
 * gv_snapshot_manifest_read() - the manifest of a snapshot
 * @vm: the VM
 * @tag: the tag
 * @error: GV_ERROR_STATE when the VM has no such snapshot,
 *         GV_ERROR_FAILED when the manifest is unreadable or not one
 *
 * Return: (transfer full) (nullable): the manifest.
 */
JsonObject *gv_snapshot_manifest_read(const GvVmPaths *vm, const char *tag, GError **error);

/**
 * gv_snapshot_list() - every snapshot of a VM, oldest first
 * @vm: the VM
 * @error: return location (a missing snapshots directory is no error)
 *
 * Directories without a readable manifest are listed with "tag" and an
 * "error" member, so that a damaged snapshot can still be seen and removed.
 *
 * Return: (transfer full) (element-type JsonObject): manifests.
 */
GPtrArray *gv_snapshot_list(const GvVmPaths *vm, GError **error);

/**
 * gv_snapshot_remove() - delete a snapshot's directory
 * @vm: the VM
 * @tag: the tag
 * @error: GV_ERROR_STATE when there is no such snapshot
 *
 * A template's RAM file goes with it; the caller checks first that no
 * clone runs from it (gv_template_check_unused()).
 *
 * Return: TRUE when it is gone.
 */
gboolean gv_snapshot_remove(const GvVmPaths *vm, const char *tag, GError **error);

/**
 * gv_snapshot_remove_all() - delete every snapshot of a VM (grainvm rm)
 * @vm: the VM
 * @error: GV_ERROR_STATE, removing nothing, when clones run from one of
 *         its templates (gv_template_check_unused())
 *
 * Templates' RAM files go with their snapshots.
 *
 * Return: TRUE when all are gone.
 */
gboolean gv_snapshot_remove_all(const GvVmPaths *vm, GError **error);


/* ---- saving ----------------------------------------------------------------- */

/**
 * gv_snapshot_stage_new() - a private directory to build a snapshot in
 * @vm: the VM
 * @error: return location
 *
 * STATE/NAME/snapshots/.stage-XXXXXX, so that a save that fails or is
 * killed never leaves a half-written TAG behind.
 *
 * Return: (transfer full) (nullable): the directory.
 */
char *gv_snapshot_stage_new(const GvVmPaths *vm, GError **error);

/**
 * gv_snapshot_commit() - make a staged snapshot TAG, atomically
 * @vm: the VM
 * @tag: the tag
 * @stage: from gv_snapshot_stage_new(); consumed on success
 * @replaced: (out): TRUE when an older TAG was replaced
 * @error: return location
 *
 * An existing TAG is swapped out in one renameat2(RENAME_EXCHANGE) and
 * then deleted: a reader sees the old snapshot or the new one, never
 * neither.  A VM running from the old one keeps its open files.
 *
 * Return: TRUE on success.
 */
gboolean gv_snapshot_commit(const GvVmPaths *vm, const char *tag, const char *stage,
			    gboolean *replaced, GError **error);

/**
 * gv_snapshot_copy_disk() - the disk of a stopped VM as a snapshot's disk.qcow2
 * @active: the image QEMU writes (overlay.qcow2 or snapshot-run.qcow2)
 * @base: (nullable): the spec's [disk] image, which the copy is to be
 *        based on, or NULL for a disk without one
 * @dst: the file to create
 * @error: return location
 *
 * A sparse copy (a reflink where the filesystem has them) of @active.
 * When @active is itself an overlay on another snapshot's disk, the copy
 * is then rebased onto @base with `qemu-img rebase` (which writes in the
 * data of the snapshot in between), so snapshots never depend on each
 * other and any of them can be removed.
 *
 * Return: TRUE on success; on failure @dst is removed.
 */
gboolean gv_snapshot_copy_disk(const char *active, const char *base, const char *dst,
			       GError **error);

/**
 * gv_file_identity() - {"path", "size", "mtime"} of a file
 * @path: the file
 *
 * Return: (transfer full): the object; size and mtime are -1 when it
 * cannot be stat()ed.
 */
JsonObject *gv_file_identity(const char *path);

/* ---- matching (pure) -------------------------------------------------------- */

/**
 * gv_snapshot_argv_normalize() - the part of a QEMU argv a restore must repeat
 * @argv: a gv_qemu_argv() result
 *
 * Drops argv[0] (the QEMU binary is checked by version), "-incoming" and
 * its value, the filename of the disk's file node (each restore runs on a
 * new overlay), the host directory of each share (the guest mounts it
 * anew after the restore, so it may move) and a memory-backend-file's
 * mem-path and share (a template's RAM file, mapped shared by the
 * template and privately by its clones).
 *
 * Return: (transfer full): the normalized argv.
 */
char **gv_snapshot_argv_normalize(const char *const *argv);

/**
 * gv_snapshot_argv_without_identity() - a normalized argv less what makes a clone itself
 * @norm: a gv_snapshot_argv_normalize() result
 *
 * Drops -name, -append (the guest booted long ago: its command line, with
 * grainvm.hostname= and grainvm.net=, is in the template's RAM, and QEMU
 * only hands -append to a boot that never happens) and each virtio-net
 * device's mac=: the agent gives the clone its own name and MACs.
 *
 * Return: (transfer full): the argv.
 */
char **gv_snapshot_argv_without_identity(const char *const *norm);

/**
 * gv_snapshot_argv_diff() - what differs between two normalized argvs
 * @saved: the snapshot's
 * @now: the one a restore would use
 *
 * Options are compared by name: a single-valued option says "memory:
 * 2048M now, 1024M in the snapshot", repeated ones (-device, -fsdev, ...)
 * say which values are new and which are gone.
 *
 * Return: (transfer full) (nullable): the differences joined with "; ",
 * or NULL when there is none.
 */
char *gv_snapshot_argv_diff(const char *const *saved, const char *const *now);

/* ---- restoring -------------------------------------------------------------- */

typedef struct {
	char *tag;
	char *state;          /* the state file the supervisor feeds QEMU */
	char *run_overlay;    /* the disposable disk, or NULL */
	char *boot;           /* one line for `up` and `status` */
	char *boot_origin;    /* what the snapshot's VM booted, for a snapshot of it */
	/* A template's clone (template.h); all NULL for an ordinary restore. */
	char *template_ram;   /* the RAM file QEMU maps privately */
	char *template_of;    /* "VM:TAG" */
	char **macs;          /* "OLD=NEW" for each NIC whose MAC the agent changes */
	char **nets;          /* grainvm.net= values the agent applies again */
} GvRestore;

void gv_restore_free(GvRestore *r);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(GvRestore, gv_restore_free)

/**
 * gv_snapshot_restore_prepare() - check a snapshot against the spec and set up its run
 * @vm: the VM to run
 * @from: the VM whose snapshot it is: @vm itself, or a template's VM
 *        (`up NEW --from VM:TAG`, `grainvm clone`)
 * @tag: the snapshot
 * @spec: the spec `up` loaded
 * @prep: what gv_prepare() found; on success its disk becomes a fresh
 *        overlay on the snapshot's disk (recorded in prep->created) and
 *        facts.incoming is set
 * @error: GV_ERROR_STATE: no such snapshot; GV_ERROR_INVALID: the spec,
 *         kernel or QEMU differ from the snapshot's (each difference
 *         named); GV_ERROR_FAILED: the snapshot's files are missing or cut
 *         short, or a template's RAM file is gone
 *
 * A template (template.h) is restored as a clone: QEMU maps its RAM file
 * privately (prep->facts.ram_file), and the VM may differ from the
 * template in name, MACs and kernel command line
 * (gv_snapshot_argv_without_identity()), which the agent's grain-thaw
 * then sets.  Any other snapshot restores only into the VM that saved it.
 *
 * Starts nothing and, on failure, leaves nothing behind.
 *
 * Return: (transfer full) (nullable): what the plan needs.
 */
GvRestore *gv_snapshot_restore_prepare(const GvVmPaths *vm, const GvVmPaths *from,
				       const char *tag, const GvSpec *spec, GvPrepared *prep,
				       GError **error);

/**
 * gv_restore_to_plan() - add the restore to a plan
 * @r: the restore
 * @plan: the plan; its boot line is replaced by @r's, boot_origin set
 */
void gv_restore_to_plan(const GvRestore *r, GvPlan *plan);
