/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * Routing decisions: see route.h.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/buf.h"
#include "lib/xalloc.h"
#include "relay/relay_cfg.h"
#include "relay/route.h"

static int
route_port(const char *s, int *port)
{
	long v = 0;

	if (*s == '\0')
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (*s - '0');
		if (v > 65535)
			return -1;
	}
	if (v == 0)
		return -1;
	*port = (int)v;
	return 1;
}

/* RFC 3463 2: class "." subject "." detail, the class 4 or 5, subject and
 * detail 1 to 3 digits. 1, or -1. */
static int
route_status(const char *s, size_t n)
{
	size_t i = 2, part, d;

	if (n < 5 || (s[0] != '4' && s[0] != '5') || s[1] != '.')
		return -1;
	for (part = 0; part < 2; part++) {
		for (d = 0; i < n && s[i] >= '0' && s[i] <= '9'; d++)
			i++;
		if (d < 1 || d > 3)
			return -1;
		if (part == 0 && (i == n || s[i++] != '.'))
			return -1;
	}
	return i == n ? 1 : -1;
}

/* "host", "host:port", "[host]", "[host]:port", "[ipv6]:port". *bracket
 * tells whether the host was bracketed (no MX lookup). */
static int
route_hostport(const char *s, char **host, int *port, int *bracket)
{
	const char *e, *colon;

	*bracket = *s == '[';
	if (*bracket) {
		if ((e = strchr(s, ']')) == NULL || e == s + 1)
			return -1;
		*host = xstrndup(s + 1, (size_t)(e - s - 1));
		if (e[1] == ':')
			return route_port(e + 2, port);
		return e[1] == '\0' ? 1 : -1;
	}
	colon = strrchr(s, ':');
	if (colon == s)
		return -1;
	*host = colon ? xstrndup(s, (size_t)(colon - s)) : xstrdup(s);
	if ((*host)[0] == '\0' || strchr(*host, ':') != NULL)
		return -1;	/* bare IPv6 needs brackets */
	return colon ? route_port(colon + 1, port) : 1;
}

int
route_parse(const char *t, struct route *r, const char **errstr_r)
{
	int bracket = 0;

	memset(r, 0, sizeof(*r));
	r->tls = ROUTE_TLS_MAY;
	if (strcmp(t, "discard") == 0) {
		r->kind = ROUTE_DISCARD;
		return 1;
	}
	if (strncmp(t, "error:", 6) == 0) {
		const char *st = t + 6, *sp = strchr(st, ' ');
		size_t n = sp ? (size_t)(sp - st) : strlen(st);

		r->kind = ROUTE_ERROR;
		if (n >= sizeof(r->status) || route_status(st, n) == -1) {
			*errstr_r = "error: needs a status like 5.1.1";
			return -1;
		}
		memcpy(r->status, st, n);
		r->text = xstrdup(sp ? sp + 1 : "delivery refused by "
		    "configuration");
		return 1;
	}
	if (strncmp(t, "lmtp:unix:", 10) == 0) {
		if (t[10] != '/') {
			*errstr_r = "lmtp:unix: needs an absolute path";
			return -1;
		}
		r->kind = ROUTE_LMTP_UNIX;
		r->path = xstrdup(t + 10);
		return 1;
	}
	if (strncmp(t, "lmtp:", 5) == 0) {
		r->kind = ROUTE_LMTP_INET;
		r->port = 24;
		if (route_hostport(t + 5, &r->host, &r->port, &bracket) == -1) {
			route_free(r);
			*errstr_r = "lmtp: needs host:port or unix:/path";
			return -1;
		}
		return 1;
	}
	if (strncmp(t, "smtp:", 5) == 0) {
		r->port = 25;
		r->kind = ROUTE_SMTP_MX;
		if (t[5] == '\0')
			return 1;	/* the recipient domain's MX */
		if (route_hostport(t + 5, &r->host, &r->port, &bracket) == -1) {
			route_free(r);
			*errstr_r = "smtp: needs host, [host] or [host]:port";
			return -1;
		}
		if (bracket)
			r->kind = ROUTE_SMTP_HOST;
		return 1;
	}
	*errstr_r = "unknown transport (smtp:, lmtp:, error:, discard)";
	return -1;
}

void
route_free(struct route *r)
{
	free(r->host);
	free(r->path);
	free(r->text);
	memset(r, 0, sizeof(*r));
}

/* Calls fn for each "domain=value" item: a list, or a comma-separated
 * string (so that values may contain blanks). */
struct route_item {
	const char	*key;
	size_t		 klen;
	const char	*val;
	size_t		 vlen;
};

static size_t
route_items(const struct cfg_list *l, const char *s, struct route_item *it,
    size_t max)
{
	const char *p, *e, *eq;
	size_t n = 0, i;

	for (i = 0; l != NULL && i < l->n && n < max; i++) {
		if ((eq = strchr(l->v[i], '=')) == NULL)
			continue;
		it[n].key = l->v[i];
		it[n].klen = (size_t)(eq - l->v[i]);
		it[n].val = eq + 1;
		it[n++].vlen = strlen(eq + 1);
	}
	for (p = s; p != NULL && *p != '\0' && n < max; p = *e ? e + 1 : e) {
		if ((e = strchr(p, ',')) == NULL)
			e = p + strlen(p);
		while (p < e && (*p == ' ' || *p == '\t'))
			p++;
		if ((eq = memchr(p, '=', (size_t)(e - p))) == NULL)
			continue;
		it[n].key = p;
		it[n].klen = (size_t)(eq - p);
		while (it[n].klen > 0 && (p[it[n].klen - 1] == ' ' ||
		    p[it[n].klen - 1] == '\t'))
			it[n].klen--;
		it[n].val = eq + 1;
		while (it[n].val < e && *it[n].val == ' ')
			it[n].val++;
		it[n].vlen = (size_t)(e - it[n].val);
		while (it[n].vlen > 0 && (it[n].val[it[n].vlen - 1] == ' ' ||
		    it[n].val[it[n].vlen - 1] == '\t'))
			it[n].vlen--;
		n++;
	}
	return n;
}

#define ROUTE_MAX_ITEMS	1024

/* An exact entry wins, else the longest ".parent" entry that domain ends
 * with. The value is copied into out. 1 found, 0 not. */
static int
route_lookup(const struct cfg_list *l, const char *s, const char *domain,
    struct buf *out)
{
	static struct route_item it[ROUTE_MAX_ITEMS];
	size_t dl = strlen(domain), best_len = 0, n, i;
	const struct route_item *best = NULL;

	n = route_items(l, s, it, ROUTE_MAX_ITEMS);
	for (i = 0; i < n; i++) {
		if (it[i].klen == dl && strncasecmp(it[i].key, domain,
		    dl) == 0) {
			best = &it[i];
			break;
		}
		if (it[i].key[0] == '.' && it[i].klen < dl &&
		    it[i].klen > best_len && strncasecmp(domain + dl -
		    it[i].klen, it[i].key, it[i].klen) == 0) {
			best = &it[i];
			best_len = it[i].klen;
		}
	}
	if (best == NULL)
		return 0;
	buf_reset(out);
	(void)buf_append(out, best->val, best->vlen);	/* unbounded */
	return 1;
}

static int
route_tls_policy(const struct relay_cfg *cfg, const char *domain,
    const char **rule_r)
{
	static const char *const names[] = { "none", "may", "encrypt",
		"verify" };
	struct buf v = BUF_INIT(0);
	int policy = cfg->smtp_tls;
	size_t i;

	*rule_r = "smtp_tls";
	if (route_lookup(&cfg->smtp_tls_policies, NULL, domain, &v) == 1)
		for (i = 0; i < 4; i++)
			if (strcasecmp(v.data, names[i]) == 0) {
				policy = (int)i;
				*rule_r = "smtp_tls_policies";
			}
	buf_free(&v);
	return policy;
}

int
route_for(const struct relay_cfg *cfg, const char *domain, struct route *r,
    const char **errstr_r)
{
	struct buf t = BUF_INIT(0);

	if (route_lookup(NULL, cfg->transports, domain, &t) == 1) {
		int rv = route_parse(t.data, r, errstr_r);

		buf_free(&t);
		if (rv == -1)
			return -1;
		r->rule = "transports";
	} else if (relay_cfg_domain_in(&cfg->local_domains, domain)) {
		if (route_parse(cfg->local_transport, r, errstr_r) == -1)
			return -1;
		r->rule = "local_transport";
		if (r->kind == ROUTE_SMTP_MX || r->kind == ROUTE_SMTP_HOST)
			r->tls_rule = "local_transport (may)";
		else if (r->kind == ROUTE_LMTP_UNIX ||
		    r->kind == ROUTE_LMTP_INET)
			r->tls_rule = "no TLS over LMTP";
		return 1;
	} else if (cfg->relayhost[0] != '\0') {
		struct buf b = BUF_INIT(0);
		int rv;

		(void)buf_appendf(&b, "smtp:%s", cfg->relayhost);
		rv = route_parse(b.data, r, errstr_r);
		buf_free(&b);
		if (rv == -1)
			return -1;
		r->relayhost = 1;
		r->tls = cfg->relayhost_tls;
		r->rule = "relayhost";
		r->tls_rule = "relayhost_tls";
		return 1;
	} else {
		if (route_parse(cfg->default_transport, r, errstr_r) == -1)
			return -1;
		r->rule = "default_transport";
	}
	if (r->kind == ROUTE_SMTP_MX || r->kind == ROUTE_SMTP_HOST)
		r->tls = route_tls_policy(cfg, domain, &r->tls_rule);
	else if (r->kind == ROUTE_LMTP_UNIX || r->kind == ROUTE_LMTP_INET)
		r->tls_rule = "no TLS over LMTP";
	return 1;
}

void
route_key(const struct route *r, const char *domain, struct buf *b)
{
	switch (r->kind) {
	case ROUTE_SMTP_MX:
		(void)buf_appendf(b, "mx:%s:%d", r->host ? r->host : domain,
		    r->port);
		break;
	case ROUTE_SMTP_HOST:
		(void)buf_appendf(b, "smtp:[%s]:%d", r->host, r->port);
		break;
	case ROUTE_LMTP_UNIX:
		(void)buf_appendf(b, "lmtp:unix:%s", r->path);
		break;
	case ROUTE_LMTP_INET:
		(void)buf_appendf(b, "lmtp:%s:%d", r->host, r->port);
		break;
	case ROUTE_ERROR:
		(void)buf_appendf(b, "error:%s", r->status);
		break;
	case ROUTE_DISCARD:
		(void)buf_appends(b, "discard");
		break;
	}
}

void
route_key_for(const struct relay_cfg *cfg, const char *domain,
    struct buf *key)
{
	const char *errstr;
	struct route r;

	if (route_for(cfg, domain, &r, &errstr) == -1)
		return;
	route_key(&r, domain, key);
	route_free(&r);
}

int
route_check_cfg(const struct relay_cfg *cfg, struct buf *err)
{
	struct route r;
	const char *errstr, *eq;
	struct buf b = BUF_INIT(0);
	size_t i;
	int ok = 1;

	{
		static struct route_item it[ROUTE_MAX_ITEMS];
		const char *p, *e;
		size_t n = route_items(NULL, cfg->transports, it,
		    ROUTE_MAX_ITEMS), items = 0;

		/* Every comma-separated item must be domain=transport. */
		for (p = cfg->transports; *p != '\0'; p = *e ? e + 1 : e) {
			if ((e = strchr(p, ',')) == NULL)
				e = p + strlen(p);
			items += strspn(p, " \t") < (size_t)(e - p);
		}
		if (items != n) {
			cfg_where_error(cfg->where, err, CFG_KEYS("transports"),
			    "transports: every item must be domain=transport");
			ok = 0;
		}
		for (i = 0; i < n; i++) {
			buf_reset(&b);
			(void)buf_append(&b, it[i].val, it[i].vlen);
			if (it[i].klen == 0 || route_parse(b.data, &r,
			    &errstr) == -1) {
				cfg_where_error(cfg->where, err,
				    CFG_KEYS("transports"), "transports: "
				    "'%.*s=%s': %s", (int)it[i].klen,
				    it[i].key, b.data, it[i].klen ? errstr :
				    "no domain");
				ok = 0;
			} else
				route_free(&r);
		}
		buf_reset(&b);
	}
	if (route_parse(cfg->local_transport, &r, &errstr) == -1) {
		cfg_where_error(cfg->where, err, CFG_KEYS("local_transport"),
		    "local_transport: %s", errstr);
		ok = 0;
	} else
		route_free(&r);
	if (route_parse(cfg->default_transport, &r, &errstr) == -1) {
		cfg_where_error(cfg->where, err, CFG_KEYS("default_transport"),
		    "default_transport: %s", errstr);
		ok = 0;
	} else
		route_free(&r);
	if (cfg->relayhost[0] != '\0') {
		(void)buf_appendf(&b, "smtp:%s", cfg->relayhost);
		if (route_parse(b.data, &r, &errstr) == -1) {
			cfg_where_error(cfg->where, err, CFG_KEYS("relayhost"),
			    "relayhost: %s", errstr);
			ok = 0;
		} else
			route_free(&r);
	}
	for (i = 0; i < cfg->smtp_tls_policies.n; i++) {
		eq = strchr(cfg->smtp_tls_policies.v[i], '=');
		if (eq == NULL || (strcasecmp(eq + 1, "none") != 0 &&
		    strcasecmp(eq + 1, "may") != 0 &&
		    strcasecmp(eq + 1, "encrypt") != 0 &&
		    strcasecmp(eq + 1, "verify") != 0)) {
			cfg_where_error(cfg->where, err,
			    CFG_KEYS("smtp_tls_policies"), "smtp_tls_policies: "
			    "'%s' is not domain=none|may|encrypt|verify",
			    cfg->smtp_tls_policies.v[i]);
			ok = 0;
		}
	}
	buf_free(&b);
	return ok ? 1 : -1;
}
