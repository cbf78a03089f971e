/* SPDX-License-Identifier: MIT */
/*
 * test-qmp-json.c - the typed accessors and the reader's value bound, as a
 * lying peer would meet them
 *
 * Every member of a peer's message may have any type; the accessors must
 * turn each wrong type, missing member or out-of-range number into a
 * GV_QMP_ERROR_PROTOCOL that names the peer and the member, and never into
 * NULL where a string was promised, a critical (the tests run with
 * G_DEBUG=fatal-criticals) or a crash.
 */
#include <string.h>

#include "grainvm-qmp.h"

static JsonObject *parse(const char *text)
{
	g_autoptr(JsonParser) p = json_parser_new();
	g_assert_true(json_parser_load_from_data(p, text, -1, NULL));
	return json_object_ref(json_node_get_object(json_parser_get_root(p)));
}

/* Each value a member can hold, as JSON. */
static const char *const kinds[] = {
	"\"text\"", "7", "7.5", "true", "null", "{}", "[]", "[1,2]",
};

static void test_every_type_in_every_accessor(void)
{
	for (gsize k = 0; k < G_N_ELEMENTS(kinds); k++) {
		g_autofree char *text = g_strdup_printf("{\"m\": %s}", kinds[k]);
		g_autoptr(JsonObject) o = parse(text);
		const char *str = "unset";
		gint64 i = -1;
		gboolean b = FALSE;
		double d = -1;
		JsonObject *obj = NULL;
		JsonArray *arr = NULL;
		gboolean ok;
		g_autoptr(GError) e1 = NULL, e2 = NULL, e3 = NULL, e4 = NULL, e5 = NULL, e6 = NULL;

		ok = gv_json_get_string(o, "peer", "m", GV_JSON_REQUIRED, &str, &e1);
		g_assert_true(ok == (k == 0));
		if (ok)
			g_assert_cmpstr(str, ==, "text");
		else
			g_assert_error(e1, GV_QMP_ERROR, GV_QMP_ERROR_PROTOCOL);
		ok = gv_json_get_int(o, "peer", "m", GV_JSON_REQUIRED, 0, 100, &i, &e2);
		g_assert_true(ok == (k == 1));
		ok = gv_json_get_bool(o, "peer", "m", GV_JSON_REQUIRED, &b, &e3);
		g_assert_true(ok == (k == 3));
		ok = gv_json_get_double(o, "peer", "m", GV_JSON_REQUIRED, &d, &e4);
		g_assert_true(ok == (k == 1 || k == 2));
		ok = gv_json_get_object(o, "peer", "m", GV_JSON_REQUIRED, &obj, &e5);
		g_assert_true(ok == (k == 5));
		ok = gv_json_get_array(o, "peer", "m", GV_JSON_REQUIRED, 1, &arr, &e6);
		/* [1,2] is over the bound of 1 element. */
		g_assert_true(ok == (k == 6));
		if (k == 7)
			g_assert_nonnull(strstr(e6->message, "more than 1"));

		/* The lenient family: the fallback for any other type. */
		g_assert_cmpstr(gv_json_string_or(o, "m", "fb"), ==, k == 0 ? "text" : "fb");
		g_assert_cmpint(gv_json_int_or(o, "m", -5), ==, k == 1 ? 7 : -5);
		g_assert_true(gv_json_bool_or(o, "m", FALSE) == (k == 3));
		g_assert_true((gv_json_object_or_null(o, "m") != NULL) == (k == 5));
		g_assert_true((gv_json_array_or_null(o, "m") != NULL) == (k >= 6));
		g_assert_true(gv_json_has(o, "m") == (k != 4));
	}
}

static void test_message_names_peer_and_member(void)
{
	g_autoptr(JsonObject) o = parse("{\"data-b64\": 12}");
	g_autoptr(GError) error = NULL;
	const char *s = NULL;
	g_assert_false(gv_json_get_string(o, "grainvm-agent", "data-b64", GV_JSON_REQUIRED, &s,
					  &error));
	g_assert_null(s);
	g_assert_cmpstr(error->message, ==,
			"grainvm-agent: member \"data-b64\" is an integer, not a string");
}

static void test_optional_and_required(void)
{
	g_autoptr(JsonObject) o = parse("{\"n\": null}");
	g_autoptr(GError) error = NULL;
	const char *s = "default";
	gint64 i = 3;
	/* Absent or null and optional: *out untouched, success. */
	g_assert_true(gv_json_get_string(o, "p", "absent", GV_JSON_OPTIONAL, &s, NULL));
	g_assert_true(gv_json_get_int(o, "p", "n", GV_JSON_OPTIONAL, 0, 9, &i, NULL));
	g_assert_cmpstr(s, ==, "default");
	g_assert_cmpint(i, ==, 3);
	/* Required: an error that says which. */
	g_assert_false(gv_json_get_string(o, "p", "absent", GV_JSON_REQUIRED, &s, &error));
	g_assert_cmpstr(error->message, ==, "p: member \"absent\" is missing");
	g_clear_error(&error);
	/* A NULL object (the reply was no object) has every member missing. */
	g_assert_true(gv_json_get_string(NULL, "p", "x", GV_JSON_OPTIONAL, &s, NULL));
	g_assert_false(gv_json_get_string(NULL, "p", "x", GV_JSON_REQUIRED, &s, &error));
	g_assert_error(error, GV_QMP_ERROR, GV_QMP_ERROR_PROTOCOL);
}

static void test_int_range(void)
{
	g_autoptr(JsonObject) o = parse("{\"handle\": -1, \"big\": 9223372036854775807}");
	g_autoptr(GError) error = NULL;
	gint64 v = 42;
	g_assert_false(gv_json_get_int(o, "p", "handle", GV_JSON_REQUIRED, 0, G_MAXINT32, &v,
				       &error));
	g_assert_cmpint(v, ==, 42);
	g_assert_nonnull(strstr(error->message, "outside 0..2147483647"));
	g_assert_true(gv_json_get_int(o, "p", "big", GV_JSON_REQUIRED, 0, G_MAXINT64, &v, NULL));
	g_assert_cmpint(v, ==, G_MAXINT64);
}

static void test_node_and_elements(void)
{
	g_autoptr(JsonObject) o = parse("{\"a\": [\"s\", 1, {}, null]}");
	g_autoptr(GError) error = NULL;
	JsonArray *a = gv_json_array_or_null(o, "a");
	g_assert_cmpstr(gv_json_array_string_at(a, 0), ==, "s");
	g_assert_null(gv_json_array_string_at(a, 1));
	g_assert_null(gv_json_array_object_at(a, 1));
	g_assert_nonnull(gv_json_array_object_at(a, 2));
	g_assert_null(gv_json_array_object_at(a, 3));
	g_assert_null(gv_json_array_object_at(a, 99));
	g_assert_null(gv_json_array_object_at(NULL, 0));
	JsonNode *n = json_object_get_member(o, "a");
	g_assert_null(gv_json_node_object(n, "qemu-ga", "guest-info's reply", &error));
	g_assert_cmpstr(error->message, ==, "qemu-ga: guest-info's reply is an array, not an object");
	g_assert_null(gv_json_node_object_or_null(NULL));
}

/* ---- the reader's bound on values per line ---------------------------------- */

typedef struct {
	guint messages;
	guint bad;
	char *why;
} Seen;

static void on_item(GvJsonReaderItem item, JsonNode *node, const GError *error, gpointer data)
{
	Seen *s = data;
	if (item == GV_JSON_READER_MESSAGE) {
		s->messages++;
	} else if (item == GV_JSON_READER_BAD) {
		s->bad++;
		g_free(s->why);
		s->why = g_strdup(error->message);
	}
}

static void feed_str(GvJsonReader *r, const GString *line, Seen *s)
{
	gv_json_reader_feed(r, (const guint8 *)line->str, line->len, on_item, s);
}

static void test_value_flood(void)
{
	g_autoptr(GvJsonReader) r = gv_json_reader_new(16u << 20, GV_JSON_READER_NONE);
	Seen s = { 0 };
	/* The flood of the issue: {"return":[{},{},...]} with a million objects. */
	g_autoptr(GString) line = g_string_new("{\"return\":[");
	for (guint i = 0; i < 1000000; i++)
		g_string_append(line, "{},");
	g_string_append(line, "{}]}\n");
	feed_str(r, line, &s);
	g_assert_cmpuint(s.messages, ==, 0);
	g_assert_cmpuint(s.bad, ==, 1);
	g_assert_cmpstr(s.why, ==, "too many JSON values on a line");
	/* A message just under the bound still passes; commas in strings do not count. */
	g_string_assign(line, "{\"return\":[");
	for (guint i = 0; i < 1000; i++)
		g_string_append(line, "\"a,b,c,d\",");
	g_string_append(line, "1]}\n");
	feed_str(r, line, &s);
	g_assert_cmpuint(s.messages, ==, 1);
	g_free(s.why);
}

static void test_lower_cap_drops_partial(void)
{
	g_autoptr(GvJsonReader) r = gv_json_reader_new(1u << 20, GV_JSON_READER_NONE);
	Seen s = { 0 };
	g_autofree char *big = g_strnfill(4000, 'x');
	gv_json_reader_feed(r, (const guint8 *)"{\"a\":\"", 6, on_item, &s);
	gv_json_reader_feed(r, (const guint8 *)big, 4000, on_item, &s);
	g_assert_cmpuint(gv_json_reader_buffered(r), ==, 4006);
	gv_json_reader_set_max_line(r, 1024);
	/* The partial line is freed at once, its rest dropped up to the newline. */
	g_assert_cmpuint(gv_json_reader_buffered(r), ==, 0);
	gv_json_reader_feed(r, (const guint8 *)"\"}\n{\"b\":1}\n", 11, on_item, &s);
	g_assert_cmpuint(s.messages, ==, 1);
	g_assert_cmpuint(gv_json_reader_buffered(r), ==, 0);
	g_free(s.why);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/qmp/json/every-type-in-every-accessor", test_every_type_in_every_accessor);
	g_test_add_func("/qmp/json/message-names-peer-and-member", test_message_names_peer_and_member);
	g_test_add_func("/qmp/json/optional-and-required", test_optional_and_required);
	g_test_add_func("/qmp/json/int-range", test_int_range);
	g_test_add_func("/qmp/json/node-and-elements", test_node_and_elements);
	g_test_add_func("/qmp/reader/value-flood", test_value_flood);
	g_test_add_func("/qmp/reader/lower-cap-drops-partial", test_lower_cap_drops_partial);
	return g_test_run();
}
