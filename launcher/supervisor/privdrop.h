/* SPDX-License-Identifier: MIT */
/*
 * privdrop.h - what the QEMU grainvm starts may do
 *
 * Every QEMU runs under its own seccomp sandbox (-sandbox, argv.c).  As
 * root, QEMU also runs as an unprivileged user (gv_qemu_user() says which:
 * GRAINVM_QEMU_USER, the sudo caller, or the system user grainvm), with no
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
	char *why;       /* why this user, for status and notices: "the sudo caller"... */
	gboolean root_fallback; /* root, only for want of a user to drop to */
	gboolean chosen;        /* GRAINVM_QEMU_USER named the user: never overruled */
} GvQemuUser;

/* The system user QEMU runs as by default, when it exists (docs/security.md). */
#define GV_QEMU_SYSTEM_USER "grainvm"

/**
 * gv_qemu_user() - whom QEMU should run as
 * @kvm: the VM uses KVM (QEMU keeps /dev/kvm's group then)
 * @out: (out caller-allocates): filled on success; free it with
 *       gv_qemu_user_clear()
 * @error: GV_ERROR_INVALID when GRAINVM_QEMU_USER names no user or a user
 *         with uid or gid 0, or is set without root (nothing to drop)
 *
 * As root, the first of: GRAINVM_QEMU_USER=NAME (=root: root, on purpose);
 * the sudo caller (SUDO_UID, not 0, a user that exists: the workspace is
 * normally theirs); the system user grainvm when it exists; else root,
 * and @out->why says how to create that user.  Without root QEMU runs as
 * grainvm does, nothing to drop.
 *
 * Return: TRUE; @out->drop says whether there is anything to do.
 */
gboolean gv_qemu_user(gboolean kvm, GvQemuUser *out, GError **error);

/** gv_qemu_user_clear() - free what gv_qemu_user() filled in */
void gv_qemu_user_clear(GvQemuUser *u);

/**
 * gv_qemu_user_may() - may that user do @mode to a directory?
 * @u: a user to drop to (u->drop)
 * @dirfd: the directory, opened by grainvm (QEMU gets such a descriptor,
 *         so the directories above it do not count)
 * @mode: R_OK, W_OK, X_OK, or'ed
 *
 * Asked of the kernel, ACLs and all: a child drops to @u as QEMU will and
 * tries faccessat(@mode) on it.
 *
 * Return: TRUE when it may (or when the check itself fails: QEMU will
 * then report what it really tries).
 */
gboolean gv_qemu_user_may(const GvQemuUser *u, int dirfd, int mode);

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
