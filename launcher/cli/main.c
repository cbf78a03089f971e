/* SPDX-License-Identifier: MIT */
/*
 * main.c - grainvm's entry point and subcommand table
 *
 * Each subcommand is one cmd-*.c file; this file only finds it.  See
 * gv-cli.h for the handler contract and docs/errors.md for exit codes.
 */
#include <locale.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli-common.h"
#include "cli/gv-cli.h"
#include "gv-config.h"
#include "gv-error.h"

static const GvCommand commands[] = {
	{ "up", gv_cmd_up, "Start a VM and wait until its guest is ready" },
	{ "down", gv_cmd_down, "Stop a VM: ACPI, then the agent, then QMP quit, then SIGKILL" },
	{ "status", gv_cmd_status, "Show a VM's state, accelerator, boot path and shares" },
	{ "list", gv_cmd_list, "List known VMs" },
	{ "console", gv_cmd_console, "Attach to a VM's serial console (detach with Ctrl-])" },
	{ "logs", gv_cmd_logs, "Print a VM's console log" },
	{ "qmp", gv_cmd_qmp, "Run a QMP command on a VM's QEMU and print the reply" },
	{ "agent", gv_cmd_agent, "Run a guest agent command in a VM and print the reply" },
	{ "config", gv_cmd_config, "Print the merged spec of the current directory" },
	{ "rm", gv_cmd_rm, "Delete a stopped VM's disk, UEFI variables and logs" },
	{ "image", gv_cmd_image, "Make and inspect qcow2 images" },
	{ "exec", gv_cmd_exec, "Run a command in the guest, its output streamed" },
	{ "shell", gv_cmd_shell, "Open a terminal in the guest (login shell or a command)" },
	{ "build", gv_cmd_build, "Run the spec's [build] in the guest, or follow the running one" },
	{ "forward", gv_cmd_forward, "Add, remove or list a running VM's host port forwards" },
	{ "ip", gv_cmd_ip, "Print a running VM's guest address" },
	{ "clone", gv_cmd_clone, "Start new VMs from a template, sharing its RAM copy-on-write" },
	{ "snapshot", gv_cmd_snapshot, "Save a running VM's state; list and remove snapshots" },
	{ "__supervise", gv_cmd_supervise, "internal: the per-VM supervisor", TRUE },
	{ "__switch", gv_cmd_switch, "internal: a switch network's process", TRUE },
};

int gv_cli_error(const GError *error)
{
	/* A message may carry what a guest said (an agent's error reply). */
	g_autofree char *safe = gv_term_escape(error->message, NULL);
	g_printerr("grainvm: %s\n", safe);
	return gv_exit_code_for(error);
}

static void usage(FILE *out)
{
	fprintf(out, "Usage: grainvm COMMAND [OPTIONS]\n\n"
		     "grainvm runs QEMU VMs directly (no libvirt) and waits until their guest is ready.\n\n"
		     "Commands:\n");
	for (gsize i = 0; i < G_N_ELEMENTS(commands); i++)
		if (!commands[i].hidden)
			fprintf(out, "  %-9s %s\n", commands[i].name, commands[i].summary);
	fprintf(out, "\nRun `grainvm COMMAND --help` for a command's options.\n"
		     "Exit codes: 0 ok, 1 failed, 2 bad input, 3 wrong VM state, 4 timed out.\n");
}

int main(int argc, char **argv)
{
	setlocale(LC_ALL, "");
	if (argc < 2) {
		usage(stderr);
		return GV_EXIT_INVALID;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return GV_EXIT_OK;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("grainvm %s\n", GV_VERSION);
		return GV_EXIT_OK;
	}
	for (gsize i = 0; i < G_N_ELEMENTS(commands); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].handler(argc - 1, argv + 1);
	g_printerr("grainvm: unknown command \"%s\" (see grainvm --help)\n", argv[1]);
	return GV_EXIT_INVALID;
}
