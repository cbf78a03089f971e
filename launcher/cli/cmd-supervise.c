/* SPDX-License-Identifier: MIT */
/*
 * cmd-supervise.c - grainvm __supervise NAME (internal)
 *
 * Started by `up` with the VM's lock on fd 3, the report pipe on fd 4 and
 * the plan, a sealed memfd, on fd 5 (plan.h says why not a path);
 * `__supervise --adopt NAME` takes over a QEMU whose supervisor died.
 * Not meant to be run by hand: `grainvm up --foreground` is the supported
 * way to supervise in the foreground.
 */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "cli/gv-cli.h"
#include "gv-error.h"
#include "supervisor/supervisor.h"

int gv_cmd_supervise(int argc, char **argv)
{
	/* --adopt: take over the QEMU a dead supervisor left (cmd-up.c). */
	gboolean adopt = argc == 3 && !strcmp(argv[1], "--adopt");
	if (argc != 2 && !adopt) {
		g_printerr("grainvm __supervise: internal command, started by grainvm up\n");
		return GV_EXIT_INVALID;
	}
	const char *name = argv[argc - 1];
	/* fd 3 holds the VM's lock: keep it open, never inherit it to QEMU. */
	fcntl(3, F_SETFD, FD_CLOEXEC);
	int notify_fd = fcntl(4, F_GETFD) >= 0 ? 4 : -1;
	if (notify_fd >= 0)
		fcntl(notify_fd, F_SETFD, FD_CLOEXEC);
	g_autoptr(GError) err = NULL;
	g_autoptr(GvPlan) plan = gv_plan_read_fd(GV_SUPERVISE_PLAN_FD, &err);
	close(GV_SUPERVISE_PLAN_FD);
	GvSupervisorOptions opts = { .plan = plan, .notify_fd = notify_fd, .adopt = adopt };
	int code = plan ? gv_supervisor_run(name, &opts, &err) : gv_exit_code_for(err);
	if (err)
		g_printerr("grainvm supervisor: %s\n", err->message);
	return code;
}
