/* ckpt_globals.c - initialized data, zero-initialized data, and data changed at run time survive a restore. */
#include "ckpt_test.h"

static int data_init[1000] = {1, 2, 3};
static unsigned long bss[100000];
static const char rodata[] = "read-only text of the program";
char *global_ptr;
static struct {
	double d;
	char name[32];
} rec = {3.25, "record"};

int main(void)
{
	for (int i = 0; i < 1000; i++)
		data_init[i] += i * 3;
	for (int i = 0; i < 100000; i += 7)
		bss[i] = (unsigned long)i * 2654435761u;
	global_ptr = (char *)rodata;
	rec.d *= 2;
	strcpy(rec.name, "changed");
	ct_ready();
	ct_wait_restored();
	for (int i = 0; i < 1000; i++)
		ct_check(data_init[i] == (i < 3 ? i + 1 : 0) + i * 3, "data_init[%d] = %d", i, data_init[i]);
	for (int i = 0; i < 100000; i++)
		if (bss[i] != (i % 7 ? 0 : (unsigned long)i * 2654435761u)) {
			ct_check(0, "bss[%d] = %lu", i, bss[i]);
			break;
		}
	ct_check(global_ptr == rodata && !strcmp(global_ptr, "read-only text of the program"), "pointer to rodata");
	ct_check(rec.d == 6.5 && !strcmp(rec.name, "changed"), "struct: %g %s", rec.d, rec.name);
	return ct_done();
}
