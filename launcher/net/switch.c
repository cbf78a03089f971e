/* SPDX-License-Identifier: MIT */
/*
 * switch.c - one switch network: a learning Ethernet switch whose ports are
 * QEMU processes, with libslirp as one more port for NAT, DHCP and DNS
 *
 * Theory of operation
 * -------------------
 * Each VM on the network is one connection on RUNDIR/switch.sock, made by
 * its supervisor and handed to QEMU (-netdev stream): QEMU writes every
 * Ethernet frame as a 4-byte big-endian length and the frame, and reads
 * frames the same way.  libslirp is port 0, the gateway 10.0.2.2 with DNS
 * at 10.0.2.3 and a DHCP server from 10.0.2.100, what QEMU's own
 * -netdev user gives one guest, here shared by all of them, with one
 * difference: an MTU of 65520 instead of 1500 (GV_SWITCH_MTU).
 *
 * A frame from any port goes through switch-core.c, which learns its
 * source and names the destination port or says flood.  Frames for port 0
 * go into slirp_input(); slirp's own frames come back through its
 * send_packet callback and are routed the same way.  What a round routes
 * to a port is written to it in one go at the end of the round.
 *
 * One thread, one poll(): the listening socket, every port, and the
 * sockets libslirp asks for (slirp_pollfds_fill/poll), with the nearest
 * libslirp timer as the timeout.  Reads are batched (a read takes whatever
 * frames are there, up to IN_CAP), and so are writes (see port_send()); what
 * the peer cannot take at once stays queued, and a port whose queue is
 * beyond OUT_CAP loses frames
 * instead, as a real switch drops on a full port, so a stuck VM cannot
 * grow the switch or stall the others.  TCP in the guests recovers.
 *
 * The end: when the last port has gone (or none came within START_IDLE_MS
 * of the start), the switch takes the network's lock, accepts anything that
 * queued meanwhile, and exits only if nothing did (network.h).
 *
 * As root, the switch's work (libslirp, every frame a guest sends) runs
 * in a child process as QEMU's user (gv_qemu_user(): by default not root), with no
 * capabilities, as QEMU does (supervisor/privdrop.h).  That child cannot remove the
 * socket and pid file from root's 0700 directory at the end, so the root
 * parent stays behind for that alone: the child asks over a pipe, under the
 * network's lock (opened before the fork), and waits for the answer.
 */
#include "net/switch.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib-unix.h>
#include <slirp/libslirp.h>

#include "gv-error.h"
#include "net/switch-net.h"
#include "paths.h"
#include "fileio.h"
#include "net/switch-core.h"
#include "supervisor/privdrop.h"
#include "unix-socket.h"

/* QEMU's NET_BUFSIZE: the largest frame a -netdev stream peer sends. */
#define FRAME_MAX (4096 + 65536)
/* Per read: many frames at once, so the per-syscall cost is spread. */
#define IN_CAP (256 * 1024)
/* Per port: about 700 full-size frames; a guest that reads nothing loses the rest. */
#define OUT_CAP (1024 * 1024)
/* A switch nobody connects to (its starter died) goes after this. */
#define START_IDLE_MS 10000
/* MAC addresses learnt at most: far more than VMs, small enough to bound memory. */
#define TABLE_MAX 4096
#define SLIRP_PORT 0
#define PORTS_MAX 256

typedef struct {
	int id;
	int fd;
	guint8 *in;        /* IN_CAP bytes; in_len of them hold a partial frame */
	gsize in_len;
	GByteArray *out;   /* length-prefixed frames QEMU has not taken yet */
	guint64 dropped;
	gboolean dead;
} Port;

typedef struct {
	SlirpTimerId id;
	void *cb_opaque;
	SlirpTimerCb cb;   /* the old-style timer_new, when libslirp uses it */
	gint64 expire_ms;  /* -1: not armed */
} Timer;

typedef struct {
	GvNetworkPaths *paths;
	Slirp *slirp;
	GvSwitchTable *table;
	GPtrArray *ports;    /* Port* */
	GPtrArray *timers;   /* Timer* */
	GArray *pfds;        /* struct pollfd for one round */
	int listen_fd;
	int lock_fd;         /* the network's lock, opened before a privilege drop; or -1 */
	int unlink_req;      /* dropped: ask the root parent to remove the files; or -1 */
	int unlink_ack;      /* and its answer */
	int next_id;
	gboolean had_port;
	gint64 started_ms;
} Switch;

static gint64 now_ms(void)
{
	return g_get_monotonic_time() / 1000;
}

static void port_free(Port *p)
{
	if (p->fd >= 0)
		close(p->fd);
	g_free(p->in);
	g_byte_array_unref(p->out);
	g_free(p);
}

/* ---- sending -------------------------------------------------------------------- */

/*
 * Frames for a port are queued and written once per round (flush_ports()),
 * not one write per frame: libslirp answers nearly every TCP segment from
 * a guest with an ACK, and a write per ACK was a third of the switch's
 * system calls (strace -c of a 64 MiB transfer at MTU 1500: 46,621 writev).
 */
static void port_send(Port *p, const guint8 *frame, gsize len)
{
	guint8 hdr[4] = { len >> 24, len >> 16, len >> 8, len };
	if (p->dead)
		return;
	if (p->out->len + len + 4 > OUT_CAP) {
		p->dropped++;
		return;
	}
	g_byte_array_append(p->out, hdr, 4);
	g_byte_array_append(p->out, frame, (guint)len);
}

static void port_flush(Port *p)
{
	while (p->out->len && !p->dead) {
		ssize_t w = write(p->fd, p->out->data, p->out->len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			return;
		if (w <= 0) {
			p->dead = TRUE;
			return;
		}
		g_byte_array_remove_range(p->out, 0, (guint)w);
	}
}

static void flush_ports(Switch *sw)
{
	for (guint i = 0; i < sw->ports->len; i++)
		port_flush(g_ptr_array_index(sw->ports, i));
}

static Port *port_by_id(Switch *sw, int id)
{
	for (guint i = 0; i < sw->ports->len; i++) {
		Port *p = g_ptr_array_index(sw->ports, i);
		if (p->id == id)
			return p;
	}
	return NULL;
}

/* The one place frames are forwarded: from port @in to where the table says. */
static void route(Switch *sw, int in, const guint8 *frame, gsize len)
{
	int dst = gv_switch_table_route(sw->table, frame, len, in, g_get_monotonic_time());
	if (dst == GV_SWITCH_DROP)
		return;
	if (dst == GV_SWITCH_FLOOD) {
		for (guint i = 0; i < sw->ports->len; i++) {
			Port *p = g_ptr_array_index(sw->ports, i);
			if (p->id != in)
				port_send(p, frame, len);
		}
		if (in != SLIRP_PORT)
			slirp_input(sw->slirp, frame, (int)len);
		return;
	}
	if (dst == SLIRP_PORT) {
		slirp_input(sw->slirp, frame, (int)len);
		return;
	}
	Port *p = port_by_id(sw, dst);
	if (p)
		port_send(p, frame, len);
}

/* ---- libslirp's callbacks --------------------------------------------------------- */

static ssize_t cb_send_packet(const void *buf, size_t len, void *opaque)
{
	route(opaque, SLIRP_PORT, buf, len);
	return (ssize_t)len;
}

static void cb_guest_error(const char *msg, void *opaque)
{
	g_printerr("grainvm switch: libslirp: %s\n", msg);
}

static int64_t cb_clock_get_ns(void *opaque)
{
	return g_get_monotonic_time() * 1000;
}

static Timer *timer_add(Switch *sw)
{
	Timer *t = g_new0(Timer, 1);
	t->expire_ms = -1;
	g_ptr_array_add(sw->timers, t);
	return t;
}

static void *cb_timer_new(SlirpTimerCb cb, void *cb_opaque, void *opaque)
{
	Timer *t = timer_add(opaque);
	t->cb = cb;
	t->cb_opaque = cb_opaque;
	return t;
}

static void *cb_timer_new_opaque(SlirpTimerId id, void *cb_opaque, void *opaque)
{
	Timer *t = timer_add(opaque);
	t->id = id;
	t->cb_opaque = cb_opaque;
	return t;
}

static void cb_timer_free(void *timer, void *opaque)
{
	Switch *sw = opaque;
	g_ptr_array_remove_fast(sw->timers, timer);
	g_free(timer);
}

static void cb_timer_mod(void *timer, int64_t expire_ms, void *opaque)
{
	((Timer *)timer)->expire_ms = expire_ms;
}

/* slirp_pollfds_fill() is asked every round, so registration needs no bookkeeping. */
static void cb_register_poll_fd(int fd, void *opaque)
{
}

static void cb_unregister_poll_fd(int fd, void *opaque)
{
}

static void cb_notify(void *opaque)
{
}

static const SlirpCb slirp_callbacks = {
	.send_packet = cb_send_packet,
	.guest_error = cb_guest_error,
	.clock_get_ns = cb_clock_get_ns,
	.timer_new = cb_timer_new,
	.timer_free = cb_timer_free,
	.timer_mod = cb_timer_mod,
	.register_poll_fd = cb_register_poll_fd,
	.unregister_poll_fd = cb_unregister_poll_fd,
	.notify = cb_notify,
	.timer_new_opaque = cb_timer_new_opaque,
};

static short to_poll(int ev)
{
	short p = 0;
	if (ev & SLIRP_POLL_IN)
		p |= POLLIN;
	if (ev & SLIRP_POLL_OUT)
		p |= POLLOUT;
	if (ev & SLIRP_POLL_PRI)
		p |= POLLPRI;
	return p;
}

static int cb_add_poll(int fd, int events, void *opaque)
{
	Switch *sw = opaque;
	struct pollfd pfd = { .fd = fd, .events = to_poll(events) };
	g_array_append_val(sw->pfds, pfd);
	return (int)sw->pfds->len - 1;
}

static int cb_get_revents(int idx, void *opaque)
{
	Switch *sw = opaque;
	short r = g_array_index(sw->pfds, struct pollfd, idx).revents;
	int ev = 0;
	if (r & POLLIN)
		ev |= SLIRP_POLL_IN;
	if (r & POLLOUT)
		ev |= SLIRP_POLL_OUT;
	if (r & POLLPRI)
		ev |= SLIRP_POLL_PRI;
	if (r & POLLERR)
		ev |= SLIRP_POLL_ERR;
	if (r & POLLHUP)
		ev |= SLIRP_POLL_HUP;
	return ev;
}

static Slirp *slirp_start(Switch *sw)
{
	SlirpConfig cfg = { 0 };
	cfg.version = SLIRP_CONFIG_VERSION_MAX < 4 ? SLIRP_CONFIG_VERSION_MAX : 4;
	cfg.in_enabled = true;
	/* Jumbo frames, as passt does: see GV_SWITCH_MTU. */
	cfg.if_mtu = cfg.if_mru = GV_SWITCH_MTU;
	inet_pton(AF_INET, GV_SWITCH_NET, &cfg.vnetwork);
	cfg.vnetmask.s_addr = htonl(~0u << (32 - GV_SWITCH_PREFIX));
	inet_pton(AF_INET, GV_SWITCH_GATEWAY, &cfg.vhost);
	inet_pton(AF_INET, GV_SWITCH_DHCP_START, &cfg.vdhcp_start);
	inet_pton(AF_INET, GV_SWITCH_DNS, &cfg.vnameserver);
	/* IPv6 as QEMU's -netdev user has it: fec0::/64, gateway ::2, DNS ::3. */
	cfg.in6_enabled = true;
	inet_pton(AF_INET6, "fec0::", &cfg.vprefix_addr6);
	cfg.vprefix_len = 64;
	inet_pton(AF_INET6, "fec0::2", &cfg.vhost6);
	inet_pton(AF_INET6, "fec0::3", &cfg.vnameserver6);
	return slirp_new(&cfg, &slirp_callbacks, sw);
}

/* ---- ports ---------------------------------------------------------------------------- */

static void port_read(Switch *sw, Port *p)
{
	ssize_t n;
	do
		n = read(p->fd, p->in + p->in_len, IN_CAP - p->in_len);
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno == EAGAIN)
		return;
	if (n <= 0) {
		p->dead = TRUE;
		return;
	}
	p->in_len += (gsize)n;
	gsize off = 0;
	while (p->in_len - off >= 4) {
		const guint8 *h = p->in + off;
		gsize len = (gsize)h[0] << 24 | (gsize)h[1] << 16 | (gsize)h[2] << 8 | h[3];
		if (len == 0 || len > FRAME_MAX) {
			g_printerr("grainvm switch: port %d sent a frame of %zu bytes; dropping the port\n",
				   p->id, len);
			p->dead = TRUE;
			return;
		}
		if (p->in_len - off < len + 4)
			break;
		route(sw, p->id, h + 4, len);
		off += len + 4;
	}
	memmove(p->in, p->in + off, p->in_len - off);
	p->in_len -= off;
}

static void accept_ports(Switch *sw)
{
	for (;;) {
		int fd = accept4(sw->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		if (sw->ports->len >= PORTS_MAX) {
			g_printerr("grainvm switch: %d ports already; refusing another\n", PORTS_MAX);
			close(fd);
			continue;
		}
		Port *p = g_new0(Port, 1);
		p->id = ++sw->next_id;
		p->fd = fd;
		p->in = g_malloc(IN_CAP);
		p->out = g_byte_array_new();
		g_ptr_array_add(sw->ports, p);
		sw->had_port = TRUE;
		g_printerr("grainvm switch: port %d connected (%u now)\n", p->id, sw->ports->len);
	}
}

static void reap_ports(Switch *sw)
{
	for (guint i = 0; i < sw->ports->len;) {
		Port *p = g_ptr_array_index(sw->ports, i);
		if (!p->dead) {
			i++;
			continue;
		}
		gv_switch_table_forget_port(sw->table, p->id);
		g_printerr("grainvm switch: port %d gone (%" G_GUINT64_FORMAT " frames dropped on it; "
			   "%u left)\n", p->id, p->dropped, sw->ports->len - 1);
		g_ptr_array_remove_index(sw->ports, i);
	}
}

/* ---- the loop -------------------------------------------------------------------------- */

/* Our starter holds the network's lock: a socket file here is a dead switch's. */
static int listen_on(const char *path, GError **error)
{
	int fd = gv_unix_listen(path, 64, error);
	if (fd >= 0 && !g_unix_set_fd_nonblocking(fd, TRUE, NULL)) {
		g_set_error(error, GV_ERROR, GV_ERROR_FAILED, "cannot listen on %s: %s", path,
			    g_strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* No port left: exit, unless a VM queued a connection meanwhile (see network.h). */
static gboolean may_exit(Switch *sw)
{
	if (!sw->had_port && now_ms() - sw->started_ms < START_IDLE_MS)
		return FALSE;
	int lock = sw->lock_fd >= 0 ? sw->lock_fd
				    : open(sw->paths->lock, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (lock >= 0)
		flock(lock, LOCK_EX);
	accept_ports(sw);
	gboolean done = sw->ports->len == 0;
	if (done) {
		if (sw->unlink_req >= 0) {
			/* Dropped: the root parent removes them; wait until it has. */
			char c = 'u';
			if (write(sw->unlink_req, &c, 1) == 1 && read(sw->unlink_ack, &c, 1) < 0) {
				/* The parent is gone: nothing removes them; as after a crash. */
			}
		} else {
			unlink(sw->paths->sock);
			unlink(sw->paths->pid);
		}
		close(sw->listen_fd);
		sw->listen_fd = -1;
	}
	/* After the unlink: the next VM starts a new switch. */
	if (lock >= 0 && lock == sw->lock_fd)
		flock(lock, LOCK_UN);
	else if (lock >= 0)
		close(lock);
	return done;
}

static void run_timers(Switch *sw)
{
	gint64 now = now_ms();
	/* Bounded: a timer re-armed into the past must not spin here forever. */
	guint fired = 0;
	for (guint i = 0; i < sw->timers->len && fired < 64; i++) {
		Timer *t = g_ptr_array_index(sw->timers, i);
		if (t->expire_ms < 0 || t->expire_ms > now)
			continue;
		t->expire_ms = -1;
		fired++;
		/* The callback may free or add timers: restart the scan after it. */
		if (t->cb)
			t->cb(t->cb_opaque);
		else
			slirp_handle_timer(sw->slirp, t->id, t->cb_opaque);
		i = (guint)-1;
	}
}

static int round_timeout(Switch *sw, guint32 slirp_ms)
{
	gint64 now = now_ms(), t = slirp_ms;
	for (guint i = 0; i < sw->timers->len; i++) {
		Timer *tm = g_ptr_array_index(sw->timers, i);
		if (tm->expire_ms >= 0)
			t = MIN(t, MAX(0, tm->expire_ms - now));
	}
	if (!sw->had_port)
		t = MIN(t, MAX(0, sw->started_ms + START_IDLE_MS - now));
	return (int)MIN(t, 60000);
}

static void loop(Switch *sw)
{
	for (;;) {
		g_array_set_size(sw->pfds, 0);
		struct pollfd lp = { .fd = sw->listen_fd, .events = POLLIN };
		g_array_append_val(sw->pfds, lp);
		guint nports = sw->ports->len;
		for (guint i = 0; i < nports; i++) {
			Port *p = g_ptr_array_index(sw->ports, i);
			struct pollfd pp = { .fd = p->fd,
					     .events = POLLIN | (p->out->len ? POLLOUT : 0) };
			g_array_append_val(sw->pfds, pp);
		}
		guint32 slirp_ms = UINT32_MAX;
		slirp_pollfds_fill(sw->slirp, &slirp_ms, cb_add_poll, sw);
		int rc = poll((struct pollfd *)sw->pfds->data, sw->pfds->len,
			      round_timeout(sw, slirp_ms));
		if (rc < 0 && errno != EINTR) {
			g_printerr("grainvm switch: poll: %s\n", g_strerror(errno));
			return;
		}
		struct pollfd *pf = (struct pollfd *)sw->pfds->data;
		if (rc > 0) {
			for (guint i = 0; i < nports; i++) {
				Port *p = g_ptr_array_index(sw->ports, i);
				short r = pf[1 + i].revents;
				if (r & POLLOUT)
					port_flush(p);
				if (r & (POLLIN | POLLHUP | POLLERR))
					port_read(sw, p);
			}
		}
		slirp_pollfds_poll(sw->slirp, rc < 0, cb_get_revents, sw);
		run_timers(sw);
		flush_ports(sw);
		if (rc > 0 && (pf[0].revents & POLLIN))
			accept_ports(sw);
		reap_ports(sw);
		if (sw->ports->len == 0 && may_exit(sw))
			return;
	}
}

/*
 * The root parent of a dropped switch: remove the socket and pid file when
 * the child asks, then wait for it and exit as it did.  A child that ends
 * without asking (killed) leaves them, as a killed switch always did.
 */
static gboolean parent_of_dropped(const GvNetworkPaths *paths, pid_t child, int req, int ack,
				  GError **error)
{
	g_autofree char *pid = g_strdup_printf("%d\n", (int)child);
	gv_write_file_atomic(paths->pid, pid, strlen(pid), 0600, NULL);
	char c;
	ssize_t n;
	while ((n = read(req, &c, 1)) < 0 && errno == EINTR)
		;
	if (n == 1) {
		unlink(paths->sock);
		unlink(paths->pid);
		if (write(ack, &c, 1) < 0) {
			/* The child died meanwhile; the files are gone anyway. */
		}
	}
	close(req);
	close(ack);
	int status = 0;
	while (waitpid(child, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return TRUE;
	g_set_error(error, GV_ERROR, GV_ERROR_FAILED, "the switch's unprivileged process %s %d",
		    WIFEXITED(status) ? "exited with status" : "was killed by signal",
		    WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
	return FALSE;
}

gboolean gv_switch_run(const char *name, int ready_fd, GError **error)
{
	g_autoptr(GvNetworkPaths) paths = gv_network_paths_new(name, error);
	if (!paths || !gv_mkdir_private(paths->run_dir, error))
		return FALSE;
	Switch sw = { .paths = paths, .started_ms = now_ms(), .lock_fd = -1, .unlink_req = -1,
		      .unlink_ack = -1 };
	GvQemuUser user = { .drop = FALSE };
	if (geteuid() == 0 && !gv_qemu_user(FALSE, &user, error))
		return FALSE;
	g_autofree char *user_name = user.name;
	g_autofree char *user_why = user.why;
	sw.listen_fd = listen_on(paths->sock, error);
	if (sw.listen_fd < 0)
		return FALSE;
	if (user.drop) {
		int req[2], ack[2];
		sw.lock_fd = open(paths->lock, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (sw.lock_fd < 0 || !g_unix_open_pipe(req, FD_CLOEXEC, error)) {
			if (error && !*error)
				g_set_error(error, GV_ERROR, GV_ERROR_FAILED, "cannot open %s: %s",
					    paths->lock, g_strerror(errno));
			unlink(paths->sock);
			return FALSE;
		}
		if (!g_unix_open_pipe(ack, FD_CLOEXEC, error)) {
			unlink(paths->sock);
			return FALSE;
		}
		pid_t child = fork();
		if (child < 0) {
			g_set_error(error, GV_ERROR, GV_ERROR_FAILED, "fork: %s", g_strerror(errno));
			unlink(paths->sock);
			return FALSE;
		}
		if (child > 0) {
			close(sw.listen_fd);
			close(sw.lock_fd);
			close(req[1]);
			close(ack[0]);
			if (ready_fd >= 0)
				close(ready_fd);
			return parent_of_dropped(paths, child, req[0], ack[1], error);
		}
		close(req[0]);
		close(ack[1]);
		sw.unlink_req = req[1];
		sw.unlink_ack = ack[0];
		int r = gv_drop_privileges(user.uid, user.gid, (gid_t)-1);
		if (r < 0) {
			g_printerr("grainvm switch: cannot become %s: %s\n", user.name, g_strerror(-r));
			_exit(GV_EXIT_FAILED);
		}
	}
	signal(SIGPIPE, SIG_IGN);
	sw.table = gv_switch_table_new(TABLE_MAX);
	sw.ports = g_ptr_array_new_with_free_func((GDestroyNotify)port_free);
	sw.timers = g_ptr_array_new();
	sw.pfds = g_array_new(FALSE, FALSE, sizeof(struct pollfd));
	sw.slirp = slirp_start(&sw);
	gboolean ok = sw.slirp != NULL;
	if (!ok) {
		g_set_error(error, GV_ERROR, GV_ERROR_FAILED, "libslirp refused its configuration");
		unlink(paths->sock);
	} else {
		g_autofree char *pid = g_strdup_printf("%d\n", getpid());
		if (!user.drop) /* else the parent wrote it: this one cannot */
			gv_write_file_atomic(paths->pid, pid, strlen(pid), 0600, NULL);
		g_printerr("grainvm switch: network %s on %s (libslirp %s)\n", name, paths->sock,
			   slirp_version_string());
		if (ready_fd >= 0) {
			if (write(ready_fd, "ready\n", 6) != 6) {
				/* The starter is gone; serve anyway until idle. */
			}
			close(ready_fd);
		}
		loop(&sw);
		g_printerr("grainvm switch: no VM left on network %s; exiting\n", name);
		slirp_cleanup(sw.slirp);
	}
	if (sw.listen_fd >= 0)
		close(sw.listen_fd);
	g_ptr_array_unref(sw.ports);
	for (guint i = 0; i < sw.timers->len; i++)
		g_free(g_ptr_array_index(sw.timers, i));
	g_ptr_array_unref(sw.timers);
	g_array_unref(sw.pfds);
	gv_switch_table_free(sw.table);
	if (sw.lock_fd >= 0)
		close(sw.lock_fd);
	if (user.drop) {
		/* The dropped child ends here; its parent reports, from its exit status. */
		if (!ok && error && *error)
			g_printerr("grainvm switch: %s\n", (*error)->message);
		_exit(ok ? GV_EXIT_OK : GV_EXIT_FAILED);
	}
	return ok;
}
