/* test_wire.c - unit tests of the wire codec against wire/PROTOCOL.md.
 *
 * Round trips of every message, exact big-endian bytes, and every way a frame
 * can be wrong: truncated at each length, over its bounds, trailing bytes,
 * unknown types and flags, forbidden field values. Truncated payloads are
 * copied into buffers of exactly their size, so that ASan catches any read
 * past the end.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <xxhash.h>

#include "ckptfile.h"
#include "auth.h"
#include "wire.h"

#define BIG 0x8877665544332211ull /* > 2^63: catches sign and width slips */

static uint8_t fbuf[WIRE_MAX_FRAME + 64];

static struct wire_str S(const char *s)
{
	struct wire_str r = { s, (uint32_t)strlen(s) };

	return r;
}

static void assert_str(struct wire_str s, const char *want)
{
	cr_assert_eq(s.len, strlen(want), "length %u, want %zu (\"%s\")", s.len, strlen(want), want);
	cr_assert(memcmp(s.p, want, s.len) == 0, "string differs from \"%s\"", want);
}

/* Checks the header of an encoded frame and returns its payload. */
static const uint8_t *payload_of(const void *frame, long n, uint16_t type, uint16_t flags,
				 uint64_t id, size_t *plen)
{
	struct wire_hdr h;
	int rc;

	cr_assert_geq(n, (long)WIRE_HDR_SIZE, "encoder failed: %ld (%s)", n, wire_strerror((int)n));
	rc = wire_hdr_decode(frame, (size_t)n, WIRE_MAX_FRAME, &h);
	cr_assert_eq(rc, WIRE_OK, "header: %s", wire_strerror(rc));
	cr_assert_eq(h.length, (uint32_t)n);
	cr_assert_eq(h.type, type);
	cr_assert_eq(h.flags, flags);
	cr_assert_eq(h.id, id);
	*plen = (size_t)n - WIRE_HDR_SIZE;
	return (const uint8_t *)frame + WIRE_HDR_SIZE;
}

/* A copy of p in a heap block of exactly n bytes (1 when n is 0). */
static uint8_t *exact_copy(const void *p, size_t n)
{
	uint8_t *c = malloc(n ? n : 1);

	cr_assert_not_null(c);
	if (n)
		memcpy(c, p, n);
	return c;
}

static void assert_stat_eq(const struct wire_stat *a, const struct wire_stat *b)
{
	cr_assert_eq(a->dev, b->dev);
	cr_assert_eq(a->ino, b->ino);
	cr_assert_eq(a->mode, b->mode);
	cr_assert_eq(a->nlink, b->nlink);
	cr_assert_eq(a->uid, b->uid);
	cr_assert_eq(a->gid, b->gid);
	cr_assert_eq(a->rdev, b->rdev);
	cr_assert_eq(a->size, b->size);
	cr_assert_eq(a->blksize, b->blksize);
	cr_assert_eq(a->blocks, b->blocks);
	cr_assert_eq(a->atime_sec, b->atime_sec);
	cr_assert_eq(a->mtime_sec, b->mtime_sec);
	cr_assert_eq(a->ctime_sec, b->ctime_sec);
	cr_assert_eq(a->atime_nsec, b->atime_nsec);
	cr_assert_eq(a->mtime_nsec, b->mtime_nsec);
	cr_assert_eq(a->ctime_nsec, b->ctime_nsec);
}

/* ---- sample messages ---------------------------------------------------------- */

static const struct wire_stat sample_stat = {
	.dev = 0x801,
	.ino = BIG,
	.mode = 0100644,
	.nlink = 3,
	.uid = 1000,
	.gid = 0xfffffffe,
	.rdev = 0x0000000100000203ull,
	.size = 0x200000000ll, /* 8 GiB */
	.blksize = 4096,
	.blocks = 16,
	.atime_sec = -1,
	.mtime_sec = 1600000000,
	.ctime_sec = -2208988800ll, /* 1900 */
	.atime_nsec = 999999999,
	.mtime_nsec = 0,
	.ctime_nsec = 1,
};

static const struct wire_hello sample_hello = {
	.version = WIRE_PROTO_VERSION,
	.byte_order = WIRE_BO_BIG,
	.page_size = 65536,
	.pid = 0x7fffffff,
	.session = BIG,
	.max_frame = WIRE_MAX_FRAME,
	.arch = { "s390x", 5 },
	.job = { "job-42", 6 },
	.peer = { "ckpt-shim 0.1.0", 15 },
};

static const uint8_t sample_data[] = "hello, world\n\0binary\xff";

static const struct wire_open sample_open = {
	.path = { "dir/sub/file.txt", 16 },
	.flags = WIRE_O_RDWR | WIRE_O_CREAT | WIRE_O_EXCL | WIRE_O_NOFOLLOW,
	.mode = 0640,
};

static const struct wire_pwrite sample_pwrite = {
	.handle = BIG,
	.offset = 0x123456789abcull,
	.flags = WIRE_PWRITE_APPEND,
	.data = { sample_data, sizeof(sample_data) },
};

static const struct wire_setattr sample_setattr = {
	.handle = 0,
	.path = { "a/b", 3 },
	.flags = WIRE_AT_NOFOLLOW,
	.valid = WIRE_SET_MODE | WIRE_SET_UID | WIRE_SET_SIZE | WIRE_SET_ATIME | WIRE_SET_MTIME_NOW,
	.mode = 04755,
	.uid = 0xffffffff,
	.gid = 77,
	.size = 0x100000001ull,
	.atime_sec = -86400,
	.mtime_sec = 0x7fffffffffffffffll,
	.atime_nsec = 5,
	.mtime_nsec = 999999999,
};

static const struct wire_statfs_reply sample_statfs = {
	1, 2, BIG, 4, 5, 6, 7, 8, 255, 0xdeadbeefcafef00dull, WIRE_ST_RDONLY | WIRE_ST_NOATIME,
};

static const struct wire_dirent sample_dirents[] = {
	{ 1, 11, 4, { ".", 1 } },
	{ 2, 12, 4, { "..", 2 } },
	{ BIG, 13, 8, { "file.txt", 8 } },
	{ 4, 0xffffffffffffffffull, 10, { "a link", 6 } },
};

/* ---- one adapter per message: encode a sample / decode and discard ------------- */

static long e_hello(void *b, size_t c) { return wire_enc_hello(b, c, 1, 0, &sample_hello); }
static long e_hello_r(void *b, size_t c) { return wire_enc_hello(b, c, 1, WIRE_F_REPLY, &sample_hello); }
static int d_hello(const void *p, size_t n) { struct wire_hello m; return wire_dec_hello(p, n, &m); }
static const uint8_t sample_proof[32] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
					  17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 0xff };
static long e_auth(void *b, size_t c) { return wire_enc_auth(b, c, 1, sample_proof); }
static int d_auth(const void *p, size_t n) { uint8_t x[32]; return wire_dec_auth(p, n, x); }

static long e_error(void *b, size_t c)
{
	struct wire_error m = { WIRE_ERRNO_ENOENT, { "no such file: a/b", 17 } };

	return wire_enc_error(b, c, WIRE_OPEN, 9, &m);
}
static int d_error(const void *p, size_t n) { struct wire_error m; return wire_dec_error(p, n, &m); }

static long e_empty(void *b, size_t c) { return wire_enc_empty(b, c, WIRE_PING, 0, 3); }
static int d_empty(const void *p, size_t n) { return wire_dec_empty(p, n); }

static long e_open(void *b, size_t c) { return wire_enc_open(b, c, 5, &sample_open); }
static int d_open(const void *p, size_t n) { struct wire_open m; return wire_dec_open(p, n, &m); }

static long e_open_r(void *b, size_t c)
{
	struct wire_open_reply m = { BIG, sample_stat };

	return wire_enc_open_reply(b, c, 5, &m);
}
static int d_open_r(const void *p, size_t n) { struct wire_open_reply m; return wire_dec_open_reply(p, n, &m); }

static long e_handle(void *b, size_t c)
{
	struct wire_handle m = { BIG };

	return wire_enc_handle(b, c, WIRE_CLOSE, 6, &m);
}
static int d_handle(const void *p, size_t n) { struct wire_handle m; return wire_dec_handle(p, n, &m); }

/* READ_FD: a handle request, whose reply is empty (its descriptor travels
 * beside the frame, not in it). */
static long e_read_fd(void *b, size_t c)
{
	struct wire_handle m = { BIG };

	return wire_enc_handle(b, c, WIRE_READ_FD, 21, &m);
}
static long e_read_fd_r(void *b, size_t c) { return wire_enc_empty(b, c, WIRE_READ_FD, WIRE_F_REPLY, 21); }

static long e_pread(void *b, size_t c)
{
	struct wire_pread m = { BIG, 0x7fffffffffffffffull, WIRE_MAX_DATA };

	return wire_enc_pread(b, c, 7, &m);
}
static int d_pread(const void *p, size_t n) { struct wire_pread m; return wire_dec_pread(p, n, &m); }

static long e_data(void *b, size_t c) { return wire_enc_data_reply(b, c, WIRE_PREAD, 7, sample_data, sizeof(sample_data)); }
static int d_data(const void *p, size_t n) { struct wire_blob m; return wire_dec_data_reply(p, n, &m); }

static long e_pwrite(void *b, size_t c) { return wire_enc_pwrite(b, c, 8, &sample_pwrite); }
static int d_pwrite(const void *p, size_t n) { struct wire_pwrite m; return wire_dec_pwrite(p, n, &m); }

static long e_pwrite_r(void *b, size_t c)
{
	struct wire_pwrite_reply m = { WIRE_MAX_DATA, 0x7fffffffffffffffull };

	return wire_enc_pwrite_reply(b, c, 8, &m);
}
static int d_pwrite_r(const void *p, size_t n) { struct wire_pwrite_reply m; return wire_dec_pwrite_reply(p, n, &m); }

static long e_ftrunc(void *b, size_t c)
{
	struct wire_ftruncate m = { BIG, 0x100000000ull };

	return wire_enc_ftruncate(b, c, 10, &m);
}
static int d_ftrunc(const void *p, size_t n) { struct wire_ftruncate m; return wire_dec_ftruncate(p, n, &m); }

static long e_fsync(void *b, size_t c)
{
	struct wire_fsync m = { BIG, 1 };

	return wire_enc_fsync(b, c, 11, &m);
}
static int d_fsync(const void *p, size_t n) { struct wire_fsync m; return wire_dec_fsync(p, n, &m); }

static long e_stat_r(void *b, size_t c) { return wire_enc_stat_reply(b, c, WIRE_STAT, 12, &sample_stat); }
static int d_stat_r(const void *p, size_t n) { struct wire_stat m; return wire_dec_stat_reply(p, n, &m); }

static long e_path(void *b, size_t c)
{
	struct wire_path_req m = { { "x/y", 3 }, WIRE_AT_EACCESS, WIRE_R_OK | WIRE_W_OK };

	return wire_enc_path_req(b, c, WIRE_ACCESS, 13, &m);
}
static int d_path(const void *p, size_t n) { struct wire_path_req m; return wire_dec_path_req(p, n, &m); }

static long e_str_r(void *b, size_t c) { return wire_enc_str_reply(b, c, WIRE_READLINK, 14, "../target", 9); }
static int d_str_r(const void *p, size_t n) { struct wire_str m; return wire_dec_str_reply(p, n, &m); }

static long e_two(void *b, size_t c)
{
	struct wire_two_paths m = { { "old/name", 8 }, { "new/name", 8 }, WIRE_RENAME_NOREPLACE };

	return wire_enc_two_paths(b, c, WIRE_RENAME, 15, &m);
}
static int d_two(const void *p, size_t n) { struct wire_two_paths m; return wire_dec_two_paths(p, n, &m); }

static long e_readdir(void *b, size_t c)
{
	struct wire_readdir m = { BIG, 0xfedcba9876543210ull, 65536 };

	return wire_enc_readdir(b, c, 16, &m);
}
static int d_readdir(const void *p, size_t n) { struct wire_readdir m; return wire_dec_readdir(p, n, &m); }

static long e_readdir_r(void *b, size_t c)
{
	struct wire_dir_builder db;
	size_t i;

	wire_readdir_reply_begin(&db, b, c, 16, 65536);
	for (i = 0; i < sizeof(sample_dirents) / sizeof(sample_dirents[0]); i++)
		if (wire_readdir_reply_add(&db, &sample_dirents[i]) != 0)
			break;
	return wire_readdir_reply_end(&db, 1);
}
static int d_readdir_r(const void *p, size_t n) { struct wire_readdir_reply m; return wire_dec_readdir_reply(p, n, &m); }

static long e_setattr(void *b, size_t c) { return wire_enc_setattr(b, c, 17, &sample_setattr); }
static int d_setattr(const void *p, size_t n) { struct wire_setattr m; return wire_dec_setattr(p, n, &m); }

static long e_statfs_r(void *b, size_t c) { return wire_enc_statfs_reply(b, c, 18, &sample_statfs); }
static int d_statfs_r(const void *p, size_t n) { struct wire_statfs_reply m; return wire_dec_statfs_reply(p, n, &m); }

/* checkpoint and restart messages */
static const uint8_t sample_image[] = "\x7f" "ELF image bytes \0\xff\x01";

static long e_prepare(void *b, size_t c)
{
	struct wire_ckpt_prepare m = { 7, 0x100, 0x100 + sizeof(sample_image) + 5,
				       { sample_image, sizeof(sample_image) } };

	return wire_enc_ckpt_prepare(b, c, 30, &m);
}
static int d_prepare(const void *p, size_t n) { struct wire_ckpt_prepare m; return wire_dec_ckpt_prepare(p, n, &m); }

static long e_done(void *b, size_t c)
{
	struct wire_ckpt_done m = { BIG >> 1, 0x7fffffffffffffffull, BIG };

	return wire_enc_ckpt_done(b, c, 31, &m);
}
static int d_done(const void *p, size_t n) { struct wire_ckpt_done m; return wire_dec_ckpt_done(p, n, &m); }

static long e_done_r(void *b, size_t c)
{
	struct wire_ckpt_done_reply m = { 3, 123456789 };

	return wire_enc_ckpt_done_reply(b, c, 31, &m);
}
static int d_done_r(const void *p, size_t n) { struct wire_ckpt_done_reply m; return wire_dec_ckpt_done_reply(p, n, &m); }

static long e_gen(void *b, size_t c)
{
	struct wire_gen m = { BIG };

	return wire_enc_gen(b, c, WIRE_CKPT_COMMIT, 32, &m);
}
static int d_gen(const void *p, size_t n) { struct wire_gen m; return wire_dec_gen(p, n, &m); }

static const struct wire_gen_info sample_gens[] = {
	{ 4, WIRE_GEN_COMMITTED, 1000 },
	{ 5, WIRE_GEN_PREPARED, 0x7fffffffffffffffull },
	{ BIG >> 1, WIRE_GEN_PREPARED, 0 },
};

static long e_query_r(void *b, size_t c) { return wire_enc_rollback_query_reply(b, c, 33, sample_gens, 3); }
static int d_query_r(const void *p, size_t n) { struct wire_rollback_query_reply m; return wire_dec_rollback_query_reply(p, n, &m); }

static long e_rollback_r(void *b, size_t c)
{
	struct wire_rollback_reply m = { 9, 1 << 20, BIG };

	return wire_enc_rollback_reply(b, c, 34, &m);
}
static int d_rollback_r(const void *p, size_t n) { struct wire_rollback_reply m; return wire_dec_rollback_reply(p, n, &m); }

static long e_image_read(void *b, size_t c)
{
	struct wire_image_read m = { 9, 0x7fffffffffffffffull, WIRE_MAX_DATA };

	return wire_enc_image_read(b, c, 35, &m);
}
static int d_image_read(const void *p, size_t n) { struct wire_image_read m; return wire_dec_image_read(p, n, &m); }
static const struct wire_str sample_jobs[] = { { "alpha", 5 }, { "b", 1 }, { "job-7.x_y", 9 } };
static long e_jobs_r(void *b, size_t c)
{
	return wire_enc_job_list_reply(b, c, 36, sample_jobs, 3);
}
static int d_jobs_r(const void *p, size_t n) { struct wire_job_list_reply m; return wire_dec_job_list_reply(p, n, &m); }

struct msg_case {
	const char *name;
	long (*enc)(void *buf, size_t cap);
	int (*dec)(const void *p, size_t len);
	uint16_t type, flags;
	int trail;	/* error for one extra byte */
	int partial_ok;	/* a small cap may give a shorter valid frame */
};

#define R WIRE_F_REPLY
static const struct msg_case cases[] = {
	{ "hello", e_hello, d_hello, WIRE_HELLO, 0, WIRE_ETRUNC, 0 },
	{ "hello reply", e_hello_r, d_hello, WIRE_HELLO, R, WIRE_ETRUNC, 0 },
	{ "error", e_error, d_error, WIRE_OPEN, R | WIRE_F_ERROR, WIRE_ETRAIL, 0 },
	{ "empty", e_empty, d_empty, WIRE_PING, 0, WIRE_ETRAIL, 0 },
	{ "open", e_open, d_open, WIRE_OPEN, 0, WIRE_ETRAIL, 0 },
	{ "open reply", e_open_r, d_open_r, WIRE_OPEN, R, WIRE_ETRAIL, 0 },
	{ "handle", e_handle, d_handle, WIRE_CLOSE, 0, WIRE_ETRAIL, 0 },
	{ "pread", e_pread, d_pread, WIRE_PREAD, 0, WIRE_ETRAIL, 0 },
	{ "data reply", e_data, d_data, WIRE_PREAD, R, WIRE_ETRAIL, 0 },
	{ "pwrite", e_pwrite, d_pwrite, WIRE_PWRITE, 0, WIRE_ETRAIL, 0 },
	{ "pwrite reply", e_pwrite_r, d_pwrite_r, WIRE_PWRITE, R, WIRE_ETRAIL, 0 },
	{ "ftruncate", e_ftrunc, d_ftrunc, WIRE_FTRUNCATE, 0, WIRE_ETRAIL, 0 },
	{ "fsync", e_fsync, d_fsync, WIRE_FSYNC, 0, WIRE_ETRAIL, 0 },
	{ "stat reply", e_stat_r, d_stat_r, WIRE_STAT, R, WIRE_ETRAIL, 0 },
	{ "path request", e_path, d_path, WIRE_ACCESS, 0, WIRE_ETRAIL, 0 },
	{ "string reply", e_str_r, d_str_r, WIRE_READLINK, R, WIRE_ETRAIL, 0 },
	{ "two paths", e_two, d_two, WIRE_RENAME, 0, WIRE_ETRAIL, 0 },
	{ "readdir", e_readdir, d_readdir, WIRE_READDIR, 0, WIRE_ETRAIL, 0 },
	{ "readdir reply", e_readdir_r, d_readdir_r, WIRE_READDIR, R, WIRE_ETRAIL, 1 },
	{ "setattr", e_setattr, d_setattr, WIRE_SETATTR, 0, WIRE_ETRAIL, 0 },
	{ "statfs reply", e_statfs_r, d_statfs_r, WIRE_STATFS, R, WIRE_ETRAIL, 0 },
	{ "ckpt prepare", e_prepare, d_prepare, WIRE_CKPT_PREPARE, 0, WIRE_ETRAIL, 0 },
	{ "ckpt done", e_done, d_done, WIRE_CKPT_DONE, 0, WIRE_ETRAIL, 0 },
	{ "ckpt done reply", e_done_r, d_done_r, WIRE_CKPT_DONE, R, WIRE_ETRAIL, 0 },
	{ "generation", e_gen, d_gen, WIRE_CKPT_COMMIT, 0, WIRE_ETRAIL, 0 },
	{ "rollback query reply", e_query_r, d_query_r, WIRE_ROLLBACK_QUERY, R, WIRE_ETRAIL, 0 },
	{ "rollback reply", e_rollback_r, d_rollback_r, WIRE_ROLLBACK, R, WIRE_ETRAIL, 0 },
	{ "image read", e_image_read, d_image_read, WIRE_IMAGE_READ, 0, WIRE_ETRAIL, 0 },
	{ "job list reply", e_jobs_r, d_jobs_r, WIRE_JOB_LIST, R, WIRE_ETRAIL, 0 },
	{ "auth", e_auth, d_auth, WIRE_AUTH, 0, WIRE_ETRAIL, 0 },
	{ "read_fd", e_read_fd, d_handle, WIRE_READ_FD, 0, WIRE_ETRAIL, 0 },
	{ "read_fd reply", e_read_fd_r, d_empty, WIRE_READ_FD, R, WIRE_ETRAIL, 0 },
};
#undef R
#define NCASES (sizeof(cases) / sizeof(cases[0]))

/* ---- generic checks over every message ---------------------------------------------- */

Test(frames, every_message_decodes_whole)
{
	size_t i, plen;

	for (i = 0; i < NCASES; i++) {
		long n = cases[i].enc(fbuf, sizeof(fbuf));
		const uint8_t *p;
		struct wire_hdr h;
		int rc;

		cr_assert_gt(n, 0, "%s: encode: %s", cases[i].name, wire_strerror((int)n));
		wire_hdr_decode(fbuf, (size_t)n, WIRE_MAX_FRAME, &h);
		p = payload_of(fbuf, n, cases[i].type, cases[i].flags, h.id, &plen);
		uint8_t *c = exact_copy(p, plen);
		rc = cases[i].dec(c, plen);
		cr_assert_eq(rc, WIRE_OK, "%s: decode: %s", cases[i].name, wire_strerror(rc));
		free(c);
	}
}

Test(frames, truncated_at_every_length)
{
	size_t i, l, plen;

	for (i = 0; i < NCASES; i++) {
		long n = cases[i].enc(fbuf, sizeof(fbuf));
		const uint8_t *p;
		struct wire_hdr h;

		cr_assert_gt(n, 0);
		for (l = 0; l < WIRE_HDR_SIZE; l++) {
			uint8_t *c = exact_copy(fbuf, l);

			cr_assert_eq(wire_hdr_decode(c, l, WIRE_MAX_FRAME, &h), WIRE_ETRUNC);
			free(c);
		}
		wire_hdr_decode(fbuf, (size_t)n, WIRE_MAX_FRAME, &h);
		p = payload_of(fbuf, n, cases[i].type, cases[i].flags, h.id, &plen);
		for (l = 0; l < plen; l++) {
			uint8_t *c = exact_copy(p, l);
			int rc = cases[i].dec(c, l);

			cr_assert_lt(rc, 0, "%s: truncated to %zu of %zu bytes: accepted", cases[i].name,
				     l, plen);
			free(c);
		}
	}
}

Test(frames, one_trailing_byte_is_refused)
{
	size_t i, plen;

	for (i = 0; i < NCASES; i++) {
		long n = cases[i].enc(fbuf, sizeof(fbuf));
		const uint8_t *p;
		struct wire_hdr h;
		uint8_t *c;
		int rc;

		wire_hdr_decode(fbuf, (size_t)n, WIRE_MAX_FRAME, &h);
		p = payload_of(fbuf, n, cases[i].type, cases[i].flags, h.id, &plen);
		c = malloc(plen + 1);
		memcpy(c, p, plen);
		c[plen] = 0;
		rc = cases[i].dec(c, plen + 1);
		cr_assert_eq(rc, cases[i].trail, "%s: trailing byte gave %d", cases[i].name, rc);
		free(c);
	}
}

Test(frames, encoders_never_write_past_cap)
{
	size_t i, cap;

	for (i = 0; i < NCASES; i++) {
		long n = cases[i].enc(fbuf, sizeof(fbuf));

		cr_assert_gt(n, 0);
		for (cap = 0; cap <= (size_t)n; cap++) {
			long m;
			size_t k;

			memset(fbuf, 0xa5, (size_t)n + 64);
			m = cases[i].enc(fbuf, cap);
			if (cap == (size_t)n)
				cr_assert_eq(m, n, "%s: exact cap", cases[i].name);
			else if (cases[i].partial_ok && m > 0)
				cr_assert_leq(m, (long)cap, "%s", cases[i].name);
			else
				cr_assert_eq(m, WIRE_ENOSPC, "%s: cap %zu gave %ld", cases[i].name, cap, m);
			for (k = cap; k < (size_t)n + 64; k++)
				cr_assert_eq(fbuf[k], 0xa5, "%s: cap %zu: byte %zu written", cases[i].name,
					     cap, k);
		}
	}
}

Test(frames, encoders_accept_null_buffer_with_zero_cap)
{
	size_t i;

	for (i = 0; i < NCASES; i++)
		cr_assert_eq(cases[i].enc(NULL, 0), WIRE_ENOSPC, "%s", cases[i].name);
}

/* ---- frame header ------------------------------------------------------------------- */

Test(header, bytes_are_big_endian)
{
	static const uint8_t want[16] = {
		0x01, 0x02, 0x03, 0x04,				/* length */
		0x05, 0x06,					/* type */
		0x07, 0x08,					/* flags */
		0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, /* id */
	};
	struct wire_hdr h = { 0x01020304, 0x0506, 0x0708, 0x090a0b0c0d0e0f10ull };
	uint8_t b[16];

	wire_hdr_encode(b, &h);
	cr_assert(memcmp(b, want, sizeof(b)) == 0);
}

Test(header, round_trip)
{
	struct wire_hdr h = { 4096, WIRE_PWRITE, WIRE_F_REPLY | WIRE_F_ERROR, BIG }, g;
	uint8_t b[16];

	wire_hdr_encode(b, &h);
	cr_assert_eq(wire_hdr_decode(b, sizeof(b), WIRE_MAX_FRAME, &g), WIRE_OK);
	cr_assert_eq(g.length, h.length);
	cr_assert_eq(g.type, h.type);
	cr_assert_eq(g.flags, h.flags);
	cr_assert_eq(g.id, h.id);
}

static int hdr_rc(uint32_t length, uint16_t type, uint16_t flags, uint32_t max_frame)
{
	struct wire_hdr h = { length, type, flags, 1 }, g;
	uint8_t b[16];

	wire_hdr_encode(b, &h);
	return wire_hdr_decode(b, sizeof(b), max_frame, &g);
}

Test(header, length_bounds)
{
	cr_assert_eq(hdr_rc(16, WIRE_PING, 0, WIRE_MAX_FRAME), WIRE_OK);
	cr_assert_eq(hdr_rc(15, WIRE_PING, 0, WIRE_MAX_FRAME), WIRE_EINVAL);
	cr_assert_eq(hdr_rc(0, WIRE_PING, 0, WIRE_MAX_FRAME), WIRE_EINVAL);
	cr_assert_eq(hdr_rc(WIRE_MAX_FRAME, WIRE_PING, 0, WIRE_MAX_FRAME), WIRE_OK);
	cr_assert_eq(hdr_rc(WIRE_MAX_FRAME + 1, WIRE_PING, 0, WIRE_MAX_FRAME), WIRE_ETOOBIG);
	cr_assert_eq(hdr_rc(0xffffffffu, WIRE_PING, 0, WIRE_MAX_FRAME), WIRE_ETOOBIG);
	/* a peer's smaller limit */
	cr_assert_eq(hdr_rc(1000, WIRE_PING, 0, 1000), WIRE_OK);
	cr_assert_eq(hdr_rc(1001, WIRE_PING, 0, 1000), WIRE_ETOOBIG);
	/* a larger limit is clamped to WIRE_MAX_FRAME */
	cr_assert_eq(hdr_rc(WIRE_MAX_FRAME + 1, WIRE_PING, 0, 0xffffffffu), WIRE_ETOOBIG);
	/* 0 means 0: nothing fits */
	cr_assert_eq(hdr_rc(16, WIRE_PING, 0, 0), WIRE_ETOOBIG);
}

Test(header, flags)
{
	cr_assert_eq(hdr_rc(16, WIRE_PING, WIRE_F_REPLY, WIRE_MAX_FRAME), WIRE_OK);
	cr_assert_eq(hdr_rc(16, WIRE_PING, WIRE_F_REPLY | WIRE_F_ERROR, WIRE_MAX_FRAME), WIRE_OK);
	cr_assert_eq(hdr_rc(16, WIRE_PING, WIRE_F_ERROR, WIRE_MAX_FRAME), WIRE_EINVAL);
	cr_assert_eq(hdr_rc(16, WIRE_PING, 0x0004, WIRE_MAX_FRAME), WIRE_EINVAL);
	cr_assert_eq(hdr_rc(16, WIRE_PING, 0x8001, WIRE_MAX_FRAME), WIRE_EINVAL);
}

Test(header, types)
{
	uint32_t t;

	int known = 0;

	for (t = 1; t <= WIRE_TYPE_MAX; t++) {
		int ok = t <= WIRE_READ_FD || (t >= WIRE_CKPT_PREPARE && t <= WIRE_CKPT_ABORT) ||
			 (t >= WIRE_ROLLBACK_QUERY && t <= WIRE_ROLLBACK_CHECK) || t == WIRE_AUTH;

		cr_assert_eq(hdr_rc(16, (uint16_t)t, 0, WIRE_MAX_FRAME), ok ? WIRE_OK : WIRE_ETYPE,
			     "type %u", t);
		cr_assert_eq(wire_type_known((uint16_t)t), ok);
		known += ok;
	}
	cr_assert_eq(known, WIRE_TYPE_COUNT);
	cr_assert_eq(hdr_rc(16, 0, 0, WIRE_MAX_FRAME), WIRE_ETYPE);
	cr_assert_eq(hdr_rc(16, WIRE_TYPE_MAX + 1, 0, WIRE_MAX_FRAME), WIRE_ETYPE);
	cr_assert_eq(hdr_rc(16, 21, 0, WIRE_MAX_FRAME), WIRE_OK); /* READ_FD */
	cr_assert_eq(hdr_rc(16, 22, 0, WIRE_MAX_FRAME), WIRE_ETYPE);
	cr_assert_eq(hdr_rc(16, 31, 0, WIRE_MAX_FRAME), WIRE_ETYPE);
	cr_assert_eq(hdr_rc(16, 36, 0, WIRE_MAX_FRAME), WIRE_ETYPE);
	cr_assert_eq(hdr_rc(16, 63, 0, WIRE_MAX_FRAME), WIRE_ETYPE);
	cr_assert_eq(hdr_rc(16, 69, 0, WIRE_MAX_FRAME), WIRE_ETYPE);
	cr_assert_eq(hdr_rc(16, 32, 0, WIRE_MAX_FRAME), WIRE_OK);
	cr_assert_eq(hdr_rc(16, 64, 0, WIRE_MAX_FRAME), WIRE_OK);
	cr_assert_eq(hdr_rc(16, 0xffff, WIRE_F_REPLY, WIRE_MAX_FRAME), WIRE_ETYPE);
}

Test(header, filled_even_when_refused)
{
	struct wire_hdr h = { 99, 0x1234, 0, 77 }, g;
	uint8_t b[16];

	wire_hdr_encode(b, &h);
	cr_assert_eq(wire_hdr_decode(b, sizeof(b), WIRE_MAX_FRAME, &g), WIRE_ETYPE);
	cr_assert_eq(g.type, 0x1234);
	cr_assert_eq(g.id, 77);
}

Test(header, builder_refuses_bad_type_and_flags)
{
	struct wire_wr w;

	wire_frame_begin(&w, fbuf, sizeof(fbuf), 0, 0, 1);
	cr_assert_eq(wire_frame_end(&w), WIRE_ETYPE);
	wire_frame_begin(&w, fbuf, sizeof(fbuf), WIRE_TYPE_MAX + 1, 0, 1);
	cr_assert_eq(wire_frame_end(&w), WIRE_ETYPE);
	wire_frame_begin(&w, fbuf, sizeof(fbuf), WIRE_PING, WIRE_F_ERROR, 1);
	cr_assert_eq(wire_frame_end(&w), WIRE_EINVAL);
	wire_frame_begin(&w, fbuf, sizeof(fbuf), WIRE_PING, 0x10, 1);
	cr_assert_eq(wire_frame_end(&w), WIRE_EINVAL);
	cr_assert_eq(wire_enc_empty(fbuf, sizeof(fbuf), WIRE_PING, WIRE_F_REPLY | WIRE_F_ERROR, 1),
		     WIRE_EINVAL);
	cr_assert_eq(wire_enc_hello(fbuf, sizeof(fbuf), 1, WIRE_F_REPLY | WIRE_F_ERROR, &sample_hello),
		     WIRE_EINVAL);
	cr_assert_eq(wire_enc_empty(fbuf, sizeof(fbuf), 0, 0, 1), WIRE_ETYPE);
}

Test(header, builder_refuses_frames_over_the_limit)
{
	struct wire_wr w;
	static uint8_t big[WIRE_MAX_FRAME + 1];

	wire_frame_begin(&w, big, sizeof(big), WIRE_PING, 0, 1);
	wire_put_bytes(&w, fbuf, WIRE_MAX_FRAME - WIRE_HDR_SIZE);
	cr_assert_eq(wire_frame_end(&w), (long)WIRE_MAX_FRAME);
	wire_frame_begin(&w, big, sizeof(big), WIRE_PING, 0, 1);
	wire_put_bytes(&w, fbuf, WIRE_MAX_FRAME - WIRE_HDR_SIZE + 1);
	cr_assert_eq(wire_frame_end(&w), WIRE_ETOOBIG);
}

/* ---- cursors ------------------------------------------------------------------------- */

Test(cursor, sticky_read_overflow)
{
	static const uint8_t b[] = { 0x12, 0x34, 0x56 };
	struct wire_rd r;

	wire_rd_init(&r, b, sizeof(b));
	cr_assert_eq(wire_get_u16(&r), 0x1234);
	cr_assert_eq(wire_get_u16(&r), 0); /* one byte left */
	cr_assert_eq(r.err, WIRE_ETRUNC);
	cr_assert_eq(wire_get_u8(&r), 0); /* the byte is there, but the error sticks */
	cr_assert_eq(r.err, WIRE_ETRUNC);
	cr_assert_eq(wire_rd_finish(&r), WIRE_ETRUNC);
}

Test(cursor, finish_detects_trailing)
{
	static const uint8_t b[] = { 1, 2 };
	struct wire_rd r;

	wire_rd_init(&r, b, sizeof(b));
	wire_get_u8(&r);
	cr_assert_eq(wire_rd_finish(&r), WIRE_ETRAIL);
	wire_rd_init(&r, b, sizeof(b));
	wire_get_u16(&r);
	cr_assert_eq(wire_rd_finish(&r), WIRE_OK);
	wire_rd_init(&r, NULL, 0);
	cr_assert_eq(wire_get_u64(&r), 0);
	cr_assert_eq(r.err, WIRE_ETRUNC);
}

Test(cursor, integers_big_endian_and_wide)
{
	static const uint8_t want[] = {
		0xab,
		0xab, 0xcd,
		0x89, 0xab, 0xcd, 0xef,
		0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
		0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	};
	uint8_t b[sizeof(want)];
	struct wire_wr w;
	struct wire_rd r;

	wire_wr_init(&w, b, sizeof(b));
	wire_put_u8(&w, 0xab);
	wire_put_u16(&w, 0xabcd);
	wire_put_u32(&w, 0x89abcdefu);
	wire_put_u64(&w, BIG);
	wire_put_s64(&w, -2);
	wire_put_s64(&w, INT64_MIN);
	cr_assert_eq(w.err, 0);
	cr_assert_eq(wire_wr_len(&w), sizeof(want));
	cr_assert(memcmp(b, want, sizeof(b)) == 0);

	wire_rd_init(&r, b, sizeof(b));
	cr_assert_eq(wire_get_u8(&r), 0xab);
	cr_assert_eq(wire_get_u16(&r), 0xabcd);
	cr_assert_eq(wire_get_u32(&r), 0x89abcdefu);
	cr_assert_eq(wire_get_u64(&r), BIG);
	cr_assert_eq(wire_get_s64(&r), -2);
	cr_assert_eq(wire_get_s64(&r), INT64_MIN);
	cr_assert_eq(wire_rd_finish(&r), WIRE_OK);
}

Test(cursor, sticky_write_overflow)
{
	uint8_t b[8];
	struct wire_wr w;

	memset(b, 0xee, sizeof(b));
	wire_wr_init(&w, b, 5);
	wire_put_u32(&w, 0x01020304);
	wire_put_u16(&w, 0xffff); /* does not fit: nothing written */
	cr_assert_eq(w.err, WIRE_ENOSPC);
	wire_put_u8(&w, 0x77); /* would fit, but the error sticks */
	cr_assert_eq(wire_wr_len(&w), 4);
	cr_assert_eq(b[4], 0xee);
	cr_assert_eq(b[5], 0xee);
}

Test(cursor, string_bounds_checked_before_bytes)
{
	/* length 0xffff with no bytes behind: over the bound, not truncated */
	static const uint8_t s[] = { 0xff, 0xff };
	/* blob length 0xffffffff */
	static const uint8_t bl[] = { 0xff, 0xff, 0xff, 0xff, 1, 2, 3 };
	struct wire_rd r;
	struct wire_str str;
	struct wire_blob blob;

	wire_rd_init(&r, s, sizeof(s));
	str = wire_get_str(&r, WIRE_MAX_STR);
	cr_assert_eq(r.err, WIRE_ETOOBIG);
	cr_assert_eq(str.len, 0);
	cr_assert_not_null(str.p);

	wire_rd_init(&r, bl, sizeof(bl));
	blob = wire_get_blob(&r, WIRE_MAX_DATA);
	cr_assert_eq(r.err, WIRE_ETOOBIG);
	cr_assert_eq(blob.len, 0);

	wire_rd_init(&r, s, sizeof(s));
	wire_get_str(&r, 0xffff);
	cr_assert_eq(r.err, WIRE_ETRUNC);
}

Test(cursor, strings_round_trip)
{
	uint8_t b[64];
	struct wire_wr w;
	struct wire_rd r;
	struct wire_str s;
	struct wire_blob d;

	wire_wr_init(&w, b, sizeof(b));
	wire_put_str(&w, "abc", 3);
	wire_put_str(&w, NULL, 0);
	wire_put_blob(&w, "\0\1\2", 3);
	wire_put_blob(&w, NULL, 0);
	cr_assert_eq(wire_wr_len(&w), 5 + 2 + 7 + 4);
	cr_assert(memcmp(b, "\0\3abc\0\0\0\0\0\3\0\1\2\0\0\0\0", 18) == 0);

	wire_rd_init(&r, b, wire_wr_len(&w));
	s = wire_get_str(&r, 3);
	assert_str(s, "abc");
	s = wire_get_str(&r, 0);
	cr_assert_eq(s.len, 0);
	d = wire_get_blob(&r, 3);
	cr_assert_eq(d.len, 3);
	cr_assert(memcmp(d.p, "\0\1\2", 3) == 0);
	d = wire_get_blob(&r, 0);
	cr_assert_eq(d.len, 0);
	cr_assert_eq(wire_rd_finish(&r), WIRE_OK);
}

Test(cursor, string_over_u16_is_refused)
{
	static char big[70000];
	uint8_t b[16];
	struct wire_wr w;

	wire_wr_init(&w, b, sizeof(b));
	wire_put_str(&w, big, 65536);
	cr_assert_eq(w.err, WIRE_ETOOBIG);
	cr_assert_eq(wire_wr_len(&w), 0);
}

Test(cursor, blob_and_string_all_or_nothing)
{
	uint8_t b[8];
	struct wire_wr w;

	memset(b, 0xee, sizeof(b));
	wire_wr_init(&w, b, 6);
	wire_put_blob(&w, "abc", 3); /* 7 bytes */
	cr_assert_eq(w.err, WIRE_ENOSPC);
	cr_assert_eq(wire_wr_len(&w), 0);
	cr_assert_eq(b[0], 0xee);
	wire_wr_init(&w, b, 4);
	wire_put_str(&w, "abc", 3); /* 5 bytes */
	cr_assert_eq(w.err, WIRE_ENOSPC);
	cr_assert_eq(b[0], 0xee);
}

/* ---- HELLO -------------------------------------------------------------------------- */

Test(hello, round_trip_both_ways)
{
	uint16_t fl[2] = { 0, WIRE_F_REPLY };
	int i;

	for (i = 0; i < 2; i++) {
		long n = wire_enc_hello(fbuf, sizeof(fbuf), BIG, fl[i], &sample_hello);
		size_t plen;
		const uint8_t *p = payload_of(fbuf, n, WIRE_HELLO, fl[i], BIG, &plen);
		struct wire_hello m;

		cr_assert_eq(wire_dec_hello(p, plen, &m), WIRE_OK);
		cr_assert_eq(m.version, WIRE_PROTO_VERSION);
		cr_assert_eq(m.byte_order, WIRE_BO_BIG);
		cr_assert_eq(m.page_size, 65536);
		cr_assert_eq(m.pid, 0x7fffffff);
		cr_assert_eq(m.session, BIG);
		cr_assert_eq(m.max_frame, WIRE_MAX_FRAME);
		assert_str(m.arch, "s390x");
		assert_str(m.job, "job-42");
		assert_str(m.peer, "ckpt-shim 0.1.0");
	}
}

Test(hello, exact_bytes)
{
	struct wire_hello h = { .version = 1, .byte_order = WIRE_BO_LITTLE, .page_size = 4096, .pid = 1234,
				.session = 0, .max_frame = 65536, .arch = { "x86_64", 6 }, .job = { "j", 1 },
				.peer = { "", 0 } };
	static const uint8_t want[] = {
		0x00, 0x00, 0x00, 0x34, 0x00, 0x01, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 5, /* header */
		0x00, 0x01,			   /* version */
		0x01,				   /* byte order: little */
		0x00, 0x00, 0x10, 0x00,		   /* page size */
		0x00, 0x00, 0x04, 0xd2,		   /* pid */
		0, 0, 0, 0, 0, 0, 0, 0,		   /* session */
		0x00, 0x01, 0x00, 0x00,		   /* max_frame */
		0x00, 0x06, 'x', '8', '6', '_', '6', '4', /* arch */
		0x00, 0x01, 'j',		   /* job */
		0x00, 0x00,			   /* peer */
	};
	long n = wire_enc_hello(fbuf, sizeof(fbuf), 5, 0, &h);

	cr_assert_eq(n, (long)sizeof(want));
	cr_assert(memcmp(fbuf, want, sizeof(want)) == 0);
}

/* Appends raw option bytes to an encoded HELLO and decodes it; *keep (the
 * payload m points into) is the caller's to free. */
static int hello_with_options(const uint8_t *opt, size_t olen, struct wire_hello *m,
			      uint8_t **keep)
{
	long n = wire_enc_hello(fbuf, sizeof(fbuf), 1, 0, &sample_hello);
	uint8_t *c;
	int rc;

	cr_assert_gt(n, 0);
	c = exact_copy(fbuf + WIRE_HDR_SIZE, (size_t)n - WIRE_HDR_SIZE + olen);
	memcpy(c, fbuf + WIRE_HDR_SIZE, (size_t)n - WIRE_HDR_SIZE);
	memcpy(c + n - WIRE_HDR_SIZE, opt, olen);
	rc = wire_dec_hello(c, (size_t)n - WIRE_HDR_SIZE + olen, m);
	*keep = c;
	return rc;
}

Test(hello, unknown_options_are_skipped)
{
	static const uint8_t opts[] = {
		0x01, 0x00, 0x00, 0x03, 'a', 'b', 'c', /* tag 0x100, 3 bytes */
		0x12, 0x34, 0x00, 0x00,		       /* tag 0x1234, empty */
		0xff, 0xff, 0x00, 0x01, 0x00,	       /* tag 0xffff, 1 byte */
	};
	struct wire_hello m;
	uint8_t *keep;

	cr_assert_eq(hello_with_options(opts, sizeof(opts), &m, &keep), WIRE_OK);
	assert_str(m.peer, "ckpt-shim 0.1.0");
	cr_assert_eq(m.session, BIG);
	free(keep);
}

Test(hello, truncated_option_is_refused)
{
	static const uint8_t opts[] = { 0x01, 0x00, 0x00, 0x04, 'a', 'b', 'c' }; /* an unknown tag */
	struct wire_hello m;
	uint8_t *keep;
	size_t l;

	/* every prefix that is not a whole number of options */
	for (l = 1; l <= sizeof(opts); l++) {
		cr_assert_eq(hello_with_options(opts, l, &m, &keep), WIRE_ETRUNC, "options of %zu bytes",
			     l);
		free(keep);
	}
}

Test(hello, byte_order_must_be_known)
{
	struct wire_hello h = sample_hello, m;
	uint8_t bo[] = { 0, 3, 255 };
	size_t i, plen;

	for (i = 0; i < sizeof(bo); i++) {
		long n;
		const uint8_t *p;

		h.byte_order = bo[i];
		cr_assert_eq(wire_enc_hello(fbuf, sizeof(fbuf), 1, 0, &h), WIRE_EINVAL);
		/* hand-patch a valid frame: byte_order is payload byte 2 */
		n = wire_enc_hello(fbuf, sizeof(fbuf), 1, 0, &sample_hello);
		p = payload_of(fbuf, n, WIRE_HELLO, 0, 1, &plen);
		fbuf[WIRE_HDR_SIZE + 2] = bo[i];
		cr_assert_eq(wire_dec_hello(p, plen, &m), WIRE_EINVAL);
	}
	h.byte_order = WIRE_BO_LITTLE;
	cr_assert_gt(wire_enc_hello(fbuf, sizeof(fbuf), 1, 0, &h), 0);
}

Test(hello, version_is_not_judged_by_the_codec)
{
	struct wire_hello h = sample_hello, m;
	const uint8_t *p;
	size_t plen;
	long n;

	h.version = 0;
	n = wire_enc_hello(fbuf, sizeof(fbuf), 1, 0, &h);
	p = payload_of(fbuf, n, WIRE_HELLO, 0, 1, &plen);
	cr_assert_eq(wire_dec_hello(p, plen, &m), WIRE_OK);
	cr_assert_eq(m.version, 0);
}

Test(hello, strings_bounded_and_without_nul)
{
	static char big[WIRE_MAX_STR + 1];
	struct wire_hello h = sample_hello;

	memset(big, 'a', sizeof(big));
	h.job.p = big;
	h.job.len = WIRE_MAX_STR;
	cr_assert_gt(wire_enc_hello(fbuf, sizeof(fbuf), 1, 0, &h), 0);
	h.job.len = WIRE_MAX_STR + 1;
	cr_assert_eq(wire_enc_hello(fbuf, sizeof(fbuf), 1, 0, &h), WIRE_ETOOBIG);
	h.job = (struct wire_str){ "a\0b", 3 };
	cr_assert_eq(wire_enc_hello(fbuf, sizeof(fbuf), 1, 0, &h), WIRE_EINVAL);
}

/* READ_FDS (tag 3, PROTOCOL.md 3.1): empty, at most once; in a reply it
 * offers READ_FD. The encoder writes it after any authentication option. */
Test(hello, read_fds_round_trip_both_ways)
{
	uint16_t fl[2] = { 0, WIRE_F_REPLY };

	for (int i = 0; i < 2; i++) {
		struct wire_hello h = sample_hello, m;
		long plain = wire_enc_hello(fbuf, sizeof(fbuf), BIG, fl[i], &sample_hello), n;
		const uint8_t *p;
		size_t plen;

		cr_assert_gt(plain, 0);
		h.read_fds = 1;
		n = wire_enc_hello(fbuf, sizeof(fbuf), BIG, fl[i], &h);
		p = payload_of(fbuf, n, WIRE_HELLO, fl[i], BIG, &plen);
		cr_assert_eq(n, plain + 4, "the option is 4 bytes: tag and length");
		cr_assert(memcmp(p + plen - 4, "\x00\x03\x00\x00", 4) == 0, "tag 3, length 0, last");
		memset(&m, 0xee, sizeof(m));
		cr_assert_eq(wire_dec_hello(p, plen, &m), WIRE_OK);
		cr_assert_eq(m.read_fds, 1);
		cr_assert_eq(m.auth_kind, 0);
		cr_assert_eq(m.challenge, 0);
		cr_assert_eq(m.session, BIG);
		assert_str(m.peer, "ckpt-shim 0.1.0");
		/* without it: 0, whatever the struct held */
		n = wire_enc_hello(fbuf, sizeof(fbuf), BIG, fl[i], &sample_hello);
		p = payload_of(fbuf, n, WIRE_HELLO, fl[i], BIG, &plen);
		memset(&m, 0xee, sizeof(m));
		cr_assert_eq(wire_dec_hello(p, plen, &m), WIRE_OK);
		cr_assert_eq(m.read_fds, 0);
	}
}

/* With the authentication option of each side: both come back. */
Test(hello, read_fds_beside_authentication)
{
	struct wire_hello h = sample_hello, m;
	long n;

	h.auth_kind = WIRE_KEY_SERVER;
	memset(h.nonce, 0x5a, sizeof(h.nonce));
	h.read_fds = 1;
	n = wire_enc_hello(fbuf, sizeof(fbuf), 1, 0, &h);
	cr_assert_gt(n, 0);
	cr_assert_eq(wire_dec_hello(fbuf + WIRE_HDR_SIZE, (size_t)n - WIRE_HDR_SIZE, &m), WIRE_OK);
	cr_assert_eq(m.read_fds, 1);
	cr_assert_eq(m.auth_kind, WIRE_KEY_SERVER);
	cr_assert_arr_eq(m.nonce, h.nonce, sizeof(h.nonce));

	h = sample_hello;
	h.challenge = 1;
	memset(h.nonce, 0x11, sizeof(h.nonce));
	memset(h.proof, 0x22, sizeof(h.proof));
	h.read_fds = 1;
	n = wire_enc_hello(fbuf, sizeof(fbuf), 1, WIRE_F_REPLY, &h);
	cr_assert_gt(n, 0);
	cr_assert_eq(wire_dec_hello(fbuf + WIRE_HDR_SIZE, (size_t)n - WIRE_HDR_SIZE, &m), WIRE_OK);
	cr_assert_eq(m.read_fds, 1);
	cr_assert_eq(m.challenge, 1);
	cr_assert_arr_eq(m.proof, h.proof, sizeof(h.proof));
}

Test(hello, read_fds_option_is_empty_and_once)
{
	static const uint8_t once[] = { 0x00, 0x03, 0x00, 0x00 };
	static const uint8_t among[] = {
		0x01, 0x00, 0x00, 0x02, 'a', 'b', /* an unknown tag */
		0x00, 0x03, 0x00, 0x00,		  /* READ_FDS */
		0xff, 0xff, 0x00, 0x00,		  /* another unknown tag */
	};
	static const uint8_t twice[] = { 0x00, 0x03, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00 };
	static const uint8_t twice_apart[] = { 0x00, 0x03, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
					       0x00, 0x03, 0x00, 0x00 };
	static const uint8_t one_byte[] = { 0x00, 0x03, 0x00, 0x01, 0x00 };
	static const uint8_t four_bytes[] = { 0x00, 0x03, 0x00, 0x04, 1, 2, 3, 4 };
	struct wire_hello m;
	uint8_t *keep;

	cr_assert_eq(hello_with_options(once, sizeof(once), &m, &keep), WIRE_OK);
	cr_assert_eq(m.read_fds, 1);
	free(keep);
	cr_assert_eq(hello_with_options(among, sizeof(among), &m, &keep), WIRE_OK);
	cr_assert_eq(m.read_fds, 1, "found among unknown options");
	assert_str(m.peer, "ckpt-shim 0.1.0");
	free(keep);
	cr_assert_eq(hello_with_options(twice, sizeof(twice), &m, &keep), WIRE_EINVAL);
	free(keep);
	cr_assert_eq(hello_with_options(twice_apart, sizeof(twice_apart), &m, &keep), WIRE_EINVAL);
	free(keep);
	cr_assert_eq(hello_with_options(one_byte, sizeof(one_byte), &m, &keep), WIRE_EINVAL);
	free(keep);
	cr_assert_eq(hello_with_options(four_bytes, sizeof(four_bytes), &m, &keep), WIRE_EINVAL);
	free(keep);
}

Test(hello, encoder_refuses_read_fds_over_1)
{
	struct wire_hello h = sample_hello;
	static const uint8_t bad[] = { 2, 3, 0x80, 0xff };

	for (size_t i = 0; i < sizeof(bad); i++) {
		h.read_fds = bad[i];
		cr_assert_eq(wire_enc_hello(fbuf, sizeof(fbuf), 1, 0, &h), WIRE_EINVAL, "%u", bad[i]);
		cr_assert_eq(wire_enc_hello(fbuf, sizeof(fbuf), 1, WIRE_F_REPLY, &h), WIRE_EINVAL,
			     "%u", bad[i]);
	}
	h.read_fds = 1;
	cr_assert_gt(wire_enc_hello(fbuf, sizeof(fbuf), 1, WIRE_F_REPLY, &h), 0);
}

/* ---- error and empty ---------------------------------------------------------------- */

Test(error, round_trip_and_bytes)
{
	static const uint8_t want[] = {
		0x00, 0x00, 0x00, 0x17, 0x00, 0x02, 0x00, 0x03, 0, 0, 0, 0, 0, 0, 0x01, 0x00,
		0x00, WIRE_ERRNO_ENOENT, /* errno */
		0x00, 0x03, 'a', '/', 'b',
	};
	struct wire_error e = { WIRE_ERRNO_ENOENT, { "a/b", 3 } }, m;
	long n = wire_enc_error(fbuf, sizeof(fbuf), WIRE_OPEN, 0x100, &e);
	size_t plen;
	const uint8_t *p = payload_of(fbuf, n, WIRE_OPEN, WIRE_F_REPLY | WIRE_F_ERROR, 0x100, &plen);

	cr_assert_eq(n, (long)sizeof(want));
	cr_assert(memcmp(fbuf, want, sizeof(want)) == 0);
	cr_assert_eq(wire_dec_error(p, plen, &m), WIRE_OK);
	cr_assert_eq(m.err, WIRE_ERRNO_ENOENT);
	assert_str(m.msg, "a/b");
	cr_assert_eq(wire_errno_to_host(m.err), ENOENT);
}

Test(error, errno_zero_is_refused)
{
	struct wire_error e = { 0, { "", 0 } }, m;
	static const uint8_t zero[] = { 0, 0, 0, 0 };

	cr_assert_eq(wire_enc_error(fbuf, sizeof(fbuf), WIRE_OPEN, 1, &e), WIRE_EINVAL);
	cr_assert_eq(wire_dec_error(zero, sizeof(zero), &m), WIRE_EINVAL);
}

Test(error, unknown_wire_errno_travels)
{
	struct wire_error e = { 999, { "", 0 } }, m;
	long n = wire_enc_error(fbuf, sizeof(fbuf), WIRE_STAT, 1, &e);
	size_t plen;
	const uint8_t *p = payload_of(fbuf, n, WIRE_STAT, WIRE_F_REPLY | WIRE_F_ERROR, 1, &plen);

	cr_assert_eq(wire_dec_error(p, plen, &m), WIRE_OK);
	cr_assert_eq(wire_errno_to_host(m.err), EIO);
}

Test(empty, all_empty_replies)
{
	static const uint16_t types[] = { WIRE_CLOSE, WIRE_FTRUNCATE, WIRE_FSYNC, WIRE_ACCESS,
					  WIRE_UNLINK, WIRE_RENAME, WIRE_MKDIR, WIRE_SETATTR,
					  WIRE_SYMLINK, WIRE_LINK, WIRE_READ_FD, WIRE_PING };
	static const uint8_t want[] = { 0, 0, 0, 16, 0, WIRE_PING, 0, 1, 0, 0, 0, 0, 0, 0, 0, 42 };
	size_t i, plen;

	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		long n = wire_enc_empty(fbuf, sizeof(fbuf), types[i], WIRE_F_REPLY, 42);
		const uint8_t *p = payload_of(fbuf, n, types[i], WIRE_F_REPLY, 42, &plen);

		cr_assert_eq(plen, 0);
		cr_assert_eq(wire_dec_empty(p, plen), WIRE_OK);
	}
	cr_assert(memcmp(fbuf, want, sizeof(want)) == 0);
	cr_assert_eq(wire_enc_empty(fbuf, sizeof(fbuf), WIRE_PING, 0, 1), 16);
	cr_assert_eq(wire_dec_empty("x", 1), WIRE_ETRAIL);
}

/* ---- READ_FD (PROTOCOL.md 4.3) ---------------------------------------------------------- */

Test(read_fd, request_and_reply_bytes)
{
	static const uint8_t want_req[] = {
		0x00, 0x00, 0x00, 0x18, 0x00, 0x15, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0x01, 0x02, /* header */
		0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, /* handle */
	};
	static const uint8_t want_rep[] = {
		0x00, 0x00, 0x00, 0x10, 0x00, 0x15, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0x01, 0x02,
	};
	struct wire_handle h = { BIG }, m;
	long n = wire_enc_handle(fbuf, sizeof(fbuf), WIRE_READ_FD, 0x102, &h);
	size_t plen;
	const uint8_t *p = payload_of(fbuf, n, WIRE_READ_FD, 0, 0x102, &plen);
	uint8_t *c;

	cr_assert_eq(WIRE_READ_FD, 21);
	cr_assert_eq(n, (long)sizeof(want_req));
	cr_assert(memcmp(fbuf, want_req, sizeof(want_req)) == 0);
	cr_assert_eq(wire_dec_handle(p, plen, &m), WIRE_OK);
	cr_assert_eq(m.handle, BIG);
	/* 7 and 9 bytes (in blocks of exactly that size): a protocol error
	 * for the server */
	c = exact_copy(p, 7);
	cr_assert_eq(wire_dec_handle(c, 7, &m), WIRE_ETRUNC);
	free(c);
	c = malloc(9);
	cr_assert_not_null(c);
	memcpy(c, p, 8);
	c[8] = 0;
	cr_assert_eq(wire_dec_handle(c, 9, &m), WIRE_ETRAIL);
	free(c);

	n = wire_enc_empty(fbuf, sizeof(fbuf), WIRE_READ_FD, WIRE_F_REPLY, 0x102);
	p = payload_of(fbuf, n, WIRE_READ_FD, WIRE_F_REPLY, 0x102, &plen);
	cr_assert_eq(n, (long)sizeof(want_rep));
	cr_assert(memcmp(fbuf, want_rep, sizeof(want_rep)) == 0);
	cr_assert_eq(wire_dec_empty(p, plen), WIRE_OK);
}

/* The refusal of a session not offered READ_FDS travels as ENOTSUP. */
Test(read_fd, enotsup_error_reply_round_trip)
{
	struct wire_error e = { wire_errno_from_host(ENOTSUP), { "no", 2 } }, m;
	long n = wire_enc_error(fbuf, sizeof(fbuf), WIRE_READ_FD, 5, &e);
	size_t plen;
	const uint8_t *p = payload_of(fbuf, n, WIRE_READ_FD, WIRE_F_REPLY | WIRE_F_ERROR, 5, &plen);

	cr_assert_eq(e.err, WIRE_ERRNO_ENOTSUP);
	cr_assert_eq(wire_dec_error(p, plen, &m), WIRE_OK);
	cr_assert_eq(wire_errno_to_host(m.err), ENOTSUP);
}

/* ---- OPEN ------------------------------------------------------------------------------ */

Test(open, round_trip)
{
	long n = wire_enc_open(fbuf, sizeof(fbuf), BIG, &sample_open);
	size_t plen;
	const uint8_t *p = payload_of(fbuf, n, WIRE_OPEN, 0, BIG, &plen);
	struct wire_open m;

	cr_assert_eq(wire_dec_open(p, plen, &m), WIRE_OK);
	assert_str(m.path, "dir/sub/file.txt");
	cr_assert_eq(m.flags, sample_open.flags);
	cr_assert_eq(m.mode, 0640);
}

Test(open, reply_round_trip)
{
	struct wire_open_reply r = { BIG, sample_stat }, m;
	long n = wire_enc_open_reply(fbuf, sizeof(fbuf), 3, &r);
	size_t plen;
	const uint8_t *p = payload_of(fbuf, n, WIRE_OPEN, WIRE_F_REPLY, 3, &plen);

	cr_assert_eq(plen, 108);
	cr_assert_eq(wire_dec_open_reply(p, plen, &m), WIRE_OK);
	cr_assert_eq(m.handle, BIG);
	assert_stat_eq(&m.st, &sample_stat);
	r.handle = 0;
	cr_assert_eq(wire_enc_open_reply(fbuf, sizeof(fbuf), 3, &r), WIRE_EINVAL);
}

Test(open, forbidden_flags_and_modes)
{
	struct wire_open o = sample_open, m;
	size_t plen;
	long n;

	o.flags = WIRE_O_ACCMODE; /* access mode 3 */
	cr_assert_eq(wire_enc_open(fbuf, sizeof(fbuf), 1, &o), WIRE_EINVAL);
	o.flags = WIRE_O_RDONLY | 0x4000;
	cr_assert_eq(wire_enc_open(fbuf, sizeof(fbuf), 1, &o), WIRE_EINVAL);
	o.flags = WIRE_O_RDONLY | 0x0004;
	cr_assert_eq(wire_enc_open(fbuf, sizeof(fbuf), 1, &o), WIRE_EINVAL);
	o.flags = WIRE_O_KNOWN & ~WIRE_O_ACCMODE;
	cr_assert_gt(wire_enc_open(fbuf, sizeof(fbuf), 1, &o), 0);
	o.mode = 0100644; /* permission bits only */
	cr_assert_eq(wire_enc_open(fbuf, sizeof(fbuf), 1, &o), WIRE_EINVAL);

	/* the decoder refuses what the encoder refuses: patch flags in a good frame */
	n = wire_enc_open(fbuf, sizeof(fbuf), 1, &sample_open);
	payload_of(fbuf, n, WIRE_OPEN, 0, 1, &plen);
	fbuf[n - 5] = 0x03; /* low byte of flags: access mode 3 */
	cr_assert_eq(wire_dec_open(fbuf + WIRE_HDR_SIZE, plen, &m), WIRE_EINVAL);
}

/* ---- paths -------------------------------------------------------------------------- */

Test(path, rules)
{
	static char longp[WIRE_MAX_PATH + 2], longc[WIRE_MAX_NAME + 2];
	static const char *const good[] = { "", "a", "a/b/c", ".hidden", "..x", "x..", "a/.b/c..",
					    "...", "a b/c\td" };
	static const char *const bad[] = { "/", "/a", "a/", "a//b", ".", "..", "./a", "a/.",
					   "a/../b", "a/..", "../a", "//" };
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		cr_assert_eq(wire_path_check(good[i], (uint32_t)strlen(good[i])), WIRE_OK, "\"%s\"",
			     good[i]);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(wire_path_check(bad[i], (uint32_t)strlen(bad[i])), WIRE_EINVAL, "\"%s\"",
			     bad[i]);
	cr_assert_eq(wire_path_check("a\0b", 3), WIRE_EINVAL);
	cr_assert_eq(wire_path_check("\0", 1), WIRE_EINVAL);

	/* 4096 bytes made of 255-byte components is fine, 4097 is not */
	memset(longp, 'p', sizeof(longp));
	for (i = 199; i < sizeof(longp); i += 200)
		longp[i] = '/'; /* components of 199 bytes, the last one 96 */
	cr_assert_eq(wire_path_check(longp, WIRE_MAX_PATH), WIRE_OK);
	cr_assert_eq(wire_path_check(longp, WIRE_MAX_PATH + 1), WIRE_ETOOBIG);
	memset(longc, 'c', sizeof(longc));
	cr_assert_eq(wire_path_check(longc, WIRE_MAX_NAME), WIRE_OK);
	cr_assert_eq(wire_path_check(longc, WIRE_MAX_NAME + 1), WIRE_ETOOBIG);
	longc[0] = 'x';
	longc[1] = '/';
	cr_assert_eq(wire_path_check(longc, WIRE_MAX_NAME + 2), WIRE_OK);
}

Test(path, decoders_refuse_bad_paths)
{
	static const char *const bad[] = { "/etc/passwd", "../x", "a//b", "a/" };
	size_t i, plen;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct wire_path_req m = { S(bad[i]), 0, 0 };
		uint8_t raw[256];
		struct wire_wr w;
		struct wire_open om;
		struct wire_setattr sm;
		struct wire_two_paths tm;

		cr_assert_eq(wire_enc_path_req(fbuf, sizeof(fbuf), WIRE_STAT, 1, &m), WIRE_EINVAL);

		/* hand-built payloads carrying the bad path */
		wire_wr_init(&w, raw, sizeof(raw));
		wire_put_str(&w, bad[i], (uint32_t)strlen(bad[i]));
		wire_put_u32(&w, 0);
		wire_put_u32(&w, 0);
		cr_assert_eq(wire_dec_path_req(raw, wire_wr_len(&w), &m), WIRE_EINVAL, "%s", bad[i]);
		assert_str(m.path, bad[i]); /* left filled: the server answers with an errno */
		cr_assert_eq(wire_dec_open(raw, wire_wr_len(&w), &om), WIRE_EINVAL, "%s", bad[i]);

		wire_wr_init(&w, raw, sizeof(raw));
		wire_put_u64(&w, 0);
		wire_put_str(&w, bad[i], (uint32_t)strlen(bad[i]));
		for (plen = 0; plen < 5; plen++)
			wire_put_u32(&w, 0);
		for (plen = 0; plen < 3; plen++)
			wire_put_u64(&w, 0);
		wire_put_u32(&w, 0);
		wire_put_u32(&w, 0);
		cr_assert_eq(wire_dec_setattr(raw, wire_wr_len(&w), &sm), WIRE_EINVAL, "%s", bad[i]);

		/* RENAME's `to` is a path; `from` may be anything (SYMLINK target) */
		wire_wr_init(&w, raw, sizeof(raw));
		wire_put_str(&w, "a", 1);
		wire_put_str(&w, bad[i], (uint32_t)strlen(bad[i]));
		wire_put_u32(&w, 0);
		cr_assert_eq(wire_dec_two_paths(raw, wire_wr_len(&w), &tm), WIRE_EINVAL, "%s", bad[i]);
		wire_wr_init(&w, raw, sizeof(raw));
		wire_put_str(&w, bad[i], (uint32_t)strlen(bad[i]));
		wire_put_str(&w, "a", 1);
		wire_put_u32(&w, 0);
		cr_assert_eq(wire_dec_two_paths(raw, wire_wr_len(&w), &tm), WIRE_OK, "%s", bad[i]);
	}
}

Test(path, nul_in_path_is_refused)
{
	static const uint8_t raw[] = { 0x00, 0x03, 'a', 0x00, 'b', 0, 0, 0, 0, 0, 0, 0, 0 };
	struct wire_path_req m;
	struct wire_two_paths t = { { "a\0b", 3 }, S("x"), 0 };

	cr_assert_eq(wire_dec_path_req(raw, sizeof(raw), &m), WIRE_EINVAL);
	/* not even a symlink target may hold NUL */
	cr_assert_eq(wire_enc_two_paths(fbuf, sizeof(fbuf), WIRE_SYMLINK, 1, &t), WIRE_EINVAL);
}

Test(path, oversized_path_length)
{
	/* claims 4097 bytes: refused as too big before the bytes are looked for */
	static const uint8_t raw[] = { 0x10, 0x01, 'a' };
	struct wire_path_req m;
	struct wire_open o;

	cr_assert_eq(wire_dec_path_req(raw, sizeof(raw), &m), WIRE_ETOOBIG);
	cr_assert_eq(wire_dec_open(raw, sizeof(raw), &o), WIRE_ETOOBIG);
}

Test(path, oversized_path_present_is_handed_out)
{
	/* 5000 bytes, all there: still WIRE_ETOOBIG, but with the path, so that
	 * the server can answer ENAMETOOLONG instead of ending the session */
	static uint8_t raw[2 + 5000 + 8];
	struct wire_two_paths t;
	struct wire_open o;

	raw[0] = 5000 >> 8;
	raw[1] = 5000 & 0xff;
	memset(raw + 2, 'a', 5000);
	cr_assert_eq(wire_dec_open(raw, sizeof(raw), &o), WIRE_ETOOBIG);
	cr_assert_eq(o.path.len, 5000);
	cr_assert_eq((const uint8_t *)o.path.p, raw + 2);
	cr_assert_eq(wire_dec_open(raw, 2 + 4999, &o), WIRE_ETOOBIG, "bytes missing");
	cr_assert_eq(o.path.len, 0);
	cr_assert_eq(wire_dec_two_paths(raw, sizeof(raw), &t), WIRE_ETOOBIG);
	cr_assert_eq(t.from.len, 5000);
	cr_assert_eq(t.to.len, 0, "nothing after the long field is decoded");
}

/* ---- handles, PREAD, data ------------------------------------------------------------- */

Test(handle, round_trip)
{
	uint16_t types[] = { WIRE_CLOSE, WIRE_FSTAT };
	size_t i, plen;

	for (i = 0; i < 2; i++) {
		struct wire_handle h = { BIG }, m;
		long n = wire_enc_handle(fbuf, sizeof(fbuf), types[i], 2, &h);
		const uint8_t *p = payload_of(fbuf, n, types[i], 0, 2, &plen);

		cr_assert_eq(plen, 8);
		cr_assert_eq(wire_dec_handle(p, plen, &m), WIRE_OK);
		cr_assert_eq(m.handle, BIG);
	}
}

Test(pread, round_trip_and_bounds)
{
	struct wire_pread r = { BIG, 0x123456789ull, WIRE_MAX_DATA }, m;
	long n = wire_enc_pread(fbuf, sizeof(fbuf), 4, &r);
	size_t plen;
	const uint8_t *p = payload_of(fbuf, n, WIRE_PREAD, 0, 4, &plen);

	cr_assert_eq(wire_dec_pread(p, plen, &m), WIRE_OK);
	cr_assert_eq(m.handle, BIG);
	cr_assert_eq(m.offset, 0x123456789ull);
	cr_assert_eq(m.count, WIRE_MAX_DATA);
	r.count = WIRE_MAX_DATA + 1;
	cr_assert_eq(wire_enc_pread(fbuf, sizeof(fbuf), 4, &r), WIRE_ETOOBIG);
	r.count = 1;
	r.offset = (uint64_t)INT64_MAX + 1;
	cr_assert_eq(wire_enc_pread(fbuf, sizeof(fbuf), 4, &r), WIRE_EINVAL);
}

Test(data, reply_round_trip_and_zero_copy_header)
{
	struct wire_blob d;
	uint8_t hdr[WIRE_DATA_REPLY_HDR];
	long n = wire_enc_data_reply(fbuf, sizeof(fbuf), WIRE_PREAD, BIG, sample_data,
				     sizeof(sample_data));
	size_t plen;
	const uint8_t *p = payload_of(fbuf, n, WIRE_PREAD, WIRE_F_REPLY, BIG, &plen);

	cr_assert_eq(wire_dec_data_reply(p, plen, &d), WIRE_OK);
	cr_assert_eq(d.len, sizeof(sample_data));
	cr_assert(memcmp(d.p, sample_data, d.len) == 0);

	wire_enc_data_reply_hdr(hdr, WIRE_PREAD, BIG, sizeof(sample_data));
	cr_assert(memcmp(hdr, fbuf, sizeof(hdr)) == 0);

	/* empty read at end of file */
	n = wire_enc_data_reply(fbuf, sizeof(fbuf), WIRE_PREAD, 1, NULL, 0);
	cr_assert_eq(n, (long)WIRE_DATA_REPLY_HDR);
	p = payload_of(fbuf, n, WIRE_PREAD, WIRE_F_REPLY, 1, &plen);
	cr_assert_eq(wire_dec_data_reply(p, plen, &d), WIRE_OK);
	cr_assert_eq(d.len, 0);
}

Test(data, largest_blob)
{
	static uint8_t data[WIRE_MAX_DATA + 1];
	struct wire_blob d;
	long n;
	size_t plen;
	const uint8_t *p;
	struct wire_hdr h;

	data[0] = 1;
	data[WIRE_MAX_DATA - 1] = 2;
	n = wire_enc_data_reply(fbuf, sizeof(fbuf), WIRE_PREAD, 1, data, WIRE_MAX_DATA);
	p = payload_of(fbuf, n, WIRE_PREAD, WIRE_F_REPLY, 1, &plen);
	cr_assert_eq(wire_dec_data_reply(p, plen, &d), WIRE_OK);
	cr_assert_eq(d.len, WIRE_MAX_DATA);
	cr_assert_eq(d.p[WIRE_MAX_DATA - 1], 2);
	cr_assert_eq(wire_enc_data_reply(fbuf, sizeof(fbuf), WIRE_PREAD, 1, data, WIRE_MAX_DATA + 1),
		     WIRE_ETOOBIG);
	/* the void zero-copy header cannot refuse: it writes a length every peer refuses */
	wire_enc_data_reply_hdr(fbuf, WIRE_PREAD, 1, WIRE_MAX_DATA + 1);
	cr_assert_eq(wire_hdr_decode(fbuf, WIRE_HDR_SIZE, WIRE_MAX_FRAME, &h), WIRE_ETOOBIG);
	/* a blob length over the bound, with no data behind it */
	fbuf[0] = 0x00, fbuf[1] = 0x40, fbuf[2] = 0x00, fbuf[3] = 0x01;
	cr_assert_eq(wire_dec_data_reply(fbuf, 4, &d), WIRE_ETOOBIG);
}

/* ---- PWRITE --------------------------------------------------------------------------- */

Test(pwrite, exact_bytes)
{
	static const uint8_t want[] = {
		0x00, 0x00, 0x00, 0x2b,				/* length 43 */
		0x00, 0x05,					/* PWRITE */
		0x00, 0x00,					/* flags */
		0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, /* id */
		0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, /* handle */
		0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02, /* offset 2^32 + 2 */
		0x00, 0x00, 0x00, 0x01,				/* APPEND */
		0x00, 0x00, 0x00, 0x03,				/* count */
		'a', 'b', 'c',
	};
	struct wire_pwrite m = { 0x0102030405060708ull, 0x100000002ull, WIRE_PWRITE_APPEND,
				 { (const uint8_t *)"abc", 3 } };
	uint8_t hdr[WIRE_PWRITE_HDR];
	long n = wire_enc_pwrite(fbuf, sizeof(fbuf), 0x1122334455667788ull, &m);

	cr_assert_eq(n, (long)sizeof(want));
	cr_assert(memcmp(fbuf, want, sizeof(want)) == 0);
	cr_assert_eq(WIRE_PWRITE_HDR, 40);
	wire_enc_pwrite_hdr(hdr, 0x1122334455667788ull, &m);
	cr_assert(memcmp(hdr, want, sizeof(hdr)) == 0);
}

Test(pwrite, round_trip)
{
	long n = wire_enc_pwrite(fbuf, sizeof(fbuf), 8, &sample_pwrite);
	size_t plen;
	const uint8_t *p = payload_of(fbuf, n, WIRE_PWRITE, 0, 8, &plen);
	struct wire_pwrite m;

	cr_assert_eq(wire_dec_pwrite(p, plen, &m), WIRE_OK);
	cr_assert_eq(m.handle, BIG);
	cr_assert_eq(m.offset, 0x123456789abcull);
	cr_assert_eq(m.flags, WIRE_PWRITE_APPEND);
	cr_assert_eq(m.data.len, sizeof(sample_data));
	cr_assert(memcmp(m.data.p, sample_data, sizeof(sample_data)) == 0);
	cr_assert(m.data.p >= p && m.data.p + m.data.len == p + plen, "data points into the frame");
}

Test(pwrite, forbidden_values)
{
	struct wire_pwrite m = sample_pwrite;
	uint8_t hdr[WIRE_PWRITE_HDR];
	struct wire_hdr h;

	m.flags = 0x2;
	cr_assert_eq(wire_enc_pwrite(fbuf, sizeof(fbuf), 1, &m), WIRE_EINVAL);
	m.flags = 0;
	m.offset = 0xffffffffffffffffull;
	cr_assert_eq(wire_enc_pwrite(fbuf, sizeof(fbuf), 1, &m), WIRE_EINVAL);
	m.offset = 0;
	m.data.len = WIRE_MAX_DATA + 1;
	cr_assert_eq(wire_enc_pwrite(fbuf, sizeof(fbuf), 1, &m), WIRE_ETOOBIG);
	m.data.len = 0xfffffff0u; /* would wrap the frame length */
	wire_enc_pwrite_hdr(hdr, 1, &m);
	cr_assert_eq(wire_hdr_decode(hdr, sizeof(hdr), WIRE_MAX_FRAME, &h), WIRE_ETOOBIG);
}

Test(pwrite, reply_round_trip)
{
	struct wire_pwrite_reply r = { 12345, 0x7000000000000001ull }, m;
	long n = wire_enc_pwrite_reply(fbuf, sizeof(fbuf), 8, &r);
	size_t plen;
	const uint8_t *p = payload_of(fbuf, n, WIRE_PWRITE, WIRE_F_REPLY, 8, &plen);

	cr_assert_eq(plen, 12);
	cr_assert_eq(wire_dec_pwrite_reply(p, plen, &m), WIRE_OK);
	cr_assert_eq(m.written, 12345);
	cr_assert_eq(m.end, 0x7000000000000001ull);
	r.end = 0x8000000000000000ull;
	cr_assert_eq(wire_enc_pwrite_reply(fbuf, sizeof(fbuf), 8, &r), WIRE_EINVAL);
}

/* ---- FTRUNCATE, FSYNC ------------------------------------------------------------------ */

Test(ftruncate, round_trip)
{
	struct wire_ftruncate t = { BIG, 0x100000000ull }, m;
	long n = wire_enc_ftruncate(fbuf, sizeof(fbuf), 1, &t);
	size_t plen;
	const uint8_t *p = payload_of(fbuf, n, WIRE_FTRUNCATE, 0, 1, &plen);

	cr_assert_eq(wire_dec_ftruncate(p, plen, &m), WIRE_OK);
	cr_assert_eq(m.handle, BIG);
	cr_assert_eq(m.length, 0x100000000ull);
	t.length = BIG;
	cr_assert_eq(wire_enc_ftruncate(fbuf, sizeof(fbuf), 1, &t), WIRE_EINVAL);
}

Test(fsync, round_trip)
{
	uint8_t ds;
	size_t plen;

	for (ds = 0; ds < 2; ds++) {
		struct wire_fsync f = { BIG, ds }, m;
		long n = wire_enc_fsync(fbuf, sizeof(fbuf), 1, &f);
		const uint8_t *p = payload_of(fbuf, n, WIRE_FSYNC, 0, 1, &plen);

		cr_assert_eq(wire_dec_fsync(p, plen, &m), WIRE_OK);
		cr_assert_eq(m.handle, BIG);
		cr_assert_eq(m.datasync, ds);
	}
	{
		struct wire_fsync f = { 1, 2 }, m;
		static const uint8_t raw[] = { 0, 0, 0, 0, 0, 0, 0, 1, 2 };

		cr_assert_eq(wire_enc_fsync(fbuf, sizeof(fbuf), 1, &f), WIRE_EINVAL);
		cr_assert_eq(wire_dec_fsync(raw, sizeof(raw), &m), WIRE_EINVAL);
	}
}

/* ---- stat ------------------------------------------------------------------------------- */

Test(stat, exact_bytes)
{
	static const uint8_t want[] = {
		0x00, 0x00, 0x00, 0x74, 0x00, 0x09, 0x00, 0x01, /* 116 bytes, STAT, REPLY */
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, /* id */
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x08, 0x01, /* dev */
		0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, /* ino */
		0x00, 0x00, 0x81, 0xa4,				/* mode 0100644 */
		0x00, 0x00, 0x00, 0x03,				/* nlink */
		0x00, 0x00, 0x03, 0xe8,				/* uid 1000 */
		0xff, 0xff, 0xff, 0xfe,				/* gid */
		0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x02, 0x03, /* rdev */
		0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, /* size 8 GiB */
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, /* blksize */
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, /* blocks */
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, /* atime -1 */
		0x00, 0x00, 0x00, 0x00, 0x5f, 0x5e, 0x10, 0x00, /* mtime 1600000000 */
		0xff, 0xff, 0xff, 0xff, 0x7c, 0x55, 0x81, 0x80, /* ctime 1900-01-01 */
		0x3b, 0x9a, 0xc9, 0xff,				/* atime_nsec 999999999 */
		0x00, 0x00, 0x00, 0x00,				/* mtime_nsec */
		0x00, 0x00, 0x00, 0x01,				/* ctime_nsec */
	};
	long n = wire_enc_stat_reply(fbuf, sizeof(fbuf), WIRE_STAT, 7, &sample_stat);

	cr_assert_eq(n, (long)sizeof(want));
	cr_assert(memcmp(fbuf, want, sizeof(want)) == 0);
}

Test(stat, round_trip_negative_times)
{
	uint16_t types[] = { WIRE_STAT, WIRE_FSTAT };
	size_t i, plen;

	for (i = 0; i < 2; i++) {
		struct wire_stat m;
		long n = wire_enc_stat_reply(fbuf, sizeof(fbuf), types[i], BIG, &sample_stat);
		const uint8_t *p = payload_of(fbuf, n, types[i], WIRE_F_REPLY, BIG, &plen);

		cr_assert_eq(plen, 100);
		cr_assert_eq(wire_dec_stat_reply(p, plen, &m), WIRE_OK);
		assert_stat_eq(&m, &sample_stat);
		cr_assert_eq(m.atime_sec, -1);
		cr_assert_eq(m.ctime_sec, -2208988800ll);
	}
}

Test(stat, forbidden_values)
{
	struct wire_stat s = sample_stat, m;
	size_t plen;
	long n;

	s.atime_nsec = 1000000000;
	cr_assert_eq(wire_enc_stat_reply(fbuf, sizeof(fbuf), WIRE_STAT, 1, &s), WIRE_EINVAL);
	s = sample_stat;
	s.mode = 0200644; /* bit above 0177777 */
	cr_assert_eq(wire_enc_stat_reply(fbuf, sizeof(fbuf), WIRE_STAT, 1, &s), WIRE_EINVAL);
	s.mode = 0030644; /* no such file type */
	cr_assert_eq(wire_enc_stat_reply(fbuf, sizeof(fbuf), WIRE_STAT, 1, &s), WIRE_EINVAL);
	s.mode = 0644; /* type unknown: allowed */
	cr_assert_gt(wire_enc_stat_reply(fbuf, sizeof(fbuf), WIRE_STAT, 1, &s), 0);

	n = wire_enc_stat_reply(fbuf, sizeof(fbuf), WIRE_STAT, 1, &sample_stat);
	payload_of(fbuf, n, WIRE_STAT, WIRE_F_REPLY, 1, &plen);
	fbuf[n - 1] = 0xff; /* ctime_nsec = 0x000000ff: fine */
	cr_assert_eq(wire_dec_stat_reply(fbuf + WIRE_HDR_SIZE, plen, &m), WIRE_OK);
	fbuf[n - 4] = 0x40; /* ctime_nsec = 0x400000ff: over 10^9 */
	cr_assert_eq(wire_dec_stat_reply(fbuf + WIRE_HDR_SIZE, plen, &m), WIRE_EINVAL);
}

Test(stat, host_round_trip)
{
	struct stat st, back;
	struct wire_stat w;

	cr_assert_eq(stat("/", &st), 0);
	wire_stat_from_host(&w, &st);
	cr_assert_eq(w.mode & 0170000, 0040000);
	cr_assert_eq(w.ino, (uint64_t)st.st_ino);
	cr_assert_eq(w.mtime_nsec, (uint32_t)st.st_mtim.tv_nsec);
	wire_stat_to_host(&back, &w);
	cr_assert_eq(back.st_dev, st.st_dev);
	cr_assert_eq(back.st_ino, st.st_ino);
	cr_assert_eq(back.st_mode, st.st_mode);
	cr_assert_eq(back.st_nlink, st.st_nlink);
	cr_assert_eq(back.st_uid, st.st_uid);
	cr_assert_eq(back.st_gid, st.st_gid);
	cr_assert_eq(back.st_size, st.st_size);
	cr_assert_eq(back.st_blksize, st.st_blksize);
	cr_assert_eq(back.st_blocks, st.st_blocks);
	cr_assert_eq(back.st_atim.tv_sec, st.st_atim.tv_sec);
	cr_assert_eq(back.st_atim.tv_nsec, st.st_atim.tv_nsec);
	cr_assert_eq(back.st_mtim.tv_sec, st.st_mtim.tv_sec);
	cr_assert_eq(back.st_mtim.tv_nsec, st.st_mtim.tv_nsec);
	cr_assert_eq(back.st_ctim.tv_sec, st.st_ctim.tv_sec);
	cr_assert_eq(back.st_ctim.tv_nsec, st.st_ctim.tv_nsec);
}

Test(stat, host_wide_and_negative)
{
	struct stat st, back;
	struct wire_stat w;

	memset(&st, 0, sizeof(st));
	st.st_mode = S_IFLNK | 0777;
	st.st_size = (off_t)0x123456789abll;
	st.st_ino = (ino_t)BIG;
	st.st_atim.tv_sec = -1000000000000ll;
	st.st_atim.tv_nsec = 123;
	st.st_mtim.tv_sec = -1;
	st.st_mtim.tv_nsec = 999999999;
	st.st_nlink = (nlink_t)0x100000005ull; /* more than a u32: clamped */
	wire_stat_from_host(&w, &st);
	cr_assert_eq(w.mode, 0120777);
	cr_assert_eq(w.size, 0x123456789abll);
	cr_assert_eq(w.ino, BIG);
	cr_assert_eq(w.atime_sec, -1000000000000ll);
	cr_assert_eq(w.mtime_sec, -1);
	cr_assert_eq(w.nlink, sizeof(nlink_t) > 4 ? UINT32_MAX : 5u);
	wire_stat_to_host(&back, &w);
	cr_assert_eq(back.st_mode, st.st_mode);
	cr_assert_eq(back.st_size, st.st_size);
	cr_assert_eq(back.st_atim.tv_sec, st.st_atim.tv_sec);
	cr_assert_eq(back.st_atim.tv_nsec, 123);
	cr_assert_eq(back.st_mtim.tv_nsec, 999999999);
}

/* ---- path requests, READLINK, two paths ---------------------------------------------- */

Test(path_req, round_trip_every_type)
{
	static const uint16_t types[] = { WIRE_STAT, WIRE_READLINK, WIRE_ACCESS,
					  WIRE_UNLINK, WIRE_MKDIR, WIRE_STATFS };
	size_t i, plen;

	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		struct wire_path_req r = { S("some/dir/entry"), WIRE_AT_NOFOLLOW | WIRE_AT_REMOVEDIR,
					   0xdeadbeef },
				     m;
		long n = wire_enc_path_req(fbuf, sizeof(fbuf), types[i], i + 1, &r);
		const uint8_t *p = payload_of(fbuf, n, types[i], 0, i + 1, &plen);

		cr_assert_eq(wire_dec_path_req(p, plen, &m), WIRE_OK);
		assert_str(m.path, "some/dir/entry");
		cr_assert_eq(m.flags, WIRE_AT_NOFOLLOW | WIRE_AT_REMOVEDIR);
		cr_assert_eq(m.arg, 0xdeadbeef);
	}
	{
		struct wire_path_req r = { S(""), 0, 0 }, m; /* the root */
		long n = wire_enc_path_req(fbuf, sizeof(fbuf), WIRE_STAT, 1, &r);
		const uint8_t *p = payload_of(fbuf, n, WIRE_STAT, 0, 1, &plen);

		cr_assert_eq(plen, 10);
		cr_assert_eq(wire_dec_path_req(p, plen, &m), WIRE_OK);
		cr_assert_eq(m.path.len, 0);
		r.flags = 0x8;
		cr_assert_eq(wire_enc_path_req(fbuf, sizeof(fbuf), WIRE_STAT, 1, &r), WIRE_EINVAL);
	}
}

Test(str_reply, round_trip)
{
	static char big[WIRE_MAX_PATH + 1];
	struct wire_str s;
	long n = wire_enc_str_reply(fbuf, sizeof(fbuf), WIRE_READLINK, 9, "/abs/../target", 14);
	size_t plen;
	const uint8_t *p = payload_of(fbuf, n, WIRE_READLINK, WIRE_F_REPLY, 9, &plen);

	cr_assert_eq(wire_dec_str_reply(p, plen, &s), WIRE_OK);
	assert_str(s, "/abs/../target");
	memset(big, 'x', sizeof(big));
	cr_assert_gt(wire_enc_str_reply(fbuf, sizeof(fbuf), WIRE_READLINK, 9, big, WIRE_MAX_PATH), 0);
	cr_assert_eq(wire_enc_str_reply(fbuf, sizeof(fbuf), WIRE_READLINK, 9, big, WIRE_MAX_PATH + 1),
		     WIRE_ETOOBIG);
	cr_assert_eq(wire_enc_str_reply(fbuf, sizeof(fbuf), WIRE_READLINK, 9, "a\0", 2), WIRE_EINVAL);
}

Test(two_paths, round_trip_every_type)
{
	static const uint16_t types[] = { WIRE_RENAME, WIRE_SYMLINK, WIRE_LINK };
	size_t i, plen;

	for (i = 0; i < 3; i++) {
		struct wire_two_paths t = { S(i == 1 ? "../../etc/x" : "a/b"), S("c/d"),
					    i == 0 ? WIRE_RENAME_EXCHANGE : 0 },
				      m;
		long n = wire_enc_two_paths(fbuf, sizeof(fbuf), types[i], 1, &t);
		const uint8_t *p = payload_of(fbuf, n, types[i], 0, 1, &plen);

		cr_assert_eq(wire_dec_two_paths(p, plen, &m), WIRE_OK);
		assert_str(m.from, i == 1 ? "../../etc/x" : "a/b");
		assert_str(m.to, "c/d");
		cr_assert_eq(m.flags, t.flags);
	}
}

Test(two_paths, forbidden_flags)
{
	struct wire_two_paths t = { S("a"), S("b"), WIRE_RENAME_EXCHANGE | WIRE_RENAME_NOREPLACE };

	cr_assert_eq(wire_enc_two_paths(fbuf, sizeof(fbuf), WIRE_RENAME, 1, &t), WIRE_EINVAL);
	t.flags = 0x4;
	cr_assert_eq(wire_enc_two_paths(fbuf, sizeof(fbuf), WIRE_RENAME, 1, &t), WIRE_EINVAL);
	t.flags = 0;
	t.to = S("/b");
	cr_assert_eq(wire_enc_two_paths(fbuf, sizeof(fbuf), WIRE_RENAME, 1, &t), WIRE_EINVAL);
}

/* ---- READDIR -------------------------------------------------------------------------- */

Test(readdir, request_round_trip)
{
	struct wire_readdir r = { BIG, 0xfedcba9876543210ull, 0xffffffffu }, m;
	long n = wire_enc_readdir(fbuf, sizeof(fbuf), 5, &r);
	size_t plen;
	const uint8_t *p = payload_of(fbuf, n, WIRE_READDIR, 0, 5, &plen);

	cr_assert_eq(plen, 20);
	cr_assert_eq(wire_dec_readdir(p, plen, &m), WIRE_OK);
	cr_assert_eq(m.handle, BIG);
	cr_assert_eq(m.cookie, 0xfedcba9876543210ull);
	cr_assert_eq(m.max_bytes, 0xffffffffu);
}

static void check_entries(const uint8_t *p, size_t plen, uint32_t want_count, uint8_t want_eof)
{
	struct wire_readdir_reply m;
	struct wire_dirent e;
	uint32_t i;
	int rc = wire_dec_readdir_reply(p, plen, &m);

	cr_assert_eq(rc, WIRE_OK, "%s", wire_strerror(rc));
	cr_assert_eq(m.eof, want_eof);
	cr_assert_eq(m.count, want_count);
	for (i = 0; i < want_count; i++) {
		const struct wire_dirent *s = &sample_dirents[i % 4];

		cr_assert_eq(wire_dirent_next(&m, &e), 1);
		cr_assert_eq(e.ino, s->ino);
		cr_assert_eq(e.next, s->next);
		cr_assert_eq(e.type, s->type);
		assert_str(e.name, s->name.p);
	}
	cr_assert_eq(wire_dirent_next(&m, &e), 0);
	cr_assert_eq(wire_dirent_next(&m, &e), 0);
}

Test(readdir, reply_round_trip)
{
	struct wire_dir_builder b;
	size_t i, plen;
	long n;
	const uint8_t *p;

	wire_readdir_reply_begin(&b, fbuf, sizeof(fbuf), 77, 65536);
	for (i = 0; i < 4; i++)
		cr_assert_eq(wire_readdir_reply_add(&b, &sample_dirents[i]), 0);
	n = wire_readdir_reply_end(&b, 1);
	p = payload_of(fbuf, n, WIRE_READDIR, WIRE_F_REPLY, 77, &plen);
	cr_assert_eq(plen, 5 + 4 * 19 + 1 + 2 + 8 + 6);
	check_entries(p, plen, 4, 1);

	/* empty, not at the end */
	wire_readdir_reply_begin(&b, fbuf, sizeof(fbuf), 78, 0);
	n = wire_readdir_reply_end(&b, 0);
	p = payload_of(fbuf, n, WIRE_READDIR, WIRE_F_REPLY, 78, &plen);
	cr_assert_eq(plen, 5);
	check_entries(p, plen, 0, 0);
}

Test(readdir, builder_honours_max_bytes)
{
	struct wire_dir_builder b;
	size_t plen;
	long n;
	int rc;
	uint32_t added = 0;
	/* room for the fixed 5 bytes and entries 0..2 (20 + 21 + 27 bytes) */
	uint32_t max = 5 + 20 + 21 + 27;

	wire_readdir_reply_begin(&b, fbuf, sizeof(fbuf), 1, max);
	while ((rc = wire_readdir_reply_add(&b, &sample_dirents[added % 4])) == 0)
		added++;
	cr_assert_eq(rc, -1);
	cr_assert_eq(added, 3);
	/* further adds still refuse and the frame stays valid */
	cr_assert_eq(wire_readdir_reply_add(&b, &sample_dirents[3]), -1);
	n = wire_readdir_reply_end(&b, 0);
	const uint8_t *p = payload_of(fbuf, n, WIRE_READDIR, WIRE_F_REPLY, 1, &plen);
	cr_assert_eq(plen, max);
	check_entries(p, plen, 3, 0);

	/* one byte less: only two fit */
	wire_readdir_reply_begin(&b, fbuf, sizeof(fbuf), 1, max - 1);
	for (added = 0; wire_readdir_reply_add(&b, &sample_dirents[added % 4]) == 0;)
		added++;
	cr_assert_eq(added, 2);

	/* max_bytes below the fixed part: an empty reply is still allowed */
	wire_readdir_reply_begin(&b, fbuf, sizeof(fbuf), 1, 1);
	cr_assert_eq(wire_readdir_reply_add(&b, &sample_dirents[0]), -1);
	n = wire_readdir_reply_end(&b, 1);
	p = payload_of(fbuf, n, WIRE_READDIR, WIRE_F_REPLY, 1, &plen);
	check_entries(p, plen, 0, 1);
}

Test(readdir, builder_honours_cap)
{
	struct wire_dir_builder b;
	size_t plen;
	uint32_t added = 0;
	long n;
	size_t cap = WIRE_HDR_SIZE + 5 + 20 + 10; /* one entry and a bit */

	memset(fbuf, 0xa5, 256);
	wire_readdir_reply_begin(&b, fbuf, cap, 1, 0xffffffffu);
	while (wire_readdir_reply_add(&b, &sample_dirents[added % 4]) == 0)
		added++;
	cr_assert_eq(added, 1);
	n = wire_readdir_reply_end(&b, 0);
	cr_assert_leq(n, (long)cap);
	cr_assert_eq(fbuf[cap], 0xa5);
	const uint8_t *p = payload_of(fbuf, n, WIRE_READDIR, WIRE_F_REPLY, 1, &plen);
	check_entries(p, plen, 1, 0);

	/* too small for even the fixed part */
	wire_readdir_reply_begin(&b, fbuf, WIRE_HDR_SIZE + 4, 1, 1000);
	cr_assert_eq(wire_readdir_reply_add(&b, &sample_dirents[0]), -1);
	cr_assert_eq(wire_readdir_reply_end(&b, 0), WIRE_ENOSPC);
}

Test(readdir, builder_fills_a_large_reply)
{
	struct wire_dir_builder b;
	size_t plen;
	uint32_t added = 0;
	long n;

	wire_readdir_reply_begin(&b, fbuf, sizeof(fbuf), 1, 0xffffffffu);
	while (wire_readdir_reply_add(&b, &sample_dirents[added % 4]) == 0)
		added++;
	n = wire_readdir_reply_end(&b, 0);
	cr_assert_leq(n, (long)WIRE_MAX_FRAME);
	cr_assert_gt(n, (long)WIRE_MAX_FRAME - 64);
	const uint8_t *p = payload_of(fbuf, n, WIRE_READDIR, WIRE_F_REPLY, 1, &plen);
	check_entries(p, plen, added, 0);
}

Test(readdir, builder_refuses_bad_entries)
{
	static char longname[WIRE_MAX_NAME + 1];
	struct wire_dir_builder b;
	struct wire_dirent e = { 1, 2, 8, { "ok", 2 } };

	memset(longname, 'n', sizeof(longname));
	wire_readdir_reply_begin(&b, fbuf, sizeof(fbuf), 1, 65536);
	e.name = S("");
	cr_assert_eq(wire_readdir_reply_add(&b, &e), WIRE_EINVAL);
	e.name = S("a/b");
	cr_assert_eq(wire_readdir_reply_add(&b, &e), WIRE_EINVAL);
	e.name = (struct wire_str){ "a\0b", 3 };
	cr_assert_eq(wire_readdir_reply_add(&b, &e), WIRE_EINVAL);
	e.name = (struct wire_str){ longname, WIRE_MAX_NAME + 1 };
	cr_assert_eq(wire_readdir_reply_add(&b, &e), WIRE_EINVAL);
	e.name = (struct wire_str){ longname, WIRE_MAX_NAME };
	cr_assert_eq(wire_readdir_reply_add(&b, &e), 0);
	e.name = S("x");
	e.type = 3;
	cr_assert_eq(wire_readdir_reply_add(&b, &e), WIRE_EINVAL);
	e.type = 15;
	cr_assert_eq(wire_readdir_reply_add(&b, &e), WIRE_EINVAL);
	cr_assert_eq(b.count, 1);
	cr_assert_gt(wire_readdir_reply_end(&b, 1), 0);
}

/* Builds a READDIR reply payload by hand, with one entry's name and type given. */
static size_t raw_readdir(uint8_t *raw, size_t cap, uint8_t eof, uint32_t count, const char *name,
			  uint32_t nlen, uint8_t type)
{
	struct wire_wr w;

	wire_wr_init(&w, raw, cap);
	wire_put_u8(&w, eof);
	wire_put_u32(&w, count);
	wire_put_u64(&w, 1);
	wire_put_u64(&w, 2);
	wire_put_u8(&w, 8);
	wire_put_str(&w, "good", 4);
	wire_put_u64(&w, 3);
	wire_put_u64(&w, 4);
	wire_put_u8(&w, type);
	wire_put_str(&w, name, nlen);
	cr_assert_eq(w.err, 0);
	return wire_wr_len(&w);
}

Test(readdir, decoder_validates_every_entry)
{
	static char longname[300];
	uint8_t raw[512];
	struct wire_readdir_reply m;
	struct wire_dirent e;
	size_t n;

	memset(longname, 'n', sizeof(longname));
	n = raw_readdir(raw, sizeof(raw), 1, 2, "fine", 4, 4);
	cr_assert_eq(wire_dec_readdir_reply(raw, n, &m), WIRE_OK);
	n = raw_readdir(raw, sizeof(raw), 1, 2, "bad/name", 8, 4);
	cr_assert_eq(wire_dec_readdir_reply(raw, n, &m), WIRE_EINVAL);
	/* after a failed decode there is nothing to iterate */
	cr_assert_eq(wire_dirent_next(&m, &e), 0);
	n = raw_readdir(raw, sizeof(raw), 1, 2, "", 0, 4);
	cr_assert_eq(wire_dec_readdir_reply(raw, n, &m), WIRE_EINVAL);
	n = raw_readdir(raw, sizeof(raw), 1, 2, "a\0", 2, 4);
	cr_assert_eq(wire_dec_readdir_reply(raw, n, &m), WIRE_EINVAL);
	n = raw_readdir(raw, sizeof(raw), 1, 2, longname, 256, 4);
	cr_assert_eq(wire_dec_readdir_reply(raw, n, &m), WIRE_ETOOBIG);
	n = raw_readdir(raw, sizeof(raw), 1, 2, "x", 1, 5);
	cr_assert_eq(wire_dec_readdir_reply(raw, n, &m), WIRE_EINVAL);
	n = raw_readdir(raw, sizeof(raw), 2, 2, "x", 1, 4); /* eof must be 0 or 1 */
	cr_assert_eq(wire_dec_readdir_reply(raw, n, &m), WIRE_EINVAL);
}

Test(readdir, count_must_match)
{
	uint8_t raw[512];
	struct wire_readdir_reply m;
	size_t n;

	n = raw_readdir(raw, sizeof(raw), 0, 3, "x", 1, 4);
	cr_assert_eq(wire_dec_readdir_reply(raw, n, &m), WIRE_ETRUNC);
	n = raw_readdir(raw, sizeof(raw), 0, 1, "x", 1, 4);
	cr_assert_eq(wire_dec_readdir_reply(raw, n, &m), WIRE_ETRAIL);
	n = raw_readdir(raw, sizeof(raw), 0, 0xffffffffu, "x", 1, 4);
	cr_assert_eq(wire_dec_readdir_reply(raw, n, &m), WIRE_ETRUNC);
	n = raw_readdir(raw, sizeof(raw), 0, 2, "x", 1, 4);
	cr_assert_eq(wire_dec_readdir_reply(raw, n, &m), WIRE_OK);
}

/* ---- SETATTR, STATFS -------------------------------------------------------------------- */

Test(setattr, round_trip)
{
	struct wire_setattr m;
	long n = wire_enc_setattr(fbuf, sizeof(fbuf), 3, &sample_setattr);
	size_t plen;
	const uint8_t *p = payload_of(fbuf, n, WIRE_SETATTR, 0, 3, &plen);

	cr_assert_eq(plen, 8 + 2 + 3 + 5 * 4 + 8 + 16 + 8);
	cr_assert_eq(wire_dec_setattr(p, plen, &m), WIRE_OK);
	cr_assert_eq(m.handle, 0);
	assert_str(m.path, "a/b");
	cr_assert_eq(m.flags, sample_setattr.flags);
	cr_assert_eq(m.valid, sample_setattr.valid);
	cr_assert_eq(m.mode, 04755);
	cr_assert_eq(m.uid, 0xffffffff);
	cr_assert_eq(m.gid, 77);
	cr_assert_eq(m.size, 0x100000001ull);
	cr_assert_eq(m.atime_sec, -86400);
	cr_assert_eq(m.mtime_sec, 0x7fffffffffffffffll);
	cr_assert_eq(m.atime_nsec, 5);
	cr_assert_eq(m.mtime_nsec, 999999999);
}

Test(setattr, by_handle_and_forbidden_values)
{
	struct wire_setattr s = { .handle = BIG, .valid = WIRE_SET_SIZE, .size = 0 }, m;
	long n = wire_enc_setattr(fbuf, sizeof(fbuf), 3, &s);
	size_t plen;
	const uint8_t *p = payload_of(fbuf, n, WIRE_SETATTR, 0, 3, &plen);

	cr_assert_eq(wire_dec_setattr(p, plen, &m), WIRE_OK);
	cr_assert_eq(m.handle, BIG);
	cr_assert_eq(m.path.len, 0);

	s.valid = WIRE_SET_ATIME | WIRE_SET_ATIME_NOW;
	cr_assert_eq(wire_enc_setattr(fbuf, sizeof(fbuf), 3, &s), WIRE_EINVAL);
	s.valid = WIRE_SET_MTIME | WIRE_SET_MTIME_NOW;
	cr_assert_eq(wire_enc_setattr(fbuf, sizeof(fbuf), 3, &s), WIRE_EINVAL);
	s.valid = 0x100;
	cr_assert_eq(wire_enc_setattr(fbuf, sizeof(fbuf), 3, &s), WIRE_EINVAL);
	s.valid = 0;
	s.flags = 0x2;
	cr_assert_eq(wire_enc_setattr(fbuf, sizeof(fbuf), 3, &s), WIRE_EINVAL);
	s.flags = 0;
	s.mode = 0100644;
	cr_assert_eq(wire_enc_setattr(fbuf, sizeof(fbuf), 3, &s), WIRE_EINVAL);
	s.mode = 0;
	s.size = (uint64_t)INT64_MAX + 1;
	cr_assert_eq(wire_enc_setattr(fbuf, sizeof(fbuf), 3, &s), WIRE_EINVAL);
	s.size = 0;
	s.mtime_nsec = 1000000000;
	cr_assert_eq(wire_enc_setattr(fbuf, sizeof(fbuf), 3, &s), WIRE_EINVAL);
}

Test(statfs, round_trip)
{
	struct wire_statfs_reply m, s = sample_statfs;
	long n = wire_enc_statfs_reply(fbuf, sizeof(fbuf), 4, &s);
	size_t plen;
	const uint8_t *p = payload_of(fbuf, n, WIRE_STATFS, WIRE_F_REPLY, 4, &plen);

	cr_assert_eq(plen, 88);
	cr_assert_eq(wire_dec_statfs_reply(p, plen, &m), WIRE_OK);
	cr_assert(memcmp(&m, &s, sizeof(m)) == 0); /* eleven u64, no padding */
	s.flags = 0x200;
	cr_assert_eq(wire_enc_statfs_reply(fbuf, sizeof(fbuf), 4, &s), WIRE_EINVAL);
}

/* ---- portable values -------------------------------------------------------------------- */

struct errno_name {
	const char *name;
	int wire;
	int host;
};

#define EN(x) { #x, WIRE_ERRNO_##x, x }
static const struct errno_name errnos[] = {
	EN(E2BIG),	  EN(EACCES),	       EN(EAGAIN),	    EN(EALREADY),
	EN(EBADF),	  EN(EBADMSG),	       EN(EBUSY),	    EN(ECANCELED),
	EN(ECHILD),	  EN(ECONNREFUSED),    EN(ECONNRESET),	    EN(EDEADLK),
	EN(EDOM),	  EN(EDQUOT),	       EN(EEXIST),	    EN(EFAULT),
	EN(EFBIG),	  EN(EINPROGRESS),     EN(EINTR),	    EN(EINVAL),
	EN(EIO),	  EN(EISDIR),	       EN(ELOOP),	    EN(EMFILE),
	EN(EMLINK),	  EN(ENAMETOOLONG),    EN(ENFILE),	    EN(ENODATA),
	EN(ENODEV),	  EN(ENOENT),	       EN(ENOEXEC),	    EN(ENOLCK),
	EN(ENOMEM),	  EN(ENOSPC),	       EN(ENOSYS),	    EN(ENOTCONN),
	EN(ENOTDIR),	  EN(ENOTEMPTY),       EN(ENOTSOCK),	    EN(ENOTSUP),
	EN(ENOTTY),	  EN(ENXIO),	       EN(EOVERFLOW),	    EN(EPERM),
	EN(EPIPE),	  EN(EPROTO),	       EN(ERANGE),	    EN(EROFS),
	EN(ESPIPE),	  EN(ESRCH),	       EN(ESTALE),	    EN(ETIMEDOUT),
	EN(ETXTBSY),	  EN(EXDEV),	       EN(EADDRINUSE),	    EN(EADDRNOTAVAIL),
	EN(EAFNOSUPPORT), EN(ECONNABORTED),    EN(EDESTADDRREQ),    EN(EHOSTDOWN),
	EN(EHOSTUNREACH), EN(EIDRM),	       EN(EILSEQ),	    EN(EISCONN),
	EN(EMSGSIZE),	  EN(EMULTIHOP),       EN(ENETDOWN),	    EN(ENETRESET),
	EN(ENETUNREACH),  EN(ENOBUFS),	       EN(ENOLINK),	    EN(ENOMSG),
	EN(ENOPROTOOPT),  EN(ENOTBLK),	       EN(ENOTRECOVERABLE), EN(EOWNERDEAD),
	EN(EPROTONOSUPPORT), EN(EPROTOTYPE),   EN(ESHUTDOWN),
};
#undef EN
#define NERRNOS (sizeof(errnos) / sizeof(errnos[0]))

Test(errno_table, every_entry_round_trips)
{
	size_t i;
	int seen[WIRE_ERRNO_MAX + 1] = { 0 };

	cr_assert_eq(NERRNOS, WIRE_ERRNO_MAX);
	for (i = 0; i < NERRNOS; i++) {
		uint16_t w = wire_errno_from_host(errnos[i].host);

		cr_assert_eq(w, errnos[i].wire, "%s: %u", errnos[i].name, w);
		cr_assert_eq(wire_errno_to_host(w), errnos[i].host, "%s", errnos[i].name);
		cr_assert(w >= 1 && w <= WIRE_ERRNO_MAX);
		cr_assert_eq(seen[w]++, 0, "%s: wire number used twice", errnos[i].name);
	}
}

Test(errno_table, aliases_and_unknowns)
{
	cr_assert_eq(wire_errno_from_host(EWOULDBLOCK), WIRE_ERRNO_EAGAIN);
	cr_assert_eq(wire_errno_from_host(EOPNOTSUPP), WIRE_ERRNO_ENOTSUP);
	cr_assert_eq(wire_errno_from_host(EDEADLOCK), WIRE_ERRNO_EDEADLK);
	cr_assert_eq(wire_errno_from_host(0), WIRE_ERRNO_EIO);
	cr_assert_eq(wire_errno_from_host(-1), WIRE_ERRNO_EIO);
	cr_assert_eq(wire_errno_from_host(100000), WIRE_ERRNO_EIO);
#ifdef ENOKEY
	cr_assert_eq(wire_errno_from_host(ENOKEY), WIRE_ERRNO_EIO); /* Linux-only, not in table */
#endif
	cr_assert_eq(wire_errno_to_host(0), EIO);
	cr_assert_eq(wire_errno_to_host(WIRE_ERRNO_MAX + 1), EIO);
	cr_assert_eq(wire_errno_to_host(0xffff), EIO);
}

Test(errno_table, wire_numbers_are_not_host_numbers)
{
	/* A forgotten conversion must show up in tests: the common errors have wire
	 * numbers unlike Linux's. */
	static const int common[] = { EPERM, ENOENT, EIO, EBADF, EAGAIN, ENOMEM, EACCES,
				      EEXIST, ENOTDIR, EISDIR, EINVAL, ENOSPC, ENOTEMPTY };
	size_t i;

	for (i = 0; i < sizeof(common) / sizeof(common[0]); i++)
		cr_assert_neq(wire_errno_from_host(common[i]), common[i], "errno %d", common[i]);
}

/* ---- PROTOCOL.md agrees with the code ------------------------------------------------ */

/* Found from the source path this was compiled with, else from the binary's
 * place (BUILD/tests/test_wire inside the repository). */
static FILE *open_protocol_md(void)
{
	char path[4096], exe[4096];
	const char *self = __FILE__, *cut = strstr(self, "tests/unit/");
	ssize_t n;
	FILE *f;
	int up;

	snprintf(path, sizeof(path), "%.*swire/PROTOCOL.md", cut ? (int)(cut - self) : 0, self);
	f = fopen(path, "r");
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	exe[n > 0 ? n : 0] = '\0';
	for (up = 0; !f && n > 0 && up < 6; up++) {
		char *slash = strrchr(exe, '/');

		if (!slash)
			break;
		*slash = '\0';
		snprintf(path, sizeof(path), "%.*s/wire/PROTOCOL.md", (int)(sizeof(path) - 32), exe);
		f = fopen(path, "r");
	}
	cr_assert_not_null(f, "cannot find wire/PROTOCOL.md (run from the repository root)");
	return f;
}

Test(spec, errno_table_matches)
{
	FILE *f = open_protocol_md();
	char line[256], name[64];
	unsigned num;
	size_t rows = 0, i;

	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "| %u | %63[A-Z0-9] |", &num, name) != 2 || name[0] != 'E')
			continue;
		for (i = 0; i < NERRNOS; i++)
			if (strcmp(errnos[i].name, name) == 0)
				break;
		cr_assert_lt(i, NERRNOS, "PROTOCOL.md names %s, which the code lacks", name);
		cr_assert_eq(num, (unsigned)errnos[i].wire, "%s: PROTOCOL.md says %u, code %d", name,
			     num, errnos[i].wire);
		rows++;
	}
	fclose(f);
	cr_assert_eq(rows, NERRNOS, "PROTOCOL.md has %zu errno rows, code %zu", rows, NERRNOS);
}

Test(spec, type_table_matches)
{
	FILE *f = open_protocol_md();
	char line[256], name[64];
	unsigned num;
	size_t rows = 0;
	int in_table = 0;

	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "###", 3) == 0)
			in_table = strstr(line, "Message types") != NULL;
		if (!in_table || sscanf(line, "| %u | `%63[A-Z_]` |", &num, name) != 2)
			continue;
		cr_assert_str_eq(wire_type_name((uint16_t)num), name, "type %u", num);
		rows++;
	}
	fclose(f);
	cr_assert_eq(rows, WIRE_TYPE_COUNT);
}

Test(names, types_and_errors)
{
	cr_assert_str_eq(wire_type_name(WIRE_HELLO), "HELLO");
	cr_assert_str_eq(wire_type_name(WIRE_PING), "PING");
	cr_assert_str_eq(wire_type_name(0), "UNKNOWN");
	cr_assert_str_eq(wire_type_name(WIRE_TYPE_MAX + 1), "UNKNOWN");
	cr_assert_str_eq(wire_type_name(0xffff), "UNKNOWN");
	for (int c = WIRE_ENOSPC; c <= 0; c++)
		cr_assert_str_neq(wire_strerror(c), "unknown wire error", "code %d", c);
	cr_assert_str_eq(wire_strerror(-100), "unknown wire error");
	cr_assert_str_eq(wire_strerror(1), "unknown wire error");
}

Test(names, read_fd_is_type_21)
{
	cr_assert_str_eq(wire_type_name(WIRE_READ_FD), "READ_FD");
	cr_assert_str_eq(wire_type_name(21), "READ_FD");
	cr_assert_eq(wire_type_known(21), 1);
	cr_assert_eq(wire_type_known(20), 1, "PING");
	cr_assert_eq(wire_type_known(22), 0, "still free");
	cr_assert_str_eq(wire_type_name(22), "UNKNOWN");
	cr_assert_eq(WIRE_OPT_READ_FDS, 3);
	cr_assert_eq(WIRE_TYPE_COUNT, 31);
}

Test(oflags, round_trips)
{
	static const struct {
		int host;
		uint32_t wire;
	} one[] = {
		{ O_RDONLY, WIRE_O_RDONLY },	     { O_WRONLY, WIRE_O_WRONLY },
		{ O_RDWR, WIRE_O_RDWR },	     { O_CREAT, WIRE_O_CREAT },
		{ O_EXCL, WIRE_O_EXCL },	     { O_TRUNC, WIRE_O_TRUNC },
		{ O_APPEND, WIRE_O_APPEND },	     { O_DIRECTORY, WIRE_O_DIRECTORY },
		{ O_NOFOLLOW, WIRE_O_NOFOLLOW },     { O_DSYNC, WIRE_O_DSYNC },
		{ O_PATH, WIRE_O_PATH },	     { O_NOATIME, WIRE_O_NOATIME },
		{ O_SYNC, WIRE_O_SYNC | WIRE_O_DSYNC },
	};
	size_t i, j;

	for (i = 0; i < sizeof(one) / sizeof(one[0]); i++) {
		cr_assert_eq(wire_oflags_from_host(one[i].host), one[i].wire, "host 0%o", one[i].host);
		cr_assert_eq(wire_oflags_to_host(one[i].wire), one[i].host, "wire 0x%x", one[i].wire);
		for (j = 3; j < sizeof(one) / sizeof(one[0]); j++) {
			int h = one[i].host | one[j].host | O_RDWR;

			cr_assert_eq(wire_oflags_to_host(wire_oflags_from_host(h)), h);
		}
	}
	/* client-only flags are dropped */
	cr_assert_eq(wire_oflags_from_host(O_WRONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY | O_ASYNC |
					   O_DIRECT | O_CREAT),
		     WIRE_O_WRONLY | WIRE_O_CREAT);
	cr_assert_eq(wire_oflags_from_host(O_ACCMODE) & WIRE_O_ACCMODE, WIRE_O_ACCMODE);
	cr_assert_eq(WIRE_O_KNOWN, WIRE_O_ACCMODE | WIRE_O_CREAT | WIRE_O_EXCL | WIRE_O_TRUNC |
					   WIRE_O_APPEND | WIRE_O_DIRECTORY | WIRE_O_NOFOLLOW |
					   WIRE_O_SYNC | WIRE_O_DSYNC | WIRE_O_PATH | WIRE_O_NOATIME);
}

Test(mode, posix_values_and_round_trip)
{
	static const struct {
		uint32_t host, wire;
	} types[] = {
		{ S_IFSOCK, 0140000 }, { S_IFLNK, 0120000 }, { S_IFREG, 0100000 }, { S_IFBLK, 0060000 },
		{ S_IFDIR, 0040000 },  { S_IFCHR, 0020000 }, { S_IFIFO, 0010000 }, { 0, 0 },
	};
	size_t i;
	uint32_t perm;

	cr_assert_eq(wire_mode_from_host(S_IFDIR | S_IRWXU | S_IRGRP | S_IXGRP | S_IROTH | S_IXOTH),
		     040755);
	cr_assert_eq(wire_mode_from_host(S_IFREG | S_ISUID | S_ISGID | S_ISVTX | S_IWOTH), 0107002);
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		for (perm = 0; perm <= 07777; perm++) {
			uint32_t h = types[i].host | wire_mode_to_host(perm);

			cr_assert_eq(wire_mode_from_host(h), types[i].wire | perm);
			cr_assert_eq(wire_mode_to_host(types[i].wire | perm), h);
		}
}

Test(dtype, round_trip)
{
	static const struct {
		unsigned char host;
		uint8_t wire;
	} t[] = {
		{ DT_UNKNOWN, 0 }, { DT_FIFO, 1 }, { DT_CHR, 2 },   { DT_DIR, 4 },  { DT_BLK, 6 },
		{ DT_REG, 8 },	   { DT_LNK, 10 }, { DT_SOCK, 12 }, { DT_WHT, 14 },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		cr_assert_eq(wire_dtype_from_host(t[i].host), t[i].wire);
		cr_assert_eq(wire_dtype_to_host(t[i].wire), t[i].host);
	}
	cr_assert_eq(wire_dtype_from_host(200), 0);
	cr_assert_eq(wire_dtype_to_host(3), DT_UNKNOWN);
	cr_assert_eq(wire_dtype_to_host(255), DT_UNKNOWN);
}

Test(amode, round_trip)
{
	int h;

	cr_assert_eq(wire_amode_from_host(F_OK), WIRE_F_OK);
	cr_assert_eq(wire_amode_from_host(R_OK), WIRE_R_OK);
	cr_assert_eq(wire_amode_from_host(W_OK), WIRE_W_OK);
	cr_assert_eq(wire_amode_from_host(X_OK), WIRE_X_OK);
	for (h = 0; h <= (R_OK | W_OK | X_OK); h++)
		if ((h & ~(R_OK | W_OK | X_OK)) == 0)
			cr_assert_eq(wire_amode_to_host(wire_amode_from_host(h)), h);
}

Test(stflags, round_trip)
{
	unsigned long all = ST_RDONLY | ST_NOSUID | ST_NODEV | ST_NOEXEC | ST_SYNCHRONOUS |
			    ST_MANDLOCK | ST_NOATIME | ST_NODIRATIME | ST_RELATIME;

	cr_assert_eq(wire_stflags_from_host(ST_RDONLY), WIRE_ST_RDONLY);
	cr_assert_eq(wire_stflags_from_host(ST_NOSUID | ST_RELATIME), WIRE_ST_NOSUID | WIRE_ST_RELATIME);
	cr_assert_eq(wire_stflags_from_host(all), WIRE_ST_KNOWN);
	cr_assert_eq(wire_stflags_to_host(WIRE_ST_KNOWN), all);
	cr_assert_eq(wire_stflags_from_host(ST_WRITE | ST_APPEND), 0); /* not portable: dropped */
}

/* ---- checkpoint and restart messages (PROTOCOL.md 4.4, 4.5) ----------------------------- */

Test(ckpt, prepare_exact_bytes_and_zero_copy_header)
{
	static const uint8_t want[] = {
		0, 0, 0, 0, 0, 0, 0, 2,	   /* gen */
		0, 0, 0, 0, 0, 0, 0x10, 0, /* offset 4096 */
		0, 0, 0, 0, 0, 0, 0x20, 0, /* total 8192 */
		0, 0, 0, 3, 'a', 'b', 'c', /* data */
	};
	struct wire_ckpt_prepare m = { 2, 4096, 8192, { (const uint8_t *)"abc", 3 } }, g;
	uint8_t hdr[WIRE_CKPT_PREPARE_HDR];
	size_t plen;
	long n = wire_enc_ckpt_prepare(fbuf, sizeof(fbuf), 9, &m);
	const uint8_t *p = payload_of(fbuf, n, WIRE_CKPT_PREPARE, 0, 9, &plen);

	cr_assert_eq(plen, sizeof(want));
	cr_assert(memcmp(p, want, plen) == 0);
	cr_assert_eq(wire_dec_ckpt_prepare(p, plen, &g), WIRE_OK);
	cr_assert_eq(g.gen, 2);
	cr_assert_eq(g.offset, 4096);
	cr_assert_eq(g.total, 8192);
	cr_assert_eq(g.data.len, 3);
	wire_enc_ckpt_prepare_hdr(hdr, 9, &m);
	cr_assert(memcmp(hdr, fbuf, sizeof(hdr)) == 0, "zero-copy header = the frame's first bytes");
}

Test(ckpt, prepare_forbidden_values)
{
	struct wire_ckpt_prepare m = { 1, 0, 10, { (const uint8_t *)"0123456789", 10 } };

	cr_assert_gt(wire_enc_ckpt_prepare(fbuf, sizeof(fbuf), 1, &m), 0);
	m.gen = 0;
	cr_assert_eq(wire_enc_ckpt_prepare(fbuf, sizeof(fbuf), 1, &m), WIRE_EINVAL, "gen 0");
	m.gen = 1;
	m.offset = 1; /* 1 + 10 > 10 */
	cr_assert_eq(wire_enc_ckpt_prepare(fbuf, sizeof(fbuf), 1, &m), WIRE_EINVAL);
	m.offset = 11;
	m.data.len = 0;
	cr_assert_eq(wire_enc_ckpt_prepare(fbuf, sizeof(fbuf), 1, &m), WIRE_EINVAL, "past total");
	m.offset = 0xfffffffffffffff0ull; /* offset + len would wrap */
	m.total = 0x7fffffffffffffffull;
	m.data.len = 0x20;
	cr_assert_eq(wire_enc_ckpt_prepare(fbuf, sizeof(fbuf), 1, &m), WIRE_EINVAL);
	m.offset = 0;
	m.total = (uint64_t)INT64_MAX + 1;
	m.data.len = 0;
	cr_assert_eq(wire_enc_ckpt_prepare(fbuf, sizeof(fbuf), 1, &m), WIRE_EINVAL);
	m.total = 1ull << 40;
	m.data.len = WIRE_MAX_DATA + 1;
	cr_assert_eq(wire_enc_ckpt_prepare(fbuf, sizeof(fbuf), 1, &m), WIRE_ETOOBIG);
	/* a decoder meeting a chunk past its total */
	{
		uint8_t raw[64];
		struct wire_wr w;
		struct wire_ckpt_prepare g;

		wire_wr_init(&w, raw, sizeof(raw));
		wire_put_u64(&w, 1);
		wire_put_u64(&w, 8);
		wire_put_u64(&w, 10);
		wire_put_blob(&w, "abc", 3);
		cr_assert_eq(wire_dec_ckpt_prepare(raw, wire_wr_len(&w), &g), WIRE_EINVAL);
	}
}

Test(ckpt, done_gen_and_replies_round_trip)
{
	struct wire_ckpt_done d = { 5, 1234, 0xfedcba9876543210ull }, dg;
	struct wire_ckpt_done_reply dr = { 5, 9999 }, drg;
	struct wire_rollback_reply rr = { 5, 1234, 0xfedcba9876543210ull }, rrg;
	struct wire_gen gm = { 77 }, gg;
	size_t plen;
	const uint8_t *p;
	long n;

	n = wire_enc_ckpt_done(fbuf, sizeof(fbuf), 1, &d);
	p = payload_of(fbuf, n, WIRE_CKPT_DONE, 0, 1, &plen);
	cr_assert_eq(plen, 24);
	cr_assert_eq(wire_dec_ckpt_done(p, plen, &dg), 0);
	cr_assert_eq(dg.image_xxh64, d.image_xxh64);
	n = wire_enc_ckpt_done_reply(fbuf, sizeof(fbuf), 1, &dr);
	p = payload_of(fbuf, n, WIRE_CKPT_DONE, WIRE_F_REPLY, 1, &plen);
	cr_assert_eq(wire_dec_ckpt_done_reply(p, plen, &drg), 0);
	cr_assert_eq(drg.file_size, 9999);
	n = wire_enc_rollback_reply(fbuf, sizeof(fbuf), 1, &rr);
	p = payload_of(fbuf, n, WIRE_ROLLBACK, WIRE_F_REPLY, 1, &plen);
	cr_assert_eq(wire_dec_rollback_reply(p, plen, &rrg), 0);
	cr_assert_eq(rrg.image_size, 1234);
	cr_assert_eq(rrg.image_xxh64, rr.image_xxh64);
	for (uint16_t t = WIRE_CKPT_COMMIT; t <= WIRE_ROLLBACK; t++) {
		if (t != WIRE_CKPT_COMMIT && t != WIRE_CKPT_ABORT && t != WIRE_ROLLBACK) {
			cr_assert_eq(wire_enc_gen(fbuf, sizeof(fbuf), t, 1, &gm), WIRE_ETYPE, "type %u", t);
			continue;
		}
		n = wire_enc_gen(fbuf, sizeof(fbuf), t, 1, &gm);
		p = payload_of(fbuf, n, t, 0, 1, &plen);
		cr_assert_eq(wire_dec_gen(p, plen, &gg), 0);
		cr_assert_eq(gg.gen, 77);
	}
	gm.gen = 0;
	cr_assert_eq(wire_enc_gen(fbuf, sizeof(fbuf), WIRE_ROLLBACK, 1, &gm), WIRE_EINVAL);
	d.gen = 0;
	cr_assert_eq(wire_enc_ckpt_done(fbuf, sizeof(fbuf), 1, &d), WIRE_EINVAL);
	d.gen = 1;
	d.total = (uint64_t)INT64_MAX + 1;
	cr_assert_eq(wire_enc_ckpt_done(fbuf, sizeof(fbuf), 1, &d), WIRE_EINVAL);
	/* gen 0 from the wire */
	memset(fbuf, 0, 8);
	cr_assert_eq(wire_dec_gen(fbuf, 8, &gg), WIRE_EINVAL);
}

Test(ckpt, rollback_query_reply_entries)
{
	struct wire_rollback_query_reply m;
	struct wire_gen_info e, bad = { 3, 3, 0 };
	size_t plen;
	const uint8_t *p;
	long n = wire_enc_rollback_query_reply(fbuf, sizeof(fbuf), 4, sample_gens, 3);
	int i = 0, k;

	p = payload_of(fbuf, n, WIRE_ROLLBACK_QUERY, WIRE_F_REPLY, 4, &plen);
	cr_assert_eq(plen, 4 + 3 * WIRE_GEN_INFO_SIZE);
	cr_assert_eq(wire_dec_rollback_query_reply(p, plen, &m), 0);
	cr_assert_eq(m.count, 3);
	while ((k = wire_gen_info_next(&m, &e)) == 1) {
		cr_assert_eq(e.gen, sample_gens[i].gen);
		cr_assert_eq(e.state, sample_gens[i].state);
		cr_assert_eq(e.image_size, sample_gens[i].image_size);
		i++;
	}
	cr_assert_eq(k, 0);
	cr_assert_eq(i, 3);
	/* empty */
	n = wire_enc_rollback_query_reply(fbuf, sizeof(fbuf), 4, NULL, 0);
	p = payload_of(fbuf, n, WIRE_ROLLBACK_QUERY, WIRE_F_REPLY, 4, &plen);
	cr_assert_eq(plen, 4);
	cr_assert_eq(wire_dec_rollback_query_reply(p, plen, &m), 0);
	cr_assert_eq(wire_gen_info_next(&m, &e), 0);
	/* a bad state, a count that lies */
	cr_assert_eq(wire_enc_rollback_query_reply(fbuf, sizeof(fbuf), 4, &bad, 1), WIRE_EINVAL);
	{
		uint8_t raw[64];
		struct wire_wr w;

		wire_wr_init(&w, raw, sizeof(raw));
		wire_put_u32(&w, 1);
		wire_put_u64(&w, 3);
		wire_put_u8(&w, 9); /* state 9 */
		wire_put_u64(&w, 0);
		cr_assert_eq(wire_dec_rollback_query_reply(raw, wire_wr_len(&w), &m), WIRE_EINVAL);
		cr_assert_eq(wire_gen_info_next(&m, &e), 0, "nothing to iterate after a failure");
		wire_wr_init(&w, raw, sizeof(raw));
		wire_put_u32(&w, 0xffffffffu);
		cr_assert_eq(wire_dec_rollback_query_reply(raw, wire_wr_len(&w), &m), WIRE_ETRUNC);
		wire_wr_init(&w, raw, sizeof(raw));
		wire_put_u32(&w, 0);
		wire_put_u64(&w, 3);
		cr_assert_eq(wire_dec_rollback_query_reply(raw, wire_wr_len(&w), &m), WIRE_ETRAIL);
	}
}

Test(ckpt, image_read_bounds)
{
	struct wire_image_read m = { 1, 0, WIRE_MAX_DATA + 1 };

	cr_assert_eq(wire_enc_image_read(fbuf, sizeof(fbuf), 1, &m), WIRE_ETOOBIG);
	m.count = 1;
	m.offset = (uint64_t)INT64_MAX + 1;
	cr_assert_eq(wire_enc_image_read(fbuf, sizeof(fbuf), 1, &m), WIRE_EINVAL);
	m.offset = 0;
	m.gen = 0;
	cr_assert_eq(wire_enc_image_read(fbuf, sizeof(fbuf), 1, &m), WIRE_EINVAL);
}

Test(ckpt, prepare_unknown_total)
{
	struct wire_ckpt_prepare m = { 2, 1ull << 40, WIRE_CKPT_TOTAL_UNKNOWN, { (const uint8_t *)"abc", 3 } }, g;
	size_t plen;
	const uint8_t *p;
	long n = wire_enc_ckpt_prepare(fbuf, sizeof(fbuf), 5, &m);

	p = payload_of(fbuf, n, WIRE_CKPT_PREPARE, 0, 5, &plen);
	cr_assert_eq(wire_dec_ckpt_prepare(p, plen, &g), 0);
	cr_assert_eq(g.total, WIRE_CKPT_TOTAL_UNKNOWN);
	cr_assert_eq(g.offset, 1ull << 40);
	/* the bound is then 2^63 - 1 */
	m.offset = 0x7ffffffffffffffeull;
	cr_assert_eq(wire_enc_ckpt_prepare(fbuf, sizeof(fbuf), 5, &m), WIRE_EINVAL);
	m.data.len = 1;
	cr_assert_gt(wire_enc_ckpt_prepare(fbuf, sizeof(fbuf), 5, &m), 0);
	/* any other total above 2^63 - 1 stays forbidden */
	m.offset = 0;
	m.total = WIRE_CKPT_TOTAL_UNKNOWN - 1;
	cr_assert_eq(wire_enc_ckpt_prepare(fbuf, sizeof(fbuf), 5, &m), WIRE_EINVAL);
}

Test(ckpt, job_list_reply_entries)
{
	struct wire_job_list_reply m;
	struct wire_str e, bad = { ".x", 2 };
	size_t plen;
	const uint8_t *p;
	long n = wire_enc_job_list_reply(fbuf, sizeof(fbuf), 6, sample_jobs, 3);
	int i = 0, k;

	p = payload_of(fbuf, n, WIRE_JOB_LIST, WIRE_F_REPLY, 6, &plen);
	cr_assert_eq(plen, 4 + 2 * 3 + 5 + 1 + 9);
	cr_assert_eq(wire_dec_job_list_reply(p, plen, &m), 0);
	cr_assert_eq(m.count, 3);
	while ((k = wire_job_list_next(&m, &e)) == 1) {
		cr_assert_eq(e.len, sample_jobs[i].len);
		cr_assert_eq(memcmp(e.p, sample_jobs[i].p, e.len), 0);
		i++;
	}
	cr_assert_eq(k, 0);
	cr_assert_eq(i, 3);
	cr_assert_eq(wire_enc_job_list_reply(fbuf, sizeof(fbuf), 6, &bad, 1), WIRE_EINVAL);
	{
		uint8_t raw[64];
		struct wire_wr w;

		wire_wr_init(&w, raw, sizeof(raw));
		wire_put_u32(&w, 1);
		wire_put_str(&w, "a/b", 3); /* not a job name */
		cr_assert_eq(wire_dec_job_list_reply(raw, wire_wr_len(&w), &m), WIRE_EINVAL);
		cr_assert_eq(wire_job_list_next(&m, &e), 0, "nothing to iterate after a failure");
		wire_wr_init(&w, raw, sizeof(raw));
		wire_put_u32(&w, 0x40000000u);
		cr_assert_eq(wire_dec_job_list_reply(raw, wire_wr_len(&w), &m), WIRE_ETRUNC);
		wire_wr_init(&w, raw, sizeof(raw));
		wire_put_u32(&w, 2);
		wire_put_str(&w, "ab", 2);
		wire_put_str(&w, "cd", 2);
		cr_assert_eq(wire_dec_job_list_reply(raw, wire_wr_len(&w) - 1, &m), WIRE_ETRUNC);
	}
}

Test(ckpt, job_names)
{
	char longname[WIRE_MAX_JOB + 1];

	memset(longname, 'j', sizeof(longname));
	cr_assert_eq(wire_job_check("job-1_a.B", 9), 0);
	cr_assert_eq(wire_job_check(longname, WIRE_MAX_JOB), 0);
	cr_assert_eq(wire_job_check(longname, WIRE_MAX_JOB + 1), WIRE_ETOOBIG);
	cr_assert_eq(wire_job_check("", 0), WIRE_EINVAL);
	cr_assert_eq(wire_job_check(".hidden", 7), WIRE_EINVAL);
	cr_assert_eq(wire_job_check("..", 2), WIRE_EINVAL);
	cr_assert_eq(wire_job_check("a/b", 3), WIRE_EINVAL);
	cr_assert_eq(wire_job_check("a b", 3), WIRE_EINVAL);
	cr_assert_eq(wire_job_check("a\0b", 3), WIRE_EINVAL);
	cr_assert_eq(wire_job_check("caf\xc3\xa9", 5), WIRE_EINVAL);
}

/* ---- the joint checkpoint file (CHECKPOINT.md) ------------------------------------------- */

/* A whole file in memory: header region, image, state, trailer. */
static size_t make_ckf(uint8_t *out, size_t cap, const uint8_t *image, size_t ilen)
{
	struct wire_ckf_header h;
	struct wire_ckf_state_builder b;
	struct wire_ckf_file f = { WIRE_CKF_FILE_OPEN | WIRE_CKF_FILE_CHANGED, { "dir/out.txt", 11 },
				   77, 0100644, 12345, 1000, 1000, 1700000000, 5, WIRE_O_RDWR };
	uint8_t state[512];
	long slen, hl;
	size_t total;

	wire_ckf_state_begin(&b, state, sizeof(state), 3, 2);
	cr_assert_eq(wire_ckf_state_add(&b, &f), 0);
	slen = wire_ckf_state_end(&b);
	cr_assert_gt(slen, 0);
	total = WIRE_CKF_HEADER_SIZE + ilen + (size_t)slen + WIRE_CKF_TRAILER;
	cr_assert_leq(total, cap);
	memset(&h, 0, sizeof(h));
	h.header_size = WIRE_CKF_HEADER_SIZE;
	h.file_size = total;
	h.job = S("job-1");
	h.gen = 3;
	h.created_sec = 1700000000;
	h.created_nsec = 9;
	h.client_arch = S("x86_64");
	h.client_byte_order = WIRE_BO_LITTLE;
	h.client_page_size = 4096;
	h.server_arch = S("s390x");
	h.server_byte_order = WIRE_BO_BIG;
	h.server_page_size = 4096;
	h.nsections = 2;
	h.sect[0] = (struct wire_ckf_section){ WIRE_CKF_CLIENT_IMAGE, 0, WIRE_CKF_HEADER_SIZE, ilen,
					       XXH64(image, ilen, 0) };
	h.sect[1] = (struct wire_ckf_section){ WIRE_CKF_SERVER_STATE, 0, WIRE_CKF_HEADER_SIZE + ilen,
					       (uint64_t)slen, XXH64(state, (size_t)slen, 0) };
	hl = wire_ckf_build_header(out, cap, &h);
	cr_assert_eq(hl, (long)WIRE_CKF_HEADER_SIZE);
	memcpy(out + WIRE_CKF_HEADER_SIZE, image, ilen);
	memcpy(out + WIRE_CKF_HEADER_SIZE + ilen, state, (size_t)slen);
	wire_ckf_build_trailer(out + total - WIRE_CKF_TRAILER, out, &h);
	return total;
}

/* Parse a whole in-memory file as the server does: prefix, header,
 * trailer, section checksums, state. */
static int check_ckf(const uint8_t *f, size_t len)
{
	struct wire_ckf_header h;
	struct wire_ckf_state st;
	uint32_t hs;
	uint64_t fs;
	int rc = wire_ckf_prefix(f, len, &hs, &fs);

	if (rc)
		return rc;
	if (hs > len)
		return WIRE_ETRUNC;
	rc = wire_ckf_parse_header(f, hs, len, &h);
	if (rc)
		return rc;
	rc = wire_ckf_check_trailer(f + len - WIRE_CKF_TRAILER, WIRE_CKF_TRAILER, f, &h);
	if (rc)
		return rc;
	for (int i = 0; i < h.nsections; i++)
		if (XXH64(f + h.sect[i].offset, h.sect[i].length, 0) != h.sect[i].xxh64)
			return WIRE_CKF_ESECTSUM;
	{
		const struct wire_ckf_section *s = wire_ckf_find(&h, WIRE_CKF_SERVER_STATE);

		return wire_ckf_state_dec(f + s->offset, s->length, &st);
	}
}

static uint8_t ckf[WIRE_CKF_HEADER_SIZE + 4096];

Test(ckfile, round_trip)
{
	struct wire_ckf_header h;
	struct wire_ckf_state st;
	struct wire_ckf_file f;
	const struct wire_ckf_section *s;
	size_t n = make_ckf(ckf, sizeof(ckf), sample_image, sizeof(sample_image));

	cr_assert_eq(check_ckf(ckf, n), 0);
	cr_assert_eq(memcmp(ckf, wire_ckf_magic, 8), 0);
	cr_assert_eq(wire_ckf_parse_header(ckf, WIRE_CKF_HEADER_SIZE, n, &h), 0);
	assert_str(h.job, "job-1");
	assert_str(h.client_arch, "x86_64");
	assert_str(h.server_arch, "s390x");
	cr_assert_eq(h.gen, 3);
	cr_assert_eq(h.created_nsec, 9);
	cr_assert_eq(h.server_byte_order, WIRE_BO_BIG);
	s = wire_ckf_find(&h, WIRE_CKF_CLIENT_IMAGE);
	cr_assert_not_null(s);
	cr_assert_eq(s->length, sizeof(sample_image));
	cr_assert(memcmp(ckf + s->offset, sample_image, sizeof(sample_image)) == 0);
	s = wire_ckf_find(&h, WIRE_CKF_SERVER_STATE);
	cr_assert_eq(wire_ckf_state_dec(ckf + s->offset, s->length, &st), 0);
	cr_assert_eq(st.epoch, 3);
	cr_assert_eq(st.prev_gen, 2);
	cr_assert_eq(st.count, 1);
	cr_assert_eq(wire_ckf_state_next(&st, &f), 1);
	assert_str(f.path, "dir/out.txt");
	cr_assert_eq(f.size, 12345);
	cr_assert_eq(f.mode, 0100644);
	cr_assert_eq(f.mtime_nsec, 5);
	cr_assert_eq(wire_ckf_state_next(&st, &f), 0);
}

Test(ckfile, every_flipped_byte_is_caught)
{
	size_t n = make_ckf(ckf, sizeof(ckf), sample_image, sizeof(sample_image));

	/* every byte of the file: the header region (fields, padding, checksum),
	 * the sections and the trailer */
	for (size_t i = 0; i < n; i++) {
		int rc;

		ckf[i] ^= 0x20;
		rc = check_ckf(ckf, n);
		cr_assert_lt(rc, 0, "byte %zu flipped: accepted", i);
		ckf[i] ^= 0x20;
	}
	cr_assert_eq(check_ckf(ckf, n), 0);
}

Test(ckfile, truncated_at_every_length)
{
	size_t n = make_ckf(ckf, sizeof(ckf), sample_image, sizeof(sample_image));

	for (size_t l = 0; l < n; l++) {
		uint8_t *c = exact_copy(ckf, l);
		int rc = check_ckf(c, l);

		cr_assert_lt(rc, 0, "truncated to %zu of %zu: accepted", l, n);
		free(c);
	}
}

Test(ckfile, clear_errors)
{
	struct wire_ckf_header h;
	size_t n = make_ckf(ckf, sizeof(ckf), sample_image, sizeof(sample_image));
	uint32_t hs;
	uint64_t fs;

	cr_assert_eq(wire_ckf_parse_header(ckf, WIRE_CKF_HEADER_SIZE, n - 1, &h), WIRE_CKF_ESIZE);
	ckf[0] = 'X';
	cr_assert_eq(wire_ckf_prefix(ckf, n, &hs, &fs), WIRE_CKF_EMAGIC);
	ckf[0] = 0x89;
	ckf[9] = 2; /* version 2 */
	cr_assert_eq(wire_ckf_prefix(ckf, n, &hs, &fs), WIRE_CKF_EVERSION);
	ckf[9] = 1;
	ckf[100] ^= 1;
	cr_assert_eq(wire_ckf_parse_header(ckf, WIRE_CKF_HEADER_SIZE, n, &h), WIRE_CKF_EHEADER);
	ckf[100] ^= 1;
	ckf[WIRE_CKF_HEADER_SIZE] ^= 1;
	cr_assert_eq(check_ckf(ckf, n), WIRE_CKF_ESECTSUM);
	ckf[WIRE_CKF_HEADER_SIZE] ^= 1;
	ckf[n - 1] ^= 1;
	cr_assert_eq(check_ckf(ckf, n), WIRE_CKF_ETRAILER);
	ckf[n - 1] ^= 1;
	cr_assert_eq(check_ckf(ckf, n), 0);
	for (int c = WIRE_CKF_ESTATE; c <= WIRE_CKF_EMAGIC; c++)
		cr_assert_str_neq(wire_ckf_strerror(c), "unknown wire error", "code %d", c);
}

Test(ckfile, builder_refuses_what_the_parser_refuses)
{
	struct wire_ckf_header h;

	memset(&h, 0, sizeof(h));
	h.header_size = WIRE_CKF_HEADER_SIZE;
	h.file_size = WIRE_CKF_HEADER_SIZE + 100 + WIRE_CKF_TRAILER;
	h.job = S("j");
	h.gen = 1;
	h.client_byte_order = h.server_byte_order = WIRE_BO_LITTLE;
	h.nsections = 2;
	h.sect[0] = (struct wire_ckf_section){ WIRE_CKF_CLIENT_IMAGE, 0, WIRE_CKF_HEADER_SIZE, 60, 0 };
	h.sect[1] = (struct wire_ckf_section){ WIRE_CKF_SERVER_STATE, 0, WIRE_CKF_HEADER_SIZE + 60, 40, 0 };
	cr_assert_eq(wire_ckf_build_header(ckf, sizeof(ckf), &h), (long)WIRE_CKF_HEADER_SIZE);
	h.sect[1].offset -= 1; /* overlaps the image */
	cr_assert_eq(wire_ckf_build_header(ckf, sizeof(ckf), &h), WIRE_CKF_ESECTION);
	h.sect[1].offset += 2; /* runs into the trailer */
	cr_assert_eq(wire_ckf_build_header(ckf, sizeof(ckf), &h), WIRE_CKF_ESECTION);
	h.sect[1].offset -= 1;
	h.sect[1].type = WIRE_CKF_CLIENT_IMAGE; /* two images, no state */
	cr_assert_eq(wire_ckf_build_header(ckf, sizeof(ckf), &h), WIRE_CKF_ESECTION);
	h.sect[1].type = WIRE_CKF_SERVER_STATE;
	h.sect[0].offset = 10; /* inside the header */
	cr_assert_eq(wire_ckf_build_header(ckf, sizeof(ckf), &h), WIRE_CKF_ESECTION);
	h.sect[0].offset = WIRE_CKF_HEADER_SIZE;
	h.job = S(".bad");
	cr_assert_eq(wire_ckf_build_header(ckf, sizeof(ckf), &h), WIRE_CKF_EFIELD);
	h.job = S("j");
	h.header_size = 100; /* not a multiple of 8 */
	cr_assert_eq(wire_ckf_build_header(ckf, sizeof(ckf), &h), WIRE_CKF_EFIELD);
	h.header_size = WIRE_CKF_HEADER_SIZE;
	cr_assert_eq(wire_ckf_build_header(ckf, 100, &h), WIRE_ENOSPC);
}

Test(ckfile, state_entries_are_checked)
{
	struct wire_ckf_state_builder b;
	struct wire_ckf_state st;
	struct wire_ckf_file f = { WIRE_CKF_FILE_OPEN, { "../etc", 6 }, 1, 0100644, 1, 0, 0, 0, 0, 0 };
	uint8_t buf[256];
	long n;

	wire_ckf_state_begin(&b, buf, sizeof(buf), 1, 0);
	cr_assert_eq(wire_ckf_state_add(&b, &f), WIRE_EINVAL, "a path with ..");
	f.path = S("ok");
	f.flags = 0x80;
	cr_assert_eq(wire_ckf_state_add(&b, &f), WIRE_EINVAL, "unknown flag");
	f.flags = 0;
	f.mtime_nsec = 1000000000;
	cr_assert_eq(wire_ckf_state_add(&b, &f), WIRE_EINVAL);
	f.mtime_nsec = 0;
	cr_assert_eq(wire_ckf_state_add(&b, &f), 0);
	n = wire_ckf_state_end(&b);
	cr_assert_eq(wire_ckf_state_dec(buf, (size_t)n, &st), 0);
	cr_assert_eq(wire_ckf_state_dec(buf, (size_t)n - 1, &st), WIRE_CKF_ESTATE);
	buf[19] = 2; /* count 2, one entry */
	cr_assert_eq(wire_ckf_state_dec(buf, (size_t)n, &st), WIRE_CKF_ESTATE);
	/* a builder out of room writes nothing */
	wire_ckf_state_begin(&b, buf, 24, 1, 0);
	cr_assert_eq(wire_ckf_state_add(&b, &f), WIRE_ENOSPC);
	cr_assert_eq(wire_ckf_state_end(&b), 20);
}

/* ---- authentication (PROTOCOL.md 3.4, wire/auth.c) ------------------------------------------ */

static void fill(uint8_t *p, size_t n, uint8_t v)
{
	memset(p, v, n);
}

Test(auth, hello_offer_and_challenge_round_trip)
{
	struct wire_hello h = sample_hello, m;
	const uint8_t *p;
	long n;

	h.auth_kind = WIRE_KEY_JOB;
	fill(h.nonce, sizeof(h.nonce), 0xa5);
	n = wire_enc_hello(fbuf, sizeof(fbuf), 1, 0, &h);
	cr_assert_gt(n, 0);
	p = fbuf + WIRE_HDR_SIZE;
	/* the option is the last 37 bytes: tag 1, length 33, kind, nonce */
	cr_assert_eq(p[n - WIRE_HDR_SIZE - 37], 0);
	cr_assert_eq(p[n - WIRE_HDR_SIZE - 36], 1);
	cr_assert_eq(p[n - WIRE_HDR_SIZE - 34], 33);
	cr_assert_eq(p[n - WIRE_HDR_SIZE - 33], WIRE_KEY_JOB);
	cr_assert_eq(wire_dec_hello(p, (size_t)n - WIRE_HDR_SIZE, &m), WIRE_OK);
	cr_assert_eq(m.auth_kind, WIRE_KEY_JOB);
	cr_assert_eq(m.challenge, 0);
	cr_assert_arr_eq(m.nonce, h.nonce, sizeof(h.nonce));

	h = sample_hello;
	h.challenge = 1;
	fill(h.nonce, sizeof(h.nonce), 0x11);
	fill(h.proof, sizeof(h.proof), 0x22);
	n = wire_enc_hello(fbuf, sizeof(fbuf), 1, WIRE_F_REPLY, &h);
	cr_assert_gt(n, 0);
	cr_assert_eq(wire_dec_hello(fbuf + WIRE_HDR_SIZE, (size_t)n - WIRE_HDR_SIZE, &m), WIRE_OK);
	cr_assert_eq(m.challenge, 1);
	cr_assert_eq(m.auth_kind, 0);
	cr_assert_arr_eq(m.nonce, h.nonce, sizeof(h.nonce));
	cr_assert_arr_eq(m.proof, h.proof, sizeof(h.proof));
}

Test(auth, encoder_refuses_bad_options)
{
	struct wire_hello h = sample_hello;

	h.auth_kind = 3;
	cr_assert_eq(wire_enc_hello(fbuf, sizeof(fbuf), 1, 0, &h), WIRE_EINVAL);
	h.auth_kind = WIRE_KEY_SERVER;
	h.challenge = 1;
	cr_assert_eq(wire_enc_hello(fbuf, sizeof(fbuf), 1, 0, &h), WIRE_EINVAL);
}

Test(auth, malformed_options_are_refused)
{
	uint8_t opt[2 * (4 + 64)], *keep;
	struct wire_hello m;

	/* an offer of the wrong length */
	memcpy(opt, "\x00\x01\x00\x20", 4);
	fill(opt + 4, 32, 1);
	cr_assert_eq(hello_with_options(opt, 36, &m, &keep), WIRE_EINVAL);
	free(keep);
	/* kinds 0 and 3 */
	memcpy(opt, "\x00\x01\x00\x21", 4);
	opt[4] = 0;
	cr_assert_eq(hello_with_options(opt, 37, &m, &keep), WIRE_EINVAL);
	free(keep);
	opt[4] = 3;
	cr_assert_eq(hello_with_options(opt, 37, &m, &keep), WIRE_EINVAL);
	free(keep);
	/* a valid offer, truncated */
	opt[4] = WIRE_KEY_SERVER;
	cr_assert_eq(hello_with_options(opt, 20, &m, &keep), WIRE_ETRUNC);
	free(keep);
	/* the same offer twice */
	memcpy(opt + 37, opt, 37);
	cr_assert_eq(hello_with_options(opt, 74, &m, &keep), WIRE_EINVAL);
	free(keep);
	/* an offer and a challenge */
	memcpy(opt + 37, "\x00\x02\x00\x40", 4);
	fill(opt + 41, 64, 9);
	cr_assert_eq(hello_with_options(opt, 37 + 68, &m, &keep), WIRE_EINVAL);
	free(keep);
	/* a challenge of the wrong length */
	memcpy(opt, "\x00\x02\x00\x3f", 4);
	cr_assert_eq(hello_with_options(opt, 4 + 63, &m, &keep), WIRE_EINVAL);
	free(keep);
}

Test(auth, auth_message_round_trip)
{
	uint8_t got[32];
	long n = wire_enc_auth(fbuf, sizeof(fbuf), 9, sample_proof);

	cr_assert_eq(n, WIRE_HDR_SIZE + 32);
	cr_assert_eq(wire_dec_auth(fbuf + WIRE_HDR_SIZE, 32, got), WIRE_OK);
	cr_assert_arr_eq(got, sample_proof, 32);
	cr_assert_eq(wire_dec_auth(fbuf + WIRE_HDR_SIZE, 31, got), WIRE_ETRUNC);
}

/* Known answers computed with Python's hmac from the text of PROTOCOL.md 3.4. */
static void hex_is(const uint8_t *b, const char *hex)
{
	char s[65];

	for (int i = 0; i < 32; i++)
		snprintf(s + 2 * i, 3, "%02x", b[i]);
	cr_assert_str_eq(s, hex);
}

Test(auth, proofs_and_job_keys_match_known_answers)
{
	uint8_t key[32], cn[32], sn[32], out[32];

	fill(key, 32, 1);
	fill(cn, 32, 2);
	fill(sn, 32, 3);
	wire_auth_proof(key, WIRE_PROOF_CLIENT, cn, sn, 0x0102030405060708ull, WIRE_KEY_JOB, "jobA", 4, out);
	hex_is(out, "009d50a7c67bf504f0a254a66b9ae877aeb5ad0a56af1cee95ce1120ea517e08");
	wire_auth_proof(key, WIRE_PROOF_SERVER, cn, sn, 0x0102030405060708ull, WIRE_KEY_SERVER, "", 0, out);
	hex_is(out, "99ef477948a6fe68332fb36faad961ee5adebad942d26247349f410928b1191c");
	wire_key_derive_job(key, "jobA", 4, out);
	hex_is(out, "c633eef0c5aae0747e9070d7c562722fa306bebac029aa2ff7c59a762f458407");
	cr_assert(wire_auth_equal(out, out));
	memcpy(key, out, 32);
	key[31] ^= 1;
	cr_assert_not(wire_auth_equal(out, key));
}

Test(auth, key_files_parse_and_format)
{
	static const char srv[] = "ckpt-key-1 server 0101010101010101010101010101010101010101010101010101010101010101\n";
	static const char job[] = "ckpt-key-1 job jobA c633eef0c5aae0747e9070d7c562722fa306bebac029aa2ff7c59a762f458407";
	struct wire_key k;
	const char *why = NULL;
	char line[256];

	cr_assert_eq(wire_key_parse(srv, strlen(srv), &k, &why), 0);
	cr_assert_eq(k.kind, WIRE_KEY_SERVER);
	cr_assert_eq(k.key[0], 1);
	cr_assert_eq(wire_key_format(line, sizeof(line), &k), (long)strlen(srv));
	cr_assert_str_eq(line, srv);
	cr_assert_eq(wire_key_parse(job, strlen(job), &k, &why), 0);
	cr_assert_eq(k.kind, WIRE_KEY_JOB);
	cr_assert_str_eq(k.job, "jobA");
	cr_assert_eq(k.key[0], 0xc6);
	cr_assert_eq(wire_key_format(line, 10, &k), -1);
}

Test(auth, bad_key_files_are_refused)
{
	static const char *const bad[] = {
		"",
		"ckpt-key-2 server 0101010101010101010101010101010101010101010101010101010101010101",
		"ckpt-key-1 client 0101010101010101010101010101010101010101010101010101010101010101",
		"ckpt-key-1 server 010101010101010101010101010101010101010101010101010101010101010",
		"ckpt-key-1 server 0101010101010101010101010101010101010101010101010101010101010101 x",
		"ckpt-key-1 server 010101010101010101010101010101010101010101010101010101010101010g",
		"ckpt-key-1 server 0101010101010101010101010101010101010101010101010101010101010101\n\n",
		"ckpt-key-1 server 0101010101010101010101010101010101010101010101010101010101010101\r\n",
		"ckpt-key-1 job ../x 0101010101010101010101010101010101010101010101010101010101010101",
		"ckpt-key-1 job 0101010101010101010101010101010101010101010101010101010101010101",
	};
	struct wire_key k;
	const char *why;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		cr_assert_eq(wire_key_parse(bad[i], strlen(bad[i]), &k, &why), -1, "case %zu", i);
		cr_assert_not_null(why);
		cr_assert_eq(k.kind, 0, "case %zu", i);
	}
	why = NULL;
	cr_assert_eq(wire_key_parse("ckpt-key-1 server \0", 19, &k, &why), -1);
}
