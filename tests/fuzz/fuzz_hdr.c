/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * libFuzzer target for lib/hdr: finds From: fields in arbitrary header
 * sections and extracts their addresses; every address returned must
 * contain '@' and lie within the input's bytes.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/hdr.h"

static int
check(void *arg, const char *a, size_t n)
{
	(void)arg;
	if (n == 0 || memchr(a, '@', n) == NULL)
		abort();
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf out = BUF_INIT(1 << 20);
	const char *p;
	size_t off;

	(void)hdr_addresses((const char *)data, size, check, NULL);
	if (hdr_field((const char *)data, size, "From", &out) > 0) {
		for (off = 0; off <= out.len; off += strlen(p) + 1) {
			p = out.data + off;
			(void)hdr_addresses(p, strlen(p), check, NULL);
		}
	}
	buf_free(&out);
	return 0;
}
