/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * RFC 5321 path and mailbox parser with RFC 6531 (SMTPUTF8) extensions: see
 * addr.h. Called by smtpd for MAIL FROM / RCPT TO and by config tables. One
 * forward pass over s[0..n) through a cursor whose every look is checked
 * against n, so it never reads past the end; every scan is also cut off by
 * the RFC 5321 size limits, so hostile input costs a few hundred byte looks
 * at most. It must never accept what addr_format() cannot write back in a
 * form that parses to the same address. No I/O, no global state.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/addr.h"
#include "lib/buf.h"
#include "lib/xalloc.h"

#define ADDR_MAX_LABEL		63	/* RFC 1035 2.3.4, ASCII labels */
#define ADDR_MAX_MAILBOX	(ADDR_MAX_PATH - 2)	/* path minus "<>" */

/* A parse in progress: the input, the position and the first error. */
struct addr_cur {
	const char	*s;
	size_t		 n;
	size_t		 i;
	unsigned	 flags;		/* ADDR_ALLOW_* */
	const char	*err;
};

static int
addr_fail(struct addr_cur *c, const char *err)
{
	c->err = err;
	return -1;
}

/* The byte at the cursor, or -1 at the end of the input. */
static int
addr_peek(const struct addr_cur *c)
{
	return c->i < c->n ? (unsigned char)c->s[c->i] : -1;
}

static int
addr_lc(int ch)
{
	return ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch;
}

static int
addr_is_alnum(int ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	    (ch >= '0' && ch <= '9');
}

/* RFC 5322 atext, ASCII part. */
static int
addr_is_atext(int ch)
{
	return addr_is_alnum(ch) ||
	    (ch > 0 && ch < 0x80 && strchr("!#$%&'*+-/=?^_`{|}~", ch) != NULL);
}

/* 1 when the first len bytes of s equal the lowercase ASCII string lc. */
static int
addr_caseeq(const char *s, size_t len, const char *lc)
{
	size_t k;

	if (strlen(lc) != len)
		return 0;
	for (k = 0; k < len; k++)
		if (addr_lc((unsigned char)s[k]) != lc[k])
			return 0;
	return 1;
}

/*
 * Length of the well-formed UTF-8 sequence (RFC 3629) at s[0..n), whose
 * first byte is >= 0x80; 0 when it is malformed, overlong, a surrogate,
 * above U+10FFFF or cut short by n.
 */
static size_t
addr_utf8_len(const unsigned char *s, size_t n)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t len, k;

	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		if (s[0] == 0xe0)
			lo = 0xa0;		/* overlong */
		else if (s[0] == 0xed)
			hi = 0x9f;		/* surrogates */
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		if (s[0] == 0xf0)
			lo = 0x90;		/* overlong */
		else if (s[0] == 0xf4)
			hi = 0x8f;		/* above U+10FFFF */
	} else
		return 0;
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (k = 2; k < len; k++)
		if (s[k] < 0x80 || s[k] > 0xbf)
			return 0;
	return len;
}

/* Consumes one non-ASCII character (UTF8-non-ascii) at the cursor. */
static int
addr_take_utf8(struct addr_cur *c)
{
	size_t len;

	if (!(c->flags & ADDR_ALLOW_UTF8))
		return addr_fail(c, "non-ASCII character without SMTPUTF8");
	len = addr_utf8_len((const unsigned char *)c->s + c->i, c->n - c->i);
	if (len == 0)
		return addr_fail(c, "malformed UTF-8");
	c->i += len;
	return 1;
}

static int
addr_has_8bit(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return 1;
	return 0;
}

/*
 * Dot-string = Atom *("." Atom), atext extended by UTF8-non-ascii. Stops at
 * the first byte that cannot continue it.
 */
static int
addr_scan_dotstring(struct addr_cur *c)
{
	size_t start = c->i;
	int ch, dot = 1;	/* a dot is not allowed first */

	while ((ch = addr_peek(c)) != -1) {
		if (ch == '.') {
			if (dot)
				return addr_fail(c, "bad dot in local part");
			dot = 1;
			c->i++;
		} else if (addr_is_atext(ch)) {
			dot = 0;
			c->i++;
		} else if (ch >= 0x80) {
			if (addr_take_utf8(c) == -1)
				return -1;
			dot = 0;
		} else
			break;
		if (c->i - start > ADDR_MAX_LOCAL)
			return addr_fail(c, "local part too long");
	}
	if (c->i == start)
		return addr_fail(c, ch == '@' || ch == '>' || ch == -1 ?
		    "empty local part" : "bad character in local part");
	if (dot)
		return addr_fail(c, "bad dot in local part");
	return 1;
}

/*
 * Quoted-string (qtextSMTP / quoted-pairSMTP, qtext extended by
 * UTF8-non-ascii) at the cursor, which is on the opening quote. The
 * unquoted content goes to out. The local part limit counts the quoted
 * form, as it travels.
 */
static int
addr_scan_quoted(struct addr_cur *c, struct buf *out)
{
	size_t start = c->i, p;
	int ch;

	c->i++;
	while ((ch = addr_peek(c)) != -1) {
		p = c->i;
		if (ch == '"') {
			c->i++;
			if (c->i - start > ADDR_MAX_LOCAL)
				return addr_fail(c, "local part too long");
			return 1;
		}
		if (ch == '\\') {
			if (++c->i >= c->n)
				break;
			ch = (unsigned char)c->s[c->i];
			if (ch < 32 || ch > 126)
				return addr_fail(c, "bad quoted pair");
			p = c->i++;
		} else if (ch >= 32 && ch <= 126)
			c->i++;
		else if (ch >= 0x80) {
			if (addr_take_utf8(c) == -1)
				return -1;
		} else
			return addr_fail(c, "bad character in quoted string");
		if (c->i - start > ADDR_MAX_LOCAL)
			return addr_fail(c, "local part too long");
		if (buf_append(out, c->s + p, c->i - p) == -1)
			return addr_fail(c, "local part too long");
	}
	return addr_fail(c, "unterminated quoted string");
}

/*
 * Domain = sub-domain *("." sub-domain), sub-domain = Let-dig [Ldh-str],
 * with U-labels (any well-formed UTF-8 counts as a letter) when allowed.
 * Stops at the first byte that cannot continue it.
 */
static int
addr_scan_domain(struct addr_cur *c)
{
	size_t start = c->i, label;
	int ch, ascii, hyphen;

	for (;;) {
		label = c->i;
		ascii = 1;
		hyphen = 0;
		while ((ch = addr_peek(c)) != -1) {
			if (addr_is_alnum(ch) || ch == '-') {
				if (ch == '-' && c->i == label)
					return addr_fail(c, "bad domain label");
				hyphen = ch == '-';
				c->i++;
			} else if (ch >= 0x80) {
				if (addr_take_utf8(c) == -1)
					return -1;
				ascii = hyphen = 0;
			} else
				break;
			if (c->i - start > ADDR_MAX_DOMAIN)
				return addr_fail(c, "domain too long");
			if (ascii && c->i - label > ADDR_MAX_LABEL)
				return addr_fail(c, "domain label too long");
		}
		if (c->i == label)
			return addr_fail(c, c->i == start && ch != '.' ?
			    "missing domain" : "empty domain label");
		if (hyphen)
			return addr_fail(c, "bad domain label");
		if (ch != '.')
			return 1;
		c->i++;
	}
}

/*
 * address-literal at the cursor, which is on '['. IPv4 and IPv6 literals
 * are checked with inet_pton; General-address-literal is refused.
 */
static int
addr_scan_literal(struct addr_cur *c)
{
	char tmp[INET6_ADDRSTRLEN];
	unsigned char bin[sizeof(struct in6_addr)];
	size_t start = c->i, len;
	const char *p;
	int ch, af = AF_INET, r;

	c->i++;
	while ((ch = addr_peek(c)) != ']') {
		/* dcontent = %d33-90 / %d94-126 */
		if (ch < 33 || ch > 126 || ch == '[' || ch == '\\')
			return addr_fail(c, "bad address literal");
		c->i++;
		if (c->i - start > ADDR_MAX_DOMAIN)
			return addr_fail(c, "domain too long");
	}
	p = c->s + start + 1;
	len = c->i - start - 1;
	c->i++;
	if (len > 5 && addr_caseeq(p, 5, "ipv6:")) {
		af = AF_INET6;
		p += 5;
		len -= 5;
	}
	r = snprintf(tmp, sizeof(tmp), "%.*s", (int)len, p);
	if (r < 0 || (size_t)r >= sizeof(tmp))
		return addr_fail(c, "bad address literal");
	if (inet_pton(af, tmp, bin) != 1)
		return addr_fail(c, "bad address literal");
	return 1;
}

/*
 * A-d-l ":" at the cursor, which is on the first '@'. The domains are
 * checked and dropped.
 */
static int
addr_scan_route(struct addr_cur *c)
{
	int ch;

	for (;;) {
		if (addr_peek(c) != '@')
			return addr_fail(c, "bad source route");
		c->i++;
		if (addr_peek(c) == '[')
			return addr_fail(c, "bad source route");
		if (addr_scan_domain(c) == -1)
			return -1;
		if (c->i > ADDR_MAX_PATH)
			return addr_fail(c, "path too long");
		ch = addr_peek(c);
		if (ch == ':') {
			c->i++;
			return 1;
		}
		if (ch != ',')
			return addr_fail(c, "bad source route");
		c->i++;
	}
}

static struct addr *
addr_new(char *local, char *domain, unsigned flags)
{
	struct addr *a = xmalloc(sizeof(*a));

	a->local = local;
	a->domain = domain;
	a->flags = flags;
	if (addr_has_8bit(local) || (domain != NULL && addr_has_8bit(domain)))
		a->flags |= ADDR_UTF8;
	return a;
}

/* Lowercases the ASCII letters of s in place. */
static void
addr_lower(char *s)
{
	for (; *s != '\0'; s++)
		*s = (char)addr_lc((unsigned char)*s);
}

/*
 * Mailbox at the cursor, stopping just after the domain. When postmaster
 * is set, a bare unquoted "Postmaster" followed by term (a byte, or -1
 * for the end of the input) is accepted too.
 */
static int
addr_scan_mailbox(struct addr_cur *c, int postmaster, int term,
    struct addr **a_r)
{
	struct buf quoted = BUF_INIT(ADDR_MAX_LOCAL);
	size_t lstart = c->i, dstart, llen;
	unsigned flags = 0;
	char *local, *domain = NULL;
	int ch;

	if (addr_peek(c) == '"') {
		flags |= ADDR_QUOTED;
		if (addr_scan_quoted(c, &quoted) == -1)
			goto fail;
	} else if (addr_scan_dotstring(c) == -1)
		return -1;
	llen = c->i - lstart;
	ch = addr_peek(c);
	if (ch == '@') {
		dstart = ++c->i;
		if (addr_peek(c) == '[') {
			flags |= ADDR_LITERAL;
			if (addr_scan_literal(c) == -1)
				goto fail;
		} else if (addr_scan_domain(c) == -1)
			goto fail;
		domain = xstrndup(c->s + dstart, c->i - dstart);
		addr_lower(domain);
	} else if (!postmaster || ch != term || (flags & ADDR_QUOTED) ||
	    !addr_caseeq(c->s + lstart, llen, "postmaster")) {
		addr_fail(c, ch == '>' || ch == -1 ? "missing '@'" :
		    "bad character in local part");
		goto fail;
	}
	if (flags & ADDR_QUOTED)
		local = buf_steal(&quoted);
	else
		local = xstrndup(c->s + lstart, llen);
	*a_r = addr_new(local, domain, flags);
	return 1;
fail:
	buf_free(&quoted);
	return -1;
}

int
addr_parse_path(const char *s, size_t n, unsigned flags,
    struct addr **a_r, size_t *end_r, const char **errstr_r)
{
	struct addr_cur c = { s, n, 1, flags, NULL };
	struct addr *a = NULL;
	int route = 0;

	*a_r = NULL;
	if (n == 0 || s[0] != '<') {
		addr_fail(&c, "missing '<'");
		goto fail;
	}
	if (addr_peek(&c) == '>') {
		if (!(flags & ADDR_ALLOW_NULL)) {
			addr_fail(&c, "null path not allowed");
			goto fail;
		}
		a = addr_new(xstrdup(""), NULL, ADDR_NULL);
	} else {
		if (addr_peek(&c) == '@') {
			if (addr_scan_route(&c) == -1)
				goto fail;
			route = 1;
		}
		if (addr_scan_mailbox(&c, (flags & ADDR_ALLOW_POSTMASTER) &&
		    !route, '>', &a) == -1)
			goto fail;
		if (route)
			a->flags |= ADDR_ROUTE;
		if (addr_peek(&c) != '>') {
			addr_fail(&c, c.i >= n ? "missing '>'" :
			    "bad character in domain");
			goto fail;
		}
	}
	if (++c.i > ADDR_MAX_PATH) {
		addr_fail(&c, "path too long");
		goto fail;
	}
	*a_r = a;
	*end_r = c.i;
	return 1;
fail:
	addr_free(&a);
	*errstr_r = c.err;
	return -1;
}

int
addr_parse_mailbox(const char *s, size_t n, unsigned flags,
    struct addr **a_r, const char **errstr_r)
{
	struct addr_cur c = { s, n, 0, flags, NULL };
	struct addr *a = NULL;

	*a_r = NULL;
	if (n == 0 && (flags & ADDR_ALLOW_NULL)) {
		/* The null path as addr_format() writes it. */
		*a_r = addr_new(xstrdup(""), NULL, ADDR_NULL);
		return 1;
	}
	if (addr_scan_mailbox(&c, flags & ADDR_ALLOW_POSTMASTER, -1,
	    &a) == -1)
		goto fail;
	if (c.i < n) {
		addr_fail(&c, "bad character in domain");
		goto fail;
	}
	if (n > ADDR_MAX_MAILBOX) {
		addr_fail(&c, "address too long");
		goto fail;
	}
	*a_r = a;
	return 1;
fail:
	addr_free(&a);
	*errstr_r = c.err;
	return -1;
}

/* 1 when the local part can be written as a Dot-string. */
static int
addr_is_dotstring(const char *s)
{
	int dot = 1;

	for (; *s != '\0'; s++) {
		if (*s == '.') {
			if (dot)
				return 0;
			dot = 1;
		} else if (addr_is_atext((unsigned char)*s) ||
		    (unsigned char)*s >= 0x80)
			dot = 0;
		else
			return 0;
	}
	return !dot;
}

int
addr_format(const struct addr *a, struct buf *b)
{
	struct buf tmp = BUF_INIT(0);
	const char *p;
	int r = 1;

	if (a->flags & ADDR_NULL)
		return 1;
	/* Built aside so that b gets all of it or nothing. */
	if (addr_is_dotstring(a->local))
		r = buf_appends(&tmp, a->local);
	else {
		r = buf_appendc(&tmp, '"');
		for (p = a->local; r == 1 && *p != '\0'; p++) {
			if (*p == '"' || *p == '\\')
				r = buf_appendc(&tmp, '\\');
			if (r == 1)
				r = buf_appendc(&tmp, *p);
		}
		if (r == 1)
			r = buf_appendc(&tmp, '"');
	}
	if (r == 1 && a->domain != NULL)
		r = buf_appendf(&tmp, "@%s", a->domain);
	if (r == 1)
		r = buf_append(b, tmp.data, tmp.len);
	buf_free(&tmp);
	return r;
}

int
addr_domain_eq(const char *x, const char *y)
{
	if (x == NULL || y == NULL)
		return x == y;
	for (; *x != '\0' && *y != '\0'; x++, y++)
		if (addr_lc((unsigned char)*x) != addr_lc((unsigned char)*y))
			return 0;
	return *x == *y;
}

void
addr_free(struct addr **ap)
{
	if (ap == NULL || *ap == NULL)
		return;
	free((*ap)->local);
	free((*ap)->domain);
	free(*ap);
	*ap = NULL;
}
