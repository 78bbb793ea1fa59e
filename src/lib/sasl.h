/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * SASL decoding for SMTP AUTH (RFC 4954): strict base64 (RFC 4648, through
 * OpenSSL), the PLAIN message (RFC 4616), the AUTH command argument and the
 * client's responses during an exchange (PLAIN and LOGIN). Called by smtpd;
 * checking the credentials is users_verify()'s job. Pure functions: no I/O,
 * no logging (what passes here is secret), never reads past the given
 * length (input need not be NUL-terminated). Decoded data may hold a
 * password: callers wipe their buffers (explicit_bzero) before release.
 */
#ifndef EST_SASL_H
#define EST_SASL_H

#include <stddef.h>

struct buf;

#define SASL_PLAIN_PART_MAX	255	/* octets per part, RFC 4616 */
#define SASL_MECH_MAX		20	/* RFC 4422 sasl-mech */

/*
 * Decodes in[0..len) as strict RFC 4648 base64 and appends the octets to
 * out: length a multiple of 4, only the base64 alphabet, "=" only as the
 * last one or two characters, and the unused bits of the last group zero
 * (the canonical encoding). No whitespace, no line breaks. "" decodes to
 * nothing. 1, or -1 with out unchanged (also when out's maximum would be
 * exceeded); bytes written past out->len on failure are wiped.
 */
int	 sasl_b64_decode(const char *in, size_t len, struct buf *out);

/* Appends the base64 encoding of in[0..len) to out (no line breaks). 1 or
 * -1 (out's maximum; out unchanged). */
int	 sasl_b64_encode(const void *in, size_t len, struct buf *out);

struct sasl_plain {
	char	*authzid;	/* NULL when absent (empty) */
	char	*authcid;
	char	*passwd;	/* NUL-terminated copy; secret */
	size_t	 passwd_len;
};

/*
 * Parses an RFC 4616 message "[authzid] NUL authcid NUL passwd" (already
 * base64-decoded) at msg[0..len): exactly two NULs, authcid and passwd
 * non-empty, every part at most SASL_PLAIN_PART_MAX octets of valid UTF-8
 * (RFC 3629: no overlong forms, surrogates or code points past U+10FFFF).
 * 1 with *p filled (malloc'd strings, release with sasl_plain_clear), or -1
 * with *errstr_r (static text, fit for a log line: never echoes the input)
 * and *p zeroed.
 */
int	 sasl_plain_parse(const char *msg, size_t len, struct sasl_plain *p,
	    const char **errstr_r);
/* Frees p's strings, wiping the password first, and zeroes p. */
void	 sasl_plain_clear(struct sasl_plain *p);

enum sasl_mech { SASL_MECH_PLAIN = 1, SASL_MECH_LOGIN };

/*
 * Parses the argument of AUTH, arg[0..len) = "MECH [SP initial-response]"
 * (the text after "AUTH "). The mechanism is matched case-insensitively.
 * 1 with *mech_r and the initial response still base64-encoded: *ir_r
 * points into arg with *irlen_r octets, or *ir_r is NULL when there is
 * none; "=" (an empty initial response) gives a non-NULL *ir_r and
 * *irlen_r 0. The caller decodes it with sasl_b64_decode() and answers
 * "501 5.5.2 Invalid base64 data" when that fails. -1 with *reply_r a
 * complete SMTP reply (no CRLF): "504 5.5.4 Unrecognized authentication
 * type" for a well-formed but unknown mechanism, "501 5.5.2 Syntax error
 * in AUTH parameters" for anything else (missing or malformed mechanism,
 * empty initial response, extra tokens, stray spaces).
 */
int	 sasl_auth_args(const char *arg, size_t len, enum sasl_mech *mech_r,
	    const char **ir_r, size_t *irlen_r, const char **reply_r);

/*
 * One client response line during the exchange (without CRLF). "*"
 * cancels: 0. Valid base64 (sasl_b64_decode; the empty line is the empty
 * response): 1 with the decoded octets appended to out. Anything else: -1,
 * out unchanged.
 */
int	 sasl_response(const char *line, size_t len, struct buf *out);

#endif
