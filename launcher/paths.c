/* SPDX-License-Identifier: MIT */
/* paths.c - the three roots and the per-VM file names (see paths.h) */
#include "paths.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "gv-error.h"

static char *home_sub(const char *sub)
{
	const char *home = g_getenv("GRAINVM_HOME");
	if (home && *home)
		return g_build_filename(home, sub, NULL);
	return NULL;
}

char *gv_state_root(void)
{
	char *p = home_sub("state");
	if (p)
		return p;
	if (geteuid() == 0)
		return g_strdup("/var/lib/grainvm");
	return g_build_filename(g_get_user_state_dir(), "grainvm", NULL);
}

char *gv_runtime_root(void)
{
	char *p = home_sub("run");
	if (p)
		return p;
	if (geteuid() == 0)
		return g_strdup("/run/grainvm");
	/*
	 * g_get_user_runtime_dir() falls back to the cache dir when
	 * XDG_RUNTIME_DIR is unset, which keeps sockets on persistent
	 * storage; /tmp at least is cleaned at boot like /run would be.
	 */
	const char *xdg = g_getenv("XDG_RUNTIME_DIR");
	if (xdg && *xdg)
		return g_build_filename(xdg, "grainvm", NULL);
	return g_strdup_printf("/tmp/grainvm-%u", (unsigned)geteuid());
}

char *gv_cache_root(void)
{
	const char *env = g_getenv("GRAINVM_CACHE_DIR");
	if (env && *env)
		return g_strdup(env);
	char *p = home_sub("cache");
	if (p)
		return p;
	if (geteuid() == 0)
		return g_strdup("/var/cache/grainvm");
	return g_build_filename(g_get_user_cache_dir(), "grainvm", NULL);
}

GvVmPaths *gv_vm_paths_new(const char *name, GError **error)
{
	g_autoptr(GvVmPaths) p = g_new0(GvVmPaths, 1);
	g_autofree char *state_root = gv_state_root();
	g_autofree char *run_root = gv_runtime_root();

	p->name = g_strdup(name);
	p->state_dir = g_build_filename(state_root, name, NULL);
	p->run_dir = g_build_filename(run_root, name, NULL);
	p->overlay = g_build_filename(p->state_dir, "overlay.qcow2", NULL);
	p->efi_vars = g_build_filename(p->state_dir, "efi-vars.fd", NULL);
	p->spec = g_build_filename(p->state_dir, "spec.conf", NULL);
	p->control_sock = g_build_filename(p->run_dir, "control.sock", NULL);
	p->qmp_sock = g_build_filename(p->run_dir, "qmp.sock", NULL);
	p->agent_sock = g_build_filename(p->run_dir, "agent.sock", NULL);
	p->qga_sock = g_build_filename(p->run_dir, "qga.sock", NULL);
	p->console_sock = g_build_filename(p->run_dir, "console.sock", NULL);
	p->state_json = g_build_filename(p->run_dir, "state.json", NULL);
	p->console_log = g_build_filename(p->run_dir, "console.log", NULL);
	p->qemu_log = g_build_filename(p->run_dir, "qemu.log", NULL);
	p->supervisor_pid = g_build_filename(p->run_dir, "supervisor.pid", NULL);
	p->qemu_pid = g_build_filename(p->run_dir, "qemu.pid", NULL);
	p->plan = g_build_filename(p->run_dir, "plan.json", NULL);

	const char *socks[] = { p->control_sock, p->qmp_sock, p->agent_sock,
				p->qga_sock, p->console_sock };
	for (gsize i = 0; i < G_N_ELEMENTS(socks); i++) {
		if (strlen(socks[i]) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
			g_set_error(error, GV_ERROR, GV_ERROR_INVALID,
				    "socket path %s is longer than a unix socket allows (107 bytes): "
				    "set GRAINVM_HOME or XDG_RUNTIME_DIR to a shorter directory",
				    socks[i]);
			return NULL;
		}
	}
	return g_steal_pointer(&p);
}

void gv_vm_paths_free(GvVmPaths *p)
{
	if (!p)
		return;
	char **fields[] = { &p->name, &p->state_dir, &p->run_dir, &p->overlay,
			    &p->efi_vars, &p->spec, &p->control_sock, &p->qmp_sock,
			    &p->agent_sock, &p->qga_sock, &p->console_sock,
			    &p->state_json, &p->console_log, &p->qemu_log,
			    &p->supervisor_pid, &p->qemu_pid, &p->plan };
	for (gsize i = 0; i < G_N_ELEMENTS(fields); i++)
		g_free(*fields[i]);
	g_free(p);
}

gboolean gv_mkdir_private(const char *dir, GError **error)
{
	if (g_mkdir_with_parents(dir, 0700) < 0) {
		int err = errno;
		g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(err),
			    "cannot create directory %s: %s", dir, g_strerror(err));
		return FALSE;
	}
	return TRUE;
}
