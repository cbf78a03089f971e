/* SPDX-License-Identifier: MIT */
/*
 * grainvm-qmp.h - asynchronous client for QEMU's JSON protocols
 *
 * One client speaks to one peer over one stream socket: QEMU's QMP monitor,
 * a guest agent (grainvm-agent or QEMU's qemu-ga) on a virtio-serial
 * chardev, or grainvm's own supervisor control socket, which speaks the QMP
 * handshake too.  All of them send one JSON object per line.
 *
 * Threading: a client belongs to the GMainContext it was created with and
 * must only be used from the thread that iterates it.  Callbacks run from
 * that context.
 *
 * Errors: every failure is a GError in GV_QMP_ERROR.  A QMP "error" reply
 * maps its "class" to a GvQmpError code and the message reads
 * "CLASS: DESC", so the class is kept even for classes this header does
 * not name.
 */
#pragma once

#include <glib.h>
#include <gio/gio.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

#define GV_QMP_ERROR (gv_qmp_error_quark())
GQuark gv_qmp_error_quark(void);

typedef enum {
	/* Error classes a QMP or qemu-ga peer returns. */
	GV_QMP_ERROR_GENERIC_ERROR,      /* "GenericError" */
	GV_QMP_ERROR_COMMAND_NOT_FOUND,  /* "CommandNotFound" */
	GV_QMP_ERROR_DEVICE_NOT_ACTIVE,  /* "DeviceNotActive" */
	GV_QMP_ERROR_DEVICE_NOT_FOUND,   /* "DeviceNotFound" */
	GV_QMP_ERROR_KVM_MISSING_CAP,    /* "KVMMissingCap" */
	GV_QMP_ERROR_OTHER_CLASS,        /* any other class; the message names it */
	/* Failures of the connection itself. */
	GV_QMP_ERROR_PROTOCOL,   /* the peer sent something that is not this protocol */
	GV_QMP_ERROR_TOO_LONG,   /* a message over the line cap (see gv_qmp_client_new) */
	GV_QMP_ERROR_CLOSED,     /* the connection closed before the reply arrived */
	GV_QMP_ERROR_TIMEOUT,    /* no reply within the command's timeout */
	GV_QMP_ERROR_IO,         /* read/write failed; message has strerror */
} GvQmpError;

/**
 * gv_qmp_error_class_name() - QMP class string of an error code
 * @code: a GvQmpError
 *
 * Return: "GenericError", "CommandNotFound", ... for the class codes;
 * NULL for the connection failures and GV_QMP_ERROR_OTHER_CLASS.
 */
const char *gv_qmp_error_class_name(GvQmpError code);

/* ------------------------------------------------------------------------ */
/* Stream reader: bytes in, one parsed JSON message out per line.           */
/* Pure (no I/O); the client uses it and the fuzz target drives it alone.   */
/* ------------------------------------------------------------------------ */

typedef struct GvJsonReader GvJsonReader;

typedef enum {
	GV_JSON_READER_NONE = 0,
	/*
	 * A 0xFF byte discards whatever partial line is buffered and is
	 * reported as a sync marker (guest-sync-delimited: the agent writes
	 * 0xFF before its reply so that a client can skip stale bytes).
	 */
	GV_JSON_READER_SYNC_BYTE = 1 << 0,
} GvJsonReaderFlags;

typedef enum {
	GV_JSON_READER_MESSAGE,  /* @node holds a JSON object */
	GV_JSON_READER_SYNC,     /* a 0xFF byte was seen (only with SYNC_BYTE) */
	GV_JSON_READER_BAD,      /* @error says why a line was rejected */
} GvJsonReaderItem;

/**
 * GvJsonReaderFunc - called once per complete item
 * @item: what was read
 * @node: (transfer none) (nullable): the object for GV_JSON_READER_MESSAGE
 * @error: (nullable): the reason for GV_JSON_READER_BAD
 * @user_data: as passed to gv_json_reader_feed()
 */
typedef void (*GvJsonReaderFunc)(GvJsonReaderItem item, JsonNode *node,
				 const GError *error, gpointer user_data);

/**
 * gv_json_reader_new() - make a line reader
 * @max_line: longest line accepted, in bytes; a longer one is dropped up
 *            to its newline and reported once as GV_QMP_ERROR_TOO_LONG,
 *            never buffered whole (the peer may be an untrusted guest)
 * @flags: GvJsonReaderFlags
 *
 * Lines are separated by '\n' (a trailing '\r' is ignored); empty lines
 * are skipped.  A line that is not a JSON object, is not valid UTF-8 or
 * does not parse is reported as GV_QMP_ERROR_PROTOCOL.
 *
 * Return: (transfer full): the reader.
 */
GvJsonReader *gv_json_reader_new(gsize max_line, GvJsonReaderFlags flags);
void gv_json_reader_free(GvJsonReader *reader);

/**
 * gv_json_reader_feed() - consume bytes
 * @reader: the reader
 * @buf: bytes read from the peer, any split
 * @len: their number
 * @func: called for each complete item, in stream order
 * @user_data: passed to @func
 */
void gv_json_reader_feed(GvJsonReader *reader, const guint8 *buf, gsize len,
			 GvJsonReaderFunc func, gpointer user_data);

/**
 * gv_json_reader_set_max_line() - change the line cap
 * @reader: the reader
 * @max_line: the new cap; a partial line already longer is freed and
 *            the rest of it, up to its newline, dropped unreported (the
 *            cap is lowered once the command that wanted more is over)
 */
void gv_json_reader_set_max_line(GvJsonReader *reader, gsize max_line);

/** gv_json_reader_reset() - forget any partial line */
void gv_json_reader_reset(GvJsonReader *reader);

/**
 * gv_json_reader_buffered() - bytes of a partial line held
 * @reader: the reader
 *
 * For tests and diagnostics: never more than the reader's max_line.
 *
 * Return: the size of the partial line buffered now.
 */
gsize gv_json_reader_buffered(GvJsonReader *reader);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(GvJsonReader, gv_json_reader_free)

/* ------------------------------------------------------------------------ */
/* Asynchronous client                                                      */
/* ------------------------------------------------------------------------ */

typedef struct GvQmpClient GvQmpClient;

typedef enum {
	/* QEMU's QMP: expect {"QMP": ...} then negotiate qmp_capabilities. */
	GV_QMP_PEER_QMP,
	/*
	 * A guest agent: no greeting; the handshake is 0xFF followed by
	 * guest-sync-delimited with a fresh id, skipping everything before
	 * the agent's 0xFF and any reply that is not for that id.  qemu-ga
	 * sends no events; grainvm-agent sends event lines (grain-output,
	 * grain-exit) only to a host that started a stream, and they are
	 * dispatched like QMP events, also while a resync runs.
	 */
	GV_QMP_PEER_AGENT,
} GvQmpPeer;

/**
 * GvQmpEventFunc - an event arrived
 * @client: the client
 * @event: its "event" name
 * @data: (nullable) (transfer none): its "data" object
 * @timestamp_us: its "timestamp" in microseconds since the epoch, or 0
 * @user_data: as registered
 */
typedef void (*GvQmpEventFunc)(GvQmpClient *client, const char *event,
			       JsonObject *data, gint64 timestamp_us,
			       gpointer user_data);

/**
 * GvQmpClosedFunc - the connection ended
 * @client: the client
 * @error: why (GV_QMP_ERROR_CLOSED for a clean EOF)
 * @user_data: as registered
 *
 * Called once, from an idle on the client's context, after every pending
 * command has failed with GV_QMP_ERROR_CLOSED and its callback has run;
 * not called if the client is freed first.
 */
typedef void (*GvQmpClosedFunc)(GvQmpClient *client, const GError *error,
				gpointer user_data);

/**
 * gv_qmp_client_new() - wrap a connected stream socket
 * @fd: connected socket, consumed (closed when the client is freed)
 * @peer: which protocol the peer speaks
 * @max_line: cap on one incoming message in bytes (16 MiB for a guest
 *            agent per the agent protocol; QMP replies are small but
 *            query-qmp-schema is ~200 KiB, so 16 MiB suits both)
 * @context: (nullable): the main context to attach to; NULL for the
 *           thread-default one
 *
 * Nothing is read or written until gv_qmp_client_handshake_async().
 *
 * Return: (transfer full): the client, refcounted.
 */
/*
 * GV_QMP_MAX_LINE_DEFAULT - the max_line gv_qmp_connect_sync() uses
 *
 * 16 MiB: the agent protocol's cap, and far above QMP's largest reply.
 */
#define GV_QMP_MAX_LINE_DEFAULT ((gsize)16 * 1024 * 1024)

GvQmpClient *gv_qmp_client_new(int fd, GvQmpPeer peer, gsize max_line,
			       GMainContext *context);
GvQmpClient *gv_qmp_client_ref(GvQmpClient *client);
void gv_qmp_client_unref(GvQmpClient *client);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(GvQmpClient, gv_qmp_client_unref)

/**
 * gv_qmp_client_handshake_async() - greet the peer
 * @client: a new client
 * @timeout_ms: give up after this long (0: no timeout)
 * @cancellable: (nullable)
 * @callback: called when done
 * @user_data: for @callback
 *
 * QMP: wait for the greeting and send qmp_capabilities.  Agent: send 0xFF
 * and guest-sync-delimited with a fresh random id, wait for the matching
 * reply.  Call it again on an agent client to resync after a timeout or a
 * bad line.
 */
void gv_qmp_client_handshake_async(GvQmpClient *client, guint timeout_ms,
				   GCancellable *cancellable,
				   GAsyncReadyCallback callback,
				   gpointer user_data);
/**
 * gv_qmp_client_handshake_finish() - result of the handshake
 * @client: the client
 * @result: the GAsyncResult
 * @greeting: (out) (optional) (transfer full): QMP: the "QMP" member of
 *            the greeting; agent: NULL
 * @error: return location
 *
 * Return: TRUE when the peer is ready for commands.
 */
gboolean gv_qmp_client_handshake_finish(GvQmpClient *client,
					GAsyncResult *result,
					JsonObject **greeting, GError **error);

/**
 * gv_qmp_client_execute_async() - run one command
 * @client: a client after its handshake
 * @command: the "execute" name
 * @arguments: (nullable) (transfer none): the "arguments" object
 * @timeout_ms: fail with GV_QMP_ERROR_TIMEOUT after this long (0: none);
 *              a reply that arrives later is dropped
 * @cancellable: (nullable): cancelling fails the call with
 *               G_IO_ERROR_CANCELLED and drops a later reply
 * @callback: called with the outcome
 * @user_data: for @callback
 *
 * Every command carries a unique "id"; its reply is matched by that id,
 * and events that arrive before the reply are dispatched first.
 */
void gv_qmp_client_execute_async(GvQmpClient *client, const char *command,
				 JsonObject *arguments, guint timeout_ms,
				 GCancellable *cancellable,
				 GAsyncReadyCallback callback,
				 gpointer user_data);
/**
 * gv_qmp_client_execute_with_fd_async() - run a command that carries a descriptor
 * @client: a QMP client after its handshake
 * @command: the "execute" name: QEMU's getfd (fdname) or add-fd (fdset-id)
 * @arguments: (nullable) (transfer none): the "arguments" object
 * @fd: the descriptor; the client sends a duplicate (the caller keeps and
 *      closes its own) as SCM_RIGHTS with the command's first byte; -1
 *      for none
 * @timeout_ms: as for gv_qmp_client_execute_async()
 * @cancellable: (nullable): as for gv_qmp_client_execute_async()
 * @callback: called with the outcome (gv_qmp_client_execute_finish())
 * @user_data: for @callback
 *
 * Only a QMP client over a unix socket passes descriptors; on an agent
 * client, or with GV_QMP_MAX_OUT_FDS (8) descriptors still waiting to be
 * sent, the command fails at once and nothing is sent.  A descriptor
 * that could not be sent (the connection closed first) is closed.
 */
void gv_qmp_client_execute_with_fd_async(GvQmpClient *client,
					 const char *command,
					 JsonObject *arguments, int fd,
					 guint timeout_ms,
					 GCancellable *cancellable,
					 GAsyncReadyCallback callback,
					 gpointer user_data);

/**
 * gv_qmp_client_execute_finish() - outcome of a command
 * @client: the client
 * @result: the GAsyncResult
 * @error: return location; GV_QMP_ERROR with the class code on an
 *         "error" reply
 *
 * Return: (transfer full): the "return" member (an empty object when the
 * peer returned {}), or NULL with @error set.
 */
JsonNode *gv_qmp_client_execute_finish(GvQmpClient *client,
				       GAsyncResult *result, GError **error);

/**
 * GvQmpReplyFunc - the outcome of gv_qmp_client_call()
 * @client: the client
 * @ret: (nullable) (transfer none): the "return" member, NULL on failure
 * @error: (nullable): the failure: an "error" reply (GV_QMP_ERROR with
 *         its class), or a timeout, a bad line, a resync or the close
 * @user_data: as passed
 */
typedef void (*GvQmpReplyFunc)(GvQmpClient *client, JsonNode *ret,
			       const GError *error, gpointer user_data);

/**
 * gv_qmp_client_call() - run one command, with its reply seen in stream order
 * @client: a client after its handshake (or, with auto-resync, during one)
 * @command: the "execute" name
 * @arguments: (nullable) (transfer none): the "arguments" object
 * @timeout_ms: fail with GV_QMP_ERROR_TIMEOUT after this long (0: none)
 * @func: called exactly once with the outcome
 * @user_data: for @func
 * @error: return location for a command that cannot be sent at all
 *
 * Unlike gv_qmp_client_execute_async(), whose GTask may run its callback
 * from a later idle, @func runs the moment the reply is read, before any
 * line after it is looked at.  A reply that starts a stream (the agent's
 * grain-exec-start, grain-build-attach) is thus seen before the stream's
 * first event, which the agent sends right after it.  Failures that do
 * not come from a reply (timeout, close, resync) call @func from the
 * source that noticed them.
 *
 * Return: TRUE when the command was sent or held (then @func will be
 * called); FALSE with @error when the client is closed or not ready (then
 * @func is never called).
 */
gboolean gv_qmp_client_call(GvQmpClient *client, const char *command,
			    JsonObject *arguments, guint timeout_ms,
			    GvQmpReplyFunc func, gpointer user_data,
			    GError **error);

/**
 * gv_qmp_client_call_with_fd() - gv_qmp_client_call() with a descriptor
 * @client: a QMP client after its handshake
 * @command: the "execute" name
 * @arguments: (nullable) (transfer none): the "arguments" object
 * @fd: as for gv_qmp_client_execute_with_fd_async()
 * @timeout_ms: fail with GV_QMP_ERROR_TIMEOUT after this long (0: none)
 * @func: called exactly once with the outcome
 * @user_data: for @func
 * @error: return location for a command that cannot be sent at all
 *
 * Return: TRUE when @func will be called.
 */
gboolean gv_qmp_client_call_with_fd(GvQmpClient *client, const char *command,
				    JsonObject *arguments, int fd,
				    guint timeout_ms, GvQmpReplyFunc func,
				    gpointer user_data, GError **error);

/**
 * gv_qmp_client_set_auto_resync() - resync an agent by itself
 * @client: an agent client
 * @timeout_ms: for each automatic resync (non-zero)
 *
 * From now on, when a command times out, or a bad line or a reply with
 * neither "return" nor "error" fails a command, the client runs a resync
 * (0xFF and guest-sync-delimited with a fresh id) on its own: an agent
 * that did not answer in time, or sent garbage, may be anywhere in its
 * stream, and only a resync tells which later line answers what.
 * Commands issued while any handshake runs are held and sent once it
 * succeeds, or fail with its error.  Commands already in flight when a
 * resync starts fail (see the Theory of Operation in qmp-client.c).
 */
void gv_qmp_client_set_auto_resync(GvQmpClient *client, guint timeout_ms);

/**
 * gv_qmp_client_pause_input() - stop or resume reading from the peer
 * @client: the client
 * @pause: TRUE to stop reading, FALSE to read again
 *
 * Back-pressure: while paused, nothing is read, so the peer's writes
 * block once the socket buffer is full (for a guest agent: QEMU stops
 * taking data from the virtio-serial port, and the agent stops reading
 * its commands' output).  Lines of the read in progress are still
 * processed.  Timeouts keep running; an EOF is noticed only on resume.
 */
void gv_qmp_client_pause_input(GvQmpClient *client, gboolean pause);

/**
 * gv_qmp_client_set_max_line() - change the cap on one incoming message
 * @client: the client
 * @max_line: the new cap in bytes (see gv_json_reader_set_max_line())
 *
 * For a channel whose large replies are few and known: raise the cap
 * while such a command is in flight, lower it after, so that the rest of
 * the time a flood is held to the small cap.
 */
void gv_qmp_client_set_max_line(GvQmpClient *client, gsize max_line);

/**
 * gv_qmp_client_get_context() - the main context a client runs on
 * @client: the client
 *
 * The owner of a client from gv_qmp_connect_sync() may iterate this
 * context itself and use the async calls, as long as it does not call
 * the sync wrappers at the same time.
 *
 * Return: (transfer none): the context.
 */
GMainContext *gv_qmp_client_get_context(GvQmpClient *client);

/**
 * gv_qmp_client_send_no_reply() - send a command that never answers
 * @client: the client
 * @command: e.g. "guest-shutdown" (qemu-ga sends no reply on success)
 * @arguments: (nullable) (transfer none)
 * @error: return location
 *
 * The command goes out without an id.  Return: TRUE when it was queued.
 */
gboolean gv_qmp_client_send_no_reply(GvQmpClient *client, const char *command,
				     JsonObject *arguments, GError **error);

/**
 * gv_qmp_client_add_event_handler() - subscribe to events
 * @client: the client
 * @event: (nullable): the event name, or NULL for every event
 * @func: the handler
 * @user_data: for @func
 * @destroy: (nullable): frees @user_data when the handler is removed
 *
 * Return: an id for gv_qmp_client_remove_event_handler(), never 0.
 */
guint gv_qmp_client_add_event_handler(GvQmpClient *client, const char *event,
				      GvQmpEventFunc func, gpointer user_data,
				      GDestroyNotify destroy);
void gv_qmp_client_remove_event_handler(GvQmpClient *client, guint id);

/** gv_qmp_client_set_closed_handler() - be told when the connection ends */
void gv_qmp_client_set_closed_handler(GvQmpClient *client, GvQmpClosedFunc func,
				      gpointer user_data);

/**
 * gv_qmp_client_close() - end the connection now
 *
 * Pending commands fail with GV_QMP_ERROR_CLOSED; the closed handler runs.
 * Safe to call more than once.
 */
void gv_qmp_client_close(GvQmpClient *client);

/** gv_qmp_client_is_closed() - TRUE once the connection has ended */
gboolean gv_qmp_client_is_closed(GvQmpClient *client);

/* ------------------------------------------------------------------------ */
/* Synchronous wrapper for the CLI                                          */
/* ------------------------------------------------------------------------ */

/**
 * gv_qmp_connect_sync() - connect to a unix socket and handshake
 * @socket_path: the socket
 * @peer: the protocol
 * @timeout_ms: for connect plus handshake (0: no timeout); running out is
 *              GV_QMP_ERROR_TIMEOUT
 * @error: return location; a missing socket or a refused connection is
 *         G_IO_ERROR_NOT_FOUND / G_IO_ERROR_CONNECTION_REFUSED
 *
 * The client runs on a private GMainContext that gv_qmp_execute_sync()
 * iterates; do not mix it with the async calls.
 *
 * Return: (transfer full) (nullable): the client.
 */
GvQmpClient *gv_qmp_connect_sync(const char *socket_path, GvQmpPeer peer,
				 guint timeout_ms, GError **error);

/**
 * gv_qmp_execute_sync() - run one command and wait
 * @client: from gv_qmp_connect_sync()
 * @command: the "execute" name
 * @arguments: (nullable) (transfer none)
 * @timeout_ms: as for gv_qmp_client_execute_async()
 * @error: return location
 *
 * Events that arrive meanwhile go to the registered handlers.
 *
 * Return: (transfer full) (nullable): the "return" member.
 */
JsonNode *gv_qmp_execute_sync(GvQmpClient *client, const char *command,
			      JsonObject *arguments, guint timeout_ms,
			      GError **error);

/**
 * gv_qmp_execute_with_fd_sync() - gv_qmp_execute_sync() with a descriptor
 * @client: from gv_qmp_connect_sync()
 * @command: the "execute" name
 * @arguments: (nullable) (transfer none)
 * @fd: as for gv_qmp_client_execute_with_fd_async()
 * @timeout_ms: as for gv_qmp_client_execute_async()
 * @error: return location
 *
 * Return: (transfer full) (nullable): the "return" member.
 */
JsonNode *gv_qmp_execute_with_fd_sync(GvQmpClient *client, const char *command,
				      JsonObject *arguments, int fd,
				      guint timeout_ms, GError **error);

/**
 * gv_qmp_wait_event_sync() - iterate until an event arrives
 * @client: from gv_qmp_connect_sync()
 * @event: the event name to wait for
 * @timeout_ms: give up after this long (0: wait while the connection
 *              lasts)
 * @data: (out) (optional) (transfer full) (nullable): its "data"
 * @error: return location (GV_QMP_ERROR_TIMEOUT, GV_QMP_ERROR_CLOSED)
 *
 * Only events that arrive after the call count.
 *
 * Return: TRUE when the event arrived.
 */
gboolean gv_qmp_wait_event_sync(GvQmpClient *client, const char *event,
				guint timeout_ms, JsonObject **data,
				GError **error);

/* ------------------------------------------------------------------------ */
/* Typed access to what a peer sent                                         */
/* ------------------------------------------------------------------------ */

/*
 * Everything a guest agent, qemu-ga or QEMU sends is read through these,
 * never with json-glib's own getters: those return NULL for a string that
 * is a number (a later strlen() crashes), emit criticals on a wrongly typed
 * object or array member, and take no range.  A guest is untrusted and
 * may put any type in any member.
 *
 * Two families:
 * - gv_json_get_*(): the checked read of a value the caller acts on.  A
 *   member that is missing (when required), of another type or out of
 *   range fails with GV_QMP_ERROR_PROTOCOL, message "PEER: member "NAME"
 *   is a number, not a string" and the like, so the one reply it came in
 *   fails with a clear message.  A missing optional member (or a JSON
 *   null) leaves *out as the caller set it and succeeds.  @obj may be
 *   NULL (the reply was no object): every member is then missing.
 * - gv_json_*_or(): a value only shown to a person or compared: absent or
 *   of another type gives @fallback, never an error or a critical.
 */

typedef enum {
	GV_JSON_REQUIRED,  /* missing is an error */
	GV_JSON_OPTIONAL,  /* missing (or null) leaves *out untouched */
} GvJsonPresence;

gboolean gv_json_get_string(JsonObject *obj, const char *peer, const char *member,
			    GvJsonPresence presence, const char **out, GError **error);
gboolean gv_json_get_int(JsonObject *obj, const char *peer, const char *member,
			 GvJsonPresence presence, gint64 min, gint64 max, gint64 *out,
			 GError **error);
gboolean gv_json_get_bool(JsonObject *obj, const char *peer, const char *member,
			  GvJsonPresence presence, gboolean *out, GError **error);
/* A number: an integer is taken too (JSON does not tell 1 from 1.0). */
gboolean gv_json_get_double(JsonObject *obj, const char *peer, const char *member,
			    GvJsonPresence presence, double *out, GError **error);
gboolean gv_json_get_object(JsonObject *obj, const char *peer, const char *member,
			    GvJsonPresence presence, JsonObject **out, GError **error);
/* An array of at most @max_len elements (any type; check each with the
 * element accessors below). */
gboolean gv_json_get_array(JsonObject *obj, const char *peer, const char *member,
			   GvJsonPresence presence, guint max_len, JsonArray **out,
			   GError **error);

/**
 * gv_json_node_object() - the object a reply node holds
 * @node: (nullable): e.g. a command's "return"
 * @peer: for the message
 * @what: what the node is, for the message ("guest-info's reply")
 * @error: GV_QMP_ERROR_PROTOCOL when @node is no object
 *
 * Return: (transfer none) (nullable): the object, or NULL with @error.
 */
JsonObject *gv_json_node_object(JsonNode *node, const char *peer, const char *what,
				GError **error);

const char *gv_json_string_or(JsonObject *obj, const char *member, const char *fallback);
gint64 gv_json_int_or(JsonObject *obj, const char *member, gint64 fallback);
gboolean gv_json_bool_or(JsonObject *obj, const char *member, gboolean fallback);
double gv_json_double_or(JsonObject *obj, const char *member, double fallback);
/* (transfer none) (nullable): the member when it has that type. */
JsonObject *gv_json_object_or_null(JsonObject *obj, const char *member);
JsonArray *gv_json_array_or_null(JsonObject *obj, const char *member);
/* (transfer none) (nullable): @node's object or array, NULL for another type. */
JsonObject *gv_json_node_object_or_null(JsonNode *node);
JsonArray *gv_json_node_array_or_null(JsonNode *node);
/* (transfer none) (nullable): element @index when it has that type
 * (@array may be NULL, @index past the end). */
JsonObject *gv_json_array_object_at(JsonArray *array, guint index);
const char *gv_json_array_string_at(JsonArray *array, guint index);
/* The member is present and not null. */
gboolean gv_json_has(JsonObject *obj, const char *member);

G_END_DECLS
