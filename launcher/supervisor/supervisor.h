/* SPDX-License-Identifier: MIT */
/*
 * supervisor.h - the process that owns one VM's QEMU
 *
 * `grainvm up` prepares everything, writes the plan (plan.h) and starts
 * the supervisor (detached, or in the foreground with --foreground),
 * handing it the plan in memory or as a sealed memfd, never by path.  The
 * supervisor spawns QEMU, holds its QMP, console and agent connections,
 * decides when the guest is ready, answers the CLI on RUNDIR/control.sock,
 * runs the shutdown sequence for `down`, and when QEMU ends records why in
 * state.json and removes every runtime socket before it exits itself.
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "plan.h"

/**
 * GvSupervisorNotify - progress for whoever started the supervisor
 * @event: {"event": "ready", ...} once, or {"event": "failed",
 *         "message": ..., "exit-code": N} when the VM ended before ready
 * @user_data: as given
 */
typedef void (*GvSupervisorNotify)(JsonObject *event, gpointer user_data);

/*
 * down's grace for a guest that is visibly shutting down: its agent closed
 * its port after the power button or guest-shutdown.  A systemd guest
 * stopping its services under TCG on a loaded host took over 20 s here
 * (Debian 12 minbase, OVMF); quitting QEMU then would cut a clean
 * shutdown short and leave a journal to replay.
 */
#define GV_DOWN_GRACE_S(timeout_s) MAX(60u, 6u * (guint)(timeout_s))

/* `grainvm __supervise`'s descriptors: the VM lock, the report pipe, the plan. */
#define GV_SUPERVISE_LOCK_FD 3
#define GV_SUPERVISE_REPORT_FD 4
#define GV_SUPERVISE_PLAN_FD 5

typedef struct {
	const GvPlan *plan;            /* what to run; the supervisor takes a copy */
	int notify_fd;                 /* -1, or a pipe: events as JSON lines */
	GvSupervisorNotify notify;     /* or a callback (foreground) */
	gpointer notify_data;
	gboolean adopt;                /* take over the running QEMU in qemu.pid */
} GvSupervisorOptions;

/**
 * gv_supervisor_run() - supervise VM @name until its QEMU has ended
 * @name: the VM; @opts->plan must be its plan
 * @opts: the plan and how to report readiness
 * @error: setup failures (a plan for another VM, cannot bind sockets,
 *         cannot spawn)
 *
 * The caller holds the VM lock (vmstate.h) for the whole call.
 *
 * Return: the exit code for the supervising process: 0 when QEMU ended
 * as asked, else per docs/errors.md.
 */
int gv_supervisor_run(const char *name, const GvSupervisorOptions *opts, GError **error);
