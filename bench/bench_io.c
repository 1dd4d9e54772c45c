/* bench_io.c - one measurement of `make bench`: sequential write, sequential read, or small files.
 *
 * A plain program that knows nothing of the shim: bench/run runs it once on
 * a local path and once on a remote path (under LD_PRELOAD=libckptshim.so.1
 * and CKPT_MOUNTS), so both do exactly the same calls. Each invocation
 * measures one phase and prints one line "RESULT key=value ..." on stdout.
 *
 *   bench_io write PATH BYTES BLOCK [fd|stdio]
 *       open(O_CREAT|O_TRUNC), write BYTES in BLOCK-sized calls, fsync, close
 *       (stdio: fopen "w", fwrite BLOCK at a time with the default buffer,
 *       fflush, fsync(fileno), fclose). Timed from open to close returning;
 *       also reported in parts: write_s (open and writes), sync_s (fflush
 *       and fsync), close_s. Afterwards (untimed) stat(PATH) must report BYTES.
 *   bench_io read PATH BYTES BLOCK [fd|stdio]
 *       open, read BYTES in BLOCK-sized calls (stdio: fread with the default
 *       buffer), check one more read hits end of file, close. Small blocks
 *       go to consecutive slots of a 1 MiB buffer. Every block is compared
 *       with memcmp against the bytes `write` put there, 1 MiB at a time;
 *       the time spent comparing is measured and left out of secs (reported
 *       as verify_s), so checking does not hide I/O cost.
 *   bench_io meta DIR NFILES FILEBYTES
 *       mkdir DIR (untimed); then three timed phases over NFILES files
 *       DIR/f0000000...: create (open O_CREAT|O_EXCL, write FILEBYTES,
 *       close), stat (must be a regular file of FILEBYTES), unlink; then
 *       (untimed) readdir must find DIR empty. DIR is left for the caller
 *       to remove: on ext4, removing it would make the next mkdir likely to
 *       land in the same block group, whose just-freed inodes ext4 (without
 *       a journal) skips for a minute at a cost, slowing the next run.
 *   bench_io touch BYTES [HOLD_MS]
 *       not a measurement: fault in BYTES of anonymous memory (as huge pages
 *       where possible), hold it HOLD_MS milliseconds, and exit, so that the
 *       free memory the next measurement builds its page cache and socket
 *       buffers from is backed by the host. On a VM with free page reporting
 *       (virtio-balloon), memory that stays free ~2 s is handed back to the
 *       host, and the first touch after that costs ~1-2 s/GiB of guest system
 *       time, which would otherwise land, at random, in whichever timed run
 *       allocates it. Holding the memory past the 2 s lets a report already
 *       due happen first, so the pages freed at exit are not reported while
 *       the measurement that follows at once is using them.
 *
 * The data is incompressible (xorshift) and differs from block to block, so
 * a block written or read at the wrong offset fails the check (blocks repeat
 * only 2^18 blocks apart). Exit status:
 * 0 when the measurement ran and checked out, 1 on any error or mismatch,
 * 2 on bad usage.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PAT_SPAN (16u << 20) /* block start offsets range over this many bytes */
#define MAX_BLOCK (64u << 20) /* largest block accepted on the command line */

static const char *prog = "bench_io";
static uint8_t *pat;         /* PAT_SPAN + block bytes of pseudo-random data */

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void usage(void) __attribute__((noreturn));

static void usage(void)
{
	fprintf(stderr,
		"usage: %s write PATH BYTES BLOCK [fd|stdio]\n"
		"       %s read  PATH BYTES BLOCK [fd|stdio]\n"
		"       %s meta  DIR NFILES FILEBYTES\n"
		"       %s touch BYTES [HOLD_MS]\n",
		prog, prog, prog, prog);
	exit(2);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static unsigned long long parse_u64(const char *s, const char *what)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-')
		die("bad %s \"%s\"", what, s);
	return v;
}

static void make_pattern(size_t block)
{
	uint64_t x = 0x9e3779b97f4a7c15ull;
	size_t n = (PAT_SPAN + block + 7) & ~(size_t)7;

	pat = malloc(n);
	if (!pat)
		die("out of memory");
	for (size_t i = 0; i < n; i += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(pat + i, &x, 8);
	}
}

/* The bytes of block number i: a window of the pattern starting at a
 * 64-byte-aligned offset that depends on i. The 2^18 offsets are a
 * permutation of i mod 2^18 (odd multiplier), so no two of the first 2^18
 * blocks (1 GiB of 4 KiB blocks) start at the same place. */
static const uint8_t *block_data(uint64_t i)
{
	uint64_t slots = PAT_SPAN / 64;

	return pat + ((i * 2654435761ull + 12345) % slots) * 64;
}

static void print_rusage(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	printf(" cpu_user=%.3f cpu_sys=%.3f",
	       (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6,
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6);
}

/* ---- write --------------------------------------------------------------- */

static void write_all(int fd, const uint8_t *p, size_t n, const char *path)
{
	while (n) {
		ssize_t k = write(fd, p, n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			die("write %s: %s", path, k < 0 ? strerror(errno) : "wrote nothing");
		p += k;
		n -= (size_t)k;
	}
}

static int do_write(const char *path, uint64_t bytes, size_t block, int use_stdio)
{
	uint64_t nblocks = bytes / block;
	double t0, t1, t2, t3;
	struct stat st;

	if (!use_stdio) {
		int fd;

		t0 = now();
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0)
			die("open %s: %s", path, strerror(errno));
		for (uint64_t i = 0; i < nblocks; i++)
			write_all(fd, block_data(i), block, path);
		t1 = now();
		if (fsync(fd) < 0)
			die("fsync %s: %s", path, strerror(errno));
		t2 = now();
		if (close(fd) < 0)
			die("close %s: %s", path, strerror(errno));
		t3 = now();
	} else {
		FILE *f;

		t0 = now();
		f = fopen(path, "w");
		if (!f)
			die("fopen %s: %s", path, strerror(errno));
		for (uint64_t i = 0; i < nblocks; i++)
			if (fwrite(block_data(i), 1, block, f) != block)
				die("fwrite %s: %s", path, strerror(errno));
		t1 = now();
		if (fflush(f) != 0)
			die("fflush %s: %s", path, strerror(errno));
		if (fsync(fileno(f)) < 0)
			die("fsync %s: %s", path, strerror(errno));
		t2 = now();
		if (fclose(f) != 0)
			die("fclose %s: %s", path, strerror(errno));
		t3 = now();
	}
	/* Untimed: the file must now have exactly the size written. */
	if (stat(path, &st) < 0)
		die("stat %s after writing: %s", path, strerror(errno));
	if ((uint64_t)st.st_size != bytes)
		die("%s: size %lld after writing %" PRIu64 " bytes", path, (long long)st.st_size,
		    bytes);
	printf("RESULT op=write api=%s block=%zu bytes=%" PRIu64 " secs=%.6f wall=%.6f"
	       " write_s=%.6f sync_s=%.6f close_s=%.6f verify_s=0",
	       use_stdio ? "stdio" : "fd", block, bytes, t3 - t0, t3 - t0, t1 - t0, t2 - t1,
	       t3 - t2);
	print_rusage();
	printf(" check=size\n");
	return 0;
}

/* ---- read ---------------------------------------------------------------- */

/* Fill buf with n bytes unless end of file comes first; returns bytes read. */
static size_t read_full(int fd, uint8_t *buf, size_t n, const char *path)
{
	size_t got = 0;

	while (got < n) {
		ssize_t k = read(fd, buf + got, n - got);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			die("read %s: %s", path, strerror(errno));
		if (k == 0)
			break;
		got += (size_t)k;
	}
	return got;
}

static void mismatch(const char *path, uint64_t i, size_t block, const uint8_t *buf)
{
	const uint8_t *want = block_data(i);
	size_t j = 0;

	while (j < block && buf[j] == want[j])
		j++;
	die("%s: data read differs from data written at byte %" PRIu64 " (block %" PRIu64 ")",
	    path, i * block + j, i);
}

/* Compare the n blocks from block number first, read into buf one after the
 * other, with what `write` wrote there. */
static void check_blocks(const char *path, uint64_t first, size_t n, size_t block,
			 const uint8_t *buf)
{
	for (size_t k = 0; k < n; k++)
		if (memcmp(buf + k * block, block_data(first + k), block) != 0)
			mismatch(path, first + k, block, buf + k * block);
}

/* Blocks are read one per call into consecutive slots of a buffer of BATCH
 * bytes (or one block, if bigger), and checked when it is full, so the clock
 * is read twice per BATCH bytes, not twice per small block. */
#define BATCH (1u << 20)

static int do_read(const char *path, uint64_t bytes, size_t block, int use_stdio)
{
	uint64_t nblocks = bytes / block;
	size_t per = block >= BATCH ? 1 : BATCH / block;
	uint8_t *buf = malloc(per * block + 1);
	double t0, t1, verify = 0, a;
	int fd = -1;
	FILE *f = NULL;
	size_t got;

	if (!buf)
		die("out of memory");
	memset(buf, 0, per * block + 1); /* fault the buffer in before timing */
	t0 = now();
	if (!use_stdio) {
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			die("open %s: %s", path, strerror(errno));
	} else {
		f = fopen(path, "r");
		if (!f)
			die("fopen %s: %s", path, strerror(errno));
	}
	for (uint64_t i = 0; i < nblocks; i++) {
		size_t slot = (size_t)(i % per);
		uint8_t *p = buf + slot * block;

		got = f ? fread(p, 1, block, f) : read_full(fd, p, block, path);
		if (got != block)
			die("%s: %s after %" PRIu64 " bytes, expected %" PRIu64, path,
			    f && ferror(f) ? strerror(errno) : "end of file", i * block + got, bytes);
		if (slot == per - 1 || i == nblocks - 1) {
			a = now();
			check_blocks(path, i - slot, slot + 1, block, buf);
			verify += now() - a;
		}
	}
	if (f) {
		if (fread(buf, 1, 1, f) != 0 || !feof(f))
			die("%s: longer than the %" PRIu64 " bytes written", path, bytes);
		if (fclose(f) != 0)
			die("fclose %s: %s", path, strerror(errno));
	} else {
		if (read_full(fd, buf, 1, path) != 0)
			die("%s: longer than the %" PRIu64 " bytes written", path, bytes);
		if (close(fd) < 0)
			die("close %s: %s", path, strerror(errno));
	}
	t1 = now();
	free(buf);
	printf("RESULT op=read api=%s block=%zu bytes=%" PRIu64 " secs=%.6f wall=%.6f"
	       " verify_s=%.6f",
	       use_stdio ? "stdio" : "fd", block, bytes, t1 - t0 - verify, t1 - t0, verify);
	print_rusage();
	printf(" check=memcmp\n");
	return 0;
}

/* ---- metadata ------------------------------------------------------------ */

static int do_meta(const char *dir, uint64_t nfiles, size_t fbytes)
{
	size_t cap = strlen(dir) + 32;
	char *name = malloc(cap);
	double t0, t1, t2, t3;
	struct dirent *de;
	struct stat st;
	DIR *d;

	if (!name)
		die("out of memory");
	if (mkdir(dir, 0755) < 0)
		die("mkdir %s: %s", dir, strerror(errno));

	t0 = now();
	for (uint64_t i = 0; i < nfiles; i++) {
		int fd;

		snprintf(name, cap, "%s/f%07" PRIu64, dir, i);
		fd = open(name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd < 0)
			die("create %s: %s", name, strerror(errno));
		if (fbytes)
			write_all(fd, block_data(i), fbytes, name);
		if (close(fd) < 0)
			die("close %s: %s", name, strerror(errno));
	}
	t1 = now();
	for (uint64_t i = 0; i < nfiles; i++) {
		snprintf(name, cap, "%s/f%07" PRIu64, dir, i);
		if (stat(name, &st) < 0)
			die("stat %s: %s", name, strerror(errno));
		if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != fbytes)
			die("stat %s: mode %o size %lld, expected a regular file of %zu bytes", name,
			    (unsigned)st.st_mode, (long long)st.st_size, fbytes);
	}
	t2 = now();
	for (uint64_t i = 0; i < nfiles; i++) {
		snprintf(name, cap, "%s/f%07" PRIu64, dir, i);
		if (unlink(name) < 0)
			die("unlink %s: %s", name, strerror(errno));
	}
	t3 = now();
	/* Untimed: the directory must be empty now. */
	d = opendir(dir);
	if (!d)
		die("opendir %s: %s", dir, strerror(errno));
	errno = 0;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			die("%s: \"%s\" left after unlinking every file", dir, de->d_name);
	if (errno) /* POSIX: an error; but it does not change what this measured */
		fprintf(stderr,
			"%s: warning: readdir %s returned NULL (end of directory) with errno %d"
			" (%s) set; a caller that clears errno first takes that as a read error\n",
			prog, dir, errno, strerror(errno));
	closedir(d);
	free(name);
	printf("RESULT op=meta files=%" PRIu64 " file_bytes=%zu secs=%.6f wall=%.6f"
	       " create_s=%.6f stat_s=%.6f unlink_s=%.6f verify_s=0",
	       nfiles, fbytes, t3 - t0, t3 - t0, t1 - t0, t2 - t1, t3 - t2);
	print_rusage();
	printf(" check=stat-size,empty-dir\n");
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		usage();
	if (!strcmp(argv[1], "write") || !strcmp(argv[1], "read")) {
		uint64_t bytes;
		size_t block;
		int use_stdio = 0;

		if (argc < 5 || argc > 6)
			usage();
		bytes = parse_u64(argv[3], "BYTES");
		block = (size_t)parse_u64(argv[4], "BLOCK");
		if (block == 0 || block > MAX_BLOCK || bytes % block)
			die("BLOCK must be 1..%u and divide BYTES", MAX_BLOCK);
		if (argc == 6) {
			if (!strcmp(argv[5], "stdio"))
				use_stdio = 1;
			else if (strcmp(argv[5], "fd"))
				usage();
		}
		make_pattern(block);
		if (argv[1][0] == 'w')
			return do_write(argv[2], bytes, block, use_stdio);
		return do_read(argv[2], bytes, block, use_stdio);
	}
	if (!strcmp(argv[1], "meta")) {
		uint64_t nfiles;
		size_t fbytes;

		if (argc != 5)
			usage();
		nfiles = parse_u64(argv[3], "NFILES");
		fbytes = (size_t)parse_u64(argv[4], "FILEBYTES");
		if (nfiles > 9999999 || fbytes > MAX_BLOCK)
			die("NFILES must be at most 9999999 and FILEBYTES at most %u", MAX_BLOCK);
		make_pattern(fbytes);
		return do_meta(argv[2], nfiles, fbytes);
	}
	if (!strcmp(argv[1], "touch")) {
		size_t n, page = (size_t)sysconf(_SC_PAGESIZE);
		unsigned long long hold_ms;
		volatile uint8_t *m;

		if (argc != 3 && argc != 4)
			usage();
		n = (size_t)parse_u64(argv[2], "BYTES");
		hold_ms = argc == 4 ? parse_u64(argv[3], "HOLD_MS") : 0;
		if (!n)
			return 0;
		m = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (m == MAP_FAILED)
			die("mmap %zu bytes: %s", n, strerror(errno));
		madvise((void *)m, n, MADV_HUGEPAGE); /* freed as whole 2 MiB blocks */
		for (size_t i = 0; i < n; i += page)
			m[i] = 1;
		if (hold_ms) {
			struct timespec ts = {(time_t)(hold_ms / 1000), (long)(hold_ms % 1000) * 1000000L};

			while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
				;
		}
		return 0;
	}
	usage();
}
