/* util.c - the ckpt tool's small helpers: one-line errors, number and signal parsing, safe text, file reads. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define XXH_STATIC_LINKING_ONLY /* XXH64_state_t on the stack */
#include <xxhash.h>

#include "tool.h"

char tool_err[2048];

/* ---- errors ------------------------------------------------------------------------------- */

int terr(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(tool_err, sizeof(tool_err), fmt, ap);
	va_end(ap);
	return -1;
}

int terr_prefix(const char *fmt, ...)
{
	char pre[1024], old[sizeof(tool_err)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(pre, sizeof(pre), fmt, ap);
	va_end(ap);
	memcpy(old, tool_err, sizeof(old));
	{ /* pre ": " old, cut to fit */
		size_t pl = strlen(pre), ol = strlen(old), cap = sizeof(tool_err) - 1;

		if (pl > cap - 2)
			pl = cap - 2;
		if (ol > cap - 2 - pl)
			ol = cap - 2 - pl;
		memcpy(tool_err, pre, pl);
		memcpy(tool_err + pl, ": ", 2);
		memcpy(tool_err + pl + 2, old, ol);
		tool_err[pl + 2 + ol] = 0;
	}
	return -1;
}

int tool_fail(void)
{
	fprintf(stderr, TOOL_NAME ": %s\n", tool_err[0] ? tool_err : "failed");
	return TOOL_EXIT_FAIL;
}

int tool_usage(const char *cmd, const char *fmt, ...)
{
	char why[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (cmd)
		fprintf(stderr, TOOL_NAME " %s: %s; try '" TOOL_NAME " %s --help'\n", cmd, why, cmd);
	else
		fprintf(stderr, TOOL_NAME ": %s; try '" TOOL_NAME " --help'\n", why);
	return TOOL_EXIT_USAGE;
}

/* ---- parsing ------------------------------------------------------------------------------ */

int parse_u64(const char *s, uint64_t *v)
{
	uint64_t x = 0;

	if (!s || !*s)
		return -1;
	for (; *s; s++) {
		unsigned d = (unsigned)(*s - '0');

		if (d > 9 || x > (UINT64_MAX - d) / 10)
			return -1;
		x = x * 10 + d;
	}
	*v = x;
	return 0;
}

int parse_seconds(const char *s, double *v)
{
	char *end;
	double x;

	if (!s || !*s || *s == '-' || *s == '+')
		return -1;
	errno = 0;
	x = strtod(s, &end);
	if (errno || *end || !(x > 0) || x > 366.0 * 86400)
		return -1;
	*v = x;
	return 0;
}

static const struct {
	const char *name;
	int sig;
} host_signals[] = {
	{"HUP", SIGHUP},   {"INT", SIGINT},       {"QUIT", SIGQUIT},     {"TRAP", SIGTRAP},
	{"USR1", SIGUSR1}, {"USR2", SIGUSR2},     {"PIPE", SIGPIPE},     {"ALRM", SIGALRM},
	{"TERM", SIGTERM}, {"CHLD", SIGCHLD},     {"CONT", SIGCONT},     {"TSTP", SIGTSTP},
	{"TTIN", SIGTTIN}, {"TTOU", SIGTTOU},     {"URG", SIGURG},       {"XCPU", SIGXCPU},
	{"XFSZ", SIGXFSZ}, {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF},     {"WINCH", SIGWINCH},
	{"IO", SIGIO},     {"SYS", SIGSYS},       {"KILL", SIGKILL},     {"STOP", SIGSTOP},
	{"SEGV", SIGSEGV}, {"BUS", SIGBUS},       {"ILL", SIGILL},       {"FPE", SIGFPE},
	{"ABRT", SIGABRT},
};

int parse_signal(const char *s)
{
	uint64_t v;

	if (!s || !*s)
		return -1;
	if (!strcasecmp(s, "off") || !strcasecmp(s, "none") || !strcmp(s, "0"))
		return 0;
	if (!strncasecmp(s, "SIG", 3))
		s += 3;
	if (*s >= '0' && *s <= '9')
		return parse_u64(s, &v) || v < 1 || v > (uint64_t)SIGRTMAX ? -1 : (int)v;
	if (!strncasecmp(s, "RTMIN", 5) || !strncasecmp(s, "RTMAX", 5)) {
		int base = (s[4] == 'N' || s[4] == 'n') ? SIGRTMIN : SIGRTMAX;
		long r;

		if (!s[5])
			return base;
		if ((s[5] != '+' && s[5] != '-') || parse_u64(s + 6, &v) || v > 64)
			return -1;
		r = s[5] == '+' ? base + (long)v : base - (long)v;
		return r < SIGRTMIN || r > SIGRTMAX ? -1 : (int)r;
	}
	for (size_t i = 0; i < sizeof(host_signals) / sizeof(host_signals[0]); i++)
		if (!strcasecmp(s, host_signals[i].name))
			return host_signals[i].sig;
	return -1;
}

/* Linux numbers them the same on x86_64, aarch64 and s390x (asm-generic). */
static const char *const linux_sig[32] = {
	NULL,	   "SIGHUP",  "SIGINT",	 "SIGQUIT", "SIGILL",	 "SIGTRAP",   "SIGABRT", "SIGBUS",
	"SIGFPE",  "SIGKILL", "SIGUSR1", "SIGSEGV", "SIGUSR2",	 "SIGPIPE",   "SIGALRM", "SIGTERM",
	"SIGSTKFLT", "SIGCHLD", "SIGCONT", "SIGSTOP", "SIGTSTP", "SIGTTIN",   "SIGTTOU", "SIGURG",
	"SIGXCPU", "SIGXFSZ", "SIGVTALRM", "SIGPROF", "SIGWINCH", "SIGIO",    "SIGPWR",  "SIGSYS",
};

const char *linux_signame(uint32_t sig, char *buf, size_t cap)
{
	/* glibc keeps 32 and 33 for itself: its SIGRTMIN is 34 */
	if (sig >= 1 && sig < 32)
		snprintf(buf, cap, "%s", linux_sig[sig]);
	else if (sig >= 34 && sig <= 64)
		snprintf(buf, cap, "SIGRTMIN+%u", sig - 34);
	else
		snprintf(buf, cap, "signal %u", sig);
	return buf;
}

int check_addr(const char *a)
{
	if (!strncmp(a, "unix:", 5)) {
		size_t n = strlen(a + 5);

		if (!n)
			return terr("server address '%s': no socket path after unix:", a);
		if (n >= 108) /* sizeof(sun_path) on Linux */
			return terr("server address '%s': the socket path is longer than 107 bytes", a);
		return 0;
	}
	if (!strncmp(a, "tcp:", 4)) {
		const char *hp = a + 4, *colon = strrchr(hp, ':');
		uint64_t port;

		if (!colon || colon == hp)
			return terr("server address '%s': expected tcp:HOST:PORT", a);
		if (parse_u64(colon + 1, &port) || port < 1 || port > 65535)
			return terr("server address '%s': the port must be a number from 1 to 65535", a);
		if ((size_t)(colon - hp) > 255)
			return terr("server address '%s': the host name is too long", a);
		return 0;
	}
	return terr("server address '%s': expected tcp:HOST:PORT or unix:PATH", a);
}

/* ---- text --------------------------------------------------------------------------------- */

static size_t text_byte(char *o, unsigned char c)
{
	static const char hex[] = "0123456789abcdef";

	if (c >= 0x20 && c < 0x7f && c != '\\') {
		o[0] = (char)c;
		return 1;
	}
	o[0] = '\\';
	o[1] = 'x';
	o[2] = hex[c >> 4];
	o[3] = hex[c & 15];
	return 4;
}

void put_text(FILE *f, const char *p, size_t n)
{
	char o[4];

	for (size_t i = 0; i < n; i++)
		fwrite(o, 1, text_byte(o, (unsigned char)p[i]), f);
}

const char *text(char *buf, size_t cap, const char *p, size_t n)
{
	size_t k = 0;
	char o[4];

	for (size_t i = 0; i < n; i++) {
		size_t m = text_byte(o, (unsigned char)p[i]);

		if (k + m >= cap)
			break;
		memcpy(buf + k, o, m);
		k += m;
	}
	if (cap)
		buf[k] = 0;
	return buf;
}

const char *fmt_time(char *buf, size_t cap, int64_t sec, uint32_t nsec)
{
	struct tm tm;
	time_t t = (time_t)sec;

	if ((int64_t)t != sec || !gmtime_r(&t, &tm)) {
		snprintf(buf, cap, "unix time %lld", (long long)sec);
		return buf;
	}
	snprintf(buf, cap, "%04d-%02d-%02d %02d:%02d:%02d.%03u UTC", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned)(nsec / 1000000u));
	return buf;
}

/* ---- files -------------------------------------------------------------------------------- */

int read_at(int fd, void *buf, size_t n, uint64_t off)
{
	uint8_t *p = buf;

	if (off > (uint64_t)INT64_MAX || n > (uint64_t)INT64_MAX - off)
		return errno = EINVAL, -1;
	while (n) {
		ssize_t k = pread(fd, p, n, (off_t)off);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -1;
		if (k == 0)
			return errno = 0, -1;
		p += k;
		n -= (size_t)k;
		off += (uint64_t)k;
	}
	return 0;
}

int hash_range(int fd, uint64_t off, uint64_t len, uint64_t *sum)
{
	static uint8_t buf[1u << 20];
	XXH64_state_t st;

	XXH64_reset(&st, 0);
	while (len) {
		size_t n = len < sizeof(buf) ? (size_t)len : sizeof(buf);

		if (read_at(fd, buf, n, off) < 0)
			return -1;
		XXH64_update(&st, buf, n);
		off += n;
		len -= n;
	}
	*sum = XXH64_digest(&st);
	return 0;
}

/* ---- the run directory --------------------------------------------------------------------- */

const char *env_get(const char *env, size_t envlen, const char *name)
{
	size_t k = strlen(name);

	for (size_t i = 0; i < envlen;) {
		const char *e = env + i;
		const char *z = memchr(e, 0, envlen - i);
		size_t n = z ? (size_t)(z - e) : envlen - i;

		if (z && n > k && !memcmp(e, name, k) && e[k] == '=')
			return e + k + 1;
		i += n + 1;
	}
	return NULL;
}

int run_dir(char *out, size_t cap, const char *opt, const char *env, size_t envlen, unsigned uid)
{
	const char *d = opt, *x;
	int n;

	if (!d || !*d)
		d = env ? env_get(env, envlen, "CKPT_RUN_DIR") : getenv("CKPT_RUN_DIR");
	if (d && *d)
		n = snprintf(out, cap, "%s", d);
	else {
		x = env ? env_get(env, envlen, "XDG_RUNTIME_DIR") : getenv("XDG_RUNTIME_DIR");
		n = snprintf(out, cap, "%s/ckpt-%u", x && *x == '/' ? x : "/tmp", uid);
	}
	if (n < 0 || (size_t)n + WIRE_MAX_JOB + 16 >= cap)
		return terr("the run directory name is too long");
	return 0;
}
