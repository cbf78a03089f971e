/* SPDX-License-Identifier: MIT */
/*
 * loop.c - poll loop with watches, one-shot timers and prepare hooks
 */
#include "loop.h"

#include <errno.h>
#include <poll.h>
#include <stddef.h>

#include "util.h"

static struct watch *watches[LOOP_MAX_WATCHES];
static int nwatches;   /* highest used slot + 1 */
static struct timer *timers[LOOP_MAX_TIMERS];
static void (*prepare[LOOP_MAX_PREPARE])(void);
static int nprepare;

void watch_init(struct watch *w, int fd, short events, watch_fn fn)
{
	w->fd = fd;
	w->events = events;
	w->fn = fn;
	w->slot = -1;
}

int loop_add(struct watch *w)
{
	if (w->slot >= 0)
		return 0;
	for (int i = 0; i < LOOP_MAX_WATCHES; i++) {
		if (!watches[i]) {
			watches[i] = w;
			w->slot = i;
			if (i >= nwatches)
				nwatches = i + 1;
			return 0;
		}
	}
	return -ENOSPC;
}

void loop_del(struct watch *w)
{
	if (w->slot < 0)
		return;
	watches[w->slot] = NULL;
	w->slot = -1;
	while (nwatches > 0 && !watches[nwatches - 1])
		nwatches--;
}

void timer_init(struct timer *t, timer_fn fn)
{
	t->fn = fn;
	t->slot = -1;
	t->due = 0;
}

void timer_arm(struct timer *t, int64_t ms)
{
	t->due = now_ms() + ms;
	if (t->slot >= 0)
		return;
	for (int i = 0; i < LOOP_MAX_TIMERS; i++) {
		if (!timers[i]) {
			timers[i] = t;
			t->slot = i;
			return;
		}
	}
	/* A fixed set of modules owns timers; running out is a bug. */
	log_msg("timer table full");
}

void timer_disarm(struct timer *t)
{
	if (t->slot < 0)
		return;
	timers[t->slot] = NULL;
	t->slot = -1;
}

int loop_add_prepare(void (*fn)(void))
{
	if (nprepare == LOOP_MAX_PREPARE)
		return -ENOSPC;
	prepare[nprepare++] = fn;
	return 0;
}

int loop_run_once(void)
{
	struct pollfd pfd[LOOP_MAX_WATCHES];
	struct watch *who[LOOP_MAX_WATCHES];
	int slot[LOOP_MAX_WATCHES];
	int n = 0, timeout = -1;
	int64_t now;

	for (int i = 0; i < nprepare; i++)
		prepare[i]();
	for (int i = 0; i < nwatches; i++) {
		struct watch *w = watches[i];
		if (!w || !w->events)
			continue;
		pfd[n].fd = w->fd;
		pfd[n].events = w->events;
		pfd[n].revents = 0;
		who[n] = w;
		slot[n] = i;
		n++;
	}
	now = now_ms();
	for (int i = 0; i < LOOP_MAX_TIMERS; i++) {
		if (!timers[i])
			continue;
		int64_t left = timers[i]->due - now;
		if (left < 0)
			left = 0;
		if (timeout < 0 || left < timeout)
			timeout = (int)(left > 3600000 ? 3600000 : left);
	}
	int rc = poll(pfd, (nfds_t)n, timeout);
	if (rc < 0 && errno != EINTR)
		return -errno;
	for (int i = 0; rc > 0 && i < n; i++) {
		if (!pfd[i].revents)
			continue;
		/* Skip watches removed (or moved) by an earlier callback. */
		if (watches[slot[i]] != who[i] || who[i]->slot != slot[i])
			continue;
		who[i]->fn(who[i], pfd[i].revents);
	}
	now = now_ms();
	for (int i = 0; i < LOOP_MAX_TIMERS; i++) {
		struct timer *t = timers[i];
		if (t && t->due <= now) {
			timers[i] = NULL;
			t->slot = -1;
			t->fn(t);
		}
	}
	return 0;
}
