/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * libFuzzer target for addr. Feeds the input to addr_parse_path() under
 * every flag combination and to addr_parse_mailbox(), and checks what the
 * parser promises: an accepted address formats to a mailbox that parses
 * back to the same address (as a mailbox and as "<mailbox>"), formatting is
 * idempotent, the result respects the limits, and more permissive flags
 * never reject or change something a stricter set accepted. Any broken
 * promise aborts. libFuzzer hands us a heap block of exactly size bytes,
 * so ASan catches any read past the end.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/addr.h"
#include "lib/buf.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define ALL_FLAGS (ADDR_ALLOW_NULL | ADDR_ALLOW_UTF8 | ADDR_ALLOW_POSTMASTER)
#define SPELLING (ADDR_QUOTED | ADDR_ROUTE)

static void
check(int cond)
{
	if (!cond)
		abort();
}

static int
streq(const char *x, const char *y)
{
	if (x == NULL || y == NULL)
		return x == y;
	return strcmp(x, y) == 0;
}

/* Same address, but for how it was spelled. */
static int
same(const struct addr *x, const struct addr *y)
{
	return streq(x->local, y->local) && streq(x->domain, y->domain) &&
	    (x->flags & ~SPELLING) == (y->flags & ~SPELLING);
}

/* 1 when s holds a byte in [lo, hi]. */
static int
has_byte(const char *s, unsigned char lo, unsigned char hi)
{
	for (; s != NULL && *s != '\0'; s++)
		if ((unsigned char)*s >= lo && (unsigned char)*s <= hi)
			return 1;
	return 0;
}

static void
check_shape(const struct addr *a, unsigned flags)
{
	int utf8;

	check(a->local != NULL);
	check(strlen(a->local) <= ADDR_MAX_LOCAL);
	check(a->domain == NULL || strlen(a->domain) <= ADDR_MAX_DOMAIN);
	check(!has_byte(a->domain, 'A', 'Z'));
	utf8 = has_byte(a->local, 0x80, 0xff) ||
	    has_byte(a->domain, 0x80, 0xff);
	check(utf8 == !!(a->flags & ADDR_UTF8));
	if (!(flags & ADDR_ALLOW_UTF8))
		check(!utf8);
	if (a->flags & ADDR_NULL)
		check((flags & ADDR_ALLOW_NULL) && a->local[0] == '\0' &&
		    a->domain == NULL && a->flags == ADDR_NULL);
	else if (a->domain == NULL)
		check((flags & ADDR_ALLOW_POSTMASTER) &&
		    strlen(a->local) == 10 && a->flags == 0);
	else if (a->flags & ADDR_LITERAL)
		check(a->domain[0] == '[');
}

/* Format, re-parse as mailbox and as path, format again. */
static void
check_roundtrip(const struct addr *a, unsigned flags)
{
	struct buf b = BUF_INIT(0), b2 = BUF_INIT(0), p = BUF_INIT(0);
	struct addr *m = NULL, *q = NULL;
	const char *err;
	size_t end;

	check(addr_format(a, &b) == 1);
	check(b.len <= ADDR_MAX_PATH - 2);
	check(addr_parse_mailbox(buf_cstr(&b), b.len, flags, &m, &err) == 1);
	check(same(a, m) && !(m->flags & ADDR_ROUTE));
	check(addr_format(m, &b2) == 1);
	check(b.len == b2.len && memcmp(buf_cstr(&b), buf_cstr(&b2),
	    b.len) == 0);
	check(buf_appendf(&p, "<%s>", buf_cstr(&b)) == 1);
	check(addr_parse_path(p.data, p.len, flags, &q, &end, &err) == 1);
	check(end == p.len && same(a, q));
	addr_free(&m);
	addr_free(&q);
	buf_free(&b);
	buf_free(&b2);
	buf_free(&p);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data, *err;
	struct addr *a, *all;
	size_t end, end_all;
	unsigned flags;
	int r, r_all;

	r_all = addr_parse_path(s, size, ALL_FLAGS, &all, &end_all, &err);
	check((r_all == 1) == (all != NULL));
	for (flags = 0; flags <= ALL_FLAGS; flags++) {
		err = NULL;
		r = addr_parse_path(s, size, flags, &a, &end, &err);
		if (r == 1) {
			check(a != NULL && end >= 2 && end <= size &&
			    end <= ADDR_MAX_PATH && s[end - 1] == '>');
			check_shape(a, flags);
			check_roundtrip(a, flags);
			check(r_all == 1 && end == end_all && same(a, all) &&
			    a->flags == all->flags);
			addr_free(&a);
		} else
			check(r == -1 && a == NULL && err != NULL);

		r = addr_parse_mailbox(s, size, flags, &a, &err);
		if (r == 1) {
			check(a != NULL && size <= ADDR_MAX_PATH - 2);
			check_shape(a, flags);
			check_roundtrip(a, flags);
			addr_free(&a);
		} else
			check(r == -1 && a == NULL && err != NULL);
	}
	addr_free(&all);
	return 0;
}
