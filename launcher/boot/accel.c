/* SPDX-License-Identifier: MIT */
/* accel.c - the KVM probe (see accel.h) */
#include "boot/accel.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gv-error.h"
#include "paths.h"
#include "fileio.h"

/*
 * A multiboot kernel with the "a.out kludge" (flags bit 16), so QEMU's
 * loader takes the load addresses from the header instead of wanting an
 * ELF.  Loaded at 1 MiB, entered in 32-bit protected mode at +32:
 *     mov $0x21, %al ; out %al, $0xf4 ; hlt ; jmp .-1
 * isa-debug-exit turns the write of 0x21 into exit status (0x21 << 1) | 1.
 */
#define MB_MAGIC 0x1BADB002u
#define MB_FLAGS 0x00010000u
#define LOAD_ADDR 0x00100000u
#define PROBE_EXIT_STATUS ((0x21 << 1) | 1)

static guint8 payload[48];

const guint8 *gv_accel_probe_payload(gsize *len)
{
	if (!payload[0]) {
		const guint32 hdr[8] = {
			MB_MAGIC, MB_FLAGS, (guint32)-(MB_MAGIC + MB_FLAGS),
			LOAD_ADDR,      /* header_addr: the header is at file offset 0 */
			LOAD_ADDR,      /* load_addr */
			0,              /* load_end_addr: the whole file */
			0,              /* bss_end_addr: none */
			LOAD_ADDR + 32, /* entry_addr */
		};
		for (int i = 0; i < 8; i++) {
			guint32 le = GUINT32_TO_LE(hdr[i]);
			memcpy(payload + 4 * i, &le, 4);
		}
		static const guint8 code[] = { 0xb0, 0x21, 0xe6, 0xf4, 0xf4, 0xeb, 0xfd };
		memcpy(payload + 32, code, sizeof(code));
	}
	*len = sizeof(payload);
	return payload;
}

static gint64 now_ms(void)
{
	return g_get_monotonic_time() / 1000;
}

gboolean gv_accel_probe(const char *qemu, const char *accel, const char *scratch_dir,
			guint timeout_ms, char **why)
{
	gsize plen;
	const guint8 *p = gv_accel_probe_payload(&plen);
	g_autofree char *file = g_build_filename(scratch_dir, "kvm-probe.bin", NULL);
	g_autoptr(GError) err = NULL;
	if (!gv_mkdir_private(scratch_dir, &err) ||
	    !gv_write_file_atomic(file, p, plen, 0644, &err)) {
		if (why)
			*why = g_strdup(err->message);
		return FALSE;
	}
	const char *argv[] = { qemu, "-accel", accel, "-M", "pc", "-m", "16", "-nodefaults",
			       "-no-user-config", "-display", "none", "-no-reboot",
			       "-kernel", file, "-device", "isa-debug-exit,iobase=0xf4,iosize=4",
			       NULL };
	GPid pid;
	int err_fd = -1;
	if (!g_spawn_async_with_pipes(NULL, (char **)argv, NULL,
				      G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_SEARCH_PATH,
				      NULL, NULL, &pid, NULL, NULL, &err_fd, &err)) {
		if (why)
			*why = g_strdup_printf("cannot run %s: %s", qemu, err->message);
		return FALSE;
	}
	fcntl(err_fd, F_SETFL, O_NONBLOCK);
	GString *stderr_text = g_string_new(NULL);
	gint64 deadline = now_ms() + timeout_ms;
	int status = 0;
	gboolean exited = FALSE;
	while (!exited && now_ms() < deadline) {
		char buf[512];
		ssize_t n;
		while ((n = read(err_fd, buf, sizeof(buf))) > 0)
			if (stderr_text->len < 4096)
				g_string_append_len(stderr_text, buf, n);
		if (waitpid(pid, &status, WNOHANG) == pid)
			exited = TRUE;
		else
			g_usleep(10 * 1000);
	}
	if (!exited) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
	}
	close(err_fd);
	g_spawn_close_pid(pid);

	gboolean ok = exited && WIFEXITED(status) && WEXITSTATUS(status) == PROBE_EXIT_STATUS;
	if (!ok && why) {
		g_autofree char *first = NULL;
		/* The first line that is not a warning (QEMU warns about CPUID bits). */
		g_auto(GStrv) lines = g_strsplit(stderr_text->str, "\n", -1);
		for (char **l = lines; *l && !first; l++)
			if (**l && !strstr(*l, "warning:"))
				first = g_strdup(g_strstrip(*l));
		if (!exited)
			*why = g_strdup_printf("a test guest did not finish under %s within %.1f s%s%s",
					       accel, timeout_ms / 1000.0, first ? ": " : "",
					       first ? first : "");
		else
			*why = g_strdup_printf("a test guest under %s ended with status %d%s%s", accel,
					       WIFEXITED(status) ? WEXITSTATUS(status) : -1,
					       first ? ": " : "", first ? first : "");
	}
	g_string_free(stderr_text, TRUE);
	return ok;
}

/* The cache key: this boot, this QEMU binary. */
static char *probe_key(const char *qemu)
{
	g_autofree char *boot_id = NULL;
	g_file_get_contents("/proc/sys/kernel/random/boot_id", &boot_id, NULL, NULL);
	g_autofree char *resolved = g_find_program_in_path(qemu);
	struct stat st = { 0 };
	if (resolved)
		stat(resolved, &st);
	g_autofree char *raw = g_strdup_printf("%s|%s|%lld|%lld", boot_id ? g_strstrip(boot_id) : "",
					       resolved ? resolved : qemu, (long long)st.st_size,
					       (long long)st.st_mtime);
	return g_compute_checksum_for_string(G_CHECKSUM_SHA256, raw, -1);
}

/*
 * kvm_usable() - cached probe verdict
 * Return: TRUE when KVM ran the probe; else *why says why not.
 */
static gboolean kvm_usable(const char *qemu, const char *cache_dir, char **why)
{
	if (access("/dev/kvm", F_OK) < 0) {
		*why = g_strdup("/dev/kvm does not exist");
		return FALSE;
	}
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		*why = g_strdup_printf("/dev/kvm cannot be opened: %s%s", g_strerror(errno),
				       errno == EACCES ? " (join the kvm group)" : "");
		return FALSE;
	}
	close(fd);
	/*
	 * For a host where the probe is wrong (or to reproduce what a broken
	 * KVM does to a real guest): trust /dev/kvm without a test guest.
	 */
	if (!g_strcmp0(g_getenv("GRAINVM_KVM_PROBE"), "skip"))
		return TRUE;

	g_autofree char *key = probe_key(qemu);
	g_autofree char *dir = g_build_filename(cache_dir, "kvm-probe", NULL);
	g_autofree char *verdict_path = g_build_filename(dir, key, NULL);
	g_autofree char *verdict = NULL;
	if (g_file_get_contents(verdict_path, &verdict, NULL, NULL)) {
		g_strchomp(verdict);
		if (!strcmp(verdict, "ok"))
			return TRUE;
		*why = g_strdup_printf("%s (cached for this boot)", verdict);
		return FALSE;
	}
	g_autofree char *probe_why = NULL;
	gboolean ok = gv_accel_probe(qemu, "kvm", dir, GV_ACCEL_PROBE_TIMEOUT_MS, &probe_why);
	g_autofree char *line = ok ? g_strdup("ok")
				   : g_strdup_printf("/dev/kvm is present but %s", probe_why);
	gv_write_file_atomic(verdict_path, line, strlen(line), 0644, NULL);
	if (!ok)
		*why = g_steal_pointer(&line);
	return ok;
}

GvAccel gv_accel_decide(GvAccel wanted, const char *qemu, const char *cache_dir,
			char **reason, GError **error)
{
	g_autofree char *why = NULL;
	switch (wanted) {
	case GV_ACCEL_TCG:
		*reason = g_strdup("accel=tcg in the spec");
		return GV_ACCEL_TCG;
	case GV_ACCEL_KVM:
		if (!kvm_usable(qemu, cache_dir, &why)) {
			g_set_error(error, GV_ERROR, GV_ERROR_FAILED,
				    "accel=kvm, but KVM cannot run a guest here: %s", why);
			return GV_ACCEL_AUTO;
		}
		*reason = g_strdup("accel=kvm in the spec; a test guest ran under KVM");
		return GV_ACCEL_KVM;
	case GV_ACCEL_AUTO:
		break;
	}
	if (kvm_usable(qemu, cache_dir, &why)) {
		*reason = g_strdup("a test guest ran under KVM");
		return GV_ACCEL_KVM;
	}
	*reason = g_strdup_printf("TCG, because %s", why);
	return GV_ACCEL_TCG;
}
