/* SPDX-License-Identifier: MIT */
/*
 * qmp-private.h - what the files of libgvqmp share; not installed
 *
 * qmp-client.c owns the object, its I/O and closing; qmp-handshake.c the
 * greeting/sync states; qmp-command.c the pending queue.  They share the
 * client struct below.  The Theory of Operation is in qmp-client.c.
 */
#pragma once

#include "grainvm-qmp.h"

/* qmp-error.c */
GError *gv_qmp_error_from_reply(JsonNode *error_node, const char *command);

/* qmp-json.c */
const char *gv_qmp_object_get_string(JsonObject *obj, const char *name);
gboolean gv_qmp_object_get_int(JsonObject *obj, const char *name, gint64 *out);
JsonObject *gv_qmp_object_get_object(JsonObject *obj, const char *name);
