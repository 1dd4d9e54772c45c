/* bench_ckpt.c - one measurement of `make bench`'s checkpoint part: checkpoint, kill, restart.
 *
 *   bench_ckpt target MIB
 *       the program that is checkpointed: maps MIB MiB of anonymous memory,
 *       fills the first half with pseudo-random bytes (incompressible) and
 *       the second half with repeating English text, hashes it, prints
 *       "READY pid=P" and waits in pause(). Each time pause() returns (the
 *       checkpoint signal's handler ran) it prints "RUNNING pid=P t=T cpu=C"
 *       with T its CLOCK_MONOTONIC time in seconds and C the CPU seconds it
 *       and its reaped children (the shim's helper) used since READY (the
 *       checkpoint's, in the original process); if its pid changed it is a
 *       restored copy: it hashes the memory again, prints "VERIFIED ok" (or
 *       "VERIFIED bad") and exits 0 (1).
 *   bench_ckpt cycle SHIM RESTORE DIR MIB [PREFAULT]
 *       one cycle: runs "bench_ckpt target MIB" with LD_PRELOAD=SHIM and
 *       CKPT_IMAGE_FILE=DIR/bench.img, waits for READY, sends SIGUSR1 and
 *       times, from the signal:
 *         ckpt_s    until the shim reports "checkpoint written" on stderr
 *                   (after the image's fsync, rename and directory fsync:
 *                   the image is durable);
 *         resume_s  until the program prints RUNNING (it runs again);
 *       then reads the shim's own figure (shim_s, from its message), the
 *       image size, kills the program with SIGKILL and times restart_s:
 *       from just before fork+exec of "RESTORE DIR/bench.img" to the
 *       restored program's RUNNING timestamp. The restored program must then
 *       report VERIFIED ok and exit 0. PREFAULT 1 (default): before the
 *       checkpoint and before the restart (untimed), fault in and hold for
 *       2.2 s as much memory as the next step allocates, then free it (see
 *       "bench_io touch": free guest memory handed back to the host costs
 *       ~1-2 s/GiB to touch again, at random). Prints one line
 *       "RESULT key=value ..." on stdout.
 *   bench_ckpt floor DIR MIB
 *       reference figures of this machine for the same sizes, measured the
 *       same way: write MIB/2 MiB (what an image of half-random memory
 *       must hold at least) to a new file with O_DIRECT in 4 MiB blocks and
 *       fsync it (write_s), the same through the page cache, write() and
 *       fsync (buffered_s), and fault in MIB MiB of fresh anonymous memory
 *       4 KiB page by page (fault_s: a restore has to populate that much).
 *       "RESULT ..." on stdout.
 *
 * BENCH_CKPT_SHOW=1 copies every line the programs write on stderr to ours.
 * Exit status: 0 when the measurement ran and checked out, 1 on any error or
 * mismatch, 2 on bad usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MIB ((uint64_t)1 << 20)
#define TIMEOUT_S 120.0
#define LINE_MAX_LEN 4096

static const char *prog = "bench_ckpt";

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void usage(void) __attribute__((noreturn));

static void usage(void)
{
	fprintf(stderr,
		"usage: %s target MIB\n"
		"       %s cycle SHIM RESTORE DIR MIB [PREFAULT]\n"
		"       %s job BINDIR DIR MIB [PREFAULT]\n"
		"       %s floor DIR MIB\n",
		prog, prog, prog, prog);
	exit(2);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t parse_mib(const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v < 2 || v > (1ull << 20))
		die("bad size \"%s\" (MiB, 2 or more)", s);
	return v;
}

/* ---- the target ------------------------------------------------------------------------- */

static const char text[] =
	"It was the best of times, it was the worst of times, it was the age of wisdom, it was the "
	"age of foolishness, it was the epoch of belief, it was the epoch of incredulity, it was the "
	"season of Light, it was the season of Darkness, it was the spring of hope, it was the winter "
	"of despair, we had everything before us, we had nothing before us, we were all going direct "
	"to Heaven, we were all going direct the other way.\n";

static uint64_t hash_mem(const uint8_t *p, size_t n)
{
	uint64_t h = 0x84222325cbf29ce4ull, w;

	for (size_t i = 0; i + 8 <= n; i += 8) {
		memcpy(&w, p + i, 8);
		h = (h ^ w) * 0x100000001b3ull;
		h ^= h >> 29;
	}
	return h;
}

/* CPU seconds of this process and its reaped children. */
static double cpu_used(void)
{
	struct rusage a, b;

	getrusage(RUSAGE_SELF, &a);
	getrusage(RUSAGE_CHILDREN, &b);
	return (double)(a.ru_utime.tv_sec + a.ru_stime.tv_sec + b.ru_utime.tv_sec + b.ru_stime.tv_sec) +
	       (double)(a.ru_utime.tv_usec + a.ru_stime.tv_usec + b.ru_utime.tv_usec + b.ru_stime.tv_usec) * 1e-6;
}

static void on_signal(int sig)
{
	(void)sig;
}

static int do_target(uint64_t mib)
{
	size_t size = (size_t)(mib * MIB), half = size / 2;
	uint8_t *mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint64_t x = 0x9e3779b97f4a7c15ull, h;
	double cpu0;
	pid_t pid = getpid();
	struct sigaction sa;

	if (mem == MAP_FAILED)
		die("cannot map %" PRIu64 " MiB: %s", mib, strerror(errno));
	for (size_t i = 0; i + 8 <= half; i += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(mem + i, &x, 8);
	}
	for (size_t i = half; i < size;) {
		size_t k = size - i < sizeof(text) - 1 ? size - i : sizeof(text) - 1;

		memcpy(mem + i, text, k);
		i += k;
	}
	h = hash_mem(mem, size);
	/* SIGTERM ends the wait cleanly; the checkpoint signal is the shim's. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	setvbuf(stdout, NULL, _IOLBF, 0);
	cpu0 = cpu_used();
	printf("READY pid=%d\n", (int)pid);
	for (;;) {
		double t;

		pause();
		t = now();
		printf("RUNNING pid=%d t=%.6f cpu=%.4f\n", (int)getpid(), t, cpu_used() - cpu0);
		if (getpid() != pid) {
			int ok = hash_mem(mem, size) == h;

			printf("VERIFIED %s\n", ok ? "ok" : "bad");
			return ok ? 0 : 1;
		}
	}
}

/* ---- the driver ---------------------------------------------------------------------------- */

struct lines {
	int fd;
	char buf[LINE_MAX_LEN];
	size_t len;
	bool eof;
	char line[LINE_MAX_LEN]; /* the last complete line */
};

/* Take one complete line out of l's buffer into l->line; false if none. */
static bool take_line(struct lines *l)
{
	char *nl = memchr(l->buf, '\n', l->len);
	size_t n;

	if (!nl) {
		if (l->len == sizeof(l->buf)) { /* an overlong line: cut it */
			memcpy(l->line, l->buf, sizeof(l->line) - 1);
			l->line[sizeof(l->line) - 1] = 0;
			l->len = 0;
			return true;
		}
		return false;
	}
	n = (size_t)(nl - l->buf);
	memcpy(l->line, l->buf, n);
	l->line[n] = 0;
	memmove(l->buf, nl + 1, l->len - n - 1);
	l->len -= n + 1;
	return true;
}

/* The next line from either stream, or NULL at the deadline or when both
 * have ended. *which is the stream it came from. Lines on the "err" stream
 * are kept (the last 8) for error messages. */
static char errlog[8][LINE_MAX_LEN];
static unsigned nerrlog;
static bool show_stderr; /* BENCH_CKPT_SHOW=1: pass every line on */

static const char *next_line(struct lines *out, struct lines *err, double deadline, struct lines **which)
{
	struct lines *ls[2] = {out, err};

	for (;;) {
		struct pollfd pf[2];
		int n = 0, k;
		double left = deadline - now();

		for (int i = 0; i < 2; i++)
			if (take_line(ls[i])) {
				*which = ls[i];
				if (ls[i] == err) {
					memcpy(errlog[nerrlog % 8], err->line, sizeof(err->line));
					nerrlog++;
					if (show_stderr)
						fprintf(stderr, "  stderr: %s\n", err->line);
				}
				return ls[i]->line;
			}
		if (left <= 0)
			return NULL;
		for (int i = 0; i < 2; i++)
			if (!ls[i]->eof)
				pf[n++] = (struct pollfd){.fd = ls[i]->fd, .events = POLLIN};
		if (!n)
			return NULL;
		k = poll(pf, (nfds_t)n, (int)(left * 1000) + 1);
		if (k < 0 && errno != EINTR)
			die("poll: %s", strerror(errno));
		for (int i = 0; i < n && k > 0; i++) {
			struct lines *l = pf[i].fd == out->fd ? out : err;
			ssize_t r;

			if (!pf[i].revents)
				continue;
			r = read(l->fd, l->buf + l->len, sizeof(l->buf) - l->len);
			if (r <= 0)
				l->eof = true;
			else
				l->len += (size_t)r;
		}
	}
}

static void show_errlog(void)
{
	unsigned first = nerrlog > 8 ? nerrlog - 8 : 0;

	for (unsigned i = first; i < nerrlog; i++)
		fprintf(stderr, "  stderr: %s\n", errlog[i % 8]);
}

/* fork + exec argv with stdin /dev/null and stdout/stderr to new pipes;
 * env entries (NAME=VALUE) added. Only fds 0-2 go to the child. */
static pid_t spawn(char *const argv[], char *const env[], struct lines *out, struct lines *err)
{
	int po[2], pe[2];
	pid_t pid;

	if (pipe2(po, O_CLOEXEC) < 0 || pipe2(pe, O_CLOEXEC) < 0)
		die("pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		int nul = open("/dev/null", O_RDONLY);

		if (nul < 0 || dup2(nul, 0) < 0 || dup2(po[1], 1) < 0 || dup2(pe[1], 2) < 0)
			_exit(127);
		for (int fd = 3; fd < 1024; fd++)
			close(fd);
		for (int i = 0; env[i]; i++)
			putenv(env[i]);
		execv(argv[0], argv);
		fprintf(stderr, "%s: cannot run %s: %s\n", prog, argv[0], strerror(errno));
		_exit(127);
	}
	close(po[1]);
	close(pe[1]);
	memset(out, 0, sizeof(*out));
	memset(err, 0, sizeof(*err));
	out->fd = po[0];
	err->fd = pe[0];
	return pid;
}

static void end_spawn(struct lines *out, struct lines *err)
{
	close(out->fd);
	close(err->fd);
}

/* Fault in bytes of memory, hold it hold_ms, free it (see the header). */
static void prefault(uint64_t bytes, int hold_ms)
{
	uint8_t *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct timespec ts = {hold_ms / 1000, (long)(hold_ms % 1000) * 1000000};

	if (p == MAP_FAILED)
		return;
	madvise(p, bytes, MADV_HUGEPAGE);
	for (uint64_t i = 0; i < bytes; i += 4096)
		p[i] = 1;
	nanosleep(&ts, NULL);
	munmap(p, bytes);
}

/* The number just before the line's final " s" ("..., 0.42 s"), or -1. */
static double last_seconds(const char *line)
{
	size_t n = strlen(line);
	const char *p, *q;

	if (n < 3 || strcmp(line + n - 2, " s"))
		return -1;
	p = line + n - 2;
	for (q = p; q > line && (q[-1] == '.' || (q[-1] >= '0' && q[-1] <= '9')); q--)
		;
	return q == p ? -1 : strtod(q, NULL);
}

/* One checkpoint/kill/restart cycle: the program (targv, with tenv) is
 * checkpointed, killed and restarted (rargv, renv); status, when not NULL,
 * is the file the shim writes each checkpoint's outcome to (image= gives the
 * size), else the image is at img. */
struct cycle {
	uint64_t mib;
	int prefault;
	char **targv, **tenv, **rargv, **renv;
	const char *img, *status;
};

/* "key=" in a status line: its number, or -1. */
static double status_field(const char *line, const char *key)
{
	const char *p = strstr(line, key);

	return p && (p == line || p[-1] == ' ') ? strtod(p + strlen(key), NULL) : -1;
}

static int run_cycle(const struct cycle *c)
{
	struct lines out, err, *which;
	const char *l;
	double t0, t_ckpt = -1, t_resume = -1, t_restart0, t_running = -1, shim_s = -1, deadline, image = -1, cpu = -1;
	pid_t pid, rpid, target;
	int status, verified = 0;

	pid = spawn(c->targv, c->tenv, &out, &err);
	deadline = now() + TIMEOUT_S;
	while ((l = next_line(&out, &err, deadline, &which)) && !(which == &out && !strncmp(l, "READY pid=", 10)))
		;
	if (!l) {
		show_errlog();
		die("the target never got ready");
	}
	target = (pid_t)atoi(l + 10);
	if (c->prefault)
		prefault(c->mib * MIB / 2 + 256 * MIB, 2200);

	t0 = now();
	if (kill(target, SIGUSR1) < 0)
		die("kill: %s", strerror(errno));
	deadline = t0 + TIMEOUT_S;
	while ((t_ckpt < 0 || t_resume < 0) && (l = next_line(&out, &err, deadline, &which))) {
		if (which == &err && strstr(l, "MiB image, ")) {
			t_ckpt = now() - t0;
			shim_s = last_seconds(l);
		} else if (which == &err && (strstr(l, "checkpoint failed") || strstr(l, "checkpoint refused"))) {
			show_errlog();
			die("the checkpoint did not happen");
		} else if (which == &out && !strncmp(l, "RUNNING", 7)) {
			const char *t = strstr(l, " t="), *u = strstr(l, " cpu=");

			t_resume = (t ? strtod(t + 3, NULL) : now()) - t0;
			cpu = u ? strtod(u + 5, NULL) : -1;
		}
	}
	if (t_ckpt < 0 || t_resume < 0) {
		show_errlog();
		die("no checkpoint report within %.0f s", TIMEOUT_S);
	}
	if (c->status) {
		FILE *f = fopen(c->status, "r");
		char line[LINE_MAX_LEN];

		if (!f || !fgets(line, sizeof(line), f) || strncmp(line, "result=ok ", 10))
			die("no good status in %s", c->status);
		fclose(f);
		image = status_field(line, "image=");
	} else {
		struct stat st;

		if (stat(c->img, &st) < 0)
			die("no image %s: %s", c->img, strerror(errno));
		image = (double)st.st_size;
	}
	kill(target, SIGKILL);
	waitpid(pid, &status, 0);
	end_spawn(&out, &err);

	if (c->prefault)
		prefault(c->mib * MIB + 256 * MIB, 2200);
	t_restart0 = now();
	rpid = spawn(c->rargv, c->renv, &out, &err);
	deadline = t_restart0 + TIMEOUT_S;
	while ((l = next_line(&out, &err, deadline, &which))) {
		if (which == &out && !strncmp(l, "RUNNING", 7)) {
			const char *t = strstr(l, " t=");

			t_running = (t ? strtod(t + 3, NULL) : now()) - t_restart0;
		} else if (which == &out && !strncmp(l, "VERIFIED", 8)) {
			verified = !strcmp(l, "VERIFIED ok") ? 1 : -1;
		}
	}
	if (waitpid(rpid, &status, 0) < 0)
		die("waitpid: %s", strerror(errno));
	end_spawn(&out, &err);
	if (t_running < 0 || verified != 1 || !WIFEXITED(status) || WEXITSTATUS(status)) {
		show_errlog();
		die("the restored program %s (status %#x)",
		    t_running < 0 ? "never ran" : verified ? "found its memory changed" : "did not verify its memory",
		    status);
	}
	printf("RESULT mib=%" PRIu64 " mem_bytes=%" PRIu64 " image_bytes=%.0f ckpt_s=%.4f shim_s=%.2f resume_s=%.4f"
	       " ckpt_cpu_s=%.3f restart_s=%.4f\n",
	       c->mib, c->mib * MIB, image, t_ckpt, shim_s, t_resume, cpu, t_running);
	return 0;
}

static void find_self(char *self, size_t n)
{
	ssize_t k = readlink("/proc/self/exe", self, n - 1);

	if (k <= 0)
		die("cannot find myself: %s", strerror(errno));
	self[k] = 0;
}

/* To a local image file (CKPT_IMAGE_FILE), restarted by ckpt-restore. */
static int do_cycle(const char *shim, const char *restore, const char *dir, uint64_t mib, int pf)
{
	char self[4096], img[4096], tmp[4200], mibs[32], env_pre[4200], env_img[4200];
	char *targv[] = {self, "target", mibs, NULL}, *tenv[] = {env_pre, env_img, NULL};
	char *rargv[] = {(char *)restore, img, NULL}, *renv[] = {"LD_PRELOAD=", NULL};
	struct cycle c = {mib, pf, targv, tenv, rargv, renv, img, NULL};

	find_self(self, sizeof(self));
	snprintf(img, sizeof(img), "%s/bench.img", dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", img);
	snprintf(mibs, sizeof(mibs), "%" PRIu64, mib);
	snprintf(env_pre, sizeof(env_pre), "LD_PRELOAD=%s", shim);
	snprintf(env_img, sizeof(env_img), "CKPT_IMAGE_FILE=%s", img);
	unlink(img);
	unlink(tmp);
	run_cycle(&c);
	unlink(img);
	return 0;
}

/* A job: ckpt-run with its embedded server (the image goes to the server,
 * durable when the status file says so), restarted by ckpt-restart (the
 * server rolls back and hands the image over, then ckpt-restore). */
static int do_job(const char *bindir, const char *dir, uint64_t mib, int pf)
{
	char self[4096], run[4200], restart[4200], mibs[32], job[64], store[4200], rundir[4200], status[4400];
	char env_run[4300];
	char *targv[] = {run, "--job", job, "--store", store, "--", self, "target", mibs, NULL};
	char *tenv[] = {env_run, NULL};
	char *rargv[] = {restart, "--job", job, "--store", store, NULL};
	struct cycle c = {mib, pf, targv, tenv, rargv, tenv, NULL, status};

	find_self(self, sizeof(self));
	snprintf(run, sizeof(run), "%s/ckpt-run", bindir);
	snprintf(restart, sizeof(restart), "%s/ckpt-restart", bindir);
	snprintf(mibs, sizeof(mibs), "%" PRIu64, mib);
	snprintf(job, sizeof(job), "bench%" PRIu64, mib);
	snprintf(store, sizeof(store), "%s/store", dir);
	snprintf(rundir, sizeof(rundir), "%s/run", dir);
	snprintf(status, sizeof(status), "%s/%s.status", rundir, job);
	snprintf(env_run, sizeof(env_run), "CKPT_RUN_DIR=%s", rundir);
	return run_cycle(&c);
}

/* ---- reference figures --------------------------------------------------------------------- */

static double write_file(const char *path, const uint8_t *data, uint64_t bytes, bool direct)
{
	double t0 = now();
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | (direct ? O_DIRECT : 0), 0600);

	if (fd < 0)
		die("open %s: %s", path, strerror(errno));
	for (uint64_t off = 0; off < bytes;) {
		size_t n = bytes - off < 4 * MIB ? (size_t)(bytes - off) : 4 * MIB;
		ssize_t k = write(fd, data + off, n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			die("write %s: %s", path, k < 0 ? strerror(errno) : "wrote nothing");
		off += (uint64_t)k;
	}
	if (fsync(fd) < 0 || close(fd) < 0)
		die("fsync %s: %s", path, strerror(errno));
	return now() - t0;
}

static int do_floor(const char *dir, uint64_t mib)
{
	uint64_t bytes = mib * MIB / 2;
	char path[4200];
	uint8_t *data = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	uint8_t *mem;
	uint64_t x = 0x2545f4914f6cdd1dull;
	double t_direct, t_buf, t0, t_fault;

	if (data == MAP_FAILED)
		die("out of memory");
	for (uint64_t i = 0; i + 8 <= bytes; i += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(data + i, &x, 8);
	}
	snprintf(path, sizeof(path), "%s/floor.dat", dir);
	t_direct = write_file(path, data, bytes, true);
	unlink(path);
	t_buf = write_file(path, data, bytes, false);
	unlink(path);
	munmap(data, bytes);
	prefault(mib * MIB + 256 * MIB, 2200);
	mem = mmap(NULL, mib * MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		die("out of memory");
	t0 = now();
	for (uint64_t i = 0; i < mib * MIB; i += 4096)
		mem[i] = 1;
	t_fault = now() - t0;
	munmap(mem, mib * MIB);
	printf("RESULT mib=%" PRIu64 " write_s=%.4f buffered_s=%.4f fault_s=%.4f\n", mib, t_direct, t_buf, t_fault);
	return 0;
}

int main(int argc, char **argv)
{
	const char *show = getenv("BENCH_CKPT_SHOW");

	show_stderr = show && !strcmp(show, "1");
	if (argc >= 3 && !strcmp(argv[1], "target"))
		return do_target(parse_mib(argv[2]));
	if ((argc == 6 || argc == 7) && !strcmp(argv[1], "cycle"))
		return do_cycle(argv[2], argv[3], argv[4], parse_mib(argv[5]), argc == 7 ? atoi(argv[6]) : 1);
	if ((argc == 5 || argc == 6) && !strcmp(argv[1], "job"))
		return do_job(argv[2], argv[3], parse_mib(argv[4]), argc == 6 ? atoi(argv[5]) : 1);
	if (argc == 4 && !strcmp(argv[1], "floor"))
		return do_floor(argv[2], parse_mib(argv[3]));
	usage();
}
