/* SPDX-License-Identifier: MIT */
/*
 * proto.h - the qemu-ga wire protocol: stream framing, request envelope,
 * argument checking and replies
 *
 * Theory of operation
 *
 * The host writes JSON objects back to back on a byte stream; nothing
 * marks where one ends (qemu-ga needs no newline and neither do we).  The
 * framer finds object boundaries by tracking brace/bracket depth, strings
 * and escapes, buffering one object at a time (at most PROTO_MAX_REQUEST
 * bytes).  Then json.c parses it, the envelope ("execute", "arguments",
 * "id") is checked like QEMU's qmp_dispatch() does, the command is looked
 * up in a table and its handler writes the "return" value into a reply.
 *
 * Resynchronisation, the part that makes a stream protocol survive
 * clients that vanish mid-request:
 *  - A 0xFF byte (never valid in UTF-8 JSON) drops whatever is buffered.
 *    Hosts send it before guest-sync-delimited.
 *  - Bytes outside an object that cannot start one are reported once per
 *    run as a GenericError and skipped up to the next '{' or '[', control
 *    character or 0xFF, as QEMU's lexer does.
 *  - A request larger than PROTO_MAX_REQUEST is answered with a
 *    GenericError as soon as the limit is crossed; the rest of it is
 *    skipped (still tracking depth, not buffering) until it closes.
 *  - The transport calls proto_reset() when the peer changes, so a half
 *    sent command from a previous client never prefixes the next one's.
 *
 * Replies go out through an emit callback as complete lines, so the
 * transport can queue them without understanding JSON.
 */
#ifndef GRAINVM_AGENT_PROTO_H
#define GRAINVM_AGENT_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "json.h"

/*
 * 16 MiB per request: enough for a guest-file-write of 12 MiB (base64
 * grows data by 4/3), small enough that a runaway client cannot push the
 * agent's RSS far (qemu-ga's own bound is 64 MiB).
 */
#define PROTO_MAX_REQUEST (16u << 20)

struct req;

/**
 * cmd_fn - a command handler
 * @r: the request; its arguments are checked by the handler
 *
 * Writes the "return" value with the jw_*() functions on r->w, or fails
 * with req_error().
 *
 * Return: 0 or -1 (req_error()'s value).
 */
typedef int (*cmd_fn)(struct req *r);

struct command {
	const char *name;
	cmd_fn fn;
	/* false: no reply on success (guest-shutdown), as qemu-ga */
	bool success_response;
};

/* Called with each complete reply line (or event line); the callee may
 * take w->buf (set it to NULL and cap to 0) to avoid a copy. */
typedef void (*proto_emit_fn)(void *opaque, struct jw *w);

enum framer_state {
	FRAMER_IDLE,
	FRAMER_OBJECT,
	FRAMER_GARBAGE,
	FRAMER_DISCARD,
};

struct framer {
	char *buf;
	size_t len, cap;
	size_t max;
	long depth;
	bool in_str, esc;
	enum framer_state state;
};

struct proto {
	struct framer fr;
	const struct command *cmds;
	size_t ncmds;
	proto_emit_fn emit;
	void *opaque;
	struct jw out;
	struct json_doc doc;
	/* Bumped by proto_reset(): identifies the peer for streamed output. */
	uint64_t session;
};

struct req {
	struct proto *p;
	const char *name;
	const struct json *args;     /* always an object (empty if absent) */
	struct jw *w;
	bool failed;
	bool delimited;              /* prefix the reply with 0xFF */
	char err_class[32];
	char err_desc[512];
};

/**
 * proto_init() - set up a protocol endpoint
 * @p: the endpoint
 * @cmds: (transfer none): the command table, alive as long as @p
 * @ncmds: its length
 * @emit: where reply lines go
 * @opaque: for @emit
 */
void proto_init(struct proto *p, const struct command *cmds, size_t ncmds,
		proto_emit_fn emit, void *opaque);
void proto_free(struct proto *p);

/**
 * proto_feed() - feed bytes from the peer
 * @p: the endpoint
 * @data: bytes
 * @n: count
 *
 * Runs every request that completes within @data, emitting its reply.
 */
void proto_feed(struct proto *p, const void *data, size_t n);

/**
 * proto_reset() - forget a partial request; the peer has changed
 * @p: the endpoint
 */
void proto_reset(struct proto *p);

/**
 * req_error() - fail a request
 * @r: the request
 * @cls: qemu-ga error class ("GenericError", "CommandNotFound", ...)
 * @fmt: printf format of the description
 *
 * Return: -1, for "return req_error(...)".
 */
int req_error(struct req *r, const char *cls, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

enum arg_type {
	ARG_INT,
	ARG_NUM,
	ARG_STR,
	ARG_BOOL,
	ARG_OBJ,
	ARG_ARR,
	ARG_STRLIST,   /* array of strings */
	ARG_INT_OR_STR,
	ARG_BOOL_OR_STR,
	ARG_ANY,
};

struct arg_spec {
	const char *name;
	enum arg_type type;
	bool optional;
};

/**
 * req_check_args() - validate the arguments against a spec
 * @r: the request
 * @spec: every argument the command takes
 * @n: entries in @spec
 *
 * Rejects missing, unexpected and mistyped arguments with qemu-ga's
 * messages ("Parameter 'x' is missing", "Parameter 'x' is unexpected",
 * "Invalid parameter type for 'x', expected: integer").
 *
 * Return: 0, or -1 with the request failed.
 */
int req_check_args(struct req *r, const struct arg_spec *spec, size_t n);

/* Argument accessors, for use after req_check_args(). */
const struct json *req_arg(const struct req *r, const char *name);
/* Return @def when the (optional) argument is absent. */
int64_t req_int(const struct req *r, const char *name, int64_t def);
const char *req_str(const struct req *r, const char *name, const char *def);
bool req_bool(const struct req *r, const char *name, bool def);

/**
 * proto_event_begin() - start an asynchronous event line
 * @w: an empty writer
 * @name: event name
 *
 * Writes {"event": NAME, "data": and leaves the writer ready for the
 * data value; finish with proto_event_end().
 */
void proto_event_begin(struct jw *w, const char *name);
/* Adds the QMP-style timestamp, closes the object and the line. */
void proto_event_end(struct jw *w);

#endif
