/* SPDX-License-Identifier: MIT */
/* template.c - the RAM files of templates and clones (see template.h) */
#include "snapshot/template.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "grainvm-qmp.h"
#include "gv-error.h"
#include "liveness.h"
#include "plan.h"
#include "boot/spec.h"

/* Is @dir, or the nearest ancestor that exists, on tmpfs? */
static gboolean on_tmpfs(const char *dir)
{
	g_autofree char *p = g_strdup(dir);
	for (;;) {
		struct statfs sf;
		if (statfs(p, &sf) == 0)
			return sf.f_type == TMPFS_MAGIC;
		if (errno != ENOENT)
			return FALSE;
		char *slash = strrchr(p, '/');
		if (!slash || slash == p)
			return FALSE;
		*slash = '\0';
	}
}

char *gv_ram_root(void)
{
	g_autofree char *run = gv_runtime_root();
	/* ".ram" is no VM name (names do not start with '.'), so no VM's directory. */
	if (on_tmpfs(run))
		return g_build_filename(run, ".ram", NULL);
	return g_strdup_printf("/dev/shm/grainvm-%u", (unsigned)geteuid());
}

char *gv_ram_file_create(const char *vm, GError **error)
{
	g_autofree char *dir = gv_ram_root();
	if (!gv_mkdir_private(dir, error)) {
		gv_prefix_error(error, "the directory for template RAM");
		return NULL;
	}
	g_autofree char *name = g_strdup_printf("%s-XXXXXX.ram", vm);
	char *path = g_build_filename(dir, name, NULL);
	int fd = g_mkstemp_full(path, O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0) {
		int e = errno;
		g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(e), "cannot create %s: %s",
			    path, g_strerror(e));
		g_free(path);
		return NULL;
	}
	close(fd);
	return path;
}

char *gv_template_ram_take(const char *ram_file, const char *vm, const char *tag,
			   GError **error)
{
	g_autofree char *dir = g_path_get_dirname(ram_file);
	for (int tries = 0; tries < 100; tries++) {
		g_autofree char *name = g_strdup_printf("%s.%s-%08x.tmpl", vm, tag, g_random_int());
		char *path = g_build_filename(dir, name, NULL);
		if (link(ram_file, path) == 0) {
			/* Read-only from here on, for anyone who looks; QEMU 7.2
			 * still opens it read-write (docs/snapshots.md "Clones"). */
			return path;
		}
		int e = errno;
		g_free(path);
		if (e != EEXIST) {
			g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(e),
				    "cannot link %s into the template store: %s", ram_file,
				    g_strerror(e));
			return NULL;
		}
	}
	g_set_error(error, GV_ERROR, GV_ERROR_FAILED, "no free template file name in %s", dir);
	return NULL;
}

const char *gv_template_ram_of(JsonObject *manifest)
{
	JsonObject *t = manifest ? gv_json_object_or_null(manifest, "template") : NULL;
	return t ? gv_json_string_or(t, "ram", NULL) : NULL;
}

gboolean gv_template_require(JsonObject *manifest, const char *vm, const char *tag,
			     GError **error)
{
	if (gv_template_ram_of(manifest))
		return TRUE;
	g_set_error(error, GV_ERROR, GV_ERROR_INVALID,
		    "snapshot %s of vm %s is not a template: only a template starts other VMs "
		    "(grainvm snapshot save --template %s TAG; see grainvm snapshot list %s)",
		    tag, vm, vm, vm);
	return FALSE;
}

gboolean gv_template_check_ram(JsonObject *manifest, const char *tag, GError **error)
{
	const char *ram = gv_template_ram_of(manifest);
	gint64 want = gv_json_int_or(manifest, "memory", -1);
	struct stat st;
	if (!ram || lstat(ram, &st) < 0) {
		g_set_error(error, GV_ERROR, GV_ERROR_FAILED,
			    "template %s is damaged: its RAM file %s is gone (templates live in "
			    "tmpfs and do not survive a host reboot: boot the template VM again and "
			    "save it again)", tag, ram ? ram : "(none named)");
		return FALSE;
	}
	if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() || st.st_size != want) {
		g_set_error(error, GV_ERROR, GV_ERROR_FAILED,
			    "template %s is damaged: %s is not the RAM file that was saved (a regular "
			    "file of yours of %" G_GINT64_FORMAT " bytes)", tag, ram, want);
		return FALSE;
	}
	return TRUE;
}

static gint cmp_str(gconstpointer a, gconstpointer b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

GPtrArray *gv_template_clones(const char *ram)
{
	GPtrArray *out = g_ptr_array_new_with_free_func(g_free);
	g_autofree char *root = gv_runtime_root();
	g_autoptr(GDir) d = g_dir_open(root, 0, NULL);
	const char *n;
	while (d && (n = g_dir_read_name(d))) {
		if (!gv_spec_name_valid(n))
			continue;
		g_autoptr(GvVmPaths) paths = gv_vm_paths_new(n, NULL);
		if (!paths || !gv_vm_is_running(paths))
			continue;
		g_autoptr(GvPlan) plan = gv_plan_load(paths->plan, NULL);
		if (plan && plan->restore && !g_strcmp0(plan->restore->template_ram, ram))
			g_ptr_array_add(out, g_strdup(n));
	}
	g_ptr_array_sort(out, cmp_str);
	return out;
}

gboolean gv_template_check_unused(const GvVmPaths *vm, const char *tag, JsonObject *manifest,
				  GError **error)
{
	const char *ram = gv_template_ram_of(manifest);
	if (!ram)
		return TRUE;
	g_autoptr(GPtrArray) clones = gv_template_clones(ram);
	if (!clones->len)
		return TRUE;
	g_ptr_array_add(clones, NULL);
	g_autofree char *names = g_strjoinv(", ", (char **)clones->pdata);
	g_set_error(error, GV_ERROR, GV_ERROR_STATE,
		    "template %s of vm %s is in use by %u running clone%s (%s): nothing removed; "
		    "grainvm down them first", tag, vm->name, clones->len - 1,
		    clones->len - 1 == 1 ? "" : "s", names);
	return FALSE;
}
