/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * smtpd internals shared by its files: smtpd.c (session loop, dispatch,
 * transaction and data commands), smtpd_policy.c (relay authorization,
 * sender identity, rate limits) and smtpd_auth.c (STARTTLS, AUTH). Not for
 * use outside smtpd.
 */
#ifndef EST_SMTPD_PRIV_H
#define EST_SMTPD_PRIV_H

#include <sys/socket.h>
#include <sys/types.h>

#include <stddef.h>

#include "lib/buf.h"
#include "lib/conn.h"
#include "relay/smtpd_cmd.h"
#include "relay/smtpd_data.h"
#include "relay/spool.h"

struct addr;
struct listener;
struct ratelimit;
struct relay_cfg;
struct tls_server;
struct users;
struct verify;

enum smtpd_state {
	ST_CONNECTED = 0x01,	/* greeting sent, no HELO/EHLO yet */
	ST_GREETED = 0x02,	/* HELO/EHLO done, no transaction */
	ST_MAIL = 0x04,		/* MAIL accepted */
	ST_RCPT = 0x08,		/* at least one RCPT accepted */
	ST_BDAT = 0x10,		/* BDAT chunks in progress */
};
#define ST_ANY	(ST_CONNECTED | ST_GREETED | ST_MAIL | ST_RCPT | ST_BDAT)


/* Capture of the header section for the From: identity check. */
#define SMTPD_HDR_MAX	(256 * 1024)
enum smtpd_hdr_state {
	SMTPD_HDR_OPEN = 0,	/* still in the header section */
	SMTPD_HDR_DONE,		/* header section complete in hdrbuf */
	SMTPD_HDR_TOOBIG,	/* longer than SMTPD_HDR_MAX: not checkable */
};

/* What a worker holds for all its sessions. */
struct smtpd_ctx {
	const struct relay_cfg	*cfg;
	struct spool		*spool;
	struct tls_server	*tls;		/* NULL: no certificates */
	struct users		*users;		/* NULL: database unavailable */
	struct verify		*verify;	/* relay recipient probe cache */
	struct ratelimit	*rl;
	size_t			 slot;		/* this worker's ratelimit slot */
};

struct smtpd_session {
	struct smtpd_ctx	*ctx;
	const struct relay_cfg	*cfg;
	const struct listener	*ls;
	struct spool		*spool;
	struct conn		 conn;
	char			 sid[16];
	char			 ip[64];
	int			 port;
	struct sockaddr_storage	 peer;
	int			 trusted;	/* client in trusted_networks */
	int			 tls;		/* TLS is active */
	char			*auth_user;	/* authenticated login */
	unsigned		 auth_failures;
	int			 rl_entered;	/* holds a concurrency slot */
	/* Local submission (listen_local): the peer's credentials from
	 * SO_PEERCRED; trusted to relay like an authenticated client. */
	int			 local;
	uid_t			 local_uid;
	char			*local_user;	/* login of local_uid, or "?" */
	char			 local_key[32];	/* "uid:N", rate-limit key */

	enum smtpd_state	 state;
	char			*helo;
	int			 esmtp;
	unsigned		 errors;
	int			 not_err;	/* this 4xx/5xx is no error */
	unsigned		 ncmd, ncmd_ok, nmsg;
	long long		 session_end;	/* conn_now_ms() deadline */
	int			 quit;
	const char		*outcome;

	/* Transaction. */
	char			 qid[SPOOL_ID_LEN + 1];
	struct smtp_path_cmd	 mail;
	struct spool_rcpt	*rcpts;
	size_t			 nrcpt;
	unsigned		 overshoot;	/* RCPTs past the limit */
	struct spool_msg	*msg;		/* BDAT in progress */
	struct data_parser	 dp;
	struct buf		 dbuf;
	struct buf		 hdrbuf;	/* header copy (authenticated) */
	int			 hdr_state;	/* enum smtpd_hdr_state */
	int			 bdat_failed;

	struct buf		 reply;
	struct buf		 esc;		/* scratch for log_escape */
};

/* Changes the state (logged at debug). */
void	smtpd_set_state(struct smtpd_session *, enum smtpd_state);
/* Sets the reply for the current command: one line, no CRLF. */
void	smtpd_reply(struct smtpd_session *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
/* Client text made safe for a log line (valid until the next call). */
const char *smtpd_esc(struct smtpd_session *, const char *, size_t);
/* Forgets the transaction (MAIL, RCPTs, message in progress). */
void	smtpd_tx_reset(struct smtpd_session *);

/* The key connection limits count: the client address, or the uid of a
 * local submission. */
#define SMTPD_CLIENT_KEY(s)	((s)->local ? (s)->local_key : (s)->ip)

/* smtpd_policy.c */
/* Connection-time limits; -1 with the reply set (the session must end). */
int	smtpd_policy_connect(struct smtpd_session *);
void	smtpd_policy_disconnect(struct smtpd_session *);
/* MAIL: sender identity and per-user rate; -1 with the reply set. */
int	smtpd_policy_mail(struct smtpd_session *, const struct addr *sender);
/* RCPT: relay authorization and recipient checks for the parsed rcpt and
 * its canonical text; -1 with the reply set. */
int	smtpd_policy_rcpt(struct smtpd_session *, const struct addr *rcpt,
	    const char *formatted);
/* End of data, authenticated sessions: every From: address must belong
 * to the login (users_sender_ok); -1 with the reply set. */
int	smtpd_policy_from(struct smtpd_session *);

#endif
