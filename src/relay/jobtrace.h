/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * The trace line of a delivery job's result (deliver.h): what the worker
 * did for the job, kept by qmgr in each recipient's timeline.
 *
 *   "T ROUTE\tMX\tTRIED\tTLS\tCONN"
 *
 * The worker formats it (jobtrace_format), qmgr parses it
 * (jobtrace_parse): it crosses a process boundary, so the parser trusts
 * nothing. Pure, never blocks.
 */
#ifndef EST_JOBTRACE_H
#define EST_JOBTRACE_H

#include <stddef.h>

struct buf;

enum jobtrace_field {
	JOBTRACE_ROUTE = 0,	/* "rule: next hop" */
	JOBTRACE_MX,		/* the MX set, or why none */
	JOBTRACE_TRIED,		/* addresses tried and how each went */
	JOBTRACE_TLS,		/* "policy (setting); result" */
	JOBTRACE_CONN,		/* ok, reused, failed, auth, tls (every address
				 * answered, AUTH failed), "-" */
	JOBTRACE_FIELDS
};

#define JOBTRACE_FIELD_MAX	400	/* octets per field */

struct jobtrace {
	char	*f[JOBTRACE_FIELDS];	/* malloc'd; NULL when not parsed */
};

/*
 * Appends the line with its LF to out. f[i] NULL is "" (CONN: "-");
 * each field is cut to JOBTRACE_FIELD_MAX octets and control characters
 * (tab and LF among them) become blanks.
 */
void	jobtrace_format(struct buf *out,
	    const char *const f[JOBTRACE_FIELDS]);

/*
 * Parses one line, line[0..len) without its LF, into t (whose previous
 * fields are freed). The line must be "T " and five tab-separated
 * fields, each at most JOBTRACE_FIELD_MAX octets without control
 * characters, CONN one of ok, reused, failed, auth, tls, "-". 1, or -1
 * (t empty).
 */
int	jobtrace_parse(const char *line, size_t len, struct jobtrace *t);

void	jobtrace_free(struct jobtrace *t);

#endif
