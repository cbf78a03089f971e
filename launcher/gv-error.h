/* SPDX-License-Identifier: MIT */
/*
 * gv-error.h - the launcher's error domain and the exit codes it maps to
 *
 * docs/errors.md is the contract; this header is its code.  Every failure
 * in the launcher is a GError; the CLI turns it into one line on stderr and
 * one exit code, in gv_exit_code_for() and nowhere else.
 */
#pragma once

#include <glib.h>

#define GV_ERROR (gv_error_quark())
GQuark gv_error_quark(void);

typedef enum {
	GV_ERROR_FAILED,   /* the operation failed (exit 1) */
	GV_ERROR_INVALID,  /* bad input; nothing was done (exit 2) */
	GV_ERROR_STATE,    /* the VM is in the wrong state (exit 3) */
	GV_ERROR_TIMEOUT,  /* gave up waiting (exit 4) */
} GvErrorCode;

enum {
	GV_EXIT_OK = 0,
	GV_EXIT_FAILED = 1,
	GV_EXIT_INVALID = 2,
	GV_EXIT_STATE = 3,
	GV_EXIT_TIMEOUT = 4,
	GV_EXIT_EXEC_FAILED = 125,
};

/**
 * gv_exit_code_for() - the exit code docs/errors.md gives for an error
 * @error: a failure from any domain the launcher sees
 *
 * Return: GV_EXIT_*; errors from other domains count as GV_EXIT_FAILED,
 * except G_OPTION_ERROR (usage, exit 2) and timeouts (exit 4).
 */
int gv_exit_code_for(const GError *error);

/**
 * gv_prefix_error() - prepend "WHAT: " to an error's message, if set
 * @error: (nullable): the error to amend
 * @fmt: printf format of the prefix (without the ": ")
 */
void gv_prefix_error(GError **error, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
