/* resolve.h - root-relative path validation and resolution beneath the root.
 *
 * Every path a client sends is relative to the export root. It is first
 * checked as a string (srv_path_check), then resolved by the kernel with
 * openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS) relative to the root fd,
 * so no symlink, ".." or magic link can lead out of the root: the kernel
 * refuses with EXDEV (a magic link too: its ELOOP is told from a symlink
 * loop's and turned into EXDEV). Where openat2 is missing a
 * userspace walk gives the same answers (srv_resolve_use_fallback). Callers
 * turn -EXDEV from these functions into EACCES for the client and log the
 * escape attempt.
 */
#ifndef CKPT_SRV_RESOLVE_H
#define CKPT_SRV_RESOLVE_H

#include <stddef.h>
#include <sys/types.h>

#include "wire.h"

/* Size of a buffer that holds any valid path plus its NUL. */
#define SRV_PATH_BUF (WIRE_MAX_PATH + 1)

/* Check the len bytes at p (not NUL-terminated) as a root-relative path:
 * no leading '/', no "." or ".." component, no empty component (no "//",
 * no trailing '/'), no NUL byte, shorter than WIRE_MAX_PATH bytes (the
 * kernel's PATH_MAX counts the NUL), every component at most WIRE_MAX_NAME
 * bytes. The empty path (the root itself) is valid.
 * Returns 0 and copies the path NUL-terminated into out (SRV_PATH_BUF bytes),
 * or -EACCES (absolute, ".."), -EINVAL (malformed) or -ENAMETOOLONG; then
 * *why (if why is not NULL) is a short static reason for the log. */
int srv_path_check(const char *p, size_t len, char *out, const char **why);

/* Check once at startup (before any session) that paths resolve beneath
 * root_fd. Returns 0 with openat2, 1 if openat2 is missing (a kernel before
 * 5.6, or qemu-user) and the userspace resolver was switched on, or -errno. */
int srv_resolve_probe(int root_fd);

/* Use the userspace resolver instead of openat2 (tests; set before any
 * session runs). It walks one component at a time with O_PATH|O_NOFOLLOW,
 * expands symlinks as text (an absolute target is an escape: -EXDEV), and
 * takes ".." off its own stack of directories, never above the root. Like
 * RESOLVE_BENEATH it never reaches a file outside the root by name; unlike
 * it, it cannot notice a directory being renamed out of the root while a
 * request walks through it. */
void srv_resolve_use_fallback(int on);

/* openat2(root_fd, path, flags, mode, RESOLVE_BENEATH|RESOLVE_NO_MAGICLINKS)
 * for a checked path ("" opens the root itself). flags are host O_* flags
 * (O_CLOEXEC is added); mode is used only with O_CREAT. Retries
 * EINTR and EAGAIN (a racing rename). Returns the new fd or -errno; -EXDEV
 * means the path leads out of the root, or through a magic link (-ELOOP is
 * left for symlink loops and O_NOFOLLOW on a link). */
int srv_resolve_open(int root_fd, const char *path, int flags, mode_t mode);

/* Resolve the parent directory of a checked, non-empty path for an *at call
 * on its last component. Returns a directory fd (O_PATH) or -errno (-EXDEV:
 * escape), and sets *base to the last component inside path. The fd is
 * root_fd itself when the path has a single component: release it with
 * srv_resolve_release(), never close() it directly. */
int srv_resolve_parent(int root_fd, const char *path, const char **base);
void srv_resolve_release(int root_fd, int dir_fd);

#endif
