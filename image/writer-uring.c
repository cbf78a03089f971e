/* SPDX-License-Identifier: MIT */
/*
 * writer-uring.c - the output queue on io_uring
 *
 * Writes are submitted as they come and reaped when the queue is full or
 * the caller waits.  A short write (possible near a full disk) is
 * resubmitted for the rest; the first error is kept and returned by the
 * next call, so that the caller stops queueing and the temporary file is
 * removed.
 *
 * Direct I/O (gv-writer.h says why): O_DIRECT is set on the file with
 * fcntl() rather than on a second open, so the caller's fd, its
 * temporary name and its cleanup stay as they are.  Only where statx()
 * tells the alignment the file system needs (STATX_DIOALIGN, Linux 6.1)
 * and it is no more than the caller keeps; a direct write that still
 * fails with EINVAL makes the writer fall back to the page cache and
 * resubmit it.  On ext4 io_uring runs O_DIRECT writes to one file in
 * parallel (buffered ones it serializes per inode), which is what keeps
 * several MiB-sized writes in flight at the disk, once preallocate()
 * has made them overwrites.
 */
#include "gv-writer.h"

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <linux/stat.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gv-image-private.h"

/*
 * Preallocation ahead of the direct writes, growing from the first to
 * the last size: a small image does not reserve much more than it
 * needs, a large one calls fallocate() only a few times.
 */
#define PREALLOC_FIRST (G_GUINT64_CONSTANT(64) << 20)
#define PREALLOC_MAX (G_GUINT64_CONSTANT(1) << 30)

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
	guint align;       /* promised by the caller; 1 when buffered */
	gboolean direct;   /* O_DIRECT is set on fd */
	guint64 prealloc_end;  /* fallocate()d up to here; G_MAXUINT64 once given up */
	guint64 prealloc_step; /* how much the next fallocate() adds */
	guint64 size_limit;    /* RLIMIT_FSIZE */
	Req *reqs;
	GPtrArray *free_reqs;
	GError *failed; /* first failure, reported once */
};

/*
 * Whether the file system takes O_DIRECT writes aligned to @align.  One
 * that does not say (tmpfs, whose O_DIRECT is a copy anyway; kernels
 * before 6.1) gets buffered writes, as before direct I/O.
 */
static gboolean direct_ok(int fd, guint align)
{
	struct statx stx;

	if (statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) < 0 ||
	    !(stx.stx_mask & STATX_DIOALIGN))
		return FALSE;
	return stx.stx_dio_offset_align && stx.stx_dio_offset_align <= align &&
	       stx.stx_dio_mem_align <= align;
}

static gboolean set_direct(GvWriter *w, gboolean on)
{
	int flags = fcntl(w->fd, F_GETFL);

	if (flags < 0 ||
	    fcntl(w->fd, F_SETFL, on ? flags | O_DIRECT : flags & ~O_DIRECT) < 0)
		return FALSE;
	w->direct = on;
	return TRUE;
}

GvWriter *gv_writer_new(int fd, const char *path, guint depth, guint direct_align,
			GError **error)
{
	g_autoptr(GvWriter) w = g_new0(GvWriter, 1);
	int ret;

	g_return_val_if_fail((direct_align & (direct_align - 1)) == 0, NULL);
	w->fd = fd;
	w->path = g_strdup(path);
	w->depth = MAX(depth, 1);
	w->align = 1;
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
	/* Where O_DIRECT cannot be set (EINVAL), the page cache it is. */
	if (direct_align > 1 && direct_ok(fd, direct_align) && set_direct(w, TRUE)) {
		struct rlimit rl;
		struct stat st;

		w->align = direct_align;
		w->prealloc_step = PREALLOC_FIRST;
		w->size_limit = getrlimit(RLIMIT_FSIZE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY
					? rl.rlim_cur
					: G_MAXINT64;
		/* The file is new and empty, but do not shrink one that is not. */
		w->prealloc_end = fstat(fd, &st) == 0 ? (guint64)st.st_size : G_MAXUINT64;
	}
	return g_steal_pointer(&w);
}

/*
 * Extend the file with allocated (unwritten) blocks to cover @end.
 *
 * On ext4 a direct write that is not a pure overwrite of allocated
 * blocks (one that extends the file or fills a hole) takes the inode
 * lock exclusively, so the writes queued together serialize, and the
 * io_uring workers spin on the lock.  Into preallocated blocks they run
 * under the shared lock, side by side.  fallocate() itself waits for the
 * direct writes in flight, hence few large steps.  The data is written
 * in host order, so what is preallocated beyond it is at the end, where
 * the caller's final ftruncate() cuts it off.
 *
 * Best effort: where fallocate() fails (ENOSPC, EOPNOTSUPP, over the
 * file size limit) the writes go on into holes, and a disk that is
 * really full fails the writes themselves.  Whatever a failed call may
 * have allocated is cut off again so it cannot take the space the data
 * needs.
 */
static void preallocate(GvWriter *w, guint64 end)
{
	guint64 want = MAX(end, w->prealloc_end) + w->prealloc_step;

	want = MIN(want, w->size_limit);
	if (want < end || fallocate(w->fd, 0, (off_t)w->prealloc_end,
				    (off_t)(want - w->prealloc_end)) < 0) {
		/* Nothing in flight lies beyond the last preallocation. */
		if (ftruncate(w->fd, (off_t)w->prealloc_end) < 0) {
			/* Harmless: the final ftruncate() sets the size anyway. */
		}
		w->prealloc_end = G_MAXUINT64;
		return;
	}
	w->prealloc_end = want;
	w->prealloc_step = MIN(w->prealloc_step * 2, PREALLOC_MAX);
}

guint gv_writer_alignment(GvWriter *w)
{
	return w->align;
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

/* Handle one completion; a failure is recorded in w->failed. */
static void complete(GvWriter *w, struct io_uring_cqe *cqe)
{
	Req *r = io_uring_cqe_get_data(cqe);
	int res = cqe->res;

	io_uring_cqe_seen(&w->ring, cqe);
	if (res == -EINVAL && w->direct && set_direct(w, FALSE)) {
		/*
		 * The file system does not take this direct write after all
		 * (statx did not tell, or the rest of a short write is not
		 * aligned): from now on through the page cache.
		 */
		res = -EAGAIN;
	}
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
	g_return_val_if_fail(((guintptr)buf | len | off) % w->align == 0, FALSE);
	if (!reap(w, FALSE, error))
		return FALSE;
	while (w->free_reqs->len == 0) {
		if (!reap(w, TRUE, error))
			return FALSE;
	}
	if (w->direct && off + len > w->prealloc_end)
		preallocate(w, off + len);
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

gboolean gv_writer_poll(GvWriter *w, GError **error)
{
	return reap(w, FALSE, error);
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
	if (w->direct && !set_direct(w, FALSE) && !w->failed)
		gv_io_error(&w->failed, errno, "cannot stop direct writes to", w->path);
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
