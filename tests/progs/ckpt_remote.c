/* ckpt_remote.c - remote files across a restore: the cursors of remote fds come back, and the shim
 * reconnects to the server and reopens the files by path.
 *
 *   ckpt_remote state DIR        zdtm style: files under DIR (a remote mount) opened before, used after
 *   ckpt_remote stream FILE N    writes N 4 KiB chunks to FILE, then reads it back and checks it
 *   ckpt_remote direct FILE      reads FILE (8 MiB, written first) in 1 MiB blocks across the restore,
 *                                from the descriptor a same-host server hands out (READ_FD): that
 *                                descriptor is protected before, and not used after the restore even
 *                                when its number has been taken by another file
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>

#include "ckpt_test.h"

static void chunk(char *b, long i)
{
	for (int k = 0; k < 4096; k++)
		b[k] = (char)('a' + (i * 7 + k / 64) % 26);
	b[4095] = '\n';
}

static int stream(const char *path, long n)
{
	char b[4096], r[4096];
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (fd < 0)
		return 1;
	ct_ready();
	for (long i = 0; i < n; i++) {
		struct timespec pace = {0, 1000 * 1000};

		if (i % 20 == 0) /* about 3 s for 12000 chunks: long enough to be caught */
			nanosleep(&pace, NULL);
		chunk(b, i);
		if (write(fd, b, sizeof(b)) != (ssize_t)sizeof(b)) {
			ct_check(0, "write %ld failed", i);
			return ct_done();
		}
	}
	close(fd);
	fd = open(path, O_RDONLY);
	for (long i = 0; i < n; i++) {
		chunk(b, i);
		if (read(fd, r, sizeof(r)) != (ssize_t)sizeof(r) || memcmp(b, r, sizeof(b))) {
			ct_check(0, "chunk %ld differs", i);
			break;
		}
	}
	ct_check(read(fd, r, 1) == 0, "file longer than written");
	return ct_done();
}

#define MIB (1 << 20)

static unsigned char pat(long i)
{
	return (unsigned char)((i * 2654435761u) >> 13);
}

/* The lowest fd above `above` that is a descriptor of a file whose path
 * ends in /name (the shim's direct-read descriptor: a remote fd's own
 * number is a placeholder on "/"), or -1. */
static int find_direct_fd(const char *name, int above)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int best = -1;

	if (!d)
		return -1;
	while ((e = readdir(d))) {
		char link[64], to[4096];
		int fd = atoi(e->d_name);
		ssize_t n;
		size_t nl = strlen(name);

		if (fd <= above || fd == dirfd(d))
			continue;
		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		n = readlink(link, to, sizeof(to) - 1);
		if (n <= (ssize_t)nl)
			continue;
		to[n] = '\0';
		if (to[n - (ssize_t)nl - 1] == '/' && !strcmp(to + n - nl, name) && (best < 0 || fd < best))
			best = fd;
	}
	closedir(d);
	return best;
}

static int direct(const char *path)
{
	static unsigned char buf[MIB];
	const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	long at = 0;
	int fd, dfd, dfd2, z;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return 1;
	for (int b = 0; b < 8; b++) {
		for (long i = 0; i < MIB; i++)
			buf[i] = pat((long)b * MIB + i);
		if (write(fd, buf, MIB) != MIB)
			return 1;
	}
	if (close(fd) < 0)
		return 1;
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return 1;
	for (int b = 0; b < 3; b++, at += MIB)
		ct_check(read(fd, buf, MIB) == MIB && buf[7] == pat(at + 7) && buf[MIB - 1] == pat(at + MIB - 1),
			 "block %d before the checkpoint", b);
	dfd = find_direct_fd(name, 2);
	ct_check(dfd > fd, "a direct-read descriptor of %s above the program's fds (found %d)", name, dfd);
	if (dfd >= 0) {
		errno = 0;
		ct_check(close(dfd) == -1 && errno == EBADF, "close of the shim's descriptor refused");
		ct_check(dup2(0, dfd) == -1 && errno == EBADF, "dup2 onto the shim's descriptor refused");
	}
	ct_ready();
	ct_wait_restored();
	/* The old number is free now: take it for another file, as any open
	 * might; reads must not come from it. */
	if (dfd >= 0) {
		ct_check(fcntl(dfd, F_GETFD) == -1 && errno == EBADF, "fd %d free after the restore", dfd);
		z = open("/dev/zero", O_RDONLY);
		ct_check(z >= 0 && dup2(z, dfd) == dfd, "fd %d taken by /dev/zero", dfd);
	}
	for (int b = 3; b < 8; b++, at += MIB) {
		ssize_t n = read(fd, buf, MIB);
		long bad = -1;

		for (long i = 0; n == MIB && i < MIB && bad < 0; i++)
			if (buf[i] != pat(at + i))
				bad = i;
		ct_check(n == MIB && bad < 0, "block %d after the restore: %zd bytes, first bad byte %ld", b,
			 n, bad);
	}
	ct_check(read(fd, buf, 1) == 0, "end of file after 8 MiB");
	dfd2 = find_direct_fd(name, 2);
	ct_check(dfd2 >= 0 && dfd2 != dfd, "a new direct-read descriptor after the restore (found %d)",
		 dfd2);
	return ct_done();
}

int main(int argc, char **argv)
{
	char path[4096], b[64];
	int w, r, d;

	if (argc == 3 && !strcmp(argv[1], "direct"))
		return direct(argv[2]);
	if (argc == 4 && !strcmp(argv[1], "stream"))
		return stream(argv[2], atol(argv[3]));
	if (argc != 3)
		return 2;
	snprintf(path, sizeof(path), "%s/in.txt", argv[2]);
	w = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (w < 0 || write(w, "0123456789abcdefghij", 20) != 20)
		return 1;
	close(w);
	r = open(path, O_RDONLY);
	if (read(r, b, 5) != 5)
		return 1;
	d = dup(r);
	snprintf(path, sizeof(path), "%s/out.txt", argv[2]);
	w = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (write(w, "before-", 7) != 7)
		return 1;
	if (chdir(argv[2]) < 0) /* a remote cwd: the shim keeps it */
		return 1;
	ct_ready();
	ct_wait_restored();
	ct_check(getcwd(path, sizeof(path)) && !strcmp(path, argv[2]), "remote cwd %s", path);
	ct_check(access("in.txt", R_OK) == 0, "a relative path in the remote cwd");
	snprintf(path, sizeof(path), "%s/out.txt", argv[2]);
	ct_check(read(r, b, 3) == 3 && !memcmp(b, "567", 3), "remote read continues at the cursor");
	ct_check(lseek(d, 0, SEEK_CUR) == 8, "the dup shares the cursor");
	ct_check(write(w, "after\n", 6) == 6, "remote write after the restore");
	ct_check(close(w) == 0, "close");
	w = open(path, O_RDONLY);
	ct_check(w >= 0 && read(w, b, sizeof(b)) == 13 && !memcmp(b, "before-after\n", 13), "out.txt content");
	return ct_done();
}
