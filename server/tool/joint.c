/* joint.c - check and describe joint checkpoint files; read a server's store directory. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tool.h"
#include "joint.h"

#define STATE_MAX (64u << 20) /* a SERVER_STATE section larger than this is not real */

static int truncated(uint64_t size)
{
	return terr("the joint file is truncated (%" PRIu64 " bytes)", size);
}

static const char *sect_name(uint16_t type)
{
	switch (type) {
	case WIRE_CKF_CLIENT_IMAGE: return "client-image";
	case WIRE_CKF_SERVER_STATE: return "server-state";
	}
	return "unknown";
}

int tjoint_load(struct tjoint *j, int fd, uint64_t size, int image)
{
	uint8_t pre[WIRE_CKF_PREFIX], trailer[WIRE_CKF_TRAILER];
	const struct wire_ckf_section *img, *st;
	uint32_t hs;
	uint64_t fs;
	int rc;

	memset(j, 0, sizeof(*j));
	j->size = size;
	if (size < WIRE_CKF_PREFIX)
		return truncated(size);
	if (read_at(fd, pre, sizeof(pre), 0) < 0)
		return errno ? terr("cannot read it: %s", strerror(errno)) : truncated(size);
	rc = wire_ckf_prefix(pre, sizeof(pre), &hs, &fs);
	if (rc)
		return terr("the joint file is corrupt: %s", wire_ckf_strerror(rc));
	if (size < hs)
		return truncated(size);
	j->hdr = malloc(hs);
	if (!j->hdr)
		return terr("out of memory");
	if (read_at(fd, j->hdr, hs, 0) < 0)
		return errno ? terr("cannot read it: %s", strerror(errno)) : truncated(size);
	rc = wire_ckf_parse_header(j->hdr, hs, size, &j->h);
	if (rc == WIRE_CKF_ESIZE)
		return terr("the joint file is corrupt: it has %" PRIu64 " bytes, its header says %" PRIu64
			    " (truncated or grown)", size, fs);
	if (rc)
		return terr("the joint file is corrupt: %s", wire_ckf_strerror(rc));
	if (read_at(fd, trailer, sizeof(trailer), size - WIRE_CKF_TRAILER) < 0)
		return errno ? terr("cannot read it: %s", strerror(errno)) : truncated(size);
	rc = wire_ckf_check_trailer(trailer, sizeof(trailer), j->hdr, &j->h);
	if (rc)
		return terr("the joint file is corrupt: %s", wire_ckf_strerror(rc));
	for (uint16_t i = 0; i < j->h.nsections; i++) {
		const struct wire_ckf_section *s = &j->h.sect[i];
		uint64_t sum;

		if (hash_range(fd, s->offset, s->length, &sum) < 0)
			return errno ? terr("cannot read it: %s", strerror(errno)) : truncated(size);
		if (sum != s->xxh64)
			return terr("the joint file is corrupt: %s (the %s section, type %u)",
				    wire_ckf_strerror(WIRE_CKF_ESECTSUM), sect_name(s->type), s->type);
	}
	st = wire_ckf_find(&j->h, WIRE_CKF_SERVER_STATE);
	img = wire_ckf_find(&j->h, WIRE_CKF_CLIENT_IMAGE);
	if (!st || !img) /* the parser requires both; never trust that twice */
		return terr("the joint file is corrupt: %s", wire_ckf_strerror(WIRE_CKF_ESECTION));
	if (st->length > STATE_MAX)
		return terr("the joint file is corrupt: a server state of %" PRIu64 " bytes", st->length);
	j->state_len = (size_t)st->length;
	j->state = malloc(j->state_len ? j->state_len : 1);
	if (!j->state)
		return terr("out of memory");
	if (read_at(fd, j->state, j->state_len, st->offset) < 0)
		return errno ? terr("cannot read it: %s", strerror(errno)) : truncated(size);
	rc = wire_ckf_state_dec(j->state, j->state_len, &j->st);
	if (rc)
		return terr("the joint file is corrupt: %s", wire_ckf_strerror(rc));
	if (image && timg_load(&j->img, fd, img->offset, img->length) < 0)
		return terr_prefix("its client image");
	return 0;
}

void tjoint_free(struct tjoint *j)
{
	free(j->hdr);
	free(j->state);
	timg_free(&j->img);
	memset(j, 0, sizeof(*j));
}

static const char *bo_name(uint8_t bo)
{
	return bo == WIRE_BO_LITTLE ? "little-endian" : bo == WIRE_BO_BIG ? "big-endian" : "?";
}

static void put_wstr(FILE *o, struct wire_str s)
{
	put_text(o, s.p, s.len);
}

/* Wire open flags (PROTOCOL.md 6.2) in words. */
static void put_wflags(FILE *o, uint32_t f)
{
	static const struct {
		uint32_t bit;
		const char *name;
	} names[] = {
		{WIRE_O_CREAT, "creat"},	 {WIRE_O_EXCL, "excl"},	    {WIRE_O_TRUNC, "trunc"},
		{WIRE_O_APPEND, "append"},	 {WIRE_O_DIRECTORY, "directory"}, {WIRE_O_NOFOLLOW, "nofollow"},
		{WIRE_O_SYNC, "sync"},	 {WIRE_O_DSYNC, "dsync"},	    {WIRE_O_PATH, "path"},
		{WIRE_O_NOATIME, "noatime"},
	};
	static const char *const acc[4] = {"r", "w", "rw", "?"};

	fprintf(o, "%s", acc[f & WIRE_O_ACCMODE]);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (f & names[i].bit)
			fprintf(o, ",%s", names[i].name);
}

void tjoint_print(const struct tjoint *j, FILE *o)
{
	const struct wire_ckf_header *h = &j->h;
	struct wire_ckf_state st = j->st;
	struct wire_ckf_file f;
	char t[64];

	fprintf(o, "joint file   %" PRIu64 " bytes, format %u, header %u bytes, checksums check out\n", j->size,
		WIRE_CKF_VERSION, h->header_size);
	fprintf(o, "job          ");
	put_wstr(o, h->job);
	fprintf(o, ", generation %" PRIu64 "\n", h->gen);
	fprintf(o, "created      %s\n", fmt_time(t, sizeof(t), h->created_sec, h->created_nsec));
	fprintf(o, "client       ");
	put_wstr(o, h->client_arch);
	fprintf(o, ", %s, page size %u\n", bo_name(h->client_byte_order), h->client_page_size);
	fprintf(o, "server       ");
	put_wstr(o, h->server_arch);
	fprintf(o, ", %s, page size %u\n", bo_name(h->server_byte_order), h->server_page_size);
	fprintf(o, "sections     %u\n", h->nsections);
	for (uint16_t i = 0; i < h->nsections; i++) {
		const struct wire_ckf_section *s = &h->sect[i];

		fprintf(o, "  %-12s type %u offset %" PRIu64 " length %" PRIu64 " xxh64 %016" PRIx64 "\n",
			sect_name(s->type), s->type, s->offset, s->length, s->xxh64);
	}
	fprintf(o, "server state epoch %" PRIu64 ", previous generation %" PRIu64 ", %u file%s\n", st.epoch,
		st.prev_gen, st.count, st.count == 1 ? "" : "s");
	while (wire_ckf_state_next(&st, &f) == 1) {
		fprintf(o, "  ");
		put_wstr(o, f.path);
		fprintf(o, " size %" PRIu64 " mode %06o", f.size, f.mode);
		if (f.flags & WIRE_CKF_FILE_OPEN) {
			fprintf(o, " open ");
			put_wflags(o, f.open_flags);
		}
		if (f.flags & WIRE_CKF_FILE_CHANGED)
			fprintf(o, " changed");
		fprintf(o, "\n");
	}
	fprintf(o, "client image\n");
	timg_print(&j->img, o);
}

/* ---- a store directory ---------------------------------------------------------------------- */

uint64_t store_gen_of(const char *name)
{
	size_t n = strlen(name);
	uint64_t v = 0;

	if (n <= 9 || strncmp(name, "gen-", 4) || strcmp(name + n - 5, ".ckpt") || name[4] == '0')
		return 0;
	for (size_t i = 4; i < n - 5; i++) {
		unsigned d = (unsigned)(name[i] - '0');

		if (d > 9 || v > (UINT64_MAX - d) / 10)
			return 0;
		v = v * 10 + d;
	}
	return v;
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int store_gens(const char *state_dir, const char *job, uint64_t **v, uint32_t *n)
{
	char path[WIRE_MAX_PATH + WIRE_MAX_JOB + 8];
	struct dirent *e;
	uint32_t cap = 0;
	DIR *d;

	*v = NULL;
	*n = 0;
	snprintf(path, sizeof(path), "%s/%s", state_dir, job);
	d = opendir(path);
	if (!d) {
		if (errno == ENOENT)
			return terr("job %s has no checkpoints in %s", job, state_dir);
		return terr("cannot read %s: %s", path, strerror(errno));
	}
	while ((e = readdir(d))) {
		uint64_t g = store_gen_of(e->d_name);

		if (!g)
			continue;
		if (*n == cap) {
			uint64_t *t = realloc(*v, (cap = cap * 2 + 16) * sizeof(**v));

			if (!t) {
				closedir(d);
				free(*v);
				*v = NULL;
				return terr("out of memory");
			}
			*v = t;
		}
		(*v)[(*n)++] = g;
	}
	closedir(d);
	if (*n)
		qsort(*v, *n, sizeof(**v), u64_cmp);
	return 0;
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int store_jobs(const char *state_dir, char ***names, uint32_t *n)
{
	struct dirent *e;
	uint32_t cap = 0;
	DIR *d = opendir(state_dir);
	int dfd;

	*names = NULL;
	*n = 0;
	if (!d)
		return terr("cannot read the state directory %s: %s", state_dir, strerror(errno));
	dfd = dirfd(d);
	while ((e = readdir(d))) {
		struct stat sb;

		if (wire_job_check(e->d_name, (uint32_t)strlen(e->d_name)) ||
		    fstatat(dfd, e->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(sb.st_mode))
			continue;
		if (*n == cap) {
			char **t = realloc(*names, (cap = cap * 2 + 16) * sizeof(**names));

			if (!t)
				goto oom;
			*names = t;
		}
		if (!((*names)[*n] = strdup(e->d_name)))
			goto oom;
		(*n)++;
	}
	closedir(d);
	if (*n)
		qsort(*names, *n, sizeof(**names), str_cmp);
	return 0;
oom:
	closedir(d);
	store_jobs_free(*names, *n);
	*names = NULL;
	*n = 0;
	return terr("out of memory");
}

void store_jobs_free(char **names, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

uint64_t store_committed(const char *state_dir, const char *job)
{
	static const uint8_t magic[8] = {'C', 'K', 'P', 'T', 'C', 'M', 'T', '1'};
	char path[WIRE_MAX_PATH + WIRE_MAX_JOB + 16];
	uint8_t b[16];
	struct wire_rd r;
	int fd;
	uint64_t g = 0;

	snprintf(path, sizeof(path), "%s/%s/committed", state_dir, job);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	if (read_at(fd, b, sizeof(b), 0) == 0 && !memcmp(b, magic, 8)) {
		wire_rd_init(&r, b + 8, 8);
		g = wire_get_u64(&r);
	}
	close(fd);
	return g;
}

int store_dir(char *out, size_t cap, const char *store_root, const char *state_dir)
{
	int n;

	if (state_dir)
		n = snprintf(out, cap, "%s", state_dir);
	else
		n = snprintf(out, cap, "%s/.ckpt-state", store_root);
	if (n < 0 || (size_t)n >= cap || (size_t)n > WIRE_MAX_PATH)
		return terr("the state directory name is too long");
	return 0;
}
