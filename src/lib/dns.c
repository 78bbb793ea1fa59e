/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * The resolver on libunbound: see dns.h. Queries go to libunbound's
 * background thread (ub_resolve_async); we wait on its pipe with poll()
 * until the call's deadline and cancel what has not come back by then,
 * so no call can outlast its timeout however the servers behave. The
 * answers' RDATA (names already decompressed by libunbound) are parsed
 * here with explicit bounds. Never logs.
 */
#include "config.h"

#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/rand.h>
#include <unbound.h>

#include "lib/buf.h"
#include "lib/dns.h"
#include "lib/log.h"
#include "lib/xalloc.h"

#define DNS_T_A		1
#define DNS_T_PTR	12
#define DNS_T_MX	15
#define DNS_T_TXT	16
#define DNS_T_AAAA	28
#define DNS_C_IN	1
#define DNS_RCODE_NOERROR	0
#define DNS_RCODE_NXDOMAIN	3
#define DNS_LABEL_MAX	63
#define DNS_SERVER_MAX	128	/* one "IP@port" of the option */

struct dns {
	struct ub_ctx	*ctx;
	long long	 timeout_ms;
};

/* One query of a call; lives on the caller's stack until dns_run returns
 * (by then it is answered or cancelled, so libunbound drops it). */
struct dns_query {
	const char	*name;
	int		 type;
	int		 id;
	int		 sent;
	int		 done;
	int		 err;
	struct ub_result *res;
};

/* ------------------------------------------------------------ names */

static int
dns_ldh(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/*
 * Checks a name given to us and copies it to out (DNS_NAME_MAX + 1 bytes)
 * lowercased, without the trailing dot. 1, or -1 when invalid.
 */
static int
dns_name_check(const char *in, char *out)
{
	size_t i, len, label = 0;

	if (in == NULL)
		return -1;
	len = strlen(in);
	if (len > 0 && in[len - 1] == '.')
		len--;
	if (len == 0 || len > DNS_NAME_MAX)
		return -1;
	for (i = 0; i < len; i++) {
		if (in[i] == '.') {
			if (label == 0)
				return -1;
			label = 0;
		} else if (dns_ldh((unsigned char)in[i])) {
			if (++label > DNS_LABEL_MAX)
				return -1;
		} else
			return -1;
		out[i] = (char)((in[i] >= 'A' && in[i] <= 'Z') ?
		    in[i] - 'A' + 'a' : in[i]);
	}
	if (label == 0)
		return -1;
	out[len] = '\0';
	return 1;
}

/*
 * Converts the uncompressed wire-format name at p (at most len bytes) to
 * text in out (DNS_NAME_MAX + 1 bytes), lowercased, without the trailing
 * dot. *used_r = bytes it took. 1 for a valid name, 0 for the root ("."),
 * -1 for anything we would not accept as input (or out of bounds).
 */
static int
dns_wire_name(const unsigned char *p, size_t len, size_t *used_r, char *out)
{
	size_t i = 0, o = 0, n, k;

	for (;;) {
		if (i >= len)
			return -1;
		n = p[i++];
		if (n == 0)
			break;
		if (n > DNS_LABEL_MAX || n > len - i)
			return -1;	/* also compression pointers */
		if (o > 0)
			out[o++] = '.';
		if (o + n > DNS_NAME_MAX)
			return -1;
		for (k = 0; k < n; k++) {
			int c = p[i + k];

			if (!dns_ldh(c))
				return -1;
			out[o++] = (char)((c >= 'A' && c <= 'Z') ?
			    c - 'A' + 'a' : c);
		}
		i += n;
	}
	out[o] = '\0';
	*used_r = i;
	return o == 0 ? 0 : 1;
}

/* ------------------------------------------------------------ engine */

int
dns_open(const char *server, long long timeout_ms, struct dns **dns_r,
    const char **errstr_r)
{
	return dns_open_flags(server, timeout_ms, 0, dns_r, errstr_r);
}

/* Adds the forwarders of the server option; 1, or -1 with *errstr_r. */
static int
dns_set_servers(struct ub_ctx *ctx, const char *server, const char **errstr_r)
{
	const char *p = server, *sep = " \t,";
	char one[DNS_SERVER_MAX];
	size_t n;
	int count = 0;

	while (*(p += strspn(p, sep)) != '\0') {
		n = strcspn(p, sep);
		if (n >= sizeof(one)) {
			*errstr_r = "dns: server address too long";
			return -1;
		}
		memcpy(one, p, n);
		one[n] = '\0';
		p += n;
		if (ub_ctx_set_fwd(ctx, one) != 0) {
			*errstr_r = "dns: invalid server address "
			    "(want IP or IP@port)";
			return -1;
		}
		count++;
	}
	if (count == 0 && ub_ctx_resolvconf(ctx, NULL) != 0) {
		*errstr_r = "dns: cannot read the name servers of "
		    "/etc/resolv.conf";
		return -1;
	}
	return 1;
}

/*
 * libunbound answers some names itself (RFC 6303/6761 default zones): the
 * reverse zones of loopback and private networks, test. Ours go to the
 * servers instead, which may well serve them (a site's own reverse zones,
 * the test zones); only localhost., invalid. and onion. stay local.
 */
static int
dns_unshadow(struct ub_ctx *ctx)
{
	static const char *const opts[][2] = {
		{ "unblock-lan-zones:", "yes" },
		{ "insecure-lan-zones:", "yes" },
		{ "local-zone:", "test. transparent" },
		{ "local-zone:", "127.in-addr.arpa. transparent" },
		{ "local-zone:", "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0."
		    "0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa. transparent" },
	};
	size_t i;

	for (i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
		if (ub_ctx_set_option(ctx, opts[i][0], opts[i][1]) != 0)
			return -1;
	return 1;
}

int
dns_open_flags(const char *server, long long timeout_ms, int flags,
    struct dns **dns_r, const char **errstr_r)
{
	struct ub_ctx *ctx;
	struct dns *dns;

	*dns_r = NULL;
	if (timeout_ms < 1 || timeout_ms > DNS_TIMEOUT_MAX_MS) {
		*errstr_r = "dns: timeout out of range";
		return -1;
	}
	if (flags & DNS_F_DNSSEC) {
		*errstr_r = "dns: DNSSEC validation is not supported yet";
		return -1;
	}
	if (flags != 0) {
		*errstr_r = "dns: unknown flags";
		return -1;
	}
	if ((ctx = ub_ctx_create()) == NULL) {
		*errstr_r = "dns: cannot create the resolver context";
		return -1;
	}
	/* No output from libunbound: a NULL log file silences it. */
	(void)ub_ctx_debugout(ctx, NULL);	/* always UB_NOERROR */
	if (ub_ctx_async(ctx, 1) != 0 || dns_unshadow(ctx) == -1) {
		ub_ctx_delete(ctx);
		*errstr_r = "dns: cannot configure libunbound";
		return -1;
	}
	if (dns_set_servers(ctx, server != NULL ? server : "",
	    errstr_r) == -1) {
		ub_ctx_delete(ctx);
		return -1;
	}
	dns = xcalloc(1, sizeof(*dns));
	dns->ctx = ctx;
	dns->timeout_ms = timeout_ms;
	*dns_r = dns;
	return 1;
}

void
dns_close(struct dns **dnsp)
{
	if (dnsp == NULL || *dnsp == NULL)
		return;
	ub_ctx_delete((*dnsp)->ctx);
	free(*dnsp);
	*dnsp = NULL;
}

static void
dns_done(void *arg, int err, struct ub_result *res)
{
	struct dns_query *q = arg;

	q->done = 1;
	q->err = err;
	q->res = res;
}

static long long
dns_now_ms(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) == -1)
		log_panic("dns: clock_gettime: %s", strerror(errno));
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Sends the n queries and waits for their answers until the deadline.
 * Afterwards each is done (err/res set) or cancelled (done == 0): a
 * cancelled query's late answer is dropped by libunbound, it never calls
 * back into this (by then dead) stack frame.
 */
static void
dns_run(struct dns *dns, struct dns_query *qs, size_t n)
{
	long long deadline = dns_now_ms() + dns->timeout_ms, left;
	struct pollfd pfd;
	size_t i, pending = 0;
	int r;

	for (i = 0; i < n; i++) {
		r = ub_resolve_async(dns->ctx, qs[i].name, qs[i].type,
		    DNS_C_IN, &qs[i], dns_done, &qs[i].id);
		if (r != 0) {
			qs[i].done = 1;
			qs[i].err = r;
		} else {
			qs[i].sent = 1;
			pending++;
		}
	}
	pfd.fd = ub_fd(dns->ctx);
	pfd.events = POLLIN;
	while (pending > 0 && (left = deadline - dns_now_ms()) > 0) {
		pfd.revents = 0;
		r = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (r == -1 && errno != EINTR)
			break;
		if (r > 0 && ub_process(dns->ctx) != 0)
			break;		/* the resolver thread is gone */
		for (i = 0, pending = 0; i < n; i++)
			pending += !qs[i].done;
	}
	for (i = 0; i < n; i++) {
		if (qs[i].sent && !qs[i].done) {
			/* In threaded mode this only marks the query: it
			 * cannot fail for a query that has not called back. */
			r = ub_cancel(dns->ctx, qs[i].id);
			ASSERT(r == 0);
		}
	}
}

static enum dns_status
dns_query_status(const struct dns_query *q)
{
	if (!q->done || q->err != 0 || q->res == NULL)
		return DNS_TEMPFAIL;
	if (q->res->rcode == DNS_RCODE_NXDOMAIN)
		return DNS_NXDOMAIN;
	if (q->res->rcode != DNS_RCODE_NOERROR || q->res->bogus)
		return DNS_TEMPFAIL;
	if (!q->res->havedata || q->res->data == NULL ||
	    q->res->data[0] == NULL)
		return DNS_NODATA;
	return DNS_OK;
}

/* Runs one query of name (already checked); *res_r is the caller's when
 * the status is DNS_OK, else NULL. */
static enum dns_status
dns_one(struct dns *dns, const char *name, int type, struct ub_result **res_r)
{
	struct dns_query q;
	enum dns_status st;

	memset(&q, 0, sizeof(q));
	q.name = name;
	q.type = type;
	dns_run(dns, &q, 1);
	st = dns_query_status(&q);
	if (st == DNS_OK) {
		*res_r = q.res;
		return st;
	}
	ub_resolve_free(q.res);
	*res_r = NULL;
	return st;
}

static size_t
dns_count(const struct ub_result *res)
{
	size_t n = 0;

	while (res->data[n] != NULL)
		n++;
	return n;
}

/* ------------------------------------------------------------ MX */

struct dns_mx_sort {
	unsigned	 pref;
	uint32_t	 key;	/* random: order among equal preferences */
	char		*host;
};

static int
dns_mx_cmp(const void *a, const void *b)
{
	const struct dns_mx_sort *x = a, *y = b;

	if (x->pref != y->pref)
		return x->pref < y->pref ? -1 : 1;
	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return 0;
}

/* Parses one MX RDATA: 1 = host in out, 0 = root ("."), -1 = unusable. */
static int
dns_mx_rdata(const unsigned char *p, size_t len, unsigned *pref_r, char *out)
{
	struct in_addr ia;
	size_t used;
	int r;

	if (len < 3)
		return -1;
	*pref_r = (unsigned)p[0] << 8 | p[1];
	r = dns_wire_name(p + 2, len - 2, &used, out);
	if (r == 1 && inet_pton(AF_INET, out, &ia) == 1)
		return -1;	/* an address where a name belongs */
	return r;
}

/* Sorts the usable records of res into *mx_r; returns how many, and how
 * many were root (".") in *roots_r. */
static size_t
dns_mx_collect(const struct ub_result *res, struct dns_mx **mx_r,
    size_t *roots_r)
{
	size_t i, n = dns_count(res), k = 0;
	struct dns_mx_sort *s;
	struct dns_mx *mx;
	char host[DNS_NAME_MAX + 1];
	unsigned pref;
	int r;

	*roots_r = 0;
	s = xcalloc(n, sizeof(*s));
	for (i = 0; i < n; i++) {
		r = dns_mx_rdata((const unsigned char *)res->data[i],
		    res->len[i] < 0 ? 0 : (size_t)res->len[i], &pref, host);
		if (r == 0)
			(*roots_r)++;
		if (r != 1)
			continue;
		s[k].pref = pref;
		s[k].host = xstrdup(host);
		k++;
	}
	for (i = 0; i < k; i++) {
		/* If RAND_bytes fails the keys are 0: the order among equal
		 * preferences is then qsort's, still correct, not random. */
		if (RAND_bytes((unsigned char *)&s[i].key,
		    sizeof(s[i].key)) != 1)
			s[i].key = 0;
	}
	qsort(s, k, sizeof(*s), dns_mx_cmp);
	mx = k > 0 ? xcalloc(k, sizeof(*mx)) : NULL;
	for (i = 0; i < k; i++) {
		mx[i].pref = s[i].pref;
		mx[i].host = s[i].host;
	}
	free(s);
	*mx_r = mx;
	return k;
}

enum dns_status
dns_mx(struct dns *dns, const char *domain, struct dns_mx **mx_r,
    size_t *n_r, int *nullmx_r)
{
	char name[DNS_NAME_MAX + 1];
	struct ub_result *res;
	enum dns_status st;
	size_t n, roots;

	*mx_r = NULL;
	*n_r = 0;
	*nullmx_r = 0;
	if (dns_name_check(domain, name) == -1)
		return DNS_PERMFAIL;
	if ((st = dns_one(dns, name, DNS_T_MX, &res)) != DNS_OK)
		return st;
	n = dns_mx_collect(res, mx_r, &roots);
	if (n == 0 && roots > 0 && roots == dns_count(res))
		*nullmx_r = 1;
	else if (n == 0)
		st = DNS_TEMPFAIL;	/* only unusable records */
	ub_resolve_free(res);
	*n_r = n;
	return st;
}

void
dns_mx_free(struct dns_mx **mxp, size_t n)
{
	size_t i;

	if (mxp == NULL || *mxp == NULL)
		return;
	for (i = 0; i < n; i++)
		free((*mxp)[i].host);
	free(*mxp);
	*mxp = NULL;
}

/* ------------------------------------------------------------ A/AAAA */

/* Parses the address text s into ss with port; v6only refuses IPv4.
 * 1 or -1. */
static int
dns_inet(const char *s, int port, int v6only, struct sockaddr_storage *ss)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (!v6only && inet_pton(AF_INET, s, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		return 1;
	}
	if (inet_pton(AF_INET6, s, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		return 1;
	}
	return -1;
}

/*
 * Parses an address literal into ss with port: 1 when host is one, 0 when
 * it is not (a name), -1 for a malformed literal: brackets, or a colon
 * (never part of a name), around something that is not an address.
 */
static int
dns_literal(const char *host, int port, struct sockaddr_storage *ss)
{
	char tmp[INET6_ADDRSTRLEN + 1];
	const char *p = host;
	size_t len = strlen(host);
	int v6only = 0;

	if (host[0] == '[') {
		if (len < 3 || host[len - 1] != ']')
			return -1;
		p++;
		len -= 2;
		if (len > 5 && strncasecmp(p, "IPv6:", 5) == 0) {
			p += 5;
			len -= 5;
			v6only = 1;
		}
	} else if (strchr(host, ':') == NULL)
		return dns_inet(host, port, 0, ss) == 1 ? 1 : 0;
	if (len >= sizeof(tmp))
		return -1;
	memcpy(tmp, p, len);
	tmp[len] = '\0';
	return dns_inet(tmp, port, v6only, ss);
}

/* Appends the addresses of res (family af) to out[*n], skipping
 * duplicates and records of the wrong size. */
static void
dns_addrs_add(const struct ub_result *res, int af, int port,
    struct sockaddr_storage *out, size_t *n)
{
	size_t i, j, alen = af == AF_INET ? 4 : 16;
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

	for (i = 0; res->data[i] != NULL; i++) {
		if (res->len[i] < 0 || (size_t)res->len[i] != alen)
			continue;
		memset(&ss, 0, sizeof(ss));
		if (af == AF_INET) {
			sin->sin_family = AF_INET;
			sin->sin_port = htons((uint16_t)port);
			memcpy(&sin->sin_addr, res->data[i], 4);
		} else {
			sin6->sin6_family = AF_INET6;
			sin6->sin6_port = htons((uint16_t)port);
			memcpy(&sin6->sin6_addr, res->data[i], 16);
		}
		for (j = 0; j < *n; j++)
			if (memcmp(&out[j], &ss, sizeof(ss)) == 0)
				break;
		if (j == *n)
			out[(*n)++] = ss;
	}
}

/* The status of an A+AAAA lookup without addresses. */
static enum dns_status
dns_addrs_fail(enum dns_status s6, enum dns_status s4)
{
	if (s6 == DNS_TEMPFAIL || s4 == DNS_TEMPFAIL)
		return DNS_TEMPFAIL;
	if (s6 == DNS_NXDOMAIN && s4 == DNS_NXDOMAIN)
		return DNS_NXDOMAIN;
	return DNS_NODATA;
}

enum dns_status
dns_addrs(struct dns *dns, const char *host, int port, int prefer_v4,
    struct sockaddr_storage **addrs_r, size_t *n_r)
{
	char name[DNS_NAME_MAX + 1];
	struct dns_query q[2];	/* [0] AAAA, [1] A */
	struct sockaddr_storage lit, *out;
	enum dns_status s[2];
	size_t cap = 0, n = 0, i;
	int r, first;

	*addrs_r = NULL;
	*n_r = 0;
	if (host == NULL || port < 0 || port > 65535)
		return DNS_PERMFAIL;
	if ((r = dns_literal(host, port, &lit)) == -1)
		return DNS_PERMFAIL;
	if (r == 1) {
		*addrs_r = xmalloc(sizeof(lit));
		**addrs_r = lit;
		*n_r = 1;
		return DNS_OK;
	}
	if (dns_name_check(host, name) == -1)
		return DNS_PERMFAIL;
	memset(q, 0, sizeof(q));
	q[0].name = q[1].name = name;
	q[0].type = DNS_T_AAAA;
	q[1].type = DNS_T_A;
	dns_run(dns, q, 2);
	for (i = 0; i < 2; i++)
		if ((s[i] = dns_query_status(&q[i])) == DNS_OK)
			cap += dns_count(q[i].res);
	out = cap > 0 ? xcalloc(cap, sizeof(*out)) : NULL;
	first = prefer_v4 ? 1 : 0;
	if (s[first] == DNS_OK)
		dns_addrs_add(q[first].res, first ? AF_INET : AF_INET6, port,
		    out, &n);
	if (s[!first] == DNS_OK)
		dns_addrs_add(q[!first].res, first ? AF_INET6 : AF_INET, port,
		    out, &n);
	ub_resolve_free(q[0].res);
	ub_resolve_free(q[1].res);
	if (n == 0) {
		free(out);
		return cap > 0 ? DNS_TEMPFAIL : dns_addrs_fail(s[0], s[1]);
	}
	*addrs_r = out;
	*n_r = n;
	return DNS_OK;
}

/* ------------------------------------------------------------ TXT, A, PTR */

/* The strings of one TXT RDATA concatenated, or NULL when malformed or
 * holding a NUL byte. */
static char *
dns_txt_rdata(const unsigned char *p, size_t len)
{
	struct buf b = BUF_INIT(65536);
	size_t i = 0, l;

	while (i < len) {
		l = p[i++];
		if (l > len - i || memchr(p + i, '\0', l) != NULL ||
		    buf_append(&b, p + i, l) == -1) {
			buf_free(&b);
			return NULL;
		}
		i += l;
	}
	if (b.data == NULL)
		return xstrdup("");	/* a record of empty strings */
	return buf_steal(&b);
}

enum dns_status
dns_txt(struct dns *dns, const char *name, char ***txt_r, size_t *n_r)
{
	char qname[DNS_NAME_MAX + 1], **v, *s;
	struct ub_result *res;
	enum dns_status st;
	size_t i, n, k = 0;

	*txt_r = NULL;
	*n_r = 0;
	if (dns_name_check(name, qname) == -1)
		return DNS_PERMFAIL;
	if ((st = dns_one(dns, qname, DNS_T_TXT, &res)) != DNS_OK)
		return st;
	n = dns_count(res);
	v = xcalloc(n + 1, sizeof(*v));
	for (i = 0; i < n; i++) {
		s = dns_txt_rdata((const unsigned char *)res->data[i],
		    res->len[i] < 0 ? 0 : (size_t)res->len[i]);
		if (s != NULL)
			v[k++] = s;
	}
	ub_resolve_free(res);
	if (k == 0) {
		free(v);
		return DNS_NODATA;
	}
	*txt_r = v;
	*n_r = k;
	return DNS_OK;
}

enum dns_status
dns_a4(struct dns *dns, const char *name, struct in_addr **a_r, size_t *n_r)
{
	char qname[DNS_NAME_MAX + 1];
	struct ub_result *res;
	struct in_addr *a;
	enum dns_status st;
	size_t i, n, k = 0;

	*a_r = NULL;
	*n_r = 0;
	if (dns_name_check(name, qname) == -1)
		return DNS_PERMFAIL;
	if ((st = dns_one(dns, qname, DNS_T_A, &res)) != DNS_OK)
		return st;
	n = dns_count(res);
	a = xcalloc(n, sizeof(*a));
	for (i = 0; i < n; i++)
		if (res->len[i] == 4)
			memcpy(&a[k++], res->data[i], 4);
	ub_resolve_free(res);
	if (k == 0) {
		free(a);
		return DNS_TEMPFAIL;	/* malformed answer */
	}
	*a_r = a;
	*n_r = k;
	return DNS_OK;
}

/* The reverse-lookup name of sa into out (DNS_NAME_MAX + 1); 1 or -1. */
static int
dns_ptr_name(const struct sockaddr *sa, char *out)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *a;
	size_t o = 0;
	int i;

	if (sa->sa_family == AF_INET6) {
		a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
		if (!IN6_IS_ADDR_V4MAPPED(
		    &((const struct sockaddr_in6 *)sa)->sin6_addr)) {
			for (i = 15; i >= 0; i--) {
				out[o++] = hex[a[i] & 0xf];
				out[o++] = '.';
				out[o++] = hex[a[i] >> 4];
				out[o++] = '.';
			}
			memcpy(out + o, "ip6.arpa", sizeof("ip6.arpa"));
			return 1;
		}
		a += 12;
	} else if (sa->sa_family == AF_INET)
		a = (const unsigned char *)
		    &((const struct sockaddr_in *)sa)->sin_addr;
	else
		return -1;
	(void)snprintf(out, DNS_NAME_MAX + 1, "%u.%u.%u.%u.in-addr.arpa",
	    a[3], a[2], a[1], a[0]);	/* at most 29 bytes: fits */
	return 1;
}

enum dns_status
dns_ptr(struct dns *dns, const struct sockaddr *sa, char ***names_r,
    size_t *n_r)
{
	char qname[DNS_NAME_MAX + 1], host[DNS_NAME_MAX + 1], **v;
	struct ub_result *res;
	enum dns_status st;
	size_t i, n, k = 0, used;

	*names_r = NULL;
	*n_r = 0;
	if (sa == NULL || dns_ptr_name(sa, qname) == -1)
		return DNS_PERMFAIL;
	if ((st = dns_one(dns, qname, DNS_T_PTR, &res)) != DNS_OK)
		return st;
	n = dns_count(res);
	v = xcalloc(n + 1, sizeof(*v));
	for (i = 0; i < n; i++)
		if (dns_wire_name((const unsigned char *)res->data[i],
		    res->len[i] < 0 ? 0 : (size_t)res->len[i], &used,
		    host) == 1)
			v[k++] = xstrdup(host);
	ub_resolve_free(res);
	if (k == 0) {
		free(v);
		return DNS_NODATA;
	}
	*names_r = v;
	*n_r = k;
	return DNS_OK;
}

void
dns_strv_free(char ***vp, size_t n)
{
	size_t i;

	if (vp == NULL || *vp == NULL)
		return;
	for (i = 0; i < n; i++)
		free((*vp)[i]);
	free(*vp);
	*vp = NULL;
}

const char *
dns_status_str(enum dns_status st)
{
	switch (st) {
	case DNS_OK:
		return "ok";
	case DNS_NXDOMAIN:
		return "nxdomain";
	case DNS_NODATA:
		return "nodata";
	case DNS_TEMPFAIL:
		return "tempfail";
	case DNS_PERMFAIL:
		return "permfail";
	}
	return "unknown";
}
