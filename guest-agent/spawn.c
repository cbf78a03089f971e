/* SPDX-License-Identifier: MIT */
/*
 * spawn.c - fork/exec with synchronous exec errors, and the reaper
 */
#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

static struct child *children[CHILD_MAX];

/* In the child after fork(): only async-signal-safe calls from here on. */
static void child_setup(const struct spawn_req *s, int err_fd)
{
	sigset_t all;
	int fds[3] = { s->fd_in, s->fd_out, s->fd_err };
	int report[2] = { SPAWN_STEP_SETUP, 0 };

	/* The agent blocks the signals it reads from a signalfd and ignores
	 * SIGPIPE; a command must start with the defaults. */
	for (int sig = 1; sig < 65; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL);
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	if (setsid() < 0)
		goto fail;
	for (int i = 0; i < 3; i++) {
		if (fds[i] < 0) {
			int nul = open("/dev/null", O_RDWR);
			if (nul < 0)
				goto fail;
			fds[i] = nul;
		}
	}
	/* dup2() clears FD_CLOEXEC on the copy; a source that already is
	 * 0..2 in the right place needs it cleared by hand. */
	for (int i = 0; i < 3; i++) {
		if (fds[i] == i) {
			int fl = fcntl(i, F_GETFD);
			if (fl >= 0)
				fcntl(i, F_SETFD, fl & ~FD_CLOEXEC);
		} else if (dup2(fds[i], i) < 0) {
			goto fail;
		}
	}
	if (s->ctty && ioctl(0, TIOCSCTTY, 1) < 0)
		goto fail;
	report[0] = SPAWN_STEP_CHDIR;
	if (s->cwd && chdir(s->cwd) < 0)
		goto fail;
	report[0] = SPAWN_STEP_EXEC;
	if (s->envp)
		execvpe(s->path, s->argv, s->envp);
	else
		execvp(s->path, s->argv);
fail:
	report[1] = errno;
	(void)!write(err_fd, report, sizeof(report));
	_exit(127);
}

pid_t spawn_child(const struct spawn_req *s, enum spawn_step *step)
{
	int p[2], report[2] = { SPAWN_STEP_FORK, 0 };
	pid_t pid;
	ssize_t n;

	if (step)
		*step = SPAWN_STEP_FORK;
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		report[1] = errno;
		close(p[0]);
		close(p[1]);
		return -report[1];
	}
	if (pid == 0)
		child_setup(s, p[1]);
	close(p[1]);
	/* The pipe closes on a successful exec (O_CLOEXEC): EOF, no error. */
	do {
		n = read(p[0], report, sizeof(report));
	} while (n < 0 && errno == EINTR);
	close(p[0]);
	if (n == (ssize_t)sizeof(report)) {
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		if (step)
			*step = (enum spawn_step)report[0];
		return -(report[1] ? report[1] : EIO);
	}
	return pid;
}

int child_watch(struct child *c)
{
	for (int i = 0; i < CHILD_MAX; i++) {
		if (!children[i]) {
			children[i] = c;
			c->slot = i;
			return 0;
		}
	}
	return -ENOSPC;
}

void child_unwatch(struct child *c)
{
	if (c->slot >= 0 && c->slot < CHILD_MAX && children[c->slot] == c)
		children[c->slot] = NULL;
	c->slot = -1;
}

void child_reap(void)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (int i = 0; i < CHILD_MAX; i++) {
			struct child *c = children[i];
			if (c && c->pid == pid) {
				children[i] = NULL;
				c->slot = -1;
				c->exited(c, status);
				break;
			}
		}
	}
}
