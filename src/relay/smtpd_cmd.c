/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * SMTP command-line parsing: see smtpd_cmd.h.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/addr.h"
#include "lib/buf.h"
#include "lib/uxtext.h"
#include "lib/xalloc.h"
#include "relay/smtpd_cmd.h"
#include "relay/spool.h"

#define XTEXT_MAX	500

int
smtpd_cmd_split(const char *line, size_t len, char verb[SMTP_VERB_MAX],
    const char **arg_r, size_t *arglen_r)
{
	size_t i;

	for (i = 0; i < len && line[i] != ' '; i++) {
		char c = line[i];

		if (i >= SMTP_VERB_MAX - 1)
			return -1;
		if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		if (c < 'A' || c > 'Z')
			return -1;
		verb[i] = c;
	}
	if (i == 0)
		return -1;
	verb[i] = '\0';
	if (i < len)
		i++;	/* the single space */
	*arg_r = line + i;
	*arglen_r = len - i;
	return 1;
}

char *
smtpd_xtext_decode(const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out, *w;
	const char *h1, *h2;
	size_t i;

	if (n > XTEXT_MAX)
		return NULL;
	w = out = xmalloc(n + 1);
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '+') {
			if (i + 2 >= n)
				goto bad;
			h1 = memchr(hex, s[i + 1], 16);
			h2 = memchr(hex, s[i + 2], 16);
			if (h1 == NULL || h2 == NULL)
				goto bad;
			c = (unsigned char)((h1 - hex) << 4 | (h2 - hex));
			/* Control characters have no business in an ENVID or
			 * ORCPT: NUL would cut the C string short, CR LF would
			 * end up in DSN header fields. */
			if (c < ' ' || c == 0x7f)
				goto bad;
			*w++ = (char)c;
			i += 2;
		} else if (c >= '!' && c <= '~' && c != '=')
			*w++ = (char)c;
		else
			goto bad;
	}
	*w = '\0';
	return out;
bad:
	free(out);
	return NULL;
}

void
smtpd_cmd_path_free(struct smtp_path_cmd *c)
{
	addr_free(&c->addr);
	free(c->envid);
	free(c->auth);
	free(c->orcpt);
	memset(c, 0, sizeof(*c));
}

static int
smtpd_kw_is(const char *k, size_t kl, const char *want)
{
	return strlen(want) == kl && strncasecmp(k, want, kl) == 0;
}

static int
smtpd_parse_notify(const char *v, size_t vl, unsigned *notify)
{
	size_t i = 0, j;
	unsigned n = 0;

	while (i < vl) {
		for (j = i; j < vl && v[j] != ','; j++)
			;
		if (smtpd_kw_is(v + i, j - i, "NEVER"))
			n |= SPOOL_NOTIFY_NEVER;
		else if (smtpd_kw_is(v + i, j - i, "SUCCESS"))
			n |= SPOOL_NOTIFY_SUCCESS;
		else if (smtpd_kw_is(v + i, j - i, "FAILURE"))
			n |= SPOOL_NOTIFY_FAILURE;
		else if (smtpd_kw_is(v + i, j - i, "DELAY"))
			n |= SPOOL_NOTIFY_DELAY;
		else
			return -1;
		i = j + 1;
		if (j + 1 == vl)
			return -1;	/* trailing comma */
	}
	/* NEVER excludes the others (RFC 3461 4.1). */
	if (n == 0 || ((n & SPOOL_NOTIFY_NEVER) && n != SPOOL_NOTIFY_NEVER))
		return -1;
	*notify = n;
	return 1;
}

static int
smtpd_parse_size(const char *v, size_t vl, long long *size)
{
	long long x = 0;
	size_t i;

	if (vl == 0 || vl > 18)
		return -1;
	for (i = 0; i < vl; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		x = x * 10 + (v[i] - '0');
	}
	*size = x;
	return 1;
}

/*
 * ORCPT=utf-8;value (RFC 6533 3): utf-8-addr-xtext, or utf-8-addr-unitext
 * (raw UTF-8) in an SMTPUTF8 transaction only; kept as "utf-8;" and the
 * address decoded to UTF-8 (smtpc and the DSN writer encode it again for
 * where it goes). 1, or -1 when malformed.
 */
static int
smtpd_orcpt_utf8(const char *p, size_t n, int utf8_ok,
    struct smtp_path_cmd *c)
{
	struct buf b = BUF_INIT(0);
	size_t i;

	if (n > XTEXT_MAX)
		return -1;
	for (i = 0; i < n && !utf8_ok; i++)
		if ((unsigned char)p[i] >= 0x80)
			return -1;
	if (buf_appends(&b, "utf-8;") == -1 || uxtext_decode(&b, p, n) == -1) {
		buf_free(&b);
		return -1;
	}
	c->orcpt = buf_steal(&b);
	return 1;
}

/* One "keyword[=value]" parameter. 1, or -1 with *reply_r. */
static int
smtpd_param(const char *k, size_t kl, const char *v, size_t vl, int has_v,
    int is_mail, int utf8_ok, struct smtp_path_cmd *c, const char **reply_r)
{
	const char *semi;

	*reply_r = "501 5.5.4 Syntax error in parameter value";
	if (is_mail && smtpd_kw_is(k, kl, "SIZE")) {
		if (!has_v || c->size != -1)
			return -1;
		return smtpd_parse_size(v, vl, &c->size);
	}
	if (is_mail && smtpd_kw_is(k, kl, "BODY")) {
		if (!has_v || c->body != -1)
			return -1;
		if (smtpd_kw_is(v, vl, "7BIT"))
			c->body = SPOOL_BODY_7BIT;
		else if (smtpd_kw_is(v, vl, "8BITMIME"))
			c->body = SPOOL_BODY_8BITMIME;
		else {
			*reply_r = "555 5.5.4 Unsupported BODY type";
			return -1;
		}
		return 1;
	}
	if (is_mail && smtpd_kw_is(k, kl, "SMTPUTF8")) {
		if (has_v || c->smtputf8)
			return -1;
		c->smtputf8 = 1;
		return 1;
	}
	if (is_mail && smtpd_kw_is(k, kl, "RET")) {
		if (!has_v || c->ret)
			return -1;
		if (smtpd_kw_is(v, vl, "FULL"))
			c->ret = SPOOL_RET_FULL;
		else if (smtpd_kw_is(v, vl, "HDRS"))
			c->ret = SPOOL_RET_HDRS;
		else
			return -1;
		return 1;
	}
	if (is_mail && smtpd_kw_is(k, kl, "ENVID")) {
		if (!has_v || c->envid || vl > 100 ||
		    (c->envid = smtpd_xtext_decode(v, vl)) == NULL)
			return -1;
		return 1;
	}
	if (is_mail && smtpd_kw_is(k, kl, "AUTH")) {
		/* RFC 4954 5: "<>" or an xtext mailbox. Kept as given; we
		 * do not pass it on (a relay may drop it). */
		if (!has_v || c->auth)
			return -1;
		if (vl == 2 && v[0] == '<' && v[1] == '>')
			c->auth = xstrndup(v, vl);
		else if ((c->auth = smtpd_xtext_decode(v, vl)) == NULL)
			return -1;
		return 1;
	}
	if (!is_mail && smtpd_kw_is(k, kl, "NOTIFY")) {
		if (!has_v || c->notify)
			return -1;
		return smtpd_parse_notify(v, vl, &c->notify);
	}
	if (!is_mail && smtpd_kw_is(k, kl, "ORCPT")) {
		/* addr-type ";" xtext; we keep "type;decoded". */
		if (!has_v || c->orcpt ||
		    (semi = memchr(v, ';', vl)) == NULL || semi == v)
			return -1;
		if (smtpd_kw_is(v, (size_t)(semi - v), "utf-8"))
			return smtpd_orcpt_utf8(semi + 1, vl - (size_t)(semi -
			    v) - 1, utf8_ok, c);
		if ((c->orcpt = smtpd_xtext_decode(v, vl)) == NULL)
			return -1;
		return 1;
	}
	*reply_r = "555 5.5.4 Unsupported parameter";
	return -1;
}

int
smtpd_cmd_path(const char *arg, size_t len, int is_mail, int utf8_ok,
    struct smtp_path_cmd *c, const char **reply_r)
{
	const char *prefix = is_mail ? "FROM:" : "TO:";
	size_t pl = strlen(prefix), i, used, ks, ke, vs;
	const char *errstr;
	unsigned flags;

	memset(c, 0, sizeof(*c));
	c->size = -1;
	c->body = -1;
	if (len < pl || strncasecmp(arg, prefix, pl) != 0) {
		*reply_r = is_mail ? "501 5.5.4 Syntax: MAIL FROM:<address>" :
		    "501 5.5.4 Syntax: RCPT TO:<address>";
		return -1;
	}
	i = pl;
	/* Tolerate "MAIL FROM: <a>" as most MTAs do (RFC 5321 forbids it,
	 * but broken clients are common and it is unambiguous). */
	while (i < len && arg[i] == ' ')
		i++;
	if (i == len || arg[i] != '<') {
		*reply_r = "501 5.1.7 Bad address syntax: missing '<'";
		return -1;
	}
	flags = is_mail ? ADDR_ALLOW_NULL : ADDR_ALLOW_POSTMASTER;
	if (utf8_ok)
		flags |= ADDR_ALLOW_UTF8;
	if (addr_parse_path(arg + i, len - i, flags, &c->addr, &used,
	    &errstr) == -1) {
		/* Valid only as an internationalised address? Say so. */
		if (!utf8_ok && addr_parse_path(arg + i, len - i,
		    flags | ADDR_ALLOW_UTF8, &c->addr, &used, &errstr) == 1) {
			*reply_r = "553 5.6.7 Non-ASCII address requires SMTPUTF8";
			goto fail;
		}
		*reply_r = is_mail ? "501 5.1.7 Bad sender address syntax" :
		    "501 5.1.3 Bad recipient address syntax";
		return -1;
	}
	i += used;
	while (i < len) {
		if (arg[i] != ' ') {
			*reply_r = "501 5.5.4 Syntax error after address";
			goto fail;
		}
		while (i < len && arg[i] == ' ')
			i++;
		if (i == len)
			break;
		ks = i;
		while (i < len && arg[i] != '=' && arg[i] != ' ')
			i++;
		ke = i;
		vs = i;
		if (i < len && arg[i] == '=') {
			vs = ++i;
			while (i < len && arg[i] != ' ')
				i++;
		}
		if (ke == ks) {
			*reply_r = "501 5.5.4 Syntax error in parameters";
			goto fail;
		}
		if (smtpd_param(arg + ks, ke - ks, arg + vs, i - vs, vs != ke,
		    is_mail, utf8_ok, c, reply_r) == -1)
			goto fail;
	}
	if (is_mail && c->smtputf8 && !utf8_ok) {
		*reply_r = "555 5.5.4 SMTPUTF8 not available";
		goto fail;
	}
	if (is_mail && (c->addr->flags & ADDR_UTF8) && !c->smtputf8) {
		*reply_r = "553 5.6.7 Non-ASCII address requires SMTPUTF8";
		goto fail;
	}
	return 1;
fail:
	smtpd_cmd_path_free(c);
	return -1;
}
