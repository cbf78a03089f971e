/* SPDX-License-Identifier: MIT */
/*
 * test-net.c - the pure parts of networking: tap names, the bridge
 * helper's ACL, switch address leases, the switch's MAC learning; and the
 * host port check against real sockets on loopback
 */
#include <glib.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gv-error.h"
#include "net/switch-net.h"
#include "net/nic.h"
#include "net/switch-core.h"

static void test_tap_names(void)
{
	g_autofree char *a = gv_tap_name("vm1", 0);
	g_autofree char *b = gv_tap_name("vm1", 2);
	g_assert_cmpstr(a, ==, "gv-vm1");
	g_assert_cmpstr(b, ==, "gv-vm1-2");
	/* Long names are cut and hashed: still under IFNAMSIZ, still distinct. */
	g_autofree char *l1 = gv_tap_name("a-very-long-vm-name-one", 0);
	g_autofree char *l2 = gv_tap_name("a-very-long-vm-name-two", 0);
	g_autofree char *l3 = gv_tap_name("a-very-long-vm-name-one", 3);
	g_assert_cmpuint(strlen(l1), <, IFNAMSIZ);
	g_assert_cmpuint(strlen(l3), <, IFNAMSIZ);
	g_assert_cmpstr(l1, !=, l2);
	g_assert_true(g_str_has_prefix(l1, "gv-a-very"));
	g_assert_true(g_str_has_suffix(l3, "-3"));
	g_autofree char *l1b = gv_tap_name("a-very-long-vm-name-one", 0);
	g_assert_cmpstr(l1, ==, l1b);
	/* Exactly 15 fits as is. */
	g_autofree char *e = gv_tap_name("abcdefghijkl", 0);
	g_assert_cmpstr(e, ==, "gv-abcdefghijkl");
}

static char *fake_include(const char *path, gpointer data)
{
	if (!strcmp(path, "/etc/qemu/lab.conf"))
		return g_strdup("allow lab0\n");
	if (!strcmp(path, "/etc/qemu/loop.conf"))
		return g_strdup("include /etc/qemu/loop.conf\n");
	return NULL;
}

static void test_bridge_acl(void)
{
	g_assert_cmpint(gv_bridge_acl("", "br0", NULL, NULL), ==, GV_ACL_DENIED);
	g_assert_cmpint(gv_bridge_acl("allow br0\n", "br0", NULL, NULL), ==, GV_ACL_ALLOWED);
	g_assert_cmpint(gv_bridge_acl("allow br1\n", "br0", NULL, NULL), ==, GV_ACL_DENIED);
	g_assert_cmpint(gv_bridge_acl("# c\n  allow   all  \n", "br0", NULL, NULL), ==,
			GV_ACL_ALLOWED);
	/* A deny anywhere wins over any allow, as in qemu-bridge-helper. */
	g_assert_cmpint(gv_bridge_acl("allow all\ndeny br0\n", "br0", NULL, NULL), ==,
			GV_ACL_DENIED);
	g_assert_cmpint(gv_bridge_acl("deny all\nallow br0\n", "br0", NULL, NULL), ==,
			GV_ACL_DENIED);
	g_assert_cmpint(gv_bridge_acl("include /etc/qemu/lab.conf\n", "lab0", fake_include, NULL),
			==, GV_ACL_ALLOWED);
	/* An include we cannot read might allow it: do not claim it is denied. */
	g_assert_cmpint(gv_bridge_acl("include /etc/qemu/secret.conf\n", "br0", fake_include, NULL),
			==, GV_ACL_UNKNOWN);
	g_assert_cmpint(gv_bridge_acl("include /etc/qemu/secret.conf\nallow br0\n", "br0",
				      fake_include, NULL), ==, GV_ACL_ALLOWED);
	/* Include loops end (depth-limited). */
	g_assert_cmpint(gv_bridge_acl("include /etc/qemu/loop.conf\n", "br0", fake_include, NULL),
			==, GV_ACL_UNKNOWN);
}

static gboolean running_set(const char *vm, gpointer data)
{
	return g_strv_contains(data, vm);
}

static void test_leases(void)
{
	g_autofree char *t1 = NULL, *t2 = NULL, *t3 = NULL, *t4 = NULL;
	g_autofree char *a = gv_network_pick(NULL, "vm1", NULL, NULL, &t1);
	g_assert_cmpstr(a, ==, "10.0.2.15");
	g_assert_cmpstr(t1, ==, "vm1 10.0.2.15\n");
	g_autofree char *b = gv_network_pick(t1, "vm2", NULL, NULL, &t2);
	g_assert_cmpstr(b, ==, "10.0.2.16");
	/* A VM keeps its lease; nothing changes. */
	g_autofree char *a2 = gv_network_pick(t2, "vm1", NULL, NULL, &t3);
	g_assert_cmpstr(a2, ==, "10.0.2.15");
	g_assert_cmpstr(t3, ==, t2);
	/* Garbage, out-of-range addresses, bad names and double leases are dropped. */
	g_autofree char *c = gv_network_pick("junk\nvm3 10.0.2.200\n-bad 10.0.2.17\n"
					     "vm1 10.0.2.15\nvm1 10.0.2.18\nvm4 10.0.2.15\n",
					     "vm5", NULL, NULL, &t4);
	g_assert_cmpstr(c, ==, "10.0.2.16");
	g_assert_cmpstr(t4, ==, "vm1 10.0.2.15\nvm5 10.0.2.16\n");

	/* Full: a VM that is not running gives its address up; if all run, none. */
	GString *full = g_string_new(NULL);
	for (int h = GV_SWITCH_LEASE_FIRST; h <= GV_SWITCH_LEASE_LAST; h++)
		g_string_append_printf(full, "v%d 10.0.2.%d\n", h, h);
	const char *all_but_v20[GV_SWITCH_LEASE_LAST + 2] = { 0 };
	int k = 0;
	char *names[GV_SWITCH_LEASE_LAST + 1] = { 0 };
	for (int h = GV_SWITCH_LEASE_FIRST; h <= GV_SWITCH_LEASE_LAST; h++) {
		names[h] = g_strdup_printf("v%d", h);
		if (h != 20)
			all_but_v20[k++] = names[h];
	}
	g_autofree char *t5 = NULL;
	g_autofree char *d = gv_network_pick(full->str, "new", running_set, all_but_v20, &t5);
	g_assert_cmpstr(d, ==, "10.0.2.20");
	g_assert_nonnull(strstr(t5, "new 10.0.2.20\n"));
	g_assert_null(strstr(t5, "v20 "));
	all_but_v20[k++] = names[20];
	g_autofree char *t6 = NULL;
	g_autofree char *e = gv_network_pick(full->str, "new", running_set, all_but_v20, &t6);
	g_assert_null(e);
	g_string_free(full, TRUE);
	for (int h = 0; h <= GV_SWITCH_LEASE_LAST; h++)
		g_free(names[h]);
}

static void frame(guint8 *f, const char *dst, const char *src)
{
	unsigned d[6], s[6];
	g_assert_cmpint(sscanf(dst, "%x:%x:%x:%x:%x:%x", &d[0], &d[1], &d[2], &d[3], &d[4], &d[5]),
			==, 6);
	g_assert_cmpint(sscanf(src, "%x:%x:%x:%x:%x:%x", &s[0], &s[1], &s[2], &s[3], &s[4], &s[5]),
			==, 6);
	for (int i = 0; i < 6; i++) {
		f[i] = (guint8)d[i];
		f[6 + i] = (guint8)s[i];
	}
	f[12] = 0x08;
	f[13] = 0x00;
}

static void test_switch_table(void)
{
	g_autoptr(GvSwitchTable) t = gv_switch_table_new(3);
	guint8 f[60] = { 0 };
	const char *A = "52:54:00:00:00:0a", *B = "52:54:00:00:00:0b", *BC = "ff:ff:ff:ff:ff:ff";
	gint64 now = 1000;

	/* Unknown destination and broadcast flood; the sources are learnt. */
	frame(f, B, A);
	g_assert_cmpint(gv_switch_table_route(t, f, sizeof(f), 1, now), ==, GV_SWITCH_FLOOD);
	frame(f, BC, B);
	g_assert_cmpint(gv_switch_table_route(t, f, sizeof(f), 2, now), ==, GV_SWITCH_FLOOD);
	frame(f, A, B);
	g_assert_cmpint(gv_switch_table_route(t, f, sizeof(f), 2, now), ==, 1);
	frame(f, B, A);
	g_assert_cmpint(gv_switch_table_route(t, f, sizeof(f), 1, now), ==, 2);
	/* To where it came from: dropped.  Too short: dropped. */
	frame(f, A, B);
	g_assert_cmpint(gv_switch_table_route(t, f, sizeof(f), 1, now), ==, GV_SWITCH_DROP);
	g_assert_cmpint(gv_switch_table_route(t, f, 13, 1, now), ==, GV_SWITCH_DROP);
	/* B moved to port 1 with that frame; A is still on 1 -> drop; B answers from 3. */
	frame(f, A, B);
	g_assert_cmpint(gv_switch_table_route(t, f, sizeof(f), 3, now), ==, 1);
	frame(f, B, A);
	g_assert_cmpint(gv_switch_table_route(t, f, sizeof(f), 1, now), ==, 3);
	/* Multicast sources are not learnt. */
	frame(f, A, "53:54:00:00:00:0c");
	gv_switch_table_route(t, f, sizeof(f), 4, now);
	g_assert_cmpuint(gv_switch_table_size(t), ==, 2);
	/* Bounded: a third learns, a fourth does not (and is flooded to). */
	frame(f, A, "52:54:00:00:00:0c");
	gv_switch_table_route(t, f, sizeof(f), 4, now);
	frame(f, A, "52:54:00:00:00:0d");
	gv_switch_table_route(t, f, sizeof(f), 5, now);
	g_assert_cmpuint(gv_switch_table_size(t), ==, 3);
	frame(f, "52:54:00:00:00:0d", A);
	g_assert_cmpint(gv_switch_table_route(t, f, sizeof(f), 1, now), ==, GV_SWITCH_FLOOD);
	/* A port that goes is forgotten; old entries age out. */
	gv_switch_table_forget_port(t, 4);
	g_assert_cmpuint(gv_switch_table_size(t), ==, 2);
	frame(f, B, A);
	g_assert_cmpint(gv_switch_table_route(t, f, sizeof(f), 1, now + GV_SWITCH_AGEING_US + 1),
			==, GV_SWITCH_FLOOD);
}

/* Which guest ports auto-forward takes: 1024 up unless allowed, and a cap. */
static void test_auto_forward_refusal(void)
{
	g_assert_null(gv_auto_forward_refusal(8080, FALSE, 0, 64));
	g_assert_null(gv_auto_forward_refusal(1024, FALSE, 0, 64));
	const char *why = gv_auto_forward_refusal(22, FALSE, 0, 64);
	g_assert_nonnull(why);
	g_assert_nonnull(strstr(why, "auto-forward-privileged=true"));
	g_assert_nonnull(gv_auto_forward_refusal(1023, FALSE, 0, 64));
	g_assert_nonnull(gv_auto_forward_refusal(1, FALSE, 0, 64));
	g_assert_null(gv_auto_forward_refusal(22, TRUE, 0, 64));
	/* The cap counts what is already automatic. */
	g_assert_null(gv_auto_forward_refusal(8080, FALSE, 63, 64));
	why = gv_auto_forward_refusal(8080, FALSE, 64, 64);
	g_assert_nonnull(why);
	g_assert_nonnull(strstr(why, "auto-forward-max"));
	g_assert_nonnull(gv_auto_forward_refusal(22, TRUE, 1, 1));
}

static void test_port_free(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	g_assert_cmpint(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
	g_assert_cmpint(listen(fd, 1), ==, 0);
	g_assert_cmpint(getsockname(fd, (struct sockaddr *)&sa, &len), ==, 0);
	GvForward f = { .proto = "tcp", .host_addr = (char *)"127.0.0.1",
			.host_port = ntohs(sa.sin_port), .guest_port = 80 };
	g_autoptr(GError) err = NULL;
	g_assert_false(gv_host_port_free(&f, &err));
	g_assert_error(err, GV_ERROR, GV_ERROR_INVALID);
	g_assert_nonnull(strstr(err->message, "is in use"));
	g_clear_error(&err);
	/* The same port number over UDP is another port. */
	GvForward u = f;
	g_strlcpy(u.proto, "udp", sizeof(u.proto));
	g_assert_true(gv_host_port_free(&u, &err));
	close(fd);
	g_assert_true(gv_host_port_free(&f, &err));
	g_assert_no_error(err);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/net/tap-names", test_tap_names);
	g_test_add_func("/net/bridge-acl", test_bridge_acl);
	g_test_add_func("/net/leases", test_leases);
	g_test_add_func("/net/switch-table", test_switch_table);
	g_test_add_func("/net/port-free", test_port_free);
	g_test_add_func("/net/auto-forward-refusal", test_auto_forward_refusal);
	return g_test_run();
}
