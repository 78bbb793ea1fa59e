/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * libFuzzer target for jobtrace_parse(), the parser of the trace line a
 * delivery worker sends qmgr with a job's results. Checks the promises:
 * a refused line leaves no field; an accepted one has five fields within
 * JOBTRACE_FIELD_MAX octets without control characters and a known CONN,
 * and formatting them gives back exactly the input line (plus LF), which
 * parses to the same fields. Any broken promise aborts.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "relay/jobtrace.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check(int cond)
{
	if (!cond)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jobtrace t = { { NULL } }, u = { { NULL } };
	struct buf b = BUF_INIT(0);
	const char *f[JOBTRACE_FIELDS];
	size_t i, k;

	if (jobtrace_parse((const char *)data, size, &t) != 1) {
		for (i = 0; i < JOBTRACE_FIELDS; i++)
			check(t.f[i] == NULL);
		return 0;
	}
	for (i = 0; i < JOBTRACE_FIELDS; i++) {
		check(t.f[i] != NULL);
		check(strlen(t.f[i]) <= JOBTRACE_FIELD_MAX);
		for (k = 0; t.f[i][k] != '\0'; k++)
			check((unsigned char)t.f[i][k] >= 0x20 &&
			    t.f[i][k] != 0x7f);
		f[i] = t.f[i];
	}
	jobtrace_format(&b, f);
	check(b.len == size + 1 && memcmp(b.data, data, size) == 0 &&
	    b.data[size] == '\n');
	check(jobtrace_parse(b.data, b.len - 1, &u) == 1);
	for (i = 0; i < JOBTRACE_FIELDS; i++)
		check(strcmp(t.f[i], u.f[i]) == 0);
	jobtrace_free(&t);
	jobtrace_free(&u);
	buf_free(&b);
	return 0;
}
