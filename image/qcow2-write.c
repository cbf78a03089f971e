/* SPDX-License-Identifier: MIT */
/*
 * qcow2-write.c - write a qcow2 file's metadata once its data is in place
 *
 * Both writers end here: create.c with no data at all, convert.c after it
 * has streamed the data clusters.  The placement comes from the pure
 * gv_qcow2_meta_layout(); this file only turns it into bytes and pwrite()s
 * them.  The header goes last, so that until the very end the file is
 * not a qcow2 image any tool would open (and it still has a temporary
 * name anyway).
 */
#include "gv-image-private.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

gboolean gv_qcow2_write_metadata(int fd, const char *path, const GvQcow2Target *t,
				 const GvQcow2Map *map, const GvQcow2Packer *packer,
				 guint64 data_end_cluster, GError **error)
{
	guint bits = t->cluster_bits;
	gsize cs = (gsize)1 << bits;
	GvQcow2MetaLayout m;
	GvQcow2Header h;

	if (!gv_qcow2_meta_layout(data_end_cluster, map->n_tables, map->l1_size, bits, &m)) {
		g_set_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_INVALID,
			    "%s: refcount table would exceed 8 MiB; use a larger cluster size", path);
		return FALSE;
	}

	/* Everything not written below reads as zeros: a hole. */
	if (ftruncate(fd, (off_t)(m.rc.end_cluster << bits)) < 0)
		return gv_io_error(error, errno, "cannot extend", path);

	/* L2 tables in L1 order, and the L1 table that points at them. */
	g_autofree guint8 *l1 = g_malloc0(map->l1_size ? map->l1_size * 8 : 1);
	guint64 l2_off = m.l2_offset;
	for (guint64 i = 0; i < map->l1_size; i++) {
		if (!map->l2[i])
			continue;
		if (!gv_pwrite_all(fd, map->l2[i], cs, l2_off, path, error))
			return FALSE;
		/* COPIED: refcount is exactly 1, QEMU may write in place. */
		gv_put_be64(l1 + i * 8, l2_off | GV_QCOW2_OFLAG_COPIED);
		l2_off += cs;
	}
	if (map->n_tables && !gv_pwrite_all(fd, l1, map->l1_size * 8, m.l1_offset, path, error))
		return FALSE;

	/* Refcount blocks, then the table that points at them. */
	g_autofree guint8 *block = g_malloc(cs);
	g_autofree guint8 *table = g_malloc0(m.rc.table_clusters << bits);
	for (guint64 b = 0; b < m.rc.n_blocks; b++) {
		guint64 off = m.rc.blocks_offset + (b << bits);

		gv_qcow2_refcount_block_fill(packer, data_end_cluster, m.rc.end_cluster, bits, b,
					     block);
		if (!gv_pwrite_all(fd, block, cs, off, path, error))
			return FALSE;
		gv_put_be64(table + b * 8, off);
	}
	if (!gv_pwrite_all(fd, table, m.rc.table_clusters << bits, m.rc.table_offset, path, error))
		return FALSE;

	memset(&h, 0, sizeof(h));
	h.version = 3;
	h.cluster_bits = bits;
	h.size = t->virtual_size;
	h.l1_size = (guint32)map->l1_size;
	h.l1_table_offset = m.l1_offset;
	h.refcount_table_offset = m.rc.table_offset;
	h.refcount_table_clusters = (guint32)m.rc.table_clusters;
	h.refcount_order = GV_QCOW2_REFCOUNT_ORDER;
	h.compression_type = t->compression_type;
	if (t->compression_type != GV_QCOW2_COMPRESSION_ZLIB)
		h.incompatible_features |= GV_QCOW2_INCOMPAT_COMPRESSION;
	if (t->backing_file)
		g_strlcpy(h.backing_file, t->backing_file, sizeof(h.backing_file));
	if (t->backing_format)
		g_strlcpy(h.backing_format, t->backing_format, sizeof(h.backing_format));
	if ((t->backing_file && strlen(t->backing_file) >= sizeof(h.backing_file)) ||
	    (t->backing_format && strlen(t->backing_format) >= sizeof(h.backing_format))) {
		g_set_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_INVALID,
			    "%s: backing file or format name too long (at most %u and %u bytes)",
			    path, GV_QCOW2_MAX_BACKING_NAME, GV_QCOW2_MAX_FORMAT_NAME);
		return FALSE;
	}

	g_autofree guint8 *hdr = g_malloc0(cs);
	gsize used = gv_qcow2_header_serialize(&h, hdr, cs, error);
	if (!used) {
		g_prefix_error(error, "%s: ", path);
		return FALSE;
	}
	return gv_pwrite_all(fd, hdr, used, 0, path, error);
}
