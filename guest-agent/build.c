/* SPDX-License-Identifier: MIT */
/*
 * build.c - grain-build-start/status/attach: one build at a time that
 * outlives the host's connection
 *
 * Theory of operation
 *
 * A build is a command whose stdout and stderr share one pipe.  The agent
 * reads the pipe as fast as the build writes (never throttled by the
 * host: a slow or absent host must not slow the build), appends what it
 * reads to /run/grainvm/build.log and keeps the last BUILD_TAIL_MAX bytes in a
 * ring for grain-build-status.  The build is not tied to any connection:
 * the host may disconnect, reboot its side, and come back.
 *
 * grain-build-attach streams the log file, not the pipe: from the
 * requested offset it reads the file and sends grain-output events while
 * the channel's queue has room, catching up to the live end, then follows
 * new output as it is appended; once the build has ended and the attached
 * host has everything, a grain-exit event closes the stream.  Reading
 * the file makes "replay from offset N, then live" one code path, and a
 * slow host only lags behind in the file instead of holding output in
 * the agent's memory.
 */
#include "build.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "channel.h"
#include "exec.h"
#include "loop.h"
#include "spawn.h"
#include "util.h"

enum build_state {
	BUILD_IDLE,
	BUILD_RUNNING,
	BUILD_SUCCEEDED,
	BUILD_FAILED,
};

static const char *const state_names[] = {
	[BUILD_IDLE] = "idle",
	[BUILD_RUNNING] = "running",
	[BUILD_SUCCEEDED] = "succeeded",
	[BUILD_FAILED] = "failed",
};
_Static_assert(ARRAY_SIZE(state_names) == BUILD_FAILED + 1,
	       "state_names must name every build_state");

static struct {
	enum build_state state;
	int64_t handle;
	pid_t pid;
	struct child child;
	bool exited;
	int status;
	int pipe_fd;             /* -1 once the output reached EOF */
	struct watch w;
	int log_fd;
	uint64_t log_size;       /* bytes in the log file */
	uint64_t total;          /* bytes of output, including unlogged */
	bool log_truncated;
	double start_time, end_time;    /* CLOCK_REALTIME seconds */
	int64_t start_ms, end_ms;       /* now_ms() */
	/* the attached host */
	bool attached;
	uint64_t session;
	uint64_t offset;
	uint64_t seq;
} b = { .pipe_fd = -1, .log_fd = -1 };

static char tail[BUILD_TAIL_MAX];
static char rbuf[EXEC_CHUNK];

static double realtime(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static bool ended(void)
{
	return b.exited && b.pipe_fd < 0;
}

static void finish_if_done(void)
{
	if (b.state != BUILD_RUNNING || !ended())
		return;
	b.state = WIFEXITED(b.status) && WEXITSTATUS(b.status) == 0 ? BUILD_SUCCEEDED
								      : BUILD_FAILED;
	b.end_time = realtime();
	b.end_ms = now_ms();
}

static double duration(void)
{
	if (b.state == BUILD_IDLE)
		return 0;
	return (double)((b.state == BUILD_RUNNING ? now_ms() : b.end_ms) - b.start_ms) / 1000.0;
}

static void on_output(struct watch *w, short revents)
{
	ssize_t n;

	(void)w;
	(void)revents;
	n = read(b.pipe_fd, rbuf, sizeof(rbuf));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		loop_del(&b.w);
		close(b.pipe_fd);
		b.pipe_fd = -1;
		finish_if_done();
		return;
	}
	for (ssize_t i = 0; i < n; i++)
		tail[(b.total + (uint64_t)i) % BUILD_TAIL_MAX] = rbuf[i];
	b.total += (uint64_t)n;
	if (b.log_truncated)
		return;
	if (b.log_size + (uint64_t)n > BUILD_LOG_MAX) {
		b.log_truncated = true;
		return;
	}
	if (write_all(b.log_fd, rbuf, (size_t)n) < 0) {
		/* tmpfs full: keep the build going, stop logging. */
		b.log_truncated = true;
		return;
	}
	b.log_size += (uint64_t)n;
}

static void on_exit_status(struct child *c, int status)
{
	(void)c;
	b.exited = true;
	b.status = status;
	finish_if_done();
}

static void send_end(void)
{
	struct jw w;

	jw_init(&w);
	proto_event_begin(&w, "grain-exit");
	jw_obj_open(&w);
	jw_kint(&w, "handle", b.handle);
	jw_kint(&w, "pid", b.pid);
	jw_kstr(&w, "state", state_names[b.state]);
	jw_wait_status(&w, b.status, "exitcode");
	jw_kint(&w, "log-size", (int64_t)b.log_size);
	if (b.log_truncated)
		jw_kbool(&w, "log-truncated", true);
	jw_kdouble(&w, "duration", duration());
	jw_obj_close(&w);
	proto_event_end(&w);
	if (!w.oom)
		channel_send(b.session, &w);
	jw_free(&w);
}

/* Before every poll: stream the log to the attached host while there is
 * room in the channel's queue. */
static void prepare(void)
{
	if (!b.attached)
		return;
	if (!channel_session_alive(b.session)) {
		b.attached = false;
		return;
	}
	while (b.offset < b.log_size && channel_backlog() < CHANNEL_BACKLOG_MAX) {
		size_t want = sizeof(rbuf);
		if (b.log_size - b.offset < want)
			want = (size_t)(b.log_size - b.offset);
		ssize_t n = pread(b.log_fd, rbuf, want, (off_t)b.offset);
		if (n <= 0) {
			/* The log went away under us: end the stream. */
			b.offset = b.log_size;
			break;
		}
		if (!event_output(b.session, b.handle, "log", b.seq++, (int64_t)b.offset, rbuf,
				  (size_t)n)) {
			b.attached = false;
			return;
		}
		b.offset += (uint64_t)n;
	}
	if (b.offset >= b.log_size && b.state != BUILD_RUNNING) {
		send_end();
		b.attached = false;
	}
}

int build_init(void)
{
	return loop_add_prepare(prepare);
}

const char *build_default_command;
const char *build_default_cwd;

int cmd_grain_build_start(struct req *r)
{
	static const struct arg_spec spec[] = {
		{ "command", ARG_STRLIST, true },
		{ "cwd", ARG_STR, true },
		{ "env", ARG_STRLIST, true },
	};
	const struct json *cmd, *env;
	struct spawn_req s = { .fd_in = -1 };
	enum spawn_step step;
	char **argv = NULL, **envp = NULL;
	char log_path[300];
	int p[2], log_fd, rc = -1;
	size_t i;
	pid_t pid;

	if (req_check_args(r, spec, ARRAY_SIZE(spec)) < 0)
		return -1;
	if (b.state == BUILD_RUNNING)
		return req_error(r, "GenericError",
				 "a build is already running (handle %" PRId64 ", pid %d); "
				 "see grain-build-status", b.handle, b.pid);
	cmd = req_arg(r, "command");
	env = req_arg(r, "env");
	if (!cmd && !build_default_command)
		return req_error(r, "GenericError",
				 "Parameter 'command' is missing and the agent has no default "
				 "build command (grainvm-agent --build-command)");
	if (cmd && cmd->u.kids.count == 0)
		return req_error(r, "GenericError", "Parameter 'command' must not be empty");
	/* The default is one shell command line, as a user would type it
	 * (NixOS: grainvm.build.command), so it goes through /bin/sh. */
	argv = calloc(cmd ? cmd->u.kids.count + 1 : 4, sizeof(*argv));
	if (env)
		envp = calloc(env->u.kids.count + 1, sizeof(*envp));
	if (!argv || (env && !envp)) {
		free(argv);
		free(envp);
		return req_error(r, "GenericError", "out of memory");
	}
	i = 0;
	if (!cmd) {
		argv[i++] = "/bin/sh";
		argv[i++] = "-c";
		argv[i++] = (char *)build_default_command;
	}
	for (const struct json *e = cmd ? cmd->u.kids.first : NULL; e; e = e->next)
		argv[i++] = e->u.str.s;
	i = 0;
	for (const struct json *e = env ? env->u.kids.first : NULL; e; e = e->next)
		envp[i++] = e->u.str.s;

	snprintf(log_path, sizeof(log_path), "%s/" BUILD_LOG_NAME, agent_state_dir);
	mkdir_p(agent_state_dir, 0755);
	log_fd = open(log_path, O_RDWR | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
	if (log_fd < 0) {
		req_error(r, "GenericError", "cannot create %s: %s", log_path, strerror(errno));
		goto out;
	}
	if (pipe2(p, O_CLOEXEC) < 0) {
		req_error(r, "GenericError", "pipe: %s", strerror(errno));
		close(log_fd);
		goto out;
	}
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	s.path = argv[0];
	s.argv = argv;
	s.envp = envp;
	s.cwd = req_str(r, "cwd", build_default_cwd);
	s.fd_out = s.fd_err = p[1];
	pid = spawn_child(&s, &step);
	close(p[1]);
	if (pid < 0) {
		if (step == SPAWN_STEP_CHDIR)
			req_error(r, "GenericError", "Failed to change to directory '%s' (%s)",
				  s.cwd, strerror((int)-pid));
		else
			req_error(r, "GenericError", "Failed to execute child process \"%s\" (%s)",
				  argv[0], strerror((int)-pid));
		close(p[0]);
		close(log_fd);
		goto out;
	}

	/* A host still attached to the previous build gets its end now:
	 * the log it was reading has just been truncated. */
	if (b.attached) {
		send_end();
		b.attached = false;
	}
	if (b.log_fd >= 0)
		close(b.log_fd);
	b.state = BUILD_RUNNING;
	b.handle = agent_next_handle();
	b.pid = pid;
	b.exited = false;
	b.status = 0;
	b.pipe_fd = p[0];
	b.log_fd = log_fd;
	b.log_size = b.total = 0;
	b.log_truncated = false;
	b.start_time = realtime();
	b.start_ms = now_ms();
	b.end_time = 0;
	b.child.pid = pid;
	b.child.exited = on_exit_status;
	child_watch(&b.child);
	watch_init(&b.w, b.pipe_fd, POLLIN, on_output);
	loop_add(&b.w);

	jw_obj_open(r->w);
	jw_kint(r->w, "handle", b.handle);
	jw_kint(r->w, "pid", pid);
	jw_kstr(r->w, "log", log_path);
	jw_obj_close(r->w);
	rc = 0;
out:
	free(argv);
	free(envp);
	return rc;
}

int cmd_grain_build_status(struct req *r)
{
	static const struct arg_spec spec[] = {
		{ "tail-bytes", ARG_INT, true },
	};
	struct jw *w = r->w;
	int64_t want;

	if (req_check_args(r, spec, ARRAY_SIZE(spec)) < 0)
		return -1;
	want = req_int(r, "tail-bytes", 4096);
	if (want < 0 || want > BUILD_TAIL_MAX)
		return req_error(r, "GenericError",
				 "Parameter 'tail-bytes' must be between 0 and %u", BUILD_TAIL_MAX);
	jw_obj_open(w);
	jw_kstr(w, "state", state_names[b.state]);
	if (b.state != BUILD_IDLE) {
		jw_kint(w, "handle", b.handle);
		jw_kint(w, "pid", b.pid);
		if (b.state != BUILD_RUNNING)
			jw_wait_status(w, b.status, "exit-code");
		jw_kdouble(w, "start-time", b.start_time);
		if (b.state != BUILD_RUNNING)
			jw_kdouble(w, "end-time", b.end_time);
		jw_kdouble(w, "duration", duration());
	}
	jw_kint(w, "log-size", (int64_t)b.log_size);
	if (b.log_truncated)
		jw_kbool(w, "log-truncated", true);
	uint64_t n = b.total < (uint64_t)want ? b.total : (uint64_t)want;
	char *t = malloc(n ? n : 1);
	if (!t)
		return req_error(r, "GenericError", "out of memory");
	for (uint64_t i = 0; i < n; i++)
		t[i] = tail[(b.total - n + i) % BUILD_TAIL_MAX];
	jw_key(w, "log-tail");
	jw_strn(w, t, n);
	free(t);
	jw_obj_close(w);
	return 0;
}

int cmd_grain_build_attach(struct req *r)
{
	static const struct arg_spec spec[] = {
		{ "from-offset", ARG_INT, true },
	};
	int64_t from;

	if (req_check_args(r, spec, ARRAY_SIZE(spec)) < 0)
		return -1;
	if (b.state == BUILD_IDLE)
		return req_error(r, "GenericError", "no build has been started");
	from = req_int(r, "from-offset", 0);
	if (from < 0 || (uint64_t)from > b.log_size)
		return req_error(r, "GenericError",
				 "Parameter 'from-offset' must be between 0 and the log size (%" PRIu64 ")",
				 b.log_size);
	/* One attached host: a new attach replaces the previous one. */
	b.attached = true;
	b.session = r->p->session;
	b.offset = (uint64_t)from;
	b.seq = 0;
	jw_obj_open(r->w);
	jw_kint(r->w, "handle", b.handle);
	jw_kint(r->w, "offset", from);
	jw_kstr(r->w, "state", state_names[b.state]);
	jw_obj_close(r->w);
	return 0;
}
