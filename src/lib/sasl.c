/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * SASL decoding: see sasl.h. Base64 is OpenSSL's (EVP_DecodeBlock and
 * EVP_EncodeBlock); this file only adds the strictness RFC 4648 asks for
 * and OpenSSL does not enforce (it skips blanks, accepts "=" anywhere in
 * the last group and ignores the unused bits).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "lib/buf.h"
#include "lib/sasl.h"
#include "lib/xalloc.h"

/* Encoded characters per EVP_*Block call: a multiple of 4, well in int. */
#define SASL_B64_CHUNK	65536

static const char sasl_reply_504[] =
    "504 5.5.4 Unrecognized authentication type";
static const char sasl_reply_501[] =
    "501 5.5.2 Syntax error in AUTH parameters";

static int
sasl_b64_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '+' || c == '/';
}

/*
 * The last group is canonical when re-encoding the octets it decoded to
 * gives the same four characters back (unused bits zero, right padding).
 */
static int
sasl_b64_canonical(const unsigned char *dec, size_t n, const char *group)
{
	unsigned char enc[4 + 1];

	return EVP_EncodeBlock(enc, dec, (int)n) == 4 &&
	    memcmp(enc, group, 4) == 0;
}

int
sasl_b64_decode(const char *in, size_t len, struct buf *out)
{
	size_t i, pad = 0, n, c;
	unsigned char *w;

	if (len == 0)
		return 1;
	if (len % 4 != 0)
		return -1;
	if (in[len - 1] == '=')
		pad = in[len - 2] == '=' ? 2 : 1;
	for (i = 0; i < len - pad; i++)
		if (!sasl_b64_char((unsigned char)in[i]))
			return -1;
	n = len / 4 * 3;
	if ((w = (unsigned char *)buf_reserve(out, n)) == NULL)
		return -1;
	for (i = 0; i < len; i += c) {
		c = len - i < SASL_B64_CHUNK ? len - i : SASL_B64_CHUNK;
		if (EVP_DecodeBlock(w + i / 4 * 3, (const unsigned char *)in +
		    i, (int)c) != (int)(c / 4 * 3))
			goto fail;
	}
	if (!sasl_b64_canonical(w + n - 3, 3 - pad, in + len - 4))
		goto fail;
	out->len += n - pad;
	out->data[out->len] = '\0';
	return 1;
fail:
	xbzero(w, n);
	return -1;
}

int
sasl_b64_encode(const void *in, size_t len, struct buf *out)
{
	const unsigned char *s = in;
	size_t need, i, c, raw = SASL_B64_CHUNK / 4 * 3;
	unsigned char *w;

	if (len == 0)
		return 1;
	if (!size_mul((len + 2) / 3, 4, &need) ||
	    (w = (unsigned char *)buf_reserve(out, need)) == NULL)
		return -1;
	/* buf_reserve leaves room for the NUL EVP_EncodeBlock writes. */
	for (i = 0; i < len; i += c) {
		c = len - i < raw ? len - i : raw;
		(void)EVP_EncodeBlock(w + i / 3 * 4, s + i, (int)c); /* the
						length is known: 4 per 3 */
	}
	out->len += need;
	out->data[out->len] = '\0';
	return 1;
}

/* ------------------------------------------------------------- PLAIN */

/* 1 when s[0..n) is valid UTF-8 (RFC 3629). */
static int
sasl_utf8_ok(const unsigned char *s, size_t n)
{
	unsigned char c, lo, hi;
	size_t i = 0, k, j;

	while (i < n) {
		c = s[i];
		lo = 0x80;
		hi = 0xbf;
		if (c < 0x80) {
			i++;
			continue;
		} else if (c >= 0xc2 && c <= 0xdf)
			k = 1;
		else if (c >= 0xe0 && c <= 0xef) {
			k = 2;
			if (c == 0xe0)
				lo = 0xa0;	/* overlong */
			else if (c == 0xed)
				hi = 0x9f;	/* surrogates */
		} else if (c >= 0xf0 && c <= 0xf4) {
			k = 3;
			if (c == 0xf0)
				lo = 0x90;	/* overlong */
			else if (c == 0xf4)
				hi = 0x8f;	/* past U+10FFFF */
		} else
			return 0;
		if (n - i - 1 < k || s[i + 1] < lo || s[i + 1] > hi)
			return 0;
		for (j = 2; j <= k; j++)
			if (s[i + j] < 0x80 || s[i + j] > 0xbf)
				return 0;
		i += k + 1;
	}
	return 1;
}

static const char *
sasl_part_err(const char *s, size_t n, const char *too_long)
{
	if (n > SASL_PLAIN_PART_MAX)
		return too_long;
	if (!sasl_utf8_ok((const unsigned char *)s, n))
		return "invalid UTF-8 in PLAIN message";
	return NULL;
}

int
sasl_plain_parse(const char *msg, size_t len, struct sasl_plain *p,
    const char **errstr_r)
{
	const char *nul1, *nul2, *cid, *pw, *err;
	size_t zlen, clen, plen;

	memset(p, 0, sizeof(*p));
	if ((nul1 = memchr(msg, '\0', len)) == NULL ||
	    (nul2 = memchr(nul1 + 1, '\0', len - (size_t)(nul1 + 1 - msg))) ==
	    NULL) {
		*errstr_r = "PLAIN message lacks NUL separators";
		return -1;
	}
	cid = nul1 + 1;
	pw = nul2 + 1;
	zlen = (size_t)(nul1 - msg);
	clen = (size_t)(nul2 - cid);
	plen = len - (size_t)(pw - msg);
	if (memchr(pw, '\0', plen) != NULL)
		err = "PLAIN message has more than two NULs";
	else if (clen == 0)
		err = "empty authentication identity";
	else if (plen == 0)
		err = "empty password";
	else if ((err = sasl_part_err(msg, zlen, "authorization identity "
	    "too long")) == NULL && (err = sasl_part_err(cid, clen,
	    "authentication identity too long")) == NULL)
		err = sasl_part_err(pw, plen, "password too long");
	if (err != NULL) {
		*errstr_r = err;
		return -1;
	}
	p->authzid = zlen ? xstrndup(msg, zlen) : NULL;
	p->authcid = xstrndup(cid, clen);
	p->passwd = xmalloc(plen + 1);
	memcpy(p->passwd, pw, plen);
	p->passwd[plen] = '\0';
	p->passwd_len = plen;
	return 1;
}

void
sasl_plain_clear(struct sasl_plain *p)
{
	if (p->passwd != NULL)
		xbzero(p->passwd, p->passwd_len);
	free(p->authzid);
	free(p->authcid);
	free(p->passwd);
	memset(p, 0, sizeof(*p));
}

/* ---------------------------------------------------------- exchange */

/* RFC 4422 sasl-mech characters, either case. */
static int
sasl_mech_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '_';
}

int
sasl_auth_args(const char *arg, size_t len, enum sasl_mech *mech_r,
    const char **ir_r, size_t *irlen_r, const char **reply_r)
{
	size_t i, mlen, rlen;
	const char *rest;

	*ir_r = NULL;
	*irlen_r = 0;
	for (mlen = 0; mlen < len && arg[mlen] != ' '; mlen++)
		if (!sasl_mech_char((unsigned char)arg[mlen]))
			goto syntax;
	if (mlen == 0 || mlen > SASL_MECH_MAX)
		goto syntax;
	if (mlen == 5 && strncasecmp(arg, "PLAIN", 5) == 0)
		*mech_r = SASL_MECH_PLAIN;
	else if (mlen == 5 && strncasecmp(arg, "LOGIN", 5) == 0)
		*mech_r = SASL_MECH_LOGIN;
	else {
		*reply_r = sasl_reply_504;
		return -1;
	}
	if (mlen == len)
		return 1;
	rest = arg + mlen + 1;
	rlen = len - mlen - 1;
	if (rlen == 0)
		goto syntax;
	for (i = 0; i < rlen; i++)
		if (rest[i] == ' ')
			goto syntax;
	*ir_r = rest;
	*irlen_r = rlen == 1 && rest[0] == '=' ? 0 : rlen;
	return 1;
syntax:
	*reply_r = sasl_reply_501;
	return -1;
}

int
sasl_response(const char *line, size_t len, struct buf *out)
{
	if (len == 1 && line[0] == '*')
		return 0;
	return sasl_b64_decode(line, len, out);
}
