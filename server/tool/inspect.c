/* inspect.c - `ckpt inspect`: describe a joint checkpoint file or a process image, once every byte checked out. */
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
	"usage: ckpt inspect FILE\n"
	"       ckpt inspect --job NAME (--store ROOT | --state-dir DIR) [--generation N]\n"
	"\n"
	"Describe a joint checkpoint file (a server's gen-N.ckpt) or a process image\n"
	"(written with CKPT_IMAGE_FILE, or fetched by 'ckpt rollback'): the joint header\n"
	"and sections, the server's record of the job's files, and the image: program,\n"
	"registers, task, signals, fds, memory regions, and the backtrace of where the\n"
	"program was interrupted. Everything is checked first (sizes, counts, checksums);\n"
	"a corrupt or truncated file is reported in one line with exit status 1.\n"
	"\n"
	"  --job NAME        a job of a server's store, with:\n"
	"  --store ROOT      the server's --root (its state directory is ROOT/.ckpt-state)\n"
	"  --state-dir DIR   the server's --state-dir\n"
	"  --generation N    that generation (default: the newest in the store)\n";

/* Describe the file open as fd (name for messages). */
static int inspect_fd(int fd, const char *name)
{
	struct stat st;
	uint8_t magic[8];
	int rc = TOOL_EXIT_FAIL;

	if (fstat(fd, &st) < 0)
		return terr("%s: %s", name, strerror(errno)), tool_fail();
	if (!S_ISREG(st.st_mode))
		return terr("%s is not a regular file", name), tool_fail();
	if (st.st_size < 8)
		return terr("%s: %lld bytes are neither a joint checkpoint file nor a process image", name,
			    (long long)st.st_size),
		       tool_fail();
	if (read_at(fd, magic, sizeof(magic), 0) < 0)
		return terr("%s: cannot read it: %s", name, errno ? strerror(errno) : "it shrank"), tool_fail();
	if (!memcmp(magic, wire_ckf_magic, sizeof(magic))) {
		struct tjoint j;

		if (tjoint_load(&j, fd, (uint64_t)st.st_size, 1) == 0) {
			printf("file         ");
			put_text(stdout, name, strlen(name));
			printf("\n");
			tjoint_print(&j, stdout);
			rc = 0;
		} else {
			terr_prefix("%s", name);
			rc = tool_fail();
		}
		tjoint_free(&j);
	} else if (timg_magic(magic)) {
		struct timg im;

		if (timg_load(&im, fd, 0, (uint64_t)st.st_size) == 0) {
			printf("file         ");
			put_text(stdout, name, strlen(name));
			printf("\n");
			timg_print(&im, stdout);
			rc = 0;
		} else {
			terr_prefix("%s", name);
			rc = tool_fail();
		}
		timg_free(&im);
	} else {
		terr("%s is neither a joint checkpoint file nor a process image (unknown magic)", name);
		rc = tool_fail();
	}
	if (fflush(stdout) != 0 || ferror(stdout))
		return terr("cannot write the description: %s", strerror(errno)), tool_fail();
	return rc;
}

int cmd_inspect(int argc, char **argv)
{
	static const struct option opts[] = {
		{"job", required_argument, NULL, 'j'},	     {"store", required_argument, NULL, 's'},
		{"state-dir", required_argument, NULL, 'd'}, {"generation", required_argument, NULL, 'g'},
		{"help", no_argument, NULL, 'h'},	     {NULL, 0, NULL, 0},
	};
	const char *job = NULL, *store = NULL, *sdir = NULL, *gen_s = NULL, *file;
	char dir[WIRE_MAX_PATH + 32], path[WIRE_MAX_PATH + WIRE_MAX_JOB + 64];
	uint64_t gen = 0;
	int c, fd, rc;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'j': job = optarg; break;
		case 's': store = optarg; break;
		case 'd': sdir = optarg; break;
		case 'g': gen_s = optarg; break;
		case 'h': fputs(usage_text, stdout); return 0;
		default: return tool_usage("inspect", "unknown option or missing value: '%s'", argv[optind - 1]);
		}
	}
	if (!job) {
		if (store || sdir || gen_s)
			return tool_usage("inspect", "--store, --state-dir and --generation go with --job");
		if (optind != argc - 1)
			return tool_usage("inspect", optind == argc ? "name a FILE or a --job" : "one FILE only");
		file = argv[optind];
		fd = open(file, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return terr("cannot open %s: %s", file, strerror(errno)), tool_fail();
		rc = inspect_fd(fd, file);
		close(fd);
		return rc;
	}
	if (optind != argc)
		return tool_usage("inspect", "a FILE and --job exclude each other");
	if (!store == !sdir)
		return tool_usage("inspect", "--job needs one of --store ROOT or --state-dir DIR");
	if (wire_job_check(job, (uint32_t)strlen(job)))
		return tool_usage("inspect", "'%s' is not a job name (1 to 128 of A-Z a-z 0-9 . _ -, not starting with .)",
				  job);
	if (gen_s && (parse_u64(gen_s, &gen) || !gen))
		return tool_usage("inspect", "--generation wants a number from 1, not '%s'", gen_s);
	if (store_dir(dir, sizeof(dir), store, sdir) < 0)
		return tool_fail();
	{
		uint64_t *v;
		uint32_t n;
		char list[256];
		size_t k = 0;
		bool held = false;

		if (store_gens(dir, job, &v, &n) < 0)
			return tool_fail();
		list[0] = 0;
		for (uint32_t i = 0; i < n; i++) {
			held |= v[i] == gen;
			if (k + 24 < sizeof(list))
				k += (size_t)snprintf(list + k, sizeof(list) - k, "%s%" PRIu64, i ? ", " : "", v[i]);
		}
		if (!gen && n)
			gen = v[n - 1];
		free(v);
		if (!n)
			return terr("job %s has no generation in %s", job, dir), tool_fail();
		if (gen_s && !held)
			return terr("job %s has no generation %" PRIu64 " in %s (it has %s)", job, gen, dir, list),
			       tool_fail();
	}
	snprintf(path, sizeof(path), "%s/%s/gen-%" PRIu64 ".ckpt", dir, job, gen);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return terr("cannot open %s: %s", path, strerror(errno)), tool_fail();
	rc = inspect_fd(fd, path);
	close(fd);
	return rc;
}
