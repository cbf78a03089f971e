/* SPDX-License-Identifier: MIT */
/*
 * qmp-error.c - the GV_QMP_ERROR domain and the QMP error-class table
 *
 * A QMP or qemu-ga "error" reply names its class as a string.  The table
 * below maps the classes grainvm acts on to GvQmpError codes; every other
 * class becomes GV_QMP_ERROR_OTHER_CLASS.  Either way the message reads
 * "CLASS: DESC", so a caller that logs the error never loses the class.
 */
#include "qmp-private.h"

G_DEFINE_QUARK(gv-qmp-error-quark, gv_qmp_error)

/* Indexed by GvQmpError; only the codes that are QMP classes have a name. */
static const char *const class_names[] = {
	[GV_QMP_ERROR_GENERIC_ERROR] = "GenericError",
	[GV_QMP_ERROR_COMMAND_NOT_FOUND] = "CommandNotFound",
	[GV_QMP_ERROR_DEVICE_NOT_ACTIVE] = "DeviceNotActive",
	[GV_QMP_ERROR_DEVICE_NOT_FOUND] = "DeviceNotFound",
	[GV_QMP_ERROR_KVM_MISSING_CAP] = "KVMMissingCap",
};
/* Every named class code comes before OTHER_CLASS; a new class must be
 * added both to the enum (before OTHER_CLASS) and to the table. */
G_STATIC_ASSERT(G_N_ELEMENTS(class_names) == GV_QMP_ERROR_OTHER_CLASS);

/**
 * gv_qmp_error_class_name() - QMP class string of an error code
 * @code: a GvQmpError
 *
 * Return: the class name for the class codes; NULL for the connection
 * failures and GV_QMP_ERROR_OTHER_CLASS.
 */
const char *gv_qmp_error_class_name(GvQmpError code)
{
	if ((guint)code >= G_N_ELEMENTS(class_names))
		return NULL;
	return class_names[code];
}

/**
 * gv_qmp_error_from_reply() - turn the "error" member of a reply into a GError
 * @error_node: (nullable): the "error" member as received
 * @command: the command it answers, for the message when the member is
 *           malformed
 *
 * Return: (transfer full): GV_QMP_ERROR with the class code and the
 * message "CLASS: DESC"; GV_QMP_ERROR_PROTOCOL when the member is not an
 * object with a string "class".
 */
GError *gv_qmp_error_from_reply(JsonNode *error_node, const char *command)
{
	JsonObject *obj;
	const char *cls, *desc;

	if (!error_node || !JSON_NODE_HOLDS_OBJECT(error_node))
		return g_error_new(GV_QMP_ERROR, GV_QMP_ERROR_PROTOCOL,
				   "malformed error reply to '%s'", command);
	obj = json_node_get_object(error_node);
	cls = gv_json_string_or(obj, "class", NULL);
	if (!cls)
		return g_error_new(GV_QMP_ERROR, GV_QMP_ERROR_PROTOCOL,
				   "error reply to '%s' has no class", command);
	desc = gv_json_string_or(obj, "desc", NULL);

	GvQmpError code = GV_QMP_ERROR_OTHER_CLASS;
	for (guint i = 0; i < G_N_ELEMENTS(class_names); i++) {
		if (g_str_equal(class_names[i], cls)) {
			code = (GvQmpError)i;
			break;
		}
	}
	return g_error_new(GV_QMP_ERROR, code, "%s: %s", cls,
			   desc ? desc : "(no description)");
}
