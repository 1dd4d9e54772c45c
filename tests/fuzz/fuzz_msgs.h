/* fuzz_msgs.h - every message decoder of wire/, with the invariants the codec promises.
 *
 * fuzz_msg_decode() runs the decoder a peer uses for a (type, direction)
 * and, when it accepts the payload, checks what wire.h promises:
 *   - the encoders refuse only what the decoders refuse, so a decoded
 *     message always encodes again;
 *   - the encoding is canonical: decode -> encode gives the same payload
 *     bytes (HELLO: the same bytes up to its options, of which the encoder
 *     writes only those it knows, in its own order), in a frame with the
 *     right header;
 *   - strings and blobs point into the payload, even after a failed decode;
 *   - the return value is 0 or a WIRE_E* code.
 * The output buffer is exactly as large as the expected frame, so an
 * encoder writing past its capacity is an ASan report.
 * Used by fuzz_msg.c (one decoder per input) and fuzz_frame.c (a stream).
 */
#ifndef CKPT_FUZZ_MSGS_H
#define CKPT_FUZZ_MSGS_H

#include "fuzz.h"
#include "wire.h"

#define FZ_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

struct fz_ctx {
	const char *name;
	uint16_t type, flags;
	const uint8_t *p; /* the payload */
	size_t n;
};

static void fz_rc(const struct fz_ctx *c, int rc)
{
	FUZZ_CHECK(rc <= WIRE_OK && rc >= WIRE_ENOSPC, "%s: decoder returned %d", c->name, rc);
}

/* A decoded string or blob lies inside the payload (or is empty). */
static void fz_in(const struct fz_ctx *c, const void *s, uint32_t len)
{
	const uint8_t *b = s;

	if (!len)
		return;
	FUZZ_CHECK(b >= c->p && b <= c->p + c->n && len <= (size_t)(c->p + c->n - b),
		   "%s: a decoded field of %u bytes points outside the payload", c->name, len);
}

static uint8_t *fz_buf(const struct fz_ctx *c)
{
	uint8_t *o = malloc(WIRE_HDR_SIZE + c->n);

	FUZZ_CHECK(o != NULL, "out of memory");
	return o;
}

/* The frame of enc bytes in o (from an encoder given the decoded message)
 * must be the header plus exactly the payload that was decoded. */
static void fz_same(const struct fz_ctx *c, uint8_t *o, long enc)
{
	struct wire_hdr h;

	if (c->n > WIRE_MAX_FRAME - WIRE_HDR_SIZE) { /* only with -max_len over 4 MiB */
		free(o);
		return;
	}
	FUZZ_CHECK(enc == (long)(WIRE_HDR_SIZE + c->n),
		   "%s: decoded %zu payload bytes, but encoding it again gives %ld", c->name, c->n, enc);
	FUZZ_CHECK(!memcmp(o + WIRE_HDR_SIZE, c->p, c->n), "%s: decode -> encode changed the payload",
		   c->name);
	FUZZ_CHECK(wire_hdr_decode(o, (size_t)enc, WIRE_MAX_FRAME, &h) == WIRE_OK && h.type == c->type &&
			   h.flags == c->flags && h.length == (uint32_t)enc && h.id == 7,
		   "%s: the re-encoded frame header is wrong", c->name);
	free(o);
}

static int fz_str_eq(struct wire_str a, struct wire_str b)
{
	return a.len == b.len && (!a.len || !memcmp(a.p, b.p, a.len));
}

/* ---- one function per decoder ----------------------------------------------- */

static void fz_hello(const struct fz_ctx *c)
{
	struct wire_hello m, m2;
	uint8_t *o;
	long enc;
	size_t opts;
	int rc = wire_dec_hello(c->p, c->n, &m);

	fz_rc(c, rc);
	fz_in(c, m.arch.p, m.arch.len);
	fz_in(c, m.job.p, m.job.len);
	fz_in(c, m.peer.p, m.peer.len);
	if (rc)
		return;
	o = fz_buf(c);
	enc = wire_enc_hello(o, WIRE_HDR_SIZE + c->n, 7, c->flags, &m);
	/* the encoder writes the options it decoded and knows (authentication,
	 * READ_FDS) after the fixed fields, dropping unknown ones: so the
	 * result is never longer than what was decoded, and its fixed part
	 * (all but those options) is a prefix of the payload, wherever the
	 * options stood in it */
	opts = (m.auth_kind ? 4 + 1 + sizeof(m.nonce) : 0) +
	       (m.challenge ? 4 + sizeof(m.nonce) + sizeof(m.proof) : 0) + (m.read_fds ? 4 : 0);
	FUZZ_CHECK(enc >= (long)(WIRE_HDR_SIZE + opts) && enc <= (long)(WIRE_HDR_SIZE + c->n) &&
			   !memcmp(o + WIRE_HDR_SIZE, c->p, (size_t)enc - WIRE_HDR_SIZE - opts),
		   "HELLO: decode -> encode gives %ld bytes whose fixed part is not the payload's prefix",
		   enc);
	FUZZ_CHECK(wire_dec_hello(o + WIRE_HDR_SIZE, (size_t)enc - WIRE_HDR_SIZE, &m2) == WIRE_OK &&
			   m2.version == m.version && m2.byte_order == m.byte_order &&
			   m2.page_size == m.page_size && m2.pid == m.pid && m2.session == m.session &&
			   m2.max_frame == m.max_frame && fz_str_eq(m2.arch, m.arch) &&
			   fz_str_eq(m2.job, m.job) && fz_str_eq(m2.peer, m.peer) &&
			   m2.auth_kind == m.auth_kind && m2.challenge == m.challenge &&
			   m2.read_fds == m.read_fds &&
			   (!(m.auth_kind || m.challenge) || !memcmp(m2.nonce, m.nonce, sizeof(m.nonce))) &&
			   (!m.challenge || !memcmp(m2.proof, m.proof, sizeof(m.proof))),
		   "HELLO: decode -> encode -> decode differs");
	free(o);
}

static void fz_auth(const struct fz_ctx *c)
{
	uint8_t proof[32];
	uint8_t *o;
	int rc = wire_dec_auth(c->p, c->n, proof);

	fz_rc(c, rc);
	if (rc)
		return;
	o = fz_buf(c);
	fz_same(c, o, wire_enc_auth(o, WIRE_HDR_SIZE + c->n, 7, proof));
}

static void fz_error(const struct fz_ctx *c)
{
	struct wire_error m;
	uint8_t *o;
	int rc = wire_dec_error(c->p, c->n, &m);

	fz_rc(c, rc);
	fz_in(c, m.msg.p, m.msg.len);
	if (rc)
		return;
	o = fz_buf(c);
	fz_same(c, o, wire_enc_error(o, WIRE_HDR_SIZE + c->n, c->type, 7, &m));
}

static void fz_empty(const struct fz_ctx *c)
{
	uint8_t *o;
	int rc = wire_dec_empty(c->p, c->n);

	fz_rc(c, rc);
	if (rc)
		return;
	o = fz_buf(c);
	fz_same(c, o, wire_enc_empty(o, WIRE_HDR_SIZE + c->n, c->type, c->flags, 7));
}

static void fz_open(const struct fz_ctx *c)
{
	struct wire_open m;
	uint8_t *o;
	int rc = wire_dec_open(c->p, c->n, &m);

	fz_rc(c, rc);
	fz_in(c, m.path.p, m.path.len);
	if (rc)
		return;
	o = fz_buf(c);
	fz_same(c, o, wire_enc_open(o, WIRE_HDR_SIZE + c->n, 7, &m));
}

static void fz_open_reply(const struct fz_ctx *c)
{
	struct wire_open_reply m;
	uint8_t *o;
	int rc = wire_dec_open_reply(c->p, c->n, &m);

	fz_rc(c, rc);
	if (rc)
		return;
	o = fz_buf(c);
	fz_same(c, o, wire_enc_open_reply(o, WIRE_HDR_SIZE + c->n, 7, &m));
}

static void fz_handle(const struct fz_ctx *c)
{
	struct wire_handle m;
	uint8_t *o;
	int rc = wire_dec_handle(c->p, c->n, &m);

	fz_rc(c, rc);
	if (rc)
		return;
	o = fz_buf(c);
	fz_same(c, o, wire_enc_handle(o, WIRE_HDR_SIZE + c->n, c->type, 7, &m));
}

static void fz_pread(const struct fz_ctx *c)
{
	struct wire_pread m;
	uint8_t *o;
	int rc = wire_dec_pread(c->p, c->n, &m);

	fz_rc(c, rc);
	if (rc)
		return;
	o = fz_buf(c);
	fz_same(c, o, wire_enc_pread(o, WIRE_HDR_SIZE + c->n, 7, &m));
}

static void fz_data_reply(const struct fz_ctx *c)
{
	struct wire_blob d;
	uint8_t *o;
	int rc = wire_dec_data_reply(c->p, c->n, &d);

	fz_rc(c, rc);
	fz_in(c, d.p, d.len);
	if (rc)
		return;
	o = fz_buf(c);
	fz_same(c, o, wire_enc_data_reply(o, WIRE_HDR_SIZE + c->n, c->type, 7, d.p, d.len));
	/* the copy-free header the server sends before the data */
	o = fz_buf(c);
	wire_enc_data_reply_hdr(o, c->type, 7, d.len);
	memcpy(o + WIRE_DATA_REPLY_HDR, d.p, d.len);
	fz_same(c, o, (long)(WIRE_DATA_REPLY_HDR + d.len));
}

static void fz_pwrite(const struct fz_ctx *c)
{
	struct wire_pwrite m;
	uint8_t *o;
	int rc = wire_dec_pwrite(c->p, c->n, &m);

	fz_rc(c, rc);
	fz_in(c, m.data.p, m.data.len);
	if (rc)
		return;
	o = fz_buf(c);
	fz_same(c, o, wire_enc_pwrite(o, WIRE_HDR_SIZE + c->n, 7, &m));
	o = fz_buf(c);
	wire_enc_pwrite_hdr(o, 7, &m);
	memcpy(o + WIRE_PWRITE_HDR, m.data.p, m.data.len);
	fz_same(c, o, (long)(WIRE_PWRITE_HDR + m.data.len));
}

static void fz_pwrite_reply(const struct fz_ctx *c)
{
	struct wire_pwrite_reply m;
	uint8_t *o;
	int rc = wire_dec_pwrite_reply(c->p, c->n, &m);

	fz_rc(c, rc);
	if (rc)
		return;
	o = fz_buf(c);
	fz_same(c, o, wire_enc_pwrite_reply(o, WIRE_HDR_SIZE + c->n, 7, &m));
}

static void fz_ftruncate(const struct fz_ctx *c)
{
	struct wire_ftruncate m;
	uint8_t *o;
	int rc = wire_dec_ftruncate(c->p, c->n, &m);

	fz_rc(c, rc);
	if (rc)
		return;
	o = fz_buf(c);
	fz_same(c, o, wire_enc_ftruncate(o, WIRE_HDR_SIZE + c->n, 7, &m));
}

static void fz_fsync(const struct fz_ctx *c)
{
	struct wire_fsync m;
	uint8_t *o;
	int rc = wire_dec_fsync(c->p, c->n, &m);

	fz_rc(c, rc);
	if (rc)
		return;
	o = fz_buf(c);
	fz_same(c, o, wire_enc_fsync(o, WIRE_HDR_SIZE + c->n, 7, &m));
}

static void fz_stat_reply(const struct fz_ctx *c)
{
	struct wire_stat m;
	uint8_t *o;
	int rc = wire_dec_stat_reply(c->p, c->n, &m);

	fz_rc(c, rc);
	if (rc)
		return;
	o = fz_buf(c);
	fz_same(c, o, wire_enc_stat_reply(o, WIRE_HDR_SIZE + c->n, c->type, 7, &m));
}

static void fz_path_req(const struct fz_ctx *c)
{
	struct wire_path_req m;
	uint8_t *o;
	int rc = wire_dec_path_req(c->p, c->n, &m);

	fz_rc(c, rc);
	fz_in(c, m.path.p, m.path.len);
	if (rc)
		return;
	o = fz_buf(c);
	fz_same(c, o, wire_enc_path_req(o, WIRE_HDR_SIZE + c->n, c->type, 7, &m));
}

static void fz_str_reply(const struct fz_ctx *c)
{
	struct wire_str s;
	uint8_t *o;
	int rc = wire_dec_str_reply(c->p, c->n, &s);

	fz_rc(c, rc);
	fz_in(c, s.p, s.len);
	if (rc)
		return;
	o = fz_buf(c);
	fz_same(c, o, wire_enc_str_reply(o, WIRE_HDR_SIZE + c->n, c->type, 7, s.p, s.len));
}

static void fz_two_paths(const struct fz_ctx *c)
{
	struct wire_two_paths m;
	uint8_t *o;
	int rc = wire_dec_two_paths(c->p, c->n, &m);

	fz_rc(c, rc);
	fz_in(c, m.from.p, m.from.len);
	fz_in(c, m.to.p, m.to.len);
	if (rc)
		return;
	o = fz_buf(c);
	fz_same(c, o, wire_enc_two_paths(o, WIRE_HDR_SIZE + c->n, c->type, 7, &m));
}

static void fz_readdir(const struct fz_ctx *c)
{
	struct wire_readdir m;
	uint8_t *o;
	int rc = wire_dec_readdir(c->p, c->n, &m);

	fz_rc(c, rc);
	if (rc)
		return;
	o = fz_buf(c);
	fz_same(c, o, wire_enc_readdir(o, WIRE_HDR_SIZE + c->n, 7, &m));
}

/* Every entry the decoder checked comes out of wire_dirent_next() and fits
 * the builder again, giving the same bytes. */
static void fz_readdir_reply(const struct fz_ctx *c)
{
	struct wire_readdir_reply m;
	struct wire_dir_builder b;
	struct wire_dirent e;
	uint32_t got = 0;
	uint8_t *o;
	int rc = wire_dec_readdir_reply(c->p, c->n, &m), k;

	fz_rc(c, rc);
	if (rc) {
		FUZZ_CHECK(m.count == 0 && m.entries.p == NULL, "READDIR reply: not reset after an error");
		return;
	}
	o = fz_buf(c);
	wire_readdir_reply_begin(&b, o, WIRE_HDR_SIZE + c->n, 7, (uint32_t)c->n);
	while ((k = wire_dirent_next(&m, &e)) == 1) {
		fz_in(c, e.name.p, e.name.len);
		FUZZ_CHECK(wire_readdir_reply_add(&b, &e) == 0, "READDIR reply: entry %u does not build again",
			   got);
		got++;
	}
	FUZZ_CHECK(k == 0 && got == m.count, "READDIR reply: %u entries walked (%d), %u counted", got, k,
		   m.count);
	fz_same(c, o, wire_readdir_reply_end(&b, m.eof));
}

static void fz_setattr(const struct fz_ctx *c)
{
	struct wire_setattr m;
	uint8_t *o;
	int rc = wire_dec_setattr(c->p, c->n, &m);

	fz_rc(c, rc);
	fz_in(c, m.path.p, m.path.len);
	if (rc)
		return;
	o = fz_buf(c);
	fz_same(c, o, wire_enc_setattr(o, WIRE_HDR_SIZE + c->n, 7, &m));
}

static void fz_statfs_reply(const struct fz_ctx *c)
{
	struct wire_statfs_reply m;
	uint8_t *o;
	int rc = wire_dec_statfs_reply(c->p, c->n, &m);

	fz_rc(c, rc);
	if (rc)
		return;
	o = fz_buf(c);
	fz_same(c, o, wire_enc_statfs_reply(o, WIRE_HDR_SIZE + c->n, 7, &m));
}

static void fz_ckpt_prepare(const struct fz_ctx *c)
{
	struct wire_ckpt_prepare m;
	uint8_t *o;
	int rc = wire_dec_ckpt_prepare(c->p, c->n, &m);

	fz_rc(c, rc);
	fz_in(c, m.data.p, m.data.len);
	if (rc)
		return;
	o = fz_buf(c);
	fz_same(c, o, wire_enc_ckpt_prepare(o, WIRE_HDR_SIZE + c->n, 7, &m));
	o = fz_buf(c);
	wire_enc_ckpt_prepare_hdr(o, 7, &m);
	memcpy(o + WIRE_CKPT_PREPARE_HDR, m.data.p, m.data.len);
	fz_same(c, o, (long)(WIRE_CKPT_PREPARE_HDR + m.data.len));
}

static void fz_ckpt_done(const struct fz_ctx *c)
{
	struct wire_ckpt_done m;
	uint8_t *o;
	int rc = wire_dec_ckpt_done(c->p, c->n, &m);

	fz_rc(c, rc);
	if (rc)
		return;
	o = fz_buf(c);
	fz_same(c, o, wire_enc_ckpt_done(o, WIRE_HDR_SIZE + c->n, 7, &m));
}

static void fz_ckpt_done_reply(const struct fz_ctx *c)
{
	struct wire_ckpt_done_reply m;
	uint8_t *o;
	int rc = wire_dec_ckpt_done_reply(c->p, c->n, &m);

	fz_rc(c, rc);
	if (rc)
		return;
	o = fz_buf(c);
	fz_same(c, o, wire_enc_ckpt_done_reply(o, WIRE_HDR_SIZE + c->n, 7, &m));
}

static void fz_gen(const struct fz_ctx *c)
{
	struct wire_gen m;
	uint8_t *o;
	int rc = wire_dec_gen(c->p, c->n, &m);

	fz_rc(c, rc);
	if (rc)
		return;
	o = fz_buf(c);
	fz_same(c, o, wire_enc_gen(o, WIRE_HDR_SIZE + c->n, c->type, 7, &m));
}

static void fz_rollback_query_reply(const struct fz_ctx *c)
{
	struct wire_rollback_query_reply m;
	struct wire_gen_info *v;
	uint32_t got = 0;
	uint8_t *o;
	int rc = wire_dec_rollback_query_reply(c->p, c->n, &m), k;

	fz_rc(c, rc);
	if (rc)
		return;
	/* the decoder checked count * 17 bytes against the payload */
	FUZZ_CHECK((uint64_t)m.count * WIRE_GEN_INFO_SIZE <= c->n, "ROLLBACK_QUERY reply: count %u", m.count);
	v = calloc(m.count + 1u, sizeof(*v));
	FUZZ_CHECK(v != NULL, "out of memory");
	while (got <= m.count && (k = wire_gen_info_next(&m, &v[got])) == 1)
		got++;
	FUZZ_CHECK(got == m.count, "ROLLBACK_QUERY reply: %u entries walked, %u counted", got, m.count);
	o = fz_buf(c);
	fz_same(c, o, wire_enc_rollback_query_reply(o, WIRE_HDR_SIZE + c->n, 7, v, got));
	free(v);
}

static void fz_rollback_reply(const struct fz_ctx *c)
{
	struct wire_rollback_reply m;
	uint8_t *o;
	int rc = wire_dec_rollback_reply(c->p, c->n, &m);

	fz_rc(c, rc);
	if (rc)
		return;
	o = fz_buf(c);
	fz_same(c, o, wire_enc_rollback_reply_as(o, WIRE_HDR_SIZE + c->n, c->type, 7, &m));
}

static void fz_image_read(const struct fz_ctx *c)
{
	struct wire_image_read m;
	uint8_t *o;
	int rc = wire_dec_image_read(c->p, c->n, &m);

	fz_rc(c, rc);
	if (rc)
		return;
	o = fz_buf(c);
	fz_same(c, o, wire_enc_image_read(o, WIRE_HDR_SIZE + c->n, 7, &m));
}

static void fz_job_list_reply(const struct fz_ctx *c)
{
	struct wire_job_list_reply m;
	struct wire_str *v;
	uint32_t got = 0;
	uint8_t *o;
	int rc = wire_dec_job_list_reply(c->p, c->n, &m), k;

	fz_rc(c, rc);
	if (rc)
		return;
	FUZZ_CHECK((uint64_t)m.count * 3u <= c->n, "JOB_LIST reply: count %u", m.count);
	v = calloc(m.count + 1u, sizeof(*v));
	FUZZ_CHECK(v != NULL, "out of memory");
	while (got <= m.count && (k = wire_job_list_next(&m, &v[got])) == 1) {
		fz_in(c, v[got].p, v[got].len);
		got++;
	}
	FUZZ_CHECK(got == m.count, "JOB_LIST reply: %u names walked, %u counted", got, m.count);
	o = fz_buf(c);
	fz_same(c, o, wire_enc_job_list_reply(o, WIRE_HDR_SIZE + c->n, 7, v, got));
	free(v);
}

/* ---- which decoder a peer uses ------------------------------------------------ */

struct fz_dec {
	uint16_t type;
	uint8_t reply; /* 0: the request (the server decodes it), 1: the reply */
	void (*fn)(const struct fz_ctx *c);
	const char *name;
};

#define FZ_REQ(t, f) { WIRE_##t, 0, fz_##f, #t " request" }
#define FZ_REP(t, f) { WIRE_##t, 1, fz_##f, #t " reply" }
static const struct fz_dec fz_decs[] = {
	FZ_REQ(HELLO, hello),		FZ_REP(HELLO, hello),
	FZ_REQ(OPEN, open),		FZ_REP(OPEN, open_reply),
	FZ_REQ(CLOSE, handle),		FZ_REP(CLOSE, empty),
	FZ_REQ(PREAD, pread),		FZ_REP(PREAD, data_reply),
	FZ_REQ(PWRITE, pwrite),		FZ_REP(PWRITE, pwrite_reply),
	FZ_REQ(FTRUNCATE, ftruncate),	FZ_REP(FTRUNCATE, empty),
	FZ_REQ(FSYNC, fsync),		FZ_REP(FSYNC, empty),
	FZ_REQ(FSTAT, handle),		FZ_REP(FSTAT, stat_reply),
	FZ_REQ(STAT, path_req),		FZ_REP(STAT, stat_reply),
	FZ_REQ(ACCESS, path_req),	FZ_REP(ACCESS, empty),
	FZ_REQ(UNLINK, path_req),	FZ_REP(UNLINK, empty),
	FZ_REQ(RENAME, two_paths),	FZ_REP(RENAME, empty),
	FZ_REQ(MKDIR, path_req),	FZ_REP(MKDIR, empty),
	FZ_REQ(READDIR, readdir),	FZ_REP(READDIR, readdir_reply),
	FZ_REQ(SETATTR, setattr),	FZ_REP(SETATTR, empty),
	FZ_REQ(READLINK, path_req),	FZ_REP(READLINK, str_reply),
	FZ_REQ(SYMLINK, two_paths),	FZ_REP(SYMLINK, empty),
	FZ_REQ(LINK, two_paths),	FZ_REP(LINK, empty),
	FZ_REQ(STATFS, path_req),	FZ_REP(STATFS, statfs_reply),
	FZ_REQ(PING, empty),		FZ_REP(PING, empty),
	FZ_REQ(CKPT_PREPARE, ckpt_prepare), FZ_REP(CKPT_PREPARE, empty),
	FZ_REQ(CKPT_DONE, ckpt_done),	FZ_REP(CKPT_DONE, ckpt_done_reply),
	FZ_REQ(CKPT_COMMIT, gen),	FZ_REP(CKPT_COMMIT, empty),
	FZ_REQ(CKPT_ABORT, gen),	FZ_REP(CKPT_ABORT, empty),
	FZ_REQ(ROLLBACK_QUERY, empty),	FZ_REP(ROLLBACK_QUERY, rollback_query_reply),
	FZ_REQ(ROLLBACK, gen),		FZ_REP(ROLLBACK, rollback_reply),
	FZ_REQ(IMAGE_READ, image_read),	FZ_REP(IMAGE_READ, data_reply),
	FZ_REQ(JOB_LIST, empty),	FZ_REP(JOB_LIST, job_list_reply),
	FZ_REQ(ROLLBACK_CHECK, gen),	FZ_REP(ROLLBACK_CHECK, rollback_reply),
	FZ_REQ(AUTH, auth),		FZ_REP(AUTH, empty),
	/* new entries go last: the committed seeds keep their control bytes
	 * (only the error reply's, always last, moves) */
	FZ_REQ(READ_FD, handle),	FZ_REP(READ_FD, empty),
};
/* The last entry: any error reply. */
#define FZ_NDECS (FZ_ARRAY_LEN(fz_decs) + 1)

/* Run entry i (i == FZ_NDECS - 1: an error reply to type) on a payload. */
static inline void fz_run(size_t i, uint16_t type, const uint8_t *p, size_t n)
{
	struct fz_ctx c = { "error reply", type, WIRE_F_REPLY | WIRE_F_ERROR, p, n };

	if (i < FZ_ARRAY_LEN(fz_decs)) {
		c.name = fz_decs[i].name;
		c.type = fz_decs[i].type;
		c.flags = fz_decs[i].reply ? WIRE_F_REPLY : 0;
		fz_decs[i].fn(&c);
	} else {
		fz_error(&c);
	}
}

/* The decoder for a frame with this header: 0 and *i, or -1 if none. */
static inline int fz_find(const struct wire_hdr *h, size_t *i)
{
	int reply = !!(h->flags & WIRE_F_REPLY);

	if (reply && (h->flags & WIRE_F_ERROR)) {
		*i = FZ_NDECS - 1;
		return 0;
	}
	for (size_t k = 0; k < FZ_ARRAY_LEN(fz_decs); k++)
		if (fz_decs[k].type == h->type && fz_decs[k].reply == reply) {
			*i = k;
			return 0;
		}
	return -1;
}

#endif
