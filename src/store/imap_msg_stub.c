/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * Placeholders for the message commands of imap_msg.h not linked yet: each
 * answers NO. Only the handlers still missing are here (a weak definition
 * in the same static library as the real one can shadow it, depending on
 * archive order); the file goes away when every handler exists.
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
	void								\
	fn(struct imap_session *s, const struct imap_arg *a, size_t n)	\
	{								\
		(void)a;						\
		(void)n;						\
		imap_msg_missing(s);					\
	}

IMAP_MSG_STUB(imap_cmd_fetch)
