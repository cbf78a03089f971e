/* SPDX-License-Identifier: MIT */
/*
 * test-supervisor.c - the real supervisor against a scripted QEMU, no guest
 *
 * Each case runs the real `grainvm` binary (up, down, status) with
 * GRAINVM_QEMU pointing at fake-qemu (fake-qemu.c says why a fake and how
 * to script it), in its own GRAINVM_HOME, and checks what a user relies
 * on: what the commands print and exit with, what state.json records, and
 * that nothing is left running.  The down ladder's waits are cut to
 * STEP_MS with GRAINVM_DOWN_STEP_MS, so every case takes well under a
 * second.  Only the control socket's protocol is spoken directly (the
 * control-errors case), since the CLI never sends a malformed line.
 *
 * New cases (a hostile QEMU or agent) need only a script: see
 * case_new() and the script lines in the cases below.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

/*
 * Each rung of down waits this long here.  The fake answers at once, so
 * this is only the slack for a loaded machine (and ASan) between a rung's
 * command and QEMU's end; three rungs of it must stay well under a second.
 */
#define STEP_MS "100"
/* A deadline for anything that should take milliseconds: a bug fails, not hangs. */
#define DEADLINE_MS 20000

typedef struct {
	char *tmp;      /* removed at the end */
	char *project;  /* cwd of every command; holds grainvm.conf */
	char *script;   /* GV_FAKE_QEMU_SCRIPT */
	char *trace;    /* GV_FAKE_QEMU_TRACE */
	char *run_dir;  /* GRAINVM_HOME/run/NAME */
	char *name;
	char **env;
	/* The last command's. */
	int code;
	char *out;
	char *err;
} Case;

/* ---- helpers -------------------------------------------------------------------- */

static char *read_text(const char *path)
{
	char *text = NULL;
	if (!g_file_get_contents(path, &text, NULL, NULL))
		return g_strdup("");
	return text;
}

static void write_text(const char *path, const char *text)
{
	g_autoptr(GError) err = NULL;
	g_file_set_contents(path, text, -1, &err);
	g_assert_no_error(err);
}

/**
 * case_new() - a fresh VM home, project and fake-QEMU script
 * @name: the VM's name (unique per case, for a readable failure)
 * @script: (nullable): fake-qemu script lines; NULL: a well-behaved QEMU
 */
static Case *case_new(const char *name, const char *script)
{
	Case *c = g_new0(Case, 1);
	g_autoptr(GError) err = NULL;
	c->tmp = g_dir_make_tmp("gv-sup-XXXXXX", &err);
	g_assert_no_error(err);
	c->name = g_strdup(name);
	c->project = g_build_filename(c->tmp, "project", NULL);
	g_assert_cmpint(g_mkdir(c->project, 0700), ==, 0);
	g_autofree char *home = g_build_filename(c->tmp, "home", NULL);
	c->run_dir = g_build_filename(home, "run", name, NULL);
	c->script = g_build_filename(c->tmp, "script", NULL);
	c->trace = g_build_filename(c->tmp, "trace", NULL);
	write_text(c->script, script ? script : "");
	/*
	 * No kernel and no card: little to prepare, so up goes quickly to the
	 * supervisor.  Something must boot, so a blank 1 MiB raw disk (under
	 * a qcow2 overlay that up makes, as for any VM).  The default
	 * workspace share stays, so readiness waits for a mount.
	 * mapped-file: /tmp may lack user xattrs.
	 */
	g_autofree char *disk = g_build_filename(c->tmp, "base.raw", NULL);
	g_autofree char *zeros = g_malloc0(1u << 20);
	g_file_set_contents(disk, zeros, 1u << 20, &err);
	g_assert_no_error(err);
	g_autofree char *conf = g_strdup_printf("[vm]\nname=%s\naccel=tcg\nready-timeout=10\n"
						"[boot]\nkernel=none\n[disk]\nimage=%s\n"
						"[net]\nmode=none\n"
						"[share workspace]\nsecurity=mapped-file\n", name, disk);
	g_autofree char *conf_path = g_build_filename(c->project, "grainvm.conf", NULL);
	write_text(conf_path, conf);

	const char *fake = g_getenv("GV_FAKE_QEMU");
	g_assert_nonnull(fake);
	c->env = g_get_environ();
	c->env = g_environ_setenv(c->env, "GRAINVM_HOME", home, TRUE);
	c->env = g_environ_setenv(c->env, "GRAINVM_QEMU", fake, TRUE);
	c->env = g_environ_setenv(c->env, "GRAINVM_DOWN_STEP_MS", STEP_MS, TRUE);
	c->env = g_environ_setenv(c->env, "GV_FAKE_QEMU_SCRIPT", c->script, TRUE);
	c->env = g_environ_setenv(c->env, "GV_FAKE_QEMU_TRACE", c->trace, TRUE);
	/* As root QEMU would drop to an unprivileged user, who cannot read this
	 * 0700 project; what is tested here is the supervisor, and the fake
	 * QEMU needs no confinement (qemu-privileges.sh tests the drop). */
	if (geteuid() == 0)
		c->env = g_environ_setenv(c->env, "GRAINVM_QEMU_USER", "root", TRUE);
	return c;
}

/* Run `grainvm ARGS...`; the exit code and output land in @c. */
static int run(Case *c, ...) G_GNUC_NULL_TERMINATED;
static int run(Case *c, ...)
{
	g_autoptr(GPtrArray) argv = g_ptr_array_new();
	g_ptr_array_add(argv, (gpointer)g_getenv("GRAINVM"));
	va_list ap;
	va_start(ap, c);
	for (const char *a; (a = va_arg(ap, const char *));)
		g_ptr_array_add(argv, (gpointer)a);
	va_end(ap);
	g_ptr_array_add(argv, NULL);
	g_clear_pointer(&c->out, g_free);
	g_clear_pointer(&c->err, g_free);
	g_autoptr(GError) err = NULL;
	int status;
	g_spawn_sync(c->project, (char **)argv->pdata, c->env, G_SPAWN_DEFAULT, NULL, NULL,
		     &c->out, &c->err, &status, &err);
	g_assert_no_error(err);
	c->code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	g_test_message("grainvm %s -> %d\n%s%s", (char *)argv->pdata[1], c->code, c->out, c->err);
	return c->code;
}

static char *run_path(Case *c, const char *file)
{
	return g_build_filename(c->run_dir, file, NULL);
}

static int read_pid(Case *c, const char *file)
{
	g_autofree char *path = run_path(c, file);
	g_autofree char *text = read_text(path);
	return atoi(text);
}

/* The VM's lock is held, as by a live supervisor. */
static gboolean supervised(Case *c)
{
	g_autofree char *path = run_path(c, "lock");
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return FALSE;
	gboolean held = flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
	close(fd);
	return held;
}

static gboolean pid_gone(int pid)
{
	/* Not our child (QEMU's parent is the supervisor): a zombie counts as gone. */
	g_autofree char *stat = g_strdup_printf("/proc/%d/stat", pid);
	g_autofree char *text = NULL;
	if (kill(pid, 0) < 0 && errno == ESRCH)
		return TRUE;
	if (!g_file_get_contents(stat, &text, NULL, NULL))
		return TRUE;
	const char *close_paren = strrchr(text, ')');
	return close_paren && close_paren[1] == ' ' && close_paren[2] == 'Z';
}

#define WAIT_FOR(expr)                                                               \
	do {                                                                         \
		gint64 until_ = g_get_monotonic_time() + DEADLINE_MS * 1000;         \
		while (!(expr)) {                                                    \
			if (g_get_monotonic_time() > until_)                         \
				g_error("timed out waiting for %s", #expr);          \
			g_usleep(5000);                                              \
		}                                                                    \
	} while (0)

static JsonObject *state_json(Case *c)
{
	g_autofree char *path = run_path(c, "state.json");
	g_autofree char *text = read_text(path);
	g_autoptr(JsonParser) p = json_parser_new();
	g_autoptr(GError) err = NULL;
	json_parser_load_from_data(p, text, -1, &err);
	g_assert_no_error(err);
	g_assert_true(JSON_NODE_HOLDS_OBJECT(json_parser_get_root(p)));
	return json_object_ref(json_node_get_object(json_parser_get_root(p)));
}

static void assert_state(Case *c, const char *phase, const char *reason)
{
	g_autoptr(JsonObject) st = state_json(c);
	g_assert_cmpstr(json_object_get_string_member_with_default(st, "phase", ""), ==, phase);
	g_assert_cmpstr(json_object_get_string_member_with_default(st, "reason", ""), ==, reason);
}

static void assert_contains(const char *haystack, const char *needle)
{
	if (!strstr(haystack, needle))
		g_error("expected \"%s\" in:\n%s", needle, haystack);
}

/* up, and check what says the VM is ready; Return: the fake QEMU's pid. */
static int up_ready(Case *c)
{
	g_assert_cmpint(run(c, "up", NULL), ==, 0);
	g_autofree char *line = g_strdup_printf("grainvm: vm %s is ready in ", c->name);
	assert_contains(c->out, line);
	g_assert_true(supervised(c));
	assert_state(c, "ready", "");
	int qemu = read_pid(c, "qemu.pid");
	g_assert_cmpint(qemu, >, 0);
	g_assert_false(pid_gone(qemu));
	return qemu;
}

/* After the VM ended: no process, no socket, no pid file of it is left. */
static void assert_nothing_left(Case *c, int qemu)
{
	WAIT_FOR(!supervised(c));
	WAIT_FOR(qemu <= 0 || pid_gone(qemu));
	/*
	 * The supervisor is detached: no one sees its exit status.  Its log
	 * shows what a sanitizer (the ASan build) or GLib found instead.
	 */
	g_autofree char *log_path = run_path(c, "supervisor.log");
	g_autofree char *log = read_text(log_path);
	const char *bad[] = { "Sanitizer", "runtime error:", "-CRITICAL **", "-WARNING **",
			      "-ERROR **" };
	for (gsize i = 0; i < G_N_ELEMENTS(bad); i++)
		if (strstr(log, bad[i]))
			g_error("the supervisor logged \"%s\":\n%s", bad[i], log);
	const char *gone[] = { "control.sock", "qmp.sock", "agent.sock", "qga.sock",
			       "console.sock", "qemu.pid", "supervisor.pid", "plan.json" };
	for (gsize i = 0; i < G_N_ELEMENTS(gone); i++) {
		g_autofree char *p = run_path(c, gone[i]);
		if (g_file_test(p, G_FILE_TEST_EXISTS))
			g_error("%s is left after the VM ended", p);
	}
}

/* `status` of the stopped VM says @line (its "state" line). */
static void assert_status_line(Case *c, const char *line)
{
	g_assert_cmpint(run(c, "status", c->name, NULL), ==, 0);
	assert_contains(c->out, line);
}

/*
 * What fake-qemu received, as "CHANNEL COMMAND" lines, on the channels
 * named in @channels (e.g. "qmp agent"); connections included only with
 * @connects.  The channels are read independently, so only the order
 * within one channel, or an order that one causes, is meaningful.
 */
static char *trace(Case *c, const char *channels, gboolean connects)
{
	g_autofree char *text = read_text(c->trace);
	g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
	g_auto(GStrv) want = g_strsplit(channels, " ", -1);
	GString *s = g_string_new(NULL);
	for (char **l = lines; *l; l++) {
		g_auto(GStrv) f = g_strsplit(*l, " ", 2);
		if (!f[0] || !f[1] || !g_strv_contains((const char *const *)want, f[0]) ||
		    (!connects && !strcmp(f[1], "@connect")))
			continue;
		g_string_append_printf(s, "%s\n", *l);
	}
	return g_string_free(s, FALSE);
}

static void case_free(Case *c)
{
	/* A failed case may leave its QEMU: end it (ours, by pid). */
	int qemu = read_pid(c, "qemu.pid");
	int sup = read_pid(c, "supervisor.pid");
	if (sup > 0 && !pid_gone(sup))
		kill(sup, SIGKILL);
	if (qemu > 0 && !pid_gone(qemu))
		kill(qemu, SIGKILL);
	g_autofree char *rm = g_strdup_printf("rm -rf '%s'", c->tmp);
	g_spawn_command_line_sync(rm, NULL, NULL, NULL, NULL);
	g_free(c->tmp);
	g_free(c->project);
	g_free(c->script);
	g_free(c->trace);
	g_free(c->run_dir);
	g_free(c->name);
	g_strfreev(c->env);
	g_free(c->out);
	g_free(c->err);
	g_free(c);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Case, case_free)

/* ---- ready, and the down ladder ------------------------------------------------------ */

static void test_ready_and_powerdown(void)
{
	g_autoptr(Case) c = case_new("sv-ready", NULL);
	int qemu = up_ready(c);

	/* status asks the agent afresh: state, agent and the share's mount. */
	g_assert_cmpint(run(c, "status", NULL), ==, 0);
	assert_contains(c->out, "state    ready\n");
	assert_contains(c->out, "agent    grainvm-agent fake, guest up 2 s\n");
	assert_contains(c->out, "-> /mnt/workspace (tag workspace): mounted, writable\n");
	g_autofree char *pids = g_strdup_printf("pid      QEMU %d, supervisor %d\n", qemu,
					       read_pid(c, "supervisor.pid"));
	assert_contains(c->out, pids);

	/* The first rung is honoured: ACPI power button, the guest powers off. */
	g_assert_cmpint(run(c, "down", NULL), ==, 0);
	assert_contains(c->out, "stopped: guest powered off (ACPI power button)\n");
	assert_nothing_left(c, qemu);
	assert_state(c, "stopped", "guest powered off (ACPI power button)");
	assert_status_line(c, "state    stopped: guest powered off (ACPI power button)\n");
	g_autofree char *t = trace(c, "qmp agent", FALSE);
	/* The supervisor asks the agent to mount the share before it asks for status. */
	assert_contains(t, "qmp cont\nagent guest-sync-delimited\nagent grain-mount\nagent grain-status\n");
	assert_contains(t, "qmp system_powerdown\n");
	g_assert_null(strstr(t, "guest-shutdown"));
	g_assert_null(strstr(t, "qmp quit"));
}

/* A guest that does not react to the power button (no ACPI daemon). */
#define IGNORE_POWERDOWN "qmp:system_powerdown send {\"return\": {}, \"id\": @ID@}\n"
/* ...whose agent does not shut it down either... */
#define IGNORE_AGENT "agent:guest-shutdown ignore\n"
/* ...and a QEMU that says yes to quit and runs on. */
#define IGNORE_QUIT "qmp:quit send {\"return\": {}, \"id\": @ID@}\n"

static void test_down_agent(void)
{
	g_autoptr(Case) c = case_new("sv-down-agent", IGNORE_POWERDOWN);
	int qemu = up_ready(c);
	g_assert_cmpint(run(c, "down", NULL), ==, 0);
	assert_contains(c->out, "stopped: guest powered off (agent guest-shutdown)\n");
	assert_nothing_left(c, qemu);
	assert_state(c, "stopped", "guest powered off (agent guest-shutdown)");
	assert_status_line(c, "state    stopped: guest powered off (agent guest-shutdown)\n");
	g_autofree char *t = trace(c, "qmp agent", FALSE);
	assert_contains(t, "qmp system_powerdown\nagent guest-shutdown\n");
	g_assert_null(strstr(t, "qmp quit"));
}

/*
 * A guest that ignored both gentle rungs was not shut down cleanly: down
 * says so on stderr (even if the VM is gone, as asked) and exits 1, and the
 * final state keeps it.  N is the time the rungs waited, 0 s here under
 * GRAINVM_DOWN_STEP_MS.
 */
static void assert_forced(Case *c, const char *how)
{
	const char *forced = "forced after the guest ignored the power button and the agent for ";
	g_autofree char *tail = g_strdup_printf(" s (%s)", how);
	assert_contains(c->err, forced);
	assert_contains(c->err, tail);
	assert_contains(c->err, "its file systems may need recovery at the next boot");
	g_assert_null(strstr(c->out, "stopped:"));
	g_autoptr(JsonObject) st = state_json(c);
	const char *reason = json_object_get_string_member_with_default(st, "reason", "");
	g_assert_cmpstr(json_object_get_string_member_with_default(st, "phase", ""), ==, "stopped");
	g_assert_true(g_str_has_prefix(reason, forced));
	g_assert_true(g_str_has_suffix(reason, tail));
	g_assert_true(json_object_get_boolean_member_with_default(st, "forced", FALSE));
}

static void test_down_quit(void)
{
	g_autoptr(Case) c = case_new("sv-down-quit", IGNORE_POWERDOWN IGNORE_AGENT);
	int qemu = up_ready(c);
	g_assert_cmpint(run(c, "down", NULL), ==, 1);
	assert_nothing_left(c, qemu);
	assert_forced(c, "QEMU quit over QMP");
	g_autofree char *t = trace(c, "qmp agent", FALSE);
	assert_contains(t, "qmp system_powerdown\nagent guest-shutdown\nqmp quit\n");
}

static void test_down_kill(void)
{
	g_autoptr(Case) c = case_new("sv-down-kill", IGNORE_POWERDOWN IGNORE_AGENT IGNORE_QUIT);
	int qemu = up_ready(c);
	g_assert_cmpint(run(c, "down", NULL), ==, 1);
	assert_nothing_left(c, qemu);
	assert_forced(c, "killed with SIGKILL by grainvm down after the gentler steps timed out");
	g_autofree char *t = trace(c, "qmp agent", FALSE);
	assert_contains(t, "qmp system_powerdown\nagent guest-shutdown\nqmp quit\n");
}

/* down --force starts at quit: neither the power button nor the agent is tried. */
static void test_down_force(void)
{
	g_autoptr(Case) c = case_new("sv-force", NULL);
	int qemu = up_ready(c);
	g_assert_cmpint(run(c, "down", "--force", NULL), ==, 0);
	assert_contains(c->out, "stopped: QEMU quit over QMP\n");
	assert_nothing_left(c, qemu);
	assert_state(c, "stopped", "QEMU quit over QMP");
	g_autofree char *t = trace(c, "qmp agent", FALSE);
	g_assert_null(strstr(t, "system_powerdown"));
	g_assert_null(strstr(t, "guest-shutdown"));
}

/* systemctl stop (SIGTERM to the supervisor) runs the same ladder as down. */
static void test_down_sigterm(void)
{
	g_autoptr(Case) c = case_new("sv-sigterm", NULL);
	int qemu = up_ready(c);
	g_assert_cmpint(kill(read_pid(c, "supervisor.pid"), SIGTERM), ==, 0);
	assert_nothing_left(c, qemu);
	assert_state(c, "stopped", "guest powered off (ACPI power button)");
	g_autofree char *t = trace(c, "qmp agent", FALSE);
	assert_contains(t, "qmp system_powerdown\n");
}

/*
 * The guest powers off on the power button but QEMU takes longer than a
 * rung to exit (flushing a disk): the agent's rung starts meanwhile, and
 * the reason must still name the rung that worked.
 */
static void test_down_slow_exit(void)
{
	g_autoptr(Case) c = case_new("sv-down-slow",
				     IGNORE_POWERDOWN
				     "qmp:system_powerdown event POWERDOWN\n"
				     "qmp:system_powerdown event SHUTDOWN {\"guest\": true, "
				     "\"reason\": \"guest-shutdown\"}\n"
				     "qmp:system_powerdown sleep 250\n"
				     "qmp:system_powerdown exit 0\n");
	int qemu = up_ready(c);
	g_assert_cmpint(run(c, "down", NULL), ==, 0);
	assert_contains(c->out, "stopped: guest powered off (ACPI power button)\n");
	assert_nothing_left(c, qemu);
	assert_state(c, "stopped", "guest powered off (ACPI power button)");
}

/* ---- QEMU crashing ------------------------------------------------------------------- */

/* Make the running fake QEMU run its "usr1" lines, then wait for the supervisor's end. */
static void crash_now(Case *c, int qemu)
{
	g_assert_cmpint(kill(qemu, SIGUSR1), ==, 0);
	WAIT_FOR(!supervised(c));
}

static void test_crash_signal(void)
{
	g_autoptr(Case) c = case_new("sv-crash-signal",
				     "usr1 stderr qemu-system-x86_64: fake: assertion failed\n"
				     "usr1 signal 6\n");
	int qemu = up_ready(c);
	crash_now(c, qemu);
	assert_nothing_left(c, qemu);
	g_autofree char *why = g_strdup_printf("QEMU was killed by signal 6 (%s): "
					       "qemu-system-x86_64: fake: assertion failed",
					       g_strsignal(SIGABRT));
	assert_state(c, "crashed", why);
	g_autofree char *line = g_strdup_printf("state    crashed: %s\n", why);
	assert_status_line(c, line);
}

static void test_crash_exit(void)
{
	g_autoptr(Case) c = case_new("sv-crash-exit",
				     "usr1 stderr qemu-system-x86_64: fake: cannot go on\n"
				     "usr1 exit 1\n");
	int qemu = up_ready(c);
	crash_now(c, qemu);
	assert_nothing_left(c, qemu);
	const char *why = "QEMU exited with status 1: qemu-system-x86_64: fake: cannot go on";
	assert_state(c, "crashed", why);
	g_autofree char *line = g_strdup_printf("state    crashed: %s\n", why);
	assert_status_line(c, line);
	/* A crashed VM starts again. */
	qemu = up_ready(c);
	g_assert_cmpint(run(c, "down", NULL), ==, 0);
	assert_nothing_left(c, qemu);
}

/* QEMU dies while the guest boots: up fails with the reason, and leaves nothing. */
static void test_crash_before_ready(void)
{
	g_autoptr(Case) c = case_new("sv-crash-boot",
				     "qmp:cont send {\"return\": {}, \"id\": @ID@}\n"
				     "qmp:cont stderr qemu-system-x86_64: fake: no bootable device\n"
				     "qmp:cont exit 1\n");
	g_assert_cmpint(run(c, "up", NULL), ==, 1);
	const char *why = "QEMU exited with status 1: qemu-system-x86_64: fake: no bootable device";
	g_autofree char *said = g_strdup_printf("grainvm: vm %s: %s\n", c->name, why);
	assert_contains(c->err, said);
	g_assert_false(supervised(c));
	assert_nothing_left(c, 0);
	assert_state(c, "crashed", why);
	g_autofree char *line = g_strdup_printf("state    crashed: %s\n", why);
	assert_status_line(c, line);
}

/* ---- adoption ------------------------------------------------------------------------- */

static void test_adopt(void)
{
	g_autoptr(Case) c = case_new("sv-adopt", NULL);
	int qemu = up_ready(c);
	int sup = read_pid(c, "supervisor.pid");
	g_assert_cmpint(kill(sup, SIGKILL), ==, 0);
	WAIT_FOR(!supervised(c));
	g_assert_false(pid_gone(qemu));

	/* up takes over the QEMU that ran on: same pid, ready again. */
	g_assert_cmpint(run(c, "up", NULL), ==, 0);
	g_autofree char *adopted = g_strdup_printf("adopted its running QEMU (pid %d), left by a "
						   "supervisor that died\n", qemu);
	assert_contains(c->out, adopted);
	g_assert_true(supervised(c));
	g_assert_cmpint(read_pid(c, "qemu.pid"), ==, qemu);
	g_assert_cmpint(read_pid(c, "supervisor.pid"), !=, sup);
	g_autoptr(JsonObject) st = state_json(c);
	g_assert_cmpstr(json_object_get_string_member(st, "phase"), ==, "ready");
	g_assert_true(json_object_get_boolean_member_with_default(st, "adopted", FALSE));
	g_assert_cmpint(json_object_get_int_member_with_default(st, "qemu-pid", 0), ==, qemu);
	g_assert_cmpint(run(c, "status", NULL), ==, 0);
	assert_contains(c->out, "state    ready\n");

	/* The adopter neither restarted the guest nor skipped the agent's resync. */
	g_autofree char *q = trace(c, "qmp", TRUE);
	g_assert_cmpstr(q, ==, "qmp @connect\nqmp qmp_capabilities\nqmp cont\n"
			       "qmp @connect\nqmp qmp_capabilities\nqmp query-status\n");
	g_autofree char *a = trace(c, "agent", TRUE);
	assert_contains(a, "agent @connect\nagent guest-sync-delimited\nagent grain-mount\n"
			   "agent grain-status\nagent @connect\nagent guest-sync-delimited\n"
			   "agent grain-mount\nagent grain-status\n");

	/* And down stops it the normal way; its end comes through the pidfd. */
	g_assert_cmpint(run(c, "down", NULL), ==, 0);
	assert_contains(c->out, "stopped: guest powered off (ACPI power button)\n");
	assert_nothing_left(c, qemu);
	assert_state(c, "stopped", "guest powered off (ACPI power button)");
}

/* An adopted QEMU is no child: its end is seen through a pidfd, its reason from QMP and its log. */
static void test_adopt_crash(void)
{
	g_autoptr(Case) c = case_new("sv-adopt-crash",
				     "usr1 stderr qemu-system-x86_64: fake: lost the disk\n"
				     "usr1 exit 1\n");
	int qemu = up_ready(c);
	g_assert_cmpint(kill(read_pid(c, "supervisor.pid"), SIGKILL), ==, 0);
	WAIT_FOR(!supervised(c));
	g_assert_cmpint(run(c, "up", NULL), ==, 0);
	assert_contains(c->out, "adopted its running QEMU");
	crash_now(c, qemu);
	assert_nothing_left(c, qemu);
	const char *why = "QEMU ended without a SHUTDOWN event: qemu-system-x86_64: fake: lost the disk";
	assert_state(c, "crashed", why);
	g_autofree char *line = g_strdup_printf("state    crashed: %s\n", why);
	assert_status_line(c, line);
}

/* ---- the control socket's protocol ---------------------------------------------------- */

typedef struct {
	int fd;
	GString *in;
} Ctl;

static char *ctl_line(Ctl *k)
{
	gint64 until = g_get_monotonic_time() + DEADLINE_MS * 1000;
	for (;;) {
		char *nl = memchr(k->in->str, '\n', k->in->len);
		if (nl) {
			gsize n = (gsize)(nl - k->in->str);
			char *line = g_strndup(k->in->str, n);
			g_string_erase(k->in, 0, (gssize)n + 1);
			return g_strchomp(line);
		}
		struct pollfd p = { k->fd, POLLIN, 0 };
		int ms = (int)((until - g_get_monotonic_time()) / 1000);
		g_assert_cmpint(ms, >, 0);
		g_assert_cmpint(poll(&p, 1, ms), ==, 1);
		char buf[4096];
		ssize_t r = read(k->fd, buf, sizeof(buf));
		g_assert_cmpint(r, >, 0);
		g_string_append_len(k->in, buf, r);
	}
}

static void ctl_send(Ctl *k, const char *bytes, gsize len)
{
	while (len) {
		ssize_t w = send(k->fd, bytes, len, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		g_assert_cmpint(w, >, 0);
		bytes += w;
		len -= (gsize)w;
	}
}

/* Send @line, expect one reply line containing every one of @expect... */
static void ctl_expect(Ctl *k, const char *line, ...) G_GNUC_NULL_TERMINATED;
static void ctl_expect(Ctl *k, const char *line, ...)
{
	ctl_send(k, line, strlen(line));
	g_autofree char *reply = ctl_line(k);
	g_test_message("control: %s -> %s", line, reply);
	va_list ap;
	va_start(ap, line);
	for (const char *e; (e = va_arg(ap, const char *));)
		assert_contains(reply, e);
	va_end(ap);
}

static void test_control_errors(void)
{
	g_autoptr(Case) c = case_new("sv-control", NULL);
	int qemu = up_ready(c);

	Ctl k = { socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), g_string_new(NULL) };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	g_autofree char *path = run_path(c, "control.sock");
	g_strlcpy(sa.sun_path, path, sizeof(sa.sun_path));
	g_assert_cmpint(connect(k.fd, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
	g_autofree char *greeting = ctl_line(&k);
	assert_contains(greeting, "\"QMP\"");

	/* Before negotiation, and then each kind of bad request: an error each. */
	ctl_expect(&k, "{\"execute\": \"status\", \"id\": 1}\n", "\"CommandNotFound\"",
		   "qmp_capabilities", "\"id\":1", NULL);
	ctl_expect(&k, "{\"execute\": \"qmp_capabilities\"}\n", "{\"return\":{}}", NULL);
	ctl_expect(&k, "this is not JSON\n", "\"error\"", "\"GenericError\"", NULL);
	ctl_expect(&k, "[1, 2]\n", "\"error\"", NULL);
	ctl_expect(&k, "{\"id\": 2}\n", "\"error\"", "expected {\\\"execute\\\": COMMAND}",
		   "\"id\":2", NULL);
	ctl_expect(&k, "{\"execute\": 42, \"id\": 3}\n", "\"error\"", "\"id\":3", NULL);
	ctl_expect(&k, "{\"execute\": \"no-such-command\", \"id\": 4}\n", "\"CommandNotFound\"",
		   "no-such-command", "\"id\":4", NULL);
	ctl_expect(&k, "{\"execute\": \"qmp\", \"arguments\": {\"command\": 5}, \"id\": 5}\n",
		   "\"error\"", "\"id\":5", NULL);
	ctl_expect(&k, "{\"execute\": \"agent\", \"arguments\": {\"command\": \"guest-ping\", "
		   "\"arguments\": [1]}, \"id\": 7}\n", "\"error\"", "must be an object", "\"id\":7",
		   NULL);
	/* Mistyped members: an error, not a critical (which would end the supervisor). */
	ctl_expect(&k, "{\"execute\": \"qmp\", \"arguments\": {\"command\": \"query-status\", "
		   "\"timeout\": {}}, \"id\": 8}\n", "\"error\"", "timeout", "\"id\":8", NULL);
	ctl_expect(&k, "{\"execute\": \"down\", \"arguments\": {\"timeout\": [1]}, \"id\": 9}\n",
		   "\"error\"", "timeout", "\"id\":9", NULL);
	ctl_expect(&k, "{\"execute\": \"down\", \"arguments\": {\"force\": {}}, \"id\": 10}\n",
		   "\"error\"", "force", "\"id\":10", NULL);
	ctl_expect(&k, "{\"execute\": \"qmp\", \"arguments\": {\"command\": \"query-status\", "
		   "\"timeout\": 5}, \"id\": 11}\n", "\"status\":\"running\"", "\"id\":11", NULL);

	/* A line beyond the control socket's 1 MiB cap: one error, then it goes on. */
	gsize big = 2u << 20;
	g_autofree char *huge = g_malloc(big + 1);
	memset(huge, ' ', big);
	memcpy(huge, "{\"execute\": \"status\", \"pad\": \"", 31);
	huge[big - 2] = '"';
	huge[big - 1] = '}';
	huge[big] = '\n';
	ctl_send(&k, huge, big + 1);
	g_autofree char *too_long = ctl_line(&k);
	g_test_message("control: 2 MiB line -> %s", too_long);
	assert_contains(too_long, "\"error\"");

	/* Still serving, on this connection and to the CLI. */
	ctl_expect(&k, "{\"execute\": \"status\", \"id\": 6}\n", "\"phase\":\"ready\"", "\"id\":6",
		   NULL);
	close(k.fd);
	g_string_free(k.in, TRUE);
	g_assert_cmpint(run(c, "status", NULL), ==, 0);
	assert_contains(c->out, "state    ready\n");
	g_assert_cmpint(run(c, "down", NULL), ==, 0);
	assert_nothing_left(c, qemu);
}

/*
 * Snapshots run in the supervisor, one at a time: while a disk snapshot
 * waits on QEMU (query-block held back by the fake), a second one from
 * the CLI is refused with exit 3 naming the first; the first then fails
 * as QEMU's answer says, and neither leaves a layer or a chain behind.
 * Malformed requests are errors of the class of exit 2.
 */
static void test_snapshot_one_at_a_time(void)
{
	/* 1 s: long enough for the CLI below to arrive while the job waits, also under ASan. */
	g_autoptr(Case) c = case_new("sv-snap",
				     "qmp:query-block#1 sleep 1000\n"
				     "qmp:query-block#1 send {\"return\": [], \"id\": @ID@}\n");
	int qemu = up_ready(c);
	g_autofree char *state = g_build_filename(c->tmp, "home", "state", c->name, NULL);

	Ctl k = { socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), g_string_new(NULL) };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	g_autofree char *path = run_path(c, "control.sock");
	g_strlcpy(sa.sun_path, path, sizeof(sa.sun_path));
	g_assert_cmpint(connect(k.fd, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
	g_autofree char *greeting = ctl_line(&k);
	ctl_expect(&k, "{\"execute\": \"qmp_capabilities\"}\n", "{\"return\":{}}", NULL);
	ctl_expect(&k, "{\"execute\": \"snapshot-disk\", \"id\": 1}\n", "\"GrainvmInvalid\"",
		   "\"id\":1", NULL);
	ctl_expect(&k, "{\"execute\": \"snapshot-save\", \"arguments\": {\"tag\": 5}, \"id\": 2}\n",
		   "\"GrainvmInvalid\"", "\"id\":2", NULL);
	ctl_expect(&k, "{\"execute\": \"snapshot-disk\", \"arguments\": {\"tag\": \"a/b\"}, "
		   "\"id\": 3}\n", "\"GrainvmInvalid\"", "\"id\":3", NULL);
	ctl_expect(&k, "{\"execute\": \"snapshot-save\", \"arguments\": {\"tag\": \"t\", "
		   "\"stop\": \"yes\"}, \"id\": 4}\n", "\"GrainvmInvalid\"", "\"id\":4", NULL);

	const char *first = "{\"execute\": \"snapshot-disk\", \"arguments\": {\"tag\": \"d1\"}, "
			    "\"id\": 5}\n";
	ctl_send(&k, first, strlen(first));
	g_assert_cmpint(run(c, "snapshot", "disk", c->name, "d2", NULL), ==, 3);
	g_autofree char *busy = g_strdup_printf("grainvm: vm %s is busy with snapshot disk d1 "
						"(started ", c->name);
	assert_contains(c->err, busy);
	assert_contains(c->err, " s ago): nothing done; one snapshot runs at a time");
	g_autofree char *reply = ctl_line(&k);
	g_test_message("control: snapshot-disk d1 -> %s", reply);
	assert_contains(reply, "\"GrainvmFailed\"");
	assert_contains(reply, "no disk0-dev");
	assert_contains(reply, "\"id\":5");
	close(k.fd);
	g_string_free(k.in, TRUE);

	/* Free again: the next one runs (and fails as this QEMU knows no query-block). */
	g_assert_cmpint(run(c, "snapshot", "disk", c->name, "d3", NULL), ==, 1);
	assert_contains(c->err, "qmp query-block");
	g_autofree char *layers = g_build_filename(state, "disk-layers.json", NULL);
	g_autofree char *top = g_build_filename(state, "overlay.1.qcow2", NULL);
	g_assert_false(g_file_test(layers, G_FILE_TEST_EXISTS));
	g_assert_false(g_file_test(top, G_FILE_TEST_EXISTS));
	g_assert_cmpint(run(c, "down", NULL), ==, 0);
	assert_nothing_left(c, qemu);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	if (!g_getenv("GRAINVM") || !g_getenv("GV_FAKE_QEMU")) {
		g_printerr("GRAINVM and GV_FAKE_QEMU must name the binaries (meson test sets them)\n");
		return 1;
	}
	g_test_add_func("/supervisor/ready-and-powerdown", test_ready_and_powerdown);
	g_test_add_func("/supervisor/down/agent-shutdown", test_down_agent);
	g_test_add_func("/supervisor/down/quit", test_down_quit);
	g_test_add_func("/supervisor/down/sigkill", test_down_kill);
	g_test_add_func("/supervisor/down/force", test_down_force);
	g_test_add_func("/supervisor/down/sigterm", test_down_sigterm);
	g_test_add_func("/supervisor/down/slow-exit", test_down_slow_exit);
	g_test_add_func("/supervisor/crash/signal", test_crash_signal);
	g_test_add_func("/supervisor/crash/exit-status", test_crash_exit);
	g_test_add_func("/supervisor/crash/before-ready", test_crash_before_ready);
	g_test_add_func("/supervisor/adopt", test_adopt);
	g_test_add_func("/supervisor/adopt-then-crash", test_adopt_crash);
	g_test_add_func("/supervisor/control-errors", test_control_errors);
	g_test_add_func("/supervisor/snapshot-one-at-a-time", test_snapshot_one_at_a_time);
	return g_test_run();
}
