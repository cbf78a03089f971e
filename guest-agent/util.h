/* SPDX-License-Identifier: MIT */
/*
 * util.h - small helpers shared by every module of grainvm-agent
 *
 * The agent links nothing but libc, so the few conveniences a program
 * usually takes from glib (logging, whole-file reads, mkdir -p, a
 * monotonic clock) live here, each bounded so that a hostile or broken
 * guest file cannot make the agent allocate without limit.
 */
#ifndef GRAINVM_AGENT_UTIL_H
#define GRAINVM_AGENT_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define container_of(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

#ifndef GV_AGENT_VERSION
#define GV_AGENT_VERSION "0.1.0"
#endif

/**
 * log_msg() - print one line on stderr, prefixed with "grainvm-agent: "
 * @fmt: printf format
 *
 * In init mode stderr is the console, so this is how boot problems reach
 * the launcher's console log; in service mode it reaches the journal.
 */
void log_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/**
 * now_ms() - CLOCK_MONOTONIC in milliseconds
 *
 * Return: milliseconds since an arbitrary point; never goes backwards.
 */
int64_t now_ms(void);

/**
 * read_file() - read a small file whole into @buf, NUL-terminated
 * @path: the file
 * @buf: destination
 * @size: size of @buf; at most @size - 1 bytes are read
 *
 * Meant for /proc and /sys files, whose size stat() does not report.
 *
 * Return: bytes read (the file is truncated silently to fit), or -errno.
 */
ssize_t read_file(const char *path, char *buf, size_t size);

/**
 * read_file_alloc() - read a file whole into a new buffer, NUL-terminated
 * @path: the file
 * @max: largest size accepted
 * @out: (out) (transfer full): the text, written only on success
 *
 * Return: bytes read, -EFBIG when the file is larger than @max, or -errno.
 */
ssize_t read_file_alloc(const char *path, size_t max, char **out);

/**
 * write_all() - write a whole buffer to a blocking fd
 * @fd: descriptor
 * @buf: data
 * @len: length
 *
 * Return: 0, or -errno.
 */
int write_all(int fd, const void *buf, size_t len);

/**
 * write_file() - create or truncate a file and write @text to it
 * @path: the file
 * @text: NUL-terminated contents
 *
 * Return: 0, or -errno.
 */
int write_file(const char *path, const char *text);

/**
 * mkdir_p() - create a directory and its parents
 * @path: absolute path
 * @mode: mode of the directories created
 *
 * Return: 0 (also when it exists already), or -errno.
 */
int mkdir_p(const char *path, mode_t mode);

/**
 * trim() - strip trailing whitespace (newline from /sys files) in place
 * @s: string
 *
 * Return: @s.
 */
char *trim(char *s);

/**
 * mountinfo_unescape() - undo the octal escapes of /proc/self/mountinfo
 * @s: field, modified in place ("\040" becomes a space)
 */
void mountinfo_unescape(char *s);

#endif
