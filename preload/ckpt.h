/* ckpt.h - the checkpoint side of the shim: internals shared by ckpt.c (signal,
 * orchestration, output), ckpt_mem.c (memory regions), ckpt_state.c (kernel
 * state: signals, fds, task) and w_signal.c (the program's signal API).
 *
 * Everything called from the checkpoint handler is async-signal-safe: raw
 * system calls (rawsys.h), no malloc, no stdio, no locks. Buffers live in two
 * mappings made at the checkpoint: the scratch (never saved; zero after a
 * restore) and the meta (saved, read back by the resume path).
 */
#ifndef CKPT_CKPT_H
#define CKPT_CKPT_H

#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/time.h>

#include "img.h"
#include "wire.h"

/* ---- configuration and trigger (ckpt.c) --------------------------------------------- */
extern int ckpt_sig;                      /* CKPT_SIGNAL; 0 when checkpoints are off */
extern volatile sig_atomic_t ckpt_pending; /* signal landed while the shim was busy */
extern __thread int shim_busy;            /* shim_lock depth of this thread */
/* Parse CKPT_SIGNAL and CKPT_IMAGE_FILE, reserve the restore hole, install the
 * handler. Called once at the end of shim_init. */
void ckpt_init(void);
/* Deliver a pending checkpoint now (shim_unlock, once not busy). */
void ckpt_run_pending(void);
/* A checkpoint has somewhere to go (today: CKPT_IMAGE_FILE is set). */
bool ckpt_enabled(void);

/* ---- the program's view of the checkpoint signal (w_signal.c) ----------------------- */
/* Record the program's current action for sig and install handler in its
 * place, unblocked. 0 or -1 with errno. */
int ckpt_sig_take(int sig, void (*handler)(int, siginfo_t *, void *));

/* ---- async-signal-safe messages (ckpt.c) --------------------------------------------- */
struct ckpt_msg {
	char buf[512];
	size_t len;
};
void cm_str(struct ckpt_msg *m, const char *s);
void cm_strn(struct ckpt_msg *m, const char *s, size_t n);
void cm_dec(struct ckpt_msg *m, long long v);
void cm_hex(struct ckpt_msg *m, unsigned long long v);
void cm_err(struct ckpt_msg *m, long neg_errno); /* ": No such file ..." */
/* "ckptshim: " + text + "\n" to stderr, one write. */
void cm_flush(struct ckpt_msg *m);
/* Start a message: "ckptshim: " prefix plus s. */
void cm_begin(struct ckpt_msg *m, const char *s);
/* Refuse the checkpoint with one line "checkpoint refused: WHY; the program
 * continues" (WHY already in m after cm_begin(m, "")). */
void ckpt_refuse(struct ckpt_msg *m);

/* ---- the image to the servers (ckpt_send.c) ----------------------------------------- */
/* Connect to every server, pick the generation. 0, or -1 with m filled. */
int ckpt_srv_begin(struct ckpt_msg *m);
/* n more image bytes to every server (CKPT_PREPARE). 0, or -1 with m filled
 * (then call ckpt_srv_abort). */
int ckpt_srv_emit(struct ckpt_msg *m, const uint8_t *p, size_t n);
/* CKPT_DONE everywhere, then COMMIT, or ABORT on any failure. 0 with the
 * joint files' total size, or -1 with m filled. */
int ckpt_srv_finish(struct ckpt_msg *m, uint64_t total, uint64_t xxh, uint64_t *file_size);
void ckpt_srv_abort(void);
uint64_t ckpt_srv_gen(void);
unsigned int ckpt_srv_count(void);

/* ---- the output stream (ckpt.c) ------------------------------------------------------ */
/* Room for n more bytes in the output buffer (flushing it to the sink if
 * needed); NULL if n can never fit or the sink failed. */
uint8_t *ckpt_out_reserve(size_t n);
/* The n bytes at the reserved pointer are now part of the image. */
void ckpt_out_commit(size_t n);
/* A section: begin reserves up to max payload bytes and points w past the
 * header; end writes the header and commits. end returns -1 if the payload
 * overflowed (the checkpoint then fails). */
int ckpt_sec_begin(struct wire_wr *w, uint32_t tag, size_t max);
int ckpt_sec_end(struct wire_wr *w);

/* ---- scratch and meta ------------------------------------------------------------------ */
#define CKPT_PATH_MAX 4096
struct ckpt_region {
	uint64_t start, end;
	uint64_t pgoff;       /* file offset in bytes */
	uint64_t dev, ino;    /* from /proc/self/maps */
	uint64_t fsize;       /* file size at checkpoint (file mappings) */
	int64_t fmtime;       /* file mtime in ns (file mappings) */
	const char *path;     /* into the maps text; "" for anonymous */
	uint64_t saved;       /* pages saved */
	int hprot;            /* host PROT_* */
	uint8_t kind;         /* IMG_ANON_PRIVATE ... */
	uint8_t flags;        /* IMG_RF_* */
	uint8_t shared;       /* 's' in maps */
};
struct ckpt_special {
	char name[16];   /* "[vdso]", "[vvar]", "[vvar_vclock]" */
	uint64_t start, end;
	uint64_t xxh64;  /* of the contents, for [vdso] */
};

/* Local fds, recorded in the meta mapping for the resume path. */
struct ckpt_fd {
	int fd;
	uint8_t kind;        /* IMG_FD_* */
	uint8_t cloexec;
	int oflags;          /* F_GETFL */
	int64_t offset;      /* -1 if not seekable */
	int share_with;      /* an earlier fd with the same open file description, or -1 */
	int64_t size;        /* st_size at checkpoint */
	int64_t mtime_ns;
	uint32_t mode;
	uint64_t dev, ino;
	char path[CKPT_PATH_MAX];
};

#define CKPT_AUXV_MAX 1024
#define CKPT_MAX_FDS 4096u
#define CKPT_META_MAGIC 0x636b70746d657461ull /* "ckptmeta" */
#define CKPT_NSIG 64
/* The kernel's struct sigaction for rt_sigaction (x86_64). */
struct ckpt_ksigaction {
	uint64_t handler;
	uint64_t flags;
	uint64_t restorer;
	uint64_t mask;
};
struct ckpt_meta {
	uint64_t magic;
	uint64_t ctx[8];            /* rbx rbp r12 r13 r14 r15 rsp rip (ckpt_ctx_save) */
	uint64_t fs_base, gs_base;
	/* task */
	int32_t tid, pid;
	int32_t tid_offset;         /* of glibc's cached tid from fs_base, or -1 */
	uint64_t tid_address;       /* set_tid_address pointer, or 0 */
	uint64_t robust_head, robust_len;
	uint64_t rseq_area;
	uint32_t rseq_len, rseq_sig;
	uint64_t mm[11];            /* start_code end_code start_data end_data start_brk brk
				       start_stack arg_start arg_end env_start env_end */
	uint8_t auxv[CKPT_AUXV_MAX];
	uint32_t auxv_len;
	uint32_t umask;
	char cwd[CKPT_PATH_MAX];
	char comm[17];
	char exe[CKPT_PATH_MAX];
	struct rlimit rlim[RLIM_NLIMITS];
	bool rlim_ok[RLIM_NLIMITS];
	struct itimerval itimer[3];
	/* signals */
	struct ckpt_ksigaction act[CKPT_NSIG + 1];
	bool act_ok[CKPT_NSIG + 1];
	uint64_t blocked;           /* the program's mask where the signal interrupted it */
	uint64_t pending;           /* pending signals (thread and process), re-raised */
	stack_t altstack;
	/* memory */
	uint64_t hole, hole_len;
	uint32_t nspecial;
	struct ckpt_special special[4];
	/* fds */
	uint32_t nfds;
	struct ckpt_fd fds[];
};
extern struct ckpt_meta *ckpt_meta;
extern uint64_t ckpt_hole; /* the reserved restore hole, 0 if none */

/* Fixed-size areas of the scratch mapping. */
#define CKPT_STACK_SIZE (512u << 10)
#define CKPT_OUT_SIZE (12u << 20)
#define CKPT_STAGE_SIZE (4u << 20)
#define CKPT_ARENA_SIZE (12u << 20)
#define CKPT_MAPS_SIZE (4u << 20)
#define CKPT_MAX_REGIONS 32768u
#define CKPT_PAGEMAP_ENTRIES 16384u
struct ckpt_scratch {
	uint8_t *stack_top;
	uint8_t *out;          /* CKPT_OUT_SIZE */
	uint8_t *stage;        /* CKPT_STAGE_SIZE */
	uint8_t *arena;        /* CKPT_ARENA_SIZE, LZ4's allocations */
	size_t arena_used;
	char *maps;            /* CKPT_MAPS_SIZE */
	struct ckpt_region *regions; /* CKPT_MAX_REGIONS */
	uint32_t nregions;
	uint64_t *pagemap;     /* CKPT_PAGEMAP_ENTRIES */
	uint8_t *incore;       /* CKPT_PAGEMAP_ENTRIES (mincore) */
	int fds[CKPT_MAX_FDS]; /* fd numbers while scanning */
	uint64_t run_first[IMG_MAX_RUNS]; /* the chunk being built: page index, count */
	uint32_t run_count[IMG_MAX_RUNS];
	char path[CKPT_PATH_MAX];
	char path2[CKPT_PATH_MAX];
	uint64_t saved_pages, mem_bytes;
};
extern struct ckpt_scratch *ckpt_scr;
extern long ckpt_pagesize;

/* ---- memory (ckpt_mem.c) ------------------------------------------------------------- */
/* Read /proc/self/maps into the region table (skipping the special mappings,
 * which go to meta->special, the hole and the scratch/meta mappings). 0, or
 * -1 with the reason in m. */
int ckpt_mem_scan(struct ckpt_msg *m, uint64_t scratch_lo, uint64_t scratch_hi);
/* Emit the MEMMAP section, then the PAGES sections. 0 or -1 (m filled). */
int ckpt_mem_write(struct ckpt_msg *m);

/* ---- kernel state (ckpt_state.c) --------------------------------------------------- */
/* Unsupported resources: threads, children. 0 or -1 with m filled. */
int ckpt_check_task(struct ckpt_msg *m);
/* Record task, signal and fd state into ckpt_meta; refuse pipes, sockets
 * and the like (-1 with m filled). uc is the handler's ucontext. */
int ckpt_state_capture(struct ckpt_msg *m, void *uc, int skip_fd);
/* Emit the INFO, CPU, TASK, SIGNALS and FILES sections. */
int ckpt_state_write(struct ckpt_msg *m, void *uc);
/* Emit the BACKTRACE section: where the program was when the signal came
 * (libunwind, from the handler's ucontext uc). 0, or -1 with m filled
 * (preload/ckpt_bt.c). */
int ckpt_bt_write(struct ckpt_msg *m, void *uc);
/* Look up glibc's rseq and thread-descriptor symbols (start-up). */
void ckpt_state_init(void);
/* After a restore, in the restored process: kernel state back from ckpt_meta. */
void ckpt_state_restore(void);

/* Host <-> image protection bits. */
uint8_t ckpt_prot_to_img(int hprot);

#endif
