/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * Unit tests for the flag-list parser the STORE and APPEND commands share
 * (imap_flags_parse in imap_msgcmd.c): system flags in any case, keywords
 * kept once, \Recent and unknown system flags refused, limits.
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
#include "store/imap_msg.h"
#include "store/imap_parse.h"
#include "store/mstore.h"

/* Parses "t STORE 1 FLAGS (<list>)" and runs imap_flags_parse on it. */
static int
flags(const char *list, uint32_t *f, struct buf *kw, const char **err)
{
	struct imap_parser *p = imap_parser_new(NULL);
	const struct imap_cmd *cmd = NULL;
	struct imap_parse_err perr;
	struct buf line = BUF_INIT(0);
	size_t used;
	int r;

	assert_int_equal(buf_appendf(&line, "t STORE 1 FLAGS (%s)\r\n", list),
	    1);
	assert_int_equal(imap_parser_feed(p, line.data, line.len, &used, &cmd,
	    &perr), IMAP_PARSE_DONE);
	assert_int_equal(cmd->nargs, 3);
	r = imap_flags_parse(cmd->args[2].list, cmd->args[2].nlist, f, kw,
	    err);
	imap_parser_free(&p);
	buf_free(&line);
	return r;
}

static void
test_flags(void **state)
{
	struct buf kw = BUF_INIT(4096);
	const char *err = NULL;
	uint32_t f;
	int i;

	(void)state;
	assert_int_equal(flags("", &f, &kw, &err), 1);
	assert_int_equal(f, 0);
	assert_string_equal(buf_cstr(&kw), "");
	assert_int_equal(flags("\\Seen \\answered \\FLAGGED \\Deleted \\Draft",
	    &f, &kw, &err), 1);
	assert_int_equal(f, MSG_SEEN | MSG_ANSWERED | MSG_FLAGGED |
	    MSG_DELETED | MSG_DRAFT);
	assert_int_equal(flags("$Work \\Seen $work $Junk $WORK", &f, &kw,
	    &err), 1);
	assert_int_equal(f, MSG_SEEN);
	assert_string_equal(buf_cstr(&kw), "$Work $Junk");
	assert_int_equal(flags("\\Recent", &f, &kw, &err), -1);
	assert_string_equal(err, "unknown or read-only system flag");
	assert_int_equal(flags("\\Foo", &f, &kw, &err), -1);
	assert_int_equal(flags("\"quoted\"", &f, &kw, &err), -1);
	assert_string_equal(err, "invalid flag");
	assert_int_equal(flags("(nested)", &f, &kw, &err), -1);
	assert_int_equal(flags("a]b", &f, &kw, &err), -1);
	assert_int_equal(flags("a*", &f, &kw, &err), -1);
	assert_int_equal(flags("a%", &f, &kw, &err), -1);
	assert_int_equal(flags("\\", &f, &kw, &err), -1);
	/* at most 64 distinct keywords in one list */
	buf_reset(&kw);
	{
		struct buf l = BUF_INIT(0);

		for (i = 0; i < 64; i++)
			assert_int_equal(buf_appendf(&l, "%sk%d", i ? " " : "",
			    i), 1);
		assert_int_equal(flags(buf_cstr(&l), &f, &kw, &err), 1);
		assert_int_equal(buf_appends(&l, " k0 K1"), 1);
		assert_int_equal(flags(buf_cstr(&l), &f, &kw, &err), 1);
		assert_int_equal(buf_appends(&l, " k64"), 1);
		assert_int_equal(flags(buf_cstr(&l), &f, &kw, &err), -1);
		assert_string_equal(err, "too many keywords");
		buf_free(&l);
	}
	buf_free(&kw);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_flags),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
