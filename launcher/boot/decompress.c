/* SPDX-License-Identifier: MIT */
/*
 * decompress.c - gzip, xz and zstd into memory, chosen by magic bytes
 *
 * Used for the kernel's compressed payload and for .ko.xz / .ko.zst
 * modules.  Trailing bytes after the compressed stream are ignored: the
 * kernel appends the uncompressed size after its payload.
 */
#include "boot/decompress.h"

#include <string.h>

#include <zlib.h>

#include "gv-config.h"

#if GV_HAVE_LZMA
#include <lzma.h>
#endif
#if GV_HAVE_ZSTD
#include <zstd.h>
#endif


static gboolean inflate_gzip(const guint8 *in, gsize len, GByteArray *out, char **why)
{
	z_stream zs = { 0 };
	/* 16 + MAX_WBITS: expect a gzip wrapper. */
	if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) {
		*why = g_strdup("zlib init failed");
		return FALSE;
	}
	zs.next_in = (Bytef *)in;
	zs.avail_in = (uInt)len;
	int rc = Z_OK;
	while (rc == Z_OK) {
		if (out->len >= GV_DECOMPRESS_MAX)
			break;
		guint old = out->len;
		g_byte_array_set_size(out, old + (1u << 20));
		zs.next_out = out->data + old;
		zs.avail_out = 1u << 20;
		rc = inflate(&zs, Z_NO_FLUSH);
		g_byte_array_set_size(out, out->len - zs.avail_out);
	}
	inflateEnd(&zs);
	if (rc != Z_STREAM_END) {
		*why = g_strdup_printf("gzip data did not decompress (zlib %d)", rc);
		return FALSE;
	}
	return TRUE;
}

#if GV_HAVE_LZMA
static gboolean inflate_xz(const guint8 *in, gsize len, GByteArray *out, char **why)
{
	lzma_stream ls = LZMA_STREAM_INIT;
	if (lzma_stream_decoder(&ls, UINT64_MAX, 0) != LZMA_OK) {
		*why = g_strdup("liblzma init failed");
		return FALSE;
	}
	ls.next_in = in;
	ls.avail_in = len;
	lzma_ret rc = LZMA_OK;
	while (rc == LZMA_OK && out->len < GV_DECOMPRESS_MAX) {
		guint old = out->len;
		g_byte_array_set_size(out, old + (1u << 20));
		ls.next_out = out->data + old;
		ls.avail_out = 1u << 20;
		/* LZMA_FINISH: all input is here; the kernel appends a size word after the stream. */
		rc = lzma_code(&ls, LZMA_FINISH);
		g_byte_array_set_size(out, out->len - ls.avail_out);
	}
	lzma_end(&ls);
	if (rc != LZMA_STREAM_END) {
		*why = g_strdup_printf("xz data did not decompress (liblzma %d)", rc);
		return FALSE;
	}
	return TRUE;
}
#endif

#if GV_HAVE_ZSTD
static gboolean inflate_zstd(const guint8 *in, gsize len, GByteArray *out, char **why)
{
	ZSTD_DStream *ds = ZSTD_createDStream();
	ZSTD_inBuffer ib = { in, len, 0 };
	size_t rc = 1;
	while (rc != 0 && out->len < GV_DECOMPRESS_MAX) {
		guint old = out->len;
		g_byte_array_set_size(out, old + (1u << 20));
		ZSTD_outBuffer ob = { out->data + old, 1u << 20, 0 };
		rc = ZSTD_decompressStream(ds, &ob, &ib);
		g_byte_array_set_size(out, old + (guint)ob.pos);
		if (ZSTD_isError(rc) || (ib.pos == ib.size && ob.pos == 0 && rc != 0))
			break;
	}
	ZSTD_freeDStream(ds);
	if (rc != 0) {
		*why = g_strdup_printf("zstd data did not decompress (%s)",
				       ZSTD_isError(rc) ? ZSTD_getErrorName(rc) : "truncated");
		return FALSE;
	}
	return TRUE;
}
#endif

gboolean gv_decompress(const guint8 *p, gsize len, GByteArray *out, char **why)
{
	if (len >= 2 && p[0] == 0x1f && p[1] == 0x8b)
		return inflate_gzip(p, len, out, why);
	if (len >= 6 && !memcmp(p, "\xfd" "7zXZ\0", 6)) {
#if GV_HAVE_LZMA
		return inflate_xz(p, len, out, why);
#else
		*why = g_strdup("xz-compressed data and grainvm was built without liblzma");
		return FALSE;
#endif
	}
	if (len >= 4 && !memcmp(p, "\x28\xb5\x2f\xfd", 4)) {
#if GV_HAVE_ZSTD
		return inflate_zstd(p, len, out, why);
#else
		*why = g_strdup("zstd-compressed data and grainvm was built without libzstd");
		return FALSE;
#endif
	}
	*why = g_strdup_printf("compression (magic %02x %02x) is not gzip, xz or zstd",
			       p[0], p[1]);
	return FALSE;
}

gboolean gv_is_compressed(const guint8 *p, gsize len)
{
	return (len >= 2 && p[0] == 0x1f && p[1] == 0x8b) ||
	       (len >= 6 && !memcmp(p, "\xfd" "7zXZ\0", 6)) ||
	       (len >= 4 && !memcmp(p, "\x28\xb5\x2f\xfd", 4));
}
