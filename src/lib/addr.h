/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * RFC 5321 path and mailbox parser (with RFC 6531 SMTPUTF8). Called by smtpd
 * for MAIL FROM / RCPT TO, and by config tables. Pure functions: no I/O, no
 * global state. It must never accept something it cannot re-format
 * unambiguously, and never read past the given length (input need not be
 * NUL-terminated).
 */
#ifndef EST_ADDR_H
#define EST_ADDR_H

#include <stddef.h>

struct buf;

#define ADDR_MAX_LOCAL	64	/* RFC 5321 4.5.3.1.1 */
#define ADDR_MAX_DOMAIN	255	/* RFC 5321 4.5.3.1.2 */
#define ADDR_MAX_PATH	256	/* RFC 5321 4.5.3.1.3, with the brackets */

/* Parse flags. */
#define ADDR_ALLOW_NULL		0x01	/* "<>" is valid (reverse-path) */
#define ADDR_ALLOW_UTF8		0x02	/* UTF-8 in local part and domain */
#define ADDR_ALLOW_POSTMASTER	0x04	/* "<Postmaster>" without a domain */

/* Result flags (struct addr.flags). */
#define ADDR_NULL	0x01	/* the null path "<>" */
#define ADDR_QUOTED	0x02	/* local part was a quoted string */
#define ADDR_UTF8	0x04	/* contains non-ASCII (needs SMTPUTF8) */
#define ADDR_ROUTE	0x08	/* an A-d-l source route was present, ignored */
#define ADDR_LITERAL	0x10	/* domain is an address literal [..] */

struct addr {
	char		*local;		/* unquoted, escapes resolved; "" for <> */
	char		*domain;	/* lowercased ASCII (UTF-8 kept as is);
					 * literal with brackets; NULL for <>
					 * and for <Postmaster> */
	unsigned	 flags;
};

/*
 * Parses a path ("<" [A-d-l ":"] Mailbox ">") at s[0..n). s must start with
 * '<'. On success returns 1, sets *a_r (free with addr_free) and *end_r to
 * the number of bytes consumed (just past '>'). On error returns -1 and sets
 * *errstr_r to a short static explanation ("missing '>'", "local part too
 * long", ...). Never blocks.
 */
int	 addr_parse_path(const char *s, size_t n, unsigned flags,
	    struct addr **a_r, size_t *end_r, const char **errstr_r);

/* Parses a bare mailbox "local@domain" filling all of s[0..n). */
int	 addr_parse_mailbox(const char *s, size_t n, unsigned flags,
	    struct addr **a_r, const char **errstr_r);

/*
 * Appends the canonical mailbox form (local part re-quoted when it is not a
 * dot-string) to b: "local@domain", "Postmaster", or "" for the null path.
 * -1 if b's maximum is exceeded.
 */
int	 addr_format(const struct addr *, struct buf *b);

/* Case-insensitive (ASCII) domain comparison; 1 when equal. */
int	 addr_domain_eq(const char *, const char *);

/* Frees *ap and sets it to NULL; NULL is fine. */
void	 addr_free(struct addr **ap);

#endif
