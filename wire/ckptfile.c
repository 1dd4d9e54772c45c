/* ckptfile.c - build and validate joint checkpoint files (wire/CHECKPOINT.md). */
#include <string.h>
#define XXH_STATIC_LINKING_ONLY /* XXH64_state_t on the stack */
#include <xxhash.h>

#include "ckptfile.h"

const uint8_t wire_ckf_magic[WIRE_CKF_MAGIC_LEN] = { 0x89, 'C', 'K', 'P', 'T', 'J', 'F', '\n' };
const uint8_t wire_ckf_end_magic[WIRE_CKF_MAGIC_LEN] = { 'C', 'K', 'P', 'T', 'E', 'N', 'D', '\n' };

#define OFF_MAX ((uint64_t)INT64_MAX)
#define NSEC_PER_SEC 1000000000u

const char *wire_ckf_strerror(int code)
{
	switch (code) {
	case WIRE_CKF_EMAGIC:
		return "not a joint checkpoint file (bad magic)";
	case WIRE_CKF_EVERSION:
		return "checkpoint file format version not supported";
	case WIRE_CKF_ESIZE:
		return "file size differs from the size in its header (truncated or grown)";
	case WIRE_CKF_EHEADER:
		return "header checksum mismatch (header corrupt)";
	case WIRE_CKF_EFIELD:
		return "a header field holds a forbidden value";
	case WIRE_CKF_ESECTION:
		return "section table invalid (bounds, overlap, missing or repeated section)";
	case WIRE_CKF_ETRAILER:
		return "trailer invalid (magic, size or checksum)";
	case WIRE_CKF_ESECTSUM:
		return "section checksum mismatch (content corrupt)";
	case WIRE_CKF_ESTATE:
		return "server state section malformed";
	}
	return wire_strerror(code);
}

/* ---- header ------------------------------------------------------------------ */

static int text_ok(struct wire_str s, uint32_t max)
{
	if (s.len > max)
		return 0;
	return !s.len || !memchr(s.p, '\0', s.len);
}

static int bo_ok(uint8_t bo)
{
	return bo == WIRE_BO_LITTLE || bo == WIRE_BO_BIG;
}

static int fields_ok(const struct wire_ckf_header *h)
{
	return wire_job_check(h->job.p, h->job.len) == 0 && h->gen != 0 &&
	       h->created_nsec < NSEC_PER_SEC && text_ok(h->client_arch, WIRE_CKF_MAX_ARCH) &&
	       text_ok(h->server_arch, WIRE_CKF_MAX_ARCH) && bo_ok(h->client_byte_order) &&
	       bo_ok(h->server_byte_order) && h->file_size <= OFF_MAX;
}

static int size_ok(uint32_t hs)
{
	return hs >= WIRE_CKF_HEADER_MIN && hs <= WIRE_CKF_HEADER_MAX && hs % 8 == 0;
}

/* Sections lie in [header_size, file_size - trailer), do not overlap, and
 * the two required ones appear exactly once. */
static int sections_ok(const struct wire_ckf_header *h)
{
	uint64_t lo = h->header_size, hi;
	int image = 0, state = 0;

	if (h->file_size < (uint64_t)h->header_size + WIRE_CKF_TRAILER)
		return 0;
	hi = h->file_size - WIRE_CKF_TRAILER;
	if (h->nsections > WIRE_CKF_MAX_SECTIONS)
		return 0;
	for (uint16_t i = 0; i < h->nsections; i++) {
		const struct wire_ckf_section *a = &h->sect[i];

		if (a->flags || a->offset < lo || a->offset > hi || a->length > hi - a->offset)
			return 0;
		for (uint16_t j = 0; j < i; j++) {
			const struct wire_ckf_section *b = &h->sect[j];

			/* [a) and [b) overlap when each starts before the other ends;
			 * empty sections overlap nothing */
			if (a->length && b->length && a->offset < b->offset + b->length &&
			    b->offset < a->offset + a->length)
				return 0;
		}
		image += a->type == WIRE_CKF_CLIENT_IMAGE;
		state += a->type == WIRE_CKF_SERVER_STATE;
	}
	return image == 1 && state == 1;
}

int wire_ckf_prefix(const void *buf, size_t len, uint32_t *header_size, uint64_t *file_size)
{
	struct wire_rd r;
	uint16_t version, flags;

	*header_size = 0;
	*file_size = 0;
	if (len < WIRE_CKF_PREFIX)
		return WIRE_ETRUNC;
	if (memcmp(buf, wire_ckf_magic, WIRE_CKF_MAGIC_LEN) != 0)
		return WIRE_CKF_EMAGIC;
	wire_rd_init(&r, (const uint8_t *)buf + WIRE_CKF_MAGIC_LEN, WIRE_CKF_PREFIX - WIRE_CKF_MAGIC_LEN);
	version = wire_get_u16(&r);
	flags = wire_get_u16(&r);
	*header_size = wire_get_u32(&r);
	*file_size = wire_get_u64(&r);
	if (version != WIRE_CKF_VERSION)
		return WIRE_CKF_EVERSION;
	if (flags || !size_ok(*header_size) || *file_size > OFF_MAX)
		return WIRE_CKF_EFIELD;
	return 0;
}

int wire_ckf_parse_header(const void *buf, size_t len, uint64_t actual_size,
			  struct wire_ckf_header *h)
{
	struct wire_rd r;
	uint64_t stored;
	int rc;

	memset(h, 0, sizeof(*h));
	rc = wire_ckf_prefix(buf, len, &h->header_size, &h->file_size);
	if (rc)
		return rc;
	if (len != h->header_size)
		return len < h->header_size ? WIRE_ETRUNC : WIRE_ETRAIL;
	if (actual_size != h->file_size)
		return WIRE_CKF_ESIZE;
	/* checksum before any other field is believed */
	wire_rd_init(&r, (const uint8_t *)buf + len - 8, 8);
	stored = wire_get_u64(&r);
	h->header_xxh64 = XXH64(buf, len - 8, 0);
	if (stored != h->header_xxh64)
		return WIRE_CKF_EHEADER;

	wire_rd_init(&r, (const uint8_t *)buf + WIRE_CKF_PREFIX, len - WIRE_CKF_PREFIX - 8);
	h->job = wire_get_str(&r, WIRE_MAX_JOB);
	h->gen = wire_get_u64(&r);
	h->created_sec = wire_get_s64(&r);
	h->created_nsec = wire_get_u32(&r);
	h->client_arch = wire_get_str(&r, WIRE_CKF_MAX_ARCH);
	h->client_byte_order = wire_get_u8(&r);
	h->client_page_size = wire_get_u32(&r);
	h->server_arch = wire_get_str(&r, WIRE_CKF_MAX_ARCH);
	h->server_byte_order = wire_get_u8(&r);
	h->server_page_size = wire_get_u32(&r);
	h->nsections = wire_get_u16(&r);
	if (r.err)
		return WIRE_CKF_EFIELD;
	if (h->nsections > WIRE_CKF_MAX_SECTIONS)
		return WIRE_CKF_ESECTION;
	for (uint16_t i = 0; i < h->nsections; i++) {
		struct wire_ckf_section *s = &h->sect[i];

		s->type = wire_get_u16(&r);
		s->flags = wire_get_u16(&r);
		s->offset = wire_get_u64(&r);
		s->length = wire_get_u64(&r);
		s->xxh64 = wire_get_u64(&r);
		(void)wire_get_u64(&r); /* reserved */
	}
	if (r.err)
		return WIRE_CKF_ESECTION;
	/* the rest of the region is padding, and must be zero */
	while (r.p < r.end)
		if (*r.p++)
			return WIRE_CKF_EFIELD;
	if (!fields_ok(h))
		return WIRE_CKF_EFIELD;
	if (!sections_ok(h))
		return WIRE_CKF_ESECTION;
	return 0;
}

const struct wire_ckf_section *wire_ckf_find(const struct wire_ckf_header *h, uint16_t type)
{
	for (uint16_t i = 0; i < h->nsections && i < WIRE_CKF_MAX_SECTIONS; i++)
		if (h->sect[i].type == type)
			return &h->sect[i];
	return NULL;
}

/* XXH64 of the header region followed by the trailer's first 16 bytes. */
static uint64_t trailer_sum(const void *hdr_region, uint32_t header_size, const uint8_t *t16)
{
	XXH64_state_t st;

	XXH64_reset(&st, 0);
	XXH64_update(&st, hdr_region, header_size);
	XXH64_update(&st, t16, 16);
	return XXH64_digest(&st);
}

int wire_ckf_check_trailer(const void *trailer, size_t len, const void *hdr_region,
			   const struct wire_ckf_header *h)
{
	struct wire_rd r;
	uint64_t size, sum;

	if (len != WIRE_CKF_TRAILER || memcmp(trailer, wire_ckf_end_magic, WIRE_CKF_MAGIC_LEN))
		return WIRE_CKF_ETRAILER;
	wire_rd_init(&r, (const uint8_t *)trailer + WIRE_CKF_MAGIC_LEN, 16);
	size = wire_get_u64(&r);
	sum = wire_get_u64(&r);
	if (size != h->file_size || sum != trailer_sum(hdr_region, h->header_size, trailer))
		return WIRE_CKF_ETRAILER;
	return 0;
}

long wire_ckf_build_header(void *buf, size_t cap, struct wire_ckf_header *h)
{
	struct wire_wr w;

	if (!size_ok(h->header_size) || !fields_ok(h))
		return WIRE_CKF_EFIELD;
	if (!sections_ok(h))
		return WIRE_CKF_ESECTION;
	if (cap < h->header_size)
		return WIRE_ENOSPC;
	memset(buf, 0, h->header_size);
	wire_wr_init(&w, buf, h->header_size - 8);
	wire_put_bytes(&w, wire_ckf_magic, WIRE_CKF_MAGIC_LEN);
	wire_put_u16(&w, WIRE_CKF_VERSION);
	wire_put_u16(&w, 0);
	wire_put_u32(&w, h->header_size);
	wire_put_u64(&w, h->file_size);
	wire_put_str(&w, h->job.p, h->job.len);
	wire_put_u64(&w, h->gen);
	wire_put_s64(&w, h->created_sec);
	wire_put_u32(&w, h->created_nsec);
	wire_put_str(&w, h->client_arch.p, h->client_arch.len);
	wire_put_u8(&w, h->client_byte_order);
	wire_put_u32(&w, h->client_page_size);
	wire_put_str(&w, h->server_arch.p, h->server_arch.len);
	wire_put_u8(&w, h->server_byte_order);
	wire_put_u32(&w, h->server_page_size);
	wire_put_u16(&w, h->nsections);
	for (uint16_t i = 0; i < h->nsections; i++) {
		wire_put_u16(&w, h->sect[i].type);
		wire_put_u16(&w, h->sect[i].flags);
		wire_put_u64(&w, h->sect[i].offset);
		wire_put_u64(&w, h->sect[i].length);
		wire_put_u64(&w, h->sect[i].xxh64);
		wire_put_u64(&w, 0);
	}
	if (w.err)
		return WIRE_ENOSPC; /* the fields do not fit the region */
	h->header_xxh64 = XXH64(buf, h->header_size - 8, 0);
	wire_wr_init(&w, (uint8_t *)buf + h->header_size - 8, 8);
	wire_put_u64(&w, h->header_xxh64);
	return (long)h->header_size;
}

void wire_ckf_build_trailer(void *buf, const void *hdr_region, const struct wire_ckf_header *h)
{
	struct wire_wr w;

	wire_wr_init(&w, buf, WIRE_CKF_TRAILER);
	wire_put_bytes(&w, wire_ckf_end_magic, WIRE_CKF_MAGIC_LEN);
	wire_put_u64(&w, h->file_size);
	wire_put_u64(&w, trailer_sum(hdr_region, h->header_size, buf));
}

/* ---- SERVER_STATE ---------------------------------------------------------------- */


static int file_ok(const struct wire_ckf_file *f)
{
	return !(f->flags & ~(WIRE_CKF_FILE_OPEN | WIRE_CKF_FILE_CHANGED)) &&
	       wire_path_check(f->path.p, f->path.len) == 0 && !(f->mode & ~0177777u) &&
	       f->size <= OFF_MAX && f->mtime_nsec < NSEC_PER_SEC &&
	       !(f->open_flags & ~WIRE_O_KNOWN);
}

void wire_ckf_state_begin(struct wire_ckf_state_builder *b, void *buf, size_t cap, uint64_t epoch,
			  uint64_t prev_gen)
{
	wire_wr_init(&b->w, buf, cap);
	b->count = 0;
	b->count_at = NULL;
	wire_put_u64(&b->w, epoch);
	wire_put_u64(&b->w, prev_gen);
	if (!b->w.err)
		b->count_at = b->w.p;
	wire_put_u32(&b->w, 0);
}

int wire_ckf_state_add(struct wire_ckf_state_builder *b, const struct wire_ckf_file *f)
{
	struct wire_wr save = b->w;

	if (!file_ok(f))
		return WIRE_EINVAL;
	wire_put_u32(&b->w, f->flags);
	wire_put_str(&b->w, f->path.p, f->path.len);
	wire_put_u64(&b->w, f->ino);
	wire_put_u32(&b->w, f->mode);
	wire_put_u64(&b->w, f->size);
	wire_put_u32(&b->w, f->uid);
	wire_put_u32(&b->w, f->gid);
	wire_put_s64(&b->w, f->mtime_sec);
	wire_put_u32(&b->w, f->mtime_nsec);
	wire_put_u32(&b->w, f->open_flags);
	if (b->w.err) {
		b->w = save; /* all or nothing */
		return WIRE_ENOSPC;
	}
	b->count++;
	return 0;
}

long wire_ckf_state_end(struct wire_ckf_state_builder *b)
{
	struct wire_wr fix;

	if (b->w.err || !b->count_at)
		return WIRE_ENOSPC;
	wire_wr_init(&fix, b->count_at, 4);
	wire_put_u32(&fix, b->count);
	return (long)wire_wr_len(&b->w);
}

static void get_file(struct wire_rd *r, struct wire_ckf_file *f)
{
	f->flags = wire_get_u32(r);
	f->path = wire_get_str(r, WIRE_MAX_PATH);
	f->ino = wire_get_u64(r);
	f->mode = wire_get_u32(r);
	f->size = wire_get_u64(r);
	f->uid = wire_get_u32(r);
	f->gid = wire_get_u32(r);
	f->mtime_sec = wire_get_s64(r);
	f->mtime_nsec = wire_get_u32(r);
	f->open_flags = wire_get_u32(r);
	if (!r->err && !file_ok(f))
		r->err = WIRE_EINVAL;
}

int wire_ckf_state_dec(const void *p, size_t len, struct wire_ckf_state *st)
{
	struct wire_ckf_file f;
	struct wire_rd r;

	memset(st, 0, sizeof(*st));
	wire_rd_init(&r, p, len);
	st->epoch = wire_get_u64(&r);
	st->prev_gen = wire_get_u64(&r);
	st->count = wire_get_u32(&r);
	st->files = r;
	for (uint32_t i = 0; i < st->count && !r.err; i++)
		get_file(&r, &f);
	if (wire_rd_finish(&r) || st->epoch == 0) {
		memset(st, 0, sizeof(*st));
		return WIRE_CKF_ESTATE;
	}
	return 0;
}

int wire_ckf_state_next(struct wire_ckf_state *st, struct wire_ckf_file *f)
{
	memset(f, 0, sizeof(*f));
	if (st->files.err || st->files.p == st->files.end)
		return 0;
	get_file(&st->files, f);
	return st->files.err ? 0 : 1;
}
