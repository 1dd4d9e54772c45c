/* test_server_resolve.c - path validation and confinement beneath the export root (server/resolve.c). */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "resolve.h"

static char base[64];  /* temp dir: base/root is the export root, base/outside is not */
static char rootp[96];
static int root = -1;

static void write_file(const char *path, const char *content)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	cr_assert(fd >= 0, "create %s: %s", path, strerror(errno));
	cr_assert(write(fd, content, strlen(content)) == (ssize_t)strlen(content));
	close(fd);
}

static void link_in_root(const char *target, const char *name)
{
	cr_assert(symlinkat(target, root, name) == 0, "symlink %s: %s", name, strerror(errno));
}

static void setup(void)
{
	char p[160];

	snprintf(base, sizeof(base), "/tmp/ckpt-resolve.XXXXXX");
	cr_assert(mkdtemp(base));
	snprintf(rootp, sizeof(rootp), "%s/root", base);
	cr_assert(mkdir(rootp, 0755) == 0);
	snprintf(p, sizeof(p), "%s/outside", base);
	write_file(p, "secret\n");
	root = open(rootp, O_PATH | O_DIRECTORY | O_CLOEXEC);
	cr_assert(root >= 0);

	cr_assert(mkdirat(root, "sub", 0755) == 0);
	snprintf(p, sizeof(p), "%s/sub/file", rootp);
	write_file(p, "inside\n");
	link_in_root("/etc", "abs");                        /* absolute: out */
	link_in_root("/etc/passwd", "absfile");             /* absolute file: out */
	link_in_root("../outside", "upfile");               /* relative escape */
	link_in_root("../../../../../../../..", "up");      /* ../.. escape */
	link_in_root("/proc/self/root", "procroot");        /* magic link trick */
	link_in_root("../../../../../../../../proc/self/root", "relproc");
	link_in_root("sub/file", "inside");                 /* fine */
	link_in_root("sub", "insidedir");                   /* fine */
	link_in_root("../sub/file", "sub/back");            /* up and back in: fine */
	link_in_root("loop", "loop");
	link_in_root("/tmp/ckpt-resolve-must-not-exist", "dangle");
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st, (void)flag, (void)f;
	return remove(p);
}

static void teardown(void)
{
	if (root >= 0)
		close(root);
	nftw(base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void setup_walk(void)
{
	setup();
	srv_resolve_use_fallback(1);
}

/* Every resolution test runs twice: with openat2, and with the userspace
 * resolver used where openat2 is missing (qemu-user, Linux < 5.6). */
TestSuite(resolve, .init = setup, .fini = teardown);
TestSuite(resolve_walk, .init = setup_walk, .fini = teardown);
#define BOTH(name)                                  \
	static void name(void);                     \
	Test(resolve, name) { name(); }             \
	Test(resolve_walk, name) { name(); }        \
	static void name(void)

/* ---- string checks ------------------------------------------------------------ */

static int check(const char *p)
{
	char out[SRV_PATH_BUF];

	return srv_path_check(p, strlen(p), out, NULL);
}

Test(resolve, check_accepts_clean_paths)
{
	char out[SRV_PATH_BUF];
	const char *why = NULL;

	cr_expect_eq(srv_path_check("", 0, out, &why), 0);
	cr_expect_str_eq(out, "");
	cr_expect_eq(srv_path_check("a/b/c.txt", 9, out, &why), 0);
	cr_expect_str_eq(out, "a/b/c.txt");
	cr_expect_eq(check("..."), 0);
	cr_expect_eq(check(".hidden"), 0);
	cr_expect_eq(check("a/..b/c.."), 0);
	cr_expect_eq(check("x"), 0);
	/* not NUL-terminated input: only len bytes count */
	cr_expect_eq(srv_path_check("abc/def", 3, out, &why), 0);
	cr_expect_str_eq(out, "abc");
}

Test(resolve, check_refuses_escapes_with_eacces)
{
	cr_expect_eq(check(".."), -EACCES);
	cr_expect_eq(check("../x"), -EACCES);
	cr_expect_eq(check("a/../b"), -EACCES);
	cr_expect_eq(check("a/.."), -EACCES);
	cr_expect_eq(check("/etc/passwd"), -EACCES);
	cr_expect_eq(check("/"), -EACCES);
}

Test(resolve, check_refuses_malformed_with_einval)
{
	const char *why = NULL;
	char out[SRV_PATH_BUF];

	cr_expect_eq(check("."), -EINVAL);
	cr_expect_eq(check("a/./b"), -EINVAL);
	cr_expect_eq(check("a//b"), -EINVAL);
	cr_expect_eq(check("a/"), -EINVAL);
	cr_expect_eq(srv_path_check("a\0b", 3, out, &why), -EINVAL);
	cr_expect_str_eq(why, "NUL byte in path");
	/* never cut at the NUL: "sub/file\0" is not "sub/file" */
	cr_expect_eq(srv_path_check("sub/file\0", 9, out, &why), -EINVAL);
	cr_expect_eq(srv_path_check("\0../x", 5, out, &why), -EINVAL);
}

Test(resolve, check_refuses_long_names)
{
	char p[WIRE_MAX_PATH + 8];

	memset(p, 'n', WIRE_MAX_NAME);
	p[WIRE_MAX_NAME] = '\0';
	cr_expect_eq(check(p), 0, "a NAME_MAX component is fine");
	p[WIRE_MAX_NAME] = 'n';
	p[WIRE_MAX_NAME + 1] = '\0';
	cr_expect_eq(check(p), -ENAMETOOLONG);

	/* PATH_MAX counts the NUL: 4095 bytes is the longest path */
	for (size_t i = 0; i < sizeof(p); i++)
		p[i] = (i % 100 == 99) ? '/' : 'a';
	p[WIRE_MAX_PATH - 1] = '\0';
	cr_expect_eq(check(p), 0);
	p[WIRE_MAX_PATH - 1] = 'a';
	p[WIRE_MAX_PATH] = '\0';
	cr_expect_eq(check(p), -ENAMETOOLONG);
}

/* ---- resolution beneath the root ---------------------------------------------------- */

static void expect_content(int fd, const char *want)
{
	char buf[64] = { 0 };

	cr_assert(fd >= 0, "open failed: %s", strerror(-fd));
	cr_expect(pread(fd, buf, sizeof(buf) - 1, 0) > 0);
	cr_expect_str_eq(buf, want);
	close(fd);
}

Test(resolve, probe_works)
{
	cr_expect_eq(srv_resolve_probe(root), 0);
}

BOTH(inside_paths_and_symlinks_resolve)
{
	struct stat st;
	int fd;

	expect_content(srv_resolve_open(root, "sub/file", O_RDONLY, 0), "inside\n");
	expect_content(srv_resolve_open(root, "inside", O_RDONLY, 0), "inside\n");
	expect_content(srv_resolve_open(root, "insidedir/file", O_RDONLY, 0), "inside\n");
	expect_content(srv_resolve_open(root, "sub/back", O_RDONLY, 0), "inside\n");
	fd = srv_resolve_open(root, "", O_RDONLY | O_DIRECTORY, 0);
	cr_assert(fd >= 0, "the empty path is the root");
	cr_expect(fstat(fd, &st) == 0 && S_ISDIR(st.st_mode));
	close(fd);
}

BOTH(symlink_escapes_are_exdev)
{
	cr_expect_eq(srv_resolve_open(root, "abs", O_RDONLY, 0), -EXDEV);
	cr_expect_eq(srv_resolve_open(root, "abs/passwd", O_RDONLY, 0), -EXDEV);
	cr_expect_eq(srv_resolve_open(root, "absfile", O_RDONLY, 0), -EXDEV);
	cr_expect_eq(srv_resolve_open(root, "absfile", O_PATH, 0), -EXDEV);
	cr_expect_eq(srv_resolve_open(root, "upfile", O_RDONLY, 0), -EXDEV);
	cr_expect_eq(srv_resolve_open(root, "up", O_RDONLY, 0), -EXDEV);
	cr_expect_eq(srv_resolve_open(root, "up/etc/passwd", O_RDONLY, 0), -EXDEV);
	cr_expect_eq(srv_resolve_open(root, "procroot", O_RDONLY, 0), -EXDEV);
	cr_expect_eq(srv_resolve_open(root, "procroot/etc/passwd", O_RDONLY, 0), -EXDEV);
	cr_expect_eq(srv_resolve_open(root, "relproc/etc/passwd", O_RDONLY, 0), -EXDEV);
}

BOTH(nofollow_opens_the_link_itself)
{
	struct stat st;
	int fd = srv_resolve_open(root, "absfile", O_PATH | O_NOFOLLOW, 0);

	cr_assert(fd >= 0, "O_PATH|O_NOFOLLOW on an escaping link is the link: %s", strerror(-fd));
	cr_expect(fstat(fd, &st) == 0 && S_ISLNK(st.st_mode));
	close(fd);
	cr_expect_eq(srv_resolve_open(root, "absfile", O_RDONLY | O_NOFOLLOW, 0), -ELOOP);
	cr_expect_eq(srv_resolve_open(root, "loop", O_RDONLY, 0), -ELOOP);
}

/* A magic link is an escape (EXDEV, refused and logged as one), with openat2
 * as with the userspace walk; ELOOP is left for loops and O_NOFOLLOW. */
BOTH(magic_links_are_refused)
{
	int self = open("/proc/self", O_PATH | O_DIRECTORY | O_CLOEXEC);
	char fdp[64];
	int r;

	cr_assert(self >= 0);
	r = srv_resolve_open(self, "root", O_RDONLY, 0);
	cr_expect_eq(r, -EXDEV, "/proc/self/root beneath /proc/self: %d", r);
	r = srv_resolve_open(self, "root/etc/passwd", O_RDONLY, 0);
	cr_expect_eq(r, -EXDEV, "/proc/self/root/etc/passwd: %d", r);
	r = srv_resolve_open(self, "cwd", O_RDONLY | O_DIRECTORY, 0);
	cr_expect_eq(r, -EXDEV, "/proc/self/cwd: %d", r);
	/* the root's own fd, through its magic link: out, though it names the root */
	snprintf(fdp, sizeof(fdp), "fd/%d/sub/file", root);
	r = srv_resolve_open(self, fdp, O_RDONLY, 0);
	cr_expect_eq(r, -EXDEV, "/proc/self/%s: %d", fdp, r);
	r = srv_resolve_open(self, "root", O_WRONLY | O_CREAT, 0600);
	cr_expect_eq(r, -EXDEV, "O_CREAT through a magic link: %d", r);
	/* the link itself is no escape: O_NOFOLLOW is ELOOP as for any link */
	r = srv_resolve_open(self, "root", O_RDONLY | O_NOFOLLOW, 0);
	cr_expect_eq(r, -ELOOP, "O_NOFOLLOW on /proc/self/root: %d", r);
	close(self);
	cr_expect_eq(srv_resolve_open(root, "loop", O_RDONLY, 0), -ELOOP, "a loop stays ELOOP");
	cr_expect_eq(srv_resolve_open(root, "loop/x", O_RDONLY, 0), -ELOOP);
}

BOTH(create_stays_beneath)
{
	char p[200];
	struct stat st;
	int fd;

	fd = srv_resolve_open(root, "sub/new", O_WRONLY | O_CREAT | O_EXCL, 0600);
	cr_assert(fd >= 0, "create: %s", strerror(-fd));
	cr_expect(fstat(fd, &st) == 0 && (st.st_mode & 07777) == (0600 & ~(mode_t)umask(022)));
	close(fd);
	cr_expect_eq(srv_resolve_open(root, "sub/new", O_WRONLY | O_CREAT | O_EXCL, 0600), -EEXIST);
	cr_expect_eq(srv_resolve_open(root, "abs/ckpt-evil", O_WRONLY | O_CREAT, 0600), -EXDEV);
	/* a dangling absolute symlink must not create its target outside */
	cr_expect_eq(srv_resolve_open(root, "dangle", O_WRONLY | O_CREAT, 0600), -EXDEV);
	cr_expect(access("/tmp/ckpt-resolve-must-not-exist", F_OK) < 0);
	cr_expect_eq(srv_resolve_open(root, "dangle", O_WRONLY | O_CREAT | O_EXCL, 0600), -EEXIST,
		     "O_EXCL never follows the last component");
	snprintf(p, sizeof(p), "%s/outside", base);
	cr_expect(stat(p, &st) == 0 && st.st_size == 7, "the outside file is untouched");
}

BOTH(parent_of_last_component)
{
	const char *b = NULL;
	struct stat st;
	int d;

	d = srv_resolve_parent(root, "top", &b);
	cr_expect_eq(d, root, "single component: the root itself");
	cr_expect_str_eq(b, "top");
	srv_resolve_release(root, d); /* must not close the root */
	cr_expect(fcntl(root, F_GETFD) >= 0);

	d = srv_resolve_parent(root, "sub/file", &b);
	cr_assert(d >= 0 && d != root);
	cr_expect_str_eq(b, "file");
	cr_expect(fstatat(d, b, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode));
	srv_resolve_release(root, d);

	d = srv_resolve_parent(root, "insidedir/file", &b);
	cr_assert(d >= 0, "a symlinked parent inside the root is fine");
	srv_resolve_release(root, d);

	cr_expect_eq(srv_resolve_parent(root, "abs/passwd", &b), -EXDEV);
	cr_expect_eq(srv_resolve_parent(root, "up/x", &b), -EXDEV);
	cr_expect_eq(srv_resolve_parent(root, "sub/file/x", &b), -ENOTDIR);
	cr_expect_eq(srv_resolve_parent(root, "nothere/x", &b), -ENOENT);

	/* the last component is never followed: an escaping link can be
	 * removed, not its target */
	d = srv_resolve_parent(root, "absfile", &b);
	cr_assert(d >= 0);
	cr_expect(fstatat(d, b, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode));
	srv_resolve_release(root, d);
}

BOTH(dot_dot_inside_link_targets)
{
	cr_assert(mkdirat(root, "sub/deep", 0755) == 0);
	cr_assert(symlinkat("../../sub/./file", root, "sub/deep/rel") == 0);
	cr_assert(symlinkat("../../..", root, "sub/deep/out") == 0);
	cr_assert(symlinkat("sub/", root, "slashdir") == 0);
	expect_content(srv_resolve_open(root, "sub/deep/rel", O_RDONLY, 0), "inside\n");
	cr_expect_eq(srv_resolve_open(root, "sub/deep/out", O_RDONLY, 0), -EXDEV);
	cr_expect_eq(srv_resolve_open(root, "sub/deep/out/outside", O_RDONLY, 0), -EXDEV);
	expect_content(srv_resolve_open(root, "slashdir/file", O_RDONLY, 0), "inside\n");
	cr_expect_eq(srv_resolve_open(root, "inside/x", O_RDONLY, 0), -ENOTDIR);
}
