/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * libFuzzer target for jobframe_result_parse(), the parser qmgr runs on
 * a delivery worker's result for one message. The first input octet
 * picks the job's recipients (1 to 4 indexes: 0, 3, 6, 9), the rest is
 * the frame, for the id 616a761691ee1345f260. Checks the promises: a
 * refused frame leaves nothing allocated (LeakSanitizer); an accepted one
 * has one entry per job recipient, each index once, states and texts
 * within the rules, and formatting them again (jobframe_result_add, then
 * the trace) gives back exactly the frame. Any broken promise aborts.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "relay/jobframe.h"
#include "relay/jobtrace.h"

#define ID	"616a761691ee1345f260"

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
	struct jobframe_rcpt r[4];
	struct jobtrace tr = { { NULL } };
	struct buf b = BUF_INIT(0);
	const char *f[JOBTRACE_FIELDS];
	int idx[4] = { 0, 3, 6, 9 };
	size_t n, i, k;

	if (size < 1)
		return 0;
	n = data[0] % 4 + 1;
	if (jobframe_result_parse((const char *)data + 1, size - 1, ID, idx,
	    n, r, &tr) != 1) {
		for (i = 0; i < JOBTRACE_FIELDS; i++)
			check(tr.f[i] == NULL);
		return 0;
	}
	check(jobframe_result_begin(&b, ID) == 1);
	for (i = 0; i < n; i++) {
		for (k = i + 1; k < n; k++)
			check(r[i].idx != r[k].idx);
		check(r[i].idx % 3 == 0 && r[i].idx / 3 < (int)n);
		check(strchr("dtpurf", r[i].state) != NULL && r[i].state);
		check(r[i].remote[0] != '\0' &&
		    strpbrk(r[i].remote, "\t\r\n") == NULL);
		check(strlen(r[i].reply) <= JOBFRAME_REPLY_MAX &&
		    strpbrk(r[i].reply, "\t\r\n") == NULL);
		check(jobframe_result_add(&b, r[i].idx, r[i].state,
		    r[i].remote, r[i].reply) == 1);
	}
	for (i = 0; i < JOBTRACE_FIELDS; i++)
		f[i] = tr.f[i];
	jobtrace_format(&b, f);
	check(b.len == size - 1 && memcmp(b.data, data + 1, size - 1) == 0);
	jobframe_result_free(r, n);
	jobtrace_free(&tr);
	buf_free(&b);
	return 0;
}
