/* SPDX-License-Identifier: MIT */
/*
 * net.h - static network configuration from grainvm.net= (init mode)
 */
#ifndef GRAINVM_AGENT_NET_H
#define GRAINVM_AGENT_NET_H

/* grainvm.net= is repeatable: one per NIC, at most this many are kept. */
#define NET_MAX 8

/**
 * net_configure() - give one interface a static address
 * @spec: "IFACE:ADDR/PREFIX:GATEWAY[:DNS[:MTU]]"; IFACE is an interface
 *        name or a MAC address written with '-' ("52-54-00-12-34-56"),
 *        the NIC that has it; GATEWAY may be empty (no default route);
 *        DNS (may be empty) is written to /etc/resolv.conf (the first call
 *        replaces the file, later ones add a line); MTU, 68-65535, is set
 *        before the interface goes up
 *
 * Waits up to NET_WAIT_MS for IFACE to appear: virtio_net registers the
 * interface from its probe, shortly after the module is loaded.
 *
 * Return: 0, or -errno (-EINVAL for a malformed spec).
 */
int net_configure(const char *spec);

/**
 * net_set_mac() - give the NIC that has MAC @from the address @to
 * @from: "52:54:00:12:34:56" (either case)
 * @to: the new MAC, same form
 *
 * A clone's NICs come with its template's MACs (the migrated virtio-net
 * state); the host asks for its own.  Done already (a NIC has @to) is
 * success, so a repeated grain-thaw is harmless.  virtio_net changes the
 * address of a running interface (IFF_LIVE_ADDR_CHANGE), telling QEMU
 * through its control queue, so addresses and routes stay.
 *
 * Return: 0, -EINVAL (malformed), -ENODEV (no NIC has @from), or -errno.
 */
int net_set_mac(const char *from, const char *to);

/* Bring up lo; the kernel gives it 127.0.0.1/8 by itself. */
int net_up_loopback(void);

#endif
