/* SPDX-License-Identifier: MIT */
/*
 * agent-harness.h - start the real grainvm-agent on a unix socket and
 * talk to it in raw bytes, for the host-side agent tests
 *
 * The agent comes from $GRAINVM_AGENT_HOST, else $GRAINVM_AGENT (set by
 * tests/agent/meson.build), runs in --listen unix:PATH mode in a fresh temporary
 * directory, and is killed at the end of each test.
 */
#ifndef GRAINVM_TEST_AGENT_HARNESS_H
#define GRAINVM_TEST_AGENT_HARNESS_H

#include <glib.h>
#include <json-glib/json-glib.h>

typedef struct {
	GPid pid;
	char *dir;
	char *sock;
} Agent;

typedef struct {
	int fd;
	GByteArray *buf;   /* bytes read but not yet returned */
	GQueue *events;    /* events read while waiting for a reply (JsonNode) */
} Conn;

/* Start the agent; @extra: more arguments (NULL-terminated) or NULL. */
Agent *agent_start(const char *const *extra);
void agent_stop(Agent *a);

Conn *conn_open(Agent *a);
void conn_close(Conn *c);
void conn_send(Conn *c, const void *data, gsize n);
void conn_send_str(Conn *c, const char *s);
/*
 * The next line without its '\n' (a leading 0xFF is kept), or NULL on
 * timeout or EOF.
 */
char *conn_line(Conn *c, int timeout_ms);
/* Skip to the next 0xFF, as a host resynchronising does; FALSE on timeout. */
gboolean conn_skip_to_sync(Conn *c, int timeout_ms);
/* The next line parsed as a JSON object (asserts). */
JsonNode *conn_reply(Conn *c);
/* Send @json and return the parsed reply. */
JsonNode *conn_cmd(Conn *c, const char *json);
/*
 * conn_cmd() and assert a "return"; returns a new ref to its value.  An
 * event that comes first (a streaming command's output may overtake the
 * reply to the next request) is set aside for conn_event(); so in
 * conn_error().
 */
JsonNode *conn_return(Conn *c, const char *json);
/* conn_cmd() and assert an "error" of class @cls; returns its desc. */
char *conn_error(Conn *c, const char *json, const char *cls);

/* The next event set aside, else the next line parsed (any JSON), or NULL
 * on timeout or EOF. */
JsonNode *conn_event(Conn *c, int timeout_ms);

#endif
