/* SPDX-License-Identifier: MIT */
/*
 * test-argv.c - golden tests of the QEMU command line
 *
 * Each case is a spec (key-file text) plus host facts; the argv, one
 * argument per line, must equal tests/launcher/golden/CASE.argv, with the
 * temporary project directory written as @PROJECT@.  After an intended
 * change, regenerate with GV_UPDATE_GOLDEN=1 and review the diff.
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>

#include "boot/argv.h"
#include "boot/spec.h"

typedef struct {
	const char *name;
	const char *conf;
	GvHostFacts facts;
	const GvNicFacts *nics; /* facts.nics, one per NIC the spec has */
	guint n_nics;
} Case;

/* In spec order ([net], then [net NAME] by NAME): bridge as root (a tap on
 * fd 7), [net lab] on a switch with a leased address (fd 8), [net nat] user mode. */
static const GvNicFacts nics_root[] = {
	{ .fd = GV_FD_NIC_BASE },
	{ .fd = GV_FD_NIC_BASE + 1, .address = "10.0.2.16/24" },
	{ .fd = -1 },
};
/* Bridge without root: the tap comes from QEMU's helper, which the
 * supervisor runs (QEMU may not, under spawn=deny); a switch NIC whose
 * guest runs its own DHCP. */
static const GvNicFacts nics_helper[] = {
	{ .fd = GV_FD_NIC_BASE, .helper = "/usr/lib/qemu/qemu-bridge-helper" },
	{ .fd = GV_FD_NIC_BASE + 1 },
};

/* A disk under the drop: overlay, a base with its own base (a qcow2 chain on raw). */
static const GvDiskLayer chain3[] = {
	{ "/var/lib/grainvm/web/overlay.qcow2", "qcow2" },
	{ "/srv/images/debian,12.qcow2", "qcow2" },
	{ "/srv/images/debian-base.raw", "raw" },
};
static const GvDiskLayer chain1[] = {
	{ "/var/lib/grainvm/scratch/overlay.qcow2", "qcow2" },
};

static const Case cases[] = {
	{ "default-tcg-pvh", "[vm]\nname=golden\n",
	  { .qemu = "/usr/bin/qemu-system-x86_64", .accel = GV_ACCEL_TCG,
	    .kernel = "/var/cache/grainvm/vmlinux/0123.elf",
	    .initrd = "/var/cache/grainvm/initramfs/4567.cpio", .grainvm_init = TRUE,
	    .firmware = GV_FIRMWARE_NONE } },
	/* QEMU as another user (GRAINVM_QEMU_USER): kernel, initrd, shares by descriptor. */
	{ "files-by-fd", "[vm]\nname=dropped\n[share data]\nsource=.\nmount=/srv/data\n",
	  { .qemu = "/usr/bin/qemu-system-x86_64", .accel = GV_ACCEL_TCG,
	    .kernel = "/var/cache/grainvm/vmlinux/0123.elf",
	    .initrd = "/var/cache/grainvm/initramfs/4567.cpio", .grainvm_init = TRUE,
	    .firmware = GV_FIRMWARE_NONE, .files_by_fd = TRUE } },
	/* ...and with UEFI, a cloud-init seed and a disk chain: every block file
	 * an fd set (-add-fd). */
	{ "files-by-fd-uefi-chain",
	  "[vm]\nname=web\nfirmware=uefi\n[share workspace]\nenabled=false\n",
	  { .qemu = "/usr/bin/qemu-system-x86_64", .accel = GV_ACCEL_TCG,
	    .ovmf_code = "/usr/share/OVMF/OVMF_CODE_4M.fd",
	    .ovmf_vars = "/var/lib/grainvm/web/efi-vars.fd", .firmware = GV_FIRMWARE_UEFI,
	    .disk = "/var/lib/grainvm/web/overlay.qcow2", .files_by_fd = TRUE,
	    .seed = "/var/cache/grainvm/seed/0123.img",
	    .disk_chain = chain3, .disk_chain_len = G_N_ELEMENTS(chain3) } },
	/* A [disk] size= only: one layer, no backing. */
	{ "files-by-fd-disk",
	  "[vm]\nname=scratch\n[share workspace]\nenabled=false\n[disk]\nsize=64M\n",
	  { .qemu = "/usr/bin/qemu-system-x86_64", .accel = GV_ACCEL_TCG,
	    .kernel = "/var/cache/grainvm/vmlinux/0123.elf",
	    .initrd = "/var/cache/grainvm/initramfs/4567.cpio", .grainvm_init = TRUE,
	    .firmware = GV_FIRMWARE_NONE, .disk = "/var/lib/grainvm/scratch/overlay.qcow2",
	    .files_by_fd = TRUE, .disk_chain = chain1, .disk_chain_len = G_N_ELEMENTS(chain1) } },
	/* GRAINVM_BENCH_NO_SANDBOX: the only argv without -sandbox. */
	{ "no-sandbox-bench", "[vm]\nname=bench\n",
	  { .qemu = "/usr/bin/qemu-system-x86_64", .accel = GV_ACCEL_TCG,
	    .kernel = "/k", .initrd = "/i", .grainvm_init = TRUE,
	    .firmware = GV_FIRMWARE_NONE, .no_sandbox = TRUE } },
	{ "uefi-disk-kvm",
	  "[vm]\nname=web\nmemory=4G\ncpus=4\nfirmware=uefi\n"
	  "[share workspace]\nenabled=false\n"
	  "[share data]\nsource=.\nmount=/srv/data\nreadonly=true\nmsize=128K\ncache=none\n"
	  "[net]\nforward=tcp:2222:22;udp:0.0.0.0:5353:53\n",
	  { .qemu = "qemu-system-x86_64", .accel = GV_ACCEL_KVM,
	    .ovmf_code = "/usr/share/OVMF/OVMF_CODE_4M.fd",
	    .ovmf_vars = "/var/lib/grainvm/web/efi-vars.fd", .firmware = GV_FIRMWARE_UEFI,
	    .disk = "/var/lib/grainvm/web/overlay.qcow2" } },
	{ "bzimage-no-net-commas",
	  "[vm]\nname=odd\nmachine=pc\n[boot]\ncmdline=loglevel=7 init=/sbin/myinit\n"
	  "[net]\nmode=none\n",
	  { .qemu = "/opt/qemu,new/bin/qemu-system-x86_64", .accel = GV_ACCEL_TCG,
	    .kernel = "/boot/vmlinuz-6.1.0-56-amd64", .initrd = "/tmp/my,initrd.img",
	    .grainvm_init = FALSE, .firmware = GV_FIRMWARE_NONE,
	    .disk = "/var/lib/grainvm/odd,1/overlay.qcow2" } },
	/* [nixos] system=: its kernel-params, then init=, then grainvm's console. */
	{ "nixos-system",
	  "[vm]\nname=nixvm\n[nixos]\nsystem=/nix/store/0abc-nixos-system-nixvm-24.05\nstore=.\n",
	  { .qemu = "/usr/bin/qemu-system-x86_64", .accel = GV_ACCEL_TCG,
	    .kernel = "/var/cache/grainvm/vmlinux/89ab.elf",
	    .initrd = "/nix/store/1def-initrd-linux-6.6/initrd", .firmware = GV_FIRMWARE_NONE,
	    .nixos_toplevel = "/nix/store/0abc-nixos-system-nixvm-24.05",
	    .nixos_params = "loglevel=4 lsm=landlock,yama,bpf" } },
	{ "nics-bridge-root-switch",
	  "[vm]\nname=multi\n"
	  "[net]\nmode=bridge\nbridge=br0\naddress=192.168.7.5/24\ngateway=192.168.7.1\n"
	  "dns=192.168.7.1\n"
	  "[net nat]\nauto-forward=true\nforward=8080:80\n"
	  "[net lab]\nmode=switch\nnetwork=lab\n",
	  { .qemu = "qemu-system-x86_64", .accel = GV_ACCEL_TCG,
	    .kernel = "/var/cache/grainvm/vmlinux/0123.elf",
	    .initrd = "/var/cache/grainvm/initramfs/4567.cpio", .grainvm_init = TRUE,
	    .firmware = GV_FIRMWARE_NONE }, nics_root, G_N_ELEMENTS(nics_root) },
	{ "nics-bridge-helper",
	  "[vm]\nname=user1\n"
	  "[net]\nmode=bridge\nbridge=br-lan\nmac=02:11:22:33:44:55\n"
	  "[net own]\nmode=switch\naddress=none\n",
	  { .qemu = "qemu-system-x86_64", .accel = GV_ACCEL_TCG,
	    .kernel = "/var/cache/grainvm/vmlinux/0123.elf",
	    .initrd = "/var/cache/grainvm/initramfs/4567.cpio", .grainvm_init = TRUE,
	    .firmware = GV_FIRMWARE_NONE }, nics_helper, G_N_ELEMENTS(nics_helper) },
	/* A cloud image with its seed, read-only beside the disk.  [disk] image
	 * must name an existing file: the spec file itself stands in. */
	{ "cloud-init-seed",
	  "[vm]\nname=cloudy\nfirmware=uefi\n[disk]\nimage=grainvm.conf\n[cloud-init]\nenabled=true\n",
	  { .qemu = "/usr/bin/qemu-system-x86_64", .accel = GV_ACCEL_TCG,
	    .ovmf_code = "/usr/share/OVMF/OVMF_CODE_4M.fd",
	    .ovmf_vars = "/var/lib/grainvm/cloudy/efi-vars.fd", .firmware = GV_FIRMWARE_UEFI,
	    .disk = "/var/lib/grainvm/cloudy/overlay.qcow2",
	    .seed = "/var/cache/grainvm/cloud-init/seed-0123.img" } },
	{ "restore-disk", "[vm]\nname=snap\nmemory=512M\n[disk]\nsize=64M\n",
	  { .qemu = "/usr/bin/qemu-system-x86_64", .accel = GV_ACCEL_TCG,
	    .kernel = "/var/cache/grainvm/vmlinux/0123.elf",
	    .initrd = "/var/cache/grainvm/initramfs/4567.cpio", .grainvm_init = TRUE,
	    .firmware = GV_FIRMWARE_NONE, .disk = "/var/lib/grainvm/snap/snapshot-run.qcow2",
	    .incoming = TRUE } },
	{ "template", "[vm]\nname=tmpl\nmemory=512M\ntemplate=true\n",
	  { .qemu = "/usr/bin/qemu-system-x86_64", .accel = GV_ACCEL_TCG,
	    .kernel = "/var/cache/grainvm/vmlinux/0123.elf",
	    .initrd = "/var/cache/grainvm/initramfs/4567.cpio", .grainvm_init = TRUE,
	    .firmware = GV_FIRMWARE_NONE, .ram_file = "/dev/shm/grainvm-1000/tmpl-ab12cd.ram",
	    .ram_shared = TRUE } },
	{ "clone", "[vm]\nname=c1\nmemory=512M\n",
	  { .qemu = "/usr/bin/qemu-system-x86_64", .accel = GV_ACCEL_TCG,
	    .kernel = "/var/cache/grainvm/vmlinux/0123.elf",
	    .initrd = "/var/cache/grainvm/initramfs/4567.cpio", .grainvm_init = TRUE,
	    .firmware = GV_FIRMWARE_NONE, .ram_file = "/dev/shm/grainvm-1000/tmpl.base-ef34.ram",
	    .incoming = TRUE } },
};

static char *replace_all(const char *s, const char *from, const char *to)
{
	g_auto(GStrv) parts = g_strsplit(s, from, -1);
	return g_strjoinv(to, parts);
}

static void test_case(gconstpointer data)
{
	const Case *c = data;
	GvHostFacts facts = c->facts;
	facts.nics = c->nics;
	g_autofree char *dir = g_dir_make_tmp("gv-argv-XXXXXX", NULL);
	g_autofree char *conf = g_build_filename(dir, "grainvm.conf", NULL);
	g_assert_true(g_file_set_contents(conf, c->conf, -1, NULL));
	g_autoptr(GError) err = NULL;
	g_autoptr(GvSpec) spec = gv_spec_load(dir, NULL, NULL, dir, &err);
	g_assert_no_error(err);

	if (c->nics)
		g_assert_cmpuint(spec->nics->len, ==, c->n_nics);
	g_auto(GStrv) argv = gv_qemu_argv(spec, &facts);
	g_autofree char *joined = g_strjoinv("\n", argv);
	g_autofree char *text = replace_all(joined, dir, "@PROJECT@");
	g_autofree char *out = g_strconcat(text, "\n", NULL);

	g_autofree char *golden = g_strdup_printf("%s/tests/launcher/golden/%s.argv",
						  g_getenv("GV_SOURCE_ROOT"), c->name);
	if (g_getenv("GV_UPDATE_GOLDEN")) {
		g_assert_true(g_file_set_contents(golden, out, -1, NULL));
	} else {
		g_autofree char *want = NULL;
		if (!g_file_get_contents(golden, &want, NULL, NULL))
			g_error("missing %s (GV_UPDATE_GOLDEN=1 writes it)", golden);
		if (strcmp(want, out))
			g_error("argv for %s differs from %s:\n%s", c->name, golden, out);
	}
	g_unlink(conf);
	g_rmdir(dir);
}

/* Things the goldens would not make obvious. */
static void test_properties(void)
{
	g_autofree char *mac1 = gv_mac_for_name("vm1");
	g_autofree char *mac2 = gv_mac_for_name("vm2");
	g_autofree char *mac1b = gv_mac_for_name("vm1");
	g_assert_cmpstr(mac1, ==, mac1b);
	g_assert_cmpstr(mac1, !=, mac2);
	g_assert_true(g_str_has_prefix(mac1, "52:54:"));
	g_assert_cmpuint(strlen(mac1), ==, 17);
}

/* The files the supervisor opens match the /proc/self/fd/N the argv names. */
static void test_fd_files(void)
{
	g_autofree char *dir = g_dir_make_tmp("gv-argv-XXXXXX", NULL);
	g_autofree char *conf = g_build_filename(dir, "grainvm.conf", NULL);
	g_assert_true(g_file_set_contents(conf, "[vm]\nname=f\n[share b]\nsource=.\nmount=/b\n",
					  -1, NULL));
	g_autoptr(GError) err = NULL;
	g_autoptr(GvSpec) spec = gv_spec_load(dir, NULL, NULL, dir, &err);
	g_assert_no_error(err);
	GvHostFacts facts = { .qemu = "q", .accel = GV_ACCEL_TCG, .kernel = "/k", .initrd = "/i",
			      .firmware = GV_FIRMWARE_NONE };
	g_autoptr(GArray) none = gv_qemu_fd_files(spec, &facts);
	g_assert_cmpuint(none->len, ==, 0);
	facts.files_by_fd = TRUE;
	g_autoptr(GArray) files = gv_qemu_fd_files(spec, &facts);
	g_auto(GStrv) argv = gv_qemu_argv(spec, &facts);
	g_autofree char *joined = g_strjoinv(" ", argv);
	g_assert_cmpuint(files->len, ==, 2 + spec->shares->len);
	for (guint i = 0; i < files->len; i++) {
		const GvQemuFile *f = &g_array_index(files, GvQemuFile, i);
		g_autofree char *ref = g_strdup_printf("/proc/self/fd/%d", f->fd);
		g_assert_nonnull(strstr(joined, ref));
		g_assert_cmpint(f->fd, >=, GV_FD_KERNEL);
		g_assert_cmpint(f->directory, ==, i >= 2);
	}
	g_assert_null(strstr(joined, dir));
	g_unlink(conf);
	g_rmdir(dir);
}

/*
 * Under the drop, every descriptor an -add-fd names is one the supervisor
 * opens, read-write only for the UEFI variables and the top layer, and
 * no disk or UEFI path reaches QEMU except as an fd set's opaque label.
 */
static void test_block_fds(void)
{
	const Case *c = NULL;
	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++)
		if (!strcmp(cases[i].name, "files-by-fd-uefi-chain"))
			c = &cases[i];
	g_assert_nonnull(c);
	g_autofree char *dir = g_dir_make_tmp("gv-argv-XXXXXX", NULL);
	g_autofree char *conf = g_build_filename(dir, "grainvm.conf", NULL);
	g_assert_true(g_file_set_contents(conf, c->conf, -1, NULL));
	g_autoptr(GError) err = NULL;
	g_autoptr(GvSpec) spec = gv_spec_load(dir, NULL, NULL, dir, &err);
	g_assert_no_error(err);
	g_autoptr(GArray) files = gv_qemu_fd_files(spec, &c->facts);
	g_auto(GStrv) argv = gv_qemu_argv(spec, &c->facts);
	/* code, vars (rw and ro), seed, top (rw and ro), two bases */
	g_assert_cmpuint(files->len, ==, 8);
	guint writable = 0;
	for (guint i = 0; i < files->len; i++) {
		const GvQemuFile *f = &g_array_index(files, GvQemuFile, i);
		g_autofree char *want = g_strdup_printf("fd=%d,", f->fd);
		gboolean named = FALSE;
		for (char **a = argv; *a; a++)
			named = named || g_str_has_prefix(*a, want);
		g_assert_true(named);
		g_assert_cmpint(f->fd, >=, GV_FD_BLOCK_BASE);
		g_assert_cmpint(f->fd, <, GV_FD_KERNEL);
		if (f->writable) {
			writable++;
			g_assert_true(!strcmp(f->path, c->facts.ovmf_vars) ||
				      !strcmp(f->path, c->facts.disk));
		}
	}
	g_assert_cmpuint(writable, ==, 2);
	for (char **a = argv; *a; a++) {
		if (!strcmp(*a, "-add-fd"))
			a++;
		else
			g_assert_true(!strstr(*a, "/var/lib/grainvm") && !strstr(*a, "/srv/") &&
				      !strstr(*a, "/var/cache/grainvm/seed"));
	}
	g_unlink(conf);
	g_rmdir(dir);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/argv/fd-files", test_fd_files);
	g_test_add_func("/argv/block-fds", test_block_fds);
	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree char *path = g_strdup_printf("/argv/golden/%s", cases[i].name);
		g_test_add_data_func(path, &cases[i], test_case);
	}
	g_test_add_func("/argv/mac", test_properties);
	return g_test_run();
}
