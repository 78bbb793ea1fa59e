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
#include "relay/jobtrace.h"

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

/* ------------------------------------------------------------ results */

int
jobframe_result_begin(struct buf *out, const char *id)
{
	return buf_appendf(out, "%s\n", id) == -1 ? -1 : 1;
}

/* Appends s[0..max) (up to its NUL) with TAB, CR and LF as blanks. */
static int
jobframe_clean(struct buf *out, const char *s, size_t max)
{
	size_t i;

	for (i = 0; s[i] != '\0' && i < max; i++)
		if (buf_appendc(out, s[i] == '\t' || s[i] == '\r' ||
		    s[i] == '\n' ? ' ' : s[i]) == -1)
			return -1;
	return 1;
}

int
jobframe_result_add(struct buf *out, int idx, char state, const char *remote,
    const char *reply)
{
	if (idx < 0 || idx > JOBFRAME_IDX_MAX || state == '\0' ||
	    strchr("dtpurf", state) == NULL)
		return -1;
	if (remote == NULL || remote[0] == '\0')
		remote = "-";
	if (buf_appendf(out, "%d %c ", idx, state) == -1 ||
	    jobframe_clean(out, remote, (size_t)-1) == -1 ||
	    buf_appendc(out, '\t') == -1 ||
	    jobframe_clean(out, reply ? reply : "", JOBFRAME_REPLY_MAX) == -1 ||
	    buf_appendc(out, '\n') == -1)
		return -1;
	return 1;
}

void
jobframe_result_free(struct jobframe_rcpt *r, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(r[i].remote);
		free(r[i].reply);
		r[i].remote = r[i].reply = NULL;
	}
}

/* 1 when p[0..n) holds no TAB, CR, LF or NUL. */
static int
jobframe_plain(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] == '\t' || p[i] == '\r' || p[i] == '\n' ||
		    p[i] == '\0')
			return 0;
	return 1;
}

/* One recipient line p[0..nl) into r. 1 or -1 (r owns nothing). */
static int
jobframe_rcpt_line(const char *p, const char *nl, struct jobframe_rcpt *r)
{
	const char *tab;

	memset(r, 0, sizeof(*r));
	if (jobframe_idx(&p, nl, &r->idx) == -1 || nl - p < 4 ||
	    p[0] != ' ' || strchr("dtpurf", p[1]) == NULL || p[1] == '\0' ||
	    p[2] != ' ')
		return -1;
	r->state = p[1];
	p += 3;
	if ((tab = memchr(p, '\t', (size_t)(nl - p))) == NULL || tab == p ||
	    !jobframe_plain(p, (size_t)(tab - p)) ||
	    (size_t)(nl - tab - 1) > JOBFRAME_REPLY_MAX ||
	    !jobframe_plain(tab + 1, (size_t)(nl - tab - 1)))
		return -1;
	r->remote = xstrndup(p, (size_t)(tab - p));
	r->reply = xstrndup(tab + 1, (size_t)(nl - tab - 1));
	return 1;
}

int
jobframe_result_parse(const char *p, size_t len, const char *id,
    const int *idx, size_t n, struct jobframe_rcpt *r, struct jobtrace *tr)
{
	const char *end = p + len, *nl;
	unsigned char seen[DELIVER_MAX_RCPTS];
	size_t got = 0, k;

	jobtrace_free(tr);
	if (n == 0 || n > DELIVER_MAX_RCPTS || len < SPOOL_ID_LEN + 1 ||
	    memcmp(p, id, SPOOL_ID_LEN) != 0 || p[SPOOL_ID_LEN] != '\n')
		return -1;
	memset(seen, 0, sizeof(seen));
	for (p += SPOOL_ID_LEN + 1; got < n; p = nl + 1) {
		if (p == end || (nl = memchr(p, '\n', (size_t)(end - p))) ==
		    NULL || jobframe_rcpt_line(p, nl, &r[got]) == -1)
			goto bad;
		for (k = 0; k < n && idx[k] != r[got].idx; k++)
			;
		got++;
		if (k == n || seen[k])
			goto bad;	/* not in the job, or twice */
		seen[k] = 1;
	}
	if (p == end || (nl = memchr(p, '\n', (size_t)(end - p))) == NULL ||
	    nl + 1 != end || jobtrace_parse(p, (size_t)(nl - p), tr) == -1)
		goto bad;
	return 1;
bad:
	jobframe_result_free(r, got);
	jobtrace_free(tr);
	return -1;
}
