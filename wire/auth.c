/* auth.c - key files, job keys and HELLO proofs over libsodium's HMAC-SHA256. */
#include "auth.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <sodium.h>

#include "wire.h"

#define KEY_MAGIC "ckpt-key-1 "
#define HEX_LEN (2 * WIRE_KEY_LEN)

/* The next space-separated word of [*p, end): its start and length. */
static size_t word(const char **p, const char *end, const char **w)
{
	const char *s = *p;

	while (s < end && *s == ' ')
		s++;
	*w = s;
	while (s < end && *s != ' ')
		s++;
	*p = s;
	return (size_t)(s - *w);
}

static int parse_line(const char *text, size_t len, struct wire_key *k, const char **why)
{
	const char *p = text, *end = text + len, *w, *hex;
	size_t n, hexlen, bin_len = 0;

	memset(k, 0, sizeof(*k));
	if (len > 0 && text[len - 1] == '\n')
		end--;
	if (memchr(text, '\0', len) || memchr(text, '\n', (size_t)(end - text)) ||
	    memchr(text, '\r', (size_t)(end - text))) {
		*why = "a key file holds exactly one line of text";
		return -1;
	}
	if ((size_t)(end - p) < sizeof(KEY_MAGIC) - 1 || memcmp(p, KEY_MAGIC, sizeof(KEY_MAGIC) - 1)) {
		*why = "not a ckpt key file (it must start with 'ckpt-key-1 '; make one with 'ckpt keygen')";
		return -1;
	}
	p += sizeof(KEY_MAGIC) - 1;
	n = word(&p, end, &w);
	if (n == 6 && !memcmp(w, "server", 6)) {
		k->kind = WIRE_KEY_SERVER;
	} else if (n == 3 && !memcmp(w, "job", 3)) {
		k->kind = WIRE_KEY_JOB;
		n = word(&p, end, &w);
		if (wire_job_check(w, (uint32_t)n)) {
			*why = "the job name in the key file is not a valid job name";
			return -1;
		}
		memcpy(k->job, w, n);
		k->job[n] = '\0';
	} else {
		*why = "unknown key kind (expected 'server' or 'job NAME')";
		return -1;
	}
	hexlen = word(&p, end, &hex);
	if (hexlen != HEX_LEN || word(&p, end, &w) != 0 ||
	    sodium_hex2bin(k->key, sizeof(k->key), hex, hexlen, NULL, &bin_len, NULL) != 0 ||
	    bin_len != WIRE_KEY_LEN) {
		*why = "the key must be 64 hexadecimal digits at the end of the line";
		return -1;
	}
	return 0;
}

int wire_key_parse(const char *text, size_t len, struct wire_key *k, const char **why)
{
	if (parse_line(text, len, k, why) == 0)
		return 0;
	wire_auth_wipe(k, sizeof(*k)); /* nothing half-parsed, no key bytes left */
	return -1;
}

int wire_key_file_problem(const struct stat *st, char *why, size_t cap)
{
	if (!S_ISREG(st->st_mode))
		snprintf(why, cap, "not a regular file");
	else if (st->st_mode & 077)
		snprintf(why, cap, "mode %04o lets other users read or change the key; it must be mode 0600: "
			 "run chmod 600 on it", (unsigned)(st->st_mode & 07777));
	else if (st->st_uid != geteuid())
		snprintf(why, cap, "owned by uid %lu, not by this user (uid %lu)", (unsigned long)st->st_uid,
			 (unsigned long)geteuid());
	else
		return 0;
	return -1;
}

int wire_auth_unix_peer_trusted(int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct ucred cr;
	socklen_t cl = sizeof(cr);

	if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0 || ss.ss_family != AF_UNIX ||
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) < 0)
		return 0;
	return cr.uid == geteuid() || cr.uid == 0;
}

int wire_key_load(const char *path, struct wire_key *k, char *err, size_t errcap)
{
	char buf[4096], problem[160];
	const char *why = NULL;
	struct stat st;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY), rc;

	if (fd < 0) {
		snprintf(err, errcap, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		snprintf(err, errcap, "%s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	if (wire_key_file_problem(&st, problem, sizeof(problem)) < 0) {
		snprintf(err, errcap, "%s: %s", path, problem);
		close(fd);
		return -1;
	}
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n < 0) {
		snprintf(err, errcap, "%s: %s", path, strerror(errno));
		return -1;
	}
	rc = wire_key_parse(buf, (size_t)n, k, &why);
	wire_auth_wipe(buf, sizeof(buf));
	if (rc < 0) {
		snprintf(err, errcap, "%s: %s", path, why);
		return -1;
	}
	return 0;
}

long wire_key_format(char *buf, size_t cap, const struct wire_key *k)
{
	char hex[HEX_LEN + 1];
	int n;

	sodium_bin2hex(hex, sizeof(hex), k->key, sizeof(k->key));
	if (k->kind == WIRE_KEY_JOB)
		n = snprintf(buf, cap, KEY_MAGIC "job %s %s\n", k->job, hex);
	else
		n = snprintf(buf, cap, KEY_MAGIC "server %s\n", hex);
	wire_auth_wipe(hex, sizeof(hex));
	if (n < 0 || (size_t)n >= cap) {
		if (cap)
			wire_auth_wipe(buf, cap);
		return -1;
	}
	return n;
}

void wire_key_derive_job(const uint8_t server[WIRE_KEY_LEN], const char *job, size_t job_len,
			 uint8_t out[WIRE_KEY_LEN])
{
	static const char label[] = "ckpt job key 1"; /* its NUL separates it from the name */
	crypto_auth_hmacsha256_state st;

	crypto_auth_hmacsha256_init(&st, server, WIRE_KEY_LEN);
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)label, sizeof(label));
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)job, job_len);
	crypto_auth_hmacsha256_final(&st, out);
	wire_auth_wipe(&st, sizeof(st));
}

void wire_auth_proof(const uint8_t key[WIRE_KEY_LEN], int side, const uint8_t cnonce[WIRE_NONCE_LEN],
		     const uint8_t snonce[WIRE_NONCE_LEN], uint64_t session, uint8_t kind,
		     const char *job, size_t job_len, uint8_t out[WIRE_PROOF_LEN])
{
	static const char client_label[] = "ckpt-auth-1 client", server_label[] = "ckpt-auth-1 server";
	const char *label = side == WIRE_PROOF_SERVER ? server_label : client_label;
	_Static_assert(sizeof(client_label) == sizeof(server_label), "labels of one length");
	crypto_auth_hmacsha256_state st;
	uint8_t tail[8 + 1 + 2];

	for (int i = 0; i < 8; i++)
		tail[i] = (uint8_t)(session >> (56 - 8 * i));
	tail[8] = kind;
	tail[9] = (uint8_t)(job_len >> 8);
	tail[10] = (uint8_t)job_len;
	crypto_auth_hmacsha256_init(&st, key, WIRE_KEY_LEN);
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)label, sizeof(client_label));
	crypto_auth_hmacsha256_update(&st, cnonce, WIRE_NONCE_LEN);
	crypto_auth_hmacsha256_update(&st, snonce, WIRE_NONCE_LEN);
	crypto_auth_hmacsha256_update(&st, tail, sizeof(tail));
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)job, job_len);
	crypto_auth_hmacsha256_final(&st, out);
	wire_auth_wipe(&st, sizeof(st));
}

int wire_auth_equal(const uint8_t a[WIRE_PROOF_LEN], const uint8_t b[WIRE_PROOF_LEN])
{
	return crypto_verify_32(a, b) == 0;
}

int wire_auth_nonce(uint8_t out[WIRE_NONCE_LEN])
{
	size_t got = 0;

	while (got < WIRE_NONCE_LEN) {
		long n = syscall(SYS_getrandom, out + got, WIRE_NONCE_LEN - got, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	return 0;
}

void wire_auth_wipe(void *p, size_t n)
{
	sodium_memzero(p, n);
}
