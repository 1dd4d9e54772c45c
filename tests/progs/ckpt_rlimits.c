/* ckpt_rlimits.c - resource limits come back (lowered soft and hard limits). */
#include <sys/resource.h>

#include "ckpt_test.h"

int main(void)
{
	struct rlimit nofile = {200, 300}, core = {0, 0}, fsize = {1 << 30, RLIM_INFINITY}, q;

	setrlimit(RLIMIT_NOFILE, &nofile);
	setrlimit(RLIMIT_CORE, &core);
	setrlimit(RLIMIT_FSIZE, &fsize);
	ct_ready();
	ct_wait_restored();
	getrlimit(RLIMIT_NOFILE, &q);
	ct_check(q.rlim_cur == 200 && q.rlim_max == 300, "RLIMIT_NOFILE %lu/%lu", (unsigned long)q.rlim_cur,
		 (unsigned long)q.rlim_max);
	getrlimit(RLIMIT_CORE, &q);
	ct_check(q.rlim_cur == 0 && q.rlim_max == 0, "RLIMIT_CORE");
	getrlimit(RLIMIT_FSIZE, &q);
	ct_check(q.rlim_cur == 1 << 30 && q.rlim_max == RLIM_INFINITY, "RLIMIT_FSIZE");
	return ct_done();
}
