/* SPDX-License-Identifier: MIT */
/*
 * commands.c - the command table and the commands that need no module
 * of their own
 *
 * The table is indexed by enum cmd_id and checked with _Static_assert, so
 * a command added to the enum but not to the table (or the other way
 * round) does not build.  guest-info lists the table, so every command
 * the agent runs is advertised and nothing else is.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "build.h"
#include "exec.h"
#include "mounts.h"
#include "power.h"
#include "quiesce.h"
#include "util.h"

enum cmd_id {
	CMD_GUEST_SYNC_DELIMITED,
	CMD_GUEST_SYNC,
	CMD_GUEST_PING,
	CMD_GUEST_INFO,
	CMD_GUEST_SHUTDOWN,
	CMD_GUEST_FILE_OPEN,
	CMD_GUEST_FILE_CLOSE,
	CMD_GUEST_FILE_READ,
	CMD_GUEST_FILE_WRITE,
	CMD_GUEST_FILE_SEEK,
	CMD_GUEST_FILE_FLUSH,
	CMD_GUEST_EXEC,
	CMD_GUEST_EXEC_STATUS,
	CMD_GUEST_GET_OSINFO,
	CMD_GUEST_GET_FSINFO,
	CMD_GUEST_NETWORK_GET_INTERFACES,
	CMD_GUEST_GET_TIME,
	CMD_GRAIN_STATUS,
	CMD_GRAIN_EXEC_START,
	CMD_GRAIN_EXEC_INPUT,
	CMD_GRAIN_EXEC_SIGNAL,
	CMD_GRAIN_EXEC_RESIZE,
	CMD_GRAIN_BUILD_START,
	CMD_GRAIN_BUILD_STATUS,
	CMD_GRAIN_BUILD_ATTACH,
	CMD_GRAIN_LISTENERS,
	CMD_GRAIN_QUIESCE,
	CMD_GRAIN_THAW,
	CMD_GRAIN_MOUNT,
	CMD__COUNT
};

const struct command agent_commands[] = {
	[CMD_GUEST_SYNC_DELIMITED] = { "guest-sync-delimited", cmd_guest_sync_delimited, true },
	[CMD_GUEST_SYNC] = { "guest-sync", cmd_guest_sync, true },
	[CMD_GUEST_PING] = { "guest-ping", cmd_guest_ping, true },
	[CMD_GUEST_INFO] = { "guest-info", cmd_guest_info, true },
	/* qemu-ga: no reply when the shutdown is under way */
	[CMD_GUEST_SHUTDOWN] = { "guest-shutdown", cmd_guest_shutdown, false },
	[CMD_GUEST_FILE_OPEN] = { "guest-file-open", cmd_guest_file_open, true },
	[CMD_GUEST_FILE_CLOSE] = { "guest-file-close", cmd_guest_file_close, true },
	[CMD_GUEST_FILE_READ] = { "guest-file-read", cmd_guest_file_read, true },
	[CMD_GUEST_FILE_WRITE] = { "guest-file-write", cmd_guest_file_write, true },
	[CMD_GUEST_FILE_SEEK] = { "guest-file-seek", cmd_guest_file_seek, true },
	[CMD_GUEST_FILE_FLUSH] = { "guest-file-flush", cmd_guest_file_flush, true },
	[CMD_GUEST_EXEC] = { "guest-exec", cmd_guest_exec, true },
	[CMD_GUEST_EXEC_STATUS] = { "guest-exec-status", cmd_guest_exec_status, true },
	[CMD_GUEST_GET_OSINFO] = { "guest-get-osinfo", cmd_guest_get_osinfo, true },
	[CMD_GUEST_GET_FSINFO] = { "guest-get-fsinfo", cmd_guest_get_fsinfo, true },
	[CMD_GUEST_NETWORK_GET_INTERFACES] = { "guest-network-get-interfaces",
					       cmd_guest_network_get_interfaces, true },
	[CMD_GUEST_GET_TIME] = { "guest-get-time", cmd_guest_get_time, true },
	[CMD_GRAIN_STATUS] = { "grain-status", cmd_grain_status, true },
	[CMD_GRAIN_EXEC_START] = { "grain-exec-start", cmd_grain_exec_start, true },
	[CMD_GRAIN_EXEC_INPUT] = { "grain-exec-input", cmd_grain_exec_input, true },
	[CMD_GRAIN_EXEC_SIGNAL] = { "grain-exec-signal", cmd_grain_exec_signal, true },
	[CMD_GRAIN_EXEC_RESIZE] = { "grain-exec-resize", cmd_grain_exec_resize, true },
	[CMD_GRAIN_BUILD_START] = { "grain-build-start", cmd_grain_build_start, true },
	[CMD_GRAIN_BUILD_STATUS] = { "grain-build-status", cmd_grain_build_status, true },
	[CMD_GRAIN_BUILD_ATTACH] = { "grain-build-attach", cmd_grain_build_attach, true },
	[CMD_GRAIN_LISTENERS] = { "grain-listeners", cmd_grain_listeners, true },
	[CMD_GRAIN_QUIESCE] = { "grain-quiesce", cmd_grain_quiesce, true },
	[CMD_GRAIN_THAW] = { "grain-thaw", cmd_grain_thaw, true },
	[CMD_GRAIN_MOUNT] = { "grain-mount", cmd_grain_mount, true },
};
_Static_assert(ARRAY_SIZE(agent_commands) == CMD__COUNT,
	       "agent_commands[] must have one entry per enum cmd_id");
const size_t agent_ncommands = CMD__COUNT;

static const struct arg_spec sync_spec[] = {
	{ "id", ARG_INT, false },
};

int cmd_guest_sync(struct req *r)
{
	if (req_check_args(r, sync_spec, ARRAY_SIZE(sync_spec)) < 0)
		return -1;
	jw_value(r->w, req_arg(r, "id"));
	return 0;
}

int cmd_guest_sync_delimited(struct req *r)
{
	if (cmd_guest_sync(r) < 0)
		return -1;
	r->delimited = true;
	return 0;
}

int cmd_guest_ping(struct req *r)
{
	if (req_check_args(r, NULL, 0) < 0)
		return -1;
	jw_obj_open(r->w);
	jw_obj_close(r->w);
	return 0;
}

int cmd_guest_info(struct req *r)
{
	struct jw *w = r->w;

	if (req_check_args(r, NULL, 0) < 0)
		return -1;
	jw_obj_open(w);
	jw_kstr(w, "version", GV_AGENT_VERSION);
	jw_key(w, "supported_commands");
	jw_arr_open(w);
	for (size_t i = 0; i < agent_ncommands; i++) {
		jw_obj_open(w);
		jw_kbool(w, "enabled", true);
		jw_kstr(w, "name", agent_commands[i].name);
		jw_kbool(w, "success-response", agent_commands[i].success_response);
		jw_obj_close(w);
	}
	jw_arr_close(w);
	jw_obj_close(w);
	return 0;
}

int cmd_guest_shutdown(struct req *r)
{
	static const struct arg_spec spec[] = {
		{ "mode", ARG_STR, true },
	};
	int mode, rc;

	if (req_check_args(r, spec, ARRAY_SIZE(spec)) < 0)
		return -1;
	mode = power_parse_mode(req_str(r, "mode", "powerdown"));
	if (mode < 0)
		return req_error(r, "GenericError",
				 "mode is invalid (valid values are: halt|powerdown|reboot)");
	rc = power_request((enum power_mode)mode);
	if (rc == -ECHILD)
		return req_error(r, "GenericError", "child process has failed to shutdown");
	if (rc < 0)
		return req_error(r, "GenericError", "failed to execute shutdown: %s",
				 strerror(-rc));
	return 0;
}

void grain_status_members(struct jw *w)
{
	char up[64] = "", host[256] = "";

	read_file("/proc/uptime", up, sizeof(up));
	gethostname(host, sizeof(host) - 1);
	jw_kstr(w, "agent", "grainvm-agent");
	jw_kstr(w, "version", GV_AGENT_VERSION);
	jw_kbool(w, "init", agent_init_mode);
	jw_kbool(w, "ready", mounts_ready());
	jw_kdouble(w, "uptime", strtod(up, NULL));
	jw_kstr(w, "hostname", host);
	jw_kbool(w, "quiesced", quiesce_active());
	jw_key(w, "mounts");
	mounts_write_status(w);
}

int cmd_grain_status(struct req *r)
{
	if (req_check_args(r, NULL, 0) < 0)
		return -1;
	jw_obj_open(r->w);
	grain_status_members(r->w);
	jw_obj_close(r->w);
	return 0;
}
