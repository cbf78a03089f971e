/* SPDX-License-Identifier: MIT */
/*
 * json.c - bounded in-place JSON parser and reply writer (see json.h)
 */
#include "json.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Heap chunks after the inline nodes: 256 nodes is ~16 KiB per chunk. */
#define CHUNK_NODES 256

struct json_chunk {
	struct json_chunk *next;
	size_t used;
	struct json nodes[CHUNK_NODES];
};

struct parser {
	char *p, *end;
	struct json_doc *doc;
	const char *err;
	int rc;
	unsigned depth;
};

static struct json *node_new(struct parser *ps, enum json_type type)
{
	struct json_doc *doc = ps->doc;
	struct json *n;

	if (doc->nodes >= JSON_MAX_NODES) {
		ps->err = "JSON token count limit exceeded";
		ps->rc = -E2BIG;
		return NULL;
	}
	if (doc->used_inline < JSON_INLINE_NODES) {
		n = &doc->inline_nodes[doc->used_inline++];
	} else {
		if (!doc->chunks || doc->chunks->used == CHUNK_NODES) {
			struct json_chunk *c = malloc(sizeof(*c));
			if (!c) {
				ps->err = "out of memory";
				ps->rc = -ENOMEM;
				return NULL;
			}
			c->used = 0;
			c->next = doc->chunks;
			doc->chunks = c;
		}
		n = &doc->chunks->nodes[doc->chunks->used++];
	}
	doc->nodes++;
	memset(n, 0, sizeof(*n));
	n->type = type;
	return n;
}

static int fail(struct parser *ps, const char *msg)
{
	if (!ps->err) {
		ps->err = msg;
		ps->rc = -EINVAL;
	}
	return ps->rc;
}

static void skip_ws(struct parser *ps)
{
	while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' ||
				   *ps->p == '\n' || *ps->p == '\r'))
		ps->p++;
}

/*
 * Length of the UTF-8 sequence at @s, 0 when invalid, -1 when it is cut
 * off by the end of the buffer.  Follows RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF.
 */
static int utf8_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	int len;
	unsigned char lo = 0x80, hi = 0xBF;

	if (c < 0x80)
		return 1;
	if (c < 0xC2)
		return 0;
	if (c < 0xE0) {
		len = 2;
	} else if (c < 0xF0) {
		len = 3;
		if (c == 0xE0)
			lo = 0xA0;
		else if (c == 0xED)
			hi = 0x9F;
	} else if (c < 0xF5) {
		len = 4;
		if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F;
	} else {
		return 0;
	}
	for (int i = 1; i < len; i++) {
		if ((size_t)i >= n)
			return -1;
		unsigned char b = s[i];
		if (b < (i == 1 ? lo : 0x80) || b > (i == 1 ? hi : 0xBF))
			return 0;
	}
	return len;
}

size_t utf8_valid_prefix(const char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		int l = utf8_len((const unsigned char *)s + i, n - i);
		if (l <= 0)
			break;
		i += (size_t)l;
	}
	return i;
}

static int hex4(const char *p, uint32_t *out)
{
	uint32_t v = 0;

	for (int i = 0; i < 4; i++) {
		char c = p[i];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (uint32_t)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (uint32_t)(c - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

static size_t put_utf8(char *w, uint32_t cp)
{
	if (cp < 0x80) {
		w[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		w[0] = (char)(0xC0 | (cp >> 6));
		w[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		w[0] = (char)(0xE0 | (cp >> 12));
		w[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		w[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	w[0] = (char)(0xF0 | (cp >> 18));
	w[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	w[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	w[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

/*
 * Decode the string at ps->p (just after its opening quote) into the same
 * memory.  The write position never passes the read position: every
 * escape is at least as long as what it decodes to (\uXXXX is 6 bytes for
 * at most 3, a surrogate pair 12 bytes for 4), so the NUL terminator lands
 * at or before the closing quote.
 */
static int parse_string(struct parser *ps, char **out, size_t *out_len)
{
	char *start = ps->p, *w = ps->p;

	for (;;) {
		if (ps->p >= ps->end)
			return fail(ps, "JSON parse error, missing closing quote");
		unsigned char c = (unsigned char)*ps->p;
		if (c == '"') {
			ps->p++;
			break;
		}
		if (c < 0x20)
			return fail(ps, "JSON parse error, control character in string");
		if (c == '\\') {
			if (ps->end - ps->p < 2)
				return fail(ps, "JSON parse error, missing closing quote");
			char e = ps->p[1];
			ps->p += 2;
			switch (e) {
			case '"': *w++ = '"'; break;
			case '\\': *w++ = '\\'; break;
			case '/': *w++ = '/'; break;
			case 'b': *w++ = '\b'; break;
			case 'f': *w++ = '\f'; break;
			case 'n': *w++ = '\n'; break;
			case 'r': *w++ = '\r'; break;
			case 't': *w++ = '\t'; break;
			case 'u': {
				uint32_t cp, lo;
				if (ps->end - ps->p < 4 || hex4(ps->p, &cp) < 0)
					return fail(ps, "JSON parse error, invalid \\u escape");
				ps->p += 4;
				if (cp >= 0xDC00 && cp <= 0xDFFF)
					return fail(ps, "JSON parse error, lone low surrogate in \\u escape");
				if (cp >= 0xD800 && cp <= 0xDBFF) {
					if (ps->end - ps->p < 6 || ps->p[0] != '\\' ||
					    ps->p[1] != 'u' || hex4(ps->p + 2, &lo) < 0 ||
					    lo < 0xDC00 || lo > 0xDFFF)
						return fail(ps, "JSON parse error, lone high surrogate in \\u escape");
					ps->p += 6;
					cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
				}
				if (cp == 0)
					return fail(ps, "JSON parse error, \\u0000 is not supported");
				w += put_utf8(w, cp);
				break;
			}
			default:
				return fail(ps, "JSON parse error, invalid escape sequence in string");
			}
			continue;
		}
		int l = utf8_len((const unsigned char *)ps->p, (size_t)(ps->end - ps->p));
		if (l <= 0)
			return fail(ps, "JSON parse error, invalid UTF-8 sequence in string");
		memmove(w, ps->p, (size_t)l);
		w += l;
		ps->p += l;
	}
	*w = '\0';
	*out = start;
	*out_len = (size_t)(w - start);
	return 0;
}

static int parse_number(struct parser *ps, struct json *n)
{
	char *s = ps->p;
	bool is_int = true;
	char tmp[64];

	if (ps->p < ps->end && *ps->p == '-')
		ps->p++;
	if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9')
		return fail(ps, "JSON parse error, invalid number");
	if (*ps->p == '0') {
		ps->p++;
	} else {
		while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9')
			ps->p++;
	}
	if (ps->p < ps->end && *ps->p == '.') {
		is_int = false;
		ps->p++;
		if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9')
			return fail(ps, "JSON parse error, invalid number");
		while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9')
			ps->p++;
	}
	if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
		is_int = false;
		ps->p++;
		if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-'))
			ps->p++;
		if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9')
			return fail(ps, "JSON parse error, invalid number");
		while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9')
			ps->p++;
	}
	size_t len = (size_t)(ps->p - s);
	n->u.num.raw = s;
	n->u.num.raw_len = len;
	/* strtod/strtoll need a terminator and the text is not ours to
	 * terminate (the next byte may be a separator we still need). */
	if (len >= sizeof(tmp)) {
		/* Absurdly long literal: keep it as text only; as a double it
		 * would be inf or 0 anyway. */
		n->u.num.d = is_int ? (s[0] == '-' ? -HUGE_VAL : HUGE_VAL) : 0;
		n->is_int = false;
		return 0;
	}
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	n->u.num.d = strtod(tmp, NULL);
	if (is_int) {
		errno = 0;
		long long v = strtoll(tmp, NULL, 10);
		if (errno == 0) {
			n->is_int = true;
			n->u.num.i = v;
		}
	}
	return 0;
}

static int parse_value(struct parser *ps, struct json **out);

static int parse_container(struct parser *ps, struct json *n, char close)
{
	struct json **tail = &n->u.kids.first;

	if (++ps->depth > JSON_MAX_DEPTH) {
		ps->err = "JSON nesting depth limit exceeded";
		ps->rc = -ELOOP;
		return ps->rc;
	}
	ps->p++;
	skip_ws(ps);
	if (ps->p < ps->end && *ps->p == close) {
		ps->p++;
		ps->depth--;
		return 0;
	}
	for (;;) {
		char *key = NULL;
		size_t key_len;
		struct json *v;

		skip_ws(ps);
		if (close == '}') {
			if (ps->p >= ps->end || *ps->p != '"')
				return fail(ps, "JSON parse error, key is not a string in object");
			ps->p++;
			if (parse_string(ps, &key, &key_len) < 0)
				return ps->rc;
			skip_ws(ps);
			if (ps->p >= ps->end || *ps->p != ':')
				return fail(ps, "JSON parse error, missing : in object pair");
			ps->p++;
		}
		if (parse_value(ps, &v) < 0)
			return ps->rc;
		v->key = key;
		*tail = v;
		tail = &v->next;
		n->u.kids.count++;
		skip_ws(ps);
		if (ps->p >= ps->end)
			return fail(ps, "JSON parse error, premature end of input");
		if (*ps->p == ',') {
			ps->p++;
			continue;
		}
		if (*ps->p == close) {
			ps->p++;
			ps->depth--;
			return 0;
		}
		return fail(ps, close == '}' ? "JSON parse error, expected separator in dict"
					     : "JSON parse error, expected separator in list");
	}
}

static bool literal(struct parser *ps, const char *word)
{
	size_t l = strlen(word);

	if ((size_t)(ps->end - ps->p) < l || memcmp(ps->p, word, l) != 0)
		return false;
	ps->p += l;
	return true;
}

static int parse_value(struct parser *ps, struct json **out)
{
	struct json *n;

	skip_ws(ps);
	if (ps->p >= ps->end)
		return fail(ps, "JSON parse error, expecting value");
	switch (*ps->p) {
	case '{':
	case '[':
		n = node_new(ps, *ps->p == '{' ? JSON_OBJECT : JSON_ARRAY);
		if (!n)
			return ps->rc;
		if (parse_container(ps, n, *ps->p == '{' ? '}' : ']') < 0)
			return ps->rc;
		break;
	case '"':
		n = node_new(ps, JSON_STRING);
		if (!n)
			return ps->rc;
		ps->p++;
		if (parse_string(ps, &n->u.str.s, &n->u.str.len) < 0)
			return ps->rc;
		break;
	case 't':
	case 'f':
	case 'n':
		n = node_new(ps, JSON_NULL);
		if (!n)
			return ps->rc;
		if (literal(ps, "true")) {
			n->type = JSON_BOOL;
			n->b = true;
		} else if (literal(ps, "false")) {
			n->type = JSON_BOOL;
		} else if (!literal(ps, "null")) {
			return fail(ps, "JSON parse error, invalid keyword");
		}
		break;
	default:
		n = node_new(ps, JSON_NUMBER);
		if (!n)
			return ps->rc;
		if (parse_number(ps, n) < 0)
			return ps->rc;
		break;
	}
	*out = n;
	return 0;
}

int json_parse(char *text, size_t len, struct json_doc *doc, struct json **out,
	       const char **err)
{
	struct parser ps = { .p = text, .end = text + len, .doc = doc };
	struct json *root;

	doc->used_inline = 0;
	doc->chunks = NULL;
	doc->nodes = 0;
	if (parse_value(&ps, &root) == 0) {
		skip_ws(&ps);
		if (ps.p != ps.end)
			fail(&ps, "JSON parse error, trailing characters after value");
	}
	if (ps.err) {
		*err = ps.err;
		return ps.rc;
	}
	*out = root;
	return 0;
}

void json_doc_free(struct json_doc *doc)
{
	while (doc->chunks) {
		struct json_chunk *c = doc->chunks;
		doc->chunks = c->next;
		free(c);
	}
	doc->used_inline = 0;
	doc->nodes = 0;
}

const struct json *json_get(const struct json *obj, const char *key)
{
	const struct json *found = NULL;

	if (!obj || obj->type != JSON_OBJECT)
		return NULL;
	for (const struct json *m = obj->u.kids.first; m; m = m->next)
		if (strcmp(m->key, key) == 0)
			found = m;
	return found;
}

const char *json_type_name(enum json_type type)
{
	static const char *const names[] = {
		[JSON_NULL] = "null",
		[JSON_BOOL] = "boolean",
		[JSON_NUMBER] = "number",
		[JSON_STRING] = "string",
		[JSON_ARRAY] = "array",
		[JSON_OBJECT] = "object",
	};
	_Static_assert((sizeof(names) / sizeof(names[0])) == JSON_OBJECT + 1,
		       "json_type_name() must name every type");
	return names[type];
}

/* ------------------------------------------------------------------ */
/* Writer                                                              */

void jw_init(struct jw *w)
{
	memset(w, 0, sizeof(*w));
}

void jw_free(struct jw *w)
{
	free(w->buf);
	jw_init(w);
}

void jw_reset(struct jw *w)
{
	w->len = 0;
	w->oom = false;
	w->depth = 0;
	w->comma = 0;
	w->after_key = false;
}

void jw_truncate(struct jw *w, size_t len, unsigned depth)
{
	if (len < w->len)
		w->len = len;
	w->depth = depth;
	w->after_key = false;
}

char *jw_reserve(struct jw *w, size_t extra)
{
	if (w->oom)
		return NULL;
	if (w->cap - w->len < extra) {
		size_t cap = w->cap ? w->cap : 256;
		while (cap - w->len < extra) {
			if (cap > SIZE_MAX / 2) {
				w->oom = true;
				return NULL;
			}
			cap *= 2;
		}
		char *nb = realloc(w->buf, cap);
		if (!nb) {
			w->oom = true;
			return NULL;
		}
		w->buf = nb;
		w->cap = cap;
	}
	return w->buf + w->len;
}

void jw_commit(struct jw *w, size_t n)
{
	w->len += n;
}

void jw_raw(struct jw *w, const char *s, size_t n)
{
	char *p = jw_reserve(w, n);

	if (p) {
		memcpy(p, s, n);
		jw_commit(w, n);
	}
}

/* Separator before a value or key at the current depth. */
static void sep(struct jw *w)
{
	if (w->after_key) {
		w->after_key = false;
		return;
	}
	if (w->depth < 64) {
		uint64_t bit = 1ull << w->depth;
		if (w->comma & bit)
			jw_raw(w, ", ", 2);
		w->comma |= bit;
	}
}

static void open_c(struct jw *w, char c)
{
	sep(w);
	jw_raw(w, &c, 1);
	w->depth++;
	if (w->depth < 64)
		w->comma &= ~(1ull << w->depth);
}

static void close_c(struct jw *w, char c)
{
	if (w->depth)
		w->depth--;
	jw_raw(w, &c, 1);
}

void jw_obj_open(struct jw *w) { open_c(w, '{'); }
void jw_obj_close(struct jw *w) { close_c(w, '}'); }
void jw_arr_open(struct jw *w) { open_c(w, '['); }
void jw_arr_close(struct jw *w) { close_c(w, ']'); }

static void str_body(struct jw *w, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	/* Worst case 6 output bytes per input byte (\u00XX), plus quotes. */
	char *p = jw_reserve(w, n * 6 + 2);
	char *o = p;

	if (!p)
		return;
	*o++ = '"';
	for (size_t i = 0; i < n;) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x80) {
			int l = utf8_len((const unsigned char *)s + i, n - i);
			if (l <= 0) {
				/* U+FFFD: 3 bytes, fits in the 6 reserved */
				*o++ = (char)0xEF;
				*o++ = (char)0xBF;
				*o++ = (char)0xBD;
				i++;
			} else {
				memcpy(o, s + i, (size_t)l);
				o += l;
				i += (size_t)l;
			}
			continue;
		}
		i++;
		if (c == 0) {
			/* Valid JSON, but hosts built on C strings (json-glib)
			 * truncate at it, and our own parser refuses it. */
			*o++ = (char)0xEF;
			*o++ = (char)0xBF;
			*o++ = (char)0xBD;
			continue;
		}
		switch (c) {
		case '"': *o++ = '\\'; *o++ = '"'; break;
		case '\\': *o++ = '\\'; *o++ = '\\'; break;
		case '\n': *o++ = '\\'; *o++ = 'n'; break;
		case '\r': *o++ = '\\'; *o++ = 'r'; break;
		case '\t': *o++ = '\\'; *o++ = 't'; break;
		case '\b': *o++ = '\\'; *o++ = 'b'; break;
		case '\f': *o++ = '\\'; *o++ = 'f'; break;
		default:
			if (c < 0x20 || c == 0x7F) {
				*o++ = '\\';
				*o++ = 'u';
				*o++ = '0';
				*o++ = '0';
				*o++ = hex[c >> 4];
				*o++ = hex[c & 15];
			} else {
				*o++ = (char)c;
			}
		}
	}
	*o++ = '"';
	jw_commit(w, (size_t)(o - p));
}

void jw_key(struct jw *w, const char *key)
{
	sep(w);
	str_body(w, key, strlen(key));
	jw_raw(w, ": ", 2);
	w->after_key = true;
}

void jw_strn(struct jw *w, const char *s, size_t n)
{
	sep(w);
	str_body(w, s, n);
}

void jw_str(struct jw *w, const char *s)
{
	jw_strn(w, s, strlen(s));
}

void jw_int(struct jw *w, int64_t v)
{
	char tmp[24];
	int n = snprintf(tmp, sizeof(tmp), "%" PRId64, v);

	sep(w);
	jw_raw(w, tmp, (size_t)n);
}

void jw_double(struct jw *w, double v)
{
	char tmp[40];
	int n;

	sep(w);
	if (!isfinite(v)) {
		/* JSON has no inf or nan; QEMU writes them as-is, which no
		 * parser reads back.  null is at least valid JSON. */
		jw_raw(w, "null", 4);
		return;
	}
	/* Shortest of %.15g/%.17g that reads back exactly: 0.1, not
	 * 0.10000000000000001. */
	n = snprintf(tmp, sizeof(tmp), "%.15g", v);
	if (strtod(tmp, NULL) != v)
		n = snprintf(tmp, sizeof(tmp), "%.17g", v);
	/* Keep it a JSON number that reads back as a float. */
	if (!strpbrk(tmp, ".eE") && n + 2 < (int)sizeof(tmp)) {
		tmp[n++] = '.';
		tmp[n++] = '0';
	}
	jw_raw(w, tmp, (size_t)n);
}

void jw_bool(struct jw *w, bool v)
{
	sep(w);
	jw_raw(w, v ? "true" : "false", v ? 4 : 5);
}

void jw_null(struct jw *w)
{
	sep(w);
	jw_raw(w, "null", 4);
}

void jw_b64(struct jw *w, const void *data, size_t n)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *in = data;
	size_t out_len = (n + 2) / 3 * 4;
	char *p, *o;

	sep(w);
	p = jw_reserve(w, out_len + 2);
	if (!p)
		return;
	o = p;
	*o++ = '"';
	size_t i = 0;
	for (; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		*o++ = tab[v >> 18];
		*o++ = tab[(v >> 12) & 63];
		*o++ = tab[(v >> 6) & 63];
		*o++ = tab[v & 63];
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)in[i] << 16;
		*o++ = tab[v >> 18];
		*o++ = tab[(v >> 12) & 63];
		*o++ = '=';
		*o++ = '=';
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		*o++ = tab[v >> 18];
		*o++ = tab[(v >> 12) & 63];
		*o++ = tab[(v >> 6) & 63];
		*o++ = '=';
	}
	*o++ = '"';
	jw_commit(w, (size_t)(o - p));
}

void jw_value(struct jw *w, const struct json *v)
{
	switch (v->type) {
	case JSON_NULL:
		jw_null(w);
		break;
	case JSON_BOOL:
		jw_bool(w, v->b);
		break;
	case JSON_NUMBER:
		sep(w);
		jw_raw(w, v->u.num.raw, v->u.num.raw_len);
		break;
	case JSON_STRING:
		jw_strn(w, v->u.str.s, v->u.str.len);
		break;
	case JSON_ARRAY:
	case JSON_OBJECT:
		if (v->type == JSON_ARRAY)
			jw_arr_open(w);
		else
			jw_obj_open(w);
		for (const struct json *m = v->u.kids.first; m; m = m->next) {
			if (v->type == JSON_OBJECT)
				jw_key(w, m->key);
			jw_value(w, m);
		}
		if (v->type == JSON_ARRAY)
			jw_arr_close(w);
		else
			jw_obj_close(w);
		break;
	}
}

void jw_kstr(struct jw *w, const char *key, const char *s)
{
	jw_key(w, key);
	jw_str(w, s);
}

void jw_kint(struct jw *w, const char *key, int64_t v)
{
	jw_key(w, key);
	jw_int(w, v);
}

void jw_kbool(struct jw *w, const char *key, bool v)
{
	jw_key(w, key);
	jw_bool(w, v);
}

void jw_kdouble(struct jw *w, const char *key, double v)
{
	jw_key(w, key);
	jw_double(w, v);
}

static int b64_val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

ssize_t b64_decode(char *s, size_t len)
{
	size_t o = 0, i = 0;
	uint32_t acc = 0;
	int bits = 0;

	/* Padding only at the very end, and only to a multiple of 4. */
	size_t pad = 0;
	while (len > 0 && s[len - 1] == '=' && pad < 2) {
		len--;
		pad++;
	}
	if (pad && (len + pad) % 4)
		return -EINVAL;
	if (len % 4 == 1)
		return -EINVAL;
	for (; i < len; i++) {
		int v = b64_val((unsigned char)s[i]);
		if (v < 0)
			return -EINVAL;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			s[o++] = (char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	return (ssize_t)o;
}
