/* ckpt_mem.c - the memory of the process at a checkpoint: regions from /proc/self/maps, the pages worth saving, LZ4 frames.
 *
 * Each region of /proc/self/maps becomes one entry of the MEMMAP section,
 * except what the kernel recreates ([vdso], [vvar], [vvar_vclock], which are
 * recorded apart so the loader can move the new ones to the same place, and
 * [vsyscall]), the restore hole, and the checkpoint's own scratch mapping.
 *
 * What is saved of a region, from /proc/self/pagemap (present bit 63,
 * swapped bit 62, file-or-shared bit 61):
 *   anonymous private   pages present or swapped (never-touched pages read as zero)
 *   anonymous shared    pages present, swapped, or resident (mincore)
 *   file private        pages present and anonymous (copied on write) or swapped;
 *                       the rest comes from the file, mapped again at restore
 *                       (its size and mtime are recorded and checked)
 *   file shared         nothing: the contents are the file's
 * Up to IMG_CHUNK_PAGES saved pages of one region make one PAGES section: the
 * page runs, then one LZ4 frame (independent blocks, content checksum) of
 * their bytes. A region without read permission is made readable for the
 * time of the copy if it has pages to save.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
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

/* ---- PAGES ------------------------------------------------------------------------------------- */

static LZ4F_cctx *cctx;
static LZ4F_preferences_t prefs;
static uint32_t nruns, chunk_pages;

/* One PAGES section from the runs gathered for region ri. */
static int emit_chunk(struct ckpt_msg *m, uint32_t ri)
{
	struct ckpt_region *r = &ckpt_scr->regions[ri];
	size_t psz = (size_t)ckpt_pagesize, bytes = (size_t)chunk_pages * psz, bound, k;
	const uint8_t *src;
	struct wire_wr w;

	if (!nruns)
		return 0;
	bound = LZ4F_compressFrameBound(bytes, &prefs);
	if (ckpt_sec_begin(&w, IMG_PAGES, 8 + 12 * (size_t)nruns + bound) < 0)
		goto io;
	wire_put_u32(&w, ri);
	wire_put_u32(&w, nruns);
	for (uint32_t i = 0; i < nruns; i++) {
		wire_put_u64(&w, ckpt_scr->run_first[i]);
		wire_put_u32(&w, ckpt_scr->run_count[i]);
	}
	if (nruns == 1) {
		src = (const uint8_t *)(r->start + ckpt_scr->run_first[0] * psz);
	} else {
		uint8_t *d = ckpt_scr->stage;

		for (uint32_t i = 0; i < nruns; i++) {
			size_t n = ckpt_scr->run_count[i] * psz;

			memcpy(d, (const void *)(r->start + ckpt_scr->run_first[i] * psz), n);
			d += n;
		}
		src = ckpt_scr->stage;
	}
	if (w.err)
		goto io;
	k = LZ4F_compressFrame_usingCDict(cctx, w.p, (size_t)(w.end - w.p), src, bytes, NULL, &prefs);
	if (LZ4F_isError(k)) {
		cm_str(m, "LZ4 compression failed: ");
		cm_str(m, LZ4F_getErrorName(k));
		return -1;
	}
	w.p += k;
	if (ckpt_sec_end(&w) < 0)
		goto io;
	ckpt_scr->saved_pages += chunk_pages;
	nruns = 0;
	chunk_pages = 0;
	return 0;
io:
	cm_str(m, "cannot write the image");
	return -1;
}

/* Add page pg (index in region ri) to the chunk; emit it when full. */
static int add_page(struct ckpt_msg *m, uint32_t ri, uint64_t pg)
{
	if (nruns && ckpt_scr->run_first[nruns - 1] + ckpt_scr->run_count[nruns - 1] == pg) {
		ckpt_scr->run_count[nruns - 1]++;
	} else {
		ckpt_scr->run_first[nruns] = pg;
		ckpt_scr->run_count[nruns] = 1;
		nruns++;
	}
	chunk_pages++;
	if (chunk_pages == IMG_CHUNK_PAGES || nruns == IMG_MAX_RUNS)
		return emit_chunk(m, ri);
	return 0;
}

static int dump_region(struct ckpt_msg *m, int pmfd, uint32_t ri)
{
	struct ckpt_region *r = &ckpt_scr->regions[ri];
	uint64_t psz = (uint64_t)ckpt_pagesize, npages = (r->end - r->start) / psz;
	bool opened = false;
	int rc = 0;

	if (r->kind == IMG_FILE_SHARED || (r->flags & IMG_RF_NOSAVE))
		return 0;
	nruns = 0;
	chunk_pages = 0;
	for (uint64_t base = 0; base < npages && !rc; base += CKPT_PAGEMAP_ENTRIES) {
		uint64_t cnt = npages - base < CKPT_PAGEMAP_ENTRIES ? npages - base : CKPT_PAGEMAP_ENTRIES;
		uint64_t *pm = ckpt_scr->pagemap;
		long k = rs_pread(pmfd, pm, cnt * 8, (int64_t)((r->start / psz + base) * 8));

		if (k != (long)(cnt * 8)) {
			why_region(m, r->start, r->end, ": cannot read /proc/self/pagemap");
			cm_err(m, k < 0 ? k : -EIO);
			return -1;
		}
		if (r->kind == IMG_ANON_SHARED &&
		    rs_call3(SYS_mincore, r->start + base * psz, cnt * psz, ckpt_scr->incore) < 0)
			memset(ckpt_scr->incore, 1, cnt);
		for (uint64_t i = 0; i < cnt && !rc; i++) {
			uint64_t e = pm[i];
			bool save;

			switch (r->kind) {
			case IMG_FILE_PRIVATE:
				save = ((e & PM_PRESENT) && !(e & PM_FILE)) || (e & PM_SWAP);
				break;
			case IMG_ANON_SHARED:
				save = (e & (PM_PRESENT | PM_SWAP)) || (ckpt_scr->incore[i] & 1);
				break;
			default:
				save = (e & (PM_PRESENT | PM_SWAP)) != 0;
				break;
			}
			if (!save)
				continue;
			if (!opened && !(r->hprot & PROT_READ)) {
				long e2 = rs_mprotect((void *)r->start, r->end - r->start, r->hprot | PROT_READ);

				if (e2 < 0) {
					why_region(m, r->start, r->end, " cannot be made readable");
					cm_err(m, e2);
					return -1;
				}
			}
			opened = true;
			rc = add_page(m, ri, base + i);
		}
	}
	if (!rc)
		rc = emit_chunk(m, ri);
	if (opened && !(r->hprot & PROT_READ))
		rs_mprotect((void *)r->start, r->end - r->start, r->hprot);
	return rc;
}

int ckpt_mem_write(struct ckpt_msg *m)
{
	LZ4F_CustomMem mem = {arena_alloc, arena_calloc, arena_free, NULL};
	long pmfd;
	int rc = 0;

	if (write_memmap(m) < 0)
		return -1;
	ckpt_scr->arena_used = 0;
	cctx = LZ4F_createCompressionContext_advanced(mem, LZ4F_VERSION);
	if (!cctx) {
		cm_str(m, "cannot create the LZ4 context");
		return -1;
	}
	memset(&prefs, 0, sizeof(prefs));
	prefs.frameInfo.blockSizeID = LZ4F_max4MB;
	prefs.frameInfo.blockMode = LZ4F_blockIndependent;
	prefs.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled;
	prefs.frameInfo.contentSize = 1; /* filled in with the real size */
	pmfd = rs_openat(AT_FDCWD, "/proc/self/pagemap", O_RDONLY | O_CLOEXEC, 0);
	if (pmfd < 0) {
		cm_str(m, "cannot open /proc/self/pagemap");
		cm_err(m, pmfd);
		return -1;
	}
	for (uint32_t i = 0; i < ckpt_scr->nregions && !rc; i++)
		rc = dump_region(m, (int)pmfd, i);
	rs_close((int)pmfd);
	return rc;
}
