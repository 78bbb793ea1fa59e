/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * Delivery status notifications (RFC 3461, 3464, 6522, 6533): builds the
 * complete notification message that qmgr queues for the original sender
 * (bounces, delay notices, success reports) and decides from a recipient's
 * NOTIFY bits whether one is wanted at all. Pure functions: no I/O beyond
 * the caller's read callback, no process state. Everything that comes from
 * outside (addresses, remote replies, ENVID, ORCPT) is sanitised before it
 * lands in a header field: it can never start a new field or line, and it
 * is ASCII unless the original needed SMTPUTF8.
 */
#ifndef EST_DSN_H
#define EST_DSN_H

#include <stddef.h>

struct buf;

enum dsn_action { DSN_FAILED, DSN_DELAYED, DSN_DELIVERED, DSN_RELAYED,
	DSN_EXPANDED };

struct dsn_rcpt {
	const char	*addr;		/* final recipient, canonical form */
	const char	*orcpt;		/* "rfc822;addr" from ORCPT, or NULL */
	enum dsn_action	 action;
	const char	*status;	/* enhanced status "5.1.1", see below */
	const char	*diagnostic;	/* remote reply text, or NULL */
	const char	*remote_mta;	/* MX host name or address, or NULL */
	long long	 last_attempt;	/* unix time, 0 = none */
	long long	 will_retry_until; /* DSN_DELAYED: time, 0 = none */
};

struct dsn_params {
	const char	*reporting_mta;	/* our hostname */
	const char	*queue_id;	/* or NULL */
	long long	 arrival;	/* the original arrived; 0 = unknown */
	const char	*envid;		/* ENVID (xtext-decoded) or NULL */
	const char	*original_sender; /* To: of the notification */
	const char	*postmaster;	/* From: address, MAILER-DAEMON@host */
	int		 ret_full;	/* RET=FULL */
	long long	 max_original;	/* original bytes returned at most */
	int		 smtputf8;	/* original needed SMTPUTF8 */
	const char	*note;		/* a last paragraph for part 1 (ours,
					 * ASCII), or NULL */
};

/* Size of the header section returned at most; longer ones are cut. */
#define DSN_HEADERS_MAX	(64 * 1024)

/*
 * Appends to out a complete RFC 5322 message, CRLF line endings, no line
 * over 998 octets: the notification for the n (>= 1) recipients in rcpts,
 * a multipart/report; report-type=delivery-status of three parts:
 *
 *  1. text/plain for people: what happened to which recipient, the remote
 *     server's reply, what happens next for delays, what part 3 holds;
 *  2. message/delivery-status (message/global-delivery-status when
 *     smtputf8) with the RFC 3464 per-message fields (Original-Envelope-Id,
 *     Reporting-MTA, Arrival-Date, X-Estafeta-Queue-ID) and one block per
 *     recipient (Original-Recipient, Final-Recipient, Action, Status,
 *     Remote-MTA, Diagnostic-Code, Last-Attempt-Date, Will-Retry-Until);
 *  3. the original: message/rfc822 (message/global when smtputf8) when
 *     ret_full is set, some recipient failed, and the original is at most
 *     max_original bytes (<= 0: never) and fit for 8bit transport (lines
 *     of at most 998 octets, no NUL or bare CR), with its line ends made
 *     CRLF (a bare LF counts as one); otherwise its header section (up to
 *     the first empty line, at most DSN_HEADERS_MAX, cut at a line) as
 *     text/rfc822-headers (message/global-headers), made safe the same way
 *     as our own fields. Left out when read is NULL or the original is
 *     empty.
 *
 * The Subject says the worst action: failed, else delayed, else success.
 * read(arg, &p, &len) supplies the original in chunks of any size: 1 with a
 * chunk, 0 at the end, -1 on error; chunks are not kept beyond the next
 * call, and reading stops at the end of the header section when only that
 * is returned. The message is held in out, so at most about max_original
 * plus DSN_HEADERS_MAX bytes of the original are in memory.
 *
 * The result is 7bit except for a returned original with 8-bit content and,
 * with smtputf8, UTF-8 in addresses and texts; then the top level and the
 * part concerned carry Content-Transfer-Encoding: 8bit, and the caller must
 * send it with BODY=8BITMIME (and SMTPUTF8 when smtputf8).
 *
 * A status that is not "class.subject.detail" (RFC 3463: class 2, 4 or 5,
 * 1-3 digits each), NULL included, is reported as the generic code of the
 * action's class (5.0.0, 4.0.0, 2.0.0) rather than losing the notification.
 *
 * Times <= 0 mean "unknown" and leave their field out.
 *
 * Returns 1; or -1, with out as it was, when an argument is invalid (n == 0,
 * a NULL address, reporting_mta, original_sender or postmaster, an unknown
 * action), a time is past the year 9999, read fails, or out refuses to grow
 * (when only the whole original does not fit under out's maximum, its
 * header section is returned instead). Does not block except in read.
 */
int	 dsn_build(const struct dsn_params *, const struct dsn_rcpt *rcpts,
	    size_t n, int (*read)(void *, const char **, size_t *), void *arg,
	    struct buf *out);

/*
 * RFC 3461 4.1: 1 when a recipient with these NOTIFY bits
 * (SPOOL_NOTIFY_*, 0 = not given, which means FAILURE,DELAY) wants a
 * notification for action, else 0. NEVER wins over anything else; SUCCESS
 * covers delivered, relayed and expanded.
 */
int	 dsn_wanted(unsigned notify, enum dsn_action action);

/* "failed", "delayed", ...: the RFC 3464 Action value. */
const char *dsn_action_name(enum dsn_action);

#endif
