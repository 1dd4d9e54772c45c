/* w_signal.c - wrappers for the signal API: the checkpoint signal stays ours, installed and unblocked.
 *
 * The kernel always has the shim's handler for CKPT_SIGNAL, and the signal is
 * never blocked, so a checkpoint request always gets through. The program
 * sees a virtual state instead: the action it last installed (returned by
 * sigaction, signal ... as the previous one) and whether it asked for the
 * signal to be blocked (reported back in the old masks). A program that
 * installs a handler of its own gets one warning naming CKPT_SIGNAL (when
 * checkpoints are enabled: a program such as dd that merely installs one, in a
 * run that cannot checkpoint anyway, is left in peace).
 * Every mask a call passes to the kernel (sigprocmask, pthread_sigmask,
 * sigsuspend, ppoll, pselect, epoll_pwait ...) has the signal taken out.
 * Other signals go to the C library unchanged.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>

#include "shim.h"
#include "ckpt.h"

/* Entry points glibc exports without declaring them (in this mode). */
int __sigaction(int, const struct sigaction *, struct sigaction *);
__sighandler_t bsd_signal(int, __sighandler_t);
int __sigpause(int, int);
int __xpg_sigpause(int);

static struct sigaction prog_act;  /* the program's view of the action */
static __thread int prog_blocked;  /* the program's view of the mask (per thread) */
static int warned;

static inline void init(void)
{
	if (__builtin_expect(!shim_ready, 0))
		shim_init();
}

static inline bool is_ck(int sig)
{
	init();
	return ckpt_sig && sig == ckpt_sig;
}

int ckpt_sig_take(int sig, void (*handler)(int, siginfo_t *, void *))
{
	struct sigaction sa;
	sigset_t one, old;

	if (real_sigaction(sig, NULL, &prog_act) < 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = handler;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigfillset(&sa.sa_mask);
	if (real_sigaction(sig, &sa, NULL) < 0)
		return -1;
	sigemptyset(&one);
	sigaddset(&one, sig);
	if (real_sigprocmask(SIG_UNBLOCK, &one, &old) == 0)
		prog_blocked = sigismember(&old, sig);
	return 0;
}

static void note_handler(__sighandler_t h)
{
	if (h == SIG_DFL || h == SIG_IGN || warned || !ckpt_enabled())
		return;
	warned = 1;
	shim_log("the program installs its own handler for signal %d, which CKPT_SIGNAL uses for"
		 " checkpoints; keeping the checkpoint handler (set CKPT_SIGNAL to a signal the program"
		 " does not use)",
		 ckpt_sig);
}

/* ---- actions ------------------------------------------------------------------------------ */

static int ck_action(const struct sigaction *act, struct sigaction *old)
{
	struct sigaction prev = prog_act;

	if (act) {
		note_handler(act->sa_handler);
		prog_act = *act;
	}
	if (old)
		*old = prev;
	return 0;
}

SHIM_EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	if (!is_ck(sig))
		return real_sigaction(sig, act, old);
	return ck_action(act, old);
}

SHIM_EXPORT int __sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	if (!is_ck(sig))
		return real___sigaction(sig, act, old);
	return ck_action(act, old);
}

/* signal() and friends: the previous handler, the new one recorded with the
 * flags the C library would have used. */
static __sighandler_t ck_set(__sighandler_t h, int flags)
{
	__sighandler_t prev = prog_act.sa_handler;

	if (h == SIG_ERR) {
		errno = EINVAL;
		return SIG_ERR;
	}
	note_handler(h);
	memset(&prog_act, 0, sizeof(prog_act));
	prog_act.sa_handler = h;
	prog_act.sa_flags = flags;
	if (!(flags & SA_NODEFER))
		sigaddset(&prog_act.sa_mask, ckpt_sig);
	return prev;
}

SHIM_EXPORT __sighandler_t signal(int sig, __sighandler_t h)
{
	return is_ck(sig) ? ck_set(h, SA_RESTART) : real_signal(sig, h);
}

SHIM_EXPORT __sighandler_t bsd_signal(int sig, __sighandler_t h)
{
	return is_ck(sig) ? ck_set(h, SA_RESTART) : real_bsd_signal(sig, h);
}

SHIM_EXPORT __sighandler_t ssignal(int sig, __sighandler_t h)
{
	return is_ck(sig) ? ck_set(h, SA_RESTART) : real_ssignal(sig, h);
}

SHIM_EXPORT __sighandler_t sysv_signal(int sig, __sighandler_t h)
{
	return is_ck(sig) ? ck_set(h, SA_RESETHAND | SA_NODEFER) : real_sysv_signal(sig, h);
}

SHIM_EXPORT __sighandler_t __sysv_signal(int sig, __sighandler_t h)
{
	return is_ck(sig) ? ck_set(h, SA_RESETHAND | SA_NODEFER) : real___sysv_signal(sig, h);
}

SHIM_EXPORT int sigignore(int sig)
{
	if (!is_ck(sig))
		return real_sigignore(sig);
	ck_set(SIG_IGN, 0);
	return 0;
}

SHIM_EXPORT __sighandler_t sigset(int sig, __sighandler_t disp)
{
	__sighandler_t prev;

	if (!is_ck(sig))
		return real_sigset(sig, disp);
	prev = prog_blocked ? SIG_HOLD : prog_act.sa_handler;
	if (disp == SIG_HOLD) {
		prog_blocked = 1;
		return prev;
	}
	ck_set(disp, 0);
	prog_blocked = 0;
	return prev;
}

SHIM_EXPORT int sighold(int sig)
{
	if (!is_ck(sig))
		return real_sighold(sig);
	prog_blocked = 1;
	return 0;
}

SHIM_EXPORT int sigrelse(int sig)
{
	if (!is_ck(sig))
		return real_sigrelse(sig);
	prog_blocked = 0;
	return 0;
}

/* ---- masks --------------------------------------------------------------------------------- */

/* A copy of set without the checkpoint signal (or set itself if it has not). */
static const sigset_t *clean(const sigset_t *set, sigset_t *copy)
{
	if (!set || !ckpt_sig || !sigismember(set, ckpt_sig))
		return set;
	*copy = *set;
	sigdelset(copy, ckpt_sig);
	return copy;
}

static int ck_mask(int (*fn)(int, const sigset_t *, sigset_t *), int how, const sigset_t *set, sigset_t *old)
{
	int was = prog_blocked, now = prog_blocked, rc;
	sigset_t copy;

	init();
	if (!ckpt_sig)
		return fn(how, set, old);
	if (set) {
		int in = sigismember(set, ckpt_sig) == 1;

		if (how == SIG_BLOCK && in)
			now = 1;
		else if (how == SIG_UNBLOCK && in)
			now = 0;
		else if (how == SIG_SETMASK)
			now = in;
	}
	rc = fn(how, clean(set, &copy), old);
	if (rc == 0) {
		if (set)
			prog_blocked = now;
		if (old && was)
			sigaddset(old, ckpt_sig);
	}
	return rc;
}

SHIM_EXPORT int sigprocmask(int how, const sigset_t *set, sigset_t *old)
{
	init();
	return ck_mask(real_sigprocmask, how, set, old);
}

SHIM_EXPORT int pthread_sigmask(int how, const sigset_t *set, sigset_t *old)
{
	init();
	return ck_mask(real_pthread_sigmask, how, set, old);
}

SHIM_EXPORT int sigsuspend(const sigset_t *mask)
{
	sigset_t copy;

	init();
	return real_sigsuspend(clean(mask, &copy));
}

static int bit_of(int sig)
{
	return sig > 0 && sig <= 31 ? 1 << (sig - 1) : 0;
}

SHIM_EXPORT int sigblock(int mask)
{
	int b, old, was;

	init();
	b = bit_of(ckpt_sig);
	was = prog_blocked;
	old = real_sigblock(mask & ~b);
	if (mask & b)
		prog_blocked = 1;
	return old | (was ? b : 0);
}

SHIM_EXPORT int sigsetmask(int mask)
{
	int b, old, was;

	init();
	b = bit_of(ckpt_sig);
	was = prog_blocked;
	old = real_sigsetmask(mask & ~b);
	prog_blocked = (mask & b) != 0;
	return old | (was ? b : 0);
}

SHIM_EXPORT int siggetmask(void)
{
	init();
	return real_siggetmask() | (prog_blocked ? bit_of(ckpt_sig) : 0);
}

SHIM_EXPORT int __sigpause(int sig_or_mask, int is_sig)
{
	sigset_t set;

	init();
	if (is_sig) {
		real_sigprocmask(SIG_BLOCK, NULL, &set);
		sigdelset(&set, sig_or_mask);
	} else {
		sigemptyset(&set);
		for (int s = 1; s <= 31; s++)
			if (sig_or_mask & (1 << (s - 1)))
				sigaddset(&set, s);
	}
	if (ckpt_sig)
		sigdelset(&set, ckpt_sig);
	return real_sigsuspend(&set);
}

/* The BSD sigpause (the header renames the C name to __xpg_sigpause). */
int shim_sigpause_bsd(int mask) __asm__("sigpause");
SHIM_EXPORT int shim_sigpause_bsd(int mask)
{
	return __sigpause(mask, 0);
}

SHIM_EXPORT int __xpg_sigpause(int sig)
{
	return __sigpause(sig, 1);
}

/* ---- waits with a mask ------------------------------------------------------------------- */

int __ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *tmo, const sigset_t *mask, size_t fdslen);

SHIM_EXPORT int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *tmo, const sigset_t *mask)
{
	sigset_t copy;

	init();
	return real_ppoll(fds, n, tmo, clean(mask, &copy));
}

SHIM_EXPORT int __ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *tmo, const sigset_t *mask,
			    size_t fdslen)
{
	sigset_t copy;

	init();
	return real___ppoll_chk(fds, n, tmo, clean(mask, &copy), fdslen);
}

SHIM_EXPORT int pselect(int n, fd_set *r, fd_set *w, fd_set *e, const struct timespec *tmo, const sigset_t *mask)
{
	sigset_t copy;

	init();
	return real_pselect(n, r, w, e, tmo, clean(mask, &copy));
}

SHIM_EXPORT int epoll_pwait(int epfd, struct epoll_event *ev, int max, int tmo, const sigset_t *mask)
{
	sigset_t copy;

	init();
	return real_epoll_pwait(epfd, ev, max, tmo, clean(mask, &copy));
}

SHIM_EXPORT int epoll_pwait2(int epfd, struct epoll_event *ev, int max, const struct timespec *tmo,
			     const sigset_t *mask)
{
	sigset_t copy;

	init();
	if (!real_epoll_pwait2)
		return errno = ENOSYS, -1;
	return real_epoll_pwait2(epfd, ev, max, tmo, clean(mask, &copy));
}
