/* SPDX-License-Identifier: MIT */
/* paths.c - the three roots and the per-VM file names (see paths.h) */
#include "paths.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "gv-error.h"

/*
 * Inside a Slurm job, with no GRAINVM_HOME: one home per job, so that two
 * jobs on a node never share a VM name, a lock, a socket or an overlay
 * (each task of a job array is a job of its own, with its own id).  It is
 * node-local ($TMPDIR, else /tmp) and keyed by user and job; the cache is
 * not in it (see gv_cache_root()).
 */
char *gv_job_home(void)
{
	const char *home = g_getenv("GRAINVM_HOME");
	const char *job = g_getenv("SLURM_JOB_ID");
	if ((home && *home) || !job || !*job || strspn(job, "0123456789") != strlen(job) ||
	    strlen(job) > 20)
		return NULL;
	const char *tmp = g_getenv("TMPDIR");
	return g_strdup_printf("%s/grainvm-%u-job%s", tmp && *tmp == '/' ? tmp : "/tmp",
			       (unsigned)geteuid(), job);
}

static char *home_sub(const char *sub)
{
	const char *home = g_getenv("GRAINVM_HOME");
	if (home && *home)
		return g_build_filename(home, sub, NULL);
	g_autofree char *job = gv_job_home();
	return job ? g_build_filename(job, sub, NULL) : NULL;
}

/*
 * The job home's name is predictable and TMPDIR is everyone's: another user
 * may have made it first, or put a symlink there.  gv_mkdir_private() takes
 * it only as a directory of ours, mode 0700, reached without a symlink
 * (exit 2 otherwise, as for grainvm's other directories).
 */
static gboolean job_home_check(GError **error)
{
	g_autofree char *home = gv_job_home();
	if (!home || gv_mkdir_private(home, error))
		return TRUE;
	gv_prefix_error(error, "the Slurm job's grainvm home (GRAINVM_HOME sets another)");
	return FALSE;
}

char *gv_state_root(void)
{
	char *p = home_sub("state");
	if (p)
		return p;
	if (geteuid() == 0)
		return g_strdup("/var/lib/grainvm");
	return g_build_filename(g_get_user_state_dir(), "grainvm", NULL);
}

char *gv_runtime_root(void)
{
	char *p = home_sub("run");
	if (p)
		return p;
	if (geteuid() == 0)
		return g_strdup("/run/grainvm");
	/*
	 * g_get_user_runtime_dir() falls back to the cache dir when
	 * XDG_RUNTIME_DIR is unset, which keeps sockets on persistent
	 * storage; /tmp at least is cleaned at boot like /run would be.
	 */
	const char *xdg = g_getenv("XDG_RUNTIME_DIR");
	if (xdg && *xdg)
		return g_build_filename(xdg, "grainvm", NULL);
	return g_strdup_printf("/tmp/grainvm-%u", (unsigned)geteuid());
}

char *gv_cache_root(void)
{
	const char *env = g_getenv("GRAINVM_CACHE_DIR");
	if (env && *env)
		return g_strdup(env);
	/* Not the job's home: the cache is keyed by content and written
	 * atomically, so every job on a node shares it (a job of its own
	 * would build the initramfs again each time). */
	const char *home = g_getenv("GRAINVM_HOME");
	if (home && *home)
		return g_build_filename(home, "cache", NULL);
	if (geteuid() == 0)
		return g_strdup("/var/cache/grainvm");
	return g_build_filename(g_get_user_cache_dir(), "grainvm", NULL);
}

GvVmPaths *gv_vm_paths_new(const char *name, GError **error)
{
	if (!job_home_check(error))
		return NULL;
	g_autoptr(GvVmPaths) p = g_new0(GvVmPaths, 1);
	g_autofree char *state_root = gv_state_root();
	g_autofree char *run_root = gv_runtime_root();

	p->name = g_strdup(name);
	p->state_dir = g_build_filename(state_root, name, NULL);
	p->run_dir = g_build_filename(run_root, name, NULL);
	p->overlay = g_build_filename(p->state_dir, "overlay.qcow2", NULL);
	p->efi_vars = g_build_filename(p->state_dir, "efi-vars.fd", NULL);
	p->spec = g_build_filename(p->state_dir, "spec.conf", NULL);
	p->control_sock = g_build_filename(p->run_dir, "control.sock", NULL);
	p->qmp_sock = g_build_filename(p->run_dir, "qmp.sock", NULL);
	p->agent_sock = g_build_filename(p->run_dir, "agent.sock", NULL);
	p->qga_sock = g_build_filename(p->run_dir, "qga.sock", NULL);
	p->console_sock = g_build_filename(p->run_dir, "console.sock", NULL);
	p->state_json = g_build_filename(p->run_dir, "state.json", NULL);
	p->console_log = g_build_filename(p->run_dir, "console.log", NULL);
	p->qemu_log = g_build_filename(p->run_dir, "qemu.log", NULL);
	p->supervisor_pid = g_build_filename(p->run_dir, "supervisor.pid", NULL);
	p->qemu_pid = g_build_filename(p->run_dir, "qemu.pid", NULL);
	p->plan = g_build_filename(p->run_dir, "plan.json", NULL);

	const char *socks[] = { p->control_sock, p->qmp_sock, p->agent_sock,
				p->qga_sock, p->console_sock };
	for (gsize i = 0; i < G_N_ELEMENTS(socks); i++) {
		if (strlen(socks[i]) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
			g_set_error(error, GV_ERROR, GV_ERROR_INVALID,
				    "socket path %s is longer than a unix socket allows (107 bytes): "
				    "set GRAINVM_HOME or XDG_RUNTIME_DIR to a shorter directory",
				    socks[i]);
			return NULL;
		}
	}
	return g_steal_pointer(&p);
}

void gv_vm_paths_free(GvVmPaths *p)
{
	if (!p)
		return;
	char **fields[] = { &p->name, &p->state_dir, &p->run_dir, &p->overlay,
			    &p->efi_vars, &p->spec, &p->control_sock, &p->qmp_sock,
			    &p->agent_sock, &p->qga_sock, &p->console_sock,
			    &p->state_json, &p->console_log, &p->qemu_log,
			    &p->supervisor_pid, &p->qemu_pid, &p->plan };
	for (gsize i = 0; i < G_N_ELEMENTS(fields); i++)
		g_free(*fields[i]);
	g_free(p);
}

/*
 * Where the part of @dir that grainvm owns begins: the state, runtime or
 * cache root when @dir is one of them or lies below one, else @dir itself.
 * Above that point the path is the user's (a symlinked /home, /var/run ->
 * /run, an XDG_RUNTIME_DIR made by logind) and is only required to lead
 * to a directory.
 */
static gsize private_start(const char *dir)
{
	char *roots[] = { gv_state_root(), gv_runtime_root(), gv_cache_root() };
	gsize start = strlen(dir);
	for (gsize i = 0; i < G_N_ELEMENTS(roots); i++) {
		gsize n = strlen(roots[i]);
		while (n > 1 && roots[i][n - 1] == '/')
			n--;
		if (!strncmp(dir, roots[i], n) && (dir[n] == '/' || !dir[n]) && n < start) {
			/* The root's own last component is grainvm's too. */
			start = n;
			while (start > 0 && dir[start - 1] != '/')
				start--;
		}
		g_free(roots[i]);
	}
	if (start == strlen(dir)) {
		/* Not under a root: only the last component is grainvm's. */
		const char *slash = strrchr(dir, '/');
		start = slash ? (gsize)(slash - dir) + 1 : 0;
	}
	return start;
}

/*
 * Is the directory open on @fd one that only the caller controls?  It must
 * be a directory (not a symlink: the fd was opened O_NOFOLLOW), owned by
 * the caller, mode 0700.  @created: grainvm just made it, so a mode the
 * umask narrowed is set right rather than refused.
 */
static gboolean check_private(int fd, const char *path, gboolean created, GError **error)
{
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int err = errno;
		g_set_error(error, GV_ERROR, GV_ERROR_FAILED, "cannot stat %s: %s", path,
			    g_strerror(err));
		return FALSE;
	}
	if (!S_ISDIR(st.st_mode)) {
		g_set_error(error, GV_ERROR, GV_ERROR_INVALID,
			    "%s is not a directory: grainvm keeps its files there (remove it)", path);
		return FALSE;
	}
	if (st.st_uid != geteuid()) {
		g_set_error(error, GV_ERROR, GV_ERROR_INVALID,
			    "%s belongs to uid %u, not to uid %u running grainvm: another user "
			    "may have made it to take over this one's VMs (remove it)", path,
			    (unsigned)st.st_uid, (unsigned)geteuid());
		return FALSE;
	}
	if ((st.st_mode & 07777) != 0700) {
		if (created && fchmod(fd, 0700) == 0)
			return TRUE;
		g_set_error(error, GV_ERROR, GV_ERROR_INVALID,
			    "%s has mode %04o, not 0700: other users could change what grainvm "
			    "reads from it (chmod 0700 %s, or remove it)", path,
			    (unsigned)(st.st_mode & 07777), path);
		return FALSE;
	}
	return TRUE;
}

/*
 * Open (and with @create make) @dir, checking what grainvm owns of it.
 * Without @create a missing component ends the walk: -1 with no error
 * when even the user's part is missing, else the deepest directory's fd.
 */
static int walk_private(const char *dir, gboolean create, GError **error)
{
	gsize start = private_start(dir);
	g_autofree char *upper = g_strndup(dir, start);
	int fd;
	if (!*upper) {
		fd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	} else {
		/* The user's part of the path: create it as mkdir -p would. */
		if (create && g_mkdir_with_parents(upper, 0700) < 0) {
			int err = errno;
			g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(err),
				    "cannot create directory %s: %s", upper, g_strerror(err));
			return -1;
		}
		fd = open(upper, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (fd < 0 && !create && errno == ENOENT)
		return -1; /* nothing there: nothing planted either; no error */
	if (fd < 0) {
		int err = errno;
		g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(err),
			    "cannot open directory %s: %s", *upper ? upper : ".", g_strerror(err));
		return -1;
	}
	/* grainvm's part: one component at a time, never through a symlink. */
	g_auto(GStrv) parts = g_strsplit(dir + start, "/", -1);
	GString *path = g_string_new(upper);
	for (char **c = parts; *c; c++) {
		if (!**c || !strcmp(*c, "."))
			continue;
		if (path->len && path->str[path->len - 1] != '/')
			g_string_append_c(path, '/');
		g_string_append(path, *c);
		gboolean created = FALSE;
		if (create) {
			if (mkdirat(fd, *c, 0700) == 0)
				created = TRUE;
			else if (errno != EEXIST) {
				int err = errno;
				g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(err),
					    "cannot create directory %s: %s", path->str,
					    g_strerror(err));
				goto fail;
			}
		}
		int next = openat(fd, *c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0 && !create && errno == ENOENT)
			break; /* checked as far as it exists */
		if (next < 0) {
			int err = errno;
			struct stat st;
			if ((err == ELOOP || err == ENOTDIR) &&
			    fstatat(fd, *c, &st, AT_SYMLINK_NOFOLLOW) == 0)
				g_set_error(error, GV_ERROR, GV_ERROR_INVALID,
					    "%s is %s, not a directory: grainvm keeps its files "
					    "there (remove it)", path->str,
					    S_ISLNK(st.st_mode) ? "a symlink" : "a file");
			else
				g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(err),
					    "cannot open directory %s: %s", path->str,
					    g_strerror(err));
			goto fail;
		}
		close(fd);
		fd = next;
		if (!check_private(fd, path->str, created, error))
			goto fail;
	}
	g_string_free(path, TRUE);
	return fd;

fail:
	g_string_free(path, TRUE);
	close(fd);
	return -1;
}

gboolean gv_mkdir_private(const char *dir, GError **error)
{
	int fd = walk_private(dir, TRUE, error);
	if (fd < 0)
		return FALSE;
	close(fd);
	return TRUE;
}

gboolean gv_dir_check_private(const char *dir, GError **error)
{
	int fd = walk_private(dir, FALSE, error);
	if (fd < 0)
		return !error || !*error;
	close(fd);
	return TRUE;
}
