/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * smtpd: an unprivileged worker serving one SMTP session at a time on the
 * listening sockets the master bound. It may touch: its client socket, the
 * spool's incoming/ and queue/ directories (through spool.h) and the qmgr
 * socket. It never writes the queue index and never runs as root.
 */
#ifndef EST_SMTPD_H
#define EST_SMTPD_H

#include <stddef.h>

struct relay_cfg;

enum listener_kind {
	LISTEN_MX = 0,
	LISTEN_SUBMISSION,
	LISTEN_SMTPS,
	LISTEN_LOCAL,		/* unix socket of the sendmail command */
};

struct listener {
	int		 fd;
	int		 kind;		/* enum listener_kind */
	char		*addr;		/* as configured */
};

/* Status bytes a worker writes to the master's status pipe. */
struct smtpd_status {
	int		 pid;
	int		 busy;
};

/*
 * The scoreboard: an int per worker slot in memory the master shares with
 * every worker (MAP_SHARED), SMTPD_SLOT_FREE, _IDLE or _BUSY; the element
 * after the last slot holds one past the highest slot the master has
 * used. A worker flips its own slot around each session and writes to the
 * status pipe only when it leaves fewer than SMTPD_IDLE_LOW workers idle,
 * so that the master forks more; the master reads the board otherwise.
 */
#define SMTPD_SLOT_FREE	0
#define SMTPD_SLOT_IDLE	1
#define SMTPD_SLOT_BUSY	2
#define SMTPD_IDLE_LOW	2

struct ratelimit;
struct tls_server;

/* What the master hands a new worker (all inherited across fork). */
struct smtpd_worker_args {
	const struct relay_cfg	*cfg;
	const struct listener	*listeners;
	size_t			 nlisteners;
	int			 status_fd;
	struct tls_server	*tls;		/* NULL: no certificates */
	struct ratelimit	*rl;		/* shared counters */
	size_t			 slot;		/* this worker's ratelimit slot */
	int			*board;		/* the scoreboard, nboard slots */
	size_t			 nboard;
};

/*
 * The value the master sends with SIGTERM (sigqueue) when estafetad is
 * stopping rather than replacing workers (a reload).
 */
#define SMTPD_SIGVAL_DRAIN	0x445241	/* "DRA" */

/*
 * Worker main loop: accepts and serves sessions until it has served
 * smtpd_sessions_per_worker or is told to stop (SIGTERM/SIGINT: finish the
 * current session, then exit). A SIGTERM carrying SMTPD_SIGVAL_DRAIN also
 * ends a session waiting for a command outside a transaction, with "421
 * 4.3.2"; one in a transaction may finish it first. Keeps its slot of the
 * scoreboard and wakes the master on status_fd when idle workers run
 * short. Never returns.
 */
void	smtpd_worker(const struct smtpd_worker_args *)
	    __attribute__((noreturn));

#endif
