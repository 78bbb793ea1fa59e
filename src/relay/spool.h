/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * The spool: one file per message (envelope + content) under spool_dir.
 * The files are the truth; the SQLite index (qidx) can be rebuilt from them.
 *
 *   incoming/ID   being written, or written and not yet known durable
 *   queue/ID      durable and queued
 *   corrupt/ID    unreadable: moved aside by qmgr, logged, never dropped
 *
 * smtpd writes incoming/ID and calls spool_commit(), which returns only once
 * the file is on stable storage: either qmgr's group commit (one syncfs()
 * covering every message committed meanwhile, then renames into queue/) or,
 * in fsync mode or when qmgr cannot be reached, the caller's own fsync of
 * file and directories. The writer holds an exclusive flock() on
 * incoming/ID from creation until the file is in queue/ or unlinked, so a
 * file in incoming/ whose lock can be taken has lost its writer. qmgr
 * moves such a file into queue/ when it is complete (at-least-once: after
 * a crash it may have been acknowledged; see qmgr.c) and removes an
 * incomplete one once it is old (it was never acknowledged).
 *
 * File format (version 1): the magic line "ESTAFETA-SPOOL 1\n", then records
 * of 1 type byte, 4-byte big-endian length and data: envelope records, then
 * 'D' content chunks, then 'Z' with the 8-byte big-endian content length.
 * Nothing may follow 'Z'. Readers reject unknown types and anything else.
 */
#ifndef EST_SPOOL_H
#define EST_SPOOL_H

#include <stddef.h>

struct buf;

#define SPOOL_ID_LEN	20

/* RFC 3461 NOTIFY flags; 0 = not given. */
#define SPOOL_NOTIFY_NEVER	0x01
#define SPOOL_NOTIFY_SUCCESS	0x02
#define SPOOL_NOTIFY_FAILURE	0x04
#define SPOOL_NOTIFY_DELAY	0x08

enum spool_ret { SPOOL_RET_NONE = 0, SPOOL_RET_FULL, SPOOL_RET_HDRS };
enum spool_body { SPOOL_BODY_7BIT = 0, SPOOL_BODY_8BITMIME,
	SPOOL_BODY_BINARYMIME };

struct spool_rcpt {
	char		*addr;		/* mailbox, canonical form */
	char		*orcpt;		/* RFC 3461 ORCPT "type;address",
					 * the address decoded (xtext; for
					 * utf-8, RFC 6533: UTF-8), or NULL */
	unsigned	 notify;
};

struct spool_env {
	char		 id[SPOOL_ID_LEN + 1];
	long long	 arrival;	/* unix time */
	char		*sender;	/* "" for the null sender */
	struct spool_rcpt *rcpts;
	size_t		 nrcpt;
	char		*envid;		/* RFC 3461 ENVID, or NULL */
	int		 ret;		/* enum spool_ret */
	int		 body;		/* enum spool_body */
	int		 smtputf8;
	char		*helo;
	char		*client;	/* "[addr]:port" */
	char		*auth_user;	/* or NULL */
	unsigned long long size;	/* content bytes (set by the reader) */
};

struct spool;
struct spool_msg;

/*
 * Opens the spool at dir (creating the subdirectories when create is set).
 * sync_mode is enum spool_sync_mode. COMMIT goes to spool_dir/commit.sock
 * (qmgr's commit thread), NOTIFY to spool_dir/qmgr.sock.
 * 1, or -1 with *errstr_r. Not thread-safe; one per process.
 */
int	 spool_open(const char *dir, int sync_mode, int create,
	    struct spool **sp_r, const char **errstr_r);
void	 spool_close(struct spool **);
/* Whether a commit tells qmgr (spool_dir/qmgr.sock) about the new file:
 * on by default; qmgr itself turns it off for the files it writes (it
 * indexes them at once, and a process that writes to its own socket,
 * whose queue it does not read meanwhile, blocks for ever once the queue
 * is full). */
void	 spool_set_notify(struct spool *, int on);
int	 spool_dirfd(const struct spool *, const char *sub);
const char *spool_path(const struct spool *);

/* Fills id with a new unique, time-ordered queue id. */
void	 spool_new_id(char id[SPOOL_ID_LEN + 1]);

/* Starts incoming/<env->id> and writes the envelope. NULL on error. */
struct spool_msg *spool_begin(struct spool *, const struct spool_env *,
	    const char **errstr_r);
/* Adds content bytes. 1, or -1 (disk error; the message is lost). */
int	 spool_append(struct spool_msg *, const void *, size_t);
/*
 * Finishes the file and makes it durable (see above). Returns 1 only when
 * the message is on stable storage; -1 with *errstr_r otherwise (the file is
 * removed). Frees *mp. Blocks (disk, qmgr).
 */
int	 spool_commit(struct spool_msg **mp, const char **errstr_r);
/* Drops an unfinished message and its file. Frees *mp; NULL is fine. */
void	 spool_abort(struct spool_msg **mp);

/* The error of a reader that could not open the file (EMFILE, EACCES,
 * ...): the file is not known to be damaged. */
#define SPOOL_ERR_OPEN	"cannot open"

/*
 * Reads the file <name> in directory dirfd. 1 with *env_r (and the content
 * appended to content, unless content is NULL); 0 if there is no such file;
 * -1 if it is corrupt or unreadable (*errstr_r says why).
 */
int	 spool_read(int dirfd, const char *name, struct spool_env **env_r,
	    struct buf *content, const char **errstr_r);
void	 spool_env_free(struct spool_env **);
/*
 * The envelope alone, for a file whose content cannot be read: opens
 * <name> and reads its envelope records up to the first content record,
 * nothing after it (size stays 0). 1 with *env_r; 0 if there is no such
 * file; -1 if the envelope itself is damaged or incomplete (*errstr_r).
 */
int	 spool_read_envelope(int dirfd, const char *name,
	    struct spool_env **env_r, const char **errstr_r);

/*
 * Streaming read, for delivery: opens <name>, reads its envelope and leaves
 * the content to spool_content_next(); (*env_r)->size is the content
 * length, known before the content is read: the end record's total, once
 * the record headers before it were found to add up to it (their contents
 * are stepped over). 1 with *env_r and *c_r; 0 if there is no such file;
 * -1 if the file is damaged, in the envelope or in the record framing,
 * before any content was returned (*errstr_r says why: "content length
 * mismatch", "truncated", ...). May block on disk reads.
 */
struct spool_content;
int	 spool_open_content(int dirfd, const char *name,
	    struct spool_env **env_r, struct spool_content **c_r,
	    const char **errstr_r);
/*
 * The next piece of content (*p_r is valid until the next call): 1; 0 at
 * the end, after the end record was checked; -1 if the file is damaged
 * (spool_content_error() says how). The file was checked when it was
 * queued; damage found here means it changed since.
 */
int	 spool_content_next(struct spool_content *, const char **p_r,
	    size_t *n_r);
const char *spool_content_error(const struct spool_content *);
void	 spool_content_close(struct spool_content **);

/* 1 when name has the form of a queue id. */
int	 spool_valid_id(const char *name);

#endif
