/* SPDX-License-Identifier: MIT */
/*
 * quiesce.c - grain-quiesce and grain-thaw: make the guest fit to have its
 * whole state saved, and bring it back afterwards
 *
 * QEMU refuses to migrate (which is how grainvm saves a VM) while any 9p
 * export is mounted in the guest: the 9p server's state, its open fids,
 * is not migratable.  So before a save the agent syncs and unmounts every
 * 9p mount, remembering each one's tag, mount point, options and flags;
 * after the save, or after a restore in a new QEMU, grain-thaw mounts
 * them again in the same order and sets the clock the host passes.
 *
 * The list lives in this process's memory, which is part of the saved
 * RAM: a guest restored from the snapshot still knows what to remount,
 * however many times it is restored.  Mount options are taken from
 * /proc/self/mountinfo, whose superblock options the kernel writes in a
 * form its own option parser accepts (show_options is meant for that), so
 * mounts the user made by hand come back the same way as grainvm's own.
 *
 * A restored guest also carries the saved kernel RNG state: every restore
 * of one snapshot (and every clone of one template) would hand out the
 * same "random" bytes, keys and ids.  So grain-thaw takes the host's
 * randomness ("entropy") and mixes it into the guest's pool, crediting it
 * (RNDADDENTROPY) and forcing the kernel's CRNG to reseed from the pool at
 * once (RNDRESEEDCRNG) before the host is told the guest is ready.
 *
 * A clone of a template (the host's "clones") is also told who it is now:
 * "hostname", the MACs of its NICs ("macs": the migrated device state
 * holds the template's) and the addresses that differ ("net", as
 * grainvm.net=).  Each step can be repeated, so the host may send the
 * same thaw again; what fails is reported as "identity-error".
 *
 * A mount that cannot be unmounted (a process has its working directory
 * or a file there) fails the whole quiesce: the mounts already unmounted
 * by this call are mounted again, so the guest is left as it was, and the
 * error names one process in the way.
 */
#include "quiesce.h"

#include <dirent.h>
#include <stdbool.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "mounts.h"
#include "net.h"
#include "util.h"

/*
 * linux/random.h's ioctls, spelled out: the agent builds against musl's
 * headers alone.  RNDADDENTROPY takes struct rand_pool_info (two ints,
 * then the bytes); RNDRESEEDCRNG (Linux 4.17) reseeds the CRNG from the
 * input pool now instead of at its next interval.
 */
#define GV_RNDADDENTROPY _IOW('R', 0x03, int[2])
#define GV_RNDRESEEDCRNG _IO('R', 0x07)
/* The host sends 64 bytes (512 bits, twice a CRNG key); more is refused. */
#define ENTROPY_MAX 256

/* As many as grain-status tracks; a guest with more 9p mounts is refused. */
#define FROZEN_MAX MOUNTS_MAX

struct frozen {
	char tag[64];
	char path[256];
	char data[512];       /* superblock options without rw/ro */
	unsigned long flags;  /* MS_* from the per-mount options */
};

static struct frozen frozen[FROZEN_MAX];
static int nfrozen;

bool quiesce_active(void)
{
	return nfrozen > 0;
}

/* Superblock options minus rw/ro, which mount(2) takes as a flag. */
static int data_of(const char *super_opts, char *out, size_t size)
{
	char opts[512], *save = NULL;
	size_t len = 0;

	if (snprintf(opts, sizeof(opts), "%s", super_opts) >= (int)sizeof(opts))
		return -E2BIG;
	out[0] = '\0';
	for (char *o = strtok_r(opts, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
		if (strcmp(o, "rw") == 0 || strcmp(o, "ro") == 0)
			continue;
		int n = snprintf(out + len, size - len, "%s%s", len ? "," : "", o);
		if (n < 0 || (size_t)n >= size - len)
			return -E2BIG;
		len += (size_t)n;
	}
	return 0;
}

struct collect {
	struct frozen list[FROZEN_MAX];
	int n;
	int err;
};

static int collect_cb(const struct mnt_entry *e, void *opaque)
{
	struct collect *c = opaque;
	struct frozen *f;

	if (strcmp(e->fstype, "9p") != 0)
		return 0;
	if (c->n == FROZEN_MAX) {
		c->err = -E2BIG;
		return 1;
	}
	f = &c->list[c->n];
	if (snprintf(f->tag, sizeof(f->tag), "%s", e->source) >= (int)sizeof(f->tag) ||
	    snprintf(f->path, sizeof(f->path), "%s", e->mount_point) >= (int)sizeof(f->path) ||
	    data_of(e->super_opts, f->data, sizeof(f->data)) < 0) {
		c->err = -ENAMETOOLONG;
		return 1;
	}
	f->flags = mount_flags_of(e->mount_opts);
	c->n++;
	return 0;
}

struct present {
	const struct frozen *f;
	bool found;
};

static int present_cb(const struct mnt_entry *e, void *opaque)
{
	struct present *p = opaque;

	if (strcmp(e->fstype, "9p") == 0 && strcmp(e->source, p->f->tag) == 0 &&
	    strcmp(e->mount_point, p->f->path) == 0)
		p->found = true;
	return p->found;
}

static int remount(const struct frozen *f)
{
	struct present p = { .f = f };
	int rc;

	/* Mounted again by hand in the meantime: do not stack a second one. */
	mountinfo_foreach(present_cb, &p);
	if (p.found)
		return 0;
	rc = mkdir_p(f->path, 0755);
	if (rc < 0)
		return rc;
	if (mount(f->tag, f->path, "9p", f->flags, f->data) < 0)
		return -errno;
	return 0;
}

/* Does the link @pid/@what point at @path or below it? */
static bool link_under(const char *pid, const char *what, const char *path)
{
	char link[300], target[512];
	size_t plen = strlen(path);
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/%s/%s", pid, what);
	n = readlink(link, target, sizeof(target) - 1);
	if (n < 0)
		return false;
	target[n] = '\0';
	return strncmp(target, path, plen) == 0 && (target[plen] == '\0' || target[plen] == '/');
}

/*
 * Name one process that keeps @path busy (cwd, root, executable or an open
 * file), for the error message.  Bounded: it stops at the first match and
 * looks at no more than 1024 descriptors of a process.
 */
static void find_user(const char *path, char *out, size_t size)
{
	DIR *proc = opendir("/proc");
	struct dirent *de;

	out[0] = '\0';
	if (!proc)
		return;
	while (!out[0] && (de = readdir(proc))) {
		char fddir[300], comm[64] = "?";
		bool hit;
		DIR *fds;
		struct dirent *fe;
		int seen = 0;

		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		hit = link_under(de->d_name, "cwd", path) || link_under(de->d_name, "root", path) ||
		      link_under(de->d_name, "exe", path);
		snprintf(fddir, sizeof(fddir), "/proc/%s/fd", de->d_name);
		fds = hit ? NULL : opendir(fddir);
		while (fds && !hit && seen++ < 1024 && (fe = readdir(fds))) {
			char what[300];
			if (fe->d_name[0] == '.')
				continue;
			snprintf(what, sizeof(what), "fd/%s", fe->d_name);
			hit = link_under(de->d_name, what, path);
		}
		if (fds)
			closedir(fds);
		if (!hit)
			continue;
		snprintf(fddir, sizeof(fddir), "/proc/%s/comm", de->d_name);
		read_file(fddir, comm, sizeof(comm));
		snprintf(out, size, "; pid %.20s (%.63s) uses it", de->d_name, trim(comm));
	}
	closedir(proc);
}

static void write_frozen(struct jw *w, const struct frozen *list, int n)
{
	jw_arr_open(w);
	for (int i = 0; i < n; i++) {
		jw_obj_open(w);
		jw_kstr(w, "tag", list[i].tag);
		jw_kstr(w, "mount-point", list[i].path);
		jw_obj_close(w);
	}
	jw_arr_close(w);
}

int cmd_grain_quiesce(struct req *r)
{
	struct collect c = { .n = 0 };
	int rc, i;

	if (req_check_args(r, NULL, 0) < 0)
		return -1;
	/* The disk's dirty pages are in RAM and would be saved with it
	 * anyway; syncing makes the disk image alone consistent too. */
	sync();
	rc = mountinfo_foreach(collect_cb, &c);
	if (rc < 0)
		return req_error(r, "GenericError", "cannot read /proc/self/mountinfo: %s",
				 strerror(-rc));
	if (c.err == -E2BIG)
		return req_error(r, "GenericError", "more than %d 9p mounts", FROZEN_MAX);
	if (c.err < 0)
		return req_error(r, "GenericError", "a 9p mount's tag, path or options are too long");
	if (nfrozen + c.n > FROZEN_MAX)
		return req_error(r, "GenericError", "more than %d 9p mounts", FROZEN_MAX);

	/* Newest first: a mount on top of another goes before it. */
	for (i = c.n - 1; i >= 0; i--) {
		if (umount2(c.list[i].path, 0) == 0)
			continue;
		int err = errno;
		char who[128];

		find_user(c.list[i].path, who, sizeof(who));
		/* Leave the guest as it was: mount back what this call took. */
		for (int j = i + 1; j < c.n; j++) {
			rc = remount(&c.list[j]);
			if (rc < 0)
				log_msg("remount %s on %s: %s", c.list[j].tag, c.list[j].path,
					strerror(-rc));
		}
		return req_error(r, "GenericError", "cannot unmount %s (9p tag %s): %s%s",
				 c.list[i].path, c.list[i].tag, strerror(err), who);
	}
	/* A second quiesce (a retried save) adds what was mounted since. */
	memcpy(&frozen[nfrozen], c.list, sizeof(c.list[0]) * (size_t)c.n);
	nfrozen += c.n;

	jw_obj_open(r->w);
	jw_key(r->w, "unmounted");
	write_frozen(r->w, frozen, nfrozen);
	jw_obj_close(r->w);
	return 0;
}

/*
 * Mix @n bytes of the host's randomness into the kernel's pool and reseed
 * the CRNG from it.  Without CAP_SYS_ADMIN (service mode) the bytes are
 * still mixed in by a plain write, uncredited, and the CRNG picks them up
 * at its next reseed; @err says so.
 */
static void mix_entropy(const unsigned char *bytes, size_t n, char *err, size_t errsize)
{
	struct {
		int entropy_count;
		int buf_size;
		unsigned char buf[ENTROPY_MAX];
	} info;
	int fd = open("/dev/urandom", O_WRONLY | O_CLOEXEC);

	if (fd < 0) {
		snprintf(err, errsize, "/dev/urandom: %s", strerror(errno));
		return;
	}
	info.entropy_count = (int)(n * 8);
	info.buf_size = (int)n;
	memcpy(info.buf, bytes, n);
	if (ioctl(fd, GV_RNDADDENTROPY, &info) < 0) {
		int e = errno;

		if (write(fd, bytes, n) != (ssize_t)n)
			snprintf(err, errsize, "cannot add entropy: %s", strerror(errno));
		else
			snprintf(err, errsize, "entropy mixed in, not credited: %s", strerror(e));
	} else if (ioctl(fd, GV_RNDRESEEDCRNG) < 0) {
		snprintf(err, errsize, "entropy added, CRNG not reseeded: %s", strerror(errno));
	}
	explicit_bzero(&info, sizeof(info));
	close(fd);
}

/* A hostname: 1-64 bytes of letters, digits, '-', '_' and '.' (a grainvm VM name is). */
static bool hostname_ok(const char *s, size_t len)
{
	if (len == 0 || len > 64)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_' || s[i] == '.'))
			return false;
	return true;
}

/* The clone's identity: hostname, MACs, addresses; the first failure into @err. */
static void set_identity(struct req *r, char *err, size_t errsize)
{
	const struct json *h = req_arg(r, "hostname");
	const struct json *macs = req_arg(r, "macs");
	const struct json *nets = req_arg(r, "net");
	int rc;

	if (h && sethostname(h->u.str.s, h->u.str.len) < 0 && !err[0])
		snprintf(err, errsize, "sethostname %s: %s", h->u.str.s, strerror(errno));
	for (const struct json *m = macs ? macs->u.kids.first : NULL; m; m = m->next) {
		char pair[64], *eq;

		if (snprintf(pair, sizeof(pair), "%s", m->u.str.s) >= (int)sizeof(pair) ||
		    !(eq = strchr(pair, '='))) {
			if (!err[0])
				snprintf(err, errsize, "macs: \"%.40s\" is not OLD=NEW", m->u.str.s);
			continue;
		}
		*eq = '\0';
		rc = net_set_mac(pair, eq + 1);
		if (rc < 0 && !err[0])
			snprintf(err, errsize, "cannot change MAC %s to %s: %s", pair, eq + 1,
				 strerror(-rc));
	}
	for (const struct json *n = nets ? nets->u.kids.first : NULL; n; n = n->next) {
		rc = net_configure(n->u.str.s);
		if (rc < 0 && !err[0])
			snprintf(err, errsize, "net %.80s: %s", n->u.str.s, strerror(-rc));
	}
}

int cmd_grain_thaw(struct req *r)
{
	static const struct arg_spec spec[] = {
		{ "time-ns", ARG_INT, true },
		{ "entropy", ARG_STR, true },
		{ "hostname", ARG_STR, true },
		{ "macs", ARG_STRLIST, true },
		{ "net", ARG_STRLIST, true },
	};
	char clock_err[128] = "";
	char entropy_err[128] = "";
	char identity_err[160] = "";

	if (req_check_args(r, spec, ARRAY_SIZE(spec)) < 0)
		return -1;
	int64_t ns = req_int(r, "time-ns", -1);
	if (req_arg(r, "time-ns") && ns <= 0)
		return req_error(r, "GenericError", "Parameter 'time-ns' must be positive");
	const struct json *h = req_arg(r, "hostname");
	if (h && !hostname_ok(h->u.str.s, h->u.str.len))
		return req_error(r, "GenericError",
				 "Parameter 'hostname' must be 1-64 of A-Z a-z 0-9 - _ .");
	const struct json *macs = req_arg(r, "macs"), *nets = req_arg(r, "net");
	if ((macs && macs->u.kids.count > NET_MAX) || (nets && nets->u.kids.count > NET_MAX))
		return req_error(r, "GenericError", "Parameters 'macs' and 'net' take at most %d",
				 NET_MAX);
	const struct json *ent = req_arg(r, "entropy");
	if (ent) {
		/* Bounded before decoding: base64 is 4 characters per 3 bytes. */
		if (ent->u.str.len > (ENTROPY_MAX + 2) / 3 * 4)
			return req_error(r, "GenericError",
					 "Parameter 'entropy' must be 1-%d bytes of base64",
					 ENTROPY_MAX);
		/* The request text is ours until the reply is sent: decode in place. */
		ssize_t n = b64_decode(ent->u.str.s, ent->u.str.len);
		if (n <= 0 || n > ENTROPY_MAX)
			return req_error(r, "GenericError",
					 "Parameter 'entropy' must be 1-%d bytes of base64",
					 ENTROPY_MAX);
		mix_entropy((const unsigned char *)ent->u.str.s, (size_t)n, entropy_err,
			    sizeof(entropy_err));
		explicit_bzero(ent->u.str.s, (size_t)n);
	}

	/* The clock first, so that the remounts and anything after see the
	 * host's time rather than the time the snapshot was taken. */
	if (ns > 0) {
		struct timespec ts = { .tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000 };
		if (clock_settime(CLOCK_REALTIME, &ts) < 0)
			snprintf(clock_err, sizeof(clock_err), "%s", strerror(errno));
	}
	/* Who the guest is, before the shares come back and the host calls it ready. */
	set_identity(r, identity_err, sizeof(identity_err));
	for (int i = 0; i < nfrozen; i++) {
		int rc = remount(&frozen[i]);
		if (rc < 0)
			log_msg("remount %s on %s: %s", frozen[i].tag, frozen[i].path, strerror(-rc));
	}
	nfrozen = 0;
	/* Expected shares that are still missing get another try, and their
	 * error shows in the status below. */
	mounts_mount_all();

	jw_obj_open(r->w);
	grain_status_members(r->w);
	if (clock_err[0])
		jw_kstr(r->w, "clock-error", clock_err);
	if (entropy_err[0])
		jw_kstr(r->w, "entropy-error", entropy_err);
	if (identity_err[0])
		jw_kstr(r->w, "identity-error", identity_err);
	jw_obj_close(r->w);
	return 0;
}
