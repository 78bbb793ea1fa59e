/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * The outbound SMTP (RFC 5321) and LMTP (RFC 2033) client of the delivery
 * workers: one connection to one next-hop address, carrying one or more
 * transactions (connection reuse). Greeting, EHLO (HELO fallback), STARTTLS
 * by policy (RFC 3207), AUTH PLAIN/LOGIN towards upstreams (RFC 4954),
 * PIPELINING (RFC 2920), SIZE (RFC 1870), 8BITMIME/SMTPUTF8 parameters,
 * DSN parameters (RFC 3461, ORCPT per RFC 6533) passed only to DSN-capable
 * peers, dot-stuffing for DATA, or BDAT to CHUNKING peers (RFC 3030,
 * BINARYMIME).
 *
 * Blocking I/O in one process per delivery, every wait bounded by the
 * deadlines of RFC 5321 4.5.3.2 (struct smtpc_timeouts). It never decides
 * what a failure means for the queue (retry, bounce, next MX): it reports
 * each recipient's outcome and the caller (the delivery worker) decides. It
 * never resolves names and never reads the spool. Content goes out as
 * the caller gives it, except to a peer without 8BITMIME: then it is
 * converted to 7 bits (downgrade.h) or refused. It never logs secrets.
 * Writes to
 * a closed peer raise SIGPIPE: callers ignore it, as the daemons do.
 */
#ifndef EST_SMTPC_H
#define EST_SMTPC_H

#include <sys/socket.h>

#include <stddef.h>

#include "lib/buf.h"

struct spool_env;
struct tls_client;

enum smtpc_tls {
	SMTPC_TLS_NONE = 0,	/* never STARTTLS */
	SMTPC_TLS_MAY,		/* STARTTLS if offered, else clear text */
	SMTPC_TLS_ENCRYPT,	/* TLS required, any certificate */
	SMTPC_TLS_VERIFY,	/* TLS required, chain + tls_verify_name */
};

/*
 * Deadlines in milliseconds; 0 = the default in brackets (RFC 5321
 * 4.5.3.2 where it gives one). Each covers the whole wait for one reply
 * (or one write), not the idle time between bytes.
 */
struct smtpc_timeouts {
	long long	 connect;	/* TCP connect [30 s] */
	long long	 greeting;	/* initial 220 [5 min] */
	long long	 helo;		/* EHLO/HELO/LHLO, STARTTLS and the
					 * TLS handshake, each AUTH step
					 * [5 min] */
	long long	 mail;		/* MAIL reply [5 min] */
	long long	 rcpt;		/* each RCPT reply [5 min] */
	long long	 data_init;	/* the 354 [2 min] */
	long long	 data_block;	/* each 64 KiB block of content
					 * written [3 min] */
	long long	 data_done;	/* each reply to the final dot
					 * [10 min] */
	long long	 quit;		/* QUIT reply [10 s] */
	long long	 rset;		/* RSET reply [20 s] */
};

/*
 * The strings and tls_ctx are borrowed: they must outlive the session.
 * auth_pass is secret: it is never logged and the copies made to encode it
 * are wiped.
 */
struct smtpc_opts {
	const char	*helo;		/* our host name, for EHLO/HELO/LHLO */
	int		 lmtp;		/* LHLO; one reply per recipient after
					 * the final dot (RFC 2033) */
	enum smtpc_tls	 tls;
	struct tls_client *tls_ctx;	/* required unless tls == NONE */
	/*
	 * The next hop's host name (MX or relayhost name): sent as SNI when
	 * set, and the name the certificate must match with VERIFY
	 * (required then). An IP literal is matched against IP SANs.
	 */
	const char	*tls_verify_name;
	/*
	 * When set, AUTH PLAIN (or LOGIN if only LOGIN is offered) after
	 * STARTTLS. Never over clear text unless auth_cleartext: if the
	 * session is not encrypted and the peer offers AUTH, smtpc_open
	 * fails (temporary) instead of sending the credentials. A peer that
	 * does not offer AUTH gets none (it will answer MAIL as it sees fit).
	 */
	const char	*auth_user, *auth_pass;
	int		 auth_cleartext;
	int		 no_chunking;	/* DATA even to a CHUNKING peer */
	struct smtpc_timeouts to;
};

/*
 * An outcome, from the peer's reply or a local reason. code is the reply
 * code, or 0 when no reply applies (network failure, timeout, protocol
 * violation, a local decision); enhanced is the RFC 3463 code ("5.1.1")
 * from the reply when the peer offered ENHANCEDSTATUSCODES, or ours for a
 * local reason, or "" when there is none. text is the reply text without
 * the codes (the lines of a multi-line reply joined by one space, control
 * characters shown as '?'), or the local reason (malloc'd; never NULL once
 * filled). Exactly one of temporary/permanent is set for a failure, neither
 * for a success; a failure never carries a 2xx code (a 2xx or 3xx reply
 * where it makes no sense, such as 250 to DATA, becomes code 0, "4.5.0",
 * "unexpected reply: 250 ...", temporary). A local failure is temporary
 * except the local decisions documented at smtpc_send. possibly_delivered:
 * the connection was lost or timed out after the final dot was sent,
 * before the reply came: the peer may have taken the message (temporary is
 * set too; the caller records the state, retrying may duplicate it).
 */
struct smtpc_result {
	int		 code;
	char		 enhanced[16];
	char		*text;
	int		 temporary;
	int		 permanent;
	int		 possibly_delivered;
	int		 auth_failed;	/* smtpc_open: AUTH refused or not
					 * possible (the peer answered) */
	int		 tls_failed;	/* smtpc_open: the TLS the policy
					 * requires was not offered, refused
					 * or failed (the peer answered) */
};

/* What the peer's last EHLO/LHLO reply offered, and the TLS state. */
struct smtpc_caps {
	int		 esmtp;		/* 0 after the HELO fallback */
	int		 pipelining, eightbitmime, smtputf8, dsn, chunking;
	int		 binarymime;
	int		 starttls, enhancedstatuscodes;
	int		 auth_plain, auth_login;
	int		 auth;		/* AUTH offered (any mechanism) */
	int		 size_ext;	/* SIZE offered (then SIZE= is sent) */
	unsigned long long size;	/* SIZE limit; 0 = no limit */
	int		 authenticated;	/* AUTH succeeded */
	int		 tls;		/* the session is encrypted */
	const char	*tls_version, *tls_cipher;	/* NULL without TLS */
};

struct smtpc;

/*
 * Connects to addr (AF_INET, AF_INET6, or AF_UNIX for a local LMTP
 * server) and runs greeting, EHLO (HELO when EHLO gets a 5xx; LHLO for
 * LMTP, no fallback), STARTTLS per opts->tls (then EHLO again) and AUTH.
 * With SMTPC_TLS_MAY a failed handshake (the connection is lost with it)
 * is followed by one new connection in clear text without STARTTLS; a
 * STARTTLS refused by the peer goes on in clear text on the same one.
 * Returns the session, or NULL with *err filled (release with
 * smtpc_result_free): a greeting or EHLO reply that failed as the peer
 * gave it (4xx temporary, 5xx permanent: the caller tries the next MX on a
 * temporary one); an AUTH reply: a 4xx as it is, a 5xx (535 wrong
 * password...) temporary with code 0, the enhanced code's class made 4
 * ("4.7.8", or "4.7.0") and the text "authentication failed, the server
 * said: 535 5.7.8 ..." (an account problem must not bounce mail), a 4xx
 * but 421 with the same text and its own code, both (and AUTH not
 * possible: "AUTH refused over clear text", "no supported AUTH mechanism
 * offered ...") with err->auth_failed set; or a
 * local reason with code 0, temporary: "connect:
 * Connection refused", "connect: timeout", "timeout waiting for the
 * greeting", "TLS required but STARTTLS not offered", "TLS handshake
 * failed: certificate verification failed: hostname mismatch", "AUTH
 * refused over clear text", ... A 421 at any point is temporary. Blocks (up
 * to the sum of the connect, greeting and helo deadlines, twice for the
 * MAY fallback).
 */
struct smtpc *smtpc_open(const struct sockaddr *addr, socklen_t len,
	    const struct smtpc_opts *opts, struct smtpc_result *err);

/* Valid until smtpc_close. Never blocks. */
const struct smtpc_caps *smtpc_caps(const struct smtpc *);

/*
 * One transaction for env (sender, recipients, DSN fields) and the content
 * delivered by read(arg, &p, &n): 1 with the next chunk in p[0..n) (valid
 * until the next call), 0 at the end, -1 on error. The content is the
 * message as stored in the spool (CRLF lines, not dot-stuffed); it is
 * streamed, never held whole. Dot-stuffing is done here; a bare LF is sent
 * as CRLF (and counted: smtpc_bare_lf, logged), a missing final CRLF is
 * added; a bare CR passes as it is.
 *
 * An SMTP peer offering CHUNKING (RFC 3030) gets the content in BDAT
 * chunks instead of DATA (unless opts->no_chunking): not dot-stuffed,
 * with the same line-end fixes except for BODY=BINARYMIME, which goes
 * only this way (the peer must offer BINARYMIME too) and exactly as
 * stored. Chunks of at least 64 KiB, the last one with LAST; a small
 * message is one "BDAT n LAST". A chunk refused before LAST fails the
 * transaction with that reply (no more chunks are sent; RSET on reuse).
 *
 * MAIL carries SIZE=env->size when SIZE was offered, BODY=8BITMIME when the
 * message is 8BITMIME and the peer offers it, SMTPUTF8 when env->smtputf8,
 * and RET/ENVID only to a DSN-capable peer; RCPT carries NOTIFY/ORCPT
 * (xtext-encoded) only then. With PIPELINING, MAIL, every RCPT and DATA go
 * in one write.
 *
 * A peer that does not offer 8BITMIME (RFC 6152): the content is read
 * whole first (held in memory, with its converted copy) and, when it has
 * 8-bit octets, converted by downgrade_8bit(): 8-bit bodies become
 * quoted-printable, SIZE= is the converted size, BODY= is not sent, and
 * the decision is logged ("ID smtpc downgrade peer=... parts=N (1.2 2)").
 * 8-bit header fields have no 7-bit form: with SMTPUTF8 at the peer the
 * message goes as it is with SMTPUTF8 (RFC 6531 3.1 makes such a peer take
 * 8-bit), else the transaction fails (5.6.7); 8-bit octets nothing may
 * re-encode (preamble, an already-encoded body) fail it with 5.6.3.
 *
 * results_r has env->nrcpt entries (filled here, release each with
 * smtpc_result_free). SMTP: a recipient refused at RCPT gets that reply,
 * the others the reply to the final dot; LMTP: each accepted recipient
 * gets its own reply after the dot.
 *
 * Local decisions, permanent, before anything is sent (code 0): the
 * message needs SMTPUTF8 (env->smtputf8 or a non-ASCII sender) and the
 * peer lacks it (5.6.7; a non-ASCII recipient: that recipient alone); the
 * 8BITMIME downgrade above is impossible (5.6.7, 5.6.3); the message is
 * larger than the peer's SIZE (5.3.4); BODY=BINARYMIME to a peer without
 * CHUNKING and BINARYMIME (5.6.1); a sender (5.1.7) or recipient (5.1.3)
 * holding control characters (that recipient alone).
 *
 * Returns 1 when the transaction ran to its end (individual recipients may
 * still have failed, all of them at RCPT too); 0 when it failed as a whole
 * at MAIL, DATA or (SMTP) the final dot, or by a local decision: the
 * recipients not already refused at RCPT get that result; -1 when the
 * connection was lost, timed out, the peer broke the protocol or read()
 * failed (the connection is then closed): recipients without a final
 * result get a temporary one, marked possibly_delivered when the final dot
 * had been sent; also at once, sending nothing, on a session that is not
 * usable (lost, closed by a 421: that reply, or after a failed RSET). A 421
 * reply fails what is left with it and ends the session (not reusable).
 * Blocks (deadlines per step).
 */
int	 smtpc_send(struct smtpc *, const struct spool_env *env,
	    int (*read)(void *, const char **, size_t *), void *arg,
	    struct smtpc_result *results_r);

/* Bare LFs converted to CRLF by the last smtpc_send. Never blocks. */
unsigned long long smtpc_bare_lf(const struct smtpc *);

/*
 * Whether another transaction can go on this connection: 0 once it was
 * lost, closed by the peer (421, or anything unsolicited waiting to be
 * read: checked without blocking), or an RSET failed; otherwise sends RSET
 * when the last transaction did not end cleanly and returns 1. Call it
 * before each reuse (a peer may time an idle session out). Blocks at most
 * the rset deadline.
 */
int	 smtpc_reusable(struct smtpc *);

/*
 * Sends QUIT (waiting at most the quit deadline for the reply) when the
 * connection is still usable, closes it (TLS close_notify) and frees the
 * session; NULLs *sp. NULL is fine. Blocks (quit deadline).
 */
void	 smtpc_close(struct smtpc **sp);

/* Frees r->text and zeroes r. */
void	 smtpc_result_free(struct smtpc_result *r);

/* ------------------------------------------------------------ parser */

/*
 * RFC 5321 4.5.3.1.5 makes 512 octets (CRLF included) the least a reply
 * line may be, not the most a client may take, and real servers send
 * longer lines (long AUTH lists, policy texts, URLs). A line is kept up to
 * SMTPC_LINE_MAX octets with its CRLF; the rest of a longer one is read
 * and dropped, its text ending in "..." and the reply marked truncated.
 */
#define SMTPC_LINE_MAX	4096
#define SMTPC_LINES_MAX	100	/* lines per reply: more is an error */
#define SMTPC_TEXT_MAX	8192	/* octets of a reply's text kept (then
				 * "..."): what results and logs carry */
#define SMTPC_LINES_KEPT 65536	/* octets of smtpc_reply.lines: lines past
				 * it are parsed but not kept there */

/* One (possibly multi-line) reply as parsed. */
struct smtpc_reply {
	int		 code;		/* 200..599 once complete */
	char		 enhanced[16];	/* from the first line, or "" */
	struct buf	 text;		/* as smtpc_result.text */
	struct buf	 lines;		/* each line's text after the code
					 * and separator (enhanced code
					 * kept), '\n'-terminated: EHLO */
	size_t		 nlines;
	int		 done;		/* the last line was seen */
	int		 truncated;	/* a line was cut, or text/lines full */
};

void	 smtpc_reply_init(struct smtpc_reply *);
void	 smtpc_reply_reset(struct smtpc_reply *);
void	 smtpc_reply_free(struct smtpc_reply *);

/*
 * Adds one line line[0..len) (terminator included or not: a trailing LF
 * and one CR before it are dropped) to r. The line is "NNN-text"
 * (continued), "NNN text" or "NNN" (last); NNN is [2-5][0-5][0-9] and the
 * same on every line; at most SMTPC_LINES_MAX lines. A line longer than
 * SMTPC_LINE_MAX octets with CRLF is cut there (its text ends in "...",
 * r->truncated set), and so is the text past SMTPC_TEXT_MAX; lines past
 * SMTPC_LINES_KEPT octets of r->lines are left out of it (an EHLO
 * keyword there is not seen). enhanced: parse an RFC 3463 code at the start of
 * the text ("d.ddd.ddd" then SP or the end; its class must match the reply
 * code) and drop it from text. 1 when the reply is complete, 0 when more
 * lines follow, -1 with *errstr_r (static text) when the line breaks a
 * rule (r is then unspecified until smtpc_reply_reset). Pure.
 */
int	 smtpc_reply_line(struct smtpc_reply *r, const char *line, size_t len,
	    int enhanced, const char **errstr_r);

/*
 * Parses the first reply in buf[0..len) (lines ending in LF, CR optional)
 * into r (reset first). 1 with *used_r = the octets it took; 0 when buf
 * ends before the reply does (more input needed: call again with more);
 * -1 with *errstr_r when it is malformed. A line longer than
 * SMTPC_LINE_MAX is cut as smtpc_reply_line says. Pure: for tests and the
 * fuzzer; smtpc reads the same way line by line, holding at most
 * SMTPC_LINE_MAX octets of a line (it drops the rest as it arrives).
 */
int	 smtpc_parse_reply(const char *buf, size_t len, int enhanced,
	    struct smtpc_reply *r, size_t *used_r, const char **errstr_r);

#endif
