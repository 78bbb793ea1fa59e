/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * Delivery worker: see deliver.h for the job protocol and what this
 * process may touch. One job at a time, its messages one after the other;
 * the connection of the last message is kept open for the next one to the
 * same next hop, in this job or the next (connection reuse).
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <netinet/in.h>

#include <errno.h>
#include <ifaddrs.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/conn.h"
#include "lib/dns.h"
#include "lib/ipc.h"
#include "lib/log.h"
#include "lib/netaddr.h"
#include "lib/tls.h"
#include "lib/xalloc.h"
#include "relay/deliver.h"
#include "relay/jobframe.h"
#include "relay/jobtrace.h"
#include "relay/relay_cfg.h"
#include "relay/route.h"
#include "relay/smtpc.h"
#include "relay/spool.h"
#include "relay/throttle.h"

#define DELIVER_REUSE_MS	10000	/* keep an idle connection this long */
#define DELIVER_LOG_REPLY_MAX	1000	/* octets of a reply logged */

struct deliver {
	const struct relay_cfg	*cfg;
	const char		*relay_user;	/* relayhost AUTH, or NULL */
	const char		*relay_pass;
	int			 qfd;
	struct spool		*spool;
	struct dns		*dns;
	struct tls_client	*tls;		/* made on first use */
	int			 tls_tried;
	struct smtpc		*sc;		/* kept for reuse */
	struct buf		 sc_key;
	/* The host name sc's address came from (the MX host, the route's
	 * host; empty for a unix socket): the DSN's Remote-MTA. */
	struct buf		 sc_mta;
	long long		 sc_idle_since;
	struct buf		 sc_tried;	/* how sc was reached */
	/* What sc was opened under: a route with the same key but another
	 * TLS policy (smtp_tls_policies per domain) or AUTH (relayhost)
	 * needs a connection of its own. */
	int			 sc_tls, sc_relayhost;
	struct buf		 esc;		/* log_escape scratch */
	/* Our own listening addresses (port 0 never matches) and, for
	 * wildcard listeners, the machine's addresses: a next hop among
	 * them is a mail loop. */
	struct sockaddr_storage	*self;
	size_t			 nself;
	struct sockaddr_storage	*local;
	size_t			 nlocal;
	/* What the current job did, reported with its results. */
	struct deliver_trace {
		struct buf	 route, mx, tried, tls;
		const char	*conn;	/* ok, reused, failed, "-" */
	}			 tr;
};


struct deliver_res {
	char		 state;
	struct buf	 remote;
	struct buf	 reply;
};

static volatile sig_atomic_t deliver_stop;

static void
deliver_on_signal(int sig)
{
	(void)sig;
	deliver_stop = 1;
}

static void
deliver_set(struct deliver_res *r, char state, const char *remote,
    const char *reply)
{
	r->state = state;
	buf_reset(&r->remote);
	buf_reset(&r->reply);
	(void)buf_appends(&r->remote, remote ? remote : "-");
	(void)buf_appends(&r->reply, reply ? reply : "");
}

static void
deliver_set_all(struct deliver_res *res, size_t n, char state,
    const char *remote, const char *reply)
{
	size_t i;

	for (i = 0; i < n; i++)
		deliver_set(&res[i], state, remote, reply);
}

/* ------------------------------------------------------------ content */

/* The content is streamed from the queue file, never held whole. */
struct deliver_src {
	struct spool_content	*sc;
	const char		*id;
};

static int
deliver_read(void *arg, const char **p_r, size_t *n_r)
{
	struct deliver_src *src = arg;
	int r;

	if ((r = spool_content_next(src->sc, p_r, n_r)) == -1)
		log_error("%s deliver queue file damaged since it was queued: "
		    "%s", src->id, spool_content_error(src->sc));
	return r;
}

/* ------------------------------------------------------------ next hop */

/* The addresses to try for the route, in order, each with the name it
 * came from (for TLS verification and logs). Returns the dns status. */
struct deliver_hop {
	struct sockaddr_storage	 addr;
	socklen_t		 len;
	char			*name;
	unsigned		 pref;	/* MX preference (0 otherwise) */
};

static void
deliver_hops_free(struct deliver_hop *h, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(h[i].name);
	free(h);
}

static socklen_t
deliver_sa_len(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) :
	    sizeof(struct sockaddr_in);
}

static void
deliver_add_host(struct deliver *d, const char *host, int port,
    unsigned pref, struct deliver_hop **h, size_t *n, enum dns_status *st)
{
	struct sockaddr_storage *a = NULL;
	size_t na = 0, i;
	enum dns_status s;

	s = dns_addrs(d->dns, host, port, 0, &a, &na);
	if (s != DNS_OK) {
		if (*st == DNS_OK || s == DNS_TEMPFAIL)
			*st = s;
		return;
	}
	*h = xrealloc(*h, (*n + na) * sizeof(**h));
	for (i = 0; i < na; i++) {
		(*h)[*n].addr = a[i];
		(*h)[*n].len = deliver_sa_len(&a[i]);
		(*h)[*n].name = xstrdup(host);
		(*h)[*n].pref = pref;
		(*n)++;
	}
	free(a);
	*st = DNS_OK;
}

/* 1 when a is one of our listening addresses: the same address and
 * port, or a wildcard listener's port on loopback or on one of this
 * machine's addresses. */
static int
deliver_is_self(const struct deliver *d, const struct sockaddr_storage *a)
{
	char ip[64], sip[64];
	int port, sport;
	size_t i, k;

	if (a->ss_family != AF_INET && a->ss_family != AF_INET6)
		return 0;
	netaddr_ntop((const struct sockaddr *)a, ip, sizeof(ip), &port);
	for (i = 0; i < d->nself; i++) {
		netaddr_ntop((const struct sockaddr *)&d->self[i], sip,
		    sizeof(sip), &sport);
		if (sport != port || sport == 0)
			continue;
		if (strcmp(sip, ip) == 0)
			return 1;
		if (strcmp(sip, "0.0.0.0") != 0 && strcmp(sip, "::") != 0)
			continue;
		if (strncmp(ip, "127.", 4) == 0 || strcmp(ip, "::1") == 0)
			return 1;
		for (k = 0; k < d->nlocal; k++) {
			netaddr_ntop((const struct sockaddr *)&d->local[k], sip,
			    sizeof(sip), &sport);
			if (strcmp(sip, ip) == 0)
				return 1;
		}
	}
	return 0;
}

/* The address of a hop as text ("192.0.2.1:25", "[2001:db8::1]:25"). */
static void
deliver_hop_addr(const struct deliver_hop *h, struct buf *b)
{
	char ip[64];
	int port;

	if (h->addr.ss_family == AF_UNIX) {
		(void)buf_appendf(b, "unix:%s", h->name);
		return;
	}
	netaddr_ntop((const struct sockaddr *)&h->addr, ip, sizeof(ip), &port);
	(void)buf_appendf(b, h->addr.ss_family == AF_INET6 ? "[%s]:%d" :
	    "%s:%d", ip, port);
}

/* Drops the hops whose MX preference is not better than ours. */
static void
deliver_drop_ours(struct deliver_hop *h, size_t *n, unsigned ours)
{
	size_t i, k;

	for (i = k = 0; i < *n; i++) {
		if (h[i].pref < ours)
			h[k++] = h[i];
		else
			free(h[i].name);
	}
	*n = k;
}

/*
 * Adds the addresses of the MX hosts (in preference order) that are
 * better than ours; *ours_r becomes the best preference that is ours, by
 * name (our hostname) or by address (one of our listeners), and *byaddr_r
 * tells which. The MX set goes into the trace.
 */
static void
deliver_mx_hosts(struct deliver *d, const struct dns_mx *mx, size_t nmx,
    int port, struct deliver_hop **h, size_t *n, enum dns_status *as,
    unsigned *ours_r, int *byaddr_r)
{
	size_t i, k, before;

	for (i = 0; i < nmx; i++) {
		(void)buf_appendf(&d->tr.mx, "%s%s(%u)", i ? " " : "",
		    mx[i].host, mx[i].pref);
		if (strcasecmp(mx[i].host, d->cfg->hostname) == 0 &&
		    mx[i].pref < *ours_r)
			*ours_r = mx[i].pref;
	}
	for (i = 0; i < nmx && mx[i].pref < *ours_r; i++) {
		before = *n;
		deliver_add_host(d, mx[i].host, port, mx[i].pref, h, n, as);
		for (k = before; k < *n; k++)
			if (deliver_is_self(d, &(*h)[k].addr)) {
				*ours_r = mx[i].pref;
				*byaddr_r = 1;
			}
	}
}

/*
 * Resolves an SMTP MX route. RFC 5321 5.1: MX in preference order, A/AAAA
 * of the domain when it has no MX, null MX (RFC 7505) refused at once;
 * never to ourselves or to an MX not better than ours (backup MX loop):
 * an MX is ours when its name is our hostname or one of its addresses is
 * one of our listening addresses. The MX set goes into d->tr.mx.
 * Returns 1 with hops, or 0 with the state and reason set.
 */
static int
deliver_mx(struct deliver *d, const char *domain, int port,
    struct deliver_hop **h, size_t *n, char *state, struct buf *why)
{
	struct dns_mx *mx = NULL;
	size_t nmx = 0, k;
	unsigned ours = (unsigned)-1;
	enum dns_status s, as = DNS_OK;
	int nullmx = 0, byaddr = 0;

	s = dns_mx(d->dns, domain, &mx, &nmx, &nullmx);
	if (s == DNS_OK && nullmx) {
		*state = DELIVER_PERM;
		(void)buf_appends(&d->tr.mx, "null MX");
		(void)buf_appendf(why, "5.1.10 domain %s accepts no mail "
		    "(null MX, RFC 7505)", domain);
		return 0;
	}
	if (s == DNS_NXDOMAIN) {
		*state = DELIVER_PERM;
		(void)buf_appends(&d->tr.mx, "NXDOMAIN");
		(void)buf_appendf(why, "5.1.2 domain %s not found", domain);
		return 0;
	}
	if (s == DNS_TEMPFAIL || s == DNS_PERMFAIL) {
		*state = s == DNS_TEMPFAIL ? DELIVER_TEMP : DELIVER_PERM;
		(void)buf_appendf(&d->tr.mx, "lookup failed: %s",
		    dns_status_str(s));
		(void)buf_appendf(why, "%s MX lookup for %s failed: %s",
		    s == DNS_TEMPFAIL ? "4.4.3" : "5.1.2", domain,
		    dns_status_str(s));
		return 0;
	}
	if (s == DNS_NODATA || nmx == 0) {
		/* No MX: the domain itself (RFC 5321 5.1). */
		(void)buf_appendf(&d->tr.mx, "no MX: address of %s", domain);
		deliver_add_host(d, domain, port, 0, h, n, &as);
		for (k = 0; k < *n; k++)
			if (deliver_is_self(d, &(*h)[k].addr)) {
				ours = 0;
				byaddr = 1;
			}
	} else
		deliver_mx_hosts(d, mx, nmx, port, h, n, &as, &ours, &byaddr);
	deliver_drop_ours(*h, n, ours);
	if (ours != (unsigned)-1)
		(void)buf_appendf(&d->tr.mx, "%sours: preference %u and up "
		    "skipped (%s)", d->tr.mx.len ? "; " : "", ours, byaddr ?
		    "our listening address" : "our hostname");
	if (ours != (unsigned)-1 && *n == 0 && as == DNS_OK) {
		*state = DELIVER_PERM;
		(void)buf_appendf(why, "5.4.6 mail for %s loops back to "
		    "myself (we are its best MX%s)", domain, byaddr ?
		    ": it resolves to our listening address" : "");
		dns_mx_free(&mx, nmx);
		return 0;
	}
	dns_mx_free(&mx, nmx);
	if (*n > 0)
		return 1;
	*state = as == DNS_TEMPFAIL ? DELIVER_TEMP : DELIVER_PERM;
	(void)buf_appendf(why, "%s no address for the mail hosts of %s",
	    as == DNS_TEMPFAIL ? "4.4.3" : "5.1.2", domain);
	return 0;
}

static int
deliver_hops(struct deliver *d, const struct route *r, const char *domain,
    struct deliver_hop **h, size_t *n, char *state, struct buf *why)
{
	enum dns_status st = DNS_OK;
	struct sockaddr_un *sun;
	size_t i;

	*h = NULL;
	*n = 0;
	switch (r->kind) {
	case ROUTE_SMTP_MX:
		return deliver_mx(d, r->host ? r->host : domain, r->port, h, n,
		    state, why);
	case ROUTE_SMTP_HOST:
	case ROUTE_LMTP_INET:
		(void)buf_appendf(&d->tr.mx, "none (%s: no MX lookup)",
		    r->kind == ROUTE_SMTP_HOST ? "[host]" : "lmtp");
		deliver_add_host(d, r->host, r->port, 0, h, n, &st);
		for (i = 0; i < *n; i++)
			if (deliver_is_self(d, &(*h)[i].addr)) {
				*state = DELIVER_PERM;
				(void)buf_appendf(why, "5.4.6 mail for %s loops "
				    "back to myself (next hop %s is our "
				    "listening address)", domain, r->host);
				return 0;
			}
		if (*n > 0)
			return 1;
		*state = st == DNS_TEMPFAIL ? DELIVER_TEMP : DELIVER_PERM;
		(void)buf_appendf(why, "%s cannot resolve %s: %s",
		    st == DNS_TEMPFAIL ? "4.4.3" : "5.4.4", r->host,
		    dns_status_str(st));
		return 0;
	case ROUTE_LMTP_UNIX:
		*h = xcalloc(1, sizeof(**h));
		sun = (struct sockaddr_un *)&(*h)->addr;
		sun->sun_family = AF_UNIX;
		if (snprintf(sun->sun_path, sizeof(sun->sun_path), "%s",
		    r->path) >= (int)sizeof(sun->sun_path)) {
			free(*h);
			*h = NULL;
			*state = DELIVER_TEMP;
			(void)buf_appendf(why, "4.3.5 LMTP socket path too long");
			return 0;
		}
		(void)buf_appends(&d->tr.mx, "none (LMTP socket)");
		(*h)->len = sizeof(*sun);
		(*h)->name = xstrdup(r->path);
		*n = 1;
		return 1;
	default:
		return 0;
	}
}

/* ------------------------------------------------------------ sending */

/* The TLS client context, made when a route first wants TLS: loading
 * the CA store costs each worker about a megabyte, for nothing when no
 * route uses TLS. NULL when unavailable (then delivery is in clear text
 * where the policy allows it; smtpc enforces encrypt/verify). */
static struct tls_client *
deliver_tls(struct deliver *d)
{
	const struct relay_cfg *cfg = d->cfg;
	struct buf err = BUF_INIT(0);

	if (d->tls == NULL && !d->tls_tried) {
		d->tls_tried = 1;
		if (tls_client_new(cfg->smtp_tls_ca_file[0] ?
		    cfg->smtp_tls_ca_file : NULL, 0, &d->tls, &err) == -1) {
			log_warn("deliver: TLS client unavailable: %s; routes "
			    "with TLS policy may go in clear text, encrypt "
			    "and verify routes are deferred", buf_cstr(&err));
			d->tls = NULL;
		}
	}
	buf_free(&err);
	return d->tls;
}

/*
 * Fills the client options for one hop. -1 when the route requires TLS
 * (encrypt, verify) and no TLS client context can be made: the hop must
 * not be tried in clear text (the caller defers).
 */
static int
deliver_opts(struct deliver *d, const struct route *r, const char *name,
    struct smtpc_opts *o)
{
	const struct relay_cfg *cfg = d->cfg;

	memset(o, 0, sizeof(*o));
	o->helo = cfg->hostname;
	o->lmtp = r->kind == ROUTE_LMTP_UNIX || r->kind == ROUTE_LMTP_INET;
	o->tls = o->lmtp ? SMTPC_TLS_NONE : (enum smtpc_tls)r->tls;
	o->tls_ctx = o->tls != SMTPC_TLS_NONE ? deliver_tls(d) : NULL;
	if (o->tls_ctx == NULL) {
		if (o->tls == SMTPC_TLS_ENCRYPT || o->tls == SMTPC_TLS_VERIFY)
			return -1;
		o->tls = SMTPC_TLS_NONE;
	}
	o->tls_verify_name = name;
	if (r->relayhost && d->relay_user != NULL) {
		o->auth_user = d->relay_user;
		o->auth_pass = d->relay_pass;
	}
	o->no_chunking = !cfg->smtp_chunking;
	o->to.connect = cfg->smtp_connect_timeout;
	o->to.greeting = o->to.helo = o->to.mail = o->to.rcpt =
	    cfg->smtp_reply_timeout;
	o->to.data_init = cfg->smtp_reply_timeout;
	o->to.data_block = cfg->smtp_reply_timeout;
	o->to.data_done = cfg->smtp_reply_timeout * 2;
	o->to.quit = 10000;
	return 1;
}

static char
deliver_state(const struct smtpc_result *sr)
{
	/* The flags decide, not the code: a 2xx where it makes no sense is
	 * a failure (smtpc marks it temporary). */
	if (sr->possibly_delivered)
		return DELIVER_UNSURE;
	if (sr->permanent)
		return DELIVER_PERM;
	if (sr->temporary || sr->code < 200 || sr->code >= 300)
		return DELIVER_TEMP;
	return DELIVER_OK;
}

static void
deliver_reply_text(const struct smtpc_result *sr, struct buf *b)
{
	buf_reset(b);
	if (sr->code > 0)
		(void)buf_appendf(b, "%d ", sr->code);
	if (sr->enhanced[0] != '\0')
		(void)buf_appendf(b, "%s ", sr->enhanced);
	(void)buf_appends(b, sr->text ? sr->text : "");
}

static void
deliver_close_cached(struct deliver *d)
{
	if (d->sc != NULL)
		smtpc_close(&d->sc);
	buf_reset(&d->sc_key);
	buf_reset(&d->sc_mta);
}

static const char *const deliver_tls_names[] = {
	"none", "may", "encrypt", "verify",
};

/* The TLS outcome of an open session, into d->tr.tls after the policy. */
static void
deliver_trace_tls(struct deliver *d, const struct route *r)
{
	const struct smtpc_caps *c = smtpc_caps(d->sc);

	if (c->tls)
		(void)buf_appendf(&d->tr.tls, "; %s %s%s", c->tls_version ?
		    c->tls_version : "TLS", c->tls_cipher ? c->tls_cipher : "",
		    r->tls == ROUTE_TLS_VERIFY ? ", certificate verified" : "");
	else
		(void)buf_appendf(&d->tr.tls, "; clear text%s",
		    r->tls == ROUTE_TLS_NONE ? "" : c->starttls ?
		    " (STARTTLS failed, retried without)" :
		    " (STARTTLS not offered)");
}

/*
 * Connects to the first of the hops that answers (d->sc), noting each
 * address tried in the trace. 1 when connected; 0 when every one failed,
 * with the last failure's reason, permanent only when every failure was
 * (a backup MX greeting 554 must not bounce mail that the best MX, down
 * for now, would take later). The trace's
 * CONN is "auth" when every address tried answered but AUTH failed there
 * (an account or configuration problem: qmgr's throttling must not take
 * it for congestion), "tls" when every one failed the TLS the policy
 * requires (not offered, refused, not verified, or no TLS client here:
 * the domain's policy, no sign of congestion either), else "failed".
 */
static int
deliver_connect(struct deliver *d, const struct route *r, const char *id,
    const char *domain, const struct deliver_hop *h, size_t nh,
    const char *key, char *state, struct buf *why)
{
	struct smtpc_result err;
	struct smtpc_opts o;
	struct buf txt = BUF_INIT(0);
	size_t i;
	int auth, tls, temp = 0;

	d->tr.conn = "failed";
	for (i = 0, auth = tls = 1; i < nh && d->sc == NULL; i++) {
		memset(&err, 0, sizeof(err));
		if (d->tr.tried.len)
			(void)buf_appends(&d->tr.tried, ", ");
		deliver_hop_addr(&h[i], &d->tr.tried);
		if (strcmp(h[i].name, r->host ? r->host : "") != 0 &&
		    h[i].addr.ss_family != AF_UNIX)
			(void)buf_appendf(&d->tr.tried, " (%s)", h[i].name);
		if (deliver_opts(d, r, h[i].name, &o) == -1) {
			/* Never clear text where the policy requires TLS. */
			(void)buf_appends(&d->tr.tried,
			    ": not tried, TLS required and unavailable");
			buf_reset(why);
			(void)buf_appendf(why, "4.7.5 TLS required by policy "
			    "but the TLS client is unavailable (%s)",
			    h[i].name);
			*state = DELIVER_TEMP;
			temp = 1;
			auth = 0;
			continue;
		}
		d->sc = smtpc_open((const struct sockaddr *)&h[i].addr,
		    h[i].len, &o, &err);
		if (d->sc != NULL)
			break;
		auth &= err.auth_failed;
		tls &= err.tls_failed;
		deliver_reply_text(&err, &txt);
		(void)buf_appendf(&d->tr.tried, ": %s", txt.data);
		buf_reset(&d->esc);	/* the peer's text */
		log_info("deliver %s to=%s host=%s failed: \"%s\"", id,
		    domain, h[i].name, log_escape(&d->esc, txt.data, txt.len,
		    DELIVER_LOG_REPLY_MAX));
		buf_reset(why);
		(void)buf_appendf(why, "%s (%s)", txt.data, h[i].name);
		temp |= !err.permanent;
		*state = temp ? DELIVER_TEMP : DELIVER_PERM;
		smtpc_result_free(&err);
	}
	buf_free(&txt);
	if (d->sc == NULL) {
		if (auth && nh > 0)
			d->tr.conn = "auth";
		else if (tls && nh > 0)
			d->tr.conn = "tls";
		return 0;
	}
	d->tr.conn = "ok";
	(void)buf_appends(&d->tr.tried, ": connected");
	buf_reset(&d->sc_key);
	(void)buf_appends(&d->sc_key, key);
	buf_reset(&d->sc_mta);
	if (h[i].addr.ss_family != AF_UNIX)
		(void)buf_appends(&d->sc_mta, h[i].name);
	d->sc_tls = (int)r->tls;
	d->sc_relayhost = r->relayhost;
	buf_reset(&d->sc_tried);
	deliver_hop_addr(&h[i], &d->sc_tried);
	return 1;
}

/* Delivers env (the job's recipients) over the hops; fills res. */
static void
deliver_smtp(struct deliver *d, const struct route *r, const char *domain,
    struct spool_env *env, struct spool_content *content,
    struct deliver_res *res)
{
	struct deliver_hop *h = NULL;
	struct smtpc_result *sres;
	struct deliver_src src = { content, env->id };
	struct buf why = BUF_INIT(0), key = BUF_INIT(0), txt = BUF_INIT(0);
	size_t nh = 0, k;
	char state = DELIVER_TEMP;
	int sent;

	route_key(r, domain, &key);
	(void)buf_appendf(&d->tr.tls, "%s (%s)", r->kind == ROUTE_LMTP_UNIX ||
	    r->kind == ROUTE_LMTP_INET ? "none" : deliver_tls_names[r->tls &
	    3], r->tls_rule ? r->tls_rule : "default");
	sres = xcalloc(env->nrcpt, sizeof(*sres));
	if (d->sc != NULL && (strcmp(buf_cstr(&d->sc_key), key.data) != 0 ||
	    d->sc_tls != (int)r->tls || d->sc_relayhost != r->relayhost ||
	    !smtpc_reusable(d->sc)))
		deliver_close_cached(d);
	if (d->sc != NULL) {
		d->tr.conn = "reused";
		(void)buf_appendf(&d->tr.mx, "not looked up (connection "
		    "reused)");
		(void)buf_appendf(&d->tr.tried, "reused %s",
		    buf_cstr(&d->sc_tried));
	} else if (deliver_hops(d, r, domain, &h, &nh, &state, &why) == 0 ||
	    deliver_connect(d, r, env->id, domain, h, nh, key.data, &state,
	    &why) == 0) {
		/* No hop, or every host failed: the last reason decides. */
		deliver_set_all(res, env->nrcpt, state, NULL, why.data);
		goto out;
	}
	deliver_trace_tls(d, r);
	sent = smtpc_send(d->sc, env, deliver_read, &src, sres);
	for (k = 0; k < env->nrcpt; k++) {
		char st = deliver_state(&sres[k]);

		/* NOTIFY=SUCCESS stops here when the peer cannot pass it
		 * on: the success notice is ours to send. */
		if (st == DELIVER_OK && !smtpc_caps(d->sc)->dsn &&
		    (env->rcpts[k].notify & SPOOL_NOTIFY_SUCCESS) &&
		    !(env->rcpts[k].notify & SPOOL_NOTIFY_NEVER))
			st = r->kind == ROUTE_LMTP_UNIX ||
			    r->kind == ROUTE_LMTP_INET ? DELIVER_OK_FINAL :
			    DELIVER_OK_RELAYED;
		deliver_reply_text(&sres[k], &txt);
		deliver_set(&res[k], st, d->sc_mta.len > 0 ?
		    buf_cstr(&d->sc_mta) : NULL, txt.data);
		smtpc_result_free(&sres[k]);
	}
	if (sent == -1 || !smtpc_reusable(d->sc))
		deliver_close_cached(d);
	else
		d->sc_idle_since = conn_now_ms();
out:
	free(sres);
	deliver_hops_free(h, nh);
	buf_free(&why);
	buf_free(&key);
	buf_free(&txt);
}

static void
deliver_job(struct deliver *d, const struct jobframe_msg *j,
    struct deliver_res *res)
{
	struct spool_env *env = NULL, sub;
	struct spool_rcpt *rc;
	struct spool_content *content = NULL;
	struct route r;
	struct buf hop = BUF_INIT(0);
	const char *errstr = "";
	size_t i;
	int rv;

	memset(&r, 0, sizeof(r));
	buf_reset(&d->tr.route);
	buf_reset(&d->tr.mx);
	buf_reset(&d->tr.tried);
	buf_reset(&d->tr.tls);
	d->tr.conn = "-";
	rv = spool_open_content(spool_dirfd(d->spool, "queue"), j->id, &env,
	    &content, &errstr);
	if (rv == -1) {
		struct buf t = BUF_INIT(0);

		/* Never a bounce: the message is not at fault, its copy
		 * here is. It stays queued (retried, shown by queue show)
		 * for the operator to look at. */
		log_error("%s deliver queue file damaged since it was queued: "
		    "file=%s/queue/%s error=\"%s\"", j->id, d->cfg->spool_dir,
		    j->id, errstr);
		(void)buf_appendf(&t, "4.3.0 queue file damaged: %s", errstr);
		deliver_set_all(res, j->n, DELIVER_TEMP, NULL, t.data);
		buf_free(&t);
		goto out;
	}
	if (rv == 0) {
		deliver_set_all(res, j->n, DELIVER_TEMP, NULL,
		    "4.3.0 queue file missing");
		goto out;
	}
	rc = xcalloc(j->n, sizeof(*rc));
	for (i = 0; i < j->n; i++) {
		if ((size_t)j->idx[i] >= env->nrcpt) {
			free(rc);
			deliver_set_all(res, j->n, DELIVER_TEMP, NULL,
			    "4.3.0 job names an unknown recipient");
			goto out;
		}
		rc[i] = env->rcpts[j->idx[i]];
	}
	sub = *env;
	sub.rcpts = rc;
	sub.nrcpt = j->n;
	if (route_for(d->cfg, j->domain, &r, &errstr) == -1) {
		deliver_set_all(res, j->n, DELIVER_TEMP, NULL, errstr);
		free(rc);
		goto out;
	}
	(void)buf_appendf(&d->tr.route, "%s: ", r.rule);
	route_key(&r, j->domain, &d->tr.route);
	if (r.kind == ROUTE_ERROR) {
		struct buf t = BUF_INIT(0);

		(void)buf_appendf(&t, "%s %s", r.status, r.text);
		deliver_set_all(res, j->n, r.status[0] == '5' ? DELIVER_PERM :
		    DELIVER_TEMP, NULL, t.data);
		buf_free(&t);
	} else if (r.kind == ROUTE_DISCARD)
		deliver_set_all(res, j->n, DELIVER_OK, NULL,
		    "2.0.0 discarded by configuration");
	else
		deliver_smtp(d, &r, j->domain, &sub, content, res);
	free(rc);
out:
	/* next_hop: where the route sends it; remote: the MTA that
	 * answered (the DSN's Remote-MTA), or "-". */
	if (r.rule != NULL)
		route_key(&r, j->domain, &hop);
	for (i = 0; i < j->n; i++) {
		buf_reset(&d->esc);	/* the reply is the peer's text */
		log_info("%s deliver to=<%s> route=%s next_hop=%s state=%c "
		    "remote=%s reply=\"%s\"", j->id, env && (size_t)j->idx[i] <
		    env->nrcpt ? env->rcpts[j->idx[i]].addr : "?", r.rule ?
		    r.rule : "-", hop.len ? hop.data : "-", res[i].state,
		    buf_cstr(&res[i].remote), log_escape(&d->esc,
		    buf_cstr(&res[i].reply), res[i].reply.len,
		    DELIVER_LOG_REPLY_MAX));
	}
	buf_free(&hop);
	route_free(&r);
	spool_env_free(&env);
	spool_content_close(&content);
}

static int
deliver_report(struct deliver *d, const struct jobframe_msg *j,
    struct deliver_res *res)
{
	struct buf out = BUF_INIT(IPC_MAX_PAYLOAD);
	const char *tf[JOBTRACE_FIELDS];
	size_t i;
	int r;

	/* One line per recipient, bounded (jobframe.h): at most 100
	 * recipients of 300 octets of reply and a route key each fit. */
	if (jobframe_result_begin(&out, j->id) == -1)
		log_panic("deliver: result frame overflow");
	for (i = 0; i < j->n; i++)
		if (jobframe_result_add(&out, j->idx[i], res[i].state,
		    buf_cstr(&res[i].remote), buf_cstr(&res[i].reply)) == -1)
			log_panic("deliver: result frame overflow");
	/* The job's trace: one line, each field bounded. */
	tf[JOBTRACE_ROUTE] = buf_cstr(&d->tr.route);
	tf[JOBTRACE_MX] = buf_cstr(&d->tr.mx);
	tf[JOBTRACE_TRIED] = buf_cstr(&d->tr.tried);
	tf[JOBTRACE_TLS] = buf_cstr(&d->tr.tls);
	tf[JOBTRACE_CONN] = d->tr.conn;
	jobtrace_format(&out, tf);
	if (out.data[out.len - 1] != '\n')	/* appends stop at the max */
		log_panic("deliver: result frame overflow");
	r = ipc_send(d->qfd, IPC_JOB_DONE, out.data, out.len);
	buf_free(&out);
	return r;
}

/* Why the rest of a job is not attempted after this message (into
 * why), or 0 to go on: no address of the next hop answered, AUTH failed
 * there, or a reply asked us to slow down (1); or only the messages for
 * the same domain (2): its TLS policy failed there, others may differ. */
static int
deliver_stop_job(struct deliver *d, const struct jobframe_msg *j,
    const struct deliver_res *res, struct buf *why)
{
	size_t i;

	buf_reset(why);
	if (strcmp(d->tr.conn, "failed") == 0) {
		(void)buf_appendf(why, "the next hop did not answer for %s: %s",
		    j->id, j->n ? buf_cstr(&res[0].reply) : "");
		return 1;
	}
	if (strcmp(d->tr.conn, "tls") == 0) {
		(void)buf_appendf(why, "TLS required for %s failed at the next "
		    "hop for %s: %s", j->domain, j->id, j->n ?
		    buf_cstr(&res[0].reply) : "");
		return 2;
	}
	if (strcmp(d->tr.conn, "auth") == 0) {	/* no more bad logins */
		(void)buf_appendf(why, "AUTH at the next hop failed for %s: %s",
		    j->id, j->n ? buf_cstr(&res[0].reply) : "");
		return 1;
	}
	if (!d->cfg->deliver_throttle)
		return 0;
	for (i = 0; i < j->n; i++)
		if (throttle_reply_signals(d->cfg->deliver_throttle_patterns,
		    buf_cstr(&res[i].reply))) {
			(void)buf_appendf(why, "the next hop asked to slow down "
			    "for %s: %s", j->id, buf_cstr(&res[i].reply));
			return 1;
		}
	return 0;
}

/* A message of a job that is not attempted: every recipient deferred
 * with why, a trace that tried nothing (CONN "-": qmgr's throttling took
 * the signal from the message that gave it). */
static void
deliver_skip(struct deliver *d, const struct jobframe_msg *j,
    struct deliver_res *res, const char *why)
{
	struct buf t = BUF_INIT(0);

	(void)buf_appendf(&t, "4.4.2 not attempted: %s", why);
	deliver_set_all(res, j->n, DELIVER_TEMP, NULL, t.data);
	buf_reset(&d->tr.mx);
	buf_reset(&d->tr.tried);
	buf_reset(&d->tr.tls);
	(void)buf_appends(&d->tr.mx, "not looked up");
	(void)buf_appends(&d->tr.tried, "none: an earlier message of the "
	    "job failed");
	d->tr.conn = "-";
	buf_reset(&d->esc);	/* holds the peer's text */
	log_info("%s deliver to=%s rcpts=%zu state=t reply=\"%s\"",
	    j->id, j->domain, j->n, log_escape(&d->esc, t.data, t.len,
	    DELIVER_LOG_REPLY_MAX));
	buf_free(&t);
}

/*
 * The messages of a job, in order, each reported as soon as it is done.
 * A stop request (SIGTERM) ends the job between two messages: the rest
 * is not reported and stays due at qmgr. -1 when qmgr cannot be told.
 */
static int
deliver_jobs(struct deliver *d, const struct jobframe_msg *j, size_t nj,
    struct deliver_res *res)
{
	struct buf why = BUF_INIT(0), twhy = BUF_INIT(0);
	const char *tls_dom = NULL;	/* its required TLS failed */
	size_t k;
	int stop = 0, r = 1;

	for (k = 0; k < nj && r != -1; k++) {
		if (k > 0 && deliver_stop)
			break;
		if (stop)
			deliver_skip(d, &j[k], res, why.data);
		else if (tls_dom != NULL && strcasecmp(j[k].domain,
		    tls_dom) == 0)
			deliver_skip(d, &j[k], res, twhy.data);
		else {
			deliver_job(d, &j[k], res);
			stop = deliver_stop_job(d, &j[k], res, &why);
			if (stop == 2) {
				stop = 0;
				tls_dom = j[k].domain;
				buf_reset(&twhy);
				(void)buf_appends(&twhy, why.data);
			}
		}
		r = deliver_report(d, &j[k], res);
	}
	buf_free(&why);
	buf_free(&twhy);
	return r;
}

int
deliver_load_auth(const char *path, char **user_r, char **pass_r,
    const char **errstr_r)
{
	FILE *f;
	char *line = NULL, *sp, *nl;
	size_t cap = 0;

	*user_r = *pass_r = NULL;
	if (path == NULL || path[0] == '\0')
		return 1;
	if ((f = fopen(path, "re")) == NULL) {
		*errstr_r = "cannot read relayhost_auth_file";
		return -1;
	}
	if (getline(&line, &cap, f) == -1 || (sp = strchr(line, ' ')) ==
	    NULL) {
		*errstr_r = "relayhost_auth_file: expected 'user password'";
		free(line);
		(void)fclose(f);	/* read-only */
		return -1;
	}
	(void)fclose(f);	/* read-only */
	if ((nl = strchr(sp + 1, '\n')) != NULL)
		*nl = '\0';
	*user_r = xstrndup(line, (size_t)(sp - line));
	*pass_r = xstrdup(sp + 1);
	xbzero(line, cap);
	free(line);
	return 1;
}

/* Our listening addresses and, when one is a wildcard, this machine's
 * interface addresses (read once: a worker lives shorter than most
 * address changes, and a reload restarts it). */
static void
deliver_self_setup(struct deliver *d)
{
	const struct cfg_list *lists[3] = { &d->cfg->listen_mx,
	    &d->cfg->listen_submission, &d->cfg->listen_smtps };
	struct sockaddr_storage ss;
	struct ifaddrs *ifa, *p;
	socklen_t len;
	size_t i, k;

	for (i = 0; i < 3; i++)
		for (k = 0; k < lists[i]->n; k++) {
			if (netaddr_parse_listen(lists[i]->v[k], &ss, &len) ==
			    -1)
				continue;
			d->self = xrealloc(d->self, (d->nself + 1) *
			    sizeof(*d->self));
			d->self[d->nself++] = ss;
		}
	if (getifaddrs(&ifa) == -1) {
		log_warn("deliver: cannot list local addresses: %s",
		    strerror(errno));
		return;
	}
	for (p = ifa; p != NULL; p = p->ifa_next) {
		if (p->ifa_addr == NULL || (p->ifa_addr->sa_family != AF_INET &&
		    p->ifa_addr->sa_family != AF_INET6))
			continue;
		d->local = xrealloc(d->local, (d->nlocal + 1) *
		    sizeof(*d->local));
		memset(&d->local[d->nlocal], 0, sizeof(*d->local));
		memcpy(&d->local[d->nlocal++], p->ifa_addr,
		    p->ifa_addr->sa_family == AF_INET ?
		    sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
	}
	freeifaddrs(ifa);
}

static void
deliver_setup(struct deliver *d)
{
	const struct relay_cfg *cfg = d->cfg;
	struct buf path = BUF_INIT(0);
	const char *errstr;
	int i;

	if (spool_open(cfg->spool_dir, cfg->spool_sync, 0, &d->spool,
	    &errstr) == -1)
		log_fatal("deliver: spool %s: %s", cfg->spool_dir, errstr);
	if (dns_open(cfg->dns_server, cfg->dns_timeout, &d->dns,
	    &errstr) == -1)
		log_fatal("deliver: DNS: %s", errstr);
	deliver_self_setup(d);
	(void)buf_appendf(&path, "%s/deliver.sock", cfg->spool_dir);
	/* A qmgr that was just restarted may not listen yet: a few tries. */
	for (i = 0; i < 50 && (d->qfd = ipc_connect(path.data)) == -1; i++)
		(void)poll(NULL, 0, 100);
	if (d->qfd == -1 || ipc_send(d->qfd, IPC_DELIVER_READY, "", 0) == -1)
		log_fatal("deliver: cannot reach qmgr at %s: %s", path.data,
		    strerror(errno));
	buf_free(&path);
}

void
deliver_main(const struct relay_cfg *cfg, const char *relay_user,
    const char *relay_pass)
{
	struct deliver dd, *d = &dd;
	struct deliver_res res[DELIVER_MAX_RCPTS];
	static struct jobframe_msg j[DELIVER_MAX_MSGS];	/* 26 KiB */
	size_t nj;
	struct sigaction sa;
	struct buf frame = BUF_INIT(0);
	enum ipc_type type;
	size_t i;
	int r;

	memset(d, 0, sizeof(*d));
	d->cfg = cfg;
	d->relay_user = relay_user;
	d->relay_pass = relay_pass;
	buf_init(&d->sc_key, 0);
	buf_init(&d->sc_mta, 0);
	buf_init(&d->sc_tried, 0);
	buf_init(&d->tr.route, 0);
	buf_init(&d->tr.mx, 0);
	buf_init(&d->tr.tried, 0);
	buf_init(&d->tr.tls, 0);
	buf_init(&d->esc, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = deliver_on_signal;
	(void)sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	(void)sigaction(SIGINT, &sa, NULL);
	(void)sigaction(SIGPIPE, &sa, NULL);
	(void)sigaction(SIGHUP, &sa, NULL);
	deliver_setup(d);
	for (i = 0; i < DELIVER_MAX_RCPTS; i++) {
		buf_init(&res[i].remote, 0);
		buf_init(&res[i].reply, 0);
	}
	while (!deliver_stop) {
		r = ipc_recv(d->qfd, 1000, &type, &frame);
		if (r == -1 && (errno == ETIMEDOUT || errno == EINTR)) {
			if (d->sc != NULL && conn_now_ms() - d->sc_idle_since >
			    DELIVER_REUSE_MS)
				deliver_close_cached(d);
			continue;
		}
		if (r != 1 || type != IPC_JOB) {
			if (r == 0)
				log_info("deliver: qmgr went away");
			else
				log_error("deliver: bad frame from qmgr");
			break;
		}
		if (jobframe_parse(frame.data, frame.len, j, DELIVER_MAX_MSGS,
		    &nj) == -1) {
			log_error("deliver: malformed job from qmgr");
			break;
		}
		r = deliver_jobs(d, j, nj, res);
		jobframe_free(j, nj);
		if (r == -1)
			break;
	}
	/* Told to stop: say so, so qmgr takes a job left unfinished (or one
	 * it sent that was never read) for what it is, not for a crash. */
	if (deliver_stop && ipc_send(d->qfd, IPC_DELIVER_STOP, "", 0) == -1)
		log_debug("deliver: cannot tell qmgr that we stop: %s",
		    strerror(errno));
	deliver_close_cached(d);
	for (i = 0; i < DELIVER_MAX_RCPTS; i++) {
		buf_free(&res[i].remote);
		buf_free(&res[i].reply);
	}
	buf_free(&frame);
	buf_free(&d->sc_key);
	buf_free(&d->sc_mta);
	buf_free(&d->sc_tried);
	buf_free(&d->tr.route);
	buf_free(&d->tr.mx);
	buf_free(&d->tr.tried);
	buf_free(&d->tr.tls);
	buf_free(&d->esc);
	free(d->self);
	free(d->local);
	tls_client_free(&d->tls);
	dns_close(&d->dns);
	spool_close(&d->spool);
	exit(0);
}
