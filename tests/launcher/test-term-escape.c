/* SPDX-License-Identifier: MIT */
/*
 * test-term-escape.c - what a guest or an image names cannot drive the
 * user's terminal: gv_term_escape() on the strings of issue 13
 */
#include <glib.h>

#include "grainvm-image.h"

static void check(const char *in, const char *keep, const char *want)
{
	g_autofree char *got = gv_term_escape(in, keep);
	g_assert_cmpstr(got, ==, want);
}

static void test_retitle_and_clear(void)
{
	/* The interface name of the issue: ESC ] 0 ; PWN BEL ESC [ 2 J. */
	check("\033]0;PWN\007\033[2J", NULL, "\\x1b]0;PWN\\x07\\x1b[2J");
}

static void test_c0_del_c1(void)
{
	check("a\nb\rc\td\177e", NULL, "a\\x0ab\\x0dc\\x09d\\x7fe");
	/* U+009B is CSI for a terminal in 8-bit mode. */
	check("x\xc2\x9b" "2J", NULL, "x\\u009b2J");
	check("tab\there", "\t", "tab\there");
}

static void test_invalid_utf8_and_backslash(void)
{
	check("\xc3\x28 \xff", NULL, "\\xc3( \\xff");
	/* A backslash is doubled, so \x1b in a name is not taken for an escape. */
	check("a\\x1b", NULL, "a\\\\x1b");
	check("caf\xc3\xa9 \xe2\x9c\x93", NULL, "caf\xc3\xa9 \xe2\x9c\x93");
	/* U+202E, right-to-left override: it would reorder the rest of the line. */
	check("rlo\xe2\x80\xae", NULL, "rlo\\xe2\\x80\\xae");
	check(NULL, NULL, "");
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/term-escape/retitle-and-clear", test_retitle_and_clear);
	g_test_add_func("/term-escape/c0-del-c1", test_c0_del_c1);
	g_test_add_func("/term-escape/invalid-utf8-and-backslash", test_invalid_utf8_and_backslash);
	return g_test_run();
}
