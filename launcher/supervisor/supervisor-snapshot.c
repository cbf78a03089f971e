/* SPDX-License-Identifier: MIT */
/*
 * supervisor-snapshot.c - snapshot-save and snapshot-disk, run by the supervisor
 *
 * Theory of operation
 * -------------------
 * `grainvm snapshot save` and `grainvm snapshot disk` only parse, send one
 * control command and print the reply (cli/cmd-snapshot.c).  The work is
 * here, in the process that owns the VM, so that it cannot be cut short by
 * the CLI going away, and so that one VM runs one snapshot at a time: a
 * second snapshot-save or snapshot-disk while one runs is refused at once
 * (GrainvmState, exit 3, naming what runs) rather than queued, so that a
 * caller never waits blind behind a save of unknown length and two disk
 * snapshots can never interleave their chain updates.
 *
 * A job runs in its own thread: the migration stream, the disk copy and
 * qemu-img work block, and the supervisor's main loop must go on serving
 * status, the console and QEMU's events meanwhile.  The thread never
 * touches the supervisor's state.  It asks QEMU and the agent through
 * job_call(), which hands the command to the main loop (the QMP and agent
 * clients live there) and waits for the reply; the job's inputs (paths, a
 * copy of the plan, the tag) are its own.  When the thread ends, job_done()
 * runs in the main loop: it answers the client, and for a disk snapshot
 * records the new top in the plan the supervisor runs and saves it (plan.h:
 * the supervisor is the plan's only writer after start).  If QEMU ends
 * while a job runs, its calls fail at once (the clients are closed) and
 * the supervisor waits for the thread before it exits (sv_finish()).
 *
 * save, in this order (docs/snapshots.md):
 *
 *   1. agent grain-quiesce: sync, unmount every 9p share (QEMU refuses to
 *      migrate while one is mounted) and remember them
 *   2. qmp stop; from here the guest's RAM and disk do not change
 *   3. qmp getfd hands QEMU one end of a socketpair (the descriptor goes
 *      with the command, SCM_RIGHTS) and migrate sends the stream to it
 *      ("fd:gv-save"); a second thread compresses what arrives on the
 *      other end into the state file (snapshot-state.h) while the job
 *      polls query-migrate.  When the migration completes QEMU has
 *      flushed and released the disk.
 *   4. the disk, if the VM has one, is copied now, still stopped, so the
 *      saved RAM and disk are of the same instant
 *   5. the manifest, then the staged directory becomes TAG in one rename
 *   6. qmp cont and agent grain-thaw (the shares come back, the clock is
 *      set), whether the save worked or not; with stop=true and a saved
 *      snapshot the supervisor runs its down sequence instead
 *
 * save with template (docs/snapshots.md "Clones"), for a VM booted with
 * [vm] template=true, whose RAM is a shared tmpfs file (plan.ram_file):
 * step 3 turns on x-ignore-shared first, so the stream holds the device
 * state alone (the RAM is in the file already); then the file is linked
 * under the template's name (snapshot/template.h) and named in the
 * manifest, and step 6 is always --stop: the template VM must never run
 * again, since its every write would land in the file clones map.
 *
 * disk is the live external disk snapshot of disk-layers.h: the chain is
 * recorded first, pointing at a new empty overlay on the file QEMU writes
 * to, then QEMU is switched to it.  Whichever step a crash interrupts,
 * the recorded top reads as the disk QEMU had: an empty overlay on it, or
 * it with everything written since.  The supervisor creates the overlay
 * and opens it; QEMU gets it as descriptors in a new fd set (add-fd, read-
 * write and read-only), opens it as a node (blockdev-add, filename
 * /dev/fdset/N) and puts it on top (blockdev-snapshot).
 *
 * Descriptors, not paths, whoever QEMU runs as: a QEMU dropped to another
 * user (privdrop.h) could neither connect to a socket nor open a file in
 * grainvm's 0700 directories, and one code path serves both.
 *
 * Control commands (supervisor-control.c has the protocol):
 *
 *   snapshot-save {tag, stop?, template?}  returns {saved, replaced, state-bytes,
 *                               raw-bytes, disk-bytes, disk, paused-seconds}
 *                               and, when not saved, error {message,
 *                               exit-code}; when the VM could not be resumed
 *                               or stopped after it, after-error (a message)
 *   snapshot-disk {tag}         returns {tag, frozen, top}
 */
#include "supervisor/supervisor-priv.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "grainvm-image.h"
#include "gv-error.h"
#include "snapshot/disk-layers.h"
#include "snapshot/snapshot-state.h"
#include "snapshot/snapshot.h"
#include "snapshot/template.h"

/* The agent syncs the guest's disks before it answers. */
#define QUIESCE_TIMEOUT_S 60
#define QMP_TIMEOUT_S 10
/* RAM goes at well over 100 MB/s here; an hour covers any guest. */
#define MIGRATE_TIMEOUT_MS (3600 * 1000)
#define MIGRATE_POLL_MS 10
/* Migration limits for a stopped guest: no reason to throttle or iterate. */
#define MAX_BANDWIDTH (G_GINT64_CONSTANT(100) << 30)
#define DOWNTIME_LIMIT_MS 2000000 /* QEMU's maximum */
/* --stop: QEMU is paused after the migration, so quit is the first useful step. */
#define STOP_TIMEOUT_S 5

typedef enum { JOB_SAVE, JOB_DISK } JobKind;

struct SvSnapshot {
	/* Main loop only. */
	Supervisor *sv;
	ControlClient *client;  /* a reference: who to answer */
	JsonNode *id;
	GThread *thread;
	gboolean quit_when_done; /* sv_finish() is waiting for the thread */

	/* The job's own inputs: set before the thread starts, then read-only. */
	JobKind kind;
	GvVmPaths *paths;
	GvPlan *plan;            /* a copy of the plan the supervisor runs */
	char *tag;
	gboolean stop;
	gboolean template;       /* save as a template: the VM ends after it */

	/* Written by the thread, read by job_done() after the join. */
	GError *error;
	char *after_error;
	gboolean saved, replaced;
	guint64 raw_bytes, file_bytes, disk_bytes;
	double paused_s;
	char *frozen, *top;

	/* save's working state (thread only). */
	char *stage;
	char *template_ram;      /* the RAM file linked for the template, until committed */
	gboolean ignore_shared;  /* x-ignore-shared is on: resume() turns it off */
	JsonArray *unmounted;    /* from grain-quiesce */
	char *qemu_version;
};

/* ---- commands to QEMU and the agent, from the job's thread ---------------------------- */

typedef struct {
	SvSnapshot *job;
	const char *via;         /* "qmp" or "agent" */
	const char *command;
	JsonObject *args;
	int fd;                  /* sent with the command (getfd, add-fd), or -1 */
	guint timeout_ms;
	GvQmpClient *peer;       /* a reference, main loop */
	GMutex lock;
	GCond cond;
	gboolean done;
	JsonNode *result;
	GError *error;
} JobCall;

static void call_complete(JobCall *c, JsonNode *result, GError *error)
{
	g_mutex_lock(&c->lock);
	c->result = result;
	c->error = error;
	c->done = TRUE;
	g_cond_signal(&c->cond);
	g_mutex_unlock(&c->lock);
}

static void on_call_done(GObject *src, GAsyncResult *res, gpointer data)
{
	JobCall *c = data;
	GError *err = NULL;
	JsonNode *r = gv_qmp_client_execute_finish(c->peer, res, &err);
	g_clear_pointer(&c->peer, gv_qmp_client_unref);
	call_complete(c, r, err);
}

/* Main loop: send the job's command to QEMU or the agent (as cmd_forward does). */
static gboolean call_start(gpointer data)
{
	JobCall *c = data;
	Supervisor *sv = c->job->sv;
	gboolean agent = !strcmp(c->via, "agent");
	GvQmpClient *peer = agent ? sv->agent.client : sv->qmp;
	if (agent && !sv_agent_usable(sv) && sv_qga_usable(sv))
		peer = sv->qga.client;
	if (!peer || gv_qmp_client_is_closed(peer) ||
	    (agent && !sv_agent_usable(sv) && !sv_qga_usable(sv))) {
		call_complete(c, NULL, g_error_new(GV_ERROR, GV_ERROR_FAILED, "the %s is not connected",
						   agent ? "guest agent" : "QMP monitor"));
		return G_SOURCE_REMOVE;
	}
	if (peer == sv->qga.client && g_str_has_prefix(c->command, "grain-")) {
		/* qemu-ga would say only "CommandNotFound"; say what is missing. */
		call_complete(c, NULL, g_error_new(GV_ERROR, GV_ERROR_FAILED,
						   "only qemu-ga answers in this guest; %s needs "
						   "grainvm-agent", c->command));
		return G_SOURCE_REMOVE;
	}
	c->peer = gv_qmp_client_ref(peer);
	gv_qmp_client_execute_with_fd_async(peer, c->command, c->args, c->fd, c->timeout_ms, NULL,
					    on_call_done, c);
	return G_SOURCE_REMOVE;
}

/*
 * Thread: run COMMAND on the VM's QEMU ("qmp") or agent ("agent"), with
 * descriptor FD (QMP only; the caller keeps its own) or -1; the error
 * names the command.
 */
static JsonNode *job_call_fd(SvSnapshot *job, const char *via, const char *command,
			     JsonObject *args, int fd, guint timeout_s, GError **error)
{
	JobCall c = { .job = job, .via = via, .command = command, .args = args, .fd = fd,
		      .timeout_ms = timeout_s * 1000 };
	g_mutex_init(&c.lock);
	g_cond_init(&c.cond);
	g_main_context_invoke(NULL, call_start, &c);
	g_mutex_lock(&c.lock);
	while (!c.done)
		g_cond_wait(&c.cond, &c.lock);
	g_mutex_unlock(&c.lock);
	g_mutex_clear(&c.lock);
	g_cond_clear(&c.cond);
	if (!c.result) {
		g_propagate_error(error, c.error);
		gv_prefix_error(error, "%s %s", via, command);
	}
	return c.result;
}

static JsonNode *job_call(SvSnapshot *job, const char *via, const char *command, JsonObject *args,
			  guint timeout_s, GError **error)
{
	return job_call_fd(job, via, command, args, -1, timeout_s, error);
}

static gboolean job_call_ok(SvSnapshot *job, const char *via, const char *command,
			    JsonObject *args, guint timeout_s, GError **error)
{
	g_autoptr(JsonNode) r = job_call(job, via, command, args, timeout_s, error);
	return r != NULL;
}

/* ---- the thread that receives the migration stream ---------------------------------- */

typedef struct {
	int fd;             /* our end of the socketpair; QEMU writes to the other */
	char *path;
	guint64 raw_bytes;
	guint64 file_bytes;
	GError *error;
} Receiver;

/* Reads until QEMU closes its end, or the job shuts ours down. */
static gpointer receive_main(gpointer data)
{
	Receiver *rc = data;
	gv_state_save(rc->fd, rc->path, &rc->raw_bytes, &rc->file_bytes, &rc->error);
	return NULL;
}

/* ---- save ------------------------------------------------------------------------------ */

static char *version_of(JsonNode *qv)
{
	JsonObject *q = gv_json_object_or_null(gv_json_node_object_or_null(qv), "qemu");
	if (!q)
		return g_strdup("?");
	return g_strdup_printf("%" G_GINT64_FORMAT ".%" G_GINT64_FORMAT ".%" G_GINT64_FORMAT,
			       gv_json_int_or(q, "major", 0), gv_json_int_or(q, "minor", 0),
			       gv_json_int_or(q, "micro", 0));
}

/* Migrate to the descriptor QEMU knows as @fdname and wait until QEMU says it is done. */
static gboolean migrate(SvSnapshot *j, const char *fdname, GError **error)
{
	g_autoptr(JsonObject) margs = json_object_new();
	g_autofree char *uri = g_strdup_printf("fd:%s", fdname);
	json_object_set_string_member(margs, "uri", uri);
	if (!job_call_ok(j, "qmp", "migrate", margs, QMP_TIMEOUT_S, error))
		return FALSE;
	for (guint waited = 0;; waited += MIGRATE_POLL_MS) {
		g_autoptr(JsonNode) st = job_call(j, "qmp", "query-migrate", NULL, QMP_TIMEOUT_S,
						  error);
		if (!st)
			return FALSE;
		JsonObject *o = gv_json_node_object_or_null(st);
		const char *status = gv_json_string_or(o, "status", "");
		if (!strcmp(status, "completed"))
			return TRUE;
		if (!strcmp(status, "failed") || !strcmp(status, "cancelled")) {
			g_set_error(error, GV_ERROR, GV_ERROR_FAILED, "QEMU could not save the VM: %s",
				    gv_json_string_or(o, "error-desc", status));
			return FALSE;
		}
		if (waited >= MIGRATE_TIMEOUT_MS) {
			g_set_error(error, GV_ERROR, GV_ERROR_TIMEOUT, "the migration did not finish");
			return FALSE;
		}
		g_usleep(MIGRATE_POLL_MS * 1000);
	}
}

/* What QEMU calls the migration's descriptor (getfd's fdname). */
#define SAVE_FDNAME "gv-save"

/*
 * Step 3: the RAM and device state into STAGE/state.zst, through a
 * socketpair: QEMU gets one end with getfd, the receiver reads the other.
 * The receiver sees the end of the stream when QEMU closes its end (the
 * migration is over, or failed after taking it); in any other failure the
 * job shuts our end down, so the receiver never waits on a stream that
 * will not come.
 */
static gboolean save_state(SvSnapshot *j, GError **error)
{
	g_autoptr(JsonObject) params = json_object_new();
	g_autoptr(JsonObject) named = json_object_new();
	int pair[2];

	/* Stopped: send everything in one pass, as fast as it can be written. */
	json_object_set_int_member(params, "max-bandwidth", MAX_BANDWIDTH);
	json_object_set_int_member(params, "downtime-limit", DOWNTIME_LIMIT_MS);
	if (!job_call_ok(j, "qmp", "migrate-set-parameters", params, QMP_TIMEOUT_S, error))
		return FALSE;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0) {
		g_set_error(error, GV_ERROR, GV_ERROR_FAILED, "socketpair for the migration: %s",
			    g_strerror(errno));
		return FALSE;
	}
	/* QEMU gets its own copy; ours goes at once, so that only QEMU's can
	 * keep the stream open. */
	json_object_set_string_member(named, "fdname", SAVE_FDNAME);
	g_autoptr(JsonNode) got = job_call_fd(j, "qmp", "getfd", named, pair[1], QMP_TIMEOUT_S,
					      error);
	close(pair[1]);
	if (!got) {
		close(pair[0]);
		return FALSE;
	}
	Receiver rc = { .fd = pair[0], .path = g_build_filename(j->stage, "state.zst", NULL) };
	GThread *thread = g_thread_new("gv-save", receive_main, &rc);
	gboolean ok = migrate(j, SAVE_FDNAME, error);
	if (!ok) {
		/* QEMU drops the name when migrate takes the descriptor; if it never
		 * did, close it there (an error then only means it was taken). */
		g_autoptr(JsonNode) c = job_call(j, "qmp", "closefd", named, QMP_TIMEOUT_S, NULL);
		shutdown(rc.fd, SHUT_RDWR);
	}
	g_thread_join(thread);
	close(rc.fd);
	if (ok && rc.error) {
		g_propagate_error(error, g_steal_pointer(&rc.error));
		ok = FALSE;
	}
	g_clear_error(&rc.error);
	j->raw_bytes = rc.raw_bytes;
	j->file_bytes = rc.file_bytes;
	g_free(rc.path);
	return ok;
}

static void add_file_identity(JsonArray *files, char **argv, const char *opt)
{
	for (char **p = argv; *p && p[1]; p++)
		if (!strcmp(*p, opt))
			json_array_add_object_element(files, gv_file_identity(p[1]));
}

/* Step 5's first half: manifest.json, which describes what restore must repeat. */
static gboolean write_manifest(SvSnapshot *j, JsonNode *qv, JsonObject *disk, GError **error)
{
	const GvPlan *plan = j->plan;
	g_autoptr(JsonObject) m = json_object_new();
	if (disk)
		json_object_set_object_member(m, "disk", json_object_ref(disk));
	json_object_set_int_member(m, "format", GV_SNAPSHOT_FORMAT);
	json_object_set_string_member(m, "vm", j->paths->name);
	json_object_set_string_member(m, "tag", j->tag);
	json_object_set_int_member(m, "created", g_get_real_time() / G_USEC_PER_SEC);
	JsonObject *q = gv_file_identity(plan->argv[0]);
	json_object_set_string_member(q, "version", j->qemu_version);
	const char *package = gv_json_string_or(gv_json_node_object_or_null(qv), "package", NULL);
	if (package)
		json_object_set_string_member(q, "package", package);
	json_object_set_object_member(m, "qemu", q);
	/* Files by path (not /proc/self/fd/N), whoever QEMU runs as. */
	char **argv = plan->snapshot_argv ? plan->snapshot_argv : plan->argv;
	g_auto(GStrv) norm = gv_snapshot_argv_normalize((const char *const *)argv);
	JsonArray *a = json_array_new();
	for (char **p = norm; *p; p++)
		json_array_add_string_element(a, *p);
	json_object_set_array_member(m, "argv", a);
	JsonArray *files = json_array_new();
	add_file_identity(files, argv, "-kernel");
	add_file_identity(files, argv, "-initrd");
	json_object_set_array_member(m, "files", files);
	/* A VM that was itself restored: name what it originally booted. */
	json_object_set_string_member(m, "boot", plan->boot_origin ? plan->boot_origin : plan->boot);
	json_object_set_int_member(m, "memory", (gint64)plan->memory);
	json_object_set_int_member(m, "cpus", plan->cpus);
	JsonObject *st = json_object_new();
	json_object_set_string_member(st, "file", "state.zst");
	json_object_set_string_member(st, "codec", "zstd");
	json_object_set_int_member(st, "bytes", (gint64)j->file_bytes);
	json_object_set_int_member(st, "raw-bytes", (gint64)j->raw_bytes);
	json_object_set_object_member(m, "state", st);
	json_object_set_array_member(m, "shares", json_array_ref(j->unmounted));
	if (j->template_ram) {
		JsonObject *t = json_object_new();
		json_object_set_string_member(t, "ram", j->template_ram);
		json_object_set_int_member(t, "bytes", (gint64)plan->memory);
		json_object_set_object_member(m, "template", t);
	}
	json_object_set_double_member(m, "paused-seconds", j->paused_s);

	g_autoptr(JsonNode) n = json_node_init_object(json_node_alloc(), g_steal_pointer(&m));
	g_autofree char *text = gv_json_to_string(n, TRUE);
	g_autofree char *path = g_build_filename(j->stage, "manifest.json", NULL);
	return gv_write_file_atomic(path, text, strlen(text), 0600, error);
}

/* Step 4: the disk, copied while QEMU is stopped; then the manifest. */
static gboolean save_disk_and_manifest(SvSnapshot *j, JsonNode *qv, GError **error)
{
	const char *disk = j->plan->disk;
	const char *base = j->plan->disk_image;
	g_autoptr(JsonObject) d = NULL;
	if (disk) {
		g_autofree char *dst = g_build_filename(j->stage, "disk.qcow2", NULL);
		if (!gv_snapshot_copy_disk(disk, base, dst, error))
			return FALSE;
		struct stat st;
		j->disk_bytes = stat(dst, &st) == 0 ? (guint64)st.st_blocks * 512 : 0;
		d = json_object_new();
		json_object_set_string_member(d, "file", "disk.qcow2");
		if (base)
			json_object_set_string_member(d, "base", base);
		json_object_set_int_member(d, "bytes", (gint64)j->disk_bytes);
	}
	return write_manifest(j, qv, d, error);
}

JsonObject *sv_migrate_caps(const char *const *caps, gboolean state)
{
	JsonObject *args = json_object_new();
	JsonArray *list = json_array_new();
	for (; *caps; caps++) {
		JsonObject *c = json_object_new();
		json_object_set_string_member(c, "capability", *caps);
		json_object_set_boolean_member(c, "state", state);
		json_array_add_object_element(list, c);
	}
	json_object_set_array_member(args, "capabilities", list);
	return args;
}

/* QEMU's x-ignore-shared: leave shared RAM (the template's file) out of the stream. */
static gboolean set_ignore_shared(SvSnapshot *j, gboolean on, GError **error)
{
	static const char *const ignore_shared[] = { "x-ignore-shared", NULL };
	g_autoptr(JsonObject) caps = sv_migrate_caps(ignore_shared, on);
	return job_call_ok(j, "qmp", "migrate-set-capabilities", caps, QMP_TIMEOUT_S, error);
}

/* Steps 1-5.  *quiesced and *stopped say what step 6 must undo. */
static gboolean do_save(SvSnapshot *j, gboolean *quiesced, gboolean *stopped, GError **error)
{
	g_autoptr(JsonNode) q = job_call(j, "agent", "grain-quiesce", NULL, QUIESCE_TIMEOUT_S,
					 error);
	if (!q)
		return FALSE;
	*quiesced = TRUE;
	JsonObject *qo = gv_json_node_object(q, SV_PEER_AGENT, "grain-quiesce's reply", error);
	JsonArray *um = NULL;
	/* The agent unmounts at most the 32 shares it tracks. */
	if (!qo || !gv_json_get_array(qo, SV_PEER_AGENT, "unmounted", GV_JSON_OPTIONAL, 64, &um,
				      error))
		return FALSE;
	j->unmounted = um ? json_array_ref(um) : json_array_new();

	gint64 t0 = g_get_monotonic_time();
	if (!job_call_ok(j, "qmp", "stop", NULL, QMP_TIMEOUT_S, error))
		return FALSE;
	*stopped = TRUE;
	g_autoptr(JsonNode) qv = job_call(j, "qmp", "query-version", NULL, QMP_TIMEOUT_S, error);
	if (!qv)
		return FALSE;
	j->qemu_version = version_of(qv);

	if (j->template) {
		j->ignore_shared = TRUE;
		if (!set_ignore_shared(j, TRUE, error))
			return FALSE;
	}
	j->stage = gv_snapshot_stage_new(j->paths, error);
	if (!j->stage || !save_state(j, error))
		return FALSE;
	if (j->template) {
		/* QEMU is stopped and stays so until it quits: the file is final. */
		j->template_ram = gv_template_ram_take(j->plan->ram_file, j->paths->name, j->tag,
						       error);
		if (!j->template_ram)
			return FALSE;
	}
	j->paused_s = (double)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC;
	if (!save_disk_and_manifest(j, qv, error))
		return FALSE;
	j->paused_s = (double)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC;
	if (!gv_snapshot_commit(j->paths, j->tag, j->stage, &j->replaced, error))
		return FALSE;
	g_clear_pointer(&j->stage, g_free);
	g_clear_pointer(&j->template_ram, g_free); /* the snapshot's now */
	return TRUE;
}

/* Step 6: the VM runs again with its shares, whatever happened before. */
static gboolean resume(SvSnapshot *j, gboolean quiesced, gboolean stopped, GError **error)
{
	/* A later ordinary save must carry the RAM again. */
	if (j->ignore_shared && !set_ignore_shared(j, FALSE, error))
		return FALSE;
	if (stopped && !job_call_ok(j, "qmp", "cont", NULL, QMP_TIMEOUT_S, error))
		return FALSE;
	if (!quiesced)
		return TRUE;
	g_autoptr(JsonObject) args = sv_thaw_args();
	return job_call_ok(j, "agent", "grain-thaw", args, QUIESCE_TIMEOUT_S, error);
}

static void save_run(SvSnapshot *j)
{
	gboolean quiesced = FALSE, stopped = FALSE;
	j->saved = do_save(j, &quiesced, &stopped, &j->error);
	if (j->stage)
		gv_rm_rf(j->stage, NULL);
	if (j->template_ram)
		unlink(j->template_ram); /* linked, never committed */
	/* With stop, job_done() starts the down sequence on the paused VM instead. */
	if (j->saved && j->stop)
		return;
	g_autoptr(GError) err = NULL;
	if (!resume(j, quiesced, stopped, &err))
		j->after_error = g_strdup(err->message);
}

/* ---- disk: a live external disk snapshot ------------------------------------------------- */

/* The qcow2 node the VM's disk device reads through now (disk0 until a first snapshot). */
static char *disk_top_node(SvSnapshot *j, GError **error)
{
	g_autoptr(JsonNode) r = job_call(j, "qmp", "query-block", NULL, QMP_TIMEOUT_S, error);
	if (!r)
		return NULL;
	JsonArray *a = gv_json_node_array_or_null(r);
	for (guint i = 0; a && i < json_array_get_length(a); i++) {
		JsonObject *o = gv_json_array_object_at(a, i);
		JsonObject *in = gv_json_object_or_null(o, "inserted");
		if (!strstr(gv_json_string_or(o, "qdev", ""), "/disk0-dev/") || !in)
			continue;
		const char *node = gv_json_string_or(in, "node-name", NULL);
		if (node)
			return g_strdup(node);
	}
	g_set_error(error, GV_ERROR, GV_ERROR_FAILED, "QEMU's query-block shows no disk0-dev");
	return NULL;
}

/* A file for the next top layer, next to the overlay: overlay.N.qcow2. */
static char *next_top_file(const GvVmPaths *paths, guint *n)
{
	for (*n = 1;; (*n)++) {
		g_autofree char *name = g_strdup_printf("overlay.%u.qcow2", *n);
		char *path = g_build_filename(paths->state_dir, name, NULL);
		if (!g_file_test(path, G_FILE_TEST_EXISTS))
			return path;
		g_free(path);
	}
}

/* What must hold before anything is created; the error says which does not. */
static gboolean disk_check(SvSnapshot *j, JsonObject *layers, GError **error)
{
	const char *name = j->paths->name;
	if (!j->plan->disk) {
		g_set_error(error, GV_ERROR, GV_ERROR_INVALID,
			    "vm %s has no disk ([disk] image or size) to snapshot", name);
		return FALSE;
	}
	if (j->plan->restore) {
		/* Its disk is a per-run overlay that the next run replaces. */
		g_set_error(error, GV_ERROR, GV_ERROR_STATE,
			    "vm %s runs from a saved snapshot, on a disk the next up --from throws "
			    "away: a disk snapshot of it would not last", name);
		return FALSE;
	}
	if (gv_disk_layer_file(layers, j->tag)) {
		g_set_error(error, GV_ERROR, GV_ERROR_INVALID,
			    "vm %s already has a disk snapshot %s (%s)", name, j->tag,
			    gv_disk_layer_file(layers, j->tag));
		return FALSE;
	}
	return TRUE;
}

/* The fd set of a new top layer overlay.N.qcow2: above the sets argv.c numbers from 1. */
#define TOP_FDSET_BASE 1000

/*
 * Hand QEMU the new top @top (overlay.@n.qcow2, made and recorded already)
 * and put it above node @node: add-fd twice (read-write, and read-only
 * for a later reopen) into a new fd set, blockdev-add of a file node on
 * /dev/fdset/N and of a qcow2 node on it with no backing yet, then
 * blockdev-snapshot, which makes @node its backing and moves the disk
 * onto it.  On failure, what was added is taken back (best effort: QEMU
 * keeps writing to @node either way).
 */
typedef struct {
	guint set;
	char *fdset, *file_node, *qcow_node;
	gboolean in_set, file_added, qcow_added;
} NewTop;

/* The steps of switch_to_top(); @t says what was done when one fails. */
static gboolean add_top(SvSnapshot *j, const char *node, const char *top, NewTop *t,
			GError **error)
{
	for (int i = 0; i < 2; i++) {
		int fd = open(top, (i ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0) {
			g_set_error(error, GV_ERROR, GV_ERROR_FAILED, "cannot open %s: %s", top,
				    g_strerror(errno));
			return FALSE;
		}
		g_autoptr(JsonObject) a = json_object_new();
		g_autofree char *opaque = g_strdup_printf("%s:%s", i ? "ro" : "rw", top);
		json_object_set_int_member(a, "fdset-id", t->set);
		json_object_set_string_member(a, "opaque", opaque);
		g_autoptr(JsonNode) r = job_call_fd(j, "qmp", "add-fd", a, fd, QMP_TIMEOUT_S, error);
		close(fd);
		if (!r)
			return FALSE;
		t->in_set = TRUE;
	}
	g_autoptr(JsonObject) f = json_object_new();
	json_object_set_string_member(f, "driver", "file");
	json_object_set_string_member(f, "node-name", t->file_node);
	json_object_set_string_member(f, "filename", t->fdset);
	if (!(t->file_added = job_call_ok(j, "qmp", "blockdev-add", f, QMP_TIMEOUT_S, error)))
		return FALSE;
	g_autoptr(JsonObject) q = json_object_new();
	json_object_set_string_member(q, "driver", "qcow2");
	json_object_set_string_member(q, "node-name", t->qcow_node);
	json_object_set_string_member(q, "file", t->file_node);
	/* blockdev-snapshot wants an overlay with no backing of its own. */
	json_object_set_null_member(q, "backing");
	if (!(t->qcow_added = job_call_ok(j, "qmp", "blockdev-add", q, QMP_TIMEOUT_S, error)))
		return FALSE;
	g_autoptr(JsonObject) snap = json_object_new();
	json_object_set_string_member(snap, "node", node);
	json_object_set_string_member(snap, "overlay", t->qcow_node);
	return job_call_ok(j, "qmp", "blockdev-snapshot", snap, QMP_TIMEOUT_S, error);
}

/* Best effort: QEMU goes on writing to the old top either way. */
static void qmp_quietly(SvSnapshot *j, const char *command, const char *member, const char *str,
			gint64 num)
{
	g_autoptr(JsonObject) a = json_object_new();
	if (str)
		json_object_set_string_member(a, member, str);
	else
		json_object_set_int_member(a, member, num);
	g_autoptr(JsonNode) r = job_call(j, "qmp", command, a, QMP_TIMEOUT_S, NULL);
}

/*
 * Hand QEMU the new top @top (overlay.@n.qcow2, made and recorded already)
 * and put it above node @node: add-fd twice (read-write, and read-only
 * for a later reopen) into a new fd set, blockdev-add of a file node on
 * /dev/fdset/N and of a qcow2 node on it with no backing yet, then
 * blockdev-snapshot, which makes @node its backing and moves the disk
 * onto it.  On failure, what was added is taken back.
 */
static gboolean switch_to_top(SvSnapshot *j, const char *node, const char *top, guint n,
			      GError **error)
{
	NewTop t = { .set = TOP_FDSET_BASE + n };
	t.fdset = g_strdup_printf("/dev/fdset/%u", t.set);
	t.file_node = g_strdup_printf("disk0-%u-file", n);
	t.qcow_node = g_strdup_printf("disk0-%u", n);
	gboolean ok = add_top(j, node, top, &t, error);
	if (!ok && t.qcow_added)
		qmp_quietly(j, "blockdev-del", "node-name", t.qcow_node, 0);
	if (!ok && t.file_added)
		qmp_quietly(j, "blockdev-del", "node-name", t.file_node, 0);
	if (!ok && t.in_set)
		qmp_quietly(j, "remove-fd", "fdset-id", NULL, t.set);
	g_free(t.fdset);
	g_free(t.file_node);
	g_free(t.qcow_node);
	return ok;
}

static gboolean take_disk_snapshot(SvSnapshot *j, GError **error)
{
	const char *disk = j->plan->disk;
	g_autoptr(JsonObject) layers = gv_disk_layers_read(j->paths, error);
	if (!layers || !disk_check(j, layers, error))
		return FALSE;
	g_autofree char *node = disk_top_node(j, error);
	if (!node)
		return FALSE;
	guint n;
	g_autofree char *top = next_top_file(j->paths, &n);
	if (!gv_image_create_qcow2(top, 0, disk, "qcow2", 0, error))
		return FALSE;

	/* Record first (see the top of this file), then switch QEMU over. */
	g_autofree char *prev_top =
		g_strdup(gv_json_string_or(layers, "top", NULL));
	JsonArray *chain = gv_json_array_or_null(layers, "layers");
	JsonObject *l = json_object_new();
	json_object_set_string_member(l, "tag", j->tag);
	json_object_set_string_member(l, "file", disk);
	json_object_set_int_member(l, "created", g_get_real_time() / G_USEC_PER_SEC);
	json_array_add_object_element(chain, l);
	json_object_set_string_member(layers, "top", top);
	if (!gv_disk_layers_write(j->paths, layers, error)) {
		unlink(top);
		return FALSE;
	}
	if (!switch_to_top(j, node, top, n, error)) {
		/* QEMU still writes to @disk: the chain goes back to what it was. */
		if (prev_top) {
			json_array_remove_element(chain, json_array_get_length(chain) - 1);
			json_object_set_string_member(layers, "top", prev_top);
			gv_disk_layers_write(j->paths, layers, NULL);
		} else {
			gv_disk_layers_forget(j->paths);
		}
		unlink(top);
		return FALSE;
	}
	j->frozen = g_strdup(disk);
	j->top = g_steal_pointer(&top);
	return TRUE;
}

/* ---- the job's life ------------------------------------------------------------------- */

static void job_free(SvSnapshot *j)
{
	if (j->client)
		sv_client_unref(j->client);
	if (j->id)
		json_node_unref(j->id);
	gv_vm_paths_free(j->paths);
	gv_plan_free(j->plan);
	g_free(j->tag);
	g_clear_error(&j->error);
	g_free(j->after_error);
	g_free(j->frozen);
	g_free(j->top);
	g_free(j->stage);
	g_free(j->template_ram);
	if (j->unmounted)
		json_array_unref(j->unmounted);
	g_free(j->qemu_version);
	g_free(j);
}

static JsonNode *save_result(SvSnapshot *j)
{
	JsonObject *o = json_object_new();
	json_object_set_boolean_member(o, "saved", j->saved);
	json_object_set_boolean_member(o, "replaced", j->replaced);
	json_object_set_int_member(o, "state-bytes", (gint64)j->file_bytes);
	json_object_set_int_member(o, "raw-bytes", (gint64)j->raw_bytes);
	json_object_set_int_member(o, "disk-bytes", (gint64)j->disk_bytes);
	json_object_set_boolean_member(o, "disk", j->plan->disk != NULL);
	json_object_set_double_member(o, "paused-seconds", j->paused_s);
	json_object_set_boolean_member(o, "template", j->template);
	if (j->error) {
		JsonObject *e = json_object_new();
		json_object_set_string_member(e, "message", j->error->message);
		json_object_set_int_member(e, "exit-code", gv_exit_code_for(j->error));
		json_object_set_object_member(o, "error", e);
	}
	if (j->after_error)
		json_object_set_string_member(o, "after-error", j->after_error);
	return json_node_init_object(json_node_alloc(), o);
}

/* Main loop: the thread has ended; answer, and take over what it changed. */
static gboolean job_done(gpointer data)
{
	SvSnapshot *j = data;
	Supervisor *sv = j->sv;
	g_thread_join(j->thread);
	sv->snapshot = NULL;
	if (j->quit_when_done) {
		/* QEMU is gone, the clients too, and the runtime files: only end. */
		job_free(j);
		g_main_loop_quit(sv->loop);
		return G_SOURCE_REMOVE;
	}
	g_autoptr(JsonNode) reply = NULL;
	g_autoptr(GError) err = NULL;
	if (j->kind == JOB_SAVE) {
		reply = save_result(j);
	} else if (j->error) {
		err = g_steal_pointer(&j->error);
	} else {
		/* The plan says which file a full snapshot (save) copies. */
		g_free(sv->plan->disk);
		sv->plan->disk = g_strdup(j->top);
		if (gv_plan_save(sv->plan, sv->paths->plan, &err)) {
			JsonObject *o = json_object_new();
			json_object_set_string_member(o, "tag", j->tag);
			json_object_set_string_member(o, "frozen", j->frozen);
			json_object_set_string_member(o, "top", j->top);
			reply = json_node_init_object(json_node_alloc(), o);
		} else {
			gv_prefix_error(&err, "disk snapshot %s taken, but", j->tag);
		}
	}
	if (err)
		sv_control_reply_gerror(j->client, j->id, err);
	else
		sv_control_reply(j->client, j->id, reply, NULL);
	if (j->kind == JOB_SAVE && j->saved && j->stop)
		sv_start_down(sv, STOP_TIMEOUT_S, TRUE);
	job_free(j);
	return G_SOURCE_REMOVE;
}

static gpointer job_main(gpointer data)
{
	SvSnapshot *j = data;
	if (j->kind == JOB_SAVE)
		save_run(j);
	else
		take_disk_snapshot(j, &j->error);
	g_idle_add(job_done, j);
	return NULL;
}

/* Replacing template TAG: refused while clones of it run (they would keep the old file). */
static gboolean template_unused(Supervisor *sv, const char *tag, GError **error)
{
	g_autoptr(JsonObject) m = gv_snapshot_manifest_read(sv->paths, tag, NULL);
	return gv_template_check_unused(sv->paths, tag, m, error);
}

/* snapshot-save {tag, stop?, template?} and snapshot-disk {tag}: start the job, or say why not. */
static void start_job(ControlClient *c, JsonNode *id, JsonObject *args, JobKind kind)
{
	Supervisor *sv = c->sv;
	const char *cmd = kind == JOB_SAVE ? "save" : "disk";
	g_autoptr(GError) err = NULL;
	const char *tag = NULL;
	gboolean stop = FALSE, template = FALSE;
	if (!gv_json_get_string(args, SV_PEER_CONTROL, "tag", GV_JSON_REQUIRED, &tag, NULL) ||
	    !gv_json_get_bool(args, SV_PEER_CONTROL, "stop", GV_JSON_OPTIONAL, &stop, NULL) ||
	    !gv_json_get_bool(args, SV_PEER_CONTROL, "template", GV_JSON_OPTIONAL, &template,
			      NULL) || (template && kind != JOB_SAVE)) {
		g_set_error(&err, GV_ERROR, GV_ERROR_INVALID,
			    "snapshot-%s takes {\"tag\": STRING%s}", cmd,
			    kind == JOB_SAVE ? ", \"stop\"?: BOOLEAN, \"template\"?: BOOLEAN" : "");
	} else if (!gv_snapshot_check_tag(tag, &err)) {
		/* err says what is wrong with the tag */
	} else if (sv->snapshot) {
		g_set_error(&err, GV_ERROR, GV_ERROR_STATE,
			    "vm %s is busy with snapshot %s %s (started %.0f s ago): nothing done; "
			    "one snapshot runs at a time, try again when it has finished",
			    sv->paths->name, sv->snapshot->kind == JOB_SAVE ? "save" : "disk",
			    sv->snapshot->tag,
			    (double)(g_get_monotonic_time() - sv->snapshot_started_us) / G_USEC_PER_SEC);
	} else if (template && !sv->plan->ram_file) {
		g_set_error(&err, GV_ERROR, GV_ERROR_INVALID,
			    "vm %s was not booted with [vm] template=true, so its RAM is not in a file "
			    "clones can share: nothing saved (set template=true in grainvm.conf, or up "
			    "--set vm.template=true, and up again)", sv->paths->name);
	} else if (template && !template_unused(sv, tag, &err)) {
		/* err names the clones */
	} else if (kind == JOB_SAVE && sv->phase != GV_PHASE_READY) {
		g_set_error(&err, GV_ERROR, GV_ERROR_STATE, "vm %s is %s, not ready: nothing saved",
			    sv->paths->name, gv_phase_name(sv->phase));
	}
	if (err) {
		sv_control_reply_gerror(c, id, err);
		return;
	}
	SvSnapshot *j = g_new0(SvSnapshot, 1);
	j->sv = sv;
	j->client = sv_client_ref(c);
	j->id = id ? json_node_copy(id) : NULL;
	j->kind = kind;
	j->paths = gv_vm_paths_new(sv->paths->name, NULL);
	j->plan = gv_plan_copy(sv->plan);
	j->tag = g_strdup(tag);
	/* A template's VM ends: it must not write the file its clones map. */
	j->template = template;
	j->stop = stop || template;
	if (!j->paths) {
		sv_control_reply_error(c, id, "GenericError", "cannot name vm %s's files",
				       sv->paths->name);
		job_free(j);
		return;
	}
	sv->snapshot = j;
	sv->snapshot_started_us = g_get_monotonic_time();
	j->thread = g_thread_new("gv-snapshot", job_main, j);
}

gboolean sv_snapshot_control(ControlClient *c, const char *cmd, JsonNode *id, JsonObject *args)
{
	if (!strcmp(cmd, "snapshot-save"))
		start_job(c, id, args, JOB_SAVE);
	else if (!strcmp(cmd, "snapshot-disk"))
		start_job(c, id, args, JOB_DISK);
	else
		return FALSE;
	return TRUE;
}

gboolean sv_snapshot_quit_when_done(Supervisor *sv)
{
	if (!sv->snapshot)
		return FALSE;
	sv->snapshot->quit_when_done = TRUE;
	return TRUE;
}
