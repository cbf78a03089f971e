/* SPDX-License-Identifier: MIT */
/*
 * image-test-util.h - shared helpers of the image tests: scratch
 * directories, running tools (qemu-img as the oracle), JSON comparison
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

/* A fresh directory under $TMPDIR, removed by it_scratch_free(). */
char *it_scratch_new(void);
void it_scratch_free(char *dir);

/* Path of qemu-img / qemu-io, or NULL (then the caller skips). */
char *it_qemu_img(void);
char *it_qemu_io(void);
/* Path of the gv-image-cli harness in the build tree. */
char *it_cli(void);
/* Run the harness with @args (NULL-terminated, after the program name). */
int it_cli_run(const char *const *args, char **out, char **err);

/*
 * Run @argv (NULL-terminated); return its exit status (-1 if it could not
 * run or died of a signal); stdout and stderr into the optional outputs.
 */
int it_run(const char *const *argv, char **out, char **err);
/* Like it_run() but assert exit status 0 and return stdout. */
char *it_run_ok(const char *const *argv);

/* `qemu-img info --output=json [--backing-chain] PATH`, parsed. */
JsonNode *it_qemu_img_info(const char *path, gboolean chain);
/* `qemu-img check PATH` exits 0. */
void it_assert_qemu_img_check(const char *path);

/*
 * Every member that both @ours and @theirs have is equal (recursing into
 * objects and arrays); and each of the dotted @required keys ("a.b.c")
 * is present in both.  Failures name the key and both values.
 */
void it_assert_json_agrees(JsonNode *ours, JsonNode *theirs, const char *const *required);
JsonNode *it_json_parse(const char *text);

/* SHA-256 of a file's contents. */
char *it_file_sha256(const char *path);
/* Write @len bytes of a repeatable pseudo-random stream from @seed. */
void it_write_random(const char *path, gsize len, guint32 seed);
/* Names in @dir, sorted, joined with ',' (to spot leftover temporaries). */
char *it_dir_listing(const char *dir);
