/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * libFuzzer target for store/imap_body: ENVELOPE, BODY and BODYSTRUCTURE
 * of arbitrary messages must succeed and be well formed: parentheses
 * balance outside quoted strings and literals, and literals have the
 * announced length.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "store/imap_body.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
well_formed(const struct buf *b)
{
	size_t i = 0, n;
	long depth = 0;
	char *end;

	while (i < b->len) {
		char c = b->data[i];

		if (c == '"') {
			for (i++; i < b->len && b->data[i] != '"'; i++)
				if (b->data[i] == '\\')
					i++;
			if (i >= b->len)
				abort();
			i++;
			continue;
		}
		if (c == '{') {
			n = strtoul(b->data + i + 1, &end, 10);
			if (*end != '}' || end[1] != '\r' || end[2] != '\n')
				abort();
			i = (size_t)(end + 3 - b->data) + n;
			if (i > b->len)
				abort();
			continue;
		}
		if (c == '(')
			depth++;
		else if (c == ')' && --depth < 0)
			abort();
		i++;
	}
	if (depth != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf out = BUF_INIT(0);
	const char *m = (const char *)data;

	if (imap_body_envelope(m, size, &out) != 1)
		abort();
	well_formed(&out);
	buf_reset(&out);
	if (imap_body_structure(m, size, 1, &out) != 1)
		abort();
	well_formed(&out);
	buf_reset(&out);
	if (imap_body_structure(m, size, 0, &out) != 1)
		abort();
	well_formed(&out);
	buf_free(&out);
	return 0;
}
