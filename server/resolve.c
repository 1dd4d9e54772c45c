/* resolve.c - path checks and openat2-based resolution beneath the export root. */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "resolve.h"

#ifndef SYS_openat2
#define SYS_openat2 437 /* same number on every architecture */
#endif

#define RESOLVE_FLAGS (RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)
/* openat2 reports EAGAIN when a concurrent rename could have let a lookup
 * escape; it is safe to retry. Bounded so a hostile renamer cannot spin us. */
#define EAGAIN_RETRIES 64

static int fail(const char **why, const char *reason, int err)
{
	if (why)
		*why = reason;
	return -err;
}

int srv_path_check(const char *p, size_t len, char *out, const char **why)
{
	size_t comp = 0; /* start of the current component */

	if (len >= WIRE_MAX_PATH)
		return fail(why, "path too long", ENAMETOOLONG);
	if (len == 0) {
		out[0] = '\0';
		return 0;
	}
	if (memchr(p, '\0', len))
		return fail(why, "NUL byte in path", EINVAL);
	if (p[0] == '/')
		return fail(why, "absolute path", EACCES);
	for (size_t i = 0; i <= len; i++) {
		size_t clen;

		if (i < len && p[i] != '/')
			continue;
		clen = i - comp;
		if (clen == 0)
			return fail(why, i == len ? "trailing '/'" : "empty component ('//')", EINVAL);
		if (clen == 2 && p[comp] == '.' && p[comp + 1] == '.')
			return fail(why, "'..' component", EACCES);
		if (clen == 1 && p[comp] == '.')
			return fail(why, "'.' component", EINVAL);
		if (clen > WIRE_MAX_NAME)
			return fail(why, "component longer than NAME_MAX", ENAMETOOLONG);
		comp = i + 1;
	}
	memcpy(out, p, len);
	out[len] = '\0';
	return 0;
}

static int use_fallback;

void srv_resolve_use_fallback(int on)
{
	use_fallback = on;
}

/* RESOLVE_NO_MAGICLINKS answers ELOOP for a magic link (/proc/self/root,
 * /proc/<pid>/cwd, /proc/self/fd/N: a proc mount or bind inside the root),
 * the errno of a symlink loop and of O_NOFOLLOW on a link too. Only the
 * magic link is an escape to refuse and log, so ask once more with O_PATH
 * (nothing is opened for real, nothing created) and RESOLVE_BENEATH alone,
 * which still refuses magic links but with EXDEV; a real loop stays ELOOP. */
static int magic_or_loop(int dir_fd, const char *path, int flags)
{
	struct open_how how;
	int tries = 0;
	long fd;

	memset(&how, 0, sizeof(how));
	how.flags = (unsigned long long)(unsigned)(O_PATH | O_CLOEXEC | (flags & O_NOFOLLOW));
	how.resolve = RESOLVE_BENEATH;
	do
		fd = syscall(SYS_openat2, dir_fd, path[0] ? path : ".", &how, sizeof(how));
	while (fd < 0 && (errno == EINTR || (errno == EAGAIN && ++tries < EAGAIN_RETRIES)));
	if (fd >= 0) {
		close((int)fd);
		return -ELOOP;
	}
	return errno == EXDEV ? -EXDEV : -ELOOP;
}

static int openat2_beneath(int dir_fd, const char *path, int flags, mode_t mode)
{
	struct open_how how;
	int tries = 0;

	memset(&how, 0, sizeof(how));
	how.flags = (unsigned long long)(unsigned)(flags | O_CLOEXEC);
	if (flags & O_CREAT)
		how.mode = mode & 07777;
	how.resolve = RESOLVE_FLAGS;
	for (;;) {
		long fd = syscall(SYS_openat2, dir_fd, path[0] ? path : ".", &how, sizeof(how));
		if (fd >= 0)
			return (int)fd;
		if (errno == EINTR || (errno == EAGAIN && ++tries < EAGAIN_RETRIES))
			continue;
		if (errno == ELOOP)
			return magic_or_loop(dir_fd, path, flags);
		return -errno;
	}
}

/* ---- the userspace resolver -------------------------------------------------- */

#define WALK_MAX_DEPTH 512 /* directories held open during one walk */
#define WALK_MAX_LINKS 40  /* symlinks expanded in one walk, as the kernel's ELOOP */

static int openat_retry(int dir, const char *name, int flags, mode_t mode)
{
	int fd;

	while ((fd = openat(dir, name, flags | O_CLOEXEC, mode)) < 0 && errno == EINTR)
		;
	return fd < 0 ? -errno : fd;
}

/* If fd (an O_PATH|O_NOFOLLOW fd) is a symlink, replace the unwalked rest
 * of the path in work (rest points into it) with its target followed by
 * rest. Returns 1 if it was a link, 0 if not, or -errno. */
static int expand_link(int fd, char *work, size_t cap, const char **rest, int *links)
{
	char target[SRV_PATH_BUF];
	size_t tlen, rlen;
	struct stat st;
	ssize_t n;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISLNK(st.st_mode))
		return 0;
	if (++*links > WALK_MAX_LINKS)
		return -ELOOP;
	n = readlinkat(fd, "", target, sizeof(target) - 1);
	if (n < 0)
		return -errno;
	if (n == 0)
		return -ENOENT;
	if (target[0] == '/')
		return -EXDEV; /* absolute: outside by definition */
	tlen = (size_t)n;
	rlen = strlen(*rest);
	if (tlen + 1 + rlen + 1 > cap)
		return -ENAMETOOLONG;
	memmove(work + tlen + 1, *rest, rlen + 1);
	memcpy(work, target, tlen);
	work[tlen] = rlen ? '/' : '\0';
	*rest = work;
	return 1;
}

static int walk_open(int root_fd, const char *path, int flags, mode_t mode)
{
	char work[2 * SRV_PATH_BUF];
	int stack[WALK_MAX_DEPTH]; /* stack[0] is root_fd, not ours */
	int depth = 0, links = 0, r;
	const char *rest = work;

	if (strlen(path) >= sizeof(work))
		return -ENAMETOOLONG;
	strcpy(work, path);
	stack[0] = root_fd;
	for (;;) {
		const char *slash = strchr(rest, '/');
		size_t clen = slash ? (size_t)(slash - rest) : strlen(rest);
		char comp[WIRE_MAX_NAME + 1];
		int last, fd;

		if (clen > WIRE_MAX_NAME) {
			r = -ENAMETOOLONG;
			break;
		}
		memcpy(comp, rest, clen);
		comp[clen] = '\0';
		rest = slash ? slash + 1 : rest + clen;
		/* Empty and "." components come from link targets. A trailing
		 * '/' ("sub/") makes "sub" a directory to descend into, and the
		 * empty last component then opens it. */
		last = !slash;
		if (clen == 0 || (clen == 1 && comp[0] == '.')) {
			if (!last)
				continue;
			r = openat_retry(stack[depth], ".", flags, mode);
			break;
		}
		if (clen == 2 && comp[0] == '.' && comp[1] == '.') {
			if (depth == 0) {
				r = -EXDEV; /* above the root */
				break;
			}
			close(stack[depth--]);
			if (!last)
				continue;
			r = openat_retry(stack[depth], ".", flags, mode);
			break;
		}
		/* O_NOFOLLOW, and O_CREAT|O_EXCL (which never follows: EEXIST
		 * even for a dangling link), act on the last component itself. */
		if (last && ((flags & O_NOFOLLOW) || (flags & (O_CREAT | O_EXCL)) == (O_CREAT | O_EXCL))) {
			r = openat_retry(stack[depth], comp, flags, mode);
			break;
		}
		fd = openat_retry(stack[depth], comp, O_PATH | O_NOFOLLOW, 0);
		if (fd < 0 && !(last && fd == -ENOENT && (flags & O_CREAT))) {
			r = fd;
			break;
		}
		if (fd >= 0) {
			r = expand_link(fd, work, sizeof(work), &rest, &links);
			if (r != 0) {
				close(fd);
				if (r < 0)
					break;
				continue; /* walk the link's target from this directory */
			}
		}
		if (last) {
			if (fd >= 0)
				close(fd);
			/* O_NOFOLLOW: a link swapped in since the probe is ELOOP,
			 * never followed */
			r = openat_retry(stack[depth], comp, flags | O_NOFOLLOW, mode);
			break;
		}
		if (depth + 1 >= WALK_MAX_DEPTH) {
			close(fd);
			r = -ENAMETOOLONG;
			break;
		}
		{
			struct stat st;

			r = fstat(fd, &st) < 0 ? -errno : S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
			if (r < 0) {
				close(fd);
				break;
			}
		}
		stack[++depth] = fd;
	}
	while (depth > 0)
		close(stack[depth--]);
	return r;
}

static int open_beneath(int root_fd, const char *path, int flags, mode_t mode)
{
	if (!(flags & O_CREAT))
		mode = 0;
	if (use_fallback)
		return walk_open(root_fd, path, flags, mode & 07777);
	return openat2_beneath(root_fd, path, flags, mode);
}

int srv_resolve_probe(int root_fd)
{
	int fd = openat2_beneath(root_fd, "", O_PATH | O_DIRECTORY, 0);

	if (fd == -ENOSYS) {
		use_fallback = 1;
		fd = walk_open(root_fd, "", O_PATH | O_DIRECTORY, 0);
		if (fd < 0)
			return fd;
		close(fd);
		return 1;
	}
	if (fd < 0)
		return fd;
	close(fd);
	return 0;
}

int srv_resolve_open(int root_fd, const char *path, int flags, mode_t mode)
{
	return open_beneath(root_fd, path, flags, mode);
}

int srv_resolve_parent(int root_fd, const char *path, const char **base)
{
	char dir[SRV_PATH_BUF];
	const char *slash = strrchr(path, '/');
	size_t dlen;

	if (!slash) {
		*base = path;
		return root_fd;
	}
	dlen = (size_t)(slash - path);
	if (dlen >= sizeof(dir))
		return -ENAMETOOLONG;
	memcpy(dir, path, dlen);
	dir[dlen] = '\0';
	*base = slash + 1;
	return open_beneath(root_fd, dir, O_PATH | O_DIRECTORY, 0);
}

void srv_resolve_release(int root_fd, int dir_fd)
{
	if (dir_fd >= 0 && dir_fd != root_fd)
		close(dir_fd);
}
