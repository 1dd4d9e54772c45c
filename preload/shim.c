/* shim.c - libckptshim.so start-up: configuration, the lock, logging, fork and exit hooks.
 *
 * Environment read once, at load:
 *   CKPT_MOUNTS         /data=tcp:127.0.0.1:7070,/out=unix:/run/ckpt.sock
 *   CKPT_IO_TIMEOUT     seconds a server may take to answer (default 30)
 *   CKPT_RECONNECT_TIMEOUT  seconds to wait for a lost server to come back (default 30, 0 = none)
 *   CKPT_WRITE_BEHIND   write-behind buffer per open file, bytes (default 1 MiB, 0 = off)
 *   CKPT_READ_AHEAD     largest read-ahead per open file, bytes (default 1 MiB, 0 = off)
 *   CKPT_LOCAL_READS    0: never read files directly from descriptors a same-host
 *                       server offers (READ_FD); default 1
 *   CKPT_JOB            job name sent in HELLO
 *   CKPT_KEY_FILE       key proven to servers started with --key (ckpt keygen)
 *   CKPT_DEBUG          1: log every remote call on stderr
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shim.h"
#include "rawsys.h"
#include "ckpt.h"

#define LOG_PREFIX "ckptshim: "

struct shim_mount *shim_mounts;
int shim_nmounts;
int shim_io_timeout_ms = 30000;
int shim_reconnect_ms = 30000;
size_t shim_wbuf_size = 1u << 20;
size_t shim_rbuf_size = 1u << 20;
bool shim_local_reads = true;
mode_t shim_umask = 022;
int shim_debug_on;
int shim_ready;
pid_t shim_pid;

SHIM_EXPORT const char ckpt_shim_version[] = CKPT_VERSION;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
__thread int shim_busy;

/* The depth goes up before the mutex is taken and down after it is released,
 * so a checkpoint handler that sees 0 knows the lock is free. */
void shim_lock(void)
{
	shim_busy++;
	pthread_mutex_lock(&lock);
}

void shim_unlock(void)
{
	pthread_mutex_unlock(&lock);
	if (--shim_busy == 0 && __builtin_expect(ckpt_pending, 0))
		ckpt_run_pending();
}

static void vlog(const char *fmt, va_list ap)
{
	char line[1024];
	int saved = errno;
	size_t n = sizeof(LOG_PREFIX) - 1;
	int k;

	memcpy(line, LOG_PREFIX, n);
	k = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	if (k < 0)
		k = 0;
	n += (size_t)k < sizeof(line) - n - 1 ? (size_t)k : sizeof(line) - n - 2;
	line[n++] = '\n';
	if (real_write) {
		if (real_write(2, line, n) < 0) {
			/* stderr is gone; nothing to tell */
		}
	}
	errno = saved;
}

void shim_log(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(fmt, ap);
	va_end(ap);
}

void shim_debug(const char *fmt, ...)
{
	va_list ap;

	if (!shim_debug_on)
		return;
	va_start(ap, fmt);
	vlog(fmt, ap);
	va_end(ap);
}

/* Parse a size in bytes with an optional K/M/G suffix; -1 on junk. */
static long long parse_size(const char *s)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || v < 0)
		return -1;
	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	default: break;
	}
	return *end ? -1 : v;
}

static void fatal_config(const char *var, const char *val, const char *why)
{
	shim_log("invalid %s=\"%s\": %s; refusing to run the program with a wrong file view", var,
		 val, why);
	real__exit(127);
}

struct wire_key shim_key;

/* CKPT_KEY_FILE: a key file of ours that nobody else may read, read with
 * raw system calls (this runs in the constructor, before our wrappers are
 * ready). A job key also names the job: CKPT_JOB must agree, or is set. */
static void read_key(const char *path)
{
	char buf[4096], problem[160];
	const char *why = NULL;
	struct stat st;
	long fd = rs_openat(AT_FDCWD, path, O_RDONLY | O_CLOEXEC | O_NOCTTY, 0), n;
	const char *job = getenv("CKPT_JOB");

	if (fd < 0)
		fatal_config("CKPT_KEY_FILE", path, strerror((int)-fd));
	if (rs_call2(SYS_fstat, fd, &st) < 0) {
		rs_close((int)fd);
		fatal_config("CKPT_KEY_FILE", path, "cannot stat it");
	}
	if (wire_key_file_problem(&st, problem, sizeof(problem)) < 0) {
		rs_close((int)fd);
		fatal_config("CKPT_KEY_FILE", path, problem);
	}
	n = rs_read((int)fd, buf, sizeof(buf));
	rs_close((int)fd);
	if (n < 0)
		fatal_config("CKPT_KEY_FILE", path, strerror((int)-n));
	if (wire_key_parse(buf, (size_t)n, &shim_key, &why) < 0) {
		wire_auth_wipe(buf, sizeof(buf));
		fatal_config("CKPT_KEY_FILE", path, why);
	}
	wire_auth_wipe(buf, sizeof(buf));
	if (shim_key.kind == WIRE_KEY_JOB) {
		if (job && *job && strcmp(job, shim_key.job) != 0) {
			shim_log("CKPT_KEY_FILE=%s is the key of job '%s', but CKPT_JOB=%s; refusing to run "
				 "the program", path, shim_key.job, job);
			real__exit(127);
		}
		setenv("CKPT_JOB", shim_key.job, 1);
	}
}

static void read_env(void)
{
	const char *s;
	long long v;

	if ((s = getenv("CKPT_DEBUG")) && *s && strcmp(s, "0"))
		shim_debug_on = 1;
	if ((s = getenv("CKPT_IO_TIMEOUT")) && *s) {
		v = parse_size(s);
		if (v <= 0 || v > 86400)
			fatal_config("CKPT_IO_TIMEOUT", s, "expected seconds, 1 to 86400");
		shim_io_timeout_ms = (int)v * 1000;
	}
	if ((s = getenv("CKPT_RECONNECT_TIMEOUT")) && *s) {
		v = parse_size(s);
		if (v < 0 || v > 86400)
			fatal_config("CKPT_RECONNECT_TIMEOUT", s, "expected seconds, 0 to 86400");
		shim_reconnect_ms = (int)v * 1000;
	}
	if ((s = getenv("CKPT_WRITE_BEHIND")) && *s) {
		v = parse_size(s);
		if (v < 0 || v > (long long)WIRE_MAX_DATA)
			fatal_config("CKPT_WRITE_BEHIND", s, "expected bytes, 0 to 4M");
		shim_wbuf_size = (size_t)v;
	}
	if ((s = getenv("CKPT_READ_AHEAD")) && *s) {
		v = parse_size(s);
		if (v < 0 || v > (long long)WIRE_MAX_DATA)
			fatal_config("CKPT_READ_AHEAD", s, "expected bytes, 0 to 4M");
		shim_rbuf_size = (size_t)v;
	}
	if ((s = getenv("CKPT_LOCAL_READS")) && *s) {
		if (strcmp(s, "0") && strcmp(s, "1"))
			fatal_config("CKPT_LOCAL_READS", s, "expected 0 or 1");
		shim_local_reads = *s == '1';
	}
	if ((s = getenv("CKPT_KEY_FILE")) && *s)
		read_key(s);
	if ((s = getenv("CKPT_MOUNTS")) && *s) {
		if (shim_parse_mounts(s) < 0)
			fatal_config("CKPT_MOUNTS", s,
				     "expected MOUNTPOINT=tcp:HOST:PORT or MOUNTPOINT=unix:PATH, comma-separated,"
				     " with absolute mount points other than /");
	}
}

/* The umask cannot be read without setting it; /proc tells it. */
static void read_umask(void)
{
	char buf[2048];
	int fd = real_open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	ssize_t n;
	char *p;

	if (fd < 0)
		return;
	n = real_read(fd, buf, sizeof(buf) - 1);
	real_close(fd);
	if (n <= 0)
		return;
	buf[n] = 0;
	p = strstr(buf, "\nUmask:");
	if (p)
		shim_umask = (mode_t)strtoul(p + 7, NULL, 8);
}

static void atfork_prepare(void)
{
	if (!shim_nmounts)
		return;
	shim_lock();
	shim_before_child();
	shim_share_cursors();
}

static void atfork_parent(void)
{
	if (shim_nmounts)
		shim_unlock();
}

static void atfork_child(void)
{
	ckpt_pending = 0; /* a checkpoint asked of the parent is the parent's */
	shim_pid = getpid();
	if (!shim_nmounts)
		return;
	shim_conn_after_fork();
	shim_unlock();
}

static void at_exit_flush(void)
{
	if (!shim_nmounts)
		return;
	/* stdio streams on remote fds first: glibc flushes them only after
	 * every exit handler, too late for the write-behind buffers. */
	fflush(NULL);
	shim_lock();
	shim_flush_all();
	shim_unlock();
}

static int initializing;

void shim_init(void);
void shim_init(void)
{
	if (shim_ready || initializing)
		return;
	initializing = 1;
	shim_resolve_reals();
	if (!real_open || !real_read || !real_write || !real_close || !real__exit) {
		static const char msg[] = "ckptshim: fatal: cannot resolve the C library's file calls\n";
		if (write(2, msg, sizeof(msg) - 1) < 0) {
			/* nothing more to do */
		}
		abort();
	}
	shim_pid = getpid();
	read_env();
	read_umask();
	{
		const char *fds = getenv("CKPT_FDS");

		shim_std_init();
		if (fds && *fds && shim_nmounts)
			shim_adopt_fds(fds);
		unsetenv("CKPT_FDS");
		fds = getenv("CKPT_CWD");
		if (fds && *fds && shim_nmounts) {
			struct shim_path p;

			if (shim_classify(AT_FDCWD, fds, &p) == 1)
				shim_cwd_remote = strdup(fds);
		}
		unsetenv("CKPT_CWD");
		for (int fd = 0; fd < 3; fd++)
			shim_std_fix(fd);
	}
	pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
	atexit(at_exit_flush);
	ckpt_state_init();
	ckpt_init();
	shim_ready = 1;
	initializing = 0;
	ckpt_run_pending();
}

__attribute__((constructor(101))) static void shim_ctor(void)
{
	shim_init();
}
