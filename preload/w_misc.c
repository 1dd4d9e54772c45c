/* w_misc.c - wrappers at process boundaries (exec, spawn, exit) and mmap of remote files.
 *
 * Write-behind buffers are flushed before the image is replaced or the
 * process ends, so a child or a later reader sees every write. A remote file
 * can be mapped MAP_PRIVATE (served by copying its bytes into anonymous
 * memory); shared mappings of remote files fail with ENODEV.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "shim.h"

extern char **environ;


void shim_flush_before_exec(void)
{
	INIT();
	if (!shim_nmounts)
		return;
	SHIM_KEEP_ERRNO(shim_lock(); shim_before_child(); shim_unlock());
}

/* Flush, share the cursors and describe the surviving remote fds; returns
 * the CKPT_FDS value (malloc'd) or NULL if no remote fd survives. */
static char *prepare_exec(void)
{
	char *spec;

	INIT();
	if (!shim_nmounts)
		return NULL;
	shim_lock();
	shim_before_child();
	shim_share_cursors();
	spec = shim_fds_env();
	shim_unlock();
	return spec;
}

/* "NAME=value", malloc'd. */
static char *env_entry(const char *name, const char *value)
{
	char *e = malloc(strlen(name) + strlen(value) + 2);

	if (e)
		sprintf(e, "%s=%s", name, value);
	return e;
}

/* envp without CKPT_FDS and CKPT_CWD, then CKPT_FDS=spec if spec and
 * CKPT_CWD=<remote cwd> if the cwd is remote. *nbase is the number of
 * entries copied from envp; the ones after it are ours (free_env frees
 * them). NULL on ENOMEM. */
static char **exec_env(char *const envp[], const char *spec, size_t *nbase)
{
	size_t n = 0, k = 0;
	char **v;

	while (envp && envp[n])
		n++;
	v = calloc(n + 3, sizeof(*v));
	if (!v)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (strncmp(envp[i], "CKPT_FDS=", 9) && strncmp(envp[i], "CKPT_CWD=", 9))
			v[k++] = envp[i];
	*nbase = k;
	if (spec && !(v[k++] = env_entry("CKPT_FDS", spec)))
		goto nomem;
	shim_lock();
	if (shim_cwd_remote && !(v[k++] = env_entry("CKPT_CWD", shim_cwd_remote))) {
		shim_unlock();
		goto nomem;
	}
	shim_unlock();
	return v;
nomem:
	for (size_t i = *nbase; i < k; i++)
		free(v[i]);
	free(v);
	return NULL;
}

static void free_env(char **v, size_t nbase)
{
	for (size_t i = nbase; v[i]; i++)
		free(v[i]);
	free(v);
}

/* Run an exec-like call with the environment adjusted. */
#define WITH_ENV(envp_in, call)                                         \
	do {                                                            \
		char *spec_ = prepare_exec();                           \
		char **env_;                                            \
		size_t nbase_;                                          \
		int rc_;                                                \
		if (!shim_nmounts) {                                    \
			env_ = (char **)(envp_in);                      \
			return call;                                    \
		}                                                       \
		env_ = exec_env(envp_in, spec_, &nbase_);               \
		if (!env_) {                                            \
			free(spec_);                                    \
			return errno = ENOMEM, -1;                      \
		}                                                       \
		rc_ = call;                                             \
		SHIM_KEEP_ERRNO(free_env(env_, nbase_); free(spec_));   \
		return rc_;                                             \
	} while (0)

SHIM_EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
	WITH_ENV(envp, real_execve(path, argv, env_));
}

SHIM_EXPORT int execveat(int dirfd, const char *path, char *const argv[], char *const envp[],
			 int flags)
{
	WITH_ENV(envp, real_execveat(dirfd, path, argv, env_, flags));
}

SHIM_EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
	INIT();
	if (shim_nmounts && shim_fd_is_remote(fd)) {
		shim_log("fexecve of a remote file is not supported");
		return errno = ENOEXEC, -1;
	}
	WITH_ENV(envp, real_fexecve(fd, argv, env_));
}

SHIM_EXPORT int execv(const char *path, char *const argv[])
{
	WITH_ENV(environ, real_execve(path, argv, env_));
}

SHIM_EXPORT int execvp(const char *file, char *const argv[])
{
	WITH_ENV(environ, real_execvpe(file, argv, env_));
}

SHIM_EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
	WITH_ENV(envp, real_execvpe(file, argv, env_));
}

/* The execl family: collect the arguments, then the matching execv call. */
static char **collect(const char *arg0, va_list ap, char ***envp)
{
	size_t n = 1, cap = 16;
	char **v = malloc(cap * sizeof(*v));
	char *a;

	if (!v)
		return NULL;
	v[0] = (char *)arg0;
	if (arg0) {
		while ((a = va_arg(ap, char *))) {
			if (n + 2 > cap) {
				char **nv = realloc(v, (cap *= 2) * sizeof(*v));

				if (!nv) {
					free(v);
					return NULL;
				}
				v = nv;
			}
			v[n++] = a;
		}
	}
	v[n] = NULL;
	if (envp)
		*envp = va_arg(ap, char **);
	return v;
}

SHIM_EXPORT int execl(const char *path, const char *arg, ...)
{
	va_list ap;
	char **v;
	int rc;

	va_start(ap, arg);
	v = collect(arg, ap, NULL);
	va_end(ap);
	if (!v)
		return errno = ENOMEM, -1;
	rc = execv(path, v);
	SHIM_KEEP_ERRNO(free(v));
	return rc;
}

SHIM_EXPORT int execlp(const char *file, const char *arg, ...)
{
	va_list ap;
	char **v;
	int rc;

	va_start(ap, arg);
	v = collect(arg, ap, NULL);
	va_end(ap);
	if (!v)
		return errno = ENOMEM, -1;
	rc = execvp(file, v);
	SHIM_KEEP_ERRNO(free(v));
	return rc;
}

SHIM_EXPORT int execle(const char *path, const char *arg, ...)
{
	va_list ap;
	char **v, **envp = NULL;
	int rc;

	va_start(ap, arg);
	v = collect(arg, ap, &envp);
	va_end(ap);
	if (!v)
		return errno = ENOMEM, -1;
	rc = execve(path, v, envp);
	SHIM_KEEP_ERRNO(free(v));
	return rc;
}

SHIM_EXPORT int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
			    const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	int rc;

	INIT();
	rc = shim_spawn(pid, path, false, fa, attr, argv, envp);
	if (rc >= 0)
		return rc;
	WITH_ENV(envp, real_posix_spawn(pid, path, fa, attr, argv, env_));
}

SHIM_EXPORT int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
			     const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	int rc;

	INIT();
	rc = shim_spawn(pid, file, true, fa, attr, argv, envp);
	if (rc >= 0)
		return rc;
	WITH_ENV(envp, real_posix_spawnp(pid, file, fa, attr, argv, env_));
}

/* system and popen take the environment from environ: set CKPT_FDS there
 * for the duration of the call. */
static void env_swap(const char *spec)
{
	if (spec)
		setenv("CKPT_FDS", spec, 1);
	else
		unsetenv("CKPT_FDS");
	shim_lock();
	if (shim_cwd_remote)
		setenv("CKPT_CWD", shim_cwd_remote, 1);
	else
		unsetenv("CKPT_CWD");
	shim_unlock();
}

SHIM_EXPORT int system(const char *cmd)
{
	char *spec = prepare_exec();
	int rc;

	env_swap(spec);
	rc = real_system(cmd);
	SHIM_KEEP_ERRNO(unsetenv("CKPT_FDS"); unsetenv("CKPT_CWD"); free(spec));
	return rc;
}

SHIM_EXPORT FILE *popen(const char *cmd, const char *mode)
{
	char *spec = prepare_exec();
	FILE *fp;

	env_swap(spec);
	fp = real_popen(cmd, mode);
	SHIM_KEEP_ERRNO(unsetenv("CKPT_FDS"); unsetenv("CKPT_CWD"); free(spec));
	return fp;
}

/* vfork's child borrows the parent's memory until it execs or exits, and the
 * shim's tables live in that memory: a child that closes or dup2s a remote
 * fd (Python's subprocess does both, through close_range and dup2) would
 * change them under the parent, whose remote fds would then be gone. As
 * POSIX allows, vfork is a fork here, with the fork handlers (buffers
 * flushed, cursors shared). A wrapper could not call the real vfork anyway:
 * its child would return through, and reuse, the stack frame the parent
 * still needs. */
SHIM_EXPORT pid_t vfork(void)
{
	return fork();
}

SHIM_EXPORT void _exit(int status)
{
	shim_flush_before_exec();
	real__exit(status);
	__builtin_unreachable();
}

SHIM_EXPORT void _Exit(int status)
{
	shim_flush_before_exec();
	real__Exit(status);
	__builtin_unreachable();
}

/* ---- mmap -------------------------------------------------------------------------------------- */

static void *map_remote(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	struct shim_ofd *o;
	long pg = sysconf(_SC_PAGESIZE);
	void *p;
	size_t done = 0;

	if ((flags & MAP_TYPE) != MAP_PRIVATE) {
		shim_log("mmap of remote file fd %d with MAP_SHARED is not supported (only MAP_PRIVATE); "
			 "failing with ENODEV", fd);
		return errno = ENODEV, MAP_FAILED;
	}
	if (!len || off < 0 || (off & (pg - 1)))
		return errno = EINVAL, MAP_FAILED;
	shim_lock();
	o = shim_fd_get(fd);
	if (!o || (o->flags & O_PATH)) {
		shim_unlock();
		return errno = EBADF, MAP_FAILED;
	}
	if ((o->flags & O_ACCMODE) == O_WRONLY || o->is_dir) {
		shim_unlock();
		return errno = o->is_dir ? ENODEV : EACCES, MAP_FAILED;
	}
	p = real_mmap(addr, len, PROT_READ | PROT_WRITE,
		      (flags & ~(MAP_TYPE | MAP_POPULATE | MAP_NONBLOCK | MAP_HUGETLB)) | MAP_PRIVATE |
			      MAP_ANONYMOUS,
		      -1, 0);
	if (p == MAP_FAILED) {
		shim_unlock();
		return MAP_FAILED;
	}
	while (done < len) {
		ssize_t k = shim_ofd_pread(o, (char *)p + done, len - done, off + (off_t)done);

		if (k < 0) {
			int err = errno;

			munmap(p, len);
			shim_unlock();
			return errno = err, MAP_FAILED;
		}
		if (k == 0)
			break;
		done += (size_t)k;
	}
	shim_unlock();
	if (mprotect(p, len, prot) < 0) {
		int err = errno;

		munmap(p, len);
		return errno = err, MAP_FAILED;
	}
	return p;
}

SHIM_EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	INIT();
	if (shim_nmounts && !(flags & MAP_ANONYMOUS) && shim_fd_is_remote(fd))
		return map_remote(addr, len, prot, flags, fd, off);
	return real_mmap(addr, len, prot, flags, fd, off);
}

SHIM_EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return mmap(addr, len, prot, flags, fd, off);
}
