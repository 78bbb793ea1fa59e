/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * Unit tests for imap_fetch: item list parsing (every item, macros,
 * sections with part paths, header lists and partials; syntax errors),
 * response names, what must be read (nothing, header, whole) and \Seen,
 * and rendering of one message: literals, <partial> bounds, FLAGS added
 * after \Seen was set, the ENVELOPE/BODYSTRUCTURE cache (a second render
 * reads no text), and a vanished message. Commands are parsed by the real
 * IMAP parser; sections and structures come from the real imap_body.c.
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
#include "store/imap_fetch.h"
#include "store/imap_parse.h"
#include "store/mstore.h"

static const char message[] =
    "From: Alice <alice@example.test>\r\n"
    "To: bob@example.test\r\n"
    "Subject: hello\r\n"
    "Date: Wed, 10 Jan 2024 11:22:33 +0100\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=\"xx\"\r\n"
    "\r\n"
    "--xx\r\n"
    "Content-Type: text/plain\r\n"
    "\r\n"
    "part one\r\n"
    "--xx\r\n"
    "Content-Type: text/html\r\n"
    "\r\n"
    "<p>two</p>\r\n"
    "--xx--\r\n";

struct fixture {
	struct imap_parser	*parser;
	int			 loads_hdr, loads_whole;
	int			 vanish;
	struct buf		 cache_env, cache_bs;
	int			 use_cache;
};

static int
load(void *arg, int whole, const char **data_r, size_t *len_r)
{
	struct fixture *f = arg;

	if (f->vanish)
		return 0;
	*data_r = message;
	if (whole) {
		f->loads_whole++;
		*len_r = sizeof(message) - 1;
	} else {
		f->loads_hdr++;
		*len_r = (size_t)(strstr(message, "\r\n\r\n") - message) + 4;
	}
	return 1;
}

static struct buf *
cache_slot(struct fixture *f, const char *key)
{
	if (strcmp(key, "env2") == 0)
		return &f->cache_env;
	if (strcmp(key, "bs2") == 0)
		return &f->cache_bs;
	return NULL;
}

static int
cache_get(void *arg, const char *key, struct buf *out)
{
	struct fixture *f = arg;
	struct buf *b = cache_slot(f, key);

	if (!f->use_cache || b == NULL || b->len == 0)
		return 0;
	assert_int_equal(buf_append(out, b->data, b->len), 1);
	return 1;
}

static void
cache_set(void *arg, const char *key, const char *data, size_t len)
{
	struct fixture *f = arg;
	struct buf *b = cache_slot(f, key);

	if (b == NULL)
		return;
	buf_reset(b);
	assert_int_equal(buf_append(b, data, len), 1);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	setenv("TZ", "UTC", 1);
	tzset();
	f->parser = imap_parser_new(NULL);
	buf_init(&f->cache_env, 0);
	buf_init(&f->cache_bs, 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	imap_parser_free(&f->parser);
	buf_free(&f->cache_env);
	buf_free(&f->cache_bs);
	free(f);
	return 0;
}

/* Parses "FETCH 1 <items>" into *fe; returns imap_fetch_parse's result. */
static int
parse(struct fixture *f, const char *items, int uid, struct imap_fetch *fe)
{
	struct buf line = BUF_INIT(0);
	const struct imap_cmd *cmd = NULL;
	struct imap_parse_err perr;
	enum imap_parse_result r;
	const char *err = NULL;
	size_t used, off = 0;
	int rv;

	assert_int_equal(buf_appendf(&line, "t FETCH 1 %s\r\n", items), 1);
	do {
		r = imap_parser_feed(f->parser, line.data + off,
		    line.len - off, &used, &cmd, &perr);
		off += used;
	} while (r == IMAP_PARSE_LITERAL || (r == IMAP_PARSE_MORE &&
	    off < line.len));
	buf_free(&line);
	if (r != IMAP_PARSE_DONE)
		return -2;
	assert_int_equal(cmd->nargs, 2);
	rv = imap_fetch_parse(&cmd->args[1], uid, fe, &err);
	if (rv == -1)
		assert_non_null(err);
	return rv;
}

/* The response names of items, space-separated; "BAD" on error. */
static const char *
names(struct fixture *f, const char *items, int uid)
{
	static char out[1024];
	struct imap_fetch fe;
	size_t i, o = 0;

	if (parse(f, items, uid, &fe) != 1)
		return "BAD";
	out[0] = '\0';
	for (i = 0; i < fe.n; i++)
		o += (size_t)snprintf(out + o, sizeof(out) - o, "%s%s",
		    i ? " " : "", fe.items[i].name);
	imap_fetch_free(&fe);
	return out;
}

static void
test_parse(void **state)
{
	struct fixture *f = *state;

	assert_string_equal(names(f, "FLAGS", 0), "FLAGS");
	assert_string_equal(names(f, "flags", 0), "FLAGS");
	assert_string_equal(names(f, "(uid rfc822.size)", 0),
	    "UID RFC822.SIZE");
	assert_string_equal(names(f, "ALL", 0),
	    "FLAGS INTERNALDATE RFC822.SIZE ENVELOPE");
	assert_string_equal(names(f, "fast", 0),
	    "FLAGS INTERNALDATE RFC822.SIZE");
	assert_string_equal(names(f, "FULL", 0),
	    "FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODY");
	assert_string_equal(names(f, "FLAGS", 1), "UID FLAGS");
	assert_string_equal(names(f, "(FLAGS UID)", 1), "FLAGS UID");
	assert_string_equal(names(f, "(RFC822 RFC822.HEADER RFC822.TEXT "
	    "INTERNALDATE BODY BODYSTRUCTURE ENVELOPE)", 0),
	    "RFC822 RFC822.HEADER RFC822.TEXT INTERNALDATE BODY "
	    "BODYSTRUCTURE ENVELOPE");
	assert_string_equal(names(f, "BODY[]", 0), "BODY[]");
	assert_string_equal(names(f, "body.peek[]", 0), "BODY[]");
	assert_string_equal(names(f, "BODY[1.2.3]", 0), "BODY[1.2.3]");
	assert_string_equal(names(f, "BODY[header]", 0), "BODY[HEADER]");
	assert_string_equal(names(f, "BODY[1.TEXT]", 0), "BODY[1.TEXT]");
	assert_string_equal(names(f, "BODY[2.mime]", 0), "BODY[2.MIME]");
	assert_string_equal(names(f, "BODY.PEEK[HEADER.FIELDS (From To)]", 0),
	    "BODY[HEADER.FIELDS (FROM TO)]");
	assert_string_equal(names(f,
	    "BODY[1.HEADER.FIELDS.NOT (\"X-A\" B)]<0.100>", 0),
	    "BODY[1.HEADER.FIELDS.NOT (X-A B)]<0>");
	assert_string_equal(names(f, "BODY[1.2]<7.10>", 0), "BODY[1.2]<7>");
	assert_string_equal(names(f, "(BODY[] BODY[TEXT]<4294967295.1>)", 0),
	    "BODY[] BODY[TEXT]<4294967295>");
}

static void
test_parse_errors(void **state)
{
	struct fixture *f = *state;
	static const char *bad[] = {
		"FOO", "BODY[", "BODY[]x", "BODY[0]", "BODY[01]", "BODY[1.]",
		"BODY[.1]", "BODY[MIME]", "BODY[1.FOO]", "BODY[TEXTX]",
		"BODY[HEADER.FIELDS]", "BODY[HEADER.FIELDS ()]",
		"BODY[HEADER.FIELDS (a:b)]", "BODY[HEADER.FIELDS (a]",
		"BODY[HEADER.FIELDS (\"a)]", "BODY[]<1>", "BODY[]<1.0>",
		"BODY[]<.1>", "BODY[]<1.>", "BODY[]<1.2", "BODY[]<1.2>x",
		"BODY[]<4294967296.1>", "BODY.PEEK", "BODY.PEEK[1",
		"BODY[1.2.3.4.5.6.7.8.9.10.11.12.13.14.15.16.17.18.19.20."
		"21.22.23.24.25.26.27.28.29.30.31.32.33]",
		"()", "(ALL)", "(FLAGS (UID))", "\"FLAGS\"", "BODY[4294967296]",
		"RFC822.PEEK",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (strcmp(names(f, bad[i], 0), "BAD") != 0)
			fail_msg("accepted: %s", bad[i]);
}

static void
test_needs(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char	*items;
		int		 needs, seen;
	} cases[] = {
		{ "(FLAGS UID INTERNALDATE RFC822.SIZE)", 0, 0 },
		{ "ENVELOPE", 1, 0 },
		{ "RFC822.HEADER", 1, 0 },
		{ "BODY.PEEK[HEADER]", 1, 0 },
		{ "BODY[HEADER]", 1, 1 },
		{ "BODY.PEEK[HEADER.FIELDS (A)]", 1, 0 },
		{ "BODY.PEEK[1.HEADER]", 2, 0 },
		{ "BODY.PEEK[TEXT]", 2, 0 },
		{ "BODY", 2, 0 },
		{ "BODYSTRUCTURE", 2, 0 },
		{ "RFC822", 2, 1 },
		{ "RFC822.TEXT", 2, 1 },
		{ "BODY[]", 2, 1 },
		{ "BODY.PEEK[]", 2, 0 },
	};
	struct imap_fetch fe;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(parse(f, cases[i].items, 0, &fe), 1);
		if (fe.needs != cases[i].needs || fe.sets_seen != cases[i].seen)
			fail_msg("%s: needs %d seen %d", cases[i].items,
			    fe.needs, fe.sets_seen);
		imap_fetch_free(&fe);
	}
}

/* Renders items for the test message; returns the response or "GONE". */
static const char *
render(struct fixture *f, const char *items, int uid, int add_flags)
{
	static struct buf out = BUF_INIT(0);
	struct buf scratch = BUF_INIT(0);
	struct imap_fetch fe;
	struct imap_fetch_msg m;
	int r;

	assert_int_equal(parse(f, items, uid, &fe), 1);
	memset(&m, 0, sizeof(m));
	m.seq = 3;
	m.uid = 42;
	m.flags = MSG_SEEN | MSG_RECENT;
	m.keywords = "$Work";
	m.internaldate = 1704885753;	/* 2024-01-10 11:22:33 UTC */
	m.size = sizeof(message) - 1;
	m.add_flags = add_flags;
	m.load = load;
	m.cache_get = cache_get;
	m.cache_set = cache_set;
	m.arg = f;
	buf_reset(&out);
	r = imap_fetch_render(&fe, &m, &out, &scratch);
	buf_free(&scratch);
	imap_fetch_free(&fe);
	if (r == 0)
		return "GONE";
	assert_int_equal(r, 1);
	return buf_cstr(&out);
}

static void
test_render_simple(void **state)
{
	struct fixture *f = *state;
	char want[64];

	f->loads_hdr = f->loads_whole = 0;
	assert_string_equal(render(f, "(FLAGS UID)", 0, 0),
	    "* 3 FETCH (FLAGS (\\Seen \\Recent $Work) UID 42)\r\n");
	assert_string_equal(render(f, "FAST", 1, 0),
	    "* 3 FETCH (UID 42 FLAGS (\\Seen \\Recent $Work) INTERNALDATE "
	    "\"10-Jan-2024 11:22:33 +0000\" RFC822.SIZE 275)\r\n");
	assert_string_equal(render(f, "RFC822.SIZE", 0, 1),
	    "* 3 FETCH (RFC822.SIZE 275 FLAGS (\\Seen \\Recent $Work))\r\n");
	assert_string_equal(render(f, "(FLAGS RFC822.SIZE)", 0, 1),
	    "* 3 FETCH (FLAGS (\\Seen \\Recent $Work) RFC822.SIZE 275)\r\n");
	assert_int_equal(f->loads_hdr + f->loads_whole, 0);
	snprintf(want, sizeof(want), "%zu", sizeof(message) - 1);
	assert_string_equal(want, "275");
}

static void
test_render_text(void **state)
{
	struct fixture *f = *state;
	struct buf want = BUF_INIT(0);
	size_t hl = (size_t)(strstr(message, "\r\n\r\n") - message) + 4;

	f->loads_hdr = f->loads_whole = 0;
	assert_int_equal(buf_appendf(&want, "* 3 FETCH (RFC822.HEADER {%zu}"
	    "\r\n%.*s)\r\n", hl, (int)hl, message), 1);
	assert_string_equal(render(f, "RFC822.HEADER", 0, 0), want.data);
	assert_int_equal(f->loads_whole, 0);
	assert_int_equal(f->loads_hdr, 1);
	buf_reset(&want);
	assert_int_equal(buf_appendf(&want, "* 3 FETCH (RFC822 {%zu}\r\n%s)"
	    "\r\n", sizeof(message) - 1, message), 1);
	assert_string_equal(render(f, "RFC822", 0, 0), want.data);
	buf_reset(&want);
	assert_int_equal(buf_appendf(&want, "* 3 FETCH (RFC822.TEXT {%zu}"
	    "\r\n%s)\r\n", sizeof(message) - 1 - hl, message + hl), 1);
	assert_string_equal(render(f, "RFC822.TEXT", 0, 0), want.data);
	buf_free(&want);

	assert_string_equal(render(f, "BODY[]<0.4>", 0, 0),
	    "* 3 FETCH (BODY[]<0> {4}\r\nFrom)\r\n");
	assert_string_equal(render(f, "BODY[]<6.5>", 0, 0),
	    "* 3 FETCH (BODY[]<6> {5}\r\nAlice)\r\n");
	assert_string_equal(render(f, "BODY[]<274.5>", 0, 0),
	    "* 3 FETCH (BODY[]<274> {1}\r\n\n)\r\n");
	assert_string_equal(render(f, "BODY[]<275.5>", 0, 0),
	    "* 3 FETCH (BODY[]<275> {0}\r\n)\r\n");
	assert_string_equal(render(f, "BODY[]<4000000000.5>", 0, 0),
	    "* 3 FETCH (BODY[]<4000000000> {0}\r\n)\r\n");
}

static void
test_render_sections(void **state)
{
	struct fixture *f = *state;

	assert_string_equal(render(f, "BODY.PEEK[1]", 0, 0),
	    "* 3 FETCH (BODY[1] {8}\r\npart one)\r\n");
	assert_string_equal(render(f, "BODY.PEEK[2]<3.3>", 0, 0),
	    "* 3 FETCH (BODY[2]<3> {3}\r\ntwo)\r\n");
	assert_string_equal(render(f, "BODY.PEEK[2.MIME]", 0, 0),
	    "* 3 FETCH (BODY[2.MIME] {27}\r\nContent-Type: text/html\r\n"
	    "\r\n)\r\n");
	f->loads_hdr = f->loads_whole = 0;
	assert_string_equal(render(f, "BODY.PEEK[HEADER.FIELDS (subject TO)]",
	    0, 0), "* 3 FETCH (BODY[HEADER.FIELDS (SUBJECT TO)] {40}\r\n"
	    "To: bob@example.test\r\nSubject: hello\r\n\r\n)\r\n");
	assert_int_equal(f->loads_whole, 0);
	assert_string_equal(render(f, "BODY.PEEK[HEADER.FIELDS.NOT (From To "
	    "Subject Date MIME-Version)]", 0, 0),
	    "* 3 FETCH (BODY[HEADER.FIELDS.NOT (FROM TO SUBJECT DATE "
	    "MIME-VERSION)] {48}\r\n"
	    "Content-Type: multipart/mixed; boundary=\"xx\"\r\n\r\n)\r\n");
	assert_string_equal(render(f, "BODY.PEEK[5]", 0, 0),
	    "* 3 FETCH (BODY[5] {0}\r\n)\r\n");
}

static int
load_text(void *arg, int whole, const char **data_r, size_t *len_r)
{
	const char *t = arg;

	*data_r = t;
	*len_r = whole ? strlen(t) : (size_t)(strstr(t, "\r\n\r\n") - t) + 4;
	return 1;
}

/*
 * Part paths in a nested message, and a message/rfc822 at the top: the
 * expected octets are what Dovecot 2.3 answers for the same messages.
 */
static const char *
section(struct fixture *f, const char *msg, const char *items)
{
	static struct buf out = BUF_INIT(0);
	struct buf scratch = BUF_INIT(0);
	struct imap_fetch fe;
	struct imap_fetch_msg m;
	const char *p;

	assert_int_equal(parse(f, items, 0, &fe), 1);
	memset(&m, 0, sizeof(m));
	m.seq = 1;
	m.uid = 1;
	m.keywords = "";
	m.load = load_text;
	m.arg = (void *)msg;
	buf_reset(&out);
	assert_int_equal(imap_fetch_render(&fe, &m, &out, &scratch), 1);
	buf_free(&scratch);
	imap_fetch_free(&fe);
	/* only the item's value: the literal, up to the final ")" */
	p = strstr(out.data, " {") + 1;
	out.len -= 3;
	out.data[out.len] = '\0';
	return p;
}

static const char nested[] =
    "Subject: top\r\n"
    "Content-Type: multipart/mixed; boundary=a\r\n"
    "\r\n"
    "--a\r\n"
    "Content-Type: multipart/alternative; boundary=b\r\n"
    "\r\n"
    "--b\r\n"
    "\r\n"
    "one\r\n"
    "--b\r\n"
    "Content-Type: text/html\r\n"
    "\r\n"
    "two\r\n"
    "--b--\r\n"
    "--a\r\n"
    "Content-Type: message/rfc822\r\n"
    "\r\n"
    "Subject: inner\r\n"
    "\r\n"
    "three\r\n"
    "--a--\r\n";

static const char toprfc822[] =
    "Subject: wrapper\r\n"
    "Content-Type: message/rfc822\r\n"
    "\r\n"
    "Subject: wrapped\r\n"
    "Content-Type: multipart/mixed; boundary=z\r\n"
    "\r\n"
    "--z\r\n"
    "\r\n"
    "four\r\n"
    "--z--\r\n";

static void
test_part_paths(void **state)
{
	struct fixture *f = *state;

	assert_string_equal(section(f, nested, "BODY.PEEK[1.1]"),
	    "{3}\r\none");
	assert_string_equal(section(f, nested, "BODY.PEEK[1.2]"),
	    "{3}\r\ntwo");
	assert_string_equal(section(f, nested, "BODY.PEEK[1.2.MIME]"),
	    "{27}\r\nContent-Type: text/html\r\n\r\n");
	assert_string_equal(section(f, nested, "BODY.PEEK[1.1.MIME]"),
	    "{2}\r\n\r\n");
	assert_string_equal(section(f, nested, "BODY.PEEK[1.3]"), "{0}\r\n");
	assert_string_equal(section(f, nested, "BODY.PEEK[1.1.1]"), "{0}\r\n");
	assert_string_equal(section(f, nested, "BODY.PEEK[2.HEADER]"),
	    "{18}\r\nSubject: inner\r\n\r\n");
	assert_string_equal(section(f, nested, "BODY.PEEK[2.TEXT]"),
	    "{5}\r\nthree");
	assert_string_equal(section(f, nested, "BODY.PEEK[2.1]"),
	    "{5}\r\nthree");
	assert_string_equal(section(f, nested, "BODY.PEEK[2.2]"), "{0}\r\n");
	assert_string_equal(section(f, nested,
	    "BODY.PEEK[2.HEADER.FIELDS (subject)]"),
	    "{18}\r\nSubject: inner\r\n\r\n");
	/* HEADER/TEXT of a part that is not a message: nothing */
	assert_string_equal(section(f, nested, "BODY.PEEK[1.HEADER]"),
	    "{0}\r\n");
	assert_string_equal(section(f, nested, "BODY.PEEK[1.1.TEXT]"),
	    "{0}\r\n");
	assert_string_equal(section(f, nested, "BODY.PEEK[3]"), "{0}\r\n");
	/* a message/rfc822 message: 1 is the wrapped message, 1.1 its part */
	assert_string_equal(section(f, toprfc822, "BODY.PEEK[1.1]"),
	    "{4}\r\nfour");
	assert_string_equal(section(f, toprfc822,
	    "BODY.PEEK[1.HEADER.FIELDS (Subject)]"),
	    "{20}\r\nSubject: wrapped\r\n\r\n");
	assert_string_equal(section(f, toprfc822,
	    "BODY.PEEK[HEADER.FIELDS (Subject)]"),
	    "{20}\r\nSubject: wrapper\r\n\r\n");
	assert_string_equal(section(f, toprfc822, "BODY.PEEK[1.2]"), "{0}\r\n");
}

static void
test_cache(void **state)
{
	struct fixture *f = *state;
	struct buf first = BUF_INIT(0);

	buf_reset(&f->cache_env);
	buf_reset(&f->cache_bs);
	f->use_cache = 1;
	f->loads_hdr = f->loads_whole = 0;
	assert_int_equal(buf_appends(&first, render(f,
	    "(ENVELOPE BODYSTRUCTURE)", 0, 0)), 1);
	assert_true(f->loads_hdr + f->loads_whole > 0);
	assert_true(f->cache_env.len > 0);
	assert_true(f->cache_bs.len > 0);
	f->loads_hdr = f->loads_whole = 0;
	assert_string_equal(render(f, "(ENVELOPE BODYSTRUCTURE)", 0, 0),
	    first.data);
	assert_int_equal(f->loads_hdr + f->loads_whole, 0);
	/* ENVELOPE alone needs only the header */
	f->use_cache = 0;
	f->loads_hdr = f->loads_whole = 0;
	(void)render(f, "ENVELOPE", 0, 0);
	assert_int_equal(f->loads_whole, 0);
	assert_int_equal(f->loads_hdr, 1);
	assert_non_null(strstr(first.data, "\"hello\""));
	buf_free(&first);
}

static void
test_vanished(void **state)
{
	struct fixture *f = *state;

	f->vanish = 1;
	assert_string_equal(render(f, "(UID BODY[])", 0, 0), "GONE");
	assert_string_equal(render(f, "UID", 0, 0),
	    "* 3 FETCH (UID 42)\r\n");
	f->vanish = 0;
}

struct big {
	struct buf	 text;
	struct buf	 sent;		/* what emit sent */
	int		 vanish;
	int		 emits;
	int		 whole_loads;	/* load() of the whole text */
	int		 opens;		/* text_open() */
};

static int
big_load(void *arg, int whole, const char **data_r, size_t *len_r)
{
	struct big *b = arg;

	if (b->vanish)
		return 0;
	b->whole_loads += whole;
	*data_r = b->text.data;
	*len_r = whole ? b->text.len :
	    (size_t)(strstr(b->text.data, "\r\n\r\n") - b->text.data) + 4;
	return 1;
}

static int
big_emit(void *arg, const char *p, size_t n)
{
	struct big *b = arg;

	b->emits++;
	assert_int_equal(buf_append(&b->sent, p, n), 1);
	return 1;
}

static int
big_text_open(void *arg)
{
	struct big *b = arg;

	b->opens++;
	return b->vanish ? 0 : 1;
}

/* As the session does: the text's octets [off, off + n), via emit. */
static int
big_text_emit(void *arg, uint64_t off, uint64_t n)
{
	struct big *b = arg;

	assert_true(off + n <= b->text.len);
	return big_emit(b, b->text.data + off, (size_t)n);
}

/* Renders items on the big message without emit (stream 0), with emit
 * (1), or with emit and text_open/text_emit (2): all output. */
static int
big_render(struct fixture *f, struct big *b, const char *items, int stream,
    struct buf *all)
{
	struct buf out = BUF_INIT(0), scratch = BUF_INIT(0);
	struct imap_fetch fe;
	struct imap_fetch_msg m;
	int r;

	assert_int_equal(parse(f, items, 0, &fe), 1);
	memset(&m, 0, sizeof(m));
	m.seq = 1;
	m.uid = 9;
	m.keywords = "";
	m.size = b->text.len;
	m.load = big_load;
	m.emit = stream ? big_emit : NULL;
	if (stream == 2) {
		m.text_open = big_text_open;
		m.text_emit = big_text_emit;
	}
	m.arg = b;
	buf_reset(&b->sent);
	b->emits = 0;
	b->whole_loads = 0;
	b->opens = 0;
	r = imap_fetch_render(&fe, &m, &out, &scratch);
	buf_reset(all);
	assert_int_equal(buf_append(all, b->sent.data, b->sent.len), 1);
	assert_int_equal(buf_append(all, out.data, out.len), 1);
	buf_free(&out);
	buf_free(&scratch);
	imap_fetch_free(&fe);
	return r;
}

/* Literals of 64 KiB and more go through emit, in order, uncopied. */
static void
test_stream(void **state)
{
	struct fixture *f = *state;
	struct big b;
	struct buf plain = BUF_INIT(0), streamed = BUF_INIT(0);
	static const char *const items[] = {
		"BODY.PEEK[]", "(UID BODY.PEEK[] FLAGS)",
		"(BODY.PEEK[TEXT] BODY.PEEK[HEADER] RFC822.SIZE)",
		"BODY.PEEK[]<10.70000>", "BODY.PEEK[]<10.100>",
		"(ENVELOPE BODY.PEEK[1] BODY.PEEK[TEXT]<0.65536>)",
		"RFC822", "(UID RFC822.SIZE FLAGS ENVELOPE BODY.PEEK[])",
		"(BODY.PEEK[]<99999999.10> RFC822.HEADER BODY.PEEK[]<0.5>)",
		"RFC822.TEXT", "(FLAGS BODY.PEEK[TEXT]<5.70000>)",
	};
	size_t i;

	memset(&b, 0, sizeof(b));
	buf_init(&b.text, 0);
	buf_init(&b.sent, 0);
	assert_int_equal(buf_appends(&b.text, "Subject: big\r\n\r\n"), 1);
	for (i = 0; i < 3000; i++)
		assert_int_equal(buf_appendf(&b.text, "line %04zu of a long "
		    "message body.\r\n", i), 1);
	for (i = 0; i < sizeof(items) / sizeof(items[0]); i++) {
		assert_int_equal(big_render(f, &b, items[i], 0, &plain), 1);
		assert_int_equal(b.emits, 0);
		assert_int_equal(big_render(f, &b, items[i], 1, &streamed), 1);
		assert_int_equal(plain.len, streamed.len);
		assert_memory_equal(plain.data, streamed.data, plain.len);
		if (i == 4 || i == 8)
			assert_int_equal(b.emits, 0);	/* small: copied */
		else
			assert_true(b.emits >= 2);
		/* From disk: the same octets; the whole text is loaded
		 * only for items that are not the whole message. */
		assert_int_equal(big_render(f, &b, items[i], 2, &streamed), 1);
		assert_int_equal(plain.len, streamed.len);
		assert_memory_equal(plain.data, streamed.data, plain.len);
		assert_int_equal(b.opens, i != 5);	/* BODY[1] */
		assert_int_equal(b.whole_loads > 0, !b.opens);
	}
	/* vanished: nothing emitted, nothing in out */
	b.vanish = 1;
	assert_int_equal(big_render(f, &b, "(UID BODY[])", 1, &streamed), 0);
	assert_int_equal(b.emits, 0);
	assert_int_equal(streamed.len, 0);
	assert_int_equal(big_render(f, &b, "(UID BODY[])", 2, &streamed), 0);
	assert_int_equal(b.opens, 1);
	assert_int_equal(b.emits, 0);
	assert_int_equal(streamed.len, 0);
	buf_free(&b.text);
	buf_free(&b.sent);
	buf_free(&plain);
	buf_free(&streamed);
}

static void
test_date(void **state)
{
	struct buf b = BUF_INIT(0);

	(void)state;
	assert_int_equal(imap_fetch_date(0, &b), 1);
	assert_string_equal(b.data, "\"01-Jan-1970 00:00:00 +0000\"");
	buf_reset(&b);
	setenv("TZ", "PST8PDT", 1);
	tzset();
	assert_int_equal(imap_fetch_date(1720000000, &b), 1);
	assert_string_equal(b.data, "\"03-Jul-2024 02:46:40 -0700\"");
	buf_reset(&b);
	setenv("TZ", "IST-5:30", 1);
	tzset();
	assert_int_equal(imap_fetch_date(1720000000, &b), 1);
	assert_string_equal(b.data, "\"03-Jul-2024 15:16:40 +0530\"");
	setenv("TZ", "UTC", 1);
	tzset();
	buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_needs),
		cmocka_unit_test(test_render_simple),
		cmocka_unit_test(test_render_text),
		cmocka_unit_test(test_render_sections),
		cmocka_unit_test(test_part_paths),
		cmocka_unit_test(test_cache),
		cmocka_unit_test(test_vanished),
		cmocka_unit_test(test_stream),
		cmocka_unit_test(test_date),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
