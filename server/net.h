/* net.h - listening addresses (tcp:HOST:PORT, unix:PATH), listeners, accept.
 *
 * Listeners are non-blocking (polled by main); accepted sockets are blocking,
 * close-on-exec, with TCP_NODELAY and keepalive on TCP and big buffers where
 * the system allows them.
 */
#ifndef CKPT_SRV_NET_H
#define CKPT_SRV_NET_H

#include <stddef.h>
#include <sys/types.h>

#define SRV_ADDR_MAX 192 /* "tcp:[v6 address]:port" or "unix:" + sun_path */

struct srv_addr {
	int is_unix;
	int abstract;    /* unix:@name: Linux abstract namespace, no file */
	char host[128];  /* tcp: name or numeric address, without [] */
	char port[8];    /* tcp: decimal, "0" = any free port */
	char path[108];  /* unix: socket path (sizeof sun_path) */
};

/* Parse "tcp:HOST:PORT" (HOST may be [IPv6]) or "unix:PATH". 0, or -1 with a
 * one-line reason in err. */
int srv_addr_parse(const char *spec, struct srv_addr *a, char *err, size_t errcap);

struct srv_listener {
	int fd;
	int is_unix;
	char addr[SRV_ADDR_MAX]; /* what was really bound, e.g. tcp:127.0.0.1:40123 */
	char *path;              /* socket file we created, removed by close */
	dev_t dev;
	ino_t ino;
};

/* Bind and listen on spec. A unix socket file left by a dead server is
 * removed first (only if it is a socket nobody listens on). 0, or -1 with a
 * one-line reason in err. */
int srv_listen(struct srv_listener *l, const char *spec, char *err, size_t errcap);

/* Close the listener and remove its socket file if it is still ours. */
void srv_listener_close(struct srv_listener *l);

/* Accept one connection: its fd (options set) and a description of the peer
 * for the log ("unix pid 1234 uid 1000", "tcp 127.0.0.1:51234"), or -errno
 * (-EAGAIN when none is pending). */
int srv_accept(struct srv_listener *l, char *peer, size_t peercap);

#endif
