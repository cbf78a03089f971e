/* SPDX-License-Identifier: MIT */
/*
 * cmd-snapshot.c - grainvm snapshot save | list | rm | disk
 *
 * save and disk (also `grainvm snapshot NAME [TAG]`) parse, send one
 * command to the VM's supervisor and print its answer: the supervisor
 * quiesces the guest, migrates, copies the disk and updates its plan
 * (supervisor/supervisor-snapshot.c has the steps and why they run
 * there), one snapshot at a time per VM.  list and rm work on the files
 * alone (snapshot/snapshot.h).
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli-common.h"
#include "cli/gv-cli.h"
#include "gv-error.h"
#include "snapshot/snapshot.h"
#include "snapshot/template.h"
#include "liveness.h"

#define DEFAULT_TAG "default"

/*
 * The supervisor answers when the job is done: a save takes as long as the
 * migration and the disk copy (it bounds each step itself, the migration
 * to an hour), so the CLI waits for as long as it takes, up to a day.
 */
#define JOB_WAIT_MS (24u * 3600 * 1000)
/* save --stop: how long to wait for the VM to be gone after the save (as down). */
#define STOP_WAIT_MS 10000

/* Send snapshot-COMMAND; the supervisor's own errors keep their exit code. */
static JsonObject *run_job(GvQmpClient *ctl, const char *command, JsonObject *args,
			   GError **error)
{
	g_autoptr(JsonNode) r = gv_qmp_execute_sync(ctl, command, args, JOB_WAIT_MS, error);
	if (!r) {
		gv_cli_control_error(error);
		return NULL;
	}
	if (!JSON_NODE_HOLDS_OBJECT(r)) {
		g_set_error(error, GV_ERROR, GV_ERROR_FAILED, "%s: the supervisor's answer is not an "
			    "object", command);
		return NULL;
	}
	return json_object_ref(json_node_get_object(r));
}

/* Reply members the CLI prints: absent or of the wrong type reads as 0. */
static guint64 reply_bytes(JsonObject *r, const char *member)
{
	return (guint64)MAX(gv_json_int_or(r, member, 0), 0);
}

static const char *reply_str(JsonObject *r, const char *member)
{
	return gv_json_string_or(r, member, NULL);
}

static gboolean reply_bool(JsonObject *r, const char *member)
{
	return gv_json_bool_or(r, member, FALSE);
}

static char *mb(guint64 bytes)
{
	return g_strdup_printf("%.1f MB", (double)bytes / 1e6);
}

/* A message that may quote the guest (an agent's error): no control characters. */
static char *terminal_safe(const char *msg)
{
	char *s = g_strdup(msg);
	for (char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return s;
}

static int cmd_save(int argc, char **argv)
{
	gboolean stop = FALSE, json = FALSE, template = FALSE;
	const GOptionEntry entries[] = {
		{ "stop", 0, 0, G_OPTION_ARG_NONE, &stop, "Shut the VM down after saving instead of resuming it", NULL },
		{ "template", 0, 0, G_OPTION_ARG_NONE, &template, "Save as a template that `grainvm clone NAME:TAG NEW` starts VMs from, sharing its RAM; the VM ([vm] template=true) then stops", NULL },
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
		g_printerr("grainvm snapshot save: usage: grainvm snapshot save [--stop] [--template] NAME [TAG]\n");
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
	g_autoptr(JsonObject) args = json_object_new();
	json_object_set_string_member(args, "tag", tag);
	json_object_set_boolean_member(args, "stop", stop);
	if (template)
		json_object_set_boolean_member(args, "template", TRUE);
	stop = stop || template; /* the supervisor ends a template's VM */
	gint64 t0 = g_get_monotonic_time();
	g_autoptr(JsonObject) r = run_job(ctl, "snapshot-save", args, &err);
	if (!r)
		return gv_cli_error(err);
	gboolean saved = reply_bool(r, "saved");
	/* --stop: the supervisor runs its down sequence; wait for it as down does. */
	for (guint t = 0; saved && stop && t < STOP_WAIT_MS && gv_vm_is_running(paths); t += 20)
		g_usleep(20 * 1000);
	double total = (double)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC;

	code = GV_EXIT_OK;
	if (!saved) {
		JsonNode *en = json_object_get_member(r, "error");
		JsonObject *e = en && JSON_NODE_HOLDS_OBJECT(en) ? json_node_get_object(en) : NULL;
		const char *msg = e ? reply_str(e, "message") : NULL;
		guint64 c = e ? reply_bytes(e, "exit-code") : 0;
		g_autofree char *safe = terminal_safe(msg ? msg : "the supervisor gave no reason");
		g_printerr("grainvm: vm %s: snapshot %s not saved: %s\n", paths->name, tag, safe);
		code = c > 0 && c < 128 ? (int)c : GV_EXIT_FAILED;
	}
	const char *after = reply_str(r, "after-error");
	if (after) {
		g_autofree char *safe = terminal_safe(after);
		g_printerr("grainvm: vm %s: cannot resume after the save: %s\n", paths->name, safe);
		code = GV_EXIT_FAILED;
	}
	if (saved && json) {
		g_autoptr(JsonObject) m = gv_snapshot_manifest_read(paths, tag, NULL);
		if (m) {
			g_autoptr(JsonNode) n = json_node_init_object(json_node_alloc(), json_object_ref(m));
			gv_cli_print_json(n);
		}
	} else if (saved) {
		g_autofree char *state = mb(reply_bytes(r, "state-bytes"));
		g_autofree char *raw = mb(reply_bytes(r, "raw-bytes"));
		g_autofree char *disk = mb(reply_bytes(r, "disk-bytes"));
		JsonNode *pn = json_object_get_member(r, "paused-seconds");
		double paused = pn && JSON_NODE_HOLDS_VALUE(pn) ? json_node_get_double(pn) : 0;
		printf("grainvm: vm %s saved as snapshot %s%s in %.2f s (guest paused %.2f s)\n"
		       "  state    %s (%s of RAM and devices before compression)\n",
		       paths->name, tag, reply_bool(r, "replaced") ? " (replacing the older one)" : "",
		       total, paused, state, raw);
		if (reply_bool(r, "disk"))
			printf("  disk     %s\n", disk);
		if (template)
			printf("  clone    grainvm clone %s:%s NEWNAME [--count N]   (the VM has stopped; "
			       "its RAM is the template's now)\n", paths->name, tag);
		else
			printf("  restore  grainvm up %s --from %s\n", paths->name, tag);
	}
	return code;
}

/* ---- list and rm --------------------------------------------------------------------------- */

/*
 * A template's RAM: what tmpfs holds for it (pages the guest touched), and
 * the clones that map it; or why it is unusable.  "-" for a snapshot.
 */
static char *template_column(const GvVmPaths *paths, JsonObject *m)
{
	const char *ram = gv_template_ram_of(m);
	if (!ram)
		return g_strdup("-");
	g_autoptr(GError) err = NULL;
	if (!gv_template_check_ram(m, gv_json_string_or(m, "tag", "?"), &err))
		return g_strdup_printf("damaged: %s", err->message);
	struct stat st;
	guint64 used = stat(ram, &st) == 0 ? (guint64)st.st_blocks * 512 : 0;
	g_autoptr(GPtrArray) clones = gv_template_clones(ram);
	g_autofree char *in_ram = mb(used);
	return g_strdup_printf("RAM %s in tmpfs, %u clone%s running", in_ram, clones->len,
			       clones->len == 1 ? "" : "s");
}

/* The manifest with what list --json adds: the template's use and state. */
static void add_template_facts(JsonObject *m)
{
	const char *ram = gv_template_ram_of(m);
	if (!ram)
		return;
	JsonObject *t = gv_json_object_or_null(m, "template");
	g_autoptr(GError) err = NULL;
	if (!gv_template_check_ram(m, gv_json_string_or(m, "tag", "?"), &err)) {
		json_object_set_string_member(t, "error", err->message);
		return;
	}
	struct stat st;
	if (stat(ram, &st) == 0)
		json_object_set_int_member(t, "tmpfs-bytes", (gint64)st.st_blocks * 512);
	g_autoptr(GPtrArray) clones = gv_template_clones(ram);
	JsonArray *a = json_array_new();
	for (guint i = 0; i < clones->len; i++)
		json_array_add_string_element(a, g_ptr_array_index(clones, i));
	json_object_set_array_member(t, "clones", a);
}

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
		for (guint i = 0; i < all->len; i++) {
			add_template_facts(g_ptr_array_index(all, i));
			json_array_add_object_element(a, json_object_ref(g_ptr_array_index(all, i)));
		}
		g_autoptr(JsonNode) n = json_node_init_array(json_node_alloc(), a);
		gv_cli_print_json(n);
		return GV_EXIT_OK;
	}
	if (!all->len) {
		printf("vm %s has no snapshots\n", paths->name);
		return GV_EXIT_OK;
	}
	printf("%-20s %-19s %10s %10s  %-8s %s\n", "TAG", "SAVED", "STATE", "DISK", "MEMORY",
	       "TEMPLATE");
	for (guint i = 0; i < all->len; i++) {
		JsonObject *m = g_ptr_array_index(all, i);
		const char *tag = gv_json_string_or(m, "tag", "?");
		if (json_object_has_member(m, "error")) {
			printf("%-20s damaged: %s\n", tag, gv_json_string_or(m, "error", "?"));
			continue;
		}
		g_autoptr(GDateTime) dt = g_date_time_new_from_unix_local(
			gv_json_int_or(m, "created", 0));
		g_autofree char *when = dt ? g_date_time_format(dt, "%Y-%m-%d %H:%M:%S") : g_strdup("?");
		JsonObject *st = gv_json_object_or_null(m, "state");
		JsonObject *d = gv_json_object_or_null(m, "disk");
		g_autofree char *state = mb((guint64)(st ? gv_json_int_or(st, "bytes", 0) : 0));
		g_autofree char *disk = d ? mb((guint64)gv_json_int_or(d, "bytes", 0))
					  : g_strdup("-");
		g_autofree char *mem = g_strdup_printf("%" G_GINT64_FORMAT "M",
						       gv_json_int_or(m, "memory", 0) >> 20);
		g_autofree char *tmpl = template_column(paths, m);
		printf("%-20s %-19s %10s %10s  %-8s %s\n", tag, when, state, disk, mem, tmpl);
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
	/* A template that clones map: refused, naming them (template.h). */
	g_autoptr(JsonObject) m = gv_snapshot_manifest_read(paths, argv[2], NULL);
	if (!gv_template_check_unused(paths, argv[2], m, &err) ||
	    !gv_snapshot_remove(paths, argv[2], &err))
		return gv_cli_error(err);
	printf("grainvm: removed snapshot %s of vm %s\n", argv[2], paths->name);
	return GV_EXIT_OK;
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
	g_autoptr(JsonObject) args = json_object_new();
	json_object_set_string_member(args, "tag", tag);
	g_autoptr(JsonObject) r = run_job(ctl, "snapshot-disk", args, &err);
	if (!r)
		return gv_cli_error(err);
	const char *frozen = reply_str(r, "frozen"), *top = reply_str(r, "top");
	printf("grainvm: vm %s: disk snapshot %s taken\n"
	       "  frozen   %s (read-only from now on; usable as another VM's [disk] image)\n"
	       "  writes   %s\n", paths->name, tag, frozen ? frozen : "?", top ? top : "?");
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
