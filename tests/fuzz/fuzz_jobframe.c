/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * libFuzzer target for jobframe_parse(), the parser of the job frame a
 * delivery worker gets from qmgr. Checks the promises: a refused frame
 * leaves nothing allocated (LeakSanitizer) and no block; an accepted one
 * has 1 to DELIVER_MAX_MSGS blocks with valid ids, domains without LF or
 * NUL and 1 to DELIVER_MAX_RCPTS indexes in range, and formatting them
 * with jobframe_add gives back exactly the input. Any broken promise
 * aborts.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "relay/jobframe.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static struct jobframe_msg m[DELIVER_MAX_MSGS];

static void
check(int cond)
{
	if (!cond)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf b = BUF_INIT(0);
	size_t n, i, k;

	if (jobframe_parse((const char *)data, size, m, DELIVER_MAX_MSGS,
	    &n) != 1) {
		check(n == 0);
		return 0;
	}
	check(n >= 1 && n <= DELIVER_MAX_MSGS);
	for (i = 0; i < n; i++) {
		check(spool_valid_id(m[i].id));
		check(m[i].domain != NULL && strchr(m[i].domain, '\n') == NULL);
		check(m[i].n >= 1 && m[i].n <= DELIVER_MAX_RCPTS);
		for (k = 0; k < m[i].n; k++)
			check(m[i].idx[k] >= 0 &&
			    m[i].idx[k] <= JOBFRAME_IDX_MAX);
		check(jobframe_add(&b, m[i].id, m[i].domain, m[i].idx,
		    m[i].n) == 1);
	}
	check(b.len == size && memcmp(b.data, data, size) == 0);
	jobframe_free(m, n);
	buf_free(&b);
	return 0;
}
