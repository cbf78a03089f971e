/* SPDX-License-Identifier: MIT */
/*
 * compress-zstd.c - zstd clusters
 *
 * One complete frame per cluster: QEMU decompresses a cluster by
 * streaming until it has a full cluster and then insists that the frame
 * has ended, and the bytes after the frame may belong to the next
 * compressed cluster.  The context is reused (QEMU 7.2 creates one per
 * cluster).
 *
 * Level 1 by default, not zstd's 3: the codec is nearly all of the time,
 * and on 64 KiB clusters of an ext4 image of /usr/lib (4.9 GB of files)
 * level 1 was 1.35x faster than level 3 for output 3.2% larger (1.83 vs
 * 1.77 GB); see bench/image-convert.sh.  --level 3 gives qemu-img's size.
 */
#define DEFAULT_LEVEL 1
#include "gv-compress.h"

#include <zstd.h>

typedef struct {
	GvCompressor base;
	ZSTD_CCtx *cctx;
	int level;
} ZstdCompressor;

static gsize zstd_compress(GvCompressor *c, const guint8 *in, gsize in_len, guint8 *out,
			   gsize out_cap)
{
	ZstdCompressor *z = (ZstdCompressor *)c;
	size_t n = ZSTD_compressCCtx(z->cctx, out, out_cap, in, in_len, z->level);

	return ZSTD_isError(n) ? 0 : n;
}

static void zstd_free(GvCompressor *c)
{
	ZstdCompressor *z = (ZstdCompressor *)c;

	ZSTD_freeCCtx(z->cctx);
	g_free(z);
}

GvCompressor *gv_compressor_zstd_new(int level, GError **error)
{
	if (level < 0 || level > ZSTD_maxCLevel()) {
		g_set_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_INVALID,
			    "zstd compression level %d outside 1..%d", level, ZSTD_maxCLevel());
		return NULL;
	}
	ZstdCompressor *z = g_new0(ZstdCompressor, 1);
	z->base.compress = zstd_compress;
	z->base.free = zstd_free;
	z->level = level ? level : DEFAULT_LEVEL;
	z->cctx = ZSTD_createCCtx();
	if (!z->cctx) {
		g_free(z);
		g_set_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_IO, "cannot set up zstd");
		return NULL;
	}
	return &z->base;
}
