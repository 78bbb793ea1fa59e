/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * qidxfill: fills a queue index with synthetic messages through the index
 * code itself (qidx_add, qidx_rcpt_update, qidx_attempt_add, qidx_hold),
 * for tests/bench/queue.sh. Never run against a live queue: the spool
 * files do not exist and qmgr would drop the rows at its next
 * reconciliation.
 *
 *   qidxfill INDEX MESSAGES [DOMAINS]
 *
 * Message i is from user(i % 500)@sender.example, arrived i seconds
 * before now minus two days spread, with 1-3 recipients at
 * d(i % DOMAINS).example (default 1,000 domains); one recipient in three
 * is deferred with a reply and a timeline row, one message in 100 held.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/log.h"
#include "relay/qidx.h"
#include "relay/spool.h"

static const char *const replies[] = {
	"450 4.2.0 mailbox busy",
	"421 4.7.0 Too many connections, try again later",
	"4.4.1 connect: Connection timed out (mx.d.example)",
};

int
main(int argc, char *argv[])
{
	struct qidx *q;
	struct spool_env e;
	struct spool_rcpt rc[3];
	struct qidx_attempt at;
	char addr[3][64], sender[64], id[SPOOL_ID_LEN + 1];
	const char *errstr;
	long long n, i, ndom = 1000, now = (long long)time(NULL);
	int k, nr;

	if (argc < 3 || (n = atoll(argv[2])) <= 0 ||
	    (argc > 3 && (ndom = atoll(argv[3])) <= 0)) {
		fprintf(stderr, "usage: qidxfill INDEX MESSAGES [DOMAINS]\n");
		return 2;
	}
	log_init("qidxfill", LOG_TARGET_STDERR, LOG_LEVEL_WARN);
	if (qidx_open(argv[1], 0, &q, &errstr) == -1) {
		fprintf(stderr, "qidxfill: %s: %s\n", argv[1], errstr);
		return 1;
	}
	srandom(1);
	if (qidx_begin(q) == -1)
		return 1;
	for (i = 0; i < n; i++) {
		memset(&e, 0, sizeof(e));
		(void)snprintf(id, sizeof(id), "%012llx%08lx",
		    (unsigned long long)(now - 172800 + i * 172800 / n) *
		    1000000ULL % 0x1000000000000ULL,
		    (unsigned long)random() & 0xffffffffUL);
		memcpy(e.id, id, sizeof(e.id));
		e.arrival = now - 172800 + i * 172800 / n;
		(void)snprintf(sender, sizeof(sender),
		    "user%lld@sender.example", i % 500);
		e.sender = sender;
		e.size = 1024 + (unsigned long long)(i % 7) * 4096;
		e.helo = "client.example";
		e.client = "[192.0.2.1]:25";
		nr = 1 + (int)(i % 3);
		for (k = 0; k < nr; k++) {
			(void)snprintf(addr[k], sizeof(addr[k]),
			    "r%lld.%d@d%lld.example", i, k, (i + k) % ndom);
			memset(&rc[k], 0, sizeof(rc[k]));
			rc[k].addr = addr[k];
		}
		e.rcpts = rc;
		e.nrcpt = (size_t)nr;
		if (qidx_add(q, &e) == -1)
			goto fail;
		for (k = 0; k < nr; k++) {
			if ((i + k) % 3 != 0)
				continue;
			if (qidx_rcpt_update(q, id, k, QIDX_DEFERRED, 1,
			    now + 600, replies[(i + k) % 3]) == -1)
				goto fail;
			memset(&at, 0, sizeof(at));
			at.idx = k;
			at.t = e.arrival + 1;
			at.kind = "attempt";
			at.attempt = 1;
			at.state = QIDX_DEFERRED;
			at.route = "default_transport: mx:d.example:25";
			at.reply = replies[(i + k) % 3];
			at.next_try = now + 600;
			at.why = "backoff step 1";
			if (qidx_attempt_add(q, id, &at) == -1)
				goto fail;
		}
		if (i % 100 == 0 && qidx_hold(q, id, 1) == -1)
			goto fail;
		if (i % 5000 == 4999 && (qidx_commit(q) == -1 ||
		    qidx_begin(q) == -1))
			goto fail;
	}
	if (qidx_commit(q) == -1)
		goto fail;
	qidx_close(&q);
	return 0;
fail:
	fprintf(stderr, "qidxfill: index write failed at message %lld\n", i);
	qidx_close(&q);
	return 1;
}
