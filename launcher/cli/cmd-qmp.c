/* SPDX-License-Identifier: MIT */
/*
 * cmd-qmp.c - grainvm qmp and grainvm agent: pass one command through
 *
 * Both go through the supervisor, which owns the only QMP and agent
 * connections; the reply's "return" is printed as JSON, an error becomes
 * "grainvm: qmp COMMAND: CLASS: DESC" and exit code 1.
 */
#include <stdio.h>

#include "cli/cli-common.h"
#include "cli/gv-cli.h"
#include "gv-error.h"
#include "liveness.h"

static int passthrough(int argc, char **argv, const char *what, const char *summary)
{
	int timeout = 30;
	const GOptionEntry entries[] = {
		{ "timeout", 't', 0, G_OPTION_ARG_INT, &timeout, "Seconds to wait for the reply (default 30)", "S" },
		{ NULL },
	};
	int code;
	if (!gv_cli_parse(&argc, &argv, entries, "NAME COMMAND [JSON-ARGUMENTS]", summary, &code))
		return code;
	if (argc < 3 || argc > 4 || timeout < 1) {
		g_printerr("grainvm %s: usage: grainvm %s NAME COMMAND [JSON-ARGUMENTS]\n", what, what);
		return GV_EXIT_INVALID;
	}
	g_autoptr(GError) err = NULL;
	g_autoptr(JsonObject) cargs = NULL;
	if (argc == 4) {
		cargs = gv_json_parse_object(argv[3], -1, &err);
		if (!cargs) {
			g_printerr("grainvm %s: JSON-ARGUMENTS must be a JSON object: %s\n", what,
				   err->message);
			return GV_EXIT_INVALID;
		}
	}
	g_autoptr(GvVmPaths) paths = gv_cli_vm_paths(argv[1], &err);
	if (!paths)
		return gv_cli_error(err);
	g_autoptr(GvQmpClient) ctl = gv_cli_control(paths, &err);
	if (!ctl)
		return gv_cli_error(err);
	g_autoptr(JsonObject) args = json_object_new();
	json_object_set_string_member(args, "command", argv[2]);
	if (cargs)
		json_object_set_object_member(args, "arguments", json_object_ref(cargs));
	json_object_set_int_member(args, "timeout", timeout);
	g_autoptr(JsonNode) r = gv_qmp_execute_sync(ctl, what, args, (guint)timeout * 1000 + 2000, &err);
	if (!r) {
		/* An agent's error reply is the guest's text. */
		g_autofree char *why = gv_term_escape(err->message, NULL);
		g_printerr("grainvm: %s %s: %s\n", what, argv[2], why);
		return gv_exit_code_for(err);
	}
	gv_cli_print_json(r);
	return GV_EXIT_OK;
}

int gv_cmd_qmp(int argc, char **argv)
{
	return passthrough(argc, argv, "qmp",
			   "Send one QMP command to the VM's QEMU and print the reply's \"return\".");
}

int gv_cmd_agent(int argc, char **argv)
{
	return passthrough(argc, argv, "agent",
			   "Send one command to the guest agent (qemu-ga protocol) and print the "
			   "reply's \"return\".");
}
