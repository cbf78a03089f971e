/* SPDX-License-Identifier: MIT */
/*
 * test-agent-exec.c - guest-exec, grain-exec-*, grain-build-*, the
 * read-only qemu-ga queries, and robustness under many connections and
 * many children, against the real agent on a unix socket
 */
#include <glib.h>
#include <json-glib/json-glib.h>
#include <signal.h>
#include <sys/wait.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "agent-harness.h"

#define TIMEOUT_MS 60000

static JsonObject *obj(JsonNode *n)
{
	return json_node_get_object(n);
}

/* Poll guest-exec-status until exited; returns the final status. */
static JsonNode *exec_wait(Conn *c, gint64 pid)
{
	g_autofree char *req = g_strdup_printf(
		"{\"execute\":\"guest-exec-status\",\"arguments\":{\"pid\":%" G_GINT64_FORMAT "}}", pid);
	gint64 end = g_get_monotonic_time() + (gint64)TIMEOUT_MS * 1000;

	for (;;) {
		JsonNode *s = conn_return(c, req);
		if (json_object_get_boolean_member(obj(s), "exited"))
			return s;
		json_node_unref(s);
		g_assert_cmpint(g_get_monotonic_time(), <, end);
		g_usleep(2000);
	}
}

static gint64 exec_start(Conn *c, const char *args_json)
{
	g_autofree char *req = g_strdup_printf("{\"execute\":\"guest-exec\",\"arguments\":%s}",
					       args_json);
	g_autoptr(JsonNode) r = conn_return(c, req);
	return json_object_get_int_member(obj(r), "pid");
}

static guchar *b64_member(JsonObject *o, const char *key, gsize *len)
{
	if (!json_object_has_member(o, key)) {
		*len = 0;
		return NULL;
	}
	return g_base64_decode(json_object_get_string_member(o, key), len);
}

static void test_guest_exec(void)
{
	Agent *a = agent_start(NULL);
	Conn *c = conn_open(a);
	g_autofree guchar *out = NULL, *err = NULL;
	gsize olen, elen;

	/* stdin from input-data, both streams captured, exit code. */
	gint64 pid = exec_start(c, "{\"path\":\"sh\",\"arg\":[\"-c\",\"cat; echo oops >&2; exit 3\"],"
				   "\"input-data\":\"aGVsbG8gc3RkaW4K\",\"capture-output\":true}");
	g_autoptr(JsonNode) s = exec_wait(c, pid);
	g_assert_cmpint(json_object_get_int_member(obj(s), "exitcode"), ==, 3);
	out = b64_member(obj(s), "out-data", &olen);
	err = b64_member(obj(s), "err-data", &elen);
	g_assert_cmpmem(out, olen, "hello stdin\n", 12);
	g_assert_cmpmem(err, elen, "oops\n", 5);
	g_assert_false(json_object_has_member(obj(s), "out-truncated"));

	/* The entry is gone once its exit was reported. */
	g_autofree char *req = g_strdup_printf(
		"{\"execute\":\"guest-exec-status\",\"arguments\":{\"pid\":%" G_GINT64_FORMAT "}}", pid);
	g_autofree char *d = conn_error(c, req, "GenericError");
	g_assert_cmpstr(d, ==, "Invalid parameter 'pid'");

	/* Killed by a signal; environment replaced by "env". */
	pid = exec_start(c, "{\"path\":\"/bin/sh\",\"arg\":[\"-c\",\"echo $FOO; kill -KILL $$\"],"
			    "\"env\":[\"FOO=bar\"],\"capture-output\":true}");
	g_autoptr(JsonNode) s2 = exec_wait(c, pid);
	g_assert_cmpint(json_object_get_int_member(obj(s2), "signal"), ==, 9);
	g_assert_false(json_object_has_member(obj(s2), "exitcode"));
	g_free(out);
	out = b64_member(obj(s2), "out-data", &olen);
	g_assert_cmpmem(out, olen, "bar\n", 4);

	/* No capture: no data members. */
	pid = exec_start(c, "{\"path\":\"echo\",\"arg\":[\"dropped\"]}");
	g_autoptr(JsonNode) s3 = exec_wait(c, pid);
	g_assert_cmpint(json_object_get_int_member(obj(s3), "exitcode"), ==, 0);
	g_assert_false(json_object_has_member(obj(s3), "out-data"));

	g_free(d);
	d = conn_error(c, "{\"execute\":\"guest-exec\",\"arguments\":{\"path\":\"/nonexistent/prog\"}}",
		       "GenericError");
	g_assert_nonnull(strstr(d, "No such file or directory"));
	conn_close(c);
	agent_stop(a);
}

static void test_guest_exec_truncated(void)
{
	Agent *a = agent_start(NULL);
	Conn *c = conn_open(a);
	g_autofree guchar *out = NULL;
	gsize olen;

	/* 17 MiB of output: qemu-ga keeps 16 MiB and says it truncated. */
	gint64 pid = exec_start(c, "{\"path\":\"head\",\"arg\":[\"-c\",\"17825792\",\"/dev/zero\"],"
				   "\"capture-output\":true}");
	g_autoptr(JsonNode) s = exec_wait(c, pid);
	out = b64_member(obj(s), "out-data", &olen);
	g_assert_cmpuint(olen, ==, 16u << 20);
	g_assert_true(json_object_get_boolean_member(obj(s), "out-truncated"));
	conn_close(c);
	agent_stop(a);
}

static void test_silent_child_does_not_block(void)
{
	Agent *a = agent_start(NULL);
	Conn *c = conn_open(a);

	/* Never prints, never exits, pipes open. */
	gint64 stuck = exec_start(c, "{\"path\":\"sleep\",\"arg\":[\"1000\"],\"capture-output\":true}");
	gint64 t0 = g_get_monotonic_time();
	gint64 pid = exec_start(c, "{\"path\":\"echo\",\"arg\":[\"quick\"],\"capture-output\":true}");
	g_autoptr(JsonNode) s = exec_wait(c, pid);
	g_assert_cmpint(json_object_get_int_member(obj(s), "exitcode"), ==, 0);
	g_assert_cmpint(g_get_monotonic_time() - t0, <, 5 * G_USEC_PER_SEC);

	g_autofree char *req = g_strdup_printf(
		"{\"execute\":\"guest-exec-status\",\"arguments\":{\"pid\":%" G_GINT64_FORMAT "}}", stuck);
	g_autoptr(JsonNode) st = conn_return(c, req);
	g_assert_false(json_object_get_boolean_member(obj(st), "exited"));
	kill((pid_t)stuck, SIGKILL);
	g_autoptr(JsonNode) st2 = exec_wait(c, stuck);
	g_assert_cmpint(json_object_get_int_member(obj(st2), "signal"), ==, 9);
	conn_close(c);
	agent_stop(a);
}

/* Read events for @handle until grain-exit; append stdout to @out. */
static JsonNode *collect_stream(Conn *c, gint64 handle, GByteArray *out, GByteArray *err)
{
	gint64 want_seq = 0;

	for (;;) {
		g_autoptr(JsonNode) n = conn_event(c, TIMEOUT_MS);
		g_assert_nonnull(n);
		JsonObject *o = obj(n);
		const char *ev = json_object_get_string_member_with_default(o, "event", NULL);
		g_assert_nonnull(ev);
		JsonObject *data = json_object_get_object_member(o, "data");
		g_assert_cmpint(json_object_get_int_member(data, "handle"), ==, handle);
		if (strcmp(ev, "grain-exit") == 0)
			return json_node_ref(json_object_get_member(o, "data"));
		g_assert_cmpstr(ev, ==, "grain-output");
		g_assert_cmpint(json_object_get_int_member(data, "seq"), ==, want_seq);
		want_seq++;
		gsize len;
		g_autofree guchar *bytes = g_base64_decode(
			json_object_get_string_member(data, "data-b64"), &len);
		const char *stream = json_object_get_string_member(data, "stream");
		g_byte_array_append(strcmp(stream, "stderr") == 0 ? err : out, bytes, (guint)len);
	}
}

static gint64 stream_start(Conn *c, const char *args_json)
{
	g_autofree char *req = g_strdup_printf("{\"execute\":\"grain-exec-start\",\"arguments\":%s}",
					       args_json);
	g_autoptr(JsonNode) r = conn_return(c, req);
	g_assert_cmpint(json_object_get_int_member(obj(r), "pid"), >, 0);
	return json_object_get_int_member(obj(r), "handle");
}

static void test_stream_20mib(void)
{
	Agent *a = agent_start(NULL);
	Conn *c = conn_open(a);
	g_autoptr(GByteArray) out = g_byte_array_new();
	g_autoptr(GByteArray) err = g_byte_array_new();
	const gsize total = 20u << 20;

	/* 20 MiB of a known pattern on stdout, a line on stderr. */
	gint64 h = stream_start(c, "{\"path\":\"sh\",\"arg\":[\"-c\","
				   "\"echo start >&2; yes 0123456789abcdef | head -c 20971520\"]}");
	g_autoptr(JsonNode) ex = collect_stream(c, h, out, err);
	g_assert_cmpint(json_object_get_int_member(obj(ex), "exitcode"), ==, 0);
	g_assert_cmpint(json_object_get_int_member(obj(ex), "out-bytes"), ==, (gint64)total);
	g_assert_cmpuint(out->len, ==, total);
	for (gsize i = 0; i < total; i += 17)
		g_assert_cmpmem(out->data + i, MIN(17, total - i), "0123456789abcdef\n", MIN(17, total - i));
	g_assert_cmpmem(err->data, err->len, "start\n", 6);
	/* The connection is still in sync. */
	json_node_unref(conn_return(c, "{\"execute\":\"guest-ping\"}"));
	conn_close(c);
	agent_stop(a);
}

static void test_stream_stdin_and_signal(void)
{
	Agent *a = agent_start(NULL);
	Conn *c = conn_open(a);
	g_autoptr(GByteArray) out = g_byte_array_new();
	g_autoptr(GByteArray) err = g_byte_array_new();
	g_autofree char *req = NULL;

	gint64 h = stream_start(c, "{\"path\":\"cat\",\"input\":true}");
	req = g_strdup_printf("{\"execute\":\"grain-exec-input\",\"arguments\":{\"handle\":%" G_GINT64_FORMAT
			      ",\"data-b64\":\"aGVsbG8sIGFnZW50Cg==\"}}", h);
	json_node_unref(conn_return(c, req));
	g_free(req);
	req = g_strdup_printf("{\"execute\":\"grain-exec-input\",\"arguments\":{\"handle\":%" G_GINT64_FORMAT
			      ",\"data-b64\":\"c2Vjb25kCg==\",\"eof\":true}}", h);
	json_node_unref(conn_return(c, req));
	g_autoptr(JsonNode) ex = collect_stream(c, h, out, err);
	g_assert_cmpint(json_object_get_int_member(obj(ex), "exitcode"), ==, 0);
	g_assert_cmpmem(out->data, out->len, "hello, agent\nsecond\n", 20);

	/* A signal to a command that would run for a long time. */
	g_byte_array_set_size(out, 0);
	h = stream_start(c, "{\"path\":\"sleep\",\"arg\":[\"1000\"]}");
	g_free(req);
	req = g_strdup_printf("{\"execute\":\"grain-exec-signal\",\"arguments\":{\"handle\":%" G_GINT64_FORMAT
			      ",\"signal\":15}}", h);
	json_node_unref(conn_return(c, req));
	g_autoptr(JsonNode) ex2 = collect_stream(c, h, out, err);
	g_assert_cmpint(json_object_get_int_member(obj(ex2), "signal"), ==, 15);

	/* Unknown handle; cwd that does not exist. */
	g_autofree char *d = conn_error(c, req, "GenericError");
	g_assert_nonnull(strstr(d, "has not been found"));
	g_free(d);
	d = conn_error(c, "{\"execute\":\"grain-exec-start\",\"arguments\":{\"path\":\"true\","
			  "\"cwd\":\"/nonexistent/dir\"}}", "GenericError");
	g_assert_nonnull(strstr(d, "/nonexistent/dir"));
	conn_close(c);
	agent_stop(a);
}

/* Is @pid alive (and not a zombie)? */
static gboolean alive(pid_t pid)
{
	g_autofree char *path = g_strdup_printf("/proc/%d/stat", pid);
	g_autofree char *text = NULL;

	if (!g_file_get_contents(path, &text, NULL, NULL))
		return FALSE;
	const char *rp = strrchr(text, ')');
	return rp && rp[1] == ' ' && rp[2] != 'Z';
}

/* Children of @ppid in state Z. */
static int zombies_of(pid_t ppid)
{
	g_autoptr(GDir) d = g_dir_open("/proc", 0, NULL);
	const char *name;
	int count = 0;

	while ((name = g_dir_read_name(d))) {
		g_autofree char *path = g_strdup_printf("/proc/%s/stat", name);
		g_autofree char *text = NULL;
		char state;
		int parent;
		if (!g_ascii_isdigit(name[0]) || !g_file_get_contents(path, &text, NULL, NULL))
			continue;
		const char *rp = strrchr(text, ')');
		if (rp && sscanf(rp + 2, "%c %d", &state, &parent) == 2 && parent == ppid &&
		    state == 'Z')
			count++;
	}
	return count;
}

static void test_plain_client_sees_no_events(void)
{
	Agent *a = agent_start(NULL);
	Conn *c = conn_open(a);

	/* A streaming client that leaves: its command is hung up. */
	g_autoptr(JsonNode) r = conn_return(c, "{\"execute\":\"grain-exec-start\",\"arguments\":"
					       "{\"path\":\"sh\",\"arg\":[\"-c\",\"while :; do echo tick; sleep 0.05; done\"]}}");
	pid_t pid = (pid_t)json_object_get_int_member(obj(r), "pid");
	g_autoptr(JsonNode) first = conn_event(c, TIMEOUT_MS);
	g_assert_nonnull(first);
	conn_close(c);

	/* The next client speaks plain qemu-ga: only replies, in order. */
	c = conn_open(a);
	for (int i = 0; i < 20; i++) {
		g_autofree char *req = g_strdup_printf(
			"{\"execute\":\"guest-sync\",\"arguments\":{\"id\":%d}}", i);
		g_autoptr(JsonNode) s = conn_cmd(c, req);
		g_assert_false(json_object_has_member(obj(s), "event"));
		g_assert_cmpint(json_object_get_int_member(obj(s), "return"), ==, i);
		g_usleep(20000);
	}
	gint64 end = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
	while (alive(pid) && g_get_monotonic_time() < end)
		g_usleep(10000);
	g_assert_false(alive(pid));
	g_assert_null(conn_line(c, 200));
	conn_close(c);
	agent_stop(a);
}

static void test_reconnect_cycles(void)
{
	Agent *a = agent_start(NULL);

	for (int i = 0; i < 200; i++) {
		Conn *c = conn_open(a);
		/* A different way of being cut off each time. */
		static const char *const halves[] = {
			"{\"execute\": \"guest-sync\", \"arguments\": {\"id\": ",
			"{\"execute\": \"guest-ping\", \"id\": \"unterminated \\\"",
			"[[[[{",
			"{\"execute\":\"grain-exec-start\",\"arguments\":{\"path\":\"sleep\",\"arg\":[\"100",
		};
		conn_send_str(c, halves[i % G_N_ELEMENTS(halves)]);
		conn_close(c);
	}
	Conn *c = conn_open(a);
	g_autoptr(JsonNode) r = conn_cmd(c, "{\"execute\": \"guest-ping\", \"id\": 200}");
	g_assert_true(json_object_has_member(obj(r), "return"));
	g_assert_cmpint(json_object_get_int_member(obj(r), "id"), ==, 200);
	conn_close(c);
	agent_stop(a);
}

static void test_no_zombies(void)
{
	Agent *a = agent_start(NULL);
	Conn *c = conn_open(a);

	for (int i = 0; i < 1000; i++) {
		gint64 pid = exec_start(c, i % 2 ? "{\"path\":\"true\"}"
						 : "{\"path\":\"true\",\"capture-output\":true}");
		json_node_unref(exec_wait(c, pid));
	}
	/* Streamed ones, and an orphan-making shell. */
	for (int i = 0; i < 100; i++) {
		g_autoptr(GByteArray) out = g_byte_array_new();
		g_autoptr(GByteArray) err = g_byte_array_new();
		gint64 h = stream_start(c, "{\"path\":\"sh\",\"arg\":[\"-c\",\"true & exit 0\"]}");
		json_node_unref(collect_stream(c, h, out, err));
	}
	g_usleep(200000);
	g_assert_cmpint(zombies_of(a->pid), ==, 0);
	conn_close(c);
	agent_stop(a);
}

static void test_build(void)
{
	Agent *a = agent_start(NULL);
	Conn *c = conn_open(a);
	g_autoptr(GByteArray) log = g_byte_array_new();
	g_autoptr(GByteArray) none = g_byte_array_new();
	g_autofree char *d = NULL;

	g_autoptr(JsonNode) idle = conn_return(c, "{\"execute\":\"grain-build-status\"}");
	g_assert_cmpstr(json_object_get_string_member(obj(idle), "state"), ==, "idle");
	d = conn_error(c, "{\"execute\":\"grain-build-attach\"}", "GenericError");

	g_autoptr(JsonNode) st = conn_return(c, "{\"execute\":\"grain-build-start\",\"arguments\":"
					       "{\"command\":[\"sh\",\"-c\",\"echo one; sleep 1; echo two >&2; exit 4\"]}}");
	gint64 h = json_object_get_int_member(obj(st), "handle");
	g_free(d);
	d = conn_error(c, "{\"execute\":\"grain-build-start\",\"arguments\":{\"command\":[\"true\"]}}",
		       "GenericError");
	g_assert_nonnull(strstr(d, "already running"));
	g_autoptr(JsonNode) run = conn_return(c, "{\"execute\":\"grain-build-status\"}");
	g_assert_cmpstr(json_object_get_string_member(obj(run), "state"), ==, "running");

	/* The host leaves; the build goes on; a new host attaches. */
	conn_close(c);
	g_usleep(300000);
	c = conn_open(a);
	g_autoptr(JsonNode) at = conn_return(c, "{\"execute\":\"grain-build-attach\",\"arguments\":{\"from-offset\":0}}");
	g_assert_cmpint(json_object_get_int_member(obj(at), "handle"), ==, h);
	g_autoptr(JsonNode) ex = collect_stream(c, h, log, none);
	g_assert_cmpstr(json_object_get_string_member(obj(ex), "state"), ==, "failed");
	g_assert_cmpint(json_object_get_int_member(obj(ex), "exitcode"), ==, 4);
	g_assert_cmpmem(log->data, log->len, "one\ntwo\n", 8);

	g_autoptr(JsonNode) fin = conn_return(c, "{\"execute\":\"grain-build-status\"}");
	JsonObject *f = obj(fin);
	g_assert_cmpstr(json_object_get_string_member(f, "state"), ==, "failed");
	g_assert_cmpint(json_object_get_int_member(f, "exit-code"), ==, 4);
	g_assert_cmpint(json_object_get_int_member(f, "log-size"), ==, 8);
	g_assert_cmpstr(json_object_get_string_member(f, "log-tail"), ==, "one\ntwo\n");
	g_assert_cmpfloat(json_object_get_double_member(f, "duration"), >=, 0.9);
	g_assert_cmpfloat(json_object_get_double_member(f, "end-time"), >=,
			  json_object_get_double_member(f, "start-time"));

	/* Attach after the end, from an offset: the rest, then the end. */
	g_byte_array_set_size(log, 0);
	json_node_unref(conn_return(c, "{\"execute\":\"grain-build-attach\",\"arguments\":{\"from-offset\":4}}"));
	json_node_unref(collect_stream(c, h, log, none));
	g_assert_cmpmem(log->data, log->len, "two\n", 4);
	g_free(d);
	d = conn_error(c, "{\"execute\":\"grain-build-attach\",\"arguments\":{\"from-offset\":9}}",
		       "GenericError");

	/* A successful build. */
	g_autoptr(JsonNode) st2 = conn_return(c, "{\"execute\":\"grain-build-start\",\"arguments\":"
						"{\"command\":[\"sh\",\"-c\",\"pwd; echo $X\"],\"cwd\":\"/tmp\",\"env\":[\"X=y\"]}}");
	h = json_object_get_int_member(obj(st2), "handle");
	g_byte_array_set_size(log, 0);
	json_node_unref(conn_return(c, "{\"execute\":\"grain-build-attach\"}"));
	g_autoptr(JsonNode) ex3 = collect_stream(c, h, log, none);
	g_assert_cmpstr(json_object_get_string_member(obj(ex3), "state"), ==, "succeeded");
	g_assert_cmpmem(log->data, log->len, "/tmp\ny\n", 7);
	conn_close(c);
	agent_stop(a);
}

/*
 * The default build (--build-command, --build-cwd): what the NixOS module's
 * grainvm.build.command becomes, so that `grainvm build` needs no command.
 */
static void test_build_default(void)
{
	static const char *const extra[] = { "--build-command=echo \"$0 in $(pwd)\"; exit 3",
					     "--build-cwd=/tmp", NULL };
	g_autoptr(GByteArray) log = g_byte_array_new();
	g_autoptr(GByteArray) none = g_byte_array_new();
	Agent *a = agent_start(extra);
	Conn *c = conn_open(a);

	g_autoptr(JsonNode) st = conn_return(c, "{\"execute\":\"grain-build-start\"}");
	gint64 h = json_object_get_int_member(obj(st), "handle");
	json_node_unref(conn_return(c, "{\"execute\":\"grain-build-attach\"}"));
	g_autoptr(JsonNode) ex = collect_stream(c, h, log, none);
	g_assert_cmpint(json_object_get_int_member(obj(ex), "exitcode"), ==, 3);
	g_assert_cmpmem(log->data, log->len, "/bin/sh in /tmp\n", 16);

	/* An explicit command and cwd still win over the defaults. */
	g_autoptr(JsonNode) st2 = conn_return(c, "{\"execute\":\"grain-build-start\",\"arguments\":"
						"{\"command\":[\"pwd\"],\"cwd\":\"/\"}}");
	h = json_object_get_int_member(obj(st2), "handle");
	g_byte_array_set_size(log, 0);
	json_node_unref(conn_return(c, "{\"execute\":\"grain-build-attach\"}"));
	json_node_unref(collect_stream(c, h, log, none));
	g_assert_cmpmem(log->data, log->len, "/\n", 2);
	conn_close(c);
	agent_stop(a);

	/* Without a default, a missing command is an error that says how to set one. */
	a = agent_start(NULL);
	c = conn_open(a);
	g_autofree char *d = conn_error(c, "{\"execute\":\"grain-build-start\"}", "GenericError");
	g_assert_nonnull(strstr(d, "--build-command"));
	g_autoptr(JsonNode) idle = conn_return(c, "{\"execute\":\"grain-build-status\"}");
	g_assert_cmpstr(json_object_get_string_member(obj(idle), "state"), ==, "idle");
	conn_close(c);
	agent_stop(a);
}

/* Bad values for the build options stop the agent at once, exit 2. */
static void test_build_options_invalid(void)
{
	const char *bin = g_getenv("GRAINVM_AGENT_HOST") ? g_getenv("GRAINVM_AGENT_HOST")
							 : g_getenv("GRAINVM_AGENT");
	static const struct { const char *arg, *said; } bad[] = {
		{ "--build-cwd=relative", "--build-cwd wants an absolute path" },
		{ "--build-command=", "--build-command must not be empty" },
	};
	for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
		const char *argv[] = { bin, "--listen=unix:/nonexistent/sock", bad[i].arg, NULL };
		g_autofree char *err = NULL;
		int status = 0;
		g_autoptr(GError) error = NULL;
		g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL,
			     NULL, &err, &status, &error);
		g_assert_no_error(error);
		g_assert_true(WIFEXITED(status));
		g_assert_cmpint(WEXITSTATUS(status), ==, 2);
		g_assert_nonnull(strstr(err, bad[i].said));
	}
}

static void test_queries(void)
{
	Agent *a = agent_start(NULL);
	Conn *c = conn_open(a);

	g_autoptr(JsonNode) os = conn_return(c, "{\"execute\":\"guest-get-osinfo\"}");
	g_assert_nonnull(json_object_get_string_member(obj(os), "kernel-release"));
	g_assert_nonnull(json_object_get_string_member(obj(os), "machine"));

	g_autoptr(JsonNode) fs = conn_return(c, "{\"execute\":\"guest-get-fsinfo\"}");
	JsonArray *fsa = json_node_get_array(fs);
	gboolean root = FALSE;
	for (guint i = 0; i < json_array_get_length(fsa); i++) {
		JsonObject *e = json_array_get_object_element(fsa, i);
		g_assert_true(json_object_has_member(e, "disk"));
		root |= strcmp(json_object_get_string_member(e, "mountpoint"), "/") == 0;
	}
	g_assert_true(root);

	g_autoptr(JsonNode) net = conn_return(c, "{\"execute\":\"guest-network-get-interfaces\"}");
	JsonArray *na = json_node_get_array(net);
	gboolean lo = FALSE;
	for (guint i = 0; i < json_array_get_length(na); i++) {
		JsonObject *e = json_array_get_object_element(na, i);
		if (strcmp(json_object_get_string_member(e, "name"), "lo") != 0)
			continue;
		JsonArray *ips = json_object_get_array_member(e, "ip-addresses");
		for (guint j = 0; j < json_array_get_length(ips); j++) {
			JsonObject *ip = json_array_get_object_element(ips, j);
			if (strcmp(json_object_get_string_member(ip, "ip-address"), "127.0.0.1") == 0) {
				g_assert_cmpint(json_object_get_int_member(ip, "prefix"), ==, 8);
				lo = TRUE;
			}
		}
	}
	g_assert_true(lo);

	g_autoptr(JsonNode) t = conn_return(c, "{\"execute\":\"guest-get-time\"}");
	gint64 diff = json_node_get_int(t) / 1000 - g_get_real_time();
	g_assert_cmpint(ABS(diff), <, 10 * G_USEC_PER_SEC);
	conn_close(c);
	agent_stop(a);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/agent/exec/guest-exec", test_guest_exec);
	g_test_add_func("/agent/exec/guest-exec-truncated", test_guest_exec_truncated);
	g_test_add_func("/agent/exec/silent-child", test_silent_child_does_not_block);
	g_test_add_func("/agent/exec/stream-20mib", test_stream_20mib);
	g_test_add_func("/agent/exec/stream-stdin-signal", test_stream_stdin_and_signal);
	g_test_add_func("/agent/exec/plain-client-no-events", test_plain_client_sees_no_events);
	g_test_add_func("/agent/exec/reconnect-cycles", test_reconnect_cycles);
	g_test_add_func("/agent/exec/no-zombies", test_no_zombies);
	g_test_add_func("/agent/build/lifecycle", test_build);
	g_test_add_func("/agent/build/default-command", test_build_default);
	g_test_add_func("/agent/build/default-options-invalid", test_build_options_invalid);
	g_test_add_func("/agent/info/queries", test_queries);
	return g_test_run();
}
