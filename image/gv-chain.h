/* SPDX-License-Identifier: MIT */
/*
 * gv-chain.h - the pure rules for what a base image may point at
 *
 * A qcow2 header names other files: a backing file and an external data
 * file.  QEMU opens what they name with the rights of whoever runs it,
 * and the guest then reads those bytes as its disk.  So a downloaded
 * image that names /root/secret, /dev/sda or ../../etc/shadow hands that
 * file to the guest.  These functions decide, on strings and modes only,
 * which references an untrusted image may make; info.c applies them
 * while it walks the chain (GV_IMAGE_INFO_CONFINE).  No I/O here, so the
 * rules have table-driven unit tests (tests/image/test-chain.c).
 */
#pragma once

#include <glib.h>
#include <sys/types.h>

G_BEGIN_DECLS

/**
 * GvChainRef - what kind of file name a header holds
 * @GV_CHAIN_REF_RELATIVE: a plain relative path that stays inside the
 *                         image's directory (lexically)
 * @GV_CHAIN_REF_ABSOLUTE: starts with '/'
 * @GV_CHAIN_REF_ESCAPES: relative, but its ".." components climb out of
 *                        the directory it is resolved against
 * @GV_CHAIN_REF_JSON: QEMU's "json:{...}" notation: options, not a path
 * @GV_CHAIN_REF_PROTOCOL: "proto:..." before any '/': QEMU reads it as a
 *                         protocol (nbd:, http:, ssh:, ...), not a file
 */
typedef enum {
	GV_CHAIN_REF_RELATIVE,
	GV_CHAIN_REF_ABSOLUTE,
	GV_CHAIN_REF_ESCAPES,
	GV_CHAIN_REF_JSON,
	GV_CHAIN_REF_PROTOCOL,
} GvChainRef;

/**
 * gv_chain_ref_classify() - classify a backing or data file name
 * @ref: the name as the header records it, not empty
 *
 * The protocol rule is QEMU's path_has_protocol(): a ':' that comes
 * before the first '/'.  "./a:b" is therefore a file, "a:b" is not.
 *
 * Return: the kind of reference.
 */
GvChainRef gv_chain_ref_classify(const char *ref);

/**
 * gv_chain_path_within() - whether @path lies inside directory @dir
 * @dir: an absolute, canonical directory ("/" allowed)
 * @path: an absolute, canonical path
 *
 * Compares whole components: /srv/img-evil is not inside /srv/img.
 *
 * Return: TRUE when @path is @dir itself or below it.
 */
gboolean gv_chain_path_within(const char *dir, const char *path);

/**
 * gv_chain_mode_problem() - why a file of this type cannot be in a chain
 * @mode: st_mode of the opened file
 * @confined: the image is untrusted (block devices refused too)
 *
 * FIFOs, sockets and character devices are never disks: reading one
 * blocks or returns endless bytes, so they are refused even when the
 * image is trusted.  A directory is not a disk either.  A block device is
 * a legitimate disk, but an untrusted image must not pick one.
 *
 * Return: (nullable): a static phrase ("is a FIFO"), or NULL when the
 * file may be opened as a disk.
 */
const char *gv_chain_mode_problem(mode_t mode, gboolean confined);

G_END_DECLS
