/* SPDX-License-Identifier: MIT */
/*
 * orphan.h - which process is a VM's QEMU, and stopping one nobody supervises
 *
 * A pid file alone names a process number, which the kernel reuses: after
 * a reboot or a long uptime qemu.pid may name another VM's QEMU or any
 * process at all.  So the supervisor records beside it (qemu.start) the
 * start time the kernel gives the process (/proc/PID/stat field 22, in
 * clock ticks since boot), and a pid counts as the VM's QEMU only while
 * a process with that number and that start time lives.  `up` (adoption,
 * and cleanup after a supervisor that died mid-up) and `down` (an orphan)
 * match it the same way, through gv_vm_qemu_find().
 *
 * An orphan, a QEMU whose supervisor died, still listens on its QMP socket
 * (a server chardev accepts the next client when the previous one went),
 * so it is stopped the way the supervisor would: ACPI power button, then
 * QMP quit, and SIGKILL only when QMP does not end it.
 */
#pragma once

#include <glib.h>

#include "paths.h"

/**
 * gv_proc_start_time() - when process @pid started
 * @pid: the process
 *
 * Return: /proc/PID/stat's starttime (clock ticks since boot), 0 when
 * there is no such process.
 */
guint64 gv_proc_start_time(int pid);

/**
 * gv_vm_qemu_record() - write qemu.start and qemu.pid for a QEMU just spawned
 * @paths: the VM
 * @pid: QEMU's pid
 * @error: return location
 */
gboolean gv_vm_qemu_record(const GvVmPaths *paths, int pid, GError **error);

/**
 * gv_vm_qemu_find() - the VM's QEMU, if it still runs
 * @paths: the VM
 *
 * Reads qemu.pid and qemu.start; the pid counts only while a process of
 * that number started at the recorded time.  (Without qemu.start, from an
 * older grainvm, it must have "-name NAME " in its command line.)
 *
 * Return: the pid, or 0.
 */
int gv_vm_qemu_find(const GvVmPaths *paths);

/**
 * gv_vm_stop_orphan() - stop a QEMU no supervisor watches, and wait for its end
 * @paths: the VM
 * @pid: from gv_vm_qemu_find()
 * @powerdown_s: seconds for the guest to power off after system_powerdown;
 *               0 skips it (a guest that never got ready answers nobody)
 * @how: (out) (optional): what ended it: "guest powered off (ACPI power
 *       button)", "QEMU quit over QMP" or "killed with SIGKILL"
 * @error: GV_ERROR_TIMEOUT when even SIGKILL did not end it
 *
 * Returns only once the process is gone (a pidfd says so), so that files
 * it had open may be removed afterwards.
 *
 * Return: TRUE when QEMU is gone.
 */
gboolean gv_vm_stop_orphan(const GvVmPaths *paths, int pid, guint powerdown_s,
			   const char **how, GError **error);

/** gv_pid_alive() - TRUE when @pid runs and its /proc/PID/cmdline contains @needle */
gboolean gv_pid_alive(int pid, const char *needle);
