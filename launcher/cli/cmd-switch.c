/* SPDX-License-Identifier: MIT */
/*
 * cmd-switch.c - grainvm __switch NAME RUNDIR (internal)
 *
 * Started by the supervisor of the first VM on switch network NAME (see
 * network.h), with a pipe on fd 3 to say "ready" on.  RUNDIR is where the
 * network's socket lives; it is on the command line so that `ps` (and a
 * test's cleanup) can tell whose switch this is.
 */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "cli/gv-cli.h"
#include "gv-error.h"
#include "net/switch-net.h"
#include "net/switch.h"

int gv_cmd_switch(int argc, char **argv)
{
	if (argc != 3) {
		g_printerr("grainvm __switch: internal command, started by a VM's supervisor\n");
		return GV_EXIT_INVALID;
	}
	g_autoptr(GError) err = NULL;
	g_autoptr(GvNetworkPaths) paths = gv_network_paths_new(argv[1], &err);
	if (!paths)
		return gv_cli_error(err);
	if (strcmp(paths->run_dir, argv[2])) {
		g_printerr("grainvm __switch: %s is not network %s's directory (%s): "
			   "GRAINVM_HOME differs from the starter's\n", argv[2], argv[1], paths->run_dir);
		return GV_EXIT_INVALID;
	}
	int ready_fd = fcntl(3, F_GETFD) >= 0 ? 3 : -1;
	if (ready_fd >= 0)
		fcntl(ready_fd, F_SETFD, FD_CLOEXEC);
	if (!gv_switch_run(argv[1], ready_fd, &err))
		return gv_cli_error(err);
	return GV_EXIT_OK;
}
