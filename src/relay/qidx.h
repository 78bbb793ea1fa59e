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

enum qidx_rcpt_state {
	QIDX_PENDING = 0,
	QIDX_DEFERRED,
	QIDX_DELIVERED,
	QIDX_BOUNCED,
};

struct qidx_msg {
	const char	*id;
	long long	 arrival;
	const char	*sender;
	long long	 size;
	int		 nrcpt;
	const char	*client;
	const char	*helo;
};

struct qidx_rcpt {
	int		 idx;
	const char	*addr;
	int		 state;
	int		 attempts;
	long long	 next_try;
	const char	*last_reply;
};

/* 1, or -1 with *errstr_r (static or sqlite's message). */
int	qidx_open(const char *path, int readonly, struct qidx **,
	    const char **errstr_r);
void	qidx_close(struct qidx **);

/* Transactions around batches of writes. 1 or -1. */
int	qidx_begin(struct qidx *);
int	qidx_commit(struct qidx *);

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
};

/* Calls fn for up to limit pending/deferred recipients with next_try <=
 * now (unix seconds), oldest first, skipping held messages. */
int	qidx_foreach_due(struct qidx *, long long now, int limit,
	    int (*fn)(void *, const struct qidx_due *), void *arg);
/* Records a delivery attempt's outcome for one recipient. 1 or -1. */
int	qidx_rcpt_update(struct qidx *, const char *id, int idx, int state,
	    int attempts, long long next_try, const char *last_reply);
/* 1 when every recipient of id is delivered or bounced, 0 if not, -1. */
int	qidx_msg_done(struct qidx *, const char *id);
/* Marks that the sender got a delay notice. */
int	qidx_msg_warned(struct qidx *, const char *id);
/* Makes deferred recipients due now (all, or those of id). Returns the
 * number changed, or -1. */
int	qidx_flush(struct qidx *, const char *id);
/* Earliest next_try among pending/deferred recipients, or 0 if none. */
long long qidx_next_due(struct qidx *);

const char *qidx_state_name(int);

#endif
