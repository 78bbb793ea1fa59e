/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * The IMAP command parser: see imap_parse.h. One state per position in the
 * grammar; each octet is looked at once. Everything a command allocates
 * (strings, argument arrays, literal data) is recorded in the parser and
 * freed when the next command starts, so a handler never frees anything.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/buf.h"
#include "lib/xalloc.h"
#include "store/imap_parse.h"

enum pstate {
	P_START = 0,	/* before the tag */
	P_TAG,
	P_NAME0,	/* after "tag SP" */
	P_NAME,
	P_ARG,		/* expecting an argument */
	P_SEP,		/* after an argument */
	P_ATOM,
	P_BRACKET,	/* inside "[...]" of an atom */
	P_BRACKET_Q,	/* a quoted string inside the brackets */
	P_BRACKET_QESC,
	P_QUOTED,
	P_QESC,
	P_LITLEN,	/* digits after "{" */
	P_LITPLUS,	/* after "+", expecting "}" */
	P_LITCR,	/* after "}", expecting CRLF */
	P_LITLF,
	P_LITDATA,
	P_CR,		/* CR at the end of the command */
	P_SKIP,		/* error recovery: up to the end of the line */
	P_SKIPLIT,	/* error recovery: octets of a {n+} literal */
};

/* Error recovery watches for "{digits+}" right before the end of a line. */
enum skipstate { S_NONE = 0, S_OPEN, S_DIGITS, S_PLUS, S_CLOSE, S_CR };

struct frame {
	struct imap_arg	*v;
	size_t		 n, cap;
};

struct imap_parser {
	struct imap_limits	 lim;
	enum pstate		 st;
	int			 reset;		/* free the last command first */

	/* The command being built. */
	void			**allocs;
	size_t			 nallocs, capallocs;
	struct frame		*stack;		/* [0] = top level */
	size_t			 depth;		/* open lists */
	size_t			 nargs_total;
	size_t			 linelen;
	size_t			 total_lit;
	struct buf		 tok;
	size_t			 bracket;	/* "[" nesting in an atom */
	const char		*tag;
	const char		*name;
	struct imap_cmd		 cmd;
	size_t			 bytes;

	/* The literal being announced or read. */
	size_t			 litlen;
	int			 litplus;
	int			 litdigits;
	char			*litdata;
	size_t			 litgot;

	/* Error recovery. */
	enum skipstate		 sk;
	size_t			 sklen;
	size_t			 skdigits;

	/* The literal check; a refused {n+}'s tag, told at its line end. */
	imap_literal_check_fn	 check;
	void			*check_arg;
	char			*reftag;
	int			 refused;
};

void
imap_limits_default(struct imap_limits *l)
{
	l->line_max = IMAP_LINE_MAX_DEFAULT;
	l->literal_max = IMAP_LITERAL_MAX_DEFAULT;
	l->total_max = IMAP_LITERAL_MAX_DEFAULT;
	l->depth_max = IMAP_DEPTH_MAX_DEFAULT;
	l->args_max = IMAP_ARGS_MAX_DEFAULT;
	l->tag_max = IMAP_TAG_MAX_DEFAULT;
}

struct imap_parser *
imap_parser_new(const struct imap_limits *lim)
{
	struct imap_parser *p = xcalloc(1, sizeof(*p));

	if (lim != NULL)
		p->lim = *lim;
	else
		imap_limits_default(&p->lim);
	if (p->lim.depth_max == 0)
		p->lim.depth_max = 1;
	p->stack = xcalloc(p->lim.depth_max + 1, sizeof(*p->stack));
	buf_init(&p->tok, 0);
	return p;
}

static void *
p_keep(struct imap_parser *p, void *ptr)
{
	if (p->nallocs == p->capallocs) {
		p->capallocs = p->capallocs ? p->capallocs * 2 : 16;
		p->allocs = xrealloc(p->allocs,
		    p->capallocs * sizeof(*p->allocs));
	}
	p->allocs[p->nallocs++] = ptr;
	return ptr;
}

/* Forgets the command: frees what it allocated, back to P_START. */
static void
p_clear(struct imap_parser *p)
{
	size_t i;

	for (i = 0; i < p->nallocs; i++)
		free(p->allocs[i]);
	p->nallocs = 0;
	for (i = 0; i <= p->depth && i <= p->lim.depth_max; i++) {
		free(p->stack[i].v);	/* arrays not yet handed to a LIST */
		memset(&p->stack[i], 0, sizeof(p->stack[i]));
	}
	free(p->litdata);
	p->litdata = NULL;
	p->depth = 0;
	p->nargs_total = 0;
	p->linelen = 0;
	p->total_lit = 0;
	p->bracket = 0;
	p->tag = p->name = NULL;
	p->bytes = 0;
	buf_reset(&p->tok);
	memset(&p->cmd, 0, sizeof(p->cmd));
	p->st = P_START;
	p->sk = S_NONE;
}

void
imap_parser_free(struct imap_parser **pp)
{
	struct imap_parser *p = *pp;

	if (p == NULL)
		return;
	p_clear(p);
	free(p->reftag);
	free(p->allocs);
	free(p->stack);
	buf_free(&p->tok);
	free(p);
	*pp = NULL;
}

void
imap_parser_release(struct imap_parser *p)
{
	enum pstate keep = p->st;
	enum skipstate ksk = p->sk;

	if (!p->reset)
		return;
	p->reset = 0;
	p_clear(p);
	if (keep == P_SKIP || keep == P_SKIPLIT) {
		p->st = keep;	/* midway through the rest of a line */
		p->sk = ksk;
	}
	if (p->tok.cap > 4096)
		buf_free(&p->tok);	/* a 64 KiB token: give it back */
}

void
imap_parser_literal_check(struct imap_parser *p, imap_literal_check_fn fn,
    void *arg)
{
	p->check = fn;
	p->check_arg = arg;
}

void
imap_parser_literal_limit(struct imap_parser *p, size_t max)
{
	p->lim.literal_max = p->lim.total_max = max;
}

int
imap_parser_busy(const struct imap_parser *p)
{
	if (p->st == P_SKIP || p->st == P_SKIPLIT)
		return 1;	/* the rest of a failed command is to come */
	return !p->reset && p->st != P_START;
}

size_t
imap_parser_literal_size(const struct imap_parser *p)
{
	return p->litlen;
}

/* ATOM-CHAR plus the ones we accept inside atoms ("\\" "*" "%" "]"). */
static int
is_atom_char(unsigned char c)
{
	if (c <= 0x20 || c >= 0x7f)
		return 0;
	return c != '(' && c != ')' && c != '{' && c != '"';
}

/* tag = 1*<any ASTRING-CHAR except "+"> */
static int
is_tag_char(unsigned char c)
{
	return is_atom_char(c) && c != '%' && c != '*' && c != '\\' &&
	    c != '+';
}

/* Appends a new argument to the innermost list; NULL past args_max. */
static struct imap_arg *
p_newarg(struct imap_parser *p)
{
	struct frame *f = &p->stack[p->depth];

	if (p->nargs_total >= p->lim.args_max)
		return NULL;
	p->nargs_total++;
	if (f->n == f->cap) {
		f->cap = f->cap ? f->cap * 2 : 8;
		f->v = xrealloc(f->v, f->cap * sizeof(*f->v));
	}
	memset(&f->v[f->n], 0, sizeof(f->v[f->n]));
	return &f->v[f->n++];
}

/* Finishes the token in p->tok as an ATOM (or NIL). 1 or -1 (limit). */
static int
p_atom_done(struct imap_parser *p)
{
	struct imap_arg *a = p_newarg(p);
	char *s;

	if (a == NULL)
		return -1;
	s = p_keep(p, xstrndup(p->tok.data ? p->tok.data : "", p->tok.len));
	a->type = (p->tok.len == 3 && strncasecmp(s, "NIL", 3) == 0) ?
	    IMAP_ARG_NIL : IMAP_ARG_ATOM;
	a->str = s;
	a->len = p->tok.len;
	if (p->tok.data != NULL)	/* it may be a credential */
		xbzero(p->tok.data, p->tok.len);
	buf_reset(&p->tok);
	return 1;
}

static int
p_quoted_done(struct imap_parser *p)
{
	struct imap_arg *a = p_newarg(p);

	if (a == NULL)
		return -1;
	a->type = IMAP_ARG_STRING;
	a->str = p_keep(p, xstrndup(p->tok.data ? p->tok.data : "",
	    p->tok.len));
	a->len = p->tok.len;
	if (p->tok.data != NULL)	/* it may be a password */
		xbzero(p->tok.data, p->tok.len);
	buf_reset(&p->tok);
	return 1;
}

static int
p_literal_done(struct imap_parser *p)
{
	struct imap_arg *a = p_newarg(p);

	if (a == NULL)
		return -1;
	a->type = IMAP_ARG_STRING;
	a->literal = 1;
	p->litdata[p->litlen] = '\0';
	a->str = p_keep(p, p->litdata);
	a->len = p->litlen;
	p->litdata = NULL;
	return 1;
}

/* "(": one more level. -1 past depth_max or args_max. */
static int
p_push(struct imap_parser *p)
{
	if (p->depth >= p->lim.depth_max ||
	    p->nargs_total >= p->lim.args_max)
		return -1;
	p->depth++;
	memset(&p->stack[p->depth], 0, sizeof(p->stack[p->depth]));
	return 1;
}

/* ")": the innermost list becomes a LIST argument of its parent. */
static int
p_pop(struct imap_parser *p)
{
	struct frame f = p->stack[p->depth];
	struct imap_arg *a;

	memset(&p->stack[p->depth], 0, sizeof(p->stack[p->depth]));
	p->depth--;
	if (f.v != NULL)
		p_keep(p, f.v);
	if ((a = p_newarg(p)) == NULL)
		return -1;
	a->type = IMAP_ARG_LIST;
	a->list = f.v;
	a->nlist = f.n;
	return 1;
}

/* The whole command was read (after its LF). */
static void
p_finish(struct imap_parser *p, const struct imap_cmd **cmd_r)
{
	struct frame *f = &p->stack[0];

	if (f->v != NULL)
		p_keep(p, f->v);
	p->cmd.tag = p->tag;
	p->cmd.name = p->name;
	p->cmd.args = f->v;
	p->cmd.nargs = f->n;
	p->cmd.bytes = p->bytes;
	memset(f, 0, sizeof(*f));
	*cmd_r = &p->cmd;
	p->reset = 1;
}

/* Error recovery: one octet of the rest of a failed command's line. 1 when
 * the line (and so the command) ended. */
static int
p_skip(struct imap_parser *p, unsigned char c)
{
	switch (p->sk) {
	case S_NONE:
		break;
	case S_OPEN:
	case S_DIGITS:
		if (c >= '0' && c <= '9' && p->skdigits < 19) {
			p->sklen = p->sklen * 10 + (c - '0');
			p->skdigits++;
			p->sk = S_DIGITS;
			return 0;
		}
		if (c == '+' && p->sk == S_DIGITS) {
			p->sk = S_PLUS;
			return 0;
		}
		break;
	case S_PLUS:
		if (c == '}') {
			p->sk = S_CLOSE;
			return 0;
		}
		break;
	case S_CLOSE:
		if (c == '\r') {
			p->sk = S_CR;
			return 0;
		}
		/* FALLTHROUGH */
	case S_CR:
		if (c == '\n') {
			p->sk = S_NONE;
			if (p->sklen > 0)
				p->st = P_SKIPLIT;
			return 0;
		}
		break;
	}
	p->sk = S_NONE;
	if (c == '{') {
		p->sk = S_OPEN;
		p->sklen = 0;
		p->skdigits = 0;
		return 0;
	}
	return c == '\n';
}

#define ERR(t) do { err_r->text = (t); goto fail; } while (0)

/* Starts reading a literal of p->litlen octets, or refuses it. */
static enum imap_parse_result
p_literal_start(struct imap_parser *p, struct imap_parse_err *err_r)
{
	size_t total;

	if (p->litlen > p->lim.literal_max ||
	    !size_add(p->total_lit, p->litlen, &total) ||
	    total > p->lim.total_max) {
		err_r->tag = p->tag;
		err_r->text = "literal too large";
		err_r->nonsync = p->litplus;
		err_r->fatal = p->litplus;
		p->reset = 1;
		return IMAP_PARSE_TOOBIG;
	}
	p->total_lit = total;
	p->litdata = xmalloc(p->litlen + 1);
	p->litgot = 0;
	p->st = P_LITDATA;
	return IMAP_PARSE_MORE;
}

enum imap_parse_result
imap_parser_feed(struct imap_parser *p, const char *data, size_t len,
    size_t *used_r, const struct imap_cmd **cmd_r,
    struct imap_parse_err *err_r)
{
	enum imap_parse_result r;
	size_t i = 0, n;
	unsigned char c = 0;

	*cmd_r = NULL;
	memset(err_r, 0, sizeof(*err_r));
	imap_parser_release(p);
	while (i < len) {
		if (p->st == P_LITDATA) {
			n = p->litlen - p->litgot;
			if (n > len - i)
				n = len - i;
			memcpy(p->litdata + p->litgot, data + i, n);
			p->litgot += n;
			p->bytes += n;
			i += n;
			if (p->litgot < p->litlen)
				continue;
			if (p_literal_done(p) == -1) {
				err_r->text = "too many arguments";
				goto fail_noline;
			}
			p->st = P_SEP;
			continue;
		}
		if (p->st == P_SKIPLIT) {
			n = p->sklen;
			if (n > len - i)
				n = len - i;
			p->sklen -= n;
			i += n;
			if (p->sklen == 0)
				p->st = P_SKIP;
			continue;
		}
		c = (unsigned char)data[i++];
		if (p->st == P_SKIP) {
			if (!p_skip(p, c))
				continue;
			p->st = P_START;
			if (p->refused) {
				/* A refused {n+}: its command is over. */
				p->refused = 0;
				err_r->tag = p->reftag;
				err_r->text = "literal refused";
				err_r->nonsync = 1;
				*used_r = i;
				return IMAP_PARSE_REFUSED;
			}
			continue;
		}
		p->bytes++;
		if (++p->linelen > p->lim.line_max)
			ERR("command line too long");
		switch (p->st) {
		case P_START:
			if (c == '\r' || c == '\n')
				ERR("empty command line");
			if (!is_tag_char(c))
				ERR("invalid tag");
			buf_reset(&p->tok);
			(void)buf_appendc(&p->tok, (char)c);
			p->st = P_TAG;
			break;
		case P_TAG:
			if (c == ' ') {
				p->tag = p_keep(p, xstrndup(p->tok.data,
				    p->tok.len));
				buf_reset(&p->tok);
				p->st = P_NAME0;
			} else if (!is_tag_char(c))
				ERR(c == '\r' || c == '\n' ?
				    "missing command" : "invalid tag");
			else if (p->tok.len >= p->lim.tag_max)
				ERR("tag too long");
			else
				(void)buf_appendc(&p->tok, (char)c);
			break;
		case P_NAME0:
		case P_NAME:
			if ((c == ' ' || c == '\r' || c == '\n') &&
			    p->st == P_NAME) {
				p->name = p_keep(p, xstrndup(p->tok.data,
				    p->tok.len));
				buf_reset(&p->tok);
				p->st = c == ' ' ? P_ARG :
				    c == '\r' ? P_CR : P_SEP;
				if (c == '\n')
					goto line_end;
				break;
			}
			if (!is_tag_char(c) || c == '[' || c == ']')
				ERR(p->st == P_NAME0 ? "missing command" :
				    "invalid command name");
			if (p->tok.len >= 32)
				ERR("command name too long");
			if (c >= 'a' && c <= 'z')
				c = (unsigned char)(c - 'a' + 'A');
			(void)buf_appendc(&p->tok, (char)c);
			p->st = P_NAME;
			break;
		case P_ARG:
			if (c == '(') {
				if (p_push(p) == -1)
					ERR("too deeply nested");
				break;	/* stays P_ARG; ")" may follow */
			}
			if (c == ')') {
				/* only right after "(": an empty list */
				if (p->depth == 0 ||
				    p->stack[p->depth].n != 0)
					ERR("unexpected \")\"");
				if (p_pop(p) == -1)
					ERR("too many arguments");
				p->st = P_SEP;
				break;
			}
			if (c == '"') {
				buf_reset(&p->tok);
				p->st = P_QUOTED;
				break;
			}
			if (c == '{') {
				p->litlen = 0;
				p->litplus = 0;
				p->litdigits = 0;
				p->st = P_LITLEN;
				break;
			}
			if ((c == '\r' || c == '\n') && p->depth == 0) {
				/* a trailing space: tolerated */
				p->st = c == '\r' ? P_CR : P_SEP;
				if (c == '\n')
					goto line_end;
				break;
			}
			if (!is_atom_char(c))
				ERR("invalid character in argument");
			buf_reset(&p->tok);
			p->st = P_ATOM;
			goto atom_char;
		case P_ATOM:
			if (c == ' ' || c == ')' || c == '\r' || c == '\n') {
				if (p_atom_done(p) == -1)
					ERR("too many arguments");
				p->st = P_SEP;
				goto sep;
			}
			if (!is_atom_char(c))
				ERR("invalid character in atom");
		atom_char:
			if (c == '[') {
				p->bracket = 1;
				p->st = P_BRACKET;
			}
			if (buf_appendc(&p->tok, (char)c) == -1)
				ERR("argument too long");
			break;
		case P_BRACKET:
			if (c == '\r' || c == '\n' || c < 0x20 || c >= 0x7f)
				ERR("unterminated \"[\"");
			if (c == '[' && ++p->bracket > p->lim.depth_max)
				ERR("too deeply nested");
			if (c == ']' && --p->bracket == 0)
				p->st = P_ATOM;
			if (c == '"')
				p->st = P_BRACKET_Q;
			(void)buf_appendc(&p->tok, (char)c);
			break;
		case P_BRACKET_Q:
		case P_BRACKET_QESC:
			if (c == '\r' || c == '\n' || c == '\0')
				ERR("unterminated quoted string");
			if (p->st == P_BRACKET_QESC)
				p->st = P_BRACKET_Q;
			else if (c == '\\')
				p->st = P_BRACKET_QESC;
			else if (c == '"')
				p->st = P_BRACKET;
			(void)buf_appendc(&p->tok, (char)c);
			break;
		case P_QUOTED:
			if (c == '\r' || c == '\n' || c == '\0')
				ERR("unterminated quoted string");
			if (c == '\\') {
				p->st = P_QESC;
				break;
			}
			if (c == '"') {
				if (p_quoted_done(p) == -1)
					ERR("too many arguments");
				p->st = P_SEP;
				break;
			}
			(void)buf_appendc(&p->tok, (char)c);
			break;
		case P_QESC:
			if (c != '"' && c != '\\')
				ERR("invalid escape in quoted string");
			(void)buf_appendc(&p->tok, (char)c);
			p->st = P_QUOTED;
			break;
		case P_LITLEN:
			if (c >= '0' && c <= '9') {
				if (p->litdigits >= 19)
					ERR("literal too large");
				p->litlen = p->litlen * 10 + (c - '0');
				p->litdigits++;
			} else if (c == '+' && p->litdigits > 0)
				p->st = P_LITPLUS;
			else if (c == '}' && p->litdigits > 0)
				p->st = P_LITCR;
			else
				ERR("invalid literal");
			if (c == '+')
				p->litplus = 1;
			break;
		case P_LITPLUS:
			if (c != '}')
				ERR("invalid literal");
			p->st = P_LITCR;
			break;
		case P_LITCR:
		case P_LITLF:
			if (c == '\r' && p->st == P_LITCR) {
				p->st = P_LITLF;
				break;
			}
			if (c != '\n')
				ERR("literal must end the line");
			/* A literal over the size limit gets TOOBIG below
			 * whatever the check would say. */
			if (p->check != NULL &&
			    p->litlen <= p->lim.literal_max && p->check(p->check_arg,
			    p->name, p->depth, p->stack[p->depth].n,
			    p->litlen, p->litplus) != 0) {
				*used_r = i;
				p->reset = 1;
				if (!p->litplus) {
					err_r->tag = p->tag;
					err_r->text = "literal refused";
					return IMAP_PARSE_REFUSED;
				}
				/* The octets follow anyway: drop them and
				 * the rest of the line, then answer. */
				free(p->reftag);
				p->reftag = p->tag != NULL ?
				    xstrdup(p->tag) : NULL;
				p->refused = 1;
				p->sk = S_NONE;
				p->sklen = p->litlen;
				p->st = p->litlen ? P_SKIPLIT : P_SKIP;
				continue;
			}
			r = p_literal_start(p, err_r);
			if (r == IMAP_PARSE_TOOBIG) {
				*used_r = i;
				if (p->litplus) {
					/* The octets follow anyway: skip
					 * them and the rest of the line. */
					p->sklen = p->litlen;
					p->st = p->litlen ? P_SKIPLIT :
					    P_SKIP;
				}
				return r;
			}
			if (p->litlen == 0) {
				if (p_literal_done(p) == -1)
					ERR("too many arguments");
				p->st = P_SEP;
			}
			if (!p->litplus) {
				*used_r = i;
				return IMAP_PARSE_LITERAL;
			}
			break;
		case P_SEP:
		sep:
			if (c == ' ')
				p->st = P_ARG;
			else if (c == ')') {
				if (p->depth == 0)
					ERR("unexpected \")\"");
				if (p_pop(p) == -1)
					ERR("too many arguments");
			} else if (c == '\r')
				p->st = P_CR;
			else if (c == '\n')
				goto line_end;
			else
				ERR("missing space between arguments");
			break;
		case P_CR:
			if (c != '\n')
				ERR("CR without LF");
		line_end:
			if (p->depth != 0) {
				err_r->text = "unclosed \"(\"";
				err_r->tag = p->tag;
				p->reset = 1;
				p->st = P_START;
				*used_r = i;
				return IMAP_PARSE_ERROR;
			}
			p_finish(p, cmd_r);
			*used_r = i;
			return IMAP_PARSE_DONE;
		case P_LITDATA:
		case P_SKIP:
		case P_SKIPLIT:
			break;	/* handled above */
		}
	}
	*used_r = i;
	return IMAP_PARSE_MORE;

fail:
	err_r->tag = p->tag;
	*used_r = i;
	p->reset = 1;
	/* The offending octet ended the line: nothing left to skip. */
	if (c == '\n')
		p->st = P_START;
	else {
		p->st = P_SKIP;
		p->sk = S_NONE;
		if (c == '{') {
			p->sk = S_OPEN;
			p->sklen = 0;
			p->skdigits = 0;
		}
	}
	return IMAP_PARSE_ERROR;
fail_noline:
	err_r->tag = p->tag;
	*used_r = i;
	p->reset = 1;
	p->st = P_SKIP;
	p->sk = S_NONE;
	return IMAP_PARSE_ERROR;
}

int
imap_arg_astring(const struct imap_arg *a, const char **s_r, size_t *len_r)
{
	if (a == NULL || (a->type != IMAP_ARG_ATOM &&
	    a->type != IMAP_ARG_STRING && a->type != IMAP_ARG_NIL))
		return 0;
	*s_r = a->str;
	if (len_r != NULL)
		*len_r = a->len;
	return 1;
}

int
imap_arg_is(const struct imap_arg *a, const char *word)
{
	return a != NULL && (a->type == IMAP_ARG_ATOM ||
	    a->type == IMAP_ARG_NIL) && strlen(word) == a->len &&
	    strncasecmp(a->str, word, a->len) == 0;
}

int
imap_arg_cstr(const struct imap_arg *a, const char **s_r)
{
	size_t len;

	if (!imap_arg_astring(a, s_r, &len))
		return 0;
	return memchr(*s_r, '\0', len) == NULL;
}
