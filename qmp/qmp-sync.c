/* SPDX-License-Identifier: MIT */
/*
 * qmp-sync.c - blocking calls for the CLI, on top of the async client
 *
 * A synchronous client gets a private GMainContext, so that waiting for a
 * reply runs nothing but this client's sources: the CLI may hold other
 * sources on the default context that must not run from inside a QMP call.
 * Each call pushes the context as thread-default while it iterates it,
 * which is also what makes GTask complete in it without an extra idle.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <glib/gstdio.h>

#include "qmp-private.h"

/*
 * A listener with a full backlog makes a non-blocking AF_UNIX connect()
 * fail with EAGAIN, and unlike TCP there is nothing to poll for: retry
 * after this pause.  qemu-ga serves one client at a time, so a full
 * backlog is normal there (rapid connects to Debian's qemu-ga 7.2 in
 * unix-listen mode saw EAGAIN).
 */
#define CONNECT_RETRY_MS 10

/* What a blocking call waits for. */
typedef struct {
	GAsyncResult *result;
} SyncWait;

/**
 * on_done() - store the result of an async call
 * @source: the client
 * @result: the result
 * @data: the SyncWait
 */
static void on_done(GObject *source, GAsyncResult *result, gpointer data)
{
	SyncWait *wait = data;

	wait->result = g_object_ref(result);
}

/**
 * iterate_until() - run a context until an async call completed
 * @context: the client's private context
 * @wait: filled in by on_done()
 */
static void iterate_until(GMainContext *context, SyncWait *wait)
{
	while (!wait->result)
		g_main_context_iteration(context, TRUE);
}

/**
 * ms_left() - milliseconds until a deadline
 * @deadline: monotonic time in microseconds; 0 for none
 *
 * Return: the time left, at least 1 so that it never means "no timeout";
 * 0 when there is no deadline.
 */
static guint ms_left(gint64 deadline)
{
	gint64 left;

	if (!deadline)
		return 0;
	left = (deadline - g_get_monotonic_time()) / 1000;
	return (guint)CLAMP(left, 1, G_MAXUINT);
}

/**
 * connect_unix() - connect a non-blocking socket to a path, with a deadline
 * @socket_path: the socket
 * @deadline: monotonic deadline in microseconds, 0 for none
 * @error: return location
 *
 * Return: the connected fd, or -1 with @error set.
 */
static int connect_unix(const char *socket_path, gint64 deadline,
			GError **error)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd, err = 0;

	if (strlen(socket_path) >= sizeof(addr.sun_path)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			    "socket path %s is too long", socket_path);
		return -1;
	}
	strcpy(addr.sun_path, socket_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		err = errno;
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(err),
			    "socket: %s", g_strerror(err));
		return -1;
	}

	for (;;) {
		if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0)
			return fd;
		err = errno;
		if (err == EINTR)
			continue;
		if (err == EINPROGRESS) {
			/* Not seen on AF_UNIX, but connect(2) allows it. */
			struct pollfd pfd = { .fd = fd, .events = POLLOUT };
			socklen_t len = sizeof(err);

			int wait_ms = deadline
				? (int)MIN(ms_left(deadline), G_MAXINT) : -1;

			if (poll(&pfd, 1, wait_ms) == 0) {
				err = ETIMEDOUT;
				break;
			}
			if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err,
				       &len) < 0)
				err = errno;
			if (err == 0)
				return fd;
			break;
		}
		if (err != EAGAIN)
			break;
		if (deadline && g_get_monotonic_time() >= deadline) {
			err = ETIMEDOUT;
			break;
		}
		g_usleep(CONNECT_RETRY_MS * 1000);
	}
	g_close(fd, NULL);
	if (err == ETIMEDOUT)
		g_set_error(error, GV_QMP_ERROR, GV_QMP_ERROR_TIMEOUT,
			    "connect to %s timed out", socket_path);
	else
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(err),
			    "connect to %s: %s", socket_path, g_strerror(err));
	return -1;
}

/**
 * gv_qmp_connect_sync() - connect to a unix socket and handshake
 * @socket_path: the socket
 * @peer: the protocol
 * @timeout_ms: for connect plus handshake (0: none)
 * @error: return location
 *
 * Return: (transfer full) (nullable): the client, on a private context.
 */
GvQmpClient *gv_qmp_connect_sync(const char *socket_path, GvQmpPeer peer,
				 guint timeout_ms, GError **error)
{
	gint64 deadline = timeout_ms
		? g_get_monotonic_time() + (gint64)timeout_ms * 1000 : 0;
	g_autoptr(GMainContext) context = NULL;
	g_autoptr(GvQmpClient) client = NULL;
	g_autoptr(GError) local = NULL;
	SyncWait wait = { 0 };
	int fd;

	fd = connect_unix(socket_path, deadline, error);
	if (fd < 0)
		return NULL;
	context = g_main_context_new();
	client = gv_qmp_client_new(fd, peer, GV_QMP_MAX_LINE_DEFAULT, context);

	g_main_context_push_thread_default(context);
	gv_qmp_client_handshake_async(client, ms_left(deadline), NULL,
				      on_done, &wait);
	iterate_until(context, &wait);
	g_main_context_pop_thread_default(context);

	gboolean ok = gv_qmp_client_handshake_finish(client, wait.result, NULL,
						     &local);
	g_object_unref(wait.result);
	if (!ok) {
		g_propagate_prefixed_error(error, g_steal_pointer(&local),
					   "%s: ", socket_path);
		return NULL;
	}
	return g_steal_pointer(&client);
}

/**
 * gv_qmp_execute_sync() - run one command and wait
 * @client: from gv_qmp_connect_sync()
 * @command: the "execute" name
 * @arguments: (nullable) (transfer none)
 * @timeout_ms: as for gv_qmp_client_execute_async()
 * @error: return location
 *
 * Return: (transfer full) (nullable): the "return" member.
 */
JsonNode *gv_qmp_execute_sync(GvQmpClient *client, const char *command,
			      JsonObject *arguments, guint timeout_ms,
			      GError **error)
{
	return gv_qmp_execute_with_fd_sync(client, command, arguments, -1,
					   timeout_ms, error);
}

/**
 * gv_qmp_execute_with_fd_sync() - run one command with a descriptor and wait
 * @client: from gv_qmp_connect_sync()
 * @command: the "execute" name
 * @arguments: (nullable) (transfer none)
 * @fd: the descriptor (duplicated), or -1
 * @timeout_ms: as for gv_qmp_client_execute_async()
 * @error: return location
 *
 * Return: (transfer full) (nullable): the "return" member.
 */
JsonNode *gv_qmp_execute_with_fd_sync(GvQmpClient *client, const char *command,
				      JsonObject *arguments, int fd,
				      guint timeout_ms, GError **error)
{
	GMainContext *context = gv_qmp_client_get_context(client);
	SyncWait wait = { 0 };
	JsonNode *ret;

	g_main_context_push_thread_default(context);
	gv_qmp_client_execute_with_fd_async(client, command, arguments, fd,
					    timeout_ms, NULL, on_done, &wait);
	iterate_until(context, &wait);
	g_main_context_pop_thread_default(context);

	ret = gv_qmp_client_execute_finish(client, wait.result, error);
	g_object_unref(wait.result);
	return ret;
}

/* What gv_qmp_wait_event_sync() waits for. */
typedef struct {
	JsonObject *data;
	gboolean arrived;
	gboolean timed_out;
} EventWait;

/**
 * on_event() - the awaited event arrived
 * @client: the client
 * @event: its name
 * @data: (nullable): its data
 * @timestamp_us: its timestamp
 * @user_data: the EventWait
 */
static void on_event(GvQmpClient *client, const char *event, JsonObject *data,
		     gint64 timestamp_us, gpointer user_data)
{
	EventWait *wait = user_data;

	if (wait->arrived)
		return; /* keep the first one */
	wait->arrived = TRUE;
	wait->data = data ? json_object_ref(data) : NULL;
}

/**
 * on_event_timeout() - gv_qmp_wait_event_sync() waited long enough
 * @data: the EventWait
 *
 * Return: G_SOURCE_REMOVE.
 */
static gboolean on_event_timeout(gpointer data)
{
	EventWait *wait = data;

	wait->timed_out = TRUE;
	return G_SOURCE_REMOVE;
}

/**
 * gv_qmp_wait_event_sync() - iterate until an event arrives
 * @client: from gv_qmp_connect_sync()
 * @event: the event name to wait for
 * @timeout_ms: give up after this long (0: wait as long as the
 *              connection lasts)
 * @data: (out) (optional) (transfer full) (nullable): its "data"
 * @error: return location (GV_QMP_ERROR_TIMEOUT, GV_QMP_ERROR_CLOSED)
 *
 * Return: TRUE when the event arrived.
 */
gboolean gv_qmp_wait_event_sync(GvQmpClient *client, const char *event,
				guint timeout_ms, JsonObject **data,
				GError **error)
{
	GMainContext *context = gv_qmp_client_get_context(client);
	g_autoptr(GSource) timeout = NULL;
	EventWait wait = { 0 };
	guint id;

	id = gv_qmp_client_add_event_handler(client, event, on_event, &wait,
					     NULL);
	if (timeout_ms)
		timeout = gv_qmp_attach_timeout(client, timeout_ms,
						on_event_timeout, &wait);
	g_main_context_push_thread_default(context);
	while (!wait.arrived && !wait.timed_out &&
	       !gv_qmp_client_is_closed(client))
		g_main_context_iteration(context, TRUE);
	g_main_context_pop_thread_default(context);
	gv_qmp_client_remove_event_handler(client, id);
	if (timeout)
		g_source_destroy(timeout);

	if (wait.arrived) {
		if (data)
			*data = g_steal_pointer(&wait.data);
		g_clear_pointer(&wait.data, json_object_unref);
		return TRUE;
	}
	if (wait.timed_out)
		g_set_error(error, GV_QMP_ERROR, GV_QMP_ERROR_TIMEOUT,
			    "no %s event within %u ms", event, timeout_ms);
	else
		g_set_error(error, GV_QMP_ERROR, GV_QMP_ERROR_CLOSED,
			    "connection closed while waiting for %s: %s", event,
			    client->close_reason->message);
	return FALSE;
}
