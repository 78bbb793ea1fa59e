/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * buzond's IMAP4rev1 server session (RFC 3501 with LITERAL+, SASL-IR, IDLE,
 * UIDPLUS, MOVE, NAMESPACE, ENABLE, ID, SPECIAL-USE, CHILDREN, UNSELECT).
 * One session per process, on a connection accepted by the daemon, which
 * has already dropped privileges. Logins are checked against the users
 * database (only over TLS unless cleartext_auth); the user's mail is
 * reached only through mstore.h. Never touches another user's store.
 */
#ifndef EST_IMAP_H
#define EST_IMAP_H

#include <stddef.h>
#include <stdint.h>

#include "store/imap_parse.h"

struct conn;
struct ratelimit;
struct tls_server;
struct users;

/* What a session needs from buzond. */
struct imap_env {
	const char		*store_root;
	struct users		*users;		/* NULL: no logins possible */
	/* Optional: the caller's handle of users; after a successful login
	 * the session closes it (users_close: the caller's pointer becomes
	 * NULL), so an idle session does not keep the database open. */
	struct users		**users_release;
	struct tls_server	*tls;		/* NULL: no STARTTLS */
	int			 cleartext_auth; /* LOGIN/AUTH without TLS */
	long long		 login_timeout_ms;	/* before auth */
	long long		 idle_timeout_ms;	/* autologout (>= 30 min) */
	unsigned		 auth_fail_limit;	/* then BYE */
	unsigned		 error_limit;		/* BAD replies, then BYE */
	struct imap_limits	 limits;		/* parser limits */
	size_t			 append_max;		/* APPEND octets; also
							 * the literal limit */
	/* Quota of a user without one of their own in the users database
	 * (octets, 0: none): APPEND and COPY answer NO [OVERQUOTA] past it. */
	uint64_t		 default_quota;
	/* Failed logins per client address over all sessions and both
	 * protocols (namespace "authfail", as POP3), in the region buzond's
	 * master shares; NULL: per session only. */
	struct ratelimit	*rl;
	long long		 fail_ip_limit;
	long long		 fail_ip_window_ms;
};

#define IMAP_LOGIN_TIMEOUT_MS	(60 * 1000)
#define IMAP_IDLE_TIMEOUT_MS	(30 * 60 * 1000)
#define IMAP_AUTH_FAIL_LIMIT	3
#define IMAP_FAIL_IP_LIMIT	10
#define IMAP_FAIL_IP_WINDOW_MS	(10 * 60 * 1000)
#define IMAP_ERROR_LIMIT	50
#define IMAP_APPEND_MAX		(50u * 1024 * 1024)
/* Literals before login (LOGIN, AUTHENTICATE): no mail to append yet. */
#define IMAP_PREAUTH_LITERAL_MAX	8192

/* Fills env with the defaults above (no users, no TLS, no store root). */
void	 imap_env_default(struct imap_env *);

/*
 * Runs one session on c (conn_init'ed on an accepted socket) until LOGOUT,
 * a timeout, a limit or a broken connection; with implicit_tls the TLS
 * handshake comes first (port 993). ip is the client address for the
 * logs. Logs one summary line at the end; flushes c but does not close it.
 * Blocks for the whole session.
 */
void	 imap_run(struct conn *c, const struct imap_env *env, const char *ip,
	    int implicit_tls);

#endif
