/* SPDX-License-Identifier: MIT */
/* privdrop.c - the sandbox switch for benchmarks (see privdrop.h) */
#include "privdrop.h"

gboolean gv_bench_no_sandbox(void)
{
	return !g_strcmp0(g_getenv("GRAINVM_BENCH_NO_SANDBOX"), "1");
}
