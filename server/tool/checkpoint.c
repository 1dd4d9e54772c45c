/* checkpoint.c - `ckpt checkpoint`: ask a running program for a checkpoint and wait for the outcome.
 *
 * The protocol with the shim (preload/ckpt.c): RUNDIR/JOB.pid holds the
 * job's process id (written by ckpt-run and ckpt-restart); the checkpoint
 * signal (CKPT_SIGNAL, default SIGUSR1) asks for a checkpoint; after every
 * attempt the shim renames one line of key=value pairs into RUNDIR/JOB.status:
 *   result=ok pid=P job=J gen=G image=BYTES memory=BYTES seconds=S.SSS servers=K ...
 *   result=failed pid=P job=J gen=G seconds=S.SSS error=TEXT TO THE END OF THE LINE
 * Unknown keys are ignored. The tool removes the old status, signals, and
 * polls until the file is back, the process is gone, or the time is up.
 *
 * The signal is only sent to a process that has the shim mapped: to any
 * other program, SIGUSR1 is a request to die.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tool.h"
#include "status.h"

#define ENV_MAX (1u << 20) /* /proc/PID/environ read, at most */
#define MAPS_MAX (64u << 20)

static const char usage_text[] =
	"usage: ckpt checkpoint PID [--job NAME] [options]\n"
	"       ckpt checkpoint --job NAME [options]\n"
	"\n"
	"Ask a program running under the shim for a checkpoint and wait for the outcome:\n"
	"prints 'job NAME: generation G, image X MiB, T s, R MB/s' (exit 0), or why the\n"
	"checkpoint failed (exit 1).\n"
	"\n"
	"  PID               the process (its job: CKPT_JOB in its environment, else --job)\n"
	"  --job NAME        the job; without PID its process comes from RUNDIR/NAME.pid\n"
	"  --run-dir DIR     RUNDIR (default: the process's CKPT_RUN_DIR, else\n"
	"                    ${XDG_RUNTIME_DIR:-/tmp}/ckpt-UID)\n"
	"  --signal SIG      the checkpoint signal (default: the process's CKPT_SIGNAL,\n"
	"                    else USR1): a name (USR2, RTMIN+3) or a number\n"
	"  --timeout S       seconds to wait for the outcome (default 600)\n";

/* ---- the status line ------------------------------------------------------------------------ */

static int get_num(const char *v, size_t n, uint64_t *out)
{
	char b[24];

	if (!n || n >= sizeof(b))
		return -1;
	memcpy(b, v, n);
	b[n] = 0;
	return parse_u64(b, out);
}

static int get_secs(const char *v, size_t n, double *out)
{
	char b[32], *end;

	if (!n || n >= sizeof(b))
		return -1;
	memcpy(b, v, n);
	b[n] = 0;
	if (b[0] < '0' || b[0] > '9')
		return -1;
	errno = 0;
	*out = strtod(b, &end);
	return errno || *end || *out < 0 ? -1 : 0;
}

int status_parse(const char *line, size_t len, struct tstatus *s)
{
	const char *p = line, *end;

	memset(s, 0, sizeof(*s));
	end = memchr(line, '\n', len);
	if (!end)
		return terr("the status line is not terminated (cut?)");
	if (memchr(line, 0, (size_t)(end - line)))
		return terr("the status line holds a NUL byte");
	while (p < end) {
		const char *k = p, *eq, *v, *sp;
		size_t kl, vl;

		while (p < end && *p == ' ')
			p++;
		if (p == end)
			break;
		k = p;
		eq = memchr(k, '=', (size_t)(end - k));
		sp = memchr(k, ' ', (size_t)(end - k));
		if (!eq || (sp && sp < eq))
			return terr("the status line has a word without '=': not written by the shim?");
		kl = (size_t)(eq - k);
		v = eq + 1;
		if (kl == 5 && !memcmp(k, "error", 5)) { /* runs to the end of the line */
			vl = (size_t)(end - v);
			if (vl >= sizeof(s->error))
				vl = sizeof(s->error) - 1;
			memcpy(s->error, v, vl);
			s->error[vl] = 0;
			s->has_error = true;
			break;
		}
		sp = memchr(v, ' ', (size_t)(end - v));
		vl = (size_t)((sp ? sp : end) - v);
		p = v + vl;
#define KEY(name) (kl == sizeof(name) - 1 && !memcmp(k, name, kl))
		if (KEY("result")) {
			if (!vl || vl >= sizeof(s->result))
				return terr("the status line has a bad result");
			memcpy(s->result, v, vl);
			s->result[vl] = 0;
		} else if (KEY("pid")) {
			if (get_num(v, vl, &s->pid))
				return terr("the status line has a bad pid");
			s->has_pid = true;
		} else if (KEY("job")) {
			if (vl >= sizeof(s->job))
				return terr("the status line has a bad job");
			memcpy(s->job, v, vl);
			s->job[vl] = 0;
		} else if (KEY("gen")) {
			if (get_num(v, vl, &s->gen))
				return terr("the status line has a bad generation");
		} else if (KEY("image")) {
			if (get_num(v, vl, &s->image))
				return terr("the status line has a bad image size");
			s->has_image = true;
		} else if (KEY("memory")) {
			if (get_num(v, vl, &s->memory))
				return terr("the status line has a bad memory size");
		} else if (KEY("servers")) {
			if (get_num(v, vl, &s->servers))
				return terr("the status line has a bad server count");
		} else if (KEY("seconds")) {
			if (get_secs(v, vl, &s->seconds))
				return terr("the status line has a bad time");
			s->has_seconds = true;
		}
#undef KEY
		/* any other key: a later shim's; ignored */
	}
	if (!s->result[0])
		return terr("the status line has no result");
	return 0;
}

void status_report(const struct tstatus *s, const char *job, FILE *out)
{
	double secs = s->seconds > 0.001 ? s->seconds : 0.001;

	fprintf(out, "job %s: generation %" PRIu64 ", image %.1f MiB, %.2f s, %.1f MB/s\n", job, s->gen,
		(double)s->image / 1048576.0, s->seconds, (double)s->image / 1e6 / secs);
}

/* ---- the process ------------------------------------------------------------------------- */

/* The whole of a /proc file (at most max bytes) into a malloc'd buffer. */
static char *read_proc(const char *path, size_t max, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *b = malloc(cap + 1);
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || !b) {
		int e = errno;

		free(b);
		if (fd >= 0)
			close(fd);
		errno = e;
		return NULL;
	}
	for (;;) {
		ssize_t k;

		if (n == cap) {
			char *t = cap >= max ? NULL : realloc(b, (cap *= 2) + 1);

			if (!t) {
				free(b);
				close(fd);
				errno = EFBIG;
				return NULL;
			}
			b = t;
		}
		k = read(fd, b + n, cap - n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			int e = errno;

			free(b);
			close(fd);
			errno = e;
			return NULL;
		}
		if (!k)
			break;
		n += (size_t)k;
	}
	close(fd);
	b[n] = 0;
	*len = n;
	return b;
}

/* 1 if the process is gone (or a zombie), 0 if it runs. */
static int gone(long pid)
{
	char path[64], *b, *rp;
	size_t n;
	int dead;

	if (kill((pid_t)pid, 0) < 0 && errno == ESRCH)
		return 1;
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	b = read_proc(path, 4096, &n);
	if (!b)
		return errno == ENOENT;
	rp = strrchr(b, ')'); /* the state follows the command name, which may hold anything */
	dead = rp && (rp[1] == ' ') && (rp[2] == 'Z' || rp[2] == 'X');
	free(b);
	return dead;
}

/* The job name the shim gives a program started without CKPT_JOB:
 * PROGRAM-PID, PROGRAM its argv[0]'s last component made of job-name
 * characters (others become '_'), at most 64 of them. */
void default_job(const char *argv0, long pid, char *out, size_t cap)
{
	const char *b = strrchr(argv0, '/');
	size_t k = 0;

	b = b ? b + 1 : argv0;
	for (; b[k] && k < 64 && k + 1 < cap; k++) {
		char c = b[k];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
			  c == '_' || (c == '.' && k);

		out[k] = ok ? c : '_';
	}
	snprintf(out + k, cap - k, "%s-%ld", k ? "" : "job", pid);
}

/* The job whose RUNDIR/JOB.pid names pid, into job; 0 if found. */
static int job_by_pidfile(const char *rdir, long pid, char *job, size_t cap)
{
	DIR *d = opendir(rdir);
	struct dirent *e;
	int found = -1;

	if (!d)
		return -1;
	while (found < 0 && (e = readdir(d))) {
		size_t n = strlen(e->d_name);
		char path[WIRE_MAX_PATH + 300], buf[32];
		uint64_t v;
		FILE *f;

		if (n < 5 || strcmp(e->d_name + n - 4, ".pid") || n - 4 > WIRE_MAX_JOB || n - 4 >= cap)
			continue;
		snprintf(path, sizeof(path), "%s/%s", rdir, e->d_name);
		f = fopen(path, "re");
		if (!f)
			continue;
		if (fgets(buf, sizeof(buf), f)) {
			buf[strcspn(buf, "\n")] = 0;
			if (!parse_u64(buf, &v) && v == (uint64_t)pid) {
				memcpy(job, e->d_name, n - 4);
				job[n - 4] = 0;
				found = wire_job_check(job, (uint32_t)(n - 4)) ? -1 : 0;
			}
		}
		fclose(f);
	}
	closedir(d);
	return found;
}

/* The pid in RUNDIR/JOB.pid. */
static long pid_of_job(const char *rdir, const char *job)
{
	char path[WIRE_MAX_PATH + WIRE_MAX_JOB + 16], *b;
	size_t n;
	uint64_t v;

	snprintf(path, sizeof(path), "%s/%s.pid", rdir, job);
	b = read_proc(path, 64, &n);
	if (!b) {
		if (errno == ENOENT)
			return terr("job %s is not running here: %s does not exist (a job started with another "
				    "CKPT_RUN_DIR needs --run-dir)", job, path);
		return terr("cannot read %s: %s", path, strerror(errno));
	}
	if (n && b[n - 1] == '\n')
		b[--n] = 0;
	if (parse_u64(b, &v) || !v || v > INT_MAX) {
		free(b);
		return terr("%s does not hold a process id", path);
	}
	free(b);
	return (long)v;
}

/* 0 if the shim is mapped in pid; -1 with why. */
static int has_shim(long pid)
{
	char path[64], *maps;
	size_t n;
	int ok;

	snprintf(path, sizeof(path), "/proc/%ld/maps", pid);
	maps = read_proc(path, MAPS_MAX, &n);
	if (!maps) {
		if (errno == ENOENT)
			return terr("no process %ld", pid);
		return terr("cannot read %s: %s (a process of another user?)", path, strerror(errno));
	}
	ok = strstr(maps, "/libckptshim.so") != NULL;
	free(maps);
	if (!ok)
		return terr("process %ld does not run under the shim (libckptshim.so is not loaded): it cannot be "
			    "checkpointed, and the signal would not be understood", pid);
	return 0;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Read the status file: 1 and s filled, 0 if not there (yet), -1 on a bad one. */
static int read_status(const char *path, struct tstatus *s)
{
	size_t n;
	char *b = read_proc(path, 8192, &n);
	int rc;

	if (!b)
		return errno == ENOENT ? 0 : terr("cannot read %s: %s", path, strerror(errno));
	rc = status_parse(b, n, s);
	free(b);
	if (rc < 0)
		return terr_prefix("%s", path);
	return 1;
}

int cmd_checkpoint(int argc, char **argv)
{
	static const struct option opts[] = {
		{"job", required_argument, NULL, 'j'},	   {"run-dir", required_argument, NULL, 'r'},
		{"timeout", required_argument, NULL, 't'}, {"signal", required_argument, NULL, 's'},
		{"help", no_argument, NULL, 'h'},	   {NULL, 0, NULL, 0},
	};
	const char *job_opt = NULL, *rdir_opt = NULL, *sig_opt = NULL, *penv_sig = NULL;
	char rdir[WIRE_MAX_PATH + 16], job[WIRE_MAX_JOB + 80], spath[WIRE_MAX_PATH + WIRE_MAX_JOB + 32];
	char *env = NULL;
	size_t envlen = 0;
	double timeout = 600, t0, deadline;
	long pid = 0;
	int c, sig = SIGUSR1, rc = TOOL_EXIT_FAIL;
	struct tstatus s;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'j': job_opt = optarg; break;
		case 'r': rdir_opt = optarg; break;
		case 's': sig_opt = optarg; break;
		case 't':
			if (parse_seconds(optarg, &timeout) < 0)
				return tool_usage("checkpoint", "--timeout wants a number of seconds, not '%s'", optarg);
			break;
		case 'h': fputs(usage_text, stdout); return 0;
		default: return tool_usage("checkpoint", "unknown option or missing value: '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc) {
		uint64_t v;

		if (optind + 1 < argc)
			return tool_usage("checkpoint", "one PID only");
		if (parse_u64(argv[optind], &v) || !v || v > INT_MAX)
			return tool_usage("checkpoint", "'%s' is not a process id", argv[optind]);
		pid = (long)v;
	}
	if (!pid && !job_opt)
		return tool_usage("checkpoint", "name the process: a PID or --job NAME");
	if (job_opt && wire_job_check(job_opt, (uint32_t)strlen(job_opt)))
		return tool_usage("checkpoint",
				  "'%s' is not a job name (1 to 128 of A-Z a-z 0-9 . _ -, not starting with .)", job_opt);
	if (sig_opt) {
		sig = parse_signal(sig_opt);
		if (sig <= 0 || sig == SIGKILL || sig == SIGSTOP)
			return tool_usage("checkpoint", "--signal %s is not a signal that can ask for a checkpoint",
					  sig_opt);
	}

	if (!pid) { /* --job: the pid from the run directory */
		if (run_dir(rdir, sizeof(rdir), rdir_opt, NULL, 0, (unsigned)getuid()) < 0)
			return tool_fail();
		pid = pid_of_job(rdir, job_opt);
		if (pid < 0)
			return tool_fail();
		if (gone(pid))
			return terr("job %s: its process %ld (from %s/%s.pid) is not running", job_opt, pid, rdir,
				    job_opt),
			       tool_fail();
	} else if (gone(pid)) {
		return terr("no process %ld", pid), tool_fail();
	}
	if (has_shim(pid) < 0)
		return tool_fail();
	{
		char path[64];
		struct stat st;

		snprintf(path, sizeof(path), "/proc/%ld/environ", pid);
		env = read_proc(path, ENV_MAX, &envlen);
		if (!env)
			return terr("cannot read %s: %s", path, strerror(errno)), tool_fail();
		snprintf(path, sizeof(path), "/proc/%ld", pid);
		if (stat(path, &st) < 0) {
			terr("no process %ld", pid);
			goto out;
		}
		if (!job_opt && run_dir(rdir, sizeof(rdir), rdir_opt, env, envlen, (unsigned)st.st_uid) < 0)
			goto out;
	}
	penv_sig = env_get(env, envlen, "CKPT_SIGNAL");
	if (penv_sig && *penv_sig) {
		int ps = parse_signal(penv_sig);

		if (ps == 0) {
			terr("process %ld has checkpoints off (CKPT_SIGNAL=%s)", pid, penv_sig);
			goto out;
		}
		if (ps > 0 && sig_opt && ps != sig) {
			terr("process %ld checkpoints on CKPT_SIGNAL=%s; --signal %s would not ask it for one", pid,
			     penv_sig, sig_opt);
			goto out;
		}
		if (ps > 0)
			sig = ps;
	}
	if (job_opt) {
		snprintf(job, sizeof(job), "%s", job_opt);
	} else {
		const char *j = env_get(env, envlen, "CKPT_JOB");

		if (j && *j) {
			snprintf(job, sizeof(job), "%s", j);
		} else if (job_by_pidfile(rdir, pid, job, sizeof(job)) < 0) {
			char path[64], *cmdline;
			size_t n;

			snprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
			cmdline = read_proc(path, 1u << 20, &n);
			default_job(cmdline && n ? cmdline : "", pid, job, sizeof(job));
			free(cmdline);
		}
		if (wire_job_check(job, (uint32_t)strlen(job))) {
			terr("process %ld has the job name '%s', which cannot own checkpoints", pid, job);
			goto out;
		}
	}

	if ((size_t)snprintf(spath, sizeof(spath), "%s/%s.status", rdir, job) >= sizeof(spath)) {
		terr("the run directory %s is too long", rdir);
		goto out;
	}
	if (unlink(spath) < 0 && errno != ENOENT) {
		terr("cannot remove the old %s: %s", spath, strerror(errno));
		goto out;
	}
	t0 = now_s();
	deadline = t0 + timeout;
	if (kill((pid_t)pid, sig) < 0) {
		terr(errno == ESRCH ? "process %ld is gone" : "cannot signal process %ld: %s", pid, strerror(errno));
		goto out;
	}
	for (long wait_ms = 5;; wait_ms = wait_ms < 100 ? wait_ms * 2 : 100) {
		int k = read_status(spath, &s);

		if (k < 0)
			goto out;
		if (k > 0 && (!s.has_pid || s.pid == (uint64_t)pid))
			break;
		if (gone(pid)) {
			if (read_status(spath, &s) > 0 && (!s.has_pid || s.pid == (uint64_t)pid))
				break;
			terr("job %s: process %ld ended before the checkpoint finished", job, pid);
			goto out;
		}
		if (now_s() >= deadline) {
			terr("job %s: no outcome from process %ld within %g s (%s did not appear)", job, pid, timeout,
			     spath);
			goto out;
		}
		sleep_ms(wait_ms);
	}
	if (!strcmp(s.result, "ok")) {
		if (!s.has_image || !s.has_seconds) {
			terr("%s: result=ok without image= and seconds=", spath);
			goto out;
		}
		status_report(&s, job, stdout);
		rc = fflush(stdout) == 0 ? 0 : TOOL_EXIT_FAIL;
	} else {
		char why[sizeof(s.error) * 4];

		terr("job %s: checkpoint %s: %s", job, !strcmp(s.result, "failed") ? "failed" : s.result,
		     s.has_error ? text(why, sizeof(why), s.error, strlen(s.error)) : "no reason given");
	}
out:
	free(env);
	if (rc)
		tool_fail();
	return rc;
}
