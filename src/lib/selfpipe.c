/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * The masters' self-pipe for signals. See selfpipe.h.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/selfpipe.h"

static const int selfpipe_sigs[] = { SIGCHLD, SIGHUP, SIGTERM, SIGINT };
#define SELFPIPE_NSIGS	(sizeof(selfpipe_sigs) / sizeof(selfpipe_sigs[0]))

int
selfpipe_open(int fds[2], void (*handler)(int))
{
	struct sigaction sa;
	size_t i;

	if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) == -1)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = handler;
	sa.sa_flags = SA_RESTART;
	for (i = 0; i < SELFPIPE_NSIGS; i++)
		(void)sigaction(selfpipe_sigs[i], &sa, NULL);	/* valid */
	sa.sa_handler = SIG_IGN;
	(void)sigaction(SIGPIPE, &sa, NULL);	/* valid */
	return 1;
}

void
selfpipe_write(int fd, int sig)
{
	unsigned char c = (unsigned char)sig;
	int saved = errno;

	/* A full pipe already holds a wake-up: dropping one is fine. */
	(void)!write(fd, &c, 1);
	errno = saved;
}

int
selfpipe_next(int fd)
{
	unsigned char c;

	return read(fd, &c, 1) == 1 ? c : 0;
}

void
selfpipe_block(sigset_t *old_r)
{
	sigset_t set;
	size_t i;

	(void)sigemptyset(&set);
	for (i = 0; i < SELFPIPE_NSIGS; i++)
		(void)sigaddset(&set, selfpipe_sigs[i]);
	if (sigprocmask(SIG_BLOCK, &set, old_r) == -1)
		log_panic("sigprocmask: %s", strerror(errno));
}

void
selfpipe_restore(const sigset_t *old)
{
	if (sigprocmask(SIG_SETMASK, old, NULL) == -1)
		log_panic("sigprocmask: %s", strerror(errno));
}
