/* SPDX-License-Identifier: MIT */
/*
 * test-cloud-init.c - the NoCloud seed: what cloud-init will read from it
 *
 * The user-data is parsed by a real YAML parser (PyYAML, the one cloud-init
 * itself uses) and the seed image is read back with mtools and blkid, the
 * way the guest's cloud-init finds it (a filesystem labelled CIDATA).
 */
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "boot/cloud-init.h"
#include "grainvm-image.h"

static GBytes *fake_agent(void)
{
	/* Every byte value, so that base64 round trips are really tested. */
	guint8 buf[4096];
	for (gsize i = 0; i < sizeof(buf); i++)
		buf[i] = (guint8)(i * 7 + 3);
	return g_bytes_new(buf, sizeof(buf));
}

/* The user-data as PyYAML reads it, turned into JSON for us. */
static JsonObject *parse_yaml(const char *text)
{
	g_autofree char *dir = g_dir_make_tmp("gvci-XXXXXX", NULL);
	g_autofree char *path = g_build_filename(dir, "user-data", NULL);
	g_assert_true(g_file_set_contents(path, text, -1, NULL));
	const char *argv[] = { "python3", "-c",
			       "import json, sys, yaml\n"
			       "print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
			       path, NULL };
	g_autofree char *out = NULL, *err = NULL;
	int status = 0;
	g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out,
				   &err, &status, NULL));
	if (!g_spawn_check_wait_status(status, NULL))
		g_error("YAML does not parse: %s", err);
	g_unlink(path);
	g_rmdir(dir);
	JsonNode *n = json_from_string(out, NULL);
	g_assert_nonnull(n);
	JsonObject *o = json_object_ref(json_node_get_object(n));
	json_node_unref(n);
	return o;
}

static JsonObject *file_entry(JsonObject *ud, const char *path)
{
	JsonArray *files = json_object_get_array_member(ud, "write_files");
	for (guint i = 0; i < json_array_get_length(files); i++) {
		JsonObject *f = json_array_get_object_element(files, i);
		if (!g_strcmp0(json_object_get_string_member(f, "path"), path))
			return f;
	}
	g_error("no write_files entry for %s", path);
}

static void test_user_data(void)
{
	g_autoptr(GBytes) agent = fake_agent();
	/* A key comment with YAML's quote and a colon must stay one string. */
	GvSeedConfig cfg = { .hostname = "web-1", .agent = agent,
			     .ssh_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE me's: key" };
	g_autofree char *text = gv_cloud_init_user_data(&cfg);
	g_assert_true(g_str_has_prefix(text, "#cloud-config\n"));
	g_autoptr(JsonObject) ud = parse_yaml(text);
	g_assert_cmpstr(json_object_get_string_member(ud, "hostname"), ==, "web-1");
	JsonArray *keys = json_object_get_array_member(ud, "ssh_authorized_keys");
	g_assert_cmpuint(json_array_get_length(keys), ==, 1);
	g_assert_cmpstr(json_array_get_string_element(keys, 0), ==, cfg.ssh_key);
	/* The key is root's to use, not a "log in as debian" message. */
	g_assert_true(json_object_has_member(ud, "disable_root"));
	g_assert_false(json_object_get_boolean_member(ud, "disable_root"));

	/* The agent arrives byte for byte, executable, where the unit runs it. */
	JsonObject *a = file_entry(ud, "/usr/sbin/grainvm-agent");
	g_assert_cmpstr(json_object_get_string_member(a, "permissions"), ==, "0755");
	g_assert_cmpstr(json_object_get_string_member(a, "encoding"), ==, "b64");
	gsize len = 0;
	g_autofree guchar *bytes = g_base64_decode(json_object_get_string_member(a, "content"), &len);
	g_assert_true(len == g_bytes_get_size(agent) &&
		      !memcmp(bytes, g_bytes_get_data(agent, NULL), len));

	/* The packaged unit, and it runs that agent on grainvm's port. */
	JsonObject *u = file_entry(ud, "/etc/systemd/system/grainvm-agent.service");
	g_autofree guchar *unit = g_base64_decode(json_object_get_string_member(u, "content"), &len);
	g_autofree char *unit_text = g_strndup((const char *)unit, len);
	g_assert_nonnull(strstr(unit_text, "ExecStart=/usr/sbin/grainvm-agent"));
	g_assert_nonnull(strstr(unit_text, "org.grainvm.agent.0"));
	JsonObject *r = file_entry(ud, "/etc/udev/rules.d/60-grainvm-agent.rules");
	g_autofree guchar *rules = g_base64_decode(json_object_get_string_member(r, "content"), &len);
	g_autofree char *rules_text = g_strndup((const char *)rules, len);
	g_assert_nonnull(strstr(rules_text, "SYSTEMD_WANTS}=\"grainvm-agent.service\""));

	/* Started now (runcmd) and on every later boot (bootcmd). */
	JsonArray *run = json_object_get_array_member(ud, "runcmd");
	g_assert_cmpuint(json_array_get_length(run), ==, 1);
	JsonArray *boot = json_object_get_array_member(ud, "bootcmd");
	g_assert_cmpuint(json_array_get_length(boot), ==, 1);
	JsonObject *s = file_entry(ud, "/var/lib/grainvm/start-agent");
	g_autofree guchar *script = g_base64_decode(json_object_get_string_member(s, "content"), &len);
	g_autofree char *script_text = g_strndup((const char *)script, len);
	/* bootcmd runs before sysinit.target, which the agent's unit follows:
	 * a start that waited for the unit would never return. */
	g_assert_nonnull(strstr(script_text, "systemctl --no-block start grainvm-agent.service"));
	g_assert_null(strstr(script_text, "systemctl start"));

	/* No key: no ssh_authorized_keys at all. */
	cfg.ssh_key = NULL;
	g_autofree char *nokey = gv_cloud_init_user_data(&cfg);
	g_autoptr(JsonObject) ud2 = parse_yaml(nokey);
	g_assert_false(json_object_has_member(ud2, "ssh_authorized_keys"));
	g_assert_false(json_object_has_member(ud2, "disable_root"));

	/* meta-data: a new user-data is a new instance. */
	g_autofree char *m1 = gv_cloud_init_meta_data(&cfg, text);
	g_autofree char *m2 = gv_cloud_init_meta_data(&cfg, nokey);
	g_autoptr(JsonObject) md = parse_yaml(m1);
	g_assert_cmpstr(json_object_get_string_member(md, "local-hostname"), ==, "web-1");
	g_assert_true(g_str_has_prefix(json_object_get_string_member(md, "instance-id"), "grainvm-"));
	g_assert_cmpstr(m1, !=, m2);
}

static void test_ssh_key(void)
{
	g_autofree char *home = g_dir_make_tmp("gvci-home-XXXXXX", NULL);
	g_autofree char *ssh = g_build_filename(home, ".ssh", NULL);
	g_autofree char *pub = g_build_filename(ssh, "id_ed25519.pub", NULL);
	g_assert_cmpint(g_mkdir(ssh, 0700), ==, 0);
	g_setenv("HOME", home, TRUE);
	g_unsetenv("SUDO_USER");

	g_assert_null(gv_cloud_init_ssh_key());
	/* A key line with an escape sequence in it is not a key. */
	g_assert_true(g_file_set_contents(pub, "ssh-ed25519 AAAAC3Nz \033]0;pwn\007\n", -1, NULL));
	g_assert_null(gv_cloud_init_ssh_key());
	g_assert_true(g_file_set_contents(pub, "not a key at all\n", -1, NULL));
	g_assert_null(gv_cloud_init_ssh_key());
	g_assert_true(g_file_set_contents(pub, "ssh-ed25519 AAAAC3NzaC1lZDI1 me@host\n", -1, NULL));
	g_autofree char *key = gv_cloud_init_ssh_key();
	g_assert_cmpstr(key, ==, "ssh-ed25519 AAAAC3NzaC1lZDI1 me@host");
	g_assert_true(gv_rm_rf(home, NULL));
}

static char *tool(const char *const *argv)
{
	g_autofree char *out = NULL;
	g_autoptr(GError) err = NULL;
	const char *env[] = { "MTOOLS_SKIP_CHECK=1", "MTOOLSRC=/dev/null", NULL };
	if (!gv_run_tool(argv, env, &out, &err))
		g_error("%s", err->message);
	return g_steal_pointer(&out);
}

static void test_seed_image(void)
{
	g_autofree char *cache = g_dir_make_tmp("gvci-cache-XXXXXX", NULL);
	g_autoptr(GBytes) agent = fake_agent();
	GvSeedConfig cfg = { .hostname = "seedvm", .agent = agent };
	g_autoptr(GError) err = NULL;
	g_autofree char *seed = gv_cloud_init_seed(&cfg, cache, &err);
	g_assert_no_error(err);
	g_assert_nonnull(seed);

	/* cloud-init's ds-identify looks for this label. */
	const char *blkid[] = { "blkid", "-o", "value", "-s", "LABEL", seed, NULL };
	g_autofree char *label = tool(blkid);
	g_assert_cmpstr(g_strstrip(label), ==, "CIDATA");
	const char *mtype[] = { "mtype", "-i", seed, "::user-data", NULL };
	g_autofree char *ud = tool(mtype);
	g_autofree char *want = gv_cloud_init_user_data(&cfg);
	g_assert_cmpstr(ud, ==, want);
	const char *mtype_md[] = { "mtype", "-i", seed, "::meta-data", NULL };
	g_autofree char *md = tool(mtype_md);
	g_assert_nonnull(strstr(md, "local-hostname: 'seedvm'"));

	/* Cached by content: the same config finds the same file, untouched. */
	GStatBuf st1, st2;
	g_assert_cmpint(g_stat(seed, &st1), ==, 0);
	g_autofree char *again = gv_cloud_init_seed(&cfg, cache, &err);
	g_assert_cmpstr(again, ==, seed);
	g_assert_cmpint(g_stat(again, &st2), ==, 0);
	g_assert_cmpint(st1.st_ino, ==, st2.st_ino);
	/* Another VM: another seed; no scratch files left behind. */
	cfg.hostname = "other";
	g_autofree char *other = gv_cloud_init_seed(&cfg, cache, &err);
	g_assert_cmpstr(other, !=, seed);
	g_autofree char *dir = g_path_get_dirname(seed);
	g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
	guint n = 0;
	for (const char *e; (e = g_dir_read_name(d));) {
		g_assert_true(g_str_has_prefix(e, "seed-"));
		n++;
	}
	g_assert_cmpuint(n, ==, 2);
	g_assert_true(gv_rm_rf(cache, NULL));
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/cloud-init/user-data", test_user_data);
	g_test_add_func("/cloud-init/ssh-key", test_ssh_key);
	g_test_add_func("/cloud-init/seed-image", test_seed_image);
	return g_test_run();
}
