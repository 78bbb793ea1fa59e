/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * Delivery workers: unprivileged processes that take jobs from qmgr (one
 * or more messages to one next hop: for each, one recipient domain and
 * some of its recipients), resolve the next hop (route, MX, addresses),
 * deliver over SMTP or LMTP, and report one result per recipient. They
 * may read the spool's queue/ files and talk to the network; they never
 * write the spool or the index.
 *
 * Job (IPC_JOB):       one block per message, at most DELIVER_MAX_MSGS:
 *                      "ID\nDOMAIN\nIDX IDX ...\n"
 * (src/relay/jobframe.h formats and parses it; DOMAIN is empty for a bare
 * "postmaster").
 * The messages of a job share a route key (qmgr groups them so): they go
 * one after the other, over the same connection while it stays usable
 * (a new one otherwise). When no address of the next hop answered for a
 * message, or a reply was a throttling signal (deliver_throttle_patterns),
 * the rest of the job is not attempted: each such recipient gets STATE
 * 't', "not attempted: ..." and a trace with CONN "-".
 * Result (IPC_JOB_DONE): one frame per message, in the job's order, sent as
 * soon as that message is done (qmgr records it at once): "ID\n" then per
 * recipient of the job's block (each once; jobframe.h formats and parses
 * it and holds the bounds)
 *                      "IDX STATE REMOTE\tREPLY\n"
 * STATE: 'd' delivered, 't' temporary failure (retry), 'p' permanent
 * failure (bounce), 'u' unsure: the connection broke after the final dot,
 * the message may have been delivered. REMOTE is the host we talked to or
 * "-"; REPLY is the peer's reply or our reason, one line.
 * Then the message's trace, one line for all its recipients, last:
 *                      "T ROUTE\tMX\tTRIED\tTLS\tCONN\n"
 * ROUTE "rule: next hop"; MX the MX set (or why none); TRIED the addresses
 * tried and how each went; TLS "policy (setting); result"; CONN ok,
 * reused, failed (no address answered), or "-" (none attempted). Each
 * field at most 400 octets, no control characters (src/relay/jobtrace.h
 * formats and parses it); qmgr keeps them in the recipients' timelines
 * and throttles on CONN failed. A worker that stops (SIGTERM) between
 * the messages of a job exits without reporting the rest: qmgr then finds
 * them due as they were.
 */
#ifndef EST_DELIVER_H
#define EST_DELIVER_H

struct relay_cfg;

#define DELIVER_OK		'd'
#define DELIVER_TEMP		't'
#define DELIVER_PERM		'p'
#define DELIVER_UNSURE		'u'
/*
 * Delivered, and the recipient asked for NOTIFY=SUCCESS that nobody
 * further will honour (RFC 3461 5.2.2, 6.2.1): the peer did not offer
 * DSN. qmgr sends the sender a "relayed" notice (an SMTP peer) or a
 * "delivered" one (an LMTP peer: final delivery).
 */
#define DELIVER_OK_RELAYED	'r'
#define DELIVER_OK_FINAL	'f'

#define DELIVER_MAX_RCPTS	100	/* recipients per message of a job */
#define DELIVER_MAX_MSGS	32	/* messages per job */

/*
 * Worker main loop; never returns. relay_user/relay_pass: credentials for
 * AUTH at the relayhost (read by the master before dropping privileges),
 * or NULL.
 */
void	deliver_main(const struct relay_cfg *, const char *relay_user,
	    const char *relay_pass) __attribute__((noreturn));

/*
 * Reads relayhost_auth_file ("user password" on the first line); the
 * master calls it as root. 1 with both set (malloc'd; NULL when path is
 * empty), or -1 with *errstr_r.
 */
int	deliver_load_auth(const char *path, char **user_r, char **pass_r,
	    const char **errstr_r);

#endif
