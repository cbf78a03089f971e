/* SPDX-License-Identifier: MIT */
/*
 * argv.h - the QEMU command line as a pure function of spec and host facts
 *
 * Everything that needs the host (probing KVM, extracting the kernel,
 * writing the initramfs, copying UEFI variables) happens before, in
 * prepare.c, and arrives here as GvHostFacts.  Nothing here touches the
 * filesystem, so tests/launcher/test-argv.c pins the output with golden
 * files.
 */
#pragma once

#include <glib.h>

#include "boot/spec.h"

/* File descriptor numbers the supervisor hands QEMU (listening sockets). */
enum {
	GV_FD_QMP = 3,
	GV_FD_CONSOLE = 4,
	GV_FD_AGENT = 5,
	GV_FD_QGA = 6,
	GV_FD_INCOMING = 7, /* restore: a pipe carrying the saved state (migrate-incoming fd:7) */
	GV_FD_NIC_BASE = 8, /* then one per bridge (as root) or switch NIC, in NIC order */
	/*
	 * Files QEMU gets as descriptors when it runs as another user
	 * (GvHostFacts.files_by_fd): far above the NICs (GV_NICS_MAX is 8).
	 * The block files (UEFI code and variables, the disk's chain) go
	 * into QEMU's fd sets (-add-fd), from GV_FD_BLOCK_BASE up to below
	 * GV_FD_KERNEL; see gv_qemu_block_fds().
	 */
	GV_FD_BLOCK_BASE = 16,
	GV_FD_KERNEL = 64,
	GV_FD_INITRD = 65,
	GV_FD_SHARE_BASE = 66, /* then one per share, in spec order */
};

/* One file the supervisor opens for QEMU (files_by_fd). */
typedef struct {
	int fd;              /* the number QEMU finds it under */
	const char *path;    /* (transfer none): into the facts or the spec */
	gboolean directory;  /* a share: opened O_DIRECTORY */
	gboolean writable;   /* opened read-write (the top disk layer, UEFI variables) */
} GvQemuFile;

/*
 * The most disk layers (overlay, live snapshot layers and the base's whole
 * chain) QEMU can get as descriptors: the block range holds the UEFI
 * code, the variables twice, the cloud-init seed and the top layer a second time (read-only,
 * see gv_qemu_block_fds()) and one descriptor per layer.
 */
#define GV_DISK_LAYERS_MAX (GV_FD_KERNEL - GV_FD_BLOCK_BASE - 5)

/* One layer of the disk's chain (GvHostFacts.disk_chain). */
typedef struct {
	const char *path;    /* (transfer none) */
	const char *format;  /* "qcow2" or "raw" */
} GvDiskLayer;

/* One descriptor in one of QEMU's fd sets (-add-fd). */
typedef struct {
	int fd;              /* the number QEMU inherits it under */
	guint set;           /* the fd set: /dev/fdset/SET */
	const char *path;    /* (transfer none) */
	gboolean writable;
} GvBlockFd;

#define GV_AGENT_PORT "org.grainvm.agent.0"
#define GV_QGA_PORT "org.qemu.guest_agent.0"

/* What the host decided for one NIC (GvSpec.nics, same index). */
typedef struct {
	int fd;                  /* descriptor QEMU inherits: the tap (bridge as root) or
				  * the connection to the switch; -1: none */
	const char *helper;      /* bridge without root: qemu-bridge-helper's path */
	const char *address;     /* switch: the leased "A.B.C.D/PREFIX", else NULL */
} GvNicFacts;

typedef struct {
	const char *qemu;        /* the binary */
	GvAccel accel;           /* decided: GV_ACCEL_KVM or GV_ACCEL_TCG */
	const char *kernel;      /* file for -kernel, or NULL */
	const char *initrd;      /* file for -initrd, or NULL */
	gboolean grainvm_init;   /* the initrd is grainvm's: add grainvm.* parameters */
	const char *ovmf_code;   /* GV_FIRMWARE_UEFI: read-only code */
	const char *ovmf_vars;   /* GV_FIRMWARE_UEFI: the VM's own variables */
	GvFirmware firmware;     /* decided: never AUTO */
	const char *disk;        /* the VM's overlay, or NULL */
	const char *seed;        /* [cloud-init]: the NoCloud seed (raw FAT), or NULL */
	const char *nixos_toplevel; /* [nixos]: boot with init=TOPLEVEL/init, or NULL */
	const char *nixos_params;   /* [nixos]: the system's kernel-params */
	const GvNicFacts *nics;  /* one per spec->nics entry; NULL when there are none */
	const char *ram_file;    /* guest RAM in this tmpfs file (a template's or a clone's), or
				  * NULL: anonymous memory */
	gboolean ram_shared;     /* ram_file is the template's own (share=on); else a clone's
				  * private copy-on-write mapping of it (share=off) */
	gboolean incoming;       /* restore a snapshot: -incoming defer; the state comes on GV_FD_INCOMING */
	gboolean no_sandbox;     /* GRAINVM_BENCH_NO_SANDBOX: no -sandbox (to measure its cost) */
	gboolean files_by_fd;    /* QEMU runs as another user: kernel, initrd, shares, UEFI
				  * files and the disk's chain are descriptors the supervisor
				  * opens (gv_qemu_fd_files()) */
	const GvDiskLayer *disk_chain; /* files_by_fd with a disk: its layers, the top
					* (= disk) first, down to the last base */
	guint disk_chain_len;
} GvHostFacts;

/**
 * gv_qemu_argv() - the full QEMU argv
 * @spec: the validated spec
 * @facts: what prepare.c found out
 *
 * QEMU starts paused (-S); the supervisor sends "cont" once it listens
 * to QMP, so no event is missed.
 *
 * Return: (transfer full): NULL-terminated argv, argv[0] = facts->qemu.
 */
char **gv_qemu_argv(const GvSpec *spec, const GvHostFacts *facts);

/**
 * gv_kernel_cmdline() - the kernel command line for direct kernel boot
 * @spec: the spec ([boot] cmdline is appended last)
 * @facts: the host facts
 *
 * Return: (transfer full): the command line.
 */
char *gv_kernel_cmdline(const GvSpec *spec, const GvHostFacts *facts);

/**
 * gv_qemu_block_fds() - the descriptors QEMU's fd sets hold (files_by_fd)
 * @facts: the host facts
 *
 * QEMU running as another user cannot open a disk by path (grainvm's
 * directories are 0700 root), and reopening /proc/self/fd/N would check
 * the file's own mode (the overlay is root's 0600).  Instead each block
 * file is an fd set: QEMU opening /dev/fdset/SET gets a duplicate of a
 * descriptor in the set whose access mode matches.  The sets of the
 * UEFI variables and the top layer hold them read-write and read-only:
 * QEMU opens a pflash drive read-only first, and reopens the top layer
 * read-only when a live snapshot puts a new layer above it.  Sets are
 * numbered from 1: UEFI code, UEFI variables, the cloud-init seed, then
 * the disk's layers top first.
 *
 * Return: (transfer container): GvBlockFd entries, possibly none.
 */
GArray *gv_qemu_block_fds(const GvHostFacts *facts);

/**
 * gv_qemu_fd_files() - the files QEMU gets as descriptors
 * @spec: the validated spec
 * @facts: what prepare.c found out; nothing unless files_by_fd
 *
 * The same numbering gv_qemu_argv() writes as /proc/self/fd/N: QEMU
 * running as an unprivileged user cannot walk grainvm's 0700 cache or a
 * project under a private directory, but it can reopen a descriptor it
 * inherited, where the file itself lets it (the cache's files are 0644;
 * a share's directory is opened for it, and its contents are checked
 * against that user from there on).
 *
 * Return: (transfer container): GvQemuFile entries, possibly none.
 */
GArray *gv_qemu_fd_files(const GvSpec *spec, const GvHostFacts *facts);
