/* fsops.c - runs a fixed sequence of file operations in DIR and prints each result.
 *
 * Run once on a local directory and once on a remote one under the shim: the
 * two outputs must be identical (same data, same errno for every mistake).
 * Only portable fields are printed (no inode numbers or times).
 *
 *   fsops DIR      DIR must exist and be empty
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

static const char *D;
static char pbuf[4][4096];
static int pi;

static const char *P(const char *rel)
{
	char *b = pbuf[pi++ & 3];

	snprintf(b, 4096, "%s/%s", D, rel);
	return b;
}

static void show(const char *what, long r)
{
	if (r < 0)
		printf("%-28s -1 %s\n", what, strerrorname_np(errno));
	else
		printf("%-28s %ld\n", what, r);
}

static void show_stat(const char *what, const char *path, int follow)
{
	struct stat st;
	int r = follow ? stat(path, &st) : lstat(path, &st);

	if (r < 0) {
		show(what, r);
		return;
	}
	printf("%-28s type=%s size=%lld mode=%o nlink=%lu\n", what,
	       S_ISREG(st.st_mode) ? "reg" : S_ISDIR(st.st_mode) ? "dir" : S_ISLNK(st.st_mode) ? "lnk" : "other",
	       S_ISDIR(st.st_mode) ? 0LL : (long long)st.st_size, st.st_mode & 07777,
	       S_ISDIR(st.st_mode) ? 0ul : (unsigned long)st.st_nlink);
}

static void show_data(const char *what, const char *buf, long n)
{
	if (n < 0) {
		show(what, n);
		return;
	}
	printf("%-28s %ld \"%.*s\"\n", what, n, (int)n, buf);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void list_dir(const char *what, const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	char *names[256];
	int n = 0;

	if (!d) {
		show(what, -1);
		return;
	}
	errno = 0; /* once: readdir leaves errno alone unless it fails */
	while ((e = readdir(d)) && n < 256)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			names[n++] = strdup(e->d_name);
	if (errno)
		printf("%-28s errno %s after the readdir loop\n", what, strerrorname_np(errno));
	closedir(d);
	qsort(names, (size_t)n, sizeof(*names), cmp_str);
	printf("%-28s", what);
	for (int i = 0; i < n; i++) {
		printf(" %s", names[i]);
		free(names[i]);
	}
	printf("\n");
}

static unsigned char pattern(size_t i)
{
	return (unsigned char)(i * 2654435761u >> 13);
}

int main(int argc, char **argv)
{
	char buf[8192];
	int fd, fd2;
	long r;
	FILE *fp;

	if (argc != 2) {
		fprintf(stderr, "usage: fsops DIR\n");
		return 2;
	}
	D = argv[1];
	umask(022);

	/* open errors */
	show("open missing", open(P("missing"), O_RDONLY));
	fd = open(P("f"), O_CREAT | O_WRONLY | O_EXCL, 0644);
	show("create f excl", fd >= 0 ? 0 : -1);
	show("write f", write(fd, "hello", 5));
	show("close f", close(fd));
	show("create f excl again", open(P("f"), O_CREAT | O_WRONLY | O_EXCL, 0644));
	show("open dir for writing", open(D, O_WRONLY));
	show("open under a file", open(P("f/x"), O_RDONLY));
	show("open dir O_DIRECTORY", (fd = open(D, O_RDONLY | O_DIRECTORY)) >= 0 ? 0 : -1);
	show("read a dir fd", read(fd, buf, 10));
	show("write a dir fd", write(fd, buf, 10));
	close(fd);
	show("open file O_DIRECTORY", open(P("f"), O_RDONLY | O_DIRECTORY));
	show("close bad fd", close(987));

	/* read-only fd */
	fd = open(P("f"), O_RDONLY);
	show("write read-only fd", write(fd, "x", 1));
	show_data("read 5", buf, read(fd, buf, 5));
	show("read at eof", read(fd, buf, 5));
	show("lseek end", lseek(fd, 0, SEEK_END));
	show("lseek negative", lseek(fd, -1, SEEK_SET));
	show("lseek bad whence", lseek(fd, 0, 42));
	show_data("pread 1", buf, pread(fd, buf, 10, 1));
	show("ftruncate read-only", ftruncate(fd, 0));
	show("fcntl getfl accmode", fcntl(fd, F_GETFL) & O_ACCMODE);
	close(fd);
	show_stat("stat f", P("f"), 1);

	/* directories and names */
	show("mkdir sub", mkdir(P("sub"), 0755));
	show("mkdir sub again", mkdir(P("sub"), 0755));
	show("mkdir under missing", mkdir(P("nope/sub"), 0755));
	show("rmdir a file", rmdir(P("f")));
	show("unlink a dir", unlink(P("sub")));
	show("rmdir missing", rmdir(P("missing")));
	show("rename f sub/g", rename(P("f"), P("sub/g")));
	show_stat("stat f after rename", P("f"), 1);
	show_stat("stat sub/g", P("sub/g"), 1);
	show("rmdir non-empty", rmdir(P("sub")));
	show("rename dir onto file", (mkdir(P("d2"), 0755), rename(P("d2"), P("sub/g"))));
	show("rename file onto dir", rename(P("sub/g"), P("d2")));
	show("rmdir d2", rmdir(P("d2")));
	show("rename missing", rename(P("missing"), P("x")));

	/* append */
	fd = open(P("a"), O_CREAT | O_WRONLY | O_APPEND, 0600);
	show("append ab", write(fd, "ab", 2));
	show("lseek 0 on append fd", lseek(fd, 0, SEEK_SET));
	show("append cd", write(fd, "cd", 2));
	show("append cursor", lseek(fd, 0, SEEK_CUR));
	show("pwrite on append fd", pwrite(fd, "ef", 2, 0));
	close(fd);
	fd = open(P("a"), O_RDWR);
	show_data("read a", buf, read(fd, buf, sizeof(buf)));
	show("ftruncate 2", ftruncate(fd, 2));
	show("size after ftruncate", lseek(fd, 0, SEEK_END));
	show("ftruncate negative", ftruncate(fd, -1));
	/* dup shares the cursor */
	fd2 = dup(fd);
	show("lseek 1 via fd", lseek(fd, 1, SEEK_SET));
	show("cursor via dup", lseek(fd2, 0, SEEK_CUR));
	show("write via dup", write(fd2, "XY", 2));
	show("cursor via fd", lseek(fd, 0, SEEK_CUR));
	show("fcntl dupfd >= 50", fcntl(fd, F_DUPFD, 50) >= 50);
	show("dup2 onto 60", dup2(fd, 60));
	show("cursor via 60", lseek(60, 0, SEEK_CUR));
	close(60);
	close(fd2);
	show("pwrite hole at 10", pwrite(fd, "Z", 1, 10));
	memset(buf, '?', 16);
	r = pread(fd, buf, 16, 0);
	for (long i = 0; i < r; i++)
		if (!buf[i])
			buf[i] = '0';
	show_data("read with hole", buf, r);
	show("fcntl setfl append", fcntl(fd, F_SETFL, O_APPEND));
	show("fcntl getfl append", (fcntl(fd, F_GETFL) & O_APPEND) != 0);
	show("write after setfl", write(fd, "END", 3));
	show("size", lseek(fd, 0, SEEK_END));
	close(fd);

	/* read your own writes through another fd, vectored I/O */
	fd = open(P("rw"), O_CREAT | O_RDWR | O_TRUNC, 0644);
	fd2 = open(P("rw"), O_RDONLY);
	show("write rw", write(fd, "0123456789", 10));
	show_data("read via other fd", buf, read(fd2, buf, 20));
	{
		struct iovec iov[3] = {{"ab", 2}, {"cde", 3}, {"f", 1}};
		char x[3], y[4];
		struct iovec rv[2] = {{x, 3}, {y, 4}};

		show("writev", writev(fd, iov, 3));
		lseek(fd2, 8, SEEK_SET);
		r = readv(fd2, rv, 2);
		memcpy(buf, x, 3);
		memcpy(buf + 3, y, 4);
		show_data("readv", buf, r);
	}
	close(fd2);
	close(fd);

	/* large file across buffer sizes */
	{
		size_t total = 3u << 20, done = 0, chunk = 4097;
		unsigned char *big = malloc(total);
		int ok = 1;

		for (size_t i = 0; i < total; i++)
			big[i] = pattern(i);
		fd = open(P("big"), O_CREAT | O_RDWR | O_TRUNC, 0644);
		while (done < total) {
			size_t k = total - done < chunk ? total - done : chunk;

			if (write(fd, big + done, k) != (ssize_t)k)
				ok = 0;
			done += k;
			chunk = chunk == 4097 ? 65535 : chunk == 65535 ? 1048577 : 4097;
		}
		show("big written", ok);
		for (int i = 0; i < 50; i++) {
			size_t off = (size_t)(i * 61231) % (total - 5000);
			unsigned char tmp[5000];

			if (pread(fd, tmp, sizeof(tmp), (off_t)off) != (ssize_t)sizeof(tmp) ||
			    memcmp(tmp, big + off, sizeof(tmp)))
				ok = 0;
		}
		lseek(fd, 0, SEEK_SET);
		done = 0;
		while (done < total) {
			r = read(fd, buf, 3000);
			if (r <= 0 || memcmp(buf, big + done, (size_t)r)) {
				ok = 0;
				break;
			}
			done += (size_t)r;
		}
		show("big read back", ok && done == total);
		free(big);
		close(fd);
		show_stat("stat big", P("big"), 1);
	}

	/* links, access, attributes */
	show("symlink", symlink("a", P("l")));
	r = readlink(P("l"), buf, sizeof(buf));
	show_data("readlink", buf, r);
	show_stat("lstat l", P("l"), 0);
	show_stat("stat l", P("l"), 1);
	show("access a R_OK", access(P("a"), R_OK));
	show("access missing", access(P("missing"), F_OK));
	show("chmod a 0640", chmod(P("a"), 0640));
	show_stat("stat a", P("a"), 1);
	show("truncate a 1", truncate(P("a"), 1));
	show_stat("stat a truncated", P("a"), 1);
	show("truncate dir", truncate(D, 0));
	{
		struct timespec ts[2] = {{1000000000, 5}, {1200000000, 7}};
		struct stat st;

		show("utimensat", utimensat(AT_FDCWD, P("a"), ts, 0));
		stat(P("a"), &st);
		show("mtime sec", (long)st.st_mtim.tv_sec);
		show("mtime nsec", st.st_mtim.tv_nsec);
	}
	show("link a a2", link(P("a"), P("a2")));
	show_stat("stat a2", P("a2"), 1);
	show("unlink a2", unlink(P("a2")));
	show("unlink l", unlink(P("l")));
	show("unlink missing", unlink(P("missing")));
	list_dir("list", D);
	list_dir("list sub", P("sub"));
	list_dir("list missing", P("missing"));

	/* *at calls relative to a directory fd */
	fd = open(P("sub"), O_RDONLY | O_DIRECTORY);
	fd2 = openat(fd, "g", O_RDONLY);
	show_data("openat+read", buf, read(fd2, buf, 100));
	close(fd2);
	{
		struct stat st;

		show("fstatat", fstatat(fd, "g", &st, 0) == 0 ? (long)st.st_size : -1);
		show("fstatat empty path", fstatat(fd, "", &st, AT_EMPTY_PATH) == 0 && S_ISDIR(st.st_mode));
	}
	show("mkdirat", mkdirat(fd, "deeper", 0700));
	show("unlinkat dir", unlinkat(fd, "deeper", AT_REMOVEDIR));
	close(fd);

	/* cwd */
	{
		char cwd[4096], *c;

		getcwd(cwd, sizeof(cwd));
		show("chdir sub", chdir(P("sub")));
		c = getcwd(buf, sizeof(buf));
		show("getcwd ends in /sub", c && strlen(c) > 4 && !strcmp(c + strlen(c) - 4, "/sub"));
		fd = open("g", O_RDONLY);
		show_data("relative open+read", buf, read(fd, buf, 100));
		close(fd);
		show("relative mkdir", mkdir("rel", 0755));
		show_stat("stat ../sub/rel", "../sub/rel", 1);
		show("relative rmdir", rmdir("rel"));
		show("chdir missing", chdir("missing"));
		show("chdir to a file", chdir("g"));
		show("chdir back", chdir(cwd));
	}

	/* stdio */
	fp = fopen(P("s"), "w");
	show("fopen w", fp != NULL);
	for (int i = 0; i < 1000; i++)
		fprintf(fp, "line %d\n", i);
	show("ftell", ftell(fp));
	show("fclose", fclose(fp));
	fp = fopen(P("s"), "r");
	r = 0;
	while (fgets(buf, sizeof(buf), fp))
		r++;
	show("lines read", r);
	show("fseek 7", fseek(fp, 7, SEEK_SET));
	show_data("fgets after fseek", buf, fgets(buf, sizeof(buf), fp) ? (long)strlen(buf) - 1 : -1);
	show("fileno valid", fileno(fp) >= 0);
	{
		struct stat st;

		show("fstat(fileno)", fstat(fileno(fp), &st) == 0 ? (long)st.st_size : -1);
	}
	fclose(fp);
	fp = fopen(P("s"), "a");
	fputs("tail\n", fp);
	show("ftell after append", ftell(fp));
	fclose(fp);
	fp = fopen(P("s"), "r+");
	fseek(fp, 0, SEEK_END);
	show("r+ size", ftell(fp));
	fclose(fp);
	errno = 0;
	show("fopen missing r", fopen(P("missing"), "r") ? 0 : -1);
	show("fopen dir w", fopen(D, "w") ? 0 : -1);
	show("fopen bad mode", fopen(P("s"), "q") ? 0 : -1);

	/* mkstemp, mmap */
	{
		char tmpl[4200];
		void *m;

		snprintf(tmpl, sizeof(tmpl), "%s/tmpXXXXXX", D);
		fd = mkstemp(tmpl);
		show("mkstemp", fd >= 0);
		show("mkstemp write", write(fd, "tmp", 3));
		close(fd);
		show_stat("stat mkstemp", tmpl, 1);
		show("unlink mkstemp", unlink(tmpl));
		fd = open(P("sub/g"), O_RDONLY);
		m = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
		show_data("mmap private", m == MAP_FAILED ? NULL : m, m == MAP_FAILED ? -1 : 5);
		close(fd);
	}

	/* copy_file_range between two files */
	fd = open(P("s"), O_RDONLY);
	fd2 = open(P("copy"), O_CREAT | O_WRONLY | O_TRUNC, 0644);
	r = 0;
	for (;;) {
		ssize_t k = copy_file_range(fd, NULL, fd2, NULL, 1000, 0);

		if (k <= 0) {
			if (k < 0)
				r = -1;
			break;
		}
		r += k;
	}
	show("copy_file_range", r);
	close(fd);
	close(fd2);
	show_stat("stat copy", P("copy"), 1);
	/* O_TRUNC on reopen */
	fd = open(P("copy"), O_WRONLY | O_TRUNC);
	close(fd);
	show_stat("stat copy after O_TRUNC", P("copy"), 1);
	list_dir("final list", D);
	return 0;
}
