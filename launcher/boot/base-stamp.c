/* SPDX-License-Identifier: MIT */
/* base-stamp.c - the base image's size and mtime, recorded at overlay creation (see base-stamp.h) */
#include "boot/base-stamp.h"

#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "gv-error.h"

#define STAMP_GROUP "base"

static char *stamp_path(const GvVmPaths *paths)
{
	return g_build_filename(paths->state_dir, "overlay.base", NULL);
}

static gboolean stat_base(const char *base, struct stat *st, GError **error)
{
	if (stat(base, st) < 0) {
		int err = errno;
		g_set_error(error, GV_ERROR, GV_ERROR_STATE, "cannot stat the base image %s: %s",
			    base, g_strerror(err));
		return FALSE;
	}
	return TRUE;
}

static gint64 mtime_ns(const struct stat *st)
{
	return (gint64)st->st_mtim.tv_sec * G_GINT64_CONSTANT(1000000000) + st->st_mtim.tv_nsec;
}

gboolean gv_base_stamp_write(const GvVmPaths *paths, const char *base, GError **error)
{
	struct stat st;
	if (!stat_base(base, &st, error))
		return FALSE;
	g_autoptr(GKeyFile) kf = g_key_file_new();
	g_key_file_set_string(kf, STAMP_GROUP, "path", base);
	g_key_file_set_int64(kf, STAMP_GROUP, "size", (gint64)st.st_size);
	g_key_file_set_int64(kf, STAMP_GROUP, "mtime-ns", mtime_ns(&st));
	gsize len;
	g_autofree char *text = g_key_file_to_data(kf, &len, NULL);
	g_autofree char *path = stamp_path(paths);
	return gv_write_file_atomic(path, text, len, 0600, error);
}

void gv_base_stamp_forget(const GvVmPaths *paths)
{
	g_autofree char *path = stamp_path(paths);
	unlink(path);
}

gboolean gv_base_stamp_check(const GvVmPaths *paths, GError **error)
{
	g_autofree char *path = stamp_path(paths);
	g_autoptr(GKeyFile) kf = g_key_file_new();
	g_autoptr(GError) local = NULL;
	if (!g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, &local)) {
		if (g_error_matches(local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
			return TRUE;
		g_set_error(error, GV_ERROR, GV_ERROR_STATE, "%s: %s", path, local->message);
		return FALSE;
	}
	g_autofree char *base = g_key_file_get_string(kf, STAMP_GROUP, "path", NULL);
	gint64 size = g_key_file_get_int64(kf, STAMP_GROUP, "size", &local);
	gint64 mtime = local ? 0 : g_key_file_get_int64(kf, STAMP_GROUP, "mtime-ns", &local);
	if (!base || local) {
		g_set_error(error, GV_ERROR, GV_ERROR_STATE, "%s is damaged (no path, size or "
			    "mtime-ns): `grainvm rm %s` to start from the base again", path,
			    paths->name);
		return FALSE;
	}
	struct stat st;
	if (!stat_base(base, &st, error)) {
		gv_prefix_error(error, "vm %s", paths->name);
		return FALSE;
	}
	if ((gint64)st.st_size == size && mtime_ns(&st) == mtime)
		return TRUE;
	g_autofree char *what = (gint64)st.st_size != size
		? g_strdup_printf("size %" G_GINT64_FORMAT " -> %" G_GINT64_FORMAT " bytes", size,
				  (gint64)st.st_size)
		: g_strdup("same size, mtime changed");
	g_set_error(error, GV_ERROR, GV_ERROR_STATE,
		    "vm %s: the base image %s changed since its overlay was made (%s): the "
		    "overlay no longer fits it; `grainvm rm %s` to start from the new base",
		    paths->name, base, what, paths->name);
	return FALSE;
}
