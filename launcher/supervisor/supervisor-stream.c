/* SPDX-License-Identifier: MIT */
/*
 * supervisor-stream.c - streamed exec and build output, agent to CLI
 *
 * Theory of operation
 * -------------------
 * grainvm-agent streams a command's output (grain-exec-start) or a build
 * log (grain-build-attach) as event lines on the one connection that
 * asked, which is the supervisor's.  The supervisor hands them on to the
 * control client that asked it (see the protocol in supervisor-control.c):
 *
 *   exec   one owner per handle.  The agent's handle space is shared by
 *          execs and builds; the supervisor routes by handle.  When the
 *          owner goes away before grain-exit, the command gets SIGHUP and
 *          its stdin is closed (what the agent itself does when its
 *          connection goes), and the rest of its output is dropped.
 *   build  any number of followers, each with the log offset it needs
 *          next.  The agent serves one attachment per connection, so the
 *          supervisor holds one and points it at the smallest offset any
 *          follower needs: a new follower re-attaches from its offset, and
 *          the others skip bytes they already have.  Offsets make this
 *          exact: the log only grows, and a gap (a line the reader had to
 *          drop) is healed by re-attaching from the follower's offset.
 *
 * qemu-ga has no streams: through it an exec runs with guest-exec and
 * capture-output, guest-exec-status is polled, and at exit the captured
 * output is sent to the client as the same grain-output events, then
 * grain-exit.  Builds need grainvm-agent.
 *
 * Back-pressure.  A guest can print faster than a CLI reads (a terminal,
 * a pipe into `less`).  Nothing is buffered without bound: while any
 * streaming client has more than STREAM_HIGH bytes waiting, the supervisor
 * stops reading the agent socket (gv_qmp_client_pause_input()); QEMU then
 * stops taking data from the virtio-serial port, the agent's queue fills
 * to its 1 MiB cap and it stops reading the command's pipes, and the
 * command blocks in write().  Reading resumes when every streaming client
 * is below STREAM_LOW.  The pause holds up every agent reply too (there is
 * one channel), so a client that stays above the mark for SLOW_CLIENT_S is
 * cut off: its exec gets SIGHUP as if it had gone, a follower just stops
 * following (the build goes on).  Memory per client is thus at most
 * STREAM_HIGH plus what one read of the agent socket holds (one line,
 * capped at 16 MiB by the reader, normally 64 KiB).
 */
#include "supervisor/supervisor-priv.h"

#include <signal.h>
#include <string.h>

#include "gv-error.h"

/* 1 MiB: like the agent's own backlog cap, a few hundred ms of a fast
 * command's output over virtio-serial under TCG. */
#define STREAM_HIGH (1u << 20)
#define STREAM_LOW (256u << 10)
/* A CLI that takes nothing for this long is stuck (or suspended). */
#define SLOW_CLIENT_S 30
#define AGENT_CALL_MS 10000
#define QGA_EXEC_POLL_MS 100
/* The agent sends at most 64 KiB per event (88 KiB of base64); anything
 * larger is not the protocol and is dropped rather than forwarded. */
#define EVENT_B64_MAX (128u << 10)
#define QGA_CHUNK (64u << 10)
/* qemu-ga takes stdin whole, as "input-data", in one request under its
 * own 16 MiB limit; base64 makes 12 MiB of data 16 MiB of request. */
#define QGA_INPUT_MAX (12u << 20)
/* qemu-ga handles are pids; ours start above any agent handle or pid. */
#define QGA_HANDLE_BASE ((gint64)1 << 32)

typedef struct {
	Supervisor *sv;
	gint64 handle;
	gint64 pid;
	ControlClient *owner;  /* NULL once it left: output dropped */
	gboolean qga;          /* run through qemu-ga's guest-exec */
	guint poll;            /* qemu-ga: next guest-exec-status */
	JsonObject *qga_args;  /* qemu-ga with stdin: guest-exec waits for its EOF */
	GByteArray *qga_input; /* the stdin collected so far */
} SvExec;

typedef struct {
	ControlClient *client;
	gint64 next;           /* log offset of the next byte it needs */
} SvFollower;

/* A request of a control client waiting for the agent. */
typedef struct {
	ControlClient *client;
	JsonNode *id;
	gint64 from;           /* build-attach: the offset asked for */
	gint64 qga_handle;     /* exec through qemu-ga */
} Req;

static void resume_check(Supervisor *sv);
static void reattach(Supervisor *sv);
static gboolean on_backlog_timer(gpointer data);

static Req *req_new(ControlClient *c, JsonNode *id)
{
	Req *r = g_new0(Req, 1);
	r->client = sv_client_ref(c);
	r->id = id ? json_node_copy(id) : NULL;
	return r;
}

static void req_free(Req *r)
{
	sv_client_unref(r->client);
	if (r->id)
		json_node_unref(r->id);
	g_free(r);
}

/* ---- small JSON checks (the control client is trusted less than us) ----- */

/* Arguments of a command line or environment: more is not a command. */
#define STRV_MAX 4096

static gboolean strv_member(JsonObject *o, const char *name, gboolean required, GError **error)
{
	JsonArray *a = NULL;
	if (!gv_json_get_array(o, SV_PEER_CONTROL, name,
			       required ? GV_JSON_REQUIRED : GV_JSON_OPTIONAL, STRV_MAX, &a, error))
		return FALSE;
	for (guint i = 0; a && i < json_array_get_length(a); i++)
		if (!gv_json_array_string_at(a, i))
			goto bad;
	if (required && json_array_get_length(a) == 0)
		goto bad;
	return TRUE;
bad:
	g_set_error(error, GV_QMP_ERROR, GV_QMP_ERROR_PROTOCOL, "\"%s\" must be a%s array of strings",
		    name, required ? " non-empty" : "n");
	return FALSE;
}

/* Copy the members named in @names that @from has. */
static JsonObject *pick(JsonObject *from, const char *const *names)
{
	JsonObject *o = json_object_new();
	for (; *names; names++)
		if (from && json_object_has_member(from, *names))
			json_object_set_member(o, *names,
					       json_node_copy(json_object_get_member(from, *names)));
	return o;
}

/* ---- sending to clients ---------------------------------------------------- */

static void send_event(ControlClient *c, const char *name, JsonObject *data /* consumed */)
{
	g_autoptr(JsonObject) msg = json_object_new();
	gint64 now = g_get_real_time();
	JsonObject *ts = json_object_new();
	json_object_set_string_member(msg, "event", name);
	json_object_set_object_member(msg, "data", data);
	json_object_set_int_member(ts, "seconds", now / G_USEC_PER_SEC);
	json_object_set_int_member(ts, "microseconds", now % G_USEC_PER_SEC);
	json_object_set_object_member(msg, "timestamp", ts);
	sv_client_send_line(c, msg);
}

/**
 * sv_stream_backlog_changed() - re-evaluate back-pressure on the agent
 * @sv: the supervisor
 *
 * Called after stream data was queued for a client and after a streaming
 * client's socket took some of its backlog.
 */
void sv_stream_backlog_changed(Supervisor *sv)
{
	gboolean over = FALSE;
	for (GList *l = sv->clients; l; l = l->next) {
		ControlClient *c = l->data;
		if (c->streams && c->out->len > STREAM_HIGH)
			over = TRUE;
	}
	if (over && !sv->agent_paused && sv->agent.client) {
		sv->agent_paused = TRUE;
		sv->paused_since_us = g_get_monotonic_time();
		gv_qmp_client_pause_input(sv->agent.client, TRUE);
		/* Checks for a stuck client only while paused. */
		if (!sv->backlog_timer)
			sv->backlog_timer = g_timeout_add_seconds(1, on_backlog_timer, sv);
		return;
	}
	if (sv->agent_paused)
		resume_check(sv);
}

static void resume_check(Supervisor *sv)
{
	for (GList *l = sv->clients; l; l = l->next) {
		ControlClient *c = l->data;
		if (c->streams && c->out->len > STREAM_LOW)
			return;
	}
	sv->agent_paused = FALSE;
	g_clear_handle_id(&sv->backlog_timer, g_source_remove);
	if (sv->agent.client)
		gv_qmp_client_pause_input(sv->agent.client, FALSE);
}

static gboolean on_backlog_timer(gpointer data)
{
	Supervisor *sv = data;
	if (g_get_monotonic_time() - sv->paused_since_us < SLOW_CLIENT_S * G_USEC_PER_SEC)
		return G_SOURCE_CONTINUE;
	/* Cut off whoever holds everybody up; closing runs
	 * sv_stream_client_closed(), which resumes when it can. */
	GList *stuck = NULL;
	for (GList *l = sv->clients; l; l = l->next) {
		ControlClient *c = l->data;
		if (c->streams && c->out->len > STREAM_LOW)
			stuck = g_list_prepend(stuck, sv_client_ref(c));
	}
	for (GList *l = stuck; l; l = l->next) {
		ControlClient *c = l->data;
		g_printerr("grainvm supervisor: a control client took no stream output for %d s; "
			   "disconnecting it\n", SLOW_CLIENT_S);
		/* Its buffered output goes unsent. */
		g_byte_array_set_size(c->out, 0);
		sv_control_client_close(c);
		sv_client_unref(c);
	}
	g_list_free(stuck);
	/* The timer is this source: let resume_check() not remove it twice. */
	sv->backlog_timer = 0;
	resume_check(sv);
	if (!sv->agent_paused)
		return G_SOURCE_REMOVE;
	sv->backlog_timer = g_source_get_id(g_main_current_source());
	return G_SOURCE_CONTINUE;
}

/*
 * Refuse to start something new while the agent is not being read: its
 * reply could not arrive before the client that holds everyone up drains
 * or is cut off (SLOW_CLIENT_S).
 */
static gboolean refuse_if_paused(ControlClient *c, JsonNode *id, const char *cmd)
{
	Supervisor *sv = c->sv;
	if (!sv->agent_paused)
		return FALSE;
	gint64 s = (g_get_monotonic_time() - sv->paused_since_us) / G_USEC_PER_SEC;
	sv_control_reply_error(c, id, "GenericError",
			       "%s: the guest agent's channel has been held up for %" G_GINT64_FORMAT
			       " s by a client that does not read its output (it is cut off after "
			       "%d s); try again", cmd, s, SLOW_CLIENT_S);
	return TRUE;
}

/* ---- exec ---------------------------------------------------------------------- */

static void exec_free(gpointer data)
{
	SvExec *e = data;
	if (e->qga)
		sv_link_large(&e->sv->qga, FALSE);
	g_clear_handle_id(&e->poll, g_source_remove);
	g_clear_pointer(&e->qga_args, json_object_unref);
	g_clear_pointer(&e->qga_input, g_byte_array_unref);
	if (e->owner) {
		e->owner->streams--;
		sv_client_unref(e->owner);
	}
	g_free(e);
}

static SvExec *exec_add(Supervisor *sv, ControlClient *c, gint64 handle, gint64 pid)
{
	SvExec *e = g_new0(SvExec, 1);
	e->sv = sv;
	e->handle = handle;
	e->pid = pid;
	e->owner = sv_client_ref(c);
	c->streams++;
	g_hash_table_replace(sv->execs, g_memdup2(&handle, sizeof(handle)), e);
	return e;
}

static void ignore_reply(GvQmpClient *client, JsonNode *ret, const GError *error, gpointer data)
{
}

/* The owner is gone: hang up the command as a terminal would. */
static void exec_orphan(SvExec *e)
{
	Supervisor *sv = e->sv;
	if (e->owner) {
		e->owner->streams--;
		sv_client_unref(e->owner);
		e->owner = NULL;
	}
	if (e->qga || !sv_agent_usable(sv))
		return;
	g_autoptr(JsonObject) sig = json_object_new();
	json_object_set_int_member(sig, "handle", e->handle);
	json_object_set_int_member(sig, "signal", SIGHUP);
	gv_qmp_client_call(sv->agent.client, "grain-exec-signal", sig, AGENT_CALL_MS, ignore_reply, NULL,
			   NULL);
	g_autoptr(JsonObject) in = json_object_new();
	json_object_set_int_member(in, "handle", e->handle);
	json_object_set_boolean_member(in, "eof", TRUE);
	gv_qmp_client_call(sv->agent.client, "grain-exec-input", in, AGENT_CALL_MS, ignore_reply, NULL,
			   NULL);
}

static void on_exec_started(GvQmpClient *client, JsonNode *ret, const GError *error, gpointer data)
{
	Req *r = data;
	Supervisor *sv = r->client->sv;
	g_autoptr(GError) bad = NULL;
	JsonObject *o = error ? NULL : gv_json_node_object(ret, SV_PEER_AGENT, "grain-exec-start's reply", &bad);
	gint64 handle = 0, pid = 0;
	if (o && (!gv_json_get_int(o, SV_PEER_AGENT, "handle", GV_JSON_REQUIRED, 0, G_MAXINT32,
				   &handle, &bad) ||
		  !gv_json_get_int(o, SV_PEER_AGENT, "pid", GV_JSON_OPTIONAL, 0, G_MAXINT32, &pid,
				   &bad)))
		o = NULL;
	if (!o) {
		if (bad)
			sv_protocol_error(sv, bad);
		sv_control_reply(r->client, r->id, NULL, error ? error : bad);
		req_free(r);
		return;
	}
	SvExec *e = exec_add(sv, r->client, handle, pid);
	g_autoptr(JsonObject) reply = json_object_new();
	json_object_set_int_member(reply, "handle", handle);
	json_object_set_int_member(reply, "pid", pid);
	json_object_set_string_member(reply, "agent", "grainvm-agent");
	json_object_set_boolean_member(reply, "streamed", TRUE);
	g_autoptr(JsonNode) n = json_node_init_object(json_node_alloc(), json_object_ref(reply));
	sv_control_reply(r->client, r->id, n, NULL);
	if (r->client->closed)
		exec_orphan(e); /* it left while the command was starting */
	req_free(r);
}

/* -- through qemu-ga: guest-exec, then poll guest-exec-status -- */

static void qga_poll_arm(SvExec *e);
static void exec_failed(SvExec *e, const char *message);

static void send_captured(ControlClient *c, gint64 handle, const char *stream, const char *b64,
			  gint64 *seq)
{
	gsize len = 0;
	g_autofree guchar *bytes = b64 ? g_base64_decode(b64, &len) : NULL;
	for (gsize off = 0; off < len; off += QGA_CHUNK) {
		gsize n = MIN(QGA_CHUNK, len - off);
		g_autofree char *chunk = g_base64_encode(bytes + off, n);
		JsonObject *d = json_object_new();
		json_object_set_int_member(d, "handle", handle);
		json_object_set_string_member(d, "stream", stream);
		json_object_set_int_member(d, "seq", (*seq)++);
		json_object_set_string_member(d, "data-b64", chunk);
		send_event(c, "grain-output", d);
	}
}

/* A guest-exec or guest-exec-status in flight names its exec by handle:
 * the entry may be gone (its client left) by the time the reply comes. */
typedef struct {
	Supervisor *sv;
	gint64 handle;
} QgaPoll;

static SvExec *qga_lookup(Supervisor *sv, QgaPoll *qp)
{
	gint64 handle = qp->handle;
	g_free(qp);
	return sv->execs ? g_hash_table_lookup(sv->execs, &handle) : NULL;
}

static QgaPoll *qga_ref(SvExec *e)
{
	QgaPoll *qp = g_new0(QgaPoll, 1);
	qp->sv = e->sv;
	qp->handle = e->handle;
	return qp;
}


static void on_qga_status(GvQmpClient *client, JsonNode *ret, const GError *error, gpointer data)
{
	QgaPoll *qp = data;
	Supervisor *sv = qp->sv;
	SvExec *e = qga_lookup(sv, qp);
	if (!e)
		return;
	gint64 handle = e->handle;
	if (error) {
		/* A lost reply (resync) is not the end of the command: ask again. */
		qga_poll_arm(e);
		return;
	}
	g_autoptr(GError) bad = NULL;
	JsonObject *o = gv_json_node_object(ret, SV_PEER_QGA, "guest-exec-status's reply", &bad);
	gboolean exited = FALSE, out_trunc = FALSE, err_trunc = FALSE;
	const char *out = NULL, *err = NULL;
	gint64 code = -1, sig = -1;
	if (o && (!gv_json_get_bool(o, SV_PEER_QGA, "exited", GV_JSON_REQUIRED, &exited, &bad) ||
		  !gv_json_get_string(o, SV_PEER_QGA, "out-data", GV_JSON_OPTIONAL, &out, &bad) ||
		  !gv_json_get_string(o, SV_PEER_QGA, "err-data", GV_JSON_OPTIONAL, &err, &bad) ||
		  !gv_json_get_int(o, SV_PEER_QGA, "exitcode", GV_JSON_OPTIONAL, 0, 255, &code,
				   &bad) ||
		  !gv_json_get_int(o, SV_PEER_QGA, "signal", GV_JSON_OPTIONAL, 1, 127, &sig, &bad) ||
		  !gv_json_get_bool(o, SV_PEER_QGA, "out-truncated", GV_JSON_OPTIONAL, &out_trunc,
				    &bad) ||
		  !gv_json_get_bool(o, SV_PEER_QGA, "err-truncated", GV_JSON_OPTIONAL, &err_trunc,
				    &bad)))
		o = NULL;
	if (!o) {
		/* A lying reply ends the command for the host: its outcome is unknown. */
		sv_protocol_error(sv, bad);
		exec_failed(e, bad->message);
		return;
	}
	if (!exited) {
		qga_poll_arm(e);
		return;
	}
	if (e->owner) {
		gint64 seq = 0;
		send_captured(e->owner, handle, "stdout", out, &seq);
		send_captured(e->owner, handle, "stderr", err, &seq);
		JsonObject *d = json_object_new();
		if (sig > 0)
			json_object_set_int_member(d, "signal", sig);
		else
			json_object_set_int_member(d, "exitcode", code < 0 ? 0 : code);
		json_object_set_boolean_member(d, "out-truncated", out_trunc);
		json_object_set_boolean_member(d, "err-truncated", err_trunc);
		json_object_set_int_member(d, "handle", handle);
		json_object_set_int_member(d, "pid", e->pid);
		send_event(e->owner, "grain-exit", d);
	}
	g_hash_table_remove(sv->execs, &handle);
}

static gboolean on_qga_poll(gpointer data)
{
	SvExec *e = data;
	e->poll = 0;
	g_autoptr(JsonObject) args = json_object_new();
	json_object_set_int_member(args, "pid", e->pid);
	QgaPoll *qp = qga_ref(e);
	if (!sv_qga_usable(e->sv) ||
	    !gv_qmp_client_call(e->sv->qga.client, "guest-exec-status", args, AGENT_CALL_MS, on_qga_status,
				qp, NULL)) {
		g_free(qp);
		qga_poll_arm(e);
	}
	return G_SOURCE_REMOVE;
}

static void qga_poll_arm(SvExec *e)
{
	if (!e->poll)
		e->poll = g_timeout_add(QGA_EXEC_POLL_MS, on_qga_poll, e);
}

static void exec_reply(ControlClient *c, JsonNode *id, SvExec *e)
{
	g_autoptr(JsonObject) reply = json_object_new();
	json_object_set_int_member(reply, "handle", e->handle);
	json_object_set_int_member(reply, "pid", e->pid);
	json_object_set_string_member(reply, "agent", e->qga ? "qemu-ga" : "grainvm-agent");
	json_object_set_boolean_member(reply, "streamed", !e->qga);
	g_autoptr(JsonNode) n = json_node_init_object(json_node_alloc(), json_object_ref(reply));
	sv_control_reply(c, id, n, NULL);
}

/* The command could not start after its exec-start was answered. */
static void exec_failed(SvExec *e, const char *message)
{
	if (e->owner) {
		JsonObject *d = json_object_new();
		json_object_set_int_member(d, "handle", e->handle);
		json_object_set_string_member(d, "error", message);
		send_event(e->owner, "grain-exit", d);
	}
	gint64 handle = e->handle;
	g_hash_table_remove(e->sv->execs, &handle);
}

static void on_qga_exec_started(GvQmpClient *client, JsonNode *ret, const GError *error,
				gpointer data)
{
	Req *r = data;
	Supervisor *sv = r->client->sv;
	QgaPoll *qp = g_new0(QgaPoll, 1);
	qp->handle = r->qga_handle;
	SvExec *e = qga_lookup(sv, qp);
	if (!e) {
		req_free(r);
		return;
	}
	g_autoptr(GError) bad = NULL;
	gint64 pid = 0;
	JsonObject *o = error ? NULL : gv_json_node_object(ret, SV_PEER_QGA, "guest-exec's reply", &bad);
	if (o && !gv_json_get_int(o, SV_PEER_QGA, "pid", GV_JSON_REQUIRED, 1, G_MAXINT32, &pid, &bad))
		o = NULL;
	if (!o) {
		if (bad)
			sv_protocol_error(sv, bad);
		g_autofree char *msg = g_strdup(error ? error->message : bad->message);
		if (!e->qga_input) {
			/* exec-start is still waiting: the error is its answer. */
			sv_control_reply_error(r->client, r->id, "GenericError", "%s", msg);
			gint64 handle = e->handle;
			g_hash_table_remove(sv->execs, &handle);
		} else {
			exec_failed(e, msg);
		}
		req_free(r);
		return;
	}
	e->pid = pid;
	if (!e->qga_input)
		exec_reply(r->client, r->id, e);
	g_clear_pointer(&e->qga_input, g_byte_array_unref);
	qga_poll_arm(e);
	req_free(r);
}

/* Send guest-exec for @e; @r answers exec-start unless that was done. */
static gboolean qga_exec(SvExec *e, JsonObject *args, Req *r, GError **error)
{
	return gv_qmp_client_call(e->sv->qga.client, "guest-exec", args, AGENT_CALL_MS,
				  on_qga_exec_started, r, error);
}

/*
 * qemu-ga's guest-exec has no working directory: run through
 * sh -c 'cd "$1" && shift && exec "$@"' so the command still starts there.
 */
static JsonObject *qga_exec_args(JsonObject *args)
{
	JsonObject *q = json_object_new();
	const char *path = gv_json_string_or(args, "path", "");
	const char *cwd = gv_json_string_or(args, "cwd", NULL);
	JsonArray *argv = json_array_new();
	if (cwd) {
		json_object_set_string_member(q, "path", "/bin/sh");
		json_array_add_string_element(argv, "-c");
		json_array_add_string_element(argv, "cd \"$1\" && shift && exec \"$@\"");
		json_array_add_string_element(argv, "sh");
		json_array_add_string_element(argv, cwd);
		json_array_add_string_element(argv, path);
	} else {
		json_object_set_string_member(q, "path", path);
	}
	JsonArray *a = gv_json_array_or_null(args, "arg");
	for (guint i = 0; a && i < json_array_get_length(a); i++)
		json_array_add_string_element(argv, gv_json_array_string_at(a, i));
	json_object_set_array_member(q, "arg", argv);
	static const char *const keep[] = { "env", "input-data", NULL };
	g_autoptr(JsonObject) rest = pick(args, keep);
	JsonObjectIter it;
	const char *name;
	JsonNode *node;
	json_object_iter_init(&it, rest);
	while (json_object_iter_next(&it, &name, &node))
		json_object_set_member(q, name, json_node_copy(node));
	json_object_set_boolean_member(q, "capture-output", TRUE);
	return q;
}

static void cmd_exec_start(ControlClient *c, JsonNode *id, JsonObject *args)
{
	Supervisor *sv = c->sv;
	g_autoptr(GError) why = NULL;
	const char *path = NULL, *cwd = NULL;
	gboolean input = FALSE;
	if (refuse_if_paused(c, id, "exec-start"))
		return;
	if (!gv_json_get_string(args, SV_PEER_CONTROL, "path", GV_JSON_REQUIRED, &path, &why) ||
	    !strv_member(args, "arg", FALSE, &why) || !strv_member(args, "env", FALSE, &why) ||
	    !gv_json_get_string(args, SV_PEER_CONTROL, "cwd", GV_JSON_OPTIONAL, &cwd, &why) ||
	    !gv_json_get_bool(args, SV_PEER_CONTROL, "input", GV_JSON_OPTIONAL, &input, &why)) {
		sv_control_reply_error(c, id, "GenericError", "exec-start: %s", why->message);
		return;
	}
	gboolean tty = gv_json_bool_or(args, "tty", FALSE);
	if (tty && !sv_agent_usable(sv)) {
		sv_control_reply_error(c, id, "GenericError",
				       sv_qga_usable(sv)
				       ? "only qemu-ga answers in this guest; a terminal needs grainvm-agent"
				       : "the guest agent is not connected (exec-start)");
		return;
	}
	Req *r = req_new(c, id);
	g_autoptr(GError) err = NULL;
	if (sv_agent_usable(sv)) {
		/* tty, rows, cols and term are checked by the agent. */
		static const char *const keep[] = { "path", "arg", "env", "cwd", "input",
						    "tty", "rows", "cols", "term", NULL };
		g_autoptr(JsonObject) a = pick(args, keep);
		json_object_set_boolean_member(a, "stream", TRUE);
		if (gv_qmp_client_call(sv->agent.client, "grain-exec-start", a, AGENT_CALL_MS,
				       on_exec_started, r, &err))
			return;
	} else if (sv_qga_usable(sv)) {
		g_autoptr(JsonObject) q = qga_exec_args(args);
		SvExec *e = exec_add(sv, c, QGA_HANDLE_BASE + ++sv->next_qga_handle, 0);
		e->qga = TRUE;
		/* guest-exec-status brings the captured output: up to 16 MiB a stream. */
		sv_link_large(&sv->qga, TRUE);
		r->qga_handle = e->handle;
		if (input) {
			/* qemu-ga wants stdin whole at the start: collect it from
			 * exec-input, start at its EOF. */
			e->qga_args = g_steal_pointer(&q);
			e->qga_input = g_byte_array_new();
			exec_reply(c, id, e);
			req_free(r);
			return;
		}
		if (qga_exec(e, q, r, &err))
			return;
		g_hash_table_remove(sv->execs, &r->qga_handle);
	} else {
		g_set_error(&err, GV_ERROR, GV_ERROR_STATE, "no guest agent answers in vm %s",
			    sv->paths->name);
	}
	sv_control_reply(c, id, NULL, err);
	req_free(r);
}

/* The exec @args names, if @c owns it; else an error reply is sent. */
static SvExec *owned_exec(ControlClient *c, JsonNode *id, JsonObject *args, const char *cmd)
{
	gint64 handle = 0;
	g_autoptr(GError) why = NULL;
	if (!gv_json_get_int(args, SV_PEER_CONTROL, "handle", GV_JSON_REQUIRED, G_MININT64,
			     G_MAXINT64, &handle, &why)) {
		sv_control_reply_error(c, id, "GenericError", "%s: %s", cmd, why->message);
		return NULL;
	}
	SvExec *e = g_hash_table_lookup(c->sv->execs, &handle);
	if (!e || e->owner != c) {
		sv_control_reply_error(c, id, "GenericError",
				       "%s: no command with handle %" G_GINT64_FORMAT
				       " was started on this connection", cmd, handle);
		return NULL;
	}
	return e;
}

static void on_forwarded(GvQmpClient *client, JsonNode *ret, const GError *error, gpointer data)
{
	Req *r = data;
	sv_control_reply(r->client, r->id, ret, error);
	req_free(r);
}

/* Pass @cmd with @a to grainvm-agent; the reply goes back as it is. */
static void forward(ControlClient *c, JsonNode *id, const char *cmd, JsonObject *a)
{
	Supervisor *sv = c->sv;
	if (!sv_agent_usable(sv)) {
		sv_control_reply_error(c, id, "GenericError",
				       sv_qga_usable(sv)
				       ? "only qemu-ga answers in this guest; %s needs grainvm-agent"
				       : "the guest agent is not connected (%s)", cmd);
		return;
	}
	Req *r = req_new(c, id);
	g_autoptr(GError) err = NULL;
	if (!gv_qmp_client_call(sv->agent.client, cmd, a, AGENT_CALL_MS, on_forwarded, r, &err)) {
		sv_control_reply(c, id, NULL, err);
		req_free(r);
	}
}

/* exec-input of a command that waits to be started through qemu-ga. */
static void qga_input(ControlClient *c, JsonNode *id, JsonObject *args, SvExec *e)
{
	const char *b64 = NULL;
	gboolean eof = FALSE;
	g_autoptr(GError) why = NULL;
	if (!gv_json_get_string(args, SV_PEER_CONTROL, "data-b64", GV_JSON_OPTIONAL, &b64, &why) ||
	    !gv_json_get_bool(args, SV_PEER_CONTROL, "eof", GV_JSON_OPTIONAL, &eof, &why)) {
		sv_control_reply_error(c, id, "GenericError", "exec-input: %s", why->message);
		return;
	}
	if (b64) {
		gsize len = 0;
		g_autofree guchar *bytes = g_base64_decode(b64, &len);
		if (e->qga_input->len + len > QGA_INPUT_MAX) {
			sv_control_reply_error(c, id, "GenericError",
					       "exec-input: only qemu-ga answers in this guest, and it "
					       "takes at most %u MiB of stdin", QGA_INPUT_MAX >> 20);
			return;
		}
		g_byte_array_append(e->qga_input, bytes, (guint)len);
	}
	g_autoptr(JsonObject) ret = json_object_new();
	json_object_set_int_member(ret, "pending", 0);
	g_autoptr(JsonNode) n = json_node_init_object(json_node_alloc(), json_object_ref(ret));
	sv_control_reply(c, id, n, NULL);
	if (!eof)
		return;
	g_autofree char *all = g_base64_encode(e->qga_input->data, e->qga_input->len);
	g_autoptr(JsonObject) q = g_steal_pointer(&e->qga_args);
	json_object_set_string_member(q, "input-data", all);
	Req *r = req_new(c, NULL);
	r->qga_handle = e->handle;
	g_autoptr(GError) err = NULL;
	if (!qga_exec(e, q, r, &err)) {
		req_free(r);
		exec_failed(e, err->message);
	}
}

static void cmd_exec_input(ControlClient *c, JsonNode *id, JsonObject *args)
{
	SvExec *e = owned_exec(c, id, args, "exec-input");
	if (!e)
		return;
	if (e->qga && e->qga_args) {
		qga_input(c, id, args, e);
		return;
	}
	if (e->qga) {
		sv_control_reply_error(c, id, "GenericError",
				       "exec-input: qemu-ga took this command's stdin at its start");
		return;
	}
	static const char *const keep[] = { "handle", "data-b64", "eof", NULL };
	g_autoptr(JsonObject) a = pick(args, keep);
	forward(c, id, "grain-exec-input", a);
}

/*
 * @cmd for a command this connection started, passed to grainvm-agent as
 * @agent_cmd with the members in @keep; @no_qga says why qemu-ga cannot.
 */
static void forward_owned(ControlClient *c, JsonNode *id, JsonObject *args, const char *cmd,
			  const char *agent_cmd, const char *const *keep, const char *no_qga)
{
	SvExec *e = owned_exec(c, id, args, cmd);
	if (!e)
		return;
	if (e->qga) {
		sv_control_reply_error(c, id, "GenericError", "%s: %s", cmd, no_qga);
		return;
	}
	g_autoptr(JsonObject) a = pick(args, keep);
	forward(c, id, agent_cmd, a);
}

static void cmd_exec_signal(ControlClient *c, JsonNode *id, JsonObject *args)
{
	static const char *const keep[] = { "handle", "signal", NULL };
	forward_owned(c, id, args, "exec-signal", "grain-exec-signal", keep,
		      "qemu-ga cannot signal a command it runs");
}

static void cmd_exec_resize(ControlClient *c, JsonNode *id, JsonObject *args)
{
	static const char *const keep[] = { "handle", "rows", "cols", NULL };
	forward_owned(c, id, args, "exec-resize", "grain-exec-resize", keep,
		      "qemu-ga runs commands without a terminal");
}

/* ---- build ---------------------------------------------------------------------- */

static void follower_remove(Supervisor *sv, guint i)
{
	SvFollower *f = g_ptr_array_index(sv->followers, i);
	f->client->streams--;
	sv_client_unref(f->client);
	g_ptr_array_remove_index(sv->followers, i);
	g_free(f);
}

static void on_reattached(GvQmpClient *client, JsonNode *ret, const GError *error, gpointer data)
{
	Supervisor *sv = data;
	sv->reattach_pending = FALSE;
	g_autoptr(GError) bad = NULL;
	JsonObject *o = error ? NULL : gv_json_node_object(ret, SV_PEER_AGENT, "grain-build-attach's reply", &bad);
	gint64 handle = -1;
	if (o && gv_json_get_int(o, SV_PEER_AGENT, "handle", GV_JSON_REQUIRED, 0, G_MAXINT32,
				 &handle, &bad))
		sv->build_handle = handle;
	else if (bad)
		sv_protocol_error(sv, bad);
}

/* Point the agent's attachment at the smallest offset a follower needs. */
static void reattach(Supervisor *sv)
{
	if (sv->reattach_pending || !sv->followers->len || !sv_agent_usable(sv))
		return;
	gint64 from = G_MAXINT64;
	for (guint i = 0; i < sv->followers->len; i++)
		from = MIN(from, ((SvFollower *)g_ptr_array_index(sv->followers, i))->next);
	g_autoptr(JsonObject) a = json_object_new();
	json_object_set_int_member(a, "from-offset", from);
	sv->reattach_pending = gv_qmp_client_call(sv->agent.client, "grain-build-attach", a,
						  AGENT_CALL_MS, on_reattached, sv, NULL);
}

static void on_build_attached(GvQmpClient *client, JsonNode *ret, const GError *error,
			      gpointer data)
{
	Req *r = data;
	Supervisor *sv = r->client->sv;
	g_autoptr(GError) bad = NULL;
	JsonObject *o = error ? NULL : gv_json_node_object(ret, SV_PEER_AGENT, "grain-build-attach's reply", &bad);
	gint64 handle = -1;
	const char *state = "unknown";
	sv->reattach_pending = FALSE;
	if (o && (!gv_json_get_int(o, SV_PEER_AGENT, "handle", GV_JSON_REQUIRED, 0, G_MAXINT32,
				   &handle, &bad) ||
		  !gv_json_get_string(o, SV_PEER_AGENT, "state", GV_JSON_OPTIONAL, &state, &bad)))
		o = NULL;
	if (!o) {
		if (bad)
			sv_protocol_error(sv, bad);
		sv_control_reply(r->client, r->id, NULL, error ? error : bad);
		req_free(r);
		return;
	}
	if (handle != sv->build_handle) {
		/* Another build: whoever followed the old one has had its end. */
		while (sv->followers->len)
			follower_remove(sv, sv->followers->len - 1);
		sv->build_handle = handle;
	}
	g_autoptr(JsonObject) reply = json_object_new();
	json_object_set_int_member(reply, "handle", handle);
	json_object_set_int_member(reply, "offset", r->from);
	json_object_set_string_member(reply, "state", state);
	g_autoptr(JsonNode) n = json_node_init_object(json_node_alloc(), json_object_ref(reply));
	sv_control_reply(r->client, r->id, n, NULL);
	if (!r->client->closed) {
		SvFollower *f = g_new0(SvFollower, 1);
		f->client = sv_client_ref(r->client);
		f->next = r->from;
		r->client->streams++;
		g_ptr_array_add(sv->followers, f);
	}
	req_free(r);
}

static void cmd_build_attach(ControlClient *c, JsonNode *id, JsonObject *args)
{
	Supervisor *sv = c->sv;
	gint64 from = 0;
	if (refuse_if_paused(c, id, "build-attach"))
		return;
	g_autoptr(GError) why = NULL;
	if (!gv_json_get_int(args, SV_PEER_CONTROL, "from-offset", GV_JSON_OPTIONAL, 0, G_MAXINT64,
			     &from, &why)) {
		sv_control_reply_error(c, id, "GenericError", "build-attach: %s", why->message);
		return;
	}
	if (!sv_agent_usable(sv)) {
		forward(c, id, "grain-build-attach", NULL); /* says why */
		return;
	}
	/* Attach from the smallest offset anyone needs, this client included. */
	gint64 at = from;
	for (guint i = 0; i < sv->followers->len; i++)
		at = MIN(at, ((SvFollower *)g_ptr_array_index(sv->followers, i))->next);
	g_autoptr(JsonObject) a = json_object_new();
	json_object_set_int_member(a, "from-offset", at);
	Req *r = req_new(c, id);
	r->from = from;
	g_autoptr(GError) err = NULL;
	if (!gv_qmp_client_call(sv->agent.client, "grain-build-attach", a, AGENT_CALL_MS,
				on_build_attached, r, &err)) {
		sv_control_reply(c, id, NULL, err);
		req_free(r);
		return;
	}
	sv->reattach_pending = TRUE;
}

static void cmd_build_start(ControlClient *c, JsonNode *id, JsonObject *args)
{
	g_autoptr(GError) why = NULL;
	if (refuse_if_paused(c, id, "build-start"))
		return;
	if (!strv_member(args, "command", TRUE, &why) || !strv_member(args, "env", FALSE, &why)) {
		sv_control_reply_error(c, id, "GenericError", "build-start: %s", why->message);
		return;
	}
	static const char *const keep[] = { "command", "cwd", "env", NULL };
	g_autoptr(JsonObject) a = pick(args, keep);
	forward(c, id, "grain-build-start", a);
}

static void cmd_build_status(ControlClient *c, JsonNode *id, JsonObject *args)
{
	static const char *const keep[] = { "tail-bytes", NULL };
	if (refuse_if_paused(c, id, "build-status"))
		return;
	g_autoptr(JsonObject) a = pick(args, keep);
	forward(c, id, "grain-build-status", a);
}

/*
 * A grain-exit event as the client gets it: only the members the protocol
 * has, each of the right type (others are left out, not passed on).
 */
JsonObject *sv_exec_exit_event(JsonObject *data)
{
	JsonObject *d = json_object_new();
	static const char *const ints[] = { "handle", "pid", "exitcode", "signal", "log-size" };
	static const char *const bools[] = { "out-truncated", "err-truncated", "log-truncated" };
	static const char *const strs[] = { "error", "state" };
	for (gsize i = 0; i < G_N_ELEMENTS(ints); i++) {
		gint64 v;
		if (gv_json_get_int(data, SV_PEER_AGENT, ints[i], GV_JSON_REQUIRED, 0, G_MAXINT64, &v,
				    NULL))
			json_object_set_int_member(d, ints[i], v);
	}
	for (gsize i = 0; i < G_N_ELEMENTS(bools); i++) {
		gboolean v;
		if (gv_json_get_bool(data, SV_PEER_AGENT, bools[i], GV_JSON_REQUIRED, &v, NULL))
			json_object_set_boolean_member(d, bools[i], v);
	}
	for (gsize i = 0; i < G_N_ELEMENTS(strs); i++) {
		const char *v;
		if (gv_json_get_string(data, SV_PEER_AGENT, strs[i], GV_JSON_REQUIRED, &v, NULL))
			json_object_set_string_member(d, strs[i], v);
	}
	double dur;
	if (gv_json_get_double(data, SV_PEER_AGENT, "duration", GV_JSON_REQUIRED, &dur, NULL))
		json_object_set_double_member(d, "duration", dur);
	return d;
}

/* A grain-output event of an exec, checked; NULL with @error when it lies. */
JsonObject *sv_exec_output_event(JsonObject *data, GError **error)
{
	gint64 handle = 0, seq = 0;
	const char *stream = NULL, *b64 = NULL;
	if (!gv_json_get_int(data, SV_PEER_AGENT, "handle", GV_JSON_REQUIRED, 0, G_MAXINT32,
			     &handle, error) ||
	    !gv_json_get_int(data, SV_PEER_AGENT, "seq", GV_JSON_REQUIRED, 0, G_MAXINT64, &seq,
			     error) ||
	    !gv_json_get_string(data, SV_PEER_AGENT, "stream", GV_JSON_REQUIRED, &stream, error) ||
	    !gv_json_get_string(data, SV_PEER_AGENT, "data-b64", GV_JSON_REQUIRED, &b64, error))
		return NULL;
	if (strcmp(stream, "stdout") && strcmp(stream, "stderr")) {
		g_set_error(error, GV_QMP_ERROR, GV_QMP_ERROR_PROTOCOL,
			    "%s: grain-output names an unknown stream", SV_PEER_AGENT);
		return NULL;
	}
	/* Not what the agent sends: dropped, the seq gap tells. */
	if (strlen(b64) > EVENT_B64_MAX) {
		g_set_error(error, GV_QMP_ERROR, GV_QMP_ERROR_PROTOCOL,
			    "%s: grain-output carries more than %u bytes of base64", SV_PEER_AGENT,
			    EVENT_B64_MAX);
		return NULL;
	}
	JsonObject *d = json_object_new();
	json_object_set_int_member(d, "handle", handle);
	json_object_set_int_member(d, "seq", seq);
	json_object_set_string_member(d, "stream", stream);
	json_object_set_string_member(d, "data-b64", b64);
	return d;
}

/* A log event of the followed build: hand each follower what it lacks. */
static void build_output(Supervisor *sv, JsonObject *data)
{
	gint64 off = 0;
	const char *b64 = NULL;
	g_autoptr(GError) bad = NULL;
	if (!gv_json_get_int(data, SV_PEER_AGENT, "offset", GV_JSON_REQUIRED, 0, G_MAXINT64 / 2,
			     &off, &bad) ||
	    !gv_json_get_string(data, SV_PEER_AGENT, "data-b64", GV_JSON_REQUIRED, &b64, &bad) ||
	    strlen(b64) > EVENT_B64_MAX) {
		sv_protocol_error(sv, bad);
		return;
	}
	gsize len = 0;
	g_autofree guchar *bytes = g_base64_decode(b64, &len);
	gboolean gap = FALSE;
	for (guint i = 0; i < sv->followers->len; i++) {
		SvFollower *f = g_ptr_array_index(sv->followers, i);
		if (f->next < off) {
			gap = TRUE; /* it missed bytes: fetch them again */
			continue;
		}
		if (f->next >= off + (gint64)len)
			continue; /* it has these already */
		gsize skip = (gsize)(f->next - off);
		g_autofree char *slice = g_base64_encode(bytes + skip, len - skip);
		JsonObject *d = json_object_new();
		json_object_set_int_member(d, "handle", sv->build_handle);
		json_object_set_string_member(d, "stream", "log");
		json_object_set_int_member(d, "offset", f->next);
		json_object_set_string_member(d, "data-b64", slice);
		send_event(f->client, "grain-output", d);
		f->next = off + (gint64)len;
	}
	if (gap)
		reattach(sv);
}

/* The followed build ended and the agent has sent all of its log. */
static void build_exit(Supervisor *sv, JsonObject *data)
{
	gint64 size = 0;
	g_autoptr(GError) bad = NULL;
	if (!gv_json_get_int(data, SV_PEER_AGENT, "log-size", GV_JSON_OPTIONAL, 0, G_MAXINT64 / 2,
			     &size, &bad)) {
		sv_protocol_error(sv, bad);
		return;
	}
	gboolean gap = FALSE;
	for (guint i = sv->followers->len; i-- > 0;) {
		SvFollower *f = g_ptr_array_index(sv->followers, i);
		if (f->next < size) {
			gap = TRUE;
			continue;
		}
		send_event(f->client, "grain-exit", sv_exec_exit_event(data));
		follower_remove(sv, i);
	}
	if (gap)
		reattach(sv);
}

/* ---- events from the agent ---------------------------------------------------- */

static void on_agent_event(GvQmpClient *client, const char *event, JsonObject *data,
			   gint64 timestamp_us, gpointer user_data)
{
	Supervisor *sv = user_data;
	gboolean output = !strcmp(event, "grain-output");
	gint64 handle = 0;
	g_autoptr(GError) bad = NULL;
	if (!output && strcmp(event, "grain-exit"))
		return;
	if (!gv_json_get_int(data, SV_PEER_AGENT, "handle", GV_JSON_REQUIRED, 0, G_MAXINT32,
			     &handle, &bad)) {
		sv_protocol_error(sv, bad);
		return;
	}
	SvExec *e = g_hash_table_lookup(sv->execs, &handle);
	if (e && !e->qga) {
		/* Only what the protocol says goes on to the client, checked. */
		JsonObject *clean = output ? sv_exec_output_event(data, &bad) : sv_exec_exit_event(data);
		if (!clean)
			sv_protocol_error(sv, bad); /* dropped: the seq gap tells */
		else if (e->owner)
			send_event(e->owner, event, clean);
		else
			json_object_unref(clean);
		if (!output)
			g_hash_table_remove(sv->execs, &handle);
	} else if (handle == sv->build_handle && sv->followers->len) {
		if (output)
			build_output(sv, data);
		else
			build_exit(sv, data);
	}
	sv_stream_backlog_changed(sv);
}

/* ---- wiring --------------------------------------------------------------------- */

/**
 * sv_stream_dispatch() - run a stream control command
 * @c: the client
 * @cmd: the command's name
 * @id: (nullable): its id
 * @args: (nullable): its arguments
 *
 * Return: FALSE when @cmd is not one of the stream commands.
 */
gboolean sv_stream_dispatch(ControlClient *c, const char *cmd, JsonNode *id, JsonObject *args)
{
	static const struct {
		const char *name;
		void (*run)(ControlClient *c, JsonNode *id, JsonObject *args);
	} table[] = {
		{ "exec-start", cmd_exec_start },
		{ "exec-input", cmd_exec_input },
		{ "exec-signal", cmd_exec_signal },
		{ "exec-resize", cmd_exec_resize },
		{ "build-start", cmd_build_start },
		{ "build-status", cmd_build_status },
		{ "build-attach", cmd_build_attach },
	};
	for (gsize i = 0; i < G_N_ELEMENTS(table); i++) {
		if (!strcmp(cmd, table[i].name)) {
			table[i].run(c, id, args);
			return TRUE;
		}
	}
	return FALSE;
}

/**
 * sv_stream_client_closed() - a control client went away
 * @sv: the supervisor
 * @c: the client, closed
 *
 * Its commands are hung up, its following ends; a pause it caused lifts.
 */
void sv_stream_client_closed(Supervisor *sv, ControlClient *c)
{
	if (!sv->execs)
		return;
	GHashTableIter it;
	gpointer v;
	g_hash_table_iter_init(&it, sv->execs);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		SvExec *e = v;
		if (e->owner != c)
			continue;
		if (e->qga)
			g_hash_table_iter_remove(&it); /* nobody wants its output */
		else
			exec_orphan(e);
	}
	for (guint i = sv->followers->len; i-- > 0;)
		if (((SvFollower *)g_ptr_array_index(sv->followers, i))->client == c)
			follower_remove(sv, i);
	if (sv->agent_paused)
		resume_check(sv);
}

/**
 * sv_stream_init() - set up stream routing once sv->agent.client exists
 * @sv: the supervisor
 */
void sv_stream_init(Supervisor *sv)
{
	sv->execs = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, exec_free);
	sv->followers = g_ptr_array_new();
	sv->build_handle = -1;
	if (sv->agent.client)
		gv_qmp_client_add_event_handler(sv->agent.client, NULL, on_agent_event, sv, NULL);
}

/**
 * sv_stream_free() - forget every stream
 * @sv: the supervisor
 */
void sv_stream_free(Supervisor *sv)
{
	g_clear_handle_id(&sv->backlog_timer, g_source_remove);
	g_clear_pointer(&sv->execs, g_hash_table_unref);
	if (sv->followers) {
		while (sv->followers->len)
			follower_remove(sv, sv->followers->len - 1);
		g_clear_pointer(&sv->followers, g_ptr_array_unref);
	}
}
