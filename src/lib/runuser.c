/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * run_user lookup for the daemons' masters. See runuser.h.
 */
#include "config.h"

#include <pwd.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/runuser.h"

int
runuser_lookup(const char *user, uid_t *uid_r, gid_t *gid_r)
{
	struct passwd *pw;

	if (geteuid() != 0)
		return 0;
	if ((pw = getpwnam(user)) == NULL)
		log_fatal("run_user '%s' does not exist (create it, e.g. "
		    "useradd --system %s)", user, user);
	if (pw->pw_uid == 0)
		log_fatal("run_user '%s' is root: refusing", user);
	*uid_r = pw->pw_uid;
	*gid_r = pw->pw_gid;
	return 1;
}
