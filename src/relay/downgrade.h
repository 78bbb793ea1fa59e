/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * 8BITMIME downgrade (RFC 6152, RFC 2045/2046): rewrites a message with
 * 8-bit body octets into a 7-bit one for a peer that does not offer
 * 8BITMIME. Uses the shared MIME parser (lib/mime.h) on the whole message
 * in memory; every leaf part whose body has 8-bit octets and whose
 * Content-Transfer-Encoding is 7bit (lying), 8bit, binary or absent gets
 * its body quoted-printable encoded and its Content-Transfer-Encoding
 * field replaced (or added); a body declared quoted-printable that holds
 * raw 8-bit octets is decoded and encoded again (it decodes to the same
 * octets). Multipart structure, boundaries, preambles,
 * epilogues and every other octet stay as they are. message/rfc822 parts
 * are converted inside (their own encoding must stay 7bit, RFC 2046
 * 5.2.1: a declared 8bit/binary becomes 7bit, as does a multipart's). A
 * message without MIME-Version (not MIME) whose body gets encoded also
 * gets "MIME-Version: 1.0" and, without a Content-Type, "Content-Type:
 * text/plain; charset=unknown-8bit" (RFC 1428), so readers decode it.
 *
 * Called by smtpc (the outbound client) when the peer lacks 8BITMIME. No
 * I/O, no global state, never logs. Memory: the output is bounded by
 * about 3.2 times the input (the message size limit bounds the input).
 */
#ifndef EST_DOWNGRADE_H
#define EST_DOWNGRADE_H

#include <stddef.h>

#include "lib/buf.h"

enum downgrade_result {
	DOWNGRADE_SAME = 0,	/* no 8-bit octet at all: send as it is */
	DOWNGRADE_DONE,		/* out holds the 7-bit message */
	DOWNGRADE_HDR_8BIT,	/* 8-bit octets in header fields (of the
				 * message or of a part or embedded
				 * message): only SMTPUTF8 (RFC 6532) can
				 * carry it, no conversion exists */
	DOWNGRADE_CANNOT,	/* 8-bit octets nothing may re-encode: in
				 * a multipart preamble/epilogue or
				 * delimiter line, in a base64 or
				 * unknown-encoding body, in a
				 * composite part the parser left opaque
				 * (a limit was hit), or input so
				 * malformed that the converted form would
				 * not parse into the same tree; see why */
};

struct downgrade_info {
	unsigned	 nparts;	/* leaf bodies re-encoded */
	struct buf	 parts;		/* their IMAP part numbers, space
					 * separated ("1.2 2"; "1" for a
					 * single-part message) */
	const char	*why;		/* static text for the failures */
};

void	 downgrade_info_init(struct downgrade_info *);
void	 downgrade_info_free(struct downgrade_info *);

/* 1 when p[0..n) holds an octet >= 0x80. Pure. */
int	 downgrade_has_8bit(const void *p, size_t n);

/*
 * Converts msg[0..len) (CRLF or LF lines, as in the spool) for a peer
 * without 8BITMIME. Returns enum downgrade_result; out (reset first) holds
 * the converted message only for DOWNGRADE_DONE, with every octet < 0x80.
 * The decoded content of each converted body is exactly its original
 * octets (a body with bare LFs is encoded as binary, its line ends as
 * =0A, so that even those survive; a re-encoded quoted-printable body
 * decodes as the original did). Pure; never fails otherwise (xmalloc).
 */
enum downgrade_result downgrade_8bit(const char *msg, size_t len,
	    struct buf *out, struct downgrade_info *info);

#endif
