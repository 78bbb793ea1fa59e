/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * The LMTP server (RFC 2033) of buzond: one session per process, already
 * running as run_user. Commands are parsed by the relay's SMTP pieces
 * (smtpd_cmd: verb split, MAIL/RCPT paths and parameters; smtpd_data: dot
 * unstuffing, bare CR/LF detection, size limit), recipients are resolved
 * through the users database (aliases, "+detail"). The message is written
 * into the store as it arrives (mstore_spool: never held whole in memory)
 * and after the final dot goes into each recipient's INBOX with
 * mstore_add_spool, which is durable before the per-recipient 250 is sent. A recipient that cannot be
 * stored gets its own 4xx/5xx; the others are unaffected.
 *
 * Never writes outside the store, never trusts the client with a path:
 * mailbox directories come from the canonical address the users database
 * returns.
 */
#include "config.h"

#include <sys/uio.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "lib/addr.h"
#include "lib/buf.h"
#include "lib/conn.h"
#include "lib/log.h"
#include "lib/users.h"
#include "lib/xalloc.h"
#include "relay/smtpd_cmd.h"
#include "relay/smtpd_data.h"
#include "store/buzond_cfg.h"
#include "store/lmtp.h"
#include "store/mstore.h"
#include "store/session.h"

#define LMTP_LINE_MAX		4096	/* command line, CRLF included */
#define LMTP_ERROR_LIMIT	20
#define LMTP_TEXT_LINE_MAX	(1024 * 1024)	/* lenient: relay checked */

enum lmtp_state {
	LS_GREETED,
	LS_READY,	/* after LHLO */
	LS_MAIL,
	LS_RCPT,
};

struct lmtp_rcpt {
	char		*orig;		/* as given in RCPT (canonical form) */
	char		*user;		/* the store's user */
	char		*detail;	/* "+detail" part, or NULL */
	uint64_t	 quota;		/* octets, 0: none */
};

struct lmtp {
	struct conn		*c;
	const struct buzond_ctx	*ctx;
	struct users		*users;
	int			 users_tried;
	enum lmtp_state		 state;
	char			*lhlo;
	char			*sender;	/* "" for <> */
	long long		 size_hint;
	struct lmtp_rcpt	*rcpts;
	size_t			 nrcpt;
	unsigned		 errors;
	unsigned		 msgs;
	unsigned		 delivered;
	struct buf		 esc[3];
	int			 quit;
};

/* Escaped for a log line; three may be used in one line (slot 0..2). */
static const char *
lmtp_esc(struct lmtp *l, int slot, const char *s)
{
	buf_reset(&l->esc[slot]);
	return log_escape(&l->esc[slot], s, strlen(s), 256);
}

static void
lmtp_reset(struct lmtp *l)
{
	size_t i;

	for (i = 0; i < l->nrcpt; i++) {
		free(l->rcpts[i].orig);
		free(l->rcpts[i].user);
		free(l->rcpts[i].detail);
	}
	free(l->rcpts);
	l->rcpts = NULL;
	l->nrcpt = 0;
	free(l->sender);
	l->sender = NULL;
	l->size_hint = -1;
	if (l->state > LS_READY)
		l->state = LS_READY;
}

static void
lmtp_reply(struct lmtp *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
lmtp_reply(struct lmtp *l, const char *fmt, ...)
{
	struct buf b = BUF_INIT(1024);
	va_list ap;

	va_start(ap, fmt);
	(void)buf_vappendf(&b, fmt, ap);	/* truncated at 1024: fine */
	va_end(ap);
	(void)conn_write(l->c, b.data, b.len);
	(void)conn_write(l->c, "\r\n", 2);
	buf_free(&b);
}

static struct users *
lmtp_users(struct lmtp *l)
{
	const char *errstr = NULL;

	if (l->users == NULL && !l->users_tried) {
		l->users_tried = 1;
		if (users_open(l->ctx->users_db, 0, &l->users, &errstr) == -1)
			log_error("%s lmtp users database %s: %s",
			    l->ctx->session_id, l->ctx->users_db, errstr);
	}
	return l->users;
}

int
lmtp_detail(const char *orig, const char *user, char **detail_r)
{
	const char *at = strrchr(orig, '@'), *uat = strrchr(user, '@');
	const char *plus;
	size_t ul;

	*detail_r = NULL;
	if (at == NULL || uat == NULL)
		return 0;
	ul = (size_t)(uat - user);
	plus = memchr(orig, '+', (size_t)(at - orig));
	/* Only a detail on the user's own local part: not an alias's. */
	if (plus == NULL || (size_t)(plus - orig) != ul ||
	    strncasecmp(orig, user, ul) != 0 || plus + 1 == at)
		return 0;
	*detail_r = xstrndup(plus + 1, (size_t)(at - plus - 1));
	return 1;
}

/* ------------------------------------------------------------ commands */

static void
cmd_lhlo(struct lmtp *l, const char *arg, size_t len)
{
	if (len == 0) {
		lmtp_reply(l, "501 5.5.4 Syntax: LHLO hostname");
		l->errors++;
		return;
	}
	lmtp_reset(l);
	free(l->lhlo);
	l->lhlo = xstrndup(arg, len);
	l->state = LS_READY;
	lmtp_reply(l, "250-%s\r\n250-PIPELINING\r\n250-ENHANCEDSTATUSCODES\r\n"
	    "250-8BITMIME\r\n250-SMTPUTF8\r\n250 SIZE %llu",
	    l->ctx->hostname, (unsigned long long)l->ctx->max_message_size);
}

static void
cmd_mail(struct lmtp *l, const char *arg, size_t len)
{
	struct smtp_path_cmd pc;
	struct buf b = BUF_INIT(0);
	const char *reply;

	if (l->state != LS_READY) {
		lmtp_reply(l, l->state == LS_GREETED ?
		    "503 5.5.1 Error: send LHLO first" :
		    "503 5.5.1 Error: nested MAIL command");
		l->errors++;
		return;
	}
	if (smtpd_cmd_path(arg, len, 1, 1, &pc, &reply) == -1) {
		lmtp_reply(l, "%s", reply);
		l->errors++;
		return;
	}
	if (pc.size > 0 && (unsigned long long)pc.size >
	    l->ctx->max_message_size) {
		lmtp_reply(l, "552 5.3.4 Error: message size exceeds fixed "
		    "limit of %llu bytes",
		    (unsigned long long)l->ctx->max_message_size);
		smtpd_cmd_path_free(&pc);
		return;
	}
	if (!(pc.addr->flags & ADDR_NULL))
		(void)addr_format(pc.addr, &b);
	l->sender = b.data ? buf_steal(&b) : xstrdup("");
	l->size_hint = pc.size;
	smtpd_cmd_path_free(&pc);
	l->state = LS_MAIL;
	lmtp_reply(l, "250 2.1.0 Ok");
}

/* Usage of user's store: 1, or -1 when it cannot be read (then 4xx). */
static int
lmtp_usage(struct lmtp *l, const char *user, uint64_t *used_r)
{
	struct mstore *st = NULL;
	const char *errstr = NULL;
	int rc;

	*used_r = 0;
	rc = mstore_open(l->ctx->store_root, user, 0, &st, &errstr);
	if (rc == 0)
		return 1;	/* no mailbox yet: nothing used */
	if (rc == 1)
		rc = mstore_usage(st, used_r, &errstr);
	if (rc == -1)
		log_error("%s lmtp store of %s: %s", l->ctx->session_id,
		    lmtp_esc(l, 0, user), errstr);
	mstore_close(&st);
	return rc;
}

static void
cmd_rcpt(struct lmtp *l, const char *arg, size_t len)
{
	struct smtp_path_cmd pc;
	struct buf a = BUF_INIT(0);
	struct lmtp_rcpt r;
	unsigned long long q = 0;
	uint64_t used = 0;
	const char *reply;
	char *target = NULL;
	int rc;

	if (l->state != LS_MAIL && l->state != LS_RCPT) {
		lmtp_reply(l, "503 5.5.1 Error: need MAIL command");
		l->errors++;
		return;
	}
	if (smtpd_cmd_path(arg, len, 0, 1, &pc, &reply) == -1) {
		lmtp_reply(l, "%s", reply);
		l->errors++;
		return;
	}
	(void)addr_format(pc.addr, &a);
	smtpd_cmd_path_free(&pc);
	if (l->nrcpt >= (size_t)l->ctx->cfg->lmtp_recipient_limit) {
		lmtp_reply(l, "452 4.5.3 Error: too many recipients");
		goto out;
	}
	if (lmtp_users(l) == NULL) {
		lmtp_reply(l, "451 4.3.0 <%s>: users database unavailable",
		    buf_cstr(&a));
		goto out;
	}
	rc = users_lookup(l->users, buf_cstr(&a), &target);
	/* A forward to another address is the relay's job, not ours. */
	if (rc == 1 && (rc = users_quota(l->users, target, &q)) == 0)
		log_info("%s lmtp reject rcpt=<%s> target=<%s> rule=not_local",
		    l->ctx->session_id, lmtp_esc(l, 0, buf_cstr(&a)), target);
	if (rc == 0) {
		lmtp_reply(l, "550 5.1.1 <%s>: no such user here",
		    buf_cstr(&a));
		goto out;
	}
	if (rc == -1) {
		lmtp_reply(l, "451 4.3.0 <%s>: users database error",
		    buf_cstr(&a));
		goto out;
	}
	if (q == 0)
		q = l->ctx->default_quota;
	if (q > 0 && l->size_hint > 0 && (uint64_t)l->size_hint > q) {
		lmtp_reply(l, "552 5.2.2 <%s>: message exceeds the mailbox "
		    "quota", buf_cstr(&a));
		goto out;
	}
	if (q > 0 && (lmtp_usage(l, target, &used) == -1 || used >= q)) {
		lmtp_reply(l, used >= q ? "452 4.2.2 <%s>: mailbox full" :
		    "451 4.3.0 <%s>: mailbox unavailable", buf_cstr(&a));
		goto out;
	}
	memset(&r, 0, sizeof(r));
	r.orig = buf_steal(&a);
	r.user = target;
	r.quota = q;
	(void)lmtp_detail(r.orig, r.user, &r.detail);
	target = NULL;
	l->rcpts = xrealloc(l->rcpts, (l->nrcpt + 1) * sizeof(*l->rcpts));
	l->rcpts[l->nrcpt++] = r;
	l->state = LS_RCPT;
	lmtp_reply(l, "250 2.1.5 Ok");
out:
	free(target);
	buf_free(&a);
}

/*
 * The message of one DATA transaction. It goes into a spool file in the
 * store of its host (the first recipient whose store opens) as it
 * arrives, LMTP_CHUNK octets at a time: the host's trace fields, then the
 * message. The host's copy is that file, hard-linked into its INBOX; every
 * other recipient's copy is its own trace fields followed by the message
 * part of the file, copied in pieces. A session holds at most a few
 * chunks of any message, however big.
 */
struct lmtp_msg {
	struct mstore		*st;	/* the host's store, or NULL */
	struct mstore_spool	*sp;	/* NULL: nowhere to write (451) */
	size_t			 host;	/* the host's index in rcpts */
	time_t			 date;	/* of every copy's Received: */
	unsigned		 id;	/* the message's number (l->msgs) */
	const char		*err;	/* why it could not be spooled */
	char			 errbuf[256];
};

#define LMTP_CHUNK	(64 * 1024)

static void
lmtp_headers(struct lmtp *l, const struct lmtp_rcpt *r,
    const struct lmtp_msg *m, struct buf *b)
{
	char date[64];
	struct tm tm;

	(void)localtime_r(&m->date, &tm);
	if (strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm) ==
	    0)
		date[0] = '\0';
	(void)buf_appendf(b, "Return-Path: <%s>\r\nDelivered-To: %s\r\n"
	    "Received: from %s\r\n\tby %s (buzond) with LMTP id %s.%u\r\n"
	    "\tfor <%s>; %s\r\n", l->sender, r->orig,
	    l->lhlo ? lmtp_esc(l, 0, l->lhlo) : "unknown", l->ctx->hostname,
	    l->ctx->session_id, m->id, r->orig, date);
}

static void
lmtp_spool_fail(struct lmtp_msg *m, const char *err)
{
	(void)snprintf(m->errbuf, sizeof(m->errbuf), "spool: %s",
	    err != NULL ? err : "?");
	m->err = m->errbuf;
	mstore_spool_close(&m->sp);
}

/* Opens the spool in the first recipient's store that opens and writes
 * that recipient's trace fields into it. */
static void
lmtp_spool_open(struct lmtp *l, struct lmtp_msg *m)
{
	struct buf h = BUF_INIT(0);
	const char *errstr = NULL;
	size_t i;

	for (i = 0; i < l->nrcpt && m->sp == NULL; i++) {
		errstr = NULL;
		if (mstore_open(l->ctx->store_root, l->rcpts[i].user, 1,
		    &m->st, &errstr) != 1 ||
		    mstore_spool_open(m->st, &m->sp, &errstr) != 1) {
			log_error("%s lmtp spool in the store of %s: %s",
			    l->ctx->session_id, l->rcpts[i].user,
			    errstr ? errstr : "?");
			mstore_close(&m->st);
			continue;
		}
		m->host = i;
		lmtp_headers(l, &l->rcpts[i], m, &h);
		if (mstore_spool_write(m->sp, h.data, h.len, &errstr) != 1) {
			/* The message fails here, for every recipient. */
			lmtp_spool_fail(m, errstr);
			mstore_close(&m->st);
			break;
		}
		mstore_spool_mark(m->sp);
	}
	if (m->sp == NULL && m->err == NULL)
		m->err = "no store to spool the message in";
	buf_free(&h);
}

/* Writes what the parser produced into the spool (while the message can
 * still be stored) and empties out. */
static void
lmtp_spool_put(struct lmtp_msg *m, const struct data_parser *dp,
    struct buf *out)
{
	const char *errstr = NULL;

	if (m->sp != NULL && out->len > 0 &&
	    !(dp->flags & (DATA_BARE_LF | DATA_BARE_CR | DATA_TOO_BIG)) &&
	    mstore_spool_write(m->sp, out->data, out->len, &errstr) != 1)
		lmtp_spool_fail(m, errstr);
	buf_reset(out);
}

/*
 * Reads the message into the spool, LMTP_CHUNK octets of input at a time
 * (the parser's output is never longer than a few octets more than its
 * input); 1 complete, -1 connection lost (session ends).
 */
static int
lmtp_read_data(struct lmtp *l, struct data_parser *dp, struct buf *out,
    struct lmtp_msg *m)
{
	const char *p;
	size_t avail, used;
	int rc;

	for (;;) {
		p = conn_peek(l->c, &avail);
		if (avail > 0) {
			if (avail > LMTP_CHUNK)
				avail = LMTP_CHUNK;
			rc = data_feed(dp, p, avail, out, &used);
			conn_consume(l->c, rc == 1 ? used : avail);
			if (rc == -1)
				return -1;	/* out's max: our bug */
			if (rc == 1 || out->len >= LMTP_CHUNK)
				lmtp_spool_put(m, dp, out);
			if (rc == 1)
				return 1;
			continue;
		}
		conn_set_deadline(l->c, l->ctx->cfg->lmtp_timeout);
		if (conn_fill(l->c) == -1)
			return -1;
	}
}

/* 552 for a message larger than recipient r's whole quota (it never
 * fits); 1 when it may fit. Whether it fits now is decided by the add,
 * under the index write lock: two deliveries racing for the last room
 * never overfill the mailbox. */
static int
lmtp_quota_check(struct lmtp *l, const struct lmtp_rcpt *r, size_t size)
{
	if (r->quota == 0 || size <= r->quota)
		return 1;
	lmtp_reply(l, "552 5.2.2 <%s>: message exceeds the mailbox quota",
	    r->orig);
	log_info("%s lmtp reject rcpt=<%s> user=%s size=%zu rule=quota",
	    l->ctx->session_id, lmtp_esc(l, 0, r->orig), r->user, size);
	return 0;
}

/* Stores the message for recipient i and sends its reply. */
static void
lmtp_deliver_one(struct lmtp *l, size_t i, struct lmtp_msg *m,
    unsigned long long body)
{
	const struct lmtp_rcpt *r = &l->rcpts[i];
	struct buf msg = BUF_INIT(0);	/* the trace fields */
	struct iovec iov;
	struct mstore *st = NULL;
	const char *errstr = NULL;
	uint32_t uid = 0;
	size_t size;
	int rc, host = m->sp != NULL && i == m->host;

	/* The host's fields are in the spool already: built again (the
	 * same octets) only for the size. */
	lmtp_headers(l, r, m, &msg);
	iov.iov_base = msg.data;
	iov.iov_len = msg.len;
	size = msg.len + (size_t)body;
	if (m->sp == NULL) {
		rc = -1;
		errstr = m->err;
	} else if (host) {
		st = m->st;
		rc = 1;
	} else
		rc = mstore_open(l->ctx->store_root, r->user, 1, &st, &errstr);
	if (rc == 1 && (rc = lmtp_quota_check(l, r, size)) == 0)
		goto out;
	if (rc == 1) {
		mstore_set_quota(st, r->quota);
		rc = mstore_add_spool(st, "INBOX", host ? NULL : &iov, 1,
		    m->sp, 0, NULL, 0, NULL, &uid, &errstr);
	}
	if (rc == -1 && errstr != NULL && strcmp(errstr, MSTORE_ERR_QUOTA) ==
	    0) {
		lmtp_reply(l, "452 4.2.2 <%s>: mailbox full", r->orig);
		log_info("%s lmtp defer rcpt=<%s> user=%s size=%zu rule=quota",
		    l->ctx->session_id, lmtp_esc(l, 0, r->orig), r->user,
		    size);
	} else if (rc != 1) {
		lmtp_reply(l, "451 4.3.0 <%s>: cannot store the message",
		    r->orig);
		log_error("%s lmtp defer rcpt=<%s> user=%s error=\"%s\"",
		    l->ctx->session_id, lmtp_esc(l, 0, r->orig), r->user,
		    errstr ? errstr : "?");
	} else {
		l->delivered++;
		lmtp_reply(l, "250 2.0.0 <%s> %s.%u Ok: stored as UID %u",
		    r->orig, l->ctx->session_id, m->id, uid);
		log_info("%s lmtp delivered id=%s.%u from=<%s> rcpt=<%s> "
		    "user=%s detail=%s uid=%u size=%zu", l->ctx->session_id,
		    l->ctx->session_id, m->id, lmtp_esc(l, 0, l->sender),
		    lmtp_esc(l, 1, r->orig), r->user,
		    lmtp_esc(l, 2, r->detail ? r->detail : ""), uid, size);
	}
out:
	if (!host)
		mstore_close(&st);
	buf_free(&msg);
}

static void
cmd_data(struct lmtp *l, const char *arg, size_t len)
{
	struct data_parser dp;
	struct lmtp_msg m;
	struct buf out;
	const char *errstr = NULL;
	size_t i;
	unsigned f;

	(void)arg;
	if (len != 0) {
		lmtp_reply(l, "501 5.5.4 Syntax: DATA");
		l->errors++;
		return;
	}
	if (l->state != LS_RCPT) {
		lmtp_reply(l, l->state == LS_MAIL ?
		    "503 5.5.1 Error: no valid recipients" :
		    "503 5.5.1 Error: need RCPT command");
		l->errors++;
		return;
	}
	lmtp_reply(l, "354 End data with <CR><LF>.<CR><LF>");
	if (conn_flush(l->c) == -1) {
		l->quit = 1;
		return;
	}
	memset(&m, 0, sizeof(m));
	m.date = time(NULL);
	m.id = l->msgs + 1;
	lmtp_spool_open(l, &m);
	data_init(&dp, LMTP_TEXT_LINE_MAX, l->ctx->max_message_size);
	buf_init(&out, 2 * LMTP_CHUNK + 1024);
	if (lmtp_read_data(l, &dp, &out, &m) == -1) {
		log_info("%s lmtp lost connection in DATA: %s",
		    l->ctx->session_id, conn_strerror(l->c));
		l->quit = 1;
		goto out;
	}
	l->msgs++;
	f = dp.flags;
	if (m.sp != NULL && !(f & (DATA_BARE_LF | DATA_BARE_CR |
	    DATA_TOO_BIG)) && mstore_spool_finish(m.sp, &errstr) != 1)
		lmtp_spool_fail(&m, errstr);
	for (i = 0; i < l->nrcpt; i++) {
		if (f & (DATA_BARE_LF | DATA_BARE_CR))
			lmtp_reply(l, "550 5.5.2 <%s>: bare <%s> received; "
			    "lines must end with <CR><LF>", l->rcpts[i].orig,
			    f & DATA_BARE_LF ? "LF" : "CR");
		else if (f & DATA_TOO_BIG)
			lmtp_reply(l, "552 5.3.4 <%s>: message size exceeds "
			    "fixed limit of %llu bytes", l->rcpts[i].orig,
			    (unsigned long long)l->ctx->max_message_size);
		else
			lmtp_deliver_one(l, i, &m, dp.size);
	}
	if (f & (DATA_BARE_LF | DATA_BARE_CR | DATA_TOO_BIG))
		log_info("%s lmtp reject from=<%s> rcpts=%zu rule=%s",
		    l->ctx->session_id, lmtp_esc(l, 0, l->sender), l->nrcpt,
		    f & DATA_TOO_BIG ? "max_message_size" : "bare_newline");
	lmtp_reset(l);
out:
	mstore_spool_close(&m.sp);
	mstore_close(&m.st);
	buf_free(&out);
}

static void
lmtp_command(struct lmtp *l, const char *line, size_t len)
{
	char verb[SMTP_VERB_MAX];
	const char *arg;
	size_t alen;

	if (smtpd_cmd_split(line, len, verb, &arg, &alen) == -1) {
		lmtp_reply(l, "500 5.5.2 Error: bad syntax");
		l->errors++;
		return;
	}
	if (strcmp(verb, "LHLO") == 0)
		cmd_lhlo(l, arg, alen);
	else if (strcmp(verb, "MAIL") == 0)
		cmd_mail(l, arg, alen);
	else if (strcmp(verb, "RCPT") == 0)
		cmd_rcpt(l, arg, alen);
	else if (strcmp(verb, "DATA") == 0)
		cmd_data(l, arg, alen);
	else if (strcmp(verb, "RSET") == 0) {
		lmtp_reset(l);
		lmtp_reply(l, "250 2.0.0 Ok");
	} else if (strcmp(verb, "NOOP") == 0)
		lmtp_reply(l, "250 2.0.0 Ok");
	else if (strcmp(verb, "QUIT") == 0) {
		lmtp_reply(l, "221 2.0.0 Bye");
		l->quit = 1;
	} else if (strcmp(verb, "VRFY") == 0 || strcmp(verb, "EXPN") == 0)
		lmtp_reply(l, "502 5.5.1 Error: %s is not supported", verb);
	else if (strcmp(verb, "HELO") == 0 || strcmp(verb, "EHLO") == 0) {
		lmtp_reply(l, "500 5.5.1 Error: this is LMTP, say LHLO");
		l->errors++;
	} else {
		lmtp_reply(l, "500 5.5.2 Error: command not recognized");
		l->errors++;
	}
}

void
lmtp_serve(struct conn *c, const struct buzond_ctx *ctx)
{
	struct lmtp l;
	const char *line;
	size_t len;
	int rc;

	memset(&l, 0, sizeof(l));
	l.c = c;
	l.ctx = ctx;
	l.size_hint = -1;
	buf_init(&l.esc[0], 0);
	buf_init(&l.esc[1], 0);
	buf_init(&l.esc[2], 0);
	lmtp_reply(&l, "220 %s LMTP buzond ready", ctx->hostname);
	while (!l.quit) {
		if (!conn_pending(c) && conn_flush(c) == -1)
			break;
		conn_set_deadline(c, ctx->cfg->lmtp_timeout);
		rc = conn_getline(c, LMTP_LINE_MAX, &line, &len);
		if (rc == CONN_TOOLONG) {
			lmtp_reply(&l, "500 5.5.2 Error: line too long");
			l.errors++;
		} else if (rc == -1) {
			if (c->err == CONN_ETIMEOUT) {
				lmtp_reply(&l, "421 4.4.2 %s Error: timeout "
				    "exceeded", ctx->hostname);
				(void)conn_flush(c);
			}
			break;
		} else if (len < 2 || line[len - 2] != '\r') {
			lmtp_reply(&l, "500 5.5.2 Error: bare <LF> received");
			l.errors++;
		} else if (memchr(line, '\r', len - 2) != NULL ||
		    memchr(line, '\0', len - 2) != NULL) {
			lmtp_reply(&l, "500 5.5.2 Error: invalid character in "
			    "command");
			l.errors++;
		} else
			lmtp_command(&l, line, len - 2);
		if (l.errors >= LMTP_ERROR_LIMIT) {
			lmtp_reply(&l, "421 4.7.0 %s Error: too many errors",
			    ctx->hostname);
			break;
		}
	}
	(void)conn_flush(c);
	log_info("%s lmtp disconnect client=%s messages=%u delivered=%u "
	    "errors=%u", ctx->session_id, ctx->peer, l.msgs, l.delivered,
	    l.errors);
	lmtp_reset(&l);
	free(l.lhlo);
	users_close(&l.users);
	buf_free(&l.esc[0]);
	buf_free(&l.esc[1]);
	buf_free(&l.esc[2]);
}
