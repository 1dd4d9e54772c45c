/* ckpt_abort.c - the thread id glibc caches is the new one after a restore: pthread_setname_np, pthread_kill
 * and abort() act on the restored process (abort must end it with SIGABRT). */
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>

#include "ckpt_test.h"

static volatile sig_atomic_t got;

static void on_usr2(int s)
{
	got = s;
}

int main(void)
{
	signal(SIGUSR2, on_usr2);
	ct_ready();
	ct_wait_restored();
	ct_check(pthread_setname_np(pthread_self(), "restored") == 0, "pthread_setname_np (cached tid)");
	ct_check(pthread_kill(pthread_self(), SIGUSR2) == 0 && got == SIGUSR2, "pthread_kill to self");
	ct_check((pid_t)syscall(SYS_gettid) == getpid(), "tid is pid");
	if (ct_done())
		return 1;
	fflush(stdout);
	abort();
}
