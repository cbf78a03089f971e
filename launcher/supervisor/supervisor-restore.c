/* SPDX-License-Identifier: MIT */
/*
 * supervisor-restore.c - the supervisor's part of `up --from TAG`
 *
 * Theory of operation
 * -------------------
 * QEMU starts with the snapshot's command line plus "-incoming defer" and,
 * as always, -S.  Its fd 7 is the read end of a pipe; a thread of the
 * supervisor decompresses the state file into the write end
 * (snapshot-state.h) as fast as QEMU reads.  After the QMP handshake the
 * supervisor turns on migration events and sends migrate-incoming
 * "fd:7".  Two things must both have happened before "cont": QEMU's
 * MIGRATION event saying "completed", and the feeder's success, which
 * includes the state file's checksum.  QEMU verifies device state but not
 * RAM pages, so a guest from a damaged file must never run: on a bad
 * file the feeder's error kills QEMU instead.  (A cont during the load
 * would not do: the saved run state is "paused", which QEMU restores
 * when the load completes, whatever cont said before.)
 *
 * A restored guest's agent port is already open: the guest opened it
 * before the save and never saw the host go away.  So the agent is not
 * waited for (VSERPORT_CHANGE may come, or not): right after "cont" the
 * supervisor connects as a new host does, 0xFF and guest-sync-delimited,
 * then sends grain-thaw with the host's time.  grain-thaw remounts the
 * shares grain-quiesce unmounted before the save, sets the clock, and
 * answers with grain-status, which decides readiness as at a cold boot.
 *
 * A clone (plan.restore.template_ram) differs in three ways: its RAM is
 * the template's file, mapped privately by QEMU's command line; the
 * stream holds only the device state, so "x-ignore-shared" goes on with
 * the events before migrate-incoming (the template was saved with it,
 * and a stream that skipped RAM blocks loads only with it); and
 * grain-thaw also carries the clone's identity: its hostname (its name),
 * the MACs of its NICs (the migrated virtio-net state holds the
 * template's) and the addresses that differ from the template's.
 *
 * The run's disk overlay (snapshot-run.qcow2) is removed when the
 * supervisor ends: each run of a snapshot starts from the saved disk.
 */
#include "supervisor/supervisor-priv.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib-unix.h>

#include "boot/argv.h"
#include "gv-error.h"
#include "snapshot/snapshot-state.h"

/* A pipe of 1 MiB: QEMU reads in large chunks; fewer wake-ups on both sides. */
#define PIPE_BYTES (1 << 20)
#define THAW_MS 5000
/* 512 bits: twice the key of the guest kernel's CRNG (ChaCha20, 256 bits). */
#define THAW_ENTROPY_BYTES 64
#define QMP_STEP_MS 10000

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

struct SvRestore {
	Supervisor *sv;
	char *tag;
	char *state;
	char *run_overlay;
	int pipe_r;          /* QEMU's end, ours until the spawn */
	int pipe_w;          /* the feeder's end */
	GThread *feeder;
	/* Written by the feeder, read by the main loop in on_fed. */
	GError *thread_error;
	guint64 fed_bytes;
	GError *feed_error;  /* why the state cannot be used (main loop only) */
	gboolean fed;        /* the feeder finished (either way) */
	gboolean loaded;     /* QEMU: MIGRATION completed */
	gboolean continued;
	gboolean thawed;
};

gboolean sv_restore_load(Supervisor *sv, GError **error)
{
	const GvPlanRestore *o = sv->plan->restore;
	if (!o)
		return TRUE;
	SvRestore *r = g_new0(SvRestore, 1);
	r->sv = sv;
	r->pipe_r = r->pipe_w = -1;
	r->tag = g_strdup(o->tag);
	r->state = g_strdup(o->state);
	r->run_overlay = g_strdup(o->run_overlay);
	sv->restore = r;
	return TRUE;
}

int sv_restore_qemu_fd(Supervisor *sv, GError **error)
{
	SvRestore *r = sv->restore;
	int p[2];
	/* Both ends close-on-exec: QEMU gets its end only as fd 7, so it sees
	 * end of file when the feeder closes the write end. */
	if (!g_unix_open_pipe(p, FD_CLOEXEC, error))
		return -1;
	fcntl(p[1], F_SETPIPE_SZ, PIPE_BYTES); /* best effort: the default works too */
	r->pipe_r = p[0];
	r->pipe_w = p[1];
	return p[0];
}

static void maybe_cont(SvRestore *r)
{
	if (r->fed && !r->feed_error && r->loaded && !r->continued) {
		r->continued = TRUE;
		sv_cont(r->sv);
	}
}

/* The feeder has ended (or is ending): take its result. */
static void collect(SvRestore *r)
{
	if (!r->feeder)
		return;
	g_thread_join(r->feeder);
	r->feeder = NULL;
	g_source_remove_by_user_data(r); /* its on_fed, if not run yet */
	r->fed = TRUE;
	if (r->thread_error && !r->feed_error)
		r->feed_error = g_steal_pointer(&r->thread_error);
	g_clear_error(&r->thread_error);
}

static gboolean on_fed(gpointer data)
{
	SvRestore *r = data;
	Supervisor *sv = r->sv;
	collect(r);
	if (r->feed_error) {
		/* Never let a guest run from a damaged state; QEMU may have taken it whole. */
		if (sv->qemu_pid > 0 && !sv->qemu_exited)
			kill(sv->qemu_pid, SIGKILL);
		return G_SOURCE_REMOVE;
	}
	maybe_cont(r);
	return G_SOURCE_REMOVE;
}

static gpointer feeder_main(gpointer data)
{
	SvRestore *r = data;
	GError *err = NULL;
	gv_state_load(r->state, r->pipe_w, &r->fed_bytes, &err);
	close(r->pipe_w);
	r->pipe_w = -1;
	r->thread_error = err;
	/* High priority: before the child watch that QEMU's exit may trigger. */
	g_idle_add_full(G_PRIORITY_HIGH, on_fed, r, NULL);
	return NULL;
}

void sv_restore_spawned(Supervisor *sv, gboolean spawned)
{
	SvRestore *r = sv->restore;
	close_fd(&r->pipe_r);
	if (!spawned) {
		close_fd(&r->pipe_w);
		return;
	}
	r->feeder = g_thread_new("gv-restore", feeder_main, r);
}

static void on_migration(GvQmpClient *client, const char *event, JsonObject *data,
			 gint64 timestamp_us, gpointer user_data)
{
	SvRestore *r = user_data;
	const char *status = gv_json_string_or(data, "status", "");
	/* "failed": QEMU exits by itself, and its last words say why. */
	if (!strcmp(status, "completed")) {
		r->loaded = TRUE;
		maybe_cont(r);
	}
}

static void on_incoming(GObject *src, GAsyncResult *res, gpointer data)
{
	SvRestore *r = data;
	Supervisor *sv = r->sv;
	g_autoptr(GError) err = NULL;
	g_autoptr(JsonNode) reply = gv_qmp_client_execute_finish(sv->qmp, res, &err);
	if (reply || r->feed_error)
		return;
	g_set_error(&r->feed_error, GV_ERROR, GV_ERROR_FAILED, "QEMU did not take the state: %s",
		    err->message);
	if (sv->qemu_pid > 0 && !sv->qemu_exited)
		kill(sv->qemu_pid, SIGKILL);
}

void sv_restore_qmp_ready(Supervisor *sv)
{
	SvRestore *r = sv->restore;
	gv_qmp_client_add_event_handler(sv->qmp, "MIGRATION", on_migration, r, NULL);
	/* Queued in order: events on (and a clone's shared RAM left out)
	 * before the load can begin. */
	static const char *const plain[] = { "events", NULL };
	static const char *const clone[] = { "events", "x-ignore-shared", NULL };
	g_autoptr(JsonObject) caps =
		sv_migrate_caps(sv->plan->restore->template_ram ? clone : plain, TRUE);
	gv_qmp_client_execute_async(sv->qmp, "migrate-set-capabilities", caps, QMP_STEP_MS, NULL,
				    on_incoming, r);
	g_autoptr(JsonObject) in = json_object_new();
	g_autofree char *uri = g_strdup_printf("fd:%d", GV_FD_INCOMING);
	json_object_set_string_member(in, "uri", uri);
	gv_qmp_client_execute_async(sv->qmp, "migrate-incoming", in, QMP_STEP_MS, NULL,
				    on_incoming, r);
}

static void on_thaw(GObject *src, GAsyncResult *res, gpointer data)
{
	Supervisor *sv = data;
	g_autoptr(GError) err = NULL;
	g_autoptr(JsonNode) reply = gv_qmp_client_execute_finish(sv->agent.client, res, &err);
	JsonObject *o = gv_json_node_object_or_null(reply);
	const char *identity = o ? gv_json_string_or(o, "identity-error", NULL) : NULL;
	if (identity && !err) {
		/* A clone with the template's MAC or name is not ready: try
		 * again (the agent's identity steps can be repeated) until
		 * the ready timeout says why. */
		g_autofree char *safe = g_strescape(identity, NULL);
		g_set_error(&err, GV_ERROR, GV_ERROR_FAILED, "clone identity: %s", safe);
		g_clear_pointer(&reply, json_node_unref);
	}
	/* A thaw that did not answer is sent again after the next resync;
	 * a second one remounts nothing and sets the clock again. */
	if (reply && JSON_NODE_HOLDS_OBJECT(reply))
		sv->restore->thawed = TRUE;
	sv_link_probed(sv, &sv->agent, reply, err);
}

JsonObject *sv_thaw_args(void)
{
	JsonObject *args = json_object_new();
	guint8 bytes[THAW_ENTROPY_BYTES];
	/* getrandom() without flags blocks only before the host's pool is
	 * initialized, and returns up to 256 bytes whole. */
	if (getrandom(bytes, sizeof(bytes), 0) == (ssize_t)sizeof(bytes)) {
		g_autofree char *b64 = g_base64_encode(bytes, sizeof(bytes));
		json_object_set_string_member(args, "entropy", b64);
		explicit_bzero(b64, strlen(b64));
	}
	explicit_bzero(bytes, sizeof(bytes));
	/* Taken as late as possible: the guest's clock is set to this. */
	json_object_set_int_member(args, "time-ns", g_get_real_time() * 1000);
	return args;
}

gboolean sv_restore_thaw(Supervisor *sv)
{
	SvRestore *r = sv->restore;
	if (!r || r->thawed)
		return FALSE;
	g_autoptr(JsonObject) args = sv_thaw_args();
	const GvPlanRestore *o = sv->plan->restore;
	if (o->template_ram) {
		/* A clone: its own name and cards (grain-thaw in docs/agent-protocol.md). */
		json_object_set_string_member(args, "hostname", sv->plan->name);
		for (int k = 0; k < 2; k++) {
			char **v = k ? o->nets : o->macs;
			if (!v)
				continue;
			JsonArray *a = json_array_new();
			for (char **p = v; *p; p++)
				json_array_add_string_element(a, *p);
			json_object_set_array_member(args, k ? "net" : "macs", a);
		}
	}
	gv_qmp_client_execute_async(sv->agent.client, "grain-thaw", args, THAW_MS, NULL, on_thaw, sv);
	return TRUE;
}

void sv_restore_explain(Supervisor *sv, GvPhase *phase, char **reason, int *code)
{
	SvRestore *r = sv->restore;
	if (!r || sv->phase >= GV_PHASE_READY)
		return;
	/* QEMU may have died of the feeder's early end before on_fed ran. */
	collect(r);
	char *why;
	/* A broken pipe only means QEMU went first; its own reason says why. */
	if (r->feed_error && !g_error_matches(r->feed_error, G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE))
		why = g_strdup_printf("cannot restore snapshot %s: %s", r->tag, r->feed_error->message);
	else
		why = g_strdup_printf("cannot restore snapshot %s: %s", r->tag, *reason);
	g_free(*reason);
	*reason = why;
	if (!sv->down_requested) {
		*phase = GV_PHASE_CRASHED;
		if (*code == GV_EXIT_OK)
			*code = GV_EXIT_FAILED;
	}
}

void sv_restore_free(Supervisor *sv)
{
	SvRestore *r = sv->restore;
	if (!r)
		return;
	sv->restore = NULL;
	/* QEMU is gone by now, so a blocked write has failed with EPIPE. */
	collect(r);
	close_fd(&r->pipe_r);
	close_fd(&r->pipe_w);
	/* Disposable by design: the next run starts from the snapshot's disk again. */
	if (r->run_overlay)
		unlink(r->run_overlay);
	g_clear_error(&r->feed_error);
	g_clear_error(&r->thread_error);
	g_free(r->tag);
	g_free(r->state);
	g_free(r->run_overlay);
	g_free(r);
}
