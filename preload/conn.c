/* conn.c - sessions with ckpt-server: connect, HELLO, and one request/reply at a time.
 *
 * One connection per distinct server address, shared by every mount that
 * names it. Its socket is moved to a high fd, marked close-on-exec and
 * protected from the program's close/dup2. A server that cannot be reached
 * gets one line on stderr saying what to start; a server that stops answering
 * within CKPT_IO_TIMEOUT turns the call into EIO and marks the connection
 * broken: the next call reconnects and the open files are reopened by path.
 * A server that drops the connection (killed, stopped, restarted) is waited
 * for up to CKPT_RECONNECT_TIMEOUT: the shim reconnects, sends again the
 * pipelined writes whose acknowledgement never came (positioned, so doing
 * one twice changes nothing; their frames are kept in a ring until
 * acknowledged), reopens every open file by path and sends the failed
 * request again with its file's new handle, unless the request may already
 * have been done and is not idempotent (an append, unlink, rename, mkdir,
 * link, symlink, exclusive create): that call fails with EIO. Past the bound
 * the call fails with EIO. The checkpoint handler never waits.
 */
#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <poll.h>
#include <limits.h>
#include <time.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "shim.h"
#include "ckpt.h"

struct shim_conn *shim_conns;
uint8_t shim_reqbuf[SHIM_REQBUF_SIZE];

struct shim_conn *shim_conn_for(const char *addr)
{
	struct shim_conn *c;

	for (c = shim_conns; c; c = c->next)
		if (!strcmp(c->addr, addr))
			return c;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->addr = strdup(addr);
	if (!c->addr) {
		free(c);
		return NULL;
	}
	c->fd = -1;
	c->next_id = 1;
	c->next = shim_conns;
	shim_conns = c;
	return c;
}

bool shim_is_shim_fd(int fd)
{
	for (struct shim_conn *c = shim_conns; c; c = c->next)
		if (c->fd >= 0 && c->fd == fd)
			return true;
	return shim_is_ofd_fd(fd);
}

int shim_high_fd_floor(int below)
{
	struct rlimit rl;
	long lim = 1024;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		lim = (long)rl.rlim_cur;
	if (lim > 1024)
		lim = 1024;
	return lim > below + 32 ? (int)lim - below : (int)lim / 2;
}

int shim_fd_move_high(int fd, int below)
{
	int hi = real_fcntl(fd, F_DUPFD_CLOEXEC, shim_high_fd_floor(below));

	if (hi < 0)
		return fd;
	real_close(fd);
	return hi;
}

/* Close the socket. Writes whose acknowledgement never came get EIO in
 * their files, unless `keep`: then they stay in the window (their frames in
 * the ring) to be sent again on the next session. Prefetches are forgotten. */
static void drop(struct shim_conn *c, bool keep)
{
	if (c->fd >= 0)
		real_close(c->fd);
	c->fd = -1;
	for (unsigned int i = 0; i < c->nin; i++) {
		struct shim_inflight *in = &c->inflight[(c->head + i) % SHIM_MAX_INFLIGHT];

		if (in->type == WIRE_PWRITE && in->ofd && keep && in->saved)
			continue;
		if (in->type == WIRE_PWRITE && in->ofd && !in->ofd->werr)
			in->ofd->werr = EIO;
		in->ofd = NULL;
	}
	if (!keep) {
		c->nin = 0;
		c->inflight_bytes = 0;
	}
}

static void set_timeouts(int fd)
{
	struct timeval tv = {shim_io_timeout_ms / 1000, (shim_io_timeout_ms % 1000) * 1000};
	int big = 4 << 20;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
}

static int dial_one(const struct sockaddr *sa, socklen_t len)
{
	int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1, err;

	if (fd < 0)
		return -1;
	set_timeouts(fd);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, sa, len) == 0)
		return fd;
	err = errno;
	real_close(fd);
	errno = err;
	return -1;
}

/* host and port as numbers; EAFNOSUPPORT if host is a name. */
static int dial_numeric(const char *host, const char *port)
{
	struct sockaddr_in a4 = {.sin_family = AF_INET};
	struct sockaddr_in6 a6 = {.sin6_family = AF_INET6};
	unsigned long p = 0;
	const char *c = port;

	for (; *c >= '0' && *c <= '9' && p <= 65535; c++)
		p = p * 10 + (unsigned long)(*c - '0');
	if (*c || c == port || p > 65535)
		return errno = EAFNOSUPPORT, -1;
	if (inet_pton(AF_INET, host, &a4.sin_addr) == 1) {
		a4.sin_port = htons((uint16_t)p);
		return dial_one((struct sockaddr *)&a4, sizeof(a4));
	}
	if (inet_pton(AF_INET6, host, &a6.sin6_addr) == 1) {
		a6.sin6_port = htons((uint16_t)p);
		return dial_one((struct sockaddr *)&a6, sizeof(a6));
	}
	return errno = EAFNOSUPPORT, -1;
}

/* Open the socket for addr; -1 with errno. */
static int dial(const char *addr)
{
	int fd = -1, err = ECONNREFUSED;

	if (!strncmp(addr, "unix:", 5)) {
		struct sockaddr_un sun = {.sun_family = AF_UNIX};
		const char *path = addr + 5;

		if (strlen(path) >= sizeof(sun.sun_path)) {
			errno = ENAMETOOLONG;
			return -1;
		}
		strcpy(sun.sun_path, path);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -1;
		set_timeouts(fd);
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
			err = errno;
			real_close(fd);
			errno = err;
			return -1;
		}
		return fd;
	}
	if (!strncmp(addr, "tcp:", 4)) {
		char host[256];
		const char *hp = addr + 4, *colon = strrchr(hp, ':');
		struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res, *ai;
		size_t hl;
		int one = 1;

		if (!colon)
			return errno = EINVAL, -1;
		hl = (size_t)(colon - hp);
		if (hl >= 2 && hp[0] == '[' && hp[hl - 1] == ']') {
			hp++;
			hl -= 2;
		}
		if (hl >= sizeof(host))
			return errno = ENAMETOOLONG, -1;
		memcpy(host, hp, hl);
		host[hl] = 0;
		/* A numeric address needs no resolver: a checkpoint may have to
		 * connect from a signal handler, where getaddrinfo is unsafe. */
		fd = dial_numeric(host, colon + 1);
		if (fd >= 0 || errno != EAFNOSUPPORT)
			return fd;
		if (getaddrinfo(host, colon + 1, &hints, &res) != 0)
			return errno = EHOSTUNREACH, -1;
		for (ai = res; ai; ai = ai->ai_next) {
			fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
			if (fd < 0) {
				err = errno;
				continue;
			}
			set_timeouts(fd);
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
				break;
			err = errno;
			real_close(fd);
			fd = -1;
		}
		freeaddrinfo(res);
		if (fd < 0)
			errno = err;
		return fd;
	}
	errno = EINVAL;
	return -1;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Start an exchange: it must be over within CKPT_IO_TIMEOUT. */
static void arm(struct shim_conn *c)
{
	c->deadline = now_ms() + shim_io_timeout_ms;
}

/* Wait until fd is ready for events or the exchange's deadline passes
 * (EAGAIN, which transport_fail reports as a timeout). */
static int wait_ready(struct shim_conn *c, short events)
{
	for (;;) {
		struct pollfd p = {c->fd, events, 0};
		int64_t left = c->deadline - now_ms();
		int r;

		if (left <= 0)
			return errno = EAGAIN, -1;
		r = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (r > 0)
			return 0;
		if (r == 0)
			return errno = EAGAIN, -1;
		if (errno != EINTR)
			return -1;
	}
}

static int send_all(struct shim_conn *c, struct iovec *iov, int n)
{
	int saved = errno; /* EAGAIN on the way is no news to the caller */

	while (n > 0) {
		struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)n};
		ssize_t k = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN && wait_ready(c, POLLOUT) == 0)
				continue;
			return -1;
		}
		while (n > 0 && (size_t)k >= iov->iov_len) {
			k -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + k;
			iov->iov_len -= (size_t)k;
		}
	}
	errno = saved;
	return 0;
}

/* Receive len bytes into buf. With fd non-NULL, a descriptor that comes
 * with them (SCM_RIGHTS) is taken into *fd (close-on-exec; any more, or any
 * once *fd is set, are closed); without, the kernel discards descriptors. */
static int recv_full(struct shim_conn *c, void *buf, size_t len, int *fd)
{
	uint8_t *p = buf;
	int saved = errno;

	while (len) {
		union {
			struct cmsghdr h;
			char b[CMSG_SPACE(4 * sizeof(int))];
		} u;
		struct iovec v = {p, len};
		struct msghdr mh = {.msg_iov = &v, .msg_iovlen = 1, .msg_control = fd ? u.b : NULL,
				    .msg_controllen = fd ? sizeof(u.b) : 0};
		ssize_t k = fd ? recvmsg(c->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC)
			       : recv(c->fd, p, len, MSG_DONTWAIT);

		if (k == 0) {
			errno = ECONNRESET;
			return -1;
		}
		if (k < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN && wait_ready(c, POLLIN) == 0)
				continue;
			return -1;
		}
		for (struct cmsghdr *cm = fd ? CMSG_FIRSTHDR(&mh) : NULL; cm; cm = CMSG_NXTHDR(&mh, cm)) {
			size_t n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);

			if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
				continue;
			for (size_t i = 0; i < n; i++) {
				int f;

				memcpy(&f, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
				if (*fd < 0)
					*fd = f;
				else
					real_close(f);
			}
		}
		p += k;
		len -= (size_t)k;
	}
	errno = saved;
	return 0;
}

static int recv_all(struct shim_conn *c, void *buf, size_t len)
{
	return recv_full(c, buf, len, NULL);
}

/* The connection went away (as opposed to a timeout or a protocol error). */
static bool conn_gone(int err)
{
	switch (err) {
	case ECONNRESET: case EPIPE: case ENOTCONN: case ECONNABORTED: case ESHUTDOWN:
	case ENETRESET: case EHOSTUNREACH: case ENETUNREACH: case ENETDOWN: case EHOSTDOWN:
		return true;
	default:
		return false;
	}
}

/* Mark the connection lost and say why, once per loss. */
static int transport_fail(struct shim_conn *c, const char *what, int err)
{
	bool gone = conn_gone(err), keep = gone && shim_reconnect_ms > 0;

	if (c->reconnecting)
		shim_debug("lost the server %s again while %s: %s", c->addr, what, strerror(err));
	else if (err == EAGAIN || err == EWOULDBLOCK)
		shim_log("server %s did not answer within %d s (CKPT_IO_TIMEOUT); failing the call with EIO",
			 c->addr, shim_io_timeout_ms / 1000);
	else if (keep && shim_busy > 0)
		shim_log("lost the server %s while %s: %s; reconnecting (for up to %d s, "
			 "CKPT_RECONNECT_TIMEOUT)", c->addr, what, strerror(err), shim_reconnect_ms / 1000);
	else if (keep)
		shim_log("lost the server %s while %s: %s; the next call reconnects", c->addr, what,
			 strerror(err));
	else
		shim_log("lost the server %s while %s: %s; failing the call with EIO", c->addr, what,
			 strerror(err));
	drop(c, keep);
	c->broken = true;
	c->lost_conn = gone;
	c->gave_up = false;
	errno = EIO;
	return -1;
}

/* A bad frame from the server: no reconnection, no re-sending. */
static int protocol_fail(struct shim_conn *c)
{
	drop(c, false);
	c->broken = true;
	c->lost_conn = false;
	return errno = EIO, -1;
}

/* The detail of the last error reply (for HELLO and AUTH refusals). */
static char last_err_msg[200];
static uint32_t last_err_len;

/* Authentication refused: say it once per connection attempt series. */
static int auth_fail(struct shim_conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int auth_fail(struct shim_conn *c, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!c->warned)
		shim_log("server %s: %s", c->addr, msg);
	c->warned = true;
	return errno = EACCES, -1;
}

/* Prove our key (PROTOCOL.md 3.4) after checking the server's proof in its
 * HELLO reply r; cnonce is the nonce our HELLO offered. */
static int authenticate(struct shim_conn *c, const struct wire_hello *r, const uint8_t *cnonce,
			const char *job, size_t job_len)
{
	uint8_t want[WIRE_PROOF_LEN], proof[WIRE_PROOF_LEN];
	const uint8_t *rep;
	size_t replen;
	long n;

	if (!r->challenge) {
		if (wire_auth_unix_peer_trusted(c->fd))
			return 0;
		return auth_fail(c, "the server does not authenticate itself (it was started without "
				 "--key); refusing to use it while CKPT_KEY_FILE is set");
	}
	wire_auth_proof(shim_key.key, WIRE_PROOF_SERVER, cnonce, r->nonce, r->session, shim_key.kind,
			job, job_len, want);
	if (!wire_auth_equal(want, r->proof))
		return auth_fail(c, "the server could not prove it holds the key of CKPT_KEY_FILE; "
				 "refusing to use it");
	wire_auth_proof(shim_key.key, WIRE_PROOF_CLIENT, cnonce, r->nonce, r->session, shim_key.kind,
			job, job_len, proof);
	n = wire_enc_auth(shim_reqbuf, SHIM_REQBUF_SIZE, 0, proof);
	wire_auth_wipe(proof, sizeof(proof));
	if (n < 0)
		return errno = EINVAL, -1;
	if (shim_rpc(c, shim_reqbuf, (size_t)n, NULL, 0, &rep, &replen, NULL, 0) < 0) {
		if (errno == EACCES)
			return auth_fail(c, "key refused: %.*s", (int)last_err_len, last_err_msg);
		return -1;
	}
	return 0;
}

static int hello(struct shim_conn *c)
{
	struct wire_hello h = {0}, r;
	uint8_t cnonce[WIRE_NONCE_LEN];
	struct utsname u;
	const char *job = getenv("CKPT_JOB");
	static const char peer[] = "libckptshim " CKPT_VERSION;
	const uint8_t *rep;
	size_t replen;
	long n;

	uname(&u);
	h.version = WIRE_PROTO_VERSION;
	h.byte_order = __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__ ? WIRE_BO_BIG : WIRE_BO_LITTLE;
	h.page_size = (uint32_t)sysconf(_SC_PAGESIZE);
	h.pid = (uint32_t)getpid();
	h.max_frame = WIRE_MAX_FRAME;
	h.arch.p = u.machine;
	h.arch.len = (uint32_t)strlen(u.machine);
	h.job.p = job ? job : "";
	h.job.len = (uint32_t)strlen(h.job.p);
	if (h.job.len > WIRE_MAX_STR)
		h.job.len = WIRE_MAX_STR;
	h.peer.p = peer;
	h.peer.len = sizeof(peer) - 1;
	if (shim_key.kind) {
		if (wire_auth_nonce(cnonce) < 0)
			return errno = EIO, -1;
		h.auth_kind = shim_key.kind;
		memcpy(h.nonce, cnonce, sizeof(cnonce));
	}
	n = wire_enc_hello(shim_reqbuf, SHIM_REQBUF_SIZE, 0, 0, &h);
	if (n < 0)
		return errno = EINVAL, -1;
	if (shim_rpc(c, shim_reqbuf, (size_t)n, NULL, 0, &rep, &replen, NULL, 0) < 0) {
		if (errno == EACCES)
			return auth_fail(c, "refused: %.*s", (int)last_err_len, last_err_msg);
		return -1;
	}
	if (wire_dec_hello(rep, replen, &r) < 0) {
		shim_log("server %s sent a malformed HELLO reply", c->addr);
		return errno = EPROTO, -1;
	}
	if (r.version != WIRE_PROTO_VERSION) {
		shim_log("server %s speaks protocol %u, this shim %u", c->addr, r.version,
			 WIRE_PROTO_VERSION);
		return errno = EPROTO, -1;
	}
	c->max_frame = r.max_frame && r.max_frame < WIRE_MAX_FRAME ? r.max_frame : WIRE_MAX_FRAME;
	/* The server offers descriptors only to a peer of its own user on a
	 * unix socket; a tcp session never asks, whatever it claims. */
	c->read_fds = r.read_fds && shim_local_reads && !strncmp(c->addr, "unix:", 5);
	if (shim_key.kind &&
	    authenticate(c, &r, cnonce, h.job.p, shim_key.kind == WIRE_KEY_JOB ? h.job.len : 0) < 0)
		return -1;
	shim_debug("session %llu with %s (%.*s)%s", (unsigned long long)r.session, c->addr,
		   (int)r.arch.len, r.arch.p, r.challenge ? ", authenticated" : "");
	return 0;
}

/* Dial and say HELLO once; a new session (epoch bumped). No waiting. */
static int connect_once(struct shim_conn *c)
{
	int fd;

	fd = dial(c->addr);
	if (fd < 0) {
		int err = errno;

		if (!c->warned && !c->broken) {
			const char *how = !strncmp(c->addr, "unix:", 5) ? "unix:" : "tcp:";
			const char *where = c->addr + strlen(how);

			shim_log("cannot reach ckpt-server at %s: %s; start it with: ckpt-server --root DIR "
				 "--listen %s%s (or run the program under ckpt-run)",
				 c->addr, strerror(err), how, where);
			c->warned = true;
		}
		errno = c->broken ? EIO : ENOTCONN;
		return -1;
	}
	c->fd = shim_fd_move_high(fd, 64);
	c->pid = shim_pid;
	c->max_frame = WIRE_MAX_FRAME;
	if (hello(c) < 0) {
		int err = errno;

		if (c->fd >= 0)
			real_close(c->fd);
		c->fd = -1;
		errno = err == EIO || err == EACCES ? err : ENOTCONN;
		return -1;
	}
	c->epoch++;
	if (c->broken && !c->reconnecting)
		shim_log("reconnected to %s; reopening its files by path", c->addr);
	c->broken = false;
	c->warned = false;
	c->gave_up = false;
	return 0;
}

/* May this call wait for a lost server to come back? Only inside the lock
 * (never in the checkpoint handler, which runs with shim_busy == 0), not
 * from within a reconnection, and only if CKPT_RECONNECT_TIMEOUT allows. */
static bool may_wait(const struct shim_conn *c)
{
	return shim_reconnect_ms > 0 && shim_busy > 0 && !c->reconnecting && !c->gave_up;
}

/* Send the pending writes (pend[*first..n)) again on the new session, oldest
 * first, each with its file's new handle. 0, or -1 if the connection was
 * lost again (those not yet acknowledged stay pending). */
static int replay(struct shim_conn *c, struct shim_inflight *pend, unsigned int n,
		  unsigned int *first, unsigned int *resent)
{
	for (; *first < n; ++*first) {
		struct shim_inflight *in = &pend[*first];
		struct shim_ofd *o = in->ofd;
		struct wire_pwrite_reply r;
		const uint8_t *rep;
		size_t replen;
		uint8_t *f;

		if (in->type != WIRE_PWRITE || !o || !in->saved)
			continue;
		if (o->epoch != c->epoch && shim_ofd_revive(o) < 0) {
			if (c->fd < 0)
				return -1;
			if (!o->werr)
				o->werr = errno;
			continue;
		}
		f = c->ring + in->roff;
		for (int i = 0; i < 8; i++)
			f[WIRE_HDR_SIZE + i] = (uint8_t)(o->handle >> (56 - 8 * i));
		if (shim_rpc(c, f, WIRE_PWRITE_HDR, f + WIRE_PWRITE_HDR, in->len, &rep, &replen, NULL,
			     0) < 0) {
			if (c->fd < 0)
				return -1;
			if (!o->werr)
				o->werr = errno;
		} else if (wire_dec_pwrite_reply(rep, replen, &r) < 0) {
			if (!o->werr)
				o->werr = EIO;
		} else if (r.written < in->len && !o->werr) {
			o->werr = ENOSPC;
		}
		++*resent;
	}
	return 0;
}

/* Reopen every remote file of c by path on the new session. 0, or -1 if
 * the connection was lost again. A file that cannot be reopened (gone)
 * keeps its old epoch: its calls fail (ESTALE) from then on. */
static int reopen_all(struct shim_conn *c, unsigned int *bad)
{
	size_t n;
	struct shim_ofd **v = shim_all_ofds(&n);

	for (size_t i = 0; i < n; i++) {
		if (v[i]->conn != c || v[i]->epoch == c->epoch)
			continue;
		if (shim_ofd_revive(v[i]) < 0) {
			if (c->fd < 0)
				return -1;
			++*bad;
		}
	}
	return 0;
}

/* The connection was lost mid-session: connect again with backoff for up to
 * CKPT_RECONNECT_TIMEOUT, send the unacknowledged writes again, reopen every
 * file by path. 0, or -1 with EIO when the server did not come back in time
 * (the pending writes' files get EIO). Lock held, never in the handler. */
static int reconnect(struct shim_conn *c)
{
	struct shim_inflight pend[SHIM_MAX_INFLIGHT];
	unsigned int n = c->nin, first = 0, resent = 0, bad = 0;
	int64_t t0 = now_ms(), until = t0 + shim_reconnect_ms, delay = 20;
	int64_t left;

	for (unsigned int i = 0; i < n; i++)
		pend[i] = c->inflight[(c->head + i) % SHIM_MAX_INFLIGHT];
	/* The frames stay where they are in the ring: nothing is queued on
	 * the new session until they have been sent again. */
	c->nin = 0;
	c->head = 0;
	c->inflight_bytes = 0;
	c->reconnecting = true;
	for (;;) {
		if (c->fd >= 0 || connect_once(c) == 0) {
			if (replay(c, pend, n, &first, &resent) == 0 && reopen_all(c, &bad) == 0)
				break;
		}
		left = until - now_ms();
		if (left <= 0) {
			c->reconnecting = false;
			for (; first < n; first++)
				if (pend[first].type == WIRE_PWRITE && pend[first].ofd &&
				    !pend[first].ofd->werr)
					pend[first].ofd->werr = EIO;
			if (c->fd >= 0)
				real_close(c->fd);
			c->fd = -1;
			c->broken = true;
			c->gave_up = true;
			shim_log("server %s not back within %d s (CKPT_RECONNECT_TIMEOUT); failing the call "
				 "with EIO", c->addr, shim_reconnect_ms / 1000);
			return errno = EIO, -1;
		}
		{
			int64_t d = delay < left ? delay : left;
			struct timespec ts = {(time_t)(d / 1000), (long)(d % 1000) * 1000000};

			while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
				;
		}
		if (delay < 500)
			delay *= 2;
	}
	c->reconnecting = false;
	c->lost_conn = false;
	shim_log("reconnected to %s after %.1f s: %u unacknowledged writes sent again, files reopened "
		 "by path%s", c->addr, (double)(now_ms() - t0) / 1000, resent,
		 bad ? " (some could not be: their fds now fail with ESTALE)" : "");
	return 0;
}

int shim_conn_ready(struct shim_conn *c)
{
	if (c->fd >= 0 && c->pid == shim_pid)
		return 0;
	if (c->fd >= 0) /* inherited from a parent: not ours to use */
		c->fd = -1;
	if (!c->buf) { /* mmap, not malloc: this may run in the checkpoint handler */
		void *b = mmap(NULL, WIRE_MAX_FRAME, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

		if (b == MAP_FAILED)
			return errno = ENOMEM, -1;
		c->buf = b;
		c->bufcap = WIRE_MAX_FRAME;
	}
	/* Dropped by the server: wait for it. After a timeout (the server may
	 * be stopped, or cut off) one attempt, as for a first connection. */
	if (c->broken && c->lost_conn && may_wait(c))
		return reconnect(c);
	/* Writes waiting to be sent again (lost in the checkpoint handler, or
	 * within a reconnection): only reconnect() may start a new session. */
	if (c->nin || c->reconnecting)
		return errno = EIO, -1;
	return connect_once(c);
}

void shim_conn_after_fork(void)
{
	for (struct shim_conn *c = shim_conns; c; c = c->next) {
		if (c->fd >= 0)
			real_close(c->fd); /* our copy only; the parent's session goes on */
		c->fd = -1;
		c->nin = 0; /* those replies are the parent's */
		c->inflight_bytes = 0;
	}
}

static void put_id(uint8_t *frame, uint64_t id)
{
	for (int i = 0; i < 8; i++)
		frame[8 + i] = (uint8_t)(id >> (56 - 8 * i));
}

/* Check a received reply header for request id/type; 0 or -1 (EIO, dropped). */
static int check_reply_hdr(struct shim_conn *c, const uint8_t *hb, uint64_t id, uint16_t type,
			   struct wire_hdr *h)
{
	int rc = wire_hdr_decode(hb, WIRE_HDR_SIZE, c->max_frame, h);

	if (rc < 0 || !(h->flags & WIRE_F_REPLY) || h->id != id || h->type != type) {
		shim_log("server %s sent a bad reply frame (%s); dropping the session", c->addr,
			 rc < 0 ? wire_strerror(rc) : "out of sequence");
		return protocol_fail(c);
	}
	if (h->length - WIRE_HDR_SIZE > c->bufcap)
		return transport_fail(c, "reading a reply", EMSGSIZE);
	return 0;
}

/* Read one reply frame header for request id/type; 0 or -1 (EIO, dropped). */
static int read_reply_hdr(struct shim_conn *c, uint64_t id, uint16_t type, struct wire_hdr *h)
{
	uint8_t hb[WIRE_HDR_SIZE];

	if (recv_all(c, hb, sizeof(hb)) < 0)
		return transport_fail(c, "waiting for a reply", errno);
	return check_reply_hdr(c, hb, id, type, h);
}

/* The body (body bytes) of a data reply: u32 length, then the data,
 * received straight into dst (at most cap bytes); its length in *got. */
static int recv_data(struct shim_conn *c, size_t body, void *dst, size_t cap, uint32_t *got)
{
	uint8_t lb[4];
	uint32_t n;

	if (body < 4 || recv_all(c, lb, 4) < 0)
		return transport_fail(c, "reading data", body < 4 ? EPROTO : errno);
	n = (uint32_t)lb[0] << 24 | (uint32_t)lb[1] << 16 | (uint32_t)lb[2] << 8 | lb[3];
	if (n != body - 4 || n > cap) {
		shim_log("server %s sent %u bytes where %zu were asked", c->addr, n, cap);
		return protocol_fail(c);
	}
	if (recv_all(c, dst, n) < 0)
		return transport_fail(c, "reading data", errno);
	*got = n;
	return 0;
}

/* errno from an error reply body in c->buf. */
static int error_reply(struct shim_conn *c, size_t body, uint16_t type)
{
	struct wire_error e;

	if (wire_dec_error(c->buf, body, &e) < 0)
		return errno = EIO, -1;
	errno = wire_errno_to_host(e.err);
	last_err_len = e.msg.len < sizeof(last_err_msg) ? e.msg.len : sizeof(last_err_msg);
	memcpy(last_err_msg, e.msg.p, last_err_len);
	if (e.msg.len)
		shim_debug("%s: %.*s", wire_type_name(type), (int)e.msg.len, e.msg.p);
	return -1;
}

static void pop(struct shim_conn *c)
{
	c->head = (c->head + 1) % SHIM_MAX_INFLIGHT;
	c->nin--;
	if (!c->nin)
		c->inflight_bytes = 0;
}

/* Read the oldest outstanding reply: a PWRITE's (errors go to werr) or an
 * unclaimed prefetch's (discarded). */
static int drain_one(struct shim_conn *c)
{
	struct shim_inflight *in = &c->inflight[c->head];
	struct wire_pwrite_reply r;
	struct wire_hdr h;
	size_t body;

	if (c->fd < 0) /* writes pending since a loss: reconnect() sends them */
		return errno = EIO, -1;
	arm(c);
	if (read_reply_hdr(c, in->id, in->type, &h) < 0)
		return -1;
	if (in->type == WIRE_PREAD) {
		body = h.length - WIRE_HDR_SIZE;
		if (recv_all(c, c->buf, body) < 0)
			return transport_fail(c, "reading a reply", errno);
		pop(c);
		return 0;
	}
	body = h.length - WIRE_HDR_SIZE;
	if (recv_all(c, c->buf, body) < 0)
		return transport_fail(c, "reading a reply", errno);
	pop(c);
	if (h.flags & WIRE_F_ERROR) {
		error_reply(c, body, WIRE_PWRITE);
		if (in->ofd && !in->ofd->werr)
			in->ofd->werr = errno;
	} else if (wire_dec_pwrite_reply(c->buf, body, &r) < 0) {
		if (in->ofd && !in->ofd->werr)
			in->ofd->werr = EIO;
	} else if (r.written < in->len) {
		if (in->ofd && !in->ofd->werr)
			in->ofd->werr = ENOSPC; /* the server wrote what fitted */
	}
	return 0;
}

/* Read every outstanding reply, without reconnecting. */
static int drain_all(struct shim_conn *c)
{
	while (c->nin)
		if (drain_one(c) < 0)
			return -1;
	return 0;
}

/* After a failure: if the connection was lost and this call may wait,
 * reconnect (sending the pending writes again). 0 if it did. */
static int resume(struct shim_conn *c)
{
	int err = errno;

	if (c->fd >= 0 || !c->broken || !c->lost_conn || !may_wait(c))
		return errno = err, -1;
	return reconnect(c);
}

int shim_conn_drain(struct shim_conn *c)
{
	if (drain_all(c) < 0 && resume(c) < 0)
		return -1;
	/* Every saved frame is acknowledged: give the ring's pages back, so
	 * that they are neither resident nor saved in a checkpoint image (this
	 * runs at the start of every checkpoint). One system call. */
	if (c->ring && c->ring_w && !c->nin) {
		madvise(c->ring, SHIM_RING_SIZE, MADV_DONTNEED);
		c->ring_w = 0;
	}
	return 0;
}

int shim_conn_settle(struct shim_conn *c, uint64_t dev, uint64_t ino)
{
	for (unsigned int i = 0; i < c->nin; i++) {
		struct shim_inflight *in = &c->inflight[(c->head + i) % SHIM_MAX_INFLIGHT];

		/* A write whose file was closed since may be to this file too. */
		if (in->type == WIRE_PWRITE && (!in->ofd || (in->ofd->dev == dev && in->ofd->ino == ino)))
			return shim_conn_drain(c);
	}
	return 0;
}

void shim_conn_forget(struct shim_ofd *ofd)
{
	for (struct shim_conn *c = shim_conns; c; c = c->next)
		for (unsigned int i = 0; i < c->nin; i++) {
			struct shim_inflight *in = &c->inflight[(c->head + i) % SHIM_MAX_INFLIGHT];

			if (in->ofd == ofd)
				in->ofd = NULL;
		}
}

/* Where a saved frame of len bytes can go in the ring: a contiguous free
 * stretch after the newest frame, or at the start if the oldest frame is
 * further on (strictly: the ring is never completely full, so ring_w ==
 * the oldest frame's offset means empty). false if it does not fit now. */
static bool ring_spot(const struct shim_conn *c, size_t len, size_t *at)
{
	size_t t, w = c->ring_w;

	if (!c->nin) {
		*at = 0;
		return len <= SHIM_RING_SIZE;
	}
	t = c->inflight[c->head].roff;
	if (w >= t) {
		if (w + len <= SHIM_RING_SIZE) {
			*at = w;
			return true;
		}
		*at = 0;
		return len < t;
	}
	*at = w;
	return w + len < t;
}

static void put_u64_at(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (56 - 8 * i));
}

int shim_rpc_async(struct shim_conn *c, void *req, size_t reqlen, const void *extra,
		   size_t extralen, struct shim_ofd *ofd)
{
	struct iovec iov[2];
	bool save = shim_reconnect_ms > 0 && reqlen == WIRE_PWRITE_HDR;
	size_t at = 0;
	uint64_t id;

	if (save && !c->ring) {
		void *r = mmap(NULL, SHIM_RING_SIZE, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

		if (r == MAP_FAILED)
			return errno = ENOMEM, -1;
		c->ring = r;
	}
	for (int tries = 0;; tries++) {
		if (c->fd < 0 || c->pid != shim_pid) {
			if (tries > 3 || !c->broken || !c->lost_conn || !may_wait(c) || reconnect(c) < 0)
				return errno = EIO, -1;
		}
		while (c->nin == SHIM_MAX_INFLIGHT ||
		       (c->nin && c->inflight_bytes >= SHIM_MAX_INFLIGHT_BYTES) ||
		       (save && !ring_spot(c, reqlen + extralen, &at)))
			if (drain_one(c) < 0)
				break;
		if (c->fd >= 0)
			break;
		if (!c->lost_conn || tries > 3 || !may_wait(c))
			return errno = EIO, -1;
	}
	/* A reconnection on the way gave the file a new handle (or could not). */
	if (ofd->epoch != c->epoch && shim_ofd_revive(ofd) < 0)
		return -1;
	put_u64_at((uint8_t *)req + WIRE_HDR_SIZE, ofd->handle);
	arm(c);
	id = c->next_id++;
	put_id(req, id);
	c->inflight[(c->head + c->nin) % SHIM_MAX_INFLIGHT] = (struct shim_inflight){
		id, ofd, (uint32_t)(reqlen + extralen - WIRE_PWRITE_HDR), WIRE_PWRITE, save,
		(uint32_t)(save ? at : c->ring_w), 0};
	if (save) {
		memcpy(c->ring + at, req, reqlen);
		memcpy(c->ring + at + reqlen, extra, extralen);
		c->ring_w = at + reqlen + extralen;
	}
	c->nin++;
	c->inflight_bytes += reqlen + extralen;
	iov[0].iov_base = req;
	iov[0].iov_len = reqlen;
	iov[1].iov_base = (void *)extra;
	iov[1].iov_len = extralen;
	if (send_all(c, iov, extralen ? 2 : 1) < 0) {
		transport_fail(c, "sending", errno);
		/* The frame is pending with the others: a reconnection sends it. */
		return resume(c);
	}
	return 0;
}

void shim_prefetch(struct shim_conn *c, struct shim_ofd *ofd, off_t off, uint32_t n,
		  unsigned int depth)
{
	uint8_t req[SHIM_PREFETCH_MAX * 64];
	struct iovec iov = {req, 0};
	unsigned int have = 0, want, room;
	size_t pos = 0;
	uint64_t next = (uint64_t)off;

	if (c->fd < 0 || c->pid != shim_pid || !depth)
		return;
	if (depth > SHIM_PREFETCH_MAX)
		depth = SHIM_PREFETCH_MAX;
	/* Blocks of this file already asked for: continue after the last. */
	for (unsigned int i = 0; i < c->nin; i++) {
		const struct shim_inflight *in = &c->inflight[(c->head + i) % SHIM_MAX_INFLIGHT];

		if (in->type == WIRE_PREAD && in->ofd == ofd) {
			have++;
			next = in->off + in->len;
		}
	}
	/* Refill only when at most one block is left, so that the server,
	 * woken once, finds several requests: a wakeup costs more than a
	 * request. */
	if (have > 1 || have >= depth)
		return;
	want = depth - have;
	room = c->nin < SHIM_MAX_INFLIGHT / 2 ? SHIM_MAX_INFLIGHT / 2 - c->nin : 0;
	if (want > room)
		want = room;
	if (!want)
		return;
	arm(c);
	for (unsigned int k = 0; k < want; k++) {
		struct wire_pread m = {ofd->handle, next + (uint64_t)k * n, n};
		long len = wire_enc_pread(req + pos, 64, 0, &m);

		if (len < 0)
			return;
		put_id(req + pos, c->next_id + k);
		pos += (size_t)len;
	}
	iov.iov_len = pos;
	if (send_all(c, &iov, 1) < 0) {
		transport_fail(c, "sending", errno); /* the next call reconnects */
		return;
	}
	for (unsigned int k = 0; k < want; k++) {
		c->inflight[(c->head + c->nin) % SHIM_MAX_INFLIGHT] = (struct shim_inflight){
			c->next_id++, ofd, n, WIRE_PREAD, false, (uint32_t)c->ring_w,
			next + (uint64_t)k * n};
		c->nin++;
	}
}

/* shim_take_prefetch without reconnecting. */
static ssize_t take_prefetch(struct shim_conn *c, struct shim_ofd *ofd, off_t off, uint32_t n,
			     void *dst)
{
	struct shim_inflight *in;
	struct wire_hdr h;
	size_t body;
	uint32_t got;

	while (c->nin && c->inflight[c->head].type != WIRE_PREAD)
		if (drain_one(c) < 0)
			return -1;
	if (!c->nin)
		return -2;
	if (c->fd < 0)
		return errno = EIO, -1;
	in = &c->inflight[c->head];
	if (in->ofd != ofd || in->off != (uint64_t)off || in->len != n) {
		if (drain_one(c) < 0)
			return -1;
		return -2;
	}
	arm(c);
	if (read_reply_hdr(c, in->id, WIRE_PREAD, &h) < 0)
		return -1;
	body = h.length - WIRE_HDR_SIZE;
	if (h.flags & WIRE_F_ERROR) {
		if (recv_all(c, c->buf, body) < 0)
			return transport_fail(c, "reading a reply", errno);
		pop(c);
		return error_reply(c, body, WIRE_PREAD);
	}
	if (recv_data(c, body, dst, n, &got) < 0)
		return -1;
	pop(c);
	return (ssize_t)got;
}

ssize_t shim_take_prefetch(struct shim_conn *c, struct shim_ofd *ofd, off_t off, uint32_t n,
			   void *dst)
{
	ssize_t k = take_prefetch(c, ofd, off, n, dst);

	if (k != -1 || c->fd >= 0)
		return k;
	/* Lost: reconnect, then the caller asks again with the new handle. */
	if (resume(c) < 0)
		return -1;
	return ofd->epoch == c->epoch || shim_ofd_revive(ofd) == 0 ? -2 : -1;
}

void shim_forget_prefetch(struct shim_conn *c, uint64_t dev, uint64_t ino)
{
	for (unsigned int i = 0; i < c->nin; i++) {
		struct shim_inflight *in = &c->inflight[(c->head + i) % SHIM_MAX_INFLIGHT];

		if (in->type == WIRE_PREAD && in->ofd && in->ofd->dev == dev && in->ofd->ino == ino)
			in->ofd = NULL;
	}
}

/* Send a request frame (iov[0] starts with its header; its id is patched
 * in) once every outstanding reply has been read: 0 with the id, or -1
 * (EIO: no session of ours; or a transport failure, the request maybe
 * partly sent). */
static int send_request(struct shim_conn *c, struct iovec *iov, int n, uint64_t *id)
{
	if (c->fd < 0 || c->pid != shim_pid)
		return errno = EIO, -1;
	if (drain_all(c) < 0)
		return -1;
	arm(c);
	*id = c->next_id++;
	put_id(iov[0].iov_base, *id);
	if (send_all(c, iov, n) < 0)
		return transport_fail(c, "sending", errno);
	return 0;
}

/* One exchange on the current session. *sent: the whole request went out
 * (a lost reply then leaves its fate unknown). */
static int rpc_once(struct shim_conn *c, void *req, size_t reqlen, const void *extra,
		    size_t extralen, const uint8_t **rep, size_t *replen, void *dst, size_t dstcap,
		    bool *sent)
{
	struct wire_hdr h;
	struct iovec iov[2];
	uint16_t type;
	uint64_t id;
	size_t body;

	*sent = false;
	type = (uint16_t)(((uint8_t *)req)[4] << 8 | ((uint8_t *)req)[5]);
	iov[0].iov_base = req;
	iov[0].iov_len = reqlen;
	iov[1].iov_base = (void *)extra;
	iov[1].iov_len = extralen;
	if (send_request(c, iov, extralen ? 2 : 1, &id) < 0)
		return -1;
	*sent = true;
	if (read_reply_hdr(c, id, type, &h) < 0)
		return -1;
	body = h.length - WIRE_HDR_SIZE;
	if (dst && !(h.flags & WIRE_F_ERROR)) {
		uint32_t n;

		if (recv_data(c, body, dst, dstcap, &n) < 0)
			return -1;
		*replen = n;
		return 0;
	}
	if (recv_all(c, c->buf, body) < 0)
		return transport_fail(c, "reading a reply", errno);
	if (h.flags & WIRE_F_ERROR)
		return error_reply(c, body, type);
	if (rep)
		*rep = c->buf;
	if (replen)
		*replen = body;
	return 0;
}

static uint64_t get_u64_at(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static uint32_t get_u32_at(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Does the request name an open file by handle (first field of the payload)? */
static bool has_handle(const uint8_t *f, size_t len, uint16_t type)
{
	switch (type) {
	case WIRE_CLOSE: case WIRE_PREAD: case WIRE_PWRITE: case WIRE_FTRUNCATE:
	case WIRE_FSYNC: case WIRE_FSTAT: case WIRE_READDIR:
		return len >= WIRE_HDR_SIZE + 8;
	case WIRE_SETATTR:
		return len >= WIRE_HDR_SIZE + 8 && get_u64_at(f + WIRE_HDR_SIZE) != 0;
	default:
		return false;
	}
}

/* May the request be done twice with the same result? Positioned writes,
 * reads, stats, opens without O_EXCL: yes. Appends, unlink, rename, mkdir,
 * link, symlink, exclusive creation: no. */
static bool idempotent(const uint8_t *f, size_t len, uint16_t type)
{
	size_t pl;

	switch (type) {
	case WIRE_PWRITE:
		return len >= WIRE_PWRITE_HDR &&
		       !(get_u32_at(f + WIRE_HDR_SIZE + 16) & WIRE_PWRITE_APPEND);
	case WIRE_OPEN:
		if (len < WIRE_HDR_SIZE + 2)
			return false;
		pl = (size_t)f[WIRE_HDR_SIZE] << 8 | f[WIRE_HDR_SIZE + 1];
		return len >= WIRE_HDR_SIZE + 2 + pl + 4 &&
		       !(get_u32_at(f + WIRE_HDR_SIZE + 2 + pl) & WIRE_O_EXCL);
	case WIRE_CLOSE: case WIRE_PREAD: case WIRE_FTRUNCATE: case WIRE_FSYNC:
	case WIRE_FSTAT: case WIRE_STAT: case WIRE_ACCESS: case WIRE_READDIR:
	case WIRE_SETATTR: case WIRE_READLINK: case WIRE_STATFS: case WIRE_PING:
		return true;
	default:
		return false;
	}
}

/* Has the server closed the connection (seen before sending a request that
 * must not be sent twice)? */
static bool peer_gone(struct shim_conn *c)
{
	struct pollfd p = {c->fd, POLLIN | POLLRDHUP, 0};

	return poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLRDHUP | POLLERR));
}

int shim_conn_alive(struct shim_conn *c)
{
	struct timespec ts;
	int64_t now;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts); /* the vDSO: no system call */
	now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	if (now - c->alive_ms < SHIM_ALIVE_EVERY_MS && now >= c->alive_ms)
		return 0;
	c->alive_ms = now;
	if (c->fd < 0 || c->pid != shim_pid || !peer_gone(c))
		return 0;
	transport_fail(c, "reading directly", ECONNRESET);
	return resume(c) < 0 ? (errno = EIO, -1) : 0;
}

bool shim_rpc_unknown;

/* A copy of the request being sent again: reconnecting reuses shim_reqbuf. */
static uint8_t resend_buf[SHIM_REQBUF_SIZE];

int shim_rpc(struct shim_conn *c, void *req, size_t reqlen, const void *extra, size_t extralen,
	     const uint8_t **rep, size_t *replen, void *dst, size_t dstcap)
{
	uint8_t *f = req;
	uint16_t type = (uint16_t)(f[4] << 8 | f[5]);
	struct shim_ofd *target = NULL;
	bool sent = false;

	shim_rpc_unknown = false;
	for (int tries = 0;; tries++) {
		int r;

		if (c->fd >= 0 && c->pid == shim_pid && !idempotent(f, reqlen, type) &&
		    !c->reconnecting && peer_gone(c)) {
			transport_fail(c, "about to send", ECONNRESET);
			r = -1;
		} else {
			r = rpc_once(c, f, reqlen, extra, extralen, rep, replen, dst, dstcap, &sent);
		}
		if (r == 0 || c->fd >= 0)
			return r; /* done, or the server's own error */
		/* HELLO belongs to the connection being made: never retried. */
		if (tries >= 3 || !c->broken || !may_wait(c) || type == WIRE_HELLO)
			return errno = EIO, -1;
		if (!c->lost_conn)
			return errno = EIO, -1; /* a timeout: the request may still be running */
		if (f != resend_buf) {
			if (reqlen > sizeof(resend_buf))
				return errno = EIO, -1;
			memcpy(resend_buf, f, reqlen);
			f = resend_buf;
		}
		if (!target && has_handle(f, reqlen, type)) {
			uint64_t h = get_u64_at(f + WIRE_HDR_SIZE);
			size_t n;
			struct shim_ofd **v = shim_all_ofds(&n);

			for (size_t i = 0; i < n && !target; i++)
				if (v[i]->conn == c && v[i]->handle == h && v[i]->epoch == c->epoch)
					target = v[i];
			if (!target)
				return errno = EIO, -1;
		}
		if (reconnect(c) < 0)
			return -1;
		if (sent && !idempotent(f, reqlen, type)) {
			/* An append's caller may still establish its fate. */
			if (type != WIRE_PWRITE)
				shim_log("%s on %s may or may not have been done when the server was lost; "
					 "failing it with EIO rather than risk doing it twice",
					 wire_type_name(type), c->addr);
			shim_rpc_unknown = true;
			return errno = EIO, -1;
		}
		if (target) {
			if (target->epoch != c->epoch && shim_ofd_revive(target) < 0)
				return -1; /* ESTALE: the file is gone */
			put_u64_at(f + WIRE_HDR_SIZE, target->handle);
		}
	}
}

int shim_rpc_fd(struct shim_conn *c, void *req, size_t reqlen, int *fdp)
{
	uint8_t hb[WIRE_HDR_SIZE];
	struct wire_hdr h;
	struct iovec iov = {req, reqlen};
	uint16_t type = (uint16_t)(((uint8_t *)req)[4] << 8 | ((uint8_t *)req)[5]);
	uint64_t id;
	size_t body;
	int fd = -1;

	*fdp = -1;
	if (send_request(c, &iov, 1, &id) < 0)
		return -1;
	if (recv_full(c, hb, sizeof(hb), &fd) < 0) {
		int err = errno;

		if (fd >= 0)
			real_close(fd);
		return transport_fail(c, "waiting for a reply", err);
	}
	if (check_reply_hdr(c, hb, id, type, &h) < 0)
		goto fail;
	body = h.length - WIRE_HDR_SIZE;
	if (recv_all(c, c->buf, body) < 0) {
		int err = errno;

		if (fd >= 0)
			real_close(fd);
		return transport_fail(c, "reading a reply", err);
	}
	if (h.flags & WIRE_F_ERROR) {
		if (fd >= 0)
			real_close(fd);
		return error_reply(c, body, type);
	}
	if (body) {
		shim_log("server %s sent a %zu-byte %s reply where an empty one was due; dropping "
			 "the session", c->addr, body, wire_type_name(type));
		protocol_fail(c);
		goto fail;
	}
	if (fd < 0)
		return errno = EPROTO, -1;
	*fdp = fd;
	return 0;
fail:
	if (fd >= 0)
		real_close(fd);
	return -1;
}

/* ---- frames for the checkpoint stream (ckpt_send.c) ------------------------------------ */

int shim_conn_send(struct shim_conn *c, void *frame, size_t len, const void *extra, size_t extralen,
		   uint64_t *id)
{
	struct iovec iov[2] = {{frame, len}, {(void *)extra, extralen}};

	if (c->fd < 0 || c->pid != shim_pid)
		return errno = EIO, -1;
	arm(c);
	*id = c->next_id++;
	put_id(frame, *id);
	if (send_all(c, iov, extralen ? 2 : 1) < 0)
		return transport_fail(c, "sending", errno);
	return 0;
}

int shim_conn_reply(struct shim_conn *c, uint64_t id, uint16_t type, const uint8_t **rep,
		    size_t *replen, struct wire_str *msg)
{
	struct wire_hdr h;
	struct wire_error e;
	size_t body;

	if (c->fd < 0 || c->pid != shim_pid)
		return errno = EIO, -1;
	arm(c);
	if (read_reply_hdr(c, id, type, &h) < 0)
		return -1;
	body = h.length - WIRE_HDR_SIZE;
	if (recv_all(c, c->buf, body) < 0)
		return transport_fail(c, "reading a reply", errno);
	if (!(h.flags & WIRE_F_ERROR)) {
		*rep = c->buf;
		*replen = body;
		return 0;
	}
	if (wire_dec_error(c->buf, body, &e) < 0) {
		errno = EIO;
		*msg = (struct wire_str){"malformed error reply", 21};
		return 1;
	}
	errno = wire_errno_to_host(e.err);
	*msg = e.msg;
	return 1;
}
