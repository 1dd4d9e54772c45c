/* inherit.c - remote fds across fork and exec: shared cursors and CKPT_FDS.
 *
 * The kernel shares an open file description (and its offset) between a
 * process and its children, across exec too; a shell relies on it for
 * `(cmd1; cmd2) > file`. The shim does the same for remote fds: before a fork
 * or exec, each ofd's cursor moves into a one-page memfd mapped MAP_SHARED,
 * which children inherit. For exec, the surviving remote fds are described in
 * the environment variable CKPT_FDS, which the new image's shim reads at start
 * to adopt them (their placeholders are inherited as ordinary fds); it then
 * reopens each file by path on first use.
 *
 * CKPT_FDS = entry[;entry]...   entry = fd,cursorfd,flags,mountpoint,relpath
 * with the two paths percent-encoded.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "shim.h"

static int share_one(struct shim_ofd *o)
{
	int fd;
	struct shim_shared *sh;

	if (o->sh)
		return 0;
	fd = memfd_create("ckpt-cursor", MFD_CLOEXEC);
	if (fd < 0)
		return -1;
	fd = shim_fd_move_high(fd, 160);
	if (ftruncate(fd, (off_t)sysconf(_SC_PAGESIZE)) < 0) {
		real_close(fd);
		return -1;
	}
	sh = real_mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (sh == MAP_FAILED) {
		real_close(fd);
		return -1;
	}
	sh->magic = SHIM_SHARED_MAGIC;
	sh->pos = o->pos_local;
	o->sh = sh;
	o->shfd = fd;
	return 0;
}

void shim_share_cursors(void)
{
	size_t n;
	struct shim_ofd **v = shim_all_ofds(&n);

	for (size_t i = 0; i < n; i++)
		if (share_one(v[i]) < 0)
			shim_log("could not share the cursor of %s/%s with a child: %s; the child gets a copy",
				 v[i]->mnt->point, v[i]->rel, strerror(errno));
}

/* Percent-encode s (',', ';', '%', and anything not printable). */
static void put_enc(char **p, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c <= ' ' || c >= 127 || c == ',' || c == ';' || c == '%' || c == '=') {
			*(*p)++ = '%';
			*(*p)++ = hex[c >> 4];
			*(*p)++ = hex[c & 15];
		} else {
			*(*p)++ = (char)c;
		}
	}
}

struct env_ctx {
	char *buf, *p;
	size_t cap;
	int count;
};

static void add_fd(int fd, struct shim_ofd *o, void *arg)
{
	struct env_ctx *e = arg;
	size_t need = 64 + 3 * (o->mnt->len + strlen(o->rel));

	if (shim_fd_cloexec(fd) || !o->sh)
		return;
	if (!e->buf || (size_t)(e->p - e->buf) + need >= e->cap) {
		size_t off = e->buf ? (size_t)(e->p - e->buf) : 0;
		size_t cap = (e->cap + need) * 2;
		char *nb = realloc(e->buf, cap);

		if (!nb)
			return;
		e->buf = nb;
		e->p = nb + off;
		e->cap = cap;
	}
	if (e->count++)
		*e->p++ = ';';
	e->p += sprintf(e->p, "%d,%d,%d,", fd, o->shfd, o->flags | (o->is_dir ? O_DIRECTORY : 0));
	put_enc(&e->p, o->mnt->point);
	*e->p++ = ',';
	put_enc(&e->p, o->rel);
	*e->p = 0;
	/* The cursor page must survive the exec. */
	real_fcntl(o->shfd, F_SETFD, 0);
}

char *shim_fds_env(void)
{
	struct env_ctx e = {0};
	size_t n;
	struct shim_ofd **v = shim_all_ofds(&n);

	/* Start from close-on-exec for every cursor page; add_fd clears it for
	 * those an fd that survives the exec still needs. */
	for (size_t i = 0; i < n; i++)
		if (v[i]->shfd >= 0)
			real_fcntl(v[i]->shfd, F_SETFD, FD_CLOEXEC);
	shim_fd_foreach(add_fd, &e);
	if (!e.count) {
		free(e.buf);
		return NULL;
	}
	return e.buf;
}

static int unhex(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Decode a percent-encoded field of at most cap-1 bytes; -1 if malformed. */
static int get_dec(const char **s, char *out, size_t cap, char stop)
{
	size_t n = 0;

	while (**s && **s != stop && **s != ';') {
		int c = (unsigned char)**s;

		if (c == '%') {
			int h = unhex((*s)[1]), l = h < 0 ? -1 : unhex((*s)[2]);

			if (h < 0 || l < 0)
				return -1;
			c = h << 4 | l;
			*s += 3;
		} else {
			(*s)++;
		}
		if (n + 1 >= cap)
			return -1;
		out[n++] = (char)c;
	}
	out[n] = 0;
	return 0;
}

static struct shim_ofd *adopt_one(int fd, int shfd, int flags, const char *mnt, const char *rel)
{
	struct shim_mount *m = NULL;
	struct shim_shared *sh;
	struct shim_ofd *o;
	size_t n;
	struct shim_ofd **v = shim_all_ofds(&n);
	int fl;

	for (int i = 0; i < shim_nmounts; i++)
		if (!strcmp(shim_mounts[i].point, mnt))
			m = &shim_mounts[i];
	if (!m) {
		shim_log("inherited fd %d names the mount %s, which CKPT_MOUNTS no longer has; left closed",
			 fd, mnt);
		return NULL;
	}
	fl = real_fcntl(fd, F_GETFL);
	if (fl < 0 || !(fl & O_PATH))
		return NULL; /* not our placeholder any more */
	/* dups share one ofd: same cursor page */
	for (size_t i = 0; i < n; i++)
		if (v[i]->shfd == shfd)
			return v[i];
	sh = real_mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED, shfd, 0);
	if (sh == MAP_FAILED)
		return NULL;
	if (sh->magic != SHIM_SHARED_MAGIC) {
		munmap(sh, sizeof(*sh));
		return NULL;
	}
	o = calloc(1, sizeof(*o));
	if (!o || !(o->rel = strdup(rel)) || shim_track_ofd(o) < 0) {
		if (o)
			free(o->rel);
		free(o);
		munmap(sh, sizeof(*sh));
		return NULL;
	}
	real_fcntl(shfd, F_SETFD, FD_CLOEXEC);
	o->mnt = m;
	o->conn = m->conn;
	o->flags = flags & ~O_DIRECTORY;
	o->is_dir = (flags & O_DIRECTORY) != 0;
	o->sh = sh;
	o->shfd = shfd;
	o->epoch = 0; /* reopened by path on first use */
	return o;
}

void shim_adopt_fds(const char *spec)
{
	const char *s = spec;
	char mnt[WIRE_MAX_PATH + 1], rel[WIRE_MAX_PATH + 1];

	while (*s) {
		char *end;
		long fd, shfd, flags;
		struct shim_ofd *o;

		fd = strtol(s, &end, 10);
		if (*end != ',')
			goto bad;
		shfd = strtol(end + 1, &end, 10);
		if (*end != ',')
			goto bad;
		flags = strtol(end + 1, &end, 10);
		if (*end != ',')
			goto bad;
		s = end + 1;
		if (get_dec(&s, mnt, sizeof(mnt), ',') < 0 || *s != ',')
			goto bad;
		s++;
		if (get_dec(&s, rel, sizeof(rel), ';') < 0)
			goto bad;
		if (fd < 0 || fd > 65535 || shfd < 0 || shfd > 65535)
			goto bad;
		o = adopt_one((int)fd, (int)shfd, (int)flags, mnt, rel);
		if (o)
			shim_fd_adopt(o, (int)fd, false);
		if (*s == ';')
			s++;
	}
	return;
bad:
	shim_log("ignoring a malformed CKPT_FDS entry: %.60s", s);
}
