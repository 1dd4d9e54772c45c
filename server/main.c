/* main.c - ckpt-server: command line, listeners, the accept loop and a clean shutdown. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth.h"
#include "ckpt.h"
#include "log.h"
#include "net.h"
#include "resolve.h"
#include "session.h"
#include "wire.h"

#ifndef CKPT_VERSION
#define CKPT_VERSION "unknown"
#endif

#define MAX_LISTEN 16
#define DEFAULT_MAX_SESSIONS 256u
#define DEFAULT_MAX_OPEN 4096u
#define LIMIT_MAX_SESSIONS 65536u
#define LIMIT_MAX_OPEN (1u << 24)
/* One job's checkpoint image: a program's memory, compressed, and zero
 * pages skipped. 64 GiB is more than any job this is meant for takes, and
 * still stops a client (buggy or hostile) from filling the state
 * directory's disk with one endless image. */
#define DEFAULT_MAX_CKPT_BYTES (64ull << 30)
#define DEFAULT_FRAME_TIMEOUT 30u /* s: a started frame (and HELLO) completes in it */
#define LIMIT_TIMEOUT 86400u      /* s: a day */
#define STOP_GRACE_MS 10000u /* in-flight requests get this long at shutdown */
#define ACCEPT_PAUSE_MS 100  /* out of descriptors: retry accepting after this */
#define ACCEPT_BURST 64      /* connections accepted per listener per wake */

#define MAX_ALLOW_UIDS 64

struct opts {
	const char *root;
	const char *listen[MAX_LISTEN];
	int nlisten;
	int level;
	unsigned long max_sessions, max_open, max_frame;
	unsigned long long max_ckpt_bytes; /* 0: no limit */
	double frame_timeout, idle_timeout; /* seconds, 0: off */
	const char *ready_file;
	const char *state_dir;
	unsigned long keep;
	const char *key_file;
	uint32_t allow_uids[MAX_ALLOW_UIDS + 1]; /* + the server's own uid */
	uint32_t n_allow_uids;
	int allow_any_uid;
	int no_auth;
	int no_read_fds;
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: ckpt-server --root DIR --listen ADDR [--listen ADDR]... [OPTION]...\n"
		"Serve the files under DIR to checkpointable programs (libckptshim).\n"
		"\n"
		"  --root DIR            export this directory; nothing outside it is reachable\n"
		"  --listen ADDR         tcp:HOST:PORT (tcp:[IPV6]:PORT; port 0 picks one) or\n"
		"                        unix:PATH (unix:@NAME: abstract); repeatable\n"
		"  --state-dir DIR       keep joint checkpoint files and undo data here\n"
		"                        (without it checkpoints are refused; inside ROOT it\n"
		"                        is hidden from clients;\n"
		"                        created mode 0700)\n"
		"  --keep-generations N  committed checkpoints kept per job (default 2: the\n"
		"                        newest and the one before, for a restart when the\n"
		"                        newest is found damaged)\n"
		"  --ready-file PATH     once listening, write PATH atomically, one line per\n"
		"                        listener with its real address (tcp:127.0.0.1:40123)\n"
		"  --log-level LEVEL     error, warn, info (default) or debug\n"
		"  --max-sessions N      concurrent sessions (default %u)\n"
		"  --max-open N          open files per session, EMFILE beyond (default %u)\n"
		"  --max-frame BYTES     largest protocol frame, %u..%u (default %u);\n"
		"                        a k or m suffix means KiB or MiB\n"
		"  --key FILE            admit only clients that prove this key (HELLO\n"
		"                        challenge-response, HMAC-SHA256); FILE is made by\n"
		"                        'ckpt keygen', owned by this user, mode 0600\n"
		"  --allow-uid UID       on unix sockets, serve this numeric uid too (repeatable;\n"
		"                        'any': every uid); default: the server's own uid and\n"
		"                        root\n"
		"  --no-auth             allow a tcp listener on a non-loopback address\n"
		"                        without --key (anyone who reaches it may use it)\n"
		"  --no-read-fds         never hand clients file descriptors: by default a\n"
		"                        client on a unix socket running as the server's own\n"
		"                        user may get a read-only descriptor of a file it has\n"
		"                        open and read it directly (READ_FD)\n"
		"  --max-ckpt-bytes BYTES  largest checkpoint image of one job (default 64g;\n"
		"                        0: no limit; k, m, g suffixes); a bigger one is\n"
		"                        refused with EFBIG and discarded, the program runs on\n"
		"  --frame-timeout SECONDS  a frame whose first byte arrived, and a new\n"
		"                        connection's HELLO, must be complete within it, else\n"
		"                        the peer is disconnected (default %u; 0: off)\n"
		"  --idle-timeout SECONDS  disconnect a session that sent no request for\n"
		"                        that long, even one with files open (default 0: off;\n"
		"                        the shim keeps one session per server for the\n"
		"                        program's whole life, however quiet)\n"
		"  --help                show this help\n"
		"  --version             show the version\n"
		"\n"
		"Logs go to stderr. SIGTERM or SIGINT: finish in-flight requests, fsync and\n"
		"close every open file, remove unix sockets, exit 0. Exit status 2: bad usage;\n"
		"1: cannot start.\n",
		DEFAULT_MAX_SESSIONS, DEFAULT_MAX_OPEN, SRV_MIN_FRAME, WIRE_MAX_FRAME, WIRE_MAX_FRAME,
		DEFAULT_FRAME_TIMEOUT);
}

static _Noreturn void die_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static _Noreturn void die_usage(const char *fmt, ...)
{
	va_list ap;

	fputs("ckpt-server: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (try --help)\n", stderr);
	exit(2);
}

static unsigned long long parse_num(const char *opt, const char *s, unsigned long long min,
				    unsigned long long max, int suffixes)
{
	unsigned long long v, mul = 1;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (suffixes && (*end == 'k' || *end == 'K')) {
		mul = 1024;
		end++;
	} else if (suffixes && (*end == 'm' || *end == 'M')) {
		mul = 1024 * 1024;
		end++;
	} else if (suffixes && (*end == 'g' || *end == 'G')) {
		mul = 1024 * 1024 * 1024;
		end++;
	}
	if (end == s || *end || errno || s[0] == '-' || s[0] == '+' || v > max / mul ||
	    v * mul < min)
		die_usage("%s: '%s' is not a number from %llu to %llu", opt, s, min, max);
	return v * mul;
}

/* Seconds, fractions allowed (0.5), 0 to LIMIT_TIMEOUT. */
static double parse_secs(const char *opt, const char *s)
{
	double v;
	char *end;

	errno = 0;
	v = strtod(s, &end);
	if (end == s || *end || errno || !(v >= 0 && v <= LIMIT_TIMEOUT) || (v > 0 && v < 0.001))
		die_usage("%s: '%s' is not a number of seconds from 0 to %u", opt, s, LIMIT_TIMEOUT);
	return v;
}

static void parse_args(int argc, char **argv, struct opts *o)
{
	enum { O_ROOT = 256, O_LISTEN, O_LOG, O_SESS, O_OPEN, O_FRAME, O_READY, O_STATE, O_KEEP, O_HELP,
	       O_VER, O_KEY, O_ALLOW_UID, O_NO_AUTH, O_NO_READ_FDS, O_CKPT_BYTES, O_FRAME_TO, O_IDLE_TO };
	static const struct option longopts[] = {
		{ "root", required_argument, NULL, O_ROOT },
		{ "listen", required_argument, NULL, O_LISTEN },
		{ "log-level", required_argument, NULL, O_LOG },
		{ "max-sessions", required_argument, NULL, O_SESS },
		{ "max-open", required_argument, NULL, O_OPEN },
		{ "max-frame", required_argument, NULL, O_FRAME },
		{ "max-ckpt-bytes", required_argument, NULL, O_CKPT_BYTES },
		{ "frame-timeout", required_argument, NULL, O_FRAME_TO },
		{ "idle-timeout", required_argument, NULL, O_IDLE_TO },
		{ "ready-file", required_argument, NULL, O_READY },
		{ "state-dir", required_argument, NULL, O_STATE },
		{ "keep-generations", required_argument, NULL, O_KEEP },
		{ "key", required_argument, NULL, O_KEY },
		{ "allow-uid", required_argument, NULL, O_ALLOW_UID },
		{ "no-auth", no_argument, NULL, O_NO_AUTH },
		{ "no-read-fds", no_argument, NULL, O_NO_READ_FDS },
		{ "help", no_argument, NULL, O_HELP },
		{ "version", no_argument, NULL, O_VER },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(o, 0, sizeof(*o));
	o->level = SRV_LOG_INFO;
	o->max_sessions = DEFAULT_MAX_SESSIONS;
	o->max_open = DEFAULT_MAX_OPEN;
	o->max_frame = WIRE_MAX_FRAME;
	o->max_ckpt_bytes = DEFAULT_MAX_CKPT_BYTES;
	o->frame_timeout = DEFAULT_FRAME_TIMEOUT;
	o->keep = 2;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
		switch (c) {
		case O_ROOT:
			o->root = optarg;
			break;
		case O_LISTEN:
			if (o->nlisten == MAX_LISTEN)
				die_usage("--listen: at most %d listeners", MAX_LISTEN);
			o->listen[o->nlisten++] = optarg;
			break;
		case O_LOG:
			o->level = srv_log_parse_level(optarg);
			if (o->level < 0)
				die_usage("--log-level: '%s' is not error, warn, info or debug", optarg);
			break;
		case O_SESS:
			o->max_sessions = (unsigned long)parse_num("--max-sessions", optarg, 1,
								   LIMIT_MAX_SESSIONS, 0);
			break;
		case O_OPEN:
			o->max_open = (unsigned long)parse_num("--max-open", optarg, 1, LIMIT_MAX_OPEN, 0);
			break;
		case O_FRAME:
			o->max_frame = (unsigned long)parse_num("--max-frame", optarg, SRV_MIN_FRAME,
								WIRE_MAX_FRAME, 1);
			break;
		case O_CKPT_BYTES:
			o->max_ckpt_bytes = parse_num("--max-ckpt-bytes", optarg, 0, (unsigned long long)INT64_MAX, 1);
			break;
		case O_FRAME_TO:
			o->frame_timeout = parse_secs("--frame-timeout", optarg);
			break;
		case O_IDLE_TO:
			o->idle_timeout = parse_secs("--idle-timeout", optarg);
			break;
		case O_READY:
			o->ready_file = optarg;
			break;
		case O_STATE:
			o->state_dir = optarg;
			break;
		case O_KEEP:
			o->keep = (unsigned long)parse_num("--keep-generations", optarg, 1, 1000, 0);
			break;
		case O_KEY:
			o->key_file = optarg;
			break;
		case O_ALLOW_UID:
			if (!strcmp(optarg, "any")) {
				o->allow_any_uid = 1;
				break;
			}
			if (o->n_allow_uids == MAX_ALLOW_UIDS)
				die_usage("--allow-uid: at most %d uids", MAX_ALLOW_UIDS);
			o->allow_uids[o->n_allow_uids++] =
				(uint32_t)parse_num("--allow-uid", optarg, 0, UINT32_MAX - 1, 0);
			break;
		case O_NO_AUTH:
			o->no_auth = 1;
			break;
		case O_NO_READ_FDS:
			o->no_read_fds = 1;
			break;
		case O_HELP:
			usage(stdout);
			exit(0);
		case O_VER:
			printf("ckpt-server %s\n", CKPT_VERSION);
			exit(0);
		case ':':
			die_usage("option '%s' needs an argument", argv[optind - 1]);
		default:
			die_usage("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		die_usage("unexpected argument '%s'", argv[optind]);
	if (!o->root)
		die_usage("--root DIR is required");
	if (!o->nlisten)
		die_usage("at least one --listen tcp:HOST:PORT or unix:PATH is required");
	for (int i = 0; i < o->nlisten; i++) {
		struct srv_addr a;
		char err[256];

		if (srv_addr_parse(o->listen[i], &a, err, sizeof(err)) < 0)
			die_usage("--listen %s", err);
	}
}

/* Each session may hold max_open files plus its socket and a READDIR dup. */
static void raise_nofile(unsigned long sessions, unsigned long per_session)
{
	unsigned long long want = (unsigned long long)sessions * (per_session + 2) + 64;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
		rl.rlim_cur = (rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want) ? (rlim_t)want
										   : rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			srv_pwarn("setrlimit(RLIMIT_NOFILE)");
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want)
		srv_info("the descriptor limit (%llu) is below max-sessions x max-open (%llu): under "
			 "full load opens fail with EMFILE", (unsigned long long)rl.rlim_cur, want);
}

/* Write the listeners' addresses to path atomically (temporary + rename). */
static int write_ready_file(const char *path, const struct srv_listener *ls, int n)
{
	char tmp[PATH_MAX + 32];
	FILE *f;
	int fd, ok;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		unlink(tmp);
		return -1;
	}
	for (int i = 0; i < n; i++)
		fprintf(f, "%s\n", ls[i].addr);
	ok = fflush(f) == 0 && fsync(fd) == 0;
	ok = (fclose(f) == 0) && ok;
	if (!ok || rename(tmp, path) < 0) {
		int e = errno;
		unlink(tmp);
		errno = e;
		return -1;
	}
	return 0;
}

static void close_listeners(struct srv_listener *ls, int n)
{
	for (int i = 0; i < n; i++)
		srv_listener_close(&ls[i]);
}

/* Accept what is pending on l and start sessions. Returns 1 to pause
 * accepting (out of descriptors or memory), else 0. */
static int accept_pending(struct srv_listener *l, const struct srv_config *cfg)
{
	for (int i = 0; i < ACCEPT_BURST; i++) {
		char peer[96];
		int fd = srv_accept(l, peer, sizeof(peer));
		int rc;

		if (fd == -EAGAIN || fd == -EWOULDBLOCK)
			return 0;
		if (fd == -EINTR || fd == -ECONNABORTED || fd == -EPROTO || fd == -EPERM)
			continue;
		if (fd == -EMFILE || fd == -ENFILE || fd == -ENOBUFS || fd == -ENOMEM) {
			errno = -fd;
			srv_pwarn("accept on %s; pausing new connections for %d ms", l->addr,
				  ACCEPT_PAUSE_MS);
			return 1;
		}
		if (fd < 0) {
			errno = -fd;
			srv_pwarn("accept on %s", l->addr);
			return 0;
		}
		rc = srv_sessions_start(cfg, fd, peer);
		if (rc == -EAGAIN) {
			srv_warn("refusing a connection from %s: %lu sessions active (--max-sessions)",
				 peer, (unsigned long)cfg->max_sessions);
			close(fd);
		} else if (rc < 0) {
			errno = -rc;
			srv_pwarn("cannot start a session for %s", peer);
			close(fd);
		}
	}
	return 0;
}

/* Poll the listeners until SIGTERM or SIGINT; returns the signal. */
static int serve(int sigfd, int reapfd, struct srv_listener *ls, int n, const struct srv_config *cfg)
{
	struct pollfd pf[2 + MAX_LISTEN];
	int paused = 0;

	pf[0].fd = sigfd;
	pf[0].events = POLLIN;
	pf[1].fd = reapfd;
	pf[1].events = POLLIN;
	for (int i = 0; i < n; i++)
		pf[2 + i].fd = ls[i].fd;
	for (;;) {
		int r;

		for (int i = 0; i < n; i++)
			pf[2 + i].events = paused ? 0 : POLLIN;
		r = poll(pf, (nfds_t)(2 + n), paused ? ACCEPT_PAUSE_MS : -1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			srv_perror("poll");
			return SIGTERM;
		}
		if (r == 0) {
			paused = 0;
			continue;
		}
		if (pf[0].revents & POLLIN) {
			struct signalfd_siginfo si;

			if (read(sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
				return (int)si.ssi_signo;
		}
		if (pf[1].revents & POLLIN)
			srv_sessions_reap();
		for (int i = 0; i < n; i++)
			if (pf[2 + i].revents & POLLIN)
				paused |= accept_pending(&ls[i], cfg);
	}
}

/* Read the server key (see wire_key_load for what the file must be). 0, or
 * -1 after one error line. */
static int load_key(const char *path, struct wire_key *k)
{
	char err[512];

	if (wire_key_load(path, k, err, sizeof(err)) < 0) {
		srv_error("--key %s", err);
		return -1;
	}
	if (k->kind != WIRE_KEY_SERVER) {
		srv_error("--key %s: this is the key of job '%s', for a client; the server needs the "
			  "server key it was derived from", path, k->job);
		wire_auth_wipe(k, sizeof(*k));
		return -1;
	}
	return 0;
}

/* Is the tcp listener bound to a loopback address (reachable from this
 * host only)? Unix listeners count as local. */
static int listener_is_local(const struct srv_listener *l)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (l->is_unix)
		return 1;
	if (getsockname(l->fd, (struct sockaddr *)&ss, &sl) < 0)
		return 0;
	if (ss.ss_family == AF_INET)
		return (ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr) >> 24) == 127;
	if (ss.ss_family == AF_INET6) {
		const struct in6_addr *a = &((struct sockaddr_in6 *)&ss)->sin6_addr;

		return IN6_IS_ADDR_LOOPBACK(a) ||
		       (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct srv_listener ls[MAX_LISTEN];
	struct srv_config cfg;
	struct opts o;
	sigset_t sigs;
	char err[512], addrs[MAX_LISTEN * (SRV_ADDR_MAX + 2)];
	char *root_real;
	struct srv_store *store = NULL;
	static struct wire_key key;
	int sigfd, reapfd, root, r, sig, n = 0;
	size_t alen = 0;

	parse_args(argc, argv, &o);
	srv_log_set_level(o.level);
	if (o.key_file && load_key(o.key_file, &key) < 0)
		return 1;

	/* Before any thread: SIGTERM/SIGINT only through the signalfd, in main. */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	if (sigprocmask(SIG_BLOCK, &sigs, NULL) < 0 ||
	    (sigfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK)) < 0) {
		srv_perror("signalfd");
		return 1;
	}

	root = open(o.root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0) {
		srv_perror("--root %s", o.root);
		return 1;
	}
	r = srv_resolve_probe(root);
	if (r == 1) {
		srv_warn("openat2(2) is missing (Linux before 5.6, or qemu-user): paths are confined "
			 "to the root by a userspace walk, which cannot notice a directory being "
			 "renamed out of the root during a request");
	} else if (r < 0) {
		errno = -r;
		srv_perror("--root %s: cannot resolve beneath it", o.root);
		return 1;
	}
	root_real = realpath(o.root, NULL);
	raise_nofile(o.max_sessions, o.max_open);
	if (!o.state_dir) {
		/* The export stays the user's alone: no bookkeeping appears in it
		 * unless asked for. */
		srv_info("no --state-dir: checkpoint requests will be refused (ENOTSUP)");
	} else if (srv_store_open(&store, o.state_dir, root, err, sizeof(err)) < 0) {
		srv_error("%s", err);
		return 1;
	} else {
		store->keep = (unsigned)o.keep;
		srv_info("checkpoint store %s%s; %u committed generations kept per job", o.state_dir,
			 srv_store_hidden(store) ? " (inside the export: hidden from clients)" : "",
			 store->keep);
	}

	for (n = 0; n < o.nlisten; n++) {
		if (srv_listen(&ls[n], o.listen[n], err, sizeof(err)) < 0) {
			srv_error("--listen %s", err);
			close_listeners(ls, n);
			return 1;
		}
		if (!o.key_file && !o.no_auth && !listener_is_local(&ls[n])) {
			srv_error("--listen %s: a listener other hosts can reach needs --key FILE "
				  "(make one with: ckpt keygen FILE), or --no-auth to serve anyone "
				  "who reaches it", ls[n].addr);
			close_listeners(ls, n + 1);
			return 1;
		}
		r = snprintf(addrs + alen, sizeof(addrs) - alen, "%s%s", n ? ", " : "", ls[n].addr);
		if (r > 0 && (size_t)r < sizeof(addrs) - alen)
			alen += (size_t)r;
	}
	reapfd = srv_sessions_init();
	if (reapfd < 0) {
		errno = -reapfd;
		srv_perror("eventfd");
		close_listeners(ls, n);
		return 1;
	}

	cfg.root_fd = root;
	cfg.store = store;
	cfg.max_frame = (uint32_t)o.max_frame;
	cfg.max_open = (uint32_t)o.max_open;
	cfg.max_sessions = (uint32_t)o.max_sessions;
	cfg.key = o.key_file ? &key : NULL;
	o.allow_uids[o.n_allow_uids++] = (uint32_t)geteuid();
	cfg.allow_uids = o.allow_uids;
	cfg.n_allow_uids = o.n_allow_uids;
	cfg.allow_any_uid = o.allow_any_uid;
	cfg.no_read_fds = o.no_read_fds;
	if (!o.key_file)
		srv_info("no --key: clients are not authenticated%s", o.no_auth ? " (--no-auth)" : "");
	else
		srv_info("--key %s: clients must prove the key", o.key_file);
	cfg.max_ckpt_bytes = o.max_ckpt_bytes;
	cfg.frame_timeout_ms = (uint32_t)(o.frame_timeout * 1000 + 0.5);
	cfg.idle_timeout_ms = (uint32_t)(o.idle_timeout * 1000 + 0.5);
	srv_info("ckpt-server %s (protocol %d): exporting %s on %s; at most %lu sessions, %lu open "
		 "files each, frames up to %lu bytes", CKPT_VERSION, WIRE_PROTO_VERSION,
		 root_real ? root_real : o.root, addrs, o.max_sessions, o.max_open, o.max_frame);
	srv_info("limits: checkpoint images up to %llu bytes per job%s; frame timeout %g s%s; "
		 "idle timeout %g s%s", o.max_ckpt_bytes, o.max_ckpt_bytes ? "" : " (no limit)",
		 o.frame_timeout, o.frame_timeout ? "" : " (off)", o.idle_timeout,
		 o.idle_timeout ? "" : " (off)");
	free(root_real);

	if (o.ready_file && write_ready_file(o.ready_file, ls, n) < 0) {
		srv_perror("--ready-file %s", o.ready_file);
		close_listeners(ls, n);
		return 1;
	}
	/* From here on, files and directories get exactly the mode a client
	 * asks for: the client applies its own umask (the listeners above were
	 * created under ours). */
	umask(0);

	sig = serve(sigfd, reapfd, ls, n, &cfg);

	srv_info("%s: stopping: no new connections; %u session%s finishing",
		 sig == SIGINT ? "SIGINT" : "SIGTERM",
		 srv_sessions_active(), srv_sessions_active() == 1 ? "" : "s");
	close_listeners(ls, n);
	srv_sessions_stop(STOP_GRACE_MS);
	if (o.ready_file && unlink(o.ready_file) < 0 && errno != ENOENT)
		srv_pwarn("cannot remove %s", o.ready_file);
	srv_store_close(store);
	close(root);
	srv_info("stopped");
	return 0;
}
