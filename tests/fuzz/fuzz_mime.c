/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * libFuzzer target for lib/mime: parses the input whole and split in two
 * at a point taken from its first byte; both trees must be equal, every
 * offset must lie inside the input and nest properly (children inside the
 * parent's body), the limits must hold. Leaf bodies are decoded (QP,
 * base64), Content-Description goes through the RFC 2047 decoder, and the
 * QP encoder must round-trip the input.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/mime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(const struct mime_part *m, const char *d, size_t size, unsigned *n)
{
	const struct mime_part *c;
	struct buf out = BUF_INIT(1 << 24);

	(*n)++;
	if (m->hdr_start > m->hdr_end || m->hdr_end > m->body_start ||
	    m->body_start > m->body_end || m->body_end > size ||
	    m->depth > 50 || m->type == NULL || m->subtype == NULL)
		abort();
	if ((m->flags & MIME_F_MULTIPART) && m->nchildren == 0)
		abort();
	for (c = m->children; c != NULL; c = c->next) {
		if (c->parent != m || c->depth != m->depth + 1 ||
		    c->hdr_start < m->body_start || c->body_end > m->body_end)
			abort();
		check(c, d, size, n);
	}
	if (m->children == NULL) {
		if (m->enc == MIME_ENC_QP)
			(void)mime_decode_qp(d + m->body_start,
			    m->body_end - m->body_start, &out);
		else if (m->enc == MIME_ENC_BASE64)
			(void)mime_decode_base64(d + m->body_start,
			    m->body_end - m->body_start, &out);
	}
	if (m->description != NULL)
		(void)mime_decode_words(m->description,
		    strlen(m->description), &out, NULL, NULL);
	buf_free(&out);
}

static int
same(const struct mime_part *a, const struct mime_part *b)
{
	const struct mime_part *x, *y;

	if (a->hdr_start != b->hdr_start || a->hdr_end != b->hdr_end ||
	    a->body_start != b->body_start || a->body_end != b->body_end ||
	    a->lines != b->lines || a->flags != b->flags ||
	    a->nchildren != b->nchildren || strcmp(a->type, b->type) != 0 ||
	    strcmp(a->subtype, b->subtype) != 0)
		return 0;
	for (x = a->children, y = b->children; x && y; x = x->next, y = y->next)
		if (!same(x, y))
			return 0;
	return 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mime_parser *p, *q;
	struct buf enc = BUF_INIT(0), dec = BUF_INIT(0);
	size_t split = size ? data[0] * size / 256 : 0;
	unsigned n = 0;

	p = mime_parse(data, size, NULL);
	check(mime_parser_finish(p), (const char *)data, size, &n);
	if (n != mime_parser_nparts(p) || n > 5000)
		abort();
	q = mime_parser_new(NULL);
	mime_parser_feed(q, data, split);
	mime_parser_feed(q, data + split, size - split);
	if (!same(mime_parser_finish(p), mime_parser_finish(q)))
		abort();
	mime_parser_free(&p);
	mime_parser_free(&q);

	(void)mime_encode_qp((const char *)data, size, 0, &enc);
	(void)mime_decode_qp(enc.data ? enc.data : "", enc.len, &dec);
	if (dec.len != size || (size && memcmp(dec.data, data, size) != 0))
		abort();
	buf_free(&enc);
	buf_free(&dec);
	return 0;
}
