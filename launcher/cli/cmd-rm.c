/* SPDX-License-Identifier: MIT */
/* cmd-rm.c - grainvm rm: forget a stopped VM (overlay disk, UEFI variables, logs) */
#include <stdio.h>

#include <gio/gio.h>

#include "cli/cli-common.h"
#include "cli/gv-cli.h"
#include "gv-error.h"
#include "liveness.h"
#include "fileio.h"

static gboolean rm_rf(const char *path, GError **error)
{
	g_autoptr(GFile) f = g_file_new_for_path(path);
	g_autoptr(GFileEnumerator) e = g_file_enumerate_children(
		f, G_FILE_ATTRIBUTE_STANDARD_NAME "," G_FILE_ATTRIBUTE_STANDARD_TYPE,
		G_FILE_QUERY_INFO_NOFOLLOW_SYMLINKS, NULL, NULL);
	while (e) {
		g_autoptr(GFileInfo) info = g_file_enumerator_next_file(e, NULL, NULL);
		if (!info)
			break;
		g_autofree char *child = g_build_filename(path, g_file_info_get_name(info), NULL);
		if (g_file_info_get_file_type(info) == G_FILE_TYPE_DIRECTORY) {
			if (!rm_rf(child, error))
				return FALSE;
		} else if (!gv_unlink_if_exists(child, error)) {
			return FALSE;
		}
	}
	g_autoptr(GError) err = NULL;
	if (!g_file_delete(f, NULL, &err) && !g_error_matches(err, G_IO_ERROR, G_IO_ERROR_NOT_FOUND)) {
		g_propagate_error(error, g_steal_pointer(&err));
		return FALSE;
	}
	return TRUE;
}

int gv_cmd_rm(int argc, char **argv)
{
	int code;
	if (!gv_cli_parse(&argc, &argv, NULL, "NAME",
			  "Delete a stopped VM's persistent state (its overlay disk and UEFI variables) "
			  "and its logs.  Base images are never touched.", &code))
		return code;
	if (argc != 2) {
		g_printerr("grainvm rm: usage: grainvm rm NAME\n");
		return GV_EXIT_INVALID;
	}
	g_autoptr(GError) err = NULL;
	g_autoptr(GvVmPaths) paths = gv_cli_vm_paths(argv[1], &err);
	if (!paths)
		return gv_cli_error(err);
	if (gv_vm_is_running(paths)) {
		g_set_error(&err, GV_ERROR, GV_ERROR_STATE, "vm %s is running: grainvm down %s first",
			    paths->name, paths->name);
		return gv_cli_error(err);
	}
	if (!g_file_test(paths->state_dir, G_FILE_TEST_EXISTS) &&
	    !g_file_test(paths->run_dir, G_FILE_TEST_EXISTS)) {
		g_set_error(&err, GV_ERROR, GV_ERROR_STATE, "no vm named %s", paths->name);
		return gv_cli_error(err);
	}
	if (!rm_rf(paths->state_dir, &err) || !rm_rf(paths->run_dir, &err))
		return gv_cli_error(err);
	printf("grainvm: removed vm %s\n", paths->name);
	return 0;
}
