/* ckpt_cwd.c - the working directory comes back, relative paths resolve in it. */
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>

#include "ckpt_test.h"

int main(int argc, char **argv)
{
	char want[PATH_MAX], got[PATH_MAX];
	int fd;

	if (argc < 2 || mkdir(argv[1], 0755) < 0 || chdir(argv[1]) < 0)
		return 1;
	fd = open("marker", O_WRONLY | O_CREAT, 0644);
	close(fd);
	if (!getcwd(want, sizeof(want)))
		return 1;
	ct_ready();
	ct_wait_restored();
	ct_check(getcwd(got, sizeof(got)) && !strcmp(got, want), "cwd is %s, expected %s", got, want);
	ct_check(access("marker", F_OK) == 0, "relative path");
	return ct_done();
}
