/* SPDX-License-Identifier: MIT */
/*
 * compress.c - zlib clusters, and the choice of codec
 *
 * qcow2's zlib clusters are raw deflate streams (no zlib header) with a
 * 4 KiB window (windowBits -12): QEMU inflates them with exactly those
 * parameters, so anything larger would not decompress.  memLevel 9 is
 * what QEMU itself uses to compress.
 */
#include "gv-compress.h"

#include <zlib.h>

typedef struct {
	GvCompressor base;
	z_stream strm;
} ZlibCompressor;

static gsize zlib_compress(GvCompressor *c, const guint8 *in, gsize in_len, guint8 *out,
			   gsize out_cap)
{
	ZlibCompressor *z = (ZlibCompressor *)c;

	deflateReset(&z->strm);
	z->strm.next_in = (Bytef *)in;
	z->strm.avail_in = (uInt)in_len;
	z->strm.next_out = out;
	z->strm.avail_out = (uInt)out_cap;
	if (deflate(&z->strm, Z_FINISH) != Z_STREAM_END)
		return 0; /* out of room: store the cluster uncompressed */
	return out_cap - z->strm.avail_out;
}

static void zlib_free(GvCompressor *c)
{
	ZlibCompressor *z = (ZlibCompressor *)c;

	deflateEnd(&z->strm);
	g_free(z);
}

GvCompressor *gv_compressor_new(GvImageCompression type, int level, GError **error)
{
	if (type == GV_IMAGE_COMPRESSION_ZSTD)
		return gv_compressor_zstd_new(level, error);
	g_return_val_if_fail(type == GV_IMAGE_COMPRESSION_ZLIB, NULL);
	if (level < 0 || level > 9) {
		g_set_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_INVALID,
			    "zlib compression level %d outside 1..9", level);
		return NULL;
	}

	ZlibCompressor *z = g_new0(ZlibCompressor, 1);
	z->base.compress = zlib_compress;
	z->base.free = zlib_free;
	if (deflateInit2(&z->strm, level ? level : Z_DEFAULT_COMPRESSION, Z_DEFLATED, -12, 9,
			 Z_DEFAULT_STRATEGY) != Z_OK) {
		g_free(z);
		g_set_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_IO, "cannot set up zlib");
		return NULL;
	}
	return &z->base;
}
