/* SPDX-License-Identifier: MIT */
/*
 * info.c - qemu-ga's read-only queries: guest-get-osinfo,
 * guest-get-fsinfo, guest-network-get-interfaces, guest-get-time
 *
 * Same member names as qemu-ga's schema (qga/qapi-schema.json); members
 * the agent cannot know are left out, as qemu-ga does for optional ones.
 */
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <time.h>

#include "agent.h"
#include "mounts.h"
#include "util.h"

/* os-release: KEY=value, value optionally quoted with shell escapes. */
static void os_release_value(char *v)
{
	char q = *v, *w = v;

	if (q != '"' && q != '\'') {
		trim(v);
		return;
	}
	for (char *r = v + 1; *r && *r != q; r++) {
		if (q == '"' && *r == '\\' && r[1])
			r++;
		*w++ = *r;
	}
	*w = '\0';
}

int cmd_guest_get_osinfo(struct req *r)
{
	static const struct {
		const char *key, *member;
	} fields[] = {
		{ "ID", "id" },
		{ "NAME", "name" },
		{ "PRETTY_NAME", "pretty-name" },
		{ "VERSION", "version" },
		{ "VERSION_ID", "version-id" },
		{ "VARIANT", "variant" },
		{ "VARIANT_ID", "variant-id" },
	};
	struct jw *w = r->w;
	struct utsname u;
	char *text = NULL, *save = NULL;

	if (req_check_args(r, NULL, 0) < 0)
		return -1;
	jw_obj_open(w);
	if (uname(&u) == 0) {
		jw_kstr(w, "kernel-release", u.release);
		jw_kstr(w, "kernel-version", u.version);
		jw_kstr(w, "machine", u.machine);
	}
	if (read_file_alloc("/etc/os-release", 64 << 10, &text) < 0 &&
	    read_file_alloc("/usr/lib/os-release", 64 << 10, &text) < 0)
		text = NULL;
	for (char *l = text ? strtok_r(text, "\n", &save) : NULL; l;
	     l = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(l, '=');
		if (!eq)
			continue;
		*eq = '\0';
		for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
			if (strcmp(l, fields[i].key) == 0) {
				os_release_value(eq + 1);
				jw_kstr(w, fields[i].member, eq + 1);
			}
		}
	}
	free(text);
	jw_obj_close(w);
	return 0;
}

/* Kernel-internal file systems: not something a host wants to see. */
static bool pseudo_fs(const char *t)
{
	static const char *const names[] = {
		"proc", "sysfs", "devtmpfs", "devpts", "securityfs", "cgroup",
		"cgroup2", "pstore", "bpf", "debugfs", "tracefs", "mqueue",
		"hugetlbfs", "configfs", "fusectl", "autofs", "binfmt_misc",
		"efivarfs", "rpc_pipefs", "nsfs", "rootfs", "ramfs",
	};

	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (strcmp(t, names[i]) == 0)
			return true;
	return false;
}

static int fsinfo_cb(const struct mnt_entry *e, void *opaque)
{
	struct jw *w = opaque;
	struct statvfs sv;
	const char *name = e->source;

	if (pseudo_fs(e->fstype))
		return 0;
	if (strncmp(name, "/dev/", 5) == 0)
		name += 5;
	jw_obj_open(w);
	jw_kstr(w, "name", name);
	jw_kstr(w, "mountpoint", e->mount_point);
	jw_kstr(w, "type", e->fstype);
	if (statvfs(e->mount_point, &sv) == 0 && sv.f_blocks) {
		jw_kint(w, "used-bytes", (int64_t)((sv.f_blocks - sv.f_bfree) * sv.f_frsize));
		jw_kint(w, "total-bytes", (int64_t)(sv.f_blocks * sv.f_frsize));
	}
	/* qemu-ga's disk addresses (PCI controller, bus, unit) are not
	 * resolved; the list is required by the schema and stays empty. */
	jw_key(w, "disk");
	jw_arr_open(w);
	jw_arr_close(w);
	jw_obj_close(w);
	return 0;
}

int cmd_guest_get_fsinfo(struct req *r)
{
	int rc;

	if (req_check_args(r, NULL, 0) < 0)
		return -1;
	jw_arr_open(r->w);
	rc = mountinfo_foreach(fsinfo_cb, r->w);
	jw_arr_close(r->w);
	if (rc < 0)
		return req_error(r, "GenericError", "cannot read mountinfo: %s", strerror(-rc));
	return 0;
}

static int prefix_len(const struct sockaddr *mask)
{
	const unsigned char *b;
	size_t n;
	int bits = 0;

	if (!mask)
		return 0;
	if (mask->sa_family == AF_INET) {
		b = (const unsigned char *)&((const struct sockaddr_in *)mask)->sin_addr;
		n = 4;
	} else {
		b = (const unsigned char *)&((const struct sockaddr_in6 *)mask)->sin6_addr;
		n = 16;
	}
	for (size_t i = 0; i < n; i++)
		bits += __builtin_popcount(b[i]);
	return bits;
}

static void write_stats(struct jw *w, const char *ifname)
{
	static const struct {
		const char *file, *member;
	} stats[] = {
		{ "rx_bytes", "rx-bytes" },     { "rx_packets", "rx-packets" },
		{ "rx_errors", "rx-errs" },     { "rx_dropped", "rx-dropped" },
		{ "tx_bytes", "tx-bytes" },     { "tx_packets", "tx-packets" },
		{ "tx_errors", "tx-errs" },     { "tx_dropped", "tx-dropped" },
	};
	char path[128], val[32];

	jw_key(w, "statistics");
	jw_obj_open(w);
	for (size_t i = 0; i < ARRAY_SIZE(stats); i++) {
		snprintf(path, sizeof(path), "/sys/class/net/%s/statistics/%s", ifname,
			 stats[i].file);
		jw_kint(w, stats[i].member, read_file(path, val, sizeof(val)) > 0
						    ? strtoll(val, NULL, 10) : 0);
	}
	jw_obj_close(w);
}

int cmd_guest_network_get_interfaces(struct req *r)
{
	struct ifaddrs *ifa;
	struct jw *w = r->w;

	if (req_check_args(r, NULL, 0) < 0)
		return -1;
	if (getifaddrs(&ifa) < 0)
		return req_error(r, "GenericError", "getifaddrs failed: %s", strerror(errno));
	jw_arr_open(w);
	/* One entry per interface name, in first-seen order. */
	for (struct ifaddrs *i = ifa; i; i = i->ifa_next) {
		bool first = true;
		for (struct ifaddrs *p = ifa; p != i; p = p->ifa_next)
			if (strcmp(p->ifa_name, i->ifa_name) == 0)
				first = false;
		if (!first)
			continue;
		char path[128], mac[64];
		jw_obj_open(w);
		jw_kstr(w, "name", i->ifa_name);
		snprintf(path, sizeof(path), "/sys/class/net/%s/address", i->ifa_name);
		if (read_file(path, mac, sizeof(mac)) > 0)
			jw_kstr(w, "hardware-address", trim(mac));
		jw_key(w, "ip-addresses");
		jw_arr_open(w);
		for (struct ifaddrs *a = i; a; a = a->ifa_next) {
			char txt[INET6_ADDRSTRLEN];
			const void *addr;
			int fam;
			if (strcmp(a->ifa_name, i->ifa_name) || !a->ifa_addr)
				continue;
			fam = a->ifa_addr->sa_family;
			if (fam == AF_INET)
				addr = &((struct sockaddr_in *)a->ifa_addr)->sin_addr;
			else if (fam == AF_INET6)
				addr = &((struct sockaddr_in6 *)a->ifa_addr)->sin6_addr;
			else
				continue;
			if (!inet_ntop(fam, addr, txt, sizeof(txt)))
				continue;
			jw_obj_open(w);
			jw_kstr(w, "ip-address-type", fam == AF_INET ? "ipv4" : "ipv6");
			jw_kstr(w, "ip-address", txt);
			jw_kint(w, "prefix", prefix_len(a->ifa_netmask));
			jw_obj_close(w);
		}
		jw_arr_close(w);
		write_stats(w, i->ifa_name);
		jw_obj_close(w);
	}
	jw_arr_close(w);
	freeifaddrs(ifa);
	return 0;
}

int cmd_guest_get_time(struct req *r)
{
	struct timespec ts;

	if (req_check_args(r, NULL, 0) < 0)
		return -1;
	clock_gettime(CLOCK_REALTIME, &ts);
	jw_int(r->w, (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec);
	return 0;
}
