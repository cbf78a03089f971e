/* SPDX-License-Identifier: MIT */
/*
 * fuzz-driver.c - run a libFuzzer target without libFuzzer
 *
 * Builds without clang (-Dfuzzing=false, the default) link every fuzz
 * target against this main() so that the targets keep compiling with gcc
 * and their seed inputs run as ordinary unit tests.  Arguments are files or
 * directories of inputs.  GV_FUZZ_RANDOM_RUNS=N adds N pseudo-random inputs
 * from a fixed seed, so a run is repeatable.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		perror(path);
		return -1;
	}
	size_t cap = 1 << 16, len = 0;
	uint8_t *buf = malloc(cap);
	size_t n;
	while (buf && (n = fread(buf + len, 1, cap - len, f)) > 0) {
		len += n;
		if (len == cap) {
			cap *= 2;
			buf = realloc(buf, cap);
		}
	}
	fclose(f);
	if (!buf)
		return -1;
	LLVMFuzzerTestOneInput(buf, len);
	free(buf);
	return 0;
}

static int run_path(const char *path)
{
	struct stat st;
	if (stat(path, &st) < 0) {
		perror(path);
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		return run_file(path);
	DIR *d = opendir(path);
	if (!d)
		return -1;
	struct dirent *de;
	int rc = 0, count = 0;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char sub[4096];
		snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
		rc |= run_path(sub);
		count++;
	}
	closedir(d);
	return rc;
}

int main(int argc, char **argv)
{
	int rc = 0;
	for (int i = 1; i < argc; i++) {
		if (argv[i][0] == '-')
			continue; /* libFuzzer flags such as -runs= are ignored here */
		rc |= run_path(argv[i]);
	}
	const char *env = getenv("GV_FUZZ_RANDOM_RUNS");
	long runs = env ? strtol(env, NULL, 10) : 0;
	uint64_t x = 0x9e3779b97f4a7c15ull;
	for (long r = 0; r < runs; r++) {
		uint8_t buf[512];
		size_t len = (size_t)(r % (long)sizeof(buf));
		for (size_t i = 0; i < len; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			buf[i] = (uint8_t)x;
		}
		LLVMFuzzerTestOneInput(buf, len);
	}
	return rc ? 1 : 0;
}
