/* SPDX-License-Identifier: MIT */
/*
 * qmp-json.c - typed access to members of objects a peer sent
 *
 * json-glib's getters trust their input: json_object_get_string_member()
 * returns NULL for a member that holds a number (and a caller's strlen()
 * then crashes), the object and array getters emit a critical on another
 * type, and the tests run with G_DEBUG=fatal-criticals.  A guest must not
 * be able to crash the host or make it log criticals, so every value that
 * came from a peer goes through these instead (see grainvm-qmp.h for the
 * two families and their contract).
 */
#include "qmp-private.h"

/* What a node holds, for a message: "a string", "an array", ... */
static const char *kind_name(JsonNode *node)
{
	switch (JSON_NODE_TYPE(node)) {
	case JSON_NODE_OBJECT:
		return "an object";
	case JSON_NODE_ARRAY:
		return "an array";
	case JSON_NODE_NULL:
		return "null";
	case JSON_NODE_VALUE:
		break;
	}
	switch (json_node_get_value_type(node)) {
	case G_TYPE_STRING:
		return "a string";
	case G_TYPE_INT64:
		return "an integer";
	case G_TYPE_DOUBLE:
		return "a fractional number";
	case G_TYPE_BOOLEAN:
		return "true or false";
	default:
		return "an odd value";
	}
}

/*
 * The member's node for a checked read: NULL with *ok TRUE when an
 * optional member is absent or null, NULL with *ok FALSE (and @error)
 * when a required one is.
 */
static JsonNode *member_node(JsonObject *obj, const char *peer, const char *member,
			     GvJsonPresence presence, gboolean *ok, GError **error)
{
	JsonNode *node = obj ? json_object_get_member(obj, member) : NULL;

	*ok = TRUE;
	if (node && !JSON_NODE_HOLDS_NULL(node))
		return node;
	if (presence == GV_JSON_REQUIRED) {
		g_set_error(error, GV_QMP_ERROR, GV_QMP_ERROR_PROTOCOL,
			    "%s: member \"%s\" is %s", peer, member,
			    obj ? (node ? "null" : "missing") : "missing (the reply is no object)");
		*ok = FALSE;
	}
	return NULL;
}

static gboolean wrong_type(JsonNode *node, const char *peer, const char *member,
			   const char *want, GError **error)
{
	g_set_error(error, GV_QMP_ERROR, GV_QMP_ERROR_PROTOCOL,
		    "%s: member \"%s\" is %s, not %s", peer, member, kind_name(node), want);
	return FALSE;
}

static gboolean holds(JsonNode *node, GType type)
{
	return JSON_NODE_HOLDS_VALUE(node) && json_node_get_value_type(node) == type;
}

/**
 * gv_json_get_string() - a string member
 * @obj: (nullable): the object the peer sent
 * @peer: names the peer in the message ("grainvm-agent", "qemu-ga", "QMP")
 * @member: the member
 * @presence: whether a missing member is an error
 * @out: (out) (transfer none): the string, set only when present
 * @error: GV_QMP_ERROR_PROTOCOL naming @peer and @member
 *
 * Return: TRUE when the member is a string, or optional and absent.
 */
gboolean gv_json_get_string(JsonObject *obj, const char *peer, const char *member,
			    GvJsonPresence presence, const char **out, GError **error)
{
	gboolean ok;
	JsonNode *node = member_node(obj, peer, member, presence, &ok, error);

	if (!node)
		return ok;
	if (!holds(node, G_TYPE_STRING))
		return wrong_type(node, peer, member, "a string", error);
	*out = json_node_get_string(node);
	return TRUE;
}

/**
 * gv_json_get_int() - an integer member within [@min, @max]
 * @obj: (nullable): the object the peer sent
 * @peer: names the peer in the message
 * @member: the member
 * @presence: whether a missing member is an error
 * @min: smallest value accepted
 * @max: largest value accepted
 * @out: (out): the value, set only when present and in range
 * @error: GV_QMP_ERROR_PROTOCOL naming @peer and @member
 *
 * Return: TRUE when the member is an integer in range, or optional and absent.
 */
gboolean gv_json_get_int(JsonObject *obj, const char *peer, const char *member,
			 GvJsonPresence presence, gint64 min, gint64 max, gint64 *out,
			 GError **error)
{
	gboolean ok;
	JsonNode *node = member_node(obj, peer, member, presence, &ok, error);

	if (!node)
		return ok;
	if (!holds(node, G_TYPE_INT64))
		return wrong_type(node, peer, member, "an integer", error);
	gint64 v = json_node_get_int(node);
	if (v < min || v > max) {
		g_set_error(error, GV_QMP_ERROR, GV_QMP_ERROR_PROTOCOL,
			    "%s: member \"%s\" is %" G_GINT64_FORMAT ", outside %" G_GINT64_FORMAT
			    "..%" G_GINT64_FORMAT, peer, member, v, min, max);
		return FALSE;
	}
	*out = v;
	return TRUE;
}

/**
 * gv_json_get_bool() - a true/false member
 * @obj: (nullable): the object the peer sent
 * @peer: names the peer in the message
 * @member: the member
 * @presence: whether a missing member is an error
 * @out: (out): the value, set only when present
 * @error: GV_QMP_ERROR_PROTOCOL naming @peer and @member
 *
 * Return: TRUE when the member is a boolean, or optional and absent.
 */
gboolean gv_json_get_bool(JsonObject *obj, const char *peer, const char *member,
			  GvJsonPresence presence, gboolean *out, GError **error)
{
	gboolean ok;
	JsonNode *node = member_node(obj, peer, member, presence, &ok, error);

	if (!node)
		return ok;
	if (!holds(node, G_TYPE_BOOLEAN))
		return wrong_type(node, peer, member, "true or false", error);
	*out = json_node_get_boolean(node);
	return TRUE;
}

/**
 * gv_json_get_double() - a number member (integer or fractional)
 * @obj: (nullable): the object the peer sent
 * @peer: names the peer in the message
 * @member: the member
 * @presence: whether a missing member is an error
 * @out: (out): the value, set only when present
 * @error: GV_QMP_ERROR_PROTOCOL naming @peer and @member
 *
 * Return: TRUE when the member is a number, or optional and absent.
 */
gboolean gv_json_get_double(JsonObject *obj, const char *peer, const char *member,
			    GvJsonPresence presence, double *out, GError **error)
{
	gboolean ok;
	JsonNode *node = member_node(obj, peer, member, presence, &ok, error);

	if (!node)
		return ok;
	if (holds(node, G_TYPE_INT64))
		*out = (double)json_node_get_int(node);
	else if (holds(node, G_TYPE_DOUBLE))
		*out = json_node_get_double(node);
	else
		return wrong_type(node, peer, member, "a number", error);
	return TRUE;
}

/**
 * gv_json_get_object() - an object member
 * @obj: (nullable): the object the peer sent
 * @peer: names the peer in the message
 * @member: the member
 * @presence: whether a missing member is an error
 * @out: (out) (transfer none): the object, set only when present
 * @error: GV_QMP_ERROR_PROTOCOL naming @peer and @member
 *
 * Return: TRUE when the member is an object, or optional and absent.
 */
gboolean gv_json_get_object(JsonObject *obj, const char *peer, const char *member,
			    GvJsonPresence presence, JsonObject **out, GError **error)
{
	gboolean ok;
	JsonNode *node = member_node(obj, peer, member, presence, &ok, error);

	if (!node)
		return ok;
	if (!JSON_NODE_HOLDS_OBJECT(node))
		return wrong_type(node, peer, member, "an object", error);
	*out = json_node_get_object(node);
	return TRUE;
}

/**
 * gv_json_get_array() - an array member of bounded length
 * @obj: (nullable): the object the peer sent
 * @peer: names the peer in the message
 * @member: the member
 * @presence: whether a missing member is an error
 * @max_len: most elements accepted
 * @out: (out) (transfer none): the array, set only when present
 * @error: GV_QMP_ERROR_PROTOCOL naming @peer and @member
 *
 * Return: TRUE when the member is an array of at most @max_len elements,
 * or optional and absent.
 */
gboolean gv_json_get_array(JsonObject *obj, const char *peer, const char *member,
			   GvJsonPresence presence, guint max_len, JsonArray **out,
			   GError **error)
{
	gboolean ok;
	JsonNode *node = member_node(obj, peer, member, presence, &ok, error);

	if (!node)
		return ok;
	if (!JSON_NODE_HOLDS_ARRAY(node))
		return wrong_type(node, peer, member, "an array", error);
	JsonArray *a = json_node_get_array(node);
	if (json_array_get_length(a) > max_len) {
		g_set_error(error, GV_QMP_ERROR, GV_QMP_ERROR_PROTOCOL,
			    "%s: member \"%s\" has %u elements, more than %u", peer, member,
			    json_array_get_length(a), max_len);
		return FALSE;
	}
	*out = a;
	return TRUE;
}

JsonObject *gv_json_node_object(JsonNode *node, const char *peer, const char *what,
				GError **error)
{
	if (node && JSON_NODE_HOLDS_OBJECT(node))
		return json_node_get_object(node);
	g_set_error(error, GV_QMP_ERROR, GV_QMP_ERROR_PROTOCOL, "%s: %s is %s, not an object",
		    peer, what, node ? kind_name(node) : "missing");
	return NULL;
}

/* ---- lenient reads, for what is only shown or compared -------------------- */

static JsonNode *member_or_null(JsonObject *obj, const char *member)
{
	return obj ? json_object_get_member(obj, member) : NULL;
}

/** gv_json_string_or() - a string member, or @fallback */
const char *gv_json_string_or(JsonObject *obj, const char *member, const char *fallback)
{
	JsonNode *node = member_or_null(obj, member);

	return node && holds(node, G_TYPE_STRING) ? json_node_get_string(node) : fallback;
}

/** gv_json_int_or() - an integer member, or @fallback */
gint64 gv_json_int_or(JsonObject *obj, const char *member, gint64 fallback)
{
	JsonNode *node = member_or_null(obj, member);

	return node && holds(node, G_TYPE_INT64) ? json_node_get_int(node) : fallback;
}

/** gv_json_bool_or() - a boolean member, or @fallback */
gboolean gv_json_bool_or(JsonObject *obj, const char *member, gboolean fallback)
{
	JsonNode *node = member_or_null(obj, member);

	return node && holds(node, G_TYPE_BOOLEAN) ? json_node_get_boolean(node) : fallback;
}

/** gv_json_double_or() - a number member (integer or not), or @fallback */
double gv_json_double_or(JsonObject *obj, const char *member, double fallback)
{
	JsonNode *node = member_or_null(obj, member);

	if (node && holds(node, G_TYPE_DOUBLE))
		return json_node_get_double(node);
	if (node && holds(node, G_TYPE_INT64))
		return (double)json_node_get_int(node);
	return fallback;
}

/** gv_json_object_or_null() - an object member, or NULL */
JsonObject *gv_json_object_or_null(JsonObject *obj, const char *member)
{
	return gv_json_node_object_or_null(member_or_null(obj, member));
}

/** gv_json_array_or_null() - an array member, or NULL */
JsonArray *gv_json_array_or_null(JsonObject *obj, const char *member)
{
	return gv_json_node_array_or_null(member_or_null(obj, member));
}

/** gv_json_node_object_or_null() - @node's object, or NULL */
JsonObject *gv_json_node_object_or_null(JsonNode *node)
{
	return node && JSON_NODE_HOLDS_OBJECT(node) ? json_node_get_object(node) : NULL;
}

/** gv_json_node_array_or_null() - @node's array, or NULL */
JsonArray *gv_json_node_array_or_null(JsonNode *node)
{
	return node && JSON_NODE_HOLDS_ARRAY(node) ? json_node_get_array(node) : NULL;
}

/** gv_json_array_object_at() - element @index when it is an object */
JsonObject *gv_json_array_object_at(JsonArray *array, guint index)
{
	if (!array || index >= json_array_get_length(array))
		return NULL;
	return gv_json_node_object_or_null(json_array_get_element(array, index));
}

/** gv_json_array_string_at() - element @index when it is a string */
const char *gv_json_array_string_at(JsonArray *array, guint index)
{
	if (!array || index >= json_array_get_length(array))
		return NULL;
	JsonNode *node = json_array_get_element(array, index);
	return holds(node, G_TYPE_STRING) ? json_node_get_string(node) : NULL;
}

/** gv_json_has() - @member is present and not null */
gboolean gv_json_has(JsonObject *obj, const char *member)
{
	JsonNode *node = member_or_null(obj, member);

	return node && !JSON_NODE_HOLDS_NULL(node);
}
