/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * POP3 session internals shared by pop3.c (session loop, dispatch, STLS,
 * authentication) and pop3_mail.c (the TRANSACTION and UPDATE commands).
 * Not for use outside the POP3 session.
 */
#ifndef EST_POP3_PRIV_H
#define EST_POP3_PRIV_H

#include <sys/socket.h>

#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "store/pop3.h"
#include "store/pop3_cmd.h"

struct conn;
struct mbox;
struct mstore;

struct pop3_session {
	const struct pop3_params *p;
	struct conn		*conn;
	char			 sid[16];
	char			 ip[64];
	int			 port;
	struct sockaddr_storage	 peer;
	int			 tls;		/* TLS is active */
	int			 implicit_tls;

	enum pop3_state		 state;
	char			*user_arg;	/* USER given, PASS pending */
	char			*user;		/* logged in (lower-cased) */
	unsigned		 auth_failures;
	unsigned		 errors;
	unsigned		 ncmd, ncmd_ok;
	int			 quit;
	const char		*outcome;

	/* TRANSACTION */
	struct mstore		*st;
	struct mbox		*mb;
	uint32_t		 nmsg;		/* messages in the maildrop */
	uint8_t			*deleted;	/* [nmsg]: marked by DELE */
	uint8_t			*retrieved;	/* [nmsg]: sent by RETR */
	uint32_t		 ndeleted;
	unsigned long long	 deleted_octets;
	unsigned		 nretr, ntop;
	unsigned long long	 retr_octets;
	unsigned		 expunged;	/* removed at UPDATE */

	struct buf		 reply;		/* the reply, CRLF-terminated */
	int			 msg_fd;	/* RETR/TOP: the message file,
						   streamed after the reply;
						   -1 */
	int			 msg_retr;	/* it is a RETR */
	struct pop3_stuff	 msg_stuff;
	struct buf		 esc;		/* scratch for log_escape */
};

/* Changes the state (logged at debug). */
void	pop3_set_state(struct pop3_session *, enum pop3_state);
/* Sets the reply: one line, CRLF appended. */
void	pop3_reply(struct pop3_session *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
/* Client text made safe for a log line (valid until the next call). */
const char *pop3_esc(struct pop3_session *, const char *, size_t);

/* pop3_mail.c */
/* Opens the store of s->user, locks and snapshots INBOX; 1, or -1 with
 * the reply set ([IN-USE], [SYS/TEMP]) and the store closed again. */
int	pop3_mail_open(struct pop3_session *);
/* UPDATE (QUIT in TRANSACTION): removes what DELE marked; sets reply. */
void	pop3_mail_update(struct pop3_session *);
/* Closes the mailbox and store without changing anything. */
void	pop3_mail_close(struct pop3_session *);
/*
 * After RETR's or TOP's +OK line: sends the message from s->msg_fd in
 * bounded pieces, dot-stuffed on the fly (never whole in memory), and
 * closes it. 1, or -1 when the connection is lost or the file cannot be
 * read (the session must end: the +OK is out, no -ERR can follow).
 */
int	pop3_mail_stream(struct pop3_session *);
void	pop3_stat(struct pop3_session *, const char *, size_t);
void	pop3_list(struct pop3_session *, const char *, size_t);
void	pop3_uidl_cmd(struct pop3_session *, const char *, size_t);
void	pop3_retr(struct pop3_session *, const char *, size_t);
void	pop3_top(struct pop3_session *, const char *, size_t);
void	pop3_dele(struct pop3_session *, const char *, size_t);
void	pop3_rset(struct pop3_session *, const char *, size_t);
void	pop3_noop(struct pop3_session *, const char *, size_t);

#endif
