/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * buzond's POP3 session: greeting, the command loop, STLS and
 * authentication (USER/PASS and AUTH PLAIN against the users database).
 * See pop3.h for what this process may touch.
 *
 * A session is a state (enum pop3_state, changed only by pop3_set_state)
 * and a command table (pop3_cmd.c): the dispatcher checks the state, the
 * TLS requirement for credentials and the limits once; handlers do their
 * command and fill s->reply; one writer sends it. Replies are flushed when
 * no further pipelined command is waiting (RFC 2449 PIPELINING).
 *
 * Credentials are accepted only over TLS (STLS or port 995) unless the
 * client is in cleartext_networks. Each failed login waits a growing delay
 * and the session ends after auth_fail_limit failures; over all sessions,
 * an address with fail_ip_limit failures in fail_ip_window_ms gets no
 * login checked at all until they age out. Passwords are never logged.
 */
#include "config.h"

#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/cfg.h"
#include "lib/conn.h"
#include "lib/log.h"
#include "lib/netaddr.h"
#include "lib/ratelimit.h"
#include "lib/sasl.h"
#include "lib/tls.h"
#include "lib/users.h"
#include "lib/xalloc.h"
#include "store/pop3.h"
#include "store/pop3_cmd.h"
#include "store/pop3_priv.h"

#define POP3_AUTH_LINE_MAX	(12288 + 2)	/* AUTH, PASS and responses */
#define POP3_USER_MAX		255		/* USER argument */
#define POP3_AUTH_DELAY_STEP_MS	500
#define POP3_AUTH_DELAY_MAX_MS	3000
#define POP3_BYE_TIMEOUT_MS	1000		/* last words after a limit */
#define POP3_TLS_TIMEOUT_MS	60000		/* a whole TLS handshake */

typedef void pop3_handler(struct pop3_session *, const char *, size_t);

static unsigned long pop3_session_seq;

/* ------------------------------------------------------------ helpers */

void
pop3_set_state(struct pop3_session *s, enum pop3_state st)
{
	if (s->state != st)
		log_debug("%s pop3 state %s -> %s", s->sid,
		    pop3_state_name(s->state), pop3_state_name(st));
	s->state = st;
}

void
pop3_reply(struct pop3_session *s, const char *fmt, ...)
{
	va_list ap;

	buf_reset(&s->reply);
	va_start(ap, fmt);
	(void)buf_vappendf(&s->reply, fmt, ap);	/* unbounded */
	va_end(ap);
	(void)buf_append(&s->reply, "\r\n", 2);
}

const char *
pop3_esc(struct pop3_session *s, const char *p, size_t n)
{
	buf_reset(&s->esc);
	return log_escape(&s->esc, p, n, 200);
}

/* Credentials may be sent: over TLS, or from a cleartext network. */
static int
pop3_creds_ok(const struct pop3_session *s)
{
	if (s->tls)
		return 1;
	return s->p->cleartext_networks != NULL &&
	    netaddr_in_list((const struct sockaddr *)&s->peer,
	    s->p->cleartext_networks);
}

/* The login as this session uses it: ASCII letters lowered (the users
 * database compares without ASCII case; the store lowercases paths). */
static char *
pop3_login_name(const char *login)
{
	char *p, *l = xstrdup(login);

	for (p = l; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	return l;
}

/* ------------------------------------------------------------ TLS */

static int
pop3_tls_handshake(struct pop3_session *s)
{
	const char *errstr, *sni;

	/* A handshake is machine work: it gets a minute, not the idle
	 * timeout a person reading mail needs. */
	conn_set_deadline(s->conn, s->p->idle_timeout_ms < POP3_TLS_TIMEOUT_MS ?
	    s->p->idle_timeout_ms : POP3_TLS_TIMEOUT_MS);
	if (conn_starttls_server(s->conn, s->p->tls, &errstr) == -1) {
		log_info("%s pop3 tls handshake failed client=[%s] "
		    "error=\"%s\"", s->sid, s->ip, errstr);
		s->outcome = "tls_failed";
		return -1;
	}
	s->tls = 1;
	sni = conn_tls_servername(s->conn);	/* client text: escaped */
	log_info("%s pop3 tls client=[%s] version=%s cipher=%s sni=%s",
	    s->sid, s->ip, conn_tls_version(s->conn),
	    conn_tls_cipher(s->conn), sni ? pop3_esc(s, sni, strlen(sni)) :
	    "-");
	return 1;
}

static void
pop3_stls(struct pop3_session *s, const char *arg, size_t len)
{
	(void)arg;
	if (len != 0) {
		pop3_reply(s, "-ERR Syntax: STLS");
		return;
	}
	if (s->tls) {
		pop3_reply(s, "-ERR Already using TLS");
		return;
	}
	if (s->p->tls == NULL) {
		pop3_reply(s, "-ERR STLS not available");
		return;
	}
	/* Commands pipelined after STLS came in clear text and must not be
	 * taken as protected (RFC 2595 3.1, CVE-2011-0411 class): drop. */
	if (conn_pending(s->conn)) {
		conn_discard_input(s->conn);
		log_info("%s pop3 stls discarded pipelined input client=[%s]",
		    s->sid, s->ip);
	}
	if (conn_printf(s->conn, "+OK Begin TLS negotiation\r\n") == -1 ||
	    conn_flush(s->conn) == -1 || pop3_tls_handshake(s) == -1) {
		buf_reset(&s->reply);
		s->quit = 1;
		if (s->outcome == NULL || strcmp(s->outcome, "tls_failed"))
			s->outcome = "lost";
		return;
	}
	/* Forget what was said before TLS (a USER name). */
	free(s->user_arg);
	s->user_arg = NULL;
	buf_reset(&s->reply);	/* no reply: the client speaks next */
}

/* ------------------------------------------------------------ login */

/* 1 when the client's address has used up its failed logins. */
static int
pop3_ip_throttled(struct pop3_session *s)
{
	const struct pop3_params *p = s->p;

	if (p->rl == NULL)
		return 0;
	if (ratelimit_peek(p->rl, "authfail", s->ip, p->fail_ip_window_ms,
	    conn_now_ms()) < p->fail_ip_limit)
		return 0;
	log_info("%s pop3 reject rule=auth_fail_ip_limit client=[%s] "
	    "reply=\"-ERR [SYS/TEMP]\"", s->sid, s->ip);
	/* RFC 3206: [AUTH] would tell the client the password is wrong
	 * (it may ask the user for another); the block is temporary. */
	pop3_reply(s, "-ERR [SYS/TEMP] Too many failed logins from your "
	    "address; try again later");
	return 1;
}

/* Counts a failed login, waits a growing delay, sets the reply. */
static void
pop3_auth_failed(struct pop3_session *s, const char *login,
    const char *mech)
{
	long long delay, n = 0;

	s->auth_failures++;
	if (s->p->rl != NULL)
		(void)ratelimit_hit(s->p->rl, "authfail", s->ip,
		    s->p->fail_ip_window_ms, 1LL << 40, 1, conn_now_ms(), &n);
	log_info("%s pop3 auth failed client=[%s] user=<%s> mech=%s "
	    "failures=%u address_failures=%lld", s->sid, s->ip,
	    pop3_esc(s, login, strlen(login)), mech, s->auth_failures, n);
	/* A password guesser's rate drops; a typo costs half a second. */
	delay = (long long)s->auth_failures * POP3_AUTH_DELAY_STEP_MS;
	if (delay > POP3_AUTH_DELAY_MAX_MS)
		delay = POP3_AUTH_DELAY_MAX_MS;
	(void)poll(NULL, 0, (int)delay);	/* tarpit, not a sync */
	if (s->auth_failures >= s->p->auth_fail_limit) {
		log_info("%s pop3 reject rule=pop3_auth_fail_limit "
		    "client=[%s] failures=%u", s->sid, s->ip,
		    s->auth_failures);
		pop3_reply(s, "-ERR [AUTH] Authentication failed; too many "
		    "failures, closing");
		s->quit = 1;
		s->outcome = "auth_limit";
		return;
	}
	pop3_reply(s, "-ERR [AUTH] Authentication failed");
}

/* Checks the credentials and, when good, opens the maildrop. */
static void
pop3_login(struct pop3_session *s, const char *login, const char *pw,
    size_t pwlen, const char *mech)
{
	char *canon = NULL;
	int r;

	if (s->p->users == NULL) {
		pop3_reply(s, "-ERR [SYS/TEMP] Authentication temporarily "
		    "unavailable");
		return;
	}
	if (pop3_ip_throttled(s))
		return;
	r = users_verify(s->p->users, login, pw, pwlen);
	if (r == 0) {
		pop3_auth_failed(s, login, mech);
		return;
	}
	if (r == -1) {
		log_error("%s pop3 auth users database error", s->sid);
		pop3_reply(s, "-ERR [SYS/TEMP] Authentication temporarily "
		    "unavailable");
		return;
	}
	/* The canonical address names the store, however it was typed
	 * ("\"bob\"@example.com" is bob@example.com's maildrop). */
	if (users_lookup(s->p->users, login, &canon) == 1) {
		s->user = pop3_login_name(canon);
		free(canon);
	} else
		s->user = pop3_login_name(login);
	if (pop3_mail_open(s) == -1) {	/* reply set */
		free(s->user);
		s->user = NULL;
		return;
	}
	log_info("%s pop3 login client=[%s] user=<%s> mech=%s messages=%u "
	    "tls=%s", s->sid, s->ip, pop3_esc(s, s->user, strlen(s->user)),
	    mech, s->nmsg, s->tls ? conn_tls_version(s->conn) : "no");
	pop3_set_state(s, POP3_ST_TRANS);
	pop3_reply(s, "+OK Logged in: %u messages", s->nmsg);
}

static void
pop3_user(struct pop3_session *s, const char *arg, size_t len)
{
	free(s->user_arg);
	s->user_arg = NULL;
	if (len == 0 || len > POP3_USER_MAX || memchr(arg, '\0', len)) {
		pop3_reply(s, "-ERR Syntax: USER name");
		return;
	}
	s->user_arg = xstrndup(arg, len);
	pop3_reply(s, "+OK Send PASS");
}

static void
pop3_pass(struct pop3_session *s, const char *arg, size_t len)
{
	char *login;

	if (s->user_arg == NULL) {
		pop3_reply(s, "-ERR Send USER first");
		return;
	}
	login = s->user_arg;
	s->user_arg = NULL;
	/* The password is the rest of the line: it may hold spaces. */
	if (len == 0 || len > USERS_PASSWD_MAX)
		pop3_auth_failed(s, login, "USER");
	else
		pop3_login(s, login, arg, len, "USER");
	free(login);
}

/* One response line of the AUTH exchange, decoded into out: 1; 0
 * cancelled or malformed (reply set); -1 connection lost (quit set). */
static int
pop3_auth_read(struct pop3_session *s, struct buf *out)
{
	const char *line;
	size_t len;
	int r;

	if (conn_printf(s->conn, "+ \r\n") == -1 ||
	    conn_flush(s->conn) == -1) {
		s->quit = 1;
		return -1;
	}
	conn_set_deadline(s->conn, s->p->idle_timeout_ms);
	r = conn_getline(s->conn, POP3_AUTH_LINE_MAX, &line, &len);
	if (r == CONN_TOOLONG) {
		pop3_reply(s, "-ERR Authentication line too long");
		return 0;
	}
	if (r != 1) {
		s->quit = 1;
		s->outcome = "lost";
		return -1;
	}
	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	r = sasl_response(line, len, out);
	if (r == 0)
		pop3_reply(s, "-ERR Authentication cancelled");
	else if (r == -1)
		pop3_reply(s, "-ERR Invalid base64 data");
	return r == 1 ? 1 : 0;
}

static void
pop3_auth(struct pop3_session *s, const char *arg, size_t len)
{
	struct buf in = BUF_INIT(0);
	struct sasl_plain p;
	enum sasl_mech mech;
	const char *ir, *reply, *errstr;
	size_t irlen;

	memset(&p, 0, sizeof(p));
	if (len == 0) {	/* mechanism list (pre-RFC 5034 clients) */
		pop3_reply(s, "+OK\r\nPLAIN\r\n.");
		return;
	}
	if (sasl_auth_args(arg, len, &mech, &ir, &irlen, &reply) == -1) {
		pop3_reply(s, "%s", reply[0] == '5' && reply[1] == '0' &&
		    reply[2] == '4' ? "-ERR Unsupported authentication "
		    "mechanism" : "-ERR Syntax: AUTH mechanism [response]");
		return;
	}
	if (mech != SASL_MECH_PLAIN) {
		pop3_reply(s, "-ERR Unsupported authentication mechanism");
		return;
	}
	if (ir != NULL) {
		if (sasl_b64_decode(ir, irlen, &in) == -1) {
			pop3_reply(s, "-ERR Invalid base64 data");
			goto out;
		}
	} else if (pop3_auth_read(s, &in) != 1)
		goto out;
	if (sasl_plain_parse(in.data ? in.data : "", in.len, &p,
	    &errstr) == -1) {
		pop3_reply(s, "-ERR Malformed PLAIN response: %s", errstr);
		goto out;
	}
	if (p.authzid != NULL && strcasecmp(p.authzid, p.authcid) != 0) {
		log_info("%s pop3 auth refused client=[%s] rule=authzid",
		    s->sid, s->ip);
		pop3_reply(s, "-ERR [AUTH] Authorization identity differs "
		    "from the login");
		goto out;
	}
	pop3_login(s, p.authcid, p.passwd, p.passwd_len, "PLAIN");
out:
	sasl_plain_clear(&p);
	if (in.data != NULL)
		xbzero(in.data, in.cap);
	buf_free(&in);
}

/* ------------------------------------------------------------ others */

static void
pop3_capa(struct pop3_session *s, const char *arg, size_t len)
{
	(void)arg;
	(void)len;
	pop3_reply(s, "+OK Capability list follows");
	(void)buf_appends(&s->reply, "TOP\r\nUIDL\r\nRESP-CODES\r\n"
	    "AUTH-RESP-CODE\r\nPIPELINING\r\n");
	if (s->state == POP3_ST_AUTH) {
		if (pop3_creds_ok(s))
			(void)buf_appends(&s->reply, "USER\r\nSASL PLAIN\r\n");
		if (s->p->tls != NULL && !s->tls)
			(void)buf_appends(&s->reply, "STLS\r\n");
	}
	(void)buf_appends(&s->reply, "IMPLEMENTATION Estafeta\r\n.\r\n");
}

static void
pop3_quit(struct pop3_session *s, const char *arg, size_t len)
{
	(void)arg;
	(void)len;
	s->quit = 1;
	s->outcome = "quit";
	if (s->state != POP3_ST_TRANS) {
		pop3_reply(s, "+OK Bye");
		return;
	}
	pop3_set_state(s, POP3_ST_UPDATE);
	pop3_mail_update(s);	/* reply set */
}

static pop3_handler *const pop3_handlers[POP3_CMD_COUNT] = {
	[POP3_CMD_USER] = pop3_user,
	[POP3_CMD_PASS] = pop3_pass,
	[POP3_CMD_AUTH] = pop3_auth,
	[POP3_CMD_STLS] = pop3_stls,
	[POP3_CMD_CAPA] = pop3_capa,
	[POP3_CMD_QUIT] = pop3_quit,
	[POP3_CMD_NOOP] = pop3_noop,
	[POP3_CMD_STAT] = pop3_stat,
	[POP3_CMD_LIST] = pop3_list,
	[POP3_CMD_RETR] = pop3_retr,
	[POP3_CMD_DELE] = pop3_dele,
	[POP3_CMD_RSET] = pop3_rset,
	[POP3_CMD_TOP] = pop3_top,
	[POP3_CMD_UIDL] = pop3_uidl_cmd,
};

/* ------------------------------------------------------------ dispatch */

static void
pop3_dispatch(struct pop3_session *s, const char *line, size_t len)
{
	const struct pop3_cmd_def *c;
	char verb[POP3_VERB_MAX];
	const char *arg, *refusal;
	size_t alen;

	buf_reset(&s->reply);
	s->ncmd++;
	if (pop3_cmd_split(line, len, verb, &arg, &alen) == -1 ||
	    (c = pop3_cmd_find(verb)) == NULL) {
		pop3_reply(s, "-ERR Unknown command");
		s->errors++;
		return;
	}
	if (c->id != POP3_CMD_PASS && c->id != POP3_CMD_AUTH)
		log_debug("%s pop3 command %s", s->sid,
		    pop3_esc(s, line, len));
	if ((refusal = pop3_cmd_check(c, s->state, pop3_creds_ok(s))) !=
	    NULL) {
		pop3_reply(s, "%s", refusal);
		s->errors++;
		return;
	}
	ASSERT(pop3_handlers[c->id] != NULL);
	pop3_handlers[c->id](s, arg, alen);
	if (s->reply.len > 0 && s->reply.data[0] == '-') {
		if (c->flags & POP3_CMD_COUNTS_ERR)
			s->errors++;
	} else
		s->ncmd_ok++;
}

/* Reads and runs one command; -1 when the connection is gone. */
static int
pop3_read_command(struct pop3_session *s)
{
	const char *line;
	size_t len, max = s->p->line_limit;
	int r;

	/* Replies wait while whole pipelined commands are queued, and go out
	 * before we would block for input. */
	conn_set_deadline(s->conn, s->p->idle_timeout_ms);
	line = conn_peek(s->conn, &len);
	if (memchr(line, '\n', len) == NULL && conn_flush(s->conn) == -1)
		return -1;
	r = conn_getline(s->conn, max > POP3_AUTH_LINE_MAX ? max :
	    POP3_AUTH_LINE_MAX, &line, &len);
	if (r == 1 && len > max && (len < 5 || (strncasecmp(line, "AUTH ",
	    5) != 0 && strncasecmp(line, "PASS ", 5) != 0)))
		r = CONN_TOOLONG;
	if (r == CONN_TOOLONG) {
		s->ncmd++;
		s->errors++;
		pop3_reply(s, "-ERR Line too long");
		return 1;
	}
	if (r == -1)
		return -1;
	/* CRLF ends a command; a bare LF is tolerated. */
	len--;
	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (memchr(line, '\r', len) != NULL || memchr(line, '\0', len)) {
		s->ncmd++;
		s->errors++;
		pop3_reply(s, "-ERR Invalid character in command");
		return 1;
	}
	pop3_dispatch(s, line, len);
	return 1;
}

/* Says why the session ends (on a timeout) and records the outcome. */
static void
pop3_lost(struct pop3_session *s)
{
	if (s->conn->err == CONN_ETIMEOUT) {
		s->outcome = "timeout";
		log_info("%s pop3 timeout client=[%s] state=%s", s->sid,
		    s->ip, pop3_state_name(s->state));
		conn_set_deadline(s->conn, POP3_BYE_TIMEOUT_MS);
		(void)conn_printf(s->conn, "-ERR Disconnected for "
		    "inactivity\r\n");
		(void)conn_flush(s->conn);	/* closing anyway */
	} else if (s->outcome == NULL)
		s->outcome = "lost";
}

/* The one writer. A big reply (RETR) goes in pieces so that conn's
 * write buffer, flushed as it fills, never holds a second copy of it. */
static int
pop3_send(struct pop3_session *s)
{
	size_t off, n;

	for (off = 0; off < s->reply.len; off += n) {
		n = s->reply.len - off < 65536 ? s->reply.len - off : 65536;
		if (conn_write(s->conn, s->reply.data + off, n) == -1)
			return -1;
	}
	return s->msg_fd != -1 ? pop3_mail_stream(s) : 1;
}

static void
pop3_loop(struct pop3_session *s)
{
	while (!s->quit) {
		if (pop3_read_command(s) == -1) {
			pop3_lost(s);
			break;
		}
		if (pop3_send(s) == -1) {
			s->outcome = "lost";
			break;
		}
		if (s->reply.cap > 1024 * 1024)
			buf_free(&s->reply);	/* after a big RETR */
		if (!s->quit && s->errors >= s->p->error_limit) {
			log_info("%s pop3 too many errors client=[%s] "
			    "errors=%u", s->sid, s->ip, s->errors);
			(void)conn_printf(s->conn, "-ERR Too many errors, "
			    "closing\r\n");
			s->outcome = "errors";
			s->quit = 1;
		}
	}
	conn_set_deadline(s->conn, POP3_BYE_TIMEOUT_MS);
	(void)conn_flush(s->conn);	/* closing: nothing more to do */
}

void
pop3_session(struct conn *c, const struct pop3_params *p, int implicit_tls)
{
	struct pop3_session *s = xcalloc(1, sizeof(*s));
	socklen_t plen = sizeof(s->peer);
	int fl;

	/* Every wait is a poll() with the idle deadline: never block. */
	if ((fl = fcntl(c->fd, F_GETFL)) != -1 && !(fl & O_NONBLOCK))
		(void)fcntl(c->fd, F_SETFL, fl | O_NONBLOCK);
	s->p = p;
	s->conn = c;
	s->state = POP3_ST_AUTH;
	s->implicit_tls = implicit_tls;
	buf_init(&s->reply, 0);
	s->msg_fd = -1;
	buf_init(&s->esc, 0);
	(void)snprintf(s->sid, sizeof(s->sid), "p%05x%04lx",
	    (unsigned)getpid() & 0xfffff, ++pop3_session_seq & 0xffff);
	if (getpeername(c->fd, (struct sockaddr *)&s->peer, &plen) == 0)
		netaddr_ntop((const struct sockaddr *)&s->peer, s->ip,
		    sizeof(s->ip), &s->port);
	else
		(void)snprintf(s->ip, sizeof(s->ip), "unknown");
	log_info("%s pop3 connect client=[%s]:%d%s", s->sid, s->ip, s->port,
	    implicit_tls ? " tls=implicit" : "");

	/* RFC 8314: on port 995 the handshake comes before the greeting. */
	if (implicit_tls && (p->tls == NULL || pop3_tls_handshake(s) == -1)) {
		if (p->tls == NULL)
			s->outcome = "no_tls";
	} else {
		(void)conn_printf(c, "+OK %s POP3 ready\r\n", p->hostname);
		pop3_loop(s);
	}
	/* The lock goes first: once the summary is logged, another session
	 * may take the maildrop. Without QUIT nothing was deleted. */
	if (s->state != POP3_ST_AUTH)
		pop3_mail_close(s);
	log_info("%s pop3 disconnect client=[%s] user=<%s> commands=%u/%u "
	    "retrieved=%u retrieved_octets=%llu top=%u deleted=%u in=%llu "
	    "out=%llu tls=%s outcome=%s", s->sid, s->ip,
	    s->user ? pop3_esc(s, s->user, strlen(s->user)) : "",
	    s->ncmd_ok, s->ncmd, s->nretr, s->retr_octets, s->ntop,
	    s->expunged, c->bytes_in, c->bytes_out,
	    s->tls ? conn_tls_version(c) : "no",
	    s->outcome ? s->outcome : "lost");
	free(s->user_arg);
	free(s->user);
	buf_free(&s->reply);
	if (s->msg_fd != -1)
		(void)close(s->msg_fd);	/* read-only */
	buf_free(&s->esc);
	free(s);
}
