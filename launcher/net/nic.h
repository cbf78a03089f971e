/* SPDX-License-Identifier: MIT */
/*
 * nic.h - the host side of a VM's network cards
 *
 * `up` calls gv_net_prepare() before anything starts: it checks what each
 * NIC needs on the host (the bridge exists; without root, QEMU's bridge
 * helper may use it; forwarded host ports are free), leases switch
 * addresses, and numbers the descriptors QEMU will inherit.  The result
 * feeds the pure argv builder (GvNicFacts) and the plan (plan.h), from which the
 * supervisor opens the taps and switch connections right before it spawns
 * QEMU (supervisor-net.c).
 *
 * Taps are opened without IFF_PERSIST: the kernel deletes one when its last
 * descriptor closes, so the tap goes with QEMU however QEMU ends.
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "boot/argv.h"
#include "paths.h"
#include "plan.h"
#include "boot/spec.h"

typedef struct {
	GvNicFacts *facts;  /* one per spec->nics entry */
	guint n;
	char **taps;        /* per NIC: the tap grainvm creates (bridge as root), or NULL */
	char **helpers;     /* per NIC: qemu-bridge-helper (bridge without root), or NULL */
	char **addresses;   /* per NIC: a leased switch address, or NULL */
} GvNetPrepared;

void gv_net_prepared_free(GvNetPrepared *np);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(GvNetPrepared, gv_net_prepared_free)

/**
 * gv_net_prepare() - check and prepare the host for @spec's NICs
 * @spec: the validated spec
 * @error: GV_ERROR_INVALID naming the [net] group for what the host lacks
 *         (no such bridge, a bridge the helper may not use, a forwarded
 *         port in use, no libslirp); GV_ERROR_FAILED otherwise
 *
 * Starts nothing and opens nothing that outlives the call; the only state
 * it may write is a switch network's lease file.
 *
 * Return: (transfer full) (nullable): the facts.
 */
GvNetPrepared *gv_net_prepare(const GvSpec *spec, GError **error);

/**
 * gv_net_plan() - the plan's NICs: what the supervisor sets up
 * @spec: the spec
 * @np: (nullable): its prepared facts
 * @nics: GvPlanNic*: one is appended per NIC of @spec
 */
void gv_net_plan(const GvSpec *spec, const GvNetPrepared *np, GPtrArray *nics);

/**
 * gv_net_address_routable() - an address another machine could reach
 * @type: "ipv4" or "ipv6" (guest-network-get-interfaces' ip-address-type)
 * @addr: the address as text
 *
 * Return: FALSE for loopback, link-local, unspecified and unparsable ones.
 */
gboolean gv_net_address_routable(const char *type, const char *addr);

/**
 * gv_tap_name() - the tap device name for NIC @index of VM @vm
 * @vm: the VM's name
 * @index: the NIC's position in the spec
 *
 * "gv-VM" (and "gv-VM-N" for later NICs) when that fits IFNAMSIZ;
 * otherwise the name is cut and a hash of the full name keeps it unique.
 *
 * Return: (transfer full): at most 15 characters.
 */
char *gv_tap_name(const char *vm, guint index);

/**
 * gv_tap_open() - create tap @name, attach it to @bridge and bring it up
 * @name: the tap's name (gv_tap_name())
 * @bridge: an existing bridge
 * @error: GV_ERROR_FAILED naming the step that failed
 *
 * The tap has IFF_VNET_HDR, so QEMU can pass offloads through; it is not
 * persistent.
 *
 * Return: the tap's descriptor (close-on-exec), or -1.
 */
int gv_tap_open(const char *name, const char *bridge, GError **error);

/**
 * gv_bridge_helper_open() - a tap on @bridge from QEMU's setuid bridge helper
 * @helper: qemu-bridge-helper's path
 * @bridge: the bridge, which the helper's ACL must allow
 * @error: GV_ERROR_FAILED when the helper gave no tap
 *
 * For grainvm without root: the helper creates the tap, attaches it and
 * passes its descriptor back, as it would to QEMU, which may not run it
 * itself under -sandbox spawn=deny.
 *
 * Return: the tap's descriptor (close-on-exec), or -1.
 */
int gv_bridge_helper_open(const char *helper, const char *bridge, GError **error);

/**
 * gv_bridge_check() - does @bridge exist on this host (netns) as a bridge?
 * @bridge: the name
 * @group: the spec group, for the message
 * @error: GV_ERROR_INVALID saying what to do
 */
gboolean gv_bridge_check(const char *bridge, const char *group, GError **error);

typedef enum {
	GV_ACL_DENIED,
	GV_ACL_ALLOWED,
	GV_ACL_UNKNOWN,  /* an include could not be read */
} GvAclVerdict;

/**
 * gv_bridge_acl() - what qemu-bridge-helper's ACL says about @bridge
 * @text: the contents of bridge.conf
 * @bridge: the bridge
 * @read_include: (nullable): reads an included file; NULL: includes are
 *                unknown
 * @data: for @read_include
 *
 * The helper's rules: "allow NAME|all", "deny NAME|all", "include PATH";
 * a bridge is usable when some allow rule matches and no deny rule does.
 *
 * Return: the verdict.
 */
GvAclVerdict gv_bridge_acl(const char *text, const char *bridge,
			   char *(*read_include)(const char *path, gpointer data), gpointer data);

/**
 * gv_host_port_free() - can a forward's host side be bound right now?
 * @f: the forward
 * @error: GV_ERROR_INVALID "host port tcp 127.0.0.1:8080 is in use" (or
 *         the bind error)
 *
 * Binds and closes a socket of the forward's protocol on its host address
 * and port, which is what QEMU's hostfwd will do.
 */
gboolean gv_host_port_free(const GvForward *f, GError **error);

/*
 * Below this, a port is privileged: binding it takes root (or
 * CAP_NET_BIND_SERVICE), and host services expect that only the host's
 * administrator put something there.
 */
#define GV_PRIVILEGED_PORT_END 1024

/**
 * gv_auto_forward_refusal() - may auto-forward take one more guest port?
 * @port: the TCP port the guest listens on
 * @privileged: [net] auto-forward-privileged
 * @current: automatic forwards already in place
 * @max: [net] auto-forward-max
 *
 * As root the host's loopback ports below 1024 are free for the taking,
 * and a guest listening on 22 or 631 would get the host's 127.0.0.1:22 or
 * :631 that local programs trust; so they are skipped unless the spec
 * says otherwise.  The cap bounds what a guest can make the host open.
 * Pure, for the unit tests.
 *
 * Return: (nullable): NULL when the port may be forwarded, else why not
 * (a static phrase naming the spec key that would allow it).
 */
const char *gv_auto_forward_refusal(guint port, gboolean privileged, guint current, guint max);
