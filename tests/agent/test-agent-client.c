/* SPDX-License-Identifier: MIT */
/*
 * test-agent-client.c - libgvqmp's agent client against the real
 * grainvm-agent on a unix socket (--listen)
 *
 * What the supervisor relies on, shown with the real agent rather than a
 * fake: streamed output arrives as events, in order, with stdout and
 * stderr kept apart; the reply that starts a stream is seen before its
 * first event; a 20 MiB output flows through a client that pauses its
 * input (back-pressure) while the agent's memory stays flat; a resync
 * after a timeout drops the late reply and keeps a running stream going;
 * a previous connection's half-sent request does not disturb the next.
 * Garbage and over-long lines need a misbehaving peer and are tested
 * with a fake one in tests/qmp/test-qmp-fake.c.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "agent-harness.h"
#include "grainvm-qmp.h"

#define DEADLINE_S 60

/* One streamed command as the client saw it. */
typedef struct {
	gint64 handle;          /* -1 until the reply came */
	gboolean replied;
	GError *error;
	GString *out, *err;
	gint64 next_seq;
	gboolean seq_broken;
	gboolean events_before_reply;
	gboolean exited;
	gint64 exitcode, signal;
	gsize pause_every;      /* pause input after this many bytes (0: never) */
	gsize since_pause;
	guint pauses;
	guint resume_id;        /* the pending on_resume(), or 0 */
	GvQmpClient *client;
} Stream;

static gboolean on_tick(gpointer data)
{
	return G_SOURCE_CONTINUE;
}

/* Iterate the default context until *flag, failing after DEADLINE_S. */
static void wait_for(const gboolean *flag)
{
	gint64 deadline = g_get_monotonic_time() + DEADLINE_S * G_USEC_PER_SEC;
	guint tick = g_timeout_add(10, on_tick, NULL);

	while (!*flag) {
		g_assert_cmpint(g_get_monotonic_time(), <, deadline);
		g_main_context_iteration(NULL, TRUE);
	}
	g_source_remove(tick);
}

static void iterate_for(guint ms)
{
	gint64 end = g_get_monotonic_time() + (gint64)ms * 1000;
	guint tick = g_timeout_add(5, on_tick, NULL);

	while (g_get_monotonic_time() < end)
		g_main_context_iteration(NULL, TRUE);
	g_source_remove(tick);
}

static gboolean on_resume(gpointer data)
{
	Stream *s = data;

	s->resume_id = 0;
	gv_qmp_client_pause_input(s->client, FALSE);
	return G_SOURCE_REMOVE;
}

static void on_event(GvQmpClient *client, const char *event, JsonObject *data,
		     gint64 timestamp_us, gpointer user_data)
{
	Stream *s = user_data;

	if (!data || json_object_get_int_member_with_default(data, "handle", -2) != s->handle) {
		if (!s->replied)
			s->events_before_reply = TRUE;
		return;
	}
	if (!strcmp(event, "grain-output")) {
		if (json_object_get_int_member(data, "seq") != s->next_seq)
			s->seq_broken = TRUE;
		s->next_seq++;
	}
	if (!strcmp(event, "grain-exit")) {
		s->exitcode = json_object_get_int_member_with_default(data, "exitcode", -1);
		s->signal = json_object_get_int_member_with_default(data, "signal", 0);
		s->exited = TRUE;
		return;
	}
	gsize len;
	g_autofree guchar *bytes = g_base64_decode(
		json_object_get_string_member(data, "data-b64"), &len);
	const char *stream = json_object_get_string_member(data, "stream");
	g_string_append_len(!strcmp(stream, "stderr") ? s->err : s->out,
			    (const char *)bytes, (gssize)len);
	s->since_pause += len;
	if (s->pause_every && s->since_pause >= s->pause_every) {
		/* A slow consumer: stop reading for a while. */
		s->since_pause = 0;
		s->pauses++;
		gv_qmp_client_pause_input(client, TRUE);
		if (!s->resume_id)
			s->resume_id = g_timeout_add(50, on_resume, s);
	}
}

static void on_start_reply(GvQmpClient *client, JsonNode *ret, const GError *error,
			   gpointer user_data)
{
	Stream *s = user_data;

	s->replied = TRUE;
	if (error) {
		s->error = g_error_copy(error);
		return;
	}
	s->handle = json_object_get_int_member(json_node_get_object(ret), "handle");
}

static void stream_init(Stream *s, GvQmpClient *client)
{
	memset(s, 0, sizeof(*s));
	s->handle = -1;
	s->out = g_string_new(NULL);
	s->err = g_string_new(NULL);
	s->client = client;
	gv_qmp_client_add_event_handler(client, NULL, on_event, s, NULL);
}

static void stream_clear(Stream *s)
{
	/*
	 * A resume still pending would fire in the next test, on a Stream
	 * that is gone; its stack slot is likely that test's own Stream, so
	 * it would resume that test's client behind its back.
	 */
	g_clear_handle_id(&s->resume_id, g_source_remove);
	g_string_free(s->out, TRUE);
	g_string_free(s->err, TRUE);
	g_clear_error(&s->error);
}

/* Start "sh -c SCRIPT" streamed; waits for the reply. */
static void stream_start(Stream *s, const char *script)
{
	g_autoptr(JsonObject) args = json_object_new();
	g_autoptr(JsonArray) argv = json_array_new();
	g_autoptr(GError) error = NULL;

	json_object_set_string_member(args, "path", "sh");
	json_array_add_string_element(argv, "-c");
	json_array_add_string_element(argv, script);
	json_object_set_array_member(args, "arg", json_array_ref(argv));
	g_assert_true(gv_qmp_client_call(s->client, "grain-exec-start", args, 10000,
					 on_start_reply, s, &error));
	g_assert_no_error(error);
	wait_for(&s->replied);
	g_assert_no_error(s->error);
}

static int connect_agent(Agent *a)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	g_strlcpy(sa.sun_path, a->sock, sizeof(sa.sun_path));
	for (int i = 0;; i++) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		g_assert_cmpint(fd, >=, 0);
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return fd;
		close(fd);
		g_assert_cmpint(i, <, 1000);
		g_usleep(10000);
	}
}

static void on_handshake(GObject *source, GAsyncResult *result, gpointer data)
{
	g_autoptr(GError) error = NULL;

	g_assert_true(gv_qmp_client_handshake_finish((GvQmpClient *)source,
						     result, NULL, &error));
	g_assert_no_error(error);
	*(gboolean *)data = TRUE;
}

/* A client connected to @a and synced. */
static GvQmpClient *client_new(Agent *a)
{
	GvQmpClient *client = gv_qmp_client_new(connect_agent(a), GV_QMP_PEER_AGENT,
						GV_QMP_MAX_LINE_DEFAULT, NULL);
	gboolean done = FALSE;

	gv_qmp_client_handshake_async(client, 10000, NULL, on_handshake, &done);
	wait_for(&done);
	return client;
}

static gint64 agent_rss_kib(Agent *a)
{
	g_autofree char *path = g_strdup_printf("/proc/%d/status", a->pid);
	g_autofree char *text = NULL;

	g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
	const char *p = strstr(text, "VmRSS:");
	g_assert_nonnull(p);
	return g_ascii_strtoll(p + 6, NULL, 10);
}

/* stdout and stderr apart, in order, the reply before the first event. */
static void test_stream_events(void)
{
	Agent *a = agent_start(NULL);
	g_autoptr(GvQmpClient) client = client_new(a);
	Stream s;

	stream_init(&s, client);
	stream_start(&s, "echo out1; echo err1 >&2; echo out2; exit 7");
	wait_for(&s.exited);
	g_assert_false(s.events_before_reply);
	g_assert_false(s.seq_broken);
	g_assert_cmpstr(s.out->str, ==, "out1\nout2\n");
	g_assert_cmpstr(s.err->str, ==, "err1\n");
	g_assert_cmpint(s.exitcode, ==, 7);

	/* A signal is reported as such. */
	Stream k;
	stream_init(&k, client);
	stream_start(&k, "kill -TERM $$");
	wait_for(&k.exited);
	g_assert_cmpint(k.signal, ==, 15);
	stream_clear(&k);
	stream_clear(&s);
	gv_qmp_client_close(client);
	agent_stop(a);
}

/*
 * 20 MiB through a consumer that stops reading for 50 ms after every
 * 512 KiB: everything arrives in order, and the agent does not buffer
 * what the host is not reading (its RSS stays within a few MiB).
 */
static void test_stream_backpressure(void)
{
	Agent *a = agent_start(NULL);
	g_autoptr(GvQmpClient) client = client_new(a);
	const gsize total = 20u << 20;
	gint64 rss_max = 0;
	Stream s;

	stream_init(&s, client);
	s.pause_every = 512 * 1024;
	stream_start(&s, "head -c 20971520 /dev/zero | tr '\\0' x");
	while (!s.exited) {
		iterate_for(20);
		rss_max = MAX(rss_max, agent_rss_kib(a));
	}
	g_assert_false(s.seq_broken);
	g_assert_cmpuint(s.out->len, ==, total);
	g_assert_cmpint(s.exitcode, ==, 0);
	g_assert_cmpuint(s.pauses, >=, 30);
	for (gsize i = 0; i < total; i += 4099)
		g_assert_cmpint(s.out->str[i], ==, 'x');
	/* The agent's channel backlog is capped at 1 MiB; allow for the
	 * binary itself and a sanitizer build's overhead. */
	g_test_message("agent RSS peaked at %" G_GINT64_FORMAT " KiB", rss_max);
	g_assert_cmpint(rss_max, <, 32 * 1024);
	stream_clear(&s);
	gv_qmp_client_close(client);
	agent_stop(a);
}

static void on_ping(GvQmpClient *client, JsonNode *ret, const GError *error, gpointer data)
{
	GError **out = data;

	*out = error ? g_error_copy(error)
		     : g_error_new_literal(G_IO_ERROR, G_IO_ERROR_FAILED, "ok");
}

/*
 * A command that times out (its reply is held back by pausing input) is
 * followed by the client's own resync; the late reply carries an id
 * nobody waits for and is dropped; a stream that runs meanwhile loses
 * nothing.
 */
static void test_timeout_resync(void)
{
	Agent *a = agent_start(NULL);
	g_autoptr(GvQmpClient) client = client_new(a);
	g_autoptr(GError) error = NULL;
	GError *ping = NULL;
	Stream s;

	gv_qmp_client_set_auto_resync(client, 10000);
	stream_init(&s, client);
	stream_start(&s, "i=0; while [ $i -lt 40 ]; do echo line$i; i=$((i+1)); sleep 0.01; done");

	gv_qmp_client_pause_input(client, TRUE);
	g_assert_true(gv_qmp_client_call(client, "guest-ping", NULL, 30, on_ping, &ping,
					 &error));
	iterate_for(100);
	g_assert_error(ping, GV_QMP_ERROR, GV_QMP_ERROR_TIMEOUT);
	g_clear_error(&ping);
	gv_qmp_client_pause_input(client, FALSE);

	/* Held until the resync is done, then answered. */
	g_assert_true(gv_qmp_client_call(client, "guest-get-time", NULL, 10000, on_ping,
					 &ping, &error));
	while (!ping)
		iterate_for(10);
	g_assert_error(ping, G_IO_ERROR, G_IO_ERROR_FAILED);
	g_clear_error(&ping);

	wait_for(&s.exited);
	g_assert_false(s.seq_broken);
	g_autoptr(GString) want = g_string_new(NULL);
	for (int i = 0; i < 40; i++)
		g_string_append_printf(want, "line%d\n", i);
	g_assert_cmpstr(s.out->str, ==, want->str);
	stream_clear(&s);
	gv_qmp_client_close(client);
	agent_stop(a);
}

/* A previous host left half a request and unread replies behind: the next
 * client's handshake skips it all. */
static void test_leftovers(void)
{
	Agent *a = agent_start(NULL);

	for (int i = 0; i < 5; i++) {
		Conn *c = conn_open(a);
		conn_send_str(c, "{\"execute\":\"guest-ping\"}{\"execute\":\"guest-info\"}"
				 "{\"execute\":\"guest-exec\",\"arguments\":{\"pa");
		conn_close(c);

		g_autoptr(GvQmpClient) client = client_new(a);
		GError *ping = NULL;
		g_autoptr(GError) error = NULL;
		g_assert_true(gv_qmp_client_call(client, "guest-ping", NULL, 10000, on_ping,
						 &ping, &error));
		while (!ping)
			iterate_for(10);
		g_assert_error(ping, G_IO_ERROR, G_IO_ERROR_FAILED);
		g_clear_error(&ping);
		gv_qmp_client_close(client);
	}
	agent_stop(a);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/agent-client/stream-events", test_stream_events);
	g_test_add_func("/agent-client/stream-backpressure", test_stream_backpressure);
	g_test_add_func("/agent-client/timeout-resync", test_timeout_resync);
	g_test_add_func("/agent-client/leftovers", test_leftovers);
	return g_test_run();
}
