/* ckpt_heap.c - malloc'd memory (brk heap and mmap'd chunks) survives a restore, and malloc keeps working after it. */
#include "ckpt_test.h"

#define N 2000

int main(void)
{
	static unsigned char *blk[N];
	static size_t len[N];
	unsigned char *big;
	size_t bigsz = 64 << 20;

	for (int i = 0; i < N; i++) {
		len[i] = 16 + (size_t)(i * 37 % 5000);
		blk[i] = malloc(len[i]);
		for (size_t k = 0; k < len[i]; k++)
			blk[i][k] = (unsigned char)(i + k * 7);
	}
	for (int i = 0; i < N; i += 3) { /* holes in the heap */
		free(blk[i]);
		blk[i] = NULL;
	}
	big = malloc(bigsz); /* an mmap'd chunk */
	for (size_t k = 0; k < bigsz; k += 4096)
		big[k] = (unsigned char)(k >> 12);
	ct_ready();
	ct_wait_restored();
	for (int i = 0; i < N; i++) {
		if (!blk[i])
			continue;
		for (size_t k = 0; k < len[i]; k++)
			if (blk[i][k] != (unsigned char)(i + k * 7)) {
				ct_check(0, "block %d byte %zu changed", i, k);
				break;
			}
	}
	for (size_t k = 0; k < bigsz; k += 4096)
		if (big[k] != (unsigned char)(k >> 12)) {
			ct_check(0, "big chunk page %zu changed", k >> 12);
			break;
		}
	/* malloc after the restore: small (heap), many (heap growth), big (mmap) */
	for (int i = 0; i < N; i++) {
		free(blk[i]);
		blk[i] = malloc(100 + (size_t)i * 100);
		ct_check(blk[i] != NULL, "malloc after restore failed");
		if (blk[i])
			memset(blk[i], i, 100 + (size_t)i * 100);
	}
	for (int i = 0; i < N; i++)
		if (blk[i] && blk[i][99] != (unsigned char)i)
			ct_check(0, "new block %d corrupted", i);
	free(big);
	big = malloc(bigsz);
	ct_check(big != NULL, "big malloc after restore failed");
	if (big)
		memset(big, 1, bigsz);
	return ct_done();
}
