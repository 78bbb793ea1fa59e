/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * Delivery status notifications: see dsn.h. The returned original is
 * written into out first (streamed from the caller's callback, line by
 * line), because what it became (whole, headers only, nothing; 8-bit or
 * not) decides the text and headers that precede it; those are then built
 * in a small buffer and inserted in front of it. Outside text reaches a
 * header field only through dsn_clean() and the folder, which turn every
 * control character into a space and fold at 78 columns, so it can never
 * end a line on its own.
 */
#include "config.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/rand.h>

#include "lib/buf.h"
#include "lib/uxtext.h"
#include "relay/dsn.h"
#include "relay/spool.h"

#define DSN_FOLD	78	/* fold header fields after this column */
#define DSN_LINE_MAX	998	/* RFC 5322 2.1.1 */
#define DSN_WIDTH	72	/* text part paragraphs */
#define DSN_VALUE_MAX	2048	/* outside text in one field, at most */
#define DSN_SRC_LINE	1000	/* line pieces read from the original */

enum dsn_ret { DSN_RET_NONE, DSN_RET_HDRS, DSN_RET_FULL };
enum dsn_why { DSN_WHY_ASKED, DSN_WHY_BIG, DSN_WHY_UNFIT };

struct dsn_returned {
	enum dsn_ret	 kind;
	enum dsn_why	 why;		/* why only headers */
	int		 cut;		/* headers over DSN_HEADERS_MAX */
	int		 eightbit;
};

/* The original, as lines. */
struct dsn_src {
	int		(*read)(void *, const char **, size_t *);
	void		*arg;
	const char	*p;
	size_t		 n;
	int		 eof;
	unsigned long long total;	/* bytes consumed */
	struct buf	 line;
};

/* Writes words, folding lines at width columns. */
struct dsn_fold {
	struct buf	*b;
	const char	*lead;		/* starts each continuation line */
	size_t		 col;
	size_t		 width;
	int		 fresh;		/* nothing since the line start */
	int		 first;		/* no word yet: never fold before it */
	int		 err;
};

static const char *const dsn_action_names[] = {
	[DSN_FAILED] = "failed",
	[DSN_DELAYED] = "delayed",
	[DSN_DELIVERED] = "delivered",
	[DSN_RELAYED] = "relayed",
	[DSN_EXPANDED] = "expanded",
};

const char *
dsn_action_name(enum dsn_action a)
{
	if ((unsigned)a >= sizeof(dsn_action_names) /
	    sizeof(dsn_action_names[0]))
		return "failed";
	return dsn_action_names[a];
}

int
dsn_wanted(unsigned notify, enum dsn_action action)
{
	if (notify & SPOOL_NOTIFY_NEVER)
		return 0;
	if (notify == 0)
		notify = SPOOL_NOTIFY_FAILURE | SPOOL_NOTIFY_DELAY;
	switch (action) {
	case DSN_FAILED:
		return (notify & SPOOL_NOTIFY_FAILURE) != 0;
	case DSN_DELAYED:
		return (notify & SPOOL_NOTIFY_DELAY) != 0;
	case DSN_DELIVERED:
	case DSN_RELAYED:
	case DSN_EXPANDED:
		return (notify & SPOOL_NOTIFY_SUCCESS) != 0;
	}
	return 0;
}

/* ------------------------------------------------------------ text */

static int
dsn_is_ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return 0;
	return 1;
}

static int
dsn_has_8bit(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)p[i] >= 0x80)
			return 1;
	return 0;
}

/*
 * Appends s, made safe for a header field or a text line: control
 * characters (CR and LF included) become spaces, runs of spaces one space,
 * no space at either end; bytes >= 0x80 stay only as well-formed UTF-8 and
 * only when utf8 is set, else each becomes '?'. Cut at DSN_VALUE_MAX bytes
 * with "..." appended.
 */
static int
dsn_clean(struct buf *b, const char *s, int utf8)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), i = 0, k, start = b->len;
	uint32_t cp;
	int space = 0;

	while (i < n) {
		if (b->len - start >= DSN_VALUE_MAX)
			return buf_appends(b, "...");
		if (p[i] <= ' ' || p[i] == 0x7f) {
			space = 1;
			i++;
			continue;
		}
		if (space && b->len > start && buf_appendc(b, ' ') == -1)
			return -1;
		space = 0;
		k = uxtext_utf8_len(p + i, n - i, &cp);
		if (k > 1 && utf8) {
			if (buf_append(b, p + i, k) == -1)
				return -1;
			i += k;
			continue;
		}
		if (buf_appendc(b, k == 1 ? (char)p[i] : '?') == -1)
			return -1;
		i += k > 1 ? k : 1;
	}
	return 1;
}

static void
dsn_fold_put(struct dsn_fold *f, const void *p, size_t n)
{
	if (buf_append(f->b, p, n) == -1)
		f->err = 1;
}

static void
dsn_fold_break(struct dsn_fold *f)
{
	dsn_fold_put(f, "\r\n", 2);
	dsn_fold_put(f, f->lead, strlen(f->lead));
	f->col = strlen(f->lead);
	f->fresh = 1;
}

/*
 * One word (no spaces), after a space unless at a line start. A line is
 * folded before a word that would pass the width; a word too long for any
 * line is split, at a UTF-8 character boundary.
 */
static void
dsn_fold_word(struct dsn_fold *f, const char *w, size_t n)
{
	size_t room, k;

	if (!f->fresh && !f->first && f->col + 1 + n > f->width)
		dsn_fold_break(f);
	f->first = 0;
	if (!f->fresh) {
		dsn_fold_put(f, " ", 1);
		f->col++;
	}
	while (n > 0) {
		room = DSN_LINE_MAX - f->col;
		k = n < room ? n : room;
		while (k < n && k > 0 && ((unsigned char)w[k] & 0xc0) == 0x80)
			k--;
		dsn_fold_put(f, w, k);
		f->col += k;
		f->fresh = 0;
		w += k;
		n -= k;
		if (n > 0)
			dsn_fold_break(f);
	}
}

/* Each space-separated word of s (already clean) through dsn_fold_word. */
static void
dsn_fold_words(struct dsn_fold *f, const char *s, size_t n)
{
	size_t i = 0, j;

	while (i < n) {
		if (s[i] == ' ') {
			i++;
			continue;
		}
		for (j = i; j < n && s[j] != ' '; j++)
			;
		dsn_fold_word(f, s + i, j - i);
		i = j;
	}
}

/* Outside text s, cleaned, then folded. */
static void
dsn_fold_text(struct dsn_fold *f, const char *s, int utf8)
{
	struct buf t = BUF_INIT(0);

	if (dsn_clean(&t, s, utf8) == -1)
		f->err = 1;
	else
		dsn_fold_words(f, buf_cstr(&t), t.len);
	buf_free(&t);
}

/* Starts header field "name:"; values follow through the folder. */
static void
dsn_field(struct dsn_fold *f, struct buf *b, const char *name)
{
	f->b = b;
	f->lead = " ";
	f->width = DSN_FOLD;
	f->fresh = 0;
	f->first = 1;
	dsn_fold_put(f, name, strlen(name));
	dsn_fold_put(f, ":", 1);
	f->col = strlen(name) + 1;
}

static void
dsn_field_end(struct dsn_fold *f)
{
	dsn_fold_put(f, "\r\n", 2);
}

/* An empty line, or the end of one. */
static void
dsn_crlf(struct dsn_fold *f, struct buf *b)
{
	if (buf_append(b, "\r\n", 2) == -1)
		f->err = 1;
}

/* A header field whose whole value is outside text. */
static void
dsn_field_text(struct dsn_fold *f, struct buf *b, const char *name,
    const char *pre, const char *value, int utf8)
{
	dsn_field(f, b, name);
	if (pre)
		dsn_fold_words(f, pre, strlen(pre));
	dsn_fold_text(f, value, utf8);
	dsn_field_end(f);
}

/* A paragraph of the text part, every line starting with indent. */
static void
dsn_para(struct dsn_fold *f, struct buf *b, const char *indent,
    const char *s, int utf8)
{
	f->b = b;
	f->lead = indent;
	f->width = DSN_WIDTH;
	dsn_fold_put(f, indent, strlen(indent));
	f->col = strlen(indent);
	f->fresh = 1;
	dsn_fold_text(f, s, utf8);
	dsn_fold_put(f, "\r\n", 2);
}

/* RFC 5322 3.3 date-time in UTC, with English names whatever the locale. */
static int
dsn_date(struct buf *b, long long t)
{
	static const char days[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu",
	    "Fri", "Sat" };
	static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr",
	    "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct tm tm;
	time_t tt;

	if (t < 0 || t > 253402300799LL)	/* 9999-12-31T23:59:59Z */
		return -1;
	tt = (time_t)t;
	if (gmtime_r(&tt, &tm) == NULL)
		return -1;
	return buf_appendf(b, "%s, %02d %s %04d %02d:%02d:%02d +0000",
	    days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
	    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static void
dsn_field_date(struct dsn_fold *f, struct buf *b, const char *name,
    long long t)
{
	dsn_field(f, b, name);
	dsn_fold_put(f, " ", 1);
	if (dsn_date(b, t) == -1)
		f->err = 1;
	dsn_field_end(f);
}

/* ------------------------------------------------------------ addresses */

/*
 * RFC 6533 3 utf-8-addr-xtext (uxtext_encode), with '?' for bytes that
 * are not UTF-8 and for control characters, which have no form there.
 */
static int
dsn_utf8_xtext(struct buf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	struct buf t = BUF_INIT(0);
	size_t n = strlen(s), i, k;
	uint32_t cp;
	int r;

	for (i = 0, r = 1; i < n && r == 1; i += k) {
		if ((k = uxtext_utf8_len(p + i, n - i, &cp)) > 0 &&
		    cp >= ' ' && cp != 0x7f)
			r = buf_append(&t, s + i, k);
		else {
			r = buf_appendc(&t, '?');
			k = 1;
		}
	}
	if (r == 1)
		r = uxtext_encode(b, t.data, t.len, 0);
	buf_free(&t);
	return r;
}

/*
 * "type; address": rfc822 for an ASCII address; utf-8 (RFC 6533) for
 * one with non-ASCII characters, as they are in a global DSN, else in the
 * utf-8-addr-xtext form.
 */
static void
dsn_field_addr(struct dsn_fold *f, struct buf *b, const char *name,
    const char *addr, int utf8)
{
	struct buf t = BUF_INIT(0);

	if (dsn_is_ascii(addr)) {
		dsn_field_text(f, b, name, "rfc822;", addr, 0);
		return;
	}
	if (utf8) {
		dsn_field_text(f, b, name, "utf-8;", addr, 1);
		return;
	}
	if (dsn_utf8_xtext(&t, addr) == -1)
		f->err = 1;
	else
		dsn_field_text(f, b, name, "utf-8;", buf_cstr(&t), 0);
	buf_free(&t);
}

/*
 * Original-Recipient from the stored ORCPT "type;address" (the address
 * decoded), in the form uxtext_orcpt_field gives: the utf-8 type as
 * utf-8-addr-xtext, or the address as it is in a global DSN; another type
 * as it is. Left out when it has no valid form (qmgr logs why).
 */
static void
dsn_field_orcpt(struct dsn_fold *f, struct buf *b, const char *orcpt,
    int utf8)
{
	struct buf v = BUF_INIT(0), t = BUF_INIT(0);
	const char *why;

	if (uxtext_orcpt_field(&v, orcpt, utf8, &why) == -1) {
		buf_free(&v);
		return;
	}
	/* "type;address" stays one word, as the sender wrote it. */
	if (dsn_clean(&t, buf_cstr(&v), utf8) == -1)
		f->err = 1;
	dsn_field(f, b, "Original-Recipient");
	dsn_fold_words(f, buf_cstr(&t), t.len);
	dsn_field_end(f);
	buf_free(&v);
	buf_free(&t);
}

/* ------------------------------------------------------------ original */

/*
 * The next line of the original into s->line without its LF or CRLF: 1,
 * with *cut_r set when the line was cut at DSN_SRC_LINE bytes (the rest is
 * the next line); 0 at the end; -1 when read fails.
 */
static int
dsn_src_line(struct dsn_src *s, int *cut_r)
{
	const char *nl = NULL;
	size_t take;
	int r;

	buf_reset(&s->line);
	*cut_r = 0;
	for (;;) {
		if (s->n == 0) {
			if (s->eof)
				break;
			if ((r = s->read(s->arg, &s->p, &s->n)) == -1)
				return -1;
			if (r == 0 || s->p == NULL) {
				s->eof = r == 0;
				s->n = 0;
			}
			continue;
		}
		take = DSN_SRC_LINE - s->line.len;
		if (take > s->n)
			take = s->n;
		if ((nl = memchr(s->p, '\n', take)) != NULL)
			take = (size_t)(nl - s->p) + 1;
		if (buf_append(&s->line, s->p, nl ? take - 1 : take) == -1)
			return -1;	/* cannot happen: max > DSN_SRC_LINE */
		s->p += take;
		s->n -= take;
		s->total += take;
		if (nl != NULL)
			break;
		if (s->line.len == DSN_SRC_LINE) {
			*cut_r = 1;
			return 1;
		}
	}
	if (nl == NULL && s->line.len == 0)
		return 0;
	if (s->line.len > 0 && s->line.data[s->line.len - 1] == '\r')
		s->line.data[--s->line.len] = '\0';
	return 1;
}

/* 1 when the line may go out verbatim in an 8bit body. */
static int
dsn_line_fit(const char *p, size_t n)
{
	return n <= DSN_LINE_MAX && memchr(p, '\0', n) == NULL &&
	    memchr(p, '\r', n) == NULL;
}

/*
 * Adds a line of the header section to h, made safe like our own fields
 * (but not folded at spaces): control characters as spaces, 8-bit only as
 * UTF-8 with utf8, split into folded lines of at most 998. cont: the line
 * continues a cut one. -1 when h is full.
 */
static int
dsn_hdr_line(struct buf *h, const char *p, size_t n, int cont, int utf8)
{
	const unsigned char *u = (const unsigned char *)p;
	char line[DSN_SRC_LINE * 2 + 16];
	size_t i = 0, k, col = 0, w = 0;
	uint32_t cp;

	if (cont)
		line[w++] = ' ', col++;
	while (i < n) {
		k = uxtext_utf8_len(u + i, n - i, &cp);
		if (col + (k ? k : 1) > DSN_LINE_MAX) {
			line[w++] = '\r', line[w++] = '\n', line[w++] = ' ';
			col = 1;
		}
		if (k > 1 && utf8) {
			memcpy(line + w, p + i, k);
			w += k, col += k, i += k;
			continue;
		}
		if (k == 1)
			line[w++] = (u[i] < ' ' && u[i] != '\t') ||
			    u[i] == 0x7f ? ' ' : p[i];
		else
			line[w++] = '?';
		col++;
		i += k > 1 ? k : 1;
	}
	line[w++] = '\r', line[w++] = '\n';
	return buf_append(h, line, w);
}

/* Truncates out to len. */
static void
dsn_truncate(struct buf *out, size_t len)
{
	out->len = len;
	if (out->data)
		out->data[len] = '\0';
}

/* Replaces out[start..] with the safe header section h. */
static int
dsn_use_headers(struct buf *out, size_t start, const struct buf *h,
    struct dsn_returned *rr)
{
	dsn_truncate(out, start);
	rr->kind = h->len > 0 ? DSN_RET_HDRS : DSN_RET_NONE;
	rr->eightbit = dsn_has_8bit(buf_cstr(h), h->len);
	return buf_append(out, buf_cstr(h), h->len);
}

/*
 * Writes the original's header section (want_full: the whole message) to
 * out and says in rr what it became. The header section is always kept,
 * made safe, in h (max DSN_HEADERS_MAX), and replaces whatever went to out
 * when the whole message turns out too big or unfit. -1 when read fails or
 * even the header section does not fit in out.
 */
static int
dsn_original(struct dsn_src *s, const struct dsn_params *p, int want_full,
    struct buf *out, struct buf *h, struct dsn_returned *rr)
{
	size_t start = out->len;
	unsigned long long max = p->max_original > 0 ?
	    (unsigned long long)p->max_original : 0;
	int full = want_full, body = 0, any = 0, cut = 0, prev_cut = 0, r;

	rr->why = DSN_WHY_ASKED;
	while ((r = dsn_src_line(s, &cut)) == 1) {
		const char *l = s->line.data;
		size_t ll = s->line.len;

		any = 1;
		if (ll == 0 && !prev_cut) {
			body = 1;
			break;
		}
		if (ll == 0) {		/* a cut line ended right after */
			prev_cut = cut;
			continue;
		}
		if (!rr->cut && dsn_hdr_line(h, l, ll, prev_cut,
		    p->smtputf8) == -1)
			rr->cut = 1;
		prev_cut = cut;
		if (!full) {
			if (rr->cut)
				break;
			continue;
		}
		if (cut || !dsn_line_fit(l, ll))
			full = 0, rr->why = DSN_WHY_UNFIT;
		else if (s->total > max || buf_append(out, l, ll) == -1 ||
		    buf_append(out, "\r\n", 2) == -1)
			full = 0, rr->why = DSN_WHY_BIG;
		if (!full && rr->cut)
			break;
	}
	if (r != -1 && full && body) {
		if (s->total > max || buf_append(out, "\r\n", 2) == -1)
			full = 0, rr->why = DSN_WHY_BIG;
		while (full && (r = dsn_src_line(s, &cut)) == 1) {
			if (cut || !dsn_line_fit(s->line.data, s->line.len))
				full = 0, rr->why = DSN_WHY_UNFIT;
			else if (s->total > max ||
			    buf_append(out, s->line.data, s->line.len) == -1 ||
			    buf_append(out, "\r\n", 2) == -1)
				full = 0, rr->why = DSN_WHY_BIG;
		}
	}
	if (r == -1)
		return -1;
	if (full && any) {
		rr->kind = DSN_RET_FULL;
		rr->eightbit = dsn_has_8bit(out->data + start,
		    out->len - start);
		return 1;
	}
	return dsn_use_headers(out, start, h, rr);
}

/* ------------------------------------------------------------ parts */

static enum dsn_action
dsn_worst(const struct dsn_rcpt *rcpts, size_t n)
{
	enum dsn_action worst = DSN_DELIVERED;
	size_t i;

	for (i = 0; i < n; i++) {
		if (rcpts[i].action == DSN_FAILED)
			return DSN_FAILED;
		if (rcpts[i].action == DSN_DELAYED)
			worst = DSN_DELAYED;
	}
	return worst;
}

/* RFC 3463 2: class "." subject "." detail, 1-3 digits each. */
static int
dsn_status_ok(const char *s)
{
	int part, nd;

	if (s == NULL || (s[0] != '2' && s[0] != '4' && s[0] != '5') ||
	    s[1] != '.')
		return 0;
	s += 2;
	for (part = 0; part < 2; part++) {
		for (nd = 0; *s >= '0' && *s <= '9'; s++)
			nd++;
		if (nd < 1 || nd > 3 || *s != (part == 0 ? '.' : '\0'))
			return 0;
		s++;
	}
	return 1;
}

/*
 * The recipient's status when it is well-formed, else the generic one of
 * its action's class: a bad code (which may come from a remote reply) must
 * not cost the sender the notification.
 */
static const char *
dsn_status(const struct dsn_rcpt *r)
{
	if (dsn_status_ok(r->status))
		return r->status;
	if (r->action == DSN_FAILED)
		return "5.0.0";
	if (r->action == DSN_DELAYED)
		return "4.0.0";
	return "2.0.0";
}

static const char *
dsn_rcpt_says(enum dsn_action a)
{
	switch (a) {
	case DSN_FAILED:
		return "could not be delivered";
	case DSN_DELAYED:
		return "has not been delivered yet";
	case DSN_DELIVERED:
		return "was delivered";
	case DSN_RELAYED:
		return "was passed on to a system that does not send "
		    "delivery reports";
	case DSN_EXPANDED:
		return "was delivered to a list or alias and passed on to "
		    "its members";
	}
	return "";
}

static void
dsn_text_rcpt(struct dsn_fold *f, struct buf *b, const struct dsn_rcpt *r,
    int utf8)
{
	struct buf t = BUF_INIT(0);

	if (buf_appendc(&t, '<') == -1 || dsn_clean(&t, r->addr, utf8) == -1 ||
	    buf_appendf(&t, ">: %s (%s)", dsn_rcpt_says(r->action),
	    dsn_status(r)) == -1)
		f->err = 1;
	else
		dsn_para(f, b, "", buf_cstr(&t), 1);	/* already clean */
	buf_reset(&t);
	if (r->diagnostic && *r->diagnostic) {
		if (r->remote_mta && *r->remote_mta) {
			/* A reply starts with its code; anything else is our
			 * own decision about that server (SMTPUTF8 or
			 * 8BITMIME missing, too large, connection lost). */
			int said = strlen(r->diagnostic) > 3 &&
			    r->diagnostic[0] >= '2' && r->diagnostic[0] <= '5' &&
			    isdigit((unsigned char)r->diagnostic[1]) &&
			    isdigit((unsigned char)r->diagnostic[2]) &&
			    r->diagnostic[3] == ' ';

			if (buf_appends(&t, said ? "The server " :
			    "Our mail system, delivering to the server ") ==
			    -1 || dsn_clean(&t, r->remote_mta, utf8) == -1 ||
			    buf_appends(&t, said ? " said:" : ", reports:") ==
			    -1)
				f->err = 1;
			dsn_para(f, b, "    ", buf_cstr(&t), 1);
		}
		dsn_para(f, b, "    ", r->diagnostic, utf8);
	}
	buf_reset(&t);
	if (r->action == DSN_DELAYED && r->will_retry_until > 0) {
		if (buf_appends(&t, "We will keep trying until ") == -1 ||
		    dsn_date(&t, r->will_retry_until) == -1 ||
		    buf_appendc(&t, '.') == -1)
			f->err = 1;
		dsn_para(f, b, "    ", buf_cstr(&t), 0);
	}
	dsn_crlf(f, b);
	buf_free(&t);
}

/* What part 3 holds, said in the text part. */
static const char *
dsn_text_returned(const struct dsn_returned *rr)
{
	if (rr->kind == DSN_RET_FULL)
		return "Your message is attached.";
	if (rr->kind == DSN_RET_NONE)
		return NULL;
	if (rr->why == DSN_WHY_BIG)
		return rr->cut ? "Your message was too large to return whole, "
		    "so only the beginning of its header section is attached." :
		    "Your message was too large to return whole, so only its "
		    "header section is attached.";
	if (rr->why == DSN_WHY_UNFIT)
		return "Your message could not be returned whole (lines too "
		    "long for mail, or binary content), so only its header "
		    "section is attached.";
	return rr->cut ? "The beginning of the header section of your message "
	    "is attached." : "The header section of your message is attached.";
}

static void
dsn_text_part(struct dsn_fold *f, struct buf *b, const struct dsn_params *p,
    const struct dsn_rcpt *rcpts, size_t n, const struct dsn_returned *rr)
{
	enum dsn_action worst = dsn_worst(rcpts, n);
	const char *intro, *ret;
	struct buf t = BUF_INIT(0);
	size_t i;

	if (buf_appends(&t, "This is the mail system at host ") == -1 ||
	    dsn_clean(&t, p->reporting_mta, 0) == -1 ||
	    buf_appendc(&t, '.') == -1)
		f->err = 1;
	dsn_para(f, b, "", buf_cstr(&t), 0);
	dsn_crlf(f, b);
	if (worst == DSN_FAILED)
		intro = "Your message could not be delivered to one or more "
		    "recipients, and the mail system has stopped trying. The "
		    "details are below.";
	else if (worst == DSN_DELAYED)
		intro = "Your message has not been delivered yet to one or "
		    "more recipients. This is only a warning: the mail system "
		    "will keep trying, and you do not need to send the "
		    "message again. You will be told if delivery fails for "
		    "good.";
	else
		intro = "This is the delivery report you asked for. Your "
		    "message was handed on as follows.";
	dsn_para(f, b, "", intro, 0);
	dsn_crlf(f, b);
	for (i = 0; i < n; i++)
		dsn_text_rcpt(f, b, &rcpts[i], p->smtputf8);
	buf_reset(&t);
	if (p->queue_id && *p->queue_id) {
		if (buf_appends(&t, "Queue ID ") == -1 ||
		    dsn_clean(&t, p->queue_id, 0) == -1 ||
		    (p->arrival > 0 && (buf_appends(&t, ", arrived ") == -1 ||
		    dsn_date(&t, p->arrival) == -1)) ||
		    buf_appendc(&t, '.') == -1)
			f->err = 1;
		dsn_para(f, b, "", buf_cstr(&t), 0);
	}
	if ((ret = dsn_text_returned(rr)) != NULL)
		dsn_para(f, b, "", ret, 0);
	if (p->note != NULL && *p->note)
		dsn_para(f, b, "", p->note, 0);
	buf_free(&t);
}

static void
dsn_status_part(struct dsn_fold *f, struct buf *b, const struct dsn_params *p,
    const struct dsn_rcpt *rcpts, size_t n)
{
	int u = p->smtputf8;
	size_t i;

	if (p->envid && *p->envid)
		dsn_field_text(f, b, "Original-Envelope-Id", NULL, p->envid,
		    u);
	dsn_field_text(f, b, "Reporting-MTA", "dns;", p->reporting_mta, 0);
	if (p->arrival > 0)
		dsn_field_date(f, b, "Arrival-Date", p->arrival);
	if (p->queue_id && *p->queue_id)
		dsn_field_text(f, b, "X-Estafeta-Queue-ID", NULL, p->queue_id,
		    0);
	for (i = 0; i < n; i++) {
		const struct dsn_rcpt *r = &rcpts[i];

		dsn_crlf(f, b);
		if (r->orcpt && *r->orcpt)
			dsn_field_orcpt(f, b, r->orcpt, u);
		dsn_field_addr(f, b, "Final-Recipient", r->addr, u);
		dsn_field_text(f, b, "Action", NULL,
		    dsn_action_name(r->action), 0);
		dsn_field_text(f, b, "Status", NULL, dsn_status(r), 0);
		if (r->remote_mta && *r->remote_mta)
			dsn_field_text(f, b, "Remote-MTA", "dns;",
			    r->remote_mta, u);
		if (r->diagnostic && *r->diagnostic)
			dsn_field_text(f, b, "Diagnostic-Code", "smtp;",
			    r->diagnostic, u);
		if (r->last_attempt > 0)
			dsn_field_date(f, b, "Last-Attempt-Date",
			    r->last_attempt);
		if (r->action == DSN_DELAYED && r->will_retry_until > 0)
			dsn_field_date(f, b, "Will-Retry-Until",
			    r->will_retry_until);
	}
}

/* ------------------------------------------------------------ message */

static int
dsn_random_hex(char *hex, size_t nbytes)
{
	unsigned char rnd[32];
	size_t i;

	if (nbytes > sizeof(rnd) || RAND_bytes(rnd, (int)nbytes) != 1)
		return -1;
	for (i = 0; i < nbytes; i++)
		(void)snprintf(hex + 2 * i, 3, "%02x", rnd[i]); /* fits */
	return 1;
}

static const char *
dsn_subject(enum dsn_action worst)
{
	if (worst == DSN_FAILED)
		return "Undelivered Mail Returned to Sender";
	if (worst == DSN_DELAYED)
		return "Delayed Mail (still being retried)";
	return "Successful Mail Delivery Report";
}

static const char *
dsn_returned_type(const struct dsn_returned *rr, int utf8)
{
	if (rr->kind == DSN_RET_FULL)
		return utf8 ? "message/global" : "message/rfc822";
	return utf8 ? "message/global-headers" : "text/rfc822-headers";
}

/* Our host name up to the first character that has no place in one. */
static int
dsn_msgid_host(struct buf *b, const char *host)
{
	size_t n = strspn(host, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.");

	return n ? buf_append(b, host, n) : buf_appends(b, "localhost");
}

static void
dsn_top_headers(struct dsn_fold *f, struct buf *b, const struct dsn_params *p,
    enum dsn_action worst, const char *boundary, int eightbit)
{
	static const char name[] = "Mail Delivery System";
	static const char ct[] = "multipart/report; "
	    "report-type=delivery-status;";
	char rnd[33];
	struct buf t = BUF_INIT(0);
	int u = p->smtputf8;

	dsn_field(f, b, "From");
	dsn_fold_words(f, name, strlen(name));
	if (buf_appendc(&t, '<') == -1 || dsn_clean(&t, p->postmaster, u) ==
	    -1 || buf_appendc(&t, '>') == -1)
		f->err = 1;
	dsn_fold_words(f, buf_cstr(&t), t.len);
	dsn_field_end(f);
	buf_reset(&t);
	if (buf_appendc(&t, '<') == -1 ||
	    dsn_clean(&t, p->original_sender, u) == -1 ||
	    buf_appendc(&t, '>') == -1)
		f->err = 1;
	dsn_field(f, b, "To");
	dsn_fold_words(f, buf_cstr(&t), t.len);
	dsn_field_end(f);
	dsn_field_text(f, b, "Subject", NULL, dsn_subject(worst), 0);
	dsn_field_date(f, b, "Date", (long long)time(NULL));
	buf_reset(&t);
	if (dsn_random_hex(rnd, 16) == -1 ||
	    buf_appendf(&t, "<%lld.%s@", (long long)time(NULL), rnd) == -1 ||
	    dsn_msgid_host(&t, p->reporting_mta) == -1 ||
	    buf_appendc(&t, '>') == -1)
		f->err = 1;
	dsn_field(f, b, "Message-ID");
	dsn_fold_words(f, buf_cstr(&t), t.len);
	dsn_field_end(f);
	dsn_field_text(f, b, "Auto-Submitted", NULL, "auto-replied", 0);
	dsn_field_text(f, b, "MIME-Version", NULL, "1.0", 0);
	buf_reset(&t);
	if (buf_appendf(&t, "boundary=\"%s\"", boundary) == -1)
		f->err = 1;
	dsn_field(f, b, "Content-Type");
	dsn_fold_words(f, ct, strlen(ct));
	dsn_fold_words(f, buf_cstr(&t), t.len);
	dsn_field_end(f);
	if (eightbit)
		dsn_field_text(f, b, "Content-Transfer-Encoding", NULL, "8bit",
		    0);
	buf_free(&t);
}

static void
dsn_part_head(struct dsn_fold *f, struct buf *b, const char *boundary,
    const char *desc, const char *type, int eightbit)
{
	if (buf_appendf(b, "\r\n--%s\r\n", boundary) == -1)
		f->err = 1;
	dsn_field_text(f, b, "Content-Description", NULL, desc, 0);
	dsn_field(f, b, "Content-Type");
	dsn_fold_words(f, type, strlen(type));
	dsn_field_end(f);
	if (eightbit)
		dsn_field_text(f, b, "Content-Transfer-Encoding", NULL, "8bit",
		    0);
	if (buf_append(b, "\r\n", 2) == -1)
		f->err = 1;
}

/*
 * Everything before part 3's content: the message header, the preamble,
 * parts 1 and 2, and part 3's header.
 */
static int
dsn_prefix(struct buf *pre, const struct dsn_params *p,
    const struct dsn_rcpt *rcpts, size_t n, const struct dsn_returned *rr,
    const char *boundary)
{
	struct dsn_fold f = { 0 };
	struct buf txt = BUF_INIT(0), st = BUF_INIT(0);
	enum dsn_action worst = dsn_worst(rcpts, n);
	int txt8, st8;

	dsn_text_part(&f, &txt, p, rcpts, n, rr);
	dsn_status_part(&f, &st, p, rcpts, n);
	txt8 = dsn_has_8bit(buf_cstr(&txt), txt.len);
	st8 = dsn_has_8bit(buf_cstr(&st), st.len);
	dsn_top_headers(&f, pre, p, worst, boundary, txt8 || st8 ||
	    (rr->kind != DSN_RET_NONE && rr->eightbit));
	if (buf_appends(pre, "\r\nThis is a MIME-encapsulated message.\r\n")
	    == -1)
		f.err = 1;
	dsn_part_head(&f, pre, boundary, "Notification", txt8 ?
	    "text/plain; charset=utf-8" : "text/plain; charset=us-ascii",
	    txt8);
	if (buf_append(pre, buf_cstr(&txt), txt.len) == -1)
		f.err = 1;
	dsn_part_head(&f, pre, boundary, "Delivery report", p->smtputf8 ?
	    "message/global-delivery-status" : "message/delivery-status",
	    st8);
	if (buf_append(pre, buf_cstr(&st), st.len) == -1)
		f.err = 1;
	if (rr->kind != DSN_RET_NONE)
		dsn_part_head(&f, pre, boundary, rr->kind == DSN_RET_FULL ?
		    (worst == DSN_FAILED ? "Undelivered Message" :
		    "Original Message") : (worst == DSN_FAILED ?
		    "Undelivered Message Headers" : "Original Message Headers"),
		    dsn_returned_type(rr, p->smtputf8), rr->eightbit);
	buf_free(&txt);
	buf_free(&st);
	return f.err ? -1 : 1;
}

static int
dsn_args_ok(const struct dsn_params *p, const struct dsn_rcpt *rcpts,
    size_t n)
{
	size_t i;

	if (p == NULL || rcpts == NULL || n == 0 || p->reporting_mta == NULL ||
	    p->original_sender == NULL || p->postmaster == NULL)
		return 0;
	for (i = 0; i < n; i++)
		if (rcpts[i].addr == NULL ||
		    (unsigned)rcpts[i].action > DSN_EXPANDED)
			return 0;
	return 1;
}

/* Inserts b[0..len) into out at offset at. */
static int
dsn_insert(struct buf *out, size_t at, const struct buf *b)
{
	if (buf_reserve(out, b->len) == NULL)
		return -1;
	memmove(out->data + at + b->len, out->data + at, out->len - at);
	memcpy(out->data + at, buf_cstr(b), b->len);
	out->len += b->len;
	out->data[out->len] = '\0';
	return 1;
}

int
dsn_build(const struct dsn_params *p, const struct dsn_rcpt *rcpts, size_t n,
    int (*read)(void *, const char **, size_t *), void *arg, struct buf *out)
{
	struct dsn_src src = { 0 };
	struct dsn_returned rr = { 0 };
	struct buf pre = BUF_INIT(0), h = BUF_INIT(DSN_HEADERS_MAX);
	size_t start = out->len, i;
	char boundary[48], rnd[33];
	int want_full = 0;

	if (!dsn_args_ok(p, rcpts, n) || dsn_random_hex(rnd, 16) == -1)
		return -1;
	(void)snprintf(boundary, sizeof(boundary), "=_dsn_%s", rnd); /* fits */
	for (i = 0; i < n; i++)
		if (rcpts[i].action == DSN_FAILED)
			want_full = p->ret_full;
	rr.kind = DSN_RET_NONE;
	if (read != NULL) {
		src.read = read;
		src.arg = arg;
		buf_init(&src.line, DSN_SRC_LINE + 1);
		if (dsn_original(&src, p, want_full, out, &h, &rr) == -1)
			goto fail;
	}
	for (;;) {
		buf_reset(&pre);
		if (dsn_prefix(&pre, p, rcpts, n, &rr, boundary) == -1)
			goto fail;
		if (dsn_insert(out, start, &pre) == 1 &&
		    buf_appendf(out, "\r\n--%s--\r\n", boundary) == 1)
			break;
		/* The whole original fit, but not with the rest: headers. */
		if (rr.kind != DSN_RET_FULL)
			goto fail;
		rr.why = DSN_WHY_BIG;
		if (dsn_use_headers(out, start, &h, &rr) == -1)
			goto fail;
	}
	buf_free(&src.line);
	buf_free(&pre);
	buf_free(&h);
	return 1;
fail:
	buf_free(&src.line);
	buf_free(&pre);
	buf_free(&h);
	dsn_truncate(out, start);
	return -1;
}
