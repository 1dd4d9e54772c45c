/* ckpt.c - the checkpoint signal: its handler, the image stream, and the way back in after a restore.
 *
 * CKPT_SIGNAL (default SIGUSR1; a name such as USR2 or RTMIN+3, a number, or
 * "off") asks for a checkpoint. The handler runs it at once unless the shim
 * is inside its own code (shim_busy > 0): then it only marks it pending and
 * shim_unlock delivers the signal again once the shim has left.
 *
 * The checkpoint happens inside the handler. ckpt_ctx_save() records the
 * handler's own callee-saved registers, stack pointer and return address
 * (a setjmp); the image is written from a private stack in the scratch
 * mapping; the program then continues. A restore loads the memory back and
 * jumps to that saved context with 1 as the return value: the handler, now
 * in the restored process with all of its libraries, puts the kernel state
 * back (ckpt_state_restore), resets the shim's sessions, and returns; the
 * kernel's signal frame, which is part of the restored stack, then resumes
 * the program exactly where the signal interrupted it.
 *
 * CKPT_HOLE=ADDRESS (hex) places the restore hole there instead of at the
 * first free default address.
 *
 * The image goes to every server of CKPT_MOUNTS as one generation of the job
 * (ckpt_send.c: CKPT_PREPARE as it is produced, CKPT_DONE, CKPT_COMMIT), or,
 * with CKPT_IMAGE_FILE=PATH, to a local file instead (PATH.tmp, fsync,
 * rename, fsync of the directory); PATH must not be under a remote mount.
 * Image layout: preload/IMAGE.md.
 *
 * After every attempt, successful or not, one line of key=value pairs goes
 * to RUNDIR/JOB.status (written to a temporary name, then renamed), where
 * RUNDIR is CKPT_RUN_DIR or ${XDG_RUNTIME_DIR:-/tmp}/ckpt-UID: `ckpt
 * checkpoint` waits for it. A program started without CKPT_JOB gets the job
 * name PROGRAM-PID (exported, so the programs it runs share it).
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "shim.h"
#include "ckpt.h"
#include "img.h"
#include "rawsys.h"

#define LOG_PREFIX "ckptshim: "

int ckpt_sig;
volatile sig_atomic_t ckpt_pending;
struct ckpt_meta *ckpt_meta;
struct ckpt_scratch *ckpt_scr;
long ckpt_pagesize = 4096;
uint64_t ckpt_hole;

static char image_path[CKPT_PATH_MAX];
static char status_path[CKPT_PATH_MAX]; /* RUNDIR/JOB.status, "" if no job */
static size_t status_dirlen;            /* RUNDIR's length in it */
static char job_name[WIRE_MAX_JOB + 1];
static volatile sig_atomic_t active;
static size_t meta_size, scratch_size;

/* ---- messages ---------------------------------------------------------------------------- */

void cm_strn(struct ckpt_msg *m, const char *s, size_t n)
{
	size_t room = sizeof(m->buf) - 1 - m->len;

	if (n > room)
		n = room;
	memcpy(m->buf + m->len, s, n);
	m->len += n;
}

void cm_str(struct ckpt_msg *m, const char *s)
{
	cm_strn(m, s, strlen(s));
}

void cm_dec(struct ckpt_msg *m, long long v)
{
	char t[24];
	int i = sizeof(t);
	unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;

	do {
		t[--i] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		t[--i] = '-';
	cm_strn(m, t + i, sizeof(t) - (size_t)i);
}

void cm_hex(struct ckpt_msg *m, unsigned long long v)
{
	char t[20];
	int i = sizeof(t);

	do {
		t[--i] = "0123456789abcdef"[v & 15];
		v >>= 4;
	} while (v);
	t[--i] = 'x';
	t[--i] = '0';
	cm_strn(m, t + i, sizeof(t) - (size_t)i);
}

void cm_err(struct ckpt_msg *m, long neg_errno)
{
	const char *d = strerrordesc_np((int)-neg_errno); /* async-signal-safe in glibc */

	cm_str(m, ": ");
	cm_str(m, d ? d : "unknown error");
}

void cm_begin(struct ckpt_msg *m, const char *s)
{
	m->len = 0;
	cm_str(m, LOG_PREFIX);
	cm_str(m, s);
}

void cm_flush(struct ckpt_msg *m)
{
	m->buf[m->len++] = '\n';
	rs_write(2, m->buf, m->len);
	m->len = 0;
}

/* m holds "ckptshim: " + the reason. */
void ckpt_refuse(struct ckpt_msg *m)
{
	struct ckpt_msg t;

	cm_begin(&t, "checkpoint refused: ");
	cm_strn(&t, m->buf + sizeof(LOG_PREFIX) - 1, m->len - (sizeof(LOG_PREFIX) - 1));
	cm_str(&t, "; the program continues");
	cm_flush(&t);
}

/* ---- the saved context (x86_64) -------------------------------------------------------- */

/* int ckpt_ctx_save(uint64_t ctx[8]): stores rbx rbp r12 r13 r14 r15, the
 * caller's stack pointer and return address; returns 0. The loader resumes
 * it by restoring them and jumping to ctx[7] with eax = 1. */
int ckpt_ctx_save(uint64_t *ctx) __attribute__((returns_twice));
/* void ckpt_call_on_stack(void *top, void (*fn)(void *), void *arg) */
void ckpt_call_on_stack(void *top, void (*fn)(void *), void *arg);
__asm__(".text\n"
	".globl ckpt_ctx_save\n"
	".hidden ckpt_ctx_save\n"
	".type ckpt_ctx_save,@function\n"
	"ckpt_ctx_save:\n"
	"	movq %rbx, 0(%rdi)\n"
	"	movq %rbp, 8(%rdi)\n"
	"	movq %r12, 16(%rdi)\n"
	"	movq %r13, 24(%rdi)\n"
	"	movq %r14, 32(%rdi)\n"
	"	movq %r15, 40(%rdi)\n"
	"	leaq 8(%rsp), %rax\n"
	"	movq %rax, 48(%rdi)\n"
	"	movq (%rsp), %rax\n"
	"	movq %rax, 56(%rdi)\n"
	"	xorl %eax, %eax\n"
	"	ret\n"
	".size ckpt_ctx_save, .-ckpt_ctx_save\n"
	".globl ckpt_call_on_stack\n"
	".hidden ckpt_call_on_stack\n"
	".type ckpt_call_on_stack,@function\n"
	"ckpt_call_on_stack:\n"
	"	pushq %rbp\n"
	"	movq %rsp, %rbp\n"
	"	andq $-16, %rdi\n"
	"	movq %rdi, %rsp\n"
	"	movq %rdx, %rdi\n"
	"	callq *%rsi\n"
	"	movq %rbp, %rsp\n"
	"	popq %rbp\n"
	"	ret\n"
	".size ckpt_call_on_stack, .-ckpt_call_on_stack\n");

/* ---- the output stream ------------------------------------------------------------------- */

static struct {
	bool servers;      /* the sink is ckpt_send.c, not the file */
	struct ckpt_msg why; /* what the server sink said when it failed */
	int fd;            /* the image file */
	long err;          /* first sink error, -errno */
	size_t len;        /* bytes buffered in scratch->out */
	uint64_t total;    /* bytes emitted to the sink */
	uint64_t file_size; /* the servers' joint files, in all */
	XXH64_state_t xxh; /* over every emitted byte */
	uint8_t *sec;      /* the open section's header */
} out;

/* The sink: the servers, or a local file. */
static int sink_emit(const uint8_t *p, size_t n)
{
	XXH64_update(&out.xxh, p, n);
	out.total += n;
	if (out.servers) {
		if (ckpt_srv_emit(&out.why, p, n) < 0) {
			out.err = -EIO;
			return -1;
		}
		return 0;
	}
	while (n) {
		long k = rs_write(out.fd, p, n);

		if (k == -EINTR)
			continue;
		if (k <= 0) {
			out.err = k < 0 ? k : -EIO;
			return -1;
		}
		p += k;
		n -= (size_t)k;
	}
	/* Start the write-back now: the fsync at the end then finds little
	 * left, instead of the whole image. */
	rs_call4(SYS_sync_file_range, out.fd, 0, 0, 2 /* SYNC_FILE_RANGE_WRITE */);
	return 0;
}

static int out_flush(void)
{
	if (out.err)
		return -1;
	if (out.len && sink_emit(ckpt_scr->out, out.len) < 0)
		return -1;
	out.len = 0;
	return 0;
}

uint8_t *ckpt_out_reserve(size_t n)
{
	if (out.err || n > CKPT_OUT_SIZE)
		return NULL;
	if (out.len + n > CKPT_OUT_SIZE && out_flush() < 0)
		return NULL;
	return ckpt_scr->out + out.len;
}

void ckpt_out_commit(size_t n)
{
	out.len += n;
}

int ckpt_sec_begin(struct wire_wr *w, uint32_t tag, size_t max)
{
	uint8_t *p = ckpt_out_reserve(IMG_SECTION_HDR + max);

	if (!p)
		return -1;
	out.sec = p;
	p[0] = (uint8_t)(tag >> 24); /* the rest of the header comes at the end */
	p[1] = (uint8_t)(tag >> 16);
	p[2] = (uint8_t)(tag >> 8);
	p[3] = (uint8_t)tag;
	wire_wr_init(w, p + IMG_SECTION_HDR, max);
	return 0;
}

int ckpt_sec_end(struct wire_wr *w)
{
	struct wire_wr h;
	uint32_t tag;
	size_t len = wire_wr_len(w);

	if (w->err)
		return -1;
	tag = (uint32_t)out.sec[0] << 24 | (uint32_t)out.sec[1] << 16 | (uint32_t)out.sec[2] << 8 | out.sec[3];
	wire_wr_init(&h, out.sec, IMG_SECTION_HDR);
	wire_put_u32(&h, tag);
	wire_put_u64(&h, len);
	ckpt_out_commit(IMG_SECTION_HDR + len);
	return 0;
}

/* ---- scratch and meta mappings ------------------------------------------------------- */

static size_t round_page(size_t n)
{
	return (n + (size_t)ckpt_pagesize - 1) & ~((size_t)ckpt_pagesize - 1);
}

static void *map_anon(size_t n)
{
	long p = rs_mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	return p < 0 && p > -4096 ? NULL : (void *)p;
}

/* The scratch: a header page then the fixed areas of struct ckpt_scratch. */
static int map_scratch(void)
{
	size_t off = round_page(sizeof(struct ckpt_scratch));
	uint8_t *base;
	struct ckpt_scratch *s;

	scratch_size = off + CKPT_STACK_SIZE + CKPT_OUT_SIZE + CKPT_STAGE_SIZE + CKPT_ARENA_SIZE +
		       CKPT_MAPS_SIZE + round_page(CKPT_MAX_REGIONS * sizeof(struct ckpt_region)) +
		       round_page(CKPT_PAGEMAP_ENTRIES * 9);
	base = map_anon(scratch_size);
	if (!base)
		return -1;
	s = (struct ckpt_scratch *)base;
	s->stack_top = base + off + CKPT_STACK_SIZE;
	s->out = s->stack_top;
	s->stage = s->out + CKPT_OUT_SIZE;
	s->arena = s->stage + CKPT_STAGE_SIZE;
	s->maps = (char *)(s->arena + CKPT_ARENA_SIZE);
	s->regions = (struct ckpt_region *)(s->maps + CKPT_MAPS_SIZE);
	s->pagemap = (uint64_t *)((uint8_t *)s->regions + round_page(CKPT_MAX_REGIONS * sizeof(struct ckpt_region)));
	s->incore = (uint8_t *)(s->pagemap + CKPT_PAGEMAP_ENTRIES);
	ckpt_scr = s;
	return 0;
}

static int map_meta(void)
{
	meta_size = round_page(sizeof(struct ckpt_meta) + CKPT_MAX_FDS * sizeof(struct ckpt_fd));
	ckpt_meta = map_anon(meta_size);
	if (!ckpt_meta)
		return -1;
	ckpt_meta->magic = CKPT_META_MAGIC;
	return 0;
}

static void unmap_areas(void)
{
	if (ckpt_scr)
		rs_munmap(ckpt_scr, scratch_size);
	if (ckpt_meta)
		rs_munmap(ckpt_meta, meta_size);
	ckpt_scr = NULL;
	ckpt_meta = NULL;
}

/* ---- writing an image ---------------------------------------------------------------------- */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* "12.3" */
static void cm_fixed1(struct ckpt_msg *m, double v)
{
	long long t = (long long)(v * 10 + 0.5);

	cm_dec(m, t / 10);
	cm_str(m, ".");
	cm_dec(m, t % 10);
}

static void cm_fixed2(struct ckpt_msg *m, double v)
{
	long long t = (long long)(v * 100 + 0.5);

	cm_dec(m, t / 100);
	cm_str(m, t % 100 < 10 ? ".0" : ".");
	cm_dec(m, t % 100);
}

/* Open PATH.tmp for the image. */
static int open_output(struct ckpt_msg *m)
{
	size_t n = strlen(image_path);
	long fd;

	memcpy(ckpt_scr->path, image_path, n);
	memcpy(ckpt_scr->path + n, ".tmp", 5);
	fd = rs_openat(AT_FDCWD, ckpt_scr->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		cm_str(m, "cannot create ");
		cm_str(m, ckpt_scr->path);
		cm_err(m, fd);
		return -1;
	}
	rs_call2(SYS_fchmod, fd, 0600); /* whatever the umask, or an older PATH.tmp, said: it holds memory */
	out.fd = (int)fd;
	return 0;
}

/* Footer, fsync, rename PATH.tmp to PATH, fsync the directory. */
static int finish_output(struct ckpt_msg *m)
{
	uint8_t foot[IMG_FOOTER_SIZE];
	struct wire_wr w;
	long rc;
	char *slash;

	if (out_flush() < 0)
		goto werr;
	wire_wr_init(&w, foot, sizeof(foot));
	wire_put_bytes(&w, IMG_END_MAGIC, 8);
	wire_put_u64(&w, out.total);
	wire_put_u64(&w, XXH64_digest(&out.xxh));
	if (sink_emit(foot, sizeof(foot)) < 0)
		goto werr;
	rc = rs_call1(SYS_fsync, out.fd);
	if (rc < 0) {
		out.err = rc;
		goto werr;
	}
	rs_close(out.fd);
	out.fd = -1;
	rc = rs_call2(SYS_rename, ckpt_scr->path, image_path);
	if (rc < 0) {
		cm_str(m, "cannot rename the image to ");
		cm_str(m, image_path);
		cm_err(m, rc);
		return -1;
	}
	memcpy(ckpt_scr->path2, image_path, strlen(image_path) + 1);
	slash = strrchr(ckpt_scr->path2, '/');
	if (slash) {
		long dfd;

		*(slash == ckpt_scr->path2 ? slash + 1 : slash) = 0;
		dfd = rs_openat(AT_FDCWD, ckpt_scr->path2, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
		if (dfd >= 0) {
			rs_call1(SYS_fsync, dfd);
			rs_close((int)dfd);
		}
	}
	return 0;
werr:
	cm_str(m, "cannot write the image ");
	cm_str(m, ckpt_scr->path);
	cm_err(m, out.err);
	return -1;
}

/* After a failure of the server sink, its own words replace m's. */
static void why_servers(struct ckpt_msg *m)
{
	if (out.servers && out.why.len) {
		cm_begin(m, "");
		cm_strn(m, out.why.buf, out.why.len);
	}
}

/* The footer, then phase two at every server. */
static int finish_servers(struct ckpt_msg *m)
{
	uint8_t foot[IMG_FOOTER_SIZE];
	struct wire_wr w;

	if (out_flush() < 0)
		goto fail;
	wire_wr_init(&w, foot, sizeof(foot));
	wire_put_bytes(&w, IMG_END_MAGIC, 8);
	wire_put_u64(&w, out.total);
	wire_put_u64(&w, XXH64_digest(&out.xxh));
	if (sink_emit(foot, sizeof(foot)) < 0)
		goto fail;
	if (ckpt_srv_finish(&out.why, out.total, XXH64_digest(&out.xxh), &out.file_size) < 0) {
		why_servers(m);
		return -1;
	}
	return 0;
fail:
	why_servers(m);
	ckpt_srv_abort();
	return -1;
}

static int write_image(struct ckpt_msg *m, void *uc)
{
	uint8_t *p;
	struct wire_wr w;

	out.fd = -1;
	out.err = 0;
	out.len = 0;
	out.total = 0;
	out.file_size = 0;
	out.why.len = 0;
	out.servers = !image_path[0];
	XXH64_reset(&out.xxh, 0);
	if (out.servers ? ckpt_srv_begin(m) < 0 : open_output(m) < 0)
		return -1;
	p = ckpt_out_reserve(IMG_HEADER_SIZE);
	wire_wr_init(&w, p, IMG_HEADER_SIZE);
	wire_put_bytes(&w, IMG_MAGIC, 8);
	wire_put_u32(&w, IMG_VERSION);
	wire_put_u32(&w, 0);
	ckpt_out_commit(IMG_HEADER_SIZE);
	if (ckpt_state_write(m, uc) < 0 || ckpt_bt_write(m, uc) < 0 || ckpt_mem_write(m) < 0) {
		if (out.err && !out.servers)
			cm_err(m, out.err);
		goto fail;
	}
	if (ckpt_sec_begin(&w, IMG_END, 16) < 0)
		goto fail_io;
	wire_put_u64(&w, ckpt_scr->saved_pages);
	wire_put_u64(&w, ckpt_scr->mem_bytes);
	if (ckpt_sec_end(&w) < 0)
		goto fail_io;
	if (out.servers) {
		if (finish_servers(m) < 0)
			return -1;
		return 0;
	}
	if (finish_output(m) < 0)
		goto fail;
	return 0;
fail_io:
	cm_str(m, "cannot write the image ");
	cm_str(m, out.servers ? "to the servers" : ckpt_scr->path);
	cm_err(m, out.err ? out.err : -ENOSPC);
fail:
	if (out.servers) {
		why_servers(m);
		ckpt_srv_abort();
		return -1;
	}
	if (out.fd >= 0)
		rs_close(out.fd);
	rs_call1(SYS_unlink, ckpt_scr->path);
	return -1;
}

/* Writing the image may raise SIGXFSZ (an RLIMIT_FSIZE below its size) or
 * SIGPIPE; they are blocked while the handler runs and are about the image,
 * not the program: take back those that were not pending before. */
static void discard_own_signals(uint64_t before)
{
	uint64_t now = 0, mine = (1ull << (SIGXFSZ - 1)) | (1ull << (SIGPIPE - 1));
	struct timespec zero = {0, 0};

	rs_call2(SYS_rt_sigpending, &now, 8);
	now &= mine & ~before;
	for (int s = 1; s <= 64; s++)
		if (now & (1ull << (s - 1))) {
			uint64_t set = 1ull << (s - 1);

			rs_call4(SYS_rt_sigtimedwait, &set, NULL, &zero, 8);
		}
}

/* ---- the status file ------------------------------------------------------------------------ */

static void cm_seconds(struct ckpt_msg *m, double v)
{
	long long t = (long long)(v * 1000 + 0.5);

	cm_dec(m, t / 1000);
	cm_str(m, ".");
	cm_str(m, t % 1000 < 10 ? "00" : t % 1000 < 100 ? "0" : "");
	cm_dec(m, t % 1000);
}

/* Start a status line in l: "result=R pid=P job=J gen=G seconds=S". */
static void status_begin(struct ckpt_msg *l, const char *result, double t0)
{
	l->len = 0;
	cm_str(l, "result=");
	cm_str(l, result);
	cm_str(l, " pid=");
	cm_dec(l, rs_getpid());
	cm_str(l, " job=");
	cm_str(l, job_name);
	cm_str(l, " gen=");
	cm_dec(l, out.servers ? (long long)ckpt_srv_gen() : 0);
	cm_str(l, " seconds=");
	cm_seconds(l, now_s() - t0);
}

/* RUNDIR/JOB.status := l, atomically. Best effort: a checkpoint does not
 * fail because nobody can be told about it. */
static void status_write(struct ckpt_msg *l)
{
	size_t n = strlen(status_path);
	long fd;

	if (!n || n + 5 > sizeof(ckpt_scr->path))
		return;
	l->buf[l->len++] = '\n';
	memcpy(ckpt_scr->path2, status_path, status_dirlen);
	ckpt_scr->path2[status_dirlen] = 0;
	rs_call2(SYS_mkdir, ckpt_scr->path2, 0700);
	memcpy(ckpt_scr->path, status_path, n);
	memcpy(ckpt_scr->path + n, ".tmp", 5);
	fd = rs_openat(AT_FDCWD, ckpt_scr->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return;
	rs_call2(SYS_fchmod, fd, 0600);
	if (rs_write((int)fd, l->buf, l->len) == (long)l->len) {
		rs_close((int)fd);
		rs_call2(SYS_rename, ckpt_scr->path, status_path);
	} else {
		rs_close((int)fd);
		rs_call1(SYS_unlink, ckpt_scr->path);
	}
}

static void status_ok(double t0)
{
	struct ckpt_msg l;

	status_begin(&l, "ok", t0);
	cm_str(&l, " image=");
	cm_dec(&l, (long long)out.total);
	cm_str(&l, " memory=");
	cm_dec(&l, (long long)ckpt_scr->mem_bytes);
	cm_str(&l, " saved=");
	cm_dec(&l, (long long)(ckpt_scr->saved_pages * (uint64_t)ckpt_pagesize));
	cm_str(&l, " servers=");
	cm_dec(&l, out.servers ? ckpt_srv_count() : 0);
	if (out.servers) {
		cm_str(&l, " files=");
		cm_dec(&l, (long long)out.file_size);
	}
	status_write(&l);
}

/* m holds "ckptshim: " + the reason. */
static void status_failed(const struct ckpt_msg *m, double t0)
{
	struct ckpt_msg l;
	size_t skip = sizeof(LOG_PREFIX) - 1;

	status_begin(&l, "failed", t0);
	cm_str(&l, " error=");
	for (size_t i = skip; i < m->len; i++) /* one line */
		cm_strn(&l, m->buf[i] == '\n' ? " " : m->buf + i, 1);
	status_write(&l);
}

/* Runs on the scratch stack; uc is the handler's ucontext. */
static void capture(void *uc)
{
	struct ckpt_msg m;
	double t0 = now_s();
	uint64_t lo = (uint64_t)ckpt_scr, hi = lo + scratch_size, pend0 = 0;
	int rc;

	cm_begin(&m, "");
	if (!image_path[0] && !shim_conns) {
		cm_str(&m, "no destination: CKPT_MOUNTS names no server and CKPT_IMAGE_FILE is not set"
			   " (run the program under ckpt-run, which provides a server)");
		goto refuse;
	}
	if (!ckpt_hole) {
		cm_str(&m, "no restore hole could be reserved at start-up");
		goto refuse;
	}
	if (ckpt_check_task(&m) < 0)
		goto refuse;
	if (shim_nmounts && shim_flush_all() < 0) {
		cm_str(&m, "the write-behind data could not be flushed to the servers");
		cm_err(&m, -errno);
		goto refuse;
	}
	ckpt_scr->saved_pages = 0;
	ckpt_scr->mem_bytes = 0;
	if (ckpt_state_capture(&m, uc, -1) < 0 || ckpt_mem_scan(&m, lo, hi) < 0)
		goto refuse;
	rs_call2(SYS_rt_sigpending, &pend0, 8);
	rc = write_image(&m, uc);
	discard_own_signals(pend0);
	if (rc < 0) {
		struct ckpt_msg t;

		status_failed(&m, t0);
		cm_begin(&t, "checkpoint failed: ");
		cm_strn(&t, m.buf + sizeof(LOG_PREFIX) - 1, m.len - (sizeof(LOG_PREFIX) - 1));
		cm_str(&t, "; the program continues");
		cm_flush(&t);
		return;
	}
	status_ok(t0);
	if (out.servers) {
		cm_begin(&m, "checkpoint: job ");
		cm_str(&m, job_name);
		cm_str(&m, " generation ");
		cm_dec(&m, (long long)ckpt_srv_gen());
		cm_str(&m, " on ");
		cm_dec(&m, ckpt_srv_count());
		cm_str(&m, ckpt_srv_count() == 1 ? " server: " : " servers: ");
	} else {
		cm_begin(&m, "checkpoint written to ");
		cm_str(&m, image_path);
		cm_str(&m, ": ");
	}
	cm_fixed1(&m, (double)out.total / 1048576.0);
	cm_str(&m, " MiB image, ");
	cm_fixed1(&m, (double)ckpt_scr->saved_pages * (double)ckpt_pagesize / 1048576.0);
	cm_str(&m, " MiB of ");
	cm_fixed1(&m, (double)ckpt_scr->mem_bytes / 1048576.0);
	cm_str(&m, " MiB mapped saved, ");
	cm_fixed2(&m, now_s() - t0);
	cm_str(&m, " s");
	cm_flush(&m);
	return;
refuse:
	status_failed(&m, t0);
	ckpt_refuse(&m);
}

/* ---- after a restore ----------------------------------------------------------------------- */

/* The restored process: kernel state back, then the shim's own. Runs on a
 * fresh scratch stack; the loader left every signal blocked. */
static void resume(void *uc)
{
	size_t n;
	struct shim_ofd **v;

	(void)uc;
	ckpt_state_restore();
	shim_pid = getpid();
	/* The sessions' sockets did not survive: reconnect on first use and
	 * reopen every remote file by path (the servers rolled them back). */
	for (struct shim_conn *c = shim_conns; c; c = c->next) {
		c->fd = -1;
		c->nin = 0;
		c->head = 0;
		c->inflight_bytes = 0;
		c->broken = false;
		c->warned = false;
		c->epoch++;
	}
	shim_forget_read_fds(); /* not in the image, and their numbers may be taken */
	v = shim_all_ofds(&n);
	for (size_t i = 0; i < n; i++) {
		struct shim_ofd *o = v[i];

		o->rlen = 0;
		o->wlen = 0;
		o->epoch = 0;
		if (o->sh) { /* no child shares the cursor any more */
			o->pos_local = (off_t)o->sh->pos;
			rs_munmap(o->sh, sizeof(*o->sh));
			o->sh = NULL;
			o->shfd = -1;
		}
	}
	/* The loader ran in the hole: reserve it again for the next restore. */
	rs_mmap((void *)ckpt_hole, IMG_HOLE_SIZE, PROT_NONE,
		MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
	if (shim_debug_on) {
		struct ckpt_msg m;

		cm_begin(&m, "restored (pid ");
		cm_dec(&m, ckpt_meta->pid);
		cm_str(&m, " -> ");
		cm_dec(&m, rs_getpid());
		cm_str(&m, ")");
		cm_flush(&m);
	}
}

/* ---- the handler ----------------------------------------------------------------------------- */

static void handler(int sig, siginfo_t *si, void *uc)
{
	int saved_errno = errno;

	(void)sig;
	(void)si;
	if (active) /* a second request while one runs */
		return;
	if (shim_busy > 0 || !shim_ready) {
		ckpt_pending = 1;
		errno = saved_errno;
		return;
	}
	active = 1;
	ckpt_pending = 0;
	if (map_scratch() < 0 || map_meta() < 0) {
		struct ckpt_msg m;

		cm_begin(&m, "no memory for the checkpoint's buffers");
		ckpt_refuse(&m);
	} else if (ckpt_ctx_save(ckpt_meta->ctx) == 0) {
		ckpt_call_on_stack(ckpt_scr->stack_top, capture, uc);
	} else {
		/* Restored: the scratch was not part of the image. */
		ckpt_scr = NULL;
		if (map_scratch() == 0)
			ckpt_call_on_stack(ckpt_scr->stack_top, resume, uc);
	}
	unmap_areas();
	active = 0;
	errno = saved_errno;
}

bool ckpt_enabled(void)
{
	return ckpt_sig && image_path[0];
}

void ckpt_run_pending(void)
{
	if (!ckpt_pending || !ckpt_sig)
		return;
	ckpt_pending = 0;
	rs_call3(SYS_tgkill, rs_getpid(), rs_gettid(), ckpt_sig);
}

/* ---- start-up ---------------------------------------------------------------------------- */

static const struct {
	const char *name;
	int sig;
} signames[] = {
	{"HUP", SIGHUP},   {"INT", SIGINT},     {"QUIT", SIGQUIT},     {"TRAP", SIGTRAP},
	{"USR1", SIGUSR1}, {"USR2", SIGUSR2},   {"PIPE", SIGPIPE},     {"ALRM", SIGALRM},
	{"TERM", SIGTERM}, {"STKFLT", SIGSTKFLT}, {"CHLD", SIGCHLD},   {"CONT", SIGCONT},
	{"TSTP", SIGTSTP}, {"TTIN", SIGTTIN},   {"TTOU", SIGTTOU},     {"URG", SIGURG},
	{"XCPU", SIGXCPU}, {"XFSZ", SIGXFSZ},   {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF},
	{"WINCH", SIGWINCH}, {"IO", SIGIO},     {"PWR", SIGPWR},       {"SYS", SIGSYS},
	{"KILL", SIGKILL}, {"STOP", SIGSTOP},   {"SEGV", SIGSEGV},     {"BUS", SIGBUS},
	{"ILL", SIGILL},   {"FPE", SIGFPE},     {"ABRT", SIGABRT},
};

/* A signal number from "USR1", "SIGUSR1", "10", "RTMIN+2", "RTMAX-1"; 0
 * for off; -1 if unknown. */
static int parse_signal(const char *s)
{
	char *end;
	long v;

	if (!strcasecmp(s, "off") || !strcasecmp(s, "none") || !strcmp(s, "0"))
		return 0;
	if (!strncasecmp(s, "SIG", 3))
		s += 3;
	if (*s >= '0' && *s <= '9') {
		v = strtol(s, &end, 10);
		return *end || v < 1 || v > 64 ? -1 : (int)v;
	}
	if (!strncasecmp(s, "RTMIN", 5) || !strncasecmp(s, "RTMAX", 5)) {
		int base = s[4] == 'N' || s[4] == 'n' ? SIGRTMIN : SIGRTMAX;

		if (!s[5])
			return base;
		v = strtol(s + 5, &end, 10);
		if (*end || (s[5] != '+' && s[5] != '-'))
			return -1;
		v += base;
		return v < SIGRTMIN || v > SIGRTMAX ? -1 : (int)v;
	}
	for (size_t i = 0; i < sizeof(signames) / sizeof(signames[0]); i++)
		if (!strcasecmp(s, signames[i].name))
			return signames[i].sig;
	return -1;
}

static void bad_signal(const char *val, const char *why)
{
	shim_log("invalid CKPT_SIGNAL=\"%s\": %s; refusing to run the program without its checkpoint"
		 " signal (CKPT_SIGNAL=off disables checkpoints)",
		 val, why);
	real__exit(127);
}

/* Try to reserve the hole at addr; true if it is ours. */
static bool try_hole(uint64_t addr)
{
	long p = rs_mmap((void *)addr, IMG_HOLE_SIZE, PROT_NONE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);

	if (p == (long)addr) {
		ckpt_hole = addr;
		return true;
	}
	if (p >= 0 || p < -4095) /* an old kernel ignored the flag and put it elsewhere */
		rs_munmap((void *)p, IMG_HOLE_SIZE);
	return false;
}

/* Reserve the restore hole: at CKPT_HOLE if given (a hex address, a
 * multiple of its size), else at the first free candidate address. */
static void reserve_hole(void)
{
	static const uint64_t cand[] = IMG_HOLE_CANDIDATES;
	const char *s = getenv("CKPT_HOLE");

	if (s && *s) {
		char *end;
		uint64_t a = strtoull(s, &end, 16);

		if (*end || !a || a % IMG_HOLE_SIZE || a >= 0x7f0000000000ull)
			shim_log("invalid CKPT_HOLE=\"%s\": expected a hex address, a multiple of 64 MiB"
				 " below 0x7f0000000000; using the default",
				 s);
		else if (try_hole(a))
			return;
	}
	for (size_t i = 0; i < sizeof(cand) / sizeof(cand[0]); i++)
		if (try_hole(cand[i]))
			return;
	shim_debug("no restore hole could be reserved; checkpoints will be refused");
}

/* The job name (CKPT_JOB, else PROGRAM-PID, exported) and the status file. */
static void init_job(void)
{
	const char *s = getenv("CKPT_JOB"), *dir = getenv("CKPT_RUN_DIR"), *x = getenv("XDG_RUNTIME_DIR");
	int n;

	if (s && *s) {
		size_t k = strlen(s);

		if (k > WIRE_MAX_JOB)
			k = WIRE_MAX_JOB;
		memcpy(job_name, s, k);
		job_name[k] = 0;
	} else {
		const char *prog = program_invocation_short_name;
		size_t k = 0;

		for (; prog && prog[k] && k < 64; k++) {
			char ch = prog[k];
			bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
				  ch == '-' || ch == '_' || (ch == '.' && k);

			job_name[k] = ok ? ch : '_';
		}
		snprintf(job_name + k, sizeof(job_name) - k, "%s-%d", k ? "" : "job", (int)getpid());
		setenv("CKPT_JOB", job_name, 1);
	}
	if (wire_job_check(job_name, (uint32_t)strlen(job_name)))
		return; /* the servers will refuse it and say why */
	if (dir && *dir)
		n = snprintf(status_path, sizeof(status_path), "%s", dir);
	else
		n = snprintf(status_path, sizeof(status_path), "%s/ckpt-%u", x && *x == '/' ? x : "/tmp",
			     (unsigned)getuid());
	if (n < 0 || (size_t)n + WIRE_MAX_JOB + 16 >= sizeof(status_path)) {
		status_path[0] = 0;
		return;
	}
	status_dirlen = (size_t)n;
	snprintf(status_path + n, sizeof(status_path) - (size_t)n, "/%s.status", job_name);
}

void ckpt_init(void)
{
	const char *s = getenv("CKPT_SIGNAL");
	int sig = SIGUSR1;

	ckpt_pagesize = sysconf(_SC_PAGESIZE);
	if (s && *s) {
		sig = parse_signal(s);
		if (sig < 0)
			bad_signal(s, "expected a signal name (USR1, USR2, RTMIN+N ...), a number, or off");
		if (sig == SIGKILL || sig == SIGSTOP)
			bad_signal(s, "that signal cannot be caught");
		if (sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE || sig == SIGABRT ||
		    sig == SIGCHLD || (sig > SIGSYS && sig < SIGRTMIN))
			bad_signal(s, "the program or the C library needs that signal; use USR1, USR2 or RTMIN+N");
	}
	if (!sig)
		return;
	s = getenv("CKPT_IMAGE_FILE");
	if (s && *s) {
		size_t n = strlen(s), c = 0;

		if (s[0] != '/') {
			if (!real_getcwd(image_path, sizeof(image_path) - 1))
				image_path[0] = 0;
			c = strlen(image_path);
			if (c && image_path[c - 1] != '/')
				image_path[c++] = '/';
		}
		if (c + n + 8 >= sizeof(image_path))
			image_path[0] = 0;
		else
			memcpy(image_path + c, s, n + 1);
	}
	init_job();
	reserve_hole();
	ckpt_sig = sig;
	if (ckpt_sig_take(sig, handler) < 0) {
		shim_log("cannot install the checkpoint handler for CKPT_SIGNAL=%d: %s", sig, strerror(errno));
		ckpt_sig = 0;
	}
}
