/* ckpt_remote.c - remote files across a restore: the cursors of remote fds come back, and the shim
 * reconnects to the server and reopens the files by path.
 *
 *   ckpt_remote state DIR        zdtm style: files under DIR (a remote mount) opened before, used after
 *   ckpt_remote stream FILE N    writes N 4 KiB chunks to FILE, then reads it back and checks it
 */
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

int main(int argc, char **argv)
{
	char path[4096], b[64];
	int w, r, d;

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
