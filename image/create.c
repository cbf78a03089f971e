/* SPDX-License-Identifier: MIT */
/*
 * create.c - empty qcow2 images and overlays
 *
 * An empty image is a header cluster, a zeroed L1 table (left as a hole)
 * and the refcount structures that count those clusters: four clusters
 * for any disk up to several TiB.  An overlay is the same with a backing
 * file name and format in the header; the backing file is opened only to
 * read its format and size.
 */
#include "gv-image-private.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/*
 * 0 means 64 KiB: QEMU's default, its balance between metadata size and
 * allocation granularity, and what every tool expects of a qcow2.
 */
gboolean gv_image_cluster_bits(guint32 cluster_size, guint *bits, GError **error)
{
	if (cluster_size == 0) {
		*bits = GV_QCOW2_DEFAULT_CLUSTER_BITS;
		return TRUE;
	}
	for (guint b = GV_QCOW2_MIN_CLUSTER_BITS; b <= GV_QCOW2_MAX_CLUSTER_BITS; b++) {
		if (cluster_size == 1u << b) {
			*bits = b;
			return TRUE;
		}
	}
	g_set_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_INVALID,
		    "cluster size %u is not a power of two from 512 to 2097152", cluster_size);
	return FALSE;
}

/* TRUE when @a and @b name the same existing file. */
static gboolean same_file(const char *a, const char *b)
{
	struct stat sa, sb;

	return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
	       sa.st_ino == sb.st_ino;
}

gboolean gv_image_create_qcow2(const char *path, guint64 virtual_size,
			       const char *backing_file,
			       const char *backing_format,
			       guint32 cluster_size, GError **error)
{
	g_autofree char *probed_format = NULL;
	guint bits;

	if (!gv_image_cluster_bits(cluster_size, &bits, error))
		return FALSE;
	if (backing_format && strcmp(backing_format, "qcow2") != 0 &&
	    strcmp(backing_format, "raw") != 0) {
		g_set_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_INVALID,
			    "unsupported backing format \"%s\" (qcow2 or raw)", backing_format);
		return FALSE;
	}

	if (backing_file) {
		g_autofree char *resolved = gv_path_join_dir_of(path, backing_file);
		if (same_file(resolved, path)) {
			g_set_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_INVALID,
				    "%s: an image cannot be its own backing file", path);
			return FALSE;
		}
		/* Read-only, and only the header: the base is never written. */
		g_autoptr(GvImageInfo) base = gv_image_info_read_full(resolved, backing_format,
								      GV_IMAGE_INFO_NO_BACKING, error);
		if (!base) {
			g_prefix_error(error, "%s: backing file: ", path);
			return FALSE;
		}
		if (!backing_format)
			backing_format = probed_format = g_strdup(base->format);
		if (virtual_size == 0)
			virtual_size = base->virtual_size;
	}

	/* qemu-img rounds sizes up to whole 512-byte sectors; so do we. */
	if (virtual_size > G_MAXUINT64 - 511) {
		g_set_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_INVALID,
			    "%s: virtual size %" G_GUINT64_FORMAT " too large", path, virtual_size);
		return FALSE;
	}
	virtual_size = (virtual_size + 511) & ~G_GUINT64_CONSTANT(511);

	g_auto(GvQcow2Map) map = { 0 };
	if (!gv_qcow2_map_init(&map, virtual_size, bits)) {
		g_set_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_INVALID,
			    "%s: virtual size %" G_GUINT64_FORMAT
			    " needs an L1 table over QEMU's 32 MiB limit; use a larger cluster size",
			    path, virtual_size);
		return FALSE;
	}

	GvQcow2Target t = {
		.virtual_size = virtual_size,
		.cluster_bits = bits,
		.compression_type = GV_QCOW2_COMPRESSION_ZLIB,
		.backing_file = backing_file,
		.backing_format = backing_format,
	};
	g_auto(GvAtomicFile) f = GV_ATOMIC_FILE_INIT;
	if (!gv_atomic_file_open(&f, path, error))
		return FALSE;
	/* Cluster 0 is the header; the metadata starts at cluster 1. */
	if (!gv_qcow2_write_metadata(f.fd, path, &t, &map, NULL, 1, error))
		return FALSE;
	return gv_atomic_file_commit(&f, error);
}

static char *real_dir_of(const char *path, GError **error)
{
	g_autofree char *dir = g_path_get_dirname(path);
	char *real = realpath(dir, NULL);

	if (!real)
		g_set_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_NOT_FOUND, "directory %s: %s", dir,
			    g_strerror(errno));
	return real;
}

char *gv_image_backing_name_for(const char *image_path, const char *backing_path,
				GError **error)
{
	if (g_path_is_absolute(backing_path))
		return g_strdup(backing_path);

	g_autofree char *from = real_dir_of(image_path, error);
	if (!from)
		return NULL;
	g_autofree char *to = real_dir_of(backing_path, error);
	if (!to)
		return NULL;
	g_autofree char *base = g_path_get_basename(backing_path);
	g_auto(GStrv) a = g_strsplit(from, "/", -1);
	g_auto(GStrv) b = g_strsplit(to, "/", -1);
	g_autoptr(GString) rel = g_string_new(NULL);
	gsize common = 0;

	while (a[common] && b[common] && strcmp(a[common], b[common]) == 0)
		common++;
	for (gsize i = common; a[i]; i++) {
		if (a[i][0])
			g_string_append(rel, "../");
	}
	for (gsize i = common; b[i]; i++) {
		if (b[i][0])
			g_string_append_printf(rel, "%s/", b[i]);
	}
	g_string_append(rel, base);
	return g_string_free(g_steal_pointer(&rel), FALSE);
}
