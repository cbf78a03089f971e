/* SPDX-License-Identifier: MIT */
/*
 * test-qmp-qemu.c - the QMP client against a real QEMU
 *
 * Each test starts its own qemu-system-x86_64 -S -M none (no guest, no
 * accelerator: it starts in well under a second) with the QMP monitor on a
 * unix socket the test created.  GRAINVM_QEMU names another binary.  The
 * error classes asserted here were checked against QEMU 7.2.
 */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib-unix.h>
#include <glib/gstdio.h>

#include "qmp-test-util.h"

typedef struct {
	TestQemu qemu;
	GvQmpClient *client;
	JsonObject *greeting;
	GPtrArray *log;        /* "event:NAME", "reply:COMMAND", "closed" */
	guint closed_calls;
	GError *closed_error;
	gint64 last_timestamp;
} Fixture;

static void on_any_event(GvQmpClient *client, const char *event,
			 JsonObject *data, gint64 timestamp_us,
			 gpointer user_data)
{
	Fixture *f = user_data;

	g_ptr_array_add(f->log, g_strconcat("event:", event, NULL));
	f->last_timestamp = timestamp_us;
}

static void on_closed(GvQmpClient *client, const GError *error,
		      gpointer user_data)
{
	Fixture *f = user_data;

	f->closed_calls++;
	g_clear_error(&f->closed_error);
	f->closed_error = g_error_copy(error);
	g_ptr_array_add(f->log, g_strdup("closed"));
}

static void setup(Fixture *f, gconstpointer data)
{
	TestResult r = { 0 };
	g_autoptr(GError) error = NULL;

	f->log = g_ptr_array_new_with_free_func(g_free);
	if (!test_qemu_start(&f->qemu)) {
		g_test_skip("no qemu-system-x86_64 in PATH and no GRAINVM_QEMU");
		return;
	}
	f->client = gv_qmp_client_new(test_qemu_connect(&f->qemu),
				      GV_QMP_PEER_QMP, GV_QMP_MAX_LINE_DEFAULT,
				      NULL);
	gv_qmp_client_set_closed_handler(f->client, on_closed, f);
	gv_qmp_client_add_event_handler(f->client, NULL, on_any_event, f,
					NULL);
	gv_qmp_client_handshake_async(f->client, 10000, NULL, test_result_cb,
				      &r);
	TEST_WAIT_UNTIL(r.result);
	g_assert_true(gv_qmp_client_handshake_finish(f->client, r.result,
						     &f->greeting, &error));
	g_assert_no_error(error);
	test_result_clear(&r);
}

static void teardown(Fixture *f, gconstpointer data)
{
	g_clear_pointer(&f->client, gv_qmp_client_unref);
	g_clear_pointer(&f->greeting, json_object_unref);
	g_clear_error(&f->closed_error);
	g_ptr_array_unref(f->log);
	test_qemu_stop(&f->qemu);
}

/* One command whose completion is logged next to the events. */
typedef struct {
	Fixture *f;
	const char *command;
	JsonNode *ret;
	GError *error;
	gboolean done;
} Call;

static void on_call_done(GObject *source, GAsyncResult *result, gpointer data)
{
	Call *c = data;

	c->ret = gv_qmp_client_execute_finish(c->f->client, result, &c->error);
	c->done = TRUE;
	g_ptr_array_add(c->f->log, g_strconcat("reply:", c->command, NULL));
}

static void call_start(Fixture *f, Call *c, const char *command,
		       JsonObject *arguments)
{
	memset(c, 0, sizeof(*c));
	c->f = f;
	c->command = command;
	gv_qmp_client_execute_async(f->client, command, arguments, 10000, NULL,
				    on_call_done, c);
}

static void call_clear(Call *c)
{
	g_clear_pointer(&c->ret, json_node_unref);
	g_clear_error(&c->error);
}

/**
 * log_is() - compare the log with a space-separated list, then clear it
 * @f: the fixture
 * @want: the expected entries
 */
static void log_is(Fixture *f, const char *want)
{
	g_ptr_array_add(f->log, NULL);
	g_autofree char *got = g_strjoinv(" ", (char **)f->log->pdata);
	g_ptr_array_set_size(f->log, 0);
	g_assert_cmpstr(got, ==, want);
}

static void test_handshake(Fixture *f, gconstpointer data)
{
	TestResult r = { 0 };
	g_autoptr(GError) error = NULL;

	if (!f->client)
		return;
	JsonObject *version = json_object_get_object_member(f->greeting,
							    "version");
	JsonObject *qemu = json_object_get_object_member(version, "qemu");
	g_assert_cmpint(json_object_get_int_member(qemu, "major"), >=, 2);
	g_assert_true(json_object_has_member(f->greeting, "capabilities"));

	/* A second QMP handshake is refused and leaves the client usable. */
	gv_qmp_client_handshake_async(f->client, 0, NULL, test_result_cb, &r);
	TEST_WAIT_UNTIL(r.result);
	g_assert_false(gv_qmp_client_handshake_finish(f->client, r.result,
						      NULL, &error));
	g_assert_error(error, GV_QMP_ERROR, GV_QMP_ERROR_PROTOCOL);
	test_result_clear(&r);
	g_assert_false(gv_qmp_client_is_closed(f->client));
}

static void test_query_status(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) ret = NULL;

	if (!f->client)
		return;
	ret = test_execute(f->client, "query-status", NULL, &error);
	g_assert_no_error(error);
	JsonObject *status = json_node_get_object(ret);
	/* -S: the machine was never started. */
	g_assert_cmpstr(json_object_get_string_member(status, "status"), ==,
			"prelaunch");
	g_assert_false(json_object_get_boolean_member(status, "running"));
}

static void count_event(GvQmpClient *client, const char *event,
			JsonObject *data, gint64 timestamp_us,
			gpointer user_data)
{
	guint *count = user_data;

	g_assert_cmpstr(event, ==, "STOP");
	(*count)++;
}

static void test_events(Fixture *f, gconstpointer data)
{
	Call c;
	guint stops = 0, id;
	gint64 before = g_get_real_time();

	if (!f->client)
		return;
	id = gv_qmp_client_add_event_handler(f->client, "STOP", count_event,
					     &stops, NULL);

	/* QEMU emits RESUME while it executes cont, before the return: the
	 * subscriber must see it before the command completes. */
	call_start(f, &c, "cont", NULL);
	TEST_WAIT_UNTIL(c.done);
	g_assert_no_error(c.error);
	log_is(f, "event:RESUME reply:cont");
	/* The timestamp is QEMU's wall clock, converted to microseconds. */
	g_assert_cmpint(f->last_timestamp, >=, before - G_USEC_PER_SEC);
	g_assert_cmpint(f->last_timestamp, <=,
			g_get_real_time() + G_USEC_PER_SEC);
	call_clear(&c);

	call_start(f, &c, "stop", NULL);
	TEST_WAIT_UNTIL(c.done);
	g_assert_no_error(c.error);
	log_is(f, "event:STOP reply:stop");
	g_assert_cmpuint(stops, ==, 1);
	call_clear(&c);

	/* A removed handler sees no more events; the others still do. */
	gv_qmp_client_remove_event_handler(f->client, id);
	call_start(f, &c, "cont", NULL);
	TEST_WAIT_UNTIL(c.done);
	call_clear(&c);
	call_start(f, &c, "stop", NULL);
	TEST_WAIT_UNTIL(c.done);
	call_clear(&c);
	log_is(f, "event:RESUME reply:cont event:STOP reply:stop");
	g_assert_cmpuint(stops, ==, 1);
}

/**
 * expect_error() - run a command that must fail with a QMP error class
 * @f: the fixture
 * @command: the command
 * @arguments: (nullable) (transfer full): its arguments
 * @code: the expected GvQmpError
 * @message: the expected message
 */
static void expect_error(Fixture *f, const char *command,
			 JsonObject *arguments, GvQmpError code,
			 const char *message)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) ret = test_execute(f->client, command, arguments,
					       &error);

	g_assert_null(ret);
	g_assert_error(error, GV_QMP_ERROR, (gint)code);
	g_assert_cmpstr(error->message, ==, message);
	if (arguments)
		json_object_unref(arguments);
}

static JsonObject *args_id(const char *member, const char *value)
{
	JsonObject *args = json_object_new();

	json_object_set_string_member(args, member, value);
	return args;
}

static void test_errors(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) ret = NULL;

	if (!f->client)
		return;
	expect_error(f, "gv-no-such-command", NULL,
		     GV_QMP_ERROR_COMMAND_NOT_FOUND,
		     "CommandNotFound: The command gv-no-such-command has not been found");
	expect_error(f, "device_del", args_id("id", "gv-missing"),
		     GV_QMP_ERROR_DEVICE_NOT_FOUND,
		     "DeviceNotFound: Device 'gv-missing' not found");
	expect_error(f, "object-del", args_id("id", "gv-missing"),
		     GV_QMP_ERROR_GENERIC_ERROR,
		     "GenericError: object 'gv-missing' not found");
	/* Wrong argument type: QEMU validates against its schema. */
	JsonObject *bad = json_object_new();
	json_object_set_int_member(bad, "id", 7);
	expect_error(f, "device_del", bad, GV_QMP_ERROR_GENERIC_ERROR,
		     "GenericError: Invalid parameter type for 'id', expected: string");

	/* Errors leave the connection working. */
	ret = test_execute(f->client, "query-status", NULL, &error);
	g_assert_no_error(error);
	g_assert_nonnull(ret);
}

static void test_quit(Fixture *f, gconstpointer data)
{
	Call c;
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) ret = NULL;

	if (!f->client)
		return;
	call_start(f, &c, "quit", NULL);
	TEST_WAIT_UNTIL(f->closed_calls > 0);
	g_assert_no_error(c.error);
	call_clear(&c);
	log_is(f, "event:SHUTDOWN reply:quit closed");
	g_assert_error(f->closed_error, GV_QMP_ERROR, GV_QMP_ERROR_CLOSED);
	g_assert_true(gv_qmp_client_is_closed(f->client));
	g_assert_cmpint(test_qemu_wait(&f->qemu), ==, 0);

	/* Later commands fail at once; closing again changes nothing. */
	ret = test_execute(f->client, "query-status", NULL, &error);
	g_assert_null(ret);
	g_assert_error(error, GV_QMP_ERROR, GV_QMP_ERROR_CLOSED);
	gv_qmp_client_close(f->client);
	test_iterate_for(50);
	g_assert_cmpuint(f->closed_calls, ==, 1);
}

static void test_killed(Fixture *f, gconstpointer data)
{
	Call a, b;

	if (!f->client)
		return;
	/* Queued but not yet written (that happens on G_IO_OUT): QEMU is
	 * dead before it could answer, so the outcome is certain. */
	call_start(f, &a, "query-status", NULL);
	call_start(f, &b, "query-name", NULL);
	test_qemu_kill(&f->qemu);
	TEST_WAIT_UNTIL(f->closed_calls > 0);

	/* Both commands failed before the closed handler ran, once. */
	log_is(f, "reply:query-status reply:query-name closed");
	g_assert_error(a.error, GV_QMP_ERROR, GV_QMP_ERROR_CLOSED);
	g_assert_error(b.error, GV_QMP_ERROR, GV_QMP_ERROR_CLOSED);
	g_assert_nonnull(strstr(a.error->message, "'query-status'"));
	g_assert_error(f->closed_error, GV_QMP_ERROR, GV_QMP_ERROR_CLOSED);
	call_clear(&a);
	call_clear(&b);
	gv_qmp_client_close(f->client);
	test_iterate_for(50);
	g_assert_cmpuint(f->closed_calls, ==, 1);
}

static void test_sync(void)
{
	TestQemu qemu;
	g_autoptr(GError) error = NULL;
	g_autoptr(GvQmpClient) client = NULL;
	g_autoptr(JsonObject) data = NULL;
	JsonNode *ret;

	if (!test_qemu_start(&qemu)) {
		g_test_skip("no qemu-system-x86_64 in PATH and no GRAINVM_QEMU");
		return;
	}
	client = gv_qmp_connect_sync(qemu.socket_path, GV_QMP_PEER_QMP, 10000,
				     &error);
	g_assert_no_error(error);

	ret = gv_qmp_execute_sync(client, "query-status", NULL, 10000, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(json_object_get_string_member(json_node_get_object(ret),
						      "status"), ==, "prelaunch");
	json_node_unref(ret);

	ret = gv_qmp_execute_sync(client, "gv-nope", NULL, 10000, &error);
	g_assert_null(ret);
	g_assert_error(error, GV_QMP_ERROR, GV_QMP_ERROR_COMMAND_NOT_FOUND);
	g_clear_error(&error);

	ret = gv_qmp_execute_sync(client, "cont", NULL, 10000, &error);
	g_assert_no_error(error);
	json_node_unref(ret);
	/* RESUME came before cont returned; only later events count. */
	g_assert_false(gv_qmp_wait_event_sync(client, "RESUME", 200, NULL,
					      &error));
	g_assert_error(error, GV_QMP_ERROR, GV_QMP_ERROR_TIMEOUT);
	g_clear_error(&error);

	/* stop without an id: its reply is dropped, its event waited for. */
	g_assert_true(gv_qmp_client_send_no_reply(client, "stop", NULL, &error));
	g_assert_true(gv_qmp_wait_event_sync(client, "STOP", 10000, &data,
					     &error));
	g_assert_no_error(error);
	g_assert_null(data); /* STOP has no data */

	/* The connection ending ends the wait with CLOSED. */
	g_assert_true(gv_qmp_client_send_no_reply(client, "quit", NULL, &error));
	g_assert_true(gv_qmp_wait_event_sync(client, "SHUTDOWN", 10000, &data,
					     &error));
	g_assert_cmpstr(json_object_get_string_member(data, "reason"), ==,
			"host-qmp-quit");
	g_assert_false(gv_qmp_wait_event_sync(client, "NEVER", 0, NULL,
					      &error));
	g_assert_error(error, GV_QMP_ERROR, GV_QMP_ERROR_CLOSED);
	test_qemu_stop(&qemu);
}

static void test_sync_connect_errors(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *dir = g_dir_make_tmp("gvqmp-XXXXXX", &error);
	g_autofree char *missing = g_build_filename(dir, "missing.sock", NULL);
	g_autofree char *refused = g_build_filename(dir, "refused.sock", NULL);
	g_autofree char *silent = g_build_filename(dir, "silent.sock", NULL);
	GvQmpClient *client;
	gint64 start;
	int fd;

	g_assert_no_error(error);
	client = gv_qmp_connect_sync(missing, GV_QMP_PEER_QMP, 1000, &error);
	g_assert_null(client);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
	g_assert_nonnull(strstr(error->message, missing));
	g_clear_error(&error);

	/* A socket file nobody listens on any more. */
	fd = test_listen_unix(refused);
	close(fd);
	client = gv_qmp_connect_sync(refused, GV_QMP_PEER_QMP, 1000, &error);
	g_assert_null(client);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED);
	g_clear_error(&error);

	/* A listener that never greets (a fake peer: the only way to get a
	 * socket that accepts but stays silent). */
	fd = test_listen_unix(silent);
	start = g_get_monotonic_time();
	client = gv_qmp_connect_sync(silent, GV_QMP_PEER_QMP, 300, &error);
	g_assert_null(client);
	g_assert_error(error, GV_QMP_ERROR, GV_QMP_ERROR_TIMEOUT);
	/* The deadline covers connect and handshake together; allow for
	 * rounding to whole milliseconds. */
	g_assert_cmpint(g_get_monotonic_time() - start, >=, 290 * 1000);
	close(fd);

	unlink(refused);
	unlink(silent);
	rmdir(dir);
}

/* The file behind descriptor @fd of process @pid, as /proc shows it. */
static char *proc_fd_target(GPid pid, gint64 fd)
{
	g_autofree char *link = g_strdup_printf("/proc/%d/fd/%" G_GINT64_FORMAT, (int)pid, fd);

	return g_file_read_link(link, NULL);
}

/*
 * Descriptors reach QEMU: getfd names one (closefd then finds it, and
 * only once), add-fd puts one into an fd set that query-fdsets lists, and
 * the descriptor QEMU holds there is the caller's pipe.  Without a
 * descriptor getfd fails as QEMU says, and the connection goes on.
 */
static void test_fd_passing(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	TestResult r = { 0 };
	int p[2];

	if (!f->client)
		return;
	g_assert_true(g_unix_open_pipe(p, FD_CLOEXEC, NULL));

	/* getfd without a descriptor: QEMU's own error. */
	g_autoptr(JsonObject) named = args_id("fdname", "gv-test");
	expect_error(f, "getfd", json_object_ref(named), GV_QMP_ERROR_GENERIC_ERROR,
		     "GenericError: No file descriptor supplied via SCM_RIGHTS");

	gv_qmp_client_execute_with_fd_async(f->client, "getfd", named, p[1], 10000, NULL,
					    test_result_cb, &r);
	TEST_WAIT_UNTIL(r.result);
	g_autoptr(JsonNode) got = gv_qmp_client_execute_finish(f->client, r.result, &error);
	test_result_clear(&r);
	g_assert_no_error(error);
	g_autoptr(JsonNode) closed = test_execute(f->client, "closefd",
						  json_object_ref(named), &error);
	g_assert_no_error(error);
	expect_error(f, "closefd", json_object_ref(named), GV_QMP_ERROR_GENERIC_ERROR,
		     "GenericError: File descriptor named 'gv-test' not found");

	g_autoptr(JsonObject) set = json_object_new();
	json_object_set_int_member(set, "fdset-id", 7);
	json_object_set_string_member(set, "opaque", "gv-opaque");
	g_autoptr(JsonNode) added = gv_qmp_execute_with_fd_sync(f->client, "add-fd", set, p[1],
								10000, &error);
	g_assert_no_error(error);
	JsonObject *ao = json_node_get_object(added);
	g_assert_cmpint(json_object_get_int_member(ao, "fdset-id"), ==, 7);
	gint64 qemu_fd = json_object_get_int_member(ao, "fd");
	g_close(p[1], NULL);

	g_autoptr(JsonNode) sets = test_execute(f->client, "query-fdsets", NULL, &error);
	g_assert_no_error(error);
	JsonArray *sa = json_node_get_array(sets);
	g_assert_cmpuint(json_array_get_length(sa), ==, 1);
	JsonObject *s0 = json_array_get_object_element(sa, 0);
	g_assert_cmpint(json_object_get_int_member(s0, "fdset-id"), ==, 7);
	JsonObject *fd0 = json_array_get_object_element(
		json_object_get_array_member(s0, "fds"), 0);
	g_assert_cmpint(json_object_get_int_member(fd0, "fd"), ==, qemu_fd);
	g_assert_cmpstr(json_object_get_string_member(fd0, "opaque"), ==, "gv-opaque");

	/* QEMU's descriptor is our pipe's write end. */
	g_autofree char *self = g_strdup_printf("/proc/self/fd/%d", p[0]);
	g_autofree char *ours = g_file_read_link(self, NULL);
	g_autofree char *theirs = proc_fd_target(f->qemu.pid, qemu_fd);
	g_assert_nonnull(ours);
	g_assert_cmpstr(theirs, ==, ours);
	g_close(p[0], NULL);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
#define ADD(path, fn) g_test_add(path, Fixture, NULL, setup, fn, teardown)
	ADD("/qmp/qemu/handshake", test_handshake);
	ADD("/qmp/qemu/query-status", test_query_status);
	ADD("/qmp/qemu/events", test_events);
	ADD("/qmp/qemu/errors", test_errors);
	ADD("/qmp/qemu/quit", test_quit);
	ADD("/qmp/qemu/killed", test_killed);
	ADD("/qmp/qemu/fd-passing", test_fd_passing);
#undef ADD
	g_test_add_func("/qmp/qemu/sync", test_sync);
	g_test_add_func("/qmp/qemu/sync-connect-errors",
			test_sync_connect_errors);
	return g_test_run();
}
