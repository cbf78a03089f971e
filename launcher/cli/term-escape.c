/* SPDX-License-Identifier: MIT */
/* term-escape.c - escaping for strings from a guest or an image (see term-escape.h) */
#include "cli/term-escape.h"

#include <string.h>

char *gv_term_escape(const char *s, const char *keep)
{
	GString *o = g_string_new(NULL);
	if (!s)
		return g_string_free(o, FALSE);
	const char *end = s + strlen(s);
	for (const char *p = s; p < end;) {
		gunichar c = g_utf8_get_char_validated(p, end - p);
		if (c == (gunichar)-1 || c == (gunichar)-2) {
			g_string_append_printf(o, "\\x%02x", (guchar)*p);
			p++;
			continue;
		}
		const char *next = g_utf8_next_char(p);
		if (c == '\\')
			g_string_append(o, "\\\\");
		else if ((c < 0x20 || c == 0x7f) && !(keep && strchr(keep, (int)c)))
			g_string_append_printf(o, "\\x%02x", c);
		else if (c >= 0x80 && c < 0xa0)
			g_string_append_printf(o, "\\u%04x", c);
		else
			g_string_append_len(o, p, next - p);
		p = next;
	}
	return g_string_free(o, FALSE);
}
