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
int	imap_msg_seqs(struct imap_session *, const struct imap_arg *,
	    uint32_t **seqs_r, size_t *n_r);
uint32_t imap_msg_maxuid(struct mbox *);

#endif
