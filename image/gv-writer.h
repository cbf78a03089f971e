/* SPDX-License-Identifier: MIT */
/*
 * gv-writer.h - the output queue of the qcow2 writer
 *
 * Two backends implement this: writer-uring.c (io_uring, several writes
 * in flight while the workers read and compress) and writer-pwrite.c
 * (plain pwrite, when liburing is not available).  Meson picks one; the
 * callers do not know which.
 *
 * Direct I/O: the io_uring backend writes with O_DIRECT when the caller
 * promises aligned writes and the file system takes them, so the data
 * goes from the caller's buffers to the disk without a copy into the page
 * cache.  The data of an image is written once and not read back, and the
 * file is fsync()ed before it is renamed, so the page cache only costs:
 * on the test host, copying into it took more CPU than reading the source
 * and writing around it (docs/image.md has the figures).  The pwrite
 * backend stays buffered: one synchronous O_DIRECT write at a time would
 * leave the disk idle while the caller prepares the next.
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
 * @fd: open for writing; not closed by the writer.  While the writer
 *      writes directly, O_DIRECT is set on @fd's open file description;
 *      gv_writer_drain() clears it again.
 * @path: the file's final name, for messages
 * @depth: most writes in flight at once
 * @direct_align: 0 to write through the page cache; else a power of two
 *                that the caller promises every buffer address, offset
 *                and length will be a multiple of, so the writer may
 *                bypass the page cache (see gv_writer_alignment())
 * @error: GV_IMAGE_ERROR_IO when the backend cannot start
 *
 * Return: (transfer full): the writer.
 */
GvWriter *gv_writer_new(int fd, const char *path, guint depth, guint direct_align,
			GError **error);

/**
 * gv_writer_alignment() - the alignment writes must keep
 * @w: the writer
 *
 * Return: the @direct_align given to gv_writer_new() when the writer
 * writes directly (the backend can, the file system supports O_DIRECT
 * and needs no more than that alignment), else 1: anything goes.
 */
guint gv_writer_alignment(GvWriter *w);

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
 * gv_writer_poll() - run the callbacks of completed writes, without waiting
 * @w: the writer
 * @error: GV_IMAGE_ERROR_IO for a write that failed
 *
 * Return: TRUE unless a write failed.
 */
gboolean gv_writer_poll(GvWriter *w, GError **error);

/**
 * gv_writer_wait() - wait until at least one write has completed
 * @w: the writer
 * @error: GV_IMAGE_ERROR_IO
 *
 * Return: TRUE on success (also when nothing was in flight).
 */
gboolean gv_writer_wait(GvWriter *w, GError **error);

/**
 * gv_writer_drain() - wait for every write, then stop writing directly
 * @w: the writer
 * @error: GV_IMAGE_ERROR_IO for a write that failed
 *
 * Afterwards @fd is back to writing through the page cache (O_DIRECT
 * cleared), so that the caller can pwrite() unaligned metadata; later
 * writes through @w are buffered too.
 *
 * Return: FALSE if any write failed.
 */
gboolean gv_writer_drain(GvWriter *w, GError **error);

/** gv_writer_free() - drain (ignoring errors) and free */
void gv_writer_free(GvWriter *w);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(GvWriter, gv_writer_free)

G_END_DECLS
