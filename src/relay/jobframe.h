/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * The job frame qmgr sends a delivery worker (deliver.h): one block per
 * message, at most DELIVER_MAX_MSGS,
 *
 *   "ID\nDOMAIN\nIDX IDX ...\n"
 *
 * ID a queue id, DOMAIN the recipients' domain (no LF, no NUL; empty for
 * RFC 5321's bare "postmaster", which has none), then 1 to
 * DELIVER_MAX_RCPTS recipient indexes in decimal (0 to JOBFRAME_IDX_MAX,
 * no leading zero) separated by one space. qmgr formats it
 * (jobframe_add), the worker parses it (jobframe_parse): it crosses a
 * process boundary, so the parser trusts nothing. Pure, never blocks.
 */
#ifndef EST_JOBFRAME_H
#define EST_JOBFRAME_H

#include <stddef.h>

#include "relay/deliver.h"
#include "relay/spool.h"

struct buf;

#define JOBFRAME_IDX_MAX	1000000

struct jobframe_msg {
	char	 id[SPOOL_ID_LEN + 1];
	char	*domain;		/* malloc'd */
	int	 idx[DELIVER_MAX_RCPTS];
	size_t	 n;
};

/*
 * Appends one message's block to out. -1 when the block would break the
 * rules above (the caller must not send the frame then) or out reached its
 * maximum; 1 otherwise.
 */
int	jobframe_add(struct buf *out, const char *id, const char *domain,
	    const int *idx, size_t n);

/*
 * Parses a whole frame p[0..len) into m[0..*n_r), at most max blocks
 * (each domain malloc'd: jobframe_free). 1, or -1 when it is not 1 to max
 * well-formed blocks and nothing else (then nothing is left to free and
 * *n_r is 0).
 */
int	jobframe_parse(const char *p, size_t len, struct jobframe_msg *m,
	    size_t max, size_t *n_r);

void	jobframe_free(struct jobframe_msg *m, size_t n);

#endif
