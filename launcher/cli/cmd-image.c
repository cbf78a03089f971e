/* SPDX-License-Identifier: MIT */
/*
 * cmd-image.c - `grainvm image`: create, inspect, convert and build disks
 *
 * A thin front end over libgvimage (image/grainvm-image.h): each
 * subcommand parses its own options with a GOptionContext, calls one
 * library function and prints the result.  Errors go through
 * gv_cli_error(), which maps them to the exit codes of docs/errors.md
 * (GV_IMAGE_ERROR_INVALID, _NOT_FOUND, _CORRUPT and _UNSUPPORTED are bad
 * input, exit 2; the rest exit 1).  Option errors are re-raised as
 * GV_IMAGE_ERROR_INVALID so that they map to 2 as well.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli-common.h"
#include "cli/gv-cli.h"
#include "grainvm-image.h"
#include "gv-chain.h"

typedef struct {
	const char *name;
	GvCommandFunc handler;
	const char *args;
	const char *summary;
} ImageCommand;

static const ImageCommand *find_command(const char *name);

/*
 * Parse @argv with @entries; on error set GV_IMAGE_ERROR_INVALID.  --help
 * is an ordinary flag (gv_cli_add_help()): the help is printed and *rest is
 * left NULL, which callers treat as "done, exit 0".
 */
static gboolean parse_options(int argc, char **argv, const char *sub, const GOptionEntry *entries,
			      const GOptionEntry *more, GStrv *rest, GError **error)
{
	gboolean help = FALSE;
	const ImageCommand *cmd = find_command(sub);
	g_autofree char *param = g_strdup_printf("image %s %s", sub, cmd->args);
	g_autoptr(GOptionContext) ctx = g_option_context_new(param);
	g_autoptr(GError) local = NULL;
	/* GOptionContext wants argv[0] to be the program; drop "image". */
	g_auto(GStrv) args = g_new0(char *, (gsize)argc + 1);

	args[0] = g_strdup(g_get_prgname() ? g_get_prgname() : "grainvm");
	for (int i = 1; i < argc; i++)
		args[i] = g_strdup(argv[i]);
	g_option_context_set_summary(ctx, cmd->summary);
	g_option_context_add_main_entries(ctx, entries, NULL);
	if (more)
		g_option_context_add_main_entries(ctx, more, NULL);
	gv_cli_add_help(ctx, &help);
	if (!g_option_context_parse_strv(ctx, &args, &local)) {
		g_set_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_INVALID, "image %s: %s", sub,
			    local->message);
		return FALSE;
	}
	if (help) {
		gv_cli_print_help(ctx);
		*rest = NULL;
		return TRUE;
	}
	*rest = g_steal_pointer(&args);
	return TRUE;
}

/* Operands after the program name; exactly @min..@max of them. */
static gboolean operands(GStrv rest, guint min, guint max, const char *sub, GError **error)
{
	guint n = g_strv_length(rest) - 1;

	if (n < min || n > max) {
		const ImageCommand *cmd = find_command(sub);
		g_set_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_INVALID,
			    "usage: grainvm image %s %s", sub, cmd->args);
		return FALSE;
	}
	return TRUE;
}

static gboolean parse_cluster_size(const char *text, guint32 *out, GError **error)
{
	guint64 v = 0;

	if (text && !gv_image_parse_size(text, &v, error))
		return FALSE;
	if (v > G_MAXUINT32) {
		g_set_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_INVALID,
			    "cluster size %s too large", text);
		return FALSE;
	}
	*out = (guint32)v;
	return TRUE;
}

/* ------------------------------------------------------------------------ */

static int cmd_create(int argc, char **argv)
{
	g_autofree char *backing = NULL, *backing_format = NULL, *cluster = NULL;
	const GOptionEntry entries[] = {
		{ "backing", 'b', 0, G_OPTION_ARG_FILENAME, &backing, "Make an overlay of BASE",
		  "BASE" },
		{ "backing-format", 'F', 0, G_OPTION_ARG_STRING, &backing_format,
		  "Format of BASE (qcow2 or raw; probed if omitted)", "FMT" },
		{ "cluster-size", 0, 0, G_OPTION_ARG_STRING, &cluster, "Cluster size (default 64K)",
		  "N" },
		{ NULL },
	};
	g_autoptr(GError) error = NULL;
	g_auto(GStrv) rest = NULL;
	g_autofree char *recorded = NULL;
	guint64 size = 0;
	guint32 cluster_size = 0;

	if (!parse_options(argc, argv, "create", entries, NULL, &rest, &error))
		return gv_cli_error(error);
	if (!rest)
		return 0; /* --help */
	if (!operands(rest, backing ? 1 : 2, 2, "create", &error) ||
	    (rest[2] && !gv_image_parse_size(rest[2], &size, &error)) ||
	    !parse_cluster_size(cluster, &cluster_size, &error))
		return gv_cli_error(error);
	if (backing && !(recorded = gv_image_backing_name_for(rest[1], backing, &error)))
		return gv_cli_error(error);
	if (!gv_image_create_qcow2(rest[1], size, recorded, backing_format, cluster_size, &error))
		return gv_cli_error(error);
	return 0;
}

static int cmd_overlay(int argc, char **argv)
{
	g_autofree char *cluster = NULL, *backing_format = NULL;
	const GOptionEntry entries[] = {
		{ "backing-format", 'F', 0, G_OPTION_ARG_STRING, &backing_format,
		  "Format of BASE (qcow2 or raw; probed if omitted)", "FMT" },
		{ "cluster-size", 0, 0, G_OPTION_ARG_STRING, &cluster, "Cluster size (default 64K)",
		  "N" },
		{ NULL },
	};
	g_autoptr(GError) error = NULL;
	g_auto(GStrv) rest = NULL;
	g_autofree char *recorded = NULL;
	guint32 cluster_size = 0;

	if (!parse_options(argc, argv, "overlay", entries, NULL, &rest, &error))
		return gv_cli_error(error);
	if (!rest)
		return 0; /* --help */
	if (!operands(rest, 2, 2, "overlay", &error) ||
	    !parse_cluster_size(cluster, &cluster_size, &error) ||
	    !(recorded = gv_image_backing_name_for(rest[2], rest[1], &error)) ||
	    !gv_image_create_qcow2(rest[2], 0, recorded, backing_format, cluster_size, &error))
		return gv_cli_error(error);
	return 0;
}

/*
 * "2 GiB", "1.5 MiB", "512 B": qemu-img's style (three significant
 * digits, plain ASCII space), so the output reads the same as theirs.
 */
static char *format_size(guint64 bytes)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	double v = (double)bytes;
	gsize u = 0;

	while (v >= 1024 && u + 1 < G_N_ELEMENTS(units)) {
		v /= 1024;
		u++;
	}
	return g_strdup_printf("%0.3g %s", v, units[u]);
}

/*
 * Names from an image header (backing file, data file, and the paths
 * built from them) are the image author's bytes: escaped before they
 * reach the terminal, so they cannot move the cursor or forge lines.
 */
static void print_human(const GvImageInfo *info)
{
	g_autofree char *vsize = format_size(info->virtual_size);
	g_autofree char *dsize = format_size(info->actual_size);
	g_autofree char *name = gv_term_escape(info->filename, NULL);

	printf("image: %s\n", name);
	printf("file format: %s\n", info->format);
	printf("virtual size: %s (%" G_GUINT64_FORMAT " bytes)\n", vsize, info->virtual_size);
	printf("disk size: %s\n", dsize);
	if (info->cluster_size)
		printf("cluster_size: %u\n", info->cluster_size);
	if (info->backing_file) {
		g_autofree char *b = gv_term_escape(info->backing_file, NULL);
		g_autofree char *full = gv_term_escape(info->full_backing_file, NULL);
		printf("backing file: %s (actual path: %s)\n", b, full);
		if (info->backing_format) {
			g_autofree char *f = gv_term_escape(info->backing_format, NULL);
			printf("backing file format: %s\n", f);
		}
	}
	if (info->qcow2_version) {
		printf("Format specific information:\n");
		printf("    compat: %s\n", info->qcow2_version == 2 ? "0.10" : "1.1");
		printf("    compression type: %s\n", info->compression_type);
		printf("    refcount bits: %u\n", info->refcount_bits);
		if (info->qcow2_version >= 3) {
			printf("    lazy refcounts: %s\n", info->lazy_refcounts ? "true" : "false");
			printf("    corrupt: %s\n", info->corrupt ? "true" : "false");
			printf("    extended l2: %s\n", info->extended_l2 ? "true" : "false");
		}
		if (info->nb_snapshots)
			printf("    snapshots: %u\n", info->nb_snapshots);
		if (info->data_file) {
			/* As qemu-img words it; the guest's disk lives in that file. */
			g_autofree char *d = gv_term_escape(info->data_file, NULL);
			printf("    data file: %s\n", d);
		}
	}
	if (info->dirty)
		printf("dirty flag: true\n");
}

static int cmd_info(int argc, char **argv)
{
	gboolean json = FALSE, chain = FALSE;
	const GOptionEntry entries[] = {
		{ "json", 0, 0, G_OPTION_ARG_NONE, &json,
		  "Print JSON in the shape of qemu-img info --output=json", NULL },
		{ "backing-chain", 0, 0, G_OPTION_ARG_NONE, &chain,
		  "Print the backing files too", NULL },
		{ NULL },
	};
	g_autoptr(GError) error = NULL;
	g_auto(GStrv) rest = NULL;
	g_autoptr(GvImageInfo) info = NULL;

	if (!parse_options(argc, argv, "info", entries, NULL, &rest, &error))
		return gv_cli_error(error);
	if (!rest)
		return 0; /* --help */
	if (!operands(rest, 1, 1, "info", &error) ||
	    !(info = gv_image_info_read_full(rest[1], NULL,
					     chain ? GV_IMAGE_INFO_DEFAULT : GV_IMAGE_INFO_NO_BACKING,
					     &error)))
		return gv_cli_error(error);
	if (json) {
		g_autofree char *text = chain ? gv_image_info_chain_to_json(info)
					      : gv_image_info_to_json(info);
		printf("%s\n", text);
		return 0;
	}
	print_human(info);
	for (guint i = 0; chain && i < info->backing_chain->len; i++) {
		printf("\n");
		print_human(g_ptr_array_index(info->backing_chain, i));
	}
	return 0;
}

static int cmd_check(int argc, char **argv)
{
	const GOptionEntry entries[] = { { NULL } };
	g_autoptr(GError) error = NULL;
	g_auto(GStrv) rest = NULL;
	g_autofree char *output = NULL;

	if (!parse_options(argc, argv, "check", entries, NULL, &rest, &error))
		return gv_cli_error(error);
	if (!rest)
		return 0; /* --help */
	if (!operands(rest, 1, 1, "check", &error))
		return gv_cli_error(error);
	gboolean ok = gv_image_check(rest[1], &output, &error);
	if (output)
		fputs(output, stdout);
	if (!ok) {
		int code = gv_cli_error(error);
		/* A checked image with errors is a failed check, not bad input. */
		return g_error_matches(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_CORRUPT) ? 1 : code;
	}
	return 0;
}

static int cmd_snapshot(int argc, char **argv)
{
	g_autofree char *create = NULL, *apply = NULL, *del = NULL;
	gboolean list = FALSE;
	const GOptionEntry entries[] = {
		{ "create", 'c', 0, G_OPTION_ARG_STRING, &create, "Create snapshot NAME", "NAME" },
		{ "apply", 'a', 0, G_OPTION_ARG_STRING, &apply,
		  "Revert the disk to snapshot NAME", "NAME" },
		{ "delete", 'd', 0, G_OPTION_ARG_STRING, &del, "Delete snapshot NAME", "NAME" },
		{ "list", 'l', 0, G_OPTION_ARG_NONE, &list, "List snapshots (the default)", NULL },
		{ NULL },
	};
	g_autoptr(GError) error = NULL;
	g_auto(GStrv) rest = NULL;
	g_autofree char *output = NULL;
	GvImageSnapshotOp op = GV_IMAGE_SNAPSHOT_LIST;
	const char *name = NULL;

	if (!parse_options(argc, argv, "snapshot", entries, NULL, &rest, &error))
		return gv_cli_error(error);
	if (!rest)
		return 0; /* --help */
	if (!operands(rest, 1, 1, "snapshot", &error))
		return gv_cli_error(error);
	if (!!create + !!apply + !!del + !!list > 1) {
		g_set_error(&error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_INVALID,
			    "image snapshot: give one of --create, --apply, --delete, --list");
		return gv_cli_error(error);
	}
	if (create)
		op = GV_IMAGE_SNAPSHOT_CREATE, name = create;
	else if (apply)
		op = GV_IMAGE_SNAPSHOT_APPLY, name = apply;
	else if (del)
		op = GV_IMAGE_SNAPSHOT_DELETE, name = del;
	if (!gv_image_snapshot(rest[1], op, name, &output, &error))
		return gv_cli_error(error);
	if (output)
		fputs(output, stdout);
	return 0;
}

/*
 * Progress line on a terminal: "1.2 GiB / 4.9 GiB  612 MiB/s  ETA 0:06",
 * rewritten at most 4 times a second; nothing when stderr is not a TTY
 * (logs and scripts get no carriage returns).
 */
typedef struct {
	gint64 start_us;
	gint64 last_us;
	gboolean shown;
} Progress;

static void progress_cb(guint64 done, guint64 total, gpointer data)
{
	Progress *p = data;
	gint64 now = g_get_monotonic_time();

	if (done < total && now - p->last_us < 250000)
		return;
	p->last_us = now;
	double secs = (double)(now - p->start_us) / 1e6;
	double rate = secs > 0 ? (double)done / secs : 0;
	guint64 eta = rate > 0 ? (guint64)((double)(total - done) / rate) : 0;
	g_autofree char *d = format_size(done), *t = format_size(total);
	g_autofree char *r = format_size((guint64)rate);
	fprintf(stderr, "\r%s / %s  %s/s  ETA %" G_GUINT64_FORMAT ":%02u\033[K", d, t, r, eta / 60,
		(guint)(eta % 60));
	p->shown = TRUE;
}

static void progress_end(Progress *p)
{
	if (p->shown)
		fputc('\n', stderr);
}

static gboolean parse_compression(gboolean compress, const char *name, GvImageCompression *out,
				  GError **error)
{
	if (!name) {
		*out = compress ? GV_IMAGE_COMPRESSION_ZSTD : GV_IMAGE_COMPRESSION_NONE;
		return TRUE;
	}
	if (strcmp(name, "zstd") == 0)
		*out = GV_IMAGE_COMPRESSION_ZSTD;
	else if (strcmp(name, "zlib") == 0)
		*out = GV_IMAGE_COMPRESSION_ZLIB;
	else if (strcmp(name, "none") == 0)
		*out = GV_IMAGE_COMPRESSION_NONE;
	else {
		g_set_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_INVALID,
			    "unknown compression \"%s\" (zstd, zlib or none)", name);
		return FALSE;
	}
	return TRUE;
}

/* The options convert and build share: how the qcow2 is written. */
typedef struct {
	gboolean compress;
	char *compression;
	char *cluster;
	int level;
	int threads;
	Progress progress;
	GOptionEntry entries[6];
} WriteArgs;

static void write_args_init(WriteArgs *w)
{
	const GOptionEntry entries[] = {
		{ "compress", 'c', 0, G_OPTION_ARG_NONE, &w->compress,
		  "Compress clusters (zstd unless --compression says otherwise)", NULL },
		{ "compression", 0, 0, G_OPTION_ARG_STRING, &w->compression,
		  "Codec: zstd, zlib or none", "CODEC" },
		{ "level", 0, 0, G_OPTION_ARG_INT, &w->level, "Codec level (default: zstd 1, zlib 6)",
		  "N" },
		{ "cluster-size", 0, 0, G_OPTION_ARG_STRING, &w->cluster,
		  "Cluster size (default 64K)", "N" },
		{ "threads", 0, 0, G_OPTION_ARG_INT, &w->threads,
		  "Compression threads (default: one per CPU)", "N" },
		{ NULL },
	};
	G_STATIC_ASSERT(G_N_ELEMENTS(entries) == G_N_ELEMENTS(w->entries));

	memcpy(w->entries, entries, sizeof(entries));
	w->progress.start_us = g_get_monotonic_time();
}

static void write_args_clear(WriteArgs *w)
{
	g_clear_pointer(&w->compression, g_free);
	g_clear_pointer(&w->cluster, g_free);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(WriteArgs, write_args_clear)

static gboolean write_options(WriteArgs *w, const char *sub, GvImageConvertOptions *out,
			      GError **error)
{
	if (!parse_compression(w->compress, w->compression, &out->compression, error) ||
	    !parse_cluster_size(w->cluster, &out->cluster_size, error))
		return FALSE;
	if (w->level < 0 || w->threads < 0) {
		g_set_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_INVALID,
			    "image %s: --level and --threads must not be negative", sub);
		return FALSE;
	}
	out->level = w->level;
	out->threads = (guint)w->threads;
	if (isatty(STDERR_FILENO)) {
		out->progress = progress_cb;
		out->progress_data = &w->progress;
	}
	return TRUE;
}

static int cmd_convert(int argc, char **argv)
{
	const GOptionEntry entries[] = { { NULL } };
	g_auto(WriteArgs) w = { 0 };
	g_autoptr(GError) error = NULL;
	g_auto(GStrv) rest = NULL;
	GvImageConvertOptions opts = { 0 };

	write_args_init(&w);
	if (!parse_options(argc, argv, "convert", entries, w.entries, &rest, &error))
		return gv_cli_error(error);
	if (!rest)
		return 0; /* --help */
	if (!operands(rest, 2, 2, "convert", &error) ||
	    !write_options(&w, "convert", &opts, &error))
		return gv_cli_error(error);
	gboolean ok = gv_image_convert(rest[1], rest[2], &opts, &error);
	progress_end(&w.progress);
	return ok ? 0 : gv_cli_error(error);
}

static int cmd_build(int argc, char **argv)
{
	g_autofree char *rootfs = NULL, *kernel = NULL, *initrd = NULL, *cmdline = NULL;
	g_autofree char *size = NULL, *esp_size = NULL, *out = NULL;
	gboolean deterministic = FALSE;
	const GOptionEntry entries[] = {
		{ "rootfs", 0, 0, G_OPTION_ARG_FILENAME, &rootfs,
		  "Root filesystem contents: a directory or a tarball", "DIR|TARBALL" },
		{ "kernel", 0, 0, G_OPTION_ARG_FILENAME, &kernel, "EFI-stub kernel", "FILE" },
		{ "initrd", 0, 0, G_OPTION_ARG_FILENAME, &initrd, "Initrd", "FILE" },
		{ "cmdline", 0, 0, G_OPTION_ARG_STRING, &cmdline,
		  "Kernel options (root=PARTUUID=... rw is added unless root= is given)", "OPTS" },
		{ "size", 0, 0, G_OPTION_ARG_STRING, &size,
		  "Disk size, or auto (default: just enough for the tree)", "auto|N" },
		{ "esp-size", 0, 0, G_OPTION_ARG_STRING, &esp_size,
		  "ESP size (default: 128M or 1.5x the boot files)", "N" },
		{ "deterministic", 0, 0, G_OPTION_ARG_NONE, &deterministic,
		  "Same inputs give the same bytes (UUIDs from a hash, SOURCE_DATE_EPOCH times)",
		  NULL },
		{ "output", 'o', 0, G_OPTION_ARG_FILENAME, &out, "The qcow2 to write", "OUT.qcow2" },
		{ NULL },
	};
	g_auto(WriteArgs) w = { 0 };
	g_autoptr(GError) error = NULL;
	g_auto(GStrv) rest = NULL;
	GvImageBuildOptions opts = { 0 };

	write_args_init(&w);
	if (!parse_options(argc, argv, "build", entries, w.entries, &rest, &error))
		return gv_cli_error(error);
	if (!rest)
		return 0; /* --help */
	if (!operands(rest, 0, 0, "build", &error))
		return gv_cli_error(error);
	if (!out || !rootfs || !kernel) {
		g_set_error(&error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_INVALID,
			    "image build: --rootfs, --kernel and -o are required");
		return gv_cli_error(error);
	}
	if ((size && strcmp(size, "auto") != 0 && !gv_image_parse_size(size, &opts.size, &error)) ||
	    (esp_size && !gv_image_parse_size(esp_size, &opts.esp_size, &error)) ||
	    !write_options(&w, "build", &opts.convert, &error))
		return gv_cli_error(error);
	opts.rootfs = rootfs;
	opts.kernel = kernel;
	opts.initrd = initrd;
	opts.cmdline = cmdline;
	opts.deterministic = deterministic;
	gboolean ok = gv_image_build(out, &opts, &error);
	progress_end(&w.progress);
	return ok ? 0 : gv_cli_error(error);
}

/* ------------------------------------------------------------------------ */

static const ImageCommand commands[] = {
	{ "create", cmd_create, "FILE [SIZE]",
	  "Create an empty qcow2 image, or an overlay with --backing (SIZE defaults to the base's)" },
	{ "overlay", cmd_overlay, "BASE FILE",
	  "Create a qcow2 overlay FILE on top of BASE; BASE is only read" },
	{ "convert", cmd_convert, "SRC DST.qcow2",
	  "Copy a raw disk or block device into a qcow2 image, skipping holes and zeros" },
	{ "build", cmd_build, "--rootfs DIR|TARBALL --kernel K [--initrd I] -o OUT.qcow2",
	  "Build a bootable GPT disk: systemd-boot ESP and an ext4 root from a tree" },
	{ "info", cmd_info, "FILE", "Show an image's format, sizes and backing file" },
	{ "check", cmd_check, "FILE", "Check a qcow2 image's consistency with qemu-img check" },
	{ "snapshot", cmd_snapshot, "FILE",
	  "List, create, apply or delete internal snapshots of an image no VM is using" },
};

static const ImageCommand *find_command(const char *name)
{
	for (gsize i = 0; i < G_N_ELEMENTS(commands); i++) {
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	}
	return NULL;
}

static void usage(FILE *to)
{
	fprintf(to, "Usage: grainvm image COMMAND [OPTION…]\n\nCommands:\n");
	for (gsize i = 0; i < G_N_ELEMENTS(commands); i++)
		fprintf(to, "  %-9s %s\n", commands[i].name, commands[i].summary);
	fprintf(to, "\nRun 'grainvm image COMMAND --help' for its options.\n");
}

int gv_cmd_image(int argc, char **argv)
{
	g_autoptr(GError) error = NULL;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	const ImageCommand *cmd = find_command(argv[1]);
	if (!cmd) {
		g_set_error(&error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_INVALID,
			    "unknown image command \"%s\" (try: grainvm image --help)", argv[1]);
		return gv_cli_error(error);
	}
	/* Writers must not leave temporaries behind when interrupted. */
	gv_image_install_signal_cleanup();
	return cmd->handler(argc - 1, argv + 1);
}
