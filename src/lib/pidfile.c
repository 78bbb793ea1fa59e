/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * The daemons' pid file (estafetad's and buzond's masters). See pidfile.h.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "lib/pidfile.h"

int
pidfile_write(const char *path)
{
	FILE *f;
	int fd, saved;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
	    0644);
	if (fd == -1)
		return -1;
	if ((f = fdopen(fd, "w")) == NULL) {
		saved = errno;
		(void)close(fd);	/* the open failure is what we report */
		errno = saved;
		return -1;
	}
	if (fprintf(f, "%ld\n", (long)getpid()) < 0) {
		saved = errno;
		(void)fclose(f);	/* the write failure is what we report */
		errno = saved;
		return -1;
	}
	return fclose(f) == EOF ? -1 : 1;
}
