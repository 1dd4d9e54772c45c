/* fuzz.h - what the libFuzzer harnesses (tests/fuzz/fuzz_*.c) share.
 *
 * Invariants are checked with FUZZ_CHECK, which prints one line and aborts,
 * so libFuzzer records the input as a crash. Everything is static: each
 * harness is one translation unit linked with the sources it tests
 * (FUZZ_SRC_<name> in the Makefile).
 */
#ifndef CKPT_FUZZ_H
#define CKPT_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <xxhash.h>

#define FUZZ_CHECK(cond, ...)                                                        \
	do {                                                                         \
		if (!(cond)) {                                                       \
			fprintf(stderr, "fuzz invariant broken at %s:%d: ", __FILE__, \
				__LINE__);                                           \
			fprintf(stderr, __VA_ARGS__);                                \
			fputc('\n', stderr);                                         \
			abort();                                                     \
		}                                                                    \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A memfd holding exactly the n bytes at p, for the parsers that read
 * through a descriptor; one descriptor per process, refilled per input. */
static inline int fuzz_memfd(const void *p, size_t n)
{
	static int fd = -1;

	if (fd < 0)
		fd = memfd_create("fuzz-input", MFD_CLOEXEC);
	FUZZ_CHECK(fd >= 0, "memfd_create failed");
	FUZZ_CHECK(ftruncate(fd, 0) == 0 && (n == 0 || pwrite(fd, p, n, 0) == (ssize_t)n),
		   "cannot fill the memfd");
	return fd;
}

/* /dev/null as a stream, so the printers run in full without output. */
static inline FILE *fuzz_devnull(void)
{
	static FILE *f;

	if (!f)
		f = fopen("/dev/null", "w");
	FUZZ_CHECK(f != NULL, "cannot open /dev/null");
	return f;
}

static inline void put_be64(uint8_t *b, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		b[i] = (uint8_t)v;
}

/* Make the footer of the process image of len bytes at b agree with its
 * body (image_len and XXH64), as a writer would have, so that mutations
 * reach the section parsers instead of dying at the checksum. Only when
 * the footer magic is already there: a missing footer stays a case. */
static inline void fuzz_fix_image(uint8_t *b, size_t len)
{
	if (len < 24 || memcmp(b + len - 24, "CKPTEND\0", 8))
		return;
	put_be64(b + len - 16, len - 24);
	put_be64(b + len - 8, XXH64(b, len - 24, 0));
}

#endif
