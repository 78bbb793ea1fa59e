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

#endif
