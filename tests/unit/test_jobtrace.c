/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * Unit tests for jobtrace: the trace line a delivery worker sends with a
 * job's results and qmgr parses (round trip, bounds, control characters,
 * every malformed shape, every prefix of a valid line).
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
#include "relay/jobtrace.h"

static void
test_round_trip(void **state)
{
	const char *f[JOBTRACE_FIELDS] = {
		"transports: smtp:[192.0.2.1]:25", "none ([host]: no MX lookup)",
		"192.0.2.1:25: 4.4.1 connect: Connection refused, "
		    "192.0.2.2:25: connected",
		"may (smtp_tls); TLSv1.3 TLS_AES_256_GCM_SHA384", "ok",
	};
	struct buf b = BUF_INIT(0);
	struct jobtrace t = { { NULL } };
	size_t i;

	(void)state;
	jobtrace_format(&b, f);
	assert_int_equal(b.data[b.len - 1], '\n');
	assert_int_equal(jobtrace_parse(b.data, b.len - 1, &t), 1);
	for (i = 0; i < JOBTRACE_FIELDS; i++)
		assert_string_equal(t.f[i], f[i]);
	/* Parsing again replaces the fields (no leak: ASan). */
	assert_int_equal(jobtrace_parse(b.data, b.len - 1, &t), 1);
	/* Every CONN value. */
	assert_int_equal(jobtrace_parse("T a\tb\tc\td\tauth", 14, &t), 1);
	assert_string_equal(t.f[JOBTRACE_CONN], "auth");
	assert_int_equal(jobtrace_parse("T a\tb\tc\td\tfailed", 16, &t), 1);
	assert_int_equal(jobtrace_parse("T a\tb\tc\td\treused", 16, &t), 1);
	assert_int_equal(jobtrace_parse("T a\tb\tc\td\ttls", 13, &t), 1);
	assert_string_equal(t.f[JOBTRACE_CONN], "tls");
	jobtrace_free(&t);
	jobtrace_free(&t);	/* twice is fine */
	buf_free(&b);
}

static void
test_format_bounds(void **state)
{
	char big[1000], ctl[] = "a\tb\nc\rd\x7f" "e";
	const char *f[JOBTRACE_FIELDS] = { big, ctl, NULL, "", NULL };
	struct buf b = BUF_INIT(0);
	struct jobtrace t = { { NULL } };

	(void)state;
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	jobtrace_format(&b, f);
	assert_int_equal(jobtrace_parse(b.data, b.len - 1, &t), 1);
	assert_int_equal(strlen(t.f[JOBTRACE_ROUTE]), JOBTRACE_FIELD_MAX);
	assert_string_equal(t.f[JOBTRACE_MX], "a b c d e");
	assert_string_equal(t.f[JOBTRACE_TRIED], "");
	assert_string_equal(t.f[JOBTRACE_CONN], "-");	/* NULL conn */
	jobtrace_free(&t);
	buf_free(&b);
}

static void
test_bad(void **state)
{
	static const char *const bad[] = {
		"", "T", "T ", "X a\tb\tc\td\tok", "Ta\tb\tc\td\tok",
		"T a\tb\tc\tok",			/* 4 fields */
		"T a\tb\tc\td\te\tok",			/* 6 fields */
		"T a\tb\tc\td\tmaybe",			/* unknown conn */
		"T a\tb\tc\td\tok ",
		"T a\x01\tb\tc\td\tok",			/* control char */
		"T a\tb\tc\td\x7f\tok",
	};
	struct jobtrace t = { { NULL } };
	char line[600];
	size_t i, k;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		if (jobtrace_parse(bad[i], strlen(bad[i]), &t) != -1)
			fail_msg("accepted: %s", bad[i]);
		for (k = 0; k < JOBTRACE_FIELDS; k++)
			assert_null(t.f[k]);
	}
	/* An embedded NUL (the length says where the line ends). */
	assert_int_equal(jobtrace_parse("T a\0b\tc\td\te\tok", 15, &t), -1);
	/* A field one octet too long. */
	memset(line, 'y', sizeof(line));
	memcpy(line, "T ", 2);
	(void)snprintf(line + 2 + JOBTRACE_FIELD_MAX + 1, 20, "\tb\tc\td\tok");
	assert_int_equal(jobtrace_parse(line, strlen(line), &t), -1);
	line[2 + JOBTRACE_FIELD_MAX] = '\t';	/* exactly the maximum */
	memmove(line + 2 + JOBTRACE_FIELD_MAX, line + 2 + JOBTRACE_FIELD_MAX +
	    1, strlen(line + 2 + JOBTRACE_FIELD_MAX + 1) + 1);
	assert_int_equal(jobtrace_parse(line, strlen(line), &t), 1);
	jobtrace_free(&t);
}

/* Every proper prefix of a valid line is refused (no field may end
 * early), except where a prefix is itself a whole valid line. */
static void
test_prefixes(void **state)
{
	const char *line = "T r\tm\tt\ttls\treused";
	struct jobtrace t = { { NULL } };
	size_t n, len = strlen(line);

	(void)state;
	for (n = 0; n < len; n++)
		assert_int_equal(jobtrace_parse(line, n, &t), -1);
	assert_int_equal(jobtrace_parse(line, len, &t), 1);
	jobtrace_free(&t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_format_bounds),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_prefixes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
