/* ckpt_filemap.c - file-backed mappings: MAP_PRIVATE with pages changed (copy on write) and untouched, and MAP_SHARED, whose writes still reach the file after the restore. */
#include <fcntl.h>
#include <sys/mman.h>

#include "ckpt_test.h"

#define SIZE (64 * 4096)

int main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : "filemap.dat";
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	unsigned char *buf = malloc(SIZE), *priv, *shared;

	for (int i = 0; i < SIZE; i++)
		buf[i] = (unsigned char)(i * 13 / 4096 + i);
	if (fd < 0 || write(fd, buf, SIZE) != SIZE)
		return 1;
	priv = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	shared = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (priv == MAP_FAILED || shared == MAP_FAILED)
		return 1;
	for (int p = 0; p < 64; p += 4) /* change every fourth private page */
		memset(priv + p * 4096, 0xee, 100);
	(void)priv[5 * 4096]; /* read one page: it comes from the file */
	memcpy(shared + 10 * 4096, "shared-write", 12);
	ct_ready();
	ct_wait_restored();
	for (int i = 0; i < SIZE; i++) {
		int page = i / 4096;
		unsigned char want = page % 4 == 0 && i % 4096 < 100 ? 0xee : buf[i];

		if (page == 10 && i % 4096 < 12)
			continue;
		if (priv[i] != want) {
			ct_check(0, "private mapping byte %d: %#x, expected %#x", i, priv[i], want);
			break;
		}
	}
	ct_check(!memcmp(shared + 10 * 4096, "shared-write", 12), "shared mapping content");
	memcpy(shared + 20 * 4096, "after-restore", 13); /* reaches the file */
	msync(shared, SIZE, MS_SYNC);
	fd = open(path, O_RDONLY);
	if (pread(fd, buf, 13, 20 * 4096) != 13 || memcmp(buf, "after-restore", 13))
		ct_check(0, "a write through the shared mapping after the restore did not reach the file");
	if (pread(fd, buf, 12, 10 * 4096) != 12 || memcmp(buf, "shared-write", 12))
		ct_check(0, "the file lost the write made before the checkpoint");
	close(fd);
	return ct_done();
}
