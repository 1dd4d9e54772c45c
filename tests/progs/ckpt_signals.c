/* ckpt_signals.c - signal handlers, flags and masks, a pending signal, and the program's own view of the checkpoint signal. */
#include <signal.h>

#include "ckpt_test.h"

static volatile sig_atomic_t got_usr2, got_hup;

static void on_usr2(int s)
{
	got_usr2 = s;
}

static void on_hup(int s, siginfo_t *si, void *uc)
{
	(void)si;
	(void)uc;
	got_hup = s;
}

static void on_usr1(int s)
{
	(void)s;
}

int main(void)
{
	struct sigaction sa, q;
	sigset_t set, cur, pend;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr2;
	sa.sa_flags = SA_RESTART;
	sigaddset(&sa.sa_mask, SIGTERM);
	sigaction(SIGUSR2, &sa, NULL);
	sa.sa_sigaction = on_hup;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGINT, SIG_IGN);
	/* the checkpoint signal: the program sees its own handler, the shim keeps its */
	signal(SIGUSR1, on_usr1);
	sigemptyset(&set);
	sigaddset(&set, SIGQUIT);
	sigaddset(&set, SIGWINCH);
	sigaddset(&set, SIGUSR1); /* the program thinks it blocks it */
	sigprocmask(SIG_BLOCK, &set, NULL);
	raise(SIGWINCH); /* pending across the checkpoint */
	ct_ready();
	ct_wait_restored();
	sigaction(SIGUSR2, NULL, &q);
	ct_check(q.sa_handler == on_usr2 && (q.sa_flags & SA_RESTART) && sigismember(&q.sa_mask, SIGTERM),
		 "SIGUSR2 action");
	sigaction(SIGHUP, NULL, &q);
	ct_check(q.sa_sigaction == on_hup && (q.sa_flags & (SA_SIGINFO | SA_NODEFER)) == (SA_SIGINFO | SA_NODEFER),
		 "SIGHUP action");
	sigaction(SIGINT, NULL, &q);
	ct_check(q.sa_handler == SIG_IGN, "SIGINT ignored");
	sigaction(SIGUSR1, NULL, &q);
	ct_check(q.sa_handler == on_usr1, "the program sees its own SIGUSR1 handler");
	sigprocmask(SIG_BLOCK, NULL, &cur);
	ct_check(sigismember(&cur, SIGQUIT) && sigismember(&cur, SIGWINCH) && !sigismember(&cur, SIGUSR2),
		 "signal mask");
	ct_check(sigismember(&cur, SIGUSR1), "the program sees SIGUSR1 blocked");
	sigpending(&pend);
	ct_check(sigismember(&pend, SIGWINCH), "SIGWINCH still pending");
	raise(SIGUSR2);
	ct_check(got_usr2 == SIGUSR2, "SIGUSR2 handler runs");
	kill(getpid(), SIGHUP);
	ct_check(got_hup == SIGHUP, "SIGHUP handler runs");
	raise(SIGINT);
	return ct_done();
}
