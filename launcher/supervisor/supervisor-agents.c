/* SPDX-License-Identifier: MIT */
/*
 * supervisor-agents.c - qemu-ga as the fallback agent, and status through
 * whichever agent answers
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
 */
#include "supervisor/supervisor-priv.h"

#include <string.h>

#include "gv-error.h"

#define QGA_HANDSHAKE_MS 5000
#define QGA_COMMAND_MS 5000
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
			if (!strcmp(json_object_get_string_member(m, "tag"), tag))
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

static const char *ret_string(JsonNode *ret, const char *member)
{
	if (!ret || !JSON_NODE_HOLDS_OBJECT(ret))
		return NULL;
	return json_object_get_string_member_with_default(json_node_get_object(ret), member, NULL);
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
	const char *b64 = ret_string(ret, "buf-b64");
	gsize len = 0;
	g_autofree guchar *bytes = b64 ? g_base64_decode(b64, &len) : NULL;
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
			     : g_error_new(GV_ERROR, GV_ERROR_FAILED,
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
	p->version = g_strdup(ret_string(ret, "version"));
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
	p->qga = gv_qmp_client_ref(sv->qga);
	p->done = done;
	p->data = data;
	g_autoptr(GError) err = NULL;
	if (!gv_qmp_client_call(sv->qga, "guest-info", NULL, QGA_COMMAND_MS, on_probe_info, p, &err))
		probe_finish(p, NULL, g_steal_pointer(&err));
}

/* ---- readiness through qemu-ga ------------------------------------------------ */

static gboolean on_qga_poll(gpointer data)
{
	Supervisor *sv = data;
	sv->qga_poll = 0;
	sv_qga_check(sv);
	return G_SOURCE_REMOVE;
}

static void qga_poll_later(Supervisor *sv)
{
	if (sv->phase < GV_PHASE_READY && sv->qga_port_open && !sv->qga_poll)
		sv->qga_poll = g_timeout_add(QGA_POLL_MS, on_qga_poll, sv);
}

static void on_qga_probed(Supervisor *sv, JsonObject *status, const GError *error, gpointer data)
{
	sv->qga_in_flight = FALSE;
	if (sv->phase >= GV_PHASE_STOPPING)
		return;
	if (error) {
		if (!sv_agent_usable(sv))
			sv_set_problem(sv, g_strdup_printf("qemu-ga did not answer: %s",
							   error->message));
		qga_poll_later(sv);
		return;
	}
	/* grainvm-agent's own answer wins whenever it has one. */
	if (sv_agent_usable(sv))
		return;
	g_clear_pointer(&sv->grain_status, json_object_unref);
	sv->grain_status = json_object_ref(status);
	char *why = NULL;
	if (sv->phase < GV_PHASE_READY && sv_mounts_ready(sv, status, &why)) {
		sv_guest_shares_ready(sv);
		return;
	}
	if (why)
		sv_set_problem(sv, g_strdup_printf("(qemu-ga) %s", why));
	g_free(why);
	qga_poll_later(sv);
}

static void on_qga_handshake(GObject *src, GAsyncResult *res, gpointer data)
{
	Supervisor *sv = data;
	g_autoptr(GError) err = NULL;
	sv->qga_in_flight = FALSE;
	if (!gv_qmp_client_handshake_finish(sv->qga, res, NULL, &err)) {
		if (!sv_agent_usable(sv))
			sv_set_problem(sv, g_strdup_printf("qemu-ga did not answer "
							   "guest-sync-delimited: %s", err->message));
		qga_poll_later(sv);
		return;
	}
	sv->qga_synced = TRUE;
	sv_qga_check(sv);
}

/**
 * sv_qga_check() - sync qemu-ga if needed, then probe it for readiness
 * @sv: the supervisor
 *
 * Only while the VM is not ready yet: once ready, status asks on demand.
 */
void sv_qga_check(Supervisor *sv)
{
	if (!sv->qga || sv->qga_in_flight || gv_qmp_client_is_closed(sv->qga))
		return;
	if (sv->qga_synced && sv->phase >= GV_PHASE_READY)
		return;
	sv->qga_in_flight = TRUE;
	if (!sv->qga_synced)
		gv_qmp_client_handshake_async(sv->qga, QGA_HANDSHAKE_MS, NULL, on_qga_handshake, sv);
	else
		probe_start(sv, on_qga_probed, NULL);
}

/**
 * sv_qga_port_changed() - the guest opened or closed qemu-ga's port
 * @sv: the supervisor
 * @open: the port's new state (QMP VSERPORT_CHANGE of qga0)
 */
void sv_qga_port_changed(Supervisor *sv, gboolean open)
{
	sv->qga_port_open = open;
	/* A reopened port is a restarted qemu-ga: resync before trusting it. */
	sv->qga_synced = FALSE;
	if (open)
		sv_qga_check(sv);
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

static void on_status_build(GvQmpClient *client, JsonNode *ret, const GError *error, gpointer data)
{
	StatusReq *r = data;
	if (ret && JSON_NODE_HOLDS_OBJECT(ret))
		r->build = json_object_ref(json_node_get_object(ret));
	status_reply(r->client->sv, r);
}

static void on_status_grain(GvQmpClient *client, JsonNode *ret, const GError *error, gpointer data)
{
	StatusReq *r = data;
	Supervisor *sv = r->client->sv;
	if (ret && JSON_NODE_HOLDS_OBJECT(ret)) {
		g_clear_pointer(&sv->grain_status, json_object_unref);
		sv->grain_status = json_object_ref(json_node_get_object(ret));
	} else if (error) {
		r->note = g_strdup_printf("grainvm-agent: %s", error->message);
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
		if (gv_qmp_client_call(sv->agent, ifs ? "guest-network-get-interfaces" : "grain-status",
				       NULL, STATUS_REFRESH_MS,
				       ifs ? on_status_interfaces : on_status_grain, r, NULL))
			return;
	} else if (sv_qga_usable(sv)) {
		if (sv_net_wants_interfaces(sv) &&
		    gv_qmp_client_call(sv->qga, "guest-network-get-interfaces", NULL,
				       STATUS_REFRESH_MS, on_status_qga_interfaces, r, NULL))
			return;
		probe_start(sv, on_status_qga, r);
		return;
	}
	status_reply(sv, r);
}
