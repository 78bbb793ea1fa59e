/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * IMAP STARTTLS (RFC 3501 6.2.1), LOGIN and AUTHENTICATE PLAIN with SASL-IR
 * (RFC 4959). Logins are accepted only over TLS unless the configuration
 * allows cleartext (then LOGINDISABLED is not announced and AUTH=PLAIN is).
 * Every failure is answered after a growing delay; past auth_fail_limit
 * the session ends. Over all sessions (POP3's too), an address with
 * fail_ip_limit failures within fail_ip_window_ms has no login checked until
 * they age out. Passwords are never logged and are wiped from every
 * buffer here. "imap auth failed client=[ADDR]" is the line for fail2ban.
 */
#include "config.h"

#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/buf.h"
#include "lib/conn.h"
#include "lib/log.h"
#include "lib/ratelimit.h"
#include "lib/sasl.h"
#include "lib/tls.h"
#include "lib/users.h"
#include "lib/xalloc.h"
#include "store/imap_priv.h"
#include "store/mstore.h"

#define AUTH_LINE_MAX		12288
#define AUTH_DELAY_STEP_MS	500
#define AUTH_DELAY_MAX_MS	5000

int
imap_auth_allowed(const struct imap_session *s)
{
	return s->env->users != NULL && (s->tls || s->env->cleartext_auth);
}

int
imap_tls_handshake(struct imap_session *s)
{
	const char *errstr;

	if (s->env->tls == NULL) {
		log_error("%s imap tls not configured client=[%s]", s->sid,
		    s->ip);
		s->outcome = "tls_failed";
		return -1;
	}
	conn_set_deadline(s->conn, s->env->login_timeout_ms);
	if (conn_starttls_server(s->conn, s->env->tls, &errstr) == -1) {
		log_info("%s imap tls handshake failed client=[%s] "
		    "error=\"%s\"", s->sid, s->ip, errstr);
		s->outcome = "tls_failed";
		return -1;
	}
	s->tls = 1;
	log_info("%s imap tls client=[%s] version=%s cipher=%s", s->sid,
	    s->ip, conn_tls_version(s->conn), conn_tls_cipher(s->conn));
	return 1;
}

void
imap_cmd_starttls(struct imap_session *s, const struct imap_arg *args,
    size_t nargs)
{
	(void)args;
	if (nargs != 0) {
		imap_reply(s, IMAP_BAD, "STARTTLS takes no arguments");
		return;
	}
	if (s->tls) {
		imap_reply(s, IMAP_BAD, "TLS is already active");
		return;
	}
	if (s->env->tls == NULL) {
		imap_reply(s, IMAP_NO, "TLS is not available");
		return;
	}
	/* The OK goes out in clear, then the handshake; anything the
	 * client pipelined after STARTTLS is dropped (injection). */
	(void)conn_printf(s->conn, "%s OK Begin TLS negotiation now\r\n",
	    s->cmd->tag);
	s->nok++;
	s->tagged_sent = 1;
	conn_discard_input(s->conn);
	if (imap_tls_handshake(s) == -1)
		imap_set_state(s, IMAP_ST_LOGOUT);
}

/*
 * 1 when the client's address has used up its failed logins (reply set; it
 * counts as one of the session's failures, so a guesser's session still
 * ends at auth_fail_limit).
 */
static int
imap_ip_throttled(struct imap_session *s)
{
	const struct imap_env *e = s->env;

	if (e->rl == NULL || ratelimit_peek(e->rl, "authfail", s->ip,
	    e->fail_ip_window_ms, conn_now_ms()) < e->fail_ip_limit)
		return 0;
	s->auth_failures++;
	log_info("%s imap reject rule=auth_fail_ip_limit client=[%s] "
	    "reply=\"NO [UNAVAILABLE]\"", s->sid, s->ip);
	imap_reply(s, IMAP_NO, "[UNAVAILABLE] Too many failed logins from "
	    "your address; try again later");
	return 1;
}

/* Counts a failure, waits a growing delay, sets the NO reply. */
static void
imap_auth_failed(struct imap_session *s, const char *login)
{
	long long delay, n = 0;

	s->auth_failures++;
	if (s->env->rl != NULL)
		(void)ratelimit_hit(s->env->rl, "authfail", s->ip,
		    s->env->fail_ip_window_ms, 1LL << 40, 1, conn_now_ms(), &n);
	log_info("%s imap auth failed client=[%s] user=%s failures=%u "
	    "address_failures=%lld", s->sid, s->ip,
	    login ? imap_esc(s, login, strlen(login)) : "-",
	    s->auth_failures, n);
	delay = (long long)s->auth_failures * AUTH_DELAY_STEP_MS;
	if (delay > AUTH_DELAY_MAX_MS)
		delay = AUTH_DELAY_MAX_MS;
	(void)poll(NULL, 0, (int)delay);	/* tarpit, not a sync */
	imap_reply(s, IMAP_NO, "[AUTHENTICATIONFAILED] Authentication "
	    "failed");
}

/* Checks the credentials and, when good, opens the store. */
static void
imap_auth_check(struct imap_session *s, const char *login, const char *pw,
    size_t pwlen)
{
	struct buf cap = BUF_INIT(0);
	const char *errstr = NULL;
	unsigned long long q = 0;
	char *user = NULL;
	int r;

	if (imap_ip_throttled(s))
		return;
	r = users_verify(s->env->users, login, pw, pwlen);
	if (r == 0) {
		imap_auth_failed(s, login);
		return;
	}
	if (r == -1) {
		log_error("%s imap auth error client=[%s] database error",
		    s->sid, s->ip);
		imap_reply(s, IMAP_NO, "[UNAVAILABLE] Temporary failure, "
		    "try again later");
		return;
	}
	/* The canonical address names the store, however it was typed. */
	if (users_lookup(s->env->users, login, &user) != 1)
		user = xstrdup(login);
	/* The quota LMTP enforces holds for APPEND and COPY too. */
	if (users_quota(s->env->users, user, &q) == -1) {
		log_error("%s imap quota lookup failed user=%s", s->sid,
		    imap_esc(s, user, strlen(user)));
		free(user);
		imap_reply(s, IMAP_NO, "[UNAVAILABLE] Temporary failure, "
		    "try again later");
		return;
	}
	if (mstore_open(s->env->store_root, user, 1, &s->store,
	    &errstr) != 1) {
		log_error("%s imap store open failed user=%s error=\"%s\"",
		    s->sid, user, errstr ? errstr : "?");
		free(user);
		imap_reply(s, IMAP_NO, "[UNAVAILABLE] Mailbox unavailable, "
		    "try again later");
		return;
	}
	s->user = user;
	s->quota = q > 0 ? (uint64_t)q : s->env->default_quota;
	mstore_set_quota(s->store, s->quota);
	imap_set_state(s, IMAP_ST_AUTH);
	/* No more logins in this session: the database can go. */
	if (s->env->users_release != NULL)
		users_close(s->env->users_release);
	log_info("%s imap login client=[%s] user=%s tls=%s", s->sid, s->ip,
	    imap_esc(s, user, strlen(user)), s->tls ? "yes" : "no");
	imap_capability(s, &cap);
	imap_reply(s, IMAP_OK, "[CAPABILITY %s] Logged in", buf_cstr(&cap));
	buf_free(&cap);
}

void
imap_cmd_login(struct imap_session *s, const struct imap_arg *args,
    size_t nargs)
{
	const char *login, *pw;
	size_t llen, pwlen;

	if (nargs != 2 || !imap_arg_astring(&args[0], &login, &llen) ||
	    !imap_arg_astring(&args[1], &pw, &pwlen)) {
		imap_reply(s, IMAP_BAD, "Syntax: LOGIN user password");
		return;
	}
	if (!imap_auth_allowed(s)) {
		imap_reply(s, IMAP_NO, "[PRIVACYREQUIRED] LOGIN is disabled "
		    "before STARTTLS");
		return;
	}
	if (llen == 0 || memchr(login, '\0', llen) != NULL || llen > 320 ||
	    pwlen == 0 || pwlen > USERS_PASSWD_MAX) {
		imap_auth_failed(s, NULL);
		return;
	}
	imap_auth_check(s, login, pw, pwlen);
	/* The parser frees the arguments; wipe the password first. */
	xbzero((char *)(uintptr_t)pw, pwlen);
}

/* The client's response line for AUTHENTICATE, base64-decoded into out.
 * 1, 0 cancelled ("*"), -1 malformed (reply set) or connection gone. */
static int
imap_auth_response(struct imap_session *s, struct buf *out)
{
	const char *line;
	size_t len;
	int r;

	imap_printf(s, "+ \r\n");
	if (conn_flush(s->conn) == -1)
		return -1;
	r = conn_getline(s->conn, AUTH_LINE_MAX, &line, &len);
	if (r == -1) {
		imap_set_state(s, IMAP_ST_LOGOUT);
		s->outcome = "lost";
		s->tagged_sent = 1;
		return -1;
	}
	if (r == CONN_TOOLONG) {
		if (imap_skip_line(s) == -1) {
			imap_set_state(s, IMAP_ST_LOGOUT);
			s->outcome = "lost";
			s->tagged_sent = 1;
			return -1;
		}
		imap_reply(s, IMAP_BAD, "Response too long");
		return -1;
	}
	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	r = sasl_response(line, len, out);
	xbzero((char *)(uintptr_t)line, len);
	if (r == 0) {
		imap_reply(s, IMAP_BAD, "Authentication cancelled");
		return 0;
	}
	if (r == -1) {
		imap_reply(s, IMAP_BAD, "Invalid base64 data");
		return -1;
	}
	return 1;
}

void
imap_cmd_authenticate(struct imap_session *s, const struct imap_arg *args,
    size_t nargs)
{
	struct buf dec = BUF_INIT(4096);
	struct sasl_plain pl;
	const char *errstr;

	if (nargs < 1 || nargs > 2 || args[0].type != IMAP_ARG_ATOM ||
	    (nargs == 2 && args[1].type != IMAP_ARG_ATOM)) {
		imap_reply(s, IMAP_BAD, "Syntax: AUTHENTICATE mechanism "
		    "[initial-response]");
		return;
	}
	if (!imap_arg_is(&args[0], "PLAIN")) {
		imap_reply(s, IMAP_NO, "Unsupported authentication mechanism");
		return;
	}
	if (!imap_auth_allowed(s)) {
		imap_reply(s, IMAP_NO, "[PRIVACYREQUIRED] Authentication is "
		    "disabled before STARTTLS");
		return;
	}
	if (nargs == 2) {
		/* SASL-IR: "=" is the empty response. */
		if (!(args[1].len == 1 && args[1].str[0] == '=') &&
		    sasl_b64_decode(args[1].str, args[1].len, &dec) == -1) {
			imap_reply(s, IMAP_BAD, "Invalid base64 data");
			goto out;
		}
	} else if (imap_auth_response(s, &dec) != 1)
		goto out;
	if (sasl_plain_parse(dec.data ? dec.data : "", dec.len, &pl,
	    &errstr) == -1) {
		imap_auth_failed(s, NULL);
		goto out;
	}
	if (pl.authzid != NULL && strcmp(pl.authzid, pl.authcid) != 0) {
		/* Counted and delayed like a bad password. */
		imap_auth_failed(s, pl.authcid);
		imap_reply(s, IMAP_NO, "[AUTHORIZATIONFAILED] Cannot act as "
		    "another user");
	} else
		imap_auth_check(s, pl.authcid, pl.passwd, pl.passwd_len);
	sasl_plain_clear(&pl);
out:
	if (dec.data != NULL)
		xbzero(dec.data, dec.cap);
	buf_free(&dec);
	/* The parser frees the arguments: wipe the initial response (it
	 * holds the password in base64) first, as LOGIN does. */
	if (nargs == 2)
		xbzero((char *)(uintptr_t)args[1].str, args[1].len);
}
