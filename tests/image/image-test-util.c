/* SPDX-License-Identifier: MIT */
/*
 * image-test-util.c - see image-test-util.h
 */
#include "image-test-util.h"

#include <string.h>
#include <sys/wait.h>

#include "grainvm-image.h"

char *it_scratch_new(void)
{
	g_autoptr(GError) error = NULL;
	char *dir = g_dir_make_tmp("gv-image-test-XXXXXX", &error);

	g_assert_no_error(error);
	return dir;
}

void it_scratch_free(char *dir)
{
	if (!dir)
		return;
	const char *argv[] = { "rm", "-rf", dir, NULL };
	it_run(argv, NULL, NULL);
	g_free(dir);
}

char *it_qemu_img(void)
{
	return gv_image_qemu_img_path();
}

char *it_qemu_io(void)
{
	const char *env = g_getenv("GRAINVM_QEMU_IO");

	if (env && *env)
		return g_strdup(env);
	return g_find_program_in_path("qemu-io");
}

char *it_cli(void)
{
	const char *root = g_getenv("GV_BUILD_ROOT");

	g_assert_nonnull(root);
	return g_build_filename(root, "tests", "image", "gv-image-cli", NULL);
}

int it_cli_run(const char *const *args, char **out, char **err)
{
	g_autofree char *exe = it_cli();
	g_autoptr(GPtrArray) argv = g_ptr_array_new();

	g_ptr_array_add(argv, exe);
	for (gsize i = 0; args[i]; i++)
		g_ptr_array_add(argv, (gpointer)args[i]);
	g_ptr_array_add(argv, NULL);
	return it_run((const char *const *)argv->pdata, out, err);
}

int it_run(const char *const *argv, char **out, char **err)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *o = NULL, *e = NULL;
	int status;

	if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &o, &e,
			  &status, &error)) {
		g_test_message("cannot run %s: %s", argv[0], error->message);
		return -1;
	}
	if (out)
		*out = g_steal_pointer(&o);
	if (err)
		*err = g_steal_pointer(&e);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

char *it_run_ok(const char *const *argv)
{
	g_autofree char *out = NULL, *err = NULL;
	int rc = it_run(argv, &out, &err);

	if (rc != 0) {
		g_autofree char *cmd = g_strjoinv(" ", (char **)argv);
		g_error("%s: exit %d\n%s%s", cmd, rc, out ? out : "", err ? err : "");
	}
	return g_steal_pointer(&out);
}

JsonNode *it_json_parse(const char *text)
{
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(GError) error = NULL;

	if (!json_parser_load_from_data(parser, text, -1, &error))
		g_error("bad JSON (%s): %s", error->message, text);
	return json_node_copy(json_parser_get_root(parser));
}

JsonNode *it_qemu_img_info(const char *path, gboolean chain)
{
	g_autofree char *qemu_img = it_qemu_img();
	const char *argv[] = { qemu_img, "info", "--output=json", path, NULL, NULL };

	if (chain) {
		argv[3] = "--backing-chain";
		argv[4] = path;
	}
	g_autofree char *out = it_run_ok(argv);
	return it_json_parse(out);
}

void it_assert_qemu_img_check(const char *path)
{
	g_autofree char *qemu_img = it_qemu_img();
	const char *argv[] = { qemu_img, "check", path, NULL };
	g_autofree char *out = it_run_ok(argv);

	g_assert_nonnull(strstr(out, "No errors were found on the image."));
}

static void agree(JsonNode *a, JsonNode *b, const char *where)
{
	JsonNodeType ta = json_node_get_node_type(a), tb = json_node_get_node_type(b);

	if (ta != tb)
		g_error("%s: node types differ", where);
	if (ta == JSON_NODE_OBJECT) {
		JsonObject *oa = json_node_get_object(a), *ob = json_node_get_object(b);
		g_autoptr(GList) members = json_object_get_members(oa);
		for (GList *l = members; l; l = l->next) {
			const char *k = l->data;
			if (!json_object_has_member(ob, k))
				continue;
			g_autofree char *sub = g_strdup_printf("%s.%s", where, k);
			agree(json_object_get_member(oa, k), json_object_get_member(ob, k), sub);
		}
	} else if (ta == JSON_NODE_ARRAY) {
		JsonArray *aa = json_node_get_array(a), *ab = json_node_get_array(b);
		if (json_array_get_length(aa) != json_array_get_length(ab))
			g_error("%s: array lengths differ", where);
		for (guint i = 0; i < json_array_get_length(aa); i++) {
			g_autofree char *sub = g_strdup_printf("%s[%u]", where, i);
			agree(json_array_get_element(aa, i), json_array_get_element(ab, i), sub);
		}
	} else if (!json_node_equal(a, b)) {
		g_autofree char *sa = json_to_string(a, FALSE), *sb = json_to_string(b, FALSE);
		g_error("%s: grainvm says %s, qemu-img says %s", where, sa, sb);
	}
}

static JsonNode *lookup(JsonNode *n, const char *dotted)
{
	g_auto(GStrv) parts = g_strsplit(dotted, ".", -1);

	for (gsize i = 0; parts[i] && n; i++) {
		if (json_node_get_node_type(n) != JSON_NODE_OBJECT)
			return NULL;
		JsonObject *o = json_node_get_object(n);
		n = json_object_has_member(o, parts[i]) ? json_object_get_member(o, parts[i]) : NULL;
	}
	return n;
}

void it_assert_json_agrees(JsonNode *ours, JsonNode *theirs, const char *const *required)
{
	for (gsize i = 0; required && required[i]; i++) {
		if (!lookup(ours, required[i]))
			g_error("grainvm's JSON lacks %s", required[i]);
		if (!lookup(theirs, required[i]))
			g_error("qemu-img's JSON lacks %s", required[i]);
	}
	agree(ours, theirs, "$");
}

char *it_file_sha256(const char *path)
{
	g_autoptr(GMappedFile) map = g_mapped_file_new(path, FALSE, NULL);

	g_assert_nonnull(map);
	return g_compute_checksum_for_data(G_CHECKSUM_SHA256,
					   (const guchar *)g_mapped_file_get_contents(map),
					   g_mapped_file_get_length(map));
}

void it_write_random(const char *path, gsize len, guint32 seed)
{
	g_autoptr(GRand) rand = g_rand_new_with_seed(seed);
	g_autofree guint32 *buf = g_new(guint32, len / 4 + 1);
	g_autoptr(GError) error = NULL;

	for (gsize i = 0; i < len / 4 + 1; i++)
		buf[i] = g_rand_int(rand);
	g_assert_true(g_file_set_contents(path, (const char *)buf, (gssize)len, &error));
}

static int cmp_names(gconstpointer a, gconstpointer b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

char *it_dir_listing(const char *dir)
{
	g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
	g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
	const char *n;

	g_assert_nonnull(d);
	while ((n = g_dir_read_name(d)))
		g_ptr_array_add(names, g_strdup(n));
	g_ptr_array_sort(names, cmp_names);
	g_ptr_array_add(names, NULL);
	return g_strjoinv(",", (char **)names->pdata);
}
