/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * libFuzzer target for the DATA stream parser (smtpd_data). The first
 * input byte picks the chunking seed (low 4 bits) and the limits (high 4
 * bits); the rest is the stream. It is fed to data_feed in one call, then
 * in pseudo-random chunks (each a heap block of exactly its size, so ASan
 * sees any read past it) stopping at the end of data as smtpd does; the
 * content, flags, bytes used, size and Received: count must be identical.
 * The same is done with data_feed_raw (BDAT). Also checked: content never
 * exceeds the size limit, a found end of data is a real <CRLF>.<CRLF>, and
 * without bare CR/LF or dots the content is the input. Aborts on mismatch.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "relay/smtpd_data.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

struct run {
	int		 r;
	struct buf	 out;
	unsigned	 flags;
	size_t		 used;
	unsigned long long size;
	unsigned	 received;
};

static void
check(int cond)
{
	if (!cond)
		abort();
}

static uint32_t
next(uint32_t *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 8;
}

/* maxc == 0: one call; otherwise chunks of 1..maxc bytes from seed. */
static void
feed(const char *in, size_t n, size_t line_limit,
    unsigned long long size_limit, int raw, size_t maxc, uint32_t seed,
    struct run *res)
{
	struct data_parser p;
	size_t off = 0, take, used;
	char *copy;

	memset(res, 0, sizeof(*res));
	buf_init(&res->out, 0);
	data_init(&p, line_limit, size_limit);
	while (off < n) {
		take = maxc == 0 ? n : 1 + next(&seed) % maxc;
		if (take > n - off)
			take = n - off;
		copy = malloc(take);
		check(copy != NULL);
		memcpy(copy, in + off, take);
		if (raw) {
			check(data_feed_raw(&p, copy, take, &res->out) == 1);
			used = take;
			res->r = 0;
		} else {
			used = (size_t)-1;
			res->r = data_feed(&p, copy, take, &res->out, &used);
			check(res->r == 0 || res->r == 1);
			check(used <= take);
			check(res->r == 1 || used == take);
		}
		free(copy);
		off += used;
		if (res->r == 1)
			break;
	}
	res->flags = p.flags;
	res->used = off;
	res->size = p.size;
	res->received = p.received;
	/* After the end nothing more is taken. */
	if (!raw && res->r == 1) {
		used = 1;
		check(data_feed(&p, in, n - off, &res->out, &used) == 1 &&
		    used == 0);
	}
}

static void
same(const struct run *x, const struct run *y)
{
	check(x->r == y->r && x->flags == y->flags && x->used == y->used &&
	    x->size == y->size && x->received == y->received &&
	    x->out.len == y->out.len);
	check(x->out.len == 0 ||
	    memcmp(x->out.data, y->out.data, x->out.len) == 0);
}

static void
invariants(const char *in, size_t n, unsigned long long size_limit,
    const struct run *res, int raw)
{
	check(res->out.len <= size_limit);
	check(res->out.len <= res->size);
	check(((res->flags & DATA_TOO_BIG) != 0) == (res->size > size_limit));
	check(res->flags <= 0x1f);
	if (res->out.len < res->size)
		check(res->flags & DATA_TOO_BIG);
	if (raw) {
		check(res->size == n);
		check(res->out.len == 0 || memcmp(res->out.data, in,
		    res->out.len) == 0);
		return;
	}
	if (res->r == 1) {
		check(res->used >= 3 && memcmp(in + res->used - 3, ".\r\n",
		    3) == 0);
		check(res->used == 3 || (res->used >= 5 &&
		    memcmp(in + res->used - 5, "\r\n", 2) == 0));
	}
	/* Without dots, CRs and LFs the content is the input. */
	if (memchr(in, '.', n) == NULL && memchr(in, '\r', n) == NULL &&
	    memchr(in, '\n', n) == NULL) {
		check(res->r == 0 && res->used == n && res->size == n);
		check(res->out.len == 0 || memcmp(res->out.data, in,
		    res->out.len) == 0);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t line_limits[] = { 1000, 2, 3, 10 };
	static const unsigned long long size_limits[] = {
	    (unsigned long long)-1, 0, 16, 300 };
	struct run one, chunked;
	const char *in;
	size_t n, line_limit, maxc;
	unsigned long long size_limit;
	uint32_t seed;
	int raw;

	if (size < 1)
		return 0;
	seed = data[0];
	maxc = 2 + (data[0] & 0x0f) * 4;
	line_limit = line_limits[(data[0] >> 4) & 3];
	size_limit = size_limits[(data[0] >> 6) & 3];
	in = (const char *)data + 1;
	n = size - 1;

	for (raw = 0; raw <= 1; raw++) {
		feed(in, n, line_limit, size_limit, raw, 0, 0, &one);
		invariants(in, n, size_limit, &one, raw);
		feed(in, n, line_limit, size_limit, raw, maxc, seed, &chunked);
		same(&one, &chunked);
		buf_free(&chunked.out);
		if (n <= 1024) {
			feed(in, n, line_limit, size_limit, raw, 1, 0,
			    &chunked);
			same(&one, &chunked);	/* byte by byte */
			buf_free(&chunked.out);
		}
		buf_free(&one.out);
	}
	return 0;
}
