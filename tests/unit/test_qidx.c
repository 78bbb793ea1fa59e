/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * Unit tests for the queue index's timeline and throttling tables: the
 * upgrade of a schema-1 index in place (and reading one without it), the
 * sequence and the bound of each recipient's timeline, requeue, the
 * throttling rows, and that removing a message removes its timeline;
 * the batch transaction and the scheduler's due scan; a batch whose
 * COMMIT fails is rolled back, not left open.
 */
#include "config.h"

#include <sys/resource.h>
#include <sys/stat.h>

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "lib/log.h"
#include "relay/qidx.h"
#include "relay/spool.h"

#define ID	"0123456789abcdef0123"

struct env {
	char	dir[64];
	char	path[96];
};

static int
setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));

	assert_non_null(e);
	(void)snprintf(e->dir, sizeof(e->dir), "/tmp/test_qidx.XXXXXX");
	assert_non_null(mkdtemp(e->dir));
	(void)snprintf(e->path, sizeof(e->path), "%s/index.db", e->dir);
	*state = e;
	return 0;
}

static int
teardown(void **state)
{
	struct env *e = *state;
	char cmd[128];

	(void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", e->dir);
	assert_int_equal(system(cmd), 0);
	free(e);
	return 0;
}

static void
add_msg(struct qidx *q, const char *id, size_t nrcpt)
{
	static char a[4][32] = { "a@x.example", "b@x.example", "c@y.example",
		"d@y.example" };
	struct spool_rcpt rc[4];
	struct spool_env env;
	size_t i;

	memset(&env, 0, sizeof(env));
	memset(rc, 0, sizeof(rc));
	memcpy(env.id, id, SPOOL_ID_LEN + 1);
	env.arrival = 1000;
	env.sender = "s@example.org";
	env.helo = "h";
	env.client = "[192.0.2.1]:1";
	for (i = 0; i < nrcpt; i++)
		rc[i].addr = a[i];
	env.rcpts = rc;
	env.nrcpt = nrcpt;
	assert_int_equal(qidx_add(q, &env), 1);
}

static int
collect(void *arg, const struct qidx_attempt *a)
{
	int *seqs = arg;

	seqs[++seqs[0]] = a->idx * 1000 + a->seq;
	return 1;
}

static void
add_attempt(struct qidx *q, int idx, int attempt, const char *reply)
{
	struct qidx_attempt a;

	memset(&a, 0, sizeof(a));
	a.idx = idx;
	a.t = 2000 + attempt;
	a.kind = "attempt";
	a.attempt = attempt;
	a.state = QIDX_DEFERRED;
	a.route = "transports: smtp:[192.0.2.1]:25";
	a.reply = reply;
	a.next_try = 3000;
	a.why = "backoff";
	assert_int_equal(qidx_attempt_add(q, ID, &a), 1);
}

static int
check_row(void *arg, const struct qidx_attempt *a)
{
	(void)arg;
	assert_string_equal(a->kind, "attempt");
	assert_string_equal(a->route, "transports: smtp:[192.0.2.1]:25");
	assert_string_equal(a->mx, "");		/* NULL reads as "" */
	assert_string_equal(a->why, "backoff");
	assert_int_equal(a->next_try, 3000);
	return 1;
}

static void
test_timeline(void **state)
{
	struct env *e = *state;
	struct qidx *q;
	const char *errstr;
	int seqs[64], i;

	assert_int_equal(qidx_open(e->path, 0, &q, &errstr), 1);
	add_msg(q, ID, 2);
	/* 25 rows for recipient 0, 1 for recipient 1: seq counts on, only
	 * the last QIDX_ATTEMPTS_KEPT stay. */
	for (i = 1; i <= 25; i++)
		add_attempt(q, 0, i, "450 busy");
	add_attempt(q, 1, 1, "450 busy");
	memset(seqs, 0, sizeof(seqs));
	assert_int_equal(qidx_foreach_attempt(q, ID, 0, collect, seqs),
	    QIDX_ATTEMPTS_KEPT);
	assert_int_equal(seqs[0], QIDX_ATTEMPTS_KEPT);
	assert_int_equal(seqs[1], 25 - QIDX_ATTEMPTS_KEPT + 1);
	assert_int_equal(seqs[QIDX_ATTEMPTS_KEPT], 25);
	memset(seqs, 0, sizeof(seqs));
	assert_int_equal(qidx_foreach_attempt(q, ID, -1, collect, seqs),
	    QIDX_ATTEMPTS_KEPT + 1);
	assert_int_equal(seqs[QIDX_ATTEMPTS_KEPT + 1], 1001);
	assert_int_equal(qidx_foreach_attempt(q, ID, 1, check_row, NULL), 1);

	/* requeue makes the open recipients due; final ones stay. */
	assert_int_equal(qidx_rcpt_update(q, ID, 0, QIDX_DEFERRED, 3, 5000,
	    "450"), 1);
	assert_int_equal(qidx_rcpt_update(q, ID, 1, QIDX_DELIVERED, 1, 0,
	    "250"), 1);
	assert_int_equal(qidx_requeue(q, ID), 1);
	assert_int_equal(qidx_next_due(q), 0);

	/* Removing the message removes its timeline. */
	assert_int_equal(qidx_remove(q, ID), 1);
	assert_int_equal(qidx_foreach_attempt(q, ID, -1, collect, seqs), 0);
	qidx_close(&q);
}

static int
count_dest(void *arg, const struct qidx_dest *d)
{
	int *n = arg;

	assert_string_equal(d->key, "mx:example.org:25");
	assert_int_equal(d->limit, 3);
	assert_int_equal(d->pace_ms, 2000);
	assert_string_equal(d->reason, "421 too many connections");
	(*n)++;
	return 1;
}

static void
test_dest(void **state)
{
	struct env *e = *state;
	struct qidx_dest d = { "mx:example.org:25", 5, 1000, 0, 10, "x" };
	struct qidx *q;
	const char *errstr;
	int n = 0;

	assert_int_equal(qidx_open(e->path, 0, &q, &errstr), 1);
	assert_int_equal(qidx_dest_put(q, &d), 1);
	d.limit = 3;
	d.pace_ms = 2000;
	d.reason = "421 too many connections";
	assert_int_equal(qidx_dest_put(q, &d), 1);	/* replaces */
	assert_int_equal(qidx_foreach_dest(q, count_dest, &n), 1);
	assert_int_equal(n, 1);
	d.limit = 0;					/* deletes */
	assert_int_equal(qidx_dest_put(q, &d), 1);
	assert_int_equal(qidx_foreach_dest(q, count_dest, &n), 0);
	qidx_close(&q);
}

static int
schema(const char *path)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int v = -1;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE"
	    " key = 'schema'", -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static void
test_upgrade(void **state)
{
	struct env *e = *state;
	struct qidx *q;
	const char *errstr;
	sqlite3 *db;
	int seqs[8] = { 0 };

	/* An index as schema 1 wrote it, with a queued message. */
	assert_int_equal(sqlite3_open(e->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db,
	    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT);"
	    "CREATE TABLE msg(id TEXT PRIMARY KEY, arrival INTEGER NOT NULL,"
	    " sender TEXT NOT NULL, size INTEGER NOT NULL, nrcpt INTEGER NOT"
	    " NULL, client TEXT, helo TEXT) WITHOUT ROWID;"
	    "CREATE TABLE rcpt(id TEXT NOT NULL, idx INTEGER NOT NULL, addr"
	    " TEXT NOT NULL, domain TEXT NOT NULL, state INTEGER NOT NULL"
	    " DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0, next_try INTEGER"
	    " NOT NULL DEFAULT 0, last_reply TEXT, PRIMARY KEY(id, idx))"
	    " WITHOUT ROWID;"
	    "INSERT INTO meta VALUES('schema', '1');"
	    "INSERT INTO msg VALUES('" ID "', 1000, 's@example.org', 10, 1,"
	    " NULL, NULL);"
	    "INSERT INTO rcpt VALUES('" ID "', 0, 'a@x.example', 'x.example',"
	    " 1, 1, 5000, '450 busy');", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);

	/* A reader opens it as it is: no timeline, no throttling rows. */
	assert_int_equal(qidx_open(e->path, 1, &q, &errstr), 1);
	assert_int_equal(qidx_has(q, ID), 1);
	assert_int_equal(qidx_foreach_attempt(q, ID, -1, collect, seqs), 0);
	assert_int_equal(qidx_foreach_dest(q, count_dest, seqs), 0);
	qidx_close(&q);
	assert_int_equal(schema(e->path), 1);

	/* The writer upgrades it and keeps the data. */
	assert_int_equal(qidx_open(e->path, 0, &q, &errstr), 1);
	assert_int_equal(schema(e->path), 2);
	assert_int_equal(qidx_has(q, ID), 1);
	assert_int_equal(qidx_next_due(q), 5000);
	add_attempt(q, 0, 2, "450 busy");
	assert_int_equal(qidx_foreach_attempt(q, ID, -1, collect, seqs), 1);
	qidx_close(&q);
	/* And opens it again (idempotent). */
	assert_int_equal(qidx_open(e->path, 0, &q, &errstr), 1);
	assert_int_equal(qidx_foreach_attempt(q, ID, -1, collect, seqs), 1);
	qidx_close(&q);
}

static void
test_shape(void **state)
{
	struct env *e = *state;
	struct qidx_shape sh;
	struct qidx *q;
	const char *errstr;
	int b;

	assert_int_equal(qidx_open(e->path, 0, &q, &errstr), 1);
	add_msg(q, ID, 4);			/* a b @x, c d @y */
	add_msg(q, "1123456789abcdef0123", 1);	/* a @x */
	assert_int_equal(qidx_rcpt_update(q, ID, 1, QIDX_DELIVERED, 1, 0,
	    "250"), 1);
	assert_int_equal(qidx_hold(q, ID, 1), 1);	/* still counted */
	qidx_close(&q);
	assert_int_equal(qidx_open(e->path, 1, &q, &errstr), 1);
	assert_int_equal(qidx_shape(q, 1000 + 400, &sh), 1);
	for (b = 0; b < QIDX_AGE_BUCKETS; b++) {
		assert_int_equal(sh.age_msg[b], b == 1 ? 2 : 0);
		assert_int_equal(sh.age_rcpt[b], b == 1 ? 4 : 0);
	}
	assert_int_equal(sh.ndom, 2);
	assert_string_equal(sh.dom[0].domain, "x.example");	/* tie: name */
	assert_int_equal(sh.dom[0].nmsg, 2);
	assert_int_equal(sh.dom[0].nrcpt, 2);
	assert_string_equal(sh.dom[1].domain, "y.example");
	assert_int_equal(sh.dom[1].nmsg, 1);
	assert_int_equal(sh.dom[1].nrcpt, 2);
	qidx_shape_free(&sh);
	/* Buckets double from 5 minutes; older than 640 minutes: the last. */
	assert_int_equal(qidx_shape(q, 1000 + 299, &sh), 1);
	assert_int_equal(sh.age_msg[0], 2);
	qidx_shape_free(&sh);
	assert_int_equal(qidx_shape(q, 1000 + 38399, &sh), 1);
	assert_int_equal(sh.age_msg[7], 2);
	qidx_shape_free(&sh);
	assert_int_equal(qidx_shape(q, 1000 + 38400, &sh), 1);
	assert_int_equal(sh.age_msg[8], 2);
	qidx_shape_free(&sh);
	qidx_close(&q);
}

/* Many domains: the table grows and keeps every count. */
static void
test_shape_many(void **state)
{
	struct env *e = *state;
	struct qidx_shape sh;
	struct spool_rcpt rc[3];
	struct spool_env env;
	struct qidx *q;
	const char *errstr;
	char a[3][64];
	int i, k;

	assert_int_equal(qidx_open(e->path, 0, &q, &errstr), 1);
	assert_int_equal(qidx_begin(q), 1);
	for (i = 0; i < 3000; i++) {
		memset(&env, 0, sizeof(env));
		(void)snprintf(env.id, sizeof(env.id), "%020d", i);
		env.arrival = 1000;
		env.sender = "s@example.org";
		for (k = 0; k < 3; k++) {
			(void)snprintf(a[k], sizeof(a[k]), "r%d@d%d.example", k,
			    (i + k) % 1000);
			memset(&rc[k], 0, sizeof(rc[k]));
			rc[k].addr = a[k];
		}
		env.rcpts = rc;
		env.nrcpt = 3;
		assert_int_equal(qidx_add(q, &env), 1);
	}
	assert_int_equal(qidx_commit(q), 1);
	assert_int_equal(qidx_shape(q, 1000, &sh), 1);
	assert_int_equal(sh.ndom, 1000);
	for (i = 0; i < 1000; i++) {
		assert_int_equal(sh.dom[i].nmsg, 9);
		assert_int_equal(sh.dom[i].nrcpt, 9);
	}
	assert_string_equal(sh.dom[0].domain, "d0.example");
	assert_int_equal(sh.age_msg[0], 3000);
	assert_int_equal(sh.age_rcpt[0], 9000);
	qidx_shape_free(&sh);
	qidx_close(&q);
}

static int
count_due(void *arg, const struct qidx_due *d)
{
	int *n = arg;

	(*n)++;
	assert_int_equal(d->nrcpt, 2);
	return 1;
}

/* The batch transaction: invisible to another reader until it is
 * committed; qidx_begin commits it first; the due scan and the next due
 * time come from the rcpt_todo index and skip final recipients. */
static void
test_batch(void **state)
{
	struct env *e = *state;
	struct qidx *q, *ro;
	const char *errstr;
	int n = 0;

	assert_int_equal(qidx_open(e->path, 0, &q, &errstr), 1);
	assert_int_equal(qidx_open(e->path, 1, &ro, &errstr), 1);
	assert_int_equal(qidx_batch_left(q, 20), -1);
	assert_int_equal(qidx_batch(q), 1);
	assert_int_equal(qidx_batch(q), 1);		/* joins it */
	assert_in_range(qidx_batch_left(q, 100000), 1, 100000);
	add_msg(q, ID, 2);
	assert_int_equal(qidx_has(q, ID), 1);		/* its own writes */
	assert_int_equal(qidx_has(ro, ID), 0);
	assert_int_equal(qidx_batch_end(q, 100000), 1);	/* not yet */
	assert_int_equal(qidx_has(ro, ID), 0);
	assert_int_equal(qidx_batch_end(q, 0), 1);
	assert_int_equal(qidx_has(ro, ID), 1);
	assert_int_equal(qidx_batch_left(q, 20), -1);

	assert_int_equal(qidx_batch(q), 1);
	assert_int_equal(qidx_rcpt_update(q, ID, 0, QIDX_DELIVERED, 1, 0,
	    "250 ok"), 1);
	assert_int_equal(qidx_rcpt_update(q, ID, 1, QIDX_DEFERRED, 1, 5000,
	    "451 later"), 1);
	assert_int_equal(qidx_msg_done(q, ID), 0);
	assert_int_equal(qidx_foreach_due(q, 4999, 10, count_due, &n), 0);
	assert_int_equal(qidx_next_due(q), 5000);
	assert_int_equal(qidx_begin(q), 1);	/* commits the batch */
	assert_int_equal(qidx_commit(q), 1);
	assert_int_equal(qidx_next_due(ro), 0);	/* read-only: no statement */
	assert_int_equal(qidx_foreach_due(q, 5000, 10, count_due, &n), 1);
	assert_int_equal(n, 1);
	assert_int_equal(qidx_rcpt_update(q, ID, 1, QIDX_DELIVERED, 2, 0,
	    "250 ok"), 1);
	assert_int_equal(qidx_msg_done(q, ID), 1);
	assert_int_equal(qidx_next_due(q), 0);
	qidx_close(&ro);
	qidx_close(&q);
}

static int
count_any(void *arg, const struct qidx_due *d)
{
	(void)d;
	(*(int *)arg)++;
	return 1;
}

static int
check_not_x(void *arg, const struct qidx_due *d)
{
	int *n = arg;

	assert_string_equal(d->domain, "y.example");
	(*n)++;
	return 1;
}

/* Domains the scheduler passes over are left out of the due pages (ASCII
 * case ignored) until the list is cleared; other connections' pages are
 * not affected. */
static void
test_due_skip(void **state)
{
	struct env *e = *state;
	struct qidx *q, *q2, *ro;
	const char *errstr;
	int n = 0;

	assert_int_equal(qidx_open(e->path, 0, &q, &errstr), 1);
	assert_int_equal(qidx_open(e->path, 0, &q2, &errstr), 1);
	assert_int_equal(qidx_open(e->path, 1, &ro, &errstr), 1);
	add_msg(q, ID, 4);	/* 2 at x.example, 2 at y.example */
	assert_int_equal(qidx_foreach_due(q, 5000, 10, count_any, &n), 4);
	assert_int_equal(qidx_due_skip(q, "X.Example"), 0);
	assert_int_equal(qidx_due_skip(q, "x.example"), 0);	/* again */
	n = 0;
	assert_int_equal(qidx_foreach_due(q, 5000, 10, check_not_x, &n), 2);
	assert_int_equal(n, 2);
	assert_int_equal(qidx_foreach_due(q2, 5000, 10, count_any, &n), 4);
	assert_int_equal(qidx_due_skip(ro, "x.example"), -1);	/* read-only */
	assert_int_equal(qidx_due_skip_clear(q), 0);
	assert_int_equal(qidx_foreach_due(q, 5000, 10, count_any, &n), 4);
	qidx_close(&ro);
	qidx_close(&q2);
	qidx_close(&q);
}

/* A COMMIT that fails (the WAL cannot grow: RLIMIT_FSIZE) rolls the
 * batch back: the next batch can begin, and nothing of the failed one
 * stays (qmgr reconciles the index with the spool files). */
static void
test_batch_commit_fails(void **state)
{
	struct env *e = *state;
	struct qidx *q;
	struct rlimit old, lim;
	struct stat st;
	char id[SPOOL_ID_LEN + 1], wal[128];
	const char *errstr;
	int i, r;

	assert_int_equal(qidx_open(e->path, 0, &q, &errstr), 1);
	add_msg(q, ID, 1);
	(void)snprintf(wal, sizeof(wal), "%s-wal", e->path);
	assert_int_equal(stat(wal, &st), 0);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	assert_ptr_not_equal(signal(SIGXFSZ, SIG_IGN), SIG_ERR);
	assert_int_equal(qidx_batch(q), 1);
	for (i = 0; i < 300; i++) {
		(void)snprintf(id, sizeof(id), "%020d", i);
		add_msg(q, id, 4);
	}
	lim = old;
	lim.rlim_cur = (rlim_t)st.st_size + 4096;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	r = qidx_batch_end(q, 0);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	assert_int_equal(r, -1);
	assert_int_equal(qidx_batch_left(q, 20), -1);
	assert_int_equal(qidx_batch(q), 1);	/* BEGIN works again */
	assert_int_equal(qidx_has(q, "00000000000000000007"), 0);
	assert_int_equal(qidx_has(q, ID), 1);
	add_msg(q, "00000000000000000007", 1);
	assert_int_equal(qidx_batch_end(q, 0), 1);
	assert_int_equal(qidx_has(q, "00000000000000000007"), 1);
	qidx_close(&q);
}

/*
 * The read-only open (estafetactl, as root, on a file qmgr's user can
 * write) never maps the file and runs defensive; a file whose "msg" table
 * became a view, or has a trigger, is refused or inert.
 */
static void
test_readonly_hardened(void **state)
{
	struct env *e = *state;
	struct qidx_conn_info ci;
	struct qidx *q;
	const char *errstr;
	sqlite3 *db;

	assert_int_equal(qidx_open(e->path, 0, &q, &errstr), 1);
	add_msg(q, ID, 1);
	qidx_close(&q);
	assert_int_equal(qidx_open(e->path, 1, &q, &errstr), 1);
	assert_int_equal(qidx_conn_info(q, &ci), 1);
	assert_int_equal(ci.mmap_size, 0);
	assert_int_equal(ci.defensive, 1);
	assert_int_equal(ci.trusted_schema, 0);
	assert_int_equal(ci.views, 0);
	assert_int_equal(ci.triggers, 0);
	assert_int_equal(qidx_has(q, ID), 1);
	qidx_close(&q);

	/* A hostile writer turns msg into a view over a table of its own. */
	assert_int_equal(sqlite3_open(e->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "ALTER TABLE msg RENAME TO m2;"
	    "CREATE VIEW msg AS SELECT * FROM m2;", NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(qidx_open(e->path, 1, &q, &errstr), -1);
	assert_null(q);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_timeline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readonly_hardened, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_dest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_upgrade, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shape, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shape_many, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_due_skip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batch_commit_fails, setup,
		    teardown),
	};

	log_init("test_qidx", LOG_TARGET_STDERR, LOG_LEVEL_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
