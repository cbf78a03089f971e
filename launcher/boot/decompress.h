/* SPDX-License-Identifier: MIT */
/* decompress.h - one call for the compressions kernels and modules use */
#pragma once

#include <glib.h>

/* Cap on output: the uncompressed x86-64 kernel is ~66 MB. */
#define GV_DECOMPRESS_MAX (512u * 1024 * 1024)

/**
 * gv_decompress() - decompress gzip, xz or zstd data, found by its magic
 * @p: the compressed bytes
 * @len: their number
 * @out: receives the output (appended)
 * @why: (out): on failure, a one-line reason (transfer full)
 *
 * Return: TRUE when a whole stream decompressed within GV_DECOMPRESS_MAX.
 */
gboolean gv_decompress(const guint8 *p, gsize len, GByteArray *out, char **why);

/** gv_is_compressed() - TRUE when @p starts with a gzip, xz or zstd magic */
gboolean gv_is_compressed(const guint8 *p, gsize len);
