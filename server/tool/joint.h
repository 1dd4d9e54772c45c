/* joint.h - a checked view of a joint checkpoint file (wire/CHECKPOINT.md) and of a server's store directory.
 *
 * tjoint_load() checks a whole joint file before anything in it is shown:
 * prefix, header and its checksum, section table, trailer, every section's
 * XXH64, the SERVER_STATE entries, and the client image inside (image.h).
 * The store helpers read a state directory (CHECKPOINT.md section 5)
 * directly, as `ckpt list --state-dir` and `ckpt inspect --job` do.
 */
#ifndef CKPT_TOOL_JOINT_H
#define CKPT_TOOL_JOINT_H

#include <stdint.h>
#include <stdio.h>

#include "ckptfile.h"
#include "image.h"

struct tjoint {
	uint64_t size;
	uint8_t *hdr; /* the header region; h's strings point into it */
	struct wire_ckf_header h;
	uint8_t *state; /* the SERVER_STATE section */
	size_t state_len;
	struct wire_ckf_state st;
	struct timg img; /* the CLIENT_IMAGE section */
};

/* Check the joint file of size bytes open as fd. With image == 0 the client
 * image is only checked against its section checksum, not parsed. 0, or -1
 * with tool_err saying what is wrong. */
int tjoint_load(struct tjoint *j, int fd, uint64_t size, int image);
void tjoint_free(struct tjoint *j);
void tjoint_print(const struct tjoint *j, FILE *out);

/* ---- a store directory ----------------------------------------------------------------------- */

/* "gen-<g>.ckpt" -> g, else 0 (as the server names them: no leading zero). */
uint64_t store_gen_of(const char *name);
/* The generations of job's directory in state_dir, increasing: 0 (n may
 * be 0), or -1 with tool_err set (the directory is missing or unreadable). */
int store_gens(const char *state_dir, const char *job, uint64_t **v, uint32_t *n);
/* The job names (directories passing the job-name rule), sorted: 0 or -1. */
int store_jobs(const char *state_dir, char ***names, uint32_t *n);
void store_jobs_free(char **names, uint32_t n);
/* The committed generation of a job, 0 if none is recorded. */
uint64_t store_committed(const char *state_dir, const char *job);
/* ROOT/.ckpt-state for --store ROOT, DIR for --state-dir DIR, into out. */
int store_dir(char *out, size_t cap, const char *store_root, const char *state_dir);

#endif
