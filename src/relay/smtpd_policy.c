/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * smtpd policy: connection limits, submission rules and sender identity at
 * MAIL, relay authorization and recipient checks at RCPT. Every decision
 * is logged with the rule that made it. An unknown user and a relay
 * refusal look different only for local and relay domains (where the
 * recipient's existence is ours to tell); for any other domain the answer
 * never reveals anything about the address.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "lib/addr.h"
#include "lib/buf.h"
#include "lib/conn.h"
#include "lib/hdr.h"
#include "lib/log.h"
#include "lib/ratelimit.h"
#include "lib/users.h"
#include "lib/xalloc.h"
#include "relay/relay_cfg.h"
#include "relay/smtpd.h"
#include "relay/smtpd_priv.h"
#include "relay/verify.h"

#define MINUTE_MS	(60 * 1000LL)
#define HOUR_MS		(60 * MINUTE_MS)

static void
smtpd_policy_log(struct smtpd_session *s, const char *rule, const char *what,
    const char *addr)
{
	log_info("%s smtp reject rule=%s client=[%s]%s%s%s%s reply=\"%s\"",
	    s->qid[0] ? s->qid : s->sid, rule, s->ip,
	    s->auth_user ? " user=" : s->local ? " " : "",
	    s->auth_user ? s->auth_user : s->local ? s->local_key : "",
	    what, addr ? smtpd_esc(s, addr, strlen(addr)) : "",
	    s->reply.data ? s->reply.data : "");
}

int
smtpd_policy_connect(struct smtpd_session *s)
{
	const struct relay_cfg *cfg = s->cfg;
	struct smtpd_ctx *ctx = s->ctx;
	long long n = 0;

	if (cfg->smtpd_conn_rate_limit > 0 && ctx->rl != NULL &&
	    ratelimit_hit(ctx->rl, "conn", SMTPD_CLIENT_KEY(s), MINUTE_MS,
	    cfg->smtpd_conn_rate_limit, 1, conn_now_ms(), &n) == 0) {
		smtpd_reply(s, "421 4.7.0 %s Error: too many connections from "
		    "%s; try again later", cfg->hostname, s->ip);
		smtpd_policy_log(s, "smtpd_conn_rate_limit", "", NULL);
		return -1;
	}
	if (cfg->smtpd_conn_concurrency_limit > 0 && ctx->rl != NULL) {
		if (ratelimit_enter(ctx->rl, ctx->slot, SMTPD_CLIENT_KEY(s),
		    cfg->smtpd_conn_concurrency_limit) == 0) {
			smtpd_reply(s, "421 4.7.0 %s Error: too many "
			    "concurrent sessions from %s; try again later",
			    cfg->hostname, s->ip);
			smtpd_policy_log(s, "smtpd_conn_concurrency_limit", "",
			    NULL);
			return -1;
		}
		s->rl_entered = 1;
	}
	return 1;
}

void
smtpd_policy_disconnect(struct smtpd_session *s)
{
	if (s->rl_entered)
		ratelimit_leave(s->ctx->rl, s->ctx->slot);
	s->rl_entered = 0;
}

static int
smtpd_is_submission(const struct smtpd_session *s)
{
	return s->ls->kind == LISTEN_SUBMISSION || s->ls->kind == LISTEN_SMTPS;
}

/* Local submission: any sender (the uid is recorded in Received and the
 * log), the per-user hourly message limit counted per uid. */
static int
smtpd_policy_local_mail(struct smtpd_session *s)
{
	const struct relay_cfg *cfg = s->cfg;

	if (cfg->smtpd_user_message_limit > 0 && s->ctx->rl != NULL &&
	    ratelimit_hit(s->ctx->rl, "umsg", s->local_key, HOUR_MS,
	    cfg->smtpd_user_message_limit, 1, conn_now_ms(), NULL) == 0) {
		smtpd_reply(s, "451 4.7.1 Error: message rate limit exceeded "
		    "for uid %u; try again later", (unsigned)s->local_uid);
		smtpd_policy_log(s, "smtpd_user_message_limit", "", NULL);
		return -1;
	}
	return 1;
}

int
smtpd_policy_mail(struct smtpd_session *s, const struct addr *sender)
{
	const struct relay_cfg *cfg = s->cfg;
	struct smtpd_ctx *ctx = s->ctx;
	struct buf fa = BUF_INIT(0);
	int r;

	if (smtpd_is_submission(s) && s->auth_user == NULL) {
		smtpd_reply(s, "530 5.7.0 Authentication required");
		smtpd_policy_log(s, "submission_auth", "", NULL);
		return -1;
	}
	if (s->local)
		return smtpd_policy_local_mail(s);
	if (s->auth_user == NULL)
		return 1;
	(void)addr_format(sender, &fa);	/* unbounded */
	/* The null sender carries no identity to check (bounces, DSNs). */
	if (fa.len > 0) {
		r = ctx->users ? users_sender_ok(ctx->users, s->auth_user,
		    fa.data) : -1;
		if (r != 1) {
			if (r == -1)
				smtpd_reply(s, "451 4.3.0 Error: sender check "
				    "unavailable; try again later");
			else
				smtpd_reply(s, "553 5.7.1 <%s>: Sender address "
				    "rejected: not owned by user %s",
				    smtpd_esc(s, fa.data, fa.len), s->auth_user);
			smtpd_policy_log(s, "sender_login", " from=", fa.data);
			buf_free(&fa);
			return -1;
		}
	}
	buf_free(&fa);
	if (cfg->smtpd_user_message_limit > 0 && ctx->rl != NULL &&
	    ratelimit_hit(ctx->rl, "umsg", s->auth_user, HOUR_MS,
	    cfg->smtpd_user_message_limit, 1, conn_now_ms(), NULL) == 0) {
		smtpd_reply(s, "451 4.7.1 Error: message rate limit exceeded "
		    "for %s; try again later", s->auth_user);
		smtpd_policy_log(s, "smtpd_user_message_limit", "", NULL);
		return -1;
	}
	return 1;
}

/* Forms used by open-relay tests: refused whoever asks. */
static const char *
smtpd_relay_syntax(const struct addr *a)
{
	if (a->flags & ADDR_ROUTE)
		return "source_route";
	if (strpbrk(a->local, "%!") != NULL)
		return "percent_bang_path";
	if ((a->flags & ADDR_QUOTED) && strchr(a->local, '@') != NULL)
		return "quoted_at";
	return NULL;
}

static int
smtpd_rcpt_local(struct smtpd_session *s, const struct addr *a,
    const char *fa)
{
	char *target = NULL;
	int r;

	if (strcasecmp(a->local, "postmaster") == 0)
		return 1;	/* RFC 5321 4.5.1: always accepted */
	r = s->ctx->users ? users_lookup(s->ctx->users, fa, &target) : -1;
	free(target);
	if (r == 1)
		return 1;
	if (r == 0) {
		smtpd_reply(s, "550 5.1.1 <%s>: Recipient address rejected: "
		    "User unknown in local recipient table",
		    smtpd_esc(s, fa, strlen(fa)));
		smtpd_policy_log(s, "unknown_user", " rcpt=", fa);
	} else {
		smtpd_reply(s, "451 4.3.0 <%s>: Recipient address rejected: "
		    "user lookup unavailable; try again later",
		    smtpd_esc(s, fa, strlen(fa)));
		smtpd_policy_log(s, "users_db_error", " rcpt=", fa);
	}
	return -1;
}

static int
smtpd_rcpt_relay_domain(struct smtpd_session *s, const char *fa)
{
	const struct relay_cfg *cfg = s->cfg;
	enum verify_result v;
	const char *errstr;
	char *reply = NULL;
	int r, cached = 0;

	if (cfg->relay_recipients[0] != '\0') {
		r = verify_table(cfg->relay_recipients, fa, &errstr);
		if (r == 1)
			return 1;
		if (r == 0) {
			smtpd_reply(s, "550 5.1.1 <%s>: Recipient address "
			    "rejected: User unknown in relay recipient table",
			    smtpd_esc(s, fa, strlen(fa)));
			smtpd_policy_log(s, "relay_recipients", " rcpt=", fa);
		} else {
			log_error("%s smtp relay_recipients %s: %s", s->sid,
			    cfg->relay_recipients, errstr);
			smtpd_reply(s, "451 4.3.0 <%s>: Recipient address "
			    "rejected: lookup unavailable; try again later",
			    smtpd_esc(s, fa, strlen(fa)));
		}
		return -1;
	}
	/* Without the cache (smtpd_ctx_open warned) every RCPT is probed:
	 * never let a recipient through unverified. */
	if (cfg->relay_verify_primary[0] == '\0')
		return 1;
	v = verify_probe(s->ctx->verify, cfg->relay_verify_primary,
	    cfg->hostname, fa, cfg->relay_verify_timeout, &reply, &cached);
	log_info("%s smtp verify rcpt=<%s> primary=%s result=%s%s "
	    "reply=\"%s\"", s->qid[0] ? s->qid : s->sid,
	    smtpd_esc(s, fa, strlen(fa)), cfg->relay_verify_primary,
	    v == VERIFY_VALID ? "valid" : v == VERIFY_INVALID ? "invalid" :
	    "unknown", cached ? " cached=yes" : "", reply ? reply : "");
	if (v == VERIFY_VALID) {
		free(reply);
		return 1;
	}
	if (v == VERIFY_INVALID)
		smtpd_reply(s, "550 5.1.1 <%s>: Recipient address rejected: "
		    "undeliverable address: %s", smtpd_esc(s, fa, strlen(fa)),
		    reply ? reply : "refused by the primary MX");
	else
		smtpd_reply(s, "450 4.1.1 <%s>: Recipient address rejected: "
		    "unverified address: %s", smtpd_esc(s, fa, strlen(fa)),
		    reply ? reply : "primary MX unreachable");
	smtpd_policy_log(s, "relay_verify", " rcpt=", fa);
	free(reply);
	return -1;
}

int
smtpd_policy_rcpt(struct smtpd_session *s, const struct addr *a,
    const char *fa)
{
	const struct relay_cfg *cfg = s->cfg;
	const char *rule;
	int r;

	if ((rule = smtpd_relay_syntax(a)) != NULL)
		goto deny;
	if (a->domain == NULL) {
		rule = "postmaster";
		goto accept;
	}
	if (!(a->flags & ADDR_LITERAL) &&
	    relay_cfg_domain_in(&cfg->local_domains, a->domain)) {
		if (smtpd_rcpt_local(s, a, fa) == -1)
			return -1;
		rule = "local_domains";
	} else if (!(a->flags & ADDR_LITERAL) &&
	    relay_cfg_domain_in(&cfg->relay_domains, a->domain)) {
		if (smtpd_rcpt_relay_domain(s, fa) == -1)
			return -1;
		rule = "relay_domains";
	} else if (s->auth_user != NULL)
		rule = "authenticated";
	else if (s->local)
		rule = "local_submission";
	else if (s->trusted)
		rule = "trusted_networks";
	else {
		rule = "relay_access";
		goto deny;
	}
	if ((s->auth_user != NULL || s->local) &&
	    cfg->smtpd_user_recipient_limit > 0 && s->ctx->rl != NULL) {
		r = ratelimit_hit(s->ctx->rl, "urcpt", s->local ? s->local_key :
		    s->auth_user, HOUR_MS, cfg->smtpd_user_recipient_limit, 1,
		    conn_now_ms(), NULL);
		if (r == 0) {
			smtpd_reply(s, "451 4.7.1 Error: recipient rate limit "
			    "exceeded for %s; try again later", s->local ?
			    s->local_key : s->auth_user);
			smtpd_policy_log(s, "smtpd_user_recipient_limit",
			    " rcpt=", fa);
			return -1;
		}
	}
accept:
	log_debug("%s smtp rcpt accept rule=%s rcpt=<%s>", s->qid, rule,
	    smtpd_esc(s, fa, strlen(fa)));
	return 1;
deny:
	smtpd_reply(s, "554 5.7.1 <%s>: Relay access denied",
	    smtpd_esc(s, fa, strlen(fa)));
	smtpd_policy_log(s, rule, " rcpt=", fa);
	return -1;
}

struct smtpd_from_check {
	struct smtpd_session	*s;
	int			 r;	/* 1 ok so far, 0 refused, -1 error */
	struct buf		 bad;	/* the refused address */
};

static int
smtpd_from_one(void *arg, const char *a, size_t n)
{
	struct smtpd_from_check *fc = arg;
	struct addr *ad;
	struct buf fa = BUF_INIT(0);
	const char *errstr;
	int r;

	/* Compare in canonical form (domain case, quoting) as MAIL does. */
	if (addr_parse_mailbox(a, n, ADDR_ALLOW_UTF8, &ad, &errstr) == 1) {
		(void)addr_format(ad, &fa);	/* unbounded */
		addr_free(&ad);
	} else
		(void)buf_append(&fa, a, n);	/* will not match: refused */
	r = users_sender_ok(fc->s->ctx->users, fc->s->auth_user, fa.data);
	if (r != 1) {
		fc->r = r;
		buf_reset(&fc->bad);
		(void)buf_append(&fc->bad, a, n);
	}
	buf_free(&fa);
	return r == 1 ? 1 : -1;
}

int
smtpd_policy_from(struct smtpd_session *s)
{
	struct smtpd_from_check fc = { s, 1, BUF_INIT(0) };
	struct buf vals = BUF_INIT(0);
	const char *v;
	size_t off;
	int n;

	if (s->hdr_state == SMTPD_HDR_TOOBIG) {
		smtpd_reply(s, "552 5.6.0 Error: header section too large to "
		    "check the sender (over %d octets)", SMTPD_HDR_MAX);
		return -1;
	}
	if (s->ctx->users == NULL) {
		smtpd_reply(s, "451 4.3.0 Error: sender check unavailable; "
		    "try again later");
		return -1;
	}
	n = hdr_field(buf_cstr(&s->hdrbuf), s->hdrbuf.len, "From", &vals);
	for (off = 0; n > 0 && off <= vals.len && fc.r == 1; off +=
	    strlen(v) + 1) {
		v = vals.data + off;
		if (hdr_addresses(v, strlen(v), smtpd_from_one, &fc) == -1 &&
		    fc.r == 1) {
			fc.r = 0;
			(void)buf_appends(&fc.bad, "(unparsable From:)");
		}
	}
	buf_free(&vals);
	if (fc.r == 1) {
		buf_free(&fc.bad);
		return 1;
	}
	if (fc.r == -1)
		smtpd_reply(s, "451 4.3.0 Error: sender check unavailable; "
		    "try again later");
	else
		smtpd_reply(s, "553 5.7.1 <%s>: From address rejected: not "
		    "owned by user %s", smtpd_esc(s, buf_cstr(&fc.bad),
		    fc.bad.len), s->auth_user);
	buf_free(&fc.bad);
	return -1;
}
