/* SPDX-License-Identifier: MIT */
/*
 * build.c - bootable qcow2 disks from a root tree, a kernel and an initrd
 *
 * The disk is GPT with two partitions, 1 MiB aligned:
 *
 *   LBA 0..33           protective MBR, GPT header and entries (gpt.c)
 *   1 MiB               ESP: FAT32 made by mkfs.vfat, filled with mtools:
 *                         /EFI/BOOT/BOOTX64.EFI       systemd-boot (the
 *                                                     removable-media path
 *                                                     OVMF boots unasked)
 *                         /EFI/systemd/systemd-bootx64.efi
 *                         /loader/loader.conf          default, timeout 0
 *                         /loader/entries/grainvm.conf linux, initrd, options
 *                         /grainvm/linux, /grainvm/initrd
 *   after the ESP       root: ext4 made by mke2fs -d from the tree, type
 *                       "Linux root (x86-64)" so systemd can find it
 *   last 33 sectors     backup GPT
 *
 * No root privileges, loop devices or mounts, and never a raw file of the
 * whole disk.  Uncompressed, the disk is built in place: the qcow2 maps
 * guest cluster c to host cluster 1 + c, so the disk is a contiguous,
 * sparse byte range of the qcow2 file itself, and mkfs.vfat (--offset),
 * mtools (file@@offset), mke2fs (-E offset=) and the GPT write straight
 * into it; afterwards only the clusters that received data (SEEK_DATA)
 * are entered in the L2 tables, and the metadata is appended.  Nothing is
 * copied: on /usr/lib this halves the time against building a raw disk
 * and converting it.  Compressed, the filesystems are made in
 * partition-sized sparse temporaries instead (on /dev/shm when it fits,
 * so that mke2fs's closing fsync costs nothing), and those and the GPT go
 * through the convert pipeline as segments of the disk.
 *
 * --deterministic: every GUID, the ext4 UUID and directory hash seed and
 * the FAT volume ID come from a SHA-256 of the inputs (the tree's names,
 * modes, owners, sizes and mtimes; the kernel's and initrd's bytes; the
 * command line and sizes), and every tool runs with a fixed clock
 * (SOURCE_DATE_EPOCH, or the newest input mtime): E2FSPROGS_FAKE_TIME for
 * mke2fs and debugfs, SOURCE_DATE_EPOCH for mtools, --invariant for
 * mkfs.vfat.  mke2fs copies each file's atime and ctime, which reading or
 * chmod-ing the tree changes, so a debugfs pass sets them to that clock.
 */
#include "gv-image-private.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "gv-gpt.h"

#define MIB (G_GUINT64_CONSTANT(1) << 20)
/* FAT32 needs 65525 clusters; with 512-byte clusters that is 33 MiB. */
#define MIN_ESP (34 * MIB)
#define DEFAULT_SYSTEMD_BOOT "/usr/lib/systemd/boot/efi/systemd-bootx64.efi"

static guint64 round_up_mib(guint64 v)
{
	return (v + MIB - 1) / MIB * MIB;
}

/* ------------------------------------------------------------------------ */
/* Temporaries                                                              */
/* ------------------------------------------------------------------------ */

typedef struct {
	char *esp;
	int esp_slot;
	char *root;
	int root_slot;
	char *files_dir;   /* loader.conf and the entry, before mcopy */
	char *rootfs_dir;  /* a tarball extracted, or NULL */
} Temps;

static void temps_clear(Temps *t)
{
	if (t->esp)
		unlink(t->esp);
	if (t->root)
		unlink(t->root);
	gv_temp_unregister(t->esp_slot);
	gv_temp_unregister(t->root_slot);
	if (t->files_dir)
		gv_rm_rf(t->files_dir, NULL);
	if (t->rootfs_dir)
		gv_rm_rf(t->rootfs_dir, NULL);
	g_clear_pointer(&t->esp, g_free);
	g_clear_pointer(&t->root, g_free);
	g_clear_pointer(&t->files_dir, g_free);
	g_clear_pointer(&t->rootfs_dir, g_free);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Temps, temps_clear)

/*
 * Where the partition images go: $GRAINVM_TMPDIR, else /dev/shm when it
 * and the memory can hold them twice over, else next to the output.
 */
static char *pick_tmpdir(const char *dst, guint64 need)
{
	const char *env = g_getenv("GRAINVM_TMPDIR");
	struct statvfs vfs;

	if (env && *env)
		return g_strdup(env);
	if (statvfs("/dev/shm", &vfs) == 0 && (guint64)vfs.f_bavail * vfs.f_frsize > 2 * need) {
		g_autofree char *meminfo = NULL;
		if (g_file_get_contents("/proc/meminfo", &meminfo, NULL, NULL)) {
			const char *avail = strstr(meminfo, "MemAvailable:");
			if (avail && g_ascii_strtoull(avail + 13, NULL, 10) * 1024 > 2 * need)
				return g_strdup("/dev/shm");
		}
	}
	return g_path_get_dirname(dst);
}

static char *make_temp(const char *dir, const char *dst, const char *what, guint64 size,
		       int *slot, GError **error)
{
	g_autofree char *base = g_path_get_basename(dst);
	g_autofree char *tmpl = g_strdup_printf("%s/.%s.%s.XXXXXX", dir, base, what);
	int fd = g_mkstemp_full(tmpl, O_RDWR | O_CLOEXEC, 0600);

	if (fd < 0) {
		gv_io_error(error, errno, "cannot create a temporary file in", dir);
		return NULL;
	}
	*slot = gv_temp_register(tmpl);
	if (ftruncate(fd, (off_t)size) < 0) {
		int errsv = errno;
		close(fd);
		unlink(tmpl);
		gv_temp_unregister(*slot);
		*slot = -1;
		gv_io_error(error, errsv, "cannot size", tmpl);
		return NULL;
	}
	close(fd);
	return g_steal_pointer(&tmpl);
}

/* ------------------------------------------------------------------------ */
/* The root tree: size estimate and, for --deterministic, a manifest hash   */
/* ------------------------------------------------------------------------ */

typedef struct {
	guint64 data_bytes; /* blocks the files and directories need */
	guint64 inodes;
	gint64 newest_mtime;
	GPtrArray *manifest; /* one line per entry, sorted before hashing */
} TreeScan;

static gboolean scan_dir(const char *root, const char *rel, TreeScan *ts, int depth,
			 GError **error)
{
	g_autofree char *path = rel[0] ? g_build_filename(root, rel, NULL) : g_strdup(root);
	g_autoptr(GDir) dir = NULL;
	g_autoptr(GError) local = NULL;
	const char *name;

	/* Deeper than PATH_MAX allows anyway; stops a pathological tree. */
	if (depth > 256) {
		g_set_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_INVALID,
			    "rootfs %s nests deeper than 256 directories", root);
		return FALSE;
	}
	dir = g_dir_open(path, 0, &local);
	if (!dir) {
		g_set_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_IO, "cannot read rootfs: %s",
			    local->message);
		return FALSE;
	}
	while ((name = g_dir_read_name(dir))) {
		g_autofree char *sub_rel = rel[0] ? g_build_filename(rel, name, NULL) : g_strdup(name);
		g_autofree char *sub = g_build_filename(root, sub_rel, NULL);
		struct stat st;

		if (lstat(sub, &st) < 0)
			return gv_io_error(error, errno, "cannot stat", sub);
		ts->inodes++;
		ts->newest_mtime = MAX(ts->newest_mtime, (gint64)st.st_mtime);
		if (S_ISREG(st.st_mode))
			ts->data_bytes += ((guint64)st.st_blocks * 512 + 4095) / 4096 * 4096;
		else if (S_ISDIR(st.st_mode) || S_ISLNK(st.st_mode))
			ts->data_bytes += 4096;
		if (ts->manifest)
			g_ptr_array_add(ts->manifest,
					g_strdup_printf("%s\t%o\t%u\t%u\t%" G_GINT64_FORMAT "\t%" G_GINT64_FORMAT,
							sub_rel, st.st_mode, st.st_uid, st.st_gid,
							(gint64)st.st_size, (gint64)st.st_mtime));
		if (S_ISDIR(st.st_mode) && !scan_dir(root, sub_rel, ts, depth + 1, error))
			return FALSE;
	}
	return TRUE;
}

static int cmp_lines(gconstpointer a, gconstpointer b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void hash_file(GChecksum *sum, const char *path)
{
	g_autoptr(GMappedFile) map = g_mapped_file_new(path, FALSE, NULL);

	if (map)
		g_checksum_update(sum, (const guchar *)g_mapped_file_get_contents(map),
				  (gssize)g_mapped_file_get_length(map));
}

/* ------------------------------------------------------------------------ */
/* Identity: GUIDs and the clock                                            */
/* ------------------------------------------------------------------------ */

typedef struct {
	guint8 disk[16], esp[16], root[16], fs_uuid[16], hash_seed[16];
	guint32 fat_volid;
	gint64 epoch; /* deterministic only */
	guint8 seed[32];
	gboolean deterministic;
} Identity;

static void derive(const Identity *id, const char *label, guint8 out[16])
{
	guint8 digest[32];
	gsize len = sizeof(digest);

	if (!id->deterministic) {
		for (int i = 0; i < 16; i += 4) {
			guint32 r = g_random_int();
			memcpy(digest + i, &r, 4);
		}
	} else {
		g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);
		g_checksum_update(sum, id->seed, sizeof(id->seed));
		g_checksum_update(sum, (const guchar *)label, -1);
		g_checksum_get_digest(sum, digest, &len);
	}
	gv_guid_from_bytes(digest, out);
}

/* ------------------------------------------------------------------------ */
/* The partitions                                                           */
/* ------------------------------------------------------------------------ */

/* Where a filesystem goes: a byte range of a file (the qcow2 or a temporary). */
typedef struct {
	const char *file;
	guint64 offset;
	guint64 size;
} Place;

/* The names mtools and libext2fs take for a filesystem at an offset. */
static char *mtools_image(const Place *p)
{
	return g_strdup_printf("%s@@%" G_GUINT64_FORMAT, p->file, p->offset);
}

static char *e2fs_device(const Place *p)
{
	return p->offset ? g_strdup_printf("%s?offset=%" G_GUINT64_FORMAT, p->file, p->offset)
			 : g_strdup(p->file);
}

/*
 * Sectors per cluster for FAT32, as Microsoft's table: 512 B clusters up
 * to 260 MB, 4 KiB to 8 GiB, then doubling.  Given explicitly because
 * mkfs.vfat guesses from the whole file when told an --offset.
 */
static const char *fat_cluster_sectors(guint64 size)
{
	if (size <= 260 * G_GUINT64_CONSTANT(1000000))
		return "1";
	if (size <= G_GUINT64_CONSTANT(8) << 30)
		return "8";
	if (size <= G_GUINT64_CONSTANT(16) << 30)
		return "16";
	return size <= G_GUINT64_CONSTANT(32) << 30 ? "32" : "64";
}

static gboolean make_esp(const Place *esp, guint64 disk_lba, const GvImageBuildOptions *o,
			 const char *boot_efi, const Identity *id, const char *files_dir,
			 const char *root_partuuid, GError **error)
{
	/* Hidden sectors: the partition's LBA on the disk, not in the file. */
	g_autofree char *hidden = g_strdup_printf("%" G_GUINT64_FORMAT, disk_lba);
	g_autofree char *volid = g_strdup_printf("%08x", id->fat_volid);
	g_autofree char *epoch = g_strdup_printf("SOURCE_DATE_EPOCH=%" G_GINT64_FORMAT, id->epoch);
	g_autofree char *offset = g_strdup_printf("--offset=%" G_GUINT64_FORMAT, esp->offset / 512);
	g_autofree char *blocks = g_strdup_printf("%" G_GUINT64_FORMAT, esp->size / 1024);
	g_autofree char *image = mtools_image(esp);
	const char *env[] = { "MTOOLS_SKIP_CHECK=1", "MTOOLSRC=/dev/null",
			      id->deterministic ? epoch : NULL, NULL };

	/* The geometry too, or mkfs.vfat derives it from the file's size. */
	const char *mkfs[] = { "mkfs.vfat", "-F", "32", "-s", fat_cluster_sectors(esp->size),
			       "-h", hidden, "-g", "255/63", "-n", "ESP", "-i", volid, offset,
			       esp->file, blocks, NULL, NULL };
	if (id->deterministic) {
		/* Fixed timestamps in the boot sector and the label entry. */
		memmove(&mkfs[14], &mkfs[13], 3 * sizeof(mkfs[0]));
		mkfs[13] = "--invariant";
	}
	if (!gv_run_tool(mkfs, env, NULL, error))
		return FALSE;
	if (id->deterministic) {
		/*
		 * --invariant also pins the volume ID to 1234-abcd; put ours
		 * back in the FAT32 boot sector and its backup (sector 6).
		 */
		guint8 le[4] = { (guint8)id->fat_volid, (guint8)(id->fat_volid >> 8),
				 (guint8)(id->fat_volid >> 16), (guint8)(id->fat_volid >> 24) };
		gv_autofd int fd = open(esp->file, O_WRONLY | O_CLOEXEC);
		if (fd < 0)
			return gv_io_error(error, errno, "cannot open", esp->file);
		if (!gv_pwrite_all(fd, le, 4, esp->offset + 0x43, esp->file, error) ||
		    !gv_pwrite_all(fd, le, 4, esp->offset + 6 * 512 + 0x43, esp->file, error))
			return FALSE;
	}

	/* systemd-boot's configuration (loader.conf(5), Boot Loader Specification). */
	g_autofree char *conf = g_build_filename(files_dir, "loader.conf", NULL);
	g_autofree char *entry = g_build_filename(files_dir, "grainvm.conf", NULL);
	/*
	 * The root by PARTUUID unless the command line names one, and the
	 * serial console unless it names a console: grainvm's console and
	 * console.log are the first serial port, and a kernel without
	 * console=ttyS0 says nothing there (only the firmware's lines appear).
	 */
	const char *user = o->cmdline ? o->cmdline : "";
	g_autofree char *root = strstr(user, "root=") ? g_strdup("")
			      : g_strdup_printf("root=PARTUUID=%s rw ", root_partuuid);
	g_autofree char *options = g_strstrip(g_strdup_printf(
		"%s%s%s", root, strstr(user, "console=") ? "" : "console=ttyS0 ", user));
	g_autofree char *entry_text = g_strdup_printf("title grainvm\n"
						      "linux /grainvm/linux\n"
						      "%s"
						      "options %s\n",
						      o->initrd ? "initrd /grainvm/initrd\n" : "",
						      options);
	g_autoptr(GError) local = NULL;
	if (!g_file_set_contents(conf,
				 "default grainvm.conf\ntimeout 0\nconsole-mode keep\neditor no\n",
				 -1, &local) ||
	    !g_file_set_contents(entry, entry_text, -1, &local)) {
		g_set_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_IO, "%s", local->message);
		return FALSE;
	}

	const char *mmd[] = { "mmd", "-i", image, "::/EFI", "::/EFI/BOOT", "::/EFI/systemd",
			      "::/loader", "::/loader/entries", "::/grainvm", NULL };
	if (!gv_run_tool(mmd, env, NULL, error))
		return FALSE;
	const char *copies[][2] = {
		{ boot_efi, "::/EFI/BOOT/BOOTX64.EFI" },
		{ boot_efi, "::/EFI/systemd/systemd-bootx64.efi" },
		{ conf, "::/loader/loader.conf" },
		{ entry, "::/loader/entries/grainvm.conf" },
		{ o->kernel, "::/grainvm/linux" },
		{ o->initrd, "::/grainvm/initrd" },
	};
	for (gsize i = 0; i < G_N_ELEMENTS(copies); i++) {
		if (!copies[i][0])
			continue;
		const char *mcopy[] = { "mcopy", "-i", image, copies[i][0], copies[i][1], NULL };
		if (!gv_run_tool(mcopy, env, NULL, error)) {
			g_prefix_error(error, "ESP of %" G_GUINT64_FORMAT " MiB: ", esp->size / MIB);
			return FALSE;
		}
	}
	return TRUE;
}

/*
 * Set atime and ctime of every inode to the build clock.  mke2fs -d
 * allocates inodes in order, so the used ones are 1..N; find_free_inode
 * gives N + 1.
 */
static gboolean normalize_times(const char *device, const Identity *id, const char *const *env,
				const char *files_dir, GError **error)
{
	const char *ffi[] = { "debugfs", "-R", "ffi", device, NULL };
	g_autofree char *out = NULL;
	g_autofree char *script = g_build_filename(files_dir, "times.debugfs", NULL);

	if (!gv_run_tool(ffi, env, &out, error))
		return FALSE;
	const char *num = out ? strstr(out, "Free inode found: ") : NULL;
	guint64 first_free = num ? g_ascii_strtoull(num + 18, NULL, 10) : 0;
	if (first_free < 12) {
		g_set_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_TOOL,
			    "debugfs found no free inode in %s", device);
		return FALSE;
	}
	g_autoptr(GDateTime) dt = g_date_time_new_from_unix_utc(id->epoch);
	g_autofree char *stamp = g_date_time_format(dt, "%Y%m%d%H%M%S");
	g_autoptr(GString) cmds = g_string_new(NULL);
	for (guint64 ino = 1; ino < first_free; ino++)
		g_string_append_printf(cmds, "sif <%" G_GUINT64_FORMAT "> atime %s\n"
					     "sif <%" G_GUINT64_FORMAT "> ctime %s\n",
				       ino, stamp, ino, stamp);
	g_autoptr(GError) local = NULL;
	if (!g_file_set_contents(script, cmds->str, (gssize)cmds->len, &local)) {
		g_set_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_IO, "%s", local->message);
		return FALSE;
	}
	const char *set[] = { "debugfs", "-w", "-f", script, device, NULL };
	return gv_run_tool(set, env, NULL, error);
}

static gboolean make_root(const Place *root, const char *tree, guint64 inodes,
			  const Identity *id, const char *files_dir, GError **error)
{
	char uuid[37], seed[37];
	g_autofree char *fake = g_strdup_printf("E2FSPROGS_FAKE_TIME=%" G_GINT64_FORMAT, id->epoch);
	const char *env[] = { id->deterministic ? fake : NULL, NULL };
	g_autofree char *ninodes = g_strdup_printf("%" G_GUINT64_FORMAT, inodes);
	g_autofree char *blocks = g_strdup_printf("%" G_GUINT64_FORMAT "k", root->size / 1024);
	g_autofree char *device = e2fs_device(root);

	gv_guid_format(id->fs_uuid, uuid);
	gv_guid_format(id->hash_seed, seed);
	/*
	 * The range is a fresh hole, so it reads as zeros: no discard, and no
	 * zeroing of inode tables or journal (they stay holes, which are never
	 * written into the image, and the guest kernel need not zero them).
	 */
	g_autofree char *ext = g_strdup_printf("offset=%" G_GUINT64_FORMAT
					       ",nodiscard,assume_storage_prezeroed=1,hash_seed=%s",
					       root->offset, seed);
	const char *mkfs[] = { "mke2fs", "-q", "-F", "-t", "ext4", "-L", "root", "-U", uuid, "-N",
			       ninodes, "-E", ext, "-d", tree, root->file, blocks, NULL };
	if (!gv_run_tool(mkfs, env, NULL, error))
		return FALSE;
	return !id->deterministic || normalize_times(device, id, env, files_dir, error);
}

/* ------------------------------------------------------------------------ */
/* The two ways of putting it together                                      */
/* ------------------------------------------------------------------------ */

/* Everything decided before anything is written. */
typedef struct {
	const GvImageBuildOptions *o;
	const char *boot_efi;
	const char *tree;
	const char *files_dir;
	Identity id;
	guint64 inodes;
	guint64 data_bytes; /* what the tree needs; sizes the temporaries' home */
	guint64 disk_size, esp_off, esp_size, root_off, root_size;
	guint8 *primary, *backup; /* the GPT */
	char root_partuuid[37];
} Plan;

static gboolean fill_disk(const Plan *pl, const Place *esp, const Place *root, GError **error)
{
	return make_esp(esp, pl->esp_off / 512, pl->o, pl->boot_efi, &pl->id, pl->files_dir,
			pl->root_partuuid, error) &&
	       make_root(root, pl->tree, pl->inodes, &pl->id, pl->files_dir, error);
}

/*
 * Uncompressed: the disk lives at host offset one cluster on, guest
 * cluster c in host cluster 1 + c.  Only clusters that the tools wrote
 * (SEEK_DATA) are mapped; the rest stay unallocated and read as zeros.
 */
static gboolean build_in_place(const char *dst, const Plan *pl, GError **error)
{
	const GvImageConvertOptions *c = &pl->o->convert;
	g_auto(GvAtomicFile) f = GV_ATOMIC_FILE_INIT;
	g_auto(GvQcow2Map) map = { 0 };
	g_auto(GvQcow2Packer) packer = { 0 };
	guint bits;

	if (!gv_image_cluster_bits(c->cluster_size, &bits, error))
		return FALSE;
	guint64 cs = G_GUINT64_CONSTANT(1) << bits, base = cs;
	if (!gv_qcow2_map_init(&map, pl->disk_size, bits)) {
		g_set_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_INVALID,
			    "%s: a disk of %" G_GUINT64_FORMAT " bytes needs a larger cluster size",
			    dst, pl->disk_size);
		return FALSE;
	}
	if (!gv_atomic_file_open(&f, dst, error))
		return FALSE;
	if (ftruncate(f.fd, (off_t)(base + pl->disk_size)) < 0)
		return gv_io_error(error, errno, "cannot size", dst);
	if (!gv_pwrite_all(f.fd, pl->primary, GV_GPT_PRIMARY_BYTES, base, dst, error) ||
	    !gv_pwrite_all(f.fd, pl->backup, GV_GPT_BACKUP_BYTES,
			   base + pl->disk_size - GV_GPT_BACKUP_BYTES, dst, error))
		return FALSE;
	Place esp = { f.tmp_path, base + pl->esp_off, pl->esp_size };
	Place root = { f.tmp_path, base + pl->root_off, pl->root_size };
	if (!fill_disk(pl, &esp, &root, error))
		return FALSE;

	gv_qcow2_packer_init(&packer, bits, base, 1);
	guint64 pos = base, end = base + pl->disk_size, next = base;
	while (pos < end) {
		off_t data = lseek(f.fd, (off_t)pos, SEEK_DATA);
		if (data < 0 && errno == ENXIO)
			break;
		if (data < 0)
			return gv_io_error(error, errno, "cannot map the data of", dst);
		off_t hole = lseek(f.fd, data, SEEK_HOLE);
		guint64 stop = hole < 0 ? end : MIN((guint64)hole, end);
		/* Extents can share a cluster: each is mapped once. */
		for (guint64 h = MAX((guint64)data / cs * cs, next); h < stop; h += cs) {
			gv_qcow2_packer_claim(&packer, h);
			gv_qcow2_map_set(&map, (h - base) >> bits, h | GV_QCOW2_OFLAG_COPIED);
			next = h + cs;
		}
		pos = MAX(stop, (guint64)data + 1);
	}

	GvQcow2Target t = {
		.virtual_size = pl->disk_size,
		.cluster_bits = bits,
		.compression_type = GV_QCOW2_COMPRESSION_ZLIB,
	};
	guint64 data_end = (end + cs - 1) >> bits;
	if (!gv_qcow2_write_metadata(f.fd, dst, &t, &map, &packer, data_end, error))
		return FALSE;
	if (c->progress)
		c->progress(pl->disk_size, pl->disk_size, c->progress_data);
	return gv_atomic_file_commit(&f, error);
}

/* Compressed: filesystems in temporaries, then the convert pipeline. */
static gboolean build_via_pipeline(const char *dst, const Plan *pl, Temps *tmp, GError **error)
{
	g_autofree char *tmpdir = pick_tmpdir(dst, pl->data_bytes + pl->esp_size);

	tmp->esp = make_temp(tmpdir, dst, "esp", pl->esp_size, &tmp->esp_slot, error);
	if (!tmp->esp)
		return FALSE;
	tmp->root = make_temp(tmpdir, dst, "root", pl->root_size, &tmp->root_slot, error);
	if (!tmp->root)
		return FALSE;
	Place esp = { tmp->esp, 0, pl->esp_size };
	Place root = { tmp->root, 0, pl->root_size };
	if (!fill_disk(pl, &esp, &root, error))
		return FALSE;

	gv_autofd int esp_fd = gv_open_input(tmp->esp, "ESP image", error);
	if (esp_fd < 0)
		return FALSE;
	gv_autofd int root_fd = gv_open_input(tmp->root, "root image", error);
	if (root_fd < 0)
		return FALSE;
	GvSegment segs[] = {
		{ 0, GV_GPT_PRIMARY_BYTES, -1, 0, pl->primary, "GPT" },
		{ pl->esp_off, pl->esp_size, esp_fd, 0, NULL, tmp->esp },
		{ pl->root_off, pl->root_size, root_fd, 0, NULL, tmp->root },
		{ pl->disk_size - GV_GPT_BACKUP_BYTES, GV_GPT_BACKUP_BYTES, -1, 0, pl->backup,
		  "backup GPT" },
	};
	return gv_qcow2_write_segments(dst, pl->disk_size, segs, G_N_ELEMENTS(segs),
				       &pl->o->convert, error);
}

/* ------------------------------------------------------------------------ */

static gboolean check_input(const char *path, const char *what, GError **error)
{
	struct stat st;

	if (!path) {
		g_set_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_INVALID, "%s missing", what);
		return FALSE;
	}
	if (stat(path, &st) < 0) {
		g_set_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_NOT_FOUND, "%s %s: %s", what, path,
			    g_strerror(errno));
		return FALSE;
	}
	if (!S_ISREG(st.st_mode)) {
		g_set_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_INVALID, "%s %s is not a file",
			    what, path);
		return FALSE;
	}
	return TRUE;
}

static gboolean check_tools(gboolean tarball, gboolean deterministic, GError **error)
{
	const char *tools[] = { "mke2fs", "mkfs.vfat", "mmd", "mcopy",
				deterministic ? "debugfs" : NULL, tarball ? "tar" : NULL };

	for (gsize i = 0; i < G_N_ELEMENTS(tools); i++) {
		g_autofree char *found = tools[i] ? g_find_program_in_path(tools[i]) : NULL;
		if (tools[i] && !found) {
			g_set_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_TOOL,
				    "%s not found (install e2fsprogs, dosfstools, mtools and tar)",
				    tools[i]);
			return FALSE;
		}
	}
	return TRUE;
}

static gint64 parse_epoch(const char *text)
{
	char *end = NULL;
	gint64 v = text ? g_ascii_strtoll(text, &end, 10) : -1;

	return text && *text && end && !*end && v >= 0 ? v : -1;
}

gboolean gv_image_build(const char *dst, const GvImageBuildOptions *opts, GError **error)
{
	g_auto(Temps) tmp = { .esp_slot = -1, .root_slot = -1 };
	GvImageBuildOptions o = *opts;
	Plan pl = { .o = &o, .id.deterministic = opts->deterministic };
	Identity *id = &pl.id;
	struct stat st;
	const char *env_boot = g_getenv("GRAINVM_SYSTEMD_BOOT_EFI");

	pl.boot_efi = env_boot && *env_boot ? env_boot : DEFAULT_SYSTEMD_BOOT;
	/* Everything that can be wrong with the input is found before any work. */
	if (!o.rootfs) {
		g_set_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_INVALID, "rootfs missing");
		return FALSE;
	}
	if (stat(o.rootfs, &st) < 0) {
		g_set_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_NOT_FOUND, "rootfs %s: %s", o.rootfs,
			    g_strerror(errno));
		return FALSE;
	}
	gboolean tarball = !S_ISDIR(st.st_mode);
	if (!check_input(o.kernel, "kernel", error) ||
	    (o.initrd && !check_input(o.initrd, "initrd", error)))
		return FALSE;
	if (!check_input(pl.boot_efi, "systemd-boot", error)) {
		g_prefix_error(error, "install systemd-boot-efi or set GRAINVM_SYSTEMD_BOOT_EFI: ");
		return FALSE;
	}
	if (o.esp_size && o.esp_size < MIN_ESP) {
		g_set_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_INVALID,
			    "ESP size %" G_GUINT64_FORMAT " below the 34 MiB FAT32 needs", o.esp_size);
		return FALSE;
	}
	if (o.cmdline && strchr(o.cmdline, '\n')) {
		g_set_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_INVALID,
			    "kernel command line contains a newline");
		return FALSE;
	}
	if (!check_tools(tarball, o.deterministic, error))
		return FALSE;
	g_autofree char *dst_dir = g_path_get_dirname(dst);
	if (!g_file_test(dst_dir, G_FILE_TEST_IS_DIR)) {
		g_set_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_NOT_FOUND,
			    "directory %s of the output does not exist", dst_dir);
		return FALSE;
	}

	g_autoptr(GError) local = NULL;
	tmp.files_dir = g_dir_make_tmp("grainvm-build-XXXXXX", &local);
	if (!tmp.files_dir) {
		g_set_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_IO, "%s", local->message);
		return FALSE;
	}
	pl.files_dir = tmp.files_dir;
	pl.tree = o.rootfs;
	if (tarball) {
		/* mke2fs 1.47.0 reads directories only: unpack next to the output. */
		g_autofree char *base = g_path_get_basename(dst);
		tmp.rootfs_dir = g_strdup_printf("%s/.%s.rootfs.XXXXXX", dst_dir, base);
		if (!g_mkdtemp(tmp.rootfs_dir)) {
			g_clear_pointer(&tmp.rootfs_dir, g_free);
			return gv_io_error(error, errno, "cannot create a directory in", dst_dir);
		}
		const char *tar[] = { "tar", "--numeric-owner", "-xf", o.rootfs, "-C", tmp.rootfs_dir,
				      NULL };
		if (!gv_run_tool(tar, NULL, NULL, error)) {
			g_prefix_error(error, "rootfs %s: ", o.rootfs);
			return FALSE;
		}
		pl.tree = tmp.rootfs_dir;
	}

	TreeScan ts = { 0 };
	g_autoptr(GPtrArray) manifest = o.deterministic ? g_ptr_array_new_with_free_func(g_free)
							: NULL;
	ts.manifest = manifest;
	if (!scan_dir(pl.tree, "", &ts, 0, error))
		return FALSE;
	pl.data_bytes = ts.data_bytes;

	/* Sizes.  ext4 needs room beyond the data: inode tables (256 bytes per
	 * inode), the journal (64 MiB from 1 GiB), bitmaps, the 5% reserve. */
	guint64 inodes = ts.inodes + ts.inodes / 4 + 1024;
	guint64 root_min = ts.data_bytes + inodes * 256 + 8 * MIB;
	/*
	 * --size auto leaves room to work in: the larger of a quarter of the
	 * data and 1 GiB free (a Debian minbase tree of 671 MB was left 87%
	 * full with an eighth: 124 MB, not enough to install a compiler).  In
	 * a qcow2 the free blocks are holes, so the headroom costs no file size.
	 */
	guint64 headroom = MAX(ts.data_bytes / 4, 1024 * MIB);
	guint64 root_auto = round_up_mib((ts.data_bytes + headroom + inodes * 256 +
					  80 * MIB) * 100 / 95);
	/* check_input() has stat()ed these already. */
	struct stat bs, ks, is;
	stat(pl.boot_efi, &bs);
	stat(o.kernel, &ks);
	guint64 payload = 2 * (guint64)bs.st_size + (guint64)ks.st_size + MIB;
	if (o.initrd && stat(o.initrd, &is) == 0)
		payload += (guint64)is.st_size;
	if (!o.esp_size)
		o.esp_size = MAX(128 * MIB, round_up_mib(payload + payload / 2 + 16 * MIB));
	o.esp_size = round_up_mib(o.esp_size);
	if (payload + 4 * MIB > o.esp_size) {
		g_set_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_INVALID,
			    "ESP of %" G_GUINT64_FORMAT " MiB cannot hold %" G_GUINT64_FORMAT
			    " MiB of boot files; raise --esp-size", o.esp_size / MIB, payload / MIB + 1);
		return FALSE;
	}
	if (o.size) {
		guint64 disk = o.size / MIB * MIB;
		if (disk < o.esp_size + 2 * MIB + root_min) {
			g_set_error(error, GV_IMAGE_ERROR, GV_IMAGE_ERROR_INVALID,
				    "disk size %" G_GUINT64_FORMAT " too small: the ESP needs %"
				    G_GUINT64_FORMAT " MiB and the root tree at least %" G_GUINT64_FORMAT
				    " MiB", o.size, o.esp_size / MIB, round_up_mib(root_min) / MIB);
			return FALSE;
		}
		pl.root_size = disk - o.esp_size - 2 * MIB;
	} else {
		pl.root_size = root_auto;
	}
	/* Never fewer inodes than mke2fs's own default of one per 16 KiB. */
	pl.inodes = MAX(inodes, pl.root_size / 16384);
	pl.esp_off = MIB;
	pl.esp_size = o.esp_size;
	pl.root_off = MIB + o.esp_size;
	pl.disk_size = pl.root_off + pl.root_size + MIB;

	/* Identity. */
	if (o.deterministic) {
		g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);
		gsize len = sizeof(id->seed);
		g_ptr_array_sort(manifest, cmp_lines);
		g_checksum_update(sum, (const guchar *)"grainvm-build-1\n", -1);
		for (guint i = 0; i < manifest->len; i++) {
			g_checksum_update(sum, g_ptr_array_index(manifest, i), -1);
			g_checksum_update(sum, (const guchar *)"\n", 1);
		}
		hash_file(sum, o.kernel);
		if (o.initrd)
			hash_file(sum, o.initrd);
		hash_file(sum, pl.boot_efi);
		g_autofree char *params = g_strdup_printf("%s\n%" G_GUINT64_FORMAT "\n%" G_GUINT64_FORMAT,
							  o.cmdline ? o.cmdline : "", o.esp_size,
							  pl.root_size);
		g_checksum_update(sum, (const guchar *)params, -1);
		g_checksum_get_digest(sum, id->seed, &len);

		id->epoch = parse_epoch(g_getenv("SOURCE_DATE_EPOCH"));
		if (id->epoch < 0) {
			struct stat fs;
			id->epoch = ts.newest_mtime;
			if (stat(o.kernel, &fs) == 0)
				id->epoch = MAX(id->epoch, (gint64)fs.st_mtime);
			if (o.initrd && stat(o.initrd, &fs) == 0)
				id->epoch = MAX(id->epoch, (gint64)fs.st_mtime);
		}
		/* FAT cannot date anything before 1980. */
		id->epoch = MAX(id->epoch, 315532800);
	}
	derive(id, "disk", id->disk);
	derive(id, "esp", id->esp);
	derive(id, "root", id->root);
	derive(id, "fs-uuid", id->fs_uuid);
	derive(id, "hash-seed", id->hash_seed);
	guint8 vol[16];
	derive(id, "fat-volid", vol);
	id->fat_volid = gv_get_be32(vol);
	gv_guid_format(id->root, pl.root_partuuid);

	/* The partition table. */
	GvGptPartition parts[2] = { { .first_lba = pl.esp_off / 512,
				      .last_lba = (pl.esp_off + pl.esp_size) / 512 - 1,
				      .name = "ESP" },
				    { .first_lba = pl.root_off / 512,
				      .last_lba = (pl.root_off + pl.root_size) / 512 - 1,
				      .name = "root" } };
	gv_guid_parse(GV_GPT_TYPE_ESP, parts[0].type);
	memcpy(parts[0].uuid, id->esp, 16);
	gv_guid_parse(GV_GPT_TYPE_ROOT_X86_64, parts[1].type);
	memcpy(parts[1].uuid, id->root, 16);
	g_autofree guint8 *primary = pl.primary = g_malloc(GV_GPT_PRIMARY_BYTES);
	g_autofree guint8 *backup = pl.backup = g_malloc(GV_GPT_BACKUP_BYTES);
	if (!gv_gpt_build(pl.disk_size, id->disk, parts, 2, primary, backup, error))
		return FALSE;

	if (o.convert.compression == GV_IMAGE_COMPRESSION_NONE)
		return build_in_place(dst, &pl, error);
	return build_via_pipeline(dst, &pl, &tmp, error);
}
