/* test_server_ckpt.c - checkpoints, rollback and the undo journal through real sessions.
 *
 * Like test_server_session.c: srv_session_run() serves one end of a
 * socketpair in a thread, the test speaks the protocol on the other end. The
 * store (server/store.c, undo.c) lives in <root>/.ckpt-state, as by default.
 * File trees are compared with a copy taken at the checkpoint: type, mode,
 * size, content, mtime of files, symlink targets, and the entries of every
 * directory.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "ckpt.h"
#include "session.h"
#include "srv_client.h"
#include "wire.h"

/* ---- fixture ---------------------------------------------------------------------------- */

static char base[64], rootp[96], statep[128], snapp[96];
static struct srv_config cfg;

static void store_open(void)
{
	char err[256];

	cr_assert_eq(srv_store_open(&cfg.store, statep, cfg.root_fd, err, sizeof(err)), 0, "%s", err);
}

static void setup(void)
{
	snprintf(base, sizeof(base), "/tmp/ckpt-store.XXXXXX");
	cr_assert(mkdtemp(base));
	snprintf(rootp, sizeof(rootp), "%s/root", base);
	snprintf(statep, sizeof(statep), "%s/.ckpt-state", rootp);
	snprintf(snapp, sizeof(snapp), "%s/snap", base);
	cr_assert(mkdir(rootp, 0755) == 0);
	memset(&cfg, 0, sizeof(cfg));
	cfg.root_fd = open(rootp, O_PATH | O_DIRECTORY | O_CLOEXEC);
	cr_assert(cfg.root_fd >= 0);
	cfg.max_frame = WIRE_MAX_FRAME;
	cfg.max_open = 64;
	cfg.max_sessions = 16;
	umask(0);
	store_open();
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st, (void)flag, (void)f;
	return remove(p);
}

static void teardown(void)
{
	srv_store_close(cfg.store);
	close(cfg.root_fd);
	nftw(base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(ckpt, .init = setup, .fini = teardown, .timeout = 120);

/* ---- a client (tests/unit/srv_client.h) ------------------------------------------------------ */

/* A session with HELLO done for job (may be ""). */
static struct cli *cli_job(const char *job)
{
	struct cli *c = cli_start(&cfg);

	cli_hello(c, job);
	return c;
}

/* ---- checkpoint calls ------------------------------------------------------------------------ */

#define CHUNK (1u << 20)

/* PREPARE the image in CHUNK pieces, all sent before any reply is read (as a
 * pipelining client does), then DONE. Returns 0 or the first errno. */
static int c_checkpoint_sum(struct cli *c, uint64_t gen, const uint8_t *img, size_t len,
			    uint64_t sum, uint64_t *file_size)
{
	size_t off = 0, nchunks = 0;
	uint64_t first = c->next_id;
	struct wire_ckpt_done d = { gen, len, sum };
	struct wire_ckpt_done_reply r;
	int err = 0, e;

	do {
		size_t n = len - off < CHUNK ? len - off : CHUNK;
		struct wire_ckpt_prepare m = { gen, off, len, { img + off, (uint32_t)n } };
		uint8_t hdr[WIRE_CKPT_PREPARE_HDR];

		wire_enc_ckpt_prepare_hdr(hdr, nid(c), &m);
		send_bytes(c, hdr, sizeof(hdr));
		send_bytes(c, img + off, n);
		off += n;
		nchunks++;
	} while (off < len);
	for (size_t i = 0; i < nchunks; i++) {
		e = recv_answer(c, first + i, WIRE_CKPT_PREPARE);
		if (e && !err)
			err = e;
	}
	e = call(c, wire_enc_ckpt_done(c->req, WIRE_MAX_FRAME, nid(c), &d));
	if (!e) {
		cr_assert_eq(wire_dec_ckpt_done_reply(c->pl, c->plen, &r), 0);
		cr_assert_eq(r.gen, gen);
		if (file_size)
			*file_size = r.file_size;
	}
	return err ? err : e;
}

static int c_checkpoint(struct cli *c, uint64_t gen, const uint8_t *img, size_t len)
{
	return c_checkpoint_sum(c, gen, img, len, XXH64(img, len, 0), NULL);
}

static int c_gen(struct cli *c, uint16_t type, uint64_t gen)
{
	struct wire_gen m = { gen };

	return call(c, wire_enc_gen(c->req, WIRE_MAX_FRAME, type, nid(c), &m));
}

static int c_rollback(struct cli *c, uint64_t gen, struct wire_rollback_reply *r)
{
	int e = c_gen(c, WIRE_ROLLBACK, gen);

	if (!e && r)
		cr_assert_eq(wire_dec_rollback_reply(c->pl, c->plen, r), 0);
	return e;
}

/* ROLLBACK_QUERY into v (up to max); returns the count. */
static uint32_t c_query(struct cli *c, struct wire_gen_info *v, uint32_t max)
{
	struct wire_rollback_query_reply m;
	struct wire_gen_info e;
	uint32_t n = 0;

	cr_assert_eq(call(c, wire_enc_empty(c->req, WIRE_MAX_FRAME, WIRE_ROLLBACK_QUERY, 0, nid(c))), 0);
	cr_assert_eq(wire_dec_rollback_query_reply(c->pl, c->plen, &m), 0);
	while (wire_gen_info_next(&m, &e) == 1)
		if (n < max)
			v[n++] = e;
	return m.count;
}

static int c_image_read(struct cli *c, uint64_t gen, uint64_t off, uint32_t count,
			struct wire_blob *d)
{
	struct wire_image_read m = { gen, off, count };
	int e = call(c, wire_enc_image_read(c->req, WIRE_MAX_FRAME, nid(c), &m));

	if (!e)
		cr_assert_eq(wire_dec_data_reply(c->pl, c->plen, d), 0);
	return e;
}

/* ---- file calls ------------------------------------------------------------------------------- */

static int c_open(struct cli *c, const char *path, uint32_t flags, uint32_t mode, uint64_t *h)
{
	struct wire_open m = { S(path), flags, mode };
	struct wire_open_reply r;
	int e = call(c, wire_enc_open(c->req, WIRE_MAX_FRAME, nid(c), &m));

	if (!e) {
		cr_assert_eq(wire_dec_open_reply(c->pl, c->plen, &r), 0);
		*h = r.handle;
	}
	return e;
}

static int c_close(struct cli *c, uint64_t h)
{
	struct wire_handle m = { h };

	return call(c, wire_enc_handle(c->req, WIRE_MAX_FRAME, WIRE_CLOSE, nid(c), &m));
}

static int c_pwrite(struct cli *c, uint64_t h, uint64_t off, uint32_t flags, const void *p, size_t n)
{
	struct wire_pwrite m = { h, off, flags, { p, (uint32_t)n } };

	return call(c, wire_enc_pwrite(c->req, WIRE_MAX_FRAME, nid(c), &m));
}

static int c_ftruncate(struct cli *c, uint64_t h, uint64_t len)
{
	struct wire_ftruncate m = { h, len };

	return call(c, wire_enc_ftruncate(c->req, WIRE_MAX_FRAME, nid(c), &m));
}

static int c_path(struct cli *c, uint16_t type, const char *path, uint32_t flags, uint32_t arg)
{
	struct wire_path_req m = { S(path), flags, arg };

	return call(c, wire_enc_path_req(c->req, WIRE_MAX_FRAME, type, nid(c), &m));
}

static int c_two(struct cli *c, uint16_t type, const char *from, const char *to, uint32_t flags)
{
	struct wire_two_paths m = { S(from), S(to), flags };

	return call(c, wire_enc_two_paths(c->req, WIRE_MAX_FRAME, type, nid(c), &m));
}

static int c_setattr_path(struct cli *c, const char *path, uint32_t valid, uint32_t mode,
			  uint64_t size, int64_t mtime)
{
	struct wire_setattr m;

	memset(&m, 0, sizeof(m));
	m.path = S(path);
	m.valid = valid;
	m.mode = mode;
	m.size = size;
	m.mtime_sec = mtime;
	return call(c, wire_enc_setattr(c->req, WIRE_MAX_FRAME, nid(c), &m));
}

/* Write a whole file through the session. */
static void c_write_file(struct cli *c, const char *path, uint32_t oflags, uint64_t off,
			 const void *p, size_t n)
{
	uint64_t h;

	cr_assert_eq(c_open(c, path, WIRE_O_WRONLY | oflags, 0644, &h), 0, "open %s: %s", path,
		     c->msg);
	cr_assert_eq(c_pwrite(c, h, off, (oflags & WIRE_O_APPEND) ? WIRE_PWRITE_APPEND : 0, p, n), 0);
	cr_assert_eq(c_close(c, h), 0);
}

/* ---- trees ------------------------------------------------------------------------------------ */

static void root_write(const char *name, const void *p, size_t n, mode_t mode)
{
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", rootp, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	cr_assert(fd >= 0, "%s: %s", path, strerror(errno));
	cr_assert_eq(write(fd, p, n), (ssize_t)n);
	close(fd);
}

static void root_mkdir(const char *name)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", rootp, name);
	cr_assert(mkdir(path, 0755) == 0);
}

/* Copy the export (without the store) to snap, keeping modes and times. */
static void snapshot(void)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf %s && cp -a %s %s && rm -rf %s/.ckpt-state", snapp, rootp,
		 snapp, snapp);
	cr_assert_eq(system(cmd), 0);
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted entry names of a directory (without . and .., and without the
 * store at the top). */
static size_t list_dir(const char *path, char **names, size_t max, int top)
{
	DIR *d = opendir(path);
	struct dirent *e;
	size_t n = 0;

	cr_assert_not_null(d, "%s: %s", path, strerror(errno));
	while ((e = readdir(d)) != NULL) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") ||
		    (top && !strcmp(e->d_name, ".ckpt-state")))
			continue;
		cr_assert_lt(n, max);
		names[n++] = strdup(e->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof(*names), cmp_name);
	return n;
}

static void expect_same_file(const char *a, const char *b, const char *rel)
{
	struct stat sa, sb;

	cr_assert(lstat(a, &sa) == 0, "%s missing in the snapshot", rel);
	cr_assert(lstat(b, &sb) == 0, "%s: missing after the rollback: %s", rel, strerror(errno));
	cr_expect_eq(sa.st_mode, sb.st_mode, "%s: mode %o, want %o", rel, sb.st_mode, sa.st_mode);
	if (S_ISREG(sa.st_mode)) {
		FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
		long pos = 0;
		int ca, cb;

		cr_expect_eq(sa.st_size, sb.st_size, "%s: size %lld, want %lld", rel,
			     (long long)sb.st_size, (long long)sa.st_size);
		cr_expect(sa.st_mtim.tv_sec == sb.st_mtim.tv_sec && sa.st_mtim.tv_nsec == sb.st_mtim.tv_nsec,
			  "%s: mtime differs", rel);
		cr_assert(fa && fb);
		do {
			ca = getc(fa);
			cb = getc(fb);
			if (ca != cb) {
				cr_expect_fail("%s: content differs at byte %ld", rel, pos);
				break;
			}
			pos++;
		} while (ca != EOF);
		fclose(fa);
		fclose(fb);
	} else if (S_ISLNK(sa.st_mode)) {
		char ta[512] = "", tb[512] = "";

		cr_expect(readlink(a, ta, sizeof(ta) - 1) > 0 && readlink(b, tb, sizeof(tb) - 1) > 0);
		cr_expect_str_eq(ta, tb, "%s: link target", rel);
	}
}

/* The export equals the snapshot, entry by entry. */
static void expect_tree_equal(const char *a, const char *b, const char *rel, int top)
{
	char *na[256], *nb[256];
	size_t ka = list_dir(a, na, 256, top), kb = list_dir(b, nb, 256, top);

	for (size_t i = 0, j = 0; i < ka || j < kb;) {
		int c = i == ka ? 1 : j == kb ? -1 : strcmp(na[i], nb[j]);

		if (c < 0) {
			cr_expect_fail("%s/%s missing after the rollback", rel, na[i]);
			i++;
		} else if (c > 0) {
			cr_expect_fail("%s/%s exists after the rollback, not at the checkpoint", rel, nb[j]);
			j++;
		} else {
			char pa[1024], pb[1024], pr[1024];
			struct stat st;

			snprintf(pa, sizeof(pa), "%s/%s", a, na[i]);
			snprintf(pb, sizeof(pb), "%s/%s", b, nb[j]);
			snprintf(pr, sizeof(pr), "%s/%s", rel, na[i]);
			expect_same_file(pa, pb, pr);
			if (lstat(pa, &st) == 0 && S_ISDIR(st.st_mode))
				expect_tree_equal(pa, pb, pr, 0);
			i++;
			j++;
		}
	}
	for (size_t i = 0; i < ka; i++)
		free(na[i]);
	for (size_t j = 0; j < kb; j++)
		free(nb[j]);
}

static void expect_root_is_snapshot(void)
{
	expect_tree_equal(snapp, rootp, ".", 1);
}

static uint8_t *pattern(size_t n, unsigned seed)
{
	uint8_t *p = malloc(n ? n : 1);
	uint32_t x = seed * 2654435761u + 1;

	cr_assert(p);
	for (size_t i = 0; i < n; i++) {
		x = x * 1103515245u + 12345u;
		p[i] = (uint8_t)(x >> 16);
	}
	return p;
}

/* The initial tree: files of several sizes, a directory, a symlink. */
static void make_tree(void)
{
	uint8_t *big = pattern(5 * 4096 + 123, 1);

	root_write("log.txt", "line 1\nline 2\n", 14, 0644);
	root_write("big.bin", big, 5 * 4096 + 123, 0640);
	root_write("cut.txt", "0123456789abcdefghij", 20, 0600);
	root_write("gone.txt", "to be unlinked", 14, 0644);
	root_write("victim.txt", "replaced by a rename", 20, 0644);
	root_mkdir("sub");
	root_write("sub/moved.txt", "moved away", 10, 0644);
	root_mkdir("empty");
	cr_assert(symlinkat("log.txt", cfg.root_fd, "link") == 0);
	free(big);
}

/* Change the tree in every way through the session. */
static void change_everything(struct cli *c)
{
	uint8_t *junk = pattern(3 * 4096, 2);
	uint64_t h;

	c_write_file(c, "log.txt", WIRE_O_APPEND, 0, "line 3 (after)\n", 15);
	/* overwrite the middle of big.bin, crossing block boundaries, twice */
	c_write_file(c, "big.bin", 0, 4000, junk, 5000);
	c_write_file(c, "big.bin", 0, 4090, junk, 10);
	/* and grow it */
	c_write_file(c, "big.bin", 0, 5 * 4096 + 100, junk, 9000);
	cr_assert_eq(c_open(c, "cut.txt", WIRE_O_RDWR, 0, &h), 0);
	cr_assert_eq(c_ftruncate(c, h, 5), 0);
	cr_assert_eq(c_pwrite(c, h, 8, 0, "XY", 2), 0); /* regrow past the cut */
	cr_assert_eq(c_close(c, h), 0);
	c_write_file(c, "new.txt", WIRE_O_CREAT | WIRE_O_EXCL, 0, "created after", 13);
	c_write_file(c, "sub/new2.txt", WIRE_O_CREAT, 0, "also", 4);
	cr_assert_eq(c_path(c, WIRE_UNLINK, "gone.txt", 0, 0), 0);
	cr_assert_eq(c_two(c, WIRE_RENAME, "sub/moved.txt", "moved.txt", 0), 0);
	cr_assert_eq(c_two(c, WIRE_RENAME, "moved.txt", "victim.txt", 0), 0); /* replaces */
	cr_assert_eq(c_path(c, WIRE_MKDIR, "newdir", 0, 0755), 0);
	c_write_file(c, "newdir/inside", WIRE_O_CREAT, 0, "x", 1);
	cr_assert_eq(c_path(c, WIRE_UNLINK, "empty", WIRE_AT_REMOVEDIR, 0), 0);
	cr_assert_eq(c_two(c, WIRE_SYMLINK, "big.bin", "link2", 0), 0);
	cr_assert_eq(c_two(c, WIRE_LINK, "log.txt", "hard", 0), 0);
	cr_assert_eq(c_setattr_path(c, "log.txt", WIRE_SET_MODE | WIRE_SET_MTIME, 0600, 0, 1000000000), 0);
	/* O_TRUNC of a file, then new content */
	c_write_file(c, "big.bin", WIRE_O_TRUNC, 0, "short", 5);
	/* truncate by path, then unlink the symlink */
	cr_assert_eq(c_setattr_path(c, "gone2", WIRE_SET_SIZE, 0, 1, 0), ENOENT);
	cr_assert_eq(c_path(c, WIRE_UNLINK, "link", 0, 0), 0);
	free(junk);
}

/* ---- round trips ----------------------------------------------------------------------------- */

Test(ckpt, prepare_done_query_image_read_commit)
{
	struct cli *c = cli_job("job-a");
	size_t len = 3 * CHUNK + 777;
	uint8_t *img = pattern(len, 3);
	struct wire_gen_info v[4];
	struct wire_rollback_reply rr;
	struct wire_blob d;
	struct stat st;
	char path[512];
	uint64_t fsize = 0, off = 0;

	cr_assert_eq(c_query(c, v, 4), 0, "nothing yet");
	cr_assert_eq(c_checkpoint_sum(c, 1, img, len, XXH64(img, len, 0), &fsize), 0, "%s", c->msg);
	snprintf(path, sizeof(path), "%s/job-a/gen-1.ckpt", statep);
	cr_assert(stat(path, &st) == 0);
	cr_expect_eq((uint64_t)st.st_size, fsize);
	cr_expect_eq(st.st_mode & 07777, 0600, "joint files are 0600");
	cr_assert(stat(statep, &st) == 0);
	cr_expect_eq(st.st_mode & 07777, 0700);
	cr_assert_eq(c_query(c, v, 4), 1);
	cr_expect_eq(v[0].gen, 1);
	cr_expect_eq(v[0].state, WIRE_GEN_PREPARED);
	cr_expect_eq(v[0].image_size, len);
	/* the image comes back byte for byte */
	while (off < len) {
		cr_assert_eq(c_image_read(c, 1, off, CHUNK, &d), 0);
		cr_assert_gt(d.len, 0);
		cr_assert(memcmp(d.p, img + off, d.len) == 0, "image differs at %llu",
			  (unsigned long long)off);
		off += d.len;
	}
	cr_assert_eq(c_image_read(c, 1, len, 100, &d), 0);
	cr_expect_eq(d.len, 0, "end of the image");
	cr_expect_eq(c_image_read(c, 2, 0, 100, &d), ENOENT);
	cr_assert_eq(c_gen(c, WIRE_CKPT_COMMIT, 1), 0);
	cr_assert_eq(c_query(c, v, 4), 1);
	cr_expect_eq(v[0].state, WIRE_GEN_COMMITTED);
	/* a second generation, then commit: with one generation kept, the
	 * first goes (two are kept by default: commit_keeps_the_previous_...) */
	cfg.store->keep = 1;
	cr_assert_eq(c_checkpoint(c, 2, img, 1000), 0);
	cr_assert_eq(c_query(c, v, 4), 2);
	cr_expect_eq(v[1].gen, 2);
	cr_expect_eq(v[1].state, WIRE_GEN_PREPARED);
	cr_assert_eq(c_gen(c, WIRE_CKPT_COMMIT, 2), 0);
	cr_assert_eq(c_query(c, v, 4), 1);
	cr_expect_eq(v[0].gen, 2);
	cr_expect(stat(path, &st) < 0, "gen-1.ckpt removed at the commit of 2");
	cr_assert_eq(c_rollback(c, 2, &rr), 0, "%s", c->msg);
	cr_expect_eq(rr.gen, 2);
	cr_expect_eq(rr.image_size, 1000);
	cr_expect_eq(rr.image_xxh64, XXH64(img, 1000, 0));
	/* an empty image is an image too */
	cr_assert_eq(c_checkpoint(c, 3, img, 0), 0, "%s", c->msg);
	cr_assert_eq(c_rollback(c, 3, &rr), 0, "%s", c->msg);
	cr_expect_eq(rr.image_size, 0);
	free(img);
	cli_free(c);
}

Test(ckpt, misuse_gets_clear_errors)
{
	struct cli *c = cli_job("job-b"), *nojob = cli_job(""), *badjob = cli_job(".x/y");
	uint8_t img[100] = { 1 };
	struct wire_ckpt_done d = { 5, 100, 0 };
	struct wire_gen_info v[2];

	cr_expect_eq(c_gen(nojob, WIRE_ROLLBACK, 1), EINVAL, "no job name");
	cr_expect(strstr(nojob->msg, "job") != NULL, "message: %s", nojob->msg);
	cr_expect_eq(c_checkpoint(badjob, 1, img, 10), EINVAL, "unsafe job name");
	cr_expect_eq(call(c, wire_enc_ckpt_done(c->req, WIRE_MAX_FRAME, nid(c), &d)), ENOENT,
		     "DONE without PREPARE");
	cr_expect_eq(c_gen(c, WIRE_ROLLBACK, 9), ENOENT);
	cr_expect_eq(c_gen(c, WIRE_CKPT_COMMIT, 9), ENOENT);
	cr_expect_eq(c_gen(c, WIRE_CKPT_ABORT, 9), ENOENT);
	/* chunks out of order */
	{
		struct wire_ckpt_prepare m = { 4, 0, 100, { img, 10 } };

		cr_assert_eq(call(c, wire_enc_ckpt_prepare(c->req, WIRE_MAX_FRAME, nid(c), &m)), 0);
		m.offset = 20;
		cr_expect_eq(call(c, wire_enc_ckpt_prepare(c->req, WIRE_MAX_FRAME, nid(c), &m)), EINVAL);
		cr_expect(strstr(c->msg, "out of order") != NULL, "message: %s", c->msg);
		m.gen = 3;
		m.offset = 10;
		cr_expect_eq(call(c, wire_enc_ckpt_prepare(c->req, WIRE_MAX_FRAME, nid(c), &m)), ENOENT);
	}
	/* size differs at DONE */
	{
		struct wire_ckpt_prepare m = { 4, 0, 100, { img, 100 } };
		struct wire_ckpt_done dd = { 4, 99, XXH64(img, 100, 0) };

		cr_assert_eq(call(c, wire_enc_ckpt_prepare(c->req, WIRE_MAX_FRAME, nid(c), &m)), 0);
		cr_expect_eq(call(c, wire_enc_ckpt_done(c->req, WIRE_MAX_FRAME, nid(c), &dd)), EINVAL);
	}
	/* generations strictly increase */
	cr_assert_eq(c_checkpoint(c, 5, img, 100), 0);
	cr_expect_eq(c_checkpoint(c, 5, img, 100), EINVAL);
	cr_expect_eq(c_checkpoint(c, 4, img, 100), EINVAL);
	cr_assert_eq(c_gen(c, WIRE_CKPT_COMMIT, 5), 0);
	cr_expect_eq(c_gen(c, WIRE_CKPT_ABORT, 5), EINVAL, "a committed generation stays");
	cr_assert_eq(c_query(c, v, 2), 1);
	cli_free(c);
	cli_free(nojob);
	cli_free(badjob);
}

Test(ckpt, checksum_mismatch_keeps_nothing)
{
	struct cli *c = cli_job("job-c");
	uint8_t *img = pattern(5000, 4);
	struct wire_gen_info v[2];
	char path[512];
	DIR *d;
	struct dirent *e;
	int files = 0;

	cr_expect_eq(c_checkpoint_sum(c, 1, img, 5000, XXH64(img, 5000, 0) ^ 1, NULL), EBADMSG);
	cr_expect(strstr(c->msg, "checksum") != NULL, "message: %s", c->msg);
	cr_assert_eq(c_query(c, v, 2), 0);
	snprintf(path, sizeof(path), "%s/job-c", statep);
	d = opendir(path);
	cr_assert_not_null(d);
	while ((e = readdir(d)) != NULL)
		files += !strncmp(e->d_name, "gen-", 4);
	closedir(d);
	cr_expect_eq(files, 0, "no joint file, no temporary");
	/* the same generation then succeeds */
	cr_expect_eq(c_checkpoint(c, 1, img, 5000), 0);
	free(img);
	cli_free(c);
}

Test(ckpt, jobs_do_not_see_each_other)
{
	struct cli *a = cli_job("owner"), *b = cli_job("intruder");
	uint8_t img[64] = { 9 };
	struct wire_gen_info v[2];
	struct wire_blob d;

	cr_assert_eq(c_checkpoint(a, 1, img, sizeof(img)), 0);
	cr_expect_eq(c_query(b, v, 2), 0);
	cr_expect_eq(c_gen(b, WIRE_ROLLBACK, 1), ENOENT);
	cr_expect_eq(c_image_read(b, 1, 0, 10, &d), ENOENT);
	cr_expect_eq(c_gen(b, WIRE_CKPT_COMMIT, 1), ENOENT);
	cr_expect_eq(c_gen(b, WIRE_CKPT_ABORT, 1), ENOENT);
	cr_expect_eq(c_query(a, v, 2), 1);
	cli_free(a);
	cli_free(b);
}

Test(ckpt, streamed_image_of_unknown_size)
{
	struct cli *c = cli_job("stream");
	uint8_t img[3000];
	struct wire_gen_info v[2];
	struct wire_ckpt_done d;
	struct wire_ckpt_prepare m;
	uint8_t hdr[WIRE_CKPT_PREPARE_HDR];

	for (size_t i = 0; i < sizeof(img); i++)
		img[i] = (uint8_t)(i * 7);
	/* two chunks with the total unknown, then DONE with the size */
	for (uint64_t off = 0; off < sizeof(img); off += 1500) {
		m = (struct wire_ckpt_prepare){ 1, off, WIRE_CKPT_TOTAL_UNKNOWN, { img + off, 1500 } };
		wire_enc_ckpt_prepare_hdr(hdr, nid(c), &m);
		send_bytes(c, hdr, sizeof(hdr));
		send_bytes(c, img + off, 1500);
		cr_assert_eq(recv_answer(c, c->next_id - 1, WIRE_CKPT_PREPARE), 0);
	}
	d = (struct wire_ckpt_done){ 1, sizeof(img), XXH64(img, sizeof(img), 0) };
	cr_assert_eq(call(c, wire_enc_ckpt_done(c->req, WIRE_MAX_FRAME, nid(c), &d)), 0);
	cr_assert_eq(c_query(c, v, 2), 1);
	cr_assert_eq(v[0].image_size, sizeof(img));
	/* a DONE whose size is not what arrived keeps nothing */
	m = (struct wire_ckpt_prepare){ 2, 0, WIRE_CKPT_TOTAL_UNKNOWN, { img, 100 } };
	wire_enc_ckpt_prepare_hdr(hdr, nid(c), &m);
	send_bytes(c, hdr, sizeof(hdr));
	send_bytes(c, img, 100);
	cr_assert_eq(recv_answer(c, c->next_id - 1, WIRE_CKPT_PREPARE), 0);
	d = (struct wire_ckpt_done){ 2, 101, XXH64(img, 100, 0) };
	cr_assert_eq(call(c, wire_enc_ckpt_done(c->req, WIRE_MAX_FRAME, nid(c), &d)), EINVAL);
	cr_assert_eq(c_query(c, v, 2), 1);
	cli_free(c);
}

/* A big overwrite goes from the socket straight into the file; its old bytes
 * must still be journaled first. */
Test(ckpt, big_streamed_overwrite_is_undone)
{
	struct cli *c = cli_job("bigw");
	size_t n = 3u << 20, size = 5u << 20;
	uint8_t *orig = malloc(size), *neu = malloc(n), img[32] = { 3 };
	char path[160];
	uint64_t h;
	FILE *f;

	cr_assert(orig && neu);
	for (size_t i = 0; i < size; i++)
		orig[i] = (uint8_t)(i * 40503u >> 7);
	memset(neu, 0xa5, n);
	snprintf(path, sizeof(path), "%s/data", rootp);
	f = fopen(path, "w");
	cr_assert(f && fwrite(orig, 1, size, f) == size && fclose(f) == 0);
	cr_assert_eq(c_open(c, "data", WIRE_O_RDWR, 0, &h), 0);
	cr_assert_eq(c_checkpoint(c, 1, img, sizeof(img)), 0);
	cr_assert_eq(c_pwrite(c, h, 12345, 0, neu, n), 0);
	cr_assert_eq(c_pwrite(c, h, size - 100, 0, neu, n), 0); /* and grows it */
	cr_assert_eq(c_close(c, h), 0);
	cr_assert_eq(c_rollback(c, 1, NULL), 0);
	f = fopen(path, "r");
	cr_assert(f);
	{
		uint8_t *back = malloc(size + 1);
		size_t got = fread(back, 1, size + 1, f);

		cr_expect_eq(got, size);
		cr_expect(memcmp(back, orig, size) == 0, "the file is as at the checkpoint");
		free(back);
	}
	fclose(f);
	free(orig);
	free(neu);
	cli_free(c);
}

/* Committing g keeps g and the one before it (by default), and a rollback
 * to that older one still undoes everything since. */
Test(ckpt, commit_keeps_the_previous_generation)
{
	struct cli *c = cli_job("keep");
	struct wire_gen_info v[4];
	uint8_t img[32] = { 5 };
	char path[160], buf[16] = "";
	uint64_t h;
	FILE *f;

	cr_assert_eq(c_open(c, "f", WIRE_O_RDWR | WIRE_O_CREAT, 0644, &h), 0);
	for (uint64_t g = 1; g <= 3; g++) {
		char b[2] = { (char)('0' + g), 0 };

		cr_assert_eq(c_pwrite(c, h, 0, 0, b, 1), 0);
		cr_assert_eq(c_checkpoint(c, g, img, sizeof(img)), 0);
		cr_assert_eq(c_gen(c, WIRE_CKPT_COMMIT, g), 0);
	}
	cr_assert_eq(c_query(c, v, 4), 2);
	cr_expect_eq(v[0].gen, 2);
	cr_expect_eq(v[1].gen, 3);
	cr_assert_eq(c_close(c, h), 0);
	cr_assert_eq(c_rollback(c, 2, NULL), 0);
	snprintf(path, sizeof(path), "%s/f", rootp);
	f = fopen(path, "r");
	cr_assert(f && fgets(buf, sizeof(buf), f));
	fclose(f);
	cr_expect_str_eq(buf, "2", "the file as at generation 2");
	/* with one kept, a commit drops every older one */
	cfg.store->keep = 1;
	cr_assert_eq(c_checkpoint(c, 3, img, sizeof(img)), 0);
	cr_assert_eq(c_gen(c, WIRE_CKPT_COMMIT, 3), 0);
	cr_assert_eq(c_query(c, v, 4), 1);
	cr_expect_eq(v[0].gen, 3);
	cli_free(c);
}

/* A client that dies in the middle of an image leaves nothing behind. */
Test(ckpt, unfinished_image_discarded_when_its_session_ends)
{
	struct cli *c = cli_job("gone"), *d;
	struct wire_gen_info v[2];
	struct wire_ckpt_prepare m;
	uint8_t img[4096] = { 7 }, hdr[WIRE_CKPT_PREPARE_HDR];
	char tmp[200];
	struct stat st;

	m = (struct wire_ckpt_prepare){ 1, 0, WIRE_CKPT_TOTAL_UNKNOWN, { img, sizeof(img) } };
	wire_enc_ckpt_prepare_hdr(hdr, nid(c), &m);
	send_bytes(c, hdr, sizeof(hdr));
	send_bytes(c, img, sizeof(img));
	cr_assert_eq(recv_answer(c, c->next_id - 1, WIRE_CKPT_PREPARE), 0);
	snprintf(tmp, sizeof(tmp), "%s/gone/gen-1.ckpt.tmp", statep);
	cr_assert(stat(tmp, &st) == 0, "the image is being written");
	cli_free(c); /* the session ends before CKPT_DONE */
	cr_expect(stat(tmp, &st) < 0, "%s removed at the end of its session", tmp);
	d = cli_job("gone");
	cr_expect_eq(c_query(d, v, 2), 0);
	cli_free(d);
}

Test(ckpt, job_list_names_every_job_with_a_store)
{
	struct cli *a = cli_job("first"), *b = cli_job("second.job"), *n = cli_job("");
	struct wire_job_list_reply m;
	struct wire_str e;
	uint8_t img[16] = { 1 };
	int seen = 0;

	cr_assert_eq(c_checkpoint(a, 1, img, sizeof(img)), 0);
	cr_assert_eq(c_checkpoint(b, 4, img, sizeof(img)), 0);
	/* a session without a job may list */
	cr_assert_eq(call(n, wire_enc_empty(n->req, WIRE_MAX_FRAME, WIRE_JOB_LIST, 0, nid(n))), 0);
	cr_assert_eq(wire_dec_job_list_reply(n->pl, n->plen, &m), 0);
	cr_assert_eq(m.count, 2);
	while (wire_job_list_next(&m, &e) == 1) {
		if (e.len == 5 && !memcmp(e.p, "first", 5))
			seen |= 1;
		if (e.len == 10 && !memcmp(e.p, "second.job", 10))
			seen |= 2;
	}
	cr_assert_eq(seen, 3);
	cli_free(a);
	cli_free(b);
	cli_free(n);
}

Test(ckpt, job_list_without_a_store_is_enotsup)
{
	struct srv_store *st = cfg.store;
	struct cli *n;

	cfg.store = NULL;
	n = cli_job("");
	cr_expect_eq(call(n, wire_enc_empty(n->req, WIRE_MAX_FRAME, WIRE_JOB_LIST, 0, nid(n))), ENOTSUP);
	cli_free(n);
	cfg.store = st;
}

/* ---- rollback ---------------------------------------------------------------------------------- */

Test(ckpt, rollback_undoes_every_kind_of_change)
{
	struct cli *c;
	uint8_t img[32] = "the image of generation 1";
	struct wire_rollback_reply rr;

	make_tree();
	c = cli_job("job-r");
	cr_assert_eq(c_checkpoint(c, 1, img, sizeof(img)), 0, "%s", c->msg);
	snapshot();
	change_everything(c);
	cr_assert_eq(c_rollback(c, 1, &rr), 0, "%s", c->msg);
	cr_expect_eq(rr.image_xxh64, XXH64(img, sizeof(img), 0));
	expect_root_is_snapshot();
	/* again: a repeated rollback changes nothing */
	cr_assert_eq(c_rollback(c, 1, NULL), 0, "%s", c->msg);
	expect_root_is_snapshot();
	/* and the epoch starts afresh: change, roll back once more */
	change_everything(c);
	cr_assert_eq(c_rollback(c, 1, NULL), 0, "%s", c->msg);
	expect_root_is_snapshot();
	cli_free(c);
}

Test(ckpt, files_open_across_the_checkpoint)
{
	struct cli *c;
	uint8_t img[8] = "img";
	uint64_t h, h2;

	make_tree();
	c = cli_job("job-o");
	cr_assert_eq(c_open(c, "big.bin", WIRE_O_RDWR, 0, &h), 0);
	cr_assert_eq(c_open(c, "log.txt", WIRE_O_WRONLY, 0, &h2), 0);
	cr_assert_eq(c_pwrite(c, h, 0, 0, "before", 6), 0);
	cr_assert_eq(c_checkpoint(c, 1, img, sizeof(img)), 0, "%s", c->msg);
	snapshot();
	cr_assert_eq(c_pwrite(c, h, 100, 0, "after the checkpoint", 20), 0);
	cr_assert_eq(c_pwrite(c, h2, 0, WIRE_PWRITE_APPEND, "appended\n", 9), 0);
	/* unlinked while open, then written through the handle */
	cr_assert_eq(c_path(c, WIRE_UNLINK, "log.txt", 0, 0), 0);
	cr_assert_eq(c_pwrite(c, h2, 0, 0, "XXXX", 4), 0);
	/* the restarting client's sessions are new; this one still has files
	 * open, which a rollback from this session allows */
	cr_assert_eq(c_close(c, h), 0);
	cr_assert_eq(c_close(c, h2), 0);
	cr_assert_eq(c_rollback(c, 1, NULL), 0, "%s", c->msg);
	expect_root_is_snapshot();
	cli_free(c);
}

Test(ckpt, rollback_waits_for_other_sessions_to_close)
{
	struct cli *a = cli_job("job-busy"), *b = cli_job("job-busy");
	uint8_t img[8] = "img";
	uint64_t h;

	root_write("f", "x", 1, 0644);
	cr_assert_eq(c_checkpoint(a, 1, img, sizeof(img)), 0);
	cr_assert_eq(c_open(b, "f", WIRE_O_RDONLY, 0, &h), 0);
	cr_expect_eq(c_rollback(a, 1, NULL), EBUSY);
	cr_expect(strstr(a->msg, "open") != NULL, "message: %s", a->msg);
	cr_assert_eq(c_close(b, h), 0);
	cr_expect_eq(c_rollback(a, 1, NULL), 0, "%s", a->msg);
	cli_free(a);
	cli_free(b);
}

Test(ckpt, two_generations_abort_then_rollback_to_either)
{
	struct cli *c;
	uint8_t img[8] = "img";
	char snap1[160], cmd[512];

	make_tree();
	c = cli_job("job-2");
	cr_assert_eq(c_checkpoint(c, 1, img, sizeof(img)), 0);
	snapshot();
	snprintf(snap1, sizeof(snap1), "%s/snap1", base);
	snprintf(cmd, sizeof(cmd), "cp -a %s %s", snapp, snap1);
	cr_assert_eq(system(cmd), 0);
	c_write_file(c, "log.txt", WIRE_O_APPEND, 0, "between 1 and 2\n", 16);
	c_write_file(c, "big.bin", 0, 10, "AB", 2);
	cr_assert_eq(c_path(c, WIRE_UNLINK, "gone.txt", 0, 0), 0);
	cr_assert_eq(c_checkpoint(c, 2, img, sizeof(img)), 0);
	snapshot(); /* state at 2 */
	c_write_file(c, "log.txt", WIRE_O_APPEND, 0, "after 2\n", 8);
	c_write_file(c, "big.bin", 0, 10, "CD", 2);
	c_write_file(c, "n2", WIRE_O_CREAT, 0, "n", 1);
	/* to the newer one */
	cr_assert_eq(c_rollback(c, 2, NULL), 0, "%s", c->msg);
	expect_root_is_snapshot();
	/* more changes, then gen 3 is aborted: rolling back to 1 undoes all */
	c_write_file(c, "big.bin", 0, 11, "EF", 2);
	cr_assert_eq(c_checkpoint(c, 3, img, sizeof(img)), 0);
	c_write_file(c, "big.bin", 0, 12, "GH", 2);
	cr_assert_eq(c_gen(c, WIRE_CKPT_ABORT, 3), 0);
	cr_expect_eq(c_rollback(c, 3, NULL), ENOENT, "aborted");
	cr_expect_eq(c_checkpoint(c, 3, img, sizeof(img)), EINVAL, "3 was used: 4 comes next");
	cr_assert_eq(c_rollback(c, 1, NULL), 0, "%s", c->msg);
	snprintf(cmd, sizeof(cmd), "rm -rf %s && mv %s %s", snapp, snap1, snapp);
	cr_assert_eq(system(cmd), 0);
	expect_root_is_snapshot();
	{
		struct wire_gen_info v[4];

		cr_assert_eq(c_query(c, v, 4), 1, "2 was dropped by the rollback to 1");
		cr_expect_eq(v[0].gen, 1);
	}
	cli_free(c);
}

static void corrupt(const char *name, long off, int truncate_to)
{
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", statep, name);
	fd = open(path, O_RDWR);
	cr_assert(fd >= 0, "%s", path);
	if (truncate_to) {
		struct stat st;

		cr_assert(fstat(fd, &st) == 0);
		cr_assert(ftruncate(fd, st.st_size - truncate_to) == 0);
	} else {
		uint8_t b;

		cr_assert(pread(fd, &b, 1, off) == 1);
		b ^= 0x40;
		cr_assert(pwrite(fd, &b, 1, off) == 1);
	}
	close(fd);
}

Test(ckpt, corrupt_joint_file_is_refused_and_older_generation_works)
{
	struct cli *c;
	uint8_t *img = pattern(10000, 5);
	struct wire_rollback_reply rr;

	make_tree();
	c = cli_job("job-x");
	cr_assert_eq(c_checkpoint(c, 1, img, 10000), 0);
	snapshot();
	c_write_file(c, "log.txt", WIRE_O_APPEND, 0, "one\n", 4);
	cr_assert_eq(c_checkpoint(c, 2, img, 10000), 0);
	cr_assert_eq(c_checkpoint(c, 3, img, 10000), 0);
	c_write_file(c, "log.txt", WIRE_O_APPEND, 0, "two\n", 4);
	/* a byte of the image of 3, the header of 2 */
	corrupt("job-x/gen-3.ckpt", 4096 + 5000, 0);
	cr_expect_eq(c_rollback(c, 3, NULL), EBADMSG);
	cr_expect(strstr(c->msg, "corrupt") && strstr(c->msg, "gen-3.ckpt"), "message: %s", c->msg);
	corrupt("job-x/gen-2.ckpt", 50, 0);
	cr_expect_eq(c_rollback(c, 2, NULL), EBADMSG);
	cr_expect(strstr(c->msg, "header"), "message: %s", c->msg);
	/* nothing was touched by the refused rollbacks */
	{
		char path[512];
		struct stat st;

		snprintf(path, sizeof(path), "%s/log.txt", rootp);
		cr_assert(stat(path, &st) == 0);
		cr_expect_eq(st.st_size, 14 + 8);
	}
	cr_assert_eq(c_rollback(c, 1, &rr), 0, "%s", c->msg);
	cr_expect_eq(rr.image_xxh64, XXH64(img, 10000, 0));
	expect_root_is_snapshot();
	/* truncated */
	cr_assert_eq(c_checkpoint(c, 2, img, 10000), 0);
	corrupt("job-x/gen-2.ckpt", 0, 10);
	cr_expect_eq(c_rollback(c, 2, NULL), EBADMSG);
	cr_expect(strstr(c->msg, "corrupt"), "message: %s", c->msg);
	cr_expect_eq(c_rollback(c, 1, NULL), 0, "%s", c->msg);
	free(img);
	cli_free(c);
}

/* ROLLBACK_CHECK answers as ROLLBACK would and changes nothing. */
Test(ckpt, rollback_check_changes_nothing)
{
	struct cli *c;
	uint8_t *img = pattern(10000, 6);
	struct wire_rollback_reply rr;
	char path[512];
	struct stat st;

	make_tree();
	c = cli_job("job-k");
	cr_assert_eq(c_checkpoint(c, 1, img, 10000), 0);
	cr_assert_eq(c_checkpoint(c, 2, img, 10000), 0);
	c_write_file(c, "log.txt", WIRE_O_APPEND, 0, "after\n", 6);
	cr_assert_eq(c_gen(c, WIRE_ROLLBACK_CHECK, 2), 0, "%s", c->msg);
	cr_assert_eq(wire_dec_rollback_reply(c->pl, c->plen, &rr), 0);
	cr_expect_eq(rr.gen, 2);
	cr_expect_eq(rr.image_size, 10000);
	cr_expect_eq(rr.image_xxh64, XXH64(img, 10000, 0));
	cr_expect_eq(c_gen(c, WIRE_ROLLBACK_CHECK, 9), ENOENT);
	corrupt("job-k/gen-2.ckpt", 4096 + 10, 0);
	cr_expect_eq(c_gen(c, WIRE_ROLLBACK_CHECK, 2), EBADMSG);
	cr_expect(strstr(c->msg, "corrupt"), "message: %s", c->msg);
	snprintf(path, sizeof(path), "%s/log.txt", rootp);
	cr_assert(stat(path, &st) == 0);
	cr_expect_eq(st.st_size, 14 + 6, "nothing rolled back");
	cr_expect_eq(c_gen(c, WIRE_ROLLBACK_CHECK, 1), 0, "%s", c->msg);
	free(img);
	cli_free(c);
}

Test(ckpt, interrupted_rollback_finishes_at_restart)
{
	struct cli *c;
	uint8_t img[8] = "img";
	uint8_t marker[36] = { 'C', 'K', 'P', 'T', 'R', 'B', 'K', '1' };
	char path[512];
	int fd;

	make_tree();
	c = cli_job("job-k");
	cr_assert_eq(c_checkpoint(c, 1, img, sizeof(img)), 0);
	snapshot();
	change_everything(c);
	cli_free(c);
	/* the server was killed right after it wrote the marker of a rollback
	 * to 1 (target 1, nothing undone yet, phase 1) */
	marker[15] = 1;
	memset(marker + 16, 0xff, 8);
	marker[35] = 1;
	snprintf(path, sizeof(path), "%s/job-k/rollback", statep);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, marker, sizeof(marker)), (ssize_t)sizeof(marker));
	close(fd);
	/* the server starts again */
	srv_store_close(cfg.store);
	store_open();
	expect_root_is_snapshot();
	cr_expect(access(path, F_OK) < 0, "the marker is gone once finished");
	c = cli_job("job-k");
	cr_expect_eq(c_rollback(c, 1, NULL), 0, "%s", c->msg);
	expect_root_is_snapshot();
	cli_free(c);
}

Test(ckpt, recording_survives_a_server_restart)
{
	struct cli *c;
	uint8_t img[8] = "img";

	make_tree();
	c = cli_job("job-s");
	cr_assert_eq(c_checkpoint(c, 1, img, sizeof(img)), 0);
	snapshot();
	c_write_file(c, "big.bin", 0, 0, "ZZZZ", 4);
	cli_free(c);
	srv_store_close(cfg.store);
	store_open();
	c = cli_job("job-s");
	c_write_file(c, "big.bin", 0, 2, "YYYY", 4); /* block 0 again, after a restart */
	cr_assert_eq(c_path(c, WIRE_UNLINK, "cut.txt", 0, 0), 0);
	cr_assert_eq(c_rollback(c, 1, NULL), 0, "%s", c->msg);
	expect_root_is_snapshot();
	cli_free(c);
}

/* ---- the store is hidden ------------------------------------------------------------------------- */

Test(ckpt, store_inside_the_root_is_hidden)
{
	struct cli *c = cli_job("job-h");
	uint8_t img[8] = "img";
	uint64_t h;
	int seen = 0;

	cr_assert_eq(c_checkpoint(c, 1, img, sizeof(img)), 0);
	cr_expect_eq(c_open(c, ".ckpt-state/job-h/gen-1.ckpt", WIRE_O_RDONLY, 0, &h), EACCES);
	cr_expect_eq(c_open(c, ".ckpt-state", WIRE_O_RDONLY | WIRE_O_DIRECTORY, 0, &h), EACCES);
	cr_expect_eq(c_path(c, WIRE_UNLINK, ".ckpt-state", WIRE_AT_REMOVEDIR, 0), EACCES);
	cr_expect_eq(c_two(c, WIRE_RENAME, ".ckpt-state", "stolen", 0), EACCES);
	/* nor through a symlink */
	cr_assert_eq(c_two(c, WIRE_SYMLINK, ".ckpt-state", "sneak", 0), 0);
	cr_expect_eq(c_open(c, "sneak/job-h/gen-1.ckpt", WIRE_O_RDONLY, 0, &h), EACCES);
	cr_expect_eq(c_path(c, WIRE_UNLINK, "sneak/job-h/gen-1.ckpt", 0, 0), EACCES);
	cr_expect_eq(c_path(c, WIRE_STAT, "sneak", 0, 0), EACCES);
	/* and not listed */
	cr_assert_eq(c_open(c, "", WIRE_O_RDONLY | WIRE_O_DIRECTORY, 0, &h), 0);
	{
		struct wire_readdir q = { h, 0, 65536 };
		struct wire_readdir_reply r;
		struct wire_dirent e;

		cr_assert_eq(call(c, wire_enc_readdir(c->req, WIRE_MAX_FRAME, nid(c), &q)), 0);
		cr_assert_eq(wire_dec_readdir_reply(c->pl, c->plen, &r), 0);
		while (wire_dirent_next(&r, &e) == 1) {
			cr_expect(!(e.name.len == 11 && !memcmp(e.name.p, ".ckpt-state", 11)),
				  "the store is listed");
			seen++;
		}
	}
	cr_expect_geq(seen, 3, ". .. sneak");
	cli_free(c);
}
