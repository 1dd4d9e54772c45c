/* image.h - a checked, read-only view of a process image (preload/IMAGE.md) for `ckpt inspect`.
 *
 * timg_load() reads an image that lies in a file at some offset (a bare image
 * file, or the CLIENT_IMAGE section of a joint file) and checks everything
 * before anything is believed: header, footer, the XXH64 of the whole image,
 * the order and bounds of every section, every count against the bytes that
 * hold it, every field against its rule (regions sorted and disjoint, page
 * runs inside their region and never repeated, fds and signals unique,
 * strings without NUL ...), and the END totals against what was counted.
 * PAGES are not decompressed: their runs are checked and their pages
 * counted, and the LZ4 frame header is checked against the size it must
 * hold. Strings point into buffers the view owns until timg_free().
 */
#ifndef CKPT_TOOL_IMAGE_H
#define CKPT_TOOL_IMAGE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "wire.h"

#define TIMG_MAX_TAG 9u /* highest tag this reader knows (BACKTRACE) */

struct timg_fd {
	uint32_t fd;
	uint8_t kind, cloexec;
	uint32_t flags;
	int64_t offset;
	int32_t share_with;
	struct wire_str path;
	int64_t size, mtime_ns;
	uint32_t mode;
	uint64_t dev, ino;
	struct wire_str mount, rel;
};
struct timg_act {
	uint32_t signo;
	uint64_t handler, flags, restorer, mask;
};
struct timg_region {
	uint64_t start, end;
	uint8_t prot, kind, flags;
	uint64_t pgoff, dev, ino, fsize;
	int64_t fmtime;
	struct wire_str path;
	uint64_t saved;     /* pages counted in PAGES */
	uint64_t next_page; /* first page a later run may start at */
};
struct timg_special {
	struct wire_str name;
	uint64_t start, end, xxh64;
};
struct timg_frame {
	uint64_t pc, proc_off, obj_off;
	uint16_t obj; /* index into bt_objs, 0xffff none */
	struct wire_str name;
};
struct timg_rlimit {
	uint32_t resource;
	uint64_t cur, max;
};

struct timg {
	uint64_t len;      /* bytes of the image, footer included */
	uint64_t body_len; /* bytes before the footer */
	uint64_t xxh64;
	/* section table: count and bytes per tag (0: the tags this reader skips) */
	uint32_t nsec[TIMG_MAX_TAG + 1];
	uint64_t secbytes[TIMG_MAX_TAG + 1];
	uint8_t *buf[TIMG_MAX_TAG + 1]; /* payloads of the metadata sections */
	/* INFO */
	struct wire_str arch, release, kversion, libc, shim, host, exe, job;
	uint32_t page_size, pid, tid, sig;
	int64_t time_ns;
	/* CPU */
	uint32_t nctx, ngregs;
	uint64_t ctx[8], fs_base, gs_base, gregs[64];
	/* TASK */
	int32_t tid_offset;
	uint64_t tid_address, robust_head, robust_len, rseq_area;
	uint32_t rseq_len, rseq_sig, umask;
	uint64_t mm[11];
	struct wire_blob auxv;
	struct wire_str cwd, comm, task_exe;
	uint32_t nrlimits, nitimers;
	struct timg_rlimit rlimits[32];
	/* SIGNALS */
	uint32_t sig_signal, altstack_flags, nacts;
	uint64_t blocked, pending, altstack_sp, altstack_size;
	struct timg_act acts[64];
	/* FILES */
	uint32_t nfds;
	struct timg_fd *fds;
	/* BACKTRACE */
	bool has_bt;   /* the section is there */
	bool bt_empty; /* ... with an empty payload: no walk */
	uint8_t bt_end;
	uint32_t bt_nobjs, bt_nframes;
	struct wire_str bt_objs[64];
	struct timg_frame bt_frames[64];
	/* MEMMAP */
	uint64_t hole, hole_len;
	uint32_t nspecial, nregions;
	struct timg_special special[8];
	struct timg_region *regions;
	/* PAGES and END */
	uint64_t pages_counted, pages_bytes;
	uint64_t end_pages, end_mapped;
};

/* Load and check the image of len bytes at off in fd. 0, or -1 with
 * tool_err saying what is wrong ("the image is corrupt: ..."). */
int timg_load(struct timg *im, int fd, uint64_t off, uint64_t len);
void timg_free(struct timg *im);
/* Everything `ckpt inspect` says about it. */
void timg_print(const struct timg *im, FILE *out);
/* 1 if the first 8 bytes are an image's magic. */
int timg_magic(const uint8_t *b);

#endif
