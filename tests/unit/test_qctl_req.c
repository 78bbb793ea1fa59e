/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * Unit tests for qctl_req: the queue-control request estafetactl sends
 * qmgr (an ID or filters, dry-run, every filter, every refusal, bounds,
 * every prefix of a valid request).
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

#include "relay/qctl_req.h"

#define NOW	1800000000LL
#define ID	"61693aa7a1db2b3a8a99"

static int
parse(struct qctl_req *r, const char *s, const char **err_r)
{
	*err_r = NULL;
	return qctl_req_parse(r, s, strlen(s), NOW, err_r);
}

static void
test_id(void **state)
{
	struct qctl_req r;
	const char *err;

	(void)state;
	assert_int_equal(parse(&r, "hold " ID, &err), 1);
	assert_string_equal(r.verb, "hold");
	assert_string_equal(r.id, ID);
	assert_int_equal(r.nfilter, 0);
	assert_int_equal(r.dry, 0);
	assert_int_equal(r.nline, 0);
	qctl_req_free(&r);
	assert_int_equal(parse(&r, "delete " ID "\ndry-run=1", &err), 1);
	assert_string_equal(r.verb, "delete");
	assert_int_equal(r.dry, 1);
	assert_int_equal(r.nline, 1);
	assert_string_equal(r.line[0], "dry-run=1");
	assert_int_equal(r.no_notice, 0);
	qctl_req_free(&r);
	assert_null(r.line[0]);
	/* bounce without a notice: not a filter, kept for the audit log. */
	assert_int_equal(parse(&r, "bounce " ID "\nnotice=0", &err), 1);
	assert_int_equal(r.no_notice, 1);
	assert_int_equal(r.nfilter, 0);
	assert_string_equal(r.line[0], "notice=0");
	qctl_req_free(&r);
	assert_int_equal(parse(&r, "flush\nnext-hop=mx:b.test:25", &err), 1);
	assert_int_equal(r.nfilter, 1);
	assert_string_equal(r.f.hop, "mx:b.test:25");
	qctl_req_free(&r);
}

static void
test_filters(void **state)
{
	struct qctl_req r;
	const char *err;

	(void)state;
	assert_int_equal(parse(&r, "bounce\nsender=<>\nrcpt=a@b.test\n"
	    "domain=b.test\nstate=deferred\nolder-than=3600\n"
	    "reply=4.4.1 connect\ndry-run=1", &err), 1);
	assert_string_equal(r.verb, "bounce");
	assert_string_equal(r.id, "");
	assert_int_equal(r.nfilter, 6);
	assert_int_equal(r.dry, 1);
	assert_string_equal(r.f.sender, "");
	assert_string_equal(r.f.rcpt, "a@b.test");
	assert_string_equal(r.f.domain, "b.test");
	assert_int_equal(r.f.state, QIDX_DEFERRED);
	assert_int_equal(r.f.before, NOW - 3600);
	assert_string_equal(r.f.reply, "4.4.1 connect");
	assert_int_equal(r.nline, 7);
	assert_string_equal(r.line[5], "reply=4.4.1 connect");
	qctl_req_free(&r);

	assert_int_equal(parse(&r, "hold\nstate=held", &err), 1);
	assert_int_equal(r.f.state, QIDX_HELD);
	assert_null(r.f.sender);
	assert_int_equal(r.f.before, 0);
	qctl_req_free(&r);
	/* The value keeps '=' and spaces. */
	assert_int_equal(parse(&r, "hold\nsender=a=b c@d", &err), 1);
	assert_string_equal(r.f.sender, "a=b c@d");
	qctl_req_free(&r);
	/* A cut-off before the epoch matches nothing, never "any". */
	assert_int_equal(parse(&r, "hold\nolder-than=1800000000", &err), 1);
	assert_int_equal(r.f.before, -1);
	qctl_req_free(&r);
	assert_int_equal(parse(&r, "hold\nolder-than=0", &err), 1);
	assert_int_equal(r.f.before, NOW);
	qctl_req_free(&r);
}

static void
expect_bad(const char *s, const char *msg)
{
	struct qctl_req r;
	const char *err;

	assert_int_equal(parse(&r, s, &err), -1);
	assert_non_null(err);
	assert_string_equal(err, msg);
	qctl_req_free(&r);
}

static void
test_bad(void **state)
{
	(void)state;
	expect_bad("hold", "give a queue ID or at least one filter");
	expect_bad("hold\ndry-run=1", "give a queue ID or at least one filter");
	expect_bad("hold " ID "\nrcpt=a@b", "give an ID or filters, not both");
	expect_bad("hold 61693aa7a1db2b3a8a9", "bad queue id");
	expect_bad("hold " ID "0", "bad queue id");
	expect_bad("hold " ID " ", "bad queue id");
	expect_bad("hold  " ID, "bad queue id");
	expect_bad("hold ../../etc/passwd/xx", "bad queue id");
	expect_bad("verylongverbname " ID, "unknown command");
	expect_bad("hold\nrcpt", "bad filter: expected key=value");
	expect_bad("hold\nrcpt=", "bad filter: expected key=value");
	expect_bad("hold\n", "give a queue ID or at least one filter");
	expect_bad("hold\n\nrcpt=a", "bad filter: expected key=value");
	expect_bad("hold\n=x", "unknown or repeated filter");
	expect_bad("hold\ncolour=red", "unknown or repeated filter");
	expect_bad("hold\nrcpt=a\nrcpt=b", "unknown or repeated filter");
	expect_bad("hold\ndry-run=0", "unknown or repeated filter");
	expect_bad("hold\nnext-hop=a\nnext-hop=b", "unknown or repeated "
	    "filter");
	expect_bad("hold " ID "\nnotice=0", "unknown or repeated filter");
	expect_bad("bounce " ID "\nnotice=1", "unknown or repeated filter");
	expect_bad("bounce " ID "\nnotice=0\nnotice=0",
	    "unknown or repeated filter");
	expect_bad("bounce\nnotice=0", "give a queue ID or at least one "
	    "filter");
	expect_bad("hold\nstate=lost", "bad state: pending, deferred, "
	    "delivered, bounced or held");
	expect_bad("hold\nstate=held\nstate=held",
	    "unknown or repeated filter");
	expect_bad("hold\nolder-than=1h", "bad older-than: seconds expected");
	expect_bad("hold\nolder-than=-5", "bad older-than: seconds expected");
	expect_bad("hold\nolder-than=+5", "bad older-than: seconds expected");
	expect_bad("hold\nolder-than= 5", "bad older-than: seconds expected");
	expect_bad("hold\nolder-than=99999999999999999999",
	    "bad older-than: seconds expected");
	expect_bad("hold\nolder-than=3153600001",
	    "bad older-than: seconds expected");
	expect_bad("hold\nolder-than=5\nolder-than=6",
	    "unknown or repeated filter");
	expect_bad("hold\na=1\nb=2\nc=3\nd=4\ne=5\nf=6\ng=7\nh=8\ni=9",
	    "unknown or repeated filter");
	/* dry-run lines count toward the limit of lines, not filters. */
	expect_bad("hold\nrcpt=a\nsender=b\ndomain=c\nreply=d\nstate=held\n"
	    "older-than=1\ndry-run=1\ndry-run=1\ndry-run=1",
	    "too many filters");
}

static void
test_nul(void **state)
{
	static const char s[] = "hold\nrcpt=a\0b";
	struct qctl_req r;
	const char *err;

	(void)state;
	assert_int_equal(qctl_req_parse(&r, s, sizeof(s) - 1, NOW, &err), -1);
	assert_string_equal(err, "bad command");
	qctl_req_free(&r);
}

/* No prefix of a valid request reads past its length or is misread. */
static void
test_prefixes(void **state)
{
	static const char s[] = "requeue\nrcpt=x@y.test\nstate=deferred";
	struct qctl_req r;
	const char *err;
	size_t n;
	char *copy;

	(void)state;
	for (n = 0; n <= sizeof(s) - 1; n++) {
		copy = malloc(n ? n : 1);
		assert_non_null(copy);
		memcpy(copy, s, n);
		if (qctl_req_parse(&r, copy, n, NOW, &err) == 1) {
			assert_string_equal(r.verb, "requeue");
			assert_non_null(r.f.rcpt);
		}
		qctl_req_free(&r);
		free(copy);
	}
	assert_int_equal(qctl_req_parse(&r, s, sizeof(s) - 1, NOW, &err), 1);
	assert_string_equal(r.f.rcpt, "x@y.test");
	assert_int_equal(r.f.state, QIDX_DEFERRED);
	qctl_req_free(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_id),
		cmocka_unit_test(test_filters),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_nul),
		cmocka_unit_test(test_prefixes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
