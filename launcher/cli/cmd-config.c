/* SPDX-License-Identifier: MIT */
/* cmd-config.c - grainvm config: print the merged spec, each key's origin as a comment */
#include <stdio.h>

#include "cli/cli-common.h"
#include "cli/gv-cli.h"
#include "boot/spec.h"

int gv_cmd_config(int argc, char **argv)
{
	g_autofree char *file = NULL;
	g_auto(GStrv) sets = NULL;
	gboolean bare = FALSE;
	const GOptionEntry entries[] = {
		{ "file", 'f', 0, G_OPTION_ARG_FILENAME, &file, "Spec file instead of ./grainvm.conf", "FILE" },
		{ "set", 's', 0, G_OPTION_ARG_STRING_ARRAY, &sets, "Override a spec key (repeatable)", "GROUP.KEY=VALUE" },
		{ "no-origins", 0, 0, G_OPTION_ARG_NONE, &bare, "Leave out the comments naming each key's layer", NULL },
		{ NULL },
	};
	int code;
	if (!gv_cli_parse(&argc, &argv, entries, "",
			  "Print the spec `grainvm up` would use: the built-in default, grainvm.conf, "
			  "grainvm.local.conf and --set merged, paths made absolute.", &code))
		return code;
	g_autoptr(GError) err = NULL;
	g_autofree char *cwd = g_get_current_dir();
	g_autoptr(GvSpec) spec = gv_spec_load(cwd, file, (const char *const *)sets, cwd, &err);
	if (!spec)
		return gv_cli_error(err);
	g_autofree char *text = gv_spec_to_data(spec, !bare);
	fputs(text, stdout);
	return 0;
}
