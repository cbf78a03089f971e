/* SPDX-License-Identifier: MIT */
/* disk-layers.c - a VM's disk after live disk snapshots (see disk-layers.h) */
#include "snapshot/disk-layers.h"

#include <string.h>
#include <unistd.h>

#include "liveness.h"
#include "gv-error.h"
#include "fileio.h"
#include "grainvm-qmp.h"

static char *layers_path(const GvVmPaths *paths)
{
	return g_build_filename(paths->state_dir, "disk-layers.json", NULL);
}

JsonObject *gv_disk_layers_read(const GvVmPaths *paths, GError **error)
{
	g_autofree char *path = layers_path(paths);
	g_autofree char *text = NULL;
	gsize len;
	g_autoptr(GError) err = NULL;
	if (!g_file_get_contents(path, &text, &len, &err)) {
		if (g_error_matches(err, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
			JsonObject *o = json_object_new();
			json_object_set_array_member(o, "layers", json_array_new());
			return o;
		}
		g_set_error(error, GV_ERROR, GV_ERROR_FAILED, "cannot read %s: %s", path,
			    err->message);
		return NULL;
	}
	g_autoptr(JsonObject) o = gv_json_parse_object(text, (gssize)len, &err);
	if (!o || !json_object_has_member(o, "top") ||
	    !JSON_NODE_HOLDS_VALUE(json_object_get_member(o, "top")) ||
	    !json_object_has_member(o, "layers") ||
	    !JSON_NODE_HOLDS_ARRAY(json_object_get_member(o, "layers"))) {
		g_set_error(error, GV_ERROR, GV_ERROR_FAILED, "%s is damaged%s%s", path,
			    err ? ": " : "", err ? err->message : " (no top or layers)");
		return NULL;
	}
	return g_steal_pointer(&o);
}

gboolean gv_disk_layers_write(const GvVmPaths *paths, JsonObject *layers, GError **error)
{
	g_autofree char *path = layers_path(paths);
	g_autoptr(JsonNode) n = json_node_init_object(json_node_alloc(), layers);
	g_autofree char *text = gv_json_to_string(n, TRUE);
	return gv_write_file_atomic(path, text, strlen(text), 0600, error);
}

char *gv_disk_top(const GvVmPaths *paths, GError **error)
{
	g_autoptr(JsonObject) o = gv_disk_layers_read(paths, error);
	if (!o)
		return NULL;
	const char *top = gv_json_string_or(o, "top", NULL);
	if (!top)
		return g_strdup(paths->overlay);
	if (!g_file_test(top, G_FILE_TEST_EXISTS)) {
		g_set_error(error, GV_ERROR, GV_ERROR_FAILED,
			    "the disk of vm %s is missing its top layer %s (after a live disk "
			    "snapshot; see disk-layers.json in %s)", paths->name, top,
			    paths->state_dir);
		return NULL;
	}
	return g_strdup(top);
}

const char *gv_disk_layer_file(JsonObject *layers, const char *tag)
{
	JsonArray *a = gv_json_array_or_null(layers, "layers");
	for (guint i = 0; a && i < json_array_get_length(a); i++) {
		JsonNode *n = json_array_get_element(a, i);
		if (!JSON_NODE_HOLDS_OBJECT(n))
			continue;
		JsonObject *l = json_node_get_object(n);
		if (!g_strcmp0(gv_json_string_or(l, "tag", NULL), tag))
			return gv_json_string_or(l, "file", NULL);
	}
	return NULL;
}

void gv_disk_layers_forget(const GvVmPaths *paths)
{
	g_autofree char *path = layers_path(paths);
	unlink(path);
}
