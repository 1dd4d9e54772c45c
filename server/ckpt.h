/* ckpt.h - the checkpoint store (jobs, generations, joint files) and the undo
 * journal that lets every file a job changed be rolled back to a generation.
 *
 * Store layout under the state directory (mode 0700, files 0600):
 *
 *     <job>/gen-<g>.ckpt          joint checkpoint file of generation g
 *     <job>/gen-<g>.ckpt.tmp      being written (removed at load)
 *     <job>/committed             "CKPTCMT1" gen[8]: the last committed generation
 *     <job>/rollback              rollback marker (present only while one runs)
 *     <job>/epoch-<g>/journal     undo records of the changes made after g
 *     <job>/epoch-<g>/aside/      files unlinked or replaced after g, kept to be put back
 *
 * An epoch is named by the generation it starts at. Rolling back to g applies
 * every epoch >= g, newest first, each journal from its end to its start. A
 * job is shared by all sessions with its name; its mutex serializes the
 * job's changing file calls with its checkpoints and rollbacks. This header
 * is private to server/.
 */
#ifndef CKPT_SRV_CKPT_H
#define CKPT_SRV_CKPT_H

#include <pthread.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "wire.h"

struct srv_session;
struct srv_store;

#define SRV_UNDO_BLOCK 4096u /* old bytes are saved once per block of this size */

/* One inode the job touched in the current epoch. */
struct srv_undo_ino {
	uint64_t dev, ino; /* ino 0: free slot */
	uint64_t size_g;   /* size at the start of the epoch */
	unsigned created:1; /* created in this epoch: nothing to save */
	unsigned changed:1; /* its data or attributes changed */
	uint8_t *saved;	    /* bitmap of blocks whose old bytes are saved */
	uint64_t nsaved_bits;
	char *path; /* root-relative path when first touched (for SERVER_STATE) */
};

struct srv_store {
	int root_fd;	/* the export root (not owned) */
	int dir_fd;	/* the state directory */
	char root_real[4200], dir_real[4200];
	char hidden[4200]; /* dir relative to the root when inside it, else "" */
	dev_t hide_dev;	   /* the directory holding it, and its entry name */
	ino_t hide_ino;
	char hide_name[256];
	unsigned keep;	/* committed generations kept per job (--keep-generations, >= 1) */
	pthread_mutex_t lock; /* the job list */
	struct srv_job *jobs;
};

struct srv_gen_entry {
	uint64_t gen;
	uint8_t state; /* WIRE_GEN_* */
	uint64_t image_size, image_xxh64, file_size;
};

struct srv_job {
	struct srv_job *next;
	struct srv_store *store;
	char name[WIRE_MAX_JOB + 1];
	pthread_mutex_t lock;
	int refs;	    /* attached sessions (store lock) */
	int loaded;	    /* state read from disk */
	int dir_fd;	    /* <state>/<job>, -1 until created */
	char dir_real[4400]; /* its absolute path, for mapping fd paths */
	uint32_t handles;   /* open handles of all its sessions */

	struct srv_gen_entry *gens; /* ascending */
	size_t ngens, gens_cap;
	uint64_t committed; /* last committed generation, 0 = none */

	/* the prepare in progress */
	uint64_t prep_gen, prep_total, prep_received;
	int prep_fd;	   /* -1 if none */
	int prep_failed;   /* a chunk failed: DONE must fail */
	const void *prep_owner; /* the session sending it: its end discards it */
	uint64_t prep_refused; /* generation refused over --max-ckpt-bytes, 0: none */
	void *prep_hash;   /* XXH64_state_t */

	/* the undo epoch in progress (0: no generation yet, nothing recorded) */
	uint64_t epoch;
	int journal_fd, aside_fd;
	uint64_t aside_seq;
	struct srv_undo_ino *inos;
	size_t nino_slots, ninos;
};

/* ---- store (store.c) ---- */

/* Open (create, mode 0700) the state directory for the export root root_fd.
 * Pending rollbacks of every job are finished. 0, or -1 with a reason. */
int srv_store_open(struct srv_store **out, const char *state_dir, int root_fd, char *err,
		   size_t errcap);
void srv_store_close(struct srv_store *st);
/* The state directory's path relative to the export root, when it lies
 * inside it (clients never see it), else NULL. */
const char *srv_store_hidden(const struct srv_store *st);
/* 1 if the open fd is the state directory or lies beneath it. */
int srv_store_fd_hidden(const struct srv_store *st, int fd);
/* 1 if (dev, ino) is the directory that holds the hidden state directory;
 * *name is then the entry to skip in its listings. */
int srv_store_hides_in(const struct srv_store *st, dev_t dev, ino_t ino, const char **name);

/* Attach a session to its job (NULL if name is not a valid job name; errno
 * EINVAL) and detach at its end, giving back its open handles. */
struct srv_job *srv_job_attach(struct srv_store *st, const char *name, uint32_t len);
/* A session of the job (owner) ends with handles_left files open; an image
 * it was preparing and did not finish is discarded. */
void srv_job_detach(struct srv_job *j, uint32_t handles_left, const void *owner);

/* Checkpoint request handlers (store.c): decode, act, reply. */
int srv_ckptop(struct srv_session *s, const struct wire_hdr *h, const uint8_t *p, size_t len);

/* ---- undo (undo.c): recording, called by fileops.c ---- */

/* Lock the session's job for a changing call (no-op without a job). Every
 * srv_undo_* below must be called between begin and end. */
void srv_undo_begin(struct srv_session *s);
void srv_undo_end(struct srv_session *s);
/* 1 if changes are being recorded (a job with a generation). */
int srv_undo_active(const struct srv_session *s);

/* Each returns 0 or a negative errno; on error the call must not be done
 * (its undo could not be made durable). */
int srv_undo_write(struct srv_session *s, int fd, uint64_t off, uint64_t len, int append);
int srv_undo_truncate(struct srv_session *s, int fd, uint64_t newlen);
int srv_undo_attr(struct srv_session *s, int fd);
/* dfd/base name path (checked, root-relative); about to be created. 1 if a
 * creation was recorded (then call srv_undo_created once it exists), 0 if
 * nothing is recorded (exists already, or no epoch), or -errno. */
int srv_undo_create(struct srv_session *s, int dfd, const char *base, const char *path);
/* The file just created at path (fd open on it): nothing to save for it. */
void srv_undo_created(struct srv_session *s, int fd);
/* Do the unlink/rmdir (flags as unlinkat) or rename (flags as renameat2) with
 * its undo recorded. 0 or -errno (the call's own error). */
int srv_undo_unlink(struct srv_session *s, int dfd, const char *base, const char *path, int flags);
int srv_undo_rename(struct srv_session *s, int d1, const char *b1, const char *p1, int d2,
		    const char *b2, const char *p2, unsigned flags);

/* Epoch management, job lock held (store.c). */
int srv_undo_epoch_start(struct srv_job *j, uint64_t gen, char *why, size_t cap);
void srv_undo_epoch_close(struct srv_job *j);
/* Apply the journal of epoch e from its end, skipping the `done` newest
 * records; progress(ctx, done) is called after each namespace record (it
 * must make the progress durable). 0 or -errno. */
typedef int srv_undo_progress_fn(void *ctx, uint64_t epoch, uint64_t done);
int srv_undo_replay(struct srv_job *j, int root_fd, uint64_t epoch, uint64_t done,
		    srv_undo_progress_fn *progress, void *ctx);
/* Map an open fd to (base, path): base 0 = export root, 1 = the job's
 * directory. 0 or -1 (the fd is elsewhere, or deleted). */
int srv_undo_fd_path(const struct srv_job *j, int root_fd, int fd, int *base, char *out,
		     size_t cap);

#endif
