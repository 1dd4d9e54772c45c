/* w_io.c - wrappers for reading, writing, seeking, truncating and syncing fds.
 *
 * Remote fds go through the ofd's buffers at the ofd's cursor; local fds go
 * straight to the C library. copy_file_range and sendfile with a remote end
 * are carried out as reads and writes, as the kernel would across file
 * systems.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "shim.h"

void shim_init(void);
extern void __chk_fail(void) __attribute__((noreturn));
#define REMOTE(fd) (shim_nmounts && shim_fd_is_remote(fd))

/* Lock and look up; NULL (EBADF) if fd stopped being remote meanwhile. */
static struct shim_ofd *enter(int fd)
{
	struct shim_ofd *o;

	shim_lock();
	o = shim_fd_get(fd);
	if (!o) {
		shim_unlock();
		errno = EBADF;
	}
	return o;
}

ssize_t shim_read_fd(int fd, void *buf, size_t n)
{
	struct shim_ofd *o;
	ssize_t k;

	if (!REMOTE(fd))
		return real_read(fd, buf, n);
	if (!(o = enter(fd)))
		return -1;
	if (o->wlen && shim_ofd_flush(o) < 0) {
		shim_unlock();
		return -1;
	}
	k = shim_ofd_pread(o, buf, n, *shim_pos(o));
	if (k > 0)
		*shim_pos(o) += k;
	shim_unlock();
	return k;
}

ssize_t shim_write_fd(int fd, const void *buf, size_t n)
{
	struct shim_ofd *o;
	ssize_t k;
	bool append;

	if (!REMOTE(fd))
		return real_write(fd, buf, n);
	if (!(o = enter(fd)))
		return -1;
	append = (o->flags & O_APPEND) != 0;
	k = shim_ofd_pwrite(o, buf, n, *shim_pos(o), append);
	if (k > 0 && !append)
		*shim_pos(o) += k;
	shim_unlock();
	return k;
}

off_t shim_lseek_fd(int fd, off_t off, int whence)
{
	struct shim_ofd *o;
	struct stat st;
	off_t base, res;

	if (!REMOTE(fd))
		return real_lseek(fd, off, whence);
	if (!(o = enter(fd)))
		return -1;
	if (o->flags & O_PATH) {
		shim_unlock();
		return errno = EBADF, -1;
	}
	if (shim_ofd_flush(o) < 0) {
		shim_unlock();
		return -1;
	}
	switch (whence) {
	case SEEK_SET:
		base = 0;
		break;
	case SEEK_CUR:
		base = *shim_pos(o);
		break;
	case SEEK_END:
	case SEEK_DATA:
	case SEEK_HOLE:
		if (shim_remote_fstat(o, &st) < 0) {
			shim_unlock();
			return -1;
		}
		if (whence == SEEK_END) {
			base = st.st_size;
			break;
		}
		/* No holes are reported: all data up to the end of file. */
		if (off < 0 || off >= st.st_size) {
			shim_unlock();
			return errno = off < 0 ? EINVAL : ENXIO, -1;
		}
		*shim_pos(o) = whence == SEEK_DATA ? off : st.st_size;
		res = *shim_pos(o);
		shim_unlock();
		return res;
	default:
		shim_unlock();
		return errno = EINVAL, -1;
	}
	if ((off > 0 && base > LLONG_MAX - off) || base + off < 0) {
		shim_unlock();
		return errno = (off > 0 ? EOVERFLOW : EINVAL), -1;
	}
	*shim_pos(o) = base + off;
	if (o->is_dir)
		o->dir_cookie = 0;
	res = *shim_pos(o);
	shim_unlock();
	return res;
}

static ssize_t pread_fd(int fd, void *buf, size_t n, off_t off)
{
	struct shim_ofd *o;
	ssize_t k;

	if (!(o = enter(fd)))
		return -1;
	k = shim_ofd_pread(o, buf, n, off);
	shim_unlock();
	return k;
}

static ssize_t pwrite_fd(int fd, const void *buf, size_t n, off_t off)
{
	struct shim_ofd *o;
	ssize_t k;

	if (!(o = enter(fd)))
		return -1;
	/* As on Linux, pwrite on an O_APPEND fd appends. */
	k = shim_ofd_pwrite(o, buf, n, off, (o->flags & O_APPEND) != 0);
	shim_unlock();
	return k;
}

SHIM_EXPORT ssize_t read(int fd, void *buf, size_t n)
{
	INIT();
	return shim_read_fd(fd, buf, n);
}

SHIM_EXPORT ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen)
{
	if (n > buflen)
		__chk_fail();
	return read(fd, buf, n);
}

SHIM_EXPORT ssize_t write(int fd, const void *buf, size_t n)
{
	INIT();
	return shim_write_fd(fd, buf, n);
}

SHIM_EXPORT ssize_t pread(int fd, void *buf, size_t n, off_t off)
{
	INIT();
	return REMOTE(fd) ? pread_fd(fd, buf, n, off) : real_pread(fd, buf, n, off);
}

SHIM_EXPORT ssize_t pread64(int fd, void *buf, size_t n, off_t off)
{
	INIT();
	return REMOTE(fd) ? pread_fd(fd, buf, n, off) : real_pread64(fd, buf, n, off);
}

SHIM_EXPORT ssize_t __pread_chk(int fd, void *buf, size_t n, off_t off, size_t buflen)
{
	if (n > buflen)
		__chk_fail();
	return pread(fd, buf, n, off);
}

SHIM_EXPORT ssize_t __pread64_chk(int fd, void *buf, size_t n, off_t off, size_t buflen)
{
	if (n > buflen)
		__chk_fail();
	return pread64(fd, buf, n, off);
}

SHIM_EXPORT ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
	INIT();
	return REMOTE(fd) ? pwrite_fd(fd, buf, n, off) : real_pwrite(fd, buf, n, off);
}

SHIM_EXPORT ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off)
{
	INIT();
	return REMOTE(fd) ? pwrite_fd(fd, buf, n, off) : real_pwrite64(fd, buf, n, off);
}

/* Vectored I/O on a remote fd: off < 0 means at the cursor. */
static ssize_t vec_io(int fd, const struct iovec *iov, int cnt, off_t off, bool wr)
{
	ssize_t total = 0;

	if (cnt < 0 || cnt > IOV_MAX)
		return errno = EINVAL, -1;
	for (int i = 0; i < cnt; i++) {
		ssize_t k;

		if (!iov[i].iov_len)
			continue;
		if (off < 0)
			k = wr ? shim_write_fd(fd, iov[i].iov_base, iov[i].iov_len)
			       : shim_read_fd(fd, iov[i].iov_base, iov[i].iov_len);
		else
			k = wr ? pwrite_fd(fd, iov[i].iov_base, iov[i].iov_len, off + total)
			       : pread_fd(fd, iov[i].iov_base, iov[i].iov_len, off + total);
		if (k < 0)
			return total ? total : -1;
		total += k;
		if ((size_t)k < iov[i].iov_len)
			break;
	}
	return total;
}

SHIM_EXPORT ssize_t readv(int fd, const struct iovec *iov, int cnt)
{
	INIT();
	return REMOTE(fd) ? vec_io(fd, iov, cnt, -1, false) : real_readv(fd, iov, cnt);
}

SHIM_EXPORT ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
	INIT();
	return REMOTE(fd) ? vec_io(fd, iov, cnt, -1, true) : real_writev(fd, iov, cnt);
}

SHIM_EXPORT ssize_t preadv(int fd, const struct iovec *iov, int cnt, off_t off)
{
	INIT();
	if (!REMOTE(fd))
		return real_preadv(fd, iov, cnt, off);
	return off < 0 ? (errno = EINVAL, -1) : vec_io(fd, iov, cnt, off, false);
}

SHIM_EXPORT ssize_t preadv64(int fd, const struct iovec *iov, int cnt, off_t off)
{
	INIT();
	if (!REMOTE(fd))
		return real_preadv64(fd, iov, cnt, off);
	return off < 0 ? (errno = EINVAL, -1) : vec_io(fd, iov, cnt, off, false);
}

SHIM_EXPORT ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
	INIT();
	if (!REMOTE(fd))
		return real_pwritev(fd, iov, cnt, off);
	return off < 0 ? (errno = EINVAL, -1) : vec_io(fd, iov, cnt, off, true);
}

SHIM_EXPORT ssize_t pwritev64(int fd, const struct iovec *iov, int cnt, off_t off)
{
	INIT();
	if (!REMOTE(fd))
		return real_pwritev64(fd, iov, cnt, off);
	return off < 0 ? (errno = EINVAL, -1) : vec_io(fd, iov, cnt, off, true);
}

SHIM_EXPORT ssize_t preadv2(int fd, const struct iovec *iov, int cnt, off_t off, int flags)
{
	INIT();
	if (!REMOTE(fd))
		return real_preadv2(fd, iov, cnt, off, flags);
	if (flags & RWF_NOWAIT)
		return errno = EOPNOTSUPP, -1;
	return off < -1 ? (errno = EINVAL, -1) : vec_io(fd, iov, cnt, off, false);
}

SHIM_EXPORT ssize_t pwritev2(int fd, const struct iovec *iov, int cnt, off_t off, int flags)
{
	INIT();
	if (!REMOTE(fd))
		return real_pwritev2(fd, iov, cnt, off, flags);
	if (flags & (RWF_NOWAIT | RWF_APPEND))
		return errno = EOPNOTSUPP, -1;
	return off < -1 ? (errno = EINVAL, -1) : vec_io(fd, iov, cnt, off, true);
}

SHIM_EXPORT off_t lseek(int fd, off_t off, int whence)
{
	INIT();
	return shim_lseek_fd(fd, off, whence);
}

SHIM_EXPORT off_t lseek64(int fd, off_t off, int whence)
{
	INIT();
	return shim_lseek_fd(fd, off, whence);
}

static int ftruncate_fd(int fd, off_t len)
{
	struct shim_ofd *o;
	int rc;

	if (!(o = enter(fd)))
		return -1;
	rc = (o->flags & O_PATH) ? (errno = EBADF, -1) : shim_remote_ftruncate(o, len);
	shim_unlock();
	return rc;
}

SHIM_EXPORT int ftruncate(int fd, off_t len)
{
	INIT();
	return REMOTE(fd) ? ftruncate_fd(fd, len) : real_ftruncate(fd, len);
}

SHIM_EXPORT int ftruncate64(int fd, off_t len)
{
	INIT();
	return REMOTE(fd) ? ftruncate_fd(fd, len) : real_ftruncate64(fd, len);
}

static int sync_fd(int fd, bool datasync)
{
	struct shim_ofd *o;
	int rc;

	if (!(o = enter(fd)))
		return -1;
	rc = (o->flags & O_PATH) ? (errno = EBADF, -1) : shim_remote_fsync(o, datasync);
	shim_unlock();
	return rc;
}

SHIM_EXPORT int fsync(int fd)
{
	INIT();
	return REMOTE(fd) ? sync_fd(fd, false) : real_fsync(fd);
}

SHIM_EXPORT int fdatasync(int fd)
{
	INIT();
	return REMOTE(fd) ? sync_fd(fd, true) : real_fdatasync(fd);
}

SHIM_EXPORT int syncfs(int fd)
{
	INIT();
	if (REMOTE(fd)) {
		shim_lock();
		shim_flush_all();
		shim_unlock();
		return sync_fd(fd, false);
	}
	return real_syncfs(fd);
}

SHIM_EXPORT int posix_fadvise(int fd, off_t off, off_t len, int advice)
{
	INIT();
	if (!REMOTE(fd))
		return real_posix_fadvise(fd, off, len, advice);
	if (advice < POSIX_FADV_NORMAL || advice > POSIX_FADV_NOREUSE || len < 0)
		return EINVAL;
	return 0;
}

SHIM_EXPORT int posix_fadvise64(int fd, off_t off, off_t len, int advice)
{
	return posix_fadvise(fd, off, len, advice);
}

/* Grow the file to off + len if shorter (space is not reserved on the server). */
static int allocate_fd(int fd, int mode, off_t off, off_t len)
{
	struct shim_ofd *o;
	struct stat st;
	int rc = 0;

	if (off < 0 || len <= 0)
		return EINVAL;
	if (mode & ~FALLOC_FL_KEEP_SIZE)
		return EOPNOTSUPP;
	if (!(o = enter(fd)))
		return EBADF;
	if ((o->flags & O_ACCMODE) == O_RDONLY || (o->flags & O_PATH)) {
		shim_unlock();
		return EBADF;
	}
	if (!(mode & FALLOC_FL_KEEP_SIZE)) {
		if (shim_remote_fstat(o, &st) < 0)
			rc = errno;
		else if (st.st_size < off + len && shim_remote_ftruncate(o, off + len) < 0)
			rc = errno;
	}
	shim_unlock();
	return rc;
}

SHIM_EXPORT int posix_fallocate(int fd, off_t off, off_t len)
{
	INIT();
	return REMOTE(fd) ? allocate_fd(fd, 0, off, len) : real_posix_fallocate(fd, off, len);
}

SHIM_EXPORT int posix_fallocate64(int fd, off_t off, off_t len)
{
	return posix_fallocate(fd, off, len);
}

SHIM_EXPORT int fallocate(int fd, int mode, off_t off, off_t len)
{
	int rc;

	INIT();
	if (!REMOTE(fd))
		return real_fallocate(fd, mode, off, len);
	rc = allocate_fd(fd, mode, off, len);
	return rc ? (errno = rc, -1) : 0;
}

SHIM_EXPORT int fallocate64(int fd, int mode, off_t off, off_t len)
{
	return fallocate(fd, mode, off, len);
}

/* Copy between fds by reading and writing; either end may be remote. A NULL
 * offset pointer means the fd's cursor. */
static ssize_t copy_fds(int in, off_t *in_off, int out, off_t *out_off, size_t len)
{
	enum { CHUNK = 1 << 20 };
	char *buf;
	size_t done = 0;

	if (len > SSIZE_MAX)
		len = SSIZE_MAX;
	buf = malloc(len < CHUNK ? (len ? len : 1) : CHUNK);
	if (!buf)
		return errno = ENOMEM, -1;
	while (done < len) {
		size_t want = len - done < CHUNK ? len - done : CHUNK;
		ssize_t r, w = 0;

		r = in_off ? pread(in, buf, want, *in_off) : read(in, buf, want);
		if (r <= 0) {
			if (r < 0 && !done) {
				free(buf);
				return -1;
			}
			break;
		}
		while (w < r) {
			ssize_t k = out_off ? pwrite(out, buf + w, (size_t)(r - w), *out_off + w)
					    : write(out, buf + w, (size_t)(r - w));

			if (k <= 0) {
				int err = errno;

				free(buf);
				if (in_off)
					*in_off += w;
				else if (w < r)
					lseek(in, (off_t)(w - r), SEEK_CUR);
				if (out_off)
					*out_off += w;
				done += (size_t)w;
				if (done)
					return (ssize_t)done;
				errno = k < 0 ? err : EIO;
				return -1;
			}
			w += k;
		}
		if (in_off)
			*in_off += r;
		if (out_off)
			*out_off += r;
		done += (size_t)r;
		if ((size_t)r < want)
			break;
	}
	free(buf);
	return (ssize_t)done;
}

SHIM_EXPORT ssize_t copy_file_range(int in, off_t *in_off, int out, off_t *out_off, size_t len,
				    unsigned int flags)
{
	INIT();
	if (!REMOTE(in) && !REMOTE(out))
		return real_copy_file_range(in, in_off, out, out_off, len, flags);
	if (flags)
		return errno = EINVAL, -1;
	if ((in_off && *in_off < 0) || (out_off && *out_off < 0))
		return errno = EINVAL, -1;
	return copy_fds(in, in_off, out, out_off, len);
}

SHIM_EXPORT ssize_t sendfile(int out, int in, off_t *off, size_t count)
{
	INIT();
	if (!REMOTE(in) && !REMOTE(out))
		return real_sendfile(out, in, off, count);
	return copy_fds(in, off, out, NULL, count);
}

SHIM_EXPORT ssize_t sendfile64(int out, int in, off_t *off, size_t count)
{
	return sendfile(out, in, off, count);
}
