/* SPDX-License-Identifier: MIT */
/* cli-common.c - option parsing, VM lookup and control connections for commands */
#include "cli/cli-common.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/gv-cli.h"
#include "gv-error.h"
#include "boot/spec.h"
#include "liveness.h"

#define CONTROL_CONNECT_MS 5000

void gv_cli_add_help(GOptionContext *ctx, gboolean *help)
{
	const GOptionEntry entries[] = {
		{ "help", 'h', 0, G_OPTION_ARG_NONE, help, "Show this help", NULL },
		{ NULL },
	};
	g_option_context_set_help_enabled(ctx, FALSE);
	g_option_context_add_main_entries(ctx, entries, NULL);
}

void gv_cli_print_help(GOptionContext *ctx)
{
	g_autofree char *text = g_option_context_get_help(ctx, TRUE, NULL);
	fputs(text, stdout);
}

gboolean gv_cli_parse(int *argc, char ***argv, const GOptionEntry *entries,
		      const char *params, const char *summary, int *exit_code)
{
	g_autoptr(GOptionContext) ctx = g_option_context_new(params);
	gboolean help = FALSE;
	g_option_context_set_summary(ctx, summary);
	if (entries)
		g_option_context_add_main_entries(ctx, entries, NULL);
	gv_cli_add_help(ctx, &help);
	g_autofree char *prg = g_strdup_printf("grainvm %s", (*argv)[0]);
	g_set_prgname(prg);
	g_autoptr(GError) err = NULL;
	if (!g_option_context_parse(ctx, argc, argv, &err)) {
		g_printerr("grainvm %s: %s (see grainvm %s --help)\n", (*argv)[0], err->message,
			   (*argv)[0]);
		*exit_code = GV_EXIT_INVALID;
		return FALSE;
	}
	if (help) {
		gv_cli_print_help(ctx);
		*exit_code = GV_EXIT_OK;
		return FALSE;
	}
	return TRUE;
}

gboolean gv_cli_split_command(int *argc, char **argv, int *cmd_argc, char ***cmd_argv)
{
	*cmd_argc = 0;
	*cmd_argv = NULL;
	for (int i = 1; i < *argc; i++) {
		if (!strcmp(argv[i], "--")) {
			*cmd_argv = argv + i + 1;
			*cmd_argc = *argc - i - 1;
			*argc = i;
			return TRUE;
		}
	}
	return FALSE;
}

GvVmPaths *gv_cli_vm_paths(const char *name, GError **error)
{
	g_autofree char *resolved = NULL;
	if (!name) {
		g_autofree char *cwd = g_get_current_dir();
		resolved = gv_spec_load_name(cwd, NULL, error);
		if (!resolved)
			return NULL;
		name = resolved;
	}
	if (!gv_spec_name_valid(name)) {
		g_set_error(error, GV_ERROR, GV_ERROR_INVALID, "\"%s\" is not a valid VM name", name);
		return NULL;
	}
	g_autoptr(GvVmPaths) paths = gv_vm_paths_new(name, error);
	/* Read nothing (pids, sockets, state) from a directory another user planted. */
	if (!paths || !gv_dir_check_private(paths->run_dir, error) ||
	    !gv_dir_check_private(paths->state_dir, error))
		return NULL;
	return g_steal_pointer(&paths);
}

GvQmpClient *gv_cli_control(const GvVmPaths *paths, GError **error)
{
	if (!gv_vm_is_running(paths)) {
		g_set_error(error, GV_ERROR, GV_ERROR_STATE, "vm %s is not running", paths->name);
		return NULL;
	}
	g_autoptr(GError) err = NULL;
	GvQmpClient *c = gv_qmp_connect_sync(paths->control_sock, GV_QMP_PEER_QMP,
					     CONTROL_CONNECT_MS, &err);
	if (!c) {
		g_set_error(error, GV_ERROR, GV_ERROR_FAILED,
			    "vm %s: cannot reach its supervisor at %s: %s", paths->name,
			    paths->control_sock, err->message);
		return NULL;
	}
	return c;
}

void gv_cli_print_json(JsonNode *node)
{
	g_autofree char *text = gv_json_to_string(node, TRUE);
	printf("%s\n", text);
	fflush(stdout);
}

int gv_read_pid(const char *path)
{
	g_autofree char *text = NULL;
	if (!g_file_get_contents(path, &text, NULL, NULL))
		return 0;
	guint64 v;
	if (!g_ascii_string_to_unsigned(g_strstrip(text), 10, 1, G_MAXINT, &v, NULL))
		return 0;
	return (int)v;
}

void gv_cli_control_error(GError **error)
{
	/* The classes of supervisor-control.c, by GvErrorCode. */
	static const struct {
		const char *prefix;
		GvErrorCode code;
	} classes[] = {
		{ "GrainvmFailed: ", GV_ERROR_FAILED },
		{ "GrainvmInvalid: ", GV_ERROR_INVALID },
		{ "GrainvmState: ", GV_ERROR_STATE },
		{ "GrainvmTimeout: ", GV_ERROR_TIMEOUT },
	};
	if (!error || !*error || !g_error_matches(*error, GV_QMP_ERROR, GV_QMP_ERROR_OTHER_CLASS))
		return;
	for (gsize i = 0; i < G_N_ELEMENTS(classes); i++) {
		if (!g_str_has_prefix((*error)->message, classes[i].prefix))
			continue;
		GError *e = g_error_new(GV_ERROR, classes[i].code, "%s",
					(*error)->message + strlen(classes[i].prefix));
		g_error_free(*error);
		*error = e;
		return;
	}
}

JsonNode *gv_cli_escaped_json(JsonNode *node)
{
	if (JSON_NODE_HOLDS_ARRAY(node)) {
		JsonArray *a = json_node_get_array(node);
		JsonArray *out = json_array_sized_new(json_array_get_length(a));
		for (guint i = 0; i < json_array_get_length(a); i++)
			json_array_add_element(out, gv_cli_escaped_json(json_array_get_element(a, i)));
		JsonNode *n = json_node_init_array(json_node_alloc(), out);
		json_array_unref(out);
		return n;
	}
	if (JSON_NODE_HOLDS_OBJECT(node)) {
		JsonObject *o = json_node_get_object(node);
		JsonObject *out = json_object_new();
		JsonObjectIter it;
		const char *name;
		JsonNode *v;
		json_object_iter_init(&it, o);
		while (json_object_iter_next(&it, &name, &v)) {
			g_autofree char *safe = gv_term_escape(name, NULL);
			json_object_set_member(out, safe, strcmp(name, "log-tail")
					       ? gv_cli_escaped_json(v) : json_node_copy(v));
		}
		JsonNode *n = json_node_init_object(json_node_alloc(), out);
		json_object_unref(out);
		return n;
	}
	if (JSON_NODE_HOLDS_VALUE(node) && json_node_get_value_type(node) == G_TYPE_STRING) {
		g_autofree char *e = gv_term_escape(json_node_get_string(node), NULL);
		return json_node_init_string(json_node_alloc(), e);
	}
	return json_node_copy(node);
}
