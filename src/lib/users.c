/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * The users database: see users.h. Statements are prepared on first use
 * and kept. Password copies (the NUL-terminated phrase and libcrypt's
 * struct crypt_data) live on the heap only as long as one crypt_r call and
 * are wiped before release. Nothing here logs.
 */
#include "config.h"

#include <sys/stat.h>

#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <sqlite3.h>

#include "lib/addr.h"
#include "lib/buf.h"
#include "lib/dbharden.h"
#include "lib/users.h"
#include "lib/xalloc.h"

#define USERS_SCHEMA_VERSION	"1"
#define USERS_ALIAS_DEPTH	8

_Static_assert(USERS_PASSWD_MAX < CRYPT_MAX_PASSPHRASE_SIZE,
    "libxcrypt refuses passphrases of CRYPT_MAX_PASSPHRASE_SIZE octets");
#define USERS_ADDR_MAX		1024	/* canonical form, quoted */

/*
 * Hash of a random throw-away password with libcrypt's default yescrypt
 * cost ("$y$j9T$", the same as crypt_gensalt_rn("$y$", 0, ...) gives), so
 * that checking a password of an unknown user costs what a real one does.
 */
static const char users_dummy_hash[] =
    "$y$j9T$/1AWPrpnbedK/kRzm7rJy/$F3YLMvPFkrWyS/a1M62kD51QM49RyvNji.yAtCtAp91";

enum users_sql {
	SQL_USER_GET,
	SQL_USER_ADD,
	SQL_USER_PASSWD,
	SQL_USER_ENABLE,
	SQL_USER_DEL,
	SQL_USER_SENDERS_DEL,
	SQL_USER_EXISTS,
	SQL_ALIAS_GET,
	SQL_ALIAS_ADD,
	SQL_ALIAS_DEL,
	SQL_SENDER_OK,
	SQL_SENDER_ADD,
	SQL_SENDER_DEL,
	SQL_USER_LIST,
	SQL_ALIAS_LIST,
	SQL_SENDER_LIST,
	SQL_USER_QUOTA_GET,
	SQL_USER_QUOTA_SET,
	SQL_COUNT
};

static const char *const users_sql_text[SQL_COUNT] = {
	[SQL_USER_GET] = "SELECT address, hash, enabled FROM users"
	    " WHERE address = ?1",
	[SQL_USER_ADD] = "INSERT INTO users(address, hash, enabled, created)"
	    " VALUES(?1, ?2, 1, ?3)",
	[SQL_USER_PASSWD] = "UPDATE users SET hash = ?2 WHERE address = ?1",
	[SQL_USER_ENABLE] = "UPDATE users SET enabled = ?2 WHERE address = ?1",
	[SQL_USER_DEL] = "DELETE FROM users WHERE address = ?1",
	[SQL_USER_SENDERS_DEL] = "DELETE FROM senders WHERE login = ?1",
	[SQL_USER_EXISTS] = "SELECT 1 FROM users WHERE address = ?1",
	[SQL_ALIAS_GET] = "SELECT target FROM aliases WHERE alias = ?1",
	[SQL_ALIAS_ADD] = "INSERT INTO aliases(alias, target) VALUES(?1, ?2)",
	[SQL_ALIAS_DEL] = "DELETE FROM aliases WHERE alias = ?1",
	[SQL_SENDER_OK] = "SELECT 1 FROM senders WHERE login = ?1"
	    " AND (pattern = ?2 OR pattern = ?3)",
	[SQL_SENDER_ADD] = "INSERT INTO senders(login, pattern)"
	    " VALUES(?1, ?2)",
	[SQL_SENDER_DEL] = "DELETE FROM senders WHERE login = ?1"
	    " AND pattern = ?2",
	[SQL_USER_LIST] = "SELECT address, enabled FROM users"
	    " ORDER BY address",
	[SQL_ALIAS_LIST] = "SELECT alias, target FROM aliases ORDER BY alias",
	[SQL_USER_QUOTA_GET] = "SELECT quota_bytes FROM users"
	    " WHERE address = ?1 AND enabled = 1",
	[SQL_USER_QUOTA_SET] = "UPDATE users SET quota_bytes = ?2"
	    " WHERE address = ?1",
	[SQL_SENDER_LIST] = "SELECT login, pattern FROM senders"
	    " ORDER BY login, pattern",
};

static const char users_schema[] =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);"
    "CREATE TABLE IF NOT EXISTS users("
    " address TEXT NOT NULL PRIMARY KEY COLLATE NOCASE,"
    " hash TEXT NOT NULL,"
    " enabled INTEGER NOT NULL DEFAULT 1,"
    " quota_bytes INTEGER NOT NULL DEFAULT 0,"
    " created INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS aliases("
    " alias TEXT NOT NULL PRIMARY KEY COLLATE NOCASE,"
    " target TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS senders("
    " login TEXT NOT NULL COLLATE NOCASE,"
    " pattern TEXT NOT NULL COLLATE NOCASE,"
    " PRIMARY KEY(login, pattern));"
    "INSERT OR IGNORE INTO meta VALUES('schema', '" USERS_SCHEMA_VERSION "');";

struct users {
	sqlite3		*db;
	int		 writable;
	sqlite3_stmt	*st[SQL_COUNT];
	char		 err[256];	/* last database error text */
};

/* ------------------------------------------------------------ helpers */

/* Records the database's error text; returns it for *errstr_r. */
static const char *
users_dberr(struct users *u)
{
	(void)snprintf(u->err, sizeof(u->err), "database error: %s",
	    sqlite3_errmsg(u->db));	/* may cut a long message */
	return u->err;
}

static void
users_seterr(const char **errstr_r, const char *s)
{
	if (errstr_r != NULL)
		*errstr_r = s;
}

/* The statement `which`, reset and with its bindings cleared. */
static sqlite3_stmt *
users_stmt(struct users *u, enum users_sql which)
{
	sqlite3_stmt *st = u->st[which];

	if (st == NULL) {
		if (sqlite3_prepare_v3(u->db, users_sql_text[which], -1,
		    SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK)
			return NULL;
		u->st[which] = st;
	}
	(void)sqlite3_reset(st);		/* an old error; seen before */
	(void)sqlite3_clear_bindings(st);	/* always SQLITE_OK */
	return st;
}

/* Column i of the current row as text; "" for NULL. */
static const char *
users_col(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	return t ? (const char *)t : "";
}

static int
users_bind(sqlite3_stmt *st, int i, const char *s)
{
	return sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC) == SQLITE_OK ?
	    1 : -1;
}

/* Steps st once; 1 row, 0 done, -1 error. Resets st unless a row. */
static int
users_step(sqlite3_stmt *st)
{
	int r = sqlite3_step(st);

	if (r == SQLITE_ROW)
		return 1;
	(void)sqlite3_reset(st);	/* the error is in r */
	return r == SQLITE_DONE ? 0 : -1;
}

/* Runs a write statement with up to two text arguments; changed rows. */
static int
users_write(struct users *u, enum users_sql which, const char *a,
    const char *b)
{
	sqlite3_stmt *st = users_stmt(u, which);

	if (st == NULL || users_bind(st, 1, a) == -1 ||
	    (b != NULL && users_bind(st, 2, b) == -1))
		return -1;
	if (users_step(st) != 0)
		return -1;
	return sqlite3_changes(u->db);
}

/* 1 when the (one text argument) query has a row, 0 not, -1 error. */
static int
users_exists(struct users *u, enum users_sql which, const char *a)
{
	sqlite3_stmt *st = users_stmt(u, which);
	int r;

	if (st == NULL || users_bind(st, 1, a) == -1)
		return -1;
	r = users_step(st);
	(void)sqlite3_reset(st);	/* result already in r */
	return r;
}

static int
users_exec(struct users *u, const char *sql)
{
	return sqlite3_exec(u->db, sql, NULL, NULL, NULL) == SQLITE_OK ?
	    1 : -1;
}

static int
users_begin(struct users *u)
{
	return users_exec(u, "BEGIN IMMEDIATE");
}

/*
 * Ends a transaction begun by users_begin: commits when ok == 1, else rolls
 * back. Returns ok, or -1 (with the error text) when the commit fails.
 */
static int
users_finish(struct users *u, int ok, const char **errstr_r)
{
	if (ok == 1) {
		if (users_exec(u, "COMMIT") == 1)
			return 1;
		users_seterr(errstr_r, users_dberr(u));
		ok = -1;
	}
	/* Nothing to undo when the failure ended the transaction already. */
	(void)sqlite3_exec(u->db, "ROLLBACK", NULL, NULL, NULL);
	return ok;
}

/*
 * Parses a mailbox into its canonical form in out (reset first). With
 * a_r, also hands back the parsed address. -1 when invalid.
 */
static int
users_canon(const char *s, struct buf *out, struct addr **a_r)
{
	struct addr *a = NULL;
	const char *err;

	buf_reset(out);
	if (s == NULL || addr_parse_mailbox(s, strlen(s), ADDR_ALLOW_UTF8, &a,
	    &err) == -1)
		return -1;
	if (addr_format(a, out) == -1) {
		addr_free(&a);
		return -1;
	}
	if (a_r != NULL)
		*a_r = a;
	else
		addr_free(&a);
	return 1;
}

static int
users_writable(struct users *u, const char **errstr_r)
{
	if (u->writable)
		return 1;
	users_seterr(errstr_r, "database opened read-only");
	return -1;
}

/* -------------------------------------------------------- passwords */

static int
users_pw_ok(const char *pw, size_t pwlen, const char **errstr_r)
{
	if (pw == NULL || pwlen == 0 || pwlen > USERS_PASSWD_MAX) {
		users_seterr(errstr_r, "invalid password length");
		return -1;
	}
	if (memchr(pw, '\0', pwlen) != NULL) {
		users_seterr(errstr_r, "password contains NUL");
		return -1;
	}
	return 1;
}

/*
 * crypt_r(pw, setting). 1 with *out_r (malloc'd hash) or -1 when libcrypt
 * fails or refuses the setting. The phrase copy and crypt_data are wiped.
 */
static int
users_crypt(const char *pw, size_t pwlen, const char *setting, char **out_r)
{
	struct crypt_data *cd = xcalloc(1, sizeof(*cd));
	char *phrase = xmalloc(pwlen + 1);
	const char *h;
	int r = -1;

	memcpy(phrase, pw, pwlen);
	phrase[pwlen] = '\0';
	h = crypt_r(phrase, setting, cd);
	if (h != NULL && h[0] != '*' && h[0] != '\0') {
		*out_r = xstrdup(h);
		r = 1;
	}
	xbzero(phrase, pwlen + 1);
	xbzero(cd, sizeof(*cd));
	free(phrase);
	free(cd);
	return r;
}

/* A new yescrypt hash of pw (valid length, no NUL). */
static int
users_hash(const char *pw, size_t pwlen, char **hash_r,
    const char **errstr_r)
{
	char salt[CRYPT_GENSALT_OUTPUT_SIZE];

	if (users_pw_ok(pw, pwlen, errstr_r) == -1)
		return -1;
	if (crypt_gensalt_rn("$y$", 0, NULL, 0, salt, sizeof(salt)) == NULL ||
	    users_crypt(pw, pwlen, salt, hash_r) == -1) {
		users_seterr(errstr_r, "cannot hash the password (libcrypt)");
		return -1;
	}
	return 1;
}

/* --------------------------------------------------------- open/close */

/*
 * Opens (and, when writable, creates with mode 0600) path without
 * following a symbolic link, and checks it is a private regular file.
 */
static int
users_check_file(const char *path, int writable, const char **errstr_r)
{
	static char err[256];
	struct stat sb;
	int fd, e;

	fd = open(path, (writable ? O_RDWR | O_CREAT : O_RDONLY) | O_NOFOLLOW |
	    O_CLOEXEC | O_NOCTTY, 0600);
	if (fd == -1) {
		e = errno;
		(void)snprintf(err, sizeof(err), "%s", e == ELOOP ?
		    "is a symbolic link" : strerror(e));
		*errstr_r = err;
		return -1;
	}
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode)) {
		*errstr_r = "not a regular file";
		(void)close(fd);	/* read-only use: nothing to lose */
		return -1;
	}
	(void)close(fd);	/* nothing written through it */
	if (sb.st_mode & 077) {
		(void)snprintf(err, sizeof(err), "mode %04o: accessible by "
		    "group or others (it holds password hashes: chmod 600 it)",
		    (unsigned)(sb.st_mode & 07777));
		*errstr_r = err;
		return -1;
	}
	return 1;
}

static int
users_schema_ok(struct users *u, const char **errstr_r)
{
	sqlite3_stmt *st;
	const unsigned char *v;
	int r, ok;

	if (sqlite3_prepare_v2(u->db, "SELECT value FROM meta WHERE key ="
	    " 'schema'", -1, &st, NULL) != SQLITE_OK) {
		static char err[256];

		/* "no such table" is a file that is not ours; anything else
		 * (permissions, locking) is said as SQLite says it. */
		(void)snprintf(err, sizeof(err), "%s", strstr(sqlite3_errmsg(
		    u->db), "no such table") ? "not a users database (no "
		    "schema)" : sqlite3_errmsg(u->db));	/* may cut */
		*errstr_r = err;
		return -1;
	}
	r = sqlite3_step(st);
	v = r == SQLITE_ROW ? sqlite3_column_text(st, 0) : NULL;
	ok = v != NULL && strcmp((const char *)v, USERS_SCHEMA_VERSION) == 0;
	sqlite3_finalize(st);
	if (!ok) {
		*errstr_r = r == SQLITE_ROW ? "unsupported users database "
		    "schema version" : "not a users database (no schema)";
		return -1;
	}
	return 1;
}

/* 1 when the database has no table yet, 0 when it has, -1 error. */
static int
users_empty(struct users *u)
{
	sqlite3_stmt *st;
	int r;

	if (sqlite3_prepare_v2(u->db, "SELECT count(*) FROM sqlite_master",
	    -1, &st, NULL) != SQLITE_OK)
		return -1;
	r = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) == 0 :
	    -1;
	sqlite3_finalize(st);
	return r;
}

int
users_open(const char *path, int writable, struct users **u_r,
    const char **errstr_r)
{
	static char err[256];
	const char *ignored;
	struct users *u;
	int flags, r;

	*u_r = NULL;
	if (errstr_r == NULL)
		errstr_r = &ignored;
	if (users_check_file(path, writable, errstr_r) == -1)
		return -1;
	u = xcalloc(1, sizeof(*u));
	u->writable = writable;
	flags = (writable ? SQLITE_OPEN_READWRITE : SQLITE_OPEN_READONLY) |
	    SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW;
	if (sqlite3_open_v2(path, &u->db, flags, NULL) != SQLITE_OK)
		goto dberr;
	(void)sqlite3_busy_timeout(u->db, 5000);	/* always SQLITE_OK */
	/* run_user can write the file; root's estafetactl writes it too. */
	if (db_harden(u->db) == -1) {
		*errstr_r = "SQLite cannot run in defensive mode";
		goto fail;
	}
	if (writable) {
		if (users_begin(u) == -1)
			goto dberr;
		/* Only an empty file gets the schema; others are checked. */
		if ((r = users_empty(u)) == -1 || (r == 1 &&
		    users_exec(u, users_schema) == -1)) {
			(void)snprintf(err, sizeof(err), "%s",
			    sqlite3_errmsg(u->db));	/* may cut */
			*errstr_r = err;
			(void)users_finish(u, -1, NULL);	/* -1 */
			goto fail;
		}
		if (users_schema_ok(u, errstr_r) == -1) {
			(void)users_finish(u, -1, NULL);	/* -1 */
			goto fail;
		}
		if (users_exec(u, "COMMIT") == -1 ||
		    /* A rollback journal, not WAL: readers (smtpd, the store)
		     * run as other users and may not be able to create the
		     * -shm file WAL needs beside the database; the users
		     * database is small and rarely written. */
		    users_exec(u, "PRAGMA journal_mode=DELETE;"
		    "PRAGMA secure_delete=ON;") == -1)
			goto dberr;
	} else {
		if (users_exec(u, "PRAGMA query_only=1") == -1)
			goto dberr;
		if (users_schema_ok(u, errstr_r) == -1)
			goto fail;
	}
	*u_r = u;
	return 1;
dberr:
	(void)snprintf(err, sizeof(err), "%s", u->db ? sqlite3_errmsg(u->db) :
	    "out of memory");	/* may cut a long message */
	*errstr_r = err;
fail:
	users_close(&u);
	return -1;
}

void
users_close(struct users **up)
{
	struct users *u;
	int i;

	if (up == NULL || (u = *up) == NULL)
		return;
	for (i = 0; i < SQL_COUNT; i++)
		sqlite3_finalize(u->st[i]);
	(void)sqlite3_close(u->db);	/* statements finalized above */
	free(u);
	*up = NULL;
}

/* ------------------------------------------------------------ lookups */

int
users_verify(struct users *u, const char *login, const char *pw,
    size_t pwlen)
{
	struct buf canon = BUF_INIT(USERS_ADDR_MAX);
	sqlite3_stmt *st = NULL;
	char *stored = NULL, *out = NULL;
	int enabled = 0, r, rc = -1;

	if (pw == NULL || pwlen == 0 || pwlen > USERS_PASSWD_MAX)
		return 0;	/* independent of the user: no timing leak */
	if (users_canon(login, &canon, NULL) == 1) {
		if ((st = users_stmt(u, SQL_USER_GET)) == NULL ||
		    users_bind(st, 1, canon.data) == -1 ||
		    (r = users_step(st)) == -1)
			goto out;
		if (r == 1) {
			stored = xstrdup(users_col(st, 1));
			enabled = sqlite3_column_int(st, 2);
			(void)sqlite3_reset(st);	/* done with the row */
		}
	}
	if (users_crypt(pw, pwlen, stored ? stored : users_dummy_hash,
	    &out) == -1) {
		/* A stored hash libcrypt refuses matches nothing. */
		rc = stored ? 0 : -1;
		goto out;
	}
	rc = stored != NULL && enabled && memchr(pw, '\0', pwlen) == NULL &&
	    strlen(out) == strlen(stored) &&
	    CRYPTO_memcmp(out, stored, strlen(out)) == 0;
out:
	free(stored);
	free(out);
	buf_free(&canon);
	return rc;
}

/* One step of users_lookup for the canonical address cur. */
enum users_hit { HIT_NONE, HIT_USER, HIT_DISABLED, HIT_ALIAS, HIT_ERR };

static enum users_hit
users_lookup_one(struct users *u, const char *cur, char **next_r)
{
	sqlite3_stmt *st;
	int r;

	if ((st = users_stmt(u, SQL_USER_GET)) == NULL ||
	    users_bind(st, 1, cur) == -1 || (r = users_step(st)) == -1)
		return HIT_ERR;
	if (r == 1) {
		*next_r = xstrdup(users_col(st, 0));
		r = sqlite3_column_int(st, 2);
		(void)sqlite3_reset(st);	/* done with the row */
		return r ? HIT_USER : HIT_DISABLED;
	}
	if ((st = users_stmt(u, SQL_ALIAS_GET)) == NULL ||
	    users_bind(st, 1, cur) == -1 || (r = users_step(st)) == -1)
		return HIT_ERR;
	if (r == 0)
		return HIT_NONE;
	*next_r = xstrdup(users_col(st, 0));
	(void)sqlite3_reset(st);	/* done with the row */
	return HIT_ALIAS;
}

/* "local+detail@domain" -> "local@domain" in out; 0 when no detail. */
static int
users_strip_detail(const char *cur, struct buf *out)
{
	struct addr *a = NULL;
	struct addr b;
	char *plus;
	int r = 0;

	if (users_canon(cur, out, &a) == -1)
		return -1;
	buf_reset(out);
	plus = strchr(a->local, '+');
	if (plus != NULL && plus != a->local) {
		b = *a;
		*plus = '\0';
		r = addr_format(&b, out) == 1 ? 1 : -1;
	}
	addr_free(&a);
	return r;
}

int
users_lookup(struct users *u, const char *address, char **target_r)
{
	struct buf cur = BUF_INIT(USERS_ADDR_MAX);
	struct buf tmp = BUF_INIT(USERS_ADDR_MAX);
	enum users_hit h;
	char *next = NULL;
	int depth, rc = -1;

	*target_r = NULL;
	if (users_canon(address, &cur, NULL) == -1) {
		rc = 0;
		goto out;
	}
	for (depth = 0; depth <= USERS_ALIAS_DEPTH; depth++) {
		h = users_lookup_one(u, cur.data, &next);
		if (h == HIT_NONE && users_strip_detail(cur.data, &tmp) == 1)
			h = users_lookup_one(u, tmp.data, &next);
		switch (h) {
		case HIT_ERR:
			goto out;
		case HIT_DISABLED:
			rc = 0;
			goto out;
		case HIT_USER:
			*target_r = next;
			next = NULL;
			rc = 1;
			goto out;
		case HIT_NONE:
			/* Not ours: unknown, or the end of a forward. */
			if (depth > 0)
				*target_r = buf_steal(&cur);
			rc = depth > 0;
			goto out;
		case HIT_ALIAS:
			if (users_canon(next, &cur, NULL) == -1)
				goto out;	/* a bad target in the db */
			free(next);
			next = NULL;
			break;
		}
	}
	/* More than USERS_ALIAS_DEPTH aliases: a loop or too deep. */
out:
	free(next);
	buf_free(&cur);
	buf_free(&tmp);
	return rc;
}

int
users_sender_ok(struct users *u, const char *login, const char *sender)
{
	struct buf l = BUF_INIT(USERS_ADDR_MAX), s = BUF_INIT(USERS_ADDR_MAX);
	struct buf d = BUF_INIT(USERS_ADDR_MAX);
	struct addr *a = NULL;
	sqlite3_stmt *st;
	int rc = 0;

	if (users_canon(login, &l, NULL) == -1 ||
	    users_canon(sender, &s, &a) == -1)
		goto out;
	if (strcasecmp(l.data, s.data) == 0) {
		rc = 1;
		goto out;
	}
	if (buf_appendf(&d, "@%s", a->domain) == -1)
		goto out;
	if ((st = users_stmt(u, SQL_SENDER_OK)) == NULL ||
	    users_bind(st, 1, l.data) == -1 ||
	    users_bind(st, 2, s.data) == -1 ||
	    users_bind(st, 3, d.data) == -1) {
		rc = -1;
		goto out;
	}
	rc = users_step(st);
	(void)sqlite3_reset(st);	/* result already in rc */
out:
	addr_free(&a);
	buf_free(&l);
	buf_free(&s);
	buf_free(&d);
	return rc;
}

/* ------------------------------------------------------------- writes */

/*
 * 1 when the canonical address a is neither a user nor an alias; else -1
 * with "user exists", "alias exists" or the database error.
 */
static int
users_unused(struct users *u, const char *a, const char **errstr_r)
{
	int r;

	if ((r = users_exists(u, SQL_USER_EXISTS, a)) == 1) {
		users_seterr(errstr_r, "user exists");
		return -1;
	}
	if (r == 0 && (r = users_exists(u, SQL_ALIAS_GET, a)) == 1) {
		users_seterr(errstr_r, "alias exists");
		return -1;
	}
	if (r == -1) {
		users_seterr(errstr_r, users_dberr(u));
		return -1;
	}
	return 1;
}

int
users_add(struct users *u, const char *address, const char *pw,
    size_t pwlen, const char **errstr_r)
{
	struct buf a = BUF_INIT(USERS_ADDR_MAX);
	char *hash = NULL;
	sqlite3_stmt *st;
	int r;

	if (users_writable(u, errstr_r) == -1)
		return -1;
	if (users_canon(address, &a, NULL) == -1) {
		users_seterr(errstr_r, "invalid address");
		return -1;
	}
	if (users_hash(pw, pwlen, &hash, errstr_r) == -1) {
		buf_free(&a);
		return -1;
	}
	if (users_begin(u) == -1) {
		users_seterr(errstr_r, users_dberr(u));
		r = -1;
		goto out;
	}
	if ((r = users_unused(u, a.data, errstr_r)) == 1) {
		st = users_stmt(u, SQL_USER_ADD);
		if (st == NULL || users_bind(st, 1, a.data) == -1 ||
		    users_bind(st, 2, hash) == -1 ||
		    sqlite3_bind_int64(st, 3, (sqlite3_int64)time(NULL)) !=
		    SQLITE_OK || users_step(st) != 0) {
			users_seterr(errstr_r, users_dberr(u));
			r = -1;
		}
	}
	r = users_finish(u, r, errstr_r);
out:
	free(hash);
	buf_free(&a);
	return r;
}

/* One UPDATE/DELETE by canonical address; 0 "no such user". */
static int
users_update(struct users *u, enum users_sql which, const char *address,
    const char *value, const char **errstr_r)
{
	struct buf a = BUF_INIT(USERS_ADDR_MAX);
	int r;

	if (users_writable(u, errstr_r) == -1)
		return -1;
	if (users_canon(address, &a, NULL) == -1) {
		users_seterr(errstr_r, "invalid address");
		return -1;
	}
	r = users_write(u, which, a.data, value);
	buf_free(&a);
	if (r == -1) {
		users_seterr(errstr_r, users_dberr(u));
		return -1;
	}
	if (r == 0) {
		users_seterr(errstr_r, "no such user");
		return 0;
	}
	return 1;
}

int
users_quota(struct users *u, const char *address, unsigned long long *q_r)
{
	struct buf a = BUF_INIT(USERS_ADDR_MAX);
	sqlite3_stmt *st;
	sqlite3_int64 v;
	int r = -1;

	*q_r = 0;
	if (users_canon(address, &a, NULL) == -1) {
		buf_free(&a);
		return 0;
	}
	if ((st = users_stmt(u, SQL_USER_QUOTA_GET)) != NULL &&
	    users_bind(st, 1, a.data) != -1 && (r = users_step(st)) == 1) {
		v = sqlite3_column_int64(st, 0);
		*q_r = v > 0 ? (unsigned long long)v : 0;
		(void)sqlite3_reset(st);	/* done with the row */
	}
	buf_free(&a);
	return r;
}

int
users_set_quota(struct users *u, const char *address,
    unsigned long long bytes, const char **errstr_r)
{
	char v[32];

	if (bytes > INT64_MAX) {
		users_seterr(errstr_r, "quota too large");
		return -1;
	}
	(void)snprintf(v, sizeof(v), "%llu", bytes);	/* fits */
	return users_update(u, SQL_USER_QUOTA_SET, address, v, errstr_r);
}

int
users_passwd(struct users *u, const char *address, const char *pw,
    size_t pwlen, const char **errstr_r)
{
	char *hash = NULL;
	int r;

	if (users_writable(u, errstr_r) == -1)
		return -1;
	if (users_hash(pw, pwlen, &hash, errstr_r) == -1)
		return -1;
	r = users_update(u, SQL_USER_PASSWD, address, hash, errstr_r);
	free(hash);
	return r;
}

int
users_set_enabled(struct users *u, const char *address, int enabled,
    const char **errstr_r)
{
	return users_update(u, SQL_USER_ENABLE, address, enabled ? "1" : "0",
	    errstr_r);
}

int
users_del(struct users *u, const char *address, const char **errstr_r)
{
	struct buf a = BUF_INIT(USERS_ADDR_MAX);
	int r;

	if (users_writable(u, errstr_r) == -1)
		return -1;
	if (users_canon(address, &a, NULL) == -1) {
		users_seterr(errstr_r, "invalid address");
		return -1;
	}
	if ((r = users_begin(u)) == 1 &&
	    (r = users_write(u, SQL_USER_DEL, a.data, NULL)) > 0)
		r = users_write(u, SQL_USER_SENDERS_DEL, a.data, NULL) >= 0 ?
		    1 : -1;
	if (r == -1)
		users_seterr(errstr_r, users_dberr(u));
	else if (r == 0)
		users_seterr(errstr_r, "no such user");
	r = users_finish(u, r, errstr_r);
	buf_free(&a);
	return r;
}

/* A sender pattern in canonical form: a mailbox, or "@domain". */
static int
users_pattern(const char *pattern, struct buf *out, const char **errstr_r)
{
	struct buf tmp = BUF_INIT(USERS_ADDR_MAX);
	struct addr *a = NULL;
	int r = -1;

	if (pattern == NULL || pattern[0] != '@') {
		if ((r = users_canon(pattern, out, NULL)) == -1)
			users_seterr(errstr_r, "invalid address");
		return r;
	}
	if (buf_appendf(&tmp, "x%s", pattern) == 1 &&
	    users_canon(tmp.data, out, &a) == 1) {
		buf_reset(out);
		if (buf_appendf(out, "@%s", a->domain) == 1)
			r = 1;
	}
	if (r == -1)
		users_seterr(errstr_r, "invalid domain");
	addr_free(&a);
	buf_free(&tmp);
	return r;
}

int
users_alias_add(struct users *u, const char *alias, const char *target,
    const char **errstr_r)
{
	struct buf a = BUF_INIT(USERS_ADDR_MAX), t = BUF_INIT(USERS_ADDR_MAX);
	int ok = -1;

	if (users_writable(u, errstr_r) == -1)
		return -1;
	if (users_canon(alias, &a, NULL) == -1 ||
	    users_canon(target, &t, NULL) == -1)
		users_seterr(errstr_r, "invalid address");
	else if (strcasecmp(a.data, t.data) == 0)
		users_seterr(errstr_r, "alias points to itself");
	else if (users_begin(u) == -1)
		users_seterr(errstr_r, users_dberr(u));
	else {
		if ((ok = users_unused(u, a.data, errstr_r)) == 1 &&
		    users_write(u, SQL_ALIAS_ADD, a.data, t.data) != 1) {
			users_seterr(errstr_r, users_dberr(u));
			ok = -1;
		}
		ok = users_finish(u, ok, errstr_r);
	}
	buf_free(&a);
	buf_free(&t);
	return ok;
}

int
users_alias_del(struct users *u, const char *alias, const char **errstr_r)
{
	struct buf a = BUF_INIT(USERS_ADDR_MAX);
	int r;

	if (users_writable(u, errstr_r) == -1)
		return -1;
	if (users_canon(alias, &a, NULL) == -1) {
		users_seterr(errstr_r, "invalid address");
		return -1;
	}
	r = users_write(u, SQL_ALIAS_DEL, a.data, NULL);
	buf_free(&a);
	if (r == -1)
		users_seterr(errstr_r, users_dberr(u));
	else if (r == 0)
		users_seterr(errstr_r, "no such alias");
	return r == -1 ? -1 : r > 0;
}

/* Replaces the canonical address in a by its stored spelling; 0 none. */
static int
users_stored(struct users *u, struct buf *a)
{
	sqlite3_stmt *st = users_stmt(u, SQL_USER_GET);
	int r;

	if (st == NULL || users_bind(st, 1, a->data) == -1)
		return -1;
	if ((r = users_step(st)) != 1)
		return r;
	buf_reset(a);
	r = buf_appends(a, users_col(st, 0));
	(void)sqlite3_reset(st);	/* done with the row */
	return r;
}

/* 1 when login has exactly pattern (canonical) as a senders row. */
static int
users_has_sender(struct users *u, const char *login, const char *pattern)
{
	sqlite3_stmt *st = users_stmt(u, SQL_SENDER_OK);
	int r;

	if (st == NULL || users_bind(st, 1, login) == -1 ||
	    users_bind(st, 2, pattern) == -1 ||
	    users_bind(st, 3, pattern) == -1)
		return -1;
	r = users_step(st);
	(void)sqlite3_reset(st);	/* result already in r */
	return r;
}

int
users_sender_add(struct users *u, const char *login, const char *pattern,
    const char **errstr_r)
{
	struct buf l = BUF_INIT(USERS_ADDR_MAX), p = BUF_INIT(USERS_ADDR_MAX);
	int ok = -1;

	if (users_writable(u, errstr_r) == -1)
		return -1;
	if (users_canon(login, &l, NULL) == -1)
		users_seterr(errstr_r, "invalid address");
	else if (users_pattern(pattern, &p, errstr_r) == -1)
		;	/* error text set */
	else if (users_begin(u) == -1)
		users_seterr(errstr_r, users_dberr(u));
	else {
		if ((ok = users_stored(u, &l)) == 0) {
			users_seterr(errstr_r, "no such user");
			ok = -1;
		} else if (ok == 1 && (ok = users_has_sender(u, l.data,
		    p.data)) == 1) {
			users_seterr(errstr_r, "sender exists");
			ok = -1;
		} else if (ok == 0 &&
		    users_write(u, SQL_SENDER_ADD, l.data, p.data) == 1)
			ok = 1;
		else
			users_seterr(errstr_r, users_dberr(u));
		ok = users_finish(u, ok == 1 ? 1 : -1, errstr_r);
	}
	buf_free(&l);
	buf_free(&p);
	return ok;
}

int
users_sender_del(struct users *u, const char *login, const char *pattern,
    const char **errstr_r)
{
	struct buf l = BUF_INIT(USERS_ADDR_MAX), p = BUF_INIT(USERS_ADDR_MAX);
	int r = -1;

	if (users_writable(u, errstr_r) == -1)
		return -1;
	if (users_canon(login, &l, NULL) == -1)
		users_seterr(errstr_r, "invalid address");
	else if (users_pattern(pattern, &p, errstr_r) == 1) {
		r = users_write(u, SQL_SENDER_DEL, l.data, p.data);
		if (r == -1)
			users_seterr(errstr_r, users_dberr(u));
		else if (r == 0)
			users_seterr(errstr_r, "no such sender");
		else
			r = 1;
	}
	buf_free(&l);
	buf_free(&p);
	return r;
}

/* ------------------------------------------------------------ listing */

/* Walks a two-column listing; the second column is text or integer. */
static int
users_walk(struct users *u, enum users_sql which,
    int (*fn_text)(void *, const char *, const char *),
    int (*fn_int)(void *, const char *, int), void *arg)
{
	sqlite3_stmt *st = users_stmt(u, which);
	const char *a, *b;
	int r, n = 0;

	if (st == NULL)
		return -1;
	while ((r = users_step(st)) == 1) {
		n++;
		if ((a = (const char *)sqlite3_column_text(st, 0)) == NULL)
			a = "";
		if (fn_int != NULL) {
			if (fn_int(arg, a, sqlite3_column_int(st, 1)) == -1)
				break;
			continue;
		}
		if ((b = (const char *)sqlite3_column_text(st, 1)) == NULL)
			b = "";
		if (fn_text(arg, a, b) == -1)
			break;
	}
	(void)sqlite3_reset(st);	/* result already in r */
	return r == -1 ? -1 : n;
}

int
users_foreach(struct users *u,
    int (*fn)(void *arg, const char *address, int enabled), void *arg)
{
	return users_walk(u, SQL_USER_LIST, NULL, fn, arg);
}

int
users_alias_foreach(struct users *u,
    int (*fn)(void *arg, const char *alias, const char *target), void *arg)
{
	return users_walk(u, SQL_ALIAS_LIST, fn, NULL, arg);
}

int
users_sender_foreach(struct users *u,
    int (*fn)(void *arg, const char *login, const char *pattern), void *arg)
{
	return users_walk(u, SQL_SENDER_LIST, fn, NULL, arg);
}

int
users_chown(const char *path, uid_t uid, gid_t gid, const char **errstr_r)
{
	static const char *const sfx[] = { "", "-wal", "-shm" };
	static char why[4096 + 160];
	char p[4096];
	struct stat sb;
	size_t i;
	int fd, found = 0;

	for (i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
		if ((size_t)snprintf(p, sizeof(p), "%s%s", path, sfx[i]) >=
		    sizeof(p)) {
			if (errstr_r != NULL)
				*errstr_r = "path too long";
			return -1;
		}
		if ((fd = open(p, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
		    O_CLOEXEC)) == -1) {
			if (errno == ENOENT)
				continue;
			(void)snprintf(why, sizeof(why), "%s: %s%s", p,
			    strerror(errno), errno == ELOOP ?
			    " (a symbolic link)" : "");
			if (errstr_r != NULL)
				*errstr_r = why;
			return -1;
		}
		if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode) ||
		    sb.st_nlink != 1) {
			(void)snprintf(why, sizeof(why), "%s: not a regular "
			    "file with a single link", p);
			(void)close(fd);	/* read-only */
			if (errstr_r != NULL)
				*errstr_r = why;
			return -1;
		}
		if ((sb.st_uid != uid || sb.st_gid != gid) &&
		    fchown(fd, uid, gid) == -1) {
			(void)snprintf(why, sizeof(why), "%s: %s", p,
			    strerror(errno));
			(void)close(fd);	/* read-only */
			if (errstr_r != NULL)
				*errstr_r = why;
			return -1;
		}
		(void)close(fd);	/* read-only */
		found |= i == 0;
	}
	return found;
}
