/* SPDX-License-Identifier: MIT */
/*
 * cmd-down.c - grainvm down: stop a VM and leave nothing running
 *
 * The supervisor runs the ladder (ACPI power button, agent guest-shutdown,
 * QMP quit, SIGKILL) and answers when QEMU has ended.  `down` then waits
 * for the supervisor itself to be gone (its lock released), so that when
 * it returns there is no process and no runtime socket.  A supervisor
 * that died and left QEMU behind is handled here directly, the same way
 * (orphan.c): the power button and QMP quit over QEMU's own QMP socket,
 * SIGKILL last, and the QEMU matched by pid and start time, so that a
 * reused pid is never hit.
 */
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include "cli/cli-common.h"
#include "cli/gv-cli.h"
#include "gv-error.h"
#include "liveness.h"
#include "supervisor/orphan.h"
#include "supervisor/supervisor.h"

/* After the supervisor's answer it only removes files and exits. */
#define SUPERVISOR_EXIT_WAIT_MS 10000

static gboolean wait_gone(const GvVmPaths *paths, guint ms)
{
	for (guint waited = 0; waited < ms; waited += 20) {
		if (!gv_vm_is_running(paths))
			return TRUE;
		g_usleep(20 * 1000);
	}
	return !gv_vm_is_running(paths);
}

/* The supervisor, matched by its command line (it records no start time). */
static gboolean kill_and_wait(int pid, const char *needle, guint ms)
{
	if (!gv_pid_alive(pid, needle))
		return TRUE;
	kill(pid, SIGKILL);
	for (guint waited = 0; waited < ms; waited += 20) {
		if (!gv_pid_alive(pid, needle))
			return TRUE;
		g_usleep(20 * 1000);
	}
	return FALSE;
}

/*
 * The final state of a VM whose supervisor could not write it: stopped,
 * and why.  What state.json said before is kept for the rest (name,
 * accel, shares), without a QEMU pid that no longer means anything.
 */
static gboolean record_stopped(const GvVmPaths *paths, const char *reason, GError **error)
{
	g_autoptr(JsonObject) o = gv_vm_state_read(paths);
	if (!o) {
		o = json_object_new();
		json_object_set_string_member(o, "name", paths->name);
	}
	json_object_set_string_member(o, "phase", "stopped");
	json_object_set_string_member(o, "reason", reason);
	json_object_remove_member(o, "qemu-pid");
	json_object_remove_member(o, "supervisor-pid");
	return gv_vm_state_write(paths, o, error);
}

int gv_cmd_down(int argc, char **argv)
{
	int timeout = 10;
	gboolean force = FALSE, quiet = FALSE;
	const GOptionEntry entries[] = {
		{ "timeout", 't', 0, G_OPTION_ARG_INT, &timeout, "Seconds to wait at each step (default 10)", "S" },
		{ "force", 0, 0, G_OPTION_ARG_NONE, &force, "Skip ACPI and the agent: QMP quit, then SIGKILL", NULL },
		{ "quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, "Print nothing on success", NULL },
		{ NULL },
	};
	int code;
	if (!gv_cli_parse(&argc, &argv, entries, "[NAME]",
			  "Stop the VM: the ACPI power button, then the agent's guest-shutdown, then QMP "
			  "quit, then SIGKILL, each after --timeout seconds.", &code))
		return code;
	if (argc > 2 || timeout < 1) {
		g_printerr("grainvm down: usage: grainvm down [--timeout S] [--force] [NAME]\n");
		return GV_EXIT_INVALID;
	}
	g_autoptr(GError) err = NULL;
	g_autoptr(GvVmPaths) paths = gv_cli_vm_paths(argc == 2 ? argv[1] : NULL, &err);
	if (!paths)
		return gv_cli_error(err);

	if (!gv_vm_is_running(paths)) {
		int qemu = gv_vm_qemu_find(paths);
		if (qemu) {
			/* The supervisor died; its QEMU did not.  Take the lock, so
			 * that no up adopts it meanwhile. */
			int lock_fd = -1;
			if (!gv_vm_lock(paths, &lock_fd, &err))
				return gv_cli_error(err);
			const char *how = NULL;
			gboolean ok = gv_vm_stop_orphan(paths, qemu, force ? 0 : (guint)timeout, &how,
							&err);
			if (ok)
				gv_vm_runtime_cleanup(paths);
			close(lock_fd);
			if (!ok)
				return gv_cli_error(err);
			g_autofree char *why = g_strdup_printf(
				"%s (its QEMU, pid %d, had outlived its supervisor)", how, qemu);
			/* No supervisor is left to record the end: this is the final state. */
			if (!record_stopped(paths, why, &err))
				return gv_cli_error(err);
			if (!quiet)
				printf("grainvm: vm %s stopped: %s\n", paths->name, why);
			return GV_EXIT_OK;
		}
		gv_vm_runtime_cleanup(paths);
		g_set_error(&err, GV_ERROR, GV_ERROR_STATE, "vm %s is not running", paths->name);
		return gv_cli_error(err);
	}

	g_autoptr(GvQmpClient) ctl = gv_cli_control(paths, &err);
	g_autoptr(JsonNode) r = NULL;
	if (ctl) {
		g_autoptr(JsonObject) args = json_object_new();
		json_object_set_int_member(args, "timeout", timeout);
		json_object_set_boolean_member(args, "force", force);
		/* Worst case: powerdown + agent timeouts, a guest shutting down
		 * slowly (the grace), then quit and kill (5 s each). */
		guint wait_ms = (guint)(2 * timeout + GV_DOWN_GRACE_S(timeout) + 15) * 1000;
		r = gv_qmp_execute_sync(ctl, "down", args, wait_ms, &err);
	}
	if (!r) {
		/* The supervisor does not answer: stop it and its QEMU by force. */
		g_printerr("grainvm: vm %s: %s; killing the supervisor and QEMU\n", paths->name,
			   err ? err->message : "no answer");
		g_clear_error(&err);
		kill_and_wait(gv_read_pid(paths->supervisor_pid), "__supervise", 5000);
		int qemu = gv_vm_qemu_find(paths);
		g_autoptr(GError) qerr = NULL;
		if (qemu && !gv_vm_stop_orphan(paths, qemu, 0, NULL, &qerr))
			return gv_cli_error(qerr);
		gv_vm_runtime_cleanup(paths);
		if (!record_stopped(paths, "killed with its supervisor, which did not answer", &err))
			return gv_cli_error(err);
	}
	if (!wait_gone(paths, SUPERVISOR_EXIT_WAIT_MS)) {
		g_set_error(&err, GV_ERROR, GV_ERROR_TIMEOUT,
			    "vm %s: the supervisor did not exit after QEMU ended", paths->name);
		return gv_cli_error(err);
	}
	JsonObject *ro = gv_json_node_object_or_null(r);
	const char *reason = ro ? gv_json_string_or(ro, "reason", "") : "killed";
	if (ro && !force && gv_json_bool_or(ro, "forced", FALSE)) {
		/*
		 * Stopped, but not gracefully: the guest's file systems were not
		 * unmounted.  Said on stderr (even with -q) and in the exit code,
		 * so a script does not take it for a clean poweroff.
		 */
		g_printerr("grainvm: vm %s stopped, but %s; its file systems may need recovery at "
			   "the next boot\n", paths->name, reason);
		return GV_EXIT_FAILED;
	}
	if (!quiet)
		printf("grainvm: vm %s stopped: %s\n", paths->name, reason);
	return GV_EXIT_OK;
}
