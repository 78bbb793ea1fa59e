/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * The queue index: SQLite (WAL) at spool_dir/index.db. qmgr is its only
 * writer; estafetactl opens it read-only. It is a cache of the spool files
 * and can always be rebuilt from them (qmgr does so at start-up), so
 * commits need not be synchronous.
 */
#ifndef EST_QIDX_H
#define EST_QIDX_H

struct spool_env;
struct qidx;
struct buf;

enum qidx_rcpt_state {
	QIDX_PENDING = 0,
	QIDX_DEFERRED,
	QIDX_DELIVERED,
	QIDX_BOUNCED,
	QIDX_HELD,		/* filters only: the message is on hold */
};

struct qidx_msg {
	const char	*id;
	long long	 arrival;
	const char	*sender;
	long long	 size;
	int		 nrcpt;
	const char	*client;
	const char	*helo;
	int		 hold;
};

/*
 * Selects messages for `queue list` and the bulk queue actions. NULL/-1/0
 * fields match anything; the recipient conditions must all hold for one
 * and the same recipient. Values are bound as SQL parameters.
 */
struct qidx_filter {
	const char	*sender;	/* exact envelope sender */
	const char	*rcpt;		/* exact recipient address */
	const char	*domain;	/* recipient domain, lowercase */
	const char	*reply;		/* substring of last_reply */
	int		 state;		/* -1, or QIDX_* */
	long long	 before;	/* arrival <= before (unix), 0 = any */
	const char	*hop;		/* next hop key (route_key), needs
					 * qidx_set_hop() */
};

#define QIDX_FILTER_INIT	{ NULL, NULL, NULL, NULL, -1, 0, NULL }

/*
 * How the next-hop filter learns a recipient domain's next hop under the
 * caller's running configuration: fn puts its key (route_key(), "" when
 * it has no route) into key. 1, or -1 (SQLite refused the function).
 */
int	qidx_set_hop(struct qidx *, void (*fn)(void *, const char *domain,
	    struct buf *key), void *arg);

struct qidx_rcpt {
	int		 idx;
	const char	*addr;
	int		 state;
	int		 attempts;
	long long	 next_try;
	const char	*last_reply;
};

/*
 * 1, or -1 with *errstr_r (static or sqlite's message). readonly: for
 * estafetactl, which runs as root on a file qmgr's user may write: the
 * connection never maps the file (mmap_size 0) and runs defensive
 * (SQLITE_DBCONFIG_DEFENSIVE, trusted_schema off, views and triggers
 * off); it fails when SQLite does not allow that.
 */
int	qidx_open(const char *path, int readonly, struct qidx **,
	    const char **errstr_r);

/* How the connection is set up (tests, diagnostics). */
struct qidx_conn_info {
	long long	 mmap_size;	/* PRAGMA mmap_size */
	int		 defensive;	/* SQLITE_DBCONFIG_DEFENSIVE */
	int		 trusted_schema, views, triggers;
};
/* 1, or -1. Never blocks. */
int	qidx_conn_info(struct qidx *, struct qidx_conn_info *);
void	qidx_close(struct qidx **);

/* Transactions around batches of writes. 1 or -1. qidx_begin first
 * commits an open batch (below). */
int	qidx_begin(struct qidx *);
int	qidx_commit(struct qidx *);
/*
 * The batch transaction: writes from many rounds of work (indexing,
 * delivery results) share one commit, so the WAL gets each page once per
 * batch, not once per round (less for the spool's syncfs to write).
 * qidx_batch joins the open batch or opens one; qidx_batch_end commits it
 * once it has been open for max_ms (0: now). qidx_batch_left: ms until
 * then, -1 when no batch is open. 1 or -1.
 */
int	qidx_batch(struct qidx *);
int	qidx_batch_end(struct qidx *, int max_ms);
int	qidx_batch_left(struct qidx *, int max_ms);

/* 1 if the message is indexed, 0 if not, -1 on error. */
int	qidx_has(struct qidx *, const char *id);
/* Adds a message and its recipients (no-op if present). 1 or -1. */
int	qidx_add(struct qidx *, const struct spool_env *);
int	qidx_remove(struct qidx *, const char *id);

/* Calls fn for every message, oldest first (fn returns -1 to stop);
 * id non-NULL: just that one. Returns the count visited, or -1. */
int	qidx_foreach_msg(struct qidx *, const char *id,
	    int (*fn)(void *, const struct qidx_msg *), void *arg);
int	qidx_foreach_rcpt(struct qidx *, const char *id,
	    int (*fn)(void *, const struct qidx_rcpt *), void *arg);
/* Like qidx_foreach_msg for the messages matching f, oldest first. */
int	qidx_foreach_match(struct qidx *, const struct qidx_filter *f,
	    int (*fn)(void *, const struct qidx_msg *), void *arg);
/*
 * Queue shape over pending/deferred recipients (held messages included),
 * in one pass: messages and recipients by age bucket at now (< 5m, 10m,
 * 20m, ... 640m, older, as Postfix's qshape) and by recipient domain (a
 * message counts once per domain it has recipients at), domains sorted by
 * recipients, most first, then by name. 1 with *out filled (release with
 * qidx_shape_free), or -1.
 */
#define QIDX_AGE_BUCKETS	9
struct qidx_shape_domain {
	char		*domain;
	long long	 nmsg, nrcpt;
};
struct qidx_shape {
	long long			 age_msg[QIDX_AGE_BUCKETS];
	long long			 age_rcpt[QIDX_AGE_BUCKETS];
	struct qidx_shape_domain	*dom;
	size_t				 ndom;
};
int	qidx_shape(struct qidx *, long long now, struct qidx_shape *out);
void	qidx_shape_free(struct qidx_shape *);
/* Every indexed id, for reconciliation: fn(arg, id). */
int	qidx_foreach_id(struct qidx *, int (*fn)(void *, const char *),
	    void *arg);

/* A recipient due for delivery. */
struct qidx_due {
	const char	*id;
	int		 idx;
	const char	*addr;
	const char	*domain;
	int		 attempts;
	long long	 arrival;
	int		 warned;	/* a delay notice was sent */
	int		 nrcpt;		/* recipients of the message */
	long long	 next_try;	/* its place in the due order */
	long long	 size;		/* of the message, octets */
};

/* Calls fn for up to limit pending/deferred recipients with next_try <=
 * now (unix seconds), oldest first, skipping held messages; returns how
 * many, or -1. */
int	qidx_foreach_due(struct qidx *, long long now, int limit,
	    int (*fn)(void *, const struct qidx_due *), void *arg);
/* The same, from the row after *after (its next_try, id and idx; NULL:
 * from the first): the next page of the due order. */
int	qidx_foreach_due_after(struct qidx *, long long now,
	    const struct qidx_due *after, int limit,
	    int (*fn)(void *, const struct qidx_due *), void *arg);
/* The due pages read after this leave out the recipients at domain
 * (ASCII case ignored), until qidx_due_skip_clear: the scheduler's
 * destinations that can take nothing more in a run. 0 or -1. */
int	qidx_due_skip(struct qidx *, const char *domain);
int	qidx_due_skip_clear(struct qidx *);
/* Records a delivery attempt's outcome for one recipient. 1 or -1. */
int	qidx_rcpt_update(struct qidx *, const char *id, int idx, int state,
	    int attempts, long long next_try, const char *last_reply);
/* 1 when every recipient of id is delivered or bounced, 0 if not, -1. */
int	qidx_msg_done(struct qidx *, const char *id);
/* Marks that the sender got a delay notice: 1 when it was not marked
 * yet, 0 when it was (the notice is sent already), -1. */
int	qidx_msg_warned(struct qidx *, const char *id);
/* Makes deferred recipients due now (all, or those of id). Returns the
 * number changed, or -1. */
int	qidx_flush(struct qidx *, const char *id);
/* Sets or clears the hold flag of id. Rows changed (0: no such id), -1. */
int	qidx_hold(struct qidx *, const char *id, int on);
/* Earliest next_try among pending/deferred recipients, or 0 if none. */
long long qidx_next_due(struct qidx *);

/* Makes every pending/deferred recipient of id due now. Rows changed,
 * or -1. */
int	qidx_requeue(struct qidx *, const char *id);

/*
 * The timeline of a recipient: one row per delivery attempt (kind
 * "attempt") or administrative event ("requeue", "bounce"), oldest first;
 * only the last QIDX_ATTEMPTS_KEPT rows of each recipient are kept.
 * Strings are "" when unknown (never NULL when read).
 */
#define QIDX_ATTEMPTS_KEPT	20
struct qidx_attempt {
	int		 idx;
	int		 seq;		/* 1, 2, ... per recipient */
	long long	 t;		/* unix time */
	const char	*kind;
	int		 attempt;	/* delivery attempts so far */
	int		 state;		/* QIDX_* after it */
	const char	*route;		/* "rule: next hop" */
	const char	*mx;		/* the MX set, or why none */
	const char	*tried;		/* addresses tried and their outcome */
	const char	*tls;		/* policy, its source, the result */
	const char	*reply;		/* the peer's reply or our reason */
	long long	 next_try;	/* 0: none */
	const char	*why;		/* why that next try (or none) */
};

/* Adds a row (seq is chosen here) and trims old ones. 1 or -1. */
int	qidx_attempt_add(struct qidx *, const char *id,
	    const struct qidx_attempt *);
/* Rows of id (idx -1: every recipient), by idx then seq. Count or -1. */
int	qidx_foreach_attempt(struct qidx *, const char *id, int idx,
	    int (*fn)(void *, const struct qidx_attempt *), void *arg);

/*
 * Adaptive throttling state of a destination (route key) while it is
 * below its configured concurrency: current limit, pacing delay between
 * deliveries, successes counted towards the next raise.
 */
struct qidx_dest {
	const char	*key;
	int		 limit;		/* 0 in qidx_dest_put: delete */
	long long	 pace_ms;
	int		 ok;
	long long	 updated;	/* unix time */
	const char	*reason;	/* the reply that lowered it */
};

int	qidx_dest_put(struct qidx *, const struct qidx_dest *);
int	qidx_foreach_dest(struct qidx *,
	    int (*fn)(void *, const struct qidx_dest *), void *arg);

const char *qidx_state_name(int);

#endif
