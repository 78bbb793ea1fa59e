/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * estafeta-sendmail: the sendmail-compatible command through which cron,
 * PHP and scripts hand mail to Estafeta. Runs as the calling user, with no
 * privileges of its own: it reads the message on stdin, and speaks ESMTP
 * over estafetad's local submission socket (listen_local), where an smtpd
 * worker takes it through the same durable path as any SMTP client -- the
 * message is accepted (exit 0) only once the daemon answered 250, i.e. it
 * is on stable storage and qmgr knows it. The daemon learns who we are from
 * the kernel (SO_PEERCRED), never from us. There is no fallback queue: if
 * estafetad is not running, we exit with EX_TEMPFAIL and say so.
 *
 * May touch: stdin, stdout/stderr, the configuration file (read), the
 * socket. Exit codes are sysexits.h's (README: "Local submission").
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "relay/relay_cfg.h"
#include "ctl/submit.h"

#define SM_TIMEOUT_S	300	/* per read or write on the socket */
#define SM_FLUSH_AT	65536
#define SM_REPLY_MAX	65536

enum sm_phase { SM_FIRST = 0, SM_HDR, SM_BODY, SM_DONE };

struct sm {
	struct submit_opts	 o;
	struct relay_cfg	 cfg;
	const char		*cfg_path;
	const char		*domain;	/* for unqualified addresses */
	char			*login, *gecos;
	struct buf		 sender;	/* canonical; "" = null */
	int			 utf8;		/* needs SMTPUTF8 */
	struct submit_rcpts	 rcpts;

	/* Input. */
	enum sm_phase		 phase;
	int			 skip;		/* in a leading From_ line */
	struct submit_lines	 lines;
	struct buf		 hdrs;		/* header section, LF lines */
	struct buf		 first;		/* a body line that ended it */
	int			 first_cont;
	const char		*in_err;
	int			 in_dataerr;	/* in_err is about the data */
	char			 in[65536];
	size_t			 inoff, inlen;
	int			 eof;

	/* Connection. */
	int			 fd;
	struct buf		 out;		/* SMTP text not yet written */
	int			 werr;		/* a write failed */
	char			 rbuf[4096];
	size_t			 rlen;
	struct buf		 reply;
};

static int
sm_fail(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
sm_fail(int code, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "estafeta-sendmail: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return code;
}

static void
usage(void)
{
	fprintf(stderr, "usage: estafeta-sendmail [-t] [-i] [-f sender] "
	    "[-F fullname] [-C config]\n"
	    "           [-N dsn] [-R hdrs|full] [-V envid] [-B type] [-bm|-bs]"
	    " [--] [recipient ...]\n"
	    "Reads a message on stdin and queues it with estafetad "
	    "(listen_local).\n");
}

/* ------------------------------------------------------------ input */

/* A line of stdin: header section, then body (see submit_lines). */
static int
sm_line(void *arg, const char *line, size_t len, int cont)
{
	struct sm *m = arg;

	if (!m->o.ignore_dots && !cont && len == 1 && line[0] == '.') {
		m->phase = SM_DONE;
		return 0;
	}
	switch (m->phase) {
	case SM_FIRST:
		m->phase = SM_HDR;
		/* An mbox "From " line is no header: drop it. */
		if (len >= 5 && memcmp(line, "From ", 5) == 0) {
			m->skip = 1;
			return 1;
		}
		/* FALLTHROUGH */
	case SM_HDR:
		if (cont && m->skip)
			return 1;
		m->skip = 0;
		if (len == 0 && !cont) {
			m->phase = SM_BODY;
			return 0;	/* the body waits for the envelope */
		}
		if ((cont || line[0] == ' ' || line[0] == '\t') ?
		    m->hdrs.len > 0 : submit_is_field(line, len)) {
			if ((cont && buf_appendc(&m->hdrs, ' ') == -1) ||
			    buf_append(&m->hdrs, line, len) == -1 ||
			    buf_appendc(&m->hdrs, '\n') == -1) {
				m->in_err = "header section too large";
				m->in_dataerr = 1;
				return -1;
			}
			return 1;
		}
		/* Text that is no header field: the body starts here. */
		(void)buf_append(&m->first, line, len);	/* <= a line */
		m->first_cont = cont;
		m->phase = SM_BODY;
		return 0;
	case SM_BODY:
		if (submit_smtp_line(&m->out, line, len) == -1)
			return -1;	/* unbounded: cannot happen */
		return m->out.len >= SM_FLUSH_AT ? 0 : 1;
	case SM_DONE:
		break;
	}
	return 0;
}

/*
 * Reads stdin through the splitter: the header section (headers = 1), or
 * body lines until the output buffer wants flushing or the message ends.
 * 1, or -1 (read error, or in_err set).
 */
static int
sm_read(struct sm *m, int headers)
{
	size_t used;
	ssize_t n;
	int r;

	while (!m->eof && (headers ? m->phase < SM_BODY : m->phase ==
	    SM_BODY)) {
		if (m->inoff == m->inlen) {
			n = read(STDIN_FILENO, m->in, sizeof(m->in));
			if (n == -1 && errno == EINTR)
				continue;
			if (n == -1) {
				m->in_err = strerror(errno);
				return -1;
			}
			if (n == 0) {
				m->eof = 1;
				r = submit_lines_finish(&m->lines, sm_line, m);
				m->phase = SM_DONE;
				return r == -1 ? -1 : 1;
			}
			m->inoff = 0;
			m->inlen = (size_t)n;
		}
		r = submit_lines_feed(&m->lines, m->in + m->inoff,
		    m->inlen - m->inoff, sm_line, m, &used);
		m->inoff += used;
		if (r == -1)
			return -1;
		if (r == 0 && !headers)
			return 1;	/* the buffer is full, or the end */
	}
	return 1;
}

/* ------------------------------------------------------------ socket */

static int
sm_write(struct sm *m, const char *p, size_t n)
{
	ssize_t w;

	while (n > 0 && !m->werr) {
		w = write(m->fd, p, n);
		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0) {
			m->werr = 1;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return m->werr ? -1 : 1;
}

static int
sm_flush(struct sm *m)
{
	int r = sm_write(m, m->out.data, m->out.len);

	buf_reset(&m->out);
	return r;
}

/* One line of a reply into m->reply; 1, or -1 (lost, timeout, too long). */
static int
sm_reply_line(struct sm *m, const char **line_r)
{
	char *nl;
	ssize_t n;

	for (;;) {
		nl = memchr(m->rbuf, '\n', m->rlen);
		if (nl != NULL)
			break;
		if (m->rlen == sizeof(m->rbuf))
			return -1;
		n = read(m->fd, m->rbuf + m->rlen, sizeof(m->rbuf) - m->rlen);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		m->rlen += (size_t)n;
	}
	*nl = '\0';
	if (nl > m->rbuf && nl[-1] == '\r')
		nl[-1] = '\0';
	if (m->reply.len > 0)
		(void)buf_appendc(&m->reply, '\n');	/* bounded below */
	if (buf_appends(&m->reply, m->rbuf) == -1)
		return -1;
	*line_r = m->reply.data + m->reply.len - strlen(m->rbuf);
	m->rlen -= (size_t)(nl + 1 - m->rbuf);
	memmove(m->rbuf, nl + 1, m->rlen);
	return 1;
}

/* A whole reply in m->reply; its code, or -1 when none came. */
static int
sm_reply(struct sm *m)
{
	const char *line;

	buf_reset(&m->reply);
	do {
		if (sm_reply_line(m, &line) == -1)
			return -1;
		if (strlen(line) < 3)
			return -1;
	} while (line[3] == '-');
	if (m->o.verbose)
		fprintf(stderr, "<<< %s\n", m->reply.data);
	line = m->reply.data;
	if (line[0] < '1' || line[0] > '5' || line[1] < '0' || line[1] > '9' ||
	    line[2] < '0' || line[2] > '9')
		return 0;	/* not a reply: never equal to a code we want */
	return (line[0] - '0') * 100 + (line[1] - '0') * 10 + line[2] - '0';
}

static int
sm_cmd(struct sm *m, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
sm_cmd(struct sm *m, const char *fmt, ...)
{
	va_list ap;

	buf_reset(&m->out);
	va_start(ap, fmt);
	(void)buf_vappendf(&m->out, fmt, ap);	/* unbounded */
	va_end(ap);
	if (m->o.verbose)
		fprintf(stderr, ">>> %s\n", m->out.data);
	(void)buf_appends(&m->out, "\r\n");	/* unbounded */
	if (sm_flush(m) == -1)
		return -1;
	return sm_reply(m);
}

static int
sm_connect(struct sm *m)
{
	struct sockaddr_un sun;
	struct timeval tv = { SM_TIMEOUT_S, 0 };
	const char *path = m->cfg.listen_local;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path) + 1);	/* checked by cfg */
	if ((m->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return sm_fail(EX_OSERR, "socket: %s", strerror(errno));
	(void)setsockopt(m->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	(void)setsockopt(m->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(m->fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
		return EX_OK;
	if (errno == EACCES || errno == EPERM)
		return sm_fail(EX_NOPERM, "%s: %s: this user may not submit "
		    "mail (see listen_local_group)", path, strerror(errno));
	return sm_fail(EX_TEMPFAIL, "cannot reach estafetad at %s: %s; is it "
	    "running? Message not sent", path, strerror(errno));
}

/* ------------------------------------------------------------ message */

static void
sm_xtext(struct buf *b, const char *s)
{
	for (; *s; s++)
		if (*s == '+' || *s == '=' || *s < '!' || *s > '~')
			(void)buf_appendf(b, "+%02X", (unsigned char)*s);
		else
			(void)buf_appendc(b, *s);
}

/* The header section to send: the user's fields (Bcc removed), then
 * From:, Date: and Message-ID: when missing (as Postfix's cleanup does for
 * local submissions), then the empty line. */
static int
sm_header_block(struct sm *m)
{
	struct submit_hdrinfo info;
	struct buf h = BUF_INIT(0), f = BUF_INIT(0);
	const char *errstr, *p, *nl, *name;
	unsigned char rnd[8];
	char date[64];
	time_t now = time(NULL);
	struct tm tm;

	if (submit_headers(m->hdrs.data ? m->hdrs.data : "", m->hdrs.len,
	    m->o.extract ? &m->rcpts : NULL, m->domain, &h, &info,
	    &errstr) == -1) {
		buf_free(&h);
		return sm_fail(EX_DATAERR, "message header: %s", errstr);
	}
	if (!info.from && m->sender.len == 0)
		(void)buf_appendf(&h, "From: MAILER-DAEMON@%s\n", m->domain);
	else if (!info.from) {
		name = m->o.fullname ? m->o.fullname : getenv("NAME") ?
		    getenv("NAME") : m->gecos;
		(void)submit_display_name(&f, name ? name : "");
		if (f.len > 0)
			(void)buf_appendf(&h, "From: %s <%s>\n", f.data,
			    m->sender.data);
		else
			(void)buf_appendf(&h, "From: %s\n", m->sender.data);
	}
	(void)localtime_r(&now, &tm);
	if (!info.date && strftime(date, sizeof(date),
	    "%a, %d %b %Y %H:%M:%S %z", &tm) > 0)
		(void)buf_appendf(&h, "Date: %s\n", date);
	if (!info.msgid && RAND_bytes(rnd, sizeof(rnd)) == 1 &&
	    strftime(date, sizeof(date), "%Y%m%d%H%M%S", &tm) > 0)
		(void)buf_appendf(&h, "Message-ID: <%s.%02x%02x%02x%02x%02x%02x"
		    "%02x%02x@%s>\n", date, rnd[0], rnd[1], rnd[2], rnd[3],
		    rnd[4], rnd[5], rnd[6], rnd[7], m->cfg.hostname);
	/* Every line of h ends in LF; a NUL byte is text like any other. */
	for (p = h.data; p != NULL && p < h.data + h.len; p = nl + 1) {
		nl = memchr(p, '\n', (size_t)(h.data + h.len - p));
		if (nl == NULL)
			log_panic("header line without LF");
		(void)submit_smtp_line(&m->out, p, (size_t)(nl - p));
	}
	(void)submit_smtp_line(&m->out, "", 0);
	if (m->first.len > 0 || m->first_cont)
		(void)submit_smtp_line(&m->out, m->first.data, m->first.len);
	buf_free(&h);
	buf_free(&f);
	return EX_OK;
}

/* A refusal during the transaction: the reply on stderr, its code. */
static int
sm_refused(struct sm *m, const char *what, int code)
{
	if (code < 0)
		return sm_fail(EX_TEMPFAIL, "%s: connection to estafetad lost; "
		    "message not sent", what);
	if (code < 400 || code >= 600)	/* never EX_OK: nothing was sent */
		return sm_fail(EX_PROTOCOL, "%s: %s (unexpected); message not "
		    "sent", what, m->reply.data);
	return sm_fail(submit_reply_exit(m->reply.data), "%s: %s", what,
	    m->reply.data);
}

static int
sm_envelope(struct sm *m)
{
	struct buf mail = BUF_INIT(0);
	size_t i;
	int code, rc = EX_OK, r;

	(void)buf_appendf(&mail, "MAIL FROM:<%s>", m->sender.data ?
	    m->sender.data : "");
	if (m->utf8 || m->rcpts.utf8)
		(void)buf_appends(&mail, " SMTPUTF8");
	/* The body is read after MAIL (the message streams): without -B
	 * it is declared 8BITMIME, which 7-bit text satisfies too, so
	 * 8-bit octets never travel undeclared (RFC 6152 3). */
	(void)buf_appendf(&mail, " BODY=%s", m->o.body ? m->o.body :
	    "8BITMIME");
	if (m->o.ret)
		(void)buf_appendf(&mail, " RET=%s", m->o.ret);
	if (m->o.envid) {
		(void)buf_appends(&mail, " ENVID=");
		sm_xtext(&mail, m->o.envid);
	}
	code = sm_cmd(m, "%s", mail.data);
	buf_free(&mail);
	if (code != 250)
		return sm_refused(m, "sender", code);
	/* All or nothing: a script that sees a failure may run again, so no
	 * recipient gets the message unless every one was accepted. */
	for (i = 0; i < m->rcpts.n; i++) {
		code = sm_cmd(m, "RCPT TO:<%s>%s%s", m->rcpts.v[i],
		    m->o.notify[0] ? " NOTIFY=" : "", m->o.notify);
		if (code == 250 || code == 251)
			continue;
		r = sm_refused(m, m->rcpts.v[i], code);
		if (code < 0)
			return r;
		if (rc == EX_OK || rc == EX_TEMPFAIL)
			rc = r;
	}
	if (rc != EX_OK) {
		(void)sm_cmd(m, "QUIT");	/* leaving anyway */
		return sm_fail(rc, "message not sent");
	}
	return EX_OK;
}

static int
sm_deliver(struct sm *m)
{
	int code, rc;

	/* The header section first: with -t it names the recipients. */
	if (sm_read(m, 1) == -1)
		return sm_fail(m->in_dataerr ? EX_DATAERR : EX_IOERR,
		    "reading the message: %s", m->in_err);
	buf_init(&m->out, 0);
	if ((rc = sm_header_block(m)) != EX_OK)
		return rc;
	if (m->rcpts.n == 0)
		return sm_fail(m->o.extract ? EX_DATAERR : EX_USAGE,
		    "no recipients: none in To:, Cc: or Bcc: (-t)");
	{
		struct buf hb = m->out;	/* kept while the envelope goes */

		buf_init(&m->out, 0);
		if ((rc = sm_connect(m)) != EX_OK) {
			buf_free(&hb);
			return rc;
		}
		code = sm_reply(m);
		if (code == 220)
			code = sm_cmd(m, "EHLO localhost");
		if (code != 250) {
			buf_free(&hb);
			return sm_refused(m, "estafetad", code);
		}
		if ((rc = sm_envelope(m)) != EX_OK ||
		    (code = sm_cmd(m, "DATA")) != 354) {
			buf_free(&hb);
			return rc != EX_OK ? rc : sm_refused(m, "DATA", code);
		}
		buf_free(&m->out);
		m->out = hb;
	}
	while (!m->werr) {
		if (sm_flush(m) == -1 || m->phase == SM_DONE)
			break;
		if (sm_read(m, 0) == -1)
			return sm_fail(EX_IOERR, "reading the message: %s",
			    m->in_err ? m->in_err : "error");
	}
	(void)buf_appends(&m->out, ".\r\n");	/* unbounded */
	if (sm_flush(m) == -1 || (code = sm_reply(m)) < 0)
		return sm_fail(EX_TEMPFAIL, "connection to estafetad lost; "
		    "message not sent");
	if (code != 250)
		return sm_refused(m, "message", code);
	(void)sm_cmd(m, "QUIT");	/* queued: the answer changes nothing */
	return EX_OK;
}

/* ------------------------------------------------------------ -bs */

/* SMTP on stdin/stdout, relayed as is to the daemon. */
static int
sm_smtp(struct sm *m)
{
	struct pollfd pfd[2];
	char b[16384];
	ssize_t n;
	int rc, in_open = 1;

	if ((rc = sm_connect(m)) != EX_OK)
		return rc;
	for (;;) {
		pfd[0].fd = in_open ? STDIN_FILENO : -1;
		pfd[0].events = POLLIN;
		pfd[1].fd = m->fd;
		pfd[1].events = POLLIN;
		n = poll(pfd, 2, SM_TIMEOUT_S * 1000);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return sm_fail(EX_TEMPFAIL, "-bs: %s", n == 0 ?
			    "timeout" : strerror(errno));
		if (pfd[1].revents) {
			n = read(m->fd, b, sizeof(b));
			if (n <= 0)
				return EX_OK;	/* the daemon closed: done */
			if (write(STDOUT_FILENO, b, (size_t)n) != n)
				return sm_fail(EX_IOERR, "-bs: stdout: %s",
				    strerror(errno));
		}
		if (in_open && pfd[0].revents) {
			n = read(STDIN_FILENO, b, sizeof(b));
			if (n <= 0) {
				in_open = 0;
				(void)shutdown(m->fd, SHUT_WR);	/* EOF on */
			} else if (sm_write(m, b, (size_t)n) == -1)
				return sm_fail(EX_TEMPFAIL, "-bs: connection "
				    "to estafetad lost");
		}
	}
}

/* ------------------------------------------------------------ main */

static int
sm_setup(struct sm *m)
{
	struct buf err = BUF_INIT(0);
	struct passwd *pw;
	const char *errstr;
	char *comma;
	size_t i;

	if (relay_cfg_load(&m->cfg, m->cfg_path, NULL, &err) == -1) {
		fprintf(stderr, "estafeta-sendmail: configuration errors:\n%s",
		    buf_cstr(&err));
		buf_free(&err);
		return EX_CONFIG;
	}
	if (m->cfg.listen_local[0] == '\0')
		return sm_fail(EX_CONFIG, "%s: listen_local is not set: local "
		    "submission is off", m->cfg_path);
	m->domain = m->cfg.local_sender_domain[0] ? m->cfg.local_sender_domain :
	    m->cfg.hostname;
	if ((pw = getpwuid(getuid())) == NULL)
		return sm_fail(EX_NOUSER, "no login name for uid %u",
		    (unsigned)getuid());
	m->login = xstrdup(pw->pw_name);
	m->gecos = xstrdup(pw->pw_gecos ? pw->pw_gecos : "");
	if ((comma = strchr(m->gecos, ',')) != NULL)
		*comma = '\0';	/* "Full Name,room,phone" */
	if (submit_sender(m->o.sender ? m->o.sender : m->login, m->domain,
	    &m->sender, &m->utf8, &errstr) == -1)
		return sm_fail(EX_DATAERR, "bad sender address '%s': %s",
		    m->o.sender ? m->o.sender : m->login, errstr);
	for (i = 0; i < m->o.nrcpt; i++)
		if (submit_rcpts_add_list(&m->rcpts, m->o.rcpts[i],
		    strlen(m->o.rcpts[i]), m->domain, &errstr) == -1)
			return sm_fail(EX_DATAERR, "bad recipient address "
			    "'%s': %s", m->o.rcpts[i], errstr);
	return EX_OK;
}

static int
sm_ctl(struct sm *m, const char *what)
{
	execl(BINDIR "/estafetactl", "estafetactl", "-c", m->cfg_path, "queue",
	    what, (char *)NULL);
	return sm_fail(EX_UNAVAILABLE, "cannot run %s/estafetactl: %s",
	    BINDIR, strerror(errno));
}

int
main(int argc, char *argv[])
{
	struct sm mm, *m = &mm;
	struct buf err = BUF_INIT(0);
	int rc;

	memset(m, 0, sizeof(*m));
	m->fd = -1;
	log_init("estafeta-sendmail", LOG_TARGET_STDERR, LOG_LEVEL_WARN);
	buf_init(&m->hdrs, SUBMIT_HDR_MAX);
	buf_init(&m->reply, SM_REPLY_MAX);
	(void)signal(SIGPIPE, SIG_IGN);
	if (submit_parse_args(argc, argv, &m->o, &err) == -1) {
		rc = sm_fail(EX_USAGE, "%s", buf_cstr(&err));
		usage();
		buf_free(&err);
		return rc;
	}
	m->cfg_path = m->o.config ? m->o.config :
	    SYSCONFDIR "/estafeta/estafetad.conf";
	switch (m->o.mode) {
	case SUBMIT_NEWALIASES:
		fprintf(stderr, "estafeta-sendmail: aliases live in the users "
		    "database (estafetactl alias): nothing to rebuild\n");
		return EX_OK;
	case SUBMIT_NOTHING:
		return EX_OK;	/* -q<interval>: qmgr schedules by itself */
	case SUBMIT_MAILQ:
		return sm_ctl(m, "list");
	case SUBMIT_FLUSH:
		return sm_ctl(m, "flush");
	default:
		break;
	}
	if ((rc = sm_setup(m)) == EX_OK) {
		if (m->o.mode == SUBMIT_SMTP)
			rc = sm_smtp(m);
		else if (!m->o.extract && m->rcpts.n == 0) {
			rc = sm_fail(EX_USAGE, "no recipients given (name them "
			    "or use -t)");
			usage();
		} else
			rc = sm_deliver(m);
	}
	if (m->fd != -1)
		(void)close(m->fd);	/* the outcome is decided */
	relay_cfg_free(&m->cfg);
	submit_rcpts_free(&m->rcpts);
	buf_free(&m->sender);
	buf_free(&m->hdrs);
	buf_free(&m->first);
	buf_free(&m->out);
	buf_free(&m->reply);
	free(m->login);
	free(m->gecos);
	return rc;
}
