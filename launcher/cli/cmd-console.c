/* SPDX-License-Identifier: MIT */
/*
 * cmd-console.c - grainvm console (attach) and grainvm logs (read the log)
 *
 * The supervisor owns QEMU's serial chardev and logs everything to
 * RUNDIR/console.log; `console` asks it to relay the live stream.  On a
 * terminal, Ctrl-] detaches (virsh's key).  Without a terminal, input is
 * forwarded until EOF and output printed until the console is quiet for
 * --idle seconds, so scripts can drive the console.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cli/cli-common.h"
#include "paths.h"
#include "fileio.h"
#include "cli/gv-cli.h"
#include "gv-error.h"
#include "unix-socket.h"
#include "liveness.h"

#define DETACH_KEY 0x1d /* Ctrl-] */

/* Read one line (up to '\n') from fd; small, the control protocol's handshake. */
static char *read_line(int fd)
{
	GString *s = g_string_new(NULL);
	char c;
	while (s->len < 65536) {
		ssize_t n = read(fd, &c, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (c == '\n')
			return g_string_free(s, FALSE);
		g_string_append_c(s, c);
	}
	g_string_free(s, TRUE);
	return NULL;
}

/* Greeting, capabilities, "console": after this the socket carries raw bytes. */
static int open_console(const GvVmPaths *paths, GError **error)
{
	if (!gv_vm_is_running(paths)) {
		g_set_error(error, GV_ERROR, GV_ERROR_STATE, "vm %s is not running", paths->name);
		return -1;
	}
	int fd = gv_unix_connect(paths->control_sock, error);
	if (fd < 0)
		return -1;
	static const char hello[] = "{\"execute\":\"qmp_capabilities\"}\n{\"execute\":\"console\"}\n";
	g_autofree char *greeting = read_line(fd);
	gboolean ok = greeting && gv_write_all(fd, hello, strlen(hello));
	for (int i = 0; ok && i < 2; i++) {
		g_autofree char *reply = read_line(fd);
		ok = reply && strstr(reply, "\"return\"");
	}
	if (!ok) {
		close(fd);
		g_set_error(error, GV_ERROR, GV_ERROR_FAILED,
			    "vm %s: the supervisor refused the console", paths->name);
		return -1;
	}
	return fd;
}

int gv_cmd_console(int argc, char **argv)
{
	int idle = 2;
	const GOptionEntry entries[] = {
		{ "idle", 0, 0, G_OPTION_ARG_INT, &idle, "Without a terminal: leave after S quiet seconds once input ended (default 2)", "S" },
		{ NULL },
	};
	int code;
	if (!gv_cli_parse(&argc, &argv, entries, "[NAME]",
			  "Attach to the VM's serial console; Ctrl-] detaches.  The default guest "
			  "runs a shell there.", &code))
		return code;
	if (argc > 2) {
		g_printerr("grainvm console: too many arguments\n");
		return GV_EXIT_INVALID;
	}
	g_autoptr(GError) err = NULL;
	g_autoptr(GvVmPaths) paths = gv_cli_vm_paths(argc == 2 ? argv[1] : NULL, &err);
	if (!paths)
		return gv_cli_error(err);
	int fd = open_console(paths, &err);
	if (fd < 0)
		return gv_cli_error(err);

	gboolean tty = isatty(STDIN_FILENO);
	struct termios saved;
	if (tty) {
		tcgetattr(STDIN_FILENO, &saved);
		struct termios raw = saved;
		cfmakeraw(&raw);
		tcsetattr(STDIN_FILENO, TCSANOW, &raw);
		fprintf(stderr, "Connected to %s's console; detach with Ctrl-]\r\n", paths->name);
	}
	gboolean stdin_open = TRUE;
	int result = GV_EXIT_OK;
	for (;;) {
		struct pollfd p[2] = { { fd, POLLIN, 0 }, { STDIN_FILENO, POLLIN, 0 } };
		int timeout = !stdin_open && !tty ? idle * 1000 : -1;
		int n = poll(p, stdin_open ? 2 : 1, timeout);
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0)
			break; /* quiet after input ended */
		char buf[4096];
		if (p[0].revents) {
			ssize_t r = read(fd, buf, sizeof(buf));
			if (r <= 0) {
				if (tty)
					fprintf(stderr, "\r\n");
				fprintf(stderr, "grainvm: vm %s: console closed (the VM stopped)\n",
					paths->name);
				break;
			}
			gv_write_all(STDOUT_FILENO, buf, (gsize)r);
		}
		if (stdin_open && p[1].revents) {
			ssize_t r = read(STDIN_FILENO, buf, sizeof(buf));
			if (r <= 0) {
				stdin_open = FALSE;
				continue;
			}
			char *detach = tty ? memchr(buf, DETACH_KEY, (gsize)r) : NULL;
			if (detach) {
				gv_write_all(fd, buf, (gsize)(detach - buf));
				break;
			}
			if (!gv_write_all(fd, buf, (gsize)r))
				break;
		}
	}
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSANOW, &saved);
		fprintf(stderr, "\ngrainvm: detached from %s\n", paths->name);
	}
	close(fd);
	return result;
}

int gv_cmd_logs(int argc, char **argv)
{
	gboolean follow = FALSE, qemu = FALSE;
	const GOptionEntry entries[] = {
		{ "follow", 'f', 0, G_OPTION_ARG_NONE, &follow, "Keep printing while the VM runs", NULL },
		{ "qemu", 0, 0, G_OPTION_ARG_NONE, &qemu, "QEMU's own messages instead of the console", NULL },
		{ NULL },
	};
	int code;
	if (!gv_cli_parse(&argc, &argv, entries, "[NAME]",
			  "Print the VM's serial console log (kept after the VM stops, until the next up).",
			  &code))
		return code;
	if (argc > 2) {
		g_printerr("grainvm logs: too many arguments\n");
		return GV_EXIT_INVALID;
	}
	g_autoptr(GError) err = NULL;
	g_autoptr(GvVmPaths) paths = gv_cli_vm_paths(argc == 2 ? argv[1] : NULL, &err);
	if (!paths)
		return gv_cli_error(err);
	const char *path = qemu ? paths->qemu_log : paths->console_log;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		g_set_error(&err, GV_ERROR, GV_ERROR_STATE, "vm %s has no log (%s: %s)", paths->name,
			    path, g_strerror(errno));
		return gv_cli_error(err);
	}
	char buf[65536];
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n > 0) {
			if (!gv_write_all(STDOUT_FILENO, buf, (gsize)n))
				break;
			continue;
		}
		if (n < 0 || !follow)
			break;
		/* At EOF: stop following once the VM is gone and nothing more came. */
		if (!gv_vm_is_running(paths)) {
			n = read(fd, buf, sizeof(buf));
			if (n > 0) {
				gv_write_all(STDOUT_FILENO, buf, (gsize)n);
				continue;
			}
			break;
		}
		g_usleep(100 * 1000);
	}
	close(fd);
	return GV_EXIT_OK;
}
