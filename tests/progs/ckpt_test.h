/* ckpt_test.h - the frame of the checkpoint tests (zdtm style): build state, say READY, wait to be
 * restored, verify, print PASS or FAIL.
 *
 * A test prints "READY" on stdout once its state is built, then waits in
 * ct_wait_restored() until its pid changes: the harness (tests/e2e/restore.sh)
 * checkpoints it, kills it, and restarts the image with ckpt-restore, which
 * gives the program a new pid. Checks after the restore go through ct_check;
 * ct_done prints PASS (exit 0) or FAIL (exit 1).
 */
#ifndef CKPT_TEST_H
#define CKPT_TEST_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static pid_t ct_pid0;
static int ct_failed;

static inline void ct_ready(void)
{
	ct_pid0 = getpid();
	printf("READY %d\n", (int)ct_pid0);
	fflush(stdout);
}

/* Wait (up to 120 s) until this code runs in a restored process. */
static inline void ct_wait_restored(void)
{
	struct timespec ts = {0, 10 * 1000 * 1000};

	for (int i = 0; i < 12000 && getpid() == ct_pid0; i++)
		nanosleep(&ts, NULL);
	if (getpid() == ct_pid0) {
		printf("FAIL: never restored\n");
		exit(1);
	}
}

static inline void ct_check(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline void ct_check(int ok, const char *fmt, ...)
{
	va_list ap;

	if (ok)
		return;
	ct_failed = 1;
	printf("FAIL: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

static inline int ct_done(void)
{
	if (!ct_failed)
		printf("PASS\n");
	fflush(stdout);
	return ct_failed;
}

#endif
