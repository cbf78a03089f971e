/* SPDX-License-Identifier: MIT */
/*
 * kernel.h - find the kernel to boot and take the PVH fast path when we can
 *
 * Debian's vmlinuz is a bzImage: real-mode setup code, then a decompressor,
 * then the compressed kernel.  Booted as is under TCG, the decompressor
 * alone costs seconds (8.7 s to userspace under TCG here).  The
 * uncompressed kernel is an ELF with a Xen PVH entry note, which QEMU boots
 * directly (4.0 s).  So we extract it once, cache it keyed by the
 * bzImage's SHA-256, and boot that; anything unexpected (an unknown
 * compression, no PVH note) falls back to the bzImage with the reason said.
 */
#pragma once

#include <elf.h>
#include <glib.h>

typedef struct {
	char *path;       /* the kernel file as given */
	char *version;    /* "6.1.0-56-amd64" from the setup header, or NULL */
	gboolean bzimage; /* a bzImage (boot protocol >= 2.08 with a payload) */
	char *vmlinux;    /* extracted ELF with a PVH note, or NULL */
	char *why_no_pvh; /* when vmlinux is NULL: why, one line */
} GvKernel;

void gv_kernel_free(GvKernel *k);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(GvKernel, gv_kernel_free)

/**
 * gv_kernel_find_host() - the host's own kernel
 * @boot_dir: where to look ("/boot"; tests pass another)
 * @error: GV_ERROR_INVALID saying what to install or chmod
 *
 * /boot/vmlinuz-$(uname -r) when present, else the newest
 * /boot/vmlinuz-* by version order.  The file must be readable: Ubuntu
 * installs it mode 0600, and the message says how to fix that.
 *
 * Return: (transfer full) (nullable): its path.
 */
char *gv_kernel_find_host(const char *boot_dir, GError **error);

/**
 * gv_kernel_inspect() - read a kernel's setup header
 * @path: the kernel file
 * @error: return location (unreadable file)
 *
 * Not being a bzImage is no error: such a kernel is booted as given.
 *
 * Return: (transfer full) (nullable): what the header says.
 */
GvKernel *gv_kernel_inspect(const char *path, GError **error);

/**
 * gv_kernel_prepare_pvh() - find or make the uncompressed vmlinux
 * @k: from gv_kernel_inspect(); sets k->vmlinux or k->why_no_pvh
 * @cache_dir: directory for cached vmlinux files (created if missing)
 *
 * Never fails: every problem becomes k->why_no_pvh and the caller boots
 * the bzImage.
 */
void gv_kernel_prepare_pvh(GvKernel *k, const char *cache_dir);

/**
 * gv_elf_has_pvh_note() - does an ELF image carry XEN_ELFNOTE_PHYS32_ENTRY?
 * @data: the ELF file's bytes
 * @len: their number
 *
 * Bounds-checked: any malformed input is simply FALSE.
 */
gboolean gv_elf_has_pvh_note(const guint8 *data, gsize len);

/**
 * gv_elf64_phdr() - program header @i of an ELF64 image
 * @data: the ELF file's bytes
 * @len: their number
 * @i: which header
 * @ph: set to it
 *
 * Bounds-checked: the header table must lie inside @data.  The header's
 * own offsets are not checked against @len; callers that follow them do.
 *
 * Return: FALSE when @data is not a well-formed ELF64 image or has no
 * header @i.
 */
gboolean gv_elf64_phdr(const guint8 *data, gsize len, guint i, Elf64_Phdr *ph);
