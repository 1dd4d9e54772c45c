/* store.c - the checkpoint store: jobs, generations, joint files, and the requests that use them.
 *
 * CKPT_PREPARE streams the client's image into <job>/gen-<g>.ckpt.tmp after a
 * reserved header region; CKPT_DONE checks it, syncs the job's files, appends
 * the SERVER_STATE section and the trailer, writes the header, fsyncs,
 * starts the new undo epoch, renames the file into place and fsyncs the
 * directory: only then does it answer. ROLLBACK checks the whole joint file
 * before touching any file, then replays the undo epochs newest first under a
 * durable marker, so that a server killed in the middle finishes the rollback
 * when it comes back.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "ckpt.h"
#include "ckptfile.h"
#include "log.h"
#include "resolve.h"
#include "session.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define HOST_BO WIRE_BO_BIG
#else
#define HOST_BO WIRE_BO_LITTLE
#endif

#define MARKER "rollback"
#define MARKER_SIZE 36u /* magic[8] target[8] epoch[8] done[8] phase[4] */
#define COMMITTED "committed"
#define STATE_MAX (64u << 20) /* largest SERVER_STATE section we read back */
#define COPY_BUF (1u << 20)

static const uint8_t marker_magic[8] = { 'C', 'K', 'P', 'T', 'R', 'B', 'K', '1' };
static const uint8_t committed_magic[8] = { 'C', 'K', 'P', 'T', 'C', 'M', 'T', '1' };

struct marker {
	uint64_t target, epoch, done;
	uint32_t phase; /* 1: replaying, 2: cleaning up */
};

/* ---- small file helpers ---------------------------------------------------------- */

static int write_all(int fd, const void *p, size_t n, off_t at)
{
	const uint8_t *b = p;

	while (n) {
		ssize_t w = pwrite(fd, b, n, at);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		b += w;
		n -= (size_t)w;
		at += w;
	}
	return 0;
}

static int read_all(int fd, void *p, size_t n, off_t at)
{
	uint8_t *b = p;

	while (n) {
		ssize_t r = pread(fd, b, n, at);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -errno : -ENODATA;
		b += r;
		n -= (size_t)r;
		at += r;
	}
	return 0;
}

/* Write name in dfd durably: temporary file, fsync, rename, fsync of dfd. */
static int write_durable(int dfd, const char *name, const void *p, size_t n)
{
	char tmp[96];
	int fd, rc;

	snprintf(tmp, sizeof(tmp), "%s.tmp", name);
	fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	rc = write_all(fd, p, n, 0);
	if (!rc && fsync(fd) < 0)
		rc = -errno;
	close(fd);
	if (!rc && renameat(dfd, tmp, dfd, name) < 0)
		rc = -errno;
	if (!rc && fsync(dfd) < 0)
		rc = -errno;
	if (rc)
		unlinkat(dfd, tmp, 0);
	return rc;
}

/* syncfs of the export's file system (root_fd is O_PATH, which syncfs
 * refuses). 0 or -errno. */
static int sync_root(int root_fd)
{
	int fd = openat(root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;

	if (fd < 0)
		return -errno;
	if (syncfs(fd) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

/* A directory stream of its own on dfd (a dup would share dfd's offset). */
static DIR *opendir_fd(int dfd)
{
	int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;

	if (!d && fd >= 0)
		close(fd);
	return d;
}

/* rm -r of name in dfd (never follows symlinks). */
static int remove_tree(int dfd, const char *name)
{
	struct stat st;
	DIR *d;
	struct dirent *e;
	int fd, rc = 0;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISDIR(st.st_mode))
		return unlinkat(dfd, name, 0) < 0 && errno != ENOENT ? -errno : 0;
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while ((e = readdir(d)) != NULL) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (remove_tree(dirfd(d), e->d_name) < 0)
			rc = -EIO;
	}
	closedir(d);
	if (unlinkat(dfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		rc = -errno;
	return rc;
}

/* "prefix<number>suffix" -> number (> 0), else 0. */
static uint64_t name_num(const char *name, const char *prefix, const char *suffix)
{
	size_t pl = strlen(prefix), sl = strlen(suffix), nl = strlen(name);
	uint64_t v = 0;

	if (nl <= pl + sl || strncmp(name, prefix, pl) || strcmp(name + nl - sl, suffix))
		return 0;
	for (size_t i = pl; i < nl - sl; i++) {
		if (name[i] < '0' || name[i] > '9' || v > (UINT64_MAX - 9) / 10 || (i == pl && name[i] == '0'))
			return 0;
		v = v * 10 + (uint64_t)(name[i] - '0');
	}
	return v;
}

static void gen_name(char *b, size_t cap, uint64_t g, const char *suffix)
{
	snprintf(b, cap, "gen-%" PRIu64 ".ckpt%s", g, suffix);
}

/* ---- the store ---------------------------------------------------------------------- */

static int fd_real(int fd, char *out, size_t cap)
{
	char lnk[40];
	ssize_t n;

	snprintf(lnk, sizeof(lnk), "/proc/self/fd/%d", fd);
	n = readlink(lnk, out, cap - 1);
	if (n <= 0 || (size_t)n >= cap - 1)
		return -1;
	out[n] = '\0';
	return 0;
}

static struct srv_job *job_get(struct srv_store *st, const char *name);
static void job_lock_load(struct srv_job *j);

int srv_store_open(struct srv_store **out, const char *state_dir, int root_fd, char *err,
		   size_t errcap)
{
	struct srv_store *st = calloc(1, sizeof(*st));
	size_t rl;
	DIR *d;
	struct dirent *e;

	*out = NULL;
	if (st)
		st->keep = 2;
	if (!st) {
		snprintf(err, errcap, "out of memory");
		return -1;
	}
	st->root_fd = root_fd;
	pthread_mutex_init(&st->lock, NULL);
	if (mkdir(state_dir, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errcap, "--state-dir %s: cannot create: %s", state_dir, strerror(errno));
		goto fail;
	}
	st->dir_fd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (st->dir_fd < 0) {
		snprintf(err, errcap, "--state-dir %s: %s", state_dir, strerror(errno));
		goto fail;
	}
	if (fd_real(st->dir_fd, st->dir_real, sizeof(st->dir_real)) < 0 ||
	    fd_real(root_fd, st->root_real, sizeof(st->root_real)) < 0) {
		snprintf(err, errcap, "--state-dir %s: cannot tell its real path", state_dir);
		goto fail;
	}
	rl = strlen(st->root_real);
	if (!strcmp(st->dir_real, st->root_real)) {
		snprintf(err, errcap, "--state-dir %s is the export root itself; use a directory "
			 "inside it or elsewhere", state_dir);
		goto fail;
	}
	if (!strncmp(st->dir_real, st->root_real, rl) &&
	    (st->dir_real[rl] == '/' || (rl == 1 && st->root_real[0] == '/'))) {
		struct stat ps;
		char parent[sizeof(st->dir_real)];
		char *slash;

		snprintf(st->hidden, sizeof(st->hidden), "%s", st->dir_real + (rl == 1 ? 1 : rl + 1));
		snprintf(parent, sizeof(parent), "%s", st->dir_real);
		slash = strrchr(parent, '/');
		snprintf(st->hide_name, sizeof(st->hide_name), "%s", slash + 1);
		if (slash == parent)
			slash[1] = '\0';
		else
			*slash = '\0';
		if (stat(parent, &ps) == 0) {
			st->hide_dev = ps.st_dev;
			st->hide_ino = ps.st_ino;
		}
	}
	fchmod(st->dir_fd, 0700);
	/* finish the rollbacks a previous run was killed in */
	d = opendir_fd(st->dir_fd);
	while (d && (e = readdir(d)) != NULL) {
		char m[sizeof(e->d_name) + 16];
		struct srv_job *j;

		if (wire_job_check(e->d_name, (uint32_t)strlen(e->d_name)))
			continue;
		snprintf(m, sizeof(m), "%s/" MARKER, e->d_name);
		if (faccessat(st->dir_fd, m, F_OK, 0) < 0)
			continue;
		srv_info("job %s: a rollback was interrupted; finishing it", e->d_name);
		j = job_get(st, e->d_name);
		if (j) {
			job_lock_load(j);
			pthread_mutex_unlock(&j->lock);
		}
	}
	if (d)
		closedir(d);
	*out = st;
	return 0;
fail:
	if (st->dir_fd > 0)
		close(st->dir_fd);
	pthread_mutex_destroy(&st->lock);
	free(st);
	return -1;
}

static void prep_discard(struct srv_job *j)
{
	char name[64];

	if (j->prep_fd >= 0) {
		close(j->prep_fd);
		gen_name(name, sizeof(name), j->prep_gen, ".tmp");
		if (j->dir_fd >= 0)
			unlinkat(j->dir_fd, name, 0);
	}
	j->prep_fd = -1;
	j->prep_gen = j->prep_total = j->prep_received = 0;
	j->prep_failed = 0;
	j->prep_owner = NULL;
}

void srv_store_close(struct srv_store *st)
{
	struct srv_job *j, *next;

	if (!st)
		return;
	for (j = st->jobs; j; j = next) {
		next = j->next;
		prep_discard(j);
		srv_undo_epoch_close(j);
		if (j->dir_fd >= 0)
			close(j->dir_fd);
		free(j->gens);
		XXH64_freeState(j->prep_hash);
		pthread_mutex_destroy(&j->lock);
		free(j);
	}
	close(st->dir_fd);
	pthread_mutex_destroy(&st->lock);
	free(st);
}

const char *srv_store_hidden(const struct srv_store *st)
{
	return st && st->hidden[0] ? st->hidden : NULL;
}

int srv_store_fd_hidden(const struct srv_store *st, int fd)
{
	char p[2 * SRV_PATH_BUF];
	size_t n;

	if (!st || !st->hidden[0] || fd_real(fd, p, sizeof(p)) < 0)
		return 0;
	n = strlen(st->dir_real);
	return !strncmp(p, st->dir_real, n) && (p[n] == '\0' || p[n] == '/');
}

int srv_store_hides_in(const struct srv_store *st, dev_t dev, ino_t ino, const char **name)
{
	if (!st || !st->hidden[0] || st->hide_dev != dev || st->hide_ino != ino)
		return 0;
	*name = st->hide_name;
	return 1;
}

/* ---- jobs --------------------------------------------------------------------------------- */

static struct srv_job *job_get(struct srv_store *st, const char *name)
{
	struct srv_job *j;

	pthread_mutex_lock(&st->lock);
	for (j = st->jobs; j; j = j->next)
		if (!strcmp(j->name, name))
			break;
	if (!j && (j = calloc(1, sizeof(*j))) != NULL) {
		j->store = st;
		snprintf(j->name, sizeof(j->name), "%s", name);
		pthread_mutex_init(&j->lock, NULL);
		j->dir_fd = j->prep_fd = j->journal_fd = j->aside_fd = -1;
		j->prep_hash = XXH64_createState();
		if (!j->prep_hash) {
			pthread_mutex_destroy(&j->lock);
			free(j);
			j = NULL;
		} else {
			j->next = st->jobs;
			st->jobs = j;
		}
	}
	if (j)
		j->refs++;
	pthread_mutex_unlock(&st->lock);
	return j;
}

static struct srv_gen_entry *gen_find(struct srv_job *j, uint64_t g)
{
	for (size_t i = 0; i < j->ngens; i++)
		if (j->gens[i].gen == g)
			return &j->gens[i];
	return NULL;
}

static int gen_add(struct srv_job *j, const struct srv_gen_entry *e)
{
	size_t i;

	if (j->ngens == j->gens_cap) {
		size_t n = j->gens_cap ? j->gens_cap * 2 : 8;
		struct srv_gen_entry *v = realloc(j->gens, n * sizeof(*v));

		if (!v)
			return -ENOMEM;
		j->gens = v;
		j->gens_cap = n;
	}
	for (i = j->ngens; i > 0 && j->gens[i - 1].gen > e->gen; i--)
		j->gens[i] = j->gens[i - 1];
	j->gens[i] = *e;
	j->ngens++;
	return 0;
}

static void gen_del(struct srv_job *j, uint64_t g)
{
	for (size_t i = 0; i < j->ngens; i++) {
		if (j->gens[i].gen != g)
			continue;
		memmove(&j->gens[i], &j->gens[i + 1], (j->ngens - i - 1) * sizeof(j->gens[0]));
		j->ngens--;
		return;
	}
}

/* The newest generation number the job has used (files or epochs). */
static uint64_t newest_gen(const struct srv_job *j)
{
	uint64_t g = j->epoch;

	if (j->ngens && j->gens[j->ngens - 1].gen > g)
		g = j->gens[j->ngens - 1].gen;
	return g;
}

/* Create and open the job's directory if it is not yet. */
static int job_dir(struct srv_job *j, int create)
{
	if (j->dir_fd >= 0)
		return 0;
	if (create && mkdirat(j->store->dir_fd, j->name, 0700) < 0 && errno != EEXIST)
		return -errno;
	j->dir_fd = openat(j->store->dir_fd, j->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (j->dir_fd < 0)
		return -errno;
	if (create)
		fsync(j->store->dir_fd);
	snprintf(j->dir_real, sizeof(j->dir_real), "%s/%s", j->store->dir_real, j->name);
	return 0;
}

/* Read the header of a joint file for the generation list. */
static void gen_from_file(struct srv_job *j, uint64_t g, struct srv_gen_entry *e)
{
	char name[64];
	uint8_t pre[WIRE_CKF_PREFIX], *hdr = NULL;
	struct wire_ckf_header h;
	uint32_t hs;
	uint64_t fs;
	struct stat st;
	int fd;

	memset(e, 0, sizeof(*e));
	e->gen = g;
	e->state = g == j->committed ? WIRE_GEN_COMMITTED : WIRE_GEN_PREPARED;
	gen_name(name, sizeof(name), g, "");
	fd = openat(j->dir_fd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0)
		goto out;
	e->file_size = (uint64_t)st.st_size;
	if (read_all(fd, pre, sizeof(pre), 0) || wire_ckf_prefix(pre, sizeof(pre), &hs, &fs))
		goto out;
	hdr = malloc(hs);
	if (hdr && !read_all(fd, hdr, hs, 0) &&
	    !wire_ckf_parse_header(hdr, hs, (uint64_t)st.st_size, &h)) {
		const struct wire_ckf_section *s = wire_ckf_find(&h, WIRE_CKF_CLIENT_IMAGE);

		e->image_size = s->length;
		e->image_xxh64 = s->xxh64;
	} else {
		srv_warn("job %s: %s does not parse; it is listed but cannot be restored", j->name,
			 name);
	}
out:
	free(hdr);
	if (fd >= 0)
		close(fd);
}

static int marker_read(struct srv_job *j, struct marker *m)
{
	uint8_t b[MARKER_SIZE];
	struct wire_rd r;
	int fd = openat(j->dir_fd, MARKER, O_RDONLY | O_CLOEXEC), rc;

	if (fd < 0)
		return -errno;
	rc = read_all(fd, b, sizeof(b), 0);
	close(fd);
	if (rc)
		return rc;
	if (memcmp(b, marker_magic, 8))
		return -EBADMSG;
	wire_rd_init(&r, b + 8, sizeof(b) - 8);
	m->target = wire_get_u64(&r);
	m->epoch = wire_get_u64(&r);
	m->done = wire_get_u64(&r);
	m->phase = wire_get_u32(&r);
	return (m->phase == 1 || m->phase == 2) && m->target ? 0 : -EBADMSG;
}

static int marker_write(struct srv_job *j, const struct marker *m)
{
	uint8_t b[MARKER_SIZE];
	struct wire_wr w;

	wire_wr_init(&w, b, sizeof(b));
	wire_put_bytes(&w, marker_magic, 8);
	wire_put_u64(&w, m->target);
	wire_put_u64(&w, m->epoch);
	wire_put_u64(&w, m->done);
	wire_put_u32(&w, m->phase);
	return write_durable(j->dir_fd, MARKER, b, sizeof(b));
}

static int rollback_run(struct srv_job *j, struct marker *m, char *why, size_t cap);

/* Lock the job and read its state from disk the first time. */
static void job_lock_load(struct srv_job *j)
{
	struct marker m;
	uint64_t max_epoch = 0;
	DIR *d;
	struct dirent *e;
	int fd;

	pthread_mutex_lock(&j->lock);
	if (j->loaded)
		return;
	j->loaded = 1;
	if (job_dir(j, 0) < 0)
		return; /* nothing stored yet */
	{
		uint8_t b[16];
		struct wire_rd r;

		fd = openat(j->dir_fd, COMMITTED, O_RDONLY | O_CLOEXEC);
		if (fd >= 0 && !read_all(fd, b, sizeof(b), 0) && !memcmp(b, committed_magic, 8)) {
			wire_rd_init(&r, b + 8, 8);
			j->committed = wire_get_u64(&r);
		}
		if (fd >= 0)
			close(fd);
	}
	d = opendir_fd(j->dir_fd);
	while (d && (e = readdir(d)) != NULL) {
		uint64_t g;

		if ((g = name_num(e->d_name, "gen-", ".ckpt")) != 0) {
			struct srv_gen_entry ge;

			gen_from_file(j, g, &ge);
			gen_add(j, &ge);
		} else if (name_num(e->d_name, "gen-", ".ckpt.tmp")) {
			unlinkat(j->dir_fd, e->d_name, 0); /* a checkpoint that never finished */
		} else if ((g = name_num(e->d_name, "epoch-", "")) != 0 && g > max_epoch) {
			max_epoch = g;
		}
	}
	if (d)
		closedir(d);
	if (marker_read(j, &m) == 0) {
		char why[256];

		srv_info("job %s: resuming the rollback to generation %" PRIu64, j->name, m.target);
		if (rollback_run(j, &m, why, sizeof(why)) < 0)
			srv_error("job %s: the interrupted rollback cannot finish: %s", j->name, why);
		return;
	}
	if (max_epoch) {
		char why[256];

		if (srv_undo_epoch_start(j, max_epoch, why, sizeof(why)) < 0)
			srv_error("job %s: %s; its changes are refused", j->name, why);
	}
}

struct srv_job *srv_job_attach(struct srv_store *st, const char *name, uint32_t len)
{
	char n[WIRE_MAX_JOB + 1];
	struct srv_job *j;

	if (!st || wire_job_check(name, len)) {
		errno = EINVAL;
		return NULL;
	}
	memcpy(n, name, len);
	n[len] = '\0';
	j = job_get(st, n);
	if (!j) {
		errno = ENOMEM;
		return NULL;
	}
	job_lock_load(j);
	pthread_mutex_unlock(&j->lock);
	return j;
}

void srv_job_detach(struct srv_job *j, uint32_t handles_left, const void *owner)
{
	if (!j)
		return;
	pthread_mutex_lock(&j->lock);
	j->handles -= handles_left < j->handles ? handles_left : j->handles;
	if (j->prep_fd >= 0 && j->prep_owner == owner) {
		srv_warn("job %s: the session preparing generation %" PRIu64 " ended before CKPT_DONE;"
			 " its image is discarded", j->name, j->prep_gen);
		prep_discard(j);
	}
	pthread_mutex_unlock(&j->lock);
	pthread_mutex_lock(&j->store->lock);
	j->refs--;
	pthread_mutex_unlock(&j->store->lock);
}

/* ---- replies -------------------------------------------------------------------------------- */

static int reply_err(struct srv_session *s, const struct wire_hdr *h, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int reply_err(struct srv_session *s, const struct wire_hdr *h, int err, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	srv_session_reply_error(s, h, err, msg);
	return 0;
}

static int reply_len(struct srv_session *s, const struct wire_hdr *h, long n)
{
	if (n < 0) {
		srv_session_log(s, SRV_LOG_ERROR, "cannot encode the %s reply: %s",
				wire_type_name(h->type), wire_strerror((int)n));
		srv_session_reply_error(s, h, EIO, "server could not encode the reply");
		return 0;
	}
	s->out_len = (size_t)n;
	return 0;
}

/* ---- CKPT_PREPARE ------------------------------------------------------------------------------ */

/* An image over --max-ckpt-bytes: the error reply EFBIG, the prepared part
 * discarded (its disk space back at once), and the generation remembered so
 * that the chunks already on their way and its CKPT_DONE get EFBIG too
 * rather than a puzzling ENOENT. The session is not disconnected, although
 * other broken limits end it: a checkpoint travels on the session that
 * serves the program's open files, which must not be cut because its
 * memory grew; the shim reports the checkpoint failed and the program runs
 * on (PROTOCOL.md 4.4). */
static int refuse_big(struct srv_session *s, struct srv_job *j, const struct wire_hdr *h,
		      uint64_t gen, uint64_t bytes, const char *what)
{
	uint64_t max = s->cfg->max_ckpt_bytes;

	srv_session_log(s, SRV_LOG_WARN, "job %s: the image of generation %" PRIu64 " %s %" PRIu64
			" bytes, over the limit %" PRIu64 " (--max-ckpt-bytes); refused with EFBIG, "
			"image discarded", j->name, gen, what, bytes, max);
	prep_discard(j);
	j->prep_refused = gen;
	return reply_err(s, h, EFBIG, "checkpoint image of %" PRIu64 " bytes or more is over the "
			 "server's limit of %" PRIu64 " bytes per job (--max-ckpt-bytes)", bytes, max);
}

static int op_prepare(struct srv_session *s, struct srv_job *j, const struct wire_hdr *h,
		      const uint8_t *p, size_t len)
{
	struct wire_ckpt_prepare m;
	char name[64];
	int rc = wire_dec_ckpt_prepare(p, len, &m);

	if (rc)
		return rc;
	if (m.offset == 0)
		j->prep_refused = 0;
	else if (m.gen == j->prep_refused && (j->prep_fd < 0 || j->prep_gen != m.gen))
		return reply_err(s, h, EFBIG, "generation %" PRIu64 " was refused: its image is over "
				 "the server's limit of %" PRIu64 " bytes per job (--max-ckpt-bytes)",
				 m.gen, s->cfg->max_ckpt_bytes);
	if (m.offset == 0) {
		if (m.gen <= newest_gen(j))
			return reply_err(s, h, EINVAL, "generation %" PRIu64 " is not newer than %" PRIu64,
					 m.gen, newest_gen(j));
		prep_discard(j);
		/* an announced total over the limit: refused before any byte is stored */
		if (s->cfg->max_ckpt_bytes && m.total != WIRE_CKPT_TOTAL_UNKNOWN &&
		    m.total > s->cfg->max_ckpt_bytes)
			return refuse_big(s, j, h, m.gen, m.total, "announces");
		rc = job_dir(j, 1);
		if (rc < 0)
			return reply_err(s, h, -rc, "cannot create the job's store: %s", strerror(-rc));
		gen_name(name, sizeof(name), m.gen, ".tmp");
		j->prep_fd = openat(j->dir_fd, name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (j->prep_fd < 0)
			return reply_err(s, h, errno, "cannot create %s: %s", name, strerror(errno));
		j->prep_gen = m.gen;
		j->prep_owner = s;
		j->prep_total = m.total;
		j->prep_received = 0;
		j->prep_failed = 0;
		XXH64_reset(j->prep_hash, 0);
	} else if (j->prep_fd < 0 || j->prep_gen != m.gen) {
		return reply_err(s, h, ENOENT, "no image of generation %" PRIu64 " is being prepared "
				 "(the first chunk has offset 0)", m.gen);
	} else if (m.offset != j->prep_received || m.total != j->prep_total) {
		j->prep_failed = 1;
		return reply_err(s, h, EINVAL, "chunk at %" PRIu64 " of %" PRIu64 " out of order: %"
				 PRIu64 " of %" PRIu64 " received", m.offset, m.total,
				 j->prep_received, j->prep_total);
	}
	if (j->prep_failed)
		return reply_err(s, h, EIO, "an earlier chunk of generation %" PRIu64 " failed", m.gen);
	if (s->cfg->max_ckpt_bytes && m.offset + m.data.len > s->cfg->max_ckpt_bytes)
		return refuse_big(s, j, h, m.gen, m.offset + m.data.len, "reaches");
	rc = write_all(j->prep_fd, m.data.p, m.data.len, (off_t)(WIRE_CKF_HEADER_SIZE + m.offset));
	if (rc < 0) {
		j->prep_failed = 1;
		srv_session_log(s, SRV_LOG_WARN, "job %s: writing the image of generation %" PRIu64
				" failed: %s", j->name, m.gen, strerror(-rc));
		return reply_err(s, h, -rc, "cannot store the image: %s", strerror(-rc));
	}
	/* Write-back starts now, while the rest of the image comes: the fsync
	 * at CKPT_DONE then has little left to wait for, instead of the whole
	 * image (buffered ext4 holds it all in the page cache until then). */
	sync_file_range(j->prep_fd, (off_t)(WIRE_CKF_HEADER_SIZE + m.offset), (off_t)m.data.len,
			SYNC_FILE_RANGE_WRITE);
	XXH64_update(j->prep_hash, m.data.p, m.data.len);
	j->prep_received += m.data.len;
	return reply_len(s, h, wire_enc_empty(s->out, s->out_cap, h->type, WIRE_F_REPLY, h->id));
}

/* ---- CKPT_DONE ---------------------------------------------------------------------------------- */

/* The SERVER_STATE section: the session's open files, then every file the
 * job changed in the ending epoch. Returns its length in *out (malloc'd). */
static long build_state(struct srv_session *s, struct srv_job *j, uint64_t g, uint8_t **out)
{
	struct wire_ckf_state_builder b;
	size_t cap = 64 * 1024;
	uint8_t *buf = NULL;
	uint64_t prev = j->ngens ? j->gens[j->ngens - 1].gen : 0;

	for (;;) {
		uint8_t *nb = realloc(buf, cap);
		int full = 0;

		if (!nb) {
			free(buf);
			return -ENOMEM;
		}
		buf = nb;
		wire_ckf_state_begin(&b, buf, cap, g, prev);
		for (uint32_t i = 0; i < s->handles.nslots && !full; i++) {
			struct srv_handle *hd = &s->handles.slot[i];
			struct wire_ckf_file f;
			char path[SRV_PATH_BUF];
			struct stat st;
			int base;

			if (hd->fd < 0 || fstat(hd->fd, &st) < 0)
				continue;
			if (srv_undo_fd_path(j, s->cfg->root_fd, hd->fd, &base, path, sizeof(path)) < 0 ||
			    base != 0)
				continue; /* unlinked while open: no path to restore at */
			memset(&f, 0, sizeof(f));
			f.flags = WIRE_CKF_FILE_OPEN;
			f.path = (struct wire_str){ path, (uint32_t)strlen(path) };
			f.ino = (uint64_t)st.st_ino;
			f.mode = wire_mode_from_host(st.st_mode);
			f.size = (uint64_t)st.st_size;
			f.uid = (uint32_t)st.st_uid;
			f.gid = (uint32_t)st.st_gid;
			f.mtime_sec = (int64_t)st.st_mtim.tv_sec;
			f.mtime_nsec = (uint32_t)st.st_mtim.tv_nsec;
			f.open_flags = hd->wflags;
			if (wire_ckf_state_add(&b, &f) == WIRE_ENOSPC)
				full = 1;
		}
		for (size_t i = 0; i < j->nino_slots && !full; i++) {
			struct srv_undo_ino *e = &j->inos[i];
			struct wire_ckf_file f;
			struct stat st;
			int fd;

			if (!e->ino || !e->changed || !e->path)
				continue;
			fd = srv_resolve_open(s->cfg->root_fd, e->path, O_PATH | O_NOFOLLOW, 0);
			if (fd < 0)
				continue;
			if (fstat(fd, &st) == 0 && (uint64_t)st.st_ino == e->ino) {
				memset(&f, 0, sizeof(f));
				f.flags = WIRE_CKF_FILE_CHANGED;
				f.path = (struct wire_str){ e->path, (uint32_t)strlen(e->path) };
				f.ino = e->ino;
				f.mode = wire_mode_from_host(st.st_mode);
				f.size = S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;
				f.uid = (uint32_t)st.st_uid;
				f.gid = (uint32_t)st.st_gid;
				f.mtime_sec = (int64_t)st.st_mtim.tv_sec;
				f.mtime_nsec = (uint32_t)st.st_mtim.tv_nsec;
				if (wire_ckf_state_add(&b, &f) == WIRE_ENOSPC)
					full = 1;
			}
			close(fd);
		}
		if (!full) {
			long n = wire_ckf_state_end(&b);

			if (n < 0) {
				free(buf);
				return -EIO;
			}
			*out = buf;
			return n;
		}
		if (cap >= STATE_MAX) {
			free(buf);
			return -EFBIG;
		}
		cap *= 2;
	}
}

/* fsync every open file of the session, then the whole file system of the
 * export (the job's other sessions, and the files it changed and closed). */
static int sync_files(struct srv_session *s, char *why, size_t cap)
{
	for (uint32_t i = 0; i < s->handles.nslots; i++) {
		struct srv_handle *hd = &s->handles.slot[i];

		if (hd->fd < 0 || hd->opath)
			continue;
		if (fsync(hd->fd) < 0 && errno != EINVAL && errno != EROFS) {
			snprintf(why, cap, "fsync of '%s' failed: %s", hd->path, strerror(errno));
			return -errno;
		}
	}
	{
		int rc = sync_root(s->cfg->root_fd);

		if (rc < 0) {
			snprintf(why, cap, "syncfs of the export failed: %s", strerror(-rc));
			return rc;
		}
	}
	return 0;
}

static int op_done(struct srv_session *s, struct srv_job *j, const struct wire_hdr *h,
		   const uint8_t *p, size_t len)
{
	struct wire_ckpt_done m;
	struct wire_ckpt_done_reply r;
	struct wire_ckf_header hd;
	struct srv_gen_entry ge;
	struct timespec now;
	uint8_t *state = NULL, *hdr = NULL, trailer[WIRE_CKF_TRAILER];
	char tmp[64], name[64], why[512] = "";
	uint64_t sum, state_off;
	long slen;
	int rc = wire_dec_ckpt_done(p, len, &m), err = 0;

	if (rc)
		return rc;
	if ((j->prep_fd < 0 || j->prep_gen != m.gen) && m.gen == j->prep_refused)
		return reply_err(s, h, EFBIG, "generation %" PRIu64 " was refused: its image is over "
				 "the server's limit of %" PRIu64 " bytes per job (--max-ckpt-bytes)",
				 m.gen, s->cfg->max_ckpt_bytes);
	if (j->prep_fd < 0 || j->prep_gen != m.gen)
		return reply_err(s, h, ENOENT, "no image of generation %" PRIu64 " was prepared", m.gen);
	if (j->prep_failed) {
		prep_discard(j);
		return reply_err(s, h, EIO, "storing the image of generation %" PRIu64 " failed", m.gen);
	}
	if (m.total != j->prep_received ||
	    (j->prep_total != WIRE_CKPT_TOTAL_UNKNOWN && j->prep_total != m.total)) {
		uint64_t got = j->prep_received, want = j->prep_total;

		prep_discard(j);
		return reply_err(s, h, EINVAL, "image of generation %" PRIu64 ": %" PRIu64 " bytes "
				 "received, %" PRIu64 " announced, %" PRIu64 " at DONE; discarded",
				 m.gen, got, want, m.total);
	}
	sum = XXH64_digest(j->prep_hash);
	if (sum != m.image_xxh64) {
		prep_discard(j);
		srv_session_log(s, SRV_LOG_WARN, "job %s: image of generation %" PRIu64 " has XXH64 "
				"%016" PRIx64 ", the client says %016" PRIx64 "; discarded", j->name,
				m.gen, sum, m.image_xxh64);
		return reply_err(s, h, EBADMSG, "image checksum mismatch (server %016" PRIx64
				 ", client %016" PRIx64 "); checkpoint discarded", sum, m.image_xxh64);
	}
	if (m.gen <= newest_gen(j)) {
		prep_discard(j);
		return reply_err(s, h, EINVAL, "generation %" PRIu64 " is not newer than %" PRIu64,
				 m.gen, newest_gen(j));
	}

	/* 1. every file of the job on disk */
	err = sync_files(s, why, sizeof(why));
	/* 2. the server state, the trailer and the header, then fsync */
	if (!err) {
		slen = build_state(s, j, m.gen, &state);
		if (slen < 0) {
			err = (int)slen;
			snprintf(why, sizeof(why), "cannot record the server state: %s", strerror(-err));
		}
	}
	state_off = WIRE_CKF_HEADER_SIZE + m.total;
	if (!err) {
		char arch_buf[72];

		memset(&hd, 0, sizeof(hd));
		clock_gettime(CLOCK_REALTIME, &now);
		hd.header_size = WIRE_CKF_HEADER_SIZE;
		hd.file_size = state_off + (uint64_t)slen + WIRE_CKF_TRAILER;
		hd.job = (struct wire_str){ j->name, (uint32_t)strlen(j->name) };
		hd.gen = m.gen;
		hd.created_sec = (int64_t)now.tv_sec;
		hd.created_nsec = (uint32_t)now.tv_nsec;
		hd.client_arch = (struct wire_str){ s->client_arch, (uint32_t)strlen(s->client_arch) };
		if (hd.client_arch.len > WIRE_CKF_MAX_ARCH)
			hd.client_arch.len = WIRE_CKF_MAX_ARCH;
		hd.client_byte_order = s->client_byte_order;
		hd.client_page_size = s->client_page_size;
		snprintf(arch_buf, sizeof(arch_buf), "%s", srv_session_arch());
		hd.server_arch = (struct wire_str){ arch_buf, (uint32_t)strlen(arch_buf) };
		hd.server_byte_order = HOST_BO;
		hd.server_page_size = (uint32_t)sysconf(_SC_PAGESIZE);
		hd.nsections = 2;
		hd.sect[0] = (struct wire_ckf_section){ WIRE_CKF_CLIENT_IMAGE, 0, WIRE_CKF_HEADER_SIZE,
							m.total, sum };
		hd.sect[1] = (struct wire_ckf_section){ WIRE_CKF_SERVER_STATE, 0, state_off,
							(uint64_t)slen, XXH64(state, (size_t)slen, 0) };
		hdr = malloc(WIRE_CKF_HEADER_SIZE);
		if (!hdr || wire_ckf_build_header(hdr, WIRE_CKF_HEADER_SIZE, &hd) < 0) {
			err = -EIO;
			snprintf(why, sizeof(why), "cannot build the joint file header");
		}
	}
	if (!err) {
		wire_ckf_build_trailer(trailer, hdr, &hd);
		err = write_all(j->prep_fd, state, (size_t)slen, (off_t)state_off);
		if (!err)
			err = write_all(j->prep_fd, trailer, sizeof(trailer),
					(off_t)(state_off + (uint64_t)slen));
		if (!err)
			err = write_all(j->prep_fd, hdr, WIRE_CKF_HEADER_SIZE, 0);
		if (!err && fsync(j->prep_fd) < 0)
			err = -errno;
		if (err)
			snprintf(why, sizeof(why), "writing the joint file failed: %s", strerror(-err));
	}
	/* 3. the new undo epoch, durable before anyone may change a file */
	if (!err)
		err = srv_undo_epoch_start(j, m.gen, why, sizeof(why));
	/* 4. into place, durably */
	gen_name(tmp, sizeof(tmp), m.gen, ".tmp");
	gen_name(name, sizeof(name), m.gen, "");
	if (!err && renameat(j->dir_fd, tmp, j->dir_fd, name) < 0) {
		err = -errno;
		snprintf(why, sizeof(why), "rename into place failed: %s", strerror(errno));
	}
	if (!err && fsync(j->dir_fd) < 0) {
		err = -errno;
		snprintf(why, sizeof(why), "fsync of the job directory failed: %s", strerror(errno));
	}
	free(state);
	free(hdr);
	if (err) {
		prep_discard(j);
		srv_session_log(s, SRV_LOG_WARN, "job %s: checkpoint %" PRIu64 " failed: %s", j->name,
				m.gen, why);
		return reply_err(s, h, -err, "checkpoint failed: %s", why);
	}
	close(j->prep_fd);
	j->prep_fd = -1;
	j->prep_gen = 0;
	memset(&ge, 0, sizeof(ge));
	ge.gen = m.gen;
	ge.state = WIRE_GEN_PREPARED;
	ge.image_size = m.total;
	ge.image_xxh64 = sum;
	ge.file_size = hd.file_size;
	gen_add(j, &ge);
	srv_session_log(s, SRV_LOG_INFO, "job %s: generation %" PRIu64 " written (%" PRIu64
			" bytes, image %" PRIu64 ")", j->name, m.gen, hd.file_size, m.total);
	r.gen = m.gen;
	r.file_size = hd.file_size;
	return reply_len(s, h, wire_enc_ckpt_done_reply(s->out, s->out_cap, h->id, &r));
}

/* ---- CKPT_COMMIT, CKPT_ABORT --------------------------------------------------------------------- */

/* Remove the generations and epochs below g. */
static void drop_below(struct srv_job *j, uint64_t g)
{
	DIR *d;
	struct dirent *e;
	d = opendir_fd(j->dir_fd);
	while (d && (e = readdir(d)) != NULL) {
		uint64_t k;

		if ((k = name_num(e->d_name, "gen-", ".ckpt")) != 0 && k < g) {
			unlinkat(j->dir_fd, e->d_name, 0);
			gen_del(j, k);
		} else if ((k = name_num(e->d_name, "epoch-", "")) != 0 && k < g) {
			if (remove_tree(j->dir_fd, e->d_name) < 0)
				srv_warn("job %s: cannot remove %s", j->name, e->d_name);
		}
	}
	if (d)
		closedir(d);
	fsync(j->dir_fd);
}

static int op_commit(struct srv_session *s, struct srv_job *j, const struct wire_hdr *h,
		     const uint8_t *p, size_t len)
{
	struct srv_gen_entry *ge;
	struct wire_gen m;
	uint8_t b[16];
	struct wire_wr w;
	int rc = wire_dec_gen(p, len, &m);

	if (rc)
		return rc;
	ge = gen_find(j, m.gen);
	if (!ge)
		return reply_err(s, h, ENOENT, "job %s has no generation %" PRIu64, j->name, m.gen);
	wire_wr_init(&w, b, sizeof(b));
	wire_put_bytes(&w, committed_magic, 8);
	wire_put_u64(&w, m.gen);
	rc = write_durable(j->dir_fd, COMMITTED, b, sizeof(b));
	if (rc < 0)
		return reply_err(s, h, -rc, "cannot record the commit: %s", strerror(-rc));
	ge->state = WIRE_GEN_COMMITTED;
	j->committed = m.gen;
	/* Keep the st->keep newest generations up to this one, so that a
	 * joint file found corrupt at restart still leaves an older one. */
	{
		size_t i = (size_t)(ge - j->gens), keep = j->store->keep ? j->store->keep : 1;

		if (i + 1 >= keep)
			drop_below(j, j->gens[i + 1 - keep].gen);
	}
	return reply_len(s, h, wire_enc_empty(s->out, s->out_cap, h->type, WIRE_F_REPLY, h->id));
}

static int op_abort(struct srv_session *s, struct srv_job *j, const struct wire_hdr *h,
		    const uint8_t *p, size_t len)
{
	struct srv_gen_entry *ge;
	struct wire_gen m;
	char name[64];
	int rc = wire_dec_gen(p, len, &m), found = 0;

	if (rc)
		return rc;
	if (j->prep_fd >= 0 && j->prep_gen == m.gen) {
		prep_discard(j);
		found = 1;
	}
	ge = gen_find(j, m.gen);
	if (ge) {
		if (ge->state == WIRE_GEN_COMMITTED)
			return reply_err(s, h, EINVAL, "generation %" PRIu64 " is committed", m.gen);
		/* The file goes; its epoch stays in the chain, so a rollback to
		 * an older generation still undoes everything since then. */
		gen_name(name, sizeof(name), m.gen, "");
		if (unlinkat(j->dir_fd, name, 0) < 0 && errno != ENOENT)
			return reply_err(s, h, errno, "cannot remove %s: %s", name, strerror(errno));
		fsync(j->dir_fd);
		gen_del(j, m.gen);
		found = 1;
	}
	if (!found)
		return reply_err(s, h, ENOENT, "job %s has no generation %" PRIu64, j->name, m.gen);
	return reply_len(s, h, wire_enc_empty(s->out, s->out_cap, h->type, WIRE_F_REPLY, h->id));
}

/* ---- ROLLBACK_QUERY, IMAGE_READ ------------------------------------------------------------------- */

static int op_query(struct srv_session *s, struct srv_job *j, const struct wire_hdr *h,
		    const uint8_t *p, size_t len)
{
	struct wire_gen_info *v;
	uint32_t n = 0;
	int rc = wire_dec_empty(p, len);
	long out;

	if (rc)
		return rc;
	v = calloc(j->ngens ? j->ngens : 1, sizeof(*v));
	if (!v)
		return reply_err(s, h, ENOMEM, "out of memory");
	for (size_t i = 0; i < j->ngens && n < WIRE_GEN_INFO_MAX; i++) {
		v[n].gen = j->gens[i].gen;
		v[n].state = j->gens[i].state;
		v[n].image_size = j->gens[i].image_size;
		n++;
	}
	if (srv_session_reserve(s, WIRE_HDR_SIZE + 4 + (size_t)n * WIRE_GEN_INFO_SIZE) < 0) {
		free(v);
		return reply_err(s, h, ENOMEM, "out of memory");
	}
	out = wire_enc_rollback_query_reply(s->out, s->out_cap, h->id, v, n);
	free(v);
	return reply_len(s, h, out);
}

static int op_image_read(struct srv_session *s, struct srv_job *j, const struct wire_hdr *h,
			 const uint8_t *p, size_t len)
{
	struct wire_image_read m;
	struct srv_gen_entry *ge;
	char name[64];
	uint8_t pre[WIRE_CKF_PREFIX], *hdr;
	struct wire_ckf_header ch;
	const struct wire_ckf_section *sec;
	struct stat st;
	uint32_t hs;
	uint64_t fs, count;
	int fd, rc = wire_dec_image_read(p, len, &m);

	if (rc)
		return rc;
	ge = gen_find(j, m.gen);
	if (!ge)
		return reply_err(s, h, ENOENT, "job %s has no generation %" PRIu64, j->name, m.gen);
	gen_name(name, sizeof(name), m.gen, "");
	fd = openat(j->dir_fd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return reply_err(s, h, errno, "cannot open %s: %s", name, strerror(errno));
	/* the section's place comes from the file's own (checked) header */
	rc = fstat(fd, &st) < 0 ? -errno : read_all(fd, pre, sizeof(pre), 0);
	if (!rc)
		rc = wire_ckf_prefix(pre, sizeof(pre), &hs, &fs) ? -EBADMSG : 0;
	hdr = rc ? NULL : malloc(hs);
	if (!rc && (!hdr || read_all(fd, hdr, hs, 0) ||
		    wire_ckf_parse_header(hdr, hs, (uint64_t)st.st_size, &ch)))
		rc = -EBADMSG;
	free(hdr);
	if (rc) {
		close(fd);
		return reply_err(s, h, -rc, "%s: header unreadable or corrupt", name);
	}
	sec = wire_ckf_find(&ch, WIRE_CKF_CLIENT_IMAGE);
	count = m.count;
	if (count > s->out_max - WIRE_DATA_REPLY_HDR)
		count = s->out_max - WIRE_DATA_REPLY_HDR;
	if (m.offset >= sec->length)
		count = 0;
	else if (count > sec->length - m.offset)
		count = sec->length - m.offset;
	if (srv_session_reserve(s, WIRE_DATA_REPLY_HDR + (size_t)count) < 0) {
		close(fd);
		return reply_err(s, h, ENOMEM, "out of memory");
	}
	rc = read_all(fd, s->out + WIRE_DATA_REPLY_HDR, (size_t)count, (off_t)(sec->offset + m.offset));
	close(fd);
	if (rc)
		return reply_err(s, h, EIO, "%s: read failed: %s", name, strerror(-rc));
	wire_enc_data_reply_hdr(s->out, WIRE_IMAGE_READ, h->id, (uint32_t)count);
	s->out_len = WIRE_DATA_REPLY_HDR + (size_t)count;
	return 0;
}

/* ---- ROLLBACK ---------------------------------------------------------------------------------------- */

/* Check the whole joint file of g: header, trailer, every section's
 * checksum. The SERVER_STATE section is returned (malloc'd) for the check
 * after the rollback. 0, or -EBADMSG / -errno with why filled. */
static int verify_gen(struct srv_job *j, uint64_t g, struct wire_ckf_header *hd, uint8_t **state,
		      size_t *state_len, char *why, size_t cap)
{
	char name[64];
	uint8_t pre[WIRE_CKF_PREFIX], trailer[WIRE_CKF_TRAILER], *hdr = NULL, *buf = NULL;
	struct stat st;
	uint32_t hs;
	uint64_t fs;
	int fd, rc;

	*state = NULL;
	gen_name(name, sizeof(name), g, "");
	fd = openat(j->dir_fd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		rc = -errno;
		snprintf(why, cap, "%s: %s", name, strerror(errno));
		goto out;
	}
	/* read failures (short file) and parser verdicts, told apart */
	if (read_all(fd, pre, sizeof(pre), 0)) {
		rc = WIRE_ETRUNC;
	} else if ((rc = wire_ckf_prefix(pre, sizeof(pre), &hs, &fs)) == 0) {
		if ((hdr = malloc(hs)) == NULL) {
			rc = -ENOMEM;
			snprintf(why, cap, "out of memory");
			goto out;
		}
		if (read_all(fd, hdr, hs, 0))
			rc = WIRE_ETRUNC;
		else if ((rc = wire_ckf_parse_header(hdr, hs, (uint64_t)st.st_size, hd)) == 0 &&
			 read_all(fd, trailer, sizeof(trailer), st.st_size - (off_t)sizeof(trailer)))
			rc = WIRE_ETRUNC;
		else if (!rc)
			rc = wire_ckf_check_trailer(trailer, sizeof(trailer), hdr, hd);
	}
	if (rc) {
		snprintf(why, cap, "%s is corrupt: %s", name,
			 rc == WIRE_ETRUNC ? "file truncated" : wire_ckf_strerror(rc));
		rc = -EBADMSG;
		goto out;
	}
	buf = malloc(COPY_BUF);
	if (!buf) {
		rc = -ENOMEM;
		goto out;
	}
	for (uint16_t i = 0; i < hd->nsections && !rc; i++) {
		const struct wire_ckf_section *sec = &hd->sect[i];
		XXH64_state_t xs;
		uint64_t done = 0;

		XXH64_reset(&xs, 0);
		while (done < sec->length && !rc) {
			size_t n = sec->length - done < COPY_BUF ? (size_t)(sec->length - done) : COPY_BUF;

			rc = read_all(fd, buf, n, (off_t)(sec->offset + done));
			XXH64_update(&xs, buf, n);
			done += n;
		}
		if (!rc && XXH64_digest(&xs) != sec->xxh64) {
			snprintf(why, cap, "%s is corrupt: %s (%s section)", name,
				 wire_ckf_strerror(WIRE_CKF_ESECTSUM),
				 sec->type == WIRE_CKF_CLIENT_IMAGE ? "client image" : "server state");
			rc = -EBADMSG;
		} else if (rc) {
			snprintf(why, cap, "%s: read failed: %s", name, strerror(-rc));
		}
		if (!rc && sec->type == WIRE_CKF_SERVER_STATE) {
			struct wire_ckf_state ws;

			if (sec->length > STATE_MAX || !(*state = malloc(sec->length ? sec->length : 1)) ||
			    read_all(fd, *state, (size_t)sec->length, (off_t)sec->offset) ||
			    wire_ckf_state_dec(*state, (size_t)sec->length, &ws)) {
				snprintf(why, cap, "%s is corrupt: %s", name,
					 wire_ckf_strerror(WIRE_CKF_ESTATE));
				rc = -EBADMSG;
			}
			*state_len = (size_t)sec->length;
		}
	}
out:
	if (rc) {
		free(*state);
		*state = NULL;
	}
	free(buf);
	free(hdr);
	if (fd >= 0)
		close(fd);
	return rc;
}

struct progress_ctx {
	struct srv_job *j;
	struct marker *m;
};

static int progress(void *ctx, uint64_t epoch, uint64_t done)
{
	struct progress_ctx *c = ctx;

	/* what was undone so far is on disk before the marker passes it */
	int rc = sync_root(c->j->store->root_fd);

	if (rc < 0)
		return rc;
	c->m->epoch = epoch;
	c->m->done = done;
	return marker_write(c->j, c->m);
}

static int cmp_desc(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? 1 : x > y ? -1 : 0;
}

/* The epochs >= target, newest first. */
static int list_epochs(struct srv_job *j, uint64_t target, uint64_t **out, size_t *n)
{
	DIR *d;
	struct dirent *e;
	uint64_t *v = NULL;
	size_t cnt = 0, cap = 0;
	
	d = opendir_fd(j->dir_fd);
	if (!d)
		return -errno;
	while ((e = readdir(d)) != NULL) {
		uint64_t k = name_num(e->d_name, "epoch-", "");

		if (k < target)
			continue;
		if (cnt == cap) {
			uint64_t *q = realloc(v, (cap ? cap * 2 : 16) * sizeof(*v));

			if (!q) {
				free(v);
				closedir(d);
				return -ENOMEM;
			}
			v = q;
			cap = cap ? cap * 2 : 16;
		}
		v[cnt++] = k;
	}
	closedir(d);
	if (cnt)
		qsort(v, cnt, sizeof(*v), cmp_desc);
	*out = v;
	*n = cnt;
	return 0;
}

/* Run (or resume) the rollback the marker describes, to its end. */
static int rollback_run(struct srv_job *j, struct marker *m, char *why, size_t cap)
{
	struct progress_ctx pc = { j, m };
	uint64_t *ep = NULL;
	size_t n = 0;
	char name[64];
	int rc;

	srv_undo_epoch_close(j);
	if (m->phase == 1) {
		rc = list_epochs(j, m->target, &ep, &n);
		if (rc < 0) {
			snprintf(why, cap, "cannot list the undo epochs: %s", strerror(-rc));
			return rc;
		}
		for (size_t i = 0; i < n; i++) {
			if (ep[i] > m->epoch)
				continue; /* done before an interruption */
			rc = srv_undo_replay(j, j->store->root_fd, ep[i], ep[i] == m->epoch ? m->done : 0,
					     progress, &pc);
			if (!rc) {
				m->epoch = i + 1 < n ? ep[i + 1] : 0;
				m->done = 0;
				rc = sync_root(j->store->root_fd);
				if (!rc)
					rc = marker_write(j, m);
			}
			if (rc < 0) {
				free(ep);
				snprintf(why, cap, "undoing epoch %" PRIu64 " failed: %s", ep[i],
					 strerror(-rc));
				return rc;
			}
		}
		free(ep);
		m->phase = 2;
		rc = marker_write(j, m);
		if (rc < 0) {
			snprintf(why, cap, "cannot update the rollback marker: %s", strerror(-rc));
			return rc;
		}
	}
	/* phase 2: the newer generations and the consumed epochs go; a fresh
	 * epoch starts at the target */
	rc = list_epochs(j, m->target, &ep, &n);
	for (size_t i = 0; !rc && i < n; i++) {
		snprintf(name, sizeof(name), "epoch-%" PRIu64, ep[i]);
		if (remove_tree(j->dir_fd, name) < 0)
			srv_warn("job %s: cannot remove %s", j->name, name);
	}
	free(ep);
	while (j->ngens && j->gens[j->ngens - 1].gen > m->target) {
		gen_name(name, sizeof(name), j->gens[j->ngens - 1].gen, "");
		unlinkat(j->dir_fd, name, 0);
		j->ngens--;
	}
	{
		struct dirent *e;
		DIR *d = opendir_fd(j->dir_fd);

		while (d && (e = readdir(d)) != NULL) {
			uint64_t k = name_num(e->d_name, "gen-", ".ckpt");

			if (k > m->target)
				unlinkat(j->dir_fd, e->d_name, 0);
		}
		if (d)
			closedir(d);
	}
	rc = srv_undo_epoch_start(j, m->target, why, cap);
	if (rc < 0)
		return rc;
	if (unlinkat(j->dir_fd, MARKER, 0) < 0 || fsync(j->dir_fd) < 0) {
		snprintf(why, cap, "cannot remove the rollback marker: %s", strerror(errno));
		return -errno;
	}
	return 0;
}

/* After a rollback: the files recorded at g should look as they did. */
static void check_state(struct srv_job *j, const uint8_t *state, size_t len)
{
	struct wire_ckf_state ws;
	struct wire_ckf_file f;
	unsigned bad = 0, n = 0;

	if (!state || wire_ckf_state_dec(state, len, &ws))
		return;
	while (wire_ckf_state_next(&ws, &f) == 1) {
		char path[SRV_PATH_BUF];
		struct stat st;
		int fd;

		memcpy(path, f.path.p, f.path.len);
		path[f.path.len] = '\0';
		n++;
		fd = srv_resolve_open(j->store->root_fd, path, O_PATH | O_NOFOLLOW, 0);
		if (fd < 0 || fstat(fd, &st) < 0 ||
		    (S_ISREG(st.st_mode) && (uint64_t)st.st_size != f.size) ||
		    wire_mode_from_host(st.st_mode) != f.mode ||
		    (int64_t)st.st_mtim.tv_sec != f.mtime_sec ||
		    (uint32_t)st.st_mtim.tv_nsec != f.mtime_nsec) {
			char p[256];

			srv_log_sanitize(p, sizeof(p), f.path.p, f.path.len);
			srv_warn("job %s: after the rollback '%s' differs from its state at the "
				 "checkpoint (changed by something outside the job?)", j->name, p);
			bad++;
		}
		if (fd >= 0)
			close(fd);
	}
	srv_info("job %s: %u recorded file%s checked after the rollback, %u differ%s", j->name, n,
		 n == 1 ? "" : "s", bad, bad == 1 ? "s" : "");
}

static int op_rollback(struct srv_session *s, struct srv_job *j, const struct wire_hdr *h,
		       const uint8_t *p, size_t len)
{
	struct wire_gen m;
	struct wire_rollback_reply r;
	struct wire_ckf_header hd;
	struct srv_gen_entry *ge;
	struct marker mk;
	uint8_t *state = NULL;
	size_t state_len = 0;
	char why[512];
	int rc = wire_dec_gen(p, len, &m);

	if (rc)
		return rc;
	ge = gen_find(j, m.gen);
	if (!ge)
		return reply_err(s, h, ENOENT, "job %s has no generation %" PRIu64, j->name, m.gen);
	if (j->handles > s->handles.used)
		return reply_err(s, h, EBUSY, "another session of job %s has %u file%s open; a "
				 "rollback needs them closed", j->name, j->handles - s->handles.used,
				 j->handles - s->handles.used == 1 ? "" : "s");
	rc = verify_gen(j, m.gen, &hd, &state, &state_len, why, sizeof(why));
	if (rc < 0) {
		srv_session_log(s, SRV_LOG_WARN, "job %s: rollback to %" PRIu64 " refused: %s",
				j->name, m.gen, why);
		return reply_err(s, h, -rc, "%s; try an older generation", why);
	}
	if (h->type == WIRE_ROLLBACK_CHECK) { /* every check passed; change nothing */
		free(state);
		r.gen = m.gen;
		r.image_size = wire_ckf_find(&hd, WIRE_CKF_CLIENT_IMAGE)->length;
		r.image_xxh64 = wire_ckf_find(&hd, WIRE_CKF_CLIENT_IMAGE)->xxh64;
		return reply_len(s, h, wire_enc_rollback_reply_as(s->out, s->out_cap, h->type, h->id, &r));
	}
	prep_discard(j);
	memset(&mk, 0, sizeof(mk));
	mk.target = m.gen;
	mk.epoch = UINT64_MAX;
	mk.phase = 1;
	rc = marker_write(j, &mk);
	if (rc < 0) {
		free(state);
		return reply_err(s, h, -rc, "cannot write the rollback marker: %s", strerror(-rc));
	}
	rc = rollback_run(j, &mk, why, sizeof(why));
	if (rc < 0) {
		free(state);
		srv_session_log(s, SRV_LOG_ERROR, "job %s: rollback to %" PRIu64 " failed: %s",
				j->name, m.gen, why);
		return reply_err(s, h, -rc, "rollback failed: %s (it resumes at the next attempt)", why);
	}
	check_state(j, state, state_len);
	free(state);
	ge = gen_find(j, m.gen);
	srv_session_log(s, SRV_LOG_INFO, "job %s: rolled back to generation %" PRIu64, j->name, m.gen);
	r.gen = m.gen;
	r.image_size = wire_ckf_find(&hd, WIRE_CKF_CLIENT_IMAGE)->length;
	r.image_xxh64 = wire_ckf_find(&hd, WIRE_CKF_CLIENT_IMAGE)->xxh64;
	(void)ge;
	return reply_len(s, h, wire_enc_rollback_reply(s->out, s->out_cap, h->id, &r));
}

/* ---- JOB_LIST ------------------------------------------------------------------------------------- */

/* Every job directory of the store (names that pass the job-name rule). */
static void free_names(struct wire_str *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free((char *)v[i].p);
	free(v);
}

static int op_job_list(struct srv_session *s, const struct wire_hdr *h, const uint8_t *p, size_t len)
{
	struct srv_store *st = s->cfg->store;
	struct wire_str *v = NULL;
	size_t n = 0, cap = 0, bytes = 4;
	struct dirent *e;
	long out;
	int rc = wire_dec_empty(p, len);
	DIR *d;

	if (rc)
		return rc;
	pthread_mutex_lock(&st->lock);
	d = opendir_fd(st->dir_fd);
	pthread_mutex_unlock(&st->lock);
	if (!d)
		return reply_err(s, h, errno, "cannot read the state directory: %s", strerror(errno));
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name);
		struct stat sb;
		char *name;

		if (wire_job_check(e->d_name, (uint32_t)l) ||
		    fstatat(st->dir_fd, e->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(sb.st_mode))
			continue;
		/* A session proven with a job key sees its own job only. */
		if (s->auth_kind == WIRE_KEY_JOB && strcmp(e->d_name, s->job_name) != 0)
			continue;
		if (WIRE_HDR_SIZE + bytes + 2 + l > s->out_max)
			break; /* more jobs than one reply holds: the first ones */
		if (n == cap) {
			struct wire_str *t = realloc(v, (cap = cap * 2 + 16) * sizeof(*v));

			if (!t)
				goto oom;
			v = t;
		}
		name = strdup(e->d_name);
		if (!name)
			goto oom;
		v[n++] = (struct wire_str){ name, (uint32_t)l };
		bytes += 2 + l;
	}
	closedir(d);
	if (srv_session_reserve(s, WIRE_HDR_SIZE + bytes) < 0) {
		free_names(v, n);
		return reply_err(s, h, ENOMEM, "out of memory");
	}
	out = wire_enc_job_list_reply(s->out, s->out_cap, h->id, v, (uint32_t)n);
	free_names(v, n);
	return reply_len(s, h, out);
oom:
	closedir(d);
	free_names(v, n);
	return reply_err(s, h, ENOMEM, "out of memory");
}

/* ---- dispatch -------------------------------------------------------------------------------------- */

int srv_ckptop(struct srv_session *s, const struct wire_hdr *h, const uint8_t *p, size_t len)
{
	struct srv_job *j = s->job;
	int rc;

	if (!s->cfg->store)
		return reply_err(s, h, ENOTSUP, "this server keeps no checkpoints (start it with --state-dir DIR)");
	if (h->type == WIRE_JOB_LIST)
		return op_job_list(s, h, p, len);
	if (!j)
		return reply_err(s, h, EINVAL, "%s", s->job_why ? s->job_why : "no job");
	job_lock_load(j);
	switch (h->type) {
	case WIRE_CKPT_PREPARE:
		rc = op_prepare(s, j, h, p, len);
		break;
	case WIRE_CKPT_DONE:
		rc = op_done(s, j, h, p, len);
		break;
	case WIRE_CKPT_COMMIT:
		rc = op_commit(s, j, h, p, len);
		break;
	case WIRE_CKPT_ABORT:
		rc = op_abort(s, j, h, p, len);
		break;
	case WIRE_ROLLBACK_QUERY:
		rc = op_query(s, j, h, p, len);
		break;
	case WIRE_ROLLBACK:
	case WIRE_ROLLBACK_CHECK:
		rc = op_rollback(s, j, h, p, len);
		break;
	case WIRE_IMAGE_READ:
		rc = op_image_read(s, j, h, p, len);
		break;
	default:
		rc = WIRE_ETYPE;
	}
	pthread_mutex_unlock(&j->lock);
	return rc;
}
