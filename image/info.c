/* SPDX-License-Identifier: MIT */
/*
 * info.c - what an image is: format, sizes, features, backing chain
 *
 * Reads only the header cluster of each file, read-only, and hands the
 * bytes to the pure gv_qcow2_header_parse().  The JSON output mirrors
 * `qemu-img info --output=json` key for key so that scripts can switch
 * between the two and the tests can compare them.
 */
#include "gv-image-private.h"
#include "gv-chain.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <json-glib/json-glib.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void gv_image_info_free(GvImageInfo *info)
{
	if (!info)
		return;
	g_free(info->filename);
	g_free(info->format);
	g_free(info->compression_type);
	g_free(info->backing_file);
	g_free(info->backing_format);
	g_free(info->full_backing_file);
	g_free(info->data_file);
	if (info->backing_chain)
		g_ptr_array_unref(info->backing_chain);
	g_free(info);
}

static char *nonempty(const char *s)
{
	return s && *s ? g_strdup(s) : NULL;
}

static void fill_from_header(GvImageInfo *info, const GvQcow2Header *h)
{
	info->format = g_strdup("qcow2");
	info->virtual_size = h->size;
	info->cluster_size = 1u << h->cluster_bits;
	info->qcow2_version = h->version;
	info->compression_type = g_strdup(h->compression_type == GV_QCOW2_COMPRESSION_ZSTD ? "zstd"
											 : "zlib");
	info->refcount_bits = 1u << h->refcount_order;
	info->lazy_refcounts = !!(h->compatible_features & GV_QCOW2_COMPAT_LAZY_REFCOUNTS);
	info->extended_l2 = !!(h->incompatible_features & GV_QCOW2_INCOMPAT_EXTL2);
	info->encrypted = h->crypt_method != 0;
	info->dirty = !!(h->incompatible_features & GV_QCOW2_INCOMPAT_DIRTY);
	info->corrupt = !!(h->incompatible_features & GV_QCOW2_INCOMPAT_CORRUPT);
	info->nb_snapshots = h->nb_snapshots;
	info->backing_file = nonempty(h->backing_file);
	info->backing_format = nonempty(h->backing_format);
	info->data_file = nonempty(h->data_file);
	if (info->backing_file)
		info->full_backing_file = gv_path_join_dir_of(info->filename, info->backing_file);
}

/*
 * Read the header cluster: first the fixed part to learn the cluster
 * size, then the whole cluster (at most 2 MiB) or the whole file if it is
 * shorter, so that the parser sees every byte the header may refer to.
 */
static gboolean read_qcow2(int fd, guint64 file_size, GvImageInfo *info, GError **error)
{
	guint8 fixed[GV_QCOW2_V3_HEADER_LENGTH];
	gsize want = (gsize)MIN(file_size, sizeof(fixed));
	GvQcow2Header h;

	if (!gv_pread_full(fd, fixed, want, 0, info->filename, error))
		return FALSE;
	if (want >= 24) {
		guint32 bits = gv_get_be32(fixed + 20);
		if (bits >= GV_QCOW2_MIN_CLUSTER_BITS && bits <= GV_QCOW2_MAX_CLUSTER_BITS)
			want = (gsize)MIN(file_size, G_GUINT64_CONSTANT(1) << bits);
	}
	g_autofree guint8 *buf = g_malloc(want ? want : 1);
	if (!gv_pread_full(fd, buf, want, 0, info->filename, error))
		return FALSE;
	if (!gv_qcow2_header_parse(buf, want, &h, error)) {
		g_prefix_error(error, "%s: ", info->filename);
		return FALSE;
	}
	fill_from_header(info, &h);
	return TRUE;
}

/*
 * What read_one() learnt about the file it opened, for the chain walk:
 * its identity (loops), its type and its real path (confinement).
 */
typedef struct {
	dev_t dev;
	ino_t ino;
	mode_t mode;
	char *real; /* what the descriptor points at, symlinks resolved */
} Opened;

static void opened_clear(Opened *o)
{
	g_clear_pointer(&o->real, g_free);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Opened, opened_clear)

/*
 * Open an image file without ever blocking: O_NONBLOCK makes open(2) of
 * a FIFO return at once instead of waiting for a writer, and O_NOCTTY
 * keeps a terminal device from becoming ours.  The type is checked on the
 * descriptor (fstat), so the check is about the file that was opened,
 * not one swapped in after a stat().  Sockets cannot be opened at all
 * (ENXIO), which is reported as what it is.
 */
static int open_image(const char *path, const char *what, gboolean confined, Opened *o,
		      GError **error)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);

	if (fd < 0) {
		int errsv = errno;
		g_autofree char *shown = gv_term_escape(path, NULL);
		if (errsv == ENXIO && lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) {
			g_set_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_UNSUPPORTED,
				    "%s %s is a socket, not a disk image", what, shown);
			return -1;
		}
		g_set_error(error, GV_IMAGE_ERROR,
			    errsv == ENOENT || errsv == ENOTDIR || errsv == ELOOP
				    ? GV_IMAGE_ERROR_NOT_FOUND : GV_IMAGE_ERROR_IO,
			    "cannot open %s %s: %s", what, shown, g_strerror(errsv));
		return -1;
	}
	gv_autofd int owned = fd;
	if (fstat(fd, &st) < 0) {
		gv_io_error(error, errno, "cannot stat", path);
		return -1;
	}
	const char *problem = gv_chain_mode_problem(st.st_mode, confined);
	if (problem) {
		g_autofree char *shown = gv_term_escape(path, NULL);
		g_set_error(error, GV_IMAGE_ERROR,
			    S_ISBLK(st.st_mode)   ? GV_IMAGE_ERROR_UNTRUSTED
			    : S_ISDIR(st.st_mode) ? GV_IMAGE_ERROR_INVALID
						  : GV_IMAGE_ERROR_UNSUPPORTED,
			    "%s %s %s, not a disk image", what, shown, problem);
		return -1;
	}
	/* Regular files and block devices: reads do not block; clear it anyway. */
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0)
		(void)fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
	o->dev = st.st_dev;
	o->ino = st.st_ino;
	o->mode = st.st_mode;
	g_autofree char *link = g_strdup_printf("/proc/self/fd/%d", fd);
	g_free(o->real);
	o->real = g_file_read_link(link, NULL);
	if (!o->real) {
		/* No /proc: fall back to resolving the name (racy, but not worse). */
		char *r = realpath(path, NULL);
		o->real = r ? g_strdup(r) : g_canonicalize_filename(path, NULL);
		free(r);
	}
	owned = -1;
	return fd;
}

static GvImageInfo *read_one(const char *path, const char *format, const char *what,
			     gboolean confined, Opened *o, GError **error)
{
	g_autoptr(GvImageInfo) info = g_new0(GvImageInfo, 1);
	guint8 magic[4];

	info->filename = g_strdup(path);
	info->backing_chain = g_ptr_array_new_with_free_func((GDestroyNotify)gv_image_info_free);

	gv_autofd int fd = open_image(path, what, confined, o, error);
	if (fd < 0)
		return NULL;
	/* lseek, not st_size: block devices report their size only this way. */
	off_t end = lseek(fd, 0, SEEK_END);
	if (end < 0) {
		gv_io_error(error, errno, "cannot seek in", path);
		return NULL;
	}
	struct stat st;
	info->actual_size = fstat(fd, &st) == 0 ? (guint64)st.st_blocks * 512 : 0;

	memset(magic, 0, sizeof(magic));
	if (!gv_pread_full(fd, magic, sizeof(magic), 0, path, error))
		return NULL;
	gboolean is_qcow2 = gv_get_be32(magic) == GV_QCOW2_MAGIC;

	/*
	 * A recorded format wins over the magic: a raw disk whose guest wrote
	 * a qcow2 header into sector 0 must stay raw.
	 */
	if (format && strcmp(format, "raw") == 0)
		is_qcow2 = FALSE;
	else if (format && strcmp(format, "qcow2") == 0 && !is_qcow2) {
		g_set_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_CORRUPT,
			    "%s: not a qcow2 image (bad magic 0x%08x)", path, gv_get_be32(magic));
		return NULL;
	} else if (format && strcmp(format, "qcow2") != 0) {
		g_autofree char *shown = gv_term_escape(format, NULL);
		g_set_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_UNSUPPORTED,
			    "%s: unsupported format \"%s\" (qcow2 or raw)", path, shown);
		return NULL;
	}

	if (is_qcow2) {
		if (!read_qcow2(fd, (guint64)end, info, error))
			return NULL;
	} else {
		info->format = g_strdup("raw");
		/* As QEMU: a raw disk is a whole number of 512-byte sectors. */
		info->virtual_size = ((guint64)end + 511) & ~G_GUINT64_CONSTANT(511);
	}
	return g_steal_pointer(&info);
}

static gboolean untrusted(GError **error, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static gboolean untrusted(GError **error, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	g_autofree char *msg = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	g_set_error_literal(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_UNTRUSTED, msg);
	return FALSE;
}

/*
 * The rules for one reference an untrusted image makes (a backing file
 * name, before it is opened).  json: and protocols are refused whatever
 * the trust: this walker cannot follow them, so it could not check what
 * they lead to.
 */
static gboolean check_ref(const GvImageInfo *cur, const char *ref, gboolean confined,
			  GError **error)
{
	g_autofree char *img = gv_term_escape(cur->filename, NULL);
	g_autofree char *shown = gv_term_escape(ref, NULL);

	switch (gv_chain_ref_classify(ref)) {
	case GV_CHAIN_REF_JSON:
		g_set_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_UNSUPPORTED,
			    "%s: backing file \"%s\" uses QEMU's json: notation", img, shown);
		return FALSE;
	case GV_CHAIN_REF_PROTOCOL:
		g_set_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_UNSUPPORTED,
			    "%s: backing file \"%s\" names a QEMU protocol, not a file", img, shown);
		return FALSE;
	case GV_CHAIN_REF_ABSOLUTE:
		return !confined ||
		       untrusted(error, "%s: backing file \"%s\" is an absolute path", img, shown);
	case GV_CHAIN_REF_ESCAPES:
		return !confined ||
		       untrusted(error, "%s: backing file \"%s\" climbs out of the image's directory",
				 img, shown);
	case GV_CHAIN_REF_RELATIVE:
		break;
	}
	return TRUE;
}

/* What an untrusted image may be, once opened (@root: the base's real directory). */
static gboolean check_opened(const GvImageInfo *info, const Opened *o, const char *root,
			     gboolean is_top, GError **error)
{
	g_autofree char *img = gv_term_escape(info->filename, NULL);

	if (info->data_file) {
		/*
		 * QEMU 7.2 resolves a relative data file name against its own
		 * working directory, not the image's (qemu-io read the file
		 * beside the current directory, not beside the image), so no
		 * name can be promised to stay inside the base's directory.
		 */
		g_autofree char *shown = gv_term_escape(info->data_file, NULL);
		return untrusted(error, "%s: external data file \"%s\": an untrusted image may "
				 "not name one", img, shown);
	}
	if (is_top)
		return TRUE;
	if (!gv_chain_path_within(root, o->real)) {
		g_autofree char *real = gv_term_escape(o->real, NULL);
		g_autofree char *dir = gv_term_escape(root, NULL);
		return untrusted(error, "backing file %s is %s, outside the base's directory %s",
				 img, real, dir);
	}
	return TRUE;
}

GvImageInfo *gv_image_info_read_full(const char *path, const char *format,
				     GvImageInfoFlags flags, GError **error)
{
	g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	gboolean confined = !!(flags & GV_IMAGE_INFO_CONFINE);
	g_auto(Opened) o = { 0 };

	g_autoptr(GvImageInfo) top = read_one(path, format, "image", FALSE, &o, error);
	if (!top)
		return NULL;
	/* The directory the base was named in, resolved as its backing names are. */
	g_autofree char *named_dir = g_path_get_dirname(path);
	char *rd = realpath(named_dir, NULL);
	g_autofree char *root = rd ? g_strdup(rd) : g_canonicalize_filename(named_dir, NULL);
	free(rd);
	if (confined && !check_opened(top, &o, root, TRUE, error))
		return NULL;
	if (flags & GV_IMAGE_INFO_NO_BACKING)
		return g_steal_pointer(&top);

	g_hash_table_add(seen, g_strdup_printf("%ju:%ju", (uintmax_t)o.dev, (uintmax_t)o.ino));
	GvImageInfo *cur = top;
	while (cur->backing_file) {
		if (top->backing_chain->len >= GV_IMAGE_MAX_CHAIN_DEPTH) {
			g_autofree char *shown = gv_term_escape(path, NULL);
			g_set_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_UNSUPPORTED,
				    "%s: backing chain deeper than %d images", shown,
				    GV_IMAGE_MAX_CHAIN_DEPTH);
			return NULL;
		}
		if (!check_ref(cur, cur->backing_file, confined, error))
			return NULL;
		/*
		 * QEMU guesses the format of a backing file whose overlay does
		 * not record one, and a guessed vmdk or qed names files of its
		 * own that this walker does not read.  qcow2 is read here.
		 */
		GvImageInfo *next = read_one(cur->full_backing_file, cur->backing_format,
					     "backing file", confined, &o, error);
		if (!next) {
			g_autofree char *shown = gv_term_escape(cur->filename, NULL);
			g_prefix_error(error, "%s: ", shown);
			return NULL;
		}
		g_ptr_array_add(top->backing_chain, next);
		char *key = g_strdup_printf("%ju:%ju", (uintmax_t)o.dev, (uintmax_t)o.ino);
		if (!g_hash_table_add(seen, key)) {
			g_autofree char *a = gv_term_escape(path, NULL), *b = gv_term_escape(next->filename, NULL);
			g_set_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_UNSUPPORTED,
				    "%s: backing chain loops back to %s", a, b);
			return NULL;
		}
		if (confined && !cur->backing_format && strcmp(next->format, "qcow2") != 0) {
			g_autofree char *img = gv_term_escape(cur->filename, NULL);
			g_autofree char *shown = gv_term_escape(cur->backing_file, NULL);
			return untrusted(error, "%s: backing file \"%s\" has no recorded format and "
					 "is not qcow2: QEMU would guess it", img, shown), NULL;
		}
		if (confined && !check_opened(next, &o, root, FALSE, error)) {
			g_autofree char *img = gv_term_escape(cur->filename, NULL);
			g_prefix_error(error, "%s: ", img);
			return NULL;
		}
		cur = next;
	}
	return g_steal_pointer(&top);
}

GvImageInfo *gv_image_info_read(const char *path, GError **error)
{
	return gv_image_info_read_full(path, NULL, GV_IMAGE_INFO_DEFAULT, error);
}

static void build_one(JsonBuilder *b, const GvImageInfo *info)
{
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "virtual-size");
	json_builder_add_int_value(b, (gint64)info->virtual_size);
	json_builder_set_member_name(b, "filename");
	json_builder_add_string_value(b, info->filename);
	if (info->cluster_size) {
		json_builder_set_member_name(b, "cluster-size");
		json_builder_add_int_value(b, info->cluster_size);
	}
	json_builder_set_member_name(b, "format");
	json_builder_add_string_value(b, info->format);
	json_builder_set_member_name(b, "actual-size");
	json_builder_add_int_value(b, (gint64)info->actual_size);
	if (info->encrypted) {
		json_builder_set_member_name(b, "encrypted");
		json_builder_add_boolean_value(b, TRUE);
	}
	if (info->qcow2_version) {
		json_builder_set_member_name(b, "format-specific");
		json_builder_begin_object(b);
		json_builder_set_member_name(b, "type");
		json_builder_add_string_value(b, "qcow2");
		json_builder_set_member_name(b, "data");
		json_builder_begin_object(b);
		json_builder_set_member_name(b, "compat");
		json_builder_add_string_value(b, info->qcow2_version == 2 ? "0.10" : "1.1");
		json_builder_set_member_name(b, "compression-type");
		json_builder_add_string_value(b, info->compression_type);
		/* qemu-img prints these v3 fields only for v3 images. */
		if (info->qcow2_version >= 3) {
			json_builder_set_member_name(b, "lazy-refcounts");
			json_builder_add_boolean_value(b, info->lazy_refcounts);
		}
		json_builder_set_member_name(b, "refcount-bits");
		json_builder_add_int_value(b, info->refcount_bits);
		if (info->qcow2_version >= 3) {
			json_builder_set_member_name(b, "corrupt");
			json_builder_add_boolean_value(b, info->corrupt);
			json_builder_set_member_name(b, "extended-l2");
			json_builder_add_boolean_value(b, info->extended_l2);
		}
		if (info->data_file) {
			json_builder_set_member_name(b, "data-file");
			json_builder_add_string_value(b, info->data_file);
		}
		json_builder_end_object(b);
		json_builder_end_object(b);
	}
	if (info->backing_file) {
		if (info->backing_format) {
			json_builder_set_member_name(b, "backing-filename-format");
			json_builder_add_string_value(b, info->backing_format);
		}
		json_builder_set_member_name(b, "full-backing-filename");
		json_builder_add_string_value(b, info->full_backing_file);
		json_builder_set_member_name(b, "backing-filename");
		json_builder_add_string_value(b, info->backing_file);
	}
	json_builder_set_member_name(b, "dirty-flag");
	json_builder_add_boolean_value(b, info->dirty);
	json_builder_end_object(b);
}

static char *to_json(JsonBuilder *b)
{
	g_autoptr(JsonGenerator) gen = json_generator_new();
	g_autoptr(JsonNode) root = json_builder_get_root(b);

	json_generator_set_pretty(gen, TRUE);
	json_generator_set_indent(gen, 4);
	json_generator_set_root(gen, root);
	return json_generator_to_data(gen, NULL);
}

char *gv_image_info_to_json(const GvImageInfo *info)
{
	g_autoptr(JsonBuilder) b = json_builder_new();

	build_one(b, info);
	return to_json(b);
}

char *gv_image_info_chain_to_json(const GvImageInfo *info)
{
	g_autoptr(JsonBuilder) b = json_builder_new();

	json_builder_begin_array(b);
	build_one(b, info);
	for (guint i = 0; info->backing_chain && i < info->backing_chain->len; i++)
		build_one(b, g_ptr_array_index(info->backing_chain, i));
	json_builder_end_array(b);
	return to_json(b);
}
