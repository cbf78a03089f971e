/* SPDX-License-Identifier: MIT */
/*
 * firmware.c - [vm] firmware=auto for a disk: look at its partition table
 *
 * A disk from `grainvm image build` is GPT with an EFI system partition
 * and systemd-boot, and nothing in the MBR's boot code: SeaBIOS boots
 * nothing there and the console stays empty until the ready timeout.  So
 * firmware=auto reads the disk's first 34 sectors (through qemu-img, which
 * knows qcow2 chains and compression) and picks UEFI for such a disk.
 */
#include "boot/firmware.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "grainvm-image.h"
#include "gv-error.h"

#define SECTOR 512
/* The MBR's boot code area: bytes 0-439, before the disk signature. */
#define MBR_CODE_BYTES 440
#define MBR_PART_TABLE 446
#define MBR_TYPE_ESP 0xef
#define MBR_TYPE_PROTECTIVE 0xee

/* C12A7328-F81F-11D2-BA4B-00A0C93EC93B as GPT stores it (first three fields little-endian). */
static const guint8 esp_guid[16] = { 0x28, 0x73, 0x2a, 0xc1, 0x1f, 0xf8, 0xd2, 0x11,
				     0xba, 0x4b, 0x00, 0xa0, 0xc9, 0x3e, 0xc9, 0x3b };

static guint32 le32(const guint8 *p)
{
	return (guint32)p[0] | (guint32)p[1] << 8 | (guint32)p[2] << 16 | (guint32)p[3] << 24;
}

static guint64 le64(const guint8 *p)
{
	return (guint64)le32(p) | (guint64)le32(p + 4) << 32;
}

/* An ESP among the GPT entries that lie inside @head. */
static gboolean gpt_has_esp(const guint8 *head, gsize len)
{
	if (len < 2 * SECTOR || memcmp(head + SECTOR, "EFI PART", 8))
		return FALSE;
	const guint8 *h = head + SECTOR;
	guint64 entries_lba = le64(h + 72);
	guint32 count = le32(h + 80), size = le32(h + 84);
	/* The spec: entry size 128 * 2^n; anything else is not a GPT we trust. */
	if (size < 128 || size > 4096 || (size & (size - 1)) || entries_lba < 2 ||
	    entries_lba > len / SECTOR)
		return FALSE;
	guint64 off = entries_lba * SECTOR;
	for (guint32 i = 0; i < count && off + size <= len; i++, off += size)
		if (!memcmp(head + off, esp_guid, sizeof(esp_guid)))
			return TRUE;
	return FALSE;
}

GvFirmware gv_firmware_for_disk_head(const guint8 *head, gsize len, char **why)
{
	if (len < SECTOR || head[510] != 0x55 || head[511] != 0xaa) {
		*why = g_strdup("no partition table on the disk");
		return GV_FIRMWARE_BIOS;
	}
	gboolean code = FALSE;
	for (gsize i = 0; i < MBR_CODE_BYTES && !code; i++)
		code = head[i] != 0;
	gboolean esp = FALSE, protective = FALSE;
	for (int i = 0; i < 4; i++) {
		guint8 type = head[MBR_PART_TABLE + 16 * i + 4];
		esp |= type == MBR_TYPE_ESP;
		protective |= type == MBR_TYPE_PROTECTIVE;
	}
	if (protective)
		esp |= gpt_has_esp(head, len);
	if (esp && !code) {
		*why = g_strdup("the disk has an EFI system partition and no BIOS boot code");
		return GV_FIRMWARE_UEFI;
	}
	*why = g_strdup(code ? "the disk has BIOS boot code" : "the disk has no EFI system partition");
	return GV_FIRMWARE_BIOS;
}

guint8 *gv_disk_read_head(const char *image, const char *format, gsize *len, GError **error)
{
	g_autofree char *qemu_img = gv_image_qemu_img_path();
	g_autofree char *tmp = NULL;
	int fd = g_file_open_tmp("grainvm-head-XXXXXX", &tmp, error);
	if (fd < 0)
		return NULL;
	close(fd);
	g_autofree char *fmt = g_strdup_printf("%s", format ? format : "raw");
	g_autofree char *count = g_strdup_printf("count=%d", GV_DISK_HEAD_BYTES / SECTOR);
	g_autofree char *in = g_strconcat("if=", image, NULL);
	g_autofree char *out = g_strconcat("of=", tmp, NULL);
	const char *argv[] = { qemu_img ? qemu_img : "qemu-img", "dd", "-f", fmt, "-O", "raw",
			       "bs=512", count, in, out, NULL };
	int status = 0;
	g_autofree char *err_text = NULL;
	gboolean ok = g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH |
				   G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, NULL, &err_text, &status,
				   error) && g_spawn_check_wait_status(status, NULL);
	guint8 *buf = NULL;
	gsize got = 0;
	if (ok)
		ok = g_file_get_contents(tmp, (char **)&buf, &got, error);
	unlink(tmp);
	if (!ok) {
		if (error && !*error)
			g_set_error(error, GV_ERROR, GV_ERROR_FAILED, "qemu-img dd of %s failed: %s",
				    image, err_text ? g_strstrip(err_text) : "");
		return NULL;
	}
	if (got > GV_DISK_HEAD_BYTES)
		got = GV_DISK_HEAD_BYTES;
	*len = got;
	return buf;
}
