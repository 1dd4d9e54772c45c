/* image.c - load, check and describe a process image (preload/IMAGE.md) without trusting a byte of it.
 *
 * The image may come from any machine and any file: every integer is read
 * through the wire/ cursors, every count is checked against the bytes that
 * must hold it before anything is allocated for it, and the first rule a
 * byte breaks ends the load with one line naming the section and the rule.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "../../preload/img.h" /* the image format's numbers; constants only */
#include "tool.h"
#include "image.h"

#define TIMG_META_MAX (64u << 20) /* a metadata section larger than this is not real */
#define LZ4_HEAD_MAX 32u           /* bytes of an LZ4 frame's header we look at */
#define FD_MIN_BYTES 64u           /* the smallest FILES entry */
#define REGION_MIN_BYTES 61u       /* the smallest MEMMAP region entry */

static const char *const tag_names[TIMG_MAX_TAG + 1] = {
	"?", "INFO", "CPU", "TASK", "SIGNALS", "FILES", "MEMMAP", "PAGES", "END", "BACKTRACE",
};

static int corrupt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int corrupt(const char *fmt, ...)
{
	char why[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	return terr("the image is corrupt: %s", why);
}

static int io_error(uint64_t at)
{
	if (errno == 0)
		return corrupt("it ends early (at byte %" PRIu64 "): truncated", at);
	return terr("cannot read the image: %s", strerror(errno));
}

int timg_magic(const uint8_t *b)
{
	return !memcmp(b, IMG_MAGIC, 8);
}

/* A string field: within max, no NUL. */
static struct wire_str get_text(struct wire_rd *r, uint32_t max, bool *bad)
{
	struct wire_str s = wire_get_str(r, max);

	if (!r->err && s.len && memchr(s.p, 0, s.len))
		*bad = true;
	return s;
}

/* The reader's verdict: 0, or corrupt() naming the section. */
static int finish(struct wire_rd *r, bool bad, const char *sec)
{
	if (r->err == WIRE_ETRUNC)
		return corrupt("the %s section is shorter than its fields", sec);
	if (r->err == WIRE_ETOOBIG)
		return corrupt("a string or blob of the %s section is longer than allowed", sec);
	if (r->err)
		return corrupt("the %s section: %s", sec, wire_strerror(r->err));
	if (bad)
		return corrupt("a string of the %s section holds a NUL byte", sec);
	if (wire_rd_finish(r))
		return corrupt("the %s section has bytes after its last field", sec);
	return 0;
}

static size_t left(const struct wire_rd *r)
{
	return (size_t)(r->end - r->p);
}

static bool is_x86_64(const struct timg *im)
{
	return im->arch.len == 6 && !memcmp(im->arch.p, "x86_64", 6);
}

/* The end of user space where the image's architecture defines it. */
static uint64_t user_top(const struct timg *im)
{
	return is_x86_64(im) ? IMG_X86_64_USER_TOP : UINT64_MAX;
}

/* ---- sections ---------------------------------------------------------------------------- */

static int dec_info(struct timg *im, const uint8_t *p, size_t n)
{
	struct wire_rd r;
	bool bad = false;

	wire_rd_init(&r, p, n);
	im->arch = get_text(&r, IMG_MAX_STR, &bad);
	im->page_size = wire_get_u32(&r);
	im->release = get_text(&r, IMG_MAX_STR, &bad);
	im->kversion = get_text(&r, IMG_MAX_STR, &bad);
	im->libc = get_text(&r, IMG_MAX_STR, &bad);
	im->shim = get_text(&r, IMG_MAX_STR, &bad);
	im->host = get_text(&r, IMG_MAX_STR, &bad);
	im->pid = wire_get_u32(&r);
	im->tid = wire_get_u32(&r);
	im->time_ns = wire_get_s64(&r);
	im->exe = get_text(&r, IMG_MAX_STR, &bad);
	im->job = get_text(&r, IMG_MAX_STR, &bad);
	im->sig = wire_get_u32(&r);
	if (finish(&r, bad, "INFO"))
		return -1;
	if (im->page_size < 4096 || im->page_size > (1u << 21) || (im->page_size & (im->page_size - 1)))
		return corrupt("INFO: page size %u is not a power of two from 4096 to 2 MiB", im->page_size);
	if (im->sig < 1 || im->sig > 64)
		return corrupt("INFO: checkpoint signal %u is not a signal", im->sig);
	return 0;
}

static int dec_cpu(struct timg *im, const uint8_t *p, size_t n)
{
	struct wire_rd r;

	wire_rd_init(&r, p, n);
	im->nctx = wire_get_u32(&r);
	if (!r.err && (im->nctx > 32 || (size_t)im->nctx * 8 > left(&r) ||
		       (is_x86_64(im) && im->nctx != IMG_X86_64_CTX_REGS)))
		return corrupt("CPU: %u context registers", im->nctx);
	for (uint32_t i = 0; i < im->nctx; i++) {
		uint64_t v = wire_get_u64(&r);

		if (i < 8)
			im->ctx[i] = v;
	}
	im->fs_base = wire_get_u64(&r);
	im->gs_base = wire_get_u64(&r);
	im->ngregs = wire_get_u32(&r);
	if (!r.err && (im->ngregs > 64 || (size_t)im->ngregs * 8 > left(&r)))
		return corrupt("CPU: %u registers", im->ngregs);
	for (uint32_t i = 0; i < im->ngregs; i++)
		im->gregs[i] = wire_get_u64(&r);
	return finish(&r, false, "CPU");
}

static int dec_task(struct timg *im, const uint8_t *p, size_t n)
{
	struct wire_rd r;
	bool bad = false;

	wire_rd_init(&r, p, n);
	im->tid_offset = (int32_t)wire_get_u32(&r);
	im->tid_address = wire_get_u64(&r);
	im->robust_head = wire_get_u64(&r);
	im->robust_len = wire_get_u64(&r);
	im->rseq_area = wire_get_u64(&r);
	im->rseq_len = wire_get_u32(&r);
	im->rseq_sig = wire_get_u32(&r);
	for (int i = 0; i < 11; i++)
		im->mm[i] = wire_get_u64(&r);
	im->auxv = wire_get_blob(&r, IMG_MAX_AUXV);
	im->umask = wire_get_u32(&r);
	im->cwd = get_text(&r, IMG_MAX_STR, &bad);
	im->comm = get_text(&r, IMG_MAX_STR, &bad);
	im->task_exe = get_text(&r, IMG_MAX_STR, &bad);
	im->nrlimits = wire_get_u32(&r);
	if (!r.err && im->nrlimits > IMG_MAX_RLIMITS)
		return corrupt("TASK: %u resource limits (at most %u)", im->nrlimits, IMG_MAX_RLIMITS);
	for (uint32_t i = 0; i < im->nrlimits && !r.err; i++) {
		im->rlimits[i].resource = wire_get_u32(&r);
		im->rlimits[i].cur = wire_get_u64(&r);
		im->rlimits[i].max = wire_get_u64(&r);
		if (!r.err && (im->rlimits[i].resource >= IMG_MAX_RLIMITS ||
			       (i && im->rlimits[i].resource <= im->rlimits[i - 1].resource)))
			return corrupt("TASK: resource limit %u out of order or unknown", im->rlimits[i].resource);
	}
	im->nitimers = wire_get_u32(&r);
	if (!r.err && im->nitimers > 3)
		return corrupt("TASK: %u interval timers (at most 3)", im->nitimers);
	for (uint32_t i = 0; i < im->nitimers && !r.err; i++) {
		uint32_t which = wire_get_u32(&r);

		for (int k = 0; k < 4; k++)
			wire_get_u64(&r);
		if (!r.err && which > 2)
			return corrupt("TASK: interval timer %u", which);
	}
	if (finish(&r, bad, "TASK"))
		return -1;
	if (im->umask > 0777)
		return corrupt("TASK: umask %#o", im->umask);
	if (im->auxv.len % 16)
		return corrupt("TASK: an auxiliary vector of %u bytes is not whole entries", im->auxv.len);
	if (im->rseq_area && (im->rseq_len < 32 || im->rseq_len > 4096))
		return corrupt("TASK: an rseq area of %u bytes", im->rseq_len);
	for (int i = 0; i < 5; i++) {
		static const uint8_t pair[5] = {0, 2, 4, 7, 9}; /* code, data, brk, arguments, environment */

		if (im->mm[pair[i]] > im->mm[pair[i] + 1])
			return corrupt("TASK: mm field %d (%#" PRIx64 ") is past its end (%#" PRIx64 ")", pair[i],
				       im->mm[pair[i]], im->mm[pair[i] + 1]);
	}
	return 0;
}

static int dec_signals(struct timg *im, const uint8_t *p, size_t n)
{
	struct wire_rd r;

	wire_rd_init(&r, p, n);
	im->sig_signal = wire_get_u32(&r);
	im->blocked = wire_get_u64(&r);
	im->pending = wire_get_u64(&r);
	im->altstack_sp = wire_get_u64(&r);
	im->altstack_flags = wire_get_u32(&r);
	im->altstack_size = wire_get_u64(&r);
	im->nacts = wire_get_u32(&r);
	if (!r.err && im->nacts > IMG_MAX_SIGNALS)
		return corrupt("SIGNALS: %u actions (at most %u)", im->nacts, IMG_MAX_SIGNALS);
	for (uint32_t i = 0; i < im->nacts && !r.err; i++) {
		struct timg_act *a = &im->acts[i];

		a->signo = wire_get_u32(&r);
		a->handler = wire_get_u64(&r);
		a->flags = wire_get_u64(&r);
		a->restorer = wire_get_u64(&r);
		a->mask = wire_get_u64(&r);
		if (!r.err && (a->signo < 1 || a->signo > 64 || (i && a->signo <= im->acts[i - 1].signo)))
			return corrupt("SIGNALS: action of signal %u out of order or not a signal", a->signo);
	}
	if (finish(&r, false, "SIGNALS"))
		return -1;
	if (im->sig_signal != im->sig)
		return corrupt("SIGNALS names signal %u, INFO signal %u", im->sig_signal, im->sig);
	return 0;
}

struct fdkey {
	uint32_t fd, index;
};

static int fdkey_cmp(const void *a, const void *b)
{
	const struct fdkey *x = a, *y = b;

	return x->fd < y->fd ? -1 : x->fd > y->fd;
}

static int dec_files(struct timg *im, const uint8_t *p, size_t n)
{
	struct wire_rd r;
	struct fdkey *keys;
	bool bad = false;
	int rc = 0;

	wire_rd_init(&r, p, n);
	im->nfds = wire_get_u32(&r);
	if (!r.err && (im->nfds > IMG_MAX_FDS || (size_t)im->nfds * FD_MIN_BYTES > left(&r)))
		return corrupt("FILES: %u fds do not fit its %zu bytes (or are over %u)", im->nfds, n,
			       IMG_MAX_FDS);
	if (r.err)
		return finish(&r, false, "FILES");
	im->fds = calloc(im->nfds ? im->nfds : 1, sizeof(*im->fds));
	keys = calloc(im->nfds ? im->nfds : 1, sizeof(*keys));
	if (!im->fds || !keys) {
		free(keys);
		return terr("out of memory");
	}
	for (uint32_t i = 0; i < im->nfds && !r.err; i++) {
		struct timg_fd *f = &im->fds[i];

		f->fd = wire_get_u32(&r);
		f->kind = wire_get_u8(&r);
		f->cloexec = wire_get_u8(&r);
		f->flags = wire_get_u32(&r);
		f->offset = wire_get_s64(&r);
		f->share_with = (int32_t)wire_get_u32(&r);
		f->path = get_text(&r, IMG_MAX_STR, &bad);
		f->size = wire_get_s64(&r);
		f->mtime_ns = wire_get_s64(&r);
		f->mode = wire_get_u32(&r);
		f->dev = wire_get_u64(&r);
		f->ino = wire_get_u64(&r);
		f->mount = get_text(&r, IMG_MAX_STR, &bad);
		f->rel = get_text(&r, IMG_MAX_STR, &bad);
		if (r.err)
			break;
		if (f->fd > INT32_MAX || f->kind < IMG_FD_FILE || f->kind > IMG_FD_STD || f->cloexec > 1 ||
		    f->offset < -1 || f->share_with < -1) {
			rc = corrupt("FILES: the entry of fd %u is invalid (kind %u, offset %" PRId64 ")", f->fd,
				     f->kind, f->offset);
			break;
		}
		if ((f->kind == IMG_FD_REMOTE) != (f->mount.len > 0) || (f->kind != IMG_FD_REMOTE && f->rel.len)) {
			rc = corrupt("FILES: fd %u: a %s fd %s a mount", f->fd,
				     f->kind == IMG_FD_REMOTE ? "remote" : "local",
				     f->kind == IMG_FD_REMOTE ? "without" : "with");
			break;
		}
		keys[i] = (struct fdkey){f->fd, i};
	}
	if (!rc)
		rc = finish(&r, bad, "FILES");
	if (!rc) {
		qsort(keys, im->nfds, sizeof(*keys), fdkey_cmp);
		for (uint32_t i = 1; i < im->nfds && !rc; i++)
			if (keys[i].fd == keys[i - 1].fd)
				rc = corrupt("FILES: fd %u appears twice", keys[i].fd);
		for (uint32_t i = 0; i < im->nfds && !rc; i++) {
			const struct timg_fd *f = &im->fds[i];
			struct fdkey k = {(uint32_t)f->share_with, 0}, *hit;

			if (f->share_with < 0)
				continue;
			hit = bsearch(&k, keys, im->nfds, sizeof(*keys), fdkey_cmp);
			if (!hit || hit->index >= i)
				rc = corrupt("FILES: fd %u shares its file with fd %d, which is not earlier in the table",
					     f->fd, f->share_with);
		}
	}
	free(keys);
	return rc;
}

static int dec_backtrace(struct timg *im, const uint8_t *p, size_t n)
{
	struct wire_rd r;
	bool bad = false;

	im->has_bt = true;
	if (!n) {
		im->bt_empty = true;
		return 0;
	}
	wire_rd_init(&r, p, n);
	im->bt_end = wire_get_u8(&r);
	im->bt_nobjs = wire_get_u32(&r);
	if (!r.err && (im->bt_end > IMG_BT_CRASHED || im->bt_nobjs > IMG_BT_MAX_FRAMES))
		return corrupt("BACKTRACE: end %u, %u objects", im->bt_end, im->bt_nobjs);
	for (uint32_t i = 0; i < im->bt_nobjs && !r.err; i++)
		im->bt_objs[i] = get_text(&r, IMG_MAX_STR, &bad);
	im->bt_nframes = wire_get_u32(&r);
	if (!r.err && im->bt_nframes > IMG_BT_MAX_FRAMES)
		return corrupt("BACKTRACE: %u frames (at most %u)", im->bt_nframes, IMG_BT_MAX_FRAMES);
	for (uint32_t i = 0; i < im->bt_nframes && !r.err; i++) {
		struct timg_frame *f = &im->bt_frames[i];

		f->pc = wire_get_u64(&r);
		f->proc_off = wire_get_u64(&r);
		f->obj = wire_get_u16(&r);
		f->obj_off = wire_get_u64(&r);
		f->name = get_text(&r, IMG_BT_MAX_NAME, &bad);
		if (!r.err && f->obj != 0xffff && f->obj >= im->bt_nobjs)
			return corrupt("BACKTRACE: frame %u names object %u of %u", i, f->obj, im->bt_nobjs);
	}
	return finish(&r, bad, "BACKTRACE");
}

/* The region holding address a, or NULL. */
static const struct timg_region *region_of(const struct timg *im, uint64_t a)
{
	uint32_t lo = 0, hi = im->nregions;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (a < im->regions[mid].start)
			hi = mid;
		else if (a >= im->regions[mid].end)
			lo = mid + 1;
		else
			return &im->regions[mid];
	}
	return NULL;
}

/* x86_64: the checkpoint handler resumes in code, on a writable stack, with
 * its TLS in a region (what ckpt-restore jumps to). */
static int check_resume(const struct timg *im)
{
	const struct timg_region *g = region_of(im, im->ctx[7]);

	if (!g || !(g->prot & IMG_PROT_X))
		return corrupt("CPU: the resume address %#" PRIx64 " is in no executable region", im->ctx[7]);
	g = im->ctx[6] ? region_of(im, im->ctx[6] - 1) : NULL;
	if (!g || !(g->prot & IMG_PROT_W))
		return corrupt("CPU: the resume stack %#" PRIx64 " is in no writable region", im->ctx[6]);
	if (im->fs_base && !region_of(im, im->fs_base))
		return corrupt("CPU: the FS base %#" PRIx64 " is in no region", im->fs_base);
	return 0;
}

static int dec_memmap(struct timg *im, const uint8_t *p, size_t n)
{
	struct wire_rd r;
	bool bad = false;
	uint64_t ps = im->page_size, prev = 0;

	wire_rd_init(&r, p, n);
	im->hole = wire_get_u64(&r);
	im->hole_len = wire_get_u64(&r);
	im->nspecial = wire_get_u32(&r);
	if (!r.err && im->nspecial > IMG_MAX_SPECIAL)
		return corrupt("MEMMAP: %u special mappings (at most %u)", im->nspecial, IMG_MAX_SPECIAL);
	for (uint32_t i = 0; i < im->nspecial && !r.err; i++) {
		struct timg_special *s = &im->special[i];

		s->name = get_text(&r, 32, &bad);
		s->start = wire_get_u64(&r);
		s->end = wire_get_u64(&r);
		s->xxh64 = wire_get_u64(&r);
		if (!r.err && (!s->start || s->start >= s->end || s->start % ps || s->end % ps || s->end > user_top(im)))
			return corrupt("MEMMAP: special mapping %u is empty, reversed, not whole pages or not in user space",
				       i);
		for (uint32_t j = 0; j < i && !r.err; j++)
			if (s->start < im->special[j].end && im->special[j].start < s->end)
				return corrupt("MEMMAP: special mappings %u and %u overlap", j, i);
	}
	im->nregions = wire_get_u32(&r);
	if (!r.err && (im->nregions > IMG_MAX_REGIONS || (size_t)im->nregions * REGION_MIN_BYTES > left(&r)))
		return corrupt("MEMMAP: %u regions do not fit its %zu bytes (or are over %u)", im->nregions, n,
			       IMG_MAX_REGIONS);
	if (r.err)
		return finish(&r, false, "MEMMAP");
	if (!im->hole || !im->hole_len || im->hole % ps || im->hole_len % ps || im->hole + im->hole_len < im->hole ||
	    im->hole + im->hole_len > user_top(im) || (is_x86_64(im) && im->hole_len != IMG_HOLE_SIZE))
		return corrupt("MEMMAP: the restore hole %#" PRIx64 " + %#" PRIx64 " is not whole pages of user space"
			       " (or not the size of its architecture's)", im->hole, im->hole_len);
	for (uint32_t i = 0; i < im->nspecial; i++)
		if (im->special[i].start < im->hole + im->hole_len && im->special[i].end > im->hole)
			return corrupt("MEMMAP: special mapping %u lies in the restore hole", i);
	im->regions = calloc(im->nregions ? im->nregions : 1, sizeof(*im->regions));
	if (!im->regions)
		return terr("out of memory");
	for (uint32_t i = 0; i < im->nregions && !r.err; i++) {
		struct timg_region *g = &im->regions[i];

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
		g->path = get_text(&r, IMG_MAX_STR, &bad);
		if (r.err)
			break;
		if (g->start >= g->end || g->start % ps || g->end % ps || !g->start || g->end > user_top(im))
			return corrupt("MEMMAP: region %u (%#" PRIx64 "-%#" PRIx64 ") is empty, not whole pages or"
				       " not in user space", i, g->start, g->end);
		if (g->start < prev)
			return corrupt("MEMMAP: region %u (%#" PRIx64 "-%#" PRIx64 ") overlaps or precedes the one before",
				       i, g->start, g->end);
		if (g->start < im->hole + im->hole_len && g->end > im->hole)
			return corrupt("MEMMAP: region %u lies in the restore hole", i);
		if (g->prot > 7 || g->kind < IMG_ANON_PRIVATE || g->kind > IMG_FILE_SHARED || g->flags > 0xf)
			return corrupt("MEMMAP: region %u has protection %u, kind %u, flags %#x", i, g->prot, g->kind,
				       g->flags);
		if ((g->kind == IMG_FILE_PRIVATE || g->kind == IMG_FILE_SHARED) && !g->path.len)
			return corrupt("MEMMAP: region %u maps a file without a path", i);
		for (uint32_t j = 0; j < im->nspecial; j++)
			if (g->start < im->special[j].end && im->special[j].start < g->end)
				return corrupt("MEMMAP: region %u overlaps special mapping %u", i, j);
		prev = g->end;
	}
	if (finish(&r, bad, "MEMMAP"))
		return -1;
	return is_x86_64(im) ? check_resume(im) : 0;
}

/* PAGES: p holds the first n of the section's len bytes. */
static int dec_pages(struct timg *im, const uint8_t *p, size_t n, uint64_t len)
{
	struct wire_rd r;
	uint32_t ri, nruns;
	uint64_t pages = 0, npages, frame_len;
	const uint8_t *f;
	struct timg_region *g;

	wire_rd_init(&r, p, n);
	ri = wire_get_u32(&r);
	nruns = wire_get_u32(&r);
	if (r.err)
		return corrupt("a PAGES section is shorter than its header");
	if (ri >= im->nregions)
		return corrupt("a PAGES section names region %u of %u", ri, im->nregions);
	if (!nruns || nruns > IMG_MAX_RUNS || 8 + 12 * (uint64_t)nruns > len)
		return corrupt("a PAGES section of region %u has %u page runs in %" PRIu64 " bytes", ri, nruns, len);
	g = &im->regions[ri];
	if (g->kind == IMG_FILE_SHARED || (g->flags & IMG_RF_NOSAVE))
		return corrupt("PAGES of region %u, whose contents are never saved", ri);
	npages = (g->end - g->start) / im->page_size;
	for (uint32_t i = 0; i < nruns; i++) {
		uint64_t first = wire_get_u64(&r);
		uint32_t cnt = wire_get_u32(&r);

		if (!cnt || first < g->next_page || first >= npages || cnt > npages - first)
			return corrupt("PAGES of region %u: the run of %u pages at page %" PRIu64
				       " is outside the region or repeats a saved page", ri, cnt, first);
		g->next_page = first + cnt;
		pages += cnt;
	}
	if (pages > IMG_CHUNK_PAGES)
		return corrupt("a PAGES section of region %u holds %" PRIu64 " pages (at most %u)", ri, pages,
			       IMG_CHUNK_PAGES);
	/* the LZ4 frame: magic 0x184D2204 (little-endian, as LZ4 defines it),
	 * version 01, and its content size when it has one */
	f = r.p;
	frame_len = len - (8 + 12 * (uint64_t)nruns);
	if (frame_len < 7 || left(&r) < 7)
		return corrupt("PAGES of region %u: no LZ4 frame", ri);
	if (f[0] != 0x04 || f[1] != 0x22 || f[2] != 0x4d || f[3] != 0x18 || (f[4] >> 6) != 1)
		return corrupt("PAGES of region %u: not an LZ4 frame", ri);
	if (f[4] & 0x08) {
		uint64_t size = 0;

		if (left(&r) < 14)
			return corrupt("PAGES of region %u: a cut LZ4 frame header", ri);
		for (int i = 7; i >= 0; i--)
			size = size << 8 | f[6 + i];
		if (size != pages * im->page_size)
			return corrupt("PAGES of region %u: the LZ4 frame holds %" PRIu64 " bytes for %" PRIu64
				       " pages", ri, size, pages);
	}
	g->saved += pages;
	im->pages_counted += pages;
	im->pages_bytes += frame_len;
	return 0;
}

/* ---- the walk ---------------------------------------------------------------------------- */

/* The rank a known section must respect: INFO..FILES, MEMMAP in this order;
 * BACKTRACE after FILES; PAGES after MEMMAP. */
static int order_ok(const struct timg *im, uint32_t tag)
{
	switch (tag) {
	case IMG_INFO:
		return 1;
	case IMG_CPU:
	case IMG_TASK:
	case IMG_SIGNALS:
	case IMG_FILES:
		return im->nsec[tag - 1] == 1;
	case IMG_BACKTRACE:
		return im->nsec[IMG_FILES] == 1 && !im->nsec[IMG_PAGES];
	case IMG_MEMMAP:
		return im->nsec[IMG_FILES] == 1;
	case IMG_PAGES:
		return im->nsec[IMG_MEMMAP] == 1;
	}
	return 1;
}

int timg_load(struct timg *im, int fd, uint64_t off, uint64_t len)
{
	uint8_t b[IMG_FOOTER_SIZE], *head = NULL;
	struct wire_rd r;
	uint64_t at, sum, mapped = 0;
	uint32_t version;
	int rc = -1;

	memset(im, 0, sizeof(*im));
	im->len = len;
	if (len < IMG_HEADER_SIZE + IMG_SECTION_HDR + IMG_FOOTER_SIZE)
		return corrupt("%" PRIu64 " bytes are too few for an image", len);
	if (read_at(fd, b, IMG_HEADER_SIZE, off) < 0)
		return io_error(0);
	if (!timg_magic(b))
		return terr("not a checkpoint image (bad magic)");
	wire_rd_init(&r, b + 8, 8);
	version = wire_get_u32(&r);
	if (version != IMG_VERSION)
		return terr("image format version %u; this tool reads version %u", version, IMG_VERSION);
	if (wire_get_u32(&r) != 0)
		return corrupt("header flags are not 0");
	if (read_at(fd, b, IMG_FOOTER_SIZE, off + len - IMG_FOOTER_SIZE) < 0)
		return io_error(len - IMG_FOOTER_SIZE);
	if (memcmp(b, IMG_END_MAGIC, 8))
		return corrupt("no footer: truncated, or the checkpoint did not finish");
	wire_rd_init(&r, b + 8, 16);
	im->body_len = wire_get_u64(&r);
	im->xxh64 = wire_get_u64(&r);
	if (im->body_len != len - IMG_FOOTER_SIZE)
		return corrupt("the footer says %" PRIu64 " bytes before it, there are %" PRIu64
			       ": truncated or grown", im->body_len, len - IMG_FOOTER_SIZE);
	if (hash_range(fd, off, im->body_len, &sum) < 0)
		return io_error(0);
	if (sum != im->xxh64)
		return corrupt("XXH64 checksum mismatch (%016" PRIx64 ", the footer says %016" PRIx64 ")", sum,
			       im->xxh64);
	head = malloc(8 + 12 * IMG_MAX_RUNS + LZ4_HEAD_MAX);
	if (!head)
		return terr("out of memory");
	for (at = IMG_HEADER_SIZE;;) {
		uint32_t tag;
		uint64_t slen;
		const char *name;

		if (at == im->body_len) {
			corrupt("no END section");
			goto out;
		}
		if (im->body_len - at < IMG_SECTION_HDR) {
			corrupt("a section header is cut at byte %" PRIu64, at);
			goto out;
		}
		if (read_at(fd, b, IMG_SECTION_HDR, off + at) < 0) {
			io_error(at);
			goto out;
		}
		wire_rd_init(&r, b, IMG_SECTION_HDR);
		tag = wire_get_u32(&r);
		slen = wire_get_u64(&r);
		at += IMG_SECTION_HDR;
		if (slen > im->body_len - at) {
			corrupt("a section (tag %u) of %" PRIu64 " bytes runs past the end, at byte %" PRIu64, tag, slen,
				at);
			goto out;
		}
		if (tag == 0 || tag > TIMG_MAX_TAG) { /* a later format's section: skipped */
			im->nsec[0]++;
			im->secbytes[0] += slen;
			at += slen;
			continue;
		}
		name = tag_names[tag];
		if (tag != IMG_PAGES && im->nsec[tag]) {
			corrupt("a second %s section", name);
			goto out;
		}
		if (im->nsec[IMG_END] || !order_ok(im, tag)) {
			corrupt("the %s section at byte %" PRIu64 " is out of order", name, at - IMG_SECTION_HDR);
			goto out;
		}
		im->nsec[tag]++;
		im->secbytes[tag] += slen;
		if (tag == IMG_PAGES) {
			size_t n = slen < 8 + 12 * IMG_MAX_RUNS + LZ4_HEAD_MAX ? (size_t)slen
										: 8 + 12 * IMG_MAX_RUNS + LZ4_HEAD_MAX;

			if (read_at(fd, head, n, off + at) < 0) {
				io_error(at);
				goto out;
			}
			if (dec_pages(im, head, n, slen) < 0)
				goto out;
		} else if (tag == IMG_END) {
			if (slen != 16 || at + slen != im->body_len) {
				corrupt(slen != 16 ? "the END section is not 16 bytes" : "sections after the END section");
				goto out;
			}
			if (read_at(fd, b, 16, off + at) < 0) {
				io_error(at);
				goto out;
			}
			wire_rd_init(&r, b, 16);
			im->end_pages = wire_get_u64(&r);
			im->end_mapped = wire_get_u64(&r);
			break;
		} else {
			if (slen > TIMG_META_MAX) {
				corrupt("the %s section claims %" PRIu64 " bytes", name, slen);
				goto out;
			}
			im->buf[tag] = malloc(slen ? (size_t)slen : 1);
			if (!im->buf[tag]) {
				terr("out of memory");
				goto out;
			}
			if (read_at(fd, im->buf[tag], (size_t)slen, off + at) < 0) {
				io_error(at);
				goto out;
			}
			switch (tag) {
			case IMG_INFO:
				rc = dec_info(im, im->buf[tag], (size_t)slen);
				break;
			case IMG_CPU:
				rc = dec_cpu(im, im->buf[tag], (size_t)slen);
				break;
			case IMG_TASK:
				rc = dec_task(im, im->buf[tag], (size_t)slen);
				break;
			case IMG_SIGNALS:
				rc = dec_signals(im, im->buf[tag], (size_t)slen);
				break;
			case IMG_FILES:
				rc = dec_files(im, im->buf[tag], (size_t)slen);
				break;
			case IMG_MEMMAP:
				rc = dec_memmap(im, im->buf[tag], (size_t)slen);
				break;
			case IMG_BACKTRACE:
				rc = dec_backtrace(im, im->buf[tag], (size_t)slen);
				break;
			}
			if (rc < 0)
				goto out;
			rc = -1;
		}
		at += slen;
	}
	for (uint32_t t = IMG_INFO; t <= IMG_MEMMAP; t++)
		if (!im->nsec[t]) {
			corrupt("no %s section", tag_names[t]);
			goto out;
		}
	for (uint32_t i = 0; i < im->nregions; i++)
		mapped += im->regions[i].end - im->regions[i].start;
	if (im->end_pages != im->pages_counted || im->end_mapped != mapped) {
		corrupt("END counts %" PRIu64 " pages saved and %" PRIu64 " bytes mapped; the sections hold %" PRIu64
			" and %" PRIu64, im->end_pages, im->end_mapped, im->pages_counted, mapped);
		goto out;
	}
	rc = 0;
out:
	free(head);
	return rc;
}

void timg_free(struct timg *im)
{
	for (unsigned i = 0; i <= TIMG_MAX_TAG; i++)
		free(im->buf[i]);
	free(im->fds);
	free(im->regions);
	memset(im, 0, sizeof(*im));
}

/* ---- describing it ---------------------------------------------------------------------------- */

static void put_str(FILE *o, struct wire_str s)
{
	put_text(o, s.p, s.len);
}

static const char *region_kind(uint8_t k)
{
	switch (k) {
	case IMG_ANON_PRIVATE: return "anon";
	case IMG_ANON_SHARED: return "anon-shared";
	case IMG_FILE_PRIVATE: return "file";
	case IMG_FILE_SHARED: return "file-shared";
	}
	return "?";
}

static const char *fd_kind(uint8_t k)
{
	switch (k) {
	case IMG_FD_FILE: return "file";
	case IMG_FD_DIR: return "dir";
	case IMG_FD_DEV: return "dev";
	case IMG_FD_PATH: return "path";
	case IMG_FD_REMOTE: return "remote";
	case IMG_FD_STD: return "std";
	}
	return "?";
}

/* The access mode and append bit, as every Linux names them: O_ACCMODE 3,
 * O_APPEND 02000 (x86_64, aarch64 and s390x agree on these). */
static const char *oflags_text(uint32_t fl, char *buf, size_t cap)
{
	static const char *const acc[4] = {"r", "w", "rw", "?"};

	snprintf(buf, cap, "%s%s", acc[fl & 3], fl & 02000 ? ",append" : "");
	return buf;
}

/* The kernel's SA_SIGINFO/SA_RESTART/... flags are per architecture; the
 * handler value is not: 0 default, 1 ignore. */
static void put_action(FILE *o, const struct timg_act *a)
{
	char s[32];

	fprintf(o, "  %-12s ", linux_signame(a->signo, s, sizeof(s)));
	if (a->handler == 0)
		fprintf(o, "default");
	else if (a->handler == 1)
		fprintf(o, "ignored");
	else
		fprintf(o, "handler %#" PRIx64, a->handler);
	fprintf(o, ", flags %#" PRIx64 ", mask %#" PRIx64 "\n", a->flags, a->mask);
}

static void put_sigset(FILE *o, uint64_t set)
{
	char s[32];
	int any = 0;

	for (uint32_t i = 1; i <= 64; i++)
		if (set & (UINT64_C(1) << (i - 1))) {
			fprintf(o, "%s%s", any ? " " : "", linux_signame(i, s, sizeof(s)));
			any = 1;
		}
	if (!any)
		fprintf(o, "none");
}

static void put_mib(FILE *o, uint64_t bytes)
{
	fprintf(o, "%.1f MiB", (double)bytes / 1048576.0);
}

void timg_print(const struct timg *im, FILE *o)
{
	char t[64];
	uint64_t mapped = 0;
	unsigned nacts = 0;

	fprintf(o, "image        %" PRIu64 " bytes, format %u, xxh64 %016" PRIx64 "\n", im->len, IMG_VERSION,
		im->xxh64);
	fprintf(o, "sections     ");
	for (unsigned tg = 1; tg <= TIMG_MAX_TAG; tg++) {
		if (!im->nsec[tg])
			continue;
		fprintf(o, "%s%s", tg == IMG_INFO ? "" : ", ", tag_names[tg]);
		if (im->nsec[tg] > 1)
			fprintf(o, " x%u", im->nsec[tg]);
		fprintf(o, " %" PRIu64, im->secbytes[tg]);
	}
	if (im->nsec[0])
		fprintf(o, ", %u of a later format %" PRIu64, im->nsec[0], im->secbytes[0]);
	fprintf(o, " (bytes)\n");
	fprintf(o, "program      ");
	put_str(o, im->exe);
	fprintf(o, ", pid %u, tid %u\n", im->pid, im->tid);
	fprintf(o, "job          ");
	if (im->job.len)
		put_str(o, im->job);
	else
		fprintf(o, "(none)");
	fprintf(o, ", checkpoint signal %u (%s)\n", im->sig, linux_signame(im->sig, t, sizeof(t)));
	{
		int64_t sec = im->time_ns / 1000000000, ns = im->time_ns % 1000000000;

		if (ns < 0) { /* before 1970: floor, not truncation */
			sec--;
			ns += 1000000000;
		}
		fprintf(o, "time         %s\n", fmt_time(t, sizeof(t), sec, (uint32_t)ns));
	}
	fprintf(o, "host         ");
	put_str(o, im->host);
	fprintf(o, ", ");
	put_str(o, im->arch);
	fprintf(o, ", page size %u, kernel ", im->page_size);
	put_str(o, im->release);
	fprintf(o, ", libc ");
	put_str(o, im->libc);
	fprintf(o, ", shim ");
	put_str(o, im->shim);
	fprintf(o, "\n");
	if (is_x86_64(im) && im->ngregs > 16)
		fprintf(o, "registers    rip %#" PRIx64 " rsp %#" PRIx64 " (resume at %#" PRIx64 ")\n", im->gregs[16],
			im->gregs[15], im->nctx >= 8 ? im->ctx[7] : 0);
	else
		fprintf(o, "registers    %u values (%u resume registers)\n", im->ngregs, im->nctx);
	fprintf(o, "task         cwd ");
	put_str(o, im->cwd);
	fprintf(o, ", umask %04o, brk %#" PRIx64 "-%#" PRIx64 ", comm ", im->umask, im->mm[4], im->mm[5]);
	put_str(o, im->comm);
	fprintf(o, "\n");

	for (uint32_t i = 0; i < im->nacts; i++)
		nacts += im->acts[i].handler != 0;
	fprintf(o, "signals      blocked: ");
	put_sigset(o, im->blocked);
	fprintf(o, "; pending: ");
	put_sigset(o, im->pending);
	fprintf(o, "; %u with an action other than the default\n", nacts);
	for (uint32_t i = 0; i < im->nacts; i++)
		if (im->acts[i].handler != 0)
			put_action(o, &im->acts[i]);

	fprintf(o, "fds          %u\n", im->nfds);
	for (uint32_t i = 0; i < im->nfds; i++) {
		const struct timg_fd *f = &im->fds[i];
		char fl[32];

		fprintf(o, "  fd %-4u %-6s %-9s flags %#06x offset %-10" PRId64 " ", f->fd, fd_kind(f->kind),
			oflags_text(f->flags, fl, sizeof(fl)), f->flags, f->offset);
		put_str(o, f->path);
		if (f->kind == IMG_FD_REMOTE) {
			fprintf(o, " (mount ");
			put_str(o, f->mount);
			fprintf(o, ")");
		}
		if (f->share_with >= 0)
			fprintf(o, " (shared with fd %d)", f->share_with);
		if (f->cloexec)
			fprintf(o, " cloexec");
		fprintf(o, "\n");
	}

	for (uint32_t i = 0; i < im->nregions; i++)
		mapped += im->regions[i].end - im->regions[i].start;
	fprintf(o, "memory       %u regions, ", im->nregions);
	put_mib(o, mapped);
	fprintf(o, " mapped, %" PRIu64 " pages saved (", im->pages_counted);
	put_mib(o, im->pages_counted * im->page_size);
	fprintf(o, ", ");
	put_mib(o, im->pages_bytes);
	fprintf(o, " compressed); restore hole %#" PRIx64 "\n", im->hole);
	for (uint32_t i = 0; i < im->nspecial; i++) {
		fprintf(o, "  0x%012" PRIx64 "-0x%012" PRIx64 " (kernel) ", im->special[i].start, im->special[i].end);
		put_str(o, im->special[i].name);
		fprintf(o, "\n");
	}
	for (uint32_t i = 0; i < im->nregions; i++) {
		const struct timg_region *g = &im->regions[i];

		fprintf(o, "  0x%012" PRIx64 "-0x%012" PRIx64 " %c%c%c %-11s pages %-6" PRIu64 " ", g->start, g->end,
			g->prot & IMG_PROT_R ? 'r' : '-', g->prot & IMG_PROT_W ? 'w' : '-',
			g->prot & IMG_PROT_X ? 'x' : '-', region_kind(g->kind), g->saved);
		put_str(o, g->path);
		fprintf(o, "\n");
	}

	if (!im->has_bt) {
		fprintf(o, "backtrace    not recorded (an image from before backtraces)\n");
		return;
	}
	if (im->bt_empty) {
		fprintf(o, "backtrace    none: the stack could not be walked at the checkpoint\n");
		return;
	}
	fprintf(o, "backtrace    %u frame%s%s\n", im->bt_nframes, im->bt_nframes == 1 ? "" : "s",
		im->bt_end == IMG_BT_LIMIT	 ? " (the first ones: the stack is deeper)"
		: im->bt_end == IMG_BT_ERROR	 ? " (the unwinder could not go further)"
		: im->bt_end == IMG_BT_CRASHED ? " (the unwinder crashed or hung)"
					       : "");
	for (uint32_t i = 0; i < im->bt_nframes; i++) {
		const struct timg_frame *f = &im->bt_frames[i];

		fprintf(o, "  #%u %#" PRIx64 " ", i, f->pc);
		if (f->name.len) {
			put_str(o, f->name);
			fprintf(o, "+%#" PRIx64, f->proc_off);
		} else {
			fprintf(o, "??");
		}
		if (f->obj != 0xffff) {
			fprintf(o, " (");
			put_str(o, im->bt_objs[f->obj]);
			fprintf(o, ")");
		}
		fprintf(o, "\n");
	}
}
