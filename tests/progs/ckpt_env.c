/* ckpt_env.c - the environment is the program's, not the restart's. */
#include "ckpt_test.h"

int main(void)
{
	setenv("CKPT_TEST_SET", "set-at-run-time", 1);
	unsetenv("CKPT_TEST_GONE");
	ct_ready();
	ct_wait_restored();
	ct_check(getenv("CKPT_TEST_SET") && !strcmp(getenv("CKPT_TEST_SET"), "set-at-run-time"), "setenv'd variable");
	ct_check(!getenv("CKPT_TEST_GONE"), "unsetenv'd variable");
	ct_check(getenv("CKPT_TEST_ORIG") && !strcmp(getenv("CKPT_TEST_ORIG"), "original"), "inherited variable");
	ct_check(!getenv("CKPT_TEST_RESTART"), "a variable of the restart's environment leaked in");
	return ct_done();
}
