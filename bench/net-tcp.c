/* SPDX-License-Identifier: MIT */
/*
 * net-tcp.c - the TCP sender and receiver of bench/net
 *
 *   net-tcp recv ADDR PORT        accept one connection, read to EOF, print
 *                                 "BYTES SECONDS" (from accept to EOF)
 *   net-tcp send ADDR PORT MIB    connect, write MIB MiB, half-close, wait
 *                                 for the receiver to close: when it exits,
 *                                 every byte has arrived
 *
 * Built static with musl-gcc so the same file runs on the host and, through
 * the project share, in the guest.  libc only, one buffer.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUF (256 * 1024)

static char buf[BUF];

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int usage(void)
{
	fprintf(stderr, "usage: net-tcp recv ADDR PORT | net-tcp send ADDR PORT MIB\n");
	return 2;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	int one = 1;

	if (argc < 4 || inet_pton(AF_INET, argv[2], &sa.sin_addr) != 1)
		return usage();
	sa.sin_port = htons((unsigned short)atoi(argv[3]));
	int s = socket(AF_INET, SOCK_STREAM, 0);
	if (s < 0) {
		perror("socket");
		return 1;
	}
	if (!strcmp(argv[1], "recv") && argc == 4) {
		setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(s, 1) < 0) {
			perror("bind");
			return 1;
		}
		/* Ready: the caller starts the sender after this line. */
		printf("listening\n");
		fflush(stdout);
		int c = accept(s, NULL, NULL);
		if (c < 0) {
			perror("accept");
			return 1;
		}
		double t0 = now();
		long long total = 0;
		ssize_t n;
		while ((n = read(c, buf, sizeof(buf))) > 0)
			total += n;
		printf("%lld %.6f\n", total, now() - t0);
		close(c);
		return 0;
	}
	if (!strcmp(argv[1], "send") && argc == 5) {
		long long left = atoll(argv[4]) * 1024 * 1024;
		if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			perror("connect");
			return 1;
		}
		memset(buf, 'g', sizeof(buf));
		while (left > 0) {
			ssize_t n = write(s, buf, left < BUF ? (size_t)left : BUF);
			if (n <= 0) {
				perror("write");
				return 1;
			}
			left -= n;
		}
		/* Whoever stops the VM once this exits must not cut the tail off. */
		shutdown(s, SHUT_WR);
		while (read(s, buf, sizeof(buf)) > 0)
			;
		close(s);
		return 0;
	}
	return usage();
}
