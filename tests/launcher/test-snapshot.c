/* SPDX-License-Identifier: MIT */
/*
 * test-snapshot.c - snapshots without a VM: the argv match and its
 * messages, the state file codec against truncation and corruption, the
 * snapshot directory life cycle, the disk copy that flattens a chain
 * (real qemu-img and qemu-io), and restore refusals that must happen
 * before anything starts
 */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "boot/argv.h"
#include "grainvm-image.h"
#include "gv-error.h"
#include "paths.h"
#include "boot/prepare.h"
#include "snapshot/snapshot-state.h"
#include "snapshot/snapshot.h"
#include "boot/spec.h"
#include "liveness.h"

/* ---- argv matching ------------------------------------------------------------- */

static const char *const saved_argv[] = {
	"/usr/bin/qemu-system-x86_64", "-name", "t", "-machine", "q35", "-m", "1024M", "-S",
	"-nodefaults", "-device", "virtio-serial-pci,id=vser0",
	"-blockdev", "driver=file,node-name=disk0-file,filename=/var/lib/a,,b/overlay.qcow2",
	"-blockdev", "driver=qcow2,node-name=disk0,file=disk0-file",
	"-fsdev", "local,id=fs-workspace,path=/home/me/proj,security_model=mapped-xattr",
	"-device", "virtio-9p-pci,fsdev=fs-workspace,mount_tag=workspace",
	"-kernel", "/k", "-append", "console=ttyS0", NULL,
};

static void test_normalize(void)
{
	g_auto(GStrv) n = gv_snapshot_argv_normalize(saved_argv);
	g_autofree char *joined = g_strjoinv(" ", n);
	g_assert_cmpstr(joined, ==,
			"-name t -machine q35 -m 1024M -S -nodefaults -device virtio-serial-pci,id=vser0 "
			"-blockdev driver=file,node-name=disk0-file "
			"-blockdev driver=qcow2,node-name=disk0,file=disk0-file "
			"-fsdev local,id=fs-workspace,security_model=mapped-xattr "
			"-device virtio-9p-pci,fsdev=fs-workspace,mount_tag=workspace "
			"-kernel /k -append console=ttyS0");

	/* A restore's argv: another QEMU path, disk, share source, and -incoming. */
	const char *const restored[] = {
		"qemu-system-x86_64", "-name", "t", "-machine", "q35", "-m", "1024M", "-S",
		"-nodefaults", "-device", "virtio-serial-pci,id=vser0",
		"-blockdev", "driver=file,node-name=disk0-file,filename=/x/snapshot-run.qcow2",
		"-blockdev", "driver=qcow2,node-name=disk0,file=disk0-file",
		"-fsdev", "local,id=fs-workspace,path=/elsewhere,security_model=mapped-xattr",
		"-device", "virtio-9p-pci,fsdev=fs-workspace,mount_tag=workspace",
		"-kernel", "/k", "-append", "console=ttyS0", "-incoming", "fd:7", NULL,
	};
	g_auto(GStrv) r = gv_snapshot_argv_normalize(restored);
	g_assert_null(gv_snapshot_argv_diff((const char *const *)n, (const char *const *)r));
}

/* A template's argv and a clone's: what may differ, and what may not. */
static void test_clone_identity(void)
{
	const char *const tmpl[] = {
		"/usr/bin/qemu-system-x86_64", "-name", "tmpl", "-machine", "q35,memory-backend=ram",
		"-m", "512M", "-object",
		"memory-backend-file,id=ram,size=512M,mem-path=/dev/shm/g/tmpl-x.ram,share=on",
		"-device", "virtio-net-pci,netdev=net0,mac=52:54:00:00:00:01",
		"-append", "console=ttyS0 grainvm.hostname=tmpl", NULL,
	};
	const char *const clone[] = {
		"/usr/bin/qemu-system-x86_64", "-name", "c1", "-machine", "q35,memory-backend=ram",
		"-m", "512M", "-object",
		"memory-backend-file,id=ram,size=512M,mem-path=/dev/shm/g/tmpl.t-1.tmpl,share=off",
		"-device", "virtio-net-pci,netdev=net0,mac=52:54:00:00:00:02",
		"-append", "console=ttyS0 grainvm.hostname=c1", "-incoming", "defer", NULL,
	};
	g_auto(GStrv) a = gv_snapshot_argv_normalize(tmpl);
	g_auto(GStrv) b = gv_snapshot_argv_normalize(clone);
	/* An ordinary restore must be the same VM: the name and MAC count. */
	g_autofree char *d = gv_snapshot_argv_diff((const char *const *)a, (const char *const *)b);
	g_assert_nonnull(strstr(d, "VM name: c1 now, tmpl in the snapshot"));
	g_auto(GStrv) ai = gv_snapshot_argv_without_identity((const char *const *)a);
	g_auto(GStrv) bi = gv_snapshot_argv_without_identity((const char *const *)b);
	g_assert_null(gv_snapshot_argv_diff((const char *const *)ai, (const char *const *)bi));
	/* The RAM's size is not identity. */
	g_autofree char *joined = g_strjoinv(" ", ai);
	g_assert_cmpstr(joined, ==, "-machine q35,memory-backend=ram -m 512M -object "
			"memory-backend-file,id=ram,size=512M -device virtio-net-pci,netdev=net0");
}

static char *diff_after(const char *from, const char *to)
{
	g_auto(GStrv) a = gv_snapshot_argv_normalize(saved_argv);
	g_auto(GStrv) b = g_strdupv(a);
	gboolean changed = FALSE;
	for (char **p = b; *p; p++) {
		if (!strcmp(*p, from)) {
			g_free(*p);
			*p = g_strdup(to);
			changed = TRUE;
		}
	}
	g_assert_true(changed);
	return gv_snapshot_argv_diff((const char *const *)a, (const char *const *)b);
}

static void test_diff(void)
{
	g_autofree char *mem = diff_after("1024M", "2048M");
	g_assert_cmpstr(mem, ==, "memory: 2048M now, 1024M in the snapshot");

	g_autofree char *dev = diff_after("virtio-9p-pci,fsdev=fs-workspace,mount_tag=workspace",
					  "virtio-9p-pci,fsdev=fs-workspace,mount_tag=ws");
	g_assert_cmpstr(dev, ==,
			"device virtio-9p-pci,fsdev=fs-workspace,mount_tag=ws is new; "
			"device virtio-9p-pci,fsdev=fs-workspace,mount_tag=workspace is gone");

	/* A device more, and an option the snapshot did not have at all. */
	g_auto(GStrv) a = gv_snapshot_argv_normalize(saved_argv);
	GPtrArray *more = g_ptr_array_new();
	for (char **p = a; *p; p++)
		g_ptr_array_add(more, *p);
	g_ptr_array_add(more, "-device");
	g_ptr_array_add(more, "virtio-rng-pci");
	g_ptr_array_add(more, "-no-reboot");
	g_ptr_array_add(more, NULL);
	g_autofree char *d = gv_snapshot_argv_diff((const char *const *)a,
						   (const char *const *)more->pdata);
	g_assert_cmpstr(d, ==, "device virtio-rng-pci is new; option -no-reboot is new");
	g_ptr_array_free(more, TRUE);
}

/* ---- the state file ------------------------------------------------------------ */

static char *tmpdir;

static char *tmp_path(const char *name)
{
	return g_build_filename(tmpdir, name, NULL);
}

/* A stream that looks like RAM: runs of zeroes, text, and noise. */
static GBytes *fake_stream(gsize len)
{
	guint8 *b = g_malloc0(len);
	GRand *r = g_rand_new_with_seed(7);
	for (gsize i = 0; i < len; i += 4096) {
		gsize kind = (i / 4096) % 3;
		for (gsize j = i; j < MIN(len, i + 4096); j++)
			b[j] = kind == 0 ? 0 : kind == 1 ? "grainvm "[j % 8]
						: (guint8)g_rand_int(r);
	}
	g_rand_free(r);
	return g_bytes_new_take(b, len);
}

static char *save_stream(GBytes *data, guint64 *file_bytes)
{
	g_autofree char *raw = tmp_path("stream.raw");
	char *state = tmp_path("state.zst");
	gsize len;
	const char *p = g_bytes_get_data(data, &len);
	g_assert_true(g_file_set_contents(raw, p, (gssize)len, NULL));
	g_unlink(state);
	int fd = open(raw, O_RDONLY);
	g_autoptr(GError) err = NULL;
	guint64 rawn = 0;
	g_assert_true(gv_state_save(fd, state, &rawn, file_bytes, &err));
	g_assert_no_error(err);
	close(fd);
	g_assert_cmpuint(rawn, ==, len);
	return state;
}

static gboolean load_to(const char *state, GBytes **out, GError **error)
{
	g_autofree char *dst = tmp_path("loaded.raw");
	int fd = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	guint64 n = 0;
	gboolean ok = gv_state_load(state, fd, &n, error);
	close(fd);
	if (ok && out) {
		char *text;
		gsize len;
		g_assert_true(g_file_get_contents(dst, &text, &len, NULL));
		g_assert_cmpuint(len, ==, n);
		*out = g_bytes_new_take(text, len);
	}
	return ok;
}

static void test_state_round_trip(void)
{
	g_autoptr(GBytes) data = fake_stream(3u << 20);
	guint64 file_bytes = 0;
	g_autofree char *state = save_stream(data, &file_bytes);
	GStatBuf st;
	g_assert_cmpint(g_stat(state, &st), ==, 0);
	g_assert_cmpuint((guint64)st.st_size, ==, file_bytes);
	/* A third is zeroes and a third one repeated word: it must shrink. */
	g_assert_cmpuint(file_bytes, <, (3u << 20) / 2);

	g_autoptr(GBytes) back = NULL;
	g_autoptr(GError) err = NULL;
	g_assert_true(load_to(state, &back, &err));
	g_assert_no_error(err);
	g_assert_true(g_bytes_equal(back, data));
}

static void test_state_damage(void)
{
	g_autoptr(GBytes) data = fake_stream(2u << 20);
	guint64 file_bytes = 0;
	g_autofree char *state = save_stream(data, &file_bytes);
	g_autofree char *orig = NULL;
	gsize len;
	g_assert_true(g_file_get_contents(state, &orig, &len, NULL));

	/* Cut short, anywhere. */
	const gsize cuts[] = { 0, 5, len / 2, len - 1 };
	for (gsize i = 0; i < G_N_ELEMENTS(cuts); i++) {
		g_assert_true(g_file_set_contents(state, orig, (gssize)cuts[i], NULL));
		g_autoptr(GError) err = NULL;
		g_assert_false(load_to(state, NULL, &err));
		g_assert_nonnull(err);
		if (!strstr(err->message, "cut short") && !strstr(err->message, "corrupt"))
			g_error("cut at %zu: %s", cuts[i], err->message);
	}

	/* One flipped byte in the middle: the checksum catches what zstd's framing may not. */
	g_autofree char *bad = g_memdup2(orig, len);
	bad[len / 2] ^= 0x55;
	g_assert_true(g_file_set_contents(state, bad, (gssize)len, NULL));
	g_autoptr(GError) err = NULL;
	g_assert_false(load_to(state, NULL, &err));
	g_assert_nonnull(strstr(err->message, "is corrupt"));

	/* Data after the frame. */
	GString *s = g_string_new_len(orig, (gssize)len);
	g_string_append(s, "trailing");
	g_assert_true(g_file_set_contents(state, s->str, (gssize)s->len, NULL));
	g_string_free(s, TRUE);
	g_autoptr(GError) err2 = NULL;
	g_assert_false(load_to(state, NULL, &err2));
	g_assert_nonnull(strstr(err2->message, "data after the end"));

	/* A reader that went away (QEMU exited) is a broken pipe, not corruption. */
	g_assert_true(g_file_set_contents(state, orig, (gssize)len, NULL));
	int p[2];
	g_assert_cmpint(pipe(p), ==, 0);
	close(p[0]);
	g_autoptr(GError) err3 = NULL;
	signal(SIGPIPE, SIG_IGN);
	g_assert_false(gv_state_load(state, p[1], NULL, &err3));
	g_assert_true(g_error_matches(err3, G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE));
	close(p[1]);
}

/* ---- directories ----------------------------------------------------------------- */

static GvVmPaths *test_vm(void)
{
	g_autofree char *home = tmp_path("home");
	g_setenv("GRAINVM_HOME", home, TRUE);
	g_autoptr(GError) err = NULL;
	GvVmPaths *vm = gv_vm_paths_new("snapvm", &err);
	g_assert_no_error(err);
	g_assert_true(gv_mkdir_private(vm->state_dir, NULL));
	return vm;
}

static void stage_with(const GvVmPaths *vm, const char *tag, gint64 created)
{
	g_autoptr(GError) err = NULL;
	g_autofree char *stage = gv_snapshot_stage_new(vm, &err);
	g_assert_no_error(err);
	g_autofree char *manifest = g_build_filename(stage, "manifest.json", NULL);
	g_autofree char *text = g_strdup_printf("{\"format\": 1, \"tag\": \"%s\", \"created\": %"
						G_GINT64_FORMAT "}", tag, created);
	g_assert_true(g_file_set_contents(manifest, text, -1, NULL));
	gboolean replaced = TRUE;
	g_assert_true(gv_snapshot_commit(vm, tag, stage, &replaced, &err));
	g_assert_no_error(err);
}

static void test_dirs(void)
{
	g_autoptr(GvVmPaths) vm = test_vm();
	g_autoptr(GError) err = NULL;

	g_autoptr(GPtrArray) none = gv_snapshot_list(vm, &err);
	g_assert_no_error(err);
	g_assert_cmpuint(none->len, ==, 0);

	stage_with(vm, "b", 200);
	stage_with(vm, "a", 100);
	/* Replacing swaps atomically and says so. */
	g_autofree char *stage = gv_snapshot_stage_new(vm, &err);
	g_autofree char *mf = g_build_filename(stage, "manifest.json", NULL);
	g_assert_true(g_file_set_contents(mf, "{\"format\": 1, \"tag\": \"b\", \"created\": 300}", -1,
					  NULL));
	gboolean replaced = FALSE;
	g_assert_true(gv_snapshot_commit(vm, "b", stage, &replaced, &err));
	g_assert_true(replaced);
	g_assert_false(g_file_test(stage, G_FILE_TEST_EXISTS));

	/* A damaged one is listed, with why. */
	g_autofree char *root = gv_snapshot_root(vm);
	g_autofree char *broken = g_build_filename(root, "broken", NULL);
	g_assert_cmpint(g_mkdir(broken, 0700), ==, 0);

	g_autoptr(GPtrArray) all = gv_snapshot_list(vm, &err);
	g_assert_no_error(err);
	g_assert_cmpuint(all->len, ==, 3);
	g_assert_cmpstr(json_object_get_string_member(g_ptr_array_index(all, 0), "tag"), ==, "broken");
	g_assert_true(json_object_has_member(g_ptr_array_index(all, 0), "error"));
	g_assert_cmpstr(json_object_get_string_member(g_ptr_array_index(all, 1), "tag"), ==, "a");
	g_assert_cmpint(json_object_get_int_member(g_ptr_array_index(all, 2), "created"), ==, 300);

	g_assert_true(gv_snapshot_remove(vm, "broken", &err));
	g_assert_false(gv_snapshot_remove(vm, "broken", &err));
	g_assert_true(g_error_matches(err, GV_ERROR, GV_ERROR_STATE));
	g_clear_error(&err);
	g_assert_null(gv_snapshot_manifest_read(vm, "nope", &err));
	g_assert_true(g_error_matches(err, GV_ERROR, GV_ERROR_STATE));
	g_clear_error(&err);
	g_assert_false(gv_snapshot_check_tag("../x", &err));
	g_assert_true(g_error_matches(err, GV_ERROR, GV_ERROR_INVALID));
	gv_rm_rf(vm->state_dir, NULL);
}

/* ---- disks ---------------------------------------------------------------------- */

static void qemu_io(const char *image, const char *cmd, gboolean expect_ok)
{
	const char *argv[] = { "qemu-io", "-f", "qcow2", "-c", cmd, image, NULL };
	g_autofree char *out = NULL;
	int status;
	g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out,
				   NULL, &status, NULL));
	gboolean ok = g_spawn_check_wait_status(status, NULL) && !strstr(out, "Pattern verification failed");
	if (ok != expect_ok)
		g_error("qemu-io %s %s: %s", image, cmd, out);
}

static void test_copy_disk(void)
{
	g_autoptr(GError) err = NULL;
	g_autofree char *base = tmp_path("base.qcow2");
	g_autofree char *mid = tmp_path("mid.qcow2");
	g_autofree char *top = tmp_path("top.qcow2");
	g_autofree char *copy1 = tmp_path("copy1.qcow2");
	g_autofree char *copy2 = tmp_path("copy2.qcow2");

	g_assert_true(gv_image_create_qcow2(base, 4u << 20, NULL, NULL, 0, &err));
	qemu_io(base, "write -P 0x11 0 64k", TRUE);
	g_assert_true(gv_image_create_qcow2(mid, 0, base, "qcow2", 0, &err));
	qemu_io(mid, "write -P 0x22 64k 64k", TRUE);

	/* A VM's own overlay on the base: a plain copy, still on the base. */
	g_assert_true(gv_snapshot_copy_disk(mid, base, copy1, &err));
	g_assert_no_error(err);
	g_autoptr(GvImageInfo) i1 = gv_image_info_read(copy1, &err);
	g_assert_cmpstr(i1->full_backing_file, ==, base);
	qemu_io(copy1, "read -P 0x11 0 64k", TRUE);
	qemu_io(copy1, "read -P 0x22 64k 64k", TRUE);

	/* A VM running from a snapshot: its overlay on mid flattens onto the base. */
	g_assert_true(gv_image_create_qcow2(top, 0, mid, "qcow2", 0, &err));
	qemu_io(top, "write -P 0x33 128k 64k", TRUE);
	g_assert_true(gv_snapshot_copy_disk(top, base, copy2, &err));
	g_assert_no_error(err);
	g_autoptr(GvImageInfo) i2 = gv_image_info_read(copy2, &err);
	g_assert_cmpstr(i2->full_backing_file, ==, base);
	g_unlink(mid); /* the copy must not need it any more */
	qemu_io(copy2, "read -P 0x11 0 64k", TRUE);
	qemu_io(copy2, "read -P 0x22 64k 64k", TRUE);
	qemu_io(copy2, "read -P 0x33 128k 64k", TRUE);

	/* A failed copy leaves no file. */
	g_autofree char *copy3 = tmp_path("copy3.qcow2");
	g_assert_false(gv_snapshot_copy_disk(mid, base, copy3, &err));
	g_assert_false(g_file_test(copy3, G_FILE_TEST_EXISTS));
}

/* ---- restore refusals ------------------------------------------------------------- */

typedef struct {
	GvVmPaths *vm;
	GvSpec *spec;
	GvPrepared *prep;
	char *project;
} RestoreFixture;

static GvSpec *load_spec(const char *project, const char *conf)
{
	g_autofree char *file = g_build_filename(project, "grainvm.conf", NULL);
	g_assert_true(g_file_set_contents(file, conf, -1, NULL));
	g_autoptr(GError) err = NULL;
	GvSpec *spec = gv_spec_load(project, NULL, NULL, project, &err);
	g_assert_no_error(err);
	return spec;
}

/* A snapshot "s" whose manifest says it was saved from @conf. */
static void fake_snapshot(RestoreFixture *f, const char *conf, const char *state_text)
{
	g_autoptr(GvSpec) spec = load_spec(f->project, conf);
	g_auto(GStrv) argv = gv_qemu_argv(spec, &f->prep->facts);
	g_auto(GStrv) norm = gv_snapshot_argv_normalize((const char *const *)argv);
	g_autoptr(GError) err = NULL;
	g_autofree char *stage = gv_snapshot_stage_new(f->vm, &err);
	g_autoptr(JsonObject) m = json_object_new();
	json_object_set_int_member(m, "format", GV_SNAPSHOT_FORMAT);
	json_object_set_int_member(m, "created", 1);
	json_object_set_object_member(m, "qemu", gv_file_identity(f->prep->qemu));
	JsonArray *a = json_array_new();
	for (char **p = norm; *p; p++)
		json_array_add_string_element(a, *p);
	json_object_set_array_member(m, "argv", a);
	JsonObject *st = json_object_new();
	json_object_set_int_member(st, "bytes", 10);
	json_object_set_object_member(m, "state", st);
	g_autoptr(JsonNode) n = json_node_init_object(json_node_alloc(), m);
	g_autofree char *text = gv_json_to_string(n, TRUE);
	g_autofree char *mf = g_build_filename(stage, "manifest.json", NULL);
	g_autofree char *sf = g_build_filename(stage, "state.zst", NULL);
	g_assert_true(g_file_set_contents(mf, text, -1, NULL));
	g_assert_true(g_file_set_contents(sf, state_text, -1, NULL));
	gboolean replaced;
	g_assert_true(gv_snapshot_commit(f->vm, "s", stage, &replaced, &err));
}

static void test_restore_refusals(void)
{
	RestoreFixture f = { .vm = test_vm() };
	f.project = tmp_path("proj");
	g_mkdir(f.project, 0700);
	f.prep = g_new0(GvPrepared, 1);
	f.prep->created = g_ptr_array_new_with_free_func(g_free);
	f.prep->qemu = g_strdup("/bin/sh"); /* any file: only its identity is compared */
	f.prep->facts = (GvHostFacts){ .qemu = f.prep->qemu, .accel = GV_ACCEL_TCG,
				       .kernel = "/k", .firmware = GV_FIRMWARE_NONE };
	g_autoptr(GError) err = NULL;

	fake_snapshot(&f, "[vm]\nname=snapvm\nmemory=1G\n", "0123456789");
	/* Same spec: accepted, and the argv now asks for -incoming. */
	g_autoptr(GvSpec) same = load_spec(f.project, "[vm]\nname=snapvm\nmemory=1G\n");
	g_autoptr(GvRestore) r = gv_snapshot_restore_prepare(f.vm, f.vm, "s", same, f.prep, &err);
	g_assert_no_error(err);
	g_assert_true(f.prep->facts.incoming);
	g_assert_null(r->run_overlay);
	f.prep->facts.incoming = FALSE;

	/* More memory: refused, saying so. */
	g_autoptr(GvSpec) bigger = load_spec(f.project, "[vm]\nname=snapvm\nmemory=2G\n");
	g_assert_null(gv_snapshot_restore_prepare(f.vm, f.vm, "s", bigger, f.prep, &err));
	g_assert_true(g_error_matches(err, GV_ERROR, GV_ERROR_INVALID));
	g_assert_nonnull(strstr(err->message, "memory: 2048M now, 1024M in the snapshot"));
	g_assert_false(f.prep->facts.incoming);
	g_clear_error(&err);

	/* A disk now, none then. */
	g_autoptr(GvSpec) disk = load_spec(f.project, "[vm]\nname=snapvm\nmemory=1G\n[disk]\nsize=8M\n");
	f.prep->disk = g_strdup("/tmp/overlay.qcow2");
	f.prep->facts.disk = f.prep->disk;
	g_assert_null(gv_snapshot_restore_prepare(f.vm, f.vm, "s", disk, f.prep, &err));
	g_assert_nonnull(strstr(err->message, "saved without a disk"));
	g_clear_error(&err);
	g_clear_pointer(&f.prep->disk, g_free);
	f.prep->facts.disk = NULL;

	/* Another QEMU binary of another version. */
	g_free(f.prep->qemu);
	f.prep->qemu = g_strdup("/bin/true");
	g_assert_null(gv_snapshot_restore_prepare(f.vm, f.vm, "s", same, f.prep, &err));
	g_assert_nonnull(strstr(err->message, "QEMU"));
	g_clear_error(&err);
	g_free(f.prep->qemu);
	f.prep->qemu = g_strdup("/bin/sh");

	/* The state file cut short: refused before QEMU could see it. */
	g_autoptr(GvSnapshotPaths) sp = gv_snapshot_paths_new(f.vm, "s");
	g_assert_true(g_file_set_contents(sp->state, "01234", -1, NULL));
	g_assert_null(gv_snapshot_restore_prepare(f.vm, f.vm, "s", same, f.prep, &err));
	g_assert_true(g_error_matches(err, GV_ERROR, GV_ERROR_FAILED));
	g_assert_nonnull(strstr(err->message, "cut short: 5 bytes, 10 were saved"));
	g_clear_error(&err);

	/* An ordinary snapshot starts no other VM: only a template does. */
	g_autoptr(GvVmPaths) clone = gv_vm_paths_new("clone1", &err);
	g_assert_no_error(err);
	g_autoptr(GvSpec) cspec = load_spec(f.project, "[vm]\nname=clone1\nmemory=1G\n");
	g_assert_true(g_file_set_contents(sp->state, "0123456789", -1, NULL));
	g_assert_null(gv_snapshot_restore_prepare(clone, f.vm, "s", cspec, f.prep, &err));
	g_assert_true(g_error_matches(err, GV_ERROR, GV_ERROR_INVALID));
	g_assert_nonnull(strstr(err->message, "snapshot s of vm snapvm is not a template"));
	g_assert_false(f.prep->facts.incoming);
	g_clear_error(&err);

	/* No such snapshot. */
	g_assert_null(gv_snapshot_restore_prepare(f.vm, f.vm, "other", same, f.prep, &err));
	g_assert_true(g_error_matches(err, GV_ERROR, GV_ERROR_STATE));

	g_assert_cmpuint(f.prep->created->len, ==, 0);
	gv_prepared_free(f.prep);
	gv_rm_rf(f.vm->state_dir, NULL);
	gv_vm_paths_free(f.vm);
	gv_rm_rf(f.project, NULL);
	g_free(f.project);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	tmpdir = g_dir_make_tmp("gv-snap-XXXXXX", NULL);
	g_test_add_func("/snapshot/argv/normalize", test_normalize);
	g_test_add_func("/snapshot/argv/diff", test_diff);
	g_test_add_func("/snapshot/argv/clone-identity", test_clone_identity);
	g_test_add_func("/snapshot/state/round-trip", test_state_round_trip);
	g_test_add_func("/snapshot/state/damage", test_state_damage);
	g_test_add_func("/snapshot/dirs", test_dirs);
	g_test_add_func("/snapshot/copy-disk", test_copy_disk);
	g_test_add_func("/snapshot/restore-refusals", test_restore_refusals);
	int rc = g_test_run();
	gv_rm_rf(tmpdir, NULL);
	return rc;
}
