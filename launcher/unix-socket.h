/* SPDX-License-Identifier: MIT */
/*
 * unix-socket.h - listening on and connecting to the launcher's sockets
 *
 * Every socket grainvm serves (the supervisor's control, console and
 * agent sockets, a network's switch, the snapshot stream) is a stream
 * socket under a private runtime directory, created with umask 0077 so
 * that there is no moment in which another user may connect.
 */
#pragma once

#include <glib.h>

/**
 * gv_unix_listen() - a listening socket at @path
 * @path: where; a file there is removed first (the callers own the
 *        directory and hold whatever lock makes that safe)
 * @backlog: for listen()
 * @error: GV_ERROR_INVALID when @path does not fit a sockaddr_un,
 *         GV_ERROR_FAILED when the socket cannot be made
 *
 * Return: the socket (blocking, close-on-exec), or -1.
 */
int gv_unix_listen(const char *path, int backlog, GError **error);

/**
 * gv_unix_connect() - connect to the stream socket at @path
 * @path: where
 * @error: GV_ERROR_FAILED naming @path and why
 *
 * Return: the socket (blocking, close-on-exec), or -1 with errno set
 * (ENOENT: nobody ever listened there; ECONNREFUSED: nobody does now).
 */
int gv_unix_connect(const char *path, GError **error);
