/* SPDX-License-Identifier: MIT */
/*
 * test-accel.c - the KVM probe
 *
 * The payload must really run (under TCG, which always works), or the
 * probe would reject every KVM for the wrong reason.  On this kind of
 * machine /dev/kvm exists but cannot run a guest, so auto must choose TCG
 * and say why; on a host with working KVM it must choose KVM.
 */
#include <glib.h>
#include <string.h>
#include <unistd.h>

#include "boot/accel.h"
#include "gv-error.h"

static const char *qemu(void)
{
	const char *q = g_getenv("GRAINVM_QEMU");
	return q ? q : "qemu-system-x86_64";
}

static void test_payload_runs_under_tcg(void)
{
	g_autofree char *dir = g_dir_make_tmp("gv-accel-XXXXXX", NULL);
	g_autofree char *why = NULL;
	gint64 t0 = g_get_monotonic_time();
	gboolean ok = gv_accel_probe(qemu(), "tcg", dir, 10000, &why);
	if (!ok)
		g_error("probe payload failed under TCG: %s", why);
	g_test_message("TCG probe took %.2f s", (g_get_monotonic_time() - t0) / 1e6);
}

static void test_probe_timeout_is_bounded(void)
{
	/* A payload that never exits (TCG with a 1 ms limit) fails fast and says so. */
	g_autofree char *dir = g_dir_make_tmp("gv-accel-XXXXXX", NULL);
	g_autofree char *why = NULL;
	gint64 t0 = g_get_monotonic_time();
	g_assert_false(gv_accel_probe(qemu(), "tcg", dir, 1, &why));
	g_assert_cmpint(g_get_monotonic_time() - t0, <, 2 * G_USEC_PER_SEC);
	g_assert_nonnull(strstr(why, "did not finish"));
}

static void test_decide(void)
{
	g_autofree char *cache = g_dir_make_tmp("gv-accel-XXXXXX", NULL);
	g_autofree char *reason = NULL;
	g_autoptr(GError) err = NULL;
	gint64 t0 = g_get_monotonic_time();
	GvAccel a = gv_accel_decide(GV_ACCEL_AUTO, qemu(), cache, &reason, &err);
	gint64 took = g_get_monotonic_time() - t0;
	g_assert_no_error(err);
	g_test_message("auto -> %s (%s) in %.2f s", gv_accel_name(a), reason, took / 1e6);
	g_assert_true(a == GV_ACCEL_KVM || a == GV_ACCEL_TCG);
	g_assert_cmpint(took, <, 3 * G_USEC_PER_SEC); /* detection within 2 s, plus QEMU start */
	g_assert_nonnull(reason);

	g_autofree char *dir = g_dir_make_tmp("gv-accel-XXXXXX", NULL);
	g_autofree char *why = NULL;
	gboolean kvm_ok = access("/dev/kvm", F_OK) == 0 &&
			  gv_accel_probe(qemu(), "kvm", dir, GV_ACCEL_PROBE_TIMEOUT_MS, &why);
	g_assert_cmpint(a, ==, kvm_ok ? GV_ACCEL_KVM : GV_ACCEL_TCG);
	if (!kvm_ok)
		g_assert_nonnull(strstr(reason, "TCG, because"));

	/* The verdict is cached: a second decision costs no QEMU run. */
	g_autofree char *reason2 = NULL;
	t0 = g_get_monotonic_time();
	GvAccel b = gv_accel_decide(GV_ACCEL_AUTO, qemu(), cache, &reason2, &err);
	g_assert_cmpint(b, ==, a);
	g_assert_cmpint(g_get_monotonic_time() - t0, <, G_USEC_PER_SEC / 5);

	/* accel=kvm where KVM does not work is an error, not a hang. */
	if (!kvm_ok) {
		g_autofree char *r3 = NULL;
		GvAccel c = gv_accel_decide(GV_ACCEL_KVM, qemu(), cache, &r3, &err);
		g_assert_cmpint(c, ==, GV_ACCEL_AUTO);
		g_assert_error(err, GV_ERROR, GV_ERROR_FAILED);
		g_assert_nonnull(strstr(err->message, "KVM cannot run a guest"));
	}
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/accel/payload-tcg", test_payload_runs_under_tcg);
	g_test_add_func("/accel/timeout", test_probe_timeout_is_bounded);
	g_test_add_func("/accel/decide", test_decide);
	return g_test_run();
}
