/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * smtpd: STARTTLS (RFC 3207) and AUTH (RFC 4954) with PLAIN (RFC 4616) and
 * LOGIN. AUTH is offered and accepted only over TLS, except from
 * smtpd_auth_cleartext_networks. Passwords are never logged and are wiped
 * from every buffer here. Failed attempts are counted per client address in
 * shared memory: each failure is answered after a growing delay, and past
 * smtpd_auth_fail_limit the address is refused for smtpd_auth_fail_window.
 * The log line "smtp auth failed client=[ADDR]" is meant for fail2ban.
 */
#include "config.h"

#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/buf.h"
#include "lib/conn.h"
#include "lib/log.h"
#include "lib/netaddr.h"
#include "lib/ratelimit.h"
#include "lib/sasl.h"
#include "lib/tls.h"
#include "lib/users.h"
#include "lib/xalloc.h"
#include "relay/relay_cfg.h"
#include "relay/smtpd.h"
#include "relay/smtpd_auth.h"
#include "relay/smtpd_priv.h"

#define AUTH_LINE_MAX		12288	/* RFC 4954 section 4 */
#define AUTH_DELAY_STEP_MS	500
#define AUTH_DELAY_MAX_MS	5000

int
smtpd_auth_offered(const struct smtpd_session *s)
{
	if (s->ctx->users == NULL || s->auth_user != NULL)
		return 0;
	return s->tls || netaddr_in_list((const struct sockaddr *)&s->peer,
	    &s->cfg->smtpd_auth_cleartext_networks);
}

/* The TLS handshake on the session's connection; 1 or -1 (logged). */
int
smtpd_tls_handshake(struct smtpd_session *s)
{
	const char *errstr, *sni;

	conn_set_deadline(&s->conn, s->cfg->smtpd_command_timeout);
	if (conn_starttls_server(&s->conn, s->ctx->tls, &errstr) == -1) {
		log_info("%s smtp tls handshake failed client=[%s] error=\"%s\"",
		    s->sid, s->ip, errstr);
		s->outcome = "tls_failed";
		return -1;
	}
	s->tls = 1;
	sni = conn_tls_servername(&s->conn);	/* client text: escaped */
	log_info("%s smtp tls client=[%s] version=%s cipher=%s bits=%d sni=%s",
	    s->sid, s->ip, conn_tls_version(&s->conn),
	    conn_tls_cipher(&s->conn), conn_tls_bits(&s->conn),
	    sni ? smtpd_esc(s, sni, strlen(sni)) : "-");
	return 1;
}

void
smtpd_starttls(struct smtpd_session *s, const char *arg, size_t len)
{
	(void)arg;
	if (len != 0) {
		smtpd_reply(s, "501 5.5.4 Syntax: STARTTLS");
		return;
	}
	if (s->tls) {
		smtpd_reply(s, "503 5.5.1 Error: TLS already active");
		return;
	}
	if (s->ctx->tls == NULL || s->ls->kind == LISTEN_SMTPS || s->local) {
		smtpd_reply(s, "454 4.7.0 TLS not available");
		return;
	}
	/* Anything pipelined after STARTTLS was sent in clear text and
	 * would be taken as protected afterwards (CVE-2011-0411 class):
	 * refuse, discard it, and end the session. */
	if (conn_pending(&s->conn)) {
		conn_discard_input(&s->conn);
		log_info("%s smtp reject rule=starttls_injection client=[%s] "
		    "reply=\"554 5.5.1\"", s->sid, s->ip);
		smtpd_reply(s, "554 5.5.1 Error: command pipelining after "
		    "STARTTLS is not allowed");
		s->outcome = "starttls_injection";
		s->quit = 1;
		return;
	}
	if (conn_printf(&s->conn, "220 2.0.0 Ready to start TLS\r\n") == -1 ||
	    conn_flush(&s->conn) == -1 || smtpd_tls_handshake(s) == -1) {
		buf_reset(&s->reply);
		s->quit = 1;
		return;
	}
	/* RFC 3207 4.2: forget everything learnt before TLS. */
	smtpd_tx_reset(s);
	free(s->helo);
	s->helo = NULL;
	s->esmtp = 0;
	free(s->auth_user);
	s->auth_user = NULL;
	smtpd_set_state(s, ST_CONNECTED);
	buf_reset(&s->reply);	/* no reply: the client speaks next */
}

/* Reads one client response line of the exchange. 1 decoded into out, 0
 * cancelled, -1 malformed (reply set) or connection lost (quit set). */
static int
smtpd_auth_read(struct smtpd_session *s, const char *challenge,
    struct buf *out)
{
	const char *line;
	size_t len;
	int r;

	if (conn_printf(&s->conn, "334 %s\r\n", challenge) == -1 ||
	    conn_flush(&s->conn) == -1) {
		s->quit = 1;
		return -1;
	}
	conn_set_deadline(&s->conn, s->cfg->smtpd_command_timeout);
	r = conn_getline(&s->conn, AUTH_LINE_MAX + 2, &line, &len);
	if (r == CONN_TOOLONG) {
		smtpd_reply(s, "500 5.5.6 Authentication exchange line is too "
		    "long");
		return -1;
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
		smtpd_reply(s, "501 5.0.0 Authentication cancelled");
	else if (r == -1)
		smtpd_reply(s, "501 5.5.2 Invalid base64 data");
	return r == 1 ? 1 : -1;
}

/* Counts a failure, waits a growing delay, sets the 535 reply. */
static void
smtpd_auth_failed(struct smtpd_session *s, const char *login,
    const char *mech)
{
	const struct relay_cfg *cfg = s->cfg;
	long long n = 0, delay;

	s->auth_failures++;
	if (s->ctx->rl != NULL)
		(void)ratelimit_hit(s->ctx->rl, "authfail", s->ip,
		    cfg->smtpd_auth_fail_window, 1LL << 40, 1, conn_now_ms(),
		    &n);
	else
		n = s->auth_failures;
	log_info("%s smtp auth failed client=[%s] user=<%s> mech=%s "
	    "failures=%lld", s->sid, s->ip, login ? smtpd_esc(s, login,
	    strlen(login)) : "", mech, n);
	/* Growing delay: a password guesser's rate drops, a typo costs ~1s. */
	delay = n * AUTH_DELAY_STEP_MS;
	if (delay > AUTH_DELAY_MAX_MS)
		delay = AUTH_DELAY_MAX_MS;
	if (delay > s->session_end - conn_now_ms())
		delay = 0;
	if (delay > 0)
		(void)poll(NULL, 0, (int)delay);	/* tarpit, not a sync */
	smtpd_reply(s, "535 5.7.8 Error: authentication failed");
}

static int
smtpd_auth_throttled(struct smtpd_session *s)
{
	const struct relay_cfg *cfg = s->cfg;

	if (s->ctx->rl == NULL)
		return s->auth_failures >= (unsigned)cfg->smtpd_auth_fail_limit;
	return ratelimit_peek(s->ctx->rl, "authfail", s->ip,
	    cfg->smtpd_auth_fail_window, conn_now_ms()) >=
	    cfg->smtpd_auth_fail_limit;
}

/* Collects login and password for the mechanism; 1, or -1 with reply. */
static int
smtpd_auth_creds(struct smtpd_session *s, enum sasl_mech mech,
    const char *ir, size_t irlen, struct sasl_plain *p)
{
	struct buf in = BUF_INIT(0), user = BUF_INIT(0);
	const char *errstr;
	int r = -1;

	if (mech == SASL_MECH_PLAIN) {
		if (ir != NULL) {
			if (sasl_b64_decode(ir, irlen, &in) == -1) {
				smtpd_reply(s, "501 5.5.2 Invalid base64 data");
				goto out;
			}
		} else if (smtpd_auth_read(s, "", &in) != 1)
			goto out;
		if (sasl_plain_parse(in.data ? in.data : "", in.len, p,
		    &errstr) == -1) {
			smtpd_reply(s, "501 5.5.2 Malformed PLAIN response: %s",
			    errstr);
			goto out;
		}
		if (p->authzid != NULL && p->authzid[0] != '\0' &&
		    strcasecmp(p->authzid, p->authcid) != 0) {
			smtpd_reply(s, "535 5.7.8 Error: authorization "
			    "identity differs from the login");
			sasl_plain_clear(p);
			goto out;
		}
		r = 1;
		goto out;
	}
	/* LOGIN: username, then password, each base64. */
	if (ir != NULL) {
		if (sasl_b64_decode(ir, irlen, &user) == -1) {
			smtpd_reply(s, "501 5.5.2 Invalid base64 data");
			goto out;
		}
	} else if (smtpd_auth_read(s, "VXNlcm5hbWU6", &user) != 1)
		goto out;
	if (smtpd_auth_read(s, "UGFzc3dvcmQ6", &in) != 1)
		goto out;
	memset(p, 0, sizeof(*p));
	p->authcid = xstrndup(user.data ? user.data : "", user.len);
	p->passwd = xstrndup(in.data ? in.data : "", in.len);
	p->passwd_len = in.len;
	if (user.len == 0 || in.len == 0 || memchr(p->authcid, '\0',
	    user.len) != NULL) {
		smtpd_reply(s, "501 5.5.2 Malformed LOGIN response");
		sasl_plain_clear(p);
		goto out;
	}
	r = 1;
out:
	if (in.data != NULL)
		xbzero(in.data, in.cap);
	buf_free(&in);
	buf_free(&user);
	return r;
}

/*
 * The login as this session knows it from now on: ASCII letters lowered,
 * which is exactly the users database's own (NOCASE) equality. Per-user
 * rate limits are keyed by it, so "Alice@Example.Test" must not get
 * counters of its own beside "alice@example.test".
 */
static char *
smtpd_auth_login(const char *login)
{
	char *p, *l = xstrdup(login);

	for (p = l; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	return l;
}

void
smtpd_auth(struct smtpd_session *s, const char *arg, size_t len)
{
	struct sasl_plain p;
	enum sasl_mech mech;
	const char *ir, *reply, *mname;
	size_t irlen;
	int r;

	memset(&p, 0, sizeof(p));
	if (s->auth_user != NULL) {
		smtpd_reply(s, "503 5.5.1 Error: already authenticated");
		return;
	}
	if (!s->tls && !netaddr_in_list((const struct sockaddr *)&s->peer,
	    &s->cfg->smtpd_auth_cleartext_networks)) {
		smtpd_reply(s, "538 5.7.11 Encryption required for requested "
		    "authentication mechanism");
		return;
	}
	if (s->ctx->users == NULL) {
		smtpd_reply(s, "454 4.7.0 Temporary authentication failure");
		return;
	}
	if (smtpd_auth_throttled(s)) {
		log_info("%s smtp reject rule=smtpd_auth_fail_limit "
		    "client=[%s] reply=\"454 4.7.0\"", s->sid, s->ip);
		smtpd_reply(s, "454 4.7.0 Error: too many failed "
		    "authentication attempts; try again later");
		return;
	}
	if (sasl_auth_args(arg, len, &mech, &ir, &irlen, &reply) == -1) {
		smtpd_reply(s, "%s", reply);
		return;
	}
	mname = mech == SASL_MECH_PLAIN ? "PLAIN" : "LOGIN";
	if (smtpd_auth_creds(s, mech, ir, irlen, &p) == -1)
		return;
	r = users_verify(s->ctx->users, p.authcid, p.passwd, p.passwd_len);
	if (r == 1) {
		s->auth_user = smtpd_auth_login(p.authcid);
		log_info("%s smtp auth ok client=[%s] user=<%s> mech=%s", s->sid,
		    s->ip, smtpd_esc(s, s->auth_user, strlen(s->auth_user)),
		    mname);
		smtpd_reply(s, "235 2.7.0 Authentication successful");
	} else if (r == 0)
		smtpd_auth_failed(s, p.authcid, mname);
	else {
		log_error("%s smtp auth users database error", s->sid);
		smtpd_reply(s, "454 4.7.0 Temporary authentication failure");
	}
	sasl_plain_clear(&p);
}
