/* SPDX-License-Identifier: MIT */
/*
 * gv-gpt.h - GUID partition tables (pure)
 *
 * Builds the protective MBR, the primary GPT (header and 128 entries) and
 * the backup GPT of a disk as byte buffers; build.c places them at the
 * start and end of the disk.  GUIDs are kept in the byte order of their
 * text form ("C12A7328-F81F-..." is c1 2a 73 28 f8 1f ...); the on-disk
 * mixed-endian order (the first three fields little-endian) is applied
 * only when the table is written.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define GV_GPT_SECTOR 512
#define GV_GPT_ENTRIES 128
#define GV_GPT_ENTRY_SIZE 128
/* LBA 0 (MBR), 1 (header), 2..33 (128 entries of 128 bytes). */
#define GV_GPT_PRIMARY_BYTES (34 * GV_GPT_SECTOR)
/* The entries again, then the header in the last sector. */
#define GV_GPT_BACKUP_BYTES (33 * GV_GPT_SECTOR)
#define GV_GPT_MAX_NAME 36

/* Type GUIDs: the UEFI system partition, and x86-64 root from the
 * Discoverable Partitions Specification (so systemd finds it unasked). */
#define GV_GPT_TYPE_ESP "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
#define GV_GPT_TYPE_ROOT_X86_64 "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709"

typedef struct {
	guint8 type[16];
	guint8 uuid[16];
	guint64 first_lba; /* inclusive */
	guint64 last_lba;  /* inclusive */
	const char *name;  /* ASCII, at most 36 characters */
} GvGptPartition;

/**
 * gv_guid_parse() - "C12A7328-F81F-11D2-BA4B-00A0C93EC93B" to bytes
 * @text: 36 characters, either case
 * @out: (out caller-allocates): 16 bytes in text order
 *
 * Return: FALSE when @text is not a GUID.
 */
gboolean gv_guid_parse(const char *text, guint8 out[16]);

/** gv_guid_format() - bytes to lower-case text; @out holds 37 bytes */
void gv_guid_format(const guint8 guid[16], char out[37]);

/**
 * gv_guid_from_bytes() - a version-4 style GUID from arbitrary bytes
 * @bytes: at least 16 bytes (random, or a hash for reproducible builds)
 * @out: (out caller-allocates): the GUID, with the version (4) and variant
 *       (RFC 4122) bits set so that tools accept it
 */
void gv_guid_from_bytes(const guint8 *bytes, guint8 out[16]);

/**
 * gv_gpt_build() - partition tables for a disk
 * @disk_bytes: the disk's size, a multiple of 512
 * @disk_guid: the disk GUID
 * @parts: (array length=n_parts): partitions, inside the usable area
 *         (LBA 34 to the 34th sector from the end) and not overlapping
 * @n_parts: at most 128
 * @primary: (out caller-allocates): GV_GPT_PRIMARY_BYTES for LBA 0..33
 * @backup: (out caller-allocates): GV_GPT_BACKUP_BYTES for the last 33
 *          sectors
 * @error: GV_IMAGE_ERROR_INVALID naming the partition that does not fit
 *
 * Return: TRUE on success.
 */
gboolean gv_gpt_build(guint64 disk_bytes, const guint8 disk_guid[16],
		      const GvGptPartition *parts, gsize n_parts, guint8 *primary,
		      guint8 *backup, GError **error);

G_END_DECLS
