/* SPDX-License-Identifier: MIT */
/*
 * network.h - switch networks: where they live, their address leases, and
 * getting a connection to one
 *
 * A switch network NAME is one `grainvm __switch` process (switch.c)
 * listening on RUNROOT/.networks/NAME/switch.sock.  Nobody starts it by
 * hand: the supervisor of the first VM on the network does, in
 * gv_network_connect(), and the switch exits once its last VM has gone.
 * The two meet under one lock, RUNROOT/.networks/NAME/lock:
 *
 *   connecting side                      the switch, at zero VMs
 *   ---------------                      -----------------------
 *   flock(lock)                          flock(lock)
 *   connect(); if refused: spawn a       accept anything queued; if there
 *   switch, wait for "ready", connect    was nothing: unlink the socket, exit
 *   unlock                               (else unlock and serve on)
 *
 * so a VM never connects to a switch that is on its way out.
 *
 * Guests on a switch get static addresses that grainvm leases per VM name,
 * kept in STATEROOT/.networks/NAME/leases so a VM keeps its address across
 * restarts.  Leases come from 10.0.2.15-10.0.2.99; libslirp's own DHCP
 * server, for guests that run a DHCP client, hands out 10.0.2.100 and up,
 * so the two never collide.
 */
#pragma once

#include <glib.h>

typedef struct {
	char *name;
	char *run_dir;     /* RUNROOT/.networks/NAME */
	char *sock;        /* run_dir/switch.sock */
	char *lock;        /* run_dir/lock */
	char *pid;         /* run_dir/switch.pid */
	char *log;         /* run_dir/switch.log */
	char *state_dir;   /* STATEROOT/.networks/NAME */
	char *leases;      /* state_dir/leases */
	char *leases_lock; /* state_dir/leases.lock */
} GvNetworkPaths;

/* The switch network's addresses (libslirp's defaults, as -netdev user). */
#define GV_SWITCH_NET "10.0.2.0"
#define GV_SWITCH_PREFIX 24
#define GV_SWITCH_GATEWAY "10.0.2.2"
#define GV_SWITCH_DNS "10.0.2.3"
#define GV_SWITCH_DHCP_START "10.0.2.100"
/*
 * The switch's MTU, and its guests' by default ([net] mtu): 65520, the
 * most libslirp takes, as passt uses.  Every frame costs the emulated
 * guest, QEMU, the switch and libslirp the same fixed work, so 45 times
 * fewer frames is what makes a process hop cheap: a 64 MiB guest -> host
 * transfer under TCG here went from 15 MiB/s and 3.3 CPU-seconds (QEMU and
 * switch) at 1500 to 36-48 MiB/s and 1.3-1.4 CPU-seconds at 65520.  A
 * guest with a smaller MTU still works: TCP's MSS adapts.
 */
#define GV_SWITCH_MTU 65520
#define GV_SWITCH_LEASE_FIRST 15
#define GV_SWITCH_LEASE_LAST 99

/**
 * gv_network_paths_new() - the paths of switch network @name
 * @name: a valid network name
 * @error: when the socket path would not fit sockaddr_un
 *
 * Return: (transfer full) (nullable): the paths; creates nothing.
 */
GvNetworkPaths *gv_network_paths_new(const char *name, GError **error);
void gv_network_paths_free(GvNetworkPaths *p);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(GvNetworkPaths, gv_network_paths_free)

/**
 * gv_network_lease() - the guest address of VM @vm on network @network
 * @network: the network
 * @vm: the VM's name
 * @error: GV_ERROR_FAILED when the lease file cannot be written or every
 *         address is held by a running VM
 *
 * Returns the VM's lease when it has one, else the lowest free address
 * (taking it from a VM that is not running when all are taken).
 *
 * Return: (transfer full) (nullable): "10.0.2.N/24".
 */
char *gv_network_lease(const char *network, const char *vm, GError **error);

/**
 * gv_network_pick() - the pure part of gv_network_lease()
 * @leases: the lease file's text ("VM ADDRESS" lines), or NULL
 * @vm: the VM asking
 * @is_running: (nullable): TRUE for a VM whose lease must be kept
 * @data: for @is_running
 * @new_text: (out): the lease file's new text, unchanged when the VM had
 *            a lease already
 *
 * Return: (transfer full) (nullable): the host part (15-99) as a string
 * "10.0.2.N", NULL when every address is held by a running VM.
 */
char *gv_network_pick(const char *leases, const char *vm,
		      gboolean (*is_running)(const char *vm, gpointer data), gpointer data,
		      char **new_text);

/**
 * gv_network_connect() - a connection to network @name's switch
 * @name: the network
 * @error: GV_ERROR_FAILED when the switch cannot be started or reached
 *
 * Starts the switch when none runs (see the top of this file).
 *
 * Return: a connected unix stream socket (close-on-exec), or -1.
 */
int gv_network_connect(const char *name, GError **error);

/**
 * gv_network_switch_pid() - the pid of @name's running switch, or 0
 */
int gv_network_switch_pid(const char *name);
