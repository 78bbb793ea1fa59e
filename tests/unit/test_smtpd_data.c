/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * Unit tests for smtpd_data, the DATA stream parser. Every case is fed
 * all at once, byte by byte, in random-sized chunks (fixed seeds) and split
 * in two at every position; the content, flags, bytes used, size and
 * Received: count must be the same each time. Each chunk is a heap block of
 * exactly its length so that ASan sees any read past it. Random messages
 * are also checked against a plain reference model written from the
 * contract in smtpd_data.h. data_feed_raw (BDAT) gets the same treatment.
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
#include "relay/smtpd_data.h"

#define NOLIMIT		((unsigned long long)-1)

struct result {
	int		 r;
	struct buf	 out;
	unsigned	 flags;
	size_t		 used;
	unsigned long long size;
	unsigned	 received;
};

static void
result_free(struct result *res)
{
	buf_free(&res->out);
}

static void
result_eq(const struct result *x, const struct result *y, const char *what)
{
	if (x->r != y->r || x->flags != y->flags || x->used != y->used ||
	    x->size != y->size || x->received != y->received ||
	    x->out.len != y->out.len ||
	    (x->out.len && memcmp(x->out.data, y->out.data, x->out.len)))
		fail_msg("%s: r %d/%d flags %#x/%#x used %zu/%zu "
		    "size %llu/%llu received %u/%u len %zu/%zu", what, x->r,
		    y->r, x->flags, y->flags, x->used, y->used, x->size,
		    y->size, x->received, y->received, x->out.len,
		    y->out.len);
}

/* A tiny deterministic generator (no dependence on libc's rand()). */
static uint32_t
rnd(uint32_t *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 8;
}

/* Feeds in[0..n) in chunks: chunk == 0 all at once, chunk == 1 byte by
 * byte, chunk == 2 random sizes from seed, chunk >= 3 split at (chunk-3).
 * Stops at the end of data like smtpd does. */
static void
feed(const char *in, size_t n, size_t line_limit,
    unsigned long long size_limit, int raw, size_t chunk, uint32_t seed,
    struct result *res)
{
	struct data_parser p;
	size_t off = 0, take, used;
	char *copy;

	memset(res, 0, sizeof(*res));
	buf_init(&res->out, 0);
	data_init(&p, line_limit, size_limit);
	res->r = 0;
	while (off < n || (off == 0 && n == 0)) {
		if (chunk == 0)
			take = n - off;
		else if (chunk == 1)
			take = 1;
		else if (chunk == 2)
			take = 1 + rnd(&seed) % 17;
		else
			take = off < chunk - 3 ? chunk - 3 - off : n - off;
		if (take > n - off)
			take = n - off;
		copy = malloc(take ? take : 1);
		assert_non_null(copy);
		memcpy(copy, in + off, take);
		used = (size_t)-1;
		if (raw) {
			assert_int_equal(data_feed_raw(&p, copy, take,
			    &res->out), 1);
			used = take;
			res->r = 0;
		} else {
			res->r = data_feed(&p, copy, take, &res->out, &used);
			assert_true(res->r == 0 || res->r == 1);
			assert_true(used <= take);
			if (res->r == 0)
				assert_int_equal(used, take);
		}
		free(copy);
		off += used;
		if (res->r == 1 || n == 0)
			break;
	}
	res->flags = p.flags;
	res->used = off;
	res->size = p.size;
	res->received = p.received;
}

/* All the ways of feeding give one answer; returns it. */
static void
feed_all_ways(const char *in, size_t n, size_t line_limit,
    unsigned long long size_limit, int raw, struct result *res)
{
	struct result other;
	size_t k;
	uint32_t seed;
	char what[64];

	feed(in, n, line_limit, size_limit, raw, 0, 0, res);
	feed(in, n, line_limit, size_limit, raw, 1, 0, &other);
	result_eq(res, &other, "byte by byte");
	result_free(&other);
	for (seed = 1; seed <= 8; seed++) {
		feed(in, n, line_limit, size_limit, raw, 2, seed * 7919u,
		    &other);
		(void)snprintf(what, sizeof(what), "random chunks seed %u",
		    (unsigned)seed);
		result_eq(res, &other, what);
		result_free(&other);
	}
	for (k = 0; k <= n; k++) {
		feed(in, n, line_limit, size_limit, raw, 3 + k, 0, &other);
		(void)snprintf(what, sizeof(what), "split at %zu", k);
		result_eq(res, &other, what);
		result_free(&other);
	}
}

struct data_case {
	const char	*name;
	const char	*in;
	size_t		 inlen;		/* 0: strlen(in) */
	size_t		 line_limit;	/* 0: 1000 */
	unsigned long long size_limit;	/* 0: none */
	int		 r;
	const char	*out;
	size_t		 outlen;	/* 0: strlen(out) */
	unsigned	 flags;
	size_t		 used;		/* 0: all of in */
	unsigned	 received;
};

#define S(lit)		lit, sizeof(lit) - 1
/* size_limit x (0 in the table means none) */
#define LIM(x)		((unsigned long long)(x) + 1)

static const struct data_case cases[] = {
	{ "normal", "Subject: hi\r\n\r\nHello\r\nworld\r\n.\r\n", 0, 0, 0, 1,
	    "Subject: hi\r\n\r\nHello\r\nworld\r\n", 0, 0, 0, 0 },
	{ "dot-stuffed", "a\r\n..b\r\n..\r\n...\r\n.x\r\n.\r\n", 0, 0, 0, 1,
	    "a\r\n.b\r\n.\r\n..\r\nx\r\n", 0, 0, 0, 0 },
	{ "dot mid-line", "a.\r\nb . c\r\nx.\r\n .\r\n. \r\n.\r\n", 0, 0, 0,
	    1, "a.\r\nb . c\r\nx.\r\n .\r\n \r\n", 0, 0, 0, 0 },
	{ "dot-CR-dot mid-line", "a\r\nb.\r.\r\n.\r\n", 0, 0, 0, 1,
	    "a\r\nb.\r.\r\n", 0, DATA_BARE_CR, 0, 0 },
	{ "empty", ".\r\n", 0, 0, 0, 1, "", 0, 0, 0, 0 },
	{ "empty line only", "\r\n.\r\n", 0, 0, 0, 1, "\r\n", 0, 0, 0, 0 },
	{ "bytes after the end", "x\r\n.\r\nQUIT\r\n", 0, 0, 0, 1,
	    "x\r\n", 0, 0, 6, 0 },
	{ "empty, then more", ".\r\nRSET\r\n", 0, 0, 0, 1, "", 0, 0, 3, 0 },
	{ "pipelined terminator", "x\r\n.\r\n.\r\n", 0, 0, 0, 1, "x\r\n", 0,
	    0, 6, 0 },
	{ "unfinished", "abc\r\ndef", 0, 0, 0, 0, "abc\r\ndef", 0, 0, 0, 0 },
	{ "unfinished CR", "abc\r", 0, 0, 0, 0, "abc", 0, 0, 0, 0 },
	{ "unfinished CRLF", "abc\r\n", 0, 0, 0, 0, "abc\r\n", 0, 0, 0, 0 },
	{ "unfinished dot", "abc\r\n.", 0, 0, 0, 0, "abc\r\n", 0, 0, 0, 0 },
	{ "unfinished dot CR", "abc\r\n.\r", 0, 0, 0, 0, "abc\r\n", 0, 0, 0,
	    0 },
	{ "nothing", "", 0, 0, 0, 0, "", 0, 0, 0, 0 },

	/* SMTP smuggling: none of these end the data. */
	{ "LF.LF", "a\n.\nb\r\n.\r\n", 0, 0, 0, 1, "a\n.\nb\r\n", 0,
	    DATA_BARE_LF, 0, 0 },
	{ "LF.CRLF", "a\n.\r\nb\r\n.\r\n", 0, 0, 0, 1, "a\n.\r\nb\r\n", 0,
	    DATA_BARE_LF, 0, 0 },
	{ "CR.CR", "a\r.\rb\r\n.\r\n", 0, 0, 0, 1, "a\r.\rb\r\n", 0,
	    DATA_BARE_CR, 0, 0 },
	{ "CRLF.LF", "a\r\n.\nb\r\n.\r\n", 0, 0, 0, 1, "a\r\n\nb\r\n", 0,
	    DATA_BARE_LF, 0, 0 },
	{ "CRLF.CR", "a\r\n.\rb\r\n.\r\n", 0, 0, 0, 1, "a\r\n\rb\r\n", 0,
	    DATA_BARE_CR, 0, 0 },
	{ "CRLF.CRCR", "a\r\n.\r\r\n.\r\n", 0, 0, 0, 1, "a\r\n\r\r\n", 0,
	    DATA_BARE_CR, 0, 0 },
	{ "CR.CRLF", "a\r.\r\nb\r\n.\r\n", 0, 0, 0, 1, "a\r.\r\nb\r\n", 0,
	    DATA_BARE_CR, 0, 0 },
	{ "LF.LF at start", "\n.\nb\r\n.\r\n", 0, 0, 0, 1, "\n.\nb\r\n", 0,
	    DATA_BARE_LF, 0, 0 },
	{ "LF.CRLF at start", "\n.\r\n.\r\n", 0, 0, 0, 1, "\n.\r\n", 0,
	    DATA_BARE_LF, 0, 0 },
	{ "CR.CR at start", "\r.\r\r\n.\r\n", 0, 0, 0, 1, "\r.\r\r\n", 0,
	    DATA_BARE_CR, 0, 0 },
	{ ".LF at start", ".\n.\r\n.\r\n", 0, 0, 0, 1, "\n.\r\n", 0,
	    DATA_BARE_LF, 0, 0 },
	{ "LF.LF unfinished", "a\n.\n", 0, 0, 0, 0, "a\n.\n", 0,
	    DATA_BARE_LF, 0, 0 },
	{ "LF.CRLF unfinished", "a\n.\r\n", 0, 0, 0, 0, "a\n.\r\n", 0,
	    DATA_BARE_LF, 0, 0 },
	{ "CR.CR unfinished", "a\r.\r", 0, 0, 0, 0, "a\r.", 0,
	    DATA_BARE_CR, 0, 0 },
	{ "CRLF.LF unfinished", "a\r\n.\n", 0, 0, 0, 0, "a\r\n\n", 0,
	    DATA_BARE_LF, 0, 0 },
	{ "both", "a\rb\nc\r\n.\r\n", 0, 0, 0, 1, "a\rb\nc\r\n", 0,
	    DATA_BARE_CR | DATA_BARE_LF, 0, 0 },
	{ "NUL", "a\0b\r\n.\r\n", 8, 0, 0, 1, "a\0b\r\n", 5, DATA_NUL, 0, 0 },

	/* line_limit counts CRLF; the stuffing dot does not count. */
	{ "line at limit", "12345678\r\n.\r\n", 0, 10, 0, 1, "12345678\r\n",
	    0, 0, 0, 0 },
	{ "line over limit", "123456789\r\n.\r\n", 0, 10, 0, 1,
	    "123456789\r\n", 0, DATA_LONG_LINE, 0, 0 },
	{ "stuffed line at limit", "..2345678\r\n.\r\n", 0, 10, 0, 1,
	    ".2345678\r\n", 0, 0, 0, 0 },
	{ "stuffed line over limit", "..23456789\r\n.\r\n", 0, 10, 0, 1,
	    ".23456789\r\n", 0, DATA_LONG_LINE, 0, 0 },
	{ "unfinished line over limit", "123456789", 0, 10, 0, 0,
	    "123456789", 0, DATA_LONG_LINE, 0, 0 },
	{ "bare CR counts", "1234567\r8\r\n.\r\n", 0, 10, 0, 1,
	    "1234567\r8\r\n", 0, DATA_LONG_LINE | DATA_BARE_CR, 0, 0 },
	{ "bare LF does not end a line", "1234\n5678\r\n.\r\n", 0, 10, 0, 1,
	    "1234\n5678\r\n", 0, DATA_LONG_LINE | DATA_BARE_LF, 0, 0 },
	{ "many lines at limit", "12345678\r\n12345678\r\n12345678\r\n.\r\n",
	    0, 10, 0, 1, "12345678\r\n12345678\r\n12345678\r\n", 0, 0, 0, 0 },

	/* size_limit counts content after unstuffing, CRLF included. */
	{ "size at limit", "abc\r\n..d\r\n.\r\n", 0, 0, LIM(9), 1,
	    "abc\r\n.d\r\n", 0, 0, 0, 0 },
	{ "size one over", "abc\r\n..d\r\n.\r\n", 0, 0, LIM(8), 1,
	    "abc\r\n.d\r", 0, DATA_TOO_BIG, 0, 0 },
	{ "size far over", "abcdefgh\r\nijklmnop\r\n.\r\n", 0, 0, LIM(3),
	    1, "abc", 0, DATA_TOO_BIG, 0, 0 },
	{ "size zero", ".\r\n", 0, 0, LIM(0), 1, "", 0, 0, 0, 0 },
	{ "size zero, one octet", "a\r\n.\r\n", 0, 0, LIM(0), 1, "", 0,
	    DATA_TOO_BIG, 0, 0 },
	{ "size over at bare CR", "ab\rc\r\n.\r\n", 0, 0, LIM(2), 1, "ab",
	    0, DATA_TOO_BIG | DATA_BARE_CR, 0, 0 },

	/* Received: header fields, up to the empty line. */
	{ "received", "Received: a\r\nreceived: b\r\nRECEIVED:c\r\n"
	    "X-Received: d\r\nReceived : e\r\nReceivedX: f\r\nReceive: g\r\n"
	    "Subject: x\r\n\tReceived: folded\r\n\r\nReceived: body\r\n"
	    ".\r\n", 0, 0, 0, 1, "Received: a\r\nreceived: b\r\nRECEIVED:c\r\n"
	    "X-Received: d\r\nReceived : e\r\nReceivedX: f\r\nReceive: g\r\n"
	    "Subject: x\r\n\tReceived: folded\r\n\r\nReceived: body\r\n", 0,
	    0, 0, 3 },
	{ "received, stuffed", ".Received: a\r\n\r\n.\r\n", 0, 0, 0, 1,
	    "Received: a\r\n\r\n", 0, 0, 0, 1 },
	{ "received, only headers", "Received: a\r\nReceived: b\r\n.\r\n", 0,
	    0, 0, 1, "Received: a\r\nReceived: b\r\n", 0, 0, 0, 2 },
	{ "received, unfinished", "Received:", 0, 0, 0, 0, "Received:", 0, 0,
	    0, 1 },
	{ "received, cut", "Received", 0, 0, 0, 0, "Received", 0, 0, 0, 0 },
	{ "received, long line", "Received: xxxxxxxxxx\r\n.\r\n", 0, 10, 0,
	    1, "Received: xxxxxxxxxx\r\n", 0, DATA_LONG_LINE, 0, 1 },
	{ "received, too big", "Received: a\r\nReceived: b\r\n\r\n.\r\n", 0,
	    0, LIM(3), 1, "Rec", 0, DATA_TOO_BIG, 0, 2 },
	{ "received, control character", "Received\x1a x\r\n\r\n.\r\n", 0, 0,
	    0, 1, "Received\x1a x\r\n\r\n", 0, 0, 0, 0 },
	{ "received, bare CR inside", "Rece\rived: x\r\n\r\n.\r\n", 0, 0, 0, 1,
	    "Rece\rived: x\r\n\r\n", 0, DATA_BARE_CR, 0, 0 },
	{ "received, bare LF inside", "Rece\nived: x\r\n\r\n.\r\n", 0, 0, 0, 1,
	    "Rece\nived: x\r\n\r\n", 0, DATA_BARE_LF, 0, 0 },
	{ "received, after bare LF", "A: b\nReceived: x\r\n\r\n.\r\n", 0, 0, 0,
	    1, "A: b\nReceived: x\r\n\r\n", 0, DATA_BARE_LF, 0, 0 },
	{ "received, empty header section", "\r\nReceived: x\r\n.\r\n", 0, 0,
	    0, 1, "\r\nReceived: x\r\n", 0, 0, 0, 0 },
};

static void
test_cases(void **state)
{
	struct result res;
	size_t i, inlen, outlen;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct data_case *t = &cases[i];

		inlen = t->inlen ? t->inlen : strlen(t->in);
		outlen = t->outlen ? t->outlen : strlen(t->out);
		feed_all_ways(t->in, inlen, t->line_limit ? t->line_limit :
		    1000, t->size_limit ? t->size_limit - 1 : NOLIMIT, 0,
		    &res);
		if (res.r != t->r || res.flags != t->flags ||
		    res.used != (t->used ? t->used : inlen) ||
		    res.received != t->received || res.out.len != outlen ||
		    (outlen && memcmp(res.out.data, t->out, outlen) != 0))
			fail_msg("%s: r %d flags %#x used %zu received %u "
			    "out(%zu) \"%s\"", t->name, res.r, res.flags,
			    res.used, res.received, res.out.len,
			    buf_cstr(&res.out));
		result_free(&res);
	}
}

/* <CRLF>.<CRLF> split at every position across two, three and every
 * possible number of feeds, inside a longer message. */
static void
test_terminator_split(void **state)
{
	static const char msg[] = "From: a\r\n\r\nbody\r\n.\r\nNOOP\r\n";
	struct data_parser p;
	struct buf out;
	size_t i, j, used, n = sizeof(msg) - 1, end = 20;
	int r;

	(void)state;
	for (i = 0; i <= n; i++)
		for (j = i; j <= n; j++) {
			size_t cut[4] = { 0, i, j, n }, k, off = 0;

			data_init(&p, 1000, NOLIMIT);
			buf_init(&out, 0);
			r = 0;
			for (k = 0; k < 3 && r == 0; k++) {
				r = data_feed(&p, msg + cut[k],
				    cut[k + 1] - cut[k], &out, &used);
				off = cut[k] + used;
			}
			assert_int_equal(r, 1);
			assert_int_equal(off, end);
			assert_int_equal(p.flags, 0);
			assert_string_equal(buf_cstr(&out),
			    "From: a\r\n\r\nbody\r\n");
			buf_free(&out);
		}
}

/* Long lines at the real limit and at every length around it. */
static void
test_line_limit(void **state)
{
	struct buf in = BUF_INIT(0);
	struct result res;
	size_t len;

	(void)state;
	for (len = 995; len <= 1001; len++) {
		buf_reset(&in);
		assert_int_equal(buf_appends(&in, "a\r\n"), 1);
		while (in.len < 3 + len)
			assert_int_equal(buf_appendc(&in, 'x'), 1);
		assert_int_equal(buf_appends(&in, "\r\nb\r\n.\r\n"), 1);
		feed(in.data, in.len, 1000, NOLIMIT, 0, 0, 0, &res);
		assert_int_equal(res.r, 1);
		assert_int_equal(res.used, in.len);
		assert_int_equal(res.flags, len <= 998 ? 0 : DATA_LONG_LINE);
		result_free(&res);
		feed(in.data, in.len, 1000, NOLIMIT, 0, 1, 0, &res);
		assert_int_equal(res.flags, len <= 998 ? 0 : DATA_LONG_LINE);
		result_free(&res);
	}
	buf_free(&in);
}

/* Size limits of a realistic size, exactly and one over. */
static void
test_size_limit(void **state)
{
	struct buf in = BUF_INIT(0);
	struct result res, bb;
	size_t i;

	(void)state;
	for (i = 0; i < 2000; i++)
		assert_int_equal(buf_appendf(&in, "line %zu\r\n", i), 1);
	/* content: in.len octets */
	{
		size_t clen = in.len;

		assert_int_equal(buf_appends(&in, ".\r\n"), 1);
		feed(in.data, in.len, 1000, clen, 0, 0, 0, &res);
		assert_int_equal(res.r, 1);
		assert_int_equal(res.flags, 0);
		assert_int_equal(res.out.len, clen);
		assert_true(res.size == clen);
		result_free(&res);

		feed(in.data, in.len, 1000, clen - 1, 0, 0, 0, &res);
		feed(in.data, in.len, 1000, clen - 1, 0, 2, 42, &bb);
		result_eq(&res, &bb, "random chunks");
		assert_int_equal(res.r, 1);
		assert_int_equal(res.used, in.len);
		assert_int_equal(res.flags, DATA_TOO_BIG);
		assert_int_equal(res.out.len, clen - 1);
		assert_memory_equal(res.out.data, in.data, clen - 1);
		/* Counting goes on to the end. */
		assert_true(res.size == clen);
		result_free(&res);
		result_free(&bb);
	}
	buf_free(&in);
}

/* After the end, data_feed consumes nothing, also for n == 0 (fuzz_data
 * crasher "\x00.\r\n": it used to answer 0, "need more", for n == 0). */
static void
test_after_end(void **state)
{
	struct data_parser p;
	struct buf out = BUF_INIT(0);
	size_t used;

	(void)state;
	data_init(&p, 1000, NOLIMIT);
	assert_int_equal(data_feed(&p, ".\r\nXY", 5, &out, &used), 1);
	assert_int_equal(used, 3);
	used = 99;
	assert_int_equal(data_feed(&p, "XY", 2, &out, &used), 1);
	assert_int_equal(used, 0);
	used = 99;
	assert_int_equal(data_feed(&p, "", 0, &out, &used), 1);
	assert_int_equal(used, 0);
	assert_int_equal(out.len, 0);

	/* n == 0 before the end: nothing happens. */
	data_init(&p, 1000, NOLIMIT);
	used = 99;
	assert_int_equal(data_feed(&p, "", 0, &out, &used), 0);
	assert_int_equal(used, 0);
	buf_free(&out);
}

/* An output buffer that refuses an append is reported as -1. */
static void
test_buf_full(void **state)
{
	struct data_parser p;
	struct buf out;
	size_t used;

	(void)state;
	data_init(&p, 1000, NOLIMIT);
	buf_init(&out, 4);
	assert_int_equal(data_feed(&p, "abcdef\r\n.\r\n", 11, &out, &used),
	    -1);
	buf_free(&out);

	data_init(&p, 1000, NOLIMIT);
	buf_init(&out, 4);
	assert_int_equal(data_feed(&p, "abc\r\n.\r\n", 8, &out, &used), -1);
	buf_free(&out);

	data_init(&p, 1000, NOLIMIT);
	buf_init(&out, 3);
	assert_int_equal(data_feed(&p, "ab\rc", 4, &out, &used), -1);
	buf_free(&out);

	data_init(&p, 1000, NOLIMIT);
	buf_init(&out, 3);
	assert_int_equal(data_feed(&p, "abc\n", 4, &out, &used), -1);
	buf_free(&out);

	data_init(&p, 1000, NOLIMIT);
	buf_init(&out, 3);
	assert_int_equal(data_feed_raw(&p, "abcd", 4, &out), -1);
	buf_free(&out);

	/* Past the size limit nothing is appended, so no failure. */
	data_init(&p, 1000, 2);
	buf_init(&out, 3);
	assert_int_equal(data_feed(&p, "abcdef\r\n.\r\n", 11, &out, &used), 1);
	assert_int_equal(out.len, 2);
	assert_int_equal(p.flags, DATA_TOO_BIG);
	buf_free(&out);
}

/* ------------------------------------------------------------ model */

struct model {
	struct buf	 out;
	unsigned	 flags;
	size_t		 linelen, line_limit;
	unsigned long long size, size_limit;
	int		 in_headers, hdr_match;
	size_t		 hdr_pos;
	unsigned	 received;
};

static void
model_emit(struct model *m, char c)
{
	if (m->size < m->size_limit)
		assert_int_equal(buf_appendc(&m->out, c), 1);
	else
		m->flags |= DATA_TOO_BIG;
	m->size++;
}

static void
model_line_byte(struct model *m, unsigned char c)
{
	static const char rcv[] = "received:";

	model_emit(m, (char)c);
	m->linelen++;
	if (m->linelen + 2 > m->line_limit)
		m->flags |= DATA_LONG_LINE;
	if (c == '\0')
		m->flags |= DATA_NUL;
	if (c == '\r' || c == '\n')
		m->hdr_match = 0;
	if (!m->in_headers || !m->hdr_match || m->hdr_pos == 9)
		return;
	if ((c >= 'A' && c <= 'Z' ? c + 32 : c) == (unsigned char)rcv[
	    m->hdr_pos]) {
		if (++m->hdr_pos == 9)
			m->received++;
	} else
		m->hdr_match = 0;
}

/* The contract, written plainly on the whole input. */
static void
model_run(const char *in, size_t n, size_t line_limit,
    unsigned long long size_limit, struct result *res)
{
	struct model m;
	size_t i = 0;
	int bol = 1;

	memset(&m, 0, sizeof(m));
	buf_init(&m.out, 0);
	m.line_limit = line_limit;
	m.size_limit = size_limit;
	m.in_headers = m.hdr_match = 1;
	memset(res, 0, sizeof(*res));
	res->r = 0;
	while (i < n) {
		if (bol && in[i] == '.') {
			if (i + 2 < n && in[i + 1] == '\r' &&
			    in[i + 2] == '\n') {
				res->r = 1;
				i += 3;
				break;
			}
			if (i + 2 >= n && (i + 1 == n || in[i + 1] == '\r'))
				break;	/* cannot tell yet */
			i++;	/* stuffing */
		}
		bol = 0;
		if (in[i] == '\r') {
			if (i + 1 == n)
				break;	/* cannot tell yet */
			if (in[i + 1] == '\n') {
				model_emit(&m, '\r');
				model_emit(&m, '\n');
				if (m.linelen == 0)
					m.in_headers = 0;
				m.linelen = 0;
				m.hdr_pos = 0;
				m.hdr_match = 1;
				bol = 1;
				i += 2;
				continue;
			}
			m.flags |= DATA_BARE_CR;
		} else if (in[i] == '\n')
			m.flags |= DATA_BARE_LF;
		model_line_byte(&m, (unsigned char)in[i]);
		i++;
	}
	res->out = m.out;
	res->flags = m.flags;
	res->used = i;
	res->size = m.size;
	res->received = m.received;
}

static void
test_model(void **state)
{
	static const char *tok[] = {
		"\r\n", "\r\n", "\r\n", ".", ".", "\r", "\n", "x", "yz",
		"Received:", "received: ", "RECEIVED:", "Rec", "\0", "\r\n.",
		"\r\n\r\n", "..", "\r\n.\r", "\n.\n", "\r.\r",
	};
	struct buf in = BUF_INIT(0);
	struct result want, got;
	uint32_t s = 12345;
	size_t line_limit, k, ntok;
	unsigned long long size_limit;
	int iter;

	(void)state;
	for (iter = 0; iter < 3000; iter++) {
		buf_reset(&in);
		ntok = rnd(&s) % 40;
		for (k = 0; k < ntok; k++) {
			const char *t = tok[rnd(&s) % (sizeof(tok) /
			    sizeof(tok[0]))];

			assert_int_equal(buf_append(&in, t, t[0] ? strlen(t) :
			    1), 1);
		}
		if (rnd(&s) % 4)
			assert_int_equal(buf_appends(&in, "\r\n.\r\n"), 1);
		if (rnd(&s) % 2)
			assert_int_equal(buf_appends(&in, "MAIL"), 1);
		line_limit = 2 + rnd(&s) % 20;
		size_limit = rnd(&s) % 3 ? NOLIMIT : rnd(&s) % 80;
		model_run(in.data, in.len, line_limit, size_limit, &want);
		feed_all_ways(in.data, in.len, line_limit, size_limit, 0,
		    &got);
		if (got.r == 0) {
			/* The model stops before bytes it cannot judge yet;
			 * the parser has consumed them. */
			want.used = in.len;
		}
		result_eq(&want, &got, "model");
		result_free(&want);
		result_free(&got);
	}
	buf_free(&in);
}

/* ------------------------------------------------------------ BDAT */

static void
test_raw(void **state)
{
	static const char msg[] = "Received: a\r\nreceived: b\r\n"
	    "X-Received: c\r\n\r\nReceived: body\r\n.\r\n\n";
	struct result res;

	(void)state;
	feed_all_ways(msg, sizeof(msg) - 1, 1000, NOLIMIT, 1, &res);
	assert_int_equal(res.received, 2);
	assert_int_equal(res.flags, 0);
	assert_int_equal(res.out.len, sizeof(msg) - 1);
	assert_memory_equal(res.out.data, msg, sizeof(msg) - 1);
	assert_true(res.size == sizeof(msg) - 1);
	result_free(&res);

	/* Bare LF ends header lines too, and "\n" ends the section. */
	feed_all_ways(S("Received: a\nReceived: b\n\nReceived: c\n"),
	    1000, NOLIMIT, 1, &res);
	assert_int_equal(res.received, 2);
	result_free(&res);

	/* A one-octet header line is not the empty line. */
	feed_all_ways(S("X\nReceived: a\r\nY\r\nReceived: b\r\n"), 1000,
	    NOLIMIT, 1, &res);
	assert_int_equal(res.received, 2);
	result_free(&res);
	feed_all_ways(S("\r\nReceived: a\r\n"), 1000, NOLIMIT, 1, &res);
	assert_int_equal(res.received, 0);
	result_free(&res);

	/* No dot handling, no line limit, no bare CR/LF flags. */
	feed_all_ways(S(".\r\n..\r\nxxxxxxxxxxxxxxx\r\na\rb\nc"), 10,
	    NOLIMIT, 1, &res);
	assert_int_equal(res.flags, 0);
	assert_int_equal(res.out.len, 29);
	result_free(&res);

	/* Size limit: exactly, then one over (the rest is counted only). */
	feed_all_ways(msg, sizeof(msg) - 1, 1000, sizeof(msg) - 1, 1, &res);
	assert_int_equal(res.flags, 0);
	assert_int_equal(res.out.len, sizeof(msg) - 1);
	result_free(&res);
	feed_all_ways(msg, sizeof(msg) - 1, 1000, sizeof(msg) - 2, 1, &res);
	assert_int_equal(res.flags, DATA_TOO_BIG);
	assert_int_equal(res.out.len, sizeof(msg) - 2);
	assert_true(res.size == sizeof(msg) - 1);
	assert_int_equal(res.received, 2);
	result_free(&res);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_terminator_split),
		cmocka_unit_test(test_line_limit),
		cmocka_unit_test(test_size_limit),
		cmocka_unit_test(test_after_end),
		cmocka_unit_test(test_buf_full),
		cmocka_unit_test(test_model),
		cmocka_unit_test(test_raw),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
