/* SPDX-License-Identifier: MIT */
/*
 * build.h - the one long-running build of grain-build-*
 */
#ifndef GRAINVM_AGENT_BUILD_H
#define GRAINVM_AGENT_BUILD_H

#include "proto.h"

/* The log is STATE_DIR/build.log (agent_state_dir, --state-dir). */
#define BUILD_LOG_NAME "build.log"
/* The log lives in tmpfs, i.e. guest RAM: stop writing it past this. */
#define BUILD_LOG_MAX (256u << 20)
/* Last bytes of output kept in memory for grain-build-status. */
#define BUILD_TAIL_MAX (64u << 10)

/*
 * What grain-build-start runs when the host gives no "command" (run as
 * /bin/sh -c CMD) and no "cwd": --build-command and --build-cwd, or NULL.
 */
extern const char *build_default_command;
extern const char *build_default_cwd;

/**
 * build_init() - register the build's streaming hook with the loop
 *
 * Return: 0, or -ENOSPC.
 */
int build_init(void);

int cmd_grain_build_start(struct req *r);
int cmd_grain_build_status(struct req *r);
int cmd_grain_build_attach(struct req *r);

#endif
