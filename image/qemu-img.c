/* SPDX-License-Identifier: MIT */
/*
 * qemu-img.c - the operations grainvm leaves to qemu-img
 *
 * Checking an image (walking every L2 table and refcount) and internal
 * snapshots (copying L1 tables, bumping refcounts of live data) are
 * exactly what qemu-img already does correctly on images QEMU itself has
 * written to; redoing them would only add a second opinion that can be
 * wrong.  These wrappers find qemu-img and turn its exit status into a
 * GError.
 */
#include "gv-image-private.h"

#include <string.h>
#include <sys/wait.h>

char *gv_image_qemu_img_path(void)
{
	const char *env = g_getenv("GRAINVM_QEMU_IMG");

	if (env && *env)
		return g_strdup(env);
	return g_find_program_in_path("qemu-img");
}

static char *require_qemu_img(GError **error)
{
	char *qemu_img = gv_image_qemu_img_path();

	if (!qemu_img)
		g_set_error_literal(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_TOOL,
				    "qemu-img not found (install qemu-utils or set GRAINVM_QEMU_IMG)");
	return qemu_img;
}

/* The first line of @text containing @needle, stripped; NULL if none. */
static char *find_line(const char *text, const char *needle)
{
	g_auto(GStrv) lines = g_strsplit(text ? text : "", "\n", -1);

	for (gsize i = 0; lines[i]; i++) {
		if (strstr(lines[i], needle))
			return g_strstrip(g_strdup(lines[i]));
	}
	return NULL;
}

gboolean gv_image_check(const char *path, char **output, GError **error)
{
	g_autofree char *qemu_img = require_qemu_img(error);
	g_autofree char *out = NULL, *err = NULL;
	g_autoptr(GError) local = NULL;
	int status;

	if (!qemu_img)
		return FALSE;
	const char *argv[] = { qemu_img, "check", path, NULL };
	if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err,
			  &status, &local)) {
		g_set_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_TOOL, "cannot run %s: %s", qemu_img,
			    local->message);
		return FALSE;
	}
	if (output)
		*output = g_strconcat(out, err, NULL);
	if (!WIFEXITED(status)) {
		g_set_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_TOOL, "qemu-img check %s died", path);
		return FALSE;
	}
	/*
	 * qemu-img check: 0 clean, 2 corruptions, 3 leaks only, 63 format
	 * without checks (raw), 1 could not check.
	 */
	switch (WEXITSTATUS(status)) {
	case 0:
		return TRUE;
	case 2:
	case 3: {
		g_autofree char *summary = find_line(out, "found on the image");
		g_set_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_CORRUPT, "%s: qemu-img check: %s",
			    path, summary ? summary : "errors found");
		return FALSE;
	}
	case 63:
		g_set_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_UNSUPPORTED,
			    "%s: the image format has no consistency checks", path);
		return FALSE;
	default: {
		g_autofree char *why = g_strstrip(g_strdup(err && *err ? err : out));
		g_set_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_TOOL, "qemu-img check %s: %s", path,
			    why);
		return FALSE;
	}
	}
}

gboolean gv_image_snapshot(const char *path, GvImageSnapshotOp op, const char *name,
			   char **output, GError **error)
{
	static const char *const flags[] = {
		[GV_IMAGE_SNAPSHOT_CREATE] = "-c",
		[GV_IMAGE_SNAPSHOT_LIST] = "-l",
		[GV_IMAGE_SNAPSHOT_APPLY] = "-a",
		[GV_IMAGE_SNAPSHOT_DELETE] = "-d",
	};
	G_STATIC_ASSERT(G_N_ELEMENTS(flags) == GV_IMAGE_SNAPSHOT_DELETE + 1);
	g_autofree char *qemu_img = NULL;
	g_autoptr(GvImageInfo) info = NULL;

	if ((guint)op >= G_N_ELEMENTS(flags)) {
		g_set_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_INVALID, "bad snapshot operation");
		return FALSE;
	}
	if (op != GV_IMAGE_SNAPSHOT_LIST && (!name || !*name)) {
		g_set_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_INVALID, "%s: snapshot name missing",
			    path);
		return FALSE;
	}
	/* Internal snapshots exist only in qcow2; say so before qemu-img does. */
	info = gv_image_info_read_full(path, NULL, GV_IMAGE_INFO_NO_BACKING, error);
	if (!info)
		return FALSE;
	if (strcmp(info->format, "qcow2") != 0) {
		g_set_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_UNSUPPORTED,
			    "%s: internal snapshots need a qcow2 image, not %s", path, info->format);
		return FALSE;
	}
	qemu_img = require_qemu_img(error);
	if (!qemu_img)
		return FALSE;
	const char *argv[] = { qemu_img, "snapshot", flags[op], path, NULL, NULL };
	if (op != GV_IMAGE_SNAPSHOT_LIST) {
		argv[3] = name;
		argv[4] = path;
	}
	return gv_run_tool(argv, NULL, output, error);
}
