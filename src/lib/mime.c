/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * Streaming MIME parser and transfer-encoding helpers: see mime.h.
 *
 * The input is cut into lines (LF-terminated; a CR before the LF is part of
 * the line end). Only the first MIME_LINE_KEEP octets of a line are kept,
 * which is enough to recognise a boundary (at most 70 characters, RFC 2046)
 * or a header field start; header fields are accumulated up to
 * max_field octets. Each line is first compared with the boundaries of the
 * open multiparts (innermost first); a match closes every part inside that
 * multipart. Otherwise the line belongs to the innermost open part: to its
 * header section, its preamble/epilogue, or its body.
 */
#include "config.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "lib/mime.h"
#include "lib/xalloc.h"

#define MIME_LINE_KEEP		1024
#define MIME_MAX_BOUNDARY	200	/* longer ones are ignored */
#define MIME_MAX_SECTIONS	100	/* RFC 2231 continuations per param */

enum mime_state {
	ST_HEADER = 0,	/* reading the part's header fields */
	ST_BODY,	/* leaf body, or a message/rfc822 container */
	ST_PREAMBLE,	/* multipart before its first boundary */
	ST_CHILD,	/* multipart with an open child */
	ST_EPILOGUE	/* multipart after its close delimiter (or given up) */
};

struct mime_parser {
	struct mime_limits lim;
	struct mime_part *root;
	struct mime_part *cur;		/* innermost open part */
	unsigned char	*st;		/* state per depth */
	struct mime_part **last;	/* last child per depth */
	unsigned	 nparts;
	size_t		 strbytes;
	uint64_t	 off;		/* absolute offset of the next octet */
	int		 finished;

	/* The current line. */
	char		 line[MIME_LINE_KEEP];
	size_t		 kept;
	uint64_t	 line_start;
	uint64_t	 line_len;
	unsigned	 line_crs;
	unsigned	 nl;		/* its line-end length: 0, 1 or 2 */
	int		 line_8bit, line_nul, last_cr;
	unsigned	 prev_nl;	/* line-end length of the previous line */
	int		 prev_delim;	/* the previous line was a delimiter */
	int		 first_line;

	/* The header field being accumulated for cur. */
	struct buf	 field;
	int		 field_open;
};

static const struct mime_limits mime_default_limits = {
	50, 5000, 16384, 4u << 20
};

/* ------------------------------------------------------------ strings */

/* A copy of s[0..n) counted against the string budget, or NULL. */
static char *
mime_strdup(struct mime_parser *p, const char *s, size_t n)
{
	char *r;

	if (p != NULL) {
		if (p->strbytes + n + 1 > p->lim.max_strings)
			return NULL;
		p->strbytes += n + 1;
	}
	r = xmalloc(n + 1);
	memcpy(r, s, n);
	r[n] = '\0';
	return r;
}

static void
mime_lower(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

static int
mime_is_ws(int c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* RFC 2045 token characters. */
static int
mime_is_tchar(int c)
{
	return c > 0x20 && c < 0x7f && strchr("()<>@,;:\\\"/[]?=", c) == NULL;
}

/* Skips whitespace and (nested) comments from s[*i]. */
static void
mime_skip_cfws(const char *s, size_t len, size_t *i)
{
	int depth;

	while (*i < len) {
		if (mime_is_ws((unsigned char)s[*i])) {
			(*i)++;
			continue;
		}
		if (s[*i] != '(')
			return;
		for (depth = 0; *i < len; (*i)++) {
			if (s[*i] == '\\' && *i + 1 < len)
				(*i)++;
			else if (s[*i] == '(')
				depth++;
			else if (s[*i] == ')' && --depth == 0) {
				(*i)++;
				break;
			}
		}
	}
}

/* ---------------------------------------------------------- parameters */

struct mime_seg {
	char	*name;		/* lower case, without the '*' suffixes */
	int	 section;	/* -1 when not a continuation */
	int	 extended;
	char	*value;		/* as written (quotes removed) */
	size_t	 len;
};

static int
mime_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/*
 * Reads one parameter value at s[*i]: a quoted string (quoted-pairs
 * undone) or everything up to ';' with comments removed and whitespace
 * trimmed (lenient: "a b" stays "a b").
 */
static void
mime_param_value(const char *s, size_t len, size_t *i, struct buf *v)
{
	size_t ws = 0;

	if (*i < len && s[*i] == '"') {
		for ((*i)++; *i < len && s[*i] != '"'; (*i)++) {
			if (s[*i] == '\\' && *i + 1 < len)
				(*i)++;
			if (s[*i] != '\r' && s[*i] != '\n')
				(void)buf_appendc(v, s[*i]);
		}
		if (*i < len)
			(*i)++;
		/* Junk after the closing quote up to ';' is dropped. */
		while (*i < len && s[*i] != ';')
			(*i)++;
		return;
	}
	while (*i < len && s[*i] != ';') {
		if (s[*i] == '(') {
			mime_skip_cfws(s, len, i);
			continue;
		}
		if (mime_is_ws((unsigned char)s[*i])) {
			ws++;
			(*i)++;
			continue;
		}
		if (ws && v->len > 0)
			(void)buf_appendc(v, ' ');
		ws = 0;
		(void)buf_appendc(v, s[(*i)++]);
	}
}

/* Splits "name*3*" into name, section 3, extended. */
static void
mime_seg_name(char *n, struct mime_seg *sg)
{
	char *star = strchr(n, '*'), *end;
	long sec;

	sg->section = -1;
	sg->extended = 0;
	sg->name = n;
	if (star == NULL)
		return;
	*star++ = '\0';
	if (*star == '\0') {
		sg->extended = 1;
		return;
	}
	if (isdigit((unsigned char)*star)) {
		sec = strtol(star, &end, 10);
		if (sec >= 0 && sec < MIME_MAX_SECTIONS)
			sg->section = (int)sec;
		else
			sg->section = MIME_MAX_SECTIONS;	/* dropped */
		if (*end == '*')
			sg->extended = 1;
	} else
		sg->extended = 1;
}

static void
mime_pct_decode(const char *s, size_t n, struct buf *out)
{
	size_t i;
	int h, l;

	for (i = 0; i < n; i++) {
		if (s[i] == '%' && i + 2 < n &&
		    (h = mime_hexval((unsigned char)s[i + 1])) >= 0 &&
		    (l = mime_hexval((unsigned char)s[i + 2])) >= 0) {
			(void)buf_appendc(out, (char)(h << 4 | l));
			i += 2;
		} else
			(void)buf_appendc(out, s[i]);
	}
}

/* Merges the segments named like segs[k] into one parameter. */
static struct mime_param *
mime_merge(struct mime_parser *p, struct mime_seg *segs, size_t nseg,
    size_t k)
{
	struct mime_param *pm;
	struct buf val = BUF_INIT(1 << 20);
	const char *q1, *q2, *v;
	size_t j, vn;
	int sec, ext = 0, found;

	pm = xcalloc(1, sizeof(*pm));
	if (segs[k].section < 0) {
		v = segs[k].value;
		vn = segs[k].len;
		if (segs[k].extended && (q1 = memchr(v, '\'', vn)) != NULL &&
		    (q2 = memchr(q1 + 1, '\'', vn - (size_t)(q1 + 1 - v))) !=
		    NULL) {
			pm->charset = mime_strdup(p, v, (size_t)(q1 - v));
			pm->lang = mime_strdup(p, q1 + 1, (size_t)(q2 - q1 - 1));
			vn -= (size_t)(q2 + 1 - v);
			v = q2 + 1;
		}
		if (segs[k].extended)
			mime_pct_decode(v, vn, &val);
		else
			(void)buf_append(&val, v, vn);
		ext = segs[k].extended;
	} else {
		for (sec = 0; sec < MIME_MAX_SECTIONS; sec++) {
			found = 0;
			for (j = k; j < nseg && !found; j++) {
				if (segs[j].section != sec ||
				    strcmp(segs[j].name, segs[k].name) != 0)
					continue;
				found = 1;
				v = segs[j].value;
				vn = segs[j].len;
				if (sec == 0 && segs[j].extended &&
				    (q1 = memchr(v, '\'', vn)) != NULL &&
				    (q2 = memchr(q1 + 1, '\'', vn -
				    (size_t)(q1 + 1 - v))) != NULL) {
					pm->charset = mime_strdup(p, v,
					    (size_t)(q1 - v));
					pm->lang = mime_strdup(p, q1 + 1,
					    (size_t)(q2 - q1 - 1));
					vn -= (size_t)(q2 + 1 - v);
					v = q2 + 1;
				}
				if (segs[j].extended) {
					ext = 1;
					mime_pct_decode(v, vn, &val);
				} else
					(void)buf_append(&val, v, vn);
			}
			if (!found)
				break;
		}
	}
	pm->extended = ext;
	pm->name = mime_strdup(p, segs[k].name, strlen(segs[k].name));
	pm->value = mime_strdup(p, val.data ? val.data : "", val.len);
	pm->value_len = val.len;
	buf_free(&val);
	if (pm->name == NULL || pm->value == NULL) {
		free(pm->name);
		free(pm->value);
		free(pm->charset);
		free(pm->lang);
		free(pm);
		return NULL;
	}
	if (pm->charset != NULL && pm->charset[0] == '\0') {
		free(pm->charset);
		pm->charset = NULL;
	}
	if (pm->lang != NULL && pm->lang[0] == '\0') {
		free(pm->lang);
		pm->lang = NULL;
	}
	return pm;
}

/* Parses "; a=b; c*0=..." from s[i..len) into a parameter list. */
static struct mime_param *
mime_parse_params(struct mime_parser *p, const char *s, size_t len,
    size_t i)
{
	struct mime_seg *segs = NULL;
	struct mime_param *head = NULL, **tail = &head, *pm;
	struct buf v = BUF_INIT(1 << 20);
	size_t nseg = 0, cap = 0, a, j, k;
	char *name;

	while (i < len) {
		/* Skip to after the next ';'. */
		while (i < len && s[i] != ';') {
			if (s[i] == '"') {
				for (i++; i < len && s[i] != '"'; i++)
					if (s[i] == '\\')
						i++;
			}
			i++;
		}
		if (i >= len)
			break;
		i++;
		mime_skip_cfws(s, len, &i);
		for (a = i; i < len && s[i] != '=' && s[i] != ';' &&
		    !mime_is_ws((unsigned char)s[i]) && s[i] != '('; i++)
			;
		if (i == a)
			continue;
		name = xstrndup(s + a, i - a);
		mime_skip_cfws(s, len, &i);
		if (i >= len || s[i] != '=') {
			free(name);
			continue;
		}
		i++;
		mime_skip_cfws(s, len, &i);
		buf_reset(&v);
		mime_param_value(s, len, &i, &v);
		if (nseg == cap) {
			if (cap >= 1024) {
				free(name);
				break;
			}
			cap = cap ? cap * 2 : 8;
			segs = xrealloc(segs, cap * sizeof(*segs));
		}
		mime_lower(name);
		mime_seg_name(name, &segs[nseg]);
		segs[nseg].value = xstrndup(v.data ? v.data : "", v.len);
		segs[nseg].len = v.len;
		nseg++;
	}
	buf_free(&v);
	for (k = 0; k < nseg; k++) {
		if (segs[k].section >= MIME_MAX_SECTIONS ||
		    segs[k].section > 0)
			continue;
		/* First occurrence of a name wins. */
		for (j = 0; j < k; j++)
			if (strcmp(segs[j].name, segs[k].name) == 0 &&
			    segs[j].section <= 0)
				break;
		if (j < k)
			continue;
		if ((pm = mime_merge(p, segs, nseg, k)) == NULL)
			continue;
		*tail = pm;
		tail = &pm->next;
	}
	/* A name with continuations but no section 0 is dropped. */
	for (k = 0; k < nseg; k++) {
		free(segs[k].name);
		free(segs[k].value);
	}
	free(segs);
	return head;
}

void
mime_params_free(struct mime_param **pp)
{
	struct mime_param *pm, *n;

	for (pm = *pp; pm != NULL; pm = n) {
		n = pm->next;
		free(pm->name);
		free(pm->value);
		free(pm->charset);
		free(pm->lang);
		free(pm);
	}
	*pp = NULL;
}

const struct mime_param *
mime_param_get(const struct mime_param *l, const char *name)
{
	for (; l != NULL; l = l->next)
		if (strcmp(l->name, name) == 0)
			return l;
	return NULL;
}

static int
mime_ctype(struct mime_parser *p, const char *s, size_t len,
    int want_subtype, char **type_r, char **subtype_r,
    struct mime_param **params_r)
{
	size_t i = 0, ta, tb, sa = 0, sb = 0;
	char *t, *st = NULL;

	mime_skip_cfws(s, len, &i);
	for (ta = i; i < len && mime_is_tchar((unsigned char)s[i]); i++)
		;
	if (i == ta)
		return -1;
	tb = i;
	if (want_subtype) {
		mime_skip_cfws(s, len, &i);
		if (i >= len || s[i] != '/')
			return -1;
		i++;
		mime_skip_cfws(s, len, &i);
		for (sa = i; i < len && mime_is_tchar((unsigned char)s[i]);
		    i++)
			;
		if (i == sa)
			return -1;
		sb = i;
	}
	if ((t = mime_strdup(p, s + ta, tb - ta)) == NULL)
		return -1;
	if (want_subtype && (st = mime_strdup(p, s + sa, sb - sa)) == NULL) {
		free(t);
		return -1;
	}
	mime_lower(t);
	*type_r = t;
	if (want_subtype) {
		mime_lower(st);
		*subtype_r = st;
	}
	*params_r = mime_parse_params(p, s, len, i);
	return 1;
}

int
mime_parse_ctype(const char *value, size_t len, int want_subtype,
    char **type_r, char **subtype_r, struct mime_param **params_r)
{
	return mime_ctype(NULL, value, len, want_subtype, type_r, subtype_r,
	    params_r);
}

/* ---------------------------------------------------------- the tree */

static void mime_count(struct mime_parser *, unsigned, uint64_t, int);

static struct mime_part *
mime_new_part(struct mime_parser *p, struct mime_part *parent, uint64_t at)
{
	struct mime_part *m = xcalloc(1, sizeof(*m));

	m->parent = parent;
	m->hdr_start = m->hdr_end = m->body_start = m->body_end = at;
	p->nparts++;
	if (parent != NULL) {
		m->depth = parent->depth + 1;
		if (p->last[parent->depth] == NULL)
			parent->children = m;
		else
			p->last[parent->depth]->next = m;
		p->last[parent->depth] = m;
		parent->nchildren++;
	}
	p->last[m->depth] = NULL;
	p->st[m->depth] = ST_HEADER;
	p->cur = m;
	p->field_open = 0;
	buf_reset(&p->field);
	return m;
}

static void
mime_set_type(struct mime_parser *p, struct mime_part *m, const char *t,
    const char *st)
{
	free(m->type);
	free(m->subtype);
	m->type = xstrdup(t);
	m->subtype = xstrdup(st);
	p->strbytes += strlen(t) + strlen(st) + 2;
}

/* Trimmed copy of a field value for the raw string fields. */
static char *
mime_trimdup(struct mime_parser *p, const char *v, size_t n)
{
	while (n > 0 && mime_is_ws((unsigned char)*v)) {
		v++;
		n--;
	}
	while (n > 0 && mime_is_ws((unsigned char)v[n - 1]))
		n--;
	return mime_strdup(p, v, n);
}

static enum mime_enc
mime_enc_of(const char *t)
{
	if (strcmp(t, "7bit") == 0)
		return MIME_ENC_7BIT;
	if (strcmp(t, "8bit") == 0)
		return MIME_ENC_8BIT;
	if (strcmp(t, "binary") == 0)
		return MIME_ENC_BINARY;
	if (strcmp(t, "quoted-printable") == 0)
		return MIME_ENC_QP;
	if (strcmp(t, "base64") == 0)
		return MIME_ENC_BASE64;
	return MIME_ENC_OTHER;
}

/* Handles one complete (unfolded) header field of the current part. */
static void
mime_field_done(struct mime_parser *p)
{
	struct mime_part *m = p->cur;
	const char *f = p->field.data, *colon, *v;
	size_t n = p->field.len, nl, vn, i;
	char **slot = NULL, *t;

	p->field_open = 0;
	if (n == 0 || (colon = memchr(f, ':', n)) == NULL)
		return;
	nl = (size_t)(colon - f);
	while (nl > 0 && (f[nl - 1] == ' ' || f[nl - 1] == '\t'))
		nl--;
	v = colon + 1;
	vn = n - (size_t)(v - f);
	if (nl < 9 || strncasecmp(f, "content-", 8) != 0)
		return;
	f += 8;
	nl -= 8;
#define IS(s)	(nl == sizeof(s) - 1 && strncasecmp(f, s, nl) == 0)
	if (IS("type")) {
		if (m->type != NULL || (m->flags & MIME_F_BROKEN_TYPE))
			return;	/* the first one counts */
		if (mime_ctype(p, v, vn, 1, &m->type, &m->subtype,
		    &m->params) == -1) {
			m->type = m->subtype = NULL;
			m->flags |= MIME_F_BROKEN_TYPE;
			/* Keep what parameters can be read ("text; a=b"). */
			for (i = 0; i < vn && v[i] != ';'; i++)
				;
			if (m->params == NULL)
				m->params = mime_parse_params(p, v, vn, i);
		}
	} else if (IS("transfer-encoding")) {
		if (m->cte != NULL)
			return;
		i = 0;
		mime_skip_cfws(v, vn, &i);
		for (nl = i; nl < vn && mime_is_tchar((unsigned char)v[nl]);
		    nl++)
			;
		if ((t = mime_strdup(p, v + i, nl - i)) == NULL)
			return;
		mime_lower(t);
		m->cte = t;
		m->enc = mime_enc_of(t);
	} else if (IS("disposition")) {
		if (m->disposition != NULL)
			return;
		if (mime_ctype(p, v, vn, 0, &m->disposition, NULL,
		    &m->disp_params) == 1)
			return;
	} else if (IS("id"))
		slot = &m->id;
	else if (IS("description"))
		slot = &m->description;
	else if (IS("md5"))
		slot = &m->md5;
	else if (IS("language"))
		slot = &m->language;
	else if (IS("location"))
		slot = &m->location;
#undef IS
	if (slot != NULL && *slot == NULL)
		*slot = mime_trimdup(p, v, vn);
}

static void
mime_add_default_charset(struct mime_parser *p, struct mime_part *m)
{
	struct mime_param *pm;

	if (strcmp(m->type, "text") != 0 ||
	    mime_param_get(m->params, "charset") != NULL)
		return;
	pm = xcalloc(1, sizeof(*pm));
	pm->name = xstrdup("charset");
	pm->value = xstrdup("us-ascii");
	pm->value_len = 8;
	p->strbytes += 17;
	pm->next = m->params;
	m->params = pm;
}

/*
 * Settles the type of m once its header section is complete: defaults
 * (text/plain; charset=us-ascii, or message/rfc822 inside a
 * multipart/digest) and degradation of a multipart that cannot be split.
 */
static void
mime_resolve_type(struct mime_parser *p, struct mime_part *m)
{
	const struct mime_param *b;
	int digest = m->parent != NULL &&
	    (m->parent->flags & MIME_F_MULTIPART) &&
	    strcmp(m->parent->subtype, "digest") == 0;

	if (p->field_open)
		mime_field_done(p);
	if (m->type == NULL) {
		m->flags |= MIME_F_DEFAULT_TYPE;
		if (digest && !(m->flags & MIME_F_BROKEN_TYPE))
			mime_set_type(p, m, "message", "rfc822");
		else {
			mime_set_type(p, m, "text", "plain");
			/* Parameters of a broken type are suspect. */
			if (mime_param_get(m->params, "charset") == NULL)
				mime_params_free(&m->params);
			mime_add_default_charset(p, m);
		}
	}
	if (strcmp(m->type, "multipart") != 0)
		return;
	b = mime_param_get(m->params, "boundary");
	if (b == NULL || b->value_len == 0 ||
	    b->value_len > MIME_MAX_BOUNDARY ||
	    memchr(b->value, '\n', b->value_len) != NULL ||
	    memchr(b->value, '\r', b->value_len) != NULL ||
	    m->depth >= p->lim.max_depth ||
	    (m->boundary = mime_strdup(p, b->value, b->value_len)) == NULL) {
		if (b != NULL && b->value_len > 0)
			m->flags |= MIME_F_TRUNCATED;
		m->flags |= MIME_F_BROKEN_TYPE;
		mime_set_type(p, m, "application", "octet-stream");
	}
}

/* The header section of cur ended; its body starts at 'at'. */
static void
mime_start_body(struct mime_parser *p, uint64_t at)
{
	struct mime_part *m = p->cur;

	mime_resolve_type(p, m);
	m->body_start = m->body_end = at;
	p->st[m->depth] = ST_BODY;
	if (m->boundary != NULL) {
		m->flags |= MIME_F_MULTIPART;
		m->pre_start = m->pre_end = at;
		p->st[m->depth] = ST_PREAMBLE;
		return;
	}
	if (strcmp(m->type, "message") == 0 &&
	    (strcmp(m->subtype, "rfc822") == 0 ||
	    strcmp(m->subtype, "global") == 0) &&
	    (m->enc == MIME_ENC_7BIT || m->enc == MIME_ENC_8BIT ||
	    m->enc == MIME_ENC_BINARY)) {
		if (m->depth >= p->lim.max_depth ||
		    p->nparts >= p->lim.max_parts) {
			m->flags |= MIME_F_TRUNCATED;
			return;
		}
		m->flags |= MIME_F_MESSAGE;
		(void)mime_new_part(p, m, at);
	}
}

/*
 * Closes cur with its body ending at 'end' and makes its parent cur.
 * trimmed_nl is the length of the line end just before 'end' that belongs
 * to the boundary line (RFC 2046 5.1.1), 0 at the end of input.
 */
static void
mime_close(struct mime_parser *p, uint64_t end, unsigned trimmed_nl)
{
	struct mime_part *m = p->cur;

	if (p->st[m->depth] == ST_HEADER) {
		/* No blank line: a header-only part with an empty body. */
		mime_resolve_type(p, m);
		m->flags |= MIME_F_NO_BLANK;
		/*
		 * Its last newline belongs to the boundary line, too; a part
		 * without any line shrinks to the boundary's newline.
		 */
		if (end < m->hdr_start)
			m->hdr_start = end;
		else if (trimmed_nl > 0 && m->hdr_lines > 0)
			m->hdr_lines--;
		m->hdr_end = m->body_start = m->body_end = end;
		p->cur = m->parent;
		return;
	}
	if (end < m->body_start) {
		/*
		 * The newline of the blank line (or of the header) belongs to
		 * the boundary: the body is empty and starts there, so that
		 * every part stays inside its parent's body.
		 */
		m->body_start = end;
		if (m->hdr_end > end)
			m->hdr_end = end;
		if (m->hdr_start > end)
			m->hdr_start = end;
		if (m->pre_start > end)
			m->pre_start = end;
	} else if (trimmed_nl > 0 && m->lines > 0)
		m->lines--;
	m->body_end = end;
	switch (p->st[m->depth]) {
	case ST_PREAMBLE:
		m->pre_end = end;
		m->flags |= MIME_F_NO_END;
		break;
	case ST_CHILD:
		m->flags |= MIME_F_NO_END;
		break;
	case ST_EPILOGUE:
		if (m->epi_start > end)
			m->epi_start = end;
		m->epi_end = end;
		break;
	default:
		break;
	}
	if ((m->flags & MIME_F_MULTIPART) && m->nchildren == 0) {
		/* No boundary line at all: an opaque body, like a reader. */
		m->flags &= ~(unsigned)MIME_F_MULTIPART;
		m->flags |= MIME_F_BROKEN_TYPE;
		mime_set_type(p, m, "application", "octet-stream");
	}
	p->cur = m->parent;
}

/* 1 when the line l (content without line end) is "--b" or "--b--". */
static int
mime_boundary_match(const char *l, size_t n, const char *b, int *close_r)
{
	size_t bl = strlen(b), i;

	if (n < bl + 2 || memcmp(l + 2, b, bl) != 0)
		return 0;
	i = bl + 2;
	*close_r = 0;
	if (n >= i + 2 && l[i] == '-' && l[i + 1] == '-') {
		*close_r = 1;
		i += 2;
	}
	/* Transport padding; a stray CR (CR CR LF) is tolerated too. */
	for (; i < n; i++)
		if (l[i] != ' ' && l[i] != '\t' && l[i] != '\r')
			return 0;
	return 1;
}

/* A line that is a boundary of an open multipart: 1 if handled. */
static int
mime_line_boundary(struct mime_parser *p, size_t content)
{
	struct mime_part *a;
	uint64_t end, next;
	unsigned trim;
	int close = 0;

	if (p->kept < content || content < 3 || p->line[0] != '-' ||
	    p->line[1] != '-')
		return 0;
	for (a = p->cur; a != NULL; a = a->parent) {
		if (!(a->flags & MIME_F_MULTIPART) ||
		    p->st[a->depth] == ST_EPILOGUE)
			continue;
		if (mime_boundary_match(p->line, content, a->boundary, &close))
			break;
	}
	if (a == NULL)
		return 0;
	/*
	 * The line end before a boundary belongs to it (RFC 2046), unless
	 * the previous line was itself a delimiter: then that line keeps
	 * its line end (as Dovecot counts it), e.g. an inner close
	 * delimiter right before the outer boundary ends the enclosing
	 * message/rfc822 part with its CRLF.
	 */
	trim = p->prev_delim ? 0 : p->prev_nl;
	end = p->line_start - trim;
	while (p->cur != a)
		mime_close(p, end, trim);
	/* The boundary line is part of a's body. */
	mime_count(p, p->nl, content, 0);
	next = p->line_start + p->line_len;
	if (p->st[a->depth] == ST_PREAMBLE)
		a->pre_end = end < a->pre_start ? a->pre_start : end;
	if (close) {
		p->st[a->depth] = ST_EPILOGUE;
		a->epi_start = a->epi_end = next;
		return 1;
	}
	if (p->nparts >= p->lim.max_parts) {
		a->flags |= MIME_F_TRUNCATED;
		p->st[a->depth] = ST_EPILOGUE;
		a->epi_start = a->epi_end = next;
		return 1;
	}
	p->st[a->depth] = ST_CHILD;
	(void)mime_new_part(p, a, next);
	return 1;
}

/*
 * Adds the current line's statistics to the open parts: to cur's header
 * when hdr is set, and to the body of every part that holds the line.
 */
static void
mime_count(struct mime_parser *p, unsigned nl, uint64_t content, int hdr)
{
	struct mime_part *m;
	unsigned f = 0;

	if (p->line_8bit)
		f |= MIME_F_BODY_8BIT;
	if (p->line_nul)
		f |= MIME_F_BODY_NUL;
	if (content > 998)
		f |= MIME_F_LONG_LINE;
	if (p->line_crs > (nl == 2 ? 1u : 0u))
		f |= MIME_F_BARE_CR;
	if (nl == 1)
		f |= MIME_F_BARE_LF;
	for (m = p->cur; m != NULL; m = m->parent) {
		if (hdr && m == p->cur) {
			m->hdr_lines += nl > 0;
			if (p->line_8bit)
				m->flags |= MIME_F_HDR_8BIT;
			continue;
		}
		m->lines += nl > 0;
		m->flags |= f;
		if (content > m->max_line)
			m->max_line = content;
	}
}

static int
mime_header_line_ok(const char *l, size_t n)
{
	size_t i;

	for (i = 0; i < n && l[i] != ':'; i++)
		if ((unsigned char)l[i] <= 0x20 || (unsigned char)l[i] >= 0x7f)
			return 0;
	return i < n;
}

/* A line in cur's header section; 0 when it starts the body instead. */
static int
mime_header_line(struct mime_parser *p, size_t content, size_t kept)
{
	struct mime_part *m = p->cur;

	if (content == 0) {
		/* The blank line ends the header section. */
		if (p->field_open)
			mime_field_done(p);
		m->hdr_end = p->line_start;
		mime_count(p, p->nl, 0, 1);
		mime_start_body(p, p->line_start + p->line_len);
		return 1;
	}
	if ((p->line[0] == ' ' || p->line[0] == '\t') && p->field_open) {
		if (p->field.len + kept <= p->lim.max_field)
			(void)buf_append(&p->field, p->line, kept);
		else
			m->flags |= MIME_F_TRUNCATED;
		m->hdr_end = p->line_start + p->line_len;
		mime_count(p, p->nl, content, 1);
		return 1;
	}
	if (p->first_line && m->parent == NULL && kept >= 5 &&
	    memcmp(p->line, "From ", 5) == 0) {
		mime_count(p, p->nl, content, 1);
		return 1;	/* mbox separator line */
	}
	if (!mime_header_line_ok(p->line, kept))
		return 0;
	if (p->field_open)
		mime_field_done(p);
	buf_reset(&p->field);
	(void)buf_append(&p->field, p->line,
	    kept < p->lim.max_field ? kept : p->lim.max_field);
	p->field_open = 1;
	m->hdr_end = p->line_start + p->line_len;
	mime_count(p, p->nl, content, 1);
	return 1;
}

static void
mime_line(struct mime_parser *p)
{
	size_t content = (size_t)(p->line_len - p->nl);
	size_t kept = p->kept < content ? p->kept : content;
	struct mime_part *m;

	if (mime_line_boundary(p, content) == 1) {
		p->first_line = 0;
		p->prev_nl = p->nl;
		p->prev_delim = 1;
		return;
	}
	while (p->st[p->cur->depth] == ST_HEADER) {
		if (mime_header_line(p, content, kept) == 1)
			goto done;
		/* Not a header line: the body starts here, without a blank. */
		m = p->cur;
		if (p->field_open)
			mime_field_done(p);
		m->flags |= MIME_F_NO_BLANK;
		m->hdr_end = p->line_start;
		mime_start_body(p, p->line_start);
		/* An embedded message opened: the line may be its header. */
		p->first_line = 0;
	}
	mime_count(p, p->nl, content, 0);
done:
	p->first_line = 0;
	p->prev_nl = p->nl;
	p->prev_delim = 0;
}

/* ------------------------------------------------------------ feeding */

struct mime_parser *
mime_parser_new(const struct mime_limits *lim)
{
	struct mime_parser *p = xcalloc(1, sizeof(*p));

	p->lim = lim ? *lim : mime_default_limits;
	if (p->lim.max_depth == 0 || p->lim.max_depth > 1000)
		p->lim.max_depth = mime_default_limits.max_depth;
	if (p->lim.max_parts == 0)
		p->lim.max_parts = mime_default_limits.max_parts;
	if (p->lim.max_field < 64)
		p->lim.max_field = 64;
	if (p->lim.max_strings < 4096)
		p->lim.max_strings = 4096;
	p->st = xcalloc(p->lim.max_depth + 2, sizeof(*p->st));
	p->last = xcalloc(p->lim.max_depth + 2, sizeof(*p->last));
	buf_init(&p->field, p->lim.max_field + MIME_LINE_KEEP);
	p->first_line = 1;
	p->root = mime_new_part(p, NULL, 0);
	return p;
}

static void
mime_end_line(struct mime_parser *p)
{
	mime_line(p);
	p->line_start += p->line_len;
	p->line_len = 0;
	p->kept = 0;
	p->line_crs = 0;
	p->line_8bit = p->line_nul = 0;
}

/*
 * Line statistics of s[0..n): 8-bit octets, NULs, CRs. Eight octets at a
 * time; a word holding a NUL or CR is looked at octet by octet.
 */
static void
mime_scan(struct mime_parser *p, const unsigned char *s, size_t n)
{
	const uint64_t ones = 0x0101010101010101ULL;
	const uint64_t high = 0x8080808080808080ULL;
	uint64_t w, cr, acc = 0;
	size_t i = 0, k;

	for (; i + 8 <= n; i += 8) {
		memcpy(&w, s + i, 8);
		acc |= w;
		cr = w ^ (ones * '\r');
		if ((((w - ones) & ~w) | ((cr - ones) & ~cr)) & high) {
			for (k = i; k < i + 8; k++) {
				p->line_nul |= s[k] == '\0';
				p->line_crs += s[k] == '\r';
			}
		}
	}
	if (acc & high)
		p->line_8bit = 1;
	for (; i < n; i++) {
		if (s[i] >= 0x80)
			p->line_8bit = 1;
		else if (s[i] == '\0')
			p->line_nul = 1;
		else if (s[i] == '\r')
			p->line_crs++;
	}
}

void
mime_parser_feed(struct mime_parser *p, const void *data, size_t len)
{
	const unsigned char *s = data, *e;
	size_t n, k;

	ASSERT(!p->finished);
	while (len > 0) {
		e = memchr(s, '\n', len);
		n = e ? (size_t)(e - s) + 1 : len;
		mime_scan(p, s, n);
		k = MIME_LINE_KEEP - p->kept;
		if (k > n)
			k = n;
		memcpy(p->line + p->kept, s, k);
		p->kept += k;
		if (e != NULL)
			p->nl = (n >= 2 ? s[n - 2] == '\r' : p->last_cr) ? 2 : 1;
		p->last_cr = s[n - 1] == '\r';
		p->line_len += n;
		p->off += n;
		s += n;
		len -= n;
		if (e != NULL)
			mime_end_line(p);
	}
}

struct mime_part *
mime_parser_finish(struct mime_parser *p)
{
	if (p->finished)
		return p->root;
	if (p->line_len > 0) {
		p->nl = 0;
		mime_end_line(p);
	}
	p->finished = 1;
	while (p->cur != NULL)
		mime_close(p, p->off, 0);
	return p->root;
}

unsigned
mime_parser_nparts(const struct mime_parser *p)
{
	return p->nparts;
}

static void
mime_part_free(struct mime_part *m)
{
	struct mime_part *c, *n;

	for (c = m->children; c != NULL; c = n) {
		n = c->next;
		mime_part_free(c);
	}
	free(m->type);
	free(m->subtype);
	mime_params_free(&m->params);
	free(m->boundary);
	free(m->cte);
	free(m->id);
	free(m->description);
	free(m->md5);
	free(m->language);
	free(m->location);
	free(m->disposition);
	mime_params_free(&m->disp_params);
	free(m);
}

void
mime_parser_free(struct mime_parser **pp)
{
	struct mime_parser *p = *pp;

	if (p == NULL)
		return;
	if (p->root != NULL)
		mime_part_free(p->root);
	buf_free(&p->field);
	free(p->st);
	free(p->last);
	free(p);
	*pp = NULL;
}

struct mime_parser *
mime_parse(const void *data, size_t len, const struct mime_limits *lim)
{
	struct mime_parser *p = mime_parser_new(lim);

	mime_parser_feed(p, data, len);
	(void)mime_parser_finish(p);
	return p;
}

/* ------------------------------------------------------------ codecs */

int
mime_decode_qp(const char *in, size_t len, struct buf *out)
{
	size_t i = 0, a, ws;
	int h, l;

	while (i < len) {
		/* One line: in[a..eol), trailing whitespace dropped. */
		const char *nlp = memchr(in + i, '\n', len - i);
		size_t eol = nlp ? (size_t)(nlp - in) : len, end = eol;

		if (end > i && in[end - 1] == '\r')
			end--;
		for (ws = end; ws > i && (in[ws - 1] == ' ' ||
		    in[ws - 1] == '\t'); ws--)
			;
		end = ws;
		for (a = i; a < end; a++) {
			if (in[a] != '=') {
				if (buf_appendc(out, in[a]) == -1)
					return -1;
				continue;
			}
			if (a + 1 == end)
				break;	/* soft line break */
			if (a + 2 < end &&
			    (h = mime_hexval((unsigned char)in[a + 1])) >= 0 &&
			    (l = mime_hexval((unsigned char)in[a + 2])) >= 0) {
				if (buf_appendc(out, (char)(h << 4 | l)) == -1)
					return -1;
				a += 2;
			} else if (buf_appendc(out, '=') == -1)
				return -1;
		}
		if (nlp == NULL)
			break;
		if (!(a + 1 == end && end > i && in[end - 1] == '=') &&
		    buf_append(out, "\r\n", 2) == -1)
			return -1;
		i = eol + 1;
	}
	return 1;
}

static int
mime_b64_val(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '+' || c == '/';
}

#define MIME_B64_CHUNK	4096	/* characters per EVP_DecodeBlock call */

/* Decodes n (a multiple of 4, no padding) clean characters. */
static int
mime_b64_block(const char *q, size_t n, struct buf *out)
{
	unsigned char *w;

	if (n == 0)
		return 1;
	if ((w = (unsigned char *)buf_reserve(out, n / 4 * 3)) == NULL)
		return -1;
	if (EVP_DecodeBlock(w, (const unsigned char *)q, (int)n) !=
	    (int)(n / 4 * 3))
		return -1;	/* not reached: the input is clean */
	out->len += n / 4 * 3;
	out->data[out->len] = '\0';
	return 1;
}

int
mime_decode_base64(const char *in, size_t len, struct buf *out)
{
	char q[MIME_B64_CHUNK + 4];
	size_t i, n = 0, tail;
	unsigned char *w;

	for (i = 0; i < len && in[i] != '='; i++) {
		if (!mime_b64_val((unsigned char)in[i]))
			continue;
		q[n++] = in[i];
		if (n == MIME_B64_CHUNK) {
			if (mime_b64_block(q, n, out) == -1)
				return -1;
			n = 0;
		}
	}
	tail = n % 4;
	if (mime_b64_block(q, n - tail, out) == -1)
		return -1;
	if (tail >= 2) {
		/* A short final group: decode it with padding added. */
		unsigned char grp[5], dec[4];

		memcpy(grp, q + n - tail, tail);
		memset(grp + tail, 'A', 4 - tail);
		grp[4] = '\0';
		if (EVP_DecodeBlock(dec, grp, 4) != 3)
			return -1;
		if ((w = (unsigned char *)buf_reserve(out, tail - 1)) == NULL)
			return -1;
		memcpy(w, dec, tail - 1);
		out->len += tail - 1;
		out->data[out->len] = '\0';
	}
	return 1;
}

/* Appends one encoded octet "=XX". */
static int
mime_qp_hex(struct buf *out, unsigned char c)
{
	static const char hex[] = "0123456789ABCDEF";
	char e[3] = { '=', hex[c >> 4], hex[c & 15] };

	return buf_append(out, e, 3);
}

int
mime_encode_qp(const char *in, size_t len, int text, struct buf *out)
{
	size_t i, col = 0, w;
	unsigned char c;
	int enc, eol;

	for (i = 0; i < len; i++) {
		c = (unsigned char)in[i];
		if (text && (c == '\n' || (c == '\r' && i + 1 < len &&
		    in[i + 1] == '\n'))) {
			if (c == '\r')
				i++;
			if (buf_append(out, "\r\n", 2) == -1)
				return -1;
			col = 0;
			continue;
		}
		/* Is this the last octet before a hard line end? */
		eol = i + 1 == len || (text && (in[i + 1] == '\n' ||
		    (in[i + 1] == '\r' && i + 2 < len && in[i + 2] == '\n')));
		enc = c == '=' || c >= 0x7f || (c < 0x20 && c != '\t') ||
		    ((c == ' ' || c == '\t') && eol) ||
		    (col == 0 && c == '.') ||
		    (col == 0 && c == 'F' && len - i >= 5 &&
		    memcmp(in + i, "From ", 5) == 0);
		w = enc ? 3 : 1;
		/* Keep room for a soft break '=' unless the line ends. */
		if (col + w > (eol ? 76u : 75u)) {
			if (buf_append(out, "=\r\n", 3) == -1)
				return -1;
			col = 0;
			/* A '-' here could start a boundary delimiter line
			 * that the input never had. */
			if (c == '.' || c == '-' || (c == 'F' && len - i >= 5 &&
			    memcmp(in + i, "From ", 5) == 0)) {
				enc = 1;
				w = 3;
			}
		}
		if ((enc ? mime_qp_hex(out, c) : buf_appendc(out, (char)c)) ==
		    -1)
			return -1;
		col += w;
	}
	return 1;
}

/*
 * One encoded-word at s[0..n): "=?charset?E?text?=". Returns its length
 * and fills the parts, or 0 when s does not start with one.
 */
static size_t
mime_word(const char *s, size_t n, const char **cs, size_t *csn, char *enc,
    const char **txt, size_t *txtn)
{
	size_t i, q1, q2;

	if (n < 8 || s[0] != '=' || s[1] != '?')
		return 0;
	for (i = 2; i < n && s[i] != '?'; i++)
		if (mime_is_ws((unsigned char)s[i]))
			return 0;
	if (i + 3 >= n || i == 2)
		return 0;
	q1 = i;
	*enc = (char)toupper((unsigned char)s[q1 + 1]);
	if ((*enc != 'Q' && *enc != 'B') || s[q1 + 2] != '?')
		return 0;
	for (q2 = q1 + 3; q2 + 1 < n; q2++) {
		if (mime_is_ws((unsigned char)s[q2]))
			return 0;
		if (s[q2] == '?' && s[q2 + 1] == '=')
			break;
	}
	if (q2 + 1 >= n)
		return 0;
	*cs = s + 2;
	*csn = q1 - 2;
	/* RFC 2231 language suffix: charset*lang. */
	{
		const char *star = memchr(*cs, '*', *csn);

		if (star != NULL)
			*csn = (size_t)(star - *cs);
	}
	*txt = s + q1 + 3;
	*txtn = q2 - (q1 + 3);
	return q2 + 2;
}

int
mime_decode_words(const char *in, size_t len, struct buf *out,
    int (*conv)(void *, const char *, const char *, size_t, struct buf *),
    void *arg)
{
	struct buf dec = BUF_INIT(0);
	char cs[64], enc;
	const char *csp, *txt;
	size_t i = 0, w, csn, txtn, j, pend_ws = 0, pend_at = 0;
	int after_word = 0, r = 1, h, l;

	while (i < len) {
		w = mime_word(in + i, len - i, &csp, &csn, &enc, &txt, &txtn);
		if (w == 0) {
			if (mime_is_ws((unsigned char)in[i]) && after_word) {
				if (pend_ws++ == 0)
					pend_at = i;
				i++;
				continue;
			}
			if (pend_ws > 0 && buf_append(out, in + pend_at,
			    pend_ws) == -1)
				goto fail;
			pend_ws = 0;
			after_word = 0;
			if (buf_appendc(out, in[i++]) == -1)
				goto fail;
			continue;
		}
		pend_ws = 0;	/* whitespace between two words vanishes */
		buf_reset(&dec);
		if (enc == 'B')
			(void)mime_decode_base64(txt, txtn, &dec);
		else {
			for (j = 0; j < txtn; j++) {
				if (txt[j] == '_')
					(void)buf_appendc(&dec, ' ');
				else if (txt[j] == '=' && j + 2 < txtn &&
				    (h = mime_hexval((unsigned char)
				    txt[j + 1])) >= 0 &&
				    (l = mime_hexval((unsigned char)
				    txt[j + 2])) >= 0) {
					(void)buf_appendc(&dec,
					    (char)(h << 4 | l));
					j += 2;
				} else
					(void)buf_appendc(&dec, txt[j]);
			}
		}
		if (csn >= sizeof(cs))
			csn = sizeof(cs) - 1;
		memcpy(cs, csp, csn);
		cs[csn] = '\0';
		if (conv != NULL) {
			if (conv(arg, cs, dec.data ? dec.data : "", dec.len,
			    out) == -1)
				goto fail;
		} else if (buf_append(out, dec.data ? dec.data : "",
		    dec.len) == -1)
			goto fail;
		after_word = 1;
		i += w;
	}
	if (pend_ws > 0 && buf_append(out, in + pend_at, pend_ws) == -1)
		goto fail;
	goto done;
fail:
	r = -1;
done:
	buf_free(&dec);
	return r;
}
