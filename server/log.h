/* log.h - leveled logging to stderr for ckpt-server.
 *
 * One line per call, written with a single write(2) so lines from different
 * session threads never interleave:
 *
 *     ckpt-server[PID]: LEVEL: message
 *
 * At debug level the macros also name the source file and line. Every log
 * function saves and restores errno, so logging never changes what a caller
 * is about to report.
 */
#ifndef CKPT_SRV_LOG_H
#define CKPT_SRV_LOG_H

#include <stdarg.h>

enum srv_log_level {
	SRV_LOG_ERROR = 0,
	SRV_LOG_WARN = 1,
	SRV_LOG_INFO = 2,
	SRV_LOG_DEBUG = 3
};

/* Parse "error", "warn", "info" or "debug"; -1 if it is none of them. */
int srv_log_parse_level(const char *name);
const char *srv_log_level_name(int level);
void srv_log_set_level(int level);
int srv_log_get_level(void);
/* Nonzero if a message at level would be printed: test it before building
 * an expensive message. */
int srv_log_enabled(int level);

/* file may be NULL; it is printed (with line) only at debug level. */
void srv_log_at(int level, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void srv_vlog_at(int level, const char *file, int line, const char *fmt, va_list ap)
	__attribute__((format(printf, 4, 0)));
/* As srv_log_at, then ": " and strerror(errno), as perror(3) does. */
void srv_plog_at(int level, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Copy s (len bytes, not NUL-terminated) into out (cap >= 8) for a log line:
 * bytes that are not printable ASCII, and quotes and backslashes, become
 * \xNN escapes; an overlong string is cut with "...". Returns out. Names
 * and paths from clients go through this, so a client cannot forge lines. */
char *srv_log_sanitize(char *out, unsigned cap, const char *s, unsigned long len);

/* Thread-safe strerror(3) text for err (uses buf when it must). */
const char *srv_strerror(int err, char *buf, unsigned long cap);
/* The errno's symbolic name ("ENOENT"), or "errno N" (per-thread buffer). */
const char *srv_errname(int err);

#define srv_error(...) srv_log_at(SRV_LOG_ERROR, __FILE__, __LINE__, __VA_ARGS__)
#define srv_warn(...) srv_log_at(SRV_LOG_WARN, __FILE__, __LINE__, __VA_ARGS__)
#define srv_info(...) srv_log_at(SRV_LOG_INFO, __FILE__, __LINE__, __VA_ARGS__)
#define srv_debug(...) srv_log_at(SRV_LOG_DEBUG, __FILE__, __LINE__, __VA_ARGS__)
#define srv_perror(...) srv_plog_at(SRV_LOG_ERROR, __FILE__, __LINE__, __VA_ARGS__)
#define srv_pwarn(...) srv_plog_at(SRV_LOG_WARN, __FILE__, __LINE__, __VA_ARGS__)

#endif
