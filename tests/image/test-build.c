/* SPDX-License-Identifier: MIT */
/*
 * test-build.c - bootable disk builds, taken apart again with real tools
 *
 * A small root tree, a stand-in kernel and initrd: the built qcow2 must
 * check clean; converted back to raw, sfdisk must find a valid GPT with
 * the ESP at 1 MiB and a root partition of the x86-64 root type; the ESP
 * must pass fsck.vfat and hold systemd-boot where OVMF and systemd-boot
 * look for it, with a loader entry naming the kernel, initrd and the root
 * partition's PARTUUID; the root must pass e2fsck and hold the tree.
 * --deterministic must give identical bytes for identical input, even
 * after the tree was read or chmod-ed in between.
 */
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "grainvm-image.h"
#include "gv-config.h"
#include "image-test-util.h"

typedef struct {
	char *dir;
	char *tree;
	char *kernel;
	char *initrd;
	char *boot_efi;
} Fixture;

static gboolean have_tools(void)
{
	const char *tools[] = { "mke2fs", "mkfs.vfat", "mmd", "mcopy", "mtype", "debugfs",
				"e2fsck", "fsck.vfat", "sfdisk", "tar" };
	g_autofree char *qemu_img = it_qemu_img();

	if (!qemu_img) {
		g_test_skip("qemu-img not found");
		return FALSE;
	}
	for (gsize i = 0; i < G_N_ELEMENTS(tools); i++) {
		g_autofree char *p = g_find_program_in_path(tools[i]);
		if (!p) {
			g_autofree char *why = g_strdup_printf("%s not found", tools[i]);
			g_test_skip(why);
			return FALSE;
		}
	}
	return TRUE;
}

static void write_file(const char *path, const char *text)
{
	g_assert_true(g_file_set_contents(path, text, -1, NULL));
}

static void fixture_set_up(Fixture *f, gconstpointer data)
{
	f->dir = it_scratch_new();
	f->tree = g_build_filename(f->dir, "tree", NULL);
	f->kernel = g_build_filename(f->dir, "vmlinuz", NULL);
	f->initrd = g_build_filename(f->dir, "initrd.img", NULL);

	g_autofree char *etc = g_build_filename(f->tree, "etc", NULL);
	g_autofree char *deep = g_build_filename(f->tree, "usr", "share", "doc", NULL);
	g_assert_cmpint(g_mkdir_with_parents(etc, 0755), ==, 0);
	g_assert_cmpint(g_mkdir_with_parents(deep, 0755), ==, 0);
	g_autofree char *motd = g_build_filename(etc, "motd", NULL);
	g_autofree char *spaced = g_build_filename(deep, "a file with spaces", NULL);
	g_autofree char *big = g_build_filename(deep, "big.bin", NULL);
	g_autofree char *link = g_build_filename(etc, "motd.link", NULL);
	write_file(motd, "hello from grainvm\n");
	write_file(spaced, "spaces\n");
	it_write_random(big, 3 << 20, 1);
	g_assert_cmpint(symlink("motd", link), ==, 0);

	/* Stand-ins: the layout does not depend on what the kernel is. */
	it_write_random(f->kernel, 2 << 20, 2);
	it_write_random(f->initrd, 1 << 20, 3);

	const char *env = g_getenv("GRAINVM_SYSTEMD_BOOT_EFI");
	if (env && *env)
		f->boot_efi = g_strdup(env);
	else if (g_file_test("/usr/lib/systemd/boot/efi/systemd-bootx64.efi", G_FILE_TEST_EXISTS))
		f->boot_efi = g_strdup("/usr/lib/systemd/boot/efi/systemd-bootx64.efi");
	else {
		f->boot_efi = g_build_filename(f->dir, "systemd-bootx64.efi", NULL);
		it_write_random(f->boot_efi, 100000, 4);
		g_setenv("GRAINVM_SYSTEMD_BOOT_EFI", f->boot_efi, TRUE);
	}
}

static void fixture_tear_down(Fixture *f, gconstpointer data)
{
	it_scratch_free(g_steal_pointer(&f->dir));
	g_free(f->tree);
	g_free(f->kernel);
	g_free(f->initrd);
	g_free(f->boot_efi);
}

static GvImageBuildOptions options(Fixture *f)
{
	return (GvImageBuildOptions){
		.rootfs = f->tree,
		.kernel = f->kernel,
		.initrd = f->initrd,
		/* No console=: the build adds console=ttyS0 (checked below). */
		.cmdline = "quiet",
	};
}

/* `mtype` one file out of a FAT image at @offset of @raw. */
static char *esp_cat(const char *raw, guint64 offset, const char *path)
{
	g_autofree char *image = g_strdup_printf("%s@@%" G_GUINT64_FORMAT, raw, offset);
	const char *argv[] = { "env", "MTOOLS_SKIP_CHECK=1", "mtype", "-i", image, path, NULL };

	return it_run_ok(argv);
}

/* Copy @len bytes at @offset of @raw into a new file. */
static char *extract(const char *dir, const char *raw, guint64 offset, guint64 len,
		     const char *name)
{
	char *out = g_build_filename(dir, name, NULL);
	g_autofree char *skip = g_strdup_printf("skip=%" G_GUINT64_FORMAT, offset);
	g_autofree char *count = g_strdup_printf("count=%" G_GUINT64_FORMAT, len);
	g_autofree char *of = g_strdup_printf("of=%s", out);
	g_autofree char *in = g_strdup_printf("if=%s", raw);
	const char *argv[] = { "dd", in, of, "bs=1M", skip, count, "iflag=skip_bytes,count_bytes",
			       "conv=sparse", "status=none", NULL };

	g_free(it_run_ok(argv));
	return out;
}

static void test_layout(Fixture *f, gconstpointer data)
{
	if (!have_tools())
		return;
	g_autofree char *out = g_build_filename(f->dir, "disk.qcow2", NULL);
	g_autofree char *raw = g_build_filename(f->dir, "disk.raw", NULL);
	g_autofree char *qemu_img = it_qemu_img();
	g_autoptr(GError) error = NULL;
	GvImageBuildOptions o = options(f);

	g_assert_true(gv_image_build(out, &o, &error));
	g_assert_no_error(error);
	it_assert_qemu_img_check(out);

	const char *conv[] = { qemu_img, "convert", "-O", "raw", out, raw, NULL };
	g_free(it_run_ok(conv));
	const char *verify[] = { "sfdisk", "--verify", raw, NULL };
	g_autofree char *v = it_run_ok(verify);
	g_assert_nonnull(strstr(v, "No errors detected"));

	const char *dump[] = { "sfdisk", "--json", raw, NULL };
	g_autofree char *json = it_run_ok(dump);
	g_autoptr(JsonNode) root = it_json_parse(json);
	JsonObject *pt = json_object_get_object_member(json_node_get_object(root), "partitiontable");
	g_assert_cmpstr(json_object_get_string_member(pt, "label"), ==, "gpt");
	JsonArray *parts = json_object_get_array_member(pt, "partitions");
	g_assert_cmpuint(json_array_get_length(parts), ==, 2);
	JsonObject *esp = json_array_get_object_element(parts, 0);
	JsonObject *rootp = json_array_get_object_element(parts, 1);
	g_assert_cmpstr(json_object_get_string_member(esp, "type"), ==,
			"C12A7328-F81F-11D2-BA4B-00A0C93EC93B");
	g_assert_cmpstr(json_object_get_string_member(rootp, "type"), ==,
			"4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709");
	g_assert_cmpstr(json_object_get_string_member(esp, "name"), ==, "ESP");
	g_assert_cmpint(json_object_get_int_member(esp, "start"), ==, 2048);
	guint64 esp_off = (guint64)json_object_get_int_member(esp, "start") * 512;
	guint64 esp_len = (guint64)json_object_get_int_member(esp, "size") * 512;
	guint64 root_off = (guint64)json_object_get_int_member(rootp, "start") * 512;
	guint64 root_len = (guint64)json_object_get_int_member(rootp, "size") * 512;
	g_assert_cmpuint(root_off % (1 << 20), ==, 0);
	g_assert_cmpuint(esp_len, ==, 128 << 20);
	/* --size auto: at least 1 GiB free beyond the (small) tree. */
	g_assert_cmpuint(root_len, >=, G_GUINT64_CONSTANT(1) << 30);
	g_autofree char *partuuid = g_ascii_strdown(json_object_get_string_member(rootp, "uuid"), -1);

	/* The ESP: a clean FAT with systemd-boot and its configuration. */
	g_autofree char *esp_img = extract(f->dir, raw, esp_off, esp_len, "esp.img");
	const char *fsck[] = { "fsck.vfat", "-n", esp_img, NULL };
	g_free(it_run_ok(fsck));
	g_autofree char *loader = esp_cat(raw, esp_off, "::/loader/loader.conf");
	g_assert_nonnull(strstr(loader, "default grainvm.conf\n"));
	g_assert_nonnull(strstr(loader, "timeout 0\n"));
	g_autofree char *entry = esp_cat(raw, esp_off, "::/loader/entries/grainvm.conf");
	g_autofree char *want_options = g_strdup_printf("options root=PARTUUID=%s rw console=ttyS0 quiet\n",
							partuuid);
	g_assert_nonnull(strstr(entry, "linux /grainvm/linux\n"));
	g_assert_nonnull(strstr(entry, "initrd /grainvm/initrd\n"));
	g_assert_nonnull(strstr(entry, want_options));

	static const struct {
		const char *fat;
		int which; /* 0 boot efi, 1 kernel, 2 initrd */
	} files[] = {
		{ "::/EFI/BOOT/BOOTX64.EFI", 0 },
		{ "::/EFI/systemd/systemd-bootx64.efi", 0 },
		{ "::/grainvm/linux", 1 },
		{ "::/grainvm/initrd", 2 },
	};
	for (gsize i = 0; i < G_N_ELEMENTS(files); i++) {
		g_autofree char *copy = g_build_filename(f->dir, "copy", NULL);
		g_autofree char *image = g_strdup_printf("%s@@%" G_GUINT64_FORMAT, raw, esp_off);
		const char *argv[] = { "env", "MTOOLS_SKIP_CHECK=1", "mcopy", "-n", "-i", image,
				       files[i].fat, copy, NULL };
		g_free(it_run_ok(argv));
		const char *src[] = { f->boot_efi, f->kernel, f->initrd };
		g_autofree char *a = it_file_sha256(copy), *b = it_file_sha256(src[files[i].which]);
		g_assert_cmpstr(a, ==, b);
		unlink(copy);
	}

	/* The root: a clean ext4 holding the tree. */
	g_autofree char *root_img = extract(f->dir, raw, root_off, root_len, "root.img");
	const char *e2fsck[] = { "e2fsck", "-fn", root_img, NULL };
	g_free(it_run_ok(e2fsck));
	const char *cat[] = { "debugfs", "-R", "cat /etc/motd", root_img, NULL };
	g_autofree char *motd = it_run_ok(cat);
	g_assert_cmpstr(motd, ==, "hello from grainvm\n");
	const char *cat2[] = { "debugfs", "-R", "cat \"/usr/share/doc/a file with spaces\"",
			       root_img, NULL };
	g_autofree char *spaced = it_run_ok(cat2);
	g_assert_cmpstr(spaced, ==, "spaces\n");
	const char *stat_link[] = { "debugfs", "-R", "stat /etc/motd.link", root_img, NULL };
	g_autofree char *link = it_run_ok(stat_link);
	g_assert_nonnull(strstr(link, "Fast link dest: \"motd\""));
	const char *label[] = { "dumpe2fs", "-h", root_img, NULL };
	g_autofree char *sb = it_run_ok(label);
	g_assert_nonnull(strstr(sb, "Filesystem volume name:   root"));

	/* info sees a plain qcow2 of the disk's size. */
	g_autoptr(GvImageInfo) info = gv_image_info_read(out, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(info->virtual_size, ==, root_off + root_len + (1 << 20));
}

static void test_deterministic(Fixture *f, gconstpointer data)
{
	if (!have_tools())
		return;
	g_autofree char *a = g_build_filename(f->dir, "a.qcow2", NULL);
	g_autofree char *b = g_build_filename(f->dir, "b.qcow2", NULL);
	g_autofree char *c = g_build_filename(f->dir, "c.qcow2", NULL);
	g_autofree char *plain = g_build_filename(f->dir, "plain.qcow2", NULL);
	g_autofree char *motd = g_build_filename(f->tree, "etc", "motd", NULL);
	g_autofree char *qemu_img = it_qemu_img();
	GvImageBuildOptions o = options(f);

	o.deterministic = TRUE;
	o.convert.compression = GV_HAVE_ZSTD ? GV_IMAGE_COMPRESSION_ZSTD : GV_IMAGE_COMPRESSION_ZLIB;
	g_assert_true(gv_image_build(a, &o, NULL));
	/* Read and chmod the tree (atime, ctime) and let the clock move on. */
	g_usleep(1100000);
	g_autofree char *contents = NULL;
	g_assert_true(g_file_get_contents(motd, &contents, NULL, NULL));
	g_assert_cmpint(chmod(motd, 0644), ==, 0);
	g_assert_true(gv_image_build(b, &o, NULL));
	g_autofree char *sa = it_file_sha256(a), *sb = it_file_sha256(b);
	g_assert_cmpstr(sa, ==, sb);

	/* Another command line is another disk. */
	o.cmdline = "console=ttyS1";
	g_assert_true(gv_image_build(c, &o, NULL));
	g_autofree char *sc = it_file_sha256(c);
	g_assert_cmpstr(sa, !=, sc);

	/* Uncompressed, the same disk content. */
	o.cmdline = options(f).cmdline;
	o.convert.compression = GV_IMAGE_COMPRESSION_NONE;
	g_assert_true(gv_image_build(plain, &o, NULL));
	const char *cmp[] = { qemu_img, "compare", a, plain, NULL };
	g_autofree char *same = it_run_ok(cmp);
	g_assert_nonnull(strstr(same, "Images are identical."));
}

static void test_tarball_and_size(Fixture *f, gconstpointer data)
{
	if (!have_tools())
		return;
	g_autofree char *tar = g_build_filename(f->dir, "rootfs.tar.gz", NULL);
	g_autofree char *out = g_build_filename(f->dir, "t.qcow2", NULL);
	g_autoptr(GError) error = NULL;
	const char *mk[] = { "tar", "-czf", tar, "-C", f->tree, ".", NULL };
	g_free(it_run_ok(mk));

	GvImageBuildOptions o = options(f);
	o.rootfs = tar;
	o.initrd = NULL;
	o.size = G_GUINT64_CONSTANT(1) << 30;
	o.esp_size = 64 << 20;
	g_assert_true(gv_image_build(out, &o, &error));
	g_assert_no_error(error);
	it_assert_qemu_img_check(out);
	g_autoptr(GvImageInfo) info = gv_image_info_read(out, &error);
	g_assert_cmpuint(info->virtual_size, ==, G_GUINT64_CONSTANT(1) << 30);
	/* The unpacked tree is gone. */
	g_autofree char *listing = it_dir_listing(f->dir);
	g_assert_null(strstr(listing, ".t.qcow2"));
}

static void test_cli(Fixture *f, gconstpointer data)
{
	if (!have_tools())
		return;
	g_autofree char *out = g_build_filename(f->dir, "out", "disk.qcow2", NULL);
	g_autofree char *outdir = g_build_filename(f->dir, "out", NULL);
	g_autofree char *err = NULL;

	g_assert_cmpint(g_mkdir(outdir, 0755), ==, 0);
	const char *ok[] = { "build", "--rootfs", f->tree, "--kernel", f->kernel, "--initrd",
			     f->initrd, "--compression", GV_HAVE_ZSTD ? "zstd" : "zlib",
			     "--deterministic", "-o", out, NULL };
	g_assert_cmpint(it_cli_run(ok, NULL, &err), ==, 0);
	it_assert_qemu_img_check(out);
	g_assert_cmpint(unlink(out), ==, 0);

	const struct {
		const char *args[12];
		const char *message;
	} bad[] = {
		{ { "build", "--rootfs", f->tree, "--kernel", "/nonexistent/vmlinuz", "-o", out },
		  "kernel /nonexistent/vmlinuz" },
		{ { "build", "--rootfs", "/nonexistent/tree", "--kernel", f->kernel, "-o", out },
		  "rootfs /nonexistent/tree" },
		{ { "build", "--rootfs", f->tree, "--kernel", f->kernel, "--initrd", "/nope", "-o", out },
		  "initrd /nope" },
		{ { "build", "--rootfs", f->tree, "--kernel", f->kernel, "--size", "100M", "-o", out },
		  "too small" },
		{ { "build", "--rootfs", f->tree, "--kernel", f->kernel, "--size", "lots", "-o", out },
		  "bad size \"lots\"" },
		{ { "build", "--rootfs", f->tree, "--kernel", f->kernel, "--esp-size", "8M", "-o", out },
		  "below the 34 MiB" },
		{ { "build", "--rootfs", f->tree, "--kernel", f->kernel }, "are required" },
		{ { "build", "--rootfs", f->tree, "--kernel", f->kernel, "-o", "/nonexistent/d.qcow2" },
		  "does not exist" },
	};
	for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_clear_pointer(&err, g_free);
		g_assert_cmpint(it_cli_run(bad[i].args, NULL, &err), ==, 2);
		g_test_message("%s", err);
		g_assert_true(g_str_has_prefix(err, "grainvm: "));
		g_assert_nonnull(strstr(err, bad[i].message));
	}
	/* Nothing left behind: no output, no temporaries here or in /dev/shm. */
	g_autofree char *listing = it_dir_listing(outdir);
	g_assert_cmpstr(listing, ==, "");
	if (g_file_test("/dev/shm", G_FILE_TEST_IS_DIR)) {
		g_autofree char *shm = it_dir_listing("/dev/shm");
		g_assert_null(strstr(shm, ".disk.qcow2."));
	}
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add("/image/build/layout", Fixture, NULL, fixture_set_up, test_layout,
		   fixture_tear_down);
	g_test_add("/image/build/deterministic", Fixture, NULL, fixture_set_up, test_deterministic,
		   fixture_tear_down);
	g_test_add("/image/build/tarball-and-size", Fixture, NULL, fixture_set_up,
		   test_tarball_and_size, fixture_tear_down);
	g_test_add("/image/build/cli", Fixture, NULL, fixture_set_up, test_cli, fixture_tear_down);
	return g_test_run();
}
