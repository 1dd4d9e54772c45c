/* net.c - address parsing, listening sockets and accept with the options sessions need. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "net.h"

#define SOCK_BUF (4 << 20) /* wanted socket buffer: many 1 MiB blocks in flight */
#define KEEPIDLE_S 60      /* detect a vanished client host after ~2 minutes */
#define KEEPINTVL_S 10
#define KEEPCNT 6

static int fail(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t cap, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, cap, fmt, ap);
	va_end(ap);
	return -1;
}

int srv_addr_parse(const char *spec, struct srv_addr *a, char *err, size_t errcap)
{
	memset(a, 0, sizeof(*a));
	if (strncmp(spec, "unix:", 5) == 0) {
		const char *p = spec + 5;
		size_t n = strlen(p);

		a->is_unix = 1;
		if (n == 0 || (p[0] == '@' && n == 1))
			return fail(err, errcap, "'%s': empty unix socket path", spec);
		if (n >= sizeof(a->path))
			return fail(err, errcap, "'%s': unix socket path longer than %zu bytes", spec,
				    sizeof(a->path) - 1);
		a->abstract = p[0] == '@';
		memcpy(a->path, p, n + 1);
		return 0;
	}
	if (strncmp(spec, "tcp:", 4) == 0) {
		const char *h = spec + 4, *colon, *hend;
		char *end;
		unsigned long port;

		if (h[0] == '[') { /* [IPv6]:port */
			hend = strchr(h, ']');
			if (!hend || hend[1] != ':')
				return fail(err, errcap, "'%s': expected tcp:[IPV6]:PORT", spec);
			colon = hend + 1;
			h++;
		} else {
			colon = strrchr(h, ':');
			if (!colon)
				return fail(err, errcap, "'%s': expected tcp:HOST:PORT", spec);
			hend = colon;
			if (memchr(h, ':', (size_t)(hend - h)))
				return fail(err, errcap,
					    "'%s': write an IPv6 address in brackets: tcp:[ADDR]:PORT", spec);
		}
		if (hend == h)
			return fail(err, errcap, "'%s': empty host (use 0.0.0.0 or [::] for every "
				    "address)", spec);
		if ((size_t)(hend - h) >= sizeof(a->host))
			return fail(err, errcap, "'%s': host name too long", spec);
		errno = 0;
		port = strtoul(colon + 1, &end, 10);
		if (!colon[1] || *end || errno || port > 65535 || colon[1] == '-' || colon[1] == '+')
			return fail(err, errcap, "'%s': port must be a number from 0 to 65535", spec);
		memcpy(a->host, h, (size_t)(hend - h));
		a->host[hend - h] = '\0';
		snprintf(a->port, sizeof(a->port), "%lu", port);
		return 0;
	}
	return fail(err, errcap, "'%s': expected tcp:HOST:PORT or unix:PATH", spec);
}

/* ---- socket options ------------------------------------------------------------ */

static long sysctl_long(const char *path)
{
	char buf[32];
	long v = -1;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd >= 0) {
		ssize_t n = read(fd, buf, sizeof(buf) - 1);

		if (n > 0) {
			buf[n] = '\0';
			v = strtol(buf, NULL, 10);
		}
		close(fd);
	}
	return v;
}

/* Big buffers: forced if we may (CAP_NET_ADMIN), else as far as the sysctl
 * maximum allows. On TCP a fixed size turns autotuning off, so a fixed size
 * below what we want is worse than none: then leave TCP alone. */
static void set_bufs(int fd, int is_tcp)
{
	static long wmax, rmax; /* 0: not read yet (main thread only) */
	int v = SOCK_BUF;

	if (!wmax) {
		wmax = sysctl_long("/proc/sys/net/core/wmem_max");
		rmax = sysctl_long("/proc/sys/net/core/rmem_max");
	}
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &v, sizeof(v)) < 0 &&
	    (!is_tcp || wmax >= SOCK_BUF))
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof(v)) < 0 &&
	    (!is_tcp || rmax >= SOCK_BUF))
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
}

static void set_tcp_opts(int fd)
{
	int one = 1, idle = KEEPIDLE_S, intvl = KEEPINTVL_S, cnt = KEEPCNT;

	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
		srv_pwarn("setsockopt(TCP_NODELAY)");
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
}

static void format_inet(char *out, size_t cap, const char *prefix, const struct sockaddr *sa)
{
	char ip[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;

		inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
		snprintf(out, cap, "%s[%s]:%u", prefix, ip, ntohs(s6->sin6_port));
	} else if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;

		inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
		snprintf(out, cap, "%s%s:%u", prefix, ip, ntohs(s4->sin_port));
	} else {
		snprintf(out, cap, "%s?", prefix);
	}
}

/* ---- listeners ------------------------------------------------------------------- */

static int listen_tcp(struct srv_listener *l, const struct srv_addr *a, char *err, size_t cap)
{
	struct addrinfo hints, *res, *ai;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int r, fd = -1, last = 0;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	r = getaddrinfo(a->host, a->port, &hints, &res);
	if (r)
		return fail(err, cap, "tcp:%s:%s: %s", a->host, a->port,
			    r == EAI_SYSTEM ? strerror(errno) : gai_strerror(r));
	for (ai = res; ai; ai = ai->ai_next) {
		int one = 1;

		fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0) {
			last = errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		set_bufs(fd, 1); /* before listen: accepted sockets inherit it, window scaling too */
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, SOMAXCONN) == 0)
			break;
		last = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return fail(err, cap, "tcp:%s:%s: cannot listen: %s", a->host, a->port, strerror(last));
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
		last = errno;
		close(fd);
		return fail(err, cap, "tcp:%s:%s: getsockname: %s", a->host, a->port, strerror(last));
	}
	l->fd = fd;
	format_inet(l->addr, sizeof(l->addr), "tcp:", (struct sockaddr *)&ss);
	return 0;
}

/* An existing file at path: remove it if it is a socket nobody listens on. */
static int clear_stale_socket(const char *path, char *err, size_t cap)
{
	struct sockaddr_un sun;
	struct stat st;
	int fd, r, e;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : fail(err, cap, "unix:%s: %s", path, strerror(errno));
	if (!S_ISSOCK(st.st_mode))
		return fail(err, cap, "unix:%s: exists and is not a socket; not removing it", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return fail(err, cap, "unix:%s: socket: %s", path, strerror(errno));
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	r = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
	e = errno;
	close(fd);
	if (r == 0)
		return fail(err, cap, "unix:%s: another server is listening there", path);
	if (e != ECONNREFUSED)
		return fail(err, cap, "unix:%s: cannot tell whether it is in use: %s", path, strerror(e));
	if (unlink(path) < 0 && errno != ENOENT)
		return fail(err, cap, "unix:%s: cannot remove the stale socket: %s", path,
			    strerror(errno));
	srv_info("removed stale socket %s", path);
	return 0;
}

static int listen_unix(struct srv_listener *l, const struct srv_addr *a, char *err, size_t cap)
{
	struct sockaddr_un sun;
	socklen_t sl;
	size_t n = strlen(a->path);
	struct stat st;
	int fd, e;

	if (!a->abstract && clear_stale_socket(a->path, err, cap) < 0)
		return -1;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, a->path, n);
	if (a->abstract)
		sun.sun_path[0] = '\0';
	sl = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (a->abstract ? 0 : 1));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return fail(err, cap, "unix:%s: socket: %s", a->path, strerror(errno));
	if (bind(fd, (struct sockaddr *)&sun, sl) < 0) {
		e = errno;
		close(fd);
		return fail(err, cap, "unix:%s: cannot bind: %s", a->path, strerror(e));
	}
	if (!a->abstract) {
		l->path = strdup(a->path);
		if (!l->path || stat(a->path, &st) < 0) {
			e = l->path ? errno : ENOMEM;
			unlink(a->path);
			free(l->path);
			l->path = NULL;
			close(fd);
			return fail(err, cap, "unix:%s: %s", a->path, strerror(e));
		}
		l->dev = st.st_dev;
		l->ino = st.st_ino;
	}
	if (listen(fd, SOMAXCONN) < 0) {
		e = errno;
		srv_listener_close(l);
		close(fd);
		return fail(err, cap, "unix:%s: cannot listen: %s", a->path, strerror(e));
	}
	l->fd = fd;
	snprintf(l->addr, sizeof(l->addr), "unix:%s", a->path);
	return 0;
}

int srv_listen(struct srv_listener *l, const char *spec, char *err, size_t errcap)
{
	struct srv_addr a;

	memset(l, 0, sizeof(*l));
	l->fd = -1;
	if (srv_addr_parse(spec, &a, err, errcap) < 0)
		return -1;
	l->is_unix = a.is_unix;
	return a.is_unix ? listen_unix(l, &a, err, errcap) : listen_tcp(l, &a, err, errcap);
}

void srv_listener_close(struct srv_listener *l)
{
	struct stat st;

	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
	/* Remove the file only if it is still the socket we bound, not one a
	 * newer server put there. */
	if (l->path && stat(l->path, &st) == 0 && st.st_dev == l->dev && st.st_ino == l->ino &&
	    unlink(l->path) < 0)
		srv_pwarn("cannot remove socket %s", l->path);
	free(l->path);
	l->path = NULL;
}

int srv_accept(struct srv_listener *l, char *peer, size_t peercap)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int fd = accept4(l->fd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (l->is_unix) {
		struct ucred cr;
		socklen_t cl = sizeof(cr);

		set_bufs(fd, 0);
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) == 0)
			snprintf(peer, peercap, "unix pid %ld uid %lu", (long)cr.pid,
				 (unsigned long)cr.uid);
		else
			snprintf(peer, peercap, "unix pid ?");
	} else {
		set_tcp_opts(fd);
		format_inet(peer, peercap, "tcp ", (struct sockaddr *)&ss);
	}
	return fd;
}
