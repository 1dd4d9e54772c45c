/* handles.c - per-session handle table: slot + generation, stale handles are EBADF. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "handles.h"

#define FIRST_SLOTS 16u

void srv_handles_init(struct srv_handles *t, uint32_t max)
{
	memset(t, 0, sizeof(*t));
	/* Slot index + 1 must fit in 32 bits with 0 left for "no handle". */
	t->max = max > UINT32_MAX - 1 ? UINT32_MAX - 1 : max;
}

static int grow(struct srv_handles *t)
{
	uint32_t n = t->nslots ? t->nslots * 2 : FIRST_SLOTS;
	struct srv_handle *v;

	if (n > t->max || n < t->nslots)
		n = t->max;
	if (n <= t->nslots)
		return -EMFILE;
	v = realloc(t->slot, (size_t)n * sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (uint32_t i = t->nslots; i < n; i++) {
		memset(&v[i], 0, sizeof(v[i]));
		v[i].fd = -1;
		v[i].gen = 1;
		v[i].next_free = i + 1 < n ? i + 2 : t->free_head;
	}
	t->free_head = t->nslots + 1;
	t->slot = v;
	t->nslots = n;
	return 0;
}

uint64_t srv_handles_add(struct srv_handles *t, int fd, uint32_t wflags, const char *path,
			 struct srv_handle **out)
{
	struct srv_handle *h;
	uint32_t idx;
	char *copy;

	if (t->used >= t->max) {
		errno = EMFILE;
		return 0;
	}
	if (!t->free_head) {
		int r = grow(t);
		if (r < 0) {
			errno = -r;
			return 0;
		}
	}
	copy = strdup(path ? path : "");
	if (!copy) {
		errno = ENOMEM;
		return 0;
	}
	idx = t->free_head - 1;
	h = &t->slot[idx];
	t->free_head = h->next_free;
	h->next_free = 0;
	h->fd = fd;
	h->wflags = wflags;
	h->append = 0;
	h->regular = 0;
	h->is_dir = 0;
	h->opath = 0;
	h->dir = NULL;
	h->path = copy;
	t->used++;
	if (out)
		*out = h;
	return (uint64_t)h->gen << 32 | (uint64_t)(idx + 1);
}

struct srv_handle *srv_handles_get(struct srv_handles *t, uint64_t handle)
{
	uint32_t idx1 = (uint32_t)(handle & 0xffffffffu);
	uint32_t gen = (uint32_t)(handle >> 32);
	struct srv_handle *h;

	if (idx1 == 0 || idx1 > t->nslots)
		return NULL;
	h = &t->slot[idx1 - 1];
	if (h->fd < 0 || h->gen != gen)
		return NULL;
	return h;
}

/* Close the entry's descriptors. 0 or -errno from close(2). */
static int close_fds(struct srv_handle *h)
{
	int r = 0;

	if (h->dir)
		closedir(h->dir); /* its own dup of fd */
	h->dir = NULL;
	if (close(h->fd) < 0 && errno != EINTR)
		r = -errno; /* Linux releases the fd even on EINTR */
	h->fd = -1;
	return r;
}

/* Put a closed entry's slot back on the free list, with a new generation. */
static void free_slot(struct srv_handles *t, struct srv_handle *h)
{
	free(h->path);
	h->path = NULL;
	h->fd = -1;
	if (++h->gen == 0)
		h->gen = 1;
	h->next_free = t->free_head;
	t->free_head = (uint32_t)(h - t->slot) + 1;
	t->used--;
}

int srv_handles_close(struct srv_handles *t, uint64_t handle)
{
	struct srv_handle *h = srv_handles_get(t, handle);
	int r;

	if (!h)
		return -EBADF;
	r = close_fds(h);
	free_slot(t, h);
	return r;
}

uint32_t srv_handles_close_all(struct srv_handles *t, int sync, srv_handles_report_fn *report,
			       void *ctx)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < t->nslots; i++) {
		struct srv_handle *h = &t->slot[i];
		int r;

		if (h->fd < 0)
			continue;
		/* EINVAL/EROFS: a special file or a read-only mount, nothing to flush. */
		if (sync && !h->opath && fsync(h->fd) < 0 && errno != EINVAL && errno != EROFS &&
		    report)
			report(ctx, h, "fsync", errno);
		r = close_fds(h);
		if (r < 0 && report)
			report(ctx, h, "close", -r);
		free_slot(t, h);
		n++;
	}
	return n;
}

void srv_handles_destroy(struct srv_handles *t)
{
	srv_handles_close_all(t, 0, NULL, NULL);
	free(t->slot);
	memset(t, 0, sizeof(*t));
}
