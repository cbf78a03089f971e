/* SPDX-License-Identifier: MIT */
/*
 * cmd-ip.c - grainvm ip [NAME]: the guest's address, for scripts
 *
 *     ssh root@$(grainvm ip vm1)
 *
 * The supervisor asks the agent (guest-network-get-interfaces); which
 * address is "the" address is gv_cli_guest_address()'s rule.
 */
#include <stdio.h>

#include "cli/cli-common.h"
#include "cli/gv-cli.h"
#include "gv-error.h"

#define STATUS_TIMEOUT_MS 5000

int gv_cmd_ip(int argc, char **argv)
{
	int code;
	if (!gv_cli_parse(&argc, &argv, NULL, "[NAME]",
			  "Print the first routable address the guest reports (bridge and switch "
			  "NICs before user-mode ones; IPv4 before IPv6).", &code))
		return code;
	if (argc > 2) {
		g_printerr("grainvm ip: too many arguments\n");
		return GV_EXIT_INVALID;
	}
	g_autoptr(GError) err = NULL;
	g_autoptr(GvVmPaths) paths = gv_cli_vm_paths(argc == 2 ? argv[1] : NULL, &err);
	g_autoptr(GvQmpClient) ctl = paths ? gv_cli_control(paths, &err) : NULL;
	g_autoptr(JsonNode) r = ctl ? gv_qmp_execute_sync(ctl, "status", NULL, STATUS_TIMEOUT_MS,
							  &err) : NULL;
	if (!r)
		return gv_cli_error(err);
	JsonObject *st = gv_json_node_object_or_null(r);
	g_autofree char *addr = st ? gv_cli_guest_address(st) : NULL;
	if (!addr) {
		const char *phase = st ? gv_json_string_or(st, "phase", "?")
				       : "?";
		g_set_error(&err, GV_ERROR, GV_ERROR_FAILED,
			    "vm %s: the guest reports no routable address (state %s)", paths->name,
			    phase);
		return gv_cli_error(err);
	}
	printf("%s\n", addr);
	return GV_EXIT_OK;
}
