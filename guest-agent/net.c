/* SPDX-License-Identifier: MIT */
/*
 * net.c - static IPv4 configuration with the classic ioctls
 *
 * The initramfs has no ip(8) or DHCP client, and netlink would be more
 * code for the same result: one address per NIC, one default route.  The
 * launcher names NICs by MAC address, because the kernel's eth0, eth1...
 * follow probe order, which the launcher does not control.
 */
#include "net.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <stdbool.h>
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

/* "52-54-00-12-34-56" into "52:54:00:12:34:56"; 0, or -EINVAL for anything else. */
static int mac_arg(const char *s, char out[18])
{
	if (strlen(s) != 17)
		return -EINVAL;
	for (int i = 0; i < 17; i++) {
		bool sep = i % 3 == 2;
		if (sep ? s[i] != '-' : !((s[i] >= '0' && s[i] <= '9') ||
					  (s[i] >= 'a' && s[i] <= 'f') ||
					  (s[i] >= 'A' && s[i] <= 'F')))
			return -EINVAL;
		out[i] = sep ? ':' : (char)(s[i] | 0x20); /* sysfs prints lower case */
	}
	out[17] = '\0';
	return 0;
}

/* The interface whose address is @mac, into @name (IFNAMSIZ bytes); 0 or -ENODEV. */
static int ifname_by_mac(const char *mac, char *name)
{
	DIR *d = opendir("/sys/class/net");
	struct dirent *de;
	int rc = -ENODEV;

	if (!d)
		return -ENODEV;
	while ((de = readdir(d)) && rc < 0) {
		char path[300], addr[32];
		if (de->d_name[0] == '.' || strlen(de->d_name) >= IFNAMSIZ)
			continue;
		snprintf(path, sizeof(path), "/sys/class/net/%s/address", de->d_name);
		if (read_file(path, addr, sizeof(addr)) > 0 && strcmp(trim(addr), mac) == 0) {
			memcpy(name, de->d_name, strlen(de->d_name) + 1);
			rc = 0;
		}
	}
	closedir(d);
	return rc;
}

/* "52:54:00:12:34:56" in either case into lower case; 0 or -EINVAL. */
static int mac_colon(const char *s, char out[18])
{
	char dashed[18];

	if (strlen(s) != 17)
		return -EINVAL;
	for (int i = 0; i < 17; i++)
		dashed[i] = i % 3 == 2 ? (s[i] == ':' ? '-' : '?') : s[i];
	dashed[17] = '\0';
	return mac_arg(dashed, out);
}

int net_set_mac(const char *from, const char *to)
{
	char old[18], new[18], ifname[IFNAMSIZ];
	struct ifreq ifr = { 0 };
	int s, rc = 0;

	if (mac_colon(from, old) < 0 || mac_colon(to, new) < 0)
		return -EINVAL;
	if (ifname_by_mac(new, ifname) == 0)
		return 0;
	if (ifname_by_mac(old, ifname) < 0)
		return -ENODEV;
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	memcpy(ifr.ifr_name, ifname, strlen(ifname));  /* < IFNAMSIZ: from sysfs */
	ifr.ifr_hwaddr.sa_family = 1;  /* ARPHRD_ETHER */
	for (int i = 0; i < 6; i++)
		ifr.ifr_hwaddr.sa_data[i] = (char)strtoul(new + 3 * i, NULL, 16);
	if (ioctl(s, SIOCSIFHWADDR, &ifr) < 0)
		rc = -errno;
	close(s);
	return rc;
}

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
	static bool resolv_written;  /* the first DNS replaces the file, later ones add */
	char buf[256], *ifname, *addr, *slash, *gw = NULL, *dns = NULL, *mtu = NULL, *c;
	char mac[18], byname[IFNAMSIZ];
	struct in_addr a, mask, g;
	struct ifreq ifr = { 0 };
	long prefix;
	int s, rc = 0;

	if (snprintf(buf, sizeof(buf), "%s", spec) >= (int)sizeof(buf))
		return -EINVAL;
	ifname = buf;
	c = strchr(ifname, ':');
	if (!c || c == ifname)
		return -EINVAL;
	*c = '\0';
	bool by_mac = mac_arg(ifname, mac) == 0;
	if (!by_mac && strlen(ifname) >= IFNAMSIZ)
		return -EINVAL;
	addr = c + 1;
	c = strchr(addr, ':');
	if (c) {
		*c = '\0';
		gw = c + 1;
		c = strchr(gw, ':');
		if (c) {
			*c = '\0';
			dns = c + 1;
			c = strchr(dns, ':');
			if (c) {
				*c = '\0';
				mtu = c + 1;
			}
		}
	}
	long mtu_v = 0;
	if (mtu) {
		mtu_v = strtol(mtu, &c, 10);
		if (*c || mtu_v < 68 || mtu_v > 65535)
			return -EINVAL;
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

	for (int64_t end = now_ms() + NET_WAIT_MS;;) {
		if (by_mac ? ifname_by_mac(mac, byname) == 0 : if_nametoindex(ifname) != 0)
			break;
		if (now_ms() >= end)
			return -ENODEV;
		nanosleep(&(struct timespec){ .tv_nsec = 20 * 1000 * 1000 }, NULL);
	}
	if (by_mac)
		ifname = byname;
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
	if (mtu_v) {
		ifr.ifr_mtu = (int)mtu_v;
		if (ioctl(s, SIOCSIFMTU, &ifr) < 0)
			goto fail;
	}
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
		if (!resolv_written) {
			rc = write_file("/etc/resolv.conf", text);
		} else {
			int fd = open("/etc/resolv.conf", O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
			rc = fd < 0 ? -errno : write_all(fd, text, strlen(text));
			if (fd >= 0)
				close(fd);
		}
		resolv_written = rc == 0;
	}
	goto out;
fail:
	rc = -errno;
out:
	close(s);
	return rc;
}
