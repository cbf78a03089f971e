/* SPDX-License-Identifier: MIT */
/*
 * net.c - static IPv4 configuration with the classic ioctls
 *
 * The initramfs has no ip(8) or DHCP client, and netlink would be more
 * code for the same result: one address, one default route.
 */
#include "net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

/* virtio_net's probe registers the netdev within milliseconds of the
 * module load under TCG; 2 s is a generous bound. */
#define NET_WAIT_MS 2000

static void set_sin(struct sockaddr *sa, struct in_addr a)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr = a };

	memcpy(sa, &sin, sizeof(sin));
}

static int if_up(int s, const char *ifname)
{
	struct ifreq ifr = { 0 };

	if (strlen(ifname) >= IFNAMSIZ)
		return -EINVAL;
	memcpy(ifr.ifr_name, ifname, strlen(ifname));
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		return -errno;
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		return -errno;
	return 0;
}

int net_up_loopback(void)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int rc;

	if (s < 0)
		return -errno;
	rc = if_up(s, "lo");
	close(s);
	return rc;
}

int net_configure(const char *spec)
{
	char buf[256], *ifname, *addr, *slash, *gw = NULL, *dns = NULL, *c;
	struct in_addr a, mask, g;
	struct ifreq ifr = { 0 };
	long prefix;
	int s, rc = 0;

	if (snprintf(buf, sizeof(buf), "%s", spec) >= (int)sizeof(buf))
		return -EINVAL;
	ifname = buf;
	c = strchr(ifname, ':');
	if (!c || c == ifname || (size_t)(c - ifname) >= IFNAMSIZ)
		return -EINVAL;
	*c = '\0';
	addr = c + 1;
	c = strchr(addr, ':');
	if (c) {
		*c = '\0';
		gw = c + 1;
		c = strchr(gw, ':');
		if (c) {
			*c = '\0';
			dns = c + 1;
		}
	}
	slash = strchr(addr, '/');
	if (!slash)
		return -EINVAL;
	*slash = '\0';
	prefix = strtol(slash + 1, &c, 10);
	if (*c || prefix < 0 || prefix > 32 || inet_pton(AF_INET, addr, &a) != 1)
		return -EINVAL;
	mask.s_addr = htonl(prefix ? ~0u << (32 - prefix) : 0);
	if (gw && *gw && inet_pton(AF_INET, gw, &g) != 1)
		return -EINVAL;

	for (int64_t end = now_ms() + NET_WAIT_MS; !if_nametoindex(ifname);) {
		if (now_ms() >= end)
			return -ENODEV;
		nanosleep(&(struct timespec){ .tv_nsec = 20 * 1000 * 1000 }, NULL);
	}
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	memcpy(ifr.ifr_name, ifname, strlen(ifname));  /* < IFNAMSIZ, checked */
	set_sin(&ifr.ifr_addr, a);
	if (ioctl(s, SIOCSIFADDR, &ifr) < 0)
		goto fail;
	set_sin(&ifr.ifr_netmask, mask);
	if (ioctl(s, SIOCSIFNETMASK, &ifr) < 0)
		goto fail;
	rc = if_up(s, ifname);
	if (rc < 0)
		goto out;
	if (gw && *gw) {
		struct rtentry rt = { 0 };
		set_sin(&rt.rt_dst, (struct in_addr){ 0 });
		set_sin(&rt.rt_genmask, (struct in_addr){ 0 });
		set_sin(&rt.rt_gateway, g);
		rt.rt_flags = RTF_UP | RTF_GATEWAY;
		rt.rt_dev = ifname;
		if (ioctl(s, SIOCADDRT, &rt) < 0 && errno != EEXIST)
			goto fail;
	}
	if (dns && *dns) {
		char text[128];
		struct in_addr d;
		if (inet_pton(AF_INET, dns, &d) != 1) {
			rc = -EINVAL;
			goto out;
		}
		mkdir_p("/etc", 0755);
		snprintf(text, sizeof(text), "nameserver %s\n", dns);
		rc = write_file("/etc/resolv.conf", text);
	}
	goto out;
fail:
	rc = -errno;
out:
	close(s);
	return rc;
}
