/* SPDX-License-Identifier: MIT */
/*
 * test-spec.c - spec layering, validation errors, and docs/spec.md coverage
 *
 * Every test works in a fresh temporary project directory with real files,
 * the way a user's project looks.
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>

#include "gv-error.h"
#include "boot/spec.h"

typedef struct {
	char *dir;
} Fixture;

static void fx_setup(Fixture *f, gconstpointer data)
{
	f->dir = g_dir_make_tmp("gv-spec-XXXXXX", NULL);
	g_assert_nonnull(f->dir);
}

static void rm_tree(const char *path)
{
	g_autoptr(GDir) d = g_dir_open(path, 0, NULL);
	const char *n;
	while (d && (n = g_dir_read_name(d))) {
		g_autofree char *p = g_build_filename(path, n, NULL);
		if (g_file_test(p, G_FILE_TEST_IS_DIR) && !g_file_test(p, G_FILE_TEST_IS_SYMLINK))
			rm_tree(p);
		else
			g_unlink(p);
	}
	g_rmdir(path);
}

static void fx_teardown(Fixture *f, gconstpointer data)
{
	rm_tree(f->dir);
	g_free(f->dir);
}

static void write_file(Fixture *f, const char *name, const char *text)
{
	g_autofree char *p = g_build_filename(f->dir, name, NULL);
	g_assert_true(g_file_set_contents(p, text, -1, NULL));
}

static GvSpec *load(Fixture *f, const char *const *sets, GError **error)
{
	return gv_spec_load(f->dir, NULL, sets, f->dir, error);
}

static void test_default(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(GvSpec) s = load(f, NULL, &err);
	g_assert_no_error(err);
	g_autofree char *expect_name = gv_spec_default_name(f->dir);
	g_assert_cmpstr(s->name, ==, expect_name);
	g_assert_cmpuint(s->memory, ==, 1024ull * 1024 * 1024);
	g_assert_cmpint(s->kernel_kind, ==, GV_KERNEL_HOST);
	g_assert_cmpint(s->initrd_kind, ==, GV_INITRD_AUTO);
	g_assert_cmpuint(s->shares->len, ==, 1);
	GvShare *sh = g_ptr_array_index(s->shares, 0);
	g_assert_cmpstr(sh->tag, ==, "workspace");
	g_assert_cmpstr(sh->mount, ==, "/mnt/workspace");
	g_assert_cmpstr(sh->source, ==, f->dir);
	g_assert_cmpuint(sh->msize, ==, 512 * 1024);
	g_assert_cmpstr(sh->cache, ==, "mmap");
	g_assert_cmpstr(sh->security, ==, "mapped-xattr");
	g_assert_cmpuint(s->nics->len, ==, 1);
	GvNic *n = g_ptr_array_index(s->nics, 0);
	g_assert_cmpint(n->mode, ==, GV_NET_USER);
	g_assert_cmpstr(n->netdev, ==, "net0");
	g_autofree char *mac = gv_mac_for_name(s->name);
	g_assert_cmpstr(n->mac, ==, mac);
	g_assert_cmpstr(n->address, ==, "10.0.2.15/24");
	g_assert_false(n->auto_forward);
	/* No build command; the build would start in the workspace. */
	g_assert_null(s->build_command);
	g_assert_cmpstr(s->build_workdir, ==, "/mnt/workspace");
	g_assert_null(s->build_env[0]);
}

/* [build]: a shell line, a guest directory, ';'-separated variables. */
static void test_build(Fixture *f, gconstpointer data)
{
	write_file(f, "grainvm.conf",
		   "[build]\ncommand=make -j2 && echo done\n"
		   "env=CFLAGS=-O2 -g; NIX_CONFIG=cores = 2,max-jobs = 1\n");
	g_autoptr(GError) err = NULL;
	g_autoptr(GvSpec) s = load(f, NULL, &err);
	g_assert_no_error(err);
	g_assert_cmpstr(s->build_command, ==, "make -j2 && echo done");
	g_assert_cmpstr(s->build_workdir, ==, "/mnt/workspace");
	g_assert_cmpuint(g_strv_length(s->build_env), ==, 2);
	g_assert_cmpstr(s->build_env[0], ==, "CFLAGS=-O2 -g");
	g_assert_cmpstr(s->build_env[1], ==, "NIX_CONFIG=cores = 2,max-jobs = 1");

	const char *sets[] = { "build.workdir=/src", "share.workspace.enabled=false", NULL };
	g_autoptr(GvSpec) s2 = load(f, sets, &err);
	g_assert_no_error(err);
	g_assert_cmpstr(s2->build_workdir, ==, "/src");
	const char *sets3[] = { "share.workspace.enabled=false", NULL };
	g_autoptr(GvSpec) s3 = load(f, sets3, &err);
	g_assert_no_error(err);
	g_assert_null(s3->build_workdir);
}

/* grainvm.conf < grainvm.local.conf < --set, key by key, groups merged. */
static void test_layers(Fixture *f, gconstpointer data)
{
	g_autofree char *sub = g_build_filename(f->dir, "src", NULL);
	g_mkdir(sub, 0755);
	write_file(f, "grainvm.conf",
		   "[vm]\nname=proj\nmemory=2G\ncpus=2\n"
		   "[share code]\nsource=src\nreadonly=true\n"
		   "[net]\nforward=tcp:2222:22;8080:80\n");
	write_file(f, "grainvm.local.conf", "[vm]\nmemory=3G\n[share code]\nmount=/code\n");
	const char *sets[] = { "vm.cpus=4", "share.code.msize=128K", NULL };
	g_autoptr(GError) err = NULL;
	g_autoptr(GvSpec) s = load(f, sets, &err);
	g_assert_no_error(err);
	g_assert_cmpstr(s->name, ==, "proj");
	g_assert_cmpuint(s->memory, ==, 3ull << 30);      /* local wins */
	g_assert_cmpuint(s->cpus, ==, 4);                  /* --set wins */
	g_assert_cmpuint(s->shares->len, ==, 2);           /* code + default workspace */
	GvShare *code = g_ptr_array_index(s->shares, 0);
	g_assert_cmpstr(code->id, ==, "code");
	g_assert_cmpstr(code->source, ==, sub);            /* relative to grainvm.conf */
	g_assert_cmpstr(code->mount, ==, "/code");         /* from local, merged into the group */
	g_assert_true(code->readonly);                     /* kept from grainvm.conf */
	g_assert_cmpuint(code->msize, ==, 128 * 1024);
	GvNic *nic = g_ptr_array_index(s->nics, 0);
	g_assert_cmpuint(nic->forwards->len, ==, 2);
	GvForward *fw = g_ptr_array_index(nic->forwards, 1);
	g_assert_cmpstr(fw->proto, ==, "tcp");
	g_assert_cmpstr(fw->host_addr, ==, "127.0.0.1");
	g_assert_cmpuint(fw->host_port, ==, 8080);
	g_assert_cmpuint(fw->guest_port, ==, 80);

	/* config output names each key's layer. */
	g_autofree char *text = gv_spec_to_data(s, TRUE);
	g_assert_nonnull(strstr(text, "# from grainvm.local.conf\nmemory=3G"));
	g_assert_nonnull(strstr(text, "# from --set vm.cpus=4\ncpus=4"));
}

static void test_disable_default_share(Fixture *f, gconstpointer data)
{
	write_file(f, "grainvm.conf", "[share workspace]\nenabled=false\n");
	g_autoptr(GError) err = NULL;
	g_autoptr(GvSpec) s = load(f, NULL, &err);
	g_assert_no_error(err);
	g_assert_cmpuint(s->shares->len, ==, 0);
}

/*
 * The implicit share of the project directory is refused when that is a
 * home directory or /; an explicit source is not.  The fixture's
 * directory plays the home (a symlink to it too, compared after realpath).
 */
static void test_default_share_home(Fixture *f, gconstpointer data)
{
	g_autofree char *link = g_strconcat(f->dir, ".link", NULL);
	g_assert_cmpint(symlink(f->dir, link), ==, 0);
	const char *homes[] = { "/nonexistent-home", link, NULL };
	const char *elsewhere[] = { "/nonexistent-home", NULL };
	g_autoptr(GError) err = NULL;

	g_autoptr(GvSpec) s = load(f, NULL, &err);
	g_assert_no_error(err);
	g_assert_false(gv_spec_check_default_share(s, homes, &err));
	g_assert_error(err, GV_ERROR, GV_ERROR_INVALID);
	g_assert_nonnull(strstr(err->message, "[share workspace]"));
	g_assert_nonnull(strstr(err->message, "a home directory"));
	g_assert_nonnull(strstr(err->message, "--set share.workspace.source="));
	g_assert_null(strchr(err->message, '\n'));
	g_clear_error(&err);
	g_assert_true(gv_spec_check_default_share(s, elsewhere, &err));
	g_assert_no_error(err);

	/* readonly does not make it acceptable: reading ~/.ssh is the harm. */
	const char *ro[] = { "share.workspace.readonly=true", NULL };
	g_autoptr(GvSpec) r = load(f, ro, &err);
	g_assert_no_error(err);
	g_assert_false(gv_spec_check_default_share(r, homes, &err));
	g_clear_error(&err);

	/* Said on purpose, in a layer or with --set: allowed. */
	write_file(f, "grainvm.conf", "[share workspace]\nsource=.\n");
	g_autoptr(GvSpec) e = load(f, NULL, &err);
	g_assert_no_error(err);
	g_assert_true(gv_spec_check_default_share(e, homes, &err));
	g_assert_no_error(err);
	g_unlink(link);
}

static void test_default_share_root(void)
{
	g_autoptr(GError) err = NULL;
	/* No grainvm.conf in /: the built-in default alone. */
	if (g_file_test("/grainvm.conf", G_FILE_TEST_EXISTS)) {
		g_test_skip("/grainvm.conf exists on this host");
		return;
	}
	g_autoptr(GvSpec) s = gv_spec_load("/", NULL, NULL, "/", &err);
	g_assert_no_error(err);
	g_assert_false(gv_spec_check_default_share(s, NULL, &err));
	g_assert_nonnull(strstr(err->message, "the whole host filesystem"));
	g_clear_error(&err);
	const char *sets[] = { "share.workspace.source=/", NULL };
	g_autoptr(GvSpec) e = gv_spec_load("/", NULL, sets, "/", &err);
	g_assert_no_error(err);
	g_assert_true(gv_spec_check_default_share(e, NULL, &err));
}

static void test_trust_and_auto_forward_keys(Fixture *f, gconstpointer data)
{
	write_file(f, "base.img", "raw");
	write_file(f, "grainvm.conf", "[disk]\nimage=base.img\n");
	g_autoptr(GError) err = NULL;
	g_autoptr(GvSpec) s = load(f, NULL, &err);
	g_assert_no_error(err);
	g_assert_false(s->disk_trust_backing);
	const GvNic *n = gv_spec_first_nic(s, GV_NET_USER);
	g_assert_false(n->auto_forward_privileged);
	g_assert_cmpuint(n->auto_forward_max, ==, GV_AUTO_FORWARD_MAX_DEFAULT);

	const char *sets[] = { "disk.trust-backing=true", "net.auto-forward-privileged=true",
			       "net.auto-forward-max=3", NULL };
	g_autoptr(GvSpec) t = load(f, sets, &err);
	g_assert_no_error(err);
	g_assert_true(t->disk_trust_backing);
	g_assert_false(s->template_ram);
	n = gv_spec_first_nic(t, GV_NET_USER);
	g_assert_true(n->auto_forward_privileged);
	g_assert_cmpuint(n->auto_forward_max, ==, 3);

	const char *tsets[] = { "vm.template=true", NULL };
	g_autoptr(GvSpec) tm = load(f, tsets, &err);
	g_assert_no_error(err);
	g_assert_true(tm->template_ram);
}

typedef struct {
	const char *conf;
	const char *local;
	const char *set;
	const char *expect; /* substring of the one-line message */
} BadCase;

static const BadCase bad_cases[] = {
	{ "[vm]\nmemory=12Q\n", NULL, NULL, "grainvm.conf: [vm] memory: invalid size \"12Q\"" },
	{ "[vm]\nmemory=1M\n", NULL, NULL, "grainvm.conf: [vm] memory: size \"1M\" is below" },
	{ "[vm]\ncpus=0\n", NULL, NULL, "grainvm.conf: [vm] cpus: \"0\" is not a whole number" },
	{ "[vm]\nname=-bad\n", NULL, NULL, "grainvm.conf: [vm] name: invalid name" },
	{ "[vm]\naccel=hvf\n", NULL, NULL, "grainvm.conf: [vm] accel: \"hvf\" is not one of auto, kvm, tcg" },
	{ "[vm]\ncolour=red\n", NULL, NULL, "grainvm.conf: [vm] unknown key \"colour\"" },
	{ "[vmm]\nname=x\n", NULL, NULL, "grainvm.conf: unknown group [vmm]" },
	{ "[boot]\nkernel=does-not-exist\n", NULL, NULL, "grainvm.conf: [boot] kernel: " },
	{ "[disk]\nimage=nope.qcow2\n", NULL, NULL, "grainvm.conf: [disk] image: " },
	{ "[share x]\nsource=missing-dir\n", NULL, NULL, "grainvm.conf: [share x] source: " },
	{ "[share x]\nsource=.\nmount=relative\n", NULL, NULL, "[share x] mount: \"relative\" is not an absolute" },
	{ "[share x]\nsource=.\nmount=/mnt/workspace\n", NULL, NULL, "is the mount point of another share" },
	{ "[net]\nforward=tcp:99999:22\n", NULL, NULL, "grainvm.conf: [net] forward: forward \"tcp:99999:22\": ports must be" },
	{ "[net]\nforward=ssh\n", NULL, NULL, "is not [tcp|udp:][HOSTADDR:]HOSTPORT:GUESTPORT" },
	{ "[net]\nmode=vde\n", NULL, NULL, "grainvm.conf: [net] mode: \"vde\" is not one of user, none, bridge, switch" },
	{ "[net]\nmode=bridge\n", NULL, NULL, "grainvm.conf: [net] mode: mode=bridge needs bridge=NAME" },
	{ "[net]\nmode=bridge\nbridge=br0\nforward=8080:80\n", NULL, NULL, "[net] forward: only for mode=user (this NIC is mode=bridge)" },
	{ "[net]\nbridge=br0\n", NULL, NULL, "[net] bridge: only for mode=bridge (this NIC is mode=user)" },
	{ "[net]\nmode=switch\nnetwork=-x\n", NULL, NULL, "[net] network: invalid network name \"-x\"" },
	{ "[net]\nmode=bridge\nbridge=a/b\n", NULL, NULL, "[net] bridge: \"a/b\" is not an interface name" },
	{ "[net]\nmode=bridge\nbridge=br0\naddress=10.1.2.3\n", NULL, NULL, "[net] address: \"10.1.2.3\" is not auto, none or an IPv4 address with a prefix" },
	{ "[net]\nmode=bridge\nbridge=br0\naddress=auto\n", NULL, NULL, "[net] address: auto is only for mode=switch" },
	{ "[net]\nmode=bridge\nbridge=br0\ngateway=10.1.2.1\n", NULL, NULL, "[net] gateway: needs a static address=" },
	{ "[net]\nmac=53:54:00:12:34:56\n", NULL, NULL, "[net] mac: \"53:54:00:12:34:56\" is not a unicast MAC" },
	{ "[net]\nmac=52:54:00:12:34:56\n[net b]\nmac=52:54:00:12:34:56\n", NULL, NULL, "[net b] mac: 52:54:00:12:34:56 is also the MAC of [net]" },
	{ "[net bad.name]\nmode=user\n", NULL, NULL, "unknown group [net bad.name]" },
	{ "[net]\nmtu=9000\n", NULL, NULL, "[net] mtu: only for mode=switch (this NIC is mode=user)" },
	{ "[net]\nmode=switch\nmtu=70000\n", NULL, NULL, "[net] mtu: \"70000\" is not a whole number from 576 to 65520" },
	{ "[net]\nmode=none\nforward=8080:80\n", NULL, NULL, "[net] forward: only for mode=user (this NIC is mode=none)" },
	{ "[net]\nauto-forward-max=0\n", NULL, NULL, "[net] auto-forward-max: \"0\" is not a whole number from 1 to 65535" },
	{ "[net]\nmode=switch\nauto-forward-privileged=true\n", NULL, NULL, "[net] auto-forward-privileged: only for mode=user" },
	{ "[disk]\ntrust-backing=maybe\n", NULL, NULL, "grainvm.conf: [disk] trust-backing: " },
	{ "[vm]\ntemplate=yes\n", NULL, NULL, "grainvm.conf: [vm] template: " },
	{ NULL, NULL, "net.lan.mode=bridge", "--set net.lan.mode=bridge: [net lan] mode: mode=bridge needs bridge=NAME" },
	{ "[vm]\nboot-from=../up\n", NULL, NULL, "grainvm.conf: [vm] boot-from: invalid snapshot tag \"../up\"" },
	{ "not a key file\n", NULL, NULL, "grainvm.conf: " },
	{ NULL, "[vm]\nmemory=lots\n", NULL, "grainvm.local.conf: [vm] memory: invalid size" },
	{ NULL, NULL, "vm.memory=lots", "--set vm.memory=lots: [vm] memory: invalid size" },
	{ NULL, NULL, "memory=2G", "--set \"memory=2G\" is not GROUP.KEY=VALUE" },
	{ NULL, NULL, "vm.nokey=1", "--set vm.nokey=1: [vm] unknown key \"nokey\"" },
	/* The final value is what is checked for existence: an override fixes it. */
	{ "[boot]\nkernel=missing\n", NULL, "boot.kernel=also-missing", "--set boot.kernel=also-missing: [boot] kernel: " },
	{ "[boot]\nkernel=none\n", NULL, NULL, "nothing to boot: no kernel and no [disk] image" },
	{ "[nixos]\nsystem=result\nflake=.#t\nstore=.\n", NULL, NULL,
	  "grainvm.conf: [nixos] flake: [nixos] has both system and flake" },
	{ "[nixos]\nflake=nohash\n", NULL, NULL, "grainvm.conf: [nixos] flake: \"nohash\" is not REF#NAME" },
	{ "[nixos]\nflake=.#\n", NULL, NULL, "grainvm.conf: [nixos] flake: \".#\" is not REF#NAME" },
	{ "[nixos]\nflake=.#a b\n", NULL, NULL, "is not REF#NAME (no spaces)" },
	{ "[nixos]\nstore=.\n", NULL, NULL, "grainvm.conf: [nixos] store: is used only with" },
	{ "[nixos]\nsystem=result\nstore=missing\n", NULL, NULL, "grainvm.conf: [nixos] store: " },
	{ "[nixos]\nsystem=result\nstore=.\n", "[boot]\nkernel=host\n", NULL,
	  "grainvm.local.conf: [boot] kernel: [nixos] boots the system's own kernel" },
	{ "[nixos]\nsystem=result\nstore=.\n[share s]\nsource=.\ntag=nix-store\n", NULL, NULL,
	  "[share s] tag: tag \"nix-store\" is the store's with [nixos]" },
	{ "[nixos]\nsystem=result\nstore=.\n[share s]\nsource=.\nmount=/nix/var\n", NULL, NULL,
	  "[share s] mount: /nix/var is under /nix" },
	{ "[build]\nenv=FOO\n", NULL, NULL, "grainvm.conf: [build] env: \"FOO\" is not NAME=VALUE" },
	{ "[build]\nenv=A=1;2X=3\n", NULL, NULL, "[build] env: \"2X=3\" is not NAME=VALUE" },
	{ "[build]\nworkdir=src\n", NULL, NULL, "[build] workdir: \"src\" is not an absolute" },
	{ "[build]\ncmd=make\n", NULL, NULL, "grainvm.conf: [build] unknown key \"cmd\"" },
};

static void test_bad(Fixture *f, gconstpointer data)
{
	const BadCase *c = data;
	if (c->conf)
		write_file(f, "grainvm.conf", c->conf);
	if (c->local)
		write_file(f, "grainvm.local.conf", c->local);
	const char *sets[] = { c->set, NULL };
	g_autoptr(GError) err = NULL;
	g_autoptr(GvSpec) s = load(f, c->set ? sets : NULL, &err);
	g_assert_null(s);
	g_assert_error(err, GV_ERROR, GV_ERROR_INVALID);
	if (!strstr(err->message, c->expect))
		g_error("message \"%s\" lacks \"%s\"", err->message, c->expect);
	g_assert_null(strchr(err->message, '\n')); /* one line */
}

/* [nixos]: the store becomes a read-only share beside the workspace. */
static void test_nixos(Fixture *f, gconstpointer data)
{
	write_file(f, "grainvm.conf", "[nixos]\nsystem=result\nstore=.\n");
	g_autoptr(GError) err = NULL;
	g_autoptr(GvSpec) s = load(f, NULL, &err);
	g_assert_no_error(err);
	g_autofree char *result = g_build_filename(f->dir, "result", NULL);
	g_assert_cmpstr(s->nixos_system, ==, result);      /* relative to grainvm.conf */
	g_assert_null(s->nixos_flake);
	g_assert_cmpstr(s->nixos_store, ==, f->dir);
	g_assert_cmpint(s->kernel_kind, ==, GV_KERNEL_NIXOS);
	g_assert_cmpuint(s->shares->len, ==, 2);
	GvShare *st = g_ptr_array_index(s->shares, 0);
	g_assert_cmpstr(st->tag, ==, "nix-store");
	g_assert_cmpstr(st->source, ==, f->dir);
	g_assert_cmpstr(st->mount, ==, "/nix/.ro-store");
	g_assert_true(st->readonly);
	g_assert_cmpstr(st->cache, ==, "loose");
	g_assert_cmpstr(st->security, ==, "none");
	GvShare *ws = g_ptr_array_index(s->shares, 1);
	g_assert_cmpstr(ws->tag, ==, "workspace");

	/* A flake from --set replaces nothing else; the default store is /nix/store. */
	const char *sets[] = { "nixos.flake=github:me/cfg#test-vm", NULL };
	write_file(f, "grainvm.conf", "[vm]\nname=t\n");
	g_autoptr(GvSpec) s2 = load(f, sets, &err);
	if (g_file_test("/nix/store", G_FILE_TEST_IS_DIR)) {
		g_assert_no_error(err);
		g_assert_cmpstr(s2->nixos_flake, ==, "github:me/cfg#test-vm");
		g_assert_cmpstr(s2->nixos_store, ==, "/nix/store");
	} else {
		/* No Nix on this host: the missing store is named, with the layer that asked. */
		g_assert_null(s2);
		g_assert_nonnull(strstr(err->message, "--set nixos.flake=github:me/cfg#test-vm: [nixos] flake: needs the Nix store, and /nix/store does not exist"));
	}
}

static void test_override_fixes(Fixture *f, gconstpointer data)
{
	/* A bad path in grainvm.conf is fine when a later layer replaces it. */
	write_file(f, "grainvm.conf", "[boot]\nkernel=missing\n");
	write_file(f, "grainvm.local.conf", "[boot]\nkernel=host\n");
	g_autoptr(GError) err = NULL;
	g_autoptr(GvSpec) s = load(f, NULL, &err);
	g_assert_no_error(err);
	g_assert_cmpint(s->kernel_kind, ==, GV_KERNEL_HOST);
}

static void test_name_lenient(Fixture *f, gconstpointer data)
{
	write_file(f, "grainvm.conf", "[vm]\nname=keepme\nmemory=garbage\n[weird]\nx=1\n");
	g_autoptr(GError) err = NULL;
	g_autofree char *name = gv_spec_load_name(f->dir, NULL, &err);
	g_assert_no_error(err);
	g_assert_cmpstr(name, ==, "keepme");
}

/* [net] and [net NAME]: order, modes, defaults, MACs. */
static void test_nics(Fixture *f, gconstpointer data)
{
	write_file(f, "grainvm.conf",
		   "[vm]\nname=multi\n"
		   "[net]\nmode=bridge\nbridge=br0\naddress=192.168.7.5/24\ngateway=192.168.7.1\n"
		   "[net zz]\nmode=switch\nnetwork=lab\n"
		   "[net aa]\nauto-forward=true\nforward=udp:5353:53\n"
		   "[net gone]\nmode=none\n"
		   "[net fixed]\nmode=switch\naddress=10.0.2.50/24\nmac=02:00:00:00:00:01\n"
		   "[net own]\nmode=switch\naddress=none\nmtu=1500\n");
	g_autoptr(GError) err = NULL;
	g_autoptr(GvSpec) s = load(f, NULL, &err);
	g_assert_no_error(err);
	g_assert_cmpuint(s->nics->len, ==, 5);
	GvNic *br = g_ptr_array_index(s->nics, 0), *aa = g_ptr_array_index(s->nics, 1),
	      *fixed = g_ptr_array_index(s->nics, 2), *own = g_ptr_array_index(s->nics, 3),
	      *zz = g_ptr_array_index(s->nics, 4);
	g_assert_cmpstr(br->id, ==, "");
	g_assert_cmpint(br->mode, ==, GV_NET_BRIDGE);
	g_assert_cmpstr(br->bridge, ==, "br0");
	g_assert_cmpstr(br->address, ==, "192.168.7.5/24");
	g_assert_cmpstr(br->gateway, ==, "192.168.7.1");
	g_assert_null(br->dns);
	g_autofree char *mac0 = gv_mac_for_name("multi");
	g_assert_cmpstr(br->mac, ==, mac0);

	/* [net NAME] without a mode is user-mode; its MAC is seeded "VM/NAME". */
	g_assert_cmpstr(aa->id, ==, "aa");
	g_assert_cmpstr(aa->netdev, ==, "net-aa");
	g_assert_cmpint(aa->mode, ==, GV_NET_USER);
	g_assert_true(aa->auto_forward);
	g_assert_cmpuint(aa->forwards->len, ==, 1);
	g_autofree char *mac_aa = gv_mac_for_name("multi/aa");
	g_assert_cmpstr(aa->mac, ==, mac_aa);

	g_assert_cmpstr(fixed->address, ==, "10.0.2.50/24");
	g_assert_false(fixed->lease);
	g_assert_cmpstr(fixed->gateway, ==, "10.0.2.2");
	g_assert_cmpstr(fixed->mac, ==, "02:00:00:00:00:01");
	g_assert_cmpstr(fixed->network, ==, "default");

	g_assert_null(own->address);
	g_assert_false(own->lease);
	g_assert_null(own->gateway);
	g_assert_cmpuint(own->mtu, ==, 1500);

	g_assert_cmpstr(zz->network, ==, "lab");
	g_assert_true(zz->lease);
	g_assert_null(zz->address);
	g_assert_cmpstr(zz->dns, ==, "10.0.2.3");
	g_assert_cmpuint(zz->mtu, ==, 65520);
	g_assert_cmpuint(br->mtu, ==, 0);
	g_assert_cmpuint(aa->mtu, ==, 0);
	g_assert_true(gv_spec_first_nic(s, GV_NET_SWITCH) == fixed);
	g_assert_null(gv_spec_first_nic(s, GV_NET_NONE));

	/* --set reaches [net NAME] without quoting, and mode=none drops the primary. */
	const char *sets[] = { "net.mode=none", "net.zz.network=other", NULL };
	g_autoptr(GvSpec) s2 = load(f, sets, &err);
	g_assert_no_error(err);
	g_assert_cmpuint(s2->nics->len, ==, 4);
	GvNic *first = g_ptr_array_index(s2->nics, 0), *last = g_ptr_array_index(s2->nics, 3);
	g_assert_cmpstr(first->id, ==, "aa");
	g_assert_cmpstr(last->network, ==, "other");
}

static void test_sizes(void)
{
	struct { const char *t; guint64 bare; guint64 v; gboolean ok; } c[] = {
		{ "512M", 1, 512ull << 20, TRUE },  { "1G", 1, 1ull << 30, TRUE },
		{ "1.5G", 1, 3ull << 29, TRUE },    { "2048", 1 << 20, 2048ull << 20, TRUE },
		{ "4096", 1, 4096, TRUE },          { "2GiB", 1, 2ull << 30, TRUE },
		{ "64KB", 1, 64 << 10, TRUE },      { "1T", 1, 1ull << 40, TRUE },
		{ "", 1, 0, FALSE },                { "G", 1, 0, FALSE },
		{ "-1G", 1, 0, FALSE },             { "1Q", 1, 0, FALSE },
		{ "99999999999999999999", 1, 0, FALSE }, { "20000000000T", 1, 0, FALSE },
		{ "1.5", 1, 0, FALSE },
	};
	for (gsize i = 0; i < G_N_ELEMENTS(c); i++) {
		guint64 v = 0;
		gboolean ok = gv_parse_size(c[i].t, c[i].bare, &v);
		if (ok != c[i].ok || (ok && v != c[i].v))
			g_error("size \"%s\": ok=%d v=%" G_GUINT64_FORMAT, c[i].t, ok, v);
	}
}

static void test_names(void)
{
	g_assert_true(gv_spec_name_valid("a"));
	g_assert_true(gv_spec_name_valid("web-1.test_x"));
	g_assert_false(gv_spec_name_valid(""));
	g_assert_false(gv_spec_name_valid(".hidden"));
	g_assert_false(gv_spec_name_valid("a/b"));
	g_assert_false(gv_spec_name_valid("a b"));
	g_autofree char *n1 = gv_spec_default_name("/home/me/My Project!");
	g_assert_cmpstr(n1, ==, "My-Project-");
	g_autofree char *n2 = gv_spec_default_name("/");
	g_assert_cmpstr(n2, ==, "default");
	g_autofree char *n3 = gv_spec_default_name("/x/.dotdir");
	g_assert_cmpstr(n3, ==, "dotdir");
}

/* Every schema key is documented in docs/spec.md, and nothing else is. */
static void test_docs(void)
{
	g_autofree char *path = g_build_filename(g_getenv("GV_SOURCE_ROOT"), "docs", "spec.md", NULL);
	g_autofree char *doc = NULL;
	g_assert_true(g_file_get_contents(path, &doc, NULL, NULL));
	for (const char *const *k = gv_spec_key_names(); *k; k++) {
		const char *dot = strchr(*k, '.');
		g_autofree char *group = g_strndup(*k, dot - *k);
		g_autofree char *needle = g_strdup_printf("`%s`", dot + 1);
		g_autofree char *heading = g_strdup_printf("## [%s", group);
		const char *sec = strstr(doc, heading);
		if (!sec)
			g_error("docs/spec.md has no section %s]", heading);
		const char *next = strstr(sec + 3, "\n## ");
		const char *hit = strstr(sec, needle);
		if (!hit || (next && hit > next))
			g_error("docs/spec.md does not document %s in its [%s] section", *k, group);
	}
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add("/spec/default", Fixture, NULL, fx_setup, test_default, fx_teardown);
	g_test_add("/spec/layers", Fixture, NULL, fx_setup, test_layers, fx_teardown);
	g_test_add("/spec/build", Fixture, NULL, fx_setup, test_build, fx_teardown);
	g_test_add("/spec/disable-default-share", Fixture, NULL, fx_setup, test_disable_default_share, fx_teardown);
	g_test_add("/spec/nixos", Fixture, NULL, fx_setup, test_nixos, fx_teardown);
	g_test_add("/spec/override-fixes", Fixture, NULL, fx_setup, test_override_fixes, fx_teardown);
	g_test_add("/spec/name-lenient", Fixture, NULL, fx_setup, test_name_lenient, fx_teardown);
	g_test_add("/spec/nics", Fixture, NULL, fx_setup, test_nics, fx_teardown);
	for (gsize i = 0; i < G_N_ELEMENTS(bad_cases); i++) {
		g_autofree char *name = g_strdup_printf("/spec/bad/%02zu", i);
		g_test_add(name, Fixture, &bad_cases[i], fx_setup, test_bad, fx_teardown);
	}
	g_test_add("/spec/default-share-home", Fixture, NULL, fx_setup, test_default_share_home, fx_teardown);
	g_test_add_func("/spec/default-share-root", test_default_share_root);
	g_test_add("/spec/trust-and-auto-forward-keys", Fixture, NULL, fx_setup,
		   test_trust_and_auto_forward_keys, fx_teardown);
	g_test_add_func("/spec/sizes", test_sizes);
	g_test_add_func("/spec/names", test_names);
	g_test_add_func("/spec/docs", test_docs);
	return g_test_run();
}
