/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * The SMTP DATA stream parser (RFC 5321 4.1.1.4, 4.5.2): finds the end of
 * data, removes dot-stuffing, and notes everything that makes the message
 * unacceptable without stopping early (the client must be read up to its
 * real end of data so that the session stays in sync):
 *
 *  - only <CRLF>.<CRLF> ends the data; a bare LF or bare CR anywhere sets
 *    DATA_BARE_LF / DATA_BARE_CR (SMTP smuggling: <LF>.<LF>, <LF>.<CR><LF>
 *    and <CR>.<CR> never end the data);
 *  - a line longer than line_limit octets (CRLF included) sets DATA_LONG_LINE;
 *  - more than size_limit octets of content sets DATA_TOO_BIG and stops
 *    copying (counting continues);
 *  - Received: header fields are counted (hop count).
 *
 * Pure: no I/O, no allocation beyond the output buffer. smtpd feeds what
 * the connection has; tests and the fuzzer feed any split of bytes.
 */
#ifndef EST_SMTPD_DATA_H
#define EST_SMTPD_DATA_H

#include <stddef.h>

struct buf;

#define DATA_BARE_LF	0x01
#define DATA_BARE_CR	0x02
#define DATA_LONG_LINE	0x04
#define DATA_TOO_BIG	0x08
#define DATA_NUL	0x10	/* NUL octet (not 8BITMIME/SMTPUTF8 safe) */

struct data_parser {
	int		 state;
	unsigned	 flags;
	size_t		 line_limit;
	unsigned long long size_limit;
	unsigned long long size;	/* content octets after unstuffing */
	size_t		 linelen;
	int		 in_headers;
	size_t		 hdr_pos;	/* matched prefix of "received:" */
	int		 hdr_match;	/* line still may be Received: */
	unsigned	 received;	/* Received: header fields seen */
};

void	data_init(struct data_parser *, size_t line_limit,
	    unsigned long long size_limit);

/*
 * Consumes bytes from in[0..n), appending unstuffed content to out.
 * Returns 1 when the end of data was found (*used_r = bytes consumed,
 * terminator included; the rest belongs to the next command), 0 when all
 * n bytes were consumed and more are needed. -1 only if out refused an
 * append (its maximum is a caller bug). Never blocks.
 */
int	data_feed(struct data_parser *, const char *in, size_t n,
	    struct buf *out, size_t *used_r);

/*
 * For BDAT chunks (no stuffing, no end marker): accounts and copies n
 * bytes, enforcing the size limit and counting Received: headers.
 */
int	data_feed_raw(struct data_parser *, const char *in, size_t n,
	    struct buf *out);

#endif
