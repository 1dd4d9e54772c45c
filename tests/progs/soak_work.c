/* soak_work.c - the deterministic workload of the soak and load suites (tests/e2e/soak.sh, load.sh).
 *
 *   soak_work DIR_A DIR_B STEPS SEED [PACE_US [BALLAST_KB]]
 *
 * Writes into two directories (each on its own server under the shim, or local for a reference
 * run) a sequence of records that depends only on SEED and STEPS, and on what the program reads
 * back from its own files: appends (a log through write(2), a journal through stdio),
 * overwrite-in-place (a table of fixed slots read, mixed and rewritten with pread/pwrite),
 * read-modify-write of a counter, files created, written, sometimes fsynced, renamed (also over
 * an existing file), unlinked and truncated, and a directory listing folded into the state. What
 * it reads back goes into a running hash, so files rolled back to a generation other than the
 * one the process's memory came from make every later record, and the final result, differ.
 * Each step sleeps PACE_US microseconds (default 1500) and computes a little. BALLAST_KB (default
 * 0) KiB of memory hold pseudo-random bytes (incompressible: big checkpoint images), one word of
 * them changed at every step and all of them folded into the hash at the end, so a process
 * restored with wrong memory ends with a different result too. At the end it
 * writes DIR_A/result and DIR_B/result and prints "done HASH" on stdout; exit 0. Any failed
 * call: one line on stderr naming it, exit 1.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SLOTS 64
#define SLOT 64
#define PATHMAX 4096

static const char *dir_a, *dir_b;
static uint64_t rng, hash = 1469598103934665603ULL;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void mix(uint64_t v)
{
	hash ^= v + 0x9e3779b97f4a7c15ULL + (hash << 6) + (hash >> 2);
	hash *= 1099511628211ULL;
}

static void mix_bytes(const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		mix(b[i]);
}

static void die(const char *what, const char *path)
{
	fprintf(stderr, "soak_work: %s %s: %s\n", what, path ? path : "", strerror(errno));
	exit(1);
}

static char *pa(char *buf, const char *dir, const char *name)
{
	if (strlen(dir) + strlen(name) + 2 > PATHMAX) {
		fprintf(stderr, "soak_work: path too long: %s/%s\n", dir, name);
		exit(1);
	}
	memcpy(buf, dir, strlen(dir));
	buf[strlen(dir)] = '/';
	strcpy(buf + strlen(dir) + 1, name);
	return buf;
}

static void write_all(int fd, const void *p, size_t n, const char *what)
{
	const char *b = p;

	while (n) {
		ssize_t w = write(fd, b, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			die("write", what);
		}
		b += w;
		n -= (size_t)w;
	}
}

static void pwrite_all(int fd, const void *p, size_t n, off_t off, const char *what)
{
	if (pwrite(fd, p, n, off) != (ssize_t)n)
		die("pwrite", what);
}

static void pread_all(int fd, void *p, size_t n, off_t off, const char *what)
{
	if (pread(fd, p, n, off) != (ssize_t)n)
		die("pread (short or failed)", what);
}

/* A small file written whole: created, written, fsynced if asked, renamed to its place. */
static void put_file(const char *dir, const char *name, const char *tmpname, long step, int sync)
{
	char p[PATHMAX], t[PATHMAX], line[160];
	int fd = open(pa(t, dir, tmpname), O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (fd < 0)
		die("open", t);
	for (int k = 0; k < 1 + (int)(next() % 20); k++) {
		int n = snprintf(line, sizeof line, "%s step %ld line %d hash %016llx\n", name, step, k,
				 (unsigned long long)hash);
		write_all(fd, line, (size_t)n, t);
	}
	if (sync && fsync(fd) < 0)
		die("fsync", t);
	if (close(fd) < 0)
		die("close", t);
	if (rename(t, pa(p, dir, name)) < 0)
		die("rename", p);
}

/* The names in dir, sorted, folded into the hash. */
static void mix_listing(const char *dir)
{
	char names[256][64];
	int n = 0;
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d)
		die("opendir", dir);
	while ((e = readdir(d)) && n < 256) {
		if (strlen(e->d_name) < sizeof names[0])
			strcpy(names[n++], e->d_name);
	}
	closedir(d);
	for (int i = 0; i < n; i++) /* insertion sort: n is small */
		for (int j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
			char t[64];

			memcpy(t, names[j], sizeof t);
			memcpy(names[j], names[j - 1], sizeof t);
			memcpy(names[j - 1], t, sizeof t);
		}
	for (int i = 0; i < n; i++)
		mix_bytes(names[i], strlen(names[i]));
}

int main(int argc, char **argv)
{
	char p[PATHMAX], q[PATHMAX], m[PATHMAX], rec[SLOT + 1], old[SLOT], line[200];
	long steps, pace_us = 1500;
	size_t nballast = 0;
	uint64_t *ballast = NULL;
	int logfd, tabfd, cntfd, growfd;
	FILE *journal;

	if (argc < 5 || argc > 7) {
		fprintf(stderr, "usage: soak_work DIR_A DIR_B STEPS SEED [PACE_US [BALLAST_KB]]\n");
		return 2;
	}
	dir_a = argv[1];
	dir_b = argv[2];
	steps = atol(argv[3]);
	rng = strtoull(argv[4], NULL, 0) * 2654435761ULL + 88172645463325252ULL;
	if (argc >= 6)
		pace_us = atol(argv[5]);
	if (argc >= 7 && (nballast = (size_t)atol(argv[6]) * 1024 / sizeof(uint64_t))) {
		if (!(ballast = malloc(nballast * sizeof(uint64_t))))
			die("malloc", "ballast");
		for (size_t k = 0; k < nballast; k++)
			ballast[k] = next();
	}
	if ((mkdir(dir_a, 0755) < 0 && errno != EEXIST) || (mkdir(dir_b, 0755) < 0 && errno != EEXIST))
		die("mkdir", dir_a);
	mix_bytes(argv[4], strlen(argv[4]));

	if ((logfd = open(pa(p, dir_a, "log"), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644)) < 0)
		die("open", p);
	if ((tabfd = open(pa(p, dir_b, "table"), O_RDWR | O_CREAT | O_TRUNC, 0644)) < 0)
		die("open", p);
	for (int s = 0; s < SLOTS; s++) {
		snprintf(rec, sizeof rec, "%-*s", SLOT - 1, "empty");
		rec[SLOT - 1] = '\n';
		pwrite_all(tabfd, rec, SLOT, (off_t)s * SLOT, "table");
	}
	if ((cntfd = open(pa(p, dir_a, "counter"), O_RDWR | O_CREAT | O_TRUNC, 0644)) < 0)
		die("open", p);
	write_all(cntfd, "0\n", 2, "counter");
	if ((growfd = open(pa(p, dir_b, "grow"), O_RDWR | O_CREAT | O_TRUNC, 0644)) < 0)
		die("open", p);
	if (!(journal = fopen(pa(p, dir_b, "journal"), "w")))
		die("fopen", p);

	for (long i = 0; i < steps; i++) {
		uint64_t r = next();
		struct timespec pace = {pace_us / 1000000, (pace_us % 1000000) * 1000};

		for (int k = 0; k < 2000; k++) /* a little computation */
			mix(r + (uint64_t)k);
		if (nballast) {
			ballast[r % nballast] ^= hash;
			mix(ballast[(r >> 32) % nballast]);
		}
		if (pace_us > 0)
			nanosleep(&pace, NULL);

		/* append */
		int n = snprintf(line, sizeof line, "step %ld r %016llx hash %016llx\n", i, (unsigned long long)r,
				 (unsigned long long)hash);
		write_all(logfd, line, (size_t)n, "log");

		/* overwrite in place, after reading what was there */
		off_t slot = (off_t)(r % SLOTS) * SLOT;
		pread_all(tabfd, old, SLOT, slot, "table");
		mix_bytes(old, SLOT);
		snprintf(rec, sizeof rec, "slot %3d step %6ld hash %016llx", (int)(r % SLOTS), i,
			 (unsigned long long)hash);
		memset(rec + strlen(rec), ' ', SLOT - strlen(rec));
		rec[SLOT - 1] = '\n';
		pwrite_all(tabfd, rec, SLOT, slot, "table");

		/* stdio: buffered in the process, flushed now and then */
		fprintf(journal, "%ld %016llx\n", i, (unsigned long long)(hash ^ r));
		if (i % 13 == 0 && fflush(journal) != 0)
			die("fflush", "journal");

		/* read-modify-write through the cursor */
		if (i % 7 == 0) {
			char c[32] = {0};

			if (lseek(cntfd, 0, SEEK_SET) < 0)
				die("lseek", "counter");
			if (read(cntfd, c, sizeof c - 1) < 0)
				die("read", "counter");
			long v = atol(c) + (long)(r % 100);
			mix((uint64_t)v);
			n = snprintf(c, sizeof c, "%ld\n", v);
			if (lseek(cntfd, 0, SEEK_SET) < 0)
				die("lseek", "counter");
			write_all(cntfd, c, (size_t)n, "counter");
		}

		/* create, write, (fsync), rename into place */
		if (i % 25 == 0) {
			snprintf(q, sizeof q, "snap-%ld", (i / 25) % 3);
			put_file(dir_a, q, "snap.tmp", i, (i / 25) % 2 == 0);
		}

		/* new files, unlinked two generations later; a rename over an existing file */
		if (i % 40 == 0) {
			snprintf(q, sizeof q, "part-%ld", i / 40);
			put_file(dir_b, q, "part.tmp", i, 0);
			if (i >= 80) {
				snprintf(q, sizeof q, "part-%ld", i / 40 - 2);
				if (unlink(pa(p, dir_b, q)) < 0 && errno != ENOENT)
					die("unlink", p);
			}
			if (i % 120 == 0 && i >= 40) {
				snprintf(q, sizeof q, "part-%ld", i / 40 - 1);
				if (rename(pa(p, dir_b, q), pa(m, dir_b, "moved")) < 0)
					die("rename", p);
			}
		}

		/* a file grown and truncated */
		if (i % 11 == 0) {
			off_t len = (off_t)(r % 9000);
			memset(rec, 'a' + (int)(i % 26), SLOT);
			pwrite_all(growfd, rec, SLOT, len, "grow");
			if (i % 33 == 0 && ftruncate(growfd, (off_t)(r % 5000)) < 0)
				die("ftruncate", "grow");
		}

		/* what the files say, folded in */
		if (i % 60 == 0) {
			struct stat st;

			if (fstat(logfd, &st) < 0)
				die("fstat", "log");
			mix((uint64_t)st.st_size);
			if (fstat(growfd, &st) < 0)
				die("fstat", "grow");
			mix((uint64_t)st.st_size);
			if (stat(pa(p, dir_a, "log"), &st) < 0)
				die("stat", p);
			mix((uint64_t)st.st_size);
			mix_listing(dir_a);
			mix_listing(dir_b);
		}
		if (i % 50 == 0 && fsync(logfd) < 0)
			die("fsync", "log");
	}

	for (size_t k = 0; k < nballast; k++)
		mix(ballast[k]);
	if (fclose(journal) != 0)
		die("fclose", "journal");
	if (close(logfd) < 0 || close(tabfd) < 0 || close(cntfd) < 0 || close(growfd) < 0)
		die("close", "files");
	for (int k = 0; k < 2; k++) {
		const char *d = k ? dir_b : dir_a;
		int fd = open(pa(p, d, "result"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int n = snprintf(line, sizeof line, "steps %ld hash %016llx\n", steps, (unsigned long long)hash);

		if (fd < 0)
			die("open", p);
		write_all(fd, line, (size_t)n, p);
		if (fsync(fd) < 0 || close(fd) < 0)
			die("fsync/close", p);
	}
	printf("done %016llx\n", (unsigned long long)hash);
	return 0;
}
