/* SPDX-License-Identifier: MIT */
/*
 * qmp-test-util.h - helpers shared by the libgvqmp tests
 *
 * Everything runs on the thread-default main context: the tests iterate
 * it while they wait, with a deadline so that a bug fails the test instead
 * of hanging it.
 */
#pragma once

#include <sys/types.h>

#include "grainvm-qmp.h"

/* Long enough for QEMU under ASan on a busy 2-core machine. */
#define TEST_DEADLINE_S 20

/**
 * TEST_WAIT_UNTIL() - iterate the default context until @expr holds
 * @expr: the condition
 *
 * Fails the test after TEST_DEADLINE_S seconds.
 */
#define TEST_WAIT_UNTIL(expr)                                                \
	do {                                                                 \
		gint64 deadline_ = g_get_monotonic_time() +                  \
				   TEST_DEADLINE_S * G_USEC_PER_SEC;         \
		guint tick_ = g_timeout_add(10, test_tick, NULL);            \
		while (!(expr)) {                                            \
			if (g_get_monotonic_time() > deadline_)              \
				g_error("timed out waiting for %s", #expr);  \
			g_main_context_iteration(NULL, TRUE);                \
		}                                                            \
		g_source_remove(tick_);                                      \
	} while (0)

gboolean test_tick(gpointer data);
void test_iterate_for(guint ms);

/* Stores the GAsyncResult of one async call. */
typedef struct {
	GAsyncResult *result;
	guint calls;
} TestResult;

void test_result_cb(GObject *source, GAsyncResult *result, gpointer data);
void test_result_clear(TestResult *r);

JsonNode *test_execute(GvQmpClient *client, const char *command,
		       JsonObject *arguments, GError **error);

/* A fake peer: the test's end of a socketpair. */
typedef struct {
	int fd;
	GString *in;   /* bytes read from the client, not yet consumed */
} TestPeer;

GvQmpClient *test_peer_new(TestPeer *peer, GvQmpPeer kind, gsize max_line);
void test_peer_close(TestPeer *peer);
char *test_peer_read_line(TestPeer *peer);
JsonObject *test_peer_read_command(TestPeer *peer, const char *execute);
void test_peer_write(TestPeer *peer, const void *data, gsize len);
void test_peer_printf(TestPeer *peer, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
gboolean test_peer_is_quiet(TestPeer *peer, guint ms);
gboolean test_peer_eof(TestPeer *peer);

/* A real QEMU with its QMP monitor on a unix socket. */
typedef struct {
	GPid pid;
	char *dir;
	char *socket_path;
	gboolean reaped;
} TestQemu;

gboolean test_qemu_start(TestQemu *qemu);
int test_qemu_connect(TestQemu *qemu);
void test_qemu_kill(TestQemu *qemu);
void test_qemu_stop(TestQemu *qemu);
int test_qemu_wait(TestQemu *qemu);
int test_listen_unix(const char *path);
