/* SPDX-License-Identifier: MIT */
/*
 * exec.h - running commands for the host: qemu-ga's guest-exec with
 * captured output, and grainvm's streamed grain-exec-*
 */
#ifndef GRAINVM_AGENT_EXEC_H
#define GRAINVM_AGENT_EXEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

/* Commands running or waiting for their status to be read at once.
 * Each holds up to three pipes; see LOOP_MAX_WATCHES. */
#define EXEC_MAX 64
/* qemu-ga's GUEST_EXEC_MAX_OUTPUT: captured bytes kept per stream. */
#define EXEC_CAPTURE_MAX (16u << 20)
/* stdin bytes a host may queue ahead of the process reading them. */
#define EXEC_INPUT_MAX (4u << 20)
/* One read from a child pipe, and so at most one output event's data. */
#define EXEC_CHUNK (64u << 10)

/**
 * exec_init() - register the back-pressure hook with the loop
 *
 * Return: 0, or -ENOSPC.
 */
int exec_init(void);

/* A handle for grain-exec-start and grain-build-start: never reused. */
int64_t agent_next_handle(void);

/**
 * event_output() - send a grain-output event
 * @session: the subscriber (channel_session() when it subscribed)
 * @handle: whose output
 * @stream: "stdout", "stderr" or "log"
 * @seq: the event's number in this handle's stream of events, from 0
 * @offset: for "log", the byte offset of @data in the log; -1 otherwise
 * @data: bytes
 * @len: count
 *
 * Return: true when queued for the host.
 */
bool event_output(uint64_t session, int64_t handle, const char *stream, uint64_t seq,
		  int64_t offset, const void *data, size_t len);

/* Write "exitcode": N or "signal": N for a wait status. */
void jw_wait_status(struct jw *w, int status, const char *exit_key);

int cmd_guest_exec(struct req *r);
int cmd_guest_exec_status(struct req *r);
int cmd_grain_exec_start(struct req *r);
int cmd_grain_exec_input(struct req *r);
int cmd_grain_exec_signal(struct req *r);
int cmd_grain_exec_resize(struct req *r);

#endif
