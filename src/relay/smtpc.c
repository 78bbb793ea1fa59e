/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * The outbound SMTP/LMTP client: see smtpc.h. Every reply is read line by
 * line through the connection's bounded line reader under the deadline of
 * the step, and parsed by smtpc_reply_line() (the same parser the fuzzer
 * drives through smtpc_parse_reply()). A session is a small state: broken
 * (the connection is gone or out of sync: no more I/O, not even QUIT),
 * closing (the peer said 421: every later reply is that one), need_rset
 * (the last transaction did not end cleanly).
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/conn.h"
#include "lib/log.h"
#include "lib/netaddr.h"
#include "lib/sasl.h"
#include "lib/uxtext.h"
#include "lib/xalloc.h"
#include "relay/downgrade.h"
#include "relay/smtpc.h"
#include "relay/spool.h"

#define SMTPC_CUT	"..."	/* ends a cut line or text */
#define SMTPC_AUTH_MAX	2048	/* "\0user\0pass" before base64 */

/* Defaults for a zero timeout, ms. */
#define TO_CONNECT	(30 * 1000LL)
#define TO_GREETING	(300 * 1000LL)
#define TO_HELO		(300 * 1000LL)
#define TO_MAIL		(300 * 1000LL)
#define TO_RCPT		(300 * 1000LL)
#define TO_DATA_INIT	(120 * 1000LL)
#define TO_DATA_BLOCK	(180 * 1000LL)
#define TO_DATA_DONE	(600 * 1000LL)
#define TO_QUIT		(10 * 1000LL)
#define TO_RSET		(20 * 1000LL)
#define TO(s, f, d)	((s)->opts.to.f > 0 ? (s)->opts.to.f : (d))

struct smtpc {
	struct conn	 c;
	int		 connected;	/* c holds a socket */
	struct smtpc_opts opts;
	struct smtpc_caps caps;
	char		 peer[128];	/* for log lines */
	int		 broken;	/* lost or out of sync: no more I/O */
	int		 closing;	/* the peer said 421 (kept in rep) */
	int		 unusable;	/* RSET failed: QUIT only */
	int		 need_rset;
	unsigned long long bare_lf;
	struct smtpc_reply rep;		/* the last reply */
	struct buf	 long_line;	/* the kept part of a line too long */
	struct buf	 why;		/* local reason of the last failure */
	char		 why_enh[16];
};

static int	smtpc_use_bdat(const struct smtpc *, const struct spool_env *);

/* Recipient states during smtpc_send. */
enum { RC_PENDING = 0, RC_SKIP, RC_REFUSED, RC_ACCEPTED };

/* ------------------------------------------------------------ parser */

static int
smtpc_isdigit(char c)
{
	return c >= '0' && c <= '9';
}

void
smtpc_reply_init(struct smtpc_reply *r)
{
	memset(r, 0, sizeof(*r));
	buf_init(&r->text, SMTPC_TEXT_MAX + sizeof(SMTPC_CUT));
	buf_init(&r->lines, SMTPC_LINES_KEPT);
}

void
smtpc_reply_reset(struct smtpc_reply *r)
{
	r->code = 0;
	r->enhanced[0] = '\0';
	buf_reset(&r->text);
	buf_reset(&r->lines);
	r->nlines = 0;
	r->done = 0;
	r->truncated = 0;
}

void
smtpc_reply_free(struct smtpc_reply *r)
{
	buf_free(&r->text);
	buf_free(&r->lines);
	smtpc_reply_reset(r);
}

/*
 * An RFC 3463 code at p[0..n): class "." 1*3digit "." 1*3digit, then SP
 * or the end. Its length, or 0.
 */
static size_t
smtpc_enh_len(const char *p, size_t n)
{
	size_t i = 2, k;
	int part;

	if (n < 5 || (p[0] != '2' && p[0] != '4' && p[0] != '5') ||
	    p[1] != '.')
		return 0;
	for (part = 0; part < 2; part++) {
		for (k = 0; k < 3 && i < n && smtpc_isdigit(p[i]); k++)
			i++;
		if (k == 0)
			return 0;
		if (part == 0) {
			if (i >= n || p[i] != '.')
				return 0;
			i++;
		}
	}
	return i == n || p[i] == ' ' ? i : 0;
}

/* Appends p[0..n) with control characters shown as '?', HT as SP. */
static void
smtpc_append_clean(struct buf *b, const char *p, size_t n)
{
	char *w;
	size_t i;

	if ((w = buf_reserve(b, n)) == NULL)
		log_panic("smtpc: reply text limit");	/* bounded above */
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		w[i] = c == '\t' ? ' ' : (c < ' ' || c == 0x7f) ? '?' :
		    (char)c;
	}
	b->len += n;
	b->data[b->len] = '\0';
}

/*
 * The enhanced code at the start of a line's text t[0..tl): the first
 * line's is the reply's; it is dropped from the text of every line that
 * repeats it (the others keep theirs as text).
 */
static void
smtpc_reply_enh(struct smtpc_reply *r, const char **t, size_t *tl)
{
	size_t el = smtpc_enh_len(*t, *tl);

	if (el == 0 || (*t)[0] - '0' != r->code / 100)
		return;
	if (r->nlines == 0)
		(void)snprintf(r->enhanced, sizeof(r->enhanced), "%.*s",
		    (int)el, *t);	/* el <= 9 */
	if (strlen(r->enhanced) != el || memcmp(r->enhanced, *t, el) != 0)
		return;
	*t += el;
	*tl -= el;
	if (*tl > 0) {
		(*t)++;
		(*tl)--;
	}
}

/*
 * Adds a line's text t[0..tl) to r->text, after a space; cut marks a line
 * cut short. Past SMTPC_TEXT_MAX the text ends in "..." and grows no more.
 */
static void
smtpc_reply_text(struct smtpc_reply *r, const char *t, size_t tl, int cut)
{
	size_t sep, room;

	if (r->text.len >= SMTPC_TEXT_MAX)
		return;		/* full: "..." is there already */
	sep = r->text.len > 0 && tl > 0;
	room = SMTPC_TEXT_MAX - r->text.len;
	if (sep + tl > room) {
		tl = room > sep ? room - sep : 0;
		cut = 1;
	}
	if (sep && tl > 0)
		(void)buf_appendc(&r->text, ' ');	/* fits: room */
	smtpc_append_clean(&r->text, t, tl);
	if (cut) {
		/* Past SMTPC_TEXT_MAX when the room ran out: full. */
		(void)buf_appends(&r->text, SMTPC_CUT);	/* max has room */
		r->truncated = 1;
	}
}

int
smtpc_reply_line(struct smtpc_reply *r, const char *line, size_t len,
    int enhanced, const char **errstr_r)
{
	const char *t;
	size_t tl;
	int code, last, cut = 0;

	if (r->done) {
		*errstr_r = "reply already complete";
		return -1;
	}
	if (len > 0 && line[len - 1] == '\n') {
		len--;
		if (len > 0 && line[len - 1] == '\r')
			len--;
	}
	if (len + 2 > SMTPC_LINE_MAX) {
		len = SMTPC_LINE_MAX - 2;	/* the rest is dropped */
		cut = 1;
	}
	if (r->nlines >= SMTPC_LINES_MAX) {
		*errstr_r = "too many reply lines";
		return -1;
	}
	if (len < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' ||
	    line[1] > '5' || !smtpc_isdigit(line[2])) {
		*errstr_r = "malformed reply code";
		return -1;
	}
	if (len > 3 && line[3] != ' ' && line[3] != '-') {
		*errstr_r = "malformed reply separator";
		return -1;
	}
	code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	if (r->nlines > 0 && code != r->code) {
		*errstr_r = "inconsistent reply codes";
		return -1;
	}
	r->code = code;
	last = len == 3 || line[3] == ' ';
	t = len > 3 ? line + 4 : line + 3;
	tl = len > 3 ? len - 4 : 0;
	if (r->lines.len + tl + 1 <= SMTPC_LINES_KEPT) {
		smtpc_append_clean(&r->lines, t, tl);
		(void)buf_appendc(&r->lines, '\n');	/* fits: checked */
	} else
		r->truncated = 1;
	if (enhanced && code / 100 != 3)
		smtpc_reply_enh(r, &t, &tl);
	smtpc_reply_text(r, t, tl, cut);
	r->truncated |= cut;
	r->nlines++;
	r->done = last;
	return last;
}

int
smtpc_parse_reply(const char *buf, size_t len, int enhanced,
    struct smtpc_reply *r, size_t *used_r, const char **errstr_r)
{
	const char *nl;
	size_t off = 0;
	int rc;

	smtpc_reply_reset(r);
	*used_r = 0;
	for (;;) {
		nl = off < len ? memchr(buf + off, '\n', len - off) : NULL;
		if (nl == NULL)
			return 0;
		rc = smtpc_reply_line(r, buf + off, (size_t)(nl - buf) + 1 -
		    off, enhanced, errstr_r);
		off = (size_t)(nl - buf) + 1;
		if (rc == -1)
			return -1;
		if (rc == 1) {
			*used_r = off;
			return 1;
		}
	}
}

/* ------------------------------------------------------------ results */

void
smtpc_result_free(struct smtpc_result *r)
{
	free(r->text);
	memset(r, 0, sizeof(*r));
}

/*
 * r from a reply: a success when it is a 2xx and failed is not set. A 2xx
 * or 3xx where it does not belong (failed set) is reported as a local
 * protocol failure (code 0, temporary) quoting it, so that no failure
 * ever carries a 2xx code.
 */
static void
smtpc_res_reply(struct smtpc_result *r, const struct smtpc_reply *rep,
    int failed)
{
	struct buf b = BUF_INIT(0);

	smtpc_result_free(r);
	if (rep->code < 400 && failed) {
		(void)buf_appendf(&b, "unexpected reply: %d %s%s%s", rep->code,
		    rep->enhanced, rep->enhanced[0] ? " " : "",
		    buf_cstr(&rep->text));	/* unbounded */
		(void)snprintf(r->enhanced, sizeof(r->enhanced), "4.5.0");
		r->text = buf_steal(&b);
		r->temporary = 1;
		return;
	}
	r->code = rep->code;
	(void)snprintf(r->enhanced, sizeof(r->enhanced), "%s", rep->enhanced);
	r->text = xstrdup(buf_cstr(&rep->text));
	if (rep->code >= 500)
		r->permanent = 1;
	else if (rep->code >= 400)
		r->temporary = 1;
}

static void
smtpc_res_local(struct smtpc_result *r, int permanent, const char *enh,
    const char *text)
{
	smtpc_result_free(r);
	(void)snprintf(r->enhanced, sizeof(r->enhanced), "%s", enh);
	r->text = xstrdup(text);
	if (permanent)
		r->permanent = 1;
	else
		r->temporary = 1;
}

/* The local reason of the last failure, as a temporary result. */
static void
smtpc_res_why(struct smtpc *s, struct smtpc_result *r)
{
	smtpc_res_local(r, 0, s->why_enh, buf_cstr(&s->why));
}

static void
smtpc_why(struct smtpc *s, const char *enh, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
smtpc_why(struct smtpc *s, const char *enh, const char *fmt, ...)
{
	va_list ap;

	buf_reset(&s->why);
	va_start(ap, fmt);
	(void)buf_vappendf(&s->why, fmt, ap);	/* unbounded buffer */
	va_end(ap);
	(void)snprintf(s->why_enh, sizeof(s->why_enh), "%s", enh);
}

/* ------------------------------------------------------------ I/O */

/* After a failed conn call: the connection is gone. Sets why. */
static void
smtpc_io_failed(struct smtpc *s, const char *doing)
{
	s->broken = 1;
	if (s->c.err == CONN_ETIMEOUT)
		smtpc_why(s, "4.4.2", "timeout %s", doing);
	else
		smtpc_why(s, "4.4.2", "lost connection %s (%s)", doing,
		    conn_strerror(&s->c));
}

static int
smtpc_flush(struct smtpc *s, long long ms, const char *what)
{
	char doing[128];

	if (s->broken)
		return -1;
	conn_set_deadline(&s->c, ms);
	if (conn_flush(&s->c) == 1)
		return 1;
	(void)snprintf(doing, sizeof(doing), "sending %s", what);
	smtpc_io_failed(s, doing);
	return -1;
}

/*
 * The next reply line, LF included, in *line_r (valid until the next read),
 * like conn_getline but never refusing a long line: past SMTPC_LINE_MAX
 * octets without an LF, the first SMTPC_LINE_MAX are kept (in
 * s->long_line, without LF: smtpc_reply_line then cuts the line) and the
 * rest is read and dropped up to the LF. Holds at most SMTPC_LINE_MAX
 * octets of a line. 1, or -1 (conn error set).
 */
static int
smtpc_getline(struct smtpc *s, const char **line_r, size_t *len_r)
{
	const char *p, *nl;
	size_t avail, scanned = 0;
	int skipping = 0;

	for (;;) {
		p = conn_peek(&s->c, &avail);
		nl = avail > scanned ? memchr(p + scanned, '\n',
		    avail - scanned) : NULL;
		if (skipping) {
			conn_consume(&s->c, nl ? (size_t)(nl - p) + 1 : avail);
			scanned = 0;
			if (nl != NULL) {
				*line_r = s->long_line.data;
				*len_r = s->long_line.len;
				return 1;
			}
		} else if (nl != NULL && (size_t)(nl - p) + 1 <= SMTPC_LINE_MAX) {
			*line_r = p;
			*len_r = (size_t)(nl - p) + 1;
			conn_consume(&s->c, *len_r);
			return 1;
		} else if (nl != NULL || avail > SMTPC_LINE_MAX) {
			buf_reset(&s->long_line);
			if (buf_append(&s->long_line, p, SMTPC_LINE_MAX) == -1)
				log_panic("smtpc: long line");	/* max fits */
			skipping = 1;
			continue;	/* consumes it and what follows */
		} else
			scanned = avail;
		if (conn_fill(&s->c) == -1)
			return -1;
	}
}

/*
 * Reads one reply into s->rep within ms. 1, or -1 with why set (and the
 * session broken). After a 421 returns that reply again without reading.
 */
static int
smtpc_read(struct smtpc *s, long long ms, const char *what)
{
	const char *line, *errstr = NULL;
	char doing[128];
	size_t len;
	int r;

	if (s->closing)
		return 1;
	if (s->broken)
		return -1;
	smtpc_reply_reset(&s->rep);
	conn_set_deadline(&s->c, ms);
	(void)snprintf(doing, sizeof(doing), "waiting for %s", what);
	for (;;) {
		r = smtpc_getline(s, &line, &len);
		if (r != 1) {
			smtpc_io_failed(s, doing);
			return -1;
		} else
			r = smtpc_reply_line(&s->rep, line, len,
			    s->caps.enhancedstatuscodes, &errstr);
		if (errstr != NULL) {
			s->broken = 1;
			smtpc_why(s, "4.5.0", "protocol error %s: %s", doing,
			    errstr);
			return -1;
		}
		if (r == 1)
			break;
	}
	if (s->rep.code == 421)
		s->closing = 1;
	return 1;
}

/* Sends one command (printf format, CRLF included) and reads the reply. */
static int
smtpc_cmd(struct smtpc *s, long long ms, const char *what,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int
smtpc_cmd(struct smtpc *s, long long ms, const char *what,
    const char *fmt, ...)
{
	char reply_to[64];
	va_list ap;
	int r;

	if (s->closing)
		return 1;
	va_start(ap, fmt);
	r = buf_vappendf(&s->c.wbuf, fmt, ap);
	va_end(ap);
	if (r == -1)
		log_panic("smtpc: command too long");	/* unbounded */
	(void)snprintf(reply_to, sizeof(reply_to), "the reply to %s", what);
	if (smtpc_flush(s, ms, what) == -1)
		return -1;
	return smtpc_read(s, ms, reply_to);
}

/* Wipes what the write buffer held (a command with a secret). */
static void
smtpc_wipe_wbuf(struct smtpc *s)
{
	if (s->c.wbuf.data != NULL)
		xbzero(s->c.wbuf.data, s->c.wbuf.cap);
}

static void
smtpc_disconnect(struct smtpc *s)
{
	if (s->connected)
		conn_close(&s->c);
	s->connected = 0;
	s->broken = 1;
}

static int
smtpc_connect(struct smtpc *s, const struct sockaddr *addr, socklen_t len)
{
	struct pollfd pfd;
	long long deadline = conn_now_ms() + TO(s, connect, TO_CONNECT), left;
	int fd, err = 0, r;
	socklen_t elen = sizeof(err);

	fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (fd == -1) {
		smtpc_why(s, "4.4.0", "socket: %s", strerror(errno));
		return -1;
	}
	if (connect(fd, addr, len) == -1) {
		if (errno != EINPROGRESS) {
			smtpc_why(s, "4.4.1", "connect: %s", strerror(errno));
			goto fail;
		}
		pfd.fd = fd;
		pfd.events = POLLOUT;
		for (;;) {
			if ((left = deadline - conn_now_ms()) <= 0) {
				smtpc_why(s, "4.4.1", "connect: timeout");
				goto fail;
			}
			r = poll(&pfd, 1, left > 0x7fffffff ? 0x7fffffff :
			    (int)left);
			if (r == 1)
				break;
			if (r == -1 && errno != EINTR) {
				smtpc_why(s, "4.4.1", "connect: poll: %s",
				    strerror(errno));
				goto fail;
			}
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) == -1)
			err = errno;
		if (err != 0) {
			smtpc_why(s, "4.4.1", "connect: %s", strerror(err));
			goto fail;
		}
	}
	conn_init(&s->c, fd);
	s->connected = 1;
	s->broken = s->closing = s->unusable = s->need_rset = 0;
	return 1;
fail:
	(void)close(fd);	/* never connected */
	return -1;
}

/* ------------------------------------------------------------ session */

static int
smtpc_kw(const char *p, size_t n, const char *kw)
{
	return strlen(kw) == n && strncasecmp(p, kw, n) == 0;
}

/* SIZE's parameter; 0 when absent or unparsable (no limit known). */
static unsigned long long
smtpc_size_param(const char *p, size_t n)
{
	unsigned long long v = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if (!smtpc_isdigit(p[i]) || v > (~0ULL - 9) / 10)
			return 0;
		v = v * 10 + (unsigned long long)(p[i] - '0');
	}
	return v;
}

/* AUTH's mechanisms: p[0..n) separated by spaces. */
static void
smtpc_auth_mechs(struct smtpc *s, const char *p, size_t n)
{
	size_t i = 0, j;

	s->caps.auth = 1;
	while (i < n) {
		while (i < n && p[i] == ' ')
			i++;
		for (j = i; j < n && p[j] != ' '; j++)
			;
		if (smtpc_kw(p + i, j - i, "PLAIN"))
			s->caps.auth_plain = 1;
		else if (smtpc_kw(p + i, j - i, "LOGIN"))
			s->caps.auth_login = 1;
		i = j;
	}
}

/* One EHLO line after the first: "KEYWORD[ params]" (or "AUTH=..."). */
static void
smtpc_ehlo_line(struct smtpc *s, const char *p, size_t n)
{
	size_t k, ps;

	for (k = 0; k < n && p[k] != ' ' && p[k] != '='; k++)
		;
	ps = k < n ? k + 1 : n;
	if (smtpc_kw(p, k, "PIPELINING"))
		s->caps.pipelining = 1;
	else if (smtpc_kw(p, k, "8BITMIME"))
		s->caps.eightbitmime = 1;
	else if (smtpc_kw(p, k, "SMTPUTF8"))
		s->caps.smtputf8 = 1;
	else if (smtpc_kw(p, k, "DSN"))
		s->caps.dsn = 1;
	else if (smtpc_kw(p, k, "CHUNKING"))
		s->caps.chunking = 1;
	else if (smtpc_kw(p, k, "BINARYMIME"))
		s->caps.binarymime = 1;
	else if (smtpc_kw(p, k, "STARTTLS"))
		s->caps.starttls = 1;
	else if (smtpc_kw(p, k, "ENHANCEDSTATUSCODES"))
		s->caps.enhancedstatuscodes = 1;
	else if (smtpc_kw(p, k, "SIZE")) {
		s->caps.size_ext = 1;
		s->caps.size = smtpc_size_param(p + ps, n - ps);
	} else if (smtpc_kw(p, k, "AUTH"))
		smtpc_auth_mechs(s, p + ps, n - ps);
}

/* Resets the extensions and reads them from the EHLO reply in s->rep. */
static void
smtpc_ehlo_caps(struct smtpc *s, int esmtp)
{
	const char *p = buf_cstr(&s->rep.lines), *nl;
	int first = 1;

	s->caps.esmtp = esmtp;
	s->caps.pipelining = s->caps.eightbitmime = s->caps.smtputf8 = 0;
	s->caps.dsn = s->caps.chunking = s->caps.starttls = 0;
	s->caps.binarymime = 0;
	s->caps.enhancedstatuscodes = s->caps.auth = 0;
	s->caps.auth_plain = s->caps.auth_login = 0;
	s->caps.size_ext = 0;
	s->caps.size = 0;
	if (!esmtp)
		return;
	for (; (nl = strchr(p, '\n')) != NULL; p = nl + 1) {
		if (!first)
			smtpc_ehlo_line(s, p, (size_t)(nl - p));
		first = 0;
	}
}

/* Fails the open with the reply in s->rep. */
static int
smtpc_fail_reply(struct smtpc *s, struct smtpc_result *err)
{
	smtpc_res_reply(err, &s->rep, 1);
	return -1;
}

static int
smtpc_fail_why(struct smtpc *s, struct smtpc_result *err)
{
	smtpc_res_why(s, err);
	return -1;
}

/* Required TLS not offered, refused or failed: why, and tls_failed. */
static int
smtpc_fail_tls(struct smtpc *s, struct smtpc_result *err)
{
	smtpc_res_why(s, err);
	err->tls_failed = 1;
	return -1;
}

/* AUTH failed (refused, or not possible here): why, and auth_failed. */
static int
smtpc_fail_auth(struct smtpc *s, struct smtpc_result *err)
{
	smtpc_res_why(s, err);
	err->auth_failed = 1;
	return -1;
}

/* EHLO (or LHLO), falling back to HELO on a 5xx. 1 or -1. */
static int
smtpc_hello(struct smtpc *s, struct smtpc_result *err)
{
	const char *verb = s->opts.lmtp ? "LHLO" : "EHLO";

	if (smtpc_cmd(s, TO(s, helo, TO_HELO), verb, "%s %s\r\n", verb,
	    s->opts.helo) == -1)
		return smtpc_fail_why(s, err);
	if (s->rep.code / 100 == 2) {
		smtpc_ehlo_caps(s, 1);
		return 1;
	}
	if (s->opts.lmtp || s->rep.code < 500)
		return smtpc_fail_reply(s, err);
	if (smtpc_cmd(s, TO(s, helo, TO_HELO), "HELO", "HELO %s\r\n",
	    s->opts.helo) == -1)
		return smtpc_fail_why(s, err);
	if (s->rep.code / 100 != 2)
		return smtpc_fail_reply(s, err);
	smtpc_ehlo_caps(s, 0);
	return 1;
}

/*
 * STARTTLS per policy, then EHLO again. 1 (TLS up, or clear text allowed),
 * -1 with err, or -2: MAY and the connection is lost (reconnect in clear).
 */
static int
smtpc_starttls(struct smtpc *s, enum smtpc_tls tls, struct smtpc_result *err)
{
	const char *errstr = NULL, *name = s->opts.tls_verify_name;

	if (tls == SMTPC_TLS_NONE)
		return 1;
	if (!s->caps.starttls) {
		if (tls == SMTPC_TLS_MAY)
			return 1;
		smtpc_why(s, "4.7.4", "TLS required but STARTTLS not offered");
		return smtpc_fail_tls(s, err);
	}
	if (smtpc_cmd(s, TO(s, helo, TO_HELO), "STARTTLS", "STARTTLS\r\n") ==
	    -1)
		return tls == SMTPC_TLS_MAY ? -2 : smtpc_fail_why(s, err);
	if (s->rep.code != 220) {
		if (s->closing)
			return smtpc_fail_reply(s, err);
		if (tls == SMTPC_TLS_MAY)
			return 1;
		smtpc_why(s, "4.7.4", "TLS required but STARTTLS refused: "
		    "%d %s%s%s", s->rep.code, s->rep.enhanced,
		    s->rep.enhanced[0] ? " " : "", buf_cstr(&s->rep.text));
		return smtpc_fail_tls(s, err);
	}
	conn_set_deadline(&s->c, TO(s, helo, TO_HELO));
	if (conn_starttls_client(&s->c, s->opts.tls_ctx, name,
	    tls == SMTPC_TLS_VERIFY ? name : NULL, &errstr) == -1) {
		s->broken = 1;
		smtpc_why(s, "4.7.5", "TLS handshake failed: %s", errstr);
		return tls == SMTPC_TLS_MAY ? -2 : smtpc_fail_tls(s, err);
	}
	s->caps.tls = 1;
	s->caps.tls_version = conn_tls_version(&s->c);
	s->caps.tls_cipher = conn_tls_cipher(&s->c);
	return smtpc_hello(s, err);
}

/* Base64 of p[0..n) as one command line "prefix B64\r\n"; wipes copies. */
static int
smtpc_auth_step(struct smtpc *s, const char *prefix, const void *p,
    size_t n, const char *what)
{
	struct buf b64 = BUF_INIT(0);
	int r;

	if (sasl_b64_encode(p, n, &b64) == -1)
		log_panic("smtpc: base64");	/* unbounded buffer */
	r = smtpc_cmd(s, TO(s, helo, TO_HELO), what, "%s%s\r\n", prefix,
	    buf_cstr(&b64));
	smtpc_wipe_wbuf(s);
	if (b64.data != NULL)
		xbzero(b64.data, b64.cap);
	buf_free(&b64);
	return r;
}

/*
 * The peer did not answer 235 to our AUTH. A 5xx (535 bad credentials,
 * 534, 538, a 501 to our cancel...) is a problem of the account or its
 * configuration, not of the messages: it is reported as temporary with
 * the class of the enhanced code changed to 4 (4.7.0 when there is none),
 * the server's reply kept in the text, so that mail waits for the
 * operator's fix instead of bouncing (Postfix's smtp_sasl_auth_soft_bounce
 * does the same). A 4xx (454 4.7.0 temporary failure) says the same way
 * what failed. Both set err->auth_failed: the next hop answered, so this
 * is no sign of congestion. A 421 (or a connection the peer is closing)
 * fails as the reply says, like a 421 anywhere. -1.
 */
static int
smtpc_auth_refused(struct smtpc *s, struct smtpc_result *err)
{
	struct buf esc = BUF_INIT(0);
	char enh[16];

	if (s->rep.code == 421 || s->closing)
		return smtpc_fail_reply(s, err);
	(void)snprintf(enh, sizeof(enh), "4%s", s->rep.enhanced[0] == '5' ||
	    s->rep.enhanced[0] == '4' ? s->rep.enhanced + 1 : ".7.0");
	smtpc_why(s, enh, "authentication failed, the server said: %d %s%s%s",
	    s->rep.code, s->rep.enhanced, s->rep.enhanced[0] ? " " : "",
	    buf_cstr(&s->rep.text));
	/* A 4xx says nothing about the credentials: only retried. */
	log_warn("smtpc auth failed peer=%s reply=\"%s\" (temporary: mail "
	    "%s)", s->peer, log_escape(&esc, s->why.data, s->why.len, 400),
	    s->rep.code >= 500 ? "waits until the credentials are fixed" :
	    "is retried later");
	buf_free(&esc);
	return smtpc_fail_auth(s, err);
}

/* AUTH PLAIN with an initial response, or LOGIN. 1 or -1 with err. */
static int
smtpc_auth(struct smtpc *s, struct smtpc_result *err)
{
	const char *user = s->opts.auth_user, *pass = s->opts.auth_pass;
	struct buf msg = BUF_INIT(SMTPC_AUTH_MAX);
	int r;

	if (user == NULL || !s->caps.auth)
		return 1;
	if (!s->caps.tls && !s->opts.auth_cleartext) {
		smtpc_why(s, "4.7.0", "AUTH refused over clear text");
		return smtpc_fail_auth(s, err);
	}
	if (pass == NULL)
		pass = "";
	if (s->caps.auth_plain) {
		if (buf_appendc(&msg, '\0') == -1 ||
		    buf_appends(&msg, user) == -1 ||
		    buf_appendc(&msg, '\0') == -1 ||
		    buf_appends(&msg, pass) == -1) {
			if (msg.data != NULL)
				xbzero(msg.data, msg.cap);
			buf_free(&msg);
			smtpc_why(s, "4.7.0", "AUTH credentials too long");
			return smtpc_fail_auth(s, err);
		}
		r = smtpc_auth_step(s, "AUTH PLAIN ", msg.data, msg.len,
		    "AUTH");
		xbzero(msg.data, msg.cap);
		buf_free(&msg);
		if (r == 1 && s->rep.code == 334) {
			/* It ignored the initial response: cancel. */
			if (smtpc_cmd(s, TO(s, helo, TO_HELO), "AUTH",
			    "*\r\n") == -1)
				return smtpc_fail_why(s, err);
		}
	} else if (s->caps.auth_login) {
		r = smtpc_cmd(s, TO(s, helo, TO_HELO), "AUTH",
		    "AUTH LOGIN\r\n");
		if (r == 1 && s->rep.code == 334)
			r = smtpc_auth_step(s, "", user, strlen(user),
			    "AUTH LOGIN user name");
		if (r == 1 && s->rep.code == 334)
			r = smtpc_auth_step(s, "", pass, strlen(pass),
			    "AUTH LOGIN password");
	} else {
		smtpc_why(s, "4.7.0", "no supported AUTH mechanism offered "
		    "(PLAIN or LOGIN)");
		return smtpc_fail_auth(s, err);
	}
	if (r == -1)
		return smtpc_fail_why(s, err);
	if (s->rep.code != 235)
		return smtpc_auth_refused(s, err);
	s->caps.authenticated = 1;
	return 1;
}

/* One connection attempt: 1, -1 with err, -2 (MAY: retry in clear). */
static int
smtpc_session(struct smtpc *s, const struct sockaddr *addr, socklen_t len,
    enum smtpc_tls tls, struct smtpc_result *err)
{
	int r;

	if (smtpc_connect(s, addr, len) == -1)
		return smtpc_fail_why(s, err);
	if (smtpc_read(s, TO(s, greeting, TO_GREETING), "the greeting") == -1)
		return smtpc_fail_why(s, err);
	if (s->rep.code != 220)
		return smtpc_fail_reply(s, err);
	if (smtpc_hello(s, err) == -1)
		return -1;
	if ((r = smtpc_starttls(s, tls, err)) != 1)
		return r;
	return smtpc_auth(s, err);
}

static void
smtpc_peer_name(struct smtpc *s, const struct sockaddr *addr)
{
	char ip[64];
	int port = 0;

	if (addr->sa_family == AF_INET || addr->sa_family == AF_INET6) {
		netaddr_ntop(addr, ip, sizeof(ip), &port);
		(void)snprintf(s->peer, sizeof(s->peer), "[%s]:%d", ip, port);
	} else if (addr->sa_family == AF_UNIX)
		(void)snprintf(s->peer, sizeof(s->peer), "%s",
		    ((const struct sockaddr_un *)(const void *)addr)->sun_path);
	else
		(void)snprintf(s->peer, sizeof(s->peer), "?");
}

struct smtpc *
smtpc_open(const struct sockaddr *addr, socklen_t len,
    const struct smtpc_opts *opts, struct smtpc_result *err)
{
	struct smtpc *s;
	struct buf esc = BUF_INIT(0);
	int r;

	ASSERT(opts->helo != NULL);
	ASSERT(opts->tls == SMTPC_TLS_NONE || opts->tls_ctx != NULL);
	ASSERT(opts->tls != SMTPC_TLS_VERIFY || opts->tls_verify_name != NULL);
	memset(err, 0, sizeof(*err));
	s = xcalloc(1, sizeof(*s));
	s->opts = *opts;
	smtpc_reply_init(&s->rep);
	buf_init(&s->long_line, SMTPC_LINE_MAX);
	buf_init(&s->why, 0);
	smtpc_peer_name(s, addr);
	if ((r = smtpc_session(s, addr, len, opts->tls, err)) == -2) {
		log_warn("smtpc tls fallback peer=%s reason=\"%s\"", s->peer,
		    log_escape(&esc, s->why.data, s->why.len, 200));
		buf_free(&esc);
		smtpc_disconnect(s);
		memset(&s->caps, 0, sizeof(s->caps));
		r = smtpc_session(s, addr, len, SMTPC_TLS_NONE, err);
	}
	if (r != 1) {
		if (err->text == NULL)
			smtpc_res_why(s, err);
		smtpc_close(&s);
		return NULL;
	}
	return s;
}

const struct smtpc_caps *
smtpc_caps(const struct smtpc *s)
{
	return &s->caps;
}

unsigned long long
smtpc_bare_lf(const struct smtpc *s)
{
	return s->bare_lf;
}

/* ------------------------------------------------------------ envelope */

/* 1 when s has no control characters (nothing to break a command line). */
static int
smtpc_clean(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < ' ' || *s == 0x7f)
			return 0;
	return 1;
}

/* RFC 3461 4: xtext. */
static void
smtpc_xtext(struct buf *b, const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c >= '!' && c <= '~' && c != '+' && c != '=')
			(void)buf_appendc(b, (char)c);
		else
			(void)buf_appendf(b, "+%02X", c);
	}
}

static void
smtpc_mail_cmd(struct smtpc *s, const struct spool_env *env, struct buf *b)
{
	(void)buf_appendf(b, "MAIL FROM:<%s>", env->sender);
	if (s->caps.size_ext)
		(void)buf_appendf(b, " SIZE=%llu", env->size);
	if (env->body == SPOOL_BODY_8BITMIME && s->caps.eightbitmime)
		(void)buf_appends(b, " BODY=8BITMIME");
	else if (env->body == SPOOL_BODY_BINARYMIME)
		(void)buf_appends(b, " BODY=BINARYMIME");	/* prechecked */
	if (env->smtputf8)
		(void)buf_appends(b, " SMTPUTF8");
	if (s->caps.dsn) {
		if (env->ret == SPOOL_RET_FULL)
			(void)buf_appends(b, " RET=FULL");
		else if (env->ret == SPOOL_RET_HDRS)
			(void)buf_appends(b, " RET=HDRS");
		if (env->envid != NULL && env->envid[0] != '\0') {
			(void)buf_appends(b, " ENVID=");
			smtpc_xtext(b, env->envid);
		}
	}
	(void)buf_appends(b, "\r\n");
}

/*
 * ORCPT for rc (uxtext_orcpt_param: RFC 3461 4.2 and RFC 6533 3), or none
 * and a log line saying why when the stored value has no valid form: an
 * ORCPT is optional, an invalid one could make the peer refuse the
 * recipient.
 */
static void
smtpc_orcpt(struct smtpc *s, const char *id, const struct spool_rcpt *rc,
    int unitext, struct buf *b)
{
	struct buf v = BUF_INIT(0), e1 = BUF_INIT(0), e2 = BUF_INIT(0);
	const char *why;

	if (uxtext_orcpt_param(&v, rc->orcpt, unitext, &why) == 1) {
		(void)buf_appends(b, " ORCPT=");
		(void)buf_append(b, v.data, v.len);
	} else {
		(void)log_escape(&e1, id, strlen(id), 64);
		(void)log_escape(&e2, rc->addr, strlen(rc->addr), 300);
		log_warn("%s smtpc orcpt left out rcpt=<%s> peer=%s "
		    "reason=\"%s\"", e1.data, e2.data, s->peer, why);
	}
	buf_free(&v);
	buf_free(&e1);
	buf_free(&e2);
}

/*
 * RCPT for rc of message id; utf8: the transaction uses SMTPUTF8 (MAIL
 * said so).
 */
static void
smtpc_rcpt_cmd(struct smtpc *s, const char *id, const struct spool_rcpt *rc,
    int utf8, struct buf *b)
{
	(void)buf_appendf(b, "RCPT TO:<%s>", rc->addr);
	if (s->caps.dsn && rc->notify != 0) {
		if (rc->notify & SPOOL_NOTIFY_NEVER)
			(void)buf_appends(b, " NOTIFY=NEVER");
		else
			(void)buf_appendf(b, " NOTIFY=%s%s%s%s%s",
			    rc->notify & SPOOL_NOTIFY_SUCCESS ? "SUCCESS" : "",
			    (rc->notify & SPOOL_NOTIFY_SUCCESS) &&
			    (rc->notify & (SPOOL_NOTIFY_FAILURE |
			    SPOOL_NOTIFY_DELAY)) ? "," : "",
			    rc->notify & SPOOL_NOTIFY_FAILURE ? "FAILURE" : "",
			    (rc->notify & SPOOL_NOTIFY_FAILURE) &&
			    (rc->notify & SPOOL_NOTIFY_DELAY) ? "," : "",
			    rc->notify & SPOOL_NOTIFY_DELAY ? "DELAY" : "");
	}
	if (s->caps.dsn && rc->orcpt != NULL)
		smtpc_orcpt(s, id, rc, utf8 && s->caps.smtputf8, b);
	(void)buf_appends(b, "\r\n");
}

/*
 * The local decisions made before MAIL. 1 to go on (recipients that cannot
 * be sent are RC_SKIP with their result), 0 when the whole transaction
 * fails (every result filled). RFC 6531: a sender address that is not
 * ASCII goes only to a peer offering SMTPUTF8, and a non-ASCII recipient
 * address only there; a message that came with SMTPUTF8 but has ASCII
 * addresses is looked at by smtpc_utf8_check (its header fields).
 */
static int
smtpc_precheck(struct smtpc *s, const struct spool_env *env,
    struct smtpc_result *res, unsigned char *st)
{
	const char *enh = NULL;
	char why[256];
	size_t i;

	if (downgrade_has_8bit(env->sender, strlen(env->sender)) &&
	    !s->caps.smtputf8) {
		enh = "5.6.7";
		(void)snprintf(why, sizeof(why), "SMTPUTF8 required but not "
		    "offered by the receiving server: the sender address is "
		    "not ASCII (RFC 6531)");
	} else if (s->caps.size > 0 && env->size > s->caps.size) {
		enh = "5.3.4";
		(void)snprintf(why, sizeof(why), "message size %llu exceeds "
		    "the peer's limit of %llu", env->size, s->caps.size);
	} else if (env->body == SPOOL_BODY_BINARYMIME &&
	    !(smtpc_use_bdat(s, env) && s->caps.binarymime)) {
		enh = "5.6.1";
		(void)snprintf(why, sizeof(why), "BINARYMIME content cannot "
		    "be sent: the peer does not offer CHUNKING and "
		    "BINARYMIME (RFC 3030)");
	} else if (!smtpc_clean(env->sender)) {
		enh = "5.1.7";
		(void)snprintf(why, sizeof(why), "control characters in the "
		    "sender address");
	}
	if (enh != NULL) {
		for (i = 0; i < env->nrcpt; i++)
			smtpc_res_local(&res[i], 1, enh, why);
		return 0;
	}
	for (i = 0; i < env->nrcpt; i++)
		if (!smtpc_clean(env->rcpts[i].addr)) {
			smtpc_res_local(&res[i], 1, "5.1.3", "control "
			    "characters in the recipient address");
			st[i] = RC_SKIP;
		} else if (!s->caps.smtputf8 && downgrade_has_8bit(
		    env->rcpts[i].addr, strlen(env->rcpts[i].addr))) {
			smtpc_res_local(&res[i], 1, "5.6.7", "SMTPUTF8 "
			    "required but not offered by the receiving "
			    "server: the recipient address is not ASCII "
			    "(RFC 6531)");
			st[i] = RC_SKIP;
		}
	return 1;
}

/* ------------------------------------------------------------ downgrade */

/*
 * A peer without 8BITMIME (RFC 6152) gets 7-bit content only: the whole
 * message is read (it is in memory at the caller already: the message
 * size limit bounds both copies) and converted by downgrade_8bit().
 */
struct smtpc_dg {
	struct buf		 in;	/* the content as read */
	struct buf		 out;	/* converted */
	const struct buf	*send;	/* in or out */
	int			 done;
	struct spool_env	 env;	/* the envelope as sent */
};

static int
smtpc_dg_read(void *arg, const char **p_r, size_t *n_r)
{
	struct smtpc_dg *dg = arg;

	if (dg->done)
		return 0;
	dg->done = 1;
	*p_r = buf_cstr(dg->send);
	*n_r = dg->send->len;
	return 1;
}

static void
smtpc_dg_free(struct smtpc_dg *dg)
{
	buf_free(&dg->in);
	buf_free(&dg->out);
}

/* Every recipient without a result yet fails with enh and why. */
static void
smtpc_res_all(const struct spool_env *env, struct smtpc_result *res,
    int permanent, const char *enh, const char *why)
{
	size_t i;

	for (i = 0; i < env->nrcpt; i++)
		if (res[i].text == NULL)
			smtpc_res_local(&res[i], permanent, enh, why);
}

/* The whole content into dg->in (the message size limit bounds it): 1,
 * or 0 with every result 4.3.0 when read() failed. */
static int
smtpc_dg_load(const struct spool_env *env, int (*read)(void *,
    const char **, size_t *), void *arg, struct smtpc_dg *dg,
    struct smtpc_result *res)
{
	const char *p;
	size_t n;
	int r;

	while ((r = read(arg, &p, &n)) == 1)
		if (buf_append(&dg->in, p, n) == -1)
			log_panic("smtpc: content buffer");	/* unbounded */
	if (r == -1) {
		smtpc_res_all(env, res, 0, "4.3.0", "cannot read the message");
		return 0;
	}
	return 1;
}

/*
 * The message came with SMTPUTF8, its addresses are ASCII (smtpc_precheck
 * refused the others) and the peer offers 8BITMIME but not SMTPUTF8: it
 * needs SMTPUTF8 only for 8-bit header fields (RFC 6532), of the message
 * or of its MIME parts. Without any it goes without SMTPUTF8 (RFC 6531
 * 3.2 asks that only a message needing it be sent with it); with some it
 * bounces, 5.6.7. Reads the content into dg like smtpc_downgrade. 1 to
 * send dg->send with dg->env, 0 when the transaction fails here.
 */
static int
smtpc_utf8_check(struct smtpc *s, const struct spool_env *env,
    int (*read)(void *, const char **, size_t *), void *arg,
    struct smtpc_dg *dg, struct smtpc_result *res)
{
	struct downgrade_info info;
	struct buf esc = BUF_INIT(0);
	int r;

	if (smtpc_dg_load(env, read, arg, dg, res) == 0)
		return 0;
	downgrade_info_init(&info);
	r = downgrade_8bit(dg->in.data, dg->in.len, &dg->out, &info) ==
	    DOWNGRADE_HDR_8BIT;
	downgrade_info_free(&info);
	buf_reset(&dg->out);
	if (r) {
		smtpc_res_all(env, res, 1, "5.6.7", "SMTPUTF8 required but "
		    "not offered by the receiving server: the message has "
		    "8-bit header fields (RFC 6532)");
		return 0;
	}
	log_info("%s smtpc peer=%s no SMTPUTF8: addresses and header fields "
	    "are ASCII, sent without SMTPUTF8", log_escape(&esc, env->id,
	    strlen(env->id), 64), s->peer);
	buf_free(&esc);
	dg->env = *env;
	dg->env.smtputf8 = 0;
	dg->send = &dg->in;
	return 1;
}

/*
 * The peer lacks 8BITMIME. Reads the content, converts it when it holds
 * 8-bit octets and fills dg (the envelope to send: no BODY=8BITMIME, the
 * new size; SMTPUTF8 for 8-bit header fields when the peer offers that).
 * 1 to send dg->send with dg->env; 0 when the transaction fails here
 * (every result filled): 5.6.7 for 8-bit header fields without SMTPUTF8
 * at the peer, 5.6.3 when no conversion exists, 4.3.0 when read() failed.
 */
static int
smtpc_downgrade(struct smtpc *s, const struct spool_env *env,
    int (*read)(void *, const char **, size_t *), void *arg,
    struct smtpc_dg *dg, struct smtpc_result *res)
{
	struct downgrade_info info;
	struct buf esc = BUF_INIT(0), why = BUF_INIT(0);
	int r;

	if (smtpc_dg_load(env, read, arg, dg, res) == 0)
		return 0;
	dg->env = *env;
	dg->env.body = SPOOL_BODY_7BIT;
	/* Addresses are ASCII here (smtpc_precheck); 8-bit header fields
	 * bounce below: nothing left needs SMTPUTF8. */
	if (!s->caps.smtputf8)
		dg->env.smtputf8 = 0;
	dg->send = &dg->in;
	downgrade_info_init(&info);
	(void)log_escape(&esc, env->id, strlen(env->id), 64);
	switch (downgrade_8bit(dg->in.data, dg->in.len, &dg->out, &info)) {
	case DOWNGRADE_SAME:
		if (env->body == SPOOL_BODY_8BITMIME)
			log_info("%s smtpc downgrade peer=%s no 8BITMIME: "
			    "content is 7-bit, sent as it is", esc.data,
			    s->peer);
		break;
	case DOWNGRADE_DONE:
		log_info("%s smtpc downgrade peer=%s no 8BITMIME: "
		    "8bit->quoted-printable parts=%u (%s) size=%zu->%zu",
		    esc.data, s->peer, info.nparts, buf_cstr(&info.parts),
		    dg->in.len, dg->out.len);
		dg->send = &dg->out;
		dg->env.size = dg->out.len;
		break;
	case DOWNGRADE_HDR_8BIT:
		if (s->caps.smtputf8) {
			/* RFC 6531 3.1: such a peer takes 8-bit anyway. */
			log_info("%s smtpc downgrade peer=%s no 8BITMIME: "
			    "8-bit header fields, sent with SMTPUTF8",
			    esc.data, s->peer);
			dg->env.smtputf8 = 1;
			break;
		}
		log_info("%s smtpc downgrade peer=%s refused: 8-bit header "
		    "fields, peer offers neither 8BITMIME nor SMTPUTF8",
		    esc.data, s->peer);
		smtpc_res_all(env, res, 1, "5.6.7", "SMTPUTF8 required but "
		    "not offered by the receiving server: the message has "
		    "8-bit header fields (RFC 6532), which have no 7-bit "
		    "form, and the server offers neither SMTPUTF8 nor "
		    "8BITMIME");
		r = 0;
		goto out;
	case DOWNGRADE_CANNOT:
		log_info("%s smtpc downgrade peer=%s refused: %s", esc.data,
		    s->peer, info.why);
		(void)buf_appendf(&why, "conversion to 7 bits required (the "
		    "receiving server does not offer 8BITMIME) but not "
		    "possible: %s", info.why);
		smtpc_res_all(env, res, 1, "5.6.3", why.data);
		r = 0;
		goto out;
	}
	r = 1;
out:
	downgrade_info_free(&info);
	buf_free(&esc);
	buf_free(&why);
	return r;
}

/* ------------------------------------------------------------ transaction */

struct smtpc_tx {
	struct smtpc		*s;
	const struct spool_env	*env;
	struct smtpc_result	*res;
	unsigned char		*st;
	size_t			 nacc;		/* accepted recipients */
	int			 mail_ok;
	int			 data_sent;	/* DATA went out */
	int			 bdat;		/* CHUNKING: BDAT, not DATA */
	int			 binary;	/* BODY=BINARYMIME: no fix-ups */
	int			 last_replied;	/* BDAT LAST got its reply */
	/* The whole message went as "BDAT n LAST" in the same write as
	 * MAIL and RCPT (oneshot), and that write was flushed (last_sent):
	 * a recipient whose reply was not read yet may have got it. */
	int			 oneshot, last_sent;
	struct smtpc_bdat	*bd;		/* the BDAT state, with bdat */
};

/* Every recipient still without a result gets the reply in s->rep. */
static void
smtpc_tx_all_reply(struct smtpc_tx *tx, int failed)
{
	size_t i;

	for (i = 0; i < tx->env->nrcpt; i++)
		if (tx->res[i].text == NULL)
			smtpc_res_reply(&tx->res[i], &tx->s->rep, failed);
}

/* The connection is gone: what is left gets why; -1. */
static int
smtpc_tx_lost(struct smtpc_tx *tx, int dot_sent)
{
	size_t i;

	for (i = 0; i < tx->env->nrcpt; i++) {
		if (tx->res[i].text != NULL)
			continue;
		smtpc_res_why(tx->s, &tx->res[i]);
		if (dot_sent && (tx->st[i] == RC_ACCEPTED ||
		    (tx->oneshot && tx->st[i] == RC_PENDING)))
			tx->res[i].possibly_delivered = 1;
	}
	return -1;
}

/* The reply in s->rep to the RCPT for recipient i. */
static void
smtpc_tx_rcpt_reply(struct smtpc_tx *tx, size_t i)
{
	if (tx->s->rep.code / 100 == 2) {
		tx->st[i] = RC_ACCEPTED;
		tx->nacc++;
	} else {
		tx->st[i] = RC_REFUSED;
		smtpc_res_reply(&tx->res[i], &tx->s->rep, 1);
	}
}

/*
 * The reply to the "BDAT n LAST" sent with MAIL and RCPT: the message's
 * when a recipient was accepted; else the peer refused a chunk without a
 * transaction (RFC 3030 requires it to read the octets all the same),
 * which changes nothing. 1 or -1.
 */
static int
smtpc_tx_oneshot_reply(struct smtpc_tx *tx)
{
	if (smtpc_read(tx->s, TO(tx->s, data_done, TO_DATA_DONE),
	    "the reply to BDAT LAST") == -1)
		return -1;
	if (tx->mail_ok && tx->nacc > 0) {
		tx->last_replied = 1;
		smtpc_tx_all_reply(tx, 0);
	}
	return 1;
}

/*
 * MAIL, RCPTs and (unless tx->bdat) DATA in one write, or the whole
 * message as BDAT LAST (tx->oneshot); then the replies in order. 1 or -1.
 */
static int
smtpc_tx_pipelined(struct smtpc_tx *tx, const struct buf *cmds)
{
	struct smtpc *s = tx->s;
	size_t i;

	if (buf_append(&s->c.wbuf, cmds->data, cmds->len) == -1)
		log_panic("smtpc: write buffer");	/* unbounded */
	tx->data_sent = !tx->bdat;
	if (smtpc_flush(s, TO(s, mail, TO_MAIL), "MAIL") == -1)
		return -1;
	tx->last_sent = tx->oneshot;
	if (smtpc_read(s, TO(s, mail, TO_MAIL), "the reply to MAIL") == -1)
		return -1;
	if ((tx->mail_ok = s->rep.code / 100 == 2) == 0)
		smtpc_tx_all_reply(tx, 1);
	for (i = 0; i < tx->env->nrcpt; i++) {
		if (tx->st[i] == RC_SKIP)
			continue;
		if (smtpc_read(s, TO(s, rcpt, TO_RCPT),
		    "the reply to RCPT") == -1)
			return -1;
		if (tx->mail_ok)
			smtpc_tx_rcpt_reply(tx, i);
	}
	if (tx->oneshot)
		return smtpc_tx_oneshot_reply(tx);
	if (tx->bdat)
		return 1;
	return smtpc_read(s, TO(s, data_init, TO_DATA_INIT),
	    "the reply to DATA");
}

/* One command at a time. 1 (s->rep: the DATA reply, or no DATA sent when
 * MAIL failed or no recipient was accepted), or -1. */
static int
smtpc_tx_lockstep(struct smtpc_tx *tx, const struct buf *mail)
{
	struct smtpc *s = tx->s;
	struct buf cmd = BUF_INIT(0);
	size_t i;

	if (smtpc_cmd(s, TO(s, mail, TO_MAIL), "MAIL", "%s",
	    buf_cstr(mail)) == -1)
		return -1;
	if ((tx->mail_ok = s->rep.code / 100 == 2) == 0) {
		smtpc_tx_all_reply(tx, 1);
		return 1;
	}
	for (i = 0; i < tx->env->nrcpt; i++) {
		if (tx->st[i] == RC_SKIP)
			continue;
		buf_reset(&cmd);
		smtpc_rcpt_cmd(s, tx->env->id, &tx->env->rcpts[i],
		    tx->env->smtputf8, &cmd);
		if (smtpc_cmd(s, TO(s, rcpt, TO_RCPT), "RCPT", "%s",
		    buf_cstr(&cmd)) == -1) {
			buf_free(&cmd);
			return -1;
		}
		smtpc_tx_rcpt_reply(tx, i);
	}
	buf_free(&cmd);
	if (tx->nacc == 0 || tx->bdat)
		return 1;
	tx->data_sent = 1;
	return smtpc_cmd(s, TO(s, data_init, TO_DATA_INIT), "DATA",
	    "DATA\r\n");
}

/*
 * The content goes through the connection's write buffer, which flushes
 * as it fills; the data_block deadline starts again for every
 * SMTPC_BLOCK bytes handed over, so it bounds each block written.
 */
#define SMTPC_BLOCK	65536

struct smtpc_out {
	struct smtpc	*s;
	long long	 to;
	size_t		 since;		/* bytes since the deadline was set */
	int		 err;
};

static void
smtpc_put(struct smtpc_out *o, const char *p, size_t n)
{
	if (o->err || n == 0)
		return;
	if (o->since >= SMTPC_BLOCK) {
		conn_set_deadline(&o->s->c, o->to);
		o->since = 0;
	}
	o->since += n;
	if (conn_write(&o->s->c, p, n) == -1)
		o->err = 1;
}

/*
 * Streams the content, dot-stuffed, with CRLF line ends, then the final
 * dot. Content goes out in spans as it was read: only a dot at the start
 * of a line (doubled) and a bare LF (made CRLF) break a span. 1, -1 when
 * read() failed, -2 when the connection failed (why set).
 */
static int
smtpc_tx_content(struct smtpc *s, int (*read)(void *, const char **,
    size_t *), void *arg)
{
	struct smtpc_out o = { s, TO(s, data_block, TO_DATA_BLOCK),
	    SMTPC_BLOCK, 0 };
	const char *p, *nl;
	size_t n, i, k, span;
	int bol = 1, cr = 0, r = 0;

	while (!o.err && (r = read(arg, &p, &n)) == 1) {
		for (i = 0, span = 0; i < n;) {
			if (bol && p[i] == '.') {
				/* The span goes on from this dot: sent twice. */
				smtpc_put(&o, p + span, i - span);
				smtpc_put(&o, ".", 1);
				span = i;
			}
			if ((nl = memchr(p + i, '\n', n - i)) == NULL) {
				cr = p[n - 1] == '\r';
				bol = 0;
				break;
			}
			k = (size_t)(nl - p);
			if (!(k > 0 ? p[k - 1] == '\r' : cr)) {
				s->bare_lf++;
				smtpc_put(&o, p + span, k - span);
				smtpc_put(&o, "\r\n", 2);
				span = k + 1;
			}
			i = k + 1;
			bol = 1;
			cr = 0;
		}
		smtpc_put(&o, p + span, n - span);
	}
	if (!o.err && r == -1)
		return -1;
	if (!bol)	/* no final line end: complete it */
		smtpc_put(&o, cr ? "\n" : "\r\n", cr ? 1 : 2);
	smtpc_put(&o, ".\r\n", 3);
	if (o.err) {
		smtpc_io_failed(s, "sending the message content");
		return -2;
	}
	return smtpc_flush(s, o.to, "the message content") == 1 ? 1 : -2;
}

/* ------------------------------------------------------------ BDAT */

/*
 * CHUNKING (RFC 3030), SMTP only: towards a peer that offers it (and
 * unless opts.no_chunking), the content goes in BDAT chunks instead of
 * DATA: no dot-stuffing, no scan for a lone dot. The message must fit the
 * BODY type like with DATA, so bare LFs are made CRLF and a missing final
 * CRLF is added, except for BINARYMIME, sent exactly as stored. Pieces
 * from read() of at least SMTPC_BDAT_MIN octets go out as chunks of their
 * own, uncopied; smaller ones are gathered up to that size; the last
 * chunk carries LAST (a message under SMTPC_BDAT_MIN is one "BDAT n
 * LAST"). With PIPELINING chunks go without waiting for their replies, at
 * most SMTPC_BDAT_INFLIGHT unanswered; else each reply is read first.
 */
#define SMTPC_BDAT_MIN		65536
#define SMTPC_BDAT_INFLIGHT	8

static int
smtpc_use_bdat(const struct smtpc *s, const struct spool_env *env)
{
	(void)env;
	return s->caps.chunking && !s->opts.lmtp && !s->opts.no_chunking;
}

struct smtpc_bdat {
	struct smtpc_tx	*tx;
	struct smtpc_out o;
	struct buf	 gather;	/* small pieces, up to SMTPC_BDAT_MIN */
	struct buf	 conv;		/* a piece with bare LFs made CRLF */
	size_t		 inflight;	/* chunks sent, reply not read */
	size_t		 chunks;	/* sent, for the log */
	unsigned long long octets;
	int		 failed;	/* a chunk was refused: stop */
	int		 cr;		/* the last octet sent was CR */
	int		 bol;		/* ... was LF, or nothing yet */
	int		 eof;		/* read() said the message ended */
};

static void	smtpc_bdat_fix(struct smtpc_bdat *, const char **, size_t *);

static void
smtpc_bdat_init(struct smtpc_bdat *b, struct smtpc_tx *tx)
{
	memset(b, 0, sizeof(*b));
	b->tx = tx;
	b->o.s = tx->s;
	b->o.to = TO(tx->s, data_block, TO_DATA_BLOCK);
	b->o.since = SMTPC_BLOCK;
	b->bol = 1;
	buf_init(&b->gather, 0);
	buf_init(&b->conv, 0);
}

static void
smtpc_bdat_free(struct smtpc_bdat *b)
{
	buf_free(&b->gather);
	buf_free(&b->conv);
}

/* Completes the last line (not for BINARYMIME) in the gather buffer. */
static void
smtpc_bdat_complete(struct smtpc_bdat *b)
{
	if (!b->tx->binary && !b->bol)
		(void)buf_appends(&b->gather, b->cr ? "\n" : "\r\n");
	b->bol = 1;
}

static void
smtpc_bdat_log(const struct smtpc_bdat *b)
{
	struct buf esc = BUF_INIT(0);
	const char *id = b->tx->env->id;

	log_debug("%s smtpc bdat peer=%s chunks=%zu octets=%llu%s%s%s",
	    log_escape(&esc, id, strlen(id), 64), b->tx->s->peer, b->chunks,
	    b->octets, b->tx->oneshot ? " with MAIL" : "", b->tx->binary ?
	    " body=BINARYMIME" : "", b->failed ? " refused" : "");
	buf_free(&esc);
}

/*
 * Reads content into the gather buffer until it holds more than
 * SMTPC_BDAT_MIN octets or the message ends: 0 when the whole message is
 * there (b->eof), 1 when more follows, -1 when read() failed.
 */
static int
smtpc_bdat_prefetch(struct smtpc_bdat *b, int (*read)(void *,
    const char **, size_t *), void *arg)
{
	const char *p;
	size_t n;
	int r = 1;

	while (b->gather.len <= SMTPC_BDAT_MIN &&
	    (r = read(arg, &p, &n)) == 1) {
		if (!b->tx->binary)
			smtpc_bdat_fix(b, &p, &n);
		(void)buf_append(&b->gather, p, n);	/* unbounded */
	}
	b->eof = r == 0;
	return r;
}

/*
 * Reads the reply to the oldest unanswered chunk; last: it is the reply
 * to BDAT LAST (the message's: like the reply to the final dot). 1, or -1
 * when the connection failed.
 */
static int
smtpc_bdat_reply(struct smtpc_bdat *b, int last)
{
	struct smtpc_tx *tx = b->tx;
	struct smtpc *s = tx->s;

	if (smtpc_read(s, last ? TO(s, data_done, TO_DATA_DONE) :
	    TO(s, data_block, TO_DATA_BLOCK), last ? "the reply to BDAT LAST" :
	    "the reply to BDAT") == -1)
		return -1;
	b->inflight--;
	if (last) {
		tx->last_replied = 1;
		smtpc_tx_all_reply(tx, 0);
	} else if (s->rep.code / 100 != 2 && !b->failed) {
		/* RFC 3030 2: no more chunks; the reply fails the message. */
		b->failed = 1;
		smtpc_tx_all_reply(tx, 1);
	}
	return 1;
}

/*
 * Sends one chunk: "BDAT n[ LAST]" then p[0..n). Without PIPELINING, or
 * with SMTPC_BDAT_INFLIGHT chunks unanswered, reads a reply first. 1, or
 * -1 when the connection failed (why set).
 */
static int
smtpc_bdat_chunk(struct smtpc_bdat *b, const char *p, size_t n, int last)
{
	struct smtpc *s = b->tx->s;
	char cmd[48];

	while (b->inflight > 0 && (!s->caps.pipelining ||
	    b->inflight >= SMTPC_BDAT_INFLIGHT)) {
		if (smtpc_flush(s, b->o.to, "BDAT") == -1 ||
		    smtpc_bdat_reply(b, 0) == -1)
			return -1;
	}
	if (b->failed)
		return 1;
	(void)snprintf(cmd, sizeof(cmd), "BDAT %zu%s\r\n", n, last ?
	    " LAST" : "");	/* fits */
	smtpc_put(&b->o, cmd, strlen(cmd));
	smtpc_put(&b->o, p, n);
	if (b->o.err) {
		smtpc_io_failed(s, "sending BDAT");
		return -1;
	}
	b->inflight++;
	b->chunks++;
	b->octets += n;
	return 1;
}

/* The gathered pieces as one chunk. 1 or -1. */
static int
smtpc_bdat_flush_gather(struct smtpc_bdat *b)
{
	int r = 1;

	if (b->gather.len > 0)
		r = smtpc_bdat_chunk(b, b->gather.data, b->gather.len, 0);
	buf_reset(&b->gather);
	return r;
}

/*
 * p[0..n) with bare LFs made CRLF (counted), in b->conv when there are
 * any: *p_r and *n_r are what to send. Updates the line state.
 */
static void
smtpc_bdat_fix(struct smtpc_bdat *b, const char **p_r, size_t *n_r)
{
	const char *p = *p_r, *nl;
	size_t n = *n_r, i = 0, k, span = 0;
	int cr = b->cr, any = 0;

	buf_reset(&b->conv);
	while (i < n && (nl = memchr(p + i, '\n', n - i)) != NULL) {
		k = (size_t)(nl - p);
		if (!(k > 0 ? p[k - 1] == '\r' : cr)) {
			b->tx->s->bare_lf++;
			(void)buf_append(&b->conv, p + span, k - span);
			(void)buf_append(&b->conv, "\r\n", 2);
			span = k + 1;
			any = 1;
		}
		i = k + 1;
		cr = 0;
	}
	if (n > 0) {
		b->cr = p[n - 1] == '\r';
		b->bol = p[n - 1] == '\n';
	}
	if (!any)
		return;
	(void)buf_append(&b->conv, p + span, n - span);	/* unbounded */
	*p_r = b->conv.data;
	*n_r = b->conv.len;
}

/* One piece from read(). 1 or -1. */
static int
smtpc_bdat_piece(struct smtpc_bdat *b, const char *p, size_t n)
{
	if (!b->tx->binary)
		smtpc_bdat_fix(b, &p, &n);
	if (b->gather.len + n <= SMTPC_BDAT_MIN) {
		(void)buf_append(&b->gather, p, n);	/* unbounded */
		return 1;
	}
	if (smtpc_bdat_flush_gather(b) == -1)
		return -1;
	if (n >= SMTPC_BDAT_MIN)
		return smtpc_bdat_chunk(b, p, n, 0);
	(void)buf_append(&b->gather, p, n);
	return 1;
}

/*
 * After the RCPT replies, some accepted: the content in BDAT chunks, then
 * the replies. Returns as smtpc_send: 1 (the reply to LAST given to the
 * accepted recipients), 0 (a chunk or LAST refused), -1 (connection lost
 * or timed out, read() failed: then disconnected, never sending LAST).
 */
static int
smtpc_tx_bdat(struct smtpc_tx *tx, int (*read)(void *, const char **,
    size_t *), void *arg)
{
	struct smtpc *s = tx->s;
	struct smtpc_bdat *b = tx->bd;
	const char *p;
	size_t n, i;
	int r = 0, sent_last = 0;

	while (!b->failed && !b->eof && (r = read(arg, &p, &n)) == 1)
		if (smtpc_bdat_piece(b, p, n) == -1)
			return smtpc_tx_lost(tx, 0);
	if (r == -1) {
		smtpc_disconnect(s);	/* LAST never goes */
		smtpc_why(s, "4.3.0", "cannot read the message");
		return smtpc_tx_lost(tx, 0);
	}
	if (!b->failed) {
		smtpc_bdat_complete(b);
		if (smtpc_bdat_chunk(b, b->gather.data ? b->gather.data : "",
		    b->gather.len, 1) == -1)
			return smtpc_tx_lost(tx, 0);
		sent_last = !b->failed;
	}
	if (smtpc_flush(s, b->o.to, "the message content") == -1)
		return smtpc_tx_lost(tx, 0);
	while (b->inflight > 0)
		if (smtpc_bdat_reply(b, sent_last && b->inflight == 1) == -1)
			return smtpc_tx_lost(tx, sent_last);
	smtpc_bdat_log(b);
	for (i = 0; i < tx->env->nrcpt; i++)
		if (tx->st[i] == RC_ACCEPTED && tx->res[i].code / 100 != 2)
			return 0;
	return 1;
}

/* After 354: content, dot, the reply(ies). Returns as smtpc_send. */
static int
smtpc_tx_data(struct smtpc_tx *tx, int (*read)(void *, const char **,
    size_t *), void *arg)
{
	struct smtpc *s = tx->s;
	long long to = TO(s, data_done, TO_DATA_DONE);
	size_t i;
	int r;

	if ((r = smtpc_tx_content(s, read, arg)) != 1) {
		if (r == -1) {
			/* Only closing aborts DATA: never send the dot. */
			smtpc_disconnect(s);
			smtpc_why(s, "4.3.0", "cannot read the message");
		}
		return smtpc_tx_lost(tx, 0);
	}
	if (!s->opts.lmtp) {
		if (smtpc_read(s, to, "the reply to the final dot") == -1)
			return smtpc_tx_lost(tx, 1);
		smtpc_tx_all_reply(tx, 0);
		for (i = 0; i < tx->env->nrcpt; i++)
			if (tx->st[i] == RC_ACCEPTED &&
			    tx->res[i].code / 100 != 2)
				return 0;
		return 1;
	}
	for (i = 0; i < tx->env->nrcpt; i++) {
		if (tx->st[i] != RC_ACCEPTED)
			continue;
		if (smtpc_read(s, to, "an LMTP reply after the final dot") ==
		    -1)
			return smtpc_tx_lost(tx, 1);
		smtpc_res_reply(&tx->res[i], &s->rep, 0);
	}
	return 1;
}

/* The session cannot carry a transaction: everyone gets why, or the 421
 * that closed it. -1. */
static int
smtpc_send_refused(struct smtpc *s, const struct spool_env *env,
    struct smtpc_result *res)
{
	size_t i;

	if (!s->closing)
		smtpc_why(s, "4.4.2", "connection not usable");
	for (i = 0; i < env->nrcpt; i++)
		if (s->closing)
			smtpc_res_reply(&res[i], &s->rep, 1);
		else
			smtpc_res_why(s, &res[i]);
	return -1;
}

/* After the commands, s->rep holding the reply to DATA if it was sent.
 * Returns as smtpc_send. */
static int
smtpc_tx_finish(struct smtpc_tx *tx, int (*read)(void *, const char **,
    size_t *), void *arg)
{
	struct smtpc *s = tx->s;
	int r;

	if (tx->data_sent && s->rep.code == 354 &&
	    (!tx->mail_ok || tx->nacc == 0)) {
		/* DATA accepted with nobody to deliver to: end it empty. */
		if (smtpc_cmd(s, TO(s, data_done, TO_DATA_DONE), "DATA",
		    ".\r\n") == -1)
			s->broken = 1;
	}
	if (!tx->mail_ok)
		return 0;
	if (tx->nacc == 0)
		return 1;
	if (tx->oneshot) {
		size_t i;

		smtpc_bdat_log(tx->bd);
		s->need_rset = !tx->last_replied;
		for (i = 0; i < tx->env->nrcpt; i++)
			if (tx->st[i] == RC_ACCEPTED &&
			    tx->res[i].code / 100 != 2)
				return 0;
		return 1;
	}
	if (tx->bdat) {
		/* After a chunk refused before LAST: RSET on reuse. */
		if ((r = smtpc_tx_bdat(tx, read, arg)) != -1 &&
		    tx->last_replied)
			s->need_rset = 0;
		return r;
	}
	if (s->rep.code != 354) {
		smtpc_tx_all_reply(tx, 1);
		return 0;
	}
	if ((r = smtpc_tx_data(tx, read, arg)) != -1)
		s->need_rset = 0;
	return r;
}

int
smtpc_send(struct smtpc *s, const struct spool_env *env,
    int (*read)(void *, const char **, size_t *), void *arg,
    struct smtpc_result *results_r)
{
	struct smtpc_tx tx = { s, env, results_r, NULL, 0, 0, 0, 0, 0, 0, 0,
	    0, NULL };
	struct smtpc_bdat bd;
	struct smtpc_dg dg;
	struct buf mail = BUF_INIT(0), cmds = BUF_INIT(0);
	struct buf esc = BUF_INIT(0);
	size_t i, nsend = 0;
	int r;

	memset(results_r, 0, env->nrcpt * sizeof(*results_r));
	s->bare_lf = 0;
	if (s->broken || s->closing || s->unusable)
		return smtpc_send_refused(s, env, results_r);
	memset(&dg, 0, sizeof(dg));
	buf_init(&dg.in, 0);
	buf_init(&dg.out, 0);
	smtpc_bdat_init(&bd, &tx);
	tx.bd = &bd;
	tx.st = xcalloc(env->nrcpt + 1, 1);
	if ((r = smtpc_precheck(s, env, results_r, tx.st)) != 1)
		goto out;
	for (i = 0; i < env->nrcpt; i++)
		nsend += tx.st[i] != RC_SKIP;
	if (nsend == 0)
		goto out;	/* r == 1: every recipient has its result */
	if (env->smtputf8 && !s->caps.smtputf8 && (s->caps.eightbitmime ||
	    env->body == SPOOL_BODY_BINARYMIME)) {
		if ((r = smtpc_utf8_check(s, env, read, arg, &dg,
		    results_r)) != 1)
			goto out;
		tx.env = env = &dg.env;
		read = smtpc_dg_read;
		arg = &dg;
	} else if (!s->caps.eightbitmime &&
	    env->body != SPOOL_BODY_BINARYMIME) {
		if ((r = smtpc_downgrade(s, env, read, arg, &dg,
		    results_r)) != 1)
			goto out;
		tx.env = env = &dg.env;
		read = smtpc_dg_read;
		arg = &dg;
		if (s->caps.size > 0 && env->size > s->caps.size) {
			smtpc_res_all(env, results_r, 1, "5.3.4", "message "
			    "size after conversion to 7 bits exceeds the "
			    "peer's limit");
			r = 0;
			goto out;
		}
	}
	tx.bdat = smtpc_use_bdat(s, env);
	tx.binary = env->body == SPOOL_BODY_BINARYMIME;
	/* A small message to a pipelining peer goes with MAIL and RCPT. */
	if (tx.bdat && s->caps.pipelining) {
		if ((r = smtpc_bdat_prefetch(&bd, read, arg)) == -1) {
			smtpc_res_all(env, results_r, 0, "4.3.0", "cannot "
			    "read the message");
			r = 0;
			goto out;
		}
		tx.oneshot = r == 0;
	}
	s->need_rset = 1;
	smtpc_mail_cmd(s, env, &mail);
	if (s->caps.pipelining) {
		(void)buf_append(&cmds, mail.data, mail.len);
		for (i = 0; i < env->nrcpt; i++)
			if (tx.st[i] != RC_SKIP)
				smtpc_rcpt_cmd(s, env->id, &env->rcpts[i],
				    env->smtputf8, &cmds);
		if (tx.oneshot) {
			smtpc_bdat_complete(&bd);
			(void)buf_appendf(&cmds, "BDAT %zu LAST\r\n",
			    bd.gather.len);
			(void)buf_append(&cmds, bd.gather.data, bd.gather.len);
			bd.chunks = 1;
			bd.octets = bd.gather.len;
		} else if (!tx.bdat)
			(void)buf_appends(&cmds, "DATA\r\n");
		r = smtpc_tx_pipelined(&tx, &cmds);
	} else
		r = smtpc_tx_lockstep(&tx, &mail);
	r = r == -1 ? smtpc_tx_lost(&tx, tx.last_sent) :
	    smtpc_tx_finish(&tx, read, arg);
out:
	if (s->bare_lf > 0)
		log_warn("%s smtpc bare_lf=%llu peer=%s (sent as CRLF)",
		    log_escape(&esc, env->id, strlen(env->id), 64),
		    s->bare_lf, s->peer);
	buf_free(&esc);
	buf_free(&mail);
	buf_free(&cmds);
	smtpc_dg_free(&dg);
	smtpc_bdat_free(&bd);
	free(tx.st);
	return r;
}

/* ------------------------------------------------------------ reuse */

int
smtpc_reusable(struct smtpc *s)
{
	struct pollfd pfd;

	if (!s->connected || s->broken || s->closing || s->unusable)
		return 0;
	/* Anything to read now is unsolicited: a 421 on idle, or EOF. */
	pfd.fd = s->c.fd;
	pfd.events = POLLIN;
	if (conn_pending(&s->c) || poll(&pfd, 1, 0) != 0) {
		s->broken = 1;
		return 0;
	}
	if (!s->need_rset)
		return 1;
	if (smtpc_cmd(s, TO(s, rset, TO_RSET), "RSET", "RSET\r\n") == -1)
		return 0;
	if (s->rep.code / 100 != 2) {
		s->unusable = 1;
		return 0;
	}
	s->need_rset = 0;
	return 1;
}

void
smtpc_close(struct smtpc **sp)
{
	struct smtpc *s = *sp;

	if (s == NULL)
		return;
	if (s->connected && !s->broken && !s->closing) {
		/* Politeness only: its reply changes nothing. */
		(void)smtpc_cmd(s, TO(s, quit, TO_QUIT), "QUIT", "QUIT\r\n");
	}
	if (s->connected)
		conn_close(&s->c);
	smtpc_reply_free(&s->rep);
	buf_free(&s->long_line);
	buf_free(&s->why);
	free(s);
	*sp = NULL;
}
