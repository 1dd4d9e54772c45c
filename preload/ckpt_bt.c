/* ckpt_bt.c - the BACKTRACE section: where the program was when the checkpoint signal came.
 *
 * libunwind walks the program's stack from the handler's ucontext (the
 * interrupted frame first) and names each frame's procedure; the object
 * holding each pc comes from the region table the checkpoint already read
 * from /proc/self/maps (ckpt_mem_scan), so nothing here needs dladdr or
 * malloc. The section is for people (`ckpt inspect`): the restore ignores it,
 * and a stack that cannot be walked is never a reason to fail a checkpoint;
 * the section is then written empty.
 *
 * The walk runs in a short-lived child that shares our memory (clone with
 * CLONE_VM) but has its own file table, emptied first:
 *  - libunwind keeps file descriptors of its own: a pipe it opens once and
 *    reuses to probe memory, and the ELF files it maps to read symbol
 *    tables. In the child they come and go with it, so the program never
 *    sees an fd it did not open (a pipe left behind would refuse the next
 *    checkpoint), and the pipe numbers libunwind remembers never name one of
 *    the program's files later (it reads from and writes to them).
 *  - a stack libunwind cannot make sense of may crash it: only the child dies.
 * While the child runs, this thread waits with every signal blocked (the
 * handler's mask), and shim_nmounts is 0, so libunwind's open/read/close/mmap
 * calls, which go through the shim's wrappers, are passed to the C library
 * even when a number the child uses is a remote fd in the shared fd table.
 * The child's frames land in shared memory one by one; a child that crashes
 * or hangs (it is killed after BT_WAIT_MS) leaves the frames it finished,
 * and the walk is not tried again in this process (a lock libunwind held may
 * never be released).
 */
#define UNW_LOCAL_ONLY
#include <errno.h>
#include <libunwind.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>

#include "shim.h"
#include "ckpt.h"
#include "img.h"
#include "rawsys.h"

#define BT_STACK_SIZE (256u << 10) /* the child's stack; libunwind's cursor is ~1 KiB */
#define BT_WAIT_MS 5000            /* longest walk: 64 frames, each an ELF symbol lookup */
#define BT_NO_OBJECT 0xffffu

struct bt_frame {
	uint64_t pc;
	uint64_t off;                /* pc - start of the procedure */
	char name[IMG_BT_MAX_NAME + 1];
};

/* Shared with the child. nframes counts the frames it finished; end says how
 * it stopped (IMG_BT_*). */
static struct {
	ucontext_t *uc;
	struct bt_frame frames[IMG_BT_MAX_FRAMES];
	volatile uint32_t nframes;
	volatile uint8_t end;
	volatile int started; /* unw_init_local2 succeeded */
} bt;

static int bt_disabled; /* an earlier walk crashed or hung */

/* ---- the child ------------------------------------------------------------------------------- */

static int bt_child(void *arg)
{
	unw_cursor_t cur;
	int rc;

	(void)arg;
	/* Our own (copied) file table: start it empty, so libunwind's fds are
	 * the child's alone and a number it remembers from an earlier walk is
	 * free here. */
	if (rs_call3(SYS_close_range, 0, ~0u, 0) < 0)
		return 1;
	if (unw_init_local2(&cur, bt.uc, UNW_INIT_SIGNAL_FRAME) < 0)
		return 1;
	bt.started = 1;
	for (;;) {
		struct bt_frame *f;
		unw_word_t ip = 0, off = 0;

		if (bt.nframes == IMG_BT_MAX_FRAMES) {
			bt.end = IMG_BT_LIMIT;
			break;
		}
		f = &bt.frames[bt.nframes];
		if (unw_get_reg(&cur, UNW_REG_IP, &ip) < 0) {
			bt.end = IMG_BT_ERROR;
			break;
		}
		f->pc = ip;
		f->off = 0;
		f->name[0] = 0;
		/* -UNW_ENOMEM: the name was cut to fit, still worth having */
		rc = unw_get_proc_name(&cur, f->name, sizeof(f->name), &off);
		if (rc == 0 || rc == -UNW_ENOMEM)
			f->off = off;
		else
			f->name[0] = 0;
		f->name[IMG_BT_MAX_NAME] = 0;
		__atomic_store_n(&bt.nframes, bt.nframes + 1, __ATOMIC_RELEASE);
		rc = unw_step(&cur);
		if (rc <= 0) {
			bt.end = rc == 0 ? IMG_BT_COMPLETE : IMG_BT_ERROR;
			break;
		}
	}
	return 0;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	rs_call2(SYS_nanosleep, &ts, NULL);
}

/* Walk the stack in a child; bt.nframes frames are then valid. */
static void walk(ucontext_t *uc)
{
	long stack, pid, rc = 0;
	int status = 0, saved_nmounts = shim_nmounts;

	bt.uc = uc;
	bt.nframes = 0;
	bt.end = IMG_BT_ERROR;
	bt.started = 0;
	if (bt_disabled)
		return;
	stack = rs_mmap(NULL, BT_STACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
			-1, 0);
	if (stack < 0 && stack > -4096)
		return;
	shim_nmounts = 0;
	/* exit signal 0: no SIGCHLD for the program; reaped with __WCLONE */
	pid = clone(bt_child, (char *)stack + BT_STACK_SIZE, CLONE_VM, NULL);
	if (pid > 0) {
		int waited = 0;

		while ((rc = rs_call4(SYS_wait4, pid, &status, __WCLONE | WNOHANG, NULL)) == 0 &&
		       waited < BT_WAIT_MS) {
			sleep_ms(waited < 50 ? 1 : 10);
			waited += waited < 50 ? 1 : 10;
		}
		if (rc == 0) { /* hung: a lock, a loop on a bad stack */
			rs_call2(SYS_kill, pid, SIGKILL);
			while (rs_call4(SYS_wait4, pid, &status, __WCLONE, NULL) == -EINTR)
				;
			bt_disabled = 1;
			bt.end = IMG_BT_CRASHED;
		} else if (rc > 0 && WIFSIGNALED(status)) {
			bt_disabled = 1;
			bt.end = IMG_BT_CRASHED;
		}
	}
	shim_nmounts = saved_nmounts;
	rs_munmap((void *)stack, BT_STACK_SIZE);
	if (!bt.started)
		bt.nframes = 0;
}

/* ---- objects ------------------------------------------------------------------------------- */

/* The region holding pc (the table is sorted), or NULL. */
static const struct ckpt_region *region_of(uint64_t pc)
{
	uint32_t lo = 0, hi = ckpt_scr->nregions;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		const struct ckpt_region *r = &ckpt_scr->regions[mid];

		if (pc < r->start)
			hi = mid;
		else if (pc >= r->end)
			lo = mid + 1;
		else
			return r;
	}
	return NULL;
}

struct bt_obj {
	const char *path;
	uint64_t objoff;
	uint16_t index;
};

/* The object of frame i: a mapped file, or a special mapping ([vdso]). A
 * return address may be just past its call, at the end of a mapping: look
 * up pc - 1 for the frames above the first. */
static void object_of(uint32_t i, struct bt_obj *o)
{
	uint64_t pc = bt.frames[i].pc, at = i ? pc - 1 : pc;
	const struct ckpt_region *r = region_of(at);

	o->path = "";
	o->objoff = 0;
	if (r && r->path[0] == '/') {
		o->path = r->path;
		o->objoff = pc - r->start + r->pgoff;
		return;
	}
	for (uint32_t k = 0; k < ckpt_meta->nspecial; k++)
		if (at >= ckpt_meta->special[k].start && at < ckpt_meta->special[k].end) {
			o->path = ckpt_meta->special[k].name;
			o->objoff = pc - ckpt_meta->special[k].start;
			return;
		}
}

static uint32_t clamp_len(const char *s, uint32_t max)
{
	size_t n = strlen(s);

	return n > max ? max : (uint32_t)n;
}

/* ---- the section --------------------------------------------------------------------------- */

int ckpt_bt_write(struct ckpt_msg *m, void *uc)
{
	struct bt_obj objs[IMG_BT_MAX_FRAMES];
	const char *table[IMG_BT_MAX_FRAMES];
	uint32_t n, nobj = 0;
	size_t size = 1 + 4 + 4;
	struct wire_wr w;

	walk(uc);
	n = __atomic_load_n(&bt.nframes, __ATOMIC_ACQUIRE);
	if (n > IMG_BT_MAX_FRAMES)
		n = 0;
	if (!n) {
		/* nothing to say: an empty section */
		if (ckpt_sec_begin(&w, IMG_BACKTRACE, 0) < 0 || ckpt_sec_end(&w) < 0)
			goto io;
		return 0;
	}
	for (uint32_t i = 0; i < n; i++) {
		uint32_t k;

		object_of(i, &objs[i]);
		objs[i].index = BT_NO_OBJECT;
		if (!objs[i].path[0])
			continue;
		for (k = 0; k < nobj && strcmp(table[k], objs[i].path); k++)
			;
		if (k == nobj) {
			table[nobj++] = objs[i].path;
			size += 2 + clamp_len(objs[i].path, IMG_MAX_STR);
		}
		objs[i].index = (uint16_t)k;
	}
	for (uint32_t i = 0; i < n; i++)
		size += 8 + 8 + 2 + 8 + 2 + clamp_len(bt.frames[i].name, IMG_BT_MAX_NAME);
	if (ckpt_sec_begin(&w, IMG_BACKTRACE, size) < 0)
		goto io;
	wire_put_u8(&w, bt.end);
	wire_put_u32(&w, nobj);
	for (uint32_t k = 0; k < nobj; k++)
		wire_put_str(&w, table[k], clamp_len(table[k], IMG_MAX_STR));
	wire_put_u32(&w, n);
	for (uint32_t i = 0; i < n; i++) {
		const struct bt_frame *f = &bt.frames[i];

		wire_put_u64(&w, f->pc);
		wire_put_u64(&w, f->name[0] ? f->off : 0);
		wire_put_u16(&w, objs[i].index);
		wire_put_u64(&w, objs[i].objoff);
		wire_put_str(&w, f->name, clamp_len(f->name, IMG_BT_MAX_NAME));
	}
	if (ckpt_sec_end(&w) < 0)
		goto io;
	return 0;
io:
	cm_str(m, "cannot write the image (backtrace)");
	return -1;
}
