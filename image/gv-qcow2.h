/* SPDX-License-Identifier: MIT */
/*
 * gv-qcow2.h - the pure core of the image library: qcow2 on-disk format
 *
 * Everything declared here works on byte buffers and numbers only: no file
 * descriptors, no allocation beyond what the caller hands in, no globals.
 * The header parser is the fuzz target (tests/image/fuzz-qcow2-header.c);
 * the layout functions have table-driven unit tests.  I/O lives in
 * create.c, info.c and convert.c, which call into this.
 *
 * The format is QEMU's docs/interop/qcow2.txt.  All integers on disk are
 * big-endian.  Offsets inside the image ("host offsets") are limited to
 * 2^56 because L1/L2 entries keep them in bits 9..55.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define GV_QCOW2_MAGIC 0x514649fbu /* "QFI\xfb" */

/*
 * Cluster sizes QEMU accepts: 512 B (bits 9) to 2 MiB (bits 21).  Beyond
 * 21 bits the compressed-cluster descriptor would run out of offset bits.
 */
#define GV_QCOW2_MIN_CLUSTER_BITS 9
#define GV_QCOW2_MAX_CLUSTER_BITS 21
#define GV_QCOW2_DEFAULT_CLUSTER_BITS 16

#define GV_QCOW2_V2_HEADER_LENGTH 72
#define GV_QCOW2_V3_MIN_HEADER_LENGTH 104
/* QEMU 5.1+ always writes 112: the v3 fields, compression_type, padding. */
#define GV_QCOW2_V3_HEADER_LENGTH 112

/* QEMU rejects longer names (block/qcow2.c); so do we, on both sides. */
#define GV_QCOW2_MAX_BACKING_NAME 1023
#define GV_QCOW2_MAX_FORMAT_NAME 15

/* Limits QEMU enforces when it opens an image (block/qcow2.h). */
#define GV_QCOW2_MAX_L1_BYTES (32u << 20)
#define GV_QCOW2_MAX_L1_ENTRIES (GV_QCOW2_MAX_L1_BYTES / 8)
#define GV_QCOW2_MAX_REFTABLE_BYTES (8u << 20)
#define GV_QCOW2_MAX_SNAPSHOTS 65536
#define GV_QCOW2_MAX_HOST_OFFSET (G_GUINT64_CONSTANT(1) << 56)

/* Header extension types. */
#define GV_QCOW2_EXT_END 0x00000000u
#define GV_QCOW2_EXT_BACKING_FORMAT 0xe2792acau
#define GV_QCOW2_EXT_FEATURE_TABLE 0x6803f857u
#define GV_QCOW2_EXT_BITMAPS 0x23852875u
#define GV_QCOW2_EXT_CRYPTO 0x0537be77u
#define GV_QCOW2_EXT_DATA_FILE 0x44415441u

/* Incompatible feature bits. */
#define GV_QCOW2_INCOMPAT_DIRTY (1u << 0)
#define GV_QCOW2_INCOMPAT_CORRUPT (1u << 1)
#define GV_QCOW2_INCOMPAT_DATA_FILE (1u << 2)
#define GV_QCOW2_INCOMPAT_COMPRESSION (1u << 3)
#define GV_QCOW2_INCOMPAT_EXTL2 (1u << 4)
#define GV_QCOW2_INCOMPAT_KNOWN 0x1fu
/* Compatible and autoclear bits. */
#define GV_QCOW2_COMPAT_LAZY_REFCOUNTS (1u << 0)

#define GV_QCOW2_COMPRESSION_ZLIB 0
#define GV_QCOW2_COMPRESSION_ZSTD 1

/* L1/L2 entry bits. */
#define GV_QCOW2_OFLAG_COPIED (G_GUINT64_CONSTANT(1) << 63)
#define GV_QCOW2_OFLAG_COMPRESSED (G_GUINT64_CONSTANT(1) << 62)
#define GV_QCOW2_OFFSET_MASK G_GUINT64_CONSTANT(0x00fffffffffffe00)

/* 16-bit refcounts, as every QEMU since 2.3 creates by default. */
#define GV_QCOW2_REFCOUNT_ORDER 4

/**
 * GvQcow2Header - a parsed qcow2 header, extensions included
 *
 * Field names follow the spec.  The strings are NUL-terminated copies of
 * what the extensions and the backing-name area hold ("" when absent), so
 * the struct can live on the stack and the parser needs no allocator.
 */
typedef struct {
	guint32 version;
	guint64 backing_file_offset;
	guint32 backing_file_size;
	guint32 cluster_bits;
	guint64 size;
	guint32 crypt_method;
	guint32 l1_size;
	guint64 l1_table_offset;
	guint64 refcount_table_offset;
	guint32 refcount_table_clusters;
	guint32 nb_snapshots;
	guint64 snapshots_offset;
	guint64 incompatible_features;
	guint64 compatible_features;
	guint64 autoclear_features;
	guint32 refcount_order;
	guint32 header_length;
	guint8 compression_type;

	char backing_file[GV_QCOW2_MAX_BACKING_NAME + 1];
	char backing_format[GV_QCOW2_MAX_FORMAT_NAME + 1];
	char data_file[GV_QCOW2_MAX_BACKING_NAME + 1];
} GvQcow2Header;

/**
 * gv_qcow2_header_parse() - parse and validate a qcow2 header
 * @buf: the first bytes of the image, ideally its whole first cluster
 * @len: bytes in @buf
 * @out: filled on success only
 * @error: GV_IMAGE_ERROR_CORRUPT for a malformed header (the message says
 *         which field and why, without the file name: the caller adds it),
 *         GV_IMAGE_ERROR_UNSUPPORTED for unknown incompatible features
 *
 * Checks what QEMU checks before it trusts a header: magic, version 2 or
 * 3, cluster_bits 9..21, header_length, refcount_order, that the L1 table
 * covers the virtual size and is not over QEMU's limit, that tables sit on
 * cluster boundaries below 2^56 and do not wrap, the backing-name length
 * and place, and that every header extension lies inside the header area.
 * Never reads outside @buf[0..@len).  Pure: no I/O, no allocation.
 *
 * Return: TRUE when @out holds a valid header.
 */
gboolean gv_qcow2_header_parse(const guint8 *buf, gsize len,
			       GvQcow2Header *out, GError **error);

/**
 * gv_qcow2_header_serialize() - write a v3 header with its extensions
 * @h: the header; version must be 3.  backing_file_offset,
 *     backing_file_size and header_length are computed, not read.
 * @buf: the first cluster, zeroed by the caller
 * @len: its size (the cluster size)
 * @error: GV_IMAGE_ERROR_INVALID when the names do not fit
 *
 * Layout: the 112-byte header, a backing-format extension when
 * @h->backing_format is set, the feature-name table (so that tools can
 * name the bits), the end marker, then the backing file name.
 *
 * Return: the number of bytes used, or 0 with @error set.
 */
gsize gv_qcow2_header_serialize(const GvQcow2Header *h, guint8 *buf, gsize len,
				GError **error);

/* ------------------------------------------------------------------------ */
/* Layout math                                                              */
/* ------------------------------------------------------------------------ */

/**
 * gv_qcow2_l1_entries() - L1 entries needed to map @virtual_size
 * @virtual_size: bytes
 * @cluster_bits: 9..21
 *
 * One L2 table is one cluster of 8-byte entries, so it maps
 * 2^(2 * cluster_bits - 3) bytes.
 *
 * Return: the entry count (may exceed GV_QCOW2_MAX_L1_ENTRIES; callers
 * check).
 */
guint64 gv_qcow2_l1_entries(guint64 virtual_size, guint cluster_bits);

/**
 * GvQcow2RefcountLayout - where the refcount structures go
 * @table_offset: host offset of the refcount table
 * @table_clusters: its length in clusters
 * @blocks_offset: host offset of the first refcount block; the blocks
 *                 follow each other
 * @n_blocks: number of refcount blocks
 * @end_cluster: first cluster after all of them (the file's length in
 *               clusters)
 */
typedef struct {
	guint64 table_offset;
	guint64 table_clusters;
	guint64 blocks_offset;
	guint64 n_blocks;
	guint64 end_cluster;
} GvQcow2RefcountLayout;

/**
 * gv_qcow2_refcount_layout() - place refcount table and blocks at the end
 * @used_clusters: clusters 0..@used_clusters-1 already hold data and
 *                 metadata; the refcount structures are appended after them
 * @cluster_bits: 9..21
 * @out: the placement
 *
 * The refcount structures must count themselves too, so the number of
 * blocks is the fixed point of blocks = ceil((used + table + blocks) /
 * per_block); it converges in a few steps because one block covers
 * thousands of clusters.
 *
 * Return: FALSE when the table would exceed QEMU's 8 MiB limit.
 */
gboolean gv_qcow2_refcount_layout(guint64 used_clusters, guint cluster_bits,
				  GvQcow2RefcountLayout *out);

/**
 * gv_qcow2_compressed_entry() - the L2 entry of a compressed cluster
 * @cluster_bits: 9..21
 * @host_offset: byte offset of the compressed data (any alignment)
 * @length: compressed bytes, 1..cluster size
 *
 * The descriptor keeps the offset in bits 0..x-1 and, in bits x..61, the
 * number of 512-byte sectors the data touches beyond the one holding
 * @host_offset, with x = 62 - (cluster_bits - 8).
 *
 * Return: the entry, bit 62 set, bit 63 clear.
 */
guint64 gv_qcow2_compressed_entry(guint cluster_bits, guint64 host_offset,
				  guint32 length);

/**
 * gv_qcow2_compressed_decode() - inverse of gv_qcow2_compressed_entry()
 * @cluster_bits: 9..21
 * @entry: an L2 entry with bit 62 set
 * @host_offset: (out): where the data starts
 * @max_length: (out): bytes from @host_offset to the end of the last
 *              sector the entry names (the data may be shorter)
 */
void gv_qcow2_compressed_decode(guint cluster_bits, guint64 entry,
				guint64 *host_offset, guint64 *max_length);

/**
 * GvQcow2Packer - byte allocator for compressed clusters
 * @cluster_bits: 9..21
 * @refcount_max: largest refcount a host cluster may reach (65535 for
 *                16-bit refcounts; tests use small values)
 * @pos: next free byte
 * @refcounts: (array): one count per host cluster from @base_cluster on,
 *             grown by the packer
 * @base_cluster: host cluster that @refcounts[0] describes
 *
 * Compressed clusters are packed back to back at byte granularity, as
 * QEMU does; uncompressed clusters must start on a cluster boundary.  A
 * host cluster's refcount is the number of guest clusters whose data
 * touches it, so a cluster full of tiny compressed blobs can hit the
 * refcount limit, and then the packer moves on to the next cluster.
 */
typedef struct {
	guint cluster_bits;
	guint32 refcount_max;
	guint64 pos;
	guint64 base_cluster;
	GArray *refcounts; /* guint16 */
} GvQcow2Packer;

void gv_qcow2_packer_init(GvQcow2Packer *p, guint cluster_bits,
			  guint64 start_offset, guint32 refcount_max);
void gv_qcow2_packer_clear(GvQcow2Packer *p);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(GvQcow2Packer, gv_qcow2_packer_clear)

/**
 * gv_qcow2_packer_place() - reserve room for one guest cluster's data
 * @p: the packer
 * @length: bytes to store
 * @compressed: TRUE for a compressed blob (byte-packed), FALSE for a raw
 *              cluster (aligned to a cluster boundary)
 * @pad: (out): bytes skipped before the data (to align, or because the
 *       current cluster's refcount is full); they must be written as zeros
 *
 * Return: the host offset of the data.
 */
guint64 gv_qcow2_packer_place(GvQcow2Packer *p, guint32 length,
			      gboolean compressed, guint32 *pad);

/**
 * gv_qcow2_packer_claim() - count a cluster that was filled in place
 * @p: the packer
 * @host_offset: a cluster at or after the packer's start
 *
 * For data that other programs wrote straight into the file (build.c lets
 * mke2fs write the disk inside the qcow2): the cluster gets one more
 * reference and the packer's position moves past it.
 */
void gv_qcow2_packer_claim(GvQcow2Packer *p, guint64 host_offset);

/**
 * GvQcow2Map - the guest-to-host map being built, L2 tables on demand
 * @cluster_bits: 9..21
 * @l1_size: L1 entries
 * @l2: (array length=l1_size): one cluster-sized big-endian L2 table per
 *      L1 entry that maps anything, NULL elsewhere
 * @n_tables: non-NULL entries of @l2
 *
 * Memory grows with the data, not the virtual size: a sparse 1 TiB source
 * with 10 MiB of data needs one L2 table, not 2048.
 */
typedef struct {
	guint cluster_bits;
	guint64 l1_size;
	guint8 **l2;
	guint64 n_tables;
} GvQcow2Map;

/**
 * gv_qcow2_map_init() - an empty map for @virtual_size
 * @map: the map
 * @virtual_size: bytes
 * @cluster_bits: 9..21
 *
 * Return: FALSE when @virtual_size needs an L1 table over QEMU's limit.
 */
gboolean gv_qcow2_map_init(GvQcow2Map *map, guint64 virtual_size,
			   guint cluster_bits);
void gv_qcow2_map_clear(GvQcow2Map *map);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(GvQcow2Map, gv_qcow2_map_clear)

/**
 * gv_qcow2_map_set() - map one guest cluster
 * @map: the map
 * @guest_cluster: guest offset >> cluster_bits, below the virtual size
 * @entry: the L2 entry
 */
void gv_qcow2_map_set(GvQcow2Map *map, guint64 guest_cluster, guint64 entry);

/**
 * GvQcow2MetaLayout - where convert puts the metadata after the data
 * @l2_offset: first L2 table; one per non-NULL map entry, in L1 order
 * @l1_offset: the L1 table
 * @l1_clusters: its length in clusters
 * @rc: refcount table and blocks, after the L1 table
 */
typedef struct {
	guint64 l2_offset;
	guint64 l1_offset;
	guint64 l1_clusters;
	GvQcow2RefcountLayout rc;
} GvQcow2MetaLayout;

/**
 * gv_qcow2_meta_layout() - lay out L2 tables, L1 and refcounts
 * @data_end_cluster: first cluster after the header and the data
 * @n_l2_tables: L2 tables to place
 * @l1_size: L1 entries
 * @cluster_bits: 9..21
 * @out: the placement
 *
 * Return: FALSE when the refcount table would be over QEMU's limit.
 */
gboolean gv_qcow2_meta_layout(guint64 data_end_cluster, guint64 n_l2_tables,
			      guint64 l1_size, guint cluster_bits,
			      GvQcow2MetaLayout *out);

/**
 * gv_qcow2_refcount_block_fill() - contents of one refcount block
 * @packer: (nullable): refcounts of the data area, which starts at
 *          @packer->base_cluster; clusters before it (the header) count 1
 * @data_end_cluster: first cluster after the data; from there to
 *                    @end_cluster everything is metadata and counts 1
 * @end_cluster: first cluster after the file
 * @cluster_bits: 9..21
 * @block_index: which block (covers clusters block_index * cluster_size / 2
 *               onwards)
 * @block: (out caller-allocates): one cluster, fully written
 */
void gv_qcow2_refcount_block_fill(const GvQcow2Packer *packer,
				  guint64 data_end_cluster, guint64 end_cluster,
				  guint cluster_bits, guint64 block_index,
				  guint8 *block);

/**
 * gv_qcow2_put_refcount() - store one 16-bit refcount in a refcount block
 * @block: a refcount block
 * @index: entry within it
 * @value: the count
 */
static inline void gv_qcow2_put_refcount(guint8 *block, guint64 index,
					 guint16 value)
{
	block[index * 2] = (guint8)(value >> 8);
	block[index * 2 + 1] = (guint8)value;
}

static inline void gv_put_be16(guint8 *p, guint16 v)
{
	p[0] = (guint8)(v >> 8);
	p[1] = (guint8)v;
}

static inline void gv_put_be32(guint8 *p, guint32 v)
{
	p[0] = (guint8)(v >> 24);
	p[1] = (guint8)(v >> 16);
	p[2] = (guint8)(v >> 8);
	p[3] = (guint8)v;
}

static inline void gv_put_be64(guint8 *p, guint64 v)
{
	gv_put_be32(p, (guint32)(v >> 32));
	gv_put_be32(p + 4, (guint32)v);
}

static inline guint16 gv_get_be16(const guint8 *p)
{
	return (guint16)((p[0] << 8) | p[1]);
}

static inline guint32 gv_get_be32(const guint8 *p)
{
	return ((guint32)p[0] << 24) | ((guint32)p[1] << 16) |
	       ((guint32)p[2] << 8) | p[3];
}

static inline guint64 gv_get_be64(const guint8 *p)
{
	return ((guint64)gv_get_be32(p) << 32) | gv_get_be32(p + 4);
}

G_END_DECLS
