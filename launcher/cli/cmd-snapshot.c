/* SPDX-License-Identifier: MIT */
/*
 * cmd-snapshot.c - grainvm snapshot save | list | rm
 *
 * save drives a running VM through its supervisor's control socket, in
 * this order (docs/snapshots.md):
 *
 *   1. agent grain-quiesce: sync, unmount every 9p share (QEMU refuses to
 *      migrate while one is mounted) and remember them
 *   2. qmp stop; from here the guest's RAM and disk do not change
 *   3. qmp migrate to a unix socket this process listens on; a thread
 *      compresses the stream into the state file (snapshot-state.h)
 *      while this one polls query-migrate.  When the migration completes
 *      QEMU has flushed and released the disk.
 *   4. the disk, if the VM has one, is copied now, still stopped, so the
 *      saved RAM and disk are of the same instant
 *   5. the manifest, then the staged directory becomes TAG in one rename
 *   6. qmp cont and agent grain-thaw (the shares come back, the clock is
 *      set), whether the save worked or not; with --stop and a saved
 *      snapshot the VM is shut down instead
 *
 * SIGINT, SIGTERM and SIGHUP are held from 1 to 6: a Ctrl-C must not
 * leave the guest stopped with its shares unmounted.  The signal is
 * delivered once the VM runs again.
 *
 * disk (also `grainvm snapshot NAME [TAG]`) is the live external disk
 * snapshot of disk-layers.h: the chain is recorded first, pointing at a
 * new empty overlay on the file QEMU writes to, then QEMU is switched to
 * it (blockdev-snapshot-sync, mode existing).  Whichever step a crash
 * interrupts, the recorded top reads as the disk QEMU had: an empty
 * overlay on it, or it with everything written since.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib-unix.h>

#include "cli/cli-common.h"
#include "snapshot/disk-layers.h"
#include "grainvm-image.h"
#include "cli/gv-cli.h"
#include "gv-error.h"
#include "snapshot/snapshot-state.h"
#include "snapshot/snapshot.h"
#include "boot/spec.h"
#include "plan.h"
#include "unix-socket.h"
#include "liveness.h"
#include "fileio.h"

#define DEFAULT_TAG "default"
/* The agent syncs the guest's disks before it answers. */
#define QUIESCE_TIMEOUT_S 60
#define QMP_TIMEOUT_S 10
/* QEMU connects to the socket as soon as migrate is accepted. */
#define ACCEPT_MS 10000
/* RAM goes at well over 100 MB/s here; an hour covers any guest. */
#define MIGRATE_TIMEOUT_MS (3600 * 1000)
#define MIGRATE_POLL_MS 10
/* Migration limits for a stopped guest: no reason to throttle or iterate. */
#define MAX_BANDWIDTH (G_GINT64_CONSTANT(100) << 30)
#define DOWNTIME_LIMIT_MS 2000000 /* QEMU's maximum */

/* ---- talking to the supervisor --------------------------------------------------- */

/* Run COMMAND on the VM's QEMU ("qmp") or agent ("agent"); the error names it. */
static JsonNode *call(GvQmpClient *ctl, const char *via, const char *command, JsonObject *args,
		      guint timeout_s, GError **error)
{
	g_autoptr(JsonObject) a = json_object_new();
	json_object_set_string_member(a, "command", command);
	if (args)
		json_object_set_object_member(a, "arguments", json_object_ref(args));
	json_object_set_int_member(a, "timeout", timeout_s);
	JsonNode *r = gv_qmp_execute_sync(ctl, via, a, timeout_s * 1000 + 2000, error);
	if (!r)
		gv_prefix_error(error, "%s %s", via, command);
	return r;
}

static gboolean call_ok(GvQmpClient *ctl, const char *via, const char *command, JsonObject *args,
			guint timeout_s, GError **error)
{
	g_autoptr(JsonNode) r = call(ctl, via, command, args, timeout_s, error);
	return r != NULL;
}

/* ---- the thread that receives the migration stream ---------------------------------- */

typedef struct {
	int listen_fd;
	int cancel_fd;      /* read end: readable when the main thread gives up */
	char *path;
	guint64 raw_bytes;
	guint64 file_bytes;
	GError *error;
} Receiver;

static gpointer receive_main(gpointer data)
{
	Receiver *rc = data;
	struct pollfd p[2] = { { rc->listen_fd, POLLIN, 0 }, { rc->cancel_fd, POLLIN, 0 } };
	int n;
	do
		n = poll(p, 2, ACCEPT_MS);
	while (n < 0 && errno == EINTR);
	if (n <= 0 || (p[1].revents & POLLIN)) {
		g_set_error(&rc->error, GV_ERROR, GV_ERROR_FAILED,
			    "QEMU did not connect to the migration socket");
		return NULL;
	}
	int fd = accept4(rc->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0) {
		g_set_error(&rc->error, GV_ERROR, GV_ERROR_FAILED, "accept: %s", g_strerror(errno));
		return NULL;
	}
	gv_state_save(fd, rc->path, &rc->raw_bytes, &rc->file_bytes, &rc->error);
	close(fd);
	return NULL;
}

/* ---- save ------------------------------------------------------------------------------ */

typedef struct {
	GvVmPaths *paths;
	GvQmpClient *ctl;
	GvPlan *plan;
	const char *tag;
	char *stage;
	JsonArray *unmounted;   /* from grain-quiesce */
	char *qemu_version;
	guint64 raw_bytes, file_bytes, disk_bytes;
	double paused_s;
} Save;

static char *version_of(JsonNode *qv)
{
	JsonObject *o = qv && JSON_NODE_HOLDS_OBJECT(qv) ? json_node_get_object(qv) : NULL;
	JsonObject *q = o && json_object_has_member(o, "qemu") ? json_object_get_object_member(o, "qemu")
							      : NULL;
	if (!q)
		return g_strdup("?");
	return g_strdup_printf("%" G_GINT64_FORMAT ".%" G_GINT64_FORMAT ".%" G_GINT64_FORMAT,
			       json_object_get_int_member_with_default(q, "major", 0),
			       json_object_get_int_member_with_default(q, "minor", 0),
			       json_object_get_int_member_with_default(q, "micro", 0));
}

/* Migrate to @sock and wait until QEMU says it is done. */
static gboolean migrate(Save *s, const char *sock, GError **error)
{
	g_autoptr(JsonObject) margs = json_object_new();
	g_autofree char *uri = g_strdup_printf("unix:%s", sock);
	json_object_set_string_member(margs, "uri", uri);
	if (!call_ok(s->ctl, "qmp", "migrate", margs, QMP_TIMEOUT_S, error))
		return FALSE;
	for (guint waited = 0;; waited += MIGRATE_POLL_MS) {
		g_autoptr(JsonNode) st = call(s->ctl, "qmp", "query-migrate", NULL, QMP_TIMEOUT_S,
					      error);
		if (!st)
			return FALSE;
		JsonObject *o = JSON_NODE_HOLDS_OBJECT(st) ? json_node_get_object(st) : NULL;
		const char *status = o ? json_object_get_string_member_with_default(o, "status", "")
				       : "";
		if (!strcmp(status, "completed"))
			return TRUE;
		if (!strcmp(status, "failed") || !strcmp(status, "cancelled")) {
			g_set_error(error, GV_ERROR, GV_ERROR_FAILED, "QEMU could not save the VM: %s",
				    json_object_get_string_member_with_default(o, "error-desc",
									       status));
			return FALSE;
		}
		if (waited >= MIGRATE_TIMEOUT_MS) {
			g_set_error(error, GV_ERROR, GV_ERROR_TIMEOUT, "the migration did not finish");
			return FALSE;
		}
		g_usleep(MIGRATE_POLL_MS * 1000);
	}
}

/* Step 3: the RAM and device state into STAGE/state.zst. */
static gboolean save_state(Save *s, GError **error)
{
	g_autofree char *sock = g_build_filename(s->paths->run_dir, "save.sock", NULL);
	g_autoptr(JsonObject) params = json_object_new();
	Receiver rc = { .listen_fd = -1, .path = g_build_filename(s->stage, "state.zst", NULL) };
	int cancel[2] = { -1, -1 };
	gboolean ok = FALSE;

	/* Stopped: send everything in one pass, as fast as it can be written. */
	json_object_set_int_member(params, "max-bandwidth", MAX_BANDWIDTH);
	json_object_set_int_member(params, "downtime-limit", DOWNTIME_LIMIT_MS);
	if (call_ok(s->ctl, "qmp", "migrate-set-parameters", params, QMP_TIMEOUT_S, error) &&
	    (rc.listen_fd = gv_unix_listen(sock, 1, error)) >= 0 &&
	    g_unix_open_pipe(cancel, FD_CLOEXEC, error)) {
		rc.cancel_fd = cancel[0];
		GThread *thread = g_thread_new("gv-save", receive_main, &rc);
		ok = migrate(s, sock, error);
		/* On failure the thread may still wait for QEMU to connect. */
		if (!ok && write(cancel[1], "x", 1) < 0) {
			/* Cannot happen on an empty pipe; the thread times out anyway. */
		}
		g_thread_join(thread);
		if (ok && rc.error) {
			g_propagate_error(error, g_steal_pointer(&rc.error));
			ok = FALSE;
		}
	}
	g_clear_error(&rc.error);
	s->raw_bytes = rc.raw_bytes;
	s->file_bytes = rc.file_bytes;
	if (rc.listen_fd >= 0)
		close(rc.listen_fd);
	for (int i = 0; i < 2; i++)
		if (cancel[i] >= 0)
			close(cancel[i]);
	unlink(sock);
	g_free(rc.path);
	return ok;
}

static void add_file_identity(JsonArray *files, char **argv, const char *opt)
{
	for (char **p = argv; *p && p[1]; p++)
		if (!strcmp(*p, opt))
			json_array_add_object_element(files, gv_file_identity(p[1]));
}

/* Steps 4 and 5's first half: the disk, then manifest.json. */
static gboolean save_disk_and_manifest(Save *s, JsonNode *qv, GError **error)
{
	const char *disk = s->plan->disk;
	const char *base = s->plan->disk_image;
	g_autoptr(JsonObject) m = json_object_new();
	char **argv = s->plan->argv;

	if (disk) {
		g_autofree char *dst = g_build_filename(s->stage, "disk.qcow2", NULL);
		if (!gv_snapshot_copy_disk(disk, base, dst, error))
			return FALSE;
		struct stat st;
		s->disk_bytes = stat(dst, &st) == 0 ? (guint64)st.st_blocks * 512 : 0;
		JsonObject *d = json_object_new();
		json_object_set_string_member(d, "file", "disk.qcow2");
		if (base)
			json_object_set_string_member(d, "base", base);
		json_object_set_int_member(d, "bytes", (gint64)s->disk_bytes);
		json_object_set_object_member(m, "disk", d);
	}

	json_object_set_int_member(m, "format", GV_SNAPSHOT_FORMAT);
	json_object_set_string_member(m, "vm", s->paths->name);
	json_object_set_string_member(m, "tag", s->tag);
	json_object_set_int_member(m, "created", g_get_real_time() / G_USEC_PER_SEC);
	JsonObject *q = gv_file_identity(argv[0]);
	json_object_set_string_member(q, "version", s->qemu_version);
	JsonObject *qo = JSON_NODE_HOLDS_OBJECT(qv) ? json_node_get_object(qv) : NULL;
	if (qo && json_object_has_member(qo, "package"))
		json_object_set_string_member(q, "package",
					      json_object_get_string_member(qo, "package"));
	json_object_set_object_member(m, "qemu", q);
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
	const char *boot = s->plan->boot_origin ? s->plan->boot_origin : s->plan->boot;
	json_object_set_string_member(m, "boot", boot);
	json_object_set_int_member(m, "memory", (gint64)s->plan->memory);
	json_object_set_int_member(m, "cpus", s->plan->cpus);
	JsonObject *st = json_object_new();
	json_object_set_string_member(st, "file", "state.zst");
	json_object_set_string_member(st, "codec", "zstd");
	json_object_set_int_member(st, "bytes", (gint64)s->file_bytes);
	json_object_set_int_member(st, "raw-bytes", (gint64)s->raw_bytes);
	json_object_set_object_member(m, "state", st);
	json_object_set_array_member(m, "shares", json_array_ref(s->unmounted));
	json_object_set_double_member(m, "paused-seconds", s->paused_s);

	g_autoptr(JsonNode) n = json_node_init_object(json_node_alloc(), m);
	g_autofree char *text = gv_json_to_string(n, TRUE);
	g_autofree char *path = g_build_filename(s->stage, "manifest.json", NULL);
	return gv_write_file_atomic(path, text, strlen(text), 0600, error);
}

/* Steps 1-5.  *stopped says whether the VM must be resumed. */
static gboolean do_save(Save *s, gboolean *quiesced, gboolean *stopped, gboolean *replaced,
			GError **error)
{
	g_autoptr(JsonNode) q = call(s->ctl, "agent", "grain-quiesce", NULL, QUIESCE_TIMEOUT_S,
				     error);
	if (!q)
		return FALSE;
	*quiesced = TRUE;
	JsonObject *qo = JSON_NODE_HOLDS_OBJECT(q) ? json_node_get_object(q) : NULL;
	JsonArray *um = qo && json_object_has_member(qo, "unmounted")
				? json_object_get_array_member(qo, "unmounted") : NULL;
	s->unmounted = um ? json_array_ref(um) : json_array_new();

	gint64 t0 = g_get_monotonic_time();
	if (!call_ok(s->ctl, "qmp", "stop", NULL, QMP_TIMEOUT_S, error))
		return FALSE;
	*stopped = TRUE;
	g_autoptr(JsonNode) qv = call(s->ctl, "qmp", "query-version", NULL, QMP_TIMEOUT_S, error);
	if (!qv)
		return FALSE;
	s->qemu_version = version_of(qv);

	s->stage = gv_snapshot_stage_new(s->paths, error);
	if (!s->stage || !save_state(s, error))
		return FALSE;
	s->paused_s = (double)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC;
	if (!save_disk_and_manifest(s, qv, error))
		return FALSE;
	s->paused_s = (double)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC;
	if (!gv_snapshot_commit(s->paths, s->tag, s->stage, replaced, error))
		return FALSE;
	g_clear_pointer(&s->stage, g_free);
	return TRUE;
}

/* Step 6: the VM runs again with its shares, whatever happened before. */
static gboolean resume(Save *s, gboolean quiesced, gboolean stopped, GError **error)
{
	if (stopped && !call_ok(s->ctl, "qmp", "cont", NULL, QMP_TIMEOUT_S, error))
		return FALSE;
	if (!quiesced)
		return TRUE;
	g_autoptr(JsonObject) args = json_object_new();
	json_object_set_int_member(args, "time-ns", g_get_real_time() * 1000);
	g_autoptr(JsonNode) r = call(s->ctl, "agent", "grain-thaw", args, QUIESCE_TIMEOUT_S, error);
	return r != NULL;
}

static gboolean stop_vm(Save *s, GError **error)
{
	g_autoptr(JsonObject) args = json_object_new();
	/* QEMU is paused after the migration: QMP quit is the first useful step. */
	json_object_set_int_member(args, "timeout", 5);
	json_object_set_boolean_member(args, "force", TRUE);
	g_autoptr(JsonNode) r = gv_qmp_execute_sync(s->ctl, "down", args, 30000, error);
	if (!r)
		return FALSE;
	for (int i = 0; i < 500 && gv_vm_is_running(s->paths); i++)
		g_usleep(20 * 1000);
	return TRUE;
}

static char *mb(guint64 bytes)
{
	return g_strdup_printf("%.1f MB", (double)bytes / 1e6);
}

static int cmd_save(int argc, char **argv)
{
	gboolean stop = FALSE, json = FALSE;
	const GOptionEntry entries[] = {
		{ "stop", 0, 0, G_OPTION_ARG_NONE, &stop, "Shut the VM down after saving instead of resuming it", NULL },
		{ "json", 0, 0, G_OPTION_ARG_NONE, &json, "Print the snapshot's manifest as JSON", NULL },
		{ NULL },
	};
	int code;
	if (!gv_cli_parse(&argc, &argv, entries, "NAME [TAG]",
			  "Save the running VM's whole state (RAM, devices and disk) as snapshot TAG "
			  "(default \"" DEFAULT_TAG "\"), replacing an older TAG; `grainvm up NAME "
			  "--from TAG` restores it.", &code))
		return code;
	if (argc < 2 || argc > 3) {
		g_printerr("grainvm snapshot save: usage: grainvm snapshot save [--stop] NAME [TAG]\n");
		return GV_EXIT_INVALID;
	}
	g_autoptr(GError) err = NULL;
	const char *tag = argc == 3 ? argv[2] : DEFAULT_TAG;
	g_autoptr(GvVmPaths) paths = gv_cli_vm_paths(argv[1], &err);
	if (!paths || !gv_snapshot_check_tag(tag, &err))
		return gv_cli_error(err);
	g_autoptr(GvQmpClient) ctl = gv_cli_control(paths, &err);
	if (!ctl)
		return gv_cli_error(err);
	g_autoptr(JsonNode) st = gv_qmp_execute_sync(ctl, "status", NULL, 10000, &err);
	if (!st)
		return gv_cli_error(err);
	const char *phase = json_object_get_string_member_with_default(json_node_get_object(st),
								       "phase", "?");
	if (strcmp(phase, "ready")) {
		g_set_error(&err, GV_ERROR, GV_ERROR_STATE, "vm %s is %s, not ready: nothing saved",
			    paths->name, phase);
		return gv_cli_error(err);
	}
	g_autoptr(GvPlan) plan = gv_plan_load(paths->plan, &err);
	if (!plan)
		return gv_cli_error(err);

	Save s = { .paths = paths, .ctl = ctl, .plan = plan, .tag = tag };
	gint64 t0 = g_get_monotonic_time();
	sigset_t hold, old;
	sigemptyset(&hold);
	sigaddset(&hold, SIGINT);
	sigaddset(&hold, SIGTERM);
	sigaddset(&hold, SIGHUP);
	sigprocmask(SIG_BLOCK, &hold, &old);

	gboolean quiesced = FALSE, stopped = FALSE, replaced = FALSE;
	gboolean saved = do_save(&s, &quiesced, &stopped, &replaced, &err);
	if (s.stage)
		gv_rm_rf(s.stage, NULL);
	g_autoptr(GError) rerr = NULL;
	gboolean after_ok = saved && stop ? stop_vm(&s, &rerr) : resume(&s, quiesced, stopped, &rerr);
	double total = (double)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC;
	sigprocmask(SIG_SETMASK, &old, NULL);

	if (!saved) {
		gv_prefix_error(&err, "vm %s: snapshot %s not saved", paths->name, tag);
		code = gv_cli_error(err);
	} else {
		code = GV_EXIT_OK;
	}
	if (!after_ok) {
		g_printerr("grainvm: vm %s: %s after the save: %s\n", paths->name,
			   saved && stop ? "cannot stop" : "cannot resume", rerr->message);
		code = GV_EXIT_FAILED;
	}
	if (saved && json) {
		g_autoptr(JsonObject) m = gv_snapshot_manifest_read(paths, tag, NULL);
		if (m) {
			g_autoptr(JsonNode) n = json_node_init_object(json_node_alloc(), json_object_ref(m));
			gv_cli_print_json(n);
		}
	} else if (saved) {
		g_autofree char *state = mb(s.file_bytes), *raw = mb(s.raw_bytes);
		g_autofree char *disk = mb(s.disk_bytes);
		printf("grainvm: vm %s saved as snapshot %s%s in %.2f s (guest paused %.2f s)\n"
		       "  state    %s (%s of RAM and devices before compression)\n",
		       paths->name, tag, replaced ? " (replacing the older one)" : "", total,
		       s.paused_s, state, raw);
		if (plan->disk)
			printf("  disk     %s\n", disk);
		printf("  restore  grainvm up %s --from %s\n", paths->name, tag);
	}
	g_free(s.stage);
	g_free(s.qemu_version);
	if (s.unmounted)
		json_array_unref(s.unmounted);
	return code;
}

/* ---- list and rm --------------------------------------------------------------------------- */

static int cmd_list(int argc, char **argv)
{
	gboolean json = FALSE;
	const GOptionEntry entries[] = {
		{ "json", 0, 0, G_OPTION_ARG_NONE, &json, "Print the manifests as a JSON array", NULL },
		{ NULL },
	};
	int code;
	if (!gv_cli_parse(&argc, &argv, entries, "NAME", "List a VM's snapshots, oldest first.",
			  &code))
		return code;
	if (argc != 2) {
		g_printerr("grainvm snapshot list: usage: grainvm snapshot list NAME\n");
		return GV_EXIT_INVALID;
	}
	g_autoptr(GError) err = NULL;
	g_autoptr(GvVmPaths) paths = gv_cli_vm_paths(argv[1], &err);
	if (!paths)
		return gv_cli_error(err);
	if (!g_file_test(paths->state_dir, G_FILE_TEST_IS_DIR)) {
		g_set_error(&err, GV_ERROR, GV_ERROR_STATE, "no vm named %s", paths->name);
		return gv_cli_error(err);
	}
	g_autoptr(GPtrArray) all = gv_snapshot_list(paths, &err);
	if (!all)
		return gv_cli_error(err);
	if (json) {
		g_autoptr(JsonArray) a = json_array_new();
		for (guint i = 0; i < all->len; i++)
			json_array_add_object_element(a, json_object_ref(g_ptr_array_index(all, i)));
		g_autoptr(JsonNode) n = json_node_init_array(json_node_alloc(), a);
		gv_cli_print_json(n);
		return GV_EXIT_OK;
	}
	if (!all->len) {
		printf("vm %s has no snapshots\n", paths->name);
		return GV_EXIT_OK;
	}
	printf("%-20s %-19s %10s %10s  %s\n", "TAG", "SAVED", "STATE", "DISK", "MEMORY");
	for (guint i = 0; i < all->len; i++) {
		JsonObject *m = g_ptr_array_index(all, i);
		const char *tag = json_object_get_string_member_with_default(m, "tag", "?");
		if (json_object_has_member(m, "error")) {
			printf("%-20s damaged: %s\n", tag, json_object_get_string_member(m, "error"));
			continue;
		}
		g_autoptr(GDateTime) dt = g_date_time_new_from_unix_local(
			json_object_get_int_member_with_default(m, "created", 0));
		g_autofree char *when = dt ? g_date_time_format(dt, "%Y-%m-%d %H:%M:%S") : g_strdup("?");
		JsonObject *st = json_object_has_member(m, "state")
					 ? json_object_get_object_member(m, "state") : NULL;
		JsonObject *d = json_object_has_member(m, "disk")
					? json_object_get_object_member(m, "disk") : NULL;
		g_autofree char *state = mb((guint64)(st ? json_object_get_int_member_with_default(st, "bytes", 0) : 0));
		g_autofree char *disk = d ? mb((guint64)json_object_get_int_member_with_default(d, "bytes", 0))
					  : g_strdup("-");
		printf("%-20s %-19s %10s %10s  %" G_GINT64_FORMAT "M\n", tag, when, state, disk,
		       json_object_get_int_member_with_default(m, "memory", 0) >> 20);
	}
	return GV_EXIT_OK;
}

static int cmd_rm(int argc, char **argv)
{
	int code;
	if (!gv_cli_parse(&argc, &argv, NULL, "NAME TAG", "Delete a snapshot.", &code))
		return code;
	if (argc != 3) {
		g_printerr("grainvm snapshot rm: usage: grainvm snapshot rm NAME TAG\n");
		return GV_EXIT_INVALID;
	}
	g_autoptr(GError) err = NULL;
	g_autoptr(GvVmPaths) paths = gv_cli_vm_paths(argv[1], &err);
	if (!paths || !gv_snapshot_check_tag(argv[2], &err))
		return gv_cli_error(err);
	if (gv_vm_is_running(paths)) {
		/* The running VM's disk may be an overlay on this snapshot's disk. */
		g_autoptr(GvPlan) plan = gv_plan_load(paths->plan, NULL);
		if (plan && plan->restore && !g_strcmp0(plan->restore->tag, argv[2])) {
			g_set_error(&err, GV_ERROR, GV_ERROR_STATE,
				    "vm %s is running from snapshot %s: grainvm down %s first",
				    paths->name, argv[2], paths->name);
			return gv_cli_error(err);
		}
	}
	if (!gv_snapshot_remove(paths, argv[2], &err))
		return gv_cli_error(err);
	printf("grainvm: removed snapshot %s of vm %s\n", argv[2], paths->name);
	return GV_EXIT_OK;
}

/* ---- disk: a live external disk snapshot ------------------------------------------------- */

/* The qcow2 node the VM's disk device reads through now (disk0 until a first snapshot). */
static char *disk_top_node(GvQmpClient *ctl, GError **error)
{
	g_autoptr(JsonNode) r = call(ctl, "qmp", "query-block", NULL, QMP_TIMEOUT_S, error);
	if (!r)
		return NULL;
	JsonArray *a = JSON_NODE_HOLDS_ARRAY(r) ? json_node_get_array(r) : NULL;
	for (guint i = 0; a && i < json_array_get_length(a); i++) {
		JsonNode *e = json_array_get_element(a, i);
		JsonObject *o = JSON_NODE_HOLDS_OBJECT(e) ? json_node_get_object(e) : NULL;
		const char *qdev = o ? json_object_get_string_member_with_default(o, "qdev", "") : "";
		if (!strstr(qdev, "/disk0-dev/") || !json_object_has_member(o, "inserted"))
			continue;
		JsonObject *in = json_object_get_object_member(o, "inserted");
		const char *node = in ? json_object_get_string_member_with_default(in, "node-name", NULL)
				      : NULL;
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

static gboolean take_disk_snapshot(const GvVmPaths *paths, GvQmpClient *ctl, GvPlan *plan,
				   const char *tag, char **frozen_out, char **top_out,
				   GError **error)
{
	/* A copy: the plan's "disk" is replaced below. */
	g_autofree char *disk = g_strdup(plan->disk);
	if (!disk) {
		g_set_error(error, GV_ERROR, GV_ERROR_INVALID,
			    "vm %s has no disk ([disk] image or size) to snapshot", paths->name);
		return FALSE;
	}
	if (plan->restore) {
		/* Its disk is a per-run overlay that the next run replaces. */
		g_set_error(error, GV_ERROR, GV_ERROR_STATE,
			    "vm %s runs from a saved snapshot, on a disk the next up --from throws "
			    "away: a disk snapshot of it would not last", paths->name);
		return FALSE;
	}
	g_autoptr(JsonObject) layers = gv_disk_layers_read(paths, error);
	if (!layers)
		return FALSE;
	if (gv_disk_layer_file(layers, tag)) {
		g_set_error(error, GV_ERROR, GV_ERROR_INVALID,
			    "vm %s already has a disk snapshot %s (%s)", paths->name, tag,
			    gv_disk_layer_file(layers, tag));
		return FALSE;
	}
	g_autofree char *node = disk_top_node(ctl, error);
	if (!node)
		return FALSE;
	guint n;
	g_autofree char *top = next_top_file(paths, &n);
	if (!gv_image_create_qcow2(top, 0, disk, "qcow2", 0, error))
		return FALSE;

	/* Record first (see the top of this file), then switch QEMU over. */
	g_autofree char *prev_top =
		g_strdup(json_object_get_string_member_with_default(layers, "top", NULL));
	JsonArray *chain = json_object_get_array_member(layers, "layers");
	JsonObject *l = json_object_new();
	json_object_set_string_member(l, "tag", tag);
	json_object_set_string_member(l, "file", disk);
	json_object_set_int_member(l, "created", g_get_real_time() / G_USEC_PER_SEC);
	json_array_add_object_element(chain, l);
	json_object_set_string_member(layers, "top", top);
	if (!gv_disk_layers_write(paths, layers, error)) {
		unlink(top);
		return FALSE;
	}
	g_autoptr(JsonObject) args = json_object_new();
	g_autofree char *new_node = g_strdup_printf("disk0-%u", n);
	json_object_set_string_member(args, "node-name", node);
	json_object_set_string_member(args, "snapshot-file", top);
	json_object_set_string_member(args, "snapshot-node-name", new_node);
	json_object_set_string_member(args, "format", "qcow2");
	json_object_set_string_member(args, "mode", "existing");
	if (!call_ok(ctl, "qmp", "blockdev-snapshot-sync", args, QMP_TIMEOUT_S, error)) {
		/* QEMU still writes to @disk: the chain goes back to what it was. */
		if (prev_top) {
			json_array_remove_element(chain, json_array_get_length(chain) - 1);
			json_object_set_string_member(layers, "top", prev_top);
			gv_disk_layers_write(paths, layers, NULL);
		} else {
			gv_disk_layers_forget(paths);
		}
		unlink(top);
		return FALSE;
	}
	/* The plan says which file a full snapshot (save) copies. */
	g_free(plan->disk);
	plan->disk = g_strdup(top);
	if (!gv_plan_save(plan, paths->plan, error)) {
		gv_prefix_error(error, "disk snapshot %s taken, but", tag);
		return FALSE;
	}
	*frozen_out = g_steal_pointer(&disk);
	*top_out = g_steal_pointer(&top);
	return TRUE;
}

static int cmd_disk(int argc, char **argv)
{
	int code;
	if (!gv_cli_parse(&argc, &argv, NULL, "NAME [TAG]",
			  "Take a live external snapshot of a running VM's disk: the file it writes "
			  "to is frozen as TAG (default disk-DATE-TIME), read-only from then on, and "
			  "the VM goes on writing to a new overlay on top of it.", &code))
		return code;
	if (argc < 2 || argc > 3) {
		g_printerr("grainvm snapshot disk: usage: grainvm snapshot disk NAME [TAG]\n");
		return GV_EXIT_INVALID;
	}
	g_autoptr(GError) err = NULL;
	g_autoptr(GDateTime) now = g_date_time_new_now_local();
	g_autofree char *tag = argc == 3 ? g_strdup(argv[2])
					 : g_date_time_format(now, "disk-%Y%m%d-%H%M%S");
	g_autoptr(GvVmPaths) paths = gv_cli_vm_paths(argv[1], &err);
	if (!paths || !gv_snapshot_check_tag(tag, &err))
		return gv_cli_error(err);
	g_autoptr(GvQmpClient) ctl = gv_cli_control(paths, &err);
	if (!ctl)
		return gv_cli_error(err);
	g_autoptr(GvPlan) plan = gv_plan_load(paths->plan, &err);
	g_autofree char *frozen = NULL, *top = NULL;
	if (!plan || !take_disk_snapshot(paths, ctl, plan, tag, &frozen, &top, &err))
		return gv_cli_error(err);
	printf("grainvm: vm %s: disk snapshot %s taken\n"
	       "  frozen   %s (read-only from now on; usable as another VM's [disk] image)\n"
	       "  writes   %s\n", paths->name, tag, frozen, top);
	return GV_EXIT_OK;
}

int gv_cmd_snapshot(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int argc, char **argv);
		const char *summary;
	} subs[] = {
		{ "save", cmd_save, "Save a running VM's whole state (RAM, devices, disk) as a tag" },
		{ "list", cmd_list, "List a VM's snapshots" },
		{ "rm", cmd_rm, "Delete a snapshot" },
		{ "disk", cmd_disk, "Freeze a running VM's disk as a tag; it goes on writing to a new overlay" },
	};
	if (argc >= 2) {
		for (gsize i = 0; i < G_N_ELEMENTS(subs); i++) {
			if (strcmp(argv[1], subs[i].name))
				continue;
			/* Messages and --help then say "grainvm snapshot save". */
			g_autofree char *name = g_strdup_printf("snapshot %s", subs[i].name);
			argv[1] = name;
			return subs[i].fn(argc - 1, argv + 1);
		}
	}
	if (argc >= 2 && argv[1][0] != '-') {
		/* `grainvm snapshot NAME [TAG]`: a VM, not a command, is named. */
		g_autofree char *name = g_strdup("snapshot disk");
		char *sv0 = argv[0];
		argv[0] = name;
		int rc = cmd_disk(argc, argv);
		argv[0] = sv0;
		return rc;
	}
	FILE *out = argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) ? stdout
											 : stderr;
	fprintf(out, "Usage: grainvm snapshot COMMAND [OPTION…]\n\n"
		     "Save a running VM's whole state and start it again from there in a fraction of a\n"
		     "second with `grainvm up NAME --from TAG` (or [vm] boot-from=TAG).\n"
		     "`grainvm snapshot NAME [TAG]` is `grainvm snapshot disk NAME [TAG]`.\n\n"
		     "Commands:\n");
	for (gsize i = 0; i < G_N_ELEMENTS(subs); i++)
		fprintf(out, "  %-9s %s\n", subs[i].name, subs[i].summary);
	fprintf(out, "\nRun 'grainvm snapshot COMMAND --help' for its options.\n");
	return out == stdout ? GV_EXIT_OK : GV_EXIT_INVALID;
}
