/* SPDX-License-Identifier: MIT */
/*
 * test-qcow2-core.c - the pure core of the image library, without files
 *
 * Header parsing against real qemu-img headers (the fuzz seeds), every
 * validation rule with the message it gives, and the layout arithmetic at
 * its edges.
 */
#include <string.h>

#include "grainvm-image.h"
#include <zlib.h>

#include "gv-gpt.h"
#include "gv-image-private.h"
#include "gv-qcow2.h"

static char *seed_path(const char *name)
{
	const char *root = g_getenv("GV_SOURCE_ROOT");

	g_assert_nonnull(root);
	return g_build_filename(root, "tests", "image", "fuzz-seeds", name, NULL);
}

static void parse_seed(const char *name, GvQcow2Header *h)
{
	g_autofree char *path = seed_path(name);
	g_autofree char *data = NULL;
	g_autoptr(GError) error = NULL;
	gsize len;

	g_assert_true(g_file_get_contents(path, &data, &len, &error));
	g_assert_true(gv_qcow2_header_parse((const guint8 *)data, len, h, &error));
	g_assert_no_error(error);
}

/* Headers qemu-img 7.2 wrote parse to what qemu-img was asked for. */
static void test_seeds(void)
{
	GvQcow2Header h;

	parse_seed("plain.bin", &h);
	g_assert_cmpuint(h.version, ==, 3);
	g_assert_cmpuint(h.cluster_bits, ==, 16);
	g_assert_cmpuint(h.size, ==, G_GUINT64_CONSTANT(1) << 30);
	g_assert_cmpuint(h.l1_size, ==, 2);
	g_assert_cmpuint(h.nb_snapshots, ==, 1);
	g_assert_cmpuint(h.header_length, ==, 112);
	g_assert_cmpuint(h.refcount_order, ==, 4);
	g_assert_cmpstr(h.backing_file, ==, "");

	parse_seed("2m.bin", &h);
	g_assert_cmpuint(h.cluster_bits, ==, 21);
	g_assert_cmpuint(h.size, ==, G_GUINT64_CONSTANT(5) << 30);

	parse_seed("512.bin", &h);
	g_assert_cmpuint(h.cluster_bits, ==, 9);

	parse_seed("backing-qcow2.bin", &h);
	g_assert_cmpstr(h.backing_file, ==, "s-plain.qcow2");
	g_assert_cmpstr(h.backing_format, ==, "qcow2");

	parse_seed("backing-raw.bin", &h);
	g_assert_cmpstr(h.backing_file, ==, "raw.img");
	g_assert_cmpstr(h.backing_format, ==, "raw");

	parse_seed("zstd.bin", &h);
	g_assert_cmpuint(h.compression_type, ==, GV_QCOW2_COMPRESSION_ZSTD);
	g_assert_true(h.incompatible_features & GV_QCOW2_INCOMPAT_COMPRESSION);

	parse_seed("v2.bin", &h);
	g_assert_cmpuint(h.version, ==, 2);
	g_assert_cmpuint(h.header_length, ==, 72);

	parse_seed("extl2.bin", &h);
	g_assert_true(h.incompatible_features & GV_QCOW2_INCOMPAT_EXTL2);

	parse_seed("lazy.bin", &h);
	g_assert_true(h.compatible_features & GV_QCOW2_COMPAT_LAZY_REFCOUNTS);
	g_assert_cmpuint(h.refcount_order, ==, 6);

	parse_seed("datafile.bin", &h);
	g_assert_cmpstr(h.data_file, ==, "s-data.raw");
	g_assert_true(h.incompatible_features & GV_QCOW2_INCOMPAT_DATA_FILE);
}

/* A 64 KiB-cluster, 1 GiB header with backing "base.qcow2" (raw). */
static gsize make_header(guint8 *buf, gsize len, guint8 compression)
{
	GvQcow2Header h;

	memset(&h, 0, sizeof(h));
	memset(buf, 0, len);
	h.version = 3;
	h.cluster_bits = 16;
	h.size = G_GUINT64_CONSTANT(1) << 30;
	h.l1_size = 2;
	h.l1_table_offset = 0x10000;
	h.refcount_table_offset = 0x20000;
	h.refcount_table_clusters = 1;
	h.refcount_order = 4;
	h.compression_type = compression;
	if (compression)
		h.incompatible_features = GV_QCOW2_INCOMPAT_COMPRESSION;
	strcpy(h.backing_file, "base.qcow2");
	strcpy(h.backing_format, "raw");
	return gv_qcow2_header_serialize(&h, buf, len, NULL);
}

static void test_roundtrip(void)
{
	g_autofree guint8 *buf = g_malloc(65536);
	g_autoptr(GError) error = NULL;
	GvQcow2Header h;

	for (guint8 comp = 0; comp <= 1; comp++) {
		gsize used = make_header(buf, 65536, comp);
		g_assert_cmpuint(used, >, 112);
		g_assert_true(gv_qcow2_header_parse(buf, 65536, &h, &error));
		g_assert_no_error(error);
		g_assert_cmpuint(h.size, ==, G_GUINT64_CONSTANT(1) << 30);
		g_assert_cmpuint(h.compression_type, ==, comp);
		g_assert_cmpstr(h.backing_file, ==, "base.qcow2");
		g_assert_cmpstr(h.backing_format, ==, "raw");
		g_assert_cmpuint(h.backing_file_offset + h.backing_file_size, ==, used);
		/* Exactly the bytes written are enough to parse it. */
		g_assert_true(gv_qcow2_header_parse(buf, used, &h, NULL));
	}

	/* Names that do not fit are refused, not cut. */
	memset(&h, 0, sizeof(h));
	h.version = 3;
	h.cluster_bits = 9;
	memset(h.backing_file, 'a', 1000);
	g_assert_cmpuint(gv_qcow2_header_serialize(&h, buf, 512, &error), ==, 0);
	g_assert_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_INVALID);
	g_assert_nonnull(strstr(error->message, "do not fit"));
}

typedef struct {
	const char *what;
	gsize offset;     /* where to write */
	guint width;      /* 0: truncate the buffer to @offset bytes instead */
	guint64 value;
	int code;
	const char *message;
} Mutation;

static const Mutation mutations[] = {
	{ "truncated", 50, 0, 0, GV_IMAGE_ERROR_CORRUPT, "file too short for a qcow2 header (50 bytes)" },
	{ "v3 truncated", 100, 0, 0, GV_IMAGE_ERROR_CORRUPT, "too short for a qcow2 v3 header" },
	{ "bad magic", 0, 4, 0x514649fc, GV_IMAGE_ERROR_CORRUPT, "bad qcow2 magic 0x514649fc" },
	{ "version 4", 4, 4, 4, GV_IMAGE_ERROR_CORRUPT, "unsupported qcow2 version 4" },
	{ "cluster_bits 30", 20, 4, 30, GV_IMAGE_ERROR_CORRUPT, "cluster_bits 30 outside 9..21" },
	{ "cluster_bits 8", 20, 4, 8, GV_IMAGE_ERROR_CORRUPT, "cluster_bits 8 outside 9..21" },
	{ "huge L1", 36, 4, 0x7fffffff, GV_IMAGE_ERROR_CORRUPT, "L1 table too large" },
	{ "small L1", 36, 4, 1, GV_IMAGE_ERROR_CORRUPT, "L1 table too small" },
	{ "unaligned L1", 40, 8, 0x10200, GV_IMAGE_ERROR_CORRUPT, "L1 table offset 0x10200 is not cluster aligned" },
	{ "L1 in header", 40, 8, 0, GV_IMAGE_ERROR_CORRUPT, "L1 table overlaps the header cluster" },
	{ "L1 beyond 2^56", 40, 8, G_GUINT64_CONSTANT(1) << 60, GV_IMAGE_ERROR_CORRUPT, "beyond the largest qcow2 offset" },
	{ "no refcount table", 56, 4, 0, GV_IMAGE_ERROR_CORRUPT, "no refcount table" },
	{ "huge refcount table", 56, 4, 0x10000, GV_IMAGE_ERROR_CORRUPT, "refcount table too large" },
	{ "too many snapshots", 60, 4, 70000, GV_IMAGE_ERROR_CORRUPT, "too many snapshots" },
	{ "backing name too long", 16, 4, 2000, GV_IMAGE_ERROR_CORRUPT, "backing file name too long (2000 bytes, at most 1023)" },
	{ "backing name outside", 8, 8, 70000, GV_IMAGE_ERROR_CORRUPT, "outside the header cluster" },
	{ "backing name in header", 8, 8, 16, GV_IMAGE_ERROR_CORRUPT, "outside the header cluster" },
	{ "header_length 100", 100, 4, 100, GV_IMAGE_ERROR_CORRUPT, "header_length 100" },
	{ "header_length odd", 100, 4, 113, GV_IMAGE_ERROR_CORRUPT, "header_length 113" },
	{ "header_length huge", 100, 4, 0x20000, GV_IMAGE_ERROR_CORRUPT, "exceeds the cluster size" },
	{ "refcount_order 7", 96, 4, 7, GV_IMAGE_ERROR_CORRUPT, "refcount_order 7" },
	{ "unknown incompat", 72, 8, 1u << 5, GV_IMAGE_ERROR_UNSUPPORTED, "unknown incompatible feature bits 0x20" },
	{ "zstd without bit", 104, 1, 1, GV_IMAGE_ERROR_CORRUPT, "disagrees with incompatible feature bit 3" },
	{ "compression 2", 104, 1, 2, GV_IMAGE_ERROR_CORRUPT, "unknown compression type 2" },
	{ "encryption 3", 32, 4, 3, GV_IMAGE_ERROR_CORRUPT, "unknown encryption method 3" },
	/* The first extension (backing format) starts at 112. */
	{ "extension overruns", 116, 4, 0xffffffff, GV_IMAGE_ERROR_CORRUPT, "beyond the header area" },
	{ "format name long", 116, 4, 20, GV_IMAGE_ERROR_CORRUPT, "backing format name is 20 bytes long" },
	{ "extensions truncated", 124, 0, 0, GV_IMAGE_ERROR_CORRUPT, "truncated" },
	{ "NUL in backing name", 0, 1, 0, GV_IMAGE_ERROR_CORRUPT, "backing file name contains a NUL" },
};

static void test_corrupt(void)
{
	g_autofree guint8 *good = g_malloc(65536);
	g_autofree guint8 *buf = g_malloc(65536);
	gsize used = make_header(good, 65536, 0);
	guint64 backing_off = gv_get_be64(good + 8);

	for (gsize i = 0; i < G_N_ELEMENTS(mutations); i++) {
		const Mutation *m = &mutations[i];
		g_autoptr(GError) error = NULL;
		gsize len = used;
		GvQcow2Header h;

		memcpy(buf, good, 65536);
		if (m->width == 0) {
			len = m->offset;
		} else if (strcmp(m->what, "NUL in backing name") == 0) {
			buf[backing_off + 2] = 0;
		} else {
			for (guint b = 0; b < m->width; b++)
				buf[m->offset + b] = (guint8)(m->value >> (8 * (m->width - 1 - b)));
		}
		g_test_message("%s", m->what);
		g_assert_false(gv_qcow2_header_parse(buf, len, &h, &error));
		g_assert_error(error, GV_IMAGE_ERROR, m->code);
		if (!strstr(error->message, m->message))
			g_error("%s: got \"%s\", want \"%s\"", m->what, error->message, m->message);
	}
}

static void test_l1_entries(void)
{
	g_assert_cmpuint(gv_qcow2_l1_entries(0, 16), ==, 0);
	g_assert_cmpuint(gv_qcow2_l1_entries(1, 16), ==, 1);
	/* One 64 KiB L2 table maps 8192 clusters of 64 KiB = 512 MiB. */
	g_assert_cmpuint(gv_qcow2_l1_entries(512u << 20, 16), ==, 1);
	g_assert_cmpuint(gv_qcow2_l1_entries((512u << 20) + 1, 16), ==, 2);
	g_assert_cmpuint(gv_qcow2_l1_entries(G_GUINT64_CONSTANT(5) << 30, 21), ==, 1);
	g_assert_cmpuint(gv_qcow2_l1_entries(G_GUINT64_CONSTANT(1) << 40, 9), ==, 1u << 25);
	g_assert_cmpuint(gv_qcow2_l1_entries(G_MAXUINT64, 21), ==, G_GUINT64_CONSTANT(1) << 25);
}

/* The refcount layout is minimal and counts itself, for every size. */
static void test_refcount_layout(void)
{
	const guint bits = 9; /* 256 refcounts per block, 64 block pointers per table cluster */
	GvQcow2RefcountLayout rc;

	for (guint64 used = 1; used < 40000; used += (used < 1000 ? 1 : 7)) {
		g_assert_true(gv_qcow2_refcount_layout(used, bits, &rc));
		g_assert_cmpuint(rc.table_offset, ==, used << bits);
		g_assert_cmpuint(rc.blocks_offset, ==, (used + rc.table_clusters) << bits);
		g_assert_cmpuint(rc.end_cluster, ==, used + rc.table_clusters + rc.n_blocks);
		g_assert_cmpuint(rc.n_blocks * 256, >=, rc.end_cluster);
		g_assert_cmpuint((rc.n_blocks - 1) * 256, <, rc.end_cluster);
		g_assert_cmpuint(rc.table_clusters * 64, >=, rc.n_blocks);
		g_assert_cmpuint((rc.table_clusters - 1) * 64, <, rc.n_blocks);
	}
	/* 64 KiB clusters: the block covering 32768 clusters fills exactly. */
	g_assert_true(gv_qcow2_refcount_layout(32766, 16, &rc));
	g_assert_cmpuint(rc.n_blocks, ==, 1);
	g_assert_true(gv_qcow2_refcount_layout(32767, 16, &rc));
	g_assert_cmpuint(rc.n_blocks, ==, 2);
	/* Over QEMU's 8 MiB refcount table. */
	g_assert_false(gv_qcow2_refcount_layout(G_GUINT64_CONSTANT(1) << 45, 9, &rc));
}

static void test_compressed_entry(void)
{
	guint64 off, max;

	/* 0x50064 is 100 bytes into sector 640; 1000 bytes end in sector 642. */
	guint64 e = gv_qcow2_compressed_entry(16, 0x50064, 1000);
	g_assert_cmpuint(e, ==, GV_QCOW2_OFLAG_COMPRESSED | (G_GUINT64_CONSTANT(2) << 54) | 0x50064);
	gv_qcow2_compressed_decode(16, e, &off, &max);
	g_assert_cmpuint(off, ==, 0x50064);
	g_assert_cmpuint(max, ==, 3 * 512 - 100);

	for (guint bits = 9; bits <= 21; bits++) {
		guint32 cs = 1u << bits;
		guint64 offsets[] = { 512, 513, 1000003, G_GUINT64_CONSTANT(1) << 40 };
		guint32 lengths[] = { 1, 511, 512, cs - 1, cs };

		for (gsize i = 0; i < G_N_ELEMENTS(offsets); i++) {
			for (gsize j = 0; j < G_N_ELEMENTS(lengths); j++) {
				e = gv_qcow2_compressed_entry(bits, offsets[i], lengths[j]);
				g_assert_false(e & GV_QCOW2_OFLAG_COPIED);
				gv_qcow2_compressed_decode(bits, e, &off, &max);
				g_assert_cmpuint(off, ==, offsets[i]);
				g_assert_cmpuint(max, >=, lengths[j]);
				g_assert_cmpuint(max, <, (guint64)lengths[j] + 512);
			}
		}
	}
}

static void test_packer(void)
{
	g_auto(GvQcow2Packer) p;
	guint32 pad;

	/* 512-byte clusters, data from cluster 1, at most 3 users per cluster. */
	gv_qcow2_packer_init(&p, 9, 512, 3);
	g_assert_cmpuint(gv_qcow2_packer_place(&p, 100, TRUE, &pad), ==, 512);
	g_assert_cmpuint(pad, ==, 0);
	g_assert_cmpuint(gv_qcow2_packer_place(&p, 100, TRUE, &pad), ==, 612);
	g_assert_cmpuint(gv_qcow2_packer_place(&p, 100, TRUE, &pad), ==, 712);
	/* Cluster 1 has 3 users: the next blob moves to cluster 2. */
	g_assert_cmpuint(gv_qcow2_packer_place(&p, 100, TRUE, &pad), ==, 1024);
	g_assert_cmpuint(pad, ==, 212);
	/* A raw cluster starts on a boundary. */
	g_assert_cmpuint(gv_qcow2_packer_place(&p, 512, FALSE, &pad), ==, 1536);
	g_assert_cmpuint(pad, ==, 412);
	/* Blobs may straddle into the next cluster. */
	g_assert_cmpuint(gv_qcow2_packer_place(&p, 400, TRUE, &pad), ==, 2048);
	g_assert_cmpuint(gv_qcow2_packer_place(&p, 400, TRUE, &pad), ==, 2448);
	g_assert_cmpuint(p.pos, ==, 2848);

	guint16 want[] = { 3, 1, 1, 2, 1 };
	g_assert_cmpuint(p.refcounts->len, ==, G_N_ELEMENTS(want));
	for (gsize i = 0; i < G_N_ELEMENTS(want); i++)
		g_assert_cmpuint(g_array_index(p.refcounts, guint16, i), ==, want[i]);

	/* Refcount block: header 1, data as counted, metadata 1, then 0. */
	GvQcow2MetaLayout m;
	g_assert_true(gv_qcow2_meta_layout(6, 2, 3, 9, &m));
	g_assert_cmpuint(m.l2_offset, ==, 6 * 512);
	g_assert_cmpuint(m.l1_offset, ==, 8 * 512);
	g_assert_cmpuint(m.l1_clusters, ==, 1);
	g_assert_cmpuint(m.rc.table_offset, ==, 9 * 512);
	g_assert_cmpuint(m.rc.n_blocks, ==, 1);
	g_assert_cmpuint(m.rc.end_cluster, ==, 11);
	guint8 block[512];
	gv_qcow2_refcount_block_fill(&p, 6, m.rc.end_cluster, 9, 0, block);
	guint16 counts[] = { 1, 3, 1, 1, 2, 1, 1, 1, 1, 1, 1, 0, 0 };
	for (gsize i = 0; i < G_N_ELEMENTS(counts); i++)
		g_assert_cmpuint(gv_get_be16(block + 2 * i), ==, counts[i]);
}

static void test_map(void)
{
	g_auto(GvQcow2Map) map;

	/* 512-byte clusters: an L2 table maps 64 clusters. */
	g_assert_true(gv_qcow2_map_init(&map, 64 * 512 * 3, 9));
	g_assert_cmpuint(map.l1_size, ==, 3);
	gv_qcow2_map_set(&map, 0, 0x1122334455667788);
	gv_qcow2_map_set(&map, 1, 7);
	gv_qcow2_map_set(&map, 64 * 2 + 63, 9);
	g_assert_cmpuint(map.n_tables, ==, 2);
	g_assert_null(map.l2[1]);
	g_assert_cmpuint(gv_get_be64(map.l2[0]), ==, 0x1122334455667788);
	g_assert_cmpuint(gv_get_be64(map.l2[0] + 8), ==, 7);
	g_assert_cmpuint(gv_get_be64(map.l2[2] + 63 * 8), ==, 9);

	GvQcow2Map huge;
	g_assert_false(gv_qcow2_map_init(&huge, G_MAXUINT64, 9));
}

static void test_parse_size(void)
{
	static const struct {
		const char *text;
		guint64 value;
	} good[] = {
		{ "0", 0 }, { "4096", 4096 }, { "1k", 1024 }, { "1K", 1024 }, { "1KiB", 1024 },
		{ "512M", 512u << 20 }, { "10G", G_GUINT64_CONSTANT(10) << 30 },
		{ "2T", G_GUINT64_CONSTANT(2) << 40 }, { "1PB", G_GUINT64_CONSTANT(1) << 50 },
		/* The spec's grammar too: a fraction, the unit B. */
		{ "1.5G", G_GUINT64_CONSTANT(3) << 29 }, { "0.5K", 512 }, { "100B", 100 },
	};
	static const char *const bad[] = { "", "G", "-1", "1.5", "1.G", "10X", "10GG", "8192P",
					   "99999999999999999999", " 1G" };

	for (gsize i = 0; i < G_N_ELEMENTS(good); i++) {
		guint64 v = 1;
		g_assert_true(gv_image_parse_size(good[i].text, &v, NULL));
		g_assert_cmpuint(v, ==, good[i].value);
	}
	for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autoptr(GError) error = NULL;
		guint64 v = 1;
		g_assert_false(gv_image_parse_size(bad[i], &v, &error));
		g_assert_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_INVALID);
		g_assert_cmpuint(v, ==, 1);
	}
}

static void test_helpers(void)
{
	struct {
		const char *base, *name, *want;
	} joins[] = {
		{ "ov.qcow2", "base.qcow2", "base.qcow2" },
		{ "sub/ov.qcow2", "../base.qcow2", "sub/../base.qcow2" },
		{ "/a/b/ov.qcow2", "base", "/a/b/base" },
		{ "/a/b/ov.qcow2", "/abs/base", "/abs/base" },
	};
	for (gsize i = 0; i < G_N_ELEMENTS(joins); i++) {
		g_autofree char *got = gv_path_join_dir_of(joins[i].base, joins[i].name);
		g_assert_cmpstr(got, ==, joins[i].want);
	}

	guint64 words[64] = { 0 };
	for (gsize len = 0; len <= sizeof(words); len++)
		g_assert_true(gv_buffer_is_zero(words, len));
	for (gsize at = 0; at < sizeof(words); at++) {
		((guint8 *)words)[at] = 1;
		g_assert_false(gv_buffer_is_zero(words, sizeof(words)));
		g_assert_true(gv_buffer_is_zero(words, at));
		((guint8 *)words)[at] = 0;
	}
}

static void test_guid(void)
{
	guint8 g[16];
	char text[37];

	g_assert_true(gv_guid_parse(GV_GPT_TYPE_ESP, g));
	g_assert_cmpuint(g[0], ==, 0xc1);
	g_assert_cmpuint(g[15], ==, 0x3b);
	gv_guid_format(g, text);
	g_assert_cmpstr(text, ==, "c12a7328-f81f-11d2-ba4b-00a0c93ec93b");
	g_assert_false(gv_guid_parse("c12a7328-f81f-11d2-ba4b-00a0c93ec93", g));
	g_assert_false(gv_guid_parse("c12a7328xf81f-11d2-ba4b-00a0c93ec93b", g));
	g_assert_false(gv_guid_parse("g12a7328-f81f-11d2-ba4b-00a0c93ec93b", g));
	g_assert_false(gv_guid_parse(NULL, g));

	guint8 ones[16];
	memset(ones, 0xff, sizeof(ones));
	gv_guid_from_bytes(ones, g);
	gv_guid_format(g, text);
	g_assert_cmpstr(text, ==, "ffffffff-ffff-4fff-bfff-ffffffffffff");
}

static guint32 le32(const guint8 *p)
{
	return (guint32)p[0] | (guint32)p[1] << 8 | (guint32)p[2] << 16 | (guint32)p[3] << 24;
}

static guint64 le64(const guint8 *p)
{
	return (guint64)le32(p) | (guint64)le32(p + 4) << 32;
}

/* Check one header: signature, its own CRC, where it points, the entries' CRC. */
static void check_gpt_header(const guint8 *h, guint64 my_lba, guint64 other_lba,
			     guint64 entries_lba, const guint8 *entries)
{
	guint8 copy[92];

	g_assert_cmpmem(h, 8, "EFI PART", 8);
	memcpy(copy, h, 92);
	memset(copy + 16, 0, 4);
	g_assert_cmpuint(le32(h + 16), ==, (guint32)crc32(0, copy, 92));
	g_assert_cmpuint(le64(h + 24), ==, my_lba);
	g_assert_cmpuint(le64(h + 32), ==, other_lba);
	g_assert_cmpuint(le64(h + 72), ==, entries_lba);
	g_assert_cmpuint(le32(h + 88), ==, (guint32)crc32(0, entries, 128 * 128));
}

static void test_gpt(void)
{
	g_autofree guint8 *pri = g_malloc(GV_GPT_PRIMARY_BYTES);
	g_autofree guint8 *bak = g_malloc(GV_GPT_BACKUP_BYTES);
	guint64 disk = 100u << 20, sectors = disk / 512;
	GvGptPartition p[2] = {
		{ .first_lba = 2048, .last_lba = 4095, .name = "ESP" },
		{ .first_lba = 4096, .last_lba = sectors - 34, .name = "root" },
	};
	guint8 disk_guid[16];
	GError *error = NULL;

	gv_guid_parse("01234567-89ab-4cde-8f01-23456789abcd", disk_guid);
	gv_guid_parse(GV_GPT_TYPE_ESP, p[0].type);
	gv_guid_parse(GV_GPT_TYPE_ROOT_X86_64, p[1].type);
	gv_guid_parse("11111111-2222-4333-8444-555555555555", p[1].uuid);
	g_assert_true(gv_gpt_build(disk, disk_guid, p, 2, pri, bak, &error));
	g_assert_no_error(error);

	/* Protective MBR. */
	g_assert_cmpuint(pri[510], ==, 0x55);
	g_assert_cmpuint(pri[511], ==, 0xaa);
	g_assert_cmpuint(pri[446 + 4], ==, 0xee);
	g_assert_cmpuint(le32(pri + 446 + 8), ==, 1);
	g_assert_cmpuint(le32(pri + 446 + 12), ==, sectors - 1);

	const guint8 *entries = pri + 1024;
	check_gpt_header(pri + 512, 1, sectors - 1, 2, entries);
	check_gpt_header(bak + 32 * 512, sectors - 1, 1, sectors - 33, bak);
	g_assert_cmpmem(bak, 128 * 128, entries, 128 * 128);
	g_assert_cmpuint(le64(pri + 512 + 40), ==, 34);
	g_assert_cmpuint(le64(pri + 512 + 48), ==, sectors - 34);
	/* Mixed-endian GUIDs: the disk GUID's first field little-endian. */
	g_assert_cmpuint(pri[512 + 56], ==, 0x67);
	g_assert_cmpuint(pri[512 + 59], ==, 0x01);
	g_assert_cmpuint(pri[512 + 64], ==, 0x8f);
	/* Entry 2: the root type, LBAs, UTF-16LE name. */
	const guint8 *e = entries + 128;
	g_assert_cmpuint(e[0], ==, 0xe3); /* 4F68BCE3 little-endian */
	g_assert_cmpuint(le64(e + 32), ==, 4096);
	g_assert_cmpuint(le64(e + 40), ==, sectors - 34);
	g_assert_cmpmem(e + 56, 8, "r\0o\0o\0t\0", 8);

	/* What does not fit is refused. */
	static const struct {
		guint64 first, last;
		const char *name, *message;
	} bad[] = {
		{ 33, 100, "x", "outside the usable area" },
		{ 4000, 5000, "x", "overlap" },
		{ 200000, 300000, "x", "outside the usable area" },
		{ 5000, 4000, "x", "outside the usable area" },
		{ 100000, 100001, "a name that is much too long for a gpt", "longer than 36" },
	};
	for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
		GvGptPartition q[2] = { p[0], { .first_lba = bad[i].first, .last_lba = bad[i].last,
						.name = bad[i].name } };
		q[0].last_lba = 4095;
		g_assert_false(gv_gpt_build(disk, disk_guid, q, 2, pri, bak, &error));
		g_assert_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_INVALID);
		g_assert_nonnull(strstr(error->message, bad[i].message));
		g_clear_error(&error);
	}
	g_assert_false(gv_gpt_build(512 * 60, disk_guid, p, 0, pri, bak, &error));
	g_assert_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_INVALID);
	g_clear_error(&error);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/image/qcow2/seeds", test_seeds);
	g_test_add_func("/image/qcow2/roundtrip", test_roundtrip);
	g_test_add_func("/image/qcow2/corrupt", test_corrupt);
	g_test_add_func("/image/qcow2/l1-entries", test_l1_entries);
	g_test_add_func("/image/qcow2/refcount-layout", test_refcount_layout);
	g_test_add_func("/image/qcow2/compressed-entry", test_compressed_entry);
	g_test_add_func("/image/qcow2/packer", test_packer);
	g_test_add_func("/image/qcow2/map", test_map);
	g_test_add_func("/image/parse-size", test_parse_size);
	g_test_add_func("/image/helpers", test_helpers);
	g_test_add_func("/image/gpt/guid", test_guid);
	g_test_add_func("/image/gpt/build", test_gpt);
	return g_test_run();
}
