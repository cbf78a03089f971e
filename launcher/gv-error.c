/* SPDX-License-Identifier: MIT */
/* gv-error.c - GV_ERROR and the one mapping from errors to exit codes */
#include "gv-error.h"

#include <gio/gio.h>

#include "grainvm-image.h"
#include "grainvm-qmp.h"

G_DEFINE_QUARK(grainvm-error-quark, gv_error)

int gv_exit_code_for(const GError *error)
{
	if (!error)
		return GV_EXIT_OK;
	if (error->domain == GV_ERROR) {
		switch ((GvErrorCode)error->code) {
		case GV_ERROR_INVALID:
			return GV_EXIT_INVALID;
		case GV_ERROR_STATE:
			return GV_EXIT_STATE;
		case GV_ERROR_TIMEOUT:
			return GV_EXIT_TIMEOUT;
		case GV_ERROR_FAILED:
			return GV_EXIT_FAILED;
		}
		return GV_EXIT_FAILED;
	}
	if (error->domain == G_OPTION_ERROR || error->domain == G_KEY_FILE_ERROR)
		return GV_EXIT_INVALID;
	if (error->domain == GV_IMAGE_ERROR)
		return gv_image_error_is_bad_input(error) ? GV_EXIT_INVALID : GV_EXIT_FAILED;
	if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT) ||
	    g_error_matches(error, GV_QMP_ERROR, GV_QMP_ERROR_TIMEOUT))
		return GV_EXIT_TIMEOUT;
	return GV_EXIT_FAILED;
}

void gv_prefix_error(GError **error, const char *fmt, ...)
{
	if (!error || !*error)
		return;
	va_list ap;
	va_start(ap, fmt);
	g_autofree char *prefix = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	g_prefix_error(error, "%s: ", prefix);
}
