/* ckpt_altstack.c - the alternate signal stack is set again after a restore, and an SA_ONSTACK handler runs on it. */
#include <signal.h>
#include <stdint.h>

#include "ckpt_test.h"

static char altstack[64 * 1024];
static volatile uintptr_t handler_sp;

static void on_usr2(int s)
{
	volatile char here;

	(void)s;
	handler_sp = (uintptr_t)&here;
}

int main(void)
{
	stack_t ss = {.ss_sp = altstack, .ss_size = sizeof(altstack), .ss_flags = 0}, q;
	struct sigaction sa;

	sigaltstack(&ss, NULL);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr2;
	sa.sa_flags = SA_ONSTACK;
	sigaction(SIGUSR2, &sa, NULL);
	ct_ready();
	ct_wait_restored();
	sigaltstack(NULL, &q);
	ct_check(q.ss_sp == altstack && q.ss_size == sizeof(altstack) && !(q.ss_flags & SS_DISABLE),
		 "sigaltstack: %p %zu %d", q.ss_sp, q.ss_size, q.ss_flags);
	raise(SIGUSR2);
	ct_check(handler_sp > (uintptr_t)altstack && handler_sp < (uintptr_t)altstack + sizeof(altstack),
		 "the handler ran on the alternate stack");
	return ct_done();
}
