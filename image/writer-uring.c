/* SPDX-License-Identifier: MIT */
/*
 * writer-uring.c - the output queue on io_uring
 *
 * Writes are submitted as they come and reaped when the queue is full or
 * the caller waits.  A short write (possible near a full disk) is
 * resubmitted for the rest; the first error is kept and returned by the
 * next call, so that the caller stops queueing and the temporary file is
 * removed.
 */
#include "gv-writer.h"

#include <errno.h>
#include <liburing.h>

#include "gv-image-private.h"

typedef struct {
	const guint8 *buf;
	gsize len;
	guint64 off;
	GvWriteDone done;
	gpointer data;
} Req;

struct GvWriter {
	int fd;
	char *path;
	struct io_uring ring;
	gboolean ring_ok;
	guint depth;
	guint inflight;
	Req *reqs;
	GPtrArray *free_reqs;
	GError *failed; /* first failure, reported once */
};

GvWriter *gv_writer_new(int fd, const char *path, guint depth, GError **error)
{
	g_autoptr(GvWriter) w = g_new0(GvWriter, 1);
	int ret;

	w->fd = fd;
	w->path = g_strdup(path);
	w->depth = MAX(depth, 1);
	ret = io_uring_queue_init(w->depth, &w->ring, 0);
	if (ret < 0) {
		gv_io_error(error, -ret, "cannot set up io_uring for", path);
		return NULL;
	}
	w->ring_ok = TRUE;
	w->reqs = g_new0(Req, w->depth);
	w->free_reqs = g_ptr_array_new();
	for (guint i = 0; i < w->depth; i++)
		g_ptr_array_add(w->free_reqs, &w->reqs[i]);
	return g_steal_pointer(&w);
}

static gboolean submit(GvWriter *w, Req *r, GError **error)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&w->ring);
	int ret;

	/* Never NULL: at most depth requests exist and the ring has depth entries. */
	g_assert(sqe);
	io_uring_prep_write(sqe, w->fd, r->buf, (unsigned)r->len, r->off);
	io_uring_sqe_set_data(sqe, r);
	do
		ret = io_uring_submit(&w->ring);
	while (ret == -EINTR);
	if (ret < 0)
		return gv_io_error(error, -ret, "cannot queue a write to", w->path);
	return TRUE;
}

/* Handle one completion; FALSE records the failure in w->failed. */
static void complete(GvWriter *w, struct io_uring_cqe *cqe)
{
	Req *r = io_uring_cqe_get_data(cqe);
	int res = cqe->res;

	io_uring_cqe_seen(&w->ring, cqe);
	if (res == -EINTR || res == -EAGAIN) {
		res = 0; /* resubmit unchanged */
	} else if (res < 0 || (res == 0 && r->len > 0)) {
		if (!w->failed)
			gv_io_error(&w->failed, res < 0 ? -res : ENOSPC, "cannot write", w->path);
		w->inflight--;
		g_ptr_array_add(w->free_reqs, r);
		return;
	}
	r->buf += res;
	r->len -= (gsize)res;
	r->off += (guint64)res;
	if (r->len > 0 && !w->failed) {
		if (!submit(w, r, &w->failed)) {
			w->inflight--;
			g_ptr_array_add(w->free_reqs, r);
		}
		return;
	}
	w->inflight--;
	g_ptr_array_add(w->free_reqs, r);
	if (r->done && r->len == 0)
		r->done(r->data);
}

static gboolean reap(GvWriter *w, gboolean wait, GError **error)
{
	struct io_uring_cqe *cqe;
	int ret;

	if (wait && w->inflight > 0) {
		do
			ret = io_uring_wait_cqe(&w->ring, &cqe);
		while (ret == -EINTR);
		if (ret < 0)
			return gv_io_error(error, -ret, "cannot wait for writes to", w->path);
		complete(w, cqe);
	}
	while (w->inflight > 0 && io_uring_peek_cqe(&w->ring, &cqe) == 0)
		complete(w, cqe);
	if (w->failed) {
		g_propagate_error(error, g_error_copy(w->failed));
		return FALSE;
	}
	return TRUE;
}

gboolean gv_writer_write(GvWriter *w, const void *buf, gsize len, guint64 off,
			 GvWriteDone done, gpointer data, GError **error)
{
	/* io_uring write lengths are 32-bit; callers write a few MiB at most. */
	g_return_val_if_fail(len <= G_MAXINT32, FALSE);
	if (!reap(w, FALSE, error))
		return FALSE;
	while (w->free_reqs->len == 0) {
		if (!reap(w, TRUE, error))
			return FALSE;
	}
	Req *r = g_ptr_array_steal_index_fast(w->free_reqs, w->free_reqs->len - 1);
	*r = (Req){ buf, len, off, done, data };
	w->inflight++;
	if (!submit(w, r, error)) {
		w->inflight--;
		g_ptr_array_add(w->free_reqs, r);
		return FALSE;
	}
	return TRUE;
}

gboolean gv_writer_wait(GvWriter *w, GError **error)
{
	return reap(w, TRUE, error);
}

gboolean gv_writer_drain(GvWriter *w, GError **error)
{
	/*
	 * Wait for everything, even after a failure: the buffers of writes
	 * still in flight must not be freed under the kernel.
	 */
	while (w->inflight > 0) {
		g_autoptr(GError) local = NULL;
		if (!reap(w, TRUE, &local) && !w->failed) {
			g_propagate_error(error, g_steal_pointer(&local));
			return FALSE;
		}
	}
	if (w->failed) {
		g_propagate_error(error, g_error_copy(w->failed));
		return FALSE;
	}
	return TRUE;
}

void gv_writer_free(GvWriter *w)
{
	if (!w)
		return;
	if (w->ring_ok) {
		gv_writer_drain(w, NULL);
		io_uring_queue_exit(&w->ring);
	}
	g_clear_error(&w->failed);
	if (w->free_reqs)
		g_ptr_array_unref(w->free_reqs);
	g_free(w->reqs);
	g_free(w->path);
	g_free(w);
}
