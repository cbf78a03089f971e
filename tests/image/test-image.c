/* SPDX-License-Identifier: MIT */
/*
 * test-image.c - creation, inspection and the CLI, against qemu-img
 *
 * qemu-img is the oracle: every image made here must pass `qemu-img
 * check`, and `qemu-img info --output=json` must agree with grainvm's own
 * reading on every key both print.  qemu-io plays the VM writing through
 * an overlay.
 */
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "grainvm-image.h"
#include "gv-qcow2.h"
#include "image-test-util.h"

static const char *const qcow2_keys[] = {
	"filename", "format", "virtual-size", "actual-size", "cluster-size", "dirty-flag",
	"format-specific.type", "format-specific.data.compat",
	"format-specific.data.compression-type", "format-specific.data.refcount-bits",
	"format-specific.data.lazy-refcounts", "format-specific.data.corrupt",
	"format-specific.data.extended-l2", NULL,
};
static const char *const backing_keys[] = {
	"backing-filename", "full-backing-filename", "backing-filename-format", NULL,
};

static gboolean need_qemu_img(void)
{
	g_autofree char *q = it_qemu_img();

	if (!q) {
		g_test_skip("qemu-img not found (set GRAINVM_QEMU_IMG)");
		return FALSE;
	}
	return TRUE;
}

/* gv_image_info_read() and qemu-img info agree on @path (and its chain). */
static void assert_info_agrees(const char *path, gboolean has_backing)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GvImageInfo) info = gv_image_info_read(path, &error);

	g_assert_no_error(error);
	g_autofree char *json = gv_image_info_to_json(info);
	g_autoptr(JsonNode) ours = it_json_parse(json);
	g_autoptr(JsonNode) theirs = it_qemu_img_info(path, FALSE);

	if (strcmp(info->format, "qcow2") == 0)
		it_assert_json_agrees(ours, theirs, qcow2_keys);
	if (has_backing)
		it_assert_json_agrees(ours, theirs, backing_keys);
	it_assert_json_agrees(ours, theirs, NULL);

	g_autofree char *chain_json = gv_image_info_chain_to_json(info);
	g_autoptr(JsonNode) ours_chain = it_json_parse(chain_json);
	g_autoptr(JsonNode) theirs_chain = it_qemu_img_info(path, TRUE);
	it_assert_json_agrees(ours_chain, theirs_chain, NULL);
}

static void test_create_plain(void)
{
	static const struct {
		guint64 size;
		guint32 cluster;
	} cases[] = {
		{ G_GUINT64_CONSTANT(1) << 30, 0 },
		{ G_GUINT64_CONSTANT(1) << 30, 2u << 20 },
		{ G_GUINT64_CONSTANT(1) << 30, 512 },
		{ 1000, 0 },        /* odd: rounded up to 1024 like qemu-img */
		{ 1000, 2u << 20 },
		{ 1000, 512 },
		{ 0, 0 },
		{ (G_GUINT64_CONSTANT(5) << 30) + 1, 0 }, /* over 4 GiB, odd */
		{ (G_GUINT64_CONSTANT(5) << 30) + 1, 2u << 20 },
		{ G_GUINT64_CONSTANT(1) << 40, 0 },      /* 1 TiB: L1 of 2048 entries */
	};

	if (!need_qemu_img())
		return;
	g_autofree char *dir = it_scratch_new();
	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree char *path = g_strdup_printf("%s/plain-%zu.qcow2", dir, i);
		g_autoptr(GError) error = NULL;

		g_test_message("size %" G_GUINT64_FORMAT " cluster %u", cases[i].size, cases[i].cluster);
		g_assert_true(gv_image_create_qcow2(path, cases[i].size, NULL, NULL, cases[i].cluster,
						    &error));
		g_assert_no_error(error);
		it_assert_qemu_img_check(path);
		assert_info_agrees(path, FALSE);

		g_autoptr(GvImageInfo) info = gv_image_info_read(path, &error);
		g_assert_cmpuint(info->virtual_size, ==, (cases[i].size + 511) / 512 * 512);
		g_assert_cmpuint(info->cluster_size, ==, cases[i].cluster ? cases[i].cluster : 65536);
		g_assert_cmpuint(info->qcow2_version, ==, 3);
		g_assert_cmpstr(info->compression_type, ==, "zlib");
		g_assert_false(info->dirty);
	}
	/* Only the images: no temporary left over. */
	g_autofree char *listing = it_dir_listing(dir);
	g_assert_null(strstr(listing, ".plain"));
	it_scratch_free(g_steal_pointer(&dir));
}

static void test_create_backing(void)
{
	if (!need_qemu_img())
		return;
	g_autofree char *dir = it_scratch_new();
	g_autofree char *qemu_img = it_qemu_img();
	g_autofree char *base = g_build_filename(dir, "base.qcow2", NULL);
	g_autofree char *raw = g_build_filename(dir, "base.raw", NULL);
	g_autofree char *sub = g_build_filename(dir, "sub", NULL);
	g_autoptr(GError) error = NULL;

	const char *mk[] = { qemu_img, "create", "-q", "-f", "qcow2", base, "3G", NULL };
	g_free(it_run_ok(mk));
	/* A raw base of an odd size over 4 GiB, sparse. */
	int fd = open(raw, O_CREAT | O_WRONLY, 0644);
	g_assert_cmpint(ftruncate(fd, (G_GUINT64_CONSTANT(5) << 30) + 123), ==, 0);
	close(fd);
	g_assert_cmpint(g_mkdir(sub, 0755), ==, 0);

	static const struct {
		const char *name, *backing, *format;
		guint64 size;
		guint32 cluster;
		const char *want_format;
		guint64 want_size;
	} cases[] = {
		{ "ov.qcow2", "base.qcow2", "qcow2", 0, 0, "qcow2", G_GUINT64_CONSTANT(3) << 30 },
		{ "ov-probed.qcow2", "base.qcow2", NULL, 0, 0, "qcow2", G_GUINT64_CONSTANT(3) << 30 },
		{ "ov-raw.qcow2", "base.raw", "raw", 0, 0, "raw", (G_GUINT64_CONSTANT(5) << 30) + 512 },
		{ "ov-raw-2m.qcow2", "base.raw", NULL, 0, 2u << 20, "raw",
		  (G_GUINT64_CONSTANT(5) << 30) + 512 },
		{ "ov-bigger.qcow2", "base.qcow2", "qcow2", G_GUINT64_CONSTANT(8) << 30, 0, "qcow2",
		  G_GUINT64_CONSTANT(8) << 30 },
		{ "sub/ov.qcow2", "../base.qcow2", "qcow2", 0, 0, "qcow2", G_GUINT64_CONSTANT(3) << 30 },
		{ "ov-abs.qcow2", NULL /* absolute */, "qcow2", 0, 0, "qcow2",
		  G_GUINT64_CONSTANT(3) << 30 },
	};
	g_autofree char *base_sum = it_file_sha256(base);
	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree char *path = g_build_filename(dir, cases[i].name, NULL);
		const char *backing = cases[i].backing ? cases[i].backing : base;

		g_test_message("%s", cases[i].name);
		g_assert_true(gv_image_create_qcow2(path, cases[i].size, backing, cases[i].format,
						    cases[i].cluster, &error));
		g_assert_no_error(error);
		it_assert_qemu_img_check(path);
		assert_info_agrees(path, TRUE);

		g_autoptr(GvImageInfo) info = gv_image_info_read(path, &error);
		g_assert_no_error(error);
		g_assert_cmpstr(info->backing_file, ==, backing);
		g_assert_cmpstr(info->backing_format, ==, cases[i].want_format);
		g_assert_cmpuint(info->virtual_size, ==, cases[i].want_size);
		g_assert_cmpuint(info->backing_chain->len, ==, 1);
		GvImageInfo *b = g_ptr_array_index(info->backing_chain, 0);
		g_assert_cmpstr(b->format, ==, cases[i].want_format);
	}
	/* The base was only read. */
	g_autofree char *base_sum2 = it_file_sha256(base);
	g_assert_cmpstr(base_sum, ==, base_sum2);

	/* A chain of three, each relative to its own directory. */
	g_autofree char *top = g_build_filename(dir, "top.qcow2", NULL);
	g_assert_true(gv_image_create_qcow2(top, 0, "sub/ov.qcow2", NULL, 0, &error));
	g_assert_no_error(error);
	assert_info_agrees(top, TRUE);
	g_autoptr(GvImageInfo) info = gv_image_info_read(top, &error);
	g_assert_cmpuint(info->backing_chain->len, ==, 2);
	g_autofree char *want = g_strconcat(dir, "/sub/../base.qcow2", NULL);
	g_assert_cmpstr(((GvImageInfo *)g_ptr_array_index(info->backing_chain, 1))->filename, ==,
			want);
	it_scratch_free(g_steal_pointer(&dir));
}

/* A VM writing through the overlay leaves the base byte-identical. */
static void test_overlay_write(void)
{
	g_autofree char *qemu_io = it_qemu_io();

	if (!need_qemu_img())
		return;
	if (!qemu_io) {
		g_test_skip("qemu-io not found (set GRAINVM_QEMU_IO)");
		return;
	}
	g_autofree char *dir = it_scratch_new();
	g_autofree char *qemu_img = it_qemu_img();
	g_autoptr(GError) error = NULL;
	const char *formats[] = { "qcow2", "raw" };

	for (gsize i = 0; i < G_N_ELEMENTS(formats); i++) {
		g_autofree char *base = g_strdup_printf("%s/base.%s", dir, formats[i]);
		g_autofree char *ov = g_strdup_printf("%s/ov-%s.qcow2", dir, formats[i]);
		const char *mk[] = { qemu_img, "create", "-q", "-f", formats[i], base, "16M", NULL };
		g_free(it_run_ok(mk));
		const char *fill[] = { qemu_io, "-f", formats[i], "-c", "write -P 0x5a 0 4M", base, NULL };
		g_free(it_run_ok(fill));
		g_autofree char *before = it_file_sha256(base);

		g_autofree char *name = g_path_get_basename(base);
		g_assert_true(gv_image_create_qcow2(ov, 0, name, NULL, 0, &error));
		g_assert_no_error(error);
		const char *write[] = { qemu_io, "-f", "qcow2", "-c", "write -P 0xab 0 1M", ov, NULL };
		g_free(it_run_ok(write));
		const char *read[] = { qemu_io, "-f", "qcow2", "-c", "read -P 0xab 0 1M",
				       "-c", "read -P 0x5a 1M 3M", "-c", "read -P 0 4M 12M", ov, NULL };
		g_autofree char *out = it_run_ok(read);
		g_assert_null(strstr(out, "failed"));

		g_autofree char *after = it_file_sha256(base);
		g_assert_cmpstr(before, ==, after);
		it_assert_qemu_img_check(ov);
		assert_info_agrees(ov, TRUE);
	}
	it_scratch_free(g_steal_pointer(&dir));
}

static void test_create_errors(void)
{
	g_autofree char *dir = it_scratch_new();
	g_autofree char *path = g_build_filename(dir, "x.qcow2", NULL);
	g_autofree char *base = g_build_filename(dir, "base.qcow2", NULL);
	GError *error = NULL;

	g_assert_false(gv_image_create_qcow2(path, 1 << 20, NULL, NULL, 4096 + 1, &error));
	g_assert_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_INVALID);
	g_assert_nonnull(strstr(error->message, "cluster size 4097"));
	g_clear_error(&error);

	g_assert_false(gv_image_create_qcow2(path, 1 << 20, NULL, NULL, 4u << 20, &error));
	g_assert_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_INVALID);
	g_clear_error(&error);

	g_assert_false(gv_image_create_qcow2(path, 0, "missing.qcow2", NULL, 0, &error));
	g_assert_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_NOT_FOUND);
	g_assert_nonnull(strstr(error->message, "missing.qcow2"));
	g_assert_nonnull(strstr(error->message, path));
	g_clear_error(&error);

	g_assert_true(gv_image_create_qcow2(base, 1 << 20, NULL, NULL, 0, NULL));
	g_assert_false(gv_image_create_qcow2(path, 0, "base.qcow2", "vmdk", 0, &error));
	g_assert_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_INVALID);
	g_assert_nonnull(strstr(error->message, "vmdk"));
	g_clear_error(&error);

	/* An image cannot back itself (that would overwrite the base). */
	g_autofree char *base_sum = it_file_sha256(base);
	g_assert_false(gv_image_create_qcow2(base, 0, "base.qcow2", NULL, 0, &error));
	g_assert_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_INVALID);
	g_clear_error(&error);
	g_autofree char *base_sum2 = it_file_sha256(base);
	g_assert_cmpstr(base_sum, ==, base_sum2);

	/* Too big for QEMU's L1 limit with 512-byte clusters. */
	g_assert_false(gv_image_create_qcow2(path, G_GUINT64_CONSTANT(1) << 50, NULL, NULL, 512,
					     &error));
	g_assert_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_INVALID);
	g_assert_nonnull(strstr(error->message, "L1"));
	g_clear_error(&error);

	/* A backing name longer than the header allows. */
	g_autofree char *long_name = g_strnfill(1100, 'a');
	g_assert_false(gv_image_create_qcow2(path, 1 << 20, long_name, "raw", 0, &error));
	g_assert_nonnull(error);
	g_clear_error(&error);

	/* Directory missing: nothing created. */
	g_assert_false(gv_image_create_qcow2("/nonexistent-dir/x.qcow2", 1 << 20, NULL, NULL, 0,
					     &error));
	g_assert_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_IO);
	g_clear_error(&error);

	/* Nothing but the base was left behind. */
	g_autofree char *listing = it_dir_listing(dir);
	g_assert_cmpstr(listing, ==, "base.qcow2");
	it_scratch_free(g_steal_pointer(&dir));
}

/* Write @value big-endian at @offset of @path. */
static void poke(const char *path, goffset offset, guint width, guint64 value)
{
	int fd = open(path, O_WRONLY);
	guint8 b[8];

	for (guint i = 0; i < width; i++)
		b[i] = (guint8)(value >> (8 * (width - 1 - i)));
	g_assert_cmpint(pwrite(fd, b, width, offset), ==, (ssize_t)width);
	close(fd);
}

static void test_info_corrupt(void)
{
	static const struct {
		const char *name;
		goffset offset;
		guint width; /* 0: truncate to offset */
		guint64 value;
		const char *message;
	} cases[] = {
		{ "truncated", 50, 0, 0, "file too short for a qcow2 header" },
		{ "huge-l1", 36, 4, 0x7fffffff, "L1 table too large" },
		{ "long-backing", 16, 4, 2000, "backing file name too long" },
		{ "cluster-bits-30", 20, 4, 30, "cluster_bits 30 outside 9..21" },
		{ "version-9", 4, 4, 9, "unsupported qcow2 version 9" },
	};

	if (!need_qemu_img())
		return;
	g_autofree char *dir = it_scratch_new();
	g_autofree char *qemu_img = it_qemu_img();
	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree char *path = g_strdup_printf("%s/%s.qcow2", dir, cases[i].name);
		g_autoptr(GError) error = NULL;

		/* The base need not exist for a header test: -u. */
		const char *mk[] = { qemu_img, "create", "-q", "-f", "qcow2", "-u", "-b", "base.raw",
				     "-F", "raw", path, "1G", NULL };
		g_free(it_run_ok(mk));
		if (cases[i].width)
			poke(path, cases[i].offset, cases[i].width, cases[i].value);
		else
			g_assert_cmpint(truncate(path, cases[i].offset), ==, 0);

		GvImageInfo *info = gv_image_info_read(path, &error);
		g_assert_null(info);
		g_assert_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_CORRUPT);
		g_test_message("%s", error->message);
		g_assert_true(g_str_has_prefix(error->message, path));
		g_assert_nonnull(strstr(error->message, cases[i].message));
		/* The oracle refuses them too. */
		const char *qi[] = { qemu_img, "info", path, NULL };
		g_assert_cmpint(it_run(qi, NULL, NULL), !=, 0);
	}

	/* Bad magic: raw to a prober, corrupt where qcow2 is expected. */
	g_autofree char *bad = g_strdup_printf("%s/bad-magic.qcow2", dir);
	g_autoptr(GError) error = NULL;
	g_assert_true(gv_image_create_qcow2(bad, 1 << 20, NULL, NULL, 0, &error));
	poke(bad, 0, 4, 0x12345678);
	g_autoptr(GvImageInfo) raw = gv_image_info_read(bad, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(raw->format, ==, "raw");
	g_assert_null(gv_image_info_read_full(bad, "qcow2", 0, &error));
	g_assert_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_CORRUPT);
	g_assert_nonnull(strstr(error->message, "bad magic 0x12345678"));
	g_clear_error(&error);

	/* ... and as the recorded backing format of an overlay. */
	g_autofree char *ov = g_strdup_printf("%s/ov-of-bad.qcow2", dir);
	g_assert_true(gv_image_create_qcow2(ov, 1 << 20, "bad-magic.qcow2", "raw", 0, &error));
	poke(bad, 0, 4, GV_QCOW2_MAGIC);
	poke(bad, 20, 4, 30);
	const char *qi[] = { qemu_img, "rebase", "-u", "-F", "qcow2", "-b", "bad-magic.qcow2", ov, NULL };
	g_free(it_run_ok(qi));
	g_assert_null(gv_image_info_read(ov, &error));
	g_assert_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_CORRUPT);
	g_assert_true(g_str_has_prefix(error->message, ov));
	g_assert_nonnull(strstr(error->message, "cluster_bits 30"));
	it_scratch_free(g_steal_pointer(&dir));
}

static void test_info_chain_errors(void)
{
	g_autofree char *dir = it_scratch_new();
	g_autofree char *a = g_build_filename(dir, "a.qcow2", NULL);
	g_autofree char *b = g_build_filename(dir, "b.qcow2", NULL);
	GError *error = NULL;

	/* Missing backing file: the error names the overlay and the base. */
	g_assert_true(gv_image_create_qcow2(b, 1 << 20, NULL, NULL, 0, NULL));
	g_assert_true(gv_image_create_qcow2(a, 0, "b.qcow2", NULL, 0, NULL));
	g_assert_cmpint(unlink(b), ==, 0);
	g_assert_null(gv_image_info_read(a, &error));
	g_assert_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_NOT_FOUND);
	g_assert_true(g_str_has_prefix(error->message, a));
	g_assert_nonnull(strstr(error->message, "b.qcow2"));
	g_clear_error(&error);
	/* Without following the chain the overlay itself reads fine. */
	GvImageInfo *info = gv_image_info_read_full(a, NULL, GV_IMAGE_INFO_NO_BACKING, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(info->backing_file, ==, "b.qcow2");
	gv_image_info_free(info);

	/* A loop: b backs a, a backs b. */
	g_assert_true(gv_image_create_qcow2(b, 1 << 20, "a.qcow2", NULL, 0, NULL));
	g_assert_null(gv_image_info_read(a, &error));
	g_assert_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_UNSUPPORTED);
	g_assert_nonnull(strstr(error->message, "loops"));
	g_clear_error(&error);

	/* A chain deeper than the limit. */
	g_autofree char *prev = g_strdup("c0.qcow2");
	g_autofree char *p0 = g_build_filename(dir, prev, NULL);
	g_assert_true(gv_image_create_qcow2(p0, 1 << 20, NULL, NULL, 0, NULL));
	for (int i = 1; i <= GV_IMAGE_MAX_CHAIN_DEPTH + 1; i++) {
		g_autofree char *name = g_strdup_printf("c%d.qcow2", i);
		g_autofree char *p = g_build_filename(dir, name, NULL);
		g_assert_true(gv_image_create_qcow2(p, 0, prev, NULL, 0, NULL));
		g_free(prev);
		prev = g_steal_pointer(&name);
	}
	g_autofree char *deep = g_build_filename(dir, prev, NULL);
	g_assert_null(gv_image_info_read(deep, &error));
	g_assert_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_UNSUPPORTED);
	g_assert_nonnull(strstr(error->message, "deeper"));
	g_clear_error(&error);

	g_assert_null(gv_image_info_read(dir, &error));
	g_assert_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_INVALID);
	g_clear_error(&error);
	it_scratch_free(g_steal_pointer(&dir));
}

static void test_info_raw(void)
{
	if (!need_qemu_img())
		return;
	g_autofree char *dir = it_scratch_new();
	const gsize sizes[] = { 0, 1, 511, 512, 70000 };

	for (gsize i = 0; i < G_N_ELEMENTS(sizes); i++) {
		g_autofree char *path = g_strdup_printf("%s/r%zu.img", dir, i);
		it_write_random(path, sizes[i], (guint32)i);
		assert_info_agrees(path, FALSE);
	}
	it_scratch_free(g_steal_pointer(&dir));
}

static void test_backing_name_for(void)
{
	g_autofree char *dir = it_scratch_new();
	g_autofree char *cwd = g_get_current_dir();
	g_autofree char *images = g_build_filename(dir, "images", NULL);
	g_autofree char *vms = g_build_filename(dir, "vms", "x", NULL);
	GError *error = NULL;

	g_assert_cmpint(g_mkdir_with_parents(images, 0755), ==, 0);
	g_assert_cmpint(g_mkdir_with_parents(vms, 0755), ==, 0);
	g_assert_cmpint(chdir(dir), ==, 0);

	char *n = gv_image_backing_name_for("vms/x/ov.qcow2", "images/base.qcow2", &error);
	g_assert_cmpstr(n, ==, "../../images/base.qcow2");
	g_free(n);
	n = gv_image_backing_name_for("images/ov.qcow2", "images/base.qcow2", &error);
	g_assert_cmpstr(n, ==, "base.qcow2");
	g_free(n);
	n = gv_image_backing_name_for("ov.qcow2", "images/base.qcow2", &error);
	g_assert_cmpstr(n, ==, "images/base.qcow2");
	g_free(n);
	n = gv_image_backing_name_for("images/ov.qcow2", "/abs/base.qcow2", &error);
	g_assert_cmpstr(n, ==, "/abs/base.qcow2");
	g_free(n);
	g_assert_null(gv_image_backing_name_for("nodir/ov.qcow2", "images/base.qcow2", &error));
	g_assert_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_NOT_FOUND);
	g_clear_error(&error);

	g_assert_cmpint(chdir(cwd), ==, 0);
	it_scratch_free(g_steal_pointer(&dir));
}

/* Run the CLI harness; return the exit status, output in @out/@err. */
static int cli(char **out, char **err, ...)
{
	g_autoptr(GPtrArray) args = g_ptr_array_new();
	va_list ap;

	va_start(ap, err);
	for (const char *a; (a = va_arg(ap, const char *));)
		g_ptr_array_add(args, (gpointer)a);
	va_end(ap);
	g_ptr_array_add(args, NULL);
	return it_cli_run((const char *const *)args->pdata, out, err);
}

static void test_cli(void)
{
	if (!need_qemu_img())
		return;
	g_autofree char *dir = it_scratch_new();
	g_autofree char *cwd = g_get_current_dir();
	/* Relative names, as a user types them: the overlay records ../base.qcow2. */
	const char *base = "base.qcow2", *ov = "vm/disk.qcow2";
	g_autofree char *out = NULL, *err = NULL;

	g_assert_cmpint(chdir(dir), ==, 0);
	g_assert_cmpint(g_mkdir("vm", 0755), ==, 0);
	g_assert_cmpint(cli(NULL, NULL, "create", base, "2G", NULL), ==, 0);
	it_assert_qemu_img_check(base);
	g_assert_cmpint(cli(NULL, NULL, "overlay", base, ov, NULL), ==, 0);
	it_assert_qemu_img_check(ov);

	g_assert_cmpint(cli(&out, NULL, "info", "--json", ov, NULL), ==, 0);
	g_autoptr(JsonNode) ours = it_json_parse(out);
	g_autoptr(JsonNode) theirs = it_qemu_img_info(ov, FALSE);
	it_assert_json_agrees(ours, theirs, qcow2_keys);
	it_assert_json_agrees(ours, theirs, backing_keys);
	g_clear_pointer(&out, g_free);

	g_assert_cmpint(cli(&out, NULL, "info", "--json", "--backing-chain", ov, NULL), ==, 0);
	g_autoptr(JsonNode) ours_chain = it_json_parse(out);
	g_autoptr(JsonNode) theirs_chain = it_qemu_img_info(ov, TRUE);
	it_assert_json_agrees(ours_chain, theirs_chain, NULL);
	g_clear_pointer(&out, g_free);

	g_assert_cmpint(cli(&out, NULL, "info", ov, NULL), ==, 0);
	g_assert_nonnull(strstr(out, "virtual size: 2 GiB (2147483648 bytes)"));
	g_assert_nonnull(strstr(out, "backing file: ../base.qcow2"));
	g_clear_pointer(&out, g_free);

	g_assert_cmpint(cli(&out, NULL, "check", ov, NULL), ==, 0);
	g_assert_nonnull(strstr(out, "No errors"));
	g_clear_pointer(&out, g_free);

	/* The size grammar is the spec's: "1.5G" as in [disk] size=1.5G. */
	g_assert_cmpint(cli(NULL, NULL, "create", "frac.qcow2", "1.5G", NULL), ==, 0);
	g_autoptr(JsonNode) frac = it_qemu_img_info("frac.qcow2", FALSE);
	g_assert_cmpint(json_object_get_int_member(json_node_get_object(frac), "virtual-size"), ==,
			G_GINT64_CONSTANT(3) << 29);

	/* create with --backing and no size takes the base's size */
	const char *ov2 = "ov2.qcow2";
	g_assert_cmpint(cli(NULL, NULL, "create", "--backing", base, "--cluster-size", "2M", ov2, NULL),
			==, 0);
	g_autoptr(GvImageInfo) info = gv_image_info_read(ov2, NULL);
	g_assert_cmpuint(info->virtual_size, ==, G_GUINT64_CONSTANT(2) << 30);
	g_assert_cmpuint(info->cluster_size, ==, 2u << 20);
	g_assert_cmpstr(info->backing_file, ==, "base.qcow2");

	/* snapshots through qemu-img */
	g_assert_cmpint(cli(NULL, NULL, "snapshot", "--create", "s1", base, NULL), ==, 0);
	g_assert_cmpint(cli(&out, NULL, "snapshot", base, NULL), ==, 0);
	g_assert_nonnull(strstr(out, "s1"));
	g_clear_pointer(&out, g_free);
	g_assert_cmpint(cli(NULL, NULL, "snapshot", "--apply", "s1", base, NULL), ==, 0);
	g_assert_cmpint(cli(NULL, NULL, "snapshot", "--delete", "s1", base, NULL), ==, 0);
	g_assert_cmpint(cli(NULL, &err, "snapshot", "--apply", "nope", base, NULL), ==, 1);
	g_clear_pointer(&err, g_free);

	/* Bad input: exit 2, one "grainvm: " line naming the problem, nothing written. */
	static const struct {
		const char *args[8];
		const char *message;
	} bad[] = {
		{ { "create", "x.qcow2", "12Q" }, "bad size \"12Q\"" },
		{ { "create", "x.qcow2" }, "usage: grainvm image create" },
		{ { "create", "--cluster-size", "3000", "x.qcow2", "1G" }, "cluster size 3000" },
		{ { "create", "--bogus", "x.qcow2", "1G" }, "Unknown option --bogus" },
		{ { "overlay", "missing.qcow2", "x.qcow2" }, "missing.qcow2" },
		{ { "info", "missing.qcow2" }, "cannot open image missing.qcow2" },
		{ { "frobnicate" }, "unknown image command \"frobnicate\"" },
		{ { "snapshot", "--create", "a", "--delete", "b", "x.qcow2" }, "give one of" },
	};
	for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autofree char *exe = it_cli();
		const char *argv[10] = { exe };
		for (gsize j = 0; bad[i].args[j]; j++)
			argv[j + 1] = bad[i].args[j];
		g_clear_pointer(&err, g_free);
		g_assert_cmpint(it_run(argv, NULL, &err), ==, 2);
		g_test_message("%s", err);
		g_assert_true(g_str_has_prefix(err, "grainvm: "));
		g_assert_nonnull(strstr(err, bad[i].message));
		g_assert_false(g_file_test("x.qcow2", G_FILE_TEST_EXISTS));
	}
	/* A corrupt image to info: bad input too. */
	g_assert_true(g_file_set_contents("corrupt.qcow2", "QFI\xfb\0\0\0\3", 8, NULL));
	g_clear_pointer(&err, g_free);
	g_assert_cmpint(cli(NULL, &err, "info", "corrupt.qcow2", NULL), ==, 2);
	g_assert_nonnull(strstr(err, "grainvm: corrupt.qcow2: file too short"));
	g_clear_pointer(&err, g_free);

	/* --help prints and succeeds */
	g_assert_cmpint(cli(&out, NULL, "create", "--help", NULL), ==, 0);
	g_assert_nonnull(strstr(out, "--backing"));
	g_clear_pointer(&out, g_free);
	g_assert_cmpint(cli(&out, NULL, "--help", NULL), ==, 0);
	g_assert_nonnull(strstr(out, "overlay"));
	g_assert_cmpint(chdir(cwd), ==, 0);
	it_scratch_free(g_steal_pointer(&dir));
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/image/create/plain", test_create_plain);
	g_test_add_func("/image/create/backing", test_create_backing);
	g_test_add_func("/image/create/overlay-write", test_overlay_write);
	g_test_add_func("/image/create/errors", test_create_errors);
	g_test_add_func("/image/info/corrupt", test_info_corrupt);
	g_test_add_func("/image/info/chain-errors", test_info_chain_errors);
	g_test_add_func("/image/info/raw", test_info_raw);
	g_test_add_func("/image/backing-name-for", test_backing_name_for);
	g_test_add_func("/image/cli", test_cli);
	return g_test_run();
}
