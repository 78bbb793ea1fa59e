/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * Internals shared by mstore.c (handle, names, index), mstore_maildir.c
 * (files: unique names, flag letters, line ends, directory scans),
 * mstore_folder.c (folders, subscriptions, status) and mbox.c (snapshots).
 */
#ifndef EST_MSTORE_PRIV_H
#define EST_MSTORE_PRIV_H

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <stdint.h>
#include <time.h>

#include <sqlite3.h>

struct buf;
struct iovec;

struct mstore {
	char		*dir;		/* the user's Maildir (INBOX) */
	sqlite3		*db;
	int		 lockfd;	/* POP3 flock, -1 */
	int		 watchfd;	/* inotify, -1 */
	unsigned	 counter;	/* unique names: Q<n> */
	int		 batch;		/* mstore_batch_begin: inner
					   transactions are savepoints */
	uint64_t	 quota;		/* mstore_set_quota, 0: none */
	uint64_t	 used;		/* usage in a batch, when used_ok */
	int		 used_ok;	/* used is valid: set by an add in a
					   batch, cleared by anything else
					   that may change the usage */
	char		**unl;		/* message files to unlink once the
					   transaction commits (msg_doom) */
	size_t		 nunl;
	size_t		 capunl;
	size_t		 unl_mark;	/* nunl at the batch's savepoint */
	char		 errbuf[512];
};

/* A row of the folders table. */
struct folder_row {
	int64_t		 id;
	uint32_t	 uidvalidity;
	uint32_t	 uidnext;
	uint32_t	 recent_uid;	/* highest UID a rw session saw */
	uint64_t	 hms;		/* HIGHESTMODSEQ */
	int64_t		 mt_new;	/* mtimes (ns) of new/, cur/ at scan */
	int64_t		 mt_cur;
};

int	 mstore_err(struct mstore *, const char **errstr_r, const char *fmt,
	    ...) __attribute__((format(printf, 3, 4)));
int	 mstore_exec(struct mstore *, const char *sql);
int	 mstore_begin(struct mstore *, const char **errstr_r);
int	 mstore_commit(struct mstore *, const char **errstr_r);
void	 mstore_rollback(struct mstore *);
sqlite3_stmt *mstore_prep(struct mstore *, const char *sql);
int	 fsync_dir(const char *path);
int	 maildir_make(const char *path);
int	 mstore_is_inbox(const char *name);
void	 mstore_name_canon(const char *name, char *out, size_t outsz);
/* %XX-escapes s[0..n) into out as a path component (see mstore.h). */
int	 mstore_addr_escape(const char *s, size_t n, struct buf *out);
const char *mstore_dir(const struct mstore *);

/* The directory of canonical folder name (the user dir for INBOX). */
int	 folder_path(struct mstore *, const char *canon, char *out,
	    size_t outsz);
/*
 * Reads (creating when the directory exists) the folder's row and brings it
 * up to date with the Maildir; inside a transaction the caller holds
 * (intxn) or in its own. 0 "no such mailbox" (also \Noselect).
 */
int	 folder_sync(struct mstore *, const char *canon, int intxn,
	    struct folder_row *, const char **errstr_r);
/* Reads the row of canon: 1, 0 none, -1 error. */
int	 folder_row_get(struct mstore *, const char *canon,
	    struct folder_row *);
/* Deletes message uid's index and cache rows. */
int	 msg_gone(struct mstore *, int64_t fid, uint32_t uid);
/*
 * Expunging a message is two-phase so that no crash can bring it back or
 * leave the index naming a missing file: inside the transaction its row
 * goes and a "doomed" row (folder, base name) is added, and file (relative
 * to dir) is queued; the file is unlinked only after the commit. A crash
 * in between leaves the file with a doomed row: the next scan of the
 * folder unlinks it instead of taking it for a new message. -1 on error.
 */
int	 msg_doom(struct mstore *, int64_t fid, const char *dir,
	    const char *file);
/* After the commit: unlinks the queued files; or forgets them. */
void	 mstore_unlink_queued(struct mstore *);
void	 mstore_unlink_forget(struct mstore *, size_t keep);
int	 folder_row_write(struct mstore *, const struct folder_row *);
/* Public-ish: sync by (any-case) name; fr may be NULL. */
int	 mstore_folder_sync(struct mstore *, const char *name,
	    struct folder_row *, const char **errstr_r);

int	 msg_insert(struct mstore *, struct folder_row *, const char *base,
	    const char *file, uint32_t flags, const char *kw, time_t idate,
	    uint64_t size, uint32_t *uid_r);

static inline int
set_no_folder(const char **errstr_r)
{
	if (errstr_r != NULL)
		*errstr_r = "no such mailbox";
	return 0;
}

static inline int
set_err2(const char **errstr_r, const char *s)
{
	if (errstr_r != NULL)
		*errstr_r = s;
	return -1;
}

/* strlcpy/strlcat: glibc before 2.38 has neither. */
static inline size_t
ms_strlcpy(char *dst, const char *src, size_t sz)
{
	int n = snprintf(dst, sz, "%s", src);

	return n < 0 ? sz : (size_t)n;
}

static inline size_t
ms_strlcat(char *dst, const char *src, size_t sz)
{
	size_t l = strnlen(dst, sz);

	return l == sz ? sz + strlen(src) :
	    l + ms_strlcpy(dst + l, src, sz - l);
}

/* Maildir files. */
#define MD_FLAGS	(MSG_SEEN | MSG_ANSWERED | MSG_FLAGGED | MSG_DELETED | \
			    MSG_DRAFT)
uint32_t md_flags_of(const char *file);
/* "cur/<base>:2,<letters>" or "new/<base>" for flags 0 from new. */
int	 md_file_name(const char *base, const char *oldfile, uint32_t flags,
	    char *out, size_t outsz);
/* Base name: the file name without "new/"/"cur/" and ":2,...". */
size_t	 md_base_len(const char *name);
/* Writes data (to LF) into dir/tmp, fsyncs; returns the base name. */
int	 md_deliver_tmp(struct mstore *, const char *dir,
	    const struct iovec *iov, int iovcnt, time_t idate, char *base,
	    size_t basesz, uint64_t *size_r, const char **errstr_r);
/*
 * Puts a copy of the stored message file src into dir/tmp under a new
 * base name (S= its stored size, W=size): a hard link (Maildir files never
 * change: only their names do), or a copy where no link can be made;
 * synced. 1, 0 when src is gone (renamed or removed meanwhile), -1.
 */
int	 md_link_tmp(struct mstore *, const char *dir, const char *src,
	    uint64_t size, char *base, size_t basesz, const char **errstr_r);
/* A message being written into the store as it arrives (mstore_spool_*). */
#define MSTORE_SPOOL_BUF	65536
struct mstore_spool {
	int		 fd;
	int		 anon;		/* O_TMPFILE: path is not its name */
	char		 path[PATH_MAX];	/* in the host store's tmp/ */
	char		*buf;		/* MSTORE_SPOOL_BUF octets, LF form */
	size_t		 n;
	int		 cr;		/* a CR waits for the next octet */
	char		 last;		/* last octet stored (crlf_of) */
	uint64_t	 stored;	/* octets in the file (and buf) */
	uint64_t	 size;		/* their CRLF size */
	uint64_t	 mark_stored;	/* mstore_spool_mark: where the */
	uint64_t	 mark_size;	/* shared part starts */
};
/*
 * Writes prefix[0..n) (to LF) and then sp's text after its mark into a
 * new file in dir/tmp, fsyncs; returns the base name and the CRLF size.
 * prefix NULL: the whole of sp's file, hard-linked where it can be.
 */
int	 md_spool_tmp(struct mstore *, const char *dir,
	    const struct iovec *prefix, int n, const struct mstore_spool *sp,
	    time_t idate, char *base, size_t basesz, uint64_t *size_r,
	    const char **errstr_r);
/*
 * Adds a copy of the stored message file src to folder, as mstore_add
 * does with data (md_link_tmp: no copy in memory). 0 "no such mailbox";
 * -1 "message vanished" when src is gone.
 */
int	 mstore_add_file(struct mstore *, const char *folder, const char *src,
	    uint64_t size, uint32_t flags, const char *keywords,
	    time_t internaldate, uint32_t *uidvalidity_r, uint32_t *uid_r,
	    const char **errstr_r);
/*
 * A MOVE's arrivals (mbox_move), so that a crash leaves each message in
 * exactly one folder: the files are linked into the target's tmp/ first
 * (arrive_link), their base names made doomed in the target and committed
 * (arrive_mark), and only in the transaction that removes the originals
 * renamed into new/ or cur/ with their rows, their doomed rows dropped
 * (arrive_add). A crash before that commit leaves files that the next
 * scan of the target unlinks (doomed); after it, originals that the next
 * scan of the source unlinks (msg_doom).
 */
struct arrival {
	char		 base[NAME_MAX + 1];	/* "" when not linked */
	uint64_t	 size;
	uint32_t	 uid;		/* in the target, set by arrive_add */
};
/* The target's canonical name and directory: 1, 0 no such, -1. */
int	 arrive_target(struct mstore *, const char *folder, char *canon,
	    size_t canonsz, char *dir, size_t dirsz, const char **errstr_r);
/* md_link_tmp for an arrival: 1, 0 src gone, -1. */
int	 arrive_link(struct mstore *, const char *dir, const char *src,
	    struct arrival *, const char **errstr_r);
/* Commits doomed rows for the linked arrivals (own transaction). */
int	 arrive_mark(struct mstore *, const char *canon,
	    const struct arrival *, size_t n, const char **errstr_r);
/*
 * In a transaction: syncs the target (before any rename: a scan would
 * take the arrivals for leftovers) into *fr and says whether every linked
 * arrival is still marked (a scan that saw none of them clears the marks
 * it read): 1 yes, 0 no (mark again), -1 error.
 */
int	 arrive_begin(struct mstore *, const char *canon,
	    struct folder_row *fr, const struct arrival *, size_t n,
	    const char **errstr_r);
/* In that transaction: renames a in with flags and keywords, adds its row
 * (a->uid) and drops its mark. fr is written back by arrive_end. */
int	 arrive_add(struct mstore *, const char *dir, struct folder_row *fr,
	    struct arrival *a, uint32_t flags, const char *keywords,
	    time_t internaldate, const char **errstr_r);
int	 arrive_end(struct mstore *, const char *dir,
	    const struct folder_row *fr, const char **errstr_r);
/* Unlinks the tmp/ links of arrivals not added (after a failure). */
void	 arrive_drop(const char *dir, struct arrival *, size_t n);
/* Test-only crash point before each commit of a MOVE
 * (BUZOND_TEST_CRASH_MOVE=N: SIGKILL before the Nth). */
void	 md_test_move(void);
/* IMAP size (CRLF) of a stored file, reading it. -1 on error. */
int	 md_file_size(const char *path, uint64_t *size_r);
/* Looks for base in dir/new and dir/cur; file_r "new/.." 1, 0 none. */
int	 md_find(const char *dir, const char *base, char *file_r,
	    size_t filesz);
/* LF->CRLF: appends p[0..n) to out; *cr carries state across calls. */
int	 md_crlf_append(struct buf *out, const char *p, size_t n, int *cr);
/* Removes dir recursively (a folder's Maildir). */
int	 md_rmtree(const char *dir);
/*
 * Test-only crash point, called after each unlink of a message file: with
 * BUZOND_TEST_CRASH_UNLINK=N in the environment the process kills itself
 * (SIGKILL, nothing flushed) right after its Nth one. Never set it in
 * production; unset, it costs one getenv per process.
 */
void	 md_test_unlinked(void);
/*
 * The same with BUZOND_TEST_CRASH_COMMIT=N: called right before the COMMIT
 * of a transaction that removes message files (IMAP EXPUNGE, POP3's
 * UPDATE), it kills the process before its Nth one.
 */
void	 md_test_commit(void);
/*
 * Unlinks the files in dir/tmp last modified MD_TMP_MAX_AGE or longer
 * before now: deliveries that died half-way (ours, or another program's;
 * the Maildir convention is 36 hours). The count, or -1.
 */
#define MD_TMP_MAX_AGE	(36 * 3600)
int	 md_clean_tmp(const char *dir, time_t now);

#endif
