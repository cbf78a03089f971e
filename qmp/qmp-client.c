/* SPDX-License-Identifier: MIT */
/*
 * qmp-client.c - asynchronous client for QMP and guest-agent peers
 *
 * Theory of Operation
 * ===================
 *
 * One GvQmpClient owns one connected stream socket and speaks to one peer:
 * QEMU's QMP monitor, a guest agent (qemu-ga or grainvm-agent) or the
 * grainvm supervisor's control socket.  All of them exchange one JSON
 * object per line.  Bytes go through a GvJsonReader (qmp-reader.c), which
 * is the only code that looks at raw peer input; this file acts on the
 * parsed items.  Everything runs from the client's GMainContext: a
 * GUnixFDSource for G_IO_IN is always attached once the handshake starts;
 * one for G_IO_OUT exists only while the outgoing buffer is not empty, so
 * commands are queued without blocking and flushed as the socket drains.
 *
 * States
 * ------
 *
 *                  (QMP)                 {"QMP":...}               return
 *   NEW --handshake--> GREETING ---------> CAPABILITIES ---------> READY
 *    |                 sends nothing       sent qmp_capabilities     |
 *    |                                                               |
 *    |    (agent)          0xFF, then {"return": N}                  |
 *    +--handshake--> SYNCING -------------------------------> READY  |
 *                    sent 0xFF +  ^                              |   |
 *                    guest-sync-  +------ handshake again -------+   |
 *                    delimited N                                     v
 *   any state --- EOF, read/write error, gv_qmp_client_close() ---> CLOSED
 *
 * A QMP handshake that fails in any way (bad greeting, error reply,
 * timeout, cancellation) closes the connection: QEMU accepts nothing but
 * qmp_capabilities before it, so the client has no other use.  An agent
 * handshake that times out leaves the client in SYNCING so that the caller
 * can simply try again; a late sync reply for the current id still makes
 * it READY.  Commands are accepted only in READY.
 *
 * Commands and replies
 * --------------------
 *
 * Every command goes out with an "id" of the form "gv-N" and enters the
 * pending queue in the order sent.  A reply with an "id" completes the
 * pending command with that id; a reply whose id nobody waits for (a late
 * reply to a command that timed out or was cancelled, or stale output) is
 * dropped silently.
 *
 * QMP peers always echo our id, so in QMP mode a reply without one is
 * dropped.  Guest agents echo it too, but not every reply can carry it
 * (the error for a request the agent could not parse has no id to echo);
 * they do answer strictly in order.  So in agent mode a reply without an
 * "id" belongs to the OLDEST pending command.  For
 * the same reason a bad line from an agent (not UTF-8, not JSON, not an
 * object, too long) is taken as the oldest command's reply and fails it
 * with GV_QMP_ERROR_PROTOCOL or GV_QMP_ERROR_TOO_LONG; the client itself
 * survives.  In QMP mode a bad line cannot be tied to a command (it may
 * have been an event), and QEMU never sends one, so it closes the
 * connection with that error.
 *
 * Timeouts and cancellation fail the command at once.  In QMP mode the
 * command leaves the queue and its late reply is dropped by id.  In agent
 * mode it stays in the queue as a "zombie" without a task: the agent will
 * still answer it in order, possibly without an id, and that answer must
 * be swallowed by the zombie rather than handed to the next command.  An
 * agent that never answers leaves its zombies behind; resync (run the
 * handshake again) after a timeout to start from a clean stream.
 *
 * Automatic resync (agent mode, gv_qmp_client_set_auto_resync()): the
 * client itself resyncs after a timeout and after a bad line or a
 * malformed reply failed a command.  Commands issued while any agent
 * handshake runs are "held": they wait in a second queue, unsent, and go
 * out in order once the sync reply arrived (or fail with the handshake's
 * error).  A caller thus never has to know whether a resync is running.
 *
 * A command's outcome reaches the caller either through a GTask
 * (gv_qmp_client_execute_async(), whose callback GLib may defer to an
 * idle) or through a plain function (gv_qmp_client_call()) that runs
 * while the reply line is being handled, before the next line is read.
 * The second form keeps a reply and the events after it in stream order.
 *
 * Events
 * ------
 *
 * A message with "event" is dispatched to the matching handlers at once,
 * as it is read.  Events that QEMU emits while it executes a command
 * (cont emits RESUME before its return) thus reach the handlers before
 * the command's callback runs.  grainvm-agent sends events too (the
 * output of a streamed command, a followed build log), only to the
 * connection that asked for them; in agent mode they are dispatched also
 * while a resync runs, because a stream does not stop for one.
 *
 * Back-pressure: gv_qmp_client_pause_input() removes the input source, so
 * a peer that floods us blocks in its own writes instead of filling our
 * memory; the reader never holds more than one partial line of max_line.
 *
 * Passing descriptors
 * -------------------
 *
 * QMP's getfd and add-fd take a descriptor that comes with the command as
 * SCM_RIGHTS ancillary data on the unix socket (QEMU keeps the last one
 * it received and the command takes it).  gv_qmp_client_call_with_fd()
 * and gv_qmp_client_execute_with_fd_async() duplicate the caller's
 * descriptor and remember it with the offset of its command's first byte
 * in the outgoing buffer; on_writable() sends it with that byte, and a
 * send never runs past the start of the next command that carries one, so
 * no two descriptors travel in one send and none arrives before the bytes
 * of the command ahead of its own.  Sent, the duplicate is closed; on
 * close, the unsent ones are.  Only QMP peers take descriptors (a guest
 * agent's virtio-serial port carries bytes only), one per command and at
 * most GV_QMP_MAX_OUT_FDS waiting at once.
 *
 * Agent resync
 * ------------
 *
 * A guest agent keeps its parser state across host connections, and a
 * previous host may have left half a request or unread replies behind.
 * The handshake therefore writes one 0xFF byte (invalid in UTF-8, so it
 * resets qemu-ga's lexer) and guest-sync-delimited with a fresh random id
 * N; the agent answers with 0xFF followed by {"return": N}.  The reader
 * runs with GV_JSON_READER_SYNC_BYTE, and until both the 0xFF and that
 * reply arrived, every item is discarded.  Commands still pending when a
 * resync starts can never be answered (their replies are discarded with
 * the rest), so they fail with GV_QMP_ERROR_PROTOCOL.
 *
 * Closing
 * -------
 *
 * EOF, a read or write error or gv_qmp_client_close() move the client to
 * CLOSED once: the fd is closed, every pending command fails with
 * GV_QMP_ERROR_CLOSED, a running handshake fails with the reason, and the
 * closed handler is called from an idle source.  The idle runs after the
 * commands' callbacks even when GTask defers those to an idle of its own
 * (it does outside its context's dispatch): it is attached after them, to
 * the same context at the same priority, and GLib dispatches sources of
 * one priority in the order they were attached.
 * The handler is not called if the client is freed first.
 *
 * Lifetime: a client is a GObject.  Each GTask holds a reference, so a
 * client lives until its commands completed; the I/O callbacks hold one
 * while they run, so a callback may drop the caller's last reference.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <glib-unix.h>
#include <glib/gstdio.h>

#include "qmp-private.h"

/* One read() takes this much; large replies just take more reads. */
#define READ_CHUNK (64 * 1024)

/*
 * After a write fails because the peer went away, up to this much input
 * that is already queued is still read before closing, so the replies and
 * events it sent before exiting (quit's SHUTDOWN) are not lost.  Bounded so
 * that a peer that only shut down its read side cannot keep us here.
 */
#define DRAIN_LIMIT (1024 * 1024)

typedef GObjectClass GvQmpClientClass;
G_DEFINE_FINAL_TYPE(GvQmpClient, gv_qmp_client, G_TYPE_OBJECT)

static void feed_input(GvQmpClient *client, gsize len);

/* ------------------------------------------------------------------------ */
/* Small helpers                                                            */
/* ------------------------------------------------------------------------ */

/**
 * gv_qmp_clear_source() - destroy and forget a source
 * @source: (inout): the source, or NULL
 */
void gv_qmp_clear_source(GSource **source)
{
	if (*source) {
		g_source_destroy(*source);
		g_clear_pointer(source, g_source_unref);
	}
}

/**
 * gv_qmp_attach_timeout() - a timeout source on the client's context
 * @client: the client
 * @ms: its interval
 * @func: callback
 * @data: for @func (not referenced: the owner destroys the source first)
 *
 * Return: (transfer full): the attached source.
 */
GSource *gv_qmp_attach_timeout(GvQmpClient *client, guint ms, GSourceFunc func,
			       gpointer data)
{
	GSource *source = g_timeout_source_new(ms);

	g_source_set_callback(source, func, data, NULL);
	g_source_attach(source, client->context);
	return source;
}

/**
 * gv_qmp_attach_cancel() - a cancellable source on the client's context
 * @client: the client
 * @cancellable: the cancellable
 * @func: callback
 * @data: for @func (not referenced, as for gv_qmp_attach_timeout())
 *
 * A source rather than g_cancellable_connect(): cancellation may come from
 * another thread, and the callback must run in the client's context.
 *
 * Return: (transfer full): the attached source.
 */
GSource *gv_qmp_attach_cancel(GvQmpClient *client, GCancellable *cancellable,
			      GCancellableSourceFunc func, gpointer data)
{
	GSource *source = g_cancellable_source_new(cancellable);

	g_source_set_callback(source, G_SOURCE_FUNC(func), data, NULL);
	g_source_attach(source, client->context);
	return source;
}

/**
 * gv_qmp_new_task() - a GTask that completes in the client's context
 * @client: the source object
 * @cancellable: (nullable): for the task
 * @callback: the caller's callback
 * @user_data: for @callback
 * @tag: the source tag
 *
 * GTask remembers the thread-default context at creation; the client's
 * context need not be that, so push it for the call.
 *
 * Return: (transfer full): the task.
 */
GTask *gv_qmp_new_task(GvQmpClient *client, GCancellable *cancellable,
		       GAsyncReadyCallback callback, gpointer user_data,
		       gpointer tag)
{
	GTask *task;

	g_main_context_push_thread_default(client->context);
	task = g_task_new(client, cancellable, callback, user_data);
	g_main_context_pop_thread_default(client->context);
	g_task_set_source_tag(task, tag);
	return task;
}

/* ------------------------------------------------------------------------ */
/* Output                                                                   */
/* ------------------------------------------------------------------------ */

/**
 * peer_gone() - a write found the peer gone
 * @client: the client
 *
 * Reads what the peer sent before it went (bounded by DRAIN_LIMIT), then
 * closes.
 */
static void peer_gone(GvQmpClient *client)
{
	gsize drained = 0;

	while (client->state != STATE_CLOSED && drained < DRAIN_LIMIT) {
		ssize_t n = read(client->fd, client->rbuf, READ_CHUNK);
		if (n <= 0)
			break;
		drained += (gsize)n;
		feed_input(client, (gsize)n);
	}
	gv_qmp_client_close_with(client, g_error_new_literal(
		GV_QMP_ERROR, GV_QMP_ERROR_CLOSED,
		"peer closed the connection"));
}

/**
 * send_with_fd() - send bytes with one descriptor as SCM_RIGHTS
 * @sock: the socket
 * @buf: the bytes (at least one)
 * @len: their number
 * @fd: the descriptor
 *
 * The kernel attaches the descriptor to the first byte that goes: on a
 * partial send it has still gone, with that byte.
 *
 * Return: as send().
 */
static ssize_t send_with_fd(int sock, const void *buf, gsize len, int fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} control;
	struct iovec iov = { (void *)buf, len };
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = control.buf,
		.msg_controllen = sizeof(control.buf),
	};
	struct cmsghdr *cmsg;

	memset(&control, 0, sizeof(control));
	cmsg = CMSG_FIRSTHDR(&msg);
	cmsg->cmsg_level = SOL_SOCKET;
	cmsg->cmsg_type = SCM_RIGHTS;
	cmsg->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
	return sendmsg(sock, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
}

/**
 * clear_out_fds() - close the descriptors that were never sent
 * @client: the client
 */
static void clear_out_fds(GvQmpClient *client)
{
	OutFd *o;

	while ((o = g_queue_pop_head(&client->out_fds))) {
		g_close(o->fd, NULL);
		g_free(o);
	}
}

/**
 * on_writable() - flush the outgoing buffer
 * @fd: the socket
 * @condition: what poll() reported
 * @data: the client
 *
 * A descriptor goes with the first byte of its command, and each send
 * stops before the next command that carries one, so that the peer gets
 * every descriptor with its own command (see "Passing descriptors").
 *
 * Return: G_SOURCE_REMOVE once the buffer is empty or the client closed.
 */
static gboolean on_writable(gint fd, GIOCondition condition, gpointer data)
{
	g_autoptr(GvQmpClient) client = g_object_ref(data);

	while (client->out_pos < client->out->len) {
		const guint8 *p = client->out->data + client->out_pos;
		gsize left = client->out->len - client->out_pos;
		OutFd *next = g_queue_peek_head(&client->out_fds);
		int pass = -1;
		ssize_t n;

		if (next && next->offset == client->out_pos) {
			OutFd *after = g_queue_peek_nth(&client->out_fds, 1);

			pass = next->fd;
			if (after)
				left = after->offset - client->out_pos;
		} else if (next) {
			left = next->offset - client->out_pos;
		}
		if (pass >= 0) {
			n = send_with_fd(fd, p, left, pass);
		} else {
			/* MSG_NOSIGNAL: a dead peer must be an error, not SIGPIPE. */
			n = send(fd, p, left, MSG_NOSIGNAL | MSG_DONTWAIT);
			if (n < 0 && errno == ENOTSOCK)
				n = write(fd, p, left);
		}
		if (n < 0) {
			int err = errno;

			if (err == EINTR)
				continue;
			if (err == EAGAIN || err == EWOULDBLOCK)
				return G_SOURCE_CONTINUE;
			g_clear_pointer(&client->out_source, g_source_unref);
			if (err == EPIPE || err == ECONNRESET) {
				peer_gone(client);
			} else {
				gv_qmp_client_close_with(client, g_error_new(
					GV_QMP_ERROR, GV_QMP_ERROR_IO, "%s: %s",
					pass >= 0 ? "sending a descriptor" : "write",
					g_strerror(err)));
			}
			return G_SOURCE_REMOVE;
		}
		if (pass >= 0 && n > 0) {
			g_close(pass, NULL);
			g_free(g_queue_pop_head(&client->out_fds));
		}
		client->out_pos += (gsize)n;
	}
	g_byte_array_set_size(client->out, 0);
	client->out_pos = 0;
	g_clear_pointer(&client->out_source, g_source_unref);
	return G_SOURCE_REMOVE;
}

/**
 * gv_qmp_queue_bytes() - append bytes to the outgoing buffer
 * @client: an open client
 * @buf: the bytes
 * @len: their number
 */
void gv_qmp_queue_bytes(GvQmpClient *client, const void *buf, gsize len)
{
	g_byte_array_append(client->out, buf, (guint)len);
	if (!client->out_source) {
		client->out_source = g_unix_fd_source_new(client->fd, G_IO_OUT);
		g_source_set_callback(client->out_source,
				      G_SOURCE_FUNC(on_writable), client, NULL);
		g_source_attach(client->out_source, client->context);
	}
}

/**
 * gv_qmp_queue_command() - serialize a command and queue it as one line
 * @client: an open client
 * @command: the "execute" name
 * @arguments: (nullable): the "arguments" object
 * @id: (nullable): the "id" member
 * @fd: a descriptor of the client's own (taken, closed once sent) to go
 *      with the line's first byte, or -1
 */
void gv_qmp_queue_command(GvQmpClient *client, const char *command,
			  JsonObject *arguments, const char *id, int fd)
{
	g_autoptr(JsonObject) msg = json_object_new();
	g_autoptr(JsonNode) root = json_node_new(JSON_NODE_OBJECT);

	json_object_set_string_member(msg, "execute", command);
	if (arguments)
		json_object_set_object_member(msg, "arguments",
					      json_object_ref(arguments));
	if (id)
		json_object_set_string_member(msg, "id", id);
	json_node_set_object(root, msg);

	/* Not pretty-printed, so the message is one line: the generator
	 * escapes newlines inside strings. */
	g_autofree char *text = json_to_string(root, FALSE);
	if (fd >= 0) {
		OutFd *o = g_new(OutFd, 1);

		o->offset = client->out->len;
		o->fd = fd;
		g_queue_push_tail(&client->out_fds, o);
	}
	gv_qmp_queue_bytes(client, text, strlen(text));
	gv_qmp_queue_bytes(client, "\n", 1);
}

/* ------------------------------------------------------------------------ */
/* Input                                                                    */
/* ------------------------------------------------------------------------ */

/**
 * sweep_handlers() - free handlers removed during a dispatch
 * @client: a client not dispatching events
 */
static void sweep_handlers(GvQmpClient *client)
{
	for (guint i = client->handlers->len; i-- > 0;) {
		Handler *h = g_ptr_array_index(client->handlers, i);

		if (!h->func)
			g_ptr_array_remove_index(client->handlers, i);
	}
}

/**
 * gv_qmp_dispatch_event() - hand an event to its handlers
 * @client: the client
 * @msg: a message with an "event" member
 *
 * Handlers added by a handler see the next event, not this one; handlers
 * removed by a handler are skipped at once and freed after the dispatch.
 */
void gv_qmp_dispatch_event(GvQmpClient *client, JsonObject *msg)
{
	const char *name = gv_json_string_or(msg, "event", NULL);
	JsonObject *data = gv_json_object_or_null(msg, "data");
	JsonObject *ts = gv_json_object_or_null(msg, "timestamp");
	gint64 seconds = 0, micro = 0, timestamp_us = 0;
	guint n = client->handlers->len;

	if (!name)
		return;
	/* QEMU writes seconds = -1 when it has no clock; report that as 0. */
	seconds = gv_json_int_or(ts, "seconds", -1);
	micro = gv_json_int_or(ts, "microseconds", -1);
	if (seconds >= 0 && seconds < G_MAXINT64 / G_USEC_PER_SEC && micro >= 0 &&
	    micro < G_USEC_PER_SEC)
		timestamp_us = seconds * G_USEC_PER_SEC + micro;

	client->dispatching++;
	for (guint i = 0; i < n && client->state != STATE_CLOSED; i++) {
		Handler *h = g_ptr_array_index(client->handlers, i);

		if (h->func && (!h->event || g_str_equal(h->event, name)))
			h->func(client, name, data, timestamp_us, h->user_data);
	}
	if (--client->dispatching == 0)
		sweep_handlers(client);
}

/**
 * handle_message() - a message arrived in READY or CAPABILITIES
 * @client: the client
 * @msg: the message
 */
static void handle_message(GvQmpClient *client, JsonObject *msg)
{
	JsonNode *ret = json_object_get_member(msg, "return");
	JsonNode *err = json_object_get_member(msg, "error");
	Pending *p;

	if (json_object_has_member(msg, "event")) {
		gv_qmp_dispatch_event(client, msg);
		return;
	}
	if (!ret && !err) {
		/* QMP may grow new kinds of message; ignore them.  An agent
		 * sends nothing but replies and events, so this line was its
		 * reply. */
		if (client->peer == GV_QMP_PEER_AGENT &&
		    (p = g_queue_peek_head(&client->pending)))
			gv_qmp_pending_fail_resync(p, g_error_new(
				GV_QMP_ERROR, GV_QMP_ERROR_PROTOCOL,
				"reply to '%s' has neither return nor error",
				p->command));
		return;
	}
	p = gv_qmp_pending_find(client, msg);
	if (!p)
		return; /* late reply to a timed-out command, or stale */
	if (err)
		gv_qmp_pending_complete(p, NULL,
				 gv_qmp_error_from_reply(err, p->command));
	else
		gv_qmp_pending_complete(p, ret, NULL);
}

/**
 * handle_bad_line() - the reader rejected a line
 * @client: the client, not closed
 * @error: why
 *
 * Agent: the line was the oldest command's reply (see Theory of
 * Operation).  QMP: the stream cannot be trusted any more; close.
 */
static void handle_bad_line(GvQmpClient *client, const GError *error)
{
	Pending *p;

	if (client->peer == GV_QMP_PEER_QMP) {
		gv_qmp_client_close_with(client, g_error_copy(error));
		return;
	}
	p = g_queue_peek_head(&client->pending);
	if (!p)
		return; /* nobody waits: whatever it was, it is dropped */
	gv_qmp_pending_fail_resync(p, g_error_new(
		error->domain, error->code, "reply to '%s': %s",
		p->command, error->message));
}

/**
 * on_item() - the reader's callback
 * @item: what was read
 * @node: (nullable): the object for a message
 * @error: (nullable): the reason for a bad line
 * @user_data: the client
 */
static void on_item(GvJsonReaderItem item, JsonNode *node, const GError *error,
		    gpointer user_data)
{
	GvQmpClient *client = user_data;
	JsonObject *msg = node ? json_node_get_object(node) : NULL;

	switch (client->state) {
	case STATE_NEW:
	case STATE_CLOSED:
		return;
	case STATE_SYNCING:
		/* A stream's events are not stale replies: they go on. */
		if (msg && json_object_has_member(msg, "event"))
			gv_qmp_dispatch_event(client, msg);
		else
			gv_qmp_handle_sync_item(client, item, msg);
		return;
	case STATE_GREETING:
		if (item == GV_JSON_READER_MESSAGE)
			gv_qmp_handle_greeting(client, msg);
		else if (item == GV_JSON_READER_BAD)
			gv_qmp_handshake_failed(client, g_error_copy(error));
		return;
	case STATE_CAPABILITIES:
	case STATE_READY:
		if (item == GV_JSON_READER_MESSAGE)
			handle_message(client, msg);
		else if (item == GV_JSON_READER_BAD)
			handle_bad_line(client, error);
		/* A stray 0xFF from an agent only resets the reader. */
		return;
	}
}

/**
 * feed_input() - pass freshly read bytes to the reader
 * @client: the client
 * @len: bytes at the start of client->rbuf
 */
static void feed_input(GvQmpClient *client, gsize len)
{
	gv_json_reader_feed(client->reader, client->rbuf, len, on_item, client);
}

/**
 * on_readable() - read what the peer sent
 * @fd: the socket
 * @condition: what poll() reported
 * @data: the client
 *
 * Return: G_SOURCE_REMOVE once the client closed.
 */
static gboolean on_readable(gint fd, GIOCondition condition, gpointer data)
{
	g_autoptr(GvQmpClient) client = g_object_ref(data);
	ssize_t n = read(fd, client->rbuf, READ_CHUNK);
	int err = errno;

	if (n > 0) {
		feed_input(client, (gsize)n);
	} else if (n == 0 || err == ECONNRESET) {
		gv_qmp_client_close_with(client, g_error_new_literal(
			GV_QMP_ERROR, GV_QMP_ERROR_CLOSED,
			"peer closed the connection"));
	} else if (err != EINTR && err != EAGAIN && err != EWOULDBLOCK) {
		gv_qmp_client_close_with(client, g_error_new(
			GV_QMP_ERROR, GV_QMP_ERROR_IO, "read: %s",
			g_strerror(err)));
	}
	return client->state == STATE_CLOSED ? G_SOURCE_REMOVE
		: G_SOURCE_CONTINUE;
}

/**
 * gv_qmp_client_start_reading() - watch the socket for input
 * @client: a client starting its first handshake
 */
void gv_qmp_client_start_reading(GvQmpClient *client)
{
	if (client->in_source || client->input_paused)
		return;
	client->in_source = g_unix_fd_source_new(client->fd, G_IO_IN);
	g_source_set_callback(client->in_source, G_SOURCE_FUNC(on_readable),
			      client, NULL);
	g_source_attach(client->in_source, client->context);
}

/**
 * gv_qmp_client_pause_input() - stop or resume reading from the peer
 * @client: the client
 * @pause: TRUE to stop reading
 *
 * See grainvm-qmp.h.  Before the first handshake only the flag is set.
 */
void gv_qmp_client_pause_input(GvQmpClient *client, gboolean pause)
{
	client->input_paused = pause;
	if (pause)
		gv_qmp_clear_source(&client->in_source);
	else if (client->state != STATE_NEW && client->state != STATE_CLOSED)
		gv_qmp_client_start_reading(client);
}

/* ------------------------------------------------------------------------ */
/* Closing                                                                  */
/* ------------------------------------------------------------------------ */

/**
 * on_closed_idle() - tell the closed handler
 * @data: the client (not referenced: finalize destroys this source)
 *
 * Return: G_SOURCE_REMOVE.
 */
static gboolean on_closed_idle(gpointer data)
{
	g_autoptr(GvQmpClient) client = g_object_ref(data);

	g_clear_pointer(&client->closed_idle, g_source_unref);
	if (client->closed_func)
		client->closed_func(client, client->close_reason,
				    client->closed_data);
	return G_SOURCE_REMOVE;
}

/**
 * gv_qmp_client_close_with() - move to CLOSED, once
 * @client: the client
 * @reason: (transfer full): why; given to the closed handler
 *
 * See "Closing" in the Theory of Operation.
 */
void gv_qmp_client_close_with(GvQmpClient *client, GError *reason)
{
	g_autoptr(GvQmpClient) hold G_GNUC_UNUSED = g_object_ref(client);
	GQueue pending = client->pending;

	if (client->state == STATE_CLOSED) {
		g_error_free(reason);
		return;
	}
	client->state = STATE_CLOSED;
	client->close_reason = reason;
	gv_qmp_clear_source(&client->in_source);
	gv_qmp_clear_source(&client->out_source);
	clear_out_fds(client);
	if (client->fd >= 0) {
		g_close(client->fd, NULL);
		client->fd = -1;
	}

	g_queue_init(&client->pending);
	gv_qmp_handshake_done(client, g_error_copy(reason));
	while (!g_queue_is_empty(&pending)) {
		Pending *p = g_queue_pop_head(&pending);

		if (!p->task && !p->reply_func) {
			gv_qmp_pending_free(p); /* zombie or internal */
			continue;
		}
		gv_qmp_pending_fail(p, g_error_new(
			GV_QMP_ERROR, GV_QMP_ERROR_CLOSED,
			"connection closed before the reply to '%s': %s",
			p->command, reason->message));
	}
	gv_qmp_held_flush(client, reason);

	/* Attached after the tasks returned, at GTask's priority, so that it
	 * runs after any idle GTask used to complete them. */
	client->closed_idle = g_idle_source_new();
	g_source_set_priority(client->closed_idle, G_PRIORITY_DEFAULT);
	g_source_set_callback(client->closed_idle, on_closed_idle, client,
			      NULL);
	g_source_attach(client->closed_idle, client->context);
}

/**
 * gv_qmp_client_close() - end the connection now
 * @client: the client
 *
 * Pending commands fail with GV_QMP_ERROR_CLOSED; the closed handler runs
 * from the client's context.  Safe to call more than once.
 */
void gv_qmp_client_close(GvQmpClient *client)
{
	gv_qmp_client_close_with(client, g_error_new_literal(
		GV_QMP_ERROR, GV_QMP_ERROR_CLOSED,
		"connection closed by the client"));
}

/**
 * gv_qmp_client_is_closed() - TRUE once the connection has ended
 * @client: the client
 *
 * Return: whether the client is closed.
 */
gboolean gv_qmp_client_is_closed(GvQmpClient *client)
{
	return client->state == STATE_CLOSED;
}

/**
 * gv_qmp_client_set_closed_handler() - be told when the connection ends
 * @client: the client
 * @func: (nullable): the handler, called once
 * @user_data: for @func
 */
void gv_qmp_client_set_closed_handler(GvQmpClient *client, GvQmpClosedFunc func,
				      gpointer user_data)
{
	client->closed_func = func;
	client->closed_data = user_data;
}

/* ------------------------------------------------------------------------ */
/* Events                                                                   */
/* ------------------------------------------------------------------------ */

/**
 * handler_free() - free a handler and its user data
 * @data: the Handler
 */
static void handler_free(gpointer data)
{
	Handler *h = data;

	if (h->destroy)
		h->destroy(h->user_data);
	g_free(h->event);
	g_free(h);
}

/**
 * gv_qmp_client_add_event_handler() - subscribe to events
 * @client: the client
 * @event: (nullable): the event name, or NULL for every event
 * @func: the handler
 * @user_data: for @func
 * @destroy: (nullable): frees @user_data when the handler is removed
 *
 * Return: an id for gv_qmp_client_remove_event_handler(), never 0.
 */
guint gv_qmp_client_add_event_handler(GvQmpClient *client, const char *event,
				      GvQmpEventFunc func, gpointer user_data,
				      GDestroyNotify destroy)
{
	Handler *h = g_new0(Handler, 1);

	g_return_val_if_fail(func != NULL, 0);
	h->id = ++client->next_handler_id;
	h->event = g_strdup(event);
	h->func = func;
	h->user_data = user_data;
	h->destroy = destroy;
	g_ptr_array_add(client->handlers, h);
	return h->id;
}

/**
 * gv_qmp_client_remove_event_handler() - unsubscribe
 * @client: the client
 * @id: from gv_qmp_client_add_event_handler()
 *
 * Safe from inside a handler, including the one being removed: its
 * user data is freed after the current dispatch.
 */
void gv_qmp_client_remove_event_handler(GvQmpClient *client, guint id)
{
	for (guint i = 0; i < client->handlers->len; i++) {
		Handler *h = g_ptr_array_index(client->handlers, i);

		if (h->id != id || !h->func)
			continue;
		h->func = NULL;
		if (client->dispatching == 0)
			g_ptr_array_remove_index(client->handlers, i);
		return;
	}
}

/* ------------------------------------------------------------------------ */
/* Lifetime                                                                 */
/* ------------------------------------------------------------------------ */

/**
 * gv_qmp_client_new() - wrap a connected stream socket
 * @fd: connected socket, consumed
 * @peer: which protocol the peer speaks
 * @max_line: cap on one incoming message in bytes
 * @context: (nullable): the main context; NULL for the thread-default one
 *
 * Return: (transfer full): the client.
 */
GvQmpClient *gv_qmp_client_new(int fd, GvQmpPeer peer, gsize max_line,
			       GMainContext *context)
{
	GvQmpClient *client = g_object_new(gv_qmp_client_get_type(), NULL);

	client->fd = fd;
	client->peer = peer;
	client->context = context ? g_main_context_ref(context)
		: g_main_context_ref_thread_default();
	client->reader = gv_json_reader_new(
		max_line, peer == GV_QMP_PEER_AGENT ? GV_JSON_READER_SYNC_BYTE
		: GV_JSON_READER_NONE);
	/* A failure here would only make a later read() block; there is
	 * nothing useful to report before the handshake. */
	g_unix_set_fd_nonblocking(fd, TRUE, NULL);
	return client;
}

/**
 * gv_qmp_client_set_max_line() - change the cap on one incoming message
 * @client: the client
 * @max_line: the new cap in bytes
 */
void gv_qmp_client_set_max_line(GvQmpClient *client, gsize max_line)
{
	gv_json_reader_set_max_line(client->reader, max_line);
}

/**
 * gv_qmp_client_ref() - take a reference
 * @client: the client
 *
 * Return: @client.
 */
GvQmpClient *gv_qmp_client_ref(GvQmpClient *client)
{
	return g_object_ref(client);
}

/**
 * gv_qmp_client_unref() - drop a reference
 * @client: the client
 *
 * The last one closes the socket without calling the closed handler.
 * Commands and handshakes in flight hold references of their own, so a
 * client with a command that has no timeout lives until the peer answers
 * or goes away; call gv_qmp_client_close() first to abandon them.
 */
void gv_qmp_client_unref(GvQmpClient *client)
{
	g_object_unref(client);
}

/**
 * gv_qmp_client_get_context() - the context a client is attached to
 * @client: the client
 *
 * Return: (transfer none): the context.
 */
GMainContext *gv_qmp_client_get_context(GvQmpClient *client)
{
	return client->context;
}

/**
 * gv_qmp_client_set_auto_resync() - resync an agent by itself
 * @client: an agent client
 * @timeout_ms: for each automatic resync
 *
 * See grainvm-qmp.h.
 */
void gv_qmp_client_set_auto_resync(GvQmpClient *client, guint timeout_ms)
{
	g_return_if_fail(client->peer == GV_QMP_PEER_AGENT);
	client->auto_resync_ms = timeout_ms;
}

static void gv_qmp_client_init(GvQmpClient *client)
{
	client->fd = -1;
	client->state = STATE_NEW;
	client->rbuf = g_malloc(READ_CHUNK);
	client->out = g_byte_array_new();
	client->handlers = g_ptr_array_new_with_free_func(handler_free);
	g_queue_init(&client->pending);
	g_queue_init(&client->held);
	g_queue_init(&client->out_fds);
}

static void gv_qmp_client_finalize(GObject *object)
{
	GvQmpClient *client = (GvQmpClient *)object;

	/* Every task holds a reference, so only zombies and the internal
	 * qmp_capabilities entry can be left; nobody waits for them. */
	g_queue_clear_full(&client->pending,
			   (GDestroyNotify)gv_qmp_pending_free);
	g_queue_clear_full(&client->held,
			   (GDestroyNotify)gv_qmp_pending_free);
	gv_qmp_clear_source(&client->in_source);
	gv_qmp_clear_source(&client->out_source);
	gv_qmp_clear_source(&client->closed_idle);
	gv_qmp_clear_source(&client->handshake_timeout);
	gv_qmp_clear_source(&client->handshake_cancel);
	clear_out_fds(client);
	if (client->fd >= 0)
		g_close(client->fd, NULL);
	g_clear_error(&client->close_reason);
	g_clear_pointer(&client->greeting, json_object_unref);
	g_ptr_array_unref(client->handlers);
	g_byte_array_unref(client->out);
	g_free(client->rbuf);
	gv_json_reader_free(client->reader);
	g_main_context_unref(client->context);
	G_OBJECT_CLASS(gv_qmp_client_parent_class)->finalize(object);
}

static void gv_qmp_client_class_init(GvQmpClientClass *klass)
{
	G_OBJECT_CLASS(klass)->finalize = gv_qmp_client_finalize;
}
