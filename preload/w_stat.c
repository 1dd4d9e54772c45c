/* w_stat.c - wrappers for stat, access, names (unlink, rename, mkdir, links) and attributes.
 *
 * Each takes a path (or an fd) and sends the matching request when it is
 * remote. Renames and links between a remote and a local path, or between two
 * servers, fail with EXDEV as they would across file systems. Extended
 * attributes are not carried: remote files behave as on a file system without
 * them (ENOTSUP).
 */
#include <errno.h>
#include <assert.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <utime.h>

#include "shim.h"

_Static_assert(sizeof(struct stat) == sizeof(struct stat64), "stat64 differs");
_Static_assert(sizeof(struct statfs) == sizeof(struct statfs64), "statfs64 differs");
_Static_assert(sizeof(struct statvfs) == sizeof(struct statvfs64), "statvfs64 differs");

#define REMOTE(fd) (shim_nmounts && shim_fd_is_remote(fd))

/* Classify (dirfd, path): 1 remote, 0 local, -1 error. */
static int where(int dirfd, const char **path, struct shim_path *p)
{
	INIT();
	if (!shim_nmounts)
		return 0;
	return shim_where(dirfd, path, p);
}

#define DISPATCH(dirfd, path, p, local_call)         \
	do {                                         \
		int r_ = where(dirfd, &path, &(p));  \
		if (r_ < 0)                          \
			return -1;                   \
		if (r_ == 0)                         \
			return local_call;           \
	} while (0)

/* ---- stat -------------------------------------------------------------------- */

static int stat_path(struct shim_path *p, bool nofollow, struct stat *st)
{
	int rc;

	shim_lock();
	rc = shim_remote_stat(p, nofollow, st);
	shim_unlock();
	return rc;
}

static int fstat_fd(int fd, struct stat *st)
{
	struct shim_ofd *o;
	int rc;

	shim_lock();
	o = shim_fd_get(fd);
	rc = o ? shim_remote_fstat(o, st) : (errno = EBADF, -1);
	shim_unlock();
	return rc;
}

/* fstatat semantics for any entry point. */
static int statat(int dirfd, const char *path, struct stat *st, int flags,
		  int (*local)(int, const char *, struct stat *, int))
{
	struct shim_path p;
	int r;

	INIT();
	if (!shim_nmounts)
		return local(dirfd, path, st, flags);
	if (path && !*path && (flags & AT_EMPTY_PATH)) {
		if (dirfd != AT_FDCWD && REMOTE(dirfd))
			return fstat_fd(dirfd, st);
		if (dirfd == AT_FDCWD && shim_cwd_remote)
			path = ".";
		else
			return local(dirfd, path, st, flags);
	}
	r = shim_where(dirfd, &path, &p);
	if (r < 0)
		return -1;
	if (r == 0)
		return local(dirfd, path, st, flags);
	return stat_path(&p, (flags & AT_SYMLINK_NOFOLLOW) != 0, st);
}

static int l_stat(int d, const char *p, struct stat *st, int f)
{
	(void)d;
	return f & AT_SYMLINK_NOFOLLOW ? real_lstat(p, st) : real_stat(p, st);
}

static int l_fstatat(int d, const char *p, struct stat *st, int f)
{
	return real_fstatat(d, p, st, f);
}

SHIM_EXPORT int stat(const char *path, struct stat *st)
{
	return statat(AT_FDCWD, path, st, 0, l_stat);
}

SHIM_EXPORT int stat64(const char *path, struct stat64 *st)
{
	return statat(AT_FDCWD, path, (struct stat *)st, 0, l_stat);
}

SHIM_EXPORT int lstat(const char *path, struct stat *st)
{
	return statat(AT_FDCWD, path, st, AT_SYMLINK_NOFOLLOW, l_stat);
}

SHIM_EXPORT int lstat64(const char *path, struct stat64 *st)
{
	return statat(AT_FDCWD, path, (struct stat *)st, AT_SYMLINK_NOFOLLOW, l_stat);
}

SHIM_EXPORT int fstatat(int dirfd, const char *path, struct stat *st, int flags)
{
	return statat(dirfd, path, st, flags, l_fstatat);
}

SHIM_EXPORT int fstatat64(int dirfd, const char *path, struct stat64 *st, int flags)
{
	return statat(dirfd, path, (struct stat *)st, flags, l_fstatat);
}

SHIM_EXPORT int fstat(int fd, struct stat *st)
{
	INIT();
	return REMOTE(fd) ? fstat_fd(fd, st) : real_fstat(fd, st);
}

SHIM_EXPORT int fstat64(int fd, struct stat64 *st)
{
	INIT();
	return REMOTE(fd) ? fstat_fd(fd, (struct stat *)st) : real_fstat64(fd, (struct stat *)st);
}

/* Programs built against glibc < 2.33 call these; ver is _STAT_VER (1). */
SHIM_EXPORT int __xstat(int ver, const char *path, struct stat *st)
{
	(void)ver;
	return statat(AT_FDCWD, path, st, 0, l_fstatat);
}

SHIM_EXPORT int __xstat64(int ver, const char *path, struct stat *st)
{
	return __xstat(ver, path, st);
}

SHIM_EXPORT int __lxstat(int ver, const char *path, struct stat *st)
{
	(void)ver;
	return statat(AT_FDCWD, path, st, AT_SYMLINK_NOFOLLOW, l_fstatat);
}

SHIM_EXPORT int __lxstat64(int ver, const char *path, struct stat *st)
{
	return __lxstat(ver, path, st);
}

SHIM_EXPORT int __fxstat(int ver, int fd, struct stat *st)
{
	(void)ver;
	return fstat(fd, st);
}

SHIM_EXPORT int __fxstat64(int ver, int fd, struct stat *st)
{
	(void)ver;
	return fstat(fd, st);
}

SHIM_EXPORT int __fxstatat(int ver, int dirfd, const char *path, struct stat *st, int flags)
{
	(void)ver;
	return statat(dirfd, path, st, flags, l_fstatat);
}

SHIM_EXPORT int __fxstatat64(int ver, int dirfd, const char *path, struct stat *st, int flags)
{
	(void)ver;
	return statat(dirfd, path, st, flags, l_fstatat);
}

static void fill_statx(struct statx *x, const struct stat *st)
{
	memset(x, 0, sizeof(*x));
	x->stx_mask = STATX_BASIC_STATS;
	x->stx_blksize = (uint32_t)st->st_blksize;
	x->stx_nlink = (uint32_t)st->st_nlink;
	x->stx_uid = st->st_uid;
	x->stx_gid = st->st_gid;
	x->stx_mode = (uint16_t)st->st_mode;
	x->stx_ino = st->st_ino;
	x->stx_size = (uint64_t)st->st_size;
	x->stx_blocks = (uint64_t)st->st_blocks;
	x->stx_atime.tv_sec = st->st_atim.tv_sec;
	x->stx_atime.tv_nsec = (uint32_t)st->st_atim.tv_nsec;
	x->stx_mtime.tv_sec = st->st_mtim.tv_sec;
	x->stx_mtime.tv_nsec = (uint32_t)st->st_mtim.tv_nsec;
	x->stx_ctime.tv_sec = st->st_ctim.tv_sec;
	x->stx_ctime.tv_nsec = (uint32_t)st->st_ctim.tv_nsec;
	x->stx_rdev_major = major(st->st_rdev);
	x->stx_rdev_minor = minor(st->st_rdev);
	x->stx_dev_major = major(st->st_dev);
	x->stx_dev_minor = minor(st->st_dev);
}

SHIM_EXPORT int statx(int dirfd, const char *path, int flags, unsigned int mask, struct statx *x)
{
	struct stat st;
	int r;

	INIT();
	if (!shim_nmounts)
		return real_statx(dirfd, path, flags, mask, x);
	if (path && !*path && (flags & AT_EMPTY_PATH) && dirfd != AT_FDCWD && REMOTE(dirfd)) {
		r = fstat_fd(dirfd, &st);
	} else {
		struct shim_path p;

		r = path && !*path && (flags & AT_EMPTY_PATH) ? 0 : shim_where(dirfd, &path, &p);
		if (r < 0)
			return -1;
		if (r == 0)
			return real_statx(dirfd, path, flags, mask, x);
		r = stat_path(&p, (flags & AT_SYMLINK_NOFOLLOW) != 0, &st);
	}
	if (r == 0)
		fill_statx(x, &st);
	return r;
}

/* ---- statfs ---------------------------------------------------------------------- */

static int statfs_remote(struct shim_path *p, struct wire_statfs_reply *r)
{
	int rc;

	shim_lock();
	rc = shim_remote_statfs(p, r);
	shim_unlock();
	return rc;
}

/* The path of a remote fd, for statfs by fd. */
static int fd_path(int fd, struct shim_path *p)
{
	struct shim_ofd *o;

	shim_lock();
	o = shim_fd_get(fd);
	if (o) {
		p->mnt = o->mnt;
		strcpy(p->rel, o->rel);
	}
	shim_unlock();
	return o ? 0 : (errno = EBADF, -1);
}

static void to_statfs(struct statfs *s, const struct wire_statfs_reply *r)
{
	memset(s, 0, sizeof(*s));
	s->f_type = 0x636b7074; /* "ckpt" */
	s->f_bsize = (long)r->bsize;
	s->f_frsize = (long)r->frsize;
	s->f_blocks = r->blocks;
	s->f_bfree = r->bfree;
	s->f_bavail = r->bavail;
	s->f_files = r->files;
	s->f_ffree = r->ffree;
	s->f_namelen = (long)r->namemax;
	s->f_flags = (long)wire_stflags_to_host(r->flags);
	memcpy(&s->f_fsid, &r->fsid, sizeof(s->f_fsid) < 8 ? sizeof(s->f_fsid) : 8);
}

static void to_statvfs(struct statvfs *s, const struct wire_statfs_reply *r)
{
	memset(s, 0, sizeof(*s));
	s->f_bsize = r->bsize;
	s->f_frsize = r->frsize;
	s->f_blocks = r->blocks;
	s->f_bfree = r->bfree;
	s->f_bavail = r->bavail;
	s->f_files = r->files;
	s->f_ffree = r->ffree;
	s->f_favail = r->favail;
	s->f_fsid = r->fsid;
	s->f_flag = wire_stflags_to_host(r->flags);
	s->f_namemax = r->namemax;
}

SHIM_EXPORT int statfs(const char *path, struct statfs *s)
{
	struct shim_path p;
	struct wire_statfs_reply r;

	DISPATCH(AT_FDCWD, path, p, real_statfs(path, s));
	if (statfs_remote(&p, &r) < 0)
		return -1;
	to_statfs(s, &r);
	return 0;
}

SHIM_EXPORT int statfs64(const char *path, struct statfs64 *s)
{
	return statfs(path, (struct statfs *)s);
}

SHIM_EXPORT int fstatfs(int fd, struct statfs *s)
{
	struct shim_path p;
	struct wire_statfs_reply r;

	INIT();
	if (!REMOTE(fd))
		return real_fstatfs(fd, s);
	if (fd_path(fd, &p) < 0 || statfs_remote(&p, &r) < 0)
		return -1;
	to_statfs(s, &r);
	return 0;
}

SHIM_EXPORT int fstatfs64(int fd, struct statfs64 *s)
{
	return fstatfs(fd, (struct statfs *)s);
}

SHIM_EXPORT int statvfs(const char *path, struct statvfs *s)
{
	struct shim_path p;
	struct wire_statfs_reply r;

	DISPATCH(AT_FDCWD, path, p, real_statvfs(path, s));
	if (statfs_remote(&p, &r) < 0)
		return -1;
	to_statvfs(s, &r);
	return 0;
}

SHIM_EXPORT int statvfs64(const char *path, struct statvfs64 *s)
{
	return statvfs(path, (struct statvfs *)s);
}

SHIM_EXPORT int fstatvfs(int fd, struct statvfs *s)
{
	struct shim_path p;
	struct wire_statfs_reply r;

	INIT();
	if (!REMOTE(fd))
		return real_fstatvfs(fd, s);
	if (fd_path(fd, &p) < 0 || statfs_remote(&p, &r) < 0)
		return -1;
	to_statvfs(s, &r);
	return 0;
}

SHIM_EXPORT int fstatvfs64(int fd, struct statvfs64 *s)
{
	return fstatvfs(fd, (struct statvfs *)s);
}

/* ---- access ------------------------------------------------------------------------ */

static int path_op(uint16_t type, struct shim_path *p, uint32_t flags, uint32_t arg)
{
	int rc;

	shim_lock();
	rc = shim_remote_path_op(type, p, flags, arg);
	shim_unlock();
	return rc;
}

static uint32_t access_bits(int mode)
{
	return (mode & R_OK ? WIRE_R_OK : 0) | (mode & W_OK ? WIRE_W_OK : 0) |
	       (mode & X_OK ? WIRE_X_OK : 0);
}

static int access_remote(struct shim_path *p, int mode, int flags)
{
	if (mode & ~(R_OK | W_OK | X_OK))
		return errno = EINVAL, -1;
	if (flags & ~(AT_EACCESS | AT_SYMLINK_NOFOLLOW))
		return errno = EINVAL, -1;
	/* The protocol has no no-follow access check: with
	 * AT_SYMLINK_NOFOLLOW the target's permissions are checked, not the
	 * link's (documented in README). */
	return path_op(WIRE_ACCESS, p, flags & AT_EACCESS ? WIRE_AT_EACCESS : 0, access_bits(mode));
}

SHIM_EXPORT int access(const char *path, int mode)
{
	struct shim_path p;

	DISPATCH(AT_FDCWD, path, p, real_access(path, mode));
	return access_remote(&p, mode, 0);
}

SHIM_EXPORT int faccessat(int dirfd, const char *path, int mode, int flags)
{
	struct shim_path p;

	DISPATCH(dirfd, path, p, real_faccessat(dirfd, path, mode, flags));
	return access_remote(&p, mode, flags);
}

SHIM_EXPORT int euidaccess(const char *path, int mode)
{
	struct shim_path p;

	DISPATCH(AT_FDCWD, path, p, real_euidaccess(path, mode));
	return access_remote(&p, mode, AT_EACCESS);
}

SHIM_EXPORT int eaccess(const char *path, int mode)
{
	return euidaccess(path, mode);
}

/* ---- names ---------------------------------------------------------------------------- */

static int unlink_remote(struct shim_path *p, bool dir)
{
	if (!*p->rel)
		return errno = EBUSY, -1;
	return path_op(WIRE_UNLINK, p, dir ? WIRE_AT_REMOVEDIR : 0, 0);
}

SHIM_EXPORT int unlink(const char *path)
{
	struct shim_path p;

	DISPATCH(AT_FDCWD, path, p, real_unlink(path));
	return unlink_remote(&p, false);
}

SHIM_EXPORT int unlinkat(int dirfd, const char *path, int flags)
{
	struct shim_path p;

	DISPATCH(dirfd, path, p, real_unlinkat(dirfd, path, flags));
	if (flags & ~AT_REMOVEDIR)
		return errno = EINVAL, -1;
	return unlink_remote(&p, flags & AT_REMOVEDIR);
}

SHIM_EXPORT int rmdir(const char *path)
{
	struct shim_path p;

	DISPATCH(AT_FDCWD, path, p, real_rmdir(path));
	return unlink_remote(&p, true);
}

SHIM_EXPORT int remove(const char *path)
{
	struct shim_path p;

	DISPATCH(AT_FDCWD, path, p, real_remove(path));
	if (unlink_remote(&p, false) == 0)
		return 0;
	if (errno != EISDIR)
		return -1;
	return unlink_remote(&p, true);
}

SHIM_EXPORT int mkdir(const char *path, mode_t mode)
{
	struct shim_path p;

	DISPATCH(AT_FDCWD, path, p, real_mkdir(path, mode));
	if (!*p.rel)
		return errno = EEXIST, -1;
	return path_op(WIRE_MKDIR, &p, 0, wire_mode_from_host(mode & ~shim_umask & 07777));
}

SHIM_EXPORT int mkdirat(int dirfd, const char *path, mode_t mode)
{
	struct shim_path p;

	DISPATCH(dirfd, path, p, real_mkdirat(dirfd, path, mode));
	if (!*p.rel)
		return errno = EEXIST, -1;
	return path_op(WIRE_MKDIR, &p, 0, wire_mode_from_host(mode & ~shim_umask & 07777));
}

/* Two-path calls. Returns 2 when both are local: the caller does the local
 * call with *a and *b, which may have been rewritten into pp. */
static int two(uint16_t type, int d1, const char **a, int d2, const char **b, uint32_t flags,
	       struct shim_path pp[2])
{
	struct shim_path *pa = &pp[0], *pb = &pp[1];
	int ra, rb, rc;

	INIT();
	if (!shim_nmounts)
		return 2;
	ra = type == WIRE_SYMLINK ? 0 : shim_where(d1, a, pa);
	if (ra < 0)
		return -1;
	rb = shim_where(d2, b, pb);
	if (rb < 0)
		return -1;
	if (!ra && !rb)
		return 2;
	if (type == WIRE_SYMLINK) {
		if (!*pb->rel)
			return errno = EEXIST, -1;
		pa->mnt = pb->mnt;
		if (strlen(*a) > WIRE_MAX_PATH)
			return errno = ENAMETOOLONG, -1;
		strcpy(pa->rel, *a);
	} else if (!ra || !rb) {
		return errno = EXDEV, -1;
	} else if ((!*pa->rel || !*pb->rel)) {
		return errno = type == WIRE_LINK ? EPERM : EBUSY, -1;
	}
	shim_lock();
	rc = shim_remote_two_paths(type, pa, pb, flags);
	shim_unlock();
	return rc;
}

SHIM_EXPORT int rename(const char *a, const char *b)
{
	struct shim_path pp[2];
	int r = two(WIRE_RENAME, AT_FDCWD, &a, AT_FDCWD, &b, 0, pp);

	return r == 2 ? real_rename(a, b) : r;
}

SHIM_EXPORT int renameat(int d1, const char *a, int d2, const char *b)
{
	struct shim_path pp[2];
	int r = two(WIRE_RENAME, d1, &a, d2, &b, 0, pp);

	return r == 2 ? real_renameat(d1, a, d2, b) : r;
}

SHIM_EXPORT int renameat2(int d1, const char *a, int d2, const char *b, unsigned int flags)
{
	struct shim_path pp[2];
	int r;

	if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE)) {
		INIT();
		if (real_renameat2)
			return real_renameat2(d1, a, d2, b, flags);
		return errno = EINVAL, -1;
	}
	r = two(WIRE_RENAME, d1, &a, d2, &b,
		(flags & RENAME_NOREPLACE ? WIRE_RENAME_NOREPLACE : 0) |
			(flags & RENAME_EXCHANGE ? WIRE_RENAME_EXCHANGE : 0),
		pp);
	return r == 2 ? real_renameat2(d1, a, d2, b, flags) : r;
}

SHIM_EXPORT int link(const char *a, const char *b)
{
	struct shim_path pp[2];
	int r = two(WIRE_LINK, AT_FDCWD, &a, AT_FDCWD, &b, 0, pp);

	return r == 2 ? real_link(a, b) : r;
}

SHIM_EXPORT int linkat(int d1, const char *a, int d2, const char *b, int flags)
{
	struct shim_path pp[2];
	int r = two(WIRE_LINK, d1, &a, d2, &b, 0, pp);

	return r == 2 ? real_linkat(d1, a, d2, b, flags) : r;
}

SHIM_EXPORT int symlink(const char *target, const char *path)
{
	struct shim_path pp[2];
	int r = two(WIRE_SYMLINK, AT_FDCWD, &target, AT_FDCWD, &path, 0, pp);

	return r == 2 ? real_symlink(target, path) : r;
}

SHIM_EXPORT int symlinkat(const char *target, int dirfd, const char *path)
{
	struct shim_path pp[2];
	int r = two(WIRE_SYMLINK, AT_FDCWD, &target, dirfd, &path, 0, pp);

	return r == 2 ? real_symlinkat(target, dirfd, path) : r;
}

static ssize_t readlink_remote(struct shim_path *p, char *buf, size_t cap)
{
	ssize_t rc;

	if (!cap)
		return errno = EINVAL, -1;
	shim_lock();
	rc = shim_remote_readlink(p, buf, cap);
	shim_unlock();
	return rc;
}

SHIM_EXPORT ssize_t readlink(const char *path, char *buf, size_t cap)
{
	struct shim_path p;

	DISPATCH(AT_FDCWD, path, p, real_readlink(path, buf, cap));
	return readlink_remote(&p, buf, cap);
}

SHIM_EXPORT ssize_t readlinkat(int dirfd, const char *path, char *buf, size_t cap)
{
	struct shim_path p;

	DISPATCH(dirfd, path, p, real_readlinkat(dirfd, path, buf, cap));
	return readlink_remote(&p, buf, cap);
}

/* realpath of a remote path: normalized lexically, then checked to exist.
 * Symlinks inside a remote tree are not expanded. */
static char *realpath_remote(struct shim_path *p, char *out)
{
	struct stat st;
	size_t pl = p->mnt->len, rl = strlen(p->rel);
	char *res;

	if (stat_path(p, false, &st) < 0)
		return NULL;
	if (pl + 1 + rl + 1 > PATH_MAX)
		return errno = ENAMETOOLONG, NULL;
	res = out ? out : malloc(PATH_MAX);
	if (!res)
		return errno = ENOMEM, NULL;
	memcpy(res, p->mnt->point, pl);
	if (rl) {
		res[pl] = '/';
		memcpy(res + pl + 1, p->rel, rl + 1);
	} else {
		res[pl] = 0;
	}
	return res;
}

SHIM_EXPORT char *realpath(const char *path, char *out)
{
	struct shim_path p;
	int r = where(AT_FDCWD, &path, &p);

	if (r < 0)
		return NULL;
	return r ? realpath_remote(&p, out) : real_realpath(path, out);
}

SHIM_EXPORT char *canonicalize_file_name(const char *path)
{
	struct shim_path p;
	int r = where(AT_FDCWD, &path, &p);

	if (r < 0)
		return NULL;
	return r ? realpath_remote(&p, NULL) : real_canonicalize_file_name(path);
}

/* ---- attributes ------------------------------------------------------------------------------ */

static int setattr(int fd, struct shim_path *p, struct wire_setattr *sa)
{
	struct shim_ofd *o = NULL;
	int rc;

	shim_lock();
	if (fd >= 0) {
		o = shim_fd_get(fd);
		if (!o) {
			shim_unlock();
			return errno = EBADF, -1;
		}
	}
	rc = shim_remote_setattr(o, p, sa);
	shim_unlock();
	return rc;
}

static int chmod_common(int fd, struct shim_path *p, mode_t mode, int flags)
{
	struct wire_setattr sa = {0};

	sa.valid = WIRE_SET_MODE;
	sa.mode = wire_mode_from_host(mode & 07777);
	sa.flags = flags & AT_SYMLINK_NOFOLLOW ? WIRE_AT_NOFOLLOW : 0;
	return setattr(fd, p, &sa);
}

static int chown_common(int fd, struct shim_path *p, uid_t uid, gid_t gid, int flags)
{
	struct wire_setattr sa = {0};

	sa.valid = (uid != (uid_t)-1 ? WIRE_SET_UID : 0) | (gid != (gid_t)-1 ? WIRE_SET_GID : 0);
	sa.uid = uid;
	sa.gid = gid;
	sa.flags = flags & AT_SYMLINK_NOFOLLOW ? WIRE_AT_NOFOLLOW : 0;
	if (!sa.valid) /* still checks that the file exists */
		sa.valid = WIRE_SET_UID, sa.uid = 0xffffffffu;
	return setattr(fd, p, &sa);
}

/* times[0] atime, times[1] mtime; NULL = both now. */
static int utimens_common(int fd, struct shim_path *p, const struct timespec *ts, int flags)
{
	struct wire_setattr sa = {0};

	sa.flags = flags & AT_SYMLINK_NOFOLLOW ? WIRE_AT_NOFOLLOW : 0;
	if (!ts) {
		sa.valid = WIRE_SET_ATIME_NOW | WIRE_SET_MTIME_NOW;
	} else {
		for (int i = 0; i < 2; i++) {
			if (ts[i].tv_nsec == UTIME_OMIT)
				continue;
			if (ts[i].tv_nsec == UTIME_NOW) {
				sa.valid |= i ? WIRE_SET_MTIME_NOW : WIRE_SET_ATIME_NOW;
				continue;
			}
			if (ts[i].tv_nsec < 0 || ts[i].tv_nsec > 999999999)
				return errno = EINVAL, -1;
			sa.valid |= i ? WIRE_SET_MTIME : WIRE_SET_ATIME;
			if (i) {
				sa.mtime_sec = ts[i].tv_sec;
				sa.mtime_nsec = (uint32_t)ts[i].tv_nsec;
			} else {
				sa.atime_sec = ts[i].tv_sec;
				sa.atime_nsec = (uint32_t)ts[i].tv_nsec;
			}
		}
		if (!sa.valid)
			return 0;
	}
	return setattr(fd, p, &sa);
}

static int tv_to_ts(const struct timeval *tv, struct timespec ts[2])
{
	if (!tv)
		return 0;
	for (int i = 0; i < 2; i++) {
		if (tv[i].tv_usec < 0 || tv[i].tv_usec >= 1000000)
			return errno = EINVAL, -1;
		ts[i].tv_sec = tv[i].tv_sec;
		ts[i].tv_nsec = tv[i].tv_usec * 1000;
	}
	return 1;
}

SHIM_EXPORT int chmod(const char *path, mode_t mode)
{
	struct shim_path p;

	DISPATCH(AT_FDCWD, path, p, real_chmod(path, mode));
	return chmod_common(-1, &p, mode, 0);
}

SHIM_EXPORT int fchmod(int fd, mode_t mode)
{
	INIT();
	return REMOTE(fd) ? chmod_common(fd, NULL, mode, 0) : real_fchmod(fd, mode);
}

SHIM_EXPORT int fchmodat(int dirfd, const char *path, mode_t mode, int flags)
{
	struct shim_path p;

	DISPATCH(dirfd, path, p, real_fchmodat(dirfd, path, mode, flags));
	if (flags & AT_SYMLINK_NOFOLLOW)
		return errno = EOPNOTSUPP, -1; /* as glibc for symlinks */
	return chmod_common(-1, &p, mode, flags);
}

SHIM_EXPORT int chown(const char *path, uid_t uid, gid_t gid)
{
	struct shim_path p;

	DISPATCH(AT_FDCWD, path, p, real_chown(path, uid, gid));
	return chown_common(-1, &p, uid, gid, 0);
}

SHIM_EXPORT int lchown(const char *path, uid_t uid, gid_t gid)
{
	struct shim_path p;

	DISPATCH(AT_FDCWD, path, p, real_lchown(path, uid, gid));
	return chown_common(-1, &p, uid, gid, AT_SYMLINK_NOFOLLOW);
}

SHIM_EXPORT int fchown(int fd, uid_t uid, gid_t gid)
{
	INIT();
	return REMOTE(fd) ? chown_common(fd, NULL, uid, gid, 0) : real_fchown(fd, uid, gid);
}

SHIM_EXPORT int fchownat(int dirfd, const char *path, uid_t uid, gid_t gid, int flags)
{
	struct shim_path p;

	INIT();
	if (path && !*path && (flags & AT_EMPTY_PATH) && REMOTE(dirfd))
		return chown_common(dirfd, NULL, uid, gid, 0);
	DISPATCH(dirfd, path, p, real_fchownat(dirfd, path, uid, gid, flags));
	return chown_common(-1, &p, uid, gid, flags);
}

SHIM_EXPORT int utimensat(int dirfd, const char *path, const struct timespec ts[2], int flags)
{
	struct shim_path p;

	INIT();
	if (!path) { /* futimens */
		if (REMOTE(dirfd))
			return utimens_common(dirfd, NULL, ts, 0);
		return real_utimensat(dirfd, path, ts, flags);
	}
	if (!*path && (flags & AT_EMPTY_PATH) && REMOTE(dirfd))
		return utimens_common(dirfd, NULL, ts, 0);
	DISPATCH(dirfd, path, p, real_utimensat(dirfd, path, ts, flags));
	return utimens_common(-1, &p, ts, flags);
}

SHIM_EXPORT int futimens(int fd, const struct timespec ts[2])
{
	INIT();
	return REMOTE(fd) ? utimens_common(fd, NULL, ts, 0) : real_futimens(fd, ts);
}

SHIM_EXPORT int utime(const char *path, const struct utimbuf *t)
{
	struct shim_path p;
	struct timespec ts[2];

	DISPATCH(AT_FDCWD, path, p, real_utime(path, t));
	if (!t)
		return utimens_common(-1, &p, NULL, 0);
	ts[0].tv_sec = t->actime;
	ts[0].tv_nsec = 0;
	ts[1].tv_sec = t->modtime;
	ts[1].tv_nsec = 0;
	return utimens_common(-1, &p, ts, 0);
}

SHIM_EXPORT int utimes(const char *path, const struct timeval tv[2])
{
	struct shim_path p;
	struct timespec ts[2];
	int r;

	DISPATCH(AT_FDCWD, path, p, real_utimes(path, tv));
	if ((r = tv_to_ts(tv, ts)) < 0)
		return -1;
	return utimens_common(-1, &p, r ? ts : NULL, 0);
}

SHIM_EXPORT int lutimes(const char *path, const struct timeval tv[2])
{
	struct shim_path p;
	struct timespec ts[2];
	int r;

	DISPATCH(AT_FDCWD, path, p, real_lutimes(path, tv));
	if ((r = tv_to_ts(tv, ts)) < 0)
		return -1;
	return utimens_common(-1, &p, r ? ts : NULL, AT_SYMLINK_NOFOLLOW);
}

SHIM_EXPORT int futimes(int fd, const struct timeval tv[2])
{
	struct timespec ts[2];
	int r;

	INIT();
	if (!REMOTE(fd))
		return real_futimes(fd, tv);
	if ((r = tv_to_ts(tv, ts)) < 0)
		return -1;
	return utimens_common(fd, NULL, r ? ts : NULL, 0);
}

SHIM_EXPORT int futimesat(int dirfd, const char *path, const struct timeval tv[2])
{
	struct shim_path p;
	struct timespec ts[2];
	int r;

	DISPATCH(dirfd, path, p, real_futimesat(dirfd, path, tv));
	if ((r = tv_to_ts(tv, ts)) < 0)
		return -1;
	return utimens_common(-1, &p, r ? ts : NULL, 0);
}

SHIM_EXPORT int truncate(const char *path, off_t len)
{
	struct shim_path p;
	struct wire_setattr sa = {0};

	DISPATCH(AT_FDCWD, path, p, real_truncate(path, len));
	if (len < 0)
		return errno = EINVAL, -1;
	sa.valid = WIRE_SET_SIZE;
	sa.size = (uint64_t)len;
	return setattr(-1, &p, &sa);
}

SHIM_EXPORT int truncate64(const char *path, off_t len)
{
	return truncate(path, len);
}

SHIM_EXPORT mode_t umask(mode_t mask)
{
	INIT();
	shim_umask = mask & 0777;
	return real_umask(mask);
}

/* ---- extended attributes: not carried ------------------------------------------------------- */

#define NOXATTR_PATH(call_local)                               \
	do {                                                   \
		struct shim_path p_;                           \
		int r_ = where(AT_FDCWD, &path, &p_);          \
		if (r_ < 0)                                    \
			return -1;                             \
		if (r_ == 0)                                   \
			return call_local;                     \
		return errno = ENOTSUP, -1;                    \
	} while (0)
#define NOXATTR_FD(call_local)                                 \
	do {                                                   \
		INIT();                                        \
		if (REMOTE(fd))                                \
			return errno = ENOTSUP, -1;            \
		return call_local;                             \
	} while (0)

SHIM_EXPORT ssize_t getxattr(const char *path, const char *name, void *v, size_t n)
{
	NOXATTR_PATH(real_getxattr(path, name, v, n));
}

SHIM_EXPORT ssize_t lgetxattr(const char *path, const char *name, void *v, size_t n)
{
	NOXATTR_PATH(real_lgetxattr(path, name, v, n));
}

SHIM_EXPORT ssize_t fgetxattr(int fd, const char *name, void *v, size_t n)
{
	NOXATTR_FD(real_fgetxattr(fd, name, v, n));
}

SHIM_EXPORT ssize_t listxattr(const char *path, char *l, size_t n)
{
	NOXATTR_PATH(real_listxattr(path, l, n));
}

SHIM_EXPORT ssize_t llistxattr(const char *path, char *l, size_t n)
{
	NOXATTR_PATH(real_llistxattr(path, l, n));
}

SHIM_EXPORT ssize_t flistxattr(int fd, char *l, size_t n)
{
	NOXATTR_FD(real_flistxattr(fd, l, n));
}

SHIM_EXPORT int setxattr(const char *path, const char *name, const void *v, size_t n, int f)
{
	NOXATTR_PATH(real_setxattr(path, name, v, n, f));
}

SHIM_EXPORT int lsetxattr(const char *path, const char *name, const void *v, size_t n, int f)
{
	NOXATTR_PATH(real_lsetxattr(path, name, v, n, f));
}

SHIM_EXPORT int fsetxattr(int fd, const char *name, const void *v, size_t n, int f)
{
	NOXATTR_FD(real_fsetxattr(fd, name, v, n, f));
}
