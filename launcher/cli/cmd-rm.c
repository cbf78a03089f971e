/* SPDX-License-Identifier: MIT */
/* cmd-rm.c - grainvm rm: forget a stopped VM (overlay disk, UEFI variables, logs) */
#include <stdio.h>
#include <unistd.h>

#include "cli/cli-common.h"
#include "cli/gv-cli.h"
#include "gv-error.h"
#include "snapshot/snapshot.h"
#include "liveness.h"
#include "plan.h"
#include "fileio.h"
#include "grainvm-image.h"

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
	/* A template VM whose supervisor was killed left its RAM in tmpfs. */
	g_autoptr(GvPlan) last = g_file_test(paths->plan, G_FILE_TEST_EXISTS)
		? gv_plan_load(paths->plan, NULL) : NULL;
	if (last && last->ram_file && g_str_has_suffix(last->ram_file, ".ram"))
		unlink(last->ram_file);
	/* Snapshots first: templates' RAM lives outside the state directory,
	 * and one that clones run from is not removed (nor anything else). */
	if (!gv_snapshot_remove_all(paths, &err) || !gv_rm_rf(paths->state_dir, &err) ||
	    !gv_rm_rf(paths->run_dir, &err))
		return gv_cli_error(err);
	printf("grainvm: removed vm %s\n", paths->name);
	return 0;
}
