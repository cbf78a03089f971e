/* SPDX-License-Identifier: MIT */
/*
 * fuzz-qcow2-header.c - libFuzzer target for gv_qcow2_header_parse()
 *
 * The header of an image is the first thing grainvm reads from a file a
 * user (or a guest, through an overlay it wrote) controls.  The parser must
 * never read outside the buffer (ASan), never overflow (UBSan), and every
 * header it accepts must satisfy the invariants the rest of the library
 * relies on, which are asserted here; the names it yields also go
 * through the chain rules and the terminal escape (gv-chain.h).  Seeds in fuzz-seeds/ are the first
 * 4 KiB of images made by qemu-img create (plain, 512 B and 2 MiB
 * clusters, qcow2 and raw backing, zstd, v2, extended L2, lazy refcounts,
 * external data file, an internal snapshot).
 */
#include <stdint.h>
#include <string.h>

#include "grainvm-image.h"
#include "gv-chain.h"
#include "gv-qcow2.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	GvQcow2Header h;
	GError *error = NULL;

	if (!gv_qcow2_header_parse(data, size, &h, &error)) {
		/* Every rejection explains itself in a known domain. */
		g_assert_nonnull(error);
		g_assert_true(error->domain == GV_IMAGE_ERROR);
		g_assert_true(error->message[0] != '\0');
		g_error_free(error);
		return 0;
	}
	g_assert_null(error);
	g_assert_true(h.version == 2 || h.version == 3);
	g_assert_cmpuint(h.cluster_bits, >=, GV_QCOW2_MIN_CLUSTER_BITS);
	g_assert_cmpuint(h.cluster_bits, <=, GV_QCOW2_MAX_CLUSTER_BITS);
	g_assert_cmpuint(h.header_length, <=, size);
	g_assert_cmpuint(gv_qcow2_l1_entries(h.size, h.cluster_bits), <=, h.l1_size);
	g_assert_cmpuint(h.l1_size, <=, GV_QCOW2_MAX_L1_ENTRIES);
	g_assert_cmpuint(h.refcount_table_offset, <, GV_QCOW2_MAX_HOST_OFFSET);
	g_assert_cmpuint(strlen(h.backing_file), <=, GV_QCOW2_MAX_BACKING_NAME);
	g_assert_cmpuint(strlen(h.backing_file), ==, h.backing_file_size);
	g_assert_cmpuint(strlen(h.backing_format), <=, GV_QCOW2_MAX_FORMAT_NAME);

	/*
	 * The names a header holds go on to the chain rules and, escaped, to
	 * the terminal: neither may crash, and nothing escaped may keep a
	 * control byte.
	 */
	const char *names[] = { h.backing_file, h.backing_format, h.data_file };
	for (gsize i = 0; i < G_N_ELEMENTS(names); i++) {
		if (names[i][0])
			(void)gv_chain_ref_classify(names[i]);
		char *shown = gv_term_escape(names[i], NULL);
		for (const char *p = shown; *p; p++)
			g_assert_true((guint8)*p >= 0x20 && *p != 0x7f);
		g_free(shown);
	}

	/* A v3 header we accept must survive our own writer unchanged. */
	if (h.version == 3) {
		gsize cs = (gsize)1 << h.cluster_bits;
		guint8 *buf = g_malloc0(cs);
		GvQcow2Header again;

		h.data_file[0] = '\0';
		h.incompatible_features &= ~(guint64)GV_QCOW2_INCOMPAT_DATA_FILE;
		if (gv_qcow2_header_serialize(&h, buf, cs, NULL)) {
			g_assert_true(gv_qcow2_header_parse(buf, cs, &again, NULL));
			g_assert_cmpuint(again.size, ==, h.size);
			g_assert_cmpuint(again.l1_size, ==, h.l1_size);
			g_assert_cmpstr(again.backing_file, ==, h.backing_file);
			g_assert_cmpstr(again.backing_format, ==, h.backing_format);
		}
		g_free(buf);
	}
	return 0;
}
