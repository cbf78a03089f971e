/* SPDX-License-Identifier: MIT */
/*
 * channel.h - the byte stream to the host: a virtio-serial port, or a
 * unix socket for host-side tests
 *
 * Theory of operation
 *
 * A virtio-serial port is always "open" in the guest; whether a host
 * process is on the other end shows only as POLLHUP and read() == 0
 * (drivers/char/virtio_console.c, host_connected).  Polling a
 * disconnected port would report POLLHUP forever, so while disconnected
 * the port leaves the poll set; the driver sends SIGIO when the host
 * connects (the fd is O_ASYNC and we own it), and a 250 ms timer covers
 * a missed signal.  Either way the agent is idle in poll(), never
 * spinning.  The unix socket mode listens and serves one client at a
 * time, like qemu-ga's unix-listen mode.
 *
 * On every disconnect the protocol parser is reset (a half-sent command
 * must not prefix the next client's first request) and queued output is
 * dropped: it was meant for a host that is gone, and a new host
 * resynchronises with guest-sync-delimited anyway.
 *
 * Output is non-blocking with a queue: a host that stops reading never
 * blocks the agent (reaping, the power button, the build keep running).
 * While the queue holds more than CHANNEL_BACKLOG_MAX the agent stops
 * reading requests, and streamed output stops reading its pipes, so the
 * queue cannot grow without bound.
 */
#ifndef GRAINVM_AGENT_CHANNEL_H
#define GRAINVM_AGENT_CHANNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

#define CHANNEL_DEFAULT_PORT "/dev/virtio-ports/org.grainvm.agent.0"
#define CHANNEL_PORT_NAME "org.grainvm.agent.0"

/* Above this many queued bytes, read no more requests or child output. */
#define CHANNEL_BACKLOG_MAX (1u << 20)

enum channel_kind {
	CHANNEL_PORT,
	CHANNEL_UNIX,
};

/**
 * channel_start() - open the channel and register it with the loop
 * @kind: port or unix socket
 * @path: the port device (NULL: the default, found by name if missing),
 *        or the socket path to listen on
 * @cmds: command table
 * @ncmds: its length
 *
 * A port that does not exist yet is retried every 250 ms.
 *
 * Return: 0, or -errno (unix socket that cannot be bound).
 */
int channel_start(enum channel_kind kind, const char *path,
		  const struct command *cmds, size_t ncmds);

/* SIGIO arrived: the host may have connected to the port. */
void channel_sigio(void);

/* The current peer's session; it changes on every disconnect. */
uint64_t channel_session(void);

/* Is @session the connected peer? */
bool channel_session_alive(uint64_t session);

/* Bytes waiting to be written to the host. */
size_t channel_backlog(void);

/**
 * channel_send() - queue an event line for the peer of @session
 * @session: from channel_session() when the stream was requested
 * @w: a complete line (proto_event_end()); its buffer may be taken
 *
 * Dropped silently when that peer has gone.
 *
 * Return: true when queued.
 */
bool channel_send(uint64_t session, struct jw *w);

/* Flush what can be written without blocking (before power-off). */
void channel_flush(void);

#endif
