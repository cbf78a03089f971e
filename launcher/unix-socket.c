/* SPDX-License-Identifier: MIT */
/*
 * unix-socket.c - listening on and connecting to the launcher's sockets
 */
#include "unix-socket.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "gv-error.h"

static gboolean fill_addr(struct sockaddr_un *sa, const char *path, GError **error)
{
	if (strlen(path) >= sizeof(sa->sun_path)) {
		g_set_error(error, GV_ERROR, GV_ERROR_INVALID,
			    "socket path %s is too long (at most %zu bytes)", path,
			    sizeof(sa->sun_path) - 1);
		errno = ENAMETOOLONG;
		return FALSE;
	}
	*sa = (struct sockaddr_un){ .sun_family = AF_UNIX };
	memcpy(sa->sun_path, path, strlen(path));
	return TRUE;
}

int gv_unix_listen(const char *path, int backlog, GError **error)
{
	struct sockaddr_un sa;
	if (!fill_addr(&sa, path, error))
		return -1;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	unlink(path);
	/* umask, not chmod after bind: no moment in which others may connect. */
	mode_t old = umask(0077);
	int rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc < 0 || listen(fd, backlog) < 0)
		goto fail;
	return fd;
fail:;
	int err = errno;
	if (fd >= 0)
		close(fd);
	g_set_error(error, GV_ERROR, GV_ERROR_FAILED, "cannot listen on %s: %s", path,
		    g_strerror(err));
	errno = err;
	return -1;
}

int gv_unix_connect(const char *path, GError **error)
{
	struct sockaddr_un sa;
	if (!fill_addr(&sa, path, error))
		return -1;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int err = errno;
		if (fd >= 0)
			close(fd);
		g_set_error(error, GV_ERROR, GV_ERROR_FAILED, "cannot connect to %s: %s", path,
			    g_strerror(err));
		errno = err;
		return -1;
	}
	return fd;
}
