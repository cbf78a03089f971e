/* SPDX-License-Identifier: MIT */
/*
 * proto.c - framing, envelope, dispatch and replies (see proto.h)
 */
#include "proto.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/*
 * Buffers larger than this are freed after each request instead of kept:
 * one 16 MiB guest-file-write must not pin 16 MiB of RSS for the rest of
 * the agent's life.
 */
#define KEEP_BUFFER (64u << 10)

void proto_init(struct proto *p, const struct command *cmds, size_t ncmds,
		proto_emit_fn emit, void *opaque)
{
	memset(p, 0, sizeof(*p));
	p->cmds = cmds;
	p->ncmds = ncmds;
	p->emit = emit;
	p->opaque = opaque;
	p->fr.max = PROTO_MAX_REQUEST;
	jw_init(&p->out);
}

static void framer_drop(struct framer *f)
{
	f->len = 0;
	f->depth = 0;
	f->in_str = false;
	f->esc = false;
	f->state = FRAMER_IDLE;
	if (f->cap > KEEP_BUFFER) {
		free(f->buf);
		f->buf = NULL;
		f->cap = 0;
	}
}

void proto_free(struct proto *p)
{
	free(p->fr.buf);
	p->fr.buf = NULL;
	p->fr.cap = 0;
	jw_free(&p->out);
	json_doc_free(&p->doc);
}

void proto_reset(struct proto *p)
{
	framer_drop(&p->fr);
	p->session++;
}

int req_error(struct req *r, const char *cls, const char *fmt, ...)
{
	va_list ap;

	if (r->failed)
		return -1;
	r->failed = true;
	snprintf(r->err_class, sizeof(r->err_class), "%s", cls);
	va_start(ap, fmt);
	vsnprintf(r->err_desc, sizeof(r->err_desc), fmt, ap);
	va_end(ap);
	return -1;
}

static void finish_line(struct proto *p, struct jw *w)
{
	jw_raw(w, "\n", 1);
	if (w->oom) {
		/* The reply did not fit in memory: say so in a reply that
		 * needs little.  If even that fails, the host times out. */
		static const char oom[] =
			"{\"error\": {\"class\": \"GenericError\", \"desc\": \"out of memory\"}}\n";
		jw_free(w);
		jw_raw(w, oom, sizeof(oom) - 1);
		if (w->oom) {
			jw_free(w);
			return;
		}
	}
	p->emit(p->opaque, w);
	if (w->cap > KEEP_BUFFER)
		jw_free(w);
	else
		jw_reset(w);
}

static void reply_error(struct proto *p, struct req *r, const struct json *id)
{
	struct jw *w = &p->out;

	jw_reset(w);
	jw_obj_open(w);
	jw_key(w, "error");
	jw_obj_open(w);
	jw_kstr(w, "class", r->err_class);
	jw_kstr(w, "desc", r->err_desc);
	jw_obj_close(w);
	if (id) {
		jw_key(w, "id");
		jw_value(w, id);
	}
	jw_obj_close(w);
	finish_line(p, w);
}

static void stray(struct proto *p, unsigned char c)
{
	struct req r = { .p = p };

	if (c >= 0x20 && c < 0x7F)
		req_error(&r, "GenericError", "JSON parse error, stray '%c'", c);
	else
		req_error(&r, "GenericError", "JSON parse error, stray '\\x%02x'", c);
	reply_error(p, &r, NULL);
}

static const struct command *lookup(const struct proto *p, const char *name)
{
	for (size_t i = 0; i < p->ncmds; i++)
		if (strcmp(p->cmds[i].name, name) == 0)
			return &p->cmds[i];
	return NULL;
}

static void handle_message(struct proto *p, char *text, size_t len)
{
	static const struct json empty = { .type = JSON_OBJECT };
	struct jw *w = &p->out;
	struct req r = { .p = p, .w = w, .args = &empty };
	const struct json *root, *id = NULL, *exec = NULL;
	const struct command *cmd = NULL;
	struct json *parsed;
	const char *err;

	jw_reset(w);
	if (json_parse(text, len, &p->doc, &parsed, &err) < 0) {
		req_error(&r, "GenericError", "%s", err);
		goto out;
	}
	root = parsed;
	if (root->type != JSON_OBJECT) {
		req_error(&r, "GenericError", "Input must be a JSON object");
		goto out;
	}
	id = json_get(root, "id");
	/* The envelope checks of QEMU's qmp_dispatch_check_obj(). */
	for (const struct json *m = root->u.kids.first; m; m = m->next) {
		if (strcmp(m->key, "execute") == 0) {
			if (m->type != JSON_STRING) {
				req_error(&r, "GenericError",
					  "QMP input member 'execute' must be a string");
				goto out;
			}
			exec = m;
		} else if (strcmp(m->key, "arguments") == 0) {
			if (m->type != JSON_OBJECT) {
				req_error(&r, "GenericError",
					  "QMP input member 'arguments' must be an object");
				goto out;
			}
			r.args = m;
		} else if (strcmp(m->key, "id") != 0) {
			req_error(&r, "GenericError", "QMP input member '%s' is unexpected",
				  m->key);
			goto out;
		}
	}
	if (!exec) {
		req_error(&r, "GenericError",
			  "this feature or command is not currently supported");
		goto out;
	}
	cmd = lookup(p, exec->u.str.s);
	if (!cmd) {
		req_error(&r, "CommandNotFound", "The command %s has not been found",
			  exec->u.str.s);
		goto out;
	}
	r.name = cmd->name;
	jw_obj_open(w);
	jw_key(w, "return");
	if (cmd->fn(&r) < 0 && !r.failed)
		req_error(&r, "GenericError", "command %s failed", cmd->name);
	if (r.failed)
		goto out;
	if (!cmd->success_response) {
		jw_reset(w);
		goto done;
	}
	if (id) {
		jw_key(w, "id");
		jw_value(w, id);
	}
	jw_obj_close(w);
	if (r.delimited && !w->oom && jw_reserve(w, 1)) {
		/* guest-sync-delimited: the 0xFF tells the host where our reply
		 * starts in a stream that may hold stale bytes. */
		memmove(w->buf + 1, w->buf, w->len);
		w->buf[0] = (char)0xFF;
		jw_commit(w, 1);
	}
	finish_line(p, w);
	goto done;
out:
	reply_error(p, &r, id);
done:
	json_doc_free(&p->doc);
}

static bool framer_append(struct framer *f, const unsigned char *d, size_t n)
{
	if (f->cap - f->len < n) {
		size_t cap = f->cap ? f->cap : 4096;
		while (cap - f->len < n)
			cap *= 2;
		char *nb = realloc(f->buf, cap);
		if (!nb)
			return false;
		f->buf = nb;
		f->cap = cap;
	}
	memcpy(f->buf + f->len, d, n);
	f->len += n;
	return true;
}

static void too_big(struct proto *p, const char *why)
{
	struct req r = { .p = p };
	struct framer *f = &p->fr;

	free(f->buf);
	f->buf = NULL;
	f->cap = 0;
	f->len = 0;
	f->state = FRAMER_DISCARD;
	req_error(&r, "GenericError", "%s", why);
	reply_error(p, &r, NULL);
}

void proto_feed(struct proto *p, const void *data, size_t n)
{
	const unsigned char *d = data;
	struct framer *f = &p->fr;
	size_t i = 0;

	while (i < n) {
		unsigned char c = d[i];

		if (c == 0xFF) {
			framer_drop(f);
			i++;
			continue;
		}
		switch (f->state) {
		case FRAMER_IDLE:
			if (c == '{' || c == '[') {
				f->state = FRAMER_OBJECT;
				continue;
			}
			i++;
			if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
				f->state = FRAMER_GARBAGE;
				stray(p, c);
			}
			continue;
		case FRAMER_GARBAGE:
			/* QEMU's lexer resynchronises on structural characters
			 * and line ends; do the same. */
			if (c == '{' || c == '[' || c == '\n') {
				f->state = FRAMER_IDLE;
				continue;
			}
			i++;
			continue;
		case FRAMER_OBJECT:
		case FRAMER_DISCARD:
			break;
		}

		size_t start = i;
		bool done = false;
		for (; i < n; i++) {
			c = d[i];
			if (c == 0xFF)
				break;
			if (f->in_str) {
				if (f->esc)
					f->esc = false;
				else if (c == '\\')
					f->esc = true;
				else if (c == '"')
					f->in_str = false;
				continue;
			}
			if (c == '"') {
				f->in_str = true;
			} else if (c == '{' || c == '[') {
				f->depth++;
			} else if (c == '}' || c == ']') {
				if (--f->depth == 0) {
					i++;
					done = true;
					break;
				}
			}
		}
		if (f->state == FRAMER_OBJECT) {
			if (i - start > f->max - f->len)
				too_big(p, "JSON token size limit exceeded");
			else if (!framer_append(f, d + start, i - start))
				too_big(p, "out of memory");
		}
		if (done) {
			if (f->state == FRAMER_OBJECT)
				handle_message(p, f->buf, f->len);
			framer_drop(f);
		}
	}
}

static const char *const type_names[] = {
	[ARG_INT] = "integer",
	[ARG_NUM] = "number",
	[ARG_STR] = "string",
	[ARG_BOOL] = "boolean",
	[ARG_OBJ] = "object",
	[ARG_ARR] = "array",
	[ARG_STRLIST] = "array",
	[ARG_INT_OR_STR] = "integer or string",
	[ARG_BOOL_OR_STR] = "boolean or string",
	[ARG_ANY] = "any",
};
_Static_assert(sizeof(type_names) / sizeof(type_names[0]) == ARG_ANY + 1,
	       "type_names must name every arg_type");

static bool type_ok(const struct json *v, enum arg_type t)
{
	switch (t) {
	case ARG_INT:
		return v->type == JSON_NUMBER && v->is_int;
	case ARG_NUM:
		return v->type == JSON_NUMBER;
	case ARG_STR:
		return v->type == JSON_STRING;
	case ARG_BOOL:
		return v->type == JSON_BOOL;
	case ARG_OBJ:
		return v->type == JSON_OBJECT;
	case ARG_ARR:
	case ARG_STRLIST:
		return v->type == JSON_ARRAY;
	case ARG_INT_OR_STR:
		return v->type == JSON_STRING || (v->type == JSON_NUMBER && v->is_int);
	case ARG_BOOL_OR_STR:
		return v->type == JSON_STRING || v->type == JSON_BOOL;
	case ARG_ANY:
		return true;
	}
	return false;
}

int req_check_args(struct req *r, const struct arg_spec *spec, size_t n)
{
	for (const struct json *m = r->args->u.kids.first; m; m = m->next) {
		size_t i;
		for (i = 0; i < n; i++)
			if (strcmp(spec[i].name, m->key) == 0)
				break;
		if (i == n)
			return req_error(r, "GenericError", "Parameter '%s' is unexpected",
					 m->key);
	}
	for (size_t i = 0; i < n; i++) {
		const struct json *v = json_get(r->args, spec[i].name);
		if (!v) {
			if (spec[i].optional)
				continue;
			return req_error(r, "GenericError", "Parameter '%s' is missing",
					 spec[i].name);
		}
		if (!type_ok(v, spec[i].type))
			return req_error(r, "GenericError",
					 "Invalid parameter type for '%s', expected: %s",
					 spec[i].name, type_names[spec[i].type]);
		if (spec[i].type == ARG_STRLIST) {
			size_t k = 0;
			for (const struct json *e = v->u.kids.first; e; e = e->next, k++)
				if (e->type != JSON_STRING)
					return req_error(r, "GenericError",
							 "Invalid parameter type for '%s[%zu]', expected: string",
							 spec[i].name, k);
		}
	}
	return 0;
}

const struct json *req_arg(const struct req *r, const char *name)
{
	return json_get(r->args, name);
}

int64_t req_int(const struct req *r, const char *name, int64_t def)
{
	const struct json *v = req_arg(r, name);

	return v && v->type == JSON_NUMBER && v->is_int ? v->u.num.i : def;
}

const char *req_str(const struct req *r, const char *name, const char *def)
{
	const struct json *v = req_arg(r, name);

	return v && v->type == JSON_STRING ? v->u.str.s : def;
}

bool req_bool(const struct req *r, const char *name, bool def)
{
	const struct json *v = req_arg(r, name);

	return v && v->type == JSON_BOOL ? v->b : def;
}

void proto_event_begin(struct jw *w, const char *name)
{
	jw_obj_open(w);
	jw_kstr(w, "event", name);
	jw_key(w, "data");
}

void proto_event_end(struct jw *w)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	jw_key(w, "timestamp");
	jw_obj_open(w);
	jw_kint(w, "seconds", ts.tv_sec);
	jw_kint(w, "microseconds", ts.tv_nsec / 1000);
	jw_obj_close(w);
	jw_obj_close(w);
	jw_raw(w, "\n", 1);
}
