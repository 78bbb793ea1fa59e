/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * Unit tests for imap_search: every RFC 3501 search key hits and misses on
 * a small set of messages (flags, sizes, dates, headers with RFC 2047
 * encoded-words, QP/base64 and ISO-8859-1 bodies, nested messages), OR,
 * NOT and groups, CHARSET handling, syntax errors, and that the message
 * text is loaded only when a key needs it (header only when enough).
 * Commands are parsed by the real IMAP parser (imap_parse.c).
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "lib/buf.h"
#include "store/imap_parse.h"
#include "store/imap_search.h"
#include "store/mstore.h"

struct tmsg {
	uint32_t	 uid;
	uint32_t	 flags;
	const char	*kw;
	const char	*date;		/* internal date, "YYYY-MM-DD HH:MM" UTC */
	const char	*text;		/* LF line ends; converted to CRLF */
};

static const struct tmsg msgs[] = {
	{ 10, MSG_SEEN | MSG_ANSWERED, "$Work", "2024-01-10 12:00",
	  "From: Alice Example <alice@example.test>\n"
	  "To: Bob <bob@example.test>\n"
	  "Cc: carol@example.test\n"
	  "Subject: Quarterly report\n"
	  "Date: Wed, 10 Jan 2024 11:22:33 +0100\n"
	  "X-Tracker: alpha\n"
	  "\n"
	  "Numbers are up.\n"
	  "Regards\n" },
	{ 11, MSG_FLAGGED | MSG_RECENT, "", "2024-02-01 08:00",
	  "From: =?ISO-8859-1?Q?J=F6rg_M=FCller?= <joerg@example.test>\n"
	  "To: alice@example.test\n"
	  "Bcc: hidden@example.test\n"
	  "Subject: =?UTF-8?B?R3LDvMOfZQ==?= and\n"
	  " folded words\n"
	  "Date: 1 Feb 24 07:00 -0800 (PST)\n"
	  "MIME-Version: 1.0\n"
	  "Content-Type: multipart/mixed; boundary=\"b1\"\n"
	  "\n"
	  "preamble is not text\n"
	  "--b1\n"
	  "Content-Type: text/plain; charset=iso-8859-1\n"
	  "Content-Transfer-Encoding: quoted-printable\n"
	  "\n"
	  "Gr=FC=DFe aus K=F6ln, soft=\n"
	  "break\n"
	  "--b1\n"
	  "Content-Type: text/html; charset=utf-8\n"
	  "Content-Transfer-Encoding: base64\n"
	  "\n"
	  "PHA+U2VjcmV0IFdPUkQ8L3A+\n"
	  "--b1\n"
	  "Content-Type: application/octet-stream\n"
	  "Content-Transfer-Encoding: base64\n"
	  "\n"
	  "aGlkZGVuYmluYXJ5\n"
	  "--b1\n"
	  "Content-Type: message/rfc822\n"
	  "\n"
	  "Subject: inner subject\n"
	  "From: inner@example.test\n"
	  "\n"
	  "inner body text\n"
	  "--b1--\n" },
	{ 15, MSG_DELETED | MSG_DRAFT | MSG_RECENT | MSG_SEEN, "$Junk $Work",
	  "2024-03-05 23:30",
	  "From: bob@example.test\n"
	  "Subject: no date here\n"
	  "\n"
	  "short\n" },
};
#define NMSGS	(sizeof(msgs) / sizeof(msgs[0]))

struct fixture {
	struct buf	 text[NMSGS];
	time_t		 idate[NMSGS];
	int		 loads_hdr, loads_whole;
	struct imap_parser *parser;
};

struct loadarg {
	struct fixture	*f;
	size_t		 i;
};

static int
load(void *arg, int whole, const char **data_r, size_t *len_r)
{
	struct loadarg *la = arg;
	const struct buf *t = &la->f->text[la->i];
	const char *p;

	if (whole) {
		la->f->loads_whole++;
		*len_r = t->len;
	} else {
		la->f->loads_hdr++;
		p = strstr(t->data, "\r\n\r\n");
		*len_r = p != NULL ? (size_t)(p - t->data) + 4 : t->len;
	}
	*data_r = t->data;
	return 1;
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct tm tm;
	size_t i;
	const char *p;

	assert_non_null(f);
	setenv("TZ", "UTC", 1);
	tzset();
	for (i = 0; i < NMSGS; i++) {
		buf_init(&f->text[i], 0);
		for (p = msgs[i].text; *p != '\0'; p++) {
			if (*p == '\n')
				assert_int_equal(buf_appendc(&f->text[i],
				    '\r'), 1);
			assert_int_equal(buf_appendc(&f->text[i], *p), 1);
		}
		memset(&tm, 0, sizeof(tm));
		assert_int_equal(sscanf(msgs[i].date, "%d-%d-%d %d:%d",
		    &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
		    &tm.tm_min), 5);
		tm.tm_year -= 1900;
		tm.tm_mon -= 1;
		f->idate[i] = timegm(&tm);
	}
	f->parser = imap_parser_new(NULL);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	size_t i;

	for (i = 0; i < NMSGS; i++)
		buf_free(&f->text[i]);
	imap_parser_free(&f->parser);
	free(f);
	return 0;
}

/* Parses "SEARCH <program>"; returns imap_search_parse's result. */
static int
parse(struct fixture *f, const char *program, struct imap_search **s_r,
    const char **err_r)
{
	struct buf line = BUF_INIT(0);
	const struct imap_cmd *cmd = NULL;
	struct imap_parse_err perr;
	enum imap_parse_result r;
	size_t used, off = 0;
	int rv;

	assert_int_equal(buf_appendf(&line, "t SEARCH %s\r\n", program), 1);
	do {
		r = imap_parser_feed(f->parser, line.data + off,
		    line.len - off, &used, &cmd, &perr);
		off += used;
	} while (r == IMAP_PARSE_LITERAL || (r == IMAP_PARSE_MORE &&
	    off < line.len));
	if (r != IMAP_PARSE_DONE)
		fail_msg("parser: %s on %s", perr.text, program);
	rv = imap_search_parse(cmd->args, cmd->nargs, s_r, err_r);
	buf_free(&line);
	return rv;
}

/* The UIDs matching program, as "10 15", or "BAD"/"NO". */
static const char *
run(struct fixture *f, const char *program)
{
	static char out[256];
	struct imap_search *s = NULL;
	struct imap_search_msg m;
	struct loadarg la;
	const char *err = NULL;
	size_t i, o = 0;
	int r;

	r = parse(f, program, &s, &err);
	if (r == -1) {
		assert_non_null(err);
		return "BAD";
	}
	if (r == 0)
		return "NO";
	imap_search_prepare(s, NMSGS, msgs[NMSGS - 1].uid);
	out[0] = '\0';
	for (i = 0; i < NMSGS; i++) {
		memset(&m, 0, sizeof(m));
		m.seq = (uint32_t)i + 1;
		m.uid = msgs[i].uid;
		m.flags = msgs[i].flags;
		m.keywords = msgs[i].kw;
		m.internaldate = f->idate[i];
		m.size = f->text[i].len;
		la.f = f;
		la.i = i;
		m.load = load;
		m.arg = &la;
		r = imap_search_match(s, &m);
		assert_true(r == 0 || r == 1);
		if (r == 1)
			o += (size_t)snprintf(out + o, sizeof(out) - o, "%s%u",
			    o ? " " : "", m.uid);
	}
	imap_search_free(&s);
	return out;
}

#define CHECK(prog, want)	assert_string_equal(run(f, prog), want)

static void
test_flags(void **state)
{
	struct fixture *f = *state;

	CHECK("ALL", "10 11 15");
	CHECK("ANSWERED", "10");
	CHECK("UNANSWERED", "11 15");
	CHECK("DELETED", "15");
	CHECK("UNDELETED", "10 11");
	CHECK("DRAFT", "15");
	CHECK("UNDRAFT", "10 11");
	CHECK("FLAGGED", "11");
	CHECK("UNFLAGGED", "10 15");
	CHECK("SEEN", "10 15");
	CHECK("UNSEEN", "11");
	CHECK("RECENT", "11 15");
	CHECK("OLD", "10");
	CHECK("NEW", "11");
	CHECK("KEYWORD $Work", "10 15");
	CHECK("keyword $junk", "15");
	CHECK("KEYWORD $Nothing", "");
	CHECK("UNKEYWORD $Work", "11");
	CHECK("UNKEYWORD $Nothing", "10 11 15");
	assert_int_equal(f->loads_hdr + f->loads_whole, 0);
}

static void
test_sets_sizes_dates(void **state)
{
	struct fixture *f = *state;
	char prog[64];

	CHECK("1", "10");
	CHECK("2:*", "11 15");
	CHECK("*", "15");
	CHECK("3:1", "10 11 15");
	CHECK("1,3", "10 15");
	CHECK("4:9", "");
	CHECK("UID 11", "11");
	CHECK("UID 12:*", "15");
	CHECK("UID 16:*", "15");
	CHECK("UID 1:10,15", "10 15");
	CHECK("UID 100", "");
	snprintf(prog, sizeof(prog), "LARGER %zu", f->text[2].len - 1);
	CHECK(prog, "10 11 15");
	snprintf(prog, sizeof(prog), "LARGER %zu", f->text[2].len);
	CHECK(prog, "10 11");
	snprintf(prog, sizeof(prog), "SMALLER %zu", f->text[2].len + 1);
	CHECK(prog, "15");
	snprintf(prog, sizeof(prog), "SMALLER %zu", f->text[2].len);
	CHECK(prog, "");
	CHECK("BEFORE 1-Feb-2024", "10");
	CHECK("BEFORE 2-Feb-2024", "10 11");
	CHECK("ON 1-Feb-2024", "11");
	CHECK("ON 01-feb-2024", "11");
	CHECK("ON \"5-Mar-2024\"", "15");
	CHECK("ON 4-Mar-2024", "");
	CHECK("SINCE 1-Feb-2024", "11 15");
	CHECK("SINCE 6-Mar-2024", "");
	assert_int_equal(f->loads_hdr + f->loads_whole, 0);
	/* Date: header, time and zone disregarded; no Date: never matches */
	CHECK("SENTON 10-Jan-2024", "10");
	CHECK("SENTON 1-Feb-2024", "11");
	CHECK("SENTBEFORE 1-Feb-2024", "10");
	CHECK("SENTSINCE 1-Feb-2024", "11");
	CHECK("SENTSINCE 11-Jan-2024", "11");
	CHECK("NOT SENTON 10-Jan-2024", "11 15");
	assert_int_equal(f->loads_whole, 0);
}

static void
test_headers(void **state)
{
	struct fixture *f = *state;

	f->loads_hdr = f->loads_whole = 0;
	CHECK("FROM alice", "10");
	CHECK("FROM ALICE@EXAMPLE", "10");
	CHECK("FROM \"Alice Example\"", "10");
	CHECK("FROM nobody", "");
	CHECK("FROM bob", "15");
	CHECK("TO bob", "10");
	CHECK("TO alice", "11");
	CHECK("CC carol", "10");
	CHECK("CC alice", "");
	CHECK("BCC hidden", "11");
	CHECK("BCC bob", "");
	CHECK("SUBJECT report", "10");
	CHECK("SUBJECT QUARTERLY", "10");
	CHECK("SUBJECT \"and folded\"", "11");
	CHECK("SUBJECT absent", "");
	/* RFC 2047 words decoded and converted to UTF-8, matched as UTF-8 */
	CHECK("CHARSET UTF-8 FROM \"J\xc3\xb6rg M\xc3\xbcller\"", "11");
	CHECK("CHARSET UTF-8 SUBJECT {6+}\r\nGr\xc3\xbc\xc3\x9f", "11");
	CHECK("HEADER X-Tracker alpha", "10");
	CHECK("HEADER x-tracker ALPHA", "10");
	CHECK("HEADER X-Tracker beta", "");
	CHECK("HEADER X-Tracker \"\"", "10");
	CHECK("HEADER Date \"\"", "10 11");
	CHECK("HEADER MIME-Version 1.0", "11");
	assert_int_equal(f->loads_whole, 0);
	assert_true(f->loads_hdr > 0);
}

static void
test_text(void **state)
{
	struct fixture *f = *state;

	CHECK("BODY \"numbers are\"", "10");
	CHECK("BODY regards", "10");
	CHECK("BODY quarterly", "");
	CHECK("TEXT quarterly", "10");
	CHECK("TEXT alice", "10 11");
	CHECK("BODY softbreak", "11");
	/* QP in ISO-8859-1 becomes UTF-8 */
	CHECK("BODY \"gr\xc3\xbc\xc3\x9f" "e aus k\xc3\xb6ln\"", "11");
	/* base64 text/html */
	CHECK("BODY \"secret word\"", "11");
	/* non-text parts and the preamble are not text */
	CHECK("BODY hiddenbinary", "");
	CHECK("BODY preamble", "");
	/* a message/rfc822 part: its header and body */
	CHECK("BODY \"inner subject\"", "11");
	CHECK("BODY \"inner body\"", "11");
	CHECK("TEXT short", "15");
	CHECK("BODY \"\"", "10 11 15");
}

static void
test_logic(void **state)
{
	struct fixture *f = *state;

	CHECK("SEEN ANSWERED", "10");
	CHECK("SEEN UNANSWERED", "15");
	CHECK("OR ANSWERED FLAGGED", "10 11");
	CHECK("OR (SEEN DELETED) FLAGGED", "11 15");
	CHECK("NOT SEEN", "11");
	CHECK("NOT NOT SEEN", "10 15");
	CHECK("NOT (SEEN ANSWERED)", "11 15");
	CHECK("OR OR 1 2 3", "10 11 15");
	CHECK("(1:2) (2:3)", "11");
	CHECK("((((FLAGGED))))", "11");
	CHECK("NOT OR FROM alice BODY secret", "15");
	CHECK("UNSEEN OR FROM alice BODY secret", "11");
	CHECK("all seen", "10 15");
}

static void
test_lazy_loading(void **state)
{
	struct fixture *f = *state;

	/* The flag fails first for two messages: only one text is read. */
	f->loads_hdr = f->loads_whole = 0;
	CHECK("BODY secret FLAGGED", "11");
	assert_int_equal(f->loads_whole, 1);
	assert_int_equal(f->loads_hdr, 0);
	/* Header keys read only headers; several keys, one read each. */
	f->loads_hdr = f->loads_whole = 0;
	CHECK("FROM a TO b CC c", "10");
	assert_int_equal(f->loads_whole, 0);
	assert_int_equal(f->loads_hdr, 3);
	/* Header then text: the header read is replaced by a whole read. */
	f->loads_hdr = f->loads_whole = 0;
	CHECK("FROM alice BODY numbers", "10");
	assert_int_equal(f->loads_whole, 1);
}

static void
test_charset_and_errors(void **state)
{
	struct fixture *f = *state;

	CHECK("CHARSET US-ASCII ALL", "10 11 15");
	CHECK("CHARSET utf-8 SEEN", "10 15");
	CHECK("CHARSET ISO-8859-1 ALL", "NO");
	CHECK("CHARSET \"KOI8-R\" SEEN", "NO");
	CHECK("CHARSET", "BAD");
	CHECK("CHARSET UTF-8", "BAD");
	CHECK("CHARSET (UTF-8) ALL", "BAD");
	CHECK("FOO", "BAD");
	CHECK("FROM", "BAD");
	CHECK("FROM (x)", "BAD");
	CHECK("HEADER X-Tracker", "BAD");
	CHECK("HEADER \"\" x", "BAD");
	CHECK("HEADER a:b x", "BAD");
	CHECK("OR SEEN", "BAD");
	CHECK("NOT", "BAD");
	CHECK("()", "BAD");
	CHECK("BEFORE 32-Jan-2024", "BAD");
	CHECK("BEFORE 29-Feb-2023", "BAD");
	CHECK("BEFORE 29-Feb-2024", "10 11");
	CHECK("BEFORE 1-Foo-2024", "BAD");
	CHECK("BEFORE 1-Jan-24", "BAD");
	CHECK("BEFORE x", "BAD");
	CHECK("LARGER -1", "BAD");
	CHECK("LARGER 4294967296", "BAD");
	CHECK("LARGER x", "BAD");
	CHECK("UID x", "BAD");
	CHECK("UID 0", "BAD");
	CHECK("1:x", "BAD");
	CHECK("\"SEEN\"", "BAD");
	CHECK("KEYWORD \\Seen", "BAD");
	CHECK("KEYWORD \"x\"", "BAD");
}

static void
test_depth(void **state)
{
	struct fixture *f = *state;
	struct buf b = BUF_INIT(0);
	int i;

	for (i = 0; i < 60; i++)
		assert_int_equal(buf_appends(&b, "NOT "), 1);
	assert_int_equal(buf_appends(&b, "SEEN"), 1);
	CHECK(buf_cstr(&b), "10 15");
	buf_reset(&b);
	for (i = 0; i < 100; i++)
		assert_int_equal(buf_appends(&b, "NOT "), 1);
	assert_int_equal(buf_appends(&b, "SEEN"), 1);
	CHECK(buf_cstr(&b), "BAD");
	buf_free(&b);
}

static int
load_fixed(void *arg, int whole, const char **data_r, size_t *len_r)
{
	(void)whole;
	*data_r = arg;
	*len_r = strlen(arg);
	return 1;
}

/* Found by fuzz_imapsearch: a message without any text part. */
static void
test_no_text_parts(void **state)
{
	struct fixture *f = *state;
	struct imap_search *s = NULL;
	struct imap_search_msg m;
	const char *err;
	char msg[] = "Content-Type: application/octet-stream\r\n\r\nabc\r\n";

	assert_int_equal(parse(f, "OR TEXT xyz BODY abc", &s, &err), 1);
	imap_search_prepare(s, 1, 1);
	memset(&m, 0, sizeof(m));
	m.seq = m.uid = 1;
	m.keywords = "";
	m.load = load_fixed;
	m.arg = msg;
	assert_int_equal(imap_search_match(s, &m), 0);
	imap_search_free(&s);
	assert_int_equal(parse(f, "TEXT octet", &s, &err), 1);
	imap_search_prepare(s, 1, 1);
	assert_int_equal(imap_search_match(s, &m), 1);
	imap_search_free(&s);
}

/* Empty header fields, on a fresh program (no scratch storage yet). */
static void
test_empty_fields(void **state)
{
	struct fixture *f = *state;
	struct imap_search *s = NULL;
	struct imap_search_msg m;
	const char *err;
	char msg[] = "Subject:\r\nDate:\r\n\r\nbody\r\n";
	static const char *const progs[] = { "SUBJECT x", "SENTON 1-Jan-2020",
	    "NOT SENTBEFORE 1-Jan-2020", "HEADER Subject \"\"" };
	static const int want[] = { 0, 0, 1, 1 };
	size_t i;

	memset(&m, 0, sizeof(m));
	m.seq = m.uid = 1;
	m.keywords = "";
	m.load = load_fixed;
	m.arg = msg;
	for (i = 0; i < sizeof(progs) / sizeof(progs[0]); i++) {
		assert_int_equal(parse(f, progs[i], &s, &err), 1);
		imap_search_prepare(s, 1, 1);
		assert_int_equal(imap_search_match(s, &m), want[i]);
		imap_search_free(&s);
	}
}

static void
test_dates(void **state)
{
	int64_t d;

	(void)state;
	assert_int_equal(imap_day_number(1970, 1, 1), 0);
	assert_int_equal(imap_day_number(2000, 3, 1), 11017);
	assert_int_equal(imap_day_number(1969, 12, 31), -1);
	assert_int_equal(imap_date_parse("1-Jan-1970", 10, &d), 1);
	assert_int_equal(d, 0);
	assert_int_equal(imap_date_parse("1-Jan-1970x", 11, &d), -1);
	assert_int_equal(imap_date_parse("1-Jan-197", 9, &d), -1);
	assert_int_equal(imap_date_parse("100-Jan-1970", 12, &d), -1);
	assert_int_equal(imap_date_hdr_parse("Thu, 1 Jan 1970 00:00 Z", 23,
	    &d), 1);
	assert_int_equal(d, 0);
	assert_int_equal(imap_date_hdr_parse(" (c) 2 Jan 70 x", 15, &d), 1);
	assert_int_equal(d, 1);
	assert_int_equal(imap_date_hdr_parse("2-Jan-1970", 10, &d), 1);
	assert_int_equal(d, 1);
	assert_int_equal(imap_date_hdr_parse("Thu, 1 Jan", 10, &d), -1);
	assert_int_equal(imap_date_hdr_parse("garbage", 7, &d), -1);
	assert_int_equal(imap_date_hdr_parse("", 0, &d), -1);
	assert_int_equal(imap_date_hdr_parse("31 Feb 2020", 11, &d), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_flags),
		cmocka_unit_test(test_sets_sizes_dates),
		cmocka_unit_test(test_headers),
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_logic),
		cmocka_unit_test(test_lazy_loading),
		cmocka_unit_test(test_charset_and_errors),
		cmocka_unit_test(test_depth),
		cmocka_unit_test(test_no_text_parts),
		cmocka_unit_test(test_empty_fields),
		cmocka_unit_test(test_dates),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
