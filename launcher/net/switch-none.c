/* SPDX-License-Identifier: MIT */
/* switch-none.c - gv_switch_run() for builds without libslirp */
#include "net/switch.h"

#include "gv-error.h"

gboolean gv_switch_run(const char *name, int ready_fd, GError **error)
{
	g_set_error(error, GV_ERROR, GV_ERROR_INVALID,
		    "network %s: this grainvm was built without libslirp, so it has no switch",
		    name);
	return FALSE;
}
