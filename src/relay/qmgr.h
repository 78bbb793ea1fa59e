/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * qmgr: the queue manager, one unprivileged process. It may touch the
 * spool (all directories) and is the only writer of the queue index.
 * Today it (1) makes committed messages durable in groups (one syncfs per
 * batch of COMMIT requests, then renames incoming/ID to queue/ID and
 * acknowledges each), (2) indexes them, and (3) reconciles spool and index
 * at start-up and periodically: complete files left in incoming/ by a crash
 * are queued, incomplete stale ones removed, unreadable ones moved to
 * corrupt/, index rows without a file dropped.
 */
#ifndef EST_QMGR_H
#define EST_QMGR_H

struct relay_cfg;

/* The busy value qmgr reports on the master's status pipe once it is
 * listening and has reconciled the spool. */
#define QMGR_STATUS_READY	2

/*
 * Runs until SIGTERM/SIGINT; never returns. Every start (and every
 * periodic reconciliation) queues the complete files in incoming/ whose
 * writer is gone (see spool.h). Reports readiness on status_fd.
 */
void	qmgr_main(const struct relay_cfg *, int status_fd)
	    __attribute__((noreturn));

#endif
