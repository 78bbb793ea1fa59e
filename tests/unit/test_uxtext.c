/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * Unit tests for uxtext, RFC 6533's utf-8 address forms: encoding to
 * utf-8-addr-xtext and -unitext, decoding both, the HEXPOINT rules (each
 * non-canonical form refused), malformed UTF-8, round trips, and a failure
 * leaving the output buffer as it was.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "lib/buf.h"
#include "lib/uxtext.h"

static void
enc(const char *in, int unitext, const char *want)
{
	struct buf b = BUF_INIT(0);

	(void)buf_appends(&b, "x;");
	assert_int_equal(uxtext_encode(&b, in, strlen(in), unitext), 1);
	assert_string_equal(b.data + 2, want);
	buf_free(&b);
}

static void
dec(const char *in, const char *want)
{
	struct buf b = BUF_INIT(0);

	assert_int_equal(uxtext_decode(&b, in, strlen(in)), 1);
	assert_string_equal(buf_cstr(&b), want);
	buf_free(&b);
}

static void
dec_bad(const char *in)
{
	struct buf b = BUF_INIT(0);

	(void)buf_appends(&b, "keep");
	if (uxtext_decode(&b, in, strlen(in)) != -1)
		fail_msg("decoded \"%s\" to \"%s\"", in, b.data);
	assert_string_equal(b.data, "keep");
	buf_free(&b);
}

static void
test_encode(void **state)
{
	(void)state;
	enc("plain@example.org", 0, "plain@example.org");
	/* U+00E9, U+00FC, U+4E2D, U+1F600; the four specials; SP. */
	enc("pel\xc3\xa9@b\xc3\xbcro.example", 0,
	    "pel\\x{E9}@b\\x{FC}ro.example");
	enc("\xe4\xb8\xad@\xf0\x9f\x98\x80.example", 0,
	    "\\x{4E2D}@\\x{1F600}.example");
	enc("a+b=c\\d@x", 0, "a\\x{2B}b\\x{3D}c\\x{5C}d@x");
	enc("\"a b\"@x", 0, "\"a\\x{20}b\"@x");
	enc("\x7f\x01", 0, "\\x{7F}\\x{01}");
	/* unitext: non-ASCII as it is; the specials still encoded. */
	enc("pel\xc3\xa9+x@b\xc3\xbcro.example", 1,
	    "pel\xc3\xa9\\x{2B}x@b\xc3\xbcro.example");
	enc("\xf0\x9f\x98\x80", 1, "\xf0\x9f\x98\x80");
}

static void
test_encode_bad(void **state)
{
	static const char *const bad[] = {
		"", "\xc3", "\xc3\x28", "\xc0\xaf", "\xed\xa0\x80",
		"\xf4\x90\x80\x80", "\x80", "a\xff",
	};
	struct buf b = BUF_INIT(0);
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		buf_reset(&b);
		(void)buf_appends(&b, "keep");
		assert_int_equal(uxtext_encode(&b, bad[i], strlen(bad[i]), 0),
		    -1);
		assert_int_equal(uxtext_encode(&b, bad[i], strlen(bad[i]), 1),
		    -1);
		assert_string_equal(b.data, "keep");
	}
	/* An embedded NUL. */
	assert_int_equal(uxtext_encode(&b, "a\0b", 3, 0), -1);
	/* The buffer's maximum. */
	buf_free(&b);
	buf_init(&b, 8);
	assert_int_equal(uxtext_encode(&b, "\xc3\xa9\xc3\xa9", 4, 0), -1);
	assert_int_equal(b.len, 0);
	assert_int_equal(uxtext_encode(&b, "\xc3\xa9", 2, 0), 1);
	buf_free(&b);
}

static void
test_decode(void **state)
{
	(void)state;
	dec("plain@example.org", "plain@example.org");
	dec("pel\\x{E9}@b\\x{FC}ro.example", "pel\xc3\xa9@b\xc3\xbcro.example");
	dec("\\x{4E2D}@\\x{1F600}.example", "\xe4\xb8\xad@\xf0\x9f\x98\x80"
	    ".example");
	dec("a\\x{2B}b\\x{3D}c\\x{5C}d@x", "a+b=c\\d@x");
	dec("\"a\\x{20}b\"@x", "\"a b\"@x");
	dec("\\x{10FFFF}\\x{100}\\x{FFFF}\\x{10000}", "\xf4\x8f\xbf\xbf"
	    "\xc4\x80\xef\xbf\xbf\xf0\x90\x80\x80");
	/* unitext: raw UTF-8 next to encoded characters. */
	dec("pel\xc3\xa9\\x{2B}x@b\xc3\xbcro.example",
	    "pel\xc3\xa9+x@b\xc3\xbcro.example");
}

static void
test_decode_bad(void **state)
{
	static const char *const bad[] = {
		"",			/* 1*( ... ) */
		"a b@x",		/* raw SP */
		"a+b@x", "a=b@x",	/* xtext specials raw */
		"a\\b@x", "a\\", "a\\x", "a\\x{", "a\\x{E9", "a\\x{}",
		"a\\x{e9}",		/* lowercase */
		"a\\x{E}",		/* one digit */
		"a\\x{41}",		/* "A" has a literal form */
		"a\\x{00}",		/* NUL */
		"a\\x{0E9}", "a\\x{00E9}",	/* leading zeros */
		"a\\x{0FF}",
		"a\\x{D800}", "a\\x{DFFF}",	/* surrogates */
		"a\\x{110000}", "a\\x{1000000}",
		"a\\x{09}", "a\\x{7F}", "a\\x{1F}",	/* controls */
		"a\tb", "a\x7f",
		"a\xc3", "a\xc3\x28", "\xc0\xaf", "\xed\xa0\x80",
		"a\\X{E9}", "a\\x(E9)",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		dec_bad(bad[i]);
}

/* decode(encode(s)) == s for both forms. */
static void
test_round_trip(void **state)
{
	static const char *const in[] = {
		"a@b", "pel\xc3\xa9+tag=x\\y@b\xc3\xbcro.example",
		"\"quoted local\"@\xe4\xb8\xad.example",
		"\xf0\x9f\x98\x80@\xf0\x9f\x98\x80",
	};
	struct buf e = BUF_INIT(0), d = BUF_INIT(0);
	size_t i;
	int u;

	(void)state;
	for (i = 0; i < sizeof(in) / sizeof(in[0]); i++)
		for (u = 0; u < 2; u++) {
			buf_reset(&e);
			buf_reset(&d);
			assert_int_equal(uxtext_encode(&e, in[i],
			    strlen(in[i]), u), 1);
			if (!u)
				assert_int_equal(uxtext_is_utf8(e.data,
				    e.len), 0);	/* 7-bit */
			assert_int_equal(uxtext_decode(&d, e.data, e.len), 1);
			assert_string_equal(buf_cstr(&d), in[i]);
		}
	buf_free(&e);
	buf_free(&d);
}

static void
test_is_utf8(void **state)
{
	(void)state;
	assert_int_equal(uxtext_is_utf8("abc", 3), 0);	/* ASCII only */
	assert_int_equal(uxtext_is_utf8("a\xc3\xa9", 3), 1);
	assert_int_equal(uxtext_is_utf8("a\xc3", 2), 0);
	assert_int_equal(uxtext_is_utf8("\xe9t\xe9", 3), 0);	/* Latin-1 */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode),
		cmocka_unit_test(test_encode_bad),
		cmocka_unit_test(test_decode),
		cmocka_unit_test(test_decode_bad),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_is_utf8),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
