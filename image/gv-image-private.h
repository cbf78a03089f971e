/* SPDX-License-Identifier: MIT */
/*
 * gv-image-private.h - helpers shared by the I/O side of the image library
 *
 * Not installed; tests may include it.
 */
#pragma once

#include <glib.h>
#include <unistd.h>

#include "grainvm-image.h"
#include "gv-qcow2.h"

G_BEGIN_DECLS

/*
 * GLib 2.76 has g_autofd; Debian 12 ships 2.74, so keep a local one until
 * the project's minimum moves.
 */
static inline void gv_close_fdp(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}
#define gv_autofd __attribute__((cleanup(gv_close_fdp)))

/**
 * GvAtomicFile - a file written under a temporary name, then renamed
 * @path: the final name
 * @tmp_path: the temporary name, in the same directory (so the rename is
 *            atomic), hidden: ".NAME.XXXXXX"
 * @fd: open for writing, -1 once committed or aborted
 * @slot: registration for gv_image_install_signal_cleanup(), or -1
 *
 * Declare with g_auto(GvAtomicFile) f = GV_ATOMIC_FILE_INIT; any return
 * before gv_atomic_file_commit() unlinks the temporary file.
 */
typedef struct {
	char *path;
	char *tmp_path;
	int fd;
	int slot;
} GvAtomicFile;

#define GV_ATOMIC_FILE_INIT { NULL, NULL, -1, -1 }

gboolean gv_atomic_file_open(GvAtomicFile *f, const char *path, GError **error);
/**
 * gv_atomic_file_commit() - fsync, rename into place, fsync the directory
 * @f: an open file
 * @error: GV_IMAGE_ERROR_IO
 *
 * Return: TRUE when the file is in place under its final name.
 */
gboolean gv_atomic_file_commit(GvAtomicFile *f, GError **error);
/** gv_atomic_file_abort() - close and unlink, if not committed; idempotent */
void gv_atomic_file_abort(GvAtomicFile *f);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(GvAtomicFile, gv_atomic_file_abort)

/**
 * gv_temp_register() - have the signal handler unlink @path
 * @path: a temporary file
 *
 * Return: a slot for gv_temp_unregister(), or -1 when all slots are taken
 * (the file is then only removed by the normal error path).
 */
int gv_temp_register(const char *path);
void gv_temp_unregister(int slot);

gboolean gv_pwrite_all(int fd, const void *buf, gsize len, guint64 off,
		       const char *what, GError **error);
/**
 * gv_image_cluster_bits() - validate a cluster size
 * @cluster_size: bytes, 0 for the default (64 KiB)
 * @bits: (out): log2 of it
 * @error: GV_IMAGE_ERROR_INVALID unless a power of two from 512 B to 2 MiB
 *
 * Return: TRUE when valid.
 */
gboolean gv_image_cluster_bits(guint32 cluster_size, guint *bits, GError **error);

/**
 * gv_pread_full() - read @len bytes at @off, zero-filling past end of file
 * @fd: the file
 * @buf: destination
 * @len: bytes wanted
 * @off: offset
 * @what: file name for messages
 * @error: GV_IMAGE_ERROR_IO
 *
 * Return: TRUE; bytes past the end of the file read as zeros.
 */
gboolean gv_pread_full(int fd, void *buf, gsize len, guint64 off,
		       const char *what, GError **error);

/** gv_io_error() - set a GV_IMAGE_ERROR_IO from errno: "ACTION PATH: strerror" */
gboolean gv_io_error(GError **error, int errsv, const char *action,
		     const char *path);

/**
 * gv_open_input() - open a file read-only, mapping ENOENT to NOT_FOUND
 * @path: the file
 * @what: "source", "backing file", ... for the message
 * @error: GV_IMAGE_ERROR_NOT_FOUND or GV_IMAGE_ERROR_IO
 *
 * Return: the fd, or -1.
 */
int gv_open_input(const char *path, const char *what, GError **error);

/**
 * gv_buffer_is_zero() - whether @len bytes at @buf are all zero
 * @buf: 8-byte aligned
 * @len: bytes
 */
gboolean gv_buffer_is_zero(const void *buf, gsize len);

/**
 * gv_path_join_dir_of() - @name relative to the directory of @base
 * @base: a file path
 * @name: a path; returned as is when absolute
 *
 * This is QEMU's path_combine(): "sub/ov.qcow2" + "../b" = "sub/../b".
 *
 * Return: (transfer full): the combined path.
 */
char *gv_path_join_dir_of(const char *base, const char *name);


/**
 * GvQcow2Target - what gv_qcow2_write_metadata() needs to finish a file
 * @virtual_size: bytes, a multiple of 512
 * @cluster_bits: 9..21
 * @compression_type: GV_QCOW2_COMPRESSION_ZLIB or _ZSTD
 * @backing_file: (nullable): recorded verbatim
 * @backing_format: (nullable): recorded verbatim
 */
typedef struct {
	guint64 virtual_size;
	guint cluster_bits;
	guint8 compression_type;
	const char *backing_file;
	const char *backing_format;
} GvQcow2Target;

/**
 * gv_qcow2_write_metadata() - finish a qcow2 file after its data
 * @fd: the file, open for writing
 * @path: its final name, for messages
 * @t: size, cluster size, compression type, backing names
 * @map: the guest map; its L2 tables are written in L1 order
 * @packer: (nullable): refcounts of the data area (NULL: no data)
 * @data_end_cluster: first cluster after the header and the data
 * @error: GV_IMAGE_ERROR_IO, or _INVALID when the names do not fit
 *
 * Lays out L2 tables, L1 table, refcount table and blocks after the data
 * (gv_qcow2_meta_layout()), sets the file length, writes them, and writes
 * the header into cluster 0 last.
 *
 * Return: TRUE on success.
 */
gboolean gv_qcow2_write_metadata(int fd, const char *path, const GvQcow2Target *t,
				 const GvQcow2Map *map, const GvQcow2Packer *packer,
				 guint64 data_end_cluster, GError **error);

/**
 * GvSegment - one piece of the guest disk, for gv_qcow2_write_segments()
 * @guest_offset: where it starts on the disk
 * @length: its bytes
 * @fd: a file holding it, or -1 for @data
 * @src_offset: where it starts in @fd
 * @data: its bytes in memory when @fd is -1
 * @name: file name for messages
 */
typedef struct {
	guint64 guest_offset;
	guint64 length;
	int fd;
	guint64 src_offset;
	const guint8 *data;
	const char *name;
} GvSegment;

/**
 * gv_qcow2_write_segments() - write a qcow2 whose data comes from segments
 * @dst: the image to create; replaced atomically
 * @virtual_size: bytes, a multiple of 512
 * @segs: (array length=n_segs): sorted by guest offset, not overlapping;
 *        what no segment covers reads as zeros
 * @n_segs: their number
 * @opts: compression, cluster size, threads, progress
 * @error: GV_IMAGE_ERROR_IO, _INVALID
 *
 * The engine under gv_image_convert() (one segment: the source file) and
 * the disk builder (GPT, ESP, root filesystem, backup GPT).  Holes of the
 * segment files are skipped with SEEK_DATA/SEEK_HOLE.
 *
 * Return: TRUE when @dst holds the image.
 */
gboolean gv_qcow2_write_segments(const char *dst, guint64 virtual_size, const GvSegment *segs,
				 gsize n_segs, const GvImageConvertOptions *opts, GError **error);

G_END_DECLS
