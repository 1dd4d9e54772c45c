/* test_shim_paths.c - unit tests of the shim's mount table and path classification.
 *
 * preload/mounts.c is compiled into this test with stubs for the few shim
 * services it calls (fd table, lock, real getcwd/readlink).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>

#include "../../preload/mounts.c"

/* ---- stubs ---------------------------------------------------------------- */
static char fake_cwd[PATH_MAX] = "/home/u";
static char *stub_getcwd(char *b, size_t n)
{
	if (strlen(fake_cwd) >= n)
		return NULL;
	return strcpy(b, fake_cwd);
}
static ssize_t stub_readlink(const char *p, char *b, size_t n)
{
	(void)p;
	strncpy(b, "/srv/local", n);
	return 10;
}
char *(*real_getcwd)(char *, size_t) = stub_getcwd;
ssize_t (*real_readlink)(const char *, char *, size_t) = stub_readlink;
static struct shim_conn conn;
struct shim_conn *shim_conn_for(const char *addr)
{
	(void)addr;
	return &conn;
}
static struct shim_ofd dir_ofd;
struct shim_ofd *shim_fd_get(int fd)
{
	return fd == 7 ? &dir_ofd : NULL;
}
bool shim_fd_is_remote(int fd)
{
	return fd == 7;
}
struct shim_mount *shim_mounts;
int shim_nmounts;
void shim_lock(void) {}
void shim_unlock(void) {}

static void setup(void)
{
	shim_nmounts = 0;
	shim_cwd_remote = NULL;
	free(shim_cwd_local);
	shim_cwd_local = NULL;
	strcpy(fake_cwd, "/home/u");
	cr_assert_eq(shim_parse_mounts("/data=tcp:127.0.0.1:7070,/out/x=unix:/run/s.sock,/data/deep=unix:/d"), 0);
}

TestSuite(paths, .init = setup);

static const char *norm(const char *in)
{
	static char out[PATH_MAX];

	if (shim_normalize(in, out, sizeof(out)) < 0)
		return "ERR";
	return out;
}

Test(paths, normalize)
{
	cr_expect_str_eq(norm("/"), "/");
	cr_expect_str_eq(norm("//a///b/"), "/a/b");
	cr_expect_str_eq(norm("/a/./b/."), "/a/b");
	cr_expect_str_eq(norm("/a/b/../c"), "/a/c");
	cr_expect_str_eq(norm("/../../a"), "/a");
	cr_expect_str_eq(norm("/a/.."), "/");
	cr_expect_str_eq(norm("/a/..b/.c"), "/a/..b/.c");
	cr_expect_str_eq(norm("/data/../etc/passwd"), "/etc/passwd");
}

Test(paths, normalize_too_long)
{
	char small[8];

	cr_expect_eq(shim_normalize("/abcdefgh", small, sizeof(small)), -1);
	cr_expect_eq(errno, ENAMETOOLONG);
	cr_expect_eq(shim_normalize("/abcdef", small, sizeof(small)), 0);
}

Test(paths, match_longest)
{
	const char *rel;

	cr_assert_not_null(shim_match("/data", &rel));
	cr_expect_str_eq(rel, "");
	cr_expect_str_eq(shim_match("/data/a/b", &rel)->point, "/data");
	cr_expect_str_eq(rel, "a/b");
	cr_expect_str_eq(shim_match("/data/deep/z", &rel)->point, "/data/deep");
	cr_expect_str_eq(rel, "z");
	cr_expect_null(shim_match("/database", &rel));
	cr_expect_null(shim_match("/out", &rel));
	cr_expect_str_eq(shim_match("/out/x/y", &rel)->point, "/out/x");
}

Test(paths, parse_rejects)
{
	const char *bad[] = {"data=tcp:h:1", "/data", "/=tcp:h:1", "/d=udp:h:1", "/d=unix:rel",
			     "/d=tcp:nohost", "/d=tcp:h:1,/d=tcp:h:2", ""};

	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		shim_nmounts = 0;
		cr_expect_eq(shim_parse_mounts(bad[i]), -1, "accepted \"%s\"", bad[i]);
	}
}

Test(paths, classify_absolute)
{
	struct shim_path p;

	cr_expect_eq(shim_classify(AT_FDCWD, "/etc/passwd", &p), 0);
	cr_expect_eq(shim_classify(AT_FDCWD, "/data/x/../y", &p), 1);
	cr_expect_str_eq(p.rel, "y");
	cr_expect_eq(shim_classify(AT_FDCWD, "/data/../etc", &p), 2);
	cr_expect_str_eq(p.rel, "/etc");
	cr_expect_eq(shim_classify(AT_FDCWD, "/usr/../etc", &p), 0);
	cr_expect_eq(shim_classify(AT_FDCWD, "/tmp/../data//f", &p), 1);
	cr_expect_str_eq(p.rel, "f");
	cr_expect_eq(shim_classify(AT_FDCWD, "", &p), 0);
}

Test(paths, classify_relative_local_cwd)
{
	struct shim_path p;

	cr_expect_eq(shim_classify(AT_FDCWD, "file", &p), 0);
	cr_expect_eq(shim_classify(AT_FDCWD, "../../data/f", &p), 1);
	cr_expect_str_eq(p.rel, "f");
	strcpy(fake_cwd, "/");
	free(shim_cwd_local);
	shim_cwd_local = NULL;
	cr_expect_eq(shim_classify(AT_FDCWD, "data/in", &p), 1);
	cr_expect_str_eq(p.rel, "in");
	cr_expect_eq(shim_classify(AT_FDCWD, "etc/x", &p), 0);
	cr_expect_eq(shim_classify(AT_FDCWD, "data/../etc/x", &p), 2);
	cr_expect_str_eq(p.rel, "/etc/x");
}

Test(paths, classify_remote_cwd)
{
	struct shim_path p;

	shim_cwd_remote = strdup("/data/sub");
	cr_expect_eq(shim_classify(AT_FDCWD, "f", &p), 1);
	cr_expect_str_eq(p.rel, "sub/f");
	cr_expect_eq(shim_classify(AT_FDCWD, "..", &p), 1);
	cr_expect_str_eq(p.rel, "");
	cr_expect_eq(shim_classify(AT_FDCWD, "../../etc", &p), 2);
	cr_expect_str_eq(p.rel, "/etc");
	free(shim_cwd_remote);
	shim_cwd_remote = NULL;
}

Test(paths, classify_dirfd)
{
	struct shim_path p;

	dir_ofd.mnt = &shim_mounts[0];
	dir_ofd.rel = (char *)"a/b";
	dir_ofd.is_dir = true;
	cr_expect_eq(shim_classify(7, "c", &p), 1);
	cr_expect_str_eq(p.rel, "a/b/c");
	cr_expect_eq(shim_classify(7, "/out/x/q", &p), 1);
	cr_expect_str_eq(p.rel, "q");
	dir_ofd.is_dir = false;
	cr_expect_eq(shim_classify(7, "c", &p), -1);
	cr_expect_eq(errno, ENOTDIR);
	/* a local dirfd with no way up stays local; with .. it is resolved */
	cr_expect_eq(shim_classify(3, "x", &p), 0);
	cr_expect_eq(shim_classify(3, "../../data/z", &p), 1);
	cr_expect_str_eq(p.rel, "z");
}

Test(paths, classify_too_long)
{
	struct shim_path p;
	char *big = malloc(PATH_MAX + 10);

	memset(big, 'a', PATH_MAX + 9);
	big[0] = '/';
	big[PATH_MAX + 9] = 0;
	cr_expect_eq(shim_classify(AT_FDCWD, big, &p), -1);
	cr_expect_eq(errno, ENAMETOOLONG);
	free(big);
}


/* ".." that climbs out of a mount leaves a local path: it never reaches a
 * server as an escape (the server would refuse it anyway). */
Test(paths, classify_dotdot_out_of_mount_is_local)
{
	struct shim_path p;

	cr_expect_eq(shim_classify(AT_FDCWD, "/data/sub/../../etc/passwd", &p), 2);
	cr_expect_str_eq(p.rel, "/etc/passwd");
	cr_expect_eq(shim_classify(AT_FDCWD, "/data/../../../etc/passwd", &p), 2);
	cr_expect_str_eq(p.rel, "/etc/passwd");
	cr_expect_eq(shim_classify(AT_FDCWD, "/data/a/../../data/b", &p), 1);
	cr_expect_str_eq(p.rel, "b");
}

/* fill n bytes with 99-byte components, NUL-terminated */
static void fill_comps(char *b, size_t n, char c)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (i % 100 == 99) ? '/' : c;
	b[n] = '\0';
}

/* A remote path is at most 4095 bytes, as the server (and the kernel's
 * PATH_MAX with its NUL) takes; a longer one is ENAMETOOLONG at the shim,
 * never a request the server must refuse. */
Test(paths, classify_remote_length_limit)
{
	static char cwd[2100], path[2200];
	struct shim_path p;

	strcpy(cwd, "/data/");
	fill_comps(cwd + 6, 1999, 'd'); /* rel of the cwd: 1999 bytes */
	shim_cwd_remote = strdup(cwd);
	fill_comps(path, 2095, 'p'); /* 1999 + '/' + 2095 = 4095 */
	cr_expect_eq(shim_classify(AT_FDCWD, path, &p), 1);
	cr_expect_eq(strlen(p.rel), 4095);
	fill_comps(path, 2096, 'p');
	cr_expect_eq(shim_classify(AT_FDCWD, path, &p), -1);
	cr_expect_eq(errno, ENAMETOOLONG);
	free(shim_cwd_remote);
	shim_cwd_remote = NULL;
}
