/* ckpt_state.c - kernel state of the process at a checkpoint, and putting it back after a restore.
 *
 * Captured into ckpt_meta (a mapping that is part of the image, so the
 * restored process finds it again) and described in the INFO, CPU, TASK,
 * SIGNALS and FILES sections: registers, FS base, glibc's cached thread id,
 * set_tid_address, robust list, rseq, mm fields (brk, arguments, auxv),
 * umask, cwd, name, rlimits, interval timers, signal actions, mask, pending
 * signals and alternate stack, and every fd. Remote fds need nothing here:
 * the shim's own tables are in memory.
 *
 * All of it runs inside the checkpoint handler: raw system calls only.
 */
#include <asm/prctl.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <gnu/libc-version.h>
#include <linux/kcmp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "shim.h"
#include "ckpt.h"
#include "img.h"
#include "rawsys.h"

#ifndef PR_GET_TID_ADDRESS
#define PR_GET_TID_ADDRESS 40
#endif
#define RSEQ_SIG_X86 0x53053053u
#ifndef SS_AUTODISARM
#define SS_AUTODISARM (1u << 31)
#endif

/* glibc's rseq registration and thread descriptor, looked up at start-up
 * (they are absent from older C libraries). */
static const ptrdiff_t *rseq_offset_p;
static const unsigned int *rseq_size_p;
static const uint32_t *db_tid;    /* _thread_db_pthread_tid: {bits, count, offset} */
static const uint32_t *db_size;   /* _thread_db_sizeof_pthread */
static char job_name[256];

void ckpt_state_init(void)
{
	const char *j = getenv("CKPT_JOB");

	rseq_offset_p = dlsym(RTLD_DEFAULT, "__rseq_offset");
	rseq_size_p = dlsym(RTLD_DEFAULT, "__rseq_size");
	db_tid = dlsym(RTLD_DEFAULT, "_thread_db_pthread_tid");
	db_size = dlsym(RTLD_DEFAULT, "_thread_db_sizeof_pthread");
	if (j) {
		size_t n = strlen(j);

		if (n > sizeof(job_name) - 1)
			n = sizeof(job_name) - 1;
		memcpy(job_name, j, n);
		job_name[n] = 0;
	}
}

struct dirent64_k {
	uint64_t d_ino;
	int64_t d_off;
	uint16_t d_reclen;
	uint8_t d_type;
	char d_name[];
};

/* Whole small /proc file into buf (NUL-terminated); length or -errno. */
static long read_small(const char *path, char *buf, size_t cap)
{
	long fd = rs_openat(AT_FDCWD, path, O_RDONLY | O_CLOEXEC, 0), n = 0, k;

	if (fd < 0)
		return fd;
	while ((size_t)n < cap - 1 && (k = rs_read((int)fd, buf + n, cap - 1 - (size_t)n)) > 0)
		n += k;
	rs_close((int)fd);
	buf[n] = 0;
	return n;
}

/* A decimal number (unsigned arithmetic: /proc/self/stat holds 2^64-1 for
 * "unlimited"); a leading '-' negates it. */
static long parse_dec(const char **s)
{
	unsigned long v = 0;
	int neg = 0;

	while (**s == ' ')
		(*s)++;
	if (**s == '-') {
		neg = 1;
		(*s)++;
	}
	while (**s >= '0' && **s <= '9')
		v = v * 10 + (unsigned long)(*(*s)++ - '0');
	return (long)(neg ? 0 - v : v);
}

/* ---- refusals ------------------------------------------------------------------------------- */

int ckpt_check_task(struct ckpt_msg *m)
{
	long fd = rs_openat(AT_FDCWD, "/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	uint8_t *buf = ckpt_scr->stage;
	int threads = 0;
	siginfo_t si;
	long k;

	if (fd >= 0) {
		while ((k = rs_call3(SYS_getdents64, fd, buf, CKPT_STAGE_SIZE)) > 0)
			for (long o = 0; o < k;) {
				struct dirent64_k *d = (struct dirent64_k *)(buf + o);

				if (d->d_name[0] != '.')
					threads++;
				o += d->d_reclen;
			}
		rs_close((int)fd);
	}
	if (threads > 1) {
		cm_str(m, "the process has ");
		cm_dec(m, threads);
		cm_str(m, " threads (only single-threaded processes can be checkpointed yet)");
		return -1;
	}
	memset(&si, 0, sizeof(si));
	k = rs_call5(SYS_waitid, P_ALL, 0, &si, WEXITED | WSTOPPED | WCONTINUED | WNOHANG | WNOWAIT | __WALL, 0);
	if (k == 0) {
		char *p = ckpt_scr->path;
		long pid = si.si_pid;

		if (!pid) {
			char name[64] = "/proc/self/task/";
			struct ckpt_msg t;
			const char *q;

			t.len = 0;
			cm_dec(&t, rs_gettid());
			cm_str(&t, "/children");
			memcpy(name + 16, t.buf, t.len);
			name[16 + t.len] = 0;
			if (read_small(name, p, 64) > 0) {
				q = p;
				pid = parse_dec(&q);
			}
		}
		cm_str(m, "child process ");
		if (pid)
			cm_dec(m, pid);
		cm_str(m, si.si_pid && si.si_code == CLD_EXITED ? " has exited but was not waited for"
							      : " is alive");
		cm_str(m, " (processes with children cannot be checkpointed yet)");
		return -1;
	}
	return 0;
}

/* ---- capture ---------------------------------------------------------------------------------- */

/* glibc's cached tid: the descriptor's offset if glibc says it and it holds
 * the tid, else the first 4-byte slot of the descriptor equal to the tid. */
static int32_t find_tid_offset(uint64_t fs, int32_t tid)
{
	uint32_t size = db_size && *db_size >= 64 && *db_size <= 65536 ? *db_size : 2304;

	if (db_tid && db_tid[2] + 4 <= size && *(int32_t *)(fs + db_tid[2]) == tid)
		return (int32_t)db_tid[2];
	for (uint32_t off = 16; off + 4 <= size; off += 4)
		if (*(int32_t *)(fs + off) == tid)
			return (int32_t)off;
	return -1;
}

static void capture_rseq(struct ckpt_meta *mt)
{
	static const uint32_t lens[] = {32, 0};
	uint64_t area;

	mt->rseq_area = 0;
	mt->rseq_len = 0;
	if (!rseq_offset_p || !rseq_size_p || !*rseq_size_p)
		return;
	area = mt->fs_base + (uint64_t)*rseq_offset_p;
	/* Registered with exactly these arguments: the kernel says EBUSY. */
	for (size_t i = 0; i < 2; i++) {
		uint32_t len = lens[i] ? lens[i] : *rseq_size_p;

		if (rs_call4(SYS_rseq, area, len, 0, RSEQ_SIG_X86) == -EBUSY) {
			mt->rseq_area = area;
			mt->rseq_len = len;
			mt->rseq_sig = RSEQ_SIG_X86;
			return;
		}
	}
}

/* /proc/self/stat fields 26-28 and 45-51, and brk. */
static void capture_mm(struct ckpt_meta *mt)
{
	char *buf = ckpt_scr->path;
	const char *p;
	long f;
	long v[52] = {0};

	if (read_small("/proc/self/stat", buf, CKPT_PATH_MAX) <= 0)
		return;
	p = strrchr(buf, ')');
	if (!p)
		return;
	p += 2; /* field 3 */
	for (f = 3; f <= 51 && *p; f++) {
		while (*p == ' ')
			p++;
		if (f == 3) {
			p++;
			continue;
		}
		v[f] = parse_dec(&p);
	}
	mt->mm[0] = (uint64_t)v[26];
	mt->mm[1] = (uint64_t)v[27];
	mt->mm[2] = (uint64_t)v[45];
	mt->mm[3] = (uint64_t)v[46];
	mt->mm[4] = (uint64_t)v[47];
	mt->mm[5] = (uint64_t)rs_call1(SYS_brk, 0);
	mt->mm[6] = (uint64_t)v[28];
	mt->mm[7] = (uint64_t)v[48];
	mt->mm[8] = (uint64_t)v[49];
	mt->mm[9] = (uint64_t)v[50];
	mt->mm[10] = (uint64_t)v[51];
}

static bool ends_with(const char *s, size_t n, const char *suf)
{
	size_t k = strlen(suf);

	return n >= k && !memcmp(s + n - k, suf, k);
}

/* "/proc/self/fd/N" into buf. */
static void fd_link_name(char *buf, int fd)
{
	struct ckpt_msg t;

	t.len = 0;
	cm_str(&t, "/proc/self/fd/");
	cm_dec(&t, fd);
	memcpy(buf, t.buf, t.len);
	buf[t.len] = 0;
}

/* Describe one local fd into e; -1 (m filled) for a kind we cannot restore. */
static int capture_fd(struct ckpt_msg *m, int fd, struct ckpt_fd *e)
{
	char link[40];
	struct stat st;
	long fl, n;
	uint32_t type;

	memset(e, 0, offsetof(struct ckpt_fd, path));
	e->fd = fd;
	e->share_with = -1;
	fl = rs_call3(SYS_fcntl, fd, F_GETFL, 0);
	n = rs_call3(SYS_fcntl, fd, F_GETFD, 0);
	if (fl < 0 || n < 0)
		return 1; /* closed under us: nothing to save */
	e->oflags = (int)fl;
	e->cloexec = (n & FD_CLOEXEC) != 0;
	if (rs_call2(SYS_fstat, fd, &st) < 0)
		memset(&st, 0, sizeof(st));
	fd_link_name(link, fd);
	n = rs_readlinkat(AT_FDCWD, link, e->path, sizeof(e->path) - 1);
	if (n < 0)
		n = 0;
	e->path[n] = 0;
	e->size = st.st_size;
	e->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	e->mode = st.st_mode;
	e->dev = st.st_dev;
	e->ino = st.st_ino;
	e->offset = rs_lseek(fd, 0, SEEK_CUR);
	if (e->offset < 0)
		e->offset = -1;
	type = st.st_mode & S_IFMT;
	if (fl & O_PATH)
		e->kind = IMG_FD_PATH;
	else if (type == S_IFREG)
		e->kind = IMG_FD_FILE;
	else if (type == S_IFDIR)
		e->kind = IMG_FD_DIR;
	else if (type == S_IFCHR || type == S_IFBLK)
		e->kind = IMG_FD_DEV;
	if (e->kind && e->path[0] == '/' && !ends_with(e->path, (size_t)n, " (deleted)"))
		return 0;
	if (fd <= 2) { /* replaced by the restart's own 0/1/2 anyway */
		e->kind = IMG_FD_STD;
		return 0;
	}
	cm_str(m, "fd ");
	cm_dec(m, fd);
	if (e->kind && e->path[0] == '/') {
		cm_str(m, " refers to the deleted file ");
		cm_strn(m, e->path, (size_t)n - 10);
		return -1;
	}
	if (type == S_IFIFO)
		cm_str(m, " is a pipe (");
	else if (type == S_IFSOCK)
		cm_str(m, " is a socket (");
	else
		cm_str(m, " is a ");
	cm_str(m, e->path);
	if (type == S_IFIFO || type == S_IFSOCK)
		cm_str(m, ")");
	cm_str(m, type == S_IFIFO ? "; pipes cannot be checkpointed yet"
		  : type == S_IFSOCK ? "; sockets cannot be checkpointed yet"
				     : ", which cannot be checkpointed yet");
	return -1;
}

static int capture_fds(struct ckpt_msg *m, int skip_fd)
{
	struct ckpt_meta *mt = ckpt_meta;
	uint8_t *buf = ckpt_scr->stage;
	long dfd = rs_openat(AT_FDCWD, "/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0), k;
	uint32_t nfd = 0;

	if (dfd < 0) {
		cm_str(m, "cannot list /proc/self/fd");
		cm_err(m, dfd);
		return -1;
	}
	while ((k = rs_call3(SYS_getdents64, dfd, buf, CKPT_STAGE_SIZE)) > 0)
		for (long o = 0; o < k;) {
			struct dirent64_k *d = (struct dirent64_k *)(buf + o);
			const char *q = d->d_name;
			long fd;

			o += d->d_reclen;
			if (*q < '0' || *q > '9')
				continue;
			fd = parse_dec(&q);
			if (fd == dfd || fd == skip_fd || shim_fd_get((int)fd) || shim_is_shim_fd((int)fd))
				continue;
			if (nfd == CKPT_MAX_FDS) {
				rs_close((int)dfd);
				cm_str(m, "more than ");
				cm_dec(m, CKPT_MAX_FDS);
				cm_str(m, " open files");
				return -1;
			}
			ckpt_scr->fds[nfd++] = (int)fd;
		}
	rs_close((int)dfd);
	/* getdents lists them in order; keep that order for share_with */
	mt->nfds = 0;
	for (uint32_t i = 0; i < nfd; i++) {
		struct ckpt_fd *e = &mt->fds[mt->nfds];
		int rc = capture_fd(m, ckpt_scr->fds[i], e);

		if (rc < 0)
			return -1;
		if (rc > 0)
			continue;
		for (uint32_t j = 0; j < mt->nfds; j++) {
			struct ckpt_fd *o = &mt->fds[j];

			if (o->dev == e->dev && o->ino == e->ino && o->kind == e->kind &&
			    rs_call5(SYS_kcmp, mt->pid, mt->pid, KCMP_FILE, o->fd, e->fd) == 0) {
				e->share_with = o->share_with >= 0 ? o->share_with : o->fd;
				break;
			}
		}
		mt->nfds++;
	}
	return 0;
}

int ckpt_state_capture(struct ckpt_msg *m, void *ucv, int skip_fd)
{
	struct ckpt_meta *mt = ckpt_meta;
	ucontext_t *uc = ucv;
	unsigned long fs = 0, gs = 0;
	long r;

	mt->pid = (int32_t)rs_getpid();
	mt->tid = (int32_t)rs_gettid();
	rs_arch_prctl(ARCH_GET_FS, (unsigned long)&fs);
	rs_arch_prctl(ARCH_GET_GS, (unsigned long)&gs);
	mt->fs_base = fs;
	mt->gs_base = gs;
	mt->tid_offset = fs ? find_tid_offset(fs, mt->tid) : -1;
	mt->tid_address = 0;
	if (rs_prctl(PR_GET_TID_ADDRESS, (unsigned long)&mt->tid_address, 0, 0, 0) < 0)
		mt->tid_address = mt->tid_offset >= 0 ? fs + (uint64_t)mt->tid_offset : 0;
	{
		uint64_t head = 0;
		size_t len = 0;

		if (rs_call3(SYS_get_robust_list, 0, &head, &len) == 0) {
			mt->robust_head = head;
			mt->robust_len = len;
		}
	}
	capture_rseq(mt);
	capture_mm(mt);
	r = read_small("/proc/self/auxv", ckpt_scr->path, CKPT_PATH_MAX);
	mt->auxv_len = 0;
	if (r > 0 && (size_t)r <= sizeof(mt->auxv)) {
		memcpy(mt->auxv, ckpt_scr->path, (size_t)r);
		mt->auxv_len = (uint32_t)r;
	}
	r = rs_call1(SYS_umask, 0);
	rs_call1(SYS_umask, r);
	mt->umask = (uint32_t)r;
	r = rs_call2(SYS_getcwd, mt->cwd, sizeof(mt->cwd));
	if (r < 0)
		mt->cwd[0] = 0;
	rs_prctl(PR_GET_NAME, (unsigned long)mt->comm, 0, 0, 0);
	mt->comm[16] = 0;
	r = rs_readlinkat(AT_FDCWD, "/proc/self/exe", mt->exe, sizeof(mt->exe) - 1);
	mt->exe[r > 0 ? r : 0] = 0;
	for (int i = 0; i < RLIM_NLIMITS; i++)
		mt->rlim_ok[i] = rs_call4(SYS_prlimit64, 0, i, NULL, &mt->rlim[i]) == 0;
	for (int i = 0; i < 3; i++)
		if (rs_call2(SYS_getitimer, i, &mt->itimer[i]) < 0)
			memset(&mt->itimer[i], 0, sizeof(mt->itimer[i]));
	/* signals */
	for (int s = 1; s <= CKPT_NSIG; s++)
		mt->act_ok[s] = rs_call4(SYS_rt_sigaction, s, NULL, &mt->act[s], 8) == 0;
	memcpy(&mt->blocked, &uc->uc_sigmask, sizeof(mt->blocked));
	mt->pending = 0;
	rs_call2(SYS_rt_sigpending, &mt->pending, 8);
	mt->pending &= ~(1ull << (ckpt_sig - 1));
	if (rs_call2(SYS_sigaltstack, NULL, &mt->altstack) < 0)
		mt->altstack.ss_flags = SS_DISABLE;
	return capture_fds(m, skip_fd);
}

/* ---- sections --------------------------------------------------------------------------------- */

static void put_cstr(struct wire_wr *w, const char *s)
{
	size_t n = strlen(s);

	wire_put_str(w, s, (uint32_t)(n > IMG_MAX_STR ? IMG_MAX_STR : n));
}

struct files_ctx {
	struct wire_wr *w;
	uint32_t n;
	size_t bytes;
	int count_only;
};

/* The first fd (in table order) that holds the same ofd as fd. */
struct first_ctx {
	struct shim_ofd *ofd;
	int first;
};

static void find_first(int fd, struct shim_ofd *o, void *arg)
{
	struct first_ctx *c = arg;

	if (o == c->ofd && c->first < 0)
		c->first = fd;
}

static void put_remote(int fd, struct shim_ofd *o, void *arg)
{
	struct files_ctx *c = arg;
	struct first_ctx f = {o, -1};
	char path[IMG_MAX_STR + 1];
	size_t a = strlen(o->mnt->point), b = strlen(o->rel);

	c->n++;
	c->bytes += 96 + 2 * (a + b + 1);
	if (c->count_only)
		return;
	shim_fd_foreach(find_first, &f);
	if (a > IMG_MAX_STR)
		a = IMG_MAX_STR;
	memcpy(path, o->mnt->point, a);
	if (b && a < IMG_MAX_STR) {
		path[a++] = '/';
		if (b > IMG_MAX_STR - a)
			b = IMG_MAX_STR - a;
		memcpy(path + a, o->rel, b);
		a += b;
	}
	path[a] = 0;
	wire_put_u32(c->w, (uint32_t)fd);
	wire_put_u8(c->w, IMG_FD_REMOTE);
	wire_put_u8(c->w, shim_fd_cloexec(fd));
	wire_put_u32(c->w, (uint32_t)(o->flags | (o->is_dir ? O_DIRECTORY : 0)));
	wire_put_s64(c->w, (int64_t)*shim_pos(o));
	wire_put_u32(c->w, (uint32_t)(f.first == fd ? -1 : f.first));
	put_cstr(c->w, path);
	wire_put_s64(c->w, -1);
	wire_put_s64(c->w, 0);
	wire_put_u32(c->w, 0);
	wire_put_u64(c->w, 0);
	wire_put_u64(c->w, 0);
	put_cstr(c->w, o->mnt->point);
	put_cstr(c->w, o->rel);
}

int ckpt_state_write(struct ckpt_msg *m, void *ucv)
{
	struct ckpt_meta *mt = ckpt_meta;
	ucontext_t *uc = ucv;
	struct utsname u;
	struct timespec ts;
	struct wire_wr w;
	struct files_ctx fc = {0};
	size_t fbytes = 16;

	/* INFO */
	if (rs_call1(SYS_uname, &u) < 0)
		memset(&u, 0, sizeof(u));
	clock_gettime(CLOCK_REALTIME, &ts);
	if (ckpt_sec_begin(&w, IMG_INFO, 8 * IMG_MAX_STR + 64) < 0)
		goto io;
	put_cstr(&w, u.machine);
	wire_put_u32(&w, (uint32_t)ckpt_pagesize);
	put_cstr(&w, u.release);
	put_cstr(&w, u.version);
	put_cstr(&w, gnu_get_libc_version());
	put_cstr(&w, CKPT_VERSION);
	put_cstr(&w, u.nodename);
	wire_put_u32(&w, (uint32_t)mt->pid);
	wire_put_u32(&w, (uint32_t)mt->tid);
	wire_put_s64(&w, (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec);
	put_cstr(&w, mt->exe);
	put_cstr(&w, job_name);
	wire_put_u32(&w, (uint32_t)ckpt_sig);
	if (ckpt_sec_end(&w) < 0)
		goto io;
	/* CPU */
	if (ckpt_sec_begin(&w, IMG_CPU, 4 + 8 * 8 + 16 + 4 + 8 * NGREG) < 0)
		goto io;
	wire_put_u32(&w, IMG_X86_64_CTX_REGS);
	for (int i = 0; i < IMG_X86_64_CTX_REGS; i++)
		wire_put_u64(&w, mt->ctx[i]);
	wire_put_u64(&w, mt->fs_base);
	wire_put_u64(&w, mt->gs_base);
	wire_put_u32(&w, NGREG);
	for (int i = 0; i < NGREG; i++)
		wire_put_u64(&w, (uint64_t)uc->uc_mcontext.gregs[i]);
	if (ckpt_sec_end(&w) < 0)
		goto io;
	/* TASK */
	if (ckpt_sec_begin(&w, IMG_TASK, 256 + 11 * 8 + sizeof(mt->auxv) + 3 * IMG_MAX_STR + 32 +
						 RLIM_NLIMITS * 20 + 3 * 36) < 0)
		goto io;
	wire_put_u32(&w, (uint32_t)mt->tid_offset);
	wire_put_u64(&w, mt->tid_address);
	wire_put_u64(&w, mt->robust_head);
	wire_put_u64(&w, mt->robust_len);
	wire_put_u64(&w, mt->rseq_area);
	wire_put_u32(&w, mt->rseq_len);
	wire_put_u32(&w, mt->rseq_sig);
	for (int i = 0; i < 11; i++)
		wire_put_u64(&w, mt->mm[i]);
	wire_put_blob(&w, mt->auxv, mt->auxv_len);
	wire_put_u32(&w, mt->umask);
	put_cstr(&w, mt->cwd);
	put_cstr(&w, mt->comm);
	put_cstr(&w, mt->exe);
	{
		uint32_t n = 0;

		for (int i = 0; i < RLIM_NLIMITS; i++)
			n += mt->rlim_ok[i];
		wire_put_u32(&w, n);
		for (int i = 0; i < RLIM_NLIMITS; i++)
			if (mt->rlim_ok[i]) {
				wire_put_u32(&w, (uint32_t)i);
				wire_put_u64(&w, mt->rlim[i].rlim_cur);
				wire_put_u64(&w, mt->rlim[i].rlim_max);
			}
	}
	wire_put_u32(&w, 3);
	for (int i = 0; i < 3; i++) {
		wire_put_u32(&w, (uint32_t)i);
		wire_put_u64(&w, (uint64_t)mt->itimer[i].it_interval.tv_sec);
		wire_put_u64(&w, (uint64_t)mt->itimer[i].it_interval.tv_usec);
		wire_put_u64(&w, (uint64_t)mt->itimer[i].it_value.tv_sec);
		wire_put_u64(&w, (uint64_t)mt->itimer[i].it_value.tv_usec);
	}
	if (ckpt_sec_end(&w) < 0)
		goto io;
	/* SIGNALS */
	if (ckpt_sec_begin(&w, IMG_SIGNALS, 64 + CKPT_NSIG * 36) < 0)
		goto io;
	wire_put_u32(&w, (uint32_t)ckpt_sig);
	wire_put_u64(&w, mt->blocked);
	wire_put_u64(&w, mt->pending);
	wire_put_u64(&w, (uint64_t)mt->altstack.ss_sp);
	wire_put_u32(&w, (uint32_t)mt->altstack.ss_flags);
	wire_put_u64(&w, mt->altstack.ss_size);
	{
		uint32_t n = 0;

		for (int s = 1; s <= CKPT_NSIG; s++)
			n += mt->act_ok[s];
		wire_put_u32(&w, n);
		for (int s = 1; s <= CKPT_NSIG; s++)
			if (mt->act_ok[s]) {
				wire_put_u32(&w, (uint32_t)s);
				wire_put_u64(&w, mt->act[s].handler);
				wire_put_u64(&w, mt->act[s].flags);
				wire_put_u64(&w, mt->act[s].restorer);
				wire_put_u64(&w, mt->act[s].mask);
			}
	}
	if (ckpt_sec_end(&w) < 0)
		goto io;
	/* FILES: local ones from meta, remote ones from the shim's table */
	fc.count_only = 1;
	shim_fd_foreach(put_remote, &fc);
	for (uint32_t i = 0; i < mt->nfds; i++)
		fbytes += 96 + strlen(mt->fds[i].path);
	fbytes += fc.bytes;
	if (ckpt_sec_begin(&w, IMG_FILES, fbytes) < 0) {
		cm_str(m, "the fd table is too large for the image buffer");
		return -1;
	}
	wire_put_u32(&w, mt->nfds + fc.n);
	for (uint32_t i = 0; i < mt->nfds; i++) {
		struct ckpt_fd *e = &mt->fds[i];

		wire_put_u32(&w, (uint32_t)e->fd);
		wire_put_u8(&w, e->kind);
		wire_put_u8(&w, e->cloexec);
		wire_put_u32(&w, (uint32_t)e->oflags);
		wire_put_s64(&w, e->offset);
		wire_put_u32(&w, (uint32_t)e->share_with);
		put_cstr(&w, e->path);
		wire_put_s64(&w, e->size);
		wire_put_s64(&w, e->mtime_ns);
		wire_put_u32(&w, e->mode);
		wire_put_u64(&w, e->dev);
		wire_put_u64(&w, e->ino);
		wire_put_str(&w, "", 0);
		wire_put_str(&w, "", 0);
	}
	fc.count_only = 0;
	fc.n = 0;
	fc.w = &w;
	shim_fd_foreach(put_remote, &fc);
	if (ckpt_sec_end(&w) < 0)
		goto io;
	return 0;
io:
	cm_str(m, "cannot write the image");
	return -1;
}

/* ---- after a restore ---------------------------------------------------------------------- */

static void warn_errno(const char *what, const char *name, long rc)
{
	struct ckpt_msg m;

	cm_begin(&m, "after the restore: ");
	cm_str(&m, what);
	if (name) {
		cm_str(&m, " ");
		cm_str(&m, name);
	}
	cm_err(&m, rc);
	cm_flush(&m);
}

/* Close every fd the restarted process inherited that the program did not
 * have (0, 1 and 2 stay: they are the restart's). */
static void close_strangers(void)
{
	struct ckpt_meta *mt = ckpt_meta;
	uint8_t *buf = ckpt_scr->stage;
	long dfd = rs_openat(AT_FDCWD, "/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0), k;
	uint32_t n = 0;

	if (dfd < 0)
		return;
	while ((k = rs_call3(SYS_getdents64, dfd, buf, CKPT_STAGE_SIZE)) > 0)
		for (long o = 0; o < k && n < CKPT_MAX_FDS;) {
			struct dirent64_k *d = (struct dirent64_k *)(buf + o);
			const char *q = d->d_name;
			long fd;

			o += d->d_reclen;
			if (*q < '0' || *q > '9')
				continue;
			fd = parse_dec(&q);
			if (fd > 2 && fd != dfd)
				ckpt_scr->fds[n++] = (int)fd;
		}
	rs_close((int)dfd);
	for (uint32_t i = 0; i < n; i++) {
		bool keep = shim_fd_get(ckpt_scr->fds[i]) != NULL;

		for (uint32_t j = 0; j < mt->nfds && !keep; j++)
			keep = mt->fds[j].fd == ckpt_scr->fds[i];
		if (!keep)
			rs_close(ckpt_scr->fds[i]);
	}
}

static void restore_local_fd(struct ckpt_fd *e)
{
	int flags = e->oflags & ~(O_CREAT | O_EXCL | O_TRUNC);
	long fd, rc;
	struct stat st;

	if (e->fd <= 2 || e->kind == IMG_FD_STD || e->kind == IMG_FD_REMOTE)
		return;
	if (e->share_with >= 0) {
		rc = rs_call3(SYS_dup3, e->share_with, e->fd, e->cloexec ? O_CLOEXEC : 0);
		if (rc < 0)
			warn_errno("could not restore fd", e->path, rc);
		return;
	}
	if (e->kind == IMG_FD_DEV)
		flags |= O_NOCTTY;
	fd = rs_openat(AT_FDCWD, e->path, flags | O_CLOEXEC, 0);
	if (fd < 0) {
		struct ckpt_msg m;

		cm_begin(&m, "after the restore: could not reopen fd ");
		cm_dec(&m, e->fd);
		cm_str(&m, " (");
		cm_str(&m, e->path);
		cm_str(&m, ")");
		cm_err(&m, fd);
		cm_str(&m, "; it stays closed");
		cm_flush(&m);
		return;
	}
	if (fd != e->fd) {
		rc = rs_call3(SYS_dup3, fd, e->fd, e->cloexec ? O_CLOEXEC : 0);
		rs_close((int)fd);
		if (rc < 0) {
			warn_errno("could not restore fd", e->path, rc);
			return;
		}
	} else if (!e->cloexec) {
		rs_call3(SYS_fcntl, e->fd, F_SETFD, 0);
	}
	if (e->offset >= 0 && (e->kind == IMG_FD_FILE || e->kind == IMG_FD_DIR))
		rs_lseek(e->fd, e->offset, SEEK_SET);
	if (e->kind == IMG_FD_FILE && rs_call2(SYS_fstat, e->fd, &st) == 0 && st.st_size != e->size) {
		struct ckpt_msg m;

		cm_begin(&m, "after the restore: fd ");
		cm_dec(&m, e->fd);
		cm_str(&m, " (");
		cm_str(&m, e->path);
		cm_str(&m, ") changed size since the checkpoint: ");
		cm_dec(&m, e->size);
		cm_str(&m, " -> ");
		cm_dec(&m, st.st_size);
		cm_str(&m, " bytes");
		cm_flush(&m);
	}
}

static void restore_placeholder(int fd, struct shim_ofd *o, void *arg)
{
	long ph = rs_openat(AT_FDCWD, "/", O_PATH | O_CLOEXEC, 0);

	(void)o;
	(void)arg;
	if (ph < 0)
		return;
	if (ph != fd) {
		rs_call3(SYS_dup3, ph, fd, shim_fd_cloexec(fd) ? O_CLOEXEC : 0);
		rs_close((int)ph);
	} else if (!shim_fd_cloexec(fd)) {
		rs_call3(SYS_fcntl, fd, F_SETFD, 0);
	}
}

void ckpt_state_restore(void)
{
	struct ckpt_meta *mt = ckpt_meta;
	int32_t pid = (int32_t)rs_getpid(), tid = (int32_t)rs_gettid();
	long rc;

	/* the thread: glibc's cached tid, the kernel's pointers into the descriptor */
	if (mt->tid_offset >= 0)
		*(int32_t *)(mt->fs_base + (uint64_t)mt->tid_offset) = tid;
	if (mt->tid_address)
		rs_call1(SYS_set_tid_address, mt->tid_address);
	if (mt->robust_head)
		rs_call2(SYS_set_robust_list, mt->robust_head, mt->robust_len);
	if (mt->rseq_area) {
		*(volatile uint64_t *)(mt->rseq_area + 8) = 0; /* rseq_cs: no critical section */
		rc = rs_call4(SYS_rseq, mt->rseq_area, mt->rseq_len, 0, mt->rseq_sig);
		if (rc < 0)
			warn_errno("could not register rseq again", NULL, rc);
	}
	/* signals: every action; the mask comes back with the signal frame */
	for (int s = 1; s <= CKPT_NSIG; s++)
		if (mt->act_ok[s] && s != SIGKILL && s != SIGSTOP)
			rs_call4(SYS_rt_sigaction, s, &mt->act[s], NULL, 8);
	if (!(mt->altstack.ss_flags & SS_DISABLE)) {
		stack_t ss = mt->altstack;

		ss.ss_flags &= SS_AUTODISARM;
		rc = rs_call2(SYS_sigaltstack, &ss, NULL);
		if (rc < 0)
			warn_errno("could not restore the alternate signal stack", NULL, rc);
	}
	for (int i = 0; i < 3; i++)
		if (mt->itimer[i].it_value.tv_sec || mt->itimer[i].it_value.tv_usec)
			rs_call3(SYS_setitimer, i, &mt->itimer[i], NULL);
	/* the process */
	rs_call1(SYS_umask, mt->umask);
	for (int i = 0; i < RLIM_NLIMITS; i++) {
		struct rlimit cur;

		if (!mt->rlim_ok[i] || rs_call4(SYS_prlimit64, 0, i, NULL, &cur) < 0)
			continue;
		if (cur.rlim_cur == mt->rlim[i].rlim_cur && cur.rlim_max == mt->rlim[i].rlim_max)
			continue;
		rc = rs_call4(SYS_prlimit64, 0, i, &mt->rlim[i], NULL);
		if (rc < 0) {
			struct ckpt_msg m;

			cm_begin(&m, "after the restore: could not set resource limit ");
			cm_dec(&m, i);
			cm_err(&m, rc);
			cm_flush(&m);
		}
	}
	if (mt->cwd[0]) {
		rc = rs_call1(SYS_chdir, mt->cwd);
		if (rc < 0)
			warn_errno("could not change to the directory", mt->cwd, rc);
	}
	rs_prctl(PR_SET_NAME, (unsigned long)mt->comm, 0, 0, 0);
	/* fds: the program's, at their numbers and offsets */
	close_strangers();
	for (uint32_t i = 0; i < mt->nfds; i++)
		restore_local_fd(&mt->fds[i]);
	shim_fd_foreach(restore_placeholder, NULL);
	/* signals that were pending come back pending */
	for (int s = 1; s <= CKPT_NSIG; s++)
		if (mt->pending & (1ull << (s - 1)))
			rs_call3(SYS_tgkill, pid, tid, s);
}
