/* SPDX-License-Identifier: MIT */
/*
 * qmp-reader.c - split a byte stream into JSON objects, one per line
 *
 * The reader is the only part of libgvqmp that looks at peer bytes before
 * they are trusted, so it is pure (no I/O, no main loop) and fuzzed alone
 * (tests/qmp/fuzz-qmp-reader.c).  The client feeds it whatever read()
 * returned and acts on the items it reports.
 *
 * Memory is bounded by max_line: a partial line is kept only while it is
 * at most max_line bytes.  The moment it grows past that, the reader
 * reports GV_QMP_ERROR_TOO_LONG, frees what it held and drops bytes up to
 * the next newline (or, in SYNC_BYTE mode, the next 0xFF), so a guest that
 * sends an endless line costs nothing but the read() calls.
 *
 * Nesting is bounded too: json-glib 1.6 parses recursively and overflows
 * the stack on deeply nested input (measured: 100000 '[' in a 200 KB line
 * crash it).  A cheap scan rejects lines nested deeper than
 * GV_JSON_MAX_DEPTH, holding more than one value, or holding more than
 * GV_JSON_MAX_VALUES values, before json-glib sees them (see
 * shape_problem()).  The value count bounds what json-glib builds: each
 * value costs it one JsonNode and an object a hash table, ~200 bytes or
 * more, so a 16 MiB line of "{}," (5.3 million empty objects) took a
 * supervisor from 6 MB to a 1.97 GB peak before this limit.
 */
#include <string.h>

#include "qmp-private.h"

/*
 * QEMU's own JSON parser caps nesting at 1024 (MAX_NESTING in
 * qobject/json-streamer.c), so no QMP or qemu-ga message is deeper; at
 * this depth json-glib uses well under 1 MiB of stack even under ASan.
 */
#define GV_JSON_MAX_DEPTH 1024

/*
 * The most values (objects, arrays, strings, numbers, literals) one line
 * may hold.  grainvm's largest legitimate messages are a few hundred
 * values (guest-network-get-interfaces, query-block of a long snapshot
 * chain, grain-listeners' 256 entries of 3 members); 16384 leaves room
 * for any of them and bounds json-glib's work on a hostile line to a
 * few MiB (at most 16384 objects, ~250 bytes each).
 */
#define GV_JSON_MAX_VALUES 16384

/*
 * After a line longer than this has been parsed its buffer is freed rather
 * than kept for reuse, so one 16 MiB reply does not pin 16 MiB for the
 * life of the connection.
 */
#define GV_JSON_KEEP_BUFFER (64 * 1024)

struct GvJsonReader {
	gsize max_line;
	GvJsonReaderFlags flags;
	GByteArray *line;   /* the partial line, never over max_line bytes */
	gboolean skipping;  /* inside an over-long line: drop to its end */
	JsonParser *parser;
};

/**
 * gv_json_reader_new() - make a line reader
 * @max_line: longest line accepted, in bytes, not counting the '\n'
 * @flags: GvJsonReaderFlags
 *
 * Return: (transfer full): the reader.
 */
GvJsonReader *gv_json_reader_new(gsize max_line, GvJsonReaderFlags flags)
{
	GvJsonReader *reader = g_new0(GvJsonReader, 1);

	reader->max_line = max_line;
	reader->flags = flags;
	reader->line = g_byte_array_new();
	reader->parser = json_parser_new();
	return reader;
}

/**
 * gv_json_reader_free() - free a reader and any partial line
 * @reader: (nullable): the reader
 */
void gv_json_reader_free(GvJsonReader *reader)
{
	if (!reader)
		return;
	g_byte_array_unref(reader->line);
	g_object_unref(reader->parser);
	g_free(reader);
}

/**
 * gv_json_reader_set_max_line() - change the line cap
 * @reader: the reader
 * @max_line: the new cap
 */
void gv_json_reader_set_max_line(GvJsonReader *reader, gsize max_line)
{
	reader->max_line = max_line;
	if (reader->line->len > max_line) {
		/* Free, not just truncate: the bound is on memory held.  The
		 * rest of the line is dropped up to its newline. */
		g_byte_array_unref(reader->line);
		reader->line = g_byte_array_new();
		reader->skipping = TRUE;
	}
}

/**
 * gv_json_reader_reset() - forget any partial line
 * @reader: the reader
 *
 * The next byte fed starts a new line.  May be called from the reader's
 * own callback; the bytes of the current gv_json_reader_feed() call that
 * follow the item being reported are still read.
 */
void gv_json_reader_reset(GvJsonReader *reader)
{
	g_byte_array_set_size(reader->line, 0);
	reader->skipping = FALSE;
}

/**
 * gv_json_reader_buffered() - bytes of a partial line held
 * @reader: the reader
 *
 * Return: the size of the partial line buffered now, at most max_line.
 */
gsize gv_json_reader_buffered(GvJsonReader *reader)
{
	return reader->line->len;
}

/**
 * report_bad() - report a rejected line
 * @code: GV_QMP_ERROR_PROTOCOL or GV_QMP_ERROR_TOO_LONG
 * @why: the message
 * @func: the item callback
 * @user_data: for @func
 */
static void report_bad(GvQmpError code, const char *why, GvJsonReaderFunc func,
		       gpointer user_data)
{
	g_autoptr(GError) error = g_error_new_literal(GV_QMP_ERROR, code, why);

	func(GV_JSON_READER_BAD, NULL, error, user_data);
}

/**
 * shape_problem() - check what json-glib cannot be trusted with
 * @text: the line
 * @len: its length
 *
 * Three things are checked by a scan that skips strings and does not
 * otherwise validate:
 * - more than GV_JSON_MAX_VALUES values: an object or array opened, a
 *   string, or a ',' (each separates two values or members) counts one;
 * - nesting deeper than GV_JSON_MAX_DEPTH, which would overflow
 *   json-glib's recursive parser;
 * - text after the first complete value: json-glib 1.6 parses
 *   '{"a":1} {"b":2}' as {"a":1} and drops the rest without an error, but
 *   a peer that sends two messages on one line is broken, and in agent
 *   mode silently losing one reply would hand the next reply to the wrong
 *   command.
 *
 * Return: (nullable): why the line must not reach json-glib, or NULL.
 */
static const char *shape_problem(const char *text, gsize len)
{
	guint depth = 0;
	gsize values = 0;
	gboolean in_string = FALSE, escaped = FALSE, ended = FALSE;

	for (gsize i = 0; i < len; i++) {
		char c = text[i];

		if (in_string) {
			if (escaped)
				escaped = FALSE;
			else if (c == '\\')
				escaped = TRUE;
			else if (c == '"')
				in_string = FALSE;
		} else if (ended && c != ' ' && c != '\t' && c != '\r') {
			return "more than one JSON value on a line";
		} else if (c == '"') {
			in_string = TRUE;
			if (++values > GV_JSON_MAX_VALUES)
				return "too many JSON values on a line";
		} else if (c == ',') {
			if (++values > GV_JSON_MAX_VALUES)
				return "too many JSON values on a line";
		} else if (c == '[' || c == '{') {
			if (++depth > GV_JSON_MAX_DEPTH)
				return "JSON nested too deeply";
			if (++values > GV_JSON_MAX_VALUES)
				return "too many JSON values on a line";
		} else if ((c == ']' || c == '}') && depth > 0) {
			ended = --depth == 0;
		}
	}
	return NULL;
}

/**
 * is_blank() - whether a line holds only JSON whitespace
 * @text: the line
 * @len: its length
 *
 * Return: TRUE for a line to skip silently.
 */
static gboolean is_blank(const char *text, gsize len)
{
	for (gsize i = 0; i < len; i++) {
		if (!strchr(" \t\r", text[i]))
			return FALSE;
	}
	return TRUE;
}

/**
 * parse_line() - check one complete line and report it
 * @reader: the reader
 * @text: the line without its '\n'
 * @len: its length (at most max_line)
 * @func: the item callback
 * @user_data: for @func
 */
static void parse_line(GvJsonReader *reader, const char *text, gsize len,
		       GvJsonReaderFunc func, gpointer user_data)
{
	g_autoptr(GError) error = NULL;
	const char *problem;

	if (len > 0 && text[len - 1] == '\r')
		len--;
	if (is_blank(text, len))
		return;
	/* Also rejects NUL bytes, which json-glib would stop at silently. */
	if (!g_utf8_validate_len(text, len, NULL)) {
		report_bad(GV_QMP_ERROR_PROTOCOL, "line is not valid UTF-8",
			   func, user_data);
		return;
	}
	problem = shape_problem(text, len);
	if (problem) {
		report_bad(GV_QMP_ERROR_PROTOCOL, problem, func, user_data);
		return;
	}
	if (!json_parser_load_from_data(reader->parser, text, (gssize)len,
					&error)) {
		g_autofree char *why = g_strdup_printf("invalid JSON: %s",
						       error->message);
		report_bad(GV_QMP_ERROR_PROTOCOL, why, func, user_data);
		return;
	}

	g_autoptr(JsonNode) root = json_parser_steal_root(reader->parser);
	if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
		report_bad(GV_QMP_ERROR_PROTOCOL, "line is not a JSON object",
			   func, user_data);
		return;
	}
	func(GV_JSON_READER_MESSAGE, root, NULL, user_data);
}

/**
 * drop_long_line() - the current line has grown past max_line
 * @reader: the reader
 * @line_ended: TRUE when its '\n' has been seen already
 * @func: the item callback, told once
 * @user_data: for @func
 */
static void drop_long_line(GvJsonReader *reader, gboolean line_ended,
			   GvJsonReaderFunc func, gpointer user_data)
{
	g_autofree char *why = g_strdup_printf(
		"message longer than %" G_GSIZE_FORMAT " bytes dropped",
		reader->max_line);

	/* Free, not just truncate: the bound is on memory held. */
	g_byte_array_unref(reader->line);
	reader->line = g_byte_array_new();
	reader->skipping = !line_ended;
	report_bad(GV_QMP_ERROR_TOO_LONG, why, func, user_data);
}

/**
 * take_bytes() - add bytes to the partial line, enforcing max_line
 * @reader: the reader
 * @buf: bytes that belong to the current line
 * @len: their number
 * @func: the item callback, told once when the line becomes too long
 * @user_data: for @func
 */
static void take_bytes(GvJsonReader *reader, const guint8 *buf, gsize len,
		       GvJsonReaderFunc func, gpointer user_data)
{
	if (reader->skipping || len == 0)
		return;
	if (len > reader->max_line - reader->line->len) {
		drop_long_line(reader, FALSE, func, user_data);
		return;
	}
	g_byte_array_append(reader->line, buf, (guint)len);
}

/**
 * end_line() - a '\n' ends the current line
 * @reader: the reader
 * @buf: the bytes of this feed call before the '\n'
 * @len: their number
 * @func: the item callback
 * @user_data: for @func
 */
static void end_line(GvJsonReader *reader, const guint8 *buf, gsize len,
		     GvJsonReaderFunc func, gpointer user_data)
{
	if (reader->skipping) {
		reader->skipping = FALSE;
		return;
	}
	if (reader->line->len == 0) {
		/* The common case: the whole line came in one read; parse it
		 * in place without copying. */
		if (len > reader->max_line)
			drop_long_line(reader, TRUE, func, user_data);
		else
			parse_line(reader, (const char *)buf, len, func,
				   user_data);
		return;
	}
	take_bytes(reader, buf, len, func, user_data);
	if (reader->skipping) {
		reader->skipping = FALSE;
		return;
	}

	/* Detach the line first: the callback may reset or feed on. */
	g_autoptr(GByteArray) line = reader->line;
	reader->line = line->len > GV_JSON_KEEP_BUFFER ? g_byte_array_new()
		: g_byte_array_sized_new(line->len);
	parse_line(reader, (const char *)line->data, line->len, func,
		   user_data);
}

/**
 * gv_json_reader_feed() - consume bytes
 * @reader: the reader
 * @buf: bytes read from the peer, any split
 * @len: their number
 * @func: called for each complete item, in stream order; it may call
 *        gv_json_reader_reset() but must not free the reader
 * @user_data: passed to @func
 */
void gv_json_reader_feed(GvJsonReader *reader, const guint8 *buf, gsize len,
			 GvJsonReaderFunc func, gpointer user_data)
{
	gboolean sync = (reader->flags & GV_JSON_READER_SYNC_BYTE) != 0;

	while (len > 0) {
		const guint8 *nl = memchr(buf, '\n', len);
		gsize span = nl ? (gsize)(nl - buf) : len;
		const guint8 *ff = sync ? memchr(buf, 0xFF, span) : NULL;

		if (ff) {
			/* 0xFF never occurs in UTF-8: the peer is telling us
			 * that a fresh message starts here.  The bytes before
			 * it still count against max_line, so that how the
			 * stream was split into reads cannot change what is
			 * reported. */
			take_bytes(reader, buf, (gsize)(ff - buf), func,
				   user_data);
			g_byte_array_set_size(reader->line, 0);
			reader->skipping = FALSE;
			len -= (gsize)(ff - buf) + 1;
			buf = ff + 1;
			func(GV_JSON_READER_SYNC, NULL, NULL, user_data);
			continue;
		}
		if (!nl) {
			take_bytes(reader, buf, len, func, user_data);
			return;
		}
		end_line(reader, buf, span, func, user_data);
		len -= span + 1;
		buf = nl + 1;
	}
}
