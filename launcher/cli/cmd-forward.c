/* SPDX-License-Identifier: MIT */
/*
 * cmd-forward.c - grainvm forward NAME add|remove|list [RULE]: host port
 * forwards of a running VM's user-mode NIC, without a restart
 *
 * The supervisor does the work (supervisor-net.c: QEMU's hostfwd_add and
 * hostfwd_remove).  The rule is parsed, and checked against the VM's
 * forwards and (for add) the host's ports here first, so that a malformed
 * rule, a port already forwarded or in use, or removing what is not there
 * is bad input (exit 2) said in one line before anything is changed.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli-common.h"
#include "cli/gv-cli.h"
#include "gv-error.h"
#include "net/nic.h"
#include "boot/spec.h"

#define FORWARD_TIMEOUT_MS 15000

static void print_list(JsonNode *r, gboolean json)
{
	if (json) {
		gv_cli_print_json(r);
		return;
	}
	JsonArray *a = gv_json_node_array_or_null(r);
	printf("%-5s %-22s %-10s %s\n", "PROTO", "HOST", "GUEST", "ORIGIN");
	for (guint i = 0; a && i < json_array_get_length(a); i++) {
		JsonObject *f = gv_json_array_object_at(a, i);
		g_autofree char *host = g_strdup_printf(
			"%s:%" G_GINT64_FORMAT,
			gv_json_string_or(f, "host-addr", "?"),
			gv_json_int_or(f, "host-port", 0));
		printf("%-5s %-22s %-10" G_GINT64_FORMAT " %s\n",
		       gv_json_string_or(f, "proto", "?"), host,
		       gv_json_int_or(f, "guest-port", 0),
		       gv_json_string_or(f, "origin", "?"));
	}
}

/* Is @rule's host side forwarded now (add: must not be; remove: must be), and free? */
static gboolean check_rule(GvQmpClient *ctl, const char *vm, const GvForward *rule, gboolean add,
			   GError **error)
{
	g_autoptr(JsonNode) r = gv_qmp_execute_sync(ctl, "forward-list", NULL, FORWARD_TIMEOUT_MS,
						    error);
	if (!r)
		return FALSE;
	JsonArray *a = gv_json_node_array_or_null(r);
	JsonObject *found = NULL;
	for (guint i = 0; a && i < json_array_get_length(a) && !found; i++) {
		JsonObject *f = gv_json_array_object_at(a, i);
		if (f && gv_json_int_or(f, "host-port", 0) == rule->host_port &&
		    !g_strcmp0(gv_json_string_or(f, "proto", ""), rule->proto) &&
		    !g_strcmp0(gv_json_string_or(f, "host-addr", ""),
			       rule->host_addr))
			found = f;
	}
	if (add && found) {
		g_set_error(error, GV_ERROR, GV_ERROR_INVALID,
			    "vm %s: host port %s %s:%u is already forwarded to guest port %" G_GINT64_FORMAT
			    " (grainvm forward %s remove ... first)", vm, rule->proto, rule->host_addr,
			    rule->host_port, gv_json_int_or(found, "guest-port", 0),
			    vm);
		return FALSE;
	}
	if (!add && !found) {
		g_set_error(error, GV_ERROR, GV_ERROR_INVALID,
			    "vm %s: host port %s %s:%u is not forwarded (see grainvm forward %s list)",
			    vm, rule->proto, rule->host_addr, rule->host_port, vm);
		return FALSE;
	}
	return !add || gv_host_port_free(rule, error);
}

int gv_cmd_forward(int argc, char **argv)
{
	gboolean json = FALSE, quiet = FALSE;
	const GOptionEntry entries[] = {
		{ "json", 0, 0, G_OPTION_ARG_NONE, &json, "list: print a JSON array", NULL },
		{ "quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, "Print nothing on success", NULL },
		{ NULL },
	};
	int code;
	if (!gv_cli_parse(&argc, &argv, entries, "NAME add|remove|list [RULE]",
			  "Add, remove or list host port forwards of a running VM's user-mode NIC. "
			  "RULE is [tcp|udp:][HOSTADDR:]HOSTPORT:GUESTPORT; HOSTADDR defaults to "
			  "127.0.0.1.", &code))
		return code;
	const char *action = argc >= 3 ? argv[2] : "";
	gboolean list = !strcmp(action, "list");
	gboolean add = !strcmp(action, "add");
	if ((!list && !add && strcmp(action, "remove")) || argc != (list ? 3 : 4)) {
		g_printerr("grainvm forward: usage: grainvm forward NAME add|remove "
			   "[tcp|udp:][HOSTADDR:]HOSTPORT:GUESTPORT, or grainvm forward NAME list\n");
		return GV_EXIT_INVALID;
	}
	g_autoptr(GError) err = NULL;
	GvForward rule = { 0 };
	if (!list && !gv_parse_forward(argv[3], &rule, &err))
		return gv_cli_error(err);
	g_autoptr(GvVmPaths) paths = gv_cli_vm_paths(argv[1], &err);
	g_autoptr(GvQmpClient) ctl = paths ? gv_cli_control(paths, &err) : NULL;
	if (!ctl || (!list && !check_rule(ctl, paths->name, &rule, add, &err))) {
		g_free(rule.host_addr);
		return gv_cli_error(err);
	}
	g_autoptr(JsonObject) args = json_object_new();
	if (!list)
		json_object_set_string_member(args, "rule", argv[3]);
	g_autofree char *cmd = g_strconcat("forward-", action, NULL);
	g_autoptr(JsonNode) r = gv_qmp_execute_sync(ctl, cmd, list ? NULL : args,
						    FORWARD_TIMEOUT_MS, &err);
	if (!r) {
		g_free(rule.host_addr);
		g_printerr("grainvm: vm %s: forward %s: %s\n", paths->name, action, err->message);
		return gv_exit_code_for(err);
	}
	if (list)
		print_list(r, json);
	else if (!quiet)
		printf("grainvm: vm %s: %s %s %s:%u -> guest %u\n", paths->name,
		       add ? "forwarding" : "removed", rule.proto, rule.host_addr, rule.host_port,
		       rule.guest_port);
	g_free(rule.host_addr);
	return GV_EXIT_OK;
}
