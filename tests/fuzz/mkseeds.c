/* mkseeds.c - writes the seed corpora of the fuzz harnesses (tests/fuzz/corpus/NAME/).
 *
 *   mkseeds DIR     (make fuzz-seeds: DIR = tests/fuzz/corpus)
 *
 * Every seed is built with the real encoders (wire/), so that each is a
 * valid message or file the fuzzer mutates from: one payload per decoder
 * for `msg`, request and reply streams for `frame`, joint files, state
 * sections and header regions for `ckptfile` and `joint`, process images
 * for `image` (built field by field as tests/unit/test_tool.c does; the
 * shim's writer needs a live process). Each seed starts with the
 * harness's control byte. Files are rewritten, never deleted: regression
 * seeds added by hand stay.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../../preload/img.h"
#include "ckptfile.h"
#include "fuzz_msgs.h"
#include "imgbuild.h"

static const char *root;

static void put_file(const char *name, const char *file, uint8_t ctl, const void *p, size_t n)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, name);
	if (mkdir(path, 0755) < 0 && errno != EEXIST) {
		perror(path);
		exit(1);
	}
	snprintf(path, sizeof(path), "%s/%s/%s", root, name, file);
	f = fopen(path, "wb");
	if (!f || fputc(ctl, f) == EOF || fwrite(p, 1, n, f) != n || fclose(f)) {
		fprintf(stderr, "mkseeds: cannot write %s\n", path);
		exit(1);
	}
}

static struct wire_str S(const char *s)
{
	return (struct wire_str){ s, (uint32_t)strlen(s) };
}

/* ---- messages ------------------------------------------------------------------------- */

static const struct wire_stat st = { 0x801, 77, 0100644, 1, 1000, 1000, 0, 1234, 4096, 8,
				     1700000000, 1700000001, 1700000002, 1, 2, 3 };

/* One valid frame of the message (type, reply) into buf: its length. */
static long sample(uint16_t type, int reply, uint8_t *buf, size_t cap)
{
	static const uint8_t data[] = "some file data";
	uint64_t id = 42;

	if (type == WIRE_HELLO) {
		/* designated: struct wire_hello grows with the options */
		struct wire_hello m = { .version = WIRE_PROTO_VERSION, .byte_order = WIRE_BO_LITTLE,
					.page_size = PS, .pid = reply ? 0 : 4242, .session = reply ? 9 : 0,
					.max_frame = WIRE_MAX_FRAME, .arch = S("x86_64"), .job = S("job1"),
					.peer = S(reply ? "ckpt-server 0.1.0" : "libckptshim 0.1.0") };

		/* with the authentication option of its side (PROTOCOL.md 3.4);
		 * the reply also offers READ_FD, as to a unix peer of our user */
		if (reply) {
			m.challenge = 1;
			m.read_fds = 1;
		} else {
			m.auth_kind = 2;
		}
		memset(m.nonce, 0x5a, sizeof(m.nonce));
		memset(m.proof, 0xa5, sizeof(m.proof));
		return wire_enc_hello(buf, cap, id, reply ? WIRE_F_REPLY : 0, &m);
	}
	if (reply) {
		switch (type) {
		case WIRE_OPEN: {
			struct wire_open_reply m = { 5, st };

			return wire_enc_open_reply(buf, cap, id, &m);
		}
		case WIRE_PREAD:
		case WIRE_IMAGE_READ:
			return wire_enc_data_reply(buf, cap, type, id, data, sizeof(data) - 1);
		case WIRE_PWRITE: {
			struct wire_pwrite_reply m = { 14, 114 };

			return wire_enc_pwrite_reply(buf, cap, id, &m);
		}
		case WIRE_FSTAT:
		case WIRE_STAT:
			return wire_enc_stat_reply(buf, cap, type, id, &st);
		case WIRE_READLINK:
			return wire_enc_str_reply(buf, cap, type, id, "../target", 9);
		case WIRE_READDIR: {
			struct wire_dir_builder b;
			struct wire_dirent e1 = { 2, 1, 4, S(".") }, e2 = { 3, 2, 8, S("file.txt") };

			wire_readdir_reply_begin(&b, buf, cap, id, 4096);
			wire_readdir_reply_add(&b, &e1);
			wire_readdir_reply_add(&b, &e2);
			return wire_readdir_reply_end(&b, 1);
		}
		case WIRE_STATFS: {
			struct wire_statfs_reply m = { 4096, 4096, 1000, 500, 400, 100, 50, 40, 255, 7,
						       WIRE_ST_NOATIME };

			return wire_enc_statfs_reply(buf, cap, id, &m);
		}
		case WIRE_CKPT_DONE: {
			struct wire_ckpt_done_reply m = { 3, 8192 };

			return wire_enc_ckpt_done_reply(buf, cap, id, &m);
		}
		case WIRE_ROLLBACK_QUERY: {
			struct wire_gen_info v[2] = { { 2, WIRE_GEN_COMMITTED, 5000 },
						      { 3, WIRE_GEN_PREPARED, 6000 } };

			return wire_enc_rollback_query_reply(buf, cap, id, v, 2);
		}
		case WIRE_ROLLBACK:
		case WIRE_ROLLBACK_CHECK: {
			struct wire_rollback_reply m = { 2, 5000, 0x1234567890abcdefull };

			return wire_enc_rollback_reply_as(buf, cap, type, id, &m);
		}
		case WIRE_JOB_LIST: {
			struct wire_str v[2] = { S("job1"), S("other.job-2") };

			return wire_enc_job_list_reply(buf, cap, id, v, 2);
		}
		}
		return wire_enc_empty(buf, cap, type, WIRE_F_REPLY, id);
	}
	switch (type) {
	case WIRE_OPEN: {
		struct wire_open m = { S("dir/file.txt"), WIRE_O_RDWR | WIRE_O_CREAT, 0644 };

		return wire_enc_open(buf, cap, id, &m);
	}
	case WIRE_CLOSE:
	case WIRE_FSTAT:
	case WIRE_READ_FD: {
		struct wire_handle m = { 5 };

		return wire_enc_handle(buf, cap, type, id, &m);
	}
	case WIRE_PREAD: {
		struct wire_pread m = { 5, 100, 4096 };

		return wire_enc_pread(buf, cap, id, &m);
	}
	case WIRE_PWRITE: {
		struct wire_pwrite m = { 5, 100, 0, { data, sizeof(data) - 1 } };

		return wire_enc_pwrite(buf, cap, id, &m);
	}
	case WIRE_FTRUNCATE: {
		struct wire_ftruncate m = { 5, 1000 };

		return wire_enc_ftruncate(buf, cap, id, &m);
	}
	case WIRE_FSYNC: {
		struct wire_fsync m = { 5, 1 };

		return wire_enc_fsync(buf, cap, id, &m);
	}
	case WIRE_STAT:
	case WIRE_ACCESS:
	case WIRE_UNLINK:
	case WIRE_MKDIR:
	case WIRE_READLINK:
	case WIRE_STATFS: {
		struct wire_path_req m = { S("dir/sub/name"), type == WIRE_STAT ? WIRE_AT_NOFOLLOW : 0,
					   type == WIRE_MKDIR ? 0755 : type == WIRE_ACCESS ? WIRE_R_OK : 0 };

		return wire_enc_path_req(buf, cap, type, id, &m);
	}
	case WIRE_RENAME:
	case WIRE_SYMLINK:
	case WIRE_LINK: {
		struct wire_two_paths m = { S(type == WIRE_SYMLINK ? "../x/target" : "a/old"), S("b/new"),
					    type == WIRE_RENAME ? WIRE_RENAME_NOREPLACE : 0 };

		return wire_enc_two_paths(buf, cap, type, id, &m);
	}
	case WIRE_READDIR: {
		struct wire_readdir m = { 6, 0, 65536 };

		return wire_enc_readdir(buf, cap, id, &m);
	}
	case WIRE_SETATTR: {
		struct wire_setattr m = { 0, S("dir/file.txt"), 0, WIRE_SET_MODE | WIRE_SET_MTIME | WIRE_SET_SIZE,
					  0600, 0xffffffffu, 0xffffffffu, 77, 0, 1700000000, 0, 5 };

		return wire_enc_setattr(buf, cap, id, &m);
	}
	case WIRE_CKPT_PREPARE: {
		struct wire_ckpt_prepare m = { 3, 0, 100, { data, sizeof(data) - 1 } };

		return wire_enc_ckpt_prepare(buf, cap, id, &m);
	}
	case WIRE_CKPT_DONE: {
		struct wire_ckpt_done m = { 3, 100, 0xfeedfacecafebeefull };

		return wire_enc_ckpt_done(buf, cap, id, &m);
	}
	case WIRE_CKPT_COMMIT:
	case WIRE_CKPT_ABORT:
	case WIRE_ROLLBACK:
	case WIRE_ROLLBACK_CHECK: {
		struct wire_gen m = { 3 };

		return wire_enc_gen(buf, cap, type, id, &m);
	}
	case WIRE_IMAGE_READ: {
		struct wire_image_read m = { 3, 0, 65536 };

		return wire_enc_image_read(buf, cap, id, &m);
	}
	case WIRE_AUTH: {
		uint8_t proof[32];

		memset(proof, 0x3c, sizeof(proof));
		return wire_enc_auth(buf, cap, id, proof);
	}
	}
	return wire_enc_empty(buf, cap, type, 0, id); /* PING, ROLLBACK_QUERY, JOB_LIST */
}

static void must(long n, const char *what)
{
	if (n < (long)WIRE_HDR_SIZE) {
		fprintf(stderr, "mkseeds: cannot encode %s: %s\n", what, wire_strerror((int)n));
		exit(1);
	}
}

static void msg_seeds(void)
{
	static uint8_t buf[1 << 16], stream[2][1 << 16];
	size_t slen[2] = { 0, 0 };
	char file[64];

	for (size_t i = 0; i < FZ_NDECS - 1; i++) {
		const struct fz_dec *d = &fz_decs[i];
		long n = sample(d->type, d->reply, buf, sizeof(buf));

		must(n, d->name);
		snprintf(file, sizeof(file), "%02zu-%s-%s", i, wire_type_name(d->type), d->reply ? "reply" : "req");
		put_file("msg", file, (uint8_t)i, buf + WIRE_HDR_SIZE, (size_t)n - WIRE_HDR_SIZE);
		/* the streams: HELLO first, then every request or reply */
		if (slen[d->reply] + (size_t)n <= sizeof(stream[0])) {
			if (d->type == WIRE_HELLO) { /* HELLO first */
				memmove(stream[d->reply] + n, stream[d->reply], slen[d->reply]);
				memcpy(stream[d->reply], buf, (size_t)n);
			} else {
				memcpy(stream[d->reply] + slen[d->reply], buf, (size_t)n);
			}
			slen[d->reply] += (size_t)n;
		}
	}
	{
		struct wire_error e = { WIRE_ERRNO_ENOENT, S("no such file: dir/file.txt") };
		long n = wire_enc_error(buf, sizeof(buf), WIRE_OPEN, 42, &e);

		must(n, "error reply");
		snprintf(file, sizeof(file), "%02zu-error-reply", FZ_NDECS - 1);
		put_file("msg", file, (uint8_t)(FZ_NDECS - 1), buf + WIRE_HDR_SIZE, (size_t)n - WIRE_HDR_SIZE);
		memcpy(stream[1] + slen[1], buf, (size_t)n);
		slen[1] += (size_t)n;
	}
	{ /* a HELLO with options (tag[2] len[2] bytes), which no encoder writes yet */
		static const uint8_t opts[] = { 0, 1, 0, 3, 'a', 'b', 'c', 0x7f, 0xff, 0, 0 };
		struct wire_hdr h;
		long n = sample(WIRE_HELLO, 0, buf, sizeof(buf) - sizeof(opts));

		must(n, "HELLO");
		memcpy(buf + n, opts, sizeof(opts));
		n += (long)sizeof(opts);
		put_file("msg", "00-HELLO-req-options", 0, buf + WIRE_HDR_SIZE, (size_t)n - WIRE_HDR_SIZE);
		if (wire_hdr_decode(buf, WIRE_HDR_SIZE, WIRE_MAX_FRAME, &h)) {
			fprintf(stderr, "mkseeds: bad HELLO header\n");
			exit(1);
		}
		h.length = (uint32_t)n;
		wire_hdr_encode(buf, &h);
		memcpy(buf + n, stream[0], slen[0]);
		put_file("frame", "server-hello-options", 0, buf, (size_t)n + slen[0]);
	}
	{ /* READ_FDS after an option the encoder drops: decode -> encode moves
	   * it up, so only the fixed part stays a prefix (fz_hello) */
		static const uint8_t opts[] = { 0x7f, 0xff, 0, 1, 'x', 0, WIRE_OPT_READ_FDS, 0, 0 };
		long n = sample(WIRE_HELLO, 0, buf, sizeof(buf) - sizeof(opts));

		must(n, "HELLO");
		memcpy(buf + n, opts, sizeof(opts));
		n += (long)sizeof(opts);
		put_file("msg", "00-HELLO-req-read-fds-after-unknown", 0, buf + WIRE_HDR_SIZE,
			 (size_t)n - WIRE_HDR_SIZE);
	}
	/* frame control: bits 0-1 max frame, bit 2 the client's direction */
	put_file("frame", "server-stream", 0, stream[0], slen[0]);
	put_file("frame", "server-stream-64k", 1, stream[0], slen[0]);
	put_file("frame", "client-stream", 4, stream[1], slen[1]);
	put_file("frame", "client-stream-4k", 6, stream[1], slen[1]);
}

/* ---- process images: built by tests/unit/imgbuild.h, as test_tool.c builds them ------------------ */

/* bt: 0 none, 1 empty, 2 three frames; extra: a section of an unknown tag */
static void build_image(struct ib *ib, int bt, int extra)
{
	struct knobs k;

	memset(&k, 0, sizeof(k));
	k.no_bt = bt == 0;
	k.empty_bt = bt == 1;
	k.unknown_tag = extra;
	build(ib, &k);
}

/* ---- joint files ------------------------------------------------------------------------ */

static uint8_t state[512];
static long state_len;

static void build_state(void)
{
	struct wire_ckf_state_builder sb;
	struct wire_ckf_file f = { WIRE_CKF_FILE_OPEN | WIRE_CKF_FILE_CHANGED, S("dir/out.txt"), 99, 0100644,
				   1234, 1000, 1000, 1700000000, 5, WIRE_O_RDWR | WIRE_O_APPEND };
	struct wire_ckf_file g = { 0, S("data/in.dat"), 100, 0100600, 0, 0, 0, 0, 0, 0 };

	wire_ckf_state_begin(&sb, state, sizeof(state), 3, 2);
	if (wire_ckf_state_add(&sb, &f) || wire_ckf_state_add(&sb, &g) || (state_len = wire_ckf_state_end(&sb)) <= 0) {
		fprintf(stderr, "mkseeds: cannot build a server state\n");
		exit(1);
	}
}

/* A joint file of the image with a header region of hs bytes into j. */
static size_t build_joint(uint8_t *j, size_t cap, const struct ib *im, uint32_t hs)
{
	struct wire_ckf_header h;
	size_t off = hs;

	memset(&h, 0, sizeof(h));
	h.header_size = hs;
	h.file_size = off + im->len + (uint64_t)state_len + WIRE_CKF_TRAILER;
	if (h.file_size > cap) {
		fprintf(stderr, "mkseeds: joint file too large\n");
		exit(1);
	}
	memcpy(j + off, im->b, im->len);
	memcpy(j + off + im->len, state, (size_t)state_len);
	h.job = S("job1");
	h.gen = 3;
	h.created_sec = 1700000000;
	h.created_nsec = 5;
	h.client_arch = S("x86_64");
	h.client_byte_order = WIRE_BO_LITTLE;
	h.client_page_size = PS;
	h.server_arch = S("s390x");
	h.server_byte_order = WIRE_BO_BIG;
	h.server_page_size = PS;
	h.nsections = 2;
	h.sect[0] = (struct wire_ckf_section){ WIRE_CKF_CLIENT_IMAGE, 0, off, im->len, XXH64(im->b, im->len, 0) };
	h.sect[1] = (struct wire_ckf_section){ WIRE_CKF_SERVER_STATE, 0, off + im->len, (uint64_t)state_len,
					       XXH64(state, (size_t)state_len, 0) };
	if (wire_ckf_build_header(j, cap, &h) != (long)hs) {
		fprintf(stderr, "mkseeds: cannot build a joint header\n");
		exit(1);
	}
	wire_ckf_build_trailer(j + h.file_size - WIRE_CKF_TRAILER, j, &h);
	return (size_t)h.file_size;
}

int main(int argc, char **argv)
{
	static struct ib im;
	static uint8_t j[1 << 16];
	size_t n;

	if (argc != 2) {
		fprintf(stderr, "usage: mkseeds DIR\n");
		return 2;
	}
	root = argv[1];
	msg_seeds();
	build_state();
	/* image control: bit 0 keeps the footer as it is */
	build_image(&im, 2, 0);
	put_file("image", "image", 0, im.b, im.len);
	put_file("image", "image-raw", 1, im.b, im.len);
	build_image(&im, 1, 1);
	put_file("image", "image-empty-bt-unknown-tag", 0, im.b, im.len);
	build_image(&im, 0, 0);
	put_file("image", "image-no-bt", 0, im.b, im.len);
	/* joint control: bit 0 keeps the checksums, bit 1 skips the image; a
	 * small header region keeps the inputs short */
	build_image(&im, 2, 0);
	n = build_joint(j, sizeof(j), &im, 256);
	put_file("joint", "joint", 0, j, n);
	put_file("joint", "joint-raw", 1, j, n);
	put_file("joint", "joint-no-image", 2, j, n);
	/* ckptfile control: 0 fixed up, 1 raw, 2 state section, 3 header region */
	put_file("ckptfile", "joint", 0, j, n);
	put_file("ckptfile", "joint-raw", 1, j, n);
	put_file("ckptfile", "state", 2, state, (size_t)state_len);
	put_file("ckptfile", "header", 3, j, 256);
	/* a section's reserved field set: readers ignore it (CHECKPOINT.md 2),
	 * so the header parses, but does not build back to the same bytes */
	j[24 + 2 + 4 + 8 + 8 + 4 + 2 + 6 + 1 + 4 + 2 + 5 + 1 + 4 + 2 + 28 + 7] = 1;
	put_file("ckptfile", "header-reserved-set", 3, j, 256);
	n = build_joint(j, sizeof(j), &im, WIRE_CKF_HEADER_SIZE);
	put_file("joint", "joint-4k-header", 0, j, n);
	return 0;
}
