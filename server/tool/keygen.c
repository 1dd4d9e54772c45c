/* keygen.c - `ckpt keygen`: a new server key, or the key of one job derived from it. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth.h"
#include "tool.h"

static const char usage_text[] =
	"usage: ckpt keygen FILE\n"
	"       ckpt keygen --job NAME --from SERVER_KEY FILE\n"
	"\n"
	"Write a key file (mode 0600; an existing FILE is never overwritten).\n"
	"\n"
	"  (no option)         a new random server key, for ckpt-server --key FILE; a\n"
	"                      client holding it (CKPT_KEY_FILE) may act for any job\n"
	"  --job NAME          the key of job NAME, derived from the server key\n"
	"  --from SERVER_KEY   the server key to derive it from; a client holding the\n"
	"                      job key reaches the server's files and only that job's\n"
	"                      checkpoints, and runs as job NAME\n";

/* Create path with the key line: O_EXCL, 0600 whatever the umask, fsync'd. */
static int write_key(const char *path, const struct wire_key *k)
{
	char line[256];
	long n = wire_key_format(line, sizeof(line), k);
	int fd, err;

	if (n < 0)
		return terr("cannot format the key");
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		err = errno;
		wire_auth_wipe(line, sizeof(line));
		if (err == EEXIST)
			return terr("%s exists; not overwriting a key (remove it first if you mean to)", path);
		return terr("%s: %s", path, strerror(err));
	}
	if (fchmod(fd, 0600) < 0 || write(fd, line, (size_t)n) != n || fsync(fd) < 0) {
		err = errno;
		wire_auth_wipe(line, sizeof(line));
		close(fd);
		unlink(path);
		return terr("%s: %s", path, strerror(err ? err : EIO));
	}
	wire_auth_wipe(line, sizeof(line));
	if (close(fd) < 0) {
		err = errno;
		unlink(path);
		return terr("%s: %s", path, strerror(err));
	}
	return 0;
}

int cmd_keygen(int argc, char **argv)
{
	enum { O_JOB = 256, O_FROM, O_HELP };
	static const struct option longopts[] = {
		{ "job", required_argument, NULL, O_JOB },
		{ "from", required_argument, NULL, O_FROM },
		{ "help", no_argument, NULL, O_HELP },
		{ NULL, 0, NULL, 0 },
	};
	const char *job = NULL, *from = NULL;
	struct wire_key k, server;
	char err[512];
	int c, rc;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
		switch (c) {
		case O_JOB:
			job = optarg;
			break;
		case O_FROM:
			from = optarg;
			break;
		case O_HELP:
			fputs(usage_text, stdout);
			return 0;
		case ':':
			return tool_usage("keygen", "option '%s' needs an argument", argv[optind - 1]);
		default:
			return tool_usage("keygen", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind != argc - 1)
		return tool_usage("keygen", "name one key FILE to create");
	if (!job != !from)
		return tool_usage("keygen", "--job NAME and --from SERVER_KEY go together");
	memset(&k, 0, sizeof(k));
	if (!job) {
		k.kind = WIRE_KEY_SERVER;
		/* The kernel's random source; wire_auth_nonce is getrandom(2). */
		if (wire_auth_nonce(k.key) < 0)
			return terr("getrandom: %s", strerror(errno)), tool_fail();
	} else {
		if (wire_job_check(job, (uint32_t)strlen(job)))
			return tool_usage("keygen", "'%s' is not a job name (1-128 of A-Z a-z 0-9 . _ -, not "
					  "starting with '.')", job);
		if (wire_key_load(from, &server, err, sizeof(err)) < 0)
			return terr("--from %s", err), tool_fail();
		if (server.kind != WIRE_KEY_SERVER) {
			wire_auth_wipe(&server, sizeof(server));
			return terr("--from %s: that is already a job key; derive from the server key", from),
			       tool_fail();
		}
		k.kind = WIRE_KEY_JOB;
		snprintf(k.job, sizeof(k.job), "%s", job);
		wire_key_derive_job(server.key, job, strlen(job), k.key);
		wire_auth_wipe(&server, sizeof(server));
	}
	rc = write_key(argv[optind], &k);
	wire_auth_wipe(&k, sizeof(k));
	return rc < 0 ? tool_fail() : 0;
}
