/* loader.c - ckpt-restore: rebuilds a checkpointed process from its image and jumps back into it.
 *
 *   ckpt-restore [--no-verify] [--debug] [--no-mm] IMAGE   become the checkpointed program
 *   ckpt-restore [...] --offset N --length L FILE    the image is L bytes of FILE from byte N
 *                                                    (in a joint checkpoint file, for one)
 *   ckpt-restore --info IMAGE                    describe the image
 *   ckpt-restore --verify IMAGE                  check every checksum, restore nothing
 *
 * A static binary with no C library (rt.c), position independent, so it can
 * move itself. The sequence (DESIGN.md section 7):
 *  1. Wherever the kernel loaded it: apply its own relocations, read the
 *     image's metadata, map the image's restore hole (which no region of the
 *     program can occupy: the shim reserved it at launch), copy itself
 *     there, relocate the copy, and continue in it on a stack in the hole.
 *  2. In the hole: check everything that can be checked while refusing is
 *     still harmless (architecture, page size, vDSO layout and contents,
 *     mapped files unchanged). Exit 1 if refused. Map the image file where
 *     no region of the program will be. With a second CPU, start a helper
 *     thread that checks the whole image's XXH64 meanwhile; else check it
 *     now.
 *  3. Point of no return: unmap everything but the hole, the image and the
 *     kernel's special mappings, move [vvar]/[vvar_vclock]/[vdso] to where
 *     the image had them (same relative layout), map every region with
 *     MAP_FIXED_NOREPLACE (writable first), fill it from the LZ4 frames
 *     (this thread and the helper, once its check is done, take PAGES
 *     sections in turn), give it its protection, restore the mm fields (brk,
 *     arguments, auxv) with PR_SET_MM_MAP where permitted, set the FS base,
 *     and jump into the checkpoint handler's saved context. A failure from
 *     here on exits 70, unless the helper finds the image corrupt: that is
 *     refused (exit 1), before the program runs, like any corrupt image.
 * The image file must be a regular file that can be mapped. Format:
 * preload/IMAGE.md.
 */
#include <asm/prctl.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/prctl.h>
#include <signal.h>
#include <stdbool.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/stat.h>

#define LZ4F_STATIC_LINKING_ONLY
#include <lz4frame.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "rt.h"
#include "../img.h"
#include "wire.h"

#define ME "ckpt-restore"
#define EXIT_REFUSED 1
#define EXIT_USAGE 2
#define EXIT_LOST 70 /* failed after the point of no return */
#define META_BUF (16u << 20)
#define MAX_PAGES_SEC (5u << 20) /* the largest PAGES section possible (4 MiB of pages, LZ4's bound, runs) */
#define ARENA_SIZE (24u << 20)   /* two LZ4 decompression contexts with 4 MiB blocks */
#define VERIFY_BUF (4u << 20)
#define HELPER_STACK (256u << 10)
#define MAP_ALIGN (2ull << 20)    /* where the image is mapped */
#define POPULATE_MIN 16u          /* pages in a run worth one MADV_POPULATE_WRITE */
#define STACK_TOP_GAP 64u
#define TEMP_AREA (2u << 20) /* below the stack: where the vDSO waits while moving */
#define STACK_SIZE (1u << 20)

/* ---- state ---------------------------------------------------------------------------------- */

extern const Elf64_Ehdr __ehdr_start __attribute__((visibility("hidden")));
extern Elf64_Dyn _DYNAMIC[] __attribute__((visibility("hidden")));

/* The thread block %fs points at: liblz4 reads its stack canary at 0x28. */
static struct {
	uint64_t self;
	uint64_t pad[4];
	uint64_t canary;
	uint64_t more[10];
} tcb __attribute__((aligned(64)));

static struct {
	char path[4096];
	int fd;
	bool no_verify, debug, no_mm;
	long page_size;
	uint64_t offset, length; /* where the image lies in the file (--offset, --length; 0: to its end) */
} opt;

struct special {
	struct wire_str name;
	uint64_t start, end, xxh64;
};
struct reg {
	uint64_t start, end, pgoff, dev, ino, fsize;
	int64_t fmtime;
	struct wire_str path;
	uint8_t prot, kind, flags;
	uint64_t saved;     /* pages in PAGES sections (check_pages) */
	uint64_t next_page; /* the first page a later run may start at */
};
struct section {
	uint32_t tag;
	const uint8_t *p;
	uint64_t len;
};

static struct {
	uint64_t file_size, len, xxh64;
	const uint8_t *map; /* the image, mapped read-only (or read) */
	uint64_t map_base;  /* the mapping: from the page holding the image's first byte */
	size_t map_len;
	uint64_t pages_off; /* first PAGES or END section */
	struct section sec[64];
	unsigned nsec;
	/* INFO */
	struct wire_str arch, release, kversion, libc, shim, host, exe, job;
	uint32_t page_size, pid, tid, sig;
	int64_t time_ns;
	/* CPU */
	uint64_t ctx[IMG_X86_64_CTX_REGS], fs, gs, gregs[32];
	uint32_t ngregs;
	/* TASK */
	int32_t tid_offset;
	uint64_t tid_address, robust_head, robust_len, rseq_area;
	uint32_t rseq_len, rseq_sig, umask;
	uint64_t mm[11];
	struct wire_blob auxv;
	struct wire_str cwd, comm, task_exe;
	/* MEMMAP */
	uint64_t hole, hole_len;
	struct special special[IMG_MAX_SPECIAL];
	uint32_t nspecial, nregs;
	/* PAGES and END, counted by check_pages() */
	uint64_t pages, frame_bytes, chunks, end_off;
} im;

static struct reg regs[IMG_MAX_REGIONS];
static uint8_t metabuf[META_BUF];
static uint8_t arena_mem[ARENA_SIZE] __attribute__((aligned(4096)));
static char mapsbuf[1 << 16];
static __u64 auxv_copy[IMG_MAX_AUXV / 8];

/* The fill on two CPUs (stage 2): this thread, and a helper thread that
 * first checks the image's XXH64, then takes PAGES sections too. */
static struct {
	uint64_t next;      /* offset of the next section to take (atomic) */
	uint64_t end;       /* offset of the END section */
	uint32_t mapped;    /* 1 once the regions are mapped (futex) */
	uint32_t verified;  /* VERIFY_* (futex) */
	uint32_t tid;       /* the helper's, 0 once it has exited (CLONE_CHILD_CLEARTID) */
	uint32_t no_populate; /* the kernel refused MADV_POPULATE_WRITE */
	LZ4F_dctx *dctx[2];
} fill;
enum { VERIFY_NONE, VERIFY_PENDING, VERIFY_OK, VERIFY_BAD };
static uint8_t helper_stack[HELPER_STACK] __attribute__((aligned(64)));

/* ---- errors --------------------------------------------------------------------------------- */

static bool past_return; /* the original process is gone */
static uint32_t dying;   /* one thread reports, the other waits for the end */


/* The image failed its checksum: refused, as corrupt() would before the
 * point of no return. */
static _Noreturn void refuse_corrupt(void)
{
	rt_printf(2, "%s: %s: the image is corrupt or truncated (XXH64 checksum mismatch)\n", ME, opt.path);
	rt_exit(EXIT_REFUSED);
}

static _Noreturn void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static _Noreturn void die(const char *fmt, ...)
{
	va_list ap;

	if (__atomic_exchange_n(&dying, 1, __ATOMIC_ACQ_REL))
		for (;;)
			rs_call0(SYS_pause);
	/* A fault found while the helper still checks the image may be the
	 * image's: then it is refused as corrupt, which it is. Nothing outside
	 * this process changed, and the program never ran. */
	if (past_return && fill.verified != VERIFY_NONE) {
		uint32_t v;

		while ((v = __atomic_load_n(&fill.verified, __ATOMIC_ACQUIRE)) == VERIFY_PENDING)
			rt_futex_wait(&fill.verified, v);
		if (v == VERIFY_BAD)
			refuse_corrupt();
	}
	rt_printf(2, "%s: %s", ME, past_return ? "restore failed after the point of no return: " : "");
	va_start(ap, fmt);
	rt_vprintf(2, fmt, ap);
	va_end(ap);
	rt_printf(2, "\n");
	rt_exit(past_return ? EXIT_LOST : EXIT_REFUSED);
}

static _Noreturn void corrupt(const char *what)
{
	die("%s: the image is corrupt or truncated (%s)", opt.path, what);
}

/* A wire string as a NUL-terminated path in buf. */
static const char *cstr(struct wire_str s, char *buf, size_t cap)
{
	size_t n = s.len < cap - 1 ? s.len : cap - 1;

	memcpy(buf, s.p, n);
	buf[n] = 0;
	return buf;
}

/* ---- self relocation -------------------------------------------------------------------- */

/* Apply the R_X86_64_RELATIVE relocations of the image loaded at `from` to
 * the copy at `to` (the same address the first time). Nothing here may use a
 * relocated pointer. */
static void relocate(uint64_t from, uint64_t to)
{
	uint64_t rela = 0, relasz = 0, relaent = sizeof(Elf64_Rela);

	for (Elf64_Dyn *d = _DYNAMIC; d->d_tag != DT_NULL; d++) {
		if (d->d_tag == DT_RELA)
			rela = d->d_un.d_ptr;
		else if (d->d_tag == DT_RELASZ)
			relasz = d->d_un.d_val;
		else if (d->d_tag == DT_RELAENT)
			relaent = d->d_un.d_val;
	}
	for (uint64_t o = 0; rela && o + relaent <= relasz; o += relaent) {
		const Elf64_Rela *r = (const Elf64_Rela *)(from + rela + o);

		if (ELF64_R_TYPE(r->r_info) == R_X86_64_RELATIVE)
			*(uint64_t *)(to + r->r_offset) = to + (uint64_t)r->r_addend;
	}
}

static void set_tcb(void)
{
	tcb.self = (uint64_t)&tcb;
	tcb.canary = 0x2f8c3d1a6b5e4970ull ^ (uint64_t)&tcb;
	rs_arch_prctl(ARCH_SET_FS, (unsigned long)&tcb);
}

/* ---- reading the image --------------------------------------------------------------------- */

static void read_at(void *buf, size_t n, uint64_t off)
{
	uint8_t *p = buf;

	while (n) {
		long k = rs_pread(opt.fd, p, n, (int64_t)(opt.offset + off));

		if (k == -EINTR)
			continue;
		if (k < 0)
			die("cannot read %s: %s", opt.path, rt_strerror(k));
		if (k == 0)
			corrupt("it ends early");
		p += k;
		n -= (size_t)k;
		off += (uint64_t)k;
	}
}

static uint64_t be64(const uint8_t *p)
{
	struct wire_rd r;

	wire_rd_init(&r, p, 8);
	return wire_get_u64(&r);
}

/* The place of a metadata section: INFO CPU TASK SIGNALS FILES [BACKTRACE]
 * MEMMAP, each once; 0 for the others (PAGES, END, unknown tags). */
static unsigned tag_rank(uint32_t tag)
{
	switch (tag) {
	case IMG_INFO: return 1;
	case IMG_CPU: return 2;
	case IMG_TASK: return 3;
	case IMG_SIGNALS: return 4;
	case IMG_FILES: return 5;
	case IMG_BACKTRACE: return 6;
	case IMG_MEMMAP: return 7;
	default: return 0;
	}
}

/* Footer, header, and every section before the first PAGES into metabuf;
 * the known ones in their order, each once. */
static void load_meta(void)
{
	struct stat st;
	uint8_t b[IMG_FOOTER_SIZE];
	uint64_t off = IMG_HEADER_SIZE, used = 0;
	struct wire_rd r;
	unsigned rank = 0;
	long rc = rs_call2(SYS_fstat, opt.fd, &st);

	if (rc < 0)
		die("cannot stat %s: %s", opt.path, rt_strerror(rc));
	if (!S_ISREG(st.st_mode))
		die("%s is not a regular file (the image must be seekable)", opt.path);
	if (opt.offset > (uint64_t)st.st_size || opt.length > (uint64_t)st.st_size - opt.offset)
		corrupt("the file is shorter than --offset and --length say");
	im.file_size = opt.length ? opt.length : (uint64_t)st.st_size - opt.offset;
	if (im.file_size < IMG_HEADER_SIZE + IMG_FOOTER_SIZE)
		corrupt("too short");
	read_at(b, IMG_HEADER_SIZE, 0);
	if (memcmp(b, IMG_MAGIC, 8))
		die("%s is not a checkpoint image (bad magic)", opt.path);
	if (be64(b + 8) >> 32 != IMG_VERSION)
		die("%s has image format %u; this ckpt-restore reads format %u", opt.path,
		    (unsigned)(be64(b + 8) >> 32), IMG_VERSION);
	if ((uint32_t)be64(b + 8))
		corrupt("header flags are not 0");
	read_at(b, IMG_FOOTER_SIZE, im.file_size - IMG_FOOTER_SIZE);
	if (memcmp(b, IMG_END_MAGIC, 8))
		corrupt("no end marker: the checkpoint did not finish");
	im.len = be64(b + 8);
	im.xxh64 = be64(b + 16);
	if (im.len != im.file_size - IMG_FOOTER_SIZE)
		corrupt("its length does not match its footer");
	im.nsec = 0;
	for (;;) {
		uint32_t tag;
		uint64_t len;

		if (off + IMG_SECTION_HDR > im.len)
			corrupt("no END section");
		read_at(b, IMG_SECTION_HDR, off);
		wire_rd_init(&r, b, IMG_SECTION_HDR);
		tag = wire_get_u32(&r);
		len = wire_get_u64(&r);
		if (len > im.len - off - IMG_SECTION_HDR)
			corrupt("a section runs past the end");
		if (tag == IMG_PAGES || tag == IMG_END) {
			im.pages_off = off;
			break;
		}
		if (tag_rank(tag)) {
			if (tag_rank(tag) <= rank)
				corrupt("a metadata section repeated or out of order");
			rank = tag_rank(tag);
		}
		if (len > META_BUF - used || im.nsec == sizeof(im.sec) / sizeof(im.sec[0]))
			die("%s: the metadata is larger than this loader can hold", opt.path);
		read_at(metabuf + used, len, off + IMG_SECTION_HDR);
		im.sec[im.nsec++] = (struct section){tag, metabuf + used, len};
		used += len;
		off += IMG_SECTION_HDR + len;
	}
}

static const struct section *find_sec(uint32_t tag)
{
	for (unsigned i = 0; i < im.nsec; i++)
		if (im.sec[i].tag == tag)
			return &im.sec[i];
	return NULL;
}

/* A string without NUL bytes (paths are used as C strings). */
static bool text_ok(struct wire_str s)
{
	for (uint32_t i = 0; i < s.len; i++)
		if (!s.p[i])
			return false;
	return true;
}

/* The reader of section `what` read all of it, and nothing more. */
static void finish(struct wire_rd *r, bool ok, const char *what)
{
	if (wire_rd_finish(r) || !ok)
		corrupt(what);
}

static uint64_t fdkeys[IMG_MAX_FDS]; /* fd << 32 | index in FILES */
static int32_t fdshare[IMG_MAX_FDS];

/* Each fd once; each share_with an fd earlier in the table. */
static void check_fd_table(uint32_t n)
{
	/* shell sort of the keys: no C library here */
	for (uint32_t gap = n / 2; gap; gap /= 2)
		for (uint32_t i = gap; i < n; i++) {
			uint64_t k = fdkeys[i];
			uint32_t j = i;

			for (; j >= gap && fdkeys[j - gap] > k; j -= gap)
				fdkeys[j] = fdkeys[j - gap];
			fdkeys[j] = k;
		}
	for (uint32_t i = 1; i < n; i++)
		if (fdkeys[i] >> 32 == fdkeys[i - 1] >> 32)
			corrupt("FILES: an fd appears twice");
	for (uint32_t i = 0; i < n; i++) {
		uint32_t lo = 0, hi = n, idx = (uint32_t)fdkeys[i];

		if (fdshare[idx] < 0)
			continue;
		while (lo < hi) {
			uint32_t mid = lo + (hi - lo) / 2;

			if (fdkeys[mid] >> 32 < (uint64_t)fdshare[idx])
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo == n || fdkeys[lo] >> 32 != (uint64_t)fdshare[idx] || (uint32_t)fdkeys[lo] >= idx)
			corrupt("FILES: an fd shares the file of an fd not earlier in the table");
	}
}

/* BACKTRACE (the restore skips it; checked all the same). */
static void check_backtrace(const struct section *s)
{
	struct wire_rd r;
	uint32_t nobjs, nframes;
	bool ok;

	wire_rd_init(&r, s->p, s->len);
	ok = wire_get_u8(&r) <= IMG_BT_CRASHED;
	nobjs = wire_get_u32(&r);
	if (nobjs > IMG_BT_MAX_FRAMES)
		corrupt("BACKTRACE");
	for (uint32_t i = 0; i < nobjs && !r.err; i++)
		ok &= text_ok(wire_get_str(&r, IMG_MAX_STR));
	nframes = wire_get_u32(&r);
	if (nframes > IMG_BT_MAX_FRAMES)
		corrupt("BACKTRACE");
	for (uint32_t i = 0; i < nframes && !r.err; i++) {
		uint16_t obj;

		wire_get_u64(&r);
		wire_get_u64(&r);
		obj = wire_get_u16(&r);
		wire_get_u64(&r);
		ok &= text_ok(wire_get_str(&r, IMG_BT_MAX_NAME)) && (obj == 0xffff || obj < nobjs);
	}
	finish(&r, ok, "BACKTRACE");
}

/* Every metadata section decoded and each field checked against its rule
 * (IMAGE.md section 5); nothing here changes the process. */
static void decode_meta(void)
{
	const struct section *s;
	struct wire_rd r;
	bool ok = true;

	if (!(s = find_sec(IMG_INFO)))
		corrupt("no INFO section");
	wire_rd_init(&r, s->p, s->len);
	im.arch = wire_get_str(&r, IMG_MAX_STR);
	im.page_size = wire_get_u32(&r);
	im.release = wire_get_str(&r, IMG_MAX_STR);
	im.kversion = wire_get_str(&r, IMG_MAX_STR);
	im.libc = wire_get_str(&r, IMG_MAX_STR);
	im.shim = wire_get_str(&r, IMG_MAX_STR);
	im.host = wire_get_str(&r, IMG_MAX_STR);
	im.pid = wire_get_u32(&r);
	im.tid = wire_get_u32(&r);
	im.time_ns = wire_get_s64(&r);
	im.exe = wire_get_str(&r, IMG_MAX_STR);
	im.job = wire_get_str(&r, IMG_MAX_STR);
	im.sig = wire_get_u32(&r);
	finish(&r, text_ok(im.arch) && text_ok(im.release) && text_ok(im.kversion) && text_ok(im.libc) &&
			   text_ok(im.shim) && text_ok(im.host) && text_ok(im.exe) && text_ok(im.job) && im.sig >= 1 && im.sig <= 64 && im.page_size >= 4096 &&
			   im.page_size <= (1u << 21) && !(im.page_size & (im.page_size - 1)),
	       "INFO");

	if (!(s = find_sec(IMG_CPU)))
		corrupt("no CPU section");
	wire_rd_init(&r, s->p, s->len);
	if (wire_get_u32(&r) != IMG_X86_64_CTX_REGS)
		corrupt("CPU register count");
	for (int i = 0; i < IMG_X86_64_CTX_REGS; i++)
		im.ctx[i] = wire_get_u64(&r);
	im.fs = wire_get_u64(&r);
	im.gs = wire_get_u64(&r);
	im.ngregs = wire_get_u32(&r);
	if (im.ngregs > 32)
		corrupt("CPU register count");
	for (uint32_t i = 0; i < im.ngregs; i++)
		im.gregs[i] = wire_get_u64(&r);
	finish(&r, true, "CPU");

	if (!(s = find_sec(IMG_TASK)))
		corrupt("no TASK section");
	wire_rd_init(&r, s->p, s->len);
	im.tid_offset = (int32_t)wire_get_u32(&r);
	im.tid_address = wire_get_u64(&r);
	im.robust_head = wire_get_u64(&r);
	im.robust_len = wire_get_u64(&r);
	im.rseq_area = wire_get_u64(&r);
	im.rseq_len = wire_get_u32(&r);
	im.rseq_sig = wire_get_u32(&r);
	for (int i = 0; i < 11; i++)
		im.mm[i] = wire_get_u64(&r);
	im.auxv = wire_get_blob(&r, IMG_MAX_AUXV);
	im.umask = wire_get_u32(&r);
	im.cwd = wire_get_str(&r, IMG_MAX_STR);
	im.comm = wire_get_str(&r, IMG_MAX_STR);
	im.task_exe = wire_get_str(&r, IMG_MAX_STR);
	ok = text_ok(im.cwd) && text_ok(im.comm) && text_ok(im.task_exe) && im.umask <= 0777 && !(im.auxv.len % 16) &&
	     (!im.rseq_area || (im.rseq_len >= 32 && im.rseq_len <= 4096));
	/* mm: each start <= its end (code, data, brk, arguments, environment) */
	for (int i = 0; i < 5; i++) {
		static const uint8_t pair[5] = {0, 2, 4, 7, 9};

		if (im.mm[pair[i]] > im.mm[pair[i] + 1])
			ok = false;
	}
	{
		uint32_t n = wire_get_u32(&r), prev = 0;

		if (n > IMG_MAX_RLIMITS)
			corrupt("TASK: resource limit count");
		for (uint32_t i = 0; i < n && !r.err; i++) {
			uint32_t res = wire_get_u32(&r);

			wire_get_u64(&r);
			wire_get_u64(&r);
			if (res >= IMG_MAX_RLIMITS || (i && res <= prev))
				ok = false;
			prev = res;
		}
		n = wire_get_u32(&r);
		if (n > 3)
			corrupt("TASK: interval timer count");
		for (uint32_t i = 0; i < n && !r.err; i++) {
			if (wire_get_u32(&r) > 2)
				ok = false;
			for (int k = 0; k < 4; k++)
				wire_get_u64(&r);
		}
	}
	finish(&r, ok, "TASK");

	if (!(s = find_sec(IMG_SIGNALS)))
		corrupt("no SIGNALS section");
	wire_rd_init(&r, s->p, s->len);
	ok = wire_get_u32(&r) == im.sig;
	for (int i = 0; i < 3; i++)
		wire_get_u64(&r); /* blocked, pending, altstack_sp */
	wire_get_u32(&r);
	wire_get_u64(&r);
	{
		uint32_t n = wire_get_u32(&r), prev = 0;

		if (n > IMG_MAX_SIGNALS)
			corrupt("SIGNALS: action count");
		for (uint32_t i = 0; i < n && !r.err; i++) {
			uint32_t signo = wire_get_u32(&r);

			for (int k = 0; k < 4; k++)
				wire_get_u64(&r);
			if (signo < 1 || signo > 64 || signo <= prev)
				ok = false;
			prev = signo;
		}
	}
	finish(&r, ok, "SIGNALS");

	if (!(s = find_sec(IMG_FILES)))
		corrupt("no FILES section");
	wire_rd_init(&r, s->p, s->len);
	{
		uint32_t n = wire_get_u32(&r), fd;

		ok = true;
		if (n > IMG_MAX_FDS)
			corrupt("FILES: fd count");
		for (uint32_t i = 0; i < n && !r.err; i++) {
			uint8_t kind, cloexec;
			int64_t offset;
			int32_t share;
			struct wire_str path, mount, rel;

			fd = wire_get_u32(&r);
			kind = wire_get_u8(&r);
			cloexec = wire_get_u8(&r);
			wire_get_u32(&r);
			offset = wire_get_s64(&r);
			share = (int32_t)wire_get_u32(&r);
			path = wire_get_str(&r, IMG_MAX_STR);
			wire_get_s64(&r);
			wire_get_s64(&r);
			wire_get_u32(&r);
			wire_get_u64(&r);
			wire_get_u64(&r);
			mount = wire_get_str(&r, IMG_MAX_STR);
			rel = wire_get_str(&r, IMG_MAX_STR);
			if (kind < IMG_FD_FILE || kind > IMG_FD_STD || cloexec > 1 || offset < -1 || share < -1 || !text_ok(path) || !text_ok(mount) ||
			    !text_ok(rel) || (kind == IMG_FD_REMOTE) != (mount.len > 0) ||
			    (kind != IMG_FD_REMOTE && rel.len) || fd > INT32_MAX)
				ok = false;
			fdkeys[i] = (uint64_t)fd << 32 | i;
			fdshare[i] = share;
		}
		finish(&r, ok, "FILES");
		check_fd_table(n);
	}

	if ((s = find_sec(IMG_BACKTRACE)) && s->len)
		check_backtrace(s);

	if (!(s = find_sec(IMG_MEMMAP)))
		corrupt("no MEMMAP section");
	wire_rd_init(&r, s->p, s->len);
	im.hole = wire_get_u64(&r);
	im.hole_len = wire_get_u64(&r);
	im.nspecial = wire_get_u32(&r);
	if (im.nspecial > IMG_MAX_SPECIAL)
		corrupt("too many special mappings");
	for (uint32_t i = 0; i < im.nspecial; i++) {
		im.special[i].name = wire_get_str(&r, 32);
		im.special[i].start = wire_get_u64(&r);
		im.special[i].end = wire_get_u64(&r);
		im.special[i].xxh64 = wire_get_u64(&r);
	}
	im.nregs = wire_get_u32(&r);
	if (im.nregs > IMG_MAX_REGIONS)
		corrupt("too many regions");
	for (uint32_t i = 0; i < im.nregs && !r.err; i++) {
		struct reg *g = &regs[i];

		g->start = wire_get_u64(&r);
		g->end = wire_get_u64(&r);
		g->prot = wire_get_u8(&r);
		g->kind = wire_get_u8(&r);
		g->flags = wire_get_u8(&r);
		g->pgoff = wire_get_u64(&r);
		g->dev = wire_get_u64(&r);
		g->ino = wire_get_u64(&r);
		g->fsize = wire_get_u64(&r);
		g->fmtime = wire_get_s64(&r);
		g->path = wire_get_str(&r, IMG_MAX_STR);
		g->saved = g->next_page = 0;
	}
	finish(&r, true, "MEMMAP");
}

/* The region holding address a, or NULL. */
static const struct reg *region_of(uint64_t a)
{
	uint32_t lo = 0, hi = im.nregs;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (a < regs[mid].start)
			hi = mid;
		else if (a >= regs[mid].end)
			lo = mid + 1;
		else
			return &regs[mid];
	}
	return NULL;
}

/* The address layout: the hole, the special mappings and the regions each
 * whole pages inside user space and disjoint; the regions ascending; the
 * resume context pointing into them. */
static void check_regions(void)
{
	uint64_t ps = (uint64_t)opt.page_size, prev = ps;
	const struct reg *g;

	if (im.hole_len != IMG_HOLE_SIZE || (im.hole & (ps - 1)) || im.hole < ps ||
	    im.hole > IMG_X86_64_USER_TOP - im.hole_len)
		corrupt("hole");
	for (uint32_t i = 0; i < im.nregs; i++) {
		g = &regs[i];
		if (g->start >= g->end || (g->start | g->end) & (ps - 1) || g->start < prev ||
		    g->end > IMG_X86_64_USER_TOP || (g->start < im.hole + im.hole_len && g->end > im.hole) ||
		    g->kind < IMG_ANON_PRIVATE || g->kind > IMG_FILE_SHARED || g->prot > 7 || g->flags > 0xf ||
		    !text_ok(g->path) || ((g->kind == IMG_FILE_PRIVATE || g->kind == IMG_FILE_SHARED) && !g->path.len))
			corrupt("region table");
		prev = g->end;
	}
	for (uint32_t i = 0; i < im.nspecial; i++) {
		const struct special *sp = &im.special[i];

		if (sp->start >= sp->end || (sp->start | sp->end) & (ps - 1) || sp->start < ps || !text_ok(sp->name) ||
		    sp->end > IMG_X86_64_USER_TOP || (sp->start < im.hole + im.hole_len && sp->end > im.hole))
			corrupt("special mappings");
		for (uint32_t j = 0; j < im.nregs; j++)
			if (sp->start < regs[j].end && regs[j].start < sp->end)
				corrupt("a special mapping overlaps a region");
		for (uint32_t j = 0; j < i; j++)
			if (sp->start < im.special[j].end && im.special[j].start < sp->end)
				corrupt("special mappings overlap");
	}
	/* where the checkpoint handler resumes: code, a writable stack, the TLS */
	g = region_of(im.ctx[7]);
	if (!g || !(g->prot & IMG_PROT_X))
		corrupt("the resume address is in no executable region");
	g = region_of(im.ctx[6] - 1);
	if (!im.ctx[6] || !g || !(g->prot & IMG_PROT_W))
		corrupt("the resume stack is in no writable region");
	if (im.fs && !region_of(im.fs))
		corrupt("the FS base is in no region");
}

/* ---- options and start --------------------------------------------------------------------- */

static _Noreturn void usage(int code);

/* A byte count: decimal digits only. */
static uint64_t parse_size(const char *s)
{
	uint64_t v = 0;

	if (!*s)
		usage(EXIT_USAGE);
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > (~0ull - 9) / 10)
			usage(EXIT_USAGE);
		v = v * 10 + (uint64_t)(*s - '0');
	}
	return v;
}

static _Noreturn void usage(int code)
{
	rt_printf(code ? 2 : 1,
		  "usage: " ME " [--no-verify] [--debug] [--no-mm] IMAGE   restore the checkpointed process\n"
		  "       " ME " [...] --offset N --length L FILE  the image is L bytes of FILE from byte N\n"
		  "       " ME " --info IMAGE                  describe the image\n"
		  "       " ME " --verify IMAGE                check the image's checksums only\n"
		  "Exit status: the restored program's own; 1 if the image cannot be restored here\n"
		  "(nothing was changed); 2 for usage; 70 if the restore failed midway.\n");
	rt_exit(code);
}

static void open_image(const char *path)
{
	long fd;
	size_t n = strlen(path);

	if (n >= sizeof(opt.path))
		die("image path too long");
	memcpy(opt.path, path, n + 1);
	fd = rs_openat(AT_FDCWD, path, O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0)
		die("cannot open %s: %s", path, rt_strerror(fd));
	opt.fd = (int)fd;
}

/* LZ4 contexts for up to two threads (their buffers come from one arena). */
static void new_dctxs(unsigned n)
{
	rt_arena_init(arena_mem, sizeof(arena_mem));
	for (unsigned i = 0; i < n; i++) {
		fill.dctx[i] = LZ4F_createDecompressionContext_advanced(LZ4F_defaultCMem, LZ4F_VERSION);
		if (!fill.dctx[i])
			die("cannot create the LZ4 context");
	}
}

/* Does the image's XXH64 match its footer? */
static bool xxh64_ok(void)
{
	return XXH64(im.map, (size_t)im.len, 0) == im.xxh64;
}

static void verify_xxh64(void)
{
	if (!xxh64_ok())
		corrupt("XXH64 checksum mismatch");
}

/* ---- the image mapped ------------------------------------------------------------------------ */

static bool overlaps(uint64_t a, uint64_t b, uint64_t c, uint64_t d)
{
	return a < d && c < b;
}

/* Is [a, b) clear of the image's regions, special mappings and hole? */
static bool free_in_image(uint64_t a, uint64_t b)
{
	if (overlaps(a, b, im.hole, im.hole + im.hole_len))
		return false;
	for (uint32_t i = 0; i < im.nspecial; i++)
		if (overlaps(a, b, im.special[i].start, im.special[i].end))
			return false;
	for (uint32_t i = 0; i < im.nregs; i++)
		if (overlaps(a, b, regs[i].start, regs[i].end))
			return false;
	return true;
}

/* The image at a (anywhere if 0; n bytes from the page holding its first
 * byte): the file mapped, or, on a file system that cannot map it, read into
 * anonymous memory there. */
static bool map_at(uint64_t a, size_t n)
{
	uint64_t ps = (uint64_t)opt.page_size, skip = opt.offset & (ps - 1);
	int fixed = a ? MAP_FIXED_NOREPLACE : 0;
	long p = rs_mmap((void *)a, n, PROT_READ, MAP_SHARED | fixed, opt.fd, (int64_t)(opt.offset - skip));
	bool copy = false;

	if (p < 0 && p > -4096 && p != -EEXIST) {
		p = rs_mmap((void *)a, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | fixed, -1, 0);
		copy = true;
	}
	if (p < 0 && p > -4096)
		return false;
	if (a && (uint64_t)p != a) { /* a kernel without MAP_FIXED_NOREPLACE */
		rs_munmap((void *)p, n);
		return false;
	}
	im.map_base = (uint64_t)p;
	im.map_len = n;
	im.map = (const uint8_t *)(p + (long)skip);
	if (copy)
		read_at((void *)im.map, (size_t)im.file_size, 0);
	return true;
}

/* Map the image file read-only: anywhere (--info, --verify), or, to restore,
 * where no region of the image will be (the lowest free gap of its layout
 * from 4 GiB up that is free here too), so that it stays mapped while the
 * regions are filled from it. The pages are read ahead in the background. */
static void map_image(bool anywhere)
{
	uint64_t ps = (uint64_t)opt.page_size, n = ((opt.offset & (ps - 1)) + im.file_size + ps - 1) & ~(ps - 1);
	bool ok = false;

	if (anywhere) {
		ok = map_at(0, n);
	} else {
		for (uint32_t i = 0; i <= im.nregs && !ok; i++) {
			uint64_t lo = i ? regs[i - 1].end : 0, hi = i < im.nregs ? regs[i].start : 0x7ff000000000ull, a;

			if (lo < (4ull << 30))
				lo = 4ull << 30;
			a = (lo + MAP_ALIGN + MAP_ALIGN - 1) & ~(MAP_ALIGN - 1);
			if (a < hi && hi - a >= n + MAP_ALIGN && free_in_image(a, a + n))
				ok = map_at(a, n);
		}
	}
	if (!ok)
		die("cannot map %s (%lu bytes) in this process", opt.path, (unsigned long)n);
	rs_call3(SYS_madvise, im.map_base, im.map_len, MADV_WILLNEED);
}

/* ---- PAGES sections ------------------------------------------------------------------------- */

struct chunk {
	uint32_t region, nruns;
	const uint8_t *runs; /* nruns x (u64 first page, u32 count) */
	const uint8_t *frame;
	size_t frame_len;
	uint64_t pages;
};

/* Parse the PAGES payload at p (len bytes) into c, checking the runs
 * against the region. */
static void parse_chunk(const uint8_t *p, size_t len, struct chunk *c)
{
	struct wire_rd r;
	uint64_t npages;

	wire_rd_init(&r, p, len);
	c->region = wire_get_u32(&r);
	c->nruns = wire_get_u32(&r);
	if (r.err || c->region >= im.nregs || !c->nruns || c->nruns > IMG_MAX_RUNS ||
	    (uint64_t)c->nruns * 12 > len - 8)
		corrupt("PAGES header");
	npages = (regs[c->region].end - regs[c->region].start) / (uint64_t)opt.page_size;
	c->runs = p + 8;
	c->pages = 0;
	for (uint32_t i = 0; i < c->nruns; i++) {
		uint64_t first = wire_get_u64(&r);
		uint32_t cnt = wire_get_u32(&r);

		if (!cnt || first >= npages || cnt > npages - first)
			corrupt("a page run outside its region");
		c->pages += cnt;
	}
	if (c->pages > IMG_CHUNK_PAGES)
		corrupt("PAGES too large");
	c->frame = r.p;
	c->frame_len = (size_t)(r.end - r.p);
}

/* Decompress c's frame into its runs (or, with scratch != NULL, all of it
 * into scratch). */
static void decompress_chunk(LZ4F_dctx *d, const struct chunk *c, uint8_t *scratch)
{
	const uint8_t *src = c->frame;
	size_t rem = c->frame_len, ps = (size_t)opt.page_size, hint = 1;
	struct wire_rd r;

	wire_rd_init(&r, c->runs, (size_t)c->nruns * 12);
	for (uint32_t i = 0; i < c->nruns; i++) {
		uint64_t first = wire_get_u64(&r);
		uint32_t cnt = wire_get_u32(&r);
		uint8_t *dst = scratch ? scratch : (uint8_t *)(regs[c->region].start + first * ps);
		size_t want = (size_t)cnt * ps;

		if (scratch)
			scratch += want;
		while (want) {
			size_t dsz = want, ssz = rem;

			hint = LZ4F_decompress(d, dst, &dsz, src, &ssz, NULL);
			if (LZ4F_isError(hint))
				die("%s: region %u: LZ4: %s", opt.path, c->region, LZ4F_getErrorName(hint));
			if (!dsz && !ssz)
				corrupt("an LZ4 frame shorter than its pages");
			dst += dsz;
			want -= dsz;
			src += ssz;
			rem -= ssz;
		}
	}
	while (hint) { /* the end mark and the content checksum */
		size_t dsz = 0, ssz = rem;

		hint = LZ4F_decompress(d, NULL, &dsz, src, &ssz, NULL);
		if (LZ4F_isError(hint))
			die("%s: region %u: LZ4: %s", opt.path, c->region, LZ4F_getErrorName(hint));
		if (dsz)
			corrupt("an LZ4 frame longer than its pages");
		if (!ssz && hint)
			corrupt("an LZ4 frame cut short");
		src += ssz;
		rem -= ssz;
	}
	if (rem)
		corrupt("bytes after an LZ4 frame");
}

/* The section at off: its tag and payload length, checked against the image. */
static uint64_t section_at(uint64_t off, uint32_t *tag)
{
	struct wire_rd r;
	uint64_t len;

	if (off + IMG_SECTION_HDR > im.len)
		corrupt("no END section");
	wire_rd_init(&r, im.map + off, IMG_SECTION_HDR);
	*tag = wire_get_u32(&r);
	len = wire_get_u64(&r);
	if (len > im.len - off - IMG_SECTION_HDR)
		corrupt("a section runs past the end");
	if (*tag == IMG_PAGES && len > MAX_PAGES_SEC)
		corrupt("a PAGES section larger than possible");
	return len;
}

/* Walk the PAGES sections: fn(chunk) for each; returns the END section's offset. */
static uint64_t walk_pages(void (*fn)(struct chunk *c, void *arg), void *arg)
{
	uint64_t off = im.pages_off;

	for (;;) {
		uint32_t tag;
		uint64_t len = section_at(off, &tag);
		struct chunk c;

		if (tag == IMG_END)
			return off;
		if (tag_rank(tag))
			corrupt("a metadata section after the pages");
		if (tag == IMG_PAGES && fn) {
			parse_chunk(im.map + off + IMG_SECTION_HDR, (size_t)len, &c);
			fn(&c, arg);
		}
		off += IMG_SECTION_HDR + len;
	}
}

/* A PAGES section, before anything is mapped: its region's contents are
 * saved, its runs come after the region's earlier runs, its LZ4 frame
 * header says what it holds. Counts the pages. */
static void check_chunk(struct chunk *c, void *arg)
{
	struct reg *g = &regs[c->region];
	const uint8_t *f = c->frame;
	struct wire_rd r;

	(void)arg;
	if (g->kind == IMG_FILE_SHARED || (g->flags & IMG_RF_NOSAVE))
		corrupt("PAGES of a region whose contents are never saved");
	wire_rd_init(&r, c->runs, (size_t)c->nruns * 12);
	for (uint32_t i = 0; i < c->nruns; i++) {
		uint64_t first = wire_get_u64(&r);
		uint32_t cnt = wire_get_u32(&r);

		if (first < g->next_page)
			corrupt("a page run repeats or precedes a saved page");
		g->next_page = first + cnt;
	}
	/* LZ4 frame: magic 0x184D2204 (little-endian), version 01, content size if set */
	if (c->frame_len < 7 || f[0] != 0x04 || f[1] != 0x22 || f[2] != 0x4d || f[3] != 0x18 || (f[4] >> 6) != 1)
		corrupt("PAGES without an LZ4 frame");
	if (f[4] & 0x08) {
		uint64_t size = 0;

		if (c->frame_len < 15)
			corrupt("a cut LZ4 frame header");
		for (int i = 7; i >= 0; i--)
			size = size << 8 | f[6 + i];
		if (size != c->pages * (uint64_t)opt.page_size)
			corrupt("an LZ4 frame whose size is not its pages'");
	}
	g->saved += c->pages;
	im.pages += c->pages;
	im.frame_bytes += c->frame_len;
	im.chunks++;
}

/* Every PAGES section checked (check_chunk), then END: 16 bytes, last, its
 * totals those of the image. Sets im.end_off. */
static void check_pages(void)
{
	struct wire_rd r;
	uint64_t mapped = 0;

	im.pages = im.frame_bytes = im.chunks = 0;
	im.end_off = walk_pages(check_chunk, NULL);
	if (im.end_off + IMG_SECTION_HDR + 16 != im.len)
		corrupt("END is not 16 bytes, or not last");
	for (uint32_t i = 0; i < im.nregs; i++)
		mapped += regs[i].end - regs[i].start;
	wire_rd_init(&r, im.map + im.end_off + IMG_SECTION_HDR, 16);
	if (wire_get_u64(&r) != im.pages || wire_get_u64(&r) != mapped)
		corrupt("the END totals differ from the sections'");
}

/* ---- filling the regions, on two CPUs ----------------------------------------------------- */

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

/* Memory for c's pages, before they are written: each long run of an
 * anonymous private region is populated in one call (MADV_POPULATE_WRITE,
 * ~30% less time than faulting it in page by page as it is written; a kernel
 * without it gets the page faults). Huge pages (MADV_COLLAPSE of ranges made
 * wholly of saved pages, which leaves the region's flags alone) were tried:
 * no faster here with two threads, and up to 5 times slower on a virtual
 * machine whose free memory was handed back to the host. */
static void prepare_pages(const struct chunk *c)
{
	const struct reg *g = &regs[c->region];
	uint64_t ps = (uint64_t)opt.page_size;
	struct wire_rd r;

	if (g->kind != IMG_ANON_PRIVATE)
		return;
	wire_rd_init(&r, c->runs, (size_t)c->nruns * 12);
	for (uint32_t i = 0; i < c->nruns && !__atomic_load_n(&fill.no_populate, __ATOMIC_RELAXED); i++) {
		uint64_t first = wire_get_u64(&r);
		uint32_t cnt = wire_get_u32(&r);

		if (cnt >= POPULATE_MIN &&
		    rs_call3(SYS_madvise, g->start + first * ps, cnt * ps, MADV_POPULATE_WRITE) < 0)
			__atomic_store_n(&fill.no_populate, 1, __ATOMIC_RELAXED);
	}
}

/* Take the next PAGES section: its offset (and payload length), or 0 when
 * none is left or the image failed its checksum. */
static uint64_t take_section(uint64_t *len)
{
	for (;;) {
		uint64_t off = __atomic_load_n(&fill.next, __ATOMIC_ACQUIRE);
		uint32_t tag;

		if (off >= fill.end || __atomic_load_n(&fill.verified, __ATOMIC_RELAXED) == VERIFY_BAD)
			return 0;
		*len = section_at(off, &tag);
		if (!__atomic_compare_exchange_n(&fill.next, &off, off + IMG_SECTION_HDR + *len, false,
						 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			continue;
		if (tag == IMG_PAGES)
			return off;
	}
}

static void fill_sections(LZ4F_dctx *d)
{
	uint64_t off, len;
	struct chunk c;

	while ((off = take_section(&len))) {
		parse_chunk(im.map + off + IMG_SECTION_HDR, (size_t)len, &c);
		prepare_pages(&c);
		decompress_chunk(d, &c, NULL);
	}
}

/* The helper thread: the image's checksum first (unless --no-verify), then
 * sections, once the regions exist. */
static void helper_main(void *arg)
{
	(void)arg;
	if (fill.verified == VERIFY_PENDING) {
		__atomic_store_n(&fill.verified, xxh64_ok() ? VERIFY_OK : VERIFY_BAD, __ATOMIC_RELEASE);
		rt_futex_wake(&fill.verified);
	}
	while (!__atomic_load_n(&fill.mapped, __ATOMIC_ACQUIRE))
		rt_futex_wait(&fill.mapped, 0);
	fill_sections(fill.dctx[1]);
}

static int ncpus(void)
{
	uint64_t mask[16];
	long k = rs_call3(SYS_sched_getaffinity, 0, sizeof(mask), mask);
	int n = 0;

	for (long i = 0; i < k / 8; i++)
		n += __builtin_popcountll(mask[i]);
	return n;
}

/* Start the helper where there is a second CPU; false if there is none. */
static bool helper_start(void)
{
	long rc;

	if (ncpus() < 2)
		return false;
	fill.tid = 1;
	rc = rt_clone(CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM |
			      CLONE_CHILD_CLEARTID,
		      helper_stack + sizeof(helper_stack), &fill.tid, helper_main, NULL);
	if (rc < 0) {
		fill.tid = 0;
		return false;
	}
	return true;
}

/* Wait until the helper has exited (the kernel clears fill.tid). */
static void helper_join(void)
{
	uint32_t t;

	while ((t = __atomic_load_n(&fill.tid, __ATOMIC_ACQUIRE)))
		rt_futex_wait(&fill.tid, t);
}

/* ---- --info and --verify ---------------------------------------------------------------- */

static const char *kind_name(uint8_t k)
{
	switch (k) {
	case IMG_ANON_PRIVATE: return "anon";
	case IMG_ANON_SHARED: return "anon-shared";
	case IMG_FILE_PRIVATE: return "file";
	case IMG_FILE_SHARED: return "file-shared";
	default: return "?";
	}
}

static const char *fd_kind_name(uint8_t k)
{
	switch (k) {
	case IMG_FD_FILE: return "file";
	case IMG_FD_DIR: return "dir";
	case IMG_FD_DEV: return "dev";
	case IMG_FD_PATH: return "path";
	case IMG_FD_REMOTE: return "remote";
	case IMG_FD_STD: return "std";
	default: return "?";
	}
}

static void print_info(void)
{
	const struct section *s;
	struct wire_rd r;
	uint64_t mapped = 0;
	static const char *mmnames[11] = {"start_code", "end_code",  "start_data", "end_data",
					  "start_brk",  "brk",       "start_stack", "arg_start",
					  "arg_end",    "env_start", "env_end"};

	rt_printf(1, "image      %s: %lu bytes, format %u, xxh64 %016lx\n", opt.path, (unsigned long)im.file_size,
		  IMG_VERSION, (unsigned long)im.xxh64);
	rt_printf(1, "program    %.*s, pid %u, job '%.*s', signal %u, at unix time %ld.%09ld\n", (int)im.exe.len,
		  im.exe.p, im.pid, (int)im.job.len, im.job.p, im.sig, (long)(im.time_ns / 1000000000),
		  (long)(im.time_ns % 1000000000));
	rt_printf(1, "host       %.*s, %.*s, kernel %.*s, glibc %.*s, shim %.*s, page size %u\n", (int)im.host.len,
		  im.host.p, (int)im.arch.len, im.arch.p, (int)im.release.len, im.release.p, (int)im.libc.len,
		  im.libc.p, (int)im.shim.len, im.shim.p, im.page_size);
	if (im.ngregs > 16)
		rt_printf(1, "stopped at rip %#lx rsp %#lx rbp %#lx\n", (unsigned long)im.gregs[16],
			  (unsigned long)im.gregs[15], (unsigned long)im.gregs[10]);
	rt_printf(1, "resume     rip %#lx rsp %#lx fs %#lx\n", (unsigned long)im.ctx[7], (unsigned long)im.ctx[6],
		  (unsigned long)im.fs);
	rt_printf(1, "thread     tid %u, cached at fs+%d, tid address %#lx, robust list %#lx (%lu), rseq %#lx (%u)\n",
		  im.tid, im.tid_offset, (unsigned long)im.tid_address, (unsigned long)im.robust_head,
		  (unsigned long)im.robust_len, (unsigned long)im.rseq_area, im.rseq_len);
	rt_printf(1, "process    cwd %.*s, umask %03o, name %.*s\n", (int)im.cwd.len, im.cwd.p, im.umask,
		  (int)im.comm.len, im.comm.p);
	rt_printf(1, "mm        ");
	for (int i = 0; i < 11; i++)
		rt_printf(1, " %s %#lx", mmnames[i], (unsigned long)im.mm[i]);
	rt_printf(1, "\n");
	if ((s = find_sec(IMG_SIGNALS))) {
		uint32_t n;

		wire_rd_init(&r, s->p, s->len);
		wire_get_u32(&r);
		rt_printf(1, "signals    blocked %#lx, pending %#lx", (unsigned long)wire_get_u64(&r),
			  (unsigned long)wire_get_u64(&r));
		{
			uint64_t sp = wire_get_u64(&r);
			uint32_t fl = wire_get_u32(&r);
			uint64_t sz = wire_get_u64(&r);

			if (!(fl & 2 /* SS_DISABLE */))
				rt_printf(1, ", alternate stack %#lx (%lu bytes)", (unsigned long)sp, (unsigned long)sz);
		}
		rt_printf(1, "\n");
		n = wire_get_u32(&r);
		for (uint32_t i = 0; i < n && !r.err; i++) {
			uint32_t sig = wire_get_u32(&r);
			uint64_t h = wire_get_u64(&r), fl = wire_get_u64(&r);

			wire_get_u64(&r);
			wire_get_u64(&r);
			if (h > 1)
				rt_printf(1, "  signal %2u handler %#lx flags %#lx\n", sig, (unsigned long)h, (unsigned long)fl);
			else if (h == 1)
				rt_printf(1, "  signal %2u ignored\n", sig);
		}
	}
	if ((s = find_sec(IMG_FILES))) {
		uint32_t n;

		wire_rd_init(&r, s->p, s->len);
		n = wire_get_u32(&r);
		rt_printf(1, "fds        %u\n", n);
		for (uint32_t i = 0; i < n && !r.err; i++) {
			uint32_t fd = wire_get_u32(&r);
			uint8_t kind = wire_get_u8(&r), cloexec = wire_get_u8(&r);
			uint32_t fl = wire_get_u32(&r);
			int64_t offs = wire_get_s64(&r);
			int32_t share = (int32_t)wire_get_u32(&r);
			struct wire_str path = wire_get_str(&r, IMG_MAX_STR);
			int64_t size = wire_get_s64(&r);

			wire_get_s64(&r);
			wire_get_u32(&r);
			wire_get_u64(&r);
			wire_get_u64(&r);
			wire_get_str(&r, IMG_MAX_STR);
			wire_get_str(&r, IMG_MAX_STR);
			rt_printf(1, "  fd %3u %-6s flags %#o%s offset %ld", fd, fd_kind_name(kind), fl,
				  cloexec ? " cloexec" : "", (long)offs);
			if (kind == IMG_FD_FILE)
				rt_printf(1, " size %ld", (long)size);
			if (share >= 0)
				rt_printf(1, " (shares fd %d's file description)", share);
			rt_printf(1, " %.*s\n", (int)path.len, path.p);
		}
	}
	rt_printf(1, "hole       %#lx (%lu MiB)\n", (unsigned long)im.hole, (unsigned long)(im.hole_len >> 20));
	for (uint32_t i = 0; i < im.nspecial; i++)
		rt_printf(1, "special    %-14.*s %#lx-%#lx\n", (int)im.special[i].name.len, im.special[i].name.p,
			  (unsigned long)im.special[i].start, (unsigned long)im.special[i].end);
	for (uint32_t i = 0; i < im.nregs; i++)
		mapped += regs[i].end - regs[i].start;
	rt_printf(1, "memory     %u regions, %lu KiB mapped, %lu pages saved in %lu frames of %lu KiB\n", im.nregs,
		  (unsigned long)(mapped >> 10), (unsigned long)im.pages, (unsigned long)im.chunks,
		  (unsigned long)(im.frame_bytes >> 10));
	for (uint32_t i = 0; i < im.nregs; i++) {
		struct reg *g = &regs[i];

		rt_printf(1, "  %012lx-%012lx %c%c%c %-11s %8lu pages saved%s%s %.*s", (unsigned long)g->start,
			  (unsigned long)g->end, g->prot & IMG_PROT_R ? 'r' : '-', g->prot & IMG_PROT_W ? 'w' : '-',
			  g->prot & IMG_PROT_X ? 'x' : '-', kind_name(g->kind), (unsigned long)g->saved,
			  g->flags & IMG_RF_HEAP && !g->path.len ? " [heap]" : "",
			  g->flags & IMG_RF_STACK && !g->path.len ? " [stack]" : "",
			  (int)g->path.len, g->path.p);
		if (g->kind == IMG_FILE_PRIVATE || g->kind == IMG_FILE_SHARED)
			rt_printf(1, " @%#lx", (unsigned long)g->pgoff);
		rt_printf(1, "\n");
	}
	rt_flush();
}

static uint8_t verifybuf[VERIFY_BUF];

static void verify_chunk(struct chunk *c, void *arg)
{
	(void)arg;
	if (c->pages * (uint64_t)opt.page_size > sizeof(verifybuf))
		corrupt("PAGES too large");
	decompress_chunk(fill.dctx[0], c, verifybuf);
}

/* ---- the point of no return ------------------------------------------------------------ */

struct live {
	char name[16];
	uint64_t start, end;
};

/* The kernel's special mappings of this process, from /proc/self/maps. */
static unsigned read_specials(struct live *out, unsigned max)
{
	long fd = rs_openat(AT_FDCWD, "/proc/self/maps", O_RDONLY | O_CLOEXEC, 0), k;
	size_t n = 0;
	unsigned cnt = 0;

	if (fd < 0)
		die("cannot read /proc/self/maps: %s", rt_strerror(fd));
	while ((k = rs_read((int)fd, mapsbuf + n, sizeof(mapsbuf) - 1 - n)) > 0)
		n += (size_t)k;
	rs_close((int)fd);
	mapsbuf[n] = 0;
	for (char *l = mapsbuf; *l;) {
		char *e = strchr(l, '\n'), *p;

		if (e)
			*e = 0;
		p = strchr(l, '[');
		if (p && cnt < max && (!strcmp(p, "[vdso]") || !strcmp(p, "[vvar]") || !strcmp(p, "[vvar_vclock]"))) {
			const char *q = l;
			uint64_t a = 0, b = 0;

			while (*q != '-')
				a = a << 4 | (uint64_t)(*q <= '9' ? *q - '0' : *q - 'a' + 10), q++;
			q++;
			while (*q != ' ')
				b = b << 4 | (uint64_t)(*q <= '9' ? *q - '0' : *q - 'a' + 10), q++;
			memcpy(out[cnt].name, p, strlen(p) + 1);
			out[cnt].start = a;
			out[cnt].end = b;
			cnt++;
		}
		if (!e)
			break;
		*e = '\n';
		l = e + 1;
	}
	return cnt;
}

static bool wstr_eq(struct wire_str s, const char *c)
{
	return s.len == strlen(c) && !memcmp(s.p, c, s.len);
}

static struct live cur[IMG_MAX_SPECIAL];
static unsigned ncur;
static int special_map[IMG_MAX_SPECIAL]; /* image special i -> cur index */

/* The vDSO block here must have the image's layout and contents. */
static void check_specials(void)
{
	uint64_t ilow = ~0ull, clow = ~0ull;

	ncur = read_specials(cur, IMG_MAX_SPECIAL);
	for (uint32_t i = 0; i < im.nspecial; i++)
		if (im.special[i].start < ilow)
			ilow = im.special[i].start;
	for (unsigned j = 0; j < ncur; j++)
		if (cur[j].start < clow)
			clow = cur[j].start;
	if (ncur != im.nspecial)
		goto differ;
	for (uint32_t i = 0; i < im.nspecial; i++) {
		struct special *s = &im.special[i];

		special_map[i] = -1;
		for (unsigned j = 0; j < ncur; j++)
			if (wstr_eq(s->name, cur[j].name))
				special_map[i] = (int)j;
		if (special_map[i] < 0)
			goto differ;
		{
			struct live *c = &cur[special_map[i]];

			if (c->end - c->start != s->end - s->start || c->start - clow != s->start - ilow)
				goto differ;
			if (!strcmp(c->name, "[vdso]") &&
			    XXH64((const void *)c->start, c->end - c->start, 0) != s->xxh64)
				die("the vDSO of this kernel differs from the one the program was checkpointed with"
				    " (kernel %.*s); the program has its functions' addresses: restore on that kernel",
				    (int)im.release.len, im.release.p);
		}
	}
	return;
differ:
	rt_printf(2, "%s: the kernel's special mappings differ from the checkpoint's; image:", ME);
	for (uint32_t i = 0; i < im.nspecial; i++)
		rt_printf(2, " %.*s %lu", (int)im.special[i].name.len, im.special[i].name.p,
			  (unsigned long)(im.special[i].end - im.special[i].start));
	rt_printf(2, "; here:");
	for (unsigned j = 0; j < ncur; j++)
		rt_printf(2, " %s %lu", cur[j].name, (unsigned long)(cur[j].end - cur[j].start));
	die("restore on a kernel like the checkpoint's (%.*s)", (int)im.release.len, im.release.p);
}

/* Mapped files must be the ones the program had. */
static void check_files(void)
{
	char path[IMG_MAX_STR + 1];

	for (uint32_t i = 0; i < im.nregs; i++) {
		struct reg *g = &regs[i];
		struct stat st;
		long rc;

		if (g->kind != IMG_FILE_PRIVATE && g->kind != IMG_FILE_SHARED)
			continue;
		cstr(g->path, path, sizeof(path));
		rc = rs_call4(SYS_newfstatat, AT_FDCWD, path, &st, 0);
		if (rc < 0)
			die("the program had %s mapped: %s", path, rt_strerror(rc));
		if ((uint64_t)st.st_size != g->fsize ||
		    (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec != g->fmtime)
			die("%s changed since the checkpoint (size %lu, now %lu); the program had it mapped",
			    path, (unsigned long)g->fsize, (unsigned long)st.st_size);
	}
}

/* Unmap everything of this process but the hole, the special mappings and
 * the image. */
static void unmap_others(void)
{
	long fd = rs_openat(AT_FDCWD, "/proc/self/maps", O_RDONLY | O_CLOEXEC, 0), k;
	size_t n = 0;

	if (fd < 0)
		die("cannot read /proc/self/maps: %s", rt_strerror(fd));
	while ((k = rs_read((int)fd, mapsbuf + n, sizeof(mapsbuf) - 1 - n)) > 0)
		n += (size_t)k;
	rs_close((int)fd);
	mapsbuf[n] = 0;
	for (char *l = mapsbuf; *l;) {
		char *e = strchr(l, '\n'), *p;
		const char *q = l;
		uint64_t a = 0, b = 0;

		if (e)
			*e = 0;
		while (*q != '-')
			a = a << 4 | (uint64_t)(*q <= '9' ? *q - '0' : *q - 'a' + 10), q++;
		q++;
		while (*q != ' ')
			b = b << 4 | (uint64_t)(*q <= '9' ? *q - '0' : *q - 'a' + 10), q++;
		p = strchr(l, '[');
		if (!(a >= im.hole && b <= im.hole + im.hole_len) &&
		    !(a >= im.map_base && b <= im.map_base + im.map_len) &&
		    !(p && (!strcmp(p, "[vdso]") || !strcmp(p, "[vvar]") || !strcmp(p, "[vvar_vclock]") ||
			    !strcmp(p, "[vsyscall]")))) {
			long rc = rs_munmap((void *)a, b - a);

			if (rc < 0)
				die("cannot unmap %#lx-%#lx: %s", (unsigned long)a, (unsigned long)b, rt_strerror(rc));
		}
		if (!e)
			break;
		l = e + 1;
	}
}

/* [vvar], [vvar_vclock], [vdso] to the image's addresses, through the hole. */
static void move_specials(void)
{
	uint64_t temp = im.hole + im.hole_len - STACK_SIZE - TEMP_AREA, clow = ~0ull;

	for (unsigned j = 0; j < ncur; j++)
		if (cur[j].start < clow)
			clow = cur[j].start;
	for (unsigned j = 0; j < ncur; j++) {
		uint64_t to = temp + (cur[j].start - clow);
		long rc = rs_call5(SYS_mremap, cur[j].start, cur[j].end - cur[j].start, cur[j].end - cur[j].start,
				   MREMAP_MAYMOVE | MREMAP_FIXED, to);

		if (rc != (long)to)
			die("cannot move %s: %s", cur[j].name, rt_strerror(rc));
		cur[j].end = to + (cur[j].end - cur[j].start);
		cur[j].start = to;
	}
	for (uint32_t i = 0; i < im.nspecial; i++) {
		struct live *c = &cur[special_map[i]];
		long rc = rs_call5(SYS_mremap, c->start, c->end - c->start, c->end - c->start,
				   MREMAP_MAYMOVE | MREMAP_FIXED, im.special[i].start);

		if (rc != (long)im.special[i].start)
			die("cannot move %s to %#lx: %s", c->name, (unsigned long)im.special[i].start, rt_strerror(rc));
	}
}

static int host_prot(uint8_t p)
{
	return (p & IMG_PROT_R ? PROT_READ : 0) | (p & IMG_PROT_W ? PROT_WRITE : 0) | (p & IMG_PROT_X ? PROT_EXEC : 0);
}

static void map_regions(void)
{
	char path[IMG_MAX_STR + 1];

	for (uint32_t i = 0; i < im.nregs; i++) {
		struct reg *g = &regs[i];
		int prot = PROT_READ | PROT_WRITE, flags = MAP_FIXED_NOREPLACE, fd = -1;
		long rc;

		switch (g->kind) {
		case IMG_ANON_PRIVATE:
			flags |= MAP_PRIVATE | MAP_ANONYMOUS | (g->flags & IMG_RF_GROWSDOWN ? MAP_GROWSDOWN : 0);
			break;
		case IMG_ANON_SHARED:
			flags |= MAP_SHARED | MAP_ANONYMOUS;
			break;
		case IMG_FILE_PRIVATE:
		case IMG_FILE_SHARED:
			flags |= g->kind == IMG_FILE_PRIVATE ? MAP_PRIVATE : MAP_SHARED;
			if (g->kind == IMG_FILE_SHARED)
				prot = host_prot(g->prot);
			rc = rs_openat(AT_FDCWD, cstr(g->path, path, sizeof(path)),
				       (g->kind == IMG_FILE_SHARED && (g->prot & IMG_PROT_W) ? O_RDWR : O_RDONLY) |
					       O_CLOEXEC,
				       0);
			if (rc < 0)
				die("cannot open %s: %s", path, rt_strerror(rc));
			fd = (int)rc;
			break;
		}
		rc = rs_mmap((void *)g->start, g->end - g->start, prot, flags, fd, fd >= 0 ? (int64_t)g->pgoff : 0);
		if (fd >= 0)
			rs_close(fd);
		if (rc != (long)g->start)
			die("cannot map %#lx-%#lx (%s %.*s): %s", (unsigned long)g->start, (unsigned long)g->end,
			    kind_name(g->kind), (int)g->path.len, g->path.p,
			    rc == -EEXIST ? "something is already there" : rt_strerror(rc));
	}
}

static void protect_regions(void)
{
	for (uint32_t i = 0; i < im.nregs; i++) {
		struct reg *g = &regs[i];
		int prot = host_prot(g->prot);
		long rc;

		if (g->kind == IMG_FILE_SHARED || prot == (PROT_READ | PROT_WRITE))
			continue;
		rc = rs_mprotect((void *)g->start, g->end - g->start, prot);
		if (rc < 0)
			die("cannot protect %#lx-%#lx: %s", (unsigned long)g->start, (unsigned long)g->end, rt_strerror(rc));
	}
}

/* brk, arguments, environment, auxv: PR_SET_MM_MAP where permitted. Without
 * it the heap stays an ordinary mapping and malloc carries on with mmap. */
static void set_mm(void)
{
	struct prctl_mm_map m;
	char exe[IMG_MAX_STR + 1];
	long rc, efd;

	if (!im.mm[0] || !im.mm[5] || opt.no_mm)
		return;
	memset(&m, 0, sizeof(m));
	m.start_code = im.mm[0];
	m.end_code = im.mm[1];
	m.start_data = im.mm[2];
	m.end_data = im.mm[3];
	m.start_brk = im.mm[4];
	m.brk = im.mm[5];
	m.start_stack = im.mm[6];
	m.arg_start = im.mm[7];
	m.arg_end = im.mm[8];
	m.env_start = im.mm[9];
	m.env_end = im.mm[10];
	if (im.auxv.len && im.auxv.len <= sizeof(auxv_copy)) {
		memcpy(auxv_copy, im.auxv.p, im.auxv.len);
		m.auxv = auxv_copy;
		m.auxv_size = im.auxv.len;
	}
	efd = im.exe.len ? rs_openat(AT_FDCWD, cstr(im.exe, exe, sizeof(exe)), O_RDONLY | O_CLOEXEC, 0) : -1;
	m.exe_fd = efd >= 0 ? (uint32_t)efd : (uint32_t)-1;
	rc = rs_prctl(PR_SET_MM, PR_SET_MM_MAP, (unsigned long)&m, sizeof(m), 0);
	if (rc < 0 && efd >= 0) {
		m.exe_fd = (uint32_t)-1;
		rc = rs_prctl(PR_SET_MM, PR_SET_MM_MAP, (unsigned long)&m, sizeof(m), 0);
	}
	if (efd >= 0)
		rs_close((int)efd);
	if (opt.debug)
		rt_printf(2, "%s: PR_SET_MM_MAP: %s\n", ME, rc < 0 ? rt_strerror(rc) : "ok");
}

static _Noreturn void jump(void)
{
	rs_arch_prctl(ARCH_SET_FS, im.fs);
	if (im.gs)
		rs_arch_prctl(ARCH_SET_GS, im.gs);
	__asm__ volatile("movq 0(%0), %%rbx\n\t"
			 "movq 8(%0), %%rbp\n\t"
			 "movq 16(%0), %%r12\n\t"
			 "movq 24(%0), %%r13\n\t"
			 "movq 32(%0), %%r14\n\t"
			 "movq 40(%0), %%r15\n\t"
			 "movq 48(%0), %%rsp\n\t"
			 "movl $1, %%eax\n\t"
			 "jmpq *56(%0)\n\t"
			 :
			 : "S"(im.ctx)
			 : "memory");
	__builtin_unreachable();
}

/* --debug: milliseconds since the start of stage 2 at each step. */
static int64_t t_start;

static int64_t now_us(void)
{
	struct {
		int64_t s, ns;
	} ts;

	rs_call2(SYS_clock_gettime, 1 /* CLOCK_MONOTONIC */, &ts);
	return ts.s * 1000000 + ts.ns / 1000;
}

static void step(const char *what)
{
	if (opt.debug) {
		int64_t t = now_us() - t_start;

		rt_printf(2, "%s: %4ld.%03ld ms %s\n", ME, (long)(t / 1000), (long)(t % 1000), what);
	}
}

/* Stage 2: in the hole. */
static _Noreturn void stage2(void)
{
	bool helper;

	t_start = now_us();
	set_tcb();
	fill.verified = VERIFY_NONE;
	load_meta();
	decode_meta();
	check_regions();
	if (!wstr_eq(im.arch, "x86_64"))
		die("%s was checkpointed on %.*s; this is x86_64", opt.path, (int)im.arch.len, im.arch.p);
	if (im.page_size != (uint32_t)opt.page_size)
		die("%s has pages of %u bytes; this kernel's are %ld", opt.path, im.page_size, opt.page_size);
	check_specials();
	check_files();
	map_image(false);
	check_pages();
	fill.end = im.end_off;
	fill.next = im.pages_off;
	new_dctxs(2);
	step("image checked and mapped");
	/* The helper checks the XXH64 meanwhile: a mismatch is found before
	 * the program runs, and refused then as it would be now (die()). */
	if (!opt.no_verify)
		fill.verified = VERIFY_PENDING;
	helper = helper_start();
	if (!helper && !opt.no_verify) {
		fill.verified = VERIFY_NONE;
		verify_xxh64();
		step("checksum verified");
	}
	if (opt.debug)
		rt_printf(2, "%s: restoring %u regions of pid %u%s\n", ME, im.nregs, im.pid,
			  helper ? " on two CPUs" : "");
	past_return = true;
	unmap_others();
	move_specials();
	map_regions();
	step("regions mapped");
	__atomic_store_n(&fill.mapped, 1, __ATOMIC_RELEASE);
	rt_futex_wake(&fill.mapped);
	fill_sections(fill.dctx[0]);
	step("this thread's sections filled");
	helper_join();
	step("the helper's sections filled");
	if (fill.verified == VERIFY_BAD)
		refuse_corrupt();
	fill.verified = VERIFY_NONE;
	protect_regions();
	set_mm();
	rs_munmap((void *)im.map_base, im.map_len);
	rs_close(opt.fd);
	step("resuming the program");
	rt_flush();
	jump();
}

/* Stage 1: copy this loader into the hole and continue there. */
static _Noreturn void move_into_hole(uint64_t base)
{
	const Elf64_Phdr *ph = (const Elf64_Phdr *)(base + __ehdr_start.e_phoff);
	uint64_t span = 0, hole = im.hole, ps = (uint64_t)opt.page_size, entry, sp;
	long rc;

	for (int i = 0; i < __ehdr_start.e_phnum; i++)
		if (ph[i].p_type == PT_LOAD && ph[i].p_vaddr + ph[i].p_memsz > span)
			span = ph[i].p_vaddr + ph[i].p_memsz;
	span = (span + ps - 1) & ~(ps - 1);
	if (span + STACK_SIZE + TEMP_AREA > im.hole_len)
		die("this loader (%lu KiB) does not fit the image's restore hole", (unsigned long)(span >> 10));
	rc = rs_mmap((void *)hole, im.hole_len, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (rc != (long)hole)
		die("the image's restore hole %#lx-%#lx is in use in this process (%s)", (unsigned long)hole,
		    (unsigned long)(hole + im.hole_len), rc == -EEXIST ? "occupied" : rt_strerror(rc));
	for (int i = 0; i < __ehdr_start.e_phnum; i++)
		if (ph[i].p_type == PT_LOAD)
			memcpy((void *)(hole + ph[i].p_vaddr), (const void *)(base + ph[i].p_vaddr), ph[i].p_filesz);
	relocate(base, hole);
	memcpy((void *)(hole + ((uint64_t)&opt - base)), &opt, sizeof(opt));
	for (int i = 0; i < __ehdr_start.e_phnum; i++)
		if (ph[i].p_type == PT_LOAD && (ph[i].p_flags & PF_X)) {
			uint64_t a = ph[i].p_vaddr & ~(ps - 1), b = (ph[i].p_vaddr + ph[i].p_memsz + ps - 1) & ~(ps - 1);

			rs_mprotect((void *)(hole + a), b - a, PROT_READ | PROT_EXEC);
		}
	entry = hole + ((uint64_t)stage2 - base);
	sp = hole + im.hole_len - STACK_TOP_GAP;
	__asm__ volatile("movq %0, %%rsp\n\t"
			 "xorl %%ebp, %%ebp\n\t"
			 "callq *%1\n\t"
			 "hlt"
			 :
			 : "r"(sp), "r"(entry)
			 : "memory");
	__builtin_unreachable();
}

/* Called by _start with the initial stack: argc, argv, NULL, envp, NULL, auxv. */
_Noreturn void loader_start(uint64_t *sp);
_Noreturn void loader_start(uint64_t *sp)
{
	uint64_t base = (uint64_t)&__ehdr_start, all = ~0ull;
	int argc = (int)sp[0], mode = 0; /* 0 restore, 1 info, 2 verify */
	char **argv = (char **)(sp + 1), **envp = argv + argc + 1;
	const char *path = NULL;

	relocate(base, base);
	set_tcb();
	rs_call4(SYS_rt_sigprocmask, SIG_SETMASK, &all, NULL, 8);
	while (*envp)
		envp++;
	opt.page_size = 4096;
	for (uint64_t *a = (uint64_t *)(envp + 1); a[0] != AT_NULL; a += 2)
		if (a[0] == AT_PAGESZ)
			opt.page_size = (long)a[1];
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--info"))
			mode = 1;
		else if (!strcmp(a, "--verify"))
			mode = 2;
		else if (!strcmp(a, "--no-verify"))
			opt.no_verify = true;
		else if (!strcmp(a, "--debug"))
			opt.debug = true;
		else if (!strcmp(a, "--no-mm")) /* as if PR_SET_MM_MAP were not permitted */
			opt.no_mm = true;
		else if ((!strcmp(a, "--offset") || !strcmp(a, "--length")) && i + 1 < argc)
			*(a[2] == 'o' ? &opt.offset : &opt.length) = parse_size(argv[++i]);
		else if (!strcmp(a, "--help") || !strcmp(a, "-h"))
			usage(0);
		else if (a[0] == '-' || path)
			usage(EXIT_USAGE);
		else
			path = a;
	}
	if (!path)
		usage(EXIT_USAGE);
	open_image(path);
	load_meta();
	decode_meta();
	check_regions();
	if (mode) {
		map_image(true);
		check_pages();
	}
	if (mode == 1) {
		verify_xxh64();
		print_info();
		rt_exit(0);
	}
	if (mode == 2) {
		verify_xxh64();
		new_dctxs(1);
		walk_pages(verify_chunk, NULL);
		rt_printf(1, "%s: all checksums match\n", opt.path);
		rt_exit(0);
	}
	move_into_hole(base);
}

__asm__(".text\n"
	".globl _start\n"
	".type _start,@function\n"
	"_start:\n"
	"	xorl %ebp, %ebp\n"
	"	movq %rsp, %rdi\n"
	"	andq $-16, %rsp\n"
	"	callq loader_start\n"
	"	hlt\n"
	".size _start, .-_start\n");
