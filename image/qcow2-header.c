/* SPDX-License-Identifier: MIT */
/*
 * qcow2-header.c - parse and serialize the qcow2 header (pure)
 *
 * The parser is the one place where bytes from an untrusted file become
 * numbers the rest of the library trusts, so it checks every field before
 * any other code uses it, and it is fuzzed.  Reads go through rd32()/rd64()
 * only after an explicit length check; extension lengths are compared by
 * subtraction (never by adding untrusted values) so that nothing wraps.
 */
#include "gv-qcow2.h"

#include <string.h>

#include "grainvm-image.h"

/*
 * One entry of the feature-name table: type (0 incompatible, 1 compatible,
 * 2 autoclear), bit number, 46 bytes of name.  Writing the table costs a
 * few hundred bytes and lets tools that do not know a bit name it.
 */
static const struct {
	guint8 type;
	guint8 bit;
	const char *name;
} feature_names[] = {
	{ 0, 0, "dirty bit" },
	{ 0, 1, "corrupt bit" },
	{ 0, 2, "external data file" },
	{ 0, 3, "compression type" },
	{ 0, 4, "extended L2 entries" },
	{ 1, 0, "lazy refcounts" },
	{ 2, 0, "bitmaps" },
	{ 2, 1, "raw external data" },
};
#define FEATURE_NAME_ENTRY 48

static gboolean corrupt(GError **error, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static gboolean corrupt(GError **error, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	g_autofree char *msg = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	g_set_error_literal(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_CORRUPT, msg);
	return FALSE;
}

/*
 * Copy a name field into a fixed buffer.  Embedded NULs are refused: a
 * name that C code would silently cut short is not the name QEMU reads.
 */
static gboolean copy_name(char *dst, gsize dst_size, const guint8 *src,
			  gsize len, const char *what, GError **error)
{
	if (len >= dst_size)
		return corrupt(error, "%s is %zu bytes long (at most %zu)", what,
			       len, dst_size - 1);
	if (memchr(src, '\0', len))
		return corrupt(error, "%s contains a NUL byte", what);
	memcpy(dst, src, len);
	dst[len] = '\0';
	return TRUE;
}

/*
 * A table of @bytes at @offset: it must start on a cluster boundary, not
 * in the header cluster, and end below the largest host offset.
 */
static gboolean check_table(guint64 offset, guint64 bytes, guint cluster_bits,
			    const char *what, GError **error)
{
	if (offset & ((G_GUINT64_CONSTANT(1) << cluster_bits) - 1))
		return corrupt(error, "%s offset 0x%" G_GINT64_MODIFIER "x is not cluster aligned",
			       what, offset);
	if (offset == 0)
		return corrupt(error, "%s overlaps the header cluster", what);
	if (offset >= GV_QCOW2_MAX_HOST_OFFSET ||
	    bytes > GV_QCOW2_MAX_HOST_OFFSET - offset)
		return corrupt(error, "%s at 0x%" G_GINT64_MODIFIER "x (%" G_GUINT64_FORMAT
			       " bytes) lies beyond the largest qcow2 offset", what, offset, bytes);
	return TRUE;
}

static gboolean parse_extensions(const guint8 *buf, gsize len, guint64 start,
				 guint64 end, GvQcow2Header *h, GError **error)
{
	guint64 off = start;

	while (off < end) {
		if (end - off < 8)
			return corrupt(error, "header extension at offset %" G_GUINT64_FORMAT
				       " overruns the header area", off);
		if (off + 8 > len)
			return corrupt(error, "header extensions truncated at offset %" G_GUINT64_FORMAT
				       " (file too short)", off);
		guint32 type = gv_get_be32(buf + off);
		guint32 ext_len = gv_get_be32(buf + off + 4);

		if (type == GV_QCOW2_EXT_END)
			return TRUE;
		off += 8;
		if (ext_len > end - off)
			return corrupt(error, "header extension 0x%08x at offset %" G_GUINT64_FORMAT
				       " is %u bytes long, beyond the header area", type, off - 8, ext_len);
		if (off + ext_len > len)
			return corrupt(error, "header extension 0x%08x truncated (file too short)", type);

		const guint8 *data = buf + off;
		switch (type) {
		case GV_QCOW2_EXT_BACKING_FORMAT:
			if (!copy_name(h->backing_format, sizeof(h->backing_format), data,
				       ext_len, "backing format name", error))
				return FALSE;
			break;
		case GV_QCOW2_EXT_DATA_FILE:
			if (!copy_name(h->data_file, sizeof(h->data_file), data, ext_len,
				       "external data file name", error))
				return FALSE;
			break;
		default:
			/* Feature names, bitmaps, crypto: nothing info needs. */
			break;
		}
		/* Data is padded to 8 bytes; ext_len <= end - off, so no wrap. */
		off += ((guint64)ext_len + 7) & ~G_GUINT64_CONSTANT(7);
	}
	return TRUE;
}

gboolean gv_qcow2_header_parse(const guint8 *buf, gsize len,
			       GvQcow2Header *out, GError **error)
{
	GvQcow2Header h;

	memset(&h, 0, sizeof(h));
	if (len < GV_QCOW2_V2_HEADER_LENGTH)
		return corrupt(error, "file too short for a qcow2 header (%zu bytes)", len);
	if (gv_get_be32(buf) != GV_QCOW2_MAGIC)
		return corrupt(error, "bad qcow2 magic 0x%08x", gv_get_be32(buf));

	h.version = gv_get_be32(buf + 4);
	h.backing_file_offset = gv_get_be64(buf + 8);
	h.backing_file_size = gv_get_be32(buf + 16);
	h.cluster_bits = gv_get_be32(buf + 20);
	h.size = gv_get_be64(buf + 24);
	h.crypt_method = gv_get_be32(buf + 32);
	h.l1_size = gv_get_be32(buf + 36);
	h.l1_table_offset = gv_get_be64(buf + 40);
	h.refcount_table_offset = gv_get_be64(buf + 48);
	h.refcount_table_clusters = gv_get_be32(buf + 56);
	h.nb_snapshots = gv_get_be32(buf + 60);
	h.snapshots_offset = gv_get_be64(buf + 64);

	if (h.version != 2 && h.version != 3)
		return corrupt(error, "unsupported qcow2 version %u (2 or 3 expected)", h.version);
	if (h.cluster_bits < GV_QCOW2_MIN_CLUSTER_BITS ||
	    h.cluster_bits > GV_QCOW2_MAX_CLUSTER_BITS)
		return corrupt(error, "cluster_bits %u outside %u..%u", h.cluster_bits,
			       GV_QCOW2_MIN_CLUSTER_BITS, GV_QCOW2_MAX_CLUSTER_BITS);
	guint64 cluster_size = G_GUINT64_CONSTANT(1) << h.cluster_bits;

	if (h.version == 2) {
		h.header_length = GV_QCOW2_V2_HEADER_LENGTH;
		h.refcount_order = GV_QCOW2_REFCOUNT_ORDER;
	} else {
		if (len < GV_QCOW2_V3_MIN_HEADER_LENGTH)
			return corrupt(error, "file too short for a qcow2 v3 header (%zu bytes)", len);
		h.incompatible_features = gv_get_be64(buf + 72);
		h.compatible_features = gv_get_be64(buf + 80);
		h.autoclear_features = gv_get_be64(buf + 88);
		h.refcount_order = gv_get_be32(buf + 96);
		h.header_length = gv_get_be32(buf + 100);
		if (h.header_length < GV_QCOW2_V3_MIN_HEADER_LENGTH || h.header_length % 8)
			return corrupt(error, "header_length %u is not a multiple of 8 of at least %u",
				       h.header_length, GV_QCOW2_V3_MIN_HEADER_LENGTH);
		if (h.header_length > cluster_size)
			return corrupt(error, "header_length %u exceeds the cluster size", h.header_length);
		if (h.header_length > len)
			return corrupt(error, "header truncated: header_length %u but %zu bytes",
				       h.header_length, len);
		if (h.refcount_order > 6)
			return corrupt(error, "refcount_order %u over 6", h.refcount_order);
		if (h.header_length > 104)
			h.compression_type = buf[104];
	}

	if (h.incompatible_features & ~(guint64)GV_QCOW2_INCOMPAT_KNOWN) {
		g_set_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_UNSUPPORTED,
			    "unknown incompatible feature bits 0x%" G_GINT64_MODIFIER "x",
			    h.incompatible_features & ~(guint64)GV_QCOW2_INCOMPAT_KNOWN);
		return FALSE;
	}
	if (h.compression_type != GV_QCOW2_COMPRESSION_ZLIB &&
	    h.compression_type != GV_QCOW2_COMPRESSION_ZSTD)
		return corrupt(error, "unknown compression type %u", h.compression_type);
	if ((h.compression_type != GV_QCOW2_COMPRESSION_ZLIB) !=
	    !!(h.incompatible_features & GV_QCOW2_INCOMPAT_COMPRESSION))
		return corrupt(error, "compression type %u disagrees with incompatible feature bit 3",
			       h.compression_type);
	if (h.crypt_method > 2)
		return corrupt(error, "unknown encryption method %u", h.crypt_method);

	/* The L1 table must map the whole disk and stay within QEMU's limit. */
	guint64 need_l1 = gv_qcow2_l1_entries(h.size, h.cluster_bits);
	if (h.l1_size > GV_QCOW2_MAX_L1_ENTRIES)
		return corrupt(error, "L1 table too large (%u entries, at most %u)", h.l1_size,
			       GV_QCOW2_MAX_L1_ENTRIES);
	if (need_l1 > h.l1_size)
		return corrupt(error, "L1 table too small (%u entries) for virtual size %" G_GUINT64_FORMAT,
			       h.l1_size, h.size);
	if (h.l1_size > 0 &&
	    !check_table(h.l1_table_offset, (guint64)h.l1_size * 8, h.cluster_bits, "L1 table", error))
		return FALSE;

	if (h.refcount_table_clusters == 0)
		return corrupt(error, "no refcount table");
	if (h.refcount_table_clusters > (GV_QCOW2_MAX_REFTABLE_BYTES >> h.cluster_bits))
		return corrupt(error, "refcount table too large (%u clusters)", h.refcount_table_clusters);
	if (!check_table(h.refcount_table_offset, (guint64)h.refcount_table_clusters << h.cluster_bits,
			 h.cluster_bits, "refcount table", error))
		return FALSE;

	if (h.nb_snapshots > GV_QCOW2_MAX_SNAPSHOTS)
		return corrupt(error, "too many snapshots (%u)", h.nb_snapshots);
	if (h.nb_snapshots > 0 &&
	    !check_table(h.snapshots_offset, 0, h.cluster_bits, "snapshot table", error))
		return FALSE;

	/*
	 * The backing name lives in the first cluster, after the extensions.
	 * QEMU's limits: offset inside the cluster, name at most 1023 bytes.
	 */
	guint64 ext_end = cluster_size;
	if (h.backing_file_offset || h.backing_file_size) {
		if (h.backing_file_size > GV_QCOW2_MAX_BACKING_NAME)
			return corrupt(error, "backing file name too long (%u bytes, at most %u)",
				       h.backing_file_size, GV_QCOW2_MAX_BACKING_NAME);
		if (h.backing_file_offset < h.header_length ||
		    h.backing_file_offset > cluster_size ||
		    h.backing_file_size > cluster_size - h.backing_file_offset)
			return corrupt(error, "backing file name at offset %" G_GUINT64_FORMAT
				       " lies outside the header cluster", h.backing_file_offset);
		if (h.backing_file_offset + h.backing_file_size > len)
			return corrupt(error, "backing file name truncated (file too short)");
		if (!copy_name(h.backing_file, sizeof(h.backing_file), buf + h.backing_file_offset,
			       h.backing_file_size, "backing file name", error))
			return FALSE;
		ext_end = h.backing_file_offset;
	}
	if (!parse_extensions(buf, len, h.header_length, ext_end, &h, error))
		return FALSE;
	if (h.backing_format[0] && !h.backing_file[0])
		return corrupt(error, "backing format recorded without a backing file");
	if (h.data_file[0] && !(h.incompatible_features & GV_QCOW2_INCOMPAT_DATA_FILE))
		return corrupt(error, "external data file named but feature bit 2 is clear");

	*out = h;
	return TRUE;
}

gsize gv_qcow2_header_serialize(const GvQcow2Header *h, guint8 *buf, gsize len,
				GError **error)
{
	gsize backing_len = strlen(h->backing_file);
	gsize format_len = strlen(h->backing_format);
	gsize off;

	g_return_val_if_fail(h->version == 3, 0);
	g_return_val_if_fail(len >= (1u << GV_QCOW2_MIN_CLUSTER_BITS), 0);

	/* Everything below must fit in the first cluster. */
	gsize need = GV_QCOW2_V3_HEADER_LENGTH + 8 /* end marker */ + backing_len;
	need += 8 + G_N_ELEMENTS(feature_names) * FEATURE_NAME_ENTRY;
	if (format_len)
		need += 8 + ((format_len + 7) & ~(gsize)7);
	if (backing_len > GV_QCOW2_MAX_BACKING_NAME) {
		g_set_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_INVALID,
			    "backing file name too long (%zu bytes, at most %u)", backing_len,
			    GV_QCOW2_MAX_BACKING_NAME);
		return 0;
	}
	if (format_len > GV_QCOW2_MAX_FORMAT_NAME) {
		g_set_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_INVALID,
			    "backing format name too long (%zu bytes, at most %u)", format_len,
			    GV_QCOW2_MAX_FORMAT_NAME);
		return 0;
	}
	if (need > len) {
		g_set_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_INVALID,
			    "header and backing file name (%zu bytes) do not fit in a %zu-byte cluster",
			    need, len);
		return 0;
	}

	gv_put_be32(buf, GV_QCOW2_MAGIC);
	gv_put_be32(buf + 4, 3);
	gv_put_be32(buf + 20, h->cluster_bits);
	gv_put_be64(buf + 24, h->size);
	gv_put_be32(buf + 32, h->crypt_method);
	gv_put_be32(buf + 36, h->l1_size);
	gv_put_be64(buf + 40, h->l1_table_offset);
	gv_put_be64(buf + 48, h->refcount_table_offset);
	gv_put_be32(buf + 56, h->refcount_table_clusters);
	gv_put_be32(buf + 60, h->nb_snapshots);
	gv_put_be64(buf + 64, h->snapshots_offset);
	gv_put_be64(buf + 72, h->incompatible_features);
	gv_put_be64(buf + 80, h->compatible_features);
	gv_put_be64(buf + 88, h->autoclear_features);
	gv_put_be32(buf + 96, h->refcount_order);
	gv_put_be32(buf + 100, GV_QCOW2_V3_HEADER_LENGTH);
	buf[104] = h->compression_type;
	off = GV_QCOW2_V3_HEADER_LENGTH;

	if (format_len) {
		gv_put_be32(buf + off, GV_QCOW2_EXT_BACKING_FORMAT);
		gv_put_be32(buf + off + 4, (guint32)format_len);
		memcpy(buf + off + 8, h->backing_format, format_len);
		off += 8 + ((format_len + 7) & ~(gsize)7);
	}

	gv_put_be32(buf + off, GV_QCOW2_EXT_FEATURE_TABLE);
	gv_put_be32(buf + off + 4, G_N_ELEMENTS(feature_names) * FEATURE_NAME_ENTRY);
	off += 8;
	for (gsize i = 0; i < G_N_ELEMENTS(feature_names); i++) {
		buf[off] = feature_names[i].type;
		buf[off + 1] = feature_names[i].bit;
		memcpy(buf + off + 2, feature_names[i].name, strlen(feature_names[i].name));
		off += FEATURE_NAME_ENTRY;
	}

	gv_put_be32(buf + off, GV_QCOW2_EXT_END);
	gv_put_be32(buf + off + 4, 0);
	off += 8;

	if (backing_len) {
		gv_put_be64(buf + 8, off);
		gv_put_be32(buf + 16, (guint32)backing_len);
		memcpy(buf + off, h->backing_file, backing_len);
		off += backing_len;
	}
	return off;
}
