/* img.h - the process image format (preload/IMAGE.md): numbers shared by the
 * shim, which writes images, and the restore loader, which reads them.
 *
 * Only constants and the checksum live here, so the loader can include it
 * without a C library. Every integer in an image is big-endian and goes
 * through the wire/ cursors (wire_put_* / wire_get_*); no struct is ever
 * written raw.
 */
#ifndef CKPT_IMG_H
#define CKPT_IMG_H

#include <stdint.h>

/* ---- file framing -------------------------------------------------------------------- */
#define IMG_MAGIC "CKPTIMG\0"         /* 8 bytes at offset 0 */
#define IMG_END_MAGIC "CKPTEND\0"     /* 8 bytes opening the footer */
#define IMG_VERSION 1u
#define IMG_HEADER_SIZE 16u           /* magic[8] version[4] flags[4] */
#define IMG_SECTION_HDR 12u           /* tag[4] length[8] */
#define IMG_FOOTER_SIZE 24u           /* magic[8] image_len[8] xxh64[8] */

/* Section tags, in the order a writer emits them. A reader skips tags it
 * does not know; a tag is never reused for another meaning. */
enum img_tag {
	IMG_INFO = 1,    /* who, where, when: arch, page size, kernel, libc */
	IMG_CPU = 2,     /* registers; layout named by the INFO arch */
	IMG_TASK = 3,    /* per-process kernel state: mm fields, rseq, rlimits, cwd ... */
	IMG_SIGNALS = 4, /* actions, masks, pending, alternate stack */
	IMG_FILES = 5,   /* the fd table */
	IMG_MEMMAP = 6,  /* special mappings, the hole, the region table */
	IMG_PAGES = 7,   /* one chunk of one region's contents (repeated) */
	IMG_END = 8,     /* last section: totals */
	IMG_BACKTRACE = 9 /* where the program was interrupted, for people; the restore skips it */
};

/* Region kinds (MEMMAP). */
enum img_kind {
	IMG_ANON_PRIVATE = 1, /* anonymous memory, heap, stack */
	IMG_ANON_SHARED = 2,  /* MAP_SHARED|MAP_ANONYMOUS (no other process shares it) */
	IMG_FILE_PRIVATE = 3, /* MAP_PRIVATE of a file: mapped again, changed pages saved */
	IMG_FILE_SHARED = 4   /* MAP_SHARED of a file: mapped again, nothing saved */
};
/* Region flags (MEMMAP). */
#define IMG_RF_GROWSDOWN 0x01u /* map with MAP_GROWSDOWN (the main stack) */
#define IMG_RF_HEAP 0x02u      /* the [heap] (brk) area */
#define IMG_RF_STACK 0x04u     /* the [stack] */
#define IMG_RF_NOSAVE 0x08u    /* contents deliberately not saved: zero after restore */
/* Protection bits (MEMMAP), independent of the host's PROT_* values. */
#define IMG_PROT_R 1u
#define IMG_PROT_W 2u
#define IMG_PROT_X 4u

/* fd kinds (FILES). */
enum img_fdkind {
	IMG_FD_FILE = 1,   /* regular file: reopened by path at its offset */
	IMG_FD_DIR = 2,    /* directory */
	IMG_FD_DEV = 3,    /* character or block device (tty, /dev/null ...) */
	IMG_FD_PATH = 4,   /* O_PATH descriptor */
	IMG_FD_REMOTE = 5, /* a remote fd of the shim: mount + path + cursor */
	IMG_FD_STD = 6     /* 0/1/2 that are pipes, sockets ...: replaced by the restart's */
};

/* Limits a reader enforces before trusting a count. */
#define IMG_MAX_STR 4096u        /* paths, names */
#define IMG_MAX_REGIONS 65536u
#define IMG_MAX_FDS 65536u
#define IMG_MAX_SPECIAL 8u
#define IMG_MAX_SIGNALS 64u
#define IMG_MAX_RLIMITS 32u
#define IMG_MAX_AUXV 1024u
#define IMG_CHUNK_PAGES 1024u    /* pages of content per PAGES section, at most */
#define IMG_MAX_RUNS IMG_CHUNK_PAGES
#define IMG_BT_MAX_FRAMES 64u    /* BACKTRACE: frames, and so objects */
#define IMG_BT_MAX_NAME 256u     /* BACKTRACE: bytes of a procedure name */

/* How the BACKTRACE walk ended (its first byte). */
#define IMG_BT_COMPLETE 0u /* the outermost frame was reached */
#define IMG_BT_LIMIT 1u    /* IMG_BT_MAX_FRAMES frames were recorded; there are more */
#define IMG_BT_ERROR 2u    /* the unwinder could not go further */
#define IMG_BT_CRASHED 3u  /* the unwinder crashed or hung on this stack */

/* The x86_64 resume context (CPU section): callee-saved registers, stack
 * pointer and instruction pointer of the checkpoint handler, saved by
 * ckpt_ctx_save(); the loader jumps there with 1 in %eax. */
#define IMG_X86_64_CTX_REGS 8 /* rbx rbp r12 r13 r14 r15 rsp rip */

/* Candidate addresses of the restore hole (x86_64, 47-bit user space): the
 * shim reserves the first free one at start-up, PROT_NONE, and the loader
 * runs inside it. */
#define IMG_HOLE_SIZE (64ull << 20)
/* The end of x86_64 user space (47 bits): no region, special mapping or hole
 * of an x86_64 image lies above it. */
#define IMG_X86_64_USER_TOP 0x800000000000ull
#define IMG_HOLE_CANDIDATES {0x3ffe00000000ull, 0x2ffe00000000ull, 0x1ffe00000000ull, 0x0ffe00000000ull}

#endif
