/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * The self-pipe of a master process (estafetad's and buzond's): SIGCHLD,
 * SIGHUP, SIGTERM and SIGINT each write their number, one octet, into a
 * non-blocking pipe that the master's poll loop reads, so that the work
 * a signal asks for (reap, reload, stop) runs in the loop, never in a
 * handler. SIGPIPE is ignored. The pipe's descriptors are the caller's
 * (a handler cannot take arguments): this module keeps no state.
 */
#ifndef EST_SELFPIPE_H
#define EST_SELFPIPE_H

#include <signal.h>

/*
 * Makes fds[0] (read) and fds[1] (write) a non-blocking close-on-exec
 * pipe, then routes the four signals to handler (SA_RESTART), which
 * calls selfpipe_write(fds[1], sig), and ignores SIGPIPE. 1, or -1 with
 * errno when the pipe cannot be made (no handler is installed then).
 */
int	 selfpipe_open(int fds[2], void (*handler)(int));

/*
 * The handler's body: writes sig as one octet to fd. Async-signal-safe;
 * errno is kept. A full pipe already holds a wake-up: the octet is
 * dropped then.
 */
void	 selfpipe_write(int fd, int sig);

/* The next signal number read from fd (the pipe's read end), or 0 when
 * none is waiting. Never blocks. */
int	 selfpipe_next(int fd);

/*
 * Blocks the four signals (old mask in *old_r) and restores them: around
 * fork(), so that a new child never runs the master's handler (it would
 * write into the master's pipe) before it installs its own actions.
 * Failure is a bug (log_panic).
 */
void	 selfpipe_block(sigset_t *old_r);
void	 selfpipe_restore(const sigset_t *old);

#endif
