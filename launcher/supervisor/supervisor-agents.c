/* SPDX-License-Identifier: MIT */
/*
 * supervisor-agents.c - the agent links: grainvm-agent and qemu-ga, one
 * state machine; qemu-ga as the fallback agent; status through whichever
 * agent answers
 *
 * Every VM has two virtio-serial ports: grainvm-agent's
 * (org.grainvm.agent.0, chardev "agent") and qemu-ga's well-known one
 * (org.qemu.guest_agent.0, chardev "qga", device qga0).  The default guest
 * runs grainvm-agent; a distribution may run only its own qemu-ga.  The
 * supervisor keeps a connection to both and prefers grainvm-agent: only
 * when it does not answer is qemu-ga used, for readiness, status, `down`
 * (guest-shutdown) and `exec` (guest-exec, output at exit; see
 * supervisor-stream.c).
 *
 * Readiness through qemu-ga: its guest-get-fsinfo leaves out virtual
 * file systems such as 9p (measured with Debian's 7.2), so the shares are
 * checked by reading the guest's /proc/self/mounts with guest-file-open
 * and guest-file-read.  The result is shaped like grain-status (agent,
 * version, mounts[]) so that `status` prints either the same way and says
 * which agent answered.
 *
 * The link state machine (SvLink, one per port) is the same for both:
 *
 *   port closed --VSERPORT_CHANGE open--> unsynced --handshake ok--> synced
 *   synced --probe--> facts: ready when every expected share is mounted,
 *                     else probe again every poll_ms until ready
 *   a failed handshake or probe: the problem is noted (for the ready
 *   timeout's message), the link drops to unsynced and is tried again
 *
 * The two differ only in their probe (grain-status, or guest-thaw first
 * after a restore; qemu-ga: guest-info and the mount table) and in that
 * qemu-ga's facts and problems count only while grainvm-agent is silent.
 * Every fact an agent sends goes through sv_agent_facts() first: only the
 * members status shows, each of the right type and bounded, reach
 * state.json and the CLI.
 */
#include "supervisor/supervisor-priv.h"

#include <string.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "gv-error.h"

/* A guest agent answers guest-sync-delimited in milliseconds; 5 s allows for TCG under load. */
#define LINK_HANDSHAKE_MS 5000
#define QGA_COMMAND_MS 5000
/* grain-status is cheap and ready should be seen soon; qemu-ga's probe is
 * three round trips, so it is asked less often. */
#define AGENT_POLL_MS 200
#define QGA_POLL_MS 500
/* One read of /proc/self/mounts: far more than a guest's mount table. */
#define QGA_MOUNTS_MAX 65536
#define STATUS_REFRESH_MS 2000
#define BUILD_TAIL_BYTES 2048

/* ---- a qemu-ga probe: guest-info, then the mount table ---------------------- */

typedef void (*ProbeDone)(Supervisor *sv, JsonObject *status, const GError *error,
			  gpointer data);

typedef struct {
	Supervisor *sv;
	GvQmpClient *qga;  /* held for the probe's life */
	char *version;
	gint64 handle;
	ProbeDone done;
	gpointer data;
} Probe;

static void probe_finish(Probe *p, JsonObject *status, GError *error /* consumed */)
{
	p->done(p->sv, status, error, p->data);
	g_clear_error(&error);
	gv_qmp_client_unref(p->qga);
	g_free(p->version);
	g_free(p);
}

/* "/mnt/a\040b" (octal escapes of getmntent) to "/mnt/a b". */
static char *unescape_mount(const char *s)
{
	GString *o = g_string_new(NULL);
	for (const char *p = s; *p; p++) {
		if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' && p[2] <= '7' &&
		    p[3] >= '0' && p[3] <= '7') {
			g_string_append_c(o, (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0')));
			p += 3;
		} else {
			g_string_append_c(o, *p);
		}
	}
	return g_string_free(o, FALSE);
}

/*
 * The grain-status "mounts" array from a guest's /proc/self/mounts: the
 * expected shares first (mounted or not), then any other 9p mount.
 */
static JsonArray *mounts_from_table(Supervisor *sv, const char *table)
{
	JsonArray *out = json_array_new();
	g_auto(GStrv) lines = g_strsplit(table, "\n", -1);
	g_autoptr(GPtrArray) found = g_ptr_array_new_with_free_func((GDestroyNotify)json_object_unref);

	for (char **l = lines; *l; l++) {
		g_auto(GStrv) f = g_strsplit(*l, " ", 5);
		if (g_strv_length(f) < 4 || strcmp(f[2], "9p"))
			continue;
		JsonObject *m = json_object_new();
		g_autofree char *mp = unescape_mount(f[1]);
		json_object_set_string_member(m, "tag", f[0]);
		json_object_set_string_member(m, "mount-point", mp);
		json_object_set_boolean_member(m, "mounted", TRUE);
		json_object_set_boolean_member(m, "writable", g_str_has_prefix(f[3], "rw"));
		g_ptr_array_add(found, m);
	}
	for (guint i = 0; i < sv->expected_tags->len; i++) {
		const char *tag = g_ptr_array_index(sv->expected_tags, i);
		JsonObject *hit = NULL;
		for (guint j = 0; j < found->len && !hit; j++) {
			JsonObject *m = g_ptr_array_index(found, j);
			if (!strcmp(gv_json_string_or(m, "tag", ""), tag))
				hit = m;
		}
		if (hit) {
			json_object_set_boolean_member(hit, "expected", TRUE);
			json_array_add_object_element(out, json_object_ref(hit));
			g_ptr_array_remove(found, hit);
			continue;
		}
		JsonObject *m = json_object_new();
		json_object_set_string_member(m, "tag", tag);
		json_object_set_boolean_member(m, "expected", TRUE);
		json_object_set_boolean_member(m, "mounted", FALSE);
		json_object_set_boolean_member(m, "writable", FALSE);
		json_array_add_object_element(out, m);
	}
	for (guint j = 0; j < found->len; j++) {
		JsonObject *m = g_ptr_array_index(found, j);
		json_object_set_boolean_member(m, "expected", FALSE);
		json_array_add_object_element(out, json_object_ref(m));
	}
	return out;
}

static void on_probe_close(GvQmpClient *client, JsonNode *ret, const GError *error, gpointer data)
{
	/* The handle is closed or lost; nothing depends on it. */
}

static void on_probe_read(GvQmpClient *client, JsonNode *ret, const GError *error, gpointer data)
{
	Probe *p = data;
	g_autoptr(JsonObject) close_args = json_object_new();
	json_object_set_int_member(close_args, "handle", p->handle);
	gv_qmp_client_call(client, "guest-file-close", close_args, QGA_COMMAND_MS,
			   on_probe_close, NULL, NULL);
	if (error) {
		probe_finish(p, NULL, g_error_copy(error));
		return;
	}
	GError *bad = NULL;
	const char *b64 = NULL;
	JsonObject *o = gv_json_node_object(ret, SV_PEER_QGA, "guest-file-read's reply", &bad);
	if (!o || !gv_json_get_string(o, SV_PEER_QGA, "buf-b64", GV_JSON_REQUIRED, &b64, &bad)) {
		probe_finish(p, NULL, bad);
		return;
	}
	gsize len = 0;
	g_autofree guchar *bytes = g_base64_decode(b64, &len);
	g_autofree char *table = g_strndup((const char *)bytes, len);
	g_autoptr(JsonObject) st = json_object_new();
	json_object_set_string_member(st, "agent", "qemu-ga");
	json_object_set_string_member(st, "version", p->version ? p->version : "");
	json_object_set_array_member(st, "mounts", mounts_from_table(p->sv, table));
	probe_finish(p, st, NULL);
}

static void on_probe_open(GvQmpClient *client, JsonNode *ret, const GError *error, gpointer data)
{
	Probe *p = data;
	if (error || !ret || !JSON_NODE_HOLDS_VALUE(ret) ||
	    json_node_get_value_type(ret) != G_TYPE_INT64) {
		probe_finish(p, NULL, error ? g_error_copy(error)
			     : g_error_new(GV_QMP_ERROR, GV_QMP_ERROR_PROTOCOL,
					   "qemu-ga: guest-file-open returned no handle"));
		return;
	}
	p->handle = json_node_get_int(ret);
	g_autoptr(JsonObject) args = json_object_new();
	json_object_set_int_member(args, "handle", p->handle);
	json_object_set_int_member(args, "count", QGA_MOUNTS_MAX);
	g_autoptr(GError) err = NULL;
	if (!gv_qmp_client_call(client, "guest-file-read", args, QGA_COMMAND_MS, on_probe_read, p,
				&err))
		probe_finish(p, NULL, g_steal_pointer(&err));
}

static void on_probe_info(GvQmpClient *client, JsonNode *ret, const GError *error, gpointer data)
{
	Probe *p = data;
	if (error) {
		probe_finish(p, NULL, g_error_copy(error));
		return;
	}
	GError *bad = NULL;
	const char *version = "";
	JsonObject *o = gv_json_node_object(ret, SV_PEER_QGA, "guest-info's reply", &bad);
	if (!o || !gv_json_get_string(o, SV_PEER_QGA, "version", GV_JSON_OPTIONAL, &version, &bad)) {
		probe_finish(p, NULL, bad);
		return;
	}
	p->version = g_strdup(version);
	g_autoptr(JsonObject) args = json_object_new();
	json_object_set_string_member(args, "path", "/proc/self/mounts");
	json_object_set_string_member(args, "mode", "r");
	g_autoptr(GError) err = NULL;
	if (!gv_qmp_client_call(client, "guest-file-open", args, QGA_COMMAND_MS, on_probe_open, p,
				&err))
		probe_finish(p, NULL, g_steal_pointer(&err));
}

/* Ask qemu-ga for its version and the guest's 9p mounts; @done gets a
 * grain-status-shaped object or an error. */
static void probe_start(Supervisor *sv, ProbeDone done, gpointer data)
{
	Probe *p = g_new0(Probe, 1);
	p->sv = sv;
	p->qga = gv_qmp_client_ref(sv->qga.client);
	p->done = done;
	p->data = data;
	g_autoptr(GError) err = NULL;
	if (!gv_qmp_client_call(sv->qga.client, "guest-info", NULL, QGA_COMMAND_MS, on_probe_info, p, &err))
		probe_finish(p, NULL, g_steal_pointer(&err));
}

/* ---- the link state machine ------------------------------------------------------- */

/*
 * An agent's facts as status shows them: every member checked and bounded,
 * so that a lying guest cannot put other types, huge strings or huge
 * arrays into state.json or in front of the CLI.
 */
/* A mount table bigger than this is no guest grainvm starts (the agent tracks 32). */
#define FACTS_MOUNTS_MAX 64
/* Tags, paths, versions and messages: far below this; longer is a lie. */
#define FACTS_STRING_MAX 4096
/* 9p options are a handful of key=value pairs. */
#define FACTS_OPTIONS_MAX 32

static gboolean copy_string(JsonObject *from, JsonObject *to, const char *peer,
			    const char *member, GError **error)
{
	const char *v = NULL;
	if (!gv_json_get_string(from, peer, member, GV_JSON_OPTIONAL, &v, error))
		return FALSE;
	if (!v)
		return TRUE;
	if (strlen(v) > FACTS_STRING_MAX) {
		g_set_error(error, GV_QMP_ERROR, GV_QMP_ERROR_PROTOCOL,
			    "%s: member \"%s\" is longer than %d bytes", peer, member,
			    FACTS_STRING_MAX);
		return FALSE;
	}
	json_object_set_string_member(to, member, v);
	return TRUE;
}

static gboolean copy_bool(JsonObject *from, JsonObject *to, const char *peer,
			  const char *member, GError **error)
{
	gboolean v = FALSE;
	if (!gv_json_get_bool(from, peer, member, GV_JSON_OPTIONAL, &v, error))
		return FALSE;
	if (gv_json_has(from, member))
		json_object_set_boolean_member(to, member, v);
	return TRUE;
}

/* A share's 9p options: scalar members only (strings, integers, flags). */
static JsonObject *facts_options(JsonObject *from, const char *peer, GError **error)
{
	JsonObject *to = json_object_new();
	JsonObjectIter it;
	const char *name;
	JsonNode *node;
	guint n = 0;
	json_object_iter_init(&it, from);
	while (json_object_iter_next(&it, &name, &node)) {
		if (++n > FACTS_OPTIONS_MAX || strlen(name) > FACTS_STRING_MAX ||
		    !JSON_NODE_HOLDS_VALUE(node) ||
		    (json_node_get_value_type(node) == G_TYPE_STRING &&
		     strlen(json_node_get_string(node)) > FACTS_STRING_MAX)) {
			g_set_error(error, GV_QMP_ERROR, GV_QMP_ERROR_PROTOCOL,
				    "%s: a share's \"options\" are not a small set of values", peer);
			json_object_unref(to);
			return NULL;
		}
		json_object_set_member(to, name, json_node_copy(node));
	}
	return to;
}

/**
 * sv_agent_facts() - check grain-status-shaped facts from an agent
 * @raw: (nullable): what the agent sent
 * @peer: the agent, for messages
 * @error: GV_QMP_ERROR_PROTOCOL naming the member that lies
 *
 * Return: (transfer full) (nullable): a fresh object with only the members
 * status uses, each of the right type and bounded; NULL with @error.
 */
JsonObject *sv_agent_facts(JsonObject *raw, const char *peer, GError **error)
{
	g_autoptr(JsonObject) out = json_object_new();
	static const char *const strs[] = { "agent", "version", "hostname" };
	static const char *const bools[] = { "init", "ready", "quiesced" };
	if (!raw) {
		g_set_error(error, GV_QMP_ERROR, GV_QMP_ERROR_PROTOCOL, "%s: its status is no object",
			    peer);
		return NULL;
	}
	for (gsize i = 0; i < G_N_ELEMENTS(strs); i++)
		if (!copy_string(raw, out, peer, strs[i], error))
			return NULL;
	for (gsize i = 0; i < G_N_ELEMENTS(bools); i++)
		if (!copy_bool(raw, out, peer, bools[i], error))
			return NULL;
	double uptime = -1;
	if (!gv_json_get_double(raw, peer, "uptime", GV_JSON_OPTIONAL, &uptime, error))
		return NULL;
	if (uptime >= 0)
		json_object_set_double_member(out, "uptime", uptime);
	JsonArray *mounts = NULL;
	if (!gv_json_get_array(raw, peer, "mounts", GV_JSON_OPTIONAL, FACTS_MOUNTS_MAX, &mounts,
			       error))
		return NULL;
	JsonArray *clean = json_array_new();
	json_object_set_array_member(out, "mounts", clean);
	for (guint i = 0; mounts && i < json_array_get_length(mounts); i++) {
		JsonObject *m = gv_json_array_object_at(mounts, i);
		JsonObject *opts = NULL;
		if (!m) {
			g_set_error(error, GV_QMP_ERROR, GV_QMP_ERROR_PROTOCOL,
				    "%s: \"mounts\" holds something that is no object", peer);
			return NULL;
		}
		g_autoptr(JsonObject) c = json_object_new();
		if (!copy_string(m, c, peer, "tag", error) ||
		    !copy_string(m, c, peer, "mount-point", error) ||
		    !copy_string(m, c, peer, "error", error) ||
		    !copy_bool(m, c, peer, "expected", error) ||
		    !copy_bool(m, c, peer, "mounted", error) ||
		    !copy_bool(m, c, peer, "writable", error) ||
		    !gv_json_get_object(m, peer, "options", GV_JSON_OPTIONAL, &opts, error))
			return NULL;
		if (!json_object_has_member(c, "tag")) {
			g_set_error(error, GV_QMP_ERROR, GV_QMP_ERROR_PROTOCOL,
				    "%s: a mount has no \"tag\"", peer);
			return NULL;
		}
		if (opts) {
			JsonObject *o = facts_options(opts, peer, error);
			if (!o)
				return NULL;
			json_object_set_object_member(c, "options", o);
		}
		json_array_add_object_element(clean, g_steal_pointer(&c));
	}
	return g_steal_pointer(&out);
}

static gboolean on_link_poll(gpointer data)
{
	SvLink *l = data;
	l->poll = 0;
	sv_link_check(l->sv, l);
	return G_SOURCE_REMOVE;
}

static void link_poll_later(Supervisor *sv, SvLink *l)
{
	if (sv->phase < GV_PHASE_READY && l->port_open && !l->poll)
		l->poll = g_timeout_add(l->poll_ms, on_link_poll, l);
}

/* A problem of @l, unless it is the fallback and grainvm-agent answers. */
static void link_problem(Supervisor *sv, SvLink *l, char *problem /* consumed */)
{
	if (l->fallback && sv_agent_usable(sv)) {
		g_free(problem);
		return;
	}
	sv_set_problem(sv, problem);
}

/**
 * sv_link_probed() - a link's probe has answered
 * @sv: the supervisor
 * @link: the link
 * @reply: (nullable): the facts (grain-status-shaped), unchecked
 * @error: (nullable): why there are none
 *
 * The facts are checked (sv_agent_facts()); a lie counts as no answer.
 */
void sv_link_probed(Supervisor *sv, SvLink *l, JsonNode *reply, const GError *error)
{
	g_autoptr(GError) bad = NULL;
	g_autoptr(JsonObject) facts = NULL;
	l->in_flight = FALSE;
	if (sv->phase >= GV_PHASE_STOPPING)
		return;
	if (!error) {
		facts = sv_agent_facts(gv_json_node_object_or_null(reply), l->name, &bad);
		if (!facts) {
			sv_protocol_error(sv, bad);
			error = bad;
		}
	}
	if (!facts) {
		link_problem(sv, l, g_strdup_printf("%s did not answer: %s", l->name,
						    error->message));
		/* Wherever its stream is now, only a resync tells. */
		l->synced = FALSE;
		link_poll_later(sv, l);
		return;
	}
	/* grainvm-agent's own answer wins whenever it has one. */
	if (l->fallback && sv_agent_usable(sv))
		return;
	g_clear_pointer(&sv->grain_status, json_object_unref);
	sv->grain_status = g_steal_pointer(&facts);
	char *why = NULL;
	if (sv->phase < GV_PHASE_READY && sv_mounts_ready(sv, sv->grain_status, &why)) {
		sv_guest_shares_ready(sv);
		return;
	}
	if (why)
		link_problem(sv, l, l->fallback ? g_strdup_printf("(%s) %s", l->name, why)
					       : g_strdup(why));
	g_free(why);
	link_poll_later(sv, l);
}

static void on_link_handshake(GObject *src, GAsyncResult *res, gpointer data)
{
	SvLink *l = data;
	Supervisor *sv = l->sv;
	g_autoptr(GError) err = NULL;
	l->in_flight = FALSE;
	if (!gv_qmp_client_handshake_finish(l->client, res, NULL, &err)) {
		link_problem(sv, l, g_strdup_printf("%s did not answer guest-sync-delimited: %s",
						    l->name, err->message));
		link_poll_later(sv, l);
		return;
	}
	l->synced = TRUE;
	if (l == &sv->agent)
		sv_guest_agent_synced(sv);
	sv_link_check(sv, l);
}

/**
 * sv_link_check() - handshake a link if needed, else probe it
 * @sv: the supervisor
 * @link: the link
 */
void sv_link_check(Supervisor *sv, SvLink *l)
{
	if (!l->client || l->in_flight || gv_qmp_client_is_closed(l->client))
		return;
	l->in_flight = TRUE;
	if (!l->synced)
		gv_qmp_client_handshake_async(l->client, LINK_HANDSHAKE_MS, NULL, on_link_handshake,
					      l);
	else
		l->probe(sv, l);
}

/**
 * sv_link_port_changed() - the guest opened or closed an agent port
 * @sv: the supervisor
 * @port: the port's id in QMP's VSERPORT_CHANGE
 * @open: its new state
 */
void sv_link_port_changed(Supervisor *sv, const char *port, gboolean open)
{
	SvLink *l = !strcmp(port, sv->agent.port) ? &sv->agent
		    : !strcmp(port, sv->qga.port) ? &sv->qga : NULL;
	/* (A restored guest's port was open all along: its replayed "open"
	 * after cont is no new agent.) */
	if (!l || (sv->restore && open && l->port_open))
		return;
	l->port_open = open;
	/* A reopened port is a restarted agent: resync before trusting it. */
	l->synced = FALSE;
	if (open)
		sv_link_check(sv, l);
	else
		link_problem(sv, l, g_strdup_printf("the guest closed %s's port", l->name));
}

static void on_grain_status(GObject *src, GAsyncResult *res, gpointer data)
{
	SvLink *l = data;
	g_autoptr(GError) err = NULL;
	g_autoptr(JsonNode) r = gv_qmp_client_execute_finish(l->client, res, &err);
	sv_link_probed(l->sv, l, r, err);
}

/* grainvm-agent's probe: grain-status (grain-thaw, same answer, first after a restore). */
static void agent_probe(Supervisor *sv, SvLink *l)
{
	if (!sv_restore_thaw(sv)) {
		/* Host-driven mounts first: the grain-status after them sees them. */
		sv_guest_request_mounts(sv);
		gv_qmp_client_execute_async(l->client, "grain-status", NULL, LINK_HANDSHAKE_MS,
					    NULL, on_grain_status, l);
	}
}

static void on_qga_probed(Supervisor *sv, JsonObject *status, const GError *error, gpointer data)
{
	g_autoptr(JsonNode) n = status ? json_node_init_object(json_node_alloc(), status) : NULL;
	sv_link_probed(sv, &sv->qga, n, error);
}

/* qemu-ga's probe: guest-info and the guest's 9p mounts. */
static void qga_probe(Supervisor *sv, SvLink *l)
{
	probe_start(sv, on_qga_probed, NULL);
}

/**
 * sv_links_init() - set up both links (before their clients exist)
 * @sv: the supervisor
 */
void sv_links_init(Supervisor *sv)
{
	sv->agent = (SvLink){ .sv = sv, .name = SV_PEER_AGENT, .port = "agent0",
			      .poll_ms = AGENT_POLL_MS, .probe = agent_probe };
	sv->qga = (SvLink){ .sv = sv, .name = SV_PEER_QGA, .port = "qga0", .poll_ms = QGA_POLL_MS,
			    .fallback = TRUE, .probe = qga_probe };
}

/*
 * Give memory back after a large reply.  The reader frees its line buffer,
 * json-glib and the control client free theirs, but glibc keeps freed heap
 * (its mmap threshold rises to the largest block freed): measured after a
 * 16 MB reply, a supervisor held 21.8 MB against 5.7 MB idle.  By then
 * the reply has gone to its client; a second later is enough.
 */
#define TRIM_AFTER_S 1

static gboolean on_trim(gpointer data)
{
#ifdef __GLIBC__
	malloc_trim(0);
#endif
	return G_SOURCE_REMOVE;
}

/**
 * sv_link_large() - a command whose reply may be large starts or ends
 * @link: the link it goes over
 * @begin: TRUE when it is sent, FALSE when it is over
 *
 * The link's line cap is SV_LARGE_LINE_CAP while any such command is in
 * flight, SV_LINE_CAP otherwise.
 */
void sv_link_large(SvLink *l, gboolean begin)
{
	if (begin)
		l->large++;
	else if (l->large)
		l->large--;
	if (l->client)
		gv_qmp_client_set_max_line(l->client, l->large ? SV_LARGE_LINE_CAP : SV_LINE_CAP);
	if (!l->large && !begin)
		g_timeout_add_seconds(TRIM_AFTER_S, on_trim, NULL);
}

/**
 * sv_links_stop() - stop polling both links
 * @sv: the supervisor
 */
void sv_links_stop(Supervisor *sv)
{
	g_clear_handle_id(&sv->agent.poll, g_source_remove);
	g_clear_handle_id(&sv->qga.poll, g_source_remove);
}

/* ---- status, fresh from whichever agent answers ----------------------------------- */

typedef struct {
	ControlClient *client;
	JsonNode *id;
	JsonObject *build;   /* grain-build-status, when asked */
	char *note;
} StatusReq;

static void status_reply(Supervisor *sv, StatusReq *r)
{
	g_autoptr(JsonObject) st = sv_state_object(sv);
	if (r->build)
		json_object_set_object_member(st, "build", json_object_ref(r->build));
	if (r->note)
		json_object_set_string_member(st, "note", r->note);
	g_autoptr(JsonNode) n = json_node_init_object(json_node_alloc(), json_object_ref(st));
	sv_control_reply(r->client, r->id, n, NULL);
	sv_client_unref(r->client);
	if (r->id)
		json_node_unref(r->id);
	g_clear_pointer(&r->build, json_object_unref);
	g_free(r->note);
	g_free(r);
}

/*
 * grain-build-status as status shows it: the members it prints, checked;
 * the log tail bounded by what was asked for (base64 never, it is text).
 */
JsonObject *sv_build_facts(JsonObject *raw, GError **error)
{
	g_autoptr(JsonObject) out = json_object_new();
	const char *state = NULL, *tail = NULL;
	static const char *const ints[] = { "exit-code", "signal", "pid", "log-size" };
	double duration = -1;
	if (!gv_json_get_string(raw, SV_PEER_AGENT, "state", GV_JSON_REQUIRED, &state, error) ||
	    !gv_json_get_string(raw, SV_PEER_AGENT, "log-tail", GV_JSON_OPTIONAL, &tail, error) ||
	    !gv_json_get_double(raw, SV_PEER_AGENT, "duration", GV_JSON_OPTIONAL, &duration, error))
		return NULL;
	if (strlen(state) > 64 || (tail && strlen(tail) > BUILD_TAIL_BYTES)) {
		g_set_error(error, GV_QMP_ERROR, GV_QMP_ERROR_PROTOCOL,
			    "%s: grain-build-status sent more than it was asked for", SV_PEER_AGENT);
		return NULL;
	}
	json_object_set_string_member(out, "state", state);
	if (tail)
		json_object_set_string_member(out, "log-tail", tail);
	if (duration >= 0)
		json_object_set_double_member(out, "duration", duration);
	for (gsize i = 0; i < G_N_ELEMENTS(ints); i++) {
		gint64 v = -1;
		if (!gv_json_get_int(raw, SV_PEER_AGENT, ints[i], GV_JSON_OPTIONAL, 0, G_MAXINT64, &v,
				     error))
			return NULL;
		if (v >= 0)
			json_object_set_int_member(out, ints[i], v);
	}
	return g_steal_pointer(&out);
}

static void on_status_build(GvQmpClient *client, JsonNode *ret, const GError *error, gpointer data)
{
	StatusReq *r = data;
	g_autoptr(GError) bad = NULL;
	if (!error) {
		JsonObject *o = gv_json_node_object(ret, SV_PEER_AGENT, "grain-build-status' reply",
						    &bad);
		r->build = o ? sv_build_facts(o, &bad) : NULL;
		if (!r->build) {
			sv_protocol_error(r->client->sv, bad);
			r->note = g_strdup_printf("%s", bad->message);
		}
	}
	status_reply(r->client->sv, r);
}

static void on_status_grain(GvQmpClient *client, JsonNode *ret, const GError *error, gpointer data)
{
	StatusReq *r = data;
	Supervisor *sv = r->client->sv;
	g_autoptr(GError) bad = NULL;
	JsonObject *facts = error ? NULL
		: sv_agent_facts(gv_json_node_object_or_null(ret), SV_PEER_AGENT, &bad);
	if (facts) {
		g_clear_pointer(&sv->grain_status, json_object_unref);
		sv->grain_status = facts;
	} else if (error) {
		r->note = g_strdup_printf("grainvm-agent: %s", error->message);
	} else {
		sv_protocol_error(sv, bad);
		r->note = g_strdup(bad->message);
	}
	g_autoptr(JsonObject) args = json_object_new();
	json_object_set_int_member(args, "tail-bytes", BUILD_TAIL_BYTES);
	if (!gv_qmp_client_call(client, "grain-build-status", args, STATUS_REFRESH_MS,
				on_status_build, r, NULL))
		status_reply(sv, r);
}

/* The guest's addresses for status and `grainvm ip` (supervisor-net.c), then grain-status. */
static void on_status_interfaces(GvQmpClient *client, JsonNode *ret, const GError *error,
				 gpointer data)
{
	StatusReq *r = data;
	Supervisor *sv = r->client->sv;
	sv_net_set_interfaces(sv, ret);
	if (!gv_qmp_client_call(client, "grain-status", NULL, STATUS_REFRESH_MS, on_status_grain,
				r, NULL))
		status_reply(sv, r);
}

static void on_status_qga(Supervisor *sv, JsonObject *status, const GError *error, gpointer data)
{
	StatusReq *r = data;
	if (status) {
		g_clear_pointer(&sv->grain_status, json_object_unref);
		sv->grain_status = json_object_ref(status);
	} else {
		r->note = g_strdup_printf("qemu-ga: %s", error->message);
	}
	status_reply(sv, r);
}

/* qemu-ga's addresses (the same command, the same shape), then its probe. */
static void on_status_qga_interfaces(GvQmpClient *client, JsonNode *ret, const GError *error,
				     gpointer data)
{
	StatusReq *r = data;
	Supervisor *sv = r->client->sv;
	sv_net_set_interfaces(sv, ret);
	probe_start(sv, on_status_qga, r);
}

/**
 * sv_status_refresh() - answer `status` with fresh facts from the guest
 * @sv: the supervisor
 * @c: the asking client
 * @id: (nullable): the request's id
 *
 * grainvm-agent: grain-status and grain-build-status (as "build").
 * qemu-ga only: guest-network-get-interfaces (for status and `ip`), its
 * version and the guest's 9p mounts.  Either way
 * "agent.agent" names the agent that answered.  A failure still answers
 * with the state object, with a "note" saying what did not answer.
 */
void sv_status_refresh(Supervisor *sv, ControlClient *c, JsonNode *id)
{
	StatusReq *r = g_new0(StatusReq, 1);
	r->client = sv_client_ref(c);
	r->id = id ? json_node_copy(id) : NULL;
	if (sv->agent_paused) {
		/* Back-pressure (supervisor-stream.c): no reply could be read. */
		r->note = g_strdup("the agent's channel is held up by a client that does not read "
				   "its output; agent facts are from before");
	} else if (sv_agent_usable(sv)) {
		gboolean ifs = sv_net_wants_interfaces(sv);
		if (gv_qmp_client_call(sv->agent.client, ifs ? "guest-network-get-interfaces" : "grain-status",
				       NULL, STATUS_REFRESH_MS,
				       ifs ? on_status_interfaces : on_status_grain, r, NULL))
			return;
	} else if (sv_qga_usable(sv)) {
		if (sv_net_wants_interfaces(sv) &&
		    gv_qmp_client_call(sv->qga.client, "guest-network-get-interfaces", NULL,
				       STATUS_REFRESH_MS, on_status_qga_interfaces, r, NULL))
			return;
		probe_start(sv, on_status_qga, r);
		return;
	}
	status_reply(sv, r);
}
