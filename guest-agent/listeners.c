/* SPDX-License-Identifier: MIT */
/*
 * listeners.c - grain-listeners: the guest's listening TCP sockets
 *
 * The host polls this to forward every port the guest listens on
 * ([net] auto-forward).  The kernel's own tables, /proc/net/tcp and
 * /proc/net/tcp6, say it without netlink: one line per socket, the local
 * address and port in hex, the state 0A for LISTEN.  They are read in
 * fixed chunks and parsed line by line, so a guest with a hundred thousand
 * connections costs time, not memory; at most LISTENERS_MAX distinct
 * sockets are reported and "truncated" says when there were more.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "util.h"

/* More listening sockets than a host would want forwarded one by one. */
#define LISTENERS_MAX 256
/* A /proc/net/tcp6 line is about 170 bytes; longer lines are not sockets. */
#define LINE_MAX_LEN 512

struct listener {
	int family;
	unsigned char addr[16];
	uint16_t port;
};

struct scan {
	struct listener l[LISTENERS_MAX];
	size_t n;
	bool truncated;
};

/* "0100007F" (a 32-bit word as the kernel prints it): the word in memory order. */
static int hex_word(const char *s, uint32_t *out)
{
	char buf[9], *end;

	memcpy(buf, s, 8);
	buf[8] = '\0';
	*out = (uint32_t)strtoul(buf, &end, 16);
	return *end ? -EINVAL : 0;
}

/* One line: "  N: LOCALADDR:PORT REMADDR:PORT ST ..." */
static void scan_line(struct scan *sc, char *line, int family)
{
	size_t words = family == AF_INET ? 1 : 4;
	char *p = strchr(line, ':'), *local, *colon, *st, *end;
	struct listener l = { .family = family };

	if (!p)
		return;
	local = p + 1;
	while (*local == ' ')
		local++;
	colon = strchr(local, ':');
	if (!colon || (size_t)(colon - local) != words * 8)
		return;
	for (size_t i = 0; i < words; i++) {
		uint32_t w;
		if (hex_word(local + i * 8, &w) < 0)
			return;
		memcpy(l.addr + i * 4, &w, 4);
	}
	unsigned long port = strtoul(colon + 1, &end, 16);
	if (end != colon + 5 || port == 0 || port > 65535)
		return;
	l.port = (uint16_t)port;
	/* Skip the remote address to the state. */
	st = end;
	while (*st == ' ')
		st++;
	st = strchr(st, ' ');
	if (!st)
		return;
	while (*st == ' ')
		st++;
	if (strncmp(st, "0A ", 3) != 0)
		return;
	for (size_t i = 0; i < sc->n; i++)
		if (sc->l[i].family == l.family && sc->l[i].port == l.port &&
		    !memcmp(sc->l[i].addr, l.addr, 16))
			return; /* SO_REUSEPORT groups list one socket per member */
	if (sc->n == LISTENERS_MAX) {
		sc->truncated = true;
		return;
	}
	sc->l[sc->n++] = l;
}

static int scan_file(struct scan *sc, const char *path, int family)
{
	char buf[8192];
	size_t len = 0;
	bool skip = false;   /* in the rest of an over-long line */
	bool header = true;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	for (;;) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		buf[len] = '\0';
		char *line = buf, *nl;
		while ((nl = strchr(line, '\n'))) {
			*nl = '\0';
			if (!skip && !header && nl - line < LINE_MAX_LEN)
				scan_line(sc, line, family);
			skip = header = false;
			line = nl + 1;
		}
		len = strlen(line);
		if (len >= LINE_MAX_LEN) {
			skip = true;
			len = 0;
		} else {
			memmove(buf, line, len);
		}
	}
	close(fd);
	return 0;
}

int cmd_grain_listeners(struct req *r)
{
	static struct scan sc;  /* 5 KiB: off the stack, and the agent is single-threaded */
	struct jw *w = r->w;
	int rc4, rc6;

	if (req_check_args(r, NULL, 0) < 0)
		return -1;
	sc.n = 0;
	sc.truncated = false;
	rc4 = scan_file(&sc, "/proc/net/tcp", AF_INET);
	rc6 = scan_file(&sc, "/proc/net/tcp6", AF_INET6);  /* absent without IPv6 */
	if (rc4 < 0 && rc6 < 0)
		return req_error(r, "GenericError", "cannot read /proc/net/tcp: %s",
				 strerror(-rc4));
	jw_obj_open(w);
	jw_key(w, "tcp");
	jw_arr_open(w);
	for (size_t i = 0; i < sc.n; i++) {
		char txt[INET6_ADDRSTRLEN];
		if (!inet_ntop(sc.l[i].family, sc.l[i].addr, txt, sizeof(txt)))
			continue;
		jw_obj_open(w);
		jw_kstr(w, "family", sc.l[i].family == AF_INET ? "ipv4" : "ipv6");
		jw_kstr(w, "address", txt);
		jw_kint(w, "port", sc.l[i].port);
		jw_obj_close(w);
	}
	jw_arr_close(w);
	jw_kbool(w, "truncated", sc.truncated);
	jw_obj_close(w);
	return 0;
}
