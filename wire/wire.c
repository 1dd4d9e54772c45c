/* wire.c - byte cursors, frame headers and names: the core of the ckpt wire codec.
 *
 * Every integer is moved by explicit big-endian byte operations on uint8_t
 * buffers. Cursors have sticky errors: the first failure is kept, later
 * getters return 0 and later putters write nothing, so decoders and encoders
 * stay straight-line and check once at the end. Bounds are compared as
 * `n > (size_t)(end - p)`; no pointer past the end is ever formed.
 */
#include <string.h>

#include "wire.h"

/* Returned for strings and blobs that could not be read, so that callers
 * never see a NULL pointer. */
static const char wire_empty[1];

/* ---- byte cursors --------------------------------------------------------- */

void wire_rd_init(struct wire_rd *r, const void *buf, size_t len)
{
	r->p = buf;
	r->end = buf ? r->p + len : r->p;
	r->err = 0;
}

void wire_wr_init(struct wire_wr *w, void *buf, size_t cap)
{
	w->start = w->p = buf;
	w->end = buf ? w->p + cap : w->p;
	w->err = 0;
}

size_t wire_wr_len(const struct wire_wr *w)
{
	return (size_t)(w->p - w->start);
}

static void rd_fail(struct wire_rd *r, int code)
{
	if (!r->err)
		r->err = code;
}

static void wr_fail(struct wire_wr *w, int code)
{
	if (!w->err)
		w->err = code;
}

/* Returns a pointer to the next n bytes and advances, or NULL (error set). */
static const uint8_t *rd_take(struct wire_rd *r, size_t n)
{
	const uint8_t *q;

	if (r->err)
		return NULL;
	if (n > (size_t)(r->end - r->p)) {
		rd_fail(r, WIRE_ETRUNC);
		return NULL;
	}
	q = r->p;
	r->p += n;
	return q;
}

/* Returns room for the next n bytes and advances, or NULL (error set). */
static uint8_t *wr_take(struct wire_wr *w, size_t n)
{
	uint8_t *q;

	if (w->err)
		return NULL;
	if (n > (size_t)(w->end - w->p)) {
		wr_fail(w, WIRE_ENOSPC);
		return NULL;
	}
	q = w->p;
	w->p += n;
	return q;
}

static uint16_t be16_load(const uint8_t *b)
{
	return (uint16_t)(((uint32_t)b[0] << 8) | (uint32_t)b[1]);
}

static uint32_t be32_load(const uint8_t *b)
{
	return ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) | ((uint32_t)b[2] << 8) |
	       (uint32_t)b[3];
}

static uint64_t be64_load(const uint8_t *b)
{
	return ((uint64_t)be32_load(b) << 32) | (uint64_t)be32_load(b + 4);
}

static void be16_store(uint8_t *b, uint16_t v)
{
	b[0] = (uint8_t)(v >> 8);
	b[1] = (uint8_t)v;
}

static void be32_store(uint8_t *b, uint32_t v)
{
	b[0] = (uint8_t)(v >> 24);
	b[1] = (uint8_t)(v >> 16);
	b[2] = (uint8_t)(v >> 8);
	b[3] = (uint8_t)v;
}

static void be64_store(uint8_t *b, uint64_t v)
{
	be32_store(b, (uint32_t)(v >> 32));
	be32_store(b + 4, (uint32_t)v);
}

uint8_t wire_get_u8(struct wire_rd *r)
{
	const uint8_t *b = rd_take(r, 1);

	return b ? b[0] : 0;
}

uint16_t wire_get_u16(struct wire_rd *r)
{
	const uint8_t *b = rd_take(r, 2);

	return b ? be16_load(b) : 0;
}

uint32_t wire_get_u32(struct wire_rd *r)
{
	const uint8_t *b = rd_take(r, 4);

	return b ? be32_load(b) : 0;
}

uint64_t wire_get_u64(struct wire_rd *r)
{
	const uint8_t *b = rd_take(r, 8);

	return b ? be64_load(b) : 0;
}

/* Two's complement on the wire; converted without implementation-defined
 * unsigned-to-signed conversion. */
int64_t wire_get_s64(struct wire_rd *r)
{
	uint64_t v = wire_get_u64(r);

	if (v <= (uint64_t)INT64_MAX)
		return (int64_t)v;
	return -(int64_t)(~v) - 1;
}

struct wire_str wire_get_str(struct wire_rd *r, uint32_t max)
{
	struct wire_str s = { wire_empty, 0 };
	uint16_t len = wire_get_u16(r);
	const uint8_t *b;

	if (r->err)
		return s;
	if (len > max) {
		rd_fail(r, WIRE_ETOOBIG);
		return s;
	}
	b = rd_take(r, len);
	if (!b)
		return s;
	s.p = (const char *)b;
	s.len = len;
	return s;
}

struct wire_blob wire_get_blob(struct wire_rd *r, uint32_t max)
{
	struct wire_blob d = { (const uint8_t *)wire_empty, 0 };
	uint32_t len = wire_get_u32(r);
	const uint8_t *b;

	if (r->err)
		return d;
	if (len > max) {
		rd_fail(r, WIRE_ETOOBIG);
		return d;
	}
	b = rd_take(r, len);
	if (!b)
		return d;
	d.p = b;
	d.len = len;
	return d;
}

int wire_rd_finish(struct wire_rd *r)
{
	if (!r->err && r->p != r->end)
		r->err = WIRE_ETRAIL;
	return r->err;
}

void wire_put_u8(struct wire_wr *w, uint8_t v)
{
	uint8_t *b = wr_take(w, 1);

	if (b)
		b[0] = v;
}

void wire_put_u16(struct wire_wr *w, uint16_t v)
{
	uint8_t *b = wr_take(w, 2);

	if (b)
		be16_store(b, v);
}

void wire_put_u32(struct wire_wr *w, uint32_t v)
{
	uint8_t *b = wr_take(w, 4);

	if (b)
		be32_store(b, v);
}

void wire_put_u64(struct wire_wr *w, uint64_t v)
{
	uint8_t *b = wr_take(w, 8);

	if (b)
		be64_store(b, v);
}

void wire_put_s64(struct wire_wr *w, int64_t v)
{
	wire_put_u64(w, (uint64_t)v);
}

/* A string longer than a u16 can say sets WIRE_ETOOBIG. The length and the
 * bytes are written together or not at all. */
void wire_put_str(struct wire_wr *w, const char *s, uint32_t len)
{
	uint8_t *b;

	if (len > UINT16_MAX) {
		wr_fail(w, WIRE_ETOOBIG);
		return;
	}
	b = wr_take(w, (size_t)len + 2);
	if (!b)
		return;
	be16_store(b, (uint16_t)len);
	if (len)
		memcpy(b + 2, s, len);
}

void wire_put_blob(struct wire_wr *w, const void *p, uint32_t len)
{
	uint8_t *b;

	if (w->err)
		return;
	if ((size_t)len > (size_t)(w->end - w->p) ||
	    4 > (size_t)(w->end - w->p) - (size_t)len) {
		wr_fail(w, WIRE_ENOSPC);
		return;
	}
	b = wr_take(w, (size_t)len + 4);
	if (!b)
		return;
	be32_store(b, len);
	if (len)
		memcpy(b + 4, p, len);
}

void wire_put_bytes(struct wire_wr *w, const void *p, size_t len)
{
	uint8_t *b = wr_take(w, len);

	if (b && len)
		memcpy(b, p, len);
}

/* ---- frames ----------------------------------------------------------------- */

static int flags_ok(uint16_t flags)
{
	if (flags & ~(WIRE_F_REPLY | WIRE_F_ERROR))
		return 0;
	if ((flags & WIRE_F_ERROR) && !(flags & WIRE_F_REPLY))
		return 0;
	return 1;
}

static const char *const wire_type_names[WIRE_TYPE_MAX + 1] = {
	[WIRE_HELLO] = "HELLO",	      [WIRE_OPEN] = "OPEN",	    [WIRE_CLOSE] = "CLOSE",
	[WIRE_PREAD] = "PREAD",	      [WIRE_PWRITE] = "PWRITE",	    [WIRE_FTRUNCATE] = "FTRUNCATE",
	[WIRE_FSYNC] = "FSYNC",	      [WIRE_FSTAT] = "FSTAT",	    [WIRE_STAT] = "STAT",
	[WIRE_ACCESS] = "ACCESS",     [WIRE_UNLINK] = "UNLINK",	    [WIRE_RENAME] = "RENAME",
	[WIRE_MKDIR] = "MKDIR",	      [WIRE_READDIR] = "READDIR",   [WIRE_SETATTR] = "SETATTR",
	[WIRE_READLINK] = "READLINK", [WIRE_SYMLINK] = "SYMLINK",   [WIRE_LINK] = "LINK",
	[WIRE_STATFS] = "STATFS",     [WIRE_PING] = "PING",
	[WIRE_READ_FD] = "READ_FD",
	[WIRE_CKPT_PREPARE] = "CKPT_PREPARE",	[WIRE_CKPT_DONE] = "CKPT_DONE",
	[WIRE_CKPT_COMMIT] = "CKPT_COMMIT",	[WIRE_CKPT_ABORT] = "CKPT_ABORT",
	[WIRE_ROLLBACK_QUERY] = "ROLLBACK_QUERY", [WIRE_ROLLBACK] = "ROLLBACK",
	[WIRE_IMAGE_READ] = "IMAGE_READ", [WIRE_JOB_LIST] = "JOB_LIST",
	[WIRE_ROLLBACK_CHECK] = "ROLLBACK_CHECK", [WIRE_AUTH] = "AUTH",
};

/* A type is known when it has a name: the numbers between the families are
 * not defined. */
static int type_ok(uint16_t type)
{
	return type >= 1 && type <= WIRE_TYPE_MAX && wire_type_names[type] != NULL;
}

int wire_type_known(uint16_t type)
{
	return type_ok(type);
}

/* h is filled even when the header is refused, so that the caller can log
 * what arrived. */
int wire_hdr_decode(const void *buf, size_t len, uint32_t max_frame, struct wire_hdr *h)
{
	const uint8_t *b = buf;

	if (len < WIRE_HDR_SIZE) {
		memset(h, 0, sizeof(*h));
		return WIRE_ETRUNC;
	}
	h->length = be32_load(b);
	h->type = be16_load(b + 4);
	h->flags = be16_load(b + 6);
	h->id = be64_load(b + 8);
	if (max_frame > WIRE_MAX_FRAME)
		max_frame = WIRE_MAX_FRAME;
	if (h->length > max_frame)
		return WIRE_ETOOBIG;
	if (h->length < WIRE_HDR_SIZE)
		return WIRE_EINVAL;
	if (!flags_ok(h->flags))
		return WIRE_EINVAL;
	if (!type_ok(h->type))
		return WIRE_ETYPE;
	return WIRE_OK;
}

void wire_hdr_encode(void *buf, const struct wire_hdr *h)
{
	uint8_t *b = buf;

	be32_store(b, h->length);
	be16_store(b + 4, h->type);
	be16_store(b + 6, h->flags);
	be64_store(b + 8, h->id);
}

/* The whole header is written now with length 0; wire_frame_end() patches
 * the length. An unknown type or bad flags poison the builder, so that no
 * encoder can produce a header that wire_hdr_decode() would refuse. */
void wire_frame_begin(struct wire_wr *w, void *buf, size_t cap, uint16_t type, uint16_t flags,
		      uint64_t id)
{
	struct wire_hdr h = { 0, type, flags, id };
	uint8_t *b;

	wire_wr_init(w, buf, cap);
	if (!type_ok(type)) {
		wr_fail(w, WIRE_ETYPE);
		return;
	}
	if (!flags_ok(flags)) {
		wr_fail(w, WIRE_EINVAL);
		return;
	}
	b = wr_take(w, WIRE_HDR_SIZE);
	if (b)
		wire_hdr_encode(b, &h);
}

long wire_frame_end(struct wire_wr *w)
{
	size_t len;

	if (w->err)
		return w->err;
	len = wire_wr_len(w);
	if (len < WIRE_HDR_SIZE)
		return WIRE_EINVAL; /* no frame_begin on this cursor */
	if (len > WIRE_MAX_FRAME)
		return WIRE_ETOOBIG;
	be32_store(w->start, (uint32_t)len);
	return (long)len;
}

/* ---- paths ------------------------------------------------------------------ */

int wire_path_check(const char *p, uint32_t len)
{
	uint32_t i, comp = 0;

	if (len > WIRE_MAX_PATH)
		return WIRE_ETOOBIG;
	if (len == 0)
		return WIRE_OK; /* the export root */
	if (p[0] == '/' || p[len - 1] == '/')
		return WIRE_EINVAL;
	for (i = 0; i <= len; i++) {
		if (i < len && p[i] == '\0')
			return WIRE_EINVAL;
		if (i < len && p[i] != '/')
			continue;
		/* a component is p[comp .. i) */
		if (i == comp)
			return WIRE_EINVAL; /* "//" */
		if (i - comp > WIRE_MAX_NAME)
			return WIRE_ETOOBIG;
		if (p[comp] == '.' && (i - comp == 1 || (i - comp == 2 && p[comp + 1] == '.')))
			return WIRE_EINVAL;
		comp = i + 1;
	}
	return WIRE_OK;
}

int wire_job_check(const char *p, uint32_t len)
{
	uint32_t i;

	if (len > WIRE_MAX_JOB)
		return WIRE_ETOOBIG;
	if (len == 0 || p[0] == '.')
		return WIRE_EINVAL;
	for (i = 0; i < len; i++) {
		char c = p[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.'))
			return WIRE_EINVAL;
	}
	return WIRE_OK;
}

/* ---- names ------------------------------------------------------------------ */

const char *wire_strerror(int code)
{
	switch (code) {
	case WIRE_OK:
		return "success";
	case WIRE_ETRUNC:
		return "message truncated: shorter than its fields claim";
	case WIRE_ETOOBIG:
		return "frame, string or data over its size limit";
	case WIRE_ETRAIL:
		return "unexpected bytes after the last field";
	case WIRE_ETYPE:
		return "unknown message type";
	case WIRE_EVERSION:
		return "protocol version not supported";
	case WIRE_EINVAL:
		return "field holds a value the protocol forbids";
	case WIRE_ENOSPC:
		return "output buffer too small for the message";
	}
	return "unknown wire error";
}


const char *wire_type_name(uint16_t type)
{
	if (type_ok(type) && wire_type_names[type])
		return wire_type_names[type];
	return "UNKNOWN";
}
