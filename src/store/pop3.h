/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * buzond's POP3 session (RFC 1939 with CAPA and response codes, RFC 2449;
 * STLS, RFC 2595; AUTH PLAIN, RFC 5034; [AUTH], [IN-USE], [SYS/TEMP] codes, RFC 3206).
 * Runs in the forked per-connection process after privileges were dropped:
 * it reads the users database (read-only) and the authenticated user's
 * store, and nothing else. It never touches another user's mail: the store
 * is opened only for the login users_verify() accepted.
 */
#ifndef EST_POP3_H
#define EST_POP3_H

#include <stddef.h>

struct cfg_list;
struct conn;
struct ratelimit;
struct tls_server;
struct users;

/* What one session needs from the daemon; every pointer must outlive it. */
struct pop3_params {
	const char		*hostname;	/* greeting and log */
	const char		*store_root;	/* mstore_open root */
	struct users		*users;		/* NULL: -ERR [SYS/TEMP] */
	struct tls_server	*tls;		/* NULL: no STLS, no 995 */
	/* Client networks that may log in without TLS (USER/PASS, AUTH);
	 * NULL or empty: credentials only over TLS. */
	const struct cfg_list	*cleartext_networks;
	long long		 idle_timeout_ms;	/* between commands */
	unsigned		 error_limit;	/* bad commands, then closed */
	unsigned		 auth_fail_limit;	/* per session */
	size_t			 line_limit;	/* command line, CRLF incl. */
	/* Failed logins per client address over all sessions, in the
	 * region buzond's master shares (NULL: per session only). */
	struct ratelimit	*rl;
	long long		 fail_ip_limit;
	long long		 fail_ip_window_ms;
};

/* Defaults that match the documented configuration. */
#define POP3_IDLE_TIMEOUT_MS	(10 * 60 * 1000)
#define POP3_ERROR_LIMIT	10
#define POP3_AUTH_FAIL_LIMIT	3
#define POP3_LINE_LIMIT		512

/*
 * Serves one POP3 connection on c (an accepted socket, conn_init'ed; made
 * non-blocking here) until QUIT, a limit, a timeout or the peer leaving;
 * implicit_tls: the TLS handshake comes first (port 995, RFC 8314). Closes
 * nothing: the caller conn_close()s c afterwards. Logs a summary line.
 * Blocks.
 */
void	 pop3_session(struct conn *c, const struct pop3_params *p,
	    int implicit_tls);

#endif
