/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * Unit tests for buf: bounded appends, formatting, consume, escape.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/buf.h"
#include "lib/log.h"

static void
test_append_and_limit(void **state)
{
	struct buf b = BUF_INIT(8);

	(void)state;
	assert_int_equal(buf_appends(&b, "abcd"), 1);
	assert_int_equal(buf_appendf(&b, "%d", 1234), 1);
	assert_int_equal(b.len, 8);
	/* One more byte would exceed the maximum: refused, unchanged. */
	assert_int_equal(buf_appendc(&b, 'x'), -1);
	assert_int_equal(buf_appendf(&b, "%s", "yy"), -1);
	assert_string_equal(buf_cstr(&b), "abcd1234");
	buf_consume(&b, 3);
	assert_string_equal(buf_cstr(&b), "d1234");
	buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_string_equal(buf_cstr(&b), "");
	buf_free(&b);
	assert_null(b.data);
}

static void
test_grow_large(void **state)
{
	struct buf b = BUF_INIT(0);
	char chunk[1000];
	int i;

	(void)state;
	memset(chunk, 'a', sizeof(chunk));
	for (i = 0; i < 1000; i++)
		assert_int_equal(buf_append(&b, chunk, sizeof(chunk)), 1);
	assert_int_equal(b.len, 1000000);
	assert_int_equal(b.data[b.len], '\0');
	buf_free(&b);
}

static void
test_reserve_overflow(void **state)
{
	struct buf b = BUF_INIT(0);

	(void)state;
	assert_int_equal(buf_appendc(&b, 'x'), 1);
	assert_null(buf_reserve(&b, SIZE_MAX));
	assert_int_equal(b.len, 1);
	buf_free(&b);
}

static void
test_escape(void **state)
{
	struct buf b = BUF_INIT(0);

	(void)state;
	assert_string_equal(log_escape(&b, "a\"b\\c\r\n\xff", 8, 100),
	    "a\\\"b\\\\c\\x0d\\x0a\\xff");
	buf_reset(&b);
	assert_string_equal(log_escape(&b, "abcdef", 6, 3), "abc...");
	buf_free(&b);
}

static void
test_steal(void **state)
{
	struct buf b = BUF_INIT(0);
	char *s;

	(void)state;
	s = buf_steal(&b);
	assert_string_equal(s, "");
	free(s);
	assert_int_equal(buf_appends(&b, "hi"), 1);
	s = buf_steal(&b);
	assert_string_equal(s, "hi");
	assert_null(b.data);
	free(s);
}

/* A buffer marked wipe (conn's read buffer: it sees passwords) keeps no
 * copy of consumed input behind its end, also across growth. */
static void
test_wipe(void **state)
{
	static const char line[] = "PASS secret-password\r\n";
	struct buf b = BUF_INIT(0);
	size_t i;

	(void)state;
	b.wipe = 1;
	assert_int_equal(buf_appends(&b, line), 1);
	assert_int_equal(buf_appends(&b, "NOOP\r\n"), 1);
	buf_consume(&b, strlen(line));
	assert_string_equal(buf_cstr(&b), "NOOP\r\n");
	assert_null(memmem(b.data, b.cap, "secret", 6));
	/* Growth copies only the live part. */
	assert_int_equal(buf_appends(&b, line), 1);
	for (i = 0; i < 1000; i++)
		assert_int_equal(buf_appendc(&b, 'x'), 1);
	buf_consume(&b, strlen("NOOP\r\n") + strlen(line));
	assert_null(memmem(b.data, b.cap, "secret", 6));
	assert_int_equal(b.len, 1000);
	buf_free_wipe(&b);
	assert_null(b.data);
	assert_int_equal(b.cap, 0);
	/* Without the mark, consume leaves what it moved (no cost). */
	assert_int_equal(buf_appends(&b, line), 1);
	buf_consume(&b, 5);
	assert_string_equal(buf_cstr(&b), "secret-password\r\n");
	buf_free_wipe(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_append_and_limit),
		cmocka_unit_test(test_grow_large),
		cmocka_unit_test(test_reserve_overflow),
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_steal),
		cmocka_unit_test(test_wipe),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
