/* SPDX-License-Identifier: MIT */
/*
 * qmp-handshake.c - QMP greeting and capabilities; agent sync
 *
 * The state transitions NEW -> GREETING -> CAPABILITIES -> READY (QMP) and
 * NEW/READY -> SYNCING -> READY (agent) of the Theory of Operation in
 * qmp-client.c live here.
 */
#include "qmp-private.h"

/* ------------------------------------------------------------------------ */
/* Handshake                                                                */
/* ------------------------------------------------------------------------ */

/**
 * gv_qmp_handshake_done() - finish the running handshake, if any
 * @client: the client
 * @error: (transfer full) (nullable): its failure, NULL for success
 */
void gv_qmp_handshake_done(GvQmpClient *client, GError *error)
{
	g_autoptr(GTask) task = g_steal_pointer(&client->handshake);
	gboolean was_running = task || client->handshake_internal;

	client->handshake_internal = FALSE;
	gv_qmp_clear_source(&client->handshake_timeout);
	gv_qmp_clear_source(&client->handshake_cancel);
	/* Held commands were issued before anything the handshake's own
	 * callback may send: they go first. */
	if (was_running && !error)
		gv_qmp_held_flush(client, NULL);
	if (task) {
		if (error)
			g_task_return_error(task, g_error_copy(error));
		else
			g_task_return_boolean(task, TRUE);
	}
	if (error)
		gv_qmp_held_flush(client, error);
	g_clear_error(&error);
}

/**
 * gv_qmp_handshake_running() - whether a handshake or resync is in progress
 * @client: the client
 *
 * Return: TRUE while one runs, with or without a caller's task.
 */
gboolean gv_qmp_handshake_running(GvQmpClient *client)
{
	return client->handshake || client->handshake_internal;
}

/**
 * gv_qmp_handshake_failed() - the handshake cannot succeed
 * @client: the client
 * @error: (transfer full): why
 *
 * QMP closes the connection (see Theory of Operation); the handshake
 * fails with @error through gv_qmp_client_close_with().  Agent fails
 * only the handshake and stays in SYNCING, ready for another attempt.
 */
void gv_qmp_handshake_failed(GvQmpClient *client, GError *error)
{
	if (client->peer == GV_QMP_PEER_QMP)
		gv_qmp_client_close_with(client, error);
	else
		gv_qmp_handshake_done(client, error);
}

/**
 * on_handshake_timeout() - the handshake took too long
 * @data: the client
 *
 * Return: G_SOURCE_REMOVE.
 */
static gboolean on_handshake_timeout(gpointer data)
{
	g_autoptr(GvQmpClient) client = g_object_ref(data);

	/* The source is being dispatched; forget it before anything else
	 * destroys it. */
	g_clear_pointer(&client->handshake_timeout, g_source_unref);
	gv_qmp_handshake_failed(client, g_error_new(
		GV_QMP_ERROR, GV_QMP_ERROR_TIMEOUT,
		client->peer == GV_QMP_PEER_QMP
		? "no QMP handshake within %u ms"
		: "no guest-sync-delimited reply within %u ms",
		client->handshake_timeout_ms));
	return G_SOURCE_REMOVE;
}

/**
 * on_handshake_cancelled() - the handshake's cancellable fired
 * @cancellable: it
 * @data: the client
 *
 * Return: G_SOURCE_REMOVE.
 */
static gboolean on_handshake_cancelled(GCancellable *cancellable,
				       gpointer data)
{
	g_autoptr(GvQmpClient) client = g_object_ref(data);
	GError *error = NULL;

	g_clear_pointer(&client->handshake_cancel, g_source_unref);
	g_cancellable_set_error_if_cancelled(cancellable, &error);
	gv_qmp_handshake_failed(client, error);
	return G_SOURCE_REMOVE;
}

/**
 * on_capabilities_reply() - qmp_capabilities answered
 * @client: the client
 * @ret: (nullable): the "return" member
 * @error: (transfer full) (nullable): an error reply
 */
static void on_capabilities_reply(GvQmpClient *client, JsonNode *ret,
				  GError *error)
{
	if (error) {
		g_prefix_error(&error, "qmp_capabilities: ");
		gv_qmp_handshake_failed(client, error);
		return;
	}
	client->state = STATE_READY;
	gv_qmp_handshake_done(client, NULL);
}

/**
 * gv_qmp_handle_greeting() - the first QMP message arrived
 * @client: a client in GREETING
 * @msg: the message
 */
void gv_qmp_handle_greeting(GvQmpClient *client, JsonObject *msg)
{
	JsonObject *qmp = gv_json_object_or_null(msg, "QMP");

	if (!qmp) {
		gv_qmp_handshake_failed(client, g_error_new_literal(
			GV_QMP_ERROR, GV_QMP_ERROR_PROTOCOL,
			"peer did not greet with a QMP object"));
		return;
	}
	g_clear_pointer(&client->greeting, json_object_unref);
	client->greeting = json_object_ref(qmp);
	client->state = STATE_CAPABILITIES;
	/* No capabilities: grainvm does not use out-of-band execution. */
	gv_qmp_pending_add(client, "qmp_capabilities", NULL, -1)->internal =
		on_capabilities_reply;
}

/**
 * fresh_sync_id() - a random guest-sync-delimited id
 * @previous: the last id used, which must not repeat
 *
 * Positive and within guint32, as qemu-ga takes an int; random so that a
 * reply left over from an earlier connection cannot match.
 *
 * Return: the id.
 */
static guint32 fresh_sync_id(guint32 previous)
{
	guint32 id;

	do
		id = g_random_int();
	while (id == 0 || id == previous);
	return id;
}

/**
 * start_sync() - (re)start the agent handshake
 * @client: an agent client that is not closed
 */
static void start_sync(GvQmpClient *client)
{
	GQueue old = client->pending;

	client->state = STATE_SYNCING;
	client->sync_id = fresh_sync_id(client->sync_id);
	client->sync_seen_ff = FALSE;
	gv_json_reader_reset(client->reader);

	/* Bytes not yet written belong to commands that are abandoned now;
	 * a line cut in half is harmless because 0xFF follows. */
	g_byte_array_set_size(client->out, 0);
	client->out_pos = 0;
	static const guint8 sync_byte = 0xFF;
	gv_qmp_queue_bytes(client, &sync_byte, 1);
	g_autoptr(JsonObject) args = json_object_new();
	json_object_set_int_member(args, "id", client->sync_id);
	gv_qmp_queue_command(client, "guest-sync-delimited", args, NULL, -1);

	g_queue_init(&client->pending);
	while (!g_queue_is_empty(&old)) {
		Pending *p = g_queue_pop_head(&old);

		if (!p->task && !p->reply_func) {
			gv_qmp_pending_free(p); /* a zombie: nobody waits */
			continue;
		}
		gv_qmp_pending_fail(p, g_error_new(
			GV_QMP_ERROR, GV_QMP_ERROR_PROTOCOL,
			"'%s' abandoned by an agent resync", p->command));
	}
}

/**
 * gv_qmp_resync_auto() - start a resync of the client's own
 * @client: an agent client with auto-resync
 *
 * Does nothing while a handshake runs or once closed.  Its outcome only
 * sends or fails the held commands; nobody else is told.
 */
void gv_qmp_resync_auto(GvQmpClient *client)
{
	if (client->state == STATE_CLOSED || gv_qmp_handshake_running(client) ||
	    !client->auto_resync_ms)
		return;
	client->handshake_internal = TRUE;
	client->handshake_timeout_ms = client->auto_resync_ms;
	client->handshake_timeout = gv_qmp_attach_timeout(
		client, client->auto_resync_ms, on_handshake_timeout, client);
	gv_qmp_client_start_reading(client);
	start_sync(client);
}

/**
 * gv_qmp_handle_sync_item() - an item read while the agent handshake runs
 * @client: a client in SYNCING
 * @item: what was read
 * @msg: (nullable): the object for a message
 *
 * Everything is discarded until the agent's 0xFF and then a reply whose
 * "return" is our id.
 */
void gv_qmp_handle_sync_item(GvQmpClient *client, GvJsonReaderItem item,
			     JsonObject *msg)
{
	gint64 value;

	if (item == GV_JSON_READER_SYNC) {
		client->sync_seen_ff = TRUE;
		return;
	}
	if (item != GV_JSON_READER_MESSAGE || !client->sync_seen_ff)
		return;
	value = gv_json_int_or(msg, "return", -1);
	if (value != client->sync_id)
		return;
	client->state = STATE_READY;
	gv_qmp_handshake_done(client, NULL);
}

/**
 * gv_qmp_client_handshake_async() - greet the peer
 * @client: a new client, or an agent client to resync
 * @timeout_ms: give up after this long (0: no timeout)
 * @cancellable: (nullable): cancel the handshake
 * @callback: called when done
 * @user_data: for @callback
 *
 * See grainvm-qmp.h, and the Theory of Operation in qmp-client.c for
 * what happens to commands in flight during an agent resync.
 */
void gv_qmp_client_handshake_async(GvQmpClient *client, guint timeout_ms,
				   GCancellable *cancellable,
				   GAsyncReadyCallback callback,
				   gpointer user_data)
{
	g_autoptr(GTask) task = gv_qmp_new_task(
		client, cancellable, callback, user_data,
		gv_qmp_client_handshake_async);

	if (client->state == STATE_CLOSED) {
		g_task_return_new_error(task, GV_QMP_ERROR, GV_QMP_ERROR_CLOSED,
					"connection is closed");
		return;
	}
	if (client->handshake) {
		g_task_return_new_error(task, GV_QMP_ERROR,
					GV_QMP_ERROR_PROTOCOL,
					"a handshake is already running");
		return;
	}
	if (client->handshake_internal) {
		/* An automatic resync runs: the caller's takes its place,
		 * with a fresh id and the caller's timeout. */
		client->handshake_internal = FALSE;
		gv_qmp_clear_source(&client->handshake_timeout);
	}
	if (client->peer == GV_QMP_PEER_QMP && client->state != STATE_NEW) {
		g_task_return_new_error(task, GV_QMP_ERROR,
					GV_QMP_ERROR_PROTOCOL,
					"QMP handshake already done");
		return;
	}
	if (g_task_return_error_if_cancelled(task))
		return;

	client->handshake = g_steal_pointer(&task);
	client->handshake_timeout_ms = timeout_ms;
	if (timeout_ms)
		client->handshake_timeout = gv_qmp_attach_timeout(
			client, timeout_ms, on_handshake_timeout, client);
	if (cancellable)
		client->handshake_cancel = gv_qmp_attach_cancel(
			client, cancellable, on_handshake_cancelled, client);
	gv_qmp_client_start_reading(client);
	if (client->peer == GV_QMP_PEER_QMP)
		client->state = STATE_GREETING;
	else
		start_sync(client);
}

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
					JsonObject **greeting, GError **error)
{
	g_return_val_if_fail(g_task_is_valid(result, client), FALSE);

	if (!g_task_propagate_boolean(G_TASK(result), error))
		return FALSE;
	if (greeting)
		*greeting = client->peer == GV_QMP_PEER_QMP && client->greeting
			? json_object_ref(client->greeting) : NULL;
	return TRUE;
}

