/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * libFuzzer target for the IMAP command parser (imap_parse). The input is
 * a client's byte stream with small limits; it is fed once all at once and
 * once in chunks whose sizes come from the input itself, and the two
 * transcripts (commands rendered canonically, continuations, errors) must
 * be identical. Checks the promises: used never exceeds what was given,
 * MORE consumes everything, every command has a tag and an upper-case
 * name, strings are NUL-terminated at len, nesting and argument counts
 * stay within the limits, a literal over the limit is never accepted, and
 * a literal the check refuses is answered with its command's tag ({n} at
 * once, {n+} after its line).
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "store/imap_parse.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define LIT_MAX		64

#define check(c) do {						\
	if (!(c)) {							\
		fprintf(stderr, "fuzz_imapcmd: check failed at line %d: "	\
		    "%s\n", __LINE__, #c);				\
		abort();						\
	}								\
} while (0)

static size_t
render_arg(struct buf *b, const struct imap_arg *a, size_t depth)
{
	size_t i, n = 1;
	const char *s;
	size_t len;

	check(depth <= 4);
	switch (a->type) {
	case IMAP_ARG_ATOM:
	case IMAP_ARG_NIL:
		check(a->len > 0 && memchr(a->str, '\0', a->len) == NULL);
		/* fallthrough */
	case IMAP_ARG_STRING:
		check(a->str != NULL && a->str[a->len] == '\0');
		check(a->list == NULL && a->nlist == 0);
		check(!a->literal || a->len <= LIT_MAX);
		check(imap_arg_astring(a, &s, &len) == 1 && s == a->str &&
		    len == a->len);
		(void)buf_appendf(b, "%d:%zu:", a->type, a->len);
		(void)buf_append(b, a->str, a->len);
		break;
	case IMAP_ARG_LIST:
		check(imap_arg_astring(a, &s, &len) == 0);
		(void)buf_appendc(b, '(');
		for (i = 0; i < a->nlist; i++)
			n += render_arg(b, &a->list[i], depth + 1);
		(void)buf_appendc(b, ')');
		break;
	default:
		check(0);
	}
	return n;
}

/* A literal check as the session's (an APPEND's message literal), that
 * refuses by a rule the input controls: sizes 1 more than a multiple of 3. */
static int
refuse(void *arg, const char *name, size_t depth, size_t nargs, size_t size,
    int nonsync)
{
	(void)arg;
	(void)nonsync;
	check(depth <= 4);
	return name != NULL && strcmp(name, "APPEND") == 0 && depth == 0 &&
	    nargs > 0 && size % 3 == 1;
}

static void
run(const uint8_t *data, size_t size, int chunked, struct buf *out)
{
	struct imap_limits lim;
	struct imap_parser *p;
	const struct imap_cmd *cmd;
	struct imap_parse_err err;
	enum imap_parse_result r;
	size_t off = 0, take, used, i, n;
	unsigned step = 0;

	imap_limits_default(&lim);
	lim.line_max = 512;
	lim.literal_max = LIT_MAX;
	lim.total_max = LIT_MAX * 2;
	lim.depth_max = 4;
	lim.args_max = 40;
	lim.tag_max = 16;
	p = imap_parser_new(&lim);
	imap_parser_literal_check(p, refuse, NULL);
	while (off < size) {
		take = size - off;
		if (chunked) {
			take = (size_t)(data[step++ % size] % 7) + 1;
			if (take > size - off)
				take = size - off;
		}
		r = imap_parser_feed(p, (const char *)data + off, take, &used,
		    &cmd, &err);
		check(used <= take);
		off += used;
		switch (r) {
		case IMAP_PARSE_MORE:
			check(used == take);
			break;
		case IMAP_PARSE_DONE:
			check(cmd != NULL && cmd->tag != NULL &&
			    cmd->name != NULL && *cmd->tag && *cmd->name);
			for (i = 0; cmd->name[i]; i++)
				check(!(cmd->name[i] >= 'a' &&
				    cmd->name[i] <= 'z'));
			(void)buf_appendf(out, "[%s %s", cmd->tag, cmd->name);
			for (i = 0, n = 0; i < cmd->nargs; i++)
				n += render_arg(out, &cmd->args[i], 0);
			check(n <= lim.args_max);
			(void)buf_appends(out, "]");
			break;
		case IMAP_PARSE_LITERAL:
			check(imap_parser_literal_size(p) <= LIT_MAX);
			(void)buf_appendf(out, "+%zu",
			    imap_parser_literal_size(p));
			break;
		case IMAP_PARSE_ERROR:
		case IMAP_PARSE_TOOBIG:
			check(err.text != NULL);
			/* Over literal_max, or over total_max together
			 * with the command's earlier literals. */
			if (r == IMAP_PARSE_TOOBIG)
				check(imap_parser_literal_size(p) > 0);
			(void)buf_appendf(out, "{%d %s %s %d}", r,
			    err.tag ? err.tag : "*", err.text, err.fatal);
			break;
		case IMAP_PARSE_REFUSED:
			/* Only what refuse() refused, with the tag. */
			check(err.tag != NULL && *err.tag);
			check(imap_parser_literal_size(p) % 3 == 1 ||
			    err.nonsync);
			(void)buf_appendf(out, "{R %s %d}", err.tag,
			    err.nonsync);
			break;
		default:
			check(0);
		}
		/* The session frees a finished command at once. */
		if (chunked && r != IMAP_PARSE_MORE &&
		    r != IMAP_PARSE_LITERAL)
			imap_parser_release(p);
	}
	(void)buf_appendf(out, "busy=%d", imap_parser_busy(p));
	imap_parser_free(&p);
	check(p == NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf a = BUF_INIT(0), b = BUF_INIT(0);

	run(data, size, 0, &a);
	run(data, size, 1, &b);
	check(a.len == b.len && (a.len == 0 ||
	    memcmp(a.data, b.data, a.len) == 0));
	buf_free(&a);
	buf_free(&b);
	return 0;
}
