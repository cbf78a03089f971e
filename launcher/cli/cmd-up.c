/* SPDX-License-Identifier: MIT */
/*
 * cmd-up.c - grainvm up: validate, prepare, start the supervisor, wait for ready
 *
 * Order matters for "a failed up leaves nothing": everything that can be
 * checked without starting anything (the spec, the host's QEMU, kernel,
 * modules, OVMF) is checked first, under the VM's lock; only then is the
 * supervisor started.  It reports back on a pipe: one JSON line, "ready"
 * or "failed", written after QEMU is gone in the failed case, so that when
 * `up` returns non-zero there is no process left to clean up.
 *
 * A VM whose supervisor died while its QEMU runs on is adopted, not
 * refused: a new supervisor takes over that QEMU with the plan it was
 * started with (supervisor.c), so the guest and a build in it go on.
 *
 * Ctrl-C (SIGINT, SIGTERM, SIGHUP) while up waits for ready ends that
 * up like a failed one: the signal goes on to the supervisor, which
 * stops the booting guest, and up returns 128+N once nothing of the VM
 * runs.  The signals are blocked and read from a signalfd, so that none
 * falls between a check and the wait; the supervisor starts with them
 * unblocked.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <glib-unix.h>

#include "boot/argv.h"
#include "cli/cli-common.h"
#include "cli/gv-cli.h"
#include "gv-error.h"
#include "boot/prepare.h"
#include "snapshot/snapshot.h"
#include "snapshot/template.h"
#include "boot/spec.h"
#include "supervisor/supervisor.h"
#include "liveness.h"
#include "fileio.h"
#include "supervisor/orphan.h"

typedef struct {
	gboolean json;
	gboolean quiet;
	gint64 started_us;
	int code;
	char *message;
} UpReport;

static char *human_size(guint64 bytes)
{
	if (bytes % (1024 * 1024) == 0)
		return g_strdup_printf("%" G_GUINT64_FORMAT "M", bytes / (1024 * 1024));
	if (bytes % 1024 == 0)
		return g_strdup_printf("%" G_GUINT64_FORMAT "K", bytes / 1024);
	return g_strdup_printf("%" G_GUINT64_FORMAT, bytes);
}

static void print_ready(JsonObject *ev, UpReport *r)
{
	double total = (double)(g_get_monotonic_time() - r->started_us) / G_USEC_PER_SEC;
	if (r->json) {
		json_object_set_double_member(ev, "total-seconds", total);
		g_autoptr(JsonNode) n = json_node_init_object(json_node_alloc(), json_object_ref(ev));
		gv_cli_print_json(n);
		return;
	}
	if (r->quiet)
		return;
	/* Human output: every string escaped for the terminal (guest addresses among them). */
	g_autoptr(JsonNode) raw = json_node_init_object(json_node_alloc(), ev);
	g_autoptr(JsonNode) safe = gv_cli_escaped_json(raw);
	ev = json_node_get_object(safe);
	const char *name = gv_json_string_or(ev, "name", "?");
	if (gv_json_bool_or(ev, "adopted", FALSE))
		printf("grainvm: vm %s is ready in %.1f s: adopted its running QEMU (pid %" G_GINT64_FORMAT
		       "), left by a supervisor that died\n", name, total,
		       gv_json_int_or(ev, "qemu-pid", 0));
	else
		printf("grainvm: vm %s is ready in %.1f s (%.1f s from QEMU's start)\n", name, total,
		       gv_json_double_or(ev, "ready-seconds", 0));
	printf("  accel    %s: %s\n", gv_json_string_or(ev, "accel", "?"),
	       gv_json_string_or(ev, "accel-reason", ""));
	printf("  boot     %s\n", gv_json_string_or(ev, "boot", "?"));
	JsonArray *shares = gv_json_array_or_null(ev, "shares");
	for (guint i = 0; shares && i < json_array_get_length(shares); i++) {
		JsonObject *s = gv_json_array_object_at(shares, i);
		g_autofree char *msize = human_size(
			(guint64)gv_json_int_or(s, "msize", 0));
		printf("  share    %s -> %s (9p, tag %s, msize %s, cache=%s%s)\n",
		       gv_json_string_or(s, "source", "?"),
		       gv_json_string_or(s, "mount", "?"),
		       gv_json_string_or(s, "tag", "?"), msize,
		       gv_json_string_or(s, "cache", "?"),
		       gv_json_bool_or(s, "readonly", FALSE) ? ", read-only" : "");
	}
	gv_cli_print_nics(ev, "  ");
	printf("  console  grainvm console %s   (log: %s)\n", name,
	       gv_json_string_or(ev, "console-log", "?"));
	fflush(stdout);
}

static gboolean print_hint(JsonObject *ev);

static void on_foreground_event(JsonObject *ev, gpointer data)
{
	UpReport *r = data;
	const char *what = gv_json_string_or(ev, "event", "");
	if (!strcmp(what, "ready")) {
		print_ready(ev, r);
	} else if (print_hint(ev)) {
		/* printed; the wait goes on */
	} else {
		r->code = (int)gv_json_int_or(ev, "exit-code", GV_EXIT_FAILED);
		r->message = gv_term_escape(gv_json_string_or(ev, "message", "?"), NULL);
	}
}

static GvPlan *make_plan(const GvSpec *spec, const GvPrepared *prep, char **argv)
{
	GvPlan *plan = gv_plan_new();
	plan->name = g_strdup(spec->name);
	plan->argv = g_strdupv(argv);
	if (prep->facts.files_by_fd) {
		GvHostFacts by_path = prep->facts;
		by_path.files_by_fd = FALSE;
		plan->snapshot_argv = gv_qemu_argv(spec, &by_path);
	}
	plan->ready_timeout = spec->ready_timeout;
	plan->ready_system = spec->ready_level == GV_READY_SYSTEM;
	plan->accel = g_strdup(gv_accel_name(prep->facts.accel));
	plan->accel_reason = g_strdup(prep->accel_reason);
	plan->boot = g_strdup(prep->boot);
	plan->project_dir = g_strdup(spec->project_dir);
	plan->memory = spec->memory;
	plan->cpus = spec->cpus;
	/* For `snapshot save`: the image QEMU writes and the base it must stay on. */
	plan->disk = g_strdup(prep->disk);
	plan->disk_image = g_strdup(spec->disk_image);
	for (guint i = 0; i < spec->shares->len; i++) {
		const GvShare *s = g_ptr_array_index(spec->shares, i);
		GvPlanShare *o = gv_plan_share_new();
		o->id = g_strdup(s->id);
		o->source = g_strdup(s->source);
		o->tag = g_strdup(s->tag);
		o->mount = g_strdup(s->mount);
		o->readonly = s->readonly;
		o->msize = s->msize;
		o->cache = g_strdup(s->cache);
		o->security = g_strdup(s->security);
		g_ptr_array_add(plan->shares, o);
	}
	gv_net_plan(spec, prep->net, plan->nics);
	/* QEMU as another user: who, and the files the supervisor opens for it. */
	plan->qemu_user = prep->qemu_user;
	plan->qemu_user.name = g_strdup(prep->qemu_user.name);
	plan->qemu_user.why = g_strdup(prep->qemu_user.why);
	g_autoptr(GArray) files = gv_qemu_fd_files(spec, &prep->facts);
	for (guint i = 0; i < files->len; i++) {
		const GvQemuFile *f = &g_array_index(files, GvQemuFile, i);
		GvPlanFile *pf = g_new0(GvPlanFile, 1);
		pf->fd = f->fd;
		pf->path = g_strdup(f->path);
		pf->directory = f->directory;
		pf->writable = f->writable;
		g_ptr_array_add(plan->files, pf);
	}
	return plan;
}

/* fds 3..6 are the supervisor's listening sockets (argv.h); say so. */
static void print_argv(char **argv, gboolean json)
{
	if (json) {
		g_autoptr(JsonArray) a = json_array_new();
		for (char **p = argv; *p; p++)
			json_array_add_string_element(a, *p);
		g_autoptr(JsonNode) n = json_node_init_array(json_node_alloc(), a);
		gv_cli_print_json(n);
		return;
	}
	printf("# fd 3: QMP, fd 4: serial console, fd 5: grainvm-agent port, fd 6: qemu-ga port\n"
	       "# (listening unix sockets the supervisor passes to QEMU)\n");
	for (char **p = argv; *p; p++) {
		g_autofree char *q = g_shell_quote(*p);
		printf("%s%s", q, p[1] ? (p[1][0] == '-' ? " \\\n  " : " ") : "\n");
	}
}

static const int up_signals[] = { SIGINT, SIGTERM, SIGHUP };

static void up_sigset(sigset_t *set)
{
	sigemptyset(set);
	for (gsize i = 0; i < G_N_ELEMENTS(up_signals); i++)
		sigaddset(set, up_signals[i]);
}

static void supervisor_child_setup(gpointer data)
{
	sigset_t set;
	up_sigset(&set);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	/* Detach from the terminal: the VM outlives the shell that started it. */
	setsid();
}

/* Block the signals that interrupt up; Return: a signalfd for them, or -1. */
static int take_signals(void)
{
	sigset_t set;
	up_sigset(&set);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -1;
	return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

typedef struct {
	int report_fd;
	int sig_fd;     /* -1: signals kill up the default way */
	GPid supervisor;
	int signo;      /* the first signal up got, or 0 */
} UpWait;

/* Pass the signals waiting on @w->sig_fd on to the supervisor. */
static void forward_signals(UpWait *w)
{
	struct signalfd_siginfo si;
	while (w->sig_fd >= 0 && read(w->sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (!w->signo)
			w->signo = (int)si.ssi_signo;
		/* The first stops the guest; a second one, as for down, at once. */
		kill(w->supervisor, SIGTERM);
	}
}

static void up_wait_clear(UpWait *w)
{
	if (w->report_fd >= 0)
		close(w->report_fd);
	if (w->sig_fd >= 0)
		close(w->sig_fd);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(UpWait, up_wait_clear)

/*
 * How long up waits for the supervisor to be gone: after a failed boot it
 * has already ended QEMU; after a signal it may be powering a guest off
 * that got ready meanwhile (10 s of ACPI and agent shutdown, then quit).
 */
#define FAILED_WAIT_MS 5000
#define INTERRUPTED_WAIT_MS 30000

/* Wait at most @ms until the VM's supervisor is gone, passing signals on. */
static void wait_supervisor_gone(const GvVmPaths *paths, UpWait *w, guint ms)
{
	for (guint t = 0; t < ms && gv_vm_is_running(paths); t += 20) {
		struct pollfd pfd = { w->sig_fd, POLLIN, 0 };
		poll(&pfd, 1, 20);
		forward_signals(w);
	}
}

/*
 * Start `grainvm __supervise [--adopt] NAME` detached, @plan handed over
 * in a sealed memfd; returns the read end of its report pipe.
 */
static int spawn_supervisor(const GvVmPaths *paths, const GvPlan *plan, int lock_fd,
			    gboolean adopt, GPid *pid_out, GError **error)
{
	int pipefd[2];
	int plan_fd = gv_plan_memfd(plan, error);
	if (plan_fd < 0)
		return -1;
	if (!g_unix_open_pipe(pipefd, FD_CLOEXEC, error)) {
		close(plan_fd);
		return -1;
	}
	g_autofree char *exe = g_file_read_link("/proc/self/exe", error);
	if (!exe) {
		close(pipefd[0]);
		close(pipefd[1]);
		close(plan_fd);
		return -1;
	}
	g_autofree char *log = g_build_filename(paths->run_dir, "supervisor.log", NULL);
	int log_fd = open(log, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | (adopt ? O_APPEND : O_TRUNC), 0600);
	const char *argv[] = { exe, "__supervise", adopt ? "--adopt" : paths->name,
			       adopt ? paths->name : NULL, NULL };
	const int src[3] = { lock_fd, pipefd[1], plan_fd };
	const int dst[3] = { GV_SUPERVISE_LOCK_FD, GV_SUPERVISE_REPORT_FD, GV_SUPERVISE_PLAN_FD };
	GPid pid;
	gboolean ok = g_spawn_async_with_pipes_and_fds(NULL, argv, NULL, G_SPAWN_DEFAULT,
						       supervisor_child_setup, NULL, -1, log_fd,
						       log_fd, src, dst, 3, &pid, NULL, NULL, NULL,
						       error);
	if (log_fd >= 0)
		close(log_fd);
	close(pipefd[1]);
	close(plan_fd);
	if (!ok) {
		close(pipefd[0]);
		return -1;
	}
	*pid_out = pid;
	return pipefd[0];
}

/*
 * A "hint" line from the supervisor while up waits: what is likely wrong
 * with a guest that shows no sign of life yet.  Printed on stderr at once
 * (the wait may have minutes to go); the final report is separate.
 */
static gboolean print_hint(JsonObject *ev)
{
	if (g_strcmp0(gv_json_string_or(ev, "event", ""), "hint"))
		return FALSE;
	g_autofree char *msg = g_strescape(
		gv_json_string_or(ev, "message", "?"), "\n");
	g_printerr("grainvm: vm %s: %s\n",
		   gv_json_string_or(ev, "name", "?"), msg);
	return TRUE;
}

/* The supervisor's report line (hints before it are printed); signals
 * meanwhile are passed on to it. */
static JsonObject *read_report(UpWait *w)
{
	GString *s = g_string_new(NULL);
	char buf[4096];
	int fd = w->report_fd;
	JsonObject *o = NULL;
	for (;;) {
		char *nl;
		while (!o && (nl = memchr(s->str, '\n', s->len))) {
			gsize len = (gsize)(nl - s->str);
			JsonObject *line = gv_json_parse_object(s->str, (gssize)len, NULL);
			g_string_erase(s, 0, (gssize)len + 1);
			if (line && print_hint(line))
				json_object_unref(line);
			else
				o = line;
			if (!o && !line)
				break; /* not JSON: no report */
		}
		if (o || s->len > (1u << 20))
			break;
		struct pollfd pfd[2] = { { fd, POLLIN, 0 }, { w->sig_fd, POLLIN, 0 } };
		if (poll(pfd, w->sig_fd >= 0 ? 2 : 1, -1) < 0 && errno != EINTR)
			break;
		forward_signals(w);
		if (!(pfd[0].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			break;
		g_string_append_len(s, buf, n);
	}
	close(fd);
	w->report_fd = -1;
	if (!o && s->len)
		o = gv_json_parse_object(s->str, (gssize)s->len, NULL);
	g_string_free(s, TRUE);
	return o;
}

/*
 * Before a failed up removes what it made (the new overlay, UEFI
 * variables), no QEMU of it may run: a supervisor killed after the spawn
 * leaves QEMU behind, writing to that overlay, and unlinking it would make
 * the next up adopt a QEMU whose disk is a deleted file.  So up takes the
 * VM's lock back (the supervisor is gone when it can) and stops such a
 * QEMU first, waiting for its end.  FALSE: the lock is someone else's, or
 * QEMU would not end; nothing may be removed then.
 */
static gboolean ensure_no_qemu(const GvVmPaths *paths, GError **error)
{
	int lock_fd = -1;
	if (!gv_vm_lock(paths, &lock_fd, error)) {
		gv_prefix_error(error, "vm %s: kept its files, since its supervisor may still run",
				paths->name);
		return FALSE;
	}
	int pid = gv_vm_qemu_find(paths);
	const char *how = NULL;
	gboolean ok = !pid || gv_vm_stop_orphan(paths, pid, 0, &how, error);
	if (pid && ok)
		g_printerr("grainvm: vm %s: stopped the QEMU (pid %d) its supervisor left: %s\n",
			   paths->name, pid, how);
	if (ok)
		gv_vm_runtime_cleanup(paths);
	close(lock_fd);
	return ok;
}

/*
 * Supervise the QEMU a dead supervisor left, with the plan it left
 * (plan.h: why plan.json, and how it is checked); the lock fd is consumed.
 */
static int adopt(const GvVmPaths *paths, const GvPlan *plan, int lock_fd, gboolean foreground,
		 UpReport *report)
{
	g_autoptr(GError) err = NULL;
	if (foreground) {
		GvSupervisorOptions opts = { .plan = plan, .notify_fd = -1,
					     .notify = on_foreground_event,
					     .notify_data = report, .adopt = TRUE };
		int code = gv_supervisor_run(paths->name, &opts, &err);
		close(lock_fd);
		if (err)
			return gv_cli_error(err);
		if (report->message) {
			g_printerr("grainvm: vm %s: %s\n", paths->name, report->message);
			g_free(report->message);
			return report->code;
		}
		return code;
	}
	/* No signal handling here: the QEMU ran before this up, so Ctrl-C
	 * leaves it to the adopting supervisor rather than stopping it. */
	UpWait w = { .sig_fd = -1 };
	w.report_fd = spawn_supervisor(paths, plan, lock_fd, TRUE, &w.supervisor, &err);
	close(lock_fd);
	if (w.report_fd < 0)
		return gv_cli_error(err);
	g_autoptr(JsonObject) ev = read_report(&w);
	const char *what = ev ? gv_json_string_or(ev, "event", "") : "";
	if (!strcmp(what, "ready")) {
		print_ready(ev, report);
		return GV_EXIT_OK;
	}
	g_autofree char *why = gv_term_escape(ev ? gv_json_string_or(ev, "message", "failed")
						 : "the adopting supervisor exited without a report",
					      NULL);
	g_printerr("grainvm: vm %s: %s\n", paths->name, why);
	return ev ? (int)gv_json_int_or(ev, "exit-code", GV_EXIT_FAILED)
		  : GV_EXIT_FAILED;
}

int gv_cmd_up(int argc, char **argv)
{
	g_autofree char *file = NULL;
	g_auto(GStrv) sets = NULL;
	g_autofree char *from = NULL;
	gboolean foreground = FALSE, json = FALSE, quiet = FALSE, dry_run = FALSE;
	const GOptionEntry entries[] = {
		{ "file", 'f', 0, G_OPTION_ARG_FILENAME, &file, "Spec file instead of ./grainvm.conf", "FILE" },
		{ "set", 's', 0, G_OPTION_ARG_STRING_ARRAY, &sets, "Override a spec key (repeatable)", "GROUP.KEY=VALUE" },
		{ "foreground", 0, 0, G_OPTION_ARG_NONE, &foreground, "Supervise in this process until the VM stops (for systemd or s6)", NULL },
		{ "json", 0, 0, G_OPTION_ARG_NONE, &json, "Print the ready report as JSON", NULL },
		{ "quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, "Print nothing on success", NULL },
		{ "dry-run", 'n', 0, G_OPTION_ARG_NONE, &dry_run, "Print the QEMU command line (a JSON array with --json) and start nothing", NULL },
		{ "from", 0, 0, G_OPTION_ARG_STRING, &from, "Restore snapshot TAG (grainvm snapshot save) instead of booting, or start as a clone of VM's template TAG; \"\" boots cold despite [vm] boot-from", "[VM:]TAG" },
		{ NULL },
	};
	int code;
	if (!gv_cli_parse(&argc, &argv, entries, "[NAME]",
			  "Boot the VM described by ./grainvm.conf (or the built-in default: the host's "
			  "kernel, a generated initramfs, this directory at /mnt/workspace) and return "
			  "when the guest agent answers and every share is mounted.", &code))
		return code;
	if (argc > 2) {
		g_printerr("grainvm up: too many arguments\n");
		return GV_EXIT_INVALID;
	}
	UpReport report = { .json = json, .quiet = quiet, .started_us = g_get_monotonic_time() };
	g_autoptr(GError) err = NULL;
	g_autofree char *cwd = g_get_current_dir();

	/* A NAME argument is one more --set, applied last. */
	g_autoptr(GPtrArray) all_sets = g_ptr_array_new_with_free_func(g_free);
	for (char **s = sets; s && *s; s++)
		g_ptr_array_add(all_sets, g_strdup(*s));
	if (argc == 2)
		g_ptr_array_add(all_sets, g_strdup_printf("vm.name=%s", argv[1]));
	g_ptr_array_add(all_sets, NULL);

	g_autoptr(GvSpec) spec = gv_spec_load(cwd, file, (const char *const *)all_sets->pdata, cwd, &err);
	if (!spec)
		return gv_cli_error(err);
	g_autoptr(GvVmPaths) paths = gv_vm_paths_new(spec->name, &err);
	if (!paths)
		return gv_cli_error(err);

	int lock_fd = -1;
	if (!gv_vm_lock(paths, &lock_fd, &err))
		return gv_cli_error(err);
	int orphan = gv_vm_qemu_find(paths);
	if (orphan) {
		/* Its supervisor died, QEMU (and the guest, and its build) did
		 * not: adopt it rather than refuse, with the plan it was
		 * started with. */
		if (dry_run || !g_file_test(paths->plan, G_FILE_TEST_EXISTS)) {
			close(lock_fd);
			g_set_error(&err, GV_ERROR, GV_ERROR_STATE,
				    "vm %s has a QEMU (pid %d) left by a supervisor that died%s: "
				    "grainvm down %s first", spec->name, orphan,
				    dry_run ? "" : " and no plan.json to adopt it with", spec->name);
			return gv_cli_error(err);
		}
		g_autoptr(GvPlan) old = gv_plan_load(paths->plan, &err);
		if (!old) {
			close(lock_fd);
			gv_prefix_error(&err, "vm %s has a QEMU (pid %d) left by a supervisor that "
					"died, and its plan cannot be used", spec->name, orphan);
			return gv_cli_error(err);
		}
		return adopt(paths, old, lock_fd, foreground, &report);
	}
	gv_vm_runtime_cleanup(paths);

	g_autoptr(GvPrepared) prep = gv_prepare(spec, paths, &err);
	if (!prep) {
		close(lock_fd);
		return gv_cli_error(err);
	}
	for (guint i = 0; i < prep->notes->len && !quiet; i++)
		g_printerr("grainvm: note: %s\n", (char *)g_ptr_array_index(prep->notes, i));

	/* A snapshot to restore: checked against the spec before anything starts.
	 * VM:TAG names another VM's template: this VM is a clone of it. */
	const char *tag = from ? from : spec->boot_from;
	g_autoptr(GvRestore) restore = NULL;
	if (tag && *tag) {
		const char *colon = strchr(tag, ':');
		g_autofree char *src_name = colon ? g_strndup(tag, (gsize)(colon - tag)) : NULL;
		g_autoptr(GvVmPaths) src = NULL;
		if (src_name && !gv_spec_name_valid(src_name))
			g_set_error(&err, GV_ERROR, GV_ERROR_INVALID,
				    "--from %s: invalid vm name \"%s\" (VM:TAG or TAG)", tag, src_name);
		else if (src_name)
			src = gv_vm_paths_new(src_name, &err);
		if (!err && src && !g_file_test(src->state_dir, G_FILE_TEST_IS_DIR))
			g_set_error(&err, GV_ERROR, GV_ERROR_STATE, "--from %s: no vm named %s", tag,
				    src_name);
		if (!err)
			restore = gv_snapshot_restore_prepare(paths, src ? src : paths,
							      colon ? colon + 1 : tag, spec, prep,
							      &err);
		if (!restore) {
			gv_prepared_remove_created(prep);
			close(lock_fd);
			return gv_cli_error(err);
		}
	}
	/* After the restore's preparation, which may keep QEMU root for a clone. */
	for (guint i = 0; i < prep->warnings->len; i++)
		g_printerr("grainvm: warning: %s\n", (char *)g_ptr_array_index(prep->warnings, i));

	/* [vm] template: RAM in a file of this VM's own (a clone maps its template's instead). */
	g_autofree char *ram_file = NULL;
	if (spec->template_ram && !(restore && restore->template_ram)) {
		if (prep->qemu_user.drop)
			g_set_error(&err, GV_ERROR, GV_ERROR_INVALID,
				    "[vm] template=true cannot run QEMU as user %s (GRAINVM_QEMU_USER) "
				    "yet: QEMU 7.2 opens its RAM file read-write, and that user could "
				    "then write the template every clone maps (up without "
				    "GRAINVM_QEMU_USER)", prep->qemu_user.name);
		else if (!dry_run)
			ram_file = gv_ram_file_create(spec->name, &err);
		else
			ram_file = g_strdup("RAMDIR/NAME-XXXXXX.ram");
		if (err) {
			gv_prepared_remove_created(prep);
			close(lock_fd);
			return gv_cli_error(err);
		}
		if (!dry_run)
			g_ptr_array_add(prep->created, g_strdup(ram_file));
		prep->facts.ram_file = ram_file;
		prep->facts.ram_shared = TRUE;
	}

	g_auto(GStrv) qargv = gv_qemu_argv(spec, &prep->facts);
	if (dry_run) {
		/* Nothing may remain of a dry run but the content-keyed caches. */
		gv_prepared_remove_created(prep);
		close(lock_fd);
		print_argv(qargv, json);
		return GV_EXIT_OK;
	}
	g_autoptr(GvPlan) plan = make_plan(spec, prep, qargv);
	plan->ram_file = g_strdup(ram_file);
	if (restore)
		gv_restore_to_plan(restore, plan);
	g_autofree char *spec_text = gv_spec_to_data(spec, TRUE);
	if (!gv_plan_save(plan, paths->plan, &err) ||
	    !gv_write_file_atomic(paths->spec, spec_text, strlen(spec_text), 0600, &err)) {
		gv_prepared_remove_created(prep);
		close(lock_fd);
		return gv_cli_error(err);
	}

	if (foreground) {
		GvSupervisorOptions opts = { .plan = plan, .notify_fd = -1,
					     .notify = on_foreground_event, .notify_data = &report };
		code = gv_supervisor_run(spec->name, &opts, &err);
		close(lock_fd);
		if (err)
			return gv_cli_error(err);
		if (report.message) {
			if (!json)
				g_printerr("grainvm: vm %s: %s\n", spec->name, report.message);
			g_free(report.message);
			if (code != GV_EXIT_OK)
				gv_prepared_remove_created(prep);
			return report.code;
		}
		return code;
	}

	g_auto(UpWait) w = { .sig_fd = take_signals() };
	w.report_fd = spawn_supervisor(paths, plan, lock_fd, FALSE, &w.supervisor, &err);
	/* The supervisor holds the lock now (same open file); ours can go. */
	close(lock_fd);
	if (w.report_fd < 0) {
		gv_prepared_remove_created(prep);
		gv_vm_runtime_cleanup(paths);
		return gv_cli_error(err);
	}
	g_autoptr(JsonObject) ev = read_report(&w);
	const char *what = ev ? gv_json_string_or(ev, "event", "") : "";
	if (!strcmp(what, "ready") && !w.signo) {
		print_ready(ev, &report);
		return GV_EXIT_OK;
	}
	/* Failed: the supervisor has already ended QEMU and removed the
	 * sockets; it exits right after its report.  Wait for that (its lock
	 * goes with it), so that nothing of this up runs when it returns.
	 * Interrupted: it is stopping the guest, ready or not; wait longer,
	 * since a guest that got ready meanwhile is powered off gracefully. */
	wait_supervisor_gone(paths, &w, w.signo ? INTERRUPTED_WAIT_MS : FAILED_WAIT_MS);
	if (!ensure_no_qemu(paths, &err)) {
		g_printerr("grainvm: %s\n", err->message);
		return GV_EXIT_FAILED;
	}
	gv_prepared_remove_created(prep);
	if (w.signo) {
		gboolean gone = !gv_vm_is_running(paths);
		g_printerr("grainvm: vm %s: up interrupted (%s) before ready; %s\n", spec->name,
			   g_strsignal(w.signo),
			   gone ? "the VM was stopped" : "the VM is still stopping (grainvm down stops it)");
		return 128 + w.signo;
	}
	if (ev) {
		g_autofree char *why = gv_term_escape(gv_json_string_or(ev, "message", "failed"), NULL);
		g_printerr("grainvm: vm %s: %s\n", spec->name, why);
		g_printerr("grainvm: console log: %s\n", paths->console_log);
		return (int)gv_json_int_or(ev, "exit-code", GV_EXIT_FAILED);
	}
	g_printerr("grainvm: vm %s: the supervisor exited without a report; see %s/supervisor.log\n",
		   spec->name, paths->run_dir);
	return GV_EXIT_FAILED;
}
