/* SPDX-License-Identifier: MIT */
/* privdrop.c - QEMU's user and the privilege drop before its exec (see privdrop.h) */
#include "supervisor/privdrop.h"

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "gv-error.h"

gboolean gv_bench_no_sandbox(void)
{
	return !g_strcmp0(g_getenv("GRAINVM_BENCH_NO_SANDBOX"), "1");
}

gboolean gv_qemu_user(gboolean kvm, GvQemuUser *out, GError **error)
{
	*out = (GvQemuUser){ .drop = FALSE, .kvm_gid = (gid_t)-1 };
	const char *name = g_getenv("GRAINVM_QEMU_USER");
	if (!name || !*name || gv_bench_no_sandbox())
		return TRUE;
	if (geteuid() != 0) {
		g_set_error(error, GV_ERROR, GV_ERROR_INVALID,
			    "GRAINVM_QEMU_USER=%s: only root can run QEMU as another user (without "
			    "root QEMU already runs as you; unset it)", name);
		return FALSE;
	}
	struct passwd *pw = getpwnam(name);
	if (!pw) {
		g_set_error(error, GV_ERROR, GV_ERROR_INVALID,
			    "GRAINVM_QEMU_USER=%s: no such user (create one: useradd --system "
			    "--no-create-home --shell /usr/sbin/nologin %s)", name, name);
		return FALSE;
	}
	if (pw->pw_uid == 0 || pw->pw_gid == 0) {
		g_set_error(error, GV_ERROR, GV_ERROR_INVALID,
			    "GRAINVM_QEMU_USER=%s: that user has uid or gid 0, which is root", name);
		return FALSE;
	}
	out->drop = TRUE;
	out->name = g_strdup(name);
	out->uid = pw->pw_uid;
	out->gid = pw->pw_gid;
	struct stat st;
	if (kvm && stat("/dev/kvm", &st) == 0 && st.st_gid != 0)
		out->kvm_gid = st.st_gid;
	return TRUE;
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
