/* SPDX-License-Identifier: MIT */
/*
 * spec.h - the VM spec: layered key files, validated into a struct
 *
 * A spec is built from layers, later ones winning key by key while groups
 * merge (the "infuse" pattern):
 *
 *   1. the built-in default (spec-default.c: host kernel, generated
 *      initramfs, the project directory shared at /mnt/workspace)
 *   2. grainvm.conf in the project directory
 *   3. grainvm.local.conf beside it (personal, git-ignored)
 *   4. --set GROUP.KEY=VALUE options, in order
 *
 * Every key is declared once in a schema table with its type; a layer that
 * names an unknown group or key, or gives a value its type rejects, fails
 * the whole load with one line naming the layer, group and key.  Relative
 * paths are resolved against the directory of the layer that set them (the
 * working directory for --set), so a merged spec holds absolute paths only.
 * docs/spec.md documents every key; tests/launcher/test-spec.c checks that
 * the two agree.
 */
#pragma once

#include <glib.h>

typedef enum { GV_ACCEL_AUTO, GV_ACCEL_KVM, GV_ACCEL_TCG } GvAccel;
typedef enum { GV_FIRMWARE_AUTO, GV_FIRMWARE_UEFI, GV_FIRMWARE_BIOS, GV_FIRMWARE_NONE } GvFirmware;
/* GV_KERNEL_NIXOS: the [nixos] system's kernel, which prepare finds or builds. */
typedef enum { GV_KERNEL_AUTO, GV_KERNEL_HOST, GV_KERNEL_PATH, GV_KERNEL_NONE,
	       GV_KERNEL_NIXOS } GvKernelKind;
/* [vm] ready: what "ready" waits for beyond the agent and the shares. */
typedef enum { GV_READY_AGENT, GV_READY_SYSTEM } GvReadyLevel;
typedef enum { GV_INITRD_AUTO, GV_INITRD_NONE, GV_INITRD_PATH } GvInitrdKind;
/* Values in the order of [net] mode's schema entry. */
typedef enum { GV_NET_USER, GV_NET_NONE, GV_NET_BRIDGE, GV_NET_SWITCH } GvNetMode;

const char *gv_accel_name(GvAccel accel);
const char *gv_firmware_name(GvFirmware fw);
const char *gv_net_mode_name(GvNetMode mode);

typedef struct {
	char *id;          /* NAME of [share NAME] */
	char *source;      /* absolute host directory */
	char *tag;         /* 9p mount tag */
	char *mount;       /* absolute guest path */
	gboolean readonly;
	guint64 msize;     /* bytes */
	char *cache;       /* none | mmap | loose | fscache */
	char *security;    /* QEMU security_model */
	gboolean implicit; /* the built-in default's source=. (no layer set it) */
} GvShare;

typedef struct {
	char proto[4];      /* "tcp" or "udp" */
	char *host_addr;    /* dotted quad, default 127.0.0.1 */
	guint16 host_port;
	guint16 guest_port;
} GvForward;

/*
 * At most 8 NICs: each bridge or switch NIC hands QEMU one descriptor
 * (argv.h), and more than a handful per VM is a sign of a mistake.
 */
#define GV_NICS_MAX 8

/* One network card: [net] (id "") or [net NAME]. */
typedef struct {
	char *id;           /* "" for [net], NAME for [net NAME] */
	char *group;        /* "net" or "net NAME", for messages */
	char *netdev;       /* QEMU netdev id: "net0" for [net], else "net-NAME" */
	GvNetMode mode;     /* never GV_NET_NONE: such groups add no NIC */
	char *mac;          /* "52:54:xx:xx:xx:xx" */
	char *bridge;       /* GV_NET_BRIDGE: the host bridge */
	char *network;      /* GV_NET_SWITCH: the switch network's name */
	char *address;      /* guest "A.B.C.D/PREFIX"; NULL: none, or leased */
	gboolean lease;     /* GV_NET_SWITCH: grainvm leases the guest an address */
	char *gateway;      /* guest default route, or NULL */
	char *dns;          /* guest nameserver, or NULL */
	guint mtu;          /* GV_NET_SWITCH: the guest's MTU; 0: the guest's default */
	GPtrArray *forwards; /* GvForward*; GV_NET_USER only */
	gboolean auto_forward; /* GV_NET_USER: forward the guest's listening TCP ports */
	gboolean auto_forward_privileged; /* ...guest ports below 1024 too */
	guint auto_forward_max; /* ...at most this many at once */
} GvNic;

/*
 * The guest decides how many ports it listens on; each automatic forward
 * is a listening socket on the host and a slirp entry, so their number is
 * capped.  64: a development VM serves a handful (web, database, debug
 * ports), and a guest that opens thousands is not asking for them all
 * on the host.
 */
#define GV_AUTO_FORWARD_MAX_DEFAULT 64

typedef struct {
	char *project_dir;  /* directory of grainvm.conf, or the cwd */
	char *name;
	guint64 memory;     /* bytes */
	guint cpus;
	GvAccel accel;
	GvFirmware firmware;
	char *machine;
	char *cpu;          /* QEMU -cpu model, NULL: host under KVM, max under TCG */
	guint ready_timeout; /* seconds */
	GvReadyLevel ready_level;
	char *boot_from;    /* snapshot tag `up` restores, or NULL: a cold boot */
	gboolean template_ram; /* [vm] template: RAM in a shared tmpfs file, to be saved as a template */

	GvKernelKind kernel_kind;
	char *kernel;       /* GV_KERNEL_PATH: absolute */
	GvInitrdKind initrd_kind;
	char *initrd;       /* GV_INITRD_PATH: absolute */
	char *cmdline;      /* appended to grainvm's own parameters */
	gboolean pvh;       /* try the extracted-vmlinux fast path */

	char *disk_image;   /* base image, absolute, or NULL */
	guint64 disk_size;  /* 0: the base's size */
	gboolean disk_trust_backing; /* the base may name files outside its directory */

	GPtrArray *shares;  /* GvShare*, enabled ones only, sorted by id */

	GPtrArray *nics;    /* GvNic*: [net] first, then [net NAME] by NAME */

	/* [nixos]: at most one of system and flake; then store is set too. */
	char *nixos_system; /* absolute path of a toplevel (or a link to one) */
	char *nixos_flake;  /* REF#NAME */
	char *nixos_store;  /* host directory holding the store (/nix/store) */
	char *build_command; /* [build] command: a shell command line, or NULL */
	char *build_workdir; /* guest directory; default the workspace mount, or NULL */
	char **build_env;    /* NAME=VALUE, never NULL */

	gboolean cloud_init;        /* [cloud-init] enabled: attach a NoCloud seed */
	char *cloud_init_ssh_key;   /* a public key file, NULL: the user's own if any */

	GKeyFile *merged;   /* the merged layers, origins as key comments */
} GvSpec;

void gv_spec_free(GvSpec *spec);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(GvSpec, gv_spec_free)

/**
 * gv_spec_load() - merge the layers and validate them
 * @dir: the project directory to look for grainvm.conf and
 *       grainvm.local.conf in
 * @file: (nullable): an explicit spec file instead of DIR/grainvm.conf
 *        (its grainvm.local.conf sibling still applies)
 * @sets: (nullable): "GROUP.KEY=VALUE" strings, applied last in order
 * @cwd: directory that relative paths in @sets are resolved against
 * @error: GV_ERROR_INVALID naming layer, group and key
 *
 * Checks that files and directories the spec names exist.
 *
 * Return: (transfer full) (nullable): the spec.
 */
GvSpec *gv_spec_load(const char *dir, const char *file, const char *const *sets,
		     const char *cwd, GError **error);

/**
 * gv_spec_load_name() - the VM name a spec would give, without validating it
 * @dir: the project directory
 * @file: (nullable): as for gv_spec_load()
 * @error: return location (only a syntax error in a spec file fails)
 *
 * Used by commands that take an optional NAME, so that a broken key
 * elsewhere does not stop `grainvm down` in the project directory.
 *
 * Return: (transfer full) (nullable): the name.
 */
char *gv_spec_load_name(const char *dir, const char *file, GError **error);

/**
 * gv_spec_check_default_share() - refuse an implicit share of / or a home
 * @spec: a loaded spec
 * @homes: (nullable): home directories to refuse, NULL-terminated: the
 *         invoking user's, SUDO_USER's and root's (gv_invoking_homes())
 * @error: GV_ERROR_INVALID naming the directory and how to share it
 *
 * The built-in default shares the project directory read-write.  Started
 * from / or from a home directory (`sudo grainvm up` in /root), that
 * would hand the guest the host's filesystem or someone's ssh keys
 * without anyone having asked.  Only the implicit share is refused: a
 * layer that sets the source, even to the same directory, is a choice.
 * readonly=true does not make it acceptable: reading ~/.ssh is the harm.
 * Paths are compared after realpath(3).
 *
 * Return: TRUE when no implicit share covers such a directory.
 */
gboolean gv_spec_check_default_share(const GvSpec *spec, const char *const *homes,
				     GError **error);

/**
 * gv_spec_to_data() - the merged spec as key-file text
 * @spec: a loaded spec
 * @with_origins: add a comment above each key naming the layer it came from
 *
 * Return: (transfer full): the text.
 */
char *gv_spec_to_data(const GvSpec *spec, gboolean with_origins);

/**
 * gv_mac_for_name() - a stable, locally administered MAC for a name
 * @name: the VM's name for its [net] NIC, "VM/NIC" for [net NIC]
 *
 * Return: (transfer full): "52:54:xx:xx:xx:xx".
 */
char *gv_mac_for_name(const char *name);

/** gv_spec_name_valid() - TRUE for 1-63 chars of [A-Za-z0-9_.-], not starting with '.' or '-' */
gboolean gv_spec_name_valid(const char *name);

/**
 * gv_spec_default_name() - a VM name derived from a directory's basename
 * @dir: the directory
 *
 * Return: (transfer full): a valid name ("default" when nothing is left).
 */
char *gv_spec_default_name(const char *dir);

/**
 * gv_parse_size() - "512M", "2G", "1048576", "1.5G" to bytes
 * @text: the value
 * @bare_unit: multiplier for a number without a unit (1 or 1 MiB)
 * @out: (out): the size, set only on success
 *
 * The grammar of gv_image_parse_size_in() (one for spec and image commands),
 * with spaces around the value allowed.
 *
 * Return: TRUE when @text is a size that fits in 63 bits.
 */
gboolean gv_parse_size(const char *text, guint64 bare_unit, guint64 *out);

/**
 * gv_parse_forward() - "[tcp|udp:][HOSTADDR:]HOSTPORT:GUESTPORT"
 * @text: the rule
 * @out: (out caller-allocates): filled only on success; free host_addr
 * @error: GV_ERROR_INVALID saying what is wrong
 *
 * Return: TRUE on success.
 */
gboolean gv_parse_forward(const char *text, GvForward *out, GError **error);
void gv_forward_free(GvForward *fwd);

/**
 * gv_spec_first_nic() - the first NIC of a mode
 * @spec: a loaded spec
 * @mode: the mode
 *
 * Return: (transfer none) (nullable): the NIC, NULL when there is none.
 */
const GvNic *gv_spec_first_nic(const GvSpec *spec, GvNetMode mode);

/** Names of the schema's keys, for the docs check: "vm.name", "share.source", ... */
const char *const *gv_spec_key_names(void);
