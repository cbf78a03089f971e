/* SPDX-License-Identifier: MIT */
/*
 * fuzz-agent-replies.c - libFuzzer target: arbitrary agent replies and
 * events through the supervisor's checks, in-process
 *
 * The input is what a guest writes on an agent port: it goes through the
 * line reader the supervisor's clients use (1 MiB lines, 0xFF sync bytes),
 * and every message it yields is handed, as "return" or as an event's
 * "data", to each of the supervisor's reply checks: grain-status facts
 * (grainvm-agent and qemu-ga), grain-build-status, exec output and exit
 * events, the guest's interfaces, and readiness from the facts.  A check
 * either returns a clean object whose every member has the type status
 * relies on, or fails with a GV_QMP_ERROR_PROTOCOL; nothing may crash,
 * log a critical (fatal under the tests' G_DEBUG) or leak.
 */
#include <glib.h>
#include <stdint.h>
#include <string.h>

#include "supervisor/supervisor-priv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The supervisor's line cap for an agent (SV_LINE_CAP). */
#define LINE_CAP SV_LINE_CAP

static void must(gboolean cond)
{
	if (!cond)
		__builtin_trap();
}

/* A check's contract: a result, or a protocol error naming the peer. */
static void outcome(gpointer result, GError *error, const char *peer)
{
	must((result != NULL) == (error == NULL));
	if (error) {
		must(g_error_matches(error, GV_QMP_ERROR, GV_QMP_ERROR_PROTOCOL));
		must(g_str_has_prefix(error->message, peer));
		g_error_free(error);
	}
}

static void check_facts(Supervisor *sv, JsonObject *raw, const char *peer)
{
	GError *error = NULL;
	JsonObject *facts = sv_agent_facts(raw, peer, &error);
	outcome(facts, error, peer);
	if (!facts)
		return;
	/* What status and readiness read is there and typed. */
	JsonArray *mounts = gv_json_array_or_null(facts, "mounts");
	must(mounts && json_array_get_length(mounts) <= 64);
	for (guint i = 0; i < json_array_get_length(mounts); i++) {
		JsonObject *m = gv_json_array_object_at(mounts, i);
		const char *tag = NULL;
		must(m && gv_json_get_string(m, "t", "tag", GV_JSON_REQUIRED, &tag, NULL));
	}
	char *why = NULL;
	if (!sv_mounts_ready(sv, facts, &why))
		must(why != NULL);
	g_free(why);
	json_object_unref(facts);
}

static void check_object(Supervisor *sv, JsonObject *o)
{
	GError *error = NULL;
	check_facts(sv, o, SV_PEER_AGENT);
	check_facts(sv, o, SV_PEER_QGA);

	JsonObject *build = sv_build_facts(o, &error);
	outcome(build, error, SV_PEER_AGENT);
	if (build) {
		const char *state = NULL;
		must(gv_json_get_string(build, "t", "state", GV_JSON_REQUIRED, &state, NULL));
		json_object_unref(build);
	}

	error = NULL;
	JsonObject *out = sv_exec_output_event(o, &error);
	outcome(out, error, SV_PEER_AGENT);
	if (out) {
		const char *b64 = NULL;
		must(gv_json_get_string(out, "t", "data-b64", GV_JSON_REQUIRED, &b64, NULL));
		json_object_unref(out);
	}

	JsonObject *exit = sv_exec_exit_event(o);
	must(exit != NULL);
	gint64 code = 0;
	must(gv_json_get_int(exit, "t", "exitcode", GV_JSON_OPTIONAL, 0, G_MAXINT64, &code, NULL));
	json_object_unref(exit);
}

static void on_item(GvJsonReaderItem item, JsonNode *node, const GError *error, gpointer data)
{
	Supervisor *sv = data;
	if (item != GV_JSON_READER_MESSAGE)
		return;
	JsonObject *msg = json_node_get_object(node);
	/* A reply's "return" and an event's "data", whatever they hold. */
	JsonNode *parts[] = { json_object_get_member(msg, "return"),
			      json_object_get_member(msg, "data"), node };
	for (gsize i = 0; i < G_N_ELEMENTS(parts); i++) {
		if (!parts[i])
			continue;
		JsonArray *ifs = sv_interfaces_facts(parts[i]);
		if (ifs)
			json_array_unref(ifs);
		check_object(sv, gv_json_node_object_or_null(parts[i]));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static Supervisor sv;
	if (!sv.expected_tags) {
		sv.expected_tags = g_ptr_array_new_with_free_func(g_free);
		g_ptr_array_add(sv.expected_tags, g_strdup("workspace"));
	}
	GvJsonReader *reader = gv_json_reader_new(LINE_CAP, GV_JSON_READER_SYNC_BYTE);
	gv_json_reader_feed(reader, data, size, on_item, &sv);
	/* An unterminated last line counts too: end it. */
	gv_json_reader_feed(reader, (const guint8 *)"\n", 1, on_item, &sv);
	gv_json_reader_free(reader);
	return 0;
}
