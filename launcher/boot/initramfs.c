/* SPDX-License-Identifier: MIT */
/* initramfs.c - newc cpio writer, module resolution, the cached initramfs */
#include "boot/initramfs.h"

#include <elf.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include <glib/gstdio.h>

#include "boot/decompress.h"
#include "gv-error.h"
#include "boot/kernel.h"
#include "paths.h"
#include "fileio.h"

/*
 * Bump when the layout of the archive changes, so cached archives built
 * by an older grainvm are not reused.
 */
#define INITRAMFS_FORMAT 3

/*
 * button + evdev: the ACPI power button as /dev/input/eventN, which the
 * agent watches so that QMP system_powerdown shuts the guest down cleanly.
 */
const char *const gv_default_guest_modules[] = {
	"virtio_pci", "virtio_console", "9pnet_virtio", "9p", "virtio_net",
	"virtio_blk", "button", "evdev", "pvpanic_pci", NULL,
};

/* ---- cpio ---------------------------------------------------------------- */

struct GvCpio {
	GByteArray *buf;
	guint ino;
};

GvCpio *gv_cpio_new(void)
{
	GvCpio *c = g_new0(GvCpio, 1);
	c->buf = g_byte_array_new();
	c->ino = 1;
	return c;
}

static void pad4(GByteArray *b)
{
	static const guint8 zero[4];
	g_byte_array_append(b, zero, (4 - b->len % 4) % 4);
}

static void entry(GvCpio *c, const char *path, guint mode, guint rmaj, guint rmin,
		  const void *data, gsize len)
{
	/* newc: "070701", then 13 eight-digit hex fields; name and data 4-aligned. */
	while (*path == '/')
		path++;
	char hdr[111];
	g_snprintf(hdr, sizeof(hdr),
		   "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		   c->ino++, mode, 0u, 0u, 1u, 0u, (guint)len, 0u, 0u, rmaj, rmin,
		   (guint)strlen(path) + 1, 0u);
	g_byte_array_append(c->buf, (const guint8 *)hdr, 110);
	g_byte_array_append(c->buf, (const guint8 *)path, (guint)strlen(path) + 1);
	pad4(c->buf);
	if (len) {
		g_byte_array_append(c->buf, data, (guint)len);
		pad4(c->buf);
	}
}

void gv_cpio_dir(GvCpio *c, const char *path, guint mode)
{
	entry(c, path, S_IFDIR | mode, 0, 0, NULL, 0);
}

void gv_cpio_file(GvCpio *c, const char *path, guint mode, const void *data, gsize len)
{
	entry(c, path, S_IFREG | mode, 0, 0, data, len);
}

void gv_cpio_symlink(GvCpio *c, const char *path, const char *target)
{
	entry(c, path, S_IFLNK | 0777, 0, 0, target, strlen(target));
}

void gv_cpio_chardev(GvCpio *c, const char *path, guint mode, guint major, guint minor)
{
	entry(c, path, S_IFCHR | mode, major, minor, NULL, 0);
}

GBytes *gv_cpio_finish(GvCpio *c)
{
	entry(c, "TRAILER!!!", 0, 0, 0, NULL, 0);
	/* The kernel reads the archive in 512-byte blocks; pad like cpio(1). */
	while (c->buf->len % 512)
		g_byte_array_append(c->buf, (const guint8 *)"", 1);
	GBytes *b = g_byte_array_free_to_bytes(c->buf);
	g_free(c);
	return b;
}

/* ---- modules -------------------------------------------------------------- */

/* "kernel/fs/9p/9p.ko.xz" -> "9p"; '-' folded to '_' as modprobe does. */
static char *module_name_of(const char *path)
{
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	const char *dot = strstr(base, ".ko");
	char *name = g_strndup(base, dot ? (gsize)(dot - base) : strlen(base));
	g_strdelimit(name, "-", '_');
	return name;
}

typedef struct {
	GHashTable *path;    /* name -> relative path */
	GHashTable *deps;    /* name -> GStrv of relative paths */
	GHashTable *builtin; /* name set */
} ModIndex;

static void mod_index_clear(ModIndex *ix)
{
	g_clear_pointer(&ix->path, g_hash_table_unref);
	g_clear_pointer(&ix->deps, g_hash_table_unref);
	g_clear_pointer(&ix->builtin, g_hash_table_unref);
}

static gboolean mod_index_load(ModIndex *ix, const char *moddir, GError **error)
{
	g_autofree char *dep_path = g_build_filename(moddir, "modules.dep", NULL);
	g_autofree char *dep = NULL;
	g_autoptr(GError) err = NULL;
	if (!g_file_get_contents(dep_path, &dep, NULL, &err)) {
		g_set_error(error, GV_ERROR, GV_ERROR_INVALID,
			    "cannot read %s: %s (are the kernel's modules installed?)", dep_path,
			    err->message);
		return FALSE;
	}
	ix->path = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	ix->deps = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)g_strfreev);
	ix->builtin = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);

	g_auto(GStrv) lines = g_strsplit(dep, "\n", -1);
	for (char **l = lines; *l; l++) {
		char *colon = strchr(*l, ':');
		if (!colon)
			continue;
		*colon = '\0';
		char *name = module_name_of(*l);
		g_hash_table_replace(ix->path, g_strdup(name), g_strdup(*l));
		g_auto(GStrv) raw = g_strsplit_set(colon + 1, " \t", -1);
		GPtrArray *d = g_ptr_array_new();
		for (char **r = raw; *r; r++)
			if (**r)
				g_ptr_array_add(d, g_strdup(*r));
		g_ptr_array_add(d, NULL);
		g_hash_table_replace(ix->deps, name, g_ptr_array_free(d, FALSE));
	}

	g_autofree char *bi_path = g_build_filename(moddir, "modules.builtin", NULL);
	g_autofree char *bi = NULL;
	if (g_file_get_contents(bi_path, &bi, NULL, NULL)) {
		g_auto(GStrv) bl = g_strsplit(bi, "\n", -1);
		for (char **l = bl; *l; l++)
			if (**l)
				g_hash_table_add(ix->builtin, module_name_of(*l));
	}
	return TRUE;
}

static void visit(ModIndex *ix, const char *relpath, GHashTable *seen, GPtrArray *order)
{
	g_autofree char *name = module_name_of(relpath);
	if (g_hash_table_contains(seen, name))
		return;
	g_hash_table_add(seen, g_strdup(name));
	char **deps = g_hash_table_lookup(ix->deps, name);
	/*
	 * modules.dep lists the full dependency closure, innermost last;
	 * modprobe loads it back to front, so visit it in that order.
	 */
	guint n = deps ? g_strv_length(deps) : 0;
	for (guint i = n; i > 0; i--)
		visit(ix, deps[i - 1], seen, order);
	g_ptr_array_add(order, g_strdup(relpath));
}

GPtrArray *gv_modules_resolve(const char *moddir, const char *const *names, GError **error)
{
	ModIndex ix = { 0 };
	if (!mod_index_load(&ix, moddir, error))
		return NULL;
	g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	GPtrArray *order = g_ptr_array_new_with_free_func(g_free);
	for (const char *const *n = names; *n; n++) {
		g_autofree char *name = g_strdup(*n);
		g_strdelimit(name, "-", '_');
		if (g_hash_table_contains(ix.builtin, name))
			continue;
		const char *rel = g_hash_table_lookup(ix.path, name);
		if (!rel) {
			g_set_error(error, GV_ERROR, GV_ERROR_INVALID,
				    "kernel module %s is neither in %s/modules.dep nor built in",
				    *n, moddir);
			g_ptr_array_unref(order);
			mod_index_clear(&ix);
			return NULL;
		}
		visit(&ix, rel, seen, order);
	}
	mod_index_clear(&ix);
	return order;
}

/* ---- the archive ----------------------------------------------------------- */

/* A static ELF has no PT_INTERP; a dynamic busybox would not run in the initramfs. */
static gboolean elf_is_static(const guint8 *d, gsize len)
{
	Elf64_Phdr ph;
	guint i;
	for (i = 0; gv_elf64_phdr(d, len, i, &ph); i++) {
		if (ph.p_type == PT_INTERP)
			return FALSE;
	}
	return i > 0; /* not an ELF64 image (or one without program headers) */
}

static void key_add_file(GChecksum *ck, const char *path)
{
	struct stat st;
	g_checksum_update(ck, (const guint8 *)path, -1);
	if (stat(path, &st) == 0) {
		char buf[96];
		g_snprintf(buf, sizeof(buf), ":%lld:%lld:%lld;", (long long)st.st_size,
			   (long long)st.st_mtim.tv_sec, (long long)st.st_mtim.tv_nsec);
		g_checksum_update(ck, (const guint8 *)buf, -1);
	}
}

static char **busybox_applets(const char *busybox)
{
	g_autofree char *out = NULL;
	const char *argv[] = { busybox, "--list", NULL };
	if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL,
			  &out, NULL, NULL, NULL))
		return NULL;
	return g_strsplit(g_strstrip(out), "\n", -1);
}

static gboolean add_host_file(GvCpio *c, const char *dst, const char *src, guint mode,
			      GError **error)
{
	g_autofree char *data = NULL;
	gsize len;
	g_autoptr(GError) err = NULL;
	if (!g_file_get_contents(src, &data, &len, &err)) {
		g_set_error(error, GV_ERROR, GV_ERROR_FAILED, "initramfs: %s", err->message);
		return FALSE;
	}
	gv_cpio_file(c, dst, mode, data, len);
	return TRUE;
}

/* The archive's bytes: directories, /init, busybox and links, the modules. */
static GBytes *make_archive(const GvInitramfsInputs *in, const char *moddir, GPtrArray *mods,
			    GError **error)
{
	GvCpio *c = gv_cpio_new();
	static const char *const dirs[] = { "dev", "proc", "sys", "run", "tmp", "mnt", "root",
					    "etc", "etc/grainvm", "bin", "sbin", "usr",
					    "usr/bin", "usr/sbin", "lib", "lib/modules", NULL };
	for (const char *const *d = dirs; *d; d++)
		gv_cpio_dir(c, *d, !strcmp(*d, "tmp") ? 01777 : 0755);
	/* The kernel opens /dev/console for init's stdio before devtmpfs exists. */
	gv_cpio_chardev(c, "dev/console", 0600, 5, 1);

	if (!add_host_file(c, "init", in->agent, 0755, error)) {
		g_bytes_unref(gv_cpio_finish(c));
		return NULL;
	}

	if (in->busybox) {
		g_autofree char *bb = NULL;
		gsize bblen = 0;
		if (g_file_get_contents(in->busybox, &bb, &bblen, NULL) &&
		    elf_is_static((const guint8 *)bb, bblen)) {
			gv_cpio_file(c, "bin/busybox", 0755, bb, bblen);
			g_auto(GStrv) applets = busybox_applets(in->busybox);
			for (char **a = applets; a && *a; a++) {
				if (!**a || strchr(*a, '/') || !strcmp(*a, "init") || !strcmp(*a, "busybox"))
					continue;
				g_autofree char *link = g_strconcat("bin/", *a, NULL);
				gv_cpio_symlink(c, link, "busybox");
			}
		}
	}

	g_autofree char *kdir = g_build_filename("lib/modules", in->kernel_version, NULL);
	gv_cpio_dir(c, kdir, 0755);
	g_autoptr(GString) list = g_string_new(NULL);
	g_autoptr(GHashTable) made = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	for (guint i = 0; i < mods->len; i++) {
		const char *rel = g_ptr_array_index(mods, i);
		g_autofree char *src = g_build_filename(moddir, rel, NULL);
		g_autofree char *data = NULL;
		gsize len;
		g_autoptr(GError) err = NULL;
		if (!g_file_get_contents(src, &data, &len, &err)) {
			g_set_error(error, GV_ERROR, GV_ERROR_FAILED, "initramfs: %s", err->message);
			g_bytes_unref(gv_cpio_finish(c));
			return NULL;
		}
		/* Strip .xz/.zst: the guest loads plain .ko files. */
		g_autofree char *plain_rel = g_strdup(rel);
		char *ko = strstr(plain_rel, ".ko");
		if (ko)
			ko[3] = '\0';
		g_autofree char *dst = g_build_filename(kdir, plain_rel, NULL);
		/* Parent directories, once each. */
		for (char *p = strchr(dst, '/'); p; p = strchr(p + 1, '/')) {
			g_autofree char *parent = g_strndup(dst, p - dst);
			if (!g_hash_table_contains(made, parent) && strlen(parent) > strlen(kdir)) {
				gv_cpio_dir(c, parent, 0755);
				g_hash_table_add(made, g_strdup(parent));
			}
		}
		if (gv_is_compressed((const guint8 *)data, len)) {
			g_autoptr(GByteArray) plain = g_byte_array_new();
			g_autofree char *why = NULL;
			if (!gv_decompress((const guint8 *)data, len, plain, &why)) {
				g_set_error(error, GV_ERROR, GV_ERROR_FAILED,
					    "initramfs: module %s: %s", src, why);
				g_bytes_unref(gv_cpio_finish(c));
				return NULL;
			}
			gv_cpio_file(c, dst, 0644, plain->data, plain->len);
		} else {
			gv_cpio_file(c, dst, 0644, data, len);
		}
		g_string_append_printf(list, "/%s\n", dst);
	}
	gv_cpio_file(c, "etc/grainvm/modules", 0644, list->str, list->len);
	return gv_cpio_finish(c);
}

char *gv_initramfs_build(const GvInitramfsInputs *in, const char *cache_dir, GError **error)
{
	g_autofree char *moddir = g_build_filename(in->modules_root, in->kernel_version, NULL);
	g_autoptr(GPtrArray) mods = gv_modules_resolve(moddir, in->modules, error);
	if (!mods)
		return NULL;

	g_autoptr(GChecksum) ck = g_checksum_new(G_CHECKSUM_SHA256);
	char fmt[32];
	g_snprintf(fmt, sizeof(fmt), "format %d;", INITRAMFS_FORMAT);
	g_checksum_update(ck, (const guint8 *)fmt, -1);
	g_checksum_update(ck, (const guint8 *)in->kernel_version, -1);
	key_add_file(ck, in->agent);
	if (in->busybox)
		key_add_file(ck, in->busybox);
	for (guint i = 0; i < mods->len; i++) {
		g_autofree char *p = g_build_filename(moddir, g_ptr_array_index(mods, i), NULL);
		key_add_file(ck, p);
	}
	g_autofree char *dir = g_build_filename(cache_dir, "initramfs", NULL);
	g_autofree char *out = g_strdup_printf("%s/%s.cpio", dir, g_checksum_get_string(ck));
	if (g_file_test(out, G_FILE_TEST_IS_REGULAR))
		return g_steal_pointer(&out);

	g_autoptr(GBytes) archive = make_archive(in, moddir, mods, error);
	if (!archive || !gv_mkdir_private(dir, error))
		return NULL;
	gsize alen;
	const void *adata = g_bytes_get_data(archive, &alen);
	if (!gv_write_file_atomic(out, adata, alen, 0644, error))
		return NULL;
	return g_steal_pointer(&out);
}
