/* ckpt_send.c - the checkpoint image to the servers, in two phases (DESIGN.md section 4).
 *
 * Every server the program's mounts name gets the image: CKPT_PREPARE chunks
 * are sent as the image is produced (its size is not known yet, so they say
 * WIRE_CKPT_TOTAL_UNKNOWN), without waiting for replies; CKPT_DONE then asks
 * every server at once to make the generation durable, and the replies are
 * collected. Only when all of them succeeded is CKPT_COMMIT sent; any
 * failure sends CKPT_ABORT to the others, and the previous generation stays
 * the last good one everywhere.
 *
 * The generation is one more than the newest any server holds for the job
 * (ROLLBACK_QUERY), and more than the last one this process made.
 *
 * This runs in the checkpoint handler while the shim is not inside its own
 * code, so the connections are idle and consistent; it uses only system
 * calls, the connection buffers (mmap'd) and stack.
 */
#include <errno.h>
#include <string.h>

#include "shim.h"
#include "ckpt.h"

#define MAX_DEST 16
/* Bytes of image per CKPT_PREPARE: a server holds one chunk per session
 * being checkpointed, so many jobs checkpointing at once cost it little. */
#define CHUNK_MAX (1u << 20)
/* Replies to PREPARE waiting in a socket before the oldest are read. */
#define MAX_UNREAD 256u

static struct dest {
	struct shim_conn *c;
	uint64_t newest;     /* newest generation the server held before */
	uint64_t first_id;   /* of the oldest unread PREPARE reply */
	uint32_t unread;     /* PREPARE replies not read yet (consecutive ids) */
	uint64_t sent;       /* image bytes sent */
	uint64_t file_size;  /* from the CKPT_DONE reply */
	int err;             /* errno of its failure, 0 while fine */
	bool done_sent, done_ok;
	uint64_t done_id;
} dest[MAX_DEST];
static unsigned int ndest;
static uint64_t gen, last_gen;

/* "server ADDR: what: strerror: server's message" into m. */
static void dest_fail(struct ckpt_msg *m, struct dest *d, const char *what, int err,
		      const struct wire_str *smsg)
{
	if (!d->err)
		d->err = err ? err : EIO;
	if (!m)
		return;
	cm_str(m, "server ");
	cm_str(m, d->c->addr);
	cm_str(m, ": ");
	cm_str(m, what);
	cm_err(m, -(long)d->err);
	if (smsg && smsg->len) {
		cm_str(m, " (");
		cm_strn(m, smsg->p, smsg->len);
		cm_str(m, ")");
	}
}

/* Read the oldest unread PREPARE reply of d; a failure marks d. */
static int read_prepare_reply(struct ckpt_msg *m, struct dest *d)
{
	const uint8_t *rep;
	size_t replen;
	struct wire_str smsg = {0};
	int r = shim_conn_reply(d->c, d->first_id, WIRE_CKPT_PREPARE, &rep, &replen, &smsg);

	d->first_id++;
	d->unread--;
	if (r < 0) {
		d->unread = 0; /* the connection is gone */
		dest_fail(m, d, "lost while storing the image", errno, NULL);
		return -1;
	}
	if (r > 0) {
		dest_fail(m, d, "cannot store the image", errno, &smsg);
		return -1;
	}
	return 0;
}

/* A simple request whose reply is read at once. 0, or -1 with d marked. */
static int exchange(struct ckpt_msg *m, struct dest *d, long len, uint16_t type, const char *what,
		    const uint8_t **rep, size_t *replen)
{
	struct wire_str smsg = {0};
	uint64_t id;
	int r;

	if (len < 0) {
		dest_fail(m, d, what, EINVAL, NULL);
		return -1;
	}
	if (shim_conn_send(d->c, shim_reqbuf, (size_t)len, NULL, 0, &id) < 0) {
		dest_fail(m, d, what, errno, NULL);
		return -1;
	}
	r = shim_conn_reply(d->c, id, type, rep, replen, &smsg);
	if (r != 0) {
		dest_fail(m, d, what, errno, r > 0 ? &smsg : NULL);
		return -1;
	}
	return 0;
}

static uint64_t newest_of(const uint8_t *rep, size_t replen)
{
	struct wire_rollback_query_reply q;
	struct wire_gen_info e;
	uint64_t n = 0;

	if (wire_dec_rollback_query_reply(rep, replen, &q) < 0)
		return UINT64_MAX;
	while (wire_gen_info_next(&q, &e) == 1)
		if (e.gen > n)
			n = e.gen;
	return n;
}

unsigned int ckpt_srv_count(void)
{
	unsigned int n = 0;

	for (struct shim_conn *c = shim_conns; c; c = c->next)
		n++;
	return n;
}

uint64_t ckpt_srv_gen(void)
{
	return gen;
}

int ckpt_srv_begin(struct ckpt_msg *m)
{
	const uint8_t *rep;
	size_t replen;

	ndest = 0;
	gen = last_gen + 1;
	for (struct shim_conn *c = shim_conns; c; c = c->next) {
		struct dest *d;

		if (ndest == MAX_DEST) {
			cm_str(m, "more than 16 servers");
			return -1;
		}
		d = &dest[ndest++];
		memset(d, 0, sizeof(*d));
		d->c = c;
		if (shim_conn_ready(c) < 0 || shim_conn_drain(c) < 0) {
			dest_fail(m, d, "unreachable", errno, NULL);
			return -1;
		}
		if (exchange(m, d, wire_enc_empty(shim_reqbuf, SHIM_REQBUF_SIZE, WIRE_ROLLBACK_QUERY, 0, 0),
			     WIRE_ROLLBACK_QUERY, "cannot list the job's generations", &rep, &replen) < 0)
			return -1;
		d->newest = newest_of(rep, replen);
		if (d->newest == UINT64_MAX) {
			dest_fail(m, d, "sent a malformed generation list", EPROTO, NULL);
			return -1;
		}
		if (d->newest >= gen)
			gen = d->newest + 1;
	}
	if (!ndest) {
		cm_str(m, "no server to send it to");
		return -1;
	}
	return 0;
}

int ckpt_srv_emit(struct ckpt_msg *m, const uint8_t *p, size_t n)
{
	for (unsigned int i = 0; i < ndest; i++) {
		struct dest *d = &dest[i];
		size_t chunk = d->c->max_frame - WIRE_CKPT_PREPARE_HDR - 64, off = 0;

		if (chunk > CHUNK_MAX)
			chunk = CHUNK_MAX;
		while (off < n) {
			size_t k = n - off < chunk ? n - off : chunk;
			struct wire_ckpt_prepare pm = {gen, d->sent, WIRE_CKPT_TOTAL_UNKNOWN, {p + off, (uint32_t)k}};
			uint8_t hdr[WIRE_CKPT_PREPARE_HDR];
			uint64_t id;

			wire_enc_ckpt_prepare_hdr(hdr, 0, &pm);
			if (shim_conn_send(d->c, hdr, sizeof(hdr), p + off, k, &id) < 0) {
				dest_fail(m, d, "lost while sending the image", errno, NULL);
				return -1;
			}
			if (!d->unread)
				d->first_id = id;
			d->unread++;
			d->sent += k;
			off += k;
			if (d->unread > MAX_UNREAD && read_prepare_reply(m, d) < 0)
				return -1;
		}
	}
	return 0;
}

/* Send type (COMMIT or ABORT) to d and read its reply; failures are
 * returned, not recorded in d->err. */
static int outcome(struct dest *d, uint16_t type, struct wire_str *smsg)
{
	struct wire_gen g = {gen};
	long len = wire_enc_gen(shim_reqbuf, SHIM_REQBUF_SIZE, type, 0, &g);
	const uint8_t *rep;
	size_t replen;
	uint64_t id;
	int r;

	if (len < 0 || shim_conn_send(d->c, shim_reqbuf, (size_t)len, NULL, 0, &id) < 0)
		return -1;
	r = shim_conn_reply(d->c, id, type, &rep, &replen, smsg);
	return r == 0 ? 0 : -1;
}

/* Phase two failed somewhere: every server that may hold something of gen
 * drops it. */
static void abort_all(void)
{
	for (unsigned int i = 0; i < ndest; i++) {
		struct dest *d = &dest[i];
		struct wire_str smsg = {0};

		if (d->c->fd < 0)
			continue; /* lost: its prepared image dies with the session */
		while (d->unread) /* every reply, errors too: the ABORT's comes after them */
			read_prepare_reply(NULL, d);
		if (d->done_sent && !d->done_ok && d->err)
			continue; /* DONE failed: the server kept nothing */
		if (outcome(d, WIRE_CKPT_ABORT, &smsg) < 0 && errno != ENOENT)
			shim_log("server %s: CKPT_ABORT of generation %llu failed: %s%s%.*s", d->c->addr,
				 (unsigned long long)gen, strerror(errno), smsg.len ? ": " : "",
				 (int)smsg.len, smsg.p ? smsg.p : "");
	}
}

void ckpt_srv_abort(void)
{
	abort_all();
}

int ckpt_srv_finish(struct ckpt_msg *m, uint64_t total, uint64_t xxh, uint64_t *file_size)
{
	struct wire_ckpt_done dm = {gen, total, xxh};
	int failed = 0;

	*file_size = 0;
	/* Phase one ends: every chunk acknowledged, then DONE to all at once,
	 * so the servers make their files durable in parallel. */
	for (unsigned int i = 0; i < ndest && !failed; i++) {
		struct dest *d = &dest[i];
		long len;

		while (d->unread)
			if (read_prepare_reply(m, d) < 0) {
				failed = 1;
				break;
			}
		if (failed)
			break;
		len = wire_enc_ckpt_done(shim_reqbuf, SHIM_REQBUF_SIZE, 0, &dm);
		if (len < 0 || shim_conn_send(d->c, shim_reqbuf, (size_t)len, NULL, 0, &d->done_id) < 0) {
			dest_fail(m, d, "lost before CKPT_DONE", len < 0 ? EINVAL : errno, NULL);
			failed = 1;
			break;
		}
		d->done_sent = true;
	}
	for (unsigned int i = 0; i < ndest; i++) {
		struct dest *d = &dest[i];
		struct wire_ckpt_done_reply r;
		struct wire_str smsg = {0};
		const uint8_t *rep;
		size_t replen;
		int rc;

		if (!d->done_sent)
			continue;
		rc = shim_conn_reply(d->c, d->done_id, WIRE_CKPT_DONE, &rep, &replen, &smsg);
		if (rc == 0 && wire_dec_ckpt_done_reply(rep, replen, &r) == 0 && r.gen == gen) {
			d->done_ok = true;
			d->file_size = r.file_size;
			*file_size += r.file_size;
			continue;
		}
		if (!failed)
			dest_fail(m, d, "cannot write the joint checkpoint file", rc == 0 ? EPROTO : errno,
				  rc > 0 ? &smsg : NULL);
		else
			d->err = rc == 0 ? EPROTO : errno;
		failed = 1;
	}
	if (failed) {
		abort_all();
		return -1;
	}
	/* Every server holds gen durably: it is the newest complete generation
	 * even if a COMMIT is lost, so a failed COMMIT is only a warning. */
	last_gen = gen;
	for (unsigned int i = 0; i < ndest; i++) {
		struct wire_str smsg = {0};

		if (outcome(&dest[i], WIRE_CKPT_COMMIT, &smsg) < 0)
			shim_log("server %s: CKPT_COMMIT of generation %llu failed: %s%s%.*s; the "
				 "generation is durable there and stays usable",
				 dest[i].c->addr, (unsigned long long)gen, strerror(errno),
				 smsg.len ? ": " : "", (int)smsg.len, smsg.p ? smsg.p : "");
	}
	return 0;
}
