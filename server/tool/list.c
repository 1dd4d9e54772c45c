/* list.c - `ckpt list`: the jobs and generations a server keeps, asked over the wire or read from its store. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tool.h"
#include "joint.h"

static const char usage_text[] =
	"usage: ckpt list --server ADDR [--job NAME] [--timeout SECONDS]\n"
	"       ckpt list (--store ROOT | --state-dir DIR) [--job NAME]\n"
	"\n"
	"The checkpoints a server keeps: one line per generation of each job.\n"
	"\n"
	"  --server ADDR     ask a running ckpt-server (tcp:HOST:PORT or unix:PATH):\n"
	"                    job, generation, state (prepared or committed), image bytes\n"
	"  --store ROOT      read the store of a server whose --root is ROOT directly\n"
	"                    (its state directory ROOT/.ckpt-state)\n"
	"  --state-dir DIR   read the state directory DIR directly: job, generation, state,\n"
	"                    size of the joint file, and whether it checks out\n"
	"  --job NAME        that job only\n"
	"  --timeout S       seconds a server may take to answer (default 30)\n";

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The job names of a JOB_LIST reply, sorted, into *v. */
static int job_list(struct tconn *c, char ***v, uint32_t *n)
{
	struct wire_job_list_reply m;
	struct wire_str e;
	int rc = tconn_call(c, wire_enc_empty(c->req, WIRE_MAX_FRAME, WIRE_JOB_LIST, 0, tconn_id(c)));

	*v = NULL;
	*n = 0;
	if (rc < 0)
		return -1;
	if (rc > 0)
		return tconn_err(c);
	rc = wire_dec_job_list_reply(c->pl, c->plen, &m);
	if (rc)
		return terr("server %s sent a malformed JOB_LIST reply: %s", c->addr, wire_strerror(rc));
	*v = calloc(m.count ? m.count : 1, sizeof(**v));
	if (!*v)
		return terr("out of memory");
	while ((rc = wire_job_list_next(&m, &e)) == 1) {
		char *s = malloc(e.len + 1);

		if (!s) {
			store_jobs_free(*v, *n);
			return terr("out of memory");
		}
		memcpy(s, e.p, e.len);
		s[e.len] = 0;
		(*v)[(*n)++] = s;
	}
	if (rc < 0) {
		store_jobs_free(*v, *n);
		*v = NULL;
		*n = 0;
		return terr("server %s sent a malformed JOB_LIST reply: %s", c->addr, wire_strerror(rc));
	}
	qsort(*v, *n, sizeof(**v), cmp_str);
	return 0;
}

static int list_server(FILE *o, const char *addr, const char *job, double timeout)
{
	struct tconn c;
	char **jobs = NULL, *one[1];
	uint32_t njobs = 0;
	int rc = 0;

	if (job) {
		one[0] = (char *)job;
	} else {
		if (tconn_open(&c, addr, "", timeout) < 0 || job_list(&c, &jobs, &njobs) < 0) {
			tconn_close(&c);
			return tool_fail();
		}
		tconn_close(&c);
	}
	fprintf(o, "%-24s %10s  %-9s  %s\n", "JOB", "GENERATION", "STATE", "IMAGE_BYTES");
	for (uint32_t i = 0; i < (job ? 1 : njobs); i++) {
		const char *name = job ? one[0] : jobs[i];
		struct tgens g;

		if (tconn_open(&c, addr, name, timeout) < 0 || tconn_query(&c, &g) < 0) {
			tconn_close(&c);
			rc = tool_fail();
			break;
		}
		tconn_close(&c);
		if (!g.n)
			fprintf(o, "%-24s %10s  %-9s  %s\n", name, "-", "none", "-");
		for (uint32_t k = 0; k < g.n; k++)
			fprintf(o, "%-24s %10" PRIu64 "  %-9s  %" PRIu64 "\n", name, g.v[k].gen,
			       g.v[k].state == WIRE_GEN_COMMITTED ? "committed" : "prepared", g.v[k].image_size);
		tgens_free(&g);
	}
	store_jobs_free(jobs, njobs);
	return rc;
}

/* Check one joint file; why gets "ok" or the reason it does not check out. */
static uint64_t check_file(const char *path, char *why, size_t cap)
{
	struct tjoint j;
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st) < 0) {
		snprintf(why, cap, "unreadable: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return 0;
	}
	if (tjoint_load(&j, fd, (uint64_t)st.st_size, 1) == 0)
		snprintf(why, cap, "ok");
	else
		snprintf(why, cap, "BAD: %s", tool_err);
	tjoint_free(&j);
	close(fd);
	return (uint64_t)st.st_size;
}

static int list_store(FILE *o, const char *dir, const char *job)
{
	char **jobs = NULL, *one[1];
	uint32_t njobs = 0;
	int rc = 0;

	if (job) {
		one[0] = (char *)job;
	} else if (store_jobs(dir, &jobs, &njobs) < 0) {
		return tool_fail();
	}
	fprintf(o, "%-24s %10s  %-9s  %12s  %s\n", "JOB", "GENERATION", "STATE", "FILE_BYTES", "CHECK");
	for (uint32_t i = 0; i < (job ? 1 : njobs); i++) {
		const char *name = job ? one[0] : jobs[i];
		uint64_t *v, committed = store_committed(dir, name);
		uint32_t n;

		if (store_gens(dir, name, &v, &n) < 0) {
			rc = tool_fail();
			break;
		}
		if (!n)
			fprintf(o, "%-24s %10s  %-9s  %12s  %s\n", name, "-", "none", "-", "-");
		for (uint32_t k = 0; k < n; k++) {
			char path[WIRE_MAX_PATH + WIRE_MAX_JOB + 64], why[sizeof(tool_err) + 8];
			uint64_t size;

			snprintf(path, sizeof(path), "%s/%s/gen-%" PRIu64 ".ckpt", dir, name, v[k]);
			size = check_file(path, why, sizeof(why));
			fprintf(o, "%-24s %10" PRIu64 "  %-9s  %12" PRIu64 "  %s\n", name, v[k],
			       v[k] == committed ? "committed" : "prepared", size, why);
		}
		free(v);
	}
	store_jobs_free(jobs, njobs);
	return rc;
}

int cmd_list(int argc, char **argv)
{
	static const struct option opts[] = {
		{"server", required_argument, NULL, 'S'},    {"job", required_argument, NULL, 'j'},
		{"store", required_argument, NULL, 's'},     {"state-dir", required_argument, NULL, 'd'},
		{"timeout", required_argument, NULL, 't'},   {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *server = NULL, *job = NULL, *store = NULL, *sdir = NULL;
	char dir[WIRE_MAX_PATH + 32];
	double timeout = 30;
	char *text_out = NULL;
	size_t text_len = 0;
	FILE *o;
	int c, nsrc, rc;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'S':
			if (server)
				return tool_usage("list", "one --server at a time");
			server = optarg;
			break;
		case 'j': job = optarg; break;
		case 's': store = optarg; break;
		case 'd': sdir = optarg; break;
		case 't':
			if (parse_seconds(optarg, &timeout) < 0)
				return tool_usage("list", "--timeout wants a number of seconds, not '%s'", optarg);
			break;
		case 'h': fputs(usage_text, stdout); return 0;
		default: return tool_usage("list", "unknown option or missing value: '%s'", argv[optind - 1]);
		}
	}
	if (optind != argc)
		return tool_usage("list", "unexpected argument '%s'", argv[optind]);
	nsrc = !!server + !!store + !!sdir;
	if (nsrc != 1)
		return tool_usage("list", nsrc ? "one of --server, --store, --state-dir, not several"
					       : "say where: --server ADDR, --store ROOT or --state-dir DIR");
	if (job && wire_job_check(job, (uint32_t)strlen(job)))
		return tool_usage("list", "'%s' is not a job name (1 to 128 of A-Z a-z 0-9 . _ -, not starting with .)",
				  job);
	if (server && check_addr(server) < 0)
		return tool_usage("list", "%s", tool_err);
	if (!server && store_dir(dir, sizeof(dir), store, sdir) < 0)
		return tool_fail();
	/* the table is printed whole, or not at all */
	o = open_memstream(&text_out, &text_len);
	if (!o)
		return terr("out of memory"), tool_fail();
	rc = server ? list_server(o, server, job, timeout) : list_store(o, dir, job);
	if (fclose(o) != 0 && !rc)
		rc = terr("out of memory"), tool_fail();
	if (!rc && (fwrite(text_out, 1, text_len, stdout) != text_len || fflush(stdout) != 0))
		rc = terr("cannot write the list: %s", strerror(errno)), tool_fail();
	free(text_out);
	return rc;
}
