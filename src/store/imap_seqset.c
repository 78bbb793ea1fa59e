/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * IMAP sequence sets: parse, resolve "*", test membership, expand to
 * message sequence numbers and format compactly (COPYUID). Called by the
 * FETCH, STORE, COPY, MOVE, SEARCH and UID EXPUNGE handlers. Pure: never
 * touches the mailbox; the number of ranges is bounded by
 * IMAP_SEQSET_MAX so a hostile command line cannot make it allocate more
 * than a few pages per range.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/xalloc.h"
#include "store/imap_seqset.h"

/* Parses a nz-number or "*" at s[*i..len); 1 with *v_r, else -1. */
static int
parse_num(const char *s, size_t len, size_t *i, uint32_t *v_r)
{
	uint64_t v = 0;
	size_t start = *i;

	if (*i < len && s[*i] == '*') {
		(*i)++;
		*v_r = IMAP_SEQSET_STAR;
		return 1;
	}
	if (*i >= len || s[*i] < '1' || s[*i] > '9')
		return -1;
	while (*i < len && s[*i] >= '0' && s[*i] <= '9') {
		v = v * 10 + (uint64_t)(s[*i] - '0');
		if (v > UINT32_MAX || *i - start >= 10)
			return -1;
		(*i)++;
	}
	*v_r = (uint32_t)v;
	return 1;
}

int
imap_seqset_parse(const char *s, size_t len, struct imap_seqset *set,
    const char **errstr_r)
{
	size_t i = 0, cap = 0;
	uint32_t lo, hi;

	memset(set, 0, sizeof(*set));
	for (;;) {
		if (parse_num(s, len, &i, &lo) == -1)
			goto bad;
		hi = lo;
		if (i < len && s[i] == ':') {
			i++;
			if (parse_num(s, len, &i, &hi) == -1)
				goto bad;
		}
		if (set->n == IMAP_SEQSET_MAX) {
			if (errstr_r != NULL)
				*errstr_r = "too many ranges in sequence set";
			return -1;
		}
		if (set->n == cap) {
			cap = cap ? cap * 2 : 4;
			set->r = xrealloc(set->r, cap * sizeof(*set->r));
		}
		set->r[set->n].lo = lo;
		set->r[set->n].hi = hi;
		set->n++;
		if (lo == IMAP_SEQSET_STAR || hi == IMAP_SEQSET_STAR)
			set->has_star = 1;
		if (i == len)
			return 1;
		if (s[i] != ',')
			goto bad;
		i++;
	}
bad:
	if (errstr_r != NULL)
		*errstr_r = "invalid sequence set";
	return -1;
}

void
imap_seqset_free(struct imap_seqset *set)
{
	free(set->r);
	memset(set, 0, sizeof(*set));
}

static int
range_cmp(const void *a, const void *b)
{
	const struct imap_seqrange *x = a, *y = b;

	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	return x->hi < y->hi ? -1 : x->hi > y->hi;
}

int
imap_seqset_resolve(struct imap_seqset *set, int uid, uint32_t star,
    const char **errstr_r)
{
	size_t i, o;
	uint32_t t;

	for (i = 0; i < set->n; i++) {
		struct imap_seqrange *r = &set->r[i];

		if (r->lo == IMAP_SEQSET_STAR)
			r->lo = star;
		if (r->hi == IMAP_SEQSET_STAR)
			r->hi = star;
		if (r->lo > r->hi) {
			t = r->lo;
			r->lo = r->hi;
			r->hi = t;
		}
		if (!uid && (r->lo == 0 || r->hi > star)) {
			if (errstr_r != NULL)
				*errstr_r = "invalid message sequence number";
			return -1;
		}
	}
	qsort(set->r, set->n, sizeof(*set->r), range_cmp);
	/* Merge overlapping and adjacent ranges; drop [0,0] ("*" when empty). */
	for (i = 0, o = 0; i < set->n; i++) {
		struct imap_seqrange r = set->r[i];

		if (r.hi == 0)
			continue;
		if (r.lo == 0)
			r.lo = 1;
		if (o > 0 && (uint64_t)set->r[o - 1].hi + 1 >= r.lo) {
			if (r.hi > set->r[o - 1].hi)
				set->r[o - 1].hi = r.hi;
			continue;
		}
		set->r[o++] = r;
	}
	set->n = o;
	set->resolved = 1;
	return 1;
}

int
imap_seqset_contains(const struct imap_seqset *set, uint32_t v)
{
	size_t lo = 0, hi = set->n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (v < set->r[mid].lo)
			hi = mid;
		else if (v > set->r[mid].hi)
			lo = mid + 1;
		else
			return 1;
	}
	return 0;
}

/* First seq in 1..count whose UID is >= u, or count + 1. */
static uint32_t
first_seq_at_least(uint32_t count, uint32_t (*uid_at)(void *, uint32_t),
    void *arg, uint32_t u)
{
	uint32_t lo = 1, hi = count + 1, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (uid_at(arg, mid) < u)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void
push(uint32_t **v, size_t *n, size_t *cap, uint32_t x)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 64;
		*v = xrealloc(*v, *cap * sizeof(**v));
	}
	(*v)[(*n)++] = x;
}

void
imap_seqset_seqs(const struct imap_seqset *set, int uid, uint32_t count,
    uint32_t (*uid_at)(void *arg, uint32_t seq), void *arg,
    uint32_t **seqs_r, size_t *n_r)
{
	uint32_t *v = NULL, s, e;
	size_t n = 0, cap = 0, i;

	for (i = 0; i < set->n; i++) {
		if (uid) {
			s = first_seq_at_least(count, uid_at, arg,
			    set->r[i].lo);
			for (; s <= count && uid_at(arg, s) <= set->r[i].hi;
			    s++)
				push(&v, &n, &cap, s);
			continue;
		}
		e = set->r[i].hi < count ? set->r[i].hi : count;
		for (s = set->r[i].lo; s >= 1 && s <= e; s++) {
			push(&v, &n, &cap, s);
			if (s == UINT32_MAX)
				break;
		}
	}
	*seqs_r = v;
	*n_r = n;
}

int
imap_seqset_format(const uint32_t *v, size_t n, struct buf *out)
{
	size_t i = 0, j;

	while (i < n) {
		for (j = i; j + 1 < n && v[j] != UINT32_MAX &&
		    v[j + 1] == v[j] + 1; j++)
			;
		if (buf_appendf(out, "%s%u", i ? "," : "", v[i]) == -1)
			return -1;
		if (j > i && buf_appendf(out, ":%u", v[j]) == -1)
			return -1;
		i = j + 1;
	}
	return 1;
}
