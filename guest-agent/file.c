/* SPDX-License-Identifier: MIT */
/*
 * file.c - guest-file-open/read/write/seek/flush/close (qemu-ga's names,
 * arguments, reply shapes and messages)
 *
 * Files are plain file descriptors opened O_NONBLOCK, as qemu-ga does, so
 * that reading a FIFO or a device with nothing to read returns a short
 * read instead of stopping the agent.  There is no stdio buffering, so
 * guest-file-flush has nothing to push and only checks the handle.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "util.h"

/* Handles a host may hold at once; each is one fd in the agent. */
#define FILE_HANDLES_MAX 64
/* qemu-ga's GUEST_FILE_READ_COUNT_MAX: 48 MiB, 64 MiB as base64. */
#define FILE_READ_MAX (48u << 20)
/* qemu-ga's QGA_READ_COUNT_DEFAULT */
#define FILE_READ_DEFAULT 4096

static struct {
	int64_t id;
	int fd;
} handles[FILE_HANDLES_MAX];
/* qemu-ga hands out handles from a counter too; never reuse one, so a
 * stale handle from a previous host cannot reach someone else's file. */
static int64_t next_handle = 1000;

static const struct {
	const char *mode;
	int flags;
} modes[] = {
	{ "r", O_RDONLY },
	{ "rb", O_RDONLY },
	{ "w", O_WRONLY | O_CREAT | O_TRUNC },
	{ "wb", O_WRONLY | O_CREAT | O_TRUNC },
	{ "a", O_WRONLY | O_CREAT | O_APPEND },
	{ "ab", O_WRONLY | O_CREAT | O_APPEND },
	{ "r+", O_RDWR },
	{ "rb+", O_RDWR },
	{ "r+b", O_RDWR },
	{ "w+", O_RDWR | O_CREAT | O_TRUNC },
	{ "wb+", O_RDWR | O_CREAT | O_TRUNC },
	{ "w+b", O_RDWR | O_CREAT | O_TRUNC },
	{ "a+", O_RDWR | O_CREAT | O_APPEND },
	{ "ab+", O_RDWR | O_CREAT | O_APPEND },
	{ "a+b", O_RDWR | O_CREAT | O_APPEND },
};

static int find(struct req *r, int64_t id)
{
	for (int i = 0; i < FILE_HANDLES_MAX; i++)
		if (handles[i].id == id && id)
			return i;
	return req_error(r, "GenericError", "handle '%" PRId64 "' has not been found", id);
}

int cmd_guest_file_open(struct req *r)
{
	static const struct arg_spec spec[] = {
		{ "path", ARG_STR, false },
		{ "mode", ARG_STR, true },
	};
	const char *path, *mode;
	size_t m;
	int slot, fd;

	if (req_check_args(r, spec, ARRAY_SIZE(spec)) < 0)
		return -1;
	path = req_str(r, "path", NULL);
	mode = req_str(r, "mode", "r");
	for (m = 0; m < ARRAY_SIZE(modes); m++)
		if (strcmp(modes[m].mode, mode) == 0)
			break;
	if (m == ARRAY_SIZE(modes))
		return req_error(r, "GenericError", "invalid file open mode '%s'", mode);
	for (slot = 0; slot < FILE_HANDLES_MAX; slot++)
		if (!handles[slot].id)
			break;
	if (slot == FILE_HANDLES_MAX)
		return req_error(r, "GenericError",
				 "too many open files (at most %d handles)", FILE_HANDLES_MAX);
	fd = open(path, modes[m].flags | O_NONBLOCK | O_CLOEXEC | O_NOCTTY, 0666);
	if (fd < 0)
		return req_error(r, "GenericError", "failed to open file '%s' (mode: '%s'): %s",
				 path, mode, strerror(errno));
	handles[slot].id = next_handle++;
	handles[slot].fd = fd;
	jw_int(r->w, handles[slot].id);
	return 0;
}

static const struct arg_spec handle_only[] = {
	{ "handle", ARG_INT, false },
};

int cmd_guest_file_close(struct req *r)
{
	int i;

	if (req_check_args(r, handle_only, ARRAY_SIZE(handle_only)) < 0)
		return -1;
	i = find(r, req_int(r, "handle", 0));
	if (i < 0)
		return -1;
	int rc = close(handles[i].fd);
	handles[i].id = 0;
	handles[i].fd = -1;
	if (rc < 0 && errno != EINTR)
		return req_error(r, "GenericError", "failed to close handle: %s",
				 strerror(errno));
	jw_obj_open(r->w);
	jw_obj_close(r->w);
	return 0;
}

int cmd_guest_file_flush(struct req *r)
{
	if (req_check_args(r, handle_only, ARRAY_SIZE(handle_only)) < 0)
		return -1;
	if (find(r, req_int(r, "handle", 0)) < 0)
		return -1;
	jw_obj_open(r->w);
	jw_obj_close(r->w);
	return 0;
}

int cmd_guest_file_read(struct req *r)
{
	static const struct arg_spec spec[] = {
		{ "handle", ARG_INT, false },
		{ "count", ARG_INT, true },
	};
	int64_t count;
	size_t got = 0;
	bool eof = false;
	char *buf;
	int i;

	if (req_check_args(r, spec, ARRAY_SIZE(spec)) < 0)
		return -1;
	i = find(r, req_int(r, "handle", 0));
	if (i < 0)
		return -1;
	count = req_int(r, "count", FILE_READ_DEFAULT);
	if (count < 0 || count > FILE_READ_MAX)
		return req_error(r, "GenericError",
				 "value '%" PRId64 "' is invalid for argument count", count);
	buf = malloc(count ? (size_t)count : 1);
	if (!buf)
		return req_error(r, "GenericError", "out of memory");
	while (got < (size_t)count) {
		ssize_t n = read(handles[i].fd, buf + got, (size_t)count - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n < 0) {
			int err = errno;
			free(buf);
			return req_error(r, "GenericError", "failed to read file: %s",
					 strerror(err));
		}
		if (n == 0) {
			eof = true;
			break;
		}
		got += (size_t)n;
	}
	jw_obj_open(r->w);
	jw_kint(r->w, "count", (int64_t)got);
	jw_key(r->w, "buf-b64");
	jw_b64(r->w, buf, got);
	jw_kbool(r->w, "eof", eof);
	jw_obj_close(r->w);
	free(buf);
	return 0;
}

int cmd_guest_file_write(struct req *r)
{
	static const struct arg_spec spec[] = {
		{ "handle", ARG_INT, false },
		{ "buf-b64", ARG_STR, false },
		{ "count", ARG_INT, true },
	};
	const struct json *b;
	ssize_t len;
	int64_t count;
	size_t done = 0;
	int i;

	if (req_check_args(r, spec, ARRAY_SIZE(spec)) < 0)
		return -1;
	i = find(r, req_int(r, "handle", 0));
	if (i < 0)
		return -1;
	b = req_arg(r, "buf-b64");
	/* The request text is ours until the reply is sent: decode in place. */
	len = b64_decode(b->u.str.s, b->u.str.len);
	if (len < 0)
		return req_error(r, "GenericError", "base64 data is not valid");
	count = req_int(r, "count", len);
	if (count < 0 || count > len)
		return req_error(r, "GenericError", "Invalid parameter 'count'");
	while (done < (size_t)count) {
		ssize_t n = write(handles[i].fd, b->u.str.s + done, (size_t)count - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n < 0)
			return req_error(r, "GenericError", "failed to write to file: %s",
					 strerror(errno));
		done += (size_t)n;
	}
	jw_obj_open(r->w);
	jw_kint(r->w, "count", (int64_t)done);
	jw_kbool(r->w, "eof", false);
	jw_obj_close(r->w);
	return 0;
}

int cmd_guest_file_seek(struct req *r)
{
	static const struct arg_spec spec[] = {
		{ "handle", ARG_INT, false },
		{ "offset", ARG_INT, false },
		{ "whence", ARG_INT_OR_STR, false },
	};
	const struct json *wh;
	int whence, i;
	off_t pos;

	if (req_check_args(r, spec, ARRAY_SIZE(spec)) < 0)
		return -1;
	i = find(r, req_int(r, "handle", 0));
	if (i < 0)
		return -1;
	wh = req_arg(r, "whence");
	/* qemu-ga's GuestFileWhence: QGA_SEEK_SET/CUR/END = 0/1/2, or the
	 * names of the enum. */
	if (wh->type == JSON_STRING) {
		if (strcmp(wh->u.str.s, "set") == 0)
			whence = SEEK_SET;
		else if (strcmp(wh->u.str.s, "cur") == 0)
			whence = SEEK_CUR;
		else if (strcmp(wh->u.str.s, "end") == 0)
			whence = SEEK_END;
		else
			return req_error(r, "GenericError",
					 "Parameter 'whence' does not accept value '%s'",
					 wh->u.str.s);
	} else {
		static const int map[] = { SEEK_SET, SEEK_CUR, SEEK_END };
		if (wh->u.num.i < 0 || wh->u.num.i > 2)
			return req_error(r, "GenericError", "invalid whence code %" PRId64,
					 wh->u.num.i);
		whence = map[wh->u.num.i];
	}
	pos = lseek(handles[i].fd, (off_t)req_int(r, "offset", 0), whence);
	if (pos < 0)
		return req_error(r, "GenericError", "failed to seek file: %s", strerror(errno));
	jw_obj_open(r->w);
	jw_kint(r->w, "position", (int64_t)pos);
	jw_kbool(r->w, "eof", false);
	jw_obj_close(r->w);
	return 0;
}
