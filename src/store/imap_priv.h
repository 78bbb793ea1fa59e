/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * IMAP session internals shared by imap.c (session loop, dispatcher, reply
 * writer, non-message commands, IDLE), imap_auth.c, imap_mbox.c and the
 * message commands (imap_fetch.c, imap_search.c, imap_msgcmd.c,
 * imap_seqset.c: see imap_msg.h). Not for use outside buzond's IMAP code.
 *
 * How a command handler works:
 *  - Its signature is
 *      void imap_cmd_x(struct imap_session *s, const struct imap_arg *args,
 *          size_t nargs);
 *    args being the
 *    parsed arguments after the command name (after "UID NAME" for a UID
 *    command: then s->uid is 1). Arguments are struct imap_arg
 *    (imap_parse.h): ATOM, STRING, NIL, LIST; use imap_arg_astring(),
 *    imap_arg_is(), imap_arg_cstr() to read them. The handler checks its
 *    own argument count and syntax and answers BAD when they are wrong.
 *  - The dispatcher has already checked the state (the table's mask),
 *    that a mailbox is selected for IMAP_ST_SELECTED commands, and counts
 *    errors; handlers only do their verb.
 *  - Untagged data goes out with imap_untagged() ("* " + text + CRLF) or,
 *    for literals and long lines, pieces with imap_write()/imap_printf()
 *    (no CRLF added). Output is buffered in the connection and flushed by
 *    the dispatcher; a failed write is noticed there (s->conn->err).
 *  - The tagged completion is set with imap_reply(s, IMAP_OK|IMAP_NO|
 *    IMAP_BAD, "[CODE] text") - the last call wins; a handler that sets
 *    none gets "OK <NAME> completed". The dispatcher writes it, after the
 *    untagged updates (new messages, flag changes, expunges of other
 *    sessions, RFC 3501 7.4.1: none during FETCH, STORE, SEARCH).
 *  - The selected mailbox is s->mbox (mstore.h; NULL when none), opened
 *    read-only when s->readonly. The user's store is s->store.
 */
#ifndef EST_IMAP_PRIV_H
#define EST_IMAP_PRIV_H

#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "lib/conn.h"
#include "store/imap.h"
#include "store/imap_parse.h"

struct mbox;
struct mstore;

enum imap_state {
	IMAP_ST_NOAUTH = 0x01,		/* not authenticated */
	IMAP_ST_AUTH = 0x02,		/* authenticated, nothing selected */
	IMAP_ST_SELECTED = 0x04,	/* a mailbox is selected */
	IMAP_ST_LOGOUT = 0x08,		/* LOGOUT done or BYE sent */
};
#define IMAP_ST_ANY	(IMAP_ST_NOAUTH | IMAP_ST_AUTH | IMAP_ST_SELECTED)
#define IMAP_ST_AUTHED	(IMAP_ST_AUTH | IMAP_ST_SELECTED)

enum imap_status {
	IMAP_OK = 0,
	IMAP_NO,
	IMAP_BAD,
};

struct imap_session {
	const struct imap_env	*env;
	struct conn		*conn;
	char			 sid[16];	/* log id */
	char			 ip[64];	/* client address, for logs */
	enum imap_state		 state;
	int			 tls;		/* TLS is active */
	char			*user;		/* authenticated login */
	struct mstore		*store;		/* the user's store (authed) */
	uint64_t		 quota;		/* the store's (octets), 0: none */
	struct mbox		*mbox;		/* selected mailbox or NULL */
	char			*mbox_name;	/* as the client named it */
	int			 readonly;	/* EXAMINE (or no rights) */
	int			 uid;		/* current command was UID ... */
	unsigned		 enabled;	/* ENABLE'd extensions (bits) */

	/* The command being run and its tagged reply. */
	const struct imap_cmd	*cmd;
	enum imap_status	 status;
	int			 replied;	/* imap_reply() was called */
	struct buf		 reply;		/* text after "tag OK " */

	/* Counters for limits and the summary line. */
	unsigned		 ncmd, nok, nno, nbad;
	unsigned		 errors;	/* consecutive-ish BADs */
	unsigned		 auth_failures;
	unsigned		 nappend, nexpunge;
	int			 tagged_sent;	/* handler sent it (STARTTLS) */
	int			 in_idle;
	const char		*outcome;
	struct buf		 esc;		/* scratch for log_escape */
	struct buf		 tmp;		/* scratch for handlers */
};

/* Command table entry flags. */
#define IMAP_CMD_UID		0x01	/* also valid as "UID <name>" */
#define IMAP_CMD_NOEXPUNGE	0x02	/* no EXPUNGE reports after it (not
					 * for its UID form: 7.4.1) */
#define IMAP_CMD_PRETLS_BAD	0x04	/* (reserved) */
#define IMAP_CMD_LEAVES		0x08	/* leaves the selected mailbox: runs
					 * even when it is gone */

struct imap_cmd_def {
	const char	*name;
	void		(*fn)(struct imap_session *, const struct imap_arg *,
			    size_t);
	unsigned	 states;	/* IMAP_ST_* mask where it is allowed */
	unsigned	 flags;		/* IMAP_CMD_* */
};

/* Changes the state (logged at debug). */
void	 imap_set_state(struct imap_session *, enum imap_state);

/* Sets the tagged completion of the current command ("[CODE] text"). */
void	 imap_reply(struct imap_session *, enum imap_status, const char *, ...)
	    __attribute__((format(printf, 3, 4)));
/* Writes "* " + text + CRLF now (buffered in the connection). */
void	 imap_untagged(struct imap_session *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
/* Writes raw bytes / formatted text with nothing added. */
void	 imap_write(struct imap_session *, const void *, size_t);
void	 imap_printf(struct imap_session *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));

/*
 * Appends s[0..len) to b as an IMAP string: a quoted string when it is
 * short printable text without '"' '\\' CR LF, else a literal {len}CRLF...
 * imap_nstring: NULL gives NIL. Return buf_append's result.
 */
int	 imap_quote(struct buf *b, const char *s, size_t len);
int	 imap_nstring(struct buf *b, const char *s, size_t len);
/* Appends "(\\Seen \\Answered kw1 kw2)" (MSG_RECENT as \\Recent). */
int	 imap_flags_format(struct buf *b, uint32_t flags, const char *kw);

/* mbox_expunge()/mbox_sync() callback: writes "* <seq> EXPUNGE"; arg is
 * the session. */
void	 imap_expunged_cb(void *arg, uint32_t seq);

/* Drops the rest of a line conn_getline() found too long (it left the
 * connection skipping): 1, or -1 when the connection broke. */
int	 imap_skip_line(struct imap_session *);

/* Client text made safe for a log line (valid until the next call). */
const char *imap_esc(struct imap_session *, const char *, size_t);

/* Runs one parsed command (exposed for unit tests). */
void	 imap_dispatch(struct imap_session *, const struct imap_cmd *);

/* imap.c */
/* Appends the capability list for the session's state. */
void	 imap_capability(struct imap_session *, struct buf *);
/* Reports other sessions' changes to the selected mailbox (untagged): 1,
 * or 0 when the mailbox is gone under its name: then "* BYE" was sent and
 * the session is ending (state LOGOUT, tagged reply suppressed). Only
 * where no command's own data went out (IDLE's wait): after a command,
 * imap_dispatch answers it first and says BYE at the next one. */
int	 imap_sync(struct imap_session *, int allow_expunge);
/* Closes the selected mailbox without expunging; state AUTH. */
void	 imap_deselect(struct imap_session *);

/* imap_auth.c */
/* 1 when LOGIN and AUTHENTICATE are allowed (TLS, or cleartext_auth). */
int	 imap_auth_allowed(const struct imap_session *);
/* The TLS handshake (STARTTLS or port 993); 1 or -1 (logged). */
int	 imap_tls_handshake(struct imap_session *);
void	 imap_cmd_starttls(struct imap_session *, const struct imap_arg *,
	    size_t);
void	 imap_cmd_login(struct imap_session *, const struct imap_arg *,
	    size_t);
void	 imap_cmd_authenticate(struct imap_session *,
	    const struct imap_arg *, size_t);

/* imap_mbox.c */
void	 imap_cmd_select(struct imap_session *, const struct imap_arg *,
	    size_t);
void	 imap_cmd_examine(struct imap_session *, const struct imap_arg *,
	    size_t);
void	 imap_cmd_create(struct imap_session *, const struct imap_arg *,
	    size_t);
void	 imap_cmd_delete(struct imap_session *, const struct imap_arg *,
	    size_t);
void	 imap_cmd_rename(struct imap_session *, const struct imap_arg *,
	    size_t);
void	 imap_cmd_subscribe(struct imap_session *, const struct imap_arg *,
	    size_t);
void	 imap_cmd_unsubscribe(struct imap_session *,
	    const struct imap_arg *, size_t);
void	 imap_cmd_list(struct imap_session *, const struct imap_arg *,
	    size_t);
void	 imap_cmd_lsub(struct imap_session *, const struct imap_arg *,
	    size_t);
void	 imap_cmd_status(struct imap_session *, const struct imap_arg *,
	    size_t);
void	 imap_cmd_append(struct imap_session *, const struct imap_arg *,
	    size_t);
/*
 * A mailbox name argument, validated (mstore_name_ok; "INBOX" in any case
 * becomes "INBOX"): 1 with a malloc'd *name_r, or 0 with the BAD/NO reply
 * set. Also for COPY and MOVE.
 */
int	 imap_mailbox_arg(struct imap_session *, const struct imap_arg *,
	    char **name_r);
/* LIST pattern matching ('*' any, '%' any but the delimiter '.'). */
int	 imap_list_match(const char *pattern, const char *name);

#endif
