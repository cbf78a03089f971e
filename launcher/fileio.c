/* SPDX-License-Identifier: MIT */
/* fileio.c - whole writes, atomic file replacement, unlink (see fileio.h) */
#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

gboolean gv_write_all(int fd, const void *buf, gsize len)
{
	const guint8 *p = buf;
	while (len) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return FALSE;
		if (w == 0) {
			errno = EIO;
			return FALSE;
		}
		p += w;
		len -= (gsize)w;
	}
	return TRUE;
}

static gboolean write_atomic(const char *path, const void *data, gsize len, mode_t mode,
			     gboolean sync, GError **error)
{
	g_autofree char *tmp = g_strdup_printf("%s.tmp-XXXXXX", path);
	int fd = g_mkstemp_full(tmp, O_WRONLY | O_CLOEXEC, mode);
	if (fd < 0) {
		int err = errno;
		g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(err),
			    "cannot create %s: %s", tmp, g_strerror(err));
		return FALSE;
	}
	if (!gv_write_all(fd, data, len))
		goto fail;
	if (fchmod(fd, mode) < 0 || (sync && fsync(fd) < 0))
		goto fail;
	if (close(fd) < 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) < 0)
		goto fail;
	if (sync) {
		/* The rename is durable only once the directory is synced. */
		g_autofree char *dir = g_path_get_dirname(path);
		int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) { /* best effort: the new contents are in place */
			fsync(dfd);
			close(dfd);
		}
	}
	return TRUE;

fail:;
	int err = errno;
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(err),
		    "cannot write %s: %s", path, g_strerror(err));
	return FALSE;
}

gboolean gv_write_file_atomic(const char *path, const void *data, gsize len,
			      mode_t mode, GError **error)
{
	return write_atomic(path, data, len, mode, TRUE, error);
}

gboolean gv_write_runtime_file(const char *path, const void *data, gsize len, mode_t mode,
			       GError **error)
{
	return write_atomic(path, data, len, mode, FALSE, error);
}

gboolean gv_unlink_if_exists(const char *path, GError **error)
{
	if (unlink(path) < 0 && errno != ENOENT) {
		int err = errno;
		g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(err),
			    "cannot remove %s: %s", path, g_strerror(err));
		return FALSE;
	}
	return TRUE;
}
