/* w_dir.c - directory streams on remote directories, and a cwd inside a mount.
 *
 * A remote DIR* is our own struct (marked with a magic and kept in a
 * registry), filled by READDIR batches; every other DIR* goes to the C
 * library. chdir into a mount keeps a virtual cwd, since the kernel has no
 * such directory; relative paths are then resolved against it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shim.h"


_Static_assert(sizeof(struct dirent) == sizeof(struct dirent64), "dirent layouts differ");

#define DIR_MAGIC 0x43a7d1e5u

struct rent {
	uint64_t ino, next;
	unsigned char type;
	char name[WIRE_MAX_NAME + 1];
};

struct shim_dir {
	uint32_t magic;
	int fd;
	uint64_t cookie;   /* READDIR cookie of the next batch */
	uint64_t pos;      /* telldir: cookie of the next entry to return */
	bool eof;
	struct rent *ents;
	size_t n, i, cap;
	struct dirent64 ent;
	struct shim_dir *next;
};

static struct shim_dir *dirs; /* registry, under the lock */

bool shim_is_remote_dir(DIR *d)
{
	bool found = false;

	if (!d || !shim_nmounts)
		return false;
	shim_lock();
	for (struct shim_dir *s = dirs; s; s = s->next)
		if ((DIR *)s == d) {
			found = true;
			break;
		}
	shim_unlock();
	return found;
}

static DIR *dir_from_fd(int fd)
{
	struct shim_dir *d;
	struct shim_ofd *o;

	shim_lock();
	o = shim_fd_get(fd);
	if (!o) {
		shim_unlock();
		return errno = EBADF, NULL;
	}
	if (!o->is_dir) {
		shim_unlock();
		return errno = ENOTDIR, NULL;
	}
	d = calloc(1, sizeof(*d));
	if (!d) {
		shim_unlock();
		return errno = ENOMEM, NULL;
	}
	d->magic = DIR_MAGIC;
	d->fd = fd;
	d->next = dirs;
	dirs = d;
	shim_unlock();
	return (DIR *)d;
}

/* Fetch the next batch into d->ents. Lock held. */
static int fetch_batch(struct shim_dir *d)
{
	struct shim_ofd *o = shim_fd_get(d->fd);
	struct wire_readdir m;
	struct wire_readdir_reply r;
	struct wire_dirent e;
	const uint8_t *rep;
	size_t replen;
	long len;
	int k;

	if (!o)
		return errno = EBADF, -1;
	if (shim_ofd_revive(o) < 0)
		return -1;
	if (shim_flush_conn(o->conn) < 0)
		return -1;
	m.handle = o->handle;
	m.cookie = d->cookie;
	m.max_bytes = 64 * 1024;
	len = wire_enc_readdir(shim_reqbuf, SHIM_REQBUF_SIZE, 0, &m);
	if (shim_rpc(o->conn, shim_reqbuf, (size_t)len, NULL, 0, &rep, &replen, NULL, 0) < 0)
		return -1;
	if (wire_dec_readdir_reply(rep, replen, &r) < 0)
		return errno = EIO, -1;
	if (r.count > d->cap) {
		struct rent *n = realloc(d->ents, r.count * sizeof(*n));

		if (!n)
			return errno = ENOMEM, -1;
		d->ents = n;
		d->cap = r.count;
	}
	d->n = d->i = 0;
	while ((k = wire_dirent_next(&r, &e)) == 1 && d->n < d->cap) {
		struct rent *x = &d->ents[d->n++];

		x->ino = e.ino;
		x->next = e.next;
		x->type = wire_dtype_to_host(e.type);
		memcpy(x->name, e.name.p, e.name.len);
		x->name[e.name.len] = 0;
		d->cookie = e.next;
	}
	if (k < 0)
		return errno = EIO, -1;
	d->eof = r.eof || r.count == 0;
	return 0;
}

/* Like glibc's, it leaves errno alone unless it fails. */
static struct dirent64 *read_remote(struct shim_dir *d)
{
	struct rent *x;
	size_t nl;
	int err = errno;

	shim_lock();
	if (d->i == d->n) {
		if (d->eof || fetch_batch(d) < 0 || d->n == 0) {
			if (d->eof || d->n == 0)
				errno = err; /* end of stream */
			shim_unlock();
			return NULL;
		}
	}
	errno = err;
	x = &d->ents[d->i++];
	d->pos = x->next;
	nl = strlen(x->name);
	d->ent.d_ino = x->ino;
	d->ent.d_off = (off64_t)x->next;
	d->ent.d_type = x->type;
	d->ent.d_reclen = (unsigned short)((offsetof(struct dirent64, d_name) + nl + 8) & ~7u);
	memcpy(d->ent.d_name, x->name, nl + 1);
	shim_unlock();
	return &d->ent;
}

/* Ours, by registry; the magic is checked first only as a cheap filter. */
static struct shim_dir *ours(DIR *dirp)
{
	if (!shim_nmounts || !dirp)
		return NULL;
	return shim_is_remote_dir(dirp) ? (struct shim_dir *)dirp : NULL;
}

SHIM_EXPORT DIR *opendir(const char *path)
{
	struct shim_path p;
	int r, fd;
	DIR *d;

	INIT();
	if (!shim_nmounts)
		return real_opendir(path);
	r = shim_where(AT_FDCWD, &path, &p);
	if (r < 0)
		return NULL;
	if (r == 0)
		return real_opendir(path);
	fd = shim_open_common(AT_FDCWD, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	if (fd < 0)
		return NULL;
	d = dir_from_fd(fd);
	if (!d)
		SHIM_KEEP_ERRNO(shim_close_fd(fd));
	return d;
}

SHIM_EXPORT DIR *fdopendir(int fd)
{
	INIT();
	if (shim_nmounts && shim_fd_is_remote(fd))
		return dir_from_fd(fd);
	return real_fdopendir(fd);
}

SHIM_EXPORT struct dirent *readdir(DIR *dirp)
{
	struct shim_dir *d;

	INIT();
	if ((d = ours(dirp)))
		return (struct dirent *)read_remote(d);
	return real_readdir(dirp);
}

SHIM_EXPORT struct dirent64 *readdir64(DIR *dirp)
{
	struct shim_dir *d;

	INIT();
	if ((d = ours(dirp)))
		return read_remote(d);
	return real_readdir64(dirp);
}

SHIM_EXPORT int readdir_r(DIR *dirp, struct dirent *entry, struct dirent **result)
{
	struct shim_dir *d;
	struct dirent64 *e;
	int saved;

	INIT();
	if (!(d = ours(dirp)))
		return real_readdir_r(dirp, entry, result);
	saved = errno;
	errno = 0;
	e = read_remote(d);
	if (!e) {
		int err = errno;

		errno = saved;
		*result = NULL;
		return err;
	}
	memcpy(entry, e, e->d_reclen < sizeof(*entry) ? e->d_reclen : sizeof(*entry));
	*result = entry;
	errno = saved;
	return 0;
}

SHIM_EXPORT int readdir64_r(DIR *dirp, struct dirent64 *entry, struct dirent64 **result)
{
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
	return readdir_r(dirp, (struct dirent *)entry, (struct dirent **)result);
#pragma GCC diagnostic pop
}

SHIM_EXPORT int closedir(DIR *dirp)
{
	struct shim_dir *d;
	int fd;

	INIT();
	if (!(d = ours(dirp)))
		return real_closedir(dirp);
	shim_lock();
	for (struct shim_dir **pp = &dirs; *pp; pp = &(*pp)->next)
		if (*pp == d) {
			*pp = d->next;
			break;
		}
	shim_unlock();
	fd = d->fd;
	free(d->ents);
	d->magic = 0;
	free(d);
	return shim_close_fd(fd);
}

SHIM_EXPORT int dirfd(DIR *dirp)
{
	struct shim_dir *d;

	INIT();
	if ((d = ours(dirp)))
		return d->fd;
	return real_dirfd(dirp);
}

static void seek_remote(struct shim_dir *d, uint64_t cookie)
{
	shim_lock();
	d->cookie = d->pos = cookie;
	d->n = d->i = 0;
	d->eof = false;
	shim_unlock();
}

SHIM_EXPORT void rewinddir(DIR *dirp)
{
	struct shim_dir *d;

	INIT();
	if ((d = ours(dirp)))
		seek_remote(d, 0);
	else
		real_rewinddir(dirp);
}

SHIM_EXPORT long telldir(DIR *dirp)
{
	struct shim_dir *d;

	INIT();
	if ((d = ours(dirp)))
		return (long)d->pos;
	return real_telldir(dirp);
}

SHIM_EXPORT void seekdir(DIR *dirp, long pos)
{
	struct shim_dir *d;

	INIT();
	if ((d = ours(dirp)))
		seek_remote(d, (uint64_t)pos);
	else
		real_seekdir(dirp, pos);
}

typedef int (*filter_fn)(const struct dirent *);
typedef int (*cmp_fn)(const struct dirent **, const struct dirent **);

static int scandir_remote(const char *path, struct dirent ***list, filter_fn filter, cmp_fn cmp)
{
	DIR *dirp = opendir(path);
	struct dirent **v = NULL, *e;
	size_t n = 0, cap = 0;
	int saved = errno;

	if (!dirp)
		return -1;
	errno = 0;
	while ((e = readdir(dirp))) {
		struct dirent *c;

		if (filter && !filter(e))
			continue;
		if (n == cap) {
			struct dirent **nv = realloc(v, (cap = cap ? cap * 2 : 16) * sizeof(*v));

			if (!nv)
				goto fail;
			v = nv;
		}
		c = malloc(e->d_reclen);
		if (!c)
			goto fail;
		memcpy(c, e, e->d_reclen);
		v[n++] = c;
	}
	if (errno)
		goto fail;
	closedir(dirp);
	if (cmp && n > 1)
		qsort(v, n, sizeof(*v), (int (*)(const void *, const void *))cmp);
	*list = v;
	errno = saved;
	return (int)n;
fail:
	SHIM_KEEP_ERRNO({
		while (n)
			free(v[--n]);
		free(v);
		closedir(dirp);
	});
	if (!errno)
		errno = ENOMEM;
	return -1;
}

SHIM_EXPORT int scandir(const char *path, struct dirent ***list, filter_fn filter, cmp_fn cmp)
{
	struct shim_path p;
	int r;

	INIT();
	r = shim_nmounts ? shim_where(AT_FDCWD, &path, &p) : 0;
	if (r < 0)
		return -1;
	return r ? scandir_remote(path, list, filter, cmp) : real_scandir(path, list, filter, cmp);
}

SHIM_EXPORT int scandir64(const char *path, struct dirent64 ***list,
			  int (*filter)(const struct dirent64 *),
			  int (*cmp)(const struct dirent64 **, const struct dirent64 **))
{
	struct shim_path p;
	int r;

	INIT();
	r = shim_nmounts ? shim_where(AT_FDCWD, &path, &p) : 0;
	if (r < 0)
		return -1;
	return r ? scandir_remote(path, (struct dirent ***)list, (filter_fn)filter, (cmp_fn)cmp)
		 : real_scandir64(path, list, filter, cmp);
}

/* ---- cwd ------------------------------------------------------------------------------------ */

static void set_remote_cwd(struct shim_mount *m, const char *rel)
{
	size_t pl = m->len, rl = strlen(rel);
	char *s = malloc(pl + rl + 2);

	if (!s)
		return;
	memcpy(s, m->point, pl);
	if (rl) {
		s[pl] = '/';
		memcpy(s + pl + 1, rel, rl + 1);
	} else {
		s[pl] = 0;
	}
	free(shim_cwd_remote);
	shim_cwd_remote = s;
}

static void refresh_local_cwd(void)
{
	char buf[PATH_MAX];

	free(shim_cwd_local);
	shim_cwd_local = real_getcwd(buf, sizeof(buf)) ? strdup(buf) : NULL;
	free(shim_cwd_remote);
	shim_cwd_remote = NULL;
}

SHIM_EXPORT int chdir(const char *path)
{
	struct shim_path p;
	struct stat st;
	int r;

	INIT();
	if (!shim_nmounts)
		return real_chdir(path);
	r = shim_where(AT_FDCWD, &path, &p);
	if (r < 0)
		return -1;
	if (r == 0) {
		r = real_chdir(path);
		if (r == 0)
			SHIM_KEEP_ERRNO(shim_lock(); refresh_local_cwd(); shim_unlock());
		return r;
	}
	shim_lock();
	r = shim_remote_stat(&p, false, &st);
	if (r == 0 && !S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		r = -1;
	}
	if (r == 0)
		r = shim_remote_path_op(WIRE_ACCESS, &p, 0, WIRE_X_OK);
	if (r == 0)
		set_remote_cwd(p.mnt, p.rel);
	shim_unlock();
	return r;
}

SHIM_EXPORT int fchdir(int fd)
{
	struct shim_ofd *o;
	int r;

	INIT();
	if (!shim_nmounts)
		return real_fchdir(fd);
	if (!shim_fd_is_remote(fd)) {
		r = real_fchdir(fd);
		if (r == 0)
			SHIM_KEEP_ERRNO(shim_lock(); refresh_local_cwd(); shim_unlock());
		return r;
	}
	shim_lock();
	o = shim_fd_get(fd);
	if (!o || !o->is_dir) {
		shim_unlock();
		return errno = o ? ENOTDIR : EBADF, -1;
	}
	set_remote_cwd(o->mnt, o->rel);
	shim_unlock();
	return 0;
}

SHIM_EXPORT char *getcwd(char *buf, size_t size)
{
	size_t len;
	char *res;

	INIT();
	if (!shim_cwd_remote)
		return real_getcwd(buf, size);
	shim_lock();
	len = strlen(shim_cwd_remote) + 1;
	if (buf && size == 0) {
		shim_unlock();
		return errno = EINVAL, NULL;
	}
	if ((buf || size) && size < len) {
		shim_unlock();
		return errno = ERANGE, NULL;
	}
	res = buf ? buf : malloc(size ? size : len);
	if (res)
		memcpy(res, shim_cwd_remote, len);
	else
		errno = ENOMEM;
	shim_unlock();
	return res;
}

SHIM_EXPORT char *get_current_dir_name(void)
{
	INIT();
	if (!shim_cwd_remote)
		return real_get_current_dir_name();
	return getcwd(NULL, 0);
}

SHIM_EXPORT int chroot(const char *path)
{
	struct shim_path p;
	int r;

	INIT();
	r = shim_nmounts ? shim_where(AT_FDCWD, &path, &p) : 0;
	if (r < 0)
		return -1;
	if (r) {
		shim_log("chroot into the remote directory %s is not supported", path);
		return errno = ENOTSUP, -1;
	}
	return real_chroot(path);
}
