/* SPDX-License-Identifier: MIT */
/* snapshot.c - snapshot directories, manifests, disk copies and restore checks (see snapshot.h) */
#include "snapshot/snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <dirent.h>
#include <unistd.h>

#include "boot/argv.h"
#include "grainvm-image.h"
#include "grainvm-qmp.h"
#include "gv-error.h"
#include "liveness.h"
#include "snapshot/template.h"

#define MANIFEST_MAX (1u << 20)

/* ---- paths ----------------------------------------------------------------- */

char *gv_snapshot_root(const GvVmPaths *vm)
{
	return g_build_filename(vm->state_dir, "snapshots", NULL);
}

char *gv_snapshot_run_overlay(const GvVmPaths *vm)
{
	return g_build_filename(vm->state_dir, "snapshot-run.qcow2", NULL);
}

GvSnapshotPaths *gv_snapshot_paths_new(const GvVmPaths *vm, const char *tag)
{
	GvSnapshotPaths *sp = g_new0(GvSnapshotPaths, 1);
	g_autofree char *root = gv_snapshot_root(vm);
	sp->tag = g_strdup(tag);
	sp->dir = g_build_filename(root, tag, NULL);
	sp->manifest = g_build_filename(sp->dir, "manifest.json", NULL);
	sp->state = g_build_filename(sp->dir, "state.zst", NULL);
	sp->disk = g_build_filename(sp->dir, "disk.qcow2", NULL);
	return sp;
}

void gv_snapshot_paths_free(GvSnapshotPaths *sp)
{
	if (!sp)
		return;
	g_free(sp->tag);
	g_free(sp->dir);
	g_free(sp->manifest);
	g_free(sp->state);
	g_free(sp->disk);
	g_free(sp);
}

gboolean gv_snapshot_check_tag(const char *tag, GError **error)
{
	if (gv_spec_name_valid(tag))
		return TRUE;
	g_set_error(error, GV_ERROR, GV_ERROR_INVALID,
		    "invalid snapshot tag \"%s\" (1-63 of A-Z a-z 0-9 _ . -, not starting with . or -)",
		    tag);
	return FALSE;
}

/* ---- reading, listing, removing ----------------------------------------------- */

JsonObject *gv_snapshot_manifest_read(const GvVmPaths *vm, const char *tag, GError **error)
{
	g_autoptr(GvSnapshotPaths) sp = gv_snapshot_paths_new(vm, tag);
	g_autofree char *text = NULL;
	gsize len;
	g_autoptr(GError) err = NULL;

	if (!g_file_test(sp->dir, G_FILE_TEST_IS_DIR)) {
		g_set_error(error, GV_ERROR, GV_ERROR_STATE,
			    "vm %s has no snapshot %s (grainvm snapshot list %s)", vm->name, tag,
			    vm->name);
		return NULL;
	}
	if (!g_file_get_contents(sp->manifest, &text, &len, &err) || len > MANIFEST_MAX) {
		g_set_error(error, GV_ERROR, GV_ERROR_FAILED, "snapshot %s of vm %s is damaged: %s",
			    tag, vm->name, err ? err->message : "manifest.json is too large");
		return NULL;
	}
	JsonObject *m = gv_json_parse_object(text, (gssize)len, &err);
	if (!m) {
		g_set_error(error, GV_ERROR, GV_ERROR_FAILED, "snapshot %s of vm %s is damaged: %s: %s",
			    tag, vm->name, sp->manifest, err->message);
		return NULL;
	}
	return m;
}

static gint by_created(gconstpointer a, gconstpointer b)
{
	JsonObject *x = *(JsonObject *const *)a, *y = *(JsonObject *const *)b;
	gint64 cx = gv_json_int_or(x, "created", 0);
	gint64 cy = gv_json_int_or(y, "created", 0);
	if (cx != cy)
		return cx < cy ? -1 : 1;
	return g_strcmp0(gv_json_string_or(x, "tag", ""),
			 gv_json_string_or(y, "tag", ""));
}

GPtrArray *gv_snapshot_list(const GvVmPaths *vm, GError **error)
{
	GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)json_object_unref);
	g_autofree char *root = gv_snapshot_root(vm);
	g_autoptr(GError) err = NULL;
	g_autoptr(GDir) d = g_dir_open(root, 0, &err);
	const char *name;

	if (!d) {
		if (g_error_matches(err, G_FILE_ERROR, G_FILE_ERROR_NOENT))
			return out;
		g_propagate_error(error, g_steal_pointer(&err));
		g_ptr_array_unref(out);
		return NULL;
	}
	while ((name = g_dir_read_name(d))) {
		if (name[0] == '.') /* a save in progress, or one that died */
			continue;
		g_autoptr(GError) merr = NULL;
		JsonObject *m = gv_snapshot_manifest_read(vm, name, &merr);
		if (!m) {
			m = json_object_new();
			json_object_set_string_member(m, "tag", name);
			json_object_set_string_member(m, "error", merr->message);
		}
		g_ptr_array_add(out, m);
	}
	g_ptr_array_sort(out, by_created);
	return out;
}

/* Delete a snapshot directory and, for a template, its RAM file in tmpfs. */
static gboolean remove_dir(const char *dir, GError **error)
{
	g_autofree char *mf = g_build_filename(dir, "manifest.json", NULL);
	g_autofree char *text = NULL;
	gsize len;
	g_autoptr(JsonObject) m = NULL;
	if (g_file_get_contents(mf, &text, &len, NULL) && len <= MANIFEST_MAX)
		m = gv_json_parse_object(text, (gssize)len, NULL);
	const char *ram = gv_template_ram_of(m);
	/* Only a file that is one of ours: the manifest is, but be strict. */
	if (ram && g_str_has_suffix(ram, ".tmpl"))
		unlink(ram);
	return gv_rm_rf(dir, error);
}

gboolean gv_snapshot_remove(const GvVmPaths *vm, const char *tag, GError **error)
{
	g_autoptr(GvSnapshotPaths) sp = gv_snapshot_paths_new(vm, tag);
	if (!g_file_test(sp->dir, G_FILE_TEST_IS_DIR)) {
		g_set_error(error, GV_ERROR, GV_ERROR_STATE, "vm %s has no snapshot %s", vm->name,
			    tag);
		return FALSE;
	}
	return remove_dir(sp->dir, error);
}

gboolean gv_snapshot_remove_all(const GvVmPaths *vm, GError **error)
{
	g_autoptr(GPtrArray) all = gv_snapshot_list(vm, error);
	if (!all)
		return FALSE;
	for (guint i = 0; i < all->len; i++) {
		JsonObject *m = g_ptr_array_index(all, i);
		const char *tag = gv_json_string_or(m, "tag", "?");
		if (!gv_template_check_unused(vm, tag, m, error))
			return FALSE;
	}
	for (guint i = 0; i < all->len; i++) {
		JsonObject *m = g_ptr_array_index(all, i);
		if (!gv_snapshot_remove(vm, gv_json_string_or(m, "tag", "?"), error))
			return FALSE;
	}
	return TRUE;
}

/* ---- saving ----------------------------------------------------------------- */

char *gv_snapshot_stage_new(const GvVmPaths *vm, GError **error)
{
	g_autofree char *root = gv_snapshot_root(vm);
	if (!gv_mkdir_private(root, error))
		return NULL;
	char *stage = g_build_filename(root, ".stage-XXXXXX", NULL);
	if (!g_mkdtemp_full(stage, 0700)) {
		int e = errno;
		g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(e), "cannot create %s: %s",
			    stage, g_strerror(e));
		g_free(stage);
		return NULL;
	}
	return stage;
}

gboolean gv_snapshot_commit(const GvVmPaths *vm, const char *tag, const char *stage,
			    gboolean *replaced, GError **error)
{
	g_autoptr(GvSnapshotPaths) sp = gv_snapshot_paths_new(vm, tag);
	*replaced = FALSE;
	int rc = rename(stage, sp->dir);
	if (rc < 0 && (errno == EEXIST || errno == ENOTEMPTY)) {
		/* TAG exists: swap, so that TAG is never missing, then drop the old one. */
		rc = renameat2(AT_FDCWD, stage, AT_FDCWD, sp->dir, RENAME_EXCHANGE);
		*replaced = rc == 0;
	}
	if (rc < 0) {
		int e = errno;
		g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(e),
			    "cannot rename %s to %s: %s", stage, sp->dir, g_strerror(e));
		return FALSE;
	}
	/* Should this fail, the old one stays as a hidden .stage-* directory:
	 * never listed, never restored, removed with the VM. */
	if (*replaced)
		remove_dir(stage, NULL);
	return TRUE;
}

/* Copy [off, off+len) of @in to @out at the same offset. */
static gboolean copy_range(int in, int out, off_t off, off_t len)
{
	loff_t ioff = off, ooff = off;
	while (len > 0) {
		ssize_t n = copy_file_range(in, &ioff, out, &ooff, (size_t)len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EOPNOTSUPP ||
			      errno == EINVAL)) {
			/* An old kernel or two filesystems: plain reads and writes. */
			char buf[1 << 16];
			ssize_t r = pread(in, buf, MIN((off_t)sizeof(buf), len), ioff);
			if (r <= 0 || pwrite(out, buf, (size_t)r, ooff) != r)
				return FALSE;
			n = r;
			ioff += n;
			ooff += n;
		} else if (n <= 0) {
			return FALSE;
		}
		len -= n;
	}
	return TRUE;
}

/* A sparse copy: a reflink if the filesystem can, else only the data extents. */
static gboolean copy_sparse(const char *src, const char *dst, GError **error)
{
	int in = open(src, O_RDONLY | O_CLOEXEC);
	int out = -1;
	struct stat st;
	gboolean ok = FALSE;

	if (in < 0 || fstat(in, &st) < 0)
		goto out;
	out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0)
		goto out;
	if (ioctl(out, FICLONE, in) == 0) {
		ok = TRUE;
		goto out;
	}
	for (off_t pos = 0; pos < st.st_size;) {
		off_t data = lseek(in, pos, SEEK_DATA);
		if (data < 0 && errno == ENXIO)
			break; /* a hole up to the end */
		if (data < 0)
			goto out;
		off_t hole = lseek(in, data, SEEK_HOLE);
		if (hole < 0)
			goto out;
		if (!copy_range(in, out, data, hole - data))
			goto out;
		pos = hole;
	}
	ok = ftruncate(out, st.st_size) == 0 && fsync(out) == 0;
out:;
	int e = errno;
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	if (!ok) {
		if (out >= 0)
			unlink(dst);
		g_set_error(error, GV_ERROR, GV_ERROR_FAILED, "cannot copy %s to %s: %s", src, dst,
			    g_strerror(e));
	}
	return ok;
}

static gboolean run_qemu_img(const char *const *args, GError **error)
{
	g_autofree char *qemu_img = gv_image_qemu_img_path();
	if (!qemu_img) {
		g_set_error(error, GV_ERROR, GV_ERROR_INVALID,
			    "qemu-img not found (install qemu-utils or set GRAINVM_QEMU_IMG)");
		return FALSE;
	}
	g_autoptr(GPtrArray) argv = g_ptr_array_new();
	g_ptr_array_add(argv, qemu_img);
	for (const char *const *a = args; *a; a++)
		g_ptr_array_add(argv, (gpointer)*a);
	g_ptr_array_add(argv, NULL);
	g_autofree char *err_text = NULL;
	int status;
	if (!g_spawn_sync(NULL, (char **)argv->pdata, NULL, G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL,
			  NULL, &err_text, &status, error))
		return FALSE;
	if (!g_spawn_check_wait_status(status, NULL)) {
		g_set_error(error, GV_ERROR, GV_ERROR_FAILED, "qemu-img %s: %s", args[0],
			    g_strstrip(err_text));
		return FALSE;
	}
	return TRUE;
}

/* Make @dst (a copy of an overlay) stand on @base alone. */
static gboolean rebase_onto(const char *dst, const char *base, GError **error)
{
	g_autoptr(GvImageInfo) info = gv_image_info_read_full(dst, NULL, GV_IMAGE_INFO_NO_BACKING,
							       error);
	if (!info)
		return FALSE;
	if (!g_strcmp0(info->full_backing_file, base))
		return TRUE;
	/*
	 * The VM runs on an overlay of another snapshot's disk: write that
	 * snapshot's data into the copy ("safe" rebase compares old and new
	 * backing chains cluster by cluster), so this one stands alone.  -U:
	 * QEMU, stopped but alive, still holds its locks on the chain.
	 */
	g_autoptr(GvImageInfo) b = NULL;
	if (base) {
		b = gv_image_info_read_full(base, NULL, GV_IMAGE_INFO_NO_BACKING, error);
		if (!b)
			return FALSE;
	}
	g_autoptr(GPtrArray) args = g_ptr_array_new();
	const char *fixed[] = { "rebase", "-U", "-f", "qcow2", "-b", base ? base : "" };
	for (gsize i = 0; i < G_N_ELEMENTS(fixed); i++)
		g_ptr_array_add(args, (gpointer)fixed[i]);
	if (b) {
		g_ptr_array_add(args, "-F");
		g_ptr_array_add(args, b->format);
	}
	g_ptr_array_add(args, (gpointer)dst);
	g_ptr_array_add(args, NULL);
	return run_qemu_img((const char *const *)args->pdata, error);
}

gboolean gv_snapshot_copy_disk(const char *active, const char *base, const char *dst,
			       GError **error)
{
	if (!copy_sparse(active, dst, error))
		return FALSE;
	if (!rebase_onto(dst, base, error)) {
		unlink(dst);
		return FALSE;
	}
	return TRUE;
}

JsonObject *gv_file_identity(const char *path)
{
	JsonObject *o = json_object_new();
	struct stat st;
	gboolean ok = stat(path, &st) == 0;
	json_object_set_string_member(o, "path", path);
	json_object_set_int_member(o, "size", ok ? (gint64)st.st_size : -1);
	json_object_set_int_member(o, "mtime", ok ? (gint64)st.st_mtim.tv_sec * 1000000000 +
						    st.st_mtim.tv_nsec : -1);
	return o;
}

/* ---- restoring -------------------------------------------------------------- */

void gv_restore_free(GvRestore *r)
{
	if (!r)
		return;
	g_free(r->tag);
	g_free(r->state);
	g_free(r->run_overlay);
	g_free(r->boot);
	g_free(r->boot_origin);
	g_free(r->template_ram);
	g_free(r->template_of);
	g_strfreev(r->macs);
	g_strfreev(r->nets);
	g_free(r);
}

static gboolean same_identity(JsonObject *a, JsonObject *b)
{
	return !g_strcmp0(gv_json_string_or(a, "path", ""),
			  gv_json_string_or(b, "path", "")) &&
	       gv_json_int_or(a, "size", -2) ==
		       gv_json_int_or(b, "size", -3) &&
	       gv_json_int_or(a, "mtime", -2) ==
		       gv_json_int_or(b, "mtime", -3);
}

/* "7.2.22" from `qemu-system-x86_64 --version`, or NULL. */
static char *qemu_version_of(const char *qemu)
{
	const char *argv[] = { qemu, "--version", NULL };
	g_autofree char *out = NULL;
	int status;
	if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, &out,
			  NULL, &status, NULL) || !g_spawn_check_wait_status(status, NULL))
		return NULL;
	const char *v = strstr(out, "version ");
	if (!v)
		return NULL;
	v += strlen("version ");
	gsize n = strspn(v, "0123456789.");
	return n ? g_strndup(v, n) : NULL;
}

/*
 * The same QEMU?  The same binary (path, size, mtime) settles it without
 * running anything; another one must report the saved version.
 */
static gboolean check_qemu(JsonObject *m, const char *tag, const char *qemu, GError **error)
{
	JsonObject *q = gv_json_object_or_null(m, "qemu");
	if (!q) {
		g_set_error(error, GV_ERROR, GV_ERROR_FAILED, "snapshot %s: manifest has no qemu",
			    tag);
		return FALSE;
	}
	g_autoptr(JsonObject) now = gv_file_identity(qemu);
	if (same_identity(q, now))
		return TRUE;
	const char *saved = gv_json_string_or(q, "version", "?");
	g_autofree char *version = qemu_version_of(qemu);
	if (version && !strcmp(version, saved))
		return TRUE;
	g_set_error(error, GV_ERROR, GV_ERROR_INVALID,
		    "snapshot %s was saved by QEMU %s and %s is QEMU %s: its device state cannot be "
		    "loaded into another version; boot cold and save the snapshot again", tag, saved,
		    qemu, version ? version : "of unknown version");
	return FALSE;
}

/* The kernel and initrd the snapshot booted: unchanged? */
static gboolean check_files(JsonObject *m, const char *tag, GError **error)
{
	JsonArray *files = gv_json_array_or_null(m, "files");
	for (guint i = 0; files && i < json_array_get_length(files); i++) {
		JsonObject *f = gv_json_array_object_at(files, i);
		const char *path = gv_json_string_or(f, "path", "");
		g_autoptr(JsonObject) now = gv_file_identity(path);
		if (!same_identity(f, now)) {
			g_set_error(error, GV_ERROR, GV_ERROR_INVALID,
				    "snapshot %s: %s changed since the snapshot was saved (size or "
				    "modification time differ)", tag, path);
			return FALSE;
		}
	}
	return TRUE;
}

static char **argv_of(JsonObject *m)
{
	JsonArray *a = gv_json_array_or_null(m, "argv");
	GPtrArray *p = g_ptr_array_new();
	for (guint i = 0; a && i < json_array_get_length(a); i++)
		g_ptr_array_add(p, g_strdup(gv_json_array_string_at(a, i)));
	g_ptr_array_add(p, NULL);
	return (char **)g_ptr_array_free(p, FALSE);
}

/* The state file is all there?  A cut-short file is caught here, before QEMU. */
static gboolean check_state(JsonObject *m, const GvSnapshotPaths *sp, GError **error)
{
	JsonObject *s = gv_json_object_or_null(m, "state");
	gint64 want = s ? gv_json_int_or(s, "bytes", -1) : -1;
	struct stat st;
	if (stat(sp->state, &st) < 0) {
		g_set_error(error, GV_ERROR, GV_ERROR_FAILED, "snapshot %s is damaged: %s: %s",
			    sp->tag, sp->state, g_strerror(errno));
		return FALSE;
	}
	if (want < 0 || st.st_size != want) {
		g_set_error(error, GV_ERROR, GV_ERROR_FAILED,
			    "snapshot %s is damaged: %s is %s: %" G_GINT64_FORMAT " bytes, %"
			    G_GINT64_FORMAT " were saved", sp->tag, sp->state,
			    st.st_size < want ? "cut short" : "not the file that was saved",
			    (gint64)st.st_size, want);
		return FALSE;
	}
	return TRUE;
}

/* Each virtio-net device's "netdev=ID" -> its mac=, from an argv. */
static GHashTable *macs_by_netdev(const char *const *argv)
{
	GHashTable *t = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	for (gsize i = 0; argv[i] && argv[i + 1]; i++) {
		if (strcmp(argv[i], "-device") || !g_str_has_prefix(argv[i + 1], "virtio-net-pci,"))
			continue;
		g_auto(GStrv) kv = g_strsplit(argv[i + 1], ",", -1);
		const char *nd = NULL, *mac = NULL;
		for (char **p = kv; *p; p++) {
			if (g_str_has_prefix(*p, "netdev="))
				nd = *p + 7;
			else if (g_str_has_prefix(*p, "mac="))
				mac = *p + 4;
		}
		if (nd && mac)
			g_hash_table_insert(t, g_strdup(nd), g_strdup(mac));
	}
	return t;
}

/* The grainvm.net= values of an argv's -append; a fresh array. */
static GPtrArray *net_params(const char *const *argv)
{
	GPtrArray *out = g_ptr_array_new_with_free_func(g_free);
	for (gsize i = 0; argv[i] && argv[i + 1]; i++) {
		if (strcmp(argv[i], "-append"))
			continue;
		g_auto(GStrv) words = g_strsplit(argv[i + 1], " ", -1);
		for (char **w = words; *w; w++)
			if (g_str_has_prefix(*w, "grainvm.net="))
				g_ptr_array_add(out, g_strdup(*w + strlen("grainvm.net=")));
	}
	return out;
}

static char **strv_of(GPtrArray *a)
{
	if (!a->len)
		return NULL;
	g_ptr_array_add(a, NULL);
	return (char **)g_ptr_array_free(a, FALSE);
}

/*
 * What grain-thaw must change in a clone: the MAC of each NIC (the
 * migrated virtio-net state carries the template's), and the address of
 * each NIC whose grainvm.net= differs from the template's in more than
 * the MAC (a switch network leases each VM its own).
 */
static void clone_identity(GvRestore *r, const char *const *saved, const char *const *now)
{
	g_autoptr(GHashTable) old = macs_by_netdev(saved);
	g_autoptr(GHashTable) new = macs_by_netdev(now);
	GPtrArray *macs = g_ptr_array_new();
	GHashTableIter it;
	gpointer k, v;
	g_hash_table_iter_init(&it, new);
	while (g_hash_table_iter_next(&it, &k, &v)) {
		const char *o = g_hash_table_lookup(old, k);
		if (o && g_ascii_strcasecmp(o, v))
			g_ptr_array_add(macs, g_strdup_printf("%s=%s", o, (char *)v));
	}
	r->macs = strv_of(macs);
	if (!r->macs)
		g_ptr_array_free(macs, TRUE);

	g_autoptr(GPtrArray) was = net_params(saved);
	g_autoptr(GPtrArray) is = net_params(now);
	GPtrArray *nets = g_ptr_array_new();
	for (guint i = 0; i < is->len; i++) {
		/* "MAC:ADDR/P:GW...": compare what follows the MAC. */
		const char *tail = strchr(g_ptr_array_index(is, i), ':');
		gboolean same = FALSE;
		for (guint j = 0; tail && j < was->len && !same; j++) {
			const char *t = strchr(g_ptr_array_index(was, j), ':');
			same = t && !strcmp(t, tail);
		}
		if (!same)
			g_ptr_array_add(nets, g_strdup(g_ptr_array_index(is, i)));
	}
	r->nets = strv_of(nets);
	if (!r->nets)
		g_ptr_array_free(nets, TRUE);
}

GvRestore *gv_snapshot_restore_prepare(const GvVmPaths *vm, const GvVmPaths *from,
				       const char *tag, const GvSpec *spec, GvPrepared *prep,
				       GError **error)
{
	if (!gv_snapshot_check_tag(tag, error))
		return NULL;
	g_autoptr(GvSnapshotPaths) sp = gv_snapshot_paths_new(from, tag);
	g_autoptr(JsonObject) m = gv_snapshot_manifest_read(from, tag, error);
	if (!m)
		return NULL;
	const char *template_ram = gv_template_ram_of(m);
	gboolean other = strcmp(from->name, vm->name) != 0;
	if (other && !gv_template_require(m, from->name, tag, error))
		return NULL;
	if (template_ram && prep->qemu_user.drop && !prep->qemu_user.chosen)
		gv_prepare_keep_root(prep, "a clone maps its template's RAM file, which QEMU 7.2 "
				     "opens read-write: an unprivileged QEMU could change what every "
				     "clone starts from");
	if (template_ram && prep->qemu_user.drop) {
		/* QEMU 7.2 opens a memory-backend-file read-write, and that
		 * user must not be able to write the template every clone maps. */
		g_set_error(error, GV_ERROR, GV_ERROR_INVALID,
			    "clones cannot run QEMU as user %s (GRAINVM_QEMU_USER) yet: QEMU 7.2 opens "
			    "the template's RAM file read-write (up without GRAINVM_QEMU_USER)",
			    prep->qemu_user.name);
		return NULL;
	}
	if (template_ram && !gv_template_check_ram(m, tag, error))
		return NULL;
	gint64 format = gv_json_int_or(m, "format", 0);
	if (format != GV_SNAPSHOT_FORMAT) {
		g_set_error(error, GV_ERROR, GV_ERROR_INVALID,
			    "snapshot %s has format %" G_GINT64_FORMAT " and this grainvm reads %d",
			    tag, format, GV_SNAPSHOT_FORMAT);
		return NULL;
	}
	if (!check_state(m, sp, error) || !check_qemu(m, tag, prep->qemu, error) ||
	    !check_files(m, tag, error))
		return NULL;

	/* Compare with the argv this spec gives, disk and all, before creating anything. */
	gboolean saved_disk = json_object_has_member(m, "disk");
	if (saved_disk != (prep->disk != NULL)) {
		g_set_error(error, GV_ERROR, GV_ERROR_INVALID,
			    "snapshot %s was saved %s a disk and vm %s now has %s", tag,
			    saved_disk ? "with" : "without", vm->name, prep->disk ? "one" : "none");
		return NULL;
	}
	g_autoptr(GvRestore) r = g_new0(GvRestore, 1);
	if (template_ram) {
		r->template_ram = g_strdup(template_ram);
		r->template_of = g_strdup_printf("%s:%s", from->name, tag);
		prep->facts.ram_file = r->template_ram;
		prep->facts.ram_shared = FALSE;
	}
	g_auto(GStrv) saved = argv_of(m);
	/* Files by path, as the save recorded them, whoever QEMU runs as. */
	GvHostFacts by_path = prep->facts;
	by_path.files_by_fd = FALSE;
	g_auto(GStrv) now_argv = gv_qemu_argv(spec, &by_path);
	g_auto(GStrv) now = gv_snapshot_argv_normalize((const char *const *)now_argv);
	if (template_ram) {
		clone_identity(r, (const char *const *)saved, (const char *const *)now);
		char **a = gv_snapshot_argv_without_identity((const char *const *)saved);
		g_strfreev(saved);
		saved = a;
		a = gv_snapshot_argv_without_identity((const char *const *)now);
		g_strfreev(now);
		now = a;
	}
	g_autofree char *diff = gv_snapshot_argv_diff((const char *const *)saved,
						      (const char *const *)now);
	if (diff) {
		prep->facts.ram_file = NULL;
		g_set_error(error, GV_ERROR, GV_ERROR_INVALID,
			    "snapshot %s does not fit vm %s as its spec is now: %s (restore needs the "
			    "spec it was saved with; or boot cold and save again)", tag, vm->name, diff);
		return NULL;
	}

	r->tag = g_strdup(tag);
	r->state = g_strdup(sp->state);
	g_autofree char *when = NULL;
	g_autoptr(GDateTime) dt = g_date_time_new_from_unix_local(
		gv_json_int_or(m, "created", 0));
	when = dt ? g_date_time_format(dt, "%Y-%m-%d %H:%M:%S") : g_strdup("?");
	r->boot_origin = g_strdup(gv_json_string_or(m, "boot", "?"));
	if (template_ram)
		r->boot = g_strdup_printf("clone of template %s:%s, saved %s (it booted: %s)",
					  from->name, tag, when, r->boot_origin);
	else
		r->boot = g_strdup_printf("snapshot %s, saved %s (it booted: %s)", tag, when,
					  r->boot_origin);
	if (saved_disk) {
		/* A new overlay per run: nothing one run writes reaches the next. */
		r->run_overlay = gv_snapshot_run_overlay(vm);
		if (!gv_image_create_qcow2(r->run_overlay, 0, sp->disk, "qcow2", 0, error)) {
			gv_prefix_error(error, "snapshot %s", tag);
			prep->facts.ram_file = NULL;
			return NULL;
		}
		g_ptr_array_add(prep->created, g_strdup(r->run_overlay));
		g_free(prep->disk);
		prep->disk = g_strdup(r->run_overlay);
		prep->facts.disk = prep->disk;
		/* A QEMU of another user gets the new overlay's chain instead. */
		if (!gv_prepare_disk_chain(prep, error)) {
			prep->facts.ram_file = NULL;
			return NULL;
		}
	}
	prep->facts.incoming = TRUE;
	/* prep->facts.ram_file points into @r: the caller keeps both. */
	return g_steal_pointer(&r);
}

void gv_restore_to_plan(const GvRestore *r, GvPlan *plan)
{
	plan->restore = g_new0(GvPlanRestore, 1);
	plan->restore->tag = g_strdup(r->tag);
	plan->restore->state = g_strdup(r->state);
	plan->restore->run_overlay = g_strdup(r->run_overlay);
	g_free(plan->boot);
	plan->boot = g_strdup(r->boot);
	g_free(plan->boot_origin);
	plan->boot_origin = g_strdup(r->boot_origin);
	plan->restore->template_ram = g_strdup(r->template_ram);
	plan->restore->template_of = g_strdup(r->template_of);
	plan->restore->macs = g_strdupv(r->macs);
	plan->restore->nets = g_strdupv(r->nets);
}
