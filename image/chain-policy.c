/* SPDX-License-Identifier: MIT */
/*
 * chain-policy.c - which files an untrusted image may name (pure)
 *
 * See gv-chain.h.  The I/O that applies these rules (non-blocking opens,
 * the real path of what was opened, loop detection) is in info.c.
 */
#include "gv-chain.h"
#include "grainvm-image.h"

#include <string.h>
#include <sys/stat.h>

GvChainRef gv_chain_ref_classify(const char *ref)
{
	if (g_str_has_prefix(ref, "json:"))
		return GV_CHAIN_REF_JSON;
	if (ref[0] == '/')
		return GV_CHAIN_REF_ABSOLUTE;
	const char *colon = strchr(ref, ':');
	const char *slash = strchr(ref, '/');
	if (colon && (!slash || colon < slash))
		return GV_CHAIN_REF_PROTOCOL;

	/*
	 * Walk the components: depth counts how far below the starting
	 * directory we are; a ".." at depth 0 climbs out of it.
	 */
	int depth = 0;
	const char *p = ref;
	while (*p) {
		const char *end = strchrnul(p, '/');
		gsize len = (gsize)(end - p);
		if (len == 2 && p[0] == '.' && p[1] == '.') {
			if (depth == 0)
				return GV_CHAIN_REF_ESCAPES;
			depth--;
		} else if (len > 0 && !(len == 1 && p[0] == '.')) {
			depth++;
		}
		p = *end ? end + 1 : end;
	}
	return GV_CHAIN_REF_RELATIVE;
}

gboolean gv_chain_path_within(const char *dir, const char *path)
{
	gsize n = strlen(dir);

	if (n == 1 && dir[0] == '/')
		return path[0] == '/';
	if (strncmp(dir, path, n) != 0)
		return FALSE;
	return path[n] == '\0' || path[n] == '/';
}

const char *gv_chain_mode_problem(mode_t mode, gboolean confined)
{
	if (S_ISREG(mode))
		return NULL;
	if (S_ISBLK(mode))
		return confined ? "is a block device" : NULL;
	if (S_ISFIFO(mode))
		return "is a FIFO";
	if (S_ISSOCK(mode))
		return "is a socket";
	if (S_ISCHR(mode))
		return "is a character device";
	if (S_ISDIR(mode))
		return "is a directory";
	return "is not a regular file";
}

char *gv_term_escape(const char *s, const char *keep)
{
	GString *out = g_string_new(NULL);
	if (!s)
		return g_string_free(out, FALSE);
	const char *end = s + strlen(s);
	for (const char *p = s; p < end;) {
		gunichar c = g_utf8_get_char_validated(p, end - p);
		if (c == (gunichar)-1 || c == (gunichar)-2) {
			g_string_append_printf(out, "\\x%02x", (guint8)*p);
			p++;
			continue;
		}
		const char *next = g_utf8_next_char(p);
		if (c == '\\') {
			g_string_append(out, "\\\\");
		} else if (c < 0x80 && !g_ascii_isprint((char)c)) {
			if (keep && c && strchr(keep, (int)c))
				g_string_append_c(out, (char)c);
			else
				g_string_append_printf(out, "\\x%02x", c);
		} else if (c >= 0x80 && c < 0xa0) {
			/* C1: U+009B is CSI for a terminal in 8-bit mode. */
			g_string_append_printf(out, "\\u%04x", c);
		} else if (c >= 0x80 && (!g_unichar_isprint(c) || g_unichar_type(c) == G_UNICODE_FORMAT)) {
			/* Format characters too: bidi overrides reorder what is shown. */
			for (const char *q = p; q < next; q++)
				g_string_append_printf(out, "\\x%02x", (guint8)*q);
		} else {
			g_string_append_len(out, p, next - p);
		}
		p = next;
	}
	return g_string_free(out, FALSE);
}
