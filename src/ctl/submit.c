/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * The pure parts of estafeta-sendmail: see submit.h.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>

#include <openssl/evp.h>

#include "lib/addr.h"
#include "lib/buf.h"
#include "lib/hdr.h"
#include "lib/xalloc.h"
#include "ctl/submit.h"

/* ------------------------------------------------------------ options */

/* Sendmail's and Postfix's options; those with an argument take it
 * attached (-fuser) or as the next word (-f user). */
#define SUBMIT_OPTSTRING \
	"A:B:b:C:cd:e:F:f:Gh:IiL:M:mN:nO:o:p:q::R:r:stUV:vX:x"

static int
submit_opt_notify(struct submit_opts *o, const char *v, struct buf *err)
{
	static const char *const kw[] = { "SUCCESS", "FAILURE", "DELAY" };
	struct buf b = BUF_INIT(sizeof(o->notify) - 1);
	const char *p = v, *e;
	size_t i, n;
	int seen = 0;

	if (strcasecmp(v, "never") == 0) {
		memcpy(o->notify, "NEVER", 6);
		return 1;
	}
	for (; *p != '\0'; p = *e ? e + 1 : e) {
		e = p + strcspn(p, ",");
		n = (size_t)(e - p);
		for (i = 0; i < 3; i++)
			if (strlen(kw[i]) == n && strncasecmp(p, kw[i], n) == 0)
				break;
		if (i == 3 || (seen & (1 << i))) {
			(void)buf_appendf(err, "-N %s: expected never, or a "
			    "list of success, failure, delay", v);
			buf_free(&b);
			return -1;
		}
		seen |= 1 << i;
		if (b.len > 0)
			(void)buf_appendc(&b, ',');	/* fits: 3 words */
		(void)buf_appends(&b, kw[i]);
	}
	if (seen == 0) {
		(void)buf_appendf(err, "-N: empty");
		return -1;
	}
	memcpy(o->notify, b.data, b.len + 1);
	buf_free(&b);
	return 1;
}

/* -V: the ENVID, printable ASCII (sent as xtext). */
static int
submit_opt_envid(struct submit_opts *o, const char *v, struct buf *err)
{
	size_t i, n = strlen(v);

	for (i = 0; i < n; i++)
		if (v[i] < '!' || v[i] > '~')
			break;
	if (n == 0 || n > 100 || i < n) {
		(void)buf_appendf(err, "-V: the envelope id must be 1 to 100 "
		    "printable ASCII characters");
		return -1;
	}
	o->envid = v;
	return 1;
}

static int
submit_opt_b(struct submit_opts *o, const char *v, struct buf *err)
{
	if (strcmp(v, "m") == 0)
		o->mode = SUBMIT_DELIVER;
	else if (strcmp(v, "s") == 0)
		o->mode = SUBMIT_SMTP;
	else if (strcmp(v, "i") == 0)
		o->mode = SUBMIT_NEWALIASES;
	else if (strcmp(v, "p") == 0)
		o->mode = SUBMIT_MAILQ;
	else {
		(void)buf_appendf(err, "-b%s is not supported (only -bm, -bs, "
		    "-bi and -bp)", v);
		return -1;
	}
	return 1;
}

static int
submit_opt_arg(struct submit_opts *o, int c, const char *v, struct buf *err)
{
	switch (c) {
	case 'B':
		if (strcasecmp(v, "8BITMIME") == 0)
			o->body = "8BITMIME";
		else if (strcasecmp(v, "7BIT") == 0)
			o->body = "7BIT";
		else {
			(void)buf_appendf(err, "-B %s: expected 7BIT or "
			    "8BITMIME", v);
			return -1;
		}
		return 1;
	case 'b':
		return submit_opt_b(o, v, err);
	case 'C':
		o->config = v;
		return 1;
	case 'F':
		o->fullname = v;
		return 1;
	case 'f':
	case 'r':
		o->sender = v;
		return 1;
	case 'N':
		return submit_opt_notify(o, v, err);
	case 'o':
		if (strcmp(v, "i") == 0)
			o->ignore_dots = 1;
		return 1;	/* -oem, -odi, -om, -oA... : nothing for us */
	case 'q':
		o->mode = (v == NULL || !(*v >= '0' && *v <= '9')) ?
		    SUBMIT_FLUSH : SUBMIT_NOTHING;
		return 1;
	case 'R':
		if (strcasecmp(v, "hdrs") == 0)
			o->ret = "HDRS";
		else if (strcasecmp(v, "full") == 0)
			o->ret = "FULL";
		else {
			(void)buf_appendf(err, "-R %s: expected hdrs or full",
			    v);
			return -1;
		}
		return 1;
	case 'V':
		return submit_opt_envid(o, v, err);
	}
	return 1;	/* -A -d -e -h -L -M -O -p -X: accepted, ignored */
}

int
submit_parse_args(int argc, char *argv[], struct submit_opts *o,
    struct buf *err)
{
	const char *base;
	int c;

	memset(o, 0, sizeof(*o));
	base = argc > 0 && argv[0] != NULL ? strrchr(argv[0], '/') : NULL;
	base = base ? base + 1 : argc > 0 && argv[0] ? argv[0] : "";
	if (strcmp(base, "mailq") == 0)
		o->mode = SUBMIT_MAILQ;
	else if (strcmp(base, "newaliases") == 0)
		o->mode = SUBMIT_NEWALIASES;
	optind = 0;	/* glibc: start afresh */
	opterr = 0;
	while ((c = getopt(argc, argv, SUBMIT_OPTSTRING)) != -1) {
		switch (c) {
		case 'i':
			o->ignore_dots = 1;
			break;
		case 't':
			o->extract = 1;
			break;
		case 'v':
			o->verbose++;
			break;
		case 'I':
			o->mode = SUBMIT_NEWALIASES;
			break;
		case 'c': case 'G': case 'm': case 'n': case 's': case 'U':
		case 'x':
			break;
		case '?':
		case ':':
			(void)buf_appendf(err, optopt &&
			    strchr(SUBMIT_OPTSTRING, optopt) ?
			    "option -%c needs a value" :
			    "unknown option -%c", optopt ? optopt : '?');
			return -1;
		default:
			if (submit_opt_arg(o, c, optarg, err) == -1)
				return -1;
		}
	}
	o->rcpts = argv + optind;
	o->nrcpt = (size_t)(argc - optind);
	return 1;
}

/* ------------------------------------------------------------ lines */

static size_t
submit_piece_max(const struct submit_lines *l)
{
	return l->cont || (l->len > 0 && l->line[0] == '.') ?
	    SUBMIT_LINE_MAX - 1 : SUBMIT_LINE_MAX;
}

int
submit_lines_feed(struct submit_lines *l, const char *p, size_t n,
    submit_line_fn fn, void *arg, size_t *used_r)
{
	size_t i;
	int r;

	for (i = 0; i < n; i++) {
		if (p[i] == '\r')
			continue;
		if (p[i] == '\n') {
			r = fn(arg, l->line, l->len, l->cont);
			l->len = 0;
			l->cont = 0;
			if (r != 1) {
				*used_r = i + 1;
				return r;
			}
			continue;
		}
		if (l->len >= submit_piece_max(l)) {
			r = fn(arg, l->line, l->len, l->cont);
			l->len = 0;
			l->cont = 1;
			if (r != 1) {
				*used_r = i;
				return r;
			}
		}
		l->line[l->len++] = p[i];
	}
	*used_r = n;
	return 1;
}

int
submit_lines_finish(struct submit_lines *l, submit_line_fn fn, void *arg)
{
	int r;

	if (l->len == 0)
		return 1;
	r = fn(arg, l->line, l->len, l->cont);
	l->len = 0;
	l->cont = 0;
	return r;
}

int
submit_smtp_line(struct buf *out, const char *line, size_t len)
{
	size_t old = out->len;

	if ((len > 0 && line[0] == '.' && buf_appendc(out, '.') == -1) ||
	    buf_append(out, line, len) == -1 || buf_append(out, "\r\n", 2) ==
	    -1) {
		out->len = old;
		if (out->data != NULL)
			out->data[old] = '\0';
		return -1;
	}
	return 1;
}

int
submit_is_field(const char *line, size_t len)
{
	size_t i, name;

	for (i = 0; i < len && line[i] != ':'; i++)
		if (line[i] < '!' || line[i] > '~')
			break;
	/* RFC 5322 4.5.1 obs-optional: blanks before the colon. */
	for (name = i; i < len && (line[i] == ' ' || line[i] == '\t'); i++)
		;
	return name > 0 && i < len && line[i] == ':';
}

/* ------------------------------------------------------------ addresses */

/* The '@' that ends the local part, or NULL (a quoted local part may hold
 * '@' itself). */
static const char *
submit_at(const char *a, size_t n)
{
	const char *q = n > 0 && a[0] == '"' ? memchr(a + 1, '"', n - 1) :
	    NULL;
	const char *from = q ? q + 1 : a;

	return memchr(from, '@', n - (size_t)(from - a));
}

static int
submit_qualify(const char *a, size_t n, const char *domain, struct buf *out,
    int *utf8_r, const char **errstr_r)
{
	struct buf q = BUF_INIT(4096);
	struct addr *ad;
	int r;

	if (buf_append(&q, a, n) == -1 || (submit_at(a, n) == NULL &&
	    buf_appendf(&q, "@%s", domain) == -1)) {
		*errstr_r = "address too long";
		buf_free(&q);
		return -1;
	}
	r = addr_parse_mailbox(q.data, q.len, ADDR_ALLOW_UTF8, &ad, errstr_r);
	buf_free(&q);
	if (r != 1)
		return -1;
	if (ad->domain == NULL) {
		addr_free(&ad);
		*errstr_r = "address without a domain";
		return -1;
	}
	(void)addr_format(ad, out);	/* unbounded */
	*utf8_r = (ad->flags & ADDR_UTF8) != 0;
	addr_free(&ad);
	return 1;
}

int
submit_rcpts_add(struct submit_rcpts *rs, const char *a, size_t n,
    const char *domain, const char **errstr_r)
{
	struct buf fa = BUF_INIT(0);
	size_t i;
	int utf8;

	if (submit_qualify(a, n, domain, &fa, &utf8, errstr_r) == -1) {
		buf_free(&fa);
		return -1;
	}
	for (i = 0; i < rs->n; i++)
		if (strcmp(rs->v[i], fa.data) == 0) {
			buf_free(&fa);
			return 1;
		}
	if (rs->n >= SUBMIT_RCPT_MAX) {
		buf_free(&fa);
		*errstr_r = "too many recipients";
		return -1;
	}
	rs->v = xrealloc(rs->v, (rs->n + 1) * sizeof(*rs->v));
	rs->v[rs->n++] = buf_steal(&fa);
	rs->utf8 |= utf8;
	return 1;
}

struct submit_list_ctx {
	struct submit_rcpts	*rs;
	const char		*domain;
	const char		*errstr;
};

static int
submit_list_one(void *arg, const char *a, size_t n)
{
	struct submit_list_ctx *c = arg;

	return submit_rcpts_add(c->rs, a, n, c->domain, &c->errstr) == 1 ? 1 :
	    -1;
}

int
submit_rcpts_add_list(struct submit_rcpts *rs, const char *list, size_t n,
    const char *domain, const char **errstr_r)
{
	struct submit_list_ctx c = { rs, domain, NULL };

	if (hdr_addresses_flags(list, n, HDR_ADDR_UNQUALIFIED, submit_list_one,
	    &c) == -1 || c.errstr != NULL) {
		*errstr_r = c.errstr ? c.errstr : "malformed address list";
		return -1;
	}
	return 1;
}

void
submit_rcpts_free(struct submit_rcpts *rs)
{
	size_t i;

	for (i = 0; i < rs->n; i++)
		free(rs->v[i]);
	free(rs->v);
	memset(rs, 0, sizeof(*rs));
}

int
submit_sender(const char *text, const char *domain, struct buf *out,
    int *utf8_r, const char **errstr_r)
{
	size_t n = strlen(text);

	*utf8_r = 0;
	if (n >= 2 && text[0] == '<' && text[n - 1] == '>') {
		text++;
		n -= 2;
	}
	if (n == 0)
		return 1;	/* the null sender */
	return submit_qualify(text, n, domain, out, utf8_r, errstr_r);
}

/* ------------------------------------------------------------ headers */

/* Header field kinds the pass cares about. */
enum submit_field {
	SF_OTHER = 0, SF_TO, SF_CC, SF_BCC, SF_RTO, SF_RCC, SF_RBCC,
	SF_FROM, SF_DATE, SF_MSGID,
};

static enum submit_field
submit_field_kind(const char *line, size_t len)
{
	static const struct { const char *name; enum submit_field f; } t[] = {
		{ "To", SF_TO }, { "Cc", SF_CC }, { "Bcc", SF_BCC },
		{ "Resent-To", SF_RTO }, { "Resent-Cc", SF_RCC },
		{ "Resent-Bcc", SF_RBCC }, { "From", SF_FROM },
		{ "Date", SF_DATE }, { "Message-ID", SF_MSGID },
	};
	const char *colon = memchr(line, ':', len);
	size_t i, n;

	if (colon == NULL)
		return SF_OTHER;
	n = (size_t)(colon - line);
	while (n > 0 && (line[n - 1] == ' ' || line[n - 1] == '\t'))
		n--;	/* obsolete "To :" form */
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (strlen(t[i].name) == n && strncasecmp(line, t[i].name, n)
		    == 0)
			return t[i].f;
	return SF_OTHER;
}

/* The end of the field starting at hdrs[i]: past its continuation lines. */
static size_t
submit_field_end(const char *hdrs, size_t len, size_t i)
{
	const char *nl;

	for (;;) {
		nl = memchr(hdrs + i, '\n', len - i);
		i = nl ? (size_t)(nl - hdrs) + 1 : len;
		if (i >= len || (hdrs[i] != ' ' && hdrs[i] != '\t'))
			return i;
	}
}

static int
submit_field_rcpts(const char *f, size_t n, struct submit_rcpts *rcpts,
    const char *domain, const char **errstr_r)
{
	const char *colon = memchr(f, ':', n);
	size_t off = (size_t)(colon - f) + 1;

	return submit_rcpts_add_list(rcpts, f + off, n - off, domain,
	    errstr_r);
}

int
submit_headers(const char *hdrs, size_t len, struct submit_rcpts *rcpts,
    const char *domain, struct buf *out, struct submit_hdrinfo *info,
    const char **errstr_r)
{
	enum submit_field k;
	size_t i, e;

	memset(info, 0, sizeof(*info));
	for (i = 0; i < len; i = e) {
		e = submit_field_end(hdrs, len, i);
		k = submit_field_kind(hdrs + i, e - i);
		info->resent |= k == SF_RTO || k == SF_RCC || k == SF_RBCC;
	}
	for (i = 0; i < len; i = e) {
		e = submit_field_end(hdrs, len, i);
		k = submit_field_kind(hdrs + i, e - i);
		info->from |= k == SF_FROM;
		info->date |= k == SF_DATE;
		info->msgid |= k == SF_MSGID;
		if (rcpts != NULL && (info->resent ? (k == SF_RTO ||
		    k == SF_RCC || k == SF_RBCC) : (k == SF_TO || k == SF_CC ||
		    k == SF_BCC)) && submit_field_rcpts(hdrs + i, e - i, rcpts,
		    domain, errstr_r) == -1)
			return -1;
		if (k == SF_BCC || k == SF_RBCC) {
			info->bcc_removed++;
			continue;
		}
		if (buf_append(out, hdrs + i, e - i) == -1) {
			*errstr_r = "header section too large";
			return -1;
		}
	}
	return 1;
}

/* ------------------------------------------------------------ From: */

static int
submit_is_atext(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || (c != '\0' &&
	    strchr("!#$%&'*+-/=?^_`{|}~ ", c) != NULL);
}

/* RFC 2047 encoded words, each at most 75 octets: 42 input octets make 56
 * base64 characters, 12 of framing; a UTF-8 sequence is never split. */
static int
submit_encoded_words(struct buf *out, const unsigned char *s, size_t n)
{
	unsigned char b64[64];
	size_t i = 0, take;
	int r = 1;

	while (i < n && r == 1) {
		take = n - i < 42 ? n - i : 42;
		while (take < n - i && take > 0 && (s[i + take] & 0xc0) == 0x80)
			take--;
		if (take == 0)
			take = n - i < 42 ? n - i : 42;	/* not UTF-8 */
		(void)EVP_EncodeBlock(b64, s + i, (int)take);
		r = buf_appendf(out, "%s=?UTF-8?B?%s?=", i > 0 ? " " : "",
		    (const char *)b64);
		i += take;
	}
	return r;
}

int
submit_display_name(struct buf *out, const char *name)
{
	struct buf clean = BUF_INIT(0);
	const unsigned char *p;
	int atext = 1, ascii = 1, r = 1;
	size_t i;

	for (p = (const unsigned char *)name; *p != '\0'; p++)
		if (*p >= ' ' && *p != 0x7f)
			(void)buf_appendc(&clean, (char)*p);	/* unbounded */
	while (clean.len > 0 && clean.data[clean.len - 1] == ' ')
		clean.data[--clean.len] = '\0';
	for (i = 0; i < clean.len && clean.data[i] == ' '; i++)
		;
	if (i > 0)
		buf_consume(&clean, i);
	for (i = 0; i < clean.len; i++) {
		atext &= submit_is_atext((unsigned char)clean.data[i]);
		ascii &= (unsigned char)clean.data[i] < 0x80;
	}
	if (clean.len == 0)
		;
	else if (!ascii)
		r = submit_encoded_words(out, (const unsigned char *)clean.data,
		    clean.len);
	else if (atext)
		r = buf_append(out, clean.data, clean.len);
	else {
		r = buf_appendc(out, '"');
		for (i = 0; i < clean.len && r == 1; i++) {
			if (clean.data[i] == '"' || clean.data[i] == '\\')
				r = buf_appendc(out, '\\');
			if (r == 1)
				r = buf_appendc(out, clean.data[i]);
		}
		if (r == 1)
			r = buf_appendc(out, '"');
	}
	buf_free(&clean);
	return r;
}

/* ------------------------------------------------------------ replies */

/* The sysexits code of a permanent failure's enhanced status class.subject
 * and detail. */
static int
submit_status_exit(int subject, int detail)
{
	switch (subject) {
	case 1:		/* addressing */
		if (detail == 2)
			return EX_NOHOST;
		if (detail == 3 || detail == 7 || detail == 8)
			return EX_DATAERR;
		return EX_NOUSER;
	case 3:		/* mail system */
		return detail == 4 ? EX_DATAERR : EX_UNAVAILABLE;
	case 4:		/* network and routing */
		return detail == 6 ? EX_DATAERR : EX_UNAVAILABLE;
	case 5:		/* protocol */
		return EX_PROTOCOL;
	case 6:		/* content */
		return EX_DATAERR;
	case 7:		/* security and policy */
		return EX_NOPERM;
	}
	return EX_UNAVAILABLE;
}

int
submit_reply_exit(const char *reply)
{
	int code, subject, detail;

	if (strlen(reply) < 3 || reply[0] < '1' || reply[0] > '5' ||
	    reply[1] < '0' || reply[1] > '9' || reply[2] < '0' ||
	    reply[2] > '9')
		return EX_PROTOCOL;
	code = (reply[0] - '0') * 100 + (reply[1] - '0') * 10 + reply[2] - '0';
	if (code < 400)
		return EX_OK;
	if (code < 500)
		return EX_TEMPFAIL;
	if ((reply[3] == ' ' || reply[3] == '-') && reply[4] == '5' &&
	    reply[5] == '.' && sscanf(reply + 6, "%d.%d", &subject, &detail) ==
	    2 && subject >= 0 && subject < 1000 && detail >= 0)
		return submit_status_exit(subject, detail);
	switch (code) {
	case 550:
	case 551:
	case 553:
		return EX_NOUSER;
	case 552:
		return EX_DATAERR;
	case 500: case 501: case 502: case 503: case 504: case 555:
		return EX_PROTOCOL;
	}
	return EX_UNAVAILABLE;
}
