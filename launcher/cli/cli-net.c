/* SPDX-License-Identifier: MIT */
/* cli-net.c - how status, up and ip present a VM's network (see cli-common.h) */
#include "cli/cli-common.h"
#include "net/nic.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

/* The state object is escaped for the terminal already (gv_cli_escape_json()). */
static const char *str(JsonObject *o, const char *name)
{
	return gv_json_string_or(o, name, "");
}

void gv_cli_print_nics(JsonObject *state, const char *indent)
{
	JsonArray *nics = gv_json_array_or_null(state, "nics");
	for (guint i = 0; nics && i < json_array_get_length(nics); i++) {
		JsonObject *n = gv_json_array_object_at(nics, i);
		const char *mode = str(n, "mode");
		g_autoptr(GString) s = g_string_new(NULL);
		if (!strcmp(mode, "user"))
			g_string_append(s, "user-mode");
		else if (!strcmp(mode, "bridge") && gv_json_has(n, "tap"))
			g_string_append_printf(s, "bridge %s, tap %s", str(n, "bridge"), str(n, "tap"));
		else if (!strcmp(mode, "bridge"))
			g_string_append_printf(s, "bridge %s, through qemu-bridge-helper",
					       str(n, "bridge"));
		else
			g_string_append_printf(s, "switch network %s", str(n, "network"));
		g_string_append_printf(s, ", mac %s", str(n, "mac"));
		if (gv_json_has(n, "address"))
			g_string_append_printf(s, ", guest %s", str(n, "address"));
		if (gv_json_has(n, "mtu"))
			g_string_append_printf(s, ", mtu %" G_GINT64_FORMAT,
					       gv_json_int_or(n, "mtu", 0));
		if (gv_json_bool_or(n, "auto-forward", FALSE))
			g_string_append(s, ", auto-forward");
		printf("%snet      %s%s%s\n", indent, *str(n, "id") ? str(n, "id") : "",
		       *str(n, "id") ? ": " : "", s->str);
	}
	JsonArray *fw = gv_json_array_or_null(state, "forwards");
	for (guint i = 0; fw && i < json_array_get_length(fw); i++) {
		JsonObject *f = gv_json_array_object_at(fw, i);
		printf("%sforward  %s %s:%" G_GINT64_FORMAT " -> guest %" G_GINT64_FORMAT " (%s)\n",
		       indent, str(f, "proto"), str(f, "host-addr"),
		       gv_json_int_or(f, "host-port", 0),
		       gv_json_int_or(f, "guest-port", 0), str(f, "origin"));
	}
	JsonArray *ifs = gv_json_array_or_null(state, "interfaces");
	for (guint i = 0; ifs && i < json_array_get_length(ifs); i++) {
		JsonObject *e = gv_json_array_object_at(ifs, i);
		if (!strcmp(str(e, "name"), "lo"))
			continue;
		g_autoptr(GString) s = g_string_new(NULL);
		JsonArray *ips = gv_json_array_or_null(e, "ip-addresses");
		for (guint j = 0; ips && j < json_array_get_length(ips); j++) {
			JsonObject *a = gv_json_array_object_at(ips, j);
			g_string_append_printf(s, " %s/%" G_GINT64_FORMAT, str(a, "ip-address"),
					       gv_json_int_or(a, "prefix", 0));
		}
		printf("%saddress  %s (%s):%s\n", indent, str(e, "name"), str(e, "hardware-address"),
		       s->len ? s->str : " none");
	}
	if (gv_json_has(state, "auto-forward-problem"))
		printf("%snote     auto-forward stopped: %s\n", indent,
		       str(state, "auto-forward-problem"));
	if (json_object_has_member(state, "auto-forward-skipped"))
		printf("%snote     auto-forward skipped %s\n", indent,
		       str(state, "auto-forward-skipped"));
}

/* The first routable address of family @type on interface @e. */
static const char *first_routable(JsonObject *e, const char *type)
{
	JsonArray *ips = gv_json_array_or_null(e, "ip-addresses");
	for (guint j = 0; ips && j < json_array_get_length(ips); j++) {
		JsonObject *a = gv_json_array_object_at(ips, j);
		if (!strcmp(str(a, "ip-address-type"), type) &&
		    gv_net_address_routable(type, str(a, "ip-address")))
			return str(a, "ip-address");
	}
	return NULL;
}

static const char *address_of(JsonArray *ifs, const char *mac)
{
	const char *types[] = { "ipv4", "ipv6" };
	for (gsize t = 0; t < G_N_ELEMENTS(types); t++) {
		for (guint i = 0; i < json_array_get_length(ifs); i++) {
			JsonObject *e = gv_json_array_object_at(ifs, i);
			if (mac && g_ascii_strcasecmp(str(e, "hardware-address"), mac))
				continue;
			const char *a = first_routable(e, types[t]);
			if (a)
				return a;
		}
	}
	return NULL;
}

char *gv_cli_guest_address(JsonObject *state)
{
	JsonArray *ifs = gv_json_array_or_null(state, "interfaces");
	JsonArray *nics = gv_json_array_or_null(state, "nics");
	if (!ifs)
		return NULL;
	/* Bridge and switch NICs first, in spec order; then user-mode ones. */
	for (int pass = 0; pass < 2 && nics; pass++) {
		for (guint i = 0; i < json_array_get_length(nics); i++) {
			JsonObject *n = gv_json_array_object_at(nics, i);
			if ((pass == 0) == !strcmp(str(n, "mode"), "user"))
				continue;
			const char *a = address_of(ifs, str(n, "mac"));
			if (a)
				return g_strdup(a);
		}
	}
	const char *any = address_of(ifs, NULL);
	return any ? g_strdup(any) : NULL;
}
