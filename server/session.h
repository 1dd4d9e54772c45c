/* session.h - one client session: framing, HELLO, dispatch; and the registry
 * of session threads that main() starts, reaps and stops.
 *
 * A session is one connected stream socket served by one thread with
 * blocking I/O. Requests are read one frame at a time (header checked before
 * the body is read or any memory is sized by it), answered in order, and any
 * malformed frame ends the session with one logged line. This header is
 * private to server/.
 */
#ifndef CKPT_SRV_SESSION_H
#define CKPT_SRV_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "handles.h"
#include "resolve.h"
#include "auth.h"
#include "wire.h"

/* Smallest frame limit we configure or accept from a client: PROTOCOL.md
 * says every peer accepts frames up to 64 KiB. */
#define SRV_MIN_FRAME (64u * 1024u)
/* Largest READDIR reply payload, whatever the client asks for. */
#define SRV_READDIR_MAX (1u << 20)

struct srv_store;
struct srv_job;

struct srv_config {
	int root_fd;           /* O_PATH|O_DIRECTORY fd of the export root */
	struct srv_store *store; /* checkpoint store, NULL: no checkpoints (ckpt.h) */
	uint32_t max_frame;    /* largest frame we accept (SRV_MIN_FRAME..WIRE_MAX_FRAME) */
	uint32_t max_open;     /* open handles per session */
	uint32_t max_sessions; /* concurrent sessions (registry only) */
	uint64_t max_ckpt_bytes; /* largest checkpoint image of a job, 0: no limit */
	uint32_t frame_timeout_ms; /* a started frame (and HELLO) must complete in it, 0: off */
	uint32_t idle_timeout_ms;  /* a session without a request that long ends, 0: off */
	/* Authentication (PROTOCOL.md 3.4): the server key, NULL for none. */
	const struct wire_key *key;
	/* Unix peers must run as one of these uids (root always may), unless
	 * allow_any_uid. */
	const uint32_t *allow_uids;
	uint32_t n_allow_uids;
	int allow_any_uid;
	/* Never offer READ_FDS (--no-read-fds). */
	int no_read_fds;
};

/* Where a session is in the HELLO/AUTH exchange. */
enum srv_auth_state {
	SRV_AUTH_NONE = 0, /* the server has no key: nothing to prove */
	SRV_AUTH_WAIT,     /* challenged in the HELLO reply; only AUTH may come */
	SRV_AUTH_DONE      /* the client proved its key */
};

struct srv_session {
	uint64_t id;
	int fd;
	char peer[96]; /* "unix pid 1234 uid 1000", "tcp 127.0.0.1:51234" */
	const struct srv_config *cfg;
	uint32_t out_max; /* largest reply: min(our max_frame, the client's) */
	int hello_done;
	uint64_t nreq;
	struct srv_handles handles;

	uint8_t *in; /* received bytes: [in_start, in_end) not yet consumed */
	size_t in_cap, in_start, in_end;
	uint8_t *out; /* the reply being built */
	size_t out_cap, out_len;
	/* Zero-copy PREAD: the reply is s->out's first out_len bytes (the
	 * header), then splice_len data bytes waiting in the pipe, then
	 * tail_len more data bytes at s->out + out_len. */
	int pipe[2];
	size_t pipe_cap, splice_len, tail_len;
	int big_reply; /* the last reply was big: wait for input in poll */
	/* READ_FD (PROTOCOL.md 4.3): read_fds, the HELLO reply offered it;
	 * pass_fd, the descriptor to attach to the reply being built (-1:
	 * none), closed once sent. */
	int read_fds;
	int pass_fd;
	int last_err; /* host errno of the last error reply, 0 if none */
	int emfile_logged; /* --max-open was reached once: logged, not again */

	/* Timeouts (monotonic ms). The socket's receive timeout (rcvtimeo_ms,
	 * 0: none) is set to what is left of the current deadline before a
	 * wait that may block, and only when that changes. */
	uint64_t t_connect, t_frame, t_idle; /* t_frame 0: no frame started */
	uint32_t rcvtimeo_ms;
	uint32_t frame_len;  /* length of the frame being read, 0 before its header */
	int timed_out;       /* SRV_TIMEOUT_* once a deadline passed */

	char path1[SRV_PATH_BUF], path2[SRV_PATH_BUF];

	/* The job named in HELLO (NULL: no store, or a name that cannot own
	 * checkpoints: job_why says why, for the error replies). */
	struct srv_job *job;
	const char *job_why;
	uint8_t client_byte_order;
	uint32_t client_page_size;
	char client_arch[WIRE_MAX_NAME + 1];

	/* Authentication: peer_uid is the unix peer's uid (-1 on TCP). While
	 * SRV_AUTH_WAIT, auth_key is the key the client must prove (the
	 * server key, or the job key derived from it), wiped once used. A
	 * session proven with a job key (auth_kind WIRE_KEY_JOB) sees only
	 * the checkpoints of job_name. */
	long peer_uid;
	enum srv_auth_state auth_state;
	int auth_refused; /* the session ends because authentication failed */
	uint8_t auth_kind;
	uint8_t auth_key[32], cnonce[32], snonce[32];
	char job_name[WIRE_MAX_JOB + 1];
};

/* Serve one connected socket until the peer closes it, a malformed frame,
 * an I/O error, or srv_sessions_stop(). Blocks; does not close fd (the
 * caller owns it) but shuts it down at the end so the peer sees EOF. All
 * handles the session opened are closed (after fsync if the server is
 * stopping). peer describes the client for the log (copied). Returns 0 for
 * an orderly end (EOF between frames, or stop), -1 otherwise. */
int srv_session_run(const struct srv_config *cfg, int fd, uint64_t id, const char *peer);

/* The architecture this server was built for ("x86_64", "s390x", ...). */
const char *srv_session_arch(void);

/* Log a line prefixed with "session ID (PEER): ". */
void srv_session_log(const struct srv_session *s, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Which deadline ended a session (srv_session.timed_out). */
#define SRV_TIMEOUT_HELLO 1 /* no HELLO within frame_timeout of connecting */
#define SRV_TIMEOUT_FRAME 2 /* a frame not complete within frame_timeout */
#define SRV_TIMEOUT_IDLE 3  /* no request for idle_timeout */

/* Before a wait for more of the current frame that may block (the streamed
 * PWRITE's splice from the socket): arm the socket's receive timeout with
 * what is left of the frame's deadline. 0, or -1 with errno ETIMEDOUT and
 * s->timed_out set once it has passed. A receive that then fails with
 * EAGAIN is to be retried after calling this again. */
int srv_session_wait_frame(struct srv_session *s);

/* A pipe able to hold n bytes, for splicing a read reply; 0 or -1 (then
 * the caller copies instead). */
int srv_session_pipe(struct srv_session *s, size_t n);

/* Make room for a reply of n bytes in s->out (n <= s->out_max).
 * 0 or -ENOMEM. */
int srv_session_reserve(struct srv_session *s, size_t n);

/* Build an error reply to h in s->out: err is a host errno (sent through
 * wire_errno_from_host), msg a short detail or NULL. Sets s->last_err. */
void srv_session_reply_error(struct srv_session *s, const struct wire_hdr *h, int err,
			     const char *msg);

/* Dispatch one request (not HELLO) in fileops.c: build the reply (a result
 * or an error reply) in s->out/out_len and return 0, or return a negative
 * WIRE_E* code for a malformed request, which ends the session. p/len is the
 * payload (frame minus header). */
int srv_fileop(struct srv_session *s, const struct wire_hdr *h, const uint8_t *p, size_t len);

/* A non-appending PWRITE whose data is still mostly in the socket: the
 * fixed fields are decoded into m, whose data holds the m->data.len - rest
 * bytes already received; the other rest bytes are read from the socket
 * straight into the file (splice through s->pipe, which holds pipe_cap
 * bytes and is empty). Like srv_fileop, or SRV_STREAM_LOST if the
 * connection failed in the middle. */
#define SRV_STREAM_LOST (-1000)
struct wire_pwrite;
int srv_pwrite_stream(struct srv_session *s, const struct wire_hdr *h, const struct wire_pwrite *m,
		      size_t rest);

/* ---- registry (used by main) ---- */

/* Set up the registry: an eventfd main polls, readable when a session ended
 * (then call srv_sessions_reap). Returns the fd or -errno. */
int srv_sessions_init(void);
/* Start a session thread for fd (ownership passes to the registry on
 * success: it closes fd after the thread is reaped). -EAGAIN when
 * max_sessions are active, or -errno. */
int srv_sessions_start(const struct srv_config *cfg, int fd, const char *peer);
/* Join the threads of sessions that have ended and close their sockets. */
void srv_sessions_reap(void);
unsigned srv_sessions_active(void);
/* Stop: every session's socket is shut down for reading, so each answers
 * the requests that already reached it, then sees the end of the stream,
 * fsyncs and closes its files. Waits up to
 * grace_ms, then also shuts down writing to unblock stuck replies, then
 * joins every thread. */
void srv_sessions_stop(unsigned grace_ms);

#endif
