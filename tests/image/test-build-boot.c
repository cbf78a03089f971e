/* SPDX-License-Identifier: MIT */
/*
 * test-build-boot.c - a built disk boots under OVMF (suite 'vm', slow)
 *
 * Builds a disk from a tiny tree with the host's kernel and initrd and
 * boots an overlay of it in QEMU (TCG) with OVMF, no -kernel: the firmware
 * must find systemd-boot at \EFI\BOOT\BOOTX64.EFI, systemd-boot must pick
 * the loader entry, the EFI stub must load the initrd, and the initrd
 * must find the root partition by the PARTUUID on the command line and
 * mount it.  The tree has no usable init, so the kernel then panics and
 * QEMU exits (panic=-1, -no-reboot); that is the end of what this tests.
 *
 * Needs: qemu-system-x86_64 (GRAINVM_QEMU_SYSTEM or PATH), OVMF
 * (GRAINVM_OVMF_CODE or /usr/share/OVMF/OVMF_CODE_4M.fd), a kernel and
 * initrd (GRAINVM_TEST_KERNEL / GRAINVM_TEST_INITRD or the newest in
 * /boot).  Skips without them.
 */
#include <glib/gstdio.h>
#include <string.h>

#include "grainvm-image.h"
#include "image-test-util.h"

static char *newest(const char *env, const char *prefix)
{
	const char *v = g_getenv(env);
	g_autoptr(GDir) dir = NULL;
	const char *name;
	char *best = NULL;

	if (v && *v)
		return g_strdup(v);
	dir = g_dir_open("/boot", 0, NULL);
	while (dir && (name = g_dir_read_name(dir))) {
		if (g_str_has_prefix(name, prefix) && (!best || strcmp(name, best) > 0)) {
			g_free(best);
			best = g_strdup(name);
		}
	}
	if (!best)
		return NULL;
	char *path = g_build_filename("/boot", best, NULL);
	g_free(best);
	return g_file_test(path, G_FILE_TEST_IS_REGULAR) && g_access(path, R_OK) == 0 ? path
										     : (g_free(path), NULL);
}

static void test_boot(void)
{
	g_autofree char *qemu = g_strdup(g_getenv("GRAINVM_QEMU_SYSTEM"));
	g_autofree char *code = g_strdup(g_getenv("GRAINVM_OVMF_CODE"));
	g_autofree char *kernel = newest("GRAINVM_TEST_KERNEL", "vmlinuz-");
	g_autofree char *initrd = newest("GRAINVM_TEST_INITRD", "initrd.img-");

	if (!qemu)
		qemu = g_find_program_in_path("qemu-system-x86_64");
	if (!code)
		code = g_strdup("/usr/share/OVMF/OVMF_CODE_4M.fd");
	g_autofree char *vars_src = g_strdup(g_getenv("GRAINVM_OVMF_VARS"));
	if (!vars_src)
		vars_src = g_strdup("/usr/share/OVMF/OVMF_VARS_4M.fd");
	if (!qemu || !g_file_test(code, G_FILE_TEST_EXISTS) ||
	    !g_file_test(vars_src, G_FILE_TEST_EXISTS) || !kernel || !initrd ||
	    !g_file_test("/usr/lib/systemd/boot/efi/systemd-bootx64.efi", G_FILE_TEST_EXISTS)) {
		g_test_skip("needs qemu-system-x86_64, OVMF, systemd-boot-efi and a kernel + initrd");
		return;
	}

	g_autofree char *dir = it_scratch_new();
	g_autofree char *tree = g_build_filename(dir, "tree", "sbin", NULL);
	g_assert_cmpint(g_mkdir_with_parents(tree, 0755), ==, 0);
	g_autofree char *init = g_build_filename(tree, "init", NULL);
	g_assert_true(g_file_set_contents(init, "#!/bin/sh\n", -1, NULL));
	g_autofree char *root = g_build_filename(dir, "tree", NULL);
	g_autofree char *disk = g_build_filename(dir, "disk.qcow2", NULL);
	g_autofree char *overlay = g_build_filename(dir, "vm.qcow2", NULL);
	g_autofree char *vars = g_build_filename(dir, "vars.fd", NULL);
	g_autoptr(GError) error = NULL;

	GvImageBuildOptions o = {
		.rootfs = root,
		.kernel = kernel,
		.initrd = initrd,
		.cmdline = "console=ttyS0 panic=-1",
	};
	g_assert_true(gv_image_build(disk, &o, &error));
	g_assert_no_error(error);
	g_assert_true(gv_image_create_qcow2(overlay, 0, "disk.qcow2", "qcow2", 0, &error));
	g_autofree char *disk_sum = it_file_sha256(disk);

	g_autofree char *vars_data = NULL;
	gsize vars_len;
	g_assert_true(g_file_get_contents(vars_src, &vars_data, &vars_len, NULL));
	g_assert_true(g_file_set_contents(vars, vars_data, (gssize)vars_len, NULL));
	g_autofree char *pflash_code = g_strdup_printf("if=pflash,format=raw,readonly=on,file=%s", code);
	g_autofree char *pflash_vars = g_strdup_printf("if=pflash,format=raw,file=%s", vars);
	g_autofree char *drive = g_strdup_printf("if=virtio,format=qcow2,file=%s", overlay);
	const char *argv[] = { "timeout", "300", qemu, "-machine", "q35", "-accel", "tcg", "-m", "1024",
			       "-nodefaults", "-display", "none", "-no-reboot", "-serial", "stdio",
			       "-drive", pflash_code, "-drive", pflash_vars, "-drive", drive, NULL };
	g_autofree char *out = NULL;
	it_run(argv, &out, NULL);
	g_assert_nonnull(out);

	/* The root PARTUUID is in the loader entry; the kernel echoes it back. */
	g_assert_nonnull(strstr(out, "EFI stub: Loaded initrd"));
	const char *cmd = strstr(out, "Kernel command line: initrd=\\grainvm\\initrd root=PARTUUID=");
	g_assert_nonnull(cmd);
	g_assert_nonnull(strstr(out, "Begin: Mounting root file system"));
	g_assert_null(strstr(out, "Gave up waiting for root"));
	g_assert_nonnull(strstr(out, "Begin: Running /scripts/init-bottom"));
	/* The base was only read. */
	g_autofree char *disk_sum2 = it_file_sha256(disk);
	g_assert_cmpstr(disk_sum, ==, disk_sum2);
	it_scratch_free(g_steal_pointer(&dir));
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/image/build/boot", test_boot);
	return g_test_run();
}
