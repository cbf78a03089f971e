/* SPDX-License-Identifier: MIT */
/* cli-common.h - small pieces the cmd-*.c files share */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "grainvm-qmp.h"
#include "paths.h"
#include "grainvm-image.h"

/**
 * gv_cli_parse() - run a GOptionContext over a subcommand's argv
 * @argc: (inout)
 * @argv: (inout): argv[0] is the subcommand
 * @entries: the options
 * @params: the positional synopsis, e.g. "[NAME]"
 * @summary: one paragraph for --help
 * @exit_code: (out): set when the caller should return at once (--help: 0;
 *             bad option: 2, with the message printed)
 *
 * Return: TRUE to go on.
 */
gboolean gv_cli_parse(int *argc, char ***argv, const GOptionEntry *entries,
		      const char *params, const char *summary, int *exit_code);

/**
 * gv_cli_add_help() - give @ctx a --help (-h) that is an ordinary flag
 * @ctx: the context, after its own entries were added
 * @help: set to TRUE by the parse when --help was given
 *
 * GLib's built-in --help calls exit(), which a handler must not do
 * (gv-cli.h): with this, the caller prints the help (gv_cli_print_help())
 * and returns 0.  Every option parser of the CLI goes through here.
 */
void gv_cli_add_help(GOptionContext *ctx, gboolean *help);

/** gv_cli_print_help() - the help text of @ctx on stdout */
void gv_cli_print_help(GOptionContext *ctx);

/**
 * gv_cli_split_command() - cut a subcommand's argv at its first "--"
 * @argc: (inout): shortened to the options before "--"
 * @argv: the arguments
 * @cmd_argc: (out): the number of words after "--"
 * @cmd_argv: (out): those words, inside @argv (NULL when there is no "--")
 *
 * Done before GOptionContext sees argv: it drops a "--" when what follows
 * looks like no option, and a guest command must never be parsed as ours.
 *
 * Return: TRUE when there was a "--".
 */
gboolean gv_cli_split_command(int *argc, char **argv, int *cmd_argc, char ***cmd_argv);

/**
 * gv_cli_vm_paths() - paths of the VM a command names
 * @name: (nullable): NAME from the command line; NULL: the spec in the
 *        current directory names it
 * @error: return location
 */
GvVmPaths *gv_cli_vm_paths(const char *name, GError **error);

/**
 * gv_cli_control() - connect to a running VM's supervisor
 * @paths: the VM
 * @error: GV_ERROR_STATE when it is not running
 */
GvQmpClient *gv_cli_control(const GvVmPaths *paths, GError **error);

/** gv_cli_print_json() - pretty JSON of @node to stdout, newline-terminated */
void gv_cli_print_json(JsonNode *node);

/**
 * gv_cli_control_error() - a control-socket error back to the supervisor's GError
 * @error: (inout): a failed control command's error
 *
 * The supervisor answers its own failures with the class of their exit
 * code (GrainvmState, ...; supervisor-control.c); such an error becomes
 * the GV_ERROR it was, so gv_cli_error() prints its message and exits
 * with its code.  Any other error is left as it is.
 */
void gv_cli_control_error(GError **error);


/** gv_read_pid() - the number in a pid file, or 0 */
int gv_read_pid(const char *path);

/**
 * gv_cli_print_nics() - the NIC, forward and guest address lines of a VM's
 * state object (cli-net.c)
 * @state: a state object (status, or up's ready report)
 * @indent: printed before each line
 */
void gv_cli_print_nics(JsonObject *state, const char *indent);

/**
 * gv_cli_guest_address() - the address `grainvm ip` prints
 * @state: a running VM's state object, with "interfaces"
 *
 * The first routable address (IPv4, then IPv6; not loopback or
 * link-local) of the NICs in spec order, user-mode NICs last: their
 * addresses are not reachable from the host.
 *
 * Return: (transfer full) (nullable): the address, NULL when there is none.
 */
char *gv_cli_guest_address(JsonObject *state);

/**
 * gv_cli_escaped_json() - a copy of a state object, every string escaped
 * @node: an object or array from the supervisor or state.json
 *
 * For human-readable output: every string value (and member name) goes
 * through gv_term_escape(), except "log-tail", which is printed line by
 * line and escaped there.  (A copy: parsed nodes are immutable.)
 *
 * Return: (transfer full): the copy.
 */
JsonNode *gv_cli_escaped_json(JsonNode *node);
