/* SPDX-License-Identifier: MIT */
/* vmstate.c - the VM lock and state.json (see vmstate.h) */
#include "liveness.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include "gv-error.h"
#include "fileio.h"

static const char *const phase_names[] = {
	[GV_PHASE_STARTING] = "starting", [GV_PHASE_BOOTING] = "booting",
	[GV_PHASE_READY] = "ready",       [GV_PHASE_STOPPING] = "stopping",
	[GV_PHASE_STOPPED] = "stopped",   [GV_PHASE_CRASHED] = "crashed",
	[GV_PHASE_FAILED] = "failed",
};
G_STATIC_ASSERT(G_N_ELEMENTS(phase_names) == GV_PHASE__COUNT);

const char *gv_phase_name(GvPhase phase)
{
	return phase < GV_PHASE__COUNT ? phase_names[phase] : "unknown";
}

static char *lock_path(const GvVmPaths *paths)
{
	return g_build_filename(paths->run_dir, "lock", NULL);
}

gboolean gv_vm_lock(const GvVmPaths *paths, int *fd_out, GError **error)
{
	if (!gv_mkdir_private(paths->run_dir, error))
		return FALSE;
	g_autofree char *path = lock_path(paths);
	int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		int err = errno;
		g_set_error(error, GV_ERROR, GV_ERROR_FAILED, "cannot open %s: %s", path,
			    g_strerror(err));
		return FALSE;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int err = errno;
		close(fd);
		if (err == EWOULDBLOCK)
			g_set_error(error, GV_ERROR, GV_ERROR_STATE,
				    "vm %s is already running (grainvm down %s first)", paths->name,
				    paths->name);
		else
			g_set_error(error, GV_ERROR, GV_ERROR_FAILED, "cannot lock %s: %s", path,
				    g_strerror(err));
		return FALSE;
	}
	*fd_out = fd;
	return TRUE;
}

gboolean gv_vm_is_running(const GvVmPaths *paths)
{
	g_autofree char *path = lock_path(paths);
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return FALSE;
	gboolean held = flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
	close(fd);
	return held;
}

JsonObject *gv_json_parse_object(const char *text, gssize len, GError **error)
{
	g_autoptr(JsonParser) parser = json_parser_new_immutable();
	if (!json_parser_load_from_data(parser, text, len, error))
		return NULL;
	JsonNode *root = json_parser_get_root(parser);
	if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
		g_set_error(error, GV_ERROR, GV_ERROR_FAILED, "expected a JSON object");
		return NULL;
	}
	return json_object_ref(json_node_get_object(root));
}

JsonObject *gv_vm_state_read(const GvVmPaths *paths)
{
	g_autofree char *text = NULL;
	gsize len;
	if (!g_file_get_contents(paths->state_json, &text, &len, NULL))
		return NULL;
	return gv_json_parse_object(text, (gssize)len, NULL);
}

char *gv_json_to_string(JsonNode *node, gboolean pretty)
{
	g_autoptr(JsonGenerator) gen = json_generator_new();
	json_generator_set_root(gen, node);
	json_generator_set_pretty(gen, pretty);
	return json_generator_to_data(gen, NULL);
}

/*
 * Rewrite @path in place: for a full file system, where the atomic write's
 * temporary file gets no blocks.  The old file's blocks are reused and the
 * file is then cut to the new length, so it needs no new space as long as
 * the text is not longer than what the old file occupied (a final state is
 * shorter than the ready one: no QEMU pid, no interfaces).  Not atomic: a
 * reader may see a mix for an instant, which is better than a state that
 * stays wrong for ever.
 */
static gboolean rewrite_in_place(const char *path, const char *text, gsize len, GError **error)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	gboolean ok = fd >= 0;
	for (gsize off = 0; ok && off < len;) {
		ssize_t n = pwrite(fd, text + off, len - off, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		ok = n > 0;
		off += ok ? (gsize)n : 0;
	}
	ok = ok && ftruncate(fd, (off_t)len) == 0 && fsync(fd) == 0;
	int err = errno;
	if (fd >= 0)
		close(fd);
	if (!ok)
		g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(err),
			    "cannot write %s: %s", path, g_strerror(err));
	return ok;
}

gboolean gv_vm_state_write(const GvVmPaths *paths, JsonObject *state, GError **error)
{
	g_autoptr(JsonNode) node = json_node_init_object(json_node_alloc(), state);
	g_autofree char *text = gv_json_to_string(node, TRUE);
	g_autoptr(GError) err = NULL;
	if (gv_write_runtime_file(paths->state_json, text, strlen(text), 0600, &err))
		return TRUE;
	if (!g_error_matches(err, G_FILE_ERROR, G_FILE_ERROR_NOSPC) ||
	    !g_file_test(paths->state_json, G_FILE_TEST_IS_REGULAR)) {
		g_propagate_error(error, g_steal_pointer(&err));
		return FALSE;
	}
	/* The runtime file system is full: the state must still be true. */
	return rewrite_in_place(paths->state_json, text, strlen(text), error);
}

void gv_vm_runtime_cleanup(const GvVmPaths *paths)
{
	const char *files[] = { paths->control_sock, paths->qmp_sock, paths->agent_sock,
				paths->qga_sock, paths->console_sock, paths->supervisor_pid,
				paths->qemu_pid, paths->plan };
	for (gsize i = 0; i < G_N_ELEMENTS(files); i++)
		gv_unlink_if_exists(files[i], NULL);
	g_autofree char *start = g_build_filename(paths->run_dir, "qemu.start", NULL);
	gv_unlink_if_exists(start, NULL);
}
