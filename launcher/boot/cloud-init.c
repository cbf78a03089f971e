/* SPDX-License-Identifier: MIT */
/* cloud-init.c - a NoCloud seed carrying grainvm-agent (see cloud-init.h) */
#include "boot/cloud-init.h"

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "boot/cloud-init-files.h"
#include "fileio.h"
#include "grainvm-image.h"
#include "gv-error.h"
#include "paths.h"

/*
 * Where the seed puts things in the guest: the agent where the Debian
 * package puts it (so the unit is the packaged one, unchanged), and the
 * first-boot script under /var/lib/grainvm.
 */
#define GUEST_AGENT "/usr/sbin/grainvm-agent"
#define GUEST_UNIT "/etc/systemd/system/grainvm-agent.service"
#define GUEST_RULES "/etc/udev/rules.d/60-grainvm-agent.rules"
#define GUEST_START "/var/lib/grainvm/start-agent"

/*
 * The seed's filesystem: 2 MiB of FAT holds the ~200 KB of user-data (the
 * agent in base64 is 4/3 of its ~130 KB) with room to spare; mkfs.vfat
 * takes the size in KiB blocks.
 */
#define SEED_KIB "2048"

/*
 * Run at the end of the first boot (runcmd) and early in every later one
 * (bootcmd, which on the first boot runs before write_files and finds
 * nothing).  Under systemd the udev rule and unit are enough from the next
 * boot on; this starts the agent now, for the port that appeared before
 * the rule existed.  It only queues the start (--no-block): bootcmd runs
 * in cloud-init.service, which sysinit.target waits for, and the agent's
 * unit is ordered after sysinit.target, so waiting there for the start
 * would wait forever.  Without systemd (Alpine's OpenRC, or none) it
 * starts the agent itself on every boot.
 */
static const char start_script[] =
	"#!/bin/sh\n"
	"# start-agent - written by grainvm's cloud-init seed: start grainvm-agent\n"
	"port=/dev/virtio-ports/org.grainvm.agent.0\n"
	"if [ -d /run/systemd/system ]; then\n"
	"\tif [ \"$(systemctl show --value -p LoadState grainvm-agent.service)\" != loaded ]; then\n"
	"\t\tsystemctl daemon-reload\n"
	"\tfi\n"
	"\tudevadm control --reload-rules 2>/dev/null\n"
	"\t# The port appeared before the rule existed: replay its add event.\n"
	"\tudevadm trigger --subsystem-match=virtio-ports --action=add 2>/dev/null\n"
	"\texec systemctl --no-block start grainvm-agent.service\n"
	"fi\n"
	"if [ ! -e \"$port\" ]; then\n"
	"\tfor d in /sys/class/virtio-ports/*; do\n"
	"\t\t[ \"$(cat \"$d/name\" 2>/dev/null)\" = org.grainvm.agent.0 ] && port=/dev/${d##*/}\n"
	"\tdone\n"
	"fi\n"
	"mkdir -p /run/grainvm\n"
	"HOME=/root nohup " GUEST_AGENT " --port \"$port\" </dev/null >/dev/null 2>&1 &\n";

/* A YAML single-quoted scalar: only ' needs escaping (doubled). */
static void yaml_quoted(GString *out, const char *s)
{
	g_string_append_c(out, '\'');
	for (; *s; s++) {
		if (*s == '\'')
			g_string_append_c(out, '\'');
		g_string_append_c(out, *s);
	}
	g_string_append_c(out, '\'');
}

static void write_file(GString *out, const char *path, const char *mode, const void *data,
		       gsize len)
{
	g_autofree char *b64 = g_base64_encode(data, len);
	g_string_append_printf(out,
			       "  - path: %s\n"
			       "    permissions: '%s'\n"
			       "    owner: root:root\n"
			       "    encoding: b64\n"
			       "    content: %s\n",
			       path, mode, b64);
}

char *gv_cloud_init_user_data(const GvSeedConfig *cfg)
{
	GString *out = g_string_new("#cloud-config\n"
				    "# Written by grainvm: makes this cloud image a grainvm guest.\n");
	g_string_append(out, "hostname: ");
	yaml_quoted(out, cfg->hostname);
	g_string_append(out, "\npreserve_hostname: false\n");
	if (cfg->ssh_key) {
		/*
		 * For root, as grainvm's own guests have it: Debian's and
		 * Ubuntu's cloud.cfg (disable_root: true) would put the key
		 * behind a command that only says to log in as the default
		 * user, which gets the key too.
		 */
		g_string_append(out, "disable_root: false\n");
		g_string_append(out, "ssh_authorized_keys:\n  - ");
		yaml_quoted(out, cfg->ssh_key);
		g_string_append_c(out, '\n');
	}
	g_string_append(out, "write_files:\n");
	gsize len = 0;
	const void *agent = g_bytes_get_data(cfg->agent, &len);
	write_file(out, GUEST_AGENT, "0755", agent, len);
	write_file(out, GUEST_UNIT, "0644", gv_seed_agent_unit, strlen(gv_seed_agent_unit));
	write_file(out, GUEST_RULES, "0644", gv_seed_agent_rules, strlen(gv_seed_agent_rules));
	write_file(out, GUEST_START, "0755", start_script, strlen(start_script));
	g_string_append(out,
			"bootcmd:\n"
			"  - [sh, -c, 'if [ -x " GUEST_START " ]; then " GUEST_START "; fi']\n"
			"runcmd:\n"
			"  - [" GUEST_START "]\n");
	return g_string_free(out, FALSE);
}

char *gv_cloud_init_meta_data(const GvSeedConfig *cfg, const char *user_data)
{
	g_autofree char *sum = g_compute_checksum_for_string(G_CHECKSUM_SHA256, user_data, -1);
	GString *out = g_string_new(NULL);
	/* A new agent or key is a new instance: cloud-init runs write_files again. */
	g_string_append_printf(out, "instance-id: grainvm-%.16s\nlocal-hostname: ", sum);
	yaml_quoted(out, cfg->hostname);
	g_string_append_c(out, '\n');
	return g_string_free(out, FALSE);
}

/* A public key is one line: TYPE BASE64 [COMMENT], printable, bounded. */
static gboolean key_line_valid(const char *s)
{
	gsize n = strlen(s);
	if (n < 16 || n > 16384)
		return FALSE;
	if (!g_str_has_prefix(s, "ssh-") && !g_str_has_prefix(s, "ecdsa-") &&
	    !g_str_has_prefix(s, "sk-"))
		return FALSE;
	for (const char *p = s; *p; p++)
		if ((guchar)*p < 0x20 || *p == 0x7f)
			return FALSE;
	return strchr(s, ' ') != NULL;
}

char *gv_cloud_init_ssh_key_read(const char *path, GError **error)
{
	g_autofree char *text = NULL;
	gsize len = 0;
	if (!g_file_get_contents(path, &text, &len, error))
		return NULL;
	g_strstrip(text);
	if (len > 16384 || strchr(text, '\n') || !key_line_valid(text)) {
		g_set_error(error, GV_ERROR, GV_ERROR_INVALID,
			    "%s is not an SSH public key (one line: TYPE KEY [COMMENT])", path);
		return NULL;
	}
	return g_steal_pointer(&text);
}

char *gv_cloud_init_ssh_key(void)
{
	const char *home = g_get_home_dir();
	const char *sudo_user = g_getenv("SUDO_USER");
	if (sudo_user && geteuid() == 0) {
		struct passwd *pw = getpwnam(sudo_user);
		if (pw && pw->pw_dir)
			home = pw->pw_dir;
	}
	static const char *const names[] = { "id_ed25519.pub", "id_ecdsa.pub", "id_rsa.pub" };
	for (gsize i = 0; home && i < G_N_ELEMENTS(names); i++) {
		g_autofree char *path = g_build_filename(home, ".ssh", names[i], NULL);
		char *key = gv_cloud_init_ssh_key_read(path, NULL);
		if (key)
			return key;
	}
	return NULL;
}

char *gv_cloud_init_seed(const GvSeedConfig *cfg, const char *cache_dir, GError **error)
{
	g_autofree char *user_data = gv_cloud_init_user_data(cfg);
	g_autofree char *meta_data = gv_cloud_init_meta_data(cfg, user_data);
	g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);
	g_checksum_update(sum, (const guchar *)user_data, -1);
	g_checksum_update(sum, (const guchar *)"\0", 1);
	g_checksum_update(sum, (const guchar *)meta_data, -1);
	g_autofree char *name = g_strdup_printf("seed-%.32s.img", g_checksum_get_string(sum));
	g_autofree char *dir = g_build_filename(cache_dir, "cloud-init", NULL);
	g_autofree char *seed = g_build_filename(dir, name, NULL);
	if (g_file_test(seed, G_FILE_TEST_IS_REGULAR))
		return g_steal_pointer(&seed);
	if (!gv_mkdir_private(dir, error))
		return NULL;

	/* Built in a private scratch directory, renamed into place whole. */
	g_autofree char *tmpl = g_build_filename(dir, ".seed-XXXXXX", NULL);
	if (!g_mkdtemp_full(tmpl, 0700)) {
		int e = errno;
		g_set_error(error, GV_ERROR, GV_ERROR_FAILED, "cannot create a directory in %s: %s",
			    dir, g_strerror(e));
		return NULL;
	}
	g_autofree char *ud = g_build_filename(tmpl, "user-data", NULL);
	g_autofree char *md = g_build_filename(tmpl, "meta-data", NULL);
	g_autofree char *img = g_build_filename(tmpl, "seed.img", NULL);
	gboolean ok = gv_write_file_atomic(ud, user_data, strlen(user_data), 0600, error) &&
		      gv_write_file_atomic(md, meta_data, strlen(meta_data), 0600, error);
	if (ok) {
		const char *env[] = { "MTOOLS_SKIP_CHECK=1", "MTOOLSRC=/dev/null", NULL };
		const char *mkfs[] = { "mkfs.vfat", "-C", "-n", "CIDATA", img, SEED_KIB, NULL };
		const char *mcopy[] = { "mcopy", "-o", "-i", img, ud, md, "::", NULL };
		ok = gv_run_tool(mkfs, env, NULL, error) && gv_run_tool(mcopy, env, NULL, error);
	}
	if (ok && rename(img, seed) < 0) {
		int e = errno;
		g_set_error(error, GV_ERROR, GV_ERROR_FAILED, "cannot write %s: %s", seed,
			    g_strerror(e));
		ok = FALSE;
	}
	unlink(ud);
	unlink(md);
	unlink(img);
	rmdir(tmpl);
	return ok ? g_steal_pointer(&seed) : NULL;
}
