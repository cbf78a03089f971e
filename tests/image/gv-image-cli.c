/* SPDX-License-Identifier: MIT */
/*
 * gv-image-cli.c - run `grainvm image` without the rest of the launcher
 *
 * grainvm links launcher/cli/cmd-image.c with main.c, which provides
 * gv_cli_error(); this harness links cmd-image.c with its own
 * gv_cli_error() and nothing else of the CLI, so the image commands can
 * be tested as the real CLI runs them:
 *
 *   gv-image-cli create disk.qcow2 10G   ==   grainvm image create disk.qcow2 10G
 *
 * Its gv_cli_error() follows docs/errors.md for the image domain: the
 * bad-input codes exit 2, everything else 1.
 */
#include <stdio.h>

#include "cli/gv-cli.h"
#include "grainvm-image.h"

int gv_cli_error(const GError *error)
{
	fprintf(stderr, "grainvm: %s\n", error->message);
	return gv_image_error_is_bad_input(error) ? 2 : 1;
}

int main(int argc, char **argv)
{
	g_autofree char **args = g_new0(char *, (gsize)argc + 2);

	g_set_prgname("grainvm");
	args[0] = (char *)"image";
	for (int i = 1; i < argc; i++)
		args[i] = argv[i];
	return gv_cmd_image(argc, args);
}
