/* SPDX-License-Identifier: MIT */
/*
 * qcow2-layout.c - where things go in a qcow2 file (pure)
 *
 * The writers in create.c and convert.c decide nothing about placement
 * themselves: they ask this file.  Sizes follow from three facts of the
 * format: an L2 table is one cluster of 8-byte entries; a refcount block
 * is one cluster of 16-bit counts; the refcount table is clusters of
 * 8-byte block offsets.  Keeping this free of I/O lets the unit tests
 * check the arithmetic at the edges (one byte, one L2 table exactly, the
 * refcount fixed point) without writing files.
 */
#include "gv-qcow2.h"

#include <string.h>

guint64 gv_qcow2_l1_entries(guint64 virtual_size, guint cluster_bits)
{
	guint shift = 2 * cluster_bits - 3; /* bytes one L2 table maps */
	guint64 mask = (G_GUINT64_CONSTANT(1) << shift) - 1;

	return (virtual_size >> shift) + ((virtual_size & mask) != 0);
}

static guint64 div_round_up(guint64 a, guint64 b)
{
	return a / b + (a % b != 0);
}

gboolean gv_qcow2_refcount_layout(guint64 used_clusters, guint cluster_bits,
				  GvQcow2RefcountLayout *out)
{
	guint64 per_block = G_GUINT64_CONSTANT(1) << (cluster_bits + 3 - GV_QCOW2_REFCOUNT_ORDER);
	guint64 per_table_cluster = G_GUINT64_CONSTANT(1) << (cluster_bits - 3);
	guint64 blocks = 0, table = 0;

	/*
	 * Both counts only grow from one round to the next and are bounded,
	 * so this terminates; in practice after two rounds.
	 */
	for (;;) {
		guint64 total = used_clusters + table + blocks;
		guint64 nb = div_round_up(total, per_block);
		guint64 nt = div_round_up(nb, per_table_cluster);

		if (nb == blocks && nt == table)
			break;
		blocks = nb;
		table = nt;
	}
	if (table > (GV_QCOW2_MAX_REFTABLE_BYTES >> cluster_bits))
		return FALSE;
	out->table_offset = used_clusters << cluster_bits;
	out->table_clusters = table;
	out->blocks_offset = (used_clusters + table) << cluster_bits;
	out->n_blocks = blocks;
	out->end_cluster = used_clusters + table + blocks;
	return TRUE;
}

guint64 gv_qcow2_compressed_entry(guint cluster_bits, guint64 host_offset,
				  guint32 length)
{
	guint x = 62 - (cluster_bits - 8);
	guint64 extra = ((host_offset + length - 1) >> 9) - (host_offset >> 9);

	g_assert(length > 0 && length <= (1u << cluster_bits));
	g_assert(host_offset < (G_GUINT64_CONSTANT(1) << x));
	return GV_QCOW2_OFLAG_COMPRESSED | (extra << x) | host_offset;
}

void gv_qcow2_compressed_decode(guint cluster_bits, guint64 entry,
				guint64 *host_offset, guint64 *max_length)
{
	guint x = 62 - (cluster_bits - 8);
	guint64 off = entry & ((G_GUINT64_CONSTANT(1) << x) - 1);
	guint64 sectors = ((entry >> x) & ((G_GUINT64_CONSTANT(1) << (cluster_bits - 8)) - 1)) + 1;

	*host_offset = off;
	*max_length = sectors * 512 - (off & 511);
}

void gv_qcow2_packer_init(GvQcow2Packer *p, guint cluster_bits,
			  guint64 start_offset, guint32 refcount_max)
{
	p->cluster_bits = cluster_bits;
	p->refcount_max = refcount_max;
	p->pos = start_offset;
	p->base_cluster = start_offset >> cluster_bits;
	p->refcounts = g_array_new(FALSE, TRUE, sizeof(guint16));
}

void gv_qcow2_packer_clear(GvQcow2Packer *p)
{
	g_clear_pointer(&p->refcounts, g_array_unref);
}

static guint16 *packer_count(GvQcow2Packer *p, guint64 cluster)
{
	guint64 i = cluster - p->base_cluster;

	if (i >= p->refcounts->len)
		g_array_set_size(p->refcounts, (guint)(i + 1));
	return &g_array_index(p->refcounts, guint16, i);
}

guint64 gv_qcow2_packer_place(GvQcow2Packer *p, guint32 length,
			      gboolean compressed, guint32 *pad)
{
	guint64 mask = (G_GUINT64_CONSTANT(1) << p->cluster_bits) - 1;
	guint64 off = p->pos;

	g_assert(length > 0 && length <= mask + 1);
	if (!compressed) {
		off = (off + mask) & ~mask;
	} else if ((off & mask) && *packer_count(p, off >> p->cluster_bits) >= p->refcount_max) {
		/* This cluster cannot be shared once more: start a fresh one. */
		off = (off + mask) & ~mask;
	}
	for (guint64 c = off >> p->cluster_bits; c <= (off + length - 1) >> p->cluster_bits; c++)
		(*packer_count(p, c))++;
	*pad = (guint32)(off - p->pos);
	p->pos = off + length;
	return off;
}

void gv_qcow2_packer_claim(GvQcow2Packer *p, guint64 host_offset)
{
	guint64 cluster = host_offset >> p->cluster_bits;

	g_assert(cluster >= p->base_cluster);
	(*packer_count(p, cluster))++;
	p->pos = MAX(p->pos, (cluster + 1) << p->cluster_bits);
}

gboolean gv_qcow2_map_init(GvQcow2Map *map, guint64 virtual_size,
			   guint cluster_bits)
{
	guint64 l1 = gv_qcow2_l1_entries(virtual_size, cluster_bits);

	memset(map, 0, sizeof(*map));
	if (l1 > GV_QCOW2_MAX_L1_ENTRIES)
		return FALSE;
	map->cluster_bits = cluster_bits;
	map->l1_size = l1;
	map->l2 = g_new0(guint8 *, l1 ? l1 : 1);
	return TRUE;
}

void gv_qcow2_map_clear(GvQcow2Map *map)
{
	for (guint64 i = 0; map->l2 && i < map->l1_size; i++)
		g_free(map->l2[i]);
	g_clear_pointer(&map->l2, g_free);
	map->n_tables = 0;
}

void gv_qcow2_map_set(GvQcow2Map *map, guint64 guest_cluster, guint64 entry)
{
	guint l2_bits = map->cluster_bits - 3;
	guint64 l1_index = guest_cluster >> l2_bits;
	guint64 l2_index = guest_cluster & ((G_GUINT64_CONSTANT(1) << l2_bits) - 1);

	g_assert(l1_index < map->l1_size);
	if (!map->l2[l1_index]) {
		map->l2[l1_index] = g_malloc0((gsize)1 << map->cluster_bits);
		map->n_tables++;
	}
	gv_put_be64(map->l2[l1_index] + l2_index * 8, entry);
}

gboolean gv_qcow2_meta_layout(guint64 data_end_cluster, guint64 n_l2_tables,
			      guint64 l1_size, guint cluster_bits,
			      GvQcow2MetaLayout *out)
{
	guint64 cluster = data_end_cluster;

	out->l2_offset = cluster << cluster_bits;
	cluster += n_l2_tables;
	out->l1_offset = cluster << cluster_bits;
	out->l1_clusters = div_round_up(l1_size * 8, G_GUINT64_CONSTANT(1) << cluster_bits);
	cluster += out->l1_clusters;
	return gv_qcow2_refcount_layout(cluster, cluster_bits, &out->rc);
}

void gv_qcow2_refcount_block_fill(const GvQcow2Packer *packer,
				  guint64 data_end_cluster, guint64 end_cluster,
				  guint cluster_bits, guint64 block_index,
				  guint8 *block)
{
	guint64 per_block = G_GUINT64_CONSTANT(1) << (cluster_bits + 3 - GV_QCOW2_REFCOUNT_ORDER);
	guint64 first = block_index * per_block;
	guint64 data_start = packer ? packer->base_cluster : data_end_cluster;

	memset(block, 0, (gsize)1 << cluster_bits);
	for (guint64 i = 0; i < per_block; i++) {
		guint64 c = first + i;
		guint16 v;

		if (c >= end_cluster)
			break;
		if (c < data_start || c >= data_end_cluster) {
			v = 1;
		} else {
			guint64 k = c - data_start;
			v = k < packer->refcounts->len ? g_array_index(packer->refcounts, guint16, k) : 0;
		}
		gv_qcow2_put_refcount(block, i, v);
	}
}
