/* SPDX-License-Identifier: MIT */
/*
 * template.h - templates and clones: the RAM files they share
 *
 * A VM booted with `[vm] template=true` keeps its guest RAM in a tmpfs
 * file (QEMU memory-backend-file, share=on) that it owns: RAMDIR/VM-XXXXXX.ram,
 * removed when the VM stops.  `snapshot save --template VM TAG` migrates
 * only the device state (x-ignore-shared leaves the RAM in the file),
 * hard-links the file as RAMDIR/VM.TAG-XXXXXX.tmpl, named in the
 * snapshot's manifest ("template": {"ram": PATH}), and ends the VM, so the
 * file is never written again.  A clone maps it privately (share=off):
 * every page no clone wrote stays one page in the host's memory.
 *
 * RAMDIR is tmpfs, per user, checked like the runtime directory (owned by
 * the caller, mode 0700, not a symlink): the runtime root when it is on
 * tmpfs, else /dev/shm/grainvm-UID.  tmpfs is emptied at host reboot, so
 * templates do not survive one; their snapshots then list as damaged.
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "paths.h"

/** gv_ram_root() - RAMDIR, see above (transfer full); creates nothing */
char *gv_ram_root(void);

/**
 * gv_ram_file_create() - an empty RAM file for a template VM's boot
 * @vm: the VM's name
 * @error: return location (RAMDIR refused or not creatable)
 *
 * Mode 0600; QEMU sizes it to the guest's RAM.
 *
 * Return: (transfer full) (nullable): the file's path.
 */
char *gv_ram_file_create(const char *vm, GError **error);

/**
 * gv_template_ram_take() - give a stopped template VM's RAM file a template's name
 * @ram_file: the running VM's RAM file (QEMU stopped, migrated)
 * @vm: its name
 * @tag: the snapshot's tag
 * @error: return location
 *
 * A hard link in the same directory, so no byte is copied.
 *
 * Return: (transfer full) (nullable): the new name.
 */
char *gv_template_ram_take(const char *ram_file, const char *vm, const char *tag,
			   GError **error);

/** gv_template_ram_of() - a manifest's template RAM file, or NULL for an ordinary snapshot */
const char *gv_template_ram_of(JsonObject *manifest);

/**
 * gv_template_require() - refuse a snapshot that is not a template
 * @manifest: the snapshot's manifest
 * @vm: its VM's name
 * @tag: its tag
 * @error: GV_ERROR_INVALID saying how to make one
 *
 * Return: TRUE when @manifest is a template's.
 */
gboolean gv_template_require(JsonObject *manifest, const char *vm, const char *tag,
			     GError **error);

/**
 * gv_template_check_ram() - is a template's RAM file there, whole?
 * @manifest: the template's manifest
 * @tag: its tag, for the message
 * @error: GV_ERROR_FAILED saying what is wrong (gone after a host reboot,
 *         another size)
 *
 * Return: TRUE when usable.
 */
gboolean gv_template_check_ram(JsonObject *manifest, const char *tag, GError **error);

/**
 * gv_template_clones() - the running VMs whose RAM maps @ram
 * @ram: a template's RAM file
 *
 * Reads the plan of every running VM under the runtime root.
 *
 * Return: (transfer full): names, sorted; empty when none.
 */
GPtrArray *gv_template_clones(const char *ram);

/**
 * gv_template_check_unused() - refuse to delete a template that clones run from
 * @vm: the template's VM
 * @tag: the tag
 * @manifest: (nullable): its manifest; NULL or not a template: no check
 * @error: GV_ERROR_STATE naming the clones
 *
 * Return: TRUE when nothing runs from it.
 */
gboolean gv_template_check_unused(const GvVmPaths *vm, const char *tag, JsonObject *manifest,
				  GError **error);
