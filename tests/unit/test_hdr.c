/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * Unit tests for hdr: header field lookup with unfolding, and RFC 5322
 * address-list extraction, including every truncation of valid inputs.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/buf.h"
#include "lib/hdr.h"

struct collect {
	struct buf	b;
	int		stop_after;
};

static int
collect(void *arg, const char *a, size_t n)
{
	struct collect *c = arg;

	if (c->b.len > 0)
		(void)buf_appendc(&c->b, '|');
	(void)buf_append(&c->b, a, n);
	return --c->stop_after == 0 ? -1 : 1;
}

/* Runs hdr_addresses on a heap copy of exactly strlen(v) bytes. */
static int
addrs(const char *v, struct buf *out, int stop_after)
{
	struct collect c = { BUF_INIT(0), stop_after };
	size_t n = strlen(v);
	char *copy = malloc(n ? n : 1);
	int r;

	memcpy(copy, v, n);
	r = hdr_addresses(copy, n, collect, &c);
	free(copy);
	buf_reset(out);
	(void)buf_append(out, buf_cstr(&c.b), c.b.len);
	buf_free(&c.b);
	return r;
}

static void
test_addresses(void **state)
{
	static const struct {
		const char *in;
		int count;
		const char *out;
	} cases[] = {
		{ " alice@example.test", 1, "alice@example.test" },
		{ " Alice <alice@example.test>", 1, "alice@example.test" },
		{ " \"Doe, John\" <john@x.test>, bob@y.test", 2,
		  "john@x.test|bob@y.test" },
		{ " bob@y.test (Bob, the builder)", 1, "bob@y.test" },
		{ " (c) <a@b.test> (d)", 1, "a@b.test" },
		{ " \"quoted local\"@b.test", 1, "\"quoted local\"@b.test" },
		{ " team: a@b.test, c@d.test;, e@f.test", 3,
		  "a@b.test|c@d.test|e@f.test" },
		{ " undisclosed-recipients:;", 0, "" },
		{ " a@[IPv6:2001:db8::1]", 1, "a@[IPv6:2001:db8::1]" },
		{ " \"<fake@evil.test>\" <real@ok.test>", 1, "real@ok.test" },
		{ " a@b.test, , c@d.test", 2, "a@b.test|c@d.test" },
		{ " Name (comment \\) still) <x@y.test>", 1, "x@y.test" },
		{ " =?utf-8?q?J=C3=B6rg?= <j@x.test>", 1, "j@x.test" },
		{ " \xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b.test", 1,
		  "\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b.test" },
	};
	static const char *const bad[] = {
		" <a@b.test", " a@b.test>", " \"unterminated <a@b.test>",
		" (open comment a@b.test", " just-a-name", " a@[1.2.3.4",
		" Name <>",
	};
	struct buf out = BUF_INIT(0);
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(addrs(cases[i].in, &out, 0), cases[i].count);
		assert_string_equal(buf_cstr(&out), cases[i].out);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(addrs(bad[i], &out, 0), -1);
	/* The callback can stop the walk. */
	assert_int_equal(addrs(" a@b.test, c@d.test, e@f.test", &out, 1), 1);
	assert_string_equal(buf_cstr(&out), "a@b.test");
	buf_free(&out);
}

/* HDR_ADDR_UNQUALIFIED: bare local parts pass (estafeta-sendmail -t);
 * without the flag the same list is malformed. */
static void
test_unqualified(void **state)
{
	static const char v[] = "root, Web <www-data>, \"a b\", x@y.example";
	struct collect c = { BUF_INIT(0), 0 };

	(void)state;
	assert_int_equal(hdr_addresses_flags(v, strlen(v),
	    HDR_ADDR_UNQUALIFIED, collect, &c), 4);
	assert_string_equal(buf_cstr(&c.b),
	    "root|www-data|\"a b\"|x@y.example");
	assert_int_equal(hdr_addresses(v, strlen(v), collect, &c), -1);
	buf_free(&c.b);
}

static void
test_truncations(void **state)
{
	static const char v[] = " \"Doe, J\" <j@x.test> (c), g: a@[IPv6:::1];";
	struct collect c = { BUF_INIT(0), 0 };
	size_t n;
	char *copy;

	(void)state;
	/* Every prefix: no crash, no over-read (ASan), any result. */
	for (n = 0; n <= sizeof(v) - 1; n++) {
		copy = malloc(n ? n : 1);
		memcpy(copy, v, n);
		(void)hdr_addresses(copy, n, collect, &c);
		free(copy);
		buf_reset(&c.b);
	}
	buf_free(&c.b);
}

static void
test_field(void **state)
{
	static const char h[] =
	    "Received: from x\r\n"
	    "From: Alice\r\n"
	    " <alice@example.test>\r\n"
	    "To: bob@example.test\r\n"
	    "from: second@example.test\r\n"
	    "From-Extra: no@example.test\r\n"
	    "\r\n"
	    "From: body@example.test\r\n";
	struct buf out = BUF_INIT(0);
	size_t n;

	(void)state;
	assert_int_equal(hdr_field(h, sizeof(h) - 1, "From", &out), 2);
	assert_int_equal(out.len, strlen(" Alice <alice@example.test>") + 1 +
	    strlen(" second@example.test"));
	assert_string_equal(out.data, " Alice <alice@example.test>");
	assert_string_equal(out.data + strlen(out.data) + 1,
	    " second@example.test");
	buf_reset(&out);
	assert_int_equal(hdr_field(h, sizeof(h) - 1, "Subject", &out), 0);
	/* Bare LF lines work too; every prefix is safe. */
	buf_reset(&out);
	assert_int_equal(hdr_field("From: a@b\nX: y\n\nFrom: c@d\n", 24,
	    "from", &out), 1);
	for (n = 0; n < sizeof(h) - 1; n++) {
		char *copy = malloc(n ? n : 1);

		memcpy(copy, h, n);
		buf_reset(&out);
		assert_true(hdr_field(copy, n, "From", &out) >= 0);
		free(copy);
	}
	buf_free(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_addresses),
		cmocka_unit_test(test_unqualified),
		cmocka_unit_test(test_truncations),
		cmocka_unit_test(test_field),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
