/* ckpt_mem.c - MIB mebibytes of memory, half random bytes and half repeating text, checksummed
 * before the checkpoint and after the restore (for measuring checkpoint and restore). */
#include <stdint.h>

#include "ckpt_test.h"

static uint64_t sum(const uint64_t *p, size_t n)
{
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h;
}

int main(int argc, char **argv)
{
	size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 256, n = mib << 20, half = n / 2;
	uint64_t *m = malloc(n), x = 88172645463325252ull, before;
	static const char text[] = "The quick brown fox jumps over the lazy dog; checkpoint/restart test line 0123456789\n";
	char *c;

	if (!m)
		return 1;
	for (size_t i = 0; i < half / 8; i++) { /* xorshift: incompressible */
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		m[i] = x;
	}
	c = (char *)m + half;
	for (size_t i = 0; i < n - half; i++)
		c[i] = text[i % (sizeof(text) - 1)];
	before = sum(m, n / 8);
	ct_ready();
	ct_wait_restored();
	ct_check(sum(m, n / 8) == before, "memory checksum differs");
	return ct_done();
}
