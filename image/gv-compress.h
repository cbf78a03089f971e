/* SPDX-License-Identifier: MIT */
/*
 * gv-compress.h - one-cluster compressors for qcow2
 *
 * Each worker thread owns one compressor: the codec contexts are reused
 * from cluster to cluster (a fresh zstd context per 64 KiB cluster costs
 * about as much as compressing it), and never shared between threads.
 */
#pragma once

#include <glib.h>

#include "grainvm-image.h"

G_BEGIN_DECLS

typedef struct GvCompressor GvCompressor;
struct GvCompressor {
	/*
	 * Compress @in into @out.  Return: the compressed length, or 0 when
	 * it does not fit in @out_cap bytes (the cluster is then stored
	 * uncompressed).
	 */
	gsize (*compress)(GvCompressor *c, const guint8 *in, gsize in_len, guint8 *out,
			  gsize out_cap);
	void (*free)(GvCompressor *c);
};

/**
 * gv_compressor_new() - a compressor for qcow2 clusters
 * @type: GV_IMAGE_COMPRESSION_ZLIB (raw deflate, 4 KiB window, as the
 *        qcow2 spec requires) or GV_IMAGE_COMPRESSION_ZSTD (one complete
 *        frame per cluster)
 * @level: codec level, 0 for the codec's default
 * @error: GV_IMAGE_ERROR_UNSUPPORTED when built without zstd,
 *         GV_IMAGE_ERROR_INVALID for a level out of range
 *
 * Return: (transfer full): the compressor; free with c->free(c).
 */
GvCompressor *gv_compressor_new(GvImageCompression type, int level, GError **error);

/* Implemented in compress-zstd.c, or compress-nozstd.c without libzstd. */
GvCompressor *gv_compressor_zstd_new(int level, GError **error);

G_END_DECLS
