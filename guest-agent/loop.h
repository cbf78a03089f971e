/* SPDX-License-Identifier: MIT */
/*
 * loop.h - the agent's single-threaded poll loop
 *
 * Everything the agent waits for (the host channel, child pipes, signals
 * through a signalfd, the power button, timers) is a watch or a timer
 * here, so there is exactly one place that blocks.  Watches are embedded
 * in their owners; the loop keeps pointers, so an owner must loop_del()
 * before freeing.  A watch removed while the loop is dispatching is never
 * called again in that round.
 */
#ifndef GRAINVM_AGENT_LOOP_H
#define GRAINVM_AGENT_LOOP_H

#include <stdbool.h>
#include <stdint.h>

/*
 * Enough for the channel, the signalfd, the power buttons and three pipes
 * for each of EXEC_MAX children and the build.
 */
#define LOOP_MAX_WATCHES 512
#define LOOP_MAX_TIMERS 16
#define LOOP_MAX_PREPARE 8

struct watch;
typedef void (*watch_fn)(struct watch *w, short revents);

struct watch {
	int fd;
	short events;     /* 0: registered but not polled */
	watch_fn fn;
	int slot;         /* -1 while not registered */
};

struct timer;
typedef void (*timer_fn)(struct timer *t);

struct timer {
	int64_t due;      /* now_ms() deadline */
	timer_fn fn;
	int slot;         /* -1 while not armed */
};

/**
 * watch_init() - prepare a watch before its first loop_add()
 * @w: the watch
 * @fd: descriptor
 * @events: poll events
 * @fn: called with the revents
 */
void watch_init(struct watch *w, int fd, short events, watch_fn fn);

/**
 * loop_add() - start polling a watch
 * @w: the watch (initialised with watch_init())
 *
 * Return: 0, or -ENOSPC when LOOP_MAX_WATCHES are in use.
 */
int loop_add(struct watch *w);
/* Stop polling; safe on a watch that is not registered. */
void loop_del(struct watch *w);

void timer_init(struct timer *t, timer_fn fn);
/* (Re)arm @t to fire once after @ms milliseconds. */
void timer_arm(struct timer *t, int64_t ms);
void timer_disarm(struct timer *t);

/**
 * loop_add_prepare() - call @fn before every poll
 * @fn: a hook that adjusts watch events (back-pressure)
 *
 * Return: 0, or -ENOSPC.
 */
int loop_add_prepare(void (*fn)(void));

/**
 * loop_run_once() - wait for and dispatch one round of events
 *
 * Return: 0, or -errno from poll() other than EINTR.
 */
int loop_run_once(void);

#endif
