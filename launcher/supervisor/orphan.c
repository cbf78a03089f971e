/* SPDX-License-Identifier: MIT */
/* orphan.c - a VM's QEMU by pid and start time, and stopping an orphan (see orphan.h) */
#include "supervisor/orphan.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fileio.h"
#include "grainvm-qmp.h"
#include "gv-error.h"

/* QMP connect + handshake, and each command: QEMU answers in milliseconds. */
#define ORPHAN_QMP_MS 5000
/* quit ends QEMU at once; SIGKILL too, but the kernel may take a moment to reap. */
#define ORPHAN_QUIT_WAIT_MS 5000
#define ORPHAN_KILL_WAIT_MS 5000

static char *start_path(const GvVmPaths *paths)
{
	return g_build_filename(paths->run_dir, "qemu.start", NULL);
}

guint64 gv_proc_start_time(int pid)
{
	g_autofree char *path = g_strdup_printf("/proc/%d/stat", pid);
	g_autofree char *text = NULL;
	if (pid <= 0 || !g_file_get_contents(path, &text, NULL, NULL))
		return 0;
	/* comm (field 2) may hold spaces and ')': fields resume after the last ')'. */
	const char *p = strrchr(text, ')');
	if (!p)
		return 0;
	g_auto(GStrv) f = g_strsplit(p + 2, " ", 0);
	/* f[0] is field 3 (state), so starttime (field 22) is f[19]. */
	guint64 v;
	if (g_strv_length(f) < 20 || !g_ascii_string_to_unsigned(f[19], 10, 0, G_MAXUINT64, &v, NULL))
		return 0;
	return v;
}

gboolean gv_vm_qemu_record(const GvVmPaths *paths, int pid, GError **error)
{
	g_autofree char *sp = start_path(paths);
	g_autofree char *start = g_strdup_printf("%" G_GUINT64_FORMAT "\n", gv_proc_start_time(pid));
	g_autofree char *text = g_strdup_printf("%d\n", pid);
	/* Start time first: a qemu.pid is never read without its qemu.start. */
	return gv_write_runtime_file(sp, start, strlen(start), 0600, error) &&
	       gv_write_runtime_file(paths->qemu_pid, text, strlen(text), 0600, error);
}

static guint64 read_number(const char *path, guint64 max)
{
	g_autofree char *text = NULL;
	guint64 v;
	if (!g_file_get_contents(path, &text, NULL, NULL) ||
	    !g_ascii_string_to_unsigned(g_strstrip(text), 10, 1, max, &v, NULL))
		return 0;
	return v;
}

gboolean gv_pid_alive(int pid, const char *needle)
{
	if (pid <= 0 || (kill(pid, 0) < 0 && errno == ESRCH))
		return FALSE;
	g_autofree char *path = g_strdup_printf("/proc/%d/cmdline", pid);
	g_autofree char *cmd = NULL;
	gsize len;
	if (!g_file_get_contents(path, &cmd, &len, NULL))
		return FALSE;
	/* cmdline is NUL-separated; search it as one string. */
	for (gsize i = 0; i + 1 < len; i++)
		if (!cmd[i])
			cmd[i] = ' ';
	return strstr(cmd, needle) != NULL;
}

/* @pid's command line is QEMU's for VM @name (argv.c puts -name first). */
static gboolean cmdline_names(int pid, const char *name)
{
	g_autofree char *needle = g_strdup_printf(" -name %s ", name);
	return gv_pid_alive(pid, needle);
}

int gv_vm_qemu_find(const GvVmPaths *paths)
{
	int pid = (int)read_number(paths->qemu_pid, G_MAXINT);
	if (!pid)
		return 0;
	g_autofree char *sp = start_path(paths);
	guint64 recorded = read_number(sp, G_MAXUINT64);
	guint64 now = gv_proc_start_time(pid);
	if (!now)
		return 0;
	if (recorded)
		return recorded == now ? pid : 0;
	return cmdline_names(pid, paths->name) ? pid : 0;
}

/* Wait until the process behind @pidfd has ended, at most @ms. */
static gboolean wait_pidfd(int pidfd, guint ms)
{
	struct pollfd p = { pidfd, POLLIN, 0 };
	gint64 end = g_get_monotonic_time() + (gint64)ms * 1000;
	for (;;) {
		gint64 left = (end - g_get_monotonic_time()) / 1000;
		int r = poll(&p, 1, left > 0 ? (int)left : 0);
		if (r > 0)
			return TRUE;
		if (r == 0 || (r < 0 && errno != EINTR))
			return FALSE;
	}
}

gboolean gv_vm_stop_orphan(const GvVmPaths *paths, int pid, guint powerdown_s,
			   const char **how, GError **error)
{
	/* A pidfd pins this very process: no later step can hit a reused pid. */
	int pidfd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
	if (pidfd < 0) {
		if (errno == ESRCH) {
			if (how)
				*how = "QEMU had already ended";
			return TRUE;
		}
		g_set_error(error, GV_ERROR, GV_ERROR_FAILED, "vm %s: cannot watch QEMU pid %d: %s",
			    paths->name, pid, g_strerror(errno));
		return FALSE;
	}
	/* The pid may have been reused between the check and pidfd_open. */
	if (gv_vm_qemu_find(paths) != pid) {
		close(pidfd);
		if (how)
			*how = "QEMU had already ended";
		return TRUE;
	}
	g_autoptr(GvQmpClient) qmp = gv_qmp_connect_sync(paths->qmp_sock, GV_QMP_PEER_QMP,
							 ORPHAN_QMP_MS, NULL);
	if (qmp && powerdown_s) {
		g_autoptr(JsonNode) r = gv_qmp_execute_sync(qmp, "system_powerdown", NULL,
							    ORPHAN_QMP_MS, NULL);
		if (r && wait_pidfd(pidfd, powerdown_s * 1000)) {
			close(pidfd);
			if (how)
				*how = "guest powered off (ACPI power button)";
			return TRUE;
		}
	}
	if (qmp) {
		g_autoptr(JsonNode) r = gv_qmp_execute_sync(qmp, "quit", NULL, ORPHAN_QMP_MS, NULL);
		if (wait_pidfd(pidfd, ORPHAN_QUIT_WAIT_MS)) {
			close(pidfd);
			if (how)
				*how = "QEMU quit over QMP";
			return TRUE;
		}
	}
	syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
	gboolean gone = wait_pidfd(pidfd, ORPHAN_KILL_WAIT_MS);
	close(pidfd);
	if (!gone) {
		g_set_error(error, GV_ERROR, GV_ERROR_TIMEOUT, "vm %s: QEMU pid %d survived SIGKILL",
			    paths->name, pid);
		return FALSE;
	}
	if (how)
		*how = qmp ? "killed with SIGKILL (QMP quit did not end it)"
			   : "killed with SIGKILL (its QMP socket did not answer)";
	return TRUE;
}
