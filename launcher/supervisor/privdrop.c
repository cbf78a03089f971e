/* SPDX-License-Identifier: MIT */
/* privdrop.c - QEMU's user and the privilege drop before its exec (see privdrop.h) */
#include "supervisor/privdrop.h"

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gv-error.h"

gboolean gv_bench_no_sandbox(void)
{
	return !g_strcmp0(g_getenv("GRAINVM_BENCH_NO_SANDBOX"), "1");
}

/* Fill @out for passwd entry @pw; FALSE with @error when it is root's in disguise. */
static gboolean use_user(const struct passwd *pw, gboolean kvm, const char *why, GvQemuUser *out,
			 GError **error)
{
	if (pw->pw_uid == 0 || pw->pw_gid == 0) {
		g_set_error(error, GV_ERROR, GV_ERROR_INVALID,
			    "%s: user %s has uid or gid 0, which is root", why, pw->pw_name);
		return FALSE;
	}
	out->drop = TRUE;
	out->name = g_strdup(pw->pw_name);
	out->uid = pw->pw_uid;
	out->gid = pw->pw_gid;
	out->why = g_strdup(why);
	struct stat st;
	if (kvm && stat("/dev/kvm", &st) == 0 && st.st_gid != 0)
		out->kvm_gid = st.st_gid;
	return TRUE;
}

gboolean gv_qemu_user(gboolean kvm, GvQemuUser *out, GError **error)
{
	*out = (GvQemuUser){ .drop = FALSE, .kvm_gid = (gid_t)-1 };
	const char *name = g_getenv("GRAINVM_QEMU_USER");
	if (gv_bench_no_sandbox()) {
		out->why = g_strdup("GRAINVM_BENCH_NO_SANDBOX=1");
		return TRUE;
	}
	if (geteuid() != 0) {
		if (name && *name) {
			g_set_error(error, GV_ERROR, GV_ERROR_INVALID,
				    "GRAINVM_QEMU_USER=%s: only root can run QEMU as another user "
				    "(without root QEMU already runs as you; unset it)", name);
			return FALSE;
		}
		out->why = g_strdup("grainvm's own user: no root, nothing to drop");
		return TRUE;
	}
	if (name && *name) {
		if (!strcmp(name, "root")) {
			out->why = g_strdup("GRAINVM_QEMU_USER=root");
			return TRUE;
		}
		struct passwd *pw = getpwnam(name);
		if (!pw) {
			g_set_error(error, GV_ERROR, GV_ERROR_INVALID,
				    "GRAINVM_QEMU_USER=%s: no such user (create one: useradd --system "
				    "--no-create-home --shell /usr/sbin/nologin %s)", name, name);
			return FALSE;
		}
		out->chosen = TRUE;
		return use_user(pw, kvm, "GRAINVM_QEMU_USER", out, error);
	}
	/* Through sudo: the caller, whose workspace it normally is. */
	const char *sudo_uid = g_getenv("SUDO_UID");
	guint64 su = 0;
	struct passwd *pw;
	if (sudo_uid && g_ascii_string_to_unsigned(sudo_uid, 10, 1, G_MAXUINT32 - 1, &su, NULL) &&
	    (pw = getpwuid((uid_t)su)) && pw->pw_gid != 0)
		return use_user(pw, kvm, "the sudo caller", out, error);
	if ((pw = getpwnam(GV_QEMU_SYSTEM_USER)) && pw->pw_uid != 0 && pw->pw_gid != 0)
		return use_user(pw, kvm, "the system user " GV_QEMU_SYSTEM_USER, out, error);
	out->root_fallback = TRUE;
	out->why = g_strdup("no user " GV_QEMU_SYSTEM_USER " to run it as (create it: useradd "
			    "--system --no-create-home --shell /usr/sbin/nologin " GV_QEMU_SYSTEM_USER
			    "; or say GRAINVM_QEMU_USER=root)");
	return TRUE;
}

void gv_qemu_user_clear(GvQemuUser *u)
{
	g_clear_pointer(&u->name, g_free);
	g_clear_pointer(&u->why, g_free);
}

gboolean gv_qemu_user_may(const GvQemuUser *u, int dirfd, int mode)
{
	pid_t pid = fork();
	if (pid < 0)
		return TRUE;
	if (pid == 0) {
		gid_t groups[1] = { u->kvm_gid };
		if (setgroups(u->kvm_gid != (gid_t)-1 ? 1 : 0, groups) < 0 ||
		    setresgid(u->gid, u->gid, u->gid) < 0 || setresuid(u->uid, u->uid, u->uid) < 0)
			_exit(2);
		_exit(faccessat(dirfd, ".", mode, 0) == 0 ? 0 : 1);
	}
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return TRUE;
	return !(WIFEXITED(status) && WEXITSTATUS(status) == 1);
}

int gv_drop_privileges(uid_t uid, gid_t gid, gid_t kvm_gid)
{
	if (uid == 0)
		return -EINVAL;
	/* Empty the bounding set while CAP_SETPCAP is still ours. */
	for (int cap = 0; cap <= CAP_LAST_CAP; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
			return -errno;
	if (kvm_gid != (gid_t)-1 ? setgroups(1, &kvm_gid) < 0 : setgroups(0, NULL) < 0)
		return -errno;
	if (setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0)
		return -errno;
	/* Permitted and effective went with uid 0; inheritable and ambient go now. */
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2] = { { 0 } };
	if (syscall(SYS_capset, &h, d) < 0)
		return -errno;
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return -errno;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	/* Nothing can give it back: check, as a failed setresuid must not pass silently. */
	if (getuid() != uid || geteuid() != uid || setuid(0) == 0)
		return -EPERM;
	return 0;
}
