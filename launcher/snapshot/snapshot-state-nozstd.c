/* SPDX-License-Identifier: MIT */
/* snapshot-state-nozstd.c - state files when grainvm is built without libzstd: refused */
#include "snapshot/snapshot-state.h"

#include "gv-error.h"

static gboolean no_zstd(GError **error)
{
	g_set_error_literal(error, GV_ERROR, GV_ERROR_INVALID,
			    "snapshots need libzstd and this grainvm was built without it "
			    "(install libzstd-dev and rebuild)");
	return FALSE;
}

gboolean gv_state_save(int in_fd, const char *path, guint64 *raw_bytes, guint64 *file_bytes,
		       GError **error)
{
	return no_zstd(error);
}

gboolean gv_state_load(const char *path, int out_fd, guint64 *raw_bytes, GError **error)
{
	return no_zstd(error);
}
