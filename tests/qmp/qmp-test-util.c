/* SPDX-License-Identifier: MIT */
/*
 * qmp-test-util.c - fake peers, a real QEMU, and waiting, for the tests
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <glib-unix.h>
#include <glib/gstdio.h>

#include "qmp-test-util.h"

/**
 * test_tick() - wake the main loop up so TEST_WAIT_UNTIL checks its deadline
 * @data: unused
 *
 * Return: G_SOURCE_CONTINUE.
 */
gboolean test_tick(gpointer data)
{
	return G_SOURCE_CONTINUE;
}

/**
 * test_iterate_for() - run the default context for a while
 * @ms: how long
 */
void test_iterate_for(guint ms)
{
	gint64 end = g_get_monotonic_time() + (gint64)ms * 1000;
	guint tick = g_timeout_add(5, test_tick, NULL);

	while (g_get_monotonic_time() < end)
		g_main_context_iteration(NULL, TRUE);
	g_source_remove(tick);
}

/**
 * test_result_cb() - GAsyncReadyCallback that keeps the result
 * @source: the client
 * @result: the result
 * @data: a TestResult
 */
void test_result_cb(GObject *source, GAsyncResult *result, gpointer data)
{
	TestResult *r = data;

	g_assert_true(G_IS_OBJECT(source));
	r->calls++;
	g_clear_object(&r->result);
	r->result = g_object_ref(result);
}

/**
 * test_result_clear() - forget a stored result
 * @r: the TestResult
 */
void test_result_clear(TestResult *r)
{
	g_clear_object(&r->result);
	r->calls = 0;
}

/**
 * test_execute() - run a command on the default context and wait
 * @client: a ready client
 * @command: the command
 * @arguments: (nullable): its arguments
 * @error: return location
 *
 * Return: (transfer full) (nullable): the "return" member.
 */
JsonNode *test_execute(GvQmpClient *client, const char *command,
		       JsonObject *arguments, GError **error)
{
	TestResult r = { 0 };
	JsonNode *ret;

	gv_qmp_client_execute_async(client, command, arguments, 0, NULL,
				    test_result_cb, &r);
	TEST_WAIT_UNTIL(r.result);
	ret = gv_qmp_client_execute_finish(client, r.result, error);
	test_result_clear(&r);
	return ret;
}

/**
 * test_peer_new() - a client on one end of a socketpair, the test on the other
 * @peer: (out): the test's end
 * @kind: the protocol the client expects
 * @max_line: the client's line cap
 *
 * Return: (transfer full): the client, on the default context.
 */
GvQmpClient *test_peer_new(TestPeer *peer, GvQmpPeer kind, gsize max_line)
{
	int sv[2];

	g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
			==, 0);
	g_assert_true(g_unix_set_fd_nonblocking(sv[1], TRUE, NULL));
	peer->fd = sv[1];
	peer->in = g_string_new(NULL);
	return gv_qmp_client_new(sv[0], kind, max_line, NULL);
}

/**
 * test_peer_close() - close the test's end
 * @peer: the peer
 */
void test_peer_close(TestPeer *peer)
{
	if (peer->fd >= 0)
		g_close(peer->fd, NULL);
	peer->fd = -1;
	if (peer->in)
		g_string_free(peer->in, TRUE);
	peer->in = NULL;
}

/**
 * peer_read_some() - read what the client wrote so far
 * @peer: the peer
 *
 * Return: FALSE at EOF.
 */
static gboolean peer_read_some(TestPeer *peer)
{
	char buf[4096];
	ssize_t n;

	while ((n = read(peer->fd, buf, sizeof(buf))) > 0)
		g_string_append_len(peer->in, buf, n);
	if (n == 0)
		return FALSE;
	g_assert_true(errno == EAGAIN);
	return TRUE;
}

/**
 * test_peer_eof() - read what arrived and tell whether the client closed
 * @peer: the peer
 *
 * Return: TRUE once the client's end is closed.
 */
gboolean test_peer_eof(TestPeer *peer)
{
	return !peer_read_some(peer);
}

/**
 * test_peer_read_line() - wait for one line from the client
 * @peer: the peer
 *
 * Iterates the default context meanwhile, so the client can write.
 *
 * Return: (transfer full): the line without '\n'.
 */
char *test_peer_read_line(TestPeer *peer)
{
	const char *nl;

	TEST_WAIT_UNTIL((peer_read_some(peer) || TRUE) &&
			(nl = memchr(peer->in->str, '\n', peer->in->len)));
	char *line = g_strndup(peer->in->str, (gsize)(nl - peer->in->str));
	g_string_erase(peer->in, 0, nl - peer->in->str + 1);
	return line;
}

/**
 * test_peer_read_command() - wait for a command and check its name
 * @peer: the peer
 * @execute: the expected "execute" member
 *
 * Leading 0xFF bytes (the agent handshake) are skipped.
 *
 * Return: (transfer full): the command object.
 */
JsonObject *test_peer_read_command(TestPeer *peer, const char *execute)
{
	g_autofree char *line = test_peer_read_line(peer);
	const char *json = line;
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(GError) error = NULL;

	while (*json == '\xff')
		json++;
	g_assert_true(json_parser_load_from_data(parser, json, -1, &error));
	g_assert_no_error(error);
	JsonObject *obj = json_node_get_object(json_parser_get_root(parser));
	g_assert_cmpstr(json_object_get_string_member(obj, "execute"), ==,
			execute);
	return json_object_ref(obj);
}

/**
 * test_peer_write() - write everything, letting the client read meanwhile
 * @peer: the peer
 * @data: the bytes
 * @len: their number
 */
void test_peer_write(TestPeer *peer, const void *data, gsize len)
{
	const char *p = data;
	gint64 deadline = g_get_monotonic_time() +
			  TEST_DEADLINE_S * G_USEC_PER_SEC;

	while (len > 0) {
		ssize_t n = write(peer->fd, p, len);

		if (n > 0) {
			p += n;
			len -= (gsize)n;
			continue;
		}
		g_assert_true(errno == EAGAIN);
		if (g_get_monotonic_time() > deadline)
			g_error("peer write stuck: the client does not read");
		/* Let the client drain the socket. */
		while (g_main_context_iteration(NULL, FALSE))
			;
		struct pollfd pfd = { .fd = peer->fd, .events = POLLOUT };
		poll(&pfd, 1, 1);
	}
}

/**
 * test_peer_printf() - write formatted text
 * @peer: the peer
 * @fmt: printf format
 * @...: arguments
 */
void test_peer_printf(TestPeer *peer, const char *fmt, ...)
{
	va_list ap;
	g_autofree char *text = NULL;

	va_start(ap, fmt);
	text = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	test_peer_write(peer, text, strlen(text));
}

/**
 * test_peer_is_quiet() - whether the client sends nothing for a while
 * @peer: the peer
 * @ms: how long to watch
 *
 * Return: TRUE when nothing arrived.
 */
gboolean test_peer_is_quiet(TestPeer *peer, guint ms)
{
	test_iterate_for(ms);
	peer_read_some(peer);
	return peer->in->len == 0;
}

/**
 * test_listen_unix() - a listening unix socket at @path
 * @path: where
 *
 * Return: the listening fd.
 */
int test_listen_unix(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	g_assert_cmpint(fd, >=, 0);
	g_assert_cmpuint(strlen(path), <, sizeof(addr.sun_path));
	strcpy(addr.sun_path, path);
	g_assert_cmpint(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), ==, 0);
	g_assert_cmpint(listen(fd, 4), ==, 0);
	return fd;
}

/**
 * die_with_parent() - child setup: QEMU goes when the test goes
 * @data: unused
 *
 * A failed assertion aborts the test without running teardown; an orphan
 * QEMU would then keep the test's stdout open and meson would wait for it
 * until the test timeout.
 */
static void die_with_parent(gpointer data)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
}

/**
 * test_qemu_start() - spawn QEMU with QMP on a socket we created
 * @qemu: (out): the instance
 *
 * The test binds and listens itself and hands QEMU the fd: the socket then
 * exists before QEMU runs, so connecting needs no retry loop.
 *
 * Return: FALSE when no QEMU binary is available (the test should skip).
 */
gboolean test_qemu_start(TestQemu *qemu)
{
	const char *env = g_getenv("GRAINVM_QEMU");
	g_autofree char *binary = env ? g_strdup(env)
		: g_find_program_in_path("qemu-system-x86_64");
	g_autoptr(GError) error = NULL;
	int lfd, target = 3;

	memset(qemu, 0, sizeof(*qemu));
	if (!binary)
		return FALSE;
	qemu->dir = g_dir_make_tmp("gvqmp-XXXXXX", &error);
	g_assert_no_error(error);
	qemu->socket_path = g_build_filename(qemu->dir, "qmp.sock", NULL);
	lfd = test_listen_unix(qemu->socket_path);

	const char *argv[] = {
		binary, "-S", "-nodefaults", "-no-user-config",
		"-display", "none", "-machine", "none",
		"-chardev", "socket,id=mon,fd=3,server=on,wait=off",
		"-mon", "chardev=mon,mode=control",
		NULL,
	};
	g_spawn_async_with_pipes_and_fds(NULL, argv, NULL,
					 G_SPAWN_DO_NOT_REAP_CHILD |
					 G_SPAWN_SEARCH_PATH, die_with_parent, NULL,
					 -1, -1, -1, &lfd, &target, 1,
					 &qemu->pid, NULL, NULL, NULL, &error);
	g_assert_no_error(error);
	g_close(lfd, NULL);
	return TRUE;
}

/**
 * test_qemu_connect() - connect to the QMP socket
 * @qemu: a started instance
 *
 * Return: the connected fd.
 */
int test_qemu_connect(TestQemu *qemu)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	g_assert_cmpint(fd, >=, 0);
	strcpy(addr.sun_path, qemu->socket_path);
	g_assert_cmpint(connect(fd, (struct sockaddr *)&addr, sizeof(addr)),
			==, 0);
	return fd;
}

/**
 * test_qemu_wait() - wait for QEMU to exit by itself
 * @qemu: the instance
 *
 * Return: its wait status.
 */
int test_qemu_wait(TestQemu *qemu)
{
	gint64 deadline = g_get_monotonic_time() +
			  TEST_DEADLINE_S * G_USEC_PER_SEC;
	int status = 0;

	for (;;) {
		pid_t r = waitpid(qemu->pid, &status, WNOHANG);

		g_assert_cmpint(r, >=, 0);
		if (r == qemu->pid)
			break;
		if (g_get_monotonic_time() > deadline)
			g_error("QEMU did not exit");
		g_usleep(10 * 1000);
	}
	qemu->reaped = TRUE;
	return status;
}

/**
 * test_qemu_kill() - SIGKILL QEMU and reap it
 * @qemu: the instance
 */
void test_qemu_kill(TestQemu *qemu)
{
	if (qemu->reaped)
		return;
	g_assert_cmpint(kill(qemu->pid, SIGKILL), ==, 0);
	test_qemu_wait(qemu);
}

/**
 * test_qemu_stop() - kill QEMU if needed and remove its files
 * @qemu: the instance
 */
void test_qemu_stop(TestQemu *qemu)
{
	if (qemu->pid)
		test_qemu_kill(qemu);
	if (qemu->socket_path)
		g_unlink(qemu->socket_path);
	if (qemu->dir)
		g_rmdir(qemu->dir);
	g_clear_pointer(&qemu->socket_path, g_free);
	g_clear_pointer(&qemu->dir, g_free);
}
