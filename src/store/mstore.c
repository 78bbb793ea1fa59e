/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * The mail store: see mstore.h. The Maildir++ tree is the truth; index.db
 * (SQLite, WAL) is a cache of it that every process of the same user shares:
 * UIDs, flags, keywords, sizes and modification sequences. Every change of
 * the index and every rename in the tree that the index records happen inside
 * one write transaction (BEGIN IMMEDIATE), so the index lock also serializes
 * the processes that rename files; programs outside buzond do not take it,
 * which is why a missing file is looked for under its base name before it is
 * declared gone. Never talks to the network, never logs client data.
 */
#include "config.h"

#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>
#include <sqlite3.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "store/mstore.h"
#include "store/mstore_priv.h"

static const char mstore_schema[] =
    "CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v INTEGER);"
    "CREATE TABLE IF NOT EXISTS folders(id INTEGER PRIMARY KEY,"
    " name TEXT UNIQUE NOT NULL, uidvalidity INTEGER NOT NULL,"
    " uidnext INTEGER NOT NULL, hms INTEGER NOT NULL,"
    " recent_uid INTEGER NOT NULL, mt_new INTEGER NOT NULL,"
    " mt_cur INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS msgs(folder INTEGER NOT NULL,"
    " uid INTEGER NOT NULL, base TEXT NOT NULL, file TEXT NOT NULL,"
    " flags INTEGER NOT NULL, keywords TEXT NOT NULL,"
    " idate INTEGER NOT NULL, size INTEGER NOT NULL,"
    " modseq INTEGER NOT NULL, PRIMARY KEY(folder, uid),"
    " UNIQUE(folder, base));"
    "CREATE INDEX IF NOT EXISTS msgs_modseq ON msgs(folder, modseq);"
    "CREATE TABLE IF NOT EXISTS cache(folder INTEGER NOT NULL,"
    " uid INTEGER NOT NULL, k TEXT NOT NULL, v BLOB NOT NULL,"
    " PRIMARY KEY(folder, uid, k));"
    "CREATE TABLE IF NOT EXISTS doomed(folder INTEGER NOT NULL,"
    " base TEXT NOT NULL, PRIMARY KEY(folder, base));";

/* ------------------------------------------------------------ helpers */

int
mstore_err(struct mstore *st, const char **errstr_r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(st->errbuf, sizeof(st->errbuf), fmt, ap);
	va_end(ap);
	if (errstr_r != NULL)
		*errstr_r = st->errbuf;
	return -1;
}

static int
set_err(const char **errstr_r, const char *s, int rc)
{
	if (errstr_r != NULL)
		*errstr_r = s;
	return rc;
}

static int
db_err(struct mstore *st, const char **errstr_r, const char *what)
{
	return mstore_err(st, errstr_r, "index %s: %s", what,
	    sqlite3_errmsg(st->db));
}

int
mstore_exec(struct mstore *st, const char *sql)
{
	return sqlite3_exec(st->db, sql, NULL, NULL, NULL) == SQLITE_OK ?
	    1 : -1;
}

/*
 * Inside a batch (mstore_batch_begin) a transaction is a savepoint of the
 * batch's: its commit is a RELEASE and only the batch's end writes (and
 * syncs) anything.
 */
int
mstore_begin(struct mstore *st, const char **errstr_r)
{
	if (mstore_exec(st, st->batch ? "SAVEPOINT op" : "BEGIN IMMEDIATE") ==
	    -1)
		return db_err(st, errstr_r, "lock");
	st->unl_mark = st->nunl;
	return 1;
}

/* The files of expunged messages go once their rows' removal is durable
 * (see msg_doom): after a COMMIT, never after a batch's RELEASE. */
int
mstore_commit(struct mstore *st, const char **errstr_r)
{
	if (!st->batch && st->nunl > 0)
		md_test_commit();
	if (mstore_exec(st, st->batch ? "RELEASE op" : "COMMIT") == -1) {
		(void)db_err(st, errstr_r, "commit");
		mstore_rollback(st);	/* may be gone */
		return -1;
	}
	if (!st->batch)
		mstore_unlink_queued(st);
	return 1;
}

void
mstore_rollback(struct mstore *st)
{
	st->used_ok = 0;
	/* Fails only when no transaction is open: nothing to undo. */
	if (st->batch) {
		(void)mstore_exec(st, "ROLLBACK TO op");
		(void)mstore_exec(st, "RELEASE op");
		mstore_unlink_forget(st, st->unl_mark);
	} else {
		(void)mstore_exec(st, "ROLLBACK");
		mstore_unlink_forget(st, 0);
	}
}

void
mstore_unlink_forget(struct mstore *st, size_t keep)
{
	while (st->nunl > keep)
		free(st->unl[--st->nunl]);
}

void
mstore_unlink_queued(struct mstore *st)
{
	char dir[PATH_MAX], found[NAME_MAX + 16], base[NAME_MAX + 1];
	const char *p, *slash;
	size_t i, bl;

	for (i = 0; i < st->nunl; i++) {
		p = st->unl[i];
		if (unlink(p) == 0) {
			md_test_unlinked();
			continue;
		}
		/* Renamed by another program: look for its base name (a
		 * scan's doomed_sweep would find it too, later). */
		if (errno != ENOENT || (slash = strrchr(p, '/')) == NULL ||
		    slash - p < 4 || (size_t)(slash - p - 4) >= sizeof(dir) ||
		    (bl = md_base_len(slash + 1)) >= sizeof(base))
			continue;
		memcpy(dir, p, (size_t)(slash - p - 4));	/* "/cur" */
		dir[slash - p - 4] = '\0';
		memcpy(base, slash + 1, bl);
		base[bl] = '\0';
		if (md_find(dir, base, found, sizeof(found)) &&
		    ms_strlcat(dir, "/", sizeof(dir)) < sizeof(dir) &&
		    ms_strlcat(dir, found, sizeof(dir)) < sizeof(dir) &&
		    unlink(dir) == 0)
			md_test_unlinked();
	}
	mstore_unlink_forget(st, 0);
}

int
mstore_batch_begin(struct mstore *st, const char **errstr_r)
{
	ASSERT(!st->batch);
	if (mstore_begin(st, errstr_r) == -1)
		return -1;
	st->batch = 1;
	st->used_ok = 0;
	return 1;
}

int
mstore_batch_end(struct mstore *st, const char **errstr_r)
{
	ASSERT(st->batch);
	st->batch = 0;
	st->used_ok = 0;
	return mstore_commit(st, errstr_r);
}

sqlite3_stmt *
mstore_prep(struct mstore *st, const char *sql)
{
	sqlite3_stmt *s = NULL;

	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
		return NULL;
	return s;
}

int
fsync_dir(const char *path)
{
	int fd, rc;

	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	rc = fsync(fd);
	(void)close(fd);	/* read-only descriptor */
	return rc;
}

static int
is_dir(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static int
mkdir_ok(const char *path)
{
	return mkdir(path, 0700) == 0 || errno == EEXIST ? 0 : -1;
}

int
maildir_make(const char *path)
{
	char p[PATH_MAX];
	const char *sub[] = { "tmp", "new", "cur" };
	size_t i;

	if (mkdir_ok(path) == -1)
		return -1;
	for (i = 0; i < 3; i++) {
		if ((size_t)snprintf(p, sizeof(p), "%s/%s", path, sub[i]) >=
		    sizeof(p)) {
			errno = ENAMETOOLONG;
			return -1;
		}
		if (mkdir_ok(p) == -1)
			return -1;
	}
	return fsync_dir(path);
}

/*
 * A new user's Maildir is durable only once the directories naming it
 * are: its domain directory (which now holds it) and the store root
 * (which may just have got the domain directory). Only on creation.
 */
static int
store_sync_parents(const char *root, const char *userdir)
{
	char p[PATH_MAX];
	const char *slash = strrchr(userdir, '/');

	if (slash == NULL || (size_t)(slash - userdir) >= sizeof(p)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(p, userdir, (size_t)(slash - userdir));
	p[slash - userdir] = '\0';
	return fsync_dir(p) == -1 || fsync_dir(root) == -1 ? -1 : 0;
}

/* ------------------------------------------------------------ names */

static int
b64val(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == ',')
		return 63;
	return -1;
}

/* Checks the modified base64 run s[0..n) (between "&" and "-"). */
static int
mutf7_run_ok(const char *s, size_t n)
{
	uint32_t bits = 0, hi = 0;
	unsigned nbits = 0;
	size_t i;
	int v;

	if (n == 0)
		return 0;
	for (i = 0; i < n; i++) {
		if ((v = b64val((unsigned char)s[i])) == -1)
			return 0;
		bits = (bits << 6) | (uint32_t)v;
		nbits += 6;
		if (nbits >= 16) {
			uint32_t u = (bits >> (nbits - 16)) & 0xffff;

			nbits -= 16;
			if (hi != 0) {
				if (u < 0xdc00 || u > 0xdfff)
					return 0;
				hi = 0;
			} else if (u >= 0xd800 && u <= 0xdbff)
				hi = u;
			else if (u >= 0xdc00 && u <= 0xdfff)
				return 0;
			else if (u >= 0x20 && u <= 0x7e)
				return 0;	/* must be sent as itself */
		}
	}
	/* Leftover bits must be padding zeros, fewer than 6. */
	if (hi != 0 || nbits >= 6 || (bits & ((1u << nbits) - 1)) != 0)
		return 0;
	return 1;
}

int
mstore_is_inbox(const char *name)
{
	return strcasecmp(name, "INBOX") == 0;
}

int
mstore_name_ok(const char *name, const char **errstr_r)
{
	size_t len, i, comp = 0;
	const char *amp;

	if (name == NULL || (len = strlen(name)) == 0)
		return set_err(errstr_r, "invalid mailbox name: empty", 0);
	if (len > MSTORE_NAME_MAX)
		return set_err(errstr_r, "invalid mailbox name: too long", 0);
	if (mstore_is_inbox(name))
		return 1;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c < 0x20 || c == 0x7f)
			return set_err(errstr_r, "invalid mailbox name:"
			    " control character", 0);
		if (c >= 0x80)
			return set_err(errstr_r, "invalid mailbox name:"
			    " 8-bit octet (use modified UTF-7)", 0);
		if (c == '/' || c == '\\')
			return set_err(errstr_r, "invalid mailbox name:"
			    " \"/\" or \"\\\"", 0);
		if (c == '*' || c == '%')
			return set_err(errstr_r, "invalid mailbox name:"
			    " wildcard character", 0);
		if (c == '.') {
			if (comp == 0)
				break;
			comp = 0;
		} else
			comp++;
	}
	if (i < len || comp == 0)
		return set_err(errstr_r, "invalid mailbox name:"
		    " empty hierarchy level", 0);
	for (amp = strchr(name, '&'); amp != NULL;
	    amp = strchr(amp, '&')) {
		const char *end = strchr(amp + 1, '-');

		if (end == NULL)
			return set_err(errstr_r, "invalid mailbox name:"
			    " bad modified UTF-7", 0);
		if (end != amp + 1 &&
		    !mutf7_run_ok(amp + 1, (size_t)(end - amp - 1)))
			return set_err(errstr_r, "invalid mailbox name:"
			    " bad modified UTF-7", 0);
		amp = end + 1;
	}
	return 1;
}

/*
 * Canonical form of a valid name: "INBOX" in any case becomes "INBOX", as
 * does a first level "inbox." (so "Inbox.x" is "INBOX.x"). Into out.
 */
void
mstore_name_canon(const char *name, char *out, size_t outsz)
{
	(void)ms_strlcpy(out, name, outsz);
	if (strncasecmp(out, "INBOX", 5) == 0 &&
	    (out[5] == '\0' || out[5] == '.'))
		memcpy(out, "INBOX", 5);
}

int
mstore_addr_escape(const char *s, size_t n, struct buf *out)
{
	static const char hex[] = "0123456789abcdef";
	size_t i;

	if (n == 0)
		return -1;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)tolower((unsigned char)s[i]);

		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    (c == '.' && i > 0) || c == '_' || c == '+' || c == '-') {
			if (buf_appendc(out, (char)c) == -1)
				return -1;
		} else if (buf_appendc(out, '%') == -1 ||
		    buf_appendc(out, hex[c >> 4]) == -1 ||
		    buf_appendc(out, hex[c & 15]) == -1)
			return -1;
	}
	return 1;
}

/* --------------------------------------------------------- open/close */

static int
store_db_open(struct mstore *st, int create, const char **errstr_r)
{
	char p[PATH_MAX];
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;

	(void)create;
	if ((size_t)snprintf(p, sizeof(p), "%s/index.db", st->dir) >=
	    sizeof(p))
		return set_err(errstr_r, "store path too long", -1);
	flags |= SQLITE_OPEN_CREATE;	/* the index is a rebuildable cache */
	if (sqlite3_open_v2(p, &st->db, flags, NULL) != SQLITE_OK)
		return db_err(st, errstr_r, "open");
	(void)sqlite3_busy_timeout(st->db, 10000);	/* always SQLITE_OK */
	/*
	 * Every LMTP delivery opens and closes the store: the last close
	 * would checkpoint the WAL into the database (two more fsyncs) each
	 * time. Leave that to SQLite's automatic checkpoints instead.
	 */
	(void)sqlite3_db_config(st->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1,
	    NULL);	/* advisory */
	/* No lookaside arena: ~120 KiB per session that idles. */
	(void)sqlite3_db_config(st->db, SQLITE_DBCONFIG_LOOKASIDE, NULL, 0,
	    0);	/* advisory */
	/*
	 * Two processes opening a fresh index race for the journal mode
	 * switch; the loser gets SQLITE_BUSY and the winner's mode is kept in
	 * the file, so the result is ignored (any mode is correct anyway).
	 */
	(void)mstore_exec(st, "PRAGMA journal_mode=WAL");
	/*
	 * One process per session, many sessions: a small private page
	 * cache, and the file read through a shared mapping (the kernel's
	 * page cache, counted once for every session of the machine).
	 */
	(void)mstore_exec(st, "PRAGMA cache_size=-256");	/* advisory */
	(void)mstore_exec(st, "PRAGMA mmap_size=268435456");	/* advisory */
	if (mstore_exec(st, "PRAGMA synchronous=FULL") == -1 ||
	    mstore_exec(st, mstore_schema) == -1)
		return db_err(st, errstr_r, "schema");
	return 1;
}

/* SQLite says the index file is damaged (not a database, or corrupt). */
static int
store_db_damaged(struct mstore *st)
{
	int e = st->db != NULL ? sqlite3_errcode(st->db) : SQLITE_OK;

	return e == SQLITE_CORRUPT || e == SQLITE_NOTADB;
}

/*
 * The index is a cache of the Maildir: a damaged one is set aside as
 * index.db.damaged (with its -wal and -shm; one copy kept, for a look)
 * and a new one is built from the directory, with a new UIDVALIDITY. An
 * flock on index.lock makes sure only one process does it, and only to
 * the file it found damaged (another may have rebuilt it meanwhile).
 * 1 when the caller should open again, -1 when not.
 */
static int
store_db_set_aside(struct mstore *st, const struct stat *damaged)
{
	/* The database last: a new index must never meet the old -wal. */
	static const char *const ext[] = { "-wal", "-shm", "" };
	char from[PATH_MAX], to[PATH_MAX + 16];
	struct stat sb;
	size_t i;
	int fd, r = -1;

	if ((size_t)snprintf(from, sizeof(from), "%s/index.lock", st->dir) >=
	    sizeof(from) || (fd = open(from, O_RDWR | O_CREAT | O_CLOEXEC |
	    O_NOFOLLOW, 0600)) == -1)
		return -1;
	if (flock(fd, LOCK_EX) == -1)
		goto out;
	(void)snprintf(from, sizeof(from), "%s/index.db", st->dir);
	if (stat(from, &sb) == -1 || sb.st_ino != damaged->st_ino ||
	    sb.st_dev != damaged->st_dev) {
		r = 1;		/* rebuilt by someone else: open that */
		goto out;
	}
	for (i = 0; i < sizeof(ext) / sizeof(ext[0]); i++) {
		(void)snprintf(from, sizeof(from), "%s/index.db%s", st->dir,
		    ext[i]);
		(void)snprintf(to, sizeof(to), "%s/index.db.damaged%s",
		    st->dir, ext[i]);
		if (rename(from, to) == -1 && errno != ENOENT)
			goto out;
	}
	log_warn("store index of %s was damaged: set aside as "
	    "index.db.damaged, rebuilding it from the Maildir (new "
	    "UIDVALIDITY)", st->dir);
	r = 1;
out:
	(void)close(fd);	/* releases the flock */
	return r;
}

int
mstore_open(const char *root, const char *user, int create,
    struct mstore **st_r, const char **errstr_r)
{
	struct buf b = BUF_INIT(PATH_MAX - 64);
	struct mstore *st;
	const char *at;
	int rc;

	*st_r = NULL;
	if (root == NULL || *root != '/' || user == NULL ||
	    (at = strrchr(user, '@')) == NULL || at == user ||
	    at[1] == '\0')
		return set_err(errstr_r, "invalid store root or user", -1);
	if (buf_appends(&b, root) == -1 || buf_appendc(&b, '/') == -1 ||
	    mstore_addr_escape(at + 1, strlen(at + 1), &b) == -1) {
		buf_free(&b);
		return set_err(errstr_r, "invalid user", -1);
	}
	if (create && mkdir_ok(buf_cstr(&b)) == -1) {
		buf_free(&b);
		return set_err(errstr_r, "cannot create the domain directory",
		    -1);
	}
	if (buf_appendc(&b, '/') == -1 ||
	    mstore_addr_escape(user, (size_t)(at - user), &b) == -1) {
		buf_free(&b);
		return set_err(errstr_r, "invalid user", -1);
	}
	if (!is_dir(buf_cstr(&b))) {
		if (!create) {
			buf_free(&b);
			return set_err(errstr_r, "no such mailbox", 0);
		}
		if (maildir_make(buf_cstr(&b)) == -1 ||
		    store_sync_parents(root, buf_cstr(&b)) == -1) {
			buf_free(&b);
			return set_err(errstr_r, "cannot create the Maildir",
			    -1);
		}
	}
	st = xcalloc(1, sizeof(*st));
	st->dir = buf_steal(&b);
	st->lockfd = -1;
	st->watchfd = -1;
	rc = store_db_open(st, create, errstr_r);
	if (rc != 1 && store_db_damaged(st)) {
		struct stat sb;
		char p[PATH_MAX];

		(void)snprintf(p, sizeof(p), "%s/index.db", st->dir);
		(void)sqlite3_close_v2(st->db);
		st->db = NULL;
		if (stat(p, &sb) == 0 && store_db_set_aside(st, &sb) == 1)
			rc = store_db_open(st, create, errstr_r);
	}
	if (rc != 1) {
		/* errstr may point into st: keep a static copy. */
		if (errstr_r != NULL)
			*errstr_r = "cannot open the mail index";
		mstore_close(&st);
		return rc;
	}
	*st_r = st;
	return 1;
}

void
mstore_close(struct mstore **stp)
{
	struct mstore *st = *stp;

	if (st == NULL)
		return;
	if (st->db != NULL)
		(void)sqlite3_close_v2(st->db);	/* statements finalized */
	mstore_unlink_forget(st, 0);	/* uncommitted: the rows stay */
	free(st->unl);
	if (st->lockfd != -1)
		(void)close(st->lockfd);	/* releases the flock */
	if (st->watchfd != -1)
		(void)close(st->watchfd);	/* inotify: nothing to flush */
	free(st->dir);
	free(st);
	*stp = NULL;
}

const char *
mstore_dir(const struct mstore *st)
{
	return st->dir;
}

void
mstore_set_quota(struct mstore *st, uint64_t bytes)
{
	st->quota = bytes;
	st->used_ok = 0;
}

int
mstore_usage(struct mstore *st, uint64_t *bytes_r, const char **errstr_r)
{
	char dir[PATH_MAX], cur[PATH_MAX + 8];
	struct stat sb;
	sqlite3_stmt *s;
	const char *name;
	int rc;

	*bytes_r = 0;
	/*
	 * What the index knows: every delivery and session change; files
	 * other programs dropped in count once a session has synced. A
	 * folder whose directory another program removed no longer counts
	 * (its rows stay until a session syncs it, which may be never):
	 * otherwise its size would hold the quota full for good.
	 */
	if ((s = mstore_prep(st, "SELECT f.name, total(m.size) FROM msgs m"
	    " JOIN folders f ON f.id = m.folder GROUP BY m.folder")) == NULL)
		return db_err(st, errstr_r, "usage");
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		name = (const char *)sqlite3_column_text(s, 0);
		if (name == NULL || folder_path(st, name, dir,
		    sizeof(dir)) == -1)
			continue;
		(void)snprintf(cur, sizeof(cur), "%s/cur", dir);
		if (stat(cur, &sb) == 0 && S_ISDIR(sb.st_mode))
			*bytes_r += (uint64_t)sqlite3_column_double(s, 1);
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return db_err(st, errstr_r, "usage");
	return 1;
}

/* ------------------------------------------------------------ watch */

static void
watch_add(struct mstore *st, const char *dir)
{
	char p[PATH_MAX];

	/* A folder may vanish meanwhile: a missing watch is not fatal. */
	(void)inotify_add_watch(st->watchfd, dir, IN_CREATE | IN_DELETE |
	    IN_MOVED_FROM | IN_MOVED_TO | IN_MODIFY | IN_CLOSE_WRITE);
	if ((size_t)snprintf(p, sizeof(p), "%s/new", dir) < sizeof(p))
		(void)inotify_add_watch(st->watchfd, p, IN_CREATE |
		    IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO);
	if ((size_t)snprintf(p, sizeof(p), "%s/cur", dir) < sizeof(p))
		(void)inotify_add_watch(st->watchfd, p, IN_CREATE |
		    IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO);
}

static int
watch_folder(void *arg, const char *name, int noselect, int has_children)
{
	struct mstore *st = arg;
	char p[PATH_MAX];

	(void)has_children;
	if (noselect || mstore_is_inbox(name))
		return 0;
	if ((size_t)snprintf(p, sizeof(p), "%s/.%s", st->dir, name) <
	    sizeof(p))
		watch_add(st, p);
	return 0;
}

int
mstore_watch_fd(struct mstore *st, const char **errstr_r)
{
	if (st->watchfd != -1)
		return st->watchfd;
	if ((st->watchfd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) == -1)
		return mstore_err(st, errstr_r, "inotify: %s",
		    strerror(errno));
	/* The user directory sees index.db-wal change: any index write. */
	watch_add(st, st->dir);
	if (mstore_folder_foreach(st, watch_folder, st) == -1)
		return mstore_err(st, errstr_r, "cannot list folders");
	return st->watchfd;
}

void
mstore_watch_drain(struct mstore *st)
{
	char ev[4096] __attribute__((aligned(8)));
	const struct inotify_event *ie;
	ssize_t n, i;
	int newdir = 0;

	if (st->watchfd == -1)
		return;
	while ((n = read(st->watchfd, ev, sizeof(ev))) > 0)
		for (i = 0; i + (ssize_t)sizeof(*ie) <= n;
		    i += (ssize_t)sizeof(*ie) + ie->len) {
			ie = (const struct inotify_event *)(ev + i);
			if ((ie->mask & IN_ISDIR) &&
			    (ie->mask & (IN_CREATE | IN_MOVED_TO)))
				newdir = 1;
		}
	/* A folder created or renamed since: watch its new/ and cur/ too. */
	if (newdir)
		(void)mstore_folder_foreach(st, watch_folder, st);
}

int
mstore_lock_inbox(struct mstore *st, const char **errstr_r)
{
	char p[PATH_MAX];

	if (st->lockfd == -1) {
		if ((size_t)snprintf(p, sizeof(p), "%s/pop3.lock", st->dir) >=
		    sizeof(p))
			return set_err(errstr_r, "store path too long", -1);
		if ((st->lockfd = open(p, O_RDWR | O_CREAT | O_CLOEXEC |
		    O_NOFOLLOW, 0600)) == -1)
			return mstore_err(st, errstr_r, "lock file: %s",
			    strerror(errno));
	}
	if (flock(st->lockfd, LOCK_EX | LOCK_NB) == -1) {
		if (errno == EWOULDBLOCK)
			return set_err(errstr_r, "mailbox in use", 0);
		return mstore_err(st, errstr_r, "lock: %s", strerror(errno));
	}
	return 1;
}
