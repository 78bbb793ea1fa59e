/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * Unit tests for the 8BITMIME downgrade (src/relay/downgrade.c): every
 * converted message goes through the invariants of
 * tests/fuzz/downgrade_check.h (7-bit, same structure, valid QP decoding
 * to the original octets, everything else identical), and the exact
 * output is checked where the bytes matter: CTE field replaced or added,
 * MIME-Version for non-MIME messages, composite encodings set to 7bit,
 * the part numbers reported, and the refusals (8-bit header fields,
 * preamble, an already-encoded body).
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
#include "lib/mime.h"
#include "relay/downgrade.h"

#include "../fuzz/downgrade_check.h"

/* Converts s; asserts the result r and, for DONE, the invariants. */
static void
conv(const char *s, enum downgrade_result want, struct buf *out,
    struct downgrade_info *info)
{
	enum downgrade_result r;
	const char *e;

	r = downgrade_8bit(s, strlen(s), out, info);
	if (r != want)
		fail_msg("result %d, want %d (why: %s) for:\n%s", r, want,
		    info->why ? info->why : "-", s);
	if (r == DOWNGRADE_DONE && (e = dg_check(s, strlen(s), out->data,
	    out->len)) != NULL)
		fail_msg("%s:\n%.*s", e, (int)out->len, out->data);
	if (r != DOWNGRADE_DONE)
		assert_int_equal(out->len, 0);
}

static void
test_7bit_same(void **state)
{
	struct buf out = BUF_INIT(0);
	struct downgrade_info info;
	const char *m = "Subject: plain\r\nContent-Transfer-Encoding: 8bit\r\n"
	    "\r\nOnly ASCII here.\r\n";

	(void)state;
	downgrade_info_init(&info);
	conv(m, DOWNGRADE_SAME, &out, &info);
	assert_int_equal(info.nparts, 0);
	assert_int_equal(downgrade_has_8bit(m, strlen(m)), 0);
	assert_int_equal(downgrade_has_8bit("a\xe9", 2), 1);
	downgrade_info_free(&info);
	buf_free(&out);
}

static void
test_simple_replace(void **state)
{
	struct buf out = BUF_INIT(0);
	struct downgrade_info info;
	const char *m = "From: a@x\r\nMIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding:\r\n 8bit\r\nSubject: s\r\n\r\n"
	    "caf\xc3\xa9 =\r\ntrailing space \r\ntab\t\r\n.dot\r\n"
	    "From here\r\n";
	const char *want = "From: a@x\r\nMIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\nSubject: s\r\n"
	    "\r\ncaf=C3=A9 =3D\r\ntrailing space=20\r\ntab=09\r\n=2Edot\r\n"
	    "=46rom here\r\n";

	(void)state;
	downgrade_info_init(&info);
	conv(m, DOWNGRADE_DONE, &out, &info);
	assert_int_equal(out.len, strlen(want));
	assert_memory_equal(out.data, want, out.len);
	assert_int_equal(info.nparts, 1);
	assert_string_equal(buf_cstr(&info.parts), "1");
	downgrade_info_free(&info);
	buf_free(&out);
}

static void
test_add_headers(void **state)
{
	struct buf out = BUF_INIT(0);
	struct downgrade_info info;

	(void)state;
	downgrade_info_init(&info);
	/* Not MIME: MIME-Version, Content-Type and the CTE are added. */
	conv("Subject: x\r\n\r\n\xe9t\xe9\r\n", DOWNGRADE_DONE, &out, &info);
	assert_string_equal(buf_cstr(&out), "Subject: x\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=unknown-8bit\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n=E9t=E9\r\n");
	/* MIME without CTE: only the CTE; two CTE fields: one left. */
	conv("MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n\xff\r\n",
	    DOWNGRADE_DONE, &out, &info);
	assert_string_equal(buf_cstr(&out), "MIME-Version: 1.0\r\n"
	    "Content-Type: text/plain\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n=FF\r\n");
	conv("MIME-Version: 1.0\r\ncontent-transfer-encoding: 8bit\r\n"
	    "X: y\r\nContent-Transfer-Encoding: binary\r\n\r\n\xff\r\n",
	    DOWNGRADE_DONE, &out, &info);
	assert_string_equal(buf_cstr(&out), "MIME-Version: 1.0\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\nX: y\r\n"
	    "\r\n=FF\r\n");
	/* A header without any field. */
	conv("\r\n\xff\r\n", DOWNGRADE_DONE, &out, &info);
	assert_string_equal(buf_cstr(&out), "MIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=unknown-8bit\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n=FF\r\n");
	downgrade_info_free(&info);
	buf_free(&out);
}

static void
test_long_lines_lf(void **state)
{
	struct buf out = BUF_INIT(0), m = BUF_INIT(0);
	struct downgrade_info info;
	int i;

	(void)state;
	downgrade_info_init(&info);
	(void)buf_appends(&m, "MIME-Version: 1.0\r\n\r\n");
	for (i = 0; i < 300; i++)
		(void)buf_appends(&m, i % 7 ? "\xc3\xa9-x " : "--b ");
	(void)buf_appends(&m, "\r\nend\r\n");
	conv(buf_cstr(&m), DOWNGRADE_DONE, &out, &info);
	/* LF-only lines (bare LF): encoded as binary, octets kept. */
	conv("MIME-Version: 1.0\n\ncaf\xe9\nline two \nend", DOWNGRADE_DONE,
	    &out, &info);
	assert_non_null(strstr(buf_cstr(&out), "caf=E9=0Aline two =0Aend"));
	/* No final line end, bare CR inside. */
	conv("MIME-Version: 1.0\r\n\r\n\xe9\rx\r\n\xe9", DOWNGRADE_DONE, &out,
	    &info);
	downgrade_info_free(&info);
	buf_free(&m);
	buf_free(&out);
}

#define NESTED \
	"From: a@x\r\nMIME-Version: 1.0\r\n" \
	"Content-Type: multipart/mixed; boundary=\"outer\"\r\n" \
	"Content-Transfer-Encoding: 8bit\r\n\r\n" \
	"This is the preamble.\r\n" \
	"--outer\r\n" \
	"Content-Type: multipart/alternative; boundary=inner\r\n\r\n" \
	"--inner\r\n" \
	"Content-Type: text/plain; charset=iso-8859-1\r\n" \
	"Content-Transfer-Encoding: 8bit\r\n\r\n" \
	"Gr\xfc\xdf Gott\r\n" \
	"--inner\r\n" \
	"Content-Type: text/html\r\n\r\n" \
	"<p>ascii</p>\r\n" \
	"--inner--\r\n" \
	"--outer\r\n" \
	"Content-Type: message/rfc822\r\n" \
	"Content-Transfer-Encoding: 8bit\r\n\r\n" \
	"Subject: inner\r\nMIME-Version: 1.0\r\n" \
	"Content-Type: multipart/mixed; boundary=deep\r\n\r\n" \
	"--deep\r\n" \
	"Content-Type: text/plain; charset=utf-8\r\n\r\n" \
	"\xe2\x82\xac 10\r\n" \
	"--deep\r\n" \
	"Content-Type: application/octet-stream\r\n" \
	"Content-Transfer-Encoding: base64\r\n\r\n" \
	"6eno/w==\r\n" \
	"--deep--\r\n" \
	"--outer\r\n" \
	"Content-Type: application/pdf\r\n" \
	"Content-Transfer-Encoding: base64\r\n\r\n" \
	"JVBERi0xLjQK\r\n" \
	"--outer--\r\n" \
	"epilogue\r\n"

static void
test_nested(void **state)
{
	struct buf out = BUF_INIT(0);
	struct downgrade_info info;
	const char *o;

	(void)state;
	downgrade_info_init(&info);
	conv(NESTED, DOWNGRADE_DONE, &out, &info);
	o = buf_cstr(&out);
	assert_int_equal(info.nparts, 2);
	assert_string_equal(buf_cstr(&info.parts), "1.1 2.1");
	/* The composites' 8bit became 7bit; the 8-bit leaves QP. */
	assert_non_null(strstr(o, "boundary=\"outer\"\r\n"
	    "Content-Transfer-Encoding: 7bit\r\n\r\nThis is the preamble."));
	assert_non_null(strstr(o, "iso-8859-1\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
	    "Gr=FC=DF Gott\r\n--inner\r\n"));
	assert_non_null(strstr(o, "Content-Type: message/rfc822\r\n"
	    "Content-Transfer-Encoding: 7bit\r\n\r\nSubject: inner\r\n"));
	assert_non_null(strstr(o, "charset=utf-8\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
	    "=E2=82=AC 10\r\n--deep\r\n"));
	/* The base64 parts (8-bit data, 7-bit form) are untouched. */
	assert_non_null(strstr(o, "base64\r\n\r\n6eno/w==\r\n--deep--\r\n"));
	assert_non_null(strstr(o, "--outer--\r\nepilogue\r\n"));
	assert_null(strstr(o, "MIME-Version: 1.0\r\nMIME-Version"));
	downgrade_info_free(&info);
	buf_free(&out);
}

static void
test_message_leaf(void **state)
{
	struct buf out = BUF_INIT(0);
	struct downgrade_info info;

	(void)state;
	downgrade_info_init(&info);
	/* An embedded non-MIME message gets MIME-Version inside. */
	conv("MIME-Version: 1.0\r\nContent-Type: message/rfc822\r\n\r\n"
	    "Subject: in\r\n\r\n\xe9\r\n", DOWNGRADE_DONE, &out, &info);
	assert_string_equal(buf_cstr(&info.parts), "1.1");
	assert_string_equal(buf_cstr(&out), "MIME-Version: 1.0\r\n"
	    "Content-Type: message/rfc822\r\n\r\nSubject: in\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=unknown-8bit\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n=E9\r\n");
	/* Neither the part's header nor the embedded message's ends with
	 * a blank line (found by fuzz_downgrade): both get one, or the
	 * added fields would join the outer header. */
	conv("MIME-Version: 1.0\r\nContent-Type: message/rfc822\r\n-\n"
	    "Subject: in\r\n\r\n\xe9\r\n", DOWNGRADE_DONE, &out, &info);
	assert_string_equal(buf_cstr(&out), "MIME-Version: 1.0\r\n"
	    "Content-Type: message/rfc822\r\n\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=unknown-8bit\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
	    "-=0ASubject: in=0D=0A=0D=0A=E9=0D=0A");
	downgrade_info_free(&info);
	buf_free(&out);
}

static void
test_refusals(void **state)
{
	struct buf out = BUF_INIT(0);
	struct downgrade_info info;

	(void)state;
	downgrade_info_init(&info);
	conv("Subject: caf\xc3\xa9\r\n\r\nbody\r\n", DOWNGRADE_HDR_8BIT, &out,
	    &info);
	/* 8-bit in an embedded message's header, or a part's. */
	conv("MIME-Version: 1.0\r\nContent-Type: message/rfc822\r\n\r\n"
	    "Subject: \xe9\r\n\r\nx\r\n", DOWNGRADE_HDR_8BIT, &out, &info);
	conv("Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
	    "Content-Description: \xe9\r\n\r\nx\r\n--b--\r\n",
	    DOWNGRADE_HDR_8BIT, &out, &info);
	/* 8-bit preamble: nothing may encode it. */
	conv("Content-Type: multipart/mixed; boundary=b\r\n\r\n\xe9\r\n--b\r\n"
	    "\r\nx\r\n--b--\r\n", DOWNGRADE_CANNOT, &out, &info);
	assert_non_null(strstr(info.why, "preamble"));
	/* Raw 8-bit in a body declared QP or base64. */
	conv("MIME-Version: 1.0\r\nContent-Transfer-Encoding: base64\r\n\r\n"
	    "\xe9\r\n", DOWNGRADE_CANNOT, &out, &info);
	assert_non_null(strstr(info.why, "already declared base64"));
	downgrade_info_free(&info);
	buf_free(&out);
}

/* Raw 8-bit octets in a body declared QP: decoded and encoded again. */
static void
test_requote(void **state)
{
	struct buf out = BUF_INIT(0);
	struct downgrade_info info;

	(void)state;
	downgrade_info_init(&info);
	conv("MIME-Version: 1.0\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
	    "caf\xe9 =E9t=\r\n=E9 \r\n", DOWNGRADE_DONE, &out, &info);
	assert_string_equal(buf_cstr(&out), "MIME-Version: 1.0\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
	    "caf=E9 =E9t=E9\r\n");
	assert_string_equal(buf_cstr(&info.parts), "1");
	downgrade_info_free(&info);
	buf_free(&out);
}

/*
 * The safety net (found by fuzz_downgrade): a boundary holding a CR and a
 * header without its blank line make the converted form parse into
 * another tree; it is refused, never sent.
 */
static void
test_safety_net(void **state)
{
	static const char m[] = "MIME-Versi2on: 1.0\r\n"
	    "Content-Type: multipart/mixed; boundary=\"outer\r\"\n"
	    "nCotent-Transfer-EncodinContent-MD5:re\r\n"
	    "--outer\r\n"
	    "--outer\r\n"
	    "Content-Type: multipart/alternative; boundary=inner\r\n"
	    "\r\n"
	    "--i\n"
	    "\rt-Type: multipart/\xba""iked; bo\n"
	    "<p>x</p>\r\n"
	    "--inContent-Type: mult>\r\n"
	    "--inner--\r\n"
	    "--outer\r\n"
	    "CCzonte7bit\r\n"
	    "-\n"
	    "Subject: \x97""\x91""\xf2""\xf5""\xf2""oansfer-nsfer-Enn: 1.0";
	struct buf out = BUF_INIT(0);
	struct downgrade_info info;

	(void)state;
	downgrade_info_init(&info);
	assert_int_equal(downgrade_8bit(m, sizeof(m) - 1, &out, &info),
	    DOWNGRADE_CANNOT);
	assert_non_null(strstr(info.why, "would not read as the original"));
	assert_int_equal(out.len, 0);
	downgrade_info_free(&info);
	buf_free(&out);
}

/* The QP checker itself must catch what it claims to. */
static void
test_checker(void **state)
{
	(void)state;
	assert_null(dg_check_qp("a=3D=\r\nb\r\n", 10));
	assert_non_null(dg_check_qp("a \r\n", 4));
	assert_non_null(dg_check_qp("a=3\r\n", 5));
	assert_non_null(dg_check_qp("a=e9\r\n", 6));
	assert_non_null(dg_check_qp("\xe9", 1));
	assert_non_null(dg_check_qp(
	    "01234567890123456789012345678901234567890123456789"
	    "012345678901234567890123456\r\n", 79));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_7bit_same),
		cmocka_unit_test(test_simple_replace),
		cmocka_unit_test(test_add_headers),
		cmocka_unit_test(test_long_lines_lf),
		cmocka_unit_test(test_nested),
		cmocka_unit_test(test_message_leaf),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_requote),
		cmocka_unit_test(test_safety_net),
		cmocka_unit_test(test_checker),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
