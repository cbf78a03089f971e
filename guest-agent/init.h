/* SPDX-License-Identifier: MIT */
/*
 * init.h - PID 1 duties (see docs/guest-init.md for the contract with
 * the launcher that builds the initramfs)
 */
#ifndef GRAINVM_AGENT_INIT_H
#define GRAINVM_AGENT_INIT_H

/**
 * init_boot() - bring the minimal system up, in the contract's order
 *
 * Mount the API file systems, load /etc/grainvm/modules, apply the
 * grainvm.* kernel parameters (hostname, 9p shares, network), wait for
 * the virtio ports and link them under /dev/virtio-ports, watch the
 * power button and start the console shell.  Problems are printed on the
 * console and skipped: a guest without its share is still reachable and
 * reports the error through grain-status.
 */
void init_boot(void);

#endif
