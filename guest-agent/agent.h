/* SPDX-License-Identifier: MIT */
/*
 * agent.h - state shared between the agent's modules, and the command
 * handlers they provide to the dispatch table in commands.c
 */
#ifndef GRAINVM_AGENT_AGENT_H
#define GRAINVM_AGENT_AGENT_H

#include <stdbool.h>
#include <stddef.h>

#include "proto.h"

/* true when the agent is PID 1 (or --init): it owns the whole guest. */
extern bool agent_init_mode;

/* Where the agent keeps files (the build log): /run/grainvm, or
 * --state-dir. */
extern const char *agent_state_dir;

/* The command table (commands.c). */
extern const struct command agent_commands[];
extern const size_t agent_ncommands;

/* commands.c */
int cmd_guest_sync(struct req *r);
int cmd_guest_sync_delimited(struct req *r);
int cmd_guest_ping(struct req *r);
int cmd_guest_info(struct req *r);
int cmd_guest_shutdown(struct req *r);
int cmd_grain_status(struct req *r);
/* The members of grain-status's object, for commands that return it too. */
void grain_status_members(struct jw *w);

/* file.c */
int cmd_guest_file_open(struct req *r);
int cmd_guest_file_close(struct req *r);
int cmd_guest_file_read(struct req *r);
int cmd_guest_file_write(struct req *r);
int cmd_guest_file_seek(struct req *r);
int cmd_guest_file_flush(struct req *r);

/* info.c */
int cmd_guest_get_osinfo(struct req *r);
int cmd_guest_get_fsinfo(struct req *r);
int cmd_guest_network_get_interfaces(struct req *r);
int cmd_guest_get_time(struct req *r);

/* listeners.c */
int cmd_grain_listeners(struct req *r);

/* mounts.c */
int cmd_grain_mount(struct req *r);

#endif
