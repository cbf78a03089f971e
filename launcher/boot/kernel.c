/* SPDX-License-Identifier: MIT */
/*
 * kernel.c - host kernel lookup, setup-header parsing, vmlinux extraction
 *
 * The x86 boot protocol (Documentation/x86/boot.rst) gives everything we
 * need in the setup header: "HdrS" at 0x202, the protocol version at 0x206,
 * the version string pointer at 0x20e, setup_sects at 0x1f1 (the
 * protected-mode code starts at (setup_sects + 1) * 512), and, since
 * protocol 2.08, payload_offset/payload_length at 0x248/0x24c locating the
 * compressed kernel relative to that start.
 */
#include "boot/kernel.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "boot/decompress.h"
#include "gv-error.h"
#include "paths.h"
#include "fileio.h"


/* XEN_ELFNOTE_PHYS32_ENTRY from xen/include/public/elfnote.h */
#define XEN_ELFNOTE_PHYS32_ENTRY 18

void gv_kernel_free(GvKernel *k)
{
	if (!k)
		return;
	g_free(k->path);
	g_free(k->version);
	g_free(k->vmlinux);
	g_free(k->why_no_pvh);
	g_free(k);
}

static int version_cmp(gconstpointer a, gconstpointer b)
{
	return strverscmp(*(const char *const *)a, *(const char *const *)b);
}

char *gv_kernel_find_host(const char *boot_dir, GError **error)
{
	struct utsname u;
	g_autofree char *path = NULL;
	if (uname(&u) == 0) {
		g_autofree char *own = g_strdup_printf("%s/vmlinuz-%s", boot_dir, u.release);
		if (g_file_test(own, G_FILE_TEST_EXISTS))
			path = g_steal_pointer(&own);
	}
	if (!path) {
		g_autoptr(GDir) d = g_dir_open(boot_dir, 0, NULL);
		g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
		const char *n;
		while (d && (n = g_dir_read_name(d)))
			if (g_str_has_prefix(n, "vmlinuz-"))
				g_ptr_array_add(names, g_strdup(n));
		if (names->len == 0) {
			g_set_error(error, GV_ERROR, GV_ERROR_INVALID,
				    "no kernel in %s to boot the default guest: install one "
				    "(apt-get install linux-image-amd64) or set [boot] kernel",
				    boot_dir);
			return NULL;
		}
		g_ptr_array_sort(names, version_cmp);
		path = g_build_filename(boot_dir, g_ptr_array_index(names, names->len - 1), NULL);
	}
	if (access(path, R_OK) < 0) {
		g_set_error(error, GV_ERROR, GV_ERROR_INVALID,
			    "kernel %s is not readable (%s; Ubuntu installs kernels mode 0600): "
			    "run `sudo chmod 0644 %s` or set [boot] kernel",
			    path, g_strerror(errno), path);
		return NULL;
	}
	return g_steal_pointer(&path);
}

static guint16 le16(const guint8 *p) { return (guint16)(p[0] | p[1] << 8); }
static guint32 le32(const guint8 *p) { return (guint32)le16(p) | (guint32)le16(p + 2) << 16; }

typedef struct {
	gsize payload_start;
	gsize payload_len;
} Payload;

/* Parse the setup header of @data; fills @k and @pl.  FALSE: not a bzImage. */
static gboolean parse_setup(const guint8 *data, gsize len, GvKernel *k, Payload *pl)
{
	if (len < 0x250 || le16(data + 0x1fe) != 0xaa55 || memcmp(data + 0x202, "HdrS", 4))
		return FALSE;
	guint16 proto = le16(data + 0x206);
	guint16 vptr = le16(data + 0x20e);
	if (vptr && (gsize)vptr + 0x200 < len) {
		const char *v = (const char *)data + vptr + 0x200;
		gsize max = len - (vptr + 0x200);
		gsize n = 0;
		while (n < max && n < 64 && v[n] && v[n] != ' ')
			n++;
		if (n > 0 && n < max)
			k->version = g_strndup(v, n);
	}
	if (proto < 0x208)
		return FALSE;
	guint setup_sects = data[0x1f1] ? data[0x1f1] : 4;
	gsize pm_start = ((gsize)setup_sects + 1) * 512;
	gsize off = le32(data + 0x248), plen = le32(data + 0x24c);
	if (pm_start > len || off > len - pm_start || plen > len - pm_start - off || plen < 16)
		return FALSE;
	pl->payload_start = pm_start + off;
	pl->payload_len = plen;
	return TRUE;
}

GvKernel *gv_kernel_inspect(const char *path, GError **error)
{
	/* The header fits in the first 32 KiB (setup_sects <= 64 sectors). */
	g_autoptr(GvKernel) k = g_new0(GvKernel, 1);
	k->path = g_strdup(path);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int err = errno;
		g_set_error(error, GV_ERROR, GV_ERROR_INVALID, "kernel %s: %s", path,
			    g_strerror(err));
		return NULL;
	}
	guint8 head[0x8000];
	ssize_t n = pread(fd, head, sizeof(head), 0);
	close(fd);
	if (n < 0) {
		g_set_error(error, GV_ERROR, GV_ERROR_INVALID, "kernel %s: %s", path,
			    g_strerror(errno));
		return NULL;
	}
	Payload pl;
	/* Only the header fields are checked here; the payload bounds need the whole file. */
	k->bzimage = n >= 0x250 && le16(head + 0x1fe) == 0xaa55 && !memcmp(head + 0x202, "HdrS", 4) &&
		     le16(head + 0x206) >= 0x208;
	parse_setup(head, (gsize)n, k, &pl);
	return g_steal_pointer(&k);
}

gboolean gv_elf64_phdr(const guint8 *data, gsize len, guint i, Elf64_Phdr *ph)
{
	if (len < sizeof(Elf64_Ehdr) || memcmp(data, ELFMAG, SELFMAG) ||
	    data[EI_CLASS] != ELFCLASS64)
		return FALSE;
	Elf64_Ehdr eh;
	memcpy(&eh, data, sizeof(eh));
	if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phoff > len ||
	    (guint64)eh.e_phnum * sizeof(Elf64_Phdr) > len - eh.e_phoff || i >= eh.e_phnum)
		return FALSE;
	memcpy(ph, data + eh.e_phoff + (gsize)i * sizeof(Elf64_Phdr), sizeof(*ph));
	return TRUE;
}

gboolean gv_elf_has_pvh_note(const guint8 *data, gsize len)
{
	Elf64_Phdr ph;
	for (guint i = 0; gv_elf64_phdr(data, len, i, &ph); i++) {
		if (ph.p_type != PT_NOTE || ph.p_offset > len || ph.p_filesz > len - ph.p_offset)
			continue;
		gsize pos = ph.p_offset, end = ph.p_offset + ph.p_filesz;
		while (end - pos >= sizeof(Elf64_Nhdr)) {
			Elf64_Nhdr nh;
			memcpy(&nh, data + pos, sizeof(nh));
			pos += sizeof(nh);
			gsize namesz = ((gsize)nh.n_namesz + 3) & ~(gsize)3;
			gsize descsz = ((gsize)nh.n_descsz + 3) & ~(gsize)3;
			if (namesz > end - pos || descsz > end - pos - namesz)
				break;
			if (nh.n_type == XEN_ELFNOTE_PHYS32_ENTRY && nh.n_namesz == 4 &&
			    !memcmp(data + pos, "Xen", 4))
				return TRUE;
			pos += namesz + descsz;
		}
	}
	return FALSE;
}

/*
 * The content hash names the cache entry, but reading and hashing an 8 MB
 * bzImage costs ~35 ms of every up (measured by the snapshot work, where
 * ready comes in ~0.3 s).  A stat key (path, device, inode, size, mtime in
 * ns, ctime) remembers which hash a file had; any change to the file misses it
 * and the content is hashed again.
 */
static char *stat_key(const char *path)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return NULL;
	/* ctime too: utime() can put an mtime back, nothing puts a ctime back. */
	g_autofree char *raw = g_strdup_printf("%s|%llu|%llu|%lld|%lld.%09ld|%lld.%09ld", path,
					       (unsigned long long)st.st_dev,
					       (unsigned long long)st.st_ino, (long long)st.st_size,
					       (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
					       (long long)st.st_ctim.tv_sec, st.st_ctim.tv_nsec);
	return g_compute_checksum_for_string(G_CHECKSUM_SHA256, raw, -1);
}

/* A cached verdict for content hash @sum, if any: TRUE when it decided. */
static gboolean cached_verdict(GvKernel *k, const char *dir, const char *sum)
{
	g_autofree char *out_path = g_strdup_printf("%s/%s.elf", dir, sum);
	g_autofree char *nopvh_path = g_strdup_printf("%s/%s.no-pvh", dir, sum);
	if (g_file_test(out_path, G_FILE_TEST_IS_REGULAR)) {
		k->vmlinux = g_steal_pointer(&out_path);
		return TRUE;
	}
	g_autofree char *cached_why = NULL;
	if (g_file_get_contents(nopvh_path, &cached_why, NULL, NULL)) {
		k->why_no_pvh = g_strchomp(g_steal_pointer(&cached_why));
		return TRUE;
	}
	return FALSE;
}

void gv_kernel_prepare_pvh(GvKernel *k, const char *cache_dir)
{
	g_autofree char *data = NULL;
	gsize len = 0;
	g_autoptr(GError) err = NULL;
	g_autofree char *dir = g_build_filename(cache_dir, "vmlinux", NULL);
	g_autofree char *skey = k->bzimage ? stat_key(k->path) : NULL;
	g_autofree char *skey_path = skey ? g_strdup_printf("%s/%s.stat", dir, skey) : NULL;
	g_autofree char *known = NULL;
	if (skey_path && g_file_get_contents(skey_path, &known, NULL, NULL) &&
	    cached_verdict(k, dir, g_strstrip(known)))
		return;

	if (!k->bzimage) {
		/* Maybe it is already an uncompressed ELF. */
		if (g_file_get_contents(k->path, &data, &len, NULL) &&
		    gv_elf_has_pvh_note((const guint8 *)data, len))
			k->vmlinux = g_strdup(k->path);
		else
			k->why_no_pvh = g_strdup("not a bzImage and not an ELF with a PVH note");
		return;
	}
	if (!g_file_get_contents(k->path, &data, &len, &err)) {
		k->why_no_pvh = g_strdup(err->message);
		return;
	}
	g_autofree char *sum = g_compute_checksum_for_data(G_CHECKSUM_SHA256, (guint8 *)data, len);
	g_autofree char *out_path = g_strdup_printf("%s/%s.elf", dir, sum);
	g_autofree char *nopvh_path = g_strdup_printf("%s/%s.no-pvh", dir, sum);
	if (gv_mkdir_private(dir, NULL) && skey_path)
		gv_write_file_atomic(skey_path, sum, strlen(sum), 0644, NULL);
	if (cached_verdict(k, dir, sum))
		return;

	GvKernel tmp = { 0 };
	Payload pl;
	gboolean ok = parse_setup((const guint8 *)data, len, &tmp, &pl);
	g_free(tmp.version);
	char *why = NULL;
	g_autoptr(GByteArray) elf = g_byte_array_new();
	if (!ok)
		why = g_strdup("the setup header's payload fields are out of range");
	else if (gv_decompress((const guint8 *)data + pl.payload_start, pl.payload_len, elf, &why))
		if (!gv_elf_has_pvh_note(elf->data, elf->len))
			why = g_strdup("the uncompressed kernel has no PVH entry note (CONFIG_PVH)");

	if (!gv_mkdir_private(dir, &err)) {
		k->why_no_pvh = g_strdup(err->message);
		g_free(why);
		return;
	}
	if (why) {
		/* Remember the verdict so the next up does not decompress again. */
		gv_write_file_atomic(nopvh_path, why, strlen(why), 0644, NULL);
		k->why_no_pvh = why;
		return;
	}
	if (!gv_write_file_atomic(out_path, elf->data, elf->len, 0644, &err)) {
		k->why_no_pvh = g_strdup(err->message);
		return;
	}
	k->vmlinux = g_steal_pointer(&out_path);
}
