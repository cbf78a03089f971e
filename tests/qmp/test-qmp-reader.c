/* SPDX-License-Identifier: MIT */
/*
 * test-qmp-reader.c - GvJsonReader: line splitting, rejection, bounds
 *
 * The reader is pure, so every test feeds bytes and compares the items it
 * reported, written down as short strings:
 *   M:<json>   a message (the object re-serialized)
 *   P / L      a line rejected as GV_QMP_ERROR_PROTOCOL / _TOO_LONG
 *   S          a 0xFF sync byte
 */
#include <string.h>

#include "grainvm-qmp.h"

/**
 * collect() - GvJsonReaderFunc that records items as strings
 * @item: the item
 * @node: its object, for a message
 * @error: its error, for a bad line
 * @user_data: a GPtrArray of strings
 */
static void collect(GvJsonReaderItem item, JsonNode *node, const GError *error,
		    gpointer user_data)
{
	GPtrArray *out = user_data;

	switch (item) {
	case GV_JSON_READER_MESSAGE: {
		g_assert_true(JSON_NODE_HOLDS_OBJECT(node));
		g_assert_null(error);
		g_autofree char *text = json_to_string(node, FALSE);
		g_ptr_array_add(out, g_strconcat("M:", text, NULL));
		break;
	}
	case GV_JSON_READER_SYNC:
		g_ptr_array_add(out, g_strdup("S"));
		break;
	case GV_JSON_READER_BAD:
		g_assert_nonnull(error);
		g_assert_true(error->domain == GV_QMP_ERROR);
		g_assert_true(error->code == GV_QMP_ERROR_PROTOCOL ||
			      error->code == GV_QMP_ERROR_TOO_LONG);
		g_ptr_array_add(out, g_strdup(error->code == GV_QMP_ERROR_PROTOCOL
					      ? "P" : "L"));
		break;
	}
}

/**
 * feed_all() - run bytes through a new reader in one piece
 * @data: the bytes
 * @len: their number
 * @max_line: reader cap
 * @flags: reader flags
 *
 * Return: (transfer full): the items joined by spaces.
 */
static char *feed_all(const void *data, gsize len, gsize max_line,
		      GvJsonReaderFlags flags)
{
	g_autoptr(GvJsonReader) reader = gv_json_reader_new(max_line, flags);
	g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func(g_free);

	gv_json_reader_feed(reader, data, len, collect, out);
	g_ptr_array_add(out, NULL);
	return g_strjoinv(" ", (char **)out->pdata);
}

#define FEED(str, max, flags) feed_all((str), sizeof(str) - 1, (max), (flags))

/* Lines that exercise every path: CRLF, blank, bad, long, good. */
static const char stream[] =
	"{\"QMP\": {\"version\": {}}}\r\n"
	"\n"
	"  \r\n"
	"{\"return\": {}, \"id\": \"gv-1\"}\n"
	"[1, 2]\n"
	"{\"event\": \"STOP\", \"data\": {\"s\": \"a\\nb\"}}\n"
	"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n"
	"{\"return\": 3}";

static void test_split_every_boundary(void)
{
	const gsize len = sizeof(stream) - 1, max_line = 64;
	/* The last line has no newline yet, so it must not appear. */
	const char *want = "M:{\"QMP\":{\"version\":{}}} "
		"M:{\"return\":{},\"id\":\"gv-1\"} P "
		"M:{\"event\":\"STOP\",\"data\":{\"s\":\"a\\nb\"}} L";
	g_autofree char *whole = feed_all(stream, len, max_line, 0);

	g_assert_cmpstr(whole, ==, want);
	for (gsize cut1 = 0; cut1 <= len; cut1++) {
		/* Two cuts make three pieces, so a line can span a whole
		 * middle piece; the second cut walks a stride to keep the
		 * test quick while reaching every region. */
		for (gsize cut2 = cut1; cut2 <= len; cut2 += 7) {
			g_autoptr(GvJsonReader) reader =
				gv_json_reader_new(max_line, 0);
			g_autoptr(GPtrArray) out =
				g_ptr_array_new_with_free_func(g_free);

			gv_json_reader_feed(reader, (const guint8 *)stream,
					    cut1, collect, out);
			gv_json_reader_feed(reader, (const guint8 *)stream + cut1,
					    cut2 - cut1, collect, out);
			gv_json_reader_feed(reader, (const guint8 *)stream + cut2,
					    len - cut2, collect, out);
			g_assert_cmpuint(gv_json_reader_buffered(reader), <=,
					 max_line);
			g_ptr_array_add(out, NULL);
			g_autofree char *got = g_strjoinv(" ", (char **)out->pdata);
			g_assert_cmpstr(got, ==, want);
		}
	}

	/* Byte by byte, then the final newline completes the last line. */
	g_autoptr(GvJsonReader) reader = gv_json_reader_new(max_line, 0);
	g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func(g_free);
	for (gsize i = 0; i < len; i++)
		gv_json_reader_feed(reader, (const guint8 *)stream + i, 1,
				    collect, out);
	gv_json_reader_feed(reader, (const guint8 *)"\n", 1, collect, out);
	g_ptr_array_add(out, NULL);
	g_autofree char *got = g_strjoinv(" ", (char **)out->pdata);
	g_autofree char *want_all = g_strconcat(want, " M:{\"return\":3}", NULL);
	g_assert_cmpstr(got, ==, want_all);
}

static void test_crlf_and_empty(void)
{
	g_autofree char *a = FEED("{\"a\":1}\r\n", 64, 0);
	g_autofree char *b = FEED("\n\r\n \t \n\n{\"b\":2}\n\n", 64, 0);
	/* A second '\r' is not part of the line ending but is JSON
	 * whitespace (RFC 8259), so the line still parses; a '\r' inside a
	 * token is not. */
	g_autofree char *c = FEED("{\"c\":3}\r\r\n{\"c\":\r3}\n{\"c\"\r:4\r}\n"
				  "{\"c\":3\r3}\n", 64, 0);

	g_assert_cmpstr(a, ==, "M:{\"a\":1}");
	g_assert_cmpstr(b, ==, "M:{\"b\":2}");
	g_assert_cmpstr(c, ==, "M:{\"c\":3} M:{\"c\":3} M:{\"c\":4} P");
}

static void test_not_an_object(void)
{
	/* json-glib alone would accept the two objects on one line as the
	 * first of them. */
	g_autofree char *got = FEED("[1]\n42\n\"s\"\nnull\ntrue\n{\"a\":}\n"
				    "{\"a\":1} {\"b\":2}\n{\"a\":1}\"x\"\n"
				    "{\"a\":1}]\n{\"ok\":\"}\"} \t\n",
				    64, 0);

	g_assert_cmpstr(got, ==, "P P P P P P P P P M:{\"ok\":\"}\"}");
}

static void test_invalid_utf8(void)
{
	/* Overlong encoding, lone continuation byte, a NUL inside a string
	 * (json-glib would stop at it and accept a prefix), then a good
	 * line with real multi-byte UTF-8. */
	g_autofree char *got = FEED("{\"a\":\"\xc0\xaf\"}\n"
				    "{\"a\":\"\x80\"}\n"
				    "{\"a\":\"x\0y\"}\n"
				    "{\"a\":\"\xc3\xa9\"}\n", 64, 0);

	g_assert_cmpstr(got, ==, "P P P M:{\"a\":\"\xc3\xa9\"}");
}

static void test_too_long(void)
{
	const gsize max_line = 16;
	g_autoptr(GvJsonReader) reader = gv_json_reader_new(max_line, 0);
	g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func(g_free);
	char chunk[5];

	/* 1000 bytes of one line in small pieces: reported once, as soon as
	 * it passes the cap, and never buffered beyond it. */
	memset(chunk, 'x', sizeof(chunk));
	for (int i = 0; i < 200; i++) {
		gv_json_reader_feed(reader, (const guint8 *)chunk,
				    sizeof(chunk), collect, out);
		g_assert_cmpuint(gv_json_reader_buffered(reader), <=, max_line);
		g_assert_cmpuint(out->len, ==, i < 3 ? 0 : 1);
	}
	gv_json_reader_feed(reader, (const guint8 *)"xx\n{\"good\":1}\n", 14,
			    collect, out);
	g_ptr_array_add(out, NULL);
	g_autofree char *got = g_strjoinv(" ", (char **)out->pdata);
	g_assert_cmpstr(got, ==, "L M:{\"good\":1}");
}

static void test_too_long_boundary(void)
{
	/* {"a":"xxxxxxxx"} is 16 bytes: exactly max_line is accepted, one
	 * more is not, whether the line arrives whole or in pieces. */
	static const char line16[] = "{\"a\":\"xxxxxxxx\"}";
	static const char line17[] = "{\"a\":\"xxxxxxxxx\"}";

	for (gsize cut = 0; cut <= 16; cut++) {
		g_autoptr(GvJsonReader) reader = gv_json_reader_new(16, 0);
		g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func(g_free);

		gv_json_reader_feed(reader, (const guint8 *)line16, cut,
				    collect, out);
		gv_json_reader_feed(reader, (const guint8 *)line16 + cut,
				    16 - cut, collect, out);
		gv_json_reader_feed(reader, (const guint8 *)"\n", 1, collect,
				    out);
		gv_json_reader_feed(reader, (const guint8 *)line17, cut,
				    collect, out);
		gv_json_reader_feed(reader, (const guint8 *)line17 + cut,
				    17 - cut, collect, out);
		gv_json_reader_feed(reader, (const guint8 *)"\n", 1, collect,
				    out);
		g_ptr_array_add(out, NULL);
		g_autofree char *got = g_strjoinv(" ", (char **)out->pdata);
		g_assert_cmpstr(got, ==, "M:{\"a\":\"xxxxxxxx\"} L");
	}
	/* The same with the line and its newline in one buffer. */
	g_autofree char *got = FEED("{\"a\":\"xxxxxxxxx\"}\n{\"a\":\"xxxxxxxx\"}\n",
				    16, 0);
	g_assert_cmpstr(got, ==, "L M:{\"a\":\"xxxxxxxx\"}");
}

static void test_sync_byte(void)
{
	/* Mid-line 0xFF drops the partial line and starts afresh. */
	g_autofree char *a = FEED("{\"stale\":1" "\xff" "{\"b\":2}\n",
				  64, GV_JSON_READER_SYNC_BYTE);
	/* It also ends the skipping of an over-long line. */
	g_autofree char *b = FEED("xxxxxxxxxxxxxxxxxxxx\xff{\"c\":3}\n", 8,
				  GV_JSON_READER_SYNC_BYTE);
	/* Several in a row, and one right after a complete line. */
	g_autofree char *c = FEED("{\"d\":4}\n\xff\xff{\"e\":5}\n", 64,
				  GV_JSON_READER_SYNC_BYTE);
	/* Without the flag 0xFF is just invalid UTF-8. */
	g_autofree char *d = FEED("{\"stale\":1" "\xff" "{\"b\":2}\n", 64, 0);

	g_assert_cmpstr(a, ==, "S M:{\"b\":2}");
	g_assert_cmpstr(b, ==, "L S M:{\"c\":3}");
	g_assert_cmpstr(c, ==, "M:{\"d\":4} S S M:{\"e\":5}");
	g_assert_cmpstr(d, ==, "P");
}

/**
 * nested() - a line with an object nested @depth levels deep
 * @depth: total depth including the outer object
 *
 * Return: (transfer full): the line with its newline.
 */
static GString *nested(guint depth)
{
	GString *s = g_string_new("{\"a\":");

	for (guint i = 1; i < depth; i++)
		g_string_append_c(s, '[');
	for (guint i = 1; i < depth; i++)
		g_string_append_c(s, ']');
	g_string_append(s, "}\n");
	return s;
}

static void test_deep_nesting(void)
{
	/* 100000 levels crash json-glib 1.6 with a stack overflow. */
	g_autoptr(GString) deep = nested(100000);
	g_autoptr(GString) ok = nested(1024);
	g_autoptr(GString) over = nested(1025);
	g_autoptr(GString) in_string = g_string_new("{\"a\":\"");
	g_autofree char *got_deep = feed_all(deep->str, deep->len, 1 << 20, 0);
	g_autofree char *got_ok = feed_all(ok->str, ok->len, 1 << 20, 0);
	g_autofree char *got_over = feed_all(over->str, over->len, 1 << 20, 0);

	g_assert_cmpstr(got_deep, ==, "P");
	g_assert_true(g_str_has_prefix(got_ok, "M:{\"a\":[[[["));
	g_assert_cmpstr(got_over, ==, "P");

	/* Brackets inside a string (with an escaped quote) do not count. */
	g_string_append(in_string, "\\\"");
	for (int i = 0; i < 5000; i++)
		g_string_append_c(in_string, '[');
	g_string_append(in_string, "\"}\n");
	g_autofree char *got_str = feed_all(in_string->str, in_string->len,
					    1 << 20, 0);
	g_assert_true(g_str_has_prefix(got_str, "M:{\"a\":\"\\\"[[["));
}

/* Resetting from the callback forgets the partial line that follows. */
static void reset_on_message(GvJsonReaderItem item, JsonNode *node,
			     const GError *error, gpointer user_data)
{
	GvJsonReader **reader = user_data;

	if (item == GV_JSON_READER_MESSAGE)
		gv_json_reader_reset(*reader);
}

static void test_reset(void)
{
	g_autoptr(GvJsonReader) reader = gv_json_reader_new(64, 0);
	g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func(g_free);

	gv_json_reader_feed(reader, (const guint8 *)"{\"a\":", 5, collect,
			    out);
	g_assert_cmpuint(gv_json_reader_buffered(reader), ==, 5);
	gv_json_reader_reset(reader);
	g_assert_cmpuint(gv_json_reader_buffered(reader), ==, 0);
	gv_json_reader_feed(reader, (const guint8 *)"{\"b\":2}\n", 8, collect,
			    out);
	g_assert_cmpuint(out->len, ==, 1);
	g_assert_cmpstr(out->pdata[0], ==, "M:{\"b\":2}");

	gv_json_reader_feed(reader, (const guint8 *)"{\"c\":3}\n{\"part", 14,
			    reset_on_message, &reader);
	/* The partial line after the message was read after the reset. */
	g_assert_cmpuint(gv_json_reader_buffered(reader), ==, 6);
}

static void test_error_class_names(void)
{
	g_assert_cmpstr(gv_qmp_error_class_name(GV_QMP_ERROR_GENERIC_ERROR), ==,
			"GenericError");
	g_assert_cmpstr(gv_qmp_error_class_name(GV_QMP_ERROR_COMMAND_NOT_FOUND),
			==, "CommandNotFound");
	g_assert_cmpstr(gv_qmp_error_class_name(GV_QMP_ERROR_DEVICE_NOT_ACTIVE),
			==, "DeviceNotActive");
	g_assert_cmpstr(gv_qmp_error_class_name(GV_QMP_ERROR_DEVICE_NOT_FOUND),
			==, "DeviceNotFound");
	g_assert_cmpstr(gv_qmp_error_class_name(GV_QMP_ERROR_KVM_MISSING_CAP),
			==, "KVMMissingCap");
	g_assert_null(gv_qmp_error_class_name(GV_QMP_ERROR_OTHER_CLASS));
	g_assert_null(gv_qmp_error_class_name(GV_QMP_ERROR_PROTOCOL));
	g_assert_null(gv_qmp_error_class_name(GV_QMP_ERROR_IO));
	g_assert_null(gv_qmp_error_class_name((GvQmpError)1000));
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/qmp/reader/split-every-boundary",
			test_split_every_boundary);
	g_test_add_func("/qmp/reader/crlf-and-empty", test_crlf_and_empty);
	g_test_add_func("/qmp/reader/not-an-object", test_not_an_object);
	g_test_add_func("/qmp/reader/invalid-utf8", test_invalid_utf8);
	g_test_add_func("/qmp/reader/too-long", test_too_long);
	g_test_add_func("/qmp/reader/too-long-boundary", test_too_long_boundary);
	g_test_add_func("/qmp/reader/sync-byte", test_sync_byte);
	g_test_add_func("/qmp/reader/deep-nesting", test_deep_nesting);
	g_test_add_func("/qmp/reader/reset", test_reset);
	g_test_add_func("/qmp/error/class-names", test_error_class_names);
	return g_test_run();
}
