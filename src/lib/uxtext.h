/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * The "utf-8" address type of RFC 6533 section 3, used in the ORCPT
 * parameter (RFC 3461 4.2) and in DSN fields (Original-Recipient,
 * Final-Recipient) for addresses that are not ASCII:
 *
 *   utf-8-addr-xtext    7-bit: ASCII printable characters except SP, "\",
 *                       "+" and "=" as they are, the others (those four,
 *                       controls, and every non-ASCII code point) as
 *                       "\x{HEX}" (uppercase, no leading zeros, two digits
 *                       at least). Valid xtext, so any ORCPT may carry it.
 *   utf-8-addr-unitext  the same, but non-ASCII code points as raw UTF-8:
 *                       only towards an SMTPUTF8 peer.
 *
 * Called by smtpd (decoding an ORCPT), smtpc (encoding it for the peer)
 * and the tests. Pure functions, no logging; input need not be
 * NUL-terminated.
 */
#ifndef EST_UXTEXT_H
#define EST_UXTEXT_H

#include <stddef.h>
#include <stdint.h>

struct buf;

/*
 * The UTF-8 sequence at p[0..n) (n >= 1): its length (1..4) with the code
 * point in *cp_r, or 0 when it is not well formed (overlong, surrogate,
 * past U+10FFFF, truncated, a stray continuation octet). Pure.
 */
size_t	 uxtext_utf8_len(const unsigned char *p, size_t n, uint32_t *cp_r);

/* 1 when s[0..n) is well-formed UTF-8 holding a non-ASCII octet. Pure. */
int	 uxtext_is_utf8(const char *s, size_t n);

/*
 * Appends s[0..n) (UTF-8, the decoded address) to b in the
 * utf-8-addr-xtext form, or utf-8-addr-unitext when unitext is set. 1, or
 * -1 (b unchanged) when s is empty, is not well-formed UTF-8 or holds a
 * NUL, or b's maximum would be passed.
 */
int	 uxtext_encode(struct buf *b, const char *s, size_t n, int unitext);

/*
 * Decodes s[0..n), a utf-8-addr-xtext or utf-8-addr-unitext (raw UTF-8 is
 * accepted: the caller decides whether its peer may send it), appending
 * the address in UTF-8 to b. Strict: every "\" must start an
 * EmbeddedUnicodeChar in the canonical form RFC 6533's HEXPOINT allows
 * (uppercase, no leading zeros, "\x{41}" for a plain "A" is refused),
 * "+" and "=" may not appear, nor SP or controls, raw or encoded (an
 * encoded SP, "\x{20}", is fine: quoted local parts). 1, or -1 (b
 * unchanged) when malformed or empty.
 */
int	 uxtext_decode(struct buf *b, const char *s, size_t n);

#endif
