/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * Unit tests for the IMAP command parser (imap_parse). Each input stream
 * (one or more commands, good and bad) is fed all at once, byte by byte
 * and split in two at every position, each piece in a heap block of
 * exactly its size so ASan sees any read past it; the transcript of
 * results (commands as a canonical string, continuations, errors) must be
 * the same every time and equal to the expected one.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/buf.h"
#include "store/imap_parse.h"

static void
ser_arg(struct buf *b, const struct imap_arg *a)
{
	size_t i;

	switch (a->type) {
	case IMAP_ARG_ATOM:
		buf_append(b, a->str, a->len);
		break;
	case IMAP_ARG_NIL:
		buf_appendf(b, "NIL!%.*s", (int)a->len, a->str);
		break;
	case IMAP_ARG_STRING:
		buf_appends(b, a->literal ? "L\"" : "\"");
		for (i = 0; i < a->len; i++) {
			unsigned char c = (unsigned char)a->str[i];

			if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
				buf_appendf(b, "\\x%02x", c);
			else
				buf_appendc(b, (char)c);
		}
		assert_int_equal(a->str[a->len], '\0');
		buf_appendc(b, '"');
		break;
	case IMAP_ARG_LIST:
		buf_appendc(b, '(');
		for (i = 0; i < a->nlist; i++) {
			if (i)
				buf_appendc(b, ' ');
			ser_arg(b, &a->list[i]);
		}
		buf_appendc(b, ')');
		break;
	default:
		fail_msg("bad arg type %d", a->type);
	}
}

static void
ser_event(struct buf *b, enum imap_parse_result r, const struct imap_cmd *cmd,
    const struct imap_parse_err *err, const struct imap_parser *p)
{
	size_t i;

	switch (r) {
	case IMAP_PARSE_DONE:
		buf_appendf(b, "[%s %s", cmd->tag, cmd->name);
		for (i = 0; i < cmd->nargs; i++) {
			buf_appendc(b, ' ');
			ser_arg(b, &cmd->args[i]);
		}
		buf_appends(b, "]");
		break;
	case IMAP_PARSE_LITERAL:
		buf_appendf(b, "+%zu", imap_parser_literal_size(p));
		break;
	case IMAP_PARSE_ERROR:
		buf_appendf(b, "{BAD %s: %s}", err->tag ? err->tag : "*",
		    err->text);
		break;
	case IMAP_PARSE_TOOBIG:
		buf_appendf(b, "{TOOBIG %s%s%s}", err->tag ? err->tag : "*",
		    err->nonsync ? " nonsync" : "", err->fatal ? " fatal" : "");
		break;
	case IMAP_PARSE_REFUSED:
		buf_appendf(b, "{REFUSED %s%s}", err->tag ? err->tag : "*",
		    err->nonsync ? " nonsync" : "");
		break;
	default:
		fail_msg("unexpected result %d", r);
	}
}

/* The literal check run() installs (NULL: none). */
static imap_literal_check_fn run_check;
static int over5(void *, const char *, size_t, size_t, size_t, int);

/* Feeds in[0..n): split == 0 at once, 1 byte by byte, >= 2 in two parts
 * at split - 2. The transcript goes to out. */
static void
run(const char *in, size_t n, const struct imap_limits *lim, size_t split,
    struct buf *out)
{
	struct imap_parser *p = imap_parser_new(lim);
	const struct imap_cmd *cmd;

	struct imap_parse_err err;
	size_t off = 0, take, pos, used;
	enum imap_parse_result r;
	char *piece;

	if (run_check != NULL)
		imap_parser_literal_check(p, run_check, NULL);

	while (off < n) {
		if (split == 0)
			take = n - off;
		else if (split == 1)
			take = 1;
		else if (off < split - 2)
			take = split - 2 - off;
		else
			take = n - off;
		piece = malloc(take ? take : 1);
		memcpy(piece, in + off, take);
		pos = 0;
		while (pos < take) {
			r = imap_parser_feed(p, piece + pos, take - pos, &used,
			    &cmd, &err);
			assert_true(used <= take - pos);
			pos += used;
			if (r == IMAP_PARSE_MORE) {
				assert_int_equal(pos, take);
				break;
			}
			ser_event(out, r, cmd, &err, p);
			/* Releasing early changes nothing but memory. */
			if (split % 2 == 1 && r != IMAP_PARSE_LITERAL)
				imap_parser_release(p);
		}
		free(piece);
		off += take;
	}
	if (imap_parser_busy(p))
		buf_appends(out, "...");
	imap_parser_free(&p);
	assert_null(p);
}

static void
check_lim(const char *in, size_t n, const struct imap_limits *lim,
    const char *want)
{
	struct buf ref = BUF_INIT(0), got = BUF_INIT(0);
	size_t split;

	run(in, n, lim, 0, &ref);
	if (strcmp(buf_cstr(&ref), want) != 0)
		fail_msg("input \"%.*s\"\n got: %s\nwant: %s", (int)n, in,
		    buf_cstr(&ref), want);
	for (split = 1; split <= n + 2; split++) {
		buf_reset(&got);
		run(in, n, lim, split, &got);
		if (strcmp(buf_cstr(&got), want) != 0)
			fail_msg("input \"%.*s\" split %zu\n got: %s\nwant: %s",
			    (int)n, in, split, buf_cstr(&got), want);
	}
	buf_free(&ref);
	buf_free(&got);
}

static void
check(const char *in, const char *want)
{
	check_lim(in, strlen(in), NULL, want);
}

static void
test_simple(void **state)
{
	(void)state;
	check("a1 NOOP\r\n", "[a1 NOOP]");
	check("a1 noop\n", "[a1 NOOP]");
	check("a1 NOOP \r\n", "[a1 NOOP]");
	check("x CAPABILITY\r\ny LOGOUT\r\n", "[x CAPABILITY][y LOGOUT]");
	check("A001 LOGIN fred \"pass word\"\r\n",
	    "[A001 LOGIN fred \"pass word\"]");
	check("t SELECT nil\r\n", "[t SELECT NIL!nil]");
	check("t LOGIN \"a\\\"b\\\\c\" \"\"\r\n",
	    "[t LOGIN \"a\\x22b\\x5cc\" \"\"]");
	check("t] X-CMD a]b\r\n", "[t] X-CMD a]b]");
}

static void
test_lists(void **state)
{
	(void)state;
	check("a STORE 1:* +FLAGS (\\Seen \\Deleted)\r\n",
	    "[a STORE 1:* +FLAGS (\\Seen \\Deleted)]");
	check("a X () (()) ((a) b (c (d)))\r\n",
	    "[a X () (()) ((a) b (c (d)))]");
	check("a LIST \"\" %\r\n", "[a LIST \"\" %]");
	check("a LIST \"\" *.a%\r\n", "[a LIST \"\" *.a%]");
	check("a X (a\r\n", "{BAD a: unclosed \"(\"}");
	check("a X a)\r\n", "{BAD a: unexpected \")\"}");
	check("a X ( a)\r\nb NOOP\r\n",
	    "{BAD a: invalid character in argument}[b NOOP]");
	check("a X (a )\r\n", "{BAD a: unexpected \")\"}");
	check("a X (a)(b)\r\n", "{BAD a: missing space between arguments}");
}

static void
test_brackets(void **state)
{
	(void)state;
	check("a FETCH 1 BODY.PEEK[HEADER.FIELDS (From To)]<0.100>\r\n",
	    "[a FETCH 1 BODY.PEEK[HEADER.FIELDS (From To)]<0.100>]");
	check("a FETCH 1:3 (FLAGS BODY[] BODY[1.2.MIME])\r\n",
	    "[a FETCH 1:3 (FLAGS BODY[] BODY[1.2.MIME])]");
	check("a FETCH 1 (BODY[HEADER.FIELDS (\"X]\" Y)])\r\n",
	    "[a FETCH 1 (BODY[HEADER.FIELDS (\"X]\" Y)])]");
	check("a FETCH 1 BODY[x\r\nb NOOP\r\n",
	    "{BAD a: unterminated \"[\"}[b NOOP]");
	check("a FETCH 1 BODY[[x]]\r\n", "[a FETCH 1 BODY[[x]]]");
}

static void
test_literals(void **state)
{
	(void)state;
	check_lim("a LOGIN {4}\r\nfred {3}\r\nx\0y\r\n", 28, NULL,
	    "+4+3[a LOGIN L\"fred\" L\"x\\x00y\"]");
	check("a LOGIN {4+}\r\nfred {3+}\r\nabc\r\n",
	    "[a LOGIN L\"fred\" L\"abc\"]");
	check("a APPEND INBOX (\\Seen) {0}\r\n\r\n",
	    "+0[a APPEND INBOX (\\Seen) L\"\"]");
	check("a APPEND INBOX {0+}\r\n\r\n", "[a APPEND INBOX L\"\"]");
	check("a1 APPEND INBOX (\\Seen $Work) \" 7-Jul-2026 10:00:00 "
	    "+0200\" {3}\r\nabc\r\n",
	    "+3[a1 APPEND INBOX (\\Seen $Work) \" 7-Jul-2026 10:00:00 "
	    "+0200\" L\"abc\"]");
	/* fuzz: a zero-length literal leaked its buffer */
	check("a X {00}\r\n b\r\nc NOO)\r\n",
	    "+0[a X L\"\" b]{BAD c: invalid command name}");
	check("a X ({2}\r\n()) b\r\n", "+2[a X (L\"()\") b]");
	check("a LOGIN {4}x\r\nb NOOP\r\n",
	    "{BAD a: literal must end the line}[b NOOP]");
	check("a LOGIN {}\r\nb NOOP\r\n",
	    "{BAD a: invalid literal}[b NOOP]");
	check("a LOGIN {-1}\r\nb NOOP\r\n",
	    "{BAD a: invalid literal}[b NOOP]");
	check("a LOGIN {+}\r\n", "{BAD a: invalid literal}");
	check("a LOGIN {99999999999999999999}\r\nb NOOP\r\n",
	    "{BAD a: literal too large}[b NOOP]");
	check("a LOGIN {2}\r\nab{1}\r\nb NOOP\r\n",
	    "+2{BAD a: missing space between arguments}[b NOOP]");
}

static void
test_limits(void **state)
{
	struct imap_limits lim;
	char big[300];

	(void)state;
	imap_limits_default(&lim);
	lim.literal_max = 10;
	lim.total_max = 15;
	lim.line_max = 40;
	lim.depth_max = 3;
	lim.args_max = 6;
	lim.tag_max = 4;
	/* Refused before reading: the client sends nothing more. */
	check_lim("a APPEND x {11}\r\nb NOOP\r\n", 25, &lim,
	    "{TOOBIG a}[b NOOP]");
	check_lim("a APPEND x {10}\r\n0123456789\r\n", 29, &lim,
	    "+10[a APPEND x L\"0123456789\"]");
	/* {n+} over the limit: its octets are skipped, then the line. */
	check_lim("a APPEND x {11+}\r\n01234567890 y\r\nb NOOP\r\n", 41,
	    &lim, "{TOOBIG a nonsync fatal}[b NOOP]");
	/* The same with a literal check that would refuse it: over the
	 * limit it is TOOBIG all the same. */
	run_check = over5;
	check_lim("a APPEND x {11+}\r\n01234567890 y\r\nb NOOP\r\n", 41,
	    &lim, "{TOOBIG a nonsync fatal}[b NOOP]");
	run_check = NULL;
	check_lim("a X {8}\r\n01234567 {8}\r\n", 23, &lim,
	    "+8{TOOBIG a}");
	check_lim("a X 0123456789012345678901234567890123456789\r\n"
	    "b NOOP\r\n", 54, &lim,
	    "{BAD a: command line too long}[b NOOP]");
	check_lim("a X (((x)))\r\n", 13, &lim, "[a X (((x)))]");
	check_lim("a X ((((x))))\r\nb NOOP\r\n", 23, &lim,
	    "{BAD a: too deeply nested}[b NOOP]");
	check_lim("a X 1 2 3 4 5 6\r\n", 17, &lim, "[a X 1 2 3 4 5 6]");
	check_lim("a X 1 2 3 4 5 6 7\r\nb NOOP\r\n", 27, &lim,
	    "{BAD a: too many arguments}[b NOOP]");
	check_lim("abcd NOOP\r\n", 11, &lim, "[abcd NOOP]");
	check_lim("abcde NOOP\r\nb NOOP\r\n", 20, &lim,
	    "{BAD *: tag too long}[b NOOP]");
	/* Error recovery skips a {n+} literal in the rest of the line. */
	check_lim("a X \x01 {4+}\r\n\r\nb \r\nb NOOP\r\n", 26, &lim,
	    "{BAD a: invalid character in argument}[b NOOP]");

	memset(big, 'a', sizeof(big));
	memcpy(big, "t X ", 4);
	memcpy(big + sizeof(big) - 2, "\r\n", 2);
	imap_limits_default(&lim);
	lim.line_max = 299;
	check_lim(big, sizeof(big), &lim,
	    "{BAD t: command line too long}");
	lim.line_max = 300;
	{
		struct buf want = BUF_INIT(0);

		buf_appends(&want, "[t X ");
		buf_append(&want, big + 4, sizeof(big) - 6);
		buf_appends(&want, "]");
		check_lim(big, sizeof(big), &lim, buf_cstr(&want));
		buf_free(&want);
	}
}

/* As the session's: an APPEND message (top level, after the mailbox)
 * over 5 octets. */
static int
over5(void *arg, const char *name, size_t depth, size_t nargs, size_t size,
    int nonsync)
{
	(void)arg;
	(void)nonsync;
	return name != NULL && strcmp(name, "APPEND") == 0 && depth == 0 &&
	    nargs > 0 && size > 5;
}

static void
test_literal_check(void **state)
{
	(void)state;
	run_check = over5;
	/* {n}: refused instead of the continuation; nothing follows. */
	check("a APPEND x {6}\r\nb NOOP\r\n", "{REFUSED a}[b NOOP]");
	check("a APPEND x (\\Seen) {600}\r\nb NOOP\r\n",
	    "{REFUSED a}[b NOOP]");
	/* {n+}: its octets and the rest of the line dropped, then the
	 * answer (also past a second {n+} on that line). */
	check("a APPEND x {6+}\r\n012345\r\nb NOOP\r\n",
	    "{REFUSED a nonsync}[b NOOP]");
	check("a APPEND x {6+}\r\n012345 y {2+}\r\nab\r\nb NOOP\r\n",
	    "{REFUSED a nonsync}[b NOOP]");
	/* Accepted: small enough, the mailbox name, another command. */
	check("a APPEND x {5}\r\n01234\r\n",
	    "+5[a APPEND x L\"01234\"]");
	check("a APPEND {6}\r\nabcdef {1}\r\nz\r\n",
	    "+6+1[a APPEND L\"abcdef\" L\"z\"]");
	check("a LOGIN {6+}\r\nabcdef x\r\n",
	    "[a LOGIN L\"abcdef\" x]");
	run_check = NULL;
}

static void
test_malformed(void **state)
{
	(void)state;
	check("\r\n", "{BAD *: empty command line}");
	check(" a NOOP\r\nb NOOP\r\n", "{BAD *: invalid tag}[b NOOP]");
	check("a\r\n", "{BAD *: missing command}");
	check("a \r\n", "{BAD a: missing command}");
	check("a+ NOOP\r\n", "{BAD *: invalid tag}");
	check("* NOOP\r\n", "{BAD *: invalid tag}");
	check("a NO[OP\r\n", "{BAD a: invalid command name}");
	check("a  NOOP\r\n", "{BAD a: missing command}");
	check("a NOOP  \r\n", "{BAD a: invalid character in argument}");
	check("a NOOP\rx\r\nb NOOP\r\n", "{BAD a: CR without LF}[b NOOP]");
	/* The failing octet opens a {n+}: its octets are skipped too, also
	 * when the next feed starts after the error (the skip state
	 * survives the release of the failed command). */
	check("a NOOP{3+}\r\nabc\r\nb NOOP\r\n",
	    "{BAD a: invalid command name}[b NOOP]");
	check("a LOGIN \"x\r\nb NOOP\r\n",
	    "{BAD a: unterminated quoted string}[b NOOP]");
	check("a LOGIN \"\\a\"\r\n",
	    "{BAD a: invalid escape in quoted string}");
	check("a LOGIN \xc3\xa9\r\n",
	    "{BAD a: invalid character in argument}");
	check("a X ab\"c\r\n", "{BAD a: invalid character in atom}");
	check("a X \"a\"b\r\n",
	    "{BAD a: missing space between arguments}");
	check_lim("a X a\0b\r\nb NOOP\r\n", 17, NULL,
	    "{BAD a: invalid character in atom}[b NOOP]");
	check("a NOOP", "...");
	check("a NOOP\r\nb LOGIN {3}\r\nab", "[a NOOP]+3...");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple),
		cmocka_unit_test(test_lists),
		cmocka_unit_test(test_brackets),
		cmocka_unit_test(test_literals),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_literal_check),
		cmocka_unit_test(test_malformed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
