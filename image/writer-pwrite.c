/* SPDX-License-Identifier: MIT */
/*
 * writer-pwrite.c - the output queue without io_uring: synchronous pwrite
 *
 * Built when liburing is not found.  Every write completes before
 * gv_writer_write() returns, so there is never anything to wait for.
 * Always through the page cache: with one synchronous write at a time,
 * O_DIRECT would leave the disk idle while the caller reads and
 * compresses the next data.
 */
#include "gv-writer.h"

#include "gv-image-private.h"

struct GvWriter {
	int fd;
	char *path;
};

GvWriter *gv_writer_new(int fd, const char *path, guint depth, guint direct_align,
			GError **error)
{
	GvWriter *w = g_new0(GvWriter, 1);

	w->fd = fd;
	w->path = g_strdup(path);
	return w;
}

gboolean gv_writer_write(GvWriter *w, const void *buf, gsize len, guint64 off,
			 GvWriteDone done, gpointer data, GError **error)
{
	if (!gv_pwrite_all(w->fd, buf, len, off, w->path, error))
		return FALSE;
	if (done)
		done(data);
	return TRUE;
}

guint gv_writer_alignment(GvWriter *w)
{
	return 1;
}

gboolean gv_writer_poll(GvWriter *w, GError **error)
{
	return TRUE;
}

gboolean gv_writer_wait(GvWriter *w, GError **error)
{
	return TRUE;
}

gboolean gv_writer_drain(GvWriter *w, GError **error)
{
	return TRUE;
}

void gv_writer_free(GvWriter *w)
{
	if (!w)
		return;
	g_free(w->path);
	g_free(w);
}
