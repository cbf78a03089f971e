/* SPDX-License-Identifier: MIT */
/*
 * supervisor-control.c - the supervisor's control socket
 *
 * The CLI talks to a running VM only through RUNDIR/control.sock.  The
 * protocol is QMP's shape, so the same client library serves both: a
 * greeting {"QMP": {"version": {"grainvm": V}, "capabilities": []}},
 * qmp_capabilities, then commands with optional ids:
 *
 *   status                      the VM's state object (state.json's shape),
 *                               with a fresh grain-status and, as "build",
 *                               grain-build-status when grainvm-agent is up;
 *                               with only qemu-ga, "agent" is {"agent":
 *                               "qemu-ga", version, mounts} (the guest's 9p
 *                               mounts, read from its /proc/self/mounts)
 *   down {timeout?, force?}     run the shutdown ladder; the reply comes when
 *                               QEMU has ended: {phase, reason}
 *   qmp {command, arguments?}   pass a command to QEMU's monitor
 *   agent {command, arguments?, timeout?}
 *                               pass a command to the guest agent
 *                               (grainvm-agent, else the guest's qemu-ga)
 *   console                     after the {} reply the connection carries raw
 *                               console bytes both ways
 *   forward-add {rule}          add a host port forward to the first user-mode
 *   forward-remove {rule}       NIC, or remove one; forward-list: every forward
 *   forward-list                (supervisor-net.c)
 *   snapshot-save {tag, stop?}  save the VM's whole state as snapshot TAG;
 *   snapshot-disk {tag}         freeze its disk as TAG (supervisor-snapshot.c,
 *                               one at a time per VM)
 *
 * Streams (supervisor-stream.c).  These replies are followed, on the same
 * connection, by event lines in QMP's shape, {"event": NAME, "data": {...},
 * "timestamp": {...}}, forwarded from grainvm-agent (docs/agent-protocol.md
 * has their data): grain-output ({handle, stream, seq, data-b64}, plus
 * offset for a build log) and a last grain-exit.  A connection may run
 * several streams; events carry the handle.
 *
 *   exec-start {path, arg?, env?, cwd?, input?, tty?, rows?, cols?, term?}
 *                               grain-exec-start with stream=true; returns
 *                               {handle, pid, agent, streamed}.  Output events
 *                               follow, grain-exit ends them ({handle, pid,
 *                               exitcode | signal, out-bytes, err-bytes}).
 *                               When this connection closes first, the
 *                               command gets SIGHUP and its stdin closes.
 *                               With only qemu-ga in the guest: guest-exec,
 *                               "agent": "qemu-ga", "streamed": false, all
 *                               output at exit; with input=true the command
 *                               starts at the exec-input that says eof, with
 *                               the stdin collected (at most 12 MiB); a
 *                               grain-exit with "error" says it failed then.
 *   exec-input {handle, data-b64?, eof?}
 *                               grain-exec-input for a command this
 *                               connection started; returns {pending}
 *   exec-signal {handle, signal}
 *                               grain-exec-signal (not with qemu-ga)
 *   exec-resize {handle, rows, cols}
 *                               grain-exec-resize, for a command started
 *                               with tty=true (grainvm-agent only)
 *   build-start {command, cwd?, env?}
 *                               grain-build-start; returns {handle, pid, log}
 *                               (no events: follow with build-attach)
 *   build-status {tail-bytes?}  grain-build-status
 *   build-attach {from-offset?} returns {handle, offset, state}; then the log
 *                               from that offset as grain-output events
 *                               (stream "log", each with its offset) and,
 *                               once the build ended and all was sent,
 *                               grain-exit ({state, exitcode | signal,
 *                               log-size, duration, ...}).  Any number of
 *                               connections may follow; the supervisor holds
 *                               the agent's one attachment.
 *
 * Back-pressure: while a streaming connection has more than 1 MiB unsent,
 * the supervisor stops reading the agent (the guest command then blocks in
 * write()); a connection that takes nothing for 30 s is closed.
 *
 * Errors are QMP-shaped: {"error": {"class": C, "desc": D}}.  The
 * supervisor's own failures carry the class of their exit code
 * (docs/errors.md): GrainvmFailed (1), GrainvmInvalid (2), GrainvmState
 * (3), GrainvmTimeout (4); the CLI turns them back into that exit code.  Every
 * client's input is bounded by the line reader; output to a slow console
 * client is dropped beyond CONSOLE_BACKLOG rather than buffered without end.
 */
#include "supervisor/supervisor-priv.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib-unix.h>

#include "gv-config.h"
#include "gv-error.h"
#include "unix-socket.h"

#define CONTROL_LINE_CAP (1u << 20)
#define CONSOLE_BACKLOG (1u << 20)
#define FORWARD_TIMEOUT_MS 30000

static void client_close(ControlClient *c);

static ControlClient *client_ref(ControlClient *c)
{
	c->refs++;
	return c;
}

static void client_unref(ControlClient *c)
{
	if (--c->refs > 0)
		return;
	gv_json_reader_free(c->reader);
	g_byte_array_unref(c->out);
	g_free(c);
}

/**
 * sv_client_ref() - keep a control client's struct alive
 * @c: the client (possibly closed already)
 *
 * Return: @c.
 */
ControlClient *sv_client_ref(ControlClient *c)
{
	return client_ref(c);
}

/** sv_client_unref() - drop a reference taken with sv_client_ref() */
void sv_client_unref(ControlClient *c)
{
	client_unref(c);
}

/** sv_control_client_close() - disconnect a control client now */
void sv_control_client_close(ControlClient *c)
{
	client_close(c);
}

static gboolean on_client_out(int fd, GIOCondition cond, gpointer data)
{
	ControlClient *c = data;
	while (c->out->len) {
		ssize_t w = send(c->fd, c->out->data, c->out->len, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			return G_SOURCE_CONTINUE;
		if (w <= 0) {
			c->out_watch = 0;
			client_close(c);
			return G_SOURCE_REMOVE;
		}
		g_byte_array_remove_range(c->out, 0, (guint)w);
		if (c->streams)
			sv_stream_backlog_changed(c->sv);
	}
	c->out_watch = 0;
	return G_SOURCE_REMOVE;
}

static void client_queue(ControlClient *c, const void *buf, gsize len)
{
	if (c->closed)
		return;
	g_byte_array_append(c->out, buf, (guint)len);
	if (!c->out_watch)
		c->out_watch = g_unix_fd_add(c->fd, G_IO_OUT, on_client_out, c);
}

void sv_client_send_line(ControlClient *c, JsonObject *msg)
{
	g_autoptr(JsonNode) n = json_node_init_object(json_node_alloc(), msg);
	g_autofree char *text = gv_json_to_string(n, FALSE);
	client_queue(c, text, strlen(text));
	client_queue(c, "\r\n", 2);
}

void sv_client_flush_blocking(ControlClient *c)
{
	if (c->closed)
		return;
	g_unix_set_fd_nonblocking(c->fd, FALSE, NULL);
	while (c->out->len) {
		ssize_t w = send(c->fd, c->out->data, c->out->len, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		g_byte_array_remove_range(c->out, 0, (guint)w);
	}
	g_unix_set_fd_nonblocking(c->fd, TRUE, NULL);
}

void sv_control_reply(ControlClient *c, JsonNode *id, JsonNode *ret, const GError *error)
{
	if (c->closed)
		return;
	g_autoptr(JsonObject) msg = json_object_new();
	if (error) {
		JsonObject *e = json_object_new();
		const char *cls = NULL;
		const char *desc = error->message;
		if (error->domain == GV_QMP_ERROR)
			cls = gv_qmp_error_class_name((GvQmpError)error->code);
		if (cls && g_str_has_prefix(desc, cls) && !strncmp(desc + strlen(cls), ": ", 2))
			desc += strlen(cls) + 2;
		json_object_set_string_member(e, "class", cls ? cls : "GenericError");
		json_object_set_string_member(e, "desc", desc);
		json_object_set_object_member(msg, "error", e);
	} else {
		json_object_set_member(msg, "return",
				       ret ? json_node_copy(ret)
					   : json_node_init_object(json_node_alloc(), json_object_new()));
	}
	if (id)
		json_object_set_member(msg, "id", json_node_copy(id));
	sv_client_send_line(c, msg);
}

static void reply_error(ControlClient *c, JsonNode *id, const char *cls, const char *fmt, ...)
	G_GNUC_PRINTF(4, 5);
static void reply_error(ControlClient *c, JsonNode *id, const char *cls, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	g_autofree char *desc = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	g_autoptr(JsonObject) msg = json_object_new();
	JsonObject *e = json_object_new();
	json_object_set_string_member(e, "class", cls);
	json_object_set_string_member(e, "desc", desc);
	json_object_set_object_member(msg, "error", e);
	if (id)
		json_object_set_member(msg, "id", json_node_copy(id));
	sv_client_send_line(c, msg);
}

/**
 * sv_control_reply_gerror() - answer a request with @error, keeping its exit code
 * @c: the client
 * @id: (nullable): the request's id
 * @error: any failure of the supervisor's own work; its class is that of
 *         gv_exit_code_for(@error), its description the message as it is
 */
void sv_control_reply_gerror(ControlClient *c, JsonNode *id, const GError *error)
{
	/* Indexed by exit code (docs/errors.md), 1 to 4. */
	static const char *const classes[] = {
		[GV_EXIT_FAILED] = "GrainvmFailed",
		[GV_EXIT_INVALID] = "GrainvmInvalid",
		[GV_EXIT_STATE] = "GrainvmState",
		[GV_EXIT_TIMEOUT] = "GrainvmTimeout",
	};
	int code = gv_exit_code_for(error);
	if (code < GV_EXIT_FAILED || code > GV_EXIT_TIMEOUT)
		code = GV_EXIT_FAILED;
	reply_error(c, id, classes[code], "%s", error->message);
}

/**
 * sv_control_reply_error() - answer a request with an error of class @cls
 * @c: the client
 * @id: (nullable): the request's id
 * @cls: the QMP error class
 * @fmt: printf format of the description
 */
void sv_control_reply_error(ControlClient *c, JsonNode *id, const char *cls, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	g_autofree char *desc = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	reply_error(c, id, cls, "%s", desc);
}

/* ---- forwarded commands ------------------------------------------------------ */

typedef struct {
	ControlClient *client;
	JsonNode *id;
	GvQmpClient *peer;
	SvLink *link;          /* an agent's: its cap is raised meanwhile */
} Forward;

static Forward *forward_new(ControlClient *c, JsonNode *id, GvQmpClient *peer, SvLink *link)
{
	Forward *f = g_new0(Forward, 1);
	f->client = client_ref(c);
	f->id = id ? json_node_copy(id) : NULL;
	f->peer = gv_qmp_client_ref(peer);
	/* Whatever the user passes to an agent may answer with a file's bytes. */
	f->link = link;
	if (link)
		sv_link_large(link, TRUE);
	return f;
}

static void forward_free(Forward *f)
{
	if (f->link)
		sv_link_large(f->link, FALSE);
	client_unref(f->client);
	if (f->id)
		json_node_unref(f->id);
	gv_qmp_client_unref(f->peer);
	g_free(f);
}

static void on_forward_done(GObject *src, GAsyncResult *res, gpointer data)
{
	Forward *f = data;
	g_autoptr(GError) err = NULL;
	g_autoptr(JsonNode) r = gv_qmp_client_execute_finish(f->peer, res, &err);
	sv_control_reply(f->client, f->id, r, err);
	forward_free(f);
}

/*
 * The optional "timeout" member of @args, in seconds, clamped to 1..3600;
 * 0 when absent.  Anything but an integer is answered with an error
 * (json-glib's getters log a critical for an object or array there).
 */
static gboolean arg_seconds(ControlClient *c, JsonNode *id, JsonObject *args, gint64 *out)
{
	JsonNode *n = args ? json_object_get_member(args, "timeout") : NULL;
	*out = 0;
	if (!n)
		return TRUE;
	if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_INT64) {
		reply_error(c, id, "GenericError", "\"timeout\" must be an integer (seconds)");
		return FALSE;
	}
	*out = CLAMP(json_node_get_int(n), 1, 3600);
	return TRUE;
}

static void cmd_status(ControlClient *c, JsonNode *id, JsonObject *args)
{
	Supervisor *sv = c->sv;
	if (sv->phase == GV_PHASE_READY && (sv_agent_usable(sv) || sv_qga_usable(sv))) {
		/* Fresh grain-status and build state, or qemu-ga's view. */
		sv_status_refresh(sv, c, id);
		return;
	}
	g_autoptr(JsonObject) st = sv_state_object(sv);
	g_autoptr(JsonNode) n = json_node_init_object(json_node_alloc(), st);
	sv_control_reply(c, id, n, NULL);
}

static void cmd_down(ControlClient *c, JsonNode *id, JsonObject *args)
{
	Supervisor *sv = c->sv;
	gint64 seconds;
	gboolean force = FALSE;
	if (!arg_seconds(c, id, args, &seconds))
		return;
	guint timeout = seconds ? (guint)seconds : 10;
	if (!gv_json_get_bool(args, SV_PEER_CONTROL, "force", GV_JSON_OPTIONAL, &force, NULL)) {
		reply_error(c, id, "GenericError", "\"force\" must be true or false");
		return;
	}
	DownWaiter *w = g_new0(DownWaiter, 1);
	w->client = client_ref(c);
	w->id = id ? json_node_copy(id) : NULL;
	g_ptr_array_add(sv->down_waiters, w);
	sv_start_down(sv, timeout, force);
}

static void cmd_forward(ControlClient *c, JsonNode *id, JsonObject *args, gboolean to_agent)
{
	Supervisor *sv = c->sv;
	const char *command = NULL;
	JsonObject *cargs = NULL;
	g_autoptr(GError) why = NULL;
	if (!gv_json_get_string(args, SV_PEER_CONTROL, "command", GV_JSON_REQUIRED, &command, &why)) {
		reply_error(c, id, "GenericError", "missing \"command\"");
		return;
	}
	if (!gv_json_get_object(args, SV_PEER_CONTROL, "arguments", GV_JSON_OPTIONAL, &cargs, &why)) {
		reply_error(c, id, "GenericError", "\"arguments\" must be an object");
		return;
	}
	GvQmpClient *peer = to_agent ? sv->agent.client : sv->qmp;
	SvLink *link = to_agent ? &sv->agent : NULL;
	if (to_agent && !sv_agent_usable(sv) && sv_qga_usable(sv)) {
		peer = sv->qga.client; /* the guest runs qemu-ga only */
		link = &sv->qga;
	}
	if (!peer || gv_qmp_client_is_closed(peer) ||
	    (to_agent && !sv_agent_usable(sv) && !sv_qga_usable(sv))) {
		reply_error(c, id, "GenericError", "the %s is not connected",
			    to_agent ? "guest agent" : "QMP monitor");
		return;
	}
	if (peer == sv->qga.client && g_str_has_prefix(command, "grain-")) {
		/* qemu-ga would say only "CommandNotFound"; say what is missing. */
		reply_error(c, id, "GenericError",
			    "only qemu-ga answers in this guest; %s needs grainvm-agent", command);
		return;
	}
	guint timeout = FORWARD_TIMEOUT_MS;
	gint64 seconds;
	if (!arg_seconds(c, id, args, &seconds))
		return;
	if (seconds)
		timeout = (guint)seconds * 1000;
	gv_qmp_client_execute_async(peer, command, cargs, timeout, NULL, on_forward_done,
				    forward_new(c, id, peer, link));
}

static void dispatch(ControlClient *c, JsonObject *msg)
{
	JsonNode *id = json_object_get_member(msg, "id");
	const char *cmd = gv_json_string_or(msg, "execute", NULL);
	JsonObject *args = gv_json_object_or_null(msg, "arguments");
	if (!cmd) {
		reply_error(c, id, "GenericError", "expected {\"execute\": COMMAND}");
		return;
	}
	if (!strcmp(cmd, "qmp_capabilities")) {
		c->negotiated = TRUE;
		sv_control_reply(c, id, NULL, NULL);
		return;
	}
	if (!c->negotiated) {
		reply_error(c, id, "CommandNotFound", "expecting capabilities negotiation with "
			    "'qmp_capabilities'");
		return;
	}
	if (!strcmp(cmd, "status"))
		cmd_status(c, id, args);
	else if (!strcmp(cmd, "down"))
		cmd_down(c, id, args);
	else if (!strcmp(cmd, "qmp"))
		cmd_forward(c, id, args, FALSE);
	else if (!strcmp(cmd, "agent"))
		cmd_forward(c, id, args, TRUE);
	else if (!strcmp(cmd, "console")) {
		sv_control_reply(c, id, NULL, NULL);
		c->console = TRUE;
	} else if (sv_stream_dispatch(c, cmd, id, args))
		; /* exec-* and build-*, in supervisor-stream.c */
	else if (sv_net_control(c, cmd, id, args))
		; /* forward-*, in supervisor-net.c */
	else if (sv_snapshot_control(c, cmd, id, args))
		; /* snapshot-*, in supervisor-snapshot.c */
	else
		reply_error(c, id, "CommandNotFound", "The command %s has not been found", cmd);
}

static void on_item(GvJsonReaderItem item, JsonNode *node, const GError *error, gpointer data)
{
	ControlClient *c = data;
	if (c->closed)
		return;
	if (item == GV_JSON_READER_MESSAGE && !c->console)
		dispatch(c, json_node_get_object(node));
	else if (item == GV_JSON_READER_BAD)
		reply_error(c, NULL, "GenericError", "%s", error->message);
}

static gboolean on_client_in(int fd, GIOCondition cond, gpointer data)
{
	ControlClient *c = data;
	guint8 buf[8192];
	ssize_t n = read(fd, buf, sizeof(buf));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return G_SOURCE_CONTINUE;
	if (n <= 0) {
		c->watch = 0;
		client_close(c);
		return G_SOURCE_REMOVE;
	}
	client_ref(c);
	if (c->console)
		sv_console_write(c->sv, buf, (gsize)n);
	else
		gv_json_reader_feed(c->reader, buf, (gsize)n, on_item, c);
	gboolean gone = c->closed;
	if (gone)
		c->watch = 0;
	client_unref(c);
	return gone ? G_SOURCE_REMOVE : G_SOURCE_CONTINUE;
}

static void client_close(ControlClient *c)
{
	if (c->closed)
		return;
	c->closed = TRUE;
	Supervisor *sv = c->sv;
	g_clear_handle_id(&c->watch, g_source_remove);
	g_clear_handle_id(&c->out_watch, g_source_remove);
	close(c->fd);
	c->fd = -1;
	sv->clients = g_list_remove(sv->clients, c);
	sv_stream_client_closed(sv, c);
	for (guint i = 0; i < sv->down_waiters->len; i++) {
		DownWaiter *w = g_ptr_array_index(sv->down_waiters, i);
		if (w->client != c)
			continue;
		g_ptr_array_remove_index(sv->down_waiters, i);
		if (w->id)
			json_node_unref(w->id);
		client_unref(c);
		g_free(w);
		break;
	}
	client_unref(c);
}

static gboolean on_accept(int fd, GIOCondition cond, gpointer data)
{
	Supervisor *sv = data;
	int cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (cfd < 0)
		return G_SOURCE_CONTINUE;
	ControlClient *c = g_new0(ControlClient, 1);
	c->sv = sv;
	c->fd = cfd;
	c->refs = 1;
	c->reader = gv_json_reader_new(CONTROL_LINE_CAP, GV_JSON_READER_NONE);
	c->out = g_byte_array_new();
	c->watch = g_unix_fd_add(cfd, G_IO_IN | G_IO_HUP | G_IO_ERR, on_client_in, c);
	sv->clients = g_list_prepend(sv->clients, c);
	g_autoptr(JsonObject) greet = json_object_new();
	JsonObject *q = json_object_new();
	JsonObject *v = json_object_new();
	json_object_set_string_member(v, "grainvm", GV_VERSION);
	json_object_set_string_member(v, "name", sv->paths->name);
	json_object_set_object_member(q, "version", v);
	json_object_set_array_member(q, "capabilities", json_array_new());
	json_object_set_object_member(greet, "QMP", q);
	sv_client_send_line(c, greet);
	return G_SOURCE_CONTINUE;
}

gboolean sv_control_listen(Supervisor *sv, GError **error)
{
	sv->control_fd = gv_unix_listen(sv->paths->control_sock, 16, error);
	if (sv->control_fd < 0)
		return FALSE;
	g_unix_set_fd_nonblocking(sv->control_fd, TRUE, NULL);
	sv->control_watch = g_unix_fd_add(sv->control_fd, G_IO_IN, on_accept, sv);
	return TRUE;
}

void sv_control_broadcast_console(Supervisor *sv, const guint8 *buf, gsize len)
{
	for (GList *l = sv->clients; l; l = l->next) {
		ControlClient *c = l->data;
		if (c->console && c->out->len < CONSOLE_BACKLOG)
			client_queue(c, buf, len);
	}
}

void sv_control_close_all(Supervisor *sv)
{
	while (sv->clients) {
		ControlClient *c = sv->clients->data;
		sv_client_flush_blocking(c);
		client_close(c);
	}
	g_clear_handle_id(&sv->control_watch, g_source_remove);
	if (sv->control_fd >= 0) {
		close(sv->control_fd);
		sv->control_fd = -1;
	}
}
