/* SPDX-License-Identifier: MIT */
/*
 * gv-cli.h - the subcommand table of the grainvm CLI
 *
 * Each subcommand lives in launcher/cmd-NAME.c and exports one handler.
 * main.c looks the name up in the table and calls it with argv starting at
 * the subcommand's own name, so the handler parses its options with
 * GOptionContext exactly as a standalone program would.  The handler
 * returns the process exit code (docs/errors.md); it prints its own errors
 * through gv_cli_error() and never calls exit().
 */
#pragma once

#include <glib.h>

typedef int (*GvCommandFunc)(int argc, char **argv);

typedef struct {
	const char *name;
	GvCommandFunc handler;
	const char *summary;
	gboolean hidden; /* internal: not listed in --help */
} GvCommand;

/**
 * gv_cli_error() - print "grainvm: MESSAGE" for @error and map it to an exit code
 * @error: the failure
 *
 * Return: the exit code docs/errors.md gives for @error's domain and code.
 */
int gv_cli_error(const GError *error);

/* Handlers, one per cmd-*.c file. */
int gv_cmd_up(int argc, char **argv);
int gv_cmd_down(int argc, char **argv);
int gv_cmd_status(int argc, char **argv);
int gv_cmd_list(int argc, char **argv);
int gv_cmd_console(int argc, char **argv);
int gv_cmd_logs(int argc, char **argv);
int gv_cmd_qmp(int argc, char **argv);
int gv_cmd_config(int argc, char **argv);
int gv_cmd_rm(int argc, char **argv);
int gv_cmd_agent(int argc, char **argv);
int gv_cmd_image(int argc, char **argv);
int gv_cmd_exec(int argc, char **argv);
int gv_cmd_shell(int argc, char **argv);
int gv_cmd_build(int argc, char **argv);
int gv_cmd_snapshot(int argc, char **argv);
int gv_cmd_clone(int argc, char **argv);
int gv_cmd_supervise(int argc, char **argv);
int gv_cmd_forward(int argc, char **argv);
int gv_cmd_ip(int argc, char **argv);
int gv_cmd_switch(int argc, char **argv);
