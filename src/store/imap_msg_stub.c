/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * Weak placeholders for the message commands of imap_msg.h, so the IMAP
 * session links before (or without) the real handlers: each answers NO.
 * A strong definition in imap_fetch.c etc. replaces it at link time.
 */
#include "config.h"

#include "store/imap_msg.h"
#include "store/imap_priv.h"

static void
imap_msg_missing(struct imap_session *s)
{
	imap_reply(s, IMAP_NO, "[CANNOT] %s is not implemented yet",
	    s->cmd != NULL ? s->cmd->name : "command");
}

#define IMAP_MSG_STUB(fn)						\
	__attribute__((weak)) void					\
	fn(struct imap_session *s, const struct imap_arg *a, size_t n)	\
	{								\
		(void)a;						\
		(void)n;						\
		imap_msg_missing(s);					\
	}

IMAP_MSG_STUB(imap_cmd_fetch)
IMAP_MSG_STUB(imap_cmd_store)
IMAP_MSG_STUB(imap_cmd_search)
IMAP_MSG_STUB(imap_cmd_copy)
IMAP_MSG_STUB(imap_cmd_move)
IMAP_MSG_STUB(imap_cmd_expunge)
