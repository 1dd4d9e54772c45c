/* fileops.c - the file request handlers: decode, check, act beneath the root, reply.
 *
 * Every handler decodes its request with wire/, checks paths with
 * srv_path_check, resolves them only through resolve.c (openat2 beneath the
 * root fd), performs the call, and builds exactly one reply in s->out: the
 * result, or an error reply carrying the errno the same call on a local file
 * would have given. A handler returns a negative WIRE_E* code only for a
 * request that is malformed on the wire; the session then ends.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include "ckpt.h"
#include "log.h"
#include "resolve.h"
#include "session.h"

#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452 /* Linux 6.6; the same number on every architecture */
#endif

#define UNCHANGED_ID 0xffffffffu
#define HIDDEN_ERR 100001 /* never a real errno: a path into the checkpoint store */

static const struct wire_str no_str = { NULL, 0 };

/* ---- replies ------------------------------------------------------------------ */

static int reply_err(struct srv_session *s, const struct wire_hdr *h, int err, const char *msg)
{
	srv_session_reply_error(s, h, err, msg);
	return 0;
}

/* An errno from a system call. Errors that point at trouble on the server
 * (rather than at the client's request) are logged. */
static int reply_errno(struct srv_session *s, const struct wire_hdr *h, int err, const char *path)
{
	if (err == EIO || err == ENOSPC || err == EDQUOT || err == ENOMEM || err == EMFILE ||
	    err == ENFILE || err == ESTALE) {
		char p[256], eb[128];

		srv_log_sanitize(p, sizeof(p), path ? path : "", path ? strlen(path) : 0);
		srv_session_log(s, SRV_LOG_WARN, "%s #%" PRIu64 "%s%s%s: %s", wire_type_name(h->type),
				h->id, path ? " '" : "", p, path ? "'" : "",
				srv_strerror(err, eb, sizeof(eb)));
	}
	return reply_err(s, h, err, NULL);
}

/* An error from resolving path beneath the root: EXDEV is an escape. */
static int reply_resolve(struct srv_session *s, const struct wire_hdr *h, int err, const char *path)
{
	char p[256];

	/* The path is client bytes: escaped, so that it cannot forge log lines. */
	if (err == EXDEV) {
		srv_log_sanitize(p, sizeof(p), path, strlen(path));
		srv_session_log(s, SRV_LOG_WARN,
				"%s #%" PRIu64 " path '%s' refused: it resolves outside the export root",
				wire_type_name(h->type), h->id, p);
		return reply_err(s, h, EACCES, "path leads outside the export root");
	}
	if (err == HIDDEN_ERR) {
		srv_log_sanitize(p, sizeof(p), path, strlen(path));
		srv_session_log(s, SRV_LOG_WARN, "%s #%" PRIu64 " path '%s' refused: it leads into the "
				"checkpoint store", wire_type_name(h->type), h->id, p);
		return reply_err(s, h, EACCES, "the checkpoint store is not part of the export");
	}
	return reply_errno(s, h, err, path);
}

static int reply_len(struct srv_session *s, const struct wire_hdr *h, long n)
{
	if (n < 0) {
		srv_session_log(s, SRV_LOG_ERROR, "cannot encode the %s reply: %s",
				wire_type_name(h->type), wire_strerror((int)n));
		return reply_err(s, h, EIO, "server could not encode the reply");
	}
	s->out_len = (size_t)n;
	return 0;
}

static int reply_empty(struct srv_session *s, const struct wire_hdr *h)
{
	return reply_len(s, h, wire_enc_empty(s->out, s->out_cap, h->type, WIRE_F_REPLY, h->id));
}

static int reply_stat(struct srv_session *s, const struct wire_hdr *h, const struct stat *st)
{
	struct wire_stat ws;

	wire_stat_from_host(&ws, st);
	return reply_len(s, h, wire_enc_stat_reply(s->out, s->out_cap, h->type, h->id, &ws));
}

/* ---- paths and handles -------------------------------------------------------- */

/* Check a client path. 0 with the NUL-terminated copy in out, or 1 with an
 * error reply built and the refusal logged. */
static int take_path(struct srv_session *s, const struct wire_hdr *h, struct wire_str in,
		     char *out)
{
	const char *why = "bad path";
	int r = srv_path_check(in.p, in.len, out, &why);
	const char *hid = srv_store_hidden(s->cfg->store);
	char p[256];

	if (r == 0 && hid) {
		size_t n = strlen(hid);

		if (!strncmp(out, hid, n) && (out[n] == '\0' || out[n] == '/')) {
			why = "the checkpoint store is not part of the export";
			r = -EACCES;
		}
	}
	if (r == 0)
		return 0;
	srv_log_sanitize(p, sizeof(p), in.p, in.len);
	srv_session_log(s, SRV_LOG_WARN, "%s #%" PRIu64 " path '%s' refused: %s",
			wire_type_name(h->type), h->id, p, why);
	reply_err(s, h, -r, why);
	return 1;
}

/* A path-carrying decoder failed with rc. The decoders enforce the path rules
 * too, after the structural checks; if a path field breaks them, answer with
 * the errno (EACCES, EINVAL, ENAMETOOLONG) instead of ending the session:
 * return 0 with that reply built. Otherwise the request is malformed:
 * return rc. */
static int bad_request(struct srv_session *s, const struct wire_hdr *h, int rc, struct wire_str a,
		       struct wire_str b)
{
	if (rc != WIRE_EINVAL && rc != WIRE_ETOOBIG)
		return rc;
	if (a.p && take_path(s, h, a, s->path1))
		return 0;
	if (b.p && take_path(s, h, b, s->path2))
		return 0;
	return rc;
}

static struct srv_handle *get_handle(struct srv_session *s, uint64_t handle)
{
	return srv_handles_get(&s->handles, handle);
}

static int root_fd(const struct srv_session *s)
{
	return s->cfg->root_fd;
}

/* The state directory may lie inside the export root: a path that reaches
 * it through a symlink is refused like an escape (HIDDEN_ERR, turned into
 * EACCES and logged by reply_resolve). */

static int hidden(const struct srv_session *s, int fd)
{
	return s->cfg->store && fd != root_fd(s) && srv_store_fd_hidden(s->cfg->store, fd);
}

static int res_open(struct srv_session *s, const char *path, int flags, mode_t mode)
{
	int fd = srv_resolve_open(root_fd(s), path, flags, mode);

	if (fd >= 0 && hidden(s, fd)) {
		close(fd);
		return -HIDDEN_ERR;
	}
	return fd;
}

static int res_parent(struct srv_session *s, const char *path, const char **base)
{
	int fd = srv_resolve_parent(root_fd(s), path, base);

	if (fd >= 0 && hidden(s, fd)) {
		srv_resolve_release(root_fd(s), fd);
		return -HIDDEN_ERR;
	}
	return fd;
}

static void proc_fd_path(char *buf, size_t cap, int fd)
{
	snprintf(buf, cap, "/proc/self/fd/%d", fd);
}

/* ---- OPEN, CLOSE --------------------------------------------------------------- */

static int do_open(struct srv_session *s, const struct wire_hdr *h, const uint8_t *p, size_t len)
{
	struct wire_open m;
	struct wire_open_reply r;
	struct srv_handle *hd;
	struct stat st;
	uint64_t handle;
	mode_t mode = 0;
	int rc, fl, fd, created = 0, trunc = 0;

	rc = wire_dec_open(p, len, &m);
	if (rc)
		return bad_request(s, h, rc, m.path, no_str);
	if (take_path(s, h, m.path, s->path1))
		return 0;
	fl = wire_oflags_to_host(m.flags);
	if (fl & O_PATH)
		fl &= O_PATH | O_DIRECTORY | O_NOFOLLOW; /* what open(2) keeps with O_PATH */
	else
		fl |= O_NOCTTY | O_NONBLOCK; /* a FIFO or device never blocks the session */
	if (fl & O_CREAT)
		mode = (mode_t)(wire_mode_to_host(m.mode) & 07777);
	/* With an undo epoch: a file about to be created is recorded first, and
	 * O_TRUNC is done here after saving what it cuts off. */
	if (!(fl & O_PATH) && srv_undo_active(s)) {
		if ((fl & O_CREAT) && s->path1[0]) {
			const char *base;
			int dfd = res_parent(s, s->path1, &base);

			if (dfd < 0)
				return reply_resolve(s, h, -dfd, s->path1);
			created = srv_undo_create(s, dfd, base, s->path1);
			srv_resolve_release(root_fd(s), dfd);
			if (created < 0)
				return reply_errno(s, h, -created, s->path1);
		}
		if (fl & O_TRUNC) {
			trunc = (fl & O_ACCMODE) != O_RDONLY;
			fl &= ~O_TRUNC;
		}
	}

	fd = res_open(s, s->path1, fl, mode);
	if (fd < 0)
		return reply_resolve(s, h, -fd, s->path1);
	if (fstat(fd, &st) < 0) {
		rc = errno;
		close(fd);
		return reply_errno(s, h, rc, s->path1);
	}
	if (created)
		srv_undo_created(s, fd);
	if (trunc && S_ISREG(st.st_mode) && st.st_size > 0) {
		rc = srv_undo_truncate(s, fd, 0);
		if (!rc && ftruncate(fd, 0) < 0)
			rc = -errno;
		if (!rc && fstat(fd, &st) < 0)
			rc = -errno;
		if (rc) {
			close(fd);
			return reply_errno(s, h, -rc, s->path1);
		}
	}
	/* Back to the blocking mode the client asked for (it cannot ask for
	 * O_NONBLOCK: that stays client-side). F_SETFL ignores the access mode
	 * and creation flags. */
	if (!(fl & O_PATH) && fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
		rc = errno;
		close(fd);
		return reply_errno(s, h, rc, s->path1);
	}
	handle = srv_handles_add(&s->handles, fd, m.flags, s->path1, &hd);
	if (!handle) {
		rc = errno;
		close(fd);
		if (rc == EMFILE) {
			/* EMFILE is what a program expects, and many retry or
			 * probe with it: one line per session, not one per call. */
			if (!s->emfile_logged)
				srv_session_log(s, SRV_LOG_WARN, "OPEN #%" PRIu64 " refused with EMFILE: %"
						PRIu32 " files open, the limit of a session (--max-open); "
						"further refusals are not logged", h->id, s->handles.used);
			s->emfile_logged = 1;
			return reply_err(s, h, EMFILE, "too many open files in this session");
		}
		return reply_errno(s, h, rc, s->path1);
	}
	hd->append = (fl & O_APPEND) != 0;
	hd->regular = S_ISREG(st.st_mode) != 0;
	hd->is_dir = S_ISDIR(st.st_mode) != 0;
	hd->opath = (fl & O_PATH) != 0;
	if (s->job)
		s->job->handles++; /* under the job lock */

	r.handle = handle;
	wire_stat_from_host(&r.st, &st);
	return reply_len(s, h, wire_enc_open_reply(s->out, s->out_cap, h->id, &r));
}

static int op_open(struct srv_session *s, const struct wire_hdr *h, const uint8_t *p, size_t len)
{
	int rc;

	srv_undo_begin(s);
	rc = do_open(s, h, p, len);
	srv_undo_end(s);
	return rc;
}

static int op_close(struct srv_session *s, const struct wire_hdr *h, const uint8_t *p, size_t len)
{
	struct wire_handle m;
	int rc = wire_dec_handle(p, len, &m);

	if (rc)
		return rc;
	srv_undo_begin(s);
	rc = srv_handles_close(&s->handles, m.handle);
	if (rc != -EBADF && s->job && s->job->handles)
		s->job->handles--;
	srv_undo_end(s);
	if (rc < 0)
		return reply_errno(s, h, -rc, NULL);
	return reply_empty(s, h);
}

/* ---- PREAD, PWRITE, FTRUNCATE, FSYNC, FSTAT ------------------------------------ */

#define SPLICE_MIN (64u * 1024u) /* smaller reads are cheaper copied */

static int op_pread(struct srv_session *s, const struct wire_hdr *h, const uint8_t *p, size_t len)
{
	struct wire_pread m;
	struct srv_handle *hd;
	uint8_t *buf;
	size_t count, got = 0;
	int rc = wire_dec_pread(p, len, &m);

	if (rc)
		return rc;
	hd = get_handle(s, m.handle);
	if (!hd)
		return reply_err(s, h, EBADF, NULL);
	count = m.count;
	if (count > s->out_max - WIRE_DATA_REPLY_HDR)
		count = s->out_max - WIRE_DATA_REPLY_HDR; /* a short read: the client asks again */
	if (srv_session_reserve(s, WIRE_DATA_REPLY_HDR + count) < 0)
		return reply_errno(s, h, ENOMEM, hd->path);
	/* Big reads of regular files: splice the page-cache pages into a pipe
	 * (no copy) as far as the pipe takes them, which tells the exact length
	 * before the header goes out; the rest, if any, is read into the reply
	 * buffer. The session sends header, pipe, then that tail. */
	if (hd->regular && !hd->no_splice && count >= SPLICE_MIN && srv_session_pipe(s, count) == 0) {
		loff_t off = (loff_t)m.offset;
		size_t tail = 0;
		int eof = 0;

		while (got < count) {
			ssize_t n = splice(hd->fd, &off, s->pipe[1], NULL, count - got,
					   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);

			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && errno == EAGAIN)
				break; /* the pipe is full */
			if (n < 0 && !got && (errno == EINVAL || errno == ENOSYS)) {
				hd->no_splice = 1; /* this file system cannot: copy */
				break;
			}
			if (n < 0) {
				if (got)
					break;
				return reply_errno(s, h, errno, hd->path);
			}
			if (n == 0) {
				eof = 1;
				break;
			}
			got += (size_t)n;
		}
		if (!hd->no_splice) {
			buf = s->out + WIRE_DATA_REPLY_HDR;
			while (!eof && got + tail < count) {
				ssize_t n = pread(hd->fd, buf + tail, count - got - tail,
						  (off_t)m.offset + (off_t)(got + tail));

				if (n < 0 && errno == EINTR)
					continue;
				if (n <= 0)
					break;
				tail += (size_t)n;
			}
			wire_enc_data_reply_hdr(s->out, WIRE_PREAD, h->id, (uint32_t)(got + tail));
			s->out_len = WIRE_DATA_REPLY_HDR;
			s->splice_len = got;
			s->tail_len = tail;
			return 0;
		}
	}
	buf = s->out + WIRE_DATA_REPLY_HDR;
	/* The first pread runs even for count 0, so errors (EBADF, EISDIR) show.
	 * Regular files are read until count or end of file; other files give
	 * what one read gives. */
	do {
		ssize_t n = pread(hd->fd, buf + got, count - got, (off_t)m.offset + (off_t)got);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (got)
				break; /* report what was read, as read(2) does */
			return reply_errno(s, h, errno, hd->path);
		}
		if (n == 0)
			break;
		got += (size_t)n;
	} while (got < count && hd->regular);
	wire_enc_data_reply_hdr(s->out, WIRE_PREAD, h->id, (uint32_t)got);
	s->out_len = WIRE_DATA_REPLY_HDR + got;
	return 0;
}

/* Make the fd's O_APPEND match want (cached in the handle): positioned writes
 * need it off (pwrite on an O_APPEND fd appends on Linux), appends on. */
static int set_append(struct srv_handle *hd, int want)
{
	int fl;

	if ((int)hd->append == want)
		return 0;
	fl = fcntl(hd->fd, F_GETFL);
	if (fl < 0)
		return -errno;
	fl = want ? fl | O_APPEND : fl & ~O_APPEND;
	if (fcntl(hd->fd, F_SETFL, fl) < 0)
		return -errno;
	hd->append = want ? 1 : 0;
	return 0;
}

static int op_pwrite(struct srv_session *s, const struct wire_hdr *h, const uint8_t *p, size_t len)
{
	struct wire_pwrite m;
	struct wire_pwrite_reply r;
	struct srv_handle *hd;
	size_t done = 0;
	int append;
	int rc = wire_dec_pwrite(p, len, &m);

	if (rc)
		return rc;
	hd = get_handle(s, m.handle);
	if (!hd)
		return reply_err(s, h, EBADF, NULL);
	append = (m.flags & WIRE_PWRITE_APPEND) != 0;
	rc = set_append(hd, append);
	if (rc < 0)
		return reply_errno(s, h, -rc, hd->path);
	/* the undo records are durable before the overwrite can reach the disk */
	srv_undo_begin(s);
	rc = srv_undo_write(s, hd->fd, m.offset, m.data.len, append);
	if (rc < 0) {
		srv_undo_end(s);
		return reply_errno(s, h, -rc, hd->path);
	}
	do {
		ssize_t n;

		if (append)
			n = write(hd->fd, m.data.p + done, m.data.len - done);
		else
			n = pwrite(hd->fd, m.data.p + done, m.data.len - done,
				   (off_t)m.offset + (off_t)done);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (done)
				break; /* a short write, as write(2) reports it */
			rc = errno;
			srv_undo_end(s);
			return reply_errno(s, h, rc, hd->path);
		}
		if (n == 0)
			break;
		done += (size_t)n;
	} while (done < m.data.len);
	srv_undo_end(s);

	r.written = (uint32_t)done;
	if (append) {
		/* O_APPEND leaves the position just past the bytes written; with
		 * nothing written it is not at the end yet. */
		off_t end = lseek(hd->fd, 0, done ? SEEK_CUR : SEEK_END);
		r.end = end < 0 ? done : (uint64_t)end;
	} else {
		r.end = m.offset + done;
	}
	return reply_len(s, h, wire_enc_pwrite_reply(s->out, s->out_cap, h->id, &r));
}

/* ---- PWRITE straight from the socket ------------------------------------------------- */

/* Read and drop n bytes from fd: the rest of a PWRITE whose data cannot be
 * written, from the socket (s given: within the frame's timeout), or what
 * the pipe holds of it (s NULL). 0, or -1 when the connection (or the
 * pipe) failed or the frame timed out. */
static int drop_input(struct srv_session *s, int fd, size_t n)
{
	uint8_t junk[16384];

	while (n) {
		ssize_t k;

		if (s && srv_session_wait_frame(s) < 0)
			return -1;
		k = read(fd, junk, n < sizeof(junk) ? n : sizeof(junk));
		if (k < 0 && (errno == EINTR || (s && (errno == EAGAIN || errno == EWOULDBLOCK))))
			continue;
		if (k <= 0)
			return -1;
		n -= (size_t)k;
	}
	return 0;
}

int srv_pwrite_stream(struct srv_session *s, const struct wire_hdr *h, const struct wire_pwrite *m,
		      size_t rest)
{
	struct wire_pwrite_reply r;
	struct srv_handle *hd = get_handle(s, m->handle);
	const uint8_t *p = m->data.p;
	size_t have = m->data.len - rest, done = 0;
	int err = 0, rc;

	if (!hd) {
		if (drop_input(s, s->fd, rest) < 0)
			return SRV_STREAM_LOST;
		return reply_err(s, h, EBADF, NULL);
	}
	rc = set_append(hd, 0);
	if (rc >= 0) {
		/* the undo records are durable before the overwrite can reach the disk */
		srv_undo_begin(s);
		rc = srv_undo_write(s, hd->fd, m->offset, m->data.len, 0);
		if (rc < 0)
			srv_undo_end(s);
	}
	if (rc < 0) {
		if (drop_input(s, s->fd, rest) < 0)
			return SRV_STREAM_LOST;
		return reply_errno(s, h, -rc, hd->path);
	}
	/* the bytes that arrived with the header */
	while (done < have) {
		ssize_t n = pwrite(hd->fd, p + done, have - done, (off_t)(m->offset + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err = n < 0 ? errno : EIO;
			break;
		}
		done += (size_t)n;
	}
	/* the rest: socket -> pipe -> file, the data never copied to us */
	while (!err && rest) {
		ssize_t in;
		size_t left;

		/* The frame timeout covers the data that never passes through
		 * the session's buffer too: a splice from the socket honours
		 * the receive timeout this arms. */
		if (srv_session_wait_frame(s) < 0) {
			srv_undo_end(s);
			return SRV_STREAM_LOST;
		}
		in = splice(s->fd, NULL, s->pipe[1], NULL, rest < s->pipe_cap ? rest : s->pipe_cap,
			    SPLICE_F_MOVE | SPLICE_F_MORE);
		if (in < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
			continue;
		if (in <= 0) {
			srv_undo_end(s);
			return SRV_STREAM_LOST;
		}
		rest -= (size_t)in;
		left = (size_t)in;
		while (left) {
			loff_t off = (loff_t)(m->offset + done);
			ssize_t n = splice(s->pipe[0], NULL, hd->fd, &off, left, SPLICE_F_MOVE);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				err = n < 0 ? errno : EIO;
				if (drop_input(NULL, s->pipe[0], left) < 0) {
					srv_undo_end(s);
					return SRV_STREAM_LOST;
				}
				break;
			}
			left -= (size_t)n;
			done += (size_t)n;
		}
	}
	srv_undo_end(s);
	/* Start the write-back of a big write now rather than at the fsync
	 * that usually follows: the disk works while the next block travels. */
	if (done)
		sync_file_range(hd->fd, (off_t)m->offset, (off_t)done, SYNC_FILE_RANGE_WRITE);
	if (rest && drop_input(s, s->fd, rest) < 0)
		return SRV_STREAM_LOST;
	if (err && !done)
		return reply_errno(s, h, err, hd->path);
	r.written = (uint32_t)done; /* a short write, as write(2) reports it */
	r.end = m->offset + done;
	return reply_len(s, h, wire_enc_pwrite_reply(s->out, s->out_cap, h->id, &r));
}

static int op_ftruncate(struct srv_session *s, const struct wire_hdr *h, const uint8_t *p,
			size_t len)
{
	struct wire_ftruncate m;
	struct srv_handle *hd;
	int rc = wire_dec_ftruncate(p, len, &m);

	if (rc)
		return rc;
	hd = get_handle(s, m.handle);
	if (!hd)
		return reply_err(s, h, EBADF, NULL);
	srv_undo_begin(s);
	rc = srv_undo_truncate(s, hd->fd, m.length);
	if (rc < 0) {
		srv_undo_end(s);
		return reply_errno(s, h, -rc, hd->path);
	}
	while ((rc = ftruncate(hd->fd, (off_t)m.length)) < 0 && errno == EINTR)
		;
	rc = rc < 0 ? errno : 0;
	srv_undo_end(s);
	if (rc)
		return reply_errno(s, h, rc, hd->path);
	return reply_empty(s, h);
}

static int op_fsync(struct srv_session *s, const struct wire_hdr *h, const uint8_t *p, size_t len)
{
	struct wire_fsync m;
	struct srv_handle *hd;
	int rc = wire_dec_fsync(p, len, &m);

	if (rc)
		return rc;
	hd = get_handle(s, m.handle);
	if (!hd)
		return reply_err(s, h, EBADF, NULL);
	while ((rc = m.datasync ? fdatasync(hd->fd) : fsync(hd->fd)) < 0 && errno == EINTR)
		;
	if (rc < 0)
		return reply_errno(s, h, errno, hd->path);
	return reply_empty(s, h);
}

static int op_fstat(struct srv_session *s, const struct wire_hdr *h, const uint8_t *p, size_t len)
{
	struct wire_handle m;
	struct srv_handle *hd;
	struct stat st;
	int rc = wire_dec_handle(p, len, &m);

	if (rc)
		return rc;
	hd = get_handle(s, m.handle);
	if (!hd)
		return reply_err(s, h, EBADF, NULL);
	if (fstat(hd->fd, &st) < 0)
		return reply_errno(s, h, errno, hd->path);
	return reply_stat(s, h, &st);
}

/* ---- path requests ------------------------------------------------------------------ */

/* Decode a path request and check its path into s->path1. Returns 0 when the
 * handler should go on; otherwise *out is what the handler returns (0 with
 * an error reply built, or a negative WIRE_E* code). */
static int take_path_req(struct srv_session *s, const struct wire_hdr *h, const uint8_t *p,
			 size_t len, struct wire_path_req *m, uint32_t allowed_flags, int *out)
{
	int rc = wire_dec_path_req(p, len, m);

	if (rc) {
		*out = bad_request(s, h, rc, m->path, no_str);
		return -1;
	}
	if (take_path(s, h, m->path, s->path1)) {
		*out = 0;
		return -1;
	}
	if (m->flags & ~allowed_flags) {
		*out = reply_err(s, h, EINVAL, "flag not valid for this request");
		return -1;
	}
	return 0;
}

static int op_stat(struct srv_session *s, const struct wire_hdr *h, const uint8_t *p, size_t len)
{
	struct wire_path_req m;
	struct stat st;
	int out, fd, rc;

	if (take_path_req(s, h, p, len, &m, WIRE_AT_NOFOLLOW, &out))
		return out;
	/* An O_PATH open (of the link itself with O_NOFOLLOW) keeps every
	 * component, the last one included, beneath the root. */
	fd = res_open(s, s->path1,
			      O_PATH | ((m.flags & WIRE_AT_NOFOLLOW) ? O_NOFOLLOW : 0), 0);
	if (fd < 0)
		return reply_resolve(s, h, -fd, s->path1);
	rc = fstat(fd, &st);
	if (rc < 0)
		rc = errno;
	close(fd);
	if (rc)
		return reply_errno(s, h, rc, s->path1);
	return reply_stat(s, h, &st);
}

static int op_access(struct srv_session *s, const struct wire_hdr *h, const uint8_t *p, size_t len)
{
	struct wire_path_req m;
	int out, fd, rc, amode, atflags;

	if (take_path_req(s, h, p, len, &m, WIRE_AT_EACCESS, &out))
		return out;
	if (m.arg & ~(WIRE_R_OK | WIRE_W_OK | WIRE_X_OK))
		return reply_err(s, h, EINVAL, "bad access mode");
	amode = wire_amode_to_host(m.arg);
	atflags = (m.flags & WIRE_AT_EACCESS) ? AT_EACCESS : 0;
	fd = res_open(s, s->path1, O_PATH, 0);
	if (fd < 0)
		return reply_resolve(s, h, -fd, s->path1);
	rc = faccessat(fd, "", amode, atflags | AT_EMPTY_PATH);
	if (rc < 0 && (errno == EINVAL || errno == ENOSYS)) {
		/* kernel before 5.8: no AT_EMPTY_PATH here; go through the fd's magic link */
		char pp[40];

		proc_fd_path(pp, sizeof(pp), fd);
		rc = faccessat(AT_FDCWD, pp, amode, atflags);
	}
	rc = rc < 0 ? errno : 0;
	close(fd);
	if (rc)
		return reply_errno(s, h, rc, s->path1);
	return reply_empty(s, h);
}

static int op_unlink(struct srv_session *s, const struct wire_hdr *h, const uint8_t *p, size_t len)
{
	struct wire_path_req m;
	const char *base;
	int out, dfd, rc;

	if (take_path_req(s, h, p, len, &m, WIRE_AT_REMOVEDIR, &out))
		return out;
	if (!s->path1[0]) /* the root itself, as rmdir("/") and unlink("/") */
		return reply_err(s, h, (m.flags & WIRE_AT_REMOVEDIR) ? EBUSY : EISDIR, NULL);
	dfd = res_parent(s, s->path1, &base);
	if (dfd < 0)
		return reply_resolve(s, h, -dfd, s->path1);
	srv_undo_begin(s);
	rc = -srv_undo_unlink(s, dfd, base, s->path1, (m.flags & WIRE_AT_REMOVEDIR) ? AT_REMOVEDIR : 0);
	srv_undo_end(s);
	srv_resolve_release(root_fd(s), dfd);
	if (rc)
		return reply_errno(s, h, rc, s->path1);
	return reply_empty(s, h);
}

static int op_mkdir(struct srv_session *s, const struct wire_hdr *h, const uint8_t *p, size_t len)
{
	struct wire_path_req m;
	const char *base;
	int out, dfd, rc;

	if (take_path_req(s, h, p, len, &m, 0, &out))
		return out;
	if (!s->path1[0])
		return reply_err(s, h, EEXIST, NULL);
	dfd = res_parent(s, s->path1, &base);
	if (dfd < 0)
		return reply_resolve(s, h, -dfd, s->path1);
	srv_undo_begin(s);
	rc = srv_undo_create(s, dfd, base, s->path1);
	if (rc >= 0)
		rc = mkdirat(dfd, base, (mode_t)(wire_mode_to_host(m.arg) & 07777)) < 0 ? errno : 0;
	else
		rc = -rc;
	srv_undo_end(s);
	srv_resolve_release(root_fd(s), dfd);
	if (rc)
		return reply_errno(s, h, rc, s->path1);
	return reply_empty(s, h);
}

static int op_readlink(struct srv_session *s, const struct wire_hdr *h, const uint8_t *p,
		       size_t len)
{
	struct wire_path_req m;
	const char *base;
	ssize_t n;
	int out, dfd, rc;

	if (take_path_req(s, h, p, len, &m, 0, &out))
		return out;
	if (!s->path1[0])
		return reply_err(s, h, EINVAL, NULL); /* the root is no symlink */
	dfd = res_parent(s, s->path1, &base);
	if (dfd < 0)
		return reply_resolve(s, h, -dfd, s->path1);
	n = readlinkat(dfd, base, s->path2, WIRE_MAX_PATH);
	rc = n < 0 ? errno : 0;
	srv_resolve_release(root_fd(s), dfd);
	if (rc)
		return reply_errno(s, h, rc, s->path1);
	if ((size_t)n >= WIRE_MAX_PATH) /* cannot happen on Linux: targets are < PATH_MAX */
		return reply_err(s, h, ENAMETOOLONG, NULL);
	return reply_len(s, h, wire_enc_str_reply(s->out, s->out_cap, WIRE_READLINK, h->id,
						  s->path2, (uint32_t)n));
}

static int op_statfs(struct srv_session *s, const struct wire_hdr *h, const uint8_t *p, size_t len)
{
	struct wire_path_req m;
	struct wire_statfs_reply r;
	struct statvfs sv;
	int out, fd, rc;

	if (take_path_req(s, h, p, len, &m, 0, &out))
		return out;
	fd = res_open(s, s->path1, O_PATH, 0);
	if (fd < 0)
		return reply_resolve(s, h, -fd, s->path1);
	rc = fstatvfs(fd, &sv) < 0 ? errno : 0;
	close(fd);
	if (rc)
		return reply_errno(s, h, rc, s->path1);
	r.bsize = sv.f_bsize;
	r.frsize = sv.f_frsize;
	r.blocks = sv.f_blocks;
	r.bfree = sv.f_bfree;
	r.bavail = sv.f_bavail;
	r.files = sv.f_files;
	r.ffree = sv.f_ffree;
	r.favail = sv.f_favail;
	r.namemax = sv.f_namemax;
	r.fsid = sv.f_fsid;
	r.flags = wire_stflags_from_host(sv.f_flag);
	return reply_len(s, h, wire_enc_statfs_reply(s->out, s->out_cap, h->id, &r));
}

/* ---- two paths: RENAME, SYMLINK, LINK ---------------------------------------------- */

/* Resolve the parents of path1 and path2 for an *at call on both. 0 or an
 * errno (reply already built). */
static int two_parents(struct srv_session *s, const struct wire_hdr *h, int *d1, const char **b1,
		       int *d2, const char **b2)
{
	*d1 = res_parent(s, s->path1, b1);
	if (*d1 < 0)
		return reply_resolve(s, h, -*d1, s->path1), 1;
	*d2 = res_parent(s, s->path2, b2);
	if (*d2 < 0) {
		srv_resolve_release(root_fd(s), *d1);
		return reply_resolve(s, h, -*d2, s->path2), 1;
	}
	return 0;
}

static int op_rename(struct srv_session *s, const struct wire_hdr *h, const uint8_t *p, size_t len)
{
	struct wire_two_paths m;
	const char *b1, *b2;
	unsigned flags = 0;
	int d1, d2, rc = wire_dec_two_paths(p, len, &m);

	if (rc)
		return bad_request(s, h, rc, m.from, m.to);
	if (take_path(s, h, m.from, s->path1) || take_path(s, h, m.to, s->path2))
		return 0;
	if (m.flags & WIRE_RENAME_NOREPLACE)
		flags |= RENAME_NOREPLACE;
	if (m.flags & WIRE_RENAME_EXCHANGE)
		flags |= RENAME_EXCHANGE;
	if (!s->path1[0] || !s->path2[0]) /* the root is busy, as "/" is */
		return reply_err(s, h, EBUSY, NULL);
	if (two_parents(s, h, &d1, &b1, &d2, &b2))
		return 0;
	srv_undo_begin(s);
	rc = -srv_undo_rename(s, d1, b1, s->path1, d2, b2, s->path2, flags);
	srv_undo_end(s);
	srv_resolve_release(root_fd(s), d1);
	srv_resolve_release(root_fd(s), d2);
	if (rc)
		return reply_errno(s, h, rc, s->path1);
	return reply_empty(s, h);
}

static int op_symlink(struct srv_session *s, const struct wire_hdr *h, const uint8_t *p, size_t len)
{
	struct wire_two_paths m;
	const char *base;
	int dfd, rc = wire_dec_two_paths(p, len, &m);

	if (rc) {
		rc = bad_request(s, h, rc, no_str, m.to);
		/* content with a NUL or over 4096 bytes: what symlink(2) says
		 * of such a target, not the end of the session */
		if (rc == WIRE_EINVAL || rc == WIRE_ETOOBIG) {
			int err = m.from.len >= WIRE_MAX_PATH ? ENAMETOOLONG :
				  memchr(m.from.p, '\0', m.from.len) ? EINVAL : 0;
			char t[256];

			if (err) {
				srv_log_sanitize(t, sizeof(t), m.from.p, m.from.len);
				srv_session_log(s, SRV_LOG_WARN, "SYMLINK #%" PRIu64 " content '%s' refused: %s",
						h->id, t, err == EINVAL ? "NUL byte" : "longer than 4095 bytes");
				return reply_err(s, h, err, NULL);
			}
		}
		return rc;
	}
	if (m.flags)
		return reply_err(s, h, EINVAL, "SYMLINK takes no flags");
	/* from is the link's content, stored as it is: it is resolved (beneath
	 * the root) only when the link is used. */
	if (m.from.len == 0)
		return reply_err(s, h, ENOENT, NULL);
	if (m.from.len >= WIRE_MAX_PATH)
		return reply_err(s, h, ENAMETOOLONG, NULL);
	memcpy(s->path1, m.from.p, m.from.len);
	s->path1[m.from.len] = '\0';
	if (take_path(s, h, m.to, s->path2))
		return 0;
	if (!s->path2[0])
		return reply_err(s, h, EEXIST, NULL);
	dfd = res_parent(s, s->path2, &base);
	if (dfd < 0)
		return reply_resolve(s, h, -dfd, s->path2);
	srv_undo_begin(s);
	rc = srv_undo_create(s, dfd, base, s->path2);
	rc = rc < 0 ? -rc : symlinkat(s->path1, dfd, base) < 0 ? errno : 0;
	srv_undo_end(s);
	srv_resolve_release(root_fd(s), dfd);
	if (rc)
		return reply_errno(s, h, rc, s->path2);
	return reply_empty(s, h);
}

static int op_link(struct srv_session *s, const struct wire_hdr *h, const uint8_t *p, size_t len)
{
	struct wire_two_paths m;
	const char *b1, *b2;
	int d1, d2, rc = wire_dec_two_paths(p, len, &m);

	if (rc)
		return bad_request(s, h, rc, m.from, m.to);
	if (take_path(s, h, m.from, s->path1) || take_path(s, h, m.to, s->path2))
		return 0;
	if (m.flags)
		return reply_err(s, h, EINVAL, "LINK takes no flags");
	if (!s->path1[0]) /* a hard link to a directory */
		return reply_err(s, h, EPERM, NULL);
	if (!s->path2[0])
		return reply_err(s, h, EEXIST, NULL);
	if (two_parents(s, h, &d1, &b1, &d2, &b2))
		return 0;
	/* No AT_SYMLINK_FOLLOW: like link(2) on Linux, a symlink is linked
	 * itself, so nothing outside the root is ever reached. */
	srv_undo_begin(s);
	rc = srv_undo_create(s, d2, b2, s->path2);
	rc = rc < 0 ? -rc : linkat(d1, b1, d2, b2, 0) < 0 ? errno : 0;
	srv_undo_end(s);
	srv_resolve_release(root_fd(s), d1);
	srv_resolve_release(root_fd(s), d2);
	if (rc)
		return reply_errno(s, h, rc, s->path2);
	return reply_empty(s, h);
}

/* ---- READDIR -------------------------------------------------------------------------- */

static int op_readdir(struct srv_session *s, const struct wire_hdr *h, const uint8_t *p, size_t len)
{
	struct wire_readdir m;
	struct wire_dir_builder b;
	struct srv_handle *hd;
	const char *skip_name;
	size_t max;
	uint8_t eof = 0;
	int rc = wire_dec_readdir(p, len, &m);

	if (rc)
		return rc;
	hd = get_handle(s, m.handle);
	if (!hd)
		return reply_err(s, h, EBADF, NULL);
	if (!hd->dir) {
		/* A stream of its own (a dup shares the offset, which nothing
		 * else uses: reads are positioned). */
		int dfd = fcntl(hd->fd, F_DUPFD_CLOEXEC, 0);

		if (dfd < 0)
			return reply_errno(s, h, errno, hd->path);
		hd->dir = fdopendir(dfd);
		if (!hd->dir) {
			rc = errno;
			close(dfd);
			return reply_errno(s, h, rc, hd->path);
		}
	}
	if (m.cookie == 0)
		rewinddir(hd->dir);
	else if ((uint64_t)telldir(hd->dir) != m.cookie)
		seekdir(hd->dir, (long)m.cookie);

	{
		struct stat dst;

		skip_name = NULL;
		if (s->cfg->store && fstat(hd->fd, &dst) == 0)
			srv_store_hides_in(s->cfg->store, dst.st_dev, dst.st_ino, &skip_name);
	}
	max = m.max_bytes;
	if (max > SRV_READDIR_MAX)
		max = SRV_READDIR_MAX;
	if (max > s->out_max - WIRE_HDR_SIZE)
		max = s->out_max - WIRE_HDR_SIZE;
	if (srv_session_reserve(s, WIRE_HDR_SIZE + max) < 0)
		return reply_errno(s, h, ENOMEM, hd->path);
	wire_readdir_reply_begin(&b, s->out, s->out_cap, h->id, (uint32_t)max);
	for (;;) {
		struct wire_dirent e;
		struct dirent *de;

		errno = 0;
		de = readdir(hd->dir);
		if (!de) {
			if (errno == 0) {
				eof = 1;
				break;
			}
			if (b.count == 0)
				return reply_errno(s, h, errno, hd->path);
			break; /* send what we have; the error comes again next time */
		}
		if (skip_name && !strcmp(de->d_name, skip_name))
			continue; /* the checkpoint store */
		e.ino = de->d_ino;
		e.next = (uint64_t)telldir(hd->dir);
		e.type = wire_dtype_from_host(de->d_type);
		e.name.p = de->d_name;
		e.name.len = (uint32_t)strlen(de->d_name);
		rc = wire_readdir_reply_add(&b, &e);
		if (rc == -1) {
			/* Full. The client resumes from the last entry's cookie,
			 * which seekdir()s back to this entry. */
			if (b.count == 0)
				return reply_err(s, h, EINVAL, "READDIR buffer too small for an entry");
			break;
		}
		if (rc < 0) {
			char nm[128];

			srv_log_sanitize(nm, sizeof(nm), e.name.p, e.name.len);
			srv_session_log(s, SRV_LOG_WARN, "READDIR: entry '%s' cannot travel (%s); skipped",
					nm, wire_strerror(rc));
		}
	}
	return reply_len(s, h, wire_readdir_reply_end(&b, eof));
}

/* ---- SETATTR --------------------------------------------------------------------------- */

static struct timespec set_time(uint32_t valid, uint32_t set, uint32_t now, int64_t sec,
				uint32_t nsec)
{
	struct timespec ts = { 0, UTIME_OMIT };

	if (valid & set) {
		ts.tv_sec = (time_t)sec;
		ts.tv_nsec = (long)nsec;
	} else if (valid & now) {
		ts.tv_nsec = UTIME_NOW;
	}
	return ts;
}

/* Apply m to fd (an O_PATH fd if opath). path is the checked path fd was
 * resolved from (NULL for a handle). Returns 0 or an errno. Ownership first
 * (chown clears set-id bits), then mode, size, and times last (so a
 * truncation does not overwrite explicit times). */
static int apply_setattr(struct srv_session *s, const struct wire_setattr *m, int fd, int opath,
			 const char *path)
{
	int nofollow = (m->flags & WIRE_AT_NOFOLLOW) != 0;
	char pp[40];
	struct stat st;

	proc_fd_path(pp, sizeof(pp), fd);
	if (opath && (m->valid & (WIRE_SET_MODE | WIRE_SET_SIZE)) && fstat(fd, &st) < 0)
		return errno;
	if (m->valid & (WIRE_SET_UID | WIRE_SET_GID)) {
		uid_t uid = (uid_t)-1;
		gid_t gid = (gid_t)-1;

		if ((m->valid & WIRE_SET_UID) && m->uid != UNCHANGED_ID)
			uid = (uid_t)m->uid;
		if ((m->valid & WIRE_SET_GID) && m->gid != UNCHANGED_ID)
			gid = (gid_t)m->gid;
		if (fchownat(fd, "", uid, gid, AT_EMPTY_PATH) < 0)
			return errno;
	}
	if (m->valid & WIRE_SET_MODE) {
		mode_t mode = (mode_t)(wire_mode_to_host(m->mode) & 07777);

		if (!opath) {
			if (fchmod(fd, mode) < 0)
				return errno;
		} else if (S_ISLNK(st.st_mode)) {
			return EOPNOTSUPP; /* as lchmod/fchmodat(AT_SYMLINK_NOFOLLOW) */
		} else if (syscall(SYS_fchmodat2, fd, "", mode, AT_EMPTY_PATH) < 0) {
			if (errno != ENOSYS)
				return errno;
			if (chmod(pp, mode) < 0) /* kernel before 6.6 */
				return errno;
		}
	}
	if (m->valid & WIRE_SET_SIZE) {
		if (!opath) {
			if (ftruncate(fd, (off_t)m->size) < 0)
				return errno;
		} else {
			int wfd, rc = 0;

			if (S_ISDIR(st.st_mode))
				return EISDIR;
			if (S_ISLNK(st.st_mode))
				return ELOOP; /* only reachable with NOFOLLOW */
			if (!S_ISREG(st.st_mode))
				return EINVAL; /* as truncate(2) on a FIFO, socket or device */
			/* truncate(2) semantics: reopen for writing, beneath the root
			 * again (or through the O_PATH handle's own magic link). */
			if (path) {
				wfd = res_open(s, path,
						       O_WRONLY | O_NOCTTY | O_NONBLOCK |
							       (nofollow ? O_NOFOLLOW : 0), 0);
			} else {
				wfd = open(pp, O_WRONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
				if (wfd < 0)
					wfd = -errno;
			}
			if (wfd < 0)
				return -wfd == EXDEV ? EACCES : -wfd;
			if (ftruncate(wfd, (off_t)m->size) < 0)
				rc = errno;
			close(wfd);
			if (rc)
				return rc;
		}
	}
	if (m->valid & (WIRE_SET_ATIME | WIRE_SET_MTIME | WIRE_SET_ATIME_NOW | WIRE_SET_MTIME_NOW)) {
		struct timespec ts[2];

		ts[0] = set_time(m->valid, WIRE_SET_ATIME, WIRE_SET_ATIME_NOW, m->atime_sec,
				 m->atime_nsec);
		ts[1] = set_time(m->valid, WIRE_SET_MTIME, WIRE_SET_MTIME_NOW, m->mtime_sec,
				 m->mtime_nsec);
		if (!opath) {
			if (futimens(fd, ts) < 0)
				return errno;
		} else if (utimensat(fd, "", ts, AT_EMPTY_PATH) < 0) {
			if (errno != EINVAL)
				return errno;
			/* kernel without AT_EMPTY_PATH for utimensat */
			if (utimensat(AT_FDCWD, pp, ts, nofollow ? AT_SYMLINK_NOFOLLOW : 0) < 0)
				return errno;
		}
	}
	return 0;
}

static int op_setattr(struct srv_session *s, const struct wire_hdr *h, const uint8_t *p, size_t len)
{
	struct wire_setattr m;
	struct srv_handle *hd = NULL;
	const char *path = NULL;
	int fd, opath, rc = wire_dec_setattr(p, len, &m);

	if (rc)
		return bad_request(s, h, rc, m.path, no_str);
	if (m.handle) {
		hd = get_handle(s, m.handle);
		if (!hd)
			return reply_err(s, h, EBADF, NULL);
		fd = hd->fd;
		opath = hd->opath;
	} else {
		if (take_path(s, h, m.path, s->path1))
			return 0;
		path = s->path1;
		fd = res_open(s, path,
				      O_PATH | ((m.flags & WIRE_AT_NOFOLLOW) ? O_NOFOLLOW : 0), 0);
		if (fd < 0)
			return reply_resolve(s, h, -fd, path);
		opath = 1;
	}
	srv_undo_begin(s);
	rc = 0;
	if (m.valid & WIRE_SET_SIZE)
		rc = -srv_undo_truncate(s, fd, m.size);
	if (!rc && (m.valid & ~WIRE_SET_SIZE))
		rc = -srv_undo_attr(s, fd);
	if (!rc)
		rc = apply_setattr(s, &m, fd, opath, path);
	srv_undo_end(s);
	if (path)
		close(fd);
	if (rc)
		return reply_errno(s, h, rc, path ? path : hd->path);
	return reply_empty(s, h);
}

/* ---- READ_FD ------------------------------------------------------------------------------ */

/* A read-only descriptor of an open regular file for a peer on this host
 * running as our user (PROTOCOL.md 4.3): the file opened anew through the
 * handle's fd, so that it shares no offset or flags (O_DIRECT, O_APPEND)
 * with ours. The session sends it with the reply. */
static int op_read_fd(struct srv_session *s, const struct wire_hdr *h, const uint8_t *p, size_t len)
{
	struct wire_handle m;
	struct srv_handle *hd;
	char proc[40];
	int fd, rc = wire_dec_handle(p, len, &m);

	if (rc)
		return rc;
	if (!s->read_fds)
		return reply_err(s, h, ENOTSUP, "this session may not have file descriptors "
				 "(not a unix socket of the server's user, or --no-read-fds)");
	hd = get_handle(s, m.handle);
	if (!hd)
		return reply_err(s, h, EBADF, NULL);
	if (hd->opath || (hd->wflags & WIRE_O_ACCMODE) == WIRE_O_WRONLY)
		return reply_err(s, h, EBADF, "not open for reading");
	/* Regular files only: reopening a FIFO read-only would also block
	 * this session until a writer came. */
	if (!hd->regular)
		return reply_err(s, h, EINVAL, "not a regular file");
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", hd->fd);
	/* O_NONBLOCK: an open that would have to wait for another process's
	 * lease on the file to be broken fails (EWOULDBLOCK) instead of
	 * holding the session; reads of a regular file do not look at it. */
	fd = open(proc, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return reply_errno(s, h, errno, hd->path);
	rc = reply_empty(s, h);
	if (s->last_err == 0 && s->out_len)
		s->pass_fd = fd;
	else
		close(fd);
	return rc;
}

/* ---- PING and dispatch ------------------------------------------------------------------- */

static int op_ping(struct srv_session *s, const struct wire_hdr *h, const uint8_t *p, size_t len)
{
	int rc = wire_dec_empty(p, len);

	if (rc)
		return rc;
	return reply_empty(s, h);
}

typedef int op_fn(struct srv_session *s, const struct wire_hdr *h, const uint8_t *p, size_t len);

static op_fn *const ops[WIRE_TYPE_MAX + 1] = {
	[WIRE_OPEN] = op_open,		 [WIRE_CLOSE] = op_close,     [WIRE_PREAD] = op_pread,
	[WIRE_PWRITE] = op_pwrite,	 [WIRE_FTRUNCATE] = op_ftruncate, [WIRE_FSYNC] = op_fsync,
	[WIRE_FSTAT] = op_fstat,	 [WIRE_STAT] = op_stat,	      [WIRE_ACCESS] = op_access,
	[WIRE_UNLINK] = op_unlink,	 [WIRE_RENAME] = op_rename,   [WIRE_MKDIR] = op_mkdir,
	[WIRE_READDIR] = op_readdir,	 [WIRE_SETATTR] = op_setattr, [WIRE_READLINK] = op_readlink,
	[WIRE_SYMLINK] = op_symlink,	 [WIRE_LINK] = op_link,	      [WIRE_STATFS] = op_statfs,
	[WIRE_PING] = op_ping,		 [WIRE_READ_FD] = op_read_fd,
};

int srv_fileop(struct srv_session *s, const struct wire_hdr *h, const uint8_t *p, size_t len)
{
	if ((h->type >= WIRE_CKPT_PREPARE && h->type <= WIRE_CKPT_ABORT) ||
	    (h->type >= WIRE_ROLLBACK_QUERY && h->type <= WIRE_ROLLBACK_CHECK))
		return srv_ckptop(s, h, p, len);
	if (h->type > WIRE_TYPE_MAX || !ops[h->type])
		return WIRE_ETYPE;
	return ops[h->type](s, h, p, len);
}
