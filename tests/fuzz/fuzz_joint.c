/* fuzz_joint.c - libFuzzer harness: the joint file loader of `ckpt inspect` (server/tool/joint.c).
 *
 * Input: one control byte, then a joint checkpoint file. Control bit 0 set:
 * the file as it is; clear: its checksums (header, sections, trailer and
 * the client image's footer) recomputed first (fuzz_ckf.h). Bit 1 set:
 * tjoint_load() with image == 0 (the client image only checked against its
 * section checksum, not parsed). The file is read through a memfd and
 * what loads is printed to /dev/null by tjoint_print().
 */
#include "fuzz_ckf.h"
#include "joint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tjoint j;
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
		fuzz_fix_joint(b, n, 1);
	fd = fuzz_memfd(b, n);
	if (tjoint_load(&j, fd, n, !(data[0] & 2)) == 0)
		tjoint_print(&j, fuzz_devnull());
	tjoint_free(&j);
	free(b);
	return 0;
}
