/* SPDX-License-Identifier: MIT */
/*
 * initramfs.h - the default guest's initramfs, written by grainvm itself
 *
 * A newc cpio holding grainvm-agent as /init, busybox-static with its
 * applet links (when installed), and the kernel modules the guest needs
 * for virtio, 9p and the power button, resolved through modules.dep and
 * decompressed on the host so the guest only ever loads plain .ko files.
 * The archive is left uncompressed: under TCG the guest would spend longer
 * decompressing it than the host spends reading a few extra megabytes.
 * The result is cached under a key made from every input's identity.
 * docs/guest-init.md describes what the agent does with it.
 */
#pragma once

#include <glib.h>

/* Modules the default guest loads, dependencies resolved at build time. */
extern const char *const gv_default_guest_modules[];

typedef struct {
	const char *kernel_version; /* selects MODULES_ROOT/VERSION */
	const char *modules_root;   /* "/lib/modules" */
	const char *agent;          /* the static grainvm-agent */
	const char *busybox;        /* a static busybox, or NULL */
	const char *const *modules; /* module names to include */
} GvInitramfsInputs;

/**
 * gv_modules_resolve() - module files in load order
 * @moddir: MODULES_ROOT/VERSION
 * @names: module names ('-' and '_' are the same)
 * @error: GV_ERROR_INVALID for a module that is neither in modules.dep
 *         nor built in
 *
 * Built-in modules (modules.builtin) are skipped; dependencies come before
 * the modules that need them.
 *
 * Return: (transfer full): paths relative to @moddir.
 */
GPtrArray *gv_modules_resolve(const char *moddir, const char *const *names, GError **error);

/**
 * gv_initramfs_build() - the initramfs for these inputs, from cache or new
 * @in: the inputs
 * @cache_dir: the cache root
 * @error: return location
 *
 * Return: (transfer full) (nullable): path of the cpio file.
 */
char *gv_initramfs_build(const GvInitramfsInputs *in, const char *cache_dir, GError **error);

/* ---- newc cpio writer (exposed for tests) ------------------------------- */

typedef struct GvCpio GvCpio;
GvCpio *gv_cpio_new(void);
void gv_cpio_dir(GvCpio *c, const char *path, guint mode);
void gv_cpio_file(GvCpio *c, const char *path, guint mode, const void *data, gsize len);
void gv_cpio_symlink(GvCpio *c, const char *path, const char *target);
void gv_cpio_chardev(GvCpio *c, const char *path, guint mode, guint major, guint minor);
/** gv_cpio_finish() - add the trailer and return the archive (consumes @c) */
GBytes *gv_cpio_finish(GvCpio *c);
