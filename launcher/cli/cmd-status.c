/* SPDX-License-Identifier: MIT */
/*
 * cmd-status.c - grainvm status and grainvm list
 *
 * A running VM is asked (its supervisor refreshes grain-status from the
 * agent); a stopped one is described from the state.json it left.  A
 * state.json that still says booting/ready while nobody holds the VM's lock
 * means the supervisor died: reported as orphaned while its QEMU still
 * runs (up adopts it, down stops it), else as crashed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli/cli-common.h"
#include "snapshot/disk-layers.h"
#include "cli/gv-cli.h"
#include "gv-error.h"
#include "boot/spec.h"
#include "liveness.h"
#include "supervisor/orphan.h"

#define STATUS_TIMEOUT_MS 5000

/* The VM's state object: live from the supervisor, else from state.json. */
static JsonObject *vm_state(const GvVmPaths *paths, GError **error)
{
	if (gv_vm_is_running(paths)) {
		g_autoptr(GError) err = NULL;
		g_autoptr(GvQmpClient) ctl = gv_cli_control(paths, &err);
		g_autoptr(JsonNode) r = ctl ? gv_qmp_execute_sync(ctl, "status", NULL,
								  STATUS_TIMEOUT_MS, &err) : NULL;
		JsonObject *live = gv_json_node_object_or_null(r);
		if (live)
			return json_object_ref(live);
		/* Running but silent: fall back to the file, and say so. */
		JsonObject *o = gv_vm_state_read(paths);
		if (o)
			json_object_set_string_member(o, "note", err ? err->message : "no answer");
		return o;
	}
	JsonObject *o = gv_vm_state_read(paths);
	if (!o) {
		if (g_file_test(paths->state_dir, G_FILE_TEST_IS_DIR)) {
			o = json_object_new();
			json_object_set_string_member(o, "name", paths->name);
			json_object_set_string_member(o, "phase", "stopped");
			return o;
		}
		g_set_error(error, GV_ERROR, GV_ERROR_STATE, "no vm named %s", paths->name);
		return NULL;
	}
	const char *phase = gv_json_string_or(o, "phase", "");
	if (!strcmp(phase, "starting") || !strcmp(phase, "booting") || !strcmp(phase, "ready") ||
	    !strcmp(phase, "stopping")) {
		int qemu = gv_vm_qemu_find(paths);
		if (qemu) {
			/* QEMU and the guest run on without a supervisor: not a crash
			 * of the VM, and either command below deals with it. */
			g_autofree char *why = g_strdup_printf(
				"the supervisor is gone but QEMU (pid %d) and the guest run on: "
				"`grainvm up` adopts it, `grainvm down` stops it", qemu);
			json_object_set_string_member(o, "phase", "orphaned");
			json_object_set_string_member(o, "reason", why);
			json_object_set_int_member(o, "qemu-pid", qemu);
			return o;
		}
		json_object_set_string_member(o, "phase", "crashed");
		json_object_set_string_member(o, "reason", "the supervisor is gone (killed or crashed)");
		json_object_remove_member(o, "qemu-pid");
	}
	return o;
}

/* The last build: state, exit, duration, and the tail of its log. */
static void print_build(JsonObject *b)
{
	const char *state = gv_json_string_or(b, "state", "?");
	if (!strcmp(state, "idle")) {
		printf("build    none yet\n");
		return;
	}
	g_autofree char *how = NULL;
	if (gv_json_has(b, "signal"))
		how = g_strdup_printf(", killed by signal %" G_GINT64_FORMAT,
				      gv_json_int_or(b, "signal", 0));
	else if (gv_json_has(b, "exit-code"))
		how = g_strdup_printf(", exit code %" G_GINT64_FORMAT,
				      gv_json_int_or(b, "exit-code", 0));
	printf("build    %s%s, %s %.1f s (pid %" G_GINT64_FORMAT "), log %" G_GINT64_FORMAT " bytes\n",
	       state, how ? how : "", !strcmp(state, "running") ? "running for" : "took",
	       gv_json_double_or(b, "duration", 0),
	       gv_json_int_or(b, "pid", 0),
	       gv_json_int_or(b, "log-size", 0));
	const char *tail = gv_json_string_or(b, "log-tail", "");
	g_auto(GStrv) lines = g_strsplit(tail, "\n", -1);
	guint n = g_strv_length(lines);
	if (n && !*lines[n - 1])
		n--;
	/* The last 10 lines; the first may be cut mid-line by the tail's size. */
	for (guint i = n > 10 ? n - 10 : 0; i < n; i++) {
		/* A summary, not the log itself: escaped like every guest string. */
		g_autofree char *line = gv_term_escape(lines[i], "\t");
		printf("  | %s\n", line);
	}
}

/*
 * "disk": the file the VM's disk writes to and the tags of the frozen
 * layers under it (grainvm snapshot disk), when the VM has a disk.
 */
static void add_disk(JsonObject *o, const GvVmPaths *paths)
{
	const char *run = gv_json_string_or(o, "run-disk", NULL);
	if (run) {
		/* Restored from a snapshot: QEMU writes this run's own overlay
		 * (removed at the end), whatever overlay.qcow2 holds. */
		JsonObject *d = json_object_new();
		json_object_set_string_member(d, "top", run);
		json_object_set_array_member(d, "disk-snapshots", json_array_new());
		json_object_set_object_member(o, "disk", d);
		return;
	}
	if (!g_file_test(paths->overlay, G_FILE_TEST_EXISTS))
		return;
	g_autoptr(JsonObject) layers = gv_disk_layers_read(paths, NULL);
	JsonObject *d = json_object_new();
	json_object_set_string_member(d, "top", layers ? gv_json_string_or(
							     layers, "top", paths->overlay)
						       : paths->overlay);
	JsonArray *tags = json_array_new();
	JsonArray *a = gv_json_array_or_null(layers, "layers");
	for (guint i = 0; a && i < json_array_get_length(a); i++) {
		JsonObject *l = gv_json_array_object_at(a, i);
		if (l)
			json_array_add_string_element(tags, gv_json_string_or(l, "tag", "?"));
	}
	json_object_set_array_member(d, "disk-snapshots", tags);
	json_object_set_object_member(o, "disk", d);
}

/* The kB figure of a "Name:   N kB" line of /proc/PID/smaps_rollup, or -1. */
static gint64 rollup_kb(const char *text, const char *name)
{
	for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		gsize n = strlen(name);
		if (!strncmp(l, name, n) && l[n] == ':')
			return g_ascii_strtoll(l + n + 1, NULL, 10);
	}
	return -1;
}

/*
 * "qemu-memory": what the running QEMU holds, guest RAM included: Rss and
 * Pss (shared pages split among their users, so that VMs sharing pages add
 * up right).  Left out when /proc does not let this user read it (QEMU run
 * as another user by a CLI that is not root).
 */
static void add_memory(JsonObject *o)
{
	/* A template VM's RAM file: what tmpfs holds for it (pages the guest touched). */
	struct stat st;
	const char *ram = gv_json_string_or(o, "ram-file", NULL);
	if (ram && stat(ram, &st) == 0)
		json_object_set_int_member(o, "ram-file-bytes", (gint64)st.st_blocks * 512);
	if (!json_object_has_member(o, "qemu-pid"))
		return;
	gint64 pid = json_object_get_int_member(o, "qemu-pid");
	g_autofree char *path = g_strdup_printf("/proc/%" G_GINT64_FORMAT "/smaps_rollup", pid);
	g_autofree char *text = NULL;
	if (pid <= 0 || !g_file_get_contents(path, &text, NULL, NULL))
		return;
	gint64 rss = rollup_kb(text, "Rss"), pss = rollup_kb(text, "Pss");
	if (rss < 0 || pss < 0)
		return;
	JsonObject *m = json_object_new();
	json_object_set_int_member(m, "rss-bytes", rss * 1024);
	json_object_set_int_member(m, "pss-bytes", pss * 1024);
	json_object_set_object_member(o, "qemu-memory", m);
}

static void print_disk(JsonObject *d)
{
	JsonArray *tags = gv_json_array_or_null(d, "disk-snapshots");
	g_autoptr(GString) s = g_string_new(NULL);
	for (guint i = 0; tags && i < json_array_get_length(tags); i++)
		g_string_append_printf(s, "%s%s", i ? ", " : " (on disk snapshots ",
				       gv_json_array_string_at(tags, i));
	if (s->len)
		g_string_append_c(s, ')');
	printf("disk     %s%s\n", gv_json_string_or(d, "top", "?"), s->str);
}

/* @o: escaped for the terminal already (gv_cli_escape_json()). */
static void print_human(JsonObject *o)
{
	const char *name = gv_json_string_or(o, "name", "?");
	const char *phase = gv_json_string_or(o, "phase", "?");
	const char *reason = gv_json_string_or(o, "reason", NULL);
	printf("name     %s\n", name);
	printf("state    %s%s%s\n", phase, reason ? ": " : "", reason ? reason : "");
	if (gv_json_has(o, "accel"))
		printf("accel    %s: %s\n", gv_json_string_or(o, "accel", "?"),
		       gv_json_string_or(o, "accel-reason", ""));
	if (gv_json_has(o, "boot"))
		printf("boot     %s\n", gv_json_string_or(o, "boot", "?"));
	JsonObject *qu = gv_json_object_or_null(o, "qemu-user");
	if (qu) {
		const char *why = gv_json_string_or(qu, "why", NULL);
		printf("user     QEMU runs as %s (uid %" G_GINT64_FORMAT ")%s%s\n",
		       gv_json_string_or(qu, "name", "?"), gv_json_int_or(qu, "uid", -1),
		       why ? ": " : "", why ? why : "");
	}
	if (gv_json_has(o, "qemu-pid"))
		printf("pid      QEMU %" G_GINT64_FORMAT ", supervisor %" G_GINT64_FORMAT "\n",
		       gv_json_int_or(o, "qemu-pid", 0),
		       gv_json_int_or(o, "supervisor-pid", 0));
	JsonObject *mem = gv_json_object_or_null(o, "qemu-memory");
	if (mem)
		printf("memory   QEMU holds %.1f MB (Pss; Rss %.1f MB)\n",
		       (double)gv_json_int_or(mem, "pss-bytes", 0) / 1e6,
		       (double)gv_json_int_or(mem, "rss-bytes", 0) / 1e6);
	if (gv_json_has(o, "ram-file"))
		printf("ram      %s, %.1f MB in tmpfs ([vm] template=true: snapshot save --template "
		       "makes it a template)\n", gv_json_string_or(o, "ram-file", "?"),
		       (double)gv_json_int_or(o, "ram-file-bytes", 0) / 1e6);
	if (gv_json_has(o, "ready-seconds"))
		printf("ready    %.1f s after QEMU started\n",
		       gv_json_double_or(o, "ready-seconds", 0));
	JsonObject *agent = gv_json_object_or_null(o, "agent");
	if (agent && !strcmp(phase, "ready")) {
		const char *which = gv_json_string_or(agent, "agent", "?");
		if (gv_json_has(agent, "uptime"))
			printf("agent    %s %s, guest up %.0f s\n", which,
			       gv_json_string_or(agent, "version", ""),
			       gv_json_double_or(agent, "uptime", 0));
		else
			printf("agent    %s %s%s\n", which,
			       gv_json_string_or(agent, "version", ""),
			       !strcmp(which, "qemu-ga")
			       ? " (the guest's own; grainvm-agent does not answer: no builds, "
				 "exec output at exit)" : "");
	}
	JsonArray *shares = gv_json_array_or_null(o, "shares");
	JsonArray *mounts = gv_json_array_or_null(agent, "mounts");
	for (guint i = 0; shares && i < json_array_get_length(shares); i++) {
		JsonObject *s = gv_json_array_object_at(shares, i);
		const char *tag = gv_json_string_or(s, "tag", "");
		/* The host exports a read-only share read-only: a guest that
		 * remounted it rw still cannot write (EROFS), so it is not writable. */
		gboolean host_ro = gv_json_bool_or(s, "readonly", FALSE);
		const char *state = "";
		for (guint j = 0; mounts && j < json_array_get_length(mounts); j++) {
			JsonObject *m = gv_json_array_object_at(mounts, j);
			if (m && !g_strcmp0(gv_json_string_or(m, "tag", ""), tag))
				state = !gv_json_bool_or(m, "mounted", FALSE)
						? ": not mounted"
					: gv_json_bool_or(m, "writable", FALSE) && !host_ro
						? ": mounted, writable" : ": mounted, read-only";
		}
		printf("share    %s -> %s (tag %s)%s\n",
		       gv_json_string_or(s, "source", "?"),
		       gv_json_string_or(s, "mount", "?"), tag,
		       strcmp(phase, "ready") ? "" : state);
	}
	if (gv_json_has(o, "disk"))
		print_disk(gv_json_object_or_null(o, "disk"));
	gv_cli_print_nics(o, "");
	JsonObject *build = gv_json_object_or_null(o, "build");
	if (build)
		print_build(build);
	if (gv_json_has(o, "console-log"))
		printf("console  %s\n", gv_json_string_or(o, "console-log", "?"));
	if (gv_json_has(o, "note"))
		printf("note     %s\n", gv_json_string_or(o, "note", "?"));
}

int gv_cmd_status(int argc, char **argv)
{
	gboolean json = FALSE;
	const GOptionEntry entries[] = {
		{ "json", 0, 0, G_OPTION_ARG_NONE, &json, "Print the state object as JSON", NULL },
		{ NULL },
	};
	int code;
	if (!gv_cli_parse(&argc, &argv, entries, "[NAME]",
			  "Show a VM's state (starting, booting, ready, stopping, stopped, crashed, failed) "
			  "and why, its accelerator, boot path, QEMU's memory, shares, disk, NICs, forwards and "
			  "guest addresses.", &code))
		return code;
	if (argc > 2) {
		g_printerr("grainvm status: too many arguments\n");
		return GV_EXIT_INVALID;
	}
	g_autoptr(GError) err = NULL;
	g_autoptr(GvVmPaths) paths = gv_cli_vm_paths(argc == 2 ? argv[1] : NULL, &err);
	if (!paths)
		return gv_cli_error(err);
	g_autoptr(JsonObject) o = vm_state(paths, &err);
	if (!o)
		return gv_cli_error(err);
	add_disk(o, paths);
	add_memory(o);
	if (json) {
		g_autoptr(JsonNode) n = json_node_init_object(json_node_alloc(), o);
		gv_cli_print_json(n);
	} else {
		g_autoptr(JsonNode) n = json_node_init_object(json_node_alloc(), o);
		g_autoptr(JsonNode) safe = gv_cli_escaped_json(n);
		print_human(json_node_get_object(safe));
	}
	return GV_EXIT_OK;
}

static void collect_names(GHashTable *names, const char *root)
{
	g_autoptr(GDir) d = g_dir_open(root, 0, NULL);
	const char *n;
	while (d && (n = g_dir_read_name(d))) {
		g_autofree char *p = g_build_filename(root, n, NULL);
		/* Not every directory is a VM: switch networks live in .networks. */
		if (gv_spec_name_valid(n) && g_file_test(p, G_FILE_TEST_IS_DIR))
			g_hash_table_add(names, g_strdup(n));
	}
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int gv_cmd_list(int argc, char **argv)
{
	gboolean json = FALSE;
	const GOptionEntry entries[] = {
		{ "json", 0, 0, G_OPTION_ARG_NONE, &json, "Print a JSON array of state objects", NULL },
		{ NULL },
	};
	int code;
	if (!gv_cli_parse(&argc, &argv, entries, "", "List every VM grainvm knows of.", &code))
		return code;
	g_autoptr(GHashTable) names = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	g_autofree char *state_root = gv_state_root();
	g_autofree char *run_root = gv_runtime_root();
	collect_names(names, state_root);
	collect_names(names, run_root);
	g_autofree const char **sorted = (const char **)g_hash_table_get_keys_as_array(names, NULL);
	qsort(sorted, g_hash_table_size(names), sizeof(char *), cmp_str);

	g_autoptr(JsonArray) arr = json_array_new();
	if (!json)
		printf("%-24s %-9s %-6s %s\n", "NAME", "STATE", "ACCEL", "REASON");
	for (guint i = 0; i < g_hash_table_size(names); i++) {
		g_autoptr(GError) err = NULL;
		g_autoptr(GvVmPaths) paths = gv_vm_paths_new(sorted[i], &err);
		g_autoptr(JsonObject) o = paths ? vm_state(paths, &err) : NULL;
		if (!o)
			continue;
		if (json) {
			json_array_add_object_element(arr, json_object_ref(o));
			continue;
		}
		g_autoptr(JsonNode) n = json_node_init_object(json_node_alloc(), o);
		g_autoptr(JsonNode) safe = gv_cli_escaped_json(n);
		JsonObject *so = json_node_get_object(safe);
		printf("%-24s %-9s %-6s %s\n", sorted[i],
		       gv_json_string_or(so, "phase", "?"),
		       gv_json_string_or(so, "accel", "-"),
		       gv_json_string_or(so, "reason", ""));
	}
	if (json) {
		g_autoptr(JsonNode) n = json_node_init_array(json_node_alloc(), arr);
		gv_cli_print_json(n);
	}
	return GV_EXIT_OK;
}
