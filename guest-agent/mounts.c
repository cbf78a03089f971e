/* SPDX-License-Identifier: MIT */
/*
 * mounts.c - expected 9p shares: mount (init mode) and status
 *
 * The status is read back from /proc/self/mountinfo rather than
 * remembered from mount(2), so grain-status also tells the truth after a
 * user unmounted or remounted a share from the console shell, and in
 * service mode, where the distribution (fstab, systemd) mounts them.
 */
#include "mounts.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "agent.h"
#include "util.h"

/* Thousands of mounts; far more than a grainvm guest has. */
#define MOUNTINFO_MAX (4u << 20)

struct share {
	char tag[64];
	char path[256];
	char opts[256];
	int err;        /* -errno of the last mount attempt, 0 if none failed */
};

static struct share shares[MOUNTS_MAX];
static int nshares;

static void normalize_path(char *p)
{
	size_t n = strlen(p);

	while (n > 1 && p[n - 1] == '/')
		p[--n] = '\0';
}

/* One share from its parts; the same tag and path again only updates the options. */
static int declare(const char *tag, size_t tag_len, const char *path, size_t path_len,
		   const char *opts)
{
	struct share n = { 0 };

	if (tag_len == 0 || tag_len >= sizeof(n.tag) || memchr(tag, ':', tag_len))
		return -EINVAL;
	if (path_len == 0 || path_len >= sizeof(n.path) || path[0] != '/')
		return -EINVAL;
	if (opts && snprintf(n.opts, sizeof(n.opts), "%s", opts) >= (int)sizeof(n.opts))
		return -EINVAL;
	memcpy(n.tag, tag, tag_len);
	memcpy(n.path, path, path_len);
	normalize_path(n.path);
	for (int i = 0; i < nshares; i++) {
		if (strcmp(shares[i].tag, n.tag) == 0 && strcmp(shares[i].path, n.path) == 0) {
			memcpy(shares[i].opts, n.opts, sizeof(n.opts));
			return i;
		}
	}
	if (nshares == MOUNTS_MAX)
		return -ENOSPC;
	shares[nshares] = n;
	return nshares++;
}

int mounts_add(const char *spec)
{
	const char *c1 = strchr(spec, ':'), *c2;

	if (!c1 || c1 == spec)
		return -EINVAL;
	c2 = strchr(c1 + 1, ':');
	size_t plen = c2 ? (size_t)(c2 - c1 - 1) : strlen(c1 + 1);
	int rc = declare(spec, (size_t)(c1 - spec), c1 + 1, plen, c2 ? c2 + 1 : NULL);
	return rc < 0 ? rc : 0;
}

bool opt_has(const char *opts, const char *opt)
{
	size_t n = strlen(opt);

	for (const char *p = opts; p && *p;) {
		const char *e = strchr(p, ',');
		size_t l = e ? (size_t)(e - p) : strlen(p);
		if (l == n && strncmp(p, opt, n) == 0)
			return true;
		p = e ? e + 1 : NULL;
	}
	return false;
}

int mountinfo_foreach(int (*fn)(const struct mnt_entry *e, void *opaque),
		      void *opaque)
{
	char *text, *save = NULL;
	ssize_t n = read_file_alloc("/proc/self/mountinfo", MOUNTINFO_MAX, &text);

	if (n < 0)
		return (int)n;
	for (char *line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		/* id parent maj:min root mount-point mount-opts [tags...] -
		 * fstype source super-opts */
		char *f[6], *p = line, *sp;
		struct mnt_entry e = { 0 };
		int i;

		for (i = 0; i < 6 && p; i++) {
			f[i] = p;
			sp = strchr(p, ' ');
			if (sp)
				*sp = '\0';
			p = sp ? sp + 1 : NULL;
		}
		if (i < 6 || !p)
			continue;
		char *dash = strstr(p, "- ");
		if (p != dash) {
			dash = strstr(p, " - ");
			if (!dash)
				continue;
			dash++;
		}
		p = dash + 2;
		e.mount_point = f[4];
		e.mount_opts = f[5];
		e.fstype = p;
		sp = strchr(p, ' ');
		if (!sp)
			continue;
		*sp = '\0';
		e.source = sp + 1;
		sp = strchr(e.source, ' ');
		if (!sp)
			continue;
		*sp = '\0';
		e.super_opts = sp + 1;
		mountinfo_unescape(e.mount_point);
		mountinfo_unescape(e.source);
		if (fn(&e, opaque))
			break;
	}
	free(text);
	return 0;
}

/* Flags mount(8) would turn into MS_* instead of passing to the fs. */
static const struct {
	const char *name;
	unsigned long flag;
} generic_opts[] = {
	{ "ro", MS_RDONLY },
	{ "rw", 0 },
	{ "nosuid", MS_NOSUID },
	{ "nodev", MS_NODEV },
	{ "noexec", MS_NOEXEC },
	{ "sync", MS_SYNCHRONOUS },
	{ "dirsync", MS_DIRSYNC },
	{ "noatime", MS_NOATIME },
	{ "nodiratime", MS_NODIRATIME },
	{ "relatime", MS_RELATIME },
};

bool mount_flag_lookup(const char *opt, unsigned long *flag)
{
	for (size_t i = 0; i < ARRAY_SIZE(generic_opts); i++) {
		if (strcmp(opt, generic_opts[i].name) == 0) {
			*flag = generic_opts[i].flag;
			return true;
		}
	}
	return false;
}

unsigned long mount_flags_of(const char *opts)
{
	unsigned long flags = 0;

	for (size_t i = 0; i < ARRAY_SIZE(generic_opts); i++)
		if (opt_has(opts, generic_opts[i].name))
			flags |= generic_opts[i].flag;
	return flags;
}

struct find {
	const char *path;
	const char *tag;      /* NULL: any source */
	bool found;
	char opts[512];
	char mount_opts[256];
};

static int find_cb(const struct mnt_entry *e, void *opaque)
{
	struct find *f = opaque;

	if (strcmp(e->fstype, "9p") != 0 || strcmp(e->mount_point, f->path) != 0)
		return 0;
	if (f->tag && strcmp(e->source, f->tag) != 0)
		return 0;
	/* Keep going: the last mount on a path is the visible one. */
	f->found = true;
	snprintf(f->opts, sizeof(f->opts), "%s", e->super_opts);
	snprintf(f->mount_opts, sizeof(f->mount_opts), "%s", e->mount_opts);
	return 0;
}

static bool is_mounted(const struct share *s)
{
	struct find f = { .path = s->path, .tag = s->tag };

	mountinfo_foreach(find_cb, &f);
	return f.found;
}

static int mount_one(struct share *s)
{
	char data[512];
	unsigned long flags = 0;
	size_t len;
	char opts[256], *save = NULL;
	int rc;

	len = (size_t)snprintf(data, sizeof(data), "trans=virtio,version=9p2000.L");
	snprintf(opts, sizeof(opts), "%s", s->opts);
	for (char *o = strtok_r(opts, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
		unsigned long flag;
		if (mount_flag_lookup(o, &flag)) {
			/* 9p ignores unknown words, so "ro" passed as data
			 * would silently give a writable mount. */
			flags |= flag;
			continue;
		}
		len += (size_t)snprintf(data + len, sizeof(data) - len, ",%s", o);
		if (len >= sizeof(data))
			return -E2BIG;
	}
	rc = mkdir_p(s->path, 0755);
	if (rc < 0)
		return rc;
	/* No retry on ENOENT (unknown tag): 9pnet_virtio registers its tags
	 * while its module loads, so a missing tag stays missing. */
	if (mount(s->tag, s->path, "9p", flags, data) < 0)
		return -errno;
	return 0;
}

void mounts_mount_all(void)
{
	for (int i = 0; i < nshares; i++) {
		struct share *s = &shares[i];
		if (is_mounted(s))
			continue;
		s->err = mount_one(s);
		if (s->err < 0)
			log_msg("mount %s on %s: %s", s->tag, s->path, strerror(-s->err));
	}
}

bool mounts_ready(void)
{
	for (int i = 0; i < nshares; i++)
		if (!is_mounted(&shares[i]))
			return false;
	return true;
}

/* The kernel's default msize, which mountinfo leaves out. */
static long default_msize(void)
{
	struct utsname u;
	char *end;
	long major, minor;

	/* DEFAULT_MSIZE went from 8 KiB to 128 KiB in Linux 5.15.  (strtol,
	 * not sscanf: scanf is 4 KiB of the static binary.) */
	if (uname(&u) < 0)
		return 128 * 1024;
	major = strtol(u.release, &end, 10);
	minor = *end == '.' ? strtol(end + 1, NULL, 10) : 0;
	if (major < 5 || (major == 5 && minor < 15))
		return 8192;
	return 128 * 1024;
}

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

/*
 * The "options" object: what mountinfo shows, with the defaults the
 * kernel omits (msize, cache=none, version=9p2000.L) filled in so the
 * host can compare against what it asked for without knowing them.
 */
static void write_options(struct jw *w, const char *super_opts)
{
	char opts[512], *save = NULL;
	bool msize = false, cache = false, version = false;

	snprintf(opts, sizeof(opts), "%s", super_opts);
	jw_obj_open(w);
	for (char *o = strtok_r(opts, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(o, '=');
		if (!eq) {
			if (strcmp(o, "rw") == 0 || strcmp(o, "ro") == 0)
				continue;
			/* Linux 6.1 shows cache=mmap as a bare "mmap". */
			if (strcmp(o, "loose") == 0 || strcmp(o, "fscache") == 0 ||
			    strcmp(o, "mmap") == 0) {
				jw_kstr(w, "cache", o);
				cache = true;
				continue;
			}
			if (strcmp(o, "noextend") == 0) {
				jw_kstr(w, "version", "9p2000");
				version = true;
				continue;
			}
			jw_kbool(w, o, true);
			continue;
		}
		*eq = '\0';
		msize |= strcmp(o, "msize") == 0;
		cache |= strcmp(o, "cache") == 0;
		version |= strcmp(o, "version") == 0;
		jw_key(w, o);
		if (all_digits(eq + 1) && strlen(eq + 1) < 19)
			jw_int(w, strtoll(eq + 1, NULL, 10));
		else
			jw_str(w, eq + 1);
	}
	if (!msize)
		jw_kint(w, "msize", default_msize());
	if (!cache)
		jw_kstr(w, "cache", "none");
	if (!version)
		jw_kstr(w, "version", "9p2000.L");
	jw_obj_close(w);
}

static void write_one(struct jw *w, const char *tag, const char *path, bool expected,
		      const struct find *f, int err)
{
	jw_obj_open(w);
	jw_kstr(w, "tag", tag);
	jw_kstr(w, "mount-point", path);
	jw_kbool(w, "expected", expected);
	jw_kbool(w, "mounted", f->found);
	jw_kbool(w, "writable", f->found && !opt_has(f->mount_opts, "ro") &&
				!opt_has(f->opts, "ro") && access(path, W_OK) == 0);
	if (f->found) {
		jw_key(w, "options");
		write_options(w, f->opts);
	}
	if (err < 0 && !f->found)
		jw_kstr(w, "error", strerror(-err));
	jw_obj_close(w);
}

struct others {
	struct jw *w;
};

static int others_cb(const struct mnt_entry *e, void *opaque)
{
	struct others *o = opaque;

	if (strcmp(e->fstype, "9p") != 0)
		return 0;
	for (int i = 0; i < nshares; i++)
		if (strcmp(shares[i].path, e->mount_point) == 0 &&
		    strcmp(shares[i].tag, e->source) == 0)
			return 0;
	struct find f = { .found = true };
	snprintf(f.opts, sizeof(f.opts), "%s", e->super_opts);
	snprintf(f.mount_opts, sizeof(f.mount_opts), "%s", e->mount_opts);
	write_one(o->w, e->source, e->mount_point, false, &f, 0);
	return 0;
}

void mounts_write_status(struct jw *w)
{
	struct others o = { .w = w };

	jw_arr_open(w);
	for (int i = 0; i < nshares; i++) {
		struct find f = { .path = shares[i].path, .tag = shares[i].tag };
		mountinfo_foreach(find_cb, &f);
		write_one(w, shares[i].tag, shares[i].path, true, &f, shares[i].err);
	}
	mountinfo_foreach(others_cb, &o);
	jw_arr_close(w);
}

/*
 * The characters a 9p option list from the host may hold: the words and
 * numbers of "msize=512000,cache=mmap,ro".  Nothing that could reach a
 * shell or a second mount's data (there is none: mount(2) takes it as is),
 * but a narrow set keeps grain-status's echo of them plain.
 */
static bool opts_valid(const char *o)
{
	for (; *o; o++)
		if (!((*o >= 'a' && *o <= 'z') || (*o >= 'A' && *o <= 'Z') ||
		      (*o >= '0' && *o <= '9') || strchr("=,._-", *o)))
			return false;
	return true;
}

/* A mount point: absolute, no "." or ".." component, no control bytes. */
static bool path_valid(const char *p)
{
	if (p[0] != '/')
		return false;
	for (const char *c = p; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			return false;
	for (const char *c = p; *c;) {
		while (*c == '/')
			c++;
		size_t l = strcspn(c, "/");
		if ((l == 1 && c[0] == '.') || (l == 2 && c[0] == '.' && c[1] == '.'))
			return false;
		c += l;
	}
	return true;
}

int cmd_grain_mount(struct req *r)
{
	static const struct arg_spec spec[] = {
		{ "tag", ARG_STR, false },
		{ "mount-point", ARG_STR, false },
		{ "options", ARG_STR, true },
	};
	if (req_check_args(r, spec, ARRAY_SIZE(spec)) < 0)
		return -1;
	const char *tag = req_str(r, "tag", "");
	const char *path = req_str(r, "mount-point", "");
	const char *opts = req_str(r, "options", "");

	if (!path_valid(path))
		return req_error(r, "GenericError",
				 "mount-point must be an absolute path without . or .. components");
	if (!opts_valid(opts))
		return req_error(r, "GenericError",
				 "options may hold only letters, digits and = , . _ -");
	int i = declare(tag, strlen(tag), path, strlen(path), opts);
	if (i == -ENOSPC)
		return req_error(r, "GenericError", "more than %d shares", MOUNTS_MAX);
	if (i < 0)
		return req_error(r, "GenericError",
				 "tag must be 1-63 bytes without ':' and mount-point under 256 bytes");
	struct share *s = &shares[i];
	bool already = is_mounted(s);
	if (!already) {
		s->err = mount_one(s);
		if (s->err < 0) {
			log_msg("mount %s on %s: %s", s->tag, s->path, strerror(-s->err));
			return req_error(r, "GenericError", "cannot mount 9p tag %s on %s: %s",
					 s->tag, s->path, strerror(-s->err));
		}
	}
	s->err = 0;
	jw_obj_open(r->w);
	jw_kbool(r->w, "already", already);
	jw_obj_close(r->w);
	return 0;
}
