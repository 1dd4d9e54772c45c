/* ckpt_bigmap.c - a 512 MiB anonymous mapping of which little is touched: its pages come back, the rest reads as zero (and the image stays small). */
#include <sys/mman.h>

#include "ckpt_test.h"

#define SIZE (512ul << 20)

int main(void)
{
	unsigned char *m = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned char *ro = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (m == MAP_FAILED || ro == MAP_FAILED)
		return 1;
	for (size_t off = 0; off < SIZE; off += 1 << 20) /* one page in every 256 */
		m[off + 17] = (unsigned char)(off >> 20);
	memset(m + SIZE - 8192, 0xab, 8192);
	memset(ro, 0x5a, 1 << 20);
	mprotect(ro, 1 << 20, PROT_READ); /* read-only anonymous memory */
	mprotect(ro + (512 << 10), 64 << 10, PROT_NONE); /* and an unreadable piece of it */
	ct_ready();
	ct_wait_restored();
	for (size_t off = 0; off < SIZE; off += 4096) {
		unsigned char want = off % (1 << 20) == 0 ? (unsigned char)(off >> 20) : 0;

		if (off >= SIZE - 8192)
			break;
		if (m[off + 17] != want || m[off] != 0) {
			ct_check(0, "page at %zu: %d", off, m[off + 17]);
			break;
		}
	}
	ct_check(m[SIZE - 1] == 0xab && m[SIZE - 8192] == 0xab, "last pages");
	ct_check(ro[0] == 0x5a && ro[(1 << 20) - 1] == 0x5a, "read-only mapping contents");
	mprotect(ro + (512 << 10), 64 << 10, PROT_READ);
	ct_check(ro[512 << 10] == 0x5a, "unreadable piece contents");
	memset(m, 1, 1 << 20); /* still writable */
	return ct_done();
}
