/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * Delivery workers: unprivileged processes that take jobs from qmgr (one
 * message, one recipient domain, some of its recipients), resolve the
 * next hop (route, MX, addresses), deliver over SMTP or LMTP, and report
 * one result per recipient. They may read the spool's queue/ files and
 * talk to the network; they never write the spool or the index.
 *
 * Job (IPC_JOB):       "ID\nDOMAIN\nIDX IDX ...\n"
 * Result (IPC_JOB_DONE): "ID\n" then per recipient
 *                      "IDX STATE REMOTE\tREPLY\n"
 * STATE: 'd' delivered, 't' temporary failure (retry), 'p' permanent
 * failure (bounce), 'u' unsure: the connection broke after the final dot,
 * the message may have been delivered. REMOTE is the host we talked to or
 * "-"; REPLY is the peer's reply or our reason, one line.
 * Then the job's trace, one line for all its recipients:
 *                      "T ROUTE\tMX\tTRIED\tTLS\tCONN\n"
 * ROUTE "rule: next hop"; MX the MX set (or why none); TRIED the addresses
 * tried and how each went; TLS "policy (setting); result"; CONN ok,
 * reused, failed (no address answered), or "-" (none attempted). Each
 * field at most 400 octets, no control characters (src/relay/jobtrace.h
 * formats and parses it); qmgr keeps them in the recipients' timelines
 * and throttles on CONN failed.
 */
#ifndef EST_DELIVER_H
#define EST_DELIVER_H

struct relay_cfg;

#define DELIVER_OK		'd'
#define DELIVER_TEMP		't'
#define DELIVER_PERM		'p'
#define DELIVER_UNSURE		'u'

#define DELIVER_MAX_RCPTS	100	/* recipients per job */

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
