/* mounts.c - the mount table (CKPT_MOUNTS) and how a path is classified as local or remote.
 *
 * Mount points are matched lexically on the normalized absolute path: "."
 * and ".." are applied as text and local symlinks are not followed into a
 * mount. A remote cwd (after chdir into a mount) is kept here, since the
 * kernel cannot hold it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shim.h"

char *shim_cwd_remote;
char *shim_cwd_local;

/* Walk the absolute path abs component by component, applying "." and ".."
 * as text, building the normalized path in out (cap bytes). If stop is given
 * it is asked after each component is appended and ends the walk early by
 * returning true. Returns 1 if stopped, 0 at the end, -1 ENAMETOOLONG. */
static int walk(const char *abs, char *out, size_t cap, bool (*stop)(const char *cur))
{
	size_t n = 0;
	const char *p = abs;

	if (cap < 2)
		goto toolong;
	out[n++] = '/';
	out[n] = 0;
	while (*p) {
		const char *s;
		size_t len;

		while (*p == '/')
			p++;
		if (!*p)
			break;
		s = p;
		while (*p && *p != '/')
			p++;
		len = (size_t)(p - s);
		if (len == 1 && s[0] == '.')
			continue;
		if (len == 2 && s[0] == '.' && s[1] == '.') {
			while (n > 1 && out[n - 1] != '/')
				n--;
			if (n > 1)
				n--; /* the slash before the dropped component */
			out[n] = 0;
			continue;
		}
		if (n > 1) {
			if (n + 1 >= cap)
				goto toolong;
			out[n++] = '/';
		}
		if (n + len >= cap)
			goto toolong;
		memcpy(out + n, s, len);
		n += len;
		out[n] = 0;
		if (stop && stop(out))
			return 1;
	}
	return 0;
toolong:
	errno = ENAMETOOLONG;
	return -1;
}

int shim_normalize(const char *abs, char *out, size_t cap)
{
	return walk(abs, out, cap, NULL) < 0 ? -1 : 0;
}

struct shim_mount *shim_match(const char *norm, const char **rel)
{
	struct shim_mount *best = NULL;

	for (int i = 0; i < shim_nmounts; i++) {
		struct shim_mount *m = &shim_mounts[i];

		if (strncmp(norm, m->point, m->len) != 0)
			continue;
		if (norm[m->len] != 0 && norm[m->len] != '/')
			continue;
		if (!best || m->len > best->len)
			best = m;
	}
	if (best && rel)
		*rel = norm[best->len] == '/' ? norm + best->len + 1 : norm + best->len;
	return best;
}

int shim_parse_mounts(const char *spec)
{
	char *copy = strdup(spec), *save = NULL, *tok;
	int n = 1;

	if (!copy)
		return -1;
	for (const char *p = spec; *p; p++)
		n += *p == ',';
	shim_mounts = calloc((size_t)n, sizeof(*shim_mounts));
	if (!shim_mounts)
		goto fail;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		char norm[PATH_MAX];
		struct shim_mount *m = &shim_mounts[shim_nmounts];

		if (!eq || tok[0] != '/')
			goto fail;
		*eq = 0;
		if (shim_normalize(tok, norm, sizeof(norm)) < 0 || !strcmp(norm, "/"))
			goto fail;
		if (strncmp(eq + 1, "tcp:", 4) && strncmp(eq + 1, "unix:", 5))
			goto fail;
		if (!strncmp(eq + 1, "unix:", 5) && eq[6] != '/')
			goto fail;
		if (!strncmp(eq + 1, "tcp:", 4) && !strrchr(eq + 5, ':'))
			goto fail;
		for (int i = 0; i < shim_nmounts; i++)
			if (!strcmp(shim_mounts[i].point, norm))
				goto fail;
		m->point = strdup(norm);
		m->len = strlen(norm);
		m->addr = strdup(eq + 1);
		if (!m->point || !m->addr)
			goto fail;
		m->conn = shim_conn_for(m->addr);
		if (!m->conn)
			goto fail;
		shim_nmounts++;
	}
	free(copy);
	return shim_nmounts ? 0 : -1;
fail:
	free(copy);
	shim_nmounts = 0;
	return -1;
}

/* The kernel's cwd, cached; refreshed by chdir/fchdir wrappers. */
static const char *local_cwd(void)
{
	if (!shim_cwd_local) {
		char buf[PATH_MAX];

		if (real_getcwd && real_getcwd(buf, sizeof(buf)))
			shim_cwd_local = strdup(buf);
	}
	return shim_cwd_local;
}

static bool has_dotdot(const char *p)
{
	for (const char *s = p; (s = strstr(s, "..")); s += 2)
		if ((s == p || s[-1] == '/') && (s[2] == 0 || s[2] == '/'))
			return true;
	return false;
}

/* True if some mount point lies at or below the directory dir. */
static bool mount_below(const char *dir)
{
	size_t len = strlen(dir);

	if (len == 1)
		return shim_nmounts > 0;
	for (int i = 0; i < shim_nmounts; i++) {
		const char *pt = shim_mounts[i].point;

		if (!strncmp(pt, dir, len) && (pt[len] == '/' || pt[len] == 0))
			return true;
	}
	return false;
}

static bool at_mount(const char *cur)
{
	return shim_match(cur, NULL) != NULL;
}

/* True if the absolute path, walked lexically component by component,
 * stands at or inside a mount point at some step. */
static bool through_mount(const char *abs)
{
	char cur[2 * PATH_MAX + 2];

	return walk(abs, cur, sizeof(cur), at_mount) == 1;
}

/* A local result: 0 if the caller may pass its path to the kernel as it is,
 * 2 with the normalized absolute path in out->rel if the path was resolved
 * against a remote directory or went through a mount point lexically (the
 * kernel cannot resolve either). */
static int local_result(const char *joined, const char *norm, bool base_remote,
			struct shim_path *out)
{
	size_t len = strlen(norm);

	/* Without "..", a path inside a mount would have matched it. */
	if (!base_remote && (!strstr(joined, "..") || !through_mount(joined)))
		return 0;
	if (len > WIRE_MAX_PATH) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(out->rel, norm, len + 1);
	out->mnt = NULL;
	return 2;
}

static int finish(const char *joined, const char *norm, bool base_remote, struct shim_path *out)
{
	const char *rel;
	struct shim_mount *m = shim_match(norm, &rel);
	size_t len;

	if (!m)
		return local_result(joined, norm, base_remote, out);
	len = strlen(rel);
	/* the server's limit, as the kernel's PATH_MAX: 4095 bytes and the NUL */
	if (len >= WIRE_MAX_PATH) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(out->rel, rel, len + 1);
	out->mnt = m;
	return 1;
}

int shim_classify(int dirfd, const char *path, struct shim_path *out)
{
	char joined[2 * PATH_MAX + 2], norm[2 * PATH_MAX + 2];
	const char *base;
	char linkbuf[PATH_MAX];
	bool base_remote = false;

	if (!shim_nmounts || !path || !*path)
		return 0;
	if (strlen(path) >= PATH_MAX) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (path[0] == '/') {
		/* Fast path: the first component names no mount's first component. */
		if (shim_normalize(path, norm, sizeof(norm)) < 0)
			return -1;
		return finish(path, norm, false, out);
	}
	if (dirfd == AT_FDCWD) {
		if (shim_cwd_remote) {
			base = shim_cwd_remote;
			base_remote = true;
		} else {
			base = local_cwd();
			if (!base)
				return 0;
			if (!has_dotdot(path) && !mount_below(base))
				return 0;
		}
	} else {
		if (shim_fd_is_remote(dirfd)) {
			struct shim_ofd *o;
			int bad = 0;

			shim_lock();
			o = shim_fd_get(dirfd);
			if (!o || !o->is_dir) {
				bad = o ? ENOTDIR : EBADF;
			} else {
				size_t pl = o->mnt->len, rl = strlen(o->rel);

				if (pl + 1 + rl + 1 > sizeof(linkbuf)) {
					bad = ENAMETOOLONG;
				} else {
					memcpy(linkbuf, o->mnt->point, pl);
					linkbuf[pl] = '/';
					memcpy(linkbuf + pl + 1, o->rel, rl + 1);
				}
			}
			shim_unlock();
			if (bad) {
				errno = bad;
				return -1;
			}
			base = linkbuf;
			base_remote = true;
		} else {
			char proc[64];
			ssize_t n;

			if (!has_dotdot(path))
				return 0; /* a local directory fd and no way up */
			snprintf(proc, sizeof(proc), "/proc/self/fd/%d", dirfd);
			n = real_readlink(proc, linkbuf, sizeof(linkbuf) - 1);
			if (n <= 0 || linkbuf[0] != '/')
				return 0;
			linkbuf[n] = 0;
			base = linkbuf;
		}
	}
	if (strlen(base) + 1 + strlen(path) + 1 > sizeof(joined)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(joined, base);
	strcat(joined, "/");
	strcat(joined, path);
	if (shim_normalize(joined, norm, sizeof(norm)) < 0)
		return -1;
	return finish(joined, norm, base_remote, out);
}
