/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * TLS contexts (OpenSSL 3). The master builds a tls_server from the
 * configured certificate chains and keys as root, before privileges drop;
 * the children inherit it across fork and never read a key file again. A
 * servername (SNI) callback hands each handshake the certificate whose DNS
 * names match the name the client asked for (an exact name in any
 * certificate wins over a wildcard), else the first (default) one.
 * tls_client is the outbound side, for the SMTP client. The I/O itself is in
 * conn (conn_starttls_server/client). This module never touches a socket and
 * never logs: every problem comes back as text for the caller to report.
 */
#ifndef EST_TLS_H
#define EST_TLS_H

#include <stddef.h>

struct buf;
struct cfg_list;
struct ssl_st;			/* OpenSSL's SSL */

/* min_version values; they match relay_cfg's tls_min_version choices. */
#define TLS_MIN_12	0
#define TLS_MIN_13	1

/* Strings "" or NULL: OpenSSL's default. */
struct tls_server_cfg {
	const struct cfg_list	*certs;		/* PEM chains; [0] = default */
	const struct cfg_list	*keys;		/* matching keys, same order */
	int			 min_version;	/* TLS_MIN_12 or TLS_MIN_13 */
	const char		*ciphers;	/* TLS <= 1.2 cipher list */
	const char		*ciphersuites;	/* TLS 1.3 suites */
	const char		*groups;	/* key exchange groups */
};

struct tls_server;
struct tls_client;

/*
 * Loads every chain and key, checks that each key matches its certificate,
 * and collects each certificate's DNS names for SNI (subjectAltName DNS
 * entries, else the subject CN). Options: no compression, no renegotiation,
 * server cipher preference, session tickets on; passphrase-protected keys are
 * refused (never prompts). Every problem is appended to err as one
 * "file: problem\n" line (all of them, not only the first); returns -1 if any
 * was fatal. Conditions that only deserve attention (an expired or not yet
 * valid certificate, a key file readable by group or others, a certificate
 * without DNS names) are appended as "warning: file: problem\n" lines and the
 * call still returns 1 with *srv_r set. Reads files: call it before
 * privileges drop. Never blocks on anything but the files.
 */
int	 tls_server_new(const struct tls_server_cfg *,
	    struct tls_server **srv_r, struct buf *err);
/* Frees and NULLs. Connections using it must be closed first. */
void	 tls_server_free(struct tls_server **);

/*
 * tls_server_new()'s messages (msgs, one a line) as configuration errors
 * appended to err (cfg_where_error): a line about a setting
 * ("tls_ciphers: ...") names that setting's line, one about a file the
 * line of tls_cert_files or tls_key_files, whichever was set last.
 */
struct cfg_where;
void	 tls_server_cfg_errors(const struct cfg_where *, const char *msgs,
	    struct buf *err);

/*
 * Client context: trusts the CA certificates in ca_file (PEM, one or more),
 * or the system's default store when ca_file is NULL. Verification itself is
 * per connection (conn_starttls_client). 1, or -1 with "file: problem\n" in
 * err.
 */
int	 tls_client_new(const char *ca_file, int min_version,
	    struct tls_client **cli_r, struct buf *err);
void	 tls_client_free(struct tls_client **);

/*
 * For conn: a new SSL object for one connection, or NULL with a static
 * *errstr_r. The context must outlive it.
 */
struct ssl_st *tls_server_ssl_new(struct tls_server *, const char **errstr_r);
struct ssl_st *tls_client_ssl_new(struct tls_client *, const char **errstr_r);

/*
 * Server side, after the handshake: the first DNS name of the certificate
 * that was presented (the one SNI chose, or the default), or NULL (no names,
 * or not a tls_server connection).
 */
const char *tls_ssl_certname(const struct ssl_st *);

/*
 * 1 if the SNI rule matches name: pattern equal to it ignoring case, or
 * "*.rest" and name is one non-empty label followed by ".rest".
 */
int	 tls_name_match(const char *pattern, const char *name);

#endif
