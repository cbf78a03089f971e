/* SPDX-License-Identifier: MIT */
/*
 * channel.c - virtio-serial port and unix-listen transports (see channel.h)
 */
#include "channel.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "loop.h"
#include "util.h"

/* How often a disconnected port is re-checked if no SIGIO comes: short
 * enough that a host never waits noticeably for its first reply. */
#define RETRY_MS 250
/* Larger output buffers are freed once drained. */
#define KEEP_OUT (64u << 10)

static struct {
	enum channel_kind kind;
	char path[256];
	bool default_port;
	int fd;            /* port, or the unix client */
	int listen_fd;
	bool connected;
	bool dead;         /* a write failed: disconnect after this round */
	struct proto proto;
	char *out;
	size_t head, tail, cap;
	struct watch w, lw;
	struct timer retry;
	bool warned;
} ch = { .fd = -1, .listen_fd = -1 };

static char rbuf[64 << 10];

uint64_t channel_session(void)
{
	return ch.proto.session;
}

bool channel_session_alive(uint64_t session)
{
	return ch.connected && !ch.dead && session == ch.proto.session;
}

size_t channel_backlog(void)
{
	return ch.tail - ch.head;
}

static void out_drop(void)
{
	ch.head = ch.tail = 0;
	if (ch.cap > KEEP_OUT) {
		free(ch.out);
		ch.out = NULL;
		ch.cap = 0;
	}
}

static void disconnect(void)
{
	if (!ch.connected)
		return;
	ch.connected = false;
	ch.dead = false;
	proto_reset(&ch.proto);
	out_drop();
	loop_del(&ch.w);
	if (ch.kind == CHANNEL_UNIX) {
		close(ch.fd);
		ch.fd = -1;
		ch.lw.events = POLLIN;
	} else {
		timer_arm(&ch.retry, RETRY_MS);
	}
}

/* Write queued bytes; false on a fatal error. */
static bool out_write(void)
{
	while (ch.head < ch.tail) {
		ssize_t n = write(ch.fd, ch.out + ch.head, ch.tail - ch.head);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0)
			return false;
		ch.head += (size_t)n;
	}
	if (ch.head == ch.tail)
		out_drop();
	return true;
}

static bool out_push(struct jw *w)
{
	const char *p = w->buf;
	size_t n = w->len;

	if (!ch.connected || ch.dead)
		return false;
	if (ch.head == ch.tail) {
		/* Nothing queued: write straight from the reply. */
		while (n) {
			ssize_t k = write(ch.fd, p, n);
			if (k < 0 && errno == EINTR)
				continue;
			if (k < 0 && errno == EAGAIN)
				break;
			if (k <= 0) {
				/* Do not disconnect here: we may be inside
				 * proto_feed(), whose buffer a reset frees. */
				ch.dead = true;
				return false;
			}
			p += k;
			n -= (size_t)k;
		}
		if (!n)
			return true;
		if (n > KEEP_OUT) {
			/* Take the big reply's buffer instead of copying. */
			free(ch.out);
			ch.out = w->buf;
			ch.cap = w->cap;
			ch.head = (size_t)(p - w->buf);
			ch.tail = w->len;
			w->buf = NULL;
			w->cap = 0;
			w->len = 0;
			ch.w.events |= POLLOUT;
			return true;
		}
	}
	if (ch.cap - ch.tail < n) {
		if (ch.head) {
			memmove(ch.out, ch.out + ch.head, ch.tail - ch.head);
			ch.tail -= ch.head;
			ch.head = 0;
		}
		if (ch.cap - ch.tail < n) {
			size_t cap = ch.cap ? ch.cap : 4096;
			while (cap - ch.tail < n)
				cap *= 2;
			char *nb = realloc(ch.out, cap);
			if (!nb) {
				/* Losing a reply silently would hang the host;
				 * drop the connection so it resynchronises. */
				ch.dead = true;
				return false;
			}
			ch.out = nb;
			ch.cap = cap;
		}
	}
	memcpy(ch.out + ch.tail, p, n);
	ch.tail += n;
	/* Queued from outside our own callback (an event from a prepare
	 * hook): make sure this round's poll waits for POLLOUT. */
	ch.w.events |= POLLOUT;
	return true;
}

static void emit(void *opaque, struct jw *w)
{
	(void)opaque;
	out_push(w);
}

bool channel_send(uint64_t session, struct jw *w)
{
	if (!channel_session_alive(session))
		return false;
	return out_push(w);
}

void channel_flush(void)
{
	if (ch.connected && !ch.dead) {
		/* Give the host up to a second to take the last bytes. */
		struct pollfd pfd = { .fd = ch.fd, .events = POLLOUT };
		int64_t end = now_ms() + 1000;
		while (ch.head < ch.tail && now_ms() < end) {
			if (poll(&pfd, 1, 100) <= 0 || !out_write())
				break;
		}
	}
}

static void on_io(struct watch *w, short revents)
{
	(void)w;
	if (revents & POLLOUT) {
		if (!out_write())
			ch.dead = true;
	}
	if (revents & (POLLIN | POLLHUP | POLLERR)) {
		/* Read before acting on POLLHUP: the host may have written
		 * its last request and left. */
		ssize_t n = read(ch.fd, rbuf, sizeof(rbuf));
		if (n > 0) {
			proto_feed(&ch.proto, rbuf, (size_t)n);
		} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
			ch.dead = true;
		} else if (revents & (POLLHUP | POLLERR)) {
			ch.dead = true;
		}
	}
	if (ch.dead)
		disconnect();
}

/* Prepare hook: poll for input only while the output queue is short. */
static void prepare(void)
{
	if (ch.dead)
		disconnect();
	if (!ch.connected)
		return;
	short ev = 0;
	if (channel_backlog() < CHANNEL_BACKLOG_MAX)
		ev |= POLLIN;
	if (channel_backlog())
		ev |= POLLOUT;
	/* events 0 would take the fd out of the poll set and hide POLLHUP;
	 * with a full queue POLLOUT is set anyway. */
	ch.w.events = ev;
}

static void connected(void)
{
	ch.connected = true;
	ch.dead = false;
	watch_init(&ch.w, ch.fd, POLLIN, on_io);
	loop_add(&ch.w);
}

/*
 * Find the port by its name when the /dev/virtio-ports link is missing
 * (no udev): /sys/class/virtio-ports/vportNpM/name holds the name.
 */
static int find_port_by_name(const char *name, char *dev, size_t size)
{
	DIR *d = opendir("/sys/class/virtio-ports");
	struct dirent *de;
	int rc = -ENOENT;

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		char p[320], val[128];
		if (strncmp(de->d_name, "vport", 5) != 0)
			continue;
		snprintf(p, sizeof(p), "/sys/class/virtio-ports/%s/name", de->d_name);
		if (read_file(p, val, sizeof(val)) < 0)
			continue;
		if (strcmp(trim(val), name) == 0) {
			snprintf(dev, size, "/dev/%s", de->d_name);
			rc = 0;
			break;
		}
	}
	closedir(d);
	return rc;
}

static int port_open(void)
{
	char dev[300];
	const char *path = ch.path;
	int fd;

	if (ch.default_port && access(path, F_OK) < 0 &&
	    find_port_by_name(CHANNEL_PORT_NAME, dev, sizeof(dev)) == 0)
		path = dev;
	fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	/* SIGIO on host connect: see the theory of operation. */
	fcntl(fd, F_SETOWN, getpid());
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_ASYNC);
	ch.fd = fd;
	return 0;
}

/* Is a host on the other end of the open port? */
static void port_check(void)
{
	struct pollfd pfd = { .fd = ch.fd, .events = POLLIN };

	if (ch.connected)
		return;
	if (poll(&pfd, 1, 0) < 0)
		return;
	if (pfd.revents & POLLHUP) {
		/* Still nobody there; data without a host can still arrive
		 * (a host that wrote and left), drain it so a stale request
		 * does not run for the next host. */
		if (pfd.revents & POLLIN)
			while (read(ch.fd, rbuf, sizeof(rbuf)) > 0)
				;
		timer_arm(&ch.retry, RETRY_MS);
		return;
	}
	timer_disarm(&ch.retry);
	connected();
}

static void on_retry(struct timer *t)
{
	(void)t;
	if (ch.fd < 0) {
		int rc = port_open();
		if (rc < 0) {
			if (!ch.warned)
				log_msg("waiting for %s: %s", ch.path, strerror(-rc));
			ch.warned = true;
			timer_arm(&ch.retry, RETRY_MS);
			return;
		}
	}
	port_check();
}

void channel_sigio(void)
{
	if (ch.kind == CHANNEL_PORT && ch.fd >= 0)
		port_check();
}

static void on_accept(struct watch *w, short revents)
{
	int fd;

	(void)w;
	(void)revents;
	if (ch.connected)
		return;
	fd = accept4(ch.listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	ch.fd = fd;
	/* One client at a time, like qemu-ga: others wait in the backlog. */
	ch.lw.events = 0;
	connected();
}

static int unix_listen(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 16) < 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

int channel_start(enum channel_kind kind, const char *path,
		  const struct command *cmds, size_t ncmds)
{
	ch.kind = kind;
	ch.default_port = !path;
	snprintf(ch.path, sizeof(ch.path), "%s", path ? path : CHANNEL_DEFAULT_PORT);
	proto_init(&ch.proto, cmds, ncmds, emit, NULL);
	timer_init(&ch.retry, on_retry);
	loop_add_prepare(prepare);
	if (kind == CHANNEL_UNIX) {
		int fd = unix_listen(ch.path);
		if (fd < 0)
			return fd;
		ch.listen_fd = fd;
		watch_init(&ch.lw, fd, POLLIN, on_accept);
		return loop_add(&ch.lw);
	}
	on_retry(&ch.retry);
	return 0;
}
