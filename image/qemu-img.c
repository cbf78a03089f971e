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
 *
 * qemu-img follows the backing chain a header names, blocking forever on
 * a FIFO and recursing through a loop; so check reads the header itself
 * first and hands qemu-img a json: filename with "backing": null.
 */
#include "gv-image-private.h"
#include "gv-chain.h"

#include <errno.h>
#include <fcntl.h>
#include <json-glib/json-glib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

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

/*
 * QEMU's json: filename for @path as a qcow2 with no backing file, so
 * that qemu-img checks this one file and never opens what its header
 * names.  The "file" driver for regular files, "host_device" for block
 * devices (QEMU refuses the other pairing).
 */
static char *check_filename(const char *path, gboolean blockdev)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autoptr(JsonGenerator) gen = json_generator_new();

	json_builder_begin_object(b);
	json_builder_set_member_name(b, "driver");
	json_builder_add_string_value(b, "qcow2");
	json_builder_set_member_name(b, "backing");
	json_builder_add_null_value(b);
	json_builder_set_member_name(b, "file");
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "driver");
	json_builder_add_string_value(b, blockdev ? "host_device" : "file");
	json_builder_set_member_name(b, "filename");
	json_builder_add_string_value(b, path);
	json_builder_end_object(b);
	json_builder_end_object(b);
	g_autoptr(JsonNode) root = json_builder_get_root(b);
	json_generator_set_root(gen, root);
	g_autofree char *text = json_generator_to_data(gen, NULL);
	return g_strconcat("json:", text, NULL);
}

/*
 * qemu-img opens the external data file by its recorded name, relative
 * to its working directory (ours).  Open it the way info.c opens images
 * (non-blocking, type from fstat) so that a FIFO named there cannot hang
 * the check.
 */
static gboolean check_data_file(const char *path, const char *data_file, GError **error)
{
	g_autofree char *img = gv_term_escape(path, NULL), *shown = gv_term_escape(data_file, NULL);
	struct stat st;
	int fd = open(data_file, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);

	if (fd < 0) {
		int errsv = errno;
		if (errsv == ENXIO && lstat(data_file, &st) == 0 && S_ISSOCK(st.st_mode)) {
			g_set_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_UNSUPPORTED,
				    "%s: external data file \"%s\" is a socket", img, shown);
			return FALSE;
		}
		g_set_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_NOT_FOUND,
			    "%s: cannot open external data file \"%s\": %s", img, shown,
			    g_strerror(errsv));
		return FALSE;
	}
	int rc = fstat(fd, &st);
	close(fd);
	const char *problem = rc == 0 ? gv_chain_mode_problem(st.st_mode, FALSE) : NULL;
	if (problem) {
		g_set_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_UNSUPPORTED,
			    "%s: external data file \"%s\" %s", img, shown, problem);
		return FALSE;
	}
	return TRUE;
}

gboolean gv_image_check(const char *path, char **output, GError **error)
{
	g_autofree char *qemu_img = NULL;
	g_autofree char *out = NULL, *err = NULL;
	g_autoptr(GError) local = NULL;
	struct stat st;
	int status;

	/*
	 * Our own reader first: it opens without blocking, refuses FIFOs and
	 * the like, and parses the header before qemu-img sees the file.
	 */
	g_autoptr(GvImageInfo) info = gv_image_info_read_full(path, NULL, GV_IMAGE_INFO_NO_BACKING,
							      error);
	if (!info)
		return FALSE;
	if (strcmp(info->format, "qcow2") != 0) {
		g_set_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_UNSUPPORTED,
			    "%s: the image format has no consistency checks", path);
		return FALSE;
	}
	if (info->data_file && !check_data_file(path, info->data_file, error))
		return FALSE;
	qemu_img = require_qemu_img(error);
	if (!qemu_img)
		return FALSE;
	g_autofree char *target = check_filename(path, stat(path, &st) == 0 && S_ISBLK(st.st_mode));
	const char *argv[] = { qemu_img, "check", target, NULL };
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
