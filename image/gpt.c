/* SPDX-License-Identifier: MIT */
/*
 * gpt.c - protective MBR, primary and backup GPT (pure)
 *
 * Layout (UEFI 2.x, chapter 5): LBA 0 is a protective MBR with one 0xEE
 * partition covering the disk, so that MBR-only tools see it as in use.
 * LBA 1 is the GPT header; LBA 2..33 the partition entry array (128
 * entries of 128 bytes, the size every tool expects).  The last sector is
 * the backup header and the 32 before it the backup entries.  Both
 * headers carry a CRC32 of themselves (with the CRC field zero) and of
 * the entry array; zlib's crc32() is the same IEEE polynomial.
 */
#include "gv-gpt.h"

#include <string.h>
#include <zlib.h>

#include "grainvm-image.h"

static void put_le16(guint8 *p, guint16 v)
{
	p[0] = (guint8)v;
	p[1] = (guint8)(v >> 8);
}

static void put_le32(guint8 *p, guint32 v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (guint8)(v >> (8 * i));
}

static void put_le64(guint8 *p, guint64 v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (guint8)(v >> (8 * i));
}

gboolean gv_guid_parse(const char *text, guint8 out[16])
{
	guint8 g[16];
	gsize n = 0;

	if (!text || strlen(text) != 36)
		return FALSE;
	for (gsize i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (text[i] != '-')
				return FALSE;
			continue;
		}
		int hi = g_ascii_xdigit_value(text[i]), lo = g_ascii_xdigit_value(text[i + 1]);
		if (hi < 0 || lo < 0)
			return FALSE;
		g[n++] = (guint8)(hi << 4 | lo);
		i++;
	}
	memcpy(out, g, 16);
	return TRUE;
}

void gv_guid_format(const guint8 g[16], char out[37])
{
	g_snprintf(out, 37,
		   "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", g[0],
		   g[1], g[2], g[3], g[4], g[5], g[6], g[7], g[8], g[9], g[10], g[11], g[12], g[13],
		   g[14], g[15]);
}

void gv_guid_from_bytes(const guint8 *bytes, guint8 out[16])
{
	memcpy(out, bytes, 16);
	out[6] = (guint8)((out[6] & 0x0f) | 0x40); /* version 4 */
	out[8] = (guint8)((out[8] & 0x3f) | 0x80); /* RFC 4122 variant */
}

/* Text order to GPT's on-disk order: the first three fields little-endian. */
static void put_guid(guint8 *p, const guint8 g[16])
{
	static const int order[16] = { 3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15 };

	for (int i = 0; i < 16; i++)
		p[i] = g[order[i]];
}

static void put_header(guint8 *h, guint64 my_lba, guint64 other_lba, guint64 last_usable,
		       const guint8 disk_guid[16], guint64 entries_lba, guint32 entries_crc)
{
	memcpy(h, "EFI PART", 8);
	put_le32(h + 8, 0x00010000); /* revision 1.0 */
	put_le32(h + 12, 92);        /* header size */
	put_le64(h + 24, my_lba);
	put_le64(h + 32, other_lba);
	put_le64(h + 40, 34); /* first usable LBA */
	put_le64(h + 48, last_usable);
	put_guid(h + 56, disk_guid);
	put_le64(h + 72, entries_lba);
	put_le32(h + 80, GV_GPT_ENTRIES);
	put_le32(h + 84, GV_GPT_ENTRY_SIZE);
	put_le32(h + 88, entries_crc);
	put_le32(h + 16, (guint32)crc32(0, h, 92));
}

gboolean gv_gpt_build(guint64 disk_bytes, const guint8 disk_guid[16],
		      const GvGptPartition *parts, gsize n_parts, guint8 *primary,
		      guint8 *backup, GError **error)
{
	guint64 sectors = disk_bytes / GV_GPT_SECTOR;
	gsize entries_bytes = GV_GPT_ENTRIES * GV_GPT_ENTRY_SIZE;

	if (disk_bytes % GV_GPT_SECTOR || sectors < 34 + 33 + 1) {
		g_set_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_INVALID,
			    "disk of %" G_GUINT64_FORMAT " bytes too small for a GPT", disk_bytes);
		return FALSE;
	}
	if (n_parts > GV_GPT_ENTRIES) {
		g_set_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_INVALID,
			    "%zu partitions (a GPT holds %d)", n_parts, GV_GPT_ENTRIES);
		return FALSE;
	}
	guint64 last_usable = sectors - 34;

	memset(primary, 0, GV_GPT_PRIMARY_BYTES);
	memset(backup, 0, GV_GPT_BACKUP_BYTES);
	guint8 *entries = primary + 2 * GV_GPT_SECTOR;
	for (gsize i = 0; i < n_parts; i++) {
		const GvGptPartition *p = &parts[i];
		guint8 *e = entries + i * GV_GPT_ENTRY_SIZE;
		gsize name_len = p->name ? strlen(p->name) : 0;

		if (p->first_lba < 34 || p->last_lba < p->first_lba || p->last_lba > last_usable) {
			g_set_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_INVALID,
				    "partition %zu (LBA %" G_GUINT64_FORMAT "..%" G_GUINT64_FORMAT
				    ") lies outside the usable area 34..%" G_GUINT64_FORMAT,
				    i + 1, p->first_lba, p->last_lba, last_usable);
			return FALSE;
		}
		for (gsize j = 0; j < i; j++) {
			if (p->first_lba <= parts[j].last_lba && parts[j].first_lba <= p->last_lba) {
				g_set_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_INVALID,
					    "partitions %zu and %zu overlap", j + 1, i + 1);
				return FALSE;
			}
		}
		if (name_len > GV_GPT_MAX_NAME) {
			g_set_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_INVALID,
				    "partition name \"%s\" longer than %d characters", p->name,
				    GV_GPT_MAX_NAME);
			return FALSE;
		}
		put_guid(e, p->type);
		put_guid(e + 16, p->uuid);
		put_le64(e + 32, p->first_lba);
		put_le64(e + 40, p->last_lba);
		/* UTF-16LE; the names grainvm uses are ASCII. */
		for (gsize k = 0; k < name_len; k++)
			put_le16(e + 56 + 2 * k, (guint8)p->name[k]);
	}
	guint32 entries_crc = (guint32)crc32(0, entries, (uInt)entries_bytes);

	/* Protective MBR: one partition of type 0xEE from LBA 1 to the end. */
	guint8 *mbr = primary;
	guint8 *pe = mbr + 446;
	pe[1] = 0x00, pe[2] = 0x02, pe[3] = 0x00; /* CHS of LBA 1 */
	pe[4] = 0xee;
	pe[5] = 0xff, pe[6] = 0xff, pe[7] = 0xff; /* CHS beyond addressing */
	put_le32(pe + 8, 1);
	put_le32(pe + 12, (guint32)MIN(sectors - 1, G_MAXUINT32));
	mbr[510] = 0x55;
	mbr[511] = 0xaa;

	put_header(primary + GV_GPT_SECTOR, 1, sectors - 1, last_usable, disk_guid, 2, entries_crc);
	memcpy(backup, entries, entries_bytes);
	put_header(backup + 32 * GV_GPT_SECTOR, sectors - 1, 1, last_usable, disk_guid,
		   sectors - 33, entries_crc);
	return TRUE;
}
