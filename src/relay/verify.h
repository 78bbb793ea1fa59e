/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * Recipient verification for relay (backup MX) domains: a valid-recipient
 * table file, or a probe of the primary MX (EHLO, MAIL FROM:<>, RCPT TO,
 * QUIT: never DATA) whose answers are cached in SQLite so that a backup
 * MX refuses unknown users at RCPT time instead of accepting mail it would
 * later have to bounce to forged senders. Called by smtpd; blocks on the
 * probe (bounded by a deadline).
 */
#ifndef EST_VERIFY_H
#define EST_VERIFY_H

struct verify;

enum verify_result {
	VERIFY_UNKNOWN = -1,	/* could not decide now: tempfail (450) */
	VERIFY_INVALID = 0,	/* the primary refused it (550) */
	VERIFY_VALID = 1,
};

/*
 * Opens (creating) the cache at dbpath. 1, or -1 with *errstr_r. Safe for
 * many processes at once (WAL, busy timeout).
 */
int	verify_open(const char *dbpath, long long positive_ttl_ms,
	    long long negative_ttl_ms, struct verify **, const char **errstr_r);
void	verify_close(struct verify **);

/*
 * Verifies rcpt against primary ("ip:port" or "[ipv6]:port"), from the
 * cache when fresh. *reply_r (malloc'd, may be NULL) gets the primary's
 * reply line for logs. "cached" is set when no probe was needed. v may be
 * NULL (the cache could not be opened): then every call probes.
 */
enum verify_result verify_probe(struct verify *, const char *primary,
	    const char *helo, const char *rcpt, long long timeout_ms,
	    char **reply_r, int *cached_r);

/*
 * Looks rcpt up in a table file: one address or "@domain" per line, '#'
 * comments. 1 listed, 0 not, -1 unreadable (*errstr_r). Re-reads the file
 * when it changed.
 */
int	verify_table(const char *path, const char *rcpt, const char **errstr_r);

#endif
