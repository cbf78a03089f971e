/* SPDX-License-Identifier: MIT */
/*
 * init.c - what the agent does as /init of the launcher's initramfs
 *
 * The order matters and is part of the contract (docs/guest-init.md):
 * shares are mounted and the network is up before the agent opens its
 * port, because the host treats the port opening (QMP VSERPORT_CHANGE)
 * as "the guest is up" and asks grain-status right away.
 */
#include "init.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "channel.h"
#include "loop.h"
#include "mounts.h"
#include "net.h"
#include "power.h"
#include "spawn.h"
#include "util.h"

#define MODULES_LIST "/etc/grainvm/modules"
/* virtio_console adds ports when the host's control messages arrive,
 * after the module is loaded; under TCG that takes well under a second. */
#define PORT_WAIT_MS 5000
/* A shell that dies sooner than this after starting is respawned only
 * after the same delay, so a broken /bin/sh cannot spin the CPU. */
#define SHELL_RESPAWN_MS 1000

static const char shell_env_path[] = "PATH=/bin:/sbin:/usr/bin:/usr/sbin";

static struct {
	bool shell;
	char hostname[65];
	char net[NET_MAX][128];
	int nnet;
	struct child child;
	struct timer respawn;
	int64_t started;
} st = { .shell = true };

static void mount_api(const char *src, const char *dst, const char *type,
		      unsigned long flags, const char *data)
{
	mkdir_p(dst, 0755);
	if (mount(src, dst, type, flags, data) < 0 && errno != EBUSY)
		log_msg("mount %s on %s: %s", type, dst, strerror(errno));
}

/*
 * Give the agent a stdin/stdout/stderr on the console.  The kernel opens
 * /dev/console for init only if the initramfs has that node; otherwise
 * fds 0-2 are closed and the first open() would land on them.
 */
static void console_stdio(void)
{
	if (fcntl(STDERR_FILENO, F_GETFD) >= 0)
		return;
	int fd = open("/dev/console", O_RDWR | O_NOCTTY);
	if (fd < 0)
		fd = open("/dev/null", O_RDWR);
	if (fd < 0)
		return;
	for (int i = 0; i < 3; i++)
		if (fd != i)
			dup2(fd, i);
	if (fd > 2)
		close(fd);
}

static void load_modules(void)
{
	char *text, *save = NULL;
	ssize_t n = read_file_alloc(MODULES_LIST, 1 << 20, &text);

	if (n < 0) {
		if (n != -ENOENT)
			log_msg("%s: %s", MODULES_LIST, strerror((int)-n));
		return;
	}
	for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		trim(l);
		if (!*l || *l == '#')
			continue;
		int fd = open(l, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			log_msg("module %s: %s", l, strerror(errno));
			continue;
		}
		if (syscall(SYS_finit_module, fd, "", 0) < 0 && errno != EEXIST)
			log_msg("module %s: %s", l, strerror(errno));
		close(fd);
	}
	free(text);
}

static void parse_cmdline(void)
{
	char line[4096], *save = NULL;

	if (read_file("/proc/cmdline", line, sizeof(line)) < 0)
		return;
	for (char *w = strtok_r(trim(line), " ", &save); w; w = strtok_r(NULL, " ", &save)) {
		if (strncmp(w, "grainvm.mount=", 14) == 0) {
			int rc = mounts_add(w + 14);
			if (rc < 0)
				log_msg("%s: %s", w, strerror(-rc));
		} else if (strncmp(w, "grainvm.hostname=", 17) == 0) {
			snprintf(st.hostname, sizeof(st.hostname), "%s", w + 17);
		} else if (strncmp(w, "grainvm.net=", 12) == 0) {
			if (st.nnet == NET_MAX)
				log_msg("%s: more than %d grainvm.net=, ignored", w, NET_MAX);
			else
				snprintf(st.net[st.nnet++], sizeof(st.net[0]), "%s", w + 12);
		} else if (strcmp(w, "grainvm.shell=0") == 0) {
			st.shell = false;
		}
	}
}

/* Create /dev/virtio-ports/NAME -> ../vportNpM for every named port. */
static int link_ports(bool *found_agent)
{
	DIR *d = opendir("/sys/class/virtio-ports");
	struct dirent *de;
	int count = 0;

	*found_agent = false;
	if (!d)
		return 0;
	mkdir_p("/dev/virtio-ports", 0755);
	while ((de = readdir(d))) {
		char p[300], name[128], link[400], target[300];
		if (strncmp(de->d_name, "vport", 5) != 0)
			continue;
		snprintf(p, sizeof(p), "/sys/class/virtio-ports/%s/name", de->d_name);
		if (read_file(p, name, sizeof(name)) <= 0 || !*trim(name) || strchr(name, '/'))
			continue;
		snprintf(link, sizeof(link), "/dev/virtio-ports/%s", name);
		snprintf(target, sizeof(target), "../%s", de->d_name);
		if (symlink(target, link) < 0 && errno != EEXIST)
			log_msg("%s: %s", link, strerror(errno));
		if (strcmp(name, CHANNEL_PORT_NAME) == 0)
			*found_agent = true;
		count++;
	}
	closedir(d);
	return count;
}

static void wait_ports(void)
{
	int64_t end = now_ms() + PORT_WAIT_MS;
	bool found;

	for (;;) {
		link_ports(&found);
		if (found)
			return;
		if (now_ms() >= end)
			break;
		nanosleep(&(struct timespec){ .tv_nsec = 20 * 1000 * 1000 }, NULL);
	}
	/* The channel keeps retrying by name; say why it may never come. */
	log_msg("no virtio port named %s after %d ms", CHANNEL_PORT_NAME, PORT_WAIT_MS);
}

/* The tty behind /dev/console: job control needs a real tty. */
static int open_console_tty(void)
{
	char active[128], dev[160];
	const char *last = NULL;

	if (read_file("/sys/class/tty/console/active", active, sizeof(active)) > 0) {
		for (char *save = NULL, *t = strtok_r(trim(active), " ", &save); t;
		     t = strtok_r(NULL, " ", &save))
			last = t;
	}
	if (last) {
		snprintf(dev, sizeof(dev), "/dev/%s", last);
		int fd = open(dev, O_RDWR | O_NOCTTY | O_CLOEXEC);
		if (fd >= 0)
			return fd;
	}
	return open("/dev/console", O_RDWR | O_NOCTTY | O_CLOEXEC);
}

static void shell_start(struct timer *t);

static void shell_exited(struct child *c, int status)
{
	(void)c;
	(void)status;
	int64_t lived = now_ms() - st.started;
	timer_arm(&st.respawn, lived < SHELL_RESPAWN_MS ? SHELL_RESPAWN_MS : 0);
}

static void shell_start(struct timer *t)
{
	static char *const argv[] = { "-sh", NULL };
	static char *const envp[] = { (char *)shell_env_path, "HOME=/root",
				      "TERM=linux", NULL };
	struct spawn_req s = { .path = "/bin/sh", .argv = argv, .envp = envp,
			       .cwd = "/root", .ctty = true };
	int fd;
	pid_t pid;

	(void)t;
	fd = open_console_tty();
	if (fd < 0) {
		log_msg("console: %s", strerror(errno));
		return;
	}
	s.fd_in = s.fd_out = s.fd_err = fd;
	st.started = now_ms();
	pid = spawn_child(&s, NULL);
	close(fd);
	if (pid < 0) {
		log_msg("/bin/sh: %s", strerror((int)-pid));
		timer_arm(&st.respawn, SHELL_RESPAWN_MS * 5);
		return;
	}
	st.child.pid = pid;
	st.child.exited = shell_exited;
	child_watch(&st.child);
}

void init_boot(void)
{
	int rc;

	mount_api("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	mount_api("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	mount_api("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
	console_stdio();
	mount_api("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
		  "gid=5,mode=0620,ptmxmode=0666");
	mount_api("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755");
	mount_api("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
	mkdir_p("/root", 0700);
	/* Ctrl-Alt-Del becomes SIGINT to us (a clean reboot), not an
	 * immediate hard reset. */
	reboot(RB_DISABLE_CAD);
	/* Our environment is what guest-exec children inherit. */
	putenv((char *)shell_env_path);
	setenv("HOME", "/root", 1);
	setenv("TERM", "linux", 0);

	load_modules();
	parse_cmdline();
	if (st.hostname[0] && sethostname(st.hostname, strlen(st.hostname)) < 0)
		log_msg("sethostname %s: %s", st.hostname, strerror(errno));
	net_up_loopback();
	mounts_mount_all();
	for (int i = 0; i < st.nnet; i++) {
		rc = net_configure(st.net[i]);
		if (rc < 0)
			log_msg("grainvm.net=%s: %s", st.net[i], strerror(-rc));
	}
	wait_ports();
	if (power_button_start() == 0)
		log_msg("no power button found (modules button, evdev?)");
	timer_init(&st.respawn, shell_start);
	if (st.shell && access("/bin/sh", X_OK) == 0)
		shell_start(NULL);
}
