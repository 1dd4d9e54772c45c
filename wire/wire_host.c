/* wire_host.c - conversions between host values and the portable wire values.
 *
 * errno numbers, open flags, mode bits, access modes, d_type, statfs flags and
 * struct stat differ between systems and architectures; the wire has one
 * numbering each (wire/PROTOCOL.md). Every conversion goes through the host's
 * own macros, bit by bit, so it stays right wherever the code is compiled.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "wire.h"

struct wire_map {
	uint32_t wire;
	int host;
};

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---- errno ------------------------------------------------------------------ */

/* Several host names may share one wire number (aliases); wire -> host takes
 * the first entry with that number. */
static const struct wire_map wire_errnos[] = {
	{ WIRE_ERRNO_E2BIG, E2BIG },
	{ WIRE_ERRNO_EACCES, EACCES },
	{ WIRE_ERRNO_EAGAIN, EAGAIN },
	{ WIRE_ERRNO_EAGAIN, EWOULDBLOCK },
	{ WIRE_ERRNO_EALREADY, EALREADY },
	{ WIRE_ERRNO_EBADF, EBADF },
	{ WIRE_ERRNO_EBADMSG, EBADMSG },
	{ WIRE_ERRNO_EBUSY, EBUSY },
	{ WIRE_ERRNO_ECANCELED, ECANCELED },
	{ WIRE_ERRNO_ECHILD, ECHILD },
	{ WIRE_ERRNO_ECONNREFUSED, ECONNREFUSED },
	{ WIRE_ERRNO_ECONNRESET, ECONNRESET },
	{ WIRE_ERRNO_EDEADLK, EDEADLK },
#ifdef EDEADLOCK
	{ WIRE_ERRNO_EDEADLK, EDEADLOCK },
#endif
	{ WIRE_ERRNO_EDOM, EDOM },
	{ WIRE_ERRNO_EDQUOT, EDQUOT },
	{ WIRE_ERRNO_EEXIST, EEXIST },
	{ WIRE_ERRNO_EFAULT, EFAULT },
	{ WIRE_ERRNO_EFBIG, EFBIG },
	{ WIRE_ERRNO_EINPROGRESS, EINPROGRESS },
	{ WIRE_ERRNO_EINTR, EINTR },
	{ WIRE_ERRNO_EINVAL, EINVAL },
	{ WIRE_ERRNO_EIO, EIO },
	{ WIRE_ERRNO_EISDIR, EISDIR },
	{ WIRE_ERRNO_ELOOP, ELOOP },
	{ WIRE_ERRNO_EMFILE, EMFILE },
	{ WIRE_ERRNO_EMLINK, EMLINK },
	{ WIRE_ERRNO_ENAMETOOLONG, ENAMETOOLONG },
	{ WIRE_ERRNO_ENFILE, ENFILE },
#ifdef ENODATA
	{ WIRE_ERRNO_ENODATA, ENODATA },
#endif
	{ WIRE_ERRNO_ENODEV, ENODEV },
	{ WIRE_ERRNO_ENOENT, ENOENT },
	{ WIRE_ERRNO_ENOEXEC, ENOEXEC },
	{ WIRE_ERRNO_ENOLCK, ENOLCK },
	{ WIRE_ERRNO_ENOMEM, ENOMEM },
	{ WIRE_ERRNO_ENOSPC, ENOSPC },
	{ WIRE_ERRNO_ENOSYS, ENOSYS },
	{ WIRE_ERRNO_ENOTCONN, ENOTCONN },
	{ WIRE_ERRNO_ENOTDIR, ENOTDIR },
	{ WIRE_ERRNO_ENOTEMPTY, ENOTEMPTY },
	{ WIRE_ERRNO_ENOTSOCK, ENOTSOCK },
	{ WIRE_ERRNO_ENOTSUP, ENOTSUP },
	{ WIRE_ERRNO_ENOTSUP, EOPNOTSUPP },
	{ WIRE_ERRNO_ENOTTY, ENOTTY },
	{ WIRE_ERRNO_ENXIO, ENXIO },
	{ WIRE_ERRNO_EOVERFLOW, EOVERFLOW },
	{ WIRE_ERRNO_EPERM, EPERM },
	{ WIRE_ERRNO_EPIPE, EPIPE },
	{ WIRE_ERRNO_EPROTO, EPROTO },
	{ WIRE_ERRNO_ERANGE, ERANGE },
	{ WIRE_ERRNO_EROFS, EROFS },
	{ WIRE_ERRNO_ESPIPE, ESPIPE },
	{ WIRE_ERRNO_ESRCH, ESRCH },
	{ WIRE_ERRNO_ESTALE, ESTALE },
	{ WIRE_ERRNO_ETIMEDOUT, ETIMEDOUT },
	{ WIRE_ERRNO_ETXTBSY, ETXTBSY },
	{ WIRE_ERRNO_EXDEV, EXDEV },
	{ WIRE_ERRNO_EADDRINUSE, EADDRINUSE },
	{ WIRE_ERRNO_EADDRNOTAVAIL, EADDRNOTAVAIL },
	{ WIRE_ERRNO_EAFNOSUPPORT, EAFNOSUPPORT },
	{ WIRE_ERRNO_ECONNABORTED, ECONNABORTED },
	{ WIRE_ERRNO_EDESTADDRREQ, EDESTADDRREQ },
#ifdef EHOSTDOWN
	{ WIRE_ERRNO_EHOSTDOWN, EHOSTDOWN },
#endif
	{ WIRE_ERRNO_EHOSTUNREACH, EHOSTUNREACH },
	{ WIRE_ERRNO_EIDRM, EIDRM },
	{ WIRE_ERRNO_EILSEQ, EILSEQ },
	{ WIRE_ERRNO_EISCONN, EISCONN },
	{ WIRE_ERRNO_EMSGSIZE, EMSGSIZE },
#ifdef EMULTIHOP
	{ WIRE_ERRNO_EMULTIHOP, EMULTIHOP },
#endif
	{ WIRE_ERRNO_ENETDOWN, ENETDOWN },
	{ WIRE_ERRNO_ENETRESET, ENETRESET },
	{ WIRE_ERRNO_ENETUNREACH, ENETUNREACH },
	{ WIRE_ERRNO_ENOBUFS, ENOBUFS },
#ifdef ENOLINK
	{ WIRE_ERRNO_ENOLINK, ENOLINK },
#endif
	{ WIRE_ERRNO_ENOMSG, ENOMSG },
	{ WIRE_ERRNO_ENOPROTOOPT, ENOPROTOOPT },
#ifdef ENOTBLK
	{ WIRE_ERRNO_ENOTBLK, ENOTBLK },
#endif
	{ WIRE_ERRNO_ENOTRECOVERABLE, ENOTRECOVERABLE },
	{ WIRE_ERRNO_EOWNERDEAD, EOWNERDEAD },
	{ WIRE_ERRNO_EPROTONOSUPPORT, EPROTONOSUPPORT },
	{ WIRE_ERRNO_EPROTOTYPE, EPROTOTYPE },
#ifdef ESHUTDOWN
	{ WIRE_ERRNO_ESHUTDOWN, ESHUTDOWN },
#endif
};

uint16_t wire_errno_from_host(int host_errno)
{
	size_t i;

	for (i = 0; i < ARRAY_LEN(wire_errnos); i++)
		if (wire_errnos[i].host == host_errno && host_errno != 0)
			return (uint16_t)wire_errnos[i].wire;
	return WIRE_ERRNO_EIO;
}

int wire_errno_to_host(uint16_t wire_errno)
{
	size_t i;

	for (i = 0; i < ARRAY_LEN(wire_errnos); i++)
		if (wire_errnos[i].wire == wire_errno)
			return wire_errnos[i].host;
	return EIO;
}

/* ---- open flags ------------------------------------------------------------- */

/* Tested by containment: glibc's O_SYNC includes the O_DSYNC bit, so a host
 * O_SYNC becomes WIRE_O_SYNC | WIRE_O_DSYNC and comes back as O_SYNC. */
static const struct wire_map wire_oflags[] = {
	{ WIRE_O_CREAT, O_CREAT },	   { WIRE_O_EXCL, O_EXCL },
	{ WIRE_O_TRUNC, O_TRUNC },	   { WIRE_O_APPEND, O_APPEND },
	{ WIRE_O_DIRECTORY, O_DIRECTORY }, { WIRE_O_NOFOLLOW, O_NOFOLLOW },
	{ WIRE_O_SYNC, O_SYNC },	   { WIRE_O_DSYNC, O_DSYNC },
#ifdef O_PATH
	{ WIRE_O_PATH, O_PATH },
#endif
#ifdef O_NOATIME
	{ WIRE_O_NOATIME, O_NOATIME },
#endif
};

uint32_t wire_oflags_from_host(int host_flags)
{
	uint32_t w;
	size_t i;

	switch (host_flags & O_ACCMODE) {
	case O_RDONLY:
		w = WIRE_O_RDONLY;
		break;
	case O_WRONLY:
		w = WIRE_O_WRONLY;
		break;
	case O_RDWR:
		w = WIRE_O_RDWR;
		break;
	default:
		w = WIRE_O_ACCMODE; /* invalid; decoders refuse it */
		break;
	}
	for (i = 0; i < ARRAY_LEN(wire_oflags); i++)
		if ((host_flags & wire_oflags[i].host) == wire_oflags[i].host)
			w |= wire_oflags[i].wire;
	return w;
}

int wire_oflags_to_host(uint32_t wire_flags)
{
	int h;
	size_t i;

	switch (wire_flags & WIRE_O_ACCMODE) {
	case WIRE_O_RDONLY:
		h = O_RDONLY;
		break;
	case WIRE_O_WRONLY:
		h = O_WRONLY;
		break;
	case WIRE_O_RDWR:
		h = O_RDWR;
		break;
	default:
		h = O_ACCMODE;
		break;
	}
	for (i = 0; i < ARRAY_LEN(wire_oflags); i++)
		if (wire_flags & wire_oflags[i].wire)
			h |= wire_oflags[i].host;
	return h;
}

/* ---- mode bits ---------------------------------------------------------------- */

#define WIRE_S_IFMT 0170000u

static const struct wire_map wire_mode_types[] = {
	{ 0140000u, S_IFSOCK }, { 0120000u, S_IFLNK }, { 0100000u, S_IFREG }, { 0060000u, S_IFBLK },
	{ 0040000u, S_IFDIR },	{ 0020000u, S_IFCHR }, { 0010000u, S_IFIFO },
};

static const struct wire_map wire_mode_perms[] = {
	{ 04000u, S_ISUID }, { 02000u, S_ISGID }, { 01000u, S_ISVTX }, { 00400u, S_IRUSR },
	{ 00200u, S_IWUSR }, { 00100u, S_IXUSR }, { 00040u, S_IRGRP }, { 00020u, S_IWGRP },
	{ 00010u, S_IXGRP }, { 00004u, S_IROTH }, { 00002u, S_IWOTH }, { 00001u, S_IXOTH },
};

uint32_t wire_mode_from_host(uint32_t host_mode)
{
	uint32_t w = 0;
	size_t i;

	for (i = 0; i < ARRAY_LEN(wire_mode_types); i++)
		if ((host_mode & S_IFMT) == (uint32_t)wire_mode_types[i].host)
			w = wire_mode_types[i].wire;
	for (i = 0; i < ARRAY_LEN(wire_mode_perms); i++)
		if (host_mode & (uint32_t)wire_mode_perms[i].host)
			w |= wire_mode_perms[i].wire;
	return w;
}

uint32_t wire_mode_to_host(uint32_t wire_mode)
{
	uint32_t h = 0;
	size_t i;

	for (i = 0; i < ARRAY_LEN(wire_mode_types); i++)
		if ((wire_mode & WIRE_S_IFMT) == wire_mode_types[i].wire)
			h = (uint32_t)wire_mode_types[i].host;
	for (i = 0; i < ARRAY_LEN(wire_mode_perms); i++)
		if (wire_mode & wire_mode_perms[i].wire)
			h |= (uint32_t)wire_mode_perms[i].host;
	return h;
}

/* ---- access modes ------------------------------------------------------------- */

static const struct wire_map wire_amodes[] = {
	{ WIRE_R_OK, R_OK },
	{ WIRE_W_OK, W_OK },
	{ WIRE_X_OK, X_OK },
};

uint32_t wire_amode_from_host(int host_amode)
{
	uint32_t w = WIRE_F_OK;
	size_t i;

	for (i = 0; i < ARRAY_LEN(wire_amodes); i++)
		if (host_amode & wire_amodes[i].host)
			w |= wire_amodes[i].wire;
	return w;
}

int wire_amode_to_host(uint32_t wire_amode)
{
	int h = F_OK;
	size_t i;

	for (i = 0; i < ARRAY_LEN(wire_amodes); i++)
		if (wire_amode & wire_amodes[i].wire)
			h |= wire_amodes[i].host;
	return h;
}

/* ---- d_type ---------------------------------------------------------------------- */

static const struct wire_map wire_dtypes[] = {
	{ 0, DT_UNKNOWN }, { 1, DT_FIFO }, { 2, DT_CHR },  { 4, DT_DIR },   { 6, DT_BLK },
	{ 8, DT_REG },	   { 10, DT_LNK }, { 12, DT_SOCK },
#ifdef DT_WHT
	{ 14, DT_WHT },
#endif
};

uint8_t wire_dtype_from_host(unsigned char host_dtype)
{
	size_t i;

	for (i = 0; i < ARRAY_LEN(wire_dtypes); i++)
		if (wire_dtypes[i].host == host_dtype)
			return (uint8_t)wire_dtypes[i].wire;
	return 0; /* DT_UNKNOWN */
}

unsigned char wire_dtype_to_host(uint8_t wire_dtype)
{
	size_t i;

	for (i = 0; i < ARRAY_LEN(wire_dtypes); i++)
		if (wire_dtypes[i].wire == wire_dtype)
			return (unsigned char)wire_dtypes[i].host;
	return DT_UNKNOWN;
}

/* ---- statfs flags ------------------------------------------------------------- */

struct wire_stmap {
	uint64_t wire;
	unsigned long host;
};

static const struct wire_stmap wire_stflags[] = {
	{ WIRE_ST_RDONLY, ST_RDONLY },
	{ WIRE_ST_NOSUID, ST_NOSUID },
#ifdef ST_NODEV
	{ WIRE_ST_NODEV, ST_NODEV },
#endif
#ifdef ST_NOEXEC
	{ WIRE_ST_NOEXEC, ST_NOEXEC },
#endif
#ifdef ST_SYNCHRONOUS
	{ WIRE_ST_SYNCHRONOUS, ST_SYNCHRONOUS },
#endif
#ifdef ST_MANDLOCK
	{ WIRE_ST_MANDLOCK, ST_MANDLOCK },
#endif
#ifdef ST_NOATIME
	{ WIRE_ST_NOATIME, ST_NOATIME },
#endif
#ifdef ST_NODIRATIME
	{ WIRE_ST_NODIRATIME, ST_NODIRATIME },
#endif
#ifdef ST_RELATIME
	{ WIRE_ST_RELATIME, ST_RELATIME },
#endif
};

uint64_t wire_stflags_from_host(unsigned long host_flags)
{
	uint64_t w = 0;
	size_t i;

	for (i = 0; i < ARRAY_LEN(wire_stflags); i++)
		if (host_flags & wire_stflags[i].host)
			w |= wire_stflags[i].wire;
	return w;
}

unsigned long wire_stflags_to_host(uint64_t wire_flags)
{
	unsigned long h = 0;
	size_t i;

	for (i = 0; i < ARRAY_LEN(wire_stflags); i++)
		if (wire_flags & wire_stflags[i].wire)
			h |= wire_stflags[i].host;
	return h;
}

/* ---- struct stat ------------------------------------------------------------------ */

void wire_stat_from_host(struct wire_stat *w, const struct stat *st)
{
	uint64_t nlink = (uint64_t)st->st_nlink; /* 32 bits wide on some hosts (aarch64) */

	memset(w, 0, sizeof(*w));
	w->dev = (uint64_t)st->st_dev;
	w->ino = (uint64_t)st->st_ino;
	w->mode = wire_mode_from_host((uint32_t)st->st_mode);
	w->nlink = nlink > UINT32_MAX ? UINT32_MAX : (uint32_t)nlink;
	w->uid = (uint32_t)st->st_uid;
	w->gid = (uint32_t)st->st_gid;
	w->rdev = (uint64_t)st->st_rdev;
	w->size = (int64_t)st->st_size;
	w->blksize = (int64_t)st->st_blksize;
	w->blocks = (int64_t)st->st_blocks;
	w->atime_sec = (int64_t)st->st_atim.tv_sec;
	w->mtime_sec = (int64_t)st->st_mtim.tv_sec;
	w->ctime_sec = (int64_t)st->st_ctim.tv_sec;
	w->atime_nsec = (uint32_t)st->st_atim.tv_nsec;
	w->mtime_nsec = (uint32_t)st->st_mtim.tv_nsec;
	w->ctime_nsec = (uint32_t)st->st_ctim.tv_nsec;
}

void wire_stat_to_host(struct stat *st, const struct wire_stat *w)
{
	memset(st, 0, sizeof(*st));
	st->st_dev = (dev_t)w->dev;
	st->st_ino = (ino_t)w->ino;
	st->st_mode = (mode_t)wire_mode_to_host(w->mode);
	st->st_nlink = (nlink_t)w->nlink;
	st->st_uid = (uid_t)w->uid;
	st->st_gid = (gid_t)w->gid;
	st->st_rdev = (dev_t)w->rdev;
	st->st_size = (off_t)w->size;
	st->st_blksize = (blksize_t)w->blksize;
	st->st_blocks = (blkcnt_t)w->blocks;
	st->st_atim.tv_sec = (time_t)w->atime_sec;
	st->st_mtim.tv_sec = (time_t)w->mtime_sec;
	st->st_ctim.tv_sec = (time_t)w->ctime_sec;
	st->st_atim.tv_nsec = (long)w->atime_nsec;
	st->st_mtim.tv_nsec = (long)w->mtime_nsec;
	st->st_ctim.tv_nsec = (long)w->ctime_nsec;
}
