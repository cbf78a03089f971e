/* SPDX-License-Identifier: MIT */
/*
 * switch.h - the process behind a switch network (`grainvm __switch`)
 *
 * network.h says who starts it and when it ends; switch.c how it works.
 */
#pragma once

#include <glib.h>

/**
 * gv_switch_run() - serve switch network @name until its last VM has gone
 * @name: the network
 * @ready_fd: a pipe to write "ready\n" to once the socket listens, or -1
 * @error: setup failures (cannot listen, libslirp refused the config)
 *
 * Return: TRUE when it ended because no VM was left.
 */
gboolean gv_switch_run(const char *name, int ready_fd, GError **error);
