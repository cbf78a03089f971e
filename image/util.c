/* SPDX-License-Identifier: MIT */
/*
 * util.c - errors, atomic files, signal cleanup and I/O helpers
 *
 * The signal cleanup is why the temporary-file registry below avoids
 * malloc and locks: a SIGINT handler may only call async-signal-safe
 * functions, so registered paths sit in static buffers guarded by an
 * atomic state word, and the handler does nothing but unlink() them and
 * re-raise the signal.
 */
#include "gv-image-private.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

G_DEFINE_QUARK(gv-image-error-quark, gv_image_error)

gboolean gv_image_error_is_bad_input(const GError *error)
{
	if (!error || error->domain != GV_IMAGE_ERROR)
		return FALSE;
	switch ((GvImageError)error->code) {
	case GV_IMAGE_ERROR_INVALID:
	case GV_IMAGE_ERROR_NOT_FOUND:
	case GV_IMAGE_ERROR_CORRUPT:
	case GV_IMAGE_ERROR_UNSUPPORTED:
	case GV_IMAGE_ERROR_UNTRUSTED:
		return TRUE;
	case GV_IMAGE_ERROR_IO:
	case GV_IMAGE_ERROR_TOOL:
		break;
	}
	return FALSE;
}

/*
 * The one size grammar of grainvm, for spec keys ([vm] memory, [disk] size,
 * [share] msize) and the image commands alike, so that "1.5G" means the same
 * in grainvm.conf and on the command line: digits, an optional fraction
 * (kept to 1/1000 of the unit: enough for sizes), an optional binary unit
 * K, M, G, T or P in either case, optionally followed by "iB" or "B", or
 * the unit "B" alone.  No sign, no spaces, at most 2^63 - 1 bytes (what
 * qcow2 and off_t can hold).
 */
static gboolean parse_size(const char *text, guint64 bare_unit, guint64 *out)
{
	static const char units[] = "KMGTP";
	if (!text || !g_ascii_isdigit(text[0]))
		return FALSE;
	char *end = NULL;
	errno = 0;
	guint64 whole = g_ascii_strtoull(text, &end, 10);
	if (errno)
		return FALSE;
	guint64 frac_milli = 0;
	if (*end == '.') {
		end++;
		if (!g_ascii_isdigit(*end))
			return FALSE;
		for (guint64 scale = 100; g_ascii_isdigit(*end); scale /= 10, end++)
			frac_milli += (guint64)(*end - '0') * scale;
	}
	guint64 unit = bare_unit;
	const char *u = *end ? strchr(units, g_ascii_toupper(*end)) : NULL;
	if (u) {
		unit = G_GUINT64_CONSTANT(1) << (10 * (u - units + 1));
		end++;
		if (g_ascii_strncasecmp(end, "iB", 2) == 0)
			end += 2;
		else if (g_ascii_toupper(*end) == 'B')
			end++;
	} else if (g_ascii_toupper(*end) == 'B') {
		unit = 1;
		end++;
	}
	if (*end)
		return FALSE;
	if (frac_milli && unit < 1024)
		return FALSE; /* "1.5" bytes */
	const guint64 max = G_MAXINT64;
	if (whole > max / unit)
		return FALSE;
	/* unit is a power of two >= 1024 when there is a fraction, so unit / 8
	 * is exact and x / 1000 = x / 8 / 125. */
	guint64 v = whole * unit + frac_milli * (unit / 8) / 125;
	if (v > max || v < whole * unit)
		return FALSE;
	*out = v;
	return TRUE;
}

gboolean gv_image_parse_size_in(const char *text, guint64 bare_unit, guint64 *out,
				GError **error)
{
	g_return_val_if_fail(bare_unit >= 1, FALSE);
	if (parse_size(text, bare_unit, out))
		return TRUE;
	g_set_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_INVALID,
		    "bad size \"%s\" (expected a number with an optional K, M, G, T or P suffix, "
		    "such as 512M or 1.5G)", text ? text : "");
	return FALSE;
}

gboolean gv_image_parse_size(const char *text, guint64 *out, GError **error)
{
	return gv_image_parse_size_in(text, 1, out, error);
}

gboolean gv_io_error(GError **error, int errsv, const char *action,
		     const char *path)
{
	g_set_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_IO, "%s %s: %s", action,
		    path, g_strerror(errsv));
	return FALSE;
}

int gv_open_input(const char *path, const char *what, GError **error)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		int errsv = errno;
		g_set_error(error, GV_IMAGE_ERROR,
			    errsv == ENOENT || errsv == ENOTDIR ? GV_IMAGE_ERROR_NOT_FOUND
								: GV_IMAGE_ERROR_IO,
			    "cannot open %s %s: %s", what, path, g_strerror(errsv));
	}
	return fd;
}

/* ------------------------------------------------------------------------ */
/* Temporary-file registry for the signal handler                          */
/* ------------------------------------------------------------------------ */

/*
 * 16 slots: one convert or build has at most three temporaries at once
 * (the output, the ESP and the root filesystem image).
 */
#define TEMP_SLOTS 16
enum { SLOT_FREE, SLOT_FILLING, SLOT_LIVE };
static gint temp_state[TEMP_SLOTS];
static char temp_paths[TEMP_SLOTS][4096];

int gv_temp_register(const char *path)
{
	if (strlen(path) >= sizeof(temp_paths[0]))
		return -1;
	for (int i = 0; i < TEMP_SLOTS; i++) {
		if (!g_atomic_int_compare_and_exchange(&temp_state[i], SLOT_FREE, SLOT_FILLING))
			continue;
		strcpy(temp_paths[i], path);
		g_atomic_int_set(&temp_state[i], SLOT_LIVE);
		return i;
	}
	return -1;
}

void gv_temp_unregister(int slot)
{
	if (slot >= 0 && slot < TEMP_SLOTS)
		g_atomic_int_set(&temp_state[slot], SLOT_FREE);
}

static void cleanup_handler(int sig)
{
	for (int i = 0; i < TEMP_SLOTS; i++) {
		if (g_atomic_int_get(&temp_state[i]) == SLOT_LIVE)
			unlink(temp_paths[i]);
	}
	/* Die of the same signal so the parent sees the usual status. */
	signal(sig, SIG_DFL);
	raise(sig);
}

void gv_image_install_signal_cleanup(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = cleanup_handler;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	/*
	 * Over a file size limit (ulimit -f), let write() fail with EFBIG
	 * like a full disk, so the normal error path cleans up.
	 */
	signal(SIGXFSZ, SIG_IGN);
}

/* ------------------------------------------------------------------------ */
/* Removing trees                                                           */
/* ------------------------------------------------------------------------ */

static gboolean rm_rf_at(int at, const char *name, const char *shown, GError **error)
{
	struct stat st;

	if (fstatat(at, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			return TRUE;
		goto fail;
	}
	if (S_ISDIR(st.st_mode)) {
		int fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			goto fail;
		DIR *d = fdopendir(fd);
		if (!d) {
			close(fd);
			goto fail;
		}
		struct dirent *de;
		gboolean ok = TRUE;
		while (ok && (de = readdir(d))) {
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			g_autofree char *sub = g_build_filename(shown, de->d_name, NULL);
			ok = rm_rf_at(dirfd(d), de->d_name, sub, error);
		}
		closedir(d);
		if (!ok)
			return FALSE;
		if (unlinkat(at, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
			goto fail;
		return TRUE;
	}
	if (unlinkat(at, name, 0) < 0 && errno != ENOENT)
		goto fail;
	return TRUE;
fail:;
	int e = errno;
	g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(e), "cannot remove %s: %s", shown,
		    g_strerror(e));
	return FALSE;
}

gboolean gv_rm_rf(const char *path, GError **error)
{
	return rm_rf_at(AT_FDCWD, path, path, error);
}

/* ------------------------------------------------------------------------ */
/* Atomic files                                                             */
/* ------------------------------------------------------------------------ */

gboolean gv_atomic_file_open(GvAtomicFile *f, const char *path, GError **error)
{
	g_autofree char *dir = g_path_get_dirname(path);
	g_autofree char *base = g_path_get_basename(path);
	g_autofree char *tmpl = g_strdup_printf("%s/.%s.XXXXXX", dir, base);
	/* 0666 through the umask, as any newly created file. */
	int fd = g_mkstemp_full(tmpl, O_RDWR | O_CLOEXEC, 0666);

	if (fd < 0)
		return gv_io_error(error, errno, "cannot create a temporary file for", path);
	f->path = g_strdup(path);
	f->tmp_path = g_steal_pointer(&tmpl);
	f->fd = fd;
	f->slot = gv_temp_register(f->tmp_path);
	return TRUE;
}

static void fsync_dir_of(const char *path)
{
	g_autofree char *dir = g_path_get_dirname(path);
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	/* Best effort: the rename is done; this only makes it durable sooner. */
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
}

gboolean gv_atomic_file_commit(GvAtomicFile *f, GError **error)
{
	g_return_val_if_fail(f->fd >= 0, FALSE);

	if (fsync(f->fd) < 0)
		return gv_io_error(error, errno, "cannot flush", f->path);
	if (close(f->fd) < 0) {
		f->fd = -1;
		return gv_io_error(error, errno, "cannot write", f->path);
	}
	f->fd = -1;
	if (rename(f->tmp_path, f->path) < 0)
		return gv_io_error(error, errno, "cannot rename the temporary file to", f->path);
	gv_temp_unregister(f->slot);
	f->slot = -1;
	g_clear_pointer(&f->tmp_path, g_free);
	fsync_dir_of(f->path);
	return TRUE;
}

void gv_atomic_file_abort(GvAtomicFile *f)
{
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
	if (f->tmp_path)
		unlink(f->tmp_path);
	gv_temp_unregister(f->slot);
	f->slot = -1;
	g_clear_pointer(&f->tmp_path, g_free);
	g_clear_pointer(&f->path, g_free);
}

/* ------------------------------------------------------------------------ */
/* I/O                                                                      */
/* ------------------------------------------------------------------------ */

gboolean gv_pwrite_all(int fd, const void *buf, gsize len, guint64 off,
		       const char *what, GError **error)
{
	const guint8 *p = buf;

	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return gv_io_error(error, errno, "cannot write", what);
		if (n == 0)
			return gv_io_error(error, ENOSPC, "cannot write", what);
		p += n;
		len -= (gsize)n;
		off += (guint64)n;
	}
	return TRUE;
}

gboolean gv_pread_full(int fd, void *buf, gsize len, guint64 off,
		       const char *what, GError **error)
{
	guint8 *p = buf;

	while (len > 0) {
		ssize_t n = pread(fd, p, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return gv_io_error(error, errno, "cannot read", what);
		if (n == 0) {
			memset(p, 0, len);
			break;
		}
		p += n;
		len -= (gsize)n;
		off += (guint64)n;
	}
	return TRUE;
}

gboolean gv_buffer_is_zero(const void *buf, gsize len)
{
	const guint64 *p = buf;
	gsize words = len / 8, i = 0;

	/* Most non-zero data differs in its first word: check it first. */
	if (words && p[0])
		return FALSE;
	/* OR 64 bytes at a time; compilers vectorize this loop. */
	for (; i + 8 <= words; i += 8) {
		guint64 acc = p[i] | p[i + 1] | p[i + 2] | p[i + 3] | p[i + 4] | p[i + 5] |
			      p[i + 6] | p[i + 7];
		if (acc)
			return FALSE;
	}
	for (; i < words; i++) {
		if (p[i])
			return FALSE;
	}
	for (gsize b = words * 8; b < len; b++) {
		if (((const guint8 *)buf)[b])
			return FALSE;
	}
	return TRUE;
}

char *gv_path_join_dir_of(const char *base, const char *name)
{
	const char *slash = strrchr(base, '/');

	if (name[0] == '/' || !slash)
		return g_strdup(name);
	return g_strdup_printf("%.*s%s", (int)(slash - base + 1), base, name);
}

/* ------------------------------------------------------------------------ */
/* External tools                                                           */
/* ------------------------------------------------------------------------ */

static char *last_line(const char *text)
{
	g_auto(GStrv) lines = g_strsplit(text ? text : "", "\n", -1);

	for (int i = (int)g_strv_length(lines) - 1; i >= 0; i--) {
		g_strstrip(lines[i]);
		if (lines[i][0])
			return g_strdup(lines[i]);
	}
	return g_strdup("");
}

gboolean gv_run_tool(const char *const *argv, const char *const *envp,
		     char **stdout_out, GError **error)
{
	g_auto(GStrv) env = g_get_environ();
	g_autofree char *out = NULL, *err = NULL;
	g_autoptr(GError) local = NULL;
	int status = 0;

	for (gsize i = 0; envp && envp[i]; i++) {
		g_auto(GStrv) kv = g_strsplit(envp[i], "=", 2);
		env = g_environ_setenv(env, kv[0], kv[1] ? kv[1] : "", TRUE);
	}
	/* mkfs.* live in /usr/sbin, which an ordinary user's PATH lacks. */
	g_autofree char *found = strchr(argv[0], '/') ? NULL : g_find_program_in_path(argv[0]);
	for (gsize i = 0; !found && !strchr(argv[0], '/') && i < 2; i++) {
		g_autofree char *p = g_build_filename(i ? "/sbin" : "/usr/sbin", argv[0], NULL);
		if (g_file_test(p, G_FILE_TEST_IS_EXECUTABLE))
			found = g_steal_pointer(&p);
	}
	g_autofree char **args = g_memdup2(argv, (g_strv_length((char **)argv) + 1) * sizeof(char *));
	if (found)
		args[0] = found;
	if (!g_spawn_sync(NULL, args, env, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, &err,
			  &status, &local)) {
		g_set_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_TOOL, "cannot run %s: %s", argv[0],
			    local->message);
		return FALSE;
	}
	if (!g_spawn_check_wait_status(status, NULL)) {
		g_autofree char *why = last_line(err && *err ? err : out);
		if (WIFSIGNALED(status))
			g_set_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_TOOL, "%s killed by signal %d",
				    argv[0], WTERMSIG(status));
		else
			g_set_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_TOOL,
				    "%s failed (exit status %d): %s", argv[0], WEXITSTATUS(status), why);
		return FALSE;
	}
	if (stdout_out)
		*stdout_out = g_steal_pointer(&out);
	return TRUE;
}
