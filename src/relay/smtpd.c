/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * smtpd: the inbound ESMTP session (RFC 5321 with PIPELINING, SIZE,
 * 8BITMIME, ENHANCEDSTATUSCODES, SMTPUTF8, CHUNKING, DSN). See smtpd.h for
 * what this process may touch.
 *
 * A session is a state (an enum, changed only by smtpd_set_state) and a
 * command table: the dispatcher checks the state and the limits once;
 * handlers do their verb and fill s->reply. One writer sends replies; they
 * are flushed when no pipelined input is waiting (RFC 2920).
 */
#include "config.h"

#include <sys/epoll.h>
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "lib/addr.h"
#include "lib/buf.h"
#include "lib/conn.h"
#include "lib/log.h"
#include "lib/netaddr.h"
#include "lib/tls.h"
#include "lib/users.h"
#include "lib/xalloc.h"
#include "relay/relay_cfg.h"
#include "relay/smtpd.h"
#include "relay/smtpd_auth.h"
#include "relay/smtpd_priv.h"
#include "relay/smtpd_cmd.h"
#include "relay/smtpd_data.h"
#include "relay/spool.h"
#include "relay/verify.h"

static const char *const smtpd_state_names[] = {
	"?", "connected", "greeted", "?", "mail", "?", "?", "?", "rcpt",
	"?", "?", "?", "?", "?", "?", "?", "bdat",
};

#define CMD_COUNTS_ERR	0x01	/* a failure counts toward the error limit */
#define SMTPD_AUTH_LINE_MAX	(12288 + 2)	/* RFC 4954 4, CRLF included */

struct smtpd_cmd {
	const char	*verb;
	void		(*fn)(struct smtpd_session *, const char *, size_t);
	unsigned	 states;
	unsigned	 flags;
};

static volatile sig_atomic_t smtpd_stop;
/* Drain: SIGTERM with SMTPD_SIGVAL_DRAIN makes this self-pipe readable,
 * which ends a session's wait for a command outside a transaction. */
static int smtpd_stop_pipe[2] = { -1, -1 };
static unsigned long smtpd_session_seq;

/* ------------------------------------------------------------ helpers */

void
smtpd_set_state(struct smtpd_session *s, enum smtpd_state st)
{
	if (s->state != st)
		log_debug("%s smtp state %s -> %s", s->sid,
		    smtpd_state_names[s->state], smtpd_state_names[st]);
	s->state = st;
}

void
smtpd_reply(struct smtpd_session *s, const char *fmt, ...)
{
	va_list ap;

	buf_reset(&s->reply);
	va_start(ap, fmt);
	(void)buf_vappendf(&s->reply, fmt, ap);	/* unbounded */
	va_end(ap);
}

const char *
smtpd_esc(struct smtpd_session *s, const char *p, size_t n)
{
	buf_reset(&s->esc);
	return log_escape(&s->esc, p, n, 200);
}

static int
smtpd_send(struct smtpd_session *s, const char *line)
{
	return conn_printf(&s->conn, "%s\r\n", line) == 1 ? 1 : -1;
}

void
smtpd_tx_reset(struct smtpd_session *s)
{
	size_t i;

	smtpd_cmd_path_free(&s->mail);
	for (i = 0; i < s->nrcpt; i++) {
		free(s->rcpts[i].addr);
		free(s->rcpts[i].orcpt);
	}
	free(s->rcpts);
	s->rcpts = NULL;
	s->nrcpt = 0;
	s->overshoot = 0;
	spool_abort(&s->msg);
	buf_free(&s->dbuf);
	buf_free(&s->hdrbuf);
	s->hdr_state = SMTPD_HDR_OPEN;
	s->bdat_failed = 0;
	s->qid[0] = '\0';
	if (s->state & (ST_MAIL | ST_RCPT | ST_BDAT))
		smtpd_set_state(s, ST_GREETED);
}

static void
smtpd_rfc5322_date(char *out, size_t len)
{
	time_t now = time(NULL);
	struct tm tm;

	(void)localtime_r(&now, &tm);
	if (strftime(out, len, "%a, %d %b %Y %H:%M:%S %z", &tm) == 0)
		out[0] = '\0';
}

/*
 * Text from the client, made safe for a header field. utf8: s is known
 * well-formed UTF-8 (a parsed address) and the message is SMTPUTF8, whose
 * header fields may carry it (RFC 6532); otherwise non-ASCII becomes '?'.
 */
static void
smtpd_hdr_text(struct buf *b, const char *s, int utf8)
{
	unsigned char c;

	for (; *s; s++) {
		c = (unsigned char)*s;
		(void)buf_appendc(b, (c > ' ' && c < 0x7f && c != '(' &&
		    c != ')') || (utf8 && c >= 0x80) ? *s : '?');
	}
}

/* ------------------------------------------------------------ handlers */

/* A failed HELO/EHLO changes nothing: not the greeting, not ESMTP. */
static int
smtpd_helo_arg(struct smtpd_session *s, const char *arg, size_t len,
    int esmtp)
{
	size_t i;

	if (len == 0 || len > 255) {
		smtpd_reply(s, "501 5.5.4 Syntax: %s hostname",
		    esmtp ? "EHLO" : "HELO");
		return -1;
	}
	for (i = 0; i < len; i++)
		if ((unsigned char)arg[i] <= ' ' || arg[i] == 0x7f) {
			smtpd_reply(s, "501 5.5.4 Invalid hostname");
			return -1;
		}
	free(s->helo);
	s->helo = xstrndup(arg, len);
	s->esmtp = esmtp;
	smtpd_tx_reset(s);
	smtpd_set_state(s, ST_GREETED);
	return 1;
}

static void
smtpd_ehlo(struct smtpd_session *s, const char *arg, size_t len)
{
	if (smtpd_helo_arg(s, arg, len, 1) == -1)
		return;
	smtpd_reply(s, "250-%s\r\n"
	    "250-PIPELINING\r\n"
	    "250-SIZE %lld\r\n"
	    "250-8BITMIME\r\n"
	    "250-ENHANCEDSTATUSCODES\r\n"
	    "250-SMTPUTF8\r\n"
	    "250-CHUNKING\r\n", s->cfg->hostname,
	    s->cfg->message_size_limit);
	if (s->ctx->tls != NULL && !s->tls && !s->local)
		(void)buf_appends(&s->reply, "250-STARTTLS\r\n");
	if (smtpd_auth_offered(s))
		(void)buf_appends(&s->reply, "250-AUTH PLAIN LOGIN\r\n");
	(void)buf_appends(&s->reply, "250 DSN");
}

static void
smtpd_helo(struct smtpd_session *s, const char *arg, size_t len)
{
	if (smtpd_helo_arg(s, arg, len, 0) == -1)
		return;
	smtpd_reply(s, "250 %s", s->cfg->hostname);
}

static void
smtpd_mail(struct smtpd_session *s, const char *arg, size_t len)
{
	const char *reply;

	if (s->state != ST_GREETED) {
		smtpd_reply(s, "503 5.5.1 Error: nested MAIL command");
		return;
	}
	if (smtpd_cmd_path(arg, len, 1, s->esmtp, &s->mail, &reply) == -1) {
		smtpd_reply(s, "%s", reply);
		return;
	}
	if (!s->esmtp && (s->mail.size != -1 || s->mail.body != -1 ||
	    s->mail.smtputf8 || s->mail.ret || s->mail.envid || s->mail.auth)) {
		smtpd_cmd_path_free(&s->mail);
		smtpd_reply(s, "555 5.5.4 Parameters need EHLO");
		return;
	}
	if (s->mail.size > s->cfg->message_size_limit) {
		smtpd_cmd_path_free(&s->mail);
		smtpd_reply(s, "552 5.3.4 Message size exceeds fixed limit");
		return;
	}
	if (smtpd_policy_mail(s, s->mail.addr) == -1) {
		smtpd_cmd_path_free(&s->mail);
		return;
	}
	spool_new_id(s->qid);
	smtpd_set_state(s, ST_MAIL);
	smtpd_reply(s, "250 2.1.0 Ok");
}

static void
smtpd_rcpt(struct smtpd_session *s, const char *arg, size_t len)
{
	struct smtp_path_cmd rc;
	struct spool_rcpt *r;
	struct buf fa = BUF_INIT(0);
	const char *reply;

	if (smtpd_cmd_path(arg, len, 0, s->mail.smtputf8, &rc, &reply) ==
	    -1) {
		smtpd_reply(s, "%s", reply);
		return;
	}
	if (!s->esmtp && (rc.notify || rc.orcpt)) {
		smtpd_cmd_path_free(&rc);
		smtpd_reply(s, "555 5.5.4 Parameters need EHLO");
		return;
	}
	if ((size_t)s->cfg->smtpd_recipient_limit <= s->nrcpt) {
		/* A pipelining client learns the limit from these replies and
		 * sends the rest later (RFC 5321 4.5.3.1.8, 4.5.3.1.10): up to
		 * another limit's worth they do not count as errors. */
		if (s->overshoot++ < (unsigned)s->cfg->smtpd_recipient_limit)
			s->not_err = 1;
		smtpd_cmd_path_free(&rc);
		smtpd_reply(s, "452 4.5.3 Error: too many recipients");
		return;
	}
	(void)addr_format(rc.addr, &fa);	/* unbounded */
	if (smtpd_policy_rcpt(s, rc.addr, fa.data) == -1) {
		buf_free(&fa);
		smtpd_cmd_path_free(&rc);
		return;
	}
	s->rcpts = xrealloc(s->rcpts, (s->nrcpt + 1) * sizeof(*s->rcpts));
	r = &s->rcpts[s->nrcpt++];
	r->addr = buf_steal(&fa);
	r->orcpt = rc.orcpt;
	rc.orcpt = NULL;
	r->notify = rc.notify;
	smtpd_cmd_path_free(&rc);
	smtpd_set_state(s, ST_RCPT);
	smtpd_reply(s, "250 2.1.5 Ok");
}

static void
smtpd_env(struct smtpd_session *s, struct spool_env *e, struct buf *sender,
    struct buf *client)
{
	struct timespec ts;

	memset(e, 0, sizeof(*e));
	memcpy(e->id, s->qid, sizeof(e->id));
	/* CLOCK_REALTIME like qmgr and estafetactl's age filters, never
	 * time(NULL): glibc's coarse clock runs a tick behind. */
	(void)clock_gettime(CLOCK_REALTIME, &ts);	/* cannot fail */
	e->arrival = (long long)ts.tv_sec;
	(void)addr_format(s->mail.addr, sender);	/* unbounded */
	e->sender = (char *)buf_cstr(sender);
	e->rcpts = s->rcpts;
	e->nrcpt = s->nrcpt;
	e->envid = s->mail.envid;
	e->ret = s->mail.ret;
	e->body = s->mail.body == -1 ? 0 : s->mail.body;
	e->smtputf8 = s->mail.smtputf8;
	e->helo = s->helo;
	e->auth_user = s->auth_user;
	if (s->local)
		(void)buf_appendf(client, "local uid=%u user=%s",
		    (unsigned)s->local_uid, s->local_user);
	else
		(void)buf_appendf(client, "[%s]:%d", s->ip, s->port);
	e->client = (char *)buf_cstr(client);
}

/* Starts the spool file and writes our Received header. */
static int
smtpd_msg_begin(struct smtpd_session *s)
{
	struct spool_env e;
	struct buf sender = BUF_INIT(0), client = BUF_INIT(0);
	struct buf hdr = BUF_INIT(0);
	const char *errstr, *proto;
	char date[64];
	int r = 1;

	smtpd_env(s, &e, &sender, &client);
	s->msg = spool_begin(s->spool, &e, &errstr);
	if (s->msg == NULL) {
		log_error("%s smtp spool error=\"%s\"", s->qid, errstr);
		smtpd_reply(s, "451 4.3.0 Error: queue file write error");
		r = -1;
		goto out;
	}
	/* RFC 3848 / RFC 6531 protocol names. */
	if (s->mail.smtputf8)
		proto = "UTF8SMTP";
	else
		proto = s->esmtp ? "ESMTP" : "SMTP";
	smtpd_rfc5322_date(date, sizeof(date));
	(void)buf_appends(&hdr, "Received: from ");
	if (s->local) {
		/* The uid is the kernel's word (SO_PEERCRED); EHLO from a
		 * local program says nothing. */
		(void)buf_appendf(&hdr, "local (uid %u ",
		    (unsigned)s->local_uid);
		smtpd_hdr_text(&hdr, s->local_user, 0);
		(void)buf_appends(&hdr, ")\r\n");
	} else {
		smtpd_hdr_text(&hdr, s->helo, 0);
		(void)buf_appendf(&hdr, " ([%s])\r\n", s->ip);
	}
	if (s->tls)
		(void)buf_appendf(&hdr, "\t(using %s with cipher %s (%d bits))"
		    "\r\n", conn_tls_version(&s->conn),
		    conn_tls_cipher(&s->conn), conn_tls_bits(&s->conn));
	(void)buf_appendf(&hdr, "\tby %s (Estafeta) with %s%s%s id %s",
	    s->cfg->hostname, proto, s->tls && s->esmtp ? "S" : "",
	    s->auth_user && s->esmtp ? "A" : "", s->qid);
	if (s->nrcpt == 1) {
		(void)buf_appends(&hdr, "\r\n\tfor <");
		smtpd_hdr_text(&hdr, s->rcpts[0].addr, s->mail.smtputf8);
		(void)buf_appends(&hdr, ">");
	}
	(void)buf_appendf(&hdr, "; %s\r\n", date);
	data_init(&s->dp, (size_t)s->cfg->smtpd_text_line_limit,
	    (unsigned long long)s->cfg->message_size_limit);
	buf_init(&s->dbuf, 0);
	if (spool_append(s->msg, hdr.data, hdr.len) == -1) {
		smtpd_reply(s, "451 4.3.0 Error: queue file write error");
		spool_abort(&s->msg);
		r = -1;
	}
out:
	buf_free(&hdr);
	buf_free(&sender);
	buf_free(&client);
	return r;
}

static void
smtpd_log_accept(struct smtpd_session *s, unsigned long long size)
{
	struct buf from = BUF_INIT(0);

	(void)addr_format(s->mail.addr, &from);	/* unbounded */
	log_info("%s smtp accept client=[%s]%s%s from=<%s> nrcpt=%zu "
	    "size=%llu", s->qid, s->ip, s->local ? " " : "",
	    s->local ? s->local_key : "", smtpd_esc(s, buf_cstr(&from),
	    from.len), s->nrcpt, size);
	buf_free(&from);
}

/* Decides on a complete message: commit it, or refuse with the reason. */
static void
smtpd_msg_end(struct smtpd_session *s)
{
	const char *errstr, *rule = NULL;
	unsigned f = s->dp.flags;
	unsigned long long size = s->dp.size;

	if (f & (DATA_BARE_LF | DATA_BARE_CR)) {
		rule = "bare_newline";
		smtpd_reply(s, "550 5.5.2 Error: bare <%s> received; lines "
		    "must end with <CR><LF> (RFC 5321 2.3.8)",
		    f & DATA_BARE_LF ? "LF" : "CR");
	} else if (f & DATA_TOO_BIG) {
		rule = "message_size_limit";
		smtpd_reply(s, "552 5.3.4 Error: message size exceeds fixed "
		    "limit of %lld bytes", s->cfg->message_size_limit);
	} else if (f & DATA_LONG_LINE) {
		rule = "text_line_limit";
		smtpd_reply(s, "550 5.6.0 Error: message has a line longer "
		    "than %lld octets", s->cfg->smtpd_text_line_limit);
	} else if (s->dp.received > (unsigned)s->cfg->hop_count_limit) {
		rule = "hop_count_limit";
		smtpd_reply(s, "554 5.4.6 Error: too many hops (%u Received "
		    "headers): mail loop?", s->dp.received);
	} else if (s->auth_user != NULL && smtpd_policy_from(s) == -1)
		rule = "from_login";	/* the reply names the address */
	if (rule != NULL) {
		log_info("%s smtp reject rule=%s client=[%s] size=%llu "
		    "reply=\"%s\"", s->qid, rule, s->ip, size,
		    smtpd_esc(s, s->reply.data, s->reply.len));
		smtpd_tx_reset(s);
		return;
	}
	if ((s->dbuf.len > 0 && spool_append(s->msg, s->dbuf.data,
	    s->dbuf.len) == -1) || spool_commit(&s->msg, &errstr) == -1) {
		log_error("%s smtp spool error=\"%s\"", s->qid,
		    s->msg ? "write failed" : errstr);
		smtpd_reply(s, "451 4.3.0 Error: queue file write error");
		smtpd_tx_reset(s);
		return;
	}
	s->nmsg++;
	smtpd_log_accept(s, size);
	smtpd_reply(s, "250 2.0.0 Ok: queued as %s", s->qid);
	smtpd_tx_reset(s);
}

/*
 * Keeps a copy of the header section of an authenticated user's message
 * (its From: addresses are checked against the login at the end). The
 * copy may run past the empty line; the check reads only up to it.
 */
static void
smtpd_capture_headers(struct smtpd_session *s, const char *p, size_t n)
{
	size_t room;

	if (s->auth_user == NULL || s->hdr_state != SMTPD_HDR_OPEN || n == 0)
		return;
	room = SMTPD_HDR_MAX - s->hdrbuf.len;
	(void)buf_append(&s->hdrbuf, p, n < room ? n : room);	/* bounded */
	if (!s->dp.in_headers)
		s->hdr_state = SMTPD_HDR_DONE;
	else if (n >= room)
		s->hdr_state = SMTPD_HDR_TOOBIG;
}

/* Moves parsed content to the spool once a chunk has built up. */
static int
smtpd_spill(struct smtpd_session *s)
{
	if (s->dbuf.len < 65536)
		return 1;
	if (spool_append(s->msg, s->dbuf.data, s->dbuf.len) == -1)
		return -1;
	buf_reset(&s->dbuf);
	return 1;
}

/*
 * Arms the connection deadline ms from now, but never past the end of the
 * session: smtpd_session_timeout bounds DATA and BDAT transfers too.
 */
static void
smtpd_deadline(struct smtpd_session *s, long long ms)
{
	long long left = s->session_end - conn_now_ms();

	if (ms > left)
		ms = left;
	conn_set_deadline(&s->conn, ms > 0 ? ms : 1);
}

/* Ends the session after a failed read or write during what; limit names
 * the timeout setting that applied (the session's if that ran out). */
static void
smtpd_timeout_close(struct smtpd_session *s, const char *what,
    const char *limit)
{
	s->outcome = s->conn.err == CONN_ETIMEOUT ? "timeout" : "lost";
	if (s->conn.err == CONN_ESTOP) {
		s->outcome = "shutdown";
		log_info("%s smtp shutdown after %s client=[%s]",
		    s->qid[0] ? s->qid : s->sid, what, s->ip);
		(void)conn_printf(&s->conn, "421 4.3.2 %s Error: shutting "
		    "down\r\n", s->cfg->hostname);
		(void)conn_flush(&s->conn);	/* closing anyway */
	} else if (s->conn.err == CONN_ETIMEOUT) {
		if (conn_now_ms() >= s->session_end)
			limit = "smtpd_session_timeout";
		log_info("%s smtp timeout after %s client=[%s] limit=%s",
		    s->qid[0] ? s->qid : s->sid, what, s->ip, limit);
		(void)conn_printf(&s->conn, "421 4.4.2 %s Error: timeout "
		    "exceeded\r\n", s->cfg->hostname);
		(void)conn_flush(&s->conn);	/* closing anyway */
	} else
		log_info("%s smtp lost connection after %s client=[%s]",
		    s->qid[0] ? s->qid : s->sid, what, s->ip);
	s->quit = 1;
}

static void
smtpd_data(struct smtpd_session *s, const char *arg, size_t len)
{
	const char *p;
	size_t avail, used;
	int r, failed = 0;

	(void)arg;
	if (len != 0) {
		smtpd_reply(s, "501 5.5.4 Syntax: DATA");
		return;
	}
	if (smtpd_msg_begin(s) == -1)
		return;
	smtpd_reply(s, "354 End data with <CR><LF>.<CR><LF>");
	if (smtpd_send(s, s->reply.data) == -1 || conn_flush(&s->conn) == -1) {
		smtpd_timeout_close(s, "DATA", "smtpd_data_timeout");
		return;
	}
	buf_reset(&s->reply);
	for (;;) {
		size_t before = s->dbuf.len;

		p = conn_peek(&s->conn, &avail);
		r = data_feed(&s->dp, p, avail, &s->dbuf, &used);
		conn_consume(&s->conn, used);
		smtpd_capture_headers(s, s->dbuf.data + before,
		    s->dbuf.len - before);
		if (r == 1)
			break;
		if (!failed && smtpd_spill(s) == -1)
			failed = 1;
		if (failed)
			buf_reset(&s->dbuf);
		smtpd_deadline(s, s->cfg->smtpd_data_timeout);
		if (conn_fill(&s->conn) == -1) {
			smtpd_tx_reset(s);
			smtpd_timeout_close(s, "DATA", "smtpd_data_timeout");
			return;
		}
	}
	if (failed) {
		smtpd_reply(s, "451 4.3.0 Error: queue file write error");
		smtpd_tx_reset(s);
		return;
	}
	smtpd_msg_end(s);
}

/* Reads and handles n octets of a BDAT chunk (always all of them). */
static int
smtpd_bdat_read(struct smtpd_session *s, unsigned long long n, int keep)
{
	const char *p;
	size_t avail, take;

	while (n > 0) {
		p = conn_peek(&s->conn, &avail);
		if (avail == 0) {
			/* Replies held back for pipelining (MAIL, RCPT, earlier
			 * chunks) go out before we block (RFC 2920 3.2). */
			smtpd_deadline(s, s->cfg->smtpd_data_timeout);
			if (conn_flush(&s->conn) == -1 ||
			    conn_fill(&s->conn) == -1)
				return -1;
			continue;
		}
		take = avail < n ? avail : (size_t)n;
		if (keep && !s->bdat_failed) {
			size_t before = s->dbuf.len;

			(void)data_feed_raw(&s->dp, p, take, &s->dbuf);
			smtpd_capture_headers(s, s->dbuf.data + before,
			    s->dbuf.len - before);
			if (smtpd_spill(s) == -1)
				s->bdat_failed = 1;
		}
		conn_consume(&s->conn, take);
		n -= take;
	}
	return 1;
}

static void
smtpd_bdat(struct smtpd_session *s, const char *arg, size_t len)
{
	unsigned long long n = 0;
	size_t i;
	int last = 0, ok = 1;

	for (i = 0; i < len && arg[i] >= '0' && arg[i] <= '9'; i++) {
		if (n > (1ULL << 50))
			ok = 0;
		n = n * 10 + (unsigned long long)(arg[i] - '0');
	}
	if (i == 0)
		ok = 0;
	if (i < len) {
		if (len - i == 5 && strncasecmp(arg + i, " LAST", 5) == 0)
			last = 1;
		else
			ok = 0;
	}
	if (!ok) {
		/* We cannot know how many octets follow: the session is
		 * out of sync and must end. */
		smtpd_reply(s, "501 5.5.4 Syntax: BDAT size [LAST]");
		s->quit = 1;
		s->outcome = "bdat_syntax";
		return;
	}
	if (!(s->state & (ST_RCPT | ST_BDAT))) {
		if (smtpd_bdat_read(s, n, 0) == -1)
			smtpd_timeout_close(s, "BDAT", "smtpd_data_timeout");
		else
			smtpd_reply(s, "503 5.5.1 Error: need RCPT command");
		return;
	}
	if (s->state == ST_RCPT) {
		if (smtpd_msg_begin(s) == -1) {
			if (smtpd_bdat_read(s, n, 0) == -1)
				smtpd_timeout_close(s, "BDAT",
				    "smtpd_data_timeout");
			return;
		}
		smtpd_set_state(s, ST_BDAT);
	}
	if (smtpd_bdat_read(s, n, 1) == -1) {
		smtpd_tx_reset(s);
		smtpd_timeout_close(s, "BDAT", "smtpd_data_timeout");
		return;
	}
	if (s->bdat_failed) {
		smtpd_reply(s, "451 4.3.0 Error: queue file write error");
		smtpd_tx_reset(s);
		return;
	}
	if (s->dp.flags & DATA_TOO_BIG) {
		smtpd_msg_end(s);	/* refuses and resets */
		return;
	}
	if (!last) {
		smtpd_reply(s, "250 2.0.0 Ok: %llu octets received", n);
		return;
	}
	smtpd_msg_end(s);
}

static void
smtpd_rset(struct smtpd_session *s, const char *arg, size_t len)
{
	(void)arg;
	if (len != 0) {
		smtpd_reply(s, "501 5.5.4 Syntax: RSET");
		return;
	}
	smtpd_tx_reset(s);
	smtpd_reply(s, "250 2.0.0 Ok");
}

static void
smtpd_noop(struct smtpd_session *s, const char *arg, size_t len)
{
	(void)arg;
	(void)len;
	smtpd_reply(s, "250 2.0.0 Ok");
}

static void
smtpd_quit(struct smtpd_session *s, const char *arg, size_t len)
{
	(void)arg;
	(void)len;
	s->quit = 1;
	s->outcome = "quit";
	smtpd_reply(s, "221 2.0.0 Bye");
}

static void
smtpd_vrfy(struct smtpd_session *s, const char *arg, size_t len)
{
	(void)arg;
	if (len == 0) {
		smtpd_reply(s, "501 5.5.4 Syntax: VRFY address");
		return;
	}
	smtpd_reply(s, "252 2.5.2 Cannot VRFY user, but will accept message "
	    "and attempt delivery");
}

static void
smtpd_expn(struct smtpd_session *s, const char *arg, size_t len)
{
	(void)arg;
	(void)len;
	smtpd_reply(s, "502 5.5.1 Error: EXPN not available");
}

static void
smtpd_help(struct smtpd_session *s, const char *arg, size_t len)
{
	(void)arg;
	(void)len;
	smtpd_reply(s, "214 2.0.0 Commands: HELO EHLO MAIL RCPT DATA BDAT "
	    "RSET NOOP QUIT VRFY HELP");
}

static const struct smtpd_cmd smtpd_cmds[] = {
	{ "EHLO", smtpd_ehlo, ST_ANY, CMD_COUNTS_ERR },
	{ "HELO", smtpd_helo, ST_ANY, CMD_COUNTS_ERR },
	{ "MAIL", smtpd_mail, ST_GREETED | ST_MAIL | ST_RCPT, CMD_COUNTS_ERR },
	{ "RCPT", smtpd_rcpt, ST_MAIL | ST_RCPT, CMD_COUNTS_ERR },
	{ "DATA", smtpd_data, ST_RCPT, CMD_COUNTS_ERR },
	{ "BDAT", smtpd_bdat, ST_ANY, CMD_COUNTS_ERR },
	{ "RSET", smtpd_rset, ST_ANY, CMD_COUNTS_ERR },
	{ "NOOP", smtpd_noop, ST_ANY, 0 },
	{ "QUIT", smtpd_quit, ST_ANY, 0 },
	{ "VRFY", smtpd_vrfy, ST_ANY, CMD_COUNTS_ERR },
	{ "EXPN", smtpd_expn, ST_ANY, CMD_COUNTS_ERR },
	{ "HELP", smtpd_help, ST_ANY, 0 },
	{ "STARTTLS", smtpd_starttls, ST_CONNECTED | ST_GREETED,
	  CMD_COUNTS_ERR },
	{ "AUTH", smtpd_auth, ST_GREETED, CMD_COUNTS_ERR },
	{ NULL, NULL, 0, 0 },
};

/* The reply for a command given in the wrong state. */
static const char *
smtpd_state_error(const struct smtpd_session *s, const char *verb)
{
	if (s->state == ST_CONNECTED)
		return "503 5.5.1 Error: send HELO/EHLO first";
	if (strcmp(verb, "RCPT") == 0)
		return "503 5.5.1 Error: need MAIL command";
	if (strcmp(verb, "DATA") == 0)
		return s->state == ST_BDAT ?
		    "503 5.5.1 Error: DATA not allowed after BDAT" :
		    "503 5.5.1 Error: need RCPT command";
	if (strcmp(verb, "MAIL") == 0)
		return "503 5.5.1 Error: nested MAIL command";
	return "503 5.5.1 Error: bad sequence of commands";
}

/* ------------------------------------------------------------ dispatch */

static void
smtpd_dispatch(struct smtpd_session *s, const char *line, size_t len)
{
	const struct smtpd_cmd *c;
	char verb[SMTP_VERB_MAX];
	const char *arg;
	size_t alen;

	buf_reset(&s->reply);
	s->ncmd++;
	if (smtpd_cmd_split(line, len, verb, &arg, &alen) == -1) {
		smtpd_reply(s, "500 5.5.2 Error: command not recognized");
		s->errors++;
		return;
	}
	for (c = smtpd_cmds; c->verb != NULL; c++)
		if (strcmp(c->verb, verb) == 0)
			break;
	if (c->verb == NULL) {
		smtpd_reply(s, "500 5.5.2 Error: command not recognized");
		s->errors++;
		return;
	}
	if (!(c->states & s->state)) {
		smtpd_reply(s, "%s", smtpd_state_error(s, verb));
		s->errors++;
		return;
	}
	s->not_err = 0;
	c->fn(s, arg, alen);
	if (s->reply.len > 0 && (s->reply.data[0] == '4' ||
	    s->reply.data[0] == '5')) {
		if ((c->flags & CMD_COUNTS_ERR) && !s->not_err)
			s->errors++;
	} else
		s->ncmd_ok++;
}

static int
smtpd_read_command(struct smtpd_session *s)
{
	const char *line;
	size_t len;
	int r;

	/* Replies wait while whole pipelined commands are queued, and go out
	 * before we would block for input (RFC 2920 3.2), a partial line
	 * included. */
	smtpd_deadline(s, s->cfg->smtpd_command_timeout);
	line = conn_peek(&s->conn, &len);
	if (memchr(line, '\n', len) == NULL && conn_flush(&s->conn) == -1)
		return -1;
	/* AUTH with an initial response may be up to 12288 octets (RFC 4954
	 * 4); every other command keeps smtpd_command_line_limit. */
	/* Draining: a session without a transaction in progress is told at
	 * once; one with MAIL given may still finish its message. */
	if (s->state & (ST_CONNECTED | ST_GREETED))
		s->conn.stop_fd = smtpd_stop_pipe[0];
	r = conn_getline(&s->conn, SMTPD_AUTH_LINE_MAX > (size_t)s->cfg->
	    smtpd_command_line_limit ? SMTPD_AUTH_LINE_MAX :
	    (size_t)s->cfg->smtpd_command_line_limit, &line, &len);
	s->conn.stop_fd = -1;
	if (r == 1 && len > (size_t)s->cfg->smtpd_command_line_limit &&
	    (len < 5 || strncasecmp(line, "AUTH ", 5) != 0))
		r = CONN_TOOLONG;
	if (r == CONN_TOOLONG) {
		s->ncmd++;
		s->errors++;
		smtpd_reply(s, "500 5.5.2 Error: line too long");
		return 1;
	}
	if (r == -1)
		return -1;
	/* Commands end with CRLF; a bare LF is a syntax error. */
	if (len < 2 || line[len - 2] != '\r') {
		s->ncmd++;
		s->errors++;
		smtpd_reply(s, "500 5.5.2 Error: bare <LF> received");
		return 1;
	}
	len -= 2;
	if (memchr(line, '\r', len) != NULL || memchr(line, '\0', len)) {
		s->ncmd++;
		s->errors++;
		smtpd_reply(s, "500 5.5.2 Error: invalid character in command");
		return 1;
	}
	smtpd_dispatch(s, line, len);
	return 1;
}

/*
 * A session on the local submission socket: who is on the other end comes
 * from the kernel (SO_PEERCRED), never from the client. A peer whose
 * credentials cannot be read is recorded as uid 4294967295 ("?"): that
 * does not happen on Linux for a connected unix socket.
 */
static void
smtpd_local_peer(struct smtpd_session *s, int fd)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);
	struct passwd pw, *pwp = NULL;
	char pwbuf[4096];

	memset(&cr, 0, sizeof(cr));
	s->local = 1;
	s->local_uid = (uid_t)-1;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) == 0)
		s->local_uid = cr.uid;
	else
		log_warn("%s smtp SO_PEERCRED: %s", s->sid, strerror(errno));
	if (s->local_uid != (uid_t)-1 && getpwuid_r(s->local_uid, &pw, pwbuf,
	    sizeof(pwbuf), &pwp) == 0 && pwp != NULL)
		s->local_user = xstrdup(pw.pw_name);
	else
		s->local_user = xstrdup("?");
	(void)snprintf(s->ip, sizeof(s->ip), "local");	/* fits */
	(void)snprintf(s->local_key, sizeof(s->local_key), "uid:%u",
	    (unsigned)s->local_uid);	/* at most 14 octets: fits */
	log_info("%s smtp connect client=local uid=%u user=%s pid=%ld "
	    "listener=%s", s->sid, (unsigned)s->local_uid,
	    smtpd_esc(s, s->local_user, strlen(s->local_user)), (long)cr.pid,
	    s->ls->addr);
}

static void
smtpd_session(struct smtpd_ctx *ctx, const struct listener *ls, int fd,
    const struct sockaddr_storage *peer)
{
	const struct relay_cfg *cfg = ctx->cfg;
	struct smtpd_session *s = xcalloc(1, sizeof(*s));

	s->ctx = ctx;
	s->cfg = cfg;
	s->ls = ls;
	s->spool = ctx->spool;
	s->peer = *peer;
	s->state = ST_CONNECTED;
	s->outcome = "lost";
	conn_init(&s->conn, fd);
	buf_init(&s->reply, 0);
	buf_init(&s->esc, 0);
	(void)snprintf(s->sid, sizeof(s->sid), "s%05x%04lx",
	    (unsigned)getpid() & 0xfffff, ++smtpd_session_seq & 0xffff);
	if (ls->kind == LISTEN_LOCAL)
		smtpd_local_peer(s, fd);
	else {
		netaddr_ntop((const struct sockaddr *)peer, s->ip,
		    sizeof(s->ip), &s->port);
		s->trusted = netaddr_in_list((const struct sockaddr *)peer,
		    &cfg->trusted_networks);
		log_info("%s smtp connect client=[%s]:%d listener=%s%s",
		    s->sid, s->ip, s->port, ls->addr, s->trusted ?
		    " trusted=yes" : "");
	}
	s->session_end = conn_now_ms() + cfg->smtpd_session_timeout;

	/* Limits come first: a flood of TLS handshakes is refused too. On
	 * the implicit-TLS port there is no way to say why in clear text. */
	if (smtpd_policy_connect(s) == -1) {
		if (ls->kind != LISTEN_SMTPS)
			(void)smtpd_send(s, s->reply.data);
		s->outcome = "limit";
		s->quit = 1;
	} else if (ls->kind == LISTEN_SMTPS && smtpd_tls_handshake(s) == -1)
		s->quit = 1;	/* RFC 8314: handshake before the greeting */
	else
		(void)conn_printf(&s->conn, "220 %s %s\r\n", cfg->hostname,
		    cfg->smtpd_banner);
	while (!s->quit) {
		if (conn_now_ms() >= s->session_end) {
			s->conn.err = CONN_ETIMEOUT;
			smtpd_timeout_close(s, "session limit",
			    "smtpd_session_timeout");
			break;
		}
		if (smtpd_read_command(s) == -1) {
			smtpd_timeout_close(s, s->state == ST_CONNECTED ?
			    "CONNECT" : "command", "smtpd_command_timeout");
			break;
		}
		if (s->reply.len > 0 && smtpd_send(s, s->reply.data) == -1)
			break;
		if (!s->quit && s->errors >= (unsigned)cfg->smtpd_error_limit) {
			log_info("%s smtp too many errors client=[%s] "
			    "errors=%u", s->sid, s->ip, s->errors);
			(void)conn_printf(&s->conn, "421 4.7.0 %s Error: too "
			    "many errors\r\n", cfg->hostname);
			s->outcome = "errors";
			s->quit = 1;
		}
	}
	(void)conn_flush(&s->conn);	/* closing: nothing more to do */
	log_info("%s smtp disconnect client=[%s] helo=%s commands=%u/%u "
	    "messages=%u in=%llu out=%llu tls=%s user=%s outcome=%s", s->sid,
	    s->ip, s->helo ? smtpd_esc(s, s->helo, strlen(s->helo)) : "-",
	    s->ncmd_ok, s->ncmd, s->nmsg, s->conn.bytes_in, s->conn.bytes_out,
	    s->tls ? conn_tls_version(&s->conn) : "no",
	    s->auth_user ? s->auth_user : "-", s->outcome);
	smtpd_policy_disconnect(s);
	smtpd_tx_reset(s);
	conn_close(&s->conn);
	free(s->helo);
	free(s->auth_user);
	free(s->local_user);
	buf_free(&s->reply);
	buf_free(&s->esc);
	free(s);
}

/* ------------------------------------------------------------ worker */

static void
smtpd_on_signal(int sig, siginfo_t *si, void *uc)
{
	int saved = errno;

	(void)sig;
	(void)uc;
	smtpd_stop = 1;
	/* A full pipe is readable already. */
	if (si != NULL && si->si_code == SI_QUEUE &&
	    si->si_value.sival_int == SMTPD_SIGVAL_DRAIN)
		(void)!write(smtpd_stop_pipe[1], "", 1);
	errno = saved;
}

/* Marks this worker's slot busy or idle; the master hears of it only
 * when a busy worker leaves fewer than SMTPD_IDLE_LOW idle. */
static void
smtpd_report(const struct smtpd_worker_args *wa, int busy)
{
	static int pid;
	struct smtpd_status st;
	size_t i, hi, idle = 0;

	__atomic_store_n(&wa->board[wa->slot], busy ? SMTPD_SLOT_BUSY :
	    SMTPD_SLOT_IDLE, __ATOMIC_SEQ_CST);
	if (!busy)
		return;
	/* Sequentially consistent, with the store above: of two workers
	 * going busy at once, at least one sees the other's slot. */
	hi = (size_t)__atomic_load_n(&wa->board[wa->nboard],
	    __ATOMIC_SEQ_CST);
	for (i = 0; i < hi && i < wa->nboard && idle < SMTPD_IDLE_LOW; i++)
		idle += __atomic_load_n(&wa->board[i], __ATOMIC_SEQ_CST) ==
		    SMTPD_SLOT_IDLE;
	if (idle >= SMTPD_IDLE_LOW)
		return;
	if (pid == 0)
		pid = (int)getpid();
	st.pid = pid;
	st.busy = busy;
	/* A full pipe only delays pool growth; never block on it. */
	(void)!write(wa->status_fd, &st, sizeof(st));
}

/* Opens what every session of this worker uses. Failures to open the
 * users database or the verification cache degrade (their checks answer
 * 4xx) rather than stop the worker. */
static void
smtpd_ctx_open(struct smtpd_ctx *ctx)
{
	const struct relay_cfg *cfg = ctx->cfg;
	struct buf path = BUF_INIT(0);
	const char *errstr;

	if (spool_open(cfg->spool_dir, cfg->spool_sync, 0, &ctx->spool,
	    &errstr) == -1)
		log_fatal("smtpd: spool %s: %s", cfg->spool_dir, errstr);
	if (users_open(cfg->users_db, 0, &ctx->users, &errstr) == -1) {
		log_warn("smtpd: users database %s: %s: AUTH and local "
		    "recipient checks answer 4xx", cfg->users_db, errstr);
		ctx->users = NULL;
	}
	if (cfg->relay_verify_primary[0] != '\0') {
		(void)buf_appendf(&path, "%s/verify.db", cfg->spool_dir);
		if (verify_open(path.data, cfg->relay_verify_positive_ttl,
		    cfg->relay_verify_negative_ttl, &ctx->verify,
		    &errstr) == -1)
			log_warn("smtpd: %s: %s: probes are not cached",
			    path.data, errstr);
		buf_free(&path);
	}
}

void
smtpd_worker(const struct smtpd_worker_args *wa)
{
	const struct relay_cfg *cfg = wa->cfg;
	const struct listener *ls = wa->listeners;
	size_t nls = wa->nlisteners;
	struct smtpd_ctx ctx;
	struct epoll_event ev, evs[16];
	struct sockaddr_storage peer;
	struct sigaction sa;
	const struct listener *l;
	socklen_t plen;
	long long served = 0;
	size_t i;
	int ep, n, fd;

	if (pipe2(smtpd_stop_pipe, O_NONBLOCK | O_CLOEXEC) == -1)
		log_fatal("smtpd: pipe2: %s", strerror(errno));
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = smtpd_on_signal;
	sa.sa_flags = SA_SIGINFO;
	(void)sigaction(SIGTERM, &sa, NULL);
	(void)sigaction(SIGINT, &sa, NULL);
	sa.sa_flags = 0;
	sa.sa_handler = SIG_IGN;
	(void)sigaction(SIGPIPE, &sa, NULL);
	(void)sigaction(SIGHUP, &sa, NULL);

	memset(&ctx, 0, sizeof(ctx));
	ctx.cfg = cfg;
	ctx.tls = wa->tls;
	ctx.rl = wa->rl;
	ctx.slot = wa->slot;
	smtpd_ctx_open(&ctx);
	/* EPOLLEXCLUSIVE: a new connection wakes one idle worker, not the
	 * whole pool (no thundering herd). */
	if ((ep = epoll_create1(EPOLL_CLOEXEC)) == -1)
		log_fatal("smtpd: epoll_create1: %s", strerror(errno));
	for (i = 0; i < nls; i++) {
		memset(&ev, 0, sizeof(ev));
		ev.events = EPOLLIN | EPOLLEXCLUSIVE;
		ev.data.ptr = (void *)(uintptr_t)&ls[i];
		if (epoll_ctl(ep, EPOLL_CTL_ADD, ls[i].fd, &ev) == -1)
			log_fatal("smtpd: epoll_ctl: %s", strerror(errno));
	}
	while (!smtpd_stop && served < cfg->smtpd_sessions_per_worker) {
		n = epoll_wait(ep, evs, (int)(sizeof(evs) / sizeof(evs[0])),
		    1000);
		/* An exclusive wake-up can go to a worker that is stopping
		 * and leave a connection waiting: on each idle second, look
		 * at every listener ourselves (accept4 is non-blocking). */
		if (n == 0) {
			for (i = 0; i < nls && i < sizeof(evs) / sizeof(evs[0]);
			    i++)
				evs[i].data.ptr = (void *)(uintptr_t)&ls[i];
			n = (int)i;
		}
		for (i = 0; n > 0 && i < (size_t)n && !smtpd_stop; i++) {
			l = evs[i].data.ptr;
			plen = sizeof(peer);
			fd = accept4(l->fd, (struct sockaddr *)&peer, &plen,
			    SOCK_NONBLOCK | SOCK_CLOEXEC);
			if (fd == -1)
				continue;	/* another worker took it */
			smtpd_report(wa, 1);
			smtpd_session(&ctx, l, fd, &peer);
			smtpd_report(wa, 0);
			served++;
			break;
		}
	}
	(void)close(ep);	/* exiting */
	verify_close(&ctx.verify);
	users_close(&ctx.users);
	spool_close(&ctx.spool);
	exit(0);
}
