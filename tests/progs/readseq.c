/* readseq.c - sequential and not-so-sequential reads of a big file while it
 * changes under the reader, printing what each reader saw.
 *
 * Run once on a local directory and once on a remote one under the shim: the
 * two outputs must be identical. The shim asks for the blocks a sequential
 * reader will want next before it wants them (read-ahead windows, prefetched
 * blocks in flight); every case here changes the file, or jumps, while such
 * reads are outstanding, and the reader must then see what a local reader
 * sees: writes through another fd of the process, a truncation, writes by a
 * child after fork, writes by a command run with system(), and growth at end
 * of file.
 *
 *   readseq DIR [BLOCK...]   DIR must exist; each BLOCK is a read size, and
 *                            the whole sequence runs once per size (default:
 *                            1 MiB, 4 KiB, 3000 bytes and 1 MiB + 1)
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MIB (1u << 20)
#define NBLK 12u /* the file is NBLK MiB */

static char path[4096];
static size_t blk = MIB;
static unsigned char *buf;

static void die(const char *what)
{
	printf("%s: %s\n", what, strerrorname_np(errno));
	exit(1);
}

static unsigned char pattern(size_t i)
{
	return (unsigned char)(i * 2654435761u >> 13);
}

static uint64_t fnv(uint64_t h, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

/* The file, NBLK MiB of pattern(), written in 1 MiB calls. */
static void make_file(void)
{
	int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);

	if (fd < 0)
		die("create");
	for (size_t b = 0; b < NBLK; b++) {
		for (size_t i = 0; i < MIB; i++)
			buf[i] = pattern(b * MIB + i);
		if (write(fd, buf, MIB) != (ssize_t)MIB)
			die("write");
	}
	if (close(fd) < 0)
		die("close");
}

/* Read n blocks (n = 0: to end of file) from fd's cursor, printing the
 * total and a checksum; with each_len, every read's length too. */
static void read_on(const char *what, int fd, size_t n, int each_len)
{
	uint64_t h = 0xcbf29ce484222325ull, total = 0;

	printf("%-34s", what);
	for (size_t i = 0; !n || i < n; i++) {
		ssize_t k = read(fd, buf, blk);

		if (k < 0)
			die("read");
		if (each_len)
			printf(" %zd", k);
		if (k == 0)
			break;
		h = fnv(h, buf, (size_t)k);
		total += (uint64_t)k;
	}
	printf(" bytes=%" PRIu64 " fnv=%016" PRIx64 "\n", total, h);
}

/* The 8 bytes at off, as the reader sees them now with pread. */
static void peek(const char *what, int fd, off_t off)
{
	unsigned char b[8];
	ssize_t k = pread(fd, b, sizeof(b), off);

	printf("%-34s", what);
	for (ssize_t i = 0; i < k; i++)
		printf(" %02x", b[i]);
	printf(" (%zd)\n", k);
}

static int open_or_die(int flags)
{
	int fd = open(path, flags);

	if (fd < 0)
		die("open");
	return fd;
}

static void run(void)
{
	int fd, fd2, st;
	pid_t pid;
	char cmd[8192];

	make_file();

	/* Straight through, twice (the second time right after the first). */
	fd = open_or_die(O_RDONLY);
	read_on("sequential", fd, 0, 0);
	lseek(fd, 0, SEEK_SET);
	read_on("sequential again", fd, 0, 0);
	close(fd);

	/* Another fd of this process writes ahead of the reader. */
	fd = open_or_die(O_RDONLY);
	fd2 = open_or_die(O_RDWR);
	read_on("write ahead: first 4 blocks", fd, 4 * MIB / blk, 0);
	if (pwrite(fd2, "AHEAD-OF-READER", 15, 5 * MIB + 10) != 15 ||
	    pwrite(fd2, "NEXT", 4, 4 * MIB) != 4)
		die("pwrite");
	read_on("write ahead: the rest", fd, 0, 0);
	peek("write ahead: block 4", fd, 4 * MIB);
	peek("write ahead: block 5 + 10", fd, 5 * MIB + 10);

	/* Truncated under the reader, then extended again (zeros). */
	lseek(fd, 0, SEEK_SET);
	read_on("truncate: first 4 blocks", fd, 4 * MIB / blk, 0);
	if (ftruncate(fd2, 6 * MIB + MIB / 2) < 0)
		die("ftruncate");
	read_on("truncate: the rest", fd, 0, blk >= MIB);
	if (ftruncate(fd2, 8 * MIB) < 0)
		die("ftruncate");
	read_on("extended: from the old end", fd, 0, 0);
	close(fd);
	close(fd2);

	/* A child writes after fork while the parent's reads are under way. */
	make_file();
	fd = open_or_die(O_RDONLY);
	read_on("fork: first 3 blocks", fd, 3 * MIB / blk, 0);
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		int c = open(path, O_WRONLY);

		_exit(c < 0 || pwrite(c, "CHILD-3", 7, 3 * MIB) != 7 ||
		      pwrite(c, "CHILD-4", 7, 4 * MIB + 100) != 7 || close(c) < 0);
	}
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st))
		die("child");
	read_on("fork: the rest", fd, 0, 0);
	peek("fork: block 3", fd, 3 * MIB);
	peek("fork: block 4 + 100", fd, 4 * MIB + 100);
	close(fd);

	/* A command run with system() writes while reads are under way. */
	make_file();
	fd = open_or_die(O_RDONLY | O_CLOEXEC);
	read_on("system: first 3 blocks", fd, 3 * MIB / blk, 0);
	snprintf(cmd, sizeof(cmd),
		 "printf SYSTEM | dd of='%s' bs=1 seek=%u conv=notrunc status=none", path,
		 3 * MIB + 7);
	if (system(cmd) != 0)
		die("system");
	read_on("system: the rest", fd, 0, 0);
	peek("system: block 3 + 7", fd, 3 * MIB + 7);
	close(fd);

	/* Jumps: blocks in a scrambled order, a reader going back, two
	 * readers taking turns. */
	make_file();
	fd = open_or_die(O_RDONLY);
	{
		static const unsigned order[] = {7, 2, 9, 0, 11, 5, 6, 1};
		uint64_t h = 0xcbf29ce484222325ull;

		for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
			ssize_t k = pread(fd, buf, blk, (off_t)order[i] * MIB);

			if (k < 0)
				die("pread");
			h = fnv(h, buf, (size_t)k);
		}
		printf("%-34s fnv=%016" PRIx64 "\n", "scrambled blocks", h);
	}
	lseek(fd, 0, SEEK_SET);
	read_on("back: first 6 blocks", fd, 6 * MIB / blk, 0);
	lseek(fd, MIB, SEEK_SET);
	read_on("back: from block 1", fd, 0, 0);
	fd2 = open_or_die(O_RDONLY);
	lseek(fd, 0, SEEK_SET);
	{
		uint64_t h1 = 0xcbf29ce484222325ull, h2 = h1;
		ssize_t k1 = 1, k2 = 1;

		while (k1 > 0 || k2 > 0) {
			if (k1 > 0 && (k1 = read(fd, buf, blk)) > 0)
				h1 = fnv(h1, buf, (size_t)k1);
			if (k2 > 0 && (k2 = read(fd2, buf, blk)) > 0)
				h2 = fnv(h2, buf, (size_t)k2);
			if (k1 < 0 || k2 < 0)
				die("read");
		}
		printf("%-34s fnv=%016" PRIx64 " fnv=%016" PRIx64 "\n", "two readers in turn", h1, h2);
	}
	close(fd2);

	/* Growth at end of file: a reader that hit the end reads again. */
	lseek(fd, 0, SEEK_SET);
	read_on("end: to the end", fd, 0, blk >= MIB);
	fd2 = open_or_die(O_WRONLY | O_APPEND);
	if (write(fd2, "GROWN", 5) != 5)
		die("append");
	close(fd2);
	read_on("end: after growth", fd, 0, 1);

	/* Closed with reads outstanding, then read whole again. */
	lseek(fd, 0, SEEK_SET);
	read_on("close early: 3 blocks", fd, 3 * MIB / blk, 0);
	close(fd);
	fd = open_or_die(O_RDONLY);
	read_on("close early: reopened", fd, 0, 0);
	close(fd);
}

int main(int argc, char **argv)
{
	static const char *dflt[] = {"1048576", "4096", "3000", "1048577"};
	const char **sizes = dflt;
	int nsizes = 4;

	if (argc < 2) {
		fprintf(stderr, "usage: readseq DIR [BLOCK...]\n");
		return 2;
	}
	if (argc > 2) {
		sizes = (const char **)argv + 2;
		nsizes = argc - 2;
	}
	snprintf(path, sizeof(path), "%s/r", argv[1]);
	buf = malloc(4 * MIB);
	if (!buf)
		return 1;
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (int i = 0; i < nsizes; i++) {
		blk = strtoul(sizes[i], NULL, 0);
		if (blk == 0 || blk > 4 * MIB) {
			fprintf(stderr, "readseq: a BLOCK is 1 to 4 MiB bytes, not %s\n", sizes[i]);
			return 2;
		}
		printf("== reads of %zu bytes\n", blk);
		run();
	}
	free(buf);
	return 0;
}
