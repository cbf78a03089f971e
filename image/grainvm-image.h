/* SPDX-License-Identifier: MIT */
/*
 * grainvm-image.h - disk images for grainvm: qcow2 creation, inspection,
 * conversion and whole-disk builds
 *
 * Theory of Operation
 * -------------------
 * A qcow2 file is a header cluster, a two-level map from guest clusters to
 * host clusters (one L1 table, L2 tables of one cluster each), and
 * refcounts for every host cluster (a refcount table pointing at refcount
 * blocks).  grainvm writes qcow2 itself rather than through qemu-img so
 * that it can lay the file out in one pass and without a full-size
 * temporary; qemu-img stays the oracle in the tests.
 *
 * The library is split so that the format rules can be tested without I/O:
 *
 *   gv-qcow2.h   the pure core: header parse/serialize (the fuzz target),
 *                L1/refcount sizing, compressed-cluster descriptors and the
 *                byte packer.  Numbers and buffers in, numbers out.
 *   create.c     empty images and overlays: header, L1, one refcount block.
 *   info.c       reads a header, follows the backing chain, prints JSON in
 *                qemu-img's shape.
 *   convert.c    raw -> qcow2.  Data goes first, in guest order, packed
 *                from cluster 1 on; the map and refcounts are only known
 *                at the end, so L2 tables, L1 and refcounts are appended
 *                after the data and the header is written last.  Zero and
 *                hole clusters are never written.  Compression runs on a
 *                thread pool; results are committed in guest order through
 *                a bounded reorder window, which keeps memory bounded and
 *                the output deterministic.
 *   writer-*.c   the output queue: io_uring when built with liburing,
 *                pwrite otherwise.
 *   gpt.c, build.c  whole bootable disks: a GPT, an ESP made by mkfs.vfat
 *                and mtools, an ext4 root made by mke2fs -d.  Uncompressed,
 *                guest cluster c sits in host cluster 1 + c, so the tools
 *                write the disk in place inside the qcow2 and only the map
 *                is added; compressed, their partition images go through
 *                the convert pipeline as segments.
 *
 * Every file is written under a temporary name in the target's directory
 * and renamed into place after fsync (docs/errors.md), so a crash, a full
 * disk or Ctrl-C never leaves a half-written image under the final name.
 * Backing files are only ever opened O_RDONLY.
 *
 * Errors are GV_IMAGE_ERROR (below) or G_IO_ERROR/G_FILE_ERROR from GLib
 * calls; messages name the file and what is wrong with it.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define GV_IMAGE_ERROR (gv_image_error_quark())
GQuark gv_image_error_quark(void);

/**
 * GvImageError - codes of GV_IMAGE_ERROR
 *
 * INVALID, NOT_FOUND, CORRUPT, UNSUPPORTED and UNTRUSTED are bad input
 * (exit code 2 in docs/errors.md: nothing was written); IO and TOOL are
 * failures of the operation (exit code 1).
 */
typedef enum {
	GV_IMAGE_ERROR_INVALID,     /* bad argument: size, cluster size, option */
	GV_IMAGE_ERROR_NOT_FOUND,   /* an input file (source, backing, kernel) is missing */
	GV_IMAGE_ERROR_CORRUPT,     /* an input is not a valid image */
	GV_IMAGE_ERROR_UNSUPPORTED, /* a valid image using a feature grainvm does not handle */
	GV_IMAGE_ERROR_IO,          /* read or write failed (disk full, I/O error) */
	GV_IMAGE_ERROR_TOOL,        /* an external tool (qemu-img, mke2fs, mtools) failed */
	GV_IMAGE_ERROR_UNTRUSTED,   /* an untrusted image names a file it may not (bad input) */
} GvImageError;

/**
 * gv_image_error_is_bad_input() - whether @error means "bad input"
 * @error: any error
 *
 * Return: TRUE for the GV_IMAGE_ERROR codes that map to exit code 2.
 */
gboolean gv_image_error_is_bad_input(const GError *error);

/**
 * gv_image_install_signal_cleanup() - remove temporary files on SIGINT
 *
 * Installs handlers for SIGINT, SIGTERM and SIGHUP that unlink the
 * temporary files of writes in progress and then die of the signal, so
 * that Ctrl-C during a convert or build leaves nothing behind; SIGXFSZ is
 * ignored so that a file size limit fails the write instead.  For the
 * CLI; a long-running process that handles signals itself should not
 * call it.
 */
void gv_image_install_signal_cleanup(void);

/**
 * gv_image_parse_size_in() - parse a size such as "10G", "1.5G", "4096"
 * @text: digits, an optional fraction, an optional unit K, M, G, T or P
 *        (powers of 1024, either case, optionally followed by "iB" or "B"),
 *        or the unit "B"; no spaces
 * @bare_unit: what a number without a unit counts (1 for bytes, 1 MiB for
 *        memory sizes, as QEMU's -m)
 * @out: (out): bytes, set on success only
 * @error: GV_IMAGE_ERROR_INVALID naming the text
 *
 * The one size grammar of grainvm: spec keys and image commands use it.
 *
 * Return: TRUE when @text is a size that fits in 63 bits.
 */
gboolean gv_image_parse_size_in(const char *text, guint64 bare_unit, guint64 *out,
				GError **error);

/** gv_image_parse_size() - gv_image_parse_size_in() counting bare numbers as bytes */
gboolean gv_image_parse_size(const char *text, guint64 *out, GError **error);

/**
 * gv_run_tool() - run a program, capture its output
 * @argv: program and arguments; argv[0] is looked up in PATH, then in
 *        /usr/sbin and /sbin (which an ordinary user's PATH often lacks)
 * @envp: (nullable): extra VAR=VALUE settings on top of the environment
 * @stdout_out: (out) (optional) (transfer full): its stdout
 * @error: GV_IMAGE_ERROR_TOOL naming the program, its exit status and the
 *         last line of its stderr
 *
 * Return: TRUE when it exited with status 0.
 */
gboolean gv_run_tool(const char *const *argv, const char *const *envp,
		     char **stdout_out, GError **error);

/**
 * gv_term_escape() - a string from a guest or an image, safe for a terminal
 * @s: (nullable): the string, any bytes
 * @keep: (nullable): control characters to let through (e.g. "\t")
 *
 * The one escaping of grainvm's human output, for image header strings
 * (backing and data file names) and everything a guest reports (interface
 * names, addresses, versions, build log tails): printable UTF-8 is kept, a
 * backslash becomes "\\", C0 controls and DEL become \xNN, C1 controls
 * \u00NN, and bytes that are not UTF-8, other non-printable characters and
 * format characters (bidi overrides reorder a line) \xNN per byte, so that
 * what a guest or an image names cannot move the cursor, retitle or clear
 * the terminal, or pass for something grainvm printed.  Streams the user
 * asked for (exec and build output, console, logs) never go through this.
 *
 * Return: (transfer full): the escaped string ("" for NULL).
 */
char *gv_term_escape(const char *s, const char *keep);

/**
 * gv_rm_rf() - remove a file or a directory tree, not following symlinks
 * @path: what to remove; a missing path is success
 * @error: return location
 *
 * Return: TRUE when @path no longer exists.
 */
gboolean gv_rm_rf(const char *path, GError **error);

/* ------------------------------------------------------------------------ */
/* Creation                                                                 */
/* ------------------------------------------------------------------------ */

/**
 * gv_image_create_qcow2() - create an empty qcow2 v3 image or an overlay
 * @path: the image to write; replaced atomically if it exists
 * @virtual_size: guest-visible size in bytes, rounded up to 512 as
 *                qemu-img does; 0 with @backing_file takes the backing
 *                file's size
 * @backing_file: (nullable): recorded verbatim in the header; a relative
 *                name is resolved against @path's directory, as QEMU does
 * @backing_format: (nullable): "qcow2" or "raw"; NULL probes the backing
 *                  file.  The format is always recorded so that QEMU never
 *                  has to probe (a raw base that starts with a qcow2 magic
 *                  must not be taken for one).
 * @cluster_size: power of two from 512 to 2 MiB; 0 means 64 KiB
 * @error: return location
 *
 * The backing file is opened read-only, only to learn its format and
 * size.  @path must not be the backing file itself.
 *
 * Return: TRUE when @path holds the new image.
 */
gboolean gv_image_create_qcow2(const char *path, guint64 virtual_size,
			       const char *backing_file,
			       const char *backing_format,
			       guint32 cluster_size, GError **error);

/**
 * gv_image_backing_name_for() - the backing name to record for a base
 * @image_path: the overlay to be created (its directory must exist)
 * @backing_path: the base, as a path from the current directory
 * @error: GV_IMAGE_ERROR_NOT_FOUND when either directory is missing
 *
 * QEMU resolves a relative backing name against the overlay's directory,
 * not the current one.  An absolute @backing_path is returned as is; a
 * relative one becomes the path from the overlay's directory to the
 * base's (directories resolved through symlinks, the base's own name kept),
 * so that a base and its overlays can move together.
 *
 * Return: (transfer full): the name for gv_image_create_qcow2().
 */
char *gv_image_backing_name_for(const char *image_path, const char *backing_path,
				GError **error);

/* ------------------------------------------------------------------------ */
/* Conversion                                                               */
/* ------------------------------------------------------------------------ */

typedef enum {
	GV_IMAGE_COMPRESSION_NONE,
	GV_IMAGE_COMPRESSION_ZLIB,
	GV_IMAGE_COMPRESSION_ZSTD,
} GvImageCompression;

/**
 * GvImageProgressFunc - how far a long write has come
 * @done: guest bytes processed so far
 * @total: guest bytes to process (holes in the source are not counted)
 * @user_data: as given in the options
 *
 * Called from the calling thread after every chunk (a few MiB), so it
 * must be cheap; a progress line should rate-limit itself.
 */
typedef void (*GvImageProgressFunc)(guint64 done, guint64 total, gpointer user_data);

/**
 * GvImageConvertOptions - how gv_image_convert() writes
 * @compression: none, zlib or zstd clusters
 * @level: codec level; 0 for the default: zlib 6 (as QEMU), zstd 1 (twice
 *         qemu-img's speed for about 3% more output; 3 matches qemu-img)
 * @cluster_size: 0 for 64 KiB
 * @threads: compression threads; 0 for one per CPU
 * @progress: (nullable): progress callback
 * @progress_data: for @progress
 */
typedef struct {
	GvImageCompression compression;
	int level;
	guint32 cluster_size;
	guint threads;
	GvImageProgressFunc progress;
	gpointer progress_data;
} GvImageConvertOptions;

/**
 * gv_image_convert() - copy a raw disk into a new qcow2 image
 * @src: a raw image file or a block device; read only
 * @dst: the qcow2 to write; replaced atomically if it exists
 * @opts: (nullable): options; NULL for uncompressed 64 KiB clusters
 * @error: GV_IMAGE_ERROR_NOT_FOUND for a missing @src,
 *         GV_IMAGE_ERROR_INVALID for bad options or @dst == @src,
 *         GV_IMAGE_ERROR_UNSUPPORTED for a qcow2 @src,
 *         GV_IMAGE_ERROR_IO for read or write failures (a full disk)
 *
 * Holes in @src (SEEK_DATA/SEEK_HOLE) and clusters that read as zeros
 * are not written: they stay unallocated in the image.  The virtual size
 * is @src's size rounded up to 512.  On any failure no file is left under
 * @dst and the temporary file is removed.
 *
 * Return: TRUE when @dst holds the image.
 */
gboolean gv_image_convert(const char *src, const char *dst, const GvImageConvertOptions *opts,
			  GError **error);

/* ------------------------------------------------------------------------ */
/* Whole-disk builds                                                        */
/* ------------------------------------------------------------------------ */

/**
 * GvImageBuildOptions - what gv_image_build() puts on the disk
 * @rootfs: a directory, or a tarball (unpacked with tar next to the output;
 *          without root privileges owners and device nodes are lost)
 * @kernel: an EFI-stub kernel (every distribution kernel is one)
 * @initrd: (nullable): its initrd
 * @cmdline: (nullable): kernel options; "root=PARTUUID=<root> rw" is put
 *           in front unless they name a root= themselves
 * @size: the whole disk in bytes, 0 for just enough for the tree (plus an
 *        eighth and 80 MiB for ext4's own needs)
 * @esp_size: the ESP in bytes, 0 for max(128 MiB, 1.5 x the boot files)
 * @deterministic: same inputs, same bytes: GUIDs and UUIDs from a hash of
 *                 the inputs, timestamps from SOURCE_DATE_EPOCH (or the
 *                 newest input mtime)
 * @convert: compression, cluster size, threads and progress of the write
 */
typedef struct {
	const char *rootfs;
	const char *kernel;
	const char *initrd;
	const char *cmdline;
	guint64 size;
	guint64 esp_size;
	gboolean deterministic;
	GvImageConvertOptions convert;
} GvImageBuildOptions;

/**
 * gv_image_build() - a bootable qcow2: GPT, systemd-boot ESP, ext4 root
 * @dst: the image to write; replaced atomically
 * @opts: the contents
 * @error: GV_IMAGE_ERROR_NOT_FOUND for a missing input (rootfs, kernel,
 *         initrd, systemd-boot), _INVALID for sizes that cannot work,
 *         _TOOL when mke2fs, mkfs.vfat, mtools, debugfs or tar fail (the
 *         message ends with their last line of output), _IO for writes
 *
 * The filesystems are made by mke2fs -d and mkfs.vfat + mtools, without
 * root privileges, loop devices or mounts, and no raw image of the whole
 * disk is ever written: uncompressed, the tools write straight into the
 * qcow2's data area; compressed, into partition-sized temporaries
 * ($GRAINVM_TMPDIR, /dev/shm when it has room, else the output's
 * directory) that are then compressed into the qcow2.  The layout is
 * described in docs/image.md.
 *
 * Return: TRUE when @dst holds the disk.
 */
gboolean gv_image_build(const char *dst, const GvImageBuildOptions *opts, GError **error);

/* ------------------------------------------------------------------------ */
/* Inspection                                                               */
/* ------------------------------------------------------------------------ */

typedef struct _GvImageInfo GvImageInfo;

/**
 * GvImageInfo - what gv_image_info_read() learnt about an image
 * @filename: the path as given
 * @format: "qcow2" or "raw"
 * @virtual_size: guest-visible bytes (raw: file size rounded up to 512)
 * @actual_size: bytes the file occupies on disk (st_blocks * 512)
 * @cluster_size: qcow2 only, else 0
 * @qcow2_version: 2 or 3; 0 for raw
 * @compression_type: "zlib" or "zstd"; NULL for raw
 * @refcount_bits: qcow2 only
 * @lazy_refcounts: qcow2 v3 compatible bit
 * @extended_l2: qcow2 v3 incompatible bit 4
 * @encrypted: qcow2 crypt_method is not 0
 * @dirty: incompatible bit 0 (QEMU did not close it cleanly)
 * @corrupt: incompatible bit 1 (QEMU found an inconsistency)
 * @nb_snapshots: internal snapshots
 * @backing_file: (nullable): the name recorded in the header
 * @backing_format: (nullable): the recorded backing format
 * @full_backing_file: (nullable): @backing_file joined to @filename's
 *                     directory (qemu-img's "full-backing-filename")
 * @data_file: (nullable): external data file name, if any
 * @backing_chain: (element-type GvImageInfo): the backing files, nearest
 *                 first; their own backing_chain is empty
 */
struct _GvImageInfo {
	char *filename;
	char *format;
	guint64 virtual_size;
	guint64 actual_size;
	guint32 cluster_size;
	guint32 qcow2_version;
	char *compression_type;
	guint32 refcount_bits;
	gboolean lazy_refcounts;
	gboolean extended_l2;
	gboolean encrypted;
	gboolean dirty;
	gboolean corrupt;
	guint32 nb_snapshots;
	char *backing_file;
	char *backing_format;
	char *full_backing_file;
	char *data_file;
	GPtrArray *backing_chain;
};

typedef enum {
	GV_IMAGE_INFO_DEFAULT = 0,
	/* Do not open backing files (backing_chain stays empty). */
	GV_IMAGE_INFO_NO_BACKING = 1 << 0,
	/*
	 * The image is untrusted (a base someone else made): refuse, with
	 * GV_IMAGE_ERROR_UNTRUSTED, a backing file that is an absolute path,
	 * climbs out with "..", resolves (symlinks followed) outside the
	 * directory @path was named in, is a block device, or has no
	 * recorded format and is not qcow2; and an external data file
	 * anywhere in the chain.
	 */
	GV_IMAGE_INFO_CONFINE = 1 << 1,
} GvImageInfoFlags;

/*
 * Backing chains deeper than this are refused: a loop (a -> b -> a) or a
 * pathological chain must not make info recurse forever.  Real chains are
 * a base and an overlay or two.
 */
#define GV_IMAGE_MAX_CHAIN_DEPTH 32

/**
 * gv_image_info_read() - inspect an image and its backing chain
 * @path: the image
 * @error: GV_IMAGE_ERROR_NOT_FOUND for a missing image or backing file,
 *         GV_IMAGE_ERROR_CORRUPT for a malformed qcow2 header,
 *         GV_IMAGE_ERROR_UNSUPPORTED for a backing chain that loops or is
 *         too deep, for a FIFO, socket, character device or directory
 *         anywhere in it, and for json: or protocol backing names; the
 *         message names the file (header strings escaped, gv_term_escape)
 *
 * A file is qcow2 when it starts with the qcow2 magic and raw otherwise;
 * a backing file is read as the format its overlay records.  Files are
 * opened read-only and non-blocking (a FIFO never makes this wait for a
 * writer), and a loop is found by device and inode, so that a symlink
 * back into the chain is caught too.  The external data file is
 * reported, never opened.
 *
 * Return: (transfer full): the info, or NULL with @error set.
 */
GvImageInfo *gv_image_info_read(const char *path, GError **error);

/**
 * gv_image_info_read_full() - gv_image_info_read() with flags
 * @path: the image
 * @format: (nullable): "qcow2" or "raw" to skip probing; NULL probes
 * @flags: GvImageInfoFlags
 * @error: as for gv_image_info_read(); GV_IMAGE_ERROR_UNTRUSTED for what
 *         GV_IMAGE_INFO_CONFINE refuses
 *
 * Return: (transfer full): the info, or NULL with @error set.
 */
GvImageInfo *gv_image_info_read_full(const char *path, const char *format,
				     GvImageInfoFlags flags, GError **error);

void gv_image_info_free(GvImageInfo *info);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(GvImageInfo, gv_image_info_free)

/**
 * gv_image_info_to_json() - the info as `qemu-img info --output=json` prints it
 * @info: the info
 *
 * Same key names as qemu-img 7.2: "filename", "format", "virtual-size",
 * "actual-size", "cluster-size", "dirty-flag", "backing-filename",
 * "full-backing-filename", "backing-filename-format", "format-specific".
 *
 * Return: (transfer full): pretty-printed JSON, no trailing newline.
 */
char *gv_image_info_to_json(const GvImageInfo *info);

/**
 * gv_image_info_chain_to_json() - like `qemu-img info --backing-chain --output=json`
 * @info: the info
 *
 * Return: (transfer full): a JSON array: @info, then its backing chain.
 */
char *gv_image_info_chain_to_json(const GvImageInfo *info);

/* ------------------------------------------------------------------------ */
/* qemu-img wrappers                                                        */
/* ------------------------------------------------------------------------ */

/**
 * gv_image_qemu_img_path() - the qemu-img to run
 *
 * Return: (transfer full): $GRAINVM_QEMU_IMG if set, else "qemu-img"
 * found in PATH, else NULL.
 */
char *gv_image_qemu_img_path(void);

/**
 * gv_image_check() - run `qemu-img check` on an image
 * @path: the image
 * @output: (out) (optional) (transfer full): what qemu-img printed
 * @error: GV_IMAGE_ERROR_CORRUPT when qemu-img finds errors or leaks
 *         (the message carries its summary), GV_IMAGE_ERROR_TOOL when it
 *         cannot run; before it runs, what gv_image_info_read_full()
 *         refuses, GV_IMAGE_ERROR_UNSUPPORTED for a raw image and for an
 *         external data file that is not a regular file or block device
 *
 * Only @path is checked, never its backing files: qemu-img is given
 * json:{"driver":"qcow2","backing":null,"file":{...}}, so a FIFO or a
 * loop in the chain cannot hang it.
 *
 * Return: TRUE when the image is clean.
 */
gboolean gv_image_check(const char *path, char **output, GError **error);

typedef enum {
	GV_IMAGE_SNAPSHOT_CREATE,
	GV_IMAGE_SNAPSHOT_LIST,
	GV_IMAGE_SNAPSHOT_APPLY,
	GV_IMAGE_SNAPSHOT_DELETE,
} GvImageSnapshotOp;

/**
 * gv_image_snapshot() - offline internal snapshots through qemu-img
 * @path: a qcow2 image no VM is using (qemu-img's lock enforces it)
 * @op: create, list, apply (revert the disk to the snapshot) or delete
 * @name: (nullable): the snapshot name; ignored for LIST
 * @output: (out) (optional) (transfer full): qemu-img's output (the
 *          table for LIST)
 * @error: GV_IMAGE_ERROR_UNSUPPORTED for a raw image,
 *         GV_IMAGE_ERROR_TOOL with qemu-img's message otherwise
 *
 * Return: TRUE on success.
 */
gboolean gv_image_snapshot(const char *path, GvImageSnapshotOp op, const char *name,
			   char **output, GError **error);

G_END_DECLS
