/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * The queue-control request a qmgr receives from estafetactl (hold,
 * release, delete, bounce, requeue), one line each:
 *
 *   VERB [ID]
 *   key=value	(filters: sender rcpt domain state older-than reply
 *		 next-hop;
 *		 and dry-run=1, and notice=0 for bounce: no DSN to the sender)
 *
 * Either an ID or at least one filter. It crosses a process boundary, so
 * the parser trusts nothing. Pure (the clock is a parameter), never
 * blocks; qmgr_sched.c runs the parsed request.
 */
#ifndef EST_QCTL_REQ_H
#define EST_QCTL_REQ_H

#include <stddef.h>

#include "relay/qidx.h"
#include "relay/spool.h"

#define QCTL_REQ_MAX_LINES	8	/* filter lines per request */
#define QCTL_REQ_VERB_MAX	15	/* octets */

struct qctl_req {
	char			 verb[QCTL_REQ_VERB_MAX + 1];
	char			 id[SPOOL_ID_LEN + 1];	/* "" or a valid id */
	int			 dry;		/* dry-run=1 given */
	int			 no_notice;	/* notice=0 given (bounce) */
	int			 nfilter;
	struct qidx_filter	 f;	/* values point into line[] */
	/* The filter lines as received (owned), for the audit log. */
	char			*line[QCTL_REQ_MAX_LINES];
	size_t			 nline;
};

/*
 * Parses the len octets at cmd into *r (any previous content is
 * forgotten, not freed); now is the current unix time, the base of
 * older-than. 1, or -1 with *err_r (a static message for the client).
 * Either way, release r with qctl_req_free(). The verb is not checked
 * against the known actions: that is the caller's job.
 */
int	qctl_req_parse(struct qctl_req *r, const char *cmd, size_t len,
	    long long now, const char **err_r);
/* Frees the owned lines; r may be parsed again. */
void	qctl_req_free(struct qctl_req *r);

#endif
