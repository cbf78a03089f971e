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
 */
#include "argv.h"

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

char *gv_kernel_cmdline(const GvSpec *spec, const GvHostFacts *facts)
{
	GString *s = g_string_new("console=ttyS0");
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
		if (spec->net_mode == GV_NET_USER)
			/* libslirp's fixed addresses: guest .15, gateway .2, DNS .3 */
			g_string_append(s, " grainvm.net=eth0:10.0.2.15/24:10.0.2.2:10.0.2.3");
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
	add(a, spec->machine);
	add(a, "-accel");
	add(a, facts->accel == GV_ACCEL_KVM ? "kvm" : "tcg");
	add(a, "-cpu");
	add(a, facts->accel == GV_ACCEL_KVM ? "host" : "max");
	add(a, "-m");
	addf(a, "%" G_GUINT64_FORMAT "M", spec->memory / (1024 * 1024));
	add(a, "-smp");
	addf(a, "%u", spec->cpus);
	add(a, "-nodefaults");
	add(a, "-no-user-config");
	add(a, "-display");
	add(a, "none");
	add(a, "-no-reboot");
	add(a, "-S");
	add(a, "-msg");
	add(a, "timestamp=on");

	if (facts->firmware == GV_FIRMWARE_UEFI) {
		g_autofree char *code = opt_escape(facts->ovmf_code);
		g_autofree char *vars = opt_escape(facts->ovmf_vars);
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

	if (facts->disk) {
		g_autofree char *disk = opt_escape(facts->disk);
		add(a, "-blockdev");
		addf(a, "driver=file,node-name=disk0-file,filename=%s", disk);
		add(a, "-blockdev");
		add(a, "driver=qcow2,node-name=disk0,file=disk0-file");
		add(a, "-device");
		add(a, "virtio-blk-pci,drive=disk0,id=disk0-dev,bootindex=1");
	}

	for (guint i = 0; i < spec->shares->len; i++) {
		const GvShare *sh = g_ptr_array_index(spec->shares, i);
		g_autofree char *src = opt_escape(sh->source);
		add(a, "-fsdev");
		addf(a, "local,id=fs-%s,path=%s,security_model=%s%s", sh->id, src, sh->security,
		     sh->readonly ? ",readonly=on" : "");
		add(a, "-device");
		addf(a, "virtio-9p-pci,fsdev=fs-%s,mount_tag=%s", sh->id, sh->tag);
	}

	if (spec->net_mode == GV_NET_USER) {
		GString *nd = g_string_new("user,id=net0");
		for (guint i = 0; i < spec->forwards->len; i++) {
			const GvForward *f = g_ptr_array_index(spec->forwards, i);
			g_string_append_printf(nd, ",hostfwd=%s:%s:%u-:%u", f->proto, f->host_addr,
					       f->host_port, f->guest_port);
		}
		add(a, "-netdev");
		g_ptr_array_add(a, g_string_free(nd, FALSE));
		g_autofree char *mac = gv_mac_for_name(spec->name);
		add(a, "-device");
		addf(a, "virtio-net-pci,netdev=net0,mac=%s", mac);
	}

	if (facts->kernel) {
		add(a, "-kernel");
		add(a, facts->kernel);
		if (facts->initrd) {
			add(a, "-initrd");
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
