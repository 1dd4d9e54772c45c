/* srv_client.h - a test client for server unit tests: a session on a socketpair, framing, calls.
 *
 * cli_start() runs srv_session_run() in a thread on one end of a socketpair;
 * the test speaks the wire protocol on the other end with the wire/
 * encoders (or hand-made bytes). Included by test_server_*.c; every function
 * is static inline so a test that does not use one gets no warning.
 */
#ifndef CKPT_TEST_SRV_CLIENT_H
#define CKPT_TEST_SRV_CLIENT_H

#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "session.h"
#include "wire.h"

struct cli {
	int fd;         /* our end */
	int sfd;        /* the session's end */
	pthread_t th;
	const struct srv_config *cfg;
	int rc;         /* srv_session_run's result, after cli_join */
	uint64_t next_id;
	uint8_t *req;   /* request being built */
	uint8_t *rsp;   /* last reply frame */
	struct wire_hdr rh;
	const uint8_t *pl; /* reply payload */
	size_t plen;
	struct wire_error err;
	char msg[4200]; /* message of the last error reply */
};

static inline void *cli_session_main(void *arg)
{
	struct cli *c = arg;

	c->rc = srv_session_run(c->cfg, c->sfd, 7, "test peer");
	return NULL;
}

/* A session on sfd (the server's end of any stream socket: a socketpair,
 * or an accepted tcp connection), spoken to through fd. */
static inline struct cli *cli_start_on(const struct srv_config *cfg, int fd, int sfd)
{
	struct cli *c = calloc(1, sizeof(*c));

	cr_assert(c);
	c->fd = fd;
	c->sfd = sfd;
	c->cfg = cfg;
	c->next_id = 100;
	c->req = malloc(WIRE_MAX_FRAME);
	c->rsp = malloc(WIRE_MAX_FRAME);
	cr_assert(c->req && c->rsp);
	cr_assert(pthread_create(&c->th, NULL, cli_session_main, c) == 0);
	return c;
}

static inline struct cli *cli_start(const struct srv_config *cfg)
{
	int sv[2];

	cr_assert(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	return cli_start_on(cfg, sv[0], sv[1]);
}

/* Wait for the session to end; returns srv_session_run's result. */
static inline int cli_join(struct cli *c)
{
	pthread_join(c->th, NULL);
	close(c->sfd);
	c->sfd = -1;
	return c->rc;
}

static inline void cli_free(struct cli *c)
{
	if (c->fd >= 0)
		close(c->fd);
	if (c->sfd >= 0) {
		pthread_join(c->th, NULL);
		close(c->sfd);
	}
	free(c->req);
	free(c->rsp);
	free(c);
}

static inline void send_bytes(struct cli *c, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n) {
		ssize_t w = send(c->fd, b, n, MSG_NOSIGNAL);

		cr_assert(w > 0, "send: %s", strerror(errno));
		b += w;
		n -= (size_t)w;
	}
}

/* Read exactly n bytes: 1, or 0 at end of stream. */
static inline int recv_bytes(struct cli *c, void *p, size_t n)
{
	uint8_t *b = p;

	while (n) {
		ssize_t r = recv(c->fd, b, n, 0);

		if (r == 0)
			return 0;
		cr_assert(r > 0, "recv: %s", strerror(errno));
		b += r;
		n -= (size_t)r;
	}
	return 1;
}

/* Read one reply frame into c->rsp: 1, or 0 if the session closed. */
static inline int recv_reply(struct cli *c)
{
	if (!recv_bytes(c, c->rsp, WIRE_HDR_SIZE))
		return 0;
	cr_assert_eq(wire_hdr_decode(c->rsp, WIRE_HDR_SIZE, WIRE_MAX_FRAME, &c->rh), 0);
	cr_assert(c->rh.flags & WIRE_F_REPLY);
	cr_assert(recv_bytes(c, c->rsp + WIRE_HDR_SIZE, c->rh.length - WIRE_HDR_SIZE));
	c->pl = c->rsp + WIRE_HDR_SIZE;
	c->plen = c->rh.length - WIRE_HDR_SIZE;
	return 1;
}

/* Read exactly n bytes with recvmsg, keeping the descriptors that come with
 * them (SCM_RIGHTS, received close-on-exec): plain recv() would make the
 * kernel drop them. They go to fds[*nfd...] (at most max in all; any
 * beyond that, or a cut control message, fails the test). 1, or 0 at end
 * of stream. */
static inline int recv_bytes_fds(struct cli *c, void *p, size_t n, int *fds, int max, int *nfd)
{
	uint8_t *b = p;

	while (n) {
		union {
			struct cmsghdr h;
			char b[CMSG_SPACE(8 * sizeof(int))];
		} u;
		struct iovec v = { b, n };
		struct msghdr mh = { .msg_iov = &v, .msg_iovlen = 1, .msg_control = u.b,
				     .msg_controllen = sizeof(u.b) };
		ssize_t r = recvmsg(c->fd, &mh, MSG_CMSG_CLOEXEC);

		if (r == 0)
			return 0;
		cr_assert(r > 0, "recvmsg: %s", strerror(errno));
		cr_assert(!(mh.msg_flags & MSG_CTRUNC), "control data cut: descriptors lost");
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
			size_t k;

			cr_assert(cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS,
				  "unexpected control message %d/%d", cm->cmsg_level, cm->cmsg_type);
			k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (size_t i = 0; i < k; i++) {
				int f;

				memcpy(&f, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
				if (*nfd >= max) {
					close(f);
					cr_assert_fail("more descriptors than the %d expected", max);
				}
				fds[(*nfd)++] = f;
			}
		}
		b += r;
		n -= (size_t)r;
	}
	return 1;
}

/* recv_reply(), keeping the descriptors passed with any byte of the frame:
 * up to max into fds, their number in *nfd. */
static inline int recv_reply_fds(struct cli *c, int *fds, int max, int *nfd)
{
	*nfd = 0;
	if (!recv_bytes_fds(c, c->rsp, WIRE_HDR_SIZE, fds, max, nfd))
		return 0;
	cr_assert_eq(wire_hdr_decode(c->rsp, WIRE_HDR_SIZE, WIRE_MAX_FRAME, &c->rh), 0);
	cr_assert(c->rh.flags & WIRE_F_REPLY);
	cr_assert(recv_bytes_fds(c, c->rsp + WIRE_HDR_SIZE, c->rh.length - WIRE_HDR_SIZE, fds, max,
				 nfd));
	c->pl = c->rsp + WIRE_HDR_SIZE;
	c->plen = c->rh.length - WIRE_HDR_SIZE;
	return 1;
}

/* The reply just read (c->rh, c->pl): 0 for a result, or the host errno of
 * an error reply (its message in c->msg). */
static inline int answer_of(struct cli *c, uint64_t id, uint16_t type)
{
	cr_assert_eq(c->rh.id, id, "reply id");
	cr_assert_eq(c->rh.type, type, "reply type");
	c->msg[0] = '\0';
	if (c->rh.flags & WIRE_F_ERROR) {
		cr_assert_eq(wire_dec_error(c->pl, c->plen, &c->err), 0);
		snprintf(c->msg, sizeof(c->msg), "%.*s", (int)c->err.msg.len, c->err.msg.p);
		return wire_errno_to_host(c->err.err);
	}
	return 0;
}

/* Read the reply to request id/type: 0 for a result, or the host errno of
 * an error reply (its message in c->msg). */
static inline int recv_answer(struct cli *c, uint64_t id, uint16_t type)
{
	cr_assert(recv_reply(c), "session closed instead of answering %s", wire_type_name(type));
	return answer_of(c, id, type);
}

/* Send the frame of n bytes in c->req (n from an encoder) and read its
 * answer: 0 for a result, or the host errno of an error reply. */
static inline int call(struct cli *c, long n)
{
	struct wire_hdr q;

	cr_assert(n > 0, "encoder failed: %s", wire_strerror((int)n));
	cr_assert_eq(wire_hdr_decode(c->req, (size_t)n, WIRE_MAX_FRAME, &q), 0);
	send_bytes(c, c->req, (size_t)n);
	return recv_answer(c, q.id, q.type);
}

/* call(), keeping the descriptors that come with the answer: up to max
 * into fds, their number in *nfd (an error reply should carry none). */
static inline int call_fds(struct cli *c, long n, int *fds, int max, int *nfd)
{
	struct wire_hdr q;

	cr_assert(n > 0, "encoder failed: %s", wire_strerror((int)n));
	cr_assert_eq(wire_hdr_decode(c->req, (size_t)n, WIRE_MAX_FRAME, &q), 0);
	send_bytes(c, c->req, (size_t)n);
	cr_assert(recv_reply_fds(c, fds, max, nfd), "session closed instead of answering %s",
		  wire_type_name(q.type));
	return answer_of(c, q.id, q.type);
}

static inline uint64_t nid(struct cli *c)
{
	return c->next_id++;
}

static inline struct wire_str S(const char *s)
{
	return (struct wire_str){ s, (uint32_t)strlen(s) };
}

/* HELLO as a big-endian s390x client of job (may be ""). */
static inline void cli_hello(struct cli *c, const char *job)
{
	struct wire_hello m, r;

	memset(&m, 0, sizeof(m));
	m.version = WIRE_PROTO_VERSION;
	m.byte_order = WIRE_BO_BIG;
	m.page_size = 65536;
	m.pid = 4242;
	m.max_frame = WIRE_MAX_FRAME;
	m.arch = S("s390x");
	m.job = S(job);
	m.peer = S("test client");
	cr_assert_eq(call(c, wire_enc_hello(c->req, WIRE_MAX_FRAME, nid(c), 0, &m)), 0);
	cr_assert_eq(wire_dec_hello(c->pl, c->plen, &r), 0);
	cr_expect_eq(r.version, WIRE_PROTO_VERSION);
	cr_expect_neq(r.session, 0);
}

#endif
