/* test_server_session.c - whole requests through a session (server/session.c, fileops.c, handles.c).
 *
 * Each test runs srv_session_run() in a thread on one end of a socketpair and
 * talks the wire protocol on the other end, encoding with wire/ (or by hand,
 * for frames a correct encoder refuses to build).
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "session.h"
#include "srv_client.h"
#include "wire.h"

/* ---- fixture: a temporary export root ------------------------------------------ */

static char base[64];
static char rootp[96];
static struct srv_config cfg;

static void setup(void)
{
	snprintf(base, sizeof(base), "/tmp/ckpt-session.XXXXXX");
	cr_assert(mkdtemp(base));
	snprintf(rootp, sizeof(rootp), "%s/root", base);
	cr_assert(mkdir(rootp, 0755) == 0);
	memset(&cfg, 0, sizeof(cfg));
	cfg.root_fd = open(rootp, O_PATH | O_DIRECTORY | O_CLOEXEC);
	cr_assert(cfg.root_fd >= 0);
	cfg.max_frame = WIRE_MAX_FRAME;
	cfg.max_open = 64;
	cfg.max_sessions = 256;
	umask(0); /* as the server does: modes are the client's */
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st, (void)flag, (void)f;
	return remove(p);
}

static void teardown(void)
{
	close(cfg.root_fd);
	nftw(base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void root_file(const char *name, const char *content)
{
	char p[256];
	int fd;

	snprintf(p, sizeof(p), "%s/%s", rootp, name);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	cr_assert(fd >= 0, "%s: %s", p, strerror(errno));
	cr_assert(write(fd, content, strlen(content)) == (ssize_t)strlen(content));
	close(fd);
}

static void root_path(char *out, size_t cap, const char *name)
{
	snprintf(out, cap, "%s/%s", rootp, name);
}

/* ---- a client (tests/unit/srv_client.h) ---------------------------------------------- */

static struct cli *connect_hello(void)
{
	struct cli *c = cli_start(&cfg);

	cli_hello(c, "unit-job");
	return c;
}

/* OPEN: 0 and *h, or the errno. st (may be NULL) gets the reply's stat. */
static int c_open(struct cli *c, const char *path, uint32_t flags, uint32_t mode, uint64_t *h,
		  struct wire_stat *st)
{
	struct wire_open m = { S(path), flags, mode };
	struct wire_open_reply r;
	int e = call(c, wire_enc_open(c->req, WIRE_MAX_FRAME, nid(c), &m));

	if (e)
		return e;
	cr_assert_eq(wire_dec_open_reply(c->pl, c->plen, &r), 0);
	cr_assert_neq(r.handle, 0);
	*h = r.handle;
	if (st)
		*st = r.st;
	return 0;
}

static int c_close(struct cli *c, uint64_t h)
{
	struct wire_handle m = { h };

	return call(c, wire_enc_handle(c->req, WIRE_MAX_FRAME, WIRE_CLOSE, nid(c), &m));
}

static int c_pwrite(struct cli *c, uint64_t h, uint64_t off, uint32_t flags, const void *p,
		    uint32_t n, struct wire_pwrite_reply *r)
{
	struct wire_pwrite m = { h, off, flags, { p, n } };
	int e = call(c, wire_enc_pwrite(c->req, WIRE_MAX_FRAME, nid(c), &m));

	if (!e)
		cr_assert_eq(wire_dec_pwrite_reply(c->pl, c->plen, r), 0);
	return e;
}

/* PREAD: 0 and the data in *d (points into c->rsp), or the errno. */
static int c_pread(struct cli *c, uint64_t h, uint64_t off, uint32_t count, struct wire_blob *d)
{
	struct wire_pread m = { h, off, count };
	int e = call(c, wire_enc_pread(c->req, WIRE_MAX_FRAME, nid(c), &m));

	if (!e)
		cr_assert_eq(wire_dec_data_reply(c->pl, c->plen, d), 0);
	return e;
}

static int c_path(struct cli *c, uint16_t type, const char *path, uint32_t flags, uint32_t arg)
{
	struct wire_path_req m = { S(path), flags, arg };

	return call(c, wire_enc_path_req(c->req, WIRE_MAX_FRAME, type, nid(c), &m));
}

static int c_stat(struct cli *c, const char *path, uint32_t flags, struct wire_stat *st)
{
	int e = c_path(c, WIRE_STAT, path, flags, 0);

	if (!e)
		cr_assert_eq(wire_dec_stat_reply(c->pl, c->plen, st), 0);
	return e;
}

static int c_fstat(struct cli *c, uint64_t h, struct wire_stat *st)
{
	struct wire_handle m = { h };
	int e = call(c, wire_enc_handle(c->req, WIRE_MAX_FRAME, WIRE_FSTAT, nid(c), &m));

	if (!e)
		cr_assert_eq(wire_dec_stat_reply(c->pl, c->plen, st), 0);
	return e;
}

static int c_two(struct cli *c, uint16_t type, const char *from, const char *to, uint32_t flags)
{
	struct wire_two_paths m = { S(from), S(to), flags };

	return call(c, wire_enc_two_paths(c->req, WIRE_MAX_FRAME, type, nid(c), &m));
}

static int c_ping(struct cli *c)
{
	return call(c, wire_enc_empty(c->req, WIRE_MAX_FRAME, WIRE_PING, 0, nid(c)));
}

/* An OPEN frame built by hand: any path bytes, even ones wire_enc_open refuses. */
static long raw_open(struct cli *c, const char *path, size_t len, uint32_t flags)
{
	struct wire_wr w;

	wire_frame_begin(&w, c->req, WIRE_MAX_FRAME, WIRE_OPEN, 0, nid(c));
	wire_put_str(&w, path, (uint32_t)len);
	wire_put_u32(&w, flags);
	wire_put_u32(&w, 0);
	return wire_frame_end(&w);
}

static uint32_t host_type(const struct wire_stat *st)
{
	return wire_mode_to_host(st->mode) & S_IFMT;
}

static void setup_walk(void)
{
	setup();
	srv_resolve_use_fallback(1);
}

TestSuite(session, .init = setup, .fini = teardown, .timeout = 60);
/* The path-heavy tests run again with the userspace resolver (no openat2). */
TestSuite(session_walk, .init = setup_walk, .fini = teardown, .timeout = 60);
#define BOTH(name)                                  \
	static void name(void);                     \
	Test(session, name) { name(); }             \
	Test(session_walk, name) { name(); }        \
	static void name(void)

/* ---- HELLO ------------------------------------------------------------------------------ */

/* A HELLO request as an x86_64 little-endian client with 4 KiB pages. */
static void x86_hello(struct wire_hello *m, const char *job, const char *peer)
{
	memset(m, 0, sizeof(*m));
	m->version = WIRE_PROTO_VERSION;
	m->byte_order = WIRE_BO_LITTLE;
	m->page_size = 4096;
	m->max_frame = WIRE_MAX_FRAME;
	m->arch = S("x86_64");
	m->job = S(job);
	m->peer = S(peer);
}

Test(session, hello_reply_describes_the_server)
{
	struct cli *c = cli_start(&cfg);
	struct wire_hello m, r;
	long page = sysconf(_SC_PAGESIZE);

	x86_hello(&m, "j", "p");
	cr_assert_eq(call(c, wire_enc_hello(c->req, WIRE_MAX_FRAME, 1, 0, &m)), 0);
	cr_assert_eq(wire_dec_hello(c->pl, c->plen, &r), 0);
	cr_expect_eq(r.version, WIRE_PROTO_VERSION);
	cr_expect_eq(r.byte_order, __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__ ? WIRE_BO_BIG : WIRE_BO_LITTLE);
	cr_expect_eq(r.page_size, (uint32_t)page);
	cr_expect_eq(r.session, 7);
	cr_expect_eq(r.max_frame, cfg.max_frame);
	cr_expect(r.arch.len > 0);
	cr_expect(r.peer.len > 12 && memcmp(r.peer.p, "ckpt-server ", 12) == 0);
	cr_expect_eq(c_ping(c), 0);
	close(c->fd);
	c->fd = -1;
	cr_expect_eq(cli_join(c), 0, "EOF between frames is an orderly end");
	cli_free(c);
}

Test(session, hello_negotiates_down_to_our_version)
{
	struct cli *c = cli_start(&cfg);
	struct wire_hello m, r;

	memset(&m, 0, sizeof(m));
	m.version = WIRE_PROTO_VERSION + 3; /* the highest the client speaks */
	m.byte_order = WIRE_BO_LITTLE;
	m.max_frame = WIRE_MAX_FRAME;
	cr_assert_eq(call(c, wire_enc_hello(c->req, WIRE_MAX_FRAME, 1, 0, &m)), 0);
	cr_assert_eq(wire_dec_hello(c->pl, c->plen, &r), 0);
	cr_expect_eq(r.version, WIRE_PROTO_VERSION);
	cr_expect_eq(c_ping(c), 0);
	cli_free(c);
}

Test(session, hello_without_a_common_version_is_refused)
{
	struct cli *c = cli_start(&cfg);
	struct wire_hello m;

	memset(&m, 0, sizeof(m));
	m.version = 0;
	m.byte_order = WIRE_BO_LITTLE;
	m.max_frame = WIRE_MAX_FRAME;
	cr_expect_eq(call(c, wire_enc_hello(c->req, WIRE_MAX_FRAME, 1, 0, &m)), EPROTO);
	cr_expect_eq(recv_reply(c), 0, "then the session is closed");
	cr_expect_eq(cli_join(c), -1);
	cli_free(c);
}

Test(session, hello_with_a_tiny_max_frame_is_refused)
{
	struct cli *c = cli_start(&cfg);
	struct wire_hello m;

	memset(&m, 0, sizeof(m));
	m.version = WIRE_PROTO_VERSION;
	m.byte_order = WIRE_BO_LITTLE;
	m.max_frame = 4096; /* every peer must take 64 KiB */
	cr_expect_eq(call(c, wire_enc_hello(c->req, WIRE_MAX_FRAME, 1, 0, &m)), EPROTO);
	cr_expect_eq(recv_reply(c), 0);
	cli_free(c);
}

Test(session, first_request_must_be_hello)
{
	struct cli *c = cli_start(&cfg);
	long n = wire_enc_empty(c->req, WIRE_MAX_FRAME, WIRE_PING, 0, 1);

	send_bytes(c, c->req, (size_t)n);
	cr_expect_eq(recv_reply(c), 0, "a protocol error: closed without an answer");
	cr_expect_eq(cli_join(c), -1);
	cli_free(c);
}

Test(session, second_hello_is_an_error_but_not_fatal)
{
	struct cli *c = connect_hello();
	struct wire_hello m;

	memset(&m, 0, sizeof(m));
	m.version = WIRE_PROTO_VERSION;
	m.byte_order = WIRE_BO_LITTLE;
	m.max_frame = WIRE_MAX_FRAME;
	cr_expect_eq(call(c, wire_enc_hello(c->req, WIRE_MAX_FRAME, 9, 0, &m)), EPROTO);
	cr_expect_eq(c_ping(c), 0);
	cli_free(c);
}

/* ---- files ----------------------------------------------------------------------------- */

BOTH(create_write_read_stat_close)
{
	struct cli *c = connect_hello();
	struct wire_pwrite_reply wr;
	struct wire_stat st;
	struct wire_blob d;
	struct stat ls;
	char p[256];
	uint64_t h;

	cr_assert_eq(c_open(c, "f.txt", WIRE_O_RDWR | WIRE_O_CREAT | WIRE_O_EXCL, 0640, &h, &st), 0);
	cr_expect_eq(host_type(&st), S_IFREG);
	cr_expect_eq(st.size, 0);
	cr_expect_eq(wire_mode_to_host(st.mode) & 07777, 0640, "mode exactly as asked");
	cr_assert_eq(c_pwrite(c, h, 0, 0, "hello world", 11, &wr), 0);
	cr_expect_eq(wr.written, 11);
	cr_expect_eq(wr.end, 11);
	cr_assert_eq(c_pwrite(c, h, 6, 0, "WORLD", 5, &wr), 0);
	cr_expect_eq(wr.end, 11);
	cr_assert_eq(c_pread(c, h, 0, 100, &d), 0);
	cr_expect_eq(d.len, 11, "short at end of file");
	cr_expect(memcmp(d.p, "hello WORLD", 11) == 0);
	cr_assert_eq(c_pread(c, h, 11, 100, &d), 0);
	cr_expect_eq(d.len, 0, "empty at end of file");
	cr_assert_eq(c_fstat(c, h, &st), 0);
	cr_expect_eq(st.size, 11);
	cr_assert_eq(c_stat(c, "f.txt", 0, &st), 0);
	cr_expect_eq(st.size, 11);
	root_path(p, sizeof(p), "f.txt");
	cr_assert(stat(p, &ls) == 0);
	cr_expect_eq(st.ino, (uint64_t)ls.st_ino);
	cr_expect_eq(c_close(c, h), 0);
	cr_expect_eq(c_close(c, h), EBADF, "closed handle");
	cr_expect_eq(c_pread(c, h, 0, 1, &d), EBADF, "stale handle");
	cr_expect_eq(c_pread(c, 0, 0, 1, &d), EBADF, "handle 0");
	cr_expect_eq(c_pread(c, 0xdead00000001ull, 0, 1, &d), EBADF, "forged handle");
	cli_free(c);
}

Test(session, stale_handle_never_reaches_a_new_file)
{
	struct cli *c = connect_hello();
	struct wire_pwrite_reply wr;
	uint64_t h1, h2;

	root_file("a", "aaaa");
	root_file("b", "bbbb");
	cr_assert_eq(c_open(c, "a", WIRE_O_RDWR, 0, &h1, NULL), 0);
	cr_assert_eq(c_close(c, h1), 0);
	cr_assert_eq(c_open(c, "b", WIRE_O_RDWR, 0, &h2, NULL), 0);
	cr_expect_neq(h1, h2, "same slot, new generation");
	cr_expect_eq(c_pwrite(c, h1, 0, 0, "X", 1, &wr), EBADF);
	cli_free(c);
}

BOTH(errno_fidelity)
{
	struct cli *c = connect_hello();
	struct wire_pwrite_reply wr;
	struct wire_stat st;
	struct wire_blob d;
	uint64_t h;

	root_file("ro", "data");
	cr_assert(mkdirat(cfg.root_fd, "dir", 0755) == 0);
	cr_expect_eq(c_open(c, "missing", WIRE_O_RDONLY, 0, &h, NULL), ENOENT);
	cr_expect_eq(c_open(c, "missing/x", WIRE_O_RDONLY, 0, &h, NULL), ENOENT);
	cr_expect_eq(c_open(c, "ro/x", WIRE_O_RDONLY, 0, &h, NULL), ENOTDIR);
	cr_expect_eq(c_open(c, "dir", WIRE_O_WRONLY, 0, &h, NULL), EISDIR);
	cr_expect_eq(c_open(c, "ro", WIRE_O_RDONLY | WIRE_O_DIRECTORY, 0, &h, NULL), ENOTDIR);
	cr_expect_eq(c_open(c, "ro", WIRE_O_WRONLY | WIRE_O_CREAT | WIRE_O_EXCL, 0644, &h, NULL),
		     EEXIST);

	cr_assert_eq(c_open(c, "ro", WIRE_O_RDONLY, 0, &h, NULL), 0);
	cr_expect_eq(c_pwrite(c, h, 0, 0, "x", 1, &wr), EBADF, "write on a read-only handle");
	cr_expect_eq(c_pwrite(c, h, 0, WIRE_PWRITE_APPEND, "x", 1, &wr), EBADF);
	cr_expect_eq(c_close(c, h), 0);
	cr_assert_eq(c_open(c, "ro", WIRE_O_WRONLY, 0, &h, NULL), 0);
	cr_expect_eq(c_pread(c, h, 0, 4, &d), EBADF, "read on a write-only handle");
	cr_expect_eq(c_close(c, h), 0);

	/* a directory opens read-only (for fstat/fchdir/readdir) */
	cr_assert_eq(c_open(c, "dir", WIRE_O_RDONLY, 0, &h, &st), 0);
	cr_expect_eq(host_type(&st), S_IFDIR);
	cr_expect_eq(c_pread(c, h, 0, 4, &d), EISDIR);
	cr_expect_eq(c_close(c, h), 0);
	cr_assert_eq(c_open(c, "", WIRE_O_RDONLY | WIRE_O_DIRECTORY, 0, &h, &st), 0, "the root");
	cr_expect_eq(host_type(&st), S_IFDIR);
	cr_expect_eq(c_close(c, h), 0);
	/* O_PATH handles do no I/O */
	cr_assert_eq(c_open(c, "ro", WIRE_O_PATH, 0, &h, &st), 0);
	cr_expect_eq(c_pread(c, h, 0, 4, &d), EBADF);
	cr_expect_eq(c_close(c, h), 0);
	cli_free(c);
}

Test(session, append_is_atomic_at_the_end_and_pwrite_is_positioned)
{
	struct cli *c = connect_hello();
	struct wire_pwrite_reply wr;
	struct wire_blob d;
	uint64_t h, h2;

	root_file("log", "0123");
	cr_assert_eq(c_open(c, "log", WIRE_O_RDWR | WIRE_O_APPEND, 0, &h, NULL), 0);
	cr_assert_eq(c_open(c, "log", WIRE_O_RDWR, 0, &h2, NULL), 0);
	cr_assert_eq(c_pwrite(c, h, 0, WIRE_PWRITE_APPEND, "ab", 2, &wr), 0);
	cr_expect_eq(wr.written, 2);
	cr_expect_eq(wr.end, 6);
	/* another writer grows the file: the next append still lands at the end */
	cr_assert_eq(c_pwrite(c, h2, 6, 0, "XYZ", 3, &wr), 0);
	cr_assert_eq(c_pwrite(c, h, 0, WIRE_PWRITE_APPEND, "cd", 2, &wr), 0);
	cr_expect_eq(wr.end, 11);
	/* a positioned write on the same handle is not an append */
	cr_assert_eq(c_pwrite(c, h, 0, 0, "#", 1, &wr), 0);
	cr_expect_eq(wr.end, 1);
	cr_assert_eq(c_pwrite(c, h, 0, WIRE_PWRITE_APPEND, "e", 1, &wr), 0);
	cr_expect_eq(wr.end, 12);
	cr_assert_eq(c_pwrite(c, h, 0, WIRE_PWRITE_APPEND, "", 0, &wr), 0);
	cr_expect_eq(wr.written, 0);
	cr_expect_eq(wr.end, 12, "an empty append reports the end of file");
	cr_assert_eq(c_pread(c, h, 0, 64, &d), 0);
	cr_expect_eq(d.len, 12);
	cr_expect(memcmp(d.p, "#123abXYZcde", 12) == 0, "got %.*s", (int)d.len, d.p);
	cli_free(c);
}

Test(session, big_blocks_round_trip)
{
	struct cli *c = connect_hello();
	struct wire_pwrite_reply wr;
	struct wire_blob d;
	uint32_t n = 1u << 20;
	uint8_t *buf = malloc(WIRE_MAX_DATA);
	uint64_t h;

	cr_assert(buf);
	for (uint32_t i = 0; i < WIRE_MAX_DATA; i++)
		buf[i] = (uint8_t)(i * 2654435761u >> 24);
	cr_assert_eq(c_open(c, "big", WIRE_O_RDWR | WIRE_O_CREAT, 0600, &h, NULL), 0);
	for (uint32_t blk = 0; blk < 4; blk++) {
		cr_assert_eq(c_pwrite(c, h, (uint64_t)blk * n, 0, buf + blk * n, n, &wr), 0);
		cr_expect_eq(wr.written, n);
		cr_expect_eq(wr.end, (uint64_t)(blk + 1) * n);
	}
	for (uint32_t blk = 0; blk < 4; blk++) {
		cr_assert_eq(c_pread(c, h, (uint64_t)blk * n + 1, n, &d), 0);
		cr_expect_eq(d.len, blk == 3 ? n - 1 : n);
		cr_expect(memcmp(d.p, buf + blk * n + 1, d.len) == 0, "block %u", blk);
	}
	cr_assert_eq(c_pwrite(c, h, 7, 0, buf, WIRE_MAX_DATA, &wr), 0, "the largest write");
	cr_expect_eq(wr.written, WIRE_MAX_DATA);
	cr_assert_eq(c_pread(c, h, 7, WIRE_MAX_DATA, &d), 0, "the largest read");
	cr_expect_eq(d.len, WIRE_MAX_DATA);
	cr_expect(memcmp(d.p, buf, WIRE_MAX_DATA) == 0);
	free(buf);
	cli_free(c);
}

/* Big PWRITEs are written from the socket into the file (splice): a refused
 * one must still consume its data, and frames sent back to back must stay
 * in step. */
Test(session, big_writes_streamed_from_the_socket)
{
	struct cli *c = connect_hello();
	struct wire_pwrite_reply wr;
	struct wire_blob d;
	uint32_t n = 3u << 20;
	uint8_t *buf = malloc(n), *two = malloc(2 * (WIRE_PWRITE_HDR + (size_t)n));
	uint64_t h, ro;
	size_t len = 0;

	cr_assert(buf && two);
	for (uint32_t i = 0; i < n; i++)
		buf[i] = (uint8_t)(i * 2246822519u >> 24);
	root_file("ro", "read only");
	cr_assert_eq(c_open(c, "big", WIRE_O_RDWR | WIRE_O_CREAT, 0600, &h, NULL), 0);
	cr_assert_eq(c_open(c, "ro", WIRE_O_RDONLY, 0, &ro, NULL), 0);
	/* an unknown handle, then a read-only one: errors, the stream intact */
	cr_expect_eq(c_pwrite(c, 999999, 0, 0, buf, n, &wr), EBADF);
	cr_expect_eq(c_ping(c), 0);
	cr_expect_eq(c_pwrite(c, ro, 0, 0, buf, n, &wr), EBADF);
	cr_expect_eq(c_ping(c), 0);
	/* two big writes in one send: the second's header arrives with the
	 * first's data */
	for (int k = 0; k < 2; k++) {
		struct wire_pwrite m = { h, (uint64_t)k * n + 5, 0, { buf, n } };

		wire_enc_pwrite_hdr(two + len, 500 + (uint64_t)k, &m);
		len += WIRE_PWRITE_HDR;
		memcpy(two + len, buf, n);
		len += n;
	}
	send_bytes(c, two, len);
	for (int k = 0; k < 2; k++) {
		cr_assert(recv_reply(c));
		cr_expect_eq(c->rh.id, 500 + (uint64_t)k);
		cr_assert_eq(wire_dec_pwrite_reply(c->pl, c->plen, &wr), 0);
		cr_expect_eq(wr.written, n);
		cr_expect_eq(wr.end, (uint64_t)(k + 1) * n + 5);
	}
	for (int k = 0; k < 2; k++) {
		cr_assert_eq(c_pread(c, h, (uint64_t)k * n + 5, n, &d), 0);
		cr_expect_eq(d.len, n);
		cr_expect(memcmp(d.p, buf, n) == 0, "block %d", k);
	}
	cr_expect_eq(c_ping(c), 0);
	free(buf);
	free(two);
	cli_free(c);
}

Test(session, reads_are_capped_by_the_frame_limit)
{
	struct wire_blob d;
	struct cli *c;
	uint64_t h;
	char p[256];
	int fd;

	cfg.max_frame = 64 * 1024;
	root_path(p, sizeof(p), "f");
	fd = open(p, O_WRONLY | O_CREAT, 0644);
	cr_assert(fd >= 0 && ftruncate(fd, 1 << 20) == 0);
	close(fd);
	c = connect_hello();
	cr_assert_eq(c_open(c, "f", WIRE_O_RDONLY, 0, &h, NULL), 0);
	cr_assert_eq(c_pread(c, h, 0, 1 << 20, &d), 0);
	cr_expect_eq(d.len, 64 * 1024 - WIRE_DATA_REPLY_HDR, "a short read that fits the frame");
	cli_free(c);
}

Test(session, truncate_and_fsync)
{
	struct cli *c = connect_hello();
	struct wire_stat st;
	struct wire_ftruncate t;
	struct wire_fsync fs;
	uint64_t h;

	root_file("t", "0123456789");
	cr_assert_eq(c_open(c, "t", WIRE_O_RDWR, 0, &h, NULL), 0);
	t = (struct wire_ftruncate){ h, 3 };
	cr_expect_eq(call(c, wire_enc_ftruncate(c->req, WIRE_MAX_FRAME, nid(c), &t)), 0);
	fs = (struct wire_fsync){ h, 0 };
	cr_expect_eq(call(c, wire_enc_fsync(c->req, WIRE_MAX_FRAME, nid(c), &fs)), 0);
	fs.datasync = 1;
	cr_expect_eq(call(c, wire_enc_fsync(c->req, WIRE_MAX_FRAME, nid(c), &fs)), 0);
	cr_assert_eq(c_fstat(c, h, &st), 0);
	cr_expect_eq(st.size, 3);
	cr_expect_eq(c_close(c, h), 0);
	cr_assert_eq(c_open(c, "t", WIRE_O_RDONLY, 0, &h, NULL), 0);
	t = (struct wire_ftruncate){ h, 0 };
	cr_expect_eq(call(c, wire_enc_ftruncate(c->req, WIRE_MAX_FRAME, nid(c), &t)), EINVAL,
		     "ftruncate on a read-only fd, as the kernel says");
	cli_free(c);
}

/* ---- READ_FD (PROTOCOL.md 4.3) --------------------------------------------------------- */

/* HELLO as cli_hello does, with READ_FDS in the request if ask (a server
 * ignores it there): whether the reply offers READ_FDS. */
static int hello_read_fds(struct cli *c, int ask)
{
	struct wire_hello m, r;

	x86_hello(&m, "unit-job", "test client");
	m.read_fds = (uint8_t)ask;
	cr_assert_eq(call(c, wire_enc_hello(c->req, WIRE_MAX_FRAME, nid(c), 0, &m)), 0);
	cr_assert_eq(wire_dec_hello(c->pl, c->plen, &r), 0);
	cr_expect_eq(r.session, 7);
	return r.read_fds;
}

/* READ_FD: 0 and the descriptor in *fd, or the errno (*fd -1). A result
 * must be an empty reply with exactly one descriptor, an error reply must
 * come without any. */
static int c_read_fd(struct cli *c, uint64_t h, int *fd)
{
	struct wire_handle m = { h };
	int fds[4], nfd, e;

	*fd = -1;
	e = call_fds(c, wire_enc_handle(c->req, WIRE_MAX_FRAME, WIRE_READ_FD, nid(c), &m), fds, 4,
		     &nfd);
	if (e || nfd != 1) {
		for (int i = 0; i < nfd; i++)
			close(fds[i]);
		cr_assert_eq(nfd, e ? 0 : 1, "%s with %d descriptors",
			     e ? "an error reply" : "a result", nfd);
		return e;
	}
	cr_expect_eq(c->plen, 0, "the reply is empty");
	*fd = fds[0];
	return 0;
}

/* The descriptors open in this process (the session thread's included). */
static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	cr_assert(d);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* not the one of opendir */
}

/* fd, from READ_FD, is a new read-only, close-on-exec open of the file
 * name under the root, holding want. */
static void expect_read_fd_of(int fd, const char *name, const char *want)
{
	struct stat fs, ps;
	char p[256], buf[256];
	size_t n = strlen(want);
	int fl;

	root_path(p, sizeof(p), name);
	cr_assert(stat(p, &ps) == 0);
	cr_assert(fstat(fd, &fs) == 0, "fstat: %s", strerror(errno));
	cr_expect(S_ISREG(fs.st_mode));
	cr_expect_eq(fs.st_dev, ps.st_dev, "same device");
	cr_expect_eq(fs.st_ino, ps.st_ino, "same inode");
	cr_expect_eq(fs.st_size, (off_t)n);
	fl = fcntl(fd, F_GETFL);
	cr_assert(fl >= 0);
	cr_expect_eq(fl & O_ACCMODE, O_RDONLY, "access mode %#x", fl & O_ACCMODE);
	cr_expect_eq(fl & O_APPEND, 0, "no status flag of the server's descriptor");
	cr_expect(fcntl(fd, F_GETFD) & FD_CLOEXEC, "received with MSG_CMSG_CLOEXEC");
	memset(buf, 0, sizeof(buf));
	cr_expect_eq(pread(fd, buf, sizeof(buf), 0), (ssize_t)n);
	cr_expect(memcmp(buf, want, n) == 0, "read \"%.*s\", want \"%s\"", (int)n, buf, want);
	errno = 0;
	cr_expect(write(fd, "x", 1) < 0 && errno == EBADF, "not writable");
}

Test(session, hello_offers_read_fds_to_our_own_user)
{
	struct cli *c = cli_start(&cfg);
	uint64_t h;
	int fd;

	/* a socketpair: a unix socket whose peer is this process, our uid */
	cr_expect_eq(hello_read_fds(c, 0), 1);
	root_file("f", "data");
	cr_assert_eq(c_open(c, "f", WIRE_O_RDONLY, 0, &h, NULL), 0);
	cr_assert_eq(c_read_fd(c, h, &fd), 0, "%s", c->msg);
	expect_read_fd_of(fd, "f", "data");
	close(fd);
	cli_free(c);
}

Test(session, no_read_fds_answers_enotsup)
{
	struct cli *c;
	uint64_t h;
	int fd;

	cfg.no_read_fds = 1;
	c = cli_start(&cfg);
	/* READ_FDS in the request grants nothing */
	cr_expect_eq(hello_read_fds(c, 1), 0);
	root_file("f", "data");
	cr_assert_eq(c_open(c, "f", WIRE_O_RDONLY, 0, &h, NULL), 0);
	cr_expect_eq(c_read_fd(c, h, &fd), ENOTSUP);
	cr_expect(c->msg[0], "the error says why");
	cr_expect_eq(c_read_fd(c, 0xdead00000001ull, &fd), ENOTSUP, "before the handle is looked at");
	cr_expect_eq(c_ping(c), 0, "an error reply, not a protocol error");
	cli_free(c);
}

/* A connected pair of tcp sockets on the loopback: *a ours, *b the session's. */
static void tcp_pair(int *a, int *b)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert(l >= 0, "socket: %s", strerror(errno));
	cr_assert(bind(l, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(l, 1) == 0);
	cr_assert(getsockname(l, (struct sockaddr *)&sa, &sl) == 0);
	*a = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert(*a >= 0 && connect(*a, (struct sockaddr *)&sa, sizeof(sa)) == 0,
		  "connect: %s", strerror(errno));
	*b = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	cr_assert(*b >= 0, "accept: %s", strerror(errno));
	close(l);
}

Test(session, read_fds_not_offered_over_tcp)
{
	struct cli *c;
	uint64_t h;
	int a, b, fd;

	tcp_pair(&a, &b);
	c = cli_start_on(&cfg, a, b);
	/* the same host and user, but not a unix socket: no SO_PEERCRED */
	cr_expect_eq(hello_read_fds(c, 1), 0);
	root_file("f", "data");
	cr_assert_eq(c_open(c, "f", WIRE_O_RDONLY, 0, &h, NULL), 0);
	cr_expect_eq(c_read_fd(c, h, &fd), ENOTSUP);
	cr_expect_eq(c_ping(c), 0);
	cli_free(c);
}

/* A socketpair made by a child running as uid, so that SO_PEERCRED says
 * uid on both ends, handed back to us: *a ours, *b the session's. 0, or
 * -1 if the child could not become uid. */
static int foreign_pair(uid_t uid, int *a, int *b)
{
	struct cli t;
	int ch[2], fds[2], nfd = 0, st;
	pid_t pid;

	cr_assert(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ch) == 0);
	pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		int sv[2];
		union {
			struct cmsghdr h;
			char b[CMSG_SPACE(sizeof(sv))];
		} u;
		struct iovec v = { "x", 1 };
		struct msghdr mh = { .msg_iov = &v, .msg_iovlen = 1, .msg_control = u.b,
				     .msg_controllen = sizeof(u.b) };
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);

		close(ch[0]);
		if (setresuid(uid, uid, uid) < 0 ||
		    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
			_exit(1);
		memset(&u, 0, sizeof(u));
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(sv));
		memcpy(CMSG_DATA(cm), sv, sizeof(sv));
		_exit(sendmsg(ch[1], &mh, 0) == 1 ? 0 : 2);
	}
	close(ch[1]);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st));
	if (WEXITSTATUS(st) == 1) {
		close(ch[0]);
		return -1;
	}
	cr_assert_eq(WEXITSTATUS(st), 0);
	memset(&t, 0, sizeof(t));
	t.fd = ch[0];
	cr_assert(recv_bytes_fds(&t, &st, 1, fds, 2, &nfd));
	close(ch[0]);
	cr_assert_eq(nfd, 2);
	*a = fds[0];
	*b = fds[1];
	return 0;
}

Test(session, read_fds_not_offered_to_another_user)
{
	static const uint32_t other = 65534; /* nobody */
	struct cli *c;
	uint64_t h;
	int a, b, fd;

	if (geteuid() != 0 || foreign_pair(other, &a, &b) < 0)
		cr_skip_test("needs root, to make a unix peer of another uid");
	cfg.allow_uids = &other; /* served, as --allow-uid 65534 */
	cfg.n_allow_uids = 1;
	c = cli_start_on(&cfg, a, b);
	cr_expect_eq(hello_read_fds(c, 1), 0, "uid %u is not the server's", other);
	root_file("f", "data");
	cr_assert_eq(c_open(c, "f", WIRE_O_RDONLY, 0, &h, NULL), 0);
	cr_expect_eq(c_read_fd(c, h, &fd), ENOTSUP);
	cli_free(c);
}

/* The descriptor reads the file itself: what the session writes is there
 * at once, whatever the handle's access mode and flags. */
Test(session, read_fd_reads_the_file_as_the_session_writes_it)
{
	struct cli *c = connect_hello();
	struct wire_pwrite_reply wr;
	struct wire_ftruncate t;
	struct wire_blob d;
	uint64_t hr, hw, ha;
	int fr, fw, fa;
	char buf[64];

	root_file("f", "0123456789");
	cr_assert_eq(c_open(c, "f", WIRE_O_RDONLY, 0, &hr, NULL), 0);
	cr_assert_eq(c_open(c, "f", WIRE_O_RDWR, 0, &hw, NULL), 0);
	cr_assert_eq(c_open(c, "f", WIRE_O_RDWR | WIRE_O_APPEND, 0, &ha, NULL), 0);
	cr_assert_eq(c_read_fd(c, hr, &fr), 0, "%s", c->msg);
	cr_assert_eq(c_read_fd(c, hw, &fw), 0, "%s", c->msg);
	cr_assert_eq(c_read_fd(c, ha, &fa), 0, "%s", c->msg);
	expect_read_fd_of(fr, "f", "0123456789");
	expect_read_fd_of(fw, "f", "0123456789");
	expect_read_fd_of(fa, "f", "0123456789");
	/* each READ_FD opens the file anew: three open file descriptions */
	cr_expect(lseek(fr, 4, SEEK_SET) == 4 && lseek(fw, 0, SEEK_CUR) == 0, "two share an offset");

	/* writes through the session, then reads from the descriptors */
	cr_assert_eq(c_pwrite(c, hw, 2, 0, "ABC", 3, &wr), 0);
	cr_assert_eq(c_pwrite(c, ha, 0, WIRE_PWRITE_APPEND, "XYZ", 3, &wr), 0);
	cr_expect_eq(wr.end, 13);
	for (int i = 0; i < 3; i++) {
		int fd = i == 0 ? fr : i == 1 ? fw : fa;

		memset(buf, 0, sizeof(buf));
		cr_expect_eq(pread(fd, buf, sizeof(buf), 0), 13, "descriptor %d", i);
		cr_expect_str_eq(buf, "01ABC56789XYZ", "descriptor %d", i);
	}
	t = (struct wire_ftruncate){ hw, 4 };
	cr_assert_eq(call(c, wire_enc_ftruncate(c->req, WIRE_MAX_FRAME, nid(c), &t)), 0);
	memset(buf, 0, sizeof(buf));
	cr_expect_eq(pread(fr, buf, sizeof(buf), 0), 4, "the truncation is seen");
	cr_expect_str_eq(buf, "01AB");
	/* and the other way round: the session sees the file as it is too */
	cr_assert_eq(c_pread(c, hr, 0, 64, &d), 0);
	cr_expect(d.len == 4 && memcmp(d.p, "01AB", 4) == 0);

	/* a descriptor is the client's: it outlives the handle and the session */
	cr_expect_eq(c_close(c, hr), 0);
	cli_free(c);
	memset(buf, 0, sizeof(buf));
	cr_expect_eq(pread(fr, buf, sizeof(buf), 0), 4);
	cr_expect_str_eq(buf, "01AB");
	close(fr);
	close(fw);
	close(fa);
}

/* The file is reopened through the server's descriptor, not its path: a
 * file renamed over the name or unlinked is still the handle's file. */
Test(session, read_fd_follows_the_handle_not_the_path)
{
	struct cli *c = connect_hello();
	struct stat old, fs;
	char p[256], q[256];
	uint64_t h;
	int fd;

	root_file("f", "old content");
	root_file("g", "new");
	root_path(p, sizeof(p), "f");
	root_path(q, sizeof(q), "g");
	cr_assert(stat(p, &old) == 0);
	cr_assert_eq(c_open(c, "f", WIRE_O_RDONLY, 0, &h, NULL), 0);
	cr_assert(rename(q, p) == 0);
	cr_assert_eq(c_read_fd(c, h, &fd), 0, "%s", c->msg);
	cr_assert(fstat(fd, &fs) == 0);
	cr_expect(fs.st_dev == old.st_dev && fs.st_ino == old.st_ino, "the file renamed over");
	cr_expect_eq(fs.st_nlink, 0, "which has no name any more");
	{
		char buf[32] = { 0 };

		cr_expect_eq(pread(fd, buf, sizeof(buf), 0), 11);
		cr_expect_str_eq(buf, "old content");
	}
	close(fd);
	cli_free(c);
}

Test(session, read_fd_refuses_what_it_cannot_serve)
{
	struct cli *c = connect_hello();
	uint64_t h;
	int fd;

	root_file("f", "data");
	cr_assert(mkdirat(cfg.root_fd, "dir", 0755) == 0);
	cr_assert(mkfifoat(cfg.root_fd, "fifo", 0644) == 0);
	/* not open for reading */
	cr_assert_eq(c_open(c, "f", WIRE_O_WRONLY, 0, &h, NULL), 0);
	cr_expect_eq(c_read_fd(c, h, &fd), EBADF, "write-only");
	cr_assert_eq(c_open(c, "f", WIRE_O_PATH, 0, &h, NULL), 0);
	cr_expect_eq(c_read_fd(c, h, &fd), EBADF, "O_PATH");
	/* open for reading, but not a regular file */
	cr_assert_eq(c_open(c, "dir", WIRE_O_RDONLY | WIRE_O_DIRECTORY, 0, &h, NULL), 0);
	cr_expect_eq(c_read_fd(c, h, &fd), EINVAL, "a directory");
	cr_assert_eq(c_open(c, "", WIRE_O_RDONLY, 0, &h, NULL), 0);
	cr_expect_eq(c_read_fd(c, h, &fd), EINVAL, "the root, opened without O_DIRECTORY");
	cr_assert_eq(c_open(c, "fifo", WIRE_O_RDONLY, 0, &h, NULL), 0);
	cr_expect_eq(c_read_fd(c, h, &fd), EINVAL, "a FIFO");
	/* no such handle */
	cr_expect_eq(c_read_fd(c, 0, &fd), EBADF, "handle 0");
	cr_expect_eq(c_read_fd(c, 0xdead00000001ull, &fd), EBADF, "forged handle");
	cr_assert_eq(c_open(c, "f", WIRE_O_RDONLY, 0, &h, NULL), 0);
	cr_assert_eq(c_close(c, h), 0);
	cr_expect_eq(c_read_fd(c, h, &fd), EBADF, "closed handle");
	cr_expect_eq(c_ping(c), 0, "error replies: the session goes on");
	cli_free(c);
}

/* Each descriptor sent is the client's only: the server keeps no copy,
 * on success or error, and nothing is left once the session ends. */
Test(session, read_fd_leaks_no_descriptors)
{
	int before = count_fds(), during;
	struct cli *c = connect_hello();
	uint64_t hr, hw, hd;
	int fd;

	root_file("f", "data");
	cr_assert(mkdirat(cfg.root_fd, "dir", 0755) == 0);
	cr_assert_eq(c_open(c, "f", WIRE_O_RDONLY, 0, &hr, NULL), 0);
	cr_assert_eq(c_open(c, "f", WIRE_O_WRONLY, 0, &hw, NULL), 0);
	cr_assert_eq(c_open(c, "dir", WIRE_O_RDONLY | WIRE_O_DIRECTORY, 0, &hd, NULL), 0);
	during = count_fds();
	cr_expect_eq(during, before + 2 + 3, "the socketpair and the three handles");
	for (int i = 0; i < 50; i++) {
		int got;

		cr_assert_eq(c_read_fd(c, hr, &got), 0, "%s", c->msg);
		cr_expect_eq(c_read_fd(c, hw, &fd), EBADF);
		cr_expect_eq(c_read_fd(c, hd, &fd), EINVAL);
		cr_expect_eq(c_read_fd(c, 77, &fd), EBADF);
		/* the server closes its copy once sent, so by the time the
		 * next request is answered only ours is left */
		cr_expect_eq(count_fds(), during + 1, "round %d: ours, and no copy left", i);
		close(got);
	}
	cr_expect_eq(count_fds(), during);
	cli_free(c);
	cr_expect_eq(count_fds(), before);
}

/* Pipelined requests: each descriptor comes with its own reply, never with
 * another's. */
Test(session, read_fds_travel_with_their_replies)
{
	struct cli *c = connect_hello();
	struct wire_handle m;
	struct stat fs, ps;
	uint8_t all[6 * 32];
	size_t len = 0;
	uint64_t ha, hb;
	char p[256];

	root_file("a", "aaa");
	root_file("b", "bbbbbb");
	cr_assert_eq(c_open(c, "a", WIRE_O_RDONLY, 0, &ha, NULL), 0);
	cr_assert_eq(c_open(c, "b", WIRE_O_RDWR, 0, &hb, NULL), 0);
	/* PING, READ_FD a, PING, READ_FD b, READ_FD unknown, PING: ids 1000.. */
	for (int i = 0; i < 6; i++) {
		long n;

		if (i == 0 || i == 2 || i == 5) {
			n = wire_enc_empty(all + len, 32, WIRE_PING, 0, 1000 + (uint64_t)i);
		} else {
			m.handle = i == 1 ? ha : i == 3 ? hb : 0x77;
			n = wire_enc_handle(all + len, 32, WIRE_READ_FD, 1000 + (uint64_t)i, &m);
		}
		cr_assert(n > 0);
		len += (size_t)n;
	}
	send_bytes(c, all, len);
	for (int i = 0; i < 6; i++) {
		int fds[4], nfd, ok = i == 1 || i == 3;

		cr_assert(recv_reply_fds(c, fds, 4, &nfd));
		cr_expect_eq(c->rh.id, 1000 + (uint64_t)i);
		cr_expect_eq(c->rh.type, i == 0 || i == 2 || i == 5 ? WIRE_PING : WIRE_READ_FD);
		cr_expect_eq(!!(c->rh.flags & WIRE_F_ERROR), i == 4);
		cr_expect_eq(nfd, ok, "reply %d: %d descriptors", i, nfd);
		if (ok && nfd == 1) {
			root_path(p, sizeof(p), i == 1 ? "a" : "b");
			cr_assert(stat(p, &ps) == 0 && fstat(fds[0], &fs) == 0);
			cr_expect_eq(fs.st_ino, ps.st_ino, "reply %d: the file of its handle", i);
			cr_expect_eq(fs.st_size, i == 1 ? 3 : 6);
		}
		for (int k = 0; k < nfd; k++)
			close(fds[k]);
	}
	cr_expect_eq(c_ping(c), 0);
	cli_free(c);
}

/* ---- namespace ------------------------------------------------------------------------- */

BOTH(mkdir_rename_unlink_rmdir)
{
	struct cli *c = connect_hello();
	struct wire_stat st;

	cr_expect_eq(c_path(c, WIRE_MKDIR, "d", 0, 0750), 0);
	cr_assert_eq(c_stat(c, "d", 0, &st), 0);
	cr_expect_eq(host_type(&st), S_IFDIR);
	cr_expect_eq(wire_mode_to_host(st.mode) & 07777, 0750);
	cr_expect_eq(c_path(c, WIRE_MKDIR, "d", 0, 0750), EEXIST);
	cr_expect_eq(c_path(c, WIRE_MKDIR, "", 0, 0750), EEXIST);
	cr_expect_eq(c_path(c, WIRE_MKDIR, "nope/d", 0, 0750), ENOENT);
	root_file("d/f", "x");
	root_file("g", "y");
	cr_expect_eq(c_path(c, WIRE_UNLINK, "d", WIRE_AT_REMOVEDIR, 0), ENOTEMPTY);
	cr_expect_eq(c_path(c, WIRE_UNLINK, "d", 0, 0), EISDIR);
	cr_expect_eq(c_path(c, WIRE_UNLINK, "g", WIRE_AT_REMOVEDIR, 0), ENOTDIR);
	cr_expect_eq(c_two(c, WIRE_RENAME, "g", "d/f", WIRE_RENAME_NOREPLACE), EEXIST);
	cr_expect_eq(c_two(c, WIRE_RENAME, "g", "d/f2", 0), 0);
	cr_expect_eq(c_stat(c, "g", 0, &st), ENOENT);
	cr_expect_eq(c_two(c, WIRE_RENAME, "d/f", "d/f2", WIRE_RENAME_EXCHANGE), 0);
	cr_expect_eq(c_two(c, WIRE_RENAME, "", "x", 0), EBUSY);
	cr_expect_eq(c_path(c, WIRE_UNLINK, "d/f", 0, 0), 0);
	cr_expect_eq(c_path(c, WIRE_UNLINK, "d/f2", 0, 0), 0);
	cr_expect_eq(c_path(c, WIRE_UNLINK, "d/f2", 0, 0), ENOENT);
	cr_expect_eq(c_path(c, WIRE_UNLINK, "d", WIRE_AT_REMOVEDIR, 0), 0);
	cr_expect_eq(c_path(c, WIRE_UNLINK, "", WIRE_AT_REMOVEDIR, 0), EBUSY);
	cli_free(c);
}

BOTH(symlink_readlink_link_stat_access_statfs)
{
	struct cli *c = connect_hello();
	struct wire_statfs_reply sf;
	struct wire_stat st;
	struct wire_str s;
	uint64_t h;

	root_file("target", "tt");
	cr_expect_eq(c_two(c, WIRE_SYMLINK, "target", "ln", 0), 0);
	cr_expect_eq(c_two(c, WIRE_SYMLINK, "/etc/passwd", "abs", 0), 0, "any content is stored");
	cr_expect_eq(c_two(c, WIRE_SYMLINK, "x", "ln", 0), EEXIST);
	cr_assert_eq(c_path(c, WIRE_READLINK, "abs", 0, 0), 0);
	cr_assert_eq(wire_dec_str_reply(c->pl, c->plen, &s), 0);
	cr_expect(s.len == 11 && memcmp(s.p, "/etc/passwd", 11) == 0);
	cr_expect_eq(c_path(c, WIRE_READLINK, "target", 0, 0), EINVAL);
	cr_assert_eq(c_stat(c, "ln", WIRE_AT_NOFOLLOW, &st), 0);
	cr_expect_eq(host_type(&st), S_IFLNK);
	cr_assert_eq(c_stat(c, "ln", 0, &st), 0);
	cr_expect_eq(host_type(&st), S_IFREG);
	cr_expect_eq(st.size, 2);
	cr_assert_eq(c_stat(c, "abs", WIRE_AT_NOFOLLOW, &st), 0, "the link itself is inside");
	cr_expect_eq(c_stat(c, "abs", 0, &st), EACCES, "following it leaves the root");
	cr_expect_eq(c_open(c, "abs", WIRE_O_RDONLY, 0, &h, NULL), EACCES);

	cr_expect_eq(c_two(c, WIRE_LINK, "target", "hard", 0), 0);
	cr_assert_eq(c_stat(c, "hard", 0, &st), 0);
	cr_expect_eq(st.nlink, 2);
	cr_expect_eq(c_two(c, WIRE_LINK, "abs", "abs2", 0), 0, "links the symlink, not /etc/passwd");
	cr_assert_eq(c_stat(c, "abs2", WIRE_AT_NOFOLLOW, &st), 0);
	cr_expect_eq(host_type(&st), S_IFLNK);

	cr_expect_eq(c_path(c, WIRE_ACCESS, "target", 0, WIRE_R_OK | WIRE_W_OK), 0);
	cr_expect_eq(c_path(c, WIRE_ACCESS, "missing", 0, WIRE_F_OK), ENOENT);
	cr_expect_eq(c_path(c, WIRE_ACCESS, "abs", 0, WIRE_F_OK), EACCES);
	cr_expect_eq(c_path(c, WIRE_ACCESS, "target", WIRE_AT_EACCESS, WIRE_R_OK), 0);
	cr_expect_eq(c_path(c, WIRE_ACCESS, "target", 0, 8), EINVAL);
	cr_expect_eq(c_path(c, WIRE_ACCESS, "target", WIRE_AT_NOFOLLOW, 0), EINVAL,
		     "a flag not listed for ACCESS");

	cr_assert_eq(c_path(c, WIRE_STATFS, "", 0, 0), 0);
	cr_assert_eq(wire_dec_statfs_reply(c->pl, c->plen, &sf), 0);
	cr_expect(sf.bsize > 0 && sf.namemax >= 255);
	cli_free(c);
}

BOTH(setattr_by_path_and_handle)
{
	struct cli *c = connect_hello();
	struct wire_setattr m;
	struct wire_stat st;
	uint64_t h;

	root_file("f", "0123456789");
	memset(&m, 0, sizeof(m));
	m.path = S("f");
	m.valid = WIRE_SET_MODE | WIRE_SET_SIZE | WIRE_SET_ATIME | WIRE_SET_MTIME | WIRE_SET_UID |
		  WIRE_SET_GID;
	m.mode = 0600;
	m.size = 4;
	m.uid = 0xffffffffu;
	m.gid = 0xffffffffu;
	m.atime_sec = 1000000000;
	m.atime_nsec = 5;
	m.mtime_sec = 1200000000;
	m.mtime_nsec = 7;
	cr_assert_eq(call(c, wire_enc_setattr(c->req, WIRE_MAX_FRAME, nid(c), &m)), 0);
	cr_assert_eq(c_stat(c, "f", 0, &st), 0);
	cr_expect_eq(wire_mode_to_host(st.mode) & 07777, 0600);
	cr_expect_eq(st.size, 4);
	cr_expect_eq(st.atime_sec, 1000000000);
	cr_expect_eq(st.mtime_sec, 1200000000);
	cr_expect_eq(st.mtime_nsec, 7);
	cr_expect_eq(st.uid, (uint32_t)getuid());

	cr_assert_eq(c_open(c, "f", WIRE_O_RDWR, 0, &h, NULL), 0);
	memset(&m, 0, sizeof(m));
	m.handle = h;
	m.valid = WIRE_SET_MODE | WIRE_SET_SIZE | WIRE_SET_MTIME_NOW;
	m.mode = 0644;
	m.size = 100;
	cr_assert_eq(call(c, wire_enc_setattr(c->req, WIRE_MAX_FRAME, nid(c), &m)), 0);
	cr_assert_eq(c_fstat(c, h, &st), 0);
	cr_expect_eq(wire_mode_to_host(st.mode) & 07777, 0644);
	cr_expect_eq(st.size, 100);
	cr_expect(st.mtime_sec > 1200000000);

	/* path-based, the symlink itself vs its target */
	cr_assert_eq(c_two(c, WIRE_SYMLINK, "f", "ln", 0), 0);
	memset(&m, 0, sizeof(m));
	m.path = S("ln");
	m.flags = WIRE_AT_NOFOLLOW;
	m.valid = WIRE_SET_MTIME;
	m.mtime_sec = 1300000000;
	cr_assert_eq(call(c, wire_enc_setattr(c->req, WIRE_MAX_FRAME, nid(c), &m)), 0);
	cr_assert_eq(c_stat(c, "ln", WIRE_AT_NOFOLLOW, &st), 0);
	cr_expect_eq(st.mtime_sec, 1300000000);
	cr_assert_eq(c_stat(c, "f", 0, &st), 0);
	cr_expect_neq(st.mtime_sec, 1300000000);
	m.valid = WIRE_SET_MODE;
	cr_expect_eq(call(c, wire_enc_setattr(c->req, WIRE_MAX_FRAME, nid(c), &m)), EOPNOTSUPP);
	cr_assert(mkdirat(cfg.root_fd, "dir", 0755) == 0);
	memset(&m, 0, sizeof(m));
	m.path = S("dir");
	m.valid = WIRE_SET_SIZE;
	cr_expect_eq(call(c, wire_enc_setattr(c->req, WIRE_MAX_FRAME, nid(c), &m)), EISDIR);
	m.handle = 0x12345;
	cr_expect_eq(call(c, wire_enc_setattr(c->req, WIRE_MAX_FRAME, nid(c), &m)), EBADF);
	cli_free(c);
}

Test(session, readdir_pages_through_a_big_directory)
{
	struct cli *c = connect_hello();
	enum { N = 300 };
	char seen[N] = { 0 };
	int dots = 0, total = 0, rounds = 0;
	uint64_t h, cookie = 0;
	uint8_t eof = 0;

	cr_assert(mkdirat(cfg.root_fd, "d", 0755) == 0);
	for (int i = 0; i < N; i++) {
		char name[128];

		snprintf(name, sizeof(name), "d/entry-with-a-longish-name-%04d", i);
		root_file(name, "");
	}
	cr_assert_eq(c_open(c, "d", WIRE_O_RDONLY | WIRE_O_DIRECTORY, 0, &h, NULL), 0);
	while (!eof) {
		struct wire_readdir q = { h, cookie, 1024 };
		struct wire_readdir_reply r;
		struct wire_dirent e;
		int k;

		cr_assert_eq(call(c, wire_enc_readdir(c->req, WIRE_MAX_FRAME, nid(c), &q)), 0);
		cr_assert_eq(wire_dec_readdir_reply(c->pl, c->plen, &r), 0);
		cr_assert(r.count > 0 || r.eof);
		cr_assert(c->plen <= 1024);
		while ((k = wire_dirent_next(&r, &e)) == 1) {
			int i;

			total++;
			cookie = e.next;
			if ((e.name.len == 1 && e.name.p[0] == '.') ||
			    (e.name.len == 2 && memcmp(e.name.p, "..", 2) == 0)) {
				dots++;
				continue;
			}
			cr_assert_eq(sscanf(e.name.p, "entry-with-a-longish-name-%04d", &i), 1);
			cr_assert(i >= 0 && i < N);
			cr_expect_eq(seen[i], 0, "entry %d twice", i);
			seen[i] = 1;
			cr_expect_eq(wire_dtype_to_host(e.type), DT_REG);
		}
		cr_assert_eq(k, 0);
		eof = r.eof;
		cr_assert(++rounds < 1000);
	}
	cr_expect_eq(dots, 2);
	cr_expect_eq(total, N + 2);
	cr_expect(rounds > 5, "paged: %d rounds", rounds);
	for (int i = 0; i < N; i++)
		cr_expect(seen[i], "entry %d missing", i);

	/* cookie 0 rewinds */
	{
		struct wire_readdir q = { h, 0, 1 << 20 };
		struct wire_readdir_reply r;

		cr_assert_eq(call(c, wire_enc_readdir(c->req, WIRE_MAX_FRAME, nid(c), &q)), 0);
		cr_assert_eq(wire_dec_readdir_reply(c->pl, c->plen, &r), 0);
		cr_expect_eq(r.count, N + 2);
		cr_expect_eq(r.eof, 1);
		q.max_bytes = 8;
		cr_expect_eq(call(c, wire_enc_readdir(c->req, WIRE_MAX_FRAME, nid(c), &q)), EINVAL,
			     "too small for one entry");
	}
	/* a file handle is not a directory */
	root_file("plain", "");
	{
		uint64_t fh;
		struct wire_readdir q;

		cr_assert_eq(c_open(c, "plain", WIRE_O_RDONLY, 0, &fh, NULL), 0);
		q = (struct wire_readdir){ fh, 0, 4096 };
		cr_expect_eq(call(c, wire_enc_readdir(c->req, WIRE_MAX_FRAME, nid(c), &q)), ENOTDIR);
	}
	cli_free(c);
}

/* ---- confinement ----------------------------------------------------------------------- */

BOTH(bad_paths_are_refused_and_the_session_goes_on)
{
	struct cli *c = connect_hello();
	char longname[300], longpath[WIRE_MAX_PATH];
	char p[256];

	memset(longname, 'n', sizeof(longname));
	for (size_t i = 0; i < sizeof(longpath); i++)
		longpath[i] = (i % 100 == 99) ? '/' : 'a';
	cr_expect_eq(call(c, raw_open(c, "..", 2, WIRE_O_RDONLY)), EACCES);
	cr_expect_eq(call(c, raw_open(c, "../etc/passwd", 13, WIRE_O_RDONLY)), EACCES);
	cr_expect_eq(call(c, raw_open(c, "a/../../x", 9, WIRE_O_RDONLY)), EACCES);
	cr_expect_eq(call(c, raw_open(c, "/etc/passwd", 11, WIRE_O_RDONLY)), EACCES);
	cr_expect_eq(call(c, raw_open(c, "a//b", 4, WIRE_O_RDONLY)), EINVAL);
	cr_expect_eq(call(c, raw_open(c, "a/", 2, WIRE_O_RDONLY)), EINVAL);
	cr_expect_eq(call(c, raw_open(c, "./a", 3, WIRE_O_RDONLY)), EINVAL);
	cr_expect_eq(call(c, raw_open(c, "a\0b", 3, WIRE_O_RDONLY)), EINVAL);
	cr_expect_eq(call(c, raw_open(c, longname, 256, WIRE_O_RDONLY)), ENAMETOOLONG);
	cr_expect_eq(call(c, raw_open(c, longpath, WIRE_MAX_PATH, WIRE_O_RDONLY)), ENAMETOOLONG);
	cr_expect_eq(call(c, raw_open(c, longpath, WIRE_MAX_PATH - 1, WIRE_O_RDONLY)), ENOENT,
		     "4095 bytes is a legal length");
	/* the same through the other families */
	{
		struct wire_wr w;

		wire_frame_begin(&w, c->req, WIRE_MAX_FRAME, WIRE_RENAME, 0, nid(c));
		wire_put_str(&w, "../x", 4);
		wire_put_str(&w, "y", 1);
		wire_put_u32(&w, 0);
		cr_expect_eq(call(c, wire_frame_end(&w)), EACCES);
		wire_frame_begin(&w, c->req, WIRE_MAX_FRAME, WIRE_UNLINK, 0, nid(c));
		wire_put_str(&w, "/etc/passwd", 11);
		wire_put_u32(&w, 0);
		wire_put_u32(&w, 0);
		cr_expect_eq(call(c, wire_frame_end(&w)), EACCES);
	}
	/* symlinks leading out */
	cr_assert(symlinkat("/etc", cfg.root_fd, "etc") == 0);
	cr_assert(symlinkat("../../../../../../..", cfg.root_fd, "up") == 0);
	cr_assert(symlinkat("/proc/self/root", cfg.root_fd, "pr") == 0);
	{
		uint64_t h;
		struct wire_stat st;

		cr_expect_eq(c_open(c, "etc/passwd", WIRE_O_RDONLY, 0, &h, NULL), EACCES);
		cr_expect_eq(c_open(c, "up/etc/passwd", WIRE_O_RDONLY, 0, &h, NULL), EACCES);
		cr_expect_eq(c_open(c, "pr/etc/passwd", WIRE_O_RDONLY, 0, &h, NULL), EACCES);
		cr_expect_eq(c_open(c, "etc/evil", WIRE_O_WRONLY | WIRE_O_CREAT, 0644, &h, NULL), EACCES);
		cr_expect_eq(c_stat(c, "up/etc", 0, &st), EACCES);
		cr_expect_eq(c_path(c, WIRE_MKDIR, "etc/evil", 0, 0755), EACCES);
		cr_expect_eq(c_path(c, WIRE_UNLINK, "etc/passwd", 0, 0), EACCES);
		cr_expect_eq(c_two(c, WIRE_RENAME, "etc/passwd", "stolen", 0), EACCES);
		cr_expect_eq(c_two(c, WIRE_LINK, "up/etc/passwd", "stolen", 0), EACCES);
		cr_expect_eq(c_two(c, WIRE_SYMLINK, "x", "up/tmp/evil", 0), EACCES);
		cr_expect_eq(c_path(c, WIRE_STATFS, "pr", 0, 0), EACCES);
		/* removing the escaping link itself is fine */
		cr_expect_eq(c_path(c, WIRE_UNLINK, "etc", 0, 0), 0);
	}
	root_path(p, sizeof(p), "etc");
	cr_expect(access(p, F_OK) < 0);
	cr_expect_eq(c_ping(c), 0, "still serving");
	cli_free(c);
}

Test(session, open_handles_are_limited_per_session)
{
	struct cli *c;
	uint64_t h[5];

	cfg.max_open = 4;
	c = connect_hello();
	root_file("f", "x");
	for (int i = 0; i < 4; i++)
		cr_assert_eq(c_open(c, "f", WIRE_O_RDONLY, 0, &h[i], NULL), 0);
	cr_expect_eq(c_open(c, "f", WIRE_O_RDONLY, 0, &h[4], NULL), EMFILE);
	cr_expect_eq(c_close(c, h[2]), 0);
	cr_expect_eq(c_open(c, "f", WIRE_O_RDONLY, 0, &h[4], NULL), 0);
	cr_expect_neq(h[4], h[2]);
	cli_free(c);
}

/* ---- framing ----------------------------------------------------------------------------- */

Test(session, pipelined_requests_are_answered_in_order)
{
	struct cli *c = connect_hello();
	enum { N = 200 };
	uint8_t *all = malloc((size_t)N * 64);
	size_t len = 0;

	cr_assert(all);
	for (int i = 0; i < N; i++) {
		long n = wire_enc_empty(all + len, 64, WIRE_PING, 0, 1000 + (uint64_t)i);

		cr_assert(n > 0);
		len += (size_t)n;
	}
	send_bytes(c, all, len);
	for (int i = 0; i < N; i++) {
		cr_assert(recv_reply(c));
		cr_expect_eq(c->rh.id, 1000 + (uint64_t)i);
		cr_expect_eq(c->rh.type, WIRE_PING);
	}
	free(all);
	cli_free(c);
}

static void expect_closed_after(const uint8_t *frame, size_t len, int hello_first)
{
	struct cli *c = hello_first ? connect_hello() : cli_start(&cfg);
	struct cli *other = connect_hello();
	uint8_t junk[64];

	send_bytes(c, frame, len);
	cr_expect_eq(recv(c->fd, junk, sizeof(junk), 0), 0, "the session closes, no reply");
	cr_expect_eq(cli_join(c), -1);
	cr_expect_eq(c_ping(other), 0, "the other session is unaffected");
	cli_free(c);
	cli_free(other);
}

static size_t hdr(uint8_t *b, uint32_t length, uint16_t type, uint16_t flags, uint64_t id)
{
	struct wire_hdr h = { length, type, flags, id };

	wire_hdr_encode(b, &h);
	return WIRE_HDR_SIZE;
}

Test(session, malformed_frames_close_only_their_session)
{
	uint8_t f[64];
	size_t n;

	memset(f, 0, sizeof(f));
	n = hdr(f, 8, WIRE_PING, 0, 1); /* length below the header */
	expect_closed_after(f, n, 1);
	n = hdr(f, WIRE_MAX_FRAME + 1, WIRE_PWRITE, 0, 1); /* over the limit: never allocated */
	expect_closed_after(f, n, 1);
	n = hdr(f, 0xffffffffu, WIRE_PWRITE, 0, 1);
	expect_closed_after(f, n, 0);
	n = hdr(f, WIRE_HDR_SIZE, 99, 0, 1); /* unknown type */
	expect_closed_after(f, n, 1);
	n = hdr(f, WIRE_HDR_SIZE, WIRE_PING, WIRE_F_REPLY, 1); /* a reply from the client */
	expect_closed_after(f, n, 1);
	n = hdr(f, WIRE_HDR_SIZE, WIRE_PING, 0x80, 1); /* unknown flag */
	expect_closed_after(f, n, 1);
	n = hdr(f, WIRE_HDR_SIZE + 3, WIRE_PING, 0, 1); /* trailing bytes */
	expect_closed_after(f, n + 3, 1);
	n = hdr(f, WIRE_HDR_SIZE + 4, WIRE_PREAD, 0, 1); /* truncated body */
	expect_closed_after(f, n + 4, 1);
	n = hdr(f, WIRE_HDR_SIZE + 20, WIRE_OPEN, 0, 1); /* string longer than the frame */
	f[n] = 0x0f;
	f[n + 1] = 0xff;
	expect_closed_after(f, n + 20, 1);
	n = hdr(f, WIRE_HDR_SIZE + 11, WIRE_OPEN, 0, 1); /* good path, bad open flags */
	f[n] = 0;
	f[n + 1] = 1;
	f[n + 2] = 'a';
	memset(f + n + 3, 0xff, 8);
	expect_closed_after(f, n + 11, 1);
	memcpy(f, "GET / HTTP/1.1\r\n\r\n", 18); /* not the protocol at all */
	expect_closed_after(f, 18, 0);
}

/* READ_FD's payload is a handle, 8 bytes: any other length is a protocol
 * error (no answer, no descriptor), whether or not the session may have
 * descriptors; and like any request it may not come before HELLO. */
Test(session, malformed_read_fd_closes_the_session)
{
	static const size_t lens[] = { 0, 7, 9 };
	uint8_t f[WIRE_HDR_SIZE + 16];
	size_t n;

	memset(f, 0, sizeof(f));
	for (int off = 0; off < 2; off++) {
		cfg.no_read_fds = off;
		for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
			n = hdr(f, (uint32_t)(WIRE_HDR_SIZE + lens[i]), WIRE_READ_FD, 0, 1);
			memset(f + n, 0, lens[i]);
			expect_closed_after(f, n + lens[i], 1);
		}
	}
	cfg.no_read_fds = 0;
	n = hdr(f, WIRE_HDR_SIZE + 8, WIRE_READ_FD, 0, 1); /* well formed, but first */
	memset(f + n, 0, 8);
	f[n + 7] = 1;
	expect_closed_after(f, n + 8, 0);
}

Test(session, frame_cut_short_by_the_peer)
{
	struct cli *c = connect_hello();
	uint8_t f[WIRE_HDR_SIZE + 8];

	hdr(f, 1000, WIRE_PWRITE, 0, 5);
	memset(f + WIRE_HDR_SIZE, 0, 8);
	send_bytes(c, f, sizeof(f));
	shutdown(c->fd, SHUT_WR);
	cr_expect_eq(cli_join(c), -1);
	cli_free(c);
}

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Sends len bytes of frame, then expects the session to end on its own
 * (a frame or HELLO timeout of 200 ms) after 0.15 to 2 s, while a session
 * started with it keeps answering. */
static void expect_timed_out(const uint8_t *frame, size_t len, int hello_first)
{
	struct cli *c, *other;
	uint8_t junk[64];
	double t0;

	cfg.frame_timeout_ms = 200;
	c = hello_first ? connect_hello() : cli_start(&cfg);
	other = connect_hello();
	t0 = mono_s();
	send_bytes(c, frame, len);
	cr_expect_eq(c_ping(other), 0, "the other session is served meanwhile");
	cr_expect_eq(recv(c->fd, junk, sizeof(junk), 0), 0, "the session closes, no reply");
	cr_expect(mono_s() - t0 >= 0.15 && mono_s() - t0 < 2, "closed after %.2f s", mono_s() - t0);
	cr_expect_eq(cli_join(c), -1);
	cr_expect_eq(c_ping(other), 0, "the other session is unaffected");
	cli_free(c);
	cli_free(other);
}

Test(session, frame_timeout_ends_half_sent_frames)
{
	uint8_t f[WIRE_HDR_SIZE + WIRE_PWRITE_HDR];
	size_t n;

	n = hdr(f, 100, WIRE_PING, 0, 1);
	expect_timed_out(f, 7, 1);      /* half a header */
	expect_timed_out(f, n, 1);      /* a header, no body */
	expect_timed_out(f, 0, 0);      /* no HELLO at all */
	expect_timed_out(f, n - 3, 0);  /* half a HELLO */
	/* a big PWRITE, read by splice straight from the socket, that stalls */
	hdr(f, WIRE_PWRITE_HDR + (1u << 20), WIRE_PWRITE, 0, 1);
	memset(f + WIRE_HDR_SIZE, 0, WIRE_PWRITE_HDR - WIRE_HDR_SIZE);
	f[WIRE_HDR_SIZE + 7] = 1; /* handle 1, never opened: the data is read and dropped */
	f[WIRE_PWRITE_HDR - 3] = 0x10; /* count 1 MiB */
	expect_timed_out(f, WIRE_PWRITE_HDR, 1);
}

Test(session, frame_timeout_is_per_frame)
{
	struct cli *c;
	uint8_t f[WIRE_HDR_SIZE];

	cfg.frame_timeout_ms = 300;
	c = connect_hello();
	/* three PINGs, each sent in two halves 150 ms apart: 450 ms in all */
	for (int i = 0; i < 3; i++) {
		uint64_t id = nid(c);

		hdr(f, WIRE_HDR_SIZE, WIRE_PING, 0, id);
		send_bytes(c, f, 8);
		usleep(150 * 1000);
		send_bytes(c, f + 8, WIRE_HDR_SIZE - 8);
		cr_expect_eq(recv_answer(c, id, WIRE_PING), 0, "PING %d answered", i);
	}
	usleep(400 * 1000); /* idle between frames: no frame timeout */
	cr_expect_eq(c_ping(c), 0);
	close(c->fd);
	c->fd = -1;
	cr_expect_eq(cli_join(c), 0);
	cli_free(c);
}

Test(session, idle_timeout_ends_a_quiet_session)
{
	struct cli *c, *busy;
	uint8_t junk[64];
	uint64_t h;
	double t0;

	cfg.idle_timeout_ms = 300;
	c = connect_hello();
	busy = connect_hello();
	cr_assert_eq(c_open(c, "f", WIRE_O_RDWR | WIRE_O_CREAT, 0644, &h, NULL), 0);
	t0 = mono_s();
	for (int i = 0; i < 10; i++) { /* 500 ms of requests, never 300 apart */
		usleep(50 * 1000);
		cr_expect_eq(c_ping(busy), 0, "the busy session is served");
	}
	cr_expect_eq(recv(c->fd, junk, sizeof(junk), 0), 0, "the quiet session is closed");
	cr_expect(mono_s() - t0 < 2, "closed after %.2f s", mono_s() - t0);
	cr_expect_eq(cli_join(c), -1);
	cr_expect_eq(c_ping(busy), 0, "the busy session is unaffected");
	cli_free(c);
	cli_free(busy);
}

Test(session, end_of_session_closes_its_files)
{
	struct cli *c = connect_hello();
	char p[256], lnk[64], tgt[300];
	uint64_t h;
	int nfd_before = 0, nfd_after = 0;

	root_file("f", "x");
	root_path(p, sizeof(p), "f");
	cr_assert_eq(c_open(c, "f", WIRE_O_RDONLY, 0, &h, NULL), 0);
	for (int fd = 0; fd < 1024; fd++) {
		snprintf(lnk, sizeof(lnk), "/proc/self/fd/%d", fd);
		ssize_t n = readlink(lnk, tgt, sizeof(tgt) - 1);
		if (n > 0 && (size_t)n == strlen(p) && memcmp(tgt, p, (size_t)n) == 0)
			nfd_before++;
	}
	close(c->fd);
	c->fd = -1;
	cr_expect_eq(cli_join(c), 0);
	for (int fd = 0; fd < 1024; fd++) {
		snprintf(lnk, sizeof(lnk), "/proc/self/fd/%d", fd);
		ssize_t n = readlink(lnk, tgt, sizeof(tgt) - 1);
		if (n > 0 && (size_t)n == strlen(p) && memcmp(tgt, p, (size_t)n) == 0)
			nfd_after++;
	}
	cr_expect_eq(nfd_before, 1);
	cr_expect_eq(nfd_after, 0);
	cli_free(c);
}

/* ---- the registry: many sessions, limit, stop ------------------------------------------------ */

struct worker {
	int fd;
	int ok;
	int idx;
};

static void *worker_main(void *arg)
{
	struct worker *wk = arg;
	struct cli c;
	struct wire_pwrite_reply wr;
	struct wire_blob d;
	char name[32], data[64];
	uint64_t h;

	memset(&c, 0, sizeof(c));
	c.fd = wk->fd;
	c.sfd = -1;
	c.next_id = 1;
	c.req = malloc(1 << 16);
	c.rsp = malloc(1 << 16);
	cli_hello(&c, "unit-job");
	snprintf(name, sizeof(name), "w%d", wk->idx);
	snprintf(data, sizeof(data), "worker %d was here", wk->idx);
	if (c_open(&c, name, WIRE_O_RDWR | WIRE_O_CREAT, 0644, &h, NULL) == 0 &&
	    c_pwrite(&c, h, 0, 0, data, (uint32_t)strlen(data), &wr) == 0 &&
	    c_pread(&c, h, 0, 64, &d) == 0 && d.len == strlen(data) &&
	    memcmp(d.p, data, d.len) == 0)
		wk->ok = 1;
	free(c.req);
	free(c.rsp);
	return NULL;
}

Test(session, registry_serves_64_sessions_then_stops)
{
	enum { N = 64 };
	struct worker wk[N];
	pthread_t th[N];
	int ev = srv_sessions_init();

	cr_assert(ev >= 0);
	for (int i = 0; i < N; i++) {
		int sv[2];

		cr_assert(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
		cr_assert_eq(srv_sessions_start(&cfg, sv[1], "worker"), 0);
		wk[i] = (struct worker){ sv[0], 0, i };
	}
	cr_expect_eq(srv_sessions_active(), N);
	for (int i = 0; i < N; i++)
		cr_assert(pthread_create(&th[i], NULL, worker_main, &wk[i]) == 0);
	for (int i = 0; i < N; i++) {
		pthread_join(th[i], NULL);
		cr_expect(wk[i].ok, "worker %d", i);
	}
	/* half of them hang up; the registry reaps them */
	for (int i = 0; i < N / 2; i++)
		close(wk[i].fd);
	for (int tries = 0; srv_sessions_active() > N / 2 && tries < 500; tries++)
		usleep(10000);
	cr_expect_eq(srv_sessions_active(), N / 2);
	srv_sessions_reap();
	/* the rest are stopped by the server */
	srv_sessions_stop(5000);
	cr_expect_eq(srv_sessions_active(), 0);
	for (int i = N / 2; i < N; i++) {
		char b;

		cr_expect_eq(recv(wk[i].fd, &b, 1, 0), 0, "session %d sees end of stream", i);
		close(wk[i].fd);
	}
	cr_expect_eq(srv_sessions_start(&cfg, -1, "late"), -ESHUTDOWN);
}

Test(session, registry_enforces_max_sessions)
{
	int sv[3][2];

	cfg.max_sessions = 2;
	cr_assert(srv_sessions_init() >= 0);
	for (int i = 0; i < 3; i++)
		cr_assert(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv[i]) == 0);
	cr_expect_eq(srv_sessions_start(&cfg, sv[0][1], "a"), 0);
	cr_expect_eq(srv_sessions_start(&cfg, sv[1][1], "b"), 0);
	cr_expect_eq(srv_sessions_start(&cfg, sv[2][1], "c"), -EAGAIN);
	close(sv[2][1]);
	srv_sessions_stop(1000);
	for (int i = 0; i < 3; i++)
		close(sv[i][0]);
}

Test(session, stop_finishes_inflight_work_and_syncs_files)
{
	struct cli c;
	struct wire_pwrite_reply wr;
	uint64_t h;
	int sv[2];
	char b;

	cr_assert(srv_sessions_init() >= 0);
	cr_assert(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	cr_assert_eq(srv_sessions_start(&cfg, sv[1], "stopper"), 0);
	memset(&c, 0, sizeof(c));
	c.fd = sv[0];
	c.sfd = -1;
	c.next_id = 1;
	c.req = malloc(1 << 16);
	c.rsp = malloc(1 << 16);
	cli_hello(&c, "unit-job");
	cr_assert_eq(c_open(&c, "kept", WIRE_O_RDWR | WIRE_O_CREAT, 0644, &h, NULL), 0);
	cr_assert_eq(c_pwrite(&c, h, 0, 0, "durable", 7, &wr), 0);
	/* a request already sent when the stop begins is still answered */
	{
		long n = wire_enc_empty(c.req, 1 << 16, WIRE_PING, 0, 77);

		send_bytes(&c, c.req, (size_t)n);
	}
	srv_sessions_stop(5000);
	cr_assert(recv_reply(&c), "the queued request is answered");
	cr_expect_eq(c.rh.id, 77);
	cr_expect_eq(recv(c.fd, &b, 1, 0), 0);
	{
		char p[256];
		struct stat st;

		root_path(p, sizeof(p), "kept");
		cr_expect(stat(p, &st) == 0 && st.st_size == 7);
	}
	close(c.fd);
	free(c.req);
	free(c.rsp);
}
