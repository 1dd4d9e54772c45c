/* ckpt_mem.c - the memory of the process at a checkpoint: regions from /proc/self/maps, the pages worth saving, LZ4 frames.
 *
 * Each region of /proc/self/maps becomes one entry of the MEMMAP section,
 * except what the kernel recreates ([vdso], [vvar], [vvar_vclock], which are
 * recorded apart so the loader can move the new ones to the same place, and
 * [vsyscall]), the restore hole, and the checkpoint's own scratch mapping.
 *
 * What is saved of a region, from /proc/self/pagemap (present bit 63,
 * swapped bit 62, file-or-shared bit 61):
 *   anonymous private   pages present or swapped (never-touched pages read as zero),
 *                       but not the shared zero page (read, never written; where
 *                       pagemap shows page frame numbers: to root)
 *   anonymous shared    pages present, swapped, or resident (mincore)
 *   file private        pages present and anonymous (copied on write) or swapped;
 *                       the rest comes from the file, mapped again at restore
 *                       (its size and mtime are recorded and checked)
 *   file shared         nothing: the contents are the file's
 * Up to IMG_CHUNK_PAGES saved pages of one region make one PAGES section: the
 * page runs, then one LZ4 frame (independent blocks, no content checksum: the
 * image's XXH64 covers every byte) of their bytes, compressed on two CPUs
 * where there are two (see "PAGES" below). A region without read permission
 * is made readable for the time of the copy if it has pages to save.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LZ4F_STATIC_LINKING_ONLY
#include <lz4frame.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "shim.h"
#include "ckpt.h"
#include "img.h"
#include "rawsys.h"

#define PM_PRESENT (1ull << 63)
#define PM_SWAP (1ull << 62)
#define PM_FILE (1ull << 61)
#define PM_PFN ((1ull << 55) - 1)

uint8_t ckpt_prot_to_img(int hprot)
{
	return (uint8_t)((hprot & PROT_READ ? IMG_PROT_R : 0) | (hprot & PROT_WRITE ? IMG_PROT_W : 0) |
			 (hprot & PROT_EXEC ? IMG_PROT_X : 0));
}

/* ---- LZ4's memory: a bump allocator in the scratch (no malloc in a handler) ---------------- */

static void *arena_alloc(void *st, size_t n)
{
	size_t at = (ckpt_scr->arena_used + 63) & ~(size_t)63;

	(void)st;
	if (n > CKPT_ARENA_SIZE || at > CKPT_ARENA_SIZE - n)
		return NULL;
	ckpt_scr->arena_used = at + n;
	return ckpt_scr->arena + at;
}

static void *arena_calloc(void *st, size_t n)
{
	void *p = arena_alloc(st, n);

	if (p)
		memset(p, 0, n);
	return p;
}

static void arena_free(void *st, void *p)
{
	(void)st;
	(void)p; /* the whole scratch goes at the end of the checkpoint */
}

/* ---- /proc/self/maps ----------------------------------------------------------------------- */

static uint64_t parse_hex(const char **s)
{
	uint64_t v = 0;

	for (;; (*s)++) {
		char c = **s;

		if (c >= '0' && c <= '9')
			v = v << 4 | (uint64_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v << 4 | (uint64_t)(c - 'a' + 10);
		else
			return v;
	}
}

static uint64_t parse_udec(const char **s)
{
	uint64_t v = 0;

	while (**s >= '0' && **s <= '9')
		v = v * 10 + (uint64_t)(*(*s)++ - '0');
	return v;
}

static bool starts(const char *s, const char *p)
{
	return !strncmp(s, p, strlen(p));
}

static bool ends(const char *s, const char *suf)
{
	size_t n = strlen(s), k = strlen(suf);

	return n >= k && !strcmp(s + n - k, suf);
}

static void why_region(struct ckpt_msg *m, uint64_t start, uint64_t end, const char *what)
{
	cm_str(m, "memory ");
	cm_hex(m, start);
	cm_str(m, "-");
	cm_hex(m, end);
	cm_str(m, what);
}

/* Classify r (path, perms parsed); 0 or -1 with m filled. */
static int classify(struct ckpt_msg *m, struct ckpt_region *r)
{
	const char *p = r->path;
	struct stat st;
	long rc;

	if (!p[0] || p[0] == '[') {
		r->kind = r->shared ? IMG_ANON_SHARED : IMG_ANON_PRIVATE;
		if (!strcmp(p, "[heap]"))
			r->flags |= IMG_RF_HEAP;
		if (!strcmp(p, "[stack]"))
			r->flags |= IMG_RF_STACK | IMG_RF_GROWSDOWN;
		return 0;
	}
	if (starts(p, "/anon_hugepage") || starts(p, "/dev/hugepages")) {
		why_region(m, r->start, r->end, " is hugetlb memory, which cannot be checkpointed yet");
		return -1;
	}
	if (starts(p, "/SYSV")) {
		why_region(m, r->start, r->end, " is System V shared memory (shared with other processes),"
						" which cannot be checkpointed yet");
		return -1;
	}
	if (ends(p, " (deleted)")) {
		if (r->shared && (starts(p, "/dev/zero ") || starts(p, "/memfd:"))) {
			r->kind = IMG_ANON_SHARED; /* no child is alive to share it */
			return 0;
		}
		why_region(m, r->start, r->end, " maps the deleted file ");
		cm_str(m, p);
		cm_str(m, " (mapped files must exist to be mapped again)");
		return -1;
	}
	if (!r->shared && !strcmp(p, "/dev/zero")) {
		r->kind = IMG_ANON_PRIVATE;
		r->path = "";
		return 0;
	}
	rc = rs_call4(SYS_newfstatat, AT_FDCWD, p, &st, 0);
	if (rc < 0) {
		why_region(m, r->start, r->end, " maps ");
		cm_str(m, p);
		cm_err(m, rc);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		why_region(m, r->start, r->end, " maps the device ");
		cm_str(m, p);
		cm_str(m, ", which cannot be checkpointed");
		return -1;
	}
	if (st.st_ino != r->ino || major(st.st_dev) != major(r->dev) || minor(st.st_dev) != minor(r->dev)) {
		why_region(m, r->start, r->end, " maps a file that was replaced at ");
		cm_str(m, p);
		cm_str(m, " since it was mapped");
		return -1;
	}
	r->fsize = (uint64_t)st.st_size;
	r->fmtime = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	r->kind = r->shared ? IMG_FILE_SHARED : IMG_FILE_PRIVATE;
	return 0;
}

static int add_region(struct ckpt_msg *m, const struct ckpt_region *t, uint64_t start, uint64_t end)
{
	struct ckpt_region *r;

	if (start >= end)
		return 0;
	if (ckpt_scr->nregions == CKPT_MAX_REGIONS) {
		cm_str(m, "more than ");
		cm_dec(m, CKPT_MAX_REGIONS);
		cm_str(m, " memory regions");
		return -1;
	}
	r = &ckpt_scr->regions[ckpt_scr->nregions++];
	*r = *t;
	if (t->kind == IMG_FILE_PRIVATE || t->kind == IMG_FILE_SHARED)
		r->pgoff = t->pgoff + (start - t->start);
	r->start = start;
	r->end = end;
	ckpt_scr->mem_bytes += end - start;
	return 0;
}

int ckpt_mem_scan(struct ckpt_msg *m, uint64_t lo, uint64_t hi)
{
	struct ckpt_meta *mt = ckpt_meta;
	char *buf = ckpt_scr->maps, *line, *next;
	long fd = rs_openat(AT_FDCWD, "/proc/self/maps", O_RDONLY | O_CLOEXEC, 0), k;
	size_t n = 0;
	uint64_t hole_lo = ckpt_hole, hole_hi = ckpt_hole + IMG_HOLE_SIZE, hole_seen = 0;

	if (fd < 0) {
		cm_str(m, "cannot read /proc/self/maps");
		cm_err(m, fd);
		return -1;
	}
	while ((k = rs_read((int)fd, buf + n, CKPT_MAPS_SIZE - 1 - n)) > 0)
		n += (size_t)k;
	rs_close((int)fd);
	if (n >= CKPT_MAPS_SIZE - 2) {
		cm_str(m, "too many memory regions (/proc/self/maps is over 4 MiB)");
		return -1;
	}
	buf[n] = 0;
	ckpt_scr->nregions = 0;
	mt->nspecial = 0;
	mt->hole = ckpt_hole;
	mt->hole_len = IMG_HOLE_SIZE;
	for (line = buf; *line; line = next) {
		struct ckpt_region r;
		const char *s = line;
		char perms[4];
		uint64_t maj, min;

		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		else
			next = line + strlen(line);
		memset(&r, 0, sizeof(r));
		r.start = parse_hex(&s);
		s++;
		r.end = parse_hex(&s);
		s++;
		memcpy(perms, s, 4);
		s += 5;
		r.pgoff = parse_hex(&s);
		s++;
		maj = parse_hex(&s);
		s++;
		min = parse_hex(&s);
		s++;
		r.dev = makedev(maj, min);
		r.ino = parse_udec(&s);
		while (*s == ' ')
			s++;
		r.path = s;
		r.hprot = (perms[0] == 'r' ? PROT_READ : 0) | (perms[1] == 'w' ? PROT_WRITE : 0) |
			  (perms[2] == 'x' ? PROT_EXEC : 0);
		r.shared = perms[3] == 's';
		if (!strcmp(r.path, "[vsyscall]") || !strcmp(r.path, "[uprobes]"))
			continue;
		if (!strcmp(r.path, "[vdso]") || !strcmp(r.path, "[vvar]") || !strcmp(r.path, "[vvar_vclock]")) {
			struct ckpt_special *sp = &mt->special[mt->nspecial];

			if (mt->nspecial == 4)
				continue;
			mt->nspecial++;
			memset(sp, 0, sizeof(*sp));
			memcpy(sp->name, r.path, strlen(r.path) + 1);
			sp->start = r.start;
			sp->end = r.end;
			if (!strcmp(r.path, "[vdso]"))
				sp->xxh64 = XXH64((const void *)r.start, r.end - r.start, 0);
			continue;
		}
		/* the hole: PROT_NONE anonymous, possibly merged with a neighbour */
		if (r.start < hole_hi && r.end > hole_lo) {
			if (r.hprot || r.path[0] || r.shared) {
				why_region(m, r.start, r.end, " lies in the restore hole the shim reserved at ");
				cm_hex(m, hole_lo);
				cm_str(m, " (the program mapped over it)");
				return -1;
			}
			hole_seen += (r.end < hole_hi ? r.end : hole_hi) - (r.start > hole_lo ? r.start : hole_lo);
		}
		if (classify(m, &r) < 0)
			return -1;
		/* the parts outside the hole and the scratch */
		{
			uint64_t cut[2][2] = {{hole_lo, hole_hi}, {lo, hi}};
			uint64_t a = r.start, b = r.end;

			if (cut[0][0] > cut[1][0]) {
				uint64_t t0 = cut[0][0], t1 = cut[0][1];

				cut[0][0] = cut[1][0];
				cut[0][1] = cut[1][1];
				cut[1][0] = t0;
				cut[1][1] = t1;
			}
			for (int c = 0; c < 2 && a < b; c++) {
				if (cut[c][1] <= a || cut[c][0] >= b)
					continue;
				if (add_region(m, &r, a, cut[c][0] > a ? cut[c][0] : a) < 0)
					return -1;
				a = cut[c][1];
			}
			if (a < b && add_region(m, &r, a, b) < 0)
				return -1;
		}
	}
	if (hole_seen != IMG_HOLE_SIZE) {
		cm_str(m, "the restore hole the shim reserved at ");
		cm_hex(m, hole_lo);
		cm_str(m, " was unmapped or changed by the program");
		return -1;
	}
	return 0;
}

/* ---- MEMMAP ---------------------------------------------------------------------------------- */

static int write_memmap(struct ckpt_msg *m)
{
	struct ckpt_meta *mt = ckpt_meta;
	struct wire_wr w;
	size_t size = 64 + mt->nspecial * 64;

	for (uint32_t i = 0; i < ckpt_scr->nregions; i++)
		size += 80 + strlen(ckpt_scr->regions[i].path);
	if (ckpt_sec_begin(&w, IMG_MEMMAP, size) < 0) {
		cm_str(m, "the region table does not fit the image buffer");
		return -1;
	}
	wire_put_u64(&w, mt->hole);
	wire_put_u64(&w, mt->hole_len);
	wire_put_u32(&w, mt->nspecial);
	for (uint32_t i = 0; i < mt->nspecial; i++) {
		wire_put_str(&w, mt->special[i].name, (uint32_t)strlen(mt->special[i].name));
		wire_put_u64(&w, mt->special[i].start);
		wire_put_u64(&w, mt->special[i].end);
		wire_put_u64(&w, mt->special[i].xxh64);
	}
	wire_put_u32(&w, ckpt_scr->nregions);
	for (uint32_t i = 0; i < ckpt_scr->nregions; i++) {
		struct ckpt_region *r = &ckpt_scr->regions[i];
		size_t pl = strlen(r->path);

		wire_put_u64(&w, r->start);
		wire_put_u64(&w, r->end);
		wire_put_u8(&w, ckpt_prot_to_img(r->hprot));
		wire_put_u8(&w, r->kind);
		wire_put_u8(&w, r->flags);
		wire_put_u64(&w, r->pgoff);
		wire_put_u64(&w, r->dev);
		wire_put_u64(&w, r->ino);
		wire_put_u64(&w, r->fsize);
		wire_put_s64(&w, r->fmtime);
		wire_put_str(&w, r->path, (uint32_t)(pl > IMG_MAX_STR ? IMG_MAX_STR : pl));
	}
	if (ckpt_sec_end(&w) < 0) {
		cm_str(m, "cannot write the region table");
		return -1;
	}
	return 0;
}

/* ---- PAGES: cut into jobs here, compressed on both cores ---------------------------------------- */

/*
 * This thread walks the pagemap and cuts the pages to save into jobs of at
 * most IMG_CHUNK_PAGES pages of one region; each job becomes one PAGES
 * section. A helper that shares our memory (clone with CLONE_VM and exit
 * signal 0, like ckpt_bt.c; all signals blocked) compresses jobs into slots
 * of its own; this thread emits the sections in order, compressing the next
 * one straight into the output buffer itself when the helper has not taken
 * it, and any other waiting job rather than sleeping. A ring of CM_SLOTS
 * jobs bounds the look-ahead. Without a second CPU there is no helper and
 * everything happens here, in the same order: the image is the same.
 *
 * States: FREE -> READY (planned, by this thread) -> BUSY (claimed by a
 * compare-and-swap, by either) -> DONE (compressed into the slot) -> FREE
 * (emitted, by this thread). Waits are futexes; a helper that died is noticed
 * within CM_WAIT_NS and its job compressed here.
 */

#define CM_SLOTS 6u
#define CM_HELPER_STACK (256u << 10)
#define CM_WAIT_NS 100000000L
#define CM_MAX_HDR (IMG_SECTION_HDR + 8 + 12 * IMG_MAX_RUNS)

enum { JOB_FREE, JOB_READY, JOB_BUSY, JOB_DONE };

struct cm_job {
	uint32_t state;      /* JOB_*, atomic */
	uint32_t region, nruns, pages;
	size_t len;          /* bytes of the section in buf, once DONE */
	size_t err;          /* an LZ4F error code, or 0 */
	uint8_t *buf;        /* cm.slot_size bytes */
	uint64_t first[IMG_MAX_RUNS];
	uint32_t count[IMG_MAX_RUNS];
};

static struct {
	uint8_t *area;
	size_t area_size, slot_size;
	struct cm_job *jobs;        /* CM_SLOTS */
	uint8_t *stage[2];          /* gathering several runs: this thread's, the helper's */
	LZ4F_cctx *cctx[2];
	LZ4F_preferences_t prefs;
	uint32_t work;              /* bumped when a job becomes READY (the helper waits on it) */
	uint32_t quit;
	uint64_t emitted;           /* sections emitted (this thread writes it) */
	long helper;                /* the helper's pid, or 0 */
	/* the walk */
	int pmfd;
	uint32_t ri;                /* region */
	uint64_t pg;                /* next page of it */
	uint64_t pm_base, pm_cnt;   /* its pages whose pagemap entries are in ckpt_scr->pagemap */
	uint64_t zero_pfn;          /* the kernel's zero page, 0 if pagemap hides page frames */
} cm;

static void futex_wait(uint32_t *addr, uint32_t val, long ns)
{
	struct timespec ts = {0, ns};

	rs_call4(SYS_futex, addr, FUTEX_WAIT_PRIVATE, val, ns ? &ts : NULL);
}

static void futex_wake(uint32_t *addr)
{
	rs_call3(SYS_futex, addr, FUTEX_WAKE_PRIVATE, 1);
}

/* The whole section of job j into dst (cap >= cm.slot_size): its length, or
 * 0 with j->err set. t is the thread (0 this one, 1 the helper). */
static size_t compress_job(struct cm_job *j, int t, uint8_t *dst, size_t cap)
{
	const struct ckpt_region *r = &ckpt_scr->regions[j->region];
	size_t psz = (size_t)ckpt_pagesize, bytes = (size_t)j->pages * psz, k;
	size_t hdr = IMG_SECTION_HDR + 8 + 12 * (size_t)j->nruns;
	const uint8_t *src;
	struct wire_wr w;

	if (j->nruns == 1) {
		src = (const uint8_t *)(r->start + j->first[0] * psz);
	} else {
		uint8_t *d = cm.stage[t];

		for (uint32_t i = 0; i < j->nruns; i++) {
			size_t n = j->count[i] * psz;

			memcpy(d, (const void *)(r->start + j->first[i] * psz), n);
			d += n;
		}
		src = cm.stage[t];
	}
	k = LZ4F_compressFrame_usingCDict(cm.cctx[t], dst + hdr, cap - hdr, src, bytes, NULL, &cm.prefs);
	if (LZ4F_isError(k)) {
		j->err = k;
		return 0;
	}
	wire_wr_init(&w, dst, hdr);
	wire_put_u32(&w, IMG_PAGES);
	wire_put_u64(&w, hdr - IMG_SECTION_HDR + k);
	wire_put_u32(&w, j->region);
	wire_put_u32(&w, j->nruns);
	for (uint32_t i = 0; i < j->nruns; i++) {
		wire_put_u64(&w, j->first[i]);
		wire_put_u32(&w, j->count[i]);
	}
	return hdr + k;
}

/* Claim a READY job, the oldest first, and compress it into its slot; false
 * if there was none. */
static bool compress_any(int t)
{
	uint64_t from = __atomic_load_n(&cm.emitted, __ATOMIC_ACQUIRE);

	for (uint32_t i = 0; i < CM_SLOTS; i++) {
		struct cm_job *j = &cm.jobs[(from + i) % CM_SLOTS];
		uint32_t ready = JOB_READY;

		if (!__atomic_compare_exchange_n(&j->state, &ready, JOB_BUSY, false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
			continue;
		j->err = 0;
		j->len = compress_job(j, t, j->buf, cm.slot_size);
		__atomic_store_n(&j->state, JOB_DONE, __ATOMIC_RELEASE);
		futex_wake(&j->state);
		return true;
	}
	return false;
}

/* The helper is a process of its own (it shares our memory and files, not
 * our thread group), so a SIGKILL of the program does not take it along by
 * itself: it asks for SIGKILL when its parent dies, and checks for a parent
 * gone before it asked, and while it waits. Left alive it would keep the
 * program's server sockets open, and the job's sessions with them. */
static long helper_parent;

static int helper_main(void *arg)
{
	(void)arg;
	rs_call2(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL);
	for (;;) {
		uint32_t seq = __atomic_load_n(&cm.work, __ATOMIC_ACQUIRE);

		if (__atomic_load_n(&cm.quit, __ATOMIC_ACQUIRE) || rs_call0(SYS_getppid) != helper_parent)
			return 0;
		if (!compress_any(1))
			futex_wait(&cm.work, seq, 100 * 1000 * 1000);
	}
}

/* CPUs this thread may run on. */
static int ncpus(void)
{
	uint64_t mask[16];
	long k = rs_call3(SYS_sched_getaffinity, 0, sizeof(mask), mask);
	int n = 0;

	for (long i = 0; i < k / 8; i++)
		n += __builtin_popcountll(mask[i]);
	return n;
}

/* Start the helper, with every signal blocked (the program's handlers must
 * never run on it). Without it (one CPU, no memory) this thread does all. */
static void helper_start(void)
{
	uint64_t all = ~0ull, old = 0;

	cm.helper = 0;
	if (ncpus() < 2)
		return;
	rs_call4(SYS_rt_sigprocmask, SIG_SETMASK, &all, &old, 8);
	helper_parent = rs_getpid();
	cm.helper = clone(helper_main, cm.area + CM_HELPER_STACK, CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SYSVSEM, NULL);
	rs_call4(SYS_rt_sigprocmask, SIG_SETMASK, &old, NULL, 8);
	if (cm.helper < 0)
		cm.helper = 0;
}

static void helper_stop(void)
{
	int status;

	if (!cm.helper)
		return;
	__atomic_store_n(&cm.quit, 1, __ATOMIC_RELEASE);
	__atomic_add_fetch(&cm.work, 1, __ATOMIC_RELEASE);
	futex_wake(&cm.work);
	while (rs_call4(SYS_wait4, cm.helper, &status, __WCLONE, NULL) == -EINTR)
		;
	cm.helper = 0;
}

/* The helper is gone (killed?): false. Its job, if it held one, is READY again. */
static bool helper_alive(void)
{
	int status;

	if (!cm.helper)
		return false;
	if (rs_call4(SYS_wait4, cm.helper, &status, __WCLONE | WNOHANG, NULL) == 0)
		return true;
	cm.helper = 0;
	for (uint32_t i = 0; i < CM_SLOTS; i++) {
		uint32_t busy = JOB_BUSY;

		__atomic_compare_exchange_n(&cm.jobs[i].state, &busy, JOB_READY, false, __ATOMIC_ACQ_REL,
					    __ATOMIC_RELAXED);
	}
	return false;
}

static bool page_saved(const struct ckpt_region *r, uint64_t e, uint8_t incore)
{
	switch (r->kind) {
	case IMG_FILE_PRIVATE:
		return ((e & PM_PRESENT) && !(e & PM_FILE)) || (e & PM_SWAP);
	case IMG_ANON_SHARED:
		return (e & (PM_PRESENT | PM_SWAP)) || (incore & 1);
	default:
		if (cm.zero_pfn && (e & (PM_PRESENT | PM_SWAP)) == PM_PRESENT && (e & PM_PFN) == cm.zero_pfn)
			return false; /* read but never written: zero, and takes no memory */
		return (e & (PM_PRESENT | PM_SWAP)) != 0;
	}
}

/* The zero page's frame: what a page of ours that was read but never
 * written maps (pagemap shows frames to root only; 0 otherwise). */
static void find_zero_pfn(void)
{
	uint64_t psz = (uint64_t)ckpt_pagesize, probe = (uint64_t)cm.area + cm.area_size - psz, e = 0;

	(void)*(volatile const uint8_t *)probe;
	if (rs_pread(cm.pmfd, &e, 8, (int64_t)(probe / psz * 8)) == 8 && (e & (PM_PRESENT | PM_SWAP)) == PM_PRESENT)
		cm.zero_pfn = e & PM_PFN;
}

/* The next job into j, from where the walk is: 1, 0 when no page is left, -1
 * with m filled. A region without read permission is made readable at its
 * first page to save (ckpt_mem_write puts its protection back at the end). */
static int plan(struct ckpt_msg *m, struct cm_job *j)
{
	uint64_t psz = (uint64_t)ckpt_pagesize;

	j->nruns = 0;
	j->pages = 0;
	for (; cm.ri < ckpt_scr->nregions; cm.ri++, cm.pg = 0, cm.pm_cnt = 0) {
		struct ckpt_region *r = &ckpt_scr->regions[cm.ri];
		uint64_t npages = (r->end - r->start) / psz;

		if (r->kind == IMG_FILE_SHARED || (r->flags & IMG_RF_NOSAVE))
			continue;
		for (; cm.pg < npages; cm.pg++) {
			uint64_t i = cm.pg - cm.pm_base;

			if (cm.pg < cm.pm_base || cm.pg >= cm.pm_base + cm.pm_cnt) {
				uint64_t cnt = npages - cm.pg < CKPT_PAGEMAP_ENTRIES ? npages - cm.pg : CKPT_PAGEMAP_ENTRIES;
				long k = rs_pread(cm.pmfd, ckpt_scr->pagemap, cnt * 8, (int64_t)((r->start / psz + cm.pg) * 8));

				if (k != (long)(cnt * 8)) {
					why_region(m, r->start, r->end, ": cannot read /proc/self/pagemap");
					cm_err(m, k < 0 ? k : -EIO);
					return -1;
				}
				if (r->kind == IMG_ANON_SHARED &&
				    rs_call3(SYS_mincore, r->start + cm.pg * psz, cnt * psz, ckpt_scr->incore) < 0)
					memset(ckpt_scr->incore, 1, cnt);
				cm.pm_base = cm.pg;
				cm.pm_cnt = cnt;
				i = 0;
			}
			if (!page_saved(r, ckpt_scr->pagemap[i], r->kind == IMG_ANON_SHARED ? ckpt_scr->incore[i] : 0))
				continue;
			if (!r->saved && !(r->hprot & PROT_READ)) {
				long e = rs_mprotect((void *)r->start, r->end - r->start, r->hprot | PROT_READ);

				if (e < 0) {
					why_region(m, r->start, r->end, " cannot be made readable");
					cm_err(m, e);
					return -1;
				}
			}
			r->saved++;
			j->region = cm.ri;
			if (j->nruns && j->first[j->nruns - 1] + j->count[j->nruns - 1] == cm.pg) {
				j->count[j->nruns - 1]++;
			} else {
				j->first[j->nruns] = cm.pg;
				j->count[j->nruns] = 1;
				j->nruns++;
			}
			j->pages++;
			if (j->pages == IMG_CHUNK_PAGES || j->nruns == IMG_MAX_RUNS) {
				cm.pg++;
				return 1;
			}
		}
		if (j->pages) { /* the region's last chunk */
			cm.ri++;
			cm.pg = 0;
			cm.pm_cnt = 0;
			return 1;
		}
	}
	return 0;
}

static int lz4_failed(struct ckpt_msg *m, size_t err)
{
	cm_str(m, "LZ4 compression failed: ");
	cm_str(m, LZ4F_getErrorName(err));
	return -1;
}

/* Emit job j, the next in order, READY or DONE (st), and free its slot: 0,
 * 1 if the helper took it meanwhile, -1 with m filled. */
static int emit(struct ckpt_msg *m, struct cm_job *j, uint32_t st)
{
	uint8_t *p;
	size_t n;

	if (st == JOB_READY) {
		if (!__atomic_compare_exchange_n(&j->state, &st, JOB_BUSY, false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
			return 1;
		/* nobody took it: straight into the output buffer */
		p = ckpt_out_reserve(cm.slot_size);
		if (!p)
			goto io;
		j->err = 0;
		n = compress_job(j, 0, p, cm.slot_size);
		if (!n)
			return lz4_failed(m, j->err);
	} else {
		if (j->err)
			return lz4_failed(m, j->err);
		p = ckpt_out_reserve(j->len);
		if (!p)
			goto io;
		memcpy(p, j->buf, j->len);
		n = j->len;
	}
	ckpt_out_commit(n);
	ckpt_scr->saved_pages += j->pages;
	__atomic_store_n(&j->state, JOB_FREE, __ATOMIC_RELEASE);
	__atomic_store_n(&cm.emitted, cm.emitted + 1, __ATOMIC_RELEASE);
	return 0;
io:
	cm_str(m, "cannot write the image");
	return -1;
}

/* Walk, compress and emit every PAGES section. */
static int write_pages(struct ckpt_msg *m)
{
	uint64_t planned = 0;
	bool walking = true;

	for (;;) {
		struct cm_job *j;
		uint32_t st;

		while (walking && planned - cm.emitted < CM_SLOTS) {
			int rc;

			j = &cm.jobs[planned % CM_SLOTS];
			rc = plan(m, j);
			if (rc < 0)
				return -1;
			if (rc == 0) {
				walking = false;
				break;
			}
			__atomic_store_n(&j->state, JOB_READY, __ATOMIC_RELEASE);
			planned++;
			if (cm.helper) {
				__atomic_add_fetch(&cm.work, 1, __ATOMIC_RELEASE);
				futex_wake(&cm.work);
			}
		}
		if (cm.emitted == planned)
			return 0;
		j = &cm.jobs[cm.emitted % CM_SLOTS];
		st = __atomic_load_n(&j->state, __ATOMIC_ACQUIRE);
		if (st == JOB_READY || st == JOB_DONE) {
			if (emit(m, j, st) < 0)
				return -1;
			continue;
		}
		/* the helper is compressing the next one: take another meanwhile */
		if (compress_any(0))
			continue;
		futex_wait(&j->state, JOB_BUSY, CM_WAIT_NS);
		if (__atomic_load_n(&j->state, __ATOMIC_ACQUIRE) == JOB_BUSY)
			helper_alive();
	}
}

/* Our own buffers: the helper's stack, the stages, the jobs and their slots
 * (mapped after the scan, so never part of the image). */
static int map_area(struct ckpt_msg *m)
{
	size_t psz = (size_t)ckpt_pagesize, stage = (size_t)IMG_CHUNK_PAGES * psz, jobs, off;
	long p;

	cm.slot_size = (CM_MAX_HDR + LZ4F_compressFrameBound(stage, &cm.prefs) + psz - 1) & ~(psz - 1);
	jobs = (CM_SLOTS * sizeof(struct cm_job) + psz - 1) & ~(psz - 1);
	cm.area_size = CM_HELPER_STACK + 2 * stage + jobs + CM_SLOTS * cm.slot_size;
	p = rs_mmap(NULL, cm.area_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p < 0 && p > -4096) {
		cm_str(m, "no memory for the compression buffers");
		cm_err(m, p);
		return -1;
	}
	cm.area = (uint8_t *)p;
	off = CM_HELPER_STACK;
	cm.stage[0] = cm.area + off;
	cm.stage[1] = cm.area + off + stage;
	off += 2 * stage;
	cm.jobs = (struct cm_job *)(cm.area + off);
	off += jobs;
	for (uint32_t i = 0; i < CM_SLOTS; i++) {
		cm.jobs[i].state = JOB_FREE;
		cm.jobs[i].buf = cm.area + off + i * cm.slot_size;
	}
	return 0;
}

int ckpt_mem_write(struct ckpt_msg *m)
{
	LZ4F_CustomMem mem = {arena_alloc, arena_calloc, arena_free, NULL};
	long pmfd;
	int rc;

	if (write_memmap(m) < 0)
		return -1;
	memset(&cm, 0, sizeof(cm));
	cm.prefs.frameInfo.blockSizeID = LZ4F_max4MB;
	cm.prefs.frameInfo.blockMode = LZ4F_blockIndependent;
	cm.prefs.frameInfo.contentChecksumFlag = LZ4F_noContentChecksum; /* the image's XXH64 covers it */
	cm.prefs.frameInfo.contentSize = 1; /* filled in with the real size */
	ckpt_scr->arena_used = 0;
	cm.cctx[0] = LZ4F_createCompressionContext_advanced(mem, LZ4F_VERSION);
	cm.cctx[1] = LZ4F_createCompressionContext_advanced(mem, LZ4F_VERSION);
	if (!cm.cctx[0] || !cm.cctx[1]) {
		cm_str(m, "cannot create the LZ4 contexts");
		return -1;
	}
	pmfd = rs_openat(AT_FDCWD, "/proc/self/pagemap", O_RDONLY | O_CLOEXEC, 0);
	if (pmfd < 0) {
		cm_str(m, "cannot open /proc/self/pagemap");
		cm_err(m, pmfd);
		return -1;
	}
	cm.pmfd = (int)pmfd;
	for (uint32_t i = 0; i < ckpt_scr->nregions; i++)
		ckpt_scr->regions[i].saved = 0;
	rc = map_area(m);
	if (rc == 0) {
		find_zero_pfn();
		helper_start();
		rc = write_pages(m);
		helper_stop();
		rs_munmap(cm.area, cm.area_size);
	}
	rs_close(cm.pmfd);
	for (uint32_t i = 0; i < ckpt_scr->nregions; i++) {
		const struct ckpt_region *r = &ckpt_scr->regions[i];

		if (r->saved && !(r->hprot & PROT_READ))
			rs_mprotect((void *)r->start, r->end - r->start, r->hprot);
	}
	return rc;
}
