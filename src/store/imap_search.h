/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * IMAP SEARCH programs (RFC 3501 6.4.4): parses the search keys of a
 * SEARCH or UID SEARCH command into a tree and evaluates it on one message
 * at a time. Every RFC 3501 key is supported, with parenthesized groups,
 * OR, NOT and sequence sets. String keys match case-insensitively (ASCII)
 * as substrings of the decoded text: header values with RFC 2047
 * encoded-words decoded and converted to UTF-8, bodies with their
 * Content-Transfer-Encoding undone and text parts converted to UTF-8.
 *
 * Pure: no I/O. The evaluator asks its caller for the message's header or
 * whole text only when a key needs it, after the cheap keys (flags, sizes,
 * dates, sets) of the same AND group have been checked, so a search on
 * flags reads no file. Used by the SEARCH handler in imap_msgcmd.c.
 */
#ifndef EST_IMAP_SEARCH_H
#define EST_IMAP_SEARCH_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct imap_arg;
struct imap_search;

/*
 * Parses args[0..n) (the arguments after SEARCH). Returns 1 with *s_r
 * (free with imap_search_free); 0 when the CHARSET is not UTF-8 or
 * US-ASCII (answer NO [BADCHARSET (UTF-8 US-ASCII)]); -1 with *errstr_r
 * on a syntax error (answer BAD).
 */
int	 imap_search_parse(const struct imap_arg *args, size_t n,
	    struct imap_search **s_r, const char **errstr_r);
void	 imap_search_free(struct imap_search **);

/*
 * Resolves "*" in the sequence-set keys (count messages) and UID keys
 * (highest UID maxuid) of the program; call before evaluating on a
 * mailbox, again when the mailbox changed.
 */
void	 imap_search_prepare(struct imap_search *, uint32_t count,
	    uint32_t maxuid);

/* What the program needs to read: 0 nothing, 1 the header, 2 all text. */
int	 imap_search_needs(const struct imap_search *);

/* One message as the evaluator sees it. */
struct imap_search_msg {
	uint32_t	 seq;
	uint32_t	 uid;
	uint32_t	 flags;		/* MSG_* incl. MSG_RECENT */
	const char	*keywords;	/* space-separated, "" if none */
	time_t		 internaldate;
	uint64_t	 size;
	/*
	 * Supplies the message text with CRLF line ends: its header (up to
	 * and including the blank line) when whole is 0, else all of it (a
	 * whole message also serves as its header). Returns 1 with
	 * *data_r and *len_r valid until the evaluation returns, 0 when the
	 * message vanished, -1 on error.
	 */
	int		(*load)(void *arg, int whole, const char **data_r,
			    size_t *len_r);
	void		*arg;
};

/*
 * Evaluates the program on m: 1 match, 0 no match, -1 when load failed
 * (the message vanished or could not be read: the caller skips it).
 */
int	 imap_search_match(struct imap_search *, const struct imap_search_msg *m);

/* Helpers shared with FETCH and tests. */

/*
 * Parses an RFC 3501 date ("1-Feb-1994", day 1 or 2 digits, month name
 * in any case) into a day number (days since 1970-01-01). 1 or -1.
 */
int	 imap_date_parse(const char *s, size_t len, int64_t *day_r);
/* The civil day number of y-m-d (m 1..12). */
int64_t	 imap_day_number(int64_t y, unsigned m, unsigned d);
/*
 * Parses the date of an RFC 5322 Date: value (day-of-week optional,
 * obsolete forms and comments tolerated), disregarding time and zone:
 * 1 with *day_r, -1 when no date can be read.
 */
int	 imap_date_hdr_parse(const char *s, size_t len, int64_t *day_r);

#endif
