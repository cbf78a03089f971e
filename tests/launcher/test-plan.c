/* SPDX-License-Identifier: MIT */
/*
 * test-plan.c - the plan codec: round trips, the plan.json format as `up`
 * has always written it, malformed plans (each error names the member),
 * and the two ways a plan reaches a supervisor: a file the caller owns
 * and a sealed memfd
 */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gv-error.h"
#include "liveness.h"
#include "plan.h"

/* A plan.json as `up` wrote it before the codec existed, every member used. */
static const char full_plan[] =
	"{\"name\": \"t\","
	" \"argv\": [\"/usr/bin/qemu-system-x86_64\", \"-name\", \"t\", \"-m\", \"512M\"],"
	" \"ready-timeout\": 300, \"ready\": \"system\", \"accel\": \"tcg\", \"accel-reason\": \"no KVM\","
	" \"boot\": \"direct kernel\", \"project-dir\": \"/home/me/p\","
	" \"memory\": 536870912, \"cpus\": 2,"
	" \"disk\": \"/var/lib/grainvm/t/overlay.qcow2\", \"disk-image\": \"/img/base.qcow2\","
	" \"shares\": [{\"id\": \"workspace\", \"source\": \"/home/me/p\", \"tag\": \"workspace\","
	"   \"mount\": \"/mnt/workspace\", \"readonly\": false, \"msize\": 524288,"
	"   \"cache\": \"mmap\", \"security\": \"mapped-xattr\"}],"
	" \"nics\": [{\"id\": \"\", \"netdev\": \"net0\", \"mode\": \"user\","
	"   \"mac\": \"52:54:00:12:34:56\", \"forwards\": [{\"proto\": \"tcp\","
	"   \"host-addr\": \"127.0.0.1\", \"host-port\": 8080, \"guest-port\": 80}],"
	"   \"auto-forward\": true, \"auto-forward-privileged\": true, \"auto-forward-max\": 8},"
	"  {\"id\": \"lan\", \"netdev\": \"net1\", \"mode\": \"switch\","
	"   \"mac\": \"52:54:00:12:34:57\", \"fd\": 8, \"network\": \"default\","
	"   \"address\": \"10.0.0.2/24\", \"mtu\": 1400}],"
	" \"restore\": {\"tag\": \"s1\", \"state\": \"/var/lib/grainvm/t/snapshots/s1/state.zst\","
	"   \"run-overlay\": \"/var/lib/grainvm/t/snapshot-run.qcow2\"},"
	" \"boot-origin\": \"direct kernel (cold)\"}";

static JsonNode *parse(const char *text)
{
	JsonObject *o = gv_json_parse_object(text, -1, NULL);
	g_assert_nonnull(o);
	return json_node_init_object(json_node_alloc(), o);
}

static void test_round_trip(void)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(GvPlan) p = gv_plan_from_data(full_plan, strlen(full_plan), &err);
	g_assert_no_error(err);
	g_assert_cmpstr(p->name, ==, "t");
	g_assert_cmpuint(g_strv_length(p->argv), ==, 5);
	g_assert_cmpstr(p->argv[0], ==, "/usr/bin/qemu-system-x86_64");
	g_assert_cmpuint(p->ready_timeout, ==, 300);
	g_assert_true(p->ready_system);
	g_assert_cmpuint(p->memory, ==, 536870912);
	g_assert_cmpuint(p->cpus, ==, 2);
	g_assert_cmpstr(p->disk, ==, "/var/lib/grainvm/t/overlay.qcow2");
	g_assert_cmpuint(p->shares->len, ==, 1);
	const GvPlanShare *s = g_ptr_array_index(p->shares, 0);
	g_assert_cmpuint(s->msize, ==, 524288);
	g_assert_false(s->readonly);
	g_assert_cmpuint(p->nics->len, ==, 2);
	const GvPlanNic *u = g_ptr_array_index(p->nics, 0), *w = g_ptr_array_index(p->nics, 1);
	g_assert_cmpint(u->mode, ==, GV_NET_USER);
	g_assert_cmpint(u->fd, ==, -1);
	g_assert_true(u->auto_forward);
	g_assert_true(u->auto_forward_privileged);
	g_assert_cmpuint(u->auto_forward_max, ==, 8);
	g_assert_cmpuint(u->forwards->len, ==, 1);
	const GvForward *f = g_ptr_array_index(u->forwards, 0);
	g_assert_cmpstr(f->proto, ==, "tcp");
	g_assert_cmpuint(f->host_port, ==, 8080);
	g_assert_cmpuint(f->guest_port, ==, 80);
	g_assert_cmpint(w->mode, ==, GV_NET_SWITCH);
	g_assert_cmpint(w->fd, ==, 8);
	g_assert_cmpuint(w->mtu, ==, 1400);
	g_assert_null(w->forwards);
	g_assert_nonnull(p->restore);
	g_assert_cmpstr(p->restore->tag, ==, "s1");
	g_assert_cmpstr(p->boot_origin, ==, "direct kernel (cold)");

	/* The format does not change: what the codec writes equals what up wrote. */
	g_autofree char *text = gv_plan_to_data(p);
	g_autoptr(JsonNode) a = parse(full_plan), b = parse(text);
	g_assert_true(json_node_equal(a, b));

	/* And a copy is equal, member by member, through the codec. */
	g_autoptr(GvPlan) c = gv_plan_copy(p);
	g_autofree char *text2 = gv_plan_to_data(c);
	g_assert_cmpstr(text, ==, text2);
}

static void test_minimal(void)
{
	/* Optional members absent: NULL or their neutral value, none invented. */
	const char *min = "{\"name\": \"m\", \"argv\": [\"qemu\"], \"ready-timeout\": 5,"
			  " \"accel\": \"kvm\", \"boot\": \"b\", \"memory\": 1, \"cpus\": 1,"
			  " \"shares\": [], \"nics\": []}";
	g_autoptr(GError) err = NULL;
	g_autoptr(GvPlan) p = gv_plan_from_data(min, strlen(min), &err);
	g_assert_no_error(err);
	g_assert_null(p->disk);
	g_assert_null(p->disk_image);
	g_assert_null(p->restore);
	g_assert_null(p->snapshot_argv);
	g_assert_null(p->accel_reason);
	g_autofree char *text = gv_plan_to_data(p);
	g_autoptr(JsonNode) a = parse(min), b = parse(text);
	g_assert_true(json_node_equal(a, b));
}

/* QEMU as another user: who, the files opened for it, a bridge NIC whose
 * tap comes from the helper the supervisor runs. */
static void test_qemu_user(void)
{
	const char *text =
		"{\"name\": \"m\", \"argv\": [\"qemu\", \"-kernel\", \"/proc/self/fd/64\"],"
		" \"snapshot-argv\": [\"qemu\", \"-kernel\", \"/c/k.elf\"], \"ready-timeout\": 5,"
		" \"accel\": \"kvm\", \"boot\": \"b\", \"memory\": 1, \"cpus\": 1,"
		" \"shares\": [], \"nics\": [{\"id\": \"\", \"netdev\": \"net0\","
		"   \"mode\": \"bridge\", \"mac\": \"52:54:00:12:34:56\", \"fd\": 8,"
		"   \"helper\": \"/usr/lib/qemu/qemu-bridge-helper\", \"bridge\": \"br0\"}],"
		" \"qemu-user\": {\"name\": \"grainvm\", \"uid\": 999, \"gid\": 995, \"kvm-gid\": 104},"
		" \"files\": [{\"fd\": 64, \"path\": \"/c/k.elf\", \"directory\": false},"
		"   {\"fd\": 66, \"path\": \"/p\", \"directory\": true},"
		"   {\"fd\": 18, \"path\": \"/s/overlay.qcow2\", \"directory\": false,"
		"    \"writable\": true}]}";
	g_autoptr(GError) err = NULL;
	g_autoptr(GvPlan) p = gv_plan_from_data(text, strlen(text), &err);
	g_assert_no_error(err);
	g_assert_true(p->qemu_user.drop);
	g_assert_cmpuint(p->qemu_user.uid, ==, 999);
	g_assert_cmpuint(p->qemu_user.gid, ==, 995);
	g_assert_cmpuint(p->qemu_user.kvm_gid, ==, 104);
	/* The command line a snapshot records: files by path. */
	g_assert_cmpstr(p->snapshot_argv[2], ==, "/c/k.elf");
	g_assert_null(p->snapshot_argv[3]);
	g_assert_cmpuint(p->files->len, ==, 3);
	const GvPlanFile *f = g_ptr_array_index(p->files, 1);
	g_assert_cmpint(f->fd, ==, 66);
	g_assert_true(f->directory);
	g_assert_false(f->writable);
	const GvPlanFile *disk = g_ptr_array_index(p->files, 2);
	g_assert_true(disk->writable);
	const GvPlanNic *n = g_ptr_array_index(p->nics, 0);
	g_assert_cmpstr(n->helper, ==, "/usr/lib/qemu/qemu-bridge-helper");
	g_autofree char *out = gv_plan_to_data(p);
	g_autoptr(JsonNode) a = parse(text), b = parse(out);
	g_assert_true(json_node_equal(a, b));

	/* Root is no user to drop to; a file below GV_FD_BLOCK_BASE would clobber a socket
	 * or a NIC; a directory is never opened for writing. */
	static const struct {
		const char *from, *to, *message;
	} cases[] = {
		{ "\"uid\": 999", "\"uid\": 0", "\"qemu-user.uid\" is 0" },
		{ "\"gid\": 995", "\"gid\": 0", "\"qemu-user.gid\" is 0" },
		{ "\"name\": \"grainvm\", ", "", "\"qemu-user.name\" is missing" },
		{ "\"fd\": 64", "\"fd\": 3", "\"files[0].fd\" is 3" },
		{ "\"fd\": 64", "\"fd\": 15", "\"files[0].fd\" is 15" },
		{ "\"directory\": true}", "\"directory\": true, \"writable\": true}",
		  "\"files[1].writable\" cannot go with a directory" },
		{ "\"path\": \"/c/k.elf\"", "\"path\": \"k.elf\"", "\"files[0].path\" must be an absolute path" },
		{ "[\"qemu\", \"-kernel\", \"/c/k.elf\"]", "[]", "\"snapshot-argv\" is empty" },
		{ "\"/c/k.elf\"]", "7]", "\"snapshot-argv[2]\" must be a string" },
	};
	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		const char *at = strstr(text, cases[i].from);
		g_assert_nonnull(at);
		g_autofree char *bad = g_strdup_printf("%.*s%s%s", (int)(at - text), text, cases[i].to,
						       at + strlen(cases[i].from));
		g_autoptr(GError) e = NULL;
		g_autoptr(GvPlan) q = gv_plan_from_data(bad, strlen(bad), &e);
		if (q || !e || !strstr(e->message, cases[i].message))
			g_error("case %zu (%s): got %s", i, cases[i].message, e ? e->message : "a plan");
	}
}

/* @text with the first occurrence of @from replaced by @to. */
static char *mutate(const char *from, const char *to)
{
	const char *at = strstr(full_plan, from);
	g_assert_nonnull(at);
	return g_strdup_printf("%.*s%s%s", (int)(at - full_plan), full_plan, to, at + strlen(from));
}

static void test_malformed(void)
{
	static const struct {
		const char *from, *to, *message;
	} cases[] = {
		{ "\"name\": \"t\",", "", "\"name\" is missing" },
		{ "\"name\": \"t\"", "\"name\": 7", "\"name\" must be a string" },
		{ "\"argv\": [", "\"argv\": 1, \"x\": [", "\"argv\" must be an array" },
		{ "[\"/usr/bin/qemu-system-x86_64\", \"-name\"", "[\"/q\", 3", "\"argv[1]\" must be a string" },
		{ "\"argv\": [\"/usr/bin/qemu-system-x86_64\", \"-name\", \"t\", \"-m\", \"512M\"]",
		  "\"argv\": []", "\"argv\" is empty" },
		{ "\"ready-timeout\": 300", "\"ready-timeout\": \"300\"", "\"ready-timeout\" must be an integer" },
		{ "\"ready-timeout\": 300", "\"ready-timeout\": 0", "\"ready-timeout\" is 0, not in 1..86400" },
		{ "\"ready-timeout\": 300", "\"ready-timeout\": 1.5", "\"ready-timeout\" must be an integer" },
		{ "\"ready\": \"system\"", "\"ready\": \"sometimes\"", "\"ready\" is neither \"agent\" nor \"system\"" },
		{ "\"ready\": \"system\"", "\"ready\": 1", "\"ready\" must be a string" },
		{ "\"memory\": 536870912", "\"memory\": -1", "\"memory\" is -1" },
		{ "\"cpus\": 2", "\"cpus\": null", "\"cpus\" is missing" },
		{ "\"cpus\": 2", "\"cpus\": true", "\"cpus\" must be an integer" },
		{ "\"disk\": \"/var", "\"disk\": [\"/var\"], \"d\": \"", "\"disk\" must be a string" },
		{ "\"shares\": [", "\"shares\": {}, \"s\": [", "\"shares\" must be an array" },
		{ "\"shares\": [{", "\"shares\": [7, {", "\"shares[0]\" must be an object" },
		{ "\"source\": \"/home/me/p\"", "\"source\": \"rel\"", "\"shares[0].source\" must be an absolute path" },
		{ "\"readonly\": false", "\"readonly\": \"no\"", "\"shares[0].readonly\" must be true or false" },
		{ "\"msize\": 524288", "\"msize\": 0", "\"shares[0].msize\" is 0" },
		{ "\"cache\": \"mmap\", ", "", "\"shares[0].cache\" is missing" },
		{ "\"mode\": \"user\"", "\"mode\": \"none\"", "\"nics[0].mode\" must be \"user\", \"bridge\" or \"switch\"" },
		{ "\"mac\": \"52:54:00:12:34:56\"", "\"mac\": {}", "\"nics[0].mac\" must be a string" },
		{ "\"host-port\": 8080", "\"host-port\": 70000", "\"nics[0].forwards[0].host-port\" is 70000" },
		{ "\"proto\": \"tcp\"", "\"proto\": \"sctp\"", "\"nics[0].forwards[0].proto\" must be" },
		{ "\"forwards\": [{", "\"forwards\": [[], {", "\"nics[0].forwards[0]\" must be an object" },
		{ "\"fd\": 8", "\"fd\": 0", "\"nics[1].fd\" is 0, not in 8..15" },
		{ "\"fd\": 8", "\"fd\": 2147483648", "\"nics[1].fd\" is 2147483648" },
		{ "\"mtu\": 1400", "\"mtu\": -5", "\"nics[1].mtu\" is -5" },
		{ "\"auto-forward\": true", "\"auto-forward\": 1", "\"nics[0].auto-forward\" must be true or false" },
		{ "\"mode\": \"user\",", "\"mode\": \"user\", \"fd\": 9,", "\"nics[0].fd\" is not for a user-mode NIC" },
		{ "\"restore\": {", "\"restore\": 1, \"r\": {", "\"restore\" must be an object" },
		{ "\"tag\": \"s1\", ", "", "\"restore.tag\" is missing" },
		{ "\"state\": \"/var", "\"state\": false, \"s\": \"/var", "\"restore.state\" must be a string" },
	};
	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree char *text = mutate(cases[i].from, cases[i].to);
		g_autoptr(GError) err = NULL;
		g_autoptr(GvPlan) p = gv_plan_from_data(text, strlen(text), &err);
		if (p || !err || !strstr(err->message, cases[i].message))
			g_error("case %zu (%s): got %s", i, cases[i].message,
				err ? err->message : "a plan");
		g_assert_error(err, GV_ERROR, GV_ERROR_FAILED);
	}

	/* Not JSON, not an object, deeper than anyone writes, too large. */
	static const char *const junk[] = { "", "{", "[1, 2]", "\"plan\"", "{\"name\": \"\\u0000\"" };
	for (gsize i = 0; i < G_N_ELEMENTS(junk); i++) {
		g_autoptr(GError) err = NULL;
		g_autoptr(GvPlan) p = gv_plan_from_data(junk[i], strlen(junk[i]), &err);
		g_assert_null(p);
		g_assert_nonnull(err);
	}
	GString *deep = g_string_new("{\"name\": ");
	for (int i = 0; i < 10000; i++)
		g_string_append_c(deep, '[');
	g_autoptr(GError) err = NULL;
	g_autoptr(GvPlan) p = gv_plan_from_data(deep->str, deep->len, &err);
	g_assert_null(p);
	g_assert_nonnull(err);
	g_string_free(deep, TRUE);
	g_autofree char *big = g_strnfill(GV_PLAN_MAX_BYTES + 1, ' ');
	g_clear_error(&err);
	g_assert_null(gv_plan_from_data(big, strlen(big), &err));
	g_assert_nonnull(strstr(err->message, "limit"));

	/* Unknown members are ignored (a newer up, an older supervisor). */
	g_autofree char *extra = mutate("\"name\": \"t\",", "\"name\": \"t\", \"future\": [1],");
	g_clear_error(&err);
	g_autoptr(GvPlan) ok = gv_plan_from_data(extra, strlen(extra), &err);
	g_assert_no_error(err);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	g_autoptr(GError) err = NULL;
	g_unlink(path);
	g_assert_true(g_file_set_contents_full(path, text, -1, G_FILE_SET_CONTENTS_NONE, mode, &err));
	g_assert_no_error(err);
	g_assert_cmpint(chmod(path, mode), ==, 0);
}

static void test_load(void)
{
	g_autofree char *dir = g_dir_make_tmp("gv-plan-XXXXXX", NULL);
	g_autofree char *path = g_build_filename(dir, "plan.json", NULL);
	g_autofree char *other = g_build_filename(dir, "elsewhere.json", NULL);
	g_autofree char *lnk = g_build_filename(dir, "link.json", NULL);
	g_autoptr(GError) err = NULL;

	write_file(path, full_plan, 0600);
	g_autoptr(GvPlan) p = gv_plan_load(path, &err);
	g_assert_no_error(err);
	g_assert_cmpstr(p->name, ==, "t");

	/* Save and load again: the same plan. */
	g_assert_true(gv_plan_save(p, path, &err));
	struct stat st;
	g_assert_cmpint(stat(path, &st), ==, 0);
	g_assert_cmpint(st.st_mode & 07777, ==, 0600);
	g_autoptr(GvPlan) q = gv_plan_load(path, &err);
	g_assert_no_error(err);
	g_autofree char *a = gv_plan_to_data(p), *b = gv_plan_to_data(q);
	g_assert_cmpstr(a, ==, b);

	/* A symlink (to a file that would pass) is not followed. */
	write_file(other, full_plan, 0600);
	g_assert_cmpint(symlink(other, lnk), ==, 0);
	g_assert_null(gv_plan_load(lnk, &err));
	g_assert_error(err, GV_ERROR, GV_ERROR_STATE);
	g_assert_nonnull(strstr(err->message, "symbolic link"));
	g_assert_nonnull(strstr(err->message, lnk));
	g_clear_error(&err);

	/* Writable by others: anyone could have put it there. */
	g_assert_cmpint(chmod(path, 0666), ==, 0);
	g_assert_null(gv_plan_load(path, &err));
	g_assert_error(err, GV_ERROR, GV_ERROR_STATE);
	g_assert_nonnull(strstr(err->message, "writable by group or others"));
	g_clear_error(&err);
	g_assert_cmpint(chmod(path, 0600), ==, 0);

	/* A second link: plan.json is a name for a file that lives elsewhere too. */
	g_assert_cmpint(unlink(lnk), ==, 0);
	g_assert_cmpint(link(other, lnk), ==, 0);
	g_assert_null(gv_plan_load(lnk, &err));
	g_assert_nonnull(strstr(err->message, "more than one link"));
	g_clear_error(&err);

	/* A FIFO must not hang the reader. */
	g_autofree char *fifo = g_build_filename(dir, "fifo.json", NULL);
	g_assert_cmpint(mkfifo(fifo, 0600), ==, 0);
	g_assert_null(gv_plan_load(fifo, &err));
	g_assert_nonnull(strstr(err->message, "not a regular file"));
	g_clear_error(&err);

	/* A damaged file names itself and the member. */
	write_file(path, "{\"name\": 1}", 0600);
	g_assert_null(gv_plan_load(path, &err));
	g_assert_nonnull(strstr(err->message, path));
	g_assert_nonnull(strstr(err->message, "\"name\" must be a string"));
	g_clear_error(&err);

	/* Missing. */
	g_autofree char *none = g_build_filename(dir, "none.json", NULL);
	g_assert_null(gv_plan_load(none, &err));
	g_assert_error(err, GV_ERROR, GV_ERROR_FAILED);
	g_clear_error(&err);

	const char *names[] = { "plan.json", "elsewhere.json", "link.json", "fifo.json" };
	for (gsize i = 0; i < G_N_ELEMENTS(names); i++) {
		g_autofree char *f = g_build_filename(dir, names[i], NULL);
		g_unlink(f);
	}
	g_rmdir(dir);
}

static void test_memfd(void)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(GvPlan) p = gv_plan_from_data(full_plan, strlen(full_plan), &err);
	g_assert_no_error(err);
	int fd = gv_plan_memfd(p, &err);
	g_assert_no_error(err);
	g_assert_cmpint(fd, >=, 0);

	/* Sealed: not even its holder can change the plan any more. */
	g_assert_cmpint(pwrite(fd, "x", 1, 0), ==, -1);
	g_assert_cmpint(errno, ==, EPERM);
	g_assert_cmpint(ftruncate(fd, 0), ==, -1);

	/* Read twice (the offset does not matter): the same plan each time. */
	for (int i = 0; i < 2; i++) {
		g_autoptr(GvPlan) q = gv_plan_read_fd(fd, &err);
		g_assert_no_error(err);
		g_autofree char *a = gv_plan_to_data(p), *b = gv_plan_to_data(q);
		g_assert_cmpstr(a, ==, b);
	}
	close(fd);

	/* An unsealed memfd, or a pipe: whoever holds it could change it. */
	int open_fd = memfd_create("x", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	g_assert_cmpint(write(open_fd, full_plan, strlen(full_plan)), ==, (ssize_t)strlen(full_plan));
	g_assert_null(gv_plan_read_fd(open_fd, &err));
	g_assert_nonnull(strstr(err->message, "not a sealed memory file"));
	g_clear_error(&err);
	close(open_fd);
	int pfd[2];
	g_assert_cmpint(pipe(pfd), ==, 0);
	g_assert_null(gv_plan_read_fd(pfd[0], &err));
	g_assert_nonnull(err);
	close(pfd[0]);
	close(pfd[1]);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/plan/round-trip", test_round_trip);
	g_test_add_func("/plan/minimal", test_minimal);
	g_test_add_func("/plan/malformed", test_malformed);
	g_test_add_func("/plan/qemu-user", test_qemu_user);
	g_test_add_func("/plan/load", test_load);
	g_test_add_func("/plan/memfd", test_memfd);
	return g_test_run();
}
