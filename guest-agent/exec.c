/* SPDX-License-Identifier: MIT */
/*
 * exec.c - guest-exec (qemu-ga) and grain-exec-* (streamed)
 *
 * Theory of operation
 *
 * Every command runs in its own session with pipes for the streams the
 * host asked for; the agent's ends are non-blocking and polled by the
 * main loop, so a child that prints nothing and never exits costs one
 * idle entry and blocks nobody.
 *
 * guest-exec keeps qemu-ga's semantics: output is captured in memory, at
 * most EXEC_CAPTURE_MAX bytes per stream (the rest is read and dropped,
 * and "out-truncated" says so), and guest-exec-status reports "exited"
 * once the process has exited and both pipes reached end of file; the
 * entry is dropped by that report.
 *
 * grain-exec-start with "tty" runs the command on a new pseudo-terminal
 * instead of pipes (as its controlling terminal, in its own session): the
 * master is the one output stream ("stdout") and takes the input, and the
 * terminal's line discipline turns ^C and ^Z typed on the host into
 * SIGINT and SIGTSTP for the foreground job, as over ssh.
 *
 * grain-exec-start streams instead: each read from a pipe becomes one
 * grain-output event for the connection that started the command, and a
 * grain-exit event follows the last of them.  Nothing is buffered beyond
 * the channel's queue: while that queue is above CHANNEL_BACKLOG_MAX the
 * pipes are not polled, the pipe buffers fill and the child blocks in
 * write(), so a 20 MiB output flows at the host's pace in constant
 * memory.  If that connection goes away, the process group gets SIGHUP,
 * like a terminal hangup, its output is read and dropped, and the entry
 * goes when the process has exited.
 *
 * Entries are reaped through spawn.c's child table; an entry stays in
 * execs[] (at most EXEC_MAX) until both its pipes are closed and its exit
 * was reported.
 */
#include "exec.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "agent.h"
#include "channel.h"
#include "loop.h"
#include "spawn.h"
#include "util.h"

struct exec;

struct exec_pipe {
	struct exec *owner;
	const char *name;       /* "stdout" / "stderr" */
	int fd;                 /* -1 once closed */
	struct watch w;
	char *buf;              /* guest-exec capture */
	size_t len, cap;
	bool truncated;
	uint64_t bytes;
};

struct exec {
	bool used;
	bool streamed;          /* grain-exec-start */
	bool forward;           /* send grain-output events */
	bool hung_up;           /* the streaming connection went away */
	int64_t handle;         /* grain-exec handle; guest-exec uses pid */
	uint64_t order;         /* creation order, for pid lookups */
	uint64_t session;
	uint64_t seq;
	pid_t pid;
	struct child child;
	bool exited;
	int status;
	struct exec_pipe out, err;
	int in_fd;
	struct watch in_w;
	char *in_buf;
	size_t in_off, in_len, in_cap;
	bool in_eof;            /* close stdin once the queue drains */
	bool tty;               /* out.fd and in_fd are a pseudo-terminal's master */
};

static struct exec execs[EXEC_MAX];
static uint64_t next_order;
static int64_t next_handle = 1;
static char rbuf[EXEC_CHUNK];
static struct jw ev;

int64_t agent_next_handle(void)
{
	return next_handle++;
}

bool event_output(uint64_t session, int64_t handle, const char *stream, uint64_t seq,
		  int64_t offset, const void *data, size_t len)
{
	bool ok;

	if (!channel_session_alive(session))
		return false;
	jw_reset(&ev);
	proto_event_begin(&ev, "grain-output");
	jw_obj_open(&ev);
	jw_kint(&ev, "handle", handle);
	jw_kstr(&ev, "stream", stream);
	jw_kint(&ev, "seq", (int64_t)seq);
	if (offset >= 0)
		jw_kint(&ev, "offset", offset);
	jw_key(&ev, "data-b64");
	jw_b64(&ev, data, len);
	jw_obj_close(&ev);
	proto_event_end(&ev);
	ok = !ev.oom && channel_send(session, &ev);
	/* Streaming reuses one ~90 KiB buffer (unless the channel took it);
	 * do not keep it once streaming is over. */
	if (ev.cap > (128u << 10))
		jw_free(&ev);
	return ok;
}

void jw_wait_status(struct jw *w, int status, const char *exit_key)
{
	if (WIFEXITED(status))
		jw_kint(w, exit_key, WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		jw_kint(w, "signal", WTERMSIG(status));
}

static void pipe_close(struct exec_pipe *p)
{
	if (p->fd < 0)
		return;
	loop_del(&p->w);
	close(p->fd);
	p->fd = -1;
}

static void in_close(struct exec *e)
{
	if (e->in_fd >= 0) {
		loop_del(&e->in_w);
		close(e->in_fd);
		e->in_fd = -1;
	}
	free(e->in_buf);
	e->in_buf = NULL;
	e->in_off = e->in_len = e->in_cap = 0;
}

static void exec_free(struct exec *e)
{
	pipe_close(&e->out);
	pipe_close(&e->err);
	in_close(e);
	child_unwatch(&e->child);
	free(e->out.buf);
	free(e->err.buf);
	memset(e, 0, sizeof(*e));
}

static bool finished(const struct exec *e)
{
	return e->exited && e->out.fd < 0 && e->err.fd < 0;
}

static void send_exit(struct exec *e)
{
	if (!channel_session_alive(e->session) || e->hung_up)
		return;
	jw_reset(&ev);
	proto_event_begin(&ev, "grain-exit");
	jw_obj_open(&ev);
	jw_kint(&ev, "handle", e->handle);
	jw_kint(&ev, "pid", e->pid);
	jw_wait_status(&ev, e->status, "exitcode");
	jw_kint(&ev, "out-bytes", (int64_t)e->out.bytes);
	jw_kint(&ev, "err-bytes", (int64_t)e->err.bytes);
	jw_obj_close(&ev);
	proto_event_end(&ev);
	if (!ev.oom)
		channel_send(e->session, &ev);
	jw_reset(&ev);
}

static void check_done(struct exec *e)
{
	if (!finished(e))
		return;
	/* The process is gone: nobody will read what is still queued. */
	in_close(e);
	if (e->streamed) {
		send_exit(e);
		exec_free(e);
	}
}

static void capture(struct exec_pipe *p, const char *data, size_t n)
{
	size_t room = EXEC_CAPTURE_MAX - p->len;

	if (n > room) {
		p->truncated = true;
		n = room;
	}
	if (!n)
		return;
	if (p->cap - p->len < n) {
		size_t cap = p->cap ? p->cap : 4096;
		while (cap - p->len < n)
			cap *= 2;
		if (cap > EXEC_CAPTURE_MAX)
			cap = EXEC_CAPTURE_MAX;
		char *nb = realloc(p->buf, cap);
		if (!nb) {
			p->truncated = true;
			return;
		}
		p->buf = nb;
		p->cap = cap;
	}
	memcpy(p->buf + p->len, data, n);
	p->len += n;
}

static void on_output(struct watch *w, short revents)
{
	struct exec_pipe *p = container_of(w, struct exec_pipe, w);
	struct exec *e = p->owner;
	ssize_t n;

	(void)revents;
	n = read(p->fd, rbuf, sizeof(rbuf));
	if (n > 0) {
		p->bytes += (uint64_t)n;
		if (!e->streamed)
			capture(p, rbuf, (size_t)n);
		else if (e->forward && !e->hung_up)
			event_output(e->session, e->handle, p->name, e->seq++, -1, rbuf,
				     (size_t)n);
		return;
	}
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	pipe_close(p);
	check_done(e);
}

static void in_flush(struct exec *e)
{
	while (e->in_off < e->in_len) {
		ssize_t n = write(e->in_fd, e->in_buf + e->in_off, e->in_len - e->in_off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n < 0) {
			/* EPIPE: the child closed its stdin. */
			in_close(e);
			return;
		}
		e->in_off += (size_t)n;
	}
	if (e->in_off == e->in_len) {
		e->in_off = e->in_len = 0;
		if (e->in_cap > (64u << 10)) {
			free(e->in_buf);
			e->in_buf = NULL;
			e->in_cap = 0;
		}
		if (e->in_eof) {
			in_close(e);
			return;
		}
		e->in_w.events = 0;
	} else {
		e->in_w.events = POLLOUT;
	}
}

static void on_input(struct watch *w, short revents)
{
	(void)revents;
	in_flush(container_of(w, struct exec, in_w));
}

static int in_queue(struct exec *e, const char *data, size_t n, size_t max)
{
	if (e->in_len - e->in_off + n > max)
		return -ENOBUFS;
	if (e->in_off && e->in_cap - e->in_len < n) {
		memmove(e->in_buf, e->in_buf + e->in_off, e->in_len - e->in_off);
		e->in_len -= e->in_off;
		e->in_off = 0;
	}
	if (e->in_cap - e->in_len < n) {
		size_t cap = e->in_cap ? e->in_cap : 4096;
		while (cap - e->in_len < n)
			cap *= 2;
		char *nb = realloc(e->in_buf, cap);
		if (!nb)
			return -ENOMEM;
		e->in_buf = nb;
		e->in_cap = cap;
	}
	memcpy(e->in_buf + e->in_len, data, n);
	e->in_len += n;
	return 0;
}

static void on_exit_status(struct child *c, int status)
{
	struct exec *e = container_of(c, struct exec, child);

	e->exited = true;
	e->status = status;
	check_done(e);
}

/* Back-pressure and hangup, before every poll. */
static void prepare(void)
{
	bool full = channel_backlog() >= CHANNEL_BACKLOG_MAX;

	for (int i = 0; i < EXEC_MAX; i++) {
		struct exec *e = &execs[i];
		if (!e->used || !e->streamed)
			continue;
		if (!e->hung_up && !channel_session_alive(e->session)) {
			e->hung_up = true;
			if (!e->exited)
				kill(-e->pid, SIGHUP);
			in_close(e);
		}
		short events = e->forward && !e->hung_up && full ? 0 : POLLIN;
		e->out.w.events = events;
		e->err.w.events = events;
	}
}

int exec_init(void)
{
	return loop_add_prepare(prepare);
}

static struct exec *slot_new(void)
{
	for (int i = 0; i < EXEC_MAX; i++)
		if (!execs[i].used)
			return &execs[i];
	return NULL;
}

/* Pipe whose @child_end is blocking for the child and whose other end
 * is non-blocking for us.  @read_side: we read (stdout/stderr). */
static int make_pipe(int *ours, int *child_end, bool read_side)
{
	int p[2];

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	*ours = read_side ? p[0] : p[1];
	*child_end = read_side ? p[1] : p[0];
	fcntl(*ours, F_SETFL, O_NONBLOCK);
	return 0;
}

struct exec_opts {
	const char *path;
	const struct json *arg, *env;
	const char *cwd;
	bool capture_out, capture_err, merged, input;
	bool tty;               /* run on a new pseudo-terminal */
	struct winsize size;
	const char *term;       /* TERM for the command, or NULL */
};

static char **strv_from(const char *first, const struct json *list)
{
	size_t n = (first ? 1 : 0) + (list ? list->u.kids.count : 0), i = 0;
	char **v = calloc(n + 1, sizeof(*v));

	if (!v)
		return NULL;
	if (first)
		v[i++] = (char *)first;
	for (const struct json *e = list ? list->u.kids.first : NULL; e; e = e->next)
		v[i++] = e->u.str.s;
	return v;
}

/*
 * The environment of a command that asked for TERM: @env (or the agent's
 * own) with TERM replaced.  Entries point into @env or environ, except
 * the new TERM=, which is returned in @term_kv for the caller to free.
 */
static char **env_with_term(char **env, const char *term, char **term_kv)
{
	extern char **environ;
	char **base = env ? env : environ;
	size_t n = 0, j = 0;

	while (base[n])
		n++;
	char **v = calloc(n + 2, sizeof(*v));
	*term_kv = malloc(strlen(term) + 6);
	if (!v || !*term_kv) {
		free(v);
		free(*term_kv);
		*term_kv = NULL;
		return NULL;
	}
	strcpy(*term_kv, "TERM=");
	strcat(*term_kv, term);
	for (size_t i = 0; i < n; i++)
		if (strncmp(base[i], "TERM=", 5) != 0)
			v[j++] = base[i];
	v[j++] = *term_kv;
	return v;
}

/*
 * A pseudo-terminal for @e: the master, non-blocking, is both the output
 * we read and the input we write (two descriptors, so that closing stdin
 * at eof leaves the output open); the slave, returned in @slave, becomes
 * the command's stdin, stdout, stderr and controlling terminal.
 */
static int open_tty(struct exec *e, const struct winsize *size, int *slave)
{
	char name[64];
	int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);

	if (m < 0)
		return -errno;
	if (grantpt(m) < 0 || unlockpt(m) < 0 || ptsname_r(m, name, sizeof(name)) != 0)
		goto fail;
	*slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (*slave < 0)
		goto fail;
	ioctl(m, TIOCSWINSZ, size);
	e->in_fd = fcntl(m, F_DUPFD_CLOEXEC, 3);
	if (e->in_fd < 0) {
		int err = errno;
		close(*slave);
		*slave = -1;
		close(m);
		return -err;
	}
	fcntl(m, F_SETFL, O_NONBLOCK); /* shared with in_fd: one open file */
	e->out.fd = m;
	e->tty = true;
	return 0;
fail:;
	int err = errno;
	close(m);
	return -err;
}

/* Start the process of @e; on failure the request is failed. */
static int exec_spawn(struct req *r, struct exec *e, const struct exec_opts *o)
{
	int out_child = -1, err_child = -1, in_child = -1, rc = 0;
	struct spawn_req s = { .path = o->path, .cwd = o->cwd, .fd_in = -1, .fd_out = -1,
			       .fd_err = -1 };
	enum spawn_step step;
	char **argv = strv_from(o->path, o->arg);
	char **envp = o->env ? strv_from(NULL, o->env) : NULL;
	char *term_kv = NULL;

	memset(e, 0, sizeof(*e));
	e->out.fd = e->err.fd = e->in_fd = -1;
	e->out.owner = e->err.owner = e;
	e->out.name = "stdout";
	e->err.name = "stderr";
	if (!argv || (o->env && !envp)) {
		rc = req_error(r, "GenericError", "out of memory");
		goto out;
	}
	if (o->term) {
		char **with = env_with_term(envp, o->term, &term_kv);
		if (!with) {
			rc = req_error(r, "GenericError", "out of memory");
			goto out;
		}
		free(envp);
		envp = with;
	}
	if (o->tty) {
		int err = open_tty(e, &o->size, &out_child);
		if (err < 0) {
			rc = req_error(r, "GenericError", "cannot open a pseudo-terminal: %s",
				       strerror(-err));
			goto fail;
		}
		s.fd_in = s.fd_out = s.fd_err = out_child;
		s.ctty = true;
	} else if ((o->capture_out && make_pipe(&e->out.fd, &out_child, true) < 0) ||
	    (o->capture_err && !o->merged && make_pipe(&e->err.fd, &err_child, true) < 0) ||
	    (o->input && make_pipe(&e->in_fd, &in_child, false) < 0)) {
		rc = req_error(r, "GenericError", "pipe: %s", strerror(errno));
		goto fail;
	} else {
		s.fd_out = out_child;
		s.fd_err = o->merged ? out_child : err_child;
		s.fd_in = in_child;
	}
	s.argv = argv;
	s.envp = envp;
	e->pid = spawn_child(&s, &step);
	if (e->pid < 0) {
		int err = (int)-e->pid;
		if (step == SPAWN_STEP_CHDIR)
			rc = req_error(r, "GenericError", "Failed to change to directory '%s' (%s)",
				       o->cwd, strerror(err));
		else
			rc = req_error(r, "GenericError",
				       "Failed to execute child process \"%s\" (%s)", o->path,
				       strerror(err));
		goto fail;
	}
	e->used = true;
	e->order = next_order++;
	e->child.pid = e->pid;
	e->child.exited = on_exit_status;
	child_watch(&e->child);
	if (e->out.fd >= 0) {
		watch_init(&e->out.w, e->out.fd, POLLIN, on_output);
		loop_add(&e->out.w);
	}
	if (e->err.fd >= 0) {
		watch_init(&e->err.w, e->err.fd, POLLIN, on_output);
		loop_add(&e->err.w);
	}
	if (e->in_fd >= 0) {
		watch_init(&e->in_w, e->in_fd, 0, on_input);
		loop_add(&e->in_w);
	}
	goto out;
fail:
	if (e->out.fd >= 0)
		close(e->out.fd);
	if (e->err.fd >= 0)
		close(e->err.fd);
	if (e->in_fd >= 0)
		close(e->in_fd);
	memset(e, 0, sizeof(*e));
out:
	if (out_child >= 0)
		close(out_child);
	if (err_child >= 0)
		close(err_child);
	if (in_child >= 0)
		close(in_child);
	free(argv);
	free(envp);
	free(term_kv);
	return rc;
}

int cmd_guest_exec(struct req *r)
{
	static const struct arg_spec spec[] = {
		{ "path", ARG_STR, false },
		{ "arg", ARG_STRLIST, true },
		{ "env", ARG_STRLIST, true },
		{ "input-data", ARG_STR, true },
		{ "capture-output", ARG_BOOL_OR_STR, true },
	};
	struct exec_opts o = { 0 };
	const struct json *cap, *input;
	struct exec *e;

	if (req_check_args(r, spec, ARRAY_SIZE(spec)) < 0)
		return -1;
	o.path = req_str(r, "path", NULL);
	o.arg = req_arg(r, "arg");
	o.env = req_arg(r, "env");
	cap = req_arg(r, "capture-output");
	/* bool (qemu-ga 7.2) or GuestExecCaptureOutputMode (qemu-ga 8.1) */
	if (cap && cap->type == JSON_BOOL) {
		o.capture_out = o.capture_err = cap->b;
	} else if (cap) {
		const char *m = cap->u.str.s;
		o.capture_out = !strcmp(m, "stdout") || !strcmp(m, "separated") || !strcmp(m, "merged");
		o.capture_err = !strcmp(m, "stderr") || !strcmp(m, "separated") || !strcmp(m, "merged");
		o.merged = !strcmp(m, "merged");
		if (strcmp(m, "none") && !o.capture_out && !o.capture_err)
			return req_error(r, "GenericError",
					 "Parameter 'capture-output' does not accept value '%s'", m);
	}
	input = req_arg(r, "input-data");
	ssize_t in_len = 0;
	if (input) {
		in_len = b64_decode(input->u.str.s, input->u.str.len);
		if (in_len < 0)
			return req_error(r, "GenericError", "base64 data is not valid");
		o.input = true;
	}
	e = slot_new();
	if (!e)
		return req_error(r, "GenericError",
				 "too many processes (at most %d running or not yet reported)",
				 EXEC_MAX);
	if (exec_spawn(r, e, &o) < 0)
		return -1;
	e->handle = e->pid;
	if (input) {
		e->in_eof = true;
		/* Bounded by the request size (PROTO_MAX_REQUEST) already. */
		if (in_queue(e, input->u.str.s, (size_t)in_len, SIZE_MAX) < 0)
			in_close(e);
		else
			in_flush(e);
	}
	jw_obj_open(r->w);
	jw_kint(r->w, "pid", e->pid);
	jw_obj_close(r->w);
	return 0;
}

static void write_b64_member(struct jw *w, const char *key, const struct exec_pipe *p)
{
	jw_key(w, key);
	jw_b64(w, p->buf, p->len);
}

int cmd_guest_exec_status(struct req *r)
{
	static const struct arg_spec spec[] = {
		{ "pid", ARG_INT, false },
	};
	struct exec *e = NULL;
	int64_t pid;

	if (req_check_args(r, spec, ARRAY_SIZE(spec)) < 0)
		return -1;
	pid = req_int(r, "pid", 0);
	/* The oldest entry with that pid: a later one can only have got the
	 * recycled pid after the earlier process was reaped. */
	for (int i = 0; i < EXEC_MAX; i++)
		if (execs[i].used && !execs[i].streamed && execs[i].pid == pid &&
		    (!e || execs[i].order < e->order))
			e = &execs[i];
	if (!e)
		return req_error(r, "GenericError", "Invalid parameter 'pid'");
	jw_obj_open(r->w);
	jw_kbool(r->w, "exited", finished(e));
	if (finished(e)) {
		jw_wait_status(r->w, e->status, "exitcode");
		if (e->out.len) {
			write_b64_member(r->w, "out-data", &e->out);
			if (e->out.truncated)
				jw_kbool(r->w, "out-truncated", true);
		}
		if (e->err.len) {
			write_b64_member(r->w, "err-data", &e->err);
			if (e->err.truncated)
				jw_kbool(r->w, "err-truncated", true);
		}
		exec_free(e);
	}
	jw_obj_close(r->w);
	return 0;
}

/* rows and cols of a terminal: 1 to 65535 each, 24x80 when not given. */
static bool tty_size(struct req *r, struct winsize *ws)
{
	int64_t rows = req_int(r, "rows", 24), cols = req_int(r, "cols", 80);

	if (rows < 1 || rows > 65535 || cols < 1 || cols > 65535) {
		req_error(r, "GenericError", "Invalid parameter '%s'",
			  rows < 1 || rows > 65535 ? "rows" : "cols");
		return false;
	}
	memset(ws, 0, sizeof(*ws));
	ws->ws_row = (unsigned short)rows;
	ws->ws_col = (unsigned short)cols;
	return true;
}

/* A terminal type is a short name such as xterm-256color, nothing else. */
static bool term_valid(const char *t)
{
	size_t n = strlen(t);

	if (n == 0 || n > 64)
		return false;
	for (; *t; t++)
		if (!((*t >= 'a' && *t <= 'z') || (*t >= 'A' && *t <= 'Z') ||
		      (*t >= '0' && *t <= '9') || *t == '-' || *t == '_' || *t == '.' || *t == '+'))
			return false;
	return true;
}

int cmd_grain_exec_start(struct req *r)
{
	static const struct arg_spec spec[] = {
		{ "path", ARG_STR, false },
		{ "arg", ARG_STRLIST, true },
		{ "env", ARG_STRLIST, true },
		{ "cwd", ARG_STR, true },
		{ "stream", ARG_BOOL, true },
		{ "input", ARG_BOOL, true },
		{ "tty", ARG_BOOL, true },
		{ "rows", ARG_INT, true },
		{ "cols", ARG_INT, true },
		{ "term", ARG_STR, true },
	};
	struct exec_opts o = { .capture_out = true, .capture_err = true };
	struct exec *e;

	if (req_check_args(r, spec, ARRAY_SIZE(spec)) < 0)
		return -1;
	o.path = req_str(r, "path", NULL);
	o.arg = req_arg(r, "arg");
	o.env = req_arg(r, "env");
	o.cwd = req_str(r, "cwd", NULL);
	o.input = req_bool(r, "input", false);
	o.tty = req_bool(r, "tty", false);
	if (o.tty && !tty_size(r, &o.size))
		return -1;
	o.term = req_str(r, "term", NULL);
	if (o.term && !term_valid(o.term))
		return req_error(r, "GenericError", "Invalid parameter 'term'");
	e = slot_new();
	if (!e)
		return req_error(r, "GenericError",
				 "too many processes (at most %d running or not yet reported)",
				 EXEC_MAX);
	if (exec_spawn(r, e, &o) < 0)
		return -1;
	e->streamed = true;
	e->forward = req_bool(r, "stream", true);
	e->session = r->p->session;
	e->handle = agent_next_handle();
	jw_obj_open(r->w);
	jw_kint(r->w, "handle", e->handle);
	jw_kint(r->w, "pid", e->pid);
	jw_obj_close(r->w);
	return 0;
}

static struct exec *find_streamed(struct req *r)
{
	int64_t h = req_int(r, "handle", 0);

	for (int i = 0; i < EXEC_MAX; i++)
		if (execs[i].used && execs[i].streamed && execs[i].handle == h)
			return &execs[i];
	req_error(r, "GenericError", "handle '%" PRId64 "' has not been found", h);
	return NULL;
}

int cmd_grain_exec_input(struct req *r)
{
	static const struct arg_spec spec[] = {
		{ "handle", ARG_INT, false },
		{ "data-b64", ARG_STR, true },
		{ "eof", ARG_BOOL, true },
	};
	const struct json *d;
	struct exec *e;
	ssize_t n = 0;

	if (req_check_args(r, spec, ARRAY_SIZE(spec)) < 0)
		return -1;
	e = find_streamed(r);
	if (!e)
		return -1;
	if (e->in_fd < 0)
		return req_error(r, "GenericError",
				 "stdin of handle '%" PRId64 "' is not open (start with \"input\": true; "
				 "closed after eof or when the process exits)", e->handle);
	d = req_arg(r, "data-b64");
	if (d) {
		n = b64_decode(d->u.str.s, d->u.str.len);
		if (n < 0)
			return req_error(r, "GenericError", "base64 data is not valid");
		int rc = in_queue(e, d->u.str.s, (size_t)n, EXEC_INPUT_MAX);
		if (rc == -ENOBUFS)
			return req_error(r, "GenericError",
					 "stdin of handle '%" PRId64 "' has %u bytes queued already; "
					 "retry later", e->handle, EXEC_INPUT_MAX);
		if (rc < 0)
			return req_error(r, "GenericError", "out of memory");
	}
	if (req_bool(r, "eof", false))
		e->in_eof = true;
	in_flush(e);
	size_t pending = e->in_fd >= 0 ? e->in_len - e->in_off : 0;
	jw_obj_open(r->w);
	jw_kint(r->w, "pending", (int64_t)pending);
	jw_obj_close(r->w);
	return 0;
}

int cmd_grain_exec_signal(struct req *r)
{
	static const struct arg_spec spec[] = {
		{ "handle", ARG_INT, false },
		{ "signal", ARG_INT, false },
	};
	struct exec *e;
	int64_t sig;

	if (req_check_args(r, spec, ARRAY_SIZE(spec)) < 0)
		return -1;
	e = find_streamed(r);
	if (!e)
		return -1;
	sig = req_int(r, "signal", 0);
	if (sig < 1 || sig > 64)
		return req_error(r, "GenericError", "Invalid parameter 'signal'");
	if (e->exited)
		return req_error(r, "GenericError", "process %d has exited", e->pid);
	/* The whole group: a shell's children get it too, as with ^C. */
	if (kill(-e->pid, (int)sig) < 0 && kill(e->pid, (int)sig) < 0)
		return req_error(r, "GenericError", "kill: %s", strerror(errno));
	jw_obj_open(r->w);
	jw_obj_close(r->w);
	return 0;
}

int cmd_grain_exec_resize(struct req *r)
{
	static const struct arg_spec spec[] = {
		{ "handle", ARG_INT, false },
		{ "rows", ARG_INT, false },
		{ "cols", ARG_INT, false },
	};
	struct winsize ws;
	struct exec *e;

	if (req_check_args(r, spec, ARRAY_SIZE(spec)) < 0)
		return -1;
	e = find_streamed(r);
	if (!e)
		return -1;
	if (!tty_size(r, &ws))
		return -1;
	if (!e->tty)
		return req_error(r, "GenericError", "handle '%" PRId64 "' has no terminal", e->handle);
	if (e->out.fd < 0)
		return req_error(r, "GenericError", "the terminal of handle '%" PRId64 "' is closed",
				 e->handle);
	/* The kernel sends SIGWINCH to the terminal's foreground group. */
	if (ioctl(e->out.fd, TIOCSWINSZ, &ws) < 0)
		return req_error(r, "GenericError", "TIOCSWINSZ: %s", strerror(errno));
	jw_obj_open(r->w);
	jw_obj_close(r->w);
	return 0;
}
