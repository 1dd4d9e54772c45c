/* fuzz_image.c - libFuzzer harness: the process image parser of `ckpt inspect` (server/tool/image.c).
 *
 * Input: one control byte, then an image file. Unless control bit 0 is
 * set, the footer's length and XXH64 are recomputed first (fuzz.h), so the
 * sections behind the checksum get fuzzed. The image is read through a
 * memfd, as timg_load() reads a file, and what loads is printed to
 * /dev/null by timg_print() (`ckpt inspect`).
 */
#include "fuzz.h"
#include "image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct timg im;
	uint8_t *b;
	size_t n;
	int fd;

	if (size < 1)
		return 0;
	n = size - 1;
	b = malloc(n ? n : 1);
	FUZZ_CHECK(b != NULL, "out of memory");
	memcpy(b, data + 1, n);
	if (!(data[0] & 1))
		fuzz_fix_image(b, n);
	fd = fuzz_memfd(b, n);
	if (timg_load(&im, fd, 0, n) == 0)
		timg_print(&im, fuzz_devnull());
	timg_free(&im);
	free(b);
	return 0;
}
