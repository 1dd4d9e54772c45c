/* wire.h - the ckpt protocol: frames, messages and their big-endian codec.
 *
 * This is the only code shared by the shim, the server and the tools. It does
 * no I/O and prints nothing: encoders write into a caller's buffer, decoders
 * read from one and return 0 or a negative WIRE_E* code. wire/PROTOCOL.md is
 * the specification; this header follows it field for field.
 *
 * Ownership: decoded strings and data blobs point INTO the frame buffer that
 * was decoded (they are not NUL-terminated unless said so); they stay valid as
 * long as that buffer does. Nothing here allocates.
 */
#ifndef CKPT_WIRE_H
#define CKPT_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define WIRE_PROTO_VERSION 1

/* ---- frame header ---------------------------------------------------- */

/* u32 length | u16 type | u16 flags | u64 request-id | payload
 * length counts the whole frame, header included. */
#define WIRE_HDR_SIZE 16u
/* Largest data blob in one PREAD reply or PWRITE request. */
#define WIRE_MAX_DATA (4u << 20)
/* Largest frame any peer must accept; a peer may configure a smaller limit,
 * never a larger one. */
#define WIRE_MAX_FRAME (WIRE_MAX_DATA + 64u * 1024u)
#define WIRE_MAX_PATH 4096u /* bytes in a path string, as PATH_MAX */
#define WIRE_MAX_NAME 255u  /* bytes in one path component, as NAME_MAX */
#define WIRE_MAX_STR 4096u  /* any other string */

/* Frame flags. */
#define WIRE_F_REPLY 0x0001u /* this frame answers request-id */
#define WIRE_F_ERROR 0x0002u /* with REPLY: payload is a wire_error */

struct wire_hdr {
	uint32_t length; /* whole frame, >= WIRE_HDR_SIZE */
	uint16_t type;   /* enum wire_type */
	uint16_t flags;  /* WIRE_F_* */
	uint64_t id;     /* request-id, echoed by the reply */
};

/* Message types. Numbers are part of the protocol: never reuse a retired one. */
enum wire_type {
	WIRE_HELLO = 1,
	WIRE_OPEN = 2,
	WIRE_CLOSE = 3,
	WIRE_PREAD = 4,
	WIRE_PWRITE = 5,
	WIRE_FTRUNCATE = 6,
	WIRE_FSYNC = 7,
	WIRE_FSTAT = 8,
	WIRE_STAT = 9,
	WIRE_ACCESS = 10,
	WIRE_UNLINK = 11,
	WIRE_RENAME = 12,
	WIRE_MKDIR = 13,
	WIRE_READDIR = 14,
	WIRE_SETATTR = 15,
	WIRE_READLINK = 16,
	WIRE_SYMLINK = 17,
	WIRE_LINK = 18,
	WIRE_STATFS = 19,
	WIRE_PING = 20,
	WIRE_READ_FD = 21, /* same-host sessions only: a read-only fd of an open file */
	/* 22..31: free for file calls */
	/* 32..63: the checkpoint family (PROTOCOL.md 4.4) */
	WIRE_CKPT_PREPARE = 32,
	WIRE_CKPT_DONE = 33,
	WIRE_CKPT_COMMIT = 34,
	WIRE_CKPT_ABORT = 35,
	/* 64..95: the restart family (PROTOCOL.md 4.5) */
	WIRE_ROLLBACK_QUERY = 64,
	WIRE_ROLLBACK = 65,
	WIRE_IMAGE_READ = 66,
	WIRE_JOB_LIST = 67,
	WIRE_ROLLBACK_CHECK = 68,
	/* 96..127: the session family (PROTOCOL.md 3.4) */
	WIRE_AUTH = 96,
	WIRE_TYPE_MAX = 96 /* highest number in use; the numbers between are not all defined */
};
/* Number of defined message types. */
#define WIRE_TYPE_COUNT 31
/* 1 if type is a defined message type, else 0. */
int wire_type_known(uint16_t type);

/* Codec errors (negative return values). */
enum {
	WIRE_OK = 0,
	WIRE_ETRUNC = -1,   /* buffer shorter than the message claims */
	WIRE_ETOOBIG = -2,  /* frame/string/blob over its bound */
	WIRE_ETRAIL = -3,   /* bytes left over after the last field */
	WIRE_ETYPE = -4,    /* unknown message type */
	WIRE_EVERSION = -5, /* protocol version not supported */
	WIRE_EINVAL = -6,   /* a field holds a value the protocol forbids */
	WIRE_ENOSPC = -7    /* encoder: output buffer too small */
};
const char *wire_strerror(int code);

/* ---- byte cursors (sticky overflow) ----------------------------------- */

/* Reading: getters past the end return 0 and set err; decoders check err once
 * at the end. */
struct wire_rd {
	const uint8_t *p, *end;
	int err; /* 0 or a WIRE_E* code, first error wins */
};
/* Writing: putters past the end write nothing and set err = WIRE_ENOSPC. */
struct wire_wr {
	uint8_t *p, *end, *start;
	int err;
};

void wire_rd_init(struct wire_rd *r, const void *buf, size_t len);
void wire_wr_init(struct wire_wr *w, void *buf, size_t cap);
size_t wire_wr_len(const struct wire_wr *w);

uint8_t wire_get_u8(struct wire_rd *r);
uint16_t wire_get_u16(struct wire_rd *r);
uint32_t wire_get_u32(struct wire_rd *r);
uint64_t wire_get_u64(struct wire_rd *r);
int64_t wire_get_s64(struct wire_rd *r);
/* u16 length + bytes; length > max sets WIRE_ETOOBIG. */
struct wire_str {
	const char *p; /* not NUL-terminated */
	uint32_t len;
};
struct wire_str wire_get_str(struct wire_rd *r, uint32_t max);
/* u32 length + bytes; length > max sets WIRE_ETOOBIG. */
struct wire_blob {
	const uint8_t *p;
	uint32_t len;
};
struct wire_blob wire_get_blob(struct wire_rd *r, uint32_t max);
/* Trailing bytes left: sets WIRE_ETRAIL. Returns r->err. */
int wire_rd_finish(struct wire_rd *r);

void wire_put_u8(struct wire_wr *w, uint8_t v);
void wire_put_u16(struct wire_wr *w, uint16_t v);
void wire_put_u32(struct wire_wr *w, uint32_t v);
void wire_put_u64(struct wire_wr *w, uint64_t v);
void wire_put_s64(struct wire_wr *w, int64_t v);
void wire_put_str(struct wire_wr *w, const char *s, uint32_t len);
void wire_put_blob(struct wire_wr *w, const void *p, uint32_t len);
void wire_put_bytes(struct wire_wr *w, const void *p, size_t len);

/* ---- frames ------------------------------------------------------------ */

/* Decode the 16-byte header in buf (len >= WIRE_HDR_SIZE). Checks
 * WIRE_HDR_SIZE <= length <= max_frame, that only known flags are set, and
 * that type is known (1..WIRE_TYPE_MAX): WIRE_ETOOBIG, WIRE_EINVAL,
 * WIRE_ETYPE. Call it before reading or allocating the body. */
int wire_hdr_decode(const void *buf, size_t len, uint32_t max_frame, struct wire_hdr *h);
void wire_hdr_encode(void *buf, const struct wire_hdr *h);

/* Frame builder: reserve the header, put the payload with wire_put_*, then
 * wire_frame_end() writes the header (length = bytes written) and returns the
 * frame length, or a negative WIRE_E* code if anything overflowed. */
void wire_frame_begin(struct wire_wr *w, void *buf, size_t cap, uint16_t type, uint16_t flags,
		      uint64_t id);
long wire_frame_end(struct wire_wr *w);

/* ---- portable values --------------------------------------------------- */

/* errno travels as a protocol number (WIRE_ERRNO_* in PROTOCOL.md), never a
 * host number. Unknown host errnos travel as WIRE_ERRNO_EIO; unknown wire
 * numbers decode to EIO. */
uint16_t wire_errno_from_host(int host_errno);
int wire_errno_to_host(uint16_t wire_errno);
/* Added: the protocol numbers of PROTOCOL.md's errno table, so C code can
 * name them. 0 is success and is never sent; wire_errno_from_host(0) gives
 * WIRE_ERRNO_EIO. Numbers are never reused; new ones are appended. */
enum wire_errno {
	WIRE_ERRNO_E2BIG = 1,
	WIRE_ERRNO_EACCES = 2,
	WIRE_ERRNO_EAGAIN = 3, /* = EWOULDBLOCK */
	WIRE_ERRNO_EALREADY = 4,
	WIRE_ERRNO_EBADF = 5,
	WIRE_ERRNO_EBADMSG = 6,
	WIRE_ERRNO_EBUSY = 7,
	WIRE_ERRNO_ECANCELED = 8,
	WIRE_ERRNO_ECHILD = 9,
	WIRE_ERRNO_ECONNREFUSED = 10,
	WIRE_ERRNO_ECONNRESET = 11,
	WIRE_ERRNO_EDEADLK = 12,
	WIRE_ERRNO_EDOM = 13,
	WIRE_ERRNO_EDQUOT = 14,
	WIRE_ERRNO_EEXIST = 15,
	WIRE_ERRNO_EFAULT = 16,
	WIRE_ERRNO_EFBIG = 17,
	WIRE_ERRNO_EINPROGRESS = 18,
	WIRE_ERRNO_EINTR = 19,
	WIRE_ERRNO_EINVAL = 20,
	WIRE_ERRNO_EIO = 21,
	WIRE_ERRNO_EISDIR = 22,
	WIRE_ERRNO_ELOOP = 23,
	WIRE_ERRNO_EMFILE = 24,
	WIRE_ERRNO_EMLINK = 25,
	WIRE_ERRNO_ENAMETOOLONG = 26,
	WIRE_ERRNO_ENFILE = 27,
	WIRE_ERRNO_ENODATA = 28,
	WIRE_ERRNO_ENODEV = 29,
	WIRE_ERRNO_ENOENT = 30,
	WIRE_ERRNO_ENOEXEC = 31,
	WIRE_ERRNO_ENOLCK = 32,
	WIRE_ERRNO_ENOMEM = 33,
	WIRE_ERRNO_ENOSPC = 34,
	WIRE_ERRNO_ENOSYS = 35,
	WIRE_ERRNO_ENOTCONN = 36,
	WIRE_ERRNO_ENOTDIR = 37,
	WIRE_ERRNO_ENOTEMPTY = 38,
	WIRE_ERRNO_ENOTSOCK = 39,
	WIRE_ERRNO_ENOTSUP = 40, /* = EOPNOTSUPP */
	WIRE_ERRNO_ENOTTY = 41,
	WIRE_ERRNO_ENXIO = 42,
	WIRE_ERRNO_EOVERFLOW = 43,
	WIRE_ERRNO_EPERM = 44,
	WIRE_ERRNO_EPIPE = 45,
	WIRE_ERRNO_EPROTO = 46,
	WIRE_ERRNO_ERANGE = 47,
	WIRE_ERRNO_EROFS = 48,
	WIRE_ERRNO_ESPIPE = 49,
	WIRE_ERRNO_ESRCH = 50,
	WIRE_ERRNO_ESTALE = 51,
	WIRE_ERRNO_ETIMEDOUT = 52,
	WIRE_ERRNO_ETXTBSY = 53,
	WIRE_ERRNO_EXDEV = 54,
	WIRE_ERRNO_EADDRINUSE = 55,
	WIRE_ERRNO_EADDRNOTAVAIL = 56,
	WIRE_ERRNO_EAFNOSUPPORT = 57,
	WIRE_ERRNO_ECONNABORTED = 58,
	WIRE_ERRNO_EDESTADDRREQ = 59,
	WIRE_ERRNO_EHOSTDOWN = 60,
	WIRE_ERRNO_EHOSTUNREACH = 61,
	WIRE_ERRNO_EIDRM = 62,
	WIRE_ERRNO_EILSEQ = 63,
	WIRE_ERRNO_EISCONN = 64,
	WIRE_ERRNO_EMSGSIZE = 65,
	WIRE_ERRNO_EMULTIHOP = 66,
	WIRE_ERRNO_ENETDOWN = 67,
	WIRE_ERRNO_ENETRESET = 68,
	WIRE_ERRNO_ENETUNREACH = 69,
	WIRE_ERRNO_ENOBUFS = 70,
	WIRE_ERRNO_ENOLINK = 71,
	WIRE_ERRNO_ENOMSG = 72,
	WIRE_ERRNO_ENOPROTOOPT = 73,
	WIRE_ERRNO_ENOTBLK = 74,
	WIRE_ERRNO_ENOTRECOVERABLE = 75,
	WIRE_ERRNO_EOWNERDEAD = 76,
	WIRE_ERRNO_EPROTONOSUPPORT = 77,
	WIRE_ERRNO_EPROTOTYPE = 78,
	WIRE_ERRNO_ESHUTDOWN = 79,
	WIRE_ERRNO_MAX = 79
};

/* open(2) flags. */
#define WIRE_O_ACCMODE 0x0003u
#define WIRE_O_RDONLY 0x0000u
#define WIRE_O_WRONLY 0x0001u
#define WIRE_O_RDWR 0x0002u
#define WIRE_O_CREAT 0x0010u
#define WIRE_O_EXCL 0x0020u
#define WIRE_O_TRUNC 0x0040u
#define WIRE_O_APPEND 0x0080u
#define WIRE_O_DIRECTORY 0x0100u
#define WIRE_O_NOFOLLOW 0x0200u
#define WIRE_O_SYNC 0x0400u
#define WIRE_O_DSYNC 0x0800u
#define WIRE_O_PATH 0x1000u
#define WIRE_O_NOATIME 0x2000u
#define WIRE_O_KNOWN 0x3ff3u
/* Host flags without a wire equivalent (O_CLOEXEC, O_NONBLOCK, O_NOCTTY,
 * O_LARGEFILE, O_DIRECT, O_ASYNC) are client-side only and dropped. */
uint32_t wire_oflags_from_host(int host_flags);
int wire_oflags_to_host(uint32_t wire_flags);

/* File modes use the POSIX octal values (S_IFREG 0100000, S_IFDIR 0040000,
 * permission bits 07777), which PROTOCOL.md fixes; these convert from/to the
 * host's S_* macros explicitly. */
uint32_t wire_mode_from_host(uint32_t host_mode);
uint32_t wire_mode_to_host(uint32_t wire_mode);

/* access(2) modes. */
#define WIRE_F_OK 0u
#define WIRE_X_OK 1u
#define WIRE_W_OK 2u
#define WIRE_R_OK 4u
/* Added: access(2) mode conversion through the host's F_OK/R_OK/W_OK/X_OK. */
uint32_t wire_amode_from_host(int host_amode);
int wire_amode_to_host(uint32_t wire_amode);

/* Directory entry types (d_type), as DT_* numbering in PROTOCOL.md. */
uint8_t wire_dtype_from_host(unsigned char host_dtype);
unsigned char wire_dtype_to_host(uint8_t wire_dtype);

/* ---- message bodies ----------------------------------------------------- */

struct wire_stat {
	uint64_t dev, ino;
	uint32_t mode; /* wire mode */
	uint32_t nlink;
	uint32_t uid, gid;
	uint64_t rdev;
	int64_t size;
	int64_t blksize, blocks;
	int64_t atime_sec, mtime_sec, ctime_sec;
	uint32_t atime_nsec, mtime_nsec, ctime_nsec;
};

/* Error reply body. */
struct wire_error {
	uint16_t err;        /* WIRE_ERRNO_* */
	struct wire_str msg; /* human-readable detail, may be empty */
};

/* HELLO, both ways. Options are (u16 tag, u16 length, bytes) until the end of
 * the payload; unknown tags are skipped, so later versions add options
 * (authentication) without breaking this one. */
#define WIRE_BO_LITTLE 1
#define WIRE_BO_BIG 2
struct wire_hello {
	uint16_t version;
	uint8_t byte_order;  /* WIRE_BO_* */
	uint32_t page_size;
	uint32_t pid;        /* client pid (0 in the reply) */
	uint64_t session;    /* reply: session id assigned by the server; request: 0 */
	uint32_t max_frame;  /* largest frame this peer accepts */
	struct wire_str arch; /* "x86_64", "s390x", "aarch64" ... */
	struct wire_str job;  /* job name; reply: server's job-store name or empty */
	struct wire_str peer; /* free text: program and version of the peer */
	/* Options (PROTOCOL.md 3.4). Request: AUTH_OFFER, the kind of key the
	 * client holds (0: the option is absent) and its nonce. Reply:
	 * AUTH_CHALLENGE (challenge set) with the server's nonce and its proof. */
	uint8_t auth_kind;
	uint8_t challenge;
	/* Reply: READ_FDS, the session may ask READ_FD (PROTOCOL.md 4.3). */
	uint8_t read_fds;
	uint8_t nonce[32];
	uint8_t proof[32];
};
#define WIRE_OPT_AUTH_OFFER 1     /* kind[1] nonce[32] */
#define WIRE_OPT_AUTH_CHALLENGE 2 /* nonce[32] proof[32] */
#define WIRE_OPT_READ_FDS 3       /* (empty) */

/* Requests. A "target" is a file handle, or a path relative to the export
 * root (no leading '/', clean: no "." or ".." components, no empty
 * component; the empty path is the root itself). */
/* Added: check a path against those rules (also: no NUL byte, each
 * component <= WIRE_MAX_NAME). 0, WIRE_ETOOBIG (over WIRE_MAX_PATH or a
 * component over WIRE_MAX_NAME) or WIRE_EINVAL. The decoders apply it to every
 * path field except wire_two_paths.from, which for SYMLINK is a free link
 * target: the server must call it on `from` for RENAME and LINK. */
int wire_path_check(const char *p, uint32_t len);
struct wire_open {
	struct wire_str path;
	uint32_t flags; /* WIRE_O_* */
	uint32_t mode;  /* wire mode bits, used with O_CREAT */
};
struct wire_open_reply {
	uint64_t handle;
	struct wire_stat st;
};
struct wire_handle { /* CLOSE, FSTAT, READ_FD */
	uint64_t handle;
};
struct wire_pread {
	uint64_t handle;
	uint64_t offset;
	uint32_t count; /* <= WIRE_MAX_DATA */
};
/* PREAD reply: struct wire_blob (short or empty at end of file). */
#define WIRE_PWRITE_APPEND 0x1u /* write at the current end of file */
struct wire_pwrite {
	uint64_t handle;
	uint64_t offset; /* ignored with WIRE_PWRITE_APPEND */
	uint32_t flags;
	struct wire_blob data; /* len <= WIRE_MAX_DATA */
};
struct wire_pwrite_reply {
	uint32_t written;
	uint64_t end; /* offset just past the last byte written */
};
struct wire_ftruncate {
	uint64_t handle;
	uint64_t length;
};
struct wire_fsync {
	uint64_t handle;
	uint8_t datasync;
};
#define WIRE_AT_NOFOLLOW 0x1u
struct wire_path_req { /* STAT, READLINK, ACCESS, UNLINK, MKDIR, STATFS */
	struct wire_str path;
	uint32_t flags; /* STAT: WIRE_AT_NOFOLLOW; UNLINK: WIRE_AT_REMOVEDIR;
			   ACCESS: WIRE_AT_EACCESS */
	uint32_t arg;   /* ACCESS: WIRE_*_OK; MKDIR: mode; otherwise 0 */
};
#define WIRE_AT_REMOVEDIR 0x2u
#define WIRE_AT_EACCESS 0x4u
/* STAT reply, FSTAT reply: struct wire_stat. */
struct wire_two_paths { /* RENAME, SYMLINK (from = link target), LINK */
	struct wire_str from, to;
	uint32_t flags; /* RENAME: WIRE_RENAME_NOREPLACE / EXCHANGE */
};
#define WIRE_RENAME_NOREPLACE 0x1u
#define WIRE_RENAME_EXCHANGE 0x2u
struct wire_readdir {
	uint64_t handle;
	uint64_t cookie; /* 0 = start; otherwise a next-cookie from a reply */
	uint32_t max_bytes;
};
/* READDIR reply: u8 eof, u32 count, then count entries; entries point into
 * the frame. Decode one at a time with wire_dirent_next(). */
struct wire_dirent {
	uint64_t ino;
	uint64_t next; /* cookie of the entry after this one */
	uint8_t type;  /* wire d_type */
	struct wire_str name;
};
struct wire_readdir_reply {
	uint8_t eof;
	uint32_t count;
	struct wire_rd entries; /* cursor over the entries */
};
#define WIRE_SET_MODE 0x01u
#define WIRE_SET_UID 0x02u
#define WIRE_SET_GID 0x04u
#define WIRE_SET_SIZE 0x08u
#define WIRE_SET_ATIME 0x10u
#define WIRE_SET_MTIME 0x20u
#define WIRE_SET_ATIME_NOW 0x40u
#define WIRE_SET_MTIME_NOW 0x80u
struct wire_setattr {
	uint64_t handle;      /* nonzero: the handle's file; path ignored */
	struct wire_str path; /* used when handle == 0 */
	uint32_t flags;       /* WIRE_AT_NOFOLLOW */
	uint32_t valid;       /* WIRE_SET_* */
	uint32_t mode;
	uint32_t uid, gid;    /* 0xffffffff = unchanged */
	uint64_t size;
	int64_t atime_sec, mtime_sec;
	uint32_t atime_nsec, mtime_nsec;
};
struct wire_statfs_reply {
	uint64_t bsize, frsize, blocks, bfree, bavail, files, ffree, favail, namemax, fsid, flags;
};
/* Added: statfs `flags` bits (host ST_* values differ between systems). */
#define WIRE_ST_RDONLY 0x0001u
#define WIRE_ST_NOSUID 0x0002u
#define WIRE_ST_NODEV 0x0004u
#define WIRE_ST_NOEXEC 0x0008u
#define WIRE_ST_SYNCHRONOUS 0x0010u
#define WIRE_ST_MANDLOCK 0x0020u
#define WIRE_ST_NOATIME 0x0040u
#define WIRE_ST_NODIRATIME 0x0080u
#define WIRE_ST_RELATIME 0x0100u
#define WIRE_ST_KNOWN 0x01ffu
uint64_t wire_stflags_from_host(unsigned long host_flags);
unsigned long wire_stflags_to_host(uint64_t wire_flags);

/* Encoders build a whole frame into buf (cap bytes) and return its length or
 * a negative WIRE_E* code. Decoders take the payload (frame minus header) and
 * return 0 or a negative WIRE_E* code; the whole payload must be consumed. */
/* Added: encoders refuse (WIRE_EINVAL, WIRE_ETOOBIG) what decoders would
 * refuse. A decoder that fails on a forbidden field value, after every
 * structural check passed, leaves the message filled (strings point into the
 * frame), so a server can answer a bad path with an errno; after a structural
 * failure (ETRUNC, ETRAIL, a length over its bound) the fields from the
 * failing one on are 0 or empty (a READDIR reply is wholly reset). */
long wire_enc_hello(void *buf, size_t cap, uint64_t id, uint16_t flags, const struct wire_hello *m);
int wire_dec_hello(const void *p, size_t len, struct wire_hello *m);

long wire_enc_error(void *buf, size_t cap, uint16_t type, uint64_t id, const struct wire_error *m);
int wire_dec_error(const void *p, size_t len, struct wire_error *m);
/* A reply with an empty payload (CLOSE, FTRUNCATE, FSYNC, ACCESS, UNLINK,
 * RENAME, MKDIR, SETATTR, SYMLINK, LINK, PING). */
long wire_enc_empty(void *buf, size_t cap, uint16_t type, uint16_t flags, uint64_t id);
int wire_dec_empty(const void *p, size_t len);

long wire_enc_open(void *buf, size_t cap, uint64_t id, const struct wire_open *m);
int wire_dec_open(const void *p, size_t len, struct wire_open *m);
long wire_enc_open_reply(void *buf, size_t cap, uint64_t id, const struct wire_open_reply *m);
int wire_dec_open_reply(const void *p, size_t len, struct wire_open_reply *m);

long wire_enc_handle(void *buf, size_t cap, uint16_t type, uint64_t id, const struct wire_handle *m);
int wire_dec_handle(const void *p, size_t len, struct wire_handle *m);

long wire_enc_pread(void *buf, size_t cap, uint64_t id, const struct wire_pread *m);
int wire_dec_pread(const void *p, size_t len, struct wire_pread *m);
/* PREAD reply. To avoid a copy, a server may encode the header with
 * wire_enc_data_reply_hdr() (header + u32 length, 20 bytes) and send the data
 * bytes after it. */
long wire_enc_data_reply(void *buf, size_t cap, uint16_t type, uint64_t id, const void *data,
			 uint32_t len);
#define WIRE_DATA_REPLY_HDR (WIRE_HDR_SIZE + 4u)
void wire_enc_data_reply_hdr(void *buf, uint16_t type, uint64_t id, uint32_t len);
int wire_dec_data_reply(const void *p, size_t len, struct wire_blob *data);

long wire_enc_pwrite(void *buf, size_t cap, uint64_t id, const struct wire_pwrite *m);
/* PWRITE without copying the data: header + fixed fields (WIRE_PWRITE_HDR
 * bytes) into buf, then the caller sends data.len bytes of data after it. */
#define WIRE_PWRITE_HDR (WIRE_HDR_SIZE + 8u + 8u + 4u + 4u)
void wire_enc_pwrite_hdr(void *buf, uint64_t id, const struct wire_pwrite *m);
int wire_dec_pwrite(const void *p, size_t len, struct wire_pwrite *m);
long wire_enc_pwrite_reply(void *buf, size_t cap, uint64_t id, const struct wire_pwrite_reply *m);
int wire_dec_pwrite_reply(const void *p, size_t len, struct wire_pwrite_reply *m);

long wire_enc_ftruncate(void *buf, size_t cap, uint64_t id, const struct wire_ftruncate *m);
int wire_dec_ftruncate(const void *p, size_t len, struct wire_ftruncate *m);
long wire_enc_fsync(void *buf, size_t cap, uint64_t id, const struct wire_fsync *m);
int wire_dec_fsync(const void *p, size_t len, struct wire_fsync *m);

long wire_enc_stat_reply(void *buf, size_t cap, uint16_t type, uint64_t id, const struct wire_stat *m);
int wire_dec_stat_reply(const void *p, size_t len, struct wire_stat *m);

long wire_enc_path_req(void *buf, size_t cap, uint16_t type, uint64_t id, const struct wire_path_req *m);
int wire_dec_path_req(const void *p, size_t len, struct wire_path_req *m);
/* READLINK reply: one string (u16 length + bytes, <= WIRE_MAX_PATH). */
long wire_enc_str_reply(void *buf, size_t cap, uint16_t type, uint64_t id, const char *s, uint32_t len);
int wire_dec_str_reply(const void *p, size_t len, struct wire_str *s);

long wire_enc_two_paths(void *buf, size_t cap, uint16_t type, uint64_t id, const struct wire_two_paths *m);
int wire_dec_two_paths(const void *p, size_t len, struct wire_two_paths *m);

long wire_enc_readdir(void *buf, size_t cap, uint64_t id, const struct wire_readdir *m);
int wire_dec_readdir(const void *p, size_t len, struct wire_readdir *m);
/* READDIR reply builder: begin, add entries while they fit (returns -1 when
 * the next entry would pass max_bytes or cap, leaving the frame intact), end. */
struct wire_dir_builder {
	struct wire_wr w;
	uint8_t *count_at;
	uint32_t count;
	size_t limit;
};
void wire_readdir_reply_begin(struct wire_dir_builder *b, void *buf, size_t cap, uint64_t id,
			      uint32_t max_bytes);
int wire_readdir_reply_add(struct wire_dir_builder *b, const struct wire_dirent *e);
long wire_readdir_reply_end(struct wire_dir_builder *b, uint8_t eof);
int wire_dec_readdir_reply(const void *p, size_t len, struct wire_readdir_reply *m);
/* Next entry: 1 and *e filled, 0 at the end, negative WIRE_E* on a bad entry. */
int wire_dirent_next(struct wire_readdir_reply *m, struct wire_dirent *e);

long wire_enc_setattr(void *buf, size_t cap, uint64_t id, const struct wire_setattr *m);
int wire_dec_setattr(const void *p, size_t len, struct wire_setattr *m);

long wire_enc_statfs_reply(void *buf, size_t cap, uint64_t id, const struct wire_statfs_reply *m);
int wire_dec_statfs_reply(const void *p, size_t len, struct wire_statfs_reply *m);

/* Host <-> wire stat conversion (struct stat is the host's). */
struct stat;
void wire_stat_from_host(struct wire_stat *w, const struct stat *st);
void wire_stat_to_host(struct stat *st, const struct wire_stat *w);

/* ---- checkpoint and restart messages (PROTOCOL.md 4.4, 4.5) ---------------

 * Generations are numbered from 1; 0 is never a generation. Image sizes and
 * offsets are <= 2^63 - 1. The image checksum is XXH64 with seed 0 over the
 * whole image. */
#define WIRE_GEN_PREPARED 1  /* ROLLBACK_QUERY state: written, not committed */
#define WIRE_GEN_COMMITTED 2 /* ROLLBACK_QUERY state: committed */
struct wire_ckpt_prepare { /* CKPT_PREPARE: one chunk of the image */
	uint64_t gen;
	uint64_t offset; /* == bytes of this image sent before */
	uint64_t total;  /* size of the whole image, or WIRE_CKPT_TOTAL_UNKNOWN */
	struct wire_blob data; /* offset + data.len <= total, len <= WIRE_MAX_DATA */
};
/* CKPT_PREPARE `total` of an image streamed as it is produced: CKPT_DONE
 * gives the size. */
#define WIRE_CKPT_TOTAL_UNKNOWN UINT64_MAX
struct wire_ckpt_done { /* CKPT_DONE */
	uint64_t gen;
	uint64_t total;
	uint64_t image_xxh64;
};
struct wire_ckpt_done_reply {
	uint64_t gen;
	uint64_t file_size; /* bytes of the joint checkpoint file written */
};
struct wire_gen { /* CKPT_COMMIT, CKPT_ABORT, ROLLBACK */
	uint64_t gen;
};
struct wire_gen_info { /* one entry of a ROLLBACK_QUERY reply */
	uint64_t gen;
	uint8_t state; /* WIRE_GEN_PREPARED or WIRE_GEN_COMMITTED */
	uint64_t image_size;
};
/* ROLLBACK_QUERY reply: count[4] then count entries; decode one at a time
 * with wire_gen_info_next() (every entry was checked by the decoder). */
struct wire_rollback_query_reply {
	uint32_t count;
	struct wire_rd entries;
};
struct wire_rollback_reply {
	uint64_t gen;
	uint64_t image_size;
	uint64_t image_xxh64;
};
struct wire_image_read { /* IMAGE_READ; its reply is a data reply */
	uint64_t gen;
	uint64_t offset;
	uint32_t count; /* <= WIRE_MAX_DATA */
};
/* Bytes of a ROLLBACK_QUERY reply entry; the most entries a reply can hold. */
#define WIRE_GEN_INFO_SIZE 17u
#define WIRE_GEN_INFO_MAX ((WIRE_MAX_FRAME - WIRE_HDR_SIZE - 4u) / WIRE_GEN_INFO_SIZE)

long wire_enc_ckpt_prepare(void *buf, size_t cap, uint64_t id, const struct wire_ckpt_prepare *m);
/* CKPT_PREPARE without copying the data: header and fixed fields
 * (WIRE_CKPT_PREPARE_HDR bytes) into buf; the caller sends data.len bytes
 * after it. Data over WIRE_MAX_DATA poisons the length, as
 * wire_enc_pwrite_hdr() does; the other fields must pass the checks. */
#define WIRE_CKPT_PREPARE_HDR (WIRE_HDR_SIZE + 8u + 8u + 8u + 4u)
void wire_enc_ckpt_prepare_hdr(void *buf, uint64_t id, const struct wire_ckpt_prepare *m);
int wire_dec_ckpt_prepare(const void *p, size_t len, struct wire_ckpt_prepare *m);
long wire_enc_ckpt_done(void *buf, size_t cap, uint64_t id, const struct wire_ckpt_done *m);
int wire_dec_ckpt_done(const void *p, size_t len, struct wire_ckpt_done *m);
long wire_enc_ckpt_done_reply(void *buf, size_t cap, uint64_t id, const struct wire_ckpt_done_reply *m);
int wire_dec_ckpt_done_reply(const void *p, size_t len, struct wire_ckpt_done_reply *m);
/* type: WIRE_CKPT_COMMIT, WIRE_CKPT_ABORT, WIRE_ROLLBACK or WIRE_ROLLBACK_CHECK
 * (others: WIRE_ETYPE). */
long wire_enc_gen(void *buf, size_t cap, uint16_t type, uint64_t id, const struct wire_gen *m);
int wire_dec_gen(const void *p, size_t len, struct wire_gen *m);
/* ROLLBACK_QUERY request: wire_enc_empty(buf, cap, WIRE_ROLLBACK_QUERY, 0, id). */
long wire_enc_rollback_query_reply(void *buf, size_t cap, uint64_t id,
				   const struct wire_gen_info *v, uint32_t n);
int wire_dec_rollback_query_reply(const void *p, size_t len, struct wire_rollback_query_reply *m);
/* Next entry: 1 and *e filled, 0 at the end, negative WIRE_E* on a bad entry. */
int wire_gen_info_next(struct wire_rollback_query_reply *m, struct wire_gen_info *e);
long wire_enc_rollback_reply(void *buf, size_t cap, uint64_t id, const struct wire_rollback_reply *m);
/* The same reply for type WIRE_ROLLBACK or WIRE_ROLLBACK_CHECK. */
long wire_enc_rollback_reply_as(void *buf, size_t cap, uint16_t type, uint64_t id,
				const struct wire_rollback_reply *m);
int wire_dec_rollback_reply(const void *p, size_t len, struct wire_rollback_reply *m);
long wire_enc_image_read(void *buf, size_t cap, uint64_t id, const struct wire_image_read *m);
int wire_dec_image_read(const void *p, size_t len, struct wire_image_read *m);
/* IMAGE_READ reply: wire_enc_data_reply(..., WIRE_IMAGE_READ, ...). */

/* JOB_LIST request: wire_enc_empty(buf, cap, WIRE_JOB_LIST, 0, id). Its
 * reply: count[4] then count job names (wire_job_check rules); decode one
 * at a time with wire_job_list_next() (every entry was checked). */
struct wire_job_list_reply {
	uint32_t count;
	struct wire_rd entries;
};
long wire_enc_job_list_reply(void *buf, size_t cap, uint64_t id, const struct wire_str *v, uint32_t n);
int wire_dec_job_list_reply(const void *p, size_t len, struct wire_job_list_reply *m);
/* Next name: 1 and *e filled, 0 at the end, negative WIRE_E* on a bad entry. */
int wire_job_list_next(struct wire_job_list_reply *m, struct wire_str *e);

/* Job names (HELLO `job`) that may own checkpoints: 1..WIRE_MAX_JOB bytes of
 * [A-Za-z0-9._-], not starting with '.'. 0 or WIRE_EINVAL / WIRE_ETOOBIG. */
#define WIRE_MAX_JOB 128u
int wire_job_check(const char *p, uint32_t len);

/* AUTH request: the client's proof (PROTOCOL.md 3.4); its reply is empty. */
long wire_enc_auth(void *buf, size_t cap, uint64_t id, const uint8_t proof[32]);
int wire_dec_auth(const void *p, size_t len, uint8_t proof[32]);

const char *wire_type_name(uint16_t type);

#endif
