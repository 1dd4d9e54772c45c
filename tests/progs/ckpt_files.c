/* ckpt_files.c - local files: read, write and append cursors, dup'd fds sharing one offset, close-on-exec, a directory fd. */
#include <dirent.h>
#include <fcntl.h>

#include "ckpt_test.h"

int main(void)
{
	int in, out, app, dupfd, ce, dirfd;
	char b[64];

	in = open("in.txt", O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (in < 0 || write(in, "0123456789abcdefghij", 20) != 20)
		return 1;
	lseek(in, 7, SEEK_SET);
	out = open("out.txt", O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (write(out, "before-", 7) != 7)
		return 1;
	app = open("app.txt", O_WRONLY | O_CREAT | O_APPEND | O_TRUNC, 0644);
	if (write(app, "A1\n", 3) != 3)
		return 1;
	dupfd = dup(in);
	ce = open("in.txt", O_RDONLY | O_CLOEXEC);
	dirfd = open(".", O_RDONLY | O_DIRECTORY);
	ct_ready();
	ct_wait_restored();
	ct_check(read(in, b, 3) == 3 && !memcmp(b, "789", 3), "read continues at the offset");
	ct_check(lseek(dupfd, 0, SEEK_CUR) == 10, "the dup shares the offset (%ld)", (long)lseek(dupfd, 0, SEEK_CUR));
	ct_check(write(out, "after\n", 6) == 6, "write");
	ct_check(write(app, "A2\n", 3) == 3, "append");
	ct_check((fcntl(ce, F_GETFD) & FD_CLOEXEC) != 0, "close-on-exec kept");
	ct_check((fcntl(out, F_GETFL) & O_ACCMODE) == O_WRONLY, "access mode kept");
	ct_check((fcntl(app, F_GETFL) & O_APPEND) != 0, "O_APPEND kept");
	ct_check(faccessat(dirfd, "in.txt", R_OK, 0) == 0, "directory fd");
	close(out);
	close(app);
	out = open("out.txt", O_RDONLY);
	ct_check(read(out, b, sizeof(b)) == 13 && !memcmp(b, "before-after\n", 13), "out.txt content");
	app = open("app.txt", O_RDONLY);
	ct_check(read(app, b, sizeof(b)) == 6 && !memcmp(b, "A1\nA2\n", 6), "app.txt content");
	return ct_done();
}
