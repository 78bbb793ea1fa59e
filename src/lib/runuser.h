/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * The unprivileged user the daemons' children run as (run_user), looked
 * up by estafetad's and buzond's masters at startup.
 */
#ifndef EST_RUNUSER_H
#define EST_RUNUSER_H

#include <sys/types.h>

/*
 * When the process runs as root: looks user up into *uid_r and *gid_r and
 * returns 1 (its children drop to them); exits through log_fatal when
 * user does not exist or is root. 0 when not root (nothing to drop).
 */
int	 runuser_lookup(const char *user, uid_t *uid_r, gid_t *gid_r);

#endif
