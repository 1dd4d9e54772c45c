/* w_open.c - wrappers for opening, closing and duplicating fds, fcntl, ioctl and mkstemp.
 *
 * Each wrapper classifies its path; local calls go to the C library
 * unchanged, remote ones open a handle on the server and install it at a
 * placeholder fd. close/dup2/dup3/close_range refuse to touch the shim's own
 * sockets (EBADF, as if they were not open).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "shim.h"


static mode_t mode_arg(int flags, va_list ap)
{
	return (flags & (O_CREAT | O_TMPFILE)) ? (mode_t)va_arg(ap, int) : 0;
}

/* Open path remotely; p is classified already. */
static int open_remote(struct shim_path *p, int flags, mode_t mode)
{
	struct shim_ofd *o;
	int fd;

	if ((flags & O_TMPFILE) == O_TMPFILE)
		return errno = EOPNOTSUPP, -1;
	shim_lock();
	o = shim_remote_open(p, flags, mode);
	if (!o) {
		shim_unlock();
		return -1;
	}
	fd = shim_fd_install(o, 0, -1, flags & O_CLOEXEC);
	if (fd < 0) {
		int err = errno;

		o->refs = 1;
		shim_ofd_put(o);
		errno = err;
	}
	shim_debug("open %s/%s flags %#x -> fd %d", p->mnt->point, p->rel, flags, fd);
	shim_unlock();
	if (fd >= 0 && fd <= 2)
		shim_std_fix(fd);
	return fd;
}

int shim_open_common(int dirfd, const char *path, int flags, mode_t mode)
{
	struct shim_path p;
	int r = shim_where(dirfd, &path, &p);

	if (r < 0)
		return -1;
	if (r == 0)
		return real_openat(dirfd, path, flags, mode);
	return open_remote(&p, flags, mode);
}

/* The same, but a local path goes to `local` (the exact entry point called). */
#define OPEN_BODY(dirfd, path, flags, mode, local_call)          \
	do {                                                       \
		struct shim_path p_;                               \
		int r_;                                            \
		INIT();                                            \
		if (!shim_nmounts)                                 \
			return local_call;                         \
		r_ = shim_where(dirfd, &path, &p_);                \
		if (r_ < 0)                                        \
			return -1;                                 \
		if (r_ == 0)                                       \
			return local_call;                         \
		return open_remote(&p_, flags, mode);              \
	} while (0)

SHIM_EXPORT int open(const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;

	va_start(ap, flags);
	mode = mode_arg(flags, ap);
	va_end(ap);
	OPEN_BODY(AT_FDCWD, path, flags, mode, real_open(path, flags, mode));
}

SHIM_EXPORT int open64(const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;

	va_start(ap, flags);
	mode = mode_arg(flags, ap);
	va_end(ap);
	OPEN_BODY(AT_FDCWD, path, flags, mode, real_open64(path, flags, mode));
}

SHIM_EXPORT int openat(int dirfd, const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;

	va_start(ap, flags);
	mode = mode_arg(flags, ap);
	va_end(ap);
	OPEN_BODY(dirfd, path, flags, mode, real_openat(dirfd, path, flags, mode));
}

SHIM_EXPORT int openat64(int dirfd, const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;

	va_start(ap, flags);
	mode = mode_arg(flags, ap);
	va_end(ap);
	OPEN_BODY(dirfd, path, flags, mode, real_openat64(dirfd, path, flags, mode));
}

SHIM_EXPORT int __open_2(const char *path, int flags)
{
	OPEN_BODY(AT_FDCWD, path, flags, 0, real___open_2(path, flags));
}

SHIM_EXPORT int __open64_2(const char *path, int flags)
{
	OPEN_BODY(AT_FDCWD, path, flags, 0, real___open64_2(path, flags));
}

SHIM_EXPORT int __openat_2(int dirfd, const char *path, int flags)
{
	OPEN_BODY(dirfd, path, flags, 0, real___openat_2(dirfd, path, flags));
}

SHIM_EXPORT int __openat64_2(int dirfd, const char *path, int flags)
{
	OPEN_BODY(dirfd, path, flags, 0, real___openat64_2(dirfd, path, flags));
}

SHIM_EXPORT int creat(const char *path, mode_t mode)
{
	OPEN_BODY(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode, real_creat(path, mode));
}

SHIM_EXPORT int creat64(const char *path, mode_t mode)
{
	OPEN_BODY(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode, real_creat64(path, mode));
}

/* ---- close, dup ---------------------------------------------------------- */

int shim_close_fd(int fd)
{
	struct shim_ofd *o;
	int rc;

	if (shim_is_shim_fd(fd))
		return errno = EBADF, -1;
	if (!shim_fd_is_remote(fd))
		return real_close(fd);
	shim_lock();
	o = shim_fd_take(fd);
	real_close(fd);
	rc = o ? shim_ofd_put(o) : 0;
	shim_unlock();
	if (fd <= 2)
		SHIM_KEEP_ERRNO(shim_std_fix(fd));
	return rc;
}

SHIM_EXPORT int close(int fd)
{
	INIT();
	if (!shim_nmounts)
		return real_close(fd);
	return shim_close_fd(fd);
}

SHIM_EXPORT int close_range(unsigned int first, unsigned int last, int flags)
{
	unsigned int lo = first;

	INIT();
	if (!real_close_range)
		return errno = ENOSYS, -1;
	if (!shim_nmounts)
		return real_close_range(first, last, flags);
	if (first > last)
		return errno = EINVAL, -1;
	/* Remote fds in the range: release their state first. */
	for (unsigned int fd = first; fd <= last && fd < 65536; fd++) {
		if (!shim_fd_is_remote((int)fd))
			continue;
		if (flags & CLOSE_RANGE_CLOEXEC) {
			shim_lock();
			shim_fd_set_cloexec((int)fd, true);
			shim_unlock();
		} else {
			shim_close_fd((int)fd);
		}
		if (fd == last)
			break;
	}
	/* Then the kernel, around our own descriptors. */
	while (lo <= last) {
		unsigned int next = ~0u;
		int own;

		shim_lock();
		own = lo <= INT_MAX ? shim_next_own_fd((int)lo) : -1;
		shim_unlock();
		if (own >= 0 && (unsigned int)own <= last)
			next = (unsigned int)own;
		if (next == ~0u)
			return real_close_range(lo, last, flags);
		if (next > lo && real_close_range(lo, next - 1, flags) < 0)
			return -1;
		if (next >= last)
			return 0;
		lo = next + 1;
	}
	return 0;
}

/* glibc's closefrom calls its close_range inside the library, past this
 * wrapper's: it must go around the shim's descriptors too. */
SHIM_EXPORT void closefrom(int lowfd)
{
	INIT();
	if (!shim_nmounts && real_closefrom) {
		real_closefrom(lowfd);
		return;
	}
	if (lowfd < 0)
		lowfd = 0;
	if (close_range((unsigned int)lowfd, ~0u, 0) < 0) {
		/* Without close_range(2): one by one, as glibc falls back. */
		for (int fd = lowfd; fd < 65536; fd++)
			if (!shim_is_shim_fd(fd))
				close(fd);
	}
}

static int dup_remote(int oldfd, int minfd, int exact, bool cloexec)
{
	struct shim_ofd *o;
	int fd;

	shim_lock();
	o = shim_fd_get(oldfd);
	if (!o) {
		shim_unlock();
		return errno = EBADF, -1;
	}
	shim_ofd_flush(o);
	fd = shim_fd_install(o, minfd, exact, cloexec);
	shim_unlock();
	if (fd >= 0 && fd <= 2)
		shim_std_fix(fd);
	return fd;
}

SHIM_EXPORT int dup(int oldfd)
{
	INIT();
	if (shim_nmounts && shim_fd_is_remote(oldfd))
		return dup_remote(oldfd, 0, -1, false);
	if (shim_nmounts && shim_is_shim_fd(oldfd))
		return errno = EBADF, -1;
	return real_dup(oldfd);
}

static int dup23(int oldfd, int newfd, int flags, bool is3)
{
	struct shim_ofd *old_o;
	int rc;

	if (newfd < 0 || shim_is_shim_fd(oldfd) || shim_is_shim_fd(newfd))
		return errno = EBADF, -1;
	if (is3 && (flags & ~O_CLOEXEC))
		return errno = EINVAL, -1;
	if (oldfd == newfd) {
		if (is3)
			return errno = EINVAL, -1;
		if (shim_fd_is_remote(oldfd))
			return newfd;
		return real_dup2(oldfd, newfd);
	}
	if (!shim_fd_is_remote(oldfd) && !shim_fd_is_remote(newfd))
		return is3 ? real_dup3(oldfd, newfd, flags) : real_dup2(oldfd, newfd);
	if (shim_fd_is_remote(oldfd)) {
		if (shim_fd_is_remote(newfd)) {
			shim_lock();
			old_o = shim_fd_take(newfd);
			if (old_o)
				shim_ofd_put(old_o);
			shim_unlock();
		}
		return dup_remote(oldfd, 0, newfd, flags & O_CLOEXEC);
	}
	/* Local over remote: the kernel replaces the placeholder atomically. */
	rc = is3 ? real_dup3(oldfd, newfd, flags) : real_dup2(oldfd, newfd);
	if (rc >= 0) {
		shim_lock();
		old_o = shim_fd_take(newfd);
		if (old_o)
			shim_ofd_put(old_o);
		shim_unlock();
		if (newfd <= 2)
			SHIM_KEEP_ERRNO(shim_std_fix(newfd));
	}
	return rc;
}

SHIM_EXPORT int dup2(int oldfd, int newfd)
{
	INIT();
	if (!shim_nmounts)
		return real_dup2(oldfd, newfd);
	return dup23(oldfd, newfd, 0, false);
}

SHIM_EXPORT int dup3(int oldfd, int newfd, int flags)
{
	INIT();
	if (!shim_nmounts)
		return real_dup3(oldfd, newfd, flags);
	return dup23(oldfd, newfd, flags, true);
}

/* ---- fcntl ------------------------------------------------------------------ */

#define SETFL_MASK (O_APPEND | O_NONBLOCK | O_ASYNC | O_DIRECT | O_NOATIME)

static int fcntl_remote(int fd, int cmd, void *arg)
{
	struct shim_ofd *o;
	int rc = 0;

	shim_lock();
	o = shim_fd_get(fd);
	if (!o) {
		shim_unlock();
		return errno = EBADF, -1;
	}
	switch (cmd) {
	case F_DUPFD:
	case F_DUPFD_CLOEXEC:
		if ((long)arg < 0) {
			rc = -1;
			errno = EINVAL;
			break;
		}
		shim_ofd_flush(o);
		rc = shim_fd_install(o, (int)(long)arg, -1, cmd == F_DUPFD_CLOEXEC);
		break;
	case F_GETFD:
		rc = shim_fd_cloexec(fd) ? FD_CLOEXEC : 0;
		break;
	case F_SETFD:
		shim_fd_set_cloexec(fd, ((long)arg & FD_CLOEXEC) != 0);
		break;
	case F_GETFL:
		rc = o->flags | O_LARGEFILE;
		break;
	case F_SETFL:
		if (((long)arg ^ o->flags) & O_APPEND)
			shim_ofd_flush(o);
		o->flags = (o->flags & ~SETFL_MASK) | ((int)(long)arg & SETFL_MASK);
		break;
	case F_GETLK:
	case F_OFD_GETLK: {
		/* Locks on remote files are kept within this process: nobody
		 * else holds one. */
		struct flock *fl = arg;

		if (!fl) {
			rc = -1;
			errno = EFAULT;
			break;
		}
		fl->l_type = F_UNLCK;
		break;
	}
	case F_SETLK:
	case F_SETLKW:
	case F_OFD_SETLK:
	case F_OFD_SETLKW: {
		struct flock *fl = arg;

		if (!fl) {
			rc = -1;
			errno = EFAULT;
			break;
		}
		if ((fl->l_type == F_RDLCK && (o->flags & O_ACCMODE) == O_WRONLY) ||
		    (fl->l_type == F_WRLCK && (o->flags & O_ACCMODE) == O_RDONLY)) {
			rc = -1;
			errno = EBADF;
		}
		break;
	}
	default:
		rc = -1;
		errno = EINVAL;
		break;
	}
	shim_unlock();
	return rc;
}

static int fcntl_common(int fd, int cmd, void *arg, int (*local)(int, int, ...))
{
	INIT();
	if (shim_nmounts && shim_fd_is_remote(fd)) {
		int rc = fcntl_remote(fd, cmd, arg);

		if ((cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC) && rc >= 0 && rc <= 2)
			SHIM_KEEP_ERRNO(shim_std_fix(rc));
		return rc;
	}
	if (shim_nmounts && shim_is_shim_fd(fd) && cmd != F_GETFD && cmd != F_GETFL)
		return errno = EBADF, -1;
	return local(fd, cmd, arg);
}

SHIM_EXPORT int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	INIT();
	return fcntl_common(fd, cmd, arg, real_fcntl);
}

SHIM_EXPORT int fcntl64(int fd, int cmd, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	INIT();
	return fcntl_common(fd, cmd, arg, real_fcntl64 ? real_fcntl64 : real_fcntl);
}

SHIM_EXPORT int ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	INIT();
	if (shim_nmounts && shim_fd_is_remote(fd)) {
		/* A remote file is a regular file on another file system: no
		 * terminal, no reflink across it. */
		return errno = (req == FICLONE || req == FICLONERANGE) ? EXDEV : ENOTTY, -1;
	}
	return real_ioctl(fd, req, arg);
}

SHIM_EXPORT int flock(int fd, int op)
{
	INIT();
	if (shim_nmounts && shim_fd_is_remote(fd))
		return (op & ~LOCK_NB) == LOCK_SH || (op & ~LOCK_NB) == LOCK_EX ||
				       (op & ~LOCK_NB) == LOCK_UN
			       ? 0
			       : (errno = EINVAL, -1);
	return real_flock(fd, op);
}

SHIM_EXPORT int lockf(int fd, int cmd, off_t len)
{
	INIT();
	if (shim_nmounts && shim_fd_is_remote(fd)) {
		struct shim_ofd *o = shim_fd_get(fd);

		if (cmd != F_TEST && o && (o->flags & O_ACCMODE) == O_RDONLY)
			return errno = EBADF, -1;
		return 0;
	}
	return real_lockf(fd, cmd, len);
}

SHIM_EXPORT int lockf64(int fd, int cmd, off_t len)
{
	return lockf(fd, cmd, len);
}

/* ---- temporary files --------------------------------------------------------- */

static const char letters[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

static void fill_random(char *x)
{
	static uint64_t state;
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	state ^= (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)x;
	for (int i = 0; i < 6; i++) {
		state = state * 6364136223846793005ull + 1442695040888963407ull;
		x[i] = letters[(state >> 33) % (sizeof(letters) - 1)];
	}
}

/* mkstemp family on a remote template; suffixlen as mkstemps. 1 = handled. */
static int mktemp_remote(char *tmpl, int suffixlen, int flags, bool dir, int *result)
{
	struct shim_path p;
	size_t len;
	char *x;
	int r;

	INIT();
	if (!shim_nmounts || !tmpl)
		return 0;
	r = shim_classify(AT_FDCWD, tmpl, &p);
	if (r != 1) {
		if (r < 0)
			*result = -1;
		return r < 0;
	}
	len = strlen(tmpl);
	if (suffixlen < 0 || len < 6 + (size_t)suffixlen ||
	    memcmp(tmpl + len - suffixlen - 6, "XXXXXX", 6)) {
		errno = EINVAL;
		*result = -1;
		return 1;
	}
	x = tmpl + len - suffixlen - 6;
	for (int attempt = 0; attempt < 1000; attempt++) {
		fill_random(x);
		r = shim_classify(AT_FDCWD, tmpl, &p);
		if (r != 1) {
			*result = -1;
			return 1;
		}
		if (dir) {
			shim_lock();
			r = shim_remote_path_op(WIRE_MKDIR, &p, 0,
						wire_mode_from_host(0700 & ~shim_umask));
			shim_unlock();
		} else {
			r = open_remote(&p, O_RDWR | O_CREAT | O_EXCL | (flags & ~O_ACCMODE), 0600);
		}
		if (r >= 0 || errno != EEXIST) {
			*result = r;
			return 1;
		}
	}
	errno = EEXIST;
	*result = -1;
	return 1;
}

#define MKTEMP(name, call, suffix, flags)                          \
	do {                                                       \
		int res_;                                          \
		if (mktemp_remote(tmpl, suffix, flags, false, &res_)) \
			return res_;                               \
		return call;                                       \
	} while (0)

SHIM_EXPORT int mkstemp(char *tmpl)
{
	MKTEMP(mkstemp, real_mkstemp(tmpl), 0, 0);
}

SHIM_EXPORT int mkstemp64(char *tmpl)
{
	MKTEMP(mkstemp64, real_mkstemp64(tmpl), 0, 0);
}

SHIM_EXPORT int mkostemp(char *tmpl, int flags)
{
	MKTEMP(mkostemp, real_mkostemp(tmpl, flags), 0, flags);
}

SHIM_EXPORT int mkostemp64(char *tmpl, int flags)
{
	MKTEMP(mkostemp64, real_mkostemp64(tmpl, flags), 0, flags);
}

SHIM_EXPORT int mkstemps(char *tmpl, int suffixlen)
{
	MKTEMP(mkstemps, real_mkstemps(tmpl, suffixlen), suffixlen, 0);
}

SHIM_EXPORT int mkstemps64(char *tmpl, int suffixlen)
{
	MKTEMP(mkstemps64, real_mkstemps64(tmpl, suffixlen), suffixlen, 0);
}

SHIM_EXPORT int mkostemps(char *tmpl, int suffixlen, int flags)
{
	MKTEMP(mkostemps, real_mkostemps(tmpl, suffixlen, flags), suffixlen, flags);
}

SHIM_EXPORT int mkostemps64(char *tmpl, int suffixlen, int flags)
{
	MKTEMP(mkostemps64, real_mkostemps64(tmpl, suffixlen, flags), suffixlen, flags);
}

SHIM_EXPORT char *mkdtemp(char *tmpl)
{
	int res;

	if (mktemp_remote(tmpl, 0, 0, true, &res))
		return res < 0 ? NULL : tmpl;
	return real_mkdtemp(tmpl);
}
