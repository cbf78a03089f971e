/* SPDX-License-Identifier: MIT */
/*
 * test-chain.c - what an untrusted base image may name, and the chain walk
 *
 * The pure rules (gv-chain.h) as tables; then the walker in info.c on
 * images made by qemu-img with the references an attacker would write:
 * an absolute path to a secret, a device, an external data file, a FIFO,
 * "../", a symlink out of the directory, and an A<->B loop.  Each must be
 * refused (confined) or at least never block (not confined); a FIFO that
 * made the walk wait for a writer would hang this test until meson kills
 * it.
 */
#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "grainvm-image.h"
#include "gv-chain.h"
#include "image-test-util.h"

static void test_classify(void)
{
	static const struct {
		const char *ref;
		GvChainRef want;
	} cases[] = {
		{ "base.qcow2", GV_CHAIN_REF_RELATIVE },
		{ "./base.qcow2", GV_CHAIN_REF_RELATIVE },
		{ "sub/base.qcow2", GV_CHAIN_REF_RELATIVE },
		{ "sub/../base.qcow2", GV_CHAIN_REF_RELATIVE },
		{ "sub//x/../../b", GV_CHAIN_REF_RELATIVE },
		{ "../base.qcow2", GV_CHAIN_REF_ESCAPES },
		{ "./../base.qcow2", GV_CHAIN_REF_ESCAPES },
		{ "sub/../../base.qcow2", GV_CHAIN_REF_ESCAPES },
		{ "..", GV_CHAIN_REF_ESCAPES },
		{ "..foo", GV_CHAIN_REF_RELATIVE },
		{ "/root/secret", GV_CHAIN_REF_ABSOLUTE },
		{ "/dev/sda", GV_CHAIN_REF_ABSOLUTE },
		{ "json:{\"driver\":\"file\"}", GV_CHAIN_REF_JSON },
		{ "nbd:127.0.0.1:10809", GV_CHAIN_REF_PROTOCOL },
		{ "http://example.invalid/x", GV_CHAIN_REF_PROTOCOL },
		{ "./a:b", GV_CHAIN_REF_RELATIVE },
	};
	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_test_message("%s", cases[i].ref);
		g_assert_cmpint(gv_chain_ref_classify(cases[i].ref), ==, cases[i].want);
	}
}

static void test_within(void)
{
	g_assert_true(gv_chain_path_within("/srv/img", "/srv/img/a.qcow2"));
	g_assert_true(gv_chain_path_within("/srv/img", "/srv/img/sub/a.qcow2"));
	g_assert_true(gv_chain_path_within("/srv/img", "/srv/img"));
	g_assert_false(gv_chain_path_within("/srv/img", "/srv/img-evil/a.qcow2"));
	g_assert_false(gv_chain_path_within("/srv/img", "/srv/a.qcow2"));
	g_assert_false(gv_chain_path_within("/srv/img", "/root/secret"));
	g_assert_true(gv_chain_path_within("/", "/root/secret"));
}

static void test_mode(void)
{
	g_assert_null(gv_chain_mode_problem(S_IFREG | 0644, TRUE));
	g_assert_null(gv_chain_mode_problem(S_IFBLK | 0660, FALSE));
	g_assert_cmpstr(gv_chain_mode_problem(S_IFBLK | 0660, TRUE), ==, "is a block device");
	/* Never disks, trusted or not. */
	g_assert_cmpstr(gv_chain_mode_problem(S_IFIFO | 0600, FALSE), ==, "is a FIFO");
	g_assert_cmpstr(gv_chain_mode_problem(S_IFSOCK | 0600, FALSE), ==, "is a socket");
	g_assert_cmpstr(gv_chain_mode_problem(S_IFCHR | 0666, FALSE), ==, "is a character device");
	g_assert_cmpstr(gv_chain_mode_problem(S_IFDIR | 0755, FALSE), ==, "is a directory");
}

static void test_escape(void)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "base.qcow2", "base.qcow2" },
		{ "x\033[2Jy", "x\\x1b[2Jy" },
		{ "a\nb\r", "a\\x0ab\\x0d" },
		{ "tab\there", "tab\\x09here" },
		{ "back\\slash", "back\\\\slash" },
		{ "del\177", "del\\x7f" },
		{ "caf\xc3\xa9", "caf\xc3\xa9" },          /* printable UTF-8 stays */
		{ "bad\xff\xfe", "bad\\xff\\xfe" },         /* not UTF-8 */
		{ "c1\xc2\x9b", "c1\\u009b" },               /* U+009B, the 8-bit CSI */
		{ "rlo\xe2\x80\xae", "rlo\\xe2\\x80\\xae" }, /* U+202E reorders the line */
	};
	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree char *got = gv_term_escape(cases[i].in, NULL);
		g_assert_cmpstr(got, ==, cases[i].out);
	}
}

/* ---- the walker on real files ------------------------------------------ */

typedef struct {
	char *dir;   /* scratch */
	char *imgs;  /* the base's directory */
	char *qemu_img;
} Fx;

static gboolean fx_init(Fx *fx)
{
	fx->qemu_img = it_qemu_img();
	if (!fx->qemu_img) {
		g_test_skip("qemu-img not found (set GRAINVM_QEMU_IMG)");
		return FALSE;
	}
	fx->dir = it_scratch_new();
	fx->imgs = g_build_filename(fx->dir, "imgs", NULL);
	g_assert_cmpint(g_mkdir(fx->imgs, 0755), ==, 0);
	return TRUE;
}

static void fx_clear(Fx *fx)
{
	if (fx->dir)
		it_scratch_free(g_steal_pointer(&fx->dir));
	g_free(fx->imgs);
	g_free(fx->qemu_img);
}

/* qemu-img create -f qcow2 [-u -b BACKING -F FMT] [-o OPTS] IMGS/NAME 1M */
static char *make(Fx *fx, const char *name, const char *backing, const char *fmt,
		  const char *opts)
{
	char *path = g_build_filename(fx->imgs, name, NULL);
	const char *argv[16] = { fx->qemu_img, "create", "-q", "-f", "qcow2" };
	int n = 5;

	if (backing) {
		argv[n++] = "-u";
		argv[n++] = "-b";
		argv[n++] = backing;
		argv[n++] = "-F";
		argv[n++] = fmt;
	}
	if (opts) {
		argv[n++] = "-o";
		argv[n++] = opts;
	}
	argv[n++] = path;
	argv[n++] = "1M";
	g_free(it_run_ok(argv));
	return path;
}

/* Read @path confined (or not); return the error (NULL on success). */
static GError *walk(const char *path, gboolean confined)
{
	GError *error = NULL;
	GvImageInfo *info = gv_image_info_read_full(
		path, NULL, confined ? GV_IMAGE_INFO_CONFINE : GV_IMAGE_INFO_DEFAULT, &error);

	gv_image_info_free(info);
	g_assert_true((info == NULL) == (error != NULL));
	return error;
}

static void assert_refused(const char *path, gint code, const char *needle)
{
	g_autoptr(GError) error = walk(path, TRUE);

	g_assert_nonnull(error);
	g_test_message("%s", error->message);
	g_assert_error(error, GV_IMAGE_ERROR, code);
	g_assert_nonnull(strstr(error->message, needle));
	g_assert_null(strchr(error->message, '\n'));
}

static void test_walk_absolute(void)
{
	Fx fx = { 0 };
	if (!fx_init(&fx))
		return;
	g_autofree char *secret = g_build_filename(fx.dir, "secret", NULL);
	g_assert_true(g_file_set_contents(secret, "the host's secret", -1, NULL));
	g_autofree char *evil = make(&fx, "evil.qcow2", secret, "raw", NULL);

	/* Not confined (image info): followed, and shown. */
	g_autoptr(GError) none = walk(evil, FALSE);
	g_assert_no_error(none);
	/* Confined (up): refused, naming the image and the reference. */
	assert_refused(evil, GV_IMAGE_ERROR_UNTRUSTED, "is an absolute path");
	assert_refused(evil, GV_IMAGE_ERROR_UNTRUSTED, secret);
	assert_refused(evil, GV_IMAGE_ERROR_UNTRUSTED, evil);
	fx_clear(&fx);
}

static void test_walk_escape_and_symlink(void)
{
	Fx fx = { 0 };
	if (!fx_init(&fx))
		return;
	g_autofree char *outside = g_build_filename(fx.dir, "outside.qcow2", NULL);
	const char *mk[] = { fx.qemu_img, "create", "-q", "-f", "qcow2", outside, "1M", NULL };
	g_free(it_run_ok(mk));

	g_autofree char *up = make(&fx, "up.qcow2", "../outside.qcow2", "qcow2", NULL);
	assert_refused(up, GV_IMAGE_ERROR_UNTRUSTED, "climbs out");

	/* A relative name that is a symlink pointing out: caught on the real path. */
	g_autofree char *link = g_build_filename(fx.imgs, "link.qcow2", NULL);
	g_assert_cmpint(symlink(outside, link), ==, 0);
	g_autofree char *via = make(&fx, "via.qcow2", "link.qcow2", "qcow2", NULL);
	assert_refused(via, GV_IMAGE_ERROR_UNTRUSTED, "outside the base's directory");

	/* A symlinked sub-directory that leads out is the same thing. */
	g_autofree char *subdir = g_build_filename(fx.imgs, "sub", NULL);
	g_assert_cmpint(symlink(fx.dir, subdir), ==, 0);
	g_autofree char *deep = make(&fx, "deep.qcow2", "sub/outside.qcow2", "qcow2", NULL);
	assert_refused(deep, GV_IMAGE_ERROR_UNTRUSTED, "outside the base's directory");

	/* A symlink that stays inside is fine, and so is a plain relative chain. */
	g_autofree char *inner = make(&fx, "inner.qcow2", NULL, NULL, NULL);
	g_autofree char *ilink = g_build_filename(fx.imgs, "ilink.qcow2", NULL);
	g_assert_cmpint(symlink("inner.qcow2", ilink), ==, 0);
	g_autofree char *good = make(&fx, "good.qcow2", "ilink.qcow2", "qcow2", NULL);
	g_autoptr(GError) ok = walk(good, TRUE);
	g_assert_no_error(ok);
	fx_clear(&fx);
}

static void test_walk_devices(void)
{
	Fx fx = { 0 };
	if (!fx_init(&fx))
		return;
	/* A character device is never a disk: refused even unconfined. */
	g_autofree char *zero = make(&fx, "zero.qcow2", "/dev/zero", "raw", NULL);
	g_autoptr(GError) e = walk(zero, FALSE);
	g_assert_error(e, GV_IMAGE_ERROR, GV_IMAGE_ERROR_UNSUPPORTED);
	g_assert_nonnull(strstr(e->message, "character device"));

	/* A block device: fine for a trusted image, refused for an untrusted one. */
	struct stat st;
	const char *blk = stat("/dev/loop0", &st) == 0 && S_ISBLK(st.st_mode) ? "/dev/loop0" : NULL;
	if (!blk) {
		g_test_message("no /dev/loop0 block device: block backing not tried");
		fx_clear(&fx);
		return;
	}
	/* Relative, inside the directory, so only the type refuses it. */
	g_autofree char *node = g_build_filename(fx.imgs, "disk", NULL);
	g_assert_cmpint(symlink(blk, node), ==, 0);
	g_autofree char *dev = make(&fx, "dev.qcow2", "disk", "raw", NULL);
	g_autoptr(GError) trusted = walk(dev, FALSE);
	g_assert_no_error(trusted);
	assert_refused(dev, GV_IMAGE_ERROR_UNTRUSTED, "is a block device");
	fx_clear(&fx);
}

static void test_walk_fifo(void)
{
	Fx fx = { 0 };
	if (!fx_init(&fx))
		return;
	g_autofree char *fifo = g_build_filename(fx.imgs, "fifo", NULL);
	g_assert_cmpint(mkfifo(fifo, 0600), ==, 0);
	g_autofree char *evil = make(&fx, "evil.qcow2", "fifo", "raw", NULL);

	/* No writer ever comes: a blocking open would hang right here. */
	g_autoptr(GError) e = walk(evil, FALSE);
	g_assert_error(e, GV_IMAGE_ERROR, GV_IMAGE_ERROR_UNSUPPORTED);
	g_assert_nonnull(strstr(e->message, "is a FIFO"));
	assert_refused(evil, GV_IMAGE_ERROR_UNSUPPORTED, "is a FIFO");

	/* The FIFO as the image itself. */
	g_autoptr(GError) top = walk(fifo, FALSE);
	g_assert_error(top, GV_IMAGE_ERROR, GV_IMAGE_ERROR_UNSUPPORTED);
	fx_clear(&fx);
}

static void test_walk_loop(void)
{
	Fx fx = { 0 };
	if (!fx_init(&fx))
		return;
	g_autofree char *a = make(&fx, "A.qcow2", "B.qcow2", "qcow2", NULL);
	g_autofree char *b = make(&fx, "B.qcow2", "A.qcow2", "qcow2", NULL);
	g_autoptr(GError) e = walk(a, FALSE);
	g_assert_error(e, GV_IMAGE_ERROR, GV_IMAGE_ERROR_UNSUPPORTED);
	g_assert_nonnull(strstr(e->message, "loops"));

	/* Through a symlink: C names L, a link back to C. */
	g_autofree char *c = make(&fx, "C.qcow2", "L.qcow2", "qcow2", NULL);
	g_autofree char *l = g_build_filename(fx.imgs, "L.qcow2", NULL);
	g_assert_cmpint(symlink("C.qcow2", l), ==, 0);
	g_autoptr(GError) e2 = walk(c, TRUE);
	g_assert_error(e2, GV_IMAGE_ERROR, GV_IMAGE_ERROR_UNSUPPORTED);
	g_assert_nonnull(strstr(e2->message, "loops"));
	fx_clear(&fx);
}

static void test_walk_data_file(void)
{
	Fx fx = { 0 };
	if (!fx_init(&fx))
		return;
	g_autofree char *data = g_build_filename(fx.imgs, "data.raw", NULL);
	g_autofree char *opts = g_strdup_printf("data_file=%s,data_file_raw=on", data);
	g_autofree char *img = make(&fx, "df.qcow2", NULL, NULL, opts);

	g_autoptr(GError) none = walk(img, FALSE);
	g_assert_no_error(none);
	g_autoptr(GvImageInfo) info = gv_image_info_read(img, NULL);
	g_assert_cmpstr(info->data_file, ==, data);
	/* Even inside the directory: QEMU resolves it against its own cwd. */
	assert_refused(img, GV_IMAGE_ERROR_UNTRUSTED, "external data file");

	/* In a backing file rather than the base itself. */
	g_autofree char *top = make(&fx, "top.qcow2", "df.qcow2", "qcow2", NULL);
	assert_refused(top, GV_IMAGE_ERROR_UNTRUSTED, "external data file");
	fx_clear(&fx);
}

/*
 * QEMU guesses the format of a backing file its overlay records none for
 * (and a guessed vmdk names extents of its own): confined, only qcow2 may
 * go unformatted.  qemu-img 7.2 will not create such an overlay, so the
 * backing-format extension of one is renamed to a type nobody reads.
 */
static void test_walk_unformatted(void)
{
	Fx fx = { 0 };
	if (!fx_init(&fx))
		return;
	g_autofree char *raw = g_build_filename(fx.imgs, "disk.raw", NULL);
	g_assert_true(g_file_set_contents(raw, "# Disk DescriptorFile\n", -1, NULL));
	g_autofree char *top = make(&fx, "top.qcow2", "disk.raw", "raw", NULL);
	g_autofree char *bytes = NULL;
	gsize len;
	g_assert_true(g_file_get_contents(top, &bytes, &len, NULL));
	static const guint8 ext[4] = { 0xe2, 0x79, 0x2a, 0xca }; /* backing format */
	guint8 *hit = memmem(bytes, MIN(len, 65536), ext, sizeof(ext));
	g_assert_nonnull(hit);
	memcpy(hit, "\x7f\x7f\x7f\x7f", 4);
	g_assert_true(g_file_set_contents(top, bytes, (gssize)len, NULL));

	g_autoptr(GvImageInfo) info = gv_image_info_read_full(top, NULL, GV_IMAGE_INFO_NO_BACKING,
							      NULL);
	g_assert_nonnull(info);
	g_assert_null(info->backing_format);
	g_autoptr(GError) none = walk(top, FALSE);
	g_assert_no_error(none);
	assert_refused(top, GV_IMAGE_ERROR_UNTRUSTED, "no recorded format");
	fx_clear(&fx);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/chain/classify", test_classify);
	g_test_add_func("/chain/within", test_within);
	g_test_add_func("/chain/mode", test_mode);
	g_test_add_func("/chain/escape", test_escape);
	g_test_add_func("/chain/walk/absolute", test_walk_absolute);
	g_test_add_func("/chain/walk/escape-and-symlink", test_walk_escape_and_symlink);
	g_test_add_func("/chain/walk/devices", test_walk_devices);
	g_test_add_func("/chain/walk/fifo", test_walk_fifo);
	g_test_add_func("/chain/walk/loop", test_walk_loop);
	g_test_add_func("/chain/walk/data-file", test_walk_data_file);
	g_test_add_func("/chain/walk/unformatted", test_walk_unformatted);
	return g_test_run();
}
