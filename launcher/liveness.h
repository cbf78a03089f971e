/* SPDX-License-Identifier: MIT */
/*
 * vmstate.h - is a VM running, and what happened to it
 *
 * Liveness is a lock, not a pid: the supervisor holds an exclusive flock
 * on RUNDIR/lock for as long as it lives (it inherits the descriptor from
 * `up`, which took the lock first, so two `up`s of one name cannot race).
 * A crashed supervisor releases it without cooperating, so there is never a
 * stale "running" to clean by hand.  What the VM is doing is in
 * RUNDIR/state.json, which only the supervisor writes, atomically.
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "paths.h"

typedef enum {
	GV_PHASE_STARTING, /* preparing, QEMU not yet spawned */
	GV_PHASE_BOOTING,  /* QEMU runs, the guest is not ready yet */
	GV_PHASE_READY,    /* the agent answered and every share is mounted */
	GV_PHASE_STOPPING, /* down in progress */
	GV_PHASE_STOPPED,  /* QEMU ended the way it was asked to */
	GV_PHASE_CRASHED,  /* QEMU or the guest died unasked */
	GV_PHASE_FAILED,   /* the guest was not ready in time; grainvm stopped it */
	GV_PHASE__COUNT
} GvPhase;

const char *gv_phase_name(GvPhase phase);

/**
 * gv_vm_lock() - take the VM's lock, creating the runtime directory
 * @paths: the VM
 * @fd: (out): the locked descriptor (not close-on-exec cleared)
 * @error: GV_ERROR_STATE when another process holds it
 *
 * Return: TRUE when the caller now owns the VM.
 */
gboolean gv_vm_lock(const GvVmPaths *paths, int *fd, GError **error);

/** gv_vm_is_running() - TRUE while some supervisor holds the lock */
gboolean gv_vm_is_running(const GvVmPaths *paths);

/**
 * gv_vm_state_read() - the last state.json
 * Return: (transfer full) (nullable): the object, NULL when there is none.
 */
JsonObject *gv_vm_state_read(const GvVmPaths *paths);

/** gv_vm_state_write() - replace state.json atomically */
gboolean gv_vm_state_write(const GvVmPaths *paths, JsonObject *state, GError **error);

/**
 * gv_vm_runtime_cleanup() - remove sockets, pid files and the plan
 *
 * Keeps state.json and the logs, which say what happened.
 */
void gv_vm_runtime_cleanup(const GvVmPaths *paths);

/** gv_json_to_string() - compact or pretty JSON text of any node */
char *gv_json_to_string(JsonNode *node, gboolean pretty);

/** gv_json_parse_object() - parse text that must be one JSON object */
JsonObject *gv_json_parse_object(const char *text, gssize len, GError **error);
