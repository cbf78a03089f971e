/* SPDX-License-Identifier: MIT */
/*
 * cmd-build.c - grainvm build: run the VM's build in the guest and follow it
 *
 * A build is grainvm-agent's (grain-build-start): one at a time per VM,
 * owned by no connection, so it goes on when this command is interrupted
 * or the supervisor restarts; its merged output goes to a log in the guest
 * and the agent keeps its state (docs/agent-protocol.md).  This command
 * starts one through the supervisor (build-start) and then follows it
 * (build-attach from offset 0: the log is replayed, then streamed live)
 * until it ends, exiting with its exit status.  --follow attaches to the
 * running or last build without starting one; --detach starts and returns.
 *
 * The command is the spec's [build] command run as `sh -c COMMAND`, or
 * the one after `--`; [build] workdir and env apply to both (env through
 * env(1), so the guest's own PATH stays).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <glib-unix.h>

#include "cli/cli-common.h"
#include "paths.h"
#include "boot/base-stamp.h"
#include "fileio.h"
#include "cli/gv-cli.h"
#include "gv-error.h"
#include "boot/spec.h"
#include "liveness.h"

#define CALL_TIMEOUT_MS 30000

typedef struct {
	GvQmpClient *ctl;
	GMainContext *ctx;
	const char *vm;
	gint64 handle;
	gint64 offset;          /* log bytes written to stdout */
	gboolean attached;
	gboolean done;
	gboolean interrupted;
	JsonObject *exit;       /* the grain-exit data */
	GError *error;
	gboolean quiet;
} Follow;

static void on_event(GvQmpClient *client, const char *event, JsonObject *data,
		     gint64 timestamp_us, gpointer user_data)
{
	Follow *f = user_data;
	if (!data || gv_json_int_or(data, "handle", -1) != f->handle)
		return;
	if (!strcmp(event, "grain-exit")) {
		f->exit = json_object_ref(data);
		f->done = TRUE;
		return;
	}
	if (strcmp(event, "grain-output"))
		return;
	gint64 off = gv_json_int_or(data, "offset", f->offset);
	gsize len = 0;
	g_autofree guchar *bytes = g_base64_decode(
		gv_json_string_or(data, "data-b64", ""), &len);
	/* The supervisor sends each byte once, in order; be exact anyway. */
	if (off > f->offset || off + (gint64)len <= f->offset)
		return;
	gsize skip = (gsize)(f->offset - off);
	if (!gv_write_all(STDOUT_FILENO, bytes + skip, len - skip) && errno == EPIPE) {
		f->interrupted = TRUE; /* nobody reads the log any more */
		f->done = TRUE;
	}
	f->offset = off + (gint64)len;
}

static void on_closed(GvQmpClient *client, const GError *error, gpointer data)
{
	Follow *f = data;
	if (f->done)
		return;
	g_set_error(&f->error, GV_ERROR, GV_ERROR_FAILED,
		    "lost the supervisor of vm %s after %" G_GINT64_FORMAT " bytes of the log (%s); "
		    "the build goes on in the guest: grainvm up %s adopts the VM, then grainvm "
		    "build %s --follow", f->vm, f->offset, error->message, f->vm, f->vm);
	f->done = TRUE;
}

static void on_attached(GvQmpClient *client, JsonNode *ret, const GError *error, gpointer data)
{
	Follow *f = data;
	if (error) {
		gboolean none = strstr(error->message, "no build has been started") != NULL;
		g_set_error(&f->error, GV_ERROR, none ? GV_ERROR_STATE : GV_ERROR_FAILED,
			    "vm %s: %s", f->vm, none ? "no build has been started" : error->message);
		f->done = TRUE;
		return;
	}
	JsonObject *o = gv_json_node_object_or_null(ret);
	f->handle = o ? gv_json_int_or(o, "handle", -1) : -1;
	f->offset = o ? gv_json_int_or(o, "offset", 0) : 0;
	f->attached = TRUE;
}

static gboolean on_interrupt(gpointer data)
{
	Follow *f = data;
	f->interrupted = TRUE;
	f->done = TRUE;
	return G_SOURCE_CONTINUE;
}

/* Print the log from the start and then live; wait for the build's end. */
static void follow(Follow *f)
{
	g_autoptr(JsonObject) a = json_object_new();
	json_object_set_int_member(a, "from-offset", 0);
	gv_qmp_client_add_event_handler(f->ctl, NULL, on_event, f, NULL);
	gv_qmp_client_set_closed_handler(f->ctl, on_closed, f);
	GSource *sig[2];
	const int sigs[2] = { SIGINT, SIGTERM };
	for (int i = 0; i < 2; i++) {
		sig[i] = g_unix_signal_source_new(sigs[i]);
		g_source_set_callback(sig[i], on_interrupt, f, NULL);
		g_source_attach(sig[i], f->ctx);
	}
	g_autoptr(GError) err = NULL;
	if (!gv_qmp_client_call(f->ctl, "build-attach", a, CALL_TIMEOUT_MS, on_attached, f, &err)) {
		f->error = g_steal_pointer(&err);
		f->done = TRUE;
	}
	while (!f->done)
		g_main_context_iteration(f->ctx, TRUE);
	for (int i = 0; i < 2; i++) {
		g_source_destroy(sig[i]);
		g_source_unref(sig[i]);
	}
	gv_qmp_client_set_closed_handler(f->ctl, NULL, NULL);
}

/* The build's exit status as a process's: its code, or 128+N. */
static int summarize(Follow *f)
{
	JsonObject *x = f->exit;
	g_autofree char *state = gv_term_escape(gv_json_string_or(x, "state", "?"), NULL);
	double secs = gv_json_double_or(x, "duration", 0);
	int code;
	g_autofree char *how = NULL;
	if (gv_json_has(x, "signal")) {
		int sig = (int)gv_json_int_or(x, "signal", 0);
		code = 128 + sig;
		how = g_strdup_printf("killed by signal %d", sig);
	} else {
		code = (int)gv_json_int_or(x, "exitcode", 1);
		how = g_strdup_printf("exit code %d", code);
	}
	if (!f->quiet)
		g_printerr("grainvm: build %s (%s) after %.1f s, %" G_GINT64_FORMAT " bytes of log%s\n",
			   state, how, secs, gv_json_int_or(x, "log-size", 0),
			   gv_json_bool_or(x, "log-truncated", FALSE)
			   ? " (the log stopped growing at 256 MiB)" : "");
	return code;
}

/* [build] of the VM: the spec in the current directory when it names
 * this VM (so an edit applies at once), else the one it was started with. */
static GvSpec *build_spec(const GvVmPaths *paths, GError **error)
{
	g_autofree char *cwd = g_get_current_dir();
	g_autofree char *here = gv_spec_load_name(cwd, NULL, NULL);
	if (here && !strcmp(here, paths->name))
		return gv_spec_load(cwd, NULL, NULL, cwd, error);
	return gv_spec_load(paths->state_dir, paths->spec, NULL, cwd, error);
}

static JsonObject *start_args(const GvSpec *spec, int argc, char **argv, GError **error)
{
	JsonObject *a = json_object_new();
	JsonArray *cmd = json_array_new();
	for (char **e = spec->build_env; *e; e++) {
		if (e == spec->build_env)
			json_array_add_string_element(cmd, "env");
		json_array_add_string_element(cmd, *e);
	}
	if (argc > 0) {
		for (int i = 0; i < argc; i++)
			json_array_add_string_element(cmd, argv[i]);
	} else if (spec->build_command) {
		json_array_add_string_element(cmd, "sh");
		json_array_add_string_element(cmd, "-c");
		json_array_add_string_element(cmd, spec->build_command);
	} else {
		json_array_unref(cmd);
		json_object_unref(a);
		g_set_error(error, GV_ERROR, GV_ERROR_INVALID,
			    "vm %s: its spec has no [build] command; set one, or give the command "
			    "after --", spec->name);
		return NULL;
	}
	json_object_set_array_member(a, "command", cmd);
	if (spec->build_workdir)
		json_object_set_string_member(a, "cwd", spec->build_workdir);
	return a;
}

int gv_cmd_build(int argc, char **argv)
{
	gboolean follow_only = FALSE, detach = FALSE, quiet = FALSE;
	const GOptionEntry entries[] = {
		{ "follow", 'f', 0, G_OPTION_ARG_NONE, &follow_only, "Start nothing: print the running "
		  "(or last) build's log from its start, live, until it ends", NULL },
		{ "detach", 'd', 0, G_OPTION_ARG_NONE, &detach, "Start the build and return at once", NULL },
		{ "quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, "No summary line at the end", NULL },
		{ NULL },
	};
	int code;
	int cmd_argc;
	char **cmd_argv;
	gboolean has_dash = gv_cli_split_command(&argc, argv, &cmd_argc, &cmd_argv);
	if (!gv_cli_parse(&argc, &argv, entries, "[NAME] [-- COMMAND [ARG]...]",
			  "Run the spec's [build] command (or COMMAND) in the guest and print its log "
			  "until it ends; exit with its status. The build goes on if grainvm is "
			  "interrupted; --follow attaches again.", &code))
		return code;
	if (argc > 2 || (has_dash && (follow_only || cmd_argc == 0)) || (follow_only && detach)) {
		g_printerr("grainvm build: usage: grainvm build [NAME] [--detach] [-- COMMAND [ARG]...] "
			   "or grainvm build [NAME] --follow\n");
		return GV_EXIT_INVALID;
	}
	g_autoptr(GError) err = NULL;
	g_autoptr(GvVmPaths) paths = gv_cli_vm_paths(argc == 2 ? argv[1] : NULL, &err);
	if (!paths)
		return gv_cli_error(err);
	g_autoptr(JsonObject) args = NULL;
	/* A result from a disk whose base changed under it is worth nothing. */
	if (!follow_only && !gv_base_stamp_check(paths, &err))
		return gv_cli_error(err);
	if (!follow_only) {
		g_autoptr(GvSpec) spec = build_spec(paths, &err);
		if (!spec)
			return gv_cli_error(err);
		args = start_args(spec, cmd_argc, cmd_argv, &err);
		if (!args)
			return gv_cli_error(err);
	}
	g_autoptr(GvQmpClient) ctl = gv_cli_control(paths, &err);
	if (!ctl)
		return gv_cli_error(err);
	if (!follow_only) {
		g_autoptr(JsonNode) r = gv_qmp_execute_sync(ctl, "build-start", args, CALL_TIMEOUT_MS,
							    &err);
		if (!r) {
			const char *m = err->message;
			if (g_str_has_prefix(m, "GenericError: "))
				m += strlen("GenericError: ");
			if (!strstr(m, "already running")) {
				g_printerr("grainvm: vm %s: build-start: %s\n", paths->name, m);
				return gv_exit_code_for(err);
			}
			/* "a build is already running (handle N, pid P); see ..." */
			const char *paren = strchr(m, '(');
			const char *end = paren ? strchr(paren, ')') : NULL;
			g_autofree char *which = paren && end ? g_strndup(paren, end - paren + 1)
							      : g_strdup("");
			g_printerr("grainvm: vm %s: a build is already running %s; "
				   "grainvm build %s --follow shows it\n", paths->name, which,
				   paths->name);
			return GV_EXIT_STATE;
		}
		if (detach) {
			if (!quiet)
				printf("grainvm: build started in vm %s (pid %" G_GINT64_FORMAT "); "
				       "grainvm build %s --follow shows it\n", paths->name,
				       JSON_NODE_HOLDS_OBJECT(r)
				       ? gv_json_int_or(json_node_get_object(r),
										  "pid", 0) : 0,
				       paths->name);
			return GV_EXIT_OK;
		}
	}

	/* A closed reader of our stdout ends the following, not us. */
	signal(SIGPIPE, SIG_IGN);
	Follow f = { .ctl = ctl, .ctx = gv_qmp_client_get_context(ctl), .vm = paths->name,
		     .handle = -1, .quiet = quiet };
	g_main_context_push_thread_default(f.ctx);
	follow(&f);
	gv_qmp_client_close(ctl);
	g_main_context_pop_thread_default(f.ctx);
	if (f.error) {
		code = gv_cli_error(f.error);
		g_error_free(f.error);
		return code;
	}
	if (f.interrupted) {
		g_clear_pointer(&f.exit, json_object_unref);
		if (!quiet)
			g_printerr("\ngrainvm: stopped following; the build goes on in vm %s "
				   "(grainvm build %s --follow)\n", paths->name, paths->name);
		return 128 + SIGINT;
	}
	code = summarize(&f);
	json_object_unref(f.exit);
	return code;
}
