/* SPDX-License-Identifier: MIT */
/*
 * accel.h - use KVM only when KVM can really run a guest
 *
 * /dev/kvm existing, and even QMP's query-kvm saying "enabled", prove
 * nothing: on a nested host without VMX a KVM guest spins after "Probing
 * EDD" or stops with "KVM internal error" (seen on our test hosts).  So
 * accel=auto boots a small multiboot payload under -accel kvm that
 * writes to isa-debug-exit; QEMU exiting with status 67 within the probe's
 * time limit is the only proof accepted (finishing late is no proof: see
 * GV_ACCEL_PROBE_TIMEOUT_MS).  The verdict is cached per host
 * boot and QEMU binary.
 */
#pragma once

#include <glib.h>

#include "boot/spec.h"

/*
 * Measured here: the probe (QEMU start, SeaBIOS, the payload) exits in
 * 0.11 s under TCG, but takes 2.7 s under this host's /dev/kvm, which
 * emulates rather than virtualises: the same KVM never gets the Debian
 * kernel past "Probing EDD".  Working KVM is faster than TCG, so a KVM that
 * cannot finish in 1.5 s is no use even if it would finish eventually.
 */
#define GV_ACCEL_PROBE_TIMEOUT_MS 1500

/**
 * gv_accel_probe_payload() - the multiboot probe kernel
 * @len: (out): its size
 *
 * Return: (transfer none): static bytes.
 */
const guint8 *gv_accel_probe_payload(gsize *len);

/**
 * gv_accel_probe() - boot the probe payload under one accelerator
 * @qemu: the QEMU binary
 * @accel: "kvm" or "tcg"
 * @scratch_dir: where to write the payload file
 * @timeout_ms: give up (and kill QEMU) after this long
 * @why: (out) (optional): on FALSE, one line saying what happened
 *
 * Return: TRUE when the payload ran to its exit under @accel.
 */
gboolean gv_accel_probe(const char *qemu, const char *accel, const char *scratch_dir,
			guint timeout_ms, char **why);

/**
 * gv_accel_decide() - pick the accelerator for a VM
 * @wanted: the spec's accel
 * @qemu: the QEMU binary
 * @cache_dir: where the verdict is cached
 * @reason: (out): one line for the user: why this accelerator
 * @error: accel=kvm when KVM cannot run a guest (GV_ERROR_FAILED)
 *
 * Return: GV_ACCEL_KVM or GV_ACCEL_TCG; GV_ACCEL_AUTO with @error set.
 */
GvAccel gv_accel_decide(GvAccel wanted, const char *qemu, const char *cache_dir,
			char **reason, GError **error);
