/* fdnums.c - checks that fds of files in DIR are numbered and shared as the kernel does it.
 *
 * Run once on a local directory and once on a remote one under the shim: the
 * outputs must be identical. It prints the fd number every call returns
 * (open gives the lowest free number, dup2 onto a free or an open number,
 * F_DUPFD with a floor, close(0) then open ...), the errno of every misuse,
 * and what reads through the standard streams see once fd 0 or 1 is a file
 * in DIR.
 *
 *   fdnums DIR      DIR must exist
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *D;
static char pbuf[2][4096];
static int pi;

static const char *P(const char *rel)
{
	char *b = pbuf[pi++ & 1];

	snprintf(b, 4096, "%s/%s", D, rel);
	return b;
}

static void show(const char *what, long r)
{
	if (r < 0)
		printf("%-34s -1 %s\n", what, strerrorname_np(errno));
	else
		printf("%-34s %ld\n", what, r);
	fflush(stdout);
}

static void show_data(const char *what, const char *buf, long n)
{
	if (n < 0) {
		show(what, n);
		return;
	}
	printf("%-34s %ld \"%.*s\"\n", what, n, (int)n, buf);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	char buf[256];
	int a, b, c, d, e, l, s;
	long r;

	if (argc != 2) {
		fprintf(stderr, "usage: fdnums DIR\n");
		return 2;
	}
	D = argv[1];

	a = open(P("f"), O_CREAT | O_RDWR | O_TRUNC, 0644);
	show("open, no O_CLOEXEC", a);
	show("write", write(a, "0123456789", 10));
	b = open(P("f"), O_RDONLY | O_CLOEXEC);
	show("open O_CLOEXEC", b);
	c = open(P("f"), O_RDONLY);
	show("open again", c);
	show("close the middle one", close(b));
	d = open(P("f"), O_RDONLY);
	show("open takes the lowest free", d);
	e = dup(a);
	show("dup takes the lowest free", e);
	show("close", close(d));
	show("dup2 onto a free number", dup2(a, d));
	show("lseek through the dup2", lseek(d, 3, SEEK_SET));
	show("cursor shared with the original", lseek(a, 0, SEEK_CUR));
	show("getfd of a dup2", fcntl(d, F_GETFD));
	show("close", close(e));
	show("dup3 O_CLOEXEC onto a free number", dup3(a, e, O_CLOEXEC));
	show("getfd of a dup3 O_CLOEXEC", fcntl(e, F_GETFD));
	show("F_DUPFD from 20", fcntl(a, F_DUPFD, 20));
	show("F_DUPFD_CLOEXEC from 20", fcntl(a, F_DUPFD_CLOEXEC, 20));
	show("getfd of 21", fcntl(21, F_GETFD));
	show("dup2 onto itself", dup2(a, a));
	show("dup3 onto itself", dup3(a, a, 0));
	show("dup2 to -1", dup2(a, -1));
	show("dup of a closed fd", dup(b > 30 ? b : 30));
	l = open("/dev/null", O_RDONLY);
	show("open /dev/null", l);
	show("dup2 onto an open local fd", dup2(a, l));
	show_data("pread through it", buf, pread(l, buf, sizeof(buf), 0));
	s = open("/dev/null", O_RDONLY);
	show("dup2 a local fd onto a file fd", dup2(s, c));
	show("read: now /dev/null", read(c, buf, sizeof(buf)));
	show("close", close(s));
	show("close twice", close(20) + close(20));

	/* fd 0 is a file of DIR: read it with read() and with stdin */
	s = dup(0);
	show("close 0", close(0));
	show("open takes 0", open(P("f"), O_RDONLY));
	show_data("read(0)", buf, read(0, buf, 4));
	show_data("fgets(stdin)", buf, fgets(buf, sizeof(buf), stdin) ? (long)strlen(buf) : -1);
	show("dup2 back onto 0", dup2(s, 0));
	close(s);
	clearerr(stdin);

	/* fd 1 is a file of DIR: printf goes there */
	fflush(stdout);
	s = dup(1);
	close(1);
	r = open(P("out"), O_CREAT | O_WRONLY | O_TRUNC, 0644);
	printf("printf to fd %ld\n", r);
	fflush(stdout);
	if (write(1, "write(1)\n", 9) != 9)
		perror("write(1)");
	dup2(s, 1);
	close(s);
	b = open(P("out"), O_RDONLY);
	show_data("what fd 1 got", buf, read(b, buf, sizeof(buf)));
	close(b);

	/* the same with dup2 onto 1, as a shell does */
	s = dup(1);
	b = open(P("out2"), O_CREAT | O_WRONLY | O_TRUNC, 0644);
	dup2(b, 1);
	close(b);
	printf("printf after dup2\n");
	fflush(stdout);
	dup2(s, 1);
	close(s);
	b = open(P("out2"), O_RDONLY);
	show_data("what the dup2'd fd 1 got", buf, read(b, buf, sizeof(buf)));
	close(b);

	/* everything this program opened is closed: the next open gets 3 */
	for (int fd = 3; fd < 64; fd++)
		close(fd);
	show("open after closing all", open(P("f"), O_RDONLY));
	return 0;
}
