/* rt.c - the restore loader's runtime: memory and string functions, printf, allocator, exit.
 *
 * The memory functions use the string instructions (rep movsb/stosb), which
 * are fast on current x86_64 and cannot be turned back into calls to
 * themselves by the compiler.
 */
#include <errno.h>
#include <stdbool.h>

#include "rt.h"

void *memcpy(void *d, const void *s, size_t n)
{
	void *r = d;

	__asm__ volatile("rep movsb" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
	return r;
}

void *memmove(void *d, const void *s, size_t n)
{
	uint8_t *dp = d;
	const uint8_t *sp = s;

	if (dp <= sp || dp >= sp + n)
		return memcpy(d, s, n);
	/* overlapping, destination above: copy backwards */
	dp += n - 1;
	sp += n - 1;
	__asm__ volatile("std\n\trep movsb\n\tcld" : "+D"(dp), "+S"(sp), "+c"(n) : : "memory");
	return d;
}

void *memset(void *d, int c, size_t n)
{
	void *r = d;

	__asm__ volatile("rep stosb" : "+D"(d), "+c"(n) : "a"(c) : "memory");
	return r;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const uint8_t *x = a, *y = b;

	for (size_t i = 0; i < n; i++)
		if (x[i] != y[i])
			return x[i] < y[i] ? -1 : 1;
	return 0;
}

size_t strlen(const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	return n;
}

int strcmp(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return (unsigned char)*a - (unsigned char)*b;
}

int strncmp(const char *a, const char *b, size_t n)
{
	for (; n; n--, a++, b++) {
		if (*a != *b)
			return (unsigned char)*a - (unsigned char)*b;
		if (!*a)
			return 0;
	}
	return 0;
}

char *strchr(const char *s, int c)
{
	for (;; s++) {
		if (*s == (char)c)
			return (char *)s;
		if (!*s)
			return NULL;
	}
}

/* ---- output -------------------------------------------------------------------------------- */

static char obuf[8192];
static size_t olen;
static int ofd = -1;

void rt_flush(void)
{
	size_t off = 0;

	while (off < olen) {
		long k = rs_write(ofd, obuf + off, olen - off);

		if (k == -EINTR)
			continue;
		if (k <= 0)
			break;
		off += (size_t)k;
	}
	olen = 0;
}

static void put(int fd, const char *s, size_t n)
{
	if (fd != ofd) {
		rt_flush();
		ofd = fd;
	}
	while (n) {
		size_t k = sizeof(obuf) - olen < n ? sizeof(obuf) - olen : n;

		memcpy(obuf + olen, s, k);
		olen += k;
		s += k;
		n -= k;
		if (olen == sizeof(obuf))
			rt_flush();
	}
}

static void pad(int fd, char c, int n)
{
	while (n-- > 0)
		put(fd, &c, 1);
}

/* Conversions: %[-#0][width][.*][l|ll|z](d|i|u|o|x|X|s|c|p|%). */
void rt_vprintf(int fd, const char *fmt, va_list ap)
{
	while (*fmt) {
		const char *p = fmt;
		bool left = false, zero = false, is_long = false, neg = false, alt = false;
		int width = 0, prec = -1;
		char num[24];
		const char *s;
		size_t n;
		unsigned long long v = 0;
		int base = 10, upper = 0;

		while (*p && *p != '%')
			p++;
		if (p > fmt)
			put(fd, fmt, (size_t)(p - fmt));
		if (!*p)
			break;
		p++;
		for (;; p++) {
			if (*p == '-')
				left = true;
			else if (*p == '#')
				alt = true;
			else if (*p == '0')
				zero = true;
			else
				break;
		}
		while (*p >= '0' && *p <= '9')
			width = width * 10 + (*p++ - '0');
		if (*p == '.' && p[1] == '*') {
			prec = va_arg(ap, int);
			p += 2;
		}
		while (*p == 'l' || *p == 'z') {
			is_long = true;
			p++;
		}
		switch (*p) {
		case 'd':
		case 'i': {
			long long x = is_long ? va_arg(ap, long long) : va_arg(ap, int);

			neg = x < 0;
			v = neg ? 0ull - (unsigned long long)x : (unsigned long long)x;
			goto number;
		}
		case 'u':
			v = is_long ? va_arg(ap, unsigned long long) : va_arg(ap, unsigned int);
			goto number;
		case 'X':
			upper = 1;
			/* fall through */
		case 'x':
			v = is_long ? va_arg(ap, unsigned long long) : va_arg(ap, unsigned int);
			base = 16;
			if (alt)
				put(fd, "0x", 2);
			goto number;
		case 'o':
			v = is_long ? va_arg(ap, unsigned long long) : va_arg(ap, unsigned int);
			base = 8;
			if (alt && v)
				put(fd, "0", 1);
			goto number;
		case 'p':
			v = (uintptr_t)va_arg(ap, void *);
			base = 16;
			put(fd, "0x", 2);
			goto number;
		case 'c': {
			char c = (char)va_arg(ap, int);

			pad(fd, ' ', left ? 0 : width - 1);
			put(fd, &c, 1);
			pad(fd, ' ', left ? width - 1 : 0);
			break;
		}
		case 's':
			s = va_arg(ap, const char *);
			if (!s)
				s = "(null)";
			n = prec >= 0 ? (size_t)prec : strlen(s);
			pad(fd, ' ', left ? 0 : width - (int)n);
			put(fd, s, n);
			pad(fd, ' ', left ? width - (int)n : 0);
			break;
		case '%':
			put(fd, "%", 1);
			break;
		default:
			put(fd, p - 1, 2);
			break;
		}
		fmt = *p ? p + 1 : p;
		continue;
number:
		n = sizeof(num);
		do {
			num[--n] = (upper ? "0123456789ABCDEF" : "0123456789abcdef")[v % (unsigned)base];
			v /= (unsigned)base;
		} while (v);
		if (neg)
			num[--n] = '-';
		{
			int len = (int)(sizeof(num) - n);

			if (!left)
				pad(fd, zero ? '0' : ' ', width - len);
			put(fd, num + n, (size_t)len);
			if (left)
				pad(fd, ' ', width - len);
		}
		fmt = p + 1;
	}
}

void rt_printf(int fd, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	rt_vprintf(fd, fmt, ap);
	va_end(ap);
	if (fd == 2)
		rt_flush();
}

const char *rt_strerror(long e)
{
	static const struct {
		int no;
		const char *s;
	} t[] = {
		{EPERM, "Operation not permitted"}, {ENOENT, "No such file or directory"},
		{EIO, "Input/output error"},         {EBADF, "Bad file descriptor"},
		{ENOMEM, "Cannot allocate memory"},  {EACCES, "Permission denied"},
		{EFAULT, "Bad address"},             {EBUSY, "Device or resource busy"},
		{EEXIST, "File exists"},             {ENOTDIR, "Not a directory"},
		{EISDIR, "Is a directory"},          {EINVAL, "Invalid argument"},
		{ENFILE, "Too many open files in system"}, {EMFILE, "Too many open files"},
		{ENOSPC, "No space left on device"}, {ESPIPE, "Illegal seek"},
		{ENAMETOOLONG, "File name too long"}, {ENOSYS, "Function not implemented"},
		{EOVERFLOW, "Value too large for defined data type"},
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (t[i].no == -e)
			return t[i].s;
	return "error";
}

_Noreturn void rt_exit(int code)
{
	rt_flush();
	for (;;)
		rs_call1(SYS_exit_group, code);
}

/* ---- threads ------------------------------------------------------------------------------- */

/* long rt_clone(unsigned long flags, void *stack_top, uint32_t *ctid, void (*fn)(void *), void *arg):
 * clone(2) with fn(arg) then exit(0) on the new stack; returns the child's
 * tid or -errno. */
long rt_clone(unsigned long flags, void *stack_top, uint32_t *ctid, void (*fn)(void *), void *arg);
__asm__(".text\n"
	".globl rt_clone\n"
	".hidden rt_clone\n"
	".type rt_clone,@function\n"
	"rt_clone:\n"
	"	andq $-16, %rsi\n"
	"	subq $16, %rsi\n"
	"	movq %r8, 0(%rsi)\n"   /* arg and fn wait on the new stack */
	"	movq %rcx, 8(%rsi)\n"
	"	movq %rdx, %r10\n"     /* child_tid */
	"	xorl %edx, %edx\n"     /* parent_tid */
	"	xorl %r8d, %r8d\n"     /* tls */
	"	movl $56, %eax\n"      /* SYS_clone */
	"	syscall\n"
	"	testq %rax, %rax\n"
	"	jnz 1f\n"
	"	xorl %ebp, %ebp\n"
	"	popq %rdi\n"
	"	popq %rax\n"
	"	callq *%rax\n"
	"	movl $60, %eax\n"      /* SYS_exit: this thread only */
	"	xorl %edi, %edi\n"
	"	syscall\n"
	"	hlt\n"
	"1:	ret\n"
	".size rt_clone, .-rt_clone\n");

/* Shared (not _PRIVATE) operations: the kernel's wake for
 * CLONE_CHILD_CLEARTID is one, and only finds waiters of its kind. */
void rt_futex_wait(uint32_t *addr, uint32_t val)
{
	rs_call4(SYS_futex, addr, 0 /* FUTEX_WAIT */, val, NULL);
}

void rt_futex_wake(uint32_t *addr)
{
	rs_call3(SYS_futex, addr, 1 /* FUTEX_WAKE */, 0x7fffffff);
}

/* ---- allocation for liblz4 ------------------------------------------------------------- */

static uint8_t *arena;
static size_t arena_size, arena_used;

void rt_arena_init(void *base, size_t size)
{
	arena = base;
	arena_size = size;
	arena_used = 0;
}

/* Both threads of the restore may allocate (their LZ4 contexts' buffers). */
void *rt_alloc(size_t n)
{
	size_t used = __atomic_load_n(&arena_used, __ATOMIC_RELAXED), at;

	do {
		at = (used + 63) & ~(size_t)63;
		if (n > arena_size || at > arena_size - n)
			return NULL;
	} while (!__atomic_compare_exchange_n(&arena_used, &used, at + n, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED));
	return arena + at;
}

/* liblz4 references these even when given its own allocator. */
void *malloc(size_t n);
void *calloc(size_t n, size_t k);
void free(void *p);
void *malloc(size_t n)
{
	return rt_alloc(n);
}

void *calloc(size_t n, size_t k)
{
	void *p = n && k > (size_t)-1 / n ? NULL : rt_alloc(n * k);

	return p ? memset(p, 0, n * k) : NULL;
}

void free(void *p)
{
	(void)p;
}

/* liblz4 is built with the stack protector; the canary lives at %fs:0x28 of
 * the loader's small thread block (loader.c). */
_Noreturn void __stack_chk_fail(void);
_Noreturn void __stack_chk_fail(void)
{
	rt_printf(2, "ckpt-restore: stack smashing detected\n");
	rt_exit(70);
}
