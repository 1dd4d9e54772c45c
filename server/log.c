/* log.c - leveled, thread-safe logging to stderr (one write per line). */
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

#define LOG_LINE_MAX 2048

static atomic_int log_level = SRV_LOG_INFO;

static const char *const level_names[] = { "error", "warn", "info", "debug" };

int srv_log_parse_level(const char *name)
{
	for (int i = 0; i < (int)(sizeof(level_names) / sizeof(level_names[0])); i++)
		if (strcmp(name, level_names[i]) == 0)
			return i;
	return -1;
}

const char *srv_log_level_name(int level)
{
	if (level < SRV_LOG_ERROR || level > SRV_LOG_DEBUG)
		return "?";
	return level_names[level];
}

void srv_log_set_level(int level)
{
	if (level < SRV_LOG_ERROR)
		level = SRV_LOG_ERROR;
	if (level > SRV_LOG_DEBUG)
		level = SRV_LOG_DEBUG;
	atomic_store(&log_level, level);
}

int srv_log_get_level(void)
{
	return atomic_load(&log_level);
}

int srv_log_enabled(int level)
{
	return level <= atomic_load(&log_level);
}

/* Works with both the GNU and the XSI strerror_r. */
const char *srv_strerror(int err, char *buf, unsigned long cap)
{
#if defined(__GLIBC__) && defined(_GNU_SOURCE)
	return strerror_r(err, buf, cap);
#else
	if (strerror_r(err, buf, cap) != 0)
		snprintf(buf, cap, "error %d", err);
	return buf;
#endif
}

static void emit(int level, const char *file, int line, int with_errno, int err, const char *fmt,
		 va_list ap)
{
	char buf[LOG_LINE_MAX];
	size_t cap = sizeof(buf) - 1; /* room for the newline */
	size_t n;
	int r;

	r = snprintf(buf, cap, "ckpt-server[%ld]: %s: ", (long)getpid(), srv_log_level_name(level));
	n = r < 0 ? 0 : (size_t)r;
	if (file && atomic_load(&log_level) >= SRV_LOG_DEBUG && n < cap) {
		const char *base = strrchr(file, '/');
		r = snprintf(buf + n, cap - n, "%s:%d: ", base ? base + 1 : file, line);
		n += r < 0 ? 0 : (size_t)r;
	}
	if (n < cap) {
		r = vsnprintf(buf + n, cap - n, fmt, ap);
		n += r < 0 ? 0 : (size_t)r;
	}
	if (with_errno && n < cap) {
		char eb[128];
		r = snprintf(buf + n, cap - n, ": %s", srv_strerror(err, eb, sizeof(eb)));
		n += r < 0 ? 0 : (size_t)r;
	}
	if (n >= cap) { /* truncated: mark it */
		n = cap - 1;
		memcpy(buf + n - 3, "...", 3);
	}
	buf[n++] = '\n';

	for (size_t off = 0; off < n;) {
		ssize_t w = write(STDERR_FILENO, buf + off, n - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
}

const char *srv_errname(int err)
{
	static _Thread_local char buf[24];
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
	const char *name = strerrorname_np(err);

	if (name)
		return name;
#endif
	snprintf(buf, sizeof(buf), "errno %d", err);
	return buf;
}

void srv_vlog_at(int level, const char *file, int line, const char *fmt, va_list ap)
{
	int saved = errno;

	if (srv_log_enabled(level))
		emit(level, file, line, 0, 0, fmt, ap);
	errno = saved;
}

void srv_log_at(int level, const char *file, int line, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	if (srv_log_enabled(level)) {
		va_start(ap, fmt);
		emit(level, file, line, 0, 0, fmt, ap);
		va_end(ap);
	}
	errno = saved;
}

void srv_plog_at(int level, const char *file, int line, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	if (srv_log_enabled(level)) {
		va_start(ap, fmt);
		emit(level, file, line, 1, saved, fmt, ap);
		va_end(ap);
	}
	errno = saved;
}

char *srv_log_sanitize(char *out, unsigned cap, const char *s, unsigned long len)
{
	static const char hex[] = "0123456789abcdef";
	unsigned o = 0;

	if (cap < 8) {
		if (cap)
			out[0] = '\0';
		return out;
	}
	for (unsigned long i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		int plain = c >= 0x20 && c < 0x7f && c != '\\' && c != '\'' && c != '"';
		unsigned need = plain ? 1 : 4;

		if (o + need + 4 > cap) { /* keep room for "..." and NUL */
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		if (plain) {
			out[o++] = (char)c;
		} else {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
	return out;
}
