/* SPDX-License-Identifier: MIT */
/*
 * qmp-private.h - what the files of libgvqmp share; not installed
 *
 * qmp-client.c owns the object, its I/O and closing; qmp-handshake.c the
 * greeting/sync states; qmp-command.c the pending queue.  They share the
 * client struct below.  The Theory of Operation is in qmp-client.c.
 */
#pragma once

#include "grainvm-qmp.h"

typedef enum {
	STATE_NEW,
	STATE_GREETING,
	STATE_CAPABILITIES,
	STATE_SYNCING,
	STATE_READY,
	STATE_CLOSED,
} ClientState;

typedef struct Pending Pending;

/*
 * A descriptor to send as SCM_RIGHTS with the byte at @offset of the
 * outgoing buffer, the first byte of its command (qmp-client.c, "Passing
 * descriptors").
 */
typedef struct {
	gsize offset;
	int fd;                     /* our duplicate, closed once sent */
} OutFd;

/* At most this many descriptors wait to be sent at once. */
#define GV_QMP_MAX_OUT_FDS 8
typedef void (*InternalReplyFunc)(GvQmpClient *client, JsonNode *ret,
				  GError *error);

/*
 * One command that was sent and has not been answered yet, or (held) one
 * that waits for an agent resync to finish before it is sent.
 */
struct Pending {
	GvQmpClient *client;        /* weak: the client owns the queue */
	char *id;
	char *command;
	GTask *task;                /* NULL for a zombie or internal command */
	InternalReplyFunc internal; /* qmp_capabilities, run by the client */
	GvQmpReplyFunc reply_func;  /* gv_qmp_client_call(): run as read */
	gpointer reply_data;
	JsonObject *held_args;      /* held: the arguments to send later */
	gboolean held;              /* in client->held, not sent yet */
	GSource *timeout;
	GSource *cancel;
};

/* One event subscription. */
typedef struct {
	guint id;
	char *event;                /* NULL: every event */
	GvQmpEventFunc func;        /* NULL once removed during a dispatch */
	gpointer user_data;
	GDestroyNotify destroy;
} Handler;

struct GvQmpClient {
	GObject parent_instance;

	int fd;
	GvQmpPeer peer;
	GMainContext *context;
	ClientState state;

	GvJsonReader *reader;
	guint8 *rbuf;
	GSource *in_source;
	GByteArray *out;
	gsize out_pos;             /* bytes of @out already written */
	GQueue out_fds;            /* OutFd *: descriptors to send, in @out's order */
	GSource *out_source;

	guint64 next_id;
	GQueue pending;            /* Pending *, oldest first */
	GQueue held;               /* Pending *, waiting for a resync */
	guint auto_resync_ms;      /* 0: resync only when asked */
	gboolean input_paused;     /* gv_qmp_client_pause_input() */

	GTask *handshake;
	gboolean handshake_internal; /* an automatic resync runs (no task) */
	GSource *handshake_timeout;
	GSource *handshake_cancel;
	guint handshake_timeout_ms;
	JsonObject *greeting;
	guint32 sync_id;
	gboolean sync_seen_ff;

	GPtrArray *handlers;       /* Handler * */
	guint next_handler_id;
	guint dispatching;         /* nesting depth of event dispatch */

	GvQmpClosedFunc closed_func;
	gpointer closed_data;
	GError *close_reason;
	GSource *closed_idle;
};

GType gv_qmp_client_get_type(void);

/* qmp-error.c */
GError *gv_qmp_error_from_reply(JsonNode *error_node, const char *command);

/* qmp-client.c */
void gv_qmp_clear_source(GSource **source);
GSource *gv_qmp_attach_timeout(GvQmpClient *client, guint ms, GSourceFunc func,
			       gpointer data);
GSource *gv_qmp_attach_cancel(GvQmpClient *client, GCancellable *cancellable,
			      GCancellableSourceFunc func, gpointer data);
GTask *gv_qmp_new_task(GvQmpClient *client, GCancellable *cancellable,
		       GAsyncReadyCallback callback, gpointer user_data,
		       gpointer tag);
void gv_qmp_queue_bytes(GvQmpClient *client, const void *buf, gsize len);
void gv_qmp_queue_command(GvQmpClient *client, const char *command,
			  JsonObject *arguments, const char *id, int fd);
void gv_qmp_client_start_reading(GvQmpClient *client);
void gv_qmp_client_close_with(GvQmpClient *client, GError *reason);

/* qmp-client.c, continued */
void gv_qmp_dispatch_event(GvQmpClient *client, JsonObject *msg);

/* qmp-command.c */
Pending *gv_qmp_pending_add(GvQmpClient *client, const char *command,
			    JsonObject *arguments, int fd);
void gv_qmp_pending_fail(Pending *p, GError *error);
void gv_qmp_pending_fail_resync(Pending *p, GError *error);
void gv_qmp_held_flush(GvQmpClient *client, const GError *error);
Pending *gv_qmp_pending_find(GvQmpClient *client, JsonObject *msg);
void gv_qmp_pending_complete(Pending *p, JsonNode *ret, GError *error);
void gv_qmp_pending_free(Pending *p);

/* qmp-handshake.c */
void gv_qmp_handshake_done(GvQmpClient *client, GError *error);
void gv_qmp_handshake_failed(GvQmpClient *client, GError *error);
void gv_qmp_handle_greeting(GvQmpClient *client, JsonObject *msg);
void gv_qmp_handle_sync_item(GvQmpClient *client, GvJsonReaderItem item,
			     JsonObject *msg);
void gv_qmp_resync_auto(GvQmpClient *client);
gboolean gv_qmp_handshake_running(GvQmpClient *client);
