/* SPDX-License-Identifier: MIT */
/* nixos.c - the NixOS system a [nixos] spec boots (see nixos.h) */
#include "boot/nixos.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gio/gio.h>

#include "gv-error.h"

/*
 * x86's COMMAND_LINE_SIZE is 2048 bytes, and grainvm adds its own
 * parameters: kernel-params longer than this cannot be right.
 */
#define KERNEL_PARAMS_MAX 1536

/* Link symlinks are followed through at most this many hops (as the kernel's ELOOP). */
#define MAX_LINK_HOPS 40

#define RESULT_LINK "nixos-system"

void gv_nixos_system_free(GvNixosSystem *sys)
{
	if (!sys)
		return;
	g_free(sys->toplevel);
	g_free(sys->kernel);
	g_free(sys->initrd);
	g_free(sys->params);
	g_free(sys->source);
	g_free(sys->new_link);
	g_free(sys);
}

static gboolean is_nix_identifier(const char *s)
{
	if (!g_ascii_isalpha(*s) && *s != '_')
		return FALSE;
	for (; *s; s++)
		if (!g_ascii_isalnum(*s) && !strchr("_'-", *s))
			return FALSE;
	return TRUE;
}

char *gv_nixos_installable(const char *flake)
{
	const char *hash = strrchr(flake, '#');
	g_autofree char *ref = g_strndup(flake, hash - flake);
	const char *name = hash + 1;
	return g_strdup_printf(is_nix_identifier(name)
				       ? "%s#nixosConfigurations.%s.config.system.build.toplevel"
				       : "%s#nixosConfigurations.\"%s\".config.system.build.toplevel",
			       ref, name);
}

/* Where a path the store names (/nix/store/...) is on this host. */
static char *host_path(const char *store, const char *path)
{
	if (strcmp(store, GV_NIX_STORE_DIR) && g_str_has_prefix(path, GV_NIX_STORE_DIR "/"))
		return g_strconcat(store, path + strlen(GV_NIX_STORE_DIR), NULL);
	return g_strdup(path);
}

/*
 * follow() - resolve the symlinks of @path's last component
 * @store: the store's host directory ([nixos] store)
 * @path: an absolute path, as the store would name it
 * @named: (out): the final path as the store names it
 * @st: (out): lstat of what it ends at
 *
 * Link targets are store paths (the toplevel's kernel -> /nix/store/...),
 * so each hop is mapped through host_path().
 *
 * Return: (transfer full) (nullable): the host path, or NULL with errno set.
 */
static char *follow(const char *store, const char *path, char **named, struct stat *st)
{
	g_autofree char *cur = g_strdup(path);
	for (int hops = 0; hops < MAX_LINK_HOPS; hops++) {
		g_autofree char *host = host_path(store, cur);
		if (lstat(host, st) < 0)
			return NULL;
		if (!S_ISLNK(st->st_mode)) {
			if (stat(host, st) < 0)
				return NULL;
			*named = g_steal_pointer(&cur);
			return g_steal_pointer(&host);
		}
		g_autofree char *target = g_file_read_link(host, NULL);
		if (!target)
			return NULL;
		g_autofree char *dir = g_path_get_dirname(cur);
		g_free(cur);
		cur = g_canonicalize_filename(target, dir);
	}
	errno = ELOOP;
	return NULL;
}

/* One file of the toplevel, as a host path; @key is the [nixos] key to blame. */
static char *toplevel_file(const char *store, const char *toplevel, const char *name,
			   const char *key, GError **error)
{
	g_autofree char *path = g_build_filename(toplevel, name, NULL);
	g_autofree char *named = NULL;
	struct stat st;
	g_autofree char *host = follow(store, path, &named, &st);
	if (!host) {
		g_set_error(error, GV_ERROR, GV_ERROR_INVALID,
			    "[nixos] %s: %s: %s (not a NixOS system's toplevel?)", key, path,
			    g_strerror(errno));
		return NULL;
	}
	if (!S_ISREG(st.st_mode) || access(host, R_OK) < 0) {
		g_set_error(error, GV_ERROR, GV_ERROR_INVALID,
			    "[nixos] %s: %s is not a readable file", key, path);
		return NULL;
	}
	return g_steal_pointer(&host);
}

static char *read_params(const char *host, const char *key, GError **error)
{
	g_autofree char *text = NULL;
	gsize len = 0;
	if (!g_file_get_contents(host, &text, &len, error)) {
		gv_prefix_error(error, "[nixos] %s", key);
		return NULL;
	}
	if (len > KERNEL_PARAMS_MAX) {
		g_set_error(error, GV_ERROR, GV_ERROR_INVALID,
			    "[nixos] %s: kernel-params is %" G_GSIZE_FORMAT " bytes; the kernel "
			    "takes 2048 with grainvm's own", key, len);
		return NULL;
	}
	/* NixOS writes one line; any newline or tab is just a separator. */
	for (gsize i = 0; i < len; i++) {
		if (text[i] == '\n' || text[i] == '\t' || text[i] == '\r')
			text[i] = ' ';
		else if (!g_ascii_isprint(text[i])) {
			g_set_error(error, GV_ERROR, GV_ERROR_INVALID,
				    "[nixos] %s: kernel-params holds a byte 0x%02x that is not text",
				    key, (guchar)text[i]);
			return NULL;
		}
	}
	return g_strdup(g_strstrip(text));
}

static gboolean nix_build(const char *flake, const char *dir, const char *link, GError **error)
{
	const char *env = g_getenv("GRAINVM_NIX");
	const char *name = env && *env ? env : "nix";
	g_autofree char *nix = g_find_program_in_path(name);
	if (!nix) {
		g_set_error(error, GV_ERROR, GV_ERROR_INVALID,
			    "[nixos] flake needs nix, and %s is not in PATH: install Nix or set "
			    "[nixos] system to a built system", name);
		return FALSE;
	}
	g_autofree char *installable = gv_nixos_installable(flake);
	/* Flakes are still "experimental": say so, or a stock nix refuses. */
	const char *argv[] = { nix, "build", "--extra-experimental-features", "nix-command flakes",
			       "--out-link", link, installable, NULL };
	g_autoptr(GSubprocessLauncher) l = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_NONE);
	/* ".#NAME" in grainvm.conf means the flake beside it, wherever `up` runs. */
	g_subprocess_launcher_set_cwd(l, dir);
	/* nix's progress goes to stderr; keep stdout for `up --json`. */
	int out = dup(STDERR_FILENO);
	if (out >= 0)
		g_subprocess_launcher_take_stdout_fd(l, out);
	g_autoptr(GSubprocess) proc = g_subprocess_launcher_spawnv(l, argv, error);
	if (!proc) {
		gv_prefix_error(error, "[nixos] flake: %s", nix);
		return FALSE;
	}
	if (!g_subprocess_wait(proc, NULL, error))
		return FALSE;
	if (!g_subprocess_get_if_exited(proc) || g_subprocess_get_exit_status(proc) != 0) {
		g_set_error(error, GV_ERROR, GV_ERROR_FAILED,
			    "[nixos] flake: `nix build %s` failed (%s %d); nix said why above",
			    installable, g_subprocess_get_if_exited(proc) ? "exit" : "signal",
			    g_subprocess_get_if_exited(proc) ? g_subprocess_get_exit_status(proc)
							     : g_subprocess_get_term_sig(proc));
		return FALSE;
	}
	return TRUE;
}

/* The toplevel @start leads to, and its files, into @sys. */
static gboolean resolve(const GvSpec *spec, const char *start, GvNixosSystem *sys,
			GError **error)
{
	const char *store = spec->nixos_store;
	const char *key = spec->nixos_flake ? "flake" : "system";
	struct stat st;
	g_autofree char *host = follow(store, start, &sys->toplevel, &st);
	if (!host) {
		g_set_error(error, GV_ERROR, GV_ERROR_INVALID, "[nixos] %s: %s: %s", key, start,
			    g_strerror(errno));
		return FALSE;
	}
	if (!S_ISDIR(st.st_mode)) {
		g_set_error(error, GV_ERROR, GV_ERROR_INVALID,
			    "[nixos] %s: %s is not a directory (a NixOS system's toplevel is)", key,
			    sys->toplevel);
		return FALSE;
	}
	/* The guest sees the store and nothing else of the host. */
	if (!g_str_has_prefix(sys->toplevel, GV_NIX_STORE_DIR "/") ||
	    strchr(sys->toplevel + strlen(GV_NIX_STORE_DIR "/"), '/')) {
		g_set_error(error, GV_ERROR, GV_ERROR_INVALID,
			    "[nixos] %s: %s is not a store path in " GV_NIX_STORE_DIR
			    ", so the guest could not find its init", key, sys->toplevel);
		return FALSE;
	}
	sys->kernel = toplevel_file(store, sys->toplevel, "kernel", key, error);
	if (!sys->kernel)
		return FALSE;
	sys->initrd = toplevel_file(store, sys->toplevel, "initrd", key, error);
	if (!sys->initrd)
		return FALSE;
	g_autofree char *init = toplevel_file(store, sys->toplevel, "init", key, error);
	if (!init)
		return FALSE;
	g_autofree char *params = toplevel_file(store, sys->toplevel, "kernel-params", key, error);
	if (!params)
		return FALSE;
	sys->params = read_params(params, key, error);
	if (!sys->params)
		return FALSE;
	return TRUE;
}

GvNixosSystem *gv_nixos_prepare(const GvSpec *spec, const char *state_dir, GError **error)
{
	g_autoptr(GvNixosSystem) sys = g_new0(GvNixosSystem, 1);
	g_autofree char *start = NULL;

	if (spec->nixos_flake) {
		start = g_build_filename(state_dir, RESULT_LINK, NULL);
		gboolean existed = g_file_test(start, G_FILE_TEST_IS_SYMLINK);
		if (!nix_build(spec->nixos_flake, spec->project_dir, start, error))
			return NULL;
		if (!existed)
			sys->new_link = g_strdup(start);
		sys->source = g_strdup_printf("flake %s", spec->nixos_flake);
	} else {
		start = g_strdup(spec->nixos_system);
		sys->source = g_strdup_printf("system %s", spec->nixos_system);
	}
	if (!resolve(spec, start, sys, error)) {
		if (sys->new_link)
			unlink(sys->new_link);
		return NULL;
	}
	return g_steal_pointer(&sys);
}
