/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * Unit tests for smtpd_cmd: the verb split, MAIL/RCPT arguments with every
 * ESMTP parameter and each of their error replies (asserted verbatim), and
 * xtext decoding. Inputs are copied into heap blocks of exactly their
 * length, so that under ASan a read one byte too far is a crash; every
 * input is also parsed at each shorter length, which must never crash.
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

#include "lib/addr.h"
#include "relay/smtpd_cmd.h"
#include "relay/spool.h"

/* A heap copy of exactly n bytes: ASan sees any read past the end. */
static char *
exact_copy(const char *s, size_t n)
{
	char *p = malloc(n ? n : 1);

	assert_non_null(p);
	if (n)
		memcpy(p, s, n);
	return p;
}

/* ------------------------------------------------------------ verb split */

static int
split(const char *line, size_t len, char verb[SMTP_VERB_MAX],
    char **arg_r, size_t *arglen_r)
{
	char *p = exact_copy(line, len);
	const char *arg;
	int r;

	r = smtpd_cmd_split(p, len, verb, &arg, arglen_r);
	if (r == 1) {
		assert_true(arg >= p && arg <= p + len);
		assert_true(arg + *arglen_r == p + len);
		*arg_r = exact_copy(arg, *arglen_r);
	}
	free(p);
	return r;
}

struct split_case {
	const char	*line;
	const char	*verb;		/* NULL: -1 expected */
	const char	*arg;
};

static const struct split_case split_cases[] = {
	{ "MAIL FROM:<a@b>", "MAIL", "FROM:<a@b>" },
	{ "mail FROM:<a@b>", "MAIL", "FROM:<a@b>" },
	{ "MaIl from:<a@b>", "MAIL", "from:<a@b>" },
	{ "QUIT", "QUIT", "" },
	{ "quit", "QUIT", "" },
	{ "NOOP ", "NOOP", "" },
	{ "NOOP  x", "NOOP", " x" },	/* only one space is eaten */
	{ "EHLO x y", "EHLO", "x y" },
	{ "X", "X", "" },
	{ "ABCDEFGHIJKLMNO", "ABCDEFGHIJKLMNO", "" },	/* 15: max */
	{ "abcdefghijklmno arg", "ABCDEFGHIJKLMNO", "arg" },
	{ "ABCDEFGHIJKLMNOP", NULL, NULL },			/* 16 */
	{ "ABCDEFGHIJKLMNOP x", NULL, NULL },
	{ "", NULL, NULL },
	{ " ", NULL, NULL },
	{ " MAIL FROM:<>", NULL, NULL },
	{ "MAIL\tFROM:<>", NULL, NULL },
	{ "MA1L", NULL, NULL },
	{ "STARTTLS\r", NULL, NULL },
	{ "R-CPT", NULL, NULL },
	{ "\xc3\x84HLO", NULL, NULL },
	{ "@", NULL, NULL },
	{ "[", NULL, NULL },	/* just after 'Z' */
	{ "`", NULL, NULL },	/* just before 'a' */
	{ "{", NULL, NULL },	/* just after 'z' */
};

static void
test_split(void **state)
{
	char verb[SMTP_VERB_MAX], *arg;
	size_t i, alen;
	int r;

	(void)state;
	for (i = 0; i < sizeof(split_cases) / sizeof(split_cases[0]); i++) {
		const struct split_case *t = &split_cases[i];

		arg = NULL;
		r = split(t->line, strlen(t->line), verb, &arg, &alen);
		if (t->verb == NULL) {
			if (r != -1)
				fail_msg("accepted: \"%s\"", t->line);
			continue;
		}
		if (r != 1)
			fail_msg("rejected: \"%s\"", t->line);
		assert_string_equal(verb, t->verb);
		assert_int_equal(alen, strlen(t->arg));
		assert_memory_equal(arg, t->arg, alen);
		free(arg);
	}
}

static void
test_split_nul(void **state)
{
	char verb[SMTP_VERB_MAX], *arg = NULL;
	size_t alen;

	(void)state;
	/* An embedded NUL is not a letter. */
	assert_int_equal(split("HE\0LO x", 7, verb, &arg, &alen), -1);
	/* The argument may hold anything; the length is what counts. */
	assert_int_equal(split("HELO a\0b", 8, verb, &arg, &alen), 1);
	assert_string_equal(verb, "HELO");
	assert_int_equal(alen, 3);
	assert_memory_equal(arg, "a\0b", 3);
	free(arg);
}

/* Every prefix of a valid line splits or fails cleanly. */
static void
test_split_cut(void **state)
{
	static const char line[] = "RCPT TO:<a@b> NOTIFY=NEVER";
	char verb[SMTP_VERB_MAX], *arg;
	size_t n, alen;

	(void)state;
	for (n = 0; n <= sizeof(line) - 1; n++) {
		arg = NULL;
		if (n == 0)
			assert_int_equal(split(line, n, verb, &arg, &alen),
			    -1);
		else {
			assert_int_equal(split(line, n, verb, &arg, &alen), 1);
			assert_int_equal(strlen(verb), n < 4 ? n : 4);
			free(arg);
		}
	}
}

/* ------------------------------------------------------------ MAIL/RCPT */

static int
path(const char *arg, size_t len, int is_mail, int utf8_ok,
    struct smtp_path_cmd *c, const char **reply_r)
{
	char *p = exact_copy(arg, len);
	int r;

	*reply_r = NULL;
	r = smtpd_cmd_path(len ? p : p + 1, len, is_mail, utf8_ok, c,
	    reply_r);
	free(p);
	return r;
}

static void
mail_ok(const char *arg, int utf8_ok, struct smtp_path_cmd *c)
{
	const char *reply;

	if (path(arg, strlen(arg), 1, utf8_ok, c, &reply) != 1)
		fail_msg("MAIL %s: %s", arg, reply);
	assert_non_null(c->addr);
}

static void
rcpt_ok(const char *arg, int utf8_ok, struct smtp_path_cmd *c)
{
	const char *reply;

	if (path(arg, strlen(arg), 0, utf8_ok, c, &reply) != 1)
		fail_msg("RCPT %s: %s", arg, reply);
	assert_non_null(c->addr);
}

struct err_case {
	const char	*arg;
	int		 is_mail;
	int		 utf8_ok;
	const char	*reply;
};

#define SYN_MAIL	"501 5.5.4 Syntax: MAIL FROM:<address>"
#define SYN_RCPT	"501 5.5.4 Syntax: RCPT TO:<address>"
#define NO_LT		"501 5.1.7 Bad address syntax: missing '<'"
#define BAD_FROM	"501 5.1.7 Bad sender address syntax"
#define BAD_TO		"501 5.1.3 Bad recipient address syntax"
#define AFTER		"501 5.5.4 Syntax error after address"
#define PARAMS		"501 5.5.4 Syntax error in parameters"
#define VALUE		"501 5.5.4 Syntax error in parameter value"
#define UNSUP		"555 5.5.4 Unsupported parameter"
#define BODY		"555 5.5.4 Unsupported BODY type"
#define NOUTF8		"555 5.5.4 SMTPUTF8 not available"
#define NEEDUTF8	"553 5.6.7 Non-ASCII address requires SMTPUTF8"

#define UTF8ADDR	"<j\xc3\xb6ran@b\xc3\xbc" "cher.example>"

static const struct err_case err_cases[] = {
	/* prefix */
	{ "", 1, 1, SYN_MAIL },
	{ "", 0, 1, SYN_RCPT },
	{ "FROM", 1, 1, SYN_MAIL },
	{ "FROM<a@b>", 1, 1, SYN_MAIL },
	{ "FROM :<a@b>", 1, 1, SYN_MAIL },
	{ "TO:<a@b>", 1, 1, SYN_MAIL },
	{ "FROM:<a@b>", 0, 1, SYN_RCPT },
	{ "T", 0, 1, SYN_RCPT },
	/* the path itself */
	{ "FROM:", 1, 1, NO_LT },
	{ "FROM: ", 1, 1, NO_LT },
	{ "FROM:a@b", 1, 1, NO_LT },
	{ "FROM:\t<a@b>", 1, 1, NO_LT },
	{ "TO:a@b", 0, 1, NO_LT },
	{ "FROM:<a@b", 1, 1, BAD_FROM },
	{ "FROM:<a@>", 1, 1, BAD_FROM },
	{ "FROM:<Postmaster>", 1, 1, BAD_FROM },
	{ "TO:<>", 0, 1, BAD_TO },
	{ "TO:<a@b..c>", 0, 1, BAD_TO },
	{ "TO:<", 0, 1, BAD_TO },
	/* after the path */
	{ "FROM:<a@b>x", 1, 1, AFTER },
	{ "FROM:<a@b>=", 1, 1, AFTER },
	{ "FROM:<a@b>\tSIZE=1", 1, 1, AFTER },
	{ "FROM:<a@b>>", 1, 1, AFTER },
	{ "TO:<a@b><c@d>", 0, 1, AFTER },
	{ "FROM:<a@b> =1", 1, 1, PARAMS },
	{ "FROM:<a@b> SIZE=1 =", 1, 1, PARAMS },
	/* SIZE */
	{ "FROM:<a@b> SIZE", 1, 1, VALUE },
	{ "FROM:<a@b> SIZE=", 1, 1, VALUE },
	{ "FROM:<a@b> SIZE=x", 1, 1, VALUE },
	{ "FROM:<a@b> SIZE=-1", 1, 1, VALUE },
	{ "FROM:<a@b> SIZE=+1", 1, 1, VALUE },
	{ "FROM:<a@b> SIZE=1k", 1, 1, VALUE },
	{ "FROM:<a@b> SIZE=1234567890123456789", 1, 1, VALUE },
	{ "FROM:<a@b> SIZE=1 SIZE=1", 1, 1, VALUE },
	{ "FROM:<a@b> SIZE=1 size=2", 1, 1, VALUE },
	{ "TO:<a@b> SIZE=1", 0, 1, UNSUP },
	/* BODY */
	{ "FROM:<a@b> BODY", 1, 1, VALUE },
	{ "FROM:<a@b> BODY=", 1, 1, BODY },
	{ "FROM:<a@b> BODY=BINARYMIME", 1, 1, BODY },
	{ "FROM:<a@b> BODY=8BIT", 1, 1, BODY },
	{ "FROM:<a@b> BODY=7BITX", 1, 1, BODY },
	{ "FROM:<a@b> BODY=7BIT BODY=7BIT", 1, 1, VALUE },
	{ "FROM:<a@b> BODY=7BIT BODY=8BITMIME", 1, 1, VALUE },
	{ "TO:<a@b> BODY=7BIT", 0, 1, UNSUP },
	/* SMTPUTF8 */
	{ "FROM:<a@b> SMTPUTF8=YES", 1, 1, VALUE },
	{ "FROM:<a@b> SMTPUTF8=", 1, 1, VALUE },
	{ "FROM:<a@b> SMTPUTF8 SMTPUTF8", 1, 1, VALUE },
	{ "FROM:<a@b> SMTPUTF8", 1, 0, NOUTF8 },
	{ "TO:<a@b> SMTPUTF8", 0, 1, UNSUP },
	/* RET */
	{ "FROM:<a@b> RET", 1, 1, VALUE },
	{ "FROM:<a@b> RET=", 1, 1, VALUE },
	{ "FROM:<a@b> RET=NONE", 1, 1, VALUE },
	{ "FROM:<a@b> RET=FULLX", 1, 1, VALUE },
	{ "FROM:<a@b> RET=FULL RET=HDRS", 1, 1, VALUE },
	{ "TO:<a@b> RET=FULL", 0, 1, UNSUP },
	/* ENVID */
	{ "FROM:<a@b> ENVID", 1, 1, VALUE },
	{ "FROM:<a@b> ENVID=a+2", 1, 1, VALUE },
	{ "FROM:<a@b> ENVID=a+2b", 1, 1, VALUE },
	{ "FROM:<a@b> ENVID=a+ZZ", 1, 1, VALUE },
	{ "FROM:<a@b> ENVID=a=b", 1, 1, VALUE },
	{ "FROM:<a@b> ENVID=\xc3\xa9", 1, 1, VALUE },
	/* CR LF would go into DSN header fields, NUL cut the string */
	{ "FROM:<a@b> ENVID=a+0D+0Ab", 1, 1, VALUE },
	{ "FROM:<a@b> ENVID=a+00b", 1, 1, VALUE },
	{ "FROM:<a@b> ENVID=a ENVID=b", 1, 1, VALUE },
	{ "FROM:<a@b> ENVID="
	    "12345678901234567890123456789012345678901234567890"
	    "123456789012345678901234567890123456789012345678901", 1, 1,
	    VALUE },
	{ "TO:<a@b> ENVID=x", 0, 1, UNSUP },
	/* NOTIFY */
	{ "TO:<a@b> NOTIFY", 0, 1, VALUE },
	{ "TO:<a@b> NOTIFY=", 0, 1, VALUE },
	{ "TO:<a@b> NOTIFY=NEVER,SUCCESS", 0, 1, VALUE },
	{ "TO:<a@b> NOTIFY=DELAY,NEVER", 0, 1, VALUE },
	{ "TO:<a@b> NOTIFY=SUCCESS,", 0, 1, VALUE },
	{ "TO:<a@b> NOTIFY=,SUCCESS", 0, 1, VALUE },
	{ "TO:<a@b> NOTIFY=SUCCESS,,FAILURE", 0, 1, VALUE },
	{ "TO:<a@b> NOTIFY=,", 0, 1, VALUE },
	{ "TO:<a@b> NOTIFY=ALWAYS", 0, 1, VALUE },
	{ "TO:<a@b> NOTIFY=SUCCESSFAILURE", 0, 1, VALUE },
	{ "TO:<a@b> NOTIFY=DELAY NOTIFY=DELAY", 0, 1, VALUE },
	{ "FROM:<a@b> NOTIFY=DELAY", 1, 1, UNSUP },
	/* ORCPT */
	{ "TO:<a@b> ORCPT", 0, 1, VALUE },
	{ "TO:<a@b> ORCPT=", 0, 1, VALUE },
	{ "TO:<a@b> ORCPT=rfc822", 0, 1, VALUE },
	{ "TO:<a@b> ORCPT=;a@b", 0, 1, VALUE },
	{ "TO:<a@b> ORCPT=rfc822;a+4", 0, 1, VALUE },
	{ "TO:<a@b> ORCPT=rfc822;a+0Ab", 0, 1, VALUE },
	{ "TO:<a@b> ORCPT=rfc822;a ORCPT=rfc822;b", 0, 1, VALUE },
	{ "FROM:<a@b> ORCPT=rfc822;a@b", 1, 1, UNSUP },
	/* ORCPT=utf-8 (RFC 6533): unitext only with SMTPUTF8, strict. */
	{ "TO:<a@b> ORCPT=utf-8;p\xc3\xa9@b", 0, 0, VALUE },
	{ "TO:<a@b> ORCPT=utf-8;p\\x{e9}@b", 0, 1, VALUE },
	{ "TO:<a@b> ORCPT=utf-8;p\\x{0E9}@b", 0, 1, VALUE },
	{ "TO:<a@b> ORCPT=utf-8;p\\x{41}@b", 0, 1, VALUE },
	{ "TO:<a@b> ORCPT=utf-8;p\\x{09}@b", 0, 1, VALUE },
	{ "TO:<a@b> ORCPT=utf-8;p+2B@b", 0, 1, VALUE },
	{ "TO:<a@b> ORCPT=utf-8;p\\@b", 0, 1, VALUE },
	{ "TO:<a@b> ORCPT=utf-8;", 0, 1, VALUE },
	{ "TO:<a@b> ORCPT=utf-8;p\xc3@b", 0, 1, VALUE },
	/* unknown */
	{ "FROM:<a@b> FOO", 1, 1, UNSUP },
	{ "FROM:<a@b> FOO=BAR", 1, 1, UNSUP },
	{ "FROM:<a@b> SIZE=1 X-FOO=1", 1, 1, UNSUP },
	{ "FROM:<a@b> SIZES=1", 1, 1, UNSUP },
	{ "FROM:<a@b> SIZ=1", 1, 1, UNSUP },
	{ "TO:<a@b> FOO", 0, 1, UNSUP },
	/* SMTPUTF8 addresses */
	{ "FROM:" UTF8ADDR, 1, 0, NEEDUTF8 },
	{ "FROM:" UTF8ADDR " SMTPUTF8", 1, 0, NEEDUTF8 },
	{ "FROM:" UTF8ADDR, 1, 1, NEEDUTF8 },
	{ "FROM:" UTF8ADDR " SIZE=1", 1, 1, NEEDUTF8 },
	{ "TO:" UTF8ADDR, 0, 0, NEEDUTF8 },
	{ "TO:<\xc3\xa9@x> NOTIFY=NEVER", 0, 0, NEEDUTF8 },
	/* bad UTF-8 is bad syntax, not an SMTPUTF8 matter */
	{ "FROM:<\xc3@x>", 1, 0, BAD_FROM },
	{ "TO:<\xff@x>", 0, 0, BAD_TO },
};

static void
test_path_errors(void **state)
{
	struct smtp_path_cmd c;
	const char *reply;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(err_cases) / sizeof(err_cases[0]); i++) {
		const struct err_case *t = &err_cases[i];

		memset(&c, 0xa5, sizeof(c));
		if (path(t->arg, strlen(t->arg), t->is_mail, t->utf8_ok, &c,
		    &reply) != -1)
			fail_msg("accepted %s %s", t->is_mail ? "MAIL" : "RCPT",
			    t->arg);
		assert_non_null(reply);
		if (strcmp(reply, t->reply) != 0)
			fail_msg("%s: got \"%s\", want \"%s\"", t->arg, reply,
			    t->reply);
		/* Nothing left to free on failure. */
		assert_null(c.addr);
		assert_null(c.envid);
		assert_null(c.auth);
		assert_null(c.orcpt);
	}
}

static void
test_mail_plain(void **state)
{
	struct smtp_path_cmd c;

	(void)state;
	mail_ok("FROM:<user@example.com>", 0, &c);
	assert_string_equal(c.addr->local, "user");
	assert_string_equal(c.addr->domain, "example.com");
	assert_int_equal(c.size, -1);
	assert_int_equal(c.body, -1);
	assert_int_equal(c.smtputf8, 0);
	assert_int_equal(c.ret, SPOOL_RET_NONE);
	assert_null(c.envid);
	assert_null(c.auth);
	assert_int_equal(c.notify, 0);
	assert_null(c.orcpt);
	smtpd_cmd_path_free(&c);
	assert_null(c.addr);

	mail_ok("from:<>", 0, &c);
	assert_true(c.addr->flags & ADDR_NULL);
	smtpd_cmd_path_free(&c);

	mail_ok("FrOm:<a@b>", 0, &c);
	smtpd_cmd_path_free(&c);

	/* "FROM: <a>" is tolerated, as are trailing blanks. */
	mail_ok("FROM: <a@b>", 0, &c);
	assert_string_equal(c.addr->local, "a");
	smtpd_cmd_path_free(&c);
	mail_ok("FROM:    <a@b>   ", 0, &c);
	smtpd_cmd_path_free(&c);
	mail_ok("FROM: <>", 0, &c);
	assert_true(c.addr->flags & ADDR_NULL);
	smtpd_cmd_path_free(&c);

	/* Source routes are parsed and ignored. */
	mail_ok("FROM:<@x.example:a@b>", 0, &c);
	assert_string_equal(c.addr->domain, "b");
	smtpd_cmd_path_free(&c);
}

static void
test_mail_params(void **state)
{
	struct smtp_path_cmd c;

	(void)state;
	mail_ok("FROM:<a@b> SIZE=0", 0, &c);
	assert_int_equal(c.size, 0);
	smtpd_cmd_path_free(&c);
	mail_ok("FROM:<a@b> SIZE=123456789012345678", 0, &c);
	assert_true(c.size == 123456789012345678LL);
	smtpd_cmd_path_free(&c);
	mail_ok("FROM:<a@b> size=0010", 0, &c);
	assert_int_equal(c.size, 10);
	smtpd_cmd_path_free(&c);

	mail_ok("FROM:<a@b> BODY=7BIT", 0, &c);
	assert_int_equal(c.body, SPOOL_BODY_7BIT);
	smtpd_cmd_path_free(&c);
	mail_ok("FROM:<a@b> BODY=8BITMIME", 0, &c);
	assert_int_equal(c.body, SPOOL_BODY_8BITMIME);
	smtpd_cmd_path_free(&c);
	mail_ok("FROM:<a@b> body=8bitmime", 0, &c);
	assert_int_equal(c.body, SPOOL_BODY_8BITMIME);
	smtpd_cmd_path_free(&c);

	mail_ok("FROM:<a@b> SMTPUTF8", 1, &c);
	assert_int_equal(c.smtputf8, 1);
	smtpd_cmd_path_free(&c);
	mail_ok("FROM:<a@b> smtputf8", 1, &c);
	assert_int_equal(c.smtputf8, 1);
	smtpd_cmd_path_free(&c);

	mail_ok("FROM:<a@b> RET=FULL", 0, &c);
	assert_int_equal(c.ret, SPOOL_RET_FULL);
	smtpd_cmd_path_free(&c);
	mail_ok("FROM:<a@b> RET=hdrs", 0, &c);
	assert_int_equal(c.ret, SPOOL_RET_HDRS);
	smtpd_cmd_path_free(&c);

	mail_ok("FROM:<a@b> ENVID=QQ314159", 0, &c);
	assert_string_equal(c.envid, "QQ314159");
	smtpd_cmd_path_free(&c);
	mail_ok("FROM:<a@b> ENVID=a+2Bb+3Dc+20d", 0, &c);
	assert_string_equal(c.envid, "a+b=c d");
	smtpd_cmd_path_free(&c);
	mail_ok("FROM:<a@b> ENVID="
	    "12345678901234567890123456789012345678901234567890"
	    "12345678901234567890123456789012345678901234567890", 0, &c);
	assert_int_equal(strlen(c.envid), 100);
	smtpd_cmd_path_free(&c);

	/* Everything at once, any order, extra blanks. */
	mail_ok("FROM:<a@b>  RET=HDRS ENVID=x+2By SMTPUTF8  BODY=8BITMIME "
	    "SIZE=42  ", 1, &c);
	assert_int_equal(c.size, 42);
	assert_int_equal(c.body, SPOOL_BODY_8BITMIME);
	assert_int_equal(c.smtputf8, 1);
	assert_int_equal(c.ret, SPOOL_RET_HDRS);
	assert_string_equal(c.envid, "x+y");
	smtpd_cmd_path_free(&c);

	mail_ok("FROM: <> SIZE=1", 0, &c);
	assert_true(c.addr->flags & ADDR_NULL);
	assert_int_equal(c.size, 1);
	smtpd_cmd_path_free(&c);
}

static void
test_mail_utf8(void **state)
{
	struct smtp_path_cmd c;

	(void)state;
	mail_ok("FROM:" UTF8ADDR " SMTPUTF8", 1, &c);
	assert_true(c.addr->flags & ADDR_UTF8);
	assert_string_equal(c.addr->local, "j\xc3\xb6ran");
	assert_int_equal(c.smtputf8, 1);
	smtpd_cmd_path_free(&c);
	/* An ASCII sender may still ask for SMTPUTF8. */
	mail_ok("FROM:<a@b> SMTPUTF8", 1, &c);
	assert_int_equal(c.smtputf8, 1);
	smtpd_cmd_path_free(&c);
	/* Allowed but not requested: fine for ASCII. */
	mail_ok("FROM:<a@b>", 1, &c);
	assert_int_equal(c.smtputf8, 0);
	smtpd_cmd_path_free(&c);
}

static void
test_rcpt(void **state)
{
	struct smtp_path_cmd c;

	(void)state;
	rcpt_ok("TO:<user@example.com>", 0, &c);
	assert_string_equal(c.addr->local, "user");
	assert_int_equal(c.notify, 0);
	assert_null(c.orcpt);
	smtpd_cmd_path_free(&c);
	rcpt_ok("to: <a@b>", 0, &c);
	smtpd_cmd_path_free(&c);
	rcpt_ok("TO:<Postmaster>", 0, &c);
	assert_null(c.addr->domain);
	smtpd_cmd_path_free(&c);
	rcpt_ok("TO:<postmaster>", 0, &c);
	smtpd_cmd_path_free(&c);
	rcpt_ok("TO:" UTF8ADDR, 1, &c);
	assert_true(c.addr->flags & ADDR_UTF8);
	smtpd_cmd_path_free(&c);
}

static void
test_rcpt_notify(void **state)
{
	static const struct {
		const char	*v;
		unsigned	 want;
	} t[] = {
		{ "NEVER", SPOOL_NOTIFY_NEVER },
		{ "never", SPOOL_NOTIFY_NEVER },
		{ "SUCCESS", SPOOL_NOTIFY_SUCCESS },
		{ "FAILURE", SPOOL_NOTIFY_FAILURE },
		{ "DELAY", SPOOL_NOTIFY_DELAY },
		{ "SUCCESS,FAILURE", SPOOL_NOTIFY_SUCCESS |
		    SPOOL_NOTIFY_FAILURE },
		{ "FAILURE,DELAY", SPOOL_NOTIFY_FAILURE | SPOOL_NOTIFY_DELAY },
		{ "DELAY,Success,failure", SPOOL_NOTIFY_SUCCESS |
		    SPOOL_NOTIFY_FAILURE | SPOOL_NOTIFY_DELAY },
		{ "FAILURE,FAILURE", SPOOL_NOTIFY_FAILURE },
		{ "NEVER,NEVER", SPOOL_NOTIFY_NEVER },
	};
	struct smtp_path_cmd c;
	char arg[128];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int n = snprintf(arg, sizeof(arg), "TO:<a@b> NOTIFY=%s",
		    t[i].v);

		assert_true(n > 0 && (size_t)n < sizeof(arg));
		rcpt_ok(arg, 0, &c);
		assert_int_equal(c.notify, t[i].want);
		smtpd_cmd_path_free(&c);
	}
}

static void
test_rcpt_orcpt(void **state)
{
	struct smtp_path_cmd c;

	(void)state;
	rcpt_ok("TO:<a@b> ORCPT=rfc822;a@b", 0, &c);
	assert_string_equal(c.orcpt, "rfc822;a@b");
	smtpd_cmd_path_free(&c);
	rcpt_ok("TO:<a@b> ORCPT=rfc822;x+2By+3Dz@example.org", 0, &c);
	assert_string_equal(c.orcpt, "rfc822;x+y=z@example.org");
	smtpd_cmd_path_free(&c);
	rcpt_ok("TO:<a@b> ORCPT=rfc822;", 0, &c);
	assert_string_equal(c.orcpt, "rfc822;");
	smtpd_cmd_path_free(&c);
	rcpt_ok("TO:<a@b> NOTIFY=SUCCESS,DELAY ORCPT=RFC822;A+40B", 0, &c);
	assert_string_equal(c.orcpt, "RFC822;A@B");
	assert_int_equal(c.notify, SPOOL_NOTIFY_SUCCESS | SPOOL_NOTIFY_DELAY);
	smtpd_cmd_path_free(&c);
	/* utf-8 (RFC 6533): utf-8-addr-xtext, kept decoded to UTF-8. */
	rcpt_ok("TO:<a@b> ORCPT=utf-8;j\\x{F6}rg\\x{2B}tag@b\\x{FC}ro."
	    "example", 0, &c);
	assert_string_equal(c.orcpt, "utf-8;j\xc3\xb6rg+tag@b\xc3\xbcro."
	    "example");
	smtpd_cmd_path_free(&c);
	rcpt_ok("TO:<a@b> ORCPT=UTF-8;\\x{4E2D}@x", 0, &c);
	assert_string_equal(c.orcpt, "utf-8;\xe4\xb8\xad@x");
	smtpd_cmd_path_free(&c);
	/* utf-8-addr-unitext in an SMTPUTF8 transaction. */
	rcpt_ok("TO:<a@b> ORCPT=utf-8;j\xc3\xb6rg\\x{20}x@b", 1, &c);
	assert_string_equal(c.orcpt, "utf-8;j\xc3\xb6rg x@b");
	smtpd_cmd_path_free(&c);
	/* The older form: rfc822 with xtext-encoded UTF-8, kept as is. */
	rcpt_ok("TO:<a@b> ORCPT=rfc822;j+C3+B6rg@b", 0, &c);
	assert_string_equal(c.orcpt, "rfc822;j\xc3\xb6rg@b");
	smtpd_cmd_path_free(&c);
}

/* Every input cut at each length fails cleanly or succeeds: no leaks,
 * no reads past the end, and a reply whenever it fails. */
static void
test_path_cut(void **state)
{
	static const char *lines[] = {
		"FROM:<a@b> SIZE=100 BODY=8BITMIME SMTPUTF8 RET=FULL "
		    "ENVID=x+2Bz",
		"TO:<\"x y\"@b> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;a+40b",
		"FROM: " UTF8ADDR " SMTPUTF8",
	};
	struct smtp_path_cmd c;
	const char *reply;
	size_t i, n, len;
	int mail, utf8, r;

	(void)state;
	for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		len = strlen(lines[i]);
		mail = lines[i][0] == 'F';
		for (n = 0; n <= len; n++)
			for (utf8 = 0; utf8 <= 1; utf8++) {
				r = path(lines[i], n, mail, utf8, &c, &reply);
				if (r == 1)
					smtpd_cmd_path_free(&c);
				else {
					assert_int_equal(r, -1);
					assert_non_null(reply);
				}
			}
		/* The whole line with SMTPUTF8 allowed is fine. */
		assert_int_equal(path(lines[i], len, mail, 1, &c, &reply), 1);
		smtpd_cmd_path_free(&c);
	}
}

/* ------------------------------------------------------------ xtext */

static char *
xtext(const char *s, size_t n)
{
	char *p = exact_copy(s, n), *r;

	r = smtpd_xtext_decode(n ? p : p + 1, n);
	free(p);
	return r;
}

static void
test_xtext(void **state)
{
	static const struct {
		const char	*in;
		const char	*out;	/* NULL: malformed */
	} t[] = {
		{ "", "" },
		{ "abc", "abc" },
		{ "+2B", "+" },
		{ "a+2Bb", "a+b" },
		{ "+3D", "=" },
		{ "+20", " " },
		{ "+7E", "~" },
		{ "+41+42", "AB" },
		{ "!~", "!~" },
		{ "+2b", NULL },	/* lower-case hex */
		{ "+a0", NULL },
		{ "+2", NULL },		/* truncated */
		{ "a+", NULL },
		{ "+", NULL },
		{ "+G0", NULL },
		{ "+0G", NULL },
		{ "=", NULL },
		{ "a b", NULL },
		{ "a\tb", NULL },
		{ "\x7f", NULL },
		{ "\xc3\xa9", NULL },
		{ "+00", NULL },	/* decodes to a control character */
		{ "+0D+0A", NULL },
		{ "+1F", NULL },
		{ "+7F", NULL },
	};
	char *r, big[502];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		r = xtext(t[i].in, strlen(t[i].in));
		if (t[i].out == NULL) {
			if (r != NULL)
				fail_msg("accepted \"%s\"", t[i].in);
			continue;
		}
		if (r == NULL)
			fail_msg("rejected \"%s\"", t[i].in);
		assert_string_equal(r, t[i].out);
		free(r);
	}
	/* An embedded NUL is malformed, not the end. */
	assert_null(xtext("a\0b", 3));
	/* 500 octets at most. */
	memset(big, 'x', sizeof(big));
	r = xtext(big, 500);
	assert_non_null(r);
	assert_int_equal(strlen(r), 500);
	free(r);
	assert_null(xtext(big, 501));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split),
		cmocka_unit_test(test_split_nul),
		cmocka_unit_test(test_split_cut),
		cmocka_unit_test(test_path_errors),
		cmocka_unit_test(test_mail_plain),
		cmocka_unit_test(test_mail_params),
		cmocka_unit_test(test_mail_utf8),
		cmocka_unit_test(test_rcpt),
		cmocka_unit_test(test_rcpt_notify),
		cmocka_unit_test(test_rcpt_orcpt),
		cmocka_unit_test(test_path_cut),
		cmocka_unit_test(test_xtext),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
