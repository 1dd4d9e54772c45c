/* img_rehash.c - rewrite the footer of a process image (preload/IMAGE.md) so
 * that it matches the bytes before it: image_len and XXH64.
 *
 *   img_rehash FILE
 *   img_rehash --each-byte FILE TMP CMD...
 *
 * tests/e2e/imgcheck.sh changes an image's metadata and then rehashes it, so
 * that only the structural checks of ckpt-restore and `ckpt inspect` can
 * catch what was changed. --each-byte changes each byte before the footer of
 * FILE in turn (xor 0x01, 0x80 or 0xff by turns), writes the result with its
 * footer recomputed to TMP, and runs CMD... TMP with stdout and stderr to
 * /dev/null: every run must exit 0 or 1; a signal or another status is
 * reported and makes the exit status 1. It prints "N accepted, N refused".
 * Not a checkpoint test program (no READY/PASS).
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

static void put_footer(uint8_t *b, uint64_t len)
{
	uint64_t sum = XXH64(b, (size_t)len, 0);

	for (int i = 0; i < 8; i++) {
		b[len + 8 + i] = (uint8_t)(len >> (56 - 8 * i));
		b[len + 16 + i] = (uint8_t)(sum >> (56 - 8 * i));
	}
}

static int each_byte(const char *file, const char *tmp, char **cmd, int ncmd)
{
	static const uint8_t flips[3] = {0x01, 0x80, 0xff};
	char **argv = calloc((size_t)ncmd + 2, sizeof(*argv));
	unsigned long ok = 0, refused = 0, bad = 0;
	struct stat st;
	uint8_t *b;
	int fd = open(file, O_RDONLY);

	if (fd < 0 || fstat(fd, &st) < 0 || st.st_size < 24 || !argv || !(b = malloc((size_t)st.st_size)) ||
	    read(fd, b, (size_t)st.st_size) != st.st_size) {
		perror(file);
		return 1;
	}
	close(fd);
	memcpy(argv, cmd, (size_t)ncmd * sizeof(*argv));
	argv[ncmd] = (char *)tmp;
	for (off_t i = 0; i < st.st_size - 24; i++) {
		int out, status;
		pid_t pid;

		b[i] ^= flips[i % 3];
		put_footer(b, (uint64_t)st.st_size - 24);
		out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (out < 0 || write(out, b, (size_t)st.st_size) != st.st_size || close(out) < 0) {
			perror(tmp);
			return 1;
		}
		b[i] ^= flips[i % 3];
		pid = fork();
		if (pid == 0) {
			int null = open("/dev/null", O_RDWR);

			dup2(null, 0);
			dup2(null, 1);
			dup2(null, 2);
			execv(argv[0], argv);
			_exit(127);
		}
		if (pid < 0 || waitpid(pid, &status, 0) != pid) {
			perror("fork");
			return 1;
		}
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
			ok++;
		} else if (WIFEXITED(status) && WEXITSTATUS(status) == 1) {
			refused++;
		} else {
			bad++;
			printf("byte %ld ^ %#x: %s %d\n", (long)i, flips[i % 3], WIFSIGNALED(status) ? "signal" : "exit",
			       WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
		}
	}
	printf("%lu accepted, %lu refused, %lu crashed or failed otherwise\n", ok, refused, bad);
	free(b);
	free(argv);
	return bad != 0;
}

int main(int argc, char **argv)
{
	struct stat st;
	uint8_t foot[16];
	uint64_t len, sum;
	void *p = NULL;
	int fd;

	if (argc >= 5 && !strcmp(argv[1], "--each-byte"))
		return each_byte(argv[2], argv[3], argv + 4, argc - 4);
	if (argc != 2) {
		fprintf(stderr, "usage: img_rehash FILE | img_rehash --each-byte FILE TMP CMD...\n");
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
