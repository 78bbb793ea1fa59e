/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * estafetactl: the operator's command. `queue list` and `queue show ID`
 * read the queue index read-only (and the spool file for `show`): it never
 * writes the index, that is qmgr's job. `user`, `alias` and `sender` manage
 * the users database (users_db), of which it is the only writer. Passwords
 * are never taken from the command line: they are read from the terminal
 * without echo (twice), or from the first line of standard input, and
 * wiped from our buffers after use. It never prints or logs them.
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "lib/addr.h"
#include "lib/buf.h"
#include "lib/cfg.h"
#include "lib/ipc.h"
#include "lib/log.h"
#include "lib/users.h"
#include "lib/xalloc.h"
#include "relay/qidx.h"
#include "relay/relay_cfg.h"
#include "relay/route.h"
#include "relay/spool.h"

struct ctl {
	struct relay_cfg	 cfg;
	struct qidx		*idx;
	struct users		*users;
	int			 json;
	int			 show;		/* queue show: timelines */
	const char		*show_id;
	int			 held;
	struct qidx_dest	*dest;		/* queue show: throttled */
	size_t			 ndest;
	int			 nfilter;
	struct buf		 tmp;
};

static int	ctl_qmgr(struct ctl *, const char *);

static void
usage(void)
{
	fprintf(stderr,
	    "usage: estafetactl [-c file] queue list [--json] [FILTER...]\n"
	    "       estafetactl [-c file] queue show [--json] ID\n"
	    "       estafetactl [-c file] queue summary [--json]\n"
	    "       estafetactl [-c file] queue flush [[--dry-run] ID|FILTER...]"
	    "\n"
	    "       estafetactl [-c file] queue hold|release|delete|bounce|"
	    "requeue\n"
	    "                             [--dry-run] ID|FILTER...\n"
	    "       estafetactl [-c file] queue bounce --no-notice [--dry-run] "
	    "ID|FILTER...\n"
	    "       estafetactl [-c file] user add|passwd ADDRESS\n"
	    "       estafetactl [-c file] user del|disable|enable ADDRESS\n"
	    "       estafetactl [-c file] user list [--json]\n"
	    "       estafetactl [-c file] user quota ADDRESS SIZE (0: none)\n"
	    "       estafetactl [-c file] alias add ALIAS TARGET\n"
	    "       estafetactl [-c file] alias del ALIAS\n"
	    "       estafetactl [-c file] alias list [--json]\n"
	    "       estafetactl [-c file] sender add LOGIN ADDRESS|@DOMAIN\n"
	    "       estafetactl [-c file] sender del LOGIN ADDRESS|@DOMAIN\n"
	    "       estafetactl [-c file] sender list [--json]\n"
	    "FILTER: --sender ADDR (<> for the null sender), --rcpt ADDR, "
	    "--domain DOMAIN,\n  --state pending|deferred|delivered|"
	    "bounced|held, --older-than DURATION\n  (e.g. 90s, 30m, 1h, 2d, "
	    "1w), --reply TEXT (in the last reply).\n"
	    "Passwords (user add, user passwd) are read from the terminal "
	    "without echo,\nor from the first line of standard input when "
	    "it is not a terminal;\nnever from the command line.\n");
	exit(2);
}

/*
 * Unix seconds on qmgr's clock (CLOCK_REALTIME, which next_try, arrival
 * and the throttling state use), for the age filters and "due in":
 * never time(NULL), glibc's coarse clock, a tick behind.
 */
static long long
ctl_now_s(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_REALTIME, &ts);	/* cannot fail */
	return (long long)ts.tv_sec;
}

static const char *
ctl_time(long long t, char *out, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	(void)gmtime_r(&tt, &tm);
	if (strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		out[0] = '\0';
	return out;
}

/* Length of the well-formed UTF-8 sequence at s (RFC 3629: no overlong
 * forms, no surrogates, at most U+10FFFF), or 0. */
static size_t
ctl_utf8_len(const unsigned char *s)
{
	size_t n, i;
	unsigned cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, cp = s[0] & 0x07;
	else
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)	/* also stops at the NUL */
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return n;
}

/* JSON string escaping (RFC 8259) into b. Text from peers (replies) may
 * hold any octets: a byte that is not well-formed UTF-8 becomes U+FFFD,
 * so the output always parses. */
static const char *
ctl_json(struct buf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n;

	buf_reset(b);
	(void)buf_appendc(b, '"');
	while (*p) {
		if (*p == '"' || *p == '\\')
			(void)buf_appendf(b, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			(void)buf_appendf(b, "\\u%04x", *p);
		else if ((n = ctl_utf8_len(p)) == 0) {
			(void)buf_appends(b, "\\ufffd");
			p++;
			continue;
		} else {
			(void)buf_append(b, p, n);
			p += n;
			continue;
		}
		p++;
	}
	(void)buf_appendc(b, '"');
	return buf_cstr(b);
}

/* Text for a terminal: octets that are not well-formed UTF-8, and
 * control characters, become '?' (replies come from peers). */
static const char *
ctl_text(struct buf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n;

	buf_reset(b);
	while (*p) {
		n = ctl_utf8_len(p);
		if (n == 0 || *p < 0x20 || *p == 0x7f || (n == 2 &&
		    p[0] == 0xc2 && p[1] < 0xa0)) {		/* C1 controls */
			(void)buf_appendc(b, '?');
			p++;
		} else {
			(void)buf_append(b, p, n);
			p += n;
		}
	}
	return buf_cstr(b);
}

struct ctl_list {
	struct ctl	*ctl;
	int		 n;
};

/* One timeline row of queue show. */
static int
ctl_print_attempt(void *arg, const struct qidx_attempt *a)
{
	struct ctl_list *l = arg;
	struct ctl *c = l->ctl;
	char t[32];

	if (c->json) {
		printf("%s{\"seq\":%d,\"time\":\"%s\",\"kind\":%s,"
		    "\"attempt\":%d,\"state\":\"%s\",", l->n++ ? "," : "",
		    a->seq, ctl_time(a->t, t, sizeof(t)),
		    ctl_json(&c->tmp, a->kind), a->attempt,
		    qidx_state_name(a->state));
		printf("\"route\":%s,", ctl_json(&c->tmp, a->route));
		printf("\"mx\":%s,", ctl_json(&c->tmp, a->mx));
		printf("\"tried\":%s,", ctl_json(&c->tmp, a->tried));
		printf("\"tls\":%s,", ctl_json(&c->tmp, a->tls));
		printf("\"reply\":%s,", ctl_json(&c->tmp, a->reply));
		printf("\"next_try\":\"%s\",", a->next_try ?
		    ctl_time(a->next_try, t, sizeof(t)) : "");
		printf("\"why\":%s}", ctl_json(&c->tmp, a->why));
		return 1;
	}
	l->n++;
	printf("        #%d %s %s", a->seq, ctl_time(a->t, t, sizeof(t)),
	    a->kind);
	if (strcmp(a->kind, "attempt") == 0)
		printf(" %d", a->attempt);
	printf(" -> %s\n", qidx_state_name(a->state));
	if (a->route[0])
		printf("            route:  %s\n", ctl_text(&c->tmp, a->route));
	if (a->mx[0])
		printf("            mx:     %s\n", ctl_text(&c->tmp, a->mx));
	if (a->tried[0])
		printf("            tried:  %s\n", ctl_text(&c->tmp, a->tried));
	if (a->tls[0])
		printf("            tls:    %s\n", ctl_text(&c->tmp, a->tls));
	if (a->reply[0])
		printf("            reply:  %s\n", ctl_text(&c->tmp, a->reply));
	if (a->next_try)
		printf("            next:   %s (%s)\n", ctl_time(a->next_try, t,
		    sizeof(t)), a->why);
	else if (a->why[0])
		printf("            next:   %s (%s)\n", strcmp(a->kind,
		    "requeue") == 0 ? "now" : "none", a->why);
	return 1;
}

static void
ctl_print_timeline(struct ctl *c, const struct qidx_rcpt *r)
{
	struct ctl_list l = { c, 0 };

	if (c->json)
		printf(",\"timeline\":[");
	else
		printf("        timeline:\n");
	if (qidx_foreach_attempt(c->idx, c->show_id, r->idx,
	    ctl_print_attempt, &l) == -1)
		fprintf(stderr, "estafetactl: cannot read the timeline\n");
	if (c->json)
		printf("]");
	else if (l.n == 0)
		printf("        (no attempt yet)\n");
}

/* Keeps a copy of a throttled destination for queue show. */
static int
ctl_keep_dest(void *arg, const struct qidx_dest *d)
{
	struct ctl *c = arg;
	struct qidx_dest *k;

	c->dest = xrealloc(c->dest, (c->ndest + 1) * sizeof(*c->dest));
	k = &c->dest[c->ndest++];
	*k = *d;
	k->key = xstrdup(d->key);
	k->reason = xstrdup(d->reason);
	return 1;
}

static void
ctl_free_dests(struct ctl *c)
{
	size_t i;

	for (i = 0; i < c->ndest; i++) {
		free((char *)c->dest[i].key);
		free((char *)c->dest[i].reason);
	}
	free(c->dest);
	c->dest = NULL;
	c->ndest = 0;
}

/* The next hop of a domain under the current configuration, for the
 * next-hop filter (qidx_set_hop). */
static void
ctl_hop(void *arg, const char *domain, struct buf *key)
{
	const struct ctl *c = arg;

	route_key_for(&c->cfg, domain, key);
}

/* The next hop of a recipient under the current configuration. */
static void
ctl_dest_key(const struct ctl *c, const char *addr, struct buf *key)
{
	const char *at = strrchr(addr, '@');

	buf_reset(key);
	route_key_for(&c->cfg, at ? at + 1 : "", key);
}

/*
 * Why a queued recipient is still here and when it is tried next, into
 * out; *dest_r is its destination's throttling state, or NULL.
 */
static void
ctl_status(const struct ctl *c, const struct qidx_rcpt *r, const char *key,
    struct buf *out, const struct qidx_dest **dest_r)
{
	char t[32];
	long long now = ctl_now_s(), cfg;
	size_t i;

	buf_reset(out);
	*dest_r = NULL;
	if (r->state != QIDX_PENDING && r->state != QIDX_DEFERRED) {
		(void)buf_appends(out, "final");
		return;
	}
	if (c->held)
		(void)buf_appends(out, "on hold: no delivery until released");
	else if (r->next_try <= now)
		(void)buf_appendf(out, "due now%s", r->attempts ? "" :
		    " (first attempt)");
	else
		(void)buf_appendf(out, "next try %s (in %llds)", ctl_time(
		    r->next_try, t, sizeof(t)), r->next_try - now);
	for (i = 0; i < c->ndest; i++)
		if (strcmp(c->dest[i].key, key) == 0)
			*dest_r = &c->dest[i];
	if (*dest_r == NULL)
		return;
	cfg = c->cfg.deliver_dest_concurrency;
	(void)buf_appendf(out, "; destination %s throttled since %s: "
	    "concurrency %lld/%lld, pause %.1fs", key, ctl_time(
	    (*dest_r)->updated, t, sizeof(t)), (*dest_r)->limit < cfg ?
	    (long long)(*dest_r)->limit : cfg, cfg,
	    (double)(*dest_r)->pace_ms / 1000);
}

static int
ctl_print_rcpt(void *arg, const struct qidx_rcpt *r)
{
	struct ctl *c = arg;
	struct buf key = BUF_INIT(0), st = BUF_INIT(0);
	const struct qidx_dest *d = NULL;
	char t[32];

	if (c->json) {
		printf("%s{\"addr\":%s,\"state\":\"%s\",\"attempts\":%d,",
		    r->idx ? "," : "", ctl_json(&c->tmp, r->addr),
		    qidx_state_name(r->state), r->attempts);
		printf("\"next_try\":\"%s\",\"last_reply\":%s",
		    r->next_try ? ctl_time(r->next_try, t, sizeof(t)) : "",
		    ctl_json(&c->tmp, r->last_reply));
		if (c->show) {
			ctl_dest_key(c, r->addr, &key);
			ctl_status(c, r, buf_cstr(&key), &st, &d);
			printf(",\"destination\":%s", ctl_json(&c->tmp,
			    buf_cstr(&key)));
			printf(",\"throttled\":%s", d ? "true" : "false");
			printf(",\"status\":%s", ctl_json(&c->tmp,
			    buf_cstr(&st)));
			ctl_print_timeline(c, r);
		}
		printf("}");
		buf_free(&key);
		buf_free(&st);
		return 1;
	}
	printf("    %-40s %s", r->addr, qidx_state_name(r->state));
	if (r->attempts)
		printf(" attempts=%d", r->attempts);
	if (r->state == QIDX_DEFERRED && r->next_try)
		printf(" next_try=%s", ctl_time(r->next_try, t, sizeof(t)));
	if (r->last_reply[0])
		printf("\n        last reply: %s", ctl_text(&c->tmp,
		    r->last_reply));
	printf("\n");
	if (c->show) {
		ctl_dest_key(c, r->addr, &key);
		ctl_status(c, r, buf_cstr(&key), &st, &d);
		printf("        status: %s\n", buf_cstr(&st));
		if (d != NULL)
			printf("        throttled by: %s\n", ctl_text(&c->tmp,
			    d->reason));
		ctl_print_timeline(c, r);
	}
	buf_free(&key);
	buf_free(&st);
	return 1;
}

static int
ctl_print_msg(void *arg, const struct qidx_msg *m)
{
	struct ctl_list *l = arg;
	struct ctl *c = l->ctl;
	char t[32];

	c->held = m->hold;
	if (c->json) {
		printf("%s{\"id\":\"%s\",\"arrival\":\"%s\",\"size\":%lld,"
		    "\"held\":%s,\"sender\":%s,\"recipients\":[",
		    l->n++ ? ",\n" : "", m->id, ctl_time(m->arrival, t,
		    sizeof(t)), m->size, m->hold ? "true" : "false",
		    ctl_json(&c->tmp, m->sender));
		(void)qidx_foreach_rcpt(c->idx, m->id, ctl_print_rcpt, c);
		printf("]}");
		return 1;
	}
	l->n++;
	c->held = m->hold;
	printf("%s%s %8lld  %s  <%s>\n", m->id, m->hold ? "!" : " ",
	    m->size, ctl_time(m->arrival, t, sizeof(t)), m->sender);
	(void)qidx_foreach_rcpt(c->idx, m->id, ctl_print_rcpt, c);
	return 1;
}

static int
ctl_queue_list(struct ctl *c, const struct qidx_filter *f)
{
	struct ctl_list l = { c, 0 };

	if (c->json)
		printf("[");
	if (qidx_foreach_match(c->idx, f, ctl_print_msg, &l) == -1) {
		fprintf(stderr, "estafetactl: cannot read the queue index\n");
		return 1;
	}
	if (c->json)
		printf("]\n");
	else
		printf("-- %d message%s%s\n", l.n, l.n == 1 ? "" : "s",
		    c->nfilter ? " matching" : " in the queue");
	return 0;
}

static int
ctl_queue_show(struct ctl *c, const char *id)
{
	struct ctl_list l = { c, 0 };
	struct spool_env *e = NULL;
	const char *errstr = "";
	struct buf p = BUF_INIT(0);
	int dfd, r;

	if (!spool_valid_id(id)) {
		fprintf(stderr, "estafetactl: '%s' is not a queue id\n", id);
		return 1;
	}
	c->show = 1;
	c->show_id = id;
	if (qidx_foreach_dest(c->idx, ctl_keep_dest, c) == -1)
		fprintf(stderr, "estafetactl: cannot read the throttling "
		    "state\n");
	if (qidx_foreach_msg(c->idx, id, ctl_print_msg, &l) == -1 ||
	    l.n == 0) {
		fprintf(stderr, "estafetactl: %s: not in the queue\n", id);
		return 1;
	}
	if (c->json) {
		printf("\n");
		return 0;
	}
	(void)buf_appendf(&p, "%s/queue", c->cfg.spool_dir);
	dfd = open(p.data, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	r = dfd == -1 ? -1 : spool_read(dfd, id, &e, NULL, &errstr);
	if (r == 1) {
		/* helo and envid are the client's text */
		printf("  client %s", e->client ? ctl_text(&c->tmp,
		    e->client) : "-");
		printf(" helo %s\n", e->helo ? ctl_text(&c->tmp, e->helo) :
		    "-");
		if (e->envid)
			printf("  envid %s\n", ctl_text(&c->tmp, e->envid));
		spool_env_free(&e);
	} else
		printf("  spool file: %s\n", r == 0 ? "missing" : errstr);
	if (dfd != -1)
		(void)close(dfd);
	buf_free(&p);
	return 0;
}

/* ------------------------------------------------------------ filters */

/* "90", "90s", "30m", "1h", "2d", "1w" in seconds; -1 if malformed. */
static long long
ctl_duration(const char *s)
{
	static const struct { char unit; long long mul; } units[] = {
		{ 's', 1 }, { 'm', 60 }, { 'h', 3600 }, { 'd', 86400 },
		{ 'w', 7 * 86400 },
	};
	long long v;
	char *e;
	size_t i;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoll(s, &e, 10);
	if (errno || v > 100LL * 365 * 86400)
		return -1;
	if (*e == '\0')
		return v;
	for (i = 0; i < sizeof(units) / sizeof(*units); i++)
		if (e[0] == units[i].unit && e[1] == '\0')
			return v * units[i].mul;
	return -1;
}

/* Lowercases the ASCII domain of an address (or a domain), in place. */
static char *
ctl_lower_domain(char *s)
{
	char *p = strrchr(s, '@');

	for (p = p ? p + 1 : s; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	return s;
}

static const char *const ctl_filter_keys[] = {
	"sender", "rcpt", "domain", "state", "older-than", "reply",
	"next-hop",
};

/* 1 when s is a filter option ("--domain"), whose value follows. */
static int
ctl_filter_key(const char *s)
{
	size_t k;

	if (strncmp(s, "--", 2) != 0)
		return 0;
	for (k = 0; k < sizeof(ctl_filter_keys) / sizeof(*ctl_filter_keys);
	    k++)
		if (strcmp(s + 2, ctl_filter_keys[k]) == 0)
			return 1;
	return 0;
}

static const char *const ctl_states[] = {
	"pending", "deferred", "delivered", "bounced", "held",
};

/*
 * Parses queue filters (and --dry-run when dry_r is given) from
 * argv[0..argc) into f, and encodes them as "\nkey=value" lines into enc
 * for qmgr. A non-option argument is the queue id (*id_r, when given).
 * 1, or -1 after printing "error: ..." on stderr.
 */
static int
ctl_filters(struct ctl *c, int argc, char **argv, struct qidx_filter *f,
    struct buf *enc, int *dry_r, const char **id_r)
{
	const char *const *keys = ctl_filter_keys;
	const size_t nkeys = sizeof(ctl_filter_keys) /
	    sizeof(*ctl_filter_keys);
	const char *opt, *v;
	long long d;
	size_t k;
	int i, j;

	for (i = 0; i < argc; i++) {
		opt = argv[i];
		if (dry_r && strcmp(opt, "--dry-run") == 0) {
			*dry_r = 1;
			continue;
		}
		if (strncmp(opt, "--", 2) != 0) {
			if (id_r == NULL || *id_r != NULL) {
				fprintf(stderr, "error: unexpected argument "
				    "'%s'\n", opt);
				return -1;
			}
			if (!spool_valid_id(opt)) {
				fprintf(stderr, "error: '%s' is not a queue "
				    "id\n", opt);
				return -1;
			}
			*id_r = opt;
			continue;
		}
		for (k = 0; k < nkeys; k++)
			if (strcmp(opt + 2, keys[k]) == 0)
				break;
		if (k == nkeys || i + 1 == argc) {
			fprintf(stderr, "error: %s '%s'\n", k == nkeys ?
			    "unknown option" : "no value for", opt);
			return -1;
		}
		v = argv[++i];
		if (strchr(v, '\n') != NULL || (v[0] == '\0' && k != 0)) {
			fprintf(stderr, "error: bad value for %s\n", opt);
			return -1;
		}
		c->nfilter++;
		switch (k) {
		case 0:
			f->sender = strcmp(v, "<>") == 0 ? "" :
			    ctl_lower_domain(argv[i]);
			break;
		case 1:
			f->rcpt = ctl_lower_domain(argv[i]);
			break;
		case 2:
			f->domain = ctl_lower_domain(argv[i]);
			break;
		case 3:
			for (j = 0; j <= QIDX_HELD; j++)
				if (strcmp(v, ctl_states[j]) == 0)
					f->state = j;
			if (f->state == -1) {
				fprintf(stderr, "error: bad --state '%s': "
				    "pending, deferred, delivered, bounced or "
				    "held\n", v);
				return -1;
			}
			break;
		case 4:
			if ((d = ctl_duration(v)) == -1) {
				fprintf(stderr, "error: bad --older-than '%s' "
				    "(e.g. 90s, 30m, 1h, 2d)\n", v);
				return -1;
			}
			f->before = ctl_now_s() - d;
			(void)buf_appendf(enc, "\nolder-than=%lld", d);
			continue;
		case 5:
			f->reply = v;
			break;
		default:
			f->hop = v;
			break;
		}
		(void)buf_appendf(enc, "\n%s=%s", keys[k], k == 0 &&
		    v[0] == '\0' ? "<>" : v);
	}
	return 1;
}

static int
ctl_queue_action(struct ctl *c, int argc, char **argv)
{
	struct qidx_filter f = QIDX_FILTER_INIT;
	struct buf enc = BUF_INIT(0), cmd = BUF_INIT(0);
	const char *id = NULL;
	int dry = 0, rc = 1, i, j, notice = 1;

	/* bounce --no-notice: no DSN to the sender, unless it is a
	 * filter's value (--reply --no-notice; argv[i - 1] is unchanged:
	 * the copy never writes past the index it read). */
	for (i = j = 2; i < argc; i++)
		if (strcmp(argv[1], "bounce") == 0 &&
		    strcmp(argv[i], "--no-notice") == 0 &&
		    !(i > 2 && ctl_filter_key(argv[i - 1])))
			notice = 0;
		else
			argv[j++] = argv[i];
	argc = j;
	if (ctl_filters(c, argc - 2, argv + 2, &f, &enc, &dry, &id) == -1)
		goto out;
	if ((id != NULL) == (c->nfilter > 0)) {
		fprintf(stderr, "error: queue %s takes a queue ID or at least "
		    "one filter\n", argv[1]);
		goto out;
	}
	(void)buf_appendf(&cmd, "%s%s%s%s%s%s", argv[1], id ? " " : "",
	    id ? id : "", buf_cstr(&enc), dry ? "\ndry-run=1" : "",
	    notice ? "" : "\nnotice=0");
	rc = ctl_qmgr(c, buf_cstr(&cmd));
out:
	buf_free(&enc);
	buf_free(&cmd);
	return rc;
}

/* ------------------------------------------------------------ summary */

static const char *const ctl_ages[QIDX_AGE_BUCKETS] = {
	"< 5m", "< 10m", "< 20m", "< 40m", "< 80m", "< 160m", "< 320m",
	"< 640m", "older",
};

struct ctl_shape {
	struct ctl	*ctl;
	int		 n;
};

/* One throttled destination (qmgr's adaptive throttling state). */
static int
ctl_print_dest(void *arg, const struct qidx_dest *d)
{
	struct ctl_shape *sh = arg;
	struct ctl *c = sh->ctl;
	long long cfg = c->cfg.deliver_dest_concurrency;
	int lim = d->limit < cfg ? d->limit : (int)cfg;
	char t[32];

	if (c->json) {
		printf("%s{\"destination\":%s,", sh->n++ ? "," : "",
		    ctl_json(&c->tmp, d->key));
		printf("\"concurrency\":%d,\"configured\":%lld,"
		    "\"delay_ms\":%lld,\"since\":\"%s\",", lim, cfg,
		    d->pace_ms, ctl_time(d->updated, t, sizeof(t)));
		printf("\"reason\":%s}", ctl_json(&c->tmp, d->reason));
		return 1;
	}
	if (sh->n++ == 0)
		printf("\n%-40s %11s %8s  %-20s  %s\n", "throttled destination",
		    "concurrency", "delay", "changed", "reason");
	printf("%-40s %5d/%-5lld %7.1fs  %-20s  %s\n", d->key, lim, cfg,
	    (double)d->pace_ms / 1000, ctl_time(d->updated, t, sizeof(t)),
	    ctl_text(&c->tmp, d->reason));
	return 1;
}

/* Queued (pending or deferred) recipients by domain and by age, and
 * the throttled destinations. */
static int
ctl_queue_summary(struct ctl *c)
{
	struct qidx_shape qs;
	struct ctl_shape sh = { c, 0 };
	long long tm = 0, tr = 0;
	size_t i;

	if (qidx_shape(c->idx, ctl_now_s(), &qs) == -1)
		goto fail;
	for (i = 0; i < QIDX_AGE_BUCKETS; i++) {
		tm += qs.age_msg[i];
		tr += qs.age_rcpt[i];
	}
	if (c->json)
		printf("{\"messages\":%lld,\"recipients\":%lld,\"domains\":[",
		    tm, tr);
	else
		printf("%-40s %10s %10s\n", "domain", "messages",
		    "recipients");
	for (i = 0; i < qs.ndom; i++) {
		if (c->json) {
			printf("%s{\"domain\":%s,", i ? "," : "",
			    ctl_json(&c->tmp, qs.dom[i].domain));
			printf("\"messages\":%lld,\"recipients\":%lld}",
			    qs.dom[i].nmsg, qs.dom[i].nrcpt);
		} else
			printf("%-40s %10lld %10lld\n", qs.dom[i].domain,
			    qs.dom[i].nmsg, qs.dom[i].nrcpt);
	}
	if (c->json)
		printf("],\"ages\":[");
	else
		printf("%-40s %10lld %10lld\n\n%-40s %10s %10s\n", "total", tm,
		    tr, "age", "messages", "recipients");
	for (i = 0; i < QIDX_AGE_BUCKETS; i++) {
		if (c->json)
			printf("%s{\"age\":\"%s\",\"messages\":%lld,"
			    "\"recipients\":%lld}", i ? "," : "", ctl_ages[i],
			    qs.age_msg[i], qs.age_rcpt[i]);
		else
			printf("%-40s %10lld %10lld\n", ctl_ages[i],
			    qs.age_msg[i], qs.age_rcpt[i]);
	}
	qidx_shape_free(&qs);
	if (c->json)
		printf("],\"throttled\":[");
	if (qidx_foreach_dest(c->idx, ctl_print_dest, &sh) == -1)
		goto fail;
	if (c->json)
		printf("]}\n");
	return 0;
fail:
	fprintf(stderr, "estafetactl: cannot read the queue index\n");
	return 1;
}

/* ------------------------------------------------------------ users */

#define CTL_STR2(x)	#x
#define CTL_STR(x)	CTL_STR2(x)
#define CTL_PW_SIZE	(USERS_PASSWD_MAX + 2)	/* one more + NUL */

static struct termios ctl_tty;		/* the terminal as we found it */
static volatile sig_atomic_t ctl_tty_saved;
static const int ctl_tty_signals[] = { SIGHUP, SIGINT, SIGQUIT, SIGTERM };

/* A signal while echo is off: put the terminal back, then die of it. */
static void
ctl_tty_signal(int sig)
{
	if (ctl_tty_saved)
		(void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &ctl_tty);
	(void)signal(sig, SIG_DFL);
	(void)raise(sig);
}

static void
ctl_tty_handlers(void (*fn)(int))
{
	struct sigaction sa;
	size_t i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = fn;
	(void)sigemptyset(&sa.sa_mask);
	for (i = 0; i < sizeof(ctl_tty_signals) / sizeof(*ctl_tty_signals);
	    i++)
		(void)sigaction(ctl_tty_signals[i], &sa, NULL); /* valid
								 * signals */
}

/*
 * Reads one line from fd into pw[CTL_PW_SIZE], byte by byte so that no
 * copy stays behind in a stdio buffer; drops the newline. 1 with *len_r,
 * or -1 with *err_r.
 */
static int
ctl_read_line(int fd, char *pw, size_t *len_r, const char **err_r)
{
	size_t n = 0;
	ssize_t r;
	int got = 0, over = 0;
	char ch;

	for (;;) {
		if ((r = read(fd, &ch, 1)) == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			*err_r = strerror(errno);
			return -1;
		}
		if (r == 0)
			break;
		got = 1;
		if (ch == '\n')
			break;
		if (n < CTL_PW_SIZE - 1)
			pw[n++] = ch;
		else
			over = 1;
	}
	ch = '\0';
	pw[n] = '\0';
	if (!got)
		*err_r = "no password: end of input";
	else if (over || n > USERS_PASSWD_MAX)
		*err_r = "password too long (at most "
		    CTL_STR(USERS_PASSWD_MAX) " octets)";
	else if (n == 0)
		*err_r = "empty password";
	else {
		*len_r = n;
		return 1;
	}
	return -1;
}

/* Asks twice on the terminal, with echo off. */
static int
ctl_read_tty(const char *address, char *pw, size_t *len_r,
    const char **err_r)
{
	char again[CTL_PW_SIZE];
	struct termios t;
	size_t len2 = 0;
	int r;

	if (tcgetattr(STDIN_FILENO, &ctl_tty) == -1) {
		*err_r = strerror(errno);
		return -1;
	}
	ctl_tty_saved = 1;
	ctl_tty_handlers(ctl_tty_signal);
	t = ctl_tty;
	t.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK);
	t.c_lflag |= ECHONL;
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &t) == -1) {
		*err_r = strerror(errno);
		r = -1;
		goto out;
	}
	fprintf(stderr, "New password for %s: ", address);
	(void)fflush(stderr);	/* a prompt; nothing to do if it fails */
	if ((r = ctl_read_line(STDIN_FILENO, pw, len_r, err_r)) == 1) {
		fprintf(stderr, "Retype new password: ");
		(void)fflush(stderr);	/* as above */
		r = ctl_read_line(STDIN_FILENO, again, &len2, err_r);
		if (r == 1 && (len2 != *len_r || memcmp(pw, again, len2))) {
			*err_r = "passwords do not match";
			r = -1;
		}
	}
out:
	(void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &ctl_tty); /* best effort */
	ctl_tty_saved = 0;
	ctl_tty_handlers(SIG_DFL);
	xbzero(again, sizeof(again));
	return r;
}

/* The new password for address into pw[CTL_PW_SIZE]; 1, or -1 (said). */
static int
ctl_password(const char *address, char *pw, size_t *len_r)
{
	const char *err = NULL;
	int r;

	if (isatty(STDIN_FILENO))
		r = ctl_read_tty(address, pw, len_r, &err);
	else
		r = ctl_read_line(STDIN_FILENO, pw, len_r, &err);
	if (r == -1) {
		xbzero(pw, CTL_PW_SIZE);
		fprintf(stderr, "estafetactl: %s\n", err);
	}
	return r;
}

/*
 * Creates the database file (mode 0600) if it does not exist. Run as root,
 * it hands the new file to run_user, so that estafetad's workers, which run
 * as that user, can read it (SQLite gives its -wal and -shm files the same
 * owner).
 */
static int
ctl_users_create(struct ctl *c, const char *path)
{
	struct passwd *pw;
	int fd;

	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0600);
	if (fd == -1 && errno == EEXIST)
		return 1;
	if (fd == -1) {
		fprintf(stderr, "estafetactl: cannot create the users database "
		    "%s: %s%s\n", path, strerror(errno), errno == ENOENT ?
		    " (create its directory first: estafetad makes spool_dir "
		    "when it starts)" : "");
		return -1;
	}
	if (geteuid() == 0) {
		if ((pw = getpwnam(c->cfg.run_user)) == NULL || pw->pw_uid == 0)
			fprintf(stderr, "estafetactl: warning: run_user '%s' "
			    "does not exist: %s stays owned by root and "
			    "estafetad's workers cannot read it\n",
			    c->cfg.run_user, path);
		else if (fchown(fd, pw->pw_uid, pw->pw_gid) == -1) {
			fprintf(stderr, "estafetactl: cannot chown %s: %s\n",
			    path, strerror(errno));
			(void)close(fd);	/* failing anyway */
			(void)unlink(path);	/* ours, and empty */
			return -1;
		}
	}
	if (close(fd) == -1) {
		fprintf(stderr, "estafetactl: %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 1;
}

static int
ctl_users_open(struct ctl *c, int writable)
{
	const char *path = c->cfg.users_db, *errstr;
	struct stat sb;

	if (writable && ctl_users_create(c, path) == -1)
		return -1;
	if (!writable && lstat(path, &sb) == -1 && errno == ENOENT) {
		fprintf(stderr, "estafetactl: no users database at %s yet "
		    "(`estafetactl user add` creates it)\n", path);
		return -1;
	}
	if (users_open(path, writable, &c->users, &errstr) == -1) {
		fprintf(stderr, "estafetactl: cannot open the users database "
		    "%s: %s\n", path, errstr);
		return -1;
	}
	return 1;
}

/* Checks the syntax of an address argument; 1 or -1 (said). */
static int
ctl_address(const char *s, const char *what)
{
	struct addr *a = NULL;
	const char *err;

	if (addr_parse_mailbox(s, strlen(s), ADDR_ALLOW_UTF8, &a, &err) ==
	    -1) {
		fprintf(stderr, "estafetactl: invalid %s '%s': %s\n", what, s,
		    err);
		return -1;
	}
	addr_free(&a);
	return 1;
}

struct ctl_find {
	const char	*want;		/* canonical form */
	int		 found;
};

static int
ctl_find_user(void *arg, const char *address, int enabled)
{
	struct ctl_find *f = arg;

	(void)enabled;
	if (strcasecmp(f->want, address) == 0)
		f->found = 1;
	return f->found ? -1 : 1;
}

static int
ctl_find_alias(void *arg, const char *alias, const char *target)
{
	(void)target;
	return ctl_find_user(arg, alias, 1);
}

/*
 * 1 when address (valid) is a user or, with aliases, an alias; 0 not;
 * -1 error (said). The database folds ASCII case the same way.
 */
static int
ctl_exists(struct ctl *c, const char *address, int aliases)
{
	struct ctl_find f = { NULL, 0 };
	struct addr *a = NULL;
	const char *err;
	int r = -1;

	buf_reset(&c->tmp);
	if (addr_parse_mailbox(address, strlen(address), ADDR_ALLOW_UTF8, &a,
	    &err) == -1 || addr_format(a, &c->tmp) == -1) {
		fprintf(stderr, "estafetactl: invalid address '%s'\n", address);
		goto out;
	}
	f.want = buf_cstr(&c->tmp);
	if (users_foreach(c->users, ctl_find_user, &f) == -1 ||
	    (aliases && !f.found &&
	    users_alias_foreach(c->users, ctl_find_alias, &f) == -1)) {
		fprintf(stderr, "estafetactl: cannot read the users "
		    "database\n");
		goto out;
	}
	r = f.found;
out:
	addr_free(&a);
	return r;
}

/* Reports a result of the users API as an exit code. */
static int
ctl_done(int r, const char *what, const char *arg, const char *errstr,
    const char *ok)
{
	if (r == 1) {
		printf("%s\n", ok);
		return 0;
	}
	fprintf(stderr, "estafetactl: %s %s: %s\n", what, arg,
	    errstr ? errstr : "failed");
	return 1;
}

static int
ctl_user_add(struct ctl *c, char **args)
{
	char pw[CTL_PW_SIZE];
	const char *errstr = NULL;
	size_t len = 0;
	int r;

	if (ctl_address(args[0], "address") == -1)
		return 1;
	if ((r = ctl_exists(c, args[0], 1)) != 0) {
		if (r == 1)
			fprintf(stderr, "estafetactl: user add %s: the address "
			    "is already a user or an alias\n", args[0]);
		return 1;
	}
	if (ctl_password(args[0], pw, &len) == -1)
		return 1;
	r = users_add(c->users, args[0], pw, len, &errstr);
	xbzero(pw, sizeof(pw));
	buf_reset(&c->tmp);
	(void)buf_appendf(&c->tmp, "user %s added", args[0]);
	return ctl_done(r, "user add", args[0], errstr, c->tmp.data);
}

static int
ctl_user_passwd(struct ctl *c, char **args)
{
	char pw[CTL_PW_SIZE];
	const char *errstr = NULL;
	size_t len = 0;
	int r;

	if (ctl_address(args[0], "address") == -1)
		return 1;
	if ((r = ctl_exists(c, args[0], 0)) != 1) {
		if (r == 0)
			fprintf(stderr, "estafetactl: user passwd %s: no such "
			    "user\n", args[0]);
		return 1;
	}
	if (ctl_password(args[0], pw, &len) == -1)
		return 1;
	r = users_passwd(c->users, args[0], pw, len, &errstr);
	xbzero(pw, sizeof(pw));
	buf_reset(&c->tmp);
	(void)buf_appendf(&c->tmp, "password of %s changed", args[0]);
	return ctl_done(r, "user passwd", args[0], errstr, c->tmp.data);
}

static int
ctl_user_del(struct ctl *c, char **args)
{
	const char *errstr = NULL;
	int r = users_del(c->users, args[0], &errstr);

	buf_reset(&c->tmp);
	(void)buf_appendf(&c->tmp, "user %s deleted", args[0]);
	return ctl_done(r, "user del", args[0], errstr, c->tmp.data);
}

static int
ctl_user_able(struct ctl *c, char **args, int enabled)
{
	const char *errstr = NULL;
	int r = users_set_enabled(c->users, args[0], enabled, &errstr);

	buf_reset(&c->tmp);
	(void)buf_appendf(&c->tmp, "user %s %s", args[0], enabled ?
	    "enabled" : "disabled");
	return ctl_done(r, enabled ? "user enable" : "user disable", args[0],
	    errstr, c->tmp.data);
}

static int
ctl_user_enable(struct ctl *c, char **args)
{
	return ctl_user_able(c, args, 1);
}

static int
ctl_user_disable(struct ctl *c, char **args)
{
	return ctl_user_able(c, args, 0);
}

/* The store's quota for one user (buzond's LMTP refuses mail over it). */
static int
ctl_user_quota(struct ctl *c, char **args)
{
	const char *errstr = NULL;
	struct cfg_def def[2];
	struct { long long v; } q;
	struct buf err = BUF_INIT(0);
	int r;

	/* The size syntax of the configuration (100M, 2G, 0). */
	memset(def, 0, sizeof(def));
	def[0].name = "quota";
	def[0].type = CFG_SIZE;
	def[0].def = "0";
	def[0].max = INT64_MAX;
	if (cfg_defaults(def, &q, &err) == -1 ||
	    cfg_set(def, &q, "quota", args[1], &err) == -1) {
		fprintf(stderr, "estafetactl: user quota: %s", buf_cstr(&err));
		buf_free(&err);
		return 1;
	}
	buf_free(&err);
	r = users_set_quota(c->users, args[0], (unsigned long long)q.v,
	    &errstr);
	buf_reset(&c->tmp);
	(void)buf_appendf(&c->tmp, "user %s quota %lld", args[0], q.v);
	return ctl_done(r, "user quota", args[0], errstr, c->tmp.data);
}

static int
ctl_alias_add(struct ctl *c, char **args)
{
	const char *errstr = NULL;
	int r;

	if (ctl_address(args[0], "alias") == -1 ||
	    ctl_address(args[1], "target") == -1)
		return 1;
	r = users_alias_add(c->users, args[0], args[1], &errstr);
	buf_reset(&c->tmp);
	(void)buf_appendf(&c->tmp, "alias %s -> %s added", args[0], args[1]);
	return ctl_done(r, "alias add", args[0], errstr, c->tmp.data);
}

static int
ctl_alias_del(struct ctl *c, char **args)
{
	const char *errstr = NULL;
	int r = users_alias_del(c->users, args[0], &errstr);

	buf_reset(&c->tmp);
	(void)buf_appendf(&c->tmp, "alias %s deleted", args[0]);
	return ctl_done(r, "alias del", args[0], errstr, c->tmp.data);
}

static int
ctl_sender_add(struct ctl *c, char **args)
{
	const char *errstr = NULL;
	int r = users_sender_add(c->users, args[0], args[1], &errstr);

	buf_reset(&c->tmp);
	(void)buf_appendf(&c->tmp, "%s may now send as %s", args[0],
	    args[1]);
	return ctl_done(r, "sender add", args[0], errstr, c->tmp.data);
}

static int
ctl_sender_del(struct ctl *c, char **args)
{
	const char *errstr = NULL;
	int r = users_sender_del(c->users, args[0], args[1], &errstr);

	buf_reset(&c->tmp);
	(void)buf_appendf(&c->tmp, "%s may no longer send as %s", args[0],
	    args[1]);
	return ctl_done(r, "sender del", args[0], errstr, c->tmp.data);
}

struct ctl_ulist {
	struct ctl	*ctl;
	int		 n;
	const char	*k1, *k2;	/* JSON keys */
};

static int
ctl_print_user(void *arg, const char *address, int enabled)
{
	struct ctl_ulist *l = arg;

	if (l->ctl->json) {
		printf("%s{\"address\":%s,", l->n ? ",\n" : "",
		    ctl_json(&l->ctl->tmp, address));
		printf("\"enabled\":%s}", enabled ? "true" : "false");
	} else
		printf("%-40s %s\n", address, enabled ? "enabled" :
		    "disabled");
	l->n++;
	return 1;
}

static int
ctl_print_pair(void *arg, const char *a, const char *b)
{
	struct ctl_ulist *l = arg;

	if (l->ctl->json) {
		printf("%s{\"%s\":%s,", l->n ? ",\n" : "", l->k1,
		    ctl_json(&l->ctl->tmp, a));
		printf("\"%s\":%s}", l->k2, ctl_json(&l->ctl->tmp, b));
	} else
		printf("%-40s %s\n", a, b);
	l->n++;
	return 1;
}

static int
ctl_list_end(struct ctl_ulist *l, int r, const char *what)
{
	if (r == -1) {
		fprintf(stderr, "\nestafetactl: cannot read the users "
		    "database\n");
		return 1;
	}
	if (l->ctl->json)
		printf("]\n");
	else
		printf("-- %d %s%s\n", l->n, what, l->n == 1 ? "" :
		    what[strlen(what) - 1] == 's' ? "es" : "s");
	return 0;
}

static int
ctl_user_list(struct ctl *c, char **args)
{
	struct ctl_ulist l = { c, 0, NULL, NULL };

	(void)args;
	if (c->json)
		printf("[");
	return ctl_list_end(&l, users_foreach(c->users, ctl_print_user, &l),
	    "user");
}

static int
ctl_alias_list(struct ctl *c, char **args)
{
	struct ctl_ulist l = { c, 0, "alias", "target" };

	(void)args;
	if (c->json)
		printf("[");
	return ctl_list_end(&l, users_alias_foreach(c->users, ctl_print_pair,
	    &l), "alias");
}

static int
ctl_sender_list(struct ctl *c, char **args)
{
	struct ctl_ulist l = { c, 0, "login", "pattern" };

	(void)args;
	if (c->json)
		printf("[");
	return ctl_list_end(&l, users_sender_foreach(c->users,
	    ctl_print_pair, &l), "sender");
}

#define UCMD_WRITE	0x01	/* opens the database writable */
#define UCMD_LIST	0x02	/* takes --json */

static const struct ctl_ucmd {
	const char	*noun;
	const char	*verb;
	int		 nargs;
	int		 flags;
	int		(*fn)(struct ctl *, char **);
} ctl_ucmds[] = {
	{ "user", "add", 1, UCMD_WRITE, ctl_user_add },
	{ "user", "passwd", 1, UCMD_WRITE, ctl_user_passwd },
	{ "user", "del", 1, UCMD_WRITE, ctl_user_del },
	{ "user", "disable", 1, UCMD_WRITE, ctl_user_disable },
	{ "user", "enable", 1, UCMD_WRITE, ctl_user_enable },
	{ "user", "list", 0, UCMD_LIST, ctl_user_list },
	{ "user", "quota", 2, UCMD_WRITE, ctl_user_quota },
	{ "alias", "add", 2, UCMD_WRITE, ctl_alias_add },
	{ "alias", "del", 1, UCMD_WRITE, ctl_alias_del },
	{ "alias", "list", 0, UCMD_LIST, ctl_alias_list },
	{ "sender", "add", 2, UCMD_WRITE, ctl_sender_add },
	{ "sender", "del", 2, UCMD_WRITE, ctl_sender_del },
	{ "sender", "list", 0, UCMD_LIST, ctl_sender_list },
};

/* The users command for noun verb with nargs arguments, or NULL. */
static const struct ctl_ucmd *
ctl_users_find(const char *noun, const char *verb, int nargs, int json)
{
	size_t i;

	for (i = 0; i < sizeof(ctl_ucmds) / sizeof(*ctl_ucmds); i++)
		if (strcmp(ctl_ucmds[i].noun, noun) == 0 &&
		    strcmp(ctl_ucmds[i].verb, verb) == 0 &&
		    ctl_ucmds[i].nargs == nargs &&
		    (!json || (ctl_ucmds[i].flags & UCMD_LIST)))
			return &ctl_ucmds[i];
	return NULL;
}

static int
ctl_users(struct ctl *c, int argc, char **argv)
{
	const struct ctl_ucmd *u;
	int rc;

	if ((u = ctl_users_find(argv[0], argv[1], argc - 2, c->json)) ==
	    NULL)
		usage();
	if (ctl_users_open(c, u->flags & UCMD_WRITE) == -1)
		return 1;
	rc = u->fn(c, argv + 2);
	users_close(&c->users);
	if (fflush(stdout) == EOF) {
		fprintf(stderr, "estafetactl: stdout: %s\n", strerror(errno));
		rc = 1;
	}
	return rc;
}

/* Commands that change the queue go to qmgr, its only writer. */
static int
ctl_qmgr(struct ctl *c, const char *cmd)
{
	struct buf p = BUF_INIT(0), reply = BUF_INIT(0);
	enum ipc_type type;
	int fd, rc = 1;

	(void)buf_appendf(&p, "%s/qmgr.sock", c->cfg.spool_dir);
	if ((fd = ipc_connect(p.data)) == -1) {
		fprintf(stderr, "estafetactl: cannot reach qmgr at %s: %s (is "
		    "estafetad running?)\n", p.data, strerror(errno));
		goto out;
	}
	if (ipc_send(fd, IPC_CTL, cmd, strlen(cmd)) == -1 ||
	    ipc_recv(fd, 30000, &type, &reply) != 1 ||
	    type != IPC_CTL_REPLY) {
		fprintf(stderr, "estafetactl: no answer from qmgr\n");
		(void)close(fd);
		goto out;
	}
	(void)close(fd);	/* done */
	rc = strncmp(buf_cstr(&reply), "ok", 2) == 0 ? 0 : 1;
	/* A refusal ("error: ...") on stderr, like our own. */
	fprintf(rc ? stderr : stdout, "%s\n", buf_cstr(&reply));
out:
	buf_free(&p);
	buf_free(&reply);
	return rc;
}

/*
 * Before reading the index: qmgr commits its index writes in batches (up
 * to 20 ms); asking it to commit now makes list/show/summary see every
 * change it has logged. Silent when qmgr is not running (or not ours to
 * reach): the index is then as current as it gets.
 */
static void
ctl_qmgr_commit(struct ctl *c)
{
	struct buf p = BUF_INIT(0), reply = BUF_INIT(0);
	enum ipc_type type;
	int fd;

	(void)buf_appendf(&p, "%s/qmgr.sock", c->cfg.spool_dir);
	if ((fd = ipc_connect(p.data)) != -1) {
		if (ipc_send(fd, IPC_CTL, "commit", 6) == 1)
			(void)ipc_recv(fd, 5000, &type, &reply);
		(void)close(fd);	/* done */
	}
	buf_free(&p);
	buf_free(&reply);
}

/*
 * The queue index and its WAL index (-shm), which SQLite maps and trusts,
 * belong to run_user, like everything in the spool. Root reads them as
 * run_user, so a compromised estafetad process that planted data there
 * never has it parsed with root's rights. Permanent: groups, gid, uid.
 * 1, or -1 (said).
 */
static int
ctl_become_run_user(struct ctl *c)
{
	struct passwd *pw;

	if (geteuid() != 0)
		return 1;
	if ((pw = getpwnam(c->cfg.run_user)) == NULL || pw->pw_uid == 0) {
		fprintf(stderr, "estafetactl: run_user '%s' %s: the queue "
		    "index is read only as run_user, never as root\n",
		    c->cfg.run_user, pw == NULL ? "does not exist" : "is root");
		return -1;
	}
	if (setgroups(0, NULL) == -1 || setgid(pw->pw_gid) == -1 ||
	    setuid(pw->pw_uid) == -1) {
		fprintf(stderr, "estafetactl: cannot become run_user '%s': "
		    "%s\n", c->cfg.run_user, strerror(errno));
		return -1;
	}
	if (setuid(0) != -1) {	/* must be gone for good */
		fprintf(stderr, "estafetactl: could regain root after "
		    "becoming run_user '%s'\n", c->cfg.run_user);
		return -1;
	}
	return 1;
}

static int
ctl_queue(struct ctl *c, int argc, char **argv)
{
	struct qidx_filter f = QIDX_FILTER_INIT;
	struct buf p = BUF_INIT(0);
	const char *errstr;
	int rc;

	if (strcmp(argv[1], "flush") == 0 && (argc == 2 || (argc == 3 &&
	    strncmp(argv[2], "--", 2) != 0))) {
		(void)buf_appendf(&p, "flush%s%s", argc == 3 ? " " : "",
		    argc == 3 ? argv[2] : "");
		rc = ctl_qmgr(c, p.data);
		buf_free(&p);
		return rc;
	}
	if (strcmp(argv[1], "hold") == 0 || strcmp(argv[1], "release") == 0 ||
	    strcmp(argv[1], "delete") == 0 || strcmp(argv[1], "bounce") == 0 ||
	    strcmp(argv[1], "requeue") == 0 || strcmp(argv[1], "flush") == 0)
		return ctl_queue_action(c, argc, argv);
	if (!(strcmp(argv[1], "list") == 0 ||
	    (strcmp(argv[1], "summary") == 0 && argc == 2) ||
	    (strcmp(argv[1], "show") == 0 && argc == 3)))
		usage();
	if (strcmp(argv[1], "list") == 0 &&
	    ctl_filters(c, argc - 2, argv + 2, &f, &p, NULL, NULL) == -1) {
		buf_free(&p);
		return 1;
	}
	buf_reset(&p);
	if (ctl_become_run_user(c) == -1) {
		buf_free(&p);
		return 1;
	}
	ctl_qmgr_commit(c);
	(void)buf_appendf(&p, "%s/index.db", c->cfg.spool_dir);
	if (qidx_open(p.data, 1, &c->idx, &errstr) == -1) {
		fprintf(stderr, "estafetactl: cannot open the queue index %s: "
		    "%s\n", p.data, errstr);
		buf_free(&p);
		return 1;
	}
	buf_free(&p);
	if (f.hop != NULL && qidx_set_hop(c->idx, ctl_hop, c) == -1) {
		fprintf(stderr, "estafetactl: cannot add the next-hop filter\n");
		qidx_close(&c->idx);
		return 1;
	}
	if (strcmp(argv[1], "list") == 0)
		rc = ctl_queue_list(c, &f);
	else if (strcmp(argv[1], "summary") == 0)
		rc = ctl_queue_summary(c);
	else
		rc = ctl_queue_show(c, argv[2]);
	ctl_free_dests(c);
	qidx_close(&c->idx);
	return rc;
}

int
main(int argc, char *argv[])
{
	struct ctl c;
	struct buf err = BUF_INIT(0);
	const char *cfg_path = SYSCONFDIR "/estafeta/estafetad.conf";
	int ch, rc, i, j;

	memset(&c, 0, sizeof(c));
	log_init("estafetactl", LOG_TARGET_STDERR, LOG_LEVEL_WARN);
	while ((ch = getopt(argc, argv, "+c:h")) != -1) {
		if (ch == 'c')
			cfg_path = optarg;
		else
			usage();
	}
	argc -= optind;
	argv += optind;
	for (i = j = 0; i < argc; i++) {
		/* Not when it is a filter's value ("--reply --json"). */
		if (strcmp(argv[i], "--json") == 0 && !(j > 1 &&
		    strcmp(argv[0], "queue") == 0 && ctl_filter_key(argv[j -
		    1])))
			c.json = 1;
		else
			argv[j++] = argv[i];
	}
	argc = j;
	if (argc < 2 || (strcmp(argv[0], "queue") != 0 &&
	    ctl_users_find(argv[0], argv[1], argc - 2, c.json) == NULL))
		usage();
	if (relay_cfg_load(&c.cfg, cfg_path, NULL, &err) == -1) {
		fprintf(stderr, "estafetactl: configuration errors:\n%s",
		    buf_cstr(&err));
		return 1;
	}
	if (strcmp(argv[0], "queue") == 0)
		rc = ctl_queue(&c, argc, argv);
	else
		rc = ctl_users(&c, argc, argv);
	relay_cfg_free(&c.cfg);
	buf_free(&c.tmp);
	buf_free(&err);
	return rc;
}
