/* SPDX-License-Identifier: MIT */
/*
 * fuzz-qmp-reader.c - libFuzzer target for what a peer can send
 *
 * Two layers see untrusted bytes, so both are driven:
 *
 * 1. GvJsonReader alone, in both flag modes and with several caps.  The
 *    oracle is split invariance: however the input is cut into reads, the
 *    reader must report the same items, and it must never hold more than
 *    max_line bytes.
 * 2. A client on a socketpair, QMP and agent mode, past its handshake
 *    with three commands in flight (ids gv-2..gv-4 in QMP mode, gv-1..gv-3
 *    for the agent, which the seeds use); the input is the peer's stream,
 *    then EOF.  The oracle: every command completes exactly once, the
 *    closed handler runs exactly once, nothing logs a warning.  The agent
 *    runs a second time the way the supervisor uses it: automatic resync
 *    on, one command through gv_qmp_client_call(), an event handler, and
 *    a fourth command issued mid-stream (held if a resync runs).
 *
 * Built with -Dfuzzing=true this links libFuzzer; otherwise
 * tests/fuzz-driver.c replays the seeds in fuzz-seeds/ as a unit test.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <glib-unix.h>

#include "grainvm-qmp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Enough loop iterations for any step; running out is a bug. */
#define MAX_ITERATIONS 100000

/* ------------------------------------------------------------------------ */
/* Layer 1: the reader                                                      */
/* ------------------------------------------------------------------------ */

typedef struct {
	GString *items;
	GvJsonReader *reader;
	gsize max_line;
} Record;

static void record(GvJsonReaderItem item, JsonNode *node, const GError *error,
		   gpointer user_data)
{
	Record *r = user_data;

	if (gv_json_reader_buffered(r->reader) > r->max_line)
		abort();
	switch (item) {
	case GV_JSON_READER_MESSAGE: {
		if (!node || !JSON_NODE_HOLDS_OBJECT(node) || error)
			abort();
		g_autofree char *text = json_to_string(node, FALSE);
		g_string_append_printf(r->items, "M%s\n", text);
		break;
	}
	case GV_JSON_READER_SYNC:
		g_string_append(r->items, "S\n");
		break;
	case GV_JSON_READER_BAD:
		if (node || !error || error->domain != GV_QMP_ERROR)
			abort();
		g_string_append_printf(r->items, "B%d\n", error->code);
		break;
	}
}

/**
 * run_reader() - feed @data cut at @cuts
 * @data: the input
 * @size: its length
 * @cuts: ascending offsets where a read ends, each <= @size
 * @n_cuts: their number
 * @max_line: the reader's cap
 * @flags: the reader's flags
 *
 * Return: (transfer full): the items reported.
 */
static GString *run_reader(const uint8_t *data, size_t size, const size_t *cuts,
			   size_t n_cuts, gsize max_line,
			   GvJsonReaderFlags flags)
{
	Record r = {
		.items = g_string_new(NULL),
		.reader = gv_json_reader_new(max_line, flags),
		.max_line = max_line,
	};
	size_t at = 0;

	for (size_t i = 0; i <= n_cuts; i++) {
		size_t end = i < n_cuts ? cuts[i] : size;

		gv_json_reader_feed(r.reader, data + at, end - at, record, &r);
		if (gv_json_reader_buffered(r.reader) > max_line)
			abort();
		at = end;
	}
	gv_json_reader_free(r.reader);
	return r.items;
}

static void fuzz_reader(const uint8_t *data, size_t size)
{
	static const gsize caps[] = { 1, 9, 64, 4096 };
	static const GvJsonReaderFlags modes[] = {
		GV_JSON_READER_NONE, GV_JSON_READER_SYNC_BYTE,
	};
	size_t cuts[3], bytes[512];
	size_t n_bytes = MIN(size, G_N_ELEMENTS(bytes));

	/* Cut points taken from the input so the fuzzer can steer them. */
	cuts[0] = size ? data[0] * size / 256 : 0;
	cuts[1] = size / 2;
	cuts[2] = size ? data[size - 1] * size / 256 : 0;
	if (cuts[0] > cuts[1]) {
		size_t t = cuts[0];
		cuts[0] = cuts[1];
		cuts[1] = t;
	}
	if (cuts[2] < cuts[1])
		cuts[2] = cuts[1];
	for (size_t i = 0; i < n_bytes; i++)
		bytes[i] = i + 1;

	for (size_t m = 0; m < G_N_ELEMENTS(modes); m++) {
		for (size_t c = 0; c < G_N_ELEMENTS(caps); c++) {
			g_autoptr(GString) whole = run_reader(
				data, size, NULL, 0, caps[c], modes[m]);
			g_autoptr(GString) cut = run_reader(
				data, size, cuts, 3, caps[c], modes[m]);

			if (!g_string_equal(whole, cut))
				abort();
			/* Byte by byte over a prefix: compare with the
			 * whole prefix. */
			g_autoptr(GString) one = run_reader(
				data, n_bytes, bytes, n_bytes ? n_bytes - 1 : 0,
				caps[c], modes[m]);
			g_autoptr(GString) prefix = run_reader(
				data, n_bytes, NULL, 0, caps[c], modes[m]);
			if (!g_string_equal(one, prefix))
				abort();
		}
	}
}

/* ------------------------------------------------------------------------ */
/* Layer 2: a client                                                        */
/* ------------------------------------------------------------------------ */

typedef struct {
	guint done;       /* completions of this command */
} Outcome;

typedef struct {
	guint closed;
	gboolean handshake_done;
	gboolean handshake_ok;
} State;

static void on_done(GObject *source, GAsyncResult *result, gpointer data)
{
	Outcome *o = data;
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) ret = gv_qmp_client_execute_finish(
		(GvQmpClient *)source, result, &error);

	if (!ret == !error)
		abort();
	if (error && error->domain != GV_QMP_ERROR)
		abort();
	o->done++;
}

static void on_call(GvQmpClient *client, JsonNode *ret, const GError *error, gpointer data)
{
	Outcome *o = data;

	if (!ret == !error)
		abort();
	if (error && error->domain != GV_QMP_ERROR)
		abort();
	o->done++;
}

static void on_event(GvQmpClient *client, const char *event, JsonObject *data,
		     gint64 timestamp_us, gpointer user_data)
{
	if (!event)
		abort();
	(*(guint *)user_data)++;
}

static void on_handshake(GObject *source, GAsyncResult *result, gpointer data)
{
	State *s = data;

	s->handshake_ok = gv_qmp_client_handshake_finish(
		(GvQmpClient *)source, result, NULL, NULL);
	s->handshake_done = TRUE;
}

static void on_closed(GvQmpClient *client, const GError *error, gpointer data)
{
	State *s = data;

	s->closed++;
}

/**
 * read_line() - read the client's next line on the peer end
 * @ctx: the client's context, iterated meanwhile
 * @fd: the peer end
 * @buf: bytes read and not yet consumed
 *
 * Return: (transfer full): the line without '\n'.
 */
static char *read_line(GMainContext *ctx, int fd, GString *buf)
{
	for (int i = 0; i < MAX_ITERATIONS; i++) {
		char tmp[4096];
		const char *nl = memchr(buf->str, '\n', buf->len);

		if (nl) {
			char *line = g_strndup(buf->str, nl - buf->str);
			g_string_erase(buf, 0, nl - buf->str + 1);
			return line;
		}
		g_main_context_iteration(ctx, FALSE);
		ssize_t n = read(fd, tmp, sizeof(tmp));
		if (n > 0)
			g_string_append_len(buf, tmp, n);
	}
	abort();
}

static void fuzz_client(const uint8_t *data, size_t size, GvQmpPeer kind, gboolean supervisor)
{
	GMainContext *ctx = g_main_context_new();
	g_autoptr(GString) buf = g_string_new(NULL);
	Outcome out[4] = { { 0 } };
	guint events = 0;
	State s = { 0 };
	GvQmpClient *client;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	g_unix_set_fd_nonblocking(sv[1], TRUE, NULL);
	g_main_context_push_thread_default(ctx);
	client = gv_qmp_client_new(sv[0], kind, 256, ctx);
	gv_qmp_client_set_closed_handler(client, on_closed, &s);
	gv_qmp_client_handshake_async(client, 0, NULL, on_handshake, &s);

	g_autofree char *line = NULL;
	g_autofree char *reply = NULL;
	if (kind == GV_QMP_PEER_QMP) {
		static const char greeting[] = "{\"QMP\": {\"version\": {}}}\n";
		if (write(sv[1], greeting, strlen(greeting)) < 0)
			abort();
		line = read_line(ctx, sv[1], buf); /* qmp_capabilities */
		reply = g_strdup("{\"return\": {}, \"id\": \"gv-1\"}\n");
	} else {
		line = read_line(ctx, sv[1], buf);
		/* "\xff{"execute":"guest-sync-delimited","arguments":{"id":N}}" */
		const char *num = strstr(line, "\"id\":");
		if (!num)
			abort();
		reply = g_strdup_printf("\xff{\"return\": %" G_GINT64_FORMAT "}\n",
					g_ascii_strtoll(num + 5, NULL, 10));
	}
	if (write(sv[1], reply, strlen(reply)) < 0)
		abort();
	for (int i = 0; !s.handshake_done; i++) {
		if (i == MAX_ITERATIONS)
			abort();
		g_main_context_iteration(ctx, FALSE);
	}
	if (!s.handshake_ok)
		abort();

	if (supervisor) {
		gv_qmp_client_set_auto_resync(client, 60000);
		gv_qmp_client_add_event_handler(client, NULL, on_event, &events, NULL);
	}
	for (int i = 0; i < 3; i++) {
		if (supervisor && i == 1) {
			if (!gv_qmp_client_call(client, "fuzz", NULL, 0, on_call, &out[i], NULL))
				abort();
			continue;
		}
		gv_qmp_client_execute_async(client, "fuzz", NULL, 0, NULL,
					    on_done, &out[i]);
	}
	gboolean fourth = !supervisor;
	/* The input fits the socket buffer (max_len is 8 KiB); then EOF. */
	for (size_t at = 0; at < size;) {
		/* The client may close first (a bad line in QMP mode). */
		ssize_t n = send(sv[1], data + at, size - at, MSG_NOSIGNAL);
		if (n < 0 && (errno == EPIPE || errno == ECONNRESET))
			break;
		if (n < 0 && errno != EAGAIN)
			abort();
		if (n > 0)
			at += (size_t)n;
		g_main_context_iteration(ctx, FALSE);
		if (!fourth && !gv_qmp_client_is_closed(client)) {
			fourth = TRUE;
			if (!gv_qmp_client_call(client, "late", NULL, 0, on_call, &out[3], NULL))
				abort();
		}
	}
	if (!fourth)
		out[3].done = 1; /* closed before it could be sent */
	shutdown(sv[1], SHUT_WR);
	for (int i = 0; s.closed == 0; i++) {
		if (i == MAX_ITERATIONS)
			abort();
		g_main_context_iteration(ctx, FALSE);
	}
	for (int i = 0; i < 3 + supervisor; i++) {
		if (out[i].done != 1)
			abort();
	}
	if (s.closed != 1 || !gv_qmp_client_is_closed(client))
		abort();

	gv_qmp_client_unref(client);
	/* Nothing may be left to dispatch for a freed client. */
	while (g_main_context_iteration(ctx, FALSE))
		;
	if (s.closed != 1)
		abort();
	close(sv[1]);
	g_main_context_pop_thread_default(ctx);
	g_main_context_unref(ctx);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static gboolean initialized;

	if (!initialized) {
		/* A warning or critical on peer input is a bug: crash on it
		 * so the fuzzer reports it. */
		g_log_set_always_fatal(G_LOG_LEVEL_CRITICAL |
				       G_LOG_LEVEL_WARNING);
		initialized = TRUE;
	}
	fuzz_reader(data, size);
	fuzz_client(data, size, GV_QMP_PEER_QMP, FALSE);
	fuzz_client(data, size, GV_QMP_PEER_AGENT, FALSE);
	fuzz_client(data, size, GV_QMP_PEER_AGENT, TRUE);
	return 0;
}
