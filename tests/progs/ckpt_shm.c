/* ckpt_shm.c - System V shared memory is refused at a checkpoint (it is shared with other processes); the program carries on. */
#include <sys/ipc.h>
#include <sys/shm.h>

#include "ckpt_test.h"

int main(int argc, char **argv)
{
	int id = shmget(IPC_PRIVATE, 1 << 16, IPC_CREAT | 0600);
	char *p = id < 0 ? NULL : shmat(id, NULL, 0);
	struct timespec ts = {0, 10 * 1000 * 1000};
	int n = 0;

	if (argc < 2 || !p || p == (char *)-1)
		return 1;
	shmctl(id, IPC_RMID, NULL);
	strcpy(p, "shared");
	ct_ready();
	while (access(argv[1], F_OK) != 0 && n++ < 6000)
		nanosleep(&ts, NULL);
	ct_check(!strcmp(p, "shared"), "shared memory contents");
	return ct_done();
}
