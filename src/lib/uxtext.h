/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * The "utf-8" address type of RFC 6533 section 3, used in the ORCPT
 * parameter (RFC 3461 4.2) and in DSN fields (Original-Recipient,
 * Final-Recipient) for addresses that are not ASCII:
 *
 *   utf-8-addr-xtext    7-bit: ASCII printable characters except SP, "\",
 *                       "+" and "=" as they are, the others (those four
 *                       and every non-ASCII code point) as "\x{HEX}"
 *                       (uppercase, no leading zeros, two digits at
 *                       least). Valid xtext, so any ORCPT may carry it.
 *                       Controls have no form: HEXPOINT leaves out most of
 *                       them (0A-0F, 1A-1F) and an address holds none.
 *   utf-8-addr-unitext  the same, but non-ASCII code points as raw UTF-8:
 *                       only towards an SMTPUTF8 peer.
 *
 * Also the ORCPT as the relay stores it ("type;address", the address
 * decoded) made ready for an RCPT command or a DSN field: always valid,
 * never encoded twice, or refused with a reason (an ORCPT is optional:
 * the caller leaves it out and logs why).
 *
 * Called by smtpd (decoding an ORCPT), smtpc (encoding it for the peer),
 * the DSN writer, qmgr and the tests. Pure functions, no logging; input
 * of uxtext_encode/decode need not be NUL-terminated.
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
 * -1 (b unchanged) when s is empty, is not well-formed UTF-8, holds a
 * control character (NUL and DEL included), or b's maximum would be
 * passed.
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

/* RFC 3461 4.2: "The entire ORCPT parameter MAY be up to 500 characters". */
#define UXTEXT_ORCPT_MAX	500

/*
 * A stored ORCPT, orcpt = "type;address" with the address decoded (the
 * relay's spool.h), as the value of an ORCPT parameter (after "ORCPT=")
 * appended to b:
 *   - the utf-8 type (any case), and an address that is not ASCII but
 *     well-formed UTF-8 whatever its type: "utf-8;" and the address in
 *     utf-8-addr-unitext when unitext (the peer offers SMTPUTF8 and the
 *     transaction uses it), else in utf-8-addr-xtext (RFC 6533 3);
 *   - any other type: "type;" and the address in xtext (RFC 3461 4), its
 *     octets whatever they are.
 * A utf-8 address that is ASCII and reads as utf-8-addr-xtext with a
 * "\x{" in it (SP, "+" and "=" allowed raw) is taken as encoded and
 * decoded first: the spool files of Estafeta before bbdfe8d kept that
 * form, xtext-decoded. (A decoded address can look so only with a quoted
 * local part holding "\x{HEX}" sequences.)
 * 1, or -1 (b unchanged) with *why_r: the type is not an atom of letters,
 * digits and "-" (at most 64), the address is empty, a utf-8 one is not
 * well-formed UTF-8 or holds a control character, or the value would pass
 * UXTEXT_ORCPT_MAX octets.
 */
int	 uxtext_orcpt_param(struct buf *b, const char *orcpt, int unitext,
	    const char **why_r);

/*
 * The same stored ORCPT as an Original-Recipient value (RFC 3464 2.3.1,
 * RFC 6533 3) appended to b: the utf-8 type (as above) as "utf-8;" and the
 * address as it is (utf-8-address) when global (a
 * message/global-delivery-status), else in utf-8-addr-xtext; another type
 * as "type;" and the address as it is, which is then ASCII: the caller
 * still makes it safe for a header field. 1, or -1 (b unchanged) with
 * *why_r for the reasons above (bar the length) and for an address that
 * is neither ASCII nor UTF-8, which no DSN can carry.
 */
int	 uxtext_orcpt_field(struct buf *b, const char *orcpt, int global,
	    const char **why_r);

#endif
