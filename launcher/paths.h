/* SPDX-License-Identifier: MIT */
/*
 * paths.h - where grainvm keeps things
 *
 * Three roots:
 *   state    persistent per-VM files (overlay disk, UEFI variables, the spec
 *            the VM was last started with)
 *   runtime  per-VM files that die with the VM or the host's boot
 *            (sockets, pid files, state.json, the console log)
 *   cache    content-keyed artefacts shared by every VM (extracted
 *            vmlinux, generated initramfs, the KVM probe verdict)
 *
 * GRAINVM_HOME=DIR puts all three under DIR (tests use a temporary one);
 * GRAINVM_CACHE_DIR overrides the cache alone.  Inside a Slurm job without
 * GRAINVM_HOME, state and runtime go to a home of the job's own
 * (gv_job_home()) and the cache stays the node's.  Otherwise root uses
 * /var/lib/grainvm, /run/grainvm and /var/cache/grainvm, and other users
 * the XDG state, runtime and cache directories.
 */
#pragma once

#include <glib.h>
#include <sys/types.h>

typedef struct {
	char *name;
	char *state_dir;
	char *run_dir;
	/* in state_dir */
	char *overlay;      /* overlay.qcow2 */
	char *efi_vars;     /* efi-vars.fd */
	char *spec;         /* spec.conf: the merged spec of the last up */
	/* in run_dir */
	char *control_sock;
	char *qmp_sock;
	char *agent_sock;
	char *qga_sock;
	char *console_sock;
	char *state_json;
	char *console_log;
	char *qemu_log;     /* QEMU's own stderr */
	char *supervisor_pid;
	char *qemu_pid;
	char *plan;         /* plan.json: what the supervisor is to launch */
} GvVmPaths;

/**
 * gv_job_home() - the home of this Slurm job's VMs
 *
 * Return: (transfer full) (nullable): $TMPDIR/grainvm-UID-jobID (TMPDIR
 * defaults to /tmp) when SLURM_JOB_ID is set and GRAINVM_HOME is not,
 * else NULL.
 */
char *gv_job_home(void);
char *gv_state_root(void);
char *gv_runtime_root(void);
char *gv_cache_root(void);

/**
 * gv_vm_paths_new() - every path of one VM
 * @name: a valid VM name (gv_spec_name_valid())
 * @error: return location; fails when a socket path would not fit
 *         sockaddr_un (108 bytes), naming the path
 *
 * Creates nothing but, inside a Slurm job, the job's home (gv_job_home()),
 * which it refuses unless it is a private directory of this user.
 *
 * Return: (transfer full) (nullable): the paths.
 */
GvVmPaths *gv_vm_paths_new(const char *name, GError **error);
void gv_vm_paths_free(GvVmPaths *paths);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(GvVmPaths, gv_vm_paths_free)

/**
 * gv_mkdir_private() - mkdir -p, then make sure only the caller controls it
 * @dir: the directory
 * @error: return location; GV_ERROR_INVALID naming the path and what is
 *         wrong when a component grainvm owns is a symlink or a file, is
 *         owned by another user, or has a mode other than 0700
 *
 * The components grainvm owns are the state, runtime or cache root and
 * everything below it (or only the last component of a path under none):
 * each is created with mode 0700 or, when it exists, must already be a
 * directory of the caller's with mode 0700.  They are walked with openat
 * and O_NOFOLLOW, so a symlink swapped in meanwhile is refused too.  This
 * stops another local user who pre-creates /tmp/grainvm-UID (the runtime
 * root without XDG_RUNTIME_DIR) from planting or swapping files in it.
 *
 * Return: TRUE when @dir exists afterwards and passed the checks.
 */
gboolean gv_mkdir_private(const char *dir, GError **error);

/**
 * gv_dir_check_private() - gv_mkdir_private()'s checks, creating nothing
 * @dir: the directory
 * @error: as gv_mkdir_private()
 *
 * For commands that only read a VM's runtime files (down, status, ...):
 * a directory that does not exist passes, when what exists of its
 * grainvm-owned ancestors passes.
 *
 * Return: TRUE when what exists of @dir is the caller's alone.
 */
gboolean gv_dir_check_private(const char *dir, GError **error);
