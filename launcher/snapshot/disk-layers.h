/* SPDX-License-Identifier: MIT */
/*
 * disk-layers.h - a VM's disk after live disk snapshots
 *
 * A VM with a disk writes to its overlay (paths->overlay, on the
 * [disk] image base).  `grainvm snapshot disk NAME TAG` freezes the file
 * the running VM writes to and puts a new, empty overlay on top of it
 * (QMP blockdev-snapshot-sync): from then on QEMU writes to the new file
 * and the frozen one is a read-only layer that keeps the disk as it was
 * at that instant, for use as another VM's [disk] image.
 *
 * disk-layers.json in the VM's state directory records the chain: the
 * file the VM writes to now ("top"), and the frozen layers, oldest first,
 * with their tags.  Without it the VM's disk is paths->overlay alone.
 * The chain's bottom is always paths->overlay, so the check that the VM's
 * disk was made on the spec's base still reads that file.
 */
#pragma once

#include <json-glib/json-glib.h>

#include "paths.h"

/**
 * gv_disk_top() - the file the VM's disk writes to
 * @paths: the VM
 * @error: GV_ERROR_FAILED when disk-layers.json cannot be read or names
 *         a top that is missing (the disk is then not the one the VM had)
 *
 * Return: (transfer full): the recorded top, or paths->overlay when no
 * live disk snapshot was taken; NULL on error.
 */
char *gv_disk_top(const GvVmPaths *paths, GError **error);

/**
 * gv_disk_layers_read() - the VM's disk-layers.json
 * @paths: the VM
 * @error: GV_ERROR_FAILED when it exists but cannot be read or parsed
 *
 * Return: (transfer full): its object ("top": path, "layers": array of
 * { "tag", "file", "created" }), a fresh empty one when there is none,
 * NULL on error.
 */
JsonObject *gv_disk_layers_read(const GvVmPaths *paths, GError **error);

/**
 * gv_disk_layers_write() - replace disk-layers.json atomically (fsynced)
 * @paths: the VM
 * @layers: what gv_disk_layers_read() gave, changed
 * @error: return location
 *
 * Return: TRUE when written.
 */
gboolean gv_disk_layers_write(const GvVmPaths *paths, JsonObject *layers, GError **error);

/**
 * gv_disk_layer_file() - the frozen file of disk snapshot @tag
 * @layers: from gv_disk_layers_read()
 * @tag: the tag
 *
 * Return: (transfer none): its path, or NULL when there is no such tag.
 */
const char *gv_disk_layer_file(JsonObject *layers, const char *tag);

/**
 * gv_disk_layers_forget() - remove disk-layers.json
 * @paths: the VM
 *
 * For a VM whose overlay is made afresh: a chain recorded for an overlay
 * that is gone must not name the new one's top.
 */
void gv_disk_layers_forget(const GvVmPaths *paths);
