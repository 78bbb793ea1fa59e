/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * Unit tests for addr: RFC 5321 paths and mailboxes, RFC 6531 UTF-8, every
 * error path, the size limits at and one past the edge, format round-trips,
 * and every input cut short at each length. Inputs are always copied into a
 * heap block of exactly their length, so that under ASan a read one byte
 * too far is a crash, not luck.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/addr.h"
#include "lib/buf.h"

#define ALL_FLAGS (ADDR_ALLOW_NULL | ADDR_ALLOW_UTF8 | ADDR_ALLOW_POSTMASTER)

struct ok_case {
	const char	*in;
	unsigned	 flags;		/* parse flags */
	const char	*local;
	const char	*domain;	/* NULL: none */
	unsigned	 rflags;	/* expected result flags */
	size_t		 end;		/* 0: all of in */
	const char	*canon;		/* addr_format() output */
};

static const struct ok_case ok_paths[] = {
	{ "<user@example.com>", 0, "user", "example.com", 0, 0,
	    "user@example.com" },
	{ "<First.Last+tag@Example.COM>", 0, "First.Last+tag", "example.com",
	    0, 0, "First.Last+tag@example.com" },
	{ "<a@b>", 0, "a", "b", 0, 0, "a@b" },
	{ "<a@b> SIZE=100", 0, "a", "b", 0, 5, "a@b" },
	{ "<x@a-b.c-d.0-9>", 0, "x", "a-b.c-d.0-9", 0, 0, "x@a-b.c-d.0-9" },
	{ "<!#$%&'*+-/=?^_`{|}~@x.y>", 0, "!#$%&'*+-/=?^_`{|}~", "x.y", 0, 0,
	    "!#$%&'*+-/=?^_`{|}~@x.y" },
	/* %-hack and bang paths are only syntax here; policy decides. */
	{ "<user%relay@example.com>", 0, "user%relay", "example.com", 0, 0,
	    "user%relay@example.com" },
	{ "<host!user@example.com>", 0, "host!user", "example.com", 0, 0,
	    "host!user@example.com" },
	{ "<\"john doe\"@example.com>", 0, "john doe", "example.com",
	    ADDR_QUOTED, 0, "\"john doe\"@example.com" },
	{ "<\"a\\\"b\\\\c\"@example.com>", 0, "a\"b\\c", "example.com",
	    ADDR_QUOTED, 0, "\"a\\\"b\\\\c\"@example.com" },
	{ "<\"a\\ b\\x\"@x>", 0, "a bx", "x", ADDR_QUOTED, 0, "\"a bx\"@x" },
	{ "<\"abc\"@x>", 0, "abc", "x", ADDR_QUOTED, 0, "abc@x" },
	{ "<\"a.\"@x>", 0, "a.", "x", ADDR_QUOTED, 0, "\"a.\"@x" },
	{ "<\"a@b>c\"@x>", 0, "a@b>c", "x", ADDR_QUOTED, 0, "\"a@b>c\"@x" },
	{ "<\"\"@x>", 0, "", "x", ADDR_QUOTED, 0, "\"\"@x" },
	{ "<user@[192.0.2.1]>", 0, "user", "[192.0.2.1]", ADDR_LITERAL, 0,
	    "user@[192.0.2.1]" },
	{ "<user@[IPv6:2001:DB8::1]>", 0, "user", "[ipv6:2001:db8::1]",
	    ADDR_LITERAL, 0, "user@[ipv6:2001:db8::1]" },
	{ "<u@[ipv6:::ffff:192.0.2.1]>", 0, "u", "[ipv6:::ffff:192.0.2.1]",
	    ADDR_LITERAL, 0, "u@[ipv6:::ffff:192.0.2.1]" },
	{ "<@a.example,@b.example:user@c.example>", 0, "user", "c.example",
	    ADDR_ROUTE, 0, "user@c.example" },
	{ "<@a:\"q q\"@b>", 0, "q q", "b", ADDR_ROUTE | ADDR_QUOTED, 0,
	    "\"q q\"@b" },
	{ "<Postmaster>", ADDR_ALLOW_POSTMASTER, "Postmaster", NULL, 0, 0,
	    "Postmaster" },
	{ "<pOSTMASTER>", ADDR_ALLOW_POSTMASTER, "pOSTMASTER", NULL, 0, 0,
	    "pOSTMASTER" },
	{ "<Postmaster@Example.org>", 0, "Postmaster", "example.org", 0, 0,
	    "Postmaster@example.org" },
	{ "<>", ADDR_ALLOW_NULL, "", NULL, ADDR_NULL, 0, "" },
	{ "<> BODY=8BITMIME", ADDR_ALLOW_NULL, "", NULL, ADDR_NULL, 2, "" },
	/* RFC 6531 */
	{ "<j\xc3\xb6ran@b\xc3\xbc" "cher.example>", ADDR_ALLOW_UTF8,
	    "j\xc3\xb6ran", "b\xc3\xbc" "cher.example", ADDR_UTF8, 0,
	    "j\xc3\xb6ran@b\xc3\xbc" "cher.example" },
	{ "<\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.\xe5\xb9\xbf"
	    "\xe5\x91\x8a>", ADDR_ALLOW_UTF8, "\xe7\x94\xa8\xe6\x88\xb7",
	    "\xe4\xbe\x8b\xe5\xad\x90.\xe5\xb9\xbf\xe5\x91\x8a", ADDR_UTF8, 0,
	    "\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.\xe5\xb9\xbf"
	    "\xe5\x91\x8a" },
	/* Only ASCII letters are lowercased. */
	{ "<a@B\xc3\x9c" "CHER.Example>", ADDR_ALLOW_UTF8, "a",
	    "b\xc3\x9c" "cher.example", ADDR_UTF8, 0,
	    "a@b\xc3\x9c" "cher.example" },
	{ "<\"a \xc3\xb6\"@x>", ADDR_ALLOW_UTF8, "a \xc3\xb6", "x",
	    ADDR_QUOTED | ADDR_UTF8, 0, "\"a \xc3\xb6\"@x" },
	{ "<\xf0\x9f\x98\x80.\xf4\x8f\xbf\xbf@x-\xc3\xa9>", ADDR_ALLOW_UTF8,
	    "\xf0\x9f\x98\x80.\xf4\x8f\xbf\xbf", "x-\xc3\xa9", ADDR_UTF8, 0,
	    "\xf0\x9f\x98\x80.\xf4\x8f\xbf\xbf@x-\xc3\xa9" },
	{ "<\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80@x>", ADDR_ALLOW_UTF8,
	    "\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80", "x", ADDR_UTF8, 0,
	    "\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80@x" },
	/* UTF-8 only in a dropped route: the address itself is ASCII. */
	{ "<@\xc3\xa9.example:a@b>", ADDR_ALLOW_UTF8, "a", "b", ADDR_ROUTE, 0,
	    "a@b" },
};

struct bad_case {
	const char	*in;
	size_t		 len;		/* 0: strlen(in) */
	unsigned	 flags;
	const char	*err;
};

static const struct bad_case bad_paths[] = {
	{ "", 0, ALL_FLAGS, "missing '<'" },
	{ "user@example.com", 0, ALL_FLAGS, "missing '<'" },
	{ "<", 0, ALL_FLAGS, "empty local part" },
	{ "<user@example.com", 0, ALL_FLAGS, "missing '>'" },
	{ "<user@example.com x>", 0, ALL_FLAGS, "bad character in domain" },
	{ "<a@b_c>", 0, ALL_FLAGS, "bad character in domain" },
	{ "<a@[1.2.3.4]x>", 0, ALL_FLAGS, "bad character in domain" },
	{ "<>", 0, ADDR_ALLOW_UTF8 | ADDR_ALLOW_POSTMASTER,
	    "null path not allowed" },
	{ "<user>", 0, ALL_FLAGS, "missing '@'" },
	{ "<user", 0, ALL_FLAGS, "missing '@'" },
	{ "<Postmaster>", 0, ADDR_ALLOW_NULL | ADDR_ALLOW_UTF8,
	    "missing '@'" },
	{ "<@a:Postmaster>", 0, ALL_FLAGS, "missing '@'" },
	{ "<\"Postmaster\">", 0, ALL_FLAGS, "missing '@'" },
	{ "<Postmaster x>", 0, ALL_FLAGS, "bad character in local part" },
	{ "<Postmaster", 0, ALL_FLAGS, "missing '@'" },
	{ "< a@b>", 0, ALL_FLAGS, "bad character in local part" },
	{ "<a b@c>", 0, ALL_FLAGS, "bad character in local part" },
	{ "<a(b)@c>", 0, ALL_FLAGS, "bad character in local part" },
	{ "<\"a\"b@c>", 0, ALL_FLAGS, "bad character in local part" },
	{ "<a\0b@c>", 6, ALL_FLAGS, "bad character in local part" },
	{ "<@a:>", 0, ALL_FLAGS, "empty local part" },
	{ "<.a@b>", 0, ALL_FLAGS, "bad dot in local part" },
	{ "<a.@b>", 0, ALL_FLAGS, "bad dot in local part" },
	{ "<a..b@c>", 0, ALL_FLAGS, "bad dot in local part" },
	{ "<.@b>", 0, ALL_FLAGS, "bad dot in local part" },
	{ "<\"abc@b>", 0, ALL_FLAGS, "unterminated quoted string" },
	{ "<\"abc\\", 0, ALL_FLAGS, "unterminated quoted string" },
	{ "<\"a\tb\"@c>", 0, ALL_FLAGS, "bad character in quoted string" },
	{ "<\"a\x7f\"@c>", 0, ALL_FLAGS, "bad character in quoted string" },
	{ "<\"a\0\"@c>", 7, ALL_FLAGS, "bad character in quoted string" },
	{ "<\"a\\\x01\"@c>", 0, ALL_FLAGS, "bad quoted pair" },
	{ "<\"a\\\xc3\xa9\"@c>", 0, ALL_FLAGS, "bad quoted pair" },
	{ "<user@>", 0, ALL_FLAGS, "missing domain" },
	{ "<user@", 0, ALL_FLAGS, "missing domain" },
	{ "<a@b.c.>", 0, ALL_FLAGS, "empty domain label" },
	{ "<a@.b>", 0, ALL_FLAGS, "empty domain label" },
	{ "<a@b..c>", 0, ALL_FLAGS, "empty domain label" },
	{ "<a@b\0c>", 6, ALL_FLAGS, "bad character in domain" },
	{ "<a@-b.c>", 0, ALL_FLAGS, "bad domain label" },
	{ "<a@b-.c>", 0, ALL_FLAGS, "bad domain label" },
	{ "<a@b.c->", 0, ALL_FLAGS, "bad domain label" },
	{ "<a@\xc3\xa9->", 0, ALL_FLAGS, "bad domain label" },
	{ "<@example.com>", 0, ALL_FLAGS, "bad source route" },
	{ "<@a,b:c@d>", 0, ALL_FLAGS, "bad source route" },
	{ "<@a;c@d>", 0, ALL_FLAGS, "bad source route" },
	{ "<@[1.2.3.4]:c@d>", 0, ALL_FLAGS, "bad source route" },
	{ "<@a", 0, ALL_FLAGS, "bad source route" },
	{ "<@:a@b>", 0, ALL_FLAGS, "missing domain" },
	{ "<@a.:a@b>", 0, ALL_FLAGS, "empty domain label" },
	{ "<a@[1.2.3]>", 0, ALL_FLAGS, "bad address literal" },
	{ "<a@[1.2.3.256]>", 0, ALL_FLAGS, "bad address literal" },
	{ "<a@[01.2.3.4]>", 0, ALL_FLAGS, "bad address literal" },
	{ "<a@[]>", 0, ALL_FLAGS, "bad address literal" },
	{ "<a@[IPv6:]>", 0, ALL_FLAGS, "bad address literal" },
	{ "<a@[IPv6:1::2::3]>", 0, ALL_FLAGS, "bad address literal" },
	{ "<a@[IPv6:1.2.3.4]>", 0, ALL_FLAGS, "bad address literal" },
	{ "<a@[IPv6:fe80::1%eth0]>", 0, ALL_FLAGS, "bad address literal" },
	{ "<a@[::1]>", 0, ALL_FLAGS, "bad address literal" },
	{ "<a@[tag:content]>", 0, ALL_FLAGS, "bad address literal" },
	{ "<a@[1.2.3.4>", 0, ALL_FLAGS, "bad address literal" },
	{ "<a@[1.2.3.4", 0, ALL_FLAGS, "bad address literal" },
	{ "<a@[1.2. 3.4]>", 0, ALL_FLAGS, "bad address literal" },
	{ "<a@[1.2[3.4]>", 0, ALL_FLAGS, "bad address literal" },
	{ "<a@[1.2\\3.4]>", 0, ALL_FLAGS, "bad address literal" },
	/* A literal that does not fit inet_pton's buffer. */
	{ "<a@[IPv6:1111:1111:1111:1111:1111:1111:1111:1111:1111:1111]>", 0,
	    ALL_FLAGS, "bad address literal" },
	/* UTF-8 without SMTPUTF8. */
	{ "<j\xc3\xb6ran@x>", 0, ADDR_ALLOW_NULL | ADDR_ALLOW_POSTMASTER,
	    "non-ASCII character without SMTPUTF8" },
	{ "<a@b\xc3\xbc" "cher>", 0, 0,
	    "non-ASCII character without SMTPUTF8" },
	{ "<\"\xc3\xb6\"@x>", 0, 0, "non-ASCII character without SMTPUTF8" },
	{ "<@\xc3\xa9:a@b>", 0, 0, "non-ASCII character without SMTPUTF8" },
	{ "<\xff@x>", 0, 0, "non-ASCII character without SMTPUTF8" },
	/* Malformed UTF-8 with it. */
	{ "<\x80@x>", 0, ALL_FLAGS, "malformed UTF-8" },
	{ "<a\xbf@x>", 0, ALL_FLAGS, "malformed UTF-8" },
	{ "<\xc0\xaf@x>", 0, ALL_FLAGS, "malformed UTF-8" },
	{ "<\xc1\xbf@x>", 0, ALL_FLAGS, "malformed UTF-8" },
	{ "<\xe0\x80\xaf@x>", 0, ALL_FLAGS, "malformed UTF-8" },
	{ "<\xe0\x9f\xbf@x>", 0, ALL_FLAGS, "malformed UTF-8" },
	{ "<\xf0\x80\x80\xaf@x>", 0, ALL_FLAGS, "malformed UTF-8" },
	{ "<\xf0\x8f\xbf\xbf@x>", 0, ALL_FLAGS, "malformed UTF-8" },
	{ "<\xed\xa0\x80@x>", 0, ALL_FLAGS, "malformed UTF-8" },
	{ "<\xed\xbf\xbf@x>", 0, ALL_FLAGS, "malformed UTF-8" },
	{ "<\xf4\x90\x80\x80@x>", 0, ALL_FLAGS, "malformed UTF-8" },
	{ "<\xf5\x80\x80\x80@x>", 0, ALL_FLAGS, "malformed UTF-8" },
	{ "<\xf8\x88\x80\x80\x80@x>", 0, ALL_FLAGS, "malformed UTF-8" },
	{ "<\xfe@x>", 0, ALL_FLAGS, "malformed UTF-8" },
	{ "<\xc3@x>", 0, ALL_FLAGS, "malformed UTF-8" },
	{ "<\xe2\x82@x>", 0, ALL_FLAGS, "malformed UTF-8" },
	{ "<\xe2\x82\xc3\xa9@x>", 0, ALL_FLAGS, "malformed UTF-8" },
	{ "<\xf0\x9f\x98", 0, ALL_FLAGS, "malformed UTF-8" },
	{ "<\"\xc3\"@x>", 0, ALL_FLAGS, "malformed UTF-8" },
	{ "<a@\xc0\xae>", 0, ALL_FLAGS, "malformed UTF-8" },
	{ "<a@x.\xed\xb0\x80>", 0, ALL_FLAGS, "malformed UTF-8" },
	{ "<a@[1.2.3.\xc3\xa9]>", 0, ALL_FLAGS, "bad address literal" },
};

/* Bare mailboxes: all of the input is the address. */
static const struct ok_case ok_mailboxes[] = {
	{ "user@example.com", 0, "user", "example.com", 0, 0,
	    "user@example.com" },
	{ "User@EXAMPLE.com", 0, "User", "example.com", 0, 0,
	    "User@example.com" },
	{ "\"a b\"@x", 0, "a b", "x", ADDR_QUOTED, 0, "\"a b\"@x" },
	{ "u@[IPv6:::1]", 0, "u", "[ipv6:::1]", ADDR_LITERAL, 0,
	    "u@[ipv6:::1]" },
	{ "postmaster", ADDR_ALLOW_POSTMASTER, "postmaster", NULL, 0, 0,
	    "postmaster" },
	{ "", ADDR_ALLOW_NULL, "", NULL, ADDR_NULL, 0, "" },
	{ "\xc3\xa9@\xc3\xa9", ADDR_ALLOW_UTF8, "\xc3\xa9", "\xc3\xa9",
	    ADDR_UTF8, 0, "\xc3\xa9@\xc3\xa9" },
};

static const struct bad_case bad_mailboxes[] = {
	{ "", 0, ADDR_ALLOW_UTF8 | ADDR_ALLOW_POSTMASTER, "empty local part" },
	{ "<a@b>", 0, ALL_FLAGS, "bad character in local part" },
	{ "a@b>", 0, ALL_FLAGS, "bad character in domain" },
	{ "a@b ", 0, ALL_FLAGS, "bad character in domain" },
	{ "a@b\0", 4, ALL_FLAGS, "bad character in domain" },
	{ "postmaster", 0, ADDR_ALLOW_NULL, "missing '@'" },
	{ "postmaster ", 0, ALL_FLAGS, "bad character in local part" },
	{ "@a:b@c", 0, ALL_FLAGS, "empty local part" },
	{ "a@b.", 0, ALL_FLAGS, "empty domain label" },
	{ "\xc3\xa9@x", 0, 0, "non-ASCII character without SMTPUTF8" },
};

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

static int
parse_path(const char *s, size_t n, unsigned flags, struct addr **a_r,
    size_t *end_r, const char **err_r)
{
	char *p = exact_copy(s, n);
	int r;

	/* n == 0 still hands over a pointer to 0 readable bytes. */
	r = addr_parse_path(n ? p : p + 1, n, flags, a_r, end_r, err_r);
	free(p);
	return r;
}

static int
parse_mailbox(const char *s, size_t n, unsigned flags, struct addr **a_r,
    const char **err_r)
{
	char *p = exact_copy(s, n);
	int r;

	r = addr_parse_mailbox(n ? p : p + 1, n, flags, a_r, err_r);
	free(p);
	return r;
}

static void
check_addr(const struct addr *a, const struct ok_case *t)
{
	assert_non_null(a);
	assert_string_equal(a->local, t->local);
	if (t->domain == NULL)
		assert_null(a->domain);
	else {
		assert_non_null(a->domain);
		assert_string_equal(a->domain, t->domain);
	}
	assert_int_equal(a->flags, t->rflags);
}

static void
check_format(const struct addr *a, const char *want)
{
	struct buf b = BUF_INIT(0);

	assert_int_equal(addr_format(a, &b), 1);
	assert_string_equal(buf_cstr(&b), want);
	buf_free(&b);
}

/* The same address, but for how it was written (quoted, routed). */
static void
assert_same_addr(const struct addr *x, const struct addr *y)
{
	const unsigned spelling = ADDR_QUOTED | ADDR_ROUTE;

	assert_string_equal(x->local, y->local);
	if (x->domain == NULL)
		assert_null(y->domain);
	else {
		assert_non_null(y->domain);
		assert_string_equal(x->domain, y->domain);
	}
	assert_int_equal(x->flags & ~spelling, y->flags & ~spelling);
}

static void
test_valid_paths(void **state)
{
	const char *err = NULL;
	struct addr *a;
	size_t i, n, end, want;
	int r;

	(void)state;
	for (i = 0; i < sizeof(ok_paths) / sizeof(ok_paths[0]); i++) {
		const struct ok_case *t = &ok_paths[i];

		n = strlen(t->in);
		want = t->end ? t->end : n;
		r = parse_path(t->in, n, t->flags, &a, &end, &err);
		if (r != 1)
			fail_msg("%s: %s", t->in, err);
		check_addr(a, t);
		assert_int_equal(end, want);
		check_format(a, t->canon);
		addr_free(&a);
		assert_null(a);
		/* More permissions never change a valid result. */
		r = parse_path(t->in, n, ALL_FLAGS, &a, &end, &err);
		assert_int_equal(r, 1);
		check_addr(a, t);
		addr_free(&a);
	}
}

/* Cut short anywhere before '>', a path must fail and not over-read. */
static void
test_valid_paths_cut(void **state)
{
	const char *err;
	struct addr *a;
	size_t i, k, n, end, want;

	(void)state;
	for (i = 0; i < sizeof(ok_paths) / sizeof(ok_paths[0]); i++) {
		const struct ok_case *t = &ok_paths[i];

		n = strlen(t->in);
		want = t->end ? t->end : n;
		for (k = 0; k < want; k++) {
			err = NULL;
			assert_int_equal(parse_path(t->in, k, t->flags, &a,
			    &end, &err), -1);
			assert_null(a);
			assert_non_null(err);
		}
		for (k = want; k <= n; k++) {
			assert_int_equal(parse_path(t->in, k, t->flags, &a,
			    &end, &err), 1);
			assert_int_equal(end, want);
			addr_free(&a);
		}
	}
}

static void
test_invalid_paths(void **state)
{
	const char *err;
	struct addr *a;
	size_t i, k, n, end;

	(void)state;
	for (i = 0; i < sizeof(bad_paths) / sizeof(bad_paths[0]); i++) {
		const struct bad_case *t = &bad_paths[i];

		n = t->len ? t->len : strlen(t->in);
		err = NULL;
		a = (struct addr *)&err;	/* must be reset */
		if (parse_path(t->in, n, t->flags, &a, &end, &err) != -1)
			fail_msg("accepted: %s", t->in);
		assert_null(a);
		assert_non_null(err);
		if (strcmp(err, t->err) != 0)
			fail_msg("%s: got \"%s\", want \"%s\"", t->in, err,
			    t->err);
		/* No prefix holds a '>' that ends a valid path either. */
		for (k = 0; k < n; k++)
			assert_int_equal(parse_path(t->in, k, t->flags, &a,
			    &end, &err), -1);
	}
}

static void
test_mailboxes(void **state)
{
	const char *err = NULL;
	struct addr *a;
	size_t i, k, n;
	int r;

	(void)state;
	for (i = 0; i < sizeof(ok_mailboxes) / sizeof(ok_mailboxes[0]); i++) {
		const struct ok_case *t = &ok_mailboxes[i];

		n = strlen(t->in);
		r = parse_mailbox(t->in, n, t->flags, &a, &err);
		if (r != 1)
			fail_msg("%s: %s", t->in, err);
		check_addr(a, t);
		check_format(a, t->canon);
		addr_free(&a);
		/* A prefix may be a valid mailbox itself ("a@b" of "a@bc"). */
		for (k = 0; k < n; k++) {
			r = parse_mailbox(t->in, k, t->flags, &a, &err);
			assert_true(r == 1 || r == -1);
			assert_true((r == 1) == (a != NULL));
			addr_free(&a);
		}
	}
	for (i = 0; i < sizeof(bad_mailboxes) / sizeof(bad_mailboxes[0]);
	    i++) {
		const struct bad_case *t = &bad_mailboxes[i];

		n = t->len ? t->len : strlen(t->in);
		err = NULL;
		if (parse_mailbox(t->in, n, t->flags, &a, &err) != -1)
			fail_msg("accepted: %s", t->in);
		assert_null(a);
		assert_non_null(err);
		if (strcmp(err, t->err) != 0)
			fail_msg("%s: got \"%s\", want \"%s\"", t->in, err,
			    t->err);
	}
}

/* parse -> format -> parse gives the same address, as mailbox and path. */
static void
roundtrip(const struct ok_case *t)
{
	struct buf b = BUF_INIT(0), b2 = BUF_INIT(0), path = BUF_INIT(0);
	struct addr *a, *m, *p;
	const char *err = NULL;
	size_t end;

	assert_int_equal(parse_path(t->in, strlen(t->in), t->flags, &a, &end,
	    &err), 1);
	assert_int_equal(addr_format(a, &b), 1);
	if (parse_mailbox(b.data, b.len, t->flags, &m, &err) != 1)
		fail_msg("%s -> %s: %s", t->in, buf_cstr(&b), err);
	assert_same_addr(a, m);
	assert_false(m->flags & ADDR_ROUTE);
	assert_int_equal(addr_format(m, &b2), 1);
	assert_string_equal(buf_cstr(&b), buf_cstr(&b2));
	assert_int_equal(buf_appendf(&path, "<%s>", buf_cstr(&b)), 1);
	assert_int_equal(parse_path(path.data, path.len, t->flags, &p, &end,
	    &err), 1);
	assert_int_equal(end, path.len);
	assert_same_addr(a, p);
	addr_free(&a);
	addr_free(&m);
	addr_free(&p);
	buf_free(&b);
	buf_free(&b2);
	buf_free(&path);
}

static void
test_roundtrip(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ok_paths) / sizeof(ok_paths[0]); i++)
		roundtrip(&ok_paths[i]);
}

/* "<" + prefix + count x ch + suffix + ">" into b. */
static const char *
mk(struct buf *b, const char *prefix, char ch, size_t count,
    const char *suffix)
{
	buf_reset(b);
	assert_int_equal(buf_appends(b, prefix), 1);
	while (count-- > 0)
		assert_int_equal(buf_appendc(b, ch), 1);
	assert_int_equal(buf_appends(b, suffix), 1);
	return buf_cstr(b);
}

/* count octets of domain: 49-octet labels joined by dots. */
static const char *
mkdomain(struct buf *b, const char *prefix, size_t count, const char *suffix)
{
	size_t k;

	buf_reset(b);
	assert_int_equal(buf_appends(b, prefix), 1);
	for (k = 0; k < count; k++)
		assert_int_equal(buf_appendc(b,
		    k % 50 == 49 && k + 1 < count ? '.' : 'd'), 1);
	assert_int_equal(buf_appends(b, suffix), 1);
	return buf_cstr(b);
}

static void
expect_path(const char *s, int want, const char *werr)
{
	const char *err = NULL;
	struct addr *a;
	size_t end;
	int r;

	r = parse_path(s, strlen(s), ALL_FLAGS, &a, &end, &err);
	if (r != want)
		fail_msg("len %zu: got %d (%s)", strlen(s), r,
		    err ? err : "ok");
	if (r == -1)
		assert_string_equal(err, werr);
	else
		assert_int_equal(end, strlen(s));
	addr_free(&a);
}

static void
expect_mailbox(const char *s, int want, const char *werr)
{
	const char *err = NULL;
	struct addr *a;
	int r;

	r = parse_mailbox(s, strlen(s), ALL_FLAGS, &a, &err);
	if (r != want)
		fail_msg("len %zu: got %d (%s)", strlen(s), r,
		    err ? err : "ok");
	if (r == -1)
		assert_string_equal(err, werr);
	addr_free(&a);
}

static void
test_limits(void **state)
{
	struct buf b = BUF_INIT(0);

	(void)state;
	/* Local part: 64 octets, quoted form counted as written. */
	expect_path(mk(&b, "<", 'l', 64, "@x>"), 1, NULL);
	expect_path(mk(&b, "<", 'l', 65, "@x>"), -1, "local part too long");
	expect_path(mk(&b, "<", 'l', 500, "@x>"), -1, "local part too long");
	expect_path(mk(&b, "<\"", ' ', 62, "\"@x>"), 1, NULL);
	expect_path(mk(&b, "<\"", ' ', 63, "\"@x>"), -1,
	    "local part too long");
	expect_path(mk(&b, "<\"", '\\', 62, "\"@x>"), 1, NULL);
	expect_path(mk(&b, "<\"", '\\', 64, "\"@x>"), -1,
	    "local part too long");
	expect_path(mk(&b, "<\"", 'q', 500, ""), -1, "local part too long");
	/* 63 octets then a 2-octet character. */
	expect_path(mk(&b, "<", 'l', 63, "\xc3\xa9@x>"), -1,
	    "local part too long");
	expect_path(mk(&b, "<", 'l', 62, "\xc3\xa9@x>"), 1, NULL);

	/* Labels: 63 octets when ASCII. */
	expect_path(mk(&b, "<a@", 'd', 63, ".x>"), 1, NULL);
	expect_path(mk(&b, "<a@", 'd', 64, ".x>"), -1,
	    "domain label too long");

	/* Domain: 255 octets; no path can hold that much. */
	expect_path(mkdomain(&b, "<a@", 255, ">"), -1, "path too long");
	expect_mailbox(mkdomain(&b, "a@", 255, ""), -1, "address too long");
	expect_path(mkdomain(&b, "<a@", 256, ">"), -1, "domain too long");
	expect_mailbox(mkdomain(&b, "a@", 256, ""), -1, "domain too long");
	expect_path(mkdomain(&b, "<a@", 2000, ">"), -1, "domain too long");
	expect_path(mk(&b, "<a@[", '1', 300, "]>"), -1, "domain too long");

	/* Path: 256 octets with the brackets; mailbox: 254. */
	expect_path(mkdomain(&b, "<" "llllllllllllllllllllllllllllllll"
	    "llllllllllllllllllllllllllllllll@", 189, ">"), 1, NULL);
	expect_path(mkdomain(&b, "<" "llllllllllllllllllllllllllllllll"
	    "llllllllllllllllllllllllllllllll@", 190, ">"), -1,
	    "path too long");
	expect_mailbox(mkdomain(&b, "llllllllllllllllllllllllllllllll"
	    "llllllllllllllllllllllllllllllll@", 189, ""), 1, NULL);
	expect_mailbox(mkdomain(&b, "llllllllllllllllllllllllllllllll"
	    "llllllllllllllllllllllllllllllll@", 190, ""), -1,
	    "address too long");
	/* The route counts towards the path. */
	expect_path(mkdomain(&b, "<@", 249, ":a@b>"), 1, NULL);
	expect_path(mkdomain(&b, "<@", 250, ":a@b>"), -1, "path too long");
	buf_reset(&b);
	assert_int_equal(buf_appendc(&b, '<'), 1);
	while (b.len < 1000)
		assert_int_equal(buf_appends(&b, "@r,"), 1);
	assert_int_equal(buf_appends(&b, "@r:a@b>"), 1);
	expect_path(buf_cstr(&b), -1, "path too long");
	buf_free(&b);
}

static void
test_utf8_labels(void **state)
{
	struct buf b = BUF_INIT(0);
	size_t k;

	(void)state;
	/* 40 two-octet characters: an 80-octet U-label is fine. */
	buf_reset(&b);
	assert_int_equal(buf_appends(&b, "<a@"), 1);
	for (k = 0; k < 40; k++)
		assert_int_equal(buf_appends(&b, "\xc3\xa9"), 1);
	assert_int_equal(buf_appends(&b, ".x>"), 1);
	expect_path(buf_cstr(&b), 1, NULL);
	/* 130 of them: too long as a domain. */
	buf_reset(&b);
	assert_int_equal(buf_appends(&b, "<a@"), 1);
	for (k = 0; k < 130; k++)
		assert_int_equal(buf_appends(&b, "\xc3\xa9"), 1);
	assert_int_equal(buf_appends(&b, ">"), 1);
	expect_path(buf_cstr(&b), -1, "domain too long");
	buf_free(&b);
}

static void
test_format(void **state)
{
	struct addr a = { NULL, NULL, 0 };
	struct buf b = BUF_INIT(12);

	(void)state;
	a.local = (char *)"x";
	a.domain = (char *)"example";
	/* Fits exactly (9 of 12), then appends nothing when it cannot. */
	assert_int_equal(addr_format(&a, &b), 1);
	assert_string_equal(buf_cstr(&b), "x@example");
	assert_int_equal(addr_format(&a, &b), -1);
	assert_string_equal(buf_cstr(&b), "x@example");
	buf_reset(&b);
	a.local = (char *)"a b\"c\\";
	a.domain = (char *)"d";
	assert_int_equal(addr_format(&a, &b), 1);
	assert_string_equal(buf_cstr(&b), "\"a b\\\"c\\\\\"@d");
	buf_reset(&b);
	/* Re-quoted because not a dot-string, whatever the flags say. */
	a.local = (char *)"a..b";
	a.flags = 0;
	assert_int_equal(addr_format(&a, &b), 1);
	assert_string_equal(buf_cstr(&b), "\"a..b\"@d");
	buf_reset(&b);
	a.local = (char *)"";
	assert_int_equal(addr_format(&a, &b), 1);
	assert_string_equal(buf_cstr(&b), "\"\"@d");
	buf_reset(&b);
	a.local = (char *)"";
	a.domain = NULL;
	a.flags = ADDR_NULL;
	assert_int_equal(addr_format(&a, &b), 1);
	assert_string_equal(buf_cstr(&b), "");
	a.local = (char *)"Postmaster";
	a.flags = 0;
	assert_int_equal(addr_format(&a, &b), 1);
	assert_string_equal(buf_cstr(&b), "Postmaster");
	buf_free(&b);
}

static void
test_domain_eq(void **state)
{
	(void)state;
	assert_int_equal(addr_domain_eq("Example.COM", "example.com"), 1);
	assert_int_equal(addr_domain_eq("example.com", "example.co"), 0);
	assert_int_equal(addr_domain_eq("example.co", "example.com"), 0);
	assert_int_equal(addr_domain_eq("", ""), 1);
	assert_int_equal(addr_domain_eq("[IPv6:::1]", "[ipv6:::1]"), 1);
	/* Only ASCII folds. */
	assert_int_equal(addr_domain_eq("\xc3\x9c", "\xc3\xbc"), 0);
	assert_int_equal(addr_domain_eq("\xc3\xbc.X", "\xc3\xbc.x"), 1);
	assert_int_equal(addr_domain_eq(NULL, NULL), 1);
	assert_int_equal(addr_domain_eq(NULL, "a"), 0);
	assert_int_equal(addr_domain_eq("a", NULL), 0);
}

static void
test_free_null(void **state)
{
	struct addr *a = NULL;

	(void)state;
	addr_free(&a);
	addr_free(NULL);
	assert_null(a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_paths),
		cmocka_unit_test(test_valid_paths_cut),
		cmocka_unit_test(test_invalid_paths),
		cmocka_unit_test(test_mailboxes),
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_utf8_labels),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_domain_eq),
		cmocka_unit_test(test_free_null),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
