/* SPDX-License-Identifier: MIT */
/*
 * json.h - a small bounded JSON parser and writer for grainvm-agent
 *
 * Theory of operation
 *
 * Requests come from the host and are untrusted, so the parser is bounded
 * in every dimension: nesting depth (JSON_MAX_DEPTH), number of values
 * (JSON_MAX_NODES), and the text itself, whose size the stream framer
 * (proto.c) has already capped.  It parses one complete document in
 * place: strings are decoded into the text they came from (a decoded
 * string is never longer than its quoted form), so a 16 MiB base64
 * payload is not copied.  Values are nodes allocated from a small arena
 * that starts inside struct json_doc, so a typical request allocates
 * nothing at all.  Numbers keep their source text, so an "id" such as
 * 1.50 or 18446744073709551615 is echoed exactly as the host wrote it.
 *
 * Strings must be valid UTF-8 (overlong forms, surrogates and code points
 * above U+10FFFF are rejected, as QEMU's parser does), \u escapes are
 * decoded with surrogate pairs, and \u0000 is refused because every
 * string the agent uses ends up as a C string (a path, an argument).
 *
 * The writer builds one reply in a growable buffer with QEMU's spacing
 * ({"return": {}}).  Out of memory is sticky: the writer records it and
 * the caller checks once at the end.
 */
#ifndef GRAINVM_AGENT_JSON_H
#define GRAINVM_AGENT_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Deep enough for any request grainvm or qemu-ga sends (3 levels). */
#define JSON_MAX_DEPTH 32
/* A guest-exec with a few thousand arguments and variables fits. */
#define JSON_MAX_NODES 65536
/* Nodes kept inside struct json_doc: enough for every ordinary request. */
#define JSON_INLINE_NODES 48

enum json_type {
	JSON_NULL,
	JSON_BOOL,
	JSON_NUMBER,
	JSON_STRING,
	JSON_ARRAY,
	JSON_OBJECT,
};

struct json {
	enum json_type type;
	bool is_int;             /* JSON_NUMBER that fits int64 exactly */
	bool b;                  /* JSON_BOOL */
	struct json *next;       /* next array element or object member */
	const char *key;         /* member name when inside an object */
	union {
		struct {
			int64_t i;
			double d;
			const char *raw; /* source text, not NUL-terminated */
			size_t raw_len;
		} num;
		struct {
			char *s;         /* NUL-terminated, no embedded NUL */
			size_t len;
		} str;
		struct {
			struct json *first;
			size_t count;
		} kids;
	} u;
};

struct json_chunk;

/* Owns the nodes of one parsed document. */
struct json_doc {
	struct json inline_nodes[JSON_INLINE_NODES];
	size_t used_inline;
	struct json_chunk *chunks;
	size_t nodes;
};

/**
 * json_parse() - parse one JSON document in place
 * @text: the text; modified (strings are decoded into it)
 * @len: its length; @text need not be NUL-terminated
 * @doc: arena, initialised here; free with json_doc_free() even on error
 * @out: (out): the root value, valid while @doc and @text live
 * @err: (out): a static description of the first error
 *
 * Return: 0, or -EINVAL (malformed), -E2BIG (too many values),
 * -ELOOP (too deep) or -ENOMEM, with @err set.
 */
int json_parse(char *text, size_t len, struct json_doc *doc, struct json **out,
	       const char **err);

/**
 * json_doc_free() - free the nodes of a document
 * @doc: the arena; reusable afterwards
 */
void json_doc_free(struct json_doc *doc);

/**
 * json_get() - look up an object member
 * @obj: a JSON_OBJECT (or NULL)
 * @key: member name
 *
 * Return: the last member named @key (QEMU keeps the last duplicate), or
 * NULL.
 */
const struct json *json_get(const struct json *obj, const char *key);

/**
 * json_type_name() - QEMU's name of a type, for error messages
 * @type: the type
 *
 * Return: "null", "boolean", "number", "string", "array" or "object".
 */
const char *json_type_name(enum json_type type);

/* The writer. */
struct jw {
	char *buf;
	size_t len, cap;
	bool oom;
	unsigned depth;
	uint64_t comma;  /* bit d set: the container at depth d has a member */
	bool after_key;
};

void jw_init(struct jw *w);
void jw_free(struct jw *w);
/* Drop the text but keep the buffer for the next reply. */
void jw_reset(struct jw *w);
/**
 * jw_truncate() - forget everything written after @len
 * @w: writer
 * @len: a length previously read from @w->len
 * @depth: @w->depth at that point
 *
 * Used to replace a half-written "return" with an error reply.
 */
void jw_truncate(struct jw *w, size_t len, unsigned depth);
/**
 * jw_reserve() - make room for @extra more bytes
 * @w: writer
 * @extra: bytes
 *
 * Return: a pointer to write them at (then call jw_commit()), or NULL
 * when out of memory (also recorded in @w->oom).
 */
char *jw_reserve(struct jw *w, size_t extra);
void jw_commit(struct jw *w, size_t n);
void jw_raw(struct jw *w, const char *s, size_t n);
void jw_obj_open(struct jw *w);
void jw_obj_close(struct jw *w);
void jw_arr_open(struct jw *w);
void jw_arr_close(struct jw *w);
void jw_key(struct jw *w, const char *key);
/* Strings: bytes that are not valid UTF-8, and NUL, are written as U+FFFD. */
void jw_str(struct jw *w, const char *s);
void jw_strn(struct jw *w, const char *s, size_t n);
void jw_int(struct jw *w, int64_t v);
void jw_double(struct jw *w, double v);
void jw_bool(struct jw *w, bool v);
void jw_null(struct jw *w);
/* Base64 (RFC 4648, padded) of @n bytes as a JSON string. */
void jw_b64(struct jw *w, const void *data, size_t n);
/* A parsed value written back; numbers keep their source text. */
void jw_value(struct jw *w, const struct json *v);

/* Convenience: "key": value members. */
void jw_kstr(struct jw *w, const char *key, const char *s);
void jw_kint(struct jw *w, const char *key, int64_t v);
void jw_kbool(struct jw *w, const char *key, bool v);
void jw_kdouble(struct jw *w, const char *key, double v);

/**
 * b64_decode() - decode base64 in place
 * @s: the text; overwritten with the bytes
 * @len: its length
 *
 * Accepts the standard alphabet with or without padding; nothing else.
 *
 * Return: number of bytes, or -EINVAL.
 */
ssize_t b64_decode(char *s, size_t len);

/**
 * utf8_valid_prefix() - length of the longest valid UTF-8 prefix
 * @s: bytes
 * @n: count
 *
 * A sequence cut off at the end is not counted, so a caller streaming
 * text can hold those bytes back until the rest arrives.
 *
 * Return: bytes of @s that form complete valid sequences from the start.
 */
size_t utf8_valid_prefix(const char *s, size_t n);

#endif
