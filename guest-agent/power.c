/* SPDX-License-Identifier: MIT */
/*
 * power.c - shutting the guest down cleanly, and the power button
 *
 * As PID 1 the agent is the only thing that can end the guest: when it
 * exits the kernel panics.  So shutdown is an orderly sequence here
 * (SIGTERM to everything, a grace period, SIGKILL, sync, unmount so 9p
 * and block file systems flush, then reboot(2)) and, in service mode,
 * the distribution's shutdown (found in /sbin, /usr/sbin, /bin, /usr/bin or
 * NixOS's /run/current-system/sw/bin), as qemu-ga runs it.
 */
#include "power.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/reboot.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "channel.h"
#include "loop.h"
#include "mounts.h"
#include "spawn.h"
#include "util.h"

/* Long enough for a shell or a compiler to exit on SIGTERM, short
 * enough that "grainvm down" stays quick. */
#define TERM_GRACE_MS 2000

/* linux/input.h is not available with musl-gcc; these are ABI. */
#define EV_KEY 0x01
#define KEY_POWER 116
struct input_event_abi {
	unsigned long sec, usec;   /* __kernel_ulong_t on every arch */
	uint16_t type, code;
	int32_t value;
};

#define MAX_BUTTONS 4

static struct {
	struct watch w;
	int fd;
} buttons[MAX_BUTTONS];
static struct timer pending_timer;
static enum power_mode pending_mode;

int power_parse_mode(const char *s)
{
	if (strcmp(s, "powerdown") == 0)
		return POWER_OFF;
	if (strcmp(s, "halt") == 0)
		return POWER_HALT;
	if (strcmp(s, "reboot") == 0)
		return POWER_REBOOT;
	return -EINVAL;
}

/* Reap until no child is left or @ms passed. */
static void reap_for(int ms)
{
	int64_t end = now_ms() + ms;

	for (;;) {
		pid_t pid = waitpid(-1, NULL, WNOHANG);
		if (pid < 0)
			return;  /* ECHILD: nothing left */
		if (pid > 0)
			continue;
		if (now_ms() >= end)
			return;
		nanosleep(&(struct timespec){ .tv_nsec = 20 * 1000 * 1000 }, NULL);
	}
}

struct umount_list {
	char paths[64][256];
	int n;
};

static int collect_cb(const struct mnt_entry *e, void *opaque)
{
	struct umount_list *l = opaque;

	if (strcmp(e->mount_point, "/") == 0 || l->n == 64)
		return 0;
	snprintf(l->paths[l->n++], sizeof(l->paths[0]), "%s", e->mount_point);
	return 0;
}

void power_final(enum power_mode mode)
{
	static const int cmds[] = {
		[POWER_OFF] = RB_POWER_OFF,
		[POWER_HALT] = RB_HALT_SYSTEM,
		[POWER_REBOOT] = RB_AUTOBOOT,
	};
	static struct umount_list l;

	log_msg("%s", mode == POWER_REBOOT ? "rebooting" :
		      mode == POWER_HALT ? "halting" : "powering off");
	/* kill(-1) spares only the caller: right for PID 1, a disaster for
	 * an --init agent started by hand inside a running system. */
	if (getpid() == 1) {
		kill(-1, SIGTERM);
		/* Interactive shells ignore SIGTERM but leave on a hangup;
		 * stopped processes only see either once continued. */
		kill(-1, SIGHUP);
		kill(-1, SIGCONT);
		reap_for(TERM_GRACE_MS);
		kill(-1, SIGKILL);
		reap_for(500);
	}
	sync();
	/* Newest mounts first, so nested mounts go before their parents;
	 * /proc is read before anything is unmounted. */
	l.n = 0;
	mountinfo_foreach(collect_cb, &l);
	for (int i = l.n - 1; i >= 0; i--)
		if (umount2(l.paths[i], 0) < 0 && errno == EBUSY)
			umount2(l.paths[i], MNT_DETACH);
	sync();
	reboot(cmds[mode]);
	/* Still here: reboot(2) failed.  PID 1 must never exit. */
	log_msg("reboot(2): %s", strerror(errno));
	for (;;)
		pause();
}

static void on_pending(struct timer *t)
{
	(void)t;
	power_final(pending_mode);
}

/* A step of the service-mode ladder may not hang the agent: systemctl
 * queues the job and returns in well under a second when systemd answers. */
#define STEP_WAIT_MS 15000

/* Run @argv (found in the distribution's directories); 0 when it exited 0. */
static int run_step(const char *name, char *const argv[])
{
	/*
	 * Where distributions keep these: NixOS has no /sbin, its tools are in
	 * /run/current-system/sw/bin; merged-/usr systems link /sbin to it.
	 */
	static const char *const dirs[] = { "/sbin", "/usr/sbin", "/bin", "/usr/bin",
					    "/run/current-system/sw/bin" };
	char path[64] = "";
	for (size_t i = 0; i < ARRAY_SIZE(dirs) && !path[0]; i++) {
		char p[64];
		snprintf(p, sizeof(p), "%s/%s", dirs[i], name);
		if (access(p, X_OK) == 0)
			memcpy(path, p, sizeof(p));
	}
	if (!path[0])
		return -ENOENT;
	struct spawn_req s = { .path = path, .argv = argv, .fd_in = -1, .fd_out = -1,
			       .fd_err = -1 };
	pid_t pid = spawn_child(&s, NULL);
	if (pid < 0)
		return pid;
	int64_t end = now_ms() + STEP_WAIT_MS;
	int status;
	for (;;) {
		pid_t got = waitpid(pid, &status, WNOHANG);
		if (got == pid)
			break;
		if (got < 0 && errno != EINTR)
			return -errno;
		if (now_ms() >= end) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return -ETIMEDOUT;
		}
		nanosleep(&(struct timespec){ .tv_nsec = 50 * 1000 * 1000 }, NULL);
	}
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -ECHILD;
}

int power_request(enum power_mode mode)
{
	static const char *const flags[] = {
		[POWER_OFF] = "-P",
		[POWER_HALT] = "-H",
		[POWER_REBOOT] = "-r",
	};
	static const char *const verbs[] = {
		[POWER_OFF] = "poweroff",
		[POWER_HALT] = "halt",
		[POWER_REBOOT] = "reboot",
	};

	if (agent_init_mode) {
		/* After the dispatch returns, from the loop: guest-shutdown
		 * sends no reply, so there is nothing to wait for. */
		pending_mode = mode;
		timer_init(&pending_timer, on_pending);
		timer_arm(&pending_timer, 0);
		return 0;
	}
	/*
	 * Service mode: the distribution's way first, so its services stop
	 * and its file systems unmount cleanly.  "shutdown now", not qemu-ga's
	 * "+0": a scheduled shutdown, even at +0, goes through logind over
	 * D-Bus, which a minimal systemd guest does not have (Debian minbase:
	 * "Failed to connect to bus"), while "now" and "systemctl poweroff"
	 * talk to systemd over its private socket.  A non-systemd guest has
	 * shutdown (sysvinit) or poweroff (busybox).  When all of them fail,
	 * sync and reboot(2): the file systems are not unmounted then (their
	 * journals replay at the next boot), but the guest does go down
	 * instead of leaving the host to pull the plug with no sync at all.
	 */
	char *argv_sd[] = { "shutdown", (char *)flags[mode], "now", NULL };
	char *argv_sc[] = { "systemctl", (char *)verbs[mode], NULL };
	char *argv_verb[] = { (char *)verbs[mode], NULL };
	char *const *steps[] = { argv_sd, argv_sc, argv_verb };

	for (size_t i = 0; i < ARRAY_SIZE(steps); i++) {
		char what[64];
		char *const *a = steps[i];
		snprintf(what, sizeof(what), "%s%s%s%s%s", a[0], a[1] ? " " : "", a[1] ? a[1] : "",
			 a[1] && a[2] ? " " : "", a[1] && a[2] ? a[2] : "");
		int rc = run_step(a[0], a);
		if (rc == 0) {
			log_msg("guest-shutdown: %s worked", what);
			return 0;
		}
		if (rc != -ENOENT)
			log_msg("guest-shutdown: %s failed (%s)", what,
				rc == -ECHILD ? "non-zero exit" : strerror(-rc));
	}
	log_msg("guest-shutdown: no shutdown command worked: sync and reboot(2) myself");
	static const int cmds[] = {
		[POWER_OFF] = RB_POWER_OFF,
		[POWER_HALT] = RB_HALT_SYSTEM,
		[POWER_REBOOT] = RB_AUTOBOOT,
	};
	sync();
	if (reboot(cmds[mode]) < 0)
		return -errno;
	return 0;
}

static void on_button(struct watch *w, short revents)
{
	struct input_event_abi ev[16];
	ssize_t n;

	(void)revents;
	while ((n = read(w->fd, ev, sizeof(ev))) > 0) {
		for (size_t i = 0; i < (size_t)n / sizeof(ev[0]); i++) {
			if (ev[i].type == EV_KEY && ev[i].code == KEY_POWER &&
			    ev[i].value == 1)
				power_final(POWER_OFF);
		}
	}
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
		loop_del(w);
}

int power_button_start(void)
{
	DIR *d = opendir("/sys/class/input");
	struct dirent *de;
	int count = 0;

	if (!d)
		return 0;
	while ((de = readdir(d)) && count < MAX_BUTTONS) {
		char p[300], name[128];
		if (strncmp(de->d_name, "event", 5) != 0)
			continue;
		snprintf(p, sizeof(p), "/sys/class/input/%s/device/name", de->d_name);
		if (read_file(p, name, sizeof(name)) < 0 || strcmp(trim(name), "Power Button"))
			continue;
		snprintf(p, sizeof(p), "/dev/input/%s", de->d_name);
		int fd = open(p, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0) {
			log_msg("%s: %s", p, strerror(errno));
			continue;
		}
		buttons[count].fd = fd;
		watch_init(&buttons[count].w, fd, POLLIN, on_button);
		if (loop_add(&buttons[count].w) < 0) {
			close(fd);
			continue;
		}
		count++;
	}
	closedir(d);
	return count;
}
