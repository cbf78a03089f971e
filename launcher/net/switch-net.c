/* SPDX-License-Identifier: MIT */
/* network.c - switch network paths, leases and connections (see network.h) */
#include "net/switch-net.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib-unix.h>

#include "gv-error.h"
#include "paths.h"
#include "fileio.h"
#include "boot/spec.h"
#include "unix-socket.h"
#include "liveness.h"

/*
 * The switch binds, starts libslirp and says "ready" in milliseconds;
 * 10 s allows for a loaded machine without hanging `up` on a broken one.
 */
#define SWITCH_START_MS 10000
/* Networks live beside VMs in the roots; the dot keeps them from ever being a VM name. */
#define NETWORKS_DIR ".networks"

void gv_network_paths_free(GvNetworkPaths *p)
{
	if (!p)
		return;
	g_free(p->name);
	g_free(p->run_dir);
	g_free(p->sock);
	g_free(p->lock);
	g_free(p->pid);
	g_free(p->log);
	g_free(p->state_dir);
	g_free(p->leases);
	g_free(p->leases_lock);
	g_free(p);
}

GvNetworkPaths *gv_network_paths_new(const char *name, GError **error)
{
	g_autoptr(GvNetworkPaths) p = g_new0(GvNetworkPaths, 1);
	g_autofree char *run_root = gv_runtime_root();
	g_autofree char *state_root = gv_state_root();
	p->name = g_strdup(name);
	p->run_dir = g_build_filename(run_root, NETWORKS_DIR, name, NULL);
	p->sock = g_build_filename(p->run_dir, "switch.sock", NULL);
	p->lock = g_build_filename(p->run_dir, "lock", NULL);
	p->pid = g_build_filename(p->run_dir, "switch.pid", NULL);
	p->log = g_build_filename(p->run_dir, "switch.log", NULL);
	p->state_dir = g_build_filename(state_root, NETWORKS_DIR, name, NULL);
	p->leases = g_build_filename(p->state_dir, "leases", NULL);
	p->leases_lock = g_build_filename(p->state_dir, "leases.lock", NULL);
	if (strlen(p->sock) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		g_set_error(error, GV_ERROR, GV_ERROR_INVALID,
			    "socket path %s is longer than a unix socket allows (107 bytes): set "
			    "GRAINVM_HOME or XDG_RUNTIME_DIR to a shorter directory", p->sock);
		return NULL;
	}
	return g_steal_pointer(&p);
}

/* ---- leases ------------------------------------------------------------------ */

static int lease_host(const char *addr)
{
	/* "10.0.2.N": N, when it is in the leased range. */
	const char *prefix = "10.0.2.";
	guint64 v;
	if (!g_str_has_prefix(addr, prefix) ||
	    !g_ascii_string_to_unsigned(addr + strlen(prefix), 10, GV_SWITCH_LEASE_FIRST,
					GV_SWITCH_LEASE_LAST, &v, NULL))
		return -1;
	return (int)v;
}

char *gv_network_pick(const char *leases, const char *vm,
		      gboolean (*is_running)(const char *vm, gpointer data), gpointer data,
		      char **new_text)
{
	const char *owner[GV_SWITCH_LEASE_LAST + 1] = { 0 };
	g_auto(GStrv) lines = g_strsplit(leases ? leases : "", "\n", -1);
	int mine = -1;

	/* Lines that do not parse are dropped: the file is ours, a bad line is
	 * damage.  A name holding two leases keeps the first. */
	g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);
	for (char **l = lines; *l; l++) {
		char *line = g_strstrip(*l);
		char *sp = strchr(line, ' ');
		if (!sp)
			continue;
		*sp = '\0';
		int h = lease_host(g_strstrip(sp + 1));
		if (h < 0 || owner[h] || !gv_spec_name_valid(line) ||
		    !g_hash_table_add(seen, line))
			continue;
		owner[h] = line; /* points into lines, which outlives owner[] */
		if (!strcmp(line, vm))
			mine = h;
	}
	if (mine < 0) {
		for (int h = GV_SWITCH_LEASE_FIRST; h <= GV_SWITCH_LEASE_LAST && mine < 0; h++)
			if (!owner[h])
				mine = h;
		/* All leased: take one from a VM that is not running now. */
		for (int h = GV_SWITCH_LEASE_FIRST; h <= GV_SWITCH_LEASE_LAST && mine < 0; h++)
			if (!is_running || !is_running(owner[h], data))
				mine = h;
		if (mine < 0)
			return NULL;
		owner[mine] = vm;
	}
	GString *out = g_string_new(NULL);
	for (int h = GV_SWITCH_LEASE_FIRST; h <= GV_SWITCH_LEASE_LAST; h++)
		if (owner[h])
			g_string_append_printf(out, "%s 10.0.2.%d\n", owner[h], h);
	*new_text = g_string_free(out, FALSE);
	return g_strdup_printf("10.0.2.%d", mine);
}

static gboolean vm_running(const char *vm, gpointer data)
{
	g_autoptr(GvVmPaths) p = gv_vm_paths_new(vm, NULL);
	return p && gv_vm_is_running(p);
}

static int lock_file(const char *path, GError **error)
{
	int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 || flock(fd, LOCK_EX) < 0) {
		int err = errno;
		if (fd >= 0)
			close(fd);
		g_set_error(error, GV_ERROR, GV_ERROR_FAILED, "cannot lock %s: %s", path,
			    g_strerror(err));
		return -1;
	}
	return fd;
}

char *gv_network_lease(const char *network, const char *vm, GError **error)
{
	g_autoptr(GvNetworkPaths) p = gv_network_paths_new(network, error);
	if (!p || !gv_mkdir_private(p->state_dir, error))
		return NULL;
	int lock = lock_file(p->leases_lock, error);
	if (lock < 0)
		return NULL;
	g_autofree char *text = NULL;
	g_file_get_contents(p->leases, &text, NULL, NULL);
	g_autofree char *new_text = NULL;
	g_autofree char *addr = gv_network_pick(text, vm, vm_running, NULL, &new_text);
	gboolean ok = addr != NULL;
	if (!ok)
		g_set_error(error, GV_ERROR, GV_ERROR_FAILED,
			    "every address from 10.0.2.%d to 10.0.2.%d is leased to a running VM",
			    GV_SWITCH_LEASE_FIRST, GV_SWITCH_LEASE_LAST);
	else if (g_strcmp0(text, new_text))
		ok = gv_write_file_atomic(p->leases, new_text, strlen(new_text), 0600, error);
	close(lock);
	return ok ? g_strdup_printf("%s/%d", addr, GV_SWITCH_PREFIX) : NULL;
}

/* ---- connecting, and starting the switch ------------------------------------------------ */

/* The switch's socket, or -errno (ENOENT, ECONNREFUSED: no switch runs). */
static int connect_sock(const char *path)
{
	int fd = gv_unix_connect(path, NULL);
	return fd < 0 ? -errno : fd;
}

static void switch_child_setup(gpointer data)
{
	/* Its own session: it serves every VM of the network, not the one that
	 * started it, and must not get that VM's terminal signals. */
	setsid();
}

static char *last_log_line(const char *path)
{
	g_autofree char *text = NULL;
	if (!g_file_get_contents(path, &text, NULL, NULL))
		return NULL;
	g_strchomp(text);
	const char *nl = strrchr(text, '\n');
	return *text ? g_strdup(nl ? nl + 1 : text) : NULL;
}

/* Start `grainvm __switch NAME RUNDIR` and wait for its "ready" line. */
static gboolean start_switch(const GvNetworkPaths *p, GError **error)
{
	int pipefd[2];
	if (!g_unix_open_pipe(pipefd, FD_CLOEXEC, error))
		return FALSE;
	g_autofree char *exe = g_file_read_link("/proc/self/exe", error);
	if (!exe) {
		close(pipefd[0]);
		close(pipefd[1]);
		return FALSE;
	}
	int log_fd = open(p->log, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	/* RUNDIR on the command line: tests find their switches by their temp dir. */
	const char *argv[] = { exe, "__switch", p->name, p->run_dir, NULL };
	const int src[1] = { pipefd[1] };
	const int dst[1] = { 3 };
	/* cwd "/": it outlives the VM that started it and must not pin its directory. */
	gboolean ok = g_spawn_async_with_pipes_and_fds("/", argv, NULL, G_SPAWN_DEFAULT,
						       switch_child_setup, NULL, -1, log_fd, log_fd,
						       src, dst, 1, NULL, NULL, NULL, NULL, error);
	if (log_fd >= 0)
		close(log_fd);
	close(pipefd[1]);
	if (!ok) {
		close(pipefd[0]);
		return FALSE;
	}
	char buf[64] = "";
	gsize got = 0;
	gint64 end = g_get_monotonic_time() + SWITCH_START_MS * 1000ll;
	while (got < sizeof(buf) - 1 && !memchr(buf, '\n', got)) {
		gint64 left = (end - g_get_monotonic_time()) / 1000;
		struct pollfd pfd = { .fd = pipefd[0], .events = POLLIN };
		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
			break;
		ssize_t n = read(pipefd[0], buf + got, sizeof(buf) - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (gsize)n;
	}
	close(pipefd[0]);
	if (got >= 6 && !memcmp(buf, "ready\n", 6))
		return TRUE;
	g_autofree char *why = last_log_line(p->log);
	g_set_error(error, GV_ERROR, GV_ERROR_FAILED, "the switch did not start%s%s (log: %s)",
		    why ? ": " : "", why ? why : "", p->log);
	return FALSE;
}

int gv_network_connect(const char *name, GError **error)
{
	g_autoptr(GvNetworkPaths) p = gv_network_paths_new(name, error);
	if (!p || !gv_mkdir_private(p->run_dir, error))
		return -1;
	int lock = lock_file(p->lock, error);
	if (lock < 0)
		return -1;
	int fd = connect_sock(p->sock);
	if (fd == -ENOENT || fd == -ECONNREFUSED) {
		/* No switch, or a dead one's socket: under the lock, nobody else starts one. */
		if (!start_switch(p, error)) {
			close(lock);
			gv_prefix_error(error, "network %s", name);
			return -1;
		}
		fd = connect_sock(p->sock);
	}
	close(lock);
	if (fd < 0) {
		g_set_error(error, GV_ERROR, GV_ERROR_FAILED,
			    "network %s: cannot connect to the switch at %s: %s", name, p->sock,
			    g_strerror(-fd));
		return -1;
	}
	return fd;
}

int gv_network_switch_pid(const char *name)
{
	g_autoptr(GvNetworkPaths) p = gv_network_paths_new(name, NULL);
	if (!p)
		return 0;
	g_autofree char *text = NULL;
	guint64 v;
	if (!g_file_get_contents(p->pid, &text, NULL, NULL) ||
	    !g_ascii_string_to_unsigned(g_strstrip(text), 10, 1, G_MAXINT, &v, NULL))
		return 0;
	if (kill((pid_t)v, 0) < 0 && errno == ESRCH)
		return 0;
	return (int)v;
}
