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

/*
 * The result frame of one message of a job (the worker's answer):
 *
 *   "ID\n"
 *   "IDX STATE REMOTE\tREPLY\n"   one per recipient of the job's block
 *   "T ...\n"                     the trace line (jobtrace.h), last
 *
 * STATE one of DELIVER_OK, DELIVER_TEMP, DELIVER_PERM, DELIVER_UNSURE,
 * DELIVER_OK_RELAYED, DELIVER_OK_FINAL;
 * REMOTE not empty, without TAB, CR, LF or NUL ("-": no peer); REPLY at
 * most JOBFRAME_REPLY_MAX octets without TAB, CR, LF or NUL.
 */
#define JOBFRAME_REPLY_MAX	300

struct jobtrace;

struct jobframe_rcpt {
	int	 idx;
	char	 state;
	char	*remote;		/* malloc'd */
	char	*reply;			/* malloc'd */
};

/* The first line of a result frame. -1 when out reached its maximum. */
int	jobframe_result_begin(struct buf *out, const char *id);
/*
 * One recipient's line: remote NULL or "" is "-"; TAB, CR and LF in
 * remote or reply become blanks, and the reply is cut to
 * JOBFRAME_REPLY_MAX octets. Then the trace line goes last
 * (jobtrace_format). -1 when out reached its maximum, or state or idx is
 * out of range.
 */
int	jobframe_result_add(struct buf *out, int idx, char state,
	    const char *remote, const char *reply);

/*
 * Parses the result frame p[0..len) for message id, whose block in the
 * job named the recipients idx[0..n): exactly one line for each of them
 * (in any order), then one trace line into tr (its old fields freed).
 * r gets n entries in the frame's order (jobframe_result_free). 1, or -1
 * (r and tr then hold nothing).
 */
int	jobframe_result_parse(const char *p, size_t len, const char *id,
	    const int *idx, size_t n, struct jobframe_rcpt *r,
	    struct jobtrace *tr);
void	jobframe_result_free(struct jobframe_rcpt *r, size_t n);

#endif
