/* ckptfile.h - the joint checkpoint file: layout, builder and validating parser.
 *
 * wire/CHECKPOINT.md is the specification. Like the rest of wire/, this does
 * no I/O and prints nothing: the caller reads or writes the bytes, these
 * functions build and check them. The parser validates every field and bound
 * before handing anything out; parsed strings point into the caller's buffer.
 * Checksums are XXH64 with seed 0 (libxxhash).
 */
#ifndef CKPT_WIRE_CKPTFILE_H
#define CKPT_WIRE_CKPTFILE_H

#include <stddef.h>
#include <stdint.h>

#include "wire.h"

#define WIRE_CKF_VERSION 1
#define WIRE_CKF_MAGIC_LEN 8
extern const uint8_t wire_ckf_magic[WIRE_CKF_MAGIC_LEN];	 /* 0x89 "CKPTJF" '\n' */
extern const uint8_t wire_ckf_end_magic[WIRE_CKF_MAGIC_LEN]; /* "CKPTEND" '\n' */
#define WIRE_CKF_PREFIX 24u	     /* magic[8] version[2] flags[2] header_size[4] file_size[8] */
#define WIRE_CKF_HEADER_SIZE 4096u /* the header region v1 writers reserve */
#define WIRE_CKF_HEADER_MIN 128u
#define WIRE_CKF_HEADER_MAX 65536u
#define WIRE_CKF_TRAILER 24u /* end_magic[8] file_size[8] xxh64[8] */
#define WIRE_CKF_MAX_SECTIONS 16u
#define WIRE_CKF_SECTION_SIZE 36u /* type[2] flags[2] offset[8] length[8] xxh64[8] + reserved[8] */
#define WIRE_CKF_MAX_ARCH 64u

/* Section types. */
#define WIRE_CKF_CLIENT_IMAGE 1u /* the client's image, opaque */
#define WIRE_CKF_SERVER_STATE 2u /* the server's record of the job's files */

/* Parser errors (negative, beside the WIRE_E* codes). */
enum {
	WIRE_CKF_EMAGIC = -20,	  /* not a joint checkpoint file */
	WIRE_CKF_EVERSION = -21,  /* a format version this code does not read */
	WIRE_CKF_ESIZE = -22,	  /* file size differs from what the header says (truncated?) */
	WIRE_CKF_EHEADER = -23,	  /* header checksum mismatch */
	WIRE_CKF_EFIELD = -24,	  /* a header field holds a forbidden value */
	WIRE_CKF_ESECTION = -25,  /* section table: bounds, overlap, missing or repeated */
	WIRE_CKF_ETRAILER = -26,  /* trailer magic, size or checksum wrong */
	WIRE_CKF_ESECTSUM = -27,  /* a section's content checksum mismatch */
	WIRE_CKF_ESTATE = -28	  /* SERVER_STATE section malformed */
};
const char *wire_ckf_strerror(int code);

struct wire_ckf_section {
	uint16_t type;
	uint16_t flags; /* 0 in version 1 */
	uint64_t offset, length;
	uint64_t xxh64; /* of the section's length bytes */
};

struct wire_ckf_header {
	uint32_t header_size; /* bytes of the header region, checksum included */
	uint64_t file_size;   /* bytes of the whole file, trailer included */
	struct wire_str job;
	uint64_t gen;
	int64_t created_sec; /* CLOCK_REALTIME of the server at writing */
	uint32_t created_nsec;
	struct wire_str client_arch;
	uint8_t client_byte_order; /* WIRE_BO_* */
	uint32_t client_page_size;
	struct wire_str server_arch;
	uint8_t server_byte_order;
	uint32_t server_page_size;
	uint16_t nsections;
	struct wire_ckf_section sect[WIRE_CKF_MAX_SECTIONS];
	uint64_t header_xxh64; /* filled by build and parse */
};

/* Read the fixed prefix (first WIRE_CKF_PREFIX bytes of len): magic, version,
 * header_size (WIRE_CKF_HEADER_MIN..MAX, a multiple of 8) and file_size.
 * 0, WIRE_ETRUNC, WIRE_CKF_EMAGIC, WIRE_CKF_EVERSION or WIRE_CKF_EFIELD. */
int wire_ckf_prefix(const void *buf, size_t len, uint32_t *header_size, uint64_t *file_size);

/* Parse and check the header region buf (len bytes == its header_size) of a
 * file that really is actual_size bytes long: prefix, checksum, every field,
 * and a section table whose sections lie between the header and the trailer,
 * do not overlap, and include exactly one CLIENT_IMAGE and one SERVER_STATE.
 * 0 or a negative code; h is filled as far as it could be. */
int wire_ckf_parse_header(const void *buf, size_t len, uint64_t actual_size,
			  struct wire_ckf_header *h);

/* The section of that type, or NULL. */
const struct wire_ckf_section *wire_ckf_find(const struct wire_ckf_header *h, uint16_t type);

/* Check the last WIRE_CKF_TRAILER bytes of the file against the parsed header
 * and its region. 0 or WIRE_CKF_ETRAILER. */
int wire_ckf_check_trailer(const void *trailer, size_t len, const void *hdr_region,
			   const struct wire_ckf_header *h);

/* Build the header region into buf (h->header_size bytes, <= cap): fields,
 * section table, zero padding, checksum (also stored in h->header_xxh64).
 * Returns header_size or a negative code (WIRE_ENOSPC, WIRE_CKF_EFIELD,
 * WIRE_CKF_ESECTION: the builder refuses what the parser would). */
long wire_ckf_build_header(void *buf, size_t cap, struct wire_ckf_header *h);
/* Build the trailer (WIRE_CKF_TRAILER bytes) for a built header region. */
void wire_ckf_build_trailer(void *buf, const void *hdr_region, const struct wire_ckf_header *h);

/* ---- SERVER_STATE section ---------------------------------------------------- */

#define WIRE_CKF_FILE_OPEN 0x1u	   /* open in the checkpointing session */
#define WIRE_CKF_FILE_CHANGED 0x2u /* changed by the job since the previous generation */
struct wire_ckf_file {
	uint32_t flags;	      /* WIRE_CKF_FILE_* */
	struct wire_str path; /* relative to the export root (PROTOCOL.md 7.1) */
	uint64_t ino;
	uint32_t mode; /* wire mode (PROTOCOL.md 6.3), type included */
	uint64_t size;
	uint32_t uid, gid;
	int64_t mtime_sec;
	uint32_t mtime_nsec;
	uint32_t open_flags; /* WIRE_O_* of the handle, 0 if not open */
};
struct wire_ckf_state {
	uint64_t epoch;	   /* the undo epoch that starts at this generation */
	uint64_t prev_gen; /* newest generation before this one, 0 if none */
	uint32_t count;
	struct wire_rd files; /* cursor over the entries */
};
/* Builder: begin, add, end into a caller's buffer; returns bytes or WIRE_E*. */
struct wire_ckf_state_builder {
	struct wire_wr w;
	uint8_t *count_at;
	uint32_t count;
};
void wire_ckf_state_begin(struct wire_ckf_state_builder *b, void *buf, size_t cap, uint64_t epoch,
			  uint64_t prev_gen);
/* 0, WIRE_ENOSPC (nothing written: grow the buffer and start over) or
 * WIRE_EINVAL (the entry breaks a rule). */
int wire_ckf_state_add(struct wire_ckf_state_builder *b, const struct wire_ckf_file *f);
long wire_ckf_state_end(struct wire_ckf_state_builder *b);
/* Parse a SERVER_STATE section (checks every entry). 0 or WIRE_CKF_ESTATE. */
int wire_ckf_state_dec(const void *p, size_t len, struct wire_ckf_state *st);
/* 1 and *f, 0 at the end. */
int wire_ckf_state_next(struct wire_ckf_state *st, struct wire_ckf_file *f);

#endif
