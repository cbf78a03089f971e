/* SPDX-License-Identifier: MIT */
/*
 * test-bootfiles.c - the host kernel, its vmlinux, the generated initramfs
 *
 * Uses the real kernel from linux-image-amd64 and its modules (never a
 * hard-coded version), and cpio(1) as the oracle for the archive format.
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <utime.h>
#include <unistd.h>

#include "gv-error.h"
#include "boot/initramfs.h"
#include "boot/kernel.h"

static char *tmpdir;

static char *host_kernel(void)
{
	g_autoptr(GError) err = NULL;
	char *k = gv_kernel_find_host("/boot", &err);
	g_assert_no_error(err);
	return k;
}

static void test_find_and_inspect(void)
{
	g_autofree char *kpath = host_kernel();
	g_autoptr(GError) err = NULL;
	g_autoptr(GvKernel) k = gv_kernel_inspect(kpath, &err);
	g_assert_no_error(err);
	g_assert_true(k->bzimage);
	g_assert_nonnull(k->version);
	/* The version in the header names the modules directory. */
	g_autofree char *moddir = g_build_filename("/lib/modules", k->version, NULL);
	g_assert_true(g_file_test(moddir, G_FILE_TEST_IS_DIR));
	g_autofree char *base = g_path_get_basename(kpath);
	g_assert_cmpstr(base + strlen("vmlinuz-"), ==, k->version);
}

static void test_find_missing(void)
{
	g_autoptr(GError) err = NULL;
	g_autofree char *k = gv_kernel_find_host(tmpdir, &err);
	g_assert_null(k);
	g_assert_error(err, GV_ERROR, GV_ERROR_INVALID);
	g_assert_nonnull(strstr(err->message, "apt-get install linux-image-amd64"));
}

/* Ubuntu's 0600 kernels: the user gets told how to fix it. */
static void test_find_unreadable(void)
{
	g_autofree char *boot = g_build_filename(tmpdir, "boot-unreadable", NULL);
	g_mkdir(boot, 0755);
	g_chmod(tmpdir, 0755);
	g_autofree char *k = g_build_filename(boot, "vmlinuz-9.9.9", NULL);
	g_file_set_contents(k, "x", 1, NULL);
	g_chmod(k, 0600);
	/* Root reads anything, so check as nobody in a child, as a real user would be. */
	pid_t pid = fork();
	g_assert_cmpint(pid, >=, 0);
	if (pid == 0) {
		if (geteuid() == 0 && (setgid(65534) < 0 || setuid(65534) < 0))
			_exit(2);
		GError *err = NULL;
		char *found = gv_kernel_find_host(boot, &err);
		_exit(!found && err && strstr(err->message, "chmod 0644") &&
		      strstr(err->message, k) ? 0 : 1);
	}
	int status;
	g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
	g_assert_true(WIFEXITED(status));
	g_assert_cmpint(WEXITSTATUS(status), ==, 0);
}

static void test_pvh_extract(void)
{
	g_autofree char *kpath = host_kernel();
	g_autoptr(GvKernel) k = gv_kernel_inspect(kpath, NULL);
	g_autofree char *cache = g_build_filename(g_getenv("GRAINVM_CACHE_DIR") ?: tmpdir, NULL);
	gv_kernel_prepare_pvh(k, cache);
	if (!k->vmlinux)
		g_error("no vmlinux: %s", k->why_no_pvh);
	g_autofree char *data = NULL;
	gsize len;
	g_assert_true(g_file_get_contents(k->vmlinux, &data, &len, NULL));
	g_assert_true(gv_elf_has_pvh_note((guint8 *)data, len));
	g_assert_cmpuint(len, >, 4 * 1024 * 1024); /* uncompressed, not the bzImage */

	/* Second call: served from the cache, same file. */
	g_autoptr(GvKernel) k2 = gv_kernel_inspect(kpath, NULL);
	gv_kernel_prepare_pvh(k2, cache);
	g_assert_cmpstr(k2->vmlinux, ==, k->vmlinux);

	/*
	 * The stat shortcut must not outlive a change to the file: a copy whose
	 * mtime then changes is hashed again and still finds the same vmlinux;
	 * a copy with other content gets another answer.
	 */
	g_autofree char *copy = g_build_filename(tmpdir, "vmlinuz-copy", NULL);
	g_assert_true(g_file_set_contents(copy, data, 0, NULL));
	g_autofree char *kdata = NULL;
	gsize klen;
	g_assert_true(g_file_get_contents(kpath, &kdata, &klen, NULL));
	g_assert_true(g_file_set_contents(copy, kdata, (gssize)klen, NULL));
	g_autoptr(GvKernel) k3 = gv_kernel_inspect(copy, NULL);
	gv_kernel_prepare_pvh(k3, cache);
	g_assert_cmpstr(k3->vmlinux, ==, k->vmlinux);
	struct utimbuf later = { .actime = 1, .modtime = 12345 };
	g_assert_cmpint(utime(copy, &later), ==, 0);
	g_autoptr(GvKernel) k4 = gv_kernel_inspect(copy, NULL);
	gv_kernel_prepare_pvh(k4, cache);
	g_assert_cmpstr(k4->vmlinux, ==, k->vmlinux);
	kdata[klen - 1] ^= 0xff; /* inside the payload's trailing size word */
	g_assert_true(g_file_set_contents(copy, kdata, (gssize)klen, NULL));
	g_assert_cmpint(utime(copy, &later), ==, 0); /* same size and mtime, new content */
	g_autoptr(GvKernel) k5 = gv_kernel_inspect(copy, NULL);
	gv_kernel_prepare_pvh(k5, cache);
	g_assert_cmpstr(k5->vmlinux, !=, k->vmlinux);
}

static void test_pvh_not_a_kernel(void)
{
	g_autofree char *f = g_build_filename(tmpdir, "not-a-kernel", NULL);
	g_file_set_contents(f, "hello world, definitely not a kernel", -1, NULL);
	g_autoptr(GvKernel) k = gv_kernel_inspect(f, NULL);
	g_assert_false(k->bzimage);
	gv_kernel_prepare_pvh(k, tmpdir);
	g_assert_null(k->vmlinux);
	g_assert_nonnull(k->why_no_pvh);
}

static void test_elf_garbage(void)
{
	guint8 buf[256];
	for (gsize i = 0; i < sizeof(buf); i++)
		buf[i] = (guint8)(i * 37 + 11);
	memcpy(buf, "\x7f" "ELF\x02", 5);
	for (gsize len = 0; len <= sizeof(buf); len++)
		g_assert_false(gv_elf_has_pvh_note(buf, len));
}

static char *kernel_version(void)
{
	g_autofree char *kpath = host_kernel();
	g_autoptr(GvKernel) k = gv_kernel_inspect(kpath, NULL);
	return g_strdup(k->version);
}

static void test_modules_order(void)
{
	g_autofree char *ver = kernel_version();
	g_autofree char *moddir = g_build_filename("/lib/modules", ver, NULL);
	g_autoptr(GError) err = NULL;
	g_autoptr(GPtrArray) mods = gv_modules_resolve(moddir, gv_default_guest_modules, &err);
	g_assert_no_error(err);
	/* Each module comes after everything modules.dep says it needs. */
	g_autofree char *dep = NULL;
	g_autofree char *dep_path = g_build_filename(moddir, "modules.dep", NULL);
	g_assert_true(g_file_get_contents(dep_path, &dep, NULL, NULL));
	g_autoptr(GHashTable) pos = g_hash_table_new(g_str_hash, g_str_equal);
	for (guint i = 0; i < mods->len; i++)
		g_hash_table_insert(pos, g_ptr_array_index(mods, i), GUINT_TO_POINTER(i + 1));
	g_auto(GStrv) lines = g_strsplit(dep, "\n", -1);
	guint checked = 0;
	for (char **l = lines; *l; l++) {
		char *colon = strchr(*l, ':');
		if (!colon)
			continue;
		*colon = '\0';
		guint me = GPOINTER_TO_UINT(g_hash_table_lookup(pos, *l));
		if (!me)
			continue;
		g_auto(GStrv) deps = g_strsplit_set(colon + 1, " ", -1);
		for (char **d = deps; *d; d++) {
			if (!**d)
				continue;
			guint at = GPOINTER_TO_UINT(g_hash_table_lookup(pos, *d));
			if (!at || at >= me)
				g_error("%s loads before its dependency %s", *l, *d);
			checked++;
		}
	}
	g_assert_cmpuint(checked, >, 5);
	/* And an unknown module is a clear error. */
	const char *bogus[] = { "no_such_module_xyz", NULL };
	g_autoptr(GPtrArray) none = gv_modules_resolve(moddir, bogus, &err);
	g_assert_null(none);
	g_assert_nonnull(strstr(err->message, "no_such_module_xyz"));
}

static char *find_agent(void)
{
	const char *a = g_getenv("GRAINVM_AGENT");
	g_assert_nonnull(a);
	return g_strdup(a);
}

static void test_initramfs_cpio(void)
{
	g_autofree char *ver = kernel_version();
	g_autofree char *agent = find_agent();
	GvInitramfsInputs in = {
		.kernel_version = ver, .modules_root = "/lib/modules", .agent = agent,
		.busybox = g_file_test("/bin/busybox", G_FILE_TEST_EXISTS) ? "/bin/busybox" : NULL,
		.modules = gv_default_guest_modules,
	};
	g_autoptr(GError) err = NULL;
	g_autofree char *cpio = gv_initramfs_build(&in, tmpdir, &err);
	g_assert_no_error(err);

	/* cpio(1) must list it, with /init, the module list and the modules. */
	g_autofree char *cmd = g_strdup_printf("cpio -it --quiet -F %s", cpio);
	g_autofree char *out = NULL;
	int status;
	g_assert_true(g_spawn_command_line_sync(cmd, &out, NULL, &status, NULL));
	g_assert_cmpint(status, ==, 0);
	g_assert_nonnull(strstr(out, "\ninit\n"));
	g_assert_nonnull(strstr(out, "dev/console"));
	g_assert_nonnull(strstr(out, "etc/grainvm/modules"));
	g_assert_nonnull(strstr(out, "9pnet_virtio.ko"));
	if (in.busybox) {
		g_assert_nonnull(strstr(out, "bin/busybox"));
		g_assert_nonnull(strstr(out, "bin/sh\n"));
	}

	/* Extract it for real and compare /init with the agent byte for byte. */
	g_autofree char *x = g_build_filename(tmpdir, "x", NULL);
	g_mkdir(x, 0755);
	g_autofree char *ex = g_strdup_printf("sh -c 'cd %s && cpio -id --quiet -F %s'", x, cpio);
	g_assert_true(g_spawn_command_line_sync(ex, NULL, NULL, &status, NULL));
	g_assert_cmpint(status, ==, 0);
	g_autofree char *init = g_build_filename(x, "init", NULL);
	g_autofree char *a = NULL, *b = NULL;
	gsize alen, blen;
	g_assert_true(g_file_get_contents(agent, &a, &alen, NULL));
	g_assert_true(g_file_get_contents(init, &b, &blen, NULL));
	g_assert_cmpmem(a, alen, b, blen);
	struct stat st;
	g_assert_cmpint(stat(init, &st), ==, 0);
	g_assert_true(st.st_mode & S_IXUSR);
	if (in.busybox) {
		/* busybox --list names busybox itself; it must stay the binary, not a link. */
		g_autofree char *bb = g_build_filename(x, "bin/busybox", NULL);
		g_assert_cmpint(lstat(bb, &st), ==, 0);
		g_assert_true(S_ISREG(st.st_mode));
		g_autofree char *sh = g_build_filename(x, "bin/sh", NULL);
		g_assert_cmpint(stat(sh, &st), ==, 0); /* the link resolves */
	}
	/* Every path in the module list exists in the archive and is a plain ELF .ko. */
	g_autofree char *list_path = g_build_filename(x, "etc/grainvm/modules", NULL);
	g_autofree char *list = NULL;
	g_assert_true(g_file_get_contents(list_path, &list, NULL, NULL));
	g_auto(GStrv) entries = g_strsplit(g_strstrip(list), "\n", -1);
	g_assert_cmpuint(g_strv_length(entries), >=, 8);
	for (char **e = entries; *e; e++) {
		g_autofree char *p = g_build_filename(x, *e, NULL);
		g_autofree char *ko = NULL;
		gsize len;
		if (!g_file_get_contents(p, &ko, &len, NULL))
			g_error("module list names %s, not in the archive", *e);
		g_assert_true(len > 4 && !memcmp(ko, "\x7f" "ELF", 4));
		g_assert_true(g_str_has_suffix(*e, ".ko"));
	}

	/* Same inputs: the cache answers with the same file. */
	g_autofree char *again = gv_initramfs_build(&in, tmpdir, &err);
	g_assert_cmpstr(again, ==, cpio);
}

/*
 * Distributions that compress modules (.ko.xz, .ko.zst): the archive holds
 * them decompressed, byte-identical to the original, named .ko.  The test
 * compresses real modules with xz(1) and zstd(1) into a modules tree of
 * its own.
 */
static void test_initramfs_compressed_modules(void)
{
	g_autofree char *ver = kernel_version();
	g_autofree char *moddir = g_build_filename("/lib/modules", ver, NULL);
	g_autoptr(GError) err = NULL;
	const char *want[] = { "9p", NULL };
	g_autoptr(GPtrArray) mods = gv_modules_resolve(moddir, want, &err);
	g_assert_no_error(err);
	g_assert_cmpuint(mods->len, >=, 2); /* 9p needs at least 9pnet */

	g_autofree char *root = g_build_filename(tmpdir, "zmods", NULL);
	g_autofree char *zdir = g_build_filename(root, ver, NULL);
	GString *dep = g_string_new(NULL);
	for (guint i = 0; i < mods->len; i++) {
		const char *rel = g_ptr_array_index(mods, i);
		const char *ext = i % 2 ? ".xz" : ".zst";
		const char *tool = i % 2 ? "xz -c" : "zstd -q -c";
		g_autofree char *dst = g_strdup_printf("%s/%s%s", zdir, rel, ext);
		g_autofree char *dir = g_path_get_dirname(dst);
		g_mkdir_with_parents(dir, 0755);
		g_autofree char *cmd = g_strdup_printf("sh -c '%s %s/%s > %s'", tool, moddir, rel, dst);
		int status;
		g_assert_true(g_spawn_command_line_sync(cmd, NULL, NULL, &status, NULL));
		g_assert_cmpint(status, ==, 0);
		g_string_append_printf(dep, "%s%s:", rel, ext);
		for (guint j = 0; j < i; j++) /* everything earlier, as a closure */
			g_string_append_printf(dep, " %s%s", (char *)g_ptr_array_index(mods, j),
					       j % 2 ? ".xz" : ".zst");
		g_string_append_c(dep, '\n');
	}
	g_autofree char *dep_path = g_build_filename(zdir, "modules.dep", NULL);
	g_assert_true(g_file_set_contents(dep_path, dep->str, -1, NULL));
	g_string_free(dep, TRUE);

	g_autofree char *agent = find_agent();
	GvInitramfsInputs in = { .kernel_version = ver, .modules_root = root, .agent = agent,
				 .busybox = NULL, .modules = want };
	g_autofree char *cpio = gv_initramfs_build(&in, tmpdir, &err);
	g_assert_no_error(err);
	g_autofree char *x = g_build_filename(tmpdir, "zx", NULL);
	g_mkdir(x, 0755);
	g_autofree char *ex = g_strdup_printf("sh -c 'cd %s && cpio -id --quiet -F %s'", x, cpio);
	int status;
	g_assert_true(g_spawn_command_line_sync(ex, NULL, NULL, &status, NULL));
	g_assert_cmpint(status, ==, 0);
	for (guint i = 0; i < mods->len; i++) {
		const char *rel = g_ptr_array_index(mods, i);
		g_autofree char *orig = g_build_filename(moddir, rel, NULL);
		g_autofree char *got = g_strdup_printf("%s/lib/modules/%s/%s", x, ver, rel);
		g_autofree char *a = NULL, *b = NULL;
		gsize alen, blen;
		g_assert_true(g_file_get_contents(orig, &a, &alen, NULL));
		if (!g_file_get_contents(got, &b, &blen, NULL))
			g_error("%s missing from the archive", got);
		g_assert_cmpmem(a, alen, b, blen);
	}
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	tmpdir = g_dir_make_tmp("gv-boot-XXXXXX", NULL);
	g_test_add_func("/bootfiles/kernel/find-inspect", test_find_and_inspect);
	g_test_add_func("/bootfiles/kernel/find-missing", test_find_missing);
	g_test_add_func("/bootfiles/kernel/find-unreadable", test_find_unreadable);
	g_test_add_func("/bootfiles/kernel/pvh-extract", test_pvh_extract);
	g_test_add_func("/bootfiles/kernel/pvh-not-a-kernel", test_pvh_not_a_kernel);
	g_test_add_func("/bootfiles/kernel/elf-garbage", test_elf_garbage);
	g_test_add_func("/bootfiles/modules/order", test_modules_order);
	g_test_add_func("/bootfiles/initramfs/cpio", test_initramfs_cpio);
	g_test_add_func("/bootfiles/initramfs/compressed-modules", test_initramfs_compressed_modules);
	int rc = g_test_run();
	g_autofree char *cmd = g_strdup_printf("rm -rf %s", tmpdir);
	g_spawn_command_line_sync(cmd, NULL, NULL, NULL, NULL);
	return rc;
}
