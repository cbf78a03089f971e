/* SPDX-License-Identifier: MIT */
/*
 * cmd-clone.c - grainvm clone VM:TAG NEWNAME [--count N]
 *
 * A clone is an ordinary VM started with `grainvm up NEWNAME --from
 * VM:TAG` (snapshot.h: a template restores as a clone), so this command
 * only checks its arguments and the template once, then runs one such
 * `up` per clone, all at once, and reports each as ready or failed.
 * Running `up` itself, rather than its code in threads, keeps each
 * clone's failure its own: a clone that fails is cleaned up by its own
 * `up`, exactly as a single failed `up` would be, and leaves the others
 * running.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib-unix.h>

#include "cli/cli-common.h"
#include "cli/gv-cli.h"
#include "gv-error.h"
#include "liveness.h"
#include "snapshot/snapshot.h"
#include "snapshot/template.h"

/* Enough for a test suite's fan-out; each clone is a QEMU and a supervisor. */
#define COUNT_MAX 64

typedef struct {
	char *name;
	GPid pid;
	int out_fd, err_fd;
	GString *out, *err;
	int status;
} Child;

static void child_clear(Child *c)
{
	g_free(c->name);
	if (c->out)
		g_string_free(c->out, TRUE);
	if (c->err)
		g_string_free(c->err, TRUE);
}

/* Read @fd to its end into @s (bounded: `up` writes a few lines). */
static void slurp(int fd, GString *s)
{
	char buf[4096];
	ssize_t n;
	while ((n = read(fd, buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR))
		if (n > 0 && s->len < (1u << 20))
			g_string_append_len(s, buf, n);
	close(fd);
}

typedef struct {
	Child *c;
	gboolean err;
} Reader;

static gpointer reader_main(gpointer data)
{
	Reader *r = data;
	slurp(r->err ? r->c->err_fd : r->c->out_fd, r->err ? r->c->err : r->c->out);
	return NULL;
}

int gv_cmd_clone(int argc, char **argv)
{
	gint count = 1;
	gboolean json = FALSE;
	g_autofree char *file = NULL;
	g_auto(GStrv) sets = NULL;
	const GOptionEntry entries[] = {
		{ "count", 'n', 0, G_OPTION_ARG_INT, &count, "Start N clones, NEWNAME-1 to NEWNAME-N, together", "N" },
		{ "file", 'f', 0, G_OPTION_ARG_FILENAME, &file, "Spec file instead of ./grainvm.conf", "FILE" },
		{ "set", 's', 0, G_OPTION_ARG_STRING_ARRAY, &sets, "Override a spec key (repeatable)", "GROUP.KEY=VALUE" },
		{ "json", 0, 0, G_OPTION_ARG_NONE, &json, "Print a JSON array: each clone's ready report, or its error", NULL },
		{ NULL },
	};
	int code;
	if (!gv_cli_parse(&argc, &argv, entries, "VM:TAG NEWNAME",
			  "Start new VMs from template TAG of VM (grainvm snapshot save --template): "
			  "each maps the template's RAM copy-on-write and gets its own name, MAC, "
			  "hostname, disk overlay and shares (this directory's spec, as for up).",
			  &code))
		return code;
	if (argc != 3) {
		g_printerr("grainvm clone: usage: grainvm clone [--count N] VM:TAG NEWNAME\n");
		return GV_EXIT_INVALID;
	}
	g_autoptr(GError) err = NULL;
	const char *src = argv[1], *colon = strchr(src, ':');
	g_autofree char *vm = colon ? g_strndup(src, (gsize)(colon - src)) : NULL;
	if (!colon || !gv_spec_name_valid(vm) || !gv_snapshot_check_tag(colon + 1, NULL)) {
		g_printerr("grainvm clone: \"%s\" is not VM:TAG (a template: grainvm snapshot list VM)\n",
			   src);
		return GV_EXIT_INVALID;
	}
	if (count < 1 || count > COUNT_MAX) {
		g_printerr("grainvm clone: --count %d is not 1 to %d\n", count, COUNT_MAX);
		return GV_EXIT_INVALID;
	}
	/* Every name first: nothing starts unless all are valid. */
	g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
	for (int i = 1; i <= count; i++) {
		char *n = count == 1 ? g_strdup(argv[2]) : g_strdup_printf("%s-%d", argv[2], i);
		g_ptr_array_add(names, n);
		if (!gv_spec_name_valid(n) || !strcmp(n, vm)) {
			g_printerr("grainvm clone: invalid clone name \"%s\" (1-63 of A-Z a-z 0-9 _ . -, "
				   "not starting with . or -, not the template's VM)\n", n);
			return GV_EXIT_INVALID;
		}
	}
	/* The template once, so that N clones do not say the same thing N times. */
	g_autoptr(GvVmPaths) from = gv_cli_vm_paths(vm, &err);
	if (!from)
		return gv_cli_error(err);
	g_autoptr(JsonObject) m = gv_snapshot_manifest_read(from, colon + 1, &err);
	if (!m || !gv_template_require(m, vm, colon + 1, &err) ||
	    !gv_template_check_ram(m, colon + 1, &err))
		return gv_cli_error(err);

	g_autofree char *exe = g_file_read_link("/proc/self/exe", &err);
	if (!exe)
		return gv_cli_error(err);
	Child *kids = g_new0(Child, count);
	GThread **readers = g_new0(GThread *, 2 * count);
	Reader *rd = g_new0(Reader, 2 * count);
	gint64 t0 = g_get_monotonic_time();
	int started = 0;
	for (int i = 0; i < count; i++) {
		Child *c = &kids[i];
		c->name = g_strdup(g_ptr_array_index(names, i));
		g_autoptr(GPtrArray) a = g_ptr_array_new();
		g_ptr_array_add(a, exe);
		g_ptr_array_add(a, "up");
		g_ptr_array_add(a, "--json");
		g_ptr_array_add(a, "--from");
		g_ptr_array_add(a, (gpointer)src);
		if (file) {
			g_ptr_array_add(a, "-f");
			g_ptr_array_add(a, file);
		}
		for (char **s = sets; s && *s; s++) {
			g_ptr_array_add(a, "--set");
			g_ptr_array_add(a, *s);
		}
		g_ptr_array_add(a, c->name);
		g_ptr_array_add(a, NULL);
		if (!g_spawn_async_with_pipes(NULL, (char **)a->pdata, NULL,
					      G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL, &c->pid, NULL,
					      &c->out_fd, &c->err_fd, &err)) {
			c->status = -1;
			c->err = g_string_new(err->message);
			g_clear_error(&err);
			continue;
		}
		c->out = g_string_new(NULL);
		c->err = g_string_new(NULL);
		rd[2 * i] = (Reader){ c, FALSE };
		rd[2 * i + 1] = (Reader){ c, TRUE };
		readers[2 * i] = g_thread_new("gv-clone-out", reader_main, &rd[2 * i]);
		readers[2 * i + 1] = g_thread_new("gv-clone-err", reader_main, &rd[2 * i + 1]);
		started++;
	}
	int first_bad = 0, ready = 0;
	g_autoptr(JsonArray) report = json_array_new();
	for (int i = 0; i < count; i++) {
		Child *c = &kids[i];
		if (c->pid > 0) {
			int st = 0;
			while (waitpid(c->pid, &st, 0) < 0 && errno == EINTR)
				;
			g_spawn_close_pid(c->pid);
			c->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
			g_thread_join(readers[2 * i]);
			g_thread_join(readers[2 * i + 1]);
		}
		double s = (double)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC;
		g_autoptr(JsonObject) ev = c->status == 0 && c->out->len
			? gv_json_parse_object(c->out->str, (gssize)c->out->len, NULL) : NULL;
		/* `up`'s stderr: its last line is the one-line error. */
		g_autofree char *why = g_strdup(g_strstrip(c->err->str));
		char *nl = strrchr(why, '\n');
		const char *last = nl ? nl + 1 : why;
		if (g_str_has_prefix(last, "grainvm: console log:") && nl) {
			*nl = '\0';
			nl = strrchr(why, '\n');
			last = nl ? nl + 1 : why;
		}
		if (c->status == 0 && ev) {
			ready++;
			if (json) {
				json_array_add_object_element(report, json_object_ref(ev));
			} else {
				g_autofree char *safe = gv_term_escape(c->name, NULL);
				printf("grainvm: clone %s is ready (%.2f s from QEMU's start, %.2f s after "
				       "clone began)\n", safe,
				       gv_json_double_or(ev, "ready-seconds", 0), s);
			}
			continue;
		}
		if (!first_bad)
			first_bad = c->status > 0 ? c->status : GV_EXIT_FAILED;
		g_autofree char *safe = gv_term_escape(*last ? last : "failed without a message",
						       NULL);
		if (json) {
			JsonObject *o = json_object_new();
			json_object_set_string_member(o, "name", c->name);
			json_object_set_string_member(o, "event", "failed");
			json_object_set_string_member(o, "message", *last ? last : "failed");
			json_object_set_int_member(o, "exit-code", c->status);
			json_array_add_object_element(report, o);
		} else {
			g_printerr("grainvm: clone %s failed (exit %d): %s\n", c->name, c->status,
				   g_str_has_prefix(safe, "grainvm: ") ? safe + 9 : safe);
		}
	}
	if (json) {
		g_autoptr(JsonNode) n = json_node_init_array(json_node_alloc(), json_array_ref(report));
		gv_cli_print_json(n);
	} else if (count > 1) {
		printf("grainvm: %d of %d clones of %s ready in %.2f s\n", ready, count, src,
		       (double)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC);
	}
	for (int i = 0; i < count; i++)
		child_clear(&kids[i]);
	g_free(kids);
	g_free(readers);
	g_free(rd);
	(void)started;
	return first_bad;
}
