/* auth.h - keys and the challenge-response of HELLO (PROTOCOL.md 3.4).
 *
 * The cryptography is libsodium's HMAC-SHA256 (crypto_auth_hmacsha256) and
 * its constant-time comparison; nothing here computes a hash itself. What
 * lives here is the key file format, the bytes each proof covers and the job
 * key derivation, shared by the server, the shim and the ckpt tool so that
 * the three can never disagree about them. */
#ifndef CKPT_WIRE_AUTH_H
#define CKPT_WIRE_AUTH_H

#include <stddef.h>
#include <stdint.h>

#define WIRE_KEY_LEN 32u   /* bytes of every key */
#define WIRE_NONCE_LEN 32u /* bytes of each side's challenge */
#define WIRE_PROOF_LEN 32u /* an HMAC-SHA256 */

/* The kinds of key a client may hold (HELLO option AUTH_OFFER `kind`). */
enum {
	WIRE_KEY_SERVER = 1, /* the server's own key: any job, every checkpoint */
	WIRE_KEY_JOB = 2     /* a key derived for one job: that job only */
};

/* A key as read from a key file. For WIRE_KEY_JOB, job names the job the key
 * was derived for (wire_job_check rules). */
struct wire_key {
	uint8_t kind;
	uint8_t key[WIRE_KEY_LEN];
	char job[128 + 1];
};

/* Key files hold one line, an optional newline after it:
 *     ckpt-key-1 server HEX64
 *     ckpt-key-1 job NAME HEX64
 * 0, or -1 with *why set to a one-line reason (the key bytes are never part
 * of it). */
int wire_key_parse(const char *text, size_t len, struct wire_key *k, const char **why);
struct stat;
/* Is a key file of this stat acceptable (a regular file owned by this user,
 * no permission for group or others)? 0, or -1 with the reason in why. The
 * shim calls it on a raw fstat; wire_key_load on its own. */
int wire_key_file_problem(const struct stat *st, char *why, size_t cap);
/* 1 if fd is a unix socket whose peer runs as this user or as root: a
 * server that did not challenge a key holder is trusted only then. */
int wire_auth_unix_peer_trusted(int fd);

/* Read and parse the key file at path, which must be a regular file owned
 * by this user with no permission for group or others. 0, or -1 with a
 * one-line reason (naming path) in err. */
int wire_key_load(const char *path, struct wire_key *k, char *err, size_t errcap);
/* The line for k, newline included, NUL-terminated; its length or -1 if cap
 * is too small. */
long wire_key_format(char *buf, size_t cap, const struct wire_key *k);

/* The key of job `job` under the server key `server`:
 * HMAC-SHA256(server, "ckpt job key 1" NUL job). */
void wire_key_derive_job(const uint8_t server[WIRE_KEY_LEN], const char *job, size_t job_len,
			 uint8_t out[WIRE_KEY_LEN]);

/* Which side a proof comes from: the labels differ, so a proof can never
 * be reflected back as the other side's. */
enum { WIRE_PROOF_CLIENT = 'C', WIRE_PROOF_SERVER = 'S' };

/* HMAC-SHA256(key, label || client_nonce || server_nonce || session[8] ||
 * kind[1] || job_len[2] || job), integers big-endian, where label is
 * "ckpt-auth-1 client" or "ckpt-auth-1 server" with its NUL, and job is the
 * HELLO's job name for a job key, empty for the server key. */
void wire_auth_proof(const uint8_t key[WIRE_KEY_LEN], int side, const uint8_t cnonce[WIRE_NONCE_LEN],
		     const uint8_t snonce[WIRE_NONCE_LEN], uint64_t session, uint8_t kind,
		     const char *job, size_t job_len, uint8_t out[WIRE_PROOF_LEN]);

/* 1 if the two proofs are equal, compared in constant time; else 0. */
int wire_auth_equal(const uint8_t a[WIRE_PROOF_LEN], const uint8_t b[WIRE_PROOF_LEN]);

/* Fill a nonce from the kernel's random source (getrandom, no file, no
 * lock: usable from a signal handler). 0 or -1 with errno. */
int wire_auth_nonce(uint8_t out[WIRE_NONCE_LEN]);

/* Wipe secret bytes so the compiler cannot drop the stores. */
void wire_auth_wipe(void *p, size_t n);

#endif
