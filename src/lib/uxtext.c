/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * RFC 6533 utf-8 address forms: see uxtext.h. Both directions build into
 * a scratch buffer first so that a failure leaves the caller's untouched.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "lib/buf.h"
#include "lib/uxtext.h"

size_t
uxtext_utf8_len(const unsigned char *p, size_t n, uint32_t *cp_r)
{
	size_t len, i;
	uint32_t cp, min;

	if (p[0] < 0x80) {
		*cp_r = p[0];
		return 1;
	}
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		len = 2, cp = p[0] & 0x1f, min = 0x80;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		len = 3, cp = p[0] & 0x0f, min = 0x800;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		len = 4, cp = p[0] & 0x07, min = 0x10000;
	else
		return 0;
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	*cp_r = cp;
	return len;
}

int
uxtext_is_utf8(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, k;
	uint32_t cp;
	int high = 0;

	while (i < n) {
		if ((k = uxtext_utf8_len(p + i, n - i, &cp)) == 0)
			return 0;
		high |= k > 1;
		i += k;
	}
	return high;
}

/* An ASCII character that goes as it is (QCHAR of RFC 6533). */
static int
uxtext_qchar(uint32_t c)
{
	return c > ' ' && c < 0x7f && c != '\\' && c != '+' && c != '=';
}

int
uxtext_encode(struct buf *b, const char *s, size_t n, int unitext)
{
	const unsigned char *p = (const unsigned char *)s;
	struct buf t = BUF_INIT(0);
	size_t i = 0, k;
	uint32_t cp;
	int r = -1;

	if (n == 0)
		return -1;
	while (i < n) {
		if ((k = uxtext_utf8_len(p + i, n - i, &cp)) == 0 ||
		    cp < ' ' || cp == 0x7f)
			goto out;
		if (uxtext_qchar(cp) || (unitext && cp >= 0x80))
			(void)buf_append(&t, p + i, k);	/* unbounded */
		else
			(void)buf_appendf(&t, "\\x{%02X}", (unsigned)cp);
		i += k;
	}
	r = buf_append(b, t.data, t.len) == -1 ? -1 : 1;
out:
	buf_free(&t);
	return r;
}

static int
uxtext_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;	/* lowercase too: HEXDIG is uppercase here */
}

/*
 * "\x{HEXPOINT}" at s[0..n): its length with the code point in *cp_r, or
 * 0. HEXPOINT: two digits for an xtext special or 80..FF, else as few as
 * the code point needs (no leading zero), no surrogates, <= 10FFFF.
 */
static size_t
uxtext_embedded(const char *s, size_t n, uint32_t *cp_r)
{
	size_t i, nd;
	uint32_t cp = 0;
	int h;

	if (n < 6 || s[0] != '\\' || s[1] != 'x' || s[2] != '{')
		return 0;
	for (i = 3; i < n && i < 3 + 7 && s[i] != '}'; i++) {
		if ((h = uxtext_hex(s[i])) == -1)
			return 0;
		cp = cp << 4 | (uint32_t)h;
	}
	nd = i - 3;
	if (i >= n || s[i] != '}' || nd < 2 || nd > 6)
		return 0;
	if (nd == 2) {
		if (cp == 0 || (cp < 0x80 && uxtext_qchar(cp)))
			return 0;
	} else if (s[3] == '0' || cp < 0x100 || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	*cp_r = cp;
	return i + 1;
}

static void
uxtext_put_utf8(struct buf *t, uint32_t cp)
{
	unsigned char u[4];
	size_t n;

	if (cp < 0x80) {
		u[0] = (unsigned char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (unsigned char)(0xc0 | cp >> 6);
		u[1] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (unsigned char)(0xe0 | cp >> 12);
		u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (unsigned char)(0xf0 | cp >> 18);
		u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	(void)buf_append(t, u, n);	/* unbounded */
}

int
uxtext_decode(struct buf *b, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	struct buf t = BUF_INIT(0);
	size_t i = 0, k;
	uint32_t cp;
	int r = -1;

	if (n == 0)
		return -1;
	while (i < n) {
		if (p[i] == '\\') {
			if ((k = uxtext_embedded(s + i, n - i, &cp)) == 0 ||
			    (cp < ' ' || cp == 0x7f))
				goto out;
			uxtext_put_utf8(&t, cp);
		} else if ((k = uxtext_utf8_len(p + i, n - i, &cp)) == 0 ||
		    (k == 1 && !uxtext_qchar(cp)))
			goto out;
		else
			(void)buf_append(&t, p + i, k);	/* unbounded */
		i += k;
	}
	r = buf_append(b, t.data, t.len) == -1 ? -1 : 1;
out:
	buf_free(&t);
	return r;
}

/* ------------------------------------------------------------ ORCPT */

static int
uxtext_ascii(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return 0;
	return 1;
}

/*
 * The utf-8 address v as spool files before bbdfe8d kept it: the
 * client's value xtext-decoded, so utf-8-addr-xtext, but with the SP, "+"
 * and "=" a client may have sent as "+20", "+2B" and "+3D" raw. Decoded
 * into addr: 1, or -1 (addr unchanged) when it does not read so.
 */
static int
uxtext_old_form(struct buf *addr, const char *v)
{
	struct buf t = BUF_INIT(0);
	int r;

	for (; *v != '\0'; v++)
		if (*v == ' ' || *v == '+' || *v == '=')
			(void)buf_appendf(&t, "\\x{%02X}", (unsigned)*v);
		else
			(void)buf_appendc(&t, *v);	/* unbounded */
	r = uxtext_decode(addr, t.data, t.len);
	buf_free(&t);
	return r;
}

/*
 * Splits a stored ORCPT: the type's length in *tl_r, the address (decoded:
 * see uxtext_orcpt_param for the old encoded utf-8 form) in addr, and in
 * *utf8_r whether it goes as the utf-8 type. 1, or -1 with *why_r.
 */
static int
uxtext_orcpt_split(const char *orcpt, size_t *tl_r, struct buf *addr,
    int *utf8_r, const char **why_r)
{
	const char *semi = strchr(orcpt, ';'), *v, *p;
	size_t tl;

	if (semi == NULL || semi == orcpt || semi - orcpt > 64) {
		*why_r = "no address type, or a type that is too long";
		return -1;
	}
	for (p = orcpt; p < semi; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '-')) {
			*why_r = "the address type is not an atom";
			return -1;
		}
	tl = (size_t)(semi - orcpt);
	v = semi + 1;
	if (*v == '\0') {
		*why_r = "the address is empty";
		return -1;
	}
	*tl_r = tl;
	*utf8_r = tl == 5 && strncasecmp(orcpt, "utf-8", 5) == 0;
	if (*utf8_r && strstr(v, "\\x{") != NULL && uxtext_ascii(v) &&
	    uxtext_old_form(addr, v) == 1)
		return 1;	/* the encoded form of older spool files */
	if (!*utf8_r && !uxtext_ascii(v))
		*utf8_r = uxtext_is_utf8(v, strlen(v));
	(void)buf_appends(addr, v);	/* unbounded */
	return 1;
}

int
uxtext_orcpt_param(struct buf *b, const char *orcpt, int unitext,
    const char **why_r)
{
	struct buf a = BUF_INIT(0), t = BUF_INIT(0);
	size_t tl, i;
	int utf8, r = -1;

	if (uxtext_orcpt_split(orcpt, &tl, &a, &utf8, why_r) == -1)
		goto out;
	if (utf8) {
		(void)buf_appends(&t, "utf-8;");	/* unbounded */
		if (uxtext_encode(&t, a.data, a.len, unitext) == -1) {
			*why_r = "the utf-8 address is not well-formed UTF-8 "
			    "or holds a control character";
			goto out;
		}
	} else {
		(void)buf_append(&t, orcpt, tl + 1);	/* "type;" */
		for (i = 0; i < a.len; i++) {
			unsigned char c = (unsigned char)a.data[i];

			if (c >= '!' && c <= '~' && c != '+' && c != '=')
				(void)buf_appendc(&t, (char)c);
			else
				(void)buf_appendf(&t, "+%02X", c);
		}
	}
	if (t.len > UXTEXT_ORCPT_MAX) {
		*why_r = "longer than 500 characters once encoded";
		goto out;
	}
	r = buf_append(b, t.data, t.len) == -1 ? -1 : 1;
	if (r == -1)
		*why_r = "out of buffer space";
out:
	buf_free(&a);
	buf_free(&t);
	return r;
}

int
uxtext_orcpt_field(struct buf *b, const char *orcpt, int global,
    const char **why_r)
{
	struct buf a = BUF_INIT(0), t = BUF_INIT(0);
	size_t tl;
	int utf8, r = -1;

	if (uxtext_orcpt_split(orcpt, &tl, &a, &utf8, why_r) == -1)
		goto out;
	if (utf8) {
		(void)buf_appends(&t, "utf-8;");	/* unbounded */
		if (uxtext_encode(&t, a.data, a.len, 0) == -1) {
			*why_r = "the utf-8 address is not well-formed UTF-8 "
			    "or holds a control character";
			goto out;
		}
		if (global) {
			/* Checked above; the utf-8-address form is plain. */
			buf_reset(&t);
			(void)buf_appends(&t, "utf-8;");
			(void)buf_append(&t, a.data, a.len);
		}
	} else if (!uxtext_ascii(buf_cstr(&a))) {
		*why_r = "the address is neither ASCII nor UTF-8";
		goto out;
	} else {
		(void)buf_append(&t, orcpt, tl + 1);	/* "type;" */
		(void)buf_append(&t, a.data, a.len);
	}
	r = buf_append(b, t.data, t.len) == -1 ? -1 : 1;
	if (r == -1)
		*why_r = "out of buffer space";
out:
	buf_free(&a);
	buf_free(&t);
	return r;
}
