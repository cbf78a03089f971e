/* SPDX-License-Identifier: MIT */
/*
 * test-firmware.c - firmware=auto from a disk's partition table
 *
 * The pure decision on hand-made sectors (GPT with and without an ESP,
 * boot code, MBR type 0xEF, and hostile GPT headers whose entry offsets
 * and counts point outside what was read), then the bounded read itself
 * through qemu-img on a raw file and on a qcow2 converted from it.
 */
#include <string.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "boot/firmware.h"

static const guint8 esp_guid[16] = { 0x28, 0x73, 0x2a, 0xc1, 0x1f, 0xf8, 0xd2, 0x11,
				     0xba, 0x4b, 0x00, 0xa0, 0xc9, 0x3e, 0xc9, 0x3b };
/* 0FC63DAF-8483-4772-8E79-3D69D8477DE4: Linux file system data. */
static const guint8 linux_guid[16] = { 0xaf, 0x3d, 0xc6, 0x0f, 0x83, 0x84, 0x72, 0x47,
				       0x8e, 0x79, 0x3d, 0x69, 0xd8, 0x47, 0x7d, 0xe4 };

static void put32(guint8 *p, guint32 v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (guint8)(v >> (8 * i));
}

/* A protective MBR and a GPT with @n entries of the given types. */
static guint8 *gpt_disk(const guint8 (*types)[16], int n)
{
	guint8 *d = g_malloc0(GV_DISK_HEAD_BYTES);
	d[446 + 4] = 0xee;
	d[510] = 0x55;
	d[511] = 0xaa;
	memcpy(d + 512, "EFI PART", 8);
	put32(d + 512 + 72, 2);   /* entries at LBA 2 */
	put32(d + 512 + 80, 128); /* 128 entries */
	put32(d + 512 + 84, 128); /* of 128 bytes */
	for (int i = 0; i < n; i++)
		memcpy(d + 1024 + 128 * i, types[i], 16);
	return d;
}

static GvFirmware decide(const guint8 *d, gsize len, const char *want_why)
{
	g_autofree char *why = NULL;
	GvFirmware fw = gv_firmware_for_disk_head(d, len, &why);
	g_assert_nonnull(why);
	if (want_why)
		g_assert_cmpstr(why, ==, want_why);
	return fw;
}

static void test_decide(void)
{
	guint8 types[2][16];
	memcpy(types[0], esp_guid, 16);
	memcpy(types[1], linux_guid, 16);

	/* grainvm image build's layout: ESP + root, no boot code. */
	g_autofree guint8 *uefi = gpt_disk((const guint8 (*)[16])types, 2);
	g_assert_cmpint(decide(uefi, GV_DISK_HEAD_BYTES,
			       "the disk has an EFI system partition and no BIOS boot code"), ==,
			GV_FIRMWARE_UEFI);
	/* The ESP as the 40th entry still counts (LBA 2 + 39 * 128 bytes). */
	g_autofree guint8 *late = g_malloc0(GV_DISK_HEAD_BYTES);
	memcpy(late, uefi, 1024);
	memcpy(late + 1024 + 39 * 128, esp_guid, 16);
	g_assert_cmpint(decide(late, GV_DISK_HEAD_BYTES, NULL), ==, GV_FIRMWARE_UEFI);

	/* Boot code (a hybrid GRUB disk): BIOS boots it. */
	g_autofree guint8 *hybrid = g_memdup2(uefi, GV_DISK_HEAD_BYTES);
	hybrid[0] = 0xeb;
	hybrid[1] = 0x63;
	g_assert_cmpint(decide(hybrid, GV_DISK_HEAD_BYTES, "the disk has BIOS boot code"), ==,
			GV_FIRMWARE_BIOS);

	/* GPT without an ESP. */
	g_autofree guint8 *noesp = gpt_disk((const guint8 (*)[16])(types + 1), 1);
	g_assert_cmpint(decide(noesp, GV_DISK_HEAD_BYTES, "the disk has no EFI system partition"),
			==, GV_FIRMWARE_BIOS);

	/* An MBR disk with a type 0xEF partition. */
	g_autofree guint8 *mbr = g_malloc0(512);
	mbr[446 + 4] = 0xef;
	mbr[510] = 0x55;
	mbr[511] = 0xaa;
	g_assert_cmpint(decide(mbr, 512, NULL), ==, GV_FIRMWARE_UEFI);

	/* Blank disk, short read. */
	g_autofree guint8 *blank = g_malloc0(GV_DISK_HEAD_BYTES);
	g_assert_cmpint(decide(blank, GV_DISK_HEAD_BYTES, "no partition table on the disk"), ==,
			GV_FIRMWARE_BIOS);
	g_assert_cmpint(decide(uefi, 100, NULL), ==, GV_FIRMWARE_BIOS);
}

/* Hostile headers: only the bytes given are read (ASan checks it). */
static void test_hostile(void)
{
	guint8 types[1][16];
	memcpy(types[0], esp_guid, 16);
	g_autofree guint8 *d = gpt_disk((const guint8 (*)[16])types, 1);
	struct {
		guint64 lba;
		guint32 count, size;
	} cases[] = {
		{ 0xffffffffffffffffull, 128, 128 },
		{ 33, 0xffffffffu, 128 },
		{ 2, 128, 0 },
		{ 2, 128, 100 },
		{ 2, 128, 0x80000000u },
		{ 1, 128, 128 },
		{ 34, 1, 128 },
	};
	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		/* Copy into a buffer exactly as long as what was read. */
		g_autofree guint8 *h = g_memdup2(d, GV_DISK_HEAD_BYTES);
		put32(h + 512 + 72, (guint32)cases[i].lba);
		put32(h + 512 + 76, (guint32)(cases[i].lba >> 32));
		put32(h + 512 + 80, cases[i].count);
		put32(h + 512 + 84, cases[i].size);
		g_autofree char *why = NULL;
		GvFirmware fw = gv_firmware_for_disk_head(h, GV_DISK_HEAD_BYTES, &why);
		/* The ESP entry sits at LBA 2: a header pointing elsewhere, or with
		 * an entry size the spec does not allow, must not find it. */
		if (cases[i].lba >= 34 || cases[i].lba < 2 || cases[i].size < 128 ||
		    cases[i].size > 4096 || (cases[i].size & (cases[i].size - 1)))
			g_assert_cmpint(fw, ==, GV_FIRMWARE_BIOS);
	}
}

/* The read: raw, and the same bytes in a qcow2 (qemu-img convert). */
static void test_read(void)
{
	guint8 types[1][16];
	memcpy(types[0], esp_guid, 16);
	g_autofree guint8 *d = gpt_disk((const guint8 (*)[16])types, 1);
	g_autofree char *dir = g_dir_make_tmp("gv-fw-XXXXXX", NULL);
	g_autofree char *raw = g_build_filename(dir, "disk.raw", NULL);
	g_autofree char *qcow = g_build_filename(dir, "disk.qcow2", NULL);
	/* 1 MiB disk: the head, then zeros. */
	g_autofree guint8 *disk = g_malloc0(1 << 20);
	memcpy(disk, d, GV_DISK_HEAD_BYTES);
	g_assert_true(g_file_set_contents(raw, (char *)disk, 1 << 20, NULL));
	const char *conv[] = { "qemu-img", "convert", "-q", "-c", "-f", "raw", "-O", "qcow2", raw,
			       qcow, NULL };
	int status;
	g_assert_true(g_spawn_sync(NULL, (char **)conv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL,
				   NULL, NULL, &status, NULL));
	g_assert_true(g_spawn_check_wait_status(status, NULL));

	const char *images[][2] = { { raw, "raw" }, { qcow, "qcow2" } };
	for (gsize i = 0; i < G_N_ELEMENTS(images); i++) {
		gsize len = 0;
		g_autoptr(GError) err = NULL;
		g_autofree guint8 *h = gv_disk_read_head(images[i][0], images[i][1], &len, &err);
		g_assert_no_error(err);
		g_assert_cmpuint(len, ==, GV_DISK_HEAD_BYTES);
		g_assert_cmpmem(h, len, d, GV_DISK_HEAD_BYTES);
		g_autofree char *why = NULL;
		g_assert_cmpint(gv_firmware_for_disk_head(h, len, &why), ==, GV_FIRMWARE_UEFI);
	}
	/* Not an image: a clear error, nothing left in /tmp. */
	g_autofree char *missing = g_build_filename(dir, "none.qcow2", NULL);
	gsize len = 0;
	g_autoptr(GError) err = NULL;
	g_assert_null(gv_disk_read_head(missing, "qcow2", &len, &err));
	g_assert_nonnull(err);
	g_unlink(raw);
	g_unlink(qcow);
	g_rmdir(dir);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/firmware/decide", test_decide);
	g_test_add_func("/firmware/hostile-gpt", test_hostile);
	g_test_add_func("/firmware/read", test_read);
	return g_test_run();
}
