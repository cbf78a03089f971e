/* SPDX-License-Identifier: MIT */
/*
 * fuzz-agent-request.c - arbitrary bytes through the agent's stream
 * framer, JSON parser, envelope checks, argument checks and reply writer
 *
 * Only json.c and proto.c are linked: the command table here holds the
 * side-effect-free commands (guest-sync, guest-sync-delimited,
 * guest-ping) and a "fuzz-args" command that takes one argument of every
 * type and echoes them, so no input can open a file or power anything
 * off.  The input is fed in chunks whose sizes come from the input
 * itself, to exercise objects split across reads, and the request cap is
 * lowered so that the oversize path runs at libFuzzer's input sizes.
 *
 * Oracle, besides the sanitizers: every line the agent emits must be
 * valid JSON to the agent's own parser, an object, ending in '\n'.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int cmd_sync(struct req *r)
{
	static const struct arg_spec spec[] = { { "id", ARG_INT, false } };

	if (req_check_args(r, spec, 1) < 0)
		return -1;
	jw_value(r->w, req_arg(r, "id"));
	return 0;
}

static int cmd_sync_delimited(struct req *r)
{
	if (cmd_sync(r) < 0)
		return -1;
	r->delimited = true;
	return 0;
}

static int cmd_ping(struct req *r)
{
	if (req_check_args(r, NULL, 0) < 0)
		return -1;
	jw_obj_open(r->w);
	jw_obj_close(r->w);
	return 0;
}

static int cmd_args(struct req *r)
{
	static const struct arg_spec spec[] = {
		{ "i", ARG_INT, true },       { "n", ARG_NUM, true },
		{ "s", ARG_STR, true },       { "b", ARG_BOOL, true },
		{ "o", ARG_OBJ, true },       { "a", ARG_ARR, true },
		{ "l", ARG_STRLIST, true },   { "w", ARG_INT_OR_STR, true },
		{ "x", ARG_BOOL_OR_STR, true }, { "any", ARG_ANY, true },
		{ "b64", ARG_STR, true },
	};
	const struct json *b;

	if (req_check_args(r, spec, sizeof(spec) / sizeof(spec[0])) < 0)
		return -1;
	jw_obj_open(r->w);
	for (const struct json *m = r->args->u.kids.first; m; m = m->next) {
		jw_key(r->w, m->key);
		jw_value(r->w, m);
	}
	b = req_arg(r, "b64");
	if (b) {
		ssize_t n = b64_decode(b->u.str.s, b->u.str.len);
		if (n < 0)
			return req_error(r, "GenericError", "base64 data is not valid");
		jw_key(r->w, "decoded");
		jw_b64(r->w, b->u.str.s, (size_t)n);
		jw_key(r->w, "text");
		jw_strn(r->w, b->u.str.s, (size_t)n);
	}
	jw_kint(r->w, "int", req_int(r, "i", -1));
	jw_kstr(r->w, "str", req_str(r, "s", ""));
	jw_kbool(r->w, "bool", req_bool(r, "b", false));
	jw_kdouble(r->w, "num", req_arg(r, "n") ? req_arg(r, "n")->u.num.d : 0.5);
	jw_obj_close(r->w);
	return 0;
}

static const struct command cmds[] = {
	{ "guest-sync-delimited", cmd_sync_delimited, true },
	{ "guest-sync", cmd_sync, true },
	{ "guest-ping", cmd_ping, true },
	{ "guest-shutdown", cmd_ping, false },
	{ "fuzz-args", cmd_args, true },
};

static void check_line(void *opaque, struct jw *w)
{
	struct json_doc doc;
	struct json *root;
	const char *err;
	char *text = w->buf;
	size_t len = w->len;

	(void)opaque;
	if (len && (unsigned char)text[0] == 0xFF) {
		text++;
		len--;
	}
	if (len == 0 || text[len - 1] != '\n')
		abort();
	char *copy = malloc(len);
	if (!copy)
		return;
	memcpy(copy, text, len - 1);
	if (memchr(copy, '\n', len - 1))
		abort();  /* one reply per line */
	if (json_parse(copy, len - 1, &doc, &root, &err) < 0 || root->type != JSON_OBJECT)
		abort();
	json_doc_free(&doc);
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proto p;
	size_t off = 0;
	unsigned step = size ? data[0] : 1;

	proto_init(&p, cmds, sizeof(cmds) / sizeof(cmds[0]), check_line, NULL);
	/* Small enough for libFuzzer's inputs to cross it. */
	p.fr.max = 512;
	while (off < size) {
		size_t n = step % 37 + 1;
		if (n > size - off)
			n = size - off;
		proto_feed(&p, data + off, n);
		off += n;
		step = step * 1103515245u + 12345u;
		step >>= 8;
	}
	proto_reset(&p);
	proto_feed(&p, "{\"execute\":\"guest-ping\"}", 24);
	proto_free(&p);
	return 0;
}
