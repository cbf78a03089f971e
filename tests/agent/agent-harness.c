/* SPDX-License-Identifier: MIT */
/*
 * agent-harness.c - see agent-harness.h
 */
#include "agent-harness.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

/* Generous: the tests also run under ASan/valgrind-like slowdowns. */
#define REPLY_TIMEOUT_MS 20000

/*
 * A failed assertion aborts the test without agent_stop(); the agent would
 * live on holding the test's stdout, and meson would wait for it until the
 * test's timeout.  It dies with the test instead.
 */
static void die_with_test(gpointer data)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
}

Agent *agent_start(const char *const *extra)
{
	const char *bin = g_getenv("GRAINVM_AGENT_HOST");
	g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GError) error = NULL;
	Agent *a = g_new0(Agent, 1);

	if (!bin)
		bin = g_getenv("GRAINVM_AGENT");
	g_assert_nonnull(bin);
	a->dir = g_dir_make_tmp("grainvm-agent-XXXXXX", &error);
	g_assert_no_error(error);
	a->sock = g_build_filename(a->dir, "agent.sock", NULL);
	g_ptr_array_add(argv, g_strdup(bin));
	g_ptr_array_add(argv, g_strdup_printf("--listen=unix:%s", a->sock));
	/* Keep the build log out of the host's /run. */
	g_ptr_array_add(argv, g_strdup_printf("--state-dir=%s/state", a->dir));
	for (; extra && *extra; extra++)
		g_ptr_array_add(argv, g_strdup(*extra));
	g_ptr_array_add(argv, NULL);
	g_spawn_async(NULL, (char **)argv->pdata, NULL, G_SPAWN_DO_NOT_REAP_CHILD, die_with_test,
		      NULL, &a->pid, &error);
	g_assert_no_error(error);
	return a;
}

void agent_stop(Agent *a)
{
	int status;

	kill(a->pid, SIGTERM);
	g_assert_cmpint(waitpid(a->pid, &status, 0), ==, a->pid);
	/* SIGTERM is a clean exit in service mode; anything else is a crash
	 * or, in sanitizer builds, a leak report. */
	g_assert_true(WIFEXITED(status));
	g_assert_cmpint(WEXITSTATUS(status), ==, 0);
	g_spawn_close_pid(a->pid);
	g_autofree char *log = g_strdup_printf("%s/state/build.log", a->dir);
	g_autofree char *state = g_strdup_printf("%s/state", a->dir);
	unlink(log);
	rmdir(state);
	unlink(a->sock);
	rmdir(a->dir);
	g_free(a->sock);
	g_free(a->dir);
	g_free(a);
}

Conn *conn_open(Agent *a)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	Conn *c = g_new0(Conn, 1);

	g_assert_cmpuint(strlen(a->sock), <, sizeof(sa.sun_path));
	strcpy(sa.sun_path, a->sock);
	/* The agent may still be starting, or still closing the previous
	 * client (it serves one at a time). */
	for (int i = 0;; i++) {
		c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		g_assert_cmpint(c->fd, >=, 0);
		if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			break;
		close(c->fd);
		g_assert_cmpint(i, <, 1000);
		g_usleep(10000);
	}
	c->buf = g_byte_array_new();
	c->events = g_queue_new();
	return c;
}

void conn_close(Conn *c)
{
	close(c->fd);
	g_byte_array_unref(c->buf);
	g_queue_free_full(c->events, (GDestroyNotify)json_node_unref);
	g_free(c);
}

void conn_send(Conn *c, const void *data, gsize n)
{
	const char *p = data;

	while (n) {
		ssize_t k = send(c->fd, p, n, MSG_NOSIGNAL);
		if (k < 0 && errno == EINTR)
			continue;
		g_assert_cmpint(k, >, 0);
		p += k;
		n -= (gsize)k;
	}
}

void conn_send_str(Conn *c, const char *s)
{
	conn_send(c, s, strlen(s));
}

/* Read more bytes into c->buf; FALSE on timeout or EOF. */
static gboolean fill(Conn *c, gint64 deadline)
{
	guint8 tmp[65536];
	struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
	gint64 left = (deadline - g_get_monotonic_time()) / 1000;

	if (left <= 0)
		return FALSE;
	if (poll(&pfd, 1, (int)left) <= 0)
		return FALSE;
	ssize_t n = read(c->fd, tmp, sizeof(tmp));
	if (n <= 0)
		return FALSE;
	g_byte_array_append(c->buf, tmp, (guint)n);
	return TRUE;
}

char *conn_line(Conn *c, int timeout_ms)
{
	gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;

	for (;;) {
		/* An empty GByteArray may have no data pointer at all. */
		guint8 *nl = c->buf->len ? memchr(c->buf->data, '\n', c->buf->len) : NULL;
		if (nl) {
			gsize len = (gsize)(nl - c->buf->data);
			char *line = g_strndup((char *)c->buf->data, len);
			g_byte_array_remove_range(c->buf, 0, (guint)len + 1);
			return line;
		}
		if (!fill(c, deadline))
			return NULL;
	}
}

gboolean conn_skip_to_sync(Conn *c, int timeout_ms)
{
	gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;

	for (;;) {
		guint8 *ff = c->buf->len ? memchr(c->buf->data, 0xFF, c->buf->len) : NULL;
		if (ff) {
			/* Keep the 0xFF: the caller checks the reply has it. */
			g_byte_array_remove_range(c->buf, 0, (guint)(ff - c->buf->data));
			return TRUE;
		}
		g_byte_array_set_size(c->buf, 0);
		if (!fill(c, deadline))
			return FALSE;
	}
}

JsonNode *conn_reply(Conn *c)
{
	g_autofree char *line = conn_line(c, REPLY_TIMEOUT_MS);
	g_autoptr(GError) error = NULL;
	JsonNode *node;

	g_assert_nonnull(line);
	node = json_from_string(line, &error);
	g_assert_no_error(error);
	g_assert_nonnull(node);
	g_assert_true(JSON_NODE_HOLDS_OBJECT(node));
	return node;
}

JsonNode *conn_cmd(Conn *c, const char *json)
{
	conn_send_str(c, json);
	return conn_reply(c);
}

/* The reply to @json, setting aside the events that come before it. */
static JsonNode *cmd_skip_events(Conn *c, const char *json)
{
	conn_send_str(c, json);
	for (;;) {
		JsonNode *r = conn_reply(c);
		if (!json_object_has_member(json_node_get_object(r), "event"))
			return r;
		g_queue_push_tail(c->events, r);
	}
}

JsonNode *conn_return(Conn *c, const char *json)
{
	g_autoptr(JsonNode) r = cmd_skip_events(c, json);
	JsonObject *o = json_node_get_object(r);

	if (!json_object_has_member(o, "return"))
		g_error("%s: no return in %s", json, json_to_string(r, FALSE));
	return json_node_copy(json_object_get_member(o, "return"));
}

char *conn_error(Conn *c, const char *json, const char *cls)
{
	g_autoptr(JsonNode) r = cmd_skip_events(c, json);
	JsonObject *o = json_node_get_object(r);
	JsonObject *e;

	if (!json_object_has_member(o, "error"))
		g_error("%s: no error in %s", json, json_to_string(r, FALSE));
	e = json_object_get_object_member(o, "error");
	g_assert_cmpstr(json_object_get_string_member(e, "class"), ==, cls);
	return g_strdup(json_object_get_string_member(e, "desc"));
}

JsonNode *conn_event(Conn *c, int timeout_ms)
{
	if (!g_queue_is_empty(c->events))
		return g_queue_pop_head(c->events);
	g_autofree char *line = conn_line(c, timeout_ms);
	g_autoptr(GError) error = NULL;
	JsonNode *node;

	if (!line)
		return NULL;
	node = json_from_string(line, &error);
	g_assert_no_error(error);
	return node;
}
