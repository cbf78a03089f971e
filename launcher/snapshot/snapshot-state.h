/* SPDX-License-Identifier: MIT */
/*
 * snapshot-state.h - a snapshot's state file: QEMU's migration stream,
 * compressed
 *
 * The file is one zstd frame with a content checksum around the raw
 * stream QEMU writes for `migrate` and reads for `-incoming`, so that
 * `zstd -d` can open it by hand.  QEMU already sends a page of zeroes as
 * a flag and a byte, so a 1 GiB guest that uses 100 MiB costs about
 * 100 MiB of stream; zstd makes that about a fifth (kernel text, page
 * tables and slab compress well) and decompresses it faster than QEMU
 * loads it.  The checksum matters more than the size: QEMU checks device
 * state sections but not the RAM pages, so a flipped byte in a page would
 * otherwise restore a silently corrupted guest.
 *
 * Both directions block and are meant for a thread of their own: the
 * CLI's save reads the stream from a socket QEMU writes to, the
 * supervisor's restore writes it into the pipe QEMU reads (-incoming fd:7).
 */
#pragma once

#include <glib.h>

/**
 * gv_state_save() - compress a migration stream into a new state file
 * @in_fd: the stream (read until end of file; not closed)
 * @path: the file to create (mode 0600); removed again on failure
 * @raw_bytes: (out) (optional): bytes read from @in_fd
 * @file_bytes: (out) (optional): size of @path
 * @error: GV_ERROR_FAILED naming the file or the stream
 *
 * The file is fsynced before this returns.
 *
 * Return: TRUE on success.
 */
gboolean gv_state_save(int in_fd, const char *path, guint64 *raw_bytes, guint64 *file_bytes,
		       GError **error);

/**
 * gv_state_load() - decompress a state file into a descriptor
 * @path: the state file
 * @out_fd: where the raw stream goes (a pipe QEMU reads; not closed)
 * @raw_bytes: (out) (optional): bytes written to @out_fd
 * @error: GV_ERROR_FAILED: "... is corrupt (...)" when the data or its
 *         checksum is wrong, "... is cut short" when it ends before its
 *         frame does; G_IO_ERROR when writing to @out_fd fails
 *         (G_IO_ERROR_BROKEN_PIPE: QEMU exited)
 *
 * The checksum is verified when the frame ends, after the last bytes
 * have been written: the caller must not let the guest run before this
 * has returned TRUE.  When writing fails (QEMU gave up on what it read)
 * the rest is still decoded, into nothing, so that a corrupt file is
 * reported as corrupt rather than as the broken pipe it caused.
 *
 * Return: TRUE when the whole frame was written and its checksum held.
 */
gboolean gv_state_load(const char *path, int out_fd, guint64 *raw_bytes, GError **error);
