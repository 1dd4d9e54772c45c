/* client.c - the ckpt tool's sessions with ckpt-server: connect, HELLO, one request and its reply at a time.
 *
 * Small on purpose: no pipelining, one outstanding request, every wait
 * bounded by the session's timeout (connecting included), every reply
 * checked (header, id, type) before its payload is used. A broken session
 * (refused, timed out, closed, a malformed frame) is an error naming the
 * server; an error reply is handed to the caller with the server's message.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "tool.h"

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait until fd is ready for ev, or the deadline: 0, or -1 (errno ETIMEDOUT). */
static int wait_fd(int fd, short ev, int64_t deadline)
{
	for (;;) {
		struct pollfd p = {fd, ev, 0};
		int64_t left = deadline - now_ms();
		int k;

		if (left <= 0)
			return errno = ETIMEDOUT, -1;
		k = poll(&p, 1, left > 60000 ? 60000 : (int)left);
		if (k > 0)
			return 0;
		if (k < 0 && errno != EINTR)
			return -1;
	}
}

/* A non-blocking connect bounded by the deadline: 0, or -1 with errno. */
static int connect_by(int fd, const struct sockaddr *sa, socklen_t len, int64_t deadline)
{
	int err = 0;
	socklen_t el = sizeof(err);

	if (connect(fd, sa, len) == 0)
		return 0;
	if (errno != EINPROGRESS && errno != EAGAIN)
		return -1;
	if (wait_fd(fd, POLLOUT, deadline) < 0)
		return -1;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
		return -1;
	return err ? (errno = err, -1) : 0;
}

static int dial(const char *addr, int64_t deadline)
{
	int fd = -1, err = ECONNREFUSED;

	if (!strncmp(addr, "unix:", 5)) {
		struct sockaddr_un sun;

		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		if (strlen(addr + 5) >= sizeof(sun.sun_path))
			return errno = ENAMETOOLONG, -1;
		strcpy(sun.sun_path, addr + 5);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0)
			return -1;
		if (connect_by(fd, (struct sockaddr *)&sun, sizeof(sun), deadline) < 0) {
			err = errno;
			close(fd);
			return errno = err, -1;
		}
		return fd;
	}
	if (!strncmp(addr, "tcp:", 4)) {
		char host[256], port[8];
		const char *hp = addr + 4, *colon = strrchr(hp, ':');
		struct addrinfo hints, *res, *ai;
		size_t hl;
		int one = 1, rc;

		if (!colon || strlen(colon + 1) >= sizeof(port))
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
		strcpy(port, colon + 1);
		memset(&hints, 0, sizeof(hints));
		hints.ai_socktype = SOCK_STREAM;
		rc = getaddrinfo(host, port, &hints, &res);
		if (rc)
			return terr("cannot resolve the host of %s: %s", addr, gai_strerror(rc)), errno = 0, -2;
		for (ai = res; ai; ai = ai->ai_next) {
			fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
			if (fd < 0) {
				err = errno;
				continue;
			}
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			if (connect_by(fd, ai->ai_addr, ai->ai_addrlen, deadline) == 0)
				break;
			err = errno;
			close(fd);
			fd = -1;
		}
		freeaddrinfo(res);
		if (fd < 0)
			errno = err;
		return fd;
	}
	return errno = EINVAL, -1;
}

static int send_all(struct tconn *c, const uint8_t *p, size_t n, int64_t deadline)
{
	while (n) {
		ssize_t k = send(c->fd, p, n, MSG_NOSIGNAL);

		if (k > 0) {
			p += k;
			n -= (size_t)k;
			continue;
		}
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (wait_fd(c->fd, POLLOUT, deadline) < 0)
				return -1;
			continue;
		}
		return -1;
	}
	return 0;
}

/* Exactly n bytes: 0; -1 with errno (0: the server closed the session). */
static int recv_all(struct tconn *c, uint8_t *p, size_t n, int64_t deadline)
{
	while (n) {
		ssize_t k = recv(c->fd, p, n, 0);

		if (k > 0) {
			p += k;
			n -= (size_t)k;
			continue;
		}
		if (k == 0)
			return errno = 0, -1;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			if (wait_fd(c->fd, POLLIN, deadline) < 0)
				return -1;
			continue;
		}
		return -1;
	}
	return 0;
}

static int broken(struct tconn *c, const char *what)
{
	if (errno == ETIMEDOUT)
		terr("server %s did not answer within %g s (%s)", c->addr, c->timeout_ms / 1000.0, what);
	else if (errno == 0)
		terr("server %s closed the session (%s)", c->addr, what);
	else
		terr("server %s: %s: %s", c->addr, what, strerror(errno));
	close(c->fd);
	c->fd = -1;
	return -1;
}

uint64_t tconn_id(struct tconn *c)
{
	return c->next_id++;
}

int tconn_call(struct tconn *c, long n)
{
	struct wire_hdr q, h;
	int64_t deadline = now_ms() + c->timeout_ms;
	int rc;

	if (c->fd < 0)
		return terr("server %s: the session is closed", c->addr);
	if (n < 0)
		return terr("cannot encode a request for %s: %s", c->addr, wire_strerror((int)n));
	if (wire_hdr_decode(c->req, (size_t)n, WIRE_MAX_FRAME, &q) || q.length != (uint64_t)n)
		return terr("internal error: a malformed request for %s", c->addr);
	if (c->peer_max_frame && q.length > c->peer_max_frame)
		return terr("server %s accepts frames of at most %u bytes; this request has %u", c->addr,
			    c->peer_max_frame, q.length);
	if (send_all(c, c->req, (size_t)n, deadline) < 0)
		return broken(c, wire_type_name(q.type));
	if (recv_all(c, c->rsp, WIRE_HDR_SIZE, deadline) < 0)
		return broken(c, wire_type_name(q.type));
	rc = wire_hdr_decode(c->rsp, WIRE_HDR_SIZE, WIRE_MAX_FRAME, &h);
	if (rc) {
		terr("server %s sent a malformed frame header: %s", c->addr, wire_strerror(rc));
		close(c->fd);
		c->fd = -1;
		return -1;
	}
	if (!(h.flags & WIRE_F_REPLY) || h.id != q.id || h.type != q.type) {
		terr("server %s answered %s with an unexpected frame (%s, id %llu)", c->addr,
		     wire_type_name(q.type), wire_type_name(h.type), (unsigned long long)h.id);
		close(c->fd);
		c->fd = -1;
		return -1;
	}
	if (recv_all(c, c->rsp + WIRE_HDR_SIZE, h.length - WIRE_HDR_SIZE, deadline) < 0)
		return broken(c, wire_type_name(q.type));
	c->pl = c->rsp + WIRE_HDR_SIZE;
	c->plen = h.length - WIRE_HDR_SIZE;
	c->err = 0;
	c->msg[0] = 0;
	if (h.flags & WIRE_F_ERROR) {
		struct wire_error e;

		rc = wire_dec_error(c->pl, c->plen, &e);
		if (rc) {
			terr("server %s sent a malformed error reply: %s", c->addr, wire_strerror(rc));
			close(c->fd);
			c->fd = -1;
			return -1;
		}
		c->err = e.err;
		memcpy(c->msg, e.msg.p, e.msg.len);
		c->msg[e.msg.len] = 0;
		return 1;
	}
	return 0;
}

int tconn_errno(const struct tconn *c)
{
	return wire_errno_to_host(c->err);
}

int tconn_err(const struct tconn *c)
{
	char m[WIRE_MAX_STR * 4 + 1];

	if (c->msg[0])
		return terr("server %s: %s", c->addr, text(m, sizeof(m), c->msg, strlen(c->msg)));
	return terr("server %s: %s", c->addr, strerror(tconn_errno(c)));
}

static uint8_t host_byte_order(void)
{
	const uint16_t one = 1;
	const uint8_t *b = (const uint8_t *)&one;

	return b[0] == 1 ? WIRE_BO_LITTLE : WIRE_BO_BIG;
}

/* CKPT_KEY_FILE, loaded at the first connection: 1 loaded, 0 none, -1 bad. */
static struct wire_key tool_key;
static int key_state = -2;

static int load_key(void)
{
	const char *path = getenv("CKPT_KEY_FILE");
	char err[512];

	if (key_state != -2)
		return key_state;
	key_state = 0;
	if (path && *path) {
		key_state = wire_key_load(path, &tool_key, err, sizeof(err)) < 0 ? -1 : 1;
		if (key_state < 0)
			return terr("CKPT_KEY_FILE=%s", err);
	}
	return key_state;
}

/* Check the server's proof in r, then prove ours (PROTOCOL.md 3.4). */
static int authenticate(struct tconn *c, const struct wire_hello *r, const uint8_t *cnonce,
			const char *job)
{
	size_t jl = tool_key.kind == WIRE_KEY_JOB ? strlen(job) : 0;
	uint8_t want[WIRE_PROOF_LEN], proof[WIRE_PROOF_LEN];
	long n;
	int rc;

	if (!r->challenge) {
		if (wire_auth_unix_peer_trusted(c->fd))
			return 0;
		return terr("server %s does not authenticate itself (started without --key); not using it "
			    "while CKPT_KEY_FILE is set", c->addr);
	}
	wire_auth_proof(tool_key.key, WIRE_PROOF_SERVER, cnonce, r->nonce, r->session, tool_key.kind,
			job, jl, want);
	if (!wire_auth_equal(want, r->proof))
		return terr("server %s could not prove it holds the key of CKPT_KEY_FILE; not using it",
			    c->addr);
	wire_auth_proof(tool_key.key, WIRE_PROOF_CLIENT, cnonce, r->nonce, r->session, tool_key.kind,
			job, jl, proof);
	n = wire_enc_auth(c->req, WIRE_MAX_FRAME, tconn_id(c), proof);
	wire_auth_wipe(proof, sizeof(proof));
	rc = tconn_call(c, n);
	if (rc < 0)
		return -1;
	if (rc > 0)
		return tconn_err(c);
	return 0;
}

int tconn_open(struct tconn *c, const char *addr, const char *job, double timeout_s)
{
	uint8_t cnonce[WIRE_NONCE_LEN];
	struct wire_hello m, r;
	struct utsname u;
	long n, ps = sysconf(_SC_PAGESIZE);
	int rc;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->next_id = 1;
	c->timeout_ms = timeout_s * 1000 > 24.0 * 3600 * 1000 ? 24 * 3600 * 1000 : (int)(timeout_s * 1000);
	if (c->timeout_ms < 1)
		c->timeout_ms = 1;
	snprintf(c->addr, sizeof(c->addr), "%s", addr);
	if (check_addr(addr) < 0 || load_key() < 0)
		return -1;
	if (tool_key.kind == WIRE_KEY_JOB) {
		/* A job key reaches its own job only: that is the session's job. */
		if (!*job)
			job = tool_key.job;
		else if (strcmp(job, tool_key.job) != 0)
			return terr("CKPT_KEY_FILE holds the key of job '%s'; it cannot act for job '%s'",
				    tool_key.job, job);
	}
	c->req = malloc(WIRE_MAX_FRAME);
	c->rsp = malloc(WIRE_MAX_FRAME);
	if (!c->req || !c->rsp)
		return terr("out of memory");
	c->fd = dial(addr, now_ms() + c->timeout_ms);
	if (c->fd == -2)
		return c->fd = -1, -1;
	if (c->fd < 0) {
		if (errno == ETIMEDOUT)
			return terr("cannot connect to %s within %g s", addr, c->timeout_ms / 1000.0);
		return terr("cannot connect to %s: %s (is ckpt-server running there?)", addr, strerror(errno));
	}
	if (uname(&u) < 0)
		snprintf(u.machine, sizeof(u.machine), "unknown");
	memset(&m, 0, sizeof(m));
	m.version = WIRE_PROTO_VERSION;
	m.byte_order = host_byte_order();
	m.page_size = ps > 0 ? (uint32_t)ps : 4096;
	m.pid = (uint32_t)getpid();
	m.max_frame = WIRE_MAX_FRAME;
	m.arch = (struct wire_str){u.machine, (uint32_t)strnlen(u.machine, sizeof(u.machine))};
	m.job = (struct wire_str){job, (uint32_t)strlen(job)};
	m.peer = (struct wire_str){TOOL_NAME " " CKPT_VERSION, (uint32_t)strlen(TOOL_NAME " " CKPT_VERSION)};
	if (tool_key.kind) {
		if (wire_auth_nonce(cnonce) < 0)
			return terr("getrandom: %s", strerror(errno));
		m.auth_kind = tool_key.kind;
		memcpy(m.nonce, cnonce, sizeof(cnonce));
	}
	n = wire_enc_hello(c->req, WIRE_MAX_FRAME, tconn_id(c), 0, &m);
	rc = tconn_call(c, n);
	if (rc < 0)
		return -1;
	if (rc > 0)
		return tconn_err(c);
	rc = wire_dec_hello(c->pl, c->plen, &r);
	if (rc)
		return terr("server %s sent a malformed HELLO reply: %s", addr, wire_strerror(rc));
	if (r.version != WIRE_PROTO_VERSION)
		return terr("server %s speaks protocol version %u; this tool speaks %u", addr, r.version,
			    WIRE_PROTO_VERSION);
	if (r.max_frame < 65536 || r.max_frame > WIRE_MAX_FRAME)
		return terr("server %s announced a frame limit of %u bytes, outside the protocol's bounds", addr,
			    r.max_frame);
	c->peer_max_frame = r.max_frame;
	if (tool_key.kind && authenticate(c, &r, cnonce, job) < 0)
		return -1;
	if (r.job.len <= WIRE_MAX_JOB) {
		memcpy(c->job, r.job.p, r.job.len);
		c->job[r.job.len] = 0;
	}
	return 0;
}

void tconn_close(struct tconn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->req);
	free(c->rsp);
	c->req = c->rsp = NULL;
}

/* ---- ROLLBACK_QUERY ------------------------------------------------------------------------- */

int tconn_query(struct tconn *c, struct tgens *g)
{
	struct wire_rollback_query_reply m;
	struct wire_gen_info e;
	int rc;

	g->n = 0;
	g->v = NULL;
	rc = tconn_call(c, wire_enc_empty(c->req, WIRE_MAX_FRAME, WIRE_ROLLBACK_QUERY, 0, tconn_id(c)));
	if (rc < 0)
		return -1;
	if (rc > 0)
		return tconn_err(c);
	rc = wire_dec_rollback_query_reply(c->pl, c->plen, &m);
	if (rc)
		return terr("server %s sent a malformed ROLLBACK_QUERY reply: %s", c->addr, wire_strerror(rc));
	g->v = calloc(m.count ? m.count : 1, sizeof(*g->v));
	if (!g->v)
		return terr("out of memory");
	while ((rc = wire_gen_info_next(&m, &e)) == 1) {
		if (g->n && e.gen <= g->v[g->n - 1].gen) {
			tgens_free(g);
			return terr("server %s listed its generations out of order", c->addr);
		}
		g->v[g->n++] = e;
	}
	if (rc < 0) {
		tgens_free(g);
		return terr("server %s sent a malformed ROLLBACK_QUERY reply: %s", c->addr, wire_strerror(rc));
	}
	return 0;
}

void tgens_free(struct tgens *g)
{
	free(g->v);
	g->v = NULL;
	g->n = 0;
}

const char *tgens_list(const struct tgens *g, char *buf, size_t cap)
{
	size_t k = 0;

	if (!g->n) {
		snprintf(buf, cap, "none");
		return buf;
	}
	buf[0] = 0;
	for (uint32_t i = 0; i < g->n && k + 24 < cap; i++) {
		int w = snprintf(buf + k, cap - k, "%s%llu", i ? ", " : "", (unsigned long long)g->v[i].gen);

		if (w < 0)
			break;
		k += (size_t)w;
		if (i + 1 < g->n && k + 24 >= cap) {
			snprintf(buf + k, cap - k, ", ...");
			break;
		}
	}
	return buf;
}
