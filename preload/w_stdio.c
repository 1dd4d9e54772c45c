/* w_stdio.c - stdio streams on remote files: fopen, fopen64, freopen, fdopen.
 *
 * glibc's FILE calls its internal read/write on the fd, where a preload
 * cannot see them, so a remote stream is a fopencookie() stream whose
 * callbacks are the shim's read/write/lseek/close. Its _fileno is set to the
 * remote fd so fileno() and everything built on it work. All other stdio
 * calls (fread, fprintf, getline, fseek, fclose ...) then need no wrapper.
 *
 * The standard streams are the C library's own. When fd 0, 1 or 2 becomes
 * remote (a shell redirection, an inherited fd), stdin/stdout/stderr — which
 * glibc documents as assignable variables — are pointed at a cookie stream on
 * that fd, and back at the originals when it becomes local again.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shim.h"


/* glibc's stream flag bits (libio.h; stable since glibc 2.0). */
#define IO_NO_READS 0x0004
#define IO_NO_WRITES 0x0008
#define IO_IS_APPENDING 0x1000

struct cookie {
	int fd;
	FILE *fp;
	bool detached; /* dropped by shim_std_fix: closing must not close fd */
	struct cookie *next;
};

static FILE *std_orig[3];
static struct cookie *std_ck[3];

static struct cookie *cookies; /* under the lock */

static ssize_t ck_read(void *c, char *buf, size_t n)
{
	return shim_read_fd(((struct cookie *)c)->fd, buf, n);
}

static ssize_t ck_write(void *c, const char *buf, size_t n)
{
	size_t done = 0;

	while (done < n) {
		ssize_t k = shim_write_fd(((struct cookie *)c)->fd, buf + done, n - done);

		if (k <= 0)
			return done ? (ssize_t)done : -1;
		done += (size_t)k;
	}
	return (ssize_t)done;
}

static int ck_seek(void *c, off64_t *pos, int whence)
{
	off_t r = shim_lseek_fd(((struct cookie *)c)->fd, *pos, whence);

	if (r < 0)
		return -1;
	*pos = r;
	return 0;
}

static int ck_close(void *c)
{
	struct cookie *ck = c;
	int rc;

	shim_lock();
	for (struct cookie **pp = &cookies; *pp; pp = &(*pp)->next)
		if (*pp == ck) {
			*pp = ck->next;
			break;
		}
	for (int i = 0; i < 3; i++)
		if (std_ck[i] == ck)
			std_ck[i] = NULL;
	shim_unlock();
	rc = ck->detached ? 0 : shim_close_fd(ck->fd);
	free(ck);
	return rc;
}

static const cookie_io_functions_t ck_funcs = {ck_read, ck_write, ck_seek, ck_close};

/* fopen mode -> open flags; -1 EINVAL on a bad mode. */
static int mode_flags(const char *mode)
{
	int flags;

	switch (mode[0]) {
	case 'r': flags = O_RDONLY; break;
	case 'w': flags = O_WRONLY | O_CREAT | O_TRUNC; break;
	case 'a': flags = O_WRONLY | O_CREAT | O_APPEND; break;
	default: return errno = EINVAL, -1;
	}
	for (const char *m = mode + 1; *m && *m != ','; m++) {
		switch (*m) {
		case '+': flags = (flags & ~O_ACCMODE) | O_RDWR; break;
		case 'x': flags |= O_EXCL; break;
		case 'e': flags |= O_CLOEXEC; break;
		default: break; /* b, c, m, t: no meaning here */
		}
	}
	return flags;
}

/* The basic mode string fopencookie understands. */
static const char *cookie_mode(int flags)
{
	bool rw = (flags & O_ACCMODE) == O_RDWR;

	if (flags & O_APPEND)
		return rw ? "a+" : "a";
	if ((flags & O_ACCMODE) == O_RDONLY)
		return "r";
	if (flags & O_TRUNC)
		return rw ? "w+" : "w";
	return rw ? "r+" : "w";
}

static FILE *stream_on_fd(int fd, int flags, struct cookie **out)
{
	struct cookie *ck = calloc(1, sizeof(*ck));
	FILE *fp;

	if (!ck)
		return errno = ENOMEM, NULL;
	ck->fd = fd;
	fp = fopencookie(ck, cookie_mode(flags), ck_funcs);
	if (!fp) {
		free(ck);
		return NULL;
	}
	fp->_fileno = fd;
	ck->fp = fp;
	shim_lock();
	ck->next = cookies;
	cookies = ck;
	shim_unlock();
	if (flags & O_APPEND)
		shim_lseek_fd(fd, 0, SEEK_END);
	if (out)
		*out = ck;
	return fp;
}

static FILE *fopen_remote(const char *path, const char *mode)
{
	int flags = mode_flags(mode), fd;
	FILE *fp;

	if (flags < 0)
		return NULL;
	fd = shim_open_common(AT_FDCWD, path, flags, 0666);
	if (fd < 0)
		return NULL;
	fp = stream_on_fd(fd, flags, NULL);
	if (!fp)
		SHIM_KEEP_ERRNO(shim_close_fd(fd));
	return fp;
}

static int is_remote_path(const char **path, struct shim_path *p)
{
	INIT();
	if (!shim_nmounts || !*path)
		return 0;
	return shim_where(AT_FDCWD, path, p);
}

SHIM_EXPORT FILE *fopen(const char *path, const char *mode)
{
	struct shim_path p;
	int r = is_remote_path(&path, &p);

	if (r < 0)
		return NULL;
	return r ? fopen_remote(path, mode) : real_fopen(path, mode);
}

SHIM_EXPORT FILE *fopen64(const char *path, const char *mode)
{
	struct shim_path p;
	int r = is_remote_path(&path, &p);

	if (r < 0)
		return NULL;
	return r ? fopen_remote(path, mode) : real_fopen64(path, mode);
}

SHIM_EXPORT FILE *fdopen(int fd, const char *mode)
{
	struct shim_ofd *o;
	int flags, acc;

	INIT();
	if (!shim_nmounts || !shim_fd_is_remote(fd))
		return real_fdopen(fd, mode);
	flags = mode_flags(mode);
	if (flags < 0)
		return NULL;
	shim_lock();
	o = shim_fd_get(fd);
	acc = o ? o->flags & O_ACCMODE : -1;
	if (o && (o->flags & O_APPEND))
		flags |= O_APPEND;
	shim_unlock();
	if (acc < 0)
		return errno = EBADF, NULL;
	if (((flags & O_ACCMODE) == O_RDONLY && acc == O_WRONLY) ||
	    ((flags & O_ACCMODE) == O_WRONLY && acc == O_RDONLY) ||
	    ((flags & O_ACCMODE) == O_RDWR && acc != O_RDWR))
		return errno = EINVAL, NULL;
	/* fdopen neither truncates nor creates; "w" on an fd keeps its data. */
	return stream_on_fd(fd, flags & ~(O_TRUNC | O_CREAT), NULL);
}

static struct cookie *find_cookie(FILE *fp)
{
	struct cookie *ck;

	shim_lock();
	for (ck = cookies; ck; ck = ck->next)
		if (ck->fp == fp)
			break;
	shim_unlock();
	return ck;
}

/* freopen: a remote stream may be pointed at any path; a stream of the C
 * library cannot be pointed at a remote path (its I/O bypasses the shim). */
static FILE *freopen_common(const char *path, const char *mode, FILE *fp,
			    FILE *(*local)(const char *, const char *, FILE *))
{
	struct cookie *ck;
	struct shim_path p;
	int r = is_remote_path(&path, &p), flags, fd;

	if (r < 0)
		return NULL;
	ck = shim_nmounts ? find_cookie(fp) : NULL;
	if (!ck) {
		if (!r)
			return local(path, mode, fp);
		shim_log("freopen(\"%s\") on a stream not opened by the shim (such as stdin/stdout) is "
			 "not supported; open the remote file with fopen instead", path);
		return errno = ENOTSUP, NULL;
	}
	if (!path) {
		shim_log("freopen(NULL, \"%s\") on a remote stream is not supported", mode);
		return errno = ENOTSUP, NULL;
	}
	flags = mode_flags(mode);
	if (flags < 0)
		return NULL;
	fflush(fp);
	fd = r ? shim_open_common(AT_FDCWD, path, flags, 0666) : real_open(path, flags, 0666);
	if (fd < 0) {
		SHIM_KEEP_ERRNO(fclose(fp));
		return NULL;
	}
	shim_close_fd(ck->fd);
	/* Keep the fd number, as freopen does. */
	if (fd != ck->fd) {
		if (dup2(fd, ck->fd) >= 0) {
			shim_close_fd(fd);
			fd = ck->fd;
		}
	}
	ck->fd = fd;
	fp->_fileno = fd;
	fp->_flags &= ~(IO_NO_READS | IO_NO_WRITES | IO_IS_APPENDING);
	if ((flags & O_ACCMODE) == O_RDONLY)
		fp->_flags |= IO_NO_WRITES;
	if ((flags & O_ACCMODE) == O_WRONLY)
		fp->_flags |= IO_NO_READS;
	if (flags & O_APPEND)
		fp->_flags |= IO_IS_APPENDING;
	clearerr(fp);
	if (flags & O_APPEND)
		fseeko(fp, 0, SEEK_END);
	else
		fseeko(fp, 0, SEEK_SET);
	return fp;
}

SHIM_EXPORT FILE *freopen(const char *path, const char *mode, FILE *fp)
{
	return freopen_common(path, mode, fp, real_freopen);
}

SHIM_EXPORT FILE *freopen64(const char *path, const char *mode, FILE *fp)
{
	return freopen_common(path, mode, fp, real_freopen64);
}

/* ---- standard streams ----------------------------------------------------------- */

void shim_std_init(void)
{
	std_orig[0] = stdin;
	std_orig[1] = stdout;
	std_orig[2] = stderr;
}

static FILE **std_slot(int fd)
{
	return fd == 0 ? &stdin : fd == 1 ? &stdout : &stderr;
}

void shim_std_fix(int fd)
{
	FILE **slot, *orig, *fp;
	struct shim_ofd *o;
	struct cookie *ck;
	int flags;

	if (fd < 0 || fd > 2 || !shim_nmounts || !std_orig[fd])
		return;
	slot = std_slot(fd);
	if (shim_fd_is_remote(fd)) {
		if (std_ck[fd] || *slot != std_orig[fd])
			return;
		shim_lock();
		o = shim_fd_get(fd);
		flags = o ? o->flags & (O_ACCMODE | O_APPEND) : -1;
		shim_unlock();
		if (flags < 0)
			return;
		orig = *slot;
		fp = stream_on_fd(fd, flags, &ck);
		if (!fp) {
			shim_log("cannot attach %s to the remote fd %d: %s", fd == 0 ? "stdin" : fd == 1 ? "stdout" : "stderr",
				 fd, strerror(errno));
			return;
		}
		if (fd == 2)
			setvbuf(fp, NULL, _IONBF, 0);
		/* Output the program had buffered goes where the fd now leads,
		 * as it would when the original stream is flushed. */
		if (orig->_IO_write_ptr > orig->_IO_write_base) {
			fwrite(orig->_IO_write_base, 1, (size_t)(orig->_IO_write_ptr - orig->_IO_write_base), fp);
			orig->_IO_write_ptr = orig->_IO_write_base;
		}
		std_ck[fd] = ck;
		*slot = fp;
	} else if (std_ck[fd] && *slot == std_ck[fd]->fp) {
		ck = std_ck[fd];
		fp = ck->fp;
		std_ck[fd] = NULL;
		ck->detached = true;
		fclose(fp); /* flushes to whatever the fd now is */
		*slot = std_orig[fd];
	}
}
