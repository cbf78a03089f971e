/* SPDX-License-Identifier: MIT */
/* prepare.c - host facts for `up` (see prepare.h) */
#include "boot/prepare.h"
#include "boot/base-stamp.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <gio/gio.h>

#include "boot/accel.h"
#include "boot/firmware.h"
#include "boot/cloud-init.h"
#include "grainvm-image.h"
#include "gv-config.h"
#include "snapshot/disk-layers.h"
#include "gv-error.h"
#include "boot/initramfs.h"
#include "boot/kernel.h"
#include "boot/nixos.h"
#include "fileio.h"
#include "supervisor/privdrop.h"

void gv_prepared_free(GvPrepared *p)
{
	if (!p)
		return;
	g_free(p->qemu);
	g_free(p->accel_reason);
	g_free(p->kernel);
	g_free(p->initrd);
	g_free(p->ovmf_code);
	g_free(p->ovmf_vars);
	g_free(p->disk);
	g_free(p->nixos_toplevel);
	g_free(p->nixos_params);
	g_free(p->seed);
	g_free(p->boot);
	g_clear_pointer(&p->notes, g_ptr_array_unref);
	g_clear_pointer(&p->created, g_ptr_array_unref);
	g_clear_pointer(&p->net, gv_net_prepared_free);
	g_clear_pointer(&p->warnings, g_ptr_array_unref);
	gv_qemu_user_clear(&p->qemu_user);
	g_clear_pointer(&p->disk_chain, g_array_unref);
	g_clear_pointer(&p->disk_chain_strings, g_ptr_array_unref);
	g_free(p);
}

void gv_prepared_remove_created(GvPrepared *p)
{
	for (guint i = 0; p->created && i < p->created->len; i++)
		unlink(g_ptr_array_index(p->created, i));
	if (p->created)
		g_ptr_array_set_size(p->created, 0);
}

char *gv_find_qemu(GError **error)
{
	const char *env = g_getenv("GRAINVM_QEMU");
	const char *name = env && *env ? env : "qemu-system-x86_64";
	char *path = g_find_program_in_path(name);
	if (!path)
		g_set_error(error, GV_ERROR, GV_ERROR_INVALID,
			    "%s not found: install it (apt-get install qemu-system-x86)%s", name,
			    env ? " or fix GRAINVM_QEMU" : "");
	return path;
}

static char *exe_dir(void)
{
	g_autofree char *exe = g_file_read_link("/proc/self/exe", NULL);
	return exe ? g_path_get_dirname(exe) : NULL;
}

char *gv_find_agent(GError **error)
{
	const char *env = g_getenv("GRAINVM_AGENT");
	if (env && *env) {
		if (access(env, R_OK) == 0)
			return g_strdup(env);
		g_set_error(error, GV_ERROR, GV_ERROR_INVALID, "GRAINVM_AGENT=%s: %s", env,
			    g_strerror(errno));
		return NULL;
	}
	g_autofree char *dir = exe_dir();
	const char *candidates[3] = { NULL };
	g_autofree char *build = dir ? g_build_filename(dir, "..", "guest-agent", "grainvm-agent", NULL) : NULL;
	g_autofree char *rel = dir ? g_build_filename(dir, "..", "libexec", "grainvm", "grainvm-agent", NULL) : NULL;
	candidates[0] = build;
	candidates[1] = rel;
	candidates[2] = GV_LIBEXECDIR "/grainvm-agent";
	for (gsize i = 0; i < G_N_ELEMENTS(candidates); i++)
		if (candidates[i] && access(candidates[i], R_OK) == 0)
			return g_canonicalize_filename(candidates[i], NULL);
	g_set_error(error, GV_ERROR, GV_ERROR_INVALID,
		    "grainvm-agent not found (looked beside the grainvm binary and in %s): "
		    "build it (meson compile) or set GRAINVM_AGENT", GV_LIBEXECDIR);
	return NULL;
}

static const char *find_busybox(void)
{
	const char *env = g_getenv("GRAINVM_BUSYBOX");
	if (env)
		return *env && access(env, R_OK) == 0 ? env : NULL;
	/* Alpine's /bin/busybox is dynamic; its static one is busybox.static. */
	static const char *const paths[] = { "/bin/busybox.static", "/bin/busybox",
					     "/usr/bin/busybox", NULL };
	for (const char *const *p = paths; *p; p++)
		if (access(*p, R_OK) == 0)
			return *p;
	return NULL;
}

/* OVMF code/vars pairs as distributions install them. */
static gboolean find_ovmf(char **code, char **vars, GError **error)
{
	const char *ec = g_getenv("GRAINVM_OVMF_CODE"), *ev = g_getenv("GRAINVM_OVMF_VARS");
	if (ec && ev) {
		*code = g_strdup(ec);
		*vars = g_strdup(ev);
		return TRUE;
	}
	static const char *const pairs[][2] = {
		{ "/usr/share/OVMF/OVMF_CODE_4M.fd", "/usr/share/OVMF/OVMF_VARS_4M.fd" },
		{ "/usr/share/OVMF/OVMF_CODE.fd", "/usr/share/OVMF/OVMF_VARS.fd" },
		{ "/usr/share/edk2/ovmf/OVMF_CODE.fd", "/usr/share/edk2/ovmf/OVMF_VARS.fd" },
		{ "/usr/share/edk2/x64/OVMF_CODE.4m.fd", "/usr/share/edk2/x64/OVMF_VARS.4m.fd" },
		{ "/usr/share/qemu/edk2-x86_64-code.fd", "/usr/share/qemu/edk2-i386-vars.fd" },
	};
	for (gsize i = 0; i < G_N_ELEMENTS(pairs); i++) {
		if (access(pairs[i][0], R_OK) == 0 && access(pairs[i][1], R_OK) == 0) {
			*code = g_strdup(pairs[i][0]);
			*vars = g_strdup(pairs[i][1]);
			return TRUE;
		}
	}
	g_set_error(error, GV_ERROR, GV_ERROR_INVALID,
		    "firmware=uefi but no OVMF found: install it (apt-get install ovmf) or set "
		    "GRAINVM_OVMF_CODE and GRAINVM_OVMF_VARS");
	return FALSE;
}

static gboolean copy_file_atomic(const char *src, const char *dst, GError **error)
{
	g_autofree char *data = NULL;
	gsize len;
	if (!g_file_get_contents(src, &data, &len, error))
		return FALSE;
	return gv_write_file_atomic(dst, data, len, 0600, error);
}

/* mapped-xattr stores guest ownership in user.* xattrs; fail early if the host fs cannot. */
static gboolean check_share_xattrs(const GvShare *sh, GError **error)
{
	if (strcmp(sh->security, "mapped-xattr") || sh->readonly)
		return TRUE;
	const char *name = "user.grainvm.probe";
	if (lsetxattr(sh->source, name, "1", 1, 0) < 0) {
		if (errno == ENOTSUP) {
			g_set_error(error, GV_ERROR, GV_ERROR_INVALID,
				    "[share %s] %s: the filesystem has no user xattrs, which "
				    "security=mapped-xattr needs: set security=mapped-file or none",
				    sh->id, sh->source);
			return FALSE;
		}
		return TRUE; /* EPERM/EACCES: QEMU will report it for what it really tries */
	}
	lremovexattr(sh->source, name);
	return TRUE;
}

/*
 * QEMU's user and a share: one it cannot read QEMU would fail to open
 * ("Permission denied" on /proc/self/fd/N), so it is refused here, saying
 * how to fix it.  A read-write one it cannot write to works read-only,
 * which the guest learns only when a write fails: a warning, with the
 * fixes; not refused, as reading may be all the guest needs.
 */
static gboolean check_share_access(const GvShare *sh, const GvQemuUser *u, GPtrArray *warnings,
				   GError **error)
{
	int fd = open(sh->source, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return TRUE; /* the supervisor's own open names what is wrong */
	gboolean ok = TRUE;
	if (!gv_qemu_user_may(u, fd, R_OK | X_OK)) {
		g_set_error(error, GV_ERROR, GV_ERROR_INVALID,
			    "[share %s] %s: QEMU runs as %s (%s), who cannot read it (chmod o+rx "
			    "%s, chown -R %s %s, setfacl -R -m u:%s:rwX -m d:u:%s:rwX %s, or "
			    "GRAINVM_QEMU_USER=root)", sh->id, sh->source, u->name, u->why,
			    sh->source, u->name, sh->source, u->name, u->name, sh->source);
		ok = FALSE;
	} else if (!sh->readonly && !gv_qemu_user_may(u, fd, W_OK | X_OK)) {
		g_ptr_array_add(warnings, g_strdup_printf(
			"[share %s] %s is read-write, but QEMU runs as %s (%s), who cannot write "
			"to it: the guest can only read it (chown -R %s %s, or setfacl -R -m "
			"u:%s:rwX -m d:u:%s:rwX %s, or GRAINVM_QEMU_USER=root)", sh->id, sh->source,
			u->name, u->why, u->name, sh->source, u->name, u->name, sh->source));
	}
	close(fd);
	return ok;
}

static gboolean prepare_kernel(const GvSpec *spec, const GvVmPaths *paths, GvPrepared *p,
			       const char *cache, GError **error)
{
	g_autofree char *kpath = NULL;
	if (spec->kernel_kind == GV_KERNEL_NONE)
		return TRUE;
	g_autoptr(GvNixosSystem) nixos = NULL;
	if (spec->kernel_kind == GV_KERNEL_NIXOS) {
		nixos = gv_nixos_prepare(spec, paths->state_dir, error);
		if (!nixos)
			return FALSE;
		/* A dry run or a failed up leaves no result link it made. */
		if (nixos->new_link)
			g_ptr_array_add(p->created, g_strdup(nixos->new_link));
		kpath = g_strdup(nixos->kernel);
		p->initrd = g_strdup(nixos->initrd);
		p->nixos_toplevel = g_strdup(nixos->toplevel);
		p->nixos_params = g_strdup(nixos->params);
	} else if (spec->kernel_kind == GV_KERNEL_HOST) {
		const char *boot_dir = g_getenv("GRAINVM_BOOT_DIR");
		kpath = gv_kernel_find_host(boot_dir ? boot_dir : "/boot", error);
		if (!kpath)
			return FALSE;
	} else {
		kpath = g_strdup(spec->kernel);
	}
	g_autoptr(GvKernel) k = gv_kernel_inspect(kpath, error);
	if (!k)
		return FALSE;

	gboolean want_pvh = spec->pvh && p->facts.firmware != GV_FIRMWARE_UEFI;
	if (want_pvh)
		gv_kernel_prepare_pvh(k, cache);
	if (want_pvh && k->vmlinux) {
		p->kernel = g_strdup(k->vmlinux);
		p->boot = g_strdup_printf("direct kernel, uncompressed vmlinux via PVH (from %s)", kpath);
	} else {
		p->kernel = g_strdup(kpath);
		const char *fw = p->facts.firmware == GV_FIRMWARE_UEFI ? "OVMF" : "SeaBIOS";
		if (!spec->pvh)
			p->boot = g_strdup_printf("direct kernel, %s through %s ([boot] pvh=false)",
						  kpath, fw);
		else if (p->facts.firmware == GV_FIRMWARE_UEFI)
			p->boot = g_strdup_printf("direct kernel, %s through OVMF", kpath);
		else
			p->boot = g_strdup_printf("direct kernel, %s through %s (no PVH: %s)", kpath,
						  fw, k->why_no_pvh);
	}

	if (nixos) {
		char *b = g_strdup_printf("NixOS %s (%s); %s", nixos->toplevel, nixos->source,
					  p->boot);
		g_free(p->boot);
		p->boot = b;
	}

	gboolean generated = spec->initrd_kind == GV_INITRD_AUTO &&
			     spec->kernel_kind == GV_KERNEL_HOST;
	if (spec->initrd_kind == GV_INITRD_PATH)
		p->initrd = g_strdup(spec->initrd);
	if (!generated)
		return TRUE;

	if (!k->version) {
		g_set_error(error, GV_ERROR, GV_ERROR_INVALID,
			    "kernel %s has no version in its header, so its modules cannot be found "
			    "for the generated initramfs: set [boot] initrd", kpath);
		return FALSE;
	}
	g_autofree char *agent = gv_find_agent(error);
	if (!agent)
		return FALSE;
	const char *busybox = find_busybox();
	if (!busybox)
		g_ptr_array_add(p->notes, g_strdup("busybox not found: the guest has no shell on its "
						   "console (apt-get install busybox-static)"));
	const char *modroot = g_getenv("GRAINVM_MODULES_ROOT");
	GvInitramfsInputs in = {
		.kernel_version = k->version,
		.modules_root = modroot ? modroot : "/lib/modules",
		.agent = agent,
		.busybox = busybox,
		.modules = gv_default_guest_modules,
	};
	p->initrd = gv_initramfs_build(&in, cache, error);
	if (!p->initrd)
		return FALSE;
	p->facts.grainvm_init = TRUE;
	return TRUE;
}

/*
 * Walk the base's whole chain with grainvm's own header reader before
 * QEMU sees it: no FIFO can block, a loop is found, and unless the spec
 * trusts the base, every file it names must be a regular file inside its
 * own directory (GV_IMAGE_INFO_CONFINE).  Done on every up, not only when
 * the overlay is made: the base's directory may change between boots.
 */
static GvImageInfo *check_base(const GvSpec *spec, GError **error)
{
	GvImageInfoFlags flags = spec->disk_trust_backing ? GV_IMAGE_INFO_DEFAULT
							  : GV_IMAGE_INFO_CONFINE;
	g_autoptr(GError) local = NULL;
	GvImageInfo *base = gv_image_info_read_full(spec->disk_image, NULL, flags, &local);

	if (!base && g_error_matches(local, GV_IMAGE_ERROR, GV_IMAGE_ERROR_UNTRUSTED)) {
		g_set_error(error, GV_ERROR, GV_ERROR_INVALID,
			    "[disk] image: %s (set [disk] trust-backing=true if you trust this image)",
			    local->message);
		return NULL;
	}
	if (!base) {
		g_propagate_error(error, g_steal_pointer(&local));
		gv_prefix_error(error, "[disk] image");
	}
	return base;
}

/* @base: check_base()'s info on [disk] image, or NULL without one. */
static gboolean prepare_disk(const GvSpec *spec, const GvVmPaths *paths, const GvImageInfo *base,
			     GvPrepared *p, GError **error)
{
	if (!spec->disk_image && !spec->disk_size)
		return TRUE;
	if (g_file_test(paths->overlay, G_FILE_TEST_EXISTS)) {
		/* After a live disk snapshot the VM writes to a layer on top. */
		p->disk = gv_disk_top(paths, error);
		if (!p->disk)
			return FALSE;
		/* Our own file: its header only; the base's chain was walked above. */
		g_autoptr(GvImageInfo) info = gv_image_info_read_full(paths->overlay, NULL,
								      GV_IMAGE_INFO_NO_BACKING, error);
		if (!info)
			return FALSE;
		if (g_strcmp0(info->backing_file, spec->disk_image)) {
			g_set_error(error, GV_ERROR, GV_ERROR_STATE,
				    "the VM's disk %s was made on %s but [disk] image is now %s: "
				    "`grainvm rm %s` to start from the new image",
				    paths->overlay, info->backing_file ? info->backing_file : "no base",
				    spec->disk_image ? spec->disk_image : "unset", spec->name);
			return FALSE;
		}
		return gv_base_stamp_check(paths, error);
	}
	const char *fmt = NULL;
	if (base) {
		fmt = base->format;
		if (spec->disk_size && spec->disk_size < base->virtual_size) {
			g_set_error(error, GV_ERROR, GV_ERROR_INVALID,
				    "[disk] size is smaller than the base image %s (%" G_GUINT64_FORMAT
				    " bytes)", spec->disk_image, base->virtual_size);
			return FALSE;
		}
	}
	if (!gv_image_create_qcow2(paths->overlay, spec->disk_size, spec->disk_image, fmt, 0, error))
		return FALSE;
	/* A stamp of an earlier overlay (after grainvm rm it is gone too) must
	 * not judge this one; a blank disk has no base to stamp. */
	gv_base_stamp_forget(paths);
	if (spec->disk_image && !gv_base_stamp_write(paths, spec->disk_image, error)) {
		unlink(paths->overlay);
		return FALSE;
	}
	gv_disk_layers_forget(paths);
	p->disk = g_strdup(paths->overlay);
	g_ptr_array_add(p->created, g_strdup(paths->overlay));
	return TRUE;
}

static void add_layer(GvPrepared *p, const char *path, const char *format)
{
	char *pa = g_strdup(path), *fo = g_strdup(format);
	g_ptr_array_add(p->disk_chain_strings, pa);
	g_ptr_array_add(p->disk_chain_strings, fo);
	GvDiskLayer l = { pa, fo };
	g_array_append_val(p->disk_chain, l);
}

void gv_prepare_keep_root(GvPrepared *p, const char *why)
{
	gv_qemu_user_clear(&p->qemu_user);
	p->qemu_user = (GvQemuUser){ .drop = FALSE, .kvm_gid = (gid_t)-1 };
	p->qemu_user.why = g_strdup(why);
	p->facts.files_by_fd = FALSE;
	g_ptr_array_set_size(p->warnings, 0);
	g_ptr_array_add(p->warnings, g_strdup_printf("QEMU runs as root for this VM: %s", why));
}

/* Why a template keeps QEMU root (docs/security.md, "Not yet: templates and clones"). */
#define TEMPLATE_ROOT_WHY "QEMU 7.2 opens a template's RAM file read-write, and an unprivileged " \
	"QEMU could then change what every clone starts from"

gboolean gv_prepare_disk_chain(GvPrepared *p, GError **error)
{
	if (!p->facts.files_by_fd || !p->disk)
		return TRUE;
	/* Our own layers and a base checked by check_base(): follow it all. */
	g_autoptr(GvImageInfo) top = gv_image_info_read_full(p->disk, NULL, GV_IMAGE_INFO_DEFAULT,
							     error);
	if (!top)
		return FALSE;
	g_clear_pointer(&p->disk_chain, g_array_unref);
	g_clear_pointer(&p->disk_chain_strings, g_ptr_array_unref);
	p->disk_chain = g_array_new(FALSE, FALSE, sizeof(GvDiskLayer));
	p->disk_chain_strings = g_ptr_array_new_with_free_func(g_free);
	add_layer(p, p->disk, top->format);
	const GvImageInfo *at = top;
	for (guint i = 0; ; i++) {
		if (at->data_file) {
			g_set_error(error, GV_ERROR, GV_ERROR_INVALID,
				    "QEMU runs as %s (%s): %s has an external data file (%s), which "
				    "QEMU would open by path as that user (GRAINVM_QEMU_USER=root "
				    "for this VM)", p->qemu_user.name, p->qemu_user.why, at->filename,
				    at->data_file);
			return FALSE;
		}
		if (i >= top->backing_chain->len)
			break;
		at = g_ptr_array_index(top->backing_chain, i);
		add_layer(p, at->filename, at->format);
	}
	if (p->disk_chain->len > GV_DISK_LAYERS_MAX) {
		g_set_error(error, GV_ERROR, GV_ERROR_INVALID,
			    "QEMU runs as %s (%s): the disk %s has %u layers, more than the %d "
			    "QEMU can be handed as descriptors (`grainvm image convert` flattens it)",
			    p->qemu_user.name, p->qemu_user.why, p->disk, p->disk_chain->len,
			    GV_DISK_LAYERS_MAX);
		return FALSE;
	}
	p->facts.disk_chain = (const GvDiskLayer *)(void *)p->disk_chain->data;
	p->facts.disk_chain_len = p->disk_chain->len;
	return TRUE;
}

GStrv gv_invoking_homes(void)
{
	g_autoptr(GPtrArray) homes = g_ptr_array_new();
	const char *sudo_user = g_getenv("SUDO_USER");
	struct passwd *pw;

	g_ptr_array_add(homes, g_strdup(g_get_home_dir()));
	if ((pw = getpwuid(getuid())) && pw->pw_dir)
		g_ptr_array_add(homes, g_strdup(pw->pw_dir));
	if (sudo_user && *sudo_user && (pw = getpwnam(sudo_user)) && pw->pw_dir)
		g_ptr_array_add(homes, g_strdup(pw->pw_dir));
	if ((pw = getpwuid(0)) && pw->pw_dir)
		g_ptr_array_add(homes, g_strdup(pw->pw_dir));
	g_ptr_array_add(homes, NULL);
	return (GStrv)g_ptr_array_free(g_steal_pointer(&homes), FALSE);
}

/*
 * [cloud-init]: the NoCloud seed carrying the agent the build or install
 * uses for the initramfs (gv_find_agent()), the VM's name as hostname and
 * a public key.  A bounded read: the agent is ~130 KB; 64 MiB means a
 * wrong file.
 */
static gboolean prepare_seed(const GvSpec *spec, const GvVmPaths *paths, GvPrepared *p,
			     const char *cache, GError **error)
{
	g_autofree char *agent_path = gv_find_agent(error);
	if (!agent_path)
		return FALSE;
	g_autoptr(GMappedFile) map = g_mapped_file_new(agent_path, FALSE, error);
	if (!map)
		return FALSE;
	if (g_mapped_file_get_length(map) > (64u << 20)) {
		g_set_error(error, GV_ERROR, GV_ERROR_INVALID, "%s is too large to be grainvm-agent",
			    agent_path);
		return FALSE;
	}
	g_autoptr(GBytes) agent = g_mapped_file_get_bytes(map);
	g_autofree char *key = spec->cloud_init_ssh_key
				       ? gv_cloud_init_ssh_key_read(spec->cloud_init_ssh_key, error)
				       : gv_cloud_init_ssh_key();
	if (spec->cloud_init_ssh_key && !key)
		return FALSE;
	GvSeedConfig cfg = { .hostname = paths->name, .agent = agent, .ssh_key = key };
	p->seed = gv_cloud_init_seed(&cfg, cache, error);
	if (!p->seed)
		return FALSE;
	g_ptr_array_add(p->notes, g_strdup_printf("cloud-init seed %s (grainvm-agent, hostname %s%s)",
						  p->seed, paths->name,
						  key ? ", your SSH public key" : ""));
	return TRUE;
}

GvPrepared *gv_prepare(const GvSpec *spec, const GvVmPaths *paths, GError **error)
{
	g_autoptr(GvPrepared) p = g_new0(GvPrepared, 1);
	p->notes = g_ptr_array_new_with_free_func(g_free);
	p->warnings = g_ptr_array_new_with_free_func(g_free);
	p->created = g_ptr_array_new_with_free_func(g_free);
	g_autofree char *cache = gv_cache_root();

	/* Refusals of untrusted input come first: nothing is written before them. */
	g_auto(GStrv) homes = gv_invoking_homes();
	if (!gv_spec_check_default_share(spec, (const char *const *)homes, error))
		return NULL;
	g_autoptr(GvImageInfo) base = spec->disk_image ? check_base(spec, error) : NULL;
	if (spec->disk_image && !base)
		return NULL;
	p->qemu = gv_find_qemu(error);
	if (!p->qemu)
		return NULL;
	if (!gv_qemu_user(spec->accel != GV_ACCEL_TCG, &p->qemu_user, error))
		return NULL;
	for (guint i = 0; i < spec->shares->len; i++)
		if (!check_share_xattrs(g_ptr_array_index(spec->shares, i), error))
			return NULL;
	if (spec->template_ram && p->qemu_user.drop && !p->qemu_user.chosen)
		gv_prepare_keep_root(p, "[vm] template=true: " TEMPLATE_ROOT_WHY);
	if (p->qemu_user.root_fallback)
		g_ptr_array_add(p->warnings, g_strdup_printf("QEMU runs as root: %s",
							     p->qemu_user.why));
	for (guint i = 0; p->qemu_user.drop && i < spec->shares->len; i++)
		if (!check_share_access(g_ptr_array_index(spec->shares, i), &p->qemu_user,
					p->warnings, error))
			return NULL;
	p->net = gv_net_prepare(spec, error);
	if (!p->net)
		return NULL;

	GvFirmware fw = spec->firmware;
	g_autofree char *fw_why = NULL;
	if (fw == GV_FIRMWARE_AUTO && spec->kernel_kind == GV_KERNEL_NONE && spec->disk_image) {
		/* What the disk can boot: a UEFI-only disk under SeaBIOS shows nothing. */
		gsize len = 0;
		/* @base passed check_base(): its chain is one grainvm may open. */
		g_autofree guint8 *head = gv_disk_read_head(spec->disk_image, base->format, &len,
							    error);
		if (!head) {
			gv_prefix_error(error, "[disk] image: cannot read its partition table");
			return NULL;
		}
		fw = gv_firmware_for_disk_head(head, len, &fw_why);
	} else if (fw == GV_FIRMWARE_AUTO) {
		fw = spec->kernel_kind == GV_KERNEL_NONE ? GV_FIRMWARE_BIOS : GV_FIRMWARE_NONE;
	}
	if (fw == GV_FIRMWARE_NONE && spec->kernel_kind == GV_KERNEL_NONE) {
		g_set_error(error, GV_ERROR, GV_ERROR_INVALID,
			    "firmware=none needs a kernel to boot: set [boot] kernel or firmware=bios|uefi");
		return NULL;
	}
	p->facts.firmware = fw;

	if (!gv_mkdir_private(paths->state_dir, error))
		return NULL;
	if (fw == GV_FIRMWARE_UEFI) {
		g_autofree char *vars_template = NULL;
		if (!find_ovmf(&p->ovmf_code, &vars_template, error))
			return NULL;
		p->ovmf_vars = g_strdup(paths->efi_vars);
		if (!g_file_test(p->ovmf_vars, G_FILE_TEST_EXISTS)) {
			if (!copy_file_atomic(vars_template, p->ovmf_vars, error))
				goto fail;
			g_ptr_array_add(p->created, g_strdup(p->ovmf_vars));
		}
	}

	if (!prepare_kernel(spec, paths, p, cache, error))
		goto fail;
	if (!p->boot)
		p->boot = g_strdup_printf("%s from the disk%s%s%s",
					  fw == GV_FIRMWARE_UEFI ? "UEFI (OVMF)" : "BIOS (SeaBIOS)",
					  fw_why ? " (firmware=auto: " : "", fw_why ? fw_why : "",
					  fw_why ? ")" : "");
	if (!prepare_disk(spec, paths, base, p, error))
		goto fail;
	if (spec->cloud_init && !prepare_seed(spec, paths, p, cache, error))
		goto fail;

	GvAccel accel = gv_accel_decide(spec->accel, p->qemu, cache, &p->accel_reason, error);
	if (accel == GV_ACCEL_AUTO)
		goto fail;

	p->facts.qemu = p->qemu;
	p->facts.accel = accel;
	p->facts.no_sandbox = gv_bench_no_sandbox();
	p->facts.files_by_fd = p->qemu_user.drop;
	if (accel != GV_ACCEL_KVM)
		p->qemu_user.kvm_gid = (gid_t)-1;
	p->facts.kernel = p->kernel;
	p->facts.initrd = p->initrd;
	p->facts.ovmf_code = p->ovmf_code;
	p->facts.ovmf_vars = p->ovmf_vars;
	p->facts.disk = p->disk;
	if (!gv_prepare_disk_chain(p, error))
		goto fail;
	p->facts.nixos_toplevel = p->nixos_toplevel;
	p->facts.nixos_params = p->nixos_params;
	p->facts.nics = p->net->facts;
	p->facts.seed = p->seed;
	return g_steal_pointer(&p);

fail:
	gv_prepared_remove_created(p);
	return NULL;
}
