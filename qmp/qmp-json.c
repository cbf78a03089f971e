/* SPDX-License-Identifier: MIT */
/*
 * qmp-json.c - typed access to members of objects the peer sent
 *
 * json-glib's getters emit a critical when a member has another type than
 * asked for, and the tests run with G_DEBUG=fatal-criticals; more to the
 * point, a guest must not be able to make the host log criticals.  These
 * return "absent" for a missing or wrongly typed member instead.
 */
#include "qmp-private.h"

/**
 * gv_qmp_object_get_string() - a string member, or NULL
 * @obj: the object
 * @name: the member
 *
 * Return: (transfer none) (nullable): the string when @name holds one.
 */
const char *gv_qmp_object_get_string(JsonObject *obj, const char *name)
{
	JsonNode *node = json_object_get_member(obj, name);

	if (!node || !JSON_NODE_HOLDS_VALUE(node) ||
	    json_node_get_value_type(node) != G_TYPE_STRING)
		return NULL;
	return json_node_get_string(node);
}

/**
 * gv_qmp_object_get_int() - an integer member of a peer object
 * @obj: the object
 * @name: the member
 * @out: (out): its value, set only when found
 *
 * json-glib's accessors emit criticals on a wrongly typed member; peer
 * input must never trigger one.
 *
 * Return: TRUE when @name holds an integer.
 */
gboolean gv_qmp_object_get_int(JsonObject *obj, const char *name, gint64 *out)
{
	JsonNode *node = json_object_get_member(obj, name);

	if (!node || !JSON_NODE_HOLDS_VALUE(node) ||
	    json_node_get_value_type(node) != G_TYPE_INT64)
		return FALSE;
	*out = json_node_get_int(node);
	return TRUE;
}

/**
 * gv_qmp_object_get_object() - an object member of a peer object, or NULL
 * @obj: the object
 * @name: the member
 *
 * Return: (transfer none) (nullable): the member when it is an object.
 */
JsonObject *gv_qmp_object_get_object(JsonObject *obj, const char *name)
{
	JsonNode *node = json_object_get_member(obj, name);

	if (!node || !JSON_NODE_HOLDS_OBJECT(node))
		return NULL;
	return json_node_get_object(node);
}

