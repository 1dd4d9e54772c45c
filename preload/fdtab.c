/* fdtab.c - the remote-fd table and the open-file descriptions behind it.
 *
 * fd numbers index a two-level table of tagged pointers (bit 0 = close-on-exec)
 * that wrappers read without the lock, so a local fd costs one load. Each
 * remote fd holds a placeholder (O_PATH of "/") so the kernel never reuses its
 * number; dup'd fds share one struct shim_ofd with its cursor, as they would
 * share a kernel open file description.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "shim.h"

#define CHUNK_BITS 10
#define CHUNK (1 << CHUNK_BITS)
#define NCHUNKS 64
#define MAX_FD (CHUNK * NCHUNKS)

static _Atomic(_Atomic uintptr_t *) chunks[NCHUNKS];

static _Atomic uintptr_t *slot(int fd, bool create)
{
	_Atomic uintptr_t *c;

	if (fd < 0 || fd >= MAX_FD)
		return NULL;
	c = atomic_load_explicit(&chunks[fd >> CHUNK_BITS], memory_order_acquire);
	if (!c && create) {
		c = calloc(CHUNK, sizeof(*c));
		if (!c)
			return NULL;
		atomic_store_explicit(&chunks[fd >> CHUNK_BITS], c, memory_order_release);
	}
	return c ? &c[fd & (CHUNK - 1)] : NULL;
}

struct shim_ofd *shim_fd_get(int fd)
{
	_Atomic uintptr_t *s = slot(fd, false);

	return s ? (struct shim_ofd *)(atomic_load_explicit(s, memory_order_acquire) & ~(uintptr_t)1)
		 : NULL;
}

bool shim_fd_is_remote(int fd)
{
	return shim_fd_get(fd) != NULL;
}

bool shim_fd_cloexec(int fd)
{
	_Atomic uintptr_t *s = slot(fd, false);

	return s && (atomic_load(s) & 1);
}

void shim_fd_set_cloexec(int fd, bool on)
{
	_Atomic uintptr_t *s = slot(fd, false);
	uintptr_t v;

	if (!s)
		return;
	v = atomic_load(s);
	if (v)
		atomic_store(s, on ? (v | 1) : (v & ~(uintptr_t)1));
	real_fcntl(fd, F_SETFD, on ? FD_CLOEXEC : 0);
}

int shim_fd_install(struct shim_ofd *ofd, int minfd, int exact, bool cloexec)
{
	/* The placeholder itself takes the lowest free number, as open would. */
	int ph = real_open("/", O_PATH | (cloexec ? O_CLOEXEC : 0)), fd;
	_Atomic uintptr_t *s;

	if (ph < 0)
		return -1;
	if (exact >= 0 && exact != ph) {
		if (exact >= MAX_FD) {
			real_close(ph);
			return errno = EMFILE, -1;
		}
		fd = real_dup3(ph, exact, cloexec ? O_CLOEXEC : 0);
		real_close(ph);
	} else if (exact < 0 && ph < minfd) {
		fd = real_fcntl(ph, cloexec ? F_DUPFD_CLOEXEC : F_DUPFD, minfd);
		real_close(ph);
	} else {
		fd = ph;
	}
	if (fd < 0)
		return -1;
	s = slot(fd, true);
	if (!s) {
		real_close(fd);
		return errno = EMFILE, -1;
	}
	ofd->refs++;
	atomic_store_explicit(s, (uintptr_t)ofd | (cloexec ? 1 : 0), memory_order_release);
	return fd;
}

struct shim_ofd *shim_fd_take(int fd)
{
	_Atomic uintptr_t *s = slot(fd, false);

	if (!s)
		return NULL;
	return (struct shim_ofd *)(atomic_exchange(s, 0) & ~(uintptr_t)1);
}

void shim_fd_foreach(void (*f)(int fd, struct shim_ofd *ofd, void *arg), void *arg)
{
	for (int c = 0; c < NCHUNKS; c++) {
		_Atomic uintptr_t *ch = atomic_load(&chunks[c]);

		if (!ch)
			continue;
		for (int i = 0; i < CHUNK; i++) {
			uintptr_t v = atomic_load(&ch[i]);

			if (v)
				f(c * CHUNK + i, (struct shim_ofd *)(v & ~(uintptr_t)1), arg);
		}
	}
}

/* ---- ofds -------------------------------------------------------------- */

/* Every ofd, for flushing and fork handling. */
static struct shim_ofd **all;
static size_t nall, capall;

static int track(struct shim_ofd *o)
{
	if (nall == capall) {
		size_t nc = capall ? capall * 2 : 64;
		struct shim_ofd **n = realloc(all, nc * sizeof(*n));

		if (!n)
			return -1;
		all = n;
		capall = nc;
	}
	all[nall++] = o;
	return 0;
}

static void untrack(struct shim_ofd *o)
{
	for (size_t i = 0; i < nall; i++)
		if (all[i] == o) {
			all[i] = all[--nall];
			return;
		}
}

struct shim_ofd **shim_all_ofds(size_t *n)
{
	*n = nall;
	return all;
}

int shim_track_ofd(struct shim_ofd *o)
{
	return track(o);
}

int shim_fd_adopt(struct shim_ofd *ofd, int fd, bool cloexec)
{
	_Atomic uintptr_t *s = slot(fd, true);

	if (!s)
		return errno = EMFILE, -1;
	ofd->refs++;
	atomic_store_explicit(s, (uintptr_t)ofd | (cloexec ? 1 : 0), memory_order_release);
	return fd;
}

/* ---- direct reads (READ_FD) ------------------------------------------------------ */

/* Descriptors held at most: each counts against the program's RLIMIT_NOFILE. */
#define SHIM_MAX_READ_FDS 32
static unsigned int nrfds;

static void drop_rfd(struct shim_ofd *o)
{
	if (!o->has_rfd)
		return;
	real_close(o->rfd);
	o->has_rfd = false;
	nrfds--;
}

bool shim_is_ofd_fd(int fd)
{
	for (size_t i = 0; i < nall; i++)
		if ((all[i]->shfd >= 0 && all[i]->shfd == fd) || (all[i]->has_rfd && all[i]->rfd == fd))
			return true;
	return false;
}

int shim_next_own_fd(int lo)
{
	int best = -1;

	for (struct shim_conn *c = shim_conns; c; c = c->next)
		if (c->fd >= lo && (best < 0 || c->fd < best))
			best = c->fd;
	for (size_t i = 0; i < nall; i++) {
		const struct shim_ofd *o = all[i];

		if (o->shfd >= lo && (best < 0 || o->shfd < best))
			best = o->shfd;
		if (o->has_rfd && o->rfd >= lo && (best < 0 || o->rfd < best))
			best = o->rfd;
	}
	return best;
}

void shim_forget_read_fds(void)
{
	for (size_t i = 0; i < nall; i++) {
		all[i]->has_rfd = false;
		all[i]->no_rfd = false;
		all[i]->fetched = false;
	}
	nrfds = 0;
}

/* Ask the server for a descriptor of o's file, once per handle. Failing
 * is no error: the reads keep going through the session. */
static void get_rfd(struct shim_ofd *o)
{
	struct wire_handle h = {o->handle};
	struct stat st;
	int fd, err = errno;
	long n;

	if (nrfds >= SHIM_MAX_READ_FDS)
		return; /* maybe later, once others are closed */
	o->no_rfd = true;
	n = wire_enc_handle(shim_reqbuf, SHIM_REQBUF_SIZE, WIRE_READ_FD, 0, &h);
	if (n < 0 || shim_rpc_fd(o->conn, shim_reqbuf, (size_t)n, &fd) < 0) {
		shim_debug("READ_FD %s/%s: %s; reading through the session", o->mnt->point, o->rel,
			   strerror(errno));
		/* An answer without the descriptor: something between us and
		 * the server (a proxy) drops them; do not ask again. */
		if (errno == EPROTO)
			o->conn->read_fds = false;
		errno = err;
		return;
	}
	/* The same file as the handle's, or not used at all. */
	if (real_fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_dev != o->dev ||
	    (uint64_t)st.st_ino != o->ino) {
		shim_debug("READ_FD %s/%s: the descriptor is not that file; reading through the "
			   "session", o->mnt->point, o->rel);
		real_close(fd);
		errno = err;
		return;
	}
	o->rfd = shim_fd_move_high(fd, 200);
	o->has_rfd = true;
	o->rlen = 0; /* from now on every read sees the file as it is */
	nrfds++;
	errno = err;
}

/* A read straight from the file: what the server would have read. -2 if
 * the descriptor may no longer be used (waiting for the writes found the
 * server gone and reconnected: the file may have been replaced, or the new
 * server not offer descriptors): read through the session then. */
static ssize_t direct_pread(struct shim_ofd *o, void *buf, size_t n, off_t off)
{
	ssize_t k;

	if (o->conn->nin && shim_conn_settle(o->conn, o->dev, o->ino) < 0)
		return -1;
	if (o->epoch != o->conn->epoch && shim_ofd_revive(o) < 0)
		return -1;
	if (!o->has_rfd)
		return -2;
	do
		k = real_pread(o->rfd, buf, n, off);
	while (k < 0 && errno == EINTR);
	return k;
}

static void ofd_free(struct shim_ofd *o)
{
	drop_rfd(o);
	untrack(o);
	shim_conn_forget(o);
	if (o->sh)
		munmap(o->sh, sizeof(*o->sh));
	if (o->shfd >= 0)
		real_close(o->shfd);
	free(o->wbuf);
	free(o->rbuf);
	free(o->rel);
	free(o);
}

/* Send OPEN for rel; fill handle and stat. */
static int do_open(struct shim_conn *c, const char *rel, int flags, mode_t mode,
		   struct wire_open_reply *out)
{
	struct wire_open m = {0};
	const uint8_t *rep;
	size_t replen;
	long n;

	if (shim_conn_ready(c) < 0)
		return -1;
	m.path.p = rel;
	m.path.len = (uint32_t)strlen(rel);
	m.flags = wire_oflags_from_host(flags);
	m.mode = wire_mode_from_host(mode & 07777);
	n = wire_enc_open(shim_reqbuf, SHIM_REQBUF_SIZE, 0, &m);
	if (n < 0)
		return errno = ENAMETOOLONG, -1;
	if (shim_rpc(c, shim_reqbuf, (size_t)n, NULL, 0, &rep, &replen, NULL, 0) < 0)
		return -1;
	if (wire_dec_open_reply(rep, replen, out) < 0)
		return errno = EIO, -1;
	return 0;
}

struct shim_ofd *shim_remote_open(struct shim_path *p, int flags, mode_t mode)
{
	struct shim_conn *c = p->mnt->conn;
	struct wire_open_reply r;
	struct shim_ofd *o;

	if (flags & O_CREAT)
		mode &= ~shim_umask;
	if (shim_flush_conn(c) < 0)
		return NULL;
	if (do_open(c, p->rel, flags, mode, &r) < 0)
		return NULL;
	o = calloc(1, sizeof(*o));
	if (!o || !(o->rel = strdup(p->rel)) || track(o) < 0) {
		int err = ENOMEM;
		struct wire_handle h = {r.handle};
		long n = wire_enc_handle(shim_reqbuf, SHIM_REQBUF_SIZE, WIRE_CLOSE, 0, &h);

		if (n > 0)
			shim_rpc(c, shim_reqbuf, (size_t)n, NULL, 0, NULL, NULL, NULL, 0);
		if (o)
			free(o->rel);
		free(o);
		errno = err;
		return NULL;
	}
	o->shfd = -1;
	o->mnt = p->mnt;
	o->conn = c;
	o->handle = r.handle;
	o->dev = r.st.dev;
	o->ino = r.st.ino;
	o->flags = flags & ~(O_CREAT | O_EXCL | O_TRUNC | O_CLOEXEC);
	o->is_dir = (wire_mode_to_host(r.st.mode) & S_IFMT) == S_IFDIR;
	o->epoch = c->epoch;
	/* Where a first append starts, should its fate have to be settled. */
	o->app_end = (off_t)r.st.size;
	o->app_known = (flags & O_APPEND) != 0;
	return o;
}

int shim_ofd_revive(struct shim_ofd *o)
{
	struct wire_open_reply r;

	if (o->conn->fd >= 0 && o->conn->pid == shim_pid && o->epoch == o->conn->epoch)
		return 0;
	if (shim_conn_ready(o->conn) < 0)
		return -1;
	if (o->epoch == o->conn->epoch)
		return 0;
	if (do_open(o->conn, o->rel, o->flags | (o->is_dir ? O_DIRECTORY : 0), 0, &r) < 0) {
		int err = errno;
		bool gone = o->conn->fd >= 0 && (err == ENOENT || err == ENOTDIR);

		if (!o->stale_said && o->conn->fd >= 0) {
			shim_log("could not reopen %s/%s after the session was re-established: %s; "
				 "its fd fails with %s from now on", o->mnt->point, o->rel, strerror(err),
				 gone ? "ESTALE" : "EIO");
			o->stale_said = true;
		}
		/* The file is no longer there: its fd is stale, as on NFS. */
		return errno = gone ? ESTALE : EIO, -1;
	}
	/* A descriptor of the file it was keeps serving only that same file,
	 * and only while the server offers descriptors. */
	if (o->has_rfd && (r.st.dev != o->dev || r.st.ino != o->ino || !o->conn->read_fds))
		drop_rfd(o);
	o->no_rfd = false;
	o->handle = r.handle;
	o->dev = r.st.dev;
	o->ino = r.st.ino;
	o->is_dir = (wire_mode_to_host(r.st.mode) & S_IFMT) == S_IFDIR;
	o->epoch = o->conn->epoch;
	return 0;
}

static int rpc_handle(struct shim_ofd *o, uint16_t type, const uint8_t **rep, size_t *replen)
{
	struct wire_handle h;
	long n;

	h.handle = o->handle;
	n = wire_enc_handle(shim_reqbuf, SHIM_REQBUF_SIZE, type, 0, &h);
	return shim_rpc(o->conn, shim_reqbuf, (size_t)n, NULL, 0, rep, replen, NULL, 0);
}

int shim_ofd_put(struct shim_ofd *o)
{
	int rc = 0, err = 0;

	if (--o->refs > 0)
		return 0;
	/* Writes pending since the connection was lost: send them (reconnecting)
	 * before the close can report on them. */
	if (o->conn->fd < 0 && o->conn->nin)
		shim_conn_ready(o->conn);
	if (shim_ofd_flush(o) < 0) {
		rc = -1;
		err = errno;
	}
	if (o->werr && !rc) {
		rc = -1;
		err = o->werr;
	}
	if (o->conn->fd >= 0 && o->conn->pid == shim_pid && o->epoch == o->conn->epoch) {
		if (rpc_handle(o, WIRE_CLOSE, NULL, NULL) < 0 && !rc) {
			rc = -1;
			err = errno;
		}
	}
	ofd_free(o);
	if (rc)
		errno = err;
	return rc;
}

/* ---- buffering ------------------------------------------------------------ */

/* The connection was lost after an append of data[0..k) was sent and before
 * its reply came; the session is back. Was it done? If the file now ends
 * where our previous append left it, no: send it again. If it ends k bytes
 * further and those bytes are ours, yes. Otherwise (another writer, or no
 * previous append to go by) nobody can tell: EIO. 0 with *r filled, or -1. */
static int append_fate(struct shim_ofd *o, const uint8_t *data, size_t k,
		       struct wire_pwrite_reply *r)
{
	struct wire_stat ws = {0};
	const uint8_t *rep;
	size_t replen;
	uint8_t *back = NULL;
	int rc = -1;

	if (o->app_known && o->epoch == o->conn->epoch &&
	    rpc_handle(o, WIRE_FSTAT, &rep, &replen) == 0 && wire_dec_stat_reply(rep, replen, &ws) == 0) {
		if (ws.size == o->app_end) {
			struct wire_pwrite m = {o->handle, 0, WIRE_PWRITE_APPEND, {data, (uint32_t)k}};
			uint8_t hdr[WIRE_PWRITE_HDR];

			wire_enc_pwrite_hdr(hdr, 0, &m);
			if (shim_rpc(o->conn, hdr, sizeof(hdr), data, k, &rep, &replen, NULL, 0) == 0 &&
			    wire_dec_pwrite_reply(rep, replen, r) == 0)
				rc = 0;
		} else if (ws.size == o->app_end + (int64_t)k && (back = malloc(k)) != NULL) {
			struct wire_pread m = {o->handle, (uint64_t)o->app_end, (uint32_t)k};
			long len = wire_enc_pread(shim_reqbuf, SHIM_REQBUF_SIZE, 0, &m);
			size_t got = 0;

			if (len > 0 && shim_rpc(o->conn, shim_reqbuf, (size_t)len, NULL, 0, NULL, &got, back,
						k) == 0 && got == k && !memcmp(back, data, k)) {
				r->written = (uint32_t)k;
				r->end = (uint64_t)ws.size;
				rc = 0;
			}
			free(back);
		}
	}
	if (rc == 0) {
		shim_debug("an append to %s/%s interrupted by the loss of the server was %s", o->mnt->point,
			   o->rel, ws.size == o->app_end + (int64_t)k ? "done" : "sent again");
		return 0;
	}
	shim_log("an append to %s/%s may or may not have been done when the server %s was lost; "
		 "failing it with EIO rather than risk doing it twice", o->mnt->point, o->rel,
		 o->conn->addr);
	return errno = EIO, -1;
}

static int send_pwrite(struct shim_ofd *o, const void *buf, size_t n, off_t off, bool append,
		       off_t *end)
{
	const uint8_t *p = buf;
	size_t done = 0;

	while (done < n) {
		size_t k = n - done;
		struct wire_pwrite m = {0};
		struct wire_pwrite_reply r;
		const uint8_t *rep;
		size_t replen;
		uint8_t hdr[WIRE_PWRITE_HDR];

		if (k > WIRE_MAX_DATA)
			k = WIRE_MAX_DATA;
		if (k > o->conn->max_frame - WIRE_PWRITE_HDR)
			k = o->conn->max_frame - WIRE_PWRITE_HDR;
		m.handle = o->handle;
		m.offset = append ? 0 : (uint64_t)(off + (off_t)done);
		m.flags = append ? WIRE_PWRITE_APPEND : 0;
		m.data.p = p + done;
		m.data.len = (uint32_t)k;
		wire_enc_pwrite_hdr(hdr, 0, &m);
		if (!append) {
			o->app_known = false; /* the end of file may move */
			/* Pipelined: the reply is read later; an error lands in werr. */
			if (shim_rpc_async(o->conn, hdr, sizeof(hdr), p + done, k, o) < 0)
				return -1;
			done += k;
			continue;
		}
		if (shim_rpc(o->conn, hdr, sizeof(hdr), p + done, k, &rep, &replen, NULL, 0) < 0) {
			if (!shim_rpc_unknown || append_fate(o, p + done, k, &r) < 0) {
				o->app_known = false;
				return -1;
			}
		} else if (wire_dec_pwrite_reply(rep, replen, &r) < 0) {
			o->app_known = false;
			return errno = EIO, -1;
		}
		o->app_end = (off_t)r.end;
		o->app_known = r.written == k;
		done += r.written;
		if (end)
			*end = (off_t)r.end;
		if (r.written < k)
			break; /* short write (ENOSPC on the next try) */
	}
	if (done < n) {
		errno = ENOSPC;
		return -1;
	}
	return 0;
}

static struct shim_ofd *dirty_head;

static void dirty_add(struct shim_ofd *o)
{
	if (o->on_dirty)
		return;
	o->on_dirty = true;
	o->dirty_next = dirty_head;
	dirty_head = o;
}

static void dirty_del(struct shim_ofd *o)
{
	struct shim_ofd **pp;

	if (!o->on_dirty)
		return;
	for (pp = &dirty_head; *pp; pp = &(*pp)->dirty_next)
		if (*pp == o) {
			*pp = o->dirty_next;
			break;
		}
	o->on_dirty = false;
}

int shim_ofd_flush(struct shim_ofd *o)
{
	off_t end = 0;
	int rc;

	if (!o->wlen)
		return 0;
	if (shim_ofd_revive(o) < 0) {
		o->wlen = 0;
		dirty_del(o);
		o->werr = errno;
		return -1;
	}
	rc = send_pwrite(o, o->wbuf, o->wlen, o->woff, o->wappend, &end);
	if (rc == 0 && o->wappend)
		*shim_pos(o) = end;
	if (rc < 0)
		o->werr = errno;
	o->wlen = 0;
	dirty_del(o);
	return rc;
}

int shim_flush_file(struct shim_conn *c, uint64_t dev, uint64_t ino)
{
	int rc = 0;
	struct shim_ofd *o, *next;

	for (o = dirty_head; o; o = next) {
		next = o->dirty_next;
		if (o->conn != c || (ino && (o->dev != dev || o->ino != ino)))
			continue;
		if (shim_ofd_flush(o) < 0)
			rc = -1;
	}
	return rc;
}

int shim_flush_conn(struct shim_conn *c)
{
	return dirty_head ? shim_flush_file(c, 0, 0) : 0;
}

int shim_flush_all(void)
{
	int rc = 0;

	while (dirty_head)
		if (shim_ofd_flush(dirty_head) < 0)
			rc = -1;
	for (struct shim_conn *c = shim_conns; c; c = c->next) {
		if (!c->nin)
			continue;
		if (c->fd < 0) { /* writes pending since a loss: reconnect, send them */
			if (shim_conn_ready(c) < 0)
				rc = -1;
		} else if (c->pid == shim_pid && shim_conn_drain(c) < 0) {
			rc = -1;
		}
	}
	return rc;
}

void shim_before_child(void)
{
	shim_flush_all();
	for (struct shim_conn *c = shim_conns; c; c = c->next)
		shim_drop_reads(c, 0, 0);
}

void shim_drop_reads(struct shim_conn *c, uint64_t dev, uint64_t ino)
{
	if (c->nin && ino)
		shim_forget_prefetch(c, dev, ino);
	else if (c->nin)
		for (unsigned int i = 0; i < c->nin; i++) {
			struct shim_inflight *in = &c->inflight[(c->head + i) % SHIM_MAX_INFLIGHT];

			if (in->type == WIRE_PREAD)
				in->ofd = NULL;
		}
	for (size_t i = 0; i < nall; i++) {
		struct shim_ofd *o = all[i];

		if (o->conn == c && (!ino || (o->dev == dev && o->ino == ino)))
			o->rlen = 0;
	}
}

/* Copy written bytes into every cached read window of the same file. */
static void patch_reads(struct shim_ofd *w, const uint8_t *buf, size_t n, off_t off)
{
	for (size_t i = 0; i < nall; i++) {
		struct shim_ofd *o = all[i];
		off_t lo, hi;

		if (o->conn != w->conn || o->dev != w->dev || o->ino != w->ino || !o->rlen)
			continue;
		if (off + (off_t)n > o->roff + (off_t)o->rlen && o->rlen < o->ra_window) {
			/* The window ended at the old end of file; the file grew. */
			o->rlen = 0;
			continue;
		}
		lo = off > o->roff ? off : o->roff;
		hi = off + (off_t)n < o->roff + (off_t)o->rlen ? off + (off_t)n : o->roff + (off_t)o->rlen;
		if (lo < hi)
			memcpy(o->rbuf + (lo - o->roff), buf + (lo - off), (size_t)(hi - lo));
	}
}

/* The largest PREAD count for n bytes. */
static size_t fetch_size(struct shim_ofd *o, size_t n)
{
	if (n > WIRE_MAX_DATA)
		n = WIRE_MAX_DATA;
	if (n > o->conn->max_frame - WIRE_DATA_REPLY_HDR)
		n = o->conn->max_frame - WIRE_DATA_REPLY_HDR;
	return n;
}

static ssize_t fetch(struct shim_ofd *o, void *dst, size_t n, off_t off)
{
	struct wire_pread m;
	size_t got;
	long len;

	n = fetch_size(o, n);
	m.handle = o->handle;
	m.offset = (uint64_t)off;
	m.count = (uint32_t)n;
	len = wire_enc_pread(shim_reqbuf, SHIM_REQBUF_SIZE, 0, &m);
	if (shim_rpc(o->conn, shim_reqbuf, (size_t)len, NULL, 0, NULL, &got, dst, n) < 0)
		return -1;
	return (ssize_t)got;
}

/* Record a fetch of k bytes at `at`: the run of fetches that each began
 * where the one before ended, which sets how far ahead to ask (a reader
 * that jumps around gets no prefetch; one that keeps on gets up to
 * SHIM_PREFETCH_MAX blocks, so that the server, woken once, finds several
 * requests waiting). */
static void note_fetch(struct shim_ofd *o, off_t at, ssize_t k, size_t asked)
{
	/* A file that gave all that was asked may well be read on (a short
	 * fetch met its end: a small file read in one go asks no READ_FD). */
	if ((size_t)k == asked)
		o->fetched = true;
	if (at == o->seq_end) {
		if (o->seq_run < SHIM_PREFETCH_MAX)
			o->seq_run++;
	} else {
		o->seq_run = 0;
	}
	o->seq_end = at + k;
}

ssize_t shim_ofd_pread(struct shim_ofd *o, void *buf, size_t n, off_t off)
{
	uint8_t *dst = buf;
	size_t done = 0;

	if (o->is_dir)
		return errno = EISDIR, -1;
	if ((o->flags & O_ACCMODE) == O_WRONLY || (o->flags & O_PATH))
		return errno = EBADF, -1;
	if (off < 0)
		return errno = EINVAL, -1;
	/* A direct reader does not talk to the server: it looks whether the
	 * server is still there, so that one that died fails its reads too. */
	if (o->has_rfd && shim_conn_alive(o->conn) < 0)
		return -1;
	if (shim_ofd_revive(o) < 0)
		return -1;
	if (dirty_head && shim_flush_file(o->conn, o->dev, o->ino) < 0)
		return -1;
	if (n > SSIZE_MAX)
		n = SSIZE_MAX;
	while (done < n) {
		off_t at = off + (off_t)done;
		size_t want = n - done;
		ssize_t k;

		if (o->rlen && at >= o->roff && at < o->roff + (off_t)o->rlen) {
			size_t avail = (size_t)(o->roff + (off_t)o->rlen - at);

			k = (ssize_t)(want < avail ? want : avail);
			memcpy(dst + done, o->rbuf + (at - o->roff), (size_t)k);
			done += (size_t)k;
			if (o->rlen < o->ra_window && at + k == o->roff + (off_t)o->rlen)
				break; /* the window was short: end of file */
			continue;
		}
		/* After a first fetch, a file read on: from a descriptor of
		 * its own if the server hands one out. */
		if (o->fetched && !o->has_rfd && !o->no_rfd && o->conn->read_fds)
			get_rfd(o);
		if (o->has_rfd) {
			k = direct_pread(o, dst + done, want, at);
			if (k == -1)
				return done ? (ssize_t)done : -1;
			if (k >= 0) {
				done += (size_t)k;
				break;
			}
		}
		if (!shim_rbuf_size || want >= shim_rbuf_size) {
			size_t ask = fetch_size(o, want);

			k = o->conn->nin ? shim_take_prefetch(o->conn, o, at, (uint32_t)ask, dst + done) : -2;
			if (k == -2)
				k = fetch(o, dst + done, ask, at);
			if (k < 0)
				return done ? (ssize_t)done : -1;
			note_fetch(o, at, k, ask);
			done += (size_t)k;
			if (k == 0 || (size_t)k < ask)
				break;
			/* A sequential reader in big blocks: ask for the next ones now. */
			if (done == n && shim_rbuf_size)
				shim_prefetch(o->conn, o, at + k, (uint32_t)ask, o->seq_run);
			continue;
		}
		if (!o->rbuf) {
			o->rbuf = malloc(shim_rbuf_size);
			if (!o->rbuf)
				return errno = ENOMEM, -1;
		}
		/* Sequential continuation doubles the window; a jump starts small. */
		if (o->rlen && at == o->roff + (off_t)o->rlen)
			o->ra_window = o->ra_window * 2 > shim_rbuf_size ? shim_rbuf_size : o->ra_window * 2;
		else
			o->ra_window = 64 * 1024 < shim_rbuf_size ? 64 * 1024 : shim_rbuf_size;
		if (o->ra_window < want)
			o->ra_window = want;
		o->rlen = 0;
		{
			size_t ask = fetch_size(o, o->ra_window);

			k = o->conn->nin ? shim_take_prefetch(o->conn, o, at, (uint32_t)ask, o->rbuf) : -2;
			if (k == -2)
				k = fetch(o, o->rbuf, ask, at);
			if (k < 0)
				return done ? (ssize_t)done : -1;
			note_fetch(o, at, k, ask);
			o->roff = at;
			o->rlen = (size_t)k;
			if (k == 0)
				break;
			/* A full-size window read sequentially: ask for the next
			 * ones while the program consumes this one. */
			if ((size_t)k == ask && ask == fetch_size(o, shim_rbuf_size))
				shim_prefetch(o->conn, o, at + k, (uint32_t)ask, o->seq_run);
		}
	}
	return (ssize_t)done;
}

ssize_t shim_ofd_pwrite(struct shim_ofd *o, const void *buf, size_t n, off_t off, bool append)
{
	if ((o->flags & O_ACCMODE) == O_RDONLY || (o->flags & O_PATH))
		return errno = EBADF, -1;
	if (o->is_dir)
		return errno = EISDIR, -1;
	if (!append && off < 0)
		return errno = EINVAL, -1;
	if (o->werr) /* sticky until fsync or close reports it, as a writeback error */
		return errno = o->werr, -1;
	if (n == 0)
		return 0;
	if (n > SSIZE_MAX)
		n = SSIZE_MAX;
	if (shim_ofd_revive(o) < 0)
		return -1;
	if (o->conn->nin)
		shim_forget_prefetch(o->conn, o->dev, o->ino);
	if (append)
		shim_drop_reads(o->conn, o->dev, o->ino);
	else
		patch_reads(o, buf, n, off);
	if (o->wlen && (o->wappend != append || (!append && off != o->woff + (off_t)o->wlen) ||
			o->wlen + n > shim_wbuf_size)) {
		if (shim_ofd_flush(o) < 0)
			return -1;
	}
	if (n >= shim_wbuf_size) {
		off_t end = 0;

		if (send_pwrite(o, buf, n, off, append, &end) < 0)
			return -1;
		if (append)
			*shim_pos(o) = end;
		return (ssize_t)n;
	}
	if (!o->wbuf) {
		o->wbuf = malloc(shim_wbuf_size);
		if (!o->wbuf)
			return errno = ENOMEM, -1;
	}
	if (!o->wlen) {
		o->woff = off;
		o->wappend = append;
	}
	memcpy(o->wbuf + o->wlen, buf, n);
	o->wlen += n;
	dirty_add(o);
	return (ssize_t)n;
}

/* ---- other remote operations ---------------------------------------------------- */

int shim_remote_fstat(struct shim_ofd *o, struct stat *st)
{
	const uint8_t *rep;
	size_t replen;
	struct wire_stat ws;

	if (shim_ofd_revive(o) < 0)
		return -1;
	if (dirty_head && shim_flush_file(o->conn, o->dev, o->ino) < 0)
		return -1;
	if (rpc_handle(o, WIRE_FSTAT, &rep, &replen) < 0)
		return -1;
	if (wire_dec_stat_reply(rep, replen, &ws) < 0)
		return errno = EIO, -1;
	wire_stat_to_host(st, &ws);
	return 0;
}

static long enc_path_req(uint16_t type, const char *rel, uint32_t flags, uint32_t arg)
{
	struct wire_path_req m;

	m.path.p = rel;
	m.path.len = (uint32_t)strlen(rel);
	m.flags = flags;
	m.arg = arg;
	return wire_enc_path_req(shim_reqbuf, SHIM_REQBUF_SIZE, type, 0, &m);
}

/* Ready the connection of p and flush its dirty buffers: path operations see
 * every earlier write. */
static int path_prologue(struct shim_path *p)
{
	if (shim_conn_ready(p->mnt->conn) < 0)
		return -1;
	return shim_flush_conn(p->mnt->conn);
}

int shim_remote_stat(struct shim_path *p, bool nofollow, struct stat *st)
{
	const uint8_t *rep;
	size_t replen;
	struct wire_stat ws;
	long n;

	if (path_prologue(p) < 0)
		return -1;
	n = enc_path_req(WIRE_STAT, p->rel, nofollow ? WIRE_AT_NOFOLLOW : 0, 0);
	if (n < 0)
		return errno = ENAMETOOLONG, -1;
	if (shim_rpc(p->mnt->conn, shim_reqbuf, (size_t)n, NULL, 0, &rep, &replen, NULL, 0) < 0)
		return -1;
	if (wire_dec_stat_reply(rep, replen, &ws) < 0)
		return errno = EIO, -1;
	wire_stat_to_host(st, &ws);
	return 0;
}

int shim_remote_path_op(uint16_t type, struct shim_path *p, uint32_t flags, uint32_t arg)
{
	long n;

	if (path_prologue(p) < 0)
		return -1;
	n = enc_path_req(type, p->rel, flags, arg);
	if (n < 0)
		return errno = ENAMETOOLONG, -1;
	return shim_rpc(p->mnt->conn, shim_reqbuf, (size_t)n, NULL, 0, NULL, NULL, NULL, 0);
}

int shim_remote_two_paths(uint16_t type, struct shim_path *a, struct shim_path *b, uint32_t flags)
{
	struct wire_two_paths m;
	long n;

	if (a->mnt->conn != b->mnt->conn)
		return errno = EXDEV, -1;
	if (path_prologue(b) < 0)
		return -1;
	m.from.p = a->rel;
	m.from.len = (uint32_t)strlen(a->rel);
	m.to.p = b->rel;
	m.to.len = (uint32_t)strlen(b->rel);
	m.flags = flags;
	n = wire_enc_two_paths(shim_reqbuf, SHIM_REQBUF_SIZE, type, 0, &m);
	if (n < 0)
		return errno = ENAMETOOLONG, -1;
	return shim_rpc(b->mnt->conn, shim_reqbuf, (size_t)n, NULL, 0, NULL, NULL, NULL, 0);
}

int shim_remote_setattr(struct shim_ofd *o, struct shim_path *p, const struct wire_setattr *sa)
{
	struct wire_setattr m = *sa;
	struct shim_conn *c;
	long n;

	if (o) {
		if (shim_ofd_revive(o) < 0)
			return -1;
		c = o->conn;
		m.handle = o->handle;
		m.path.p = "";
		m.path.len = 0;
		if (shim_flush_file(c, o->dev, o->ino) < 0)
			return -1;
		if (m.valid & WIRE_SET_SIZE) {
			shim_drop_reads(c, o->dev, o->ino);
			o->app_known = false;
		}
	} else {
		if (path_prologue(p) < 0)
			return -1;
		c = p->mnt->conn;
		m.handle = 0;
		m.path.p = p->rel;
		m.path.len = (uint32_t)strlen(p->rel);
		if (m.valid & WIRE_SET_SIZE)
			shim_drop_reads(c, 0, 0);
	}
	n = wire_enc_setattr(shim_reqbuf, SHIM_REQBUF_SIZE, 0, &m);
	if (n < 0)
		return errno = ENAMETOOLONG, -1;
	return shim_rpc(c, shim_reqbuf, (size_t)n, NULL, 0, NULL, NULL, NULL, 0);
}

ssize_t shim_remote_readlink(struct shim_path *p, char *buf, size_t cap)
{
	const uint8_t *rep;
	size_t replen;
	struct wire_str s;
	long n;

	if (path_prologue(p) < 0)
		return -1;
	n = enc_path_req(WIRE_READLINK, p->rel, 0, 0);
	if (n < 0)
		return errno = ENAMETOOLONG, -1;
	if (shim_rpc(p->mnt->conn, shim_reqbuf, (size_t)n, NULL, 0, &rep, &replen, NULL, 0) < 0)
		return -1;
	if (wire_dec_str_reply(rep, replen, &s) < 0)
		return errno = EIO, -1;
	if (s.len < cap)
		cap = s.len;
	memcpy(buf, s.p, cap);
	return (ssize_t)cap;
}

int shim_remote_statfs(struct shim_path *p, struct wire_statfs_reply *r)
{
	const uint8_t *rep;
	size_t replen;
	long n;

	if (path_prologue(p) < 0)
		return -1;
	n = enc_path_req(WIRE_STATFS, p->rel, 0, 0);
	if (n < 0)
		return errno = ENAMETOOLONG, -1;
	if (shim_rpc(p->mnt->conn, shim_reqbuf, (size_t)n, NULL, 0, &rep, &replen, NULL, 0) < 0)
		return -1;
	if (wire_dec_statfs_reply(rep, replen, r) < 0)
		return errno = EIO, -1;
	return 0;
}

int shim_remote_ftruncate(struct shim_ofd *o, off_t len)
{
	struct wire_ftruncate m;
	long n;

	if (len < 0)
		return errno = EINVAL, -1;
	if (o->is_dir || (o->flags & O_ACCMODE) == O_RDONLY)
		return errno = o->is_dir ? EISDIR : EINVAL, -1;
	if (shim_ofd_revive(o) < 0)
		return -1;
	if (shim_flush_file(o->conn, o->dev, o->ino) < 0)
		return -1;
	shim_drop_reads(o->conn, o->dev, o->ino);
	o->app_known = false;
	m.handle = o->handle;
	m.length = (uint64_t)len;
	n = wire_enc_ftruncate(shim_reqbuf, SHIM_REQBUF_SIZE, 0, &m);
	return shim_rpc(o->conn, shim_reqbuf, (size_t)n, NULL, 0, NULL, NULL, NULL, 0);
}

int shim_remote_fsync(struct shim_ofd *o, bool datasync)
{
	struct wire_fsync m;
	long n;

	if (shim_ofd_revive(o) < 0)
		return -1;
	if (shim_flush_file(o->conn, o->dev, o->ino) < 0 || o->werr) {
		int err = o->werr ? o->werr : errno;

		o->werr = 0;
		return errno = err, -1;
	}
	m.handle = o->handle;
	m.datasync = datasync;
	n = wire_enc_fsync(shim_reqbuf, SHIM_REQBUF_SIZE, 0, &m);
	return shim_rpc(o->conn, shim_reqbuf, (size_t)n, NULL, 0, NULL, NULL, NULL, 0);
}

