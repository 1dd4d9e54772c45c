/* rawsys.h - system calls without the C library: for the checkpoint handler
 * (async-signal-safe, errno untouched) and for the static restore loader.
 *
 * Each returns the kernel's value: >= 0 on success, -errno on failure.
 * x86_64 only for now; another architecture adds its own block.
 */
#ifndef CKPT_RAWSYS_H
#define CKPT_RAWSYS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/syscall.h>

#if !defined(__x86_64__)
#error "checkpoint/restore: only x86_64 is implemented"
#endif

static inline long rs_call6(long n, long a, long b, long c, long d, long e, long f)
{
	long ret;
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}

#define rs_call0(n) rs_call6((n), 0, 0, 0, 0, 0, 0)
#define rs_call1(n, a) rs_call6((n), (long)(a), 0, 0, 0, 0, 0)
#define rs_call2(n, a, b) rs_call6((n), (long)(a), (long)(b), 0, 0, 0, 0)
#define rs_call3(n, a, b, c) rs_call6((n), (long)(a), (long)(b), (long)(c), 0, 0, 0)
#define rs_call4(n, a, b, c, d) rs_call6((n), (long)(a), (long)(b), (long)(c), (long)(d), 0, 0)
#define rs_call5(n, a, b, c, d, e) rs_call6((n), (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), 0)

/* The few calls both sides use, named as the kernel names them. */
static inline long rs_read(int fd, void *buf, size_t n) { return rs_call3(SYS_read, fd, buf, n); }
static inline long rs_write(int fd, const void *buf, size_t n) { return rs_call3(SYS_write, fd, buf, n); }
static inline long rs_pread(int fd, void *buf, size_t n, int64_t off)
{
	return rs_call4(SYS_pread64, fd, buf, n, off);
}
static inline long rs_openat(int dirfd, const char *path, int flags, int mode)
{
	return rs_call4(SYS_openat, dirfd, path, flags, mode);
}
static inline long rs_close(int fd) { return rs_call1(SYS_close, fd); }
static inline long rs_lseek(int fd, int64_t off, int whence) { return rs_call3(SYS_lseek, fd, off, whence); }
static inline long rs_mmap(void *addr, size_t len, int prot, int flags, int fd, int64_t off)
{
	return rs_call6(SYS_mmap, (long)addr, (long)len, prot, flags, fd, off);
}
static inline long rs_munmap(void *addr, size_t len) { return rs_call2(SYS_munmap, addr, len); }
static inline long rs_mprotect(void *addr, size_t len, int prot) { return rs_call3(SYS_mprotect, addr, len, prot); }
static inline long rs_getpid(void) { return rs_call0(SYS_getpid); }
static inline long rs_gettid(void) { return rs_call0(SYS_gettid); }
static inline long rs_readlinkat(int dirfd, const char *path, char *buf, size_t n)
{
	return rs_call4(SYS_readlinkat, dirfd, path, buf, n);
}
static inline long rs_arch_prctl(int code, unsigned long addr) { return rs_call2(SYS_arch_prctl, code, addr); }
static inline long rs_prctl(int op, unsigned long a, unsigned long b, unsigned long c, unsigned long d)
{
	return rs_call5(SYS_prctl, op, a, b, c, d);
}

#endif
