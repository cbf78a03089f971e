/* SPDX-License-Identifier: MIT */
/*
 * supervisor.c - own one QEMU from spawn to reap
 *
 * Theory of operation
 * -------------------
 * Sockets first.  The supervisor binds the QMP, console and both agent
 * sockets itself and hands QEMU the listening descriptors (fd=3..6, see
 * argv.h).  It then connects to each at once: the connections queue in
 * the backlog until QEMU accepts, so there is no window in which a socket
 * file is missing and no polling for one.
 *
 * QEMU starts paused (-S).  Once the QMP handshake is done and the event
 * handlers are in place, "cont" starts the guest, so no event is lost.
 *
 * Ready means: the guest opened the agent's virtio-serial port (QMP
 * VSERPORT_CHANGE), the agent answered a guest-sync-delimited handshake,
 * and its grain-status says every share this VM expects is mounted.  The
 * agent mounts shares before it opens the port, so in the default guest
 * the first grain-status already says ready; an agent running as a service
 * on a normal distribution may be earlier than its mounts, and then
 * grain-status is asked again every 200 ms.  A guest restored from a
 * snapshot (`up --from`, supervisor-restore.c) has its port open already:
 * there the agent is asked right after "cont", and grain-thaw comes first.
 *
 * A guest that runs only QEMU's qemu-ga (on its own port, qga0) gets the
 * same readiness check through it (supervisor-agents.c); grainvm-agent is
 * preferred whenever it answers.
 *
 * Stopping is a ladder (down): ACPI power button, the agent's
 * guest-shutdown, QMP quit, SIGKILL, each rung after the previous one's
 * timeout.  Whatever ends QEMU, the child watch classifies the end from
 * the wait status plus what QMP said before (SHUTDOWN's reason,
 * GUEST_PANICKED, a STOP into internal-error), writes state.json, answers
 * everyone waiting, removes the runtime sockets and leaves the loop.
 *
 * Adoption (`up` of a VM whose supervisor died): QEMU is not a child then;
 * see "adoption" below.
 */
#include "supervisor/supervisor-priv.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib-unix.h>

#include "boot/argv.h"
#include "gv-error.h"
#include "unix-socket.h"
#include "fileio.h"
#include "supervisor/orphan.h"

#define QMP_HANDSHAKE_MS 10000
#define QMP_COMMAND_MS 10000
#define AGENT_HANDSHAKE_MS 5000
#define AGENT_STATUS_POLL_MS 200
#define QUIT_WAIT_S 5
/* console.log rotates at this size (see on_console); GRAINVM_CONSOLE_LOG_MAX overrides. */
#define CONSOLE_LOG_CAP (16 * 1024 * 1024)

static gint64 console_log_cap(void)
{
	static gint64 cap;
	if (!cap) {
		guint64 v;
		const char *env = g_getenv("GRAINVM_CONSOLE_LOG_MAX");
		cap = env && g_ascii_string_to_unsigned(env, 10, 4096, G_MAXINT64, &v, NULL)
			      ? (gint64)v : CONSOLE_LOG_CAP;
	}
	return cap;
}
#define KILL_WAIT_S 5

static void adopt_connected(Supervisor *sv);

/* ---- sockets ---------------------------------------------------------------- */

/* ---- notifications and state ---------------------------------------------------- */

static void sd_notify_ready(const char *status)
{
	/* systemd Type=notify: one datagram to $NOTIFY_SOCKET ('@' = abstract). */
	const char *path = g_getenv("NOTIFY_SOCKET");
	if (!path || !*path)
		return;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	gsize len = strlen(path);
	if (len >= sizeof(sa.sun_path))
		return;
	memcpy(sa.sun_path, path, len);
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = '\0';
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	g_autofree char *msg = g_strdup_printf("READY=1\nSTATUS=%s", status);
	sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&sa,
	       (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len));
	close(fd);
}

/**
 * sv_hint() - tell the waiting `up` something while it goes on waiting
 * @sv: the supervisor
 * @message: one line
 *
 * A {"event": "hint"} line before the final report; the report pipe stays
 * open.  Nothing once the final event has gone.
 */
void sv_hint(Supervisor *sv, const char *message)
{
	if (sv->notified)
		return;
	g_autoptr(JsonObject) ev = json_object_new();
	json_object_set_string_member(ev, "event", "hint");
	json_object_set_string_member(ev, "name", sv->paths->name);
	json_object_set_string_member(ev, "message", message);
	if (sv->opts.notify)
		sv->opts.notify(ev, sv->opts.notify_data);
	if (sv->opts.notify_fd >= 0) {
		g_autoptr(JsonNode) n = json_node_init_object(json_node_alloc(), json_object_ref(ev));
		g_autofree char *text = gv_json_to_string(n, FALSE);
		g_autofree char *line = g_strconcat(text, "\n", NULL);
		gv_write_all(sv->opts.notify_fd, line, strlen(line));
	}
}

static void sv_notify(Supervisor *sv, JsonObject *ev)
{
	if (sv->notified)
		return;
	sv->notified = TRUE;
	if (sv->opts.notify)
		sv->opts.notify(ev, sv->opts.notify_data);
	if (sv->opts.notify_fd >= 0) {
		g_autoptr(JsonNode) n = json_node_init_object(json_node_alloc(), ev);
		g_autofree char *text = gv_json_to_string(n, FALSE);
		g_autofree char *line = g_strconcat(text, "\n", NULL);
		gv_write_all(sv->opts.notify_fd, line, strlen(line));
		close(sv->opts.notify_fd);
		sv->opts.notify_fd = -1;
	}
}

static double seconds_since_spawn(Supervisor *sv, gint64 t_us)
{
	return sv->spawned_us ? (double)(t_us - sv->spawned_us) / G_USEC_PER_SEC : 0.0;
}

JsonObject *sv_state_object(Supervisor *sv)
{
	JsonObject *o = json_object_new();
	json_object_set_string_member(o, "name", sv->paths->name);
	json_object_set_string_member(o, "phase", gv_phase_name(sv->phase));
	if (sv->final_reason)
		json_object_set_string_member(o, "reason", sv->final_reason);
	if (sv->forced && sv->phase == GV_PHASE_STOPPED)
		json_object_set_boolean_member(o, "forced", TRUE);
	json_object_set_int_member(o, "supervisor-pid", getpid());
	if (sv->qemu_pid > 0 && sv->phase <= GV_PHASE_STOPPING)
		json_object_set_int_member(o, "qemu-pid", sv->qemu_pid);
	const GvPlan *p = sv->plan;
	json_object_set_string_member(o, "accel", p->accel);
	if (p->accel_reason)
		json_object_set_string_member(o, "accel-reason", p->accel_reason);
	json_object_set_string_member(o, "boot", p->boot);
	/* Whom QEMU runs as, and why (privdrop.h). */
	JsonObject *u = json_object_new();
	uid_t uid = p->qemu_user.drop ? p->qemu_user.uid : geteuid();
	const char *uname = p->qemu_user.drop ? p->qemu_user.name : g_get_user_name();
	json_object_set_string_member(u, "name", uname);
	json_object_set_int_member(u, "uid", uid);
	if (p->qemu_user.why)
		json_object_set_string_member(u, "why", p->qemu_user.why);
	json_object_set_object_member(o, "qemu-user", u);
	if (p->project_dir)
		json_object_set_string_member(o, "project-dir", p->project_dir);
	json_object_set_int_member(o, "memory", (gint64)p->memory);
	json_object_set_int_member(o, "cpus", p->cpus);
	json_object_set_array_member(o, "shares", gv_plan_shares_to_json(p));
	if (p->restore && p->restore->template_of)
		json_object_set_string_member(o, "template", p->restore->template_of);
	if (p->ram_file && sv->phase <= GV_PHASE_STOPPING)
		json_object_set_string_member(o, "ram-file", p->ram_file);
	if (p->restore && p->restore->run_overlay && sv->phase <= GV_PHASE_STOPPING)
		/* A restored run writes its own overlay, not the VM's overlay.qcow2. */
		json_object_set_string_member(o, "run-disk", p->restore->run_overlay);
	sv_net_state(sv, o);
	if (sv->spawned_wall)
		json_object_set_int_member(o, "started-at", sv->spawned_wall);
	if (sv->ready_us && sv->spawned_us)
		json_object_set_double_member(o, "ready-seconds",
					      seconds_since_spawn(sv, sv->ready_us));
	if (sv->adopted)
		json_object_set_boolean_member(o, "adopted", TRUE);
	if (sv->grain_status)
		json_object_set_object_member(o, "agent", json_object_ref(sv->grain_status));
	json_object_set_string_member(o, "console-log", sv->paths->console_log);
	json_object_set_string_member(o, "qemu-log", sv->paths->qemu_log);
	return o;
}

/*
 * A guest that lies may do so on every line; the log names the first
 * lies, not millions of them.
 */
#define PROTOCOL_ERRORS_LOGGED 20

/**
 * sv_protocol_error() - log that a peer sent something that is not the protocol
 * @sv: the supervisor
 * @error: (nullable): what, from gv_json_get_*() (NULL: nothing to log)
 *
 * The reply it came in has failed already; this only leaves a trace, once
 * per reply and at most PROTOCOL_ERRORS_LOGGED times per supervisor.
 */
void sv_protocol_error(Supervisor *sv, const GError *error)
{
	if (!error || sv->protocol_errors > PROTOCOL_ERRORS_LOGGED)
		return;
	if (sv->protocol_errors++ == PROTOCOL_ERRORS_LOGGED) {
		g_printerr("grainvm supervisor: more protocol errors; not logging them\n");
		return;
	}
	g_printerr("grainvm supervisor: protocol error: %s\n", error->message);
}

static gboolean sv_write_state(Supervisor *sv, GError **error)
{
	g_autoptr(JsonObject) o = sv_state_object(sv);
	g_autoptr(GError) err = NULL;
	if (gv_vm_state_write(sv->paths, o, &err))
		return TRUE;
	g_printerr("grainvm supervisor: %s\n", err->message);
	g_propagate_error(error, g_steal_pointer(&err));
	return FALSE;
}

static void sv_set_phase(Supervisor *sv, GvPhase phase)
{
	sv->phase = phase;
	sv_write_state(sv, NULL);
}

/* ---- console ------------------------------------------------------------------- */

void sv_console_write(Supervisor *sv, const guint8 *buf, gsize len)
{
	if (sv->console_fd < 0)
		return;
	/* Typed input is small; if the guest does not drain it, dropping is fine. */
	while (len) {
		ssize_t w = write(sv->console_fd, buf, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		buf += w;
		len -= (gsize)w;
	}
}

static gboolean on_console(int fd, GIOCondition cond, gpointer data)
{
	Supervisor *sv = data;
	guint8 buf[16384];
	ssize_t n = read(fd, buf, sizeof(buf));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return G_SOURCE_CONTINUE;
	if (n <= 0) {
		sv->console_watch = 0;
		close(sv->console_fd);
		sv->console_fd = -1;
		return G_SOURCE_REMOVE;
	}
	if (sv->console_log_fd >= 0) {
		/*
		 * The guest decides what it prints: a console flood must not fill
		 * the host's disk.  Past the cap the log moves to console.log.1
		 * (replacing an older one) and starts again, so at most twice the
		 * cap is kept and the newest output is always in console.log.
		 */
		struct stat st;
		if (fstat(sv->console_log_fd, &st) == 0 && st.st_size >= console_log_cap()) {
			g_autofree char *old = g_strconcat(sv->paths->console_log, ".1", NULL);
			if (rename(sv->paths->console_log, old) == 0) {
				close(sv->console_log_fd);
				sv->console_log_fd = open(sv->paths->console_log,
							  O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_NOFOLLOW |
							  O_CLOEXEC, 0600);
			}
		}
		if (sv->console_log_fd >= 0 && write(sv->console_log_fd, buf, (gsize)n) < 0) {
			/* A full disk must not stop the VM; the log just stops growing. */
		}
	}
	sv->console_bytes += (guint64)n;
	sv_control_broadcast_console(sv, buf, (gsize)n);
	return G_SOURCE_CONTINUE;
}

/* ---- the end of QEMU ------------------------------------------------------------- */

static char *last_qemu_log_line(Supervisor *sv)
{
	g_autofree char *text = NULL;
	if (!g_file_get_contents(sv->paths->qemu_log, &text, NULL, NULL))
		return NULL;
	g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
	for (int i = (int)g_strv_length(lines) - 1; i >= 0; i--) {
		char *l = g_strstrip(lines[i]);
		if (!*l || strstr(l, "terminating on signal"))
			continue;
		/* "-msg timestamp=on" prefixes "2026-11-27T07:00:00.123456Z "; drop it. */
		if (strlen(l) > 28 && l[4] == '-' && l[10] == 'T' && strchr(l, ' '))
			l = strchr(l, ' ') + 1;
		return g_strdup(l);
	}
	return NULL;
}

static void sv_classify_exit(Supervisor *sv, int status)
{
	g_autofree char *last = last_qemu_log_line(sv);
	GvPhase phase = GV_PHASE_STOPPED;
	char *reason;
	int code = GV_EXIT_OK;

	if (sv->internal_error) {
		phase = GV_PHASE_CRASHED;
		reason = g_strdup("KVM internal error (the guest stopped in run state internal-error)");
		code = GV_EXIT_FAILED;
	} else if (sv->panicked) {
		phase = GV_PHASE_CRASHED;
		reason = g_strdup("guest kernel panic (GUEST_PANICKED)");
		code = GV_EXIT_FAILED;
	} else if (sv->ready_timed_out) {
		/* Nothing crashed: the guest never got ready and grainvm stopped it. */
		phase = GV_PHASE_FAILED;
		reason = g_strdup_printf("not ready within %u s: %s", sv->ready_timeout_s,
					 sv->agent_problem ? sv->agent_problem
							   : "the agent port never opened");
		code = GV_EXIT_TIMEOUT;
	} else if (!sv->qemu_status_known && !sv->shutdown_reason && sv->down_step != DOWN_KILL) {
		/* Adopted: not our child, so no wait status; only QMP can say. */
		phase = GV_PHASE_CRASHED;
		reason = g_strdup_printf("QEMU ended without a SHUTDOWN event%s%s", last ? ": " : "",
					 last ? last : "");
		code = GV_EXIT_FAILED;
	} else if (!sv->qemu_status_known && sv->down_step == DOWN_KILL && !sv->shutdown_reason) {
		reason = g_strdup("killed with SIGKILL by grainvm down after the gentler steps timed out");
	} else if (sv->qemu_status_known && WIFSIGNALED(status)) {
		int sig = WTERMSIG(status);
		if (sv->down_step == DOWN_KILL) {
			reason = g_strdup("killed with SIGKILL by grainvm down after the gentler steps timed out");
		} else {
			phase = GV_PHASE_CRASHED;
			/* An abort() says why on stderr; SIGKILL from outside says nothing. */
			gboolean said = last && sig != SIGKILL;
			reason = g_strdup_printf("QEMU was killed by signal %d (%s)%s%s", sig,
						 g_strsignal(sig), said ? ": " : "", said ? last : "");
			code = GV_EXIT_FAILED;
		}
	} else if (sv->qemu_status_known && WIFEXITED(status) && WEXITSTATUS(status) != 0) {
		phase = GV_PHASE_CRASHED;
		reason = g_strdup_printf("QEMU exited with status %d%s%s", WEXITSTATUS(status),
					 last ? ": " : "", last ? last : "");
		code = GV_EXIT_FAILED;
	} else if (!g_strcmp0(sv->shutdown_reason, "guest-shutdown")) {
		/* The rung that was current when the guest said it powers off:
		 * the next one may have started while QEMU was still exiting. */
		reason = g_strdup(sv->shutdown_step == DOWN_POWERDOWN ? "guest powered off (ACPI power button)"
			 : sv->shutdown_step == DOWN_AGENT ? "guest powered off (agent guest-shutdown)"
			 : "guest powered off");
	} else if (!g_strcmp0(sv->shutdown_reason, "host-qmp-quit")) {
		reason = g_strdup("QEMU quit over QMP");
	} else if (!g_strcmp0(sv->shutdown_reason, "guest-reset")) {
		reason = g_strdup("guest rebooted (grainvm runs QEMU with -no-reboot)");
	} else if (!g_strcmp0(sv->shutdown_reason, "guest-panic")) {
		phase = GV_PHASE_CRASHED;
		reason = g_strdup("guest kernel panic");
		code = GV_EXIT_FAILED;
	} else if (sv->shutdown_reason) {
		reason = g_strdup_printf("QEMU shut down (%s)", sv->shutdown_reason);
	} else {
		reason = g_strdup("QEMU exited");
	}
	if (sv->forced && phase == GV_PHASE_STOPPED &&
	    g_strcmp0(sv->shutdown_reason, "guest-shutdown")) {
		/* The guest did not go down by itself: its disks were not unmounted. */
		char *forced = g_strdup_printf("forced after the guest ignored %s for %u s (%s)",
					       sv->tried_button && sv->tried_agent
						       ? "the power button and the agent"
						       : sv->tried_button ? "the power button"
									  : "the agent",
					       sv->forced_after_s, reason);
		g_free(reason);
		reason = forced;
	} else {
		sv->forced = FALSE;
	}
	if (sv->phase < GV_PHASE_READY && phase == GV_PHASE_STOPPED && !sv->down_requested) {
		/* Ending before ready, unasked, is a failed boot even if QEMU exited 0. */
		phase = GV_PHASE_CRASHED;
		code = GV_EXIT_FAILED;
	}
	sv_restore_explain(sv, &phase, &reason, &code);
	g_free(sv->final_reason);
	sv->final_reason = reason;
	sv->exit_code = code;
	sv->phase = phase;
}

static void sv_finish(Supervisor *sv)
{
	/* Answer everyone waiting for the end, then take the runtime files away. */
	for (guint i = 0; sv->down_waiters && i < sv->down_waiters->len; i++) {
		DownWaiter *w = g_ptr_array_index(sv->down_waiters, i);
		JsonObject *r = json_object_new();
		json_object_set_string_member(r, "phase", gv_phase_name(sv->phase));
		json_object_set_string_member(r, "reason", sv->final_reason);
		if (sv->forced)
			json_object_set_boolean_member(r, "forced", TRUE);
		g_autoptr(JsonNode) rn = json_node_init_object(json_node_alloc(), r);
		json_object_unref(r);
		sv_control_reply(w->client, w->id, rn, NULL);
		sv_client_flush_blocking(w->client);
	}
	sv_control_close_all(sv);
	if (sv->qmp)
		gv_qmp_client_close(sv->qmp);
	if (sv->agent.client)
		gv_qmp_client_close(sv->agent.client);
	if (sv->qga.client)
		gv_qmp_client_close(sv->qga.client);
	gv_vm_runtime_cleanup(sv->paths);
	/* A snapshot job's thread ends soon (its calls now fail); it quits then. */
	if (!sv_snapshot_quit_when_done(sv))
		g_main_loop_quit(sv->loop);
}

/*
 * QEMU's last QMP events (SHUTDOWN with its reason) may still sit in the
 * socket when the child watch fires: classify only once QMP has reached
 * EOF, or after QMP_DRAIN_MS if it never does.
 */
#define QMP_DRAIN_MS 1000

static void sv_qemu_ended(Supervisor *sv)
{
	if (!sv->qemu_exited || sv->phase == GV_PHASE_STOPPED || sv->phase == GV_PHASE_CRASHED ||
	    sv->phase == GV_PHASE_FAILED)
		return;
	g_clear_handle_id(&sv->drain_timer, g_source_remove);
	g_clear_handle_id(&sv->down_timer, g_source_remove);
	g_clear_handle_id(&sv->ready_timer, g_source_remove);
	sv_links_stop(sv);

	sv_classify_exit(sv, sv->qemu_status);
	g_autoptr(GError) err = NULL;
	if (!sv_write_state(sv, &err)) {
		/* Whoever waits for the end must not be told a state status will not show. */
		char *why = g_strdup_printf("%s (but the final state could not be recorded: %s)",
					    sv->final_reason, err->message);
		g_free(sv->final_reason);
		sv->final_reason = why;
	}
	if (!sv->notified) {
		JsonObject *ev = json_object_new();
		json_object_set_string_member(ev, "event", "failed");
		json_object_set_string_member(ev, "message", sv->final_reason);
		json_object_set_int_member(ev, "exit-code",
					   sv->exit_code ? sv->exit_code : GV_EXIT_FAILED);
		sv_notify(sv, ev);
		json_object_unref(ev);
	}
	sv_finish(sv);
}

static gboolean on_drain_timeout(gpointer data)
{
	Supervisor *sv = data;
	sv->drain_timer = 0;
	sv_qemu_ended(sv);
	return G_SOURCE_REMOVE;
}

static void on_qmp_closed(GvQmpClient *client, const GError *error, gpointer data)
{
	sv_qemu_ended(data);
}

static void on_qemu_exit(GPid pid, int status, gpointer data)
{
	Supervisor *sv = data;
	sv->child_watch = 0;
	g_spawn_close_pid(pid);
	sv->qemu_exited = TRUE;
	sv->qemu_status_known = TRUE;
	sv->qemu_status = status;
	if (!sv->qmp || gv_qmp_client_is_closed(sv->qmp))
		sv_qemu_ended(sv);
	else
		sv->drain_timer = g_timeout_add(QMP_DRAIN_MS, on_drain_timeout, sv);
}

/* ---- down: the shutdown ladder ------------------------------------------------------ */

static void down_next(Supervisor *sv);

static gboolean on_down_timeout(gpointer data)
{
	Supervisor *sv = data;
	sv->down_timer = 0;
	down_next(sv);
	return G_SOURCE_REMOVE;
}

/* @data is the client; the supervisor holds a reference until the very end. */
static void ignore_reply(GObject *src, GAsyncResult *res, gpointer data)
{
	JsonNode *r = gv_qmp_client_execute_finish(data, res, NULL);
	if (r)
		json_node_unref(r);
}

/*
 * GRAINVM_DOWN_STEP_MS, when set, is how long every rung waits, in place
 * of --timeout's seconds and the fixed quit and kill waits.  It exists for
 * tests that play a QEMU ignoring each rung in turn
 * (tests/launcher/test-supervisor.c): with the real waits, the SIGKILL
 * case alone would take 7 s.
 */
static guint down_step_override_ms(void)
{
	guint64 v;
	const char *env = g_getenv("GRAINVM_DOWN_STEP_MS");
	return env && g_ascii_string_to_unsigned(env, 10, 1, 3600 * 1000, &v, NULL) ? (guint)v : 0;
}

static void down_arm(Supervisor *sv, guint seconds)
{
	g_clear_handle_id(&sv->down_timer, g_source_remove);
	guint ms = down_step_override_ms();
	sv->down_timer = ms ? g_timeout_add(ms, on_down_timeout, sv)
			    : g_timeout_add_seconds(seconds, on_down_timeout, sv);
}

static void down_next(Supervisor *sv)
{
	if (sv->qemu_pid <= 0 || sv->qemu_exited)
		return;
	gboolean qmp_ok = sv->qmp && !gv_qmp_client_is_closed(sv->qmp);
	switch (sv->down_step) {
	case DOWN_NONE:
		sv->down_step = DOWN_POWERDOWN;
		if (qmp_ok && sv->phase >= GV_PHASE_BOOTING) {
			gv_qmp_client_execute_async(sv->qmp, "system_powerdown", NULL, QMP_COMMAND_MS,
						    NULL, ignore_reply, sv->qmp);
			sv->tried_button = TRUE;
			sv->down_started_us = g_get_monotonic_time();
			down_arm(sv, sv->down_timeout_s);
			return;
		}
		G_GNUC_FALLTHROUGH;
	case DOWN_POWERDOWN:
		sv->down_step = DOWN_AGENT;
		if (sv_agent_usable(sv) || sv_qga_usable(sv)) {
			/* grainvm-agent, or the guest's own qemu-ga. */
			GvQmpClient *ga = sv_agent_usable(sv) ? sv->agent.client : sv->qga.client;
			g_autoptr(JsonObject) args = json_object_new();
			json_object_set_string_member(args, "mode", "powerdown");
			if (gv_qmp_client_send_no_reply(ga, "guest-shutdown", args, NULL)) {
				if (!sv->tried_button)
					sv->down_started_us = g_get_monotonic_time();
				sv->tried_agent = TRUE;
				down_arm(sv, sv->down_timeout_s);
				return;
			}
		}
		G_GNUC_FALLTHROUGH;
	case DOWN_AGENT:
		sv->down_step = DOWN_QUIT;
		if (sv->tried_button || sv->tried_agent) {
			/* The gentle rungs were tried and ignored: what follows is forced. */
			sv->forced = TRUE;
			sv->forced_after_s = (guint)((g_get_monotonic_time() - sv->down_started_us +
						      G_USEC_PER_SEC / 2) / G_USEC_PER_SEC);
		}
		if (qmp_ok) {
			gv_qmp_client_execute_async(sv->qmp, "quit", NULL, QMP_COMMAND_MS, NULL,
						    ignore_reply, sv->qmp);
			down_arm(sv, QUIT_WAIT_S);
			return;
		}
		G_GNUC_FALLTHROUGH;
	case DOWN_QUIT:
		sv->down_step = DOWN_KILL;
		if (sv->qemu_pidfd >= 0)
			syscall(SYS_pidfd_send_signal, sv->qemu_pidfd, SIGKILL, NULL, 0);
		else
			kill(sv->qemu_pid, SIGKILL);
		down_arm(sv, KILL_WAIT_S);
		return;
	case DOWN_KILL:
		/* SIGKILL cannot be ignored; the child watch will come. */
		return;
	}
}

/*
 * The guest closed an agent port during down's gentle rungs: the agents
 * are being stopped, so the guest is shutting down.  Give it the grace
 * instead of the rung's timeout, once.
 */
static void down_guest_going(Supervisor *sv)
{
	if (!sv->down_requested || sv->down_going ||
	    (sv->down_step != DOWN_POWERDOWN && sv->down_step != DOWN_AGENT))
		return;
	sv->down_going = TRUE;
	sv->down_step = DOWN_AGENT; /* next: quit, if the grace runs out */
	down_arm(sv, GV_DOWN_GRACE_S(sv->down_timeout_s));
}

void sv_start_down(Supervisor *sv, guint timeout_s, gboolean force)
{
	sv->down_timeout_s = timeout_s ? timeout_s : 1;
	if (force && sv->down_step < DOWN_AGENT)
		sv->down_step = DOWN_AGENT; /* the next rung is quit */
	if (sv->down_requested) {
		if (force)
			down_next(sv);
		return;
	}
	sv->down_requested = TRUE;
	if (sv->phase < GV_PHASE_STOPPING)
		sv_set_phase(sv, GV_PHASE_STOPPING);
	down_next(sv);
}

/*
 * The stop budget: how long a stop on a signal may take from the signal to
 * QEMU's end.  Whoever sends the signal kills for good after a grace time
 * of its own (Slurm's KillWait, 30 s by default; systemd's TimeoutStopSec),
 * so GRAINVM_STOP_TIMEOUT=S lets the user fit the ladder below it: each
 * graceful rung (ACPI, then the agent) gets (S - QUIT_WAIT_S) / 2 seconds,
 * at least 1, QMP quit its QUIT_WAIT_S, then SIGKILL; so QEMU ends within
 * S seconds for any S of 7 or more.  Unset: 10 s per rung, as `grainvm
 * down`.  3600 is only a sanity bound on a typo.
 */
#define SIGNAL_RUNG_DEFAULT_S 10
#define STOP_TIMEOUT_MAX_S 3600

static guint signal_rung_s(void)
{
	const char *env = g_getenv("GRAINVM_STOP_TIMEOUT");
	guint64 s;
	if (!env || !g_ascii_string_to_unsigned(env, 10, 1, STOP_TIMEOUT_MAX_S, &s, NULL))
		return SIGNAL_RUNG_DEFAULT_S;
	return s > QUIT_WAIT_S + 2 ? (guint)(s - QUIT_WAIT_S) / 2 : 1;
}

static gboolean on_signal(gpointer data)
{
	Supervisor *sv = data;
	/* systemd stop, Ctrl-C in the foreground, a Slurm job cancelled or
	 * out of time, or an interrupted up: a normal down.  A guest not yet
	 * ready has no one to power it off gracefully (the agent is not up,
	 * ACPI may not be either), so it is quit at once, as a second signal
	 * does.  Only a second signal forces: a down asked over the control
	 * socket and then a signal is one stop, not two (in a Slurm job the
	 * job script's `grainvm down` and Slurm's own SIGTERM to every
	 * process of the job come in either order; systemd's ExecStop= is
	 * followed by a SIGTERM too). */
	gboolean again = sv->signalled;
	sv->signalled = TRUE;
	sv_start_down(sv, again ? 1 : signal_rung_s(), again || sv->phase < GV_PHASE_READY);
	return G_SOURCE_CONTINUE;
}

/* ---- readiness ------------------------------------------------------------------------ */

static gboolean on_ready_timeout(gpointer data)
{
	Supervisor *sv = data;
	sv->ready_timer = 0;
	if (sv->phase >= GV_PHASE_READY)
		return G_SOURCE_REMOVE;
	if (sv->adopted) {
		/* Not ours to kill for being slow: it ran before we came. */
		JsonObject *ev = json_object_new();
		json_object_set_string_member(ev, "event", "failed");
		g_autofree char *msg = g_strdup_printf(
			"adopted QEMU pid %d, but the guest was not ready within %u s (%s); it keeps "
			"running under this supervisor: grainvm down %s stops it", sv->qemu_pid,
			sv->ready_timeout_s, sv->agent_problem ? sv->agent_problem : "no agent answered",
			sv->paths->name);
		json_object_set_string_member(ev, "message", msg);
		json_object_set_int_member(ev, "exit-code", GV_EXIT_TIMEOUT);
		sv_notify(sv, ev);
		json_object_unref(ev);
		return G_SOURCE_REMOVE;
	}
	sv->ready_timed_out = TRUE;
	/* Nothing is left running after a failed up: stop QEMU without ceremony. */
	sv->down_requested = TRUE;
	sv->down_timeout_s = 1;
	sv->down_step = DOWN_AGENT;
	down_next(sv);
	return G_SOURCE_REMOVE;
}

static void set_problem(Supervisor *sv, char *problem /* consumed */)
{
	g_free(sv->agent_problem);
	sv->agent_problem = problem;
}

/** sv_set_problem() - why the guest is not ready yet (@problem consumed) */
void sv_set_problem(Supervisor *sv, char *problem)
{
	set_problem(sv, problem);
}

/**
 * sv_agent_usable() - grainvm-agent answered its last handshake
 * @sv: the supervisor
 *
 * Return: TRUE when commands can go to grainvm-agent.
 */
gboolean sv_agent_usable(Supervisor *sv)
{
	return sv->agent.client && sv->agent.synced && !gv_qmp_client_is_closed(sv->agent.client);
}

/**
 * sv_qga_usable() - qemu-ga answered its last handshake
 * @sv: the supervisor
 *
 * Return: TRUE when commands can go to the guest's qemu-ga.
 */
gboolean sv_qga_usable(Supervisor *sv)
{
	return sv->qga.client && sv->qga.synced && !gv_qmp_client_is_closed(sv->qga.client);
}

/* Every expected tag mounted?  On no, *why says which is not.  @st is
 * checked already (sv_agent_facts()). */
gboolean sv_mounts_ready(Supervisor *sv, JsonObject *st, char **why)
{
	JsonArray *mounts = gv_json_array_or_null(st, "mounts");
	for (guint i = 0; i < sv->expected_tags->len; i++) {
		const char *tag = g_ptr_array_index(sv->expected_tags, i);
		gboolean found = FALSE;
		for (guint j = 0; mounts && j < json_array_get_length(mounts); j++) {
			JsonObject *m = gv_json_array_object_at(mounts, j);
			if (g_strcmp0(gv_json_string_or(m, "tag", ""), tag))
				continue;
			if (gv_json_bool_or(m, "mounted", FALSE)) {
				found = TRUE;
				break;
			}
			const char *err = gv_json_string_or(m, "error", NULL);
			*why = g_strdup_printf("share %s is not mounted in the guest%s%s", tag,
					       err ? ": " : "", err ? err : "");
			return FALSE;
		}
		if (!found) {
			*why = g_strdup_printf("share %s is not mounted in the guest", tag);
			return FALSE;
		}
	}
	return TRUE;
}

void sv_become_ready(Supervisor *sv)
{
	sv->ready_us = g_get_monotonic_time();
	g_clear_handle_id(&sv->ready_timer, g_source_remove);
	sv_set_phase(sv, GV_PHASE_READY);
	sv_net_ready(sv);
	JsonObject *ev = sv_state_object(sv);
	json_object_set_string_member(ev, "event", "ready");
	sv_notify(sv, ev);
	json_object_unref(ev);
	g_autofree char *status = g_strdup_printf("ready in %.1f s",
						  seconds_since_spawn(sv, sv->ready_us));
	sd_notify_ready(status);
}

/* ---- QMP events --------------------------------------------------------------------------- */

static void on_query_status(GObject *src, GAsyncResult *res, gpointer data)
{
	Supervisor *sv = data;
	g_autoptr(JsonNode) r = gv_qmp_client_execute_finish(sv->qmp, res, NULL);
	if (!r || !JSON_NODE_HOLDS_OBJECT(r))
		return;
	const char *st = gv_json_string_or(gv_json_node_object_or_null(r), "status", "");
	if (!strcmp(st, "internal-error") || !strcmp(st, "guest-panicked")) {
		/* A stopped, broken guest never recovers; end QEMU so the end is recorded. */
		if (!strcmp(st, "internal-error"))
			sv->internal_error = TRUE;
		else
			sv->panicked = TRUE;
		sv->down_requested = TRUE;
		sv->down_step = DOWN_AGENT;
		down_next(sv);
	}
}

static void on_qmp_event(GvQmpClient *client, const char *event, JsonObject *data,
			 gint64 timestamp_us, gpointer user_data)
{
	Supervisor *sv = user_data;
	if (!strcmp(event, "SHUTDOWN")) {
		g_free(sv->shutdown_reason);
		/* QEMU's reason is one of its own words: bounded, never a lie to act on. */
		sv->shutdown_reason = g_strndup(gv_json_string_or(data, "reason", ""), 64);
		sv->shutdown_step = sv->down_step;
	} else if (!strcmp(event, "GUEST_PANICKED")) {
		sv->panicked = TRUE;
	} else if (!strcmp(event, "STOP")) {
		gv_qmp_client_execute_async(sv->qmp, "query-status", NULL, QMP_COMMAND_MS, NULL,
					    on_query_status, sv);
	} else if (!strcmp(event, "VSERPORT_CHANGE")) {
		const char *id = NULL;
		gboolean open = FALSE;
		g_autoptr(GError) bad = NULL;
		if (!gv_json_get_string(data, SV_PEER_QMP, "id", GV_JSON_REQUIRED, &id, &bad) ||
		    !gv_json_get_bool(data, SV_PEER_QMP, "open", GV_JSON_REQUIRED, &open, &bad)) {
			sv_protocol_error(sv, bad);
			return;
		}
		gboolean agent = !strcmp(id, sv->agent.port), qga = !strcmp(id, sv->qga.port);
		if (agent)
			sv->agent_ever_open |= open;
		if (qga)
			sv->qga_ever_open |= open;
		sv_link_port_changed(sv, id, open);
		if ((agent || qga) && !open)
			down_guest_going(sv);
	}
}

static void on_cont(GObject *src, GAsyncResult *res, gpointer data)
{
	Supervisor *sv = data;
	g_autoptr(GError) err = NULL;
	g_autoptr(JsonNode) r = gv_qmp_client_execute_finish(sv->qmp, res, &err);
	if (!r) {
		set_problem(sv, g_strdup_printf("QMP cont failed: %s", err->message));
		return;
	}
	if (sv->restore) {
		/* The restored guest's agent port is open already: talk to it now. */
		sv->agent.port_open = TRUE;
		sv_link_check(sv, &sv->agent);
	}
}

void sv_cont(Supervisor *sv)
{
	gv_qmp_client_execute_async(sv->qmp, "cont", NULL, QMP_COMMAND_MS, NULL, on_cont, sv);
}

static void on_qmp_handshake(GObject *src, GAsyncResult *res, gpointer data)
{
	Supervisor *sv = data;
	g_autoptr(GError) err = NULL;
	if (!gv_qmp_client_handshake_finish(sv->qmp, res, NULL, &err)) {
		/* QEMU died or hangs; the child watch or the ready timer will say which. */
		set_problem(sv, g_strdup_printf("QMP handshake failed: %s", err->message));
		return;
	}
	gv_qmp_client_add_event_handler(sv->qmp, NULL, on_qmp_event, sv, NULL);
	if (sv->down_requested) {
		down_next(sv);
		return;
	}
	sv_set_phase(sv, GV_PHASE_BOOTING);
	if (sv->adopted) {
		adopt_connected(sv);
		return;
	}
	if (sv->restore)
		sv_restore_qmp_ready(sv); /* cont once the state is in */
	else
		sv_cont(sv);
}

/* ---- adoption: a QEMU whose supervisor died -------------------------------------------- */

/*
 * QEMU outlives a supervisor killed with SIGKILL: it keeps listening on
 * the QMP, console and agent sockets it was given (a server chardev
 * accepts the next client when the previous one went), and the guest
 * keeps running, builds included.  A new supervisor adopts it: it
 * connects to those sockets as at a spawn, but instead of "cont" it asks
 * for the run state, and since the guest opened its agent ports long ago
 * (no VSERPORT_CHANGE will come) it handshakes both agents at once.  QEMU
 * is not its child, so its end is watched through a pidfd, and the reason
 * comes from QMP's SHUTDOWN event alone.
 */

static gboolean on_pidfd(int fd, GIOCondition cond, gpointer data)
{
	Supervisor *sv = data;
	sv->pidfd_watch = 0;
	sv->qemu_exited = TRUE;
	sv->qemu_status_known = FALSE;
	if (!sv->qmp || gv_qmp_client_is_closed(sv->qmp))
		sv_qemu_ended(sv);
	else
		sv->drain_timer = g_timeout_add(QMP_DRAIN_MS, on_drain_timeout, sv);
	return G_SOURCE_REMOVE;
}

static void on_adopt_status(GObject *src, GAsyncResult *res, gpointer data)
{
	Supervisor *sv = data;
	g_autoptr(JsonNode) r = gv_qmp_client_execute_finish(sv->qmp, res, NULL);
	const char *st = gv_json_string_or(gv_json_node_object_or_null(r), "status", "");
	/* The previous supervisor died between spawn and cont. */
	if (!strcmp(st, "prelaunch"))
		gv_qmp_client_execute_async(sv->qmp, "cont", NULL, QMP_COMMAND_MS, NULL, on_cont, sv);
}

static void adopt_connected(Supervisor *sv)
{
	gv_qmp_client_execute_async(sv->qmp, "query-status", NULL, QMP_COMMAND_MS, NULL,
				    on_adopt_status, sv);
	sv->agent.port_open = TRUE;
	sv_link_check(sv, &sv->agent);
	sv->qga.port_open = TRUE;
	sv_link_check(sv, &sv->qga);
}

static gboolean adopt_qemu(Supervisor *sv, GError **error)
{
	/* The same match as up's: this pid, started at the recorded time. */
	guint64 pid = (guint64)gv_vm_qemu_find(sv->paths);
	if (!pid) {
		g_set_error(error, GV_ERROR, GV_ERROR_STATE, "cannot adopt vm %s: %s names no "
			    "running QEMU of this VM", sv->paths->name, sv->paths->qemu_pid);
		return FALSE;
	}
	int fd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
	if (fd < 0) {
		g_set_error(error, GV_ERROR, GV_ERROR_STATE, "cannot adopt QEMU pid %" G_GUINT64_FORMAT
			    " of vm %s: %s", pid, sv->paths->name, g_strerror(errno));
		return FALSE;
	}
	sv->adopted = TRUE;
	sv->qemu_pid = (GPid)pid;
	sv->qemu_pidfd = fd;
	sv->pidfd_watch = g_unix_fd_add(fd, G_IO_IN, on_pidfd, sv);
	/* When it was started, as far as the last state.json knew. */
	g_autoptr(JsonObject) old = gv_vm_state_read(sv->paths);
	if (old)
		sv->spawned_wall = gv_json_int_or(old, "started-at", 0);
	return TRUE;
}

/* ---- setup ---------------------------------------------------------------------------------- */

static gboolean load_plan(Supervisor *sv, GError **error)
{
	/* A plan for another VM would run its QEMU under this VM's name. */
	if (!sv->opts.plan || g_strcmp0(sv->opts.plan->name, sv->paths->name)) {
		g_set_error(error, GV_ERROR, GV_ERROR_FAILED, "the plan handed over is %s%s, not vm %s's",
			    sv->opts.plan ? "vm " : "", sv->opts.plan ? sv->opts.plan->name : "missing",
			    sv->paths->name);
		return FALSE;
	}
	sv->plan = gv_plan_copy(sv->opts.plan);
	sv->opts.plan = NULL; /* the caller's: not to be used after this call */
	sv->argv = g_strdupv(sv->plan->argv);
	sv->ready_timeout_s = sv->plan->ready_timeout;
	sv->expected_tags = g_ptr_array_new_with_free_func(g_free);
	for (guint i = 0; i < sv->plan->shares->len; i++) {
		const GvPlanShare *s = g_ptr_array_index(sv->plan->shares, i);
		g_ptr_array_add(sv->expected_tags, g_strdup(s->tag));
	}
	return sv_restore_load(sv, error);
}

/*
 * The signals that stop a VM reach the supervisor, never QEMU.  Its own
 * session keeps a terminal's Ctrl-C away; but a batch system signals every
 * process of a job (Slurm's scancel and time limit: SIGTERM to each process
 * it tracks, whatever its session; systemd's KillMode=control-group alike),
 * and QEMU stops at once on SIGTERM, SIGINT or SIGHUP ("QEMU shut down
 * (host-signal)"), losing what the guest had not synced.  Ignoring them is
 * not enough: measured with QEMU 7.2, an inherited SIG_IGN is replaced by
 * QEMU's own handlers at start.  Blocked, they stay pending: QEMU's main
 * thread only adds to the mask it inherits and its other threads start with
 * every signal blocked, so it runs on until the guest powers off, QMP quit
 * or SIGKILL, which is what the supervisor's ladder sends.
 */
static void qemu_child_setup(gpointer data)
{
	const GvQemuUser *u = data;
	sigset_t stop;
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGHUP);
	sigprocmask(SIG_BLOCK, &stop, NULL);
	setsid();
	if (u->drop) {
		int r = gv_drop_privileges(u->uid, u->gid, u->kvm_gid);
		if (r < 0) {
			/* stderr is qemu.log: the supervisor reports its last line. */
			static const char msg[] = "grainvm: cannot drop QEMU's privileges "
						  "(setgroups/setresuid/capabilities failed)\n";
			if (write(2, msg, sizeof(msg) - 1) < 0) {
				/* Nothing more to do: the exit status says it failed. */
			}
			_exit(126);
		}
	}
}

/*
 * The files QEMU reads by descriptor when it runs as another user
 * (plan.json "files", see gv_qemu_fd_files()): opened here, as the
 * supervisor's user, and appended to @src/@dst.
 */
static gboolean open_qemu_files(Supervisor *sv, GArray *src, GArray *dst, GError **error)
{
	for (guint i = 0; i < sv->plan->files->len; i++) {
		const GvPlanFile *f = g_ptr_array_index(sv->plan->files, i);
		int mode = f->directory ? O_RDONLY | O_DIRECTORY : f->writable ? O_RDWR : O_RDONLY;
		int fd = open(f->path, mode | O_CLOEXEC);
		if (fd < 0) {
			g_set_error(error, GV_ERROR, GV_ERROR_FAILED, "cannot open %s for QEMU: %s",
				    f->path, g_strerror(errno));
			return FALSE;
		}
		g_array_append_val(src, fd);
		g_array_append_val(dst, f->fd);
	}
	return TRUE;
}

static gboolean spawn_qemu(Supervisor *sv, GError **error)
{
	const char *socks[4] = { sv->paths->qmp_sock, sv->paths->console_sock,
				 sv->paths->agent_sock, sv->paths->qga_sock };
	const int targets[4] = { GV_FD_QMP, GV_FD_CONSOLE, GV_FD_AGENT, GV_FD_QGA };
	g_autoptr(GArray) src = g_array_new(FALSE, FALSE, sizeof(int));
	g_autoptr(GArray) dst = g_array_new(FALSE, FALSE, sizeof(int));
	for (int i = 0; i < 4; i++) {
		sv->listen_fds[i] = gv_unix_listen(socks[i], 16, error);
		if (sv->listen_fds[i] < 0)
			return FALSE;
		g_array_append_val(src, sv->listen_fds[i]);
		g_array_append_val(dst, targets[i]);
	}
	/* Taps and switch connections: QEMU's from here on (see argv.h). */
	gboolean ok = sv_net_open_fds(sv, src, dst, error) && open_qemu_files(sv, src, dst, error);
	/* Ours to close after the spawn; the restore pipe is supervisor-restore.c's. */
	guint ours = src->len;
	if (ok && sv->restore) {
		int rfd = sv_restore_qemu_fd(sv, error);
		const int t = GV_FD_INCOMING;
		ok = rfd >= 0;
		if (ok) {
			g_array_append_val(src, rfd);
			g_array_append_val(dst, t);
		}
	}
	int log_fd = ok ? open(sv->paths->qemu_log, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600)
			: -1;
	if (ok && log_fd < 0) {
		g_set_error(error, GV_ERROR, GV_ERROR_FAILED, "cannot open %s: %s",
			    sv->paths->qemu_log, g_strerror(errno));
		ok = FALSE;
	}
	gboolean spawned = FALSE;
	if (ok) {
		sv->spawned_us = g_get_monotonic_time();
		sv->spawned_wall = g_get_real_time() / G_USEC_PER_SEC;
		spawned = g_spawn_async_with_pipes_and_fds(
			NULL, (const char *const *)sv->argv, NULL,
			G_SPAWN_DO_NOT_REAP_CHILD, qemu_child_setup, &sv->plan->qemu_user, -1, log_fd, log_fd,
			(const int *)src->data, (const int *)dst->data, src->len, &sv->qemu_pid,
			NULL, NULL, NULL, error);
		close(log_fd);
	}
	if (sv->restore)
		sv_restore_spawned(sv, spawned);
	for (guint i = 0; i < ours; i++)
		close(g_array_index(src, int, i));
	for (int i = 0; i < 4; i++)
		sv->listen_fds[i] = -1;
	if (!spawned) {
		if (ok)
			gv_prefix_error(error, "cannot start %s", sv->argv[0]);
		return FALSE;
	}
	gv_vm_qemu_record(sv->paths, sv->qemu_pid, NULL);
	sv->child_watch = g_child_watch_add(sv->qemu_pid, on_qemu_exit, sv);
	return TRUE;
}

static gboolean connect_all(Supervisor *sv, GError **error)
{
	int fd = gv_unix_connect(sv->paths->qmp_sock, error);
	if (fd < 0)
		return FALSE;
	sv->qmp = gv_qmp_client_new(fd, GV_QMP_PEER_QMP, SV_LINE_CAP, NULL);
	gv_qmp_client_set_closed_handler(sv->qmp, on_qmp_closed, sv);
	gv_qmp_client_handshake_async(sv->qmp, QMP_HANDSHAKE_MS, NULL, on_qmp_handshake, sv);

	/* Connect the agent's chardev now, so the guest finds the host side
	 * connected when it opens the port. */
	fd = gv_unix_connect(sv->paths->agent_sock, error);
	if (fd < 0)
		return FALSE;
	sv->agent.client = gv_qmp_client_new(fd, GV_QMP_PEER_AGENT, SV_LINE_CAP, NULL);
	/* After a timeout or garbage only a resync tells which line answers
	 * what; the client does it and holds new commands meanwhile. */
	gv_qmp_client_set_auto_resync(sv->agent.client, AGENT_HANDSHAKE_MS);

	/* And qemu-ga's, for a guest that runs only that (supervisor-agents.c). */
	fd = gv_unix_connect(sv->paths->qga_sock, error);
	if (fd < 0)
		return FALSE;
	sv->qga.client = gv_qmp_client_new(fd, GV_QMP_PEER_AGENT, SV_LINE_CAP, NULL);
	gv_qmp_client_set_auto_resync(sv->qga.client, AGENT_HANDSHAKE_MS);
	sv_stream_init(sv);

	sv->console_fd = gv_unix_connect(sv->paths->console_sock, error);
	if (sv->console_fd < 0)
		return FALSE;
	g_unix_set_fd_nonblocking(sv->console_fd, TRUE, NULL);
	sv->console_watch = g_unix_fd_add(sv->console_fd, G_IO_IN | G_IO_HUP | G_IO_ERR,
					  on_console, sv);
	return TRUE;
}

static void supervisor_free(Supervisor *sv)
{
	g_clear_handle_id(&sv->down_timer, g_source_remove);
	g_clear_handle_id(&sv->ready_timer, g_source_remove);
	g_clear_handle_id(&sv->drain_timer, g_source_remove);
	sv_links_stop(sv);
	g_clear_handle_id(&sv->console_watch, g_source_remove);
	g_clear_handle_id(&sv->control_watch, g_source_remove);
	g_clear_handle_id(&sv->pidfd_watch, g_source_remove);
	sv_stream_free(sv);
	sv_guest_free(sv);
	if (sv->qemu_pidfd >= 0)
		close(sv->qemu_pidfd);
	sv_restore_free(sv);
	/* [vm] template: the guest's RAM dies with the VM; a template saved
	 * from it has a link of its own (snapshot/template.h). */
	if (sv->plan && sv->plan->ram_file)
		unlink(sv->plan->ram_file);
	if (sv->console_fd >= 0)
		close(sv->console_fd);
	if (sv->console_log_fd >= 0)
		close(sv->console_log_fd);
	if (sv->control_fd >= 0)
		close(sv->control_fd);
	if (sv->opts.notify_fd >= 0)
		close(sv->opts.notify_fd);
	g_clear_pointer(&sv->qmp, gv_qmp_client_unref);
	g_clear_pointer(&sv->agent.client, gv_qmp_client_unref);
	g_clear_pointer(&sv->qga.client, gv_qmp_client_unref);
	g_clear_pointer(&sv->plan, gv_plan_free);
	g_clear_pointer(&sv->grain_status, json_object_unref);
	g_clear_pointer(&sv->expected_tags, g_ptr_array_unref);
	g_clear_pointer(&sv->down_waiters, g_ptr_array_unref);
	g_strfreev(sv->argv);
	g_free(sv->shutdown_reason);
	g_free(sv->agent_problem);
	g_free(sv->final_reason);
	sv_net_free(sv);
	gv_vm_paths_free(sv->paths);
	g_main_loop_unref(sv->loop);
	g_free(sv);
}

int gv_supervisor_run(const char *name, const GvSupervisorOptions *opts, GError **error)
{
	Supervisor *sv = g_new0(Supervisor, 1);
	sv->opts = *opts;
	sv->console_fd = sv->console_log_fd = sv->control_fd = sv->qemu_pidfd = -1;
	sv_links_init(sv);
	sv->loop = g_main_loop_new(NULL, FALSE);
	sv->down_waiters = g_ptr_array_new();
	sv->exit_code = GV_EXIT_FAILED;
	int code = GV_EXIT_FAILED;
	g_autofree char *pid = g_strdup_printf("%d\n", getpid());

	sv->paths = gv_vm_paths_new(name, error);
	if (!sv->paths || !load_plan(sv, error) || !sv_net_init(sv, error))
		goto out;
	if (!gv_write_runtime_file(sv->paths->supervisor_pid, pid, strlen(pid), 0600, error))
		goto out;
	/* An adopted VM's console log goes on where the last one stopped. */
	sv->console_log_fd = open(sv->paths->console_log,
				  O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC |
				  (opts->adopt ? 0 : O_TRUNC), 0600);
	sv_set_phase(sv, GV_PHASE_STARTING);
	if (!sv_control_listen(sv, error))
		goto out;
	/* SIGPIPE: a client that vanishes mid-reply is an EPIPE, not our death. */
	signal(SIGPIPE, SIG_IGN);
	guint sig_term = g_unix_signal_add(SIGTERM, on_signal, sv);
	guint sig_int = g_unix_signal_add(SIGINT, on_signal, sv);
	guint sig_hup = g_unix_signal_add(SIGHUP, on_signal, sv);

	if (opts->adopt ? !adopt_qemu(sv, error) || !connect_all(sv, error)
			: !spawn_qemu(sv, error) || !connect_all(sv, error)) {
		if (sv->qemu_pid > 0 && !sv->adopted) {
			/* Spawned but unreachable: do not leave it behind. */
			kill(sv->qemu_pid, SIGKILL);
			g_main_loop_run(sv->loop); /* until the child watch has reaped it */
		}
		g_source_remove(sig_term);
		g_source_remove(sig_int);
		g_source_remove(sig_hup);
		goto out;
	}
	sv->ready_timer = g_timeout_add_seconds(sv->ready_timeout_s, on_ready_timeout, sv);
	sv_guest_start(sv);
	g_main_loop_run(sv->loop);
	g_source_remove(sig_term);
	g_source_remove(sig_int);
	g_source_remove(sig_hup);
	code = sv->exit_code;

out:
	if (error && *error) {
		/* A failed adoption leaves the running QEMU and its files alone. */
		if (sv->paths && !opts->adopt) {
			sv->phase = GV_PHASE_CRASHED;
			g_free(sv->final_reason);
			sv->final_reason = g_strdup((*error)->message);
			if (sv->plan)
				sv_write_state(sv, NULL);
			gv_vm_runtime_cleanup(sv->paths);
		}
		if (!sv->notified) {
			JsonObject *ev = json_object_new();
			json_object_set_string_member(ev, "event", "failed");
			json_object_set_string_member(ev, "message", (*error)->message);
			json_object_set_int_member(ev, "exit-code", gv_exit_code_for(*error));
			sv_notify(sv, ev);
			json_object_unref(ev);
		}
		code = gv_exit_code_for(*error);
	}
	supervisor_free(sv);
	return code;
}
