/* SPDX-License-Identifier: MIT */
/*
 * gv-writer.h - the output queue of the qcow2 writer
 *
 * Two backends implement this: writer-uring.c (io_uring, several writes
 * in flight, so the kernel copies into the page cache while the main
 * thread reads and the workers compress) and writer-pwrite.c (plain
 * pwrite, when liburing is not available).  Meson picks one; the callers
 * do not know which.
 *
 * A buffer handed to gv_writer_write() must stay untouched until its
 * @done callback has run.  Callbacks run on the calling thread, from
 * inside gv_writer_write(), gv_writer_wait() or gv_writer_drain().
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct GvWriter GvWriter;
typedef void (*GvWriteDone)(gpointer data);

/**
 * gv_writer_new() - a queue writing to @fd
 * @fd: open for writing; not closed by the writer
 * @path: the file's final name, for messages
 * @depth: most writes in flight at once
 * @error: GV_IMAGE_ERROR_IO when the backend cannot start
 *
 * Return: (transfer full): the writer.
 */
GvWriter *gv_writer_new(int fd, const char *path, guint depth, GError **error);

/**
 * gv_writer_write() - queue a write
 * @w: the writer
 * @buf: bytes, owned by the caller until @done runs
 * @len: their number
 * @off: file offset
 * @done: (nullable): called once the bytes are written (not on failure)
 * @data: for @done
 * @error: GV_IMAGE_ERROR_IO for this or an earlier failed write
 *
 * Blocks while @depth writes are in flight.
 *
 * Return: TRUE when queued.
 */
gboolean gv_writer_write(GvWriter *w, const void *buf, gsize len, guint64 off,
			 GvWriteDone done, gpointer data, GError **error);

/**
 * gv_writer_wait() - wait until at least one write has completed
 * @w: the writer
 * @error: GV_IMAGE_ERROR_IO
 *
 * Return: TRUE on success (also when nothing was in flight).
 */
gboolean gv_writer_wait(GvWriter *w, GError **error);

/** gv_writer_drain() - wait for every write; Return: FALSE if any failed */
gboolean gv_writer_drain(GvWriter *w, GError **error);

/** gv_writer_free() - drain (ignoring errors) and free */
void gv_writer_free(GvWriter *w);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(GvWriter, gv_writer_free)

G_END_DECLS
