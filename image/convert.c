/* SPDX-License-Identifier: MIT */
/*
 * convert.c - the write pipeline: raw data in, a qcow2 file out
 *
 * Theory of Operation
 * -------------------
 * The guest disk is described as segments (a source file, or pieces of
 * memory such as a partition table).  First the set of guest clusters
 * that may hold data is computed from the segments' SEEK_DATA/SEEK_HOLE
 * maps; holes are never read.  Those clusters are cut into jobs of a few
 * MiB and flow through two stages:
 *
 *   workers       (one per CPU) read a job's clusters (pread) into its
 *                 buffer, find the all-zero clusters there and, when
 *                 compressing, compress the others, each with its own
 *                 reusable codec context;
 *   main thread   hands out jobs and commits finished ones strictly in
 *                 guest order: it asks the packer (gv-qcow2.h) for host
 *                 offsets, records the L2 entries, and queues the writes
 *                 (io_uring when built with liburing).
 *
 * Reading in the workers spreads the copy out of the page cache over
 * every CPU; on the 2-CPU test host the main thread alone could not read
 * as fast as the disk wrote.  Workers finish in any order; a job waits in
 * its slot until all earlier ones are committed.  The number of slots
 * bounds memory (slots x job size) and makes the output independent of
 * thread timing, so the same input gives the same bytes.
 *
 * Uncompressed clusters are written straight from the job's buffer, the
 * one the data was read into and checked for zeros (the slot is reused
 * once the write completes); compressed ones are packed back to back into
 * staging buffers.  With io_uring the data bypasses the page cache
 * (O_DIRECT, gv-writer.h says why) when the cluster size allows: every
 * data write is then aligned to DIRECT_ALIGN.  Raw runs are, being whole
 * clusters from page-aligned buffers; the staged stream of compressed
 * bytes is written in whole blocks, and the last partial block moves on
 * to the next staging buffer, or is padded with zeros where the stream
 * stops (before a raw run, at the end).  The zeros lie in the unused rest
 * of a data cluster, which reads as zeros anyway.
 *
 * Data starts at cluster 1.  Since the map is complete only at the end,
 * the L2 tables, L1 table and refcounts are written after the data
 * (through the page cache), and the header last (qcow2-write.c).  The
 * file has a temporary name until the final fsync and rename.
 */
#include "gv-image-private.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gv-compress.h"
#include "gv-writer.h"

/*
 * Job and staging sizes: large enough that per-job overhead (a queue
 * round trip, one pread, one write) is noise next to the copying, small
 * enough that slots x size stays a few tens of MiB.  Direct writes of
 * 4 MiB are what the test host's virtio disk takes in one request
 * (max_sectors_kb).
 */
#define JOB_BYTES_PLAIN (4u << 20)
#define JOB_BYTES_COMPRESSED (1u << 20)
#define STAGE_BYTES (4u << 20)
#define N_STAGES 4
#define MAX_THREADS 64
/* 16-bit refcounts (GV_QCOW2_REFCOUNT_ORDER). */
#define REFCOUNT_MAX 65535
/*
 * What direct writes are aligned to: a page covers every logical block
 * size in common use (512 and 4096), and cluster offsets are multiples
 * of it from 4 KiB clusters up.  Smaller clusters write buffered.
 */
#define DIRECT_ALIGN 4096u
/* Writes in flight beyond the jobs being read: enough to keep the disk busy. */
#define WRITE_SLOTS 4
/*
 * A cluster whose first bytes are not zero is data; only the others are
 * read whole to tell (2% of the clusters of an ext4 image of /usr/lib
 * start with 64 zero bytes, 1.3% are all zeros).
 */
#define PROBE_BYTES 64

static inline guint64 round_up(guint64 x, guint64 align)
{
	return (x + align - 1) / align * align;
}

typedef enum { CL_ZERO, CL_RAW, CL_COMPRESSED } ClusterKind;

typedef struct {
	guint32 len; /* compressed bytes, at out + index * cluster size */
	guint8 kind;
} ClusterResult;

typedef enum { JOB_FREE, JOB_QUEUED, JOB_DONE, JOB_COMMITTED } JobState;

typedef struct {
	JobState state;
	guint64 seq;
	guint64 first_cluster;
	guint n_clusters;
	guint8 *in;           /* read buffer */
	const guint8 *data;   /* the job's bytes: @in, or @map */
	void *map;            /* the source mapped (map_job()), or NULL */
	gsize map_len;
	guint8 *out;
	ClusterResult *res;
	GError *error;        /* a failed read, reported when committed */
	guint pending_writes; /* writes still reading from @data */
} Job;

/*
 * Compressed bytes waiting to be written: @buf holds host bytes
 * [@host_start, @host_start + @len); @host_start is aligned.
 */
typedef struct {
	guint8 *buf;
	gsize len;
	guint64 host_start;
	gboolean busy;
} Stage;

typedef struct {
	guint64 first, end; /* guest clusters [first, end) */
} Range;

typedef struct {
	guint bits;
	gsize cs;
	guint align; /* of every data write: DIRECT_ALIGN when direct, else 1 */
	gsize page_size;
	const GvImageConvertOptions *opts;
	const GvSegment *segs;
	gsize n_segs;
	const char *path;

	GArray *ranges;
	guint64 total_bytes;

	Job *jobs;
	guint n_jobs;
	guint job_clusters;

	GAsyncQueue *todo;
	GAsyncQueue *done;
	GThread **threads;
	guint n_threads;
	Job stop; /* sentinel: a worker that pops it exits */

	GvWriter *writer;
	GvQcow2Packer packer;
	GvQcow2Map map;
	Stage stages[N_STAGES];
	Stage *stage;
} Pipeline;

typedef struct {
	Pipeline *pl;
	GvCompressor *comp;
} Worker;

/* ------------------------------------------------------------------------ */
/* Which guest clusters may hold data                                       */
/* ------------------------------------------------------------------------ */

static void add_range(Pipeline *pl, guint64 g0, guint64 g1)
{
	Range r = { g0 >> pl->bits, (g1 + pl->cs - 1) >> pl->bits };

	if (r.first >= r.end)
		return;
	if (pl->ranges->len) {
		Range *last = &g_array_index(pl->ranges, Range, pl->ranges->len - 1);
		if (r.first <= last->end) {
			last->end = MAX(last->end, r.end);
			return;
		}
	}
	g_array_append_val(pl->ranges, r);
}

static gboolean map_segment(Pipeline *pl, const GvSegment *s, GError **error)
{
	guint64 pos = s->src_offset, end = s->src_offset + s->length;

	if (s->fd < 0) {
		add_range(pl, s->guest_offset, s->guest_offset + s->length);
		return TRUE;
	}
	while (pos < end) {
		off_t data = lseek(s->fd, (off_t)pos, SEEK_DATA);
		if (data < 0 && errno == ENXIO)
			break; /* only a hole from here on */
		if (data < 0 && (errno == EINVAL || errno == EOPNOTSUPP)) {
			data = (off_t)pos; /* no hole map here: everything is data */
		} else if (data < 0) {
			return gv_io_error(error, errno, "cannot map the data of", s->name);
		}
		if ((guint64)data >= end)
			break;
		off_t hole = lseek(s->fd, data, SEEK_HOLE);
		guint64 stop = hole < 0 ? end : MIN((guint64)hole, end);
		add_range(pl, s->guest_offset + ((guint64)data - s->src_offset),
			  s->guest_offset + (stop - s->src_offset));
		pos = stop;
	}
	return TRUE;
}

/* Read guest bytes [g0, g0 + len) from the segments; gaps read as zeros. */
static gboolean read_guest(Pipeline *pl, guint64 g0, gsize len, guint8 *buf, GError **error)
{
	guint64 pos = g0, end = g0 + len;

	for (gsize i = 0; i < pl->n_segs && pos < end; i++) {
		const GvSegment *s = &pl->segs[i];
		guint64 s_end = s->guest_offset + s->length;

		if (s_end <= pos)
			continue;
		if (s->guest_offset >= end)
			break;
		if (s->guest_offset > pos) {
			memset(buf + (pos - g0), 0, s->guest_offset - pos);
			pos = s->guest_offset;
		}
		gsize n = (gsize)(MIN(end, s_end) - pos);
		if (s->fd >= 0) {
			if (!gv_pread_full(s->fd, buf + (pos - g0), n,
					   s->src_offset + (pos - s->guest_offset), s->name, error))
				return FALSE;
		} else {
			memcpy(buf + (pos - g0), s->data + (pos - s->guest_offset), n);
		}
		pos += n;
	}
	if (pos < end)
		memset(buf + (pos - g0), 0, end - pos);
	return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Workers                                                                  */
/* ------------------------------------------------------------------------ */

/*
 * Uncompressed, a job that lies inside one source file is not read into
 * memory at all: it is mapped, and its writes go out from the mapping
 * (under O_DIRECT the disk takes the bytes straight from the source's
 * page cache; buffered, the kernel copies page cache to page cache).  On
 * the test host the copy out of the page cache was the largest cost left
 * once the writes were direct, and it slowed the disk's own transfers.
 *
 * This process never dereferences the mapping itself: the zeros are
 * found with small preads (a cluster's first PROBE_BYTES, then the whole
 * cluster into the idle read buffer when those are zero).  A mapped page
 * that cannot be had (the source truncated meanwhile, a read error) then
 * fails the write with EFAULT, where touching it would have killed the
 * process with SIGBUS.  Jobs that reach past the segment's end (the last
 * partial cluster of a source that is not a cluster multiple, which
 * reads as zeros beyond the end), span segments or start off a page
 * boundary in their file are read as usual.
 *
 * Return: FALSE when the job is to be read instead (the mapping failed);
 * TRUE when it was mapped, possibly with a read error in job->error.
 */
static gboolean map_job(Pipeline *pl, Job *job)
{
	guint64 g0 = job->first_cluster << pl->bits;
	gsize len = (gsize)job->n_clusters << pl->bits;
	const GvSegment *s = NULL;
	guint8 probe[PROBE_BYTES];

	for (gsize i = 0; i < pl->n_segs && !s; i++) {
		if (pl->segs[i].guest_offset <= g0 &&
		    g0 < pl->segs[i].guest_offset + pl->segs[i].length)
			s = &pl->segs[i];
	}
	if (!s || s->fd < 0 || g0 + len > s->guest_offset + s->length)
		return FALSE;
	guint64 src = s->src_offset + (g0 - s->guest_offset);
	if (src % pl->page_size)
		return FALSE;
	void *m = mmap(NULL, len, PROT_READ, MAP_SHARED, s->fd, (off_t)src);
	if (m == MAP_FAILED)
		return FALSE;
	job->map = m;
	job->map_len = len;
	job->data = m;
	for (guint i = 0; i < job->n_clusters; i++) {
		guint64 off = src + ((guint64)i << pl->bits);
		guint8 *scratch = job->in + (gsize)i * pl->cs;
		ClusterResult *r = &job->res[i];

		r->len = 0;
		r->kind = CL_RAW;
		if (!gv_pread_full(s->fd, probe, sizeof(probe), off, s->name, &job->error))
			return TRUE;
		if (!gv_buffer_is_zero(probe, sizeof(probe)))
			continue;
		if (!gv_pread_full(s->fd, scratch, pl->cs, off, s->name, &job->error))
			return TRUE;
		if (gv_buffer_is_zero(scratch, pl->cs))
			r->kind = CL_ZERO;
	}
	return TRUE;
}

static void process(Pipeline *pl, Job *job, GvCompressor *comp)
{
	if (!comp && map_job(pl, job))
		return;
	job->data = job->in;
	if (!read_guest(pl, job->first_cluster << pl->bits, (gsize)job->n_clusters << pl->bits,
			job->in, &job->error))
		return;
	for (guint i = 0; i < job->n_clusters; i++) {
		const guint8 *p = job->in + (gsize)i * pl->cs;
		ClusterResult *r = &job->res[i];

		r->len = 0;
		if (gv_buffer_is_zero(p, pl->cs)) {
			r->kind = CL_ZERO;
		} else if (comp) {
			/* Less than a cluster, or it is not worth compressing (as QEMU). */
			gsize n = comp->compress(comp, p, pl->cs, job->out + (gsize)i * pl->cs,
						 pl->cs - 1);
			r->kind = n ? CL_COMPRESSED : CL_RAW;
			r->len = (guint32)n;
		} else {
			r->kind = CL_RAW;
		}
	}
}

static gpointer worker_main(gpointer data)
{
	Worker *w = data;
	Pipeline *pl = w->pl;

	for (;;) {
		Job *job = g_async_queue_pop(pl->todo);
		if (job == &pl->stop)
			break;
		process(pl, job, w->comp);
		g_async_queue_push(pl->done, job);
	}
	if (w->comp)
		w->comp->free(w->comp);
	g_free(w);
	return NULL;
}

/* ------------------------------------------------------------------------ */
/* Committing in order                                                      */
/* ------------------------------------------------------------------------ */

/* Unmap what map_job() mapped; idempotent. */
static void job_unmap(Job *job)
{
	if (job->map)
		munmap(job->map, job->map_len);
	job->map = NULL;
	job->data = NULL;
}

static void raw_write_done(gpointer data)
{
	Job *job = data;

	if (--job->pending_writes == 0 && job->state == JOB_COMMITTED) {
		job_unmap(job);
		job->state = JOB_FREE;
	}
}

static void stage_write_done(gpointer data)
{
	Stage *st = data;

	st->busy = FALSE;
	st->len = 0;
}

/* A staging buffer that is neither being filled nor written. */
static Stage *stage_free(Pipeline *pl, GError **error)
{
	for (;;) {
		for (guint i = 0; i < N_STAGES; i++) {
			Stage *st = &pl->stages[i];
			if (!st->busy && st != pl->stage)
				return st;
		}
		if (!gv_writer_wait(pl->writer, error))
			return NULL;
	}
}

/*
 * Write the current stage's whole blocks.  With @pad the last partial
 * block is filled up with zeros and written too, and no stage is left
 * current; without, it starts the next stage.
 */
static gboolean stage_flush(Pipeline *pl, gboolean pad, GError **error)
{
	Stage *st = pl->stage, *next = NULL;
	gsize whole;

	if (!st)
		return TRUE;
	whole = pad ? round_up(st->len, pl->align) : st->len / pl->align * pl->align;
	if (whole < st->len) {
		if (!(next = stage_free(pl, error)))
			return FALSE;
		next->host_start = st->host_start + whole;
		next->len = st->len - whole;
		memcpy(next->buf, st->buf + whole, next->len);
	} else {
		memset(st->buf + st->len, 0, whole - st->len);
	}
	pl->stage = next;
	if (whole == 0) {
		st->len = 0;
		return TRUE;
	}
	st->busy = TRUE;
	return gv_writer_write(pl->writer, st->buf, whole, st->host_start, stage_write_done, st,
			       error);
}

/* Append @len bytes that the packer placed at host offset @off. */
static gboolean stage_append(Pipeline *pl, guint64 off, const guint8 *data, gsize len,
			     GError **error)
{
	Stage *st = pl->stage;

	if (st) {
		guint64 end = st->host_start + st->len;
		/*
		 * The packer skips bytes to start a fresh cluster when a
		 * refcount is full.  A gap inside the last block is filled
		 * with zeros; beyond it the stream starts afresh.
		 */
		if (off > end && off < round_up(end, pl->align)) {
			memset(st->buf + st->len, 0, off - end);
			st->len += off - end;
		} else if (off != end && !stage_flush(pl, TRUE, error)) {
			return FALSE;
		}
	}
	if (pl->stage && pl->stage->len + len > STAGE_BYTES &&
	    !stage_flush(pl, FALSE, error))
		return FALSE;
	if (!pl->stage) {
		if (!(st = stage_free(pl, error)))
			return FALSE;
		st->host_start = off / pl->align * pl->align;
		st->len = off - st->host_start;
		memset(st->buf, 0, st->len);
		pl->stage = st;
	}
	st = pl->stage;
	memcpy(st->buf + st->len, data, len);
	st->len += len;
	return TRUE;
}

/*
 * The job stays JOB_DONE while its writes are queued: a completion that
 * runs inside gv_writer_write() must not free the slot while later runs
 * of the same job are still to be written from it.
 */
static gboolean commit(Pipeline *pl, Job *job, GError **error)
{
	guint32 pad;

	for (guint i = 0; i < job->n_clusters; i++) {
		ClusterResult *r = &job->res[i];
		guint64 guest = job->first_cluster + i;

		if (r->kind == CL_ZERO)
			continue;
		if (r->kind == CL_COMPRESSED) {
			guint64 off = gv_qcow2_packer_place(&pl->packer, r->len, TRUE, &pad);
			if (!stage_append(pl, off, job->out + (gsize)i * pl->cs, r->len, error))
				return FALSE;
			gv_qcow2_map_set(&pl->map, guest, gv_qcow2_compressed_entry(pl->bits, off, r->len));
			continue;
		}
		/* A run of raw clusters: one write, straight from the input buffer. */
		guint j = i;
		while (j + 1 < job->n_clusters && job->res[j + 1].kind == CL_RAW)
			j++;
		if (!stage_flush(pl, TRUE, error))
			return FALSE;
		guint64 first_off = 0;
		for (guint k = i; k <= j; k++) {
			guint64 off = gv_qcow2_packer_place(&pl->packer, (guint32)pl->cs, FALSE, &pad);
			if (k == i)
				first_off = off;
			gv_qcow2_map_set(&pl->map, job->first_cluster + k, off | GV_QCOW2_OFLAG_COPIED);
		}
		job->pending_writes++;
		if (!gv_writer_write(pl->writer, job->data + (gsize)i * pl->cs,
				     (gsize)(j - i + 1) * pl->cs, first_off, raw_write_done, job,
				     error)) {
			job->pending_writes--;
			return FALSE;
		}
		i = j;
	}
	if (job->pending_writes) {
		job->state = JOB_COMMITTED;
	} else {
		job_unmap(job);
		job->state = JOB_FREE;
	}
	return TRUE;
}

/* ------------------------------------------------------------------------ */
/* The loop                                                                 */
/* ------------------------------------------------------------------------ */

static Job *free_job(Pipeline *pl)
{
	for (guint i = 0; i < pl->n_jobs; i++) {
		if (pl->jobs[i].state == JOB_FREE)
			return &pl->jobs[i];
	}
	return NULL;
}

static Job *job_with_seq(Pipeline *pl, guint64 seq)
{
	for (guint i = 0; i < pl->n_jobs; i++) {
		if ((pl->jobs[i].state == JOB_QUEUED || pl->jobs[i].state == JOB_DONE) &&
		    pl->jobs[i].seq == seq)
			return &pl->jobs[i];
	}
	g_assert_not_reached();
}

static gboolean run(Pipeline *pl, GError **error)
{
	guint64 next_seq = 0, commit_seq = 0, done_bytes = 0;
	guint r = 0;
	guint64 c = pl->ranges->len ? g_array_index(pl->ranges, Range, 0).first : 0;

	for (;;) {
		Job *job;

		/* Free the slots whose writes are done, and keep them all busy. */
		if (!gv_writer_poll(pl->writer, error))
			return FALSE;
		while (r < pl->ranges->len && (job = free_job(pl))) {
			Range *rg = &g_array_index(pl->ranges, Range, r);
			job->first_cluster = c;
			job->n_clusters = (guint)MIN(pl->job_clusters, rg->end - c);
			c += job->n_clusters;
			if (c == rg->end && ++r < pl->ranges->len)
				c = g_array_index(pl->ranges, Range, r).first;
			job->seq = next_seq++;
			job->state = JOB_QUEUED;
			g_async_queue_push(pl->todo, job);
		}
		if (commit_seq == next_seq) {
			if (r >= pl->ranges->len)
				break;
			/* Every slot waits for its writes. */
			if (!gv_writer_wait(pl->writer, error))
				return FALSE;
			continue;
		}
		/*
		 * Commit the oldest job; later ones that finish first wait.
		 * After each job a worker hands back, look for free slots
		 * again, so the workers never starve while this one waits.
		 */
		job = job_with_seq(pl, commit_seq);
		if (job->state != JOB_DONE) {
			Job *d = g_async_queue_pop(pl->done);
			d->state = JOB_DONE;
			continue;
		}
		if (job->error) {
			g_propagate_error(error, g_steal_pointer(&job->error));
			job->state = JOB_COMMITTED;
			return FALSE;
		}
		if (!commit(pl, job, error)) {
			job->state = JOB_COMMITTED; /* its writes drain in pipeline_clear() */
			return FALSE;
		}
		commit_seq++;
		done_bytes += (guint64)job->n_clusters << pl->bits;
		if (pl->opts->progress)
			pl->opts->progress(MIN(done_bytes, pl->total_bytes), pl->total_bytes,
					   pl->opts->progress_data);
	}
	if (!stage_flush(pl, TRUE, error))
		return FALSE;
	return gv_writer_drain(pl->writer, error);
}

static void pipeline_clear(Pipeline *pl)
{
	if (pl->threads) {
		for (guint i = 0; i < pl->n_threads; i++)
			g_async_queue_push(pl->todo, &pl->stop);
		for (guint i = 0; i < pl->n_threads; i++) {
			if (pl->threads[i])
				g_thread_join(pl->threads[i]);
		}
		g_free(pl->threads);
	}
	/* The writer goes before the buffers it may still be writing from. */
	g_clear_pointer(&pl->writer, gv_writer_free);
	for (guint i = 0; pl->jobs && i < pl->n_jobs; i++) {
		job_unmap(&pl->jobs[i]);
		g_aligned_free(pl->jobs[i].in);
		g_free(pl->jobs[i].out);
		g_free(pl->jobs[i].res);
		g_clear_error(&pl->jobs[i].error);
	}
	g_free(pl->jobs);
	for (guint i = 0; i < N_STAGES; i++)
		g_aligned_free(pl->stages[i].buf);
	g_clear_pointer(&pl->todo, g_async_queue_unref);
	g_clear_pointer(&pl->done, g_async_queue_unref);
	g_clear_pointer(&pl->ranges, g_array_unref);
	gv_qcow2_packer_clear(&pl->packer);
	gv_qcow2_map_clear(&pl->map);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Pipeline, pipeline_clear)

static gboolean start_workers(Pipeline *pl, GError **error)
{
	GvImageCompression ctype = pl->opts->compression;

	pl->todo = g_async_queue_new();
	pl->done = g_async_queue_new();
	pl->threads = g_new0(GThread *, pl->n_threads);
	for (guint i = 0; i < pl->n_threads; i++) {
		Worker *w = g_new0(Worker, 1);
		w->pl = pl;
		/* Made here, not in the thread, so a bad level fails before any work. */
		if (ctype != GV_IMAGE_COMPRESSION_NONE &&
		    !(w->comp = gv_compressor_new(ctype, pl->opts->level, error))) {
			g_free(w);
			pl->n_threads = i;
			return FALSE;
		}
		pl->threads[i] = g_thread_new("gv-compress", worker_main, w);
	}
	return TRUE;
}

gboolean gv_qcow2_write_segments(const char *dst, guint64 virtual_size, const GvSegment *segs,
				 gsize n_segs, const GvImageConvertOptions *opts, GError **error)
{
	/* Declared first so it is cleaned up last: the pipeline drains its
	 * writes before the temporary file is closed and unlinked. */
	g_auto(GvAtomicFile) f = GV_ATOMIC_FILE_INIT;
	g_auto(Pipeline) pl = { 0 };
	gboolean compress = opts->compression != GV_IMAGE_COMPRESSION_NONE;

	g_return_val_if_fail(virtual_size % 512 == 0, FALSE);
	if (!gv_image_cluster_bits(opts->cluster_size, &pl.bits, error))
		return FALSE;
	if (opts->threads > MAX_THREADS) {
		g_set_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_INVALID,
			    "%u threads is too many (at most %d)", opts->threads, MAX_THREADS);
		return FALSE;
	}
	pl.cs = (gsize)1 << pl.bits;
	pl.page_size = (gsize)sysconf(_SC_PAGESIZE);
	pl.opts = opts;
	pl.segs = segs;
	pl.n_segs = n_segs;
	pl.path = dst;
	if (!gv_qcow2_map_init(&pl.map, virtual_size, pl.bits)) {
		g_set_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_INVALID,
			    "%s: virtual size %" G_GUINT64_FORMAT
			    " needs an L1 table over QEMU's 32 MiB limit; use a larger cluster size",
			    dst, virtual_size);
		return FALSE;
	}
	gv_qcow2_packer_init(&pl.packer, pl.bits, pl.cs, REFCOUNT_MAX);

	pl.ranges = g_array_new(FALSE, FALSE, sizeof(Range));
	for (gsize i = 0; i < n_segs; i++) {
		if (!map_segment(&pl, &segs[i], error))
			return FALSE;
	}
	for (guint i = 0; i < pl.ranges->len; i++) {
		Range *rg = &g_array_index(pl.ranges, Range, i);
		/* Segments never extend past the disk, but be sure of it. */
		rg->end = MIN(rg->end, pl.map.l1_size << (pl.bits - 3));
		pl.total_bytes += (rg->end - rg->first) << pl.bits;
	}
	pl.total_bytes = MIN(pl.total_bytes, virtual_size);

	pl.n_threads = opts->threads ? opts->threads : g_get_num_processors();
	pl.job_clusters = MAX(1u, (compress ? JOB_BYTES_COMPRESSED : JOB_BYTES_PLAIN) >> pl.bits);
	/*
	 * Two jobs per worker keep them busy while the main thread commits;
	 * uncompressed, WRITE_SLOTS more wait for their writes meanwhile.
	 */
	pl.n_jobs = 2 * pl.n_threads + 2 + (compress ? 0 : WRITE_SLOTS);
	pl.jobs = g_new0(Job, pl.n_jobs);
	for (guint i = 0; i < pl.n_jobs; i++) {
		gsize bytes = (gsize)pl.job_clusters << pl.bits;
		/* Aligned for direct writes, which come straight from here. */
		pl.jobs[i].in = g_aligned_alloc(bytes, 1, DIRECT_ALIGN);
		pl.jobs[i].out = compress ? g_malloc(bytes) : NULL;
		pl.jobs[i].res = g_new0(ClusterResult, pl.job_clusters);
	}
	for (guint i = 0; i < N_STAGES && compress; i++)
		pl.stages[i].buf = g_aligned_alloc(MAX(STAGE_BYTES, 2 * pl.cs), 1, DIRECT_ALIGN);

	if (!gv_atomic_file_open(&f, dst, error))
		return FALSE;
	/* Clusters below a page would not keep raw writes page-aligned. */
	pl.writer = gv_writer_new(f.fd, dst, pl.n_jobs + N_STAGES,
				  pl.cs >= DIRECT_ALIGN ? DIRECT_ALIGN : 0, error);
	if (!pl.writer)
		return FALSE;
	pl.align = gv_writer_alignment(pl.writer);
	if (!start_workers(&pl, error) || !run(&pl, error))
		return FALSE;

	GvQcow2Target t = {
		.virtual_size = virtual_size,
		.cluster_bits = pl.bits,
		.compression_type = opts->compression == GV_IMAGE_COMPRESSION_ZSTD
					    ? GV_QCOW2_COMPRESSION_ZSTD
					    : GV_QCOW2_COMPRESSION_ZLIB,
	};
	guint64 data_end = MAX(1, (pl.packer.pos + pl.cs - 1) >> pl.bits);
	if (!gv_qcow2_write_metadata(f.fd, dst, &t, &pl.map, &pl.packer, data_end, error))
		return FALSE;
	return gv_atomic_file_commit(&f, error);
}

gboolean gv_image_convert(const char *src, const char *dst, const GvImageConvertOptions *opts,
			  GError **error)
{
	static const GvImageConvertOptions defaults = { 0 };
	struct stat st, dst_st;
	guint8 magic[4] = { 0 };

	if (!opts)
		opts = &defaults;
	gv_autofd int fd = gv_open_input(src, "source", error);
	if (fd < 0)
		return FALSE;
	if (fstat(fd, &st) < 0)
		return gv_io_error(error, errno, "cannot stat", src);
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
		g_set_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_INVALID,
			    "source %s is not a regular file or block device", src);
		return FALSE;
	}
	if (stat(dst, &dst_st) == 0) {
		if (dst_st.st_dev == st.st_dev && dst_st.st_ino == st.st_ino) {
			g_set_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_INVALID,
				    "destination %s is the source", dst);
			return FALSE;
		}
		if (S_ISDIR(dst_st.st_mode)) {
			g_set_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_INVALID,
				    "destination %s is a directory", dst);
			return FALSE;
		}
	}
	off_t size = lseek(fd, 0, SEEK_END);
	if (size < 0)
		return gv_io_error(error, errno, "cannot seek in", src);
	if (!gv_pread_full(fd, magic, sizeof(magic), 0, src, error))
		return FALSE;
	if (gv_get_be32(magic) == GV_QCOW2_MAGIC) {
		g_set_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_UNSUPPORTED,
			    "source %s is a qcow2 image; convert reads raw disks", src);
		return FALSE;
	}
	if ((guint64)size > G_MAXINT64 - 511) {
		g_set_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_INVALID, "source %s too large", src);
		return FALSE;
	}

	GvSegment seg = {
		.guest_offset = 0,
		.length = (guint64)size,
		.fd = fd,
		.src_offset = 0,
		.name = src,
	};
	guint64 virtual_size = ((guint64)size + 511) & ~G_GUINT64_CONSTANT(511);
	return gv_qcow2_write_segments(dst, virtual_size, &seg, 1, opts, error);
}
