/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * Unit tests for users: the SQLite users database in a temporary directory.
 * Credentials (good, wrong, disabled, unknown, out-of-range and NUL-laden
 * passwords), password change, deletion, aliases (chains, the depth limit,
 * loops, external forwards, disabled ends), "+detail", sender rights, case
 * folding, the read-only handle, and the file checks (created 0600; group or
 * world access, symbolic links and foreign files refused).
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "lib/users.h"

struct fixture {
	char		 dir[64];
	char		 path[128];
	struct users	*u;
};

static void
fx_unlink(struct fixture *f, const char *suffix)
{
	char p[160];

	assert_true(snprintf(p, sizeof(p), "%s%s", f->path, suffix) <
	    (int)sizeof(p));
	if (unlink(p) == -1)
		assert_int_equal(errno, ENOENT);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	const char *err = NULL;

	assert_non_null(f);
	(void)snprintf(f->dir, sizeof(f->dir), "/tmp/test_users.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_true(snprintf(f->path, sizeof(f->path), "%s/users.db",
	    f->dir) < (int)sizeof(f->path));
	assert_int_equal(users_open(f->path, 1, &f->u, &err), 1);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char p[160];

	users_close(&f->u);
	assert_null(f->u);
	fx_unlink(f, "");
	fx_unlink(f, "-wal");
	fx_unlink(f, "-shm");
	fx_unlink(f, ".link");
	(void)snprintf(p, sizeof(p), "%s/dir", f->dir);
	(void)rmdir(p);		/* only some tests make it */
	assert_int_equal(rmdir(f->dir), 0);
	free(f);
	return 0;
}

static void
add(struct users *u, const char *addr, const char *pw)
{
	const char *err = NULL;

	assert_int_equal(users_add(u, addr, pw, strlen(pw), &err), 1);
}

static int
verify(struct users *u, const char *login, const char *pw)
{
	return users_verify(u, login, pw, strlen(pw));
}

/* users_lookup, checking the target: NULL expects no target. */
static void
lookup(struct users *u, const char *addr, int want, const char *target)
{
	char *t = (char *)"unset";

	assert_int_equal(users_lookup(u, addr, &t), want);
	if (target == NULL)
		assert_null(t);
	else {
		assert_non_null(t);
		assert_string_equal(t, target);
	}
	free(t);
}

static void
test_file_mode(void **state)
{
	struct fixture *f = *state;
	struct users *ro = NULL;
	const char *err = NULL;
	struct stat sb;

	assert_int_equal(stat(f->path, &sb), 0);
	assert_true(S_ISREG(sb.st_mode));
	assert_int_equal(sb.st_mode & 07777, 0600);
	/* Reopening an existing database (both ways) works. */
	assert_int_equal(users_open(f->path, 1, &ro, &err), 1);
	users_close(&ro);
	assert_int_equal(users_open(f->path, 0, &ro, &err), 1);
	users_close(&ro);
	users_close(NULL);
	/* Group or world access: refused, with a message saying so. */
	assert_int_equal(chmod(f->path, 0640), 0);
	err = NULL;
	assert_int_equal(users_open(f->path, 0, &ro, &err), -1);
	assert_null(ro);
	assert_non_null(strstr(err, "group or others"));
	assert_int_equal(users_open(f->path, 1, &ro, &err), -1);
	assert_int_equal(chmod(f->path, 0604), 0);
	assert_int_equal(users_open(f->path, 0, &ro, &err), -1);
	assert_int_equal(chmod(f->path, 0600), 0);
	assert_int_equal(users_open(f->path, 0, &ro, &err), 1);
	users_close(&ro);
}

static void
test_file_refused(void **state)
{
	struct fixture *f = *state;
	struct users *x = NULL;
	const char *err = NULL;
	char p[160];
	int fd;

	/* A symbolic link is not followed, not even to a good database. */
	(void)snprintf(p, sizeof(p), "%s.link", f->path);
	assert_int_equal(symlink(f->path, p), 0);
	assert_int_equal(users_open(p, 0, &x, &err), -1);
	assert_string_equal(err, "is a symbolic link");
	assert_int_equal(users_open(p, 1, &x, &err), -1);
	/* A directory. */
	(void)snprintf(p, sizeof(p), "%s/dir", f->dir);
	assert_int_equal(mkdir(p, 0700), 0);
	assert_int_equal(users_open(p, 0, &x, &err), -1);
	assert_null(x);
	/* Read-only never creates. */
	(void)snprintf(p, sizeof(p), "%s/missing.db", f->dir);
	assert_int_equal(users_open(p, 0, &x, &err), -1);
	assert_int_equal(access(p, F_OK), -1);
	/* An empty file has no schema: read-only refuses it. */
	users_close(&f->u);
	fx_unlink(f, "");
	fx_unlink(f, "-wal");
	fx_unlink(f, "-shm");
	fd = open(f->path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd != -1);
	assert_int_equal(close(fd), 0);
	assert_int_equal(users_open(f->path, 0, &x, &err), -1);
	assert_string_equal(err, "not a users database (no schema)");
	/* Another SQLite database with a foreign schema version. */
	{
		sqlite3 *db;

		assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
		assert_int_equal(sqlite3_exec(db, "CREATE TABLE meta(key TEXT"
		    " PRIMARY KEY, value TEXT); INSERT INTO meta VALUES("
		    "'schema', '99');", NULL, NULL, NULL), SQLITE_OK);
		assert_int_equal(sqlite3_close(db), SQLITE_OK);
	}
	assert_int_equal(users_open(f->path, 1, &x, &err), -1);
	assert_string_equal(err, "unsupported users database schema version");
	/* Garbage. */
	fd = open(f->path, O_WRONLY | O_TRUNC);
	assert_true(fd != -1);
	assert_int_equal(write(fd, "not sqlite at all, not at all\n", 30),
	    30);
	assert_int_equal(close(fd), 0);
	assert_int_equal(users_open(f->path, 0, &x, &err), -1);
	assert_int_equal(users_open(f->path, 1, &x, &err), -1);
	assert_null(x);
}

static void
test_add_verify(void **state)
{
	struct fixture *f = *state;
	const char *err = NULL;
	char big[USERS_PASSWD_MAX + 2];

	add(f->u, "alice@Example.TEST", "correct horse");
	assert_int_equal(verify(f->u, "alice@example.test", "correct horse"),
	    1);
	/* Logins fold ASCII case; the quoted spelling is the same address. */
	assert_int_equal(verify(f->u, "ALICE@EXAMPLE.TEST", "correct horse"),
	    1);
	assert_int_equal(verify(f->u, "\"alice\"@example.test",
	    "correct horse"), 1);
	assert_int_equal(verify(f->u, "alice@example.test", "Correct horse"),
	    0);
	assert_int_equal(verify(f->u, "alice@example.test", "correct hors"),
	    0);
	assert_int_equal(verify(f->u, "alice@example.test", "correct horse "),
	    0);
	assert_int_equal(users_verify(f->u, "alice@example.test",
	    "correct horse\0x", 15), 0);
	assert_int_equal(users_verify(f->u, "alice@example.test", "", 0), 0);
	assert_int_equal(users_verify(f->u, "alice@example.test", NULL, 0), 0);
	/* Unknown and invalid logins: just bad credentials. */
	assert_int_equal(verify(f->u, "bob@example.test", "correct horse"), 0);
	assert_int_equal(verify(f->u, "alice", "correct horse"), 0);
	assert_int_equal(verify(f->u, "", "correct horse"), 0);
	assert_int_equal(verify(f->u, NULL, "correct horse"), 0);

	/* Duplicates, in any case; bad addresses and passwords. */
	assert_int_equal(users_add(f->u, "ALICE@example.test", "x", 1, &err),
	    -1);
	assert_string_equal(err, "user exists");
	assert_int_equal(users_add(f->u, "alice", "x", 1, &err), -1);
	assert_string_equal(err, "invalid address");
	assert_int_equal(users_add(f->u, "<a@b>", "x", 1, &err), -1);
	assert_string_equal(err, "invalid address");
	assert_int_equal(users_add(f->u, NULL, "x", 1, &err), -1);
	assert_int_equal(users_add(f->u, "bob@example.test", "", 0, &err), -1);
	assert_string_equal(err, "invalid password length");
	memset(big, 'p', sizeof(big));
	assert_int_equal(users_add(f->u, "bob@example.test", big,
	    USERS_PASSWD_MAX + 1, &err), -1);
	assert_string_equal(err, "invalid password length");
	assert_int_equal(users_add(f->u, "bob@example.test", "a\0b", 3, &err),
	    -1);
	assert_string_equal(err, "password contains NUL");
	assert_int_equal(verify(f->u, "bob@example.test", "a"), 0);
	/* The longest password works, and one octet more never matches. */
	assert_int_equal(users_add(f->u, "bob@example.test", big,
	    USERS_PASSWD_MAX, &err), 1);
	assert_int_equal(users_verify(f->u, "bob@example.test", big,
	    USERS_PASSWD_MAX), 1);
	assert_int_equal(users_verify(f->u, "bob@example.test", big,
	    USERS_PASSWD_MAX + 1), 0);
	/* UTF-8 addresses and passwords. */
	add(f->u, "j\xc3\xb6rg@b\xc3\xbc" "cher.example", "p\xc3\xa4ss");
	assert_int_equal(verify(f->u, "j\xc3\xb6rg@b\xc3\xbc" "cher.example",
	    "p\xc3\xa4ss"), 1);
}

static void
test_stored_hash(void **state)
{
	struct fixture *f = *state;
	sqlite3 *db;
	sqlite3_stmt *st;
	const char *h, *a;

	add(f->u, "Carol@Example.Test", "s3cret-pw");
	assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READONLY,
	    NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT address, hash,"
	    " enabled, quota_bytes, created FROM users", -1, &st, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	a = (const char *)sqlite3_column_text(st, 0);
	h = (const char *)sqlite3_column_text(st, 1);
	/* Canonical form: local part kept, domain lowercased. */
	assert_string_equal(a, "Carol@example.test");
	assert_memory_equal(h, "$y$", 3);
	assert_null(strstr(h, "s3cret"));
	assert_int_equal(sqlite3_column_int(st, 2), 1);
	assert_int_equal(sqlite3_column_int(st, 3), 0);
	assert_true(sqlite3_column_int64(st, 4) > 1700000000);
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
	/* A rollback journal, not WAL: readers need no -shm file. */
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1,
	    &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0),
	    "delete");
	sqlite3_finalize(st);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
	/* Same password, different salt. */
	add(f->u, "dave@example.test", "s3cret-pw");
	assert_int_equal(verify(f->u, "carol@example.test", "s3cret-pw"), 1);
	assert_int_equal(verify(f->u, "dave@example.test", "s3cret-pw"), 1);
}

static void
test_disabled(void **state)
{
	struct fixture *f = *state;
	const char *err = NULL;

	add(f->u, "eve@example.test", "pw");
	assert_int_equal(users_set_enabled(f->u, "EVE@example.test", 0, &err),
	    1);
	assert_int_equal(verify(f->u, "eve@example.test", "pw"), 0);
	lookup(f->u, "eve@example.test", 0, NULL);
	assert_int_equal(users_set_enabled(f->u, "eve@example.test", 1, &err),
	    1);
	assert_int_equal(verify(f->u, "eve@example.test", "pw"), 1);
	lookup(f->u, "eve@example.test", 1, "eve@example.test");
	err = NULL;
	assert_int_equal(users_set_enabled(f->u, "nobody@example.test", 0,
	    &err), 0);
	assert_string_equal(err, "no such user");
	assert_int_equal(users_set_enabled(f->u, "nobody", 0, &err), -1);
	assert_string_equal(err, "invalid address");
}

static void
test_passwd(void **state)
{
	struct fixture *f = *state;
	const char *err = NULL;

	add(f->u, "frank@example.test", "old");
	assert_int_equal(users_passwd(f->u, "Frank@EXAMPLE.test", "new", 3,
	    &err), 1);
	assert_int_equal(verify(f->u, "frank@example.test", "old"), 0);
	assert_int_equal(verify(f->u, "frank@example.test", "new"), 1);
	assert_int_equal(users_passwd(f->u, "ghost@example.test", "new", 3,
	    &err), 0);
	assert_string_equal(err, "no such user");
	assert_int_equal(users_passwd(f->u, "frank@example.test", "", 0,
	    &err), -1);
	assert_string_equal(err, "invalid password length");
	assert_int_equal(verify(f->u, "frank@example.test", "new"), 1);
}

static int
count_cb(void *arg, const char *a, const char *b)
{
	(void)a;
	(void)b;
	(*(int *)arg)++;
	return 1;
}

static void
test_del(void **state)
{
	struct fixture *f = *state;
	const char *err = NULL;
	int n = 0;

	add(f->u, "gina@example.test", "pw");
	add(f->u, "hank@example.test", "pw");
	assert_int_equal(users_sender_add(f->u, "gina@example.test",
	    "@example.test", &err), 1);
	assert_int_equal(users_sender_add(f->u, "hank@example.test",
	    "@example.test", &err), 1);
	assert_int_equal(users_del(f->u, "GINA@example.test", &err), 1);
	assert_int_equal(verify(f->u, "gina@example.test", "pw"), 0);
	lookup(f->u, "gina@example.test", 0, NULL);
	/* Her senders rows went with her; hank's stayed. */
	assert_int_equal(users_sender_foreach(f->u, count_cb, &n), 1);
	assert_int_equal(n, 1);
	assert_int_equal(users_sender_ok(f->u, "gina@example.test",
	    "x@example.test"), 0);
	err = NULL;
	assert_int_equal(users_del(f->u, "gina@example.test", &err), 0);
	assert_string_equal(err, "no such user");
	assert_int_equal(users_del(f->u, "@@", &err), -1);
	assert_string_equal(err, "invalid address");
	/* Re-adding gets a fresh account with no sender rights. */
	add(f->u, "gina@example.test", "pw2");
	assert_int_equal(users_sender_ok(f->u, "gina@example.test",
	    "x@example.test"), 0);
	assert_int_equal(verify(f->u, "gina@example.test", "pw2"), 1);
}

static void
test_aliases(void **state)
{
	struct fixture *f = *state;
	const char *err = NULL;

	add(f->u, "ivy@example.test", "pw");
	add(f->u, "off@example.test", "pw");
	assert_int_equal(users_set_enabled(f->u, "off@example.test", 0, &err),
	    1);
	/* Chain: postmaster -> admin -> ivy. */
	assert_int_equal(users_alias_add(f->u, "postmaster@Example.test",
	    "admin@example.test", &err), 1);
	assert_int_equal(users_alias_add(f->u, "admin@example.test",
	    "IVY@example.test", &err), 1);
	lookup(f->u, "postmaster@example.test", 1, "ivy@example.test");
	lookup(f->u, "POSTMASTER@EXAMPLE.TEST", 1, "ivy@example.test");
	lookup(f->u, "admin@example.test", 1, "ivy@example.test");
	lookup(f->u, "ivy@example.test", 1, "ivy@example.test");
	lookup(f->u, "Ivy@Example.Test", 1, "ivy@example.test");
	/* External forward. */
	assert_int_equal(users_alias_add(f->u, "fwd@example.test",
	    "someone@Remote.Example", &err), 1);
	lookup(f->u, "fwd@example.test", 1, "someone@remote.example");
	/* Ending at a disabled user: unknown. */
	assert_int_equal(users_alias_add(f->u, "old@example.test",
	    "off@example.test", &err), 1);
	lookup(f->u, "old@example.test", 0, NULL);
	/* Loops are errors. */
	assert_int_equal(users_alias_add(f->u, "loop1@example.test",
	    "loop2@example.test", &err), 1);
	assert_int_equal(users_alias_add(f->u, "loop2@example.test",
	    "loop1@example.test", &err), 1);
	lookup(f->u, "loop1@example.test", -1, NULL);
	/* Unknown and invalid. */
	lookup(f->u, "nobody@example.test", 0, NULL);
	lookup(f->u, "not an address", 0, NULL);
	lookup(f->u, "", 0, NULL);

	/* Conflicts. */
	assert_int_equal(users_alias_add(f->u, "ADMIN@example.test",
	    "x@example.test", &err), -1);
	assert_string_equal(err, "alias exists");
	assert_int_equal(users_alias_add(f->u, "ivy@EXAMPLE.test",
	    "x@example.test", &err), -1);
	assert_string_equal(err, "user exists");
	assert_int_equal(users_add(f->u, "admin@example.test", "pw", 2, &err),
	    -1);
	assert_string_equal(err, "alias exists");
	assert_int_equal(users_alias_add(f->u, "self@example.test",
	    "SELF@example.test", &err), -1);
	assert_string_equal(err, "alias points to itself");
	assert_int_equal(users_alias_add(f->u, "a@example.test", "b", &err),
	    -1);
	assert_string_equal(err, "invalid address");
	assert_int_equal(users_alias_add(f->u, "a", "b@example.test", &err),
	    -1);
	assert_string_equal(err, "invalid address");

	/* Delete. */
	assert_int_equal(users_alias_del(f->u, "Admin@Example.Test", &err), 1);
	/* postmaster -> admin now ends outside the database: a forward. */
	lookup(f->u, "postmaster@example.test", 1, "admin@example.test");
	err = NULL;
	assert_int_equal(users_alias_del(f->u, "admin@example.test", &err), 0);
	assert_string_equal(err, "no such alias");
	assert_int_equal(users_alias_del(f->u, "admin", &err), -1);
}

static void
test_alias_depth(void **state)
{
	struct fixture *f = *state;
	const char *err = NULL;
	char a[64], b[64];
	int i;

	add(f->u, "end@example.test", "pw");
	/* d0 -> d1 -> ... -> d7 -> end: 8 aliases, the most allowed. */
	for (i = 0; i < 8; i++) {
		(void)snprintf(a, sizeof(a), "d%d@example.test", i);
		if (i == 7)
			(void)snprintf(b, sizeof(b), "end@example.test");
		else
			(void)snprintf(b, sizeof(b), "d%d@example.test", i + 1);
		assert_int_equal(users_alias_add(f->u, a, b, &err), 1);
	}
	lookup(f->u, "d0@example.test", 1, "end@example.test");
	/* One more in front is too deep. */
	assert_int_equal(users_alias_add(f->u, "dd@example.test",
	    "d0@example.test", &err), 1);
	lookup(f->u, "dd@example.test", -1, NULL);
	/* Same for a forward out of the database. */
	assert_int_equal(users_alias_del(f->u, "d7@example.test", &err), 1);
	assert_int_equal(users_alias_add(f->u, "d7@example.test",
	    "out@remote.example", &err), 1);
	lookup(f->u, "d0@example.test", 1, "out@remote.example");
	lookup(f->u, "dd@example.test", -1, NULL);
}

static void
test_detail(void **state)
{
	struct fixture *f = *state;
	const char *err = NULL;

	add(f->u, "jill@example.test", "pw");
	add(f->u, "a+b@example.test", "pw");
	assert_int_equal(users_alias_add(f->u, "team@example.test",
	    "jill@example.test", &err), 1);
	assert_int_equal(users_alias_add(f->u, "out@example.test",
	    "kim+inbox@remote.example", &err), 1);
	assert_int_equal(users_alias_add(f->u, "via@example.test",
	    "jill+via@example.test", &err), 1);
	lookup(f->u, "jill+lists@example.test", 1, "jill@example.test");
	lookup(f->u, "JILL+Lists@Example.Test", 1, "jill@example.test");
	lookup(f->u, "jill+@example.test", 1, "jill@example.test");
	lookup(f->u, "jill+a+b@example.test", 1, "jill@example.test");
	lookup(f->u, "team+x@example.test", 1, "jill@example.test");
	/* A target with a detail resolves the same way. */
	lookup(f->u, "via@example.test", 1, "jill@example.test");
	/* The full form wins when it exists. */
	lookup(f->u, "a+b@example.test", 1, "a+b@example.test");
	/* Forwards keep the target's detail; unknown stays unknown. */
	lookup(f->u, "out@example.test", 1, "kim+inbox@remote.example");
	lookup(f->u, "nobody+x@example.test", 0, NULL);
	lookup(f->u, "+jill@example.test", 0, NULL);
	lookup(f->u, "jill+x@other.test", 0, NULL);
	/* Detail does not apply to passwords. */
	assert_int_equal(verify(f->u, "jill+x@example.test", "pw"), 0);
}

static void
test_sender_ok(void **state)
{
	struct fixture *f = *state;
	const char *err = NULL;

	add(f->u, "kate@example.test", "pw");
	add(f->u, "leo@example.test", "pw");
	/* Own address, in any case. */
	assert_int_equal(users_sender_ok(f->u, "kate@example.test",
	    "kate@example.test"), 1);
	assert_int_equal(users_sender_ok(f->u, "kate@example.test",
	    "KATE@Example.TEST"), 1);
	assert_int_equal(users_sender_ok(f->u, "Kate@EXAMPLE.test",
	    "kate@example.test"), 1);
	/* Nothing else yet. */
	assert_int_equal(users_sender_ok(f->u, "kate@example.test",
	    "leo@example.test"), 0);
	assert_int_equal(users_sender_ok(f->u, "kate@example.test",
	    "kate+x@example.test"), 0);
	/* Exact address and whole domain. */
	assert_int_equal(users_sender_add(f->u, "KATE@example.test",
	    "Sales@Example.TEST", &err), 1);
	assert_int_equal(users_sender_add(f->u, "kate@example.test",
	    "@Shop.Example", &err), 1);
	assert_int_equal(users_sender_ok(f->u, "kate@example.test",
	    "sales@example.test"), 1);
	assert_int_equal(users_sender_ok(f->u, "kate@example.test",
	    "anyone@shop.example"), 1);
	assert_int_equal(users_sender_ok(f->u, "kate@example.test",
	    "ANYONE@SHOP.EXAMPLE"), 1);
	assert_int_equal(users_sender_ok(f->u, "kate@example.test",
	    "x@sub.shop.example"), 0);
	assert_int_equal(users_sender_ok(f->u, "kate@example.test",
	    "x@example.test"), 0);
	/* Another login's rights are not leo's. */
	assert_int_equal(users_sender_ok(f->u, "leo@example.test",
	    "sales@example.test"), 0);
	assert_int_equal(users_sender_ok(f->u, "leo@example.test",
	    "x@shop.example"), 0);
	assert_int_equal(users_sender_ok(f->u, "leo@example.test",
	    "kate@example.test"), 0);
	/* Invalid input. */
	assert_int_equal(users_sender_ok(f->u, "kate@example.test", ""), 0);
	assert_int_equal(users_sender_ok(f->u, "kate@example.test",
	    "@shop.example"), 0);
	assert_int_equal(users_sender_ok(f->u, "kate", "kate"), 0);
	assert_int_equal(users_sender_ok(f->u, NULL, "kate@example.test"), 0);

	/* Adding: errors. */
	assert_int_equal(users_sender_add(f->u, "kate@example.test",
	    "SALES@example.test", &err), -1);
	assert_string_equal(err, "sender exists");
	assert_int_equal(users_sender_add(f->u, "nobody@example.test",
	    "@example.test", &err), -1);
	assert_string_equal(err, "no such user");
	assert_int_equal(users_sender_add(f->u, "kate@example.test", "@",
	    &err), -1);
	assert_string_equal(err, "invalid domain");
	assert_int_equal(users_sender_add(f->u, "kate@example.test",
	    "@a@b", &err), -1);
	assert_string_equal(err, "invalid domain");
	assert_int_equal(users_sender_add(f->u, "kate@example.test",
	    "sales", &err), -1);
	assert_string_equal(err, "invalid address");
	assert_int_equal(users_sender_add(f->u, "kate", "@example.test",
	    &err), -1);
	assert_string_equal(err, "invalid address");
	/* Deleting. */
	assert_int_equal(users_sender_del(f->u, "kate@example.test",
	    "@SHOP.example", &err), 1);
	assert_int_equal(users_sender_ok(f->u, "kate@example.test",
	    "anyone@shop.example"), 0);
	err = NULL;
	assert_int_equal(users_sender_del(f->u, "kate@example.test",
	    "@shop.example", &err), 0);
	assert_string_equal(err, "no such sender");
	assert_int_equal(users_sender_del(f->u, "kate@example.test", "@",
	    &err), -1);
}

struct list {
	char	 text[512];
	int	 n;
	int	 stop_at;
};

static int
list_user(void *arg, const char *address, int enabled)
{
	struct list *l = arg;
	size_t len = strlen(l->text);

	(void)snprintf(l->text + len, sizeof(l->text) - len, "%s=%d;",
	    address, enabled);
	return ++l->n == l->stop_at ? -1 : 1;
}

static int
list_pair(void *arg, const char *a, const char *b)
{
	struct list *l = arg;
	size_t len = strlen(l->text);

	(void)snprintf(l->text + len, sizeof(l->text) - len, "%s>%s;", a, b);
	return ++l->n == l->stop_at ? -1 : 1;
}

static void
test_foreach(void **state)
{
	struct fixture *f = *state;
	struct list l;
	const char *err = NULL;

	memset(&l, 0, sizeof(l));
	assert_int_equal(users_foreach(f->u, list_user, &l), 0);
	add(f->u, "mia@example.test", "pw");
	add(f->u, "Bea@example.test", "pw");
	add(f->u, "zed@example.test", "pw");
	assert_int_equal(users_set_enabled(f->u, "zed@example.test", 0, &err),
	    1);
	assert_int_equal(users_foreach(f->u, list_user, &l), 3);
	assert_string_equal(l.text,
	    "Bea@example.test=1;mia@example.test=1;zed@example.test=0;");
	memset(&l, 0, sizeof(l));
	l.stop_at = 2;
	assert_int_equal(users_foreach(f->u, list_user, &l), 2);
	assert_string_equal(l.text, "Bea@example.test=1;mia@example.test=1;");

	assert_int_equal(users_alias_add(f->u, "b@example.test",
	    "mia@example.test", &err), 1);
	assert_int_equal(users_alias_add(f->u, "a@example.test",
	    "x@remote.example", &err), 1);
	memset(&l, 0, sizeof(l));
	assert_int_equal(users_alias_foreach(f->u, list_pair, &l), 2);
	assert_string_equal(l.text, "a@example.test>x@remote.example;"
	    "b@example.test>mia@example.test;");

	assert_int_equal(users_sender_add(f->u, "mia@example.test",
	    "@example.test", &err), 1);
	assert_int_equal(users_sender_add(f->u, "bea@example.test",
	    "sales@example.test", &err), 1);
	memset(&l, 0, sizeof(l));
	assert_int_equal(users_sender_foreach(f->u, list_pair, &l), 2);
	assert_string_equal(l.text, "Bea@example.test>sales@example.test;"
	    "mia@example.test>@example.test;");
}

static void
test_readonly(void **state)
{
	struct fixture *f = *state;
	struct users *ro = NULL;
	const char *err = NULL;
	char *t = NULL;
	struct stat before, after;

	add(f->u, "nia@example.test", "pw");
	assert_int_equal(users_alias_add(f->u, "al@example.test",
	    "nia@example.test", &err), 1);
	assert_int_equal(users_open(f->path, 0, &ro, &err), 1);
	assert_int_equal(verify(ro, "nia@example.test", "pw"), 1);
	assert_int_equal(users_lookup(ro, "al@example.test", &t), 1);
	assert_string_equal(t, "nia@example.test");
	free(t);
	/* Every write is refused. */
	assert_int_equal(users_add(ro, "x@example.test", "pw", 2, &err), -1);
	assert_string_equal(err, "database opened read-only");
	assert_int_equal(users_passwd(ro, "nia@example.test", "x", 1, &err),
	    -1);
	assert_int_equal(users_set_enabled(ro, "nia@example.test", 0, &err),
	    -1);
	assert_int_equal(users_del(ro, "nia@example.test", &err), -1);
	assert_int_equal(users_alias_add(ro, "x@example.test",
	    "nia@example.test", &err), -1);
	assert_int_equal(users_alias_del(ro, "al@example.test", &err), -1);
	assert_int_equal(users_sender_add(ro, "nia@example.test",
	    "@example.test", &err), -1);
	assert_int_equal(users_sender_del(ro, "nia@example.test",
	    "@example.test", &err), -1);
	assert_int_equal(verify(ro, "nia@example.test", "pw"), 1);
	/* A reader sees the writer's later changes. */
	add(f->u, "omar@example.test", "pw");
	assert_int_equal(verify(ro, "omar@example.test", "pw"), 1);
	users_close(&ro);
	/* A read-only handle on a quiet database leaves the file alone. */
	users_close(&f->u);
	assert_int_equal(stat(f->path, &before), 0);
	assert_int_equal(users_open(f->path, 0, &ro, &err), 1);
	assert_int_equal(verify(ro, "nia@example.test", "pw"), 1);
	users_close(&ro);
	assert_int_equal(stat(f->path, &after), 0);
	assert_int_equal(before.st_size, after.st_size);
	assert_int_equal(before.st_mtim.tv_sec, after.st_mtim.tv_sec);
	assert_int_equal(before.st_mtim.tv_nsec, after.st_mtim.tv_nsec);
}

/* A trigger someone with write access to the file added never runs
 * (root's estafetactl writes the same file): triggers and views are off. */
static void
test_hostile_trigger(void **state)
{
	struct fixture *f = *state;
	const char *err = NULL;
	char *target = NULL;
	sqlite3 *db;

	users_close(&f->u);
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "CREATE TRIGGER t AFTER INSERT ON "
	    "users BEGIN DELETE FROM users; END", NULL, NULL, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
	assert_int_equal(users_open(f->path, 1, &f->u, &err), 1);
	assert_int_equal(users_add(f->u, "bob@example.test", "bob-pw", 6,
	    &err), 1);
	assert_int_equal(users_lookup(f->u, "bob@example.test", &target), 1);
	assert_string_equal(target, "bob@example.test");
	free(target);
}

/* users_chown: a regular file with one link (and its -wal) changes owner;
 * a symlink or a hard link in its place is refused, never followed. */
static void
test_chown(void **state)
{
	char dir[] = "/tmp/test_users_chown.XXXXXX", db[128], other[128];
	char p[160];
	uid_t uid = geteuid() == 0 ? 65534 : geteuid();
	gid_t gid = geteuid() == 0 ? 65534 : getegid();
	const char *errstr = NULL;
	struct stat sb;
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	(void)snprintf(db, sizeof(db), "%s/users.db", dir);
	(void)snprintf(other, sizeof(other), "%s/secret", dir);
	assert_int_equal(users_chown(db, uid, gid, &errstr), 0);
	assert_true((fd = open(db, O_WRONLY | O_CREAT, 0600)) >= 0);
	assert_int_equal(close(fd), 0);
	(void)snprintf(p, sizeof(p), "%s-wal", db);
	assert_true((fd = open(p, O_WRONLY | O_CREAT, 0600)) >= 0);
	assert_int_equal(close(fd), 0);
	assert_int_equal(users_chown(db, uid, gid, &errstr), 1);
	assert_int_equal(stat(db, &sb), 0);
	assert_int_equal(sb.st_uid, uid);
	assert_int_equal(stat(p, &sb), 0);
	assert_int_equal(sb.st_uid, uid);
	assert_int_equal(unlink(p), 0);
	assert_int_equal(unlink(db), 0);

	/* Someone else's file, planted as a symlink, then a hard link. */
	assert_true((fd = open(other, O_WRONLY | O_CREAT, 0600)) >= 0);
	assert_int_equal(close(fd), 0);
	assert_int_equal(stat(other, &sb), 0);
	assert_int_equal(symlink(other, db), 0);
	assert_int_equal(users_chown(db, uid + 1, gid, &errstr), -1);
	assert_non_null(strstr(errstr, "symbolic link"));
	assert_int_equal(unlink(db), 0);
	assert_int_equal(link(other, db), 0);
	assert_int_equal(users_chown(db, uid + 1, gid, &errstr), -1);
	assert_non_null(strstr(errstr, "single link"));
	assert_int_equal(stat(other, &sb), 0);
	assert_int_not_equal(sb.st_uid, uid + 1);
	assert_int_equal(unlink(db), 0);
	assert_int_equal(unlink(other), 0);
	assert_int_equal(rmdir(dir), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_file_mode, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_file_refused, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_add_verify, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_stored_hash, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_disabled, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_passwd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_del, setup, teardown),
		cmocka_unit_test_setup_teardown(test_aliases, setup, teardown),
		cmocka_unit_test_setup_teardown(test_alias_depth, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_detail, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sender_ok, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_foreach, setup, teardown),
		cmocka_unit_test(test_chown),
		cmocka_unit_test_setup_teardown(test_hostile_trigger, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_readonly, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
