/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * qmgr's scheduler: hands due recipients to delivery workers (grouped by
 * message and domain, within the global and per-destination concurrency),
 * records their results, retries with exponential backoff, expires
 * messages past queue_lifetime, sends bounces and delay notices (RFC 3464)
 * and removes messages whose recipients are all final. Part of qmgr: the
 * only writer of the index.
 */
#ifndef EST_QMGR_SCHED_H
#define EST_QMGR_SCHED_H

#include <poll.h>
#include <signal.h>
#include <stddef.h>

struct buf;
struct qidx;
struct relay_cfg;
struct spool;
struct qmgr_sched;

/* Listens on spool_dir/deliver.sock. NULL on failure (logged). */
struct qmgr_sched *qmgr_sched_new(const struct relay_cfg *, struct spool *,
	    struct qidx *);
void	qmgr_sched_free(struct qmgr_sched **);

/* Appends the scheduler's descriptors to pfd (room for max); returns how
 * many. After poll, qmgr_sched_events handles their revents. */
size_t	qmgr_sched_pollfds(struct qmgr_sched *, struct pollfd *, size_t max);
void	qmgr_sched_events(struct qmgr_sched *, const struct pollfd *, size_t n);

/*
 * Reads, without waiting, what the delivery workers have already sent
 * (results, a stop notice, their end of file). qmgr calls it once told
 * to stop: a result sent just before is recorded, so that message is not
 * delivered again after the restart. Never blocks.
 */
void	qmgr_sched_collect(struct qmgr_sched *);
/* Milliseconds until the scheduler wants to run again (<= 1000). */
int	qmgr_sched_wait(struct qmgr_sched *);
/* Dispatches due work to idle workers. Cheap when nothing is due. */
void	qmgr_sched_run(struct qmgr_sched *);
/* Delivered messages' spool files are then removed by fn(arg, id) (qmgr
 * unlinks them in its commit thread) instead of at once. */
void	qmgr_sched_set_unlinker(struct qmgr_sched *,
	    void (*fn)(void *, const char *), void *arg);
/* New messages were indexed: look for work now. */
void	qmgr_sched_kick(struct qmgr_sched *);
/* *killed (set by a signal handler) says the master killed the delivery
 * workers left at its stop time limit: a worker lost mid-job is then
 * noted at info level, not warned about. */
void	qmgr_sched_set_killed_flag(struct qmgr_sched *,
	    const volatile sig_atomic_t *killed);
/* Message id was just indexed (its rows are due at once). */
void	qmgr_sched_added(struct qmgr_sched *, const char *id);
/* An estafetactl command: "commit" (the index batch, before a read),
 * "flush [ID]", or "hold", "release", "delete",
 * "bounce", "requeue" with an ID or key=value filter lines (and dry-run=1); changes
 * are written to spool_dir/audit.log. The answer ("ok: ..." or
 * "error: ...") goes into reply. */
void	qmgr_sched_ctl(struct qmgr_sched *, const char *cmd, size_t len,
	    struct buf *reply);

#endif
