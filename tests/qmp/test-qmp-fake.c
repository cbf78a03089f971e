/* SPDX-License-Identifier: MIT */
/*
 * test-qmp-fake.c - client behaviour against a peer played by the test
 *
 * A fake peer is used only where a real one cannot be made to misbehave
 * on cue: QEMU always answers (so a per-command timeout needs a peer that
 * stays silent), and a guest agent that writes garbage, replies without
 * ids or sends a 17 MiB line is exactly the untrusted input the client
 * must survive.  Everything QEMU can show is tested against QEMU in
 * test-qmp-qemu.c.  The test writes its end of a socketpair by hand.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib-unix.h>

#include <glib/gstdio.h>

#include "qmp-test-util.h"

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */
/* ------------------------------------------------------------------------ */

/* One command in flight. */
typedef struct {
	GvQmpClient *client;
	JsonNode *ret;
	GError *error;
	gboolean done;
	GPtrArray *log;  /* (nullable): "reply:COMMAND" appended when done */
	const char *command;
} Call;

static void on_call_done(GObject *source, GAsyncResult *result, gpointer data)
{
	Call *c = data;

	g_assert_false(c->done);
	c->ret = gv_qmp_client_execute_finish(c->client, result, &c->error);
	c->done = TRUE;
	if (c->log)
		g_ptr_array_add(c->log, g_strconcat("reply:", c->command, NULL));
}

static void call_start(Call *c, GvQmpClient *client, const char *command,
		       guint timeout_ms, GCancellable *cancellable)
{
	memset(c, 0, sizeof(*c));
	c->client = client;
	c->command = command;
	gv_qmp_client_execute_async(client, command, NULL, timeout_ms,
				    cancellable, on_call_done, c);
}

static void call_clear(Call *c)
{
	g_clear_pointer(&c->ret, json_node_unref);
	g_clear_error(&c->error);
}

/**
 * call_returned() - assert a call succeeded with a JSON value
 * @c: the finished call
 * @json: its "return" member, serialized
 */
static void call_returned(Call *c, const char *json)
{
	g_assert_true(c->done);
	g_assert_no_error(c->error);
	g_autofree char *got = json_to_string(c->ret, FALSE);
	g_assert_cmpstr(got, ==, json);
	call_clear(c);
}

/**
 * read_id() - read a command from the client and return its id
 * @peer: the peer
 * @execute: the expected command
 *
 * Return: (transfer full): the "id" member.
 */
static char *read_id(TestPeer *peer, const char *execute)
{
	g_autoptr(JsonObject) cmd = test_peer_read_command(peer, execute);

	return g_strdup(json_object_get_string_member(cmd, "id"));
}

static void wait_handshake(GvQmpClient *client, TestResult *r,
			   GError **error, gboolean *ok)
{
	TEST_WAIT_UNTIL(r->result);
	*ok = gv_qmp_client_handshake_finish(client, r->result, NULL, error);
	test_result_clear(r);
}

/**
 * qmp_ready() - a QMP client past its handshake with a fake QEMU
 * @peer: (out): the test's end
 *
 * Return: (transfer full): the client.
 */
static GvQmpClient *qmp_ready(TestPeer *peer)
{
	GvQmpClient *client = test_peer_new(peer, GV_QMP_PEER_QMP, 4096);
	TestResult r = { 0 };
	g_autoptr(GError) error = NULL;
	gboolean ok;

	gv_qmp_client_handshake_async(client, 10000, NULL, test_result_cb, &r);
	test_peer_printf(peer, "{\"QMP\": {\"version\": {}, \"capabilities\": []}}\n");
	g_autofree char *id = read_id(peer, "qmp_capabilities");
	test_peer_printf(peer, "{\"return\": {}, \"id\": \"%s\"}\n", id);
	wait_handshake(client, &r, &error, &ok);
	g_assert_no_error(error);
	g_assert_true(ok);
	return client;
}

/**
 * read_sync_id() - read the agent handshake and return its id
 * @peer: the peer
 *
 * Checks that the line starts with exactly one 0xFF and carries a
 * guest-sync-delimited with a positive guint32 id.
 *
 * Return: the id.
 */
static guint32 read_sync_id(TestPeer *peer)
{
	g_autofree char *line = test_peer_read_line(peer);

	g_assert_cmpint((guint8)line[0], ==, 0xFF);
	g_assert_cmpint((guint8)line[1], ==, '{');
	g_autoptr(JsonParser) parser = json_parser_new();
	g_assert_true(json_parser_load_from_data(parser, line + 1, -1, NULL));
	JsonObject *cmd = json_node_get_object(json_parser_get_root(parser));
	g_assert_cmpstr(json_object_get_string_member(cmd, "execute"), ==,
			"guest-sync-delimited");
	g_assert_false(json_object_has_member(cmd, "id"));
	gint64 id = json_object_get_int_member(
		json_object_get_object_member(cmd, "arguments"), "id");
	g_assert_cmpint(id, >, 0);
	g_assert_cmpint(id, <=, G_MAXUINT32);
	return (guint32)id;
}

/**
 * agent_ready() - an agent client past its handshake with a fake agent
 * @peer: (out): the test's end
 * @max_line: the client's line cap
 *
 * Return: (transfer full): the client.
 */
static GvQmpClient *agent_ready(TestPeer *peer, gsize max_line)
{
	GvQmpClient *client = test_peer_new(peer, GV_QMP_PEER_AGENT, max_line);
	TestResult r = { 0 };
	g_autoptr(GError) error = NULL;
	gboolean ok;

	gv_qmp_client_handshake_async(client, 10000, NULL, test_result_cb, &r);
	test_peer_printf(peer, "\xff{\"return\": %u}\n", read_sync_id(peer));
	wait_handshake(client, &r, &error, &ok);
	g_assert_no_error(error);
	g_assert_true(ok);
	return client;
}

typedef struct {
	guint calls;
	GError *error;
	GPtrArray *log;
} Closed;

static void on_closed(GvQmpClient *client, const GError *error, gpointer data)
{
	Closed *c = data;

	c->calls++;
	g_clear_error(&c->error);
	c->error = g_error_copy(error);
	if (c->log)
		g_ptr_array_add(c->log, g_strdup("closed"));
}

/* ------------------------------------------------------------------------ */
/* QMP mode                                                                 */
/* ------------------------------------------------------------------------ */

static void test_qmp_timeout(void)
{
	TestPeer peer;
	g_autoptr(GvQmpClient) client = qmp_ready(&peer);
	Call c;
	gint64 start = g_get_monotonic_time();

	/* QEMU answers every command at once; only a silent fake peer can
	 * show the per-command timeout. */
	call_start(&c, client, "slow", 100, NULL);
	g_autofree char *slow_id = read_id(&peer, "slow");
	TEST_WAIT_UNTIL(c.done);
	g_assert_cmpint(g_get_monotonic_time() - start, >=, 100 * 1000);
	g_assert_error(c.error, GV_QMP_ERROR, GV_QMP_ERROR_TIMEOUT);
	g_assert_nonnull(strstr(c.error->message, "'slow'"));
	call_clear(&c);

	/* The late reply finds nobody: dropped while idle, and dropped while
	 * another command waits, which gets its own reply. */
	test_peer_printf(&peer, "{\"return\": \"late\", \"id\": \"%s\"}\n",
			 slow_id);
	test_iterate_for(20);
	call_start(&c, client, "next", 0, NULL);
	g_autofree char *next_id = read_id(&peer, "next");
	g_assert_cmpstr(next_id, !=, slow_id);
	test_peer_printf(&peer, "{\"return\": \"late\", \"id\": \"%s\"}\n",
			 slow_id);
	test_iterate_for(20);
	g_assert_false(c.done);
	test_peer_printf(&peer, "{\"return\": \"mine\", \"id\": \"%s\"}\n",
			 next_id);
	TEST_WAIT_UNTIL(c.done);
	call_returned(&c, "\"mine\"");
	g_assert_false(gv_qmp_client_is_closed(client));
	test_peer_close(&peer);
}

static void test_qmp_reply_without_id(void)
{
	TestPeer peer;
	g_autoptr(GvQmpClient) client = qmp_ready(&peer);
	Call c;

	/* In QMP mode an id-less reply is not ours (QEMU always echoes). */
	call_start(&c, client, "a", 0, NULL);
	g_autofree char *id = read_id(&peer, "a");
	test_peer_printf(&peer, "{\"return\": 1}\n{\"return\": 2, \"id\": 7}\n"
			 "{\"return\": 3, \"id\": \"%s\"}\n", id);
	TEST_WAIT_UNTIL(c.done);
	call_returned(&c, "3");
	test_peer_close(&peer);
}

static void test_qmp_error_classes(void)
{
	TestPeer peer;
	g_autoptr(GvQmpClient) client = qmp_ready(&peer);
	static const struct {
		const char *error;
		GvQmpError code;
		const char *message;
	} cases[] = {
		{ "{\"class\": \"KVMMissingCap\", \"desc\": \"no\"}",
		  GV_QMP_ERROR_KVM_MISSING_CAP, "KVMMissingCap: no" },
		{ "{\"class\": \"DeviceNotActive\", \"desc\": \"off\"}",
		  GV_QMP_ERROR_DEVICE_NOT_ACTIVE, "DeviceNotActive: off" },
		{ "{\"class\": \"FutureClass\", \"desc\": \"new\"}",
		  GV_QMP_ERROR_OTHER_CLASS, "FutureClass: new" },
		{ "{\"class\": \"GenericError\"}",
		  GV_QMP_ERROR_GENERIC_ERROR, "GenericError: (no description)" },
		{ "{\"desc\": \"classless\"}",
		  GV_QMP_ERROR_PROTOCOL, "error reply to 'x' has no class" },
		{ "\"just a string\"",
		  GV_QMP_ERROR_PROTOCOL, "malformed error reply to 'x'" },
	};

	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		Call c;

		call_start(&c, client, "x", 0, NULL);
		g_autofree char *id = read_id(&peer, "x");
		test_peer_printf(&peer, "{\"error\": %s, \"id\": \"%s\"}\n",
				 cases[i].error, id);
		TEST_WAIT_UNTIL(c.done);
		g_assert_error(c.error, GV_QMP_ERROR, (gint)cases[i].code);
		g_assert_cmpstr(c.error->message, ==, cases[i].message);
		call_clear(&c);
	}
	test_peer_close(&peer);
}

static void test_qmp_bad_line_closes(void)
{
	TestPeer peer;
	g_autoptr(GvQmpClient) client = qmp_ready(&peer);
	g_autoptr(GPtrArray) log = g_ptr_array_new_with_free_func(g_free);
	Closed closed = { .log = log };
	Call c;

	gv_qmp_client_set_closed_handler(client, on_closed, &closed);
	call_start(&c, client, "a", 0, NULL);
	c.log = log;
	g_free(read_id(&peer, "a"));
	test_peer_printf(&peer, "this is not QMP\n");
	TEST_WAIT_UNTIL(closed.calls > 0);
	g_assert_error(c.error, GV_QMP_ERROR, GV_QMP_ERROR_CLOSED);
	g_assert_error(closed.error, GV_QMP_ERROR, GV_QMP_ERROR_PROTOCOL);
	g_assert_cmpuint(log->len, ==, 2);
	g_assert_cmpstr(log->pdata[0], ==, "reply:a");
	g_assert_cmpstr(log->pdata[1], ==, "closed");
	call_clear(&c);
	g_clear_error(&closed.error);
	test_peer_close(&peer);
}

static void test_qmp_cancel(void)
{
	TestPeer peer;
	g_autoptr(GvQmpClient) client = qmp_ready(&peer);
	g_autoptr(GCancellable) cancellable = g_cancellable_new();
	Call c;

	call_start(&c, client, "a", 0, cancellable);
	g_autofree char *id = read_id(&peer, "a");
	g_cancellable_cancel(cancellable);
	TEST_WAIT_UNTIL(c.done);
	g_assert_error(c.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
	call_clear(&c);
	test_peer_printf(&peer, "{\"return\": \"late\", \"id\": \"%s\"}\n", id);

	/* Already cancelled: fails without sending anything. */
	call_start(&c, client, "b", 0, cancellable);
	TEST_WAIT_UNTIL(c.done);
	g_assert_error(c.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
	call_clear(&c);
	g_assert_true(test_peer_is_quiet(&peer, 30));

	call_start(&c, client, "c", 0, NULL);
	g_autofree char *id_c = read_id(&peer, "c");
	test_peer_printf(&peer, "{\"return\": {}, \"id\": \"%s\"}\n", id_c);
	TEST_WAIT_UNTIL(c.done);
	call_returned(&c, "{}");
	test_peer_close(&peer);
}

/**
 * failed_handshake() - run a QMP handshake that must fail
 * @script: what the peer writes after reading nothing (greeting stage)
 * @answer_caps: (nullable): the reply to qmp_capabilities, if reached
 * @timeout_ms: the handshake timeout
 * @domain: the expected error domain
 * @code: the expected error code
 */
static void failed_handshake(const char *script, const char *answer_caps,
			     guint timeout_ms, GQuark domain, gint code)
{
	TestPeer peer;
	g_autoptr(GvQmpClient) client = test_peer_new(&peer, GV_QMP_PEER_QMP,
						      4096);
	g_autoptr(GError) error = NULL;
	TestResult r = { 0 };
	Closed closed = { 0 };
	Call c;
	gboolean ok;

	gv_qmp_client_set_closed_handler(client, on_closed, &closed);
	/* Commands are refused until the handshake finished. */
	call_start(&c, client, "early", 0, NULL);
	TEST_WAIT_UNTIL(c.done);
	g_assert_error(c.error, GV_QMP_ERROR, GV_QMP_ERROR_PROTOCOL);
	call_clear(&c);
	g_assert_false(gv_qmp_client_send_no_reply(client, "early", NULL,
						   &error));
	g_assert_error(error, GV_QMP_ERROR, GV_QMP_ERROR_PROTOCOL);
	g_clear_error(&error);

	gv_qmp_client_handshake_async(client, timeout_ms, NULL, test_result_cb,
				      &r);
	test_peer_printf(&peer, "%s", script);
	if (answer_caps) {
		g_autofree char *id = read_id(&peer, "qmp_capabilities");
		test_peer_printf(&peer, "{%s, \"id\": \"%s\"}\n", answer_caps,
				 id);
	}
	wait_handshake(client, &r, &error, &ok);
	g_assert_false(ok);
	g_assert_error(error, domain, code);
	/* A failed QMP handshake leaves nothing to use: closed, once. */
	g_assert_true(gv_qmp_client_is_closed(client));
	TEST_WAIT_UNTIL(closed.calls == 1);
	g_clear_error(&closed.error);
	test_peer_close(&peer);
}

static void test_qmp_bad_handshakes(void)
{
	failed_handshake("{\"hello\": 1}\n", NULL, 5000, GV_QMP_ERROR,
			 GV_QMP_ERROR_PROTOCOL);
	failed_handshake("{\"QMP\": 5}\n", NULL, 5000, GV_QMP_ERROR,
			 GV_QMP_ERROR_PROTOCOL);
	failed_handshake("not json\n", NULL, 5000, GV_QMP_ERROR,
			 GV_QMP_ERROR_PROTOCOL);
	failed_handshake("", NULL, 100, GV_QMP_ERROR, GV_QMP_ERROR_TIMEOUT);
	failed_handshake("{\"QMP\": {}}\n",
			 "\"error\": {\"class\": \"GenericError\", \"desc\": \"no\"}",
			 5000, GV_QMP_ERROR, GV_QMP_ERROR_GENERIC_ERROR);
}

static void test_qmp_peer_eof(void)
{
	TestPeer peer;
	g_autoptr(GvQmpClient) client = qmp_ready(&peer);
	g_autoptr(GPtrArray) log = g_ptr_array_new_with_free_func(g_free);
	Closed closed = { .log = log };
	Call a, b;

	gv_qmp_client_set_closed_handler(client, on_closed, &closed);
	call_start(&a, client, "a", 0, NULL);
	a.log = log;
	call_start(&b, client, "b", 1000, NULL);
	b.log = log;
	g_free(read_id(&peer, "a"));
	g_free(read_id(&peer, "b"));
	test_peer_close(&peer);
	TEST_WAIT_UNTIL(closed.calls > 0);
	g_assert_error(a.error, GV_QMP_ERROR, GV_QMP_ERROR_CLOSED);
	g_assert_error(b.error, GV_QMP_ERROR, GV_QMP_ERROR_CLOSED);
	g_assert_error(closed.error, GV_QMP_ERROR, GV_QMP_ERROR_CLOSED);
	g_assert_cmpuint(log->len, ==, 3);
	g_assert_cmpstr(log->pdata[2], ==, "closed");
	call_clear(&a);
	call_clear(&b);
	/* b's timeout source went with it: nothing fires later. */
	test_iterate_for(1100);
	g_assert_cmpuint(closed.calls, ==, 1);
	g_clear_error(&closed.error);
}

static void test_qmp_close_by_client(void)
{
	TestPeer peer;
	g_autoptr(GvQmpClient) client = qmp_ready(&peer);
	g_autoptr(GPtrArray) log = g_ptr_array_new_with_free_func(g_free);
	Closed closed = { .log = log };
	Call a, b;

	gv_qmp_client_set_closed_handler(client, on_closed, &closed);
	call_start(&a, client, "a", 0, NULL);
	a.log = log;
	call_start(&b, client, "b", 0, NULL);
	b.log = log;
	/* Outside any dispatch GTask completes from idles; the closed
	 * handler must still come after both callbacks. */
	gv_qmp_client_close(client);
	g_assert_true(gv_qmp_client_is_closed(client));
	TEST_WAIT_UNTIL(closed.calls > 0);
	g_assert_cmpuint(log->len, ==, 3);
	g_assert_cmpstr(log->pdata[0], ==, "reply:a");
	g_assert_cmpstr(log->pdata[1], ==, "reply:b");
	g_assert_cmpstr(log->pdata[2], ==, "closed");
	g_assert_error(a.error, GV_QMP_ERROR, GV_QMP_ERROR_CLOSED);
	g_assert_error(closed.error, GV_QMP_ERROR, GV_QMP_ERROR_CLOSED);
	g_assert_cmpstr(closed.error->message, ==,
			"connection closed by the client");
	call_clear(&a);
	call_clear(&b);
	g_clear_error(&closed.error);

	/* The peer sees EOF, having received nothing after the handshake
	 * (commands queued at close are never written). */
	TEST_WAIT_UNTIL(test_peer_eof(&peer));
	g_assert_cmpuint(peer.in->len, ==, 0);
	test_peer_close(&peer);
}

typedef struct {
	GvQmpClient *client;
	guint self_id, other_id;
	guint self_calls, other_calls, added_calls;
	guint destroyed;
	gint64 timestamp;
	gboolean saw_data;
} Handlers;

static void on_destroy(gpointer data)
{
	Handlers *h = data;

	h->destroyed++;
}

static void added_handler(GvQmpClient *client, const char *event,
			  JsonObject *data, gint64 ts, gpointer user_data)
{
	Handlers *h = user_data;

	h->added_calls++;
}

static void self_removing(GvQmpClient *client, const char *event,
			  JsonObject *data, gint64 ts, gpointer user_data)
{
	Handlers *h = user_data;

	h->self_calls++;
	h->timestamp = ts;
	h->saw_data = data != NULL;
	/* Remove itself and the next handler, add a new one: the removed
	 * one must not run for this event, the new one only for later. */
	gv_qmp_client_remove_event_handler(client, h->self_id);
	gv_qmp_client_remove_event_handler(client, h->other_id);
	gv_qmp_client_add_event_handler(client, NULL, added_handler, h, NULL);
	/* Freed only after the dispatch, although removed now. */
	g_assert_cmpuint(h->destroyed, ==, 0);
}

static void other_handler(GvQmpClient *client, const char *event,
			  JsonObject *data, gint64 ts, gpointer user_data)
{
	Handlers *h = user_data;

	h->other_calls++;
}

static void test_qmp_event_handlers(void)
{
	TestPeer peer;
	g_autoptr(GvQmpClient) client = qmp_ready(&peer);
	Handlers h = { .client = client };

	h.self_id = gv_qmp_client_add_event_handler(client, "A", self_removing,
						    &h, on_destroy);
	h.other_id = gv_qmp_client_add_event_handler(client, NULL,
						     other_handler, &h,
						     on_destroy);
	g_assert_cmpuint(h.self_id, !=, 0);
	g_assert_cmpuint(h.other_id, !=, h.self_id);

	/* B does not match the first handler; A runs it; then C. */
	test_peer_printf(&peer,
			 "{\"event\": \"B\", \"timestamp\": {\"seconds\": 1, \"microseconds\": 2}}\n"
			 "{\"event\": \"A\", \"data\": {\"x\": 1}, "
			 "\"timestamp\": {\"seconds\": 3, \"microseconds\": 4}}\n");
	TEST_WAIT_UNTIL(h.self_calls == 1);
	g_assert_cmpuint(h.other_calls, ==, 1);     /* B only */
	g_assert_cmpint(h.timestamp, ==, 3000004);
	g_assert_true(h.saw_data);
	g_assert_cmpuint(h.destroyed, ==, 2);
	g_assert_cmpuint(h.added_calls, ==, 0);

	/* Malformed members are tolerated, without criticals (the tests
	 * run with G_DEBUG=fatal-criticals). */
	test_peer_printf(&peer,
			 "{\"event\": \"C\", \"data\": [1], \"timestamp\": {\"seconds\": \"x\"}}\n"
			 "{\"event\": 5}\n");
	TEST_WAIT_UNTIL(h.added_calls == 1);
	test_iterate_for(20);
	g_assert_cmpuint(h.added_calls, ==, 1);
	g_assert_cmpuint(h.self_calls, ==, 1);
	test_peer_close(&peer);
}

/* ------------------------------------------------------------------------ */
/* Agent mode                                                               */
/* ------------------------------------------------------------------------ */

static void test_agent_handshake(void)
{
	TestPeer peer;
	g_autoptr(GvQmpClient) client = test_peer_new(&peer, GV_QMP_PEER_AGENT,
						      4096);
	g_autoptr(GError) error = NULL;
	TestResult r = { 0 };
	guint32 id, id2;
	gboolean ok;

	/* What a previous host connection left behind in the agent (a
	 * stale 0xFF too would be indistinguishable from the agent's own:
	 * the random id is what tells them apart, tested below). */
	test_peer_printf(&peer, "{\"return\": {}}\ngarbage{{{\n{\"ret");
	gv_qmp_client_handshake_async(client, 10000, NULL, test_result_cb, &r);
	id = read_sync_id(&peer);

	/* Even the right reply does not count before the agent's 0xFF. */
	test_peer_printf(&peer, "urn\": %u}\n{\"return\": %u}\n\x80\x81\n",
			 id, id);
	test_iterate_for(30);
	g_assert_null(r.result);
	/* After the 0xFF: a stray error (qemu-ga answers the stray byte),
	 * a reply for another sync, then ours. */
	test_peer_printf(&peer, "\xff{\"error\": {\"class\": \"GenericError\", "
			 "\"desc\": \"stray\"}}\n{\"return\": %u}\n",
			 id ^ 1);
	test_iterate_for(30);
	g_assert_null(r.result);
	test_peer_printf(&peer, "{\"return\": %u}\n", id);
	wait_handshake(client, &r, &error, &ok);
	g_assert_no_error(error);
	g_assert_true(ok);

	/* Resync: a fresh id. */
	gv_qmp_client_handshake_async(client, 10000, NULL, test_result_cb, &r);
	id2 = read_sync_id(&peer);
	g_assert_cmpuint(id2, !=, id);
	test_peer_printf(&peer, "\xff{\"return\": %u}\n", id2);
	wait_handshake(client, &r, &error, &ok);
	g_assert_no_error(error);
	g_assert_true(ok);
	test_peer_close(&peer);
}

static void test_agent_in_order(void)
{
	TestPeer peer;
	g_autoptr(GvQmpClient) client = agent_ready(&peer, 4096);
	Call a, b, c, d;

	/* Replies without ids are matched to the oldest pending command. */
	call_start(&a, client, "a", 0, NULL);
	call_start(&b, client, "b", 0, NULL);
	g_free(read_id(&peer, "a"));
	g_free(read_id(&peer, "b"));
	test_peer_printf(&peer, "{\"return\": \"A\"}\n{\"return\": \"B\"}\n");
	TEST_WAIT_UNTIL(a.done && b.done);
	call_returned(&a, "\"A\"");
	call_returned(&b, "\"B\"");

	/* An id wins over order; then the id-less one goes to the oldest
	 * left.  Stray ids and a stray 0xFF are dropped. */
	call_start(&c, client, "c", 0, NULL);
	call_start(&d, client, "d", 0, NULL);
	g_free(read_id(&peer, "c"));
	g_autofree char *id_d = read_id(&peer, "d");
	test_peer_printf(&peer, "{\"return\": \"stray\", \"id\": \"gv-999\"}\n"
			 "{\"return\": \"D\", \"id\": \"%s\"}\n\xff"
			 "{\"return\": \"C\"}\n", id_d);
	TEST_WAIT_UNTIL(c.done && d.done);
	call_returned(&c, "\"C\"");
	call_returned(&d, "\"D\"");

	/* Error replies map like QMP's. */
	call_start(&a, client, "a", 0, NULL);
	g_free(read_id(&peer, "a"));
	test_peer_printf(&peer, "{\"error\": {\"class\": \"GenericError\", "
			 "\"desc\": \"boom\"}}\n");
	TEST_WAIT_UNTIL(a.done);
	g_assert_error(a.error, GV_QMP_ERROR, GV_QMP_ERROR_GENERIC_ERROR);
	g_assert_cmpstr(a.error->message, ==, "GenericError: boom");
	call_clear(&a);
	test_peer_close(&peer);
}

static void test_agent_bad_lines(void)
{
	TestPeer peer;
	g_autoptr(GvQmpClient) client = agent_ready(&peer, 4096);
	static const char *const bad[] = {
		"garbage\n",
		"{\"return\": \"\xc3\x28\"}\n",      /* invalid UTF-8 */
		"[\"return\", 1]\n",                 /* not an object */
		"{\"answer\": 42}\n",                /* neither return nor error */
	};

	/* Nothing pending: a bad line is dropped, the client stays. */
	test_peer_printf(&peer, "garbage\n");
	test_iterate_for(20);
	g_assert_false(gv_qmp_client_is_closed(client));

	for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
		Call c;

		call_start(&c, client, "cmd", 0, NULL);
		g_free(read_id(&peer, "cmd"));
		test_peer_printf(&peer, "%s", bad[i]);
		TEST_WAIT_UNTIL(c.done);
		g_assert_error(c.error, GV_QMP_ERROR, GV_QMP_ERROR_PROTOCOL);
		g_assert_nonnull(strstr(c.error->message, "'cmd'"));
		call_clear(&c);
	}

	Call ok;
	call_start(&ok, client, "ok", 0, NULL);
	g_free(read_id(&peer, "ok"));
	test_peer_printf(&peer, "{\"return\": 1}\n");
	TEST_WAIT_UNTIL(ok.done);
	call_returned(&ok, "1");
	test_peer_close(&peer);
}

static void test_agent_too_long(void)
{
	TestPeer peer;
	g_autoptr(GvQmpClient) client = agent_ready(&peer,
						    GV_QMP_MAX_LINE_DEFAULT);
	const gsize size = 17 * 1024 * 1024;
	g_autofree char *big = g_malloc(size);
	Call a, b;

	call_start(&a, client, "a", 0, NULL);
	g_free(read_id(&peer, "a"));
	/* A reply-shaped 17 MiB line: over the 16 MiB cap. */
	memset(big, 'x', size);
	memcpy(big, "{\"return\": \"", 12);
	test_peer_write(&peer, big, size);
	test_peer_printf(&peer, "\"}\n");
	TEST_WAIT_UNTIL(a.done);
	g_assert_error(a.error, GV_QMP_ERROR, GV_QMP_ERROR_TOO_LONG);
	call_clear(&a);

	call_start(&b, client, "b", 0, NULL);
	g_free(read_id(&peer, "b"));
	test_peer_printf(&peer, "{\"return\": \"fine\"}\n");
	TEST_WAIT_UNTIL(b.done);
	call_returned(&b, "\"fine\"");
	test_peer_close(&peer);
}

static void test_agent_timeout_in_order(void)
{
	TestPeer peer;
	g_autoptr(GvQmpClient) client = agent_ready(&peer, 4096);
	Call a, b;

	call_start(&a, client, "a", 50, NULL);
	g_free(read_id(&peer, "a"));
	TEST_WAIT_UNTIL(a.done);
	g_assert_error(a.error, GV_QMP_ERROR, GV_QMP_ERROR_TIMEOUT);
	call_clear(&a);

	/* The agent still answers a, late and without id: that reply must
	 * not be taken for b's. */
	call_start(&b, client, "b", 0, NULL);
	g_free(read_id(&peer, "b"));
	test_peer_printf(&peer, "{\"return\": \"late A\"}\n");
	test_iterate_for(20);
	g_assert_false(b.done);
	test_peer_printf(&peer, "{\"return\": \"B\"}\n");
	TEST_WAIT_UNTIL(b.done);
	call_returned(&b, "\"B\"");
	test_peer_close(&peer);
}

static void test_agent_resync(void)
{
	TestPeer peer;
	g_autoptr(GvQmpClient) client = test_peer_new(&peer, GV_QMP_PEER_AGENT,
						      4096);
	g_autoptr(GError) error = NULL;
	TestResult r = { 0 };
	guint32 id1, id2;
	gboolean ok;
	Call a, b;

	/* The first handshake times out; the client stays open and refuses
	 * commands until a retry succeeds. */
	gv_qmp_client_handshake_async(client, 50, NULL, test_result_cb, &r);
	id1 = read_sync_id(&peer);
	wait_handshake(client, &r, &error, &ok);
	g_assert_false(ok);
	g_assert_error(error, GV_QMP_ERROR, GV_QMP_ERROR_TIMEOUT);
	g_clear_error(&error);
	g_assert_false(gv_qmp_client_is_closed(client));
	call_start(&a, client, "a", 0, NULL);
	TEST_WAIT_UNTIL(a.done);
	g_assert_error(a.error, GV_QMP_ERROR, GV_QMP_ERROR_PROTOCOL);
	call_clear(&a);

	gv_qmp_client_handshake_async(client, 10000, NULL, test_result_cb, &r);
	id2 = read_sync_id(&peer);
	g_assert_cmpuint(id1, !=, id2);
	/* The answer to the first sync arrives first and is ignored. */
	test_peer_printf(&peer, "\xff{\"return\": %u}\n", id1);
	test_iterate_for(20);
	g_assert_null(r.result);
	test_peer_printf(&peer, "\xff{\"return\": %u}\n", id2);
	wait_handshake(client, &r, &error, &ok);
	g_assert_no_error(error);
	g_assert_true(ok);

	/* A resync abandons the command in flight; its late reply comes
	 * before the agent's 0xFF and is discarded. */
	call_start(&a, client, "a", 0, NULL);
	g_free(read_id(&peer, "a"));
	gv_qmp_client_handshake_async(client, 10000, NULL, test_result_cb, &r);
	TEST_WAIT_UNTIL(a.done);
	g_assert_error(a.error, GV_QMP_ERROR, GV_QMP_ERROR_PROTOCOL);
	call_clear(&a);
	id1 = read_sync_id(&peer);
	test_peer_printf(&peer, "{\"return\": \"A\"}\n\xff{\"return\": %u}\n",
			 id1);
	wait_handshake(client, &r, &error, &ok);
	g_assert_no_error(error);
	g_assert_true(ok);
	call_start(&b, client, "b", 0, NULL);
	g_free(read_id(&peer, "b"));
	test_peer_printf(&peer, "{\"return\": \"B\"}\n");
	TEST_WAIT_UNTIL(b.done);
	call_returned(&b, "\"B\"");
	test_peer_close(&peer);
}

static void test_send_no_reply(void)
{
	TestPeer peer;
	g_autoptr(GvQmpClient) client = agent_ready(&peer, 4096);
	g_autoptr(JsonObject) args = json_object_new();
	g_autoptr(GError) error = NULL;

	json_object_set_string_member(args, "mode", "powerdown");
	g_assert_true(gv_qmp_client_send_no_reply(client, "guest-shutdown",
						  args, &error));
	g_assert_no_error(error);
	g_autoptr(JsonObject) cmd = test_peer_read_command(&peer,
							   "guest-shutdown");
	g_assert_false(json_object_has_member(cmd, "id"));
	g_assert_cmpstr(json_object_get_string_member(
		json_object_get_object_member(cmd, "arguments"), "mode"), ==,
		"powerdown");

	gv_qmp_client_close(client);
	g_assert_false(gv_qmp_client_send_no_reply(client, "x", NULL, &error));
	g_assert_error(error, GV_QMP_ERROR, GV_QMP_ERROR_CLOSED);
	test_peer_close(&peer);
}

/* Dropping the last reference from a callback must be safe. */
static void unref_in_callback(GObject *source, GAsyncResult *result,
			      gpointer data)
{
	GvQmpClient **client = data;
	g_autoptr(JsonNode) ret = gv_qmp_client_execute_finish(*client, result,
							       NULL);

	g_assert_nonnull(ret);
	g_clear_pointer(client, gv_qmp_client_unref);
}

static void test_unref_in_callback(void)
{
	TestPeer peer;
	GvQmpClient *client = qmp_ready(&peer);
	GvQmpClient *watch = client;

	g_object_add_weak_pointer(G_OBJECT(watch), (gpointer *)&watch);
	gv_qmp_client_execute_async(client, "a", NULL, 0, NULL,
				    unref_in_callback, &client);
	g_autofree char *id = read_id(&peer, "a");
	test_peer_printf(&peer, "{\"return\": 1, \"id\": \"%s\"}\n", id);
	TEST_WAIT_UNTIL(!client);
	TEST_WAIT_UNTIL(!watch);  /* finalized: no leaked reference */
	test_peer_close(&peer);
}


/* ------------------------------------------------------------------------ */
/* Agent events, calls in stream order, automatic resync, back-pressure    */
/* ------------------------------------------------------------------------ */

/* Records events and call outcomes in the order the client reported them. */
typedef struct {
	GPtrArray *log;
	guint calls;
} Order;

static void on_order_event(GvQmpClient *client, const char *event,
			   JsonObject *data, gint64 timestamp_us,
			   gpointer user_data)
{
	Order *o = user_data;
	gint64 seq = data && json_object_has_member(data, "seq")
		? json_object_get_int_member(data, "seq") : -1;

	g_ptr_array_add(o->log, g_strdup_printf("event:%s:%" G_GINT64_FORMAT,
						event, seq));
}

static void on_order_reply(GvQmpClient *client, JsonNode *ret,
			   const GError *error, gpointer user_data)
{
	Order *o = user_data;

	o->calls++;
	if (error)
		g_ptr_array_add(o->log, g_strdup_printf("error:%d", error->code));
	else {
		g_autofree char *text = json_to_string(ret, FALSE);
		g_ptr_array_add(o->log, g_strconcat("reply:", text, NULL));
	}
}

static char *order_joined(Order *o)
{
	g_ptr_array_add(o->log, NULL);
	char *s = g_strjoinv(" ", (char **)o->log->pdata);
	g_ptr_array_remove_index(o->log, o->log->len - 1);
	return s;
}

/*
 * The agent's event lines reach the handlers, in stream order with the
 * reply that started their stream, and also while a resync runs (the
 * stream goes on; only replies are stale then).
 */
static void test_agent_events(void)
{
	TestPeer peer;
	g_autoptr(GvQmpClient) client = agent_ready(&peer, 4096);
	Order o = { .log = g_ptr_array_new_with_free_func(g_free) };
	g_autoptr(GError) error = NULL;
	TestResult r = { 0 };
	gboolean ok;

	gv_qmp_client_add_event_handler(client, "grain-output", on_order_event,
					&o, NULL);
	gv_qmp_client_add_event_handler(client, "grain-exit", on_order_event,
					&o, NULL);
	g_assert_true(gv_qmp_client_call(client, "grain-exec-start", NULL, 0,
					 on_order_reply, &o, &error));
	g_assert_no_error(error);
	g_autofree char *id = read_id(&peer, "grain-exec-start");
	/* Reply and events in one write: one read, one feed. */
	test_peer_printf(&peer,
		"{\"return\": {\"handle\": 1}, \"id\": \"%s\"}\n"
		"{\"event\": \"grain-output\", \"data\": {\"handle\": 1, \"seq\": 0}, "
		"\"timestamp\": {\"seconds\": 1, \"microseconds\": 2}}\n"
		"{\"event\": \"grain-output\", \"data\": {\"handle\": 1, \"seq\": 1}}\n", id);
	TEST_WAIT_UNTIL(o.log->len == 3);
	g_autofree char *got = order_joined(&o);
	g_assert_cmpstr(got, ==, "reply:{\"handle\":1} event:grain-output:0 "
			"event:grain-output:1");

	/* During a resync: stale replies are dropped, events are not. */
	gv_qmp_client_handshake_async(client, 10000, NULL, test_result_cb, &r);
	guint32 sync = read_sync_id(&peer);
	test_peer_printf(&peer, "{\"return\": \"stale\"}\n"
			 "{\"event\": \"grain-output\", \"data\": {\"handle\": 1, \"seq\": 2}}\n"
			 "\xff{\"event\": \"grain-exit\", \"data\": {\"handle\": 1, \"seq\": 3}}\n"
			 "{\"return\": %u}\n", sync);
	wait_handshake(client, &r, &error, &ok);
	g_assert_true(ok);
	g_assert_cmpuint(o.log->len, ==, 5);
	g_assert_cmpstr(g_ptr_array_index(o.log, 3), ==, "event:grain-output:2");
	g_assert_cmpstr(g_ptr_array_index(o.log, 4), ==, "event:grain-exit:3");

	/* A malformed event is dropped, not taken for a reply. */
	Call c;
	call_start(&c, client, "cmd", 0, NULL);
	g_free(read_id(&peer, "cmd"));
	test_peer_printf(&peer, "{\"event\": 5}\n{\"event\": \"x\", \"data\": [1]}\n"
			 "{\"return\": 7}\n");
	TEST_WAIT_UNTIL(c.done);
	call_returned(&c, "7");
	g_ptr_array_unref(o.log);
	test_peer_close(&peer);
}

/*
 * With auto-resync a timeout is followed by a resync of the client's own;
 * a command issued meanwhile is held and sent once the resync is done,
 * so the late, id-less answer to the timed-out command cannot be taken
 * for its reply.
 */
static void test_agent_auto_resync_timeout(void)
{
	TestPeer peer;
	g_autoptr(GvQmpClient) client = agent_ready(&peer, 4096);
	Order o = { .log = g_ptr_array_new_with_free_func(g_free) };
	g_autoptr(GError) error = NULL;

	gv_qmp_client_set_auto_resync(client, 10000);
	g_assert_true(gv_qmp_client_call(client, "slow", NULL, 50,
					 on_order_reply, &o, &error));
	g_free(read_id(&peer, "slow"));
	TEST_WAIT_UNTIL(o.calls == 1);
	g_autofree char *s1 = g_strdup_printf("error:%d", GV_QMP_ERROR_TIMEOUT);
	g_assert_cmpstr(g_ptr_array_index(o.log, 0), ==, s1);

	/* The resync went out at once; "next" waits for it. */
	guint32 sync = read_sync_id(&peer);
	g_assert_true(gv_qmp_client_call(client, "next", NULL, 0,
					 on_order_reply, &o, &error));
	g_assert_true(test_peer_is_quiet(&peer, 30));
	test_peer_printf(&peer, "{\"return\": \"late slow\"}\n\xff{\"return\": %u}\n",
			 sync);
	g_free(read_id(&peer, "next"));
	test_peer_printf(&peer, "{\"return\": \"N\"}\n");
	TEST_WAIT_UNTIL(o.calls == 2);
	g_assert_cmpstr(g_ptr_array_index(o.log, 1), ==, "reply:\"N\"");

	/* A resync that times out fails what it held; the next command
	 * starts another one. */
	gv_qmp_client_set_auto_resync(client, 50);
	g_assert_true(gv_qmp_client_call(client, "slow", NULL, 50,
					 on_order_reply, &o, &error));
	g_free(read_id(&peer, "slow"));
	TEST_WAIT_UNTIL(o.calls == 3);
	(void)read_sync_id(&peer);
	g_assert_true(gv_qmp_client_call(client, "held", NULL, 0,
					 on_order_reply, &o, &error));
	TEST_WAIT_UNTIL(o.calls == 4);
	g_autofree char *s4 = g_strdup_printf("error:%d", GV_QMP_ERROR_TIMEOUT);
	g_assert_cmpstr(g_ptr_array_index(o.log, 3), ==, s4);
	gv_qmp_client_set_auto_resync(client, 10000);
	g_assert_true(gv_qmp_client_call(client, "again", NULL, 0,
					 on_order_reply, &o, &error));
	sync = read_sync_id(&peer);
	test_peer_printf(&peer, "\xff{\"return\": %u}\n", sync);
	g_free(read_id(&peer, "again"));
	test_peer_printf(&peer, "{\"return\": \"A\"}\n");
	TEST_WAIT_UNTIL(o.calls == 5);
	g_assert_cmpstr(g_ptr_array_index(o.log, 4), ==, "reply:\"A\"");
	g_ptr_array_unref(o.log);
	test_peer_close(&peer);
}

/*
 * Garbage, invalid UTF-8 and an over-long line each fail the command they
 * took the place of and start a resync; a flood of garbage with nothing
 * pending costs no memory and leaves the client usable.
 */
static void test_agent_auto_resync_garbage(void)
{
	TestPeer peer;
	g_autoptr(GvQmpClient) client = agent_ready(&peer, 64 * 1024);
	static const char *const bad[] = {
		"garbage\n",
		"{\"return\": \"\xc3\x28\"}\n",
		"\x01\x02\x03\x7f binary\n",
	};

	gv_qmp_client_set_auto_resync(client, 10000);
	for (gsize i = 0; i < G_N_ELEMENTS(bad) + 1; i++) {
		Call c;

		call_start(&c, client, "cmd", 0, NULL);
		g_free(read_id(&peer, "cmd"));
		if (i < G_N_ELEMENTS(bad)) {
			test_peer_printf(&peer, "%s", bad[i]);
		} else {
			/* 1 MiB without a newline: over the 64 KiB cap. */
			g_autofree char *big = g_malloc(1 << 20);
			memset(big, '{', 1 << 20);
			test_peer_write(&peer, big, 1 << 20);
		}
		TEST_WAIT_UNTIL(c.done);
		GvQmpError want = i < G_N_ELEMENTS(bad) ? GV_QMP_ERROR_PROTOCOL
							: GV_QMP_ERROR_TOO_LONG;
		g_assert_error(c.error, GV_QMP_ERROR, (gint)want);
		call_clear(&c);
		guint32 sync = read_sync_id(&peer);
		/* The rest of the long line is skipped up to the 0xFF. */
		test_peer_printf(&peer, "\xff{\"return\": %u}\n", sync);
	}

	/* A flood: 32 MiB of junk lines and never-ending lines, nothing
	 * pending.  The reader never holds more than its cap. */
	g_autofree char *junk = g_malloc(1 << 20);
	for (gsize i = 0; i < (1 << 20); i++)
		junk[i] = (i % 97 == 96) ? '\n' : (char)('!' + i % 90);
	for (int i = 0; i < 32; i++)
		test_peer_write(&peer, junk, 1 << 20);
	/* An event marks the end of the flood: once it is seen, every junk
	 * line before it has been read and dropped. */
	Order o = { .log = g_ptr_array_new_with_free_func(g_free) };
	gv_qmp_client_add_event_handler(client, "end", on_order_event, &o, NULL);
	test_peer_printf(&peer, "\n{\"event\": \"end\"}\n");
	TEST_WAIT_UNTIL(o.log->len == 1);
	g_ptr_array_unref(o.log);
	Call ok;
	call_start(&ok, client, "ok", 0, NULL);
	g_free(read_id(&peer, "ok"));
	test_peer_printf(&peer, "{\"return\": 1}\n");
	TEST_WAIT_UNTIL(ok.done);
	call_returned(&ok, "1");
	g_assert_false(gv_qmp_client_is_closed(client));
	test_peer_close(&peer);
}

/* While input is paused nothing is read: the peer's writes fill the
 * socket and then block; resuming delivers everything, in order. */
static void test_pause_input(void)
{
	TestPeer peer;
	g_autoptr(GvQmpClient) client = agent_ready(&peer, 4096);
	Order o = { .log = g_ptr_array_new_with_free_func(g_free) };
	char line[128];
	gsize sent = 0;

	gv_qmp_client_add_event_handler(client, NULL, on_order_event, &o, NULL);
	gv_qmp_client_pause_input(client, TRUE);
	for (int i = 0;; i++) {
		int n = g_snprintf(line, sizeof(line),
			"{\"event\": \"e\", \"data\": {\"seq\": %d}}\n", i);
		ssize_t w = write(peer.fd, line, (gsize)n);
		test_iterate_for(0);
		if (w < 0) {
			g_assert_cmpint(errno, ==, EAGAIN);
			break;
		}
		g_assert_cmpint(w, ==, n); /* lines are far below PIPE_BUF */
		sent++;
		g_assert_cmpuint(sent, <, 1000000);
	}
	test_iterate_for(30);
	g_assert_cmpuint(o.log->len, ==, 0);
	gv_qmp_client_pause_input(client, FALSE);
	TEST_WAIT_UNTIL(o.log->len == sent);
	g_autofree char *last = g_strdup_printf("event:e:%" G_GSIZE_FORMAT, sent - 1);
	g_assert_cmpstr(g_ptr_array_index(o.log, sent - 1), ==, last);
	g_ptr_array_unref(o.log);
	test_peer_close(&peer);
}

/* ------------------------------------------------------------------------ */
/* Descriptors (SCM_RIGHTS)                                                 */
/* ------------------------------------------------------------------------ */

/* One descriptor the peer received, and the stream range of its recvmsg. */
typedef struct {
	int fd;
	gsize from, to;   /* bytes [from, to) of the stream came with it */
} GotFd;

/**
 * recv_all_with_fds() - read what the client sent, keeping the descriptors
 * @peer: the peer
 * @want: read until this many lines arrived
 * @got: (out): GotFd per descriptor, in order
 *
 * Return: (transfer full): the bytes.
 */
static GString *recv_all_with_fds(TestPeer *peer, guint want, GArray *got)
{
	GString *all = g_string_new(NULL);
	guint lines = 0;

	TEST_WAIT_UNTIL(({
		char buf[4096];
		union {
			char b[CMSG_SPACE(4 * sizeof(int))];
			struct cmsghdr align;
		} control;
		struct iovec iov = { buf, sizeof(buf) };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
				      .msg_control = control.b,
				      .msg_controllen = sizeof(control.b) };
		ssize_t n = recvmsg(peer->fd, &msg, MSG_CMSG_CLOEXEC);

		if (n > 0) {
			for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c;
			     c = CMSG_NXTHDR(&msg, c)) {
				g_assert_cmpint(c->cmsg_type, ==, SCM_RIGHTS);
				gsize nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
				for (gsize i = 0; i < nfd; i++) {
					GotFd g = { -1, all->len, all->len + (gsize)n };
					memcpy(&g.fd, CMSG_DATA(c) + i * sizeof(int),
					       sizeof(int));
					g_array_append_val(got, g);
				}
			}
			g_assert_false(msg.msg_flags & MSG_CTRUNC);
			for (ssize_t i = 0; i < n; i++)
				lines += buf[i] == '\n';
			g_string_append_len(all, buf, n);
		} else {
			g_assert_cmpint(n, <, 0);
			g_assert_cmpint(errno, ==, EAGAIN);
		}
		lines >= want;
	}));
	return all;
}

/* The stream offset of the line that holds "execute":"@command". */
static gsize offset_of(GString *all, const char *command)
{
	g_autofree char *needle = g_strdup_printf("{\"execute\":\"%s\"", command);
	const char *at = strstr(all->str, needle);

	g_assert_nonnull(at);
	return (gsize)(at - all->str);
}

/* Same file: the descriptor the peer got is the one that was passed. */
static void assert_same_file(int a, int b)
{
	struct stat sa, sb;

	g_assert_cmpint(fstat(a, &sa), ==, 0);
	g_assert_cmpint(fstat(b, &sb), ==, 0);
	g_assert_cmpuint(sa.st_ino, ==, sb.st_ino);
	g_assert_cmpuint(sa.st_dev, ==, sb.st_dev);
}

/*
 * Commands with and without descriptors, queued before anything is sent:
 * each descriptor reaches the peer with its own command (the recvmsg that
 * brings it holds that command's first byte and none of the next
 * descriptor's command), the peer's copy is the file the caller passed,
 * and the replies complete the right calls.
 */
static void test_fd_passing(void)
{
	TestPeer peer;
	g_autoptr(GvQmpClient) client = qmp_ready(&peer);
	g_autoptr(GError) error = NULL;
	int p1[2], p2[2];
	Call plain1, a, b, plain2;

	g_assert_true(g_unix_open_pipe(p1, FD_CLOEXEC, NULL));
	g_assert_true(g_unix_open_pipe(p2, FD_CLOEXEC, NULL));
	call_start(&plain1, client, "plain-one", 0, NULL);
	memset(&a, 0, sizeof(a));
	a.client = client;
	gv_qmp_client_execute_with_fd_async(client, "getfd", NULL, p1[1], 0, NULL,
					    on_call_done, &a);
	memset(&b, 0, sizeof(b));
	b.client = client;
	gv_qmp_client_execute_with_fd_async(client, "add-fd", NULL, p2[1], 0, NULL,
					    on_call_done, &b);
	call_start(&plain2, client, "plain-two", 0, NULL);
	/* The client holds duplicates: the caller may close its own now. */
	g_close(p1[1], NULL);
	g_close(p2[1], NULL);

	g_autoptr(GArray) got = g_array_new(FALSE, FALSE, sizeof(GotFd));
	g_autoptr(GString) all = recv_all_with_fds(&peer, 4, got);
	g_assert_cmpuint(got->len, ==, 2);
	gsize at_a = offset_of(all, "getfd"), at_b = offset_of(all, "add-fd");
	GotFd *ga = &g_array_index(got, GotFd, 0), *gb = &g_array_index(got, GotFd, 1);
	g_assert_cmpuint(ga->from, <=, at_a);
	g_assert_cmpuint(at_a, <, ga->to);
	g_assert_cmpuint(ga->to, <=, at_b);
	g_assert_cmpuint(gb->from, <=, at_b);
	g_assert_cmpuint(at_b, <, gb->to);
	assert_same_file(ga->fd, p1[0]);
	assert_same_file(gb->fd, p2[0]);

	/* Writing through the peer's copy reaches the caller's pipe. */
	g_assert_cmpint(write(ga->fd, "x", 1), ==, 1);
	char c = 0;
	g_assert_cmpint(read(p1[0], &c, 1), ==, 1);
	g_assert_cmpint(c, ==, 'x');
	g_close(ga->fd, NULL);
	g_close(gb->fd, NULL);

	/* Every copy of the write ends is closed now: the client's too. */
	g_assert_true(g_unix_set_fd_nonblocking(p2[0], TRUE, NULL));
	g_assert_cmpint(read(p2[0], &c, 1), ==, 0);

	/* Replies, by id, in any order. */
	const char *cmds[] = { "plain-two", "add-fd", "getfd", "plain-one" };
	for (guint i = 0; i < G_N_ELEMENTS(cmds); i++) {
		g_autofree char *needle = g_strdup_printf("{\"execute\":\"%s\"", cmds[i]);
		const char *at = strstr(all->str, needle);
		const char *idp = strstr(at, "\"id\":\"") + 6;
		g_autofree char *id = g_strndup(idp, strcspn(idp, "\""));
		test_peer_printf(&peer, "{\"return\": \"%s\", \"id\": \"%s\"}\n", cmds[i], id);
	}
	TEST_WAIT_UNTIL(plain1.done && a.done && b.done && plain2.done);
	call_returned(&plain1, "\"plain-one\"");
	call_returned(&a, "\"getfd\"");
	call_returned(&b, "\"add-fd\"");
	call_returned(&plain2, "\"plain-two\"");
	g_close(p1[0], NULL);
	g_close(p2[0], NULL);
	test_peer_close(&peer);
}

/*
 * Bounds: at most GV_QMP_MAX_OUT_FDS descriptors wait to be sent; the
 * next command with one fails at once and sends nothing.  No descriptor
 * for a guest agent; none that is not open.  Descriptors the client never
 * sent are closed with it.
 */
static void test_fd_bounds(void)
{
	TestPeer peer;
	g_autoptr(GvQmpClient) client = qmp_ready(&peer);
	g_autoptr(GError) error = NULL;
	Call calls[9];
	int p[2];

	g_assert_true(g_unix_open_pipe(p, FD_CLOEXEC, NULL));
	/* A closed descriptor is refused, naming it. */
	g_assert_false(gv_qmp_client_call_with_fd(client, "getfd", NULL, 1000, 0,
						  (GvQmpReplyFunc)abort, NULL, &error));
	g_assert_error(error, GV_QMP_ERROR, GV_QMP_ERROR_IO);
	g_assert_nonnull(strstr(error->message, "descriptor 1000"));
	g_clear_error(&error);
	/* Queued without iterating: nothing goes out yet. */
	for (guint i = 0; i < 8; i++) {
		memset(&calls[i], 0, sizeof(calls[i]));
		calls[i].client = client;
		gv_qmp_client_execute_with_fd_async(client, "getfd", NULL, p[1], 0, NULL,
						    on_call_done, &calls[i]);
	}
	g_assert_false(gv_qmp_client_call_with_fd(client, "getfd", NULL, p[1], 0,
						  (GvQmpReplyFunc)abort, NULL, &error));
	g_assert_error(error, GV_QMP_ERROR, GV_QMP_ERROR_IO);
	g_assert_nonnull(strstr(error->message, "8 are waiting"));
	g_clear_error(&error);

	g_autoptr(GArray) got = g_array_new(FALSE, FALSE, sizeof(GotFd));
	g_autoptr(GString) all = recv_all_with_fds(&peer, 8, got);
	g_assert_cmpuint(got->len, ==, 8);
	for (guint i = 0; i < got->len; i++) {
		GotFd *g = &g_array_index(got, GotFd, i);
		assert_same_file(g->fd, p[0]);
		g_close(g->fd, NULL);
		/* One descriptor per recvmsg, each with a whole command of its own. */
		if (i)
			g_assert_cmpuint(g->from, >=, g_array_index(got, GotFd, i - 1).to);
	}

	/* Unsent descriptors are closed when the client closes. */
	memset(&calls[8], 0, sizeof(calls[8]));
	calls[8].client = client;
	gv_qmp_client_execute_with_fd_async(client, "getfd", NULL, p[1], 0, NULL,
					    on_call_done, &calls[8]);
	g_close(p[1], NULL);
	gv_qmp_client_close(client);
	TEST_WAIT_UNTIL(calls[8].done);
	for (guint i = 0; i < 9; i++) {
		g_assert_error(calls[i].error, GV_QMP_ERROR, GV_QMP_ERROR_CLOSED);
		call_clear(&calls[i]);
	}
	char c;
	g_assert_true(g_unix_set_fd_nonblocking(p[0], TRUE, NULL));
	g_assert_cmpint(read(p[0], &c, 1), ==, 0);
	g_close(p[0], NULL);
	test_peer_close(&peer);

	/* A guest agent's port carries bytes only. */
	g_autoptr(GvQmpClient) agent = agent_ready(&peer, 4096);
	g_assert_false(gv_qmp_client_call_with_fd(agent, "guest-ping", NULL, 0, 0,
						  (GvQmpReplyFunc)abort, NULL, &error));
	g_assert_error(error, GV_QMP_ERROR, GV_QMP_ERROR_PROTOCOL);
	g_assert_true(test_peer_is_quiet(&peer, 50));
	test_peer_close(&peer);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/qmp/fake/timeout", test_qmp_timeout);
	g_test_add_func("/qmp/fake/reply-without-id", test_qmp_reply_without_id);
	g_test_add_func("/qmp/fake/error-classes", test_qmp_error_classes);
	g_test_add_func("/qmp/fake/bad-line-closes", test_qmp_bad_line_closes);
	g_test_add_func("/qmp/fake/cancel", test_qmp_cancel);
	g_test_add_func("/qmp/fake/bad-handshakes", test_qmp_bad_handshakes);
	g_test_add_func("/qmp/fake/peer-eof", test_qmp_peer_eof);
	g_test_add_func("/qmp/fake/close-by-client", test_qmp_close_by_client);
	g_test_add_func("/qmp/fake/event-handlers", test_qmp_event_handlers);
	g_test_add_func("/qmp/fake/unref-in-callback", test_unref_in_callback);
	g_test_add_func("/qmp/fake/fd-passing", test_fd_passing);
	g_test_add_func("/qmp/fake/fd-bounds", test_fd_bounds);
	g_test_add_func("/qmp/agent/handshake", test_agent_handshake);
	g_test_add_func("/qmp/agent/in-order", test_agent_in_order);
	g_test_add_func("/qmp/agent/bad-lines", test_agent_bad_lines);
	g_test_add_func("/qmp/agent/too-long", test_agent_too_long);
	g_test_add_func("/qmp/agent/timeout-in-order",
			test_agent_timeout_in_order);
	g_test_add_func("/qmp/agent/resync", test_agent_resync);
	g_test_add_func("/qmp/agent/send-no-reply", test_send_no_reply);
	g_test_add_func("/qmp/agent/events", test_agent_events);
	g_test_add_func("/qmp/agent/auto-resync-timeout",
			test_agent_auto_resync_timeout);
	g_test_add_func("/qmp/agent/auto-resync-garbage",
			test_agent_auto_resync_garbage);
	g_test_add_func("/qmp/agent/pause-input", test_pause_input);
	return g_test_run();
}
