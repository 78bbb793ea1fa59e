/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * Unit tests for jobframe: the job frame qmgr sends a delivery worker
 * (round trip of several messages, the limits, every malformed shape,
 * every prefix of a valid frame, what jobframe_add refuses), and the
 * result frame the worker sends back per message (round trip, the
 * recipients of the job exactly, the bounds on remote and reply).
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
#include "relay/jobframe.h"
#include "relay/jobtrace.h"

#define ID1	"616a761691ee1345f260"
#define ID2	"616a761691ee1345f261"

static struct jobframe_msg m[DELIVER_MAX_MSGS + 1];

static int
parse(const char *s, size_t *n)
{
	return jobframe_parse(s, strlen(s), m, DELIVER_MAX_MSGS, n);
}

static void
test_round_trip(void **state)
{
	struct buf b = BUF_INIT(0);
	const int a[] = { 0, 2, 17 }, c[] = { 1000000 };
	size_t n;

	(void)state;
	assert_int_equal(jobframe_add(&b, ID1, "example.org", a, 3), 1);
	assert_int_equal(jobframe_add(&b, ID2, "", c, 1), 1);
	assert_string_equal(buf_cstr(&b), ID1 "\nexample.org\n0 2 17\n"
	    ID2 "\n\n1000000\n");
	assert_int_equal(jobframe_parse(b.data, b.len, m, DELIVER_MAX_MSGS,
	    &n), 1);
	assert_int_equal(n, 2);
	assert_string_equal(m[0].id, ID1);
	assert_string_equal(m[0].domain, "example.org");
	assert_int_equal(m[0].n, 3);
	assert_int_equal(m[0].idx[2], 17);
	assert_string_equal(m[1].id, ID2);
	assert_string_equal(m[1].domain, "");	/* bare postmaster */
	assert_int_equal(m[1].n, 1);
	assert_int_equal(m[1].idx[0], 1000000);
	jobframe_free(m, n);
	jobframe_free(m, n);	/* twice is fine */
	buf_free(&b);
}

static void
test_limits(void **state)
{
	struct buf b = BUF_INIT(0);
	int idx[DELIVER_MAX_RCPTS + 1];
	size_t i, n;

	(void)state;
	for (i = 0; i <= DELIVER_MAX_RCPTS; i++)
		idx[i] = (int)i;
	/* DELIVER_MAX_RCPTS indexes: fine; one more: refused both ways. */
	assert_int_equal(jobframe_add(&b, ID1, "d", idx, DELIVER_MAX_RCPTS),
	    1);
	assert_int_equal(parse(buf_cstr(&b), &n), 1);
	assert_int_equal(m[0].n, DELIVER_MAX_RCPTS);
	jobframe_free(m, n);
	assert_int_equal(jobframe_add(&b, ID1, "d", idx,
	    DELIVER_MAX_RCPTS + 1), -1);
	buf_reset(&b);
	(void)buf_appends(&b, ID1 "\nd\n0");
	for (i = 1; i <= DELIVER_MAX_RCPTS; i++)
		(void)buf_appendf(&b, " %zu", i);
	(void)buf_appendc(&b, '\n');
	assert_int_equal(parse(buf_cstr(&b), &n), -1);
	assert_int_equal(n, 0);
	/* The number of blocks: max, then one more than max. */
	buf_reset(&b);
	for (i = 0; i < DELIVER_MAX_MSGS; i++)
		assert_int_equal(jobframe_add(&b, ID1, "d", idx, 1), 1);
	assert_int_equal(parse(buf_cstr(&b), &n), 1);
	assert_int_equal(n, DELIVER_MAX_MSGS);
	jobframe_free(m, n);
	assert_int_equal(jobframe_add(&b, ID2, "d", idx, 1), 1);
	assert_int_equal(parse(buf_cstr(&b), &n), -1);
	assert_int_equal(n, 0);
	/* A smaller max given by the caller. */
	buf_reset(&b);
	assert_int_equal(jobframe_add(&b, ID1, "d", idx, 1), 1);
	assert_int_equal(jobframe_add(&b, ID2, "d", idx, 1), 1);
	assert_int_equal(jobframe_parse(b.data, b.len, m, 1, &n), -1);
	/* A buf at its maximum: refused, not a cut frame. */
	{
		struct buf small = BUF_INIT(30);

		assert_int_equal(jobframe_add(&small, ID1, "example.org",
		    idx, 3), -1);
		buf_free(&small);
	}
	buf_free(&b);
}

static void
test_malformed(void **state)
{
	static const char *const bad[] = {
		"",
		"\n",
		ID1,
		ID1 "\n",
		ID1 "\nd",
		ID1 "\nd\n",
		ID1 "\nd\n\n",
		ID1 "\nd\n0",			/* no final LF */
		ID1 "\nd\n0 \n",		/* trailing space */
		ID1 "\nd\n 0\n",		/* leading space */
		ID1 "\nd\n0  1\n",		/* two spaces */
		ID1 "\nd\n007\n",		/* leading zero */
		ID1 "\nd\n00\n",
		ID1 "\nd\n-1\n",
		ID1 "\nd\n+1\n",
		ID1 "\nd\n1000001\n",		/* past JOBFRAME_IDX_MAX */
		ID1 "\nd\n99999999999999999999\n",
		ID1 "\nd\n1x\n",
		ID1 "\nd\n1\t2\n",
		ID1 "\nd\n0\nx",		/* junk after a block */
		ID1 "\nd\n0\n\n",
		"616A761691EE1345F260\nd\n0\n",	/* upper-case id */
		"616a761691ee1345f26\nd\n0\n",	/* short id */
		"616a761691ee1345f2600\nd\n0\n",	/* long id */
		"616a761691ee1345f26g\nd\n0\n",
	};
	size_t i, n = 99;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		n = 99;
		if (parse(bad[i], &n) != -1)
			fail_msg("accepted: \"%s\"", bad[i]);
		assert_int_equal(n, 0);
	}
	/* A NUL in the domain. */
	assert_int_equal(jobframe_parse(ID1 "\nd\0e\n0\n",
	    sizeof(ID1 "\nd\0e\n0\n") - 1, m, DELIVER_MAX_MSGS, &n), -1);
}

/* Every prefix of a two-block frame: only the one ending after the first
 * block, and the whole, parse. */
static void
test_prefixes(void **state)
{
	const char *f = ID1 "\nexample.org\n0 2\n" ID2 "\nexample.net\n3\n";
	size_t len = strlen(f), first = strlen(ID1 "\nexample.org\n0 2\n");
	size_t i, n;
	int r;

	(void)state;
	for (i = 0; i <= len; i++) {
		r = jobframe_parse(f, i, m, DELIVER_MAX_MSGS, &n);
		if (i == first || i == len) {
			assert_int_equal(r, 1);
			assert_int_equal(n, i == len ? 2 : 1);
			jobframe_free(m, n);
		} else
			assert_int_equal(r, -1);
	}
}

static void
test_add_refuses(void **state)
{
	struct buf b = BUF_INIT(0);
	const int ok[] = { 1 }, neg[] = { -1 }, big[] = { 1000001 };

	(void)state;
	assert_int_equal(jobframe_add(&b, ID1, "a\nb", ok, 1), -1);
	assert_int_equal(jobframe_add(&b, "nope", "d", ok, 1), -1);
	assert_int_equal(jobframe_add(&b, ID1, "d", ok, 0), -1);
	assert_int_equal(jobframe_add(&b, ID1, "d", neg, 1), -1);
	assert_int_equal(jobframe_add(&b, ID1, "d", big, 1), -1);
	assert_int_equal(b.len, 0);
	buf_free(&b);
}

#define TLINE	"T relayhost: smtp:[127.0.0.1]:25\tnone\t127.0.0.1:25: " \
		"connected\tnone (default); clear text\tok\n"

static struct jobframe_rcpt r[DELIVER_MAX_RCPTS];

static int
rparse(const char *s, const int *idx, size_t n, struct jobtrace *tr)
{
	return jobframe_result_parse(s, strlen(s), ID1, idx, n, r, tr);
}

static void
test_result_round_trip(void **state)
{
	struct buf b = BUF_INIT(0);
	struct jobtrace tr = { { NULL } };
	const char *f[JOBTRACE_FIELDS] = { "relayhost: smtp:[127.0.0.1]:25",
	    "none", "127.0.0.1:25: connected", "none (default); clear text",
	    "ok" };
	const int idx[] = { 4, 1 };

	(void)state;
	assert_int_equal(jobframe_result_begin(&b, ID1), 1);
	assert_int_equal(jobframe_result_add(&b, 4, DELIVER_OK,
	    "smtp:[127.0.0.1]:25", "250 2.0.0 Ok"), 1);
	/* NULL remote is "-"; TAB, CR, LF in the reply become blanks. */
	assert_int_equal(jobframe_result_add(&b, 1, DELIVER_TEMP, NULL,
	    "451 4.3.0 a\tb\r\nc"), 1);
	jobtrace_format(&b, f);
	assert_string_equal(buf_cstr(&b), ID1 "\n4 d smtp:[127.0.0.1]:25\t"
	    "250 2.0.0 Ok\n1 t -\t451 4.3.0 a b  c\n" TLINE);
	assert_int_equal(rparse(buf_cstr(&b), idx, 2, &tr), 1);
	assert_int_equal(r[0].idx, 4);
	assert_int_equal(r[0].state, DELIVER_OK);
	assert_string_equal(r[0].remote, "smtp:[127.0.0.1]:25");
	assert_string_equal(r[1].reply, "451 4.3.0 a b  c");
	assert_string_equal(tr.f[JOBTRACE_CONN], "ok");
	jobframe_result_free(r, 2);
	jobtrace_free(&tr);
	buf_free(&b);
}

static void
test_result_bounds(void **state)
{
	struct buf b = BUF_INIT(0), line = BUF_INIT(0);
	struct jobtrace tr = { { NULL } };
	const int idx[] = { 0 };
	size_t i;

	(void)state;
	/* A long reply is cut to JOBFRAME_REPLY_MAX and parses back. */
	for (i = 0; i < 2 * JOBFRAME_REPLY_MAX; i++)
		(void)buf_appendc(&line, 'x');
	assert_int_equal(jobframe_result_begin(&b, ID1), 1);
	assert_int_equal(jobframe_result_add(&b, 0, DELIVER_PERM, "",
	    buf_cstr(&line)), 1);
	(void)buf_appends(&b, TLINE);
	assert_int_equal(rparse(buf_cstr(&b), idx, 1, &tr), 1);
	assert_int_equal(strlen(r[0].reply), JOBFRAME_REPLY_MAX);
	assert_string_equal(r[0].remote, "-");
	jobframe_result_free(r, 1);
	/* One octet more than the max: refused. */
	buf_reset(&b);
	(void)buf_appends(&b, ID1 "\n0 p -\t");
	for (i = 0; i <= JOBFRAME_REPLY_MAX; i++)
		(void)buf_appendc(&b, 'x');
	(void)buf_appends(&b, "\n" TLINE);
	assert_int_equal(rparse(buf_cstr(&b), idx, 1, &tr), -1);
	assert_null(tr.f[0]);
	/* Bad states and indexes for the formatter. */
	assert_int_equal(jobframe_result_add(&b, 0, 'x', "-", ""), -1);
	assert_int_equal(jobframe_result_add(&b, 0, '\0', "-", ""), -1);
	assert_int_equal(jobframe_result_add(&b, -1, 'd', "-", ""), -1);
	jobtrace_free(&tr);
	buf_free(&b);
	buf_free(&line);
}

static void
test_result_malformed(void **state)
{
	static const char *const bad[] = {
		"",
		ID1,
		ID1 "\n",
		ID1 "\n" TLINE,			/* no recipient */
		ID1 "\n0 d -\tok\n",			/* no trace */
		ID1 "\n0 d -\tok\n" TLINE "x",	/* after the trace */
		ID1 "\n0 d -\tok\n" TLINE TLINE,
		ID1 "\n" TLINE "0 d -\tok\n",		/* trace first */
		ID1 "\n0 d -\tok\n1 d -\tok\n" TLINE,	/* 1 not in the job */
		ID1 "\n2 d -\tok\n" TLINE,		/* not in the job */
		ID1 "\n0 x -\tok\n" TLINE,		/* state */
		ID1 "\n0 d\tok\n" TLINE,
		ID1 "\n0 d \tok\n" TLINE,		/* empty remote */
		ID1 "\n0 d -ok\n" TLINE,			/* no tab */
		ID1 "\n0 d -\to\rk\n" TLINE,		/* CR */
		ID1 "\n0 d -\to\tk\n" TLINE,		/* second tab */
		ID1 "\n00 d -\tok\n" TLINE,
		ID1 "\n0  d -\tok\n" TLINE,
		ID2 "\n0 d -\tok\n" TLINE,		/* another id */
		ID1 "\n0 d -\tok\nT x\n",		/* bad trace */
	};
	struct jobtrace tr = { { NULL } };
	const int idx[] = { 0 }, two[] = { 0, 1 };
	size_t i, k;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		if (rparse(bad[i], idx, 1, &tr) != -1)
			fail_msg("accepted: \"%s\"", bad[i]);
	for (k = 0; k < JOBTRACE_FIELDS; k++)
		assert_null(tr.f[k]);
	/* The same recipient twice for a job of two. */
	assert_int_equal(rparse(ID1 "\n0 d -\tok\n0 d -\tok\n" TLINE,
	    two, 2, &tr), -1);
	/* One of two missing. */
	assert_int_equal(rparse(ID1 "\n0 d -\tok\n" TLINE, two, 2, &tr), -1);
	/* In any order. */
	assert_int_equal(rparse(ID1 "\n1 u -\tlost\n0 d -\tok\n" TLINE,
	    two, 2, &tr), 1);
	assert_int_equal(r[0].idx, 1);
	assert_int_equal(r[0].state, DELIVER_UNSURE);
	jobframe_result_free(r, 2);
	/* Delivered with a success notice due: relayed, final. */
	assert_int_equal(rparse(ID1 "\n0 r -\tok\n1 f -\tok\n" TLINE,
	    two, 2, &tr), 1);
	assert_int_equal(r[0].state, DELIVER_OK_RELAYED);
	assert_int_equal(r[1].state, DELIVER_OK_FINAL);
	jobframe_result_free(r, 2);
	jobtrace_free(&tr);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_prefixes),
		cmocka_unit_test(test_add_refuses),
		cmocka_unit_test(test_result_round_trip),
		cmocka_unit_test(test_result_bounds),
		cmocka_unit_test(test_result_malformed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
