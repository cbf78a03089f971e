/* SPDX-License-Identifier: MIT */
/*
 * privdrop.h - what the QEMU grainvm starts may do
 *
 * Every QEMU runs under its own seccomp sandbox (-sandbox, argv.c).  As
 * root, GRAINVM_QEMU_USER=NAME also makes QEMU run as that user, with no
 * capabilities and no way back (see gv_drop_privileges()): the supervisor
 * opens what QEMU needs (kernel, initrd, share directories, sockets, taps)
 * and hands the descriptors over, since that user cannot reach grainvm's
 * 0700 directories.  docs/security.md says what that covers and what it
 * costs.
 *
 * GRAINVM_BENCH_NO_SANDBOX=1 turns both off, so that bench/up-to-ready
 * can measure what they cost in one run; it is for measurements only.
 */
#pragma once

#include <glib.h>
#include <sys/types.h>

/** gv_bench_no_sandbox() - TRUE when GRAINVM_BENCH_NO_SANDBOX=1 asks for QEMU as before the sandbox */
gboolean gv_bench_no_sandbox(void);

/* Who QEMU runs as, once grainvm drops privileges for it. */
typedef struct {
	gboolean drop;   /* FALSE: QEMU runs as grainvm does */
	char *name;
	uid_t uid;
	gid_t gid;
	gid_t kvm_gid;   /* /dev/kvm's group, kept as the one supplementary group; -1: none */
} GvQemuUser;

/**
 * gv_qemu_user() - whom QEMU should run as, from GRAINVM_QEMU_USER
 * @kvm: the VM uses KVM (QEMU keeps /dev/kvm's group then)
 * @out: (out caller-allocates): filled on success; free its name
 * @error: GV_ERROR_INVALID when the user does not exist or is root, or
 *         when grainvm does not run as root (nothing to drop)
 *
 * Return: TRUE; @out->drop says whether there is anything to do.
 */
gboolean gv_qemu_user(gboolean kvm, GvQemuUser *out, GError **error);

/**
 * gv_drop_privileges() - become @uid/@gid for good, with no capabilities
 * @uid: the user; not 0
 * @gid: its group
 * @kvm_gid: one supplementary group to keep, or (gid_t)-1
 *
 * For a child between fork and exec: only async-signal-safe calls.  The
 * order matters: the bounding set is emptied while CAP_SETPCAP is still
 * there, groups before ids (setgroups needs CAP_SETGID), the gid before
 * the uid; setresuid() to a non-zero uid then clears the permitted and
 * effective sets, the ambient set is cleared, and no_new_privs makes
 * sure no setuid binary or file capability gives anything back.  It is
 * done here rather than with QEMU's -runas, which QEMU 7.2 does after
 * installing its seccomp filter: with elevateprivileges=deny its own
 * setuid is filtered and it dies at once with SIGSYS.
 *
 * Return: 0, or -errno of the step that failed (the caller must not exec).
 */
int gv_drop_privileges(uid_t uid, gid_t gid, gid_t kvm_gid);
