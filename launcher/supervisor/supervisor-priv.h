/* SPDX-License-Identifier: MIT */
/*
 * supervisor-priv.h - state shared by supervisor.c and supervisor-control.c
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "grainvm-qmp.h"
#include "paths.h"
#include "plan.h"
#include "supervisor/supervisor.h"
#include "liveness.h"

typedef struct Supervisor Supervisor;
typedef struct ControlClient ControlClient;
typedef struct SvNet SvNet;
typedef struct SvRestore SvRestore;
typedef struct SvSnapshot SvSnapshot;
typedef struct SvGuest SvGuest;

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

	/* From the plan up handed over (plan.h). */
	GvPlan *plan;
	char **argv;
	guint ready_timeout_s;
	GPtrArray *expected_tags; /* char*: tags that must be mounted */

	/* QEMU. */
	GPid qemu_pid;
	guint child_watch;
	gboolean qemu_exited;  /* reaped; finishing once QMP has been drained */
	int qemu_status;
	gboolean qemu_status_known; /* our child: qemu_status is its wait status */
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
	DownStep shutdown_step;    /* the rung of down when SHUTDOWN came */
	gboolean panicked;
	gboolean internal_error;
	gboolean ready_timed_out;
	DownStep down_step;
	guint down_timer;
	guint down_timeout_s;
	gboolean down_requested;   /* by a client or a signal */
	gboolean signalled;       /* a stop signal came (a second one forces) */
	GPtrArray *down_waiters;   /* DownWaiter*: clients waiting for QEMU's end */
	char *final_reason;
	int exit_code;

	/* Adoption: a QEMU left by a supervisor that died (not our child). */
	gboolean adopted;
	int qemu_pidfd;            /* watched for QEMU's end; -1 */
	guint pidfd_watch;

	/* qemu-ga on org.qemu.guest_agent.0 (supervisor-agents.c). */
	GvQmpClient *qga;
	gboolean qga_port_open;
	gboolean qga_in_flight;
	gboolean qga_synced;
	guint qga_poll;

	/* Streams: exec and build output to control clients (supervisor-stream.c). */
	GHashTable *execs;         /* handle (gint64 *) -> SvExec * */
	gint64 next_qga_handle;
	gint64 build_handle;       /* the build followers follow; -1: none */
	GPtrArray *followers;      /* SvFollower * */
	gboolean reattach_pending; /* a grain-build-attach of our own is in flight */
	gboolean agent_paused;     /* back-pressure: not reading the agent */
	gint64 paused_since_us;
	guint backlog_timer;
	SvNet *net;                /* supervisor-net.c */
	SvRestore *restore;        /* up --from: supervisor-restore.c; NULL for a cold boot */
	SvSnapshot *snapshot;      /* the snapshot job that runs, or NULL (supervisor-snapshot.c) */
	gint64 snapshot_started_us;
	SvGuest *guest;            /* supervisor-guest.c: mounts, ready=system, hints */
	guint64 console_bytes;     /* what the guest wrote on its serial console */
	gboolean agent_ever_open;  /* the guest opened grainvm-agent's port at least once */
	gboolean qga_ever_open;    /* ... qemu-ga's */
	gboolean forced;           /* down had to quit or kill a guest that ignored it */
	gint64 down_started_us;    /* monotonic: the first gentle rung */
	gboolean tried_button;     /* the ladder sent system_powerdown */
	gboolean tried_agent;      /* ... and guest-shutdown */
	gboolean down_going;       /* the guest closed an agent port meanwhile: shutting down */
	guint forced_after_s;      /* how long the guest ignored them */
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
	guint streams;     /* execs it owns and builds it follows */
};

/* supervisor.c */
JsonObject *sv_state_object(Supervisor *sv);
void sv_start_down(Supervisor *sv, guint timeout_s, gboolean force);
void sv_console_write(Supervisor *sv, const guint8 *buf, gsize len);

/* supervisor.c: which agent answers, preferring grainvm-agent */
gboolean sv_agent_usable(Supervisor *sv);
gboolean sv_qga_usable(Supervisor *sv);

/* supervisor-agents.c: qemu-ga as the fallback agent; status through either */
void sv_qga_port_changed(Supervisor *sv, gboolean open);
void sv_qga_check(Supervisor *sv);
void sv_status_refresh(Supervisor *sv, ControlClient *c, JsonNode *id);
gboolean sv_mounts_ready(Supervisor *sv, JsonObject *st, char **why);
void sv_become_ready(Supervisor *sv);
void sv_set_problem(Supervisor *sv, char *problem);

/* supervisor-stream.c: exec-* and build-* control commands */
void sv_stream_init(Supervisor *sv);
void sv_stream_free(Supervisor *sv);
gboolean sv_stream_dispatch(ControlClient *c, const char *cmd, JsonNode *id, JsonObject *args);
void sv_stream_client_closed(Supervisor *sv, ControlClient *c);
void sv_stream_backlog_changed(Supervisor *sv);
void sv_cont(Supervisor *sv);
void sv_agent_check(Supervisor *sv);
void sv_agent_status_reply(Supervisor *sv, JsonNode *reply, const GError *error);

/* supervisor-guest.c */
void sv_guest_request_mounts(Supervisor *sv);
void sv_guest_agent_synced(Supervisor *sv);
void sv_guest_shares_ready(Supervisor *sv);
void sv_guest_start(Supervisor *sv);
void sv_guest_free(Supervisor *sv);
void sv_hint(Supervisor *sv, const char *message);

/* supervisor-restore.c */
gboolean sv_restore_load(Supervisor *sv, GError **error);
int sv_restore_qemu_fd(Supervisor *sv, GError **error);
void sv_restore_spawned(Supervisor *sv, gboolean spawned);
void sv_restore_qmp_ready(Supervisor *sv);
gboolean sv_restore_thaw(Supervisor *sv);
/*
 * grain-thaw's arguments: the host's time and 64 bytes of its randomness
 * (getrandom), which the agent mixes into the guest's pool so that runs of
 * one saved state do not share their random numbers (docs/snapshots.md).
 */
JsonObject *sv_thaw_args(void);
void sv_restore_explain(Supervisor *sv, GvPhase *phase, char **reason, int *code);
void sv_restore_free(Supervisor *sv);

/* supervisor-control.c */
ControlClient *sv_client_ref(ControlClient *c);
void sv_client_unref(ControlClient *c);
void sv_control_client_close(ControlClient *c);
void sv_control_reply_error(ControlClient *c, JsonNode *id, const char *cls, const char *fmt, ...)
	G_GNUC_PRINTF(4, 5);
gboolean sv_control_listen(Supervisor *sv, GError **error);
void sv_control_broadcast_console(Supervisor *sv, const guint8 *buf, gsize len);
void sv_control_reply(ControlClient *c, JsonNode *id, JsonNode *ret, const GError *error);
void sv_control_reply_gerror(ControlClient *c, JsonNode *id, const GError *error);
void sv_control_close_all(Supervisor *sv);
void sv_client_send_line(ControlClient *c, JsonObject *msg);
void sv_client_flush_blocking(ControlClient *c);
ControlClient *sv_client_ref(ControlClient *c);
void sv_client_unref(ControlClient *c);

/* supervisor-snapshot.c: snapshot-save and snapshot-disk */
gboolean sv_snapshot_control(ControlClient *c, const char *cmd, JsonNode *id, JsonObject *args);
gboolean sv_snapshot_quit_when_done(Supervisor *sv);

/* supervisor-snapshot.c: snapshot-save and snapshot-disk */
gboolean sv_snapshot_control(ControlClient *c, const char *cmd, JsonNode *id, JsonObject *args);
gboolean sv_snapshot_quit_when_done(Supervisor *sv);

/* supervisor-net.c */
gboolean sv_net_init(Supervisor *sv, GError **error);
void sv_net_free(Supervisor *sv);
gboolean sv_net_open_fds(Supervisor *sv, GArray *src, GArray *dst, GError **error);
void sv_net_ready(Supervisor *sv);
void sv_net_state(Supervisor *sv, JsonObject *o);
gboolean sv_net_wants_interfaces(Supervisor *sv);
void sv_net_set_interfaces(Supervisor *sv, JsonNode *reply);
gboolean sv_net_cards_addressed(Supervisor *sv, char **why);
gboolean sv_net_control(ControlClient *c, const char *cmd, JsonNode *id, JsonObject *args);

