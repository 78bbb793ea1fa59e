/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * Unit tests for ctl/submit (estafeta-sendmail's pure parts): the command
 * line, the line splitter (fed whole and byte by byte), -t extraction with
 * Bcc removal and Resent-, recipient qualification, the display name of an
 * added From:, and the SMTP reply to sysexits mapping.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include <cmocka.h>

#include "lib/buf.h"
#include "ctl/submit.h"

#define NARGS(a)	((int)(sizeof(a) / sizeof((a)[0])) - 1)

static int
parse(char **argv, int argc, struct submit_opts *o, struct buf *err)
{
	buf_reset(err);
	return submit_parse_args(argc, argv, o, err);
}

static void
test_args_common(void **state)
{
	char *a1[] = { "sendmail", "-t", "-i", "-f", "a@b.example",
		"-FJoe Bloggs", "-oem", "-odi", "-v", "x@y.example", "z",
		NULL };
	char *a2[] = { "sendmail", "-oi", "-fme@x", "-r", "you@x", "-bm",
		"-N", "failure,DELAY", "-R", "hdrs", "-V", "id+1", "-B",
		"8bitmime", "-C", "/etc/e.conf", "--", "-dash@x", NULL };
	char *a3[] = { "sendmail", "-ti", "-L", "label", "-X", "/log",
		"-h", "17", "-O", "x=y", "-U", "-m", "-n", "-G", "-odb",
		"-oep", "-om", "-Am", "u@x", NULL };
	struct submit_opts o;
	struct buf err = BUF_INIT(0);

	(void)state;
	assert_int_equal(parse(a1, NARGS(a1), &o, &err), 1);
	assert_true(o.extract);
	assert_true(o.ignore_dots);
	assert_string_equal(o.sender, "a@b.example");
	assert_string_equal(o.fullname, "Joe Bloggs");
	assert_int_equal(o.verbose, 1);
	assert_int_equal(o.mode, SUBMIT_DELIVER);
	assert_int_equal(o.nrcpt, 2);
	assert_string_equal(o.rcpts[0], "x@y.example");
	assert_string_equal(o.rcpts[1], "z");

	assert_int_equal(parse(a2, NARGS(a2), &o, &err), 1);
	assert_true(o.ignore_dots);
	assert_false(o.extract);
	assert_string_equal(o.sender, "you@x");	/* the last one wins */
	assert_string_equal(o.notify, "FAILURE,DELAY");
	assert_string_equal(o.ret, "HDRS");
	assert_string_equal(o.envid, "id+1");
	assert_string_equal(o.body, "8BITMIME");
	assert_string_equal(o.config, "/etc/e.conf");
	assert_int_equal(o.nrcpt, 1);
	assert_string_equal(o.rcpts[0], "-dash@x");

	assert_int_equal(parse(a3, NARGS(a3), &o, &err), 1);
	assert_true(o.extract);
	assert_true(o.ignore_dots);
	assert_int_equal(o.nrcpt, 1);
	assert_string_equal(o.rcpts[0], "u@x");
	buf_free(&err);
}

static void
test_args_modes(void **state)
{
	char *bs[] = { "sendmail", "-bs", NULL };
	char *bi[] = { "sendmail", "-bi", NULL };
	char *big_i[] = { "sendmail", "-I", NULL };
	char *bp[] = { "/usr/sbin/sendmail", "-bp", NULL };
	char *mailq[] = { "/usr/bin/mailq", NULL };
	char *newal[] = { "newaliases", NULL };
	char *q[] = { "sendmail", "-q", NULL };
	char *q30[] = { "sendmail", "-q30m", NULL };
	char *never[] = { "sendmail", "-N", "never", "a@b", NULL };
	struct submit_opts o;
	struct buf err = BUF_INIT(0);

	(void)state;
	assert_int_equal(parse(bs, NARGS(bs), &o, &err), 1);
	assert_int_equal(o.mode, SUBMIT_SMTP);
	assert_int_equal(parse(bi, NARGS(bi), &o, &err), 1);
	assert_int_equal(o.mode, SUBMIT_NEWALIASES);
	assert_int_equal(parse(big_i, NARGS(big_i), &o, &err), 1);
	assert_int_equal(o.mode, SUBMIT_NEWALIASES);
	assert_int_equal(parse(bp, NARGS(bp), &o, &err), 1);
	assert_int_equal(o.mode, SUBMIT_MAILQ);
	assert_int_equal(parse(mailq, NARGS(mailq), &o, &err), 1);
	assert_int_equal(o.mode, SUBMIT_MAILQ);
	assert_int_equal(parse(newal, NARGS(newal), &o, &err), 1);
	assert_int_equal(o.mode, SUBMIT_NEWALIASES);
	assert_int_equal(parse(q, NARGS(q), &o, &err), 1);
	assert_int_equal(o.mode, SUBMIT_FLUSH);
	assert_int_equal(parse(q30, NARGS(q30), &o, &err), 1);
	assert_int_equal(o.mode, SUBMIT_NOTHING);
	assert_int_equal(parse(never, NARGS(never), &o, &err), 1);
	assert_string_equal(o.notify, "NEVER");
	buf_free(&err);
}

static void
test_args_errors(void **state)
{
	static const char *const bad[][4] = {
		{ "sendmail", "-Z", NULL },
		{ "sendmail", "-f", NULL },
		{ "sendmail", "-bv", "a@b", NULL },
		{ "sendmail", "-bd", NULL },
		{ "sendmail", "-N", "sometimes", NULL },
		{ "sendmail", "-N", "success,success", NULL },
		{ "sendmail", "-R", "body", NULL },
		{ "sendmail", "-B", "binary", NULL },
		{ "sendmail", "-V", "has space", NULL },
	};
	static const char *const want[] = { "unknown option -Z",
		"option -f needs", "-bv is not supported",
		"-bd is not supported", "-N sometimes", "-N success,success",
		"-R body", "-B binary", "-V" };
	struct submit_opts o;
	struct buf err = BUF_INIT(0);
	char *argv[4];
	size_t i;
	int argc;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		for (argc = 0; bad[i][argc] != NULL; argc++)
			argv[argc] = (char *)bad[i][argc];
		argv[argc] = NULL;
		assert_int_equal(parse(argv, argc, &o, &err), -1);
		if (strstr(buf_cstr(&err), want[i]) == NULL)
			fail_msg("case %zu: '%s' lacks '%s'", i, buf_cstr(&err),
			    want[i]);
	}
	buf_free(&err);
}

/* ------------------------------------------------------------ lines */

struct lines {
	struct buf	out;	/* "line|" or "+piece|" */
	int		stop_dot;
};

static int
collect_line(void *arg, const char *line, size_t len, int cont)
{
	struct lines *l = arg;

	if (cont)
		(void)buf_appendc(&l->out, '+');
	(void)buf_append(&l->out, line, len);
	(void)buf_appendc(&l->out, '|');
	return l->stop_dot && !cont && len == 1 && line[0] == '.' ? 0 : 1;
}

/* Feeds in whole, then byte by byte, and compares both with want. */
static void
split(const char *in, size_t n, int stop_dot, const char *want,
    size_t want_used)
{
	struct submit_lines sl;
	struct lines l = { BUF_INIT(0), stop_dot };
	size_t used = 0, i, u;
	int r = 1;

	memset(&sl, 0, sizeof(sl));
	r = submit_lines_feed(&sl, in, n, collect_line, &l, &used);
	if (r == 1)
		(void)submit_lines_finish(&sl, collect_line, &l);
	assert_string_equal(buf_cstr(&l.out), want);
	assert_int_equal(used, want_used);

	buf_reset(&l.out);
	memset(&sl, 0, sizeof(sl));
	for (i = 0, used = 0, r = 1; i < n && r == 1; i++) {
		r = submit_lines_feed(&sl, in + i, 1, collect_line, &l, &u);
		used += u;
	}
	if (r == 1)
		(void)submit_lines_finish(&sl, collect_line, &l);
	assert_string_equal(buf_cstr(&l.out), want);
	assert_int_equal(used, want_used);
	buf_free(&l.out);
}

static void
test_lines(void **state)
{
	static const char in1[] = "a\r\nb\nc\rd\n\nlast";
	static const char in2[] = "x\n.\nafter\n";
	char big[2100], want[2200];
	size_t i;

	(void)state;
	split(in1, strlen(in1), 1, "a|b|cd||last|", strlen(in1));
	/* Stopped at the lone dot: "after" is left unread. */
	split(in2, strlen(in2), 1, "x|.|", 4);
	split(in2, strlen(in2), 0, "x|.|after|", strlen(in2));

	/* 2,000 octets: pieces of 998, then 997 (continuations). */
	memset(big, 'x', 2000);
	big[2000] = '\n';
	i = 0;
	memset(want, 'x', 998);
	i = 998;
	want[i++] = '|';
	want[i++] = '+';
	memset(want + i, 'x', 997);
	i += 997;
	want[i++] = '|';
	want[i++] = '+';
	memset(want + i, 'x', 5);
	i += 5;
	want[i++] = '|';
	want[i] = '\0';
	split(big, 2001, 1, want, 2001);

	/* A line opening with '.' is broken one octet earlier. */
	big[0] = '.';
	want[0] = '.';
	memmove(want + 997, want + 998, strlen(want + 998) + 1);
	/* now: 997 octets, '|', '+' 997, '|', '+' 5 -> 6 needed */
	i = strlen(want);
	want[i - 1] = 'x';
	want[i] = '|';
	want[i + 1] = '\0';
	split(big, 2001, 1, want, 2001);
}

static void
test_smtp_line(void **state)
{
	struct buf b = BUF_INIT(0), small = BUF_INIT(4);

	(void)state;
	assert_int_equal(submit_smtp_line(&b, ".hidden", 7), 1);
	assert_int_equal(submit_smtp_line(&b, "", 0), 1);
	assert_int_equal(submit_smtp_line(&b, "plain", 5), 1);
	assert_string_equal(buf_cstr(&b), "..hidden\r\n\r\nplain\r\n");
	assert_int_equal(submit_smtp_line(&small, "abc", 3), -1);
	assert_int_equal(small.len, 0);
	assert_true(submit_is_field("Subject: x", 10));
	assert_true(submit_is_field("X-A:", 4));
	assert_false(submit_is_field("not a header", 12));
	assert_false(submit_is_field(": x", 3));
	assert_false(submit_is_field("From x@y", 8));
	/* The obsolete form with blanks before the colon (RFC 5322 4.5.1),
	 * which submit_headers() reads as To: too. */
	assert_true(submit_is_field("To : a@b", 8));
	assert_true(submit_is_field("To\t: a@b", 8));
	assert_false(submit_is_field("To x: a@b", 9));
	assert_false(submit_is_field(" : a@b", 6));
	assert_false(submit_is_field("To  ", 4));
	buf_free(&b);
	buf_free(&small);
}

/* ------------------------------------------------------------ addresses */

static void
test_rcpts(void **state)
{
	struct submit_rcpts rs;
	const char *errstr;
	struct buf s = BUF_INIT(0);
	int utf8;

	(void)state;
	memset(&rs, 0, sizeof(rs));
	assert_int_equal(submit_rcpts_add_list(&rs, "root", 4, "h.example",
	    &errstr), 1);
	{
		static const char l[] = "Bob <bob@X.Example>, root@h.example, "
		    "\"a b\"";

		assert_int_equal(submit_rcpts_add_list(&rs, l, strlen(l),
		    "h.example", &errstr), 1);
	}
	assert_int_equal(rs.n, 3);
	assert_string_equal(rs.v[0], "root@h.example");
	assert_string_equal(rs.v[1], "bob@x.example");
	assert_string_equal(rs.v[2], "\"a b\"@h.example");
	assert_false(rs.utf8);
	assert_int_equal(submit_rcpts_add(&rs, "j\xc3\xb6rg@x.example", 10,
	    "h", &errstr), 1);
	assert_true(rs.utf8);
	assert_int_equal(submit_rcpts_add_list(&rs, "a@@b", 4, "h", &errstr),
	    -1);
	assert_int_equal(submit_rcpts_add_list(&rs, "<unclosed@x", 11, "h",
	    &errstr), -1);
	assert_int_equal(submit_rcpts_add(&rs, "x y@z", 5, "h", &errstr), -1);
	submit_rcpts_free(&rs);
	assert_int_equal(rs.n, 0);

	assert_int_equal(submit_sender("<>", "h", &s, &utf8, &errstr), 1);
	assert_int_equal(s.len, 0);
	assert_int_equal(submit_sender("", "h", &s, &utf8, &errstr), 1);
	assert_int_equal(submit_sender("www-data", "h.example", &s, &utf8,
	    &errstr), 1);
	assert_string_equal(s.data, "www-data@h.example");
	buf_reset(&s);
	assert_int_equal(submit_sender("<A@B.Example>", "h", &s, &utf8,
	    &errstr), 1);
	assert_string_equal(s.data, "A@b.example");
	assert_int_equal(submit_sender("bad address", "h", &s, &utf8,
	    &errstr), -1);
	buf_free(&s);
}

/* ------------------------------------------------------------ headers */

static void
test_headers_extract(void **state)
{
	static const char h[] =
	    "From: me@h.example\n"
	    "To: Alice <alice@a.example>,\n"
	    " bob@b.example\n"
	    "Cc: carol@c.example, root\n"
	    "Bcc: hidden@d.example\n"
	    "bcc : second@d.example\n"
	    "Subject: Bcc: not a field\n";
	struct submit_rcpts rs;
	struct submit_hdrinfo info;
	struct buf out = BUF_INIT(0);
	const char *errstr;

	(void)state;
	memset(&rs, 0, sizeof(rs));
	assert_int_equal(submit_headers(h, strlen(h), &rs, "h.example", &out,
	    &info, &errstr), 1);
	assert_int_equal(rs.n, 6);
	assert_string_equal(rs.v[0], "alice@a.example");
	assert_string_equal(rs.v[1], "bob@b.example");
	assert_string_equal(rs.v[2], "carol@c.example");
	assert_string_equal(rs.v[3], "root@h.example");
	assert_string_equal(rs.v[4], "hidden@d.example");
	assert_string_equal(rs.v[5], "second@d.example");
	assert_string_equal(buf_cstr(&out),
	    "From: me@h.example\n"
	    "To: Alice <alice@a.example>,\n"
	    " bob@b.example\n"
	    "Cc: carol@c.example, root\n"
	    "Subject: Bcc: not a field\n");
	assert_true(info.from);
	assert_false(info.date);
	assert_false(info.msgid);
	assert_false(info.resent);
	assert_int_equal(info.bcc_removed, 2);
	submit_rcpts_free(&rs);

	/* Without -t: Bcc still goes, nobody is extracted. */
	buf_reset(&out);
	assert_int_equal(submit_headers(h, strlen(h), NULL, "h", &out, &info,
	    &errstr), 1);
	assert_null(strstr(buf_cstr(&out), "hidden"));
	assert_int_equal(info.bcc_removed, 2);
	buf_free(&out);
}

static void
test_headers_resent(void **state)
{
	static const char h[] =
	    "Date: Mon, 1 Jan 2024 00:00:00 +0000\n"
	    "Message-ID: <x@y>\n"
	    "To: old@a.example\n"
	    "Resent-To: new@b.example\n"
	    "Resent-Bcc: secret@c.example\n";
	static const char bad[] = "To: <unclosed@x.example\n";
	struct submit_rcpts rs;
	struct submit_hdrinfo info;
	struct buf out = BUF_INIT(0);
	const char *errstr = NULL;

	(void)state;
	memset(&rs, 0, sizeof(rs));
	assert_int_equal(submit_headers(h, strlen(h), &rs, "h", &out, &info,
	    &errstr), 1);
	assert_true(info.resent);
	assert_true(info.date);
	assert_true(info.msgid);
	assert_false(info.from);
	assert_int_equal(rs.n, 2);
	assert_string_equal(rs.v[0], "new@b.example");
	assert_string_equal(rs.v[1], "secret@c.example");
	assert_null(strstr(buf_cstr(&out), "secret"));
	assert_non_null(strstr(buf_cstr(&out), "To: old@a.example\n"));
	submit_rcpts_free(&rs);

	buf_reset(&out);
	assert_int_equal(submit_headers(bad, strlen(bad), &rs, "h", &out,
	    &info, &errstr), -1);
	assert_non_null(errstr);
	submit_rcpts_free(&rs);
	buf_free(&out);
}

static void
test_display_name(void **state)
{
	static const struct { const char *in, *want; } t[] = {
		{ "Joe Bloggs", "Joe Bloggs" },
		{ "  Cron Daemon  ", "Cron Daemon" },
		{ "Bloggs, Joe", "\"Bloggs, Joe\"" },
		{ "say \"hi\" \\o/", "\"say \\\"hi\\\" \\\\o/\"" },
		{ "evil\r\nBcc: x@y", "\"evilBcc: x@y\"" },
		{ "J\xc3\xb6rg", "=?UTF-8?B?SsO2cmc=?=" },
		{ "", "" },
		{ "\t\n", "" },
	};
	struct buf b = BUF_INIT(0);
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		buf_reset(&b);
		assert_int_equal(submit_display_name(&b, t[i].in), 1);
		assert_string_equal(buf_cstr(&b), t[i].want);
	}
	/* Long non-ASCII names: several encoded words, none over 75. */
	buf_reset(&b);
	{
		char name[301];

		for (i = 0; i < 300; i += 2) {
			name[i] = (char)0xc3;
			name[i + 1] = (char)0xb6;
		}
		name[300] = '\0';
		assert_int_equal(submit_display_name(&b, name), 1);
	}
	{
		const char *p = buf_cstr(&b), *sp;

		for (; *p; p = sp ? sp + 1 : p + strlen(p)) {
			sp = strchr(p, ' ');
			assert_true((sp ? (size_t)(sp - p) : strlen(p)) <= 75);
			assert_memory_equal(p, "=?UTF-8?B?", 10);
		}
	}
	buf_free(&b);
}

static void
test_reply_exit(void **state)
{
	static const struct { const char *r; int ex; } t[] = {
		{ "250 2.0.0 Ok", EX_OK },
		{ "354 go", EX_OK },
		{ "451 4.3.0 Error: queue file write error", EX_TEMPFAIL },
		{ "421 4.7.0 too many", EX_TEMPFAIL },
		{ "550 5.1.1 <x@y>: User unknown", EX_NOUSER },
		{ "550 5.1.2 no such domain", EX_NOHOST },
		{ "553 5.1.3 bad syntax", EX_DATAERR },
		{ "552 5.3.4 Message size exceeds fixed limit", EX_DATAERR },
		{ "550 5.6.0 line too long", EX_DATAERR },
		{ "554 5.4.6 too many hops", EX_DATAERR },
		{ "554 5.7.1 Relay access denied", EX_NOPERM },
		{ "500 5.5.2 what", EX_PROTOCOL },
		{ "550 no enhanced code", EX_NOUSER },
		{ "552 no enhanced code", EX_DATAERR },
		{ "554 no enhanced code", EX_UNAVAILABLE },
		{ "502 no", EX_PROTOCOL },
		{ "5", EX_PROTOCOL },
		{ "xyz", EX_PROTOCOL },
		{ "", EX_PROTOCOL },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (submit_reply_exit(t[i].r) != t[i].ex)
			fail_msg("'%s': got %d, want %d", t[i].r,
			    submit_reply_exit(t[i].r), t[i].ex);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_args_common),
		cmocka_unit_test(test_args_modes),
		cmocka_unit_test(test_args_errors),
		cmocka_unit_test(test_lines),
		cmocka_unit_test(test_smtp_line),
		cmocka_unit_test(test_rcpts),
		cmocka_unit_test(test_headers_extract),
		cmocka_unit_test(test_headers_resent),
		cmocka_unit_test(test_display_name),
		cmocka_unit_test(test_reply_exit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
