/* handles.h - a session's table of open files, addressed by opaque handles.
 *
 * A handle is (slot index + 1) | generation << 32. The generation of a slot
 * changes every time the slot is freed, so a stale or forged handle never
 * reaches another file: it is EBADF. Handle 0 is never valid. The table is
 * owned by one session thread and is not locked.
 */
#ifndef CKPT_SRV_HANDLES_H
#define CKPT_SRV_HANDLES_H

#include <dirent.h>
#include <stdint.h>

struct srv_handle {
	int fd;             /* -1 when the slot is free */
	uint32_t gen;       /* never 0 */
	uint32_t wflags;    /* WIRE_O_* the file was opened with */
	unsigned append:1;  /* the fd currently has O_APPEND set */
	unsigned regular:1; /* a regular file (reads may be looped) */
	unsigned no_splice:1; /* splice to a pipe failed: copy reads */
	unsigned is_dir:1;
	unsigned opath:1;   /* opened with O_PATH: no I/O, no fsync */
	DIR *dir;           /* READDIR stream on a dup of fd, made lazily */
	char *path;         /* root-relative path it was opened by (owned) */
	uint32_t next_free;
};

struct srv_handles {
	struct srv_handle *slot;
	uint32_t nslots; /* allocated slots */
	uint32_t used;   /* open handles */
	uint32_t max;    /* most open handles allowed */
	uint32_t free_head; /* index + 1 of the first free slot, 0 = none */
};

void srv_handles_init(struct srv_handles *t, uint32_t max);

/* Take ownership of fd (on success only) and return its new nonzero handle,
 * or 0 with errno EMFILE (table full) or ENOMEM. path is copied; *out (if not
 * NULL) points at the new entry, valid until the table changes. */
uint64_t srv_handles_add(struct srv_handles *t, int fd, uint32_t wflags, const char *path,
			 struct srv_handle **out);

/* The entry for handle, or NULL (stale, forged, or closed). */
struct srv_handle *srv_handles_get(struct srv_handles *t, uint64_t handle);

/* Close handle. 0, -EBADF for an unknown handle, or -errno from close(2)
 * (the handle is released either way). */
int srv_handles_close(struct srv_handles *t, uint64_t handle);

/* Called by srv_handles_close_all for a failed fsync or close. */
typedef void srv_handles_report_fn(void *ctx, const struct srv_handle *h, const char *op, int err);

/* Close every open handle, after an fsync of each if sync is set (shutdown).
 * Failures go to report (may be NULL). Returns how many were closed. */
uint32_t srv_handles_close_all(struct srv_handles *t, int sync, srv_handles_report_fn *report,
			       void *ctx);

/* Close everything (no sync) and free the table. */
void srv_handles_destroy(struct srv_handles *t);

#endif
