/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * The daemons' pid file. Written by a master running as root, so it never
 * follows a symbolic link planted in its place.
 */
#ifndef EST_PIDFILE_H
#define EST_PIDFILE_H

/*
 * Writes the calling process's pid and a newline to path (created mode
 * 0644 before the umask, truncated if present). 1, or -1 with errno set
 * (ELOOP when path is a symbolic link). Blocks on disk I/O.
 */
int	 pidfile_write(const char *path);

#endif
