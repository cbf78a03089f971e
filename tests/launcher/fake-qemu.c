/* SPDX-License-Identifier: MIT */
/*
 * fake-qemu.c - a scripted stand-in for qemu-system-x86_64 in the
 * supervisor's unit tests (tests/launcher/test-supervisor.c)
 *
 * Why a fake: the supervisor's cases (ready, every rung of the down
 * ladder, crashes, adoption) each need a QEMU and a guest agent, and a
 * real guest takes seconds to boot under TCG here; a unit test case must
 * take well under a second, and must also be able to make QEMU or the
 * agent misbehave on cue (ignore quit, die by a signal).  The VM tests
 * (tests/vm/) run the same paths against real QEMU and the real agent.
 *
 * What it does: grainvm starts it exactly as it starts QEMU
 * (GRAINVM_QEMU=path/fake-qemu), with QEMU's argv.  From that argv it
 * takes only what it needs and ignores every option it does not know, so
 * new QEMU options (a -sandbox, a wrapper such as setpriv) do not break
 * it:
 *   -name NAME
 *   -chardev socket,id=ID,fd=N,...            listening sockets (inherited)
 *   -mon chardev=ID,mode=control              QMP
 *   -serial chardev:ID                        the console
 *   -device virtserialport,chardev=ID,id=DEV,name=org.grainvm.agent.0
 *   -device virtserialport,chardev=ID,id=DEV,name=org.qemu.guest_agent.0
 *   -device virtio-9p-pci,...,mount_tag=TAG   the shares the agent reports
 *   -append "... grainvm.mount=TAG:PATH:..."  their mount points
 * It accepts one connection at a time on each socket and, like QEMU's
 * server chardevs, accepts the next one when a client goes (a new
 * supervisor adopting it).
 *
 * Built-in behaviour (a QEMU whose guest runs grainvm-agent and mounts
 * every share):
 *   QMP    greeting; qmp_capabilities; cont (RESUME, then the guest
 *          "boots": a console line and VSERPORT_CHANGE open for the agent
 *          port); stop; query-status; system_powerdown (POWERDOWN, then the
 *          guest powers off: SHUTDOWN reason guest-shutdown, exit 0); quit
 *          (SHUTDOWN reason host-qmp-quit, exit 0); anything else is
 *          CommandNotFound.  SIGTERM/SIGINT/SIGHUP: SHUTDOWN host-signal,
 *          exit 0, as QEMU.
 *   agent  0xFF resets the line; guest-sync-delimited (0xFF, then the id),
 *          guest-sync, guest-ping, grain-mount (already mounted: the
 *          guest mounts its shares itself), grain-status (every share
 *          mounted and writable), grain-build-status (idle), guest-shutdown (no reply;
 *          the guest powers off); anything else is CommandNotFound.
 *   qga    silent: the guest runs no qemu-ga.
 *
 * Scripting a case: GV_FAKE_QEMU_SCRIPT names a file of lines
 *
 *   TRIGGER ACTION [ARGUMENT...]       ('#' starts a comment line)
 *
 * TRIGGER is CHANNEL:COMMAND (CHANNEL qmp, agent or qga; COMMAND a command
 * name, "*" for any command, "@connect" for a new connection, "@bad" for a
 * line that is not a JSON object), optionally with "#N" to match only the
 * Nth time (from 1) that COMMAND arrives on that channel; or "usr1" (the
 * process got SIGUSR1: how a test makes QEMU die at a moment it chooses).
 * For one arrival, the lines of COMMAND#N are run if there are any, else
 * those of COMMAND, else those of "*", else the built-in behaviour.  Lines
 * of one trigger run in file order.  ACTION is one of:
 *
 *   default            the built-in behaviour for this trigger
 *   ignore             nothing (a command that never gets a reply)
 *   send[:CH] TEXT     TEXT and a newline to channel CH (default: the
 *                      trigger's; qmp, agent, qga or console)
 *   write[:CH] TEXT    TEXT alone
 *   event NAME [JSON]  a QMP event, with QEMU's timestamp member
 *   stderr TEXT        a line on stderr (grainvm's qemu.log)
 *   sleep MS           pause
 *   close[:CH]         drop that connection (the socket still listens)
 *   poweroff           the guest powers off (SHUTDOWN guest-shutdown, exit 0)
 *   exit N             exit with status N
 *   signal N           die by signal N (without a core dump)
 *
 * In TEXT, @ID@ is the request's "id" as JSON (null when it had none) and
 * @SYNC@ its arguments.id (guest-sync's); \n \r \t \\ and \xHH are
 * escapes, so a line can carry any byte (0xFF, invalid UTF-8, NUL).
 * Example, a QEMU that ignores quit, and an agent whose second grain-status
 * is a lie of the wrong type:
 *
 *   qmp:quit ignore
 *   agent:grain-status#2 send {"return": {"mounts": 7}, "id": @ID@}
 *
 * GV_FAKE_QEMU_TRACE names a file to which every command received is
 * appended as "CHANNEL COMMAND" (and "CHANNEL @connect"), so a test can
 * check what the supervisor sent and in what order.  The channels are
 * served by one poll loop: lines of different channels interleave as the
 * scheduler likes, so compare the order within a channel.
 *
 * Both variables reach the fake because QEMU inherits the environment of
 * the supervisor, which inherits `grainvm up`'s.  A QEMU run as another
 * user (GRAINVM_QEMU_USER, as root) must be able to read the script and
 * write the trace.
 *
 * As a safety net against a test that dies before cleaning up, the fake
 * ends itself after LIFETIME_S.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib.h>
#include <json-glib/json-glib.h>

/* Far beyond any test case (each takes well under a second). */
#define LIFETIME_S 120
/* The longest request line kept; the supervisor's are a few hundred bytes. */
#define LINE_MAX_BYTES (1u << 20)

enum { CH_QMP, CH_CONSOLE, CH_AGENT, CH_QGA, CH__COUNT };
static const char *const ch_names[CH__COUNT] = { "qmp", "console", "agent", "qga" };

typedef struct {
	char *chardev;   /* its -chardev id */
	int listen_fd;   /* -1: not given */
	int fd;          /* the connection, -1 */
	GString *in;
	GHashTable *counts; /* command -> arrivals so far */
} Channel;

typedef struct {
	char *trigger;  /* "qmp:quit", "agent:grain-status#2", "usr1" */
	char *action;
	char *target;   /* the CH of send:CH and close:CH, or NULL */
	char *arg;      /* the rest of the line, or NULL */
} ScriptLine;

static Channel ch[CH__COUNT];
static char *vm_name;
static char *agent_dev, *qga_dev; /* device ids of the two virtserialports */
static GPtrArray *shares;         /* char *: "TAG" */
static GHashTable *mount_points;  /* tag -> guest path, from grainvm.mount= */
static GPtrArray *script;         /* ScriptLine * */
static char *trace_path;
static gboolean running;
static gboolean agent_port_open;

static void trace(const char *channel, const char *what)
{
	if (!trace_path)
		return;
	FILE *f = fopen(trace_path, "a");
	if (!f)
		return;
	fprintf(f, "%s %s\n", channel, what);
	fclose(f);
}

static int channel_by_name(const char *name)
{
	for (int i = 0; i < CH__COUNT; i++)
		if (!strcmp(name, ch_names[i]))
			return i;
	return -1;
}

/* ---- output ----------------------------------------------------------------- */

static void drop_connection(int c)
{
	if (ch[c].fd < 0)
		return;
	close(ch[c].fd);
	ch[c].fd = -1;
	g_string_truncate(ch[c].in, 0);
}

static void write_bytes(int c, const char *buf, gsize len)
{
	while (ch[c].fd >= 0 && len) {
		ssize_t w = send(ch[c].fd, buf, len, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			drop_connection(c);
			return;
		}
		buf += w;
		len -= (gsize)w;
	}
}

static void send_line(int c, const char *text)
{
	write_bytes(c, text, strlen(text));
	write_bytes(c, "\n", 1);
}

static char *node_text(JsonNode *n)
{
	if (!n)
		return g_strdup("null");
	return json_to_string(n, FALSE);
}

/* {"return": RET, "id": ID}, RET given as JSON text. */
static void send_return(int c, JsonNode *id, const char *ret)
{
	g_autofree char *idt = id ? node_text(id) : NULL;
	g_autofree char *line = idt ? g_strdup_printf("{\"return\": %s, \"id\": %s}", ret, idt)
				    : g_strdup_printf("{\"return\": %s}", ret);
	send_line(c, line);
}

static void send_error(int c, JsonNode *id, const char *cls, const char *desc)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "error");
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "class");
	json_builder_add_string_value(b, cls);
	json_builder_set_member_name(b, "desc");
	json_builder_add_string_value(b, desc);
	json_builder_end_object(b);
	if (id) {
		json_builder_set_member_name(b, "id");
		json_builder_add_value(b, json_node_copy(id));
	}
	json_builder_end_object(b);
	g_autoptr(JsonNode) root = json_builder_get_root(b);
	g_autofree char *text = json_to_string(root, FALSE);
	send_line(c, text);
}

static void send_event(const char *name, const char *data)
{
	gint64 now = g_get_real_time();
	g_autofree char *line = g_strdup_printf(
		"{\"event\": \"%s\", \"data\": %s, \"timestamp\": {\"seconds\": %" G_GINT64_FORMAT
		", \"microseconds\": %" G_GINT64_FORMAT "}}", name, data && *data ? data : "{}",
		now / G_USEC_PER_SEC, now % G_USEC_PER_SEC);
	send_line(CH_QMP, line);
}

static void finish(int code)
{
	for (int i = 0; i < CH__COUNT; i++)
		drop_connection(i);
	exit(code);
}

static G_GNUC_NORETURN void die_by_signal(int sig)
{
	/* A crash the test asked for: no core file for it. */
	prctl(PR_SET_DUMPABLE, 0);
	signal(sig, SIG_DFL);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, sig);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	raise(sig);
	_exit(128 + sig);
}

static void guest_poweroff(void)
{
	send_event("SHUTDOWN", "{\"guest\": true, \"reason\": \"guest-shutdown\"}");
	finish(0);
}

static void guest_boot(void)
{
	const char *banner = "fake-qemu: the guest booted\r\n";
	write_bytes(CH_CONSOLE, banner, strlen(banner));
	if (agent_dev && !agent_port_open) {
		agent_port_open = TRUE;
		g_autofree char *d = g_strdup_printf("{\"id\": \"%s\", \"open\": true}", agent_dev);
		send_event("VSERPORT_CHANGE", d);
	}
}

/* ---- built-in behaviour -------------------------------------------------------- */

static char *grain_status(void)
{
	g_autoptr(GString) s = g_string_new(NULL);
	g_string_append_printf(s, "{\"agent\": \"grainvm-agent\", \"version\": \"fake\", "
			       "\"init\": true, \"ready\": true, \"uptime\": 1.5, "
			       "\"hostname\": \"%s\", \"quiesced\": false, \"mounts\": [",
			       vm_name ? vm_name : "fake");
	for (guint i = 0; i < shares->len; i++) {
		const char *tag = g_ptr_array_index(shares, i);
		const char *mp = g_hash_table_lookup(mount_points, tag);
		g_autofree char *def = g_strconcat("/mnt/", tag, NULL);
		g_string_append_printf(s, "%s{\"tag\": \"%s\", \"mount-point\": \"%s\", "
				       "\"expected\": true, \"mounted\": true, \"writable\": true, "
				       "\"options\": {\"trans\": \"virtio\"}}",
				       i ? ", " : "", tag, mp ? mp : def);
	}
	g_string_append(s, "]}");
	return g_strdup(s->str);
}

static void qmp_default(const char *cmd, JsonNode *id)
{
	if (!strcmp(cmd, "@connect")) {
		send_line(CH_QMP, "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, "
				  "\"major\": 8}, \"package\": \"fake-qemu\"}, \"capabilities\": []}}");
	} else if (!strcmp(cmd, "@bad")) {
		send_error(CH_QMP, NULL, "GenericError", "JSON parse error");
	} else if (!strcmp(cmd, "qmp_capabilities")) {
		send_return(CH_QMP, id, "{}");
	} else if (!strcmp(cmd, "cont")) {
		send_return(CH_QMP, id, "{}");
		running = TRUE;
		send_event("RESUME", NULL);
		guest_boot();
	} else if (!strcmp(cmd, "stop")) {
		send_return(CH_QMP, id, "{}");
		running = FALSE;
		send_event("STOP", NULL);
	} else if (!strcmp(cmd, "query-status")) {
		send_return(CH_QMP, id, running ? "{\"status\": \"running\", \"singlestep\": false, "
						  "\"running\": true}"
						: "{\"status\": \"prelaunch\", \"singlestep\": false, "
						  "\"running\": false}");
	} else if (!strcmp(cmd, "system_powerdown")) {
		send_return(CH_QMP, id, "{}");
		send_event("POWERDOWN", NULL);
		guest_poweroff();
	} else if (!strcmp(cmd, "quit")) {
		send_return(CH_QMP, id, "{}");
		send_event("SHUTDOWN", "{\"guest\": false, \"reason\": \"host-qmp-quit\"}");
		finish(0);
	} else {
		g_autofree char *desc = g_strdup_printf("The command %s has not been found", cmd);
		send_error(CH_QMP, id, "CommandNotFound", desc);
	}
}

static void agent_default(int c, const char *cmd, JsonNode *id, JsonNode *sync)
{
	if (c == CH_QGA || !strcmp(cmd, "@connect"))
		return; /* no qemu-ga in this guest; the agent says nothing first */
	if (!strcmp(cmd, "@bad")) {
		send_error(c, NULL, "GenericError", "JSON parse error");
	} else if (!strcmp(cmd, "guest-sync-delimited") || !strcmp(cmd, "guest-sync")) {
		if (!strcmp(cmd, "guest-sync-delimited"))
			write_bytes(c, "\xff", 1);
		g_autofree char *v = node_text(sync);
		send_return(c, id, v);
	} else if (!strcmp(cmd, "guest-ping")) {
		send_return(c, id, "{}");
	} else if (!strcmp(cmd, "grain-status")) {
		g_autofree char *st = grain_status();
		send_return(c, id, st);
	} else if (!strcmp(cmd, "grain-mount")) {
		send_return(c, id, "{\"already\": true}");
	} else if (!strcmp(cmd, "grain-build-status")) {
		send_return(c, id, "{\"state\": \"idle\"}");
	} else if (!strcmp(cmd, "guest-shutdown")) {
		guest_poweroff();
	} else {
		g_autofree char *desc = g_strdup_printf("The command %s has not been found", cmd);
		send_error(c, id, "CommandNotFound", desc);
	}
}

static void run_default(int c, const char *cmd, JsonNode *id, JsonNode *sync)
{
	if (c == CH_QMP)
		qmp_default(cmd, id);
	else if (c == CH_AGENT || c == CH_QGA)
		agent_default(c, cmd, id, sync);
	else if (c < 0 && !strcmp(cmd, "sigterm")) {
		fprintf(stderr, "fake-qemu: terminating on signal 15\n");
		send_event("SHUTDOWN", "{\"guest\": false, \"reason\": \"host-signal\"}");
		finish(0);
	}
}

/* ---- the script --------------------------------------------------------------- */

/* Escapes and @ID@/@SYNC@ of a send/write TEXT; Return: bytes, *len set. */
static char *expand(const char *text, JsonNode *id, JsonNode *sync, gsize *len)
{
	g_autofree char *idt = node_text(id);
	g_autofree char *synct = node_text(sync);
	GString *s = g_string_new(NULL);
	for (const char *p = text; *p; p++) {
		if (g_str_has_prefix(p, "@ID@")) {
			g_string_append(s, idt);
			p += 3;
		} else if (g_str_has_prefix(p, "@SYNC@")) {
			g_string_append(s, synct);
			p += 5;
		} else if (*p == '\\' && p[1]) {
			p++;
			switch (*p) {
			case 'n': g_string_append_c(s, '\n'); break;
			case 'r': g_string_append_c(s, '\r'); break;
			case 't': g_string_append_c(s, '\t'); break;
			case 'x':
				if (g_ascii_isxdigit(p[1]) && g_ascii_isxdigit(p[2])) {
					g_string_append_c(s, (char)(g_ascii_xdigit_value(p[1]) * 16 +
								    g_ascii_xdigit_value(p[2])));
					p += 2;
					break;
				}
				G_GNUC_FALLTHROUGH;
			default: g_string_append_c(s, *p); break;
			}
		} else {
			g_string_append_c(s, *p);
		}
	}
	*len = s->len;
	return g_string_free(s, FALSE);
}

static void run_action(const ScriptLine *l, int c, const char *cmd, JsonNode *id, JsonNode *sync)
{
	int target = l->target ? channel_by_name(l->target) : c;
	if (target < 0)
		target = CH_QMP; /* usr1's sends go to QMP unless told */
	const char *a = l->action;
	if (!strcmp(a, "default")) {
		run_default(c, cmd, id, sync);
	} else if (!strcmp(a, "ignore")) {
	} else if (!strcmp(a, "send") || !strcmp(a, "write")) {
		gsize len;
		g_autofree char *bytes = expand(l->arg ? l->arg : "", id, sync, &len);
		write_bytes(target, bytes, len);
		if (a[0] == 's')
			write_bytes(target, "\n", 1);
	} else if (!strcmp(a, "event")) {
		g_autofree char *name = g_strdup(l->arg ? l->arg : "EVENT");
		char *sp = strchr(name, ' ');
		if (sp)
			*sp++ = '\0';
		send_event(name, sp);
	} else if (!strcmp(a, "stderr")) {
		fprintf(stderr, "%s\n", l->arg ? l->arg : "");
		fflush(stderr);
	} else if (!strcmp(a, "sleep")) {
		g_usleep((gulong)g_ascii_strtoull(l->arg ? l->arg : "0", NULL, 10) * 1000);
	} else if (!strcmp(a, "close")) {
		drop_connection(target);
	} else if (!strcmp(a, "poweroff")) {
		guest_poweroff();
	} else if (!strcmp(a, "exit")) {
		finish((int)g_ascii_strtoll(l->arg ? l->arg : "1", NULL, 10));
	} else if (!strcmp(a, "signal")) {
		for (int i = 0; i < CH__COUNT; i++)
			drop_connection(i);
		die_by_signal((int)g_ascii_strtoll(l->arg ? l->arg : "9", NULL, 10));
	}
}

/* Run the script lines for @key; Return: FALSE when there are none. */
static gboolean run_lines(const char *key, int c, const char *cmd, JsonNode *id, JsonNode *sync)
{
	gboolean any = FALSE;
	for (guint i = 0; i < script->len; i++) {
		const ScriptLine *l = g_ptr_array_index(script, i);
		if (strcmp(l->trigger, key))
			continue;
		any = TRUE;
		run_action(l, c, cmd, id, sync);
	}
	return any;
}

/* Something arrived on channel @c (or, @c < 0, a signal named @cmd). */
static void dispatch(int c, const char *cmd, JsonNode *id, JsonNode *sync)
{
	if (c < 0) {
		if (!run_lines(cmd, c, cmd, id, sync))
			run_default(c, cmd, id, sync);
		return;
	}
	trace(ch_names[c], cmd);
	guint n = GPOINTER_TO_UINT(g_hash_table_lookup(ch[c].counts, cmd)) + 1;
	g_hash_table_insert(ch[c].counts, g_strdup(cmd), GUINT_TO_POINTER(n));
	g_autofree char *nth = g_strdup_printf("%s:%s#%u", ch_names[c], cmd, n);
	g_autofree char *every = g_strdup_printf("%s:%s", ch_names[c], cmd);
	g_autofree char *any = g_strdup_printf("%s:*", ch_names[c]);
	if (run_lines(nth, c, cmd, id, sync) || run_lines(every, c, cmd, id, sync) ||
	    (cmd[0] != '@' && run_lines(any, c, cmd, id, sync)))
		return;
	run_default(c, cmd, id, sync);
}

static void load_script(const char *path)
{
	g_autofree char *text = NULL;
	g_autoptr(GError) err = NULL;
	if (!g_file_get_contents(path, &text, NULL, &err)) {
		fprintf(stderr, "fake-qemu: GV_FAKE_QEMU_SCRIPT: %s\n", err->message);
		exit(1);
	}
	g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
	for (char **p = lines; *p; p++) {
		char *line = g_strstrip(*p);
		if (!*line || *line == '#')
			continue;
		g_auto(GStrv) f = g_strsplit(line, " ", 3);
		if (!f[1]) {
			fprintf(stderr, "fake-qemu: %s: no action in \"%s\"\n", path, line);
			exit(1);
		}
		ScriptLine *l = g_new0(ScriptLine, 1);
		l->trigger = g_strdup(f[0]);
		char *colon = strchr(f[1], ':');
		if (colon) {
			l->target = g_strdup(colon + 1);
			*colon = '\0';
		}
		l->action = g_strdup(f[1]);
		l->arg = f[2] ? g_strdup(f[2]) : NULL;
		g_ptr_array_add(script, l);
	}
}

/* ---- input -------------------------------------------------------------------- */

static void handle_line(int c, const char *line, gsize len)
{
	g_autoptr(JsonParser) p = json_parser_new();
	JsonObject *o = NULL;
	if (json_parser_load_from_data(p, line, (gssize)len, NULL)) {
		JsonNode *root = json_parser_get_root(p);
		if (root && JSON_NODE_HOLDS_OBJECT(root))
			o = json_node_get_object(root);
	}
	const char *cmd = o ? json_object_get_string_member_with_default(o, "execute", NULL) : NULL;
	if (!cmd) {
		dispatch(c, "@bad", NULL, NULL);
		return;
	}
	JsonNode *id = json_object_get_member(o, "id");
	JsonNode *sync = NULL;
	JsonNode *args = json_object_get_member(o, "arguments");
	if (args && JSON_NODE_HOLDS_OBJECT(args))
		sync = json_object_get_member(json_node_get_object(args), "id");
	dispatch(c, cmd, id, sync);
}

static void on_input(int c)
{
	char buf[8192];
	ssize_t n = read(ch[c].fd, buf, sizeof(buf));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		drop_connection(c);
		return;
	}
	if (c == CH_CONSOLE)
		return; /* typed input: the fake guest has no shell */
	for (ssize_t i = 0; i < n && ch[c].fd >= 0; i++) {
		guint8 b = (guint8)buf[i];
		if (b == 0xFF) {
			/* As qemu-ga's lexer: 0xFF throws away the partial request. */
			g_string_truncate(ch[c].in, 0);
		} else if (b == '\n') {
			g_autofree char *line = g_strndup(ch[c].in->str, ch[c].in->len);
			gsize len = ch[c].in->len;
			g_string_truncate(ch[c].in, 0);
			if (len)
				handle_line(c, line, len);
		} else if (ch[c].in->len < LINE_MAX_BYTES) {
			g_string_append_c(ch[c].in, (char)b);
		}
	}
}

static void on_accept(int c)
{
	int fd = accept4(ch[c].listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	ch[c].fd = fd;
	dispatch(c, "@connect", NULL, NULL);
}

/* ---- argv ----------------------------------------------------------------------- */

/* "a=1,b=2" -> the value of @key, or NULL (QEMU's ",," escapes are not needed here). */
static char *opt_value(const char *opts, const char *key)
{
	g_auto(GStrv) parts = g_strsplit(opts, ",", -1);
	gsize klen = strlen(key);
	for (char **p = parts; *p; p++)
		if (!strncmp(*p, key, klen) && (*p)[klen] == '=')
			return g_strdup(*p + klen + 1);
	return NULL;
}

static int chardev_fd(GHashTable *chardevs, const char *id)
{
	gpointer v;
	return id && g_hash_table_lookup_extended(chardevs, id, NULL, &v) ? GPOINTER_TO_INT(v) : -1;
}

static void parse_argv(int argc, char **argv)
{
	g_autoptr(GHashTable) chardevs = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	for (int i = 1; i + 1 < argc; i++) {
		const char *o = argv[i], *v = argv[i + 1];
		if (!strcmp(o, "-name")) {
			vm_name = g_strdup(v);
		} else if (!strcmp(o, "-chardev") && g_str_has_prefix(v, "socket,")) {
			g_autofree char *id = opt_value(v, "id");
			g_autofree char *fd = opt_value(v, "fd");
			if (id && fd)
				g_hash_table_insert(chardevs, g_steal_pointer(&id),
						    GINT_TO_POINTER(atoi(fd)));
		} else if (!strcmp(o, "-mon")) {
			ch[CH_QMP].chardev = opt_value(v, "chardev");
		} else if (!strcmp(o, "-serial") && g_str_has_prefix(v, "chardev:")) {
			ch[CH_CONSOLE].chardev = g_strdup(v + strlen("chardev:"));
		} else if (!strcmp(o, "-device") && g_str_has_prefix(v, "virtserialport,")) {
			g_autofree char *name = opt_value(v, "name");
			int c = !g_strcmp0(name, "org.grainvm.agent.0") ? CH_AGENT
				: !g_strcmp0(name, "org.qemu.guest_agent.0") ? CH_QGA : -1;
			if (c < 0)
				continue;
			ch[c].chardev = opt_value(v, "chardev");
			char **dev = c == CH_AGENT ? &agent_dev : &qga_dev;
			*dev = opt_value(v, "id");
		} else if (!strcmp(o, "-device") && g_str_has_prefix(v, "virtio-9p-pci,")) {
			char *tag = opt_value(v, "mount_tag");
			if (tag)
				g_ptr_array_add(shares, tag);
		} else if (!strcmp(o, "-append")) {
			g_auto(GStrv) words = g_strsplit(v, " ", -1);
			for (char **w = words; *w; w++) {
				if (!g_str_has_prefix(*w, "grainvm.mount="))
					continue;
				g_auto(GStrv) f = g_strsplit(*w + strlen("grainvm.mount="), ":", 3);
				if (f[0] && f[1])
					g_hash_table_insert(mount_points, g_strdup(f[0]), g_strdup(f[1]));
			}
		}
	}
	for (int c = 0; c < CH__COUNT; c++) {
		ch[c].listen_fd = chardev_fd(chardevs, ch[c].chardev);
		if (ch[c].listen_fd < 0) {
			fprintf(stderr, "fake-qemu: no socket chardev for the %s in argv\n", ch_names[c]);
			exit(1);
		}
	}
}

int main(int argc, char **argv)
{
	alarm(LIFETIME_S);
	signal(SIGPIPE, SIG_IGN);
	shares = g_ptr_array_new_with_free_func(g_free);
	mount_points = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	script = g_ptr_array_new();
	for (int c = 0; c < CH__COUNT; c++) {
		ch[c].fd = -1;
		ch[c].in = g_string_new(NULL);
		ch[c].counts = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	}
	parse_argv(argc, argv);
	const char *s = g_getenv("GV_FAKE_QEMU_SCRIPT");
	if (s && *s)
		load_script(s);
	trace_path = g_strdup(g_getenv("GV_FAKE_QEMU_TRACE"));

	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	int sfd = signalfd(-1, &set, SFD_CLOEXEC);

	for (;;) {
		struct pollfd pfd[CH__COUNT + 1];
		for (int c = 0; c < CH__COUNT; c++) {
			pfd[c].fd = ch[c].fd >= 0 ? ch[c].fd : ch[c].listen_fd;
			pfd[c].events = POLLIN;
			pfd[c].revents = 0;
		}
		pfd[CH__COUNT] = (struct pollfd){ sfd, POLLIN, 0 };
		if (poll(pfd, CH__COUNT + 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		if (pfd[CH__COUNT].revents & POLLIN) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
				dispatch(-1, si.ssi_signo == SIGUSR1 ? "usr1" : "sigterm", NULL, NULL);
		}
		for (int c = 0; c < CH__COUNT; c++) {
			if (!(pfd[c].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			if (ch[c].fd >= 0 && pfd[c].fd == ch[c].fd)
				on_input(c);
			else if (ch[c].fd < 0)
				on_accept(c);
		}
	}
}
