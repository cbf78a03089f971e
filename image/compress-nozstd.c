/* SPDX-License-Identifier: MIT */
/*
 * compress-nozstd.c - stand-in when grainvm is built without libzstd
 */
#include "gv-compress.h"

GvCompressor *gv_compressor_zstd_new(int level, GError **error)
{
	g_set_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_UNSUPPORTED,
		    "zstd compression is not available: grainvm was built without libzstd");
	return NULL;
}
