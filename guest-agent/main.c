/* SPDX-License-Identifier: MIT */
/*
 * main.c - grainvm-agent: option parsing, modes, signals, the main loop
 *
 * Modes:
 *   PID 1 or --init     init mode: bring up the minimal guest (init.c),
 *                       then serve on the virtio port; never exits
 *   (default)           service mode on a distribution: serve on the port
 *   --listen unix:PATH  serve one client at a time on a unix socket
 *                       (host-side tests)
 *
 * Signals are read from a signalfd in the poll loop, so no handler runs
 * at an awkward moment and SIGCHLD, SIGIO and shutdown requests are just
 * more events.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "agent.h"
#include "build.h"
#include "exec.h"
#include "channel.h"
#include "init.h"
#include "loop.h"
#include "mounts.h"
#include "power.h"
#include "spawn.h"
#include "util.h"

bool agent_init_mode;
const char *agent_state_dir = "/run/grainvm";

static struct watch sig_watch;

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: grainvm-agent [OPTION]...\n"
		"The grainvm guest agent (speaks the qemu-ga protocol).\n\n"
		"  --init                 run as the guest's init (default when PID 1)\n"
		"  -p, --port PATH        virtio-serial port (default %s)\n"
		"  -l, --listen unix:PATH serve on a unix socket instead (tests)\n"
		"  -m, --mount TAG:PATH[:OPTS]\n"
		"                         a 9p share grain-status expects (repeatable)\n"
		"  -s, --state-dir DIR    where the build log goes (default /run/grainvm)\n"
		"  -b, --build-command CMD\n"
		"                         what grain-build-start runs without a command\n"
		"                         (as /bin/sh -c CMD)\n"
		"  -C, --build-cwd DIR    its directory without a cwd (default /)\n"
		"  -V, --version          print the version\n"
		"  -h, --help             this text\n",
		CHANNEL_DEFAULT_PORT);
}

static void on_signal(struct watch *w, short revents)
{
	struct signalfd_siginfo si;

	(void)revents;
	while (read(w->fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGCHLD:
			child_reap();
			break;
		case SIGIO:
			channel_sigio();
			break;
		/* busybox's halt/poweroff/reboot signal PID 1 with these;
		 * Ctrl-Alt-Del sends SIGINT once disabled in init.c. */
		case SIGUSR1:
			if (agent_init_mode)
				power_final(POWER_HALT);
			break;
		case SIGUSR2:
		case SIGPWR:
			if (agent_init_mode)
				power_final(POWER_OFF);
			break;
		case SIGTERM:
		case SIGINT:
			if (agent_init_mode)
				power_final(POWER_REBOOT);
			exit(0);
		default:
			break;
		}
	}
}

static int setup_signals(void)
{
	static const int sigs[] = { SIGCHLD, SIGIO, SIGTERM, SIGINT, SIGHUP,
				    SIGUSR1, SIGUSR2, SIGPWR };
	sigset_t set;
	int fd;

	/* A host that vanishes mid-reply gives EPIPE, not death. */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	for (size_t i = 0; i < ARRAY_SIZE(sigs); i++)
		sigaddset(&set, sigs[i]);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -errno;
	fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	watch_init(&sig_watch, fd, POLLIN, on_signal);
	return loop_add(&sig_watch);
}

/* fds 0-2 must be open so that no pipe or socket lands there. */
static void ensure_stdio(void)
{
	for (int i = 0; i < 3; i++) {
		if (fcntl(i, F_GETFD) >= 0)
			continue;
		int fd = open("/dev/null", O_RDWR);
		if (fd >= 0 && fd != i) {
			dup2(fd, i);
			close(fd);
		}
	}
}

static int run(enum channel_kind kind, const char *path)
{
	int rc = setup_signals();

	if (rc < 0) {
		log_msg("signals: %s", strerror(-rc));
		return rc;
	}
	if (exec_init() < 0 || build_init() < 0) {
		log_msg("loop: too many hooks");
		return -ENOSPC;
	}
	if (agent_init_mode)
		init_boot();
	ensure_stdio();
	rc = channel_start(kind, path, agent_commands, agent_ncommands);
	if (rc < 0) {
		log_msg("%s: %s", path ? path : CHANNEL_DEFAULT_PORT, strerror(-rc));
		return rc;
	}
	for (;;) {
		rc = loop_run_once();
		if (rc < 0) {
			log_msg("poll: %s", strerror(-rc));
			return rc;
		}
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "init", no_argument, NULL, 'i' },
		{ "port", required_argument, NULL, 'p' },
		{ "listen", required_argument, NULL, 'l' },
		{ "mount", required_argument, NULL, 'm' },
		{ "state-dir", required_argument, NULL, 's' },
		{ "build-command", required_argument, NULL, 'b' },
		{ "build-cwd", required_argument, NULL, 'C' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	enum channel_kind kind = CHANNEL_PORT;
	const char *path = NULL;
	int c, rc;

	agent_init_mode = getpid() == 1;
	/* As PID 1 the kernel's argv may hold anything from the command
	 * line; only parse options when we were started by hand. */
	while (!agent_init_mode &&
	       (c = getopt_long(argc, argv, "p:l:m:s:b:C:Vh", opts, NULL)) != -1) {
		switch (c) {
		case 'i':
			agent_init_mode = true;
			break;
		case 'p':
			kind = CHANNEL_PORT;
			path = optarg;
			break;
		case 'l':
			if (strncmp(optarg, "unix:", 5) != 0 || !optarg[5]) {
				fprintf(stderr, "grainvm-agent: --listen wants unix:PATH\n");
				return 2;
			}
			kind = CHANNEL_UNIX;
			path = optarg + 5;
			break;
		case 'm':
			rc = mounts_add(optarg);
			if (rc < 0) {
				fprintf(stderr, "grainvm-agent: --mount %s: %s\n", optarg,
					rc == -EINVAL ? "expected TAG:/PATH[:OPTS]" : strerror(-rc));
				return 2;
			}
			break;
		case 's':
			agent_state_dir = optarg;
			break;
		case 'b':
			if (!*optarg) {
				fprintf(stderr, "grainvm-agent: --build-command must not be empty\n");
				return 2;
			}
			build_default_command = optarg;
			break;
		case 'C':
			if (optarg[0] != '/') {
				fprintf(stderr, "grainvm-agent: --build-cwd wants an absolute path\n");
				return 2;
			}
			build_default_cwd = optarg;
			break;
		case 'V':
			printf("grainvm-agent %s\n", GV_AGENT_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!agent_init_mode && optind < argc) {
		usage(stderr);
		return 2;
	}
	rc = run(kind, path);
	if (agent_init_mode) {
		/* Returning from PID 1 panics the kernel; power off instead. */
		log_msg("fatal error, powering off");
		power_final(POWER_OFF);
	}
	return rc < 0 ? 1 : 0;
}
