/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * IMAP SEARCH programs: parse the keys into a tree (bounded nesting),
 * order each AND/OR group so keys that need no message text run first,
 * and evaluate one message at a time, loading its header or text through
 * the caller's callback only when a remaining key needs it. Decoded,
 * lower-cased header and body text is built once per message and reused
 * by every string key. Pure: no I/O, no logging; called by the SEARCH
 * handler (imap_msgcmd.c) and by unit tests and the fuzz target.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <iconv.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/buf.h"
#include "lib/hdr.h"
#include "lib/mime.h"
#include "lib/xalloc.h"
#include "store/imap_parse.h"
#include "store/imap_search.h"
#include "store/imap_seqset.h"
#include "store/mstore.h"

#define SEARCH_DEPTH_MAX	64	/* nested NOT/OR/( ) */
#define SEARCH_TEXT_MAX		(256u * 1024 * 1024)

enum skey_type {
	SK_AND,		/* kids: all */
	SK_OR,		/* kids[0] or kids[1] */
	SK_NOT,		/* not kids[0] */
	SK_FLAGS,	/* flags & on == on && !(flags & off) */
	SK_KEYWORD,	/* str in keywords */
	SK_UNKEYWORD,
	SK_SEQ,		/* set */
	SK_UID,		/* set */
	SK_LARGER,	/* size > num */
	SK_SMALLER,	/* size < num */
	SK_BEFORE,	/* internal date (day) < num */
	SK_ON,
	SK_SINCE,	/* >= */
	SK_SENTBEFORE,	/* Date: header (day) */
	SK_SENTON,
	SK_SENTSINCE,
	SK_HEADER,	/* field hdr contains str (lower case) */
	SK_BODY,	/* decoded body text contains str */
	SK_TEXT,	/* header or body */
};

/* Cost classes; a group's cost is its costliest key. */
#define COST_META	0
#define COST_HEADER	1
#define COST_TEXT	2

struct skey {
	enum skey_type		 type;
	int			 cost;
	struct skey		*kids;
	size_t			 nkids;
	uint32_t		 on, off;	/* SK_FLAGS */
	int64_t			 num;		/* sizes, day numbers */
	char			*str;		/* needle (lower case), kw */
	size_t			 len;
	char			*hdr;		/* SK_HEADER field name */
	struct imap_seqset	 set;
};

/* Per-message evaluation state, reused from message to message. */
struct ectx {
	const struct imap_search_msg *m;
	int			 loaded;	/* 0 none, 1 header, 2 whole */
	int			 failed;	/* load returned 0 or -1 */
	const char		*data;
	size_t			 len;
	size_t			 hdrlen;	/* header incl. blank line */
	int			 have_sent;	/* 0 unknown, 1 ok, -1 none */
	int64_t			 sent_day;
	int			 have_hdrtext, have_bodytext;
	struct buf		 hdrtext;	/* decoded, lower case */
	struct buf		 bodytext;	/* decoded, lower case */
	struct buf		 tmp, tmp2;
};

struct imap_search {
	struct skey	 root;
	struct ectx	 e;
};

/* ------------------------------------------------------------ dates */

static const char *const months[12] = {
	"jan", "feb", "mar", "apr", "may", "jun",
	"jul", "aug", "sep", "oct", "nov", "dec"
};

int64_t
imap_day_number(int64_t y, unsigned m, unsigned d)
{
	/* Days from civil (proleptic Gregorian), 1970-01-01 = 0. */
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int
month_of(const char *s, size_t len)
{
	int i;

	if (len < 3)
		return -1;
	for (i = 0; i < 12; i++)
		if (strncasecmp(s, months[i], 3) == 0)
			return i + 1;
	return -1;
}

static int
valid_day(int64_t y, int mon, int64_t d)
{
	static const int mdays[12] = { 31, 29, 31, 30, 31, 30, 31, 31, 30,
	    31, 30, 31 };

	if (y < 1 || y > 9999 || mon < 1 || mon > 12 || d < 1 ||
	    d > mdays[mon - 1])
		return 0;
	if (mon == 2 && d == 29 &&
	    !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 0;
	return 1;
}

int
imap_date_parse(const char *s, size_t len, int64_t *day_r)
{
	size_t i = 0, start;
	int64_t d = 0, y = 0;
	int mon;

	start = i;
	while (i < len && i - start < 2 && isdigit((unsigned char)s[i]))
		d = d * 10 + (s[i++] - '0');
	if (i == start || i >= len || s[i] != '-')
		return -1;
	i++;
	if (len - i < 4 || s[i + 3] != '-')
		return -1;
	if ((mon = month_of(s + i, 3)) == -1)
		return -1;
	i += 4;
	if (len - i != 4)
		return -1;
	for (; i < len; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		y = y * 10 + (s[i] - '0');
	}
	if (!valid_day(y, mon, d))
		return -1;
	*day_r = imap_day_number(y, (unsigned)mon, (unsigned)d);
	return 1;
}

/* Skips folding white space and (nested) comments. */
static void
skip_cfws(const char *s, size_t len, size_t *i)
{
	int depth = 0;

	while (*i < len) {
		char c = s[*i];

		if (depth > 0 && c == '\\' && *i + 1 < len)
			(*i)++;
		else if (c == '(')
			depth++;
		else if (c == ')' && depth > 0)
			depth--;
		else if (depth == 0 && c != ' ' && c != '\t' && c != '\r' &&
		    c != '\n')
			return;
		(*i)++;
	}
}

int
imap_date_hdr_parse(const char *s, size_t len, int64_t *day_r)
{
	size_t i = 0, start;
	int64_t d = 0, y = 0;
	int mon;

	skip_cfws(s, len, &i);
	/* Optional day-of-week. */
	if (i < len && isalpha((unsigned char)s[i])) {
		while (i < len && isalpha((unsigned char)s[i]))
			i++;
		skip_cfws(s, len, &i);
		if (i < len && s[i] == ',')
			i++;
		skip_cfws(s, len, &i);
	}
	start = i;
	while (i < len && i - start < 2 && isdigit((unsigned char)s[i]))
		d = d * 10 + (s[i++] - '0');
	if (i == start)
		return -1;
	skip_cfws(s, len, &i);
	if (i < len && s[i] == '-')	/* obsolete 1-Jan-2000 form */
		i++;
	start = i;
	while (i < len && isalpha((unsigned char)s[i]))
		i++;
	if ((mon = month_of(s + start, i - start)) == -1)
		return -1;
	skip_cfws(s, len, &i);
	if (i < len && s[i] == '-')
		i++;
	start = i;
	while (i < len && i - start < 4 && isdigit((unsigned char)s[i]))
		y = y * 10 + (s[i++] - '0');
	if (i - start < 2)
		return -1;
	if (i - start == 2)		/* RFC 5322 4.3 obsolete years */
		y += y < 50 ? 2000 : 1900;
	else if (i - start == 3)
		y += 1900;
	if (!valid_day(y, mon, d))
		return -1;
	*day_r = imap_day_number(y, (unsigned)mon, (unsigned)d);
	return 1;
}

/* The local calendar day of t (INTERNALDATE is shown in local time). */
static int64_t
local_day(time_t t)
{
	struct tm tm;

	if (localtime_r(&t, &tm) == NULL)
		return 0;
	return imap_day_number((int64_t)tm.tm_year + 1900,
	    (unsigned)tm.tm_mon + 1, (unsigned)tm.tm_mday);
}

/* ------------------------------------------------------------ parse */

struct pctx {
	const char	*err;
	int		 badcharset;
};

static int	parse_key(struct pctx *, const struct imap_arg *, size_t,
		    size_t *, struct skey *, int);

static void
key_free(struct skey *k)
{
	size_t i;

	for (i = 0; i < k->nkids; i++)
		key_free(&k->kids[i]);
	free(k->kids);
	free(k->str);
	free(k->hdr);
	imap_seqset_free(&k->set);
	memset(k, 0, sizeof(*k));
}

static struct skey *
add_kid(struct skey *k)
{
	k->kids = xrealloc(k->kids, (k->nkids + 1) * sizeof(*k->kids));
	memset(&k->kids[k->nkids], 0, sizeof(*k->kids));
	return &k->kids[k->nkids++];
}

/* A lower-cased copy of an astring argument. */
static int
arg_needle(struct pctx *p, const struct imap_arg *a, struct skey *k)
{
	size_t i;

	if (a->type != IMAP_ARG_ATOM && a->type != IMAP_ARG_STRING &&
	    a->type != IMAP_ARG_NIL) {
		p->err = "search key needs a string";
		return -1;
	}
	k->str = xmalloc(a->len + 1);
	for (i = 0; i < a->len; i++)
		k->str[i] = (char)tolower((unsigned char)a->str[i]);
	k->str[a->len] = '\0';
	k->len = a->len;
	return 1;
}

static int
arg_date(struct pctx *p, const struct imap_arg *a, struct skey *k)
{
	if ((a->type != IMAP_ARG_ATOM && a->type != IMAP_ARG_STRING) ||
	    imap_date_parse(a->str, a->len, &k->num) == -1) {
		p->err = "invalid date in search key";
		return -1;
	}
	return 1;
}

static int
arg_number(struct pctx *p, const struct imap_arg *a, struct skey *k)
{
	uint64_t v = 0;
	size_t i;

	if (a->type != IMAP_ARG_ATOM || a->len == 0 || a->len > 10)
		goto bad;
	for (i = 0; i < a->len; i++) {
		if (!isdigit((unsigned char)a->str[i]))
			goto bad;
		v = v * 10 + (uint64_t)(a->str[i] - '0');
	}
	if (v > UINT32_MAX)
		goto bad;
	k->num = (int64_t)v;
	return 1;
bad:
	p->err = "invalid number in search key";
	return -1;
}

/* A flag-keyword atom; stored as written (compared ignoring case). */
static int
arg_keyword(struct pctx *p, const struct imap_arg *a, struct skey *k)
{
	size_t i;

	if (a->type != IMAP_ARG_ATOM || a->len == 0)
		goto bad;
	for (i = 0; i < a->len; i++)
		if (strchr("(){%*\"\\]", a->str[i]) != NULL ||
		    (unsigned char)a->str[i] <= 0x20 ||
		    (unsigned char)a->str[i] >= 0x7f)
			goto bad;
	k->str = xstrndup(a->str, a->len);
	k->len = a->len;
	return 1;
bad:
	p->err = "invalid keyword in search key";
	return -1;
}

static const struct {
	const char	*name;
	enum skey_type	 type;
	uint32_t	 on, off;
	int		 arg;	/* 0 none, 's' astring, 'd' date, 'n' number,
			 * 'k' keyword, 'h' header, 'u' uid set, 'N' NOT,
			 * 'O' OR */
	const char	*hdr;
} skeys[] = {
	{ "ALL", SK_FLAGS, 0, 0, 0, NULL },
	{ "ANSWERED", SK_FLAGS, MSG_ANSWERED, 0, 0, NULL },
	{ "BCC", SK_HEADER, 0, 0, 's', "Bcc" },
	{ "BEFORE", SK_BEFORE, 0, 0, 'd', NULL },
	{ "BODY", SK_BODY, 0, 0, 's', NULL },
	{ "CC", SK_HEADER, 0, 0, 's', "Cc" },
	{ "DELETED", SK_FLAGS, MSG_DELETED, 0, 0, NULL },
	{ "DRAFT", SK_FLAGS, MSG_DRAFT, 0, 0, NULL },
	{ "FLAGGED", SK_FLAGS, MSG_FLAGGED, 0, 0, NULL },
	{ "FROM", SK_HEADER, 0, 0, 's', "From" },
	{ "HEADER", SK_HEADER, 0, 0, 'h', NULL },
	{ "KEYWORD", SK_KEYWORD, 0, 0, 'k', NULL },
	{ "LARGER", SK_LARGER, 0, 0, 'n', NULL },
	{ "NEW", SK_FLAGS, MSG_RECENT, MSG_SEEN, 0, NULL },
	{ "NOT", SK_NOT, 0, 0, 'N', NULL },
	{ "OLD", SK_FLAGS, 0, MSG_RECENT, 0, NULL },
	{ "ON", SK_ON, 0, 0, 'd', NULL },
	{ "OR", SK_OR, 0, 0, 'O', NULL },
	{ "RECENT", SK_FLAGS, MSG_RECENT, 0, 0, NULL },
	{ "SEEN", SK_FLAGS, MSG_SEEN, 0, 0, NULL },
	{ "SENTBEFORE", SK_SENTBEFORE, 0, 0, 'd', NULL },
	{ "SENTON", SK_SENTON, 0, 0, 'd', NULL },
	{ "SENTSINCE", SK_SENTSINCE, 0, 0, 'd', NULL },
	{ "SINCE", SK_SINCE, 0, 0, 'd', NULL },
	{ "SMALLER", SK_SMALLER, 0, 0, 'n', NULL },
	{ "SUBJECT", SK_HEADER, 0, 0, 's', "Subject" },
	{ "TEXT", SK_TEXT, 0, 0, 's', NULL },
	{ "TO", SK_HEADER, 0, 0, 's', "To" },
	{ "UID", SK_UID, 0, 0, 'u', NULL },
	{ "UNANSWERED", SK_FLAGS, 0, MSG_ANSWERED, 0, NULL },
	{ "UNDELETED", SK_FLAGS, 0, MSG_DELETED, 0, NULL },
	{ "UNDRAFT", SK_FLAGS, 0, MSG_DRAFT, 0, NULL },
	{ "UNFLAGGED", SK_FLAGS, 0, MSG_FLAGGED, 0, NULL },
	{ "UNKEYWORD", SK_UNKEYWORD, 0, 0, 'k', NULL },
	{ "UNSEEN", SK_FLAGS, 0, MSG_SEEN, 0, NULL },
};

static int
cost_of(const struct skey *k)
{
	switch (k->type) {
	case SK_SENTBEFORE:
	case SK_SENTON:
	case SK_SENTSINCE:
	case SK_HEADER:
		return COST_HEADER;
	case SK_BODY:
	case SK_TEXT:
		return COST_TEXT;
	default:
		return COST_META;
	}
}

static int
kid_cmp(const void *a, const void *b)
{
	const struct skey *x = a, *y = b;

	return x->cost - y->cost;
}

/* Sets the group's cost and puts cheap keys first (AND and OR alike). */
static void
finish_group(struct skey *k)
{
	size_t i;

	k->cost = COST_META;
	for (i = 0; i < k->nkids; i++)
		if (k->kids[i].cost > k->cost)
			k->cost = k->kids[i].cost;
	/* qsort is not stable but order within a group does not matter. */
	qsort(k->kids, k->nkids, sizeof(*k->kids), kid_cmp);
}

static int
parse_list(struct pctx *p, const struct imap_arg *args, size_t n,
    struct skey *k, int depth)
{
	size_t i = 0;

	k->type = SK_AND;
	if (n == 0) {
		p->err = "empty search key list";
		return -1;
	}
	while (i < n)
		if (parse_key(p, args, n, &i, add_kid(k), depth + 1) == -1)
			return -1;
	finish_group(k);
	return 1;
}

static int
parse_named(struct pctx *p, const struct imap_arg *args, size_t n,
    size_t *i, struct skey *k, int depth, size_t t)
{
	const struct imap_arg *a = *i < n ? &args[*i] : NULL;
	const char *name;

	k->type = skeys[t].type;
	k->on = skeys[t].on;
	k->off = skeys[t].off;
	if (skeys[t].arg != 0 && a == NULL) {
		p->err = "missing search key argument";
		return -1;
	}
	switch (skeys[t].arg) {
	case 0:
		break;
	case 's':
		(*i)++;
		if (arg_needle(p, a, k) == -1)
			return -1;
		if (skeys[t].hdr != NULL)
			k->hdr = xstrdup(skeys[t].hdr);
		break;
	case 'h':
		(*i)++;
		if (!imap_arg_cstr(a, &name) || a->len == 0 ||
		    strchr(name, ':') != NULL) {
			p->err = "invalid header field name";
			return -1;
		}
		k->hdr = xstrdup(name);
		if (*i >= n) {
			p->err = "missing search key argument";
			return -1;
		}
		if (arg_needle(p, &args[(*i)++], k) == -1)
			return -1;
		break;
	case 'd':
		(*i)++;
		return arg_date(p, a, k);
	case 'n':
		(*i)++;
		return arg_number(p, a, k);
	case 'k':
		(*i)++;
		return arg_keyword(p, a, k);
	case 'u':
		(*i)++;
		if (a->type != IMAP_ARG_ATOM ||
		    imap_seqset_parse(a->str, a->len, &k->set, &p->err) == -1)
			return -1;
		break;
	case 'N':
		if (parse_key(p, args, n, i, add_kid(k), depth + 1) == -1)
			return -1;
		k->cost = k->kids[0].cost;
		return 1;
	case 'O':
		if (parse_key(p, args, n, i, add_kid(k), depth + 1) == -1 ||
		    parse_key(p, args, n, i, add_kid(k), depth + 1) == -1)
			return -1;
		finish_group(k);
		return 1;
	}
	k->cost = cost_of(k);
	return 1;
}

static int
parse_key(struct pctx *p, const struct imap_arg *args, size_t n, size_t *i,
    struct skey *k, int depth)
{
	const struct imap_arg *a;
	size_t t;

	if (depth > SEARCH_DEPTH_MAX) {
		p->err = "search program nested too deeply";
		return -1;
	}
	if (*i >= n) {
		p->err = "missing search key";
		return -1;
	}
	a = &args[(*i)++];
	if (a->type == IMAP_ARG_LIST)
		return parse_list(p, a->list, a->nlist, k, depth);
	if (a->type != IMAP_ARG_ATOM || a->len == 0) {
		p->err = "invalid search key";
		return -1;
	}
	if (a->str[0] == '*' || (a->str[0] >= '0' && a->str[0] <= '9')) {
		k->type = SK_SEQ;
		k->cost = COST_META;
		return imap_seqset_parse(a->str, a->len, &k->set, &p->err);
	}
	for (t = 0; t < sizeof(skeys) / sizeof(skeys[0]); t++)
		if (strlen(skeys[t].name) == a->len &&
		    strncasecmp(skeys[t].name, a->str, a->len) == 0)
			return parse_named(p, args, n, i, k, depth, t);
	p->err = "unknown search key";
	return -1;
}

int
imap_search_parse(const struct imap_arg *args, size_t n,
    struct imap_search **s_r, const char **errstr_r)
{
	struct imap_search *s;
	struct pctx p = { NULL, 0 };
	const char *cs;
	size_t i = 0;

	*s_r = NULL;
	if (n >= 1 && imap_arg_is(&args[0], "CHARSET")) {
		if (n < 2 || !imap_arg_cstr(&args[1], &cs)) {
			if (errstr_r != NULL)
				*errstr_r = "CHARSET needs a name";
			return -1;
		}
		if (strcasecmp(cs, "UTF-8") != 0 &&
		    strcasecmp(cs, "US-ASCII") != 0) {
			if (errstr_r != NULL)
				*errstr_r = "unsupported charset";
			return 0;
		}
		i = 2;
	}
	if (i == n) {
		if (errstr_r != NULL)
			*errstr_r = "missing search key";
		return -1;
	}
	s = xcalloc(1, sizeof(*s));
	if (parse_list(&p, args + i, n - i, &s->root, 0) == -1) {
		if (errstr_r != NULL)
			*errstr_r = p.err != NULL ? p.err :
			    "invalid search program";
		imap_search_free(&s);
		return -1;
	}
	buf_init(&s->e.hdrtext, SEARCH_TEXT_MAX);
	buf_init(&s->e.bodytext, SEARCH_TEXT_MAX);
	buf_init(&s->e.tmp, SEARCH_TEXT_MAX);
	buf_init(&s->e.tmp2, SEARCH_TEXT_MAX);
	*s_r = s;
	return 1;
}

void
imap_search_free(struct imap_search **sp)
{
	struct imap_search *s = *sp;

	if (s == NULL)
		return;
	key_free(&s->root);
	buf_free(&s->e.hdrtext);
	buf_free(&s->e.bodytext);
	buf_free(&s->e.tmp);
	buf_free(&s->e.tmp2);
	free(s);
	*sp = NULL;
}

static void
prepare_key(struct skey *k, uint32_t count, uint32_t maxuid)
{
	size_t i;

	for (i = 0; i < k->nkids; i++)
		prepare_key(&k->kids[i], count, maxuid);
	if (k->type == SK_SEQ || k->type == SK_UID) {
		/*
		 * As UID sets (cannot fail): sequence numbers beyond the
		 * mailbox match nothing, as servers are lenient in SEARCH.
		 */
		(void)imap_seqset_resolve(&k->set, 1,
		    k->type == SK_SEQ ? count : maxuid, NULL);
	}
}

void
imap_search_prepare(struct imap_search *s, uint32_t count, uint32_t maxuid)
{
	prepare_key(&s->root, count, maxuid);
}

int
imap_search_needs(const struct imap_search *s)
{
	return s->root.cost;
}

/* ------------------------------------------------------------ evaluate */

static int
is_utf8_name(const char *cs)
{
	return cs == NULL || *cs == '\0' || strcasecmp(cs, "utf-8") == 0 ||
	    strcasecmp(cs, "utf8") == 0 || strcasecmp(cs, "us-ascii") == 0 ||
	    strcasecmp(cs, "ascii") == 0;
}

/*
 * Appends s[0..n) in charset cs converted to UTF-8 (iconv); unknown
 * charsets and undecodable octets are passed through / replaced by '?'.
 */
static int
to_utf8(void *arg, const char *cs, const char *s, size_t n, struct buf *out)
{
	iconv_t cd;
	char *in = (char *)(uintptr_t)s, *o;
	size_t inleft = n, oleft, room, r;

	(void)arg;
	if (is_utf8_name(cs) ||
	    (cd = iconv_open("UTF-8", cs)) == (iconv_t)-1)
		return buf_append(out, s, n);
	while (inleft > 0) {
		room = inleft * 2 + 16;
		if ((o = buf_reserve(out, room)) == NULL) {
			(void)iconv_close(cd);	/* failing anyway */
			return -1;
		}
		oleft = room;
		r = iconv(cd, &in, &inleft, &o, &oleft);
		out->len += room - oleft;
		out->data[out->len] = '\0';
		if (r == (size_t)-1 && errno != E2BIG) {
			/* EILSEQ or EINVAL: replace one octet and go on. */
			in++;
			inleft--;
			if (buf_appendc(out, '?') == -1) {
				(void)iconv_close(cd);	/* failing anyway */
				return -1;
			}
		}
	}
	(void)iconv_close(cd);	/* nothing to report */
	return 1;
}

/* Lower-cases ASCII letters of b->data[start..len). */
static void
lower(struct buf *b, size_t start)
{
	size_t i;
	char *s = b->data;

	for (i = start; s != NULL && i < b->len; i++)
		if (s[i] >= 'A' && s[i] <= 'Z')
			s[i] = (char)(s[i] + ('a' - 'A'));
}

static int
contains(const char *hay, size_t hlen, const struct skey *k)
{
	if (k->len == 0)
		return 1;
	return hay != NULL && memmem(hay, hlen, k->str, k->len) != NULL;
}

/* Makes at least level (1 header, 2 whole) of the message available. */
static int
ensure(struct ectx *e, int level)
{
	const char *p;
	int r;

	if (e->failed)
		return -1;
	if (e->loaded >= level)
		return 1;
	r = e->m->load(e->m->arg, level == COST_TEXT, &e->data, &e->len);
	if (r != 1) {
		e->failed = 1;
		return -1;
	}
	e->loaded = level;
	if (e->len >= 2 && e->data[0] == '\r' && e->data[1] == '\n')
		e->hdrlen = 2;
	else if ((p = memmem(e->data, e->len, "\r\n\r\n", 4)) != NULL)
		e->hdrlen = (size_t)(p - e->data) + 4;
	else
		e->hdrlen = e->len;
	return 1;
}

/* Decodes encoded-words of v[0..n) into out, lower case. */
static int
decode_value(struct ectx *e, const char *v, size_t n, struct buf *out)
{
	size_t start = out->len;

	(void)e;
	if (mime_decode_words(v, n, out, to_utf8, NULL) == -1)
		return -1;
	lower(out, start);
	return 1;
}

static int
match_header(struct ectx *e, const struct skey *k)
{
	const char *v;
	size_t off;
	int found;

	if (ensure(e, COST_HEADER) == -1)
		return -1;
	buf_reset(&e->tmp);
	found = hdr_field(e->data, e->hdrlen, k->hdr, &e->tmp);
	if (found <= 0)
		return 0;
	if (k->len == 0)
		return 1;
	if (e->tmp.data == NULL)
		return 0;	/* only empty values */
	for (off = 0; off <= e->tmp.len; off += strlen(v) + 1) {
		v = e->tmp.data + off;
		buf_reset(&e->tmp2);
		if (decode_value(e, v, strlen(v), &e->tmp2) == -1)
			return 0;
		if (contains(e->tmp2.data, e->tmp2.len, k))
			return 1;
	}
	return 0;
}

/* The header section unfolded and decoded, lower case (for TEXT). */
static int
header_text(struct ectx *e, const char *h, size_t n, struct buf *out)
{
	size_t i;

	buf_reset(&e->tmp);
	for (i = 0; i < n; i++) {
		if (h[i] == '\r' && i + 2 < n && h[i + 1] == '\n' &&
		    (h[i + 2] == ' ' || h[i + 2] == '\t')) {
			i++;
			continue;
		}
		if (buf_appendc(&e->tmp, h[i]) == -1)
			return -1;
	}
	if (decode_value(e, e->tmp.data ? e->tmp.data : "", e->tmp.len,
	    out) == -1 || buf_appendc(out, '\0') == -1)
		return -1;
	return 1;
}

static int
is_text_part(const struct mime_part *p)
{
	return p->type == NULL || (p->flags & MIME_F_DEFAULT_TYPE) ||
	    strcmp(p->type, "text") == 0;
}

/* Appends the decoded text of every text part below p to out. */
static int
body_text_part(struct ectx *e, const struct mime_part *p, struct buf *out)
{
	const struct mime_param *cs;
	const struct mime_part *c;
	const char *b = e->data + p->body_start;
	size_t n = (size_t)(p->body_end - p->body_start), start;
	int r;

	if (p->body_end > e->len || p->body_start > p->body_end)
		return 1;
	if (p->flags & (MIME_F_MULTIPART | MIME_F_MESSAGE)) {
		for (c = p->children; c != NULL; c = c->next) {
			if ((p->flags & MIME_F_MESSAGE) && c->body_start <= e->len &&
			    c->hdr_start <= c->body_start &&
			    header_text(e, e->data + c->hdr_start,
			    (size_t)(c->body_start - c->hdr_start), out) == -1)
				return -1;
			if (body_text_part(e, c, out) == -1)
				return -1;
		}
		return 1;
	}
	if (!is_text_part(p))
		return 1;
	buf_reset(&e->tmp);
	if (p->enc == MIME_ENC_QP)
		r = mime_decode_qp(b, n, &e->tmp);
	else if (p->enc == MIME_ENC_BASE64)
		r = mime_decode_base64(b, n, &e->tmp);
	else
		r = buf_append(&e->tmp, b, n);
	if (r == -1)
		return -1;
	cs = mime_param_get(p->params, "charset");
	start = out->len;
	if (to_utf8(NULL, cs != NULL ? cs->value : NULL,
	    e->tmp.data ? e->tmp.data : "", e->tmp.len, out) == -1)
		return -1;
	lower(out, start);
	return buf_appendc(out, '\0');
}

static int
match_text(struct ectx *e, const struct skey *k)
{
	struct mime_parser *mp;
	int r;

	if (ensure(e, COST_TEXT) == -1)
		return -1;
	if (!e->have_bodytext) {
		buf_reset(&e->bodytext);
		mp = mime_parse(e->data, e->len, NULL);
		r = body_text_part(e, mime_parser_finish(mp), &e->bodytext);
		mime_parser_free(&mp);
		if (r == -1)
			return 0;
		e->have_bodytext = 1;
	}
	if (contains(e->bodytext.data, e->bodytext.len, k))
		return 1;
	if (k->type != SK_TEXT)
		return 0;
	if (!e->have_hdrtext) {
		buf_reset(&e->hdrtext);
		if (header_text(e, e->data, e->hdrlen, &e->hdrtext) == -1)
			return 0;
		e->have_hdrtext = 1;
	}
	return contains(e->hdrtext.data, e->hdrtext.len, k);
}

static int
sent_day(struct ectx *e, int64_t *day_r)
{
	if (e->have_sent == 0) {
		if (ensure(e, COST_HEADER) == -1)
			return -1;
		buf_reset(&e->tmp);
		e->have_sent = -1;
		if (hdr_field(e->data, e->hdrlen, "Date", &e->tmp) > 0 &&
		    e->tmp.data != NULL &&
		    imap_date_hdr_parse(e->tmp.data, strlen(e->tmp.data),
		    &e->sent_day) == 1)
			e->have_sent = 1;
	}
	*day_r = e->sent_day;
	return e->have_sent == 1 ? 1 : 0;
}

static int
has_keyword(const char *kws, const char *kw, size_t len)
{
	const char *p = kws, *end;

	while (p != NULL && *p != '\0') {
		while (*p == ' ')
			p++;
		end = strchr(p, ' ');
		if (end == NULL)
			end = p + strlen(p);
		if ((size_t)(end - p) == len && strncasecmp(p, kw, len) == 0)
			return 1;
		p = end;
	}
	return 0;
}

static int
eval(struct ectx *e, const struct skey *k)
{
	const struct imap_search_msg *m = e->m;
	int64_t day;
	size_t i;
	int r;

	switch (k->type) {
	case SK_AND:
		for (i = 0; i < k->nkids; i++)
			if ((r = eval(e, &k->kids[i])) != 1)
				return r;
		return 1;
	case SK_OR:
		if ((r = eval(e, &k->kids[0])) != 0)
			return r;
		return eval(e, &k->kids[1]);
	case SK_NOT:
		r = eval(e, &k->kids[0]);
		return r == -1 ? -1 : !r;
	case SK_FLAGS:
		return (m->flags & k->on) == k->on && (m->flags & k->off) == 0;
	case SK_KEYWORD:
		return has_keyword(m->keywords, k->str, k->len);
	case SK_UNKEYWORD:
		return !has_keyword(m->keywords, k->str, k->len);
	case SK_SEQ:
		return imap_seqset_contains(&k->set, m->seq);
	case SK_UID:
		return imap_seqset_contains(&k->set, m->uid);
	case SK_LARGER:
		return m->size > (uint64_t)k->num;
	case SK_SMALLER:
		return m->size < (uint64_t)k->num;
	case SK_BEFORE:
		return local_day(m->internaldate) < k->num;
	case SK_ON:
		return local_day(m->internaldate) == k->num;
	case SK_SINCE:
		return local_day(m->internaldate) >= k->num;
	case SK_SENTBEFORE:
	case SK_SENTON:
	case SK_SENTSINCE:
		if ((r = sent_day(e, &day)) != 1)
			return r;
		if (k->type == SK_SENTBEFORE)
			return day < k->num;
		if (k->type == SK_SENTON)
			return day == k->num;
		return day >= k->num;
	case SK_HEADER:
		return match_header(e, k);
	case SK_BODY:
	case SK_TEXT:
		return match_text(e, k);
	}
	return 0;
}

int
imap_search_match(struct imap_search *s, const struct imap_search_msg *m)
{
	struct ectx *e = &s->e;

	e->m = m;
	e->loaded = 0;
	e->failed = 0;
	e->data = NULL;
	e->len = 0;
	e->hdrlen = 0;
	e->have_sent = 0;
	e->have_hdrtext = 0;
	e->have_bodytext = 0;
	return eval(e, &s->root);
}
