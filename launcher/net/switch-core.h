/* SPDX-License-Identifier: MIT */
/*
 * switch-core.h - the learning part of an Ethernet switch (pure)
 *
 * A frame's source MAC teaches the table which port that address lives
 * behind; its destination MAC picks the one port to send it to, or all
 * of them (broadcast, multicast, or an address not learnt yet or not seen
 * for GV_SWITCH_AGEING_US).  No I/O here: switch.c moves the frames, the
 * unit test feeds this frames by hand.
 */
#pragma once

#include <glib.h>

/* As Linux bridges: an address not heard from for 300 s is forgotten. */
#define GV_SWITCH_AGEING_US (300 * G_USEC_PER_SEC)

enum {
	GV_SWITCH_FLOOD = -1, /* send to every port but the one it came from */
	GV_SWITCH_DROP = -2,  /* runt frame, or its destination is where it came from */
};

typedef struct GvSwitchTable GvSwitchTable;

/**
 * gv_switch_table_new() - an empty MAC table
 * @max_entries: addresses learnt at most; beyond, new ones are flooded to
 *               (a guest spraying source MACs cannot grow the switch)
 *
 * Return: (transfer full): the table.
 */
GvSwitchTable *gv_switch_table_new(guint max_entries);
void gv_switch_table_free(GvSwitchTable *t);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(GvSwitchTable, gv_switch_table_free)

/**
 * gv_switch_table_route() - learn from a frame and say where it goes
 * @t: the table
 * @frame: an Ethernet frame (destination MAC, source MAC, ...)
 * @len: its length
 * @in_port: the port it came from (>= 0)
 * @now_us: monotonic time
 *
 * Return: the destination port, GV_SWITCH_FLOOD or GV_SWITCH_DROP.
 */
int gv_switch_table_route(GvSwitchTable *t, const guint8 *frame, gsize len, int in_port,
			  gint64 now_us);

/** gv_switch_table_forget_port() - drop every address learnt on @port (it went away) */
void gv_switch_table_forget_port(GvSwitchTable *t, int port);

/** gv_switch_table_size() - addresses currently known */
guint gv_switch_table_size(GvSwitchTable *t);
