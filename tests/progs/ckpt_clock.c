/* ckpt_clock.c - clock_gettime and gettimeofday through the vDSO after a restore agree with the kernel. */
#include <sys/syscall.h>
#include <sys/time.h>

#include "ckpt_test.h"

static double ts_s(struct timespec t)
{
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(void)
{
	struct timespec before, v, k, mv, mk;
	struct timeval tv;

	clock_gettime(CLOCK_REALTIME, &before);
	ct_ready();
	ct_wait_restored();
	clock_gettime(CLOCK_REALTIME, &v);    /* vDSO */
	syscall(SYS_clock_gettime, CLOCK_REALTIME, &k);
	gettimeofday(&tv, NULL);
	clock_gettime(CLOCK_MONOTONIC, &mv);
	syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &mk);
	ct_check(ts_s(v) >= ts_s(before), "time went backwards");
	ct_check(ts_s(k) - ts_s(v) >= 0 && ts_s(k) - ts_s(v) < 0.5, "vDSO realtime %f, kernel %f", ts_s(v), ts_s(k));
	ct_check((double)tv.tv_sec + tv.tv_usec / 1e6 - ts_s(k) > -0.5 && (double)tv.tv_sec + tv.tv_usec / 1e6 - ts_s(k) < 0.5,
		 "gettimeofday");
	ct_check(ts_s(mk) - ts_s(mv) >= 0 && ts_s(mk) - ts_s(mv) < 0.5, "vDSO monotonic %f, kernel %f", ts_s(mv),
		 ts_s(mk));
	ct_check(time(NULL) >= before.tv_sec, "time()");
	return ct_done();
}
