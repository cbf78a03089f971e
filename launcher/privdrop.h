/* SPDX-License-Identifier: MIT */
/*
 * privdrop.h - what the processes grainvm starts may do
 *
 * QEMU runs under its own seccomp sandbox (argv.c).  The bench switch
 * GRAINVM_BENCH_NO_SANDBOX=1 turns that off so bench/up-to-ready can
 * measure what it costs in one run; it is for measurements only.
 */
#pragma once

#include <glib.h>

/** gv_bench_no_sandbox() - TRUE when GRAINVM_BENCH_NO_SANDBOX=1 asks for QEMU without its sandbox */
gboolean gv_bench_no_sandbox(void);
