/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * The trace line of a delivery job's result: see jobtrace.h.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/xalloc.h"
#include "relay/jobtrace.h"

static const char *const jobtrace_conns[] = { "ok", "reused", "failed",
	"auth", "tls", "-" };

void
jobtrace_format(struct buf *out, const char *const f[JOBTRACE_FIELDS])
{
	const char *p;
	size_t i, k;

	(void)buf_appends(out, "T ");
	for (i = 0; i < JOBTRACE_FIELDS; i++) {
		p = f[i] ? f[i] : i == JOBTRACE_CONN ? "-" : "";
		for (k = 0; p[k] != '\0' && k < JOBTRACE_FIELD_MAX; k++)
			(void)buf_appendc(out, (unsigned char)p[k] < 0x20 ||
			    p[k] == 0x7f ? ' ' : p[k]);
		(void)buf_appendc(out, i + 1 < JOBTRACE_FIELDS ? '\t' : '\n');
	}
}

void
jobtrace_free(struct jobtrace *t)
{
	size_t i;

	for (i = 0; i < JOBTRACE_FIELDS; i++) {
		free(t->f[i]);
		t->f[i] = NULL;
	}
}

int
jobtrace_parse(const char *line, size_t len, struct jobtrace *t)
{
	const char *p = line + 2, *end = line + len, *e;
	size_t i, k;

	jobtrace_free(t);
	if (len < 2 || line[0] != 'T' || line[1] != ' ')
		return -1;
	for (i = 0; i < JOBTRACE_FIELDS; i++) {
		for (e = p; e < end && *e != '\t'; e++)
			if ((unsigned char)*e < 0x20 || *e == 0x7f)
				goto bad;
		if ((e == end) != (i == JOBTRACE_FIELDS - 1) ||
		    (size_t)(e - p) > JOBTRACE_FIELD_MAX)
			goto bad;
		t->f[i] = xstrndup(p, (size_t)(e - p));
		p = e + 1;
	}
	for (k = 0; k < sizeof(jobtrace_conns) / sizeof(*jobtrace_conns); k++)
		if (strcmp(t->f[JOBTRACE_CONN], jobtrace_conns[k]) == 0)
			return 1;
bad:
	jobtrace_free(t);
	return -1;
}
