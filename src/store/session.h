/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * The entry points of buzond's protocol sessions. buzond's master (root)
 * accepts a connection and forks a child; the child drops privileges to
 * run_user, initialises the conn on the accepted socket and calls one of
 * these. They return when the session is over; the caller then closes the
 * conn and exits (so a session may leave memory and descriptors behind).
 * No session code runs as root, and none may assume it.
 */
#ifndef EST_STORE_SESSION_H
#define EST_STORE_SESSION_H

#include <stdint.h>

struct buzond_cfg;
struct conn;
struct tls_server;

struct buzond_ctx {
	const struct buzond_cfg	*cfg;		/* the whole configuration */
	struct tls_server	*tls;		/* NULL: no certificate set */
	const char		*hostname;	/* for greetings */
	const char		*store_root;	/* mstore_open's root */
	const char		*users_db;	/* users_open(path, 0, ...) */
	const char		*peer;		/* "192.0.2.1", "::1", "unix" */
	const char		*session_id;	/* log prefix, unique */
	int			 idle_timeout;	/* seconds, this protocol's */
	int			 tls_implicit;	/* pop3s/imaps listener */
	uint64_t		 max_message_size; /* octets, APPEND/LMTP */
	uint64_t		 default_quota;	/* octets, 0 = none */
};

/* RFC 2033 on a unix socket or loopback TCP (src/store/lmtp.c). */
void	 lmtp_serve(struct conn *, const struct buzond_ctx *);
/*
 * POP3 and IMAP have their own entry points with their own parameter
 * structs (pop3.h pop3_session, imap.h imap_run); buzond.c fills them from
 * this context.
 */

#endif
