/* SPDX-License-Identifier: MIT */
/*
 * fuzz-spec.c - libFuzzer target: arbitrary bytes as grainvm.conf
 *
 * The input becomes a project's grainvm.conf (in a private directory on
 * tmpfs when available); loading it must either succeed or fail with a
 * GV_ERROR_INVALID naming the file, never crash or leak.
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "gv-error.h"
#include "boot/spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char *dir, *conf;
	if (!dir) {
		const char *base = g_file_test("/dev/shm", G_FILE_TEST_IS_DIR) ? "/dev/shm" : g_get_tmp_dir();
		dir = g_strdup_printf("%s/gv-fuzz-spec-%d", base, (int)getpid());
		g_mkdir_with_parents(dir, 0700);
		conf = g_build_filename(dir, "grainvm.conf", NULL);
	}
	if (!g_file_set_contents(conf, (const char *)data, (gssize)size, NULL))
		return 0;
	GError *err = NULL;
	GvSpec *spec = gv_spec_load(dir, NULL, NULL, dir, &err);
	if (spec) {
		char *text = gv_spec_to_data(spec, TRUE);
		g_free(text);
		gv_spec_free(spec);
	} else {
		if (!err || err->domain != GV_ERROR || !strstr(err->message, "grainvm.conf"))
			__builtin_trap();
		g_error_free(err);
	}
	return 0;
}
