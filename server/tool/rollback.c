/* rollback.c - `ckpt rollback`: the fetch step of a restart: roll every server of a job back to one generation, fetch its image.
 *
 * DESIGN.md 4.5: the generation is the newest one every server holds (a
 * generation prepared everywhere is complete even if its commit was lost),
 * or the one asked for, which every server must hold. Each server rolls the
 * job's files back (ROLLBACK); their answers must agree on the image; the
 * image comes from the first server (IMAGE_READ) and must match its size and
 * XXH64 before it is written (FILE.tmp, then renamed). The file is not
 * fsync'd: it is a transient copy that ckpt-restore checks again (XXH64),
 * and the servers still hold the original, so after a crash the rollback is
 * simply repeated. The ckpt-restart script runs this and hands the file to
 * ckpt-restore.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "tool.h"

#define MAX_SERVERS 64
#define CHUNK (4u << 20) /* IMAGE_READ count: WIRE_MAX_DATA, within our max_frame */
#define BUSY_PAUSE_MS 200
#define PATH_CAP (WIRE_MAX_PATH + WIRE_MAX_JOB + 32) /* the image's path */

static const char usage_text[] =
	"usage: ckpt rollback --job NAME --server ADDR [--server ADDR]... [options]\n"
	"\n"
	"Roll a job's files on every server back to one generation and fetch its image:\n"
	"the restart's first step (ckpt-restart runs it, then ckpt-restore FILE).\n"
	"Prints 'job NAME: rolled back to generation G on K server(s); image N bytes' on\n"
	"stderr and the image's path on stdout.\n"
	"\n"
	"  --job NAME        the job\n"
	"  --server ADDR     every server of the job (tcp:HOST:PORT or unix:PATH)\n"
	"  --generation N    this generation, which every server must hold (default: the\n"
	"                    newest generation every server holds)\n"
	"  --output FILE     where to write the image (default RUNDIR/NAME.img)\n"
	"  --no-image        roll back only; print GENERATION and IMAGE_BYTES on stdout\n"
	"                    instead of fetching the image (a restart on the server's own\n"
	"                    machine reads it from the joint file: ckpt-restore --offset)\n"
	"  --run-dir DIR     RUNDIR (default $CKPT_RUN_DIR, else ${XDG_RUNTIME_DIR:-/tmp}/ckpt-UID)\n"
	"  --timeout S       seconds a server may take to answer (default 30)\n"
	"  --busy-wait S     seconds to wait for a server that still has the killed process's\n"
	"                    session open (EBUSY) before giving up (default 10)\n"
	"  --without ADDR    a server of the job that the operator has given up (lost for\n"
	"                    good): it is not contacted, and the others go back to the\n"
	"                    newest generation they all hold. Its files are NOT rolled back:\n"
	"                    the restarted program finds them as that server left them (or\n"
	"                    not at all, if it stays unreachable). Repeatable\n";

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool holds(const struct tgens *g, uint64_t gen)
{
	for (uint32_t i = 0; i < g->n; i++)
		if (g->v[i].gen == gen)
			return true;
	return false;
}

/* The newest generation below `below` (0: any) that every server holds; 0 if none. */
static uint64_t newest_common(const struct tgens *g, int n, uint64_t below)
{
	for (uint32_t i = g[0].n; i-- > 0;) {
		uint64_t gen = g[0].v[i].gen;
		int k;

		if (below && gen >= below)
			continue;
		for (k = 1; k < n && holds(&g[k], gen); k++)
			;
		if (k == n)
			return gen;
	}
	return 0;
}

/* type (ROLLBACK_CHECK or ROLLBACK) on c, retrying EBUSY until busy_ms has
 * passed: 0 with *r, or -1. */
static int roll_one(struct tconn *c, uint16_t type, uint64_t gen, double busy_s,
		    struct wire_rollback_reply *r, const struct tgens *g, int ng)
{
	int64_t until = now_ms() + (int64_t)(busy_s * 1000);
	struct wire_gen m = {gen};

	for (;;) {
		int rc = tconn_call(c, wire_enc_gen(c->req, WIRE_MAX_FRAME, type, tconn_id(c), &m));

		if (rc < 0)
			return -1;
		if (rc == 0) {
			rc = wire_dec_rollback_reply(c->pl, c->plen, r);
			if (rc)
				return terr("server %s sent a malformed ROLLBACK reply: %s", c->addr, wire_strerror(rc));
			if (r->gen != gen)
				return terr("server %s rolled back to generation %" PRIu64 " instead of %" PRIu64, c->addr,
					    r->gen, gen);
			return 0;
		}
		if (c->err == WIRE_ERRNO_EBUSY && now_ms() < until) {
			struct timespec ts = {0, BUSY_PAUSE_MS * 1000000L};

			nanosleep(&ts, NULL);
			continue;
		}
		tconn_err(c);
		if (c->err == WIRE_ERRNO_EBUSY) {
			size_t k = strlen(tool_err);

			snprintf(tool_err + k, sizeof(tool_err) - k,
				 "; still busy after %g s (stop the job's processes, or raise --busy-wait)", busy_s);
		}
		if (c->err == WIRE_ERRNO_EBADMSG) {
			uint64_t older = newest_common(g, ng, gen);
			size_t k = strlen(tool_err);

			if (older)
				snprintf(tool_err + k, sizeof(tool_err) - k,
					 "; every server also holds generation %" PRIu64 ": try --generation %" PRIu64,
					 older, older);
			else
				snprintf(tool_err + k, sizeof(tool_err) - k,
					 "; no older generation is held by every server");
		}
		return -1;
	}
}

/* IMAGE_READ the whole image of gen from c into fd, checking size and sum. */
static int fetch(struct tconn *c, uint64_t gen, uint64_t size, uint64_t sum, int fd, const char *tmp)
{
	XXH64_state_t st;
	uint64_t off = 0;

	XXH64_reset(&st, 0);
	while (off < size) {
		/* CHUNK + the reply's header fits our max_frame (WIRE_MAX_FRAME) */
		uint64_t want = size - off < CHUNK ? size - off : CHUNK;
		struct wire_image_read m = {gen, off, (uint32_t)want};
		struct wire_blob d;
		int rc;

		rc = tconn_call(c, wire_enc_image_read(c->req, WIRE_MAX_FRAME, tconn_id(c), &m));
		if (rc < 0)
			return -1;
		if (rc > 0)
			return tconn_err(c);
		rc = wire_dec_data_reply(c->pl, c->plen, &d);
		if (rc)
			return terr("server %s sent a malformed IMAGE_READ reply: %s", c->addr, wire_strerror(rc));
		if (d.len > want)
			return terr("server %s sent %u bytes of the image for %" PRIu64 " asked", c->addr, d.len, want);
		if (!d.len)
			return terr("server %s: the image of generation %" PRIu64 " ended at %" PRIu64 " of %" PRIu64
				    " bytes", c->addr, gen, off, size);
		XXH64_update(&st, d.p, d.len);
		for (size_t done = 0; done < d.len;) {
			ssize_t k = write(fd, d.p + done, d.len - done);

			if (k < 0 && errno == EINTR)
				continue;
			if (k < 0)
				return terr("cannot write %s: %s", tmp, strerror(errno));
			done += (size_t)k;
		}
		off += d.len;
	}
	if (XXH64_digest(&st) != sum)
		return terr("server %s: the image of generation %" PRIu64 " does not match its XXH64 checksum "
			    "(corrupted in transit or on the server)", c->addr, gen);
	return 0;
}

/* out.tmp (0600), the image, rename to out. */
static int write_image(struct tconn *c, uint64_t gen, uint64_t size, uint64_t sum, const char *out)
{
	char tmp[PATH_CAP + 8];
	int fd;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", out) >= (int)sizeof(tmp))
		return terr("output path too long");
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return terr("cannot create %s: %s", tmp, strerror(errno));
	if (fchmod(fd, 0600) < 0 || fetch(c, gen, size, sum, fd, tmp) < 0)
		goto fail;
	if (close(fd) < 0) {
		fd = -1;
		terr("cannot write %s: %s", tmp, strerror(errno));
		goto fail;
	}
	fd = -1;
	if (rename(tmp, out) < 0) {
		terr("cannot rename %s to %s: %s", tmp, out, strerror(errno));
		goto fail;
	}
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return -1;
}

int cmd_rollback(int argc, char **argv)
{
	static const struct option opts[] = {
		{"job", required_argument, NULL, 'j'},	      {"server", required_argument, NULL, 'S'},
		{"generation", required_argument, NULL, 'g'}, {"output", required_argument, NULL, 'o'},
		{"run-dir", required_argument, NULL, 'r'},    {"timeout", required_argument, NULL, 't'},
		{"busy-wait", required_argument, NULL, 'b'},  {"help", no_argument, NULL, 'h'},
		{"without", required_argument, NULL, 'W'},    {"no-image", no_argument, NULL, 'N'},
		{NULL, 0, NULL, 0},
	};
	const char *job = NULL, *servers[MAX_SERVERS], *without[MAX_SERVERS], *output = NULL, *rdir_opt = NULL, *gen_s = NULL;
	char out[PATH_CAP], list[512];
	struct tconn conns[MAX_SERVERS];
	struct tgens gens[MAX_SERVERS];
	struct wire_rollback_reply first = {0, 0, 0};
	double timeout = 30, busy = 10;
	uint64_t gen = 0;
	int c, ns = 0, nw = 0, nopen = 0, rc = TOOL_EXIT_FAIL, no_image = 0;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'j': job = optarg; break;
		case 'S':
			if (ns == MAX_SERVERS)
				return tool_usage("rollback", "more than %d servers", MAX_SERVERS);
			if (check_addr(optarg) < 0)
				return tool_usage("rollback", "%s", tool_err);
			for (int k = 0; k < ns; k++)
				if (!strcmp(servers[k], optarg))
					return tool_usage("rollback", "--server %s given twice", optarg);
			servers[ns++] = optarg;
			break;
		case 'W':
			if (nw == MAX_SERVERS)
				return tool_usage("rollback", "more than %d --without", MAX_SERVERS);
			if (check_addr(optarg) < 0)
				return tool_usage("rollback", "%s", tool_err);
			without[nw++] = optarg;
			break;
		case 'g': gen_s = optarg; break;
		case 'o': output = optarg; break;
		case 'N': no_image = 1; break;
		case 'r': rdir_opt = optarg; break;
		case 't':
			if (parse_seconds(optarg, &timeout) < 0)
				return tool_usage("rollback", "--timeout wants a number of seconds, not '%s'", optarg);
			break;
		case 'b':
			if (strcmp(optarg, "0") && parse_seconds(optarg, &busy) < 0)
				return tool_usage("rollback", "--busy-wait wants a number of seconds, not '%s'", optarg);
			if (!strcmp(optarg, "0"))
				busy = 0;
			break;
		case 'h': fputs(usage_text, stdout); return 0;
		default: return tool_usage("rollback", "unknown option or missing value: '%s'", argv[optind - 1]);
		}
	}
	if (optind != argc)
		return tool_usage("rollback", "unexpected argument '%s'", argv[optind]);
	if (!job)
		return tool_usage("rollback", "--job NAME is required");
	if (wire_job_check(job, (uint32_t)strlen(job)))
		return tool_usage("rollback", "'%s' is not a job name (1 to 128 of A-Z a-z 0-9 . _ -, not starting with .)",
				  job);
	for (int k = 0; k < nw; k++)
		for (int i = 0; i < ns; i++)
			if (!strcmp(without[k], servers[i]))
				return tool_usage("rollback", "%s is given both as --server and --without", without[k]);
	if (!ns)
		return tool_usage("rollback", "name every server of the job with --server ADDR%s",
				  nw ? " (--without names only those given up)" : "");
	if (gen_s && (parse_u64(gen_s, &gen) || !gen))
		return tool_usage("rollback", "--generation wants a number from 1, not '%s'", gen_s);
	if (output) {
		if (strlen(output) > WIRE_MAX_PATH)
			return tool_usage("rollback", "--output path too long");
		snprintf(out, sizeof(out), "%s", output);
	} else {
		char rd[WIRE_MAX_PATH + 16];

		if (run_dir(rd, sizeof(rd), rdir_opt, NULL, 0, (unsigned)getuid()) < 0)
			return tool_fail();
		if (mkdir(rd, 0700) < 0 && errno != EEXIST)
			return terr("cannot create the run directory %s: %s", rd, strerror(errno)), tool_fail();
		snprintf(out, sizeof(out), "%s/%s.img", rd, job);
	}

	memset(gens, 0, sizeof(gens));
	for (nopen = 0; nopen < ns; nopen++) {
		if (tconn_open(&conns[nopen], servers[nopen], job, timeout) < 0) {
			/* tool_err names the server; say what the operator can do */
			size_t k = strlen(tool_err);

			snprintf(tool_err + k, sizeof(tool_err) - k,
				 "; nothing was rolled back (start that server again, or give it up "
				 "with --without %s: its files are then not rolled back)",
				 servers[nopen]);
			nopen++;
			goto done;
		}
		if (tconn_query(&conns[nopen], &gens[nopen]) < 0) {
			nopen++;
			goto done;
		}
	}
	for (int k = 0; k < ns; k++)
		if (!gens[k].n) {
			terr("server %s holds no generation of job %s", servers[k], job);
			goto done;
		}
	if (gen) {
		for (int k = 0; k < ns; k++)
			if (!holds(&gens[k], gen)) {
				terr("generation %" PRIu64 " of job %s is not held by server %s (it holds %s)", gen, job,
				     servers[k], tgens_list(&gens[k], list, sizeof(list)));
				goto done;
			}
	} else {
		gen = newest_common(gens, ns, 0);
		if (!gen) {
			size_t k = 0;

			for (int i = 0; i < ns && k + 64 < sizeof(list); i++) {
				char one[256];

				k += (size_t)snprintf(list + k, sizeof(list) - k, "%s%s: %s", i ? "; " : "", servers[i],
						      tgens_list(&gens[i], one, sizeof(one)));
			}
			terr("no generation of job %s is held by every server (%s)", job, list);
			goto done;
		}
	}
	/* Every server checks first (nothing changes), so that one that
	 * refuses leaves the others' files as they are. */
	for (int k = 0; k < ns; k++) {
		struct wire_rollback_reply r;

		if (roll_one(&conns[k], WIRE_ROLLBACK_CHECK, gen, busy, &r, gens, ns) < 0) {
			size_t n = strlen(tool_err);

			snprintf(tool_err + n, sizeof(tool_err) - n, "; nothing was rolled back");
			goto done;
		}
		if (!k) {
			first = r;
		} else if (r.image_size != first.image_size || r.image_xxh64 != first.image_xxh64) {
			terr("the servers disagree on the image of generation %" PRIu64 ": %s has %" PRIu64
			     " bytes (xxh64 %016" PRIx64 "), %s has %" PRIu64 " bytes (xxh64 %016" PRIx64
			     "); nothing was rolled back",
			     gen, servers[0], first.image_size, first.image_xxh64, servers[k], r.image_size,
			     r.image_xxh64);
			goto done;
		}
	}
	for (int k = 0; k < ns; k++) {
		struct wire_rollback_reply r;

		if (roll_one(&conns[k], WIRE_ROLLBACK, gen, busy, &r, gens, ns) < 0)
			goto done;
		if (!k) {
			first = r;
		} else if (r.image_size != first.image_size || r.image_xxh64 != first.image_xxh64) {
			terr("the servers disagree on the image of generation %" PRIu64 ": %s has %" PRIu64
			     " bytes (xxh64 %016" PRIx64 "), %s has %" PRIu64 " bytes (xxh64 %016" PRIx64 ")",
			     gen, servers[0], first.image_size, first.image_xxh64, servers[k], r.image_size,
			     r.image_xxh64);
			goto done;
		}
	}
	if (!no_image && write_image(&conns[0], gen, first.image_size, first.image_xxh64, out) < 0)
		goto done;
	fprintf(stderr, "job %s: rolled back to generation %" PRIu64 " on %d server(s); image %" PRIu64 " bytes\n",
		job, gen, ns, first.image_size);
	for (int k = 0; k < nw; k++)
		fprintf(stderr, "job %s: server %s given up (--without): its files are not rolled back; the "
			"restarted program finds them as that server left them\n", job, without[k]);
	if (no_image)
		printf("%" PRIu64 " %" PRIu64 "\n", gen, first.image_size);
	else
		printf("%s\n", out);
	rc = fflush(stdout) == 0 ? 0 : TOOL_EXIT_FAIL;
done:
	for (int k = 0; k < nopen; k++) {
		tconn_close(&conns[k]);
		tgens_free(&gens[k]);
	}
	if (rc)
		tool_fail();
	return rc;
}
