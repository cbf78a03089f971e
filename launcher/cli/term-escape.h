/* SPDX-License-Identifier: MIT */
/*
 * term-escape.h - make what a guest or an image says safe to print
 *
 * Apart from cli-common so that the image CLI's test build (which links
 * no QMP) has it too.
 */
#pragma once

#include <glib.h>

/**
 * gv_term_escape() - a string from the guest or an image, safe for a terminal
 * @s: (nullable): the string, any bytes
 * @keep: (nullable): control characters to let through (e.g. "\t")
 *
 * Control characters (C0, DEL, C1) become \xNN or \u00NN, bytes that are
 * not UTF-8 become \xNN and a backslash becomes \\, so that what a guest
 * or an image names cannot move the cursor, retitle or clear the
 * terminal, or pass for something grainvm printed.  Streams the user asked
 * for (exec and build output, console, logs) are never passed through this.
 *
 * Return: (transfer full): the escaped string ("" for NULL).
 */
char *gv_term_escape(const char *s, const char *keep);

