/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * IMAP FETCH items: the parser for the item list (bounded: at most
 * IMAP_FETCH_ITEMS_MAX items, IMAP_PART_DEPTH_MAX part numbers) and the
 * renderer of one message's untagged FETCH response. ENVELOPE, BODY and
 * BODYSTRUCTURE strings and section extraction come from imap_body.c; this
 * file decides what to read (nothing, the header, or the whole message),
 * uses the per-message cache for the computed strings, applies <partial>
 * and writes literals. Pure: no I/O, no logging.
 */
#include "config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/buf.h"
#include "lib/mime.h"
#include "lib/xalloc.h"
#include "store/imap_body.h"
#include "store/imap_fetch.h"
#include "store/imap_parse.h"
#include "store/mstore.h"

#define NEED_NONE	0
#define NEED_HEADER	1
#define NEED_WHOLE	2

static const struct {
	const char		*name;
	enum imap_fetch_type	 type;
	int			 needs;
} simple_items[] = {
	{ "FLAGS", IMAP_FI_FLAGS, NEED_NONE },
	{ "INTERNALDATE", IMAP_FI_INTERNALDATE, NEED_NONE },
	{ "RFC822", IMAP_FI_RFC822, NEED_WHOLE },
	{ "RFC822.HEADER", IMAP_FI_RFC822_HEADER, NEED_HEADER },
	{ "RFC822.TEXT", IMAP_FI_RFC822_TEXT, NEED_WHOLE },
	{ "RFC822.SIZE", IMAP_FI_RFC822_SIZE, NEED_NONE },
	{ "ENVELOPE", IMAP_FI_ENVELOPE, NEED_HEADER },
	{ "BODY", IMAP_FI_BODY, NEED_WHOLE },
	{ "BODYSTRUCTURE", IMAP_FI_BODYSTRUCTURE, NEED_WHOLE },
	{ "UID", IMAP_FI_UID, NEED_NONE },
};

static const char *const macro_all[] = { "FLAGS", "INTERNALDATE",
	"RFC822.SIZE", "ENVELOPE", NULL };
static const char *const macro_fast[] = { "FLAGS", "INTERNALDATE",
	"RFC822.SIZE", NULL };
static const char *const macro_full[] = { "FLAGS", "INTERNALDATE",
	"RFC822.SIZE", "ENVELOPE", "BODY", NULL };

static int
prefix_ci(const char *s, size_t len, const char *p)
{
	size_t n = strlen(p);

	return len >= n && strncasecmp(s, p, n) == 0;
}

/* Parses digits at s[*i..len) into *v (at most max); 1 or -1. */
static int
parse_number(const char *s, size_t len, size_t *i, uint64_t max,
    uint64_t *v)
{
	size_t start = *i;

	*v = 0;
	while (*i < len && isdigit((unsigned char)s[*i])) {
		*v = *v * 10 + (uint64_t)(s[*i] - '0');
		if (*v > max || *i - start >= 20)
			return -1;
		(*i)++;
	}
	return *i > start ? 1 : -1;
}

static int
field_char(unsigned char c)
{
	/* RFC 5322 ftext: printable US-ASCII except ':' */
	return c > 0x20 && c < 0x7f && c != ':';
}

/*
 * Parses the header list "(" name *(SP name) ")" at s[*i..len); names are
 * atoms or quoted strings of field characters.
 */
static int
parse_fields(const char *s, size_t len, size_t *i, struct imap_section *sec)
{
	size_t start;
	int quoted;

	if (*i >= len || s[*i] != '(')
		return -1;
	(*i)++;
	for (;;) {
		quoted = *i < len && s[*i] == '"';
		if (quoted)
			(*i)++;
		start = *i;
		while (*i < len && field_char((unsigned char)s[*i]) &&
		    s[*i] != '"' && s[*i] != '(' && s[*i] != ')' &&
		    s[*i] != '\\')
			(*i)++;
		if (*i == start || sec->nfields >= IMAP_FETCH_ITEMS_MAX * 4)
			return -1;
		sec->fields = xrealloc(sec->fields,
		    (sec->nfields + 1) * sizeof(*sec->fields));
		sec->fields[sec->nfields++] = xstrndup(s + start, *i - start);
		if (quoted) {
			if (*i >= len || s[*i] != '"')
				return -1;
			(*i)++;
		}
		if (*i < len && s[*i] == ')') {
			(*i)++;
			return 1;
		}
		if (*i >= len || s[*i] != ' ')
			return -1;
		(*i)++;
	}
}

/* Parses the section text between "[" and "]": s[*i..len). */
static int
parse_section(const char *s, size_t len, size_t *i, struct imap_section *sec)
{
	uint64_t v;
	size_t rest;

	sec->spec = IMAP_SEC_ALL;
	while (*i < len && isdigit((unsigned char)s[*i])) {
		if (s[*i] == '0' ||
		    parse_number(s, len, i, UINT32_MAX, &v) == -1 ||
		    sec->npart == IMAP_PART_DEPTH_MAX)
			return -1;
		sec->part[sec->npart++] = (uint32_t)v;
		if (*i < len && s[*i] == '.') {
			(*i)++;
			if (*i < len && !isdigit((unsigned char)s[*i]))
				break;
		} else
			return 1;
	}
	if (*i < len && s[*i] == ']')
		return sec->npart == 0 || s[*i - 1] != '.' ? 1 : -1;
	rest = len - *i;
	if (prefix_ci(s + *i, rest, "HEADER.FIELDS.NOT ")) {
		sec->spec = IMAP_SEC_FIELDS_NOT;
		*i += 18;
		return parse_fields(s, len, i, sec);
	}
	if (prefix_ci(s + *i, rest, "HEADER.FIELDS ")) {
		sec->spec = IMAP_SEC_FIELDS;
		*i += 14;
		return parse_fields(s, len, i, sec);
	}
	if (prefix_ci(s + *i, rest, "HEADER")) {
		sec->spec = IMAP_SEC_HEADER;
		*i += 6;
		return 1;
	}
	if (prefix_ci(s + *i, rest, "TEXT")) {
		sec->spec = IMAP_SEC_TEXT;
		*i += 4;
		return 1;
	}
	if (sec->npart > 0 && prefix_ci(s + *i, rest, "MIME")) {
		sec->spec = IMAP_SEC_MIME;
		*i += 4;
		return 1;
	}
	return -1;
}

/*
 * Appends a field name for the response, upper-cased (field names are
 * case-insensitive; Dovecot echoes them so too): an atom, or quoted.
 */
static void
name_field(struct buf *b, const char *f)
{
	const char *p;
	int quote = 0;

	for (p = f; *p != '\0'; p++)
		if (strchr("(){%*\"\\]", *p) != NULL)
			quote = 1;
	/* Appends cannot fail: the buffer has no maximum. */
	if (quote)
		(void)buf_appendc(b, '"');
	for (p = f; *p != '\0'; p++)
		(void)buf_appendc(b, (char)toupper((unsigned char)*p));
	if (quote)
		(void)buf_appendc(b, '"');
}

static void
name_section(struct imap_fetch_item *it, const char *prefix)
{
	struct buf b = BUF_INIT(0);
	const struct imap_section *sec = &it->sec;
	static const char *const specs[] = { "", "HEADER", "HEADER.FIELDS",
	    "HEADER.FIELDS.NOT", "TEXT", "MIME" };
	size_t k;

	/* Appends cannot fail: the buffer has no maximum. */
	(void)buf_appends(&b, prefix);
	(void)buf_appendc(&b, '[');
	for (k = 0; k < sec->npart; k++)
		(void)buf_appendf(&b, "%s%u", k ? "." : "", sec->part[k]);
	if (sec->spec != IMAP_SEC_ALL)
		(void)buf_appendf(&b, "%s%s", sec->npart ? "." : "",
		    specs[sec->spec]);
	if (sec->spec == IMAP_SEC_FIELDS || sec->spec == IMAP_SEC_FIELDS_NOT) {
		(void)buf_appends(&b, " (");
		for (k = 0; k < sec->nfields; k++) {
			if (k > 0)
				(void)buf_appendc(&b, ' ');
			name_field(&b, sec->fields[k]);
		}
		(void)buf_appendc(&b, ')');
	}
	(void)buf_appendc(&b, ']');
	if (it->partial)
		(void)buf_appendf(&b, "<%llu>", (unsigned long long)it->off);
	it->name = buf_steal(&b);
}

/* BODY[...] or BODY.PEEK[...]; s[0..len) is the whole atom. */
static int
parse_body_item(const char *s, size_t len, struct imap_fetch_item *it)
{
	size_t i;

	if (prefix_ci(s, len, "BODY.PEEK[")) {
		it->peek = 1;
		i = 10;
	} else if (prefix_ci(s, len, "BODY["))
		i = 5;
	else
		return -1;
	it->type = IMAP_FI_SECTION;
	if (parse_section(s, len, &i, &it->sec) == -1 || i >= len ||
	    s[i] != ']')
		return -1;
	i++;
	if (i < len && s[i] == '<') {
		i++;
		it->partial = 1;
		if (parse_number(s, len, &i, UINT32_MAX, &it->off) == -1 ||
		    i >= len || s[i] != '.')
			return -1;
		i++;
		if (parse_number(s, len, &i, UINT32_MAX, &it->count) == -1 ||
		    it->count == 0 || i >= len || s[i] != '>')
			return -1;
		i++;
	}
	if (i != len)
		return -1;
	name_section(it, "BODY");
	return 1;
}

static int
needs_of(const struct imap_fetch_item *it)
{
	size_t k;

	if (it->type != IMAP_FI_SECTION) {
		for (k = 0; k < sizeof(simple_items) / sizeof(simple_items[0]);
		    k++)
			if (simple_items[k].type == it->type)
				return simple_items[k].needs;
		return NEED_NONE;
	}
	if (it->sec.npart == 0 && (it->sec.spec == IMAP_SEC_HEADER ||
	    it->sec.spec == IMAP_SEC_FIELDS ||
	    it->sec.spec == IMAP_SEC_FIELDS_NOT))
		return NEED_HEADER;
	return NEED_WHOLE;
}

static struct imap_fetch_item *
add_item(struct imap_fetch *f)
{
	f->items = xrealloc(f->items, (f->n + 1) * sizeof(*f->items));
	memset(&f->items[f->n], 0, sizeof(*f->items));
	return &f->items[f->n++];
}

static int
parse_item(struct imap_fetch *f, const char *s, size_t len)
{
	struct imap_fetch_item *it;
	size_t k;
	int need;

	if (f->n >= IMAP_FETCH_ITEMS_MAX)
		return -1;
	it = add_item(f);
	for (k = 0; k < sizeof(simple_items) / sizeof(simple_items[0]); k++)
		if (strlen(simple_items[k].name) == len &&
		    strncasecmp(simple_items[k].name, s, len) == 0) {
			it->type = simple_items[k].type;
			it->name = xstrdup(simple_items[k].name);
			break;
		}
	if (it->type == 0 && parse_body_item(s, len, it) == -1)
		return -1;
	switch (it->type) {
	case IMAP_FI_RFC822:
	case IMAP_FI_RFC822_TEXT:
		f->sets_seen = 1;
		f->literals = 1;
		break;
	case IMAP_FI_RFC822_HEADER:
		f->literals = 1;
		break;
	case IMAP_FI_SECTION:
		if (!it->peek)
			f->sets_seen = 1;
		f->literals = 1;
		break;
	case IMAP_FI_FLAGS:
		f->has_flags = 1;
		break;
	case IMAP_FI_UID:
		f->has_uid = 1;
		break;
	default:
		break;
	}
	need = needs_of(it);
	if (need > f->needs)
		f->needs = need;
	return 1;
}

int
imap_fetch_parse(const struct imap_arg *a, int uid, struct imap_fetch *f,
    const char **errstr_r)
{
	const char *const *macro = NULL;
	size_t k;

	memset(f, 0, sizeof(*f));
	if (a->type == IMAP_ARG_ATOM) {
		if (imap_arg_is(a, "ALL"))
			macro = macro_all;
		else if (imap_arg_is(a, "FAST"))
			macro = macro_fast;
		else if (imap_arg_is(a, "FULL"))
			macro = macro_full;
		if (macro != NULL) {
			for (k = 0; macro[k] != NULL; k++)
				(void)parse_item(f, macro[k],
				    strlen(macro[k]));	/* known good */
		} else if (parse_item(f, a->str, a->len) == -1)
			goto bad;
	} else if (a->type == IMAP_ARG_LIST && a->nlist > 0) {
		for (k = 0; k < a->nlist; k++)
			if (a->list[k].type != IMAP_ARG_ATOM ||
			    parse_item(f, a->list[k].str, a->list[k].len) == -1)
				goto bad;
	} else
		goto bad;
	if (uid && !f->has_uid) {
		/* UID FETCH always returns UID: first, like other servers. */
		(void)add_item(f);
		memmove(&f->items[1], &f->items[0],
		    (f->n - 1) * sizeof(*f->items));
		memset(&f->items[0], 0, sizeof(*f->items));
		f->items[0].type = IMAP_FI_UID;
		f->items[0].name = xstrdup("UID");
		f->has_uid = 1;
	}
	return 1;
bad:
	if (errstr_r != NULL)
		*errstr_r = "invalid fetch item";
	imap_fetch_free(f);
	return -1;
}

void
imap_fetch_free(struct imap_fetch *f)
{
	size_t i, k;

	for (i = 0; i < f->n; i++) {
		for (k = 0; k < f->items[i].sec.nfields; k++)
			free(f->items[i].sec.fields[k]);
		free(f->items[i].sec.fields);
		free(f->items[i].name);
	}
	free(f->items);
	memset(f, 0, sizeof(*f));
}

/* ------------------------------------------------------------ render */

int
imap_fetch_date(time_t t, struct buf *out)
{
	static const char *const mon[12] = { "Jan", "Feb", "Mar", "Apr",
	    "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct tm tm;
	long off;

	if (localtime_r(&t, &tm) == NULL)
		return buf_appends(out, "\"01-Jan-1970 00:00:00 +0000\"");
	off = tm.tm_gmtoff / 60;
	return buf_appendf(out, "\"%02d-%s-%04d %02d:%02d:%02d %c%02ld%02ld\"",
	    tm.tm_mday, mon[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, off < 0 ? '-' : '+', labs(off) / 60,
	    labs(off) % 60);
}

static int
flags_out(struct buf *b, uint32_t flags, const char *kw)
{
	static const struct {
		uint32_t	 bit;
		const char	*name;
	} names[] = {
		{ MSG_SEEN, "\\Seen" }, { MSG_ANSWERED, "\\Answered" },
		{ MSG_FLAGGED, "\\Flagged" }, { MSG_DELETED, "\\Deleted" },
		{ MSG_DRAFT, "\\Draft" }, { MSG_RECENT, "\\Recent" },
	};
	size_t i;
	int sp = 0;

	if (buf_appends(b, "FLAGS (") == -1)
		return -1;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (flags & names[i].bit) {
			if (buf_appendf(b, "%s%s", sp ? " " : "",
			    names[i].name) == -1)
				return -1;
			sp = 1;
		}
	if (kw != NULL && *kw != '\0' &&
	    buf_appendf(b, "%s%s", sp ? " " : "", kw) == -1)
		return -1;
	return buf_appendc(b, ')');
}

struct rctx {
	const struct imap_fetch_msg *m;
	int		 loaded;	/* NEED_* */
	const char	*data;
	size_t		 len;
	size_t		 hdrlen;
	int		 vanished;
	int		 emitted;	/* part of the response is sent */
	int		 streaming;	/* whole-message literals from disk */
	struct mime_parser *mp;		/* parsed once, for part sections */
	struct mime_parser *smp;	/* streaming: parsed from the file */
	const struct mime_part *sroot;
};

/* Writes s[0..n) as a literal: into b, or, when big, through emit. */
static int
literal_out(struct rctx *r, struct buf *b, const char *s, size_t n)
{
	if (buf_appendf(b, "{%zu}\r\n", n) == -1)
		return -1;
	if (r->m->emit == NULL || n < IMAP_FETCH_STREAM_MIN)
		return buf_append(b, s, n);
	r->emitted = 1;
	if (r->m->emit(r->m->arg, b->data, b->len) == -1 ||
	    r->m->emit(r->m->arg, s, n) == -1)
		return -1;
	buf_reset(b);
	return 1;
}

static int ensure(struct rctx *, int);

/* RFC822.TEXT, BODY[TEXT]: the body after the header's blank line. */
static int
text_item(const struct imap_fetch_item *it)
{
	return it->type == IMAP_FI_RFC822_TEXT ||
	    (it->type == IMAP_FI_SECTION && it->sec.npart == 0 &&
	    it->sec.spec == IMAP_SEC_TEXT);
}

/* Octets [base, base + n) of the message, or <off.count> of them, as a
 * literal from disk. */
static int
range_out(struct rctx *r, struct buf *b, const struct imap_fetch_item *it,
    uint64_t base, uint64_t n)
{
	uint64_t off = 0;

	if (it->partial) {
		off = it->off < n ? it->off : n;
		n -= off;
		if (n > it->count)
			n = it->count;
	}
	if (buf_appendf(b, "{%llu}\r\n", (unsigned long long)n) == -1)
		return -1;
	r->emitted = 1;
	if (r->m->emit(r->m->arg, b->data, b->len) == -1 ||
	    (n > 0 && r->m->text_emit(r->m->arg, base + off, n) == -1))
		return -1;
	buf_reset(b);
	return 1;
}

/* The whole message or its body, or <off.count> of it, as a literal
 * from disk (the header is loaded for the body's start). */
static int
stream_out(struct rctx *r, struct buf *b, const struct imap_fetch_item *it)
{
	uint64_t base = 0, n = r->m->size;

	if (text_item(it)) {
		if (!ensure(r, NEED_HEADER))
			return 0;
		base = r->hdrlen < n ? r->hdrlen : n;
		n -= base;
	}
	return range_out(r, b, it, base, n);
}

/* A section with a part path (BODY[1], BODY[2.MIME], BODY[3.TEXT]). */
static int
part_item(const struct imap_fetch_item *it)
{
	return it->type == IMAP_FI_SECTION && it->sec.npart > 0;
}

/* Whether m can give part sections and structures from disk. */
static int
parts_from_disk(const struct imap_fetch_msg *m)
{
	return m->text_read != NULL && m->text_scan != NULL;
}

/* RFC822, BODY[], BODY.PEEK[] (partial or not): the whole message; and
 * the body alone (text_item). Either streams from the file. */
static int
whole_item(const struct imap_fetch_item *it)
{
	return it->type == IMAP_FI_RFC822 || text_item(it) ||
	    (it->type == IMAP_FI_SECTION && it->sec.npart == 0 &&
	    it->sec.spec == IMAP_SEC_ALL);
}

/*
 * Whether m's whole-message items can stream from disk: only they may
 * need the whole text. *level_r gets what the other items need.
 */
static int
can_stream(const struct imap_fetch *f, const struct imap_fetch_msg *m,
    int *level_r)
{
	size_t i;
	int any = 0, need;

	*level_r = NEED_NONE;
	if (m->emit == NULL || m->text_open == NULL || m->text_emit == NULL ||
	    m->size < IMAP_FETCH_STREAM_MIN)
		return 0;
	for (i = 0; i < f->n; i++) {
		if (whole_item(&f->items[i])) {
			any = 1;
			if (text_item(&f->items[i]) && *level_r < NEED_HEADER)
				*level_r = NEED_HEADER;	/* where it starts */
			continue;
		}
		if (parts_from_disk(m) && (part_item(&f->items[i]) ||
		    f->items[i].type == IMAP_FI_BODY ||
		    f->items[i].type == IMAP_FI_BODYSTRUCTURE)) {
			any = 1;	/* the structure from the file */
			continue;
		}
		if ((need = needs_of(&f->items[i])) == NEED_WHOLE)
			return 0;
		if (need > *level_r)
			*level_r = need;
	}
	return any;
}

/* Applies <off.count> to s[0..n) and writes it as a literal. */
static int
partial_out(struct rctx *r, struct buf *b, const struct imap_fetch_item *it,
    const char *s, size_t n)
{
	if (it->partial) {
		if (it->off >= n)
			n = 0;
		else {
			s += it->off;
			n -= (size_t)it->off;
			if (n > it->count)
				n = (size_t)it->count;
		}
	}
	return literal_out(r, b, s, n);
}

static int
ensure(struct rctx *r, int level)
{
	const char *p;

	if (r->vanished)
		return 0;
	if (r->loaded >= level)
		return 1;
	mime_parser_free(&r->mp);	/* its offsets were for the old text */
	if (r->m->load(r->m->arg, level == NEED_WHOLE, &r->data,
	    &r->len) != 1) {
		r->vanished = 1;
		return 0;
	}
	r->loaded = level;
	if (r->len >= 2 && r->data[0] == '\r' && r->data[1] == '\n')
		r->hdrlen = 2;
	else if ((p = memmem(r->data, r->len, "\r\n\r\n", 4)) != NULL)
		r->hdrlen = (size_t)(p - r->data) + 4;
	else
		r->hdrlen = r->len;
	return 1;
}

static void
scan_feed(void *arg, const char *p, size_t n)
{
	mime_parser_feed(arg, p, n);
}

/* Streaming: the MIME structure, parsed once from the file in pieces.
 * NULL when the file could not be read (the render fails with -1). */
static const struct mime_part *
stree(struct rctx *r)
{
	if (r->sroot != NULL)
		return r->sroot;
	r->smp = mime_parser_new(NULL);
	if (r->m->text_scan(r->m->arg, scan_feed, r->smp) != 1) {
		mime_parser_free(&r->smp);
		return NULL;
	}
	r->sroot = mime_parser_finish(r->smp);
	return r->sroot;
}

/* ENVELOPE, BODY, BODYSTRUCTURE: from the cache, or computed and cached. */
static int
computed_out(struct rctx *r, enum imap_fetch_type type, struct buf *out,
    struct buf *scratch)
{
	const struct imap_fetch_msg *m = r->m;
	/* The digit is the format version: bump it when imap_body's output
	 * changes, so that strings cached by an older buzond are not used. */
	const char *key = type == IMAP_FI_ENVELOPE ? "env2" :
	    type == IMAP_FI_BODY ? "body2" : "bs2";
	int rv = 1;

	buf_reset(scratch);
	if (m->cache_get != NULL && m->cache_get(m->arg, key, scratch) == 1 &&
	    scratch->len > 0)
		return buf_append(out, scratch->data, scratch->len);
	buf_reset(scratch);
	if (r->streaming && parts_from_disk(m) && type != IMAP_FI_ENVELOPE) {
		const struct mime_part *root = stree(r);

		if (root == NULL || imap_body_structure_read(root,
		    m->text_read, m->arg, type == IMAP_FI_BODYSTRUCTURE,
		    scratch) == -1)
			return -1;
	} else if (!ensure(r, type == IMAP_FI_ENVELOPE ? NEED_HEADER :
	    NEED_WHOLE))
		return 0;
	else if (type == IMAP_FI_ENVELOPE)
		rv = imap_body_envelope(r->data, r->hdrlen, scratch);
	else
		rv = imap_body_structure(r->data, r->len,
		    type == IMAP_FI_BODYSTRUCTURE, scratch);
	if (rv == -1)
		return -1;
	if (m->cache_set != NULL)
		m->cache_set(m->arg, key, scratch->data, scratch->len);
	return buf_append(out, scratch->data, scratch->len);
}

/* The part a section's path designates, or NULL (RFC 3501 6.4.5). */
static const struct mime_part *
find_part(const struct mime_part *root, const struct imap_section *sec)
{
	const struct mime_part *p = root, *c;
	size_t k;
	uint32_t i;
	int msg = 1;		/* p is a message (the root or an embedded one) */

	for (k = 0; k < sec->npart; k++) {
		/* Numbers below a message/rfc822 part address its message. */
		if (k > 0 && (p->flags & MIME_F_MESSAGE)) {
			if ((p = p->children) == NULL)
				return NULL;
			msg = 1;
		}
		if (p->flags & MIME_F_MULTIPART) {
			for (c = p->children, i = 1; c != NULL &&
			    i < sec->part[k]; c = c->next, i++)
				;
			if (c == NULL)
				return NULL;
			p = c;
		} else if (sec->part[k] != 1 || !msg)
			return NULL;	/* only a message's body is part 1 */
		msg = 0;
	}
	return p;
}

/*
 * Appends to out the header fields of h[0..n) whose names are (not, when
 * exclude) in sec->fields, then the blank line.
 */
static int
filter_fields(const char *h, size_t n, const struct imap_section *sec,
    int exclude, struct buf *out)
{
	size_t i = 0, start, nl, k;
	const char *colon, *eol;
	int keep;

	while (i < n) {
		start = i;
		/* A field: its first line and the continuation lines. */
		do {
			eol = memchr(h + i, '\n', n - i);
			i = eol != NULL ? (size_t)(eol - h) + 1 : n;
		} while (i < n && (h[i] == ' ' || h[i] == '\t'));
		if (i - start <= 2 && (h[start] == '\r' || h[start] == '\n'))
			break;		/* the blank line */
		colon = memchr(h + start, ':', i - start);
		if (colon == NULL)
			continue;
		nl = (size_t)(colon - (h + start));
		while (nl > 0 && (h[start + nl - 1] == ' ' ||
		    h[start + nl - 1] == '\t'))
			nl--;
		keep = exclude;
		for (k = 0; k < sec->nfields; k++)
			if (strlen(sec->fields[k]) == nl &&
			    strncasecmp(sec->fields[k], h + start, nl) == 0) {
				keep = !exclude;
				break;
			}
		if (keep && buf_append(out, h + start, i - start) == -1)
			return -1;
		/* A last field without a line end gets one. */
		if (keep && h[i - 1] != '\n' && buf_appends(out, "\r\n") == -1)
			return -1;
	}
	return buf_appends(out, "\r\n");
}

/*
 * The header [*hs, *he) and body [*bs, *be) ranges of a section with a
 * part path in the tree root of a message of len octets. 1, or 0 when
 * the part does not exist.
 */
static int
part_bounds(const struct mime_part *root, const struct imap_section *sec,
    uint64_t len, uint64_t *hs, uint64_t *he, uint64_t *bs, uint64_t *be)
{
	const struct mime_part *p = find_part(root, sec);

	if (p == NULL)
		return 0;
	if (sec->spec == IMAP_SEC_ALL || sec->spec == IMAP_SEC_MIME) {
		*hs = p->hdr_start;
		*he = *bs = p->body_start;
		*be = p->body_end;
		if (sec->spec == IMAP_SEC_MIME)
			*be = *he;
		else
			*hs = *he = *bs;
	} else {
		/* HEADER, TEXT, FIELDS: only of a message part. */
		if (!(p->flags & MIME_F_MESSAGE) || (p = p->children) == NULL)
			return 0;
		*hs = p->hdr_start;
		*he = *bs = p->body_start;
		*be = p->body_end;
	}
	return *hs <= *he && *bs <= *be && *be <= len;
}

/*
 * The octets of a section: a range of the message (*s_r, *n_r), or
 * filtered fields in scratch. 1, 0 when the part does not exist, -1.
 */
static int
section_range(struct rctx *r, const struct imap_section *sec,
    struct buf *scratch, const char **s_r, size_t *n_r)
{
	uint64_t hs, he, bs, be;

	if (sec->npart == 0) {
		hs = 0;
		he = bs = r->hdrlen;
		be = r->len;
		if (sec->spec == IMAP_SEC_ALL)
			bs = 0;		/* BODY[]: the whole message */
	} else {
		if (r->mp == NULL)
			r->mp = mime_parse(r->data, r->len, NULL);
		if (!part_bounds(mime_parser_finish(r->mp), sec, r->len, &hs,
		    &he, &bs, &be))
			return 0;
	}
	if (hs > he || bs > be || be > r->len)
		return 0;
	switch (sec->spec) {
	case IMAP_SEC_ALL:
	case IMAP_SEC_TEXT:
		*s_r = r->data + bs;
		*n_r = (size_t)(be - bs);
		return 1;
	case IMAP_SEC_HEADER:
	case IMAP_SEC_MIME:
		*s_r = r->data + hs;
		*n_r = (size_t)(he - hs);
		return 1;
	case IMAP_SEC_FIELDS:
	case IMAP_SEC_FIELDS_NOT:
		buf_reset(scratch);
		if (filter_fields(r->data + hs, (size_t)(he - hs), sec,
		    sec->spec == IMAP_SEC_FIELDS_NOT, scratch) == -1)
			return -1;
		*s_r = scratch->data;
		*n_r = scratch->len;
		return 1;
	}
	return 0;
}

/* A part section of a big message, from disk (only a part header that
 * FIELDS filters is read into memory). */
static int
part_stream(struct rctx *r, const struct imap_fetch_item *it,
    struct buf *out, struct buf *scratch)
{
	const struct mime_part *root;
	struct buf h = BUF_INIT(0);
	uint64_t hs, he, bs, be;
	int rv;

	if ((root = stree(r)) == NULL)
		return -1;
	if (!part_bounds(root, &it->sec, r->m->size, &hs, &he, &bs, &be))
		return partial_out(r, out, it, "", 0);	/* as section_out */
	switch (it->sec.spec) {
	case IMAP_SEC_ALL:
	case IMAP_SEC_TEXT:
		return range_out(r, out, it, bs, be - bs);
	case IMAP_SEC_HEADER:
	case IMAP_SEC_MIME:
		return range_out(r, out, it, hs, he - hs);
	case IMAP_SEC_FIELDS:
	case IMAP_SEC_FIELDS_NOT:
		break;
	}
	buf_reset(scratch);
	rv = r->m->text_read(r->m->arg, hs, he - hs, &h);
	if (rv == 1)
		rv = filter_fields(h.data != NULL ? h.data : "", h.len,
		    &it->sec, it->sec.spec == IMAP_SEC_FIELDS_NOT, scratch);
	buf_free(&h);
	if (rv == -1)
		return -1;
	return partial_out(r, out, it, scratch->data != NULL ?
	    scratch->data : "", scratch->len);
}

static int
section_out(struct rctx *r, const struct imap_fetch_item *it,
    struct buf *out, struct buf *scratch)
{
	const char *s = "";
	size_t n = 0;
	int rv;

	if (r->streaming && whole_item(it))
		return stream_out(r, out, it);
	if (r->streaming && part_item(it) && parts_from_disk(r->m))
		return part_stream(r, it, out, scratch);
	if (!ensure(r, needs_of(it)))
		return 0;
	rv = section_range(r, &it->sec, scratch, &s, &n);
	if (rv == -1)
		return -1;
	/* No such part: an empty string, as Dovecot answers. */
	return partial_out(r, out, it, rv == 1 ? s : "", rv == 1 ? n : 0);
}

static int
item_out(struct rctx *r, const struct imap_fetch_item *it, struct buf *out,
    struct buf *scratch)
{
	const struct imap_fetch_msg *m = r->m;

	if (it->type == IMAP_FI_FLAGS)
		return flags_out(out, m->flags, m->keywords);
	if (buf_appends(out, it->name) == -1 || buf_appendc(out, ' ') == -1)
		return -1;
	switch (it->type) {
	case IMAP_FI_FLAGS:
		break;
	case IMAP_FI_INTERNALDATE:
		return imap_fetch_date(m->internaldate, out);
	case IMAP_FI_RFC822_SIZE:
		return buf_appendf(out, "%llu", (unsigned long long)m->size);
	case IMAP_FI_UID:
		return buf_appendf(out, "%u", m->uid);
	case IMAP_FI_RFC822:
		if (r->streaming)
			return stream_out(r, out, it);
		if (!ensure(r, NEED_WHOLE))
			return 0;
		return literal_out(r, out, r->data, r->len);
	case IMAP_FI_RFC822_HEADER:
		if (!ensure(r, NEED_HEADER))
			return 0;
		return literal_out(r, out, r->data, r->hdrlen);
	case IMAP_FI_RFC822_TEXT:
		if (r->streaming)
			return stream_out(r, out, it);
		if (!ensure(r, NEED_WHOLE))
			return 0;
		return literal_out(r, out, r->data + r->hdrlen,
		    r->len - r->hdrlen);
	case IMAP_FI_ENVELOPE:
	case IMAP_FI_BODY:
	case IMAP_FI_BODYSTRUCTURE:
		return computed_out(r, it->type, out, scratch);
	case IMAP_FI_SECTION:
		return section_out(r, it, out, scratch);
	}
	return -1;
}

int
imap_fetch_render(const struct imap_fetch *f, const struct imap_fetch_msg *m,
    struct buf *out, struct buf *scratch)
{
	struct rctx r;
	size_t start = out->len, i;
	int rv, level;

	memset(&r, 0, sizeof(r));
	r.m = m;
	/* Before anything may be emitted, make sure the text is there (or,
	 * streaming, that the file is open). */
	if (can_stream(f, m, &level)) {
		r.streaming = 1;
		if (!ensure(&r, level) || m->text_open(m->arg) != 1)
			return 0;
	} else if (m->emit != NULL && f->literals && !ensure(&r, f->needs))
		return 0;
	if (buf_appendf(out, "* %u FETCH (", m->seq) == -1)
		goto fail;
	for (i = 0; i < f->n; i++) {
		if (i > 0 && buf_appendc(out, ' ') == -1)
			goto fail;
		if ((rv = item_out(&r, &f->items[i], out, scratch)) != 1) {
			if (r.emitted)
				rv = -1;	/* cannot be taken back */
			out->len = r.emitted ? 0 : start;
			if (out->data != NULL)
				out->data[out->len] = '\0';
			mime_parser_free(&r.mp);
			mime_parser_free(&r.smp);
			return rv;
		}
		if (r.emitted)
			start = 0;	/* out now holds only what follows */
	}
	if (m->add_flags && !f->has_flags &&
	    (buf_appendc(out, ' ') == -1 ||
	    flags_out(out, m->flags, m->keywords) == -1))
		goto fail;
	if (buf_appends(out, ")\r\n") == -1)
		goto fail;
	mime_parser_free(&r.mp);
	mime_parser_free(&r.smp);
	return 1;
fail:
	mime_parser_free(&r.mp);
	mime_parser_free(&r.smp);
	if (r.emitted)
		start = 0;
	out->len = start;
	if (out->data != NULL)
		out->data[start] = '\0';
	return -1;
}
