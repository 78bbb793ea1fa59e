/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * libFuzzer target for uxtext (RFC 6533 utf-8 address forms): decodes the
 * input; what decodes is well-formed UTF-8 without controls, encodes in
 * both forms (the xtext one 7-bit and valid xtext: no SP, "+", "=" or
 * controls), and each encoding decodes back to the same octets. Arbitrary
 * input given to the encoder either fails or round-trips. The input as a
 * stored ORCPT: uxtext_orcpt_param gives a valid parameter value (an atom
 * type, at most 500 octets, xtext; a utf-8 one decodes) or fails, and
 * uxtext_orcpt_field the same type or fails. A failure never touches the
 * output buffer. Any broken promise aborts.
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
		if (uxtext_encode(&e, p, n, u) == 1)
			check_encoded(&e, p, n, u);	/* no controls */
		else
			check(e.len == 0);
	}
	buf_free(&e);
}

/* in as a stored ORCPT, NUL-terminated. */
static void
try_orcpt(const char *in, size_t size)
{
	struct buf s = BUF_INIT(0), o = BUF_INIT(0), d = BUF_INIT(0);
	const char *why, *semi, *v;
	size_t i;
	int u;

	(void)buf_append(&s, in, size);
	if (memchr(in, '\0', size) != NULL || size == 0)
		goto out;
	for (u = 0; u < 2; u++) {
		buf_reset(&o);
		if (uxtext_orcpt_param(&o, s.data, u, &why) == -1) {
			check(o.len == 0);
			continue;
		}
		check(o.len <= UXTEXT_ORCPT_MAX);
		semi = memchr(o.data, ';', o.len);
		check(semi != NULL && semi != o.data);
		for (v = o.data; v < semi; v++)
			check((*v >= 'a' && *v <= 'z') || (*v >= 'A' &&
			    *v <= 'Z') || (*v >= '0' && *v <= '9') ||
			    *v == '-');
		v = semi + 1;
		check(*v != '\0');
		for (i = 0; v[i] != '\0'; i++) {
			unsigned char c = (unsigned char)v[i];

			check(c > ' ' && c != 0x7f && c != '=');
			check(u || c < 0x80);
			if (c == '+')
				check(strchr("0123456789ABCDEF", v[i + 1]) &&
				    v[i + 1] && strchr("0123456789ABCDEF",
				    v[i + 2]) && v[i + 2]);
		}
		if (strncmp(o.data, "utf-8;", 6) == 0) {
			buf_reset(&d);
			check(uxtext_decode(&d, v, strlen(v)) == 1);
		}
	}
	for (u = 0; u < 2; u++) {
		buf_reset(&o);
		if (uxtext_orcpt_field(&o, s.data, u, &why) == -1)
			check(o.len == 0);
		else
			check(memchr(o.data, ';', o.len) != NULL);
	}
out:
	buf_free(&s);
	buf_free(&o);
	buf_free(&d);
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
	try_orcpt(in, size);
	return 0;
}
