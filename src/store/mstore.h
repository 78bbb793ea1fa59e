/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * The mail store of one user: a Maildir++ tree plus an SQLite index.
 * Used by buzond's LMTP, POP3 and IMAP sessions (one process per session,
 * several processes on the same user at once) and by tests. It never talks
 * to the network and never authenticates: callers pass a user already
 * authenticated (or, for LMTP, resolved through the users database).
 *
 * On disk, for user "local@domain" under the store root:
 *   <root>/<domain>/<local>/            the user's Maildir (INBOX):
 *       new/ cur/ tmp/                  Maildir proper
 *       .Sent/ .Work.Projects/ ...      Maildir++ folders (IMAP hierarchy
 *                                       delimiter ".", names kept as IMAP
 *                                       sends them: modified UTF-7)
 *       subscriptions                   one folder name per line
 *       uidvalidity                     a bound above every UIDVALIDITY
 *                                       handed out (outlives the index)
 *       index.db                        SQLite (WAL): per folder
 *                                       UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ;
 *                                       per message UID, file name, flags,
 *                                       keywords, internal date, size,
 *                                       modseq, a cache blob
 * <domain> and <local> are lowercased; characters outside [a-z0-9._+-] and a
 * leading "." are %XX-escaped so no address can name a path outside root.
 *
 * Messages are stored with LF line ends (Maildir convention); every size and
 * every byte this API returns is in the IMAP/POP3 form with CRLF line ends.
 * A Maildir changed by another program (a file dropped into new/, a file
 * removed, a flag letter changed in a name) is picked up at the next open or
 * sync: new files get UIDs, vanished ones are expunged; the index is never
 * left inconsistent (it is a cache of the directory and can be rebuilt).
 *
 * Durability: mstore_add() returns only after the file and its directory are
 * fsync'd and the index row is committed.
 *
 * Return contract unless said otherwise: 1 done, 0 not found (errstr set),
 * -1 error with *errstr_r set (static text or text in the handle, valid until
 * the next call on it). errstr_r may be NULL. Every call may block on disk
 * I/O and, up to a busy timeout, on another process's index transaction.
 * Handles are for one thread.
 */
#ifndef EST_MSTORE_H
#define EST_MSTORE_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct buf;
struct iovec;
struct mstore;
struct mbox;

/* System flags (bit set). MSG_RECENT is per session, never stored. */
#define MSG_SEEN	0x01u
#define MSG_ANSWERED	0x02u
#define MSG_FLAGGED	0x04u
#define MSG_DELETED	0x08u
#define MSG_DRAFT	0x10u
#define MSG_RECENT	0x20u

#define MSTORE_NAME_MAX	255	/* a folder name, octets */

struct mbox_msg {
	uint32_t	 uid;
	uint32_t	 flags;		/* MSG_* */
	const char	*keywords;	/* space-separated atoms, "" if none */
	time_t		 internaldate;
	uint64_t	 size;		/* octets with CRLF line ends */
	uint64_t	 modseq;
};

struct mbox_status {
	uint32_t	 messages;
	uint32_t	 recent;
	uint32_t	 unseen;	/* messages without \Seen */
	uint32_t	 uidnext;
	uint32_t	 uidvalidity;
	uint64_t	 highestmodseq;
};

/*
 * Opens user's store under root, creating the Maildir and index when
 * create is set (LMTP delivery, first login). user is "local@domain"
 * (canonical, as the users database returns it). *st_r on success.
 * 0 "no such mailbox" when it does not exist and create is 0.
 */
int	 mstore_open(const char *root, const char *user, int create,
	    struct mstore **st_r, const char **errstr_r);
void	 mstore_close(struct mstore **);

/*
 * Octets used by every folder of the store (for quota), as the index
 * knows them (files other programs added count after the next sync).
 */
int	 mstore_usage(struct mstore *, uint64_t *bytes_r,
	    const char **errstr_r);

/*
 * The quota every add enforces (mstore_add, mstore_addv, mbox_copy):
 * octets of every folder, as mstore_usage counts them; 0 (the default) for
 * none. The usage check and the add are one index transaction (the index
 * write lock serializes every writer of the store), so concurrent
 * deliveries and IMAP sessions never overfill the store together. Inside a
 * batch the usage is read at the first add and then counted on.
 */
void	 mstore_set_quota(struct mstore *, uint64_t bytes);
/* mstore_add's *errstr_r (-1) when the message would exceed the quota. */
#define MSTORE_ERR_QUOTA	"mailbox full"

/*
 * Adds a message (data[0..len), LF or CRLF line ends, stored with LF) to
 * folder ("INBOX" in any case, or a folder name) with flags and keywords
 * (NULL or "" for none) and internal date (0: now). Durable on return.
 * *uid_r (may be NULL) gets the new UID, *uidvalidity_r (may be NULL) the
 * folder's UIDVALIDITY. 0 "no such folder"; -1 MSTORE_ERR_QUOTA when
 * a quota is set (mstore_set_quota) and the message would exceed it.
 */
int	 mstore_add(struct mstore *, const char *folder, const char *data,
	    size_t len, uint32_t flags, const char *keywords,
	    time_t internaldate, uint32_t *uidvalidity_r, uint32_t *uid_r,
	    const char **errstr_r);
/* The same, the message given in pieces iov[0..iovcnt) (LMTP: the
 * trace fields, then the message as received), never joined in memory. */
int	 mstore_addv(struct mstore *, const char *folder,
	    const struct iovec *iov, int iovcnt, uint32_t flags,
	    const char *keywords, time_t internaldate, uint32_t *uidvalidity_r,
	    uint32_t *uid_r, const char **errstr_r);

/*
 * A message written into the store as it arrives (LMTP DATA), so that it
 * is never held in memory, then added to any number of stores.
 * mstore_spool_open creates the file in the tmp/ of st's INBOX (the host
 * store; st must stay open until the spool is closed); mstore_spool_write
 * appends text (LF or CRLF line ends, stored with LF) through a 64 KiB
 * buffer; mstore_spool_mark notes that what was written so far belongs to
 * the host's copy only (its trace fields) and what follows is shared by
 * every copy (call it at a line end); mstore_spool_finish writes out the
 * buffer. mstore_spool_close removes the file (copies made from it stay)
 * and frees sp; a crash leaves it in tmp/ like any interrupted Maildir
 * delivery.
 */
struct mstore_spool;
int	 mstore_spool_open(struct mstore *, struct mstore_spool **sp_r,
	    const char **errstr_r);
int	 mstore_spool_write(struct mstore_spool *, const char *data,
	    size_t len, const char **errstr_r);
void	 mstore_spool_mark(struct mstore_spool *);
int	 mstore_spool_finish(struct mstore_spool *, const char **errstr_r);
void	 mstore_spool_close(struct mstore_spool **);
/*
 * Adds a finished spool to folder of st, as mstore_add does (quota
 * included). prefix NULL: the whole file is the message (the host's copy,
 * trace fields included), hard-linked into the folder (copied where no
 * link can be made). Else the message is prefix[0..n) followed by the
 * spool's text after its mark, copied in 64 KiB pieces.
 */
int	 mstore_add_spool(struct mstore *, const char *folder,
	    const struct iovec *prefix, int n, const struct mstore_spool *sp,
	    uint32_t flags, const char *keywords, time_t internaldate,
	    uint32_t *uidvalidity_r, uint32_t *uid_r, const char **errstr_r);

/*
 * Folder names: INBOX (case-insensitive) or a name made of components
 * separated by "." ; each component non-empty, no "/", no "\\", no control
 * characters, not "." or "..", the whole valid modified UTF-7 (RFC 3501
 * 5.1.3) and at most MSTORE_NAME_MAX octets. mstore_name_ok returns 1 when
 * name is acceptable, else 0 with *errstr_r ("invalid mailbox name: ...").
 */
int	 mstore_name_ok(const char *name, const char **errstr_r);

/* Creates folder (and missing parents). -1 "mailbox exists". */
int	 mstore_folder_create(struct mstore *, const char *name,
	    const char **errstr_r);
/*
 * Deletes folder and its messages. -1 "cannot delete INBOX", and, when it
 * has children, it keeps the folder as \Noselect (RFC 3501 6.3.4) or fails
 * "mailbox has children" if it already is one. 0 "no such mailbox".
 */
int	 mstore_folder_delete(struct mstore *, const char *name,
	    const char **errstr_r);
/*
 * Renames folder and its children. Renaming INBOX moves all its messages to
 * a new folder and leaves INBOX empty (RFC 3501 6.3.5). -1 "mailbox exists".
 */
int	 mstore_folder_rename(struct mstore *, const char *from,
	    const char *to, const char **errstr_r);
/*
 * Calls fn for every folder, INBOX first, then by name. noselect is set for
 * a \Noselect folder (a deleted parent), has_children when it has
 * subfolders. fn returning -1 stops the walk. Returns the count or -1.
 */
int	 mstore_folder_foreach(struct mstore *,
	    int (*fn)(void *arg, const char *name, int noselect,
	    int has_children), void *arg);
/* 1 if name exists (selectable or not), 0 if not. */
int	 mstore_folder_exists(struct mstore *, const char *name);
/* Subscriptions: set or clear, and walk (names need not exist). */
int	 mstore_subscribe(struct mstore *, const char *name, int on,
	    const char **errstr_r);
int	 mstore_subscription_foreach(struct mstore *,
	    int (*fn)(void *arg, const char *name), void *arg);
/* STATUS without selecting (syncs the folder with its Maildir first). */
int	 mstore_folder_status(struct mstore *, const char *name,
	    struct mbox_status *, const char **errstr_r);

/*
 * A file descriptor that becomes readable when anything in the store may
 * have changed (a delivery, another session's flag change or expunge):
 * inotify on the user's directories and index. For IDLE and for POP3/IMAP
 * sessions that poll. Owned by the store (closed by mstore_close); call
 * mstore_watch_drain() after it became readable. -1 on error.
 */
int	 mstore_watch_fd(struct mstore *, const char **errstr_r);
void	 mstore_watch_drain(struct mstore *);

/*
 * Groups the changes that follow (mbox_store, mbox_expunge, mstore_add...)
 * into one index transaction: one commit and one sync at
 * mstore_batch_end() instead of one per call (POP3's UPDATE, IMAP STORE
 * on many messages). Each call keeps its own all-or-nothing effect on the
 * index; a failed batch end undoes the index changes of the whole batch
 * (file renames already done are picked up again by the next sync, as for
 * any Maildir change). The index stays write-locked for other processes
 * until the end: keep batches short. Batches do not nest.
 */
int	 mstore_batch_begin(struct mstore *, const char **errstr_r);
int	 mstore_batch_end(struct mstore *, const char **errstr_r);

/*
 * POP3's exclusive lock on INBOX (RFC 1939: one session at a time): 1 taken,
 * 0 held by another session (reply [IN-USE]), -1 error. Released by
 * mstore_close or the process ending.
 */
int	 mstore_lock_inbox(struct mstore *, const char **errstr_r);

/*
 * Selects folder: syncs it with its Maildir, then takes a snapshot of its
 * messages in UID order (sequence number n is index n-1). readonly
 * (EXAMINE, POP3 with no lock) never changes flags or \Recent. Messages new
 * since the last session that selected read-write get MSG_RECENT in this
 * session only (RFC 3501 \Recent semantics). *mb_r on success; 0 "no such
 * mailbox" (also for a \Noselect folder).
 */
int	 mbox_open(struct mstore *, const char *folder, int readonly,
	    struct mbox **mb_r, const char **errstr_r);
void	 mbox_close(struct mbox **);
void	 mbox_status(struct mbox *, struct mbox_status *);
uint32_t mbox_count(const struct mbox *);
/* seq 1..mbox_count(); the pointer is valid until the next sync/expunge
 * or mbox_release(). */
const struct mbox_msg *mbox_msg(const struct mbox *, uint32_t seq);
/* seq's flags (MSG_*) from the snapshot, without reading the index as
 * mbox_msg() does; 0 for a seq out of range. */
uint32_t mbox_flags(const struct mbox *, uint32_t seq);
/*
 * Forgets the entries mbox_msg() read (they are read again when asked for),
 * so a session about to wait for its client keeps only the snapshot: uid and
 * flags, 5 octets a message. Invalidates every mbox_msg() pointer.
 */
void	 mbox_release(struct mbox *);
/* Sequence number of uid, or 0 if not in the snapshot. */
uint32_t mbox_seq_of_uid(const struct mbox *, uint32_t uid);

/*
 * Brings the snapshot up to date with the index and the Maildir (other
 * sessions and deliveries). Reports, in this order, through the callbacks
 * (any may be NULL): each expunged message's sequence number in the
 * numbering at the time of the report (RFC 3501 EXPUNGE semantics: report
 * in descending order is NOT required; each call already accounts for the
 * previous ones), each remaining message whose flags or keywords changed
 * (its current seq), then the new total when it changed (EXISTS) and the
 * number of recent messages. allow_expunge 0 defers expunges (during FETCH,
 * STORE, SEARCH the client must not see sequence numbers move) but still
 * reports flags and new messages.
 * Returns 1, -1 on an error (the snapshot stays usable), or 0 when the
 * mailbox is gone under its name: deleted or renamed by another session,
 * its Maildir directory removed by another program, or a new mailbox
 * created in its place (another UIDVALIDITY). Nothing is reported then;
 * the caller should close it (buzond's IMAP ends the session with BYE).
 */
struct mbox_sync_cb {
	void	(*expunged)(void *arg, uint32_t seq);
	void	(*flags)(void *arg, uint32_t seq);
	void	(*exists)(void *arg, uint32_t count, uint32_t recent);
	void	*arg;
};
int	 mbox_sync(struct mbox *, int allow_expunge,
	    const struct mbox_sync_cb *, const char **errstr_r);
/*
 * Whether the mailbox still exists under its name, cheaply (a stat and an
 * index row, no scan): 1 yes, 0 gone (as for mbox_sync), -1 error.
 */
int	 mbox_present(struct mbox *, const char **errstr_r);

/*
 * The Maildir base name of message seq (its file name without "new/" or
 * "cur/" and without the ":2,FLAGS" info) into out: unique in the folder
 * and the same for the file's whole life, whatever its flags and however
 * often the index is rebuilt (POP3 UIDL). 1, 0 MBOX_ERR_EXPUNGED when its
 * row is gone, -1 on error.
 */
int	 mbox_base(struct mbox *, uint32_t seq, char *out, size_t outsz,
	    const char **errstr_r);
/*
 * The same for every message of the snapshot, in one index read: calls
 * fn(arg, seq, base) in sequence order (a message whose row another session
 * expunged is left out); fn returning -1 stops the walk. 1, -1 on error.
 */
int	 mbox_base_foreach(struct mbox *, int (*fn)(void *arg, uint32_t seq,
	    const char *base), void *arg, const char **errstr_r);

/*
 * Reads message seq: the whole message (or only its header up to and
 * including the blank line, when header_only) appended to out with CRLF
 * line ends. 0 "message vanished" when the file was removed by another
 * program (the caller answers NO and the next sync expunges it).
 */
int	 mbox_read(struct mbox *, uint32_t seq, int header_only,
	    struct buf *out, const char **errstr_r);

/*
 * Opens message seq's file for reading, for a caller that streams it
 * (POP3 RETR): *fd_r (the caller closes it) reads the message as stored,
 * with LF line ends (a line may also end with CRLF); mbox_msg()->size is
 * the size of its CRLF form. 0 "message vanished", as mbox_read.
 */
int	 mbox_fd(struct mbox *, uint32_t seq, int *fd_r,
	    const char **errstr_r);
/*
 * Reads the next piece (at most 64 KiB) of a file mbox_fd opened and
 * appends it to out in the CRLF form; *cr (0 at the file's start) carries
 * a CR at a piece's end. Octets read from the file (out may get more), 0
 * at its end, -1 on error (errno).
 */
ssize_t	 mstore_read_crlf(int fd, int *cr, struct buf *out);

/*
 * Changes flags and keywords of seq. op: '+' adds, '-' removes, '=' replaces
 * (then keywords NULL means none). MSG_RECENT is ignored. Bumps modseq and
 * reflects the flags in the Maildir file name (":2,FRS..."). When
 * unchanged_since is non-zero and the message's modseq is greater, nothing
 * changes and 0 is returned (CONDSTORE-ready). Read-only snapshot: -1.
 */
int	 mbox_store(struct mbox *, uint32_t seq, int op, uint32_t flags,
	    const char *keywords, uint64_t unchanged_since,
	    const char **errstr_r);
/* mbox_store's *errstr_r when seq's row is gone (another session expunged
 * it since the snapshot): the caller may treat the message as removed. */
#define MBOX_ERR_EXPUNGED	"message expunged"
/*
 * The keywords of one message may take at most MBOX_KEYWORDS_MAX octets
 * (space-separated): more would let one client grow every FETCH FLAGS and
 * the index without bound. mbox_store and mstore_add refuse with this
 * *errstr_r (-1).
 */
#define MBOX_KEYWORDS_MAX	1024
#define MBOX_ERR_KEYWORDS	"too many keywords on the message"

/*
 * Copies seq into folder with the same flags, keywords and internal date;
 * *uid_r gets the new UID and *uidvalidity_r the destination's UIDVALIDITY
 * (UIDPLUS COPYUID). 0 "no such mailbox" (TRYCREATE); -1 MSTORE_ERR_QUOTA
 * when the copy would exceed the store's quota (mstore_set_quota).
 */
int	 mbox_copy(struct mbox *, uint32_t seq, const char *folder,
	    uint32_t *uidvalidity_r, uint32_t *uid_r, const char **errstr_r);

/*
 * Moves seqs[0..n) into folder (RFC 6851 MOVE), in one index transaction
 * with the originals' removal: whatever the crash point, each message is
 * afterwards in exactly one of the two folders, with its flags, keywords
 * and internal date. uids_r[i] gets the new UID of seqs[i], 0 when it was
 * not moved (expunged by another session meanwhile); *uidvalidity_r the
 * target's UIDVALIDITY. The originals stay in the snapshot, marked
 * expunged, until mbox_report_gone (so seqs stay valid from one call to
 * the next). 0 "no such mailbox" (TRYCREATE). Not inside a batch; no
 * quota check (a move does not change the usage).
 */
int	 mbox_move(struct mbox *, const uint32_t *seqs, size_t n,
	    const char *folder, uint32_t *uidvalidity_r, uint32_t *uids_r,
	    const char **errstr_r);
/* Drops the snapshot's expunged entries, calling expunged as
 * mbox_expunge does. */
void	 mbox_report_gone(struct mbox *,
	    void (*expunged)(void *arg, uint32_t seq), void *arg);

/*
 * Expunges every message with \Deleted (uids NULL) or only those whose UID
 * is in uids[0..nuids) and that have \Deleted (UID EXPUNGE). Calls
 * expunged(arg, seq) for each, with sequence numbers as RFC 3501 7.4.1
 * requires (each already accounting for the previous ones). Read-only: -1.
 */
int	 mbox_expunge(struct mbox *, const uint32_t *uids, size_t nuids,
	    void (*expunged)(void *arg, uint32_t seq), void *arg,
	    const char **errstr_r);

/*
 * Removes the messages whose UID is in uids[0..nuids), whatever their
 * flags, as mbox_expunge does (expunged, numbering, read-only): one index
 * transaction, and nothing on disk changes before it commits (the files
 * are unlinked after it). A crash leaves them all in place, as they were,
 * or all removed: POP3's UPDATE (RFC 1939 6). UIDs not in the snapshot are
 * skipped; *removed_r (may be NULL) gets how many this call removed (not
 * those another session had expunged already, which are reported too).
 */
int	 mbox_remove(struct mbox *, const uint32_t *uids, size_t nuids,
	    void (*expunged)(void *arg, uint32_t seq), void *arg,
	    size_t *removed_r, const char **errstr_r);

/*
 * A per-message cache blob (e.g. IMAP ENVELOPE and BODYSTRUCTURE strings,
 * computed once): get appends the stored bytes for key to out and returns
 * 1, or 0 when none; set stores them. Keys are short ASCII names. Cache
 * writes may be batched by the store; a failed set is not an error for the
 * caller (it is logged).
 */
int	 mbox_cache_get(struct mbox *, uint32_t seq, const char *key,
	    struct buf *out);
void	 mbox_cache_set(struct mbox *, uint32_t seq, const char *key,
	    const char *data, size_t len);

#endif
