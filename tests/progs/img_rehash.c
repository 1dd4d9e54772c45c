/* img_rehash.c - rewrite the footer of a process image (preload/IMAGE.md) so
 * that it matches the bytes before it: image_len and XXH64.
 *
 *   img_rehash FILE
 *
 * tests/e2e/imgcheck.sh changes an image's metadata and then rehashes it, so
 * that only the structural checks of ckpt-restore and `ckpt inspect` can
 * catch what was changed. Not a checkpoint test program (no READY/PASS).
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

int main(int argc, char **argv)
{
	struct stat st;
	uint8_t foot[16];
	uint64_t len, sum;
	void *p = NULL;
	int fd;

	if (argc != 2) {
		fprintf(stderr, "usage: img_rehash FILE\n");
		return 2;
	}
	fd = open(argv[1], O_RDWR);
	if (fd < 0 || fstat(fd, &st) < 0 || st.st_size < 24) {
		perror(argv[1]);
		return 1;
	}
	len = (uint64_t)st.st_size - 24;
	if (len && (p = mmap(NULL, (size_t)len, PROT_READ, MAP_SHARED, fd, 0)) == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	sum = XXH64(p, (size_t)len, 0);
	for (int i = 0; i < 8; i++) {
		foot[i] = (uint8_t)(len >> (56 - 8 * i));
		foot[8 + i] = (uint8_t)(sum >> (56 - 8 * i));
	}
	if (pwrite(fd, foot, 16, (off_t)len + 8) != 16) {
		perror("pwrite");
		return 1;
	}
	return close(fd) < 0;
}
