/* SPDX-License-Identifier: MIT */
/*
 * qmp-command.c - commands in flight: ids, the pending queue, timeouts
 *
 * See "Commands and replies" in the Theory of Operation (qmp-client.c) for
 * how a reply finds its command and why agent mode keeps zombies.
 */
#include <errno.h>
#include <fcntl.h>

#include "qmp-private.h"

/* ------------------------------------------------------------------------ */
/* Pending commands                                                         */
/* ------------------------------------------------------------------------ */

/**
 * gv_qmp_pending_free() - free a pending entry that left the queue
 * @p: the entry; its task must have been taken
 */
void gv_qmp_pending_free(Pending *p)
{
	gv_qmp_clear_source(&p->timeout);
	gv_qmp_clear_source(&p->cancel);
	g_clear_object(&p->task);
	g_clear_pointer(&p->held_args, json_object_unref);
	g_free(p->id);
	g_free(p->command);
	g_free(p);
}

/**
 * deliver() - hand an outcome to whoever waits for it
 * @client: the client (for the reply function)
 * @task: (transfer full) (nullable): a GTask waiting
 * @func: (nullable): or a gv_qmp_client_call() function
 * @data: for @func
 * @ret: (transfer none) (nullable): the "return" member
 * @error: (transfer full) (nullable): the failure
 *
 * The entry must be out of every queue and freed already: the callback
 * may re-enter the client.
 */
static void deliver(GvQmpClient *client, GTask *task, GvQmpReplyFunc func,
		    gpointer data, JsonNode *ret, GError *error)
{
	if (task) {
		if (error)
			g_task_return_error(task, error);
		else
			g_task_return_pointer(task, json_node_copy(ret),
					      (GDestroyNotify)json_node_unref);
		g_object_unref(task);
		return;
	}
	if (func) {
		/* Held across the callback, which may drop the last
		 * reference to the client. */
		g_autoptr(GvQmpClient) hold G_GNUC_UNUSED = g_object_ref(client);

		func(client, ret, error, data);
	}
	g_clear_error(&error);
}

/**
 * gv_qmp_pending_fail() - fail an entry that has already left its queue
 * @p: the entry, in no queue; freed here
 * @error: (transfer full): the failure
 */
void gv_qmp_pending_fail(Pending *p, GError *error)
{
	GvQmpClient *client = p->client;
	GTask *task = g_steal_pointer(&p->task);
	GvQmpReplyFunc func = p->reply_func;
	gpointer data = p->reply_data;

	gv_qmp_pending_free(p);
	deliver(client, task, func, data, NULL, error);
}

/**
 * gv_qmp_pending_fail_resync() - a bad reply took an agent command's place
 * @p: the oldest entry, still in the queue
 * @error: (transfer full): why its reply is unusable
 *
 * With auto-resync the resync starts before @p's callback runs, so that
 * what the callback sends waits for the resync instead of being lost to
 * it.
 */
void gv_qmp_pending_fail_resync(Pending *p, GError *error)
{
	GvQmpClient *client = p->client;

	if (!client->auto_resync_ms || p->internal) {
		gv_qmp_pending_complete(p, NULL, error);
		return;
	}
	g_queue_remove(&client->pending, p);
	gv_qmp_resync_auto(client);
	gv_qmp_pending_fail(p, error);
}

/**
 * pending_send() - write a command and queue its entry as in flight
 * @client: a client in READY (or CAPABILITIES for qmp_capabilities)
 * @p: the entry, in no queue
 * @arguments: (nullable): its arguments
 * @fd: a descriptor to go with it (taken), or -1
 */
static void pending_send(GvQmpClient *client, Pending *p, JsonObject *arguments,
			 int fd)
{
	p->held = FALSE;
	gv_qmp_queue_command(client, p->command, arguments, p->id, fd);
	g_queue_push_tail(&client->pending, p);
}

/**
 * gv_qmp_held_flush() - a handshake ended: send or fail the held commands
 * @client: the client
 * @error: (nullable): the handshake's failure; NULL to send them
 *
 * The held queue is taken whole first: a callback may hold new commands.
 */
void gv_qmp_held_flush(GvQmpClient *client, const GError *error)
{
	GQueue held = client->held;

	g_queue_init(&client->held);
	while (!g_queue_is_empty(&held)) {
		Pending *p = g_queue_pop_head(&held);

		if (!error && client->state == STATE_READY) {
			g_autoptr(JsonObject) args = g_steal_pointer(&p->held_args);

			pending_send(client, p, args, -1);
			continue;
		}
		gv_qmp_pending_fail(p, error
			? g_error_new(error->domain, error->code,
				      "'%s' not sent: %s", p->command,
				      error->message)
			: g_error_new(GV_QMP_ERROR, GV_QMP_ERROR_CLOSED,
				      "'%s' not sent: connection is closed",
				      p->command));
	}
}

/**
 * pending_abandon() - fail a command without waiting for its reply
 * @p: a queued entry with a task
 * @error: (transfer full): the failure
 *
 * QMP: the entry leaves the queue; a late reply finds no id and is
 * dropped.  Agent: the entry stays as a zombie to swallow the reply that
 * the agent still owes (see Theory of Operation).
 */
static void pending_abandon(Pending *p, GError *error)
{
	GvQmpClient *client = p->client;
	GTask *task = g_steal_pointer(&p->task);
	GvQmpReplyFunc func = g_steal_pointer(&p->reply_func);
	gpointer data = p->reply_data;
	gboolean resync = FALSE;

	gv_qmp_clear_source(&p->timeout);
	gv_qmp_clear_source(&p->cancel);
	if (p->held) {
		/* Never sent: nothing is owed, it just goes. */
		g_queue_remove(&client->held, p);
		gv_qmp_pending_free(p);
	} else if (client->peer == GV_QMP_PEER_QMP) {
		g_queue_remove(&client->pending, p);
		gv_qmp_pending_free(p);
	} else {
		resync = client->auto_resync_ms != 0;
	}
	/* The resync first (it frees the zombie), so that what the callback
	 * sends is held for after it rather than abandoned by it. */
	if (resync)
		gv_qmp_resync_auto(client);
	/* Last: the callback may re-enter the client. */
	deliver(client, task, func, data, NULL, error);
}

/**
 * gv_qmp_pending_complete() - a reply arrived for a queued entry
 * @p: the entry, still in the queue
 * @ret: (transfer none) (nullable): the "return" member
 * @error: (transfer full) (nullable): the failure, or NULL for @ret
 */
void gv_qmp_pending_complete(Pending *p, JsonNode *ret, GError *error)
{
	GvQmpClient *client = p->client;
	GTask *task = g_steal_pointer(&p->task);
	InternalReplyFunc internal = p->internal;
	GvQmpReplyFunc func = p->reply_func;
	gpointer data = p->reply_data;

	g_queue_remove(&client->pending, p);
	gv_qmp_pending_free(p);

	/* The entry is gone before any callback can re-enter the client.
	 * A zombie (no task, no function) swallows its late reply. */
	if (internal)
		internal(client, ret, error);
	else
		deliver(client, task, func, data, ret, error);
}

/**
 * on_command_timeout() - a command's timeout expired
 * @data: the Pending
 *
 * Return: G_SOURCE_REMOVE.
 */
static gboolean on_command_timeout(gpointer data)
{
	Pending *p = data;
	/* Held across the callback, which may drop the last reference. */
	g_autoptr(GvQmpClient) client G_GNUC_UNUSED = g_object_ref(p->client);
	GError *error = g_error_new(GV_QMP_ERROR, GV_QMP_ERROR_TIMEOUT,
				    "no reply to '%s' in time", p->command);

	/* The source is being dispatched; pending_abandon() destroys it. */
	pending_abandon(p, error);
	return G_SOURCE_REMOVE;
}

/**
 * on_command_cancelled() - a command's cancellable fired
 * @cancellable: it
 * @data: the Pending
 *
 * Return: G_SOURCE_REMOVE.
 */
static gboolean on_command_cancelled(GCancellable *cancellable, gpointer data)
{
	Pending *p = data;
	/* Held across the callback, which may drop the last reference. */
	g_autoptr(GvQmpClient) client G_GNUC_UNUSED = g_object_ref(p->client);
	GError *error = NULL;

	g_cancellable_set_error_if_cancelled(cancellable, &error);
	pending_abandon(p, error);
	return G_SOURCE_REMOVE;
}

/**
 * gv_qmp_pending_add() - send a command and queue its entry
 * @client: a client in READY (or CAPABILITIES for qmp_capabilities)
 * @command: the "execute" name
 * @arguments: (nullable): its arguments
 * @fd: a descriptor to go with it (taken), or -1
 *
 * Return: (transfer none): the queued entry; the caller fills in task,
 * timeout and cancellation.
 */
Pending *gv_qmp_pending_add(GvQmpClient *client, const char *command,
			    JsonObject *arguments, int fd)
{
	Pending *p = g_new0(Pending, 1);

	p->client = client;
	p->id = g_strdup_printf("gv-%" G_GUINT64_FORMAT, ++client->next_id);
	p->command = g_strdup(command);
	pending_send(client, p, arguments, fd);
	return p;
}

/**
 * may_hold() - whether a command issued now waits for a resync
 * @client: the client
 *
 * Return: TRUE for an agent client with auto-resync in SYNCING; starts a
 * resync when none runs (the last one failed).
 */
static gboolean may_hold(GvQmpClient *client)
{
	if (client->peer != GV_QMP_PEER_AGENT || !client->auto_resync_ms ||
	    client->state != STATE_SYNCING)
		return FALSE;
	if (!gv_qmp_handshake_running(client))
		gv_qmp_resync_auto(client);
	return TRUE;
}

/**
 * pending_hold() - queue a command to be sent after the running resync
 * @client: the client
 * @command: the "execute" name
 * @arguments: (nullable): its arguments
 *
 * Return: (transfer none): the held entry.
 */
static Pending *pending_hold(GvQmpClient *client, const char *command,
			     JsonObject *arguments)
{
	Pending *p = g_new0(Pending, 1);

	p->client = client;
	p->id = g_strdup_printf("gv-%" G_GUINT64_FORMAT, ++client->next_id);
	p->command = g_strdup(command);
	p->held = TRUE;
	p->held_args = arguments ? json_object_ref(arguments) : NULL;
	g_queue_push_tail(&client->held, p);
	return p;
}

/**
 * dup_fd_for() - our own copy of a descriptor to send with a command
 * @client: a client in READY
 * @command: the "execute" name, for the message
 * @fd: the caller's descriptor
 * @error: why it cannot be sent
 *
 * Return: the duplicate (close-on-exec), or -1 with @error.
 */
static int dup_fd_for(GvQmpClient *client, const char *command, int fd,
		      GError **error)
{
	int copy;

	if (client->peer != GV_QMP_PEER_QMP) {
		g_set_error(error, GV_QMP_ERROR, GV_QMP_ERROR_PROTOCOL,
			    "cannot send '%s' with a descriptor: only a QMP "
			    "peer takes descriptors", command);
		return -1;
	}
	if (g_queue_get_length(&client->out_fds) >= GV_QMP_MAX_OUT_FDS) {
		g_set_error(error, GV_QMP_ERROR, GV_QMP_ERROR_IO,
			    "cannot send '%s' with a descriptor: %d are "
			    "waiting to be sent already", command,
			    GV_QMP_MAX_OUT_FDS);
		return -1;
	}
	copy = fd >= 0 ? fcntl(fd, F_DUPFD_CLOEXEC, 3) : -1;
	if (copy < 0) {
		int err = fd >= 0 ? errno : EBADF;

		g_set_error(error, GV_QMP_ERROR, GV_QMP_ERROR_IO,
			    "cannot send '%s' with descriptor %d: %s", command,
			    fd, g_strerror(err));
		return -1;
	}
	return copy;
}

/**
 * new_entry() - send a command, or hold it during an automatic resync
 * @client: the client
 * @command: the "execute" name
 * @arguments: (nullable): its arguments
 * @fd: a descriptor to go with the command (duplicated), or -1
 * @error: why it can be neither
 *
 * Return: (transfer none) (nullable): the entry.
 */
static Pending *new_entry(GvQmpClient *client, const char *command,
			  JsonObject *arguments, int fd, GError **error)
{
	int copy = -1;

	if (client->state == STATE_CLOSED) {
		g_set_error(error, GV_QMP_ERROR, GV_QMP_ERROR_CLOSED,
			    "cannot send '%s': connection is closed", command);
		return NULL;
	}
	/* Only agents hold commands, and agents take no descriptors. */
	if (fd < 0 && may_hold(client))
		return pending_hold(client, command, arguments);
	if (client->state != STATE_READY) {
		g_set_error(error, GV_QMP_ERROR, GV_QMP_ERROR_PROTOCOL,
			    "cannot send '%s' before the handshake finished",
			    command);
		return NULL;
	}
	if (fd >= 0 && (copy = dup_fd_for(client, command, fd, error)) < 0)
		return NULL;
	return gv_qmp_pending_add(client, command, arguments, copy);
}

/**
 * gv_qmp_pending_find() - the queued entry a reply belongs to
 * @client: the client
 * @msg: a reply
 *
 * Return: (transfer none) (nullable): the entry with the reply's id; with
 * no id, the oldest entry in agent mode (agents answer in order) and NULL
 * in QMP mode.
 */
Pending *gv_qmp_pending_find(GvQmpClient *client, JsonObject *msg)
{
	JsonNode *id = json_object_get_member(msg, "id");

	if (!id)
		return client->peer == GV_QMP_PEER_AGENT
			? g_queue_peek_head(&client->pending) : NULL;
	if (!JSON_NODE_HOLDS_VALUE(id) ||
	    json_node_get_value_type(id) != G_TYPE_STRING)
		return NULL;
	for (GList *l = client->pending.head; l; l = l->next) {
		Pending *p = l->data;

		if (g_str_equal(p->id, json_node_get_string(id)))
			return p;
	}
	return NULL;
}

/* ------------------------------------------------------------------------ */
/* Commands                                                                 */
/* ------------------------------------------------------------------------ */

/**
 * gv_qmp_client_execute_async() - run one command
 * @client: a client after its handshake
 * @command: the "execute" name
 * @arguments: (nullable) (transfer none): the "arguments" object
 * @timeout_ms: fail with GV_QMP_ERROR_TIMEOUT after this long (0: none)
 * @cancellable: (nullable): fail with G_IO_ERROR_CANCELLED when cancelled
 * @callback: called with the outcome
 * @user_data: for @callback
 *
 * A client that is not READY fails the command at once: GV_QMP_ERROR_CLOSED
 * when closed, GV_QMP_ERROR_PROTOCOL during a handshake.
 */
void gv_qmp_client_execute_async(GvQmpClient *client, const char *command,
				 JsonObject *arguments, guint timeout_ms,
				 GCancellable *cancellable,
				 GAsyncReadyCallback callback,
				 gpointer user_data)
{
	gv_qmp_client_execute_with_fd_async(client, command, arguments, -1,
					    timeout_ms, cancellable, callback,
					    user_data);
}

/**
 * gv_qmp_client_execute_with_fd_async() - run one command that carries a descriptor
 * @client: a QMP client after its handshake
 * @command: the "execute" name (getfd, add-fd)
 * @arguments: (nullable) (transfer none): the "arguments" object
 * @fd: the descriptor, duplicated (the caller keeps its own); -1 for none
 * @timeout_ms: as for gv_qmp_client_execute_async()
 * @cancellable: (nullable): as for gv_qmp_client_execute_async()
 * @callback: called with the outcome; finish with
 *            gv_qmp_client_execute_finish()
 * @user_data: for @callback
 *
 * See "Passing descriptors" in qmp-client.c.  A client that is no QMP
 * client, or has GV_QMP_MAX_OUT_FDS descriptors waiting, fails the
 * command at once, with nothing sent.
 */
void gv_qmp_client_execute_with_fd_async(GvQmpClient *client,
					 const char *command,
					 JsonObject *arguments, int fd,
					 guint timeout_ms,
					 GCancellable *cancellable,
					 GAsyncReadyCallback callback,
					 gpointer user_data)
{
	g_autoptr(GTask) task = gv_qmp_new_task(
		client, cancellable, callback, user_data,
		gv_qmp_client_execute_async);
	GError *error = NULL;
	Pending *p;

	if (g_task_return_error_if_cancelled(task))
		return;
	p = new_entry(client, command, arguments, fd, &error);
	if (!p) {
		g_task_return_error(task, error);
		return;
	}
	p->task = g_steal_pointer(&task);
	if (timeout_ms)
		p->timeout = gv_qmp_attach_timeout(client, timeout_ms,
						   on_command_timeout, p);
	if (cancellable)
		p->cancel = gv_qmp_attach_cancel(client, cancellable,
						 on_command_cancelled, p);
}

/**
 * gv_qmp_client_execute_finish() - outcome of a command
 * @client: the client
 * @result: the GAsyncResult
 * @error: return location
 *
 * Return: (transfer full): the "return" member, or NULL with @error set.
 */
JsonNode *gv_qmp_client_execute_finish(GvQmpClient *client,
				       GAsyncResult *result, GError **error)
{
	g_return_val_if_fail(g_task_is_valid(result, client), NULL);

	return g_task_propagate_pointer(G_TASK(result), error);
}

/**
 * gv_qmp_client_call() - run one command; its reply is seen in stream order
 * @client: a client after its handshake
 * @command: the "execute" name
 * @arguments: (nullable) (transfer none): the "arguments" object
 * @timeout_ms: fail with GV_QMP_ERROR_TIMEOUT after this long (0: none)
 * @func: called exactly once with the outcome
 * @user_data: for @func
 * @error: return location when nothing was sent
 *
 * See grainvm-qmp.h.
 *
 * Return: TRUE when @func will be called.
 */
gboolean gv_qmp_client_call(GvQmpClient *client, const char *command,
			    JsonObject *arguments, guint timeout_ms,
			    GvQmpReplyFunc func, gpointer user_data,
			    GError **error)
{
	return gv_qmp_client_call_with_fd(client, command, arguments, -1,
					  timeout_ms, func, user_data, error);
}

/**
 * gv_qmp_client_call_with_fd() - gv_qmp_client_call() with a descriptor
 * @client: a QMP client after its handshake
 * @command: the "execute" name (getfd, add-fd)
 * @arguments: (nullable) (transfer none): the "arguments" object
 * @fd: the descriptor, duplicated (the caller keeps its own); -1 for none
 * @timeout_ms: fail with GV_QMP_ERROR_TIMEOUT after this long (0: none)
 * @func: called exactly once with the outcome
 * @user_data: for @func
 * @error: return location when nothing was sent
 *
 * See gv_qmp_client_execute_with_fd_async().
 *
 * Return: TRUE when @func will be called.
 */
gboolean gv_qmp_client_call_with_fd(GvQmpClient *client, const char *command,
				    JsonObject *arguments, int fd,
				    guint timeout_ms, GvQmpReplyFunc func,
				    gpointer user_data, GError **error)
{
	Pending *p;

	g_return_val_if_fail(func != NULL, FALSE);
	p = new_entry(client, command, arguments, fd, error);
	if (!p)
		return FALSE;
	p->reply_func = func;
	p->reply_data = user_data;
	if (timeout_ms)
		p->timeout = gv_qmp_attach_timeout(client, timeout_ms,
						   on_command_timeout, p);
	return TRUE;
}

/**
 * gv_qmp_client_send_no_reply() - send a command that never answers
 * @client: a client after its handshake
 * @command: e.g. "guest-shutdown"
 * @arguments: (nullable) (transfer none)
 * @error: return location
 *
 * Return: TRUE when it was queued.
 */
gboolean gv_qmp_client_send_no_reply(GvQmpClient *client, const char *command,
				     JsonObject *arguments, GError **error)
{
	if (client->state == STATE_CLOSED) {
		g_set_error(error, GV_QMP_ERROR, GV_QMP_ERROR_CLOSED,
			    "cannot send '%s': connection is closed", command);
		return FALSE;
	}
	if (client->state != STATE_READY) {
		g_set_error(error, GV_QMP_ERROR, GV_QMP_ERROR_PROTOCOL,
			    "cannot send '%s' before the handshake finished",
			    command);
		return FALSE;
	}
	gv_qmp_queue_command(client, command, arguments, NULL, -1);
	return TRUE;
}

