/* SPDX-License-Identifier: MIT */
/*
 * spec.c - layering, schema checks and parsing of the VM spec
 *
 * Two passes keep the error messages honest.  Applying a layer checks the
 * syntax of every key it sets (a bad size is the fault of the layer that
 * wrote it, even if a later layer would override it).  Parsing the merged
 * result checks what only the final value can tell: that a file exists,
 * that the kernel and disk settings make sense together.  Either pass names
 * the layer the offending value came from.
 */
#include "boot/spec.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "grainvm-image.h"
#include "gv-error.h"
#include "net/switch-net.h"

#define SPEC_FILE "grainvm.conf"
#define LOCAL_FILE "grainvm.local.conf"
#define DEFAULT_LABEL "built-in default"
#define SET_LABEL "--set"

/*
 * The built-in default layer.  Relative paths in it are resolved against
 * the project directory, so "source=." shares the directory grainvm was
 * started in.
 *
 * msize 512 KiB: a 128 MiB sequential read in the guest took 2.64 s at
 * nixpkgs' 16 KiB, 0.49 s at 128 KiB and 0.46 s at 512 KiB (TCG, QEMU 7.2,
 * Debian 6.1 guest, dd of the file in the guest); 512 KiB is also the most the 6.1 virtio transport
 * takes.  cache=mmap: host edits show up in the guest (loose would cache
 * them away) and mmap(2) of shared files works, which linkers need.
 * mapped-xattr: the guest's owners and modes live in xattrs, so guest root
 * cannot create root-owned or setuid files on the host.
 */
static const char default_layer[] =
	"[vm]\n"
	"memory=1G\n"
	"cpus=1\n"
	"accel=auto\n"
	"firmware=auto\n"
	"machine=q35\n"
	"ready-timeout=300\n"
	"ready=agent\n"
	"[boot]\n"
	"kernel=auto\n"
	"initrd=auto\n"
	"pvh=true\n"
	"[share workspace]\n"
	"source=.\n"
	"mount=/mnt/workspace\n"
	"[net]\n"
	"mode=user\n";

#define SHARE_DEFAULT_MSIZE (512 * 1024)
#define SHARE_DEFAULT_CACHE "mmap"
#define SHARE_DEFAULT_SECURITY "mapped-xattr"

typedef enum {
	T_STR,        /* free text on one line */
	T_NAME,       /* a VM name */
	T_MEM,        /* size, bare number = MiB (as QEMU's -m) */
	T_SIZE,       /* size, bare number = bytes */
	T_UINT,       /* integer in [min, max] */
	T_BOOL,
	T_ENUM,       /* one of values, '|'-separated */
	T_KERNEL,     /* auto | host | none | path of a file */
	T_INITRD,     /* auto | none | path of a file */
	T_FILE,       /* path of a regular file */
	T_DIR,        /* path of a directory */
	T_GUEST_PATH, /* absolute guest path */
	T_TAG,        /* 9p mount tag */
	T_FORWARDS,   /* list of forward rules */
	T_CPU,        /* a QEMU -cpu model, with optional ,feature=on flags */
	T_PATH,       /* a path, resolved but not checked here (it may point into a store) */
	T_FLAKE,      /* REF#NAME */
	T_ENV,        /* ';'-separated NAME=VALUE list */
	T_IFNAME,     /* a host network interface name */
	T_NETNAME,    /* a switch network's name */
	T_MAC,        /* unicast MAC address */
	T_ADDRESS,    /* auto | none | A.B.C.D/PREFIX */
	T_IPV4,       /* A.B.C.D */
} KeyType;

typedef enum { G_VM, G_BOOT, G_DISK, G_SHARE, G_NET, G_NIXOS, G_BUILD, G_CLOUD_INIT, G__COUNT } GroupKind;

static const char *const group_names[] = {
	[G_VM] = "vm", [G_BOOT] = "boot", [G_DISK] = "disk",
	[G_SHARE] = "share", [G_NET] = "net", [G_NIXOS] = "nixos",
	[G_BUILD] = "build", [G_CLOUD_INIT] = "cloud-init",
};
G_STATIC_ASSERT(G_N_ELEMENTS(group_names) == G__COUNT);

typedef struct {
	GroupKind group;
	const char *key;
	KeyType type;
	const char *values; /* T_ENUM */
	guint64 min, max;   /* T_UINT, T_MEM, T_SIZE (0 max: none) */
} KeySchema;

#define MiB (1024ull * 1024)

static const KeySchema schema[] = {
	{ G_VM, "name", T_NAME },
	{ G_VM, "memory", T_MEM, NULL, 64 * MiB, 1024ull * 1024 * MiB },
	{ G_VM, "cpus", T_UINT, NULL, 1, 255 },
	{ G_VM, "accel", T_ENUM, "auto|kvm|tcg" },
	{ G_VM, "firmware", T_ENUM, "auto|uefi|bios|none" },
	{ G_VM, "machine", T_ENUM, "q35|pc" },
	{ G_VM, "cpu", T_CPU },
	{ G_VM, "ready-timeout", T_UINT, NULL, 1, 86400 },
	{ G_VM, "ready", T_ENUM, "agent|system" },
	{ G_VM, "boot-from", T_STR },
	{ G_VM, "template", T_BOOL },
	{ G_BOOT, "kernel", T_KERNEL },
	{ G_BOOT, "initrd", T_INITRD },
	{ G_BOOT, "cmdline", T_STR },
	{ G_BOOT, "pvh", T_BOOL },
	{ G_DISK, "image", T_FILE },
	{ G_DISK, "size", T_SIZE, NULL, 1 * MiB, 0 },
	{ G_DISK, "trust-backing", T_BOOL },
	{ G_SHARE, "source", T_DIR },
	{ G_SHARE, "tag", T_TAG },
	{ G_SHARE, "mount", T_GUEST_PATH },
	{ G_SHARE, "readonly", T_BOOL },
	{ G_SHARE, "enabled", T_BOOL },
	{ G_SHARE, "msize", T_SIZE, NULL, 4096, 512 * 1024 },
	{ G_SHARE, "cache", T_ENUM, "none|mmap|loose|fscache" },
	{ G_SHARE, "security", T_ENUM, "mapped-xattr|mapped-file|passthrough|none" },
	{ G_NET, "mode", T_ENUM, "user|none|bridge|switch" },
	{ G_NET, "forward", T_FORWARDS },
	{ G_NIXOS, "system", T_PATH },
	{ G_NIXOS, "flake", T_FLAKE },
	{ G_NIXOS, "store", T_DIR },
	{ G_BUILD, "command", T_STR },
	{ G_BUILD, "workdir", T_GUEST_PATH },
	{ G_BUILD, "env", T_ENV },
	{ G_NET, "auto-forward", T_BOOL },
	{ G_NET, "auto-forward-privileged", T_BOOL },
	{ G_NET, "auto-forward-max", T_UINT, NULL, 1, 65535 },
	{ G_NET, "bridge", T_IFNAME },
	{ G_NET, "network", T_NETNAME },
	{ G_NET, "mac", T_MAC },
	{ G_NET, "address", T_ADDRESS },
	{ G_NET, "gateway", T_IPV4 },
	{ G_NET, "dns", T_IPV4 },
	{ G_NET, "mtu", T_UINT, NULL, 576, GV_SWITCH_MTU },
	{ G_CLOUD_INIT, "enabled", T_BOOL },
	{ G_CLOUD_INIT, "ssh-key", T_FILE },
};

const char *gv_accel_name(GvAccel accel)
{
	static const char *const names[] = { "auto", "kvm", "tcg" };
	return names[accel];
}

const char *gv_firmware_name(GvFirmware fw)
{
	static const char *const names[] = { "auto", "uefi", "bios", "none" };
	return names[fw];
}

const char *gv_net_mode_name(GvNetMode mode)
{
	static const char *const names[] = { "user", "none", "bridge", "switch" };
	return names[mode];
}

const char *const *gv_spec_key_names(void)
{
	static const char *names[G_N_ELEMENTS(schema) + 1];
	if (!names[0]) {
		for (gsize i = 0; i < G_N_ELEMENTS(schema); i++) {
			/* Interned: the table keeps its own copy. */
			g_autofree char *n = g_strdup_printf("%s.%s", group_names[schema[i].group],
							     schema[i].key);
			names[i] = g_intern_string(n);
		}
	}
	return names;
}

/* ---- value syntax -------------------------------------------------------- */

gboolean gv_parse_size(const char *text, guint64 bare_unit, guint64 *out)
{
	g_autofree char *t = g_strstrip(g_strdup(text));
	return gv_image_parse_size_in(t, bare_unit, out, NULL);
}

gboolean gv_spec_name_valid(const char *name)
{
	gsize len = strlen(name);
	if (len == 0 || len > 63 || name[0] == '.' || name[0] == '-')
		return FALSE;
	for (const char *p = name; *p; p++)
		if (!g_ascii_isalnum(*p) && !strchr("_.-", *p))
			return FALSE;
	return TRUE;
}

char *gv_spec_default_name(const char *dir)
{
	g_autofree char *base = g_path_get_basename(dir);
	GString *s = g_string_new(NULL);
	for (const char *p = base; *p && s->len < 63; p++) {
		char c = *p;
		if (g_ascii_isalnum(c) || c == '_' || c == '.' || c == '-')
			g_string_append_c(s, c);
		else if (s->len && s->str[s->len - 1] != '-')
			g_string_append_c(s, '-');
	}
	while (s->len && (s->str[0] == '.' || s->str[0] == '-'))
		g_string_erase(s, 0, 1);
	if (s->len == 0)
		g_string_assign(s, "default");
	return g_string_free(s, FALSE);
}

static gboolean tag_valid(const char *tag)
{
	/* The kernel passes the tag as the mount source; keep it a plain word. */
	gsize len = strlen(tag);
	if (len == 0 || len > 31)
		return FALSE;
	for (const char *p = tag; *p; p++)
		if (!g_ascii_isalnum(*p) && !strchr("_.-", *p))
			return FALSE;
	return TRUE;
}

/* A NIC's NAME in [net NAME]: part of QEMU ids and of the MAC's seed. */
static gboolean nic_id_valid(const char *id)
{
	gsize len = strlen(id);
	if (len == 0 || len > 15 || !g_ascii_isalnum(id[0]))
		return FALSE;
	for (const char *p = id; *p; p++)
		if (!g_ascii_isalnum(*p) && !strchr("_-", *p))
			return FALSE;
	return TRUE;
}

/* Linux interface names: at most IFNAMSIZ-1 bytes, no '/', ':' or spaces. */
static gboolean ifname_valid(const char *name)
{
	gsize len = strlen(name);
	if (len == 0 || len > 15 || !strcmp(name, ".") || !strcmp(name, ".."))
		return FALSE;
	for (const char *p = name; *p; p++)
		if (!g_ascii_isgraph(*p) || *p == '/' || *p == ':' || *p == ',')
			return FALSE;
	return TRUE;
}

static gboolean mac_valid(const char *mac)
{
	if (strlen(mac) != 17)
		return FALSE;
	for (int i = 0; i < 17; i++)
		if (i % 3 == 2 ? mac[i] != ':' : !g_ascii_isxdigit(mac[i]))
			return FALSE;
	/* The group bit, the low bit of the first octet: a NIC's address is unicast. */
	return (g_ascii_xdigit_value(mac[1]) & 1) == 0;
}

static gboolean ipv4_valid(const char *text)
{
	struct in_addr a;
	return inet_pton(AF_INET, text, &a) == 1;
}

/* "A.B.C.D/PREFIX" with PREFIX 1-32. */
static gboolean cidr_valid(const char *text)
{
	const char *slash = strchr(text, '/');
	guint64 prefix;
	if (!slash || slash - text > 15)
		return FALSE;
	g_autofree char *addr = g_strndup(text, slash - text);
	return ipv4_valid(addr) &&
	       g_ascii_string_to_unsigned(slash + 1, 10, 1, 32, &prefix, NULL);
}

char *gv_mac_for_name(const char *name)
{
	/* FNV-1a: stable across hosts and releases, unlike g_str_hash. */
	guint32 h = 2166136261u;
	for (const char *p = name; *p; p++) {
		h ^= (guint8)*p;
		h *= 16777619u;
	}
	/* 52:54 is QEMU's locally administered unicast prefix. */
	return g_strdup_printf("52:54:%02x:%02x:%02x:%02x", (h >> 24) & 0xff,
			       (h >> 16) & 0xff, (h >> 8) & 0xff, h & 0xff);
}

static gboolean guest_path_valid(const char *path)
{
	/* Travels on the kernel command line as TAG:PATH:OPTS, so no ':' or spaces. */
	if (path[0] != '/' || strlen(path) > 255)
		return FALSE;
	for (const char *p = path; *p; p++)
		if (*p == ':' || g_ascii_isspace(*p) || !g_ascii_isprint(*p))
			return FALSE;
	return !strstr(path, "/../") && !g_str_has_suffix(path, "/..");
}

void gv_forward_free(GvForward *fwd)
{
	if (!fwd)
		return;
	g_free(fwd->host_addr);
	g_free(fwd);
}

static gboolean parse_port(const char *s, guint16 *out)
{
	guint64 v;
	if (!g_ascii_string_to_unsigned(s, 10, 1, 65535, &v, NULL))
		return FALSE;
	*out = (guint16)v;
	return TRUE;
}

gboolean gv_parse_forward(const char *text, GvForward *out, GError **error)
{
	g_auto(GStrv) parts = g_strsplit(text, ":", -1);
	guint n = g_strv_length(parts);
	guint i = 0;
	GvForward f = { .proto = "tcp" };

	if (n >= 1 && (!strcmp(parts[0], "tcp") || !strcmp(parts[0], "udp"))) {
		g_strlcpy(f.proto, parts[0], sizeof(f.proto));
		i = 1;
	}
	const char *addr = "127.0.0.1";
	if (n >= i + 3 && n - i == 3) {
		addr = parts[i++];
		struct in_addr a;
		if (inet_pton(AF_INET, addr, &a) != 1) {
			g_set_error(error, GV_ERROR, GV_ERROR_INVALID,
				    "forward \"%s\": host address \"%s\" is not an IPv4 address",
				    text, addr);
			return FALSE;
		}
	}
	if (n < i + 2 || n - i != 2) {
		g_set_error(error, GV_ERROR, GV_ERROR_INVALID,
			    "forward \"%s\" is not [tcp|udp:][HOSTADDR:]HOSTPORT:GUESTPORT", text);
		return FALSE;
	}
	if (!parse_port(parts[i], &f.host_port) || !parse_port(parts[i + 1], &f.guest_port)) {
		g_set_error(error, GV_ERROR, GV_ERROR_INVALID,
			    "forward \"%s\": ports must be numbers from 1 to 65535", text);
		return FALSE;
	}
	f.host_addr = g_strdup(addr);
	*out = f;
	return TRUE;
}

static char **split_list(const char *value)
{
	g_auto(GStrv) raw = g_strsplit_set(value, ";, \t", -1);
	GPtrArray *out = g_ptr_array_new();
	for (char **p = raw; *p; p++)
		if (**p)
			g_ptr_array_add(out, g_strdup(*p));
	g_ptr_array_add(out, NULL);
	return (char **)g_ptr_array_free(out, FALSE);
}

/*
 * split_env() - "A=1;B=two words" into its entries
 *
 * ';' separates, as in GKeyFile lists, so values may hold spaces and
 * commas.  Empty entries are skipped.
 */
static char **split_env(const char *value)
{
	g_auto(GStrv) raw = g_strsplit(value, ";", -1);
	GPtrArray *out = g_ptr_array_new();
	for (char **p = raw; *p; p++) {
		g_strstrip(*p);
		if (**p)
			g_ptr_array_add(out, g_strdup(*p));
	}
	g_ptr_array_add(out, NULL);
	return (char **)g_ptr_array_free(out, FALSE);
}

/* NAME=VALUE with NAME a shell variable name. */
static gboolean env_entry_valid(const char *entry)
{
	const char *eq = strchr(entry, '=');
	if (!eq || eq == entry || g_ascii_isdigit(entry[0]))
		return FALSE;
	for (const char *p = entry; p < eq; p++)
		if (!g_ascii_isalnum(*p) && *p != '_')
			return FALSE;
	return TRUE;
}

/*
 * check_syntax() - is @value acceptable for @ks, before paths are looked at?
 * Return: NULL when it is, else a message (transfer full).
 */
static char *check_syntax(const KeySchema *ks, const char *value)
{
	guint64 v;
	switch (ks->type) {
	case T_STR:
		if (strchr(value, '\n'))
			return g_strdup("must be one line");
		return NULL;
	case T_NAME:
		if (!gv_spec_name_valid(value))
			return g_strdup_printf("invalid name \"%s\" (1-63 of A-Z a-z 0-9 _ . -, "
					       "not starting with . or -)", value);
		return NULL;
	case T_MEM:
	case T_SIZE:
		if (!gv_parse_size(value, ks->type == T_MEM ? MiB : 1, &v))
			return g_strdup_printf("invalid size \"%s\" (a number with K, M, G or T%s)",
					       value, ks->type == T_MEM ? "; a bare number is MiB" : "");
		if (v < ks->min)
			return g_strdup_printf("size \"%s\" is below the minimum of %" G_GUINT64_FORMAT " KiB",
					       value, ks->min / 1024);
		if (ks->max && v > ks->max)
			return g_strdup_printf("size \"%s\" is above the maximum of %" G_GUINT64_FORMAT " KiB",
					       value, ks->max / 1024);
		return NULL;
	case T_UINT:
		if (!g_ascii_string_to_unsigned(value, 10, ks->min, ks->max, &v, NULL))
			return g_strdup_printf("\"%s\" is not a whole number from %" G_GUINT64_FORMAT
					       " to %" G_GUINT64_FORMAT, value, ks->min, ks->max);
		return NULL;
	case T_BOOL:
		if (strcmp(value, "true") && strcmp(value, "false"))
			return g_strdup_printf("\"%s\" is not true or false", value);
		return NULL;
	case T_ENUM: {
		g_auto(GStrv) vals = g_strsplit(ks->values, "|", -1);
		if (g_strv_contains((const char *const *)vals, value))
			return NULL;
		g_autofree char *list = g_strjoinv(", ", vals);
		return g_strdup_printf("\"%s\" is not one of %s", value, list);
	}
	case T_FLAKE: {
		/* Checked here so that a typo fails before nix is started. */
		const char *hash = strrchr(value, '#');
		if (!*value)
			return NULL; /* unset: lets a later layer switch to system= */
		for (const char *p = value; *p; p++)
			if (g_ascii_isspace(*p) || !g_ascii_isprint(*p))
				return g_strdup_printf("\"%s\" is not REF#NAME (no spaces)", value);
		if (!hash || hash == value || !hash[1] || strchr(hash + 1, '"') || strchr(hash + 1, '\\'))
			return g_strdup_printf("\"%s\" is not REF#NAME, e.g. .#testvm or "
					       "github:me/cfg#testvm", value);
		return NULL;
	}
	case T_PATH:
	case T_KERNEL:
	case T_INITRD:
	case T_FILE:
	case T_DIR:
		if (!*value && ks->type != T_FILE && ks->type != T_PATH)
			return g_strdup("must not be empty");
		return NULL;
	case T_GUEST_PATH:
		if (!guest_path_valid(value))
			return g_strdup_printf("\"%s\" is not an absolute guest path without ':', "
					       "spaces or ..", value);
		return NULL;
	case T_TAG:
		if (!tag_valid(value))
			return g_strdup_printf("invalid tag \"%s\" (1-31 of A-Z a-z 0-9 _ . -)", value);
		return NULL;
	case T_CPU:
		if (!*value || strspn(value, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
					   "0123456789_.,=+-") != strlen(value))
			return g_strdup_printf("\"%s\" is not a QEMU CPU model (letters, digits, "
					       "and _ . , = + -)", value);
		return NULL;
	case T_ENV: {
		g_auto(GStrv) entries = split_env(value);
		for (char **e = entries; *e; e++)
			if (!env_entry_valid(*e) || strchr(*e, '\n'))
				return g_strdup_printf("\"%s\" is not NAME=VALUE (entries are "
						       "separated by ';')", *e);
		return NULL;
	}
	case T_FORWARDS: {
		g_auto(GStrv) rules = split_list(value);
		for (char **r = rules; *r; r++) {
			GvForward f;
			g_autoptr(GError) err = NULL;
			if (!gv_parse_forward(*r, &f, &err))
				return g_strdup(err->message);
			g_free(f.host_addr);
		}
		return NULL;
	}
	case T_IFNAME:
		if (!ifname_valid(value))
			return g_strdup_printf("\"%s\" is not an interface name (1-15 characters, "
					       "no '/', ':', ',' or spaces)", value);
		return NULL;
	case T_NETNAME:
		if (!tag_valid(value) || value[0] == '.' || value[0] == '-')
			return g_strdup_printf("invalid network name \"%s\" (1-31 of A-Z a-z 0-9 _ . -, "
					       "not starting with . or -)", value);
		return NULL;
	case T_MAC:
		if (!mac_valid(value))
			return g_strdup_printf("\"%s\" is not a unicast MAC address like "
					       "52:54:00:12:34:56", value);
		return NULL;
	case T_ADDRESS:
		if (strcmp(value, "auto") && strcmp(value, "none") && !cidr_valid(value))
			return g_strdup_printf("\"%s\" is not auto, none or an IPv4 address with a "
					       "prefix length like 192.168.10.5/24", value);
		return NULL;
	case T_IPV4:
		if (!ipv4_valid(value))
			return g_strdup_printf("\"%s\" is not an IPv4 address", value);
		return NULL;
	}
	return NULL;
}

static gboolean is_path_type(KeyType t, const char *value)
{
	switch (t) {
	case T_FILE:
	case T_DIR:
	case T_PATH:
		return *value != '\0';
	case T_KERNEL:
		return strcmp(value, "auto") && strcmp(value, "host") && strcmp(value, "none");
	case T_INITRD:
		return strcmp(value, "auto") && strcmp(value, "none");
	default:
		return FALSE;
	}
}

/* ---- layers -------------------------------------------------------------- */

typedef struct {
	GKeyFile *merged;
	GHashTable *origin; /* "group\nkey" -> layer label */
	gboolean lenient;   /* skip keys that fail their checks */
} Merge;

static char *origin_key(const char *group, const char *key)
{
	return g_strconcat(group, "\n", key, NULL);
}

static const char *origin_of(Merge *m, const char *group, const char *key)
{
	g_autofree char *k = origin_key(group, key);
	const char *o = g_hash_table_lookup(m->origin, k);
	return o ? o : DEFAULT_LABEL;
}

/* "share NAME" -> G_SHARE, "net NAME" -> G_NET; a plain group name -> its kind; else -1. */
static int classify_group(const char *group)
{
	if (g_str_has_prefix(group, "share ")) {
		const char *id = group + strlen("share ");
		return tag_valid(id) ? G_SHARE : -1;
	}
	if (g_str_has_prefix(group, "net "))
		return nic_id_valid(group + strlen("net ")) ? G_NET : -1;
	for (int i = 0; i < G__COUNT; i++)
		if (i != G_SHARE && !strcmp(group, group_names[i]))
			return i;
	return -1;
}

static const KeySchema *find_key(GroupKind g, const char *key)
{
	for (gsize i = 0; i < G_N_ELEMENTS(schema); i++)
		if (schema[i].group == g && !strcmp(schema[i].key, key))
			return &schema[i];
	return NULL;
}

static gboolean set_one(Merge *m, const char *label, const char *base_dir,
			const char *group, const char *key, const char *value,
			GError **error)
{
	int g = classify_group(group);
	if (g < 0) {
		g_set_error(error, GV_ERROR, GV_ERROR_INVALID,
			    "%s: unknown group [%s] (known: [vm], [boot], [disk], [share NAME], [net], "
			    "[nixos], [build], [net NAME] with NAME 1-15 of A-Z a-z 0-9 _ -)",
			    label, group);
		return FALSE;
	}
	const KeySchema *ks = find_key(g, key);
	if (!ks) {
		g_set_error(error, GV_ERROR, GV_ERROR_INVALID,
			    "%s: [%s] unknown key \"%s\"", label, group, key);
		return FALSE;
	}
	g_autofree char *msg = check_syntax(ks, value);
	if (msg) {
		g_set_error(error, GV_ERROR, GV_ERROR_INVALID,
			    "%s: [%s] %s: %s", label, group, key, msg);
		return FALSE;
	}
	g_autofree char *stored = NULL;
	if (is_path_type(ks->type, value) && !g_path_is_absolute(value))
		stored = g_canonicalize_filename(value, base_dir);
	else
		stored = g_strdup(value);
	g_key_file_set_value(m->merged, group, key, stored);
	g_hash_table_replace(m->origin, origin_key(group, key), g_strdup(label));
	return TRUE;
}

static gboolean apply_keyfile(Merge *m, GKeyFile *layer, const char *label,
			      const char *base_dir, GError **error)
{
	g_auto(GStrv) groups = g_key_file_get_groups(layer, NULL);
	for (char **g = groups; *g; g++) {
		g_auto(GStrv) keys = g_key_file_get_keys(layer, *g, NULL, NULL);
		if (!keys)
			continue;
		for (char **k = keys; *k; k++) {
			/* get_string unescapes \s, \n... and accepts any text. */
			g_autofree char *v = g_key_file_get_string(layer, *g, *k, NULL);
			if (!v)
				v = g_key_file_get_value(layer, *g, *k, NULL);
			if (!set_one(m, label, base_dir, *g, *k, v ? v : "", error)) {
				if (!m->lenient)
					return FALSE;
				g_clear_error(error);
			}
		}
		if (!keys[0] && classify_group(*g) < 0) {
			g_set_error(error, GV_ERROR, GV_ERROR_INVALID,
				    "%s: unknown group [%s]", label, *g);
			return FALSE;
		}
	}
	return TRUE;
}

static gboolean apply_file(Merge *m, const char *path, const char *label,
			   gboolean optional, GError **error)
{
	g_autoptr(GKeyFile) kf = g_key_file_new();
	g_autoptr(GError) err = NULL;
	if (!g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, &err)) {
		if (optional && g_error_matches(err, G_FILE_ERROR, G_FILE_ERROR_NOENT))
			return TRUE;
		g_set_error(error, GV_ERROR, GV_ERROR_INVALID, "%s: %s", label, err->message);
		return FALSE;
	}
	g_autofree char *dir = g_path_get_dirname(path);
	g_autofree char *abs_dir = g_canonicalize_filename(dir, NULL);
	return apply_keyfile(m, kf, label, abs_dir, error);
}

/*
 * parse_set() - "GROUP.KEY=VALUE" into its parts
 *
 * Keys never contain '.', so the key is what follows the last '.' before
 * '='.  "share.NAME" and "share NAME" both name [share NAME] (and
 * "net.NAME" [net NAME]), so the shell needs no quoting.
 */
static gboolean parse_set(const char *set, char **group, char **key, char **value,
			  GError **error)
{
	const char *eq = strchr(set, '=');
	const char *dot = NULL;
	for (const char *p = set; eq && p < eq; p++)
		if (*p == '.')
			dot = p;
	if (!eq || !dot || dot == set || dot + 1 == eq) {
		g_set_error(error, GV_ERROR, GV_ERROR_INVALID,
			    "--set \"%s\" is not GROUP.KEY=VALUE", set);
		return FALSE;
	}
	*group = g_strndup(set, dot - set);
	if (g_str_has_prefix(*group, "share."))
		(*group)[strlen("share")] = ' ';
	else if (g_str_has_prefix(*group, "net."))
		(*group)[strlen("net")] = ' ';
	*key = g_strndup(dot + 1, eq - dot - 1);
	*value = g_strdup(eq + 1);
	return TRUE;
}

static char *display_path(const char *path, const char *cwd)
{
	if (cwd && g_str_has_prefix(path, cwd) && path[strlen(cwd)] == '/')
		return g_strdup(path + strlen(cwd) + 1);
	return g_strdup(path);
}

static gboolean merge_layers(Merge *m, const char *dir, const char *file,
			     const char *const *sets, const char *cwd, GError **error)
{
	g_autoptr(GKeyFile) def = g_key_file_new();
	g_key_file_load_from_data(def, default_layer, -1, G_KEY_FILE_NONE, NULL);
	if (!apply_keyfile(m, def, DEFAULT_LABEL, dir, error))
		return FALSE;
	g_hash_table_remove_all(m->origin); /* default: no origin entry */

	g_autofree char *spec_path = file ? g_canonicalize_filename(file, cwd)
					  : g_build_filename(dir, SPEC_FILE, NULL);
	g_autofree char *spec_dir = g_path_get_dirname(spec_path);
	g_autofree char *local_path = g_build_filename(spec_dir, LOCAL_FILE, NULL);
	g_autofree char *spec_label = display_path(spec_path, cwd);
	g_autofree char *local_label = display_path(local_path, cwd);

	if (!apply_file(m, spec_path, spec_label, file == NULL, error))
		return FALSE;
	if (!apply_file(m, local_path, local_label, TRUE, error))
		return FALSE;
	for (const char *const *s = sets; s && *s; s++) {
		g_autofree char *g = NULL, *k = NULL, *v = NULL;
		if (!parse_set(*s, &g, &k, &v, error))
			return FALSE;
		g_autofree char *label = g_strdup_printf(SET_LABEL " %s", *s);
		if (!set_one(m, label, cwd, g, k, v, error)) {
			if (!m->lenient)
				return FALSE;
			g_clear_error(error);
		}
	}
	return TRUE;
}

static void merge_clear(Merge *m)
{
	g_clear_pointer(&m->merged, g_key_file_unref);
	g_clear_pointer(&m->origin, g_hash_table_unref);
}

static void merge_init(Merge *m)
{
	m->merged = g_key_file_new();
	m->origin = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
}

/* ---- the merged spec into a struct --------------------------------------- */

static void share_free(GvShare *s)
{
	if (!s)
		return;
	g_free(s->id);
	g_free(s->source);
	g_free(s->tag);
	g_free(s->mount);
	g_free(s->cache);
	g_free(s->security);
	g_free(s);
}

void gv_spec_free(GvSpec *spec)
{
	if (!spec)
		return;
	g_free(spec->project_dir);
	g_free(spec->name);
	g_free(spec->machine);
	g_free(spec->cpu);
	g_free(spec->boot_from);
	g_free(spec->kernel);
	g_free(spec->initrd);
	g_free(spec->cmdline);
	g_free(spec->disk_image);
	g_free(spec->nixos_system);
	g_free(spec->nixos_flake);
	g_free(spec->nixos_store);
	g_clear_pointer(&spec->shares, g_ptr_array_unref);
	g_clear_pointer(&spec->nics, g_ptr_array_unref);
	g_free(spec->cloud_init_ssh_key);
	g_free(spec->build_command);
	g_free(spec->build_workdir);
	g_strfreev(spec->build_env);
	g_clear_pointer(&spec->merged, g_key_file_unref);
	g_free(spec);
}

static char *get(Merge *m, const char *group, const char *key)
{
	return g_key_file_get_string(m->merged, group, key, NULL);
}

static gboolean fail_key(Merge *m, const char *group, const char *key, GError **error,
			 const char *fmt, ...) G_GNUC_PRINTF(5, 6);
static gboolean fail_key(Merge *m, const char *group, const char *key, GError **error,
			 const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	g_autofree char *msg = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	g_set_error(error, GV_ERROR, GV_ERROR_INVALID, "%s: [%s] %s: %s",
		    origin_of(m, group, key), group, key, msg);
	return FALSE;
}

static gboolean check_exists(Merge *m, const char *group, const char *key,
			     const char *path, gboolean want_dir, GError **error)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return fail_key(m, group, key, error, "%s: %s", path, g_strerror(errno));
	if (want_dir && !S_ISDIR(st.st_mode))
		return fail_key(m, group, key, error, "%s is not a directory", path);
	if (!want_dir && S_ISDIR(st.st_mode))
		return fail_key(m, group, key, error, "%s is a directory, not a file", path);
	if (access(path, R_OK) < 0)
		return fail_key(m, group, key, error, "%s is not readable: %s", path,
				g_strerror(errno));
	return TRUE;
}

static gboolean get_bool(Merge *m, const char *group, const char *key, gboolean def)
{
	g_autofree char *v = get(m, group, key);
	return v ? !strcmp(v, "true") : def;
}

static guint64 get_size(Merge *m, const char *group, const char *key, guint64 bare,
			guint64 def)
{
	g_autofree char *v = get(m, group, key);
	guint64 out = def;
	if (v && *v)
		gv_parse_size(v, bare, &out); /* syntax was checked per layer */
	return out;
}

static int cmp_share(gconstpointer a, gconstpointer b)
{
	const GvShare *x = *(GvShare *const *)a, *y = *(GvShare *const *)b;
	return strcmp(x->id, y->id);
}

static gboolean parse_shares(Merge *m, GvSpec *spec, GError **error)
{
	g_auto(GStrv) groups = g_key_file_get_groups(m->merged, NULL);
	g_autoptr(GHashTable) tags = g_hash_table_new(g_str_hash, g_str_equal);
	g_autoptr(GHashTable) mounts = g_hash_table_new(g_str_hash, g_str_equal);

	for (char **g = groups; *g; g++) {
		if (classify_group(*g) != G_SHARE)
			continue;
		if (!get_bool(m, *g, "enabled", TRUE))
			continue;
		GvShare *s = g_new0(GvShare, 1);
		g_ptr_array_add(spec->shares, s);
		s->id = g_strdup(*g + strlen("share "));
		s->source = get(m, *g, "source");
		s->implicit = !strcmp(origin_of(m, *g, "source"), DEFAULT_LABEL);
		if (!s->source) {
			g_auto(GStrv) keys = g_key_file_get_keys(m->merged, *g, NULL, NULL);
			g_set_error(error, GV_ERROR, GV_ERROR_INVALID,
				    "%s: [%s] needs a source directory",
				    origin_of(m, *g, keys && keys[0] ? keys[0] : "source"), *g);
			return FALSE;
		}
		if (!check_exists(m, *g, "source", s->source, TRUE, error))
			return FALSE;
		s->tag = get(m, *g, "tag");
		if (!s->tag)
			s->tag = g_strdup(s->id);
		s->mount = get(m, *g, "mount");
		if (!s->mount)
			s->mount = g_strconcat("/mnt/", s->id, NULL);
		s->readonly = get_bool(m, *g, "readonly", FALSE);
		s->msize = get_size(m, *g, "msize", 1, SHARE_DEFAULT_MSIZE);
		s->cache = get(m, *g, "cache");
		if (!s->cache)
			s->cache = g_strdup(SHARE_DEFAULT_CACHE);
		s->security = get(m, *g, "security");
		if (!s->security)
			s->security = g_strdup(SHARE_DEFAULT_SECURITY);
		if (g_hash_table_contains(tags, s->tag))
			return fail_key(m, *g, "tag", error, "tag \"%s\" is used by another share", s->tag);
		if (g_hash_table_contains(mounts, s->mount))
			return fail_key(m, *g, "mount", error,
					"%s is the mount point of another share", s->mount);
		g_hash_table_add(tags, s->tag);
		g_hash_table_add(mounts, s->mount);
	}
	g_ptr_array_sort(spec->shares, cmp_share);
	return TRUE;
}

/*
 * [nixos]: the system's kernel, initrd and init come from its toplevel
 * (found or built by prepare), so [boot] kernel and initrd must be left
 * alone; the store is one more share, read-only, tag "nix-store".
 *
 * The store share mirrors nixpkgs' qemu-vm.nix, which the guest module
 * (nix/module.nix) follows: tag nix-store, mounted at /nix/.ro-store with
 * an overlay or a bind mount on /nix/store, cache=loose because store
 * paths never change, security_model=none so the guest sees the store's
 * real owners and modes.  msize is the workspace's 512 KiB, not qemu-vm's
 * 16 KiB (5x slower reads, see the default layer above).
 */
#define NIXOS_STORE_TAG "nix-store"
#define NIXOS_STORE_MOUNT "/nix/.ro-store"
#define NIXOS_DEFAULT_STORE "/nix/store"

static gboolean parse_nixos(Merge *m, GvSpec *spec, GError **error)
{
	/* An empty value unsets: a later layer may switch between the two. */
	spec->nixos_system = get(m, "nixos", "system");
	if (spec->nixos_system && !*spec->nixos_system)
		g_clear_pointer(&spec->nixos_system, g_free);
	spec->nixos_flake = get(m, "nixos", "flake");
	if (spec->nixos_flake && !*spec->nixos_flake)
		g_clear_pointer(&spec->nixos_flake, g_free);
	g_autofree char *store = get(m, "nixos", "store");
	if (!spec->nixos_system && !spec->nixos_flake) {
		if (store)
			return fail_key(m, "nixos", "store", error,
					"is used only with [nixos] system or flake");
		return TRUE;
	}
	if (spec->nixos_system && spec->nixos_flake)
		return fail_key(m, "nixos", "flake", error,
				"[nixos] has both system and flake: set one of them");
	static const char *const boot_keys[] = { "kernel", "initrd" };
	for (gsize i = 0; i < G_N_ELEMENTS(boot_keys); i++) {
		g_autofree char *v = get(m, "boot", boot_keys[i]);
		if (v && strcmp(v, "auto"))
			return fail_key(m, "boot", boot_keys[i], error,
					"[nixos] boots the system's own kernel and initrd: "
					"leave [boot] %s at auto", boot_keys[i]);
	}
	spec->kernel_kind = GV_KERNEL_NIXOS;
	spec->initrd_kind = GV_INITRD_AUTO;
	/* Blame the key that asked for NixOS: the default store is nobody's typo. */
	if (!store && !g_file_test(NIXOS_DEFAULT_STORE, G_FILE_TEST_IS_DIR))
		return fail_key(m, "nixos", spec->nixos_flake ? "flake" : "system", error,
				"needs the Nix store, and " NIXOS_DEFAULT_STORE " does not exist: "
				"is Nix installed? (set [nixos] store to a store kept elsewhere)");
	spec->nixos_store = store ? g_steal_pointer(&store) : g_strdup(NIXOS_DEFAULT_STORE);
	if (!check_exists(m, "nixos", "store", spec->nixos_store, TRUE, error))
		return FALSE;
	for (guint i = 0; i < spec->shares->len; i++) {
		const GvShare *o = g_ptr_array_index(spec->shares, i);
		g_autofree char *group = g_strconcat("share ", o->id, NULL);
		if (!strcmp(o->tag, NIXOS_STORE_TAG))
			return fail_key(m, group, "tag", error,
					"tag \"%s\" is the store's with [nixos]", NIXOS_STORE_TAG);
		if (!strcmp(o->mount, "/nix") || g_str_has_prefix(o->mount, "/nix/"))
			return fail_key(m, group, "mount", error,
					"%s is under /nix, which the store uses with [nixos]", o->mount);
	}
	GvShare *st = g_new0(GvShare, 1);
	st->id = g_strdup(NIXOS_STORE_TAG);
	st->source = g_strdup(spec->nixos_store);
	st->tag = g_strdup(NIXOS_STORE_TAG);
	st->mount = g_strdup(NIXOS_STORE_MOUNT);
	st->readonly = TRUE;
	st->msize = SHARE_DEFAULT_MSIZE;
	st->cache = g_strdup("loose");
	st->security = g_strdup("none");
	g_ptr_array_add(spec->shares, st);
	g_ptr_array_sort(spec->shares, cmp_share);
	return TRUE;
}

static int enum_index(const char *values, const char *v)
{
	g_auto(GStrv) vals = g_strsplit(values, "|", -1);
	for (int i = 0; vals[i]; i++)
		if (!strcmp(vals[i], v))
			return i;
	return 0;
}

/* Addresses libslirp gives its guest network (QEMU's -netdev user and the switch). */
#define SLIRP_GUEST "10.0.2.15/24"
#define SLIRP_GATEWAY "10.0.2.2"
#define SLIRP_DNS "10.0.2.3"

static void nic_free(GvNic *n)
{
	if (!n)
		return;
	g_free(n->id);
	g_free(n->group);
	g_free(n->netdev);
	g_free(n->mac);
	g_free(n->bridge);
	g_free(n->network);
	g_free(n->address);
	g_free(n->gateway);
	g_free(n->dns);
	g_clear_pointer(&n->forwards, g_ptr_array_unref);
	g_free(n);
}

const GvNic *gv_spec_first_nic(const GvSpec *spec, GvNetMode mode)
{
	for (guint i = 0; spec->nics && i < spec->nics->len; i++) {
		const GvNic *n = g_ptr_array_index(spec->nics, i);
		if (n->mode == mode)
			return n;
	}
	return NULL;
}

static gboolean parse_forwards(Merge *m, GvNic *n, GError **error)
{
	g_autofree char *fwd = get(m, n->group, "forward");
	if (!fwd)
		return TRUE;
	g_auto(GStrv) rules = split_list(fwd);
	for (char **r = rules; *r; r++) {
		GvForward *f = g_new0(GvForward, 1);
		gv_parse_forward(*r, f, NULL); /* syntax was checked per layer */
		for (guint i = 0; i < n->forwards->len; i++) {
			GvForward *o = g_ptr_array_index(n->forwards, i);
			if (o->host_port == f->host_port && !strcmp(o->proto, f->proto) &&
			    !strcmp(o->host_addr, f->host_addr)) {
				gv_forward_free(f);
				return fail_key(m, n->group, "forward", error,
						"host port %s:%u is forwarded twice", o->proto,
						o->host_port);
			}
		}
		g_ptr_array_add(n->forwards, f);
	}
	return TRUE;
}

/* A key set for a mode that does not use it is a mistake worth saying. */
static gboolean reject_key(Merge *m, GvNic *n, const char *key, const char *needs,
			   GError **error)
{
	if (!g_key_file_has_key(m->merged, n->group, key, NULL))
		return TRUE;
	return fail_key(m, n->group, key, error, "only for %s (this NIC is mode=%s)", needs,
			gv_net_mode_name(n->mode));
}

/*
 * parse_nic() - one [net] or [net NAME] group into a GvNic
 *
 * Return: TRUE with *out set, or set to NULL for mode=none; FALSE on error.
 */
static gboolean parse_nic(Merge *m, GvSpec *spec, const char *group, GvNic **out,
			  GError **error)
{
	g_autofree char *mode = get(m, group, "mode");
	g_autoptr(GPtrArray) hold = g_ptr_array_new_with_free_func((GDestroyNotify)nic_free);
	GvNic *n = g_new0(GvNic, 1);
	g_ptr_array_add(hold, n);
	n->group = g_strdup(group);
	n->id = g_strdup(strcmp(group, "net") ? group + strlen("net ") : "");
	/* [net NAME] without a mode is a user-mode NIC, like [net] in the default. */
	n->mode = mode ? (GvNetMode)enum_index("user|none|bridge|switch", mode) : GV_NET_USER;
	n->forwards = g_ptr_array_new_with_free_func((GDestroyNotify)gv_forward_free);
	*out = NULL;
	if (n->mode == GV_NET_NONE) {
		/* Only forwards are refused: they would silently do nothing. */
		return reject_key(m, n, "forward", "mode=user", error);
	}
	n->netdev = *n->id ? g_strconcat("net-", n->id, NULL) : g_strdup("net0");
	n->mac = get(m, group, "mac");
	if (!n->mac) {
		g_autofree char *seed = *n->id ? g_strconcat(spec->name, "/", n->id, NULL)
					       : g_strdup(spec->name);
		n->mac = gv_mac_for_name(seed);
	}
	n->auto_forward = get_bool(m, group, "auto-forward", FALSE);
	n->auto_forward_privileged = get_bool(m, group, "auto-forward-privileged", FALSE);
	g_autofree char *auto_max = get(m, group, "auto-forward-max");
	n->auto_forward_max = auto_max ? (guint)g_ascii_strtoull(auto_max, NULL, 10)
				       : GV_AUTO_FORWARD_MAX_DEFAULT;
	g_autofree char *address = get(m, group, "address");

	switch (n->mode) {
	case GV_NET_USER:
		if (!reject_key(m, n, "bridge", "mode=bridge", error) ||
		    !reject_key(m, n, "network", "mode=switch", error) ||
		    !reject_key(m, n, "mtu", "mode=switch", error) ||
		    !reject_key(m, n, "address", "mode=bridge or switch", error) ||
		    !reject_key(m, n, "gateway", "mode=bridge or switch", error) ||
		    !reject_key(m, n, "dns", "mode=bridge or switch", error))
			return FALSE;
		n->address = g_strdup(SLIRP_GUEST);
		n->gateway = g_strdup(SLIRP_GATEWAY);
		n->dns = g_strdup(SLIRP_DNS);
		if (!parse_forwards(m, n, error))
			return FALSE;
		break;
	case GV_NET_BRIDGE:
		if (!reject_key(m, n, "network", "mode=switch", error) ||
		    !reject_key(m, n, "mtu", "mode=switch", error) ||
		    !reject_key(m, n, "forward", "mode=user", error) ||
		    !reject_key(m, n, "auto-forward", "mode=user", error) ||
		    !reject_key(m, n, "auto-forward-privileged", "mode=user", error) ||
		    !reject_key(m, n, "auto-forward-max", "mode=user", error))
			return FALSE;
		n->bridge = get(m, group, "bridge");
		if (!n->bridge)
			return fail_key(m, group, "mode", error,
					"mode=bridge needs bridge=NAME (a bridge on the host, e.g. br0)");
		if (address && !strcmp(address, "auto"))
			return fail_key(m, group, "address", error,
					"auto is only for mode=switch: give ADDR/PREFIX or none");
		if (address && strcmp(address, "none"))
			n->address = g_strdup(address);
		n->gateway = get(m, group, "gateway");
		n->dns = get(m, group, "dns");
		if ((n->gateway || n->dns) && !n->address)
			return fail_key(m, group, n->gateway ? "gateway" : "dns", error,
					"needs a static address= (the guest configures nothing else)");
		break;
	case GV_NET_SWITCH: {
		if (!reject_key(m, n, "bridge", "mode=bridge", error) ||
		    !reject_key(m, n, "forward", "mode=user", error) ||
		    !reject_key(m, n, "auto-forward", "mode=user", error) ||
		    !reject_key(m, n, "auto-forward-privileged", "mode=user", error) ||
		    !reject_key(m, n, "auto-forward-max", "mode=user", error))
			return FALSE;
		n->network = get(m, group, "network");
		if (!n->network)
			n->network = g_strdup("default");
		g_autofree char *mtu = get(m, group, "mtu");
		n->mtu = mtu ? (guint)g_ascii_strtoull(mtu, NULL, 10) : GV_SWITCH_MTU;
		/* auto (the default): grainvm leases one; none: the guest's own DHCP. */
		if (address && strcmp(address, "auto") && strcmp(address, "none"))
			n->address = g_strdup(address);
		n->lease = !address || !strcmp(address, "auto");
		if (!address || strcmp(address, "none")) {
			n->gateway = get(m, group, "gateway");
			if (!n->gateway)
				n->gateway = g_strdup(SLIRP_GATEWAY);
			n->dns = get(m, group, "dns");
			if (!n->dns)
				n->dns = g_strdup(SLIRP_DNS);
		}
		break;
	}
	case GV_NET_NONE:
		break;
	}
	*out = g_ptr_array_steal_index(hold, 0);
	return TRUE;
}

static int cmp_str_ptr(gconstpointer a, gconstpointer b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static gboolean parse_nics(Merge *m, GvSpec *spec, GError **error)
{
	g_auto(GStrv) groups = g_key_file_get_groups(m->merged, NULL);
	g_autoptr(GPtrArray) names = g_ptr_array_new();
	for (char **g = groups; *g; g++)
		if (g_str_has_prefix(*g, "net "))
			g_ptr_array_add(names, *g);
	g_ptr_array_sort(names, cmp_str_ptr);
	g_ptr_array_insert(names, 0, (gpointer) "net");

	for (guint i = 0; i < names->len; i++) {
		const char *group = g_ptr_array_index(names, i);
		GvNic *n = NULL;
		if (!parse_nic(m, spec, group, &n, error))
			return FALSE;
		if (!n)
			continue;
		for (guint j = 0; j < spec->nics->len; j++) {
			const GvNic *o = g_ptr_array_index(spec->nics, j);
			if (!g_ascii_strcasecmp(o->mac, n->mac)) {
				nic_free(n);
				return fail_key(m, group, "mac", error, "%s is also the MAC of [%s]",
						o->mac, o->group);
			}
		}
		g_ptr_array_add(spec->nics, n);
		if (spec->nics->len > GV_NICS_MAX)
			return fail_key(m, group, "mode", error, "more than %d network cards",
					GV_NICS_MAX);
	}
	return TRUE;
}

static gboolean parse_merged(Merge *m, GvSpec *spec, GError **error)
{
	g_autofree char *name = get(m, "vm", "name");
	spec->name = name ? g_steal_pointer(&name) : gv_spec_default_name(spec->project_dir);
	spec->memory = get_size(m, "vm", "memory", MiB, 1024 * MiB);
	g_autofree char *cpus = get(m, "vm", "cpus");
	spec->cpus = cpus ? (guint)g_ascii_strtoull(cpus, NULL, 10) : 1;
	g_autofree char *accel = get(m, "vm", "accel");
	spec->accel = accel ? (GvAccel)enum_index("auto|kvm|tcg", accel) : GV_ACCEL_AUTO;
	g_autofree char *fw = get(m, "vm", "firmware");
	spec->firmware = fw ? (GvFirmware)enum_index("auto|uefi|bios|none", fw) : GV_FIRMWARE_AUTO;
	spec->machine = get(m, "vm", "machine");
	spec->cpu = get(m, "vm", "cpu");
	g_autofree char *rt = get(m, "vm", "ready-timeout");
	spec->ready_timeout = rt ? (guint)g_ascii_strtoull(rt, NULL, 10) : 300;
	g_autofree char *rl = get(m, "vm", "ready");
	spec->ready_level = rl ? (GvReadyLevel)enum_index("agent|system", rl) : GV_READY_AGENT;
	/* Empty is "no snapshot", so --set vm.boot-from= asks for a cold boot. */
	g_autofree char *from = get(m, "vm", "boot-from");
	if (from && *from && !gv_spec_name_valid(from))
		return fail_key(m, "vm", "boot-from", error,
				"invalid snapshot tag \"%s\" (1-63 of A-Z a-z 0-9 _ . -, "
				"not starting with . or -)", from);
	if (from && *from)
		spec->boot_from = g_steal_pointer(&from);
	spec->template_ram = get_bool(m, "vm", "template", FALSE);

	g_autofree char *image = get(m, "disk", "image");
	if (image && *image) {
		if (!check_exists(m, "disk", "image", image, FALSE, error))
			return FALSE;
		spec->disk_image = g_steal_pointer(&image);
	}
	spec->disk_size = get_size(m, "disk", "size", 1, 0);
	spec->disk_trust_backing = get_bool(m, "disk", "trust-backing", FALSE);

	g_autofree char *kernel = get(m, "boot", "kernel");
	if (!kernel || !strcmp(kernel, "auto")) {
		/* A disk to boot from means firmware boots it; else the host's kernel. */
		spec->kernel_kind = spec->disk_image ? GV_KERNEL_NONE : GV_KERNEL_HOST;
	} else if (!strcmp(kernel, "host")) {
		spec->kernel_kind = GV_KERNEL_HOST;
	} else if (!strcmp(kernel, "none")) {
		spec->kernel_kind = GV_KERNEL_NONE;
	} else {
		if (!check_exists(m, "boot", "kernel", kernel, FALSE, error))
			return FALSE;
		spec->kernel_kind = GV_KERNEL_PATH;
		spec->kernel = g_steal_pointer(&kernel);
	}

	g_autofree char *initrd = get(m, "boot", "initrd");
	if (!initrd || !strcmp(initrd, "auto")) {
		spec->initrd_kind = GV_INITRD_AUTO;
	} else if (!strcmp(initrd, "none")) {
		spec->initrd_kind = GV_INITRD_NONE;
	} else {
		if (spec->kernel_kind == GV_KERNEL_NONE)
			return fail_key(m, "boot", "initrd", error,
					"an initrd needs a kernel ([boot] kernel is none)");
		if (!check_exists(m, "boot", "initrd", initrd, FALSE, error))
			return FALSE;
		spec->initrd_kind = GV_INITRD_PATH;
		spec->initrd = g_steal_pointer(&initrd);
	}
	spec->cmdline = get(m, "boot", "cmdline");
	if (!spec->cmdline)
		spec->cmdline = g_strdup("");
	spec->pvh = get_bool(m, "boot", "pvh", TRUE);

	if (spec->kernel_kind == GV_KERNEL_NONE && !spec->disk_image)
		return fail_key(m, "boot", "kernel", error,
				"nothing to boot: no kernel and no [disk] image");
	if (spec->disk_size && !spec->disk_image && spec->kernel_kind == GV_KERNEL_NONE)
		return fail_key(m, "disk", "size", error, "a blank disk cannot boot without a kernel");

	if (!parse_shares(m, spec, error) || !parse_nixos(m, spec, error))
		return FALSE;

	if (!parse_nics(m, spec, error))
		return FALSE;

	spec->build_command = get(m, "build", "command");
	if (spec->build_command && !*g_strstrip(spec->build_command))
		g_clear_pointer(&spec->build_command, g_free);
	spec->build_workdir = get(m, "build", "workdir");
	if (!spec->build_workdir) {
		/* The workspace share's mount, where a project's sources are. */
		for (guint i = 0; i < spec->shares->len; i++) {
			const GvShare *sh = g_ptr_array_index(spec->shares, i);
			if (!strcmp(sh->id, "workspace"))
				spec->build_workdir = g_strdup(sh->mount);
		}
	}
	g_autofree char *env = get(m, "build", "env");
	spec->build_env = split_env(env ? env : "");

	spec->cloud_init = get_bool(m, "cloud-init", "enabled", FALSE);
	g_autofree char *key = get(m, "cloud-init", "ssh-key");
	if (key && *key) {
		if (!check_exists(m, "cloud-init", "ssh-key", key, FALSE, error))
			return FALSE;
		spec->cloud_init_ssh_key = g_steal_pointer(&key);
	}
	if (spec->cloud_init && !spec->disk_image)
		return fail_key(m, "cloud-init", "enabled", error,
				"cloud-init needs a [disk] image that has cloud-init");
	return TRUE;
}

GvSpec *gv_spec_load(const char *dir, const char *file, const char *const *sets,
		     const char *cwd, GError **error)
{
	Merge m = { 0 };
	merge_init(&m);
	g_autofree char *abs_dir = g_canonicalize_filename(dir, cwd);
	if (file) {
		g_autofree char *p = g_canonicalize_filename(file, cwd);
		g_free(abs_dir);
		abs_dir = g_path_get_dirname(p);
	}

	g_autoptr(GvSpec) spec = g_new0(GvSpec, 1);
	spec->project_dir = g_strdup(abs_dir);
	spec->shares = g_ptr_array_new_with_free_func((GDestroyNotify)share_free);
	spec->nics = g_ptr_array_new_with_free_func((GDestroyNotify)nic_free);

	gboolean ok = merge_layers(&m, abs_dir, file, sets, cwd, error) &&
		      parse_merged(&m, spec, error);
	if (ok) {
		/* Record where each key came from, for `grainvm config`. */
		GHashTableIter it;
		gpointer k, v;
		g_hash_table_iter_init(&it, m.origin);
		while (g_hash_table_iter_next(&it, &k, &v)) {
			g_auto(GStrv) gk = g_strsplit(k, "\n", 2);
			g_autofree char *c = g_strdup_printf(" from %s", (char *)v);
			g_key_file_set_comment(m.merged, gk[0], gk[1], c, NULL);
		}
		if (!g_key_file_has_key(m.merged, "vm", "name", NULL)) {
			g_key_file_set_string(m.merged, "vm", "name", spec->name);
			g_key_file_set_comment(m.merged, "vm", "name",
					       " from the project directory's name", NULL);
		}
		spec->merged = g_key_file_ref(m.merged);
	}
	merge_clear(&m);
	return ok ? g_steal_pointer(&spec) : NULL;
}

char *gv_spec_load_name(const char *dir, const char *file, GError **error)
{
	Merge m = { 0 };
	merge_init(&m);
	g_autofree char *cwd = g_get_current_dir();
	g_autofree char *abs_dir = g_canonicalize_filename(dir, cwd);
	if (file) {
		g_autofree char *p = g_canonicalize_filename(file, cwd);
		g_free(abs_dir);
		abs_dir = g_path_get_dirname(p);
	}
	char *name = NULL;
	m.lenient = TRUE;
	if (merge_layers(&m, abs_dir, file, NULL, cwd, error)) {
		name = get(&m, "vm", "name");
		if (!name)
			name = gv_spec_default_name(abs_dir);
	}
	merge_clear(&m);
	return name;
}

/* realpath(3) into GLib memory; the name itself when it cannot be resolved. */
static char *real_or_same(const char *path)
{
	char *r = realpath(path, NULL);
	char *out = g_strdup(r ? r : path);
	free(r);
	return out;
}

gboolean gv_spec_check_default_share(const GvSpec *spec, const char *const *homes,
				     GError **error)
{
	for (guint i = 0; i < spec->shares->len; i++) {
		const GvShare *sh = g_ptr_array_index(spec->shares, i);
		if (!sh->implicit)
			continue;
		g_autofree char *src = real_or_same(sh->source);
		const char *what = NULL;
		if (!strcmp(src, "/"))
			what = "the whole host filesystem";
		for (gsize h = 0; !what && homes && homes[h]; h++) {
			g_autofree char *home = real_or_same(homes[h]);
			if (!strcmp(src, home))
				what = "a home directory";
		}
		if (!what)
			continue;
		g_set_error(error, GV_ERROR, GV_ERROR_INVALID,
			    "[share %s] the default share is the project directory %s, %s: run "
			    "grainvm in a project directory, or share it on purpose with "
			    "--set share.%s.source=%s (or enabled=false to share nothing)",
			    sh->id, src, what, sh->id, src);
		return FALSE;
	}
	return TRUE;
}

char *gv_spec_to_data(const GvSpec *spec, gboolean with_origins)
{
	g_autoptr(GKeyFile) copy = g_key_file_new();
	g_autofree char *data = g_key_file_to_data(spec->merged, NULL, NULL);
	g_key_file_load_from_data(copy, data, (gsize)-1,
				  with_origins ? G_KEY_FILE_KEEP_COMMENTS : G_KEY_FILE_NONE, NULL);
	return g_key_file_to_data(copy, NULL, NULL);
}
