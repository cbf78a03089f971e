/* SPDX-License-Identifier: MIT */
/*
 * test-switch.c - the real `grainvm __switch` process, with hand-made
 * Ethernet frames on its socket in QEMU's -netdev stream framing (a 4-byte
 * big-endian length, then the frame): forwarding and learning between two
 * ports, libslirp answering ARP for the gateway and DHCP from 10.0.2.100,
 * a port that breaks the framing is dropped, and the process ends when its
 * last port has gone.  No VM: the VM tests (tests/vm/net-switch.sh) cover
 * QEMU on the other end.
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "net/switch-net.h"

#define WAIT_MS 5000

static const guint8 MAC_A[6] = { 0x52, 0x54, 0, 0, 0, 0x0a };
static const guint8 MAC_B[6] = { 0x52, 0x54, 0, 0, 0, 0x0b };
static const guint8 BCAST[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

typedef struct {
	char *home;
	GvNetworkPaths *paths;
	GPid pid;
} Fixture;

static void fx_setup(Fixture *f, gconstpointer data)
{
	f->home = g_dir_make_tmp("gv-switch-XXXXXX", NULL);
	g_setenv("GRAINVM_HOME", f->home, TRUE);
	f->paths = gv_network_paths_new("t", NULL);
	g_assert_nonnull(f->paths);
	g_assert_cmpint(g_mkdir_with_parents(f->paths->run_dir, 0700), ==, 0);

	int p[2];
	g_assert_cmpint(pipe(p), ==, 0);
	const char *argv[] = { g_getenv("GRAINVM"), "__switch", "t", f->paths->run_dir, NULL };
	const int src[1] = { p[1] }, dst[1] = { 3 };
	g_autoptr(GError) err = NULL;
	g_assert_nonnull(argv[0]);
	g_spawn_async_with_pipes_and_fds(NULL, argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL,
					 -1, -1, -1, src, dst, 1, &f->pid, NULL, NULL, NULL, &err);
	g_assert_no_error(err);
	close(p[1]);
	char buf[16] = "";
	struct pollfd pfd = { .fd = p[0], .events = POLLIN };
	g_assert_cmpint(poll(&pfd, 1, WAIT_MS), ==, 1);
	g_assert_cmpint(read(p[0], buf, sizeof(buf) - 1), ==, 6);
	g_assert_cmpstr(buf, ==, "ready\n");
	close(p[0]);
}

static gboolean wait_exit(GPid pid, int ms, int *status)
{
	for (int i = 0; i < ms / 10; i++) {
		if (waitpid(pid, status, WNOHANG) == pid)
			return TRUE;
		g_usleep(10000);
	}
	return FALSE;
}

static void fx_teardown(Fixture *f, gconstpointer data)
{
	int status;
	if (f->pid > 0 && !wait_exit(f->pid, 10, &status)) {
		kill(f->pid, SIGKILL);
		waitpid(f->pid, &status, 0);
	}
	g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", f->home);
	g_assert_cmpint(system(cmd), ==, 0);
	gv_network_paths_free(f->paths);
	g_free(f->home);
	g_unsetenv("GRAINVM_HOME");
}

static int port_open(Fixture *f)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	g_strlcpy(sa.sun_path, f->paths->sock, sizeof(sa.sun_path));
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	g_assert_cmpint(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
	return fd;
}

static void send_frame(int fd, const guint8 *frame, gsize len)
{
	guint8 hdr[4] = { len >> 24, len >> 16, len >> 8, len };
	g_assert_cmpint(write(fd, hdr, 4), ==, 4);
	g_assert_cmpint(write(fd, frame, len), ==, (gssize)len);
}

static gboolean read_full(int fd, guint8 *buf, gsize len, int ms)
{
	gsize got = 0;
	while (got < len) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		if (poll(&pfd, 1, ms) != 1)
			return FALSE;
		ssize_t n = read(fd, buf + got, len - got);
		if (n <= 0)
			return FALSE;
		got += (gsize)n;
	}
	return TRUE;
}

/* The next frame on @fd into @buf (65536 bytes); its length, or -1 on timeout/EOF. */
static gssize recv_frame(int fd, guint8 *buf, int ms)
{
	guint8 hdr[4];
	if (!read_full(fd, hdr, 4, ms))
		return -1;
	gsize len = (gsize)hdr[0] << 24 | hdr[1] << 16 | hdr[2] << 8 | hdr[3];
	g_assert_cmpuint(len, <=, 65536);
	return read_full(fd, buf, len, ms) ? (gssize)len : -1;
}

/* The next frame of EtherType @type, skipping others (IPv6 router adverts...). */
static gssize recv_type(int fd, guint8 *buf, guint16 type, int ms)
{
	for (;;) {
		gssize n = recv_frame(fd, buf, ms);
		if (n < 0 || (n >= 14 && (buf[12] << 8 | buf[13]) == type))
			return n;
	}
}

static gsize eth(guint8 *f, const guint8 *dst, const guint8 *src, guint16 type)
{
	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	f[12] = type >> 8;
	f[13] = type & 0xff;
	return 14;
}

/*
 * connect() returns before the switch accepts, and a frame flooded before
 * it accepted b never reaches b.  A frame from b (a made-up source, to an
 * unknown unicast address, so it floods and teaches nothing the test
 * checks) arriving at a proves the switch has both ports.
 */
static void ports_sync(int a, int b)
{
	static const guint8 nobody[6] = { 0x02, 0, 0, 0, 0, 0x99 };
	static const guint8 sync_src[6] = { 0x02, 0, 0, 0, 0, 0x98 };
	guint8 out[64] = { 0 }, in[65536];
	eth(out, nobody, sync_src, 0x88b6);
	send_frame(b, out, 60);
	g_assert_cmpint(recv_type(a, in, 0x88b6, WAIT_MS), ==, 60);
}

static void test_forwarding(Fixture *f, gconstpointer data)
{
	int a = port_open(f), b = port_open(f);
	guint8 out[128] = { 0 }, in[65536];
	ports_sync(a, b);

	/* A broadcast from A reaches B (as is), and A learns nothing back. */
	gsize n = eth(out, BCAST, MAC_A, 0x88b5); /* local experimental EtherType */
	memcpy(out + n, "hello-b", 7);
	send_frame(a, out, 60);
	gssize got = recv_type(b, in, 0x88b5, WAIT_MS);
	g_assert_cmpint(got, ==, 60);
	g_assert_cmpmem(in, 60, out, 60);

	/* B to A, unicast: A's address was learnt from the broadcast. */
	eth(out, MAC_A, MAC_B, 0x88b5);
	memcpy(out + 14, "hello-a", 7);
	send_frame(b, out, 60);
	got = recv_type(a, in, 0x88b5, WAIT_MS);
	g_assert_cmpint(got, ==, 60);
	g_assert_cmpmem(in + 14, 7, "hello-a", 7);

	/* A to B, unicast, a frame as large as a GSO'd TCP segment: the whole frame. */
	static guint8 big[65000];
	eth(big, MAC_B, MAC_A, 0x88b5);
	for (gsize i = 14; i < sizeof(big); i++)
		big[i] = (guint8)i;
	send_frame(a, big, sizeof(big));
	got = recv_type(b, in, 0x88b5, WAIT_MS);
	g_assert_cmpint(got, ==, sizeof(big));
	g_assert_cmpmem(in, sizeof(big), big, sizeof(big));
	close(a);
	close(b);
}

static guint16 ip_checksum(const guint8 *h, gsize len)
{
	guint32 sum = 0;
	for (gsize i = 0; i + 1 < len; i += 2)
		sum += (guint32)(h[i] << 8 | h[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (guint16)~sum;
}

/* libslirp is port 0: the gateway answers ARP and serves DHCP. */
static void test_slirp(Fixture *f, gconstpointer data)
{
	int a = port_open(f);
	guint8 out[600] = { 0 }, in[65536];

	/* ARP: who has 10.0.2.2?  The gateway, from libslirp's MAC. */
	gsize n = eth(out, BCAST, MAC_A, 0x0806);
	const guint8 arp[] = { 0, 1, 8, 0, 6, 4, 0, 1 };
	memcpy(out + n, arp, 8);
	memcpy(out + n + 8, MAC_A, 6);
	const guint8 spa[4] = { 10, 0, 2, 15 }, tpa[4] = { 10, 0, 2, 2 };
	memcpy(out + n + 14, spa, 4);
	memcpy(out + n + 24, tpa, 4);
	send_frame(a, out, 60);
	gssize got = recv_type(a, in, 0x0806, WAIT_MS);
	g_assert_cmpint(got, >=, 42);
	g_assert_cmpmem(in, 6, MAC_A, 6);
	g_assert_cmpint(in[21], ==, 2); /* a reply */
	g_assert_cmpmem(in + 28, 4, tpa, 4);

	/* DHCPDISCOVER from 0.0.0.0:68 to 255.255.255.255:67. */
	memset(out, 0, sizeof(out));
	n = eth(out, BCAST, MAC_A, 0x0800);
	guint8 *ip = out + n, *udp = ip + 20, *bootp = udp + 8;
	gsize bootp_len = 548;
	ip[0] = 0x45;
	ip[2] = (20 + 8 + bootp_len) >> 8;
	ip[3] = (20 + 8 + bootp_len) & 0xff;
	ip[8] = 64;
	ip[9] = 17;
	memset(ip + 16, 0xff, 4);
	guint16 ck = ip_checksum(ip, 20);
	ip[10] = ck >> 8;
	ip[11] = ck & 0xff;
	udp[1] = 68;
	udp[3] = 67;
	udp[4] = (8 + bootp_len) >> 8;
	udp[5] = (8 + bootp_len) & 0xff;
	bootp[0] = 1; /* BOOTREQUEST */
	bootp[1] = 1;
	bootp[2] = 6;
	memcpy(bootp + 4, "\x12\x34\x56\x78", 4);
	memcpy(bootp + 28, MAC_A, 6);
	const guint8 opts[] = { 99, 130, 83, 99, 53, 1, 1, 255 };
	memcpy(bootp + 236, opts, sizeof(opts));
	send_frame(a, out, n + 20 + 8 + bootp_len);

	gboolean offered = FALSE;
	while (!offered) {
		got = recv_type(a, in, 0x0800, WAIT_MS);
		g_assert_cmpint(got, >, 14 + 20 + 8 + 240);
		const guint8 *rip = in + 14, *rudp = rip + (rip[0] & 0xf) * 4;
		if (rip[9] != 17 || (rudp[2] << 8 | rudp[3]) != 68)
			continue;
		const guint8 *rb = rudp + 8;
		g_assert_cmpmem(rb + 4, 4, "\x12\x34\x56\x78", 4);
		/* libslirp's pool starts where grainvm's leases end (network.h). */
		const guint8 yiaddr[4] = { 10, 0, 2, 100 };
		g_assert_cmpmem(rb + 16, 4, yiaddr, 4);
		offered = TRUE;
	}
	close(a);
}

static void test_bad_frame_and_exit(Fixture *f, gconstpointer data)
{
	int a = port_open(f), bad = port_open(f);
	guint8 buf[16];

	/* A length of 0 breaks the framing: that port, and only it, is dropped. */
	g_assert_cmpint(write(bad, "\0\0\0\0", 4), ==, 4);
	struct pollfd pfd = { .fd = bad, .events = POLLIN };
	g_assert_cmpint(poll(&pfd, 1, WAIT_MS), ==, 1);
	g_assert_cmpint(read(bad, buf, sizeof(buf)), ==, 0);
	close(bad);
	int status;
	g_assert_false(wait_exit(f->pid, 300, &status));

	/* The last port goes: the switch exits and takes its socket and pid file. */
	close(a);
	g_assert_true(wait_exit(f->pid, WAIT_MS, &status));
	f->pid = 0;
	g_assert_true(WIFEXITED(status));
	g_assert_cmpint(WEXITSTATUS(status), ==, 0);
	g_assert_false(g_file_test(f->paths->sock, G_FILE_TEST_EXISTS));
	g_assert_false(g_file_test(f->paths->pid, G_FILE_TEST_EXISTS));
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	signal(SIGPIPE, SIG_IGN);
	g_test_add("/switch/forwarding", Fixture, NULL, fx_setup, test_forwarding, fx_teardown);
	g_test_add("/switch/slirp", Fixture, NULL, fx_setup, test_slirp, fx_teardown);
	g_test_add("/switch/bad-frame-and-exit", Fixture, NULL, fx_setup, test_bad_frame_and_exit,
		   fx_teardown);
	return g_test_run();
}
