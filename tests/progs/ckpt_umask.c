/* ckpt_umask.c - the umask comes back and applies to new files. */
#include <fcntl.h>
#include <sys/stat.h>

#include "ckpt_test.h"

int main(void)
{
	struct stat st;
	mode_t m;
	int fd;

	umask(027);
	ct_ready();
	ct_wait_restored();
	m = umask(022);
	ct_check(m == 027, "umask is %03o", (unsigned)m);
	umask(m);
	unlink("umask.dat");
	fd = open("umask.dat", O_WRONLY | O_CREAT, 0666);
	ct_check(fd >= 0 && fstat(fd, &st) == 0 && (st.st_mode & 0777) == 0640, "new file mode %03o",
		 (unsigned)(st.st_mode & 0777));
	return ct_done();
}
