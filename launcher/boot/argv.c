/* SPDX-License-Identifier: MIT */
/*
 * argv.c - build QEMU's command line (pure; see argv.h)
 *
 * Device choices and why:
 *  - q35 and -nodefaults: no VGA, no default NIC, no floppy or CD probing;
 *    every device present is one grainvm asked for.
 *  - virtio-serial with two ports: grainvm's agent, and qemu-ga's
 *    well-known port so a guest's own qemu-ga works beside it.
 *  - the serial console, QMP and both agent ports are socket chardevs on
 *    listening sockets the supervisor created (fd=N): the supervisor can
 *    connect the moment QEMU is spawned, with no wait for a socket file.
 *  - pvpanic-pci turns a guest kernel panic into a GUEST_PANICKED event,
 *    so the supervisor can say "guest panic" rather than "exited".
 *  - guest RAM is anonymous memory, except for a template ([vm] template)
 *    and its clones: a memory-backend-file in tmpfs, mapped shared by the
 *    template (its RAM is the file) and privately, copy-on-write, by each
 *    clone, so that clones share every page none of them wrote
 *    (docs/snapshots.md "Clones").
 *  - every NIC is virtio-net-pci with the spec's MAC; the guest finds its
 *    configuration by that MAC (grainvm.net=), not by an interface name
 *    that depends on probe order.  Bridge NICs get a tap the supervisor
 *    opened (as root) or got from QEMU's bridge helper (without root: QEMU
 *    may not run it under -sandbox spawn=deny); switch NICs a connected
 *    unix socket to the network's switch (-netdev stream).
 */
#include "boot/argv.h"

#include <string.h>

/* QEMU option values escape ',' as ",,". */
static char *opt_escape(const char *value)
{
	GString *s = g_string_new(NULL);
	for (const char *p = value; *p; p++) {
		if (*p == ',')
			g_string_append_c(s, ',');
		g_string_append_c(s, *p);
	}
	return g_string_free(s, FALSE);
}

static void add(GPtrArray *a, const char *arg)
{
	g_ptr_array_add(a, g_strdup(arg));
}

static void addf(GPtrArray *a, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static void addf(GPtrArray *a, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	g_ptr_array_add(a, g_strdup_vprintf(fmt, ap));
	va_end(ap);
}

/* The guest's address of NIC @i, or NULL when the guest configures nothing. */
static const char *nic_address(const GvSpec *spec, const GvHostFacts *facts, guint i)
{
	const GvNic *n = g_ptr_array_index(spec->nics, i);
	if (n->address)
		return n->address;
	return facts->nics ? facts->nics[i].address : NULL;
}

/*
 * grainvm.net=MAC:ADDR/PREFIX:GATEWAY:DNS[:MTU] per configured NIC, the MAC
 * written with '-' since ':' separates the fields.  Only the first NIC
 * with a gateway gets it: there is one default route.
 */
static void append_net_params(GString *s, const GvSpec *spec, const GvHostFacts *facts)
{
	gboolean routed = FALSE;
	for (guint i = 0; i < spec->nics->len; i++) {
		const GvNic *n = g_ptr_array_index(spec->nics, i);
		const char *addr = nic_address(spec, facts, i);
		if (!addr)
			continue;
		g_autofree char *mac = g_strdelimit(g_strdup(n->mac), ":", '-');
		const char *gw = n->gateway && !routed ? n->gateway : "";
		routed = routed || *gw;
		g_string_append_printf(s, " grainvm.net=%s:%s:%s", mac, addr, gw);
		if (n->dns || n->mtu)
			g_string_append_printf(s, ":%s", n->dns ? n->dns : "");
		if (n->mtu)
			g_string_append_printf(s, ":%u", n->mtu);
	}
}

char *gv_kernel_cmdline(const GvSpec *spec, const GvHostFacts *facts)
{
	GString *s = g_string_new(NULL);
	if (facts->nixos_toplevel) {
		/*
		 * NixOS's stage 1 finds stage 2 in init=; its own parameters go
		 * first, as nixpkgs' qemu-vm.nix puts them, so that grainvm's
		 * console=ttyS0 comes later and is the one /dev/console gets.
		 */
		if (facts->nixos_params && *facts->nixos_params)
			g_string_append_printf(s, "%s ", facts->nixos_params);
		g_string_append_printf(s, "init=%s/init ", facts->nixos_toplevel);
	}
	g_string_append(s, "console=ttyS0");
	/*
	 * panic=-1 reboots at once on a panic; with -no-reboot QEMU then
	 * exits instead of sitting in a dead guest until the ready timeout.
	 */
	g_string_append(s, " panic=-1");
	if (facts->grainvm_init) {
		g_string_append_printf(s, " grainvm.hostname=%s", spec->name);
		for (guint i = 0; i < spec->shares->len; i++) {
			const GvShare *sh = g_ptr_array_index(spec->shares, i);
			g_string_append_printf(s, " grainvm.mount=%s:%s:msize=%" G_GUINT64_FORMAT
					       ",cache=%s%s", sh->tag, sh->mount, sh->msize,
					       sh->cache, sh->readonly ? ",ro" : "");
		}
		append_net_params(s, spec, facts);
	}
	if (spec->cmdline && *spec->cmdline)
		g_string_append_printf(s, " %s", spec->cmdline);
	return g_string_free(s, FALSE);
}

static void add_chardev(GPtrArray *a, const char *id, int fd)
{
	add(a, "-chardev");
	addf(a, "socket,id=%s,fd=%d,server=on,wait=off", id, fd);
}

static void add_nic(GPtrArray *a, const GvNic *n, const GvNicFacts *nf)
{
	GString *nd = g_string_new(NULL);
	switch (n->mode) {
	case GV_NET_USER:
		g_string_printf(nd, "user,id=%s", n->netdev);
		for (guint i = 0; i < n->forwards->len; i++) {
			const GvForward *f = g_ptr_array_index(n->forwards, i);
			g_string_append_printf(nd, ",hostfwd=%s:%s:%u-:%u", f->proto, f->host_addr,
					       f->host_port, f->guest_port);
		}
		break;
	case GV_NET_BRIDGE:
		if (nf && nf->fd >= 0) {
			g_string_printf(nd, "tap,id=%s,fd=%d", n->netdev, nf->fd);
		} else {
			g_autofree char *br = opt_escape(n->bridge);
			g_string_printf(nd, "bridge,id=%s,br=%s", n->netdev, br);
			if (nf && nf->helper) {
				g_autofree char *helper = opt_escape(nf->helper);
				g_string_append_printf(nd, ",helper=%s", helper);
			}
		}
		break;
	case GV_NET_SWITCH:
		/* A connected unix socket: QEMU frames each packet with a 4-byte length. */
		g_string_printf(nd, "stream,id=%s,server=off,addr.type=fd,addr.str=%d", n->netdev,
				nf ? nf->fd : -1);
		break;
	case GV_NET_NONE:
		g_string_free(nd, TRUE);
		return;
	}
	add(a, "-netdev");
	g_ptr_array_add(a, g_string_free(nd, FALSE));
	add(a, "-device");
	addf(a, "virtio-net-pci,netdev=%s,mac=%s", n->netdev, n->mac);
}

/* fd sets (files_by_fd), see gv_qemu_block_fds(). */
enum { SET_OVMF_CODE = 1, SET_OVMF_VARS = 2, SET_SEED = 3, SET_DISK_BASE = 4 };

GArray *gv_qemu_block_fds(const GvHostFacts *facts)
{
	GArray *fds = g_array_new(FALSE, FALSE, sizeof(GvBlockFd));
	if (!facts->files_by_fd)
		return fds;
	int next = GV_FD_BLOCK_BASE;
	if (facts->firmware == GV_FIRMWARE_UEFI) {
		GvBlockFd code = { next++, SET_OVMF_CODE, facts->ovmf_code, FALSE };
		GvBlockFd vars = { next++, SET_OVMF_VARS, facts->ovmf_vars, TRUE };
		/* QEMU 7.2 opens a pflash -drive read-only first: "Could not dup
		 * FD for /dev/fdset/2 flags 0" without this one. */
		GvBlockFd vars_ro = { next++, SET_OVMF_VARS, facts->ovmf_vars, FALSE };
		g_array_append_val(fds, code);
		g_array_append_val(fds, vars);
		g_array_append_val(fds, vars_ro);
	}
	if (facts->seed) {
		GvBlockFd seed = { next++, SET_SEED, facts->seed, FALSE };
		g_array_append_val(fds, seed);
	}
	for (guint i = 0; facts->disk && i < facts->disk_chain_len; i++) {
		const GvDiskLayer *l = &facts->disk_chain[i];
		GvBlockFd b = { next++, SET_DISK_BASE + i, l->path, i == 0 };
		g_array_append_val(fds, b);
		if (i == 0) {
			GvBlockFd ro = { next++, SET_DISK_BASE, l->path, FALSE };
			g_array_append_val(fds, ro);
		}
	}
	/* prepare.c refuses a longer chain (GV_DISK_LAYERS_MAX). */
	g_assert(next <= GV_FD_KERNEL);
	return fds;
}

/*
 * The disk as an explicit chain of fd sets, the last base first: every
 * layer is its own file node on /dev/fdset/N and names its backing node,
 * so QEMU never opens a backing file named in a header by path (it could
 * not: it runs as another user).  The top layer keeps the names the
 * rest of grainvm uses (disk0, disk0-file); below it disk0-b1, -b2...
 */
static void add_disk_chain(GPtrArray *a, const GvHostFacts *facts)
{
	for (guint i = facts->disk_chain_len; i-- > 0;) {
		const GvDiskLayer *l = &facts->disk_chain[i];
		g_autofree char *node = i ? g_strdup_printf("disk0-b%u", i) : g_strdup("disk0");
		g_autofree char *backing = i + 1 < facts->disk_chain_len
			? g_strdup_printf(",backing=disk0-b%u", i + 1) : g_strdup("");
		const char *ro = i ? ",read-only=on" : "";
		add(a, "-blockdev");
		addf(a, "driver=file,node-name=%s-file,filename=/dev/fdset/%u%s", node,
		     SET_DISK_BASE + i, ro);
		add(a, "-blockdev");
		addf(a, "driver=%s,node-name=%s,file=%s-file%s%s", l->format, node, node, backing, ro);
	}
}

char **gv_qemu_argv(const GvSpec *spec, const GvHostFacts *facts)
{
	GPtrArray *a = g_ptr_array_new();

	add(a, facts->qemu);
	add(a, "-name");
	{
		g_autofree char *n = opt_escape(spec->name);
		addf(a, "%s", n);
	}
	add(a, "-machine");
	if (facts->ram_file)
		addf(a, "%s,memory-backend=ram", spec->machine);
	else
		add(a, spec->machine);
	add(a, "-accel");
	add(a, facts->accel == GV_ACCEL_KVM ? "kvm" : "tcg");
	add(a, "-cpu");
	add(a, spec->cpu ? spec->cpu : facts->accel == GV_ACCEL_KVM ? "host" : "max");
	add(a, "-m");
	addf(a, "%" G_GUINT64_FORMAT "M", spec->memory / (1024 * 1024));
	add(a, "-smp");
	addf(a, "%u", spec->cpus);
	if (facts->ram_file) {
		/*
		 * No prealloc, no hugepages: tmpfs gives pages as the guest
		 * touches them.  share=off is a MAP_PRIVATE mapping: a clone's
		 * writes go to its own pages, never to the file.
		 */
		g_autofree char *path = opt_escape(facts->ram_file);
		add(a, "-object");
		addf(a, "memory-backend-file,id=ram,size=%" G_GUINT64_FORMAT "M,mem-path=%s,share=%s",
		     spec->memory / (1024 * 1024), path, facts->ram_shared ? "on" : "off");
	}
	add(a, "-nodefaults");
	add(a, "-no-user-config");
	add(a, "-display");
	add(a, "none");
	add(a, "-no-reboot");
	add(a, "-S");
	add(a, "-msg");
	add(a, "timestamp=on");
	/*
	 * QEMU's seccomp filter: no obsolete system calls, no setuid/setgid
	 * (QEMU never needs to change its identity: grainvm drops privileges
	 * before the exec), no fork or exec (the bridge helper is run by the
	 * supervisor instead), no changes to scheduling or CPU affinity.  A
	 * guest that takes over QEMU gets only what a VMM needs.
	 */
	if (!facts->no_sandbox) {
		add(a, "-sandbox");
		add(a, "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny");
	}

	if (facts->files_by_fd) {
		g_autoptr(GArray) fds = gv_qemu_block_fds(facts);
		for (guint i = 0; i < fds->len; i++) {
			const GvBlockFd *b = &g_array_index(fds, GvBlockFd, i);
			/* opaque: what query-fdsets shows, for whoever debugs this */
			g_autofree char *what = opt_escape(b->path);
			add(a, "-add-fd");
			addf(a, "fd=%d,set=%u,opaque=%s%s", b->fd, b->set, b->writable ? "rw:" : "ro:",
			     what);
		}
	}

	if (facts->firmware == GV_FIRMWARE_UEFI) {
		g_autofree char *code = facts->files_by_fd ? g_strdup_printf("/dev/fdset/%u", SET_OVMF_CODE)
							   : opt_escape(facts->ovmf_code);
		g_autofree char *vars = facts->files_by_fd ? g_strdup_printf("/dev/fdset/%u", SET_OVMF_VARS)
							   : opt_escape(facts->ovmf_vars);
		add(a, "-drive");
		addf(a, "if=pflash,format=raw,unit=0,readonly=on,file=%s", code);
		add(a, "-drive");
		addf(a, "if=pflash,format=raw,unit=1,file=%s", vars);
	}

	/* Control plane: QMP, console, agents. */
	add_chardev(a, "qmp", GV_FD_QMP);
	add(a, "-mon");
	add(a, "chardev=qmp,mode=control");
	add_chardev(a, "console", GV_FD_CONSOLE);
	add(a, "-serial");
	add(a, "chardev:console");
	add(a, "-device");
	add(a, "virtio-serial-pci,id=vser0");
	add_chardev(a, "agent", GV_FD_AGENT);
	add(a, "-device");
	add(a, "virtserialport,bus=vser0.0,nr=1,chardev=agent,id=agent0,name=" GV_AGENT_PORT);
	add_chardev(a, "qga", GV_FD_QGA);
	add(a, "-device");
	add(a, "virtserialport,bus=vser0.0,nr=2,chardev=qga,id=qga0,name=" GV_QGA_PORT);
	add(a, "-device");
	add(a, "pvpanic-pci");

	if (facts->disk && facts->files_by_fd) {
		add_disk_chain(a, facts);
		add(a, "-device");
		add(a, "virtio-blk-pci,drive=disk0,id=disk0-dev,bootindex=1");
	} else if (facts->disk) {
		g_autofree char *disk = opt_escape(facts->disk);
		add(a, "-blockdev");
		addf(a, "driver=file,node-name=disk0-file,filename=%s", disk);
		add(a, "-blockdev");
		add(a, "driver=qcow2,node-name=disk0,file=disk0-file");
		add(a, "-device");
		add(a, "virtio-blk-pci,drive=disk0,id=disk0-dev,bootindex=1");
	}
	if (facts->seed) {
		/* Read-only: the seed is shared by every boot of this VM. */
		g_autofree char *seed = facts->files_by_fd ? g_strdup_printf("/dev/fdset/%u", SET_SEED)
							   : opt_escape(facts->seed);
		add(a, "-blockdev");
		addf(a, "driver=file,node-name=seed0-file,filename=%s,read-only=on", seed);
		add(a, "-blockdev");
		add(a, "driver=raw,node-name=seed0,file=seed0-file,read-only=on");
		add(a, "-device");
		add(a, "virtio-blk-pci,drive=seed0,id=seed0-dev");
	}

	for (guint i = 0; i < spec->shares->len; i++) {
		const GvShare *sh = g_ptr_array_index(spec->shares, i);
		g_autofree char *src = facts->files_by_fd
			? g_strdup_printf("/proc/self/fd/%u", GV_FD_SHARE_BASE + i)
			: opt_escape(sh->source);
		add(a, "-fsdev");
		addf(a, "local,id=fs-%s,path=%s,security_model=%s%s", sh->id, src, sh->security,
		     sh->readonly ? ",readonly=on" : "");
		add(a, "-device");
		addf(a, "virtio-9p-pci,fsdev=fs-%s,mount_tag=%s", sh->id, sh->tag);
	}

	for (guint i = 0; i < spec->nics->len; i++)
		add_nic(a, g_ptr_array_index(spec->nics, i), facts->nics ? &facts->nics[i] : NULL);

	if (facts->kernel) {
		add(a, "-kernel");
		if (facts->files_by_fd)
			addf(a, "/proc/self/fd/%d", GV_FD_KERNEL);
		else
			add(a, facts->kernel);
		if (facts->initrd) {
			add(a, "-initrd");
			if (facts->files_by_fd)
				addf(a, "/proc/self/fd/%d", GV_FD_INITRD);
			else
				add(a, facts->initrd);
		}
		add(a, "-append");
		g_ptr_array_add(a, gv_kernel_cmdline(spec, facts));
	}

	if (facts->incoming) {
		/*
		 * A snapshot's state, decompressed by the supervisor into a pipe on
		 * GV_FD_INCOMING.  Deferred: the supervisor first turns on
		 * migration events (to learn when the load is complete), then
		 * sends migrate-incoming "fd:7".  Everything above must be what it
		 * was at the save: QEMU loads device state into the devices this
		 * command line creates.
		 */
		add(a, "-incoming");
		add(a, "defer");
	}

	g_ptr_array_add(a, NULL);
	return (char **)g_ptr_array_free(a, FALSE);
}

GArray *gv_qemu_fd_files(const GvSpec *spec, const GvHostFacts *facts)
{
	GArray *files = g_array_new(FALSE, FALSE, sizeof(GvQemuFile));
	if (!facts->files_by_fd)
		return files;
	if (facts->kernel) {
		GvQemuFile f = { GV_FD_KERNEL, facts->kernel, FALSE, FALSE };
		g_array_append_val(files, f);
	}
	if (facts->kernel && facts->initrd) {
		GvQemuFile f = { GV_FD_INITRD, facts->initrd, FALSE, FALSE };
		g_array_append_val(files, f);
	}
	for (guint i = 0; i < spec->shares->len; i++) {
		const GvShare *sh = g_ptr_array_index(spec->shares, i);
		GvQemuFile f = { GV_FD_SHARE_BASE + (int)i, sh->source, TRUE, FALSE };
		g_array_append_val(files, f);
	}
	g_autoptr(GArray) block = gv_qemu_block_fds(facts);
	for (guint i = 0; i < block->len; i++) {
		const GvBlockFd *b = &g_array_index(block, GvBlockFd, i);
		GvQemuFile f = { b->fd, b->path, FALSE, b->writable };
		g_array_append_val(files, f);
	}
	return files;
}
