/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * estafetactl: the operator's command. Today: `queue list` and `queue show
 * ID`, reading the queue index read-only (and the spool file for `show`).
 * It never writes the index: that is qmgr's job.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "relay/qidx.h"
#include "relay/relay_cfg.h"
#include "relay/spool.h"

struct ctl {
	struct relay_cfg	 cfg;
	struct qidx		*idx;
	int			 json;
	struct buf		 tmp;
};

static void
usage(void)
{
	fprintf(stderr,
	    "usage: estafetactl [-c file] queue list [--json]\n"
	    "       estafetactl [-c file] queue show [--json] ID\n");
	exit(2);
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

/* JSON string escaping (RFC 8259) into b. */
static const char *
ctl_json(struct buf *b, const char *s)
{
	buf_reset(b);
	(void)buf_appendc(b, '"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			(void)buf_appendf(b, "\\%c", c);
		else if (c < 0x20)
			(void)buf_appendf(b, "\\u%04x", c);
		else
			(void)buf_appendc(b, (char)c);
	}
	(void)buf_appendc(b, '"');
	return buf_cstr(b);
}

struct ctl_list {
	struct ctl	*ctl;
	int		 n;
};

static int
ctl_print_rcpt(void *arg, const struct qidx_rcpt *r)
{
	struct ctl *c = arg;

	if (c->json) {
		printf("%s{\"addr\":%s,\"state\":\"%s\",\"attempts\":%d}",
		    r->idx ? "," : "", ctl_json(&c->tmp, r->addr),
		    qidx_state_name(r->state), r->attempts);
		return 1;
	}
	printf("    %-40s %s", r->addr, qidx_state_name(r->state));
	if (r->attempts)
		printf(" attempts=%d", r->attempts);
	if (r->last_reply[0])
		printf(" last=\"%s\"", r->last_reply);
	printf("\n");
	return 1;
}

static int
ctl_print_msg(void *arg, const struct qidx_msg *m)
{
	struct ctl_list *l = arg;
	struct ctl *c = l->ctl;
	char t[32];

	if (c->json) {
		printf("%s{\"id\":\"%s\",\"arrival\":\"%s\",\"size\":%lld,"
		    "\"sender\":%s,\"recipients\":[", l->n++ ? ",\n" : "",
		    m->id, ctl_time(m->arrival, t, sizeof(t)), m->size,
		    ctl_json(&c->tmp, m->sender));
		(void)qidx_foreach_rcpt(c->idx, m->id, ctl_print_rcpt, c);
		printf("]}");
		return 1;
	}
	l->n++;
	printf("%s  %8lld  %s  <%s>\n", m->id, m->size,
	    ctl_time(m->arrival, t, sizeof(t)), m->sender);
	(void)qidx_foreach_rcpt(c->idx, m->id, ctl_print_rcpt, c);
	return 1;
}

static int
ctl_queue_list(struct ctl *c)
{
	struct ctl_list l = { c, 0 };

	if (c->json)
		printf("[");
	if (qidx_foreach_msg(c->idx, NULL, ctl_print_msg, &l) == -1) {
		fprintf(stderr, "estafetactl: cannot read the queue index\n");
		return 1;
	}
	if (c->json)
		printf("]\n");
	else
		printf("-- %d message%s in the queue\n", l.n,
		    l.n == 1 ? "" : "s");
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
		printf("  client %s helo %s\n", e->client ? e->client : "-",
		    e->helo ? e->helo : "-");
		if (e->envid)
			printf("  envid %s\n", e->envid);
		spool_env_free(&e);
	} else
		printf("  spool file: %s\n", r == 0 ? "missing" : errstr);
	if (dfd != -1)
		(void)close(dfd);
	buf_free(&p);
	return 0;
}

int
main(int argc, char *argv[])
{
	struct ctl c;
	struct buf err = BUF_INIT(0);
	const char *cfg_path = SYSCONFDIR "/estafeta/estafetad.conf";
	const char *errstr;
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
		if (strcmp(argv[i], "--json") == 0)
			c.json = 1;
		else
			argv[j++] = argv[i];
	}
	argc = j;
	if (argc < 2 || strcmp(argv[0], "queue") != 0)
		usage();
	if (relay_cfg_load(&c.cfg, cfg_path, NULL, &err) == -1) {
		fprintf(stderr, "estafetactl: configuration errors:\n%s",
		    buf_cstr(&err));
		return 1;
	}
	buf_reset(&err);
	(void)buf_appendf(&err, "%s/index.db", c.cfg.spool_dir);
	if (qidx_open(err.data, 1, &c.idx, &errstr) == -1) {
		fprintf(stderr, "estafetactl: cannot open the queue index %s: "
		    "%s\n", err.data, errstr);
		return 1;
	}
	if (strcmp(argv[1], "list") == 0 && argc == 2)
		rc = ctl_queue_list(&c);
	else if (strcmp(argv[1], "show") == 0 && argc == 3)
		rc = ctl_queue_show(&c, argv[2]);
	else
		usage();
	qidx_close(&c.idx);
	relay_cfg_free(&c.cfg);
	buf_free(&c.tmp);
	buf_free(&err);
	return rc;
}
