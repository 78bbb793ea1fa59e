/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * libFuzzer target for uxtext (RFC 6533 utf-8 address forms): decodes the
 * input; what decodes is well-formed UTF-8 without controls, encodes in
 * both forms (the xtext one 7-bit and valid xtext: no SP, "+", "=" or
 * controls), and each encoding decodes back to the same octets. Arbitrary
 * input given to the encoder either fails or round-trips. A failure never
 * touches the output buffer. Any broken promise aborts.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/uxtext.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check(int cond)
{
	if (!cond)
		abort();
}

/* enc is an encoding of plain[0..n): check its shape and decode it. */
static void
check_encoded(const struct buf *enc, const char *plain, size_t n, int u)
{
	struct buf d = BUF_INIT(0);
	size_t i;

	for (i = 0; i < enc->len; i++) {
		unsigned char c = (unsigned char)enc->data[i];

		check(c > ' ' && c != 0x7f && c != '+' && c != '=');
		check(u || c < 0x80);
	}
	check(uxtext_decode(&d, enc->data, enc->len) == 1);
	check(d.len == n && memcmp(d.data, plain, n) == 0);
	buf_free(&d);
}

static void
try_encode(const char *p, size_t n)
{
	struct buf e = BUF_INIT(0);
	int u;

	for (u = 0; u < 2; u++) {
		buf_reset(&e);
		if (uxtext_encode(&e, p, n, u) == 1) {
			size_t i;
			int ctl = 0;

			for (i = 0; i < n; i++)
				ctl |= (unsigned char)p[i] < ' ' ||
				    p[i] == 0x7f;
			/* Controls encode but never decode. */
			if (!ctl)
				check_encoded(&e, p, n, u);
		} else
			check(e.len == 0);
	}
	buf_free(&e);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	struct buf d = BUF_INIT(0);
	size_t i, k;
	uint32_t cp;

	if (uxtext_decode(&d, in, size) == 1) {
		check(d.len > 0);
		for (i = 0; i < d.len; i++)
			check((unsigned char)d.data[i] >= ' ' &&
			    d.data[i] != 0x7f);
		for (i = 0; i < d.len; i += k)	/* well-formed UTF-8 */
			check((k = uxtext_utf8_len((const unsigned char *)
			    d.data + i, d.len - i, &cp)) > 0);
		try_encode(d.data, d.len);
	} else
		check(d.len == 0);
	buf_free(&d);
	try_encode(in, size);
	return 0;
}
