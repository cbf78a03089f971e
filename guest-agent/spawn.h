/* SPDX-License-Identifier: MIT */
/*
 * spawn.h - start child processes and reap every one of them
 *
 * All children of the agent (guest-exec, the build, the console shell,
 * /sbin/shutdown) start through spawn_child(), which reports a failed
 * exec synchronously (the caller gets -ENOENT, not a child that exits
 * 127), and end through child_reap(), which runs on SIGCHLD and reaps
 * with waitpid(-1): in init mode that also collects orphans re-parented
 * to PID 1, so no zombie outlives a SIGCHLD.
 */
#ifndef GRAINVM_AGENT_SPAWN_H
#define GRAINVM_AGENT_SPAWN_H

#include <stdbool.h>
#include <sys/types.h>

/* Children whose exit someone waits for at the same time. */
#define CHILD_MAX 256

struct spawn_req {
	const char *path;       /* searched in PATH when it has no '/' */
	char *const *argv;
	char *const *envp;      /* NULL: the agent's environment */
	const char *cwd;        /* NULL: the agent's ("/") */
	int fd_in, fd_out, fd_err;  /* -1: /dev/null */
	bool ctty;              /* fd_in becomes the controlling terminal */
};

enum spawn_step {
	SPAWN_STEP_FORK,
	SPAWN_STEP_SETUP,   /* setsid, stdio, controlling tty */
	SPAWN_STEP_CHDIR,
	SPAWN_STEP_EXEC,
};

/**
 * spawn_child() - fork and exec
 * @s: what to run; the child runs in a new session with default signal
 *     dispositions and an empty signal mask
 * @step: (out) (optional): on failure, the step that failed, so the
 *        caller can tell "no such program" from "no such directory"
 *
 * Return: the pid, or -errno when fork() or the exec failed (the failed
 * child has been reaped already).
 */
pid_t spawn_child(const struct spawn_req *s, enum spawn_step *step);

struct child;
typedef void (*child_fn)(struct child *c, int status);

struct child {
	pid_t pid;
	child_fn exited;        /* called once with the wait status */
	int slot;
};

/**
 * child_watch() - be told when @c->pid exits
 * @c: set pid and exited first
 *
 * Return: 0, or -ENOSPC.
 */
int child_watch(struct child *c);
void child_unwatch(struct child *c);

/**
 * child_reap() - reap every child that has exited
 *
 * Call on SIGCHLD.  Exits of watched children are dispatched to their
 * callbacks; others (orphans in init mode) are simply collected.
 */
void child_reap(void);

#endif
