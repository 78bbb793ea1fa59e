/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * The queue-control request parser: see qctl_req.h. Called by qmgr's
 * scheduler for estafetactl's queue actions; it must never read past len
 * nor accept a request the scheduler could misread.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/xalloc.h"
#include "relay/qctl_req.h"

#define QCTL_OLDER_MAX	(100LL * 365 * 86400)	/* seconds */

static const struct {
	const char	*name;
	int		 state;
} qctl_states[] = {
	{ "pending", QIDX_PENDING }, { "deferred", QIDX_DEFERRED },
	{ "delivered", QIDX_DELIVERED }, { "bounced", QIDX_BOUNCED },
	{ "held", QIDX_HELD },
};

static int
qctl_key(const char *line, size_t kl, const char *key)
{
	return kl == strlen(key) && strncmp(line, key, kl) == 0;
}

/* older-than=N: arrived N seconds or more before now. A cut-off at or
 * before the epoch matches nothing (-1: f.before 0 would mean "any"). */
static int
qctl_older(struct qctl_req *r, const char *v, long long now)
{
	char *e;
	long long n;

	errno = 0;
	n = strtoll(v, &e, 10);
	if (errno || *e != '\0' || *v < '0' || *v > '9' || n < 0 ||
	    n > QCTL_OLDER_MAX)
		return -1;
	r->f.before = now - n > 0 ? now - n : -1;
	return 1;
}

/* One "key=value" line into r->f (values point into the owned line,
 * which stays whole for the audit log). */
static int
qctl_req_filter(struct qctl_req *r, const char *line, long long now,
    const char **err_r)
{
	const char *v = strchr(line, '=');
	size_t i, kl;

	if (v == NULL || v[1] == '\0') {
		*err_r = "bad filter: expected key=value";
		return -1;
	}
	kl = (size_t)(v++ - line);
	if (qctl_key(line, kl, "dry-run") && strcmp(v, "1") == 0) {
		r->dry = 1;
		return 1;
	}
	if (qctl_key(line, kl, "notice") && strcmp(v, "0") == 0 &&
	    strcmp(r->verb, "bounce") == 0 && !r->no_notice) {
		r->no_notice = 1;
		return 1;
	}
	r->nfilter++;
	if (qctl_key(line, kl, "sender") && !r->f.sender)
		r->f.sender = strcmp(v, "<>") == 0 ? "" : v;
	else if (qctl_key(line, kl, "rcpt") && !r->f.rcpt)
		r->f.rcpt = v;
	else if (qctl_key(line, kl, "domain") && !r->f.domain)
		r->f.domain = v;
	else if (qctl_key(line, kl, "reply") && !r->f.reply)
		r->f.reply = v;
	else if (qctl_key(line, kl, "next-hop") && !r->f.hop)
		r->f.hop = v;
	else if (qctl_key(line, kl, "state") && r->f.state == -1) {
		for (i = 0; i < sizeof(qctl_states) / sizeof(*qctl_states);
		    i++)
			if (strcmp(v, qctl_states[i].name) == 0)
				r->f.state = qctl_states[i].state;
		if (r->f.state == -1) {
			*err_r = "bad state: pending, deferred, delivered, "
			    "bounced or held";
			return -1;
		}
	} else if (qctl_key(line, kl, "older-than") && r->f.before == 0) {
		if (qctl_older(r, v, now) == -1) {
			*err_r = "bad older-than: seconds expected";
			return -1;
		}
	} else {
		*err_r = "unknown or repeated filter";
		return -1;
	}
	return 1;
}

void
qctl_req_free(struct qctl_req *r)
{
	size_t i;

	for (i = 0; i < r->nline; i++) {
		free(r->line[i]);
		r->line[i] = NULL;
	}
	r->nline = 0;
}

int
qctl_req_parse(struct qctl_req *r, const char *cmd, size_t len,
    long long now, const char **err_r)
{
	const char *p = cmd, *end = cmd + len, *nl, *sp;
	size_t n;

	memset(r, 0, sizeof(*r));
	r->f.state = -1;
	if (memchr(cmd, '\0', len) != NULL) {
		*err_r = "bad command";
		return -1;
	}
	nl = memchr(p, '\n', len);
	n = (size_t)((nl ? nl : end) - p);
	sp = memchr(p, ' ', n);
	if ((size_t)((sp ? sp : p + n) - p) > QCTL_REQ_VERB_MAX) {
		*err_r = "unknown command";
		return -1;
	}
	memcpy(r->verb, p, (size_t)((sp ? sp : p + n) - p));
	if (sp != NULL) {
		if ((size_t)(p + n - sp - 1) != SPOOL_ID_LEN) {
			*err_r = "bad queue id";
			return -1;
		}
		memcpy(r->id, sp + 1, SPOOL_ID_LEN);
		if (!spool_valid_id(r->id)) {
			*err_r = "bad queue id";
			return -1;
		}
	}
	for (p = nl ? nl + 1 : end; p < end; p = nl ? nl + 1 : end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (r->nline == QCTL_REQ_MAX_LINES) {
			*err_r = "too many filters";
			return -1;
		}
		r->line[r->nline] = xstrndup(p, (size_t)((nl ? nl : end) - p));
		if (qctl_req_filter(r, r->line[r->nline++], now, err_r) == -1)
			return -1;
	}
	if ((r->id[0] != '\0') == (r->nfilter > 0)) {
		*err_r = r->id[0] ? "give an ID or filters, not both" :
		    "give a queue ID or at least one filter";
		return -1;
	}
	return 1;
}
