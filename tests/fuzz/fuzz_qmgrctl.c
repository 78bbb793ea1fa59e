/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * libFuzzer target for qctl_req_parse(), the parser of the queue-control
 * requests estafetactl sends qmgr (hold, release, delete, bounce,
 * requeue, flush). Checks the promises: an accepted request has a verb of at
 * most QCTL_REQ_VERB_MAX octets without space or LF, either a valid queue
 * id or at least one filter (never both), at most QCTL_REQ_MAX_LINES
 * lines, each a copy of an input line, filter values inside those lines,
 * a known state and a sane cut-off; a refused one has an error message.
 * Any broken promise aborts.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "relay/qctl_req.h"

#define NOW	1800000000LL

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check(int cond)
{
	if (!cond)
		abort();
}

/* v is NULL, or points inside one of r's owned lines. */
static void
check_inside(const struct qctl_req *r, const char *v)
{
	size_t i;

	if (v == NULL || *v == '\0')
		return;		/* "" is the null sender's constant */
	for (i = 0; i < r->nline; i++)
		if (v > r->line[i] && v < r->line[i] + strlen(r->line[i]))
			return;
	abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct qctl_req r;
	const char *err = NULL;
	size_t i;

	if (qctl_req_parse(&r, (const char *)data, size, NOW, &err) != 1) {
		check(err != NULL && *err != '\0');
		qctl_req_free(&r);
		return 0;
	}
	check(strlen(r.verb) <= QCTL_REQ_VERB_MAX);
	check(strchr(r.verb, ' ') == NULL && strchr(r.verb, '\n') == NULL);
	check(memcmp(data, r.verb, strlen(r.verb)) == 0);
	check((r.id[0] != '\0') != (r.nfilter > 0));
	check(r.id[0] == '\0' || spool_valid_id(r.id));
	check(r.nline <= QCTL_REQ_MAX_LINES);
	check(r.nfilter <= (int)r.nline);
	for (i = 0; i < r.nline; i++) {
		check(strchr(r.line[i], '\n') == NULL);
		check(strchr(r.line[i], '=') != NULL);
		check(memmem(data, size, r.line[i], strlen(r.line[i])) !=
		    NULL);
	}
	check_inside(&r, r.f.sender);
	check_inside(&r, r.f.rcpt);
	check_inside(&r, r.f.domain);
	check_inside(&r, r.f.reply);
	check_inside(&r, r.f.hop);
	check(!r.no_notice || strcmp(r.verb, "bounce") == 0);
	check(r.f.state >= -1 && r.f.state <= QIDX_HELD);
	check(r.f.before == 0 || r.f.before == -1 ||
	    (r.f.before > 0 && r.f.before <= NOW));
	qctl_req_free(&r);
	check(r.nline == 0);
	return 0;
}
