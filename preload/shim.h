/* shim.h - internals shared by the files of libckptshim.so (not installed).
 *
 * The shim keeps three tables: the mounts (CKPT_MOUNTS), the connections to
 * servers (one per distinct address), and the remote fds. A remote fd is a
 * real fd number held by a placeholder (an O_PATH descriptor of "/"), so the
 * kernel never hands the number out again; its state lives in a struct
 * shim_ofd shared by every dup of it, as the kernel shares an open file
 * description. All of it is guarded by one lock (shim_lock); wrappers take it
 * with SHIM_ENTER/SHIM_LEAVE around any remote work.
 */
#ifndef CKPT_SHIM_H
#define CKPT_SHIM_H

#include <dirent.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <utime.h>
#include <sys/time.h>

#include "auth.h"
#include "wire.h"

/* ---- real symbols --------------------------------------------------------- */
#define REAL(ret, name, params) extern ret(*real_##name) params;
#include "real.def"
#undef REAL
void shim_resolve_reals(void);
/* Every symbol that failed to resolve, comma-separated ("" if none); for tests. */
const char *shim_unresolved(void);

#define SHIM_EXPORT __attribute__((visibility("default")))

/* Every wrapper starts with INIT(): the shim sets itself up at the first
 * call, which may come before its constructor ran. */
void shim_init(void);
#define INIT()                                        \
	do {                                          \
		if (__builtin_expect(!shim_ready, 0)) \
			shim_init();                  \
	} while (0)

/* Entry points glibc exports without declaring them in its headers. */
int __open_2(const char *, int);
int __open64_2(const char *, int);
int __openat_2(int, const char *, int);
int __openat64_2(int, const char *, int);
ssize_t __read_chk(int, void *, size_t, size_t);
ssize_t __pread_chk(int, void *, size_t, off_t, size_t);
ssize_t __pread64_chk(int, void *, size_t, off_t, size_t);
int __xstat(int, const char *, struct stat *);
int __xstat64(int, const char *, struct stat *);
int __lxstat(int, const char *, struct stat *);
int __lxstat64(int, const char *, struct stat *);
int __fxstat(int, int, struct stat *);
int __fxstat64(int, int, struct stat *);
int __fxstatat(int, int, const char *, struct stat *, int);
int __fxstatat64(int, int, const char *, struct stat *, int);
void shim_init(void);

/* ---- logging (async-signal-safe: one write(2) per line) -------------------- */
void shim_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void shim_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
extern int shim_debug_on;

/* ---- configuration ---------------------------------------------------------- */
struct shim_conn;
struct shim_mount {
	char *point;    /* "/data", normalized, no trailing slash */
	size_t len;
	char *addr;     /* "tcp:host:port" or "unix:/path" */
	struct shim_conn *conn;
};
extern struct shim_mount *shim_mounts;
extern int shim_nmounts;
extern int shim_io_timeout_ms;   /* CKPT_IO_TIMEOUT (s), default 30 */
extern int shim_reconnect_ms;    /* CKPT_RECONNECT_TIMEOUT (s), default 30, 0 = no waiting */
extern size_t shim_wbuf_size;    /* CKPT_WRITE_BEHIND bytes, 0 = off */
extern size_t shim_rbuf_size;    /* CKPT_READ_AHEAD bytes, 0 = off */
extern bool shim_local_reads;    /* CKPT_LOCAL_READS: ask READ_FD where offered */
extern mode_t shim_umask;
/* CKPT_KEY_FILE, read once at start (PROTOCOL.md 3.4); kind 0: no key. */
struct wire_key;
extern struct wire_key shim_key;
int shim_parse_mounts(const char *spec);

/* ---- the lock ---------------------------------------------------------------- */
/* The lock also counts this thread's depth in the shim (shim_busy, ckpt.h): a
 * checkpoint signal landing inside waits until shim_unlock leaves. */
void shim_lock(void);
void shim_unlock(void);
extern int shim_ready; /* constructor finished */
/* This process's pid, kept current at fork and restore (no getpid per call). */
extern pid_t shim_pid;

/* ---- paths ------------------------------------------------------------------ */
/* Where a (dirfd, path) pair leads. */
struct shim_path {
	struct shim_mount *mnt;
	char rel[WIRE_MAX_PATH + 1]; /* root-relative, clean; "" is the root */
};
/* 0: local (use the real call unchanged); 1: remote, *out filled; 2: local,
 * but the kernel must be given the absolute path in out->rel instead (the
 * path was relative to a remote cwd or dirfd, or went through a mount point
 * with ".."); -1: error with errno set. Caller holds no lock. */
int shim_classify(int dirfd, const char *path, struct shim_path *out);
/* shim_classify for wrappers: a local result that must be rewritten points
 * *path at out->rel (out must outlive the call); returns -1, 0 or 1. */
static inline int shim_where(int dirfd, const char **path, struct shim_path *out)
{
	int r = shim_classify(dirfd, *path, out);

	if (r == 2) {
		*path = out->rel;
		r = 0;
	}
	return r;
}
/* Normalize an absolute path lexically into out (size cap): collapse "//",
 * drop ".", apply "..". -1 ENAMETOOLONG if it does not fit. */
int shim_normalize(const char *abs, char *out, size_t cap);
/* Mount for a normalized absolute path, with the relative rest in rel. */
struct shim_mount *shim_match(const char *norm, const char **rel);
/* Virtual cwd: non-NULL while the cwd is a remote directory. */
extern char *shim_cwd_remote;      /* absolute, normalized */
extern char *shim_cwd_local;       /* cached kernel cwd */

/* ---- connections ------------------------------------------------------------- */
#define SHIM_MAX_INFLIGHT 64
#define SHIM_MAX_INFLIGHT_BYTES (16u << 20)
#define SHIM_RING_SIZE (SHIM_MAX_INFLIGHT_BYTES + WIRE_MAX_FRAME)
struct shim_conn {
	char *addr;
	int fd;            /* -1 when not connected */
	pid_t pid;         /* process that owns fd (fork detection) */
	uint64_t next_id;
	uint32_t max_frame;
	bool warned;       /* the "cannot reach" line was printed */
	bool broken;       /* lost mid-session: handles are gone */
	uint64_t epoch;    /* bumped at every (re)connection */
	int64_t deadline;  /* CLOCK_MONOTONIC ms by which the current exchange must end */
	uint8_t *buf;      /* frame buffer, max_frame bytes */
	size_t bufcap;
	/* Reconnection (CKPT_RECONNECT_TIMEOUT). lost_conn: the last transport
	 * failure was the connection going away (EOF, reset, broken pipe), not
	 * a timeout or a protocol error, so a request may be sent again on a
	 * new session. */
	bool lost_conn;
	bool reconnecting; /* inside reconnect(): no nested waiting */
	bool gave_up;      /* the last reconnection ran out of time: try once per call */
	bool read_fds;     /* the server offered READ_FD (a unix socket, our user) */
	int64_t alive_ms;  /* CLOCK_MONOTONIC_COARSE ms of the last shim_conn_alive check */
	/* Pipelined PWRITEs whose replies are still to be read, oldest first.
	 * With reconnection on, each PWRITE's frame (header and data) is kept in
	 * ring until its acknowledgement came, to be sent again on a new session
	 * if the connection is lost first; while fd < 0 the entries left in the
	 * window are those pending writes. */
	struct shim_inflight {
		uint64_t id;
		struct shim_ofd *ofd;   /* NULL: nobody waits for it any more */
		uint32_t len;           /* bytes asked to be written or read */
		uint16_t type;          /* WIRE_PWRITE, or WIRE_PREAD for a prefetch */
		bool saved;             /* PWRITE: its frame is in ring at roff */
		uint32_t roff;          /* ring offset (of the frame, or where it would be) */
		uint64_t off;           /* PREAD: where */
	} inflight[SHIM_MAX_INFLIGHT];
	unsigned int nin, head;
	size_t inflight_bytes;
	uint8_t *ring;     /* SHIM_RING_SIZE bytes, mapped at the first saved write */
	size_t ring_w;     /* where the newest saved frame ends */
	struct shim_conn *next;
};
extern struct shim_conn *shim_conns;
struct shim_conn *shim_conn_for(const char *addr);
/* Connects if needed. 0 or -1 with errno (ENOTCONN, EIO). Lock held. A
 * connection lost mid-session is re-established with a bounded wait
 * (CKPT_RECONNECT_TIMEOUT): unacknowledged writes are sent again and every
 * open file of the connection is reopened by path. Never waits when called
 * outside the lock (the checkpoint handler): there a connection with
 * writes pending fails with EIO. */
int shim_conn_ready(struct shim_conn *c);
/* Called in a forked child: forget the parent's sockets. */
void shim_conn_after_fork(void);
bool shim_is_shim_fd(int fd);
/* A floor for the shim's own fds, `below` under the fd limit (capped at
 * 1024), out of the program's way. */
int shim_high_fd_floor(int below);
/* fd moved (close-on-exec) to the lowest free number from
 * shim_high_fd_floor(below) on, the original closed; fd itself if that
 * fails. */
int shim_fd_move_high(int fd, int below);

/* One request/reply exchange. req/reqlen is a complete frame (its id is
 * patched in); extra/extralen are bytes sent right after it (PWRITE data).
 * On success returns 0 with the reply payload in rep and replen (inside
 * c->buf, valid until the next call). A server error reply returns -1 with
 * errno set from it; a transport failure returns -1 with errno EIO and marks
 * the connection broken. If dst is non-NULL the reply must be a data reply and
 * its data is read straight into dst (at most dstcap bytes), its length in
 * *replen. Lock held. */
int shim_rpc(struct shim_conn *c, void *req, size_t reqlen, const void *extra, size_t extralen,
	     const uint8_t **rep, size_t *replen, void *dst, size_t dstcap);
/* Send a PWRITE frame without waiting for its reply; the reply is read by
 * the next shim_rpc or shim_conn_drain, and an error in it is stored in
 * ofd->werr. Waits for the oldest replies when the window is full. 0, or -1
 * with errno EIO on a transport failure. Lock held. */
int shim_rpc_async(struct shim_conn *c, void *req, size_t reqlen, const void *extra,
		   size_t extralen, struct shim_ofd *ofd);
/* Ask now for the blocks of n bytes from off on that a sequential reader of
 * ofd will want next, up to depth (at most SHIM_PREFETCH_MAX) of them
 * outstanding, continuing after those already asked for; the replies wait
 * in the socket. Lock held. */
#define SHIM_PREFETCH_MAX 8
void shim_prefetch(struct shim_conn *c, struct shim_ofd *ofd, off_t off, uint32_t n,
		   unsigned int depth);
/* If the oldest outstanding request is ofd's prefetch of exactly
 * [off, off + n), receive its data into dst and return the byte count;
 * otherwise discard any prefetch and return -2; -1 on failure. Lock held. */
ssize_t shim_take_prefetch(struct shim_conn *c, struct shim_ofd *ofd, off_t off, uint32_t n,
			   void *dst);
/* READ_FD: one exchange (after every outstanding reply is read) whose
 * reply carries a descriptor; 0 with it in *fd (close-on-exec), or -1 with
 * errno (the server's error, EPROTO for an answer without one, EIO for a
 * transport failure). Lock held. */
int shim_rpc_fd(struct shim_conn *c, void *req, size_t reqlen, int *fd);
/* Reads that bypass the session (direct reads) see a server that went away
 * as a request would: at most every SHIM_ALIVE_EVERY_MS, a look at the
 * socket (one poll); if the server has gone, the connection is dropped and
 * waited for as in shim_conn_ready (CKPT_RECONNECT_TIMEOUT), else EIO.
 * 0 or -1. Lock held. */
#define SHIM_ALIVE_EVERY_MS 10
int shim_conn_alive(struct shim_conn *c);
/* Read replies until no write to the file (dev, ino) is outstanding, so
 * that a direct read sees it. Lock held. */
int shim_conn_settle(struct shim_conn *c, uint64_t dev, uint64_t ino);
/* Forget prefetched data of a file that is being changed. Lock held. */
void shim_forget_prefetch(struct shim_conn *c, uint64_t dev, uint64_t ino);
/* Read every outstanding reply (reconnecting and re-sending as
 * shim_conn_ready does, except in the checkpoint handler). Lock held. */
int shim_conn_drain(struct shim_conn *c);
/* Forget ofd in the in-flight window (it is being freed). Lock held. */
void shim_conn_forget(struct shim_ofd *ofd);

/* The checkpoint stream's primitives: send a complete frame (+ extra bytes
 * after it) with a fresh id (*id), without waiting for its reply; 0 or -1
 * (EIO, connection dropped). Then receive the reply to id: 0 with the
 * payload in rep/replen (inside c->buf), 1 for an error reply (errno set,
 * the server's message in msg), -1 on a transport failure. */
int shim_conn_send(struct shim_conn *c, void *frame, size_t len, const void *extra, size_t extralen,
		   uint64_t *id);
int shim_conn_reply(struct shim_conn *c, uint64_t id, uint16_t type, const uint8_t **rep,
		    size_t *replen, struct wire_str *msg);

/* Set by a failed shim_rpc whose request was sent, may have been done, and
 * was not sent again after reconnecting (not idempotent). */
extern bool shim_rpc_unknown;

/* Scratch buffer for building requests (WIRE_MAX_PATH*2 + 1 KiB). Lock held. */
extern uint8_t shim_reqbuf[];
#define SHIM_REQBUF_SIZE (2 * WIRE_MAX_PATH + 1024)

/* ---- remote fds --------------------------------------------------------------- */
struct shim_ofd {
	int refs;
	struct shim_mount *mnt;
	struct shim_conn *conn;
	uint64_t handle;
	uint64_t dev, ino;      /* server's identity of the file */
	char *rel;              /* root-relative path at open */
	int flags;              /* host open flags incl. status flags */
	bool is_dir;
	uint64_t epoch;         /* conn->epoch the handle belongs to; else reopen by path */
	bool stale_said;        /* the "could not reopen" line was printed */
	bool app_known;         /* app_end is the end of file our last append produced */
	off_t app_end;
	int werr;               /* deferred write error: every write fails with it until
				   fsync or close has reported it */
	bool wappend;           /* the buffered bytes are appends */
	off_t pos_local;        /* the cursor, while no other process shares it */
	struct shim_shared *sh; /* the cursor in a memfd page once fork/exec shares it */
	int shfd;               /* that memfd (protected like the shim's sockets), or -1 */
	/* write-behind: wlen bytes destined for [woff, woff + wlen) */
	uint8_t *wbuf;
	size_t wlen;
	off_t woff;
	/* read-ahead: rlen bytes of the file from roff */
	uint8_t *rbuf;
	size_t rlen;
	off_t roff;
	size_t ra_window;       /* grows with sequential reads */
	off_t seq_end;          /* where the last block fetched from the server ended */
	unsigned int seq_run;   /* fetches in a row that began at seq_end */
	/* Direct reads: rfd is a read-only descriptor of the file from the
	 * server (READ_FD), valid while has_rfd, kept high and protected like
	 * the shim's sockets; asked for at the second fetch from the server
	 * (fetched), once per handle (no_rfd: refused or not to be asked). */
	int rfd;
	bool has_rfd, no_rfd, fetched;
	/* directory stream state (fdopendir) */
	uint64_t dir_cookie;
	struct shim_ofd *dirty_next; /* on the dirty list while wlen > 0 */
	bool on_dirty;
};
/* State shared with other processes (children after fork or exec), in a
 * memfd page: like a kernel open file description, the cursor is shared. */
#define SHIM_SHARED_MAGIC 0x636b70746375727aull /* "ckptcurz" */
struct shim_shared {
	uint64_t magic;
	int64_t pos;
};
static inline off_t *shim_pos(struct shim_ofd *o)
{
	return o->sh ? (off_t *)&o->sh->pos : &o->pos_local;
}
/* Move every ofd's cursor into shared memory (before fork or exec). Lock held. */
void shim_share_cursors(void);
/* CKPT_FDS for an exec: the remote fds that survive it; NULL if none. Marks
 * the cursor memfds of surviving ofds inheritable. Lock held; malloc'd. */
char *shim_fds_env(void);
/* Adopt the remote fds listed in CKPT_FDS by the process that exec'd us. */
void shim_adopt_fds(const char *spec);
/* posix_spawn(p) whose file actions touch a remote fd or path, done with
 * fork and the shim's own calls (w_spawn.c): its result, or -1 if this
 * spawn is glibc's to do. Lock not held. */
int shim_spawn(pid_t *pid, const char *path, bool search, const posix_spawn_file_actions_t *fa,
	       const posix_spawnattr_t *attr, char *const argv[], char *const envp[]);
/* True if fd is one of the ofds' own descriptors: a cursor memfd or a
 * direct-read descriptor. */
bool shim_is_ofd_fd(int fd);
/* The lowest fd >= lo that is the shim's own (socket, cursor memfd, direct
 * read descriptor), or -1. For close_range. */
int shim_next_own_fd(int lo);
/* After a restore: the direct-read descriptors are gone (not in the image). */
void shim_forget_read_fds(void);
/* Every ofd (for inherit.c). */
struct shim_ofd **shim_all_ofds(size_t *n);
int shim_track_ofd(struct shim_ofd *o);
/* Install at an existing placeholder fd (inherited across exec). */
int shim_fd_adopt(struct shim_ofd *ofd, int fd, bool cloexec);

/* The ofd of a remote fd, or NULL for a local one. Lock-free read. */
struct shim_ofd *shim_fd_get(int fd);
bool shim_fd_is_remote(int fd);
bool shim_fd_cloexec(int fd);
/* Install ofd (one reference taken) at a new placeholder fd >= minfd (or at
 * exactly `exact` if >= 0, replacing what is there). Returns the fd or -1. */
int shim_fd_install(struct shim_ofd *ofd, int minfd, int exact, bool cloexec);
void shim_fd_set_cloexec(int fd, bool on);
/* Drop fd from the table (its placeholder must be closed by the caller).
 * Returns the ofd whose reference the caller now owns. */
struct shim_ofd *shim_fd_take(int fd);
/* Release a reference; at zero flush, CLOSE on the server, free. Returns 0 or
 * -1 with errno (a deferred write error). Lock held. */
int shim_ofd_put(struct shim_ofd *ofd);
/* Call f on every remote fd. Lock held. */
void shim_fd_foreach(void (*f)(int fd, struct shim_ofd *ofd, void *arg), void *arg);

/* Open a remote path (flags are host flags). Returns a new ofd or NULL with errno. Lock held. */
struct shim_ofd *shim_remote_open(struct shim_path *p, int flags, mode_t mode);
/* Make sure ofd has a live handle (reopen by path after fork/reconnect). Lock
 * held. -1 with ESTALE if the file is no longer there, else EIO. */
int shim_ofd_revive(struct shim_ofd *ofd);

/* ---- buffered I/O on an ofd (lock held) ------------------------------------------- */
ssize_t shim_ofd_pread(struct shim_ofd *o, void *buf, size_t n, off_t off);
ssize_t shim_ofd_pwrite(struct shim_ofd *o, const void *buf, size_t n, off_t off, bool append);
int shim_ofd_flush(struct shim_ofd *o);
/* Flush every dirty buffer of the same file (or of the whole connection if
 * ino == 0) and drop their read caches if `drop`. */
int shim_flush_file(struct shim_conn *c, uint64_t dev, uint64_t ino);
int shim_flush_conn(struct shim_conn *c);
/* Flush every buffer and wait for every acknowledgement: at fork, exec and
 * exit, so the next reader (another process, another session) sees it all. */
int shim_flush_all(void);
/* Before another process (a child after fork, a spawned or exec'd
 * command) may use the files: shim_flush_all, so that it sees every write,
 * then forget every read-ahead window and prefetched block, so that what
 * this process reads afterwards comes from the server. Lock held. */
void shim_before_child(void);
void shim_drop_reads(struct shim_conn *c, uint64_t dev, uint64_t ino);

/* ---- remote operations (lock held; -1 with errno) -------------------------------- */
int shim_remote_stat(struct shim_path *p, bool nofollow, struct stat *st);
int shim_remote_fstat(struct shim_ofd *o, struct stat *st);
int shim_remote_path_op(uint16_t type, struct shim_path *p, uint32_t flags, uint32_t arg);
int shim_remote_two_paths(uint16_t type, struct shim_path *a, struct shim_path *b, uint32_t flags);
int shim_remote_setattr(struct shim_ofd *o, struct shim_path *p, const struct wire_setattr *sa);
ssize_t shim_remote_readlink(struct shim_path *p, char *buf, size_t cap);
int shim_remote_statfs(struct shim_path *p, struct wire_statfs_reply *r);
int shim_remote_ftruncate(struct shim_ofd *o, off_t len);
int shim_remote_fsync(struct shim_ofd *o, bool datasync);

/* Standard streams (w_stdio.c): record the originals at start; after fd
 * 0..2 changed between local and remote, repoint stdin/stdout/stderr. Call
 * without the lock. */
void shim_std_init(void);
void shim_std_fix(int fd);

/* Remote directory streams (dir.c). */
bool shim_is_remote_dir(DIR *d);

/* Entry points shared between files (they take the lock themselves). */
int shim_open_common(int dirfd, const char *path, int flags, mode_t mode);
ssize_t shim_read_fd(int fd, void *buf, size_t n);
ssize_t shim_write_fd(int fd, const void *buf, size_t n);
off_t shim_lseek_fd(int fd, off_t off, int whence);
int shim_close_fd(int fd);
void shim_flush_before_exec(void);

/* Restore errno around bookkeeping. */
#define SHIM_KEEP_ERRNO(stmt)             \
	do {                              \
		int saved_errno_ = errno; \
		stmt;                     \
		errno = saved_errno_;     \
	} while (0)

#endif
