/* SPDX-License-Identifier: MIT */
/* switch-core.c - MAC learning and forwarding decisions (see switch-core.h) */
#include "net/switch-core.h"

#include <string.h>

typedef struct {
	gint64 mac;   /* the key: 48 bits in a 64-bit integer */
	int port;
	gint64 seen_us;
} Entry;

struct GvSwitchTable {
	GHashTable *entries; /* &Entry.mac -> Entry* */
	guint max;
};

#define ETH_HLEN 14

GvSwitchTable *gv_switch_table_new(guint max_entries)
{
	GvSwitchTable *t = g_new0(GvSwitchTable, 1);
	t->entries = g_hash_table_new_full(g_int64_hash, g_int64_equal, NULL, g_free);
	t->max = max_entries;
	return t;
}

void gv_switch_table_free(GvSwitchTable *t)
{
	if (!t)
		return;
	g_hash_table_unref(t->entries);
	g_free(t);
}

static gint64 mac_key(const guint8 *m)
{
	gint64 k = 0;
	for (int i = 0; i < 6; i++)
		k = (k << 8) | m[i];
	return k;
}

int gv_switch_table_route(GvSwitchTable *t, const guint8 *frame, gsize len, int in_port,
			  gint64 now_us)
{
	if (len < ETH_HLEN)
		return GV_SWITCH_DROP;
	const guint8 *dst = frame, *src = frame + 6;

	/* Learn: unicast, non-zero sources only (a multicast source is forged). */
	gint64 sk = mac_key(src);
	if (!(src[0] & 1) && sk) {
		Entry *e = g_hash_table_lookup(t->entries, &sk);
		if (e) {
			e->port = in_port;
			e->seen_us = now_us;
		} else if (g_hash_table_size(t->entries) < t->max) {
			e = g_new(Entry, 1);
			e->mac = sk;
			e->port = in_port;
			e->seen_us = now_us;
			g_hash_table_insert(t->entries, &e->mac, e);
		}
	}

	if (dst[0] & 1)
		return GV_SWITCH_FLOOD; /* broadcast or multicast */
	gint64 dk = mac_key(dst);
	Entry *e = g_hash_table_lookup(t->entries, &dk);
	if (!e)
		return GV_SWITCH_FLOOD;
	if (now_us - e->seen_us > GV_SWITCH_AGEING_US) {
		g_hash_table_remove(t->entries, &dk);
		return GV_SWITCH_FLOOD;
	}
	return e->port == in_port ? GV_SWITCH_DROP : e->port;
}

static gboolean on_port(gpointer key, gpointer value, gpointer data)
{
	return ((Entry *)value)->port == GPOINTER_TO_INT(data);
}

void gv_switch_table_forget_port(GvSwitchTable *t, int port)
{
	g_hash_table_foreach_remove(t->entries, on_port, GINT_TO_POINTER(port));
}

guint gv_switch_table_size(GvSwitchTable *t)
{
	return g_hash_table_size(t->entries);
}
