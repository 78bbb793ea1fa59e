/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * The IMAP message commands (FETCH, STORE, SEARCH, COPY, MOVE, EXPUNGE and
 * their UID forms: s->uid says which), called by the dispatcher in imap.c
 * through its command table. Handler contract: imap_priv.h. Owned by the
 * message-command files (imap_fetch.c, imap_search.c, imap_msgcmd.c,
 * imap_seqset.c); imap_msg_stub.c holds weak placeholders that answer NO
 * until the real ones are linked.
 */
#ifndef EST_IMAP_MSG_H
#define EST_IMAP_MSG_H

#include <stddef.h>
#include <stdint.h>

struct buf;
struct imap_arg;
struct imap_session;

void	imap_cmd_fetch(struct imap_session *, const struct imap_arg *, size_t);
void	imap_cmd_store(struct imap_session *, const struct imap_arg *, size_t);
void	imap_cmd_search(struct imap_session *, const struct imap_arg *,
	    size_t);
void	imap_cmd_copy(struct imap_session *, const struct imap_arg *, size_t);
void	imap_cmd_move(struct imap_session *, const struct imap_arg *, size_t);
/* EXPUNGE, and UID EXPUNGE (UIDPLUS) when s->uid. */
void	imap_cmd_expunge(struct imap_session *, const struct imap_arg *,
	    size_t);

/*
 * Parses a flag list as STORE and APPEND take it: args[0..n) are ATOMs
 * ("\Seen", "$Label", ...; "\Recent" and unknown "\X" are refused).
 * Sets *flags_r (MSG_*) and replaces the contents of kw with the keywords,
 * space-separated, each once (compared ignoring case). Returns 1, or -1
 * with *errstr_r for a BAD reply. Implemented in imap_msgcmd.c.
 */
int	imap_flags_parse(const struct imap_arg *args, size_t n,
	    uint32_t *flags_r, struct buf *kw, const char **errstr_r);

/*
 * For the message commands: turns a sequence-set argument into ascending
 * message sequence numbers (the set holds UIDs when s->uid), *seqs_r
 * malloc'd (NULL when empty). 1, or -1 after replying BAD. maxuid: the
 * highest UID in the selected mailbox, 0 when empty.
 */
struct mbox;
struct mstore;
int	imap_msg_seqs(struct imap_session *, const struct imap_arg *,
	    uint32_t **seqs_r, size_t *n_r);
uint32_t imap_msg_maxuid(struct mbox *);

/*
 * Groups the index changes of a loop over many messages (STORE, \Seen by
 * FETCH, MOVE) into store batches of at most IMAP_BATCH_MAX changes, so
 * 10,000 changes are 40 commits, not 10,000, and the index is never
 * write-locked for long. begin; step after each change; end returns 1,
 * or -1 when a commit failed (those changes are undone: answer NO). When
 * a batch cannot be started the changes simply commit one by one.
 */
#define IMAP_BATCH_MAX	256
struct imap_batch {
	struct mstore	*st;
	unsigned	 n;
	int		 open;
	int		 failed;
	const char	*err;
};
void	imap_batch_begin(struct imap_batch *, struct mstore *);
void	imap_batch_step(struct imap_batch *);
int	imap_batch_end(struct imap_batch *);

#endif
