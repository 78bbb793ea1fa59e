/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * The SQLite queue index: see qidx.h. Statements are prepared once.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "lib/buf.h"
#include "lib/dbharden.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "relay/qidx.h"
#include "relay/spool.h"

/*
 * 1: msg and rcpt (columns added later without a bump: see
 *    qidx_migrations). 2: attempt (the per-recipient timeline) and dest
 *    (adaptive throttling state). An index of an older version is
 *    upgraded in place by the writer; a reader of an older index sees no
 *    history and no throttling.
 */
#define QIDX_SCHEMA_VERSION	2

struct qidx {
	sqlite3		*db;
	int		 version;	/* schema of the file as opened */
	sqlite3_stmt	*has, *add_msg, *add_rcpt, *del_msg, *del_rcpt;
	sqlite3_stmt	*add_att, *trim_att, *del_att;
	/* The scheduler's statements, run for every delivery. */
	sqlite3_stmt	*due, *upd_rcpt, *done, *next;
	sqlite3_stmt	*skip_add, *skip_clear;	/* temp.due_skip */
	int		 batch;		/* the batch transaction is open */
	long long	 batch_t0;	/* since (monotonic ms) */
	void		(*hop)(void *, const char *, struct buf *);
	void		*hop_arg;
	struct buf	 hop_key;
};

static const char qidx_schema[] =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);"
    "CREATE TABLE IF NOT EXISTS msg("
    " id TEXT PRIMARY KEY, arrival INTEGER NOT NULL, sender TEXT NOT NULL,"
    " size INTEGER NOT NULL, nrcpt INTEGER NOT NULL, client TEXT,"
    " helo TEXT) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS rcpt("
    " id TEXT NOT NULL, idx INTEGER NOT NULL, addr TEXT NOT NULL,"
    " domain TEXT NOT NULL, state INTEGER NOT NULL DEFAULT 0,"
    " attempts INTEGER NOT NULL DEFAULT 0,"
    " next_try INTEGER NOT NULL DEFAULT 0, last_reply TEXT,"
    " PRIMARY KEY(id, idx)) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS rcpt_due ON rcpt(state, next_try);"
    "CREATE INDEX IF NOT EXISTS rcpt_domain ON rcpt(domain);"
    "INSERT OR IGNORE INTO meta VALUES('schema', '1');";

/* Columns added after schema 1 (no version bump: added when missing). */
static const char *const qidx_migrations[] = {
	"ALTER TABLE msg ADD COLUMN warned INTEGER NOT NULL DEFAULT 0",
	"ALTER TABLE msg ADD COLUMN hold INTEGER NOT NULL DEFAULT 0",
	/* For the queue filters (estafetactl queue list/hold/...). */
	"CREATE INDEX IF NOT EXISTS msg_sender ON msg(sender)",
	"CREATE INDEX IF NOT EXISTS msg_hold ON msg(hold) WHERE hold = 1",
	"CREATE INDEX IF NOT EXISTS rcpt_addr ON rcpt(addr)",
	/* Schema 2. */
	"CREATE TABLE IF NOT EXISTS attempt("
	" id TEXT NOT NULL, idx INTEGER NOT NULL, seq INTEGER NOT NULL,"
	" t INTEGER NOT NULL, kind TEXT NOT NULL, attempt INTEGER NOT NULL,"
	" state INTEGER NOT NULL, route TEXT, mx TEXT, tried TEXT, tls TEXT,"
	" reply TEXT, next_try INTEGER NOT NULL DEFAULT 0, why TEXT,"
	" PRIMARY KEY(id, idx, seq)) WITHOUT ROWID",
	"CREATE TABLE IF NOT EXISTS dest("
	" key TEXT PRIMARY KEY, lim INTEGER NOT NULL, pace INTEGER NOT NULL,"
	" ok INTEGER NOT NULL, updated INTEGER NOT NULL, reason TEXT)"
	" WITHOUT ROWID",
	/* The scheduler's due scan, in its ORDER BY: reading the first N
	 * due rows costs N lookups, not a sort of the whole queue. */
	"CREATE INDEX IF NOT EXISTS rcpt_todo ON rcpt(next_try, id, idx)"
	" WHERE state IN (0, 1)",
};

#define QIDX_RO_CACHE_KIB	65536	/* page cache of read-only opens */
#define QIDX_STR2(x)	#x
#define QIDX_STR(x)	QIDX_STR2(x)

/* The schema version recorded in the file (0 when unreadable). */
static int
qidx_schema_version(struct qidx *q)
{
	sqlite3_stmt *st;
	int v = 0;

	if (sqlite3_prepare_v2(q->db, "SELECT value FROM meta WHERE key ="
	    " 'schema'", -1, &st, NULL) != SQLITE_OK)
		return 0;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return v;
}

static int
qidx_prep(struct qidx *q, const char *sql, sqlite3_stmt **st)
{
	return sqlite3_prepare_v3(q->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
	    st, NULL) == SQLITE_OK ? 1 : -1;
}

/*
 * A read-only open is estafetactl's, running as root on a file that qmgr's
 * unprivileged user can write: the file is treated as hostile (db_harden:
 * no memory map, defensive, no views or triggers). The page cache is made
 * large instead (the map was there for speed: whole-table scans of queue
 * summary). 1 or -1.
 */
static int
qidx_harden(struct qidx *q)
{
	if (db_harden(q->db) == -1 || sqlite3_exec(q->db,
	    "PRAGMA cache_size=-" QIDX_STR(QIDX_RO_CACHE_KIB), NULL, NULL,
	    NULL) != SQLITE_OK)
		return -1;
	return 1;
}

int
qidx_conn_info(struct qidx *q, struct qidx_conn_info *ci)
{
	sqlite3_stmt *st;
	int r = -1;

	memset(ci, 0, sizeof(*ci));
	if (sqlite3_db_config(q->db, SQLITE_DBCONFIG_DEFENSIVE, -1,
	    &ci->defensive) != SQLITE_OK ||
	    sqlite3_db_config(q->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, -1,
	    &ci->trusted_schema) != SQLITE_OK ||
	    sqlite3_db_config(q->db, SQLITE_DBCONFIG_ENABLE_VIEW, -1,
	    &ci->views) != SQLITE_OK ||
	    sqlite3_db_config(q->db, SQLITE_DBCONFIG_ENABLE_TRIGGER, -1,
	    &ci->triggers) != SQLITE_OK)
		return -1;
	if (sqlite3_prepare_v2(q->db, "PRAGMA mmap_size", -1, &st, NULL) !=
	    SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW) {
		ci->mmap_size = sqlite3_column_int64(st, 0);
		r = 1;
	}
	sqlite3_finalize(st);
	return r;
}

int
qidx_open(const char *path, int readonly, struct qidx **qp,
    const char **errstr_r)
{
	struct qidx *q = xcalloc(1, sizeof(*q));
	int flags = readonly ? SQLITE_OPEN_READONLY :
	    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;

	if (sqlite3_open_v2(path, &q->db, flags | SQLITE_OPEN_NOMUTEX,
	    NULL) != SQLITE_OK)
		goto fail;
	(void)sqlite3_busy_timeout(q->db, 5000);
	if (readonly && qidx_harden(q) == -1) {
		qidx_close(&q);
		*errstr_r = "cannot make the read-only connection defensive "
		    "(SQLite too old?)";
		return -1;
	}
	if (!readonly && (sqlite3_exec(q->db, "PRAGMA journal_mode=WAL;"
	    "PRAGMA synchronous=NORMAL;", NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(q->db, qidx_schema, NULL, NULL, NULL) != SQLITE_OK))
		goto fail;
	if (!readonly) {
		size_t i;

		/* "duplicate column" when already there: ignored. */
		for (i = 0; i < sizeof(qidx_migrations) /
		    sizeof(qidx_migrations[0]); i++)
			(void)sqlite3_exec(q->db, qidx_migrations[i], NULL, NULL,
			    NULL);
		if (sqlite3_exec(q->db, "INSERT OR REPLACE INTO meta"
		    " VALUES('schema', '" QIDX_STR(QIDX_SCHEMA_VERSION) "')",
		    NULL, NULL, NULL) != SQLITE_OK)
			goto fail;
	}
	/* Domains the due scan passes over (qidx_due_skip): a table of
	 * this connection only, never in the file. */
	if (!readonly && sqlite3_exec(q->db, "CREATE TEMP TABLE IF NOT EXISTS"
	    " due_skip(domain TEXT PRIMARY KEY COLLATE NOCASE) WITHOUT ROWID",
	    NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	q->version = qidx_schema_version(q);
	if (qidx_prep(q, "SELECT 1 FROM msg WHERE id = ?", &q->has) == -1)
		goto fail;
	if (!readonly && (qidx_prep(q, "INSERT INTO attempt(id, idx, seq, t,"
	    " kind, attempt, state, route, mx, tried, tls, reply, next_try,"
	    " why) VALUES(?1, ?2, coalesce((SELECT max(seq) FROM attempt"
	    " WHERE id = ?1 AND idx = ?2), 0) + 1, ?3, ?4, ?5, ?6, ?7, ?8,"
	    " ?9, ?10, ?11, ?12, ?13)", &q->add_att) == -1 ||
	    qidx_prep(q, "DELETE FROM attempt WHERE id = ?1 AND idx = ?2 AND"
	    " seq <= (SELECT max(seq) FROM attempt WHERE id = ?1 AND"
	    " idx = ?2) - ?3", &q->trim_att) == -1 ||
	    qidx_prep(q, "DELETE FROM attempt WHERE id = ?", &q->del_att) ==
	    -1))
		goto fail;
	if (!readonly && (qidx_prep(q, "INSERT OR IGNORE INTO msg(id, arrival,"
	    " sender, size, nrcpt, client, helo) VALUES(?, ?, ?, ?, ?, ?, ?)",
	    &q->add_msg) == -1 ||
	    qidx_prep(q, "INSERT OR IGNORE INTO rcpt(id, idx, addr, domain)"
	    " VALUES(?, ?, ?, ?)", &q->add_rcpt) == -1 ||
	    qidx_prep(q, "DELETE FROM msg WHERE id = ?", &q->del_msg) == -1 ||
	    qidx_prep(q, "DELETE FROM rcpt WHERE id = ?", &q->del_rcpt) == -1 ||
	    qidx_prep(q, "SELECT r.id, r.idx, r.addr, r.domain, r.attempts,"
	    " m.arrival, m.warned, m.nrcpt, r.next_try, m.size FROM rcpt r"
	    " INDEXED BY rcpt_todo JOIN msg m ON m.id = r.id WHERE"
	    " r.state IN (0, 1) AND r.next_try <= ?1 AND"
	    " (r.next_try, r.id, r.idx) > (?3, ?4, ?5) AND r.domain COLLATE"
	    " NOCASE NOT IN (SELECT domain FROM temp.due_skip) AND"
	    " m.hold = 0 ORDER BY r.next_try, r.id, r.idx LIMIT ?2",
	    &q->due) == -1 ||
	    qidx_prep(q, "INSERT OR IGNORE INTO temp.due_skip VALUES(?)",
	    &q->skip_add) == -1 ||
	    qidx_prep(q, "DELETE FROM temp.due_skip", &q->skip_clear) == -1 ||
	    qidx_prep(q, "UPDATE rcpt SET state = ?3, attempts = ?4,"
	    " next_try = ?5, last_reply = ?6 WHERE id = ?1 AND idx = ?2",
	    &q->upd_rcpt) == -1 ||
	    qidx_prep(q, "SELECT count(*) FROM rcpt WHERE id = ? AND state"
	    " IN (0, 1)", &q->done) == -1 ||
	    qidx_prep(q, "SELECT r.next_try FROM rcpt r INDEXED BY rcpt_todo"
	    " JOIN msg m ON m.id = r.id WHERE r.state IN (0, 1) AND"
	    " m.hold = 0 ORDER BY r.next_try LIMIT 1", &q->next) == -1))
		goto fail;
	*qp = q;
	return 1;
fail:
	{
		static char errbuf[256];

		(void)snprintf(errbuf, sizeof(errbuf), "%s", q->db ?
		    sqlite3_errmsg(q->db) : "out of memory");	/* may cut */
		*errstr_r = errbuf;
	}
	qidx_close(&q);
	return -1;
}

void
qidx_close(struct qidx **qp)
{
	struct qidx *q = *qp;

	if (q == NULL)
		return;
	sqlite3_finalize(q->has);
	sqlite3_finalize(q->add_msg);
	sqlite3_finalize(q->add_rcpt);
	sqlite3_finalize(q->del_msg);
	sqlite3_finalize(q->del_rcpt);
	sqlite3_finalize(q->add_att);
	sqlite3_finalize(q->trim_att);
	sqlite3_finalize(q->del_att);
	sqlite3_finalize(q->due);
	sqlite3_finalize(q->skip_add);
	sqlite3_finalize(q->skip_clear);
	sqlite3_finalize(q->upd_rcpt);
	sqlite3_finalize(q->done);
	sqlite3_finalize(q->next);
	(void)sqlite3_close(q->db);	/* statements finalized above */
	buf_free(&q->hop_key);
	free(q);
	*qp = NULL;
}

static long long
qidx_now_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);	/* cannot fail */
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
qidx_begin(struct qidx *q)
{
	if (q->batch && qidx_batch_end(q, 0) == -1)
		return -1;
	return sqlite3_exec(q->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) ==
	    SQLITE_OK ? 1 : -1;
}

int
qidx_batch(struct qidx *q)
{
	if (q->batch)
		return 1;
	if (sqlite3_exec(q->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) !=
	    SQLITE_OK)
		return -1;
	q->batch = 1;
	q->batch_t0 = qidx_now_ms();
	return 1;
}

/*
 * COMMIT; when it fails and SQLite keeps the transaction open (SQLITE_BUSY,
 * a full disk), rolls it back: left open, every later BEGIN would fail and
 * all further writes would pile into it. The index is rebuilt from the
 * spool files (qmgr_reconcile), so what is rolled back is at worst
 * delivered twice, never lost.
 */
static int
qidx_commit_tx(struct qidx *q)
{
	if (sqlite3_exec(q->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
		return 1;
	log_error("qidx commit failed: %s", sqlite3_errmsg(q->db));
	if (!sqlite3_get_autocommit(q->db) && sqlite3_exec(q->db, "ROLLBACK",
	    NULL, NULL, NULL) != SQLITE_OK)
		log_error("qidx rollback failed: %s", sqlite3_errmsg(q->db));
	return -1;
}

int
qidx_batch_end(struct qidx *q, int max_ms)
{
	if (!q->batch || (max_ms > 0 && qidx_now_ms() - q->batch_t0 <
	    max_ms))
		return 1;
	q->batch = 0;
	return qidx_commit_tx(q);
}

int
qidx_batch_left(struct qidx *q, int max_ms)
{
	long long left;

	if (!q->batch)
		return -1;
	left = q->batch_t0 + max_ms - qidx_now_ms();
	return left < 0 ? 0 : (int)left;
}

int
qidx_commit(struct qidx *q)
{
	return qidx_commit_tx(q);
}

static int
qidx_step_done(sqlite3_stmt *st)
{
	int r = sqlite3_step(st);

	(void)sqlite3_reset(st);	/* error already in r */
	return r == SQLITE_DONE ? 1 : -1;
}

int
qidx_has(struct qidx *q, const char *id)
{
	int r;

	(void)sqlite3_bind_text(q->has, 1, id, -1, SQLITE_STATIC);
	r = sqlite3_step(q->has);
	(void)sqlite3_reset(q->has);
	if (r == SQLITE_ROW)
		return 1;
	return r == SQLITE_DONE ? 0 : -1;
}

int
qidx_add(struct qidx *q, const struct spool_env *e)
{
	const char *at;
	size_t i;

	(void)sqlite3_bind_text(q->add_msg, 1, e->id, -1, SQLITE_STATIC);
	(void)sqlite3_bind_int64(q->add_msg, 2, e->arrival);
	(void)sqlite3_bind_text(q->add_msg, 3, e->sender, -1, SQLITE_STATIC);
	(void)sqlite3_bind_int64(q->add_msg, 4, (sqlite3_int64)e->size);
	(void)sqlite3_bind_int64(q->add_msg, 5, (sqlite3_int64)e->nrcpt);
	(void)sqlite3_bind_text(q->add_msg, 6, e->client, -1, SQLITE_STATIC);
	(void)sqlite3_bind_text(q->add_msg, 7, e->helo, -1, SQLITE_STATIC);
	if (qidx_step_done(q->add_msg) == -1)
		return -1;
	for (i = 0; i < e->nrcpt; i++) {
		at = strrchr(e->rcpts[i].addr, '@');
		(void)sqlite3_bind_text(q->add_rcpt, 1, e->id, -1,
		    SQLITE_STATIC);
		(void)sqlite3_bind_int64(q->add_rcpt, 2, (sqlite3_int64)i);
		(void)sqlite3_bind_text(q->add_rcpt, 3, e->rcpts[i].addr, -1,
		    SQLITE_STATIC);
		(void)sqlite3_bind_text(q->add_rcpt, 4, at ? at + 1 : "", -1,
		    SQLITE_STATIC);
		if (qidx_step_done(q->add_rcpt) == -1)
			return -1;
	}
	return 1;
}

int
qidx_remove(struct qidx *q, const char *id)
{
	(void)sqlite3_bind_text(q->del_msg, 1, id, -1, SQLITE_STATIC);
	(void)sqlite3_bind_text(q->del_rcpt, 1, id, -1, SQLITE_STATIC);
	(void)sqlite3_bind_text(q->del_att, 1, id, -1, SQLITE_STATIC);
	if (qidx_step_done(q->del_msg) == -1 ||
	    qidx_step_done(q->del_rcpt) == -1 ||
	    qidx_step_done(q->del_att) == -1)
		return -1;
	return 1;
}

static const char *
qidx_col(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	return t ? (const char *)t : "";
}

int
qidx_foreach_msg(struct qidx *q, const char *id,
    int (*fn)(void *, const struct qidx_msg *), void *arg)
{
	sqlite3_stmt *st;
	struct qidx_msg m;
	int r, n = 0;

	if (sqlite3_prepare_v2(q->db, id ?
	    "SELECT id, arrival, sender, size, nrcpt, client, helo, hold"
	    " FROM msg WHERE id = ?" :
	    "SELECT id, arrival, sender, size, nrcpt, client, helo, hold"
	    " FROM msg ORDER BY arrival, id", -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (id)
		(void)sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		m.id = qidx_col(st, 0);
		m.arrival = sqlite3_column_int64(st, 1);
		m.sender = qidx_col(st, 2);
		m.size = sqlite3_column_int64(st, 3);
		m.nrcpt = sqlite3_column_int(st, 4);
		m.client = qidx_col(st, 5);
		m.helo = qidx_col(st, 6);
		m.hold = sqlite3_column_int(st, 7);
		n++;
		if (fn(arg, &m) == -1)
			break;
	}
	sqlite3_finalize(st);
	return r == SQLITE_ROW || r == SQLITE_DONE ? n : -1;
}

int
qidx_foreach_rcpt(struct qidx *q, const char *id,
    int (*fn)(void *, const struct qidx_rcpt *), void *arg)
{
	sqlite3_stmt *st;
	struct qidx_rcpt rc;
	int r, n = 0;

	if (sqlite3_prepare_v2(q->db, "SELECT idx, addr, state, attempts,"
	    " next_try, last_reply FROM rcpt WHERE id = ? ORDER BY idx", -1,
	    &st, NULL) != SQLITE_OK)
		return -1;
	(void)sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		rc.idx = sqlite3_column_int(st, 0);
		rc.addr = qidx_col(st, 1);
		rc.state = sqlite3_column_int(st, 2);
		rc.attempts = sqlite3_column_int(st, 3);
		rc.next_try = sqlite3_column_int64(st, 4);
		rc.last_reply = qidx_col(st, 5);
		n++;
		if (fn(arg, &rc) == -1)
			break;
	}
	sqlite3_finalize(st);
	return r == SQLITE_ROW || r == SQLITE_DONE ? n : -1;
}

int
qidx_foreach_id(struct qidx *q, int (*fn)(void *, const char *), void *arg)
{
	sqlite3_stmt *st;
	int r, n = 0;

	if (sqlite3_prepare_v2(q->db, "SELECT id FROM msg", -1, &st, NULL) !=
	    SQLITE_OK)
		return -1;
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		n++;
		if (fn(arg, qidx_col(st, 0)) == -1)
			break;
	}
	sqlite3_finalize(st);
	return r == SQLITE_ROW || r == SQLITE_DONE ? n : -1;
}

const char *
qidx_state_name(int st)
{
	static const char *const names[] = {
		"pending", "deferred", "delivered", "bounced", "held",
	};

	return st >= 0 && st <= QIDX_HELD ? names[st] : "?";
}

int
qidx_foreach_due(struct qidx *q, long long now, int limit,
    int (*fn)(void *, const struct qidx_due *), void *arg)
{
	return qidx_foreach_due_after(q, now, NULL, limit, fn, arg);
}

int
qidx_foreach_due_after(struct qidx *q, long long now,
    const struct qidx_due *after, int limit,
    int (*fn)(void *, const struct qidx_due *), void *arg)
{
	sqlite3_stmt *st = q->due;
	struct qidx_due d;
	int r, n = 0;

	if (st == NULL)
		return -1;	/* read-only */
	(void)sqlite3_bind_int64(st, 1, now);
	(void)sqlite3_bind_int(st, 2, limit);
	/* Keyset: the rows after (next_try, id, idx) of after; the first
	 * page starts below every row (next_try is never negative). */
	(void)sqlite3_bind_int64(st, 3, after ? after->next_try : -1);
	(void)sqlite3_bind_text(st, 4, after ? after->id : "", -1,
	    SQLITE_TRANSIENT);
	(void)sqlite3_bind_int(st, 5, after ? after->idx : -1);
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		d.id = qidx_col(st, 0);
		d.idx = sqlite3_column_int(st, 1);
		d.addr = qidx_col(st, 2);
		d.domain = qidx_col(st, 3);
		d.attempts = sqlite3_column_int(st, 4);
		d.arrival = sqlite3_column_int64(st, 5);
		d.warned = sqlite3_column_int(st, 6);
		d.nrcpt = sqlite3_column_int(st, 7);
		d.next_try = sqlite3_column_int64(st, 8);
		d.size = sqlite3_column_int64(st, 9);
		n++;
		if (fn(arg, &d) == -1)
			break;
	}
	(void)sqlite3_reset(st);	/* error already in r */
	return r == SQLITE_ROW || r == SQLITE_DONE ? n : -1;
}

int
qidx_due_skip(struct qidx *q, const char *domain)
{
	int r;

	if (q->skip_add == NULL)
		return -1;	/* read-only */
	(void)sqlite3_bind_text(q->skip_add, 1, domain, -1, SQLITE_STATIC);
	r = sqlite3_step(q->skip_add);
	(void)sqlite3_reset(q->skip_add);
	(void)sqlite3_clear_bindings(q->skip_add);
	return r == SQLITE_DONE ? 0 : -1;
}

int
qidx_due_skip_clear(struct qidx *q)
{
	int r;

	if (q->skip_clear == NULL)
		return -1;
	r = sqlite3_step(q->skip_clear);
	(void)sqlite3_reset(q->skip_clear);
	return r == SQLITE_DONE ? 0 : -1;
}

/* Runs one write statement with an id (?1) and optional integer (?2, ?3,
 * ?4) and text (?5) parameters; returns the rows changed, or -1. */
static int
qidx_write(struct qidx *q, const char *sql, const char *id, int nint,
    const long long *ints, const char *text)
{
	sqlite3_stmt *st;
	int i, r;

	if (sqlite3_prepare_v2(q->db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (id != NULL)
		(void)sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	for (i = 0; i < nint; i++)
		(void)sqlite3_bind_int64(st, 2 + i, ints[i]);
	if (text != NULL)
		(void)sqlite3_bind_text(st, 2 + nint, text, -1, SQLITE_STATIC);
	r = sqlite3_step(st);
	sqlite3_finalize(st);
	return r == SQLITE_DONE ? sqlite3_changes(q->db) : -1;
}

int
qidx_rcpt_update(struct qidx *q, const char *id, int idx, int state,
    int attempts, long long next_try, const char *last_reply)
{
	sqlite3_stmt *st = q->upd_rcpt;

	if (st == NULL)
		return -1;	/* read-only */
	(void)sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	(void)sqlite3_bind_int(st, 2, idx);
	(void)sqlite3_bind_int(st, 3, state);
	(void)sqlite3_bind_int(st, 4, attempts);
	(void)sqlite3_bind_int64(st, 5, next_try);
	(void)sqlite3_bind_text(st, 6, last_reply, -1, SQLITE_STATIC);
	return qidx_step_done(st);
}

int
qidx_msg_done(struct qidx *q, const char *id)
{
	sqlite3_stmt *st = q->done;
	int n = -1;

	if (st == NULL)
		return -1;	/* read-only */
	(void)sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	(void)sqlite3_reset(st);	/* n stays -1 on error */
	return n == -1 ? -1 : n == 0;
}

int
qidx_msg_warned(struct qidx *q, const char *id)
{
	int n = qidx_write(q, "UPDATE msg SET warned = 1 WHERE id = ?1 AND "
	    "warned = 0", id, 0, NULL, NULL);

	return n == -1 ? -1 : n > 0;
}

int
qidx_flush(struct qidx *q, const char *id)
{
	if (id != NULL)
		return qidx_write(q, "UPDATE rcpt SET next_try = 0 WHERE"
		    " state = 1 AND id = ?1", id, 0, NULL, NULL);
	return qidx_write(q, "UPDATE rcpt SET next_try = 0 WHERE state = 1",
	    NULL, 0, NULL, NULL);
}

long long
qidx_next_due(struct qidx *q)
{
	sqlite3_stmt *st = q->next;
	long long t = 0;

	/* The first row of rcpt_todo that is not held: no scan of the
	 * pending rows (min() over a join read them all). */
	if (st == NULL)
		return 0;	/* read-only */
	if (sqlite3_step(st) == SQLITE_ROW)
		t = sqlite3_column_int64(st, 0);
	(void)sqlite3_reset(st);	/* 0 on error: run again soon */
	return t;
}

/* SQL est_next_hop(domain): the caller's next hop key of a domain. */
static void
qidx_sql_hop(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	struct qidx *q = sqlite3_user_data(ctx);
	const unsigned char *d = sqlite3_value_text(argv[0]);

	(void)argc;
	buf_reset(&q->hop_key);
	q->hop(q->hop_arg, d ? (const char *)d : "", &q->hop_key);
	sqlite3_result_text(ctx, buf_cstr(&q->hop_key), -1,
	    SQLITE_TRANSIENT);
}

int
qidx_set_hop(struct qidx *q, void (*fn)(void *, const char *, struct buf *),
    void *arg)
{
	q->hop = fn;
	q->hop_arg = arg;
	/* DIRECTONLY: never callable from anything stored in the file. */
	if (sqlite3_create_function(q->db, "est_next_hop", 1, SQLITE_UTF8 |
	    SQLITE_DIRECTONLY, q, qidx_sql_hop, NULL, NULL) != SQLITE_OK) {
		q->hop = NULL;
		return -1;
	}
	return 1;
}

/*
 * The SQL for a filter is made of fixed fragments only; every value the
 * operator gave is a bound parameter.
 */
static int
qidx_match_prepare(struct qidx *q, const struct qidx_filter *f,
    sqlite3_stmt **st)
{
	struct buf sql = BUF_INIT(0);
	int rcpt, n = 0, r;

	(void)buf_appends(&sql, "SELECT id, arrival, sender, size, nrcpt,"
	    " client, helo, hold FROM msg m WHERE 1");
	if (f->sender)
		(void)buf_appends(&sql, " AND m.sender = ?");
	if (f->before)
		(void)buf_appends(&sql, " AND m.arrival <= ?");
	if (f->state == QIDX_HELD)
		(void)buf_appends(&sql, " AND m.hold = 1");
	if (f->hop && q->hop == NULL)
		return -1;	/* no way to know the next hops */
	rcpt = f->rcpt || f->domain || f->reply || f->hop || (f->state >= 0 &&
	    f->state != QIDX_HELD);
	if (rcpt) {
		(void)buf_appends(&sql, " AND m.id IN (SELECT r.id FROM rcpt r"
		    " WHERE 1");
		if (f->rcpt)
			(void)buf_appends(&sql, " AND r.addr = ?");
		if (f->domain)
			(void)buf_appends(&sql, " AND r.domain = ?");
		if (f->reply)
			(void)buf_appends(&sql, " AND instr(r.last_reply, ?)"
			    " > 0");
		if (f->state >= 0 && f->state != QIDX_HELD)
			(void)buf_appends(&sql, " AND r.state = ?");
		if (f->hop)
			(void)buf_appends(&sql, " AND est_next_hop(r.domain)"
			    " = ?");
		(void)buf_appends(&sql, ")");
	}
	(void)buf_appends(&sql, " ORDER BY m.arrival, m.id");
	r = sqlite3_prepare_v2(q->db, buf_cstr(&sql), -1, st, NULL);
	buf_free(&sql);
	if (r != SQLITE_OK)
		return -1;
	if (f->sender)
		(void)sqlite3_bind_text(*st, ++n, f->sender, -1, SQLITE_STATIC);
	if (f->before)
		(void)sqlite3_bind_int64(*st, ++n, f->before);
	if (f->rcpt)
		(void)sqlite3_bind_text(*st, ++n, f->rcpt, -1, SQLITE_STATIC);
	if (f->domain)
		(void)sqlite3_bind_text(*st, ++n, f->domain, -1, SQLITE_STATIC);
	if (f->reply)
		(void)sqlite3_bind_text(*st, ++n, f->reply, -1, SQLITE_STATIC);
	if (f->state >= 0 && f->state != QIDX_HELD)
		(void)sqlite3_bind_int(*st, ++n, f->state);
	if (f->hop)
		(void)sqlite3_bind_text(*st, ++n, f->hop, -1, SQLITE_STATIC);
	return 1;
}

int
qidx_foreach_match(struct qidx *q, const struct qidx_filter *f,
    int (*fn)(void *, const struct qidx_msg *), void *arg)
{
	sqlite3_stmt *st;
	struct qidx_msg m;
	int r, n = 0;

	if (qidx_match_prepare(q, f, &st) == -1)
		return -1;
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		m.id = qidx_col(st, 0);
		m.arrival = sqlite3_column_int64(st, 1);
		m.sender = qidx_col(st, 2);
		m.size = sqlite3_column_int64(st, 3);
		m.nrcpt = sqlite3_column_int(st, 4);
		m.client = qidx_col(st, 5);
		m.helo = qidx_col(st, 6);
		m.hold = sqlite3_column_int(st, 7);
		n++;
		if (fn(arg, &m) == -1)
			break;
	}
	sqlite3_finalize(st);
	return r == SQLITE_ROW || r == SQLITE_DONE ? n : -1;
}

/* The age bucket of a message that arrived age seconds ago. */
static int
qidx_age_bucket(long long age)
{
	long long limit = 300;
	int b;

	for (b = 0; b < QIDX_AGE_BUCKETS - 1 && age >= limit; b++)
		limit *= 2;
	return b;
}

/* Domains of the shape, by name: open addressing, FNV-1a. */
struct qidx_dommap {
	size_t		*slot;		/* index into dom + 1; 0 = empty */
	size_t		 cap;
};

static size_t
qidx_hash(const char *s)
{
	size_t h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

static struct qidx_shape_domain *
qidx_dom_get(struct qidx_shape *sh, struct qidx_dommap *m, const char *d)
{
	size_t i, k;

	if (2 * (sh->ndom + 1) > m->cap) {
		size_t ncap = m->cap ? m->cap * 2 : 256, *ns;

		ns = xcalloc(ncap, sizeof(*ns));
		for (k = 0; k < m->cap; k++) {
			if (m->slot[k] == 0)
				continue;
			for (i = qidx_hash(sh->dom[m->slot[k] - 1].domain) &
			    (ncap - 1); ns[i] != 0; i = (i + 1) & (ncap - 1))
				;
			ns[i] = m->slot[k];
		}
		free(m->slot);
		m->slot = ns;
		m->cap = ncap;
		sh->dom = xrealloc(sh->dom, (ncap / 2) * sizeof(*sh->dom));
	}
	for (i = qidx_hash(d) & (m->cap - 1); m->slot[i] != 0;
	    i = (i + 1) & (m->cap - 1))
		if (strcmp(sh->dom[m->slot[i] - 1].domain, d) == 0)
			return &sh->dom[m->slot[i] - 1];
	sh->dom[sh->ndom].domain = xstrdup(d);
	sh->dom[sh->ndom].nmsg = sh->dom[sh->ndom].nrcpt = 0;
	m->slot[i] = ++sh->ndom;
	return &sh->dom[sh->ndom - 1];
}

static int
qidx_dom_cmp(const void *a, const void *b)
{
	const struct qidx_shape_domain *x = a, *y = b;

	if (x->nrcpt != y->nrcpt)
		return x->nrcpt > y->nrcpt ? -1 : 1;
	return strcmp(x->domain, y->domain);
}

int
qidx_shape(struct qidx *q, long long now, struct qidx_shape *sh)
{
	struct qidx_dommap map = { NULL, 0 };
	struct qidx_shape_domain *d;
	size_t *seen = NULL, di;
	sqlite3_stmt *st;
	char prev[SPOOL_ID_LEN + 1] = "";
	const char *id;
	size_t nseen = 0, capseen = 0, k;
	int r, b = 0;

	memset(sh, 0, sizeof(*sh));
	/* CROSS JOIN keeps msg the outer loop: the rows of one message
	 * come together, so per-message counts need no set of ids. */
	if (sqlite3_prepare_v2(q->db, "SELECT m.id, m.arrival, r.domain FROM"
	    " msg m CROSS JOIN rcpt r ON r.id = m.id WHERE r.state IN (0, 1)",
	    -1, &st, NULL) != SQLITE_OK)
		return -1;
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		id = qidx_col(st, 0);
		if (strcmp(id, prev) != 0) {
			(void)snprintf(prev, sizeof(prev), "%s", id);
			b = qidx_age_bucket(now - sqlite3_column_int64(st, 1));
			sh->age_msg[b]++;
			nseen = 0;
		}
		sh->age_rcpt[b]++;
		/* Indexes, not pointers: sh->dom moves as it grows. */
		d = qidx_dom_get(sh, &map, qidx_col(st, 2));
		d->nrcpt++;
		di = (size_t)(d - sh->dom);
		for (k = 0; k < nseen && seen[k] != di; k++)
			;
		if (k < nseen)
			continue;
		d->nmsg++;
		if (nseen == capseen) {
			capseen = capseen ? capseen * 2 : 16;
			seen = xrealloc(seen, capseen * sizeof(*seen));
		}
		seen[nseen++] = di;
	}
	sqlite3_finalize(st);
	free(seen);
	free(map.slot);
	if (r != SQLITE_DONE) {
		qidx_shape_free(sh);
		return -1;
	}
	if (sh->ndom > 1)
		qsort(sh->dom, sh->ndom, sizeof(*sh->dom), qidx_dom_cmp);
	return 1;
}

void
qidx_shape_free(struct qidx_shape *sh)
{
	size_t i;

	for (i = 0; i < sh->ndom; i++)
		free(sh->dom[i].domain);
	free(sh->dom);
	memset(sh, 0, sizeof(*sh));
}

int
qidx_hold(struct qidx *q, const char *id, int on)
{
	const long long v[1] = { on ? 1 : 0 };

	return qidx_write(q, "UPDATE msg SET hold = ?2 WHERE id = ?1", id, 1,
	    v, NULL);
}

/* ------------------------------------------------------------ timeline */

static void
qidx_bind_opt(sqlite3_stmt *st, int i, const char *s)
{
	if (s != NULL && s[0] != '\0')
		(void)sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
	else
		(void)sqlite3_bind_null(st, i);
}

int
qidx_attempt_add(struct qidx *q, const char *id, const struct qidx_attempt *a)
{
	sqlite3_stmt *st = q->add_att;

	if (st == NULL)
		return -1;
	(void)sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	(void)sqlite3_bind_int(st, 2, a->idx);
	(void)sqlite3_bind_int64(st, 3, a->t);
	(void)sqlite3_bind_text(st, 4, a->kind, -1, SQLITE_STATIC);
	(void)sqlite3_bind_int(st, 5, a->attempt);
	(void)sqlite3_bind_int(st, 6, a->state);
	qidx_bind_opt(st, 7, a->route);
	qidx_bind_opt(st, 8, a->mx);
	qidx_bind_opt(st, 9, a->tried);
	qidx_bind_opt(st, 10, a->tls);
	qidx_bind_opt(st, 11, a->reply);
	(void)sqlite3_bind_int64(st, 12, a->next_try);
	qidx_bind_opt(st, 13, a->why);
	if (qidx_step_done(st) == -1)
		return -1;
	st = q->trim_att;
	(void)sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	(void)sqlite3_bind_int(st, 2, a->idx);
	(void)sqlite3_bind_int(st, 3, QIDX_ATTEMPTS_KEPT);
	return qidx_step_done(st);
}

int
qidx_foreach_attempt(struct qidx *q, const char *id, int idx,
    int (*fn)(void *, const struct qidx_attempt *), void *arg)
{
	sqlite3_stmt *st;
	struct qidx_attempt a;
	int r, n = 0;

	if (q->version < 2)
		return 0;	/* an index from before the timeline */
	if (sqlite3_prepare_v2(q->db, "SELECT idx, seq, t, kind, attempt,"
	    " state, route, mx, tried, tls, reply, next_try, why FROM attempt"
	    " WHERE id = ?1 AND (?2 < 0 OR idx = ?2) ORDER BY idx, seq", -1,
	    &st, NULL) != SQLITE_OK)
		return -1;
	(void)sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	(void)sqlite3_bind_int(st, 2, idx);
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		a.idx = sqlite3_column_int(st, 0);
		a.seq = sqlite3_column_int(st, 1);
		a.t = sqlite3_column_int64(st, 2);
		a.kind = qidx_col(st, 3);
		a.attempt = sqlite3_column_int(st, 4);
		a.state = sqlite3_column_int(st, 5);
		a.route = qidx_col(st, 6);
		a.mx = qidx_col(st, 7);
		a.tried = qidx_col(st, 8);
		a.tls = qidx_col(st, 9);
		a.reply = qidx_col(st, 10);
		a.next_try = sqlite3_column_int64(st, 11);
		a.why = qidx_col(st, 12);
		n++;
		if (fn(arg, &a) == -1)
			break;
	}
	sqlite3_finalize(st);
	return r == SQLITE_ROW || r == SQLITE_DONE ? n : -1;
}

/* ------------------------------------------------------------ throttling */

int
qidx_dest_put(struct qidx *q, const struct qidx_dest *d)
{
	sqlite3_stmt *st;
	int r;

	if (sqlite3_prepare_v2(q->db, d->limit > 0 ?
	    "INSERT OR REPLACE INTO dest(key, lim, pace, ok, updated, reason)"
	    " VALUES(?1, ?2, ?3, ?4, ?5, ?6)" :
	    "DELETE FROM dest WHERE key = ?1", -1, &st, NULL) != SQLITE_OK)
		return -1;
	(void)sqlite3_bind_text(st, 1, d->key, -1, SQLITE_STATIC);
	if (d->limit > 0) {
		(void)sqlite3_bind_int(st, 2, d->limit);
		(void)sqlite3_bind_int64(st, 3, d->pace_ms);
		(void)sqlite3_bind_int(st, 4, d->ok);
		(void)sqlite3_bind_int64(st, 5, d->updated);
		qidx_bind_opt(st, 6, d->reason);
	}
	r = sqlite3_step(st);
	sqlite3_finalize(st);
	return r == SQLITE_DONE ? 1 : -1;
}

int
qidx_foreach_dest(struct qidx *q, int (*fn)(void *, const struct qidx_dest *),
    void *arg)
{
	sqlite3_stmt *st;
	struct qidx_dest d;
	int r, n = 0;

	if (q->version < 2)
		return 0;
	if (sqlite3_prepare_v2(q->db, "SELECT key, lim, pace, ok, updated,"
	    " reason FROM dest ORDER BY key", -1, &st, NULL) != SQLITE_OK)
		return -1;
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		d.key = qidx_col(st, 0);
		d.limit = sqlite3_column_int(st, 1);
		d.pace_ms = sqlite3_column_int64(st, 2);
		d.ok = sqlite3_column_int(st, 3);
		d.updated = sqlite3_column_int64(st, 4);
		d.reason = qidx_col(st, 5);
		n++;
		if (fn(arg, &d) == -1)
			break;
	}
	sqlite3_finalize(st);
	return r == SQLITE_ROW || r == SQLITE_DONE ? n : -1;
}

int
qidx_requeue(struct qidx *q, const char *id)
{
	return qidx_write(q, "UPDATE rcpt SET next_try = 0 WHERE"
	    " state IN (0, 1) AND id = ?1", id, 0, NULL, NULL);
}
