/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * Unit tests for imap_seqset: parsing (valid and invalid, every prefix of
 * valid inputs), "*" resolution for sequence numbers and UIDs, merging,
 * membership, expansion to sequence numbers and the compact format.
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
#include "store/imap_seqset.h"

/* Parses, resolves and formats the ranges as "lo-hi,lo-hi". */
static const char *
norm(const char *in, int uid, uint32_t star)
{
	static char out[512];
	struct imap_seqset set;
	const char *err = NULL;
	size_t i, o = 0;

	if (imap_seqset_parse(in, strlen(in), &set, &err) == -1) {
		imap_seqset_free(&set);
		assert_non_null(err);
		return "PARSE";
	}
	if (imap_seqset_resolve(&set, uid, star, &err) == -1) {
		imap_seqset_free(&set);
		assert_non_null(err);
		return "RESOLVE";
	}
	out[0] = '\0';
	for (i = 0; i < set.n; i++)
		o += (size_t)snprintf(out + o, sizeof(out) - o, "%s%u-%u",
		    i ? "," : "", set.r[i].lo, set.r[i].hi);
	imap_seqset_free(&set);
	return out;
}

static void
test_parse_resolve(void **state)
{
	(void)state;
	assert_string_equal(norm("1", 0, 5), "1-1");
	assert_string_equal(norm("1:3", 0, 5), "1-3");
	assert_string_equal(norm("3:1", 0, 5), "1-3");
	assert_string_equal(norm("*", 0, 5), "5-5");
	assert_string_equal(norm("2:*", 0, 5), "2-5");
	assert_string_equal(norm("*:2", 0, 5), "2-5");
	assert_string_equal(norm("1,3,2", 0, 5), "1-3");
	assert_string_equal(norm("4:5,1:2", 0, 5), "1-2,4-5");
	assert_string_equal(norm("1:4,2:3,5", 0, 5), "1-5");
	assert_string_equal(norm("1,1,1", 0, 5), "1-1");
	/* sequence numbers beyond the count, or any in an empty mailbox */
	assert_string_equal(norm("6", 0, 5), "RESOLVE");
	assert_string_equal(norm("1:6", 0, 5), "RESOLVE");
	assert_string_equal(norm("*", 0, 0), "RESOLVE");
	assert_string_equal(norm("1:*", 0, 0), "RESOLVE");
	/* UIDs: beyond the highest is fine; "*" is the highest */
	assert_string_equal(norm("100:200", 1, 50), "100-200");
	assert_string_equal(norm("100:*", 1, 50), "50-100");
	assert_string_equal(norm("*", 1, 0), "");
	assert_string_equal(norm("1:*", 1, 0), "1-1");
	assert_string_equal(norm("4294967295", 1, 7), "4294967295-4294967295");
	assert_string_equal(norm("4294967294:4294967295,1", 1, 7),
	    "1-1,4294967294-4294967295");
	/* syntax */
	assert_string_equal(norm("", 0, 5), "PARSE");
	assert_string_equal(norm("0", 0, 5), "PARSE");
	assert_string_equal(norm("01", 0, 5), "PARSE");
	assert_string_equal(norm("1:", 0, 5), "PARSE");
	assert_string_equal(norm(":1", 0, 5), "PARSE");
	assert_string_equal(norm("1,", 0, 5), "PARSE");
	assert_string_equal(norm(",1", 0, 5), "PARSE");
	assert_string_equal(norm("1::2", 0, 5), "PARSE");
	assert_string_equal(norm("1:2:3", 0, 5), "PARSE");
	assert_string_equal(norm("1 2", 0, 5), "PARSE");
	assert_string_equal(norm("**", 0, 5), "PARSE");
	assert_string_equal(norm("4294967296", 1, 5), "PARSE");
	assert_string_equal(norm("99999999999999999999", 1, 5), "PARSE");
	assert_string_equal(norm("$", 0, 5), "PARSE");
	assert_string_equal(norm("-1", 0, 5), "PARSE");
}

static void
test_prefixes(void **state)
{
	static const char *valid[] = { "1:3,5,7:*", "12:4,*,9", "*:*" };
	struct imap_seqset set;
	const char *err;
	size_t i, n;

	(void)state;
	/* Every prefix either parses or fails cleanly, never reads past n. */
	for (i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
		for (n = 0; n <= strlen(valid[i]); n++) {
			char *copy = malloc(n ? n : 1);
			int r;

			memcpy(copy, valid[i], n);
			r = imap_seqset_parse(copy, n, &set, &err);
			assert_true(r == 1 || r == -1);
			if (n == strlen(valid[i]))
				assert_int_equal(r, 1);
			imap_seqset_free(&set);
			free(copy);
		}
	}
}

static void
test_limit(void **state)
{
	struct buf b = BUF_INIT(0);
	struct imap_seqset set;
	const char *err = NULL;
	uint32_t i;

	(void)state;
	for (i = 1; i <= IMAP_SEQSET_MAX; i++)
		assert_int_equal(buf_appendf(&b, "%s%u", i > 1 ? "," : "",
		    i * 2), 1);
	assert_int_equal(imap_seqset_parse(b.data, b.len, &set, &err), 1);
	assert_int_equal(set.n, IMAP_SEQSET_MAX);
	imap_seqset_free(&set);
	assert_int_equal(buf_appends(&b, ",1"), 1);
	assert_int_equal(imap_seqset_parse(b.data, b.len, &set, &err), -1);
	assert_string_equal(err, "too many ranges in sequence set");
	imap_seqset_free(&set);
	buf_free(&b);
}

static void
test_contains(void **state)
{
	struct imap_seqset set;
	const char *s = "2:4,10,20:*";

	(void)state;
	assert_int_equal(imap_seqset_parse(s, strlen(s), &set, NULL), 1);
	assert_int_equal(imap_seqset_resolve(&set, 1, 30, NULL), 1);
	assert_false(imap_seqset_contains(&set, 1));
	assert_true(imap_seqset_contains(&set, 2));
	assert_true(imap_seqset_contains(&set, 4));
	assert_false(imap_seqset_contains(&set, 5));
	assert_true(imap_seqset_contains(&set, 10));
	assert_false(imap_seqset_contains(&set, 11));
	assert_true(imap_seqset_contains(&set, 25));
	assert_true(imap_seqset_contains(&set, 30));
	assert_false(imap_seqset_contains(&set, 31));
	imap_seqset_free(&set);
}

static const uint32_t uids[] = { 3, 4, 5, 9, 20, 21, 4000000000u };

static uint32_t
uid_at(void *arg, uint32_t seq)
{
	(void)arg;
	assert_true(seq >= 1 && seq <= 7);
	return uids[seq - 1];
}

static const char *
seqs(const char *in, int uid, uint32_t count)
{
	static char out[256];
	struct imap_seqset set;
	struct buf b = BUF_INIT(0);
	uint32_t *v;
	size_t n;

	assert_int_equal(imap_seqset_parse(in, strlen(in), &set, NULL), 1);
	assert_int_equal(imap_seqset_resolve(&set, uid,
	    uid ? (count ? uids[count - 1] : 0) : count, NULL), 1);
	imap_seqset_seqs(&set, uid, count, uid_at, NULL, &v, &n);
	assert_int_equal(imap_seqset_format(v, n, &b), 1);
	snprintf(out, sizeof(out), "%s", buf_cstr(&b));
	buf_free(&b);
	free(v);
	imap_seqset_free(&set);
	return out;
}

static void
test_seqs(void **state)
{
	(void)state;
	assert_string_equal(seqs("1:*", 0, 7), "1:7");
	assert_string_equal(seqs("2,4:5,7", 0, 7), "2,4:5,7");
	assert_string_equal(seqs("1:*", 1, 7), "1:7");
	assert_string_equal(seqs("4:9", 1, 7), "2:4");
	assert_string_equal(seqs("6:8", 1, 7), "");
	assert_string_equal(seqs("21:*", 1, 7), "6:7");
	assert_string_equal(seqs("1:2", 1, 7), "");
	assert_string_equal(seqs("4000000000:*", 1, 7), "7");
	assert_string_equal(seqs("*", 1, 0), "");
	assert_string_equal(seqs("1:*", 1, 0), "");
}

static void
test_format(void **state)
{
	static const uint32_t v[] = { 1, 2, 3, 5, 7, 8, 4294967295u, 10 };
	struct buf b = BUF_INIT(0);

	(void)state;
	assert_int_equal(imap_seqset_format(v, 8, &b), 1);
	assert_string_equal(buf_cstr(&b), "1:3,5,7:8,4294967295,10");
	buf_reset(&b);
	assert_int_equal(imap_seqset_format(v, 0, &b), 1);
	assert_string_equal(buf_cstr(&b), "");
	buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_resolve),
		cmocka_unit_test(test_prefixes),
		cmocka_unit_test(test_limit),
		cmocka_unit_test(test_contains),
		cmocka_unit_test(test_seqs),
		cmocka_unit_test(test_format),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
