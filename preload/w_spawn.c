/* w_spawn.c - posix_spawn whose file actions involve remote files.
 *
 * glibc applies a spawn's file actions in the child with raw system calls,
 * past the shim: a dup2 of a remote fd copies only its placeholder (the
 * child then fails its writes with EBADF), and an open of a remote path
 * fails with ENOENT. So the shim records each file-actions object's actions
 * as they are added (glibc records them too). A spawn whose actions touch a
 * remote fd or path is done as glibc does it, with fork instead of a vfork
 * and the shim's own calls in the child: the attributes, then the actions,
 * then exec through the shim, which hands the remote fds on (CKPT_FDS). An
 * error before the exec is passed back through a close-on-exec pipe and
 * returned, as posix_spawn returns it. Every other spawn goes to glibc.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shim.h"


enum sa_kind { SA_OPEN, SA_CLOSE, SA_DUP2, SA_CHDIR, SA_FCHDIR, SA_CLOSEFROM };

struct sa {
	enum sa_kind kind;
	int fd, newfd, oflag;
	mode_t mode;
	char *path;
};

/* The actions recorded for one posix_spawn_file_actions_t. */
struct sa_list {
	const posix_spawn_file_actions_t *fa;
	struct sa *v;
	int n, cap;
	bool broken; /* an action could not be recorded: leave the spawn to glibc */
	struct sa_list *next;
};
static struct sa_list *lists; /* under the shim lock */

static struct sa_list **find(const posix_spawn_file_actions_t *fa)
{
	struct sa_list **p = &lists;

	while (*p && (*p)->fa != fa)
		p = &(*p)->next;
	return p;
}

static void drop(const posix_spawn_file_actions_t *fa)
{
	struct sa_list **p = find(fa), *l = *p;

	if (!l)
		return;
	*p = l->next;
	for (int i = 0; i < l->n; i++)
		free(l->v[i].path);
	free(l->v);
	free(l);
}

/* Record one action, added to fa by glibc with result rc. */
static int record(int rc, const posix_spawn_file_actions_t *fa, struct sa a, const char *path)
{
	struct sa_list *l;

	if (rc != 0)
		return rc;
	shim_lock();
	l = *find(fa);
	if (l && !l->broken) {
		if (l->n == l->cap) {
			int cap = l->cap ? 2 * l->cap : 8;
			struct sa *v = realloc(l->v, (size_t)cap * sizeof(*v));

			if (v) {
				l->v = v;
				l->cap = cap;
			}
		}
		a.path = path ? strdup(path) : NULL;
		if (l->n < l->cap && (!path || a.path))
			l->v[l->n++] = a;
		else
			l->broken = true;
	}
	shim_unlock();
	return rc;
}

SHIM_EXPORT int posix_spawn_file_actions_init(posix_spawn_file_actions_t *fa)
{
	int rc;
	struct sa_list *l;

	INIT();
	rc = real_posix_spawn_file_actions_init(fa);
	if (rc != 0 || !shim_nmounts)
		return rc;
	shim_lock();
	drop(fa); /* a destroyed object's memory, used again */
	l = calloc(1, sizeof(*l));
	if (l) {
		l->fa = fa;
		l->next = lists;
		lists = l;
	}
	shim_unlock();
	return rc;
}

SHIM_EXPORT int posix_spawn_file_actions_destroy(posix_spawn_file_actions_t *fa)
{
	INIT();
	if (shim_nmounts) {
		shim_lock();
		drop(fa);
		shim_unlock();
	}
	return real_posix_spawn_file_actions_destroy(fa);
}

SHIM_EXPORT int posix_spawn_file_actions_addopen(posix_spawn_file_actions_t *fa, int fd,
						 const char *path, int oflag, mode_t mode)
{
	INIT();
	return record(real_posix_spawn_file_actions_addopen(fa, fd, path, oflag, mode), fa,
		      (struct sa){.kind = SA_OPEN, .fd = fd, .oflag = oflag, .mode = mode}, path);
}

SHIM_EXPORT int posix_spawn_file_actions_addclose(posix_spawn_file_actions_t *fa, int fd)
{
	INIT();
	return record(real_posix_spawn_file_actions_addclose(fa, fd), fa,
		      (struct sa){.kind = SA_CLOSE, .fd = fd}, NULL);
}

SHIM_EXPORT int posix_spawn_file_actions_adddup2(posix_spawn_file_actions_t *fa, int fd, int newfd)
{
	INIT();
	return record(real_posix_spawn_file_actions_adddup2(fa, fd, newfd), fa,
		      (struct sa){.kind = SA_DUP2, .fd = fd, .newfd = newfd}, NULL);
}

SHIM_EXPORT int posix_spawn_file_actions_addchdir_np(posix_spawn_file_actions_t *fa,
						     const char *path)
{
	INIT();
	return record(real_posix_spawn_file_actions_addchdir_np(fa, path), fa,
		      (struct sa){.kind = SA_CHDIR}, path);
}

SHIM_EXPORT int posix_spawn_file_actions_addfchdir_np(posix_spawn_file_actions_t *fa, int fd)
{
	INIT();
	return record(real_posix_spawn_file_actions_addfchdir_np(fa, fd), fa,
		      (struct sa){.kind = SA_FCHDIR, .fd = fd}, NULL);
}

SHIM_EXPORT int posix_spawn_file_actions_addclosefrom_np(posix_spawn_file_actions_t *fa, int from)
{
	INIT();
	return record(real_posix_spawn_file_actions_addclosefrom_np(fa, from), fa,
		      (struct sa){.kind = SA_CLOSEFROM, .fd = from}, NULL);
}

static bool remote_path(const char *path)
{
	struct shim_path p;

	return shim_classify(AT_FDCWD, path, &p) == 1;
}

/* The recorded actions of fa if they touch a remote fd or path and all of
 * them were recorded; else NULL (glibc spawns). Lock held. */
static const struct sa_list *to_emulate(const posix_spawn_file_actions_t *fa)
{
	const struct sa_list *l = fa ? *find(fa) : NULL;
	bool remote = false;
	int fd;

	/* Added before the shim could see them, or through a call it does not
	 * know (posix_spawn_file_actions_addtcsetpgrp_np): not ours to redo. */
	if (!l || l->broken || l->n != fa->__used)
		return NULL;
	for (int i = 0; i < l->n && !remote; i++) {
		const struct sa *a = &l->v[i];

		switch (a->kind) {
		case SA_OPEN:
		case SA_CHDIR:
			remote = remote_path(a->path) || (a->path[0] != '/' && shim_cwd_remote);
			break;
		case SA_CLOSE:
		case SA_DUP2:
		case SA_FCHDIR:
			remote = shim_fd_is_remote(a->fd);
			break;
		case SA_CLOSEFROM:
			for (fd = a->fd; fd < 65536 && !remote; fd++)
				remote = shim_fd_is_remote(fd);
			break;
		}
	}
	return remote ? l : NULL;
}

#ifndef POSIX_SPAWN_SETSID
#define POSIX_SPAWN_SETSID 0x80
#endif
#define KNOWN_FLAGS                                                                          \
	(POSIX_SPAWN_RESETIDS | POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF |              \
	 POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSCHEDPARAM | POSIX_SPAWN_SETSCHEDULER |     \
	 POSIX_SPAWN_USEVFORK | POSIX_SPAWN_SETSID)

/* In the child: the attributes (glibc's order), then the actions. 0 or an
 * errno value. *errfd is the pipe to the parent, moved out of the way of
 * the actions. */
static int child_setup(const struct sa_list *l, const posix_spawnattr_t *attr, int *errfd)
{
	short flags = 0;

	if (attr)
		posix_spawnattr_getflags(attr, &flags);
	if (flags & POSIX_SPAWN_SETSIGDEF) {
		sigset_t def;
		struct sigaction dfl;

		memset(&dfl, 0, sizeof(dfl));
		dfl.sa_handler = SIG_DFL;
		posix_spawnattr_getsigdefault(attr, &def);
		for (int sig = 1; sig < NSIG; sig++)
			if (sigismember(&def, sig) == 1)
				real_sigaction(sig, &dfl, NULL);
	}
	if ((flags & POSIX_SPAWN_SETSID) && setsid() < 0)
		return errno;
	if (flags & POSIX_SPAWN_SETPGROUP) {
		pid_t pg;

		posix_spawnattr_getpgroup(attr, &pg);
		if (setpgid(0, pg) < 0)
			return errno;
	}
	if (flags & (POSIX_SPAWN_SETSCHEDULER | POSIX_SPAWN_SETSCHEDPARAM)) {
		struct sched_param sp;
		int policy;

		posix_spawnattr_getschedparam(attr, &sp);
		posix_spawnattr_getschedpolicy(attr, &policy);
		if ((flags & POSIX_SPAWN_SETSCHEDULER) ? sched_setscheduler(0, policy, &sp) < 0
						       : sched_setparam(0, &sp) < 0)
			return errno;
	}
	if ((flags & POSIX_SPAWN_RESETIDS) && (setegid(getgid()) < 0 || seteuid(getuid()) < 0))
		return errno;
	for (int i = 0; i < l->n; i++) {
		const struct sa *a = &l->v[i];
		int fd;

		/* An action about to use the pipe's number: move the pipe. */
		if ((a->kind == SA_OPEN && a->fd == *errfd) || (a->kind == SA_DUP2 && a->newfd == *errfd)) {
			fd = real_fcntl(*errfd, F_DUPFD_CLOEXEC, *errfd + 1);
			if (fd < 0)
				return errno;
			real_close(*errfd);
			*errfd = fd;
		}
		switch (a->kind) {
		case SA_OPEN:
			fd = open(a->path, a->oflag, a->mode);
			if (fd < 0)
				return errno;
			if (fd != a->fd) {
				if (dup2(fd, a->fd) < 0)
					return errno;
				close(fd);
			}
			break;
		case SA_CLOSE:
			if (a->fd != *errfd && close(a->fd) < 0 && errno != EBADF)
				return errno;
			break;
		case SA_DUP2:
			if (a->fd == a->newfd) {
				/* dup2 onto itself: the fd stays open across exec */
				fd = fcntl(a->fd, F_GETFD);
				if (fd < 0 || fcntl(a->fd, F_SETFD, fd & ~FD_CLOEXEC) < 0)
					return errno;
			} else if (dup2(a->fd, a->newfd) < 0) {
				return errno;
			}
			break;
		case SA_CHDIR:
			if (chdir(a->path) < 0)
				return errno;
			break;
		case SA_FCHDIR:
			if (fchdir(a->fd) < 0)
				return errno;
			break;
		case SA_CLOSEFROM:
			/* around the pipe to the parent */
			if (a->fd < *errfd && close_range((unsigned int)a->fd, (unsigned int)*errfd - 1, 0) < 0)
				return errno;
			if (close_range((unsigned int)(a->fd > *errfd ? a->fd : *errfd + 1), ~0u, 0) < 0)
				return errno;
			break;
		}
	}
	if (flags & POSIX_SPAWN_SETSIGMASK) {
		sigset_t mask;

		posix_spawnattr_getsigmask(attr, &mask);
		sigprocmask(SIG_SETMASK, &mask, NULL);
	}
	return 0;
}

static int spawn_emulated(pid_t *pid, const char *path, bool search, const struct sa_list *l,
			  const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	int p[2], err = 0;
	ssize_t k;
	pid_t c;

	if (pipe2(p, O_CLOEXEC) < 0)
		return errno;
	c = fork();
	if (c < 0) {
		err = errno;
		real_close(p[0]);
		real_close(p[1]);
		return err;
	}
	if (c == 0) {
		real_close(p[0]);
		err = child_setup(l, attr, &p[1]);
		if (!err) {
			if (search)
				execvpe(path, argv, envp);
			else
				execve(path, argv, envp);
			err = errno;
		}
		while (real_write(p[1], &err, sizeof(err)) < 0 && errno == EINTR)
			;
		real__exit(127);
	}
	real_close(p[1]);
	do
		k = real_read(p[0], &err, sizeof(err));
	while (k < 0 && errno == EINTR);
	real_close(p[0]);
	if (k == (ssize_t)sizeof(err)) {
		while (waitpid(c, NULL, 0) < 0 && errno == EINTR)
			;
		return err;
	}
	if (pid)
		*pid = c;
	return 0;
}

/* The spawn to do ourselves, or NULL (and then *copy is NULL too): a copy of
 * the actions, so that the lock need not be held across the fork. */
static struct sa_list *take(const posix_spawn_file_actions_t *fa, const posix_spawnattr_t *attr)
{
	const struct sa_list *l;
	struct sa_list *copy = NULL;
	short flags = 0;

	if (!shim_nmounts || !fa)
		return NULL;
	if (attr && (posix_spawnattr_getflags(attr, &flags) != 0 || (flags & ~KNOWN_FLAGS)))
		return NULL; /* something we would not know how to apply */
	shim_lock();
	l = to_emulate(fa);
	if (l && (copy = calloc(1, sizeof(*copy)))) {
		copy->v = calloc((size_t)l->n + 1, sizeof(*copy->v));
		copy->n = l->n;
		for (int i = 0; copy->v && i < l->n; i++) {
			copy->v[i] = l->v[i];
			copy->v[i].path = NULL;
			if (l->v[i].path && !(copy->v[i].path = strdup(l->v[i].path)))
				copy->broken = true;
		}
		if (!copy->v)
			copy->broken = true;
	}
	shim_unlock();
	return copy;
}

static void release(struct sa_list *l)
{
	if (!l)
		return;
	for (int i = 0; l->v && i < l->n; i++)
		free(l->v[i].path);
	free(l->v);
	free(l);
}

int shim_spawn(pid_t *pid, const char *path, bool search, const posix_spawn_file_actions_t *fa,
	       const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	struct sa_list *l = take(fa, attr);
	int rc;

	if (!l)
		return -1;
	rc = l->broken ? ENOMEM : spawn_emulated(pid, path, search, l, attr, argv, envp);
	release(l);
	return rc;
}
