/* SPDX-License-Identifier: MIT */
/*
 * mounts.h - the 9p shares the host expects, mounting them (init mode)
 * and reporting them (grain-status)
 */
#ifndef GRAINVM_AGENT_MOUNTS_H
#define GRAINVM_AGENT_MOUNTS_H

#include <stdbool.h>

#include "json.h"

/* More shares than any VM spec will declare; each is a few hundred bytes. */
#define MOUNTS_MAX 32

/**
 * mounts_add() - declare an expected share
 * @spec: "TAG:GUESTPATH[:OPTS]" (kernel command line grainvm.mount= or
 *        --mount)
 *
 * Return: 0, -EINVAL for a malformed spec, -ENOSPC past MOUNTS_MAX.
 */
int mounts_add(const char *spec);

/**
 * mounts_mount_all() - mount every expected share that is not mounted
 *
 * mkdir -p the mount point, then mount type 9p with
 * "trans=virtio,version=9p2000.L" plus the spec's options.  A failure is
 * logged and remembered for grain-status, never fatal.
 */
void mounts_mount_all(void);

/* Is every expected share mounted? */
bool mounts_ready(void);

/**
 * mounts_write_status() - the "mounts" array of grain-status
 * @w: writer, positioned where the array value goes
 */
void mounts_write_status(struct jw *w);

/* One line of /proc/self/mountinfo, unescaped. */
struct mnt_entry {
	char *mount_point;
	char *mount_opts;   /* per-mount: rw,noatime,... */
	char *fstype;
	char *source;
	char *super_opts;   /* per-superblock: rw,msize=...,trans=virtio */
};

/**
 * mountinfo_foreach() - call @fn for each mount, in mount order
 * @fn: callback; return non-zero to stop
 * @opaque: for @fn
 *
 * Return: 0, or -errno if /proc/self/mountinfo cannot be read.
 */
int mountinfo_foreach(int (*fn)(const struct mnt_entry *e, void *opaque),
		      void *opaque);

/* Does the comma list @opts contain the word @opt? */
bool opt_has(const char *opts, const char *opt);

/*
 * mount_flag_lookup() - is @opt one that mount(2) takes as a flag?
 * @opt: one option word ("ro", "nosuid", ...; "rw" is one, flag 0)
 * @flag: set to its MS_* flag when it is
 *
 * Return: true when it is; the rest are file-system data.
 */
bool mount_flag_lookup(const char *opt, unsigned long *flag);

/* The MS_* flags of the comma list @opts (per-mount options of mountinfo). */
unsigned long mount_flags_of(const char *opts);

#endif
