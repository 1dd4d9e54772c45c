/* rt.h - the restore loader's runtime: what it needs of a C library, built on raw system calls.
 *
 * ckpt-restore links no C library: it must be able to unmap everything but
 * itself. This is the little it uses instead: memory and string functions
 * (also called by liblz4 and wire.c), buffered output with a small printf,
 * a bump allocator for liblz4, a raw thread and futexes, and exit.
 */
#ifndef CKPT_RT_H
#define CKPT_RT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "../rawsys.h"

void *memcpy(void *d, const void *s, size_t n);
void *memmove(void *d, const void *s, size_t n);
void *memset(void *d, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
char *strchr(const char *s, int c);

/* Buffered output to fd 1 or 2; rt_flush writes what is buffered. */
void rt_printf(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void rt_vprintf(int fd, const char *fmt, va_list ap);
void rt_flush(void);
/* strerror for a negative errno (a short table; "error N" otherwise). */
const char *rt_strerror(long neg_errno);

_Noreturn void rt_exit(int code);

/* A thread sharing everything (flags for clone(2)) running fn(arg) on the
 * stack below stack_top, then exiting; its tid, or -errno. */
long rt_clone(unsigned long flags, void *stack_top, uint32_t *ctid, void (*fn)(void *), void *arg);
/* FUTEX_WAIT while *addr == val; FUTEX_WAKE of every waiter. */
void rt_futex_wait(uint32_t *addr, uint32_t val);
void rt_futex_wake(uint32_t *addr);

/* The allocator liblz4 gets: a bump pointer over a fixed arena; free is a no-op. */
void rt_arena_init(void *base, size_t size);
void *rt_alloc(size_t n);

#endif
