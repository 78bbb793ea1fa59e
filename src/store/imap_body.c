/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * IMAP ENVELOPE / BODY / BODYSTRUCTURE: see imap_body.h.
 *
 * Addresses are tokenized (atoms, quoted strings, comments, domain
 * literals, specials) and parsed as RFC 5322 address lists with groups
 * and obsolete routes; whatever cannot be parsed still yields an address
 * with the MISSING_* placeholders rather than an error, as IMAP clients
 * expect a well-formed ENVELOPE for any message.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/buf.h"
#include "lib/hdr.h"
#include "lib/mime.h"
#include "lib/xalloc.h"
#include "store/imap_body.h"

#define IB_FIELD_MAX	(256 * 1024)	/* kept bytes of one header field */
#define IB_MAX_TOKENS	4096		/* tokens of one address list */

/* ------------------------------------------------------------ strings */

int
imap_body_string(struct buf *out, const char *s, size_t n)
{
	size_t i, a;
	int lit = 0;

	if (s == NULL)
		return buf_appends(out, "NIL");
	for (i = 0; i < n && !lit; i++) {
		unsigned char c = (unsigned char)s[i];

		lit = c == '\0' || c == '\r' || c == '\n' || c >= 0x80;
	}
	if (lit) {
		if (buf_appendf(out, "{%zu}\r\n", n) == -1)
			return -1;
		return buf_append(out, s, n);
	}
	if (buf_appendc(out, '"') == -1)
		return -1;
	for (i = 0; i < n; i = a) {
		/* A run without '"' or '\\', then one escaped octet. */
		for (a = i; a < n && s[a] != '"' && s[a] != '\\'; a++)
			;
		if (buf_append(out, s + i, a - i) == -1)
			return -1;
		if (a < n && (buf_appendc(out, '\\') == -1 ||
		    buf_appendc(out, s[a++]) == -1))
			return -1;
	}
	return buf_appendc(out, '"');
}

static int
ib_cstr(struct buf *out, const char *s)
{
	return imap_body_string(out, s, s ? strlen(s) : 0);
}

static int
ib_is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/*
 * The first field named name in hdr[0..len), unfolded and trimmed, into
 * tmp. Returns 1 and sets *v and *n, or 0 when there is no such field.
 */
static int
ib_field(const char *hdr, size_t len, const char *name, struct buf *tmp,
    const char **v, size_t *n)
{
	const char *s, *e;

	buf_reset(tmp);
	if (hdr_field(hdr, len, name, tmp) <= 0)
		return 0;
	s = tmp->data;
	e = s + strlen(s);	/* the first value ends at its NUL */
	while (s < e && ib_is_ws(*s))
		s++;
	while (e > s && ib_is_ws(e[-1]))
		e--;
	*v = s;
	*n = (size_t)(e - s);
	return 1;
}

/*
 * Like ib_field for an address field: every field of that name counts, as
 * one list (a second To: or Cc: is common in old mail; Dovecot merges
 * them too).
 */
static int
ib_field_list(const char *hdr, size_t len, const char *name,
    struct buf *tmp, const char **v, size_t *n)
{
	const char *s, *e;
	size_t i;

	buf_reset(tmp);
	if (hdr_field(hdr, len, name, tmp) <= 0)
		return 0;
	for (i = 0; i < tmp->len; i++)
		if (tmp->data[i] == '\0')
			tmp->data[i] = ',';
	s = tmp->data;
	e = s + tmp->len;
	while (s < e && ib_is_ws(*s))
		s++;
	while (e > s && ib_is_ws(e[-1]))
		e--;
	*v = s;
	*n = (size_t)(e - s);
	return 1;
}

/* ---------------------------------------------------------- addresses */

enum ib_tt { T_END, T_ATOM, T_QS, T_COMMENT, T_DLIT, T_SPECIAL };

struct ib_tok {
	enum ib_tt	 t;
	const char	*s;	/* for T_QS/T_COMMENT: contents, escapes kept */
	size_t		 n;
};

static size_t
ib_tokenize(const char *s, size_t len, struct ib_tok *tk, size_t max)
{
	size_t i = 0, nt = 0, a;
	int depth;

	while (i < len && nt + 1 < max) {
		char c = s[i];

		if (ib_is_ws(c)) {
			i++;
			continue;
		}
		if (c == '"' || c == '(') {
			a = ++i;
			depth = 1;
			while (i < len) {
				if (s[i] == '\\' && i + 1 < len) {
					i += 2;
					continue;
				}
				if (c == '"' && s[i] == '"')
					break;
				if (c == '(' && s[i] == '(')
					depth++;
				if (c == '(' && s[i] == ')' && --depth == 0)
					break;
				i++;
			}
			tk[nt].t = c == '"' ? T_QS : T_COMMENT;
			tk[nt].s = s + a;
			tk[nt++].n = i - a;
			if (i < len)
				i++;
			continue;
		}
		if (c == '[') {
			a = i;
			while (i < len && s[i] != ']')
				i++;
			if (i < len)
				i++;
			tk[nt].t = T_DLIT;
			tk[nt].s = s + a;
			tk[nt++].n = i - a;
			continue;
		}
		if (strchr("<>@,;:.\\]", c) != NULL) {
			tk[nt].t = T_SPECIAL;
			tk[nt].s = s + i++;
			tk[nt++].n = 1;
			continue;
		}
		a = i;
		while (i < len && !ib_is_ws(s[i]) &&
		    strchr("<>@,;:.\\[]\"()", s[i]) == NULL)
			i++;
		tk[nt].t = T_ATOM;
		tk[nt].s = s + a;
		tk[nt++].n = i - a;
	}
	tk[nt].t = T_END;
	tk[nt].s = s + len;
	tk[nt].n = 0;
	return nt;
}

static int
ib_special(const struct ib_tok *t, char c)
{
	return t->t == T_SPECIAL && t->s[0] == c;
}

/* Appends a quoted string's or comment's content with escapes undone. */
static void
ib_unescape(struct buf *b, const struct ib_tok *t)
{
	size_t i;

	for (i = 0; i < t->n; i++) {
		if (t->s[i] == '\\' && i + 1 < t->n)
			i++;
		if (t->s[i] != '\r' && t->s[i] != '\n')
			(void)buf_appendc(b, t->s[i]);
	}
}

/* The words of tk[a..b) as a phrase (display name or group name). */
static void
ib_phrase(const struct ib_tok *tk, size_t a, size_t b, struct buf *out)
{
	size_t i;

	for (i = a; i < b; i++) {
		if (tk[i].t == T_COMMENT)
			continue;
		if (tk[i].t == T_SPECIAL && tk[i].s[0] == '.') {
			(void)buf_appendc(out, '.');
			continue;
		}
		if (out->len > 0)
			(void)buf_appendc(out, ' ');
		if (tk[i].t == T_QS)
			ib_unescape(out, &tk[i]);
		else
			(void)buf_append(out, tk[i].s, tk[i].n);
	}
}

/* Concatenates tk[a..b) without spaces (local part, domain, route). */
static void
ib_concat(const struct ib_tok *tk, size_t a, size_t b, struct buf *out)
{
	size_t i;

	for (i = a; i < b; i++) {
		if (tk[i].t == T_COMMENT)
			continue;
		if (tk[i].t == T_QS)
			ib_unescape(out, &tk[i]);
		else
			(void)buf_append(out, tk[i].s, tk[i].n);
	}
}

/* The first comment in tk[a..b), as a fallback display name. */
static void
ib_comment_name(const struct ib_tok *tk, size_t a, size_t b, struct buf *out)
{
	size_t i;

	for (i = a; i < b; i++)
		if (tk[i].t == T_COMMENT) {
			ib_unescape(out, &tk[i]);
			return;
		}
}

static int
ib_addr_out(struct buf *out, const struct buf *name, const struct buf *adl,
    const struct buf *local, const struct buf *domain)
{
	int r = 1;

	r |= buf_appendc(out, '(');
	r |= name->len ? imap_body_string(out, name->data, name->len) :
	    buf_appends(out, "NIL");
	r |= buf_appendc(out, ' ');
	r |= adl->len ? imap_body_string(out, adl->data, adl->len) :
	    buf_appends(out, "NIL");
	r |= buf_appendc(out, ' ');
	r |= local->len ? imap_body_string(out, local->data, local->len) :
	    ib_cstr(out, "MISSING_MAILBOX");
	r |= buf_appendc(out, ' ');
	r |= domain->len ? imap_body_string(out, domain->data, domain->len) :
	    ib_cstr(out, "MISSING_DOMAIN");
	r |= buf_appendc(out, ')');
	return r == 1 ? 1 : -1;
}

/*
 * One mailbox starting at tk[*i]: "phrase <[route:]local@domain>" or
 * "local@domain (comment)". Leaves *i at the ',' ';' or end after it.
 */
static int
ib_mailbox(const struct ib_tok *tk, size_t *i, struct buf *out)
{
	struct buf name = BUF_INIT(0), adl = BUF_INIT(0), local = BUF_INIT(0),
	    domain = BUF_INIT(0);
	size_t j = *i, a, at;
	int r;

	while (tk[j].t != T_END && !ib_special(&tk[j], '<') &&
	    !ib_special(&tk[j], ',') && !ib_special(&tk[j], ';') &&
	    !ib_special(&tk[j], '@'))
		j++;
	if (ib_special(&tk[j], '<')) {
		ib_phrase(tk, *i, j, &name);
		a = ++j;
		if (ib_special(&tk[j], '@')) {
			/* Obsolete route: @a,@b: */
			while (tk[j].t != T_END && !ib_special(&tk[j], ':') &&
			    !ib_special(&tk[j], '>'))
				j++;
			ib_concat(tk, a, j, &adl);
			if (ib_special(&tk[j], ':'))
				j++;
			a = j;
		}
		while (tk[j].t != T_END && !ib_special(&tk[j], '@') &&
		    !ib_special(&tk[j], '>'))
			j++;
		ib_concat(tk, a, j, &local);
		if (ib_special(&tk[j], '@')) {
			a = ++j;
			while (tk[j].t != T_END && !ib_special(&tk[j], '>'))
				j++;
			ib_concat(tk, a, j, &domain);
		}
		if (ib_special(&tk[j], '>'))
			j++;
		if (name.len == 0)
			ib_comment_name(tk, j, j + 1, &name);
	} else {
		/* addr-spec: the words so far are the local part. */
		ib_concat(tk, *i, j, &local);
		at = j;
		if (ib_special(&tk[j], '@')) {
			a = ++j;
			while (tk[j].t != T_END && !ib_special(&tk[j], ',') &&
			    !ib_special(&tk[j], ';') && !ib_special(&tk[j], '<'))
				j++;
			ib_concat(tk, a, j, &domain);
		}
		ib_comment_name(tk, *i, j, &name);
		(void)at;
	}
	/* Skip junk up to the next separator. */
	while (tk[j].t != T_END && !ib_special(&tk[j], ',') &&
	    !ib_special(&tk[j], ';'))
		j++;
	*i = j;
	r = ib_addr_out(out, &name, &adl, &local, &domain);
	buf_free(&name);
	buf_free(&adl);
	buf_free(&local);
	buf_free(&domain);
	return r;
}

/* Is tk[i..] a group start "phrase :" (before any '<' '@' ',' ';')? */
static size_t
ib_group_colon(const struct ib_tok *tk, size_t i)
{
	for (; tk[i].t != T_END; i++) {
		if (tk[i].t != T_SPECIAL)
			continue;
		if (tk[i].s[0] == ':')
			return i;
		if (tk[i].s[0] != '.')
			return 0;
	}
	return 0;
}

/* Appends "((...)(...))" for an address list value, or NIL when empty. */
static int
ib_addresses(const char *v, size_t len, struct buf *out)
{
	struct ib_tok *tk;
	struct buf list = BUF_INIT(0), gname = BUF_INIT(0);
	size_t i = 0, c;
	int in_group = 0, r = 1;

	/* Each token takes at least one octet: len + 1 entries suffice. */
	c = len < IB_MAX_TOKENS ? len + 1 : IB_MAX_TOKENS;
	tk = xcalloc(c + 1, sizeof(*tk));
	(void)ib_tokenize(v, len, tk, c);
	while (tk[i].t != T_END && r == 1) {
		if (ib_special(&tk[i], ',')) {
			i++;
			continue;
		}
		if (ib_special(&tk[i], ';')) {
			if (in_group)
				r = buf_appends(&list, "(NIL NIL NIL NIL)");
			in_group = 0;
			i++;
			continue;
		}
		if (tk[i].t == T_COMMENT) {
			i++;
			continue;
		}
		if (!in_group && (c = ib_group_colon(tk, i)) > 0) {
			buf_reset(&gname);
			ib_phrase(tk, i, c, &gname);
			r = buf_appends(&list, "(NIL NIL ");
			if (r == 1)
				r = imap_body_string(&list, gname.data ?
				    gname.data : "", gname.len);
			if (r == 1)
				r = buf_appends(&list, " NIL)");
			in_group = 1;
			i = c + 1;
			continue;
		}
		r = ib_mailbox(tk, &i, &list);
	}
	if (in_group && r == 1)
		r = buf_appends(&list, "(NIL NIL NIL NIL)");
	free(tk);
	buf_free(&gname);
	if (r == 1) {
		if (list.len == 0)
			r = buf_appends(out, "NIL");
		else if ((r = buf_appendc(out, '(')) == 1 &&
		    (r = buf_append(out, list.data, list.len)) == 1)
			r = buf_appendc(out, ')');
	}
	buf_free(&list);
	return r == 1 ? 1 : -1;
}

/* ----------------------------------------------------------- envelope */

int
imap_body_envelope_hdr(const char *hdr, size_t len, struct buf *out)
{
	static const char *const strs1[] = { "Date", "Subject" };
	static const char *const addrs[] = { "From", "Sender", "Reply-To",
	    "To", "Cc", "Bcc" };
	static const char *const strs2[] = { "In-Reply-To", "Message-ID" };
	struct buf tmp = BUF_INIT(IB_FIELD_MAX + 1024), from = BUF_INIT(0);
	const char *v;
	size_t n, k;
	int r = buf_appendc(out, '(');

	for (k = 0; k < 2 && r == 1; k++) {
		if (k > 0)
			r = buf_appendc(out, ' ');
		if (r == 1)
			r = ib_field(hdr, len, strs1[k], &tmp, &v, &n) ?
			    imap_body_string(out, v, n) :
			    buf_appends(out, "NIL");
	}
	for (k = 0; k < 6 && r == 1; k++) {
		r = buf_appendc(out, ' ');
		if (r != 1)
			break;
		if (!ib_field_list(hdr, len, addrs[k], &tmp, &v, &n)) {
			v = "";
			n = 0;
		}
		if (k == 0)
			r = ib_addresses(v, n, &from);
		else if (n == 0 && (k == 1 || k == 2)) {
			/* Sender and Reply-To default to From. */
			r = buf_append(out, from.data, from.len);
			continue;
		}
		if (r == 1)
			r = k == 0 ? buf_append(out, from.data, from.len) :
			    ib_addresses(v, n, out);
	}
	for (k = 0; k < 2 && r == 1; k++) {
		r = buf_appendc(out, ' ');
		if (r == 1)
			r = ib_field(hdr, len, strs2[k], &tmp, &v, &n) ?
			    imap_body_string(out, v, n) :
			    buf_appends(out, "NIL");
	}
	if (r == 1)
		r = buf_appendc(out, ')');
	buf_free(&tmp);
	buf_free(&from);
	return r == 1 ? 1 : -1;
}

int
imap_body_envelope(const char *msg, size_t len, struct buf *out)
{
	/* hdr_field stops at the blank line: the body is never read. */
	return imap_body_envelope_hdr(msg, len, out);
}

/* ---------------------------------------------------------- structure */

/* Appends the RFC 2231 %-encoding of a decoded value. */
static int
ib_pct(struct buf *b, const struct mime_param *pm)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i;
	unsigned char c;
	int r = 1;

	r = buf_appendf(b, "%s'%s'", pm->charset ? pm->charset : "",
	    pm->lang ? pm->lang : "");
	for (i = 0; i < pm->value_len && r == 1; i++) {
		c = (unsigned char)pm->value[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') ||
		    (c != 0 && strchr("!#$&+-.^_`|~", c) != NULL))
			r = buf_appendc(b, (char)c);
		else {
			char e[3] = { '%', hex[c >> 4], hex[c & 15] };

			r = buf_append(b, e, 3);
		}
	}
	return r;
}

static int
ib_params(struct buf *out, const struct mime_param *pl, int add_charset)
{
	const struct mime_param *pm;
	struct buf v = BUF_INIT(0);
	int r = 1, first = 1;

	if (pl == NULL && !add_charset)
		return buf_appends(out, "NIL");
	r = buf_appendc(out, '(');
	for (pm = pl; pm != NULL && r == 1; pm = pm->next) {
		if (!first)
			r = buf_appendc(out, ' ');
		first = 0;
		if (pm->extended) {
			buf_reset(&v);
			(void)buf_appendf(&v, "%s*", pm->name);
			r = imap_body_string(out, v.data, v.len);
			buf_reset(&v);
			if (r == 1)
				r = buf_appendc(out, ' ');
			if (r == 1 && ib_pct(&v, pm) == 1)
				r = imap_body_string(out, v.data, v.len);
		} else {
			r = ib_cstr(out, pm->name);
			if (r == 1)
				r = buf_appendc(out, ' ');
			if (r == 1)
				r = imap_body_string(out, pm->value,
				    pm->value_len);
		}
	}
	if (add_charset && r == 1)
		r = buf_appends(out, first ? "\"charset\" \"us-ascii\"" :
		    " \"charset\" \"us-ascii\"");
	if (r == 1)
		r = buf_appendc(out, ')');
	buf_free(&v);
	return r;
}

/* Content-Language as a list of its comma/space separated tags. */
static int
ib_language(struct buf *out, const char *v)
{
	size_t i = 0, a, n;
	int r, first = 1;

	if (v == NULL)
		return buf_appends(out, "NIL");
	n = strlen(v);
	r = buf_appendc(out, '(');
	while (i < n && r == 1) {
		while (i < n && (ib_is_ws(v[i]) || v[i] == ','))
			i++;
		if (i < n && v[i] == '(') {
			while (i < n && v[i] != ')')
				i++;
			i++;
			continue;
		}
		for (a = i; i < n && !ib_is_ws(v[i]) && v[i] != ',' &&
		    v[i] != '('; i++)
			;
		if (i == a)
			continue;
		if (!first)
			r = buf_appendc(out, ' ');
		first = 0;
		if (r == 1)
			r = imap_body_string(out, v + a, i - a);
	}
	if (first && r == 1) {
		out->len--;	/* no tag at all: NIL instead of "(" */
		return buf_appends(out, "NIL");
	}
	return r == 1 ? buf_appendc(out, ')') : -1;
}

/* md5 (leaves only), disposition, language, location. */
static int
ib_extension(struct buf *out, const struct mime_part *m, int md5)
{
	int r = 1;

	if (md5) {
		r = buf_appendc(out, ' ');
		if (r == 1)
			r = ib_cstr(out, m->md5);
	}
	if (r == 1)
		r = buf_appendc(out, ' ');
	if (r == 1 && m->disposition == NULL)
		r = buf_appends(out, "NIL");
	else if (r == 1) {
		r = buf_appendc(out, '(');
		if (r == 1)
			r = ib_cstr(out, m->disposition);
		if (r == 1)
			r = buf_appendc(out, ' ');
		if (r == 1)
			r = ib_params(out, m->disp_params, 0);
		if (r == 1)
			r = buf_appendc(out, ')');
	}
	if (r == 1)
		r = buf_appendc(out, ' ');
	if (r == 1)
		r = ib_language(out, m->language);
	if (r == 1)
		r = buf_appendc(out, ' ');
	if (r == 1)
		r = ib_cstr(out, m->location);
	return r;
}

/* Where the header octets of embedded messages come from: msg in
 * memory, or read through rd (imap_body_structure_read). */
struct ib_src {
	const char	*msg;
	int		(*rd)(void *arg, uint64_t off, uint64_t n,
			    struct buf *out);
	void		*arg;
};

static int
ib_envelope_at(const struct ib_src *src, uint64_t off, uint64_t n,
    struct buf *out)
{
	struct buf h = BUF_INIT(0);
	int r;

	if (src->msg != NULL)
		return imap_body_envelope_hdr(src->msg + off, (size_t)n, out);
	if ((r = src->rd(src->arg, off, n, &h)) == 1)
		r = imap_body_envelope_hdr(h.data != NULL ? h.data : "",
		    h.len, out);
	buf_free(&h);
	return r == 1 ? 1 : -1;
}

static int
ib_structure(const struct mime_part *m, const struct ib_src *msg, int ext,
    struct buf *out)
{
	const struct mime_part *c;
	const struct mime_part *e;
	int r = buf_appendc(out, '('), text;

	if (m->flags & MIME_F_MULTIPART) {
		for (c = m->children; c != NULL && r == 1; c = c->next)
			r = ib_structure(c, msg, ext, out);
		if (r == 1)
			r = buf_appendc(out, ' ');
		if (r == 1)
			r = ib_cstr(out, m->subtype);
		if (ext && r == 1) {
			r = buf_appendc(out, ' ');
			if (r == 1)
				r = ib_params(out, m->params, 0);
			if (r == 1)
				r = ib_extension(out, m, 0);
		}
		return r == 1 ? buf_appendc(out, ')') : -1;
	}
	text = strcmp(m->type, "text") == 0;
	r = ib_cstr(out, m->type);
	if (r == 1)
		r = buf_appendc(out, ' ');
	if (r == 1)
		r = ib_cstr(out, m->subtype);
	if (r == 1)
		r = buf_appendc(out, ' ');
	if (r == 1)
		r = ib_params(out, m->params, text &&
		    mime_param_get(m->params, "charset") == NULL);
	if (r == 1)
		r = buf_appendc(out, ' ');
	if (r == 1)
		r = ib_cstr(out, m->id);
	if (r == 1)
		r = buf_appendc(out, ' ');
	if (r == 1)
		r = ib_cstr(out, m->description);
	if (r == 1)
		r = buf_appendc(out, ' ');
	if (r == 1)
		r = ib_cstr(out, m->cte ? m->cte : "7bit");
	if (r == 1)
		r = buf_appendf(out, " %llu",
		    (unsigned long long)(m->body_end - m->body_start));
	if (r == 1 && (m->flags & MIME_F_MESSAGE) &&
	    (e = m->children) != NULL) {
		r = buf_appendc(out, ' ');
		if (r == 1)
			r = ib_envelope_at(msg, e->hdr_start,
			    e->body_start - e->hdr_start, out);
		if (r == 1)
			r = buf_appendc(out, ' ');
		if (r == 1)
			r = ib_structure(e, msg, ext, out);
		if (r == 1)
			r = buf_appendf(out, " %llu",
			    (unsigned long long)m->lines);
	} else if (r == 1 && strcmp(m->type, "message") == 0 &&
	    (strcmp(m->subtype, "rfc822") == 0 ||
	    strcmp(m->subtype, "global") == 0)) {
		/*
		 * Not parsed (encoded, or past the depth limit): the grammar
		 * still wants an envelope and a body; empty ones, as Dovecot.
		 */
		r = buf_appendf(out, " (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"
		    " (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL"
		    " \"7bit\" 0 0%s) %llu", ext ? " NIL NIL NIL NIL" : "",
		    (unsigned long long)m->lines);
	} else if (r == 1 && text)
		r = buf_appendf(out, " %llu", (unsigned long long)m->lines);
	if (ext && r == 1)
		r = ib_extension(out, m, 1);
	return r == 1 ? buf_appendc(out, ')') : -1;
}

int
imap_body_structure_part(const struct mime_part *m, const char *msg,
    int extended, struct buf *out)
{
	struct ib_src src = { msg, NULL, NULL };
	size_t mark = out->len;

	if (ib_structure(m, &src, extended, out) == 1)
		return 1;
	out->len = mark;	/* never leave half a structure behind */
	if (out->data != NULL)
		out->data[mark] = '\0';
	return -1;
}

int
imap_body_structure(const char *msg, size_t len, int extended,
    struct buf *out)
{
	struct mime_parser *p = mime_parse(msg, len, NULL);
	int r;

	r = imap_body_structure_part(mime_parser_finish(p), msg, extended,
	    out);
	mime_parser_free(&p);
	return r;
}

int
imap_body_structure_read(const struct mime_part *m,
    int (*rd)(void *arg, uint64_t off, uint64_t n, struct buf *out),
    void *arg, int extended, struct buf *out)
{
	struct ib_src src = { NULL, rd, arg };
	size_t mark = out->len;

	if (ib_structure(m, &src, extended, out) == 1)
		return 1;
	out->len = mark;
	if (out->data != NULL)
		out->data[mark] = '\0';
	return -1;
}
