/* fuzz_image.c - libFuzzer harness: `ckpt inspect`'s process image loader (server/tool/image.c).
 *
 * The input is an image file: it is written to a memfd and loaded with
 * timg_load() as `ckpt inspect` loads one, and described with timg_print()
 * when it is accepted. Any input must give a verdict (0, or -1 with one line
 * in tool_err) without a read out of bounds, a leak or a crash. The footer's
 * XXH64 is recomputed first (when the input is long enough to have one), so
 * that the fuzzer reaches the structural checks behind the checksum; the
 * seeds (tests/fuzz/corpus/image/) are real images of tests/progs programs.
 *
 * FUZZ_SRC_image := server/tool/image.c server/tool/util.c wire/wire.c
 * (with -Iserver/tool -Ipreload -Iwire, and -lxxhash)
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <xxhash.h>

#include "img.h"
#include "image.h"
#include "tool.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	static FILE *null;
	uint8_t *b;
	struct timg im;

	if (fd < 0) {
		fd = memfd_create("fuzz_image", MFD_CLOEXEC);
		null = fopen("/dev/null", "w");
		if (fd < 0 || !null)
			abort();
	}
	b = malloc(size ? size : 1);
	if (!b)
		abort();
	memcpy(b, data, size);
	if (size >= IMG_HEADER_SIZE + IMG_FOOTER_SIZE && !memcmp(b + size - IMG_FOOTER_SIZE, IMG_END_MAGIC, 8)) {
		uint64_t len = size - IMG_FOOTER_SIZE, sum = XXH64(b, (size_t)len, 0);

		for (int i = 0; i < 8; i++) {
			b[len + 8 + i] = (uint8_t)(len >> (56 - 8 * i));
			b[len + 16 + i] = (uint8_t)(sum >> (56 - 8 * i));
		}
	}
	if (ftruncate(fd, 0) < 0 || pwrite(fd, b, size, 0) != (ssize_t)size)
		abort();
	tool_err[0] = 0;
	if (timg_load(&im, fd, 0, size) == 0)
		timg_print(&im, null);
	else if (!tool_err[0] || strchr(tool_err, '\n'))
		abort(); /* a refusal says why, in one line */
	timg_free(&im);
	free(b);
	return 0;
}
