/* ckpt_stack.c - the stack: a deep recursion with patterned locals is checkpointed at its deepest frame and unwinds correctly after the restore. */
#include "ckpt_test.h"

#define DEPTH 2000

static int dive(int depth)
{
	volatile unsigned char local[512];
	int sum = 0;

	for (int i = 0; i < 512; i++)
		local[i] = (unsigned char)(depth * 31 + i);
	if (depth < DEPTH) {
		sum = dive(depth + 1);
	} else {
		ct_ready();
		ct_wait_restored(); /* checkpointed here, 2000 frames deep (1+ MiB of stack) */
	}
	for (int i = 0; i < 512; i++)
		if (local[i] != (unsigned char)(depth * 31 + i)) {
			ct_check(0, "frame %d byte %d changed", depth, i);
			break;
		}
	return sum + depth;
}

/* Deeper than the stack ever was before the checkpoint: it must grow. */
static int grow(int n)
{
	volatile char pad[4096];

	pad[0] = (char)n;
	pad[4095] = (char)n;
	return n ? grow(n - 1) + pad[0] - (char)n + 1 : 0;
}

int main(void)
{
	int s = dive(0);

	ct_check(s == DEPTH * (DEPTH + 1) / 2, "recursion returned %d", s);
	ct_check(grow(1500) == 1500, "the stack grows below what was restored");
	return ct_done();
}
