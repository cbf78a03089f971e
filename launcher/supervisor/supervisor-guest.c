/* SPDX-License-Identifier: MIT */
/*
 * supervisor-guest.c - what a distribution guest needs before it is ready
 *
 * Theory of operation
 * -------------------
 * The default guest runs grainvm-agent as init with its shares on the
 * kernel command line: the first grain-status already says ready.  A
 * distribution guest (Debian, NixOS on a disk) runs an agent as one
 * service among many, and three things differ there:
 *
 * Shares.  Once grainvm-agent answers, the supervisor sends grain-mount
 * for every [share] (tag, mount point, the spec's msize and cache) before
 * its grain-status, so the guest needs no fstab line.  A share the guest
 * mounted itself (NixOS module, fstab, the default guest's init) is left
 * as it is.  Commands on the agent's channel run in order, so the
 * grain-status that follows sees the mounts.  A mount that fails (the 9p
 * transport module not loaded yet while udev is still busy) is asked
 * again at most every MOUNT_RETRY_MS until ready.  An agent without
 * grain-mount (CommandNotFound) is never asked again: its guest mounts
 * the shares itself.  qemu-ga cannot mount, so its guests keep their
 * fstab line.
 *
 * ready=system.  With the shares mounted, "ready" can also wait for the
 * system: `systemctl is-system-running` through the agent (guest-exec,
 * which grainvm-agent and qemu-ga both have) until it says running or
 * degraded, then guest-network-get-interfaces until every card has a
 * routable address.  A guest without systemctl counts as up.
 *
 * Hints.  A guest that never opens an agent port would otherwise only be
 * explained when the ready timeout ends, minutes later.  At a fifth of
 * the timeout (at least HINT_MIN_S) the supervisor looks at what it has:
 * nothing on the serial console means firmware or console= trouble;
 * console output but no agent port means no agent runs, but only once the
 * console has been quiet for HINT_QUIET_S: a guest still printing is still
 * booting (a Debian guest under TCG on a loaded host took 105 s to start
 * its agent).  The hint goes to `up` (stderr) while it keeps waiting.
 */
#include "supervisor/supervisor-priv.h"

#include <string.h>

#include "gv-error.h"

#define MOUNT_TIMEOUT_MS 10000
#define MOUNT_RETRY_MS 1000
#define SYSTEM_POLL_MS 500
#define EXEC_TIMEOUT_MS 5000
/* A hint before a TCG boot through OVMF (30-40 s here) could have shown life is noise. */
#define HINT_MIN_S 20
/* No console output for this long: the boot has stalled, not slowed. */
#define HINT_QUIET_S 15
/* One `systemctl is-system-running` word; more is not systemd. */
#define STATE_MAX 64

struct SvGuest {
	gboolean no_grain_mount;   /* the agent answered CommandNotFound */
	gint64 mounts_asked_us;    /* 0: not asked since the last handshake */
	gboolean system_wanted;    /* [vm] ready=system */
	gboolean system_busy;      /* a check is under way */
	gboolean system_up;        /* systemd said running/degraded, or has none */
	guint system_timer;
	gint64 exec_pid;
	guint hint_timer;
	gboolean hinted;
	guint64 hint_console_bytes; /* console_bytes at the last look */
};

static SvGuest *guest(Supervisor *sv)
{
	if (!sv->guest)
		sv->guest = g_new0(SvGuest, 1);
	return sv->guest;
}

/* ---- grain-mount ---------------------------------------------------------------- */

static void on_grain_mount(GvQmpClient *client, JsonNode *ret, const GError *error,
			   gpointer data)
{
	Supervisor *sv = data;
	if (!error || sv->phase >= GV_PHASE_STOPPING)
		return;
	if (g_error_matches(error, GV_QMP_ERROR, GV_QMP_ERROR_COMMAND_NOT_FOUND)) {
		guest(sv)->no_grain_mount = TRUE;
		return;
	}
	sv_set_problem(sv, g_strdup_printf("grain-mount: %s", error->message));
}

/**
 * sv_guest_request_mounts() - ask grainvm-agent to mount every share
 * @sv: the supervisor; the agent has just been synced or polled
 *
 * Sends grain-mount for each share of the plan, the first time after a
 * handshake and then at most every MOUNT_RETRY_MS while not ready.
 */
void sv_guest_request_mounts(Supervisor *sv)
{
	SvGuest *g = guest(sv);
	gint64 now = g_get_monotonic_time();
	if (g->no_grain_mount || sv->restore || sv->phase >= GV_PHASE_READY ||
	    !sv_agent_usable(sv))
		return;
	if (g->mounts_asked_us && now - g->mounts_asked_us < MOUNT_RETRY_MS * 1000)
		return;
	g->mounts_asked_us = now;
	for (guint i = 0; i < sv->plan->shares->len; i++) {
		const GvPlanShare *s = g_ptr_array_index(sv->plan->shares, i);
		g_autoptr(JsonObject) args = json_object_new();
		g_autofree char *opts = g_strdup_printf("msize=%" G_GUINT64_FORMAT ",cache=%s%s",
							s->msize, s->cache, s->readonly ? ",ro" : "");
		json_object_set_string_member(args, "tag", s->tag);
		json_object_set_string_member(args, "mount-point", s->mount);
		json_object_set_string_member(args, "options", opts);
		gv_qmp_client_call(sv->agent.client, "grain-mount", args, MOUNT_TIMEOUT_MS, on_grain_mount,
				   sv, NULL);
	}
}

/** sv_guest_agent_synced() - a (re)started agent: its shares are asked for again */
void sv_guest_agent_synced(Supervisor *sv)
{
	guest(sv)->mounts_asked_us = 0;
}

/* ---- ready=system ----------------------------------------------------------------- */

static void system_check(Supervisor *sv);

static gboolean on_system_timer(gpointer data)
{
	Supervisor *sv = data;
	guest(sv)->system_timer = 0;
	system_check(sv);
	return G_SOURCE_REMOVE;
}

static void system_later(Supervisor *sv, char *why /* consumed */)
{
	SvGuest *g = guest(sv);
	g->system_busy = FALSE;
	if (why)
		sv_set_problem(sv, why);
	if (sv->phase < GV_PHASE_READY && !g->system_timer)
		g->system_timer = g_timeout_add(SYSTEM_POLL_MS, on_system_timer, sv);
}

/* The agent that answers: grainvm-agent first, the guest's qemu-ga else. */
static GvQmpClient *any_agent(Supervisor *sv)
{
	return sv_agent_usable(sv) ? sv->agent.client : sv_qga_usable(sv) ? sv->qga.client : NULL;
}

static void on_interfaces(GvQmpClient *client, JsonNode *ret, const GError *error, gpointer data)
{
	Supervisor *sv = data;
	if (sv->phase >= GV_PHASE_READY)
		return;
	if (error) {
		system_later(sv, g_strdup_printf("guest-network-get-interfaces: %s", error->message));
		return;
	}
	sv_net_set_interfaces(sv, ret);
	char *why = NULL;
	if (!sv_net_cards_addressed(sv, &why)) {
		system_later(sv, why);
		return;
	}
	guest(sv)->system_busy = FALSE;
	sv_become_ready(sv);
}

static void check_addresses(Supervisor *sv)
{
	GvQmpClient *ga = any_agent(sv);
	if (!sv_net_wants_interfaces(sv)) {
		guest(sv)->system_busy = FALSE;
		sv_become_ready(sv);
		return;
	}
	if (!ga || !gv_qmp_client_call(ga, "guest-network-get-interfaces", NULL, EXEC_TIMEOUT_MS,
				       on_interfaces, sv, NULL))
		system_later(sv, g_strdup("no agent answers guest-network-get-interfaces"));
}

static void on_exec_status(GvQmpClient *client, JsonNode *ret, const GError *error,
			   gpointer data);

static void ask_exec_status(Supervisor *sv, GvQmpClient *ga)
{
	g_autoptr(JsonObject) args = json_object_new();
	json_object_set_int_member(args, "pid", guest(sv)->exec_pid);
	if (!gv_qmp_client_call(ga, "guest-exec-status", args, EXEC_TIMEOUT_MS, on_exec_status,
				sv, NULL))
		system_later(sv, g_strdup("the agent went away during systemctl is-system-running"));
}

static gboolean on_exec_poll(gpointer data)
{
	Supervisor *sv = data;
	SvGuest *g = guest(sv);
	g->system_timer = 0;
	GvQmpClient *ga = any_agent(sv);
	if (!ga) {
		system_later(sv, g_strdup("no agent answers"));
		return G_SOURCE_REMOVE;
	}
	ask_exec_status(sv, ga);
	return G_SOURCE_REMOVE;
}

static void on_exec_status(GvQmpClient *client, JsonNode *ret, const GError *error, gpointer data)
{
	Supervisor *sv = data;
	SvGuest *g = guest(sv);
	if (sv->phase >= GV_PHASE_READY)
		return;
	if (error || !ret || !JSON_NODE_HOLDS_OBJECT(ret)) {
		system_later(sv, g_strdup_printf("guest-exec-status: %s",
						 error ? error->message : "not an object"));
		return;
	}
	JsonObject *o = json_node_get_object(ret);
	if (!gv_json_bool_or(o, "exited", FALSE)) {
		/* Short: systemctl answers at once; 100 ms keeps the round trips few. */
		g->system_timer = g_timeout_add(100, on_exec_poll, sv);
		return;
	}
	const char *b64 = gv_json_string_or(o, "out-data", "");
	gsize len = 0;
	g_autofree guchar *raw = g_base64_decode(b64, &len);
	g_autofree char *state = g_strndup((const char *)raw, MIN(len, STATE_MAX));
	g_strstrip(state);
	/* The guest's words reach a terminal in the timeout message: printable only. */
	for (char *p = state; *p; p++)
		if (!g_ascii_isprint(*p))
			*p = '?';
	if (!strcmp(state, "running") || !strcmp(state, "degraded")) {
		g->system_up = TRUE;
		check_addresses(sv);
		return;
	}
	system_later(sv, g_strdup_printf("systemd in the guest reports \"%s\", not running or "
					 "degraded", state));
}

static void on_exec(GvQmpClient *client, JsonNode *ret, const GError *error, gpointer data)
{
	Supervisor *sv = data;
	SvGuest *g = guest(sv);
	if (sv->phase >= GV_PHASE_READY)
		return;
	if (error) {
		/* grainvm-agent and qemu-ga both say "No such file or directory". */
		if (strstr(error->message, "No such file")) {
			g->system_up = TRUE; /* no systemd: the agent's answer is the system's */
			check_addresses(sv);
			return;
		}
		system_later(sv, g_strdup_printf("systemctl is-system-running: %s", error->message));
		return;
	}
	JsonObject *o = ret && JSON_NODE_HOLDS_OBJECT(ret) ? json_node_get_object(ret) : NULL;
	if (!o || !json_object_has_member(o, "pid")) {
		system_later(sv, g_strdup("guest-exec returned no pid"));
		return;
	}
	g->exec_pid = json_object_get_int_member(o, "pid");
	ask_exec_status(sv, client);
}

static void system_check(Supervisor *sv)
{
	SvGuest *g = guest(sv);
	if (sv->phase >= GV_PHASE_READY || g->system_busy)
		return;
	GvQmpClient *ga = any_agent(sv);
	if (!ga) {
		system_later(sv, g_strdup("no agent answers"));
		return;
	}
	g->system_busy = TRUE;
	if (g->system_up) {
		check_addresses(sv);
		return;
	}
	g_autoptr(JsonObject) args = json_object_new();
	g_autoptr(JsonArray) arg = json_array_new();
	json_array_add_string_element(arg, "is-system-running");
	json_object_set_string_member(args, "path", "systemctl");
	json_object_set_array_member(args, "arg", json_array_ref(arg));
	json_object_set_boolean_member(args, "capture-output", TRUE);
	if (!gv_qmp_client_call(ga, "guest-exec", args, EXEC_TIMEOUT_MS, on_exec, sv, NULL))
		system_later(sv, g_strdup("the agent went away"));
}

/**
 * sv_guest_shares_ready() - every share is mounted: ready, or on to the system
 * @sv: the supervisor
 *
 * Called by the grain-status and qemu-ga readiness paths in place of
 * sv_become_ready().  ready=agent (and a restored guest, which was ready
 * when it was saved): ready now.  ready=system: the checks above first.
 */
void sv_guest_shares_ready(Supervisor *sv)
{
	SvGuest *g = guest(sv);
	g->system_wanted = sv->plan->ready_system;
	if (!g->system_wanted || sv->restore) {
		sv_become_ready(sv);
		return;
	}
	system_check(sv);
}

/* ---- early hints ------------------------------------------------------------------ */

static gboolean on_hint(gpointer data)
{
	Supervisor *sv = data;
	SvGuest *g = guest(sv);
	g->hint_timer = 0;
	if (sv->phase >= GV_PHASE_READY || sv->phase == GV_PHASE_STOPPING || g->hinted)
		return G_SOURCE_REMOVE;
	guint waited = (guint)((g_get_monotonic_time() - sv->spawned_us) / G_USEC_PER_SEC);
	const char *boot = sv->plan->boot ? sv->plan->boot : "?";
	g_autofree char *msg = NULL;
	if (sv->agent_ever_open || sv->qga_ever_open)
		return G_SOURCE_REMOVE; /* an agent is there; the timeout says the rest */
	if (sv->console_bytes && sv->console_bytes != g->hint_console_bytes) {
		/* Still printing: look again when it has been quiet a while. */
		g->hint_console_bytes = sv->console_bytes;
		if (waited + HINT_QUIET_S < sv->ready_timeout_s)
			g->hint_timer = g_timeout_add_seconds(HINT_QUIET_S, on_hint, sv);
		return G_SOURCE_REMOVE;
	}
	if (!sv->console_bytes)
		msg = g_strdup_printf(
			"still waiting after %u s, and the guest has written nothing on its serial "
			"console: the firmware may not boot this disk (boot: %s; a disk from `grainvm "
			"image build` needs UEFI: [vm] firmware=uefi), or the kernel command line lacks "
			"console=ttyS0", waited, boot);
	else
		msg = g_strdup_printf(
			"still waiting after %u s: the guest wrote on its console (grainvm console %s, "
			"or %s), nothing for %u s now, and no agent opened its port: is grainvm-agent "
			"(or qemu-guest-agent) installed and started in the guest?", waited,
			sv->paths->name, sv->paths->console_log, HINT_QUIET_S);
	g->hinted = TRUE;
	g_printerr("grainvm supervisor: %s\n", msg);
	sv_hint(sv, msg);
	return G_SOURCE_REMOVE;
}

/** sv_guest_start() - arm the early hint; call when QEMU runs */
void sv_guest_start(Supervisor *sv)
{
	SvGuest *g = guest(sv);
	if (sv->adopted || sv->restore)
		return;
	guint at = MAX(HINT_MIN_S, sv->ready_timeout_s / 5);
	if (at >= sv->ready_timeout_s)
		return; /* the timeout's own message comes first */
	g->hint_timer = g_timeout_add_seconds(at, on_hint, sv);
}

void sv_guest_free(Supervisor *sv)
{
	if (!sv->guest)
		return;
	g_clear_handle_id(&sv->guest->system_timer, g_source_remove);
	g_clear_handle_id(&sv->guest->hint_timer, g_source_remove);
	g_clear_pointer(&sv->guest, g_free);
}
