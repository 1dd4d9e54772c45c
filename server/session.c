/* session.c - one session per thread: framing, HELLO, replies; the session registry. */
#include <errno.h>
#include <poll.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "ckpt.h"
#include "log.h"
#include "session.h"

#ifndef CKPT_VERSION
#define CKPT_VERSION "unknown"
#endif

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define SRV_BYTE_ORDER WIRE_BO_BIG
#elif defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define SRV_BYTE_ORDER WIRE_BO_LITTLE
#else
#error "cannot tell the byte order of this target"
#endif

#define IN_FIRST (64u * 1024u)  /* first size of the receive buffer */
#define OUT_FIRST (64u * 1024u) /* first size of the reply buffer: any small reply fits */
#define BIG_REPLY (64u * 1024u) /* a reply this big is drained in many steps */
#define WAITALL_MIN (64u * 1024u) /* rest of a frame at least this big: one MSG_WAITALL */
#define THREAD_STACK (1u << 20)

/* Return values of the HELLO step besides 0 and negative WIRE_E* codes. */
#define HELLO_REPLY_CLOSE 1 /* send the (error) reply, then end the session */
#define HELLO_CLOSE 2       /* end the session without a reply */

static atomic_int stopping;

/* ---- logging ---------------------------------------------------------------- */

void srv_session_log(const struct srv_session *s, int level, const char *fmt, ...)
{
	int saved = errno;
	char msg[1600];
	va_list ap;

	if (!srv_log_enabled(level))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	srv_log_at(level, NULL, 0, "session %" PRIu64 " (%s): %s", s->id, s->peer, msg);
	errno = saved;
}

static const char *bo_name(unsigned bo)
{
	return bo == WIRE_BO_BIG ? "big-endian" : bo == WIRE_BO_LITTLE ? "little-endian" : "?";
}

/* The architecture this binary was built for (what matters for data layout),
 * else the running kernel's machine name. */
static const char *server_arch(char *buf, size_t cap)
{
#if defined(__x86_64__)
	(void)buf, (void)cap;
	return "x86_64";
#elif defined(__aarch64__)
	(void)buf, (void)cap;
	return "aarch64";
#elif defined(__s390x__)
	(void)buf, (void)cap;
	return "s390x";
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	(void)buf, (void)cap;
	return "ppc64le";
#elif defined(__riscv) && __riscv_xlen == 64
	(void)buf, (void)cap;
	return "riscv64";
#else
	struct utsname u;

	if (uname(&u) < 0)
		return "unknown";
	snprintf(buf, cap, "%s", u.machine);
	return buf;
#endif
}

const char *srv_session_arch(void)
{
	static char buf[72];

	return server_arch(buf, sizeof(buf));
}

/* ---- buffers ------------------------------------------------------------------ */

int srv_session_reserve(struct srv_session *s, size_t n)
{
	size_t cap;
	uint8_t *p;

	if (n <= s->out_cap)
		return 0;
	cap = s->out_cap ? s->out_cap : OUT_FIRST;
	while (cap < n)
		cap *= 2;
	if (cap > s->cfg->max_frame)
		cap = s->cfg->max_frame;
	if (cap < n)
		cap = n;
	p = realloc(s->out, cap);
	if (!p)
		return -ENOMEM;
	s->out = p;
	s->out_cap = cap;
	return 0;
}

/* Make room for need bytes from in_start on (need <= max_frame). */
static int in_make_room(struct srv_session *s, size_t need)
{
	size_t have = s->in_end - s->in_start;
	size_t cap;
	uint8_t *p;

	if (s->in_cap - s->in_start >= need)
		return 0;
	if (s->in_start) {
		memmove(s->in, s->in + s->in_start, have);
		s->in_start = 0;
		s->in_end = have;
		if (s->in_cap >= need)
			return 0;
	}
	cap = s->in_cap ? s->in_cap : IN_FIRST;
	while (cap < need)
		cap *= 2;
	if (cap > s->cfg->max_frame)
		cap = s->cfg->max_frame;
	if (cap < need)
		cap = need;
	p = realloc(s->in, cap);
	if (!p)
		return -ENOMEM;
	s->in = p;
	s->in_cap = cap;
	return 0;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Before a wait for input that may block: which deadline applies (HELLO
 * within frame_timeout of connecting; the rest of a started frame within
 * frame_timeout of the server first waiting for it; the next frame within
 * idle_timeout of the last reply), and the socket's receive timeout set to
 * what is left of it, so a blocked recv or splice returns EAGAIN in time.
 * *wait_ms gets the same for a poll (-1: no deadline). 0, or -1 with errno
 * ETIMEDOUT and s->timed_out set once the deadline has passed. Nothing is
 * measured or set on the common path: no idle limit, a frame that arrives
 * whole. */
static int arm_wait(struct srv_session *s, int in_frame, int *wait_ms)
{
	const struct srv_config *c = s->cfg;
	uint64_t deadline = 0, now;
	uint32_t want = 0;
	int kind = 0;

	if ((!s->hello_done || s->auth_state == SRV_AUTH_WAIT) && c->frame_timeout_ms) {
		/* An unauthenticated peer holds a session thread only this long. */
		deadline = s->t_connect + c->frame_timeout_ms;
		kind = SRV_TIMEOUT_HELLO;
	} else if (in_frame && c->frame_timeout_ms) {
		if (!s->t_frame)
			s->t_frame = now_ms();
		deadline = s->t_frame + c->frame_timeout_ms;
		kind = SRV_TIMEOUT_FRAME;
	} else if (!in_frame && c->idle_timeout_ms) {
		deadline = s->t_idle + c->idle_timeout_ms;
		kind = SRV_TIMEOUT_IDLE;
	}
	if (deadline) {
		now = now_ms();
		if (now >= deadline) {
			s->timed_out = kind;
			errno = ETIMEDOUT;
			return -1;
		}
		/* Between frames the whole idle timeout, not what is left of
		 * it: the same value every time, so no setsockopt per request
		 * (the wait starts right after the reply; it may overrun by the
		 * 500 ms of shrink_when_idle at most). */
		want = kind == SRV_TIMEOUT_IDLE ? c->idle_timeout_ms : (uint32_t)(deadline - now);
	}
	if (wait_ms)
		*wait_ms = deadline ? (int)want : -1;
	if (want != s->rcvtimeo_ms) {
		struct timeval tv = {(time_t)(want / 1000u), (suseconds_t)(want % 1000u) * 1000};

		if (setsockopt(s->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0)
			s->rcvtimeo_ms = want;
	}
	return 0;
}

int srv_session_wait_frame(struct srv_session *s)
{
	return arm_wait(s, 1, NULL);
}

/* Have at least need bytes buffered from in_start. 1: done; 0: end of
 * stream first; -1: error (errno set; ETIMEDOUT: s->timed_out says which
 * deadline passed). Reads ahead when it can. */
static int in_fill(struct srv_session *s, size_t need)
{
	int r = in_make_room(s, need);

	if (r < 0) {
		errno = -r;
		return -1;
	}
	while (s->in_end - s->in_start < need) {
		size_t want = need - (s->in_end - s->in_start);
		int in_frame = need > WIRE_HDR_SIZE || s->in_end > s->in_start;
		int dontwait = s->big_reply, wait_ms;
		ssize_t n;

		if (arm_wait(s, in_frame, &wait_ms) < 0)
			return -1;
		if (want >= WAITALL_MIN) {
			n = recv(s->fd, s->in + s->in_end, want, MSG_WAITALL);
		} else {
			/* After a big reply, sleep in poll for input only: a thread
			 * blocked in recv on a unix socket is also woken each time
			 * the client drains part of that reply. After a small one,
			 * a blocking recv keeps the quick same-CPU wakeup that
			 * small round trips live on. */
			n = recv(s->fd, s->in + s->in_end, s->in_cap - s->in_end,
				 dontwait ? MSG_DONTWAIT : 0);
			if (n < 0 && dontwait && (errno == EAGAIN || errno == EWOULDBLOCK)) {
				struct pollfd pf = {s->fd, POLLIN | POLLRDHUP, 0};

				s->big_reply = 0;
				if (poll(&pf, 1, wait_ms) < 0 && errno != EINTR)
					return -1;
				continue;
			}
		}
		if (n < 0) {
			/* EAGAIN: the receive timeout; arm_wait tells whether
			 * the deadline passed */
			if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
				continue;
			return -1;
		}
		if (n == 0)
			return 0;
		s->in_end += (size_t)n;
	}
	return 1;
}

/* Is another whole, well-formed frame already buffered? Then the reply can
 * wait in the socket for the next one (MSG_MORE). */
static int next_frame_buffered(const struct srv_session *s)
{
	size_t have = s->in_end - s->in_start;
	struct wire_hdr h;

	if (have < WIRE_HDR_SIZE)
		return 0;
	if (wire_hdr_decode(s->in + s->in_start, have, s->cfg->max_frame, &h) != WIRE_OK)
		return 0;
	return h.length <= have;
}

static int send_all(struct srv_session *s, const uint8_t *p, size_t n, int more)
{
	int flags = MSG_NOSIGNAL | (more ? MSG_MORE : 0);

	while (n) {
		ssize_t w = send(s->fd, p, n, flags);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* The whole of a small reply, with s->pass_fd attached to its first byte;
 * the descriptor is closed whatever happens. */
static int send_with_fd(struct srv_session *s, const uint8_t *p, size_t n, int more)
{
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int))];
	} u;
	struct iovec iov = {(void *)p, n};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b,
			    .msg_controllen = sizeof(u.b)};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	ssize_t w;

	memset(&u, 0, sizeof(u));
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &s->pass_fd, sizeof(int));
	do
		w = sendmsg(s->fd, &mh, MSG_NOSIGNAL | (more ? MSG_MORE : 0));
	while (w < 0 && errno == EINTR);
	close(s->pass_fd);
	s->pass_fd = -1;
	if (w < 0)
		return -1;
	return send_all(s, p + w, n - (size_t)w, more);
}

int srv_session_pipe(struct srv_session *s, size_t n)
{
	if (s->pipe[0] < 0) {
		if (s->pipe_cap == 1) /* tried and failed before */
			return -1;
		if (pipe2(s->pipe, O_CLOEXEC) < 0) {
			s->pipe_cap = 1;
			return -1;
		}
		s->pipe_cap = 0;
	}
	if (s->pipe_cap < n) {
		int got = fcntl(s->pipe[1], F_SETPIPE_SZ, (int)n);

		if (got > 0)
			s->pipe_cap = (size_t)got;
	}
	return s->pipe_cap >= n ? 0 : -1;
}

/* Move the spliced part of a reply from the pipe to the socket. */
static int send_spliced(struct srv_session *s, int more)
{
	while (s->splice_len) {
		ssize_t n = splice(s->pipe[0], NULL, s->fd, NULL, s->splice_len,
				   SPLICE_F_MOVE | (more ? SPLICE_F_MORE : 0));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EPIPE;
			return -1;
		}
		s->splice_len -= (size_t)n;
	}
	return 0;
}

void srv_session_reply_error(struct srv_session *s, const struct wire_hdr *h, int err,
			     const char *msg)
{
	struct wire_error e;
	long n;

	e.err = wire_errno_from_host(err);
	e.msg.p = msg ? msg : "";
	e.msg.len = msg ? (uint32_t)strlen(msg) : 0;
	n = wire_enc_error(s->out, s->out_cap, h->type, h->id, &e);
	s->out_len = n > 0 ? (size_t)n : 0;
	s->last_err = err;
}

/* ---- HELLO and AUTH ------------------------------------------------------------ */

/* The uid of a unix-socket peer, or -1 (TCP, or unknown). */
static long peer_uid_of(int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct ucred cr;
	socklen_t cl = sizeof(cr);

	if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0 || ss.ss_family != AF_UNIX)
		return -1;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) < 0)
		return -2; /* a unix peer we cannot identify: refused below */
	return (long)cr.uid;
}

static int uid_allowed(const struct srv_config *cfg, long uid)
{
	if (uid == -1 || cfg->allow_any_uid || uid == 0)
		return 1;
	for (uint32_t i = 0; i < cfg->n_allow_uids; i++)
		if ((long)cfg->allow_uids[i] == uid)
			return 1;
	return 0;
}

/* The job becomes the session's (checkpoints) only with a name that is safe
 * as a directory name; file calls work either way. */
static void attach_job(struct srv_session *s)
{
	size_t len = strlen(s->job_name);

	if (!s->cfg->store) {
		s->job_why = "this server keeps no checkpoints";
	} else if (len == 0) {
		s->job_why = "the session named no job in HELLO; checkpoints need one";
	} else if (wire_job_check(s->job_name, (uint32_t)len)) {
		s->job_why = "the job name is not valid for checkpoints (1-128 of A-Z a-z 0-9 . _ -, "
			     "not starting with '.')";
		char safe[WIRE_MAX_JOB * 4 + 1];

		srv_log_sanitize(safe, sizeof(safe), s->job_name, len);
		srv_session_log(s, SRV_LOG_WARN, "job name '%s' cannot own checkpoints", safe);
	} else {
		s->job = srv_job_attach(s->cfg->store, s->job_name, len);
		if (!s->job)
			s->job_why = "the server could not set up the job's store";
	}
}

/* The proofs cover the job name for a job key (the key is the job's) and
 * none for the server key, which is good for any job. */
static size_t proof_job_len(const struct srv_session *s)
{
	return s->auth_kind == WIRE_KEY_JOB ? strlen(s->job_name) : 0;
}

static const char *kind_name(uint8_t kind)
{
	return kind == WIRE_KEY_SERVER ? "the server key" : "a job key";
}

/* Refuse an authentication: one warning naming the peer (in the prefix),
 * an EACCES error reply, then the session ends. */
static int auth_refuse(struct srv_session *s, const struct wire_hdr *h, const char *log_why,
		       const char *client_msg)
{
	srv_session_log(s, SRV_LOG_WARN, "authentication refused: %s", log_why);
	srv_session_reply_error(s, h, EACCES, client_msg);
	s->auth_refused = 1;
	wire_auth_wipe(s->auth_key, sizeof(s->auth_key));
	return HELLO_REPLY_CLOSE;
}

/* The server's side of HELLO when it has a key: challenge the client with a
 * fresh nonce and prove its own knowledge of the key (r gets the option). */
static int hello_challenge(struct srv_session *s, const struct wire_hdr *h, const struct wire_hello *m,
			   struct wire_hello *r)
{
	size_t jl = strlen(s->job_name);
	char why[WIRE_MAX_JOB * 4 + 64];

	if (!m->auth_kind)
		return auth_refuse(s, h, "the client offered no key (CKPT_KEY_FILE unset?)",
				   "this server requires a key: set CKPT_KEY_FILE to a key file "
				   "(made with 'ckpt keygen')");
	if (m->auth_kind == WIRE_KEY_JOB) {
		if (wire_job_check(s->job_name, (uint32_t)jl)) {
			char safe[WIRE_MAX_JOB * 4 + 1];

			srv_log_sanitize(safe, sizeof(safe), s->job_name, jl);
			snprintf(why, sizeof(why), "a job key for the invalid job name '%s'", safe);
			return auth_refuse(s, h, why, "a job key needs a valid job name in HELLO");
		}
		wire_key_derive_job(s->cfg->key->key, s->job_name, jl, s->auth_key);
	} else {
		memcpy(s->auth_key, s->cfg->key->key, sizeof(s->auth_key));
	}
	if (wire_auth_nonce(s->snonce) < 0) {
		srv_session_log(s, SRV_LOG_ERROR, "getrandom: %s", strerror(errno));
		srv_session_reply_error(s, h, EIO, "the server cannot make a challenge");
		wire_auth_wipe(s->auth_key, sizeof(s->auth_key));
		return HELLO_REPLY_CLOSE;
	}
	memcpy(s->cnonce, m->nonce, sizeof(s->cnonce));
	s->auth_kind = m->auth_kind;
	r->challenge = 1;
	memcpy(r->nonce, s->snonce, sizeof(r->nonce));
	wire_auth_proof(s->auth_key, WIRE_PROOF_SERVER, s->cnonce, s->snonce, s->id, s->auth_kind,
			s->job_name, proof_job_len(s), r->proof);
	s->auth_state = SRV_AUTH_WAIT;
	return 0;
}

static int do_hello(struct srv_session *s, const struct wire_hdr *h, const uint8_t *p, size_t len)
{
	char arch_buf[72], c_arch[72], c_job[136], c_peer[136], reason[96];
	const char *arch = server_arch(arch_buf, sizeof(arch_buf));
	const char *peer_str = "ckpt-server " CKPT_VERSION;
	struct wire_hello m, r;
	long page = sysconf(_SC_PAGESIZE);
	int rc;
	long n;

	if (h->type != WIRE_HELLO) {
		/* A protocol error (PROTOCOL.md 3.5): no answer, the stream is
		 * not trusted. */
		srv_session_log(s, SRV_LOG_WARN, "protocol error: first request is %s, not HELLO; "
				"closing", wire_type_name(h->type));
		return HELLO_CLOSE;
	}
	rc = wire_dec_hello(p, len, &m);
	if (rc)
		return rc;
	srv_log_sanitize(c_arch, sizeof(c_arch), m.arch.p, m.arch.len);
	srv_log_sanitize(c_job, sizeof(c_job), m.job.p, m.job.len);
	srv_log_sanitize(c_peer, sizeof(c_peer), m.peer.p, m.peer.len);
	if (!uid_allowed(s->cfg, s->peer_uid)) {
		snprintf(reason, sizeof(reason), "unix peer uid %ld is not allowed (--allow-uid)",
			 s->peer_uid);
		return auth_refuse(s, h, reason, "this server does not serve your user id on its unix "
				   "socket (ckpt-server --allow-uid)");
	}
	/* m.version is the highest the client speaks; we answer with the one
	 * the session uses, ours, unless the client cannot speak it. */
	if (m.version < WIRE_PROTO_VERSION) {
		srv_session_log(s, SRV_LOG_WARN,
				"HELLO from '%s' speaks protocol versions up to %u; this server needs %u; "
				"closing", c_peer, m.version, WIRE_PROTO_VERSION);
		snprintf(reason, sizeof(reason), "protocol version %u not supported (server: %u)",
			 m.version, WIRE_PROTO_VERSION);
		srv_session_reply_error(s, h, EPROTO, reason);
		return HELLO_REPLY_CLOSE;
	}
	if (m.max_frame < SRV_MIN_FRAME) {
		srv_session_log(s, SRV_LOG_WARN, "HELLO with max frame %" PRIu32
				" (below %u) from '%s': closing", m.max_frame, SRV_MIN_FRAME, c_peer);
		snprintf(reason, sizeof(reason), "max frame %" PRIu32 " below the minimum %u",
			 m.max_frame, SRV_MIN_FRAME);
		srv_session_reply_error(s, h, EPROTO, reason);
		return HELLO_REPLY_CLOSE;
	}
	s->out_max = m.max_frame < s->cfg->max_frame ? m.max_frame : s->cfg->max_frame;
	s->client_byte_order = m.byte_order;
	s->client_page_size = m.page_size;
	{
		uint32_t al = m.arch.len < sizeof(s->client_arch) - 1 ? m.arch.len
								       : (uint32_t)sizeof(s->client_arch) - 1;

		memcpy(s->client_arch, m.arch.p, al);
		s->client_arch[al] = '\0';
	}
	/* Longer names are never valid job names: keep a prefix, refused later. */
	{
		uint32_t jl = m.job.len <= WIRE_MAX_JOB ? m.job.len : WIRE_MAX_JOB;

		memcpy(s->job_name, m.job.p, jl);
		s->job_name[jl] = '\0';
		if (m.job.len > WIRE_MAX_JOB)
			s->job_name[0] = '.'; /* invalid on purpose */
	}

	memset(&r, 0, sizeof(r));
	r.version = WIRE_PROTO_VERSION;
	r.byte_order = SRV_BYTE_ORDER;
	r.page_size = page > 0 ? (uint32_t)page : 0;
	r.pid = 0;
	r.session = s->id;
	r.max_frame = s->cfg->max_frame;
	r.arch.p = arch;
	r.arch.len = (uint32_t)strlen(arch);
	r.peer.p = peer_str;
	r.peer.len = (uint32_t)strlen(peer_str);
	/* A peer on this host as our own user could open our files itself:
	 * it may read them through descriptors of its own (READ_FD). */
	s->read_fds = !s->cfg->no_read_fds && s->peer_uid >= 0 && (uid_t)s->peer_uid == geteuid();
	r.read_fds = (uint8_t)s->read_fds;
	if (s->cfg->key) {
		/* The job is attached once the client has proven its key: an
		 * unauthenticated peer makes nothing appear in the store. */
		rc = hello_challenge(s, h, &m, &r);
		if (rc)
			return rc;
		if (s->cfg->store && !wire_job_check(m.job.p, m.job.len)) {
			r.job.p = m.job.p;
			r.job.len = m.job.len;
		}
	} else {
		attach_job(s);
		r.job.p = s->job ? m.job.p : "";
		r.job.len = s->job ? m.job.len : 0;
	}
	n = wire_enc_hello(s->out, s->out_cap, h->id, WIRE_F_REPLY, &r);
	if (n < 0) {
		srv_session_log(s, SRV_LOG_ERROR, "cannot encode the HELLO reply: %s",
				wire_strerror((int)n));
		srv_session_reply_error(s, h, EIO, "server cannot encode its HELLO reply");
		return HELLO_REPLY_CLOSE;
	}
	s->out_len = (size_t)n;
	s->hello_done = 1;

	srv_session_log(s, SRV_LOG_INFO,
			"HELLO: protocol %u, job '%s', client '%s' pid %" PRIu32 " %s %s page %" PRIu32
			", server %s %s page %" PRIu32 "%s; max frame %" PRIu32 "%s%s",
			r.version, c_job, c_peer, m.pid, c_arch, bo_name(m.byte_order), m.page_size, arch,
			bo_name(r.byte_order), r.page_size,
			(m.byte_order != r.byte_order || m.page_size != r.page_size ||
			 m.arch.len != r.arch.len || memcmp(m.arch.p, r.arch.p, m.arch.len) != 0)
				? " (heterogeneous pair)"
				: "",
			s->out_max, s->auth_state == SRV_AUTH_WAIT ? "; challenged" : "",
			s->read_fds ? "; READ_FD offered (same host, same uid)" : "");
	return 0;
}

/* The client's answer to the challenge. Anything but a matching AUTH ends
 * the session; a match attaches the job. */
static int do_auth(struct srv_session *s, const struct wire_hdr *h, const uint8_t *p, size_t len)
{
	uint8_t got[WIRE_PROOF_LEN], want[WIRE_PROOF_LEN];
	char why[200];
	int ok, rc;

	if (h->type != WIRE_AUTH) {
		snprintf(why, sizeof(why), "%s #%" PRIu64 " before AUTH", wire_type_name(h->type), h->id);
		return auth_refuse(s, h, why, "authenticate first (AUTH)");
	}
	rc = wire_dec_auth(p, len, got);
	if (rc)
		return rc;
	wire_auth_proof(s->auth_key, WIRE_PROOF_CLIENT, s->cnonce, s->snonce, s->id, s->auth_kind,
			s->job_name, proof_job_len(s), want);
	ok = wire_auth_equal(got, want);
	wire_auth_wipe(s->auth_key, sizeof(s->auth_key));
	if (!ok) {
		snprintf(why, sizeof(why), "wrong key (the client used %s%s%s%s)", kind_name(s->auth_kind),
			 s->auth_kind == WIRE_KEY_JOB ? " for job '" : "",
			 s->auth_kind == WIRE_KEY_JOB ? s->job_name : "",
			 s->auth_kind == WIRE_KEY_JOB ? "'" : "");
		return auth_refuse(s, h, why, "authentication failed: your key is not this server's "
				   "(CKPT_KEY_FILE)");
	}
	s->auth_state = SRV_AUTH_DONE;
	attach_job(s);
	srv_session_log(s, SRV_LOG_INFO, "authenticated with %s%s%s%s", kind_name(s->auth_kind),
			s->auth_kind == WIRE_KEY_JOB ? " of job '" : "",
			s->auth_kind == WIRE_KEY_JOB ? s->job_name : "",
			s->auth_kind == WIRE_KEY_JOB ? "'" : "");
	s->out_len = 0;
	{
		long n = wire_enc_empty(s->out, s->out_cap, WIRE_AUTH, WIRE_F_REPLY, h->id);

		if (n < 0)
			return (int)n;
		s->out_len = (size_t)n;
	}
	return 0;
}

/* ---- the session loop ---------------------------------------------------------- */

static void report_close(void *ctx, const struct srv_handle *h, const char *op, int err)
{
	const struct srv_session *s = ctx;
	char path[256];
	char eb[128];

	srv_log_sanitize(path, sizeof(path), h->path, strlen(h->path));
	srv_session_log(s, SRV_LOG_WARN, "%s of '%s' at session end failed: %s", op, path,
			srv_strerror(err, eb, sizeof(eb)));
}

/* A PWRITE at least this big is written from the socket to the file by
 * splice when it can be (not appending, a pipe available). */
#define STREAM_MIN (256u * 1024u)
#define STREAM_NOT 1 /* pwrite_streamed: take the ordinary path */

/* The PWRITE whose header h was decoded, with its fixed fields buffered:
 * served by srv_pwrite_stream when it is well formed, not an append, and a
 * pipe exists; STREAM_NOT otherwise (a malformed one is then refused by the
 * ordinary decoder). */
static int pwrite_streamed(struct srv_session *s, const struct wire_hdr *h)
{
	struct wire_pwrite m;
	struct wire_rd r;
	size_t body = h->length - WIRE_PWRITE_HDR, have;

	wire_rd_init(&r, s->in + s->in_start + WIRE_HDR_SIZE, WIRE_PWRITE_HDR - WIRE_HDR_SIZE);
	m.handle = wire_get_u64(&r);
	m.offset = wire_get_u64(&r);
	m.flags = wire_get_u32(&r);
	m.data.len = wire_get_u32(&r);
	if (r.err || m.flags != 0 || m.data.len != body || m.data.len > WIRE_MAX_DATA ||
	    m.offset > (uint64_t)INT64_MAX || srv_session_pipe(s, 1u << 20) < 0)
		return STREAM_NOT;
	s->in_start += WIRE_PWRITE_HDR;
	have = s->in_end - s->in_start;
	if (have > body)
		have = body;
	m.data.p = s->in + s->in_start;
	s->in_start += have;
	return srv_pwrite_stream(s, h, &m, body - have);
}

/* Buffers grown for big frames (4 MiB checkpoint chunks) go back to their
 * first size once the session has been idle for a while, so that many
 * sessions that each sent one big frame do not hold on to megabytes. */
#define IDLE_SHRINK_MS 500
static void shrink_when_idle(struct srv_session *s)
{
	struct pollfd pf = {s->fd, POLLIN | POLLRDHUP, 0};
	uint8_t *p;

	if (poll(&pf, 1, IDLE_SHRINK_MS) != 0)
		return; /* input (or an error, which the read reports) */
	if (s->in_cap > IN_FIRST) {
		free(s->in);
		s->in = NULL;
		s->in_cap = s->in_start = s->in_end = 0;
	}
	if (s->out_cap > OUT_FIRST && (p = realloc(s->out, OUT_FIRST)) != NULL) {
		s->out = p;
		s->out_cap = OUT_FIRST;
	}
}

/* The one line that says which deadline a peer missed. */
static void timeout_log(const struct srv_session *s)
{
	const struct srv_config *c = s->cfg;
	size_t have = s->in_end - s->in_start;

	if (s->timed_out == SRV_TIMEOUT_HELLO)
		srv_session_log(s, SRV_LOG_WARN, "no complete %s within %.3g s of connecting "
				"(%zu bytes received; --frame-timeout), disconnected",
				s->hello_done ? "AUTH" : "HELLO", c->frame_timeout_ms / 1000.0, have);
	else if (s->timed_out == SRV_TIMEOUT_FRAME && s->frame_len)
		srv_session_log(s, SRV_LOG_WARN, "frame of %" PRIu32 " bytes not complete within "
				"%.3g s (--frame-timeout), disconnected", s->frame_len,
				c->frame_timeout_ms / 1000.0);
	else if (s->timed_out == SRV_TIMEOUT_FRAME)
		srv_session_log(s, SRV_LOG_WARN, "frame header not complete within %.3g s "
				"(%zu of %u bytes received; --frame-timeout), disconnected",
				c->frame_timeout_ms / 1000.0, have, WIRE_HDR_SIZE);
	else
		srv_session_log(s, SRV_LOG_WARN, "no request for %.3g s (--idle-timeout), "
				"disconnected with %" PRIu32 " open file%s", c->idle_timeout_ms / 1000.0,
				s->handles.used, s->handles.used == 1 ? "" : "s");
}

/* Serve frames until the end. Returns 0 for an orderly end, -1 otherwise;
 * *why says why for the log. */
static int serve(struct srv_session *s, const char **why)
{
	int r;

	for (;;) {
		struct wire_hdr h;
		const uint8_t *payload;
		size_t plen;
		int rc;

		/* At a stop the socket is shut down for reading: requests that
		 * already arrived are still served, then recv sees the end. */
		if (s->in_start == s->in_end && (s->in_cap > IN_FIRST || s->out_cap > OUT_FIRST))
			shrink_when_idle(s);
		s->t_frame = 0; /* the frame timeout starts with the next frame */
		s->frame_len = 0;
		r = in_fill(s, WIRE_HDR_SIZE);
		if (r == 0 && s->in_end == s->in_start) {
			*why = atomic_load(&stopping) ? "server stopping" : "closed by the client";
			return 0;
		}
		if (r <= 0)
			goto input_ended;
		rc = wire_hdr_decode(s->in + s->in_start, WIRE_HDR_SIZE, s->cfg->max_frame, &h);
		if (rc == WIRE_ETOOBIG) {
			/* Told apart from other bad headers: the one a peer that is
			 * merely misconfigured (or hostile) most likely sends. */
			srv_session_log(s, SRV_LOG_WARN,
					"frame of %" PRIu32 " bytes over the limit %" PRIu32
					" (--max-frame), disconnected", h.length, s->cfg->max_frame);
			*why = "frame over the limit";
			return -1;
		}
		if (rc) {
			srv_session_log(s, SRV_LOG_WARN,
					"malformed frame header (length %" PRIu32 ", type %u, flags 0x%x, "
					"max frame %" PRIu32 "): %s; closing",
					h.length, h.type, h.flags, s->cfg->max_frame, wire_strerror(rc));
			*why = "malformed frame";
			return -1;
		}
		if (h.flags & WIRE_F_REPLY) {
			srv_session_log(s, SRV_LOG_WARN,
					"malformed frame: %s #%" PRIu64 " from the client carries the reply "
					"flag; closing", wire_type_name(h.type), h.id);
			*why = "malformed frame";
			return -1;
		}
		s->out_len = 0;
		s->last_err = 0;
		s->frame_len = h.length;
		plen = h.length - WIRE_HDR_SIZE;
		if (s->hello_done && h.type == WIRE_PWRITE && h.length >= STREAM_MIN) {
			r = in_fill(s, WIRE_PWRITE_HDR);
			if (r <= 0)
				goto input_ended;
			rc = pwrite_streamed(s, &h);
			if (rc == SRV_STREAM_LOST && s->timed_out) {
				r = -1;
				goto input_ended;
			}
			if (rc == SRV_STREAM_LOST) {
				srv_session_log(s, SRV_LOG_INFO, "connection lost in the middle of a PWRITE: %s",
						srv_errname(errno));
				*why = "connection lost";
				return -1;
			}
			if (rc != STREAM_NOT)
				goto served;
		}
		r = in_fill(s, h.length);
		if (r <= 0)
			goto input_ended;
		payload = s->in + s->in_start + WIRE_HDR_SIZE;
		s->in_start += h.length; /* the payload stays put until the next in_fill */

		if (!s->hello_done) {
			rc = do_hello(s, &h, payload, plen);
			if (rc == HELLO_CLOSE) {
				*why = "protocol error";
				return -1;
			}
		} else if (s->auth_state == SRV_AUTH_WAIT) {
			rc = do_auth(s, &h, payload, plen);
		} else if (h.type == WIRE_HELLO) {
			srv_session_log(s, SRV_LOG_WARN, "second HELLO #%" PRIu64 " refused", h.id);
			srv_session_reply_error(s, &h, EPROTO, "HELLO was already done on this session");
			rc = 0;
		} else if (h.type == WIRE_AUTH) {
			srv_session_reply_error(s, &h, EINVAL, s->cfg->key ? "AUTH was already done"
									: "this server has no key: nothing to prove");
			rc = 0;
		} else {
			rc = srv_fileop(s, &h, payload, plen);
		}
served:
		if (rc < 0) {
			srv_session_log(s, SRV_LOG_WARN,
					"malformed %s request #%" PRIu64 " (%zu payload bytes): %s; closing",
					wire_type_name(h.type), h.id, plen, wire_strerror(rc));
			*why = "malformed request";
			return -1;
		}
		s->nreq++;
		if (srv_log_enabled(SRV_LOG_DEBUG))
			srv_session_log(s, SRV_LOG_DEBUG, "%s #%" PRIu64 " -> %s%s", wire_type_name(h.type),
					h.id, s->last_err ? "error " : "ok",
					s->last_err ? srv_errname(s->last_err) : "");
		if (s->out_len == 0) { /* only if encoding the reply itself failed */
			srv_session_log(s, SRV_LOG_ERROR, "no reply could be built for %s #%" PRIu64,
					wire_type_name(h.type), h.id);
			*why = "internal error";
			return -1;
		}
		s->big_reply = s->out_len + s->splice_len + s->tail_len >= BIG_REPLY;
		if (s->pass_fd >= 0 && s->splice_len == 0 && s->tail_len == 0) {
			if (send_with_fd(s, s->out, s->out_len, next_frame_buffered(s)) < 0) {
				srv_session_log(s, SRV_LOG_INFO, "connection lost while replying: %s",
						srv_errname(errno));
				*why = "connection lost";
				return -1;
			}
		} else if (send_all(s, s->out, s->out_len, s->splice_len || next_frame_buffered(s)) < 0 ||
		    send_spliced(s, s->tail_len || next_frame_buffered(s)) < 0 ||
		    send_all(s, s->out + s->out_len, s->tail_len, next_frame_buffered(s)) < 0) {
			srv_session_log(s, SRV_LOG_INFO, "connection lost while replying: %s",
					srv_errname(errno));
			*why = "connection lost";
			return -1;
		}
		s->tail_len = 0;
		if (s->cfg->idle_timeout_ms)
			s->t_idle = now_ms();
		if (s->in_start == s->in_end)
			s->in_start = s->in_end = 0;
		if (rc == HELLO_REPLY_CLOSE) {
			*why = s->auth_refused ? "authentication refused" : "HELLO refused";
			return -1;
		}
	}

input_ended:
	if (atomic_load(&stopping)) {
		*why = "server stopping";
		return 0;
	}
	if (r < 0 && s->timed_out) {
		timeout_log(s);
		*why = s->timed_out == SRV_TIMEOUT_IDLE ? "idle timeout" : "frame timeout";
		return -1;
	}
	if (r == 0) {
		srv_session_log(s, SRV_LOG_WARN, "connection closed in the middle of a frame "
				"(%zu bytes of it received)", s->in_end - s->in_start);
		*why = "truncated frame";
	} else {
		srv_session_log(s, SRV_LOG_INFO, "receive failed: %s", srv_errname(errno));
		*why = "connection lost";
	}
	return -1;
}

int srv_session_run(const struct srv_config *cfg, int fd, uint64_t id, const char *peer)
{
	struct srv_session *s = calloc(1, sizeof(*s));
	const char *why = "?";
	uint32_t closed;
	int rc;

	if (!s) {
		srv_log_at(SRV_LOG_ERROR, NULL, 0, "session %" PRIu64 ": out of memory", id);
		shutdown(fd, SHUT_RDWR);
		return -1;
	}
	s->id = id;
	s->fd = fd;
	s->cfg = cfg;
	snprintf(s->peer, sizeof(s->peer), "%s", peer ? peer : "?");
	s->out_max = cfg->max_frame;
	s->pipe[0] = s->pipe[1] = -1;
	s->pass_fd = -1;
	s->peer_uid = peer_uid_of(fd);
	s->t_connect = s->t_idle = now_ms();
	srv_handles_init(&s->handles, cfg->max_open);
	if (srv_session_reserve(s, OUT_FIRST) < 0) {
		srv_session_log(s, SRV_LOG_ERROR, "out of memory");
		rc = -1;
		why = "out of memory";
	} else {
		srv_session_log(s, SRV_LOG_DEBUG, "connected");
		rc = serve(s, &why);
	}
	if (s->auth_state == SRV_AUTH_WAIT && !s->auth_refused && !s->timed_out) {
		/* The client checks our proof before it sends its own: leaving
		 * here means it found ours wrong, so its key is not ours. */
		srv_session_log(s, SRV_LOG_WARN, "authentication refused: the client left without "
				"proving its key (it did not accept ours: a different key)");
		why = "authentication refused";
	}
	srv_job_detach(s->job, s->handles.used, s);
	s->job = NULL;
	closed = srv_handles_close_all(&s->handles, atomic_load(&stopping), report_close, s);
	/* A connection that closes without a word (a probe) is not news. */
	srv_session_log(s, s->hello_done || rc ? SRV_LOG_INFO : SRV_LOG_DEBUG,
			"ended (%s) after %" PRIu64 " request%s; %" PRIu32
			" open file%s closed%s", why, s->nreq, s->nreq == 1 ? "" : "s", closed,
			closed == 1 ? "" : "s",
			closed && atomic_load(&stopping) ? " after fsync" : "");
	shutdown(fd, SHUT_RDWR);
	srv_handles_destroy(&s->handles);
	wire_auth_wipe(s->auth_key, sizeof(s->auth_key));
	if (s->pipe[0] >= 0) {
		close(s->pipe[0]);
		close(s->pipe[1]);
	}
	if (s->pass_fd >= 0)
		close(s->pass_fd);
	free(s->in);
	free(s->out);
	free(s);
	return rc;
}

/* ---- registry ---------------------------------------------------------------------- */

struct reg_entry {
	struct reg_entry *next;
	pthread_t tid;
	int fd;
	int done;
	uint64_t id;
	const struct srv_config *cfg;
	char peer[96];
};

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t reg_cond = PTHREAD_COND_INITIALIZER;
static struct reg_entry *reg_head;
static unsigned reg_active; /* threads still serving */
static int reg_event = -1;
static uint64_t reg_next_id = 1;

static void *session_thread(void *arg)
{
	struct reg_entry *e = arg;
	uint64_t one = 1;

	srv_session_run(e->cfg, e->fd, e->id, e->peer);
	pthread_mutex_lock(&reg_lock);
	e->done = 1;
	reg_active--;
	pthread_cond_broadcast(&reg_cond);
	pthread_mutex_unlock(&reg_lock);
	if (reg_event >= 0 && write(reg_event, &one, sizeof(one)) < 0) {
		/* the counter cannot overflow in practice; main reaps on its next wake */
	}
	return NULL;
}

int srv_sessions_init(void)
{
	if (reg_event < 0) {
		reg_event = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (reg_event < 0)
			return -errno;
	}
	return reg_event;
}

unsigned srv_sessions_active(void)
{
	unsigned n;

	pthread_mutex_lock(&reg_lock);
	n = reg_active;
	pthread_mutex_unlock(&reg_lock);
	return n;
}

int srv_sessions_start(const struct srv_config *cfg, int fd, const char *peer)
{
	struct reg_entry *e;
	pthread_attr_t attr;
	int r;

	if (atomic_load(&stopping))
		return -ESHUTDOWN;
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->fd = fd;
	e->cfg = cfg;
	snprintf(e->peer, sizeof(e->peer), "%s", peer ? peer : "?");

	pthread_attr_init(&attr);
#if !defined(__SANITIZE_ADDRESS__)
	pthread_attr_setstacksize(&attr, THREAD_STACK);
#endif
	pthread_mutex_lock(&reg_lock);
	if (reg_active >= cfg->max_sessions) {
		pthread_mutex_unlock(&reg_lock);
		pthread_attr_destroy(&attr);
		free(e);
		return -EAGAIN;
	}
	e->id = reg_next_id++;
	r = pthread_create(&e->tid, &attr, session_thread, e);
	if (r == 0) {
		e->next = reg_head;
		reg_head = e;
		reg_active++;
	}
	pthread_mutex_unlock(&reg_lock);
	pthread_attr_destroy(&attr);
	if (r) {
		free(e);
		return -r;
	}
	return 0;
}

/* Unlink the entries whose thread is done (all of them if all is set) and
 * return them as a list. */
static struct reg_entry *take_entries(int all)
{
	struct reg_entry *out = NULL, **pp;

	pthread_mutex_lock(&reg_lock);
	for (pp = &reg_head; *pp;) {
		struct reg_entry *e = *pp;

		if (all || e->done) {
			*pp = e->next;
			e->next = out;
			out = e;
		} else {
			pp = &e->next;
		}
	}
	pthread_mutex_unlock(&reg_lock);
	return out;
}

static void join_entries(struct reg_entry *e)
{
	while (e) {
		struct reg_entry *next = e->next;

		pthread_join(e->tid, NULL);
		close(e->fd);
		free(e);
		e = next;
	}
}

void srv_sessions_reap(void)
{
	uint64_t n;

	if (reg_event >= 0 && read(reg_event, &n, sizeof(n)) < 0) {
		/* EAGAIN: nothing signalled; reap anyway */
	}
	join_entries(take_entries(0));
}

static void shutdown_running(int how)
{
	pthread_mutex_lock(&reg_lock);
	for (struct reg_entry *e = reg_head; e; e = e->next)
		if (!e->done)
			shutdown(e->fd, how);
	pthread_mutex_unlock(&reg_lock);
}

void srv_sessions_stop(unsigned grace_ms)
{
	struct timespec deadline;
	unsigned left;

	atomic_store(&stopping, 1);
	shutdown_running(SHUT_RD);

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += grace_ms / 1000;
	deadline.tv_nsec += (long)(grace_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&reg_lock);
	while (reg_active > 0)
		if (pthread_cond_timedwait(&reg_cond, &reg_lock, &deadline) == ETIMEDOUT)
			break;
	left = reg_active;
	pthread_mutex_unlock(&reg_lock);

	if (left) {
		srv_log_at(SRV_LOG_WARN, NULL, 0,
			   "%u session%s still busy after %u ms; shutting their connections down", left,
			   left == 1 ? "" : "s", grace_ms);
		shutdown_running(SHUT_RDWR);
	}
	join_entries(take_entries(1));
}
