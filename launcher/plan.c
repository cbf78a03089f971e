/* SPDX-License-Identifier: MIT */
/*
 * plan.c - the plan codec: GvPlan <-> plan.json, strictly (plan.h says why)
 *
 * Decoding walks the object with small typed getters that know where they
 * are ("nics[1].forwards[0]") so that every error names the member.
 */
#include "plan.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "boot/argv.h"
#include "fileio.h"
#include "gv-error.h"
#include "liveness.h"

GvPlan *gv_plan_new(void)
{
	GvPlan *p = g_new0(GvPlan, 1);
	p->shares = g_ptr_array_new_with_free_func((GDestroyNotify)gv_plan_share_free);
	p->nics = g_ptr_array_new_with_free_func((GDestroyNotify)gv_plan_nic_free);
	p->files = g_ptr_array_new_with_free_func((GDestroyNotify)gv_plan_file_free);
	p->qemu_user.kvm_gid = (gid_t)-1;
	return p;
}

static void restore_free(GvPlanRestore *r)
{
	if (!r)
		return;
	g_free(r->tag);
	g_free(r->state);
	g_free(r->run_overlay);
	g_free(r->template_ram);
	g_free(r->template_of);
	g_strfreev(r->macs);
	g_strfreev(r->nets);
	g_free(r);
}

void gv_plan_free(GvPlan *p)
{
	if (!p)
		return;
	g_free(p->name);
	g_strfreev(p->argv);
	g_strfreev(p->snapshot_argv);
	g_free(p->accel);
	g_free(p->accel_reason);
	g_free(p->boot);
	g_free(p->boot_origin);
	g_free(p->project_dir);
	g_free(p->disk);
	g_free(p->disk_image);
	g_free(p->ram_file);
	g_ptr_array_unref(p->shares);
	g_ptr_array_unref(p->nics);
	g_ptr_array_unref(p->files);
	gv_qemu_user_clear(&p->qemu_user);
	restore_free(p->restore);
	g_free(p);
}

GvPlanShare *gv_plan_share_new(void)
{
	return g_new0(GvPlanShare, 1);
}

void gv_plan_share_free(GvPlanShare *s)
{
	g_free(s->id);
	g_free(s->source);
	g_free(s->tag);
	g_free(s->mount);
	g_free(s->cache);
	g_free(s->security);
	g_free(s);
}

void gv_plan_file_free(GvPlanFile *f)
{
	g_free(f->path);
	g_free(f);
}

GvPlanNic *gv_plan_nic_new(void)
{
	GvPlanNic *n = g_new0(GvPlanNic, 1);
	n->fd = -1;
	return n;
}

void gv_plan_nic_free(GvPlanNic *n)
{
	g_free(n->id);
	g_free(n->netdev);
	g_free(n->mac);
	g_free(n->tap);
	g_free(n->helper);
	g_free(n->bridge);
	g_free(n->network);
	g_free(n->address);
	if (n->forwards)
		g_ptr_array_unref(n->forwards);
	g_free(n);
}

/* ---- encoding --------------------------------------------------------------------- */

static void set_str(JsonObject *o, const char *member, const char *value)
{
	if (value)
		json_object_set_string_member(o, member, value);
}

static void set_strv(JsonObject *o, const char *member, char **value)
{
	if (!value || !*value)
		return;
	JsonArray *a = json_array_new();
	for (char **p = value; *p; p++)
		json_array_add_string_element(a, *p);
	json_object_set_array_member(o, member, a);
}

JsonArray *gv_plan_shares_to_json(const GvPlan *plan)
{
	JsonArray *a = json_array_new();
	for (guint i = 0; i < plan->shares->len; i++) {
		const GvPlanShare *s = g_ptr_array_index(plan->shares, i);
		JsonObject *o = json_object_new();
		json_object_set_string_member(o, "id", s->id);
		json_object_set_string_member(o, "source", s->source);
		json_object_set_string_member(o, "tag", s->tag);
		json_object_set_string_member(o, "mount", s->mount);
		json_object_set_boolean_member(o, "readonly", s->readonly);
		json_object_set_int_member(o, "msize", (gint64)s->msize);
		json_object_set_string_member(o, "cache", s->cache);
		json_object_set_string_member(o, "security", s->security);
		json_array_add_object_element(a, o);
	}
	return a;
}

JsonArray *gv_plan_nics_to_json(const GvPlan *plan)
{
	JsonArray *a = json_array_new();
	for (guint i = 0; i < plan->nics->len; i++) {
		const GvPlanNic *n = g_ptr_array_index(plan->nics, i);
		JsonObject *o = json_object_new();
		json_object_set_string_member(o, "id", n->id);
		json_object_set_string_member(o, "netdev", n->netdev);
		json_object_set_string_member(o, "mode", gv_net_mode_name(n->mode));
		json_object_set_string_member(o, "mac", n->mac);
		if (n->fd >= 0)
			json_object_set_int_member(o, "fd", n->fd);
		set_str(o, "tap", n->tap);
		set_str(o, "helper", n->helper);
		set_str(o, "bridge", n->bridge);
		set_str(o, "network", n->network);
		set_str(o, "address", n->address);
		if (n->mtu)
			json_object_set_int_member(o, "mtu", n->mtu);
		if (n->forwards) {
			JsonArray *fw = json_array_new();
			for (guint j = 0; j < n->forwards->len; j++) {
				const GvForward *f = g_ptr_array_index(n->forwards, j);
				JsonObject *fo = json_object_new();
				json_object_set_string_member(fo, "proto", f->proto);
				json_object_set_string_member(fo, "host-addr", f->host_addr);
				json_object_set_int_member(fo, "host-port", f->host_port);
				json_object_set_int_member(fo, "guest-port", f->guest_port);
				json_array_add_object_element(fw, fo);
			}
			json_object_set_array_member(o, "forwards", fw);
			json_object_set_boolean_member(o, "auto-forward", n->auto_forward);
			if (n->auto_forward_privileged)
				json_object_set_boolean_member(o, "auto-forward-privileged", TRUE);
			if (n->auto_forward_max)
				json_object_set_int_member(o, "auto-forward-max",
							   n->auto_forward_max);
		}
		json_array_add_object_element(a, o);
	}
	return a;
}

JsonObject *gv_plan_to_json(const GvPlan *plan)
{
	JsonObject *o = json_object_new();
	json_object_set_string_member(o, "name", plan->name);
	JsonArray *a = json_array_new();
	for (char **p = plan->argv; p && *p; p++)
		json_array_add_string_element(a, *p);
	json_object_set_array_member(o, "argv", a);
	if (plan->snapshot_argv) {
		JsonArray *sa = json_array_new();
		for (char **p = plan->snapshot_argv; *p; p++)
			json_array_add_string_element(sa, *p);
		json_object_set_array_member(o, "snapshot-argv", sa);
	}
	json_object_set_int_member(o, "ready-timeout", plan->ready_timeout);
	if (plan->ready_system) /* absent: agent, as plans before the key said */
		json_object_set_string_member(o, "ready", "system");
	json_object_set_string_member(o, "accel", plan->accel);
	set_str(o, "accel-reason", plan->accel_reason);
	json_object_set_string_member(o, "boot", plan->boot);
	set_str(o, "boot-origin", plan->boot_origin);
	set_str(o, "project-dir", plan->project_dir);
	json_object_set_int_member(o, "memory", (gint64)plan->memory);
	json_object_set_int_member(o, "cpus", plan->cpus);
	set_str(o, "disk", plan->disk);
	set_str(o, "disk-image", plan->disk_image);
	set_str(o, "ram-file", plan->ram_file);
	json_object_set_array_member(o, "shares", gv_plan_shares_to_json(plan));
	json_object_set_array_member(o, "nics", gv_plan_nics_to_json(plan));
	if (plan->restore) {
		JsonObject *r = json_object_new();
		json_object_set_string_member(r, "tag", plan->restore->tag);
		json_object_set_string_member(r, "state", plan->restore->state);
		set_str(r, "run-overlay", plan->restore->run_overlay);
		set_str(r, "template-ram", plan->restore->template_ram);
		set_str(r, "template", plan->restore->template_of);
		set_strv(r, "macs", plan->restore->macs);
		set_strv(r, "net", plan->restore->nets);
		json_object_set_object_member(o, "restore", r);
	}
	set_str(o, "qemu-user-why", plan->qemu_user.why);
	if (plan->qemu_user.drop) {
		JsonObject *u = json_object_new();
		json_object_set_string_member(u, "name", plan->qemu_user.name);
		json_object_set_int_member(u, "uid", plan->qemu_user.uid);
		json_object_set_int_member(u, "gid", plan->qemu_user.gid);
		if (plan->qemu_user.kvm_gid != (gid_t)-1)
			json_object_set_int_member(u, "kvm-gid", plan->qemu_user.kvm_gid);
		json_object_set_object_member(o, "qemu-user", u);
	}
	if (plan->files->len) {
		JsonArray *fa = json_array_new();
		for (guint i = 0; i < plan->files->len; i++) {
			const GvPlanFile *f = g_ptr_array_index(plan->files, i);
			JsonObject *fo = json_object_new();
			json_object_set_int_member(fo, "fd", f->fd);
			json_object_set_string_member(fo, "path", f->path);
			json_object_set_boolean_member(fo, "directory", f->directory);
			if (f->writable)
				json_object_set_boolean_member(fo, "writable", TRUE);
			json_array_add_object_element(fa, fo);
		}
		json_object_set_array_member(o, "files", fa);
	}
	return o;
}

char *gv_plan_to_data(const GvPlan *plan)
{
	g_autoptr(JsonNode) n = json_node_init_object(json_node_alloc(), gv_plan_to_json(plan));
	return gv_json_to_string(n, TRUE);
}

/* ---- decoding ------------------------------------------------------------------------ */

/* Where the decoder is, for messages: "" at the top, "nics[1]." inside. */
typedef struct {
	JsonObject *o;
	const char *at;
} Obj;

static gboolean fail(GError **error, const Obj *c, const char *member, const char *what)
{
	g_set_error(error, GV_ERROR, GV_ERROR_FAILED, "plan member \"%s%s\" %s", c->at, member,
		    what);
	return FALSE;
}

/* The member's node, NULL when absent; absent or null is an error when @required. */
static gboolean member(const Obj *c, const char *name, gboolean required, JsonNode **out,
		       GError **error)
{
	JsonNode *n = json_object_get_member(c->o, name);
	if (n && JSON_NODE_HOLDS_NULL(n))
		n = NULL;
	if (!n && required)
		return fail(error, c, name, "is missing");
	*out = n;
	return TRUE;
}

static gboolean get_str(const Obj *c, const char *name, gboolean required, char **out,
			GError **error)
{
	JsonNode *n;
	if (!member(c, name, required, &n, error))
		return FALSE;
	if (n && (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING))
		return fail(error, c, name, "must be a string");
	*out = n ? g_strdup(json_node_get_string(n)) : NULL;
	return TRUE;
}

/* An absolute path: a share's source and mount are (spec.c), relative ones would mean the cwd. */
static gboolean get_path(const Obj *c, const char *name, gboolean required, char **out,
			 GError **error)
{
	if (!get_str(c, name, required, out, error))
		return FALSE;
	if (*out && !g_path_is_absolute(*out)) {
		g_clear_pointer(out, g_free);
		return fail(error, c, name, "must be an absolute path");
	}
	return TRUE;
}

static gboolean get_int(const Obj *c, const char *name, gboolean required, gint64 min,
			gint64 max, gint64 *out, GError **error)
{
	JsonNode *n;
	if (!member(c, name, required, &n, error))
		return FALSE;
	if (!n)
		return TRUE; /* *out keeps the caller's default */
	if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_INT64)
		return fail(error, c, name, "must be an integer");
	gint64 v = json_node_get_int(n);
	if (v < min || v > max) {
		g_autofree char *what = g_strdup_printf("is %" G_GINT64_FORMAT ", not in %"
							G_GINT64_FORMAT "..%" G_GINT64_FORMAT,
							v, min, max);
		return fail(error, c, name, what);
	}
	*out = v;
	return TRUE;
}

static gboolean get_bool(const Obj *c, const char *name, gboolean *out, GError **error)
{
	JsonNode *n;
	if (!member(c, name, FALSE, &n, error))
		return FALSE;
	if (n && (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_BOOLEAN))
		return fail(error, c, name, "must be true or false");
	*out = n ? json_node_get_boolean(n) : FALSE;
	return TRUE;
}

static gboolean get_array(const Obj *c, const char *name, gboolean required, JsonArray **out,
			  GError **error)
{
	JsonNode *n;
	if (!member(c, name, required, &n, error))
		return FALSE;
	if (n && !JSON_NODE_HOLDS_ARRAY(n))
		return fail(error, c, name, "must be an array");
	*out = n ? json_node_get_array(n) : NULL;
	return TRUE;
}

/* An optional array of strings; absent or empty: NULL. */
static gboolean get_strv(const Obj *c, const char *name, char ***out, GError **error)
{
	JsonArray *a = NULL;
	if (!get_array(c, name, FALSE, &a, error))
		return FALSE;
	guint len = a ? json_array_get_length(a) : 0;
	if (!len)
		return TRUE;
	char **v = g_new0(char *, len + 1);
	for (guint i = 0; i < len; i++) {
		JsonNode *e = json_array_get_element(a, i);
		if (!JSON_NODE_HOLDS_VALUE(e) || json_node_get_value_type(e) != G_TYPE_STRING) {
			g_strfreev(v);
			g_autofree char *el = g_strdup_printf("%s[%u]", name, i);
			return fail(error, c, el, "must be a string");
		}
		v[i] = g_strdup(json_node_get_string(e));
	}
	*out = v;
	return TRUE;
}

/* Element @i of array @name as an object, with its place for messages in @at_out. */
static gboolean element_obj(const Obj *c, const char *name, JsonArray *a, guint i, Obj *out,
			    char **at_out, GError **error)
{
	JsonNode *n = json_array_get_element(a, i);
	g_autofree char *el = g_strdup_printf("%s[%u]", name, i);
	if (!JSON_NODE_HOLDS_OBJECT(n))
		return fail(error, c, el, "must be an object");
	*at_out = g_strdup_printf("%s%s.", c->at, el);
	out->o = json_node_get_object(n);
	out->at = *at_out;
	return TRUE;
}

static gboolean decode_forward(const Obj *c, GvForward *f, GError **error)
{
	g_autofree char *proto = NULL;
	gint64 hp = 0, gp = 0;
	if (!get_str(c, "proto", TRUE, &proto, error) ||
	    !get_str(c, "host-addr", TRUE, &f->host_addr, error) ||
	    !get_int(c, "host-port", TRUE, 1, G_MAXUINT16, &hp, error) ||
	    !get_int(c, "guest-port", TRUE, 1, G_MAXUINT16, &gp, error))
		return FALSE;
	if (strcmp(proto, "tcp") && strcmp(proto, "udp"))
		return fail(error, c, "proto", "must be \"tcp\" or \"udp\"");
	g_strlcpy(f->proto, proto, sizeof(f->proto));
	f->host_port = (guint16)hp;
	f->guest_port = (guint16)gp;
	return TRUE;
}

static gboolean decode_mode(const Obj *c, GvNetMode *mode, GError **error)
{
	g_autofree char *name = NULL;
	if (!get_str(c, "mode", TRUE, &name, error))
		return FALSE;
	static const GvNetMode modes[] = { GV_NET_USER, GV_NET_BRIDGE, GV_NET_SWITCH };
	for (gsize i = 0; i < G_N_ELEMENTS(modes); i++) {
		if (!strcmp(name, gv_net_mode_name(modes[i]))) {
			*mode = modes[i];
			return TRUE;
		}
	}
	return fail(error, c, "mode", "must be \"user\", \"bridge\" or \"switch\"");
}

static gboolean decode_nic(const Obj *c, GvPlanNic *n, GError **error)
{
	gint64 fd = -1, mtu = 0, auto_max = 0;
	JsonArray *fw = NULL;
	/* The descriptors QEMU inherits for NICs start at GV_FD_NIC_BASE (argv.h). */
	if (!get_str(c, "id", TRUE, &n->id, error) ||
	    !get_str(c, "netdev", TRUE, &n->netdev, error) || !decode_mode(c, &n->mode, error) ||
	    !get_str(c, "mac", TRUE, &n->mac, error) ||
	    !get_int(c, "fd", FALSE, GV_FD_NIC_BASE, GV_FD_NIC_BASE + GV_NICS_MAX - 1, &fd, error) ||
	    !get_str(c, "tap", FALSE, &n->tap, error) ||
	    !get_str(c, "helper", FALSE, &n->helper, error) ||
	    !get_str(c, "bridge", FALSE, &n->bridge, error) ||
	    !get_str(c, "network", FALSE, &n->network, error) ||
	    !get_str(c, "address", FALSE, &n->address, error) ||
	    !get_int(c, "mtu", FALSE, 0, G_MAXUINT16, &mtu, error) ||
	    !get_array(c, "forwards", FALSE, &fw, error) ||
	    !get_bool(c, "auto-forward", &n->auto_forward, error) ||
	    !get_bool(c, "auto-forward-privileged", &n->auto_forward_privileged, error) ||
	    !get_int(c, "auto-forward-max", FALSE, 1, G_MAXUINT16, &auto_max, error))
		return FALSE;
	n->auto_forward_max = (guint)auto_max;
	n->fd = (int)fd;
	n->mtu = (guint)mtu;
	if (n->fd >= 0 && n->mode == GV_NET_USER)
		return fail(error, c, "fd", "is not for a user-mode NIC");
	if (!fw)
		return TRUE;
	n->forwards = g_ptr_array_new_with_free_func((GDestroyNotify)gv_forward_free);
	for (guint i = 0; i < json_array_get_length(fw); i++) {
		Obj e;
		g_autofree char *at = NULL;
		if (!element_obj(c, "forwards", fw, i, &e, &at, error))
			return FALSE;
		GvForward *f = g_new0(GvForward, 1);
		g_ptr_array_add(n->forwards, f);
		if (!decode_forward(&e, f, error))
			return FALSE;
	}
	return TRUE;
}

static gboolean decode_share(const Obj *c, GvPlanShare *s, GError **error)
{
	gint64 msize = 0;
	return get_str(c, "id", TRUE, &s->id, error) &&
	       get_path(c, "source", TRUE, &s->source, error) &&
	       get_str(c, "tag", TRUE, &s->tag, error) &&
	       get_path(c, "mount", TRUE, &s->mount, error) &&
	       get_bool(c, "readonly", &s->readonly, error) &&
	       get_int(c, "msize", TRUE, 1, G_MAXUINT32, &msize, error) &&
	       (s->msize = (guint64)msize, TRUE) &&
	       get_str(c, "cache", TRUE, &s->cache, error) &&
	       get_str(c, "security", TRUE, &s->security, error);
}

static gboolean decode_restore(const Obj *top, GvPlan *p, GError **error)
{
	JsonNode *n;
	if (!member(top, "restore", FALSE, &n, error))
		return FALSE;
	if (!n)
		return TRUE;
	if (!JSON_NODE_HOLDS_OBJECT(n))
		return fail(error, top, "restore", "must be an object");
	Obj c = { json_node_get_object(n), "restore." };
	p->restore = g_new0(GvPlanRestore, 1);
	return get_str(&c, "tag", TRUE, &p->restore->tag, error) &&
	       get_str(&c, "state", TRUE, &p->restore->state, error) &&
	       get_str(&c, "run-overlay", FALSE, &p->restore->run_overlay, error) &&
	       get_path(&c, "template-ram", FALSE, &p->restore->template_ram, error) &&
	       get_str(&c, "template", FALSE, &p->restore->template_of, error) &&
	       get_strv(&c, "macs", &p->restore->macs, error) &&
	       get_strv(&c, "net", &p->restore->nets, error);
}

/* "qemu-user": whom QEMU runs as; never root (the drop would be no drop). */
static gboolean decode_qemu_user(const Obj *top, GvPlan *p, GError **error)
{
	JsonNode *n;
	if (!member(top, "qemu-user", FALSE, &n, error))
		return FALSE;
	if (!n)
		return TRUE;
	if (!JSON_NODE_HOLDS_OBJECT(n))
		return fail(error, top, "qemu-user", "must be an object");
	Obj c = { json_node_get_object(n), "qemu-user." };
	gint64 uid = 0, gid = 0, kvm = -1;
	if (!get_str(&c, "name", TRUE, &p->qemu_user.name, error) ||
	    !get_int(&c, "uid", TRUE, 1, G_MAXUINT32 - 1, &uid, error) ||
	    !get_int(&c, "gid", TRUE, 1, G_MAXUINT32 - 1, &gid, error) ||
	    !get_int(&c, "kvm-gid", FALSE, 1, G_MAXUINT32 - 1, &kvm, error))
		return FALSE;
	p->qemu_user.drop = TRUE;
	p->qemu_user.uid = (uid_t)uid;
	p->qemu_user.gid = (gid_t)gid;
	p->qemu_user.kvm_gid = kvm > 0 ? (gid_t)kvm : (gid_t)-1;
	return TRUE;
}

/* "files": descriptors QEMU gets at GV_FD_BLOCK_BASE and above (argv.h). */
static gboolean decode_files(const Obj *c, GvPlan *p, GError **error)
{
	JsonArray *a;
	if (!get_array(c, "files", FALSE, &a, error))
		return FALSE;
	for (guint i = 0; a && i < json_array_get_length(a); i++) {
		Obj e;
		g_autofree char *at = NULL;
		if (!element_obj(c, "files", a, i, &e, &at, error))
			return FALSE;
		GvPlanFile *f = g_new0(GvPlanFile, 1);
		g_ptr_array_add(p->files, f);
		gint64 fd = -1;
		if (!get_int(&e, "fd", TRUE, GV_FD_BLOCK_BASE, G_MAXINT16, &fd, error) ||
		    !get_path(&e, "path", TRUE, &f->path, error) ||
		    !get_bool(&e, "directory", &f->directory, error) ||
		    !get_bool(&e, "writable", &f->writable, error))
			return FALSE;
		f->fd = (int)fd;
		if (f->directory && f->writable)
			return fail(error, &e, "writable", "cannot go with a directory");
	}
	return TRUE;
}

/* "argv" (required) or "snapshot-argv" (optional): a non-empty array of strings. */
static gboolean decode_strv(const Obj *c, const char *member, gboolean required, char ***out,
			    GError **error)
{
	JsonArray *a = NULL;
	if (!get_array(c, member, required, &a, error))
		return FALSE;
	if (!a)
		return TRUE;
	guint len = json_array_get_length(a);
	if (len == 0)
		return fail(error, c, member, "is empty");
	*out = g_new0(char *, len + 1);
	for (guint i = 0; i < len; i++) {
		JsonNode *e = json_array_get_element(a, i);
		if (!JSON_NODE_HOLDS_VALUE(e) || json_node_get_value_type(e) != G_TYPE_STRING) {
			g_autofree char *el = g_strdup_printf("%s[%u]", member, i);
			return fail(error, c, el, "must be a string");
		}
		(*out)[i] = g_strdup(json_node_get_string(e));
	}
	return TRUE;
}

static gboolean decode_argv(const Obj *c, GvPlan *p, GError **error)
{
	return decode_strv(c, "argv", TRUE, &p->argv, error) &&
	       decode_strv(c, "snapshot-argv", FALSE, &p->snapshot_argv, error);
}

static gboolean decode_lists(const Obj *c, GvPlan *p, GError **error)
{
	JsonArray *shares, *nics;
	if (!get_array(c, "shares", TRUE, &shares, error) ||
	    !get_array(c, "nics", TRUE, &nics, error))
		return FALSE;
	for (guint i = 0; i < json_array_get_length(shares); i++) {
		Obj e;
		g_autofree char *at = NULL;
		if (!element_obj(c, "shares", shares, i, &e, &at, error))
			return FALSE;
		GvPlanShare *s = gv_plan_share_new();
		g_ptr_array_add(p->shares, s);
		if (!decode_share(&e, s, error))
			return FALSE;
	}
	if (json_array_get_length(nics) > GV_NICS_MAX)
		return fail(error, c, "nics", "has more than " G_STRINGIFY(GV_NICS_MAX) " entries");
	for (guint i = 0; i < json_array_get_length(nics); i++) {
		Obj e;
		g_autofree char *at = NULL;
		if (!element_obj(c, "nics", nics, i, &e, &at, error))
			return FALSE;
		GvPlanNic *n = gv_plan_nic_new();
		g_ptr_array_add(p->nics, n);
		if (!decode_nic(&e, n, error))
			return FALSE;
	}
	return TRUE;
}

GvPlan *gv_plan_from_json(JsonObject *o, GError **error)
{
	g_autoptr(GvPlan) p = gv_plan_new();
	const Obj c = { o, "" };
	/* Limits: ready-timeout as the spec's (1 s to a day); memory and cpus
	 * only as their types hold: the spec checked them when up ran. */
	gint64 timeout = 0, memory = 0, cpus = 0;
	g_autofree char *ready = NULL;
	if (!get_str(&c, "name", TRUE, &p->name, error) || !decode_argv(&c, p, error) ||
	    !get_int(&c, "ready-timeout", TRUE, 1, 86400, &timeout, error) ||
	    !get_str(&c, "ready", FALSE, &ready, error) ||
	    !get_str(&c, "accel", TRUE, &p->accel, error) ||
	    !get_str(&c, "accel-reason", FALSE, &p->accel_reason, error) ||
	    !get_str(&c, "boot", TRUE, &p->boot, error) ||
	    !get_str(&c, "boot-origin", FALSE, &p->boot_origin, error) ||
	    !get_str(&c, "project-dir", FALSE, &p->project_dir, error) ||
	    !get_int(&c, "memory", TRUE, 1, G_MAXINT64, &memory, error) ||
	    !get_int(&c, "cpus", TRUE, 1, G_MAXUINT16, &cpus, error) ||
	    !get_str(&c, "disk", FALSE, &p->disk, error) ||
	    !get_str(&c, "disk-image", FALSE, &p->disk_image, error) ||
	    !get_path(&c, "ram-file", FALSE, &p->ram_file, error) ||
	    !decode_lists(&c, p, error) || !decode_restore(&c, p, error) ||
	    !decode_qemu_user(&c, p, error) || !decode_files(&c, p, error) ||
	    !get_str(&c, "qemu-user-why", FALSE, &p->qemu_user.why, error))
		return NULL;
	if (ready && strcmp(ready, "agent") && strcmp(ready, "system"))
	{
		fail(error, &c, "ready", "is neither \"agent\" nor \"system\"");
		return NULL;
	}
	p->ready_system = !g_strcmp0(ready, "system");
	p->ready_timeout = (guint)timeout;
	p->memory = (guint64)memory;
	p->cpus = (guint)cpus;
	return g_steal_pointer(&p);
}

GvPlan *gv_plan_from_data(const char *data, gsize len, GError **error)
{
	if (len > GV_PLAN_MAX_BYTES) {
		g_set_error(error, GV_ERROR, GV_ERROR_FAILED, "plan of %" G_GSIZE_FORMAT
			    " bytes is over the %u-byte limit", len, GV_PLAN_MAX_BYTES);
		return NULL;
	}
	g_autoptr(JsonObject) o = gv_json_parse_object(data, (gssize)len, error);
	if (!o) {
		gv_prefix_error(error, "plan");
		return NULL;
	}
	return gv_plan_from_json(o, error);
}

GvPlan *gv_plan_copy(const GvPlan *plan)
{
	g_autoptr(JsonObject) o = gv_plan_to_json(plan);
	GvPlan *copy = gv_plan_from_json(o, NULL);
	g_assert(copy); /* what the encoder writes, the decoder reads */
	return copy;
}

/* ---- files and descriptors ------------------------------------------------------------- */

/* Read all of @fd, at most GV_PLAN_MAX_BYTES; the error names @what. */
static char *read_bounded(int fd, const char *what, gsize *len, GError **error)
{
	g_autoptr(GString) s = g_string_new(NULL);
	char buf[8192];
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			g_set_error(error, GV_ERROR, GV_ERROR_FAILED, "cannot read %s: %s", what,
				    g_strerror(errno));
			return NULL;
		}
		if (n == 0)
			break;
		if (s->len + (gsize)n > GV_PLAN_MAX_BYTES) {
			g_set_error(error, GV_ERROR, GV_ERROR_FAILED,
				    "%s is over the %u-byte limit of a plan", what, GV_PLAN_MAX_BYTES);
			return NULL;
		}
		g_string_append_len(s, buf, n);
	}
	*len = s->len;
	return g_string_free(g_steal_pointer(&s), FALSE);
}

GvPlan *gv_plan_load(const char *path, GError **error)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0) {
		int e = errno;
		g_set_error(error, GV_ERROR, e == ELOOP ? GV_ERROR_STATE : GV_ERROR_FAILED,
			    "%s: %s", path, e == ELOOP ? "is a symbolic link" : g_strerror(e));
		return NULL;
	}
	struct stat st;
	const char *wrong = NULL;
	if (fstat(fd, &st) < 0)
		wrong = g_strerror(errno);
	else if (!S_ISREG(st.st_mode))
		wrong = "not a regular file";
	else if (st.st_uid != geteuid())
		wrong = "owned by another user";
	else if (st.st_mode & (S_IWGRP | S_IWOTH))
		wrong = "writable by group or others";
	else if (st.st_nlink != 1)
		wrong = "has more than one link";
	gsize len = 0;
	g_autofree char *text = NULL;
	if (wrong)
		g_set_error(error, GV_ERROR, GV_ERROR_STATE, "%s: %s: not used as a plan", path,
			    wrong);
	else
		text = read_bounded(fd, path, &len, error);
	close(fd);
	if (!text)
		return NULL;
	GvPlan *p = gv_plan_from_data(text, len, error);
	if (!p)
		gv_prefix_error(error, "%s", path);
	return p;
}

gboolean gv_plan_save(const GvPlan *plan, const char *path, GError **error)
{
	g_autofree char *text = gv_plan_to_data(plan);
	return gv_write_runtime_file(path, text, strlen(text), 0600, error);
}

#define PLAN_SEALS (F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)

int gv_plan_memfd(const GvPlan *plan, GError **error)
{
	g_autofree char *text = gv_plan_to_data(plan);
	int fd = memfd_create("grainvm-plan", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0) {
		g_set_error(error, GV_ERROR, GV_ERROR_FAILED, "memfd_create: %s", g_strerror(errno));
		return -1;
	}
	if (!gv_write_all(fd, text, strlen(text)) || fcntl(fd, F_ADD_SEALS, PLAN_SEALS) < 0) {
		g_set_error(error, GV_ERROR, GV_ERROR_FAILED, "cannot seal the plan: %s",
			    g_strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

GvPlan *gv_plan_read_fd(int fd, GError **error)
{
	int seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0 || (seals & PLAN_SEALS) != PLAN_SEALS) {
		g_set_error(error, GV_ERROR, GV_ERROR_FAILED,
			    "the plan on fd %d is not a sealed memory file", fd);
		return NULL;
	}
	if (lseek(fd, 0, SEEK_SET) < 0) {
		g_set_error(error, GV_ERROR, GV_ERROR_FAILED, "the plan on fd %d: %s", fd,
			    g_strerror(errno));
		return NULL;
	}
	g_autofree char *what = g_strdup_printf("the plan on fd %d", fd);
	gsize len = 0;
	g_autofree char *text = read_bounded(fd, what, &len, error);
	if (!text)
		return NULL;
	return gv_plan_from_data(text, len, error);
}
