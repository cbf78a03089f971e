/* SPDX-License-Identifier: MIT */
/*
 * plan.h - GvPlan: what `up` hands the supervisor, and its one codec
 *
 * The plan is the contract between the CLI, which prepares a VM, and the
 * supervisor, which runs it: QEMU's argv, the shares it must see mounted,
 * the NICs whose descriptors it opens, the snapshot it restores, and a few
 * facts it reports (accel, boot, memory).  This file is the only code that
 * turns a plan into JSON or JSON into a plan; nothing else reads or writes
 * RUNDIR/plan.json.  The decoder is strict: a member of the wrong type, a
 * missing required member, a number out of range is a GError that names
 * the member ("nics[1].forwards[0].host-port"), never a crash or a default.
 * Members it does not know are ignored, so an older supervisor adopting a
 * newer plan fails only on what it needs.
 *
 * How the plan travels (the trust argument)
 * -----------------------------------------
 * The supervisor executes the plan's argv[0], so whoever can choose the
 * plan can run code as the VM's user.  Hence:
 *
 * - A fresh supervisor (`grainvm up`) never reads plan.json.  `up` encodes
 *   the plan once, writes that text to plan.json for later readers, and
 *   hands the same bytes to the supervisor in a sealed memfd (fd 5 of
 *   `__supervise`, see gv_plan_memfd()): no writes, no resizing, no new
 *   seals.  Swapping plan.json between `up`'s write and the supervisor's
 *   start changes nothing the supervisor runs (tests/vm/plan-swap.sh).
 *   With --foreground the plan is passed in memory.
 *
 * - Adoption (`up` finding a QEMU whose supervisor died) has no fresher
 *   source than plan.json: the plan that QEMU was started with, as later
 *   changed by live disk snapshots, exists nowhere else.  So `up` reads it,
 *   with gv_plan_load(): opened with O_NOFOLLOW, and refused unless it is a
 *   regular file owned by the caller, not writable by group or others, and
 *   with one link (a hard link to a file elsewhere is not ours to trust).
 *   The runtime directory that holds it is checked, as it is created or
 *   opened, to be a real directory owned by the caller with mode 0700, so
 *   nobody but the caller (or root) can create, replace or rename anything
 *   in it: a swap there needs powers that already run code as the caller.  `up` then passes
 *   the decoded and re-encoded plan to `__supervise --adopt` through the
 *   same sealed memfd, so the supervisor has one way in for both cases
 *   and never opens a path it did not make itself.
 *
 * - The supervisor is the only writer after start: a live disk snapshot
 *   changes the plan's disk, and the supervisor saves the plan it runs
 *   (gv_plan_save(): atomic rename, mode 0600) for a later adoption.
 *
 * The on-disk format is the JSON object the CLI wrote before this codec
 * existed; docs/snapshots.md and supervisor.c describe what each member
 * is for.
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "boot/spec.h"
#include "supervisor/privdrop.h"

/* A 9p share the guest must have mounted for the VM to be ready. */
typedef struct {
	char *id;          /* [share NAME]'s NAME, "workspace" for the default */
	char *source;      /* host directory */
	char *tag;         /* 9p mount tag */
	char *mount;       /* guest directory */
	gboolean readonly;
	guint64 msize;     /* bytes */
	char *cache;       /* 9p cache mode */
	char *security;    /* QEMU security_model */
} GvPlanShare;

/* A NIC: what the supervisor opens for QEMU and reports in status. */
typedef struct {
	char *id;          /* "" for [net], NAME for [net NAME] */
	char *netdev;      /* QEMU's netdev id */
	GvNetMode mode;    /* never GV_NET_NONE */
	char *mac;
	int fd;            /* the descriptor number QEMU expects, or -1 */
	char *tap;         /* bridge as root: the tap grainvm creates, or NULL */
	char *helper;      /* bridge without root: qemu-bridge-helper, which the
			    * supervisor runs for the tap (QEMU may not: spawn=deny); or NULL */
	char *bridge;      /* or NULL */
	char *network;     /* switch network, or NULL */
	char *address;     /* guest address, or NULL */
	guint mtu;         /* 0: not set */
	GPtrArray *forwards; /* GvForward*; user mode only, else NULL */
	gboolean auto_forward;
	gboolean auto_forward_privileged; /* guest ports below 1024 too */
	guint auto_forward_max; /* at most this many automatic forwards; 0: the default */
} GvPlanNic;

/* A file the supervisor opens for a QEMU that runs as another user (argv.h). */
typedef struct {
	int fd;            /* the number QEMU finds it under (GV_FD_KERNEL...) */
	char *path;        /* absolute */
	gboolean directory; /* a share: opened O_DIRECTORY */
	gboolean writable;  /* opened O_RDWR (the disk's top layer, UEFI variables) */
} GvPlanFile;

/* `up --from TAG`: the saved state QEMU loads (supervisor-restore.c). */
typedef struct {
	char *tag;
	char *state;       /* the state file */
	char *run_overlay; /* this run's disk overlay, removed at the end; or NULL */
	/* A clone (docs/snapshots.md "Clones"): the template's RAM file, which
	 * QEMU maps privately and nobody may delete while this VM runs; NULL
	 * for an ordinary restore. */
	char *template_ram;
	char *template_of; /* "VM:TAG" of that template, for status */
	char **macs;       /* grain-thaw's "macs": "OLD=NEW" per NIC whose MAC changes, or NULL */
	char **nets;       /* grain-thaw's "net": grainvm.net= values to apply again, or NULL */
} GvPlanRestore;

typedef struct {
	char *name;
	char **argv;           /* QEMU's command line; never empty */
	char **snapshot_argv;  /* with files by descriptor (argv.h, files_by_fd): the same
				* command line with every file named by path, which a
				* snapshot's manifest records so that a save and a restore
				* compare whoever QEMU runs as; NULL: argv is that */
	guint ready_timeout;   /* seconds */
	gboolean ready_system; /* [vm] ready=system: also systemd up and every card addressed */
	char *accel;
	char *accel_reason;    /* or NULL */
	char *boot;            /* what boots, for status */
	char *boot_origin;     /* a restored VM: what its snapshot booted; or NULL */
	char *project_dir;     /* or NULL */
	guint64 memory;        /* bytes */
	guint cpus;
	char *disk;            /* the image QEMU writes now, or NULL */
	char *disk_image;      /* the base it is an overlay on, or NULL */
	char *ram_file;        /* [vm] template: the guest's RAM, a tmpfs file this VM owns
				* (removed when it stops unless a template took it), or NULL */
	GPtrArray *shares;     /* GvPlanShare* */
	GPtrArray *nics;       /* GvPlanNic* */
	GvPlanRestore *restore; /* or NULL */
	GvQemuUser qemu_user;  /* .drop: QEMU runs as that user; .why: why whoever it runs as
				* (supervisor/privdrop.h, gv_qemu_user()) */
	GPtrArray *files;      /* GvPlanFile*: opened for that QEMU; empty without the drop */
} GvPlan;

/* The largest plan read from a file or descriptor: a real one is a few KiB. */
#define GV_PLAN_MAX_BYTES (1u << 20)

GvPlan *gv_plan_new(void);
void gv_plan_free(GvPlan *plan);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(GvPlan, gv_plan_free)

GvPlanShare *gv_plan_share_new(void);
void gv_plan_share_free(GvPlanShare *s);
GvPlanNic *gv_plan_nic_new(void);
void gv_plan_nic_free(GvPlanNic *n);
void gv_plan_file_free(GvPlanFile *f);

/**
 * gv_plan_to_json() - encode @plan as plan.json's object
 * @plan: the plan
 *
 * Return: (transfer full): the object.
 */
JsonObject *gv_plan_to_json(const GvPlan *plan);

/**
 * gv_plan_to_data() - encode @plan as plan.json's text
 * @plan: the plan
 *
 * Return: (transfer full): pretty-printed JSON, NUL-terminated.
 */
char *gv_plan_to_data(const GvPlan *plan);

/**
 * gv_plan_from_json() - decode a plan, strictly
 * @o: plan.json's object
 * @error: GV_ERROR_FAILED naming the first member that is missing, of the
 *         wrong type or out of range
 *
 * Return: (transfer full) (nullable): the plan.
 */
GvPlan *gv_plan_from_json(JsonObject *o, GError **error);

/**
 * gv_plan_from_data() - gv_plan_from_json() from text
 * @data: JSON text (need not be NUL-terminated)
 * @len: its length; at most GV_PLAN_MAX_BYTES
 * @error: as gv_plan_from_json(), or a parse error
 *
 * Return: (transfer full) (nullable): the plan.
 */
GvPlan *gv_plan_from_data(const char *data, gsize len, GError **error);

/**
 * gv_plan_copy() - a deep copy, through the codec
 * @plan: the plan
 *
 * Return: (transfer full): the copy.
 */
GvPlan *gv_plan_copy(const GvPlan *plan);

/**
 * gv_plan_load() - read a plan file the caller owns
 * @path: plan.json
 * @error: GV_ERROR_FAILED when it cannot be opened, GV_ERROR_STATE when
 *         it is a symlink, not a regular file, not the caller's, writable
 *         by others or has more than one link; else as gv_plan_from_data()
 *
 * See the top of this file for why each check.  Every message names @path.
 *
 * Return: (transfer full) (nullable): the plan.
 */
GvPlan *gv_plan_load(const char *path, GError **error);

/**
 * gv_plan_save() - write @plan to @path atomically, mode 0600
 * @plan: the plan
 * @path: plan.json
 * @error: return location
 *
 * Return: TRUE on success; @path is untouched on failure.
 */
gboolean gv_plan_save(const GvPlan *plan, const char *path, GError **error);

/**
 * gv_plan_memfd() - the plan in a sealed memory file, for a child process
 * @plan: the plan
 * @error: return location
 *
 * The file holds gv_plan_to_data()'s text and carries the seals
 * F_SEAL_WRITE, F_SEAL_SHRINK, F_SEAL_GROW and F_SEAL_SEAL: nobody, the
 * holder included, can change it any more.  Close-on-exec is set; the
 * caller maps it to the child's descriptor.
 *
 * Return: the descriptor, or -1.
 */
int gv_plan_memfd(const GvPlan *plan, GError **error);

/**
 * gv_plan_read_fd() - decode the plan a parent passed as a sealed memfd
 * @fd: the descriptor (not closed)
 * @error: GV_ERROR_FAILED when @fd is not a sealed memory file of at most
 *         GV_PLAN_MAX_BYTES, else as gv_plan_from_data()
 *
 * Return: (transfer full) (nullable): the plan.
 */
GvPlan *gv_plan_read_fd(int fd, GError **error);

/**
 * gv_plan_shares_to_json() - the "shares" array, as status shows it
 * @plan: the plan
 *
 * Return: (transfer full): the array.
 */
JsonArray *gv_plan_shares_to_json(const GvPlan *plan);

/**
 * gv_plan_nics_to_json() - the "nics" array, as status shows it
 * @plan: the plan
 *
 * Return: (transfer full): the array.
 */
JsonArray *gv_plan_nics_to_json(const GvPlan *plan);
