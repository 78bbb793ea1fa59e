/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * Adaptive per-destination throttling: see throttle.h. A small table of
 * the destinations currently below their configured concurrency; a
 * destination leaves it once fully restored.
 */
#include "config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "relay/qidx.h"
#include "relay/relay_cfg.h"
#include "relay/throttle.h"

#define THROTTLE_REASON_MAX	200	/* octets of the reply kept */

struct throttle_dest {
	char		*key;
	int		 limit;
	long long	 pace_ms;
	int		 ok;		/* successes since the last change */
	long long	 next_ms;	/* no start before (wall ms) */
	long long	 updated;	/* unix time of the last change */
	char		*reason;
};

static void	throttle_save(struct throttle *, const struct throttle_dest *,
		    int);

struct throttle {
	const struct relay_cfg	*cfg;
	struct qidx		*idx;
	struct throttle_dest	*d;
	size_t			 n;
};

static struct throttle_dest *
throttle_find(const struct throttle *t, const char *key)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		if (strcmp(t->d[i].key, key) == 0)
			return &t->d[i];
	return NULL;
}

static struct throttle_dest *
throttle_add(struct throttle *t, const char *key)
{
	struct throttle_dest *d;

	t->d = xrealloc(t->d, (t->n + 1) * sizeof(*t->d));
	d = &t->d[t->n++];
	memset(d, 0, sizeof(*d));
	d->key = xstrdup(key);
	d->limit = (int)t->cfg->deliver_dest_concurrency;
	return d;
}

static int
throttle_load_one(void *arg, const struct qidx_dest *qd)
{
	struct throttle *t = arg;
	struct throttle_dest *d = throttle_add(t, qd->key);

	d->limit = qd->limit > 0 ? qd->limit : 1;
	d->pace_ms = qd->pace_ms > 0 ? qd->pace_ms : 0;
	if (d->pace_ms > t->cfg->deliver_throttle_delay_max)
		d->pace_ms = t->cfg->deliver_throttle_delay_max;
	d->ok = qd->ok;
	d->updated = qd->updated;
	d->reason = xstrdup(qd->reason);
	log_info("qmgr throttle dest=%s concurrency=%d delay=%lldms "
	    "(restored from the index)", d->key, d->limit, d->pace_ms);
	return 1;
}

struct throttle *
throttle_new(const struct relay_cfg *cfg, struct qidx *idx)
{
	struct throttle *t = xcalloc(1, sizeof(*t));

	t->cfg = cfg;
	t->idx = idx;
	if (cfg->deliver_throttle && qidx_foreach_dest(idx, throttle_load_one, t) == -1)
		log_error("qmgr cannot read the throttling state: starting "
		    "without it");
	return t;
}

static void
throttle_dest_free(struct throttle_dest *d)
{
	free(d->key);
	free(d->reason);
}

void
throttle_free(struct throttle **tp)
{
	struct throttle *t = *tp;
	size_t i;

	if (t == NULL)
		return;
	for (i = 0; i < t->n; i++)
		throttle_dest_free(&t->d[i]);
	free(t->d);
	free(t);
	*tp = NULL;
}

void
throttle_expire(struct throttle *t, long long now)
{
	struct throttle_dest *d;
	size_t i;

	for (i = t->n; i-- > 0;) {
		d = &t->d[i];
		if (now - d->updated < t->cfg->deliver_throttle_forget / 1000)
			continue;
		log_info("qmgr throttle dest=%s forgotten after %llds without "
		    "a change (was concurrency=%d delay=%lldms)", d->key,
		    now - d->updated, d->limit, d->pace_ms);
		throttle_save(t, d, 1);
		throttle_dest_free(d);
		*d = t->d[--t->n];
	}
}

int
throttle_limit(const struct throttle *t, const char *key,
    long long *pace_ms_r)
{
	const struct throttle_dest *d = throttle_find(t, key);
	int cfg = (int)t->cfg->deliver_dest_concurrency;

	*pace_ms_r = d ? d->pace_ms : 0;
	if (d == NULL || d->limit > cfg)
		return cfg;	/* also after a reload lowered it */
	return d->limit;
}

int
throttle_allow(struct throttle *t, const char *key, size_t active,
    long long now_ms, long long *wake_ms_r)
{
	const struct throttle_dest *d = throttle_find(t, key);
	long long pace;

	if (active >= (size_t)throttle_limit(t, key, &pace))
		return 0;
	if (d != NULL && pace > 0 && now_ms < d->next_ms) {
		if (*wake_ms_r == 0 || d->next_ms < *wake_ms_r)
			*wake_ms_r = d->next_ms;
		return 0;
	}
	return 1;
}

void
throttle_started(struct throttle *t, const char *key, long long now_ms)
{
	struct throttle_dest *d = throttle_find(t, key);

	if (d != NULL && d->pace_ms > 0)
		d->next_ms = now_ms + d->pace_ms;
}

int
throttle_reply_signals(const char *patterns, const char *reply)
{
	const char *p, *e, *r;
	size_t n, rl = strlen(reply);

	if (strncmp(reply, "421", 3) != 0 && strncmp(reply, "451", 3) != 0)
		return 0;
	if (reply[3] != ' ' && reply[3] != '-' && reply[3] != '\0')
		return 0;
	for (p = patterns; *p != '\0'; p = *e ? e + 1 : e) {
		if ((e = strchr(p, ',')) == NULL)
			e = p + strlen(p);
		while (p < e && isspace((unsigned char)*p))
			p++;
		n = (size_t)(e - p);
		while (n > 0 && isspace((unsigned char)p[n - 1]))
			n--;
		if (n == 0 || n > rl)
			continue;
		for (r = reply + 3; (size_t)(r - reply) + n <= rl; r++)
			if (strncasecmp(r, p, n) == 0)
				return 1;
	}
	return 0;
}

/* Writes d (or its removal when restored) to the index. */
static void
throttle_save(struct throttle *t, const struct throttle_dest *d,
    int restored)
{
	struct qidx_dest qd;

	memset(&qd, 0, sizeof(qd));
	qd.key = d->key;
	qd.limit = restored ? 0 : d->limit;
	qd.pace_ms = d->pace_ms;
	qd.ok = d->ok;
	qd.updated = d->updated;
	qd.reason = d->reason;
	if (qidx_dest_put(t->idx, &qd) == -1)
		log_error("qmgr cannot save the throttling state of %s", d->key);
}

static void
throttle_lower(struct throttle *t, const char *key, const char *signal,
    long long now_ms)
{
	const struct relay_cfg *cfg = t->cfg;
	struct throttle_dest *d = throttle_find(t, key);
	struct buf esc = BUF_INIT(0);
	long long pace;

	if (d == NULL)
		d = throttle_add(t, key);
	if (d->limit > cfg->deliver_dest_concurrency)
		d->limit = (int)cfg->deliver_dest_concurrency;
	d->limit = d->limit > 1 ? d->limit / 2 : 1;
	pace = d->pace_ms > 0 ? d->pace_ms * 2 : cfg->deliver_throttle_delay;
	d->pace_ms = pace < cfg->deliver_throttle_delay_max ? pace :
	    cfg->deliver_throttle_delay_max;
	d->ok = 0;
	d->updated = now_ms / 1000;
	free(d->reason);
	d->reason = xstrndup(signal, strnlen(signal, THROTTLE_REASON_MAX));
	log_warn("qmgr throttle dest=%s lowered concurrency=%d delay=%lldms "
	    "reason=\"%s\"", key, d->limit, d->pace_ms, log_escape(&esc,
	    d->reason, strlen(d->reason), THROTTLE_REASON_MAX));
	buf_free(&esc);
	throttle_save(t, d, 0);
}

/*
 * A job to a throttled destination delivered something: the pause halves
 * at once (a destination that is back must not wait minutes per message
 * for long), and every deliver_throttle_recover delivered recipients add
 * one to the concurrency.
 */
static void
throttle_raise(struct throttle *t, struct throttle_dest *d, size_t delivered,
    long long now_ms)
{
	const struct relay_cfg *cfg = t->cfg;
	long long pace = d->pace_ms;
	int limit = d->limit, restored;

	d->ok += (int)delivered;
	if (d->ok >= cfg->deliver_throttle_recover) {
		d->ok = 0;
		if (d->limit < cfg->deliver_dest_concurrency)
			d->limit++;
	}
	d->pace_ms /= 2;
	if (d->pace_ms < cfg->deliver_throttle_delay / 2 || d->pace_ms < 1)
		d->pace_ms = 0;
	if (d->limit == limit && d->pace_ms == pace)
		return;		/* counting towards the next step */
	d->updated = now_ms / 1000;
	restored = d->limit >= cfg->deliver_dest_concurrency &&
	    d->pace_ms == 0;
	log_info("qmgr throttle dest=%s %s concurrency=%d delay=%lldms", d->key,
	    restored ? "restored" : "raised", d->limit, d->pace_ms);
	throttle_save(t, d, restored);
	if (restored) {
		throttle_dest_free(d);
		*d = t->d[--t->n];
	}
}

void
throttle_result(struct throttle *t, const char *key, const char *signal,
    size_t delivered, long long now_ms)
{
	struct throttle_dest *d;

	if (!t->cfg->deliver_throttle)
		return;
	if (signal != NULL) {
		throttle_lower(t, key, signal, now_ms);
		return;
	}
	if (delivered == 0 || (d = throttle_find(t, key)) == NULL)
		return;
	throttle_raise(t, d, delivered, now_ms);
}
