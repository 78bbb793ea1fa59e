/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * IMAP ENVELOPE, BODY and BODYSTRUCTURE (RFC 3501 7.4.2) of a message held
 * in memory, built on lib/mime's part tree and lib/hdr's field lookup.
 * Used by buzond's FETCH (imap_fetch.c), which caches the results. Pure
 * functions: no I/O, output appended to the caller's buffer.
 *
 * Choices (compared with Dovecot 2.3, see tests/unit/test_imap_body.c):
 * header values are sent as written (unfolded, surrounding whitespace
 * trimmed; encoded-words and 8-bit text are not decoded; strings with
 * CR, LF, NUL or 8-bit octets go as literals); an address without a
 * domain gets host "MISSING_DOMAIN" (without a local part, mailbox
 * "MISSING_MAILBOX"); a comment is the display name of an address that
 * has none; text parts without a charset parameter get ("charset"
 * "us-ascii"); type, subtype, parameter names and the encoding are sent in
 * lower case; RFC 2231 parameters are sent merged: "name" "value" when no
 * segment was encoded, else "name*" "charset'lang'%XX..." (one value, all
 * continuations joined).
 */
#ifndef EST_IMAP_BODY_H
#define EST_IMAP_BODY_H

#include <stddef.h>
#include <stdint.h>

struct buf;
struct mime_part;

/*
 * Appends the ENVELOPE of msg[0..len) ("(date subject (from) ...)").
 * Returns 1, or -1 when out refused an append.
 */
int	imap_body_envelope(const char *msg, size_t len, struct buf *out);

/*
 * Appends BODYSTRUCTURE (extended = 1) or BODY (extended = 0) of
 * msg[0..len). Returns 1, or -1 when out refused an append.
 */
int	imap_body_structure(const char *msg, size_t len, int extended,
	    struct buf *out);

/*
 * The same for callers that already parsed msg with lib/mime: the
 * envelope of the header section hdr[0..len), and the structure of part m
 * (offsets into msg).
 */
int	imap_body_envelope_hdr(const char *hdr, size_t len, struct buf *out);
int	imap_body_structure_part(const struct mime_part *m, const char *msg,
	    int extended, struct buf *out);

/*
 * imap_body_structure_part for a message not in memory: the header of an
 * embedded message/rfc822 is read with rd(arg, off, n, out), which
 * appends octets [off, off + n) of the message (as fed to the MIME
 * parser) to out and returns 1, or -1.
 */
int	imap_body_structure_read(const struct mime_part *m,
	    int (*rd)(void *arg, uint64_t off, uint64_t n, struct buf *out),
	    void *arg, int extended, struct buf *out);

/*
 * Appends s[0..n) as an IMAP string: quoted when it can be (no CR, LF,
 * NUL or 8-bit octet), else a literal. NULL s appends NIL.
 */
int	imap_body_string(struct buf *out, const char *s, size_t n);

#endif
