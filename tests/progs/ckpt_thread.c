/* ckpt_thread.c - a second thread: the checkpoint is refused with one line, and the program carries on unharmed. */
#include <pthread.h>

#include "ckpt_test.h"

static volatile int stop;

static void *idle(void *arg)
{
	struct timespec ts = {0, 5 * 1000 * 1000};

	while (!stop)
		nanosleep(&ts, NULL);
	return arg;
}

int main(int argc, char **argv)
{
	pthread_t t;
	struct timespec ts = {0, 10 * 1000 * 1000};
	int counter = 0;

	if (argc < 2 || pthread_create(&t, NULL, idle, NULL))
		return 1;
	ct_ready();
	while (access(argv[1], F_OK) != 0 && counter < 6000) { /* the harness says when */
		nanosleep(&ts, NULL);
		counter++;
	}
	stop = 1;
	pthread_join(t, NULL);
	ct_check(counter < 6000, "no go file");
	return ct_done();
}
