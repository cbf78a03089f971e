/* SPDX-License-Identifier: MIT */
/*
 * test-convert.c - raw -> qcow2 conversion, checked by qemu-img
 *
 * The matrix: every input shape (empty, one byte, zeros, random, holes on
 * and off cluster boundaries, a tail that is not a cluster multiple, a
 * sparse disk over 4 GiB, mixed compressible and incompressible clusters)
 * in every mode (plain, zlib, zstd) at 64 KiB and 2 MiB clusters.  For
 * each: `qemu-img check` is clean, `qemu-img compare` says identical,
 * `qemu-img map` shows exactly the non-zero clusters allocated, and
 * `qemu-img info` agrees with ours.  The inputs are small so the whole
 * matrix runs in seconds.
 *
 * Then the failures: a missing or unusable source, the source as
 * destination, a full filesystem, a file size limit and Ctrl-C must each
 * leave no destination and no temporary file.
 */
#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "grainvm-image.h"
#include "gv-config.h"
#include "image-test-util.h"

typedef struct {
	guint64 offset;
	guint64 length;
	char fill; /* 'r' random, 'z' zeros written as data, 't' text, 'm' mixed */
} Piece;

typedef struct {
	const char *name;
	guint64 size;
	Piece pieces[4];
} Input;

static const Input inputs[] = {
	{ "empty", 0, { { 0 } } },
	{ "one-byte", 1, { { 0, 1, 'r' } } },
	{ "zeros", 1 << 20, { { 0, 1 << 20, 'z' } } },
	{ "random-odd-tail", (3 << 20) + 777, { { 0, (3 << 20) + 777, 'r' } } },
	{ "text", 2 << 20, { { 0, 2 << 20, 't' } } },
	{ "mixed", 1 << 20, { { 0, 1 << 20, 'm' } } },
	{ "holes-aligned", 8 << 20,
	  { { 0, 64 << 10, 'r' }, { 2 << 20, 128 << 10, 't' }, { 6 << 20, 2 << 20, 'r' } } },
	{ "holes-unaligned", (5 << 20) + 3,
	  { { 1000, 4000, 't' }, { 100000, 200001, 'r' }, { (5 << 20) - 10, 13, 'r' } } },
	{ "sparse-5g", (G_GUINT64_CONSTANT(5) << 30) + 1000,
	  { { 0, 4096, 'r' },
	    { (G_GUINT64_CONSTANT(4) << 30) - 100, 200000, 't' },
	    { (G_GUINT64_CONSTANT(5) << 30) + 500, 500, 'r' } } },
};

static void fill(guint8 *buf, gsize len, char kind, guint64 seed)
{
	g_autoptr(GRand) rand = g_rand_new_with_seed((guint32)seed);

	for (gsize i = 0; i < len; i++) {
		switch (kind) {
		case 'z':
			buf[i] = 0;
			break;
		case 't':
			buf[i] = "the quick brown fox jumps over the lazy dog\n"[(i + seed) % 44];
			break;
		case 'm': /* alternate 64 KiB of random and of text */
			buf[i] = (i >> 16) & 1 ? (guint8)g_rand_int(rand)
					       : "grainvm image test "[i % 19];
			break;
		default:
			buf[i] = (guint8)g_rand_int(rand);
		}
	}
}

static void make_input(const char *path, const Input *in)
{
	int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);

	g_assert_cmpint(fd, >=, 0);
	g_assert_cmpint(ftruncate(fd, (off_t)in->size), ==, 0);
	for (gsize i = 0; i < G_N_ELEMENTS(in->pieces) && in->pieces[i].length; i++) {
		const Piece *p = &in->pieces[i];
		g_autofree guint8 *buf = g_malloc(p->length);
		fill(buf, p->length, p->fill, p->offset);
		g_assert_cmpint(pwrite(fd, buf, p->length, (off_t)p->offset), ==, (ssize_t)p->length);
	}
	close(fd);
}

/*
 * Bytes of @path's clusters that are not all zero, counted as qemu-img map
 * counts them (the last cluster up to the virtual size).  Only the data
 * extents are read, so a sparse 5 GiB input costs nothing.
 */
static guint64 nonzero_bytes(const char *path, guint64 size, gsize cs)
{
	int fd = open(path, O_RDONLY);
	g_autofree guint8 *buf = g_malloc(cs);
	guint64 vsize = (size + 511) / 512 * 512, total = 0, next = 0;
	off_t pos = 0;

	for (;;) {
		off_t data = lseek(fd, pos, SEEK_DATA);
		if (data < 0)
			break;
		off_t hole = lseek(fd, data, SEEK_HOLE);
		for (guint64 c = MAX((guint64)data / cs * cs, next); c < (guint64)hole; c += cs) {
			memset(buf, 0, cs);
			g_assert_cmpint(pread(fd, buf, cs, (off_t)c), >=, 0);
			for (gsize i = 0; i < cs; i++) {
				if (buf[i]) {
					total += MIN(cs, vsize - c);
					break;
				}
			}
			next = c + cs;
		}
		pos = hole;
	}
	close(fd);
	return total;
}

/* Bytes `qemu-img map` reports as data. */
static guint64 mapped_bytes(const char *path)
{
	g_autofree char *qemu_img = it_qemu_img();
	const char *argv[] = { qemu_img, "map", "--output=json", path, NULL };
	g_autofree char *out = it_run_ok(argv);
	g_autoptr(JsonNode) root = it_json_parse(out);
	JsonArray *a = json_node_get_array(root);
	guint64 total = 0;

	for (guint i = 0; i < json_array_get_length(a); i++) {
		JsonObject *o = json_array_get_object_element(a, i);
		if (json_object_get_boolean_member(o, "data"))
			total += (guint64)json_object_get_int_member(o, "length");
	}
	return total;
}

static void assert_identical(const char *raw, const char *qcow2)
{
	g_autofree char *qemu_img = it_qemu_img();
	const char *argv[] = { qemu_img, "compare", "-f", "raw", "-F", "qcow2", raw, qcow2, NULL };
	g_autofree char *out = it_run_ok(argv);

	g_assert_nonnull(strstr(out, "Images are identical."));
}

static void test_matrix(void)
{
	static const GvImageCompression modes[] = {
		GV_IMAGE_COMPRESSION_NONE, GV_IMAGE_COMPRESSION_ZLIB, GV_IMAGE_COMPRESSION_ZSTD,
	};
	static const char *const mode_names[] = { "plain", "zlib", "zstd" };
	static const guint32 clusters[] = { 64 << 10, 2 << 20 };
	g_autofree char *qemu_img = it_qemu_img();

	if (!qemu_img) {
		g_test_skip("qemu-img not found");
		return;
	}
	g_autofree char *dir = it_scratch_new();
	for (gsize i = 0; i < G_N_ELEMENTS(inputs); i++) {
		g_autofree char *raw = g_strdup_printf("%s/%s.raw", dir, inputs[i].name);
		make_input(raw, &inputs[i]);
		for (gsize m = 0; m < G_N_ELEMENTS(modes); m++) {
			for (gsize c = 0; c < G_N_ELEMENTS(clusters); c++) {
				g_autofree char *out = g_strdup_printf("%s/%s-%s-%u.qcow2", dir,
								       inputs[i].name, mode_names[m],
								       clusters[c]);
				GvImageConvertOptions opts = {
					.compression = modes[m],
					.cluster_size = clusters[c],
				};
				g_autoptr(GError) error = NULL;

				if (modes[m] == GV_IMAGE_COMPRESSION_ZSTD && !GV_HAVE_ZSTD) {
					/* Built without libzstd: a clear refusal. */
					g_assert_false(gv_image_convert(raw, out, &opts, &error));
					g_assert_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_UNSUPPORTED);
					continue;
				}

				g_test_message("%s", out);
				g_assert_true(gv_image_convert(raw, out, &opts, &error));
				g_assert_no_error(error);
				it_assert_qemu_img_check(out);
				assert_identical(raw, out);
				g_assert_cmpuint(mapped_bytes(out), ==,
						 nonzero_bytes(raw, inputs[i].size, clusters[c]));

				g_autoptr(GvImageInfo) info = gv_image_info_read(out, &error);
				g_assert_no_error(error);
				g_autofree char *json = gv_image_info_to_json(info);
				g_autoptr(JsonNode) ours = it_json_parse(json);
				g_autoptr(JsonNode) theirs = it_qemu_img_info(out, FALSE);
				const char *keys[] = { "virtual-size", "cluster-size", "actual-size",
						       "format-specific.data.compression-type", NULL };
				it_assert_json_agrees(ours, theirs, keys);
				g_assert_cmpuint(info->virtual_size, ==, (inputs[i].size + 511) / 512 * 512);
				g_assert_cmpstr(info->compression_type, ==,
						modes[m] == GV_IMAGE_COMPRESSION_ZSTD ? "zstd" : "zlib");
			}
		}
	}
	it_scratch_free(g_steal_pointer(&dir));
}

/*
 * Runs of one to five clusters, alternately incompressible and text: each
 * job then has several raw runs written straight from its buffer while
 * compressed ones are staged, so a slot reused before its last write
 * completed shows up as a mismatch (it did once).
 */
static void test_stress(void)
{
	static const GvImageCompression modes[] = { GV_HAVE_ZSTD ? GV_IMAGE_COMPRESSION_ZSTD
								 : GV_IMAGE_COMPRESSION_ZLIB,
						    GV_IMAGE_COMPRESSION_NONE };
	g_autofree char *qemu_img = it_qemu_img();

	if (!qemu_img) {
		g_test_skip("qemu-img not found");
		return;
	}
	g_autofree char *dir = it_scratch_new();
	g_autofree char *raw = g_build_filename(dir, "runs.raw", NULL);
	g_autofree char *out = g_build_filename(dir, "runs.qcow2", NULL);
	g_autoptr(GRand) rand = g_rand_new_with_seed(5);
	gsize size = 32 << 20;
	g_autofree guint8 *buf = g_malloc(size);
	for (gsize pos = 0, run = 0; pos < size; run++) {
		gsize n = MIN(size - pos, (gsize)g_rand_int_range(rand, 1, 6) << 16);
		fill(buf + pos, n, run % 2 ? 't' : 'r', pos);
		pos += n;
	}
	g_assert_true(g_file_set_contents(raw, (const char *)buf, (gssize)size, NULL));
	for (gsize m = 0; m < G_N_ELEMENTS(modes); m++) {
		for (int round = 0; round < 2; round++) {
			GvImageConvertOptions opts = { .compression = modes[m] };
			g_assert_true(gv_image_convert(raw, out, &opts, NULL));
			assert_identical(raw, out);
		}
	}
	it_scratch_free(g_steal_pointer(&dir));
}

/* Same input, same bytes, whatever the thread timing. */
static void test_deterministic(void)
{
	g_autofree char *dir = it_scratch_new();
	g_autofree char *raw = g_build_filename(dir, "in.raw", NULL);
	g_autofree char *a = g_build_filename(dir, "a.qcow2", NULL);
	g_autofree char *b = g_build_filename(dir, "b.qcow2", NULL);
	GvImageConvertOptions opts = { .compression = GV_HAVE_ZSTD ? GV_IMAGE_COMPRESSION_ZSTD
								    : GV_IMAGE_COMPRESSION_ZLIB,
				       .threads = 4 };

	make_input(raw, &inputs[5]); /* mixed: compressed and raw clusters */
	g_assert_true(gv_image_convert(raw, a, &opts, NULL));
	opts.threads = 1;
	g_assert_true(gv_image_convert(raw, b, &opts, NULL));
	g_autofree char *sa = it_file_sha256(a), *sb = it_file_sha256(b);
	g_assert_cmpstr(sa, ==, sb);
	it_scratch_free(g_steal_pointer(&dir));
}

static void test_bad_input(void)
{
	g_autofree char *dir = it_scratch_new();
	g_autofree char *raw = g_build_filename(dir, "in.raw", NULL);
	g_autofree char *dst = g_build_filename(dir, "out.qcow2", NULL);
	g_autofree char *qcow = g_build_filename(dir, "q.qcow2", NULL);
	GError *error = NULL;

	make_input(raw, &inputs[3]);
	g_autofree char *sum = it_file_sha256(raw);

	g_assert_false(gv_image_convert("/nonexistent.raw", dst, NULL, &error));
	g_assert_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_NOT_FOUND);
	g_assert_nonnull(strstr(error->message, "/nonexistent.raw"));
	g_clear_error(&error);

	g_assert_false(gv_image_convert(dir, dst, NULL, &error));
	g_assert_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_INVALID);
	g_clear_error(&error);

	g_assert_false(gv_image_convert(raw, raw, NULL, &error));
	g_assert_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_INVALID);
	g_assert_nonnull(strstr(error->message, "is the source"));
	g_clear_error(&error);
	g_autofree char *sum2 = it_file_sha256(raw);
	g_assert_cmpstr(sum, ==, sum2);

	g_assert_false(gv_image_convert(raw, dir, NULL, &error));
	g_assert_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_INVALID);
	g_clear_error(&error);

	g_assert_true(gv_image_create_qcow2(qcow, 1 << 20, NULL, NULL, 0, NULL));
	g_assert_false(gv_image_convert(qcow, dst, NULL, &error));
	g_assert_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_UNSUPPORTED);
	g_assert_nonnull(strstr(error->message, "qcow2"));
	g_clear_error(&error);

	GvImageConvertOptions opts = { .compression = GV_IMAGE_COMPRESSION_ZLIB, .level = 99 };
	g_assert_false(gv_image_convert(raw, dst, &opts, &error));
	g_assert_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_INVALID);
	g_assert_nonnull(strstr(error->message, "level 99"));
	g_clear_error(&error);
	opts = (GvImageConvertOptions){ .cluster_size = 1000 };
	g_assert_false(gv_image_convert(raw, dst, &opts, &error));
	g_assert_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_INVALID);
	g_clear_error(&error);

	g_assert_false(gv_image_convert(raw, "/nonexistent-dir/out.qcow2", NULL, &error));
	g_assert_nonnull(error);
	g_assert_nonnull(strstr(error->message, "/nonexistent-dir/out.qcow2"));
	g_clear_error(&error);

	g_autofree char *listing = it_dir_listing(dir);
	g_assert_cmpstr(listing, ==, "in.raw,q.qcow2");
	it_scratch_free(g_steal_pointer(&dir));
}

static void test_cli(void)
{
	g_autofree char *qemu_img = it_qemu_img();

	if (!qemu_img) {
		g_test_skip("qemu-img not found");
		return;
	}
	g_autofree char *dir = it_scratch_new();
	g_autofree char *raw = g_build_filename(dir, "in.raw", NULL);
	g_autofree char *dst = g_build_filename(dir, "out.qcow2", NULL);
	g_autofree char *err = NULL;

	make_input(raw, &inputs[6]);
	const char *ok1[] = { "convert", raw, dst, NULL };
	g_assert_cmpint(it_cli_run(ok1, NULL, NULL), ==, 0);
	assert_identical(raw, dst);
	const char *ok2[] = { "convert", "-c", raw, dst, NULL };
	if (GV_HAVE_ZSTD) {
		g_assert_cmpint(it_cli_run(ok2, NULL, NULL), ==, 0);
		g_autoptr(GvImageInfo) info = gv_image_info_read(dst, NULL);
		g_assert_cmpstr(info->compression_type, ==, "zstd");
		assert_identical(raw, dst);
	} else {
		g_assert_cmpint(it_cli_run(ok2, NULL, NULL), ==, 2);
	}
	const char *ok3[] = { "convert", "--compression", "zlib", "--level", "9", "--threads", "1",
			      "--cluster-size", "2M", raw, dst, NULL };
	g_assert_cmpint(it_cli_run(ok3, NULL, NULL), ==, 0);
	it_assert_qemu_img_check(dst);
	assert_identical(raw, dst);
	g_assert_cmpint(unlink(dst), ==, 0);

	static const struct {
		const char *args[8];
		int code;
		const char *message;
	} bad[] = {
		{ { "convert", "missing.raw", "out.qcow2" }, 2, "cannot open source missing.raw" },
		{ { "convert", "--compression", "lz4", "in.raw", "out.qcow2" }, 2,
		  "unknown compression \"lz4\"" },
		{ { "convert", "--compression", "zlib", "--level", "40", "in.raw", "out.qcow2" }, 2,
		  "level 40" },
		{ { "convert", "--threads", "-2", "in.raw", "out.qcow2" }, 2, "must not be negative" },
		{ { "convert", "in.raw" }, 2, "usage: grainvm image convert SRC DST.qcow2" },
		{ { "convert", "in.raw", "in.raw" }, 2, "is the source" },
	};
	g_autofree char *cwd = g_get_current_dir();
	g_assert_cmpint(chdir(dir), ==, 0);
	for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_clear_pointer(&err, g_free);
		g_assert_cmpint(it_cli_run(bad[i].args, NULL, &err), ==, bad[i].code);
		g_test_message("%s", err);
		g_assert_true(g_str_has_prefix(err, "grainvm: "));
		g_assert_nonnull(strstr(err, bad[i].message));
		g_assert_false(g_file_test("out.qcow2", G_FILE_TEST_EXISTS));
	}
	g_assert_cmpint(chdir(cwd), ==, 0);
	g_autofree char *listing = it_dir_listing(dir);
	g_assert_cmpstr(listing, ==, "in.raw");
	it_scratch_free(g_steal_pointer(&dir));
}

/* On a terminal a progress line appears; piped, nothing but errors. */
static void test_progress(void)
{
	g_autofree char *script = g_find_program_in_path("script");

	if (!script) {
		g_test_skip("script (util-linux) not found");
		return;
	}
	g_autofree char *dir = it_scratch_new();
	g_autofree char *raw = g_build_filename(dir, "in.raw", NULL);
	g_autofree char *dst = g_build_filename(dir, "out.qcow2", NULL);
	g_autofree char *exe = it_cli();
	g_autofree char *out = NULL, *err = NULL;

	make_input(raw, &inputs[3]);
	g_autofree char *cmd = g_strdup_printf("'%s' convert '%s' '%s'", exe, raw, dst);
	const char *tty[] = { script, "-qefc", cmd, "/dev/null", NULL };
	g_assert_cmpint(it_run(tty, &out, NULL), ==, 0);
	g_assert_nonnull(strstr(out, "ETA"));
	g_assert_nonnull(strstr(out, "/ 3 MiB"));
	g_clear_pointer(&out, g_free);

	const char *piped[] = { exe, "convert", raw, dst, NULL };
	g_assert_cmpint(it_run(piped, &out, &err), ==, 0);
	g_assert_cmpstr(out, ==, "");
	g_assert_cmpstr(err, ==, "");
	it_scratch_free(g_steal_pointer(&dir));
}

/* A destination filesystem that fills up: error, exit 1, nothing left. */
static void test_disk_full(void)
{
	g_autofree char *dir = it_scratch_new();
	g_autofree char *mnt = g_build_filename(dir, "small", NULL);
	g_autofree char *raw = g_build_filename(dir, "in.raw", NULL);
	g_autofree char *dst = g_build_filename(mnt, "out.qcow2", NULL);
	g_autofree char *err = NULL;

	g_assert_cmpint(g_mkdir(mnt, 0755), ==, 0);
	if (mount("tmpfs", mnt, "tmpfs", 0, "size=1m") < 0) {
		g_autofree char *why = g_strdup_printf("cannot mount a small tmpfs (%s); needs root",
						       g_strerror(errno));
		g_test_skip(why);
		it_scratch_free(g_steal_pointer(&dir));
		return;
	}
	make_input(raw, &inputs[3]); /* 3 MiB of random data into 1 MiB */
	GError *error = NULL;
	g_assert_false(gv_image_convert(raw, dst, NULL, &error));
	g_assert_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_IO);
	g_assert_nonnull(strstr(error->message, "No space left on device"));
	g_assert_nonnull(strstr(error->message, dst));
	g_clear_error(&error);
	g_autofree char *l1 = it_dir_listing(mnt);
	g_assert_cmpstr(l1, ==, "");

	const char *args[] = { "convert", "-c", "--compression", "zlib", raw, dst, NULL };
	g_assert_cmpint(it_cli_run(args, NULL, &err), ==, 1);
	g_assert_nonnull(strstr(err, "No space left on device"));
	g_autofree char *l2 = it_dir_listing(mnt);
	g_assert_cmpstr(l2, ==, "");
	umount(mnt);
	it_scratch_free(g_steal_pointer(&dir));
}

/* `ulimit -f`: the write fails (SIGXFSZ is ignored), the CLI cleans up. */
static void test_file_size_limit(void)
{
	g_autofree char *dir = it_scratch_new();
	g_autofree char *raw = g_build_filename(dir, "in.raw", NULL);
	g_autofree char *dst = g_build_filename(dir, "out.qcow2", NULL);
	g_autofree char *exe = it_cli();
	g_autofree char *err = NULL;

	make_input(raw, &inputs[3]);
	const char *argv[] = { "sh", "-c", "ulimit -f 1024 && exec \"$0\" convert \"$1\" \"$2\"", exe, raw,
			       dst, NULL };
	g_assert_cmpint(it_run(argv, NULL, &err), ==, 1);
	g_assert_nonnull(strstr(err, "File too large"));
	g_autofree char *listing = it_dir_listing(dir);
	g_assert_cmpstr(listing, ==, "in.raw");
	it_scratch_free(g_steal_pointer(&dir));
}

/* Ctrl-C during a conversion: the temporary file goes, no destination. */
static void test_interrupt(void)
{
	g_autofree char *dir = it_scratch_new();
	g_autofree char *raw = g_build_filename(dir, "in.raw", NULL);
	g_autofree char *dst = g_build_filename(dir, "out.qcow2", NULL);
	g_autofree char *exe = it_cli();
	g_autoptr(GError) error = NULL;
	GPid pid;
	int status;

	/* zlib on 48 MiB of random data: seconds, long enough to interrupt. */
	it_write_random(raw, 48 << 20, 7);
	const char *argv[] = { exe, "convert", "--compression", "zlib", "--threads", "1", raw, dst,
			       NULL };
	g_assert_true(g_spawn_async(NULL, (char **)argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL,
				    &pid, &error));
	/* Wait until the temporary file exists, then interrupt. */
	gboolean seen = FALSE;
	for (int i = 0; i < 500 && !seen; i++) {
		g_autofree char *listing = it_dir_listing(dir);
		seen = strstr(listing, ".out.qcow2.") != NULL;
		if (!seen)
			g_usleep(10000);
	}
	g_assert_true(seen);
	g_usleep(100000);
	kill(pid, SIGINT);
	g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
	g_spawn_close_pid(pid);
	g_assert_true(WIFSIGNALED(status));
	g_assert_cmpint(WTERMSIG(status), ==, SIGINT);
	g_autofree char *listing = it_dir_listing(dir);
	g_assert_cmpstr(listing, ==, "in.raw");
	it_scratch_free(g_steal_pointer(&dir));
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/image/convert/matrix", test_matrix);
	g_test_add_func("/image/convert/stress", test_stress);
	g_test_add_func("/image/convert/deterministic", test_deterministic);
	g_test_add_func("/image/convert/bad-input", test_bad_input);
	g_test_add_func("/image/convert/cli", test_cli);
	g_test_add_func("/image/convert/progress", test_progress);
	g_test_add_func("/image/convert/disk-full", test_disk_full);
	g_test_add_func("/image/convert/file-size-limit", test_file_size_limit);
	g_test_add_func("/image/convert/interrupt", test_interrupt);
	return g_test_run();
}
