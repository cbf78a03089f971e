/* SPDX-License-Identifier: MIT */
/*
 * supervisor-net.c - the supervisor's part in a VM's networking
 *
 * Before QEMU starts: open what each NIC in the plan needs handed to QEMU
 * as a descriptor: a tap on the bridge (as root), or a connection to the
 * network's switch, starting the switch if this is its first VM.
 *
 * While QEMU runs, for the first user-mode NIC:
 *  - host port forwards added and removed at runtime (`grainvm forward`),
 *    with QEMU's hostfwd_add/hostfwd_remove through human-monitor-command,
 *    after checking by bind() that the host port is free, so "in use" is
 *    said plainly instead of QEMU's "could not set up host forwarding";
 *  - auto-forward: every AUTO_POLL_MS the agent's grain-listeners says which
 *    TCP ports the guest listens on; each new one is forwarded from the same
 *    port on 127.0.0.1 when that is free, and the forward goes when the
 *    guest stops listening.  Guest ports below 1024 are skipped unless
 *    [net] auto-forward-privileged=true, and at most auto-forward-max
 *    forwards are automatic at once (gv_auto_forward_refusal()).
 * The supervisor keeps the list of forwards (from the spec, added at
 * runtime, automatic), which `status` and `forward list` show.
 *
 * Guest addresses for `status` and `ip` come from the agent's
 * guest-network-get-interfaces, asked when status is.
 */
#include "supervisor/supervisor-priv.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "gv-error.h"
#include "net/switch-net.h"
#include "net/nic.h"

/*
 * Once a second: a port opened in the guest is reachable within about a
 * second, and a grain-listeners round (read /proc/net/tcp{,6}, one small
 * reply) costs the guest well under a millisecond even under TCG.
 */
#define AUTO_POLL_MS 1000
#define AGENT_CALL_MS 5000
#define QMP_CALL_MS 10000

typedef struct {
	GvForward rule;     /* host_addr owned */
	const char *origin; /* "spec", "runtime" or "auto" (static strings) */
	gboolean pending;   /* hostfwd_add is in flight */
} SvForward;

struct SvNet {
	JsonArray *nics;          /* the plan's NICs, as status shows them */
	char *user_netdev;        /* the first user-mode NIC's netdev id, or NULL */
	gboolean auto_forward;    /* that NIC has auto-forward=true */
	gboolean auto_privileged; /* ...and auto-forward-privileged=true */
	guint auto_max;           /* ...and its auto-forward-max */
	char *auto_problem;       /* why auto-forward stopped, for status */
	char *auto_skipped;       /* the last guest port it skipped and why, for status */
	GPtrArray *forwards;      /* SvForward* */
	JsonArray *interfaces;    /* the guest's, without statistics, or NULL */
	guint poll_timer;
	gboolean polling;         /* grain-listeners is in flight */
};

static void sv_forward_free(SvForward *f)
{
	g_free(f->rule.host_addr);
	g_free(f);
}

gboolean sv_net_init(Supervisor *sv, GError **error)
{
	SvNet *net = g_new0(SvNet, 1);
	sv->net = net;
	net->forwards = g_ptr_array_new_with_free_func((GDestroyNotify)sv_forward_free);
	/* status shows the NICs as the plan has them. */
	net->nics = gv_plan_nics_to_json(sv->plan);
	for (guint i = 0; i < sv->plan->nics->len; i++) {
		const GvPlanNic *n = g_ptr_array_index(sv->plan->nics, i);
		if (n->mode != GV_NET_USER || net->user_netdev)
			continue;
		net->user_netdev = g_strdup(n->netdev);
		net->auto_forward = n->auto_forward;
		net->auto_privileged = n->auto_forward_privileged;
		net->auto_max = n->auto_forward_max ? n->auto_forward_max
						    : GV_AUTO_FORWARD_MAX_DEFAULT;
		for (guint j = 0; n->forwards && j < n->forwards->len; j++) {
			const GvForward *o = g_ptr_array_index(n->forwards, j);
			SvForward *f = g_new0(SvForward, 1);
			f->rule = *o;
			f->rule.host_addr = g_strdup(o->host_addr);
			f->origin = "spec";
			g_ptr_array_add(net->forwards, f);
		}
	}
	return TRUE;
}

void sv_net_free(Supervisor *sv)
{
	SvNet *net = sv->net;
	if (!net)
		return;
	g_clear_handle_id(&net->poll_timer, g_source_remove);
	g_clear_pointer(&net->nics, json_array_unref);
	g_clear_pointer(&net->interfaces, json_array_unref);
	g_clear_pointer(&net->forwards, g_ptr_array_unref);
	g_free(net->user_netdev);
	g_free(net->auto_problem);
	g_free(net->auto_skipped);
	g_free(net);
	sv->net = NULL;
}

/* ---- descriptors for QEMU ------------------------------------------------------- */

gboolean sv_net_open_fds(Supervisor *sv, GArray *src, GArray *dst, GError **error)
{
	for (guint i = 0; i < sv->plan->nics->len; i++) {
		const GvPlanNic *n = g_ptr_array_index(sv->plan->nics, i);
		if (n->fd < 0)
			continue;
		int target = n->fd;
		int fd = -1;
		if (n->mode == GV_NET_BRIDGE && n->helper) {
			/* Without root: QEMU may not run the helper itself (spawn=deny). */
			fd = gv_bridge_helper_open(n->helper, n->bridge ? n->bridge : "", error);
		} else if (n->mode == GV_NET_BRIDGE) {
			fd = gv_tap_open(n->tap ? n->tap : "", n->bridge ? n->bridge : "", error);
		} else if (n->mode == GV_NET_SWITCH) {
			fd = gv_network_connect(n->network ? n->network : "default", error);
		} else {
			g_set_error(error, GV_ERROR, GV_ERROR_FAILED,
				    "plan: NIC %u of mode %s has a descriptor", i,
				    gv_net_mode_name(n->mode));
		}
		if (fd < 0)
			return FALSE;
		g_array_append_val(src, fd);
		g_array_append_val(dst, target);
	}
	return TRUE;
}

/* ---- forwards -------------------------------------------------------------------- */

static JsonObject *forward_object(const SvForward *f)
{
	JsonObject *o = json_object_new();
	json_object_set_string_member(o, "proto", f->rule.proto);
	json_object_set_string_member(o, "host-addr", f->rule.host_addr);
	json_object_set_int_member(o, "host-port", f->rule.host_port);
	json_object_set_int_member(o, "guest-port", f->rule.guest_port);
	json_object_set_string_member(o, "origin", f->origin);
	return o;
}

static JsonArray *forward_list(Supervisor *sv)
{
	JsonArray *a = json_array_new();
	for (guint i = 0; i < sv->net->forwards->len; i++) {
		const SvForward *f = g_ptr_array_index(sv->net->forwards, i);
		if (!f->pending)
			json_array_add_object_element(a, forward_object(f));
	}
	return a;
}

static SvForward *find_forward(Supervisor *sv, const char *proto, const char *addr, guint16 port)
{
	for (guint i = 0; i < sv->net->forwards->len; i++) {
		SvForward *f = g_ptr_array_index(sv->net->forwards, i);
		if (f->rule.host_port == port && !strcmp(f->rule.proto, proto) &&
		    !strcmp(f->rule.host_addr, addr))
			return f;
	}
	return NULL;
}

typedef struct {
	Supervisor *sv;
	GvQmpClient *qmp;        /* a reference */
	SvForward *fwd;          /* add: the entry, in the list, pending */
	gboolean add;
	ControlClient *client;   /* (nullable) a reference: who to answer */
	JsonNode *id;
} HostfwdOp;

static void op_free(HostfwdOp *op)
{
	gv_qmp_client_unref(op->qmp);
	if (op->client)
		sv_client_unref(op->client);
	if (op->id)
		json_node_unref(op->id);
	g_free(op);
}

static void on_hostfwd(GObject *src, GAsyncResult *res, gpointer data)
{
	HostfwdOp *op = data;
	Supervisor *sv = op->sv;
	g_autoptr(GError) err = NULL;
	g_autoptr(JsonNode) r = gv_qmp_client_execute_finish(op->qmp, res, &err);
	/* HMP answers text: nothing on success, or why not ("host forwarding
	 * rule for ... removed" is a success too). */
	const char *text = r && JSON_NODE_HOLDS_VALUE(r) && json_node_get_value_type(r) == G_TYPE_STRING
		? json_node_get_string(r) : NULL;
	gboolean ok = text && (op->add ? *text == '\0' : strstr(text, " removed") != NULL);
	if (!ok && !err) {
		g_autofree char *msg = g_strstrip(g_strdup(text ? text : "no answer"));
		g_set_error(&err, GV_ERROR, GV_ERROR_FAILED, "QEMU: %s", msg);
	}
	if (op->add && sv->net) {
		if (ok)
			op->fwd->pending = FALSE;
		else
			g_ptr_array_remove(sv->net->forwards, op->fwd);
	}
	if (op->client)
		sv_control_reply(op->client, op->id, NULL, ok ? NULL : err);
	else if (!ok)
		g_printerr("grainvm supervisor: auto-forward: %s\n", err->message);
	op_free(op);
}

static void hostfwd(Supervisor *sv, gboolean add, const GvForward *rule, SvForward *entry,
		    ControlClient *client, JsonNode *id)
{
	HostfwdOp *op = g_new0(HostfwdOp, 1);
	op->sv = sv;
	op->qmp = gv_qmp_client_ref(sv->qmp);
	op->add = add;
	op->fwd = entry;
	op->client = client ? sv_client_ref(client) : NULL;
	op->id = id ? json_node_copy(id) : NULL;
	g_autofree char *line = add
		? g_strdup_printf("hostfwd_add %s %s:%s:%u-:%u", sv->net->user_netdev, rule->proto,
				  rule->host_addr, rule->host_port, rule->guest_port)
		: g_strdup_printf("hostfwd_remove %s %s:%s:%u", sv->net->user_netdev, rule->proto,
				  rule->host_addr, rule->host_port);
	g_autoptr(JsonObject) args = json_object_new();
	json_object_set_string_member(args, "command-line", line);
	gv_qmp_client_execute_async(sv->qmp, "human-monitor-command", args, QMP_CALL_MS, NULL,
				    on_hostfwd, op);
}

static gboolean qmp_ok(Supervisor *sv, GError **error)
{
	if (!sv->net->user_netdev) {
		g_set_error(error, GV_ERROR, GV_ERROR_INVALID,
			    "vm %s has no user-mode NIC to forward to ([net] mode=user)", sv->paths->name);
		return FALSE;
	}
	if (!sv->qmp || gv_qmp_client_is_closed(sv->qmp) || sv->phase < GV_PHASE_BOOTING ||
	    sv->phase >= GV_PHASE_STOPPING) {
		g_set_error(error, GV_ERROR, GV_ERROR_STATE, "vm %s is not running",
			    sv->paths->name);
		return FALSE;
	}
	return TRUE;
}

static void control_forward(ControlClient *c, JsonNode *id, JsonObject *args, gboolean add)
{
	Supervisor *sv = c->sv;
	g_autoptr(GError) err = NULL;
	const char *text = args ? gv_json_string_or(args, "rule", NULL)
				: NULL;
	GvForward rule = { 0 };
	if (!text) {
		g_set_error(&err, GV_ERROR, GV_ERROR_INVALID, "missing \"rule\"");
		goto fail;
	}
	if (!gv_parse_forward(text, &rule, &err) || !qmp_ok(sv, &err))
		goto fail;
	SvForward *old = find_forward(sv, rule.proto, rule.host_addr, rule.host_port);
	if (!add) {
		if (!old || old->pending) {
			g_set_error(&err, GV_ERROR, GV_ERROR_INVALID,
				    "host port %s %s:%u is not forwarded", rule.proto, rule.host_addr,
				    rule.host_port);
			goto fail;
		}
		hostfwd(sv, FALSE, &rule, NULL, c, id);
		g_ptr_array_remove(sv->net->forwards, old);
		g_free(rule.host_addr);
		return;
	}
	if (old) {
		g_set_error(&err, GV_ERROR, GV_ERROR_INVALID,
			    "host port %s %s:%u is already forwarded (to guest port %u)", rule.proto,
			    rule.host_addr, rule.host_port, old->rule.guest_port);
		goto fail;
	}
	if (!gv_host_port_free(&rule, &err))
		goto fail;
	SvForward *f = g_new0(SvForward, 1);
	f->rule = rule;
	f->origin = "runtime";
	f->pending = TRUE;
	g_ptr_array_add(sv->net->forwards, f);
	hostfwd(sv, TRUE, &f->rule, f, c, id);
	return;
fail:
	g_free(rule.host_addr);
	sv_control_reply(c, id, NULL, err);
}

gboolean sv_net_control(ControlClient *c, const char *cmd, JsonNode *id, JsonObject *args)
{
	if (!strcmp(cmd, "forward-add")) {
		control_forward(c, id, args, TRUE);
	} else if (!strcmp(cmd, "forward-remove")) {
		control_forward(c, id, args, FALSE);
	} else if (!strcmp(cmd, "forward-list")) {
		g_autoptr(JsonArray) list = forward_list(c->sv);
		g_autoptr(JsonNode) n = json_node_init_array(json_node_alloc(), list);
		sv_control_reply(c, id, n, NULL);
	} else {
		return FALSE;
	}
	return TRUE;
}

/* ---- auto-forward ----------------------------------------------------------------- */

static gboolean on_auto_poll(gpointer data);

static void auto_arm(Supervisor *sv)
{
	if (sv->net->auto_forward && !sv->net->poll_timer && sv->phase == GV_PHASE_READY)
		sv->net->poll_timer = g_timeout_add(AUTO_POLL_MS, on_auto_poll, sv);
}

/* Listening on an address the forward can reach: any, or not loopback. */
static gboolean reachable_listener(JsonObject *l)
{
	const char *addr = gv_json_string_or(l, "address", "");
	return !g_str_has_prefix(addr, "127.") && strcmp(addr, "::1");
}

static gint cmp_port(gconstpointer a, gconstpointer b)
{
	return GPOINTER_TO_INT(a) - GPOINTER_TO_INT(b);
}

static void auto_sync(Supervisor *sv, JsonArray *listeners)
{
	SvNet *net = sv->net;
	g_autoptr(GHashTable) want = g_hash_table_new(NULL, NULL);
	for (guint i = 0; i < json_array_get_length(listeners); i++) {
		JsonObject *l = gv_json_array_object_at(listeners, i);
		gint64 port = gv_json_int_or(l, "port", 0);
		if (port > 0 && port <= 65535 && reachable_listener(l))
			g_hash_table_add(want, GINT_TO_POINTER((int)port));
	}
	/* Gone from the guest: remove. */
	for (guint i = 0; i < net->forwards->len;) {
		SvForward *f = g_ptr_array_index(net->forwards, i);
		if (strcmp(f->origin, "auto") || f->pending ||
		    g_hash_table_contains(want, GINT_TO_POINTER((int)f->rule.guest_port))) {
			i++;
			continue;
		}
		hostfwd(sv, FALSE, &f->rule, NULL, NULL, NULL);
		g_ptr_array_remove_index(net->forwards, i);
	}
	/* New in the guest: add, unless a forward already reaches that guest port
	 * or takes that host port, or the port or the count is refused.  Ports
	 * in ascending order, so that which ones the cap keeps is predictable. */
	guint n_auto = 0;
	for (guint i = 0; i < net->forwards->len; i++)
		n_auto += !strcmp(((SvForward *)g_ptr_array_index(net->forwards, i))->origin, "auto");
	g_autoptr(GList) ports = g_list_sort(g_hash_table_get_keys(want), cmp_port);
	for (GList *l = ports; l; l = l->next) {
		guint16 port = (guint16)GPOINTER_TO_INT(l->data);
		gboolean covered = FALSE;
		for (guint i = 0; i < net->forwards->len && !covered; i++) {
			SvForward *f = g_ptr_array_index(net->forwards, i);
			covered = !strcmp(f->rule.proto, "tcp") &&
				  (f->rule.guest_port == port ||
				   (f->rule.host_port == port && !strcmp(f->rule.host_addr, "127.0.0.1")));
		}
		GvForward rule = { .proto = "tcp", .host_addr = (char *)"127.0.0.1",
				   .host_port = port, .guest_port = port };
		if (covered)
			continue;
		const char *refused = gv_auto_forward_refusal(port, net->auto_privileged, n_auto,
							      net->auto_max);
		if (refused) {
			g_free(net->auto_skipped);
			net->auto_skipped = g_strdup_printf("guest port %u: %s", port, refused);
			continue;
		}
		if (!gv_host_port_free(&rule, NULL))
			continue;
		n_auto++;
		SvForward *f = g_new0(SvForward, 1);
		f->rule = rule;
		f->rule.host_addr = g_strdup("127.0.0.1");
		f->origin = "auto";
		f->pending = TRUE;
		g_ptr_array_add(net->forwards, f);
		hostfwd(sv, TRUE, &f->rule, f, NULL, NULL);
	}
}

static void on_listeners(GObject *src, GAsyncResult *res, gpointer data)
{
	Supervisor *sv = data;
	g_autoptr(GError) err = NULL;
	g_autoptr(JsonNode) r = gv_qmp_client_execute_finish(sv->agent.client, res, &err);
	if (!sv->net)
		return;
	sv->net->polling = FALSE;
	if (sv->phase != GV_PHASE_READY)
		return;
	if (g_error_matches(err, GV_QMP_ERROR, GV_QMP_ERROR_COMMAND_NOT_FOUND)) {
		/* An agent without grain-listeners (qemu-ga, an older grainvm-agent). */
		sv->net->auto_forward = FALSE;
		g_free(sv->net->auto_problem);
		sv->net->auto_problem = g_strdup("the guest's agent has no grain-listeners");
		return;
	}
	g_autoptr(GError) bad = NULL;
	JsonArray *tcp = NULL;
	JsonObject *o = err ? NULL : gv_json_node_object(r, SV_PEER_AGENT, "grain-listeners' reply", &bad);
	/* The agent reports at most 256 listeners; a guest that claims more lies. */
	if (o && !gv_json_get_array(o, SV_PEER_AGENT, "tcp", GV_JSON_OPTIONAL, 1024, &tcp, &bad))
		tcp = NULL;
	sv_protocol_error(sv, bad);
	if (tcp && sv->qmp && !gv_qmp_client_is_closed(sv->qmp))
		auto_sync(sv, tcp);
	auto_arm(sv);
}

static gboolean on_auto_poll(gpointer data)
{
	Supervisor *sv = data;
	SvNet *net = sv->net;
	net->poll_timer = 0;
	if (sv->phase != GV_PHASE_READY || net->polling)
		return G_SOURCE_REMOVE;
	if (!sv->agent.client || !sv->agent.synced || gv_qmp_client_is_closed(sv->agent.client)) {
		auto_arm(sv); /* the agent is resyncing; try again later */
		return G_SOURCE_REMOVE;
	}
	net->polling = TRUE;
	gv_qmp_client_execute_async(sv->agent.client, "grain-listeners", NULL, AGENT_CALL_MS, NULL,
				    on_listeners, sv);
	return G_SOURCE_REMOVE;
}

void sv_net_ready(Supervisor *sv)
{
	auto_arm(sv);
}

/* ---- state and interfaces ------------------------------------------------------------ */

gboolean sv_net_wants_interfaces(Supervisor *sv)
{
	return sv->net && json_array_get_length(sv->net->nics) > 0;
}

/* An interface name, MAC or address: far shorter than this (IFNAMSIZ is 16). */
#define IFACE_STRING_MAX 256
/* More interfaces or addresses than status would show. */
#define IFACES_MAX 64

/* @member of @from, when it is a string of sane length, into @to. */
static void keep_string(JsonObject *from, JsonObject *to, const char *member)
{
	const char *v = gv_json_string_or(from, member, NULL);
	if (v && strlen(v) <= IFACE_STRING_MAX)
		json_object_set_string_member(to, member, v);
}

/**
 * sv_interfaces_facts() - guest-network-get-interfaces' reply, checked
 * @reply: (nullable): the reply
 *
 * Return: (transfer full) (nullable): the interfaces status shows, or NULL
 * when the reply is no array.
 */
JsonArray *sv_interfaces_facts(JsonNode *reply)
{
	JsonArray *in = gv_json_node_array_or_null(reply);
	if (!in)
		return NULL;
	JsonArray *out = json_array_new();
	/* The guest is untrusted: keep the members status shows, of the right
	 * types and lengths; an element that is not an object is skipped. */
	for (guint i = 0; i < json_array_get_length(in) && i < IFACES_MAX; i++) {
		JsonObject *e = gv_json_array_object_at(in, i);
		if (!e)
			continue;
		JsonObject *o = json_object_new();
		keep_string(e, o, "name");
		keep_string(e, o, "hardware-address");
		JsonArray *ips = gv_json_array_or_null(e, "ip-addresses");
		JsonArray *ia = json_array_new();
		for (guint j = 0; ips && j < json_array_get_length(ips) && j < IFACES_MAX; j++) {
			JsonObject *a = gv_json_array_object_at(ips, j);
			if (!a)
				continue;
			JsonObject *ao = json_object_new();
			keep_string(a, ao, "ip-address-type");
			keep_string(a, ao, "ip-address");
			json_object_set_int_member(ao, "prefix",
						   CLAMP(gv_json_int_or(a, "prefix", 0), 0, 128));
			json_array_add_object_element(ia, ao);
		}
		json_object_set_array_member(o, "ip-addresses", ia);
		json_array_add_object_element(out, o);
	}
	return out;
}

void sv_net_set_interfaces(Supervisor *sv, JsonNode *reply)
{
	JsonArray *out = sv->net ? sv_interfaces_facts(reply) : NULL;
	if (!out)
		return;
	g_clear_pointer(&sv->net->interfaces, json_array_unref);
	sv->net->interfaces = out;
}

/**
 * sv_net_cards_addressed() - has every card a routable address?
 * @sv: the supervisor, with the interfaces of a recent
 *      guest-network-get-interfaces (sv_net_set_interfaces())
 * @why: (out) (transfer full): set when not, naming the card
 *
 * A card is matched to the guest's interface by its MAC address.  For
 * ready=system: a guest whose DHCP client has not finished is not up.
 *
 * Return: TRUE when every card has one (or there are no cards).
 */
gboolean sv_net_cards_addressed(Supervisor *sv, char **why)
{
	SvNet *net = sv->net;
	for (guint i = 0; net && i < json_array_get_length(net->nics); i++) {
		JsonObject *n = json_array_get_object_element(net->nics, i);
		const char *mac = gv_json_string_or(n, "mac", "");
		gboolean found = FALSE;
		for (guint j = 0; net->interfaces && j < json_array_get_length(net->interfaces) &&
				  !found; j++) {
			JsonObject *e = json_array_get_object_element(net->interfaces, j);
			if (g_ascii_strcasecmp(gv_json_string_or(
						       e, "hardware-address", ""), mac))
				continue;
			JsonArray *ips = json_object_get_array_member(e, "ip-addresses");
			for (guint k = 0; ips && k < json_array_get_length(ips) && !found; k++) {
				JsonObject *a = json_array_get_object_element(ips, k);
				found = gv_net_address_routable(
					gv_json_string_or(a, "ip-address-type", ""),
					gv_json_string_or(a, "ip-address", ""));
			}
		}
		if (!found) {
			*why = g_strdup_printf("network card %s (mac %s) has no routable address in the "
					       "guest yet",
					       gv_json_string_or(n, "id", "?"), mac);
			return FALSE;
		}
	}
	return TRUE;
}

void sv_net_state(Supervisor *sv, JsonObject *o)
{
	SvNet *net = sv->net;
	if (!net)
		return;
	json_object_set_array_member(o, "nics", json_array_ref(net->nics));
	if (net->user_netdev)
		json_object_set_array_member(o, "forwards", forward_list(sv));
	if (net->auto_problem)
		json_object_set_string_member(o, "auto-forward-problem", net->auto_problem);
	if (net->auto_skipped)
		json_object_set_string_member(o, "auto-forward-skipped", net->auto_skipped);
	if (net->interfaces && sv->phase == GV_PHASE_READY)
		json_object_set_array_member(o, "interfaces", json_array_ref(net->interfaces));
}
