/* SPDX-License-Identifier: MIT */
/*
 * cmd-exec.c - grainvm exec: run a command in the guest, streamed
 *
 * The command goes through the supervisor (control command exec-start,
 * see supervisor-control.c) to grainvm-agent's grain-exec-start; its
 * stdout and stderr come back as grain-output events, written to our
 * stdout and stderr as they arrive, and grain-exit ends it.  Our stdin is
 * forwarded (exec-input) when it is not a terminal, in 64 KiB pieces, one
 * in flight at a time, slowing down when the agent reports a backlog.
 * SIGINT, SIGTERM and SIGHUP are passed on to the command.
 *
 * Exit status: the command's, 128+N when signal N ended it, 124 when
 * --timeout ran out (as timeout(1)), 126/127 when it could not be
 * executed (not executable / not found, as a shell), 125 for every
 * failure of grainvm itself (docs/errors.md), so that scripts can tell a
 * failing command from a failing VM.
 *
 * A guest with only qemu-ga: the supervisor runs the command with
 * guest-exec instead and the output arrives at once when it has exited;
 * stdin is collected and handed over at the start.
 *
 * With a terminal (`exec -t`, `grainvm shell`), the agent runs the command
 * on a new pseudo-terminal in the guest and our terminal goes raw: every
 * key, ^C and ^Z included, is input for the guest's terminal, whose line
 * discipline signals the foreground job as ssh's remote end does; window
 * size changes (SIGWINCH) are sent as exec-resize.  The terminal is
 * restored before grainvm exits.  When stdin is not a terminal, both run
 * as a plain exec (like ssh without a terminal).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <glib-unix.h>

#include "cli/cli-common.h"
#include "paths.h"
#include "plan.h"
#include "boot/base-stamp.h"
#include "fileio.h"
#include "cli/gv-cli.h"
#include "gv-error.h"
#include "liveness.h"

#define EXIT_TIMED_OUT 124
#define EXIT_NOT_EXECUTABLE 126
#define EXIT_NOT_FOUND 127
#define START_TIMEOUT_MS 30000
#define INPUT_TIMEOUT_MS 30000
#define INPUT_CHUNK (64 * 1024)
/* Above this much stdin queued in the guest, feed it more slowly. */
#define INPUT_PENDING_HIGH (1024 * 1024)
#define INPUT_RETRY_MS 20
/* After SIGTERM at --timeout, this long before SIGKILL. */
#define KILL_GRACE_S 5

typedef struct {
	GvQmpClient *ctl;
	GMainContext *ctx;
	const char *vm;
	gint64 handle;
	gboolean started;
	gboolean done;
	int code;
	char *failure;          /* grainvm's own failure: exit 125 */
	gboolean qga;
	/* stdin */
	gboolean forward_stdin;
	GSource *in_src;
	GSource *in_retry;
	GBytes *in_chunk;       /* the piece in flight, resent on "retry later" */
	gboolean in_eof;
	/* output */
	gint64 next_seq;
	guint64 lost;
	gboolean stdout_gone;
	/* terminal */
	gboolean tty;
	gboolean raw;           /* saved holds the terminal to restore */
	struct termios saved;
	/* signals and --timeout */
	int pending_signal;
	guint timeout_s;
	gboolean timed_out;
	GSource *timer;
} ExecRun;

static void fail(ExecRun *r, char *message /* consumed */)
{
	if (!r->failure)
		r->failure = message;
	else
		g_free(message);
	r->done = TRUE;
}

static void on_signal_sent(GvQmpClient *client, JsonNode *ret, const GError *error, gpointer data)
{
	ExecRun *r = data;
	/* qemu-ga cannot signal; a command that exited meanwhile is fine. */
	if (error && r->timed_out && r->qga)
		fail(r, g_strdup_printf("exec: timed out after %u s; qemu-ga cannot stop the "
					"command, which may still run in the guest", r->timeout_s));
}

static void send_signal(ExecRun *r, int sig)
{
	if (!r->started || r->done)
		return;
	g_autoptr(JsonObject) a = json_object_new();
	json_object_set_int_member(a, "handle", r->handle);
	json_object_set_int_member(a, "signal", sig);
	gv_qmp_client_call(r->ctl, "exec-signal", a, START_TIMEOUT_MS, on_signal_sent, r, NULL);
}

/* ---- terminal ------------------------------------------------------------------ */

static void window_size(int *rows, int *cols)
{
	struct winsize ws = { 0 };
	*rows = 24;
	*cols = 80;
	if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row && ws.ws_col) {
		*rows = ws.ws_row;
		*cols = ws.ws_col;
	}
}

static void on_resized(GvQmpClient *client, JsonNode *ret, const GError *error, gpointer data)
{
	/* A command that has just exited cannot be resized: nothing to say. */
}

static gboolean on_winch(gpointer data)
{
	ExecRun *r = data;
	if (!r->started || r->done)
		return G_SOURCE_CONTINUE;
	int rows, cols;
	window_size(&rows, &cols);
	g_autoptr(JsonObject) a = json_object_new();
	json_object_set_int_member(a, "handle", r->handle);
	json_object_set_int_member(a, "rows", rows);
	json_object_set_int_member(a, "cols", cols);
	gv_qmp_client_call(r->ctl, "exec-resize", a, START_TIMEOUT_MS, on_resized, r, NULL);
	return G_SOURCE_CONTINUE;
}

static void terminal_raw(ExecRun *r)
{
	if (tcgetattr(STDIN_FILENO, &r->saved) < 0)
		return;
	struct termios raw = r->saved;
	cfmakeraw(&raw);
	if (tcsetattr(STDIN_FILENO, TCSADRAIN, &raw) == 0)
		r->raw = TRUE;
}

static void terminal_restore(ExecRun *r)
{
	if (r->raw)
		tcsetattr(STDIN_FILENO, TCSADRAIN, &r->saved);
	r->raw = FALSE;
}

/* $TERM when the agent would take it (a short plain name), else xterm. */
static const char *terminal_type(void)
{
	const char *t = g_getenv("TERM");
	if (!t || !*t || strlen(t) > 64)
		return "xterm";
	for (const char *p = t; *p; p++)
		if (!g_ascii_isalnum(*p) && !strchr("-_.+", *p))
			return "xterm";
	return t;
}

/* ---- output -------------------------------------------------------------------- */

static void on_event(GvQmpClient *client, const char *event, JsonObject *data,
		     gint64 timestamp_us, gpointer user_data)
{
	ExecRun *r = user_data;
	if (!data || gv_json_int_or(data, "handle", -1) != r->handle)
		return;
	if (!strcmp(event, "grain-exit")) {
		const char *err = gv_json_string_or(data, "error", NULL);
		if (err) {
			fail(r, g_strdup_printf("exec: %s", err)); /* escaped where printed */
			return;
		}
		if (gv_json_has(data, "signal"))
			r->code = 128 + (int)gv_json_int_or(data, "signal", 0);
		else
			r->code = (int)gv_json_int_or(data, "exitcode", 1);
		if (gv_json_bool_or(data, "out-truncated", FALSE) ||
		    gv_json_bool_or(data, "err-truncated", FALSE))
			g_printerr("grainvm: exec: qemu-ga kept only the first 16 MiB of output\n");
		r->done = TRUE;
		return;
	}
	if (strcmp(event, "grain-output"))
		return;
	gint64 seq = gv_json_int_or(data, "seq", r->next_seq);
	if (seq > r->next_seq)
		r->lost += (guint64)(seq - r->next_seq);
	r->next_seq = seq + 1;
	const char *stream = gv_json_string_or(data, "stream", "stdout");
	const char *b64 = gv_json_string_or(data, "data-b64", "");
	gsize len = 0;
	g_autofree guchar *bytes = g_base64_decode(b64, &len);
	if (!strcmp(stream, "stderr")) {
		gv_write_all(STDERR_FILENO, bytes, len);
		return;
	}
	if (r->stdout_gone)
		return;
	if (!gv_write_all(STDOUT_FILENO, bytes, len) && errno == EPIPE) {
		/* Whoever read our stdout left: tell the command, as a pipe would. */
		r->stdout_gone = TRUE;
		send_signal(r, SIGPIPE);
	}
}

static void on_closed(GvQmpClient *client, const GError *error, gpointer data)
{
	ExecRun *r = data;
	if (!r->done)
		fail(r, g_strdup_printf("exec: lost the connection to the supervisor of vm %s: %s",
					r->vm, error->message));
}

/* ---- stdin ---------------------------------------------------------------------- */

static void input_watch(ExecRun *r);

static void input_stop(ExecRun *r)
{
	if (r->in_src) {
		g_source_destroy(r->in_src);
		g_clear_pointer(&r->in_src, g_source_unref);
	}
}

static void input_send(ExecRun *r);

static gboolean on_input_retry(gpointer data)
{
	ExecRun *r = data;
	g_clear_pointer(&r->in_retry, g_source_unref);
	if (r->in_chunk || r->in_eof)
		input_send(r);
	else
		input_watch(r);
	return G_SOURCE_REMOVE;
}

static void input_later(ExecRun *r)
{
	r->in_retry = g_timeout_source_new(INPUT_RETRY_MS);
	g_source_set_callback(r->in_retry, on_input_retry, r, NULL);
	g_source_attach(r->in_retry, r->ctx);
}

static void on_input_reply(GvQmpClient *client, JsonNode *ret, const GError *error, gpointer data)
{
	ExecRun *r = data;
	if (r->done)
		return;
	if (error) {
		if (strstr(error->message, "retry later")) {
			input_later(r); /* the guest's stdin queue is full */
			return;
		}
		/* The command closed its stdin or ended: nothing more to give. */
		g_clear_pointer(&r->in_chunk, g_bytes_unref);
		r->forward_stdin = FALSE;
		return;
	}
	g_clear_pointer(&r->in_chunk, g_bytes_unref);
	if (r->in_eof) {
		r->forward_stdin = FALSE;
		return;
	}
	gint64 pending = ret && JSON_NODE_HOLDS_OBJECT(ret)
		? gv_json_int_or(json_node_get_object(ret), "pending", 0) : 0;
	if (pending > INPUT_PENDING_HIGH)
		input_later(r);
	else
		input_watch(r);
}

static void input_send(ExecRun *r)
{
	g_autoptr(JsonObject) a = json_object_new();
	json_object_set_int_member(a, "handle", r->handle);
	if (r->in_chunk) {
		gsize len;
		const guint8 *p = g_bytes_get_data(r->in_chunk, &len);
		g_autofree char *b64 = g_base64_encode(p, len);
		json_object_set_string_member(a, "data-b64", b64);
	} else {
		json_object_set_boolean_member(a, "eof", TRUE);
	}
	g_autoptr(GError) err = NULL;
	if (!gv_qmp_client_call(r->ctl, "exec-input", a, INPUT_TIMEOUT_MS, on_input_reply, r, &err))
		fail(r, g_strdup_printf("exec: %s", err->message));
}

static gboolean on_stdin(gint fd, GIOCondition cond, gpointer data)
{
	ExecRun *r = data;
	guint8 *buf = g_malloc(INPUT_CHUNK);
	ssize_t n = read(fd, buf, INPUT_CHUNK);
	if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
		g_free(buf);
		return G_SOURCE_CONTINUE;
	}
	/* One piece in flight at a time: stop watching until it is taken. */
	g_clear_pointer(&r->in_src, g_source_unref);
	if (n <= 0) {
		g_free(buf);
		r->in_eof = TRUE;
	} else {
		r->in_chunk = g_bytes_new_take(buf, (gsize)n);
	}
	input_send(r);
	return G_SOURCE_REMOVE;
}

static void input_watch(ExecRun *r)
{
	if (!r->forward_stdin || r->in_src || r->done)
		return;
	r->in_src = g_unix_fd_source_new(STDIN_FILENO, G_IO_IN | G_IO_HUP | G_IO_ERR);
	g_source_set_callback(r->in_src, G_SOURCE_FUNC(on_stdin), r, NULL);
	g_source_attach(r->in_src, r->ctx);
}

/* ---- start, signals, timeout ---------------------------------------------------- */

static void on_started(GvQmpClient *client, JsonNode *ret, const GError *error, gpointer data)
{
	ExecRun *r = data;
	if (error) {
		const char *m = error->message;
		if (g_str_has_prefix(m, "GenericError: "))
			m += strlen("GenericError: ");
		/* As a shell: not found 127, found but not runnable 126. */
		r->code = strstr(m, "No such file or directory") ? EXIT_NOT_FOUND
			: strstr(m, "Permission denied") ? EXIT_NOT_EXECUTABLE : GV_EXIT_EXEC_FAILED;
		if (r->code != GV_EXIT_EXEC_FAILED) {
			g_printerr("grainvm: exec: %s\n", m);
			r->done = TRUE;
			return;
		}
		fail(r, g_strdup_printf("exec: %s", m));
		return;
	}
	JsonObject *o = gv_json_node_object_or_null(ret);
	if (!o) {
		fail(r, g_strdup("exec: the supervisor's reply to exec-start has no handle"));
		return;
	}
	r->handle = gv_json_int_or(o, "handle", -1);
	r->qga = !g_strcmp0(gv_json_string_or(o, "agent", ""), "qemu-ga");
	r->started = TRUE;
	if (r->tty)
		terminal_raw(r);
	input_watch(r);
	if (r->pending_signal)
		send_signal(r, r->pending_signal);
}

typedef struct {
	ExecRun *run;
	int sig;
} SigFwd;

static gboolean on_forward_signal(gpointer data)
{
	SigFwd *f = data;
	if (f->run->started)
		send_signal(f->run, f->sig);
	else
		f->run->pending_signal = f->sig;
	return G_SOURCE_CONTINUE;
}

static gboolean on_kill_grace(gpointer data)
{
	ExecRun *r = data;
	send_signal(r, SIGKILL);
	return G_SOURCE_REMOVE;
}

static gboolean on_timeout(gpointer data)
{
	ExecRun *r = data;
	r->timed_out = TRUE;
	send_signal(r, SIGTERM);
	GSource *k = g_timeout_source_new_seconds(KILL_GRACE_S);
	g_source_set_callback(k, on_kill_grace, r, NULL);
	g_source_attach(k, r->ctx);
	g_source_unref(k);
	return G_SOURCE_REMOVE;
}

/* ---- arguments -------------------------------------------------------------------- */

/*
 * The guest directory that corresponds to the host's current directory
 * when it lies inside a share (so relative paths mean the same on both
 * sides), else the workspace share's mount, else NULL (the agent's "/").
 */
static char *default_cwd(const GvVmPaths *paths)
{
	g_autoptr(GvPlan) plan = gv_plan_load(paths->plan, NULL);
	if (!plan)
		return NULL;
	g_autofree char *cwd = g_get_current_dir();
	char *workspace = NULL;
	for (guint i = 0; i < plan->shares->len; i++) {
		const GvPlanShare *s = g_ptr_array_index(plan->shares, i);
		gsize n = strlen(s->source);
		if (!strcmp(cwd, s->source) || (g_str_has_prefix(cwd, s->source) && cwd[n] == '/')) {
			g_free(workspace);
			return g_strconcat(s->mount, cwd + n, NULL);
		}
		if (!strcmp(s->id, "workspace")) {
			g_free(workspace);
			workspace = g_strdup(s->mount);
		}
	}
	return workspace;
}

static gboolean env_valid(const char *kv)
{
	const char *eq = strchr(kv, '=');
	if (!eq || eq == kv || g_ascii_isdigit(kv[0]))
		return FALSE;
	for (const char *p = kv; p < eq; p++)
		if (!g_ascii_isalnum(*p) && *p != '_')
			return FALSE;
	return TRUE;
}

/*
 * exec and shell: @shell runs the guest user's login shell when no
 * COMMAND is given, and asks for a terminal whenever stdin is one.
 */
/* The login shell of the guest user, from /etc/passwd; /bin/sh without one. */
static const char *const login_shell[] = {
	"sh", "-c",
	"s=$(awk -F: -v u=\"$(id -un 2>/dev/null || echo root)\" "
	"'$1 == u { print $7; exit }' /etc/passwd 2>/dev/null); "
	"[ -x \"$s\" ] || s=/bin/sh; exec \"$s\" -l",
	NULL,
};

/*
 * exec-start's arguments for COMMAND.  --env goes through env(1), which
 * adds to the guest's own environment; the agent's "env" would replace
 * it, PATH included.
 */
static JsonObject *start_args(int cmd_argc, char **cmd_argv, char **env, const char *cwd)
{
	JsonObject *args = json_object_new();
	JsonArray *a = json_array_new();
	const char *path = cmd_argv[0];
	if (env && env[0]) {
		for (char **e = env; *e; e++)
			json_array_add_string_element(a, *e);
		json_array_add_string_element(a, path);
		path = "env";
	}
	for (int i = 1; i < cmd_argc; i++)
		json_array_add_string_element(a, cmd_argv[i]);
	json_object_set_string_member(args, "path", path);
	json_object_set_array_member(args, "arg", a);
	if (cwd)
		json_object_set_string_member(args, "cwd", cwd);
	return args;
}

/*
 * Start the command @args describes and follow it to its end: output,
 * stdin, signals, window size and --timeout.  Return: the exit status.
 */
static int run(ExecRun *r, JsonObject *args)
{
	g_autoptr(GError) err = NULL;
	json_object_set_boolean_member(args, "input", r->forward_stdin);
	GSource *winch = NULL;
	if (r->tty) {
		int rows, cols;
		window_size(&rows, &cols);
		json_object_set_boolean_member(args, "tty", TRUE);
		json_object_set_int_member(args, "rows", rows);
		json_object_set_int_member(args, "cols", cols);
		json_object_set_string_member(args, "term", terminal_type());
	}
	/* A closed reader of our stdout is an EPIPE to act on, not a death. */
	signal(SIGPIPE, SIG_IGN);

	g_main_context_push_thread_default(r->ctx);
	gv_qmp_client_add_event_handler(r->ctl, NULL, on_event, r, NULL);
	gv_qmp_client_set_closed_handler(r->ctl, on_closed, r);
	static const int fwd[] = { SIGINT, SIGTERM, SIGHUP };
	SigFwd sf[G_N_ELEMENTS(fwd)];
	GSource *sigsrc[G_N_ELEMENTS(fwd)];
	for (gsize i = 0; i < G_N_ELEMENTS(fwd); i++) {
		sf[i] = (SigFwd){ r, fwd[i] };
		sigsrc[i] = g_unix_signal_source_new(fwd[i]);
		g_source_set_callback(sigsrc[i], on_forward_signal, &sf[i], NULL);
		g_source_attach(sigsrc[i], r->ctx);
	}
	if (r->tty) {
		winch = g_unix_signal_source_new(SIGWINCH);
		g_source_set_callback(winch, on_winch, r, NULL);
		g_source_attach(winch, r->ctx);
	}
	if (r->timeout_s > 0) {
		r->timer = g_timeout_source_new_seconds(r->timeout_s);
		g_source_set_callback(r->timer, on_timeout, r, NULL);
		g_source_attach(r->timer, r->ctx);
	}
	if (!gv_qmp_client_call(r->ctl, "exec-start", args, START_TIMEOUT_MS, on_started, r, &err))
		fail(r, g_strdup_printf("exec: %s", err->message));
	while (!r->done)
		g_main_context_iteration(r->ctx, TRUE);
	terminal_restore(r);
	if (winch) {
		g_source_destroy(winch);
		g_source_unref(winch);
	}

	input_stop(r);
	if (r->in_retry)
		g_source_destroy(r->in_retry);
	g_clear_pointer(&r->in_retry, g_source_unref);
	g_clear_pointer(&r->in_chunk, g_bytes_unref);
	for (gsize i = 0; i < G_N_ELEMENTS(fwd); i++) {
		g_source_destroy(sigsrc[i]);
		g_source_unref(sigsrc[i]);
	}
	if (r->timer) {
		g_source_destroy(r->timer);
		g_source_unref(r->timer);
	}
	gv_qmp_client_set_closed_handler(r->ctl, NULL, NULL);
	gv_qmp_client_close(r->ctl);
	g_main_context_pop_thread_default(r->ctx);

	if (r->lost)
		g_printerr("grainvm: exec: %" G_GUINT64_FORMAT " pieces of output were lost (the "
			   "guest sent lines that are not the protocol)\n", r->lost);
	if (r->failure) {
		/* It may quote the guest (an agent's error). */
		g_autofree char *safe = gv_term_escape(r->failure, NULL);
		g_printerr("grainvm: %s\n", safe);
		g_free(r->failure);
		return GV_EXIT_EXEC_FAILED;
	}
	if (r->timed_out) {
		g_printerr("grainvm: exec: timed out after %u s\n", r->timeout_s);
		return EXIT_TIMED_OUT;
	}
	return r->code;
}

static int exec_main(int argc, char **argv, gboolean shell)
{
	g_autofree char *cwd = NULL;
	g_auto(GStrv) env = NULL;
	int timeout = 0;
	gboolean want_tty = shell;
	const GOptionEntry shell_entries[] = {
		{ "cwd", 'C', 0, G_OPTION_ARG_STRING, &cwd, "Guest directory to start in (default: the "
		  "guest path of this directory when it is shared, else the workspace)", "DIR" },
		{ "env", 'e', 0, G_OPTION_ARG_STRING_ARRAY, &env, "Add a variable to the shell's "
		  "environment (repeatable)", "NAME=VALUE" },
		{ NULL },
	};
	const GOptionEntry entries[] = {
		{ "cwd", 'C', 0, G_OPTION_ARG_STRING, &cwd, "Guest directory to run in (default: the "
		  "guest path of this directory when it is shared, else the workspace)", "DIR" },
		{ "env", 'e', 0, G_OPTION_ARG_STRING_ARRAY, &env, "Add a variable to the command's "
		  "environment (repeatable)", "NAME=VALUE" },
		{ "timeout", 0, 0, G_OPTION_ARG_INT, &timeout, "Stop the command after S seconds "
		  "(SIGTERM, SIGKILL 5 s later) and exit 124", "S" },
		{ "tty", 't', 0, G_OPTION_ARG_NONE, &want_tty, "Run the command on a terminal in the "
		  "guest when stdin is one (raw keys, window size, ^C to the command)", NULL },
		{ NULL },
	};
	int code;
	int cmd_argc;
	char **cmd_argv;
	gboolean has_dash = gv_cli_split_command(&argc, argv, &cmd_argc, &cmd_argv);
	if (shell ? !gv_cli_parse(&argc, &argv, shell_entries, "[NAME] [-- COMMAND [ARG]...]",
				  "Open a terminal in the guest: the login shell of the guest's user "
				  "(or COMMAND) on a pseudo-terminal, in the guest path of this "
				  "directory; exit with its status. Without a terminal on stdin, "
				  "the shell reads commands from stdin.", &code)
		  : !gv_cli_parse(&argc, &argv, entries, "[NAME] -- COMMAND [ARG]...",
				  "Run COMMAND in the guest. Its stdout and stderr stream to ours, our "
				  "stdin is forwarded unless it is a terminal (with --tty it is the "
				  "command's terminal), and grainvm exits with the command's status "
				  "(128+N for signal N; 125 when grainvm itself fails).", &code))
		return code ? GV_EXIT_EXEC_FAILED : 0;
	if (shell && (argc > 2 || (has_dash && cmd_argc == 0))) {
		g_printerr("grainvm shell: usage: grainvm shell [NAME] [--cwd DIR] [--env NAME=VALUE]... "
			   "[-- COMMAND [ARG]...]\n");
		return GV_EXIT_EXEC_FAILED;
	}
	if (!shell && (!has_dash || cmd_argc == 0 || argc > 2 || timeout < 0)) {
		g_printerr("grainvm exec: usage: grainvm exec [NAME] [--cwd DIR] [--env NAME=VALUE]... "
			   "[--timeout S] -- COMMAND [ARG]...\n");
		return GV_EXIT_EXEC_FAILED;
	}
	for (char **e = env; e && *e; e++) {
		if (!env_valid(*e)) {
			g_printerr("grainvm exec: --env \"%s\" is not NAME=VALUE\n", *e);
			return GV_EXIT_EXEC_FAILED;
		}
	}
	if (cwd && cwd[0] != '/') {
		g_printerr("grainvm exec: --cwd \"%s\" is not an absolute guest path\n", cwd);
		return GV_EXIT_EXEC_FAILED;
	}
	g_autoptr(GError) err = NULL;
	g_autoptr(GvVmPaths) paths = gv_cli_vm_paths(argc == 2 ? argv[1] : NULL, &err);
	if (!paths) {
		g_printerr("grainvm: %s\n", err->message);
		return GV_EXIT_EXEC_FAILED;
	}
	/* A result from a disk whose base changed under it is worth nothing. */
	if (!gv_base_stamp_check(paths, &err)) {
		g_printerr("grainvm: %s\n", err->message);
		return GV_EXIT_EXEC_FAILED;
	}
	g_autoptr(GvQmpClient) ctl = gv_cli_control(paths, &err);
	if (!ctl) {
		g_printerr("grainvm: %s\n", err->message);
		return GV_EXIT_EXEC_FAILED;
	}
	if (!cwd)
		cwd = default_cwd(paths);
	if (shell && !has_dash) {
		cmd_argv = (char **)login_shell;
		cmd_argc = 3;
	}

	g_autoptr(JsonObject) args = start_args(cmd_argc, cmd_argv, env, cwd);
	ExecRun r = { .ctl = ctl, .ctx = gv_qmp_client_get_context(ctl), .vm = paths->name,
		      .handle = -1, .timeout_s = (guint)timeout };
	r.tty = want_tty && isatty(STDIN_FILENO);
	r.forward_stdin = r.tty || !isatty(STDIN_FILENO);
	return run(&r, args);
}

int gv_cmd_exec(int argc, char **argv)
{
	return exec_main(argc, argv, FALSE);
}

int gv_cmd_shell(int argc, char **argv)
{
	return exec_main(argc, argv, TRUE);
}
