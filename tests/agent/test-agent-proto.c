/* SPDX-License-Identifier: MIT */
/*
 * test-agent-proto.c - the agent's wire protocol, spoken in raw bytes to
 * the real binary on a unix socket: framing, resynchronisation, id echo,
 * errors, guest-info, grain-status, guest-file-*, grain-listeners
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent-harness.h"

/* Every command the agent must advertise in guest-info. */
static const char *const all_commands[] = {
	"guest-sync-delimited", "guest-sync", "guest-ping", "guest-info",
	"guest-shutdown", "guest-file-open", "guest-file-close",
	"guest-file-read", "guest-file-write", "guest-file-seek",
	"guest-file-flush", "grain-status",
	"guest-exec", "guest-exec-status", "guest-get-osinfo",
	"guest-get-fsinfo", "guest-network-get-interfaces", "guest-get-time",
	"grain-exec-start", "grain-exec-input", "grain-exec-signal",
	"grain-exec-resize",
	"grain-build-start", "grain-build-status", "grain-build-attach",
	"grain-listeners",
	"grain-quiesce", "grain-thaw", "grain-mount",
	NULL,
};

static void test_sync_delimited_after_garbage(void)
{
	Agent *a = agent_start(NULL);
	Conn *c = conn_open(a);
	static const char req[] =
		"garbage{{{\xff{\"execute\": \"guest-sync-delimited\", \"arguments\": {\"id\": 123456789}}";
	g_autofree char *line = NULL;
	g_autoptr(JsonNode) n = NULL;

	conn_send(c, req, sizeof(req) - 1);
	/* Whatever the garbage caused comes first; the host skips to 0xFF. */
	g_assert_true(conn_skip_to_sync(c, 20000));
	line = conn_line(c, 20000);
	g_assert_nonnull(line);
	g_assert_cmpint((guchar)line[0], ==, 0xFF);
	n = json_from_string(line + 1, NULL);
	g_assert_nonnull(n);
	g_assert_cmpint(json_object_get_int_member(json_node_get_object(n), "return"), ==,
			123456789);

	/* Plain guest-sync: no 0xFF. */
	g_autoptr(JsonNode) r = conn_return(c, "{\"execute\":\"guest-sync\",\"arguments\":{\"id\":-5}}");
	g_assert_cmpint(json_node_get_int(r), ==, -5);
	conn_close(c);
	agent_stop(a);
}

static void test_unknown_command(void)
{
	Agent *a = agent_start(NULL);
	Conn *c = conn_open(a);
	g_autoptr(JsonNode) r = conn_cmd(c, "{\"execute\": \"no-such-thing\", \"id\": 42}");
	JsonObject *o = json_node_get_object(r);
	JsonObject *e = json_object_get_object_member(o, "error");

	g_assert_cmpstr(json_object_get_string_member(e, "class"), ==, "CommandNotFound");
	g_assert_cmpstr(json_object_get_string_member(e, "desc"), ==,
			"The command no-such-thing has not been found");
	g_assert_cmpint(json_object_get_int_member(o, "id"), ==, 42);
	conn_close(c);
	agent_stop(a);
}

static void check_id(Conn *c, const char *id_json)
{
	g_autofree char *req = g_strdup_printf("{\"execute\": \"guest-ping\", \"id\": %s}", id_json);
	g_autoptr(JsonNode) r = conn_cmd(c, req);
	g_autoptr(JsonNode) want = json_from_string(id_json, NULL);
	JsonObject *o = json_node_get_object(r);

	g_assert_true(json_object_has_member(o, "return"));
	g_assert_true(json_node_equal(json_object_get_member(o, "id"), want));
}

static void test_id_echo(void)
{
	Agent *a = agent_start(NULL);
	Conn *c = conn_open(a);

	check_id(c, "\"a string \\\"with\\\" escapes \\u00e9\\ud83d\\ude00\"");
	check_id(c, "{\"client\": \"grainvm\", \"seq\": [1, 2.5, null, true]}");
	check_id(c, "18446744073709551615");
	check_id(c, "-0.25e3");
	/* Numbers are echoed with their exact text. */
	conn_send_str(c, "{\"execute\":\"guest-ping\",\"id\":1.50}");
	g_autofree char *line = conn_line(c, 20000);
	g_assert_nonnull(strstr(line, "\"id\": 1.50}"));
	conn_close(c);
	agent_stop(a);
}

static void test_framing(void)
{
	Agent *a = agent_start(NULL);
	Conn *c = conn_open(a);
	static const char req[] =
		"{\"execute\": \"guest-sync\", \"arguments\": {\"id\": 7}, \"id\": \"{\\\"}[\"}";

	/* One byte per write, with pauses so they arrive separately. */
	for (gsize i = 0; i < sizeof(req) - 1; i++) {
		conn_send(c, req + i, 1);
		if (i % 8 == 0)
			g_usleep(2000);
	}
	g_autoptr(JsonNode) r = conn_reply(c);
	g_assert_cmpint(json_object_get_int_member(json_node_get_object(r), "return"), ==, 7);
	g_assert_cmpstr(json_object_get_string_member(json_node_get_object(r), "id"), ==, "{\"}[");

	/* Several requests in one write, with and without separators. */
	conn_send_str(c, "{\"execute\":\"guest-sync\",\"arguments\":{\"id\":1}}"
			 "{\"execute\":\"guest-sync\",\"arguments\":{\"id\":2}}\n"
			 "  {\"execute\":\"guest-sync\",\"arguments\":{\"id\":3}}\r\n");
	for (int i = 1; i <= 3; i++) {
		g_autoptr(JsonNode) ri = conn_reply(c);
		g_assert_cmpint(json_object_get_int_member(json_node_get_object(ri), "return"), ==, i);
	}
	conn_close(c);
	agent_stop(a);
}

static void test_errors(void)
{
	Agent *a = agent_start(NULL);
	Conn *c = conn_open(a);
	char *d;

	d = conn_error(c, "{\"execute\": \"guest-sync\"}", "GenericError");
	g_assert_cmpstr(d, ==, "Parameter 'id' is missing");
	g_free(d);
	d = conn_error(c, "{\"execute\": \"guest-sync\", \"arguments\": {\"id\": \"x\"}}",
		       "GenericError");
	g_assert_cmpstr(d, ==, "Invalid parameter type for 'id', expected: integer");
	g_free(d);
	d = conn_error(c, "{\"execute\": \"guest-ping\", \"arguments\": {\"x\": 1}}",
		       "GenericError");
	g_assert_cmpstr(d, ==, "Parameter 'x' is unexpected");
	g_free(d);
	d = conn_error(c, "{\"execute\": 1}", "GenericError");
	g_assert_cmpstr(d, ==, "QMP input member 'execute' must be a string");
	g_free(d);
	d = conn_error(c, "[1, 2]", "GenericError");
	g_assert_cmpstr(d, ==, "Input must be a JSON object");
	g_free(d);
	d = conn_error(c, "{\"execute\": \"guest-ping\", \"x\": tru}", "GenericError");
	g_assert_true(g_str_has_prefix(d, "JSON parse error"));
	g_free(d);
	d = conn_error(c, "{\"execute\": \"guest-ping\", \"s\": \"\xc0\xaf\"}", "GenericError");
	g_assert_true(g_str_has_prefix(d, "JSON parse error"));
	g_free(d);
	d = conn_error(c, "{\"execute\": \"guest-shutdown\", \"arguments\": {\"mode\": \"nap\"}}",
		       "GenericError");
	g_assert_nonnull(strstr(d, "halt|powerdown|reboot"));
	g_free(d);
	/* Still in sync afterwards. */
	g_autoptr(JsonNode) r = conn_return(c, "{\"execute\": \"guest-ping\"}");
	g_assert_true(JSON_NODE_HOLDS_OBJECT(r));
	conn_close(c);
	agent_stop(a);
}

static void test_guest_info(void)
{
	Agent *a = agent_start(NULL);
	Conn *c = conn_open(a);
	g_autoptr(JsonNode) r = conn_return(c, "{\"execute\": \"guest-info\"}");
	JsonObject *o = json_node_get_object(r);
	JsonArray *cmds = json_object_get_array_member(o, "supported_commands");
	g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);

	g_assert_nonnull(json_object_get_string_member(o, "version"));
	for (guint i = 0; i < json_array_get_length(cmds); i++) {
		JsonObject *e = json_array_get_object_element(cmds, i);
		const char *name = json_object_get_string_member(e, "name");
		g_assert_true(json_object_get_boolean_member(e, "enabled"));
		g_assert_cmpint(json_object_get_boolean_member(e, "success-response"), ==,
				strcmp(name, "guest-shutdown") != 0);
		g_assert_false(g_hash_table_contains(seen, name));
		g_hash_table_add(seen, (gpointer)name);
	}
	for (const char *const *n = all_commands; *n; n++)
		if (!g_hash_table_contains(seen, *n))
			g_error("guest-info does not list %s", *n);
	g_assert_cmpuint(g_hash_table_size(seen), ==, g_strv_length((char **)all_commands));
	conn_close(c);
	agent_stop(a);
}

static void test_grain_status(void)
{
	const char *extra[] = { "--mount", "grainvm-test-none:/nonexistent/grainvm/ws:msize=524288",
				NULL };
	Agent *a = agent_start(extra);
	Conn *c = conn_open(a);
	g_autoptr(JsonNode) r = conn_return(c, "{\"execute\": \"grain-status\"}");
	JsonObject *o = json_node_get_object(r);
	JsonArray *mounts = json_object_get_array_member(o, "mounts");
	JsonObject *m;

	g_assert_cmpstr(json_object_get_string_member(o, "agent"), ==, "grainvm-agent");
	g_assert_false(json_object_get_boolean_member(o, "init"));
	g_assert_false(json_object_get_boolean_member(o, "ready"));
	g_assert_cmpfloat(json_object_get_double_member(o, "uptime"), >, 0);
	g_assert_nonnull(json_object_get_string_member(o, "hostname"));
	g_assert_false(json_object_get_boolean_member(o, "quiesced"));
	g_assert_cmpuint(json_array_get_length(mounts), >=, 1);
	m = json_array_get_object_element(mounts, 0);
	g_assert_cmpstr(json_object_get_string_member(m, "tag"), ==, "grainvm-test-none");
	g_assert_cmpstr(json_object_get_string_member(m, "mount-point"), ==,
			"/nonexistent/grainvm/ws");
	g_assert_true(json_object_get_boolean_member(m, "expected"));
	g_assert_false(json_object_get_boolean_member(m, "mounted"));
	g_assert_false(json_object_get_boolean_member(m, "writable"));
	/* Every other entry is a 9p mount the host did not ask for. */
	for (guint i = 1; i < json_array_get_length(mounts); i++)
		g_assert_false(json_object_get_boolean_member(
			json_array_get_object_element(mounts, i), "expected"));
	conn_close(c);
	agent_stop(a);
}

/* A listening TCP socket on @family's any or loopback address; its port in *port. */
static int listen_tcp(int family, gboolean loopback, int *port)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t len;
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	g_assert_cmpint(fd, >=, 0);
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = htonl(loopback ? INADDR_LOOPBACK : INADDR_ANY);
		len = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_addr = loopback ? in6addr_loopback : in6addr_any;
		len = sizeof(*sin6);
	}
	g_assert_cmpint(bind(fd, (struct sockaddr *)&ss, len), ==, 0);
	g_assert_cmpint(listen(fd, 1), ==, 0);
	g_assert_cmpint(getsockname(fd, (struct sockaddr *)&ss, &len), ==, 0);
	*port = ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
					: ((struct sockaddr_in6 *)&ss)->sin6_port);
	return fd;
}

/* The entry of grain-listeners for @port, or NULL. */
static JsonObject *find_listener(JsonNode *r, int port)
{
	JsonObject *o = json_node_get_object(r);
	JsonArray *tcp = json_object_get_array_member(o, "tcp");
	g_assert_false(json_object_get_boolean_member(o, "truncated"));
	for (guint i = 0; i < json_array_get_length(tcp); i++) {
		JsonObject *l = json_array_get_object_element(tcp, i);
		if (json_object_get_int_member(l, "port") == port)
			return l;
	}
	return NULL;
}

/*
 * The agent reads the host's /proc/net/tcp{,6} here (service mode): sockets
 * this test opens appear with their family and address, and are gone once
 * closed; a connected (not listening) socket is not a listener.
 */
static void test_listeners(void)
{
	Agent *a = agent_start(NULL);
	Conn *c = conn_open(a);
	int p4, p6, plo, pcli;
	int l4 = listen_tcp(AF_INET, FALSE, &p4);
	int l6 = listen_tcp(AF_INET6, FALSE, &p6);
	int llo = listen_tcp(AF_INET, TRUE, &plo);
	int cli = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(plo),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr_in me;
	socklen_t len = sizeof(me);
	g_assert_cmpint(connect(cli, (struct sockaddr *)&to, sizeof(to)), ==, 0);
	g_assert_cmpint(getsockname(cli, (struct sockaddr *)&me, &len), ==, 0);
	pcli = ntohs(me.sin_port);

	g_autoptr(JsonNode) r = conn_return(c, "{\"execute\": \"grain-listeners\"}");
	JsonObject *e4 = find_listener(r, p4), *e6 = find_listener(r, p6), *elo = find_listener(r, plo);
	g_assert_nonnull(e4);
	g_assert_cmpstr(json_object_get_string_member(e4, "family"), ==, "ipv4");
	g_assert_cmpstr(json_object_get_string_member(e4, "address"), ==, "0.0.0.0");
	g_assert_nonnull(e6);
	g_assert_cmpstr(json_object_get_string_member(e6, "family"), ==, "ipv6");
	g_assert_cmpstr(json_object_get_string_member(e6, "address"), ==, "::");
	g_assert_nonnull(elo);
	g_assert_cmpstr(json_object_get_string_member(elo, "address"), ==, "127.0.0.1");
	g_assert_null(find_listener(r, pcli));

	close(l4);
	close(l6);
	g_autoptr(JsonNode) r2 = conn_return(c, "{\"execute\": \"grain-listeners\"}");
	g_assert_null(find_listener(r2, p4));
	g_assert_null(find_listener(r2, p6));
	g_assert_nonnull(find_listener(r2, plo));
	g_autofree char *desc = conn_error(c, "{\"execute\": \"grain-listeners\", "
					      "\"arguments\": {\"x\": 1}}", "GenericError");
	g_assert_cmpstr(desc, ==, "Parameter 'x' is unexpected");
	close(cli);
	close(llo);
	conn_close(c);
	agent_stop(a);
}

/*
 * grain-quiesce and grain-thaw on the host, which has no 9p mounts: the
 * shapes, the argument checks, and that a bad thaw changes nothing.  The
 * unmount and remount themselves need a 9p server and are tested in a
 * real guest (tests/vm/snapshot.sh).  No test here passes a valid time-ns:
 * it would set the host's clock.
 */
static void test_quiesce_thaw(void)
{
	g_autofree char *mountinfo = NULL;
	g_assert_true(g_file_get_contents("/proc/self/mountinfo", &mountinfo, NULL, NULL));
	if (strstr(mountinfo, " - 9p ")) {
		/* WSL's /mnt/c, a VM's shares: grain-quiesce would unmount them. */
		g_test_skip("this host has 9p mounts, which grain-quiesce would unmount");
		return;
	}
	Agent *a = agent_start(NULL);
	Conn *c = conn_open(a);
	g_autofree char *desc = NULL;

	g_autoptr(JsonNode) q = conn_return(c, "{\"execute\": \"grain-quiesce\"}");
	JsonObject *qo = json_node_get_object(q);
	g_assert_true(json_object_has_member(qo, "unmounted"));
	g_assert_cmpuint(json_array_get_length(json_object_get_array_member(qo, "unmounted")), ==, 0);
	g_free(conn_error(c, "{\"execute\": \"grain-quiesce\", \"arguments\": {\"x\": 1}}",
			  "GenericError"));

	desc = conn_error(c, "{\"execute\": \"grain-thaw\", \"arguments\": {\"time-ns\": -5}}",
			  "GenericError");
	g_assert_cmpstr(desc, ==, "Parameter 'time-ns' must be positive");
	g_free(desc);
	desc = conn_error(c, "{\"execute\": \"grain-thaw\", \"arguments\": {\"time-ns\": \"now\"}}",
			  "GenericError");
	g_assert_cmpstr(desc, ==, "Invalid parameter type for 'time-ns', expected: integer");

	/* Without time-ns: the grain-status object, nothing to remount. */
	g_autoptr(JsonNode) t = conn_return(c, "{\"execute\": \"grain-thaw\"}");
	JsonObject *to = json_node_get_object(t);
	g_assert_cmpstr(json_object_get_string_member(to, "agent"), ==, "grainvm-agent");
	g_assert_true(json_object_get_boolean_member(to, "ready"));
	g_assert_false(json_object_get_boolean_member(to, "quiesced"));
	g_assert_true(json_object_has_member(to, "mounts"));
	g_assert_false(json_object_has_member(to, "clock-error"));
	g_assert_false(json_object_has_member(to, "entropy-error"));

	/* entropy: bounded before it is decoded, base64 only, never empty. */
	g_autofree char *big = g_strnfill(400, 'A');
	g_autofree char *req = g_strdup_printf(
		"{\"execute\": \"grain-thaw\", \"arguments\": {\"entropy\": \"%s\"}}", big);
	g_free(desc);
	desc = conn_error(c, req, "GenericError");
	g_assert_cmpstr(desc, ==, "Parameter 'entropy' must be 1-256 bytes of base64");
	/* 344 characters pass the length check but decode to 258 bytes. */
	g_free(req);
	big[344] = '\0';
	req = g_strdup_printf(
		"{\"execute\": \"grain-thaw\", \"arguments\": {\"entropy\": \"%s\"}}", big);
	g_free(desc);
	desc = conn_error(c, req, "GenericError");
	g_assert_cmpstr(desc, ==, "Parameter 'entropy' must be 1-256 bytes of base64");
	for (guint i = 0; i < 2; i++) {
		static const char *const bad[] = { "not base64!", "" };
		g_free(req);
		req = g_strdup_printf(
			"{\"execute\": \"grain-thaw\", \"arguments\": {\"entropy\": \"%s\"}}",
			bad[i]);
		g_free(desc);
		desc = conn_error(c, req, "GenericError");
		g_assert_cmpstr(desc, ==, "Parameter 'entropy' must be 1-256 bytes of base64");
	}
	/* Valid: mixed into this host's pool (harmless: a plain write to
	 * /dev/urandom, which anyone may do); credited only with
	 * CAP_SYS_ADMIN, and the answer says when it was not. */
	g_autoptr(JsonNode) te = conn_return(
		c, "{\"execute\": \"grain-thaw\", \"arguments\": {\"entropy\": \"3q2+7w==\"}}");
	JsonObject *teo = json_node_get_object(te);
	g_assert_true(json_object_get_boolean_member(teo, "ready"));
	if (json_object_has_member(teo, "entropy-error"))
		g_assert_nonnull(strstr(json_object_get_string_member(teo, "entropy-error"),
					"not credited"));

	/* A clone's identity.  A valid hostname is not sent: this agent runs
	 * on the test host, whose name it would change. */
	g_free(desc);
	desc = conn_error(c, "{\"execute\": \"grain-thaw\", \"arguments\": "
			  "{\"hostname\": \"bad name;\"}}", "GenericError");
	g_assert_cmpstr(desc, ==, "Parameter 'hostname' must be 1-64 of A-Z a-z 0-9 - _ .");
	g_free(desc);
	desc = conn_error(c, "{\"execute\": \"grain-thaw\", \"arguments\": {\"macs\": "
			  "[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\"]}}",
			  "GenericError");
	g_assert_cmpstr(desc, ==, "Parameters 'macs' and 'net' take at most 8");
	/* No NIC here has the template's MAC: said, not fatal, nothing changed. */
	g_autoptr(JsonNode) tm = conn_return(
		c, "{\"execute\": \"grain-thaw\", \"arguments\": {\"macs\": "
		   "[\"52:54:00:de:ad:01=52:54:00:de:ad:02\"]}}");
	g_assert_cmpstr(json_object_get_string_member(json_node_get_object(tm), "identity-error"),
			==, "cannot change MAC 52:54:00:de:ad:01 to 52:54:00:de:ad:02: No such device");
	g_autoptr(JsonNode) tb = conn_return(
		c, "{\"execute\": \"grain-thaw\", \"arguments\": {\"macs\": [\"nonsense\"]}}");
	g_assert_cmpstr(json_object_get_string_member(json_node_get_object(tb), "identity-error"),
			==, "macs: \"nonsense\" is not OLD=NEW");
	conn_close(c);
	agent_stop(a);
}

/*
 * grain-mount's boundary: what the host asks is checked before anything
 * is created or mounted.  A valid request on this host (no 9p server, no
 * such tag) fails in mount(2) and says so; that the share then shows in
 * grain-status as expected, with the error, is what the supervisor reads.
 * The mount itself needs a 9p device: tests/vm/debian-guest-agent.sh.
 */
static void test_grain_mount(void)
{
	Agent *a = agent_start(NULL);
	Conn *c = conn_open(a);
	static const struct {
		const char *args, *want;
	} bad[] = {
		{ "{\"tag\": \"w\", \"mount-point\": \"relative\"}",
		  "mount-point must be an absolute path without . or .. components" },
		{ "{\"tag\": \"w\", \"mount-point\": \"/mnt/../etc\"}",
		  "mount-point must be an absolute path without . or .. components" },
		{ "{\"tag\": \"w\", \"mount-point\": \"/mnt/a\\nb\"}",
		  "mount-point must be an absolute path without . or .. components" },
		{ "{\"tag\": \"w\", \"mount-point\": \"/mnt/w\", \"options\": \"msize=1 ,x\"}",
		  "options may hold only letters, digits and = , . _ -" },
		{ "{\"tag\": \"w:x\", \"mount-point\": \"/mnt/w\"}",
		  "tag must be 1-63 bytes without ':' and mount-point under 256 bytes" },
		{ "{\"tag\": \"\", \"mount-point\": \"/mnt/w\"}",
		  "tag must be 1-63 bytes without ':' and mount-point under 256 bytes" },
		{ "{\"mount-point\": \"/mnt/w\"}", "Parameter 'tag' is missing" },
		{ "{\"tag\": \"w\", \"mount-point\": \"/mnt/w\", \"x\": 1}",
		  "Parameter 'x' is unexpected" },
	};
	for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autofree char *req = g_strdup_printf("{\"execute\": \"grain-mount\", "
						       "\"arguments\": %s}", bad[i].args);
		g_autofree char *desc = conn_error(c, req, "GenericError");
		g_assert_cmpstr(desc, ==, bad[i].want);
	}
	g_autofree char *tag = g_strnfill(64, 't');
	g_autofree char *req = g_strdup_printf("{\"execute\": \"grain-mount\", \"arguments\": "
					       "{\"tag\": \"%s\", \"mount-point\": \"/mnt/w\"}}", tag);
	g_autofree char *desc = conn_error(c, req, "GenericError");
	g_assert_cmpstr(desc, ==, "tag must be 1-63 bytes without ':' and mount-point under 256 bytes");

	/* Nothing was declared by the refused requests. */
	g_autoptr(JsonNode) st = conn_return(c, "{\"execute\": \"grain-status\"}");
	JsonArray *m = json_object_get_array_member(json_node_get_object(st), "mounts");
	for (guint i = 0; i < json_array_get_length(m); i++)
		g_assert_false(json_object_get_boolean_member(json_array_get_object_element(m, i),
							      "expected"));

	g_autofree char *mp = g_build_filename(a->dir, "share", NULL);
	g_free(req);
	req = g_strdup_printf("{\"execute\": \"grain-mount\", \"arguments\": {\"tag\": "
			      "\"gv-no-such-tag\", \"mount-point\": \"%s\", \"options\": "
			      "\"msize=512000,cache=mmap\"}}", mp);
	g_free(desc);
	desc = conn_error(c, req, "GenericError");
	g_autofree char *prefix = g_strdup_printf("cannot mount 9p tag gv-no-such-tag on %s: ", mp);
	g_assert_true(g_str_has_prefix(desc, prefix));
	g_autoptr(JsonNode) st2 = conn_return(c, "{\"execute\": \"grain-status\"}");
	JsonObject *so = json_node_get_object(st2);
	g_assert_false(json_object_get_boolean_member(so, "ready"));
	JsonObject *m0 = json_array_get_object_element(json_object_get_array_member(so, "mounts"), 0);
	g_assert_cmpstr(json_object_get_string_member(m0, "tag"), ==, "gv-no-such-tag");
	g_assert_true(json_object_get_boolean_member(m0, "expected"));
	g_assert_false(json_object_get_boolean_member(m0, "mounted"));
	g_assert_true(json_object_has_member(m0, "error"));
	conn_close(c);
	/* The agent made the mount point; the harness removes only its own. */
	g_rmdir(mp);
	agent_stop(a);
}

static void test_files(void)
{
	Agent *a = agent_start(NULL);
	Conn *c = conn_open(a);
	g_autofree char *path = g_build_filename(a->dir, "f.txt", NULL);
	g_autofree char *req = NULL, *contents = NULL, *desc = NULL;
	gint64 h;
	gsize len;

	req = g_strdup_printf("{\"execute\":\"guest-file-open\",\"arguments\":{\"path\":\"%s\",\"mode\":\"w+\"}}",
			      path);
	g_autoptr(JsonNode) hn = conn_return(c, req);
	h = json_node_get_int(hn);

#define CMD(...) g_strdup_printf(__VA_ARGS__)
	g_free(req);
	/* "hello, agent\n" */
	req = CMD("{\"execute\":\"guest-file-write\",\"arguments\":{\"handle\":%" G_GINT64_FORMAT
		  ",\"buf-b64\":\"aGVsbG8sIGFnZW50Cg==\"}}", h);
	g_autoptr(JsonNode) w = conn_return(c, req);
	g_assert_cmpint(json_object_get_int_member(json_node_get_object(w), "count"), ==, 13);

	g_free(req);
	req = CMD("{\"execute\":\"guest-file-seek\",\"arguments\":{\"handle\":%" G_GINT64_FORMAT
		  ",\"offset\":7,\"whence\":\"set\"}}", h);
	g_autoptr(JsonNode) s = conn_return(c, req);
	g_assert_cmpint(json_object_get_int_member(json_node_get_object(s), "position"), ==, 7);

	g_free(req);
	req = CMD("{\"execute\":\"guest-file-read\",\"arguments\":{\"handle\":%" G_GINT64_FORMAT
		  ",\"count\":100}}", h);
	g_autoptr(JsonNode) rd = conn_return(c, req);
	JsonObject *ro = json_node_get_object(rd);
	g_assert_cmpint(json_object_get_int_member(ro, "count"), ==, 6);
	g_assert_cmpstr(json_object_get_string_member(ro, "buf-b64"), ==, "YWdlbnQK");
	g_assert_true(json_object_get_boolean_member(ro, "eof"));

	g_free(req);
	req = CMD("{\"execute\":\"guest-file-read\",\"arguments\":{\"handle\":%" G_GINT64_FORMAT
		  ",\"count\":-1}}", h);
	desc = conn_error(c, req, "GenericError");
	g_assert_cmpstr(desc, ==, "value '-1' is invalid for argument count");

	g_free(req);
	req = CMD("{\"execute\":\"guest-file-flush\",\"arguments\":{\"handle\":%" G_GINT64_FORMAT "}}", h);
	json_node_unref(conn_return(c, req));

	g_free(req);
	req = CMD("{\"execute\":\"guest-file-close\",\"arguments\":{\"handle\":%" G_GINT64_FORMAT "}}", h);
	json_node_unref(conn_return(c, req));
	g_free(desc);
	desc = conn_error(c, req, "GenericError");
	g_assert_nonnull(strstr(desc, "has not been found"));

	g_assert_true(g_file_get_contents(path, &contents, &len, NULL));
	g_assert_cmpstr(contents, ==, "hello, agent\n");

	g_free(desc);
	desc = conn_error(c, "{\"execute\":\"guest-file-open\",\"arguments\":{\"path\":\"/nonexistent/x\"}}",
			  "GenericError");
	g_assert_nonnull(strstr(desc, "No such file"));
	g_unlink(path);
	conn_close(c);
	agent_stop(a);
#undef CMD
}

static void test_reconnect_half_sent(void)
{
	Agent *a = agent_start(NULL);

	for (int i = 0; i < 3; i++) {
		Conn *c = conn_open(a);
		/* Leave an unfinished string and object behind. */
		conn_send_str(c, "{\"execute\": \"guest-sync\", \"arguments\": {\"id\": \"unterminated {{[");
		conn_close(c);
	}
	Conn *c = conn_open(a);
	g_autoptr(JsonNode) r = conn_cmd(c, "{\"execute\": \"guest-ping\", \"id\": \"second client\"}");
	JsonObject *o = json_node_get_object(r);
	g_assert_true(json_object_has_member(o, "return"));
	g_assert_cmpstr(json_object_get_string_member(o, "id"), ==, "second client");
	conn_close(c);
	agent_stop(a);
}

static void test_size_cap(void)
{
	Agent *a = agent_start(NULL);
	Conn *c = conn_open(a);
	/* 17 MiB inside a string, over the 16 MiB cap. */
	gsize big = 17u << 20;
	g_autofree char *filler = g_malloc(64 << 10);

	memset(filler, 'A', 64 << 10);
	conn_send_str(c, "{\"execute\": \"guest-file-write\", \"arguments\": {\"handle\": 1, \"buf-b64\": \"");
	for (gsize sent = 0; sent < big; sent += 64 << 10)
		conn_send(c, filler, 64 << 10);
	conn_send_str(c, "\"}, \"id\": 1}");
	g_autoptr(JsonNode) r = conn_reply(c);
	JsonObject *e = json_object_get_object_member(json_node_get_object(r), "error");
	g_assert_nonnull(e);
	g_assert_cmpstr(json_object_get_string_member(e, "class"), ==, "GenericError");
	g_assert_nonnull(strstr(json_object_get_string_member(e, "desc"), "size limit"));

	/* The rest of the oversized request was skipped, not parsed. */
	g_autoptr(JsonNode) p = conn_cmd(c, "{\"execute\": \"guest-ping\", \"id\": \"after\"}");
	g_assert_cmpstr(json_object_get_string_member(json_node_get_object(p), "id"), ==, "after");
	g_assert_true(json_object_has_member(json_node_get_object(p), "return"));
	conn_close(c);
	agent_stop(a);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/agent/proto/sync-delimited-after-garbage", test_sync_delimited_after_garbage);
	g_test_add_func("/agent/proto/unknown-command", test_unknown_command);
	g_test_add_func("/agent/proto/id-echo", test_id_echo);
	g_test_add_func("/agent/proto/framing", test_framing);
	g_test_add_func("/agent/proto/errors", test_errors);
	g_test_add_func("/agent/proto/guest-info", test_guest_info);
	g_test_add_func("/agent/proto/grain-status", test_grain_status);
	g_test_add_func("/agent/proto/quiesce-thaw", test_quiesce_thaw);
	g_test_add_func("/agent/proto/files", test_files);
	g_test_add_func("/agent/proto/grain-mount", test_grain_mount);
	g_test_add_func("/agent/proto/listeners", test_listeners);
	g_test_add_func("/agent/proto/reconnect-half-sent", test_reconnect_half_sent);
	g_test_add_func("/agent/proto/size-cap", test_size_cap);
	return g_test_run();
}
