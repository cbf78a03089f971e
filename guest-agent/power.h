/* SPDX-License-Identifier: MIT */
/*
 * power.h - power-off, halt and reboot; the ACPI power button
 */
#ifndef GRAINVM_AGENT_POWER_H
#define GRAINVM_AGENT_POWER_H

enum power_mode {
	POWER_OFF,
	POWER_HALT,
	POWER_REBOOT,
};

/**
 * power_parse_mode() - guest-shutdown's "mode" argument
 * @s: "powerdown", "halt" or "reboot"
 *
 * Return: the mode, or -EINVAL.
 */
int power_parse_mode(const char *s);

/**
 * power_request() - shut down the guest
 * @mode: how
 *
 * Init mode: schedules the PID 1 sequence (terminate and kill every
 * process, sync, unmount, reboot(2)) to run from the main loop once the
 * current request is done; it does not return from there.  Service mode:
 * runs /sbin/shutdown like qemu-ga and waits for it.
 *
 * Return: 0, or -errno / -ECHILD (shutdown failed) in service mode.
 */
int power_request(enum power_mode mode);

/**
 * power_final() - the PID 1 shutdown sequence; never returns
 * @mode: how
 */
void power_final(enum power_mode mode) __attribute__((noreturn));

/**
 * power_button_start() - watch every "Power Button" input device
 *
 * Pressing it (QMP system_powerdown) runs power_final(POWER_OFF).
 *
 * Return: number of devices watched.
 */
int power_button_start(void);

#endif
