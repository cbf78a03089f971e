/* SPDX-License-Identifier: MIT */
/*
 * snapshot-match.c - does a QEMU command line fit a saved state? (pure)
 *
 * QEMU loads a migration stream into the devices its own command line
 * created and fails, or worse half-works, when they differ: RAM of
 * another size, a device more or less, another machine type.  grainvm's
 * argv is a pure function of the spec (argv.c), so comparing the argv of
 * the save with the argv a restore would use catches every spec change
 * that reaches QEMU, including ones added to argv.c after this file.
 * What may differ is taken out first (gv_snapshot_argv_normalize()); the
 * rest is compared option by option, so the message can say "memory"
 * rather than "argument 9".
 */
#include "snapshot/snapshot.h"

#include <string.h>

/* Names for the options argv.c writes; anything else is shown as is. */
static const struct {
	const char *opt;
	const char *what;
} option_names[] = {
	{ "-name", "VM name" },
	{ "-machine", "machine type" },
	{ "-accel", "accelerator" },
	{ "-cpu", "CPU model" },
	{ "-m", "memory" },
	{ "-smp", "CPUs" },
	{ "-kernel", "kernel" },
	{ "-initrd", "initrd" },
	{ "-append", "kernel command line" },
	{ "-device", "device" },
	{ "-fsdev", "share" },
	{ "-netdev", "network" },
	{ "-blockdev", "disk" },
	{ "-drive", "firmware drive" },
	{ "-chardev", "character device" },
};

static const char *option_name(const char *opt)
{
	for (gsize i = 0; i < G_N_ELEMENTS(option_names); i++)
		if (!strcmp(option_names[i].opt, opt))
			return option_names[i].what;
	return opt;
}

/* Does argv[i] take a value?  Every option argv.c writes does, but these. */
static gboolean is_flag(const char *opt)
{
	static const char *const flags[] = { "-nodefaults", "-no-user-config", "-no-reboot", "-S" };
	for (gsize i = 0; i < G_N_ELEMENTS(flags); i++)
		if (!strcmp(flags[i], opt))
			return TRUE;
	return FALSE;
}

/*
 * Remove key=VALUE from a QEMU option string ("a=1,filename=x,,y,b=2"),
 * honouring ",," as an escaped comma.
 */
static char *drop_key(const char *value, const char *key)
{
	GString *out = g_string_new(NULL);
	gsize klen = strlen(key);
	const char *p = value;

	while (*p) {
		/* One item: up to a single comma. */
		const char *e = p;
		while (*e && !(e[0] == ',' && e[1] != ',')) {
			if (e[0] == ',' && e[1] == ',')
				e++;
			e++;
		}
		gboolean skip = !strncmp(p, key, klen) && p[klen] == '=';
		if (!skip) {
			if (out->len)
				g_string_append_c(out, ',');
			g_string_append_len(out, p, e - p);
		}
		p = *e ? e + 1 : e;
	}
	return g_string_free(out, FALSE);
}

char **gv_snapshot_argv_normalize(const char *const *argv)
{
	GPtrArray *a = g_ptr_array_new();

	for (gsize i = argv[0] ? 1 : 0; argv[i]; i++) {
		const char *opt = argv[i];
		const char *val = !is_flag(opt) && opt[0] == '-' ? argv[i + 1] : NULL;
		if (!strcmp(opt, "-incoming")) {
			i += val ? 1 : 0;
			continue;
		}
		g_ptr_array_add(a, g_strdup(opt));
		if (!val)
			continue;
		i++;
		if (!strcmp(opt, "-blockdev") && g_str_has_prefix(val, "driver=file,"))
			g_ptr_array_add(a, drop_key(val, "filename"));
		else if (!strcmp(opt, "-fsdev"))
			g_ptr_array_add(a, drop_key(val, "path"));
		else if (!strcmp(opt, "-object") && g_str_has_prefix(val, "memory-backend-file,")) {
			/* A template's RAM file and its clones' mapping of it. */
			g_autofree char *v = drop_key(val, "mem-path");
			g_ptr_array_add(a, drop_key(v, "share"));
		}
		else
			g_ptr_array_add(a, g_strdup(val));
	}
	g_ptr_array_add(a, NULL);
	return (char **)g_ptr_array_free(a, FALSE);
}

char **gv_snapshot_argv_without_identity(const char *const *norm)
{
	GPtrArray *a = g_ptr_array_new();
	for (gsize i = 0; norm[i]; i++) {
		const char *opt = norm[i];
		const char *val = !is_flag(opt) && opt[0] == '-' ? norm[i + 1] : NULL;
		if (val)
			i++;
		if (!strcmp(opt, "-name") || !strcmp(opt, "-append"))
			continue;
		g_ptr_array_add(a, g_strdup(opt));
		if (!val)
			continue;
		if (!strcmp(opt, "-device") && g_str_has_prefix(val, "virtio-net-pci,"))
			g_ptr_array_add(a, drop_key(val, "mac"));
		else
			g_ptr_array_add(a, g_strdup(val));
	}
	g_ptr_array_add(a, NULL);
	return (char **)g_ptr_array_free(a, FALSE);
}

/* option -> GPtrArray of values (NULL for a flag), in order. */
static GHashTable *options_of(const char *const *argv, GPtrArray *order)
{
	GHashTable *t = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
					      (GDestroyNotify)g_ptr_array_unref);
	for (gsize i = 0; argv[i]; i++) {
		const char *opt = argv[i];
		const char *val = !is_flag(opt) && opt[0] == '-' ? argv[i + 1] : NULL;
		GPtrArray *vals = g_hash_table_lookup(t, opt);
		if (!vals) {
			vals = g_ptr_array_new();
			g_hash_table_insert(t, (gpointer)opt, vals);
			if (order)
				g_ptr_array_add(order, (gpointer)opt);
		}
		g_ptr_array_add(vals, (gpointer)(val ? val : ""));
		if (val)
			i++;
	}
	return t;
}

static gboolean contains(GPtrArray *vals, const char *v)
{
	for (guint i = 0; vals && i < vals->len; i++)
		if (!strcmp(g_ptr_array_index(vals, i), v))
			return TRUE;
	return FALSE;
}

static void compare_option(GString *out, const char *opt, GPtrArray *was, GPtrArray *is)
{
	const char *what = option_name(opt);
	guint nwas = was ? was->len : 0, nis = is ? is->len : 0;

	if (nwas == 1 && nis == 1) {
		const char *a = g_ptr_array_index(was, 0), *b = g_ptr_array_index(is, 0);
		if (strcmp(a, b))
			g_string_append_printf(out, "%s%s: %s now, %s in the snapshot",
					       out->len ? "; " : "", what, *b ? b : "set",
					       *a ? a : "set");
		return;
	}
	/* Repeated or missing: name what came and what went. */
	for (guint i = 0; i < nis; i++) {
		const char *v = g_ptr_array_index(is, i);
		if (!contains(was, v))
			g_string_append_printf(out, "%s%s %s is new", out->len ? "; " : "",
					       *v ? what : "option", *v ? v : opt);
	}
	for (guint i = 0; i < nwas; i++) {
		const char *v = g_ptr_array_index(was, i);
		if (!contains(is, v))
			g_string_append_printf(out, "%s%s %s is gone", out->len ? "; " : "",
					       *v ? what : "option", *v ? v : opt);
	}
	/* Same values, other order (devices are created in argv order). */
	if (!out->len && nwas == nis) {
		for (guint i = 0; i < nis; i++) {
			if (strcmp(g_ptr_array_index(was, i), g_ptr_array_index(is, i))) {
				g_string_append_printf(out, "%s: the order differs", what);
				break;
			}
		}
	}
}

char *gv_snapshot_argv_diff(const char *const *saved, const char *const *now)
{
	g_autoptr(GPtrArray) order = g_ptr_array_new();
	g_autoptr(GHashTable) was = options_of(saved, order);
	g_autoptr(GHashTable) is = options_of(now, order);
	g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);
	GString *out = g_string_new(NULL);

	for (guint i = 0; i < order->len; i++) {
		const char *opt = g_ptr_array_index(order, i);
		if (!g_hash_table_add(seen, (gpointer)opt))
			continue;
		GString *one = g_string_new(NULL);
		compare_option(one, opt, g_hash_table_lookup(was, opt), g_hash_table_lookup(is, opt));
		if (one->len)
			g_string_append_printf(out, "%s%s", out->len ? "; " : "", one->str);
		g_string_free(one, TRUE);
	}
	if (!out->len) {
		g_string_free(out, TRUE);
		return NULL;
	}
	return g_string_free(out, FALSE);
}
