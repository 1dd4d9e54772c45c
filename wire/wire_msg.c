/* wire_msg.c - encoders and decoders of every ckpt protocol message.
 *
 * Each message has one check_*() that states what the protocol forbids in its
 * fields; the encoder runs it before building (so no peer ever builds a frame
 * the other side refuses) and the decoder runs it after the structural
 * checks (lengths, truncation, trailing bytes), which therefore win. When
 * only the check fails, the decoded fields stay filled (the server answers a
 * bad path with an errno and needs the path for that).
 * Layouts follow wire/PROTOCOL.md field for field.
 */
#include <string.h>

#include "wire.h"

#define NSEC_PER_SEC 1000000000u
#define WIRE_MODE_ALL 0177777u	/* file type and permission bits */
#define WIRE_MODE_PERM 07777u	/* permission bits alone */
#define WIRE_S_IFMT 0170000u
#define WIRE_OFF_MAX ((uint64_t)INT64_MAX) /* largest file offset or size */

/* Fixed part of a READDIR reply payload: eof[1] count[4]. */
#define WIRE_READDIR_FIXED 5u
/* Fixed part of one directory entry: ino[8] next[8] type[1] namelen[2]. */
#define WIRE_DIRENT_FIXED 19u

/* ---- helpers ---------------------------------------------------------------- */

static void rd_fail(struct wire_rd *r, int code)
{
	if (!r->err)
		r->err = code;
}

static void rd_skip(struct wire_rd *r, size_t n)
{
	if (r->err)
		return;
	if (n > (size_t)(r->end - r->p)) {
		rd_fail(r, WIRE_ETRUNC);
		return;
	}
	r->p += n;
}

static void put_wstr(struct wire_wr *w, struct wire_str s)
{
	wire_put_str(w, s.p, s.len);
}

/* Runs a message's check after the structural checks: returns the first
 * structural error, else the check's result. */
static int rd_done(struct wire_rd *r, int check)
{
	int err = wire_rd_finish(r);

	return err ? err : check;
}

/* A text string: within max, no NUL byte. */
static int check_text(struct wire_str s, uint32_t max)
{
	if (s.len > max)
		return WIRE_ETOOBIG;
	if (s.len && memchr(s.p, '\0', s.len))
		return WIRE_EINVAL;
	return WIRE_OK;
}

static int check_path(struct wire_str s)
{
	return wire_path_check(s.p, s.len);
}

/* A path field (or SYMLINK's content): as wire_get_str(r, WIRE_MAX_PATH), but
 * a length over the limit whose bytes are all in the frame is still handed
 * out, with WIRE_ETOOBIG set and the rest of the frame left undecoded: the
 * frame is sound, so the server answers ENAMETOOLONG as a local call would
 * (PROTOCOL.md 7.1) instead of ending the session. */
static struct wire_str get_path(struct wire_rd *r)
{
	const uint8_t *at = r->p;
	int had_err = r->err;
	struct wire_str s = wire_get_str(r, WIRE_MAX_PATH);

	if (!had_err && r->err == WIRE_ETOOBIG) {
		size_t len = (size_t)at[0] << 8 | at[1];

		if (len <= (size_t)(r->end - at) - 2) {
			s.p = (const char *)at + 2;
			s.len = (uint32_t)len;
		}
	}
	return s;
}

static int check_nsec(uint32_t nsec)
{
	return nsec < NSEC_PER_SEC ? WIRE_OK : WIRE_EINVAL;
}

static int check_mode(uint32_t mode)
{
	uint32_t fmt = mode & WIRE_S_IFMT;

	if (mode & ~WIRE_MODE_ALL)
		return WIRE_EINVAL;
	switch (fmt) {
	case 0:
	case 0010000u:
	case 0020000u:
	case 0040000u:
	case 0060000u:
	case 0100000u:
	case 0120000u:
	case 0140000u:
		return WIRE_OK;
	}
	return WIRE_EINVAL;
}

static int check_dtype(uint8_t t)
{
	/* 0 1 2 4 6 8 10 12 14 */
	return (t == 1 || (t <= 14 && t % 2 == 0)) ? WIRE_OK : WIRE_EINVAL;
}

/* A directory entry name: 1..WIRE_MAX_NAME bytes, no '/' and no NUL ("." and
 * ".." are allowed: they are real entries of every directory). */
static int check_name(struct wire_str s)
{
	if (s.len == 0)
		return WIRE_EINVAL;
	if (s.len > WIRE_MAX_NAME)
		return WIRE_ETOOBIG;
	if (memchr(s.p, '\0', s.len) || memchr(s.p, '/', s.len))
		return WIRE_EINVAL;
	return WIRE_OK;
}

/* Returns the first nonzero code of a list of checks. */
static int first_err(const int *codes, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (codes[i])
			return codes[i];
	return WIRE_OK;
}
#define FIRST_ERR(...) first_err((const int[]){ __VA_ARGS__ }, \
				 sizeof((const int[]){ __VA_ARGS__ }) / sizeof(int))

/* ---- stat ------------------------------------------------------------------- */

static int check_stat(const struct wire_stat *s)
{
	return FIRST_ERR(check_mode(s->mode), check_nsec(s->atime_nsec), check_nsec(s->mtime_nsec),
			 check_nsec(s->ctime_nsec));
}

static void put_stat(struct wire_wr *w, const struct wire_stat *s)
{
	wire_put_u64(w, s->dev);
	wire_put_u64(w, s->ino);
	wire_put_u32(w, s->mode);
	wire_put_u32(w, s->nlink);
	wire_put_u32(w, s->uid);
	wire_put_u32(w, s->gid);
	wire_put_u64(w, s->rdev);
	wire_put_s64(w, s->size);
	wire_put_s64(w, s->blksize);
	wire_put_s64(w, s->blocks);
	wire_put_s64(w, s->atime_sec);
	wire_put_s64(w, s->mtime_sec);
	wire_put_s64(w, s->ctime_sec);
	wire_put_u32(w, s->atime_nsec);
	wire_put_u32(w, s->mtime_nsec);
	wire_put_u32(w, s->ctime_nsec);
}

static void get_stat(struct wire_rd *r, struct wire_stat *s)
{
	s->dev = wire_get_u64(r);
	s->ino = wire_get_u64(r);
	s->mode = wire_get_u32(r);
	s->nlink = wire_get_u32(r);
	s->uid = wire_get_u32(r);
	s->gid = wire_get_u32(r);
	s->rdev = wire_get_u64(r);
	s->size = wire_get_s64(r);
	s->blksize = wire_get_s64(r);
	s->blocks = wire_get_s64(r);
	s->atime_sec = wire_get_s64(r);
	s->mtime_sec = wire_get_s64(r);
	s->ctime_sec = wire_get_s64(r);
	s->atime_nsec = wire_get_u32(r);
	s->mtime_nsec = wire_get_u32(r);
	s->ctime_nsec = wire_get_u32(r);
}

/* ---- HELLO ------------------------------------------------------------------ */

static int check_hello(const struct wire_hello *m)
{
	int bo = (m->byte_order == WIRE_BO_LITTLE || m->byte_order == WIRE_BO_BIG) ? WIRE_OK
										    : WIRE_EINVAL;

	int auth = m->auth_kind > 2 || (m->auth_kind && m->challenge) || m->read_fds > 1
			   ? WIRE_EINVAL
			   : WIRE_OK;

	return FIRST_ERR(FIRST_ERR(bo, auth), check_text(m->arch, WIRE_MAX_STR),
			 check_text(m->job, WIRE_MAX_STR), check_text(m->peer, WIRE_MAX_STR));
}

/* Copy n bytes from the cursor, or set its error. */
static void rd_copy(struct wire_rd *r, void *dst, size_t n)
{
	const uint8_t *src = r->p;

	rd_skip(r, n);
	if (!r->err)
		memcpy(dst, src, n);
}

long wire_enc_hello(void *buf, size_t cap, uint64_t id, uint16_t flags, const struct wire_hello *m)
{
	struct wire_wr w;
	int err = check_hello(m);

	if (err)
		return err;
	if (flags & WIRE_F_ERROR)
		return WIRE_EINVAL;
	wire_frame_begin(&w, buf, cap, WIRE_HELLO, flags, id);
	wire_put_u16(&w, m->version);
	wire_put_u8(&w, m->byte_order);
	wire_put_u32(&w, m->page_size);
	wire_put_u32(&w, m->pid);
	wire_put_u64(&w, m->session);
	wire_put_u32(&w, m->max_frame);
	put_wstr(&w, m->arch);
	put_wstr(&w, m->job);
	put_wstr(&w, m->peer);
	if (m->auth_kind) {
		wire_put_u16(&w, WIRE_OPT_AUTH_OFFER);
		wire_put_u16(&w, 1 + sizeof(m->nonce));
		wire_put_u8(&w, m->auth_kind);
		wire_put_bytes(&w, m->nonce, sizeof(m->nonce));
	} else if (m->challenge) {
		wire_put_u16(&w, WIRE_OPT_AUTH_CHALLENGE);
		wire_put_u16(&w, sizeof(m->nonce) + sizeof(m->proof));
		wire_put_bytes(&w, m->nonce, sizeof(m->nonce));
		wire_put_bytes(&w, m->proof, sizeof(m->proof));
	}
	if (m->read_fds) {
		wire_put_u16(&w, WIRE_OPT_READ_FDS);
		wire_put_u16(&w, 0);
	}
	return wire_frame_end(&w);
}

int wire_dec_hello(const void *p, size_t len, struct wire_hello *m)
{
	struct wire_rd r;

	memset(m, 0, sizeof(*m));
	wire_rd_init(&r, p, len);
	m->version = wire_get_u16(&r);
	m->byte_order = wire_get_u8(&r);
	m->page_size = wire_get_u32(&r);
	m->pid = wire_get_u32(&r);
	m->session = wire_get_u64(&r);
	m->max_frame = wire_get_u32(&r);
	m->arch = wire_get_str(&r, WIRE_MAX_STR);
	m->job = wire_get_str(&r, WIRE_MAX_STR);
	m->peer = wire_get_str(&r, WIRE_MAX_STR);
	/* options: tag[2] len[2] bytes[len] to the end; the authentication
	 * options have a fixed length and appear at most once, one of them;
	 * READ_FDS is empty and appears at most once. */
	while (!r.err && r.p != r.end) {
		uint16_t tag = wire_get_u16(&r), olen = wire_get_u16(&r);

		if (r.err)
			break;
		if (tag == WIRE_OPT_AUTH_OFFER || tag == WIRE_OPT_AUTH_CHALLENGE) {
			if (m->auth_kind || m->challenge)
				return WIRE_EINVAL;
		}
		if (tag == WIRE_OPT_AUTH_OFFER) {
			if (olen != 1 + sizeof(m->nonce))
				return WIRE_EINVAL;
			m->auth_kind = wire_get_u8(&r);
			rd_copy(&r, m->nonce, sizeof(m->nonce));
			if (!r.err && (m->auth_kind == 0 || m->auth_kind > 2))
				return WIRE_EINVAL;
		} else if (tag == WIRE_OPT_AUTH_CHALLENGE) {
			if (olen != sizeof(m->nonce) + sizeof(m->proof))
				return WIRE_EINVAL;
			rd_copy(&r, m->nonce, sizeof(m->nonce));
			rd_copy(&r, m->proof, sizeof(m->proof));
			m->challenge = 1;
		} else if (tag == WIRE_OPT_READ_FDS) {
			if (olen != 0 || m->read_fds)
				return WIRE_EINVAL;
			m->read_fds = 1;
		} else {
			rd_skip(&r, olen);
		}
	}
	return rd_done(&r, check_hello(m));
}

/* ---- error reply and empty messages ------------------------------------------- */

static int check_error(const struct wire_error *m)
{
	return FIRST_ERR(m->err ? WIRE_OK : WIRE_EINVAL, check_text(m->msg, WIRE_MAX_STR));
}

long wire_enc_error(void *buf, size_t cap, uint16_t type, uint64_t id, const struct wire_error *m)
{
	struct wire_wr w;
	int err = check_error(m);

	if (err)
		return err;
	wire_frame_begin(&w, buf, cap, type, WIRE_F_REPLY | WIRE_F_ERROR, id);
	wire_put_u16(&w, m->err);
	put_wstr(&w, m->msg);
	return wire_frame_end(&w);
}

int wire_dec_error(const void *p, size_t len, struct wire_error *m)
{
	struct wire_rd r;

	memset(m, 0, sizeof(*m));
	wire_rd_init(&r, p, len);
	m->err = wire_get_u16(&r);
	m->msg = wire_get_str(&r, WIRE_MAX_STR);
	return rd_done(&r, check_error(m));
}

long wire_enc_empty(void *buf, size_t cap, uint16_t type, uint16_t flags, uint64_t id)
{
	struct wire_wr w;

	if (flags & WIRE_F_ERROR)
		return WIRE_EINVAL; /* an error reply carries a wire_error */
	wire_frame_begin(&w, buf, cap, type, flags, id);
	return wire_frame_end(&w);
}

int wire_dec_empty(const void *p, size_t len)
{
	(void)p;
	return len ? WIRE_ETRAIL : WIRE_OK;
}

/* ---- OPEN --------------------------------------------------------------------- */

static int check_open(const struct wire_open *m)
{
	int fl = WIRE_OK;

	if ((m->flags & ~WIRE_O_KNOWN) || (m->flags & WIRE_O_ACCMODE) == WIRE_O_ACCMODE)
		fl = WIRE_EINVAL;
	return FIRST_ERR(check_path(m->path), fl,
			 (m->mode & ~WIRE_MODE_PERM) ? WIRE_EINVAL : WIRE_OK);
}

long wire_enc_open(void *buf, size_t cap, uint64_t id, const struct wire_open *m)
{
	struct wire_wr w;
	int err = check_open(m);

	if (err)
		return err;
	wire_frame_begin(&w, buf, cap, WIRE_OPEN, 0, id);
	put_wstr(&w, m->path);
	wire_put_u32(&w, m->flags);
	wire_put_u32(&w, m->mode);
	return wire_frame_end(&w);
}

int wire_dec_open(const void *p, size_t len, struct wire_open *m)
{
	struct wire_rd r;

	memset(m, 0, sizeof(*m));
	wire_rd_init(&r, p, len);
	m->path = get_path(&r);
	m->flags = wire_get_u32(&r);
	m->mode = wire_get_u32(&r);
	return rd_done(&r, check_open(m));
}

static int check_open_reply(const struct wire_open_reply *m)
{
	return FIRST_ERR(m->handle ? WIRE_OK : WIRE_EINVAL, check_stat(&m->st));
}

long wire_enc_open_reply(void *buf, size_t cap, uint64_t id, const struct wire_open_reply *m)
{
	struct wire_wr w;
	int err = check_open_reply(m);

	if (err)
		return err;
	wire_frame_begin(&w, buf, cap, WIRE_OPEN, WIRE_F_REPLY, id);
	wire_put_u64(&w, m->handle);
	put_stat(&w, &m->st);
	return wire_frame_end(&w);
}

int wire_dec_open_reply(const void *p, size_t len, struct wire_open_reply *m)
{
	struct wire_rd r;

	memset(m, 0, sizeof(*m));
	wire_rd_init(&r, p, len);
	m->handle = wire_get_u64(&r);
	get_stat(&r, &m->st);
	return rd_done(&r, check_open_reply(m));
}

/* ---- CLOSE, FSTAT ------------------------------------------------------------- */

long wire_enc_handle(void *buf, size_t cap, uint16_t type, uint64_t id, const struct wire_handle *m)
{
	struct wire_wr w;

	wire_frame_begin(&w, buf, cap, type, 0, id);
	wire_put_u64(&w, m->handle);
	return wire_frame_end(&w);
}

int wire_dec_handle(const void *p, size_t len, struct wire_handle *m)
{
	struct wire_rd r;

	memset(m, 0, sizeof(*m));
	wire_rd_init(&r, p, len);
	m->handle = wire_get_u64(&r);
	return wire_rd_finish(&r);
}

/* ---- PREAD -------------------------------------------------------------------- */

static int check_pread(const struct wire_pread *m)
{
	return FIRST_ERR(m->count > WIRE_MAX_DATA ? WIRE_ETOOBIG : WIRE_OK,
			 m->offset > WIRE_OFF_MAX ? WIRE_EINVAL : WIRE_OK);
}

long wire_enc_pread(void *buf, size_t cap, uint64_t id, const struct wire_pread *m)
{
	struct wire_wr w;
	int err = check_pread(m);

	if (err)
		return err;
	wire_frame_begin(&w, buf, cap, WIRE_PREAD, 0, id);
	wire_put_u64(&w, m->handle);
	wire_put_u64(&w, m->offset);
	wire_put_u32(&w, m->count);
	return wire_frame_end(&w);
}

int wire_dec_pread(const void *p, size_t len, struct wire_pread *m)
{
	struct wire_rd r;

	memset(m, 0, sizeof(*m));
	wire_rd_init(&r, p, len);
	m->handle = wire_get_u64(&r);
	m->offset = wire_get_u64(&r);
	m->count = wire_get_u32(&r);
	return rd_done(&r, check_pread(m));
}

long wire_enc_data_reply(void *buf, size_t cap, uint16_t type, uint64_t id, const void *data,
			 uint32_t len)
{
	struct wire_wr w;

	if (len > WIRE_MAX_DATA)
		return WIRE_ETOOBIG;
	wire_frame_begin(&w, buf, cap, type, WIRE_F_REPLY, id);
	wire_put_blob(&w, data, len);
	return wire_frame_end(&w);
}

/* Cannot fail, so cannot refuse: with len over WIRE_MAX_DATA the frame length
 * is set to 0xffffffff, which every receiver refuses (WIRE_ETOOBIG) instead of
 * misreading the stream. Callers must keep len <= WIRE_MAX_DATA. */
void wire_enc_data_reply_hdr(void *buf, uint16_t type, uint64_t id, uint32_t len)
{
	struct wire_hdr h = { WIRE_DATA_REPLY_HDR + len, type, WIRE_F_REPLY, id };
	struct wire_wr w;

	if (len > WIRE_MAX_DATA)
		h.length = UINT32_MAX;
	wire_hdr_encode(buf, &h);
	wire_wr_init(&w, (uint8_t *)buf + WIRE_HDR_SIZE, 4);
	wire_put_u32(&w, len);
}

int wire_dec_data_reply(const void *p, size_t len, struct wire_blob *data)
{
	struct wire_rd r;

	wire_rd_init(&r, p, len);
	*data = wire_get_blob(&r, WIRE_MAX_DATA);
	return wire_rd_finish(&r);
}

/* ---- PWRITE ------------------------------------------------------------------- */

static int check_pwrite(const struct wire_pwrite *m)
{
	return FIRST_ERR(m->data.len > WIRE_MAX_DATA ? WIRE_ETOOBIG : WIRE_OK,
			 (m->flags & ~WIRE_PWRITE_APPEND) ? WIRE_EINVAL : WIRE_OK,
			 m->offset > WIRE_OFF_MAX ? WIRE_EINVAL : WIRE_OK);
}

static void put_pwrite_fixed(struct wire_wr *w, const struct wire_pwrite *m)
{
	wire_put_u64(w, m->handle);
	wire_put_u64(w, m->offset);
	wire_put_u32(w, m->flags);
}

long wire_enc_pwrite(void *buf, size_t cap, uint64_t id, const struct wire_pwrite *m)
{
	struct wire_wr w;
	int err = check_pwrite(m);

	if (err)
		return err;
	wire_frame_begin(&w, buf, cap, WIRE_PWRITE, 0, id);
	put_pwrite_fixed(&w, m);
	wire_put_blob(&w, m->data.p, m->data.len);
	return wire_frame_end(&w);
}

/* Same poisoning as wire_enc_data_reply_hdr() for data over WIRE_MAX_DATA. */
void wire_enc_pwrite_hdr(void *buf, uint64_t id, const struct wire_pwrite *m)
{
	struct wire_hdr h = { WIRE_PWRITE_HDR + m->data.len, WIRE_PWRITE, 0, id };
	struct wire_wr w;

	if (m->data.len > WIRE_MAX_DATA)
		h.length = UINT32_MAX;
	wire_hdr_encode(buf, &h);
	wire_wr_init(&w, (uint8_t *)buf + WIRE_HDR_SIZE, WIRE_PWRITE_HDR - WIRE_HDR_SIZE);
	put_pwrite_fixed(&w, m);
	wire_put_u32(&w, m->data.len);
}

int wire_dec_pwrite(const void *p, size_t len, struct wire_pwrite *m)
{
	struct wire_rd r;

	memset(m, 0, sizeof(*m));
	wire_rd_init(&r, p, len);
	m->handle = wire_get_u64(&r);
	m->offset = wire_get_u64(&r);
	m->flags = wire_get_u32(&r);
	m->data = wire_get_blob(&r, WIRE_MAX_DATA);
	return rd_done(&r, check_pwrite(m));
}

static int check_pwrite_reply(const struct wire_pwrite_reply *m)
{
	return FIRST_ERR(m->written > WIRE_MAX_DATA ? WIRE_EINVAL : WIRE_OK,
			 m->end > WIRE_OFF_MAX ? WIRE_EINVAL : WIRE_OK);
}

long wire_enc_pwrite_reply(void *buf, size_t cap, uint64_t id, const struct wire_pwrite_reply *m)
{
	struct wire_wr w;
	int err = check_pwrite_reply(m);

	if (err)
		return err;
	wire_frame_begin(&w, buf, cap, WIRE_PWRITE, WIRE_F_REPLY, id);
	wire_put_u32(&w, m->written);
	wire_put_u64(&w, m->end);
	return wire_frame_end(&w);
}

int wire_dec_pwrite_reply(const void *p, size_t len, struct wire_pwrite_reply *m)
{
	struct wire_rd r;

	memset(m, 0, sizeof(*m));
	wire_rd_init(&r, p, len);
	m->written = wire_get_u32(&r);
	m->end = wire_get_u64(&r);
	return rd_done(&r, check_pwrite_reply(m));
}

/* ---- FTRUNCATE, FSYNC ------------------------------------------------------------ */

long wire_enc_ftruncate(void *buf, size_t cap, uint64_t id, const struct wire_ftruncate *m)
{
	struct wire_wr w;

	if (m->length > WIRE_OFF_MAX)
		return WIRE_EINVAL;
	wire_frame_begin(&w, buf, cap, WIRE_FTRUNCATE, 0, id);
	wire_put_u64(&w, m->handle);
	wire_put_u64(&w, m->length);
	return wire_frame_end(&w);
}

int wire_dec_ftruncate(const void *p, size_t len, struct wire_ftruncate *m)
{
	struct wire_rd r;

	memset(m, 0, sizeof(*m));
	wire_rd_init(&r, p, len);
	m->handle = wire_get_u64(&r);
	m->length = wire_get_u64(&r);
	return rd_done(&r, m->length > WIRE_OFF_MAX ? WIRE_EINVAL : WIRE_OK);
}

long wire_enc_fsync(void *buf, size_t cap, uint64_t id, const struct wire_fsync *m)
{
	struct wire_wr w;

	if (m->datasync > 1)
		return WIRE_EINVAL;
	wire_frame_begin(&w, buf, cap, WIRE_FSYNC, 0, id);
	wire_put_u64(&w, m->handle);
	wire_put_u8(&w, m->datasync);
	return wire_frame_end(&w);
}

int wire_dec_fsync(const void *p, size_t len, struct wire_fsync *m)
{
	struct wire_rd r;

	memset(m, 0, sizeof(*m));
	wire_rd_init(&r, p, len);
	m->handle = wire_get_u64(&r);
	m->datasync = wire_get_u8(&r);
	return rd_done(&r, m->datasync > 1 ? WIRE_EINVAL : WIRE_OK);
}

/* ---- STAT / FSTAT reply ------------------------------------------------------------ */

long wire_enc_stat_reply(void *buf, size_t cap, uint16_t type, uint64_t id, const struct wire_stat *m)
{
	struct wire_wr w;
	int err = check_stat(m);

	if (err)
		return err;
	wire_frame_begin(&w, buf, cap, type, WIRE_F_REPLY, id);
	put_stat(&w, m);
	return wire_frame_end(&w);
}

int wire_dec_stat_reply(const void *p, size_t len, struct wire_stat *m)
{
	struct wire_rd r;

	memset(m, 0, sizeof(*m));
	wire_rd_init(&r, p, len);
	get_stat(&r, m);
	return rd_done(&r, check_stat(m));
}

/* ---- path requests: STAT, READLINK, ACCESS, UNLINK, MKDIR, STATFS ----------------- */

static int check_path_req(const struct wire_path_req *m)
{
	uint32_t known = WIRE_AT_NOFOLLOW | WIRE_AT_REMOVEDIR | WIRE_AT_EACCESS;

	return FIRST_ERR(check_path(m->path), (m->flags & ~known) ? WIRE_EINVAL : WIRE_OK);
}

long wire_enc_path_req(void *buf, size_t cap, uint16_t type, uint64_t id, const struct wire_path_req *m)
{
	struct wire_wr w;
	int err = check_path_req(m);

	if (err)
		return err;
	wire_frame_begin(&w, buf, cap, type, 0, id);
	put_wstr(&w, m->path);
	wire_put_u32(&w, m->flags);
	wire_put_u32(&w, m->arg);
	return wire_frame_end(&w);
}

int wire_dec_path_req(const void *p, size_t len, struct wire_path_req *m)
{
	struct wire_rd r;

	memset(m, 0, sizeof(*m));
	wire_rd_init(&r, p, len);
	m->path = get_path(&r);
	m->flags = wire_get_u32(&r);
	m->arg = wire_get_u32(&r);
	return rd_done(&r, check_path_req(m));
}

long wire_enc_str_reply(void *buf, size_t cap, uint16_t type, uint64_t id, const char *s, uint32_t len)
{
	struct wire_str str = { s, len };
	struct wire_wr w;
	int err = check_text(str, WIRE_MAX_PATH);

	if (err)
		return err;
	wire_frame_begin(&w, buf, cap, type, WIRE_F_REPLY, id);
	wire_put_str(&w, s, len);
	return wire_frame_end(&w);
}

int wire_dec_str_reply(const void *p, size_t len, struct wire_str *s)
{
	struct wire_rd r;

	wire_rd_init(&r, p, len);
	*s = wire_get_str(&r, WIRE_MAX_PATH);
	return rd_done(&r, check_text(*s, WIRE_MAX_PATH));
}

/* ---- RENAME, SYMLINK, LINK -------------------------------------------------------- */

static int check_two_paths(const struct wire_two_paths *m)
{
	uint32_t known = WIRE_RENAME_NOREPLACE | WIRE_RENAME_EXCHANGE;
	int fl = WIRE_OK;

	if ((m->flags & ~known) || (m->flags & known) == known)
		fl = WIRE_EINVAL;
	/* `from` is a free link target for SYMLINK: only text rules here */
	return FIRST_ERR(check_text(m->from, WIRE_MAX_PATH), check_path(m->to), fl);
}

long wire_enc_two_paths(void *buf, size_t cap, uint16_t type, uint64_t id, const struct wire_two_paths *m)
{
	struct wire_wr w;
	int err = check_two_paths(m);

	if (err)
		return err;
	wire_frame_begin(&w, buf, cap, type, 0, id);
	put_wstr(&w, m->from);
	put_wstr(&w, m->to);
	wire_put_u32(&w, m->flags);
	return wire_frame_end(&w);
}

int wire_dec_two_paths(const void *p, size_t len, struct wire_two_paths *m)
{
	struct wire_rd r;

	memset(m, 0, sizeof(*m));
	wire_rd_init(&r, p, len);
	m->from = get_path(&r);
	m->to = get_path(&r);
	m->flags = wire_get_u32(&r);
	return rd_done(&r, check_two_paths(m));
}

/* ---- READDIR ----------------------------------------------------------------------- */

long wire_enc_readdir(void *buf, size_t cap, uint64_t id, const struct wire_readdir *m)
{
	struct wire_wr w;

	wire_frame_begin(&w, buf, cap, WIRE_READDIR, 0, id);
	wire_put_u64(&w, m->handle);
	wire_put_u64(&w, m->cookie);
	wire_put_u32(&w, m->max_bytes);
	return wire_frame_end(&w);
}

int wire_dec_readdir(const void *p, size_t len, struct wire_readdir *m)
{
	struct wire_rd r;

	memset(m, 0, sizeof(*m));
	wire_rd_init(&r, p, len);
	m->handle = wire_get_u64(&r);
	m->cookie = wire_get_u64(&r);
	m->max_bytes = wire_get_u32(&r);
	return wire_rd_finish(&r);
}

static int check_dirent(const struct wire_dirent *e)
{
	return FIRST_ERR(check_name(e->name), check_dtype(e->type));
}

/* The payload may not exceed max_bytes, except that an empty reply (eof and
 * count alone) is always allowed; the frame never exceeds cap or
 * WIRE_MAX_FRAME. */
void wire_readdir_reply_begin(struct wire_dir_builder *b, void *buf, size_t cap, uint64_t id,
			      uint32_t max_bytes)
{
	size_t payload = max_bytes < WIRE_READDIR_FIXED ? WIRE_READDIR_FIXED : max_bytes;

	if (payload > WIRE_MAX_FRAME)
		payload = WIRE_MAX_FRAME; /* the frame limit below is the smaller one */
	b->count = 0;
	b->count_at = NULL;
	b->limit = cap < WIRE_MAX_FRAME ? cap : WIRE_MAX_FRAME;
	if (payload + WIRE_HDR_SIZE < b->limit)
		b->limit = payload + WIRE_HDR_SIZE;
	wire_frame_begin(&b->w, buf, cap, WIRE_READDIR, WIRE_F_REPLY, id);
	wire_put_u8(&b->w, 0); /* eof, set by _end */
	if (!b->w.err)
		b->count_at = b->w.p;
	wire_put_u32(&b->w, 0); /* count, set by _end */
}

/* 0: added. -1 (WIRE_ETRUNC): does not fit, nothing written, the frame stays
 * valid; send it. WIRE_EINVAL: the entry cannot travel (bad name or type). */
int wire_readdir_reply_add(struct wire_dir_builder *b, const struct wire_dirent *e)
{
	size_t need;

	if (check_dirent(e))
		return WIRE_EINVAL;
	need = WIRE_DIRENT_FIXED + e->name.len;
	if (b->w.err || wire_wr_len(&b->w) > b->limit || need > b->limit - wire_wr_len(&b->w))
		return -1;
	wire_put_u64(&b->w, e->ino);
	wire_put_u64(&b->w, e->next);
	wire_put_u8(&b->w, e->type);
	put_wstr(&b->w, e->name);
	b->count++;
	return 0;
}

long wire_readdir_reply_end(struct wire_dir_builder *b, uint8_t eof)
{
	struct wire_wr fix;

	if (b->w.err)
		return b->w.err;
	if (!b->count_at)
		return WIRE_EINVAL;
	wire_wr_init(&fix, b->count_at - 1, 1 + 4);
	wire_put_u8(&fix, eof ? 1 : 0);
	wire_put_u32(&fix, b->count);
	return wire_frame_end(&b->w);
}

static void get_dirent(struct wire_rd *r, struct wire_dirent *e)
{
	e->ino = wire_get_u64(r);
	e->next = wire_get_u64(r);
	e->type = wire_get_u8(r);
	e->name = wire_get_str(r, WIRE_MAX_NAME);
	if (!r->err)
		rd_fail(r, check_dirent(e));
}

/* Walks every entry once, so that wire_dirent_next() cannot fail later. */
int wire_dec_readdir_reply(const void *p, size_t len, struct wire_readdir_reply *m)
{
	struct wire_rd r;
	struct wire_dirent e;
	uint32_t i;

	memset(m, 0, sizeof(*m));
	wire_rd_init(&r, p, len);
	m->eof = wire_get_u8(&r);
	m->count = wire_get_u32(&r);
	m->entries = r;
	for (i = 0; i < m->count && !r.err; i++)
		get_dirent(&r, &e);
	if (wire_rd_finish(&r) || m->eof > 1) {
		int err = r.err ? r.err : WIRE_EINVAL;

		memset(m, 0, sizeof(*m));
		return err;
	}
	return WIRE_OK;
}

int wire_dirent_next(struct wire_readdir_reply *m, struct wire_dirent *e)
{
	memset(e, 0, sizeof(*e));
	if (m->entries.err)
		return m->entries.err;
	if (m->entries.p == m->entries.end)
		return 0;
	get_dirent(&m->entries, e);
	return m->entries.err ? m->entries.err : 1;
}

/* ---- SETATTR ----------------------------------------------------------------------- */

static int check_setattr(const struct wire_setattr *m)
{
	uint32_t v = m->valid;
	int bits = WIRE_OK;

	if ((m->flags & ~WIRE_AT_NOFOLLOW) || (v & ~0xffu) ||
	    ((v & WIRE_SET_ATIME) && (v & WIRE_SET_ATIME_NOW)) ||
	    ((v & WIRE_SET_MTIME) && (v & WIRE_SET_MTIME_NOW)))
		bits = WIRE_EINVAL;
	return FIRST_ERR(check_path(m->path), bits,
			 (m->mode & ~WIRE_MODE_PERM) ? WIRE_EINVAL : WIRE_OK,
			 m->size > WIRE_OFF_MAX ? WIRE_EINVAL : WIRE_OK, check_nsec(m->atime_nsec),
			 check_nsec(m->mtime_nsec));
}

long wire_enc_setattr(void *buf, size_t cap, uint64_t id, const struct wire_setattr *m)
{
	struct wire_wr w;
	int err = check_setattr(m);

	if (err)
		return err;
	wire_frame_begin(&w, buf, cap, WIRE_SETATTR, 0, id);
	wire_put_u64(&w, m->handle);
	put_wstr(&w, m->path);
	wire_put_u32(&w, m->flags);
	wire_put_u32(&w, m->valid);
	wire_put_u32(&w, m->mode);
	wire_put_u32(&w, m->uid);
	wire_put_u32(&w, m->gid);
	wire_put_u64(&w, m->size);
	wire_put_s64(&w, m->atime_sec);
	wire_put_s64(&w, m->mtime_sec);
	wire_put_u32(&w, m->atime_nsec);
	wire_put_u32(&w, m->mtime_nsec);
	return wire_frame_end(&w);
}

int wire_dec_setattr(const void *p, size_t len, struct wire_setattr *m)
{
	struct wire_rd r;

	memset(m, 0, sizeof(*m));
	wire_rd_init(&r, p, len);
	m->handle = wire_get_u64(&r);
	m->path = get_path(&r);
	m->flags = wire_get_u32(&r);
	m->valid = wire_get_u32(&r);
	m->mode = wire_get_u32(&r);
	m->uid = wire_get_u32(&r);
	m->gid = wire_get_u32(&r);
	m->size = wire_get_u64(&r);
	m->atime_sec = wire_get_s64(&r);
	m->mtime_sec = wire_get_s64(&r);
	m->atime_nsec = wire_get_u32(&r);
	m->mtime_nsec = wire_get_u32(&r);
	return rd_done(&r, check_setattr(m));
}

/* ---- STATFS reply ------------------------------------------------------------------- */

long wire_enc_statfs_reply(void *buf, size_t cap, uint64_t id, const struct wire_statfs_reply *m)
{
	struct wire_wr w;

	if (m->flags & ~(uint64_t)WIRE_ST_KNOWN)
		return WIRE_EINVAL;
	wire_frame_begin(&w, buf, cap, WIRE_STATFS, WIRE_F_REPLY, id);
	wire_put_u64(&w, m->bsize);
	wire_put_u64(&w, m->frsize);
	wire_put_u64(&w, m->blocks);
	wire_put_u64(&w, m->bfree);
	wire_put_u64(&w, m->bavail);
	wire_put_u64(&w, m->files);
	wire_put_u64(&w, m->ffree);
	wire_put_u64(&w, m->favail);
	wire_put_u64(&w, m->namemax);
	wire_put_u64(&w, m->fsid);
	wire_put_u64(&w, m->flags);
	return wire_frame_end(&w);
}

int wire_dec_statfs_reply(const void *p, size_t len, struct wire_statfs_reply *m)
{
	struct wire_rd r;

	memset(m, 0, sizeof(*m));
	wire_rd_init(&r, p, len);
	m->bsize = wire_get_u64(&r);
	m->frsize = wire_get_u64(&r);
	m->blocks = wire_get_u64(&r);
	m->bfree = wire_get_u64(&r);
	m->bavail = wire_get_u64(&r);
	m->files = wire_get_u64(&r);
	m->ffree = wire_get_u64(&r);
	m->favail = wire_get_u64(&r);
	m->namemax = wire_get_u64(&r);
	m->fsid = wire_get_u64(&r);
	m->flags = wire_get_u64(&r);
	return rd_done(&r, (m->flags & ~(uint64_t)WIRE_ST_KNOWN) ? WIRE_EINVAL : WIRE_OK);
}

/* ---- AUTH ---------------------------------------------------------------------- */

long wire_enc_auth(void *buf, size_t cap, uint64_t id, const uint8_t proof[32])
{
	struct wire_wr w;

	wire_frame_begin(&w, buf, cap, WIRE_AUTH, 0, id);
	wire_put_bytes(&w, proof, 32);
	return wire_frame_end(&w);
}

int wire_dec_auth(const void *p, size_t len, uint8_t proof[32])
{
	struct wire_rd r;

	wire_rd_init(&r, p, len);
	rd_copy(&r, proof, 32);
	return rd_done(&r, WIRE_OK);
}
