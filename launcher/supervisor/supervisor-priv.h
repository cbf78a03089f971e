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

/*
 * Line caps per channel.  QEMU's replies to what the supervisor asks are a
 * few KiB; grainvm-agent's replies and events at most ~128 KiB (an output
 * event carries 64 KiB, 88 KiB as base64).  Only file reads and captured
 * exec output are larger: qemu-ga's guest-exec-status and commands a user
 * passes through (`grainvm qmp --agent`); while one of those is in flight
 * its channel takes lines up to the agent protocol's 16 MiB
 * (sv_link_large()).  So a flooding guest is held to 1 MiB lines the rest
 * of the time.
 */
#define SV_LINE_CAP (1u << 20)
#define SV_LARGE_LINE_CAP (16u << 20)

/* Peer names in protocol errors (gv_json_get_*()). */
#define SV_PEER_AGENT "grainvm-agent"
#define SV_PEER_QGA "qemu-ga"
#define SV_PEER_QMP "QMP"
#define SV_PEER_CONTROL "control client"

typedef struct Supervisor Supervisor;
typedef struct ControlClient ControlClient;
typedef struct SvLink SvLink;
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

/*
 * One agent link: grainvm-agent's port or qemu-ga's.  Both run the one
 * state machine of supervisor-agents.c: port open, handshake
 * (guest-sync-delimited), probe (grain-status-shaped facts), and again
 * every poll_ms until the VM is ready.
 */
struct SvLink {
	Supervisor *sv;            /* weak: the supervisor holds its links */
	const char *name;          /* SV_PEER_AGENT or SV_PEER_QGA */
	const char *port;          /* its virtio-serial port id in VSERPORT_CHANGE */
	GvQmpClient *client;
	gboolean port_open;
	gboolean in_flight;        /* a handshake or probe is outstanding */
	gboolean synced;           /* answered its last handshake */
	guint poll;                /* timer: check again */
	guint poll_ms;
	gboolean fallback;         /* its facts count only while grainvm-agent is silent */
	guint large;               /* commands in flight whose reply may be large */
	/* Ask for the facts; ends with sv_link_probed(). */
	void (*probe)(Supervisor *sv, SvLink *link);
};

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
	SvLink agent;              /* grainvm-agent */
	JsonObject *grain_status;  /* last facts from either agent, checked */
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
	guint protocol_errors;     /* logged so far (sv_protocol_error()) */
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
	SvLink qga;

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
void sv_protocol_error(Supervisor *sv, const GError *error);
void sv_start_down(Supervisor *sv, guint timeout_s, gboolean force);
void sv_console_write(Supervisor *sv, const guint8 *buf, gsize len);

/* supervisor.c: which agent answers, preferring grainvm-agent */
gboolean sv_agent_usable(Supervisor *sv);
gboolean sv_qga_usable(Supervisor *sv);

/* supervisor-agents.c: the agent links; qemu-ga as the fallback; status through either */
void sv_links_init(Supervisor *sv);
void sv_link_check(Supervisor *sv, SvLink *link);
void sv_link_port_changed(Supervisor *sv, const char *port, gboolean open);
void sv_link_probed(Supervisor *sv, SvLink *link, JsonNode *reply, const GError *error);
void sv_links_stop(Supervisor *sv);
void sv_link_large(SvLink *link, gboolean begin);
/* The checks every agent answer passes (pure: fuzzed in tests/supervisor/). */
JsonObject *sv_agent_facts(JsonObject *raw, const char *peer, GError **error);
JsonObject *sv_build_facts(JsonObject *raw, GError **error);
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
JsonObject *sv_exec_output_event(JsonObject *data, GError **error);
JsonObject *sv_exec_exit_event(JsonObject *data);

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
/* Arguments of migrate-set-capabilities: each capability named in @caps
 * (NULL-terminated) set to @state. */
JsonObject *sv_migrate_caps(const char *const *caps, gboolean state);

/* supervisor-net.c */
gboolean sv_net_init(Supervisor *sv, GError **error);
void sv_net_free(Supervisor *sv);
gboolean sv_net_open_fds(Supervisor *sv, GArray *src, GArray *dst, GError **error);
void sv_net_ready(Supervisor *sv);
void sv_net_state(Supervisor *sv, JsonObject *o);
gboolean sv_net_wants_interfaces(Supervisor *sv);
void sv_net_set_interfaces(Supervisor *sv, JsonNode *reply);
gboolean sv_net_cards_addressed(Supervisor *sv, char **why);
JsonArray *sv_interfaces_facts(JsonNode *reply);
gboolean sv_net_control(ControlClient *c, const char *cmd, JsonNode *id, JsonObject *args);

