/* test_tool.c - the ckpt tool's parsers: process images, joint files, status lines, names and addresses.
 *
 * Images and joint files are built here field by field (big-endian, through
 * the wire/ cursors), written to a temporary file and loaded as `ckpt
 * inspect` loads them. Besides the good cases and each rule broken on
 * purpose, every truncation of an image, and every single-byte change with
 * the footer checksum recomputed (so that the structural checks, not the
 * checksum, must catch it), has to give a clean verdict: the ASan run of
 * this suite turns any read out of bounds into a failure.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "ckptfile.h"
#include "img.h"
#include "image.h"
#include "joint.h"
#include "status.h"
#include "tool.h"
#include "wire.h"

/* ---- building images: imgbuild.h ---------------------------------------------------------------- */

#include "imgbuild.h"

static char tmpl[64];

static int file_of(const void *p, size_t n)
{
	int fd;

	snprintf(tmpl, sizeof(tmpl), "/tmp/ckpt-tool-test.XXXXXX");
	fd = mkstemp(tmpl);
	cr_assert(fd >= 0);
	unlink(tmpl);
	cr_assert_eq(write(fd, p, n), (ssize_t)n);
	return fd;
}

/* Load n bytes as an image: 0 or -1 (tool_err). */
static int load(const void *p, size_t n, struct timg *im)
{
	int fd = file_of(p, n), rc = timg_load(im, fd, 0, n);

	close(fd);
	return rc;
}

static struct ib img;

static void expect_corrupt(const struct knobs *k, const char *why)
{
	struct timg im;

	build(&img, k);
	cr_assert_eq(load(img.b, img.len, &im), -1, "loaded although: %s", why);
	cr_expect(strstr(tool_err, why), "'%s' does not say '%s'", tool_err, why);
	timg_free(&im);
}

/* ---- images ---------------------------------------------------------------------------------- */

Test(image, good)
{
	struct knobs k = {0};
	struct timg im;
	char *out = NULL;
	size_t outlen = 0;
	FILE *f;

	build(&img, &k);
	cr_assert_eq(load(img.b, img.len, &im), 0, "%s", tool_err);
	cr_expect_eq(im.page_size, PS);
	cr_expect_eq(im.pid, 4242);
	cr_expect_eq(im.nfds, 4);
	cr_expect_eq(im.fds[2].share_with, 3);
	cr_expect_eq(im.nregions, 3);
	cr_expect_eq(im.regions[2].saved, 3);
	cr_expect_eq(im.pages_counted, 5);
	cr_expect(im.has_bt);
	cr_expect_eq(im.bt_nframes, 3);
	cr_expect_eq(im.gregs[16], 0x401234);
	f = open_memstream(&out, &outlen);
	timg_print(&im, f);
	fclose(f);
	cr_expect(strstr(out, "  #0 0x7f0000003003 clock_nanosleep+0x23 (/usr/lib/libc.so.6)\n"), "%s", out);
	cr_expect(strstr(out, "  #1 0x401234 dive+0x44 (/usr/bin/prog)\n"), "%s", out);
	cr_expect(strstr(out, "  #2 0x12345 ??\n"), "%s", out);
	cr_expect(strstr(out, "registers    rip 0x401234 rsp 0x7ffd00001000"), "%s", out);
	cr_expect(strstr(out, "cwd /work, umask 0022, brk 0x600000-0x621000"), "%s", out);
	cr_expect(strstr(out, "  SIGINT       ignored"), "%s", out);
	cr_expect(strstr(out, "  SIGUSR1      handler 0x7f0000002000"), "%s", out);
	cr_expect(strstr(out, "fd 4    remote"), "%s", out);
	cr_expect(strstr(out, "(shared with fd 3)"), "%s", out);
	cr_expect(strstr(out, "pages 3      [stack]"), "%s", out);
	cr_expect(strstr(out, "host\\x1b[2J"), "escape sequences are shown, not sent: %s", out);
	cr_expect(strstr(out, "time         2023-11-14 22:13:20.123 UTC"), "%s", out);
	cr_expect(!strchr(out, 0x1b));
	free(out);
	timg_free(&im);
}

Test(image, without_or_with_empty_backtrace)
{
	struct knobs k = {.no_bt = 1};
	struct timg im;

	build(&img, &k);
	cr_assert_eq(load(img.b, img.len, &im), 0, "%s", tool_err);
	cr_expect(!im.has_bt);
	timg_free(&im);
	k.no_bt = 0;
	k.empty_bt = 1;
	build(&img, &k);
	cr_assert_eq(load(img.b, img.len, &im), 0, "%s", tool_err);
	cr_expect(im.has_bt && im.bt_empty);
	timg_free(&im);
}

Test(image, unknown_sections_skipped)
{
	struct knobs k = {.unknown_tag = 1};
	struct timg im;

	build(&img, &k);
	cr_assert_eq(load(img.b, img.len, &im), 0, "%s", tool_err);
	cr_expect_eq(im.nsec[0], 1);
	timg_free(&im);
}

Test(image, rules)
{
	expect_corrupt(&(struct knobs){.dup_fd = 1}, "fd 3 appears twice");
	expect_corrupt(&(struct knobs){.share_later = 1}, "which is not earlier in the table");
	expect_corrupt(&(struct knobs){.overlap = 1}, "overlaps or precedes");
	expect_corrupt(&(struct knobs){.run_outside = 1}, "is outside the region or repeats a saved page");
	expect_corrupt(&(struct knobs){.end_pages_off = 1}, "END counts 6 pages saved");
	expect_corrupt(&(struct knobs){.bad_lz4 = 1}, "not an LZ4 frame");
	expect_corrupt(&(struct knobs){.swap_cpu_task = 1}, "out of order");
	expect_corrupt(&(struct knobs){.bad_obj = 1}, "names object 2 of 2");
	expect_corrupt(&(struct knobs){.second_info = 1}, "a second INFO section");
	expect_corrupt(&(struct knobs){.nregions_huge = 1}, "60000 regions do not fit");
	expect_corrupt(&(struct knobs){.resume_nowhere = 1}, "resume address 0x500000 is in no executable region");
	expect_corrupt(&(struct knobs){.stack_readonly = 1}, "resume stack 0x402000 is in no writable region");
	expect_corrupt(&(struct knobs){.special_in_hole = 1}, "special mapping 0 lies in the restore hole");
	expect_corrupt(&(struct knobs){.special_on_region = 1}, "region 1 overlaps special mapping 0");
	expect_corrupt(&(struct knobs){.above_user_space = 1}, "not in user space");
	expect_corrupt(&(struct knobs){.brk_disorder = 1}, "mm field 4 (0x622000) is past its end (0x621000)");
}

Test(image, checksum_and_framing)
{
	struct knobs k = {0};
	struct timg im;
	uint8_t *b;

	build(&img, &k);
	b = malloc(img.len);
	memcpy(b, img.b, img.len);
	b[200] ^= 0x10;
	cr_expect_eq(load(b, img.len, &im), -1);
	cr_expect(strstr(tool_err, "XXH64 checksum mismatch"), "%s", tool_err);
	timg_free(&im);
	memcpy(b, img.b, img.len);
	b[0] = 'X';
	cr_expect_eq(load(b, img.len, &im), -1);
	cr_expect(strstr(tool_err, "not a checkpoint image"), "%s", tool_err);
	timg_free(&im);
	memcpy(b, img.b, img.len);
	b[11] = 2; /* version 2 */
	cr_expect_eq(load(b, img.len, &im), -1);
	cr_expect(strstr(tool_err, "format version 2"), "%s", tool_err);
	timg_free(&im);
	free(b);
}

/* Every prefix of a good image is refused, cleanly. */
Test(image, every_truncation)
{
	struct knobs k = {0};
	struct timg im;
	int fd;

	build(&img, &k);
	fd = file_of(img.b, img.len);
	for (size_t n = 0; n < img.len; n++) {
		cr_assert_eq(timg_load(&im, fd, 0, n), -1, "a %zu-byte prefix loaded", n);
		cr_assert(strstr(tool_err, "corrupt") || strstr(tool_err, "magic"), "%zu: %s", n, tool_err);
		timg_free(&im);
	}
	close(fd);
}

/* Every byte changed (three ways) with the checksum made right again: a
 * clean verdict each time, and a description when it loads. */
Test(image, every_byte_changed)
{
	struct knobs k = {0};
	static const uint8_t flips[] = {0x01, 0x80, 0xff};
	uint8_t *b;
	FILE *null = fopen("/dev/null", "w");
	unsigned loaded = 0, refused = 0;

	build(&img, &k);
	b = malloc(img.len);
	for (size_t i = 0; i + IMG_FOOTER_SIZE < img.len; i++)
		for (size_t f = 0; f < sizeof(flips); f++) {
			struct timg im;

			memcpy(b, img.b, img.len);
			b[i] ^= flips[f];
			refoot(b, img.len);
			if (load(b, img.len, &im) == 0) {
				timg_print(&im, null);
				loaded++;
			} else {
				cr_assert(tool_err[0] && !strchr(tool_err, '\n'), "byte %zu: '%s'", i, tool_err);
				refused++;
			}
			timg_free(&im);
		}
	/* most bytes are values (addresses, times, registers) any of which is
	 * allowed; what matters is that neither way crashes */
	cr_expect(refused > 1000 && loaded > 1000, "%u refused, %u loaded", refused, loaded);
	fclose(null);
	free(b);
}

/* ---- joint files ----------------------------------------------------------------------------- */

static uint8_t jbuf[1 << 17];

static size_t build_joint(const struct ib *im)
{
	struct wire_ckf_header h;
	struct wire_ckf_state_builder sb;
	struct wire_ckf_file f;
	uint8_t state[512];
	long sl;
	size_t off;

	memset(&h, 0, sizeof(h));
	wire_ckf_state_begin(&sb, state, sizeof(state), 3, 2);
	memset(&f, 0, sizeof(f));
	f.flags = WIRE_CKF_FILE_OPEN | WIRE_CKF_FILE_CHANGED;
	f.path = (struct wire_str){"dir/out.txt", 11};
	f.ino = 99;
	f.mode = 0100644;
	f.size = 1234;
	f.open_flags = WIRE_O_RDWR | WIRE_O_APPEND;
	cr_assert_eq(wire_ckf_state_add(&sb, &f), 0);
	sl = wire_ckf_state_end(&sb);
	cr_assert(sl > 0);
	h.header_size = WIRE_CKF_HEADER_SIZE;
	off = WIRE_CKF_HEADER_SIZE;
	memcpy(jbuf + off, im->b, im->len);
	memcpy(jbuf + off + im->len, state, (size_t)sl);
	h.file_size = off + im->len + (uint64_t)sl + WIRE_CKF_TRAILER;
	h.job = (struct wire_str){"job1", 4};
	h.gen = 3;
	h.created_sec = 1700000000;
	h.created_nsec = 5;
	h.client_arch = (struct wire_str){"x86_64", 6};
	h.client_byte_order = WIRE_BO_LITTLE;
	h.client_page_size = PS;
	h.server_arch = (struct wire_str){"s390x", 5};
	h.server_byte_order = WIRE_BO_BIG;
	h.server_page_size = PS;
	h.nsections = 2;
	h.sect[0] = (struct wire_ckf_section){WIRE_CKF_CLIENT_IMAGE, 0, off, im->len, XXH64(im->b, im->len, 0)};
	h.sect[1] = (struct wire_ckf_section){WIRE_CKF_SERVER_STATE, 0, off + im->len, (uint64_t)sl,
					      XXH64(state, (size_t)sl, 0)};
	cr_assert_eq(wire_ckf_build_header(jbuf, sizeof(jbuf), &h), WIRE_CKF_HEADER_SIZE);
	wire_ckf_build_trailer(jbuf + h.file_size - WIRE_CKF_TRAILER, jbuf, &h);
	return (size_t)h.file_size;
}

static int load_joint(const void *p, size_t n, struct tjoint *j)
{
	int fd = file_of(p, n), rc = tjoint_load(j, fd, n, 1);

	close(fd);
	return rc;
}

Test(joint, good)
{
	struct knobs k = {0};
	struct tjoint j;
	size_t n;
	char *out = NULL;
	size_t outlen = 0;
	FILE *f;

	build(&img, &k);
	n = build_joint(&img);
	cr_assert_eq(load_joint(jbuf, n, &j), 0, "%s", tool_err);
	cr_expect_eq(j.h.gen, 3);
	cr_expect_eq(j.st.count, 1);
	cr_expect_eq(j.img.bt_nframes, 3);
	f = open_memstream(&out, &outlen);
	tjoint_print(&j, f);
	fclose(f);
	cr_expect(strstr(out, "job          job1, generation 3\n"), "%s", out);
	cr_expect(strstr(out, "server       s390x, big-endian, page size 4096\n"), "%s", out);
	cr_expect(strstr(out, "  dir/out.txt size 1234 mode 100644 open rw,append changed\n"), "%s", out);
	cr_expect(strstr(out, "#1 0x401234 dive+0x44 (/usr/bin/prog)"), "%s", out);
	free(out);
	tjoint_free(&j);
}

Test(joint, damage)
{
	struct knobs k = {0};
	struct tjoint j;
	size_t n;
	static uint8_t b[sizeof(jbuf)];

	build(&img, &k);
	n = build_joint(&img);
	/* the image's bytes: its section checksum */
	memcpy(b, jbuf, n);
	b[WIRE_CKF_HEADER_SIZE + 100] ^= 1;
	cr_expect_eq(load_joint(b, n, &j), -1);
	cr_expect(strstr(tool_err, "section checksum mismatch (content corrupt) (the client-image section"), "%s",
		  tool_err);
	tjoint_free(&j);
	/* the header */
	memcpy(b, jbuf, n);
	b[40] ^= 1;
	cr_expect_eq(load_joint(b, n, &j), -1);
	cr_expect(strstr(tool_err, "header checksum mismatch"), "%s", tool_err);
	tjoint_free(&j);
	/* the trailer */
	memcpy(b, jbuf, n);
	b[n - 1] ^= 1;
	cr_expect_eq(load_joint(b, n, &j), -1);
	cr_expect(strstr(tool_err, "trailer invalid"), "%s", tool_err);
	tjoint_free(&j);
	/* every truncation */
	for (size_t m = 0; m < n; m += m < 64 ? 1 : 97) {
		cr_assert_eq(load_joint(jbuf, m, &j), -1, "%zu bytes loaded", m);
		cr_assert(strstr(tool_err, "truncated") || strstr(tool_err, "corrupt"), "%zu: %s", m, tool_err);
		tjoint_free(&j);
	}
}

/* A joint file whose sections check out but whose image breaks a rule. */
Test(joint, corrupt_image_inside)
{
	struct knobs k = {.overlap = 1};
	struct tjoint j;
	size_t n;

	build(&img, &k);
	n = build_joint(&img);
	cr_expect_eq(load_joint(jbuf, n, &j), -1);
	cr_expect(strstr(tool_err, "its client image: the image is corrupt: MEMMAP"), "%s", tool_err);
	tjoint_free(&j);
}

/* ---- the status line ------------------------------------------------------------------------- */

static int parse_line(const char *s, struct tstatus *st)
{
	return status_parse(s, strlen(s), st);
}

Test(status, ok_line)
{
	struct tstatus s;
	char *out = NULL;
	size_t len = 0;
	FILE *f;

	cr_assert_eq(parse_line("result=ok pid=42 job=j1 gen=7 image=10485760 memory=99 seconds=0.250 "
				"servers=2 newkey=whatever saved=12\n",
				&s),
		     0, "%s", tool_err);
	cr_expect_str_eq(s.result, "ok");
	cr_expect_eq(s.pid, 42);
	cr_expect_eq(s.gen, 7);
	cr_expect_eq(s.image, 10485760);
	cr_expect_eq(s.servers, 2);
	f = open_memstream(&out, &len);
	status_report(&s, "j1", f);
	fclose(f);
	cr_expect_str_eq(out, "job j1: generation 7, image 10.0 MiB, 0.25 s, 41.9 MB/s\n");
	free(out);
}

Test(status, failed_line)
{
	struct tstatus s;

	cr_assert_eq(parse_line("result=failed pid=42 job=j1 gen=0 seconds=0.001 error=fd 7 is a pipe (pipe:[1]); "
				"pipes cannot be checkpointed yet x=y\n",
				&s),
		     0, "%s", tool_err);
	cr_expect_str_eq(s.result, "failed");
	cr_expect_str_eq(s.error, "fd 7 is a pipe (pipe:[1]); pipes cannot be checkpointed yet x=y");
}

Test(status, bad_lines)
{
	struct tstatus s;

	cr_expect_eq(parse_line("result=ok pid=42", &s), -1); /* not terminated */
	cr_expect_eq(parse_line("pid=42 gen=1\n", &s), -1);
	cr_expect(strstr(tool_err, "no result"));
	cr_expect_eq(parse_line("result=ok pid=4x2\n", &s), -1);
	cr_expect_eq(parse_line("result=ok gen=99999999999999999999999\n", &s), -1);
	cr_expect_eq(parse_line("result=ok seconds=-1\n", &s), -1);
	cr_expect_eq(parse_line("hello world\n", &s), -1);
	cr_expect_eq(status_parse("result=ok\0x\n", 12, &s), -1);
}

/* ---- names and numbers ----------------------------------------------------------------------- */

Test(parse, signals)
{
	cr_expect_eq(parse_signal("USR1"), SIGUSR1);
	cr_expect_eq(parse_signal("SIGUSR2"), SIGUSR2);
	cr_expect_eq(parse_signal("usr2"), SIGUSR2);
	cr_expect_eq(parse_signal("10"), 10);
	cr_expect_eq(parse_signal("RTMIN+3"), SIGRTMIN + 3);
	cr_expect_eq(parse_signal("SIGRTMAX-1"), SIGRTMAX - 1);
	cr_expect_eq(parse_signal("off"), 0);
	cr_expect_eq(parse_signal("RTMIN+99"), -1);
	cr_expect_eq(parse_signal("USR3"), -1);
	cr_expect_eq(parse_signal("65"), -1);
	cr_expect_eq(parse_signal(""), -1);
}

Test(parse, linux_signal_names)
{
	char b[32];

	cr_expect_str_eq(linux_signame(10, b, sizeof(b)), "SIGUSR1");
	cr_expect_str_eq(linux_signame(37, b, sizeof(b)), "SIGRTMIN+3");
	cr_expect_str_eq(linux_signame(99, b, sizeof(b)), "signal 99");
}

Test(parse, addresses)
{
	cr_expect_eq(check_addr("unix:/run/ckpt.sock"), 0);
	cr_expect_eq(check_addr("tcp:localhost:7070"), 0);
	cr_expect_eq(check_addr("tcp:[::1]:7070"), 0);
	cr_expect_eq(check_addr("tcp:host"), -1);
	cr_expect_eq(check_addr("tcp:host:0"), -1);
	cr_expect_eq(check_addr("tcp:host:70000"), -1);
	cr_expect_eq(check_addr("unix:"), -1);
	cr_expect_eq(check_addr("http://x"), -1);
	cr_expect(strstr(tool_err, "expected tcp:HOST:PORT or unix:PATH"));
}

Test(parse, numbers)
{
	uint64_t v;
	double d;

	cr_expect_eq(parse_u64("18446744073709551615", &v), 0);
	cr_expect_eq(v, UINT64_MAX);
	cr_expect_eq(parse_u64("18446744073709551616", &v), -1);
	cr_expect_eq(parse_u64("-1", &v), -1);
	cr_expect_eq(parse_u64("", &v), -1);
	cr_expect_eq(parse_seconds("2.5", &d), 0);
	cr_expect_eq(parse_seconds("0", &d), -1);
	cr_expect_eq(parse_seconds("nan", &d), -1);
	cr_expect_eq(parse_seconds("1e99", &d), -1);
}

Test(parse, default_job_and_env)
{
	char b[256];
	static const char env[] = "A=1\0CKPT_RUN_DIR=/run/x\0CKPT_JOB=j\0XDG_RUNTIME_DIR=/run/user/7";

	default_job("/usr/bin/python3.11", 77, b, sizeof(b));
	cr_expect_str_eq(b, "python3.11-77");
	default_job("./a b", 5, b, sizeof(b));
	cr_expect_str_eq(b, "a_b-5");
	default_job(".hidden", 5, b, sizeof(b));
	cr_expect_str_eq(b, "_hidden-5");
	default_job("", 5, b, sizeof(b));
	cr_expect_str_eq(b, "job-5");
	cr_expect_str_eq(env_get(env, sizeof(env), "CKPT_JOB"), "j");
	cr_expect_null(env_get(env, sizeof(env), "CKPT"));
	cr_expect_eq(run_dir(b, sizeof(b), NULL, env, sizeof(env), 7), 0);
	cr_expect_str_eq(b, "/run/x");
	cr_expect_eq(run_dir(b, sizeof(b), NULL, env + 24, sizeof(env) - 24, 7), 0);
	cr_expect_str_eq(b, "/run/user/7/ckpt-7");
	cr_expect_eq(run_dir(b, sizeof(b), "/opt", env, sizeof(env), 7), 0);
	cr_expect_str_eq(b, "/opt");
}

Test(parse, store_names)
{
	cr_expect_eq(store_gen_of("gen-12.ckpt"), 12);
	cr_expect_eq(store_gen_of("gen-012.ckpt"), 0);
	cr_expect_eq(store_gen_of("gen-12.ckpt.tmp"), 0);
	cr_expect_eq(store_gen_of("gen-.ckpt"), 0);
	cr_expect_eq(store_gen_of("gen-1x.ckpt"), 0);
}

Test(text, escapes)
{
	char b[64];

	cr_expect_str_eq(text(b, sizeof(b), "a\x1b[1mb\\", 7), "a\\x1b[1mb\\x5c");
	cr_expect_str_eq(text(b, 6, "abcdefgh", 8), "abcde");
	cr_expect_str_eq(text(b, 6, "abcd\x01", 5), "abcd");
}
