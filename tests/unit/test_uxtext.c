/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * Unit tests for uxtext, RFC 6533's utf-8 address forms: encoding to
 * utf-8-addr-xtext and -unitext, decoding both, the HEXPOINT rules (each
 * non-canonical form refused), malformed UTF-8 and controls, round trips,
 * a failure leaving the output buffer as it was; and a stored ORCPT made
 * into an ORCPT parameter and an Original-Recipient field: every result
 * valid (checked by decoding it back), never encoded twice, or refused.
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
		/* Controls: most have no HEXPOINT (0A-0F, 1A-1F), and the
		 * decoder refuses all of them. */
		"\x7f\x01", "a\nb", "a\rb", "\tx", "a\x1b", "a\x0f",
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

/* RFC 3461 4 xtext, decoded (strict, uppercase hex), or NULL. */
static char *
xtext_dec(const char *s)
{
	struct buf b = BUF_INIT(0);
	unsigned h;

	for (; *s != '\0'; s++) {
		if (*s == '+') {
			if (sscanf(s + 1, "%2X", &h) != 1 || s[1] == '\0' ||
			    s[2] == '\0' || !strchr("0123456789ABCDEF", s[1]) ||
			    !strchr("0123456789ABCDEF", s[2]))
				fail_msg("bad hexchar in %s", s);
			(void)buf_appendc(&b, (char)h);
			s += 2;
		} else {
			assert_true(*s >= '!' && *s <= '~' && *s != '=');
			(void)buf_appendc(&b, *s);
		}
	}
	return buf_steal(&b);
}

/*
 * uxtext_orcpt_param(stored, unitext) gives want (NULL: refused, b left
 * as it was, with a reason), and want is valid: the type an atom, the
 * rest xtext, a utf-8 one decodes (uxtext_decode) to addr.
 */
static void
param(const char *stored, int unitext, const char *want, const char *addr)
{
	struct buf b = BUF_INIT(0), d = BUF_INIT(0);
	const char *why = NULL, *semi;
	char *x;

	(void)buf_appends(&b, "keep");
	if (want == NULL) {
		if (uxtext_orcpt_param(&b, stored, unitext, &why) != -1)
			fail_msg("%s: gave %s", stored, b.data);
		assert_string_equal(b.data, "keep");
		assert_non_null(why);
		buf_free(&b);
		return;
	}
	if (uxtext_orcpt_param(&b, stored, unitext, &why) != 1)
		fail_msg("%s: refused: %s", stored, why);
	assert_string_equal(b.data + 4, want);
	assert_true(strlen(want) <= UXTEXT_ORCPT_MAX);
	semi = strchr(want, ';');
	assert_non_null(semi);
	if (strncmp(want, "utf-8;", 6) == 0) {
		if (!unitext) {
			x = xtext_dec(semi + 1);	/* valid xtext too */
			assert_string_equal(x, semi + 1);
			free(x);
		}
		assert_int_equal(uxtext_decode(&d, semi + 1, strlen(semi + 1)),
		    1);
		assert_string_equal(buf_cstr(&d), addr);
	} else {
		x = xtext_dec(semi + 1);
		assert_string_equal(x, addr);
		free(x);
	}
	buf_free(&b);
	buf_free(&d);
}

static void
test_orcpt_param(void **state)
{
	struct buf big = BUF_INIT(0);
	int i;

	(void)state;
	/* xtext specials and spaces of another type: +HH. */
	param("rfc822;a+b=c@x", 0, "rfc822;a+2Bb+3Dc@x", "a+b=c@x");
	param("rfc822;\"a b\"@x", 1, "rfc822;\"a+20b\"@x", "\"a b\"@x");
	param("x-local;\\weird@x", 0, "x-local;\\weird@x", "\\weird@x");
	/* Octets that are not UTF-8 stay xtext under their type. */
	param("rfc822;\xe9t\xe9@x", 0, "rfc822;+E9t+E9@x", "\xe9t\xe9@x");
	/* The utf-8 type, and UTF-8 under another: never "+HH". */
	param("utf-8;a+b=c d\\e@x", 0,
	    "utf-8;a\\x{2B}b\\x{3D}c\\x{20}d\\x{5C}e@x", "a+b=c d\\e@x");
	param("UTF-8;j\xc3\xb6rg@b\xc3\xbcro.example", 0,
	    "utf-8;j\\x{F6}rg@b\\x{FC}ro.example",
	    "j\xc3\xb6rg@b\xc3\xbcro.example");
	param("utf-8;j\xc3\xb6rg+x@b\xc3\xbcro.example", 1,
	    "utf-8;j\xc3\xb6rg\\x{2B}x@b\xc3\xbcro.example",
	    "j\xc3\xb6rg+x@b\xc3\xbcro.example");
	param("rfc822;\xe4\xb8\xad@x", 0, "utf-8;\\x{4E2D}@x",
	    "\xe4\xb8\xad@x");
	/* The encoded form older spool files hold: decoded first, once. */
	param("utf-8;j\\x{F6}rg\\x{2B}x@b\\x{FC}ro.example", 0,
	    "utf-8;j\\x{F6}rg\\x{2B}x@b\\x{FC}ro.example",
	    "j\xc3\xb6rg+x@b\xc3\xbcro.example");
	param("utf-8;j\\x{F6}rg@x", 1, "utf-8;j\xc3\xb6rg@x",
	    "j\xc3\xb6rg@x");
	/* ... also with the SP, "+" and "=" a client sent as +20, +2B, +3D
	 * then (xtext-decoded by that smtpd). */
	param("utf-8;\"j\\x{F6} r\"+g=1@x", 0,
	    "utf-8;\"j\\x{F6}\\x{20}r\"\\x{2B}g\\x{3D}1@x",
	    "\"j\xc3\xb6 r\"+g=1@x");
	/* ... but a backslash that is no encoding is a backslash. */
	param("utf-8;\"a\\\\x{f6}\"@x", 0,
	    "utf-8;\"a\\x{5C}\\x{5C}x{f6}\"@x", "\"a\\\\x{f6}\"@x");
	/* No valid form: refused, never "utf-8;" with +HH or empty. */
	param("utf-8;a\xff@x", 0, NULL, NULL);
	param("utf-8;a\xff@x", 1, NULL, NULL);
	param("utf-8;a\x01@x", 0, NULL, NULL);
	param("utf-8;", 0, NULL, NULL);
	param("rfc822;", 0, NULL, NULL);
	param(";a@x", 0, NULL, NULL);
	param("rfc 822;a@x", 0, NULL, NULL);
	param("a@x", 0, NULL, NULL);
	/* Length: 500 is the most (RFC 3461 4.2). */
	(void)buf_appends(&big, "rfc822;");
	for (i = 0; i < 493; i++)
		(void)buf_appendc(&big, 'a');
	param(big.data, 0, big.data, big.data + 7);
	(void)buf_appendc(&big, 'a');
	param(big.data, 0, NULL, NULL);
	/* 100 x U+00E9 is 200 octets but 600 once encoded. */
	buf_reset(&big);
	(void)buf_appends(&big, "utf-8;");
	for (i = 0; i < 100; i++)
		(void)buf_appends(&big, "\xc3\xa9");
	param(big.data, 0, NULL, NULL);
	buf_free(&big);
}

static void
field(const char *stored, int global, const char *want)
{
	struct buf b = BUF_INIT(0);
	const char *why = NULL;

	(void)buf_appends(&b, "keep");
	if (want == NULL) {
		if (uxtext_orcpt_field(&b, stored, global, &why) != -1)
			fail_msg("%s: gave %s", stored, b.data);
		assert_string_equal(b.data, "keep");
		assert_non_null(why);
	} else {
		if (uxtext_orcpt_field(&b, stored, global, &why) != 1)
			fail_msg("%s: refused: %s", stored, why);
		assert_string_equal(b.data + 4, want);
	}
	buf_free(&b);
}

static void
test_orcpt_field(void **state)
{
	(void)state;
	field("rfc822;a+b=c@x", 0, "rfc822;a+b=c@x");
	field("rfc822;a+b=c@x", 1, "rfc822;a+b=c@x");
	field("utf-8;a+b@x", 0, "utf-8;a\\x{2B}b@x");
	field("utf-8;a+b@x", 1, "utf-8;a+b@x");
	field("rfc822;j\xc3\xb8rgen@x", 0, "utf-8;j\\x{F8}rgen@x");
	field("rfc822;j\xc3\xb8rgen@x", 1, "utf-8;j\xc3\xb8rgen@x");
	/* The old encoded form: once in 7 bits, decoded in a global one. */
	field("utf-8;j\\x{F6}rg\\x{2B}x@x", 0, "utf-8;j\\x{F6}rg\\x{2B}x@x");
	field("utf-8;j\\x{F6}rg\\x{2B}x@x", 1, "utf-8;j\xc3\xb6rg+x@x");
	/* No form in a DSN. */
	field("rfc822;\xe9t\xe9@x", 0, NULL);
	field("rfc822;\xe9t\xe9@x", 1, NULL);
	field("utf-8;a\xff@x", 1, NULL);
	field("utf-8;a\x7f@x", 0, NULL);
	field("utf-8;", 0, NULL);
	field("x y;a@x", 0, NULL);
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
		cmocka_unit_test(test_orcpt_param),
		cmocka_unit_test(test_orcpt_field),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
