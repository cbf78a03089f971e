/* SPDX-License-Identifier: MIT */
/*
 * cmd-status.c - grainvm status and grainvm list
 *
 * A running VM is asked (its supervisor refreshes grain-status from the
 * agent); a stopped one is described from the state.json it left.  A
 * state.json that still says booting/ready while nobody holds the VM's lock
 * means the supervisor died: that is reported as crashed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli-common.h"
#include "snapshot/disk-layers.h"
#include "cli/gv-cli.h"
#include "gv-error.h"
#include "boot/spec.h"
#include "liveness.h"

#define STATUS_TIMEOUT_MS 5000

/* The VM's state object: live from the supervisor, else from state.json. */
static JsonObject *vm_state(const GvVmPaths *paths, GError **error)
{
	if (gv_vm_is_running(paths)) {
		g_autoptr(GError) err = NULL;
		g_autoptr(GvQmpClient) ctl = gv_cli_control(paths, &err);
		g_autoptr(JsonNode) r = ctl ? gv_qmp_execute_sync(ctl, "status", NULL,
								  STATUS_TIMEOUT_MS, &err) : NULL;
		if (r && JSON_NODE_HOLDS_OBJECT(r))
			return json_object_ref(json_node_get_object(r));
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
	const char *phase = json_object_get_string_member_with_default(o, "phase", "");
	if (!strcmp(phase, "starting") || !strcmp(phase, "booting") || !strcmp(phase, "ready") ||
	    !strcmp(phase, "stopping")) {
		json_object_set_string_member(o, "phase", "crashed");
		json_object_set_string_member(o, "reason", "the supervisor is gone (killed or crashed)");
		json_object_remove_member(o, "qemu-pid");
	}
	return o;
}

/* The last build: state, exit, duration, and the tail of its log. */
static void print_build(JsonObject *b)
{
	const char *state = json_object_get_string_member_with_default(b, "state", "?");
	if (!strcmp(state, "idle")) {
		printf("build    none yet\n");
		return;
	}
	g_autofree char *how = NULL;
	if (json_object_has_member(b, "signal"))
		how = g_strdup_printf(", killed by signal %" G_GINT64_FORMAT,
				      json_object_get_int_member_with_default(b, "signal", 0));
	else if (json_object_has_member(b, "exit-code"))
		how = g_strdup_printf(", exit code %" G_GINT64_FORMAT,
				      json_object_get_int_member_with_default(b, "exit-code", 0));
	printf("build    %s%s, %s %.1f s (pid %" G_GINT64_FORMAT "), log %" G_GINT64_FORMAT " bytes\n",
	       state, how ? how : "", !strcmp(state, "running") ? "running for" : "took",
	       json_object_get_double_member_with_default(b, "duration", 0),
	       json_object_get_int_member_with_default(b, "pid", 0),
	       json_object_get_int_member_with_default(b, "log-size", 0));
	const char *tail = json_object_get_string_member_with_default(b, "log-tail", "");
	g_auto(GStrv) lines = g_strsplit(tail, "\n", -1);
	guint n = g_strv_length(lines);
	if (n && !*lines[n - 1])
		n--;
	/* The last 10 lines; the first may be cut mid-line by the tail's size. */
	for (guint i = n > 10 ? n - 10 : 0; i < n; i++)
		printf("  | %s\n", lines[i]);
}

/*
 * "disk": the file the VM's disk writes to and the tags of the frozen
 * layers under it (grainvm snapshot disk), when the VM has a disk.
 */
static void add_disk(JsonObject *o, const GvVmPaths *paths)
{
	const char *run = json_object_get_string_member_with_default(o, "run-disk", NULL);
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
	json_object_set_string_member(d, "top", layers ? json_object_get_string_member_with_default(
							     layers, "top", paths->overlay)
						       : paths->overlay);
	JsonArray *tags = json_array_new();
	JsonArray *a = layers ? json_object_get_array_member(layers, "layers") : NULL;
	for (guint i = 0; a && i < json_array_get_length(a); i++) {
		JsonNode *n = json_array_get_element(a, i);
		if (JSON_NODE_HOLDS_OBJECT(n))
			json_array_add_string_element(
				tags, json_object_get_string_member_with_default(
					      json_node_get_object(n), "tag", "?"));
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
	JsonArray *tags = json_object_get_array_member(d, "disk-snapshots");
	g_autoptr(GString) s = g_string_new(NULL);
	for (guint i = 0; tags && i < json_array_get_length(tags); i++)
		g_string_append_printf(s, "%s%s", i ? ", " : " (on disk snapshots ",
				       json_array_get_string_element(tags, i));
	if (s->len)
		g_string_append_c(s, ')');
	printf("disk     %s%s\n", json_object_get_string_member_with_default(d, "top", "?"), s->str);
}

static void print_human(JsonObject *o)
{
	const char *name = json_object_get_string_member_with_default(o, "name", "?");
	const char *phase = json_object_get_string_member_with_default(o, "phase", "?");
	const char *reason = json_object_get_string_member_with_default(o, "reason", NULL);
	printf("name     %s\n", name);
	printf("state    %s%s%s\n", phase, reason ? ": " : "", reason ? reason : "");
	if (json_object_has_member(o, "accel"))
		printf("accel    %s: %s\n", json_object_get_string_member(o, "accel"),
		       json_object_get_string_member_with_default(o, "accel-reason", ""));
	if (json_object_has_member(o, "boot"))
		printf("boot     %s\n", json_object_get_string_member(o, "boot"));
	if (json_object_has_member(o, "qemu-pid"))
		printf("pid      QEMU %" G_GINT64_FORMAT ", supervisor %" G_GINT64_FORMAT "\n",
		       json_object_get_int_member(o, "qemu-pid"),
		       json_object_get_int_member_with_default(o, "supervisor-pid", 0));
	if (json_object_has_member(o, "qemu-memory")) {
		JsonObject *m = json_object_get_object_member(o, "qemu-memory");
		printf("memory   QEMU holds %.1f MB (Pss; Rss %.1f MB)\n",
		       (double)json_object_get_int_member_with_default(m, "pss-bytes", 0) / 1e6,
		       (double)json_object_get_int_member_with_default(m, "rss-bytes", 0) / 1e6);
	}
	if (json_object_has_member(o, "ready-seconds"))
		printf("ready    %.1f s after QEMU started\n",
		       json_object_get_double_member(o, "ready-seconds"));
	JsonObject *agent = json_object_has_member(o, "agent")
				    ? json_object_get_object_member(o, "agent") : NULL;
	if (agent && !strcmp(phase, "ready")) {
		const char *which = json_object_get_string_member_with_default(agent, "agent", "?");
		if (json_object_has_member(agent, "uptime"))
			printf("agent    %s %s, guest up %.0f s\n", which,
			       json_object_get_string_member_with_default(agent, "version", ""),
			       json_object_get_double_member_with_default(agent, "uptime", 0));
		else
			printf("agent    %s %s%s\n", which,
			       json_object_get_string_member_with_default(agent, "version", ""),
			       !strcmp(which, "qemu-ga")
			       ? " (the guest's own; grainvm-agent does not answer: no builds, "
				 "exec output at exit)" : "");
	}
	JsonArray *shares = json_object_has_member(o, "shares")
				    ? json_object_get_array_member(o, "shares") : NULL;
	JsonArray *mounts = agent && json_object_has_member(agent, "mounts")
				    ? json_object_get_array_member(agent, "mounts") : NULL;
	for (guint i = 0; shares && i < json_array_get_length(shares); i++) {
		JsonObject *s = json_array_get_object_element(shares, i);
		const char *tag = json_object_get_string_member_with_default(s, "tag", "");
		const char *state = "";
		for (guint j = 0; mounts && j < json_array_get_length(mounts); j++) {
			JsonObject *m = json_array_get_object_element(mounts, j);
			if (m && !g_strcmp0(json_object_get_string_member_with_default(m, "tag", ""), tag))
				state = !json_object_get_boolean_member_with_default(m, "mounted", FALSE)
						? ": not mounted"
					: json_object_get_boolean_member_with_default(m, "writable", FALSE)
						? ": mounted, writable" : ": mounted, read-only";
		}
		printf("share    %s -> %s (tag %s)%s\n",
		       json_object_get_string_member_with_default(s, "source", "?"),
		       json_object_get_string_member_with_default(s, "mount", "?"), tag,
		       strcmp(phase, "ready") ? "" : state);
	}
	if (json_object_has_member(o, "disk"))
		print_disk(json_object_get_object_member(o, "disk"));
	gv_cli_print_nics(o, "");
	JsonObject *build = json_object_has_member(o, "build")
				    ? json_object_get_object_member(o, "build") : NULL;
	if (build)
		print_build(build);
	if (json_object_has_member(o, "console-log"))
		printf("console  %s\n", json_object_get_string_member(o, "console-log"));
	if (json_object_has_member(o, "note"))
		printf("note     %s\n", json_object_get_string_member(o, "note"));
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
		print_human(o);
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
		printf("%-24s %-9s %-6s %s\n", sorted[i],
		       json_object_get_string_member_with_default(o, "phase", "?"),
		       json_object_get_string_member_with_default(o, "accel", "-"),
		       json_object_get_string_member_with_default(o, "reason", ""));
	}
	if (json) {
		g_autoptr(JsonNode) n = json_node_init_array(json_node_alloc(), arr);
		gv_cli_print_json(n);
	}
	return GV_EXIT_OK;
}
