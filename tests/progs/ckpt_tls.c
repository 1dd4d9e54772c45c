/* ckpt_tls.c - thread-local variables (initialized and zero) and errno come back, through the FS base. */
#include <errno.h>

#include "ckpt_test.h"

static __thread int tls_init = 42;
static __thread char tls_buf[8192];
static __thread long tls_zero;

int main(void)
{
	tls_init += 100;
	strcpy(tls_buf + 4000, "thread-local");
	tls_zero = -7;
	ct_ready();
	errno = 0;
	ct_wait_restored();
	ct_check(tls_init == 142, "tls_init %d", tls_init);
	ct_check(!strcmp(tls_buf + 4000, "thread-local"), "tls_buf");
	ct_check(tls_zero == -7, "tls_zero");
	ct_check(errno == 0 || errno == EINTR, "errno %d", errno);
	return ct_done();
}
