/* undo.c - the undo journal: record how to undo each change a job makes, and replay it.
 *
 * After generation g, every changing call of a session of the job first
 * appends records to <job>/epoch-<g>/journal and makes them durable
 * (fdatasync), then does the change. So whatever reached the disk, the record
 * that undoes it is there too, even after a crash of the server or the
 * machine. Records (all big-endian through wire/):
 *
 *     record  len[4] type[2] payload[len] xxh64[8]   (XXH64 of len, type, payload)
 *
 *     FILE_STATE   base[1] path[s] ino[8] mode[4] uid[4] gid[4] size[8]
 *                  atime_sec[8] atime_nsec[4] mtime_sec[8] mtime_nsec[4]
 *     BLOCK        base[1] path[s] ino[8] offset[8] data[b]
 *     CREATED      path[s]
 *     ASIDE        path[s] aside[s] ino[8]     (path was moved/linked to aside)
 *     RENAMED      from[s] to[s] ino[8]
 *     EXCHANGED    a[s] b[s] ino_a[8] ino_b[8]
 *     DIR_REMOVED  path[s] mode[4] uid[4] gid[4] atime_sec[8] atime_nsec[4]
 *                  mtime_sec[8] mtime_nsec[4]
 *
 * base 0: path relative to the export root; 1: relative to the job's
 * directory (a file still open after it was moved aside). FILE_STATE is
 * written at an inode's first change in the epoch, BLOCK once per 4 KiB block
 * before its first overwrite (only bytes below the size at g matter: growth
 * is undone by FILE_STATE's size). Replay goes from the end of the journal to
 * its start, so each record is undone in the state right after its change;
 * the oldest record of an inode wins, and a record written twice (the dedup
 * tables are memory only, lost at a restart) is harmless. Data records check
 * the inode number before touching a file; namespace records check that
 * their change happened, so a record whose change never ran (crash between
 * record and change) is skipped, and re-applying the newest applied record
 * after an interrupted replay does nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "ckpt.h"
#include "log.h"
#include "resolve.h"
#include "session.h"

enum {
	REC_FILE_STATE = 1,
	REC_BLOCK = 2,
	REC_CREATED = 3,
	REC_ASIDE = 4,
	REC_RENAMED = 5,
	REC_EXCHANGED = 6,
	REC_DIR_REMOVED = 7,
};

#define REC_OVERHEAD 14u	    /* len[4] type[2] ... xxh64[8] */
#define REC_MAX (WIRE_MAX_DATA + 2 * SRV_PATH_BUF + 256) /* largest record */
#define RUN_MAX (1u << 20)	    /* bytes of one BLOCK record */

/* ---- records being built for one call ------------------------------------------ */

struct recs {
	uint8_t *p;
	size_t len, cap;
	int err; /* -errno */
};

static void recs_free(struct recs *r)
{
	free(r->p);
	memset(r, 0, sizeof(*r));
}

/* Room for n more bytes; returns the place or NULL (r->err set). */
static uint8_t *recs_room(struct recs *r, size_t n)
{
	if (r->err)
		return NULL;
	if (r->cap - r->len < n) {
		size_t cap = r->cap ? r->cap : 4096;
		uint8_t *q;

		while (cap - r->len < n)
			cap *= 2;
		q = realloc(r->p, cap);
		if (!q) {
			r->err = -ENOMEM;
			return NULL;
		}
		r->p = q;
		r->cap = cap;
	}
	return r->p + r->len;
}

/* Start a record of type with a payload of at most max bytes: returns a
 * writer over the payload; finish with rec_end. */
static int rec_begin(struct recs *r, struct wire_wr *w, size_t max)
{
	uint8_t *b = recs_room(r, max + REC_OVERHEAD);

	if (!b)
		return -1;
	wire_wr_init(w, b + 6, max);
	return 0;
}

static void rec_end(struct recs *r, struct wire_wr *w, uint16_t type)
{
	uint8_t *b = r->p + r->len;
	size_t plen = wire_wr_len(w);
	struct wire_wr h;

	if (w->err) {
		r->err = -EOVERFLOW;
		return;
	}
	wire_wr_init(&h, b, 6);
	wire_put_u32(&h, (uint32_t)plen);
	wire_put_u16(&h, type);
	wire_wr_init(&h, b + 6 + plen, 8);
	wire_put_u64(&h, XXH64(b, 6 + plen, 0));
	r->len += REC_OVERHEAD + plen;
}

static void put_cstr(struct wire_wr *w, const char *s)
{
	wire_put_str(w, s, (uint32_t)strlen(s));
}

static void put_times(struct wire_wr *w, const struct stat *st)
{
	wire_put_s64(w, (int64_t)st->st_atim.tv_sec);
	wire_put_u32(w, (uint32_t)st->st_atim.tv_nsec);
	wire_put_s64(w, (int64_t)st->st_mtim.tv_sec);
	wire_put_u32(w, (uint32_t)st->st_mtim.tv_nsec);
}

static void add_file_state(struct recs *r, int base, const char *path, const struct stat *st)
{
	struct wire_wr w;

	if (rec_begin(r, &w, SRV_PATH_BUF + 80))
		return;
	wire_put_u8(&w, (uint8_t)base);
	put_cstr(&w, path);
	wire_put_u64(&w, (uint64_t)st->st_ino);
	wire_put_u32(&w, wire_mode_from_host(st->st_mode));
	wire_put_u32(&w, (uint32_t)st->st_uid);
	wire_put_u32(&w, (uint32_t)st->st_gid);
	wire_put_u64(&w, (uint64_t)st->st_size);
	put_times(&w, st);
	rec_end(r, &w, REC_FILE_STATE);
}

static void add_dir_removed(struct recs *r, const char *path, const struct stat *st)
{
	struct wire_wr w;

	if (rec_begin(r, &w, SRV_PATH_BUF + 64))
		return;
	put_cstr(&w, path);
	wire_put_u32(&w, wire_mode_from_host(st->st_mode));
	wire_put_u32(&w, (uint32_t)st->st_uid);
	wire_put_u32(&w, (uint32_t)st->st_gid);
	put_times(&w, st);
	rec_end(r, &w, REC_DIR_REMOVED);
}

static void add_paths(struct recs *r, uint16_t type, const char *a, const char *b, uint64_t i1,
		      uint64_t i2, int n_ino)
{
	struct wire_wr w;

	if (rec_begin(r, &w, 2 * SRV_PATH_BUF + 32))
		return;
	put_cstr(&w, a);
	if (b)
		put_cstr(&w, b);
	if (n_ino > 0)
		wire_put_u64(&w, i1);
	if (n_ino > 1)
		wire_put_u64(&w, i2);
	rec_end(r, &w, type);
}

/* ---- the journal file ---------------------------------------------------------- */

/* Append the records and make them durable. On failure the journal is cut
 * back to where it was, so that a torn record never hides later ones. */
static int journal_commit(struct srv_job *j, struct recs *r)
{
	off_t at;
	size_t done = 0;
	int err = 0;

	if (r->err)
		return r->err;
	if (!r->len)
		return 0;
	if (j->journal_fd < 0)
		return -EIO;
	at = lseek(j->journal_fd, 0, SEEK_END);
	if (at < 0)
		return -errno;
	while (done < r->len) {
		ssize_t n = pwrite(j->journal_fd, r->p + done, r->len - done, at + (off_t)done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err = n < 0 ? -errno : -EIO;
			break;
		}
		done += (size_t)n;
	}
	if (!err && fdatasync(j->journal_fd) < 0)
		err = -errno;
	if (err) {
		if (ftruncate(j->journal_fd, at) < 0) {
			srv_error("job %s: undo journal cannot be cut back after a failed write; "
				  "changes are refused until a new generation", j->name);
			close(j->journal_fd);
			j->journal_fd = -1;
		}
		return err;
	}
	r->len = 0;
	return 0;
}

/* ---- paths of open files --------------------------------------------------------- */

/* s under prefix (a directory): the rest, without the '/'; NULL if not. */
static const char *under(const char *s, const char *prefix)
{
	size_t n = strlen(prefix);

	if (strncmp(s, prefix, n) != 0)
		return NULL;
	if (s[n] == '\0')
		return s + n;
	if (s[n] == '/')
		return s + n + 1;
	if (n == 1 && prefix[0] == '/') /* the root directory "/" */
		return s + 1;
	return NULL;
}

int srv_undo_fd_path(const struct srv_job *j, int root_fd, int fd, int *base, char *out, size_t cap)
{
	char lnk[40], buf[2 * SRV_PATH_BUF];
	const struct srv_store *st = j->store;
	const char *rest;
	ssize_t n;

	(void)root_fd;
	snprintf(lnk, sizeof(lnk), "/proc/self/fd/%d", fd);
	n = readlink(lnk, buf, sizeof(buf) - 1);
	if (n <= 0 || (size_t)n >= sizeof(buf) - 1)
		return -1;
	buf[n] = '\0';
	if (buf[0] != '/')
		return -1; /* "anon_inode:..." and the like */
	/* the job directory first: it may lie inside the root */
	if (j->dir_real[0] && (rest = under(buf, j->dir_real)) != NULL) {
		*base = 1;
	} else if ((rest = under(buf, st->root_real)) != NULL) {
		*base = 0;
		if (st->hidden[0] && under(rest, st->hidden))
			return -1;
	} else {
		return -1;
	}
	if (strlen(rest) >= cap || wire_path_check(rest, (uint32_t)strlen(rest)) != 0)
		return -1; /* " (deleted)" paths end up here too when they are odd */
	strcpy(out, rest);
	return 0;
}

/* ---- the inode table of the epoch -------------------------------------------------- */

static uint64_t ino_hash(uint64_t dev, uint64_t ino)
{
	uint64_t h = ino * 0x9e3779b97f4a7c15ull ^ dev;

	return h ^ (h >> 29);
}

static struct srv_undo_ino *ino_find(struct srv_job *j, uint64_t dev, uint64_t ino)
{
	size_t mask, i;

	if (!j->nino_slots)
		return NULL;
	mask = j->nino_slots - 1;
	for (i = ino_hash(dev, ino) & mask;; i = (i + 1) & mask) {
		struct srv_undo_ino *e = &j->inos[i];

		if (!e->ino)
			return NULL;
		if (e->ino == ino && e->dev == dev)
			return e;
	}
}

static struct srv_undo_ino *ino_add(struct srv_job *j, uint64_t dev, uint64_t ino)
{
	size_t mask, i;

	if (!ino)
		ino = 1; /* 0 marks free slots; no real file has it */
	if ((j->ninos + 1) * 2 > j->nino_slots) {
		size_t n = j->nino_slots ? j->nino_slots * 2 : 64;
		struct srv_undo_ino *old = j->inos, *v = calloc(n, sizeof(*v));
		size_t oldn = j->nino_slots;

		if (!v)
			return NULL;
		j->inos = v;
		j->nino_slots = n;
		for (i = 0; i < oldn; i++) {
			if (!old[i].ino)
				continue;
			mask = n - 1;
			size_t k = ino_hash(old[i].dev, old[i].ino) & mask;

			while (v[k].ino)
				k = (k + 1) & mask;
			v[k] = old[i];
		}
		free(old);
	}
	mask = j->nino_slots - 1;
	for (i = ino_hash(dev, ino) & mask; j->inos[i].ino; i = (i + 1) & mask)
		;
	memset(&j->inos[i], 0, sizeof(j->inos[i]));
	j->inos[i].dev = dev;
	j->inos[i].ino = ino;
	j->ninos++;
	return &j->inos[i];
}

static void inos_clear(struct srv_job *j)
{
	for (size_t i = 0; i < j->nino_slots; i++) {
		free(j->inos[i].saved);
		free(j->inos[i].path);
	}
	free(j->inos);
	j->inos = NULL;
	j->nino_slots = j->ninos = 0;
}

static int bit_get(const struct srv_undo_ino *e, uint64_t b)
{
	return b < e->nsaved_bits && (e->saved[b / 8] >> (b % 8)) & 1;
}

static int bit_set(struct srv_undo_ino *e, uint64_t b)
{
	if (b >= e->nsaved_bits) {
		uint64_t n = e->nsaved_bits ? e->nsaved_bits : 64;
		uint8_t *v;

		while (n <= b)
			n *= 2;
		v = realloc(e->saved, (size_t)(n / 8));
		if (!v)
			return -ENOMEM;
		memset(v + e->nsaved_bits / 8, 0, (size_t)((n - e->nsaved_bits) / 8));
		e->saved = v;
		e->nsaved_bits = n;
	}
	e->saved[b / 8] |= (uint8_t)(1u << (b % 8));
	return 0;
}

/* ---- recording ---------------------------------------------------------------------- */

static struct srv_job *active(const struct srv_session *s)
{
	return s->job && s->job->epoch ? s->job : NULL;
}

int srv_undo_active(const struct srv_session *s)
{
	return active(s) != NULL;
}

void srv_undo_begin(struct srv_session *s)
{
	if (s->job)
		pthread_mutex_lock(&s->job->lock);
}

void srv_undo_end(struct srv_session *s)
{
	if (s->job)
		pthread_mutex_unlock(&s->job->lock);
}

/* The inode behind fd, as first seen in this epoch: on its first change a
 * FILE_STATE record is added to r. NULL with *skip set when the file is not
 * to be recorded (created in the epoch, or not reachable by a path). */
static struct srv_undo_ino *touch(struct srv_session *s, struct srv_job *j, int fd,
				  const struct stat *st, struct recs *r, int *skip)
{
	struct srv_undo_ino *e = ino_find(j, (uint64_t)st->st_dev, (uint64_t)st->st_ino);
	char path[SRV_PATH_BUF];
	int base;

	*skip = 0;
	if (e) {
		*skip = e->created;
		return e;
	}
	if (srv_undo_fd_path(j, s->cfg->root_fd, fd, &base, path, sizeof(path)) < 0) {
		*skip = 1; /* deleted by someone else, or outside: nothing to restore */
		return NULL;
	}
	e = ino_add(j, (uint64_t)st->st_dev, (uint64_t)st->st_ino);
	if (!e) {
		r->err = -ENOMEM;
		return NULL;
	}
	e->size_g = S_ISREG(st->st_mode) ? (uint64_t)st->st_size : 0;
	if (base == 0)
		e->path = strdup(path);
	add_file_state(r, base, path, st);
	return e;
}

/* A readable fd on the same file as fd (which may be write-only): fd itself,
 * or a new one (*own set). */
static int readable(int fd, int *own)
{
	char lnk[40];
	int fl = fcntl(fd, F_GETFL), r;

	*own = 0;
	if (fl >= 0 && (fl & O_ACCMODE) != O_WRONLY && !(fl & O_PATH))
		return fd;
	snprintf(lnk, sizeof(lnk), "/proc/self/fd/%d", fd);
	r = open(lnk, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (r >= 0)
		*own = 1;
	return r;
}

/* Save the old bytes of every not yet saved block of [from, to) (clipped to
 * the size at g), committing every RUN_MAX bytes. */
static int save_range(struct srv_session *s, struct srv_job *j, struct srv_undo_ino *e, int fd,
		      uint64_t from, uint64_t to, struct recs *r)
{
	char path[SRV_PATH_BUF];
	int base, rfd, own, rc = 0;
	uint64_t b, last;

	if (to > e->size_g)
		to = e->size_g;
	if (from >= to)
		return 0;
	if (srv_undo_fd_path(j, s->cfg->root_fd, fd, &base, path, sizeof(path)) < 0)
		return 0;
	rfd = readable(fd, &own);
	if (rfd < 0)
		return -errno;
	last = (to - 1) / SRV_UNDO_BLOCK;
	for (b = from / SRV_UNDO_BLOCK; b <= last && !rc;) {
		uint64_t start, end;
		struct wire_wr w;
		uint8_t *data;
		size_t got = 0;

		if (bit_get(e, b)) {
			b++;
			continue;
		}
		start = b * SRV_UNDO_BLOCK;
		end = start;
		while (b <= last && !bit_get(e, b) && end - start < RUN_MAX) {
			end = (b + 1) * SRV_UNDO_BLOCK;
			if (bit_set(e, b) < 0) {
				rc = -ENOMEM;
				break;
			}
			b++;
		}
		if (rc)
			break;
		if (end > e->size_g)
			end = e->size_g;
		if (rec_begin(r, &w, SRV_PATH_BUF + 40 + (end - start)))
			break;
		wire_put_u8(&w, (uint8_t)base);
		put_cstr(&w, path);
		wire_put_u64(&w, e->ino);
		wire_put_u64(&w, start);
		/* the blob: length, then the bytes read in place */
		wire_put_u32(&w, 0);
		data = w.p;
		while (got < end - start) {
			ssize_t n = pread(rfd, data + got, (size_t)(end - start - got),
					  (off_t)(start + got));

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break; /* shorter than at g: truncated outside the job */
			got += (size_t)n;
		}
		{
			struct wire_wr fix;

			wire_wr_init(&fix, data - 4, 4);
			wire_put_u32(&fix, (uint32_t)got);
		}
		w.p = data + got;
		rec_end(r, &w, REC_BLOCK);
		if (r->len >= RUN_MAX)
			rc = journal_commit(j, r);
	}
	if (own)
		close(rfd);
	return rc ? rc : r->err;
}

int srv_undo_write(struct srv_session *s, int fd, uint64_t off, uint64_t len, int append)
{
	struct srv_job *j = active(s);
	struct srv_undo_ino *e;
	struct recs r = { 0 };
	struct stat st;
	int skip, rc;

	if (!j || !len)
		return 0;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return 0;
	e = touch(s, j, fd, &st, &r, &skip);
	if (skip || !e)
		return r.err;
	if (append)
		off = (uint64_t)st.st_size;
	e->changed = 1;
	rc = save_range(s, j, e, fd, off, off + len > off ? off + len : UINT64_MAX, &r);
	if (!rc)
		rc = journal_commit(j, &r);
	recs_free(&r);
	return rc;
}

int srv_undo_truncate(struct srv_session *s, int fd, uint64_t newlen)
{
	struct srv_job *j = active(s);
	struct srv_undo_ino *e;
	struct recs r = { 0 };
	struct stat st;
	int skip, rc;

	if (!j)
		return 0;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return 0;
	e = touch(s, j, fd, &st, &r, &skip);
	if (skip || !e)
		return r.err;
	e->changed = 1;
	rc = save_range(s, j, e, fd, newlen, e->size_g, &r);
	if (!rc)
		rc = journal_commit(j, &r);
	recs_free(&r);
	return rc;
}

int srv_undo_attr(struct srv_session *s, int fd)
{
	struct srv_job *j = active(s);
	struct recs r = { 0 };
	struct srv_undo_ino *e;
	struct stat st;
	int skip, rc;

	if (!j)
		return 0;
	if (fstat(fd, &st) < 0)
		return -errno;
	e = touch(s, j, fd, &st, &r, &skip);
	if (e && !skip)
		e->changed = 1;
	rc = journal_commit(j, &r);
	recs_free(&r);
	return rc;
}

/* First change of the directory dfd in this epoch: its mode and times. */
static void touch_dir(struct srv_session *s, struct srv_job *j, int dfd, struct recs *r)
{
	struct stat st;
	int skip;

	if (fstat(dfd, &st) == 0)
		(void)touch(s, j, dfd, &st, r, &skip);
}

int srv_undo_create(struct srv_session *s, int dfd, const char *base, const char *path)
{
	struct srv_job *j = active(s);
	struct recs r = { 0 };
	struct stat st;
	int rc;

	if (!j)
		return 0;
	if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 || errno != ENOENT)
		return 0; /* nothing will be created (or the call fails) */
	touch_dir(s, j, dfd, &r);
	add_paths(&r, REC_CREATED, path, NULL, 0, 0, 0);
	rc = journal_commit(j, &r);
	recs_free(&r);
	return rc < 0 ? rc : 1;
}

void srv_undo_created(struct srv_session *s, int fd)
{
	struct srv_job *j = active(s);
	struct srv_undo_ino *e;
	struct stat st;

	if (!j || fstat(fd, &st) < 0 || ino_find(j, (uint64_t)st.st_dev, (uint64_t)st.st_ino))
		return;
	e = ino_add(j, (uint64_t)st.st_dev, (uint64_t)st.st_ino);
	if (e)
		e->created = 1;
}

/* A fresh name in the epoch's aside directory, and its path from the job
 * directory. */
static void aside_name(struct srv_job *j, char *name, size_t ncap, char *rel, size_t rcap)
{
	snprintf(name, ncap, "a%" PRIu64, ++j->aside_seq);
	snprintf(rel, rcap, "epoch-%" PRIu64 "/aside/%s", j->epoch, name);
}

int srv_undo_unlink(struct srv_session *s, int dfd, const char *base, const char *path, int flags)
{
	struct srv_job *j = active(s);
	struct recs r = { 0 };
	char name[32], rel[96];
	struct stat st;
	int rc;

	if (!j)
		return unlinkat(dfd, base, flags) < 0 ? -errno : 0;
	if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if ((flags & AT_REMOVEDIR) && !S_ISDIR(st.st_mode))
		return -ENOTDIR;
	if (!(flags & AT_REMOVEDIR) && S_ISDIR(st.st_mode))
		return -EISDIR;
	touch_dir(s, j, dfd, &r);
	if (flags & AT_REMOVEDIR) {
		/* empty by definition: its name, mode and times are all there is */
		add_dir_removed(&r, path, &st);
		rc = journal_commit(j, &r);
		if (!rc && unlinkat(dfd, base, AT_REMOVEDIR) < 0)
			rc = -errno;
		recs_free(&r);
		return rc;
	}
	if (j->aside_fd < 0) {
		recs_free(&r);
		return -EIO;
	}
	aside_name(j, name, sizeof(name), rel, sizeof(rel));
	add_paths(&r, REC_ASIDE, path, rel, (uint64_t)st.st_ino, 0, 1);
	rc = journal_commit(j, &r);
	recs_free(&r);
	if (rc)
		return rc;
	/* unlink = move into the aside directory (same inode, same file
	 * system), where a rollback finds it */
	if (renameat(dfd, base, j->aside_fd, name) < 0) {
		rc = -errno;
		if (rc == -EXDEV)
			srv_warn("job %s: cannot keep '%s' aside (another file system); unlink "
				 "refused", j->name, path);
		return rc == -EXDEV ? -EIO : rc;
	}
	return 0;
}

int srv_undo_rename(struct srv_session *s, int d1, const char *b1, const char *p1, int d2,
		    const char *b2, const char *p2, unsigned flags)
{
	struct srv_job *j = active(s);
	struct recs r = { 0 };
	char name[32] = "", rel[96];
	struct stat s1, s2;
	int rc, exists;

	if (!j || fstatat(d1, b1, &s1, AT_SYMLINK_NOFOLLOW) < 0)
		goto plain;
	exists = fstatat(d2, b2, &s2, AT_SYMLINK_NOFOLLOW) == 0;
	if (!exists && errno != ENOENT)
		goto plain;
	if (exists && ((flags & RENAME_NOREPLACE) ||
		       (s1.st_ino == s2.st_ino && s1.st_dev == s2.st_dev)))
		goto plain; /* EEXIST, or a no-op */
	touch_dir(s, j, d1, &r);
	touch_dir(s, j, d2, &r);
	if (exists && (flags & RENAME_EXCHANGE)) {
		add_paths(&r, REC_EXCHANGED, p1, p2, (uint64_t)s1.st_ino, (uint64_t)s2.st_ino, 2);
	} else if (exists) {
		if (S_ISDIR(s1.st_mode) && !S_ISDIR(s2.st_mode)) {
			recs_free(&r);
			return -ENOTDIR;
		}
		if (!S_ISDIR(s1.st_mode) && S_ISDIR(s2.st_mode)) {
			recs_free(&r);
			return -EISDIR;
		}
		if (S_ISDIR(s2.st_mode)) {
			add_dir_removed(&r, p2, &s2); /* empty, or the rename fails */
		} else {
			if (j->aside_fd < 0) {
				recs_free(&r);
				return -EIO;
			}
			aside_name(j, name, sizeof(name), rel, sizeof(rel));
			add_paths(&r, REC_ASIDE, p2, rel, (uint64_t)s2.st_ino, 0, 1);
		}
		add_paths(&r, REC_RENAMED, p1, p2, (uint64_t)s1.st_ino, 0, 1);
	} else {
		add_paths(&r, REC_RENAMED, p1, p2, (uint64_t)s1.st_ino, 0, 1);
	}
	rc = journal_commit(j, &r);
	recs_free(&r);
	if (rc)
		return rc;
	/* the replaced file gets a second name in the aside directory first,
	 * so the rename itself stays atomic */
	if (name[0] && linkat(d2, b2, j->aside_fd, name, 0) < 0) {
		rc = -errno;
		srv_warn("job %s: cannot keep the replaced '%s' aside: %s; rename refused", j->name,
			 p2, srv_errname(-rc));
		return -EIO;
	}
	rc = flags ? renameat2(d1, b1, d2, b2, flags) : renameat(d1, b1, d2, b2);
	if (rc < 0) {
		rc = -errno;
		if (name[0])
			unlinkat(j->aside_fd, name, 0);
		return rc;
	}
	return 0;

plain:
	rc = flags ? renameat2(d1, b1, d2, b2, flags) : renameat(d1, b1, d2, b2);
	return rc < 0 ? -errno : 0;
}

/* ---- epochs --------------------------------------------------------------------------- */

void srv_undo_epoch_close(struct srv_job *j)
{
	if (j->journal_fd >= 0)
		close(j->journal_fd);
	if (j->aside_fd >= 0)
		close(j->aside_fd);
	j->journal_fd = j->aside_fd = -1;
	j->epoch = 0;
	inos_clear(j);
}

/* Open (creating it durably if need be) epoch-<gen> and make it current. */
int srv_undo_epoch_start(struct srv_job *j, uint64_t gen, char *why, size_t cap)
{
	char dir[64];
	int dfd = -1, jfd = -1, afd = -1, err;
	struct stat st;

	snprintf(dir, sizeof(dir), "epoch-%" PRIu64, gen);
	if (mkdirat(j->dir_fd, dir, 0700) < 0 && errno != EEXIST)
		goto fail;
	dfd = openat(j->dir_fd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		goto fail;
	if (mkdirat(dfd, "aside", 0700) < 0 && errno != EEXIST)
		goto fail;
	afd = openat(dfd, "aside", O_PATH | O_DIRECTORY | O_CLOEXEC);
	jfd = openat(dfd, "journal", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (afd < 0 || jfd < 0)
		goto fail;
	/* the journal's name and the directories must survive a crash before
	 * the first record is trusted to */
	if (fsync(jfd) < 0 || fsync(dfd) < 0 || fsync(j->dir_fd) < 0)
		goto fail;
	close(dfd);
	srv_undo_epoch_close(j);
	j->journal_fd = jfd;
	j->aside_fd = afd;
	j->epoch = gen;
	/* aside names stay unique across restarts: continue after the journal's size */
	j->aside_seq = fstat(jfd, &st) == 0 ? (uint64_t)st.st_size : 0;
	return 0;
fail:
	err = errno;
	snprintf(why, cap, "cannot set up the undo journal %s/%s: %s", j->name, dir, strerror(err));
	if (dfd >= 0)
		close(dfd);
	if (afd >= 0)
		close(afd);
	if (jfd >= 0)
		close(jfd);
	return -err;
}

/* ---- replay ----------------------------------------------------------------------------- */

struct where {
	int dfd;	  /* directory to act in */
	const char *base; /* name in it */
	int own;	  /* dfd is ours to release */
	int root_fd;
};

/* Resolve a recorded path for acting on its last component. */
static int locate(struct srv_job *j, int root_fd, int base, const char *path, struct where *w)
{
	memset(w, 0, sizeof(*w));
	w->root_fd = root_fd;
	if (base == 1) {
		w->dfd = j->dir_fd;
		w->base = path;
		return 0;
	}
	if (!path[0]) {
		w->dfd = root_fd;
		w->base = ".";
		return 0;
	}
	w->dfd = srv_resolve_parent(root_fd, path, &w->base);
	if (w->dfd < 0)
		return w->dfd;
	w->own = 1;
	return 0;
}

static void release(struct where *w)
{
	if (w->own)
		srv_resolve_release(w->root_fd, w->dfd);
}

static int ino_is(struct where *w, uint64_t ino, struct stat *st)
{
	return fstatat(w->dfd, w->base, st, AT_SYMLINK_NOFOLLOW) == 0 && (uint64_t)st->st_ino == ino;
}

/* Open a regular file for writing even if its mode (changed after g) does
 * not let us: its mode is restored afterwards anyway. */
static int open_w(struct where *w, const struct stat *st)
{
	int fd = openat(w->dfd, w->base, O_WRONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

	if (fd < 0 && errno == EACCES && fchmodat(w->dfd, w->base, (st->st_mode & 07777) | 0200, 0) == 0)
		fd = openat(w->dfd, w->base, O_WRONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	return fd;
}

static void set_meta(struct where *w, const struct stat *now, uint32_t wmode, uint32_t uid,
		     uint32_t gid, const struct timespec ts[2])
{
	if (((uint32_t)now->st_uid != uid || (uint32_t)now->st_gid != gid) &&
	    fchownat(w->dfd, w->base, (uid_t)uid, (gid_t)gid, AT_SYMLINK_NOFOLLOW) < 0 &&
	    errno != EPERM)
		srv_debug("undo: chown: %s", strerror(errno));
	if (!S_ISLNK(now->st_mode))
		(void)fchmodat(w->dfd, w->base, (mode_t)(wire_mode_to_host(wmode) & 07777), 0);
	(void)utimensat(w->dfd, w->base, ts, AT_SYMLINK_NOFOLLOW);
}

static int rename_back(struct where *from, struct where *to)
{
	if (renameat2(from->dfd, from->base, to->dfd, to->base, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno == EEXIST && renameat(from->dfd, from->base, to->dfd, to->base) == 0)
		return 0;
	return -errno;
}

/* Undo one record. *ns is set for namespace records. Errors are logged and
 * the replay goes on: one file that cannot be restored must not keep every
 * other one from being restored. */
static void apply(struct srv_job *j, int root_fd, uint16_t type, const uint8_t *p, size_t len,
		  int *ns)
{
	struct wire_rd r;
	struct wire_str a, b = { "", 0 };
	char pa[SRV_PATH_BUF], pb[SRV_PATH_BUF];
	struct where wa, wb;
	struct stat st;
	uint8_t base = 0;
	uint64_t i1 = 0, i2 = 0;

	*ns = type != REC_FILE_STATE && type != REC_BLOCK;
	wire_rd_init(&r, p, len);
	if (!*ns)
		base = wire_get_u8(&r);
	a = wire_get_str(&r, WIRE_MAX_PATH);
	if (type == REC_ASIDE || type == REC_RENAMED || type == REC_EXCHANGED)
		b = wire_get_str(&r, WIRE_MAX_PATH);
	if (r.err || base > 1 || a.len >= sizeof(pa) || b.len >= sizeof(pb))
		goto bad;
	memcpy(pa, a.p, a.len);
	pa[a.len] = '\0';
	memcpy(pb, b.p, b.len);
	pb[b.len] = '\0';
	if (wire_path_check(pa, a.len) || wire_path_check(pb, b.len))
		goto bad;
	if (locate(j, root_fd, base, pa, &wa) < 0) {
		srv_warn("job %s: undo: '%s' cannot be reached; skipped", j->name, pa);
		return;
	}

	switch (type) {
	case REC_FILE_STATE: {
		uint32_t mode, uid, gid;
		uint64_t size;
		struct timespec ts[2];

		i1 = wire_get_u64(&r);
		mode = wire_get_u32(&r);
		uid = wire_get_u32(&r);
		gid = wire_get_u32(&r);
		size = wire_get_u64(&r);
		ts[0].tv_sec = (time_t)wire_get_s64(&r);
		ts[0].tv_nsec = (long)wire_get_u32(&r);
		ts[1].tv_sec = (time_t)wire_get_s64(&r);
		ts[1].tv_nsec = (long)wire_get_u32(&r);
		if (wire_rd_finish(&r))
			break;
		if (!ino_is(&wa, i1, &st))
			break;
		if (S_ISREG(st.st_mode) && (uint64_t)st.st_size != size) {
			int fd = open_w(&wa, &st);

			if (fd < 0 || ftruncate(fd, (off_t)size) < 0)
				srv_warn("job %s: undo: cannot restore the size of '%s': %s", j->name, pa,
					 strerror(errno));
			if (fd >= 0)
				close(fd);
		}
		set_meta(&wa, &st, mode, uid, gid, ts);
		break;
	}
	case REC_BLOCK: {
		struct wire_blob d;
		uint64_t off;
		int fd;

		i1 = wire_get_u64(&r);
		off = wire_get_u64(&r);
		d = wire_get_blob(&r, REC_MAX);
		if (wire_rd_finish(&r) || !ino_is(&wa, i1, &st) || !S_ISREG(st.st_mode))
			break;
		fd = open_w(&wa, &st);
		if (fd < 0 || pwrite(fd, d.p, d.len, (off_t)off) != (ssize_t)d.len)
			srv_warn("job %s: undo: cannot restore %u bytes at %" PRIu64 " of '%s': %s",
				 j->name, d.len, off, pa, strerror(errno));
		if (fd >= 0)
			close(fd);
		break;
	}
	case REC_CREATED:
		if (wire_rd_finish(&r) || fstatat(wa.dfd, wa.base, &st, AT_SYMLINK_NOFOLLOW) < 0)
			break;
		if (unlinkat(wa.dfd, wa.base, S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0) < 0)
			srv_warn("job %s: undo: cannot remove '%s' (created after the checkpoint): %s",
				 j->name, pa, strerror(errno));
		break;
	case REC_ASIDE: /* b: where it was kept, from the job directory */
		i1 = wire_get_u64(&r);
		if (wire_rd_finish(&r) || locate(j, root_fd, 1, pb, &wb) < 0)
			break;
		if (fstatat(wb.dfd, wb.base, &st, AT_SYMLINK_NOFOLLOW) == 0 && rename_back(&wb, &wa) < 0)
			srv_warn("job %s: undo: cannot put '%s' back: %s", j->name, pa, strerror(errno));
		break;
	case REC_RENAMED: /* pa was renamed to pb */
		i1 = wire_get_u64(&r);
		if (wire_rd_finish(&r) || locate(j, root_fd, 0, pb, &wb) < 0)
			break;
		if (ino_is(&wb, i1, &st) && rename_back(&wb, &wa) < 0)
			srv_warn("job %s: undo: cannot rename '%s' back to '%s': %s", j->name, pb, pa,
				 strerror(errno));
		release(&wb);
		break;
	case REC_EXCHANGED:
		i1 = wire_get_u64(&r);
		i2 = wire_get_u64(&r);
		if (wire_rd_finish(&r) || locate(j, root_fd, 0, pb, &wb) < 0)
			break;
		if (ino_is(&wa, i2, &st) &&
		    renameat2(wa.dfd, wa.base, wb.dfd, wb.base, RENAME_EXCHANGE) < 0)
			srv_warn("job %s: undo: cannot exchange '%s' and '%s' back: %s", j->name, pa,
				 pb, strerror(errno));
		release(&wb);
		break;
	case REC_DIR_REMOVED: {
		uint32_t mode, uid, gid;
		struct timespec ts[2];

		mode = wire_get_u32(&r);
		uid = wire_get_u32(&r);
		gid = wire_get_u32(&r);
		ts[0].tv_sec = (time_t)wire_get_s64(&r);
		ts[0].tv_nsec = (long)wire_get_u32(&r);
		ts[1].tv_sec = (time_t)wire_get_s64(&r);
		ts[1].tv_nsec = (long)wire_get_u32(&r);
		if (wire_rd_finish(&r))
			break;
		if (mkdirat(wa.dfd, wa.base, 0700) < 0) {
			if (errno != EEXIST)
				srv_warn("job %s: undo: cannot make '%s' again: %s", j->name, pa,
					 strerror(errno));
			break;
		}
		if (fstatat(wa.dfd, wa.base, &st, AT_SYMLINK_NOFOLLOW) == 0)
			set_meta(&wa, &st, mode, uid, gid, ts);
		break;
	}
	default:
		release(&wa);
		goto bad;
	}
	release(&wa);
	return;
bad:
	srv_warn("job %s: undo: a malformed record of type %u in epoch %" PRIu64 "; skipped", j->name,
		 type, j->epoch);
}

/* Offsets of the whole records of a journal, stopping at a torn or corrupt
 * tail (a record whose change never ran: its sync had not returned). */
static int index_journal(int fd, uint64_t **offs, size_t *n)
{
	struct stat st;
	uint64_t at = 0, *v = NULL;
	size_t cnt = 0, cap = 0;
	uint8_t *buf = NULL;
	size_t bcap = 0;

	if (fstat(fd, &st) < 0)
		return -errno;
	while (at + REC_OVERHEAD <= (uint64_t)st.st_size) {
		uint8_t h[6];
		struct wire_rd r;
		uint32_t plen;
		size_t need;

		if (pread(fd, h, 6, (off_t)at) != 6)
			break;
		wire_rd_init(&r, h, 6);
		plen = wire_get_u32(&r);
		need = (size_t)plen + REC_OVERHEAD;
		if (plen > REC_MAX || at + need > (uint64_t)st.st_size)
			break;
		if (need > bcap) {
			uint8_t *q = realloc(buf, need);

			if (!q)
				break;
			buf = q;
			bcap = need;
		}
		if (pread(fd, buf, need, (off_t)at) != (ssize_t)need)
			break;
		wire_rd_init(&r, buf + 6 + plen, 8);
		if (wire_get_u64(&r) != XXH64(buf, 6 + plen, 0))
			break;
		if (cnt == cap) {
			uint64_t *q = realloc(v, (cap ? cap * 2 : 256) * sizeof(*v));

			if (!q) {
				free(v);
				free(buf);
				return -ENOMEM;
			}
			v = q;
			cap = cap ? cap * 2 : 256;
		}
		v[cnt++] = at;
		at += need;
	}
	if (at != (uint64_t)st.st_size)
		srv_info("undo journal: %" PRIu64 " bytes after the last whole record ignored "
			 "(their changes never ran)", (uint64_t)st.st_size - at);
	free(buf);
	*offs = v;
	*n = cnt;
	return 0;
}

int srv_undo_replay(struct srv_job *j, int root_fd, uint64_t epoch, uint64_t done,
		    srv_undo_progress_fn *progress, void *ctx)
{
	char path[96];
	uint64_t *offs = NULL;
	size_t n = 0;
	uint8_t *buf = NULL;
	size_t bcap = 0;
	int fd, rc;

	snprintf(path, sizeof(path), "epoch-%" PRIu64 "/journal", epoch);
	fd = openat(j->dir_fd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	rc = index_journal(fd, &offs, &n);
	if (rc < 0) {
		close(fd);
		return rc;
	}
	for (uint64_t k = done; k < n && !rc; k++) {
		uint64_t at = offs[n - 1 - k];
		uint8_t h[6];
		struct wire_rd r;
		uint32_t plen;
		uint16_t type;
		int ns;

		if (pread(fd, h, 6, (off_t)at) != 6) {
			rc = -EIO;
			break;
		}
		wire_rd_init(&r, h, 6);
		plen = wire_get_u32(&r);
		type = wire_get_u16(&r);
		if (plen > bcap) {
			uint8_t *q = realloc(buf, plen ? plen : 1);

			if (!q) {
				rc = -ENOMEM;
				break;
			}
			buf = q;
			bcap = plen;
		}
		if (pread(fd, buf, plen, (off_t)at + 6) != (ssize_t)plen) {
			rc = -EIO;
			break;
		}
		apply(j, root_fd, type, buf, plen, &ns);
		if (ns && progress)
			rc = progress(ctx, epoch, k + 1);
	}
	free(buf);
	free(offs);
	close(fd);
	return rc;
}
