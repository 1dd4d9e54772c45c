/* wire_ckpt.c - encoders and decoders of the checkpoint and restart messages.
 *
 * Same rules as wire_msg.c: one check_*() per message states what the
 * protocol forbids; encoders run it first, decoders after the structural
 * checks (truncation, bounds, trailing bytes), which win. Layouts follow
 * wire/PROTOCOL.md sections 4.4 and 4.5 field for field.
 */
#include <string.h>

#include "wire.h"

#define WIRE_OFF_MAX ((uint64_t)INT64_MAX) /* largest offset or size */

/* ---- helpers ---------------------------------------------------------------- */

static int rd_done(struct wire_rd *r, int check)
{
	int err = wire_rd_finish(r);

	return err ? err : check;
}

static int check_gen(uint64_t gen)
{
	return gen ? WIRE_OK : WIRE_EINVAL;
}

static int check_size(uint64_t v)
{
	return v > WIRE_OFF_MAX ? WIRE_EINVAL : WIRE_OK;
}

/* ---- CKPT_PREPARE ------------------------------------------------------------- */

/* offset + len <= total <= 2^63 - 1, without forming a sum that overflows;
 * an unknown total (WIRE_CKPT_TOTAL_UNKNOWN) bounds it by 2^63 - 1. */
static int check_prepare(const struct wire_ckpt_prepare *m)
{
	if (m->data.len > WIRE_MAX_DATA)
		return WIRE_ETOOBIG;
	uint64_t total = m->total == WIRE_CKPT_TOTAL_UNKNOWN ? WIRE_OFF_MAX : m->total;

	if (check_gen(m->gen) || check_size(total) || m->offset > total ||
	    (uint64_t)m->data.len > total - m->offset)
		return WIRE_EINVAL;
	return WIRE_OK;
}

static void put_prepare_fixed(struct wire_wr *w, const struct wire_ckpt_prepare *m)
{
	wire_put_u64(w, m->gen);
	wire_put_u64(w, m->offset);
	wire_put_u64(w, m->total);
}

long wire_enc_ckpt_prepare(void *buf, size_t cap, uint64_t id, const struct wire_ckpt_prepare *m)
{
	struct wire_wr w;
	int err = check_prepare(m);

	if (err)
		return err;
	wire_frame_begin(&w, buf, cap, WIRE_CKPT_PREPARE, 0, id);
	put_prepare_fixed(&w, m);
	wire_put_blob(&w, m->data.p, m->data.len);
	return wire_frame_end(&w);
}

void wire_enc_ckpt_prepare_hdr(void *buf, uint64_t id, const struct wire_ckpt_prepare *m)
{
	struct wire_hdr h = { WIRE_CKPT_PREPARE_HDR + m->data.len, WIRE_CKPT_PREPARE, 0, id };
	struct wire_wr w;

	if (m->data.len > WIRE_MAX_DATA)
		h.length = UINT32_MAX;
	wire_hdr_encode(buf, &h);
	wire_wr_init(&w, (uint8_t *)buf + WIRE_HDR_SIZE, WIRE_CKPT_PREPARE_HDR - WIRE_HDR_SIZE);
	put_prepare_fixed(&w, m);
	wire_put_u32(&w, m->data.len);
}

int wire_dec_ckpt_prepare(const void *p, size_t len, struct wire_ckpt_prepare *m)
{
	struct wire_rd r;

	memset(m, 0, sizeof(*m));
	wire_rd_init(&r, p, len);
	m->gen = wire_get_u64(&r);
	m->offset = wire_get_u64(&r);
	m->total = wire_get_u64(&r);
	m->data = wire_get_blob(&r, WIRE_MAX_DATA);
	return rd_done(&r, check_prepare(m));
}

/* ---- CKPT_DONE ---------------------------------------------------------------- */

static int check_done(const struct wire_ckpt_done *m)
{
	return (check_gen(m->gen) || check_size(m->total)) ? WIRE_EINVAL : WIRE_OK;
}

long wire_enc_ckpt_done(void *buf, size_t cap, uint64_t id, const struct wire_ckpt_done *m)
{
	struct wire_wr w;
	int err = check_done(m);

	if (err)
		return err;
	wire_frame_begin(&w, buf, cap, WIRE_CKPT_DONE, 0, id);
	wire_put_u64(&w, m->gen);
	wire_put_u64(&w, m->total);
	wire_put_u64(&w, m->image_xxh64);
	return wire_frame_end(&w);
}

int wire_dec_ckpt_done(const void *p, size_t len, struct wire_ckpt_done *m)
{
	struct wire_rd r;

	memset(m, 0, sizeof(*m));
	wire_rd_init(&r, p, len);
	m->gen = wire_get_u64(&r);
	m->total = wire_get_u64(&r);
	m->image_xxh64 = wire_get_u64(&r);
	return rd_done(&r, check_done(m));
}

static int check_done_reply(const struct wire_ckpt_done_reply *m)
{
	return (check_gen(m->gen) || check_size(m->file_size)) ? WIRE_EINVAL : WIRE_OK;
}

long wire_enc_ckpt_done_reply(void *buf, size_t cap, uint64_t id, const struct wire_ckpt_done_reply *m)
{
	struct wire_wr w;
	int err = check_done_reply(m);

	if (err)
		return err;
	wire_frame_begin(&w, buf, cap, WIRE_CKPT_DONE, WIRE_F_REPLY, id);
	wire_put_u64(&w, m->gen);
	wire_put_u64(&w, m->file_size);
	return wire_frame_end(&w);
}

int wire_dec_ckpt_done_reply(const void *p, size_t len, struct wire_ckpt_done_reply *m)
{
	struct wire_rd r;

	memset(m, 0, sizeof(*m));
	wire_rd_init(&r, p, len);
	m->gen = wire_get_u64(&r);
	m->file_size = wire_get_u64(&r);
	return rd_done(&r, check_done_reply(m));
}

/* ---- CKPT_COMMIT, CKPT_ABORT, ROLLBACK ------------------------------------------ */

long wire_enc_gen(void *buf, size_t cap, uint16_t type, uint64_t id, const struct wire_gen *m)
{
	struct wire_wr w;

	if (type != WIRE_CKPT_COMMIT && type != WIRE_CKPT_ABORT && type != WIRE_ROLLBACK &&
	    type != WIRE_ROLLBACK_CHECK)
		return WIRE_ETYPE;
	if (check_gen(m->gen))
		return WIRE_EINVAL;
	wire_frame_begin(&w, buf, cap, type, 0, id);
	wire_put_u64(&w, m->gen);
	return wire_frame_end(&w);
}

int wire_dec_gen(const void *p, size_t len, struct wire_gen *m)
{
	struct wire_rd r;

	memset(m, 0, sizeof(*m));
	wire_rd_init(&r, p, len);
	m->gen = wire_get_u64(&r);
	return rd_done(&r, check_gen(m->gen));
}

/* ---- ROLLBACK_QUERY reply ---------------------------------------------------------- */

static int check_gen_info(const struct wire_gen_info *e)
{
	if (check_gen(e->gen) || check_size(e->image_size))
		return WIRE_EINVAL;
	if (e->state != WIRE_GEN_PREPARED && e->state != WIRE_GEN_COMMITTED)
		return WIRE_EINVAL;
	return WIRE_OK;
}

long wire_enc_rollback_query_reply(void *buf, size_t cap, uint64_t id,
				   const struct wire_gen_info *v, uint32_t n)
{
	struct wire_wr w;
	uint32_t i;

	if (n > WIRE_GEN_INFO_MAX)
		return WIRE_ETOOBIG;
	for (i = 0; i < n; i++)
		if (check_gen_info(&v[i]))
			return WIRE_EINVAL;
	wire_frame_begin(&w, buf, cap, WIRE_ROLLBACK_QUERY, WIRE_F_REPLY, id);
	wire_put_u32(&w, n);
	for (i = 0; i < n; i++) {
		wire_put_u64(&w, v[i].gen);
		wire_put_u8(&w, v[i].state);
		wire_put_u64(&w, v[i].image_size);
	}
	return wire_frame_end(&w);
}

static void get_gen_info(struct wire_rd *r, struct wire_gen_info *e)
{
	e->gen = wire_get_u64(r);
	e->state = wire_get_u8(r);
	e->image_size = wire_get_u64(r);
	if (!r->err && check_gen_info(e))
		r->err = WIRE_EINVAL;
}

/* Walks every entry once, so that wire_gen_info_next() cannot fail later. */
int wire_dec_rollback_query_reply(const void *p, size_t len, struct wire_rollback_query_reply *m)
{
	struct wire_gen_info e;
	struct wire_rd r;
	uint32_t i;

	memset(m, 0, sizeof(*m));
	wire_rd_init(&r, p, len);
	m->count = wire_get_u32(&r);
	m->entries = r;
	/* The count is checked against the bytes present before any loop
	 * trusts it. */
	if (!r.err && (uint64_t)m->count * WIRE_GEN_INFO_SIZE > (uint64_t)(r.end - r.p))
		r.err = WIRE_ETRUNC;
	for (i = 0; i < m->count && !r.err; i++)
		get_gen_info(&r, &e);
	if (wire_rd_finish(&r)) {
		int err = r.err;

		memset(m, 0, sizeof(*m));
		return err;
	}
	return WIRE_OK;
}

int wire_gen_info_next(struct wire_rollback_query_reply *m, struct wire_gen_info *e)
{
	memset(e, 0, sizeof(*e));
	if (m->entries.err)
		return m->entries.err;
	if (m->entries.p == m->entries.end)
		return 0;
	get_gen_info(&m->entries, e);
	return m->entries.err ? m->entries.err : 1;
}

/* ---- ROLLBACK reply ------------------------------------------------------------------ */

static int check_rollback_reply(const struct wire_rollback_reply *m)
{
	return (check_gen(m->gen) || check_size(m->image_size)) ? WIRE_EINVAL : WIRE_OK;
}

long wire_enc_rollback_reply(void *buf, size_t cap, uint64_t id, const struct wire_rollback_reply *m)
{
	return wire_enc_rollback_reply_as(buf, cap, WIRE_ROLLBACK, id, m);
}

long wire_enc_rollback_reply_as(void *buf, size_t cap, uint16_t type, uint64_t id,
				const struct wire_rollback_reply *m)
{
	struct wire_wr w;
	int err = check_rollback_reply(m);

	if (err)
		return err;
	if (type != WIRE_ROLLBACK && type != WIRE_ROLLBACK_CHECK)
		return WIRE_ETYPE;
	wire_frame_begin(&w, buf, cap, type, WIRE_F_REPLY, id);
	wire_put_u64(&w, m->gen);
	wire_put_u64(&w, m->image_size);
	wire_put_u64(&w, m->image_xxh64);
	return wire_frame_end(&w);
}

int wire_dec_rollback_reply(const void *p, size_t len, struct wire_rollback_reply *m)
{
	struct wire_rd r;

	memset(m, 0, sizeof(*m));
	wire_rd_init(&r, p, len);
	m->gen = wire_get_u64(&r);
	m->image_size = wire_get_u64(&r);
	m->image_xxh64 = wire_get_u64(&r);
	return rd_done(&r, check_rollback_reply(m));
}

/* ---- IMAGE_READ ---------------------------------------------------------------------- */

static int check_image_read(const struct wire_image_read *m)
{
	if (m->count > WIRE_MAX_DATA)
		return WIRE_ETOOBIG;
	return (check_gen(m->gen) || check_size(m->offset)) ? WIRE_EINVAL : WIRE_OK;
}

long wire_enc_image_read(void *buf, size_t cap, uint64_t id, const struct wire_image_read *m)
{
	struct wire_wr w;
	int err = check_image_read(m);

	if (err)
		return err;
	wire_frame_begin(&w, buf, cap, WIRE_IMAGE_READ, 0, id);
	wire_put_u64(&w, m->gen);
	wire_put_u64(&w, m->offset);
	wire_put_u32(&w, m->count);
	return wire_frame_end(&w);
}

int wire_dec_image_read(const void *p, size_t len, struct wire_image_read *m)
{
	struct wire_rd r;

	memset(m, 0, sizeof(*m));
	wire_rd_init(&r, p, len);
	m->gen = wire_get_u64(&r);
	m->offset = wire_get_u64(&r);
	m->count = wire_get_u32(&r);
	return rd_done(&r, check_image_read(m));
}

/* ---- JOB_LIST reply ------------------------------------------------------------------ */

long wire_enc_job_list_reply(void *buf, size_t cap, uint64_t id, const struct wire_str *v, uint32_t n)
{
	struct wire_wr w;
	uint32_t i;

	for (i = 0; i < n; i++)
		if (wire_job_check(v[i].p, v[i].len))
			return WIRE_EINVAL;
	wire_frame_begin(&w, buf, cap, WIRE_JOB_LIST, WIRE_F_REPLY, id);
	wire_put_u32(&w, n);
	for (i = 0; i < n; i++)
		wire_put_str(&w, v[i].p, v[i].len);
	return wire_frame_end(&w);
}

static void get_job_name(struct wire_rd *r, struct wire_str *e)
{
	*e = wire_get_str(r, WIRE_MAX_JOB);
	if (!r->err && wire_job_check(e->p, e->len))
		r->err = WIRE_EINVAL;
}

/* Walks every entry once, so that wire_job_list_next() cannot fail later. */
int wire_dec_job_list_reply(const void *p, size_t len, struct wire_job_list_reply *m)
{
	struct wire_str e;
	struct wire_rd r;
	uint32_t i;

	memset(m, 0, sizeof(*m));
	wire_rd_init(&r, p, len);
	m->count = wire_get_u32(&r);
	m->entries = r;
	/* Each name takes at least 3 bytes (length and one byte). */
	if (!r.err && (uint64_t)m->count * 3u > (uint64_t)(r.end - r.p))
		r.err = WIRE_ETRUNC;
	for (i = 0; i < m->count && !r.err; i++)
		get_job_name(&r, &e);
	if (wire_rd_finish(&r)) {
		int err = r.err;

		memset(m, 0, sizeof(*m));
		return err;
	}
	return WIRE_OK;
}

int wire_job_list_next(struct wire_job_list_reply *m, struct wire_str *e)
{
	memset(e, 0, sizeof(*e));
	if (m->entries.err)
		return m->entries.err;
	if (m->entries.p == m->entries.end)
		return 0;
	get_job_name(&m->entries, e);
	return m->entries.err ? m->entries.err : 1;
}
