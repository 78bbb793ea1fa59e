/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * The job frame: see jobframe.h.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/xalloc.h"
#include "relay/jobframe.h"

int
jobframe_add(struct buf *out, const char *id, const char *domain,
    const int *idx, size_t n)
{
	size_t i;
	int r;

	if (!spool_valid_id(id) || strchr(domain, '\n') != NULL || n == 0 ||
	    n > DELIVER_MAX_RCPTS)
		return -1;
	for (i = 0; i < n; i++)
		if (idx[i] < 0 || idx[i] > JOBFRAME_IDX_MAX)
			return -1;
	r = buf_appendf(out, "%s\n%s\n", id, domain);
	for (i = 0; i < n && r != -1; i++)
		r = buf_appendf(out, "%s%d", i ? " " : "", idx[i]);
	if (r == -1 || buf_appendc(out, '\n') == -1)
		return -1;
	return 1;
}

/* One recipient index at *pp: digits, no leading zero, within the max. */
static int
jobframe_idx(const char **pp, const char *end, int *v_r)
{
	const char *p = *pp;
	long v = 0;

	if (p == end || *p < '0' || *p > '9' || (*p == '0' && p + 1 < end &&
	    p[1] >= '0' && p[1] <= '9'))
		return -1;
	for (; p < end && *p >= '0' && *p <= '9'; p++)
		if ((v = v * 10 + (*p - '0')) > JOBFRAME_IDX_MAX)
			return -1;
	*v_r = (int)v;
	*pp = p;
	return 1;
}

/* One block at *pp into m; *pp moves past it. 1 or -1 (m owns nothing). */
static int
jobframe_block(const char **pp, const char *end, struct jobframe_msg *m)
{
	const char *p = *pp, *dom, *nl;

	memset(m, 0, sizeof(*m));
	if (end - p < SPOOL_ID_LEN + 1 || p[SPOOL_ID_LEN] != '\n')
		return -1;
	memcpy(m->id, p, SPOOL_ID_LEN);
	if (!spool_valid_id(m->id))
		return -1;
	dom = p + SPOOL_ID_LEN + 1;
	if ((nl = memchr(dom, '\n', (size_t)(end - dom))) == NULL ||
	    memchr(dom, '\0', (size_t)(nl - dom)) != NULL)
		return -1;
	for (p = nl + 1;; p++) {
		if (m->n == DELIVER_MAX_RCPTS ||
		    jobframe_idx(&p, end, &m->idx[m->n]) == -1 || p == end)
			return -1;
		m->n++;
		if (*p == '\n')
			break;
		if (*p != ' ')
			return -1;
	}
	m->domain = xstrndup(dom, (size_t)(nl - dom));
	*pp = p + 1;
	return 1;
}

int
jobframe_parse(const char *p, size_t len, struct jobframe_msg *m,
    size_t max, size_t *n_r)
{
	const char *end = p + len;
	size_t n = 0;

	*n_r = 0;
	while (p < end) {
		if (n == max || jobframe_block(&p, end, &m[n]) == -1)
			goto bad;
		n++;
	}
	if (n == 0)
		return -1;
	*n_r = n;
	return 1;
bad:
	jobframe_free(m, n);
	return -1;
}

void
jobframe_free(struct jobframe_msg *m, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(m[i].domain);
		m[i].domain = NULL;
	}
}
