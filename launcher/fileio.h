/* SPDX-License-Identifier: MIT */
/*
 * fileio.h - writing files so that a crash or a reader never sees half
 *
 * The helpers every part of the launcher uses to write what it keeps:
 * state.json, pid files, the spec of the last up, snapshot metadata.
 */
#pragma once

#include <glib.h>
#include <sys/types.h>

/**
 * gv_write_file_atomic() - replace a file so readers see old or new, never half
 * @path: the file
 * @data: its new contents
 * @len: their length
 * @mode: permissions of the new file
 * @error: return location
 *
 * Writes PATH.tmp-XXXXXX in the same directory, fsyncs it, renames it
 * over @path and fsyncs the directory, so the new contents survive a
 * crash once this returns.  On failure the temporary file is removed and @path is
 * untouched.
 *
 * Return: TRUE on success.
 */
gboolean gv_write_file_atomic(const char *path, const void *data, gsize len,
			      mode_t mode, GError **error);

/**
 * gv_write_all() - write all of @buf, retrying short writes and EINTR
 * @fd: the descriptor
 * @buf: the bytes
 * @len: their number
 *
 * Return: TRUE when everything was written; FALSE with errno set.
 */
gboolean gv_write_all(int fd, const void *buf, gsize len);

/**
 * gv_write_runtime_file() - gv_write_file_atomic() without the fsync
 * @path: a file in the runtime directory (state.json, pid files, plan.json)
 * @data: its new contents
 * @len: their length
 * @mode: permissions of the new file
 * @error: return location
 *
 * Runtime files die with the VM or the host's boot: readers need old or
 * new, which the rename gives, not durability.  Each fsync cost up to
 * 40 ms on a busy disk here, several of them on the way to ready.
 *
 * Return: TRUE on success.
 */
gboolean gv_write_runtime_file(const char *path, const void *data, gsize len, mode_t mode,
			       GError **error);

/**
 * gv_unlink_if_exists() - unlink, treating ENOENT as success
 */
gboolean gv_unlink_if_exists(const char *path, GError **error);
