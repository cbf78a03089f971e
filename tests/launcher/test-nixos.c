/* SPDX-License-Identifier: MIT */
/*
 * test-nixos.c - finding a NixOS system's toplevel in a store ([nixos])
 *
 * There is no NixOS system on this host, so each test lays out a store
 * the way Nix does (toplevel with kernel, initrd and init as symlinks to
 * other store paths, kernel-params as a file) in a temporary directory
 * and points [nixos] store at it: that is exactly the case of a store kept
 * outside /nix/store (`nix --store DIR`), where every store path has to be
 * mapped to the host directory.  Building with `nix build` is covered by
 * tests/vm/nixos-toplevel.sh with the real nix.
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gv-error.h"
#include "boot/nixos.h"

typedef struct {
	char *dir;    /* the temporary directory */
	char *store;  /* DIR/root/nix/store, the store's host directory */
} Fixture;

static void put(const char *path, const char *text)
{
	g_autofree char *dir = g_path_get_dirname(path);
	g_assert_cmpint(g_mkdir_with_parents(dir, 0755), ==, 0);
	g_assert_true(g_file_set_contents(path, text, -1, NULL));
}

static void link_to(const char *target, const char *path)
{
	g_autofree char *dir = g_path_get_dirname(path);
	g_assert_cmpint(g_mkdir_with_parents(dir, 0755), ==, 0);
	g_assert_cmpint(symlink(target, path), ==, 0);
}

static char *in(Fixture *f, const char *rel)
{
	return g_build_filename(f->store, rel, NULL);
}

/* A toplevel laid out as nixos/modules/system/activation/top-level.nix does. */
static void make_toplevel(Fixture *f, const char *name, const char *params)
{
	g_autofree char *top = in(f, name);
	g_autofree char *kernel = g_build_filename(top, "kernel", NULL);
	g_autofree char *initrd = g_build_filename(top, "initrd", NULL);
	g_autofree char *init = g_build_filename(top, "init", NULL);
	g_autofree char *kp = g_build_filename(top, "kernel-params", NULL);
	g_autofree char *bz = in(f, "1111-linux-6.6/bzImage");
	g_autofree char *rd = in(f, "2222-initrd-linux-6.6/initrd");
	g_autofree char *s2 = in(f, "3333-nixos-system-stage-2-init.sh");
	put(bz, "kernel");
	put(rd, "initrd");
	put(s2, "#!/bin/sh\n");
	link_to("/nix/store/1111-linux-6.6/bzImage", kernel);
	link_to("/nix/store/2222-initrd-linux-6.6/initrd", initrd);
	link_to("/nix/store/3333-nixos-system-stage-2-init.sh", init);
	if (params)
		put(kp, params);
}

static void fx_setup(Fixture *f, gconstpointer data)
{
	f->dir = g_dir_make_tmp("gv-nixos-XXXXXX", NULL);
	g_assert_nonnull(f->dir);
	f->store = g_build_filename(f->dir, "root", "nix", "store", NULL);
	g_assert_cmpint(g_mkdir_with_parents(f->store, 0755), ==, 0);
}

static void fx_teardown(Fixture *f, gconstpointer data)
{
	g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", f->dir);
	g_assert_cmpint(system(cmd), ==, 0);
	g_free(f->dir);
	g_free(f->store);
}

static GvNixosSystem *prepare(Fixture *f, const char *system_path, GError **error)
{
	GvSpec spec = { .nixos_system = (char *)system_path, .nixos_store = f->store };
	return gv_nixos_prepare(&spec, f->dir, error);
}

/* ./result -> /nix/store/X, and every link inside X, are followed through the store. */
static void test_chroot_store(Fixture *f, gconstpointer data)
{
	make_toplevel(f, "0000-nixos-system-t-24.05", "loglevel=4 lsm=landlock\n");
	g_autofree char *result = g_build_filename(f->dir, "result", NULL);
	link_to("/nix/store/0000-nixos-system-t-24.05", result);

	g_autoptr(GError) err = NULL;
	g_autoptr(GvNixosSystem) sys = prepare(f, result, &err);
	g_assert_no_error(err);
	g_assert_cmpstr(sys->toplevel, ==, "/nix/store/0000-nixos-system-t-24.05");
	g_autofree char *bz = in(f, "1111-linux-6.6/bzImage");
	g_autofree char *rd = in(f, "2222-initrd-linux-6.6/initrd");
	g_assert_cmpstr(sys->kernel, ==, bz);
	g_assert_cmpstr(sys->initrd, ==, rd);
	g_assert_cmpstr(sys->params, ==, "loglevel=4 lsm=landlock");
	g_assert_nonnull(strstr(sys->source, result));

	/* Given as the store names it, the same system. */
	g_autoptr(GvNixosSystem) again = prepare(f, "/nix/store/0000-nixos-system-t-24.05", &err);
	g_assert_no_error(err);
	g_assert_cmpstr(again->kernel, ==, bz);
}

typedef struct {
	const char *what;
	const char *params;      /* kernel-params, NULL: none */
	const char *system;      /* relative to the fixture dir, or a store path */
	const char *expect;      /* substring of the message */
} BadCase;

static const BadCase bad_cases[] = {
	{ "not-in-store", "x", "plain-dir", "is not a store path in /nix/store" },
	{ "missing", "x", "/nix/store/9999-nope", "[nixos] system: /nix/store/9999-nope: No such file" },
	{ "no-kernel-params", NULL, "/nix/store/0000-nixos-system-t", "kernel-params: No such file" },
	{ "control-byte", "quiet\001", "/nix/store/0000-nixos-system-t", "byte 0x01 that is not text" },
	{ "file-not-dir", "x", "/nix/store/2222-initrd-linux-6.6/initrd", "is not a directory" },
	{ "inside-a-store-path", "x", "/nix/store/2222-initrd-linux-6.6/sub", "is not a store path" },
	{ "loop", "x", "loop-a", "Too many levels of symbolic links" },
};

static void test_bad(Fixture *f, gconstpointer data)
{
	const BadCase *c = data;
	make_toplevel(f, "0000-nixos-system-t", c->params);
	g_autofree char *plain = g_build_filename(f->dir, "plain-dir", NULL);
	g_mkdir(plain, 0755);
	g_autofree char *la = g_build_filename(f->dir, "loop-a", NULL);
	g_autofree char *lb = g_build_filename(f->dir, "loop-b", NULL);
	link_to(lb, la);
	link_to(la, lb);
	/* A directory inside a store path: not a toplevel. */
	g_autofree char *sub = in(f, "2222-initrd-linux-6.6/sub");
	g_mkdir(sub, 0755);

	g_autofree char *sys_path = c->system[0] == '/' ? g_strdup(c->system)
						       : g_build_filename(f->dir, c->system, NULL);
	g_autoptr(GError) err = NULL;
	g_autoptr(GvNixosSystem) sys = prepare(f, sys_path, &err);
	g_assert_null(sys);
	g_assert_error(err, GV_ERROR, GV_ERROR_INVALID);
	if (!strstr(err->message, c->expect))
		g_error("%s: message \"%s\" lacks \"%s\"", c->what, err->message, c->expect);
	g_assert_true(g_str_has_prefix(err->message, "[nixos] system: "));
	g_assert_null(strchr(err->message, '\n'));
}

static void test_params_too_long(Fixture *f, gconstpointer data)
{
	g_autofree char *params = g_strnfill(2000, 'x');
	make_toplevel(f, "0000-nixos-system-t", params);
	g_autoptr(GError) err = NULL;
	g_autoptr(GvNixosSystem) sys = prepare(f, "/nix/store/0000-nixos-system-t", &err);
	g_assert_null(sys);
	g_assert_error(err, GV_ERROR, GV_ERROR_INVALID);
	g_assert_nonnull(strstr(err->message, "kernel-params is 2000 bytes"));
}

/* flake= without nix: bad input, said at once, nothing built. */
static void test_flake_without_nix(Fixture *f, gconstpointer data)
{
	g_setenv("GRAINVM_NIX", "grainvm-test-no-such-nix", TRUE);
	GvSpec spec = { .nixos_flake = ".#t", .nixos_store = f->store, .project_dir = f->dir };
	g_autoptr(GError) err = NULL;
	g_autoptr(GvNixosSystem) sys = gv_nixos_prepare(&spec, f->dir, &err);
	g_unsetenv("GRAINVM_NIX");
	g_assert_null(sys);
	g_assert_error(err, GV_ERROR, GV_ERROR_INVALID);
	g_assert_nonnull(strstr(err->message, "[nixos] flake needs nix, and grainvm-test-no-such-nix is not in PATH"));
	g_autofree char *link = g_build_filename(f->dir, "nixos-system", NULL);
	g_assert_false(g_file_test(link, G_FILE_TEST_EXISTS));
}

static void test_installable(void)
{
	struct { const char *flake, *want; } c[] = {
		{ ".#test-vm", ".#nixosConfigurations.test-vm.config.system.build.toplevel" },
		{ "github:me/cfg?dir=vm#box_1", "github:me/cfg?dir=vm#nixosConfigurations.box_1.config.system.build.toplevel" },
		{ "path:/a#b#my.host", "path:/a#b#nixosConfigurations.\"my.host\".config.system.build.toplevel" },
		{ ".#1st", ".#nixosConfigurations.\"1st\".config.system.build.toplevel" },
	};
	for (gsize i = 0; i < G_N_ELEMENTS(c); i++) {
		g_autofree char *got = gv_nixos_installable(c[i].flake);
		g_assert_cmpstr(got, ==, c[i].want);
	}
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add("/nixos/chroot-store", Fixture, NULL, fx_setup, test_chroot_store, fx_teardown);
	for (gsize i = 0; i < G_N_ELEMENTS(bad_cases); i++) {
		g_autofree char *name = g_strdup_printf("/nixos/bad/%s", bad_cases[i].what);
		g_test_add(name, Fixture, &bad_cases[i], fx_setup, test_bad, fx_teardown);
	}
	g_test_add("/nixos/params-too-long", Fixture, NULL, fx_setup, test_params_too_long, fx_teardown);
	g_test_add("/nixos/flake-without-nix", Fixture, NULL, fx_setup, test_flake_without_nix, fx_teardown);
	g_test_add_func("/nixos/installable", test_installable);
	return g_test_run();
}
