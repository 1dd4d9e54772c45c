/* tool.h - the ckpt command-line tool: what its parts share (errors, parsing, files, sessions).
 *
 * The tool is built for any host (x86_64 today, s390x and aarch64 later):
 * every integer it reads from an image, a joint file or the wire goes through
 * the wire/ cursors, never through a struct or a memcpy, and nothing assumes
 * the host's byte order or word size. Values that belong to the checkpointed
 * machine (signal numbers, open flags, addresses) are printed as that
 * machine's values, decoded with fixed Linux tables, never the host's macros.
 *
 * Errors: helpers return -1 after terr() has put one line (without the "ckpt:"
 * prefix) into tool_err; the command prints it and exits 1.
 */
#ifndef CKPT_TOOL_H
#define CKPT_TOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "wire.h"

#define TOOL_NAME "ckpt"
#define TOOL_EXIT_FAIL 1
#define TOOL_EXIT_USAGE 2

/* ---- errors (util.c) ------------------------------------------------------------------------ */
extern char tool_err[2048];
/* Set tool_err (printf format); returns -1. */
int terr(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prefix tool_err with "what: ". Returns -1. */
int terr_prefix(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "ckpt: <tool_err>" on stderr; returns TOOL_EXIT_FAIL. */
int tool_fail(void);
/* "ckpt CMD: <why>; try 'ckpt CMD --help'" on stderr; returns TOOL_EXIT_USAGE. */
int tool_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- parsing (util.c) ----------------------------------------------------------------------- */
/* A decimal number with nothing after it: 0, or -1 (no tool_err). */
int parse_u64(const char *s, uint64_t *v);
/* Seconds, decimal, > 0 and at most a day's worth times 366: 0 or -1. */
int parse_seconds(const char *s, double *v);
/* A host signal from "USR1", "SIGUSR2", "RTMIN+3", "RTMAX-1", "10": the
 * number, 0 for "off", -1 if unknown. */
int parse_signal(const char *s);
/* "tcp:HOST:PORT" or "unix:PATH": 0, or -1 with tool_err saying why. */
int check_addr(const char *addr);
/* The name of a Linux signal number (as every Linux architecture the
 * project targets numbers them), e.g. "SIGUSR1", "SIGRTMIN+3"; into buf. */
const char *linux_signame(uint32_t sig, char *buf, size_t cap);

/* ---- text (util.c) ------------------------------------------------------------------------- */
/* Print n bytes of untrusted text, with every byte that is not printable
 * ASCII (and the backslash) written as \xNN, so that a file cannot drive the
 * terminal. */
void put_text(FILE *f, const char *p, size_t n);
/* The same into buf (cut to fit, always terminated). */
const char *text(char *buf, size_t cap, const char *p, size_t n);
/* "2024-05-01 12:34:56.789 UTC" for sec/nsec since the epoch (UTC). */
const char *fmt_time(char *buf, size_t cap, int64_t sec, uint32_t nsec);

/* ---- files (util.c) -------------------------------------------------------------------------- */
/* Read exactly n bytes at off: 0; -1 with errno (EIO and a short read: errno 0). */
int read_at(int fd, void *buf, size_t n, uint64_t off);
/* XXH64 of len bytes from off; 0 or -1 (errno as read_at). */
int hash_range(int fd, uint64_t off, uint64_t len, uint64_t *sum);

/* ---- the run directory (util.c) -------------------------------------------------------------- */
/* --run-dir, else CKPT_RUN_DIR, else ${XDG_RUNTIME_DIR:-/tmp}/ckpt-UID, with
 * the values from getenv (env == NULL) or from an environment block (NUL-
 * separated NAME=VALUE strings, as /proc/PID/environ). 0 or -1. */
int run_dir(char *out, size_t cap, const char *opt, const char *env, size_t envlen, unsigned uid);
/* The value of NAME in an environment block, or NULL. */
const char *env_get(const char *env, size_t envlen, const char *name);

/* ---- sessions with a server (client.c) --------------------------------------------------------- */
struct tconn {
	int fd;
	char addr[WIRE_MAX_PATH + 8];
	int timeout_ms;
	uint64_t next_id;
	uint32_t peer_max_frame;       /* the server's max_frame (HELLO reply) */
	uint8_t *req, *rsp;            /* WIRE_MAX_FRAME bytes each */
	const uint8_t *pl;             /* last reply's payload */
	size_t plen;
	uint16_t err;                  /* last error reply: a WIRE_ERRNO_*; 0 for a result */
	char msg[WIRE_MAX_STR + 1];    /* its message, as sent (not sanitized) */
	char job[WIRE_MAX_JOB + 1];    /* the job the server keeps checkpoints for, "" if none */
};
/* Connect to addr and do HELLO as job ("" for none). 0, or -1 with tool_err
 * naming addr. c->req/rsp are allocated here. */
int tconn_open(struct tconn *c, const char *addr, const char *job, double timeout_s);
/* Send the frame of n bytes (an encoder's result) in c->req and read its
 * reply: 0 for a result (c->pl, c->plen), 1 for an error reply (c->err,
 * c->msg), -1 for a broken session (tool_err set). */
int tconn_call(struct tconn *c, long n);
/* The next request id. */
uint64_t tconn_id(struct tconn *c);
void tconn_close(struct tconn *c);
/* "SERVER: MESSAGE" (or the errno's text when the message is empty) of the
 * last error reply into tool_err; returns -1. */
int tconn_err(const struct tconn *c);
/* The host errno of the last error reply. */
int tconn_errno(const struct tconn *c);

/* The generations a server holds for the session's job (ROLLBACK_QUERY). */
struct tgens {
	uint32_t n;
	struct wire_gen_info *v; /* increasing gen; malloc'd */
};
/* 0, or -1 (tool_err set, error replies included). */
int tconn_query(struct tconn *c, struct tgens *g);
void tgens_free(struct tgens *g);
/* "1, 2, 3" (or "none") into buf. */
const char *tgens_list(const struct tgens *g, char *buf, size_t cap);

/* ---- the subcommands ------------------------------------------------------------------------- */
int cmd_list(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_checkpoint(int argc, char **argv);
int cmd_rollback(int argc, char **argv);
int cmd_keygen(int argc, char **argv);

#endif
