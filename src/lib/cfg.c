/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * Table-driven configuration parser: see cfg.h for the file syntax. Daemons
 * and estafetactl call it to build a fresh config struct from a table of
 * settings. Files are read in bounded chunks through a small line machine,
 * so a huge or endless line costs at most one logical line (64 KiB) of
 * memory. It never logs and never touches a live configuration: every
 * problem goes into the caller's error buffer as "file:line: message".
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/cfg.h"
#include "lib/log.h"
#include "lib/xalloc.h"

#define CFG_MAX_ERRORS	20	/* messages collected before giving up */
#define CFG_MAX_DEPTH	8	/* include nesting */
#define CFG_MAX_LINE	65536	/* bytes in one logical line */
#define CFG_CHUNK	8192	/* read size (test_cfg pads around it) */
#define CFG_QUOTE_MAX	80	/* bytes of file text quoted in a message */
#define CFG_NAME_MAX	256	/* bytes of a file name in a message */
#define CFG_HINT_MAX	64	/* longest key we look for a hint for */

/* A parsed value before it is stored; only the member of its type is used. */
struct cfg_val {
	long long	 num;	/* CFG_INT, CFG_SIZE, CFG_DURATION */
	int		 i;	/* CFG_BOOL, CFG_ENUM */
	char		*s;	/* CFG_STR */
	struct cfg_list	 list;	/* CFG_LIST */
};

/* A number suffix and what it multiplies by. */
struct cfg_unit {
	const char	*sfx;
	long long	 mul;
};

static const struct cfg_unit cfg_units_int[] = {
	{ "", 1 },
	{ NULL, 0 },
};

/* Matched case-insensitively. */
static const struct cfg_unit cfg_units_size[] = {
	{ "", 1 },
	{ "b", 1 },
	{ "k", 1024LL },
	{ "kb", 1024LL },
	{ "m", 1024LL * 1024 },
	{ "mb", 1024LL * 1024 },
	{ "g", 1024LL * 1024 * 1024 },
	{ "gb", 1024LL * 1024 * 1024 },
	{ NULL, 0 },
};

/* Matched exactly: "M" could be read as months. Values in ms. */
static const struct cfg_unit cfg_units_duration[] = {
	{ "", 1000LL },
	{ "ms", 1LL },
	{ "s", 1000LL },
	{ "m", 60LL * 1000 },
	{ "h", 3600LL * 1000 },
	{ "d", 86400LL * 1000 },
	{ "w", 7 * 86400LL * 1000 },
	{ NULL, 0 },
};

/* Canonical output: largest unit first, the last one always divides. */
static const struct cfg_unit cfg_print_size[] = {
	{ "G", 1024LL * 1024 * 1024 },
	{ "M", 1024LL * 1024 },
	{ "K", 1024LL },
	{ "", 1 },
	{ NULL, 0 },
};

static const struct cfg_unit cfg_print_duration[] = {
	{ "w", 7 * 86400LL * 1000 },
	{ "d", 86400LL * 1000 },
	{ "h", 3600LL * 1000 },
	{ "m", 60LL * 1000 },
	{ "s", 1000LL },
	{ "ms", 1 },
	{ NULL, 0 },
};

/* Where one setting got its value (see struct cfg_where). */
struct cfg_origin {
	char		*file;	/* NULL: default; CFG_FROM_OVERRIDE: -o */
	unsigned long	 line;
	unsigned long	 seq;	/* order of assignment; 0: default */
};

#define CFG_FROM_OVERRIDE	"-o"

struct cfg_where {
	const struct cfg_def	*defs;
	char			*path;	/* the main file */
	size_t			 n;	/* table rows */
	struct cfg_origin	*o;	/* [n] */
	unsigned long		 seq;
};

/* State of one parse (defaults, a string, a file and its includes). */
struct cfg_ctx {
	const struct cfg_def	*defs;
	void			*target;
	struct buf		*err;
	int			 nerr;
	int			 depth;
	struct cfg_where	*where;	/* NULL: not recorded */
};

enum cfg_rd_state {
	CFG_RD_START,		/* only blanks so far on this physical line */
	CFG_RD_TEXT,		/* appending to the logical line */
	CFG_RD_SKIP,		/* comment, or a line already in error */
};

/* The line machine for one file or string. */
struct cfg_reader {
	struct cfg_ctx		*ctx;
	const char		*name;	/* for messages */
	char			*dir;	/* for relative includes; NULL = cwd */
	unsigned long		 line;	/* current physical line */
	unsigned long		 start;	/* first line of the pending line */
	enum cfg_rd_state	 state;
	int			 indent;	/* line began with a blank */
	int			 pending;	/* lbuf holds a logical line */
	int			 toolong;
	int			 nul;
	struct buf		 lbuf;
};

static void	cfg_read_file(struct cfg_ctx *, const char *,
		    const char *, unsigned long);
static void	cfg_report(struct cfg_ctx *, const char *, unsigned long,
		    const char *, ...) __attribute__((format(printf, 4, 5)));
static void	cfg_where_set(struct cfg_where *, const struct cfg_def *,
		    const char *, unsigned long);

static int
cfg_isblank(int c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* Trims blanks in place and returns the first non-blank. */
static char *
cfg_trim(char *s)
{
	size_t n;

	while (cfg_isblank((unsigned char)*s))
		s++;
	n = strlen(s);
	while (n > 0 && cfg_isblank((unsigned char)s[n - 1]))
		s[--n] = '\0';
	return s;
}

static void *
cfg_field(const struct cfg_def *d, void *target)
{
	return (char *)target + d->offset;
}

static const void *
cfg_cfield(const struct cfg_def *d, const void *target)
{
	return (const char *)target + d->offset;
}

static int
cfg_type_known(enum cfg_type t)
{
	switch (t) {
	case CFG_STR:
	case CFG_INT:
	case CFG_BOOL:
	case CFG_SIZE:
	case CFG_DURATION:
	case CFG_LIST:
	case CFG_ENUM:
		return 1;
	}
	return 0;
}

/* Quotes untrusted text for a message; the result lives in b. */
static const char *
cfg_quote(struct buf *b, const char *s)
{
	buf_reset(b);
	return log_escape(b, s, strlen(s), CFG_QUOTE_MAX);
}

static void
cfg_list_free(struct cfg_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static void
cfg_val_free(const struct cfg_def *d, struct cfg_val *v)
{
	if (d->type == CFG_STR) {
		free(v->s);
		v->s = NULL;
	} else if (d->type == CFG_LIST)
		cfg_list_free(&v->list);
}

/*
 * Records one error as "name:line: msg\n" (name and line when given).
 * Past CFG_MAX_ERRORS nothing is recorded; callers stop on that count.
 */
static void
cfg_report(struct cfg_ctx *ctx, const char *name, unsigned long line,
    const char *fmt, ...)
{
	struct buf b = BUF_INIT(0);
	va_list ap;

	if (ctx->nerr >= CFG_MAX_ERRORS)
		return;
	ctx->nerr++;
	if (name != NULL) {
		(void)log_escape(&b, name, strlen(name), CFG_NAME_MAX);
		if (line > 0)
			(void)buf_appendf(&b, ":%lu", line);
		(void)buf_appends(&b, ": ");
	}
	va_start(ap, fmt);
	(void)buf_vappendf(&b, fmt, ap);	/* unbounded buffer */
	va_end(ap);
	(void)buf_appendc(&b, '\n');
	/* A caller's err with a small max loses text, not the error count. */
	(void)buf_append(ctx->err, b.data, b.len);
	buf_free(&b);
}

/* ------------------------------------------------------------ values */

/*
 * Parses an optional '-' and decimal digits at s. Returns 1 with the value
 * and the first byte after the digits, or -1 with *errstr_r "syntax" (no
 * digits) or "range" (does not fit a long long).
 */
static int
cfg_number(const char *s, long long *n_r, const char **end_r,
    const char **errstr_r)
{
	unsigned long long acc = 0, lim = LLONG_MAX;
	unsigned int dig;
	int neg = 0;

	if (*s == '-') {
		neg = 1;
		lim = (unsigned long long)LLONG_MAX + 1;
		s++;
	}
	if (*s < '0' || *s > '9') {
		*errstr_r = "syntax";
		return -1;
	}
	for (; *s >= '0' && *s <= '9'; s++) {
		dig = (unsigned int)(*s - '0');
		if (acc > (lim - dig) / 10) {
			*errstr_r = "range";
			return -1;
		}
		acc = acc * 10 + dig;
	}
	if (!neg)
		*n_r = (long long)acc;
	else if (acc == (unsigned long long)LLONG_MAX + 1)
		*n_r = LLONG_MIN;
	else
		*n_r = -(long long)acc;
	*end_r = s;
	return 1;
}

/* Appends v in the canonical form of type t ("50M", "5m", "1500ms"). */
static void
cfg_format_num(struct buf *b, enum cfg_type t, long long v)
{
	const struct cfg_unit *u;

	if (t == CFG_SIZE)
		u = cfg_print_size;
	else if (t == CFG_DURATION)
		u = cfg_print_duration;
	else
		u = cfg_units_int;
	if (v == 0) {
		(void)buf_appends(b, t == CFG_DURATION ? "0s" : "0");
		return;
	}
	while (u[1].sfx != NULL && v % u->mul != 0)
		u++;
	(void)buf_appendf(b, "%lld%s", v / u->mul, u->sfx);
}

static const char *
cfg_type_expect(enum cfg_type t)
{
	if (t == CFG_SIZE)
		return "size";
	if (t == CFG_DURATION)
		return "duration";
	return "integer";
}

static const char *
cfg_type_units(enum cfg_type t)
{
	if (t == CFG_SIZE)
		return " (expected a number with optional unit K, M or G)";
	if (t == CFG_DURATION)
		return " (expected a number with optional unit ms, s, m, h, d "
		    "or w)";
	return "";
}

/* INT, SIZE, DURATION: number, unit, overflow, bounds. */
static int
cfg_parse_num(const struct cfg_def *d, const char *s, struct cfg_val *v,
    struct buf *msg)
{
	const struct cfg_unit *u;
	const char *end, *errstr = "syntax";
	struct buf q = BUF_INIT(0);
	long long n;
	int r = -1;

	u = d->type == CFG_SIZE ? cfg_units_size :
	    d->type == CFG_DURATION ? cfg_units_duration : cfg_units_int;
	if (cfg_number(s, &n, &end, &errstr) == 1) {
		for (; u->sfx != NULL; u++)
			if (d->type == CFG_SIZE ? strcasecmp(end, u->sfx) == 0 :
			    strcmp(end, u->sfx) == 0)
				break;
		if (u->sfx == NULL)
			errstr = "syntax";
		else if (__builtin_mul_overflow(n, u->mul, &v->num))
			errstr = "range";
		else
			r = 1;
	}
	if (r == -1 && strcmp(errstr, "range") == 0)
		(void)buf_appendf(msg, "%s: '%s' is out of range", d->name,
		    cfg_quote(&q, s));
	else if (r == -1)
		(void)buf_appendf(msg, "%s: bad %s '%s'%s", d->name,
		    cfg_type_expect(d->type), cfg_quote(&q, s),
		    cfg_type_units(d->type));
	else if (v->num < d->min || v->num > d->max) {
		(void)buf_appendf(msg, "%s: ", d->name);
		cfg_format_num(msg, d->type, v->num);
		(void)buf_appendf(msg, " is %s the %s ",
		    v->num < d->min ? "below" : "above",
		    v->num < d->min ? "minimum" : "maximum");
		cfg_format_num(msg, d->type, v->num < d->min ? d->min : d->max);
		r = -1;
	}
	buf_free(&q);
	return r;
}

static int
cfg_parse_bool(const struct cfg_def *d, const char *s, struct cfg_val *v,
    struct buf *msg)
{
	static const char *const yes[] = { "yes", "true", "on", "1", NULL };
	static const char *const no[] = { "no", "false", "off", "0", NULL };
	struct buf q = BUF_INIT(0);
	size_t i;

	for (i = 0; yes[i] != NULL; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			v->i = 1;
			return 1;
		}
		if (strcasecmp(s, no[i]) == 0) {
			v->i = 0;
			return 1;
		}
	}
	(void)buf_appendf(msg, "%s: bad boolean '%s' (expected yes or no)",
	    d->name, cfg_quote(&q, s));
	buf_free(&q);
	return -1;
}

static int
cfg_parse_enum(const struct cfg_def *d, const char *s, struct cfg_val *v,
    struct buf *msg)
{
	struct buf q = BUF_INIT(0);
	size_t i;

	for (i = 0; d->choices[i] != NULL; i++) {
		if (strcasecmp(s, d->choices[i]) == 0) {
			v->i = (int)i;
			return 1;
		}
	}
	(void)buf_appendf(msg, "%s: bad value '%s' (expected one of: ",
	    d->name, cfg_quote(&q, s));
	for (i = 0; d->choices[i] != NULL; i++)
		(void)buf_appendf(msg, "%s%s", i ? ", " : "", d->choices[i]);
	(void)buf_appendc(msg, ')');
	buf_free(&q);
	return -1;
}

static int
cfg_list_sep(int c)
{
	return c == ',' || cfg_isblank(c);
}

/* Items separated by commas and/or blanks; empty items are dropped. */
static void
cfg_parse_list(const char *s, struct cfg_list *l)
{
	const char *p, *q;
	size_t n = 0;

	for (p = s; *p != '\0'; p = q) {
		while (cfg_list_sep((unsigned char)*p))
			p++;
		for (q = p; *q != '\0' && !cfg_list_sep((unsigned char)*q); q++)
			;
		if (q > p)
			n++;
	}
	l->n = 0;
	l->v = NULL;
	if (n == 0)
		return;
	l->v = xcalloc(n, sizeof(*l->v));
	for (p = s; *p != '\0'; p = q) {
		while (cfg_list_sep((unsigned char)*p))
			p++;
		for (q = p; *q != '\0' && !cfg_list_sep((unsigned char)*q); q++)
			;
		if (q > p)
			l->v[l->n++] = xstrndup(p, (size_t)(q - p));
	}
}

/*
 * Parses trimmed text s (NULL = unset: zero value) for d. Returns 1 with v
 * filled (the caller owns it), or -1 with "name: problem" appended to msg.
 */
static int
cfg_val_parse(const struct cfg_def *d, const char *s, struct cfg_val *v,
    struct buf *msg)
{
	memset(v, 0, sizeof(*v));
	if (s == NULL)
		return 1;
	switch (d->type) {
	case CFG_STR:
		v->s = xstrdup(s);
		return 1;
	case CFG_INT:
	case CFG_SIZE:
	case CFG_DURATION:
		return cfg_parse_num(d, s, v, msg);
	case CFG_BOOL:
		return cfg_parse_bool(d, s, v, msg);
	case CFG_ENUM:
		return cfg_parse_enum(d, s, v, msg);
	case CFG_LIST:
		cfg_parse_list(s, &v->list);
		return 1;
	}
	log_panic("cfg: setting %s has unknown type %d", d->name, (int)d->type);
}

/* Moves v into the field of d, freeing what was there. */
static void
cfg_val_store(const struct cfg_def *d, void *target, struct cfg_val *v)
{
	void *f = cfg_field(d, target);

	switch (d->type) {
	case CFG_STR:
		free(*(char **)f);
		*(char **)f = v->s;
		v->s = NULL;
		return;
	case CFG_INT:
	case CFG_SIZE:
	case CFG_DURATION:
		*(long long *)f = v->num;
		return;
	case CFG_BOOL:
	case CFG_ENUM:
		*(int *)f = v->i;
		return;
	case CFG_LIST:
		cfg_list_free(f);
		*(struct cfg_list *)f = v->list;
		v->list.n = 0;
		v->list.v = NULL;
		return;
	}
	log_panic("cfg: setting %s has unknown type %d", d->name, (int)d->type);
}

/* Appends the canonical text of v for d. */
static void
cfg_format_val(const struct cfg_def *d, const struct cfg_val *v,
    struct buf *b)
{
	size_t i;

	switch (d->type) {
	case CFG_STR:
		(void)buf_appends(b, v->s != NULL ? v->s : "");
		return;
	case CFG_INT:
	case CFG_SIZE:
	case CFG_DURATION:
		cfg_format_num(b, d->type, v->num);
		return;
	case CFG_BOOL:
		(void)buf_appends(b, v->i ? "yes" : "no");
		return;
	case CFG_ENUM:
		for (i = 0; v->i >= 0 && d->choices[i] != NULL; i++)
			if (i == (size_t)v->i) {
				(void)buf_appends(b, d->choices[i]);
				return;
			}
		log_panic("cfg: %s holds bad enum index %d", d->name, v->i);
	case CFG_LIST:
		for (i = 0; i < v->list.n; i++)
			(void)buf_appendf(b, "%s%s", i ? ", " : "",
			    v->list.v[i]);
		return;
	}
	log_panic("cfg: setting %s has unknown type %d", d->name, (int)d->type);
}

/* Appends the canonical text of the field of d in target. */
static void
cfg_format_field(const struct cfg_def *d, const void *target, struct buf *b)
{
	const void *f = cfg_cfield(d, target);
	struct cfg_val v;

	memset(&v, 0, sizeof(v));
	switch (d->type) {
	case CFG_STR:
		v.s = *(char *const *)f;	/* borrowed, only read */
		break;
	case CFG_INT:
	case CFG_SIZE:
	case CFG_DURATION:
		v.num = *(const long long *)f;
		break;
	case CFG_BOOL:
	case CFG_ENUM:
		v.i = *(const int *)f;
		break;
	case CFG_LIST:
		v.list = *(const struct cfg_list *)f;	/* borrowed */
		break;
	}
	cfg_format_val(d, &v, b);
}

/* ------------------------------------------------------------ keys */

/* Optimal string alignment distance; both strings <= CFG_HINT_MAX. */
static int
cfg_distance(const char *a, const char *b)
{
	int m[CFG_HINT_MAX + 1][CFG_HINT_MAX + 1];
	size_t la = strlen(a), lb = strlen(b), i, j;
	int c, best;

	for (i = 0; i <= la; i++)
		m[i][0] = (int)i;
	for (j = 0; j <= lb; j++)
		m[0][j] = (int)j;
	for (i = 1; i <= la; i++) {
		for (j = 1; j <= lb; j++) {
			c = a[i - 1] != b[j - 1];
			best = m[i - 1][j - 1] + c;
			if (m[i - 1][j] + 1 < best)
				best = m[i - 1][j] + 1;
			if (m[i][j - 1] + 1 < best)
				best = m[i][j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
			    a[i - 2] == b[j - 1] && m[i - 2][j - 2] + 1 < best)
				best = m[i - 2][j - 2] + 1;
			m[i][j] = best;
		}
	}
	return m[la][lb];
}

/* Appends "unknown setting 'key'", with a hint for a near miss. */
static void
cfg_unknown(const struct cfg_def *defs, const char *key, struct buf *msg)
{
	const struct cfg_def *d, *near = NULL;
	struct buf q = BUF_INIT(0);
	size_t klen = strlen(key);
	int dist, best = 3;

	(void)buf_appendf(msg, "unknown setting '%s'", cfg_quote(&q, key));
	buf_free(&q);
	if (klen > CFG_HINT_MAX)
		return;
	for (d = defs; d->name != NULL; d++) {
		if (strlen(d->name) > CFG_HINT_MAX)
			continue;
		dist = cfg_distance(key, d->name);
		if (dist < best && (size_t)dist < klen) {
			best = dist;
			near = d;
		}
	}
	if (near != NULL)
		(void)buf_appendf(msg, "; did you mean '%s'?", near->name);
}

const struct cfg_def *
cfg_find(const struct cfg_def *defs, const char *name)
{
	const struct cfg_def *d;

	if (name == NULL)
		return NULL;
	for (d = defs; d->name != NULL; d++)
		if (strcmp(d->name, name) == 0)
			return d;
	return NULL;
}

/* ------------------------------------------------------------ lines */

static void
cfg_include(struct cfg_reader *rd, const char *val)
{
	struct cfg_ctx *ctx = rd->ctx;
	struct buf path = BUF_INIT(0);

	if (*val == '\0') {
		cfg_report(ctx, rd->name, rd->start,
		    "include: missing file name");
		return;
	}
	if (ctx->depth >= CFG_MAX_DEPTH) {
		cfg_report(ctx, rd->name, rd->start, "include: nested more "
		    "than %d levels deep (include cycle?)", CFG_MAX_DEPTH);
		return;
	}
	if (val[0] != '/' && rd->dir != NULL)
		(void)buf_appendf(&path, "%s%s%s", rd->dir,
		    rd->dir[strlen(rd->dir) - 1] == '/' ? "" : "/", val);
	else
		(void)buf_appends(&path, val);
	ctx->depth++;
	cfg_read_file(ctx, buf_cstr(&path), rd->name, rd->start);
	ctx->depth--;
	buf_free(&path);
}

/* Handles one complete logical line held in rd->lbuf. */
static void
cfg_rd_line(struct cfg_reader *rd)
{
	struct cfg_ctx *ctx = rd->ctx;
	const struct cfg_def *d;
	struct buf msg = BUF_INIT(0);
	struct cfg_val v;
	char *s, *eq, *key, *val;

	if (rd->toolong) {
		cfg_report(ctx, rd->name, rd->start,
		    "line longer than %d bytes", CFG_MAX_LINE);
		return;
	}
	if (rd->nul) {
		cfg_report(ctx, rd->name, rd->start, "NUL byte in line");
		return;
	}
	s = rd->lbuf.data;
	if (s == NULL || (eq = strchr(s, '=')) == NULL) {
		cfg_report(ctx, rd->name, rd->start, "missing '='");
		return;
	}
	*eq = '\0';
	key = cfg_trim(s);
	val = cfg_trim(eq + 1);
	if (*key == '\0') {
		cfg_report(ctx, rd->name, rd->start,
		    "missing setting name before '='");
		return;
	}
	if (strcmp(key, "include") == 0) {
		cfg_include(rd, val);
		return;
	}
	if ((d = cfg_find(ctx->defs, key)) == NULL)
		cfg_unknown(ctx->defs, key, &msg);
	else if (cfg_val_parse(d, val, &v, &msg) == 1) {
		cfg_val_store(d, ctx->target, &v);
		cfg_where_set(ctx->where, d, rd->name, rd->start);
	}
	if (msg.len > 0)
		cfg_report(ctx, rd->name, rd->start, "%s", msg.data);
	buf_free(&msg);
}

static void
cfg_rd_flush(struct cfg_reader *rd)
{
	if (!rd->pending)
		return;
	rd->pending = 0;
	cfg_rd_line(rd);
}

static void
cfg_rd_append(struct cfg_reader *rd, const char *p, size_t n)
{
	if (memchr(p, '\0', n) != NULL)
		rd->nul = 1;
	if (buf_append(&rd->lbuf, p, n) == -1) {
		rd->toolong = 1;
		rd->state = CFG_RD_SKIP;
	}
}

/* The first non-blank byte c of a physical line decides what it is. */
static void
cfg_rd_begin(struct cfg_reader *rd, char c)
{
	char *s;

	rd->state = CFG_RD_SKIP;
	if (c == '#')
		return;
	if (!rd->indent) {
		cfg_rd_flush(rd);
		buf_reset(&rd->lbuf);
		rd->pending = 1;
		rd->start = rd->line;
		rd->toolong = rd->nul = 0;
		rd->state = CFG_RD_TEXT;
		return;
	}
	if (!rd->pending) {
		cfg_report(rd->ctx, rd->name, rd->line,
		    "continuation line without a setting before it");
		return;
	}
	if (rd->toolong)
		return;
	/* Join with one space: drop the blanks before it. */
	s = rd->lbuf.data;
	while (rd->lbuf.len > 0 &&
	    cfg_isblank((unsigned char)s[rd->lbuf.len - 1]))
		s[--rd->lbuf.len] = '\0';
	rd->state = CFG_RD_TEXT;
	cfg_rd_append(rd, " ", 1);
}

/* Feeds the next len bytes of input; lines may span calls. */
static void
cfg_rd_feed(struct cfg_reader *rd, const char *p, size_t len)
{
	const char *end = p + len, *nl;
	size_t n;

	while (p < end && rd->ctx->nerr < CFG_MAX_ERRORS) {
		if (rd->state == CFG_RD_START) {
			if (*p == '\n') {
				rd->line++;
				rd->indent = 0;
			} else if (cfg_isblank((unsigned char)*p))
				rd->indent = 1;
			else {
				cfg_rd_begin(rd, *p);
				if (rd->state == CFG_RD_TEXT)
					continue;	/* keep *p */
			}
			p++;
			continue;
		}
		nl = memchr(p, '\n', (size_t)(end - p));
		n = (size_t)((nl != NULL ? nl : end) - p);
		if (rd->state == CFG_RD_TEXT)
			cfg_rd_append(rd, p, n);
		p += n;
		if (nl != NULL) {
			p++;
			rd->line++;
			rd->indent = 0;
			rd->state = CFG_RD_START;
		}
	}
}

static void
cfg_rd_init(struct cfg_reader *rd, struct cfg_ctx *ctx, const char *name,
    char *dir)
{
	memset(rd, 0, sizeof(*rd));
	rd->ctx = ctx;
	rd->name = name;
	rd->dir = dir;
	rd->line = 1;
	rd->state = CFG_RD_START;
	buf_init(&rd->lbuf, CFG_MAX_LINE);
}

static void
cfg_rd_finish(struct cfg_reader *rd)
{
	if (rd->ctx->nerr < CFG_MAX_ERRORS)
		cfg_rd_flush(rd);
	buf_free(&rd->lbuf);
	free(rd->dir);
	rd->dir = NULL;
}

/* The folder part of path, or NULL for none (the current directory). */
static char *
cfg_dirname(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		return NULL;
	if (slash == path)
		return xstrdup("/");
	return xstrndup(path, (size_t)(slash - path));
}

/*
 * Reads path into the line machine. Errors opening it are reported at
 * from:fromline (the include line) when from is not NULL.
 */
static void
cfg_read_file(struct cfg_ctx *ctx, const char *path, const char *from,
    unsigned long fromline)
{
	struct cfg_reader rd;
	struct stat st;
	struct buf q = BUF_INIT(0);
	char chunk[CFG_CHUNK];
	const char *errstr;
	ssize_t n;
	int fd;

	errstr = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd == -1 || fstat(fd, &st) == -1)
		errstr = strerror(errno);
	else if (!S_ISREG(st.st_mode))
		errstr = "not a regular file";
	if (errstr != NULL) {
		if (from != NULL) {
			(void)log_escape(&q, path, strlen(path), CFG_NAME_MAX);
			cfg_report(ctx, from, fromline,
			    "include: cannot read '%s': %s", buf_cstr(&q),
			    errstr);
			buf_free(&q);
		} else
			cfg_report(ctx, path, 0, "cannot read: %s", errstr);
		if (fd != -1)
			(void)close(fd);	/* read-only, nothing to lose */
		return;
	}
	cfg_rd_init(&rd, ctx, path, cfg_dirname(path));
	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			cfg_report(ctx, path, 0, "read error: %s",
			    strerror(errno));
			break;
		}
		if (n == 0 || ctx->nerr >= CFG_MAX_ERRORS)
			break;
		cfg_rd_feed(&rd, chunk, (size_t)n);
	}
	cfg_rd_finish(&rd);
	(void)close(fd);	/* read-only, nothing to lose */
}

/* ------------------------------------------------------------ public */

/* Zeroes the fields of every setting, without freeing anything. */
static void
cfg_zero(const struct cfg_def *defs, void *target)
{
	const struct cfg_def *d;
	void *f;

	for (d = defs; d->name != NULL; d++) {
		f = cfg_field(d, target);
		switch (d->type) {
		case CFG_STR:
			*(char **)f = NULL;
			break;
		case CFG_INT:
		case CFG_SIZE:
		case CFG_DURATION:
			*(long long *)f = 0;
			break;
		case CFG_BOOL:
		case CFG_ENUM:
			*(int *)f = 0;
			break;
		case CFG_LIST:
			memset(f, 0, sizeof(struct cfg_list));
			break;
		}
	}
}

/* Checks one table entry; returns -1 with a message for a table bug. */
static int
cfg_check_def(const struct cfg_def *defs, const struct cfg_def *d,
    struct buf *msg)
{
	const struct cfg_def *o;

	if (d->name[0] == '\0' || strcmp(d->name, "include") == 0)
		(void)buf_appendf(msg, "reserved setting name '%s'", d->name);
	else if (!cfg_type_known(d->type))
		(void)buf_appendf(msg, "%s: unknown type %d", d->name,
		    (int)d->type);
	else if (d->type == CFG_ENUM &&
	    (d->choices == NULL || d->choices[0] == NULL))
		(void)buf_appendf(msg, "%s: enum without choices", d->name);
	else if ((d->type == CFG_INT || d->type == CFG_SIZE ||
	    d->type == CFG_DURATION) && d->min > d->max)
		(void)buf_appendf(msg, "%s: minimum above maximum", d->name);
	for (o = defs; msg->len == 0 && o != d; o++)
		if (strcmp(o->name, d->name) == 0)
			(void)buf_appendf(msg, "%s: declared twice", d->name);
	return msg->len == 0 ? 1 : -1;
}

int
cfg_defaults(const struct cfg_def *defs, void *target, struct buf *err)
{
	struct cfg_ctx ctx = { defs, target, err, 0, 0, NULL };
	const struct cfg_def *d;
	struct buf msg = BUF_INIT(0);
	struct cfg_val v;
	char *copy;

	cfg_zero(defs, target);
	for (d = defs; d->name != NULL; d++) {
		buf_reset(&msg);
		if (cfg_check_def(defs, d, &msg) == 1) {
			copy = d->def != NULL ? xstrdup(d->def) : NULL;
			if (cfg_val_parse(d, copy != NULL ? cfg_trim(copy) :
			    NULL, &v, &msg) == 1)
				cfg_val_store(d, target, &v);
			free(copy);
		}
		if (msg.len > 0)
			cfg_report(&ctx, "default", 0, "%s", msg.data);
	}
	buf_free(&msg);
	if (ctx.nerr > 0) {
		cfg_free(defs, target);
		return -1;
	}
	return 1;
}

static int
cfg_finish(struct cfg_ctx *ctx)
{
	if (ctx->nerr == 0)
		return 1;
	cfg_free(ctx->defs, ctx->target);
	return -1;
}

int
cfg_parse_file(const struct cfg_def *defs, void *target, const char *path,
    struct buf *err)
{
	struct cfg_ctx ctx = { defs, target, err, 0, 0, NULL };

	if (cfg_defaults(defs, target, err) == -1)
		return -1;
	cfg_read_file(&ctx, path, NULL, 0);
	return cfg_finish(&ctx);
}

int
cfg_parse_string(const struct cfg_def *defs, void *target, const char *name,
    const char *text, size_t len, struct buf *err)
{
	struct cfg_ctx ctx = { defs, target, err, 0, 0, NULL };
	struct cfg_reader rd;

	if (cfg_defaults(defs, target, err) == -1)
		return -1;
	cfg_rd_init(&rd, &ctx, name != NULL ? name : "(string)", NULL);
	if (len > 0)
		cfg_rd_feed(&rd, text, len);
	cfg_rd_finish(&rd);
	return cfg_finish(&ctx);
}

static int
cfg_set_where(const struct cfg_def *defs, void *target, const char *key,
    const char *value, struct cfg_where *w, struct buf *err)
{
	const struct cfg_def *d;
	struct buf msg = BUF_INIT(0);
	struct cfg_val v;
	char *copy, *name, *k;
	int r = -1;

	/* "-o key = value" splits into a key with blanks: allow them. */
	k = cfg_trim(name = xstrdup(key));
	if ((d = cfg_find(defs, k)) == NULL)
		cfg_unknown(defs, k, &msg);
	else if (strchr(value, '\n') != NULL)
		/* A file value never holds one: keep printed lines whole. */
		(void)buf_appendf(&msg, "%s: newline in value", d->name);
	else {
		copy = xstrdup(value);
		if ((r = cfg_val_parse(d, cfg_trim(copy), &v, &msg)) == 1) {
			cfg_val_store(d, target, &v);
			cfg_where_set(w, d, CFG_FROM_OVERRIDE, 0);
		}
		free(copy);
	}
	if (r == -1) {
		(void)buf_appendc(&msg, '\n');
		/* A caller's err with a small max loses text, not the -1. */
		(void)buf_append(err, msg.data, msg.len);
	}
	buf_free(&msg);
	free(name);
	return r;
}

int
cfg_set(const struct cfg_def *defs, void *target, const char *key,
    const char *value, struct buf *err)
{
	return cfg_set_where(defs, target, key, value, NULL, err);
}

static int
cfg_overrides_where(const struct cfg_def *defs, void *target,
    char *const *overrides, struct cfg_where *w, struct buf *err)
{
	const char *eq;
	char *key;
	size_t i;
	int rc;

	for (i = 0; overrides != NULL && overrides[i] != NULL; i++) {
		if ((eq = strchr(overrides[i], '=')) == NULL) {
			(void)buf_appendf(err, "-o %s: expected key=value\n",
			    overrides[i]);
			return -1;
		}
		key = xstrndup(overrides[i], (size_t)(eq - overrides[i]));
		rc = cfg_set_where(defs, target, key, eq + 1, w, err);
		free(key);
		if (rc == -1)
			return -1;
	}
	return 1;
}

int
cfg_set_overrides(const struct cfg_def *defs, void *target,
    char *const *overrides, struct buf *err)
{
	return cfg_overrides_where(defs, target, overrides, NULL, err);
}

/* ------------------------------------------------------------ where */

static void
cfg_where_set(struct cfg_where *w, const struct cfg_def *d, const char *file,
    unsigned long line)
{
	struct cfg_origin *o;

	if (w == NULL)
		return;
	o = &w->o[d - w->defs];
	free(o->file);
	o->file = xstrdup(file);
	o->line = line;
	o->seq = ++w->seq;
}

int
cfg_load(const struct cfg_def *defs, void *target, const char *path,
    char *const *overrides, struct cfg_where **where_r, struct buf *err)
{
	struct cfg_ctx ctx = { defs, target, err, 0, 0, NULL };
	struct cfg_where *w;
	const struct cfg_def *d;

	*where_r = NULL;
	w = xcalloc(1, sizeof(*w));
	w->defs = defs;
	w->path = xstrdup(path);
	for (d = defs; d->name != NULL; d++)
		w->n++;
	w->o = xcalloc(w->n + 1, sizeof(*w->o));
	ctx.where = w;
	if (cfg_defaults(defs, target, err) == -1) {
		cfg_where_free(&w);
		return -1;
	}
	cfg_read_file(&ctx, path, NULL, 0);
	if (cfg_finish(&ctx) == -1) {
		cfg_where_free(&w);
		return -1;
	}
	if (cfg_overrides_where(defs, target, overrides, w, err) == -1) {
		cfg_free(defs, target);
		cfg_where_free(&w);
		return -1;
	}
	*where_r = w;
	return 1;
}

int
cfg_load_checked(const struct cfg_def *defs, void *target, const char *path,
    char *const *overrides, struct cfg_where **where_r,
    int (*check)(void *, struct buf *), struct buf *err)
{
	if (cfg_load(defs, target, path, overrides, where_r, err) == -1)
		return -1;
	if (check(target, err) == -1) {
		cfg_where_free(where_r);
		cfg_free(defs, target);
		return -1;
	}
	return 1;
}

void
cfg_where_free(struct cfg_where **wp)
{
	struct cfg_where *w = *wp;
	size_t i;

	if (w == NULL)
		return;
	for (i = 0; i < w->n; i++)
		free(w->o[i].file);
	free(w->o);
	free(w->path);
	free(w);
	*wp = NULL;
}

/* The origin of the setting name, or NULL (not in the table). */
static const struct cfg_origin *
cfg_where_find(const struct cfg_where *w, const char *name)
{
	const struct cfg_def *d = cfg_find(w->defs, name);

	return d != NULL ? &w->o[d - w->defs] : NULL;
}

/* Appends where o was set: "file:line", "-o name", or the main file. */
static void
cfg_where_put(const struct cfg_where *w, const struct cfg_origin *o,
    const char *name, struct buf *b)
{
	const char *f = o != NULL && o->file != NULL ? o->file : w->path;

	if (o != NULL && o->file != NULL &&
	    strcmp(o->file, CFG_FROM_OVERRIDE) == 0) {
		(void)buf_appendf(b, "-o %s", name);
		return;
	}
	(void)log_escape(b, f, strlen(f), CFG_NAME_MAX);
	if (o != NULL && o->line > 0)
		(void)buf_appendf(b, ":%lu", o->line);
}

void
cfg_where_error(const struct cfg_where *w, struct buf *err,
    const char *const *keys, const char *fmt, ...)
{
	const struct cfg_origin *o, *at = NULL;
	const char *atkey = NULL;
	struct buf b = BUF_INIT(0);
	va_list ap;
	size_t i, also = 0;

	/* The setting assigned last is the one at fault. */
	for (i = 0; keys != NULL && keys[i] != NULL; i++) {
		o = cfg_where_find(w, keys[i]);
		ASSERT(o != NULL);	/* a key of the table: a bug if not */
		if (at == NULL || o->seq > at->seq) {
			at = o;
			atkey = keys[i];
		}
	}
	cfg_where_put(w, at, atkey, &b);
	(void)buf_appends(&b, ": ");
	va_start(ap, fmt);
	(void)buf_vappendf(&b, fmt, ap);	/* unbounded buffer */
	va_end(ap);
	/* The others that were set too, so both ends can be found. */
	for (i = 0; keys != NULL && keys[i] != NULL; i++) {
		o = cfg_where_find(w, keys[i]);
		if (o == at || o->file == NULL)
			continue;
		(void)buf_appends(&b, also++ == 0 ? " (see also " : ", ");
		(void)buf_appendf(&b, "%s at ", keys[i]);
		cfg_where_put(w, o, keys[i], &b);
	}
	if (also > 0)
		(void)buf_appendc(&b, ')');
	(void)buf_appendc(&b, '\n');
	/* A caller's err with a small max loses text, not the error. */
	(void)buf_append(err, b.data, b.len);
	buf_free(&b);
}

int
cfg_print(const struct cfg_def *defs, const void *target, int nondefault,
    FILE *fp)
{
	const struct cfg_def *d;
	struct buf cur = BUF_INIT(0), dflt = BUF_INIT(0), line = BUF_INIT(0);
	struct cfg_val v;
	char *s;
	int r = 1, same;

	for (d = defs; d->name != NULL; d++) {
		buf_reset(&cur);
		cfg_format_field(d, target, &cur);
		if (nondefault) {
			buf_reset(&dflt);
			s = d->def != NULL ? xstrdup(d->def) : NULL;
			same = cfg_val_parse(d, s != NULL ? cfg_trim(s) : NULL,
			    &v, &dflt) == 1;
			if (same) {
				buf_reset(&dflt);
				cfg_format_val(d, &v, &dflt);
				same = strcmp(buf_cstr(&cur),
				    buf_cstr(&dflt)) == 0;
				cfg_val_free(d, &v);
			}
			free(s);
			if (same)
				continue;
		}
		buf_reset(&line);
		(void)buf_appendf(&line, "%s =%s%s\n", d->name,
		    cur.len > 0 ? " " : "", buf_cstr(&cur));
		if (fwrite(line.data, 1, line.len, fp) != line.len)
			r = -1;
	}
	buf_free(&cur);
	buf_free(&dflt);
	buf_free(&line);
	if (fflush(fp) == EOF || ferror(fp))
		r = -1;
	return r;
}

void
cfg_free(const struct cfg_def *defs, void *target)
{
	const struct cfg_def *d;

	for (d = defs; d->name != NULL; d++) {
		if (d->type == CFG_STR)
			free(*(char **)cfg_field(d, target));
		else if (d->type == CFG_LIST)
			cfg_list_free(cfg_field(d, target));
	}
	cfg_zero(defs, target);
}

void
cfg_hostname_default(char **hostname)
{
	char host[256];

	if ((*hostname)[0] != '\0')
		return;
	if (gethostname(host, sizeof(host)) == -1)
		(void)snprintf(host, sizeof(host), "localhost");	/* fits */
	host[sizeof(host) - 1] = '\0';
	free(*hostname);
	*hostname = xstrdup(host);
}
