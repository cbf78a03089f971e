/* SPDX-License-Identifier: MIT */
/*
 * base-stamp.h - a VM's overlay remembers which base it was made on
 *
 * A qcow2 overlay stores only the clusters the guest wrote; everything else
 * is read from the base image, by name.  If the base changes afterwards
 * (rewritten in place on shared storage, or replaced by a file of the same
 * name), the overlay's clusters and the new base no longer belong together
 * and the guest reads a disk that never existed.  So when an overlay is
 * made, the base's size and modification time (nanoseconds) are recorded
 * beside it in overlay.base, and every later use of the overlay (`up`,
 * `build`, `exec`) compares them first and refuses a changed base.
 */
#pragma once

#include <glib.h>

#include "paths.h"

/**
 * gv_base_stamp_write() - record @base as the base of @paths' overlay
 * @paths: the VM
 * @base: the base image the overlay was just made on
 * @error: return location
 *
 * Return: TRUE when overlay.base was written (atomically).
 */
gboolean gv_base_stamp_write(const GvVmPaths *paths, const char *base, GError **error);

/** gv_base_stamp_forget() - remove overlay.base, if there is one */
void gv_base_stamp_forget(const GvVmPaths *paths);

/**
 * gv_base_stamp_check() - is the overlay's base still the one it was made on?
 * @paths: the VM
 * @error: return location; GV_ERROR_STATE (exit 3) naming the base and
 *         what changed, when it did
 *
 * A VM without overlay.base (no disk, a blank disk, or an overlay made by
 * an older grainvm) passes.
 *
 * Return: TRUE when the base is unchanged or there is none to check.
 */
gboolean gv_base_stamp_check(const GvVmPaths *paths, GError **error);
