/* SPDX-License-Identifier: MIT */
/* nic.c - host checks, taps and plan entries for a VM's NICs (see nic.h) */
#include "net/nic.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/sockios.h>

#include "gv-config.h"
#include "gv-error.h"
#include "net/switch-net.h"

/* Where distributions install QEMU's setuid bridge helper. */
static const char *const bridge_helpers[] = {
	"/usr/lib/qemu/qemu-bridge-helper",
	"/usr/libexec/qemu-bridge-helper",
	"/usr/local/libexec/qemu-bridge-helper",
};
/* The helper reads this path, compiled in; it cannot be moved. */
#define BRIDGE_CONF "/etc/qemu/bridge.conf"
/* Includes nest at most this deep in the check (the helper has no limit). */
#define ACL_MAX_DEPTH 4

void gv_net_prepared_free(GvNetPrepared *np)
{
	if (!np)
		return;
	for (guint i = 0; i < np->n; i++) {
		g_free(np->taps[i]);
		g_free(np->helpers[i]);
		g_free(np->addresses[i]);
	}
	g_free(np->taps);
	g_free(np->helpers);
	g_free(np->addresses);
	g_free(np->facts);
	g_free(np);
}

/* ---- pure pieces ------------------------------------------------------------ */

char *gv_tap_name(const char *vm, guint index)
{
	g_autofree char *suffix = index ? g_strdup_printf("-%u", index) : g_strdup("");
	g_autofree char *plain = g_strconcat("gv-", vm, suffix, NULL);
	if (strlen(plain) < IFNAMSIZ)
		return g_steal_pointer(&plain);
	/* FNV-1a of the whole name: two long names with one prefix still differ. */
	guint32 h = 2166136261u;
	for (const char *p = vm; *p; p++) {
		h ^= (guint8)*p;
		h *= 16777619u;
	}
	gsize keep = IFNAMSIZ - 1 - strlen("gv-") - 5 - strlen(suffix);
	return g_strdup_printf("gv-%.*s~%04x%s", (int)keep, vm, h & 0xffff, suffix);
}

static GvAclVerdict acl_walk(const char *text, const char *bridge,
			     char *(*read_include)(const char *path, gpointer data),
			     gpointer data, int depth, gboolean *allowed, gboolean *denied)
{
	GvAclVerdict v = GV_ACL_ALLOWED; /* "no include failed" */
	g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
	for (char **l = lines; *l; l++) {
		char *line = g_strstrip(*l);
		if (!*line || *line == '#')
			continue;
		char *arg = line + strcspn(line, " \t");
		if (*arg)
			*arg++ = '\0';
		arg = g_strstrip(arg);
		if (!strcmp(line, "allow")) {
			if (!strcmp(arg, "all") || !strcmp(arg, bridge))
				*allowed = TRUE;
		} else if (!strcmp(line, "deny")) {
			if (!strcmp(arg, "all") || !strcmp(arg, bridge))
				*denied = TRUE;
		} else if (!strcmp(line, "include")) {
			g_autofree char *inc = read_include && depth < ACL_MAX_DEPTH
						       ? read_include(arg, data) : NULL;
			if (!inc) {
				v = GV_ACL_UNKNOWN;
				continue;
			}
			if (acl_walk(inc, bridge, read_include, data, depth + 1, allowed, denied) ==
			    GV_ACL_UNKNOWN)
				v = GV_ACL_UNKNOWN;
		}
	}
	return v;
}

GvAclVerdict gv_bridge_acl(const char *text, const char *bridge,
			   char *(*read_include)(const char *path, gpointer data), gpointer data)
{
	gboolean allowed = FALSE, denied = FALSE;
	GvAclVerdict v = acl_walk(text, bridge, read_include, data, 0, &allowed, &denied);
	if (denied)
		return GV_ACL_DENIED; /* a deny anywhere wins */
	if (allowed)
		return GV_ACL_ALLOWED;
	return v == GV_ACL_UNKNOWN ? GV_ACL_UNKNOWN : GV_ACL_DENIED;
}

/* ---- host checks ---------------------------------------------------------------- */

gboolean gv_bridge_check(const char *bridge, const char *group, GError **error)
{
	g_autofree char *dev = g_strdup_printf("/sys/class/net/%s", bridge);
	g_autofree char *br = g_strdup_printf("/sys/class/net/%s/bridge", bridge);
	if (!g_file_test(dev, G_FILE_TEST_EXISTS)) {
		g_set_error(error, GV_ERROR, GV_ERROR_INVALID,
			    "[%s] bridge: there is no interface %s on this host (create it: "
			    "ip link add %s type bridge && ip link set %s up)", group, bridge, bridge,
			    bridge);
		return FALSE;
	}
	if (!g_file_test(br, G_FILE_TEST_IS_DIR)) {
		g_set_error(error, GV_ERROR, GV_ERROR_INVALID,
			    "[%s] bridge: %s is not a bridge", group, bridge);
		return FALSE;
	}
	return TRUE;
}

static char *read_include(const char *path, gpointer data)
{
	char *text = NULL;
	return g_file_get_contents(path, &text, NULL, NULL) ? text : NULL;
}

/* Without root, QEMU runs its setuid helper, which obeys bridge.conf. */
static char *bridge_helper_check(const GvNic *n, GError **error)
{
	const char *env = g_getenv("GRAINVM_BRIDGE_HELPER");
	const char *helper = NULL;
	if (env && *env) {
		helper = env;
	} else {
		for (gsize i = 0; i < G_N_ELEMENTS(bridge_helpers) && !helper; i++)
			if (access(bridge_helpers[i], X_OK) == 0)
				helper = bridge_helpers[i];
	}
	struct stat st;
	if (!helper || stat(helper, &st) < 0) {
		g_set_error(error, GV_ERROR, GV_ERROR_INVALID,
			    "[%s] mode=bridge without root needs QEMU's qemu-bridge-helper, which is "
			    "not installed (apt-get install qemu-system-common), or run grainvm as root",
			    n->group);
		return NULL;
	}
	if (!(st.st_mode & S_ISUID) || st.st_uid != 0) {
		g_set_error(error, GV_ERROR, GV_ERROR_INVALID,
			    "[%s] mode=bridge without root: %s is not setuid root, so it cannot "
			    "create a tap (chmod u+s %s, or run grainvm as root)", n->group, helper,
			    helper);
		return NULL;
	}
	g_autofree char *conf = NULL;
	g_autoptr(GError) err = NULL;
	if (!g_file_get_contents(BRIDGE_CONF, &conf, NULL, &err)) {
		if (g_error_matches(err, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
			g_set_error(error, GV_ERROR, GV_ERROR_INVALID,
				    "[%s] mode=bridge without root: " BRIDGE_CONF " does not exist, so "
				    "qemu-bridge-helper refuses every bridge (as root: mkdir -p /etc/qemu "
				    "&& echo 'allow %s' >> " BRIDGE_CONF ")", n->group, n->bridge);
			return NULL;
		}
		/* Often root-only (0640): the helper can read it, we cannot judge it. */
		return g_strdup(helper);
	}
	if (gv_bridge_acl(conf, n->bridge, read_include, NULL) == GV_ACL_DENIED) {
		g_set_error(error, GV_ERROR, GV_ERROR_INVALID,
			    "[%s] mode=bridge without root: " BRIDGE_CONF " does not allow bridge %s "
			    "(as root: echo 'allow %s' >> " BRIDGE_CONF ")", n->group, n->bridge,
			    n->bridge);
		return NULL;
	}
	return g_strdup(helper);
}

const char *gv_auto_forward_refusal(guint port, gboolean privileged, guint current, guint max)
{
	if (port < GV_PRIVILEGED_PORT_END && !privileged)
		return "below 1024 (set [net] auto-forward-privileged=true to forward it)";
	if (current >= max)
		return "the automatic forwards reached [net] auto-forward-max";
	return NULL;
}

gboolean gv_host_port_free(const GvForward *f, GError **error)
{
	gboolean udp = !strcmp(f->proto, "udp");
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(f->host_port) };
	if (inet_pton(AF_INET, f->host_addr, &sa.sin_addr) != 1) {
		g_set_error(error, GV_ERROR, GV_ERROR_INVALID, "host address %s is not IPv4",
			    f->host_addr);
		return FALSE;
	}
	int fd = socket(AF_INET, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		g_set_error(error, GV_ERROR, GV_ERROR_FAILED, "socket: %s", g_strerror(errno));
		return FALSE;
	}
	/* As libslirp does for its TCP listeners: a port in TIME_WAIT is free.
	 * Not for UDP, where it would let two sockets share the port. */
	int one = 1;
	if (!udp)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	int rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	if (rc == 0 && !udp)
		rc = listen(fd, 1);
	int err = errno;
	close(fd);
	if (rc == 0)
		return TRUE;
	if (err == EADDRINUSE)
		g_set_error(error, GV_ERROR, GV_ERROR_INVALID,
			    "host port %s %s:%u is in use by another program", f->proto, f->host_addr,
			    f->host_port);
	else
		g_set_error(error, GV_ERROR, GV_ERROR_INVALID, "host port %s %s:%u: %s", f->proto,
			    f->host_addr, f->host_port, g_strerror(err));
	return FALSE;
}

/* ---- taps --------------------------------------------------------------------------- */

static gboolean ifreq_name(struct ifreq *ifr, const char *name)
{
	if (strlen(name) >= IFNAMSIZ)
		return FALSE;
	memcpy(ifr->ifr_name, name, strlen(name) + 1);
	return TRUE;
}

int gv_tap_open(const char *name, const char *bridge, GError **error)
{
	struct ifreq ifr = { 0 };
	const char *step = "open /dev/net/tun";
	int sock = -1;
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		goto fail;
	step = "create the tap (TUNSETIFF)";
	if (!ifreq_name(&ifr, name)) {
		errno = ENAMETOOLONG;
		goto fail;
	}
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0)
		goto fail;
	sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (sock < 0)
		goto fail;
	step = "find the tap's index";
	unsigned idx = if_nametoindex(name);
	if (!idx)
		goto fail;
	step = "attach it to the bridge (SIOCBRADDIF)";
	struct ifreq br = { 0 };
	if (!ifreq_name(&br, bridge)) {
		errno = ENAMETOOLONG;
		goto fail;
	}
	br.ifr_ifindex = (int)idx;
	if (ioctl(sock, SIOCBRADDIF, &br) < 0)
		goto fail;
	step = "bring it up";
	if (ioctl(sock, SIOCGIFFLAGS, &ifr) < 0)
		goto fail;
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(sock, SIOCSIFFLAGS, &ifr) < 0)
		goto fail;
	close(sock);
	return fd;
fail:;
	int err = errno;
	if (sock >= 0)
		close(sock);
	if (fd >= 0)
		close(fd);
	g_set_error(error, GV_ERROR, GV_ERROR_FAILED, "tap %s on bridge %s: cannot %s: %s%s", name,
		    bridge, step, g_strerror(err),
		    err == EBUSY ? " (a device of that name is in use)" : "");
	return -1;
}

/*
 * Without root grainvm runs qemu-bridge-helper itself rather than let QEMU
 * do it: QEMU runs under -sandbox spawn=deny, which forbids its fork and
 * exec.  The helper's protocol is QEMU's: it gets one end of a socketpair
 * as --fd=N and sends the tap's descriptor over it (SCM_RIGHTS, one byte
 * of payload), then exits 0.
 */
int gv_bridge_helper_open(const char *helper, const char *bridge, GError **error)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		g_set_error(error, GV_ERROR, GV_ERROR_FAILED, "bridge %s: socketpair: %s", bridge,
			    g_strerror(errno));
		return -1;
	}
	g_autofree char *br = g_strdup_printf("--br=%s", bridge);
	/* The helper's end keeps its number across the exec (fd 3). */
	const char *argv[] = { helper, "--use-vnet", br, "--fd=3", NULL };
	const int src[1] = { sv[1] };
	const int dst[1] = { 3 };
	g_autoptr(GError) err = NULL;
	GPid pid;
	gboolean ok = g_spawn_async_with_pipes_and_fds(NULL, argv, NULL,
						       G_SPAWN_DO_NOT_REAP_CHILD |
						       G_SPAWN_STDOUT_TO_DEV_NULL,
						       NULL, NULL, -1, -1, -1, src, dst, 1, &pid,
						       NULL, NULL, NULL, &err);
	close(sv[1]);
	if (!ok) {
		close(sv[0]);
		g_set_error(error, GV_ERROR, GV_ERROR_FAILED, "bridge %s: cannot run %s: %s",
			    bridge, helper, err->message);
		return -1;
	}
	char byte;
	struct iovec iov = { &byte, 1 };
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} u;
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			      .msg_controllen = sizeof(u.buf) };
	ssize_t n;
	do
		n = recvmsg(sv[0], &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	close(sv[0]);
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	g_spawn_close_pid(pid);
	struct cmsghdr *c = n > 0 ? CMSG_FIRSTHDR(&msg) : NULL;
	int fd = -1;
	if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
	    c->cmsg_len == CMSG_LEN(sizeof(int)))
		memcpy(&fd, CMSG_DATA(c), sizeof(int));
	if (fd < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		if (fd >= 0)
			close(fd);
		g_set_error(error, GV_ERROR, GV_ERROR_FAILED,
			    "bridge %s: %s gave no tap (exit status %d; its message is in "
			    "supervisor.log)", bridge, helper,
			    WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
		return -1;
	}
	return fd;
}

/* ---- prepare ------------------------------------------------------------------------ */

GvNetPrepared *gv_net_prepare(const GvSpec *spec, GError **error)
{
	g_autoptr(GvNetPrepared) np = g_new0(GvNetPrepared, 1);
	np->n = spec->nics->len;
	np->facts = g_new0(GvNicFacts, np->n + 1);
	np->taps = g_new0(char *, np->n + 1);
	np->helpers = g_new0(char *, np->n + 1);
	np->addresses = g_new0(char *, np->n + 1);
	int next_fd = GV_FD_NIC_BASE;
	gboolean root = geteuid() == 0;

	/* Checks first, for every NIC: a lease is the only thing written. */
	for (guint i = 0; i < np->n; i++) {
		const GvNic *n = g_ptr_array_index(spec->nics, i);
		np->facts[i].fd = -1;
		switch (n->mode) {
		case GV_NET_USER:
			for (guint j = 0; j < n->forwards->len; j++) {
				if (!gv_host_port_free(g_ptr_array_index(n->forwards, j), error)) {
					gv_prefix_error(error, "[%s] forward", n->group);
					return NULL;
				}
			}
			break;
		case GV_NET_BRIDGE:
			if (!gv_bridge_check(n->bridge, n->group, error))
				return NULL;
			if (root) {
				np->taps[i] = gv_tap_name(spec->name, i);
				np->facts[i].fd = next_fd++;
			} else {
				np->helpers[i] = bridge_helper_check(n, error);
				if (!np->helpers[i])
					return NULL;
				/* The supervisor runs it and hands QEMU the tap (gv_bridge_helper_open). */
				np->facts[i].helper = np->helpers[i];
				np->facts[i].fd = next_fd++;
			}
			break;
		case GV_NET_SWITCH:
			if (!GV_HAVE_SLIRP) {
				g_set_error(error, GV_ERROR, GV_ERROR_INVALID,
					    "[%s] mode=switch: this grainvm was built without libslirp "
					    "(apt-get install libslirp-dev, then rebuild)", n->group);
				return NULL;
			}
			np->facts[i].fd = next_fd++;
			break;
		case GV_NET_NONE:
			break;
		}
	}
	for (guint i = 0; i < np->n; i++) {
		const GvNic *n = g_ptr_array_index(spec->nics, i);
		if (!n->lease)
			continue;
		np->addresses[i] = gv_network_lease(n->network, spec->name, error);
		if (!np->addresses[i]) {
			gv_prefix_error(error, "[%s] network %s", n->group, n->network);
			return NULL;
		}
		np->facts[i].address = np->addresses[i];
	}
	return g_steal_pointer(&np);
}

void gv_net_plan(const GvSpec *spec, const GvNetPrepared *np, GPtrArray *nics)
{
	for (guint i = 0; i < spec->nics->len; i++) {
		const GvNic *n = g_ptr_array_index(spec->nics, i);
		const GvNicFacts *nf = np ? &np->facts[i] : NULL;
		GvPlanNic *o = gv_plan_nic_new();
		o->id = g_strdup(n->id);
		o->netdev = g_strdup(n->netdev);
		o->mode = n->mode;
		o->mac = g_strdup(n->mac);
		o->fd = nf && nf->fd >= 0 ? nf->fd : -1;
		o->tap = np ? g_strdup(np->taps[i]) : NULL;
		o->bridge = g_strdup(n->bridge);
		o->network = g_strdup(n->network);
		o->address = g_strdup(n->address ? n->address : nf ? nf->address : NULL);
		o->mtu = n->mtu;
		o->helper = np ? g_strdup(np->helpers[i]) : NULL;
		if (n->mode == GV_NET_USER) {
			o->forwards = g_ptr_array_new_with_free_func((GDestroyNotify)gv_forward_free);
			for (guint j = 0; j < n->forwards->len; j++) {
				const GvForward *f = g_ptr_array_index(n->forwards, j);
				GvForward *c = g_new0(GvForward, 1);
				*c = *f;
				c->host_addr = g_strdup(f->host_addr);
				g_ptr_array_add(o->forwards, c);
			}
			o->auto_forward = n->auto_forward;
			o->auto_forward_privileged = n->auto_forward_privileged;
			o->auto_forward_max = n->auto_forward_max;
		}
		g_ptr_array_add(nics, o);
	}
}

gboolean gv_net_address_routable(const char *type, const char *addr)
{
	if (!strcmp(type, "ipv4")) {
		struct in_addr a;
		if (inet_pton(AF_INET, addr, &a) != 1)
			return FALSE;
		guint32 h = ntohl(a.s_addr);
		return (h >> 24) != 127 && (h >> 16) != 0xa9fe && h != 0;
	}
	struct in6_addr a6;
	if (inet_pton(AF_INET6, addr, &a6) != 1)
		return FALSE;
	return !IN6_IS_ADDR_LOOPBACK(&a6) && !IN6_IS_ADDR_LINKLOCAL(&a6) &&
	       !IN6_IS_ADDR_UNSPECIFIED(&a6);
}
