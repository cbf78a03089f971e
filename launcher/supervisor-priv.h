/* SPDX-License-Identifier: MIT */
/*
 * supervisor-priv.h - state shared by supervisor.c and supervisor-control.c
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "grainvm-qmp.h"
#include "paths.h"
#include "supervisor.h"
#include "vmstate.h"

typedef struct Supervisor Supervisor;
typedef struct ControlClient ControlClient;
typedef struct SvRestore SvRestore;

typedef enum {
	DOWN_NONE,
	DOWN_POWERDOWN, /* ACPI power button over QMP */
	DOWN_AGENT,     /* the agent's guest-shutdown */
	DOWN_QUIT,      /* QMP quit */
	DOWN_KILL,      /* SIGKILL */
} DownStep;

struct Supervisor {
	GMainLoop *loop;
	GvVmPaths *paths;
	GvSupervisorOptions opts;

	/* From plan.json. */
	JsonObject *plan;
	char **argv;
	guint ready_timeout_s;
	GPtrArray *expected_tags; /* char*: tags that must be mounted */

	/* QEMU. */
	GPid qemu_pid;
	guint child_watch;
	gboolean qemu_exited;  /* reaped; finishing once QMP has been drained */
	int qemu_status;
	guint drain_timer;
	gint64 spawned_us;     /* monotonic */
	gint64 spawned_wall;   /* unix seconds */
	int listen_fds[4];     /* qmp, console, agent, qga: QEMU's copies */

	/* Connections. */
	GvQmpClient *qmp;
	GvQmpClient *agent;
	gboolean agent_port_open;
	gboolean agent_in_flight;  /* a handshake or grain-status is outstanding */
	gboolean agent_synced;
	guint agent_poll;          /* timer: ask grain-status again */
	JsonObject *grain_status;  /* last answer */
	char *agent_problem;       /* why the agent is not ready yet, for the timeout */
	int console_fd;
	guint console_watch;
	int console_log_fd;
	int control_fd;
	guint control_watch;
	GList *clients;            /* ControlClient* */

	/* Life. */
	GvPhase phase;
	gint64 ready_us;
	guint ready_timer;
	gboolean notified;
	char *shutdown_reason;     /* SHUTDOWN event's reason */
	gboolean panicked;
	gboolean internal_error;
	gboolean ready_timed_out;
	DownStep down_step;
	guint down_timer;
	guint down_timeout_s;
	gboolean down_requested;   /* by a client or a signal */
	GPtrArray *down_waiters;   /* DownWaiter*: clients waiting for QEMU's end */
	char *final_reason;
	int exit_code;

	SvRestore *restore;        /* up --from: supervisor-restore.c; NULL for a cold boot */
};

typedef struct {
	ControlClient *client; /* holds a reference */
	JsonNode *id;          /* the request's id, echoed in the reply */
} DownWaiter;

struct ControlClient {
	Supervisor *sv;
	int fd;
	guint watch;
	guint out_watch;
	GvJsonReader *reader;
	GByteArray *out;
	gboolean negotiated;
	gboolean console;  /* raw console bytes from here on */
	gboolean closed;
	guint refs;        /* pending forwards hold one each */
};

/* supervisor.c */
JsonObject *sv_state_object(Supervisor *sv);
void sv_start_down(Supervisor *sv, guint timeout_s, gboolean force);
void sv_console_write(Supervisor *sv, const guint8 *buf, gsize len);

void sv_cont(Supervisor *sv);
void sv_agent_check(Supervisor *sv);
void sv_agent_status_reply(Supervisor *sv, JsonNode *reply, const GError *error);

/* supervisor-restore.c */
gboolean sv_restore_load(Supervisor *sv, GError **error);
int sv_restore_qemu_fd(Supervisor *sv, GError **error);
void sv_restore_spawned(Supervisor *sv, gboolean spawned);
void sv_restore_qmp_ready(Supervisor *sv);
gboolean sv_restore_thaw(Supervisor *sv);
void sv_restore_explain(Supervisor *sv, GvPhase *phase, char **reason, int *code);
void sv_restore_free(Supervisor *sv);

/* supervisor-control.c */
gboolean sv_control_listen(Supervisor *sv, GError **error);
void sv_control_broadcast_console(Supervisor *sv, const guint8 *buf, gsize len);
void sv_control_reply(ControlClient *c, JsonNode *id, JsonNode *ret, const GError *error);
void sv_control_close_all(Supervisor *sv);
void sv_client_send_line(ControlClient *c, JsonObject *msg);
void sv_client_flush_blocking(ControlClient *c);

/* Helpers both use. */
int sv_listen_unix(const char *path, GError **error);
int sv_connect_unix(const char *path, GError **error);
