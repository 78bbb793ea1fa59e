/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * Folders of the store (see mstore.h): the folders table of the index kept
 * in step with the Maildir++ directories (a directory scan when new/ or cur/
 * changed since the last one), delivery (mstore_add), create/delete/rename,
 * subscriptions and STATUS. A folder is ".<name>" in the user directory; a
 * \Noselect folder (a deleted parent) is such a directory without cur/.
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/uio.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "store/mstore.h"
#include "store/mstore_priv.h"

int
folder_path(struct mstore *st, const char *canon, char *out, size_t outsz)
{
	size_t n;

	if (strcmp(canon, "INBOX") == 0)
		n = (size_t)snprintf(out, outsz, "%s", st->dir);
	else
		n = (size_t)snprintf(out, outsz, "%s/.%s", st->dir, canon);
	return n < outsz ? 1 : -1;
}

static int
sub_exists(const char *dir, const char *sub)
{
	char p[PATH_MAX];
	struct stat sb;

	return (size_t)snprintf(p, sizeof(p), "%s/%s", dir, sub) <
	    sizeof(p) && stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static int64_t
mtime_ns(const char *dir, const char *sub)
{
	char p[PATH_MAX];
	struct stat sb;

	if ((size_t)snprintf(p, sizeof(p), "%s/%s", dir, sub) >= sizeof(p) ||
	    stat(p, &sb) == -1)
		return -1;
	return (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
}

int
folder_row_get(struct mstore *st, const char *canon, struct folder_row *fr)
{
	sqlite3_stmt *s;
	int rc;

	if ((s = mstore_prep(st, "SELECT id, uidvalidity, uidnext, hms,"
	    " recent_uid, mt_new, mt_cur FROM folders WHERE name = ?")) ==
	    NULL)
		return -1;
	(void)sqlite3_bind_text(s, 1, canon, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		fr->id = sqlite3_column_int64(s, 0);
		fr->uidvalidity = (uint32_t)sqlite3_column_int64(s, 1);
		fr->uidnext = (uint32_t)sqlite3_column_int64(s, 2);
		fr->hms = (uint64_t)sqlite3_column_int64(s, 3);
		fr->recent_uid = (uint32_t)sqlite3_column_int64(s, 4);
		fr->mt_new = sqlite3_column_int64(s, 5);
		fr->mt_cur = sqlite3_column_int64(s, 6);
	}
	sqlite3_finalize(s);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int
folder_row_write(struct mstore *st, const struct folder_row *fr)
{
	sqlite3_stmt *s;
	int rc;

	if ((s = mstore_prep(st, "UPDATE folders SET uidnext = ?, hms = ?,"
	    " recent_uid = ?, mt_new = ?, mt_cur = ? WHERE id = ?")) == NULL)
		return -1;
	(void)sqlite3_bind_int64(s, 1, fr->uidnext);
	(void)sqlite3_bind_int64(s, 2, (sqlite3_int64)fr->hms);
	(void)sqlite3_bind_int64(s, 3, fr->recent_uid);
	(void)sqlite3_bind_int64(s, 4, fr->mt_new);
	(void)sqlite3_bind_int64(s, 5, fr->mt_cur);
	(void)sqlite3_bind_int64(s, 6, fr->id);
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 1 : -1;
}

/*
 * A bound above every UIDVALIDITY handed out is also kept in the file
 * "uidvalidity" of the user directory, outside index.db: a rebuilt index
 * (deleted, or damaged and set aside) knows no earlier value, and a
 * rebuild in the same second as an earlier UIDVALIDITY (or before one that
 * folder creations pushed ahead of the clock) would reuse it with new
 * UIDs, which RFC 3501 2.3.1.1 forbids (clients would keep the old UIDs'
 * cached messages).
 */
#define UV_FILE		"uidvalidity"

static int64_t
uv_file_read(struct mstore *st)
{
	char p[PATH_MAX], b[32];
	long long v;
	ssize_t n;
	int fd;

	if ((size_t)snprintf(p, sizeof(p), "%s/" UV_FILE, st->dir) >=
	    sizeof(p) || (fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) ==
	    -1)
		return 0;
	n = read(fd, b, sizeof(b) - 1);
	(void)close(fd);	/* read-only */
	if (n <= 0)
		return 0;
	b[n] = '\0';
	v = strtoll(b, NULL, 10);
	/* Garbage, or no UIDVALIDITY (corrupt, edited): no floor, and the
	 * next new UIDVALIDITY writes the file again. */
	return v > 0 && v < UINT32_MAX ? v : 0;
}

/* Durable before the index row that uses v commits (a new file, synced,
 * renamed into place, the directory synced): -1 on error (errno). A
 * failure only loses the floor for a later rebuild: logged, not fatal. */
static int
uv_file_write(struct mstore *st, int64_t v)
{
	char tmp[PATH_MAX], p[PATH_MAX], b[32];
	int fd, n, ok;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s/" UV_FILE ".tmp",
	    st->dir) >= sizeof(tmp) || (size_t)snprintf(p, sizeof(p),
	    "%s/" UV_FILE, st->dir) >= sizeof(p))
		return -1;
	/* Writers hold the index write lock: one at a time. */
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC |
	    O_NOFOLLOW, 0600)) == -1)
		return -1;
	n = snprintf(b, sizeof(b), "%lld\n", (long long)v);
	ok = write(fd, b, (size_t)n) == n && fsync(fd) == 0;
	if (close(fd) == -1 || !ok || rename(tmp, p) == -1) {
		(void)unlink(tmp);
		return -1;
	}
	return fsync_dir(st->dir);
}

/*
 * A new UIDVALIDITY: the time, but always above every earlier one. The
 * index records the last one; the uidvalidity file holds a bound above
 * every one handed out (UV_AHEAD past the last it was written for, so a
 * burst of folder creations or a rebuild of many folders writes it once),
 * which a new index starts above.
 */
#define UV_AHEAD	64

static int
next_uidvalidity(struct mstore *st, uint32_t *uv_r)
{
	sqlite3_stmt *s;
	int64_t last = 0, top, now = (int64_t)time(NULL);
	int rc;

	if ((s = mstore_prep(st, "SELECT v FROM meta WHERE k ="
	    " 'uidvalidity'")) == NULL)
		return -1;
	if ((rc = sqlite3_step(s)) == SQLITE_ROW)
		last = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return -1;
	top = uv_file_read(st);
	if (rc == SQLITE_DONE && top > 0)
		last = top;	/* a new index */
	if (now <= last)
		now = last + 1;
	if (now > UINT32_MAX || now < 1)
		now = 1;
	if (now > top && uv_file_write(st, now + UV_AHEAD) == -1)
		log_warn("store cannot write %s/" UV_FILE ": %s (a rebuilt "
		    "index may reuse UIDVALIDITY %lld)", st->dir,
		    strerror(errno), (long long)now);
	if ((s = mstore_prep(st, "INSERT OR REPLACE INTO meta VALUES"
	    "('uidvalidity', ?)")) == NULL)
		return -1;
	(void)sqlite3_bind_int64(s, 1, now);
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	*uv_r = (uint32_t)now;
	return rc == SQLITE_DONE ? 1 : -1;
}

/*
 * A new folder row. Its id is above every id the index ever gave (the
 * meta key "folder_id" keeps the highest): a rowid alone would give a
 * deleted last folder's id again, and a handle still open on that folder
 * (a session between its gone check and its command) would reach the new
 * folder's messages by UID (msgs, cache rows: EXPUNGE, STORE).
 */
static int
row_create(struct mstore *st, const char *canon, struct folder_row *fr)
{
	sqlite3_stmt *s;
	int rc;

	memset(fr, 0, sizeof(*fr));
	if (next_uidvalidity(st, &fr->uidvalidity) == -1)
		return -1;
	fr->uidnext = 1;
	fr->hms = 1;
	fr->mt_new = fr->mt_cur = -1;
	if ((s = mstore_prep(st, "INSERT INTO folders(id, name, uidvalidity,"
	    " uidnext, hms, recent_uid, mt_new, mt_cur)"
	    " VALUES(max(coalesce((SELECT v FROM meta WHERE k ="
	    " 'folder_id'), 0), coalesce((SELECT max(id) FROM folders), 0))"
	    " + 1, ?, ?, 1, 1, 0, -1, -1)")) == NULL)
		return -1;
	(void)sqlite3_bind_text(s, 1, canon, -1, SQLITE_STATIC);
	(void)sqlite3_bind_int64(s, 2, fr->uidvalidity);
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return -1;
	fr->id = sqlite3_last_insert_rowid(st->db);
	if ((s = mstore_prep(st, "INSERT OR REPLACE INTO meta VALUES"
	    "('folder_id', ?)")) == NULL)
		return -1;
	(void)sqlite3_bind_int64(s, 1, fr->id);
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 1 : -1;
}

/* ------------------------------------------------------------ scan */

/*
 * The names a scan reads live in 128 KiB chunks freed together at its end:
 * a scan of a big folder then leaves no scattered small blocks behind in
 * the heap of a session that goes back to waiting.
 */
#define ARENA_CHUNK	(128 * 1024)

struct arena {
	char	**chunks;
	size_t	  n;
	char	 *cur;
	size_t	  left;
};

static char *
arena_dup(struct arena *a, const char *s1, const char *s2)
{
	size_t l1 = strlen(s1), l2 = s2 ? strlen(s2) : 0, need = l1 + l2 + 1;
	char *p;

	if (need > a->left) {
		size_t sz = need > ARENA_CHUNK ? need : ARENA_CHUNK;

		a->chunks = xrealloc(a->chunks, (a->n + 1) *
		    sizeof(*a->chunks));
		a->chunks[a->n++] = a->cur = xmalloc(sz);
		a->left = sz;
	}
	p = a->cur;
	memcpy(p, s1, l1);
	if (l2 > 0)
		memcpy(p + l1, s2, l2);
	p[l1 + l2] = '\0';
	a->cur += need;
	a->left -= need;
	return p;
}

static void
arena_free(struct arena *a)
{
	size_t i;

	for (i = 0; i < a->n; i++)
		free(a->chunks[i]);
	free(a->chunks);
	memset(a, 0, sizeof(*a));
}

struct scan_ent {
	char	*file;		/* "new/x" or "cur/x:2,S" */
	size_t	 blen;		/* base length (after the 4-byte dir) */
};

struct scan_row {
	uint32_t uid;
	uint32_t flags;
	char	*base;
	char	*file;
};

static int
base_cmp(const char *a, size_t al, const char *b, size_t bl)
{
	int c = memcmp(a, b, al < bl ? al : bl);

	if (c != 0)
		return c;
	return al < bl ? -1 : al > bl;
}

static int
ent_cmp(const void *pa, const void *pb)
{
	const struct scan_ent *a = pa, *b = pb;
	int c = base_cmp(a->file + 4, a->blen, b->file + 4, b->blen);

	/* Same base in both: cur/ first, the copy that is kept. */
	return c != 0 ? c : -strcmp(a->file, b->file);
}

static int
scan_dir(const char *dir, const char *sub, struct scan_ent **ents,
    size_t *n, size_t *cap, struct arena *a)
{
	char p[PATH_MAX];
	struct dirent *de;
	DIR *d;

	if ((size_t)snprintf(p, sizeof(p), "%s/%s", dir, sub) >= sizeof(p) ||
	    (d = opendir(p)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (*n == *cap) {
			*cap = *cap ? *cap * 2 : 64;
			*ents = xrealloc(*ents, *cap * sizeof(**ents));
		}
		(*ents)[*n].file = arena_dup(a, strcmp(sub, "new") == 0 ?
		    "new/" : "cur/", de->d_name);
		(*ents)[*n].blen = md_base_len(de->d_name);
		(*n)++;
	}
	(void)closedir(d);	/* read-only */
	return 0;
}

/* The folder's doomed base names (msg_doom), sorted as rows_load's. */
static int
doomed_load(struct mstore *st, int64_t fid, char ***v_r, size_t *n_r,
    struct arena *a)
{
	char **v = NULL;
	size_t n = 0, cap = 0;
	sqlite3_stmt *s;
	int rc;

	if ((s = mstore_prep(st, "SELECT base FROM doomed WHERE folder = ?"
	    " ORDER BY base")) == NULL)
		return -1;
	(void)sqlite3_bind_int64(s, 1, fid);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			v = xrealloc(v, cap * sizeof(*v));
		}
		v[n++] = arena_dup(a, (const char *)sqlite3_column_text(s, 0),
		    NULL);
	}
	sqlite3_finalize(s);
	*v_r = v;
	*n_r = n;
	return rc == SQLITE_DONE ? 0 : -1;
}

/*
 * A file the index does not know whose base is doomed: the file of a
 * message expunged by a session that died before unlinking it. 1 when it
 * was (k walks doomed[] along the sorted entries).
 */
static int
doomed_unlink(const char *dir, const struct scan_ent *e, char **doomed,
    size_t nd, size_t *k)
{
	char path[PATH_MAX];
	int c = 1;

	while (*k < nd && (c = base_cmp(doomed[*k], strlen(doomed[*k]),
	    e->file + 4, e->blen)) < 0)
		(*k)++;
	if (*k == nd || c != 0 || (size_t)snprintf(path, sizeof(path),
	    "%s/%s", dir, e->file) >= sizeof(path))
		return 0;
	if (unlink(path) == 0)
		md_test_unlinked();
	return 1;	/* unlinked, or gone already */
}

static int
doomed_clear(struct mstore *st, int64_t fid)
{
	sqlite3_stmt *s;
	int rc;

	if ((s = mstore_prep(st, "DELETE FROM doomed WHERE folder = ?")) ==
	    NULL)
		return -1;
	(void)sqlite3_bind_int64(s, 1, fid);
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : -1;
}

static int
rows_load(struct mstore *st, int64_t fid, struct scan_row **rows_r,
    size_t *n_r, struct arena *a)
{
	struct scan_row *rows = NULL;
	size_t n = 0, cap = 0;
	sqlite3_stmt *s;
	int rc;

	if ((s = mstore_prep(st, "SELECT uid, flags, base, file FROM msgs"
	    " WHERE folder = ? ORDER BY base")) == NULL)
		return -1;
	(void)sqlite3_bind_int64(s, 1, fid);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			rows = xrealloc(rows, cap * sizeof(*rows));
		}
		rows[n].uid = (uint32_t)sqlite3_column_int64(s, 0);
		rows[n].flags = (uint32_t)sqlite3_column_int64(s, 1);
		rows[n].base = arena_dup(a, (const char *)
		    sqlite3_column_text(s, 2), NULL);
		rows[n].file = arena_dup(a, (const char *)
		    sqlite3_column_text(s, 3), NULL);
		n++;
	}
	sqlite3_finalize(s);
	*rows_r = rows;
	*n_r = n;
	return rc == SQLITE_DONE ? 0 : -1;
}

int
msg_gone(struct mstore *st, int64_t fid, uint32_t uid)
{
	sqlite3_stmt *s;
	int rc = -1;
	int i;

	st->used_ok = 0;	/* a batch's usage changes */
	for (i = 0; i < 2; i++) {
		if ((s = mstore_prep(st, i == 0 ?
		    "DELETE FROM msgs WHERE folder = ? AND uid = ?" :
		    "DELETE FROM cache WHERE folder = ? AND uid = ?")) == NULL)
			return -1;
		(void)sqlite3_bind_int64(s, 1, fid);
		(void)sqlite3_bind_int64(s, 2, uid);
		rc = sqlite3_step(s) == SQLITE_DONE ? 0 : -1;
		sqlite3_finalize(s);
		if (rc == -1)
			return -1;
	}
	return rc;
}

int
msg_doom(struct mstore *st, int64_t fid, const char *dir, const char *file)
{
	char base[NAME_MAX + 1];
	struct buf path = BUF_INIT(PATH_MAX);
	size_t bl = strlen(file) > 4 ? md_base_len(file + 4) : 0;
	sqlite3_stmt *s;
	int rc;

	if (bl == 0 || bl >= sizeof(base) || buf_appendf(&path, "%s/%s", dir,
	    file) == -1) {
		buf_free(&path);
		return -1;
	}
	memcpy(base, file + 4, bl);
	base[bl] = '\0';
	if ((s = mstore_prep(st, "INSERT OR IGNORE INTO doomed(folder, base)"
	    " VALUES(?, ?)")) == NULL) {
		buf_free(&path);
		return -1;
	}
	(void)sqlite3_bind_int64(s, 1, fid);
	(void)sqlite3_bind_text(s, 2, base, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE) {
		buf_free(&path);
		return -1;
	}
	if (st->nunl == st->capunl) {
		st->capunl = st->capunl ? st->capunl * 2 : 16;
		st->unl = xrealloc(st->unl, st->capunl * sizeof(*st->unl));
	}
	st->unl[st->nunl++] = buf_steal(&path);
	return 0;
}

static int
msg_moved(struct mstore *st, int64_t fid, const struct scan_row *r,
    const char *file, struct folder_row *fr)
{
	uint32_t flags = (r->flags & ~MD_FLAGS) | md_flags_of(file);
	sqlite3_stmt *s;
	int rc;

	if ((s = mstore_prep(st, flags == r->flags ?
	    "UPDATE msgs SET file = ?3 WHERE folder = ?1 AND uid = ?2" :
	    "UPDATE msgs SET file = ?3, flags = ?4, modseq = ?5"
	    " WHERE folder = ?1 AND uid = ?2")) == NULL)
		return -1;
	(void)sqlite3_bind_int64(s, 1, fid);
	(void)sqlite3_bind_int64(s, 2, r->uid);
	(void)sqlite3_bind_text(s, 3, file, -1, SQLITE_STATIC);
	if (flags != r->flags) {
		(void)sqlite3_bind_int64(s, 4, flags);
		(void)sqlite3_bind_int64(s, 5, (sqlite3_int64)++fr->hms);
	}
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : -1;
}

int
msg_insert(struct mstore *st, struct folder_row *fr, const char *base,
    const char *file, uint32_t flags, const char *kw, time_t idate,
    uint64_t size, uint32_t *uid_r)
{
	sqlite3_stmt *s;
	int rc;

	if (fr->uidnext == UINT32_MAX)
		return -1;	/* RFC 3501: then a new UIDVALIDITY */
	if ((s = mstore_prep(st, "INSERT INTO msgs(folder, uid, base, file,"
	    " flags, keywords, idate, size, modseq)"
	    " VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)")) == NULL)
		return -1;
	(void)sqlite3_bind_int64(s, 1, fr->id);
	(void)sqlite3_bind_int64(s, 2, fr->uidnext);
	(void)sqlite3_bind_text(s, 3, base, -1, SQLITE_STATIC);
	(void)sqlite3_bind_text(s, 4, file, -1, SQLITE_STATIC);
	(void)sqlite3_bind_int64(s, 5, flags & MD_FLAGS);
	(void)sqlite3_bind_text(s, 6, kw ? kw : "", -1, SQLITE_STATIC);
	(void)sqlite3_bind_int64(s, 7, (sqlite3_int64)idate);
	(void)sqlite3_bind_int64(s, 8, (sqlite3_int64)size);
	(void)sqlite3_bind_int64(s, 9, (sqlite3_int64)fr->hms + 1);
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return -1;
	fr->hms++;
	if (uid_r != NULL)
		*uid_r = fr->uidnext;
	fr->uidnext++;
	return 0;
}

/* A file found in the Maildir that the index does not know. */
static int
scan_new(struct mstore *st, const char *dir, struct folder_row *fr,
    const struct scan_ent *e)
{
	char path[PATH_MAX], base[NAME_MAX + 1];
	const char *w;
	struct stat sb;
	uint64_t size = 0;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, e->file) >=
	    sizeof(path) || e->blen >= sizeof(base) ||
	    stat(path, &sb) == -1 || !S_ISREG(sb.st_mode))
		return 0;	/* vanished or odd: not a message */
	memcpy(base, e->file + 4, e->blen);
	base[e->blen] = '\0';
	if ((w = strstr(base, ",W=")) != NULL)
		size = strtoull(w + 3, NULL, 10);
	if ((w == NULL || size == 0) && md_file_size(path, &size) == -1)
		return 0;
	return msg_insert(st, fr, base, e->file, md_flags_of(e->file), "",
	    sb.st_mtim.tv_sec, size, NULL);
}

static int
scan_merge(struct mstore *st, const char *dir, struct folder_row *fr)
{
	struct scan_ent *ents = NULL;
	struct scan_row *rows = NULL;
	char **doomed = NULL;
	struct arena a;
	size_t ne = 0, cap = 0, nr = 0, nd = 0, i = 0, j = 0, k = 0;
	int rc = 0;

	st->used_ok = 0;	/* rows may come and go */
	memset(&a, 0, sizeof(a));
	if (scan_dir(dir, "new", &ents, &ne, &cap, &a) == -1 ||
	    scan_dir(dir, "cur", &ents, &ne, &cap, &a) == -1 ||
	    rows_load(st, fr->id, &rows, &nr, &a) == -1 ||
	    doomed_load(st, fr->id, &doomed, &nd, &a) == -1) {
		rc = -1;
		goto out;
	}
	if (ne > 0)
		qsort(ents, ne, sizeof(*ents), ent_cmp);
	while (rc == 0 && (i < ne || j < nr)) {
		int c;

		/* Skip the new/ twin of a file seen in cur/ too. */
		if (i > 0 && i < ne && base_cmp(ents[i].file + 4,
		    ents[i].blen, ents[i - 1].file + 4, ents[i - 1].blen) ==
		    0) {
			i++;
			continue;
		}
		if (i == ne)
			c = 1;
		else if (j == nr)
			c = -1;
		else
			c = base_cmp(ents[i].file + 4, ents[i].blen,
			    rows[j].base, strlen(rows[j].base));
		if (c > 0) {
			rc = msg_gone(st, fr->id, rows[j].uid);
			fr->hms++;
			j++;
		} else if (c < 0) {
			/* Never a new message: its expunge committed. */
			if (!doomed_unlink(dir, &ents[i], doomed, nd, &k))
				rc = scan_new(st, dir, fr, &ents[i]);
			i++;
		} else {
			if (strcmp(ents[i].file, rows[j].file) != 0)
				rc = msg_moved(st, fr->id, &rows[j],
				    ents[i].file, fr);
			i++;
			j++;
		}
	}
	/* The whole directory was seen: no doomed file is left. */
	if (rc == 0 && nd > 0)
		rc = doomed_clear(st, fr->id);
out:
	arena_free(&a);
	free(ents);
	free(rows);
	free(doomed);
	return rc;
}

/* A directory mtime this old cannot change within its clock tick. */
#define MT_SETTLE_NS	1500000000LL

int
folder_sync(struct mstore *st, const char *canon, int intxn,
    struct folder_row *fr, const char **errstr_r)
{
	char dir[PATH_MAX];
	struct timespec now;
	int64_t mn, mc, old;
	int rc, scanned = 0;

	if (folder_path(st, canon, dir, sizeof(dir)) == -1)
		return mstore_err(st, errstr_r, "store path too long");
	if (!sub_exists(dir, "cur"))
		return mstore_err(st, errstr_r, "no such mailbox"), 0;
	/*
	 * Unchanged directories need no scan. The mtimes are recorded only
	 * when they were older than MT_SETTLE_NS at the scan: a later change
	 * then always gives a different mtime. A directory changed within
	 * the clock tick of a scan is recorded as -1 and scanned again.
	 */
	(void)clock_gettime(CLOCK_REALTIME, &now);
	old = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec - MT_SETTLE_NS;
	mn = mtime_ns(dir, "new");
	mc = mtime_ns(dir, "cur");
	if ((rc = folder_row_get(st, canon, fr)) == -1)
		return mstore_err(st, errstr_r, "index: %s",
		    sqlite3_errmsg(st->db));
	if (rc == 1 && fr->mt_new == mn && fr->mt_cur == mc && mn != -1 &&
	    mc != -1)
		return 1;
	if (!intxn && mstore_begin(st, errstr_r) == -1)
		return -1;
	if ((rc = folder_row_get(st, canon, fr)) == 0)
		rc = row_create(st, canon, fr);
	if (rc == -1)
		goto fail;
	if (!(fr->mt_new == mn && fr->mt_cur == mc && mn != -1 && mc != -1)) {
		if (scan_merge(st, dir, fr) == -1)
			goto fail;
		scanned = 1;
		fr->mt_new = mn < old ? mn : -1;
		fr->mt_cur = mc < old ? mc : -1;
		if (folder_row_write(st, fr) == -1)
			goto fail;
	}
	if (!intxn && mstore_commit(st, errstr_r) == -1)
		return -1;
	if (scanned && !intxn) {
		/* A scan's memory goes back before the session waits. */
		(void)sqlite3_db_release_memory(st->db);	/* advisory */
		(void)malloc_trim(0);
	}
	return 1;
fail:
	(void)mstore_err(st, errstr_r, "index sync: %s",
	    sqlite3_errmsg(st->db));
	if (!intxn)
		mstore_rollback(st);
	return -1;
}

int
mstore_folder_sync(struct mstore *st, const char *name,
    struct folder_row *fr_r, const char **errstr_r)
{
	char canon[MSTORE_NAME_MAX + 1];
	struct folder_row fr;

	if (!mstore_name_ok(name, errstr_r))
		return 0;
	mstore_name_canon(name, canon, sizeof(canon));
	return folder_sync(st, canon, 0, fr_r ? fr_r : &fr, errstr_r);
}

/* ------------------------------------------------------------ add */

/* Checks folder and keywords for an add; dir gets the folder's path. */
static int
add_check(struct mstore *st, const char *folder, const char *keywords,
    char *canon, size_t canonsz, char *dir, size_t dirsz,
    const char **errstr_r)
{
	if (!mstore_name_ok(folder, errstr_r))
		return 0;
	if (keywords != NULL && strlen(keywords) > MBOX_KEYWORDS_MAX) {
		if (errstr_r != NULL)
			*errstr_r = MBOX_ERR_KEYWORDS;
		return -1;
	}
	mstore_name_canon(folder, canon, canonsz);
	if (folder_path(st, canon, dir, dirsz) == -1)
		return mstore_err(st, errstr_r, "store path too long");
	if (!sub_exists(dir, "cur"))
		return set_no_folder(errstr_r);
	return 1;
}

/*
 * The second half of an add: the message is in dir/tmp/base; it goes into
 * new/ or cur/ and gets its index row, in one transaction (the quota is
 * checked in it). The tmp file is gone on return, whatever happened.
 */
static int
add_tmp(struct mstore *st, const char *canon, const char *dir,
    const char *base, uint64_t size, uint32_t flags, const char *keywords,
    time_t internaldate, uint32_t *uidvalidity_r, uint32_t *uid_r,
    const char **errstr_r)
{
	char file[NAME_MAX + 16], from[PATH_MAX], to[PATH_MAX];
	struct folder_row fr;
	uint64_t used = 0;
	int rc;

	if (md_file_name(base, NULL, flags & MD_FLAGS, file,
	    sizeof(file)) == -1 ||
	    (size_t)snprintf(from, sizeof(from), "%s/tmp/%s", dir, base) >=
	    sizeof(from) ||
	    (size_t)snprintf(to, sizeof(to), "%s/%s", dir, file) >=
	    sizeof(to)) {
		rc = mstore_err(st, errstr_r, "store path too long");
		goto unlink_tmp;
	}
	if (mstore_begin(st, errstr_r) == -1) {
		rc = -1;
		goto unlink_tmp;
	}
	/*
	 * A delivery needs the folder's row, not a scan: the next session
	 * that syncs sees new/ changed and picks up anything else then.
	 */
	if ((rc = folder_row_get(st, canon, &fr)) == 0)
		rc = folder_sync(st, canon, 1, &fr, errstr_r);
	else if (rc == -1)
		(void)mstore_err(st, errstr_r, "index: %s",
		    sqlite3_errmsg(st->db));
	if (rc != 1)
		goto rollback;
	/*
	 * Under the write lock: no other delivery can slip in between. In a
	 * batch (an IMAP COPY of many messages) the lock is held from one
	 * add to the next: the usage is read once and counted on, not read
	 * again for every message.
	 */
	if (st->quota > 0) {
		if (st->batch && st->used_ok)
			used = st->used;
		else if ((rc = mstore_usage(st, &used, errstr_r)) != 1)
			goto rollback;
		if (used > st->quota || size > st->quota - used) {
			rc = set_err2(errstr_r, MSTORE_ERR_QUOTA);
			goto rollback;
		}
	}
	if (rename(from, to) == -1) {
		rc = mstore_err(st, errstr_r, "rename: %s", strerror(errno));
		goto rollback;
	}
	to[strlen(dir) + 4] = '\0';	/* dir/new or dir/cur */
	if (fsync_dir(to) == -1 || msg_insert(st, &fr, base, file, flags,
	    keywords, internaldate, size, uid_r) == -1 ||
	    folder_row_write(st, &fr) == -1) {
		rc = mstore_err(st, errstr_r, "index add: %s",
		    sqlite3_errmsg(st->db));
		to[strlen(dir) + 4] = '/';
		(void)unlink(to);	/* nobody saw it: no UID given */
		goto rollback;
	}
	if (mstore_commit(st, errstr_r) == -1) {
		to[strlen(dir) + 4] = '/';
		(void)unlink(to);	/* see above */
		return -1;
	}
	if (st->quota > 0 && st->batch) {
		st->used = used + size;
		st->used_ok = 1;
	}
	if (uidvalidity_r != NULL)
		*uidvalidity_r = fr.uidvalidity;
	return 1;
rollback:
	mstore_rollback(st);
unlink_tmp:
	(void)unlink(from);	/* gone already after a rename */
	return rc;
}

int
mstore_add(struct mstore *st, const char *folder, const char *data,
    size_t len, uint32_t flags, const char *keywords, time_t internaldate,
    uint32_t *uidvalidity_r, uint32_t *uid_r, const char **errstr_r)
{
	struct iovec iov;

	iov.iov_base = (void *)(uintptr_t)data;	/* only read */
	iov.iov_len = len;
	return mstore_addv(st, folder, &iov, 1, flags, keywords, internaldate,
	    uidvalidity_r, uid_r, errstr_r);
}

int
mstore_addv(struct mstore *st, const char *folder, const struct iovec *iov,
    int iovcnt, uint32_t flags, const char *keywords, time_t internaldate,
    uint32_t *uidvalidity_r, uint32_t *uid_r, const char **errstr_r)
{
	char canon[MSTORE_NAME_MAX + 1], dir[PATH_MAX], base[NAME_MAX + 1];
	uint64_t size;
	int rc;

	if ((rc = add_check(st, folder, keywords, canon, sizeof(canon), dir,
	    sizeof(dir), errstr_r)) != 1)
		return rc;
	if (internaldate == 0)
		internaldate = time(NULL);
	if (md_deliver_tmp(st, dir, iov, iovcnt, internaldate, base,
	    sizeof(base), &size, errstr_r) == -1)
		return -1;
	return add_tmp(st, canon, dir, base, size, flags, keywords,
	    internaldate, uidvalidity_r, uid_r, errstr_r);
}

int
mstore_add_file(struct mstore *st, const char *folder, const char *src,
    uint64_t size, uint32_t flags, const char *keywords, time_t internaldate,
    uint32_t *uidvalidity_r, uint32_t *uid_r, const char **errstr_r)
{
	char canon[MSTORE_NAME_MAX + 1], dir[PATH_MAX], base[NAME_MAX + 1];
	int rc;

	if ((rc = add_check(st, folder, keywords, canon, sizeof(canon), dir,
	    sizeof(dir), errstr_r)) != 1)
		return rc;
	if ((rc = md_link_tmp(st, dir, src, size, base, sizeof(base),
	    errstr_r)) != 1) {
		if (rc == 0 && errstr_r != NULL)
			*errstr_r = "message vanished";
		return rc == 0 ? -1 : rc;
	}
	return add_tmp(st, canon, dir, base, size, flags, keywords,
	    internaldate, uidvalidity_r, uid_r, errstr_r);
}

int
mstore_add_spool(struct mstore *st, const char *folder,
    const struct iovec *prefix, int n, const struct mstore_spool *sp,
    uint32_t flags, const char *keywords, time_t internaldate,
    uint32_t *uidvalidity_r, uint32_t *uid_r, const char **errstr_r)
{
	char canon[MSTORE_NAME_MAX + 1], dir[PATH_MAX], base[NAME_MAX + 1];
	uint64_t size = sp->size;
	int rc;

	if ((rc = add_check(st, folder, keywords, canon, sizeof(canon), dir,
	    sizeof(dir), errstr_r)) != 1)
		return rc;
	if (internaldate == 0)
		internaldate = time(NULL);
	rc = md_spool_tmp(st, dir, prefix, n, sp, internaldate, base,
	    sizeof(base), &size, errstr_r);
	if (rc != 1)
		return rc;
	return add_tmp(st, canon, dir, base, size, flags, keywords,
	    internaldate, uidvalidity_r, uid_r, errstr_r);
}

/* ------------------------------------------------------------ arrivals */

int
arrive_target(struct mstore *st, const char *folder, char *canon,
    size_t canonsz, char *dir, size_t dirsz, const char **errstr_r)
{
	return add_check(st, folder, NULL, canon, canonsz, dir, dirsz,
	    errstr_r);
}

int
arrive_link(struct mstore *st, const char *dir, const char *src,
    struct arrival *a, const char **errstr_r)
{
	int rc;

	rc = md_link_tmp(st, dir, src, a->size, a->base, sizeof(a->base),
	    errstr_r);
	if (rc != 1)
		a->base[0] = '\0';
	return rc;
}

/* Marks (add 1) or unmarks (add 0) an arrival's base in folder fid. */
static int
arrive_doom(struct mstore *st, int64_t fid, const char *base, int add)
{
	sqlite3_stmt *s;
	int rc;

	if ((s = mstore_prep(st, add ?
	    "INSERT OR IGNORE INTO doomed(folder, base) VALUES(?, ?)" :
	    "DELETE FROM doomed WHERE folder = ? AND base = ?")) == NULL)
		return -1;
	(void)sqlite3_bind_int64(s, 1, fid);
	(void)sqlite3_bind_text(s, 2, base, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* The target's row, synced (in the caller's transaction). */
static int
arrive_row(struct mstore *st, const char *canon, struct folder_row *fr,
    const char **errstr_r)
{
	int rc;

	if ((rc = folder_row_get(st, canon, fr)) == 0)
		rc = folder_sync(st, canon, 1, fr, errstr_r);
	else if (rc == -1)
		(void)mstore_err(st, errstr_r, "index: %s",
		    sqlite3_errmsg(st->db));
	return rc;
}

int
arrive_mark(struct mstore *st, const char *canon, const struct arrival *a,
    size_t n, const char **errstr_r)
{
	struct folder_row fr;
	size_t i;
	int rc;

	if (mstore_begin(st, errstr_r) == -1)
		return -1;
	if ((rc = arrive_row(st, canon, &fr, errstr_r)) != 1)
		goto fail;
	for (i = 0; i < n; i++)
		if (a[i].base[0] != '\0' &&
		    arrive_doom(st, fr.id, a[i].base, 1) == -1) {
			rc = mstore_err(st, errstr_r, "index: %s",
			    sqlite3_errmsg(st->db));
			goto fail;
		}
	md_test_move();
	return mstore_commit(st, errstr_r);
fail:
	mstore_rollback(st);
	return rc == 0 ? set_no_folder(errstr_r) : -1;
}

int
arrive_begin(struct mstore *st, const char *canon, struct folder_row *fr,
    const struct arrival *a, size_t n, const char **errstr_r)
{
	sqlite3_stmt *s;
	size_t i;
	int rc = 1;

	if ((rc = arrive_row(st, canon, fr, errstr_r)) != 1)
		return rc == 0 ? set_err2(errstr_r, "no such mailbox") : -1;
	if ((s = mstore_prep(st, "SELECT 1 FROM doomed"
	    " WHERE folder = ? AND base = ?")) == NULL)
		return mstore_err(st, errstr_r, "index: %s",
		    sqlite3_errmsg(st->db));
	for (i = 0; i < n && rc == 1; i++) {
		if (a[i].base[0] == '\0')
			continue;
		(void)sqlite3_bind_int64(s, 1, fr->id);
		(void)sqlite3_bind_text(s, 2, a[i].base, -1, SQLITE_STATIC);
		switch (sqlite3_step(s)) {
		case SQLITE_ROW:
			break;
		case SQLITE_DONE:
			rc = 0;
			break;
		default:
			rc = mstore_err(st, errstr_r, "index: %s",
			    sqlite3_errmsg(st->db));
		}
		(void)sqlite3_reset(s);
	}
	sqlite3_finalize(s);
	return rc;
}

int
arrive_add(struct mstore *st, const char *dir, struct folder_row *fr,
    struct arrival *a, uint32_t flags, const char *keywords,
    time_t internaldate, const char **errstr_r)
{
	char file[NAME_MAX + 16], from[PATH_MAX], to[PATH_MAX];

	if (keywords != NULL && strlen(keywords) > MBOX_KEYWORDS_MAX)
		keywords = NULL;	/* cannot be: the source has them */
	if (md_file_name(a->base, NULL, flags & MD_FLAGS, file,
	    sizeof(file)) == -1 ||
	    (size_t)snprintf(from, sizeof(from), "%s/tmp/%s", dir, a->base) >=
	    sizeof(from) ||
	    (size_t)snprintf(to, sizeof(to), "%s/%s", dir, file) >=
	    sizeof(to))
		return mstore_err(st, errstr_r, "store path too long");
	if (rename(from, to) == -1)
		return mstore_err(st, errstr_r, "rename: %s", strerror(errno));
	/* From here a crash leaves the file to its doomed row. */
	if (msg_insert(st, fr, a->base, file, flags, keywords, internaldate,
	    a->size, &a->uid) == -1 || arrive_doom(st, fr->id, a->base, 0) ==
	    -1) {
		(void)rename(to, from);	/* still an arrival, undone later */
		return mstore_err(st, errstr_r, "index add: %s",
		    sqlite3_errmsg(st->db));
	}
	return 1;
}

int
arrive_end(struct mstore *st, const char *dir, const struct folder_row *fr,
    const char **errstr_r)
{
	char sub[PATH_MAX];
	int i;

	for (i = 0; i < 2; i++)
		if ((size_t)snprintf(sub, sizeof(sub), "%s/%s", dir,
		    i == 0 ? "new" : "cur") >= sizeof(sub) ||
		    fsync_dir(sub) == -1)
			return mstore_err(st, errstr_r, "sync %s: %s", sub,
			    strerror(errno));
	if (folder_row_write(st, fr) == -1)
		return mstore_err(st, errstr_r, "index: %s",
		    sqlite3_errmsg(st->db));
	return 1;
}

void
arrive_drop(const char *dir, struct arrival *a, size_t n)
{
	char path[PATH_MAX];
	size_t i;

	for (i = 0; i < n; i++) {
		if (a[i].base[0] == '\0' || a[i].uid != 0)
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/tmp/%s", dir,
		    a[i].base) < sizeof(path))
			(void)unlink(path);
		a[i].base[0] = '\0';
	}
}

/* ------------------------------------------------------------ folders */

int
mstore_folder_exists(struct mstore *st, const char *name)
{
	char canon[MSTORE_NAME_MAX + 1], dir[PATH_MAX];
	struct stat sb;

	if (!mstore_name_ok(name, NULL))
		return 0;
	mstore_name_canon(name, canon, sizeof(canon));
	if (strcmp(canon, "INBOX") == 0)
		return 1;
	return folder_path(st, canon, dir, sizeof(dir)) == 1 &&
	    lstat(dir, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static int
folder_make(struct mstore *st, const char *canon)
{
	char dir[PATH_MAX];
	int fd;

	if (folder_path(st, canon, dir, sizeof(dir)) == -1 ||
	    maildir_make(dir) == -1)
		return -1;
	if (strcmp(canon, "INBOX") == 0)
		return 0;
	/* Maildir++: marks a folder for delivery agents that look. */
	if (ms_strlcat(dir, "/maildirfolder", sizeof(dir)) >= sizeof(dir))
		return -1;
	if ((fd = open(dir, O_WRONLY | O_CREAT | O_CLOEXEC, 0600)) == -1)
		return -1;
	(void)close(fd);	/* empty file */
	return 0;
}

/* Creates every missing parent of canon ("a" and "a.b" for "a.b.c"). */
static int
parents_make(struct mstore *st, const char *canon)
{
	char p[MSTORE_NAME_MAX + 1];
	char *dot;

	(void)ms_strlcpy(p, canon, sizeof(p));
	for (dot = strchr(p, '.'); dot != NULL; dot = strchr(dot + 1, '.')) {
		*dot = '\0';
		if (strcmp(p, "INBOX") != 0 && !mstore_folder_exists(st, p) &&
		    folder_make(st, p) == -1)
			return -1;
		*dot = '.';
	}
	return 0;
}

int
mstore_folder_create(struct mstore *st, const char *name,
    const char **errstr_r)
{
	char canon[MSTORE_NAME_MAX + 1], dir[PATH_MAX];

	if (!mstore_name_ok(name, errstr_r))
		return -1;
	mstore_name_canon(name, canon, sizeof(canon));
	if (folder_path(st, canon, dir, sizeof(dir)) == -1)
		return mstore_err(st, errstr_r, "store path too long");
	if (strcmp(canon, "INBOX") == 0 || sub_exists(dir, "cur"))
		return set_err2(errstr_r, "mailbox exists");
	if (parents_make(st, canon) == -1 || folder_make(st, canon) == -1 ||
	    fsync_dir(st->dir) == -1)
		return mstore_err(st, errstr_r, "create: %s",
		    strerror(errno));
	return 1;
}

static int
name_has_children(struct mstore *st, const char *canon)
{
	char pre[MSTORE_NAME_MAX + 3];
	struct dirent *de;
	size_t n;
	DIR *d;
	int found = 0;

	n = (size_t)snprintf(pre, sizeof(pre), ".%s.", canon);
	if (n >= sizeof(pre) || (d = opendir(st->dir)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, pre, n) == 0) {
			found = 1;
			break;
		}
	(void)closedir(d);	/* read-only */
	return found;
}

static int
rows_drop(struct mstore *st, const char *canon)
{
	static const char *const sql[] = {
		"DELETE FROM msgs WHERE folder IN"
		" (SELECT id FROM folders WHERE name = ?1)",
		"DELETE FROM cache WHERE folder IN"
		" (SELECT id FROM folders WHERE name = ?1)",
		"DELETE FROM doomed WHERE folder IN"
		" (SELECT id FROM folders WHERE name = ?1)",
		"DELETE FROM folders WHERE name = ?1",
	};
	sqlite3_stmt *s;
	size_t i;
	int rc;

	st->used_ok = 0;
	for (i = 0; i < sizeof(sql) / sizeof(sql[0]); i++) {
		if ((s = mstore_prep(st, sql[i])) == NULL)
			return -1;
		(void)sqlite3_bind_text(s, 1, canon, -1, SQLITE_STATIC);
		rc = sqlite3_step(s);
		sqlite3_finalize(s);
		if (rc != SQLITE_DONE)
			return -1;
	}
	return 0;
}

/*
 * A deleted folder's directory is first renamed to TRASH_PREFIX<unique> in
 * the user directory (not a folder name: its first level is empty), in the
 * transaction that drops its rows, and removed after the commit. One
 * rename takes the whole folder out of sight, so no crash brings a part of
 * it back. What a crash leaves behind goes at the next folder delete.
 */
#define TRASH_PREFIX	"..deleted."

static void
trash_sweep(struct mstore *st)
{
	char p[PATH_MAX];
	struct dirent *de;
	DIR *d;

	if ((d = opendir(st->dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, TRASH_PREFIX,
		    sizeof(TRASH_PREFIX) - 1) == 0 &&
		    (size_t)snprintf(p, sizeof(p), "%s/%s", st->dir,
		    de->d_name) < sizeof(p))
			(void)md_rmtree(p);	/* again next time */
	(void)closedir(d);	/* read-only */
}

/* Moves dir out of sight (and back on failure); 1, -1 with errno. */
static int
folder_unlink(struct mstore *st, const char *canon, const char *dir,
    int children, char *trash, size_t trashsz)
{
	int e;

	if ((size_t)snprintf(trash, trashsz, "%s/" TRASH_PREFIX "%lld.%d.%u",
	    st->dir, (long long)time(NULL), (int)getpid(), st->counter++) >=
	    trashsz) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (rename(dir, trash) == -1)
		return -1;
	/* With children it stays, \Noselect: a directory without cur/. */
	if ((!children || mkdir(dir, 0700) == 0) && fsync_dir(st->dir) == 0 &&
	    rows_drop(st, canon) == 0)
		return 1;
	e = errno;
	if (children)
		(void)rmdir(dir);	/* may not exist */
	(void)rename(trash, dir);	/* the index keeps the folder */
	errno = e;
	return -1;
}

int
mstore_folder_delete(struct mstore *st, const char *name,
    const char **errstr_r)
{
	char canon[MSTORE_NAME_MAX + 1], dir[PATH_MAX], trash[PATH_MAX];
	int children;

	if (!mstore_name_ok(name, errstr_r))
		return 0;
	mstore_name_canon(name, canon, sizeof(canon));
	if (strcmp(canon, "INBOX") == 0)
		return set_err2(errstr_r, "cannot delete INBOX");
	if (!mstore_folder_exists(st, canon))
		return set_no_folder(errstr_r);
	if (folder_path(st, canon, dir, sizeof(dir)) == -1)
		return mstore_err(st, errstr_r, "store path too long");
	if (mstore_begin(st, errstr_r) == -1)
		return -1;
	trash_sweep(st);
	children = name_has_children(st, canon);
	if (children && !sub_exists(dir, "cur")) {
		mstore_rollback(st);
		return set_err2(errstr_r, "mailbox has children");
	}
	if (folder_unlink(st, canon, dir, children, trash,
	    sizeof(trash)) == -1) {
		mstore_rollback(st);
		return mstore_err(st, errstr_r, "delete failed: %s",
		    strerror(errno));
	}
	if (mstore_commit(st, errstr_r) == -1) {
		if (children)
			(void)rmdir(dir);	/* see folder_unlink */
		(void)rename(trash, dir);
		return -1;
	}
	(void)md_rmtree(trash);	/* a crash here: trash_sweep later */
	return 1;
}

struct name_list {
	char	**v;
	int	 *noselect;
	size_t	  n;
	size_t	  cap;
};

static void
names_free(struct name_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	free(l->noselect);
	memset(l, 0, sizeof(*l));
}

static int
str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every folder directory with a valid name, sorted. */
static int
names_load(struct mstore *st, struct name_list *l)
{
	struct dirent *de;
	DIR *d;
	size_t i;

	memset(l, 0, sizeof(*l));
	if ((d = opendir(st->dir)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] != '.' || !mstore_name_ok(de->d_name + 1,
		    NULL) || mstore_is_inbox(de->d_name + 1))
			continue;
		if (!mstore_folder_exists(st, de->d_name + 1))
			continue;
		if (l->n == l->cap) {
			l->cap = l->cap ? l->cap * 2 : 16;
			l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
		}
		l->v[l->n++] = xstrdup(de->d_name + 1);
	}
	(void)closedir(d);	/* read-only */
	if (l->n > 0)
		qsort(l->v, l->n, sizeof(*l->v), str_cmp);
	l->noselect = xcalloc(l->n + 1, sizeof(int));
	for (i = 0; i < l->n; i++) {
		char dir[PATH_MAX];

		l->noselect[i] = folder_path(st, l->v[i], dir,
		    sizeof(dir)) == -1 || !sub_exists(dir, "cur");
	}
	return 0;
}

/*
 * Whether a name in the sorted list starts with "name.": those names sort
 * together, from the first one not below "name." (strcmp order), so a
 * binary search finds the only candidate. LIST was O(n^2) in folders.
 */
static int
list_has_children(const struct name_list *l, const char *name)
{
	size_t lo = 0, hi = l->n, mid, n = strlen(name);
	int c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		/* Compare v[mid] with name followed by '.'. */
		c = strncmp(l->v[mid], name, n);
		if (c == 0)
			c = (unsigned char)l->v[mid][n] - (unsigned char)'.';
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < l->n && strncmp(l->v[lo], name, n) == 0 &&
	    l->v[lo][n] == '.';
}

int
mstore_folder_foreach(struct mstore *st,
    int (*fn)(void *arg, const char *name, int noselect, int has_children),
    void *arg)
{
	struct name_list l;
	size_t i;
	int count = 1;

	if (names_load(st, &l) == -1)
		return -1;
	if (fn(arg, "INBOX", 0, list_has_children(&l, "INBOX")) == -1)
		goto out;
	for (i = 0; i < l.n; i++, count++)
		if (fn(arg, l.v[i], l.noselect[i],
		    list_has_children(&l, l.v[i])) == -1)
			break;
out:
	names_free(&l);
	return count;
}

static int
rename_one(struct mstore *st, const char *from, const char *to)
{
	char a[PATH_MAX], b[PATH_MAX];
	sqlite3_stmt *s;
	int rc;

	if (folder_path(st, from, a, sizeof(a)) == -1 ||
	    folder_path(st, to, b, sizeof(b)) == -1 || rename(a, b) == -1)
		return -1;
	if ((s = mstore_prep(st, "UPDATE folders SET name = ? WHERE"
	    " name = ?")) == NULL)
		return -1;
	(void)sqlite3_bind_text(s, 1, to, -1, SQLITE_STATIC);
	(void)sqlite3_bind_text(s, 2, from, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* RFC 3501 6.3.5: INBOX's messages move to "to"; INBOX stays, empty. */
static int
rename_inbox(struct mstore *st, const char *to, const char **errstr_r)
{
	struct folder_row in, out;
	char dir[PATH_MAX], a[PATH_MAX], b[PATH_MAX];
	sqlite3_stmt *s;
	int rc, i;

	if (folder_make(st, to) == -1 ||
	    folder_sync(st, "INBOX", 1, &in, errstr_r) != 1 ||
	    folder_sync(st, to, 1, &out, errstr_r) != 1 ||
	    folder_path(st, to, dir, sizeof(dir)) == -1)
		return -1;
	if ((s = mstore_prep(st, "SELECT file FROM msgs WHERE folder = ?")) ==
	    NULL)
		return -1;
	(void)sqlite3_bind_int64(s, 1, in.id);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *f = (const char *)sqlite3_column_text(s, 0);

		if ((size_t)snprintf(a, sizeof(a), "%s/%s", st->dir, f) >=
		    sizeof(a) || (size_t)snprintf(b, sizeof(b), "%s/%s", dir,
		    f) >= sizeof(b) || (rename(a, b) == -1 && errno != ENOENT))
			break;
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return -1;
	for (i = 0; i < 2; i++) {
		if ((s = mstore_prep(st, i == 0 ?
		    "UPDATE msgs SET folder = ?2 WHERE folder = ?1" :
		    "UPDATE cache SET folder = ?2 WHERE folder = ?1")) == NULL)
			return -1;
		(void)sqlite3_bind_int64(s, 1, in.id);
		(void)sqlite3_bind_int64(s, 2, out.id);
		rc = sqlite3_step(s);
		sqlite3_finalize(s);
		if (rc != SQLITE_DONE)
			return -1;
	}
	out.uidnext = in.uidnext;
	out.hms = in.hms + 1;
	in.hms++;
	/* Both directories changed: make the next sync rescan them. */
	in.mt_new = in.mt_cur = out.mt_new = out.mt_cur = -1;
	if (folder_row_write(st, &in) == -1 || folder_row_write(st, &out) == -1)
		return -1;
	return 0;
}

int
mstore_folder_rename(struct mstore *st, const char *from, const char *to,
    const char **errstr_r)
{
	char cf[MSTORE_NAME_MAX + 1], ct[MSTORE_NAME_MAX + 1];
	char nn[MSTORE_NAME_MAX + 2];
	struct name_list l;
	size_t i, fl;
	int rc = 0;

	if (!mstore_name_ok(from, errstr_r))
		return 0;
	if (!mstore_name_ok(to, errstr_r))
		return -1;
	mstore_name_canon(from, cf, sizeof(cf));
	mstore_name_canon(to, ct, sizeof(ct));
	if (!mstore_folder_exists(st, cf))
		return set_no_folder(errstr_r);
	if (mstore_folder_exists(st, ct))
		return set_err2(errstr_r, "mailbox exists");
	fl = strlen(cf);
	if (strcmp(cf, "INBOX") != 0 && strncmp(ct, cf, fl) == 0 &&
	    ct[fl] == '.')
		return set_err2(errstr_r, "cannot rename a mailbox into"
		    " itself");
	if (mstore_begin(st, errstr_r) == -1)
		return -1;
	if (parents_make(st, ct) == -1)
		rc = -1;
	else if (strcmp(cf, "INBOX") == 0)
		rc = rename_inbox(st, ct, errstr_r);
	else if (names_load(st, &l) == -1)
		rc = -1;
	else {
		for (i = 0; i < l.n && rc == 0; i++) {
			if (strncmp(l.v[i], cf, fl) != 0 ||
			    (l.v[i][fl] != '\0' && l.v[i][fl] != '.'))
				continue;
			if ((size_t)snprintf(nn, sizeof(nn), "%s%s", ct,
			    l.v[i] + fl) > MSTORE_NAME_MAX)
				rc = -1;
			else
				rc = rename_one(st, l.v[i], nn);
		}
		names_free(&l);
	}
	if (rc == -1) {
		mstore_rollback(st);
		return mstore_err(st, errstr_r, "rename failed: %s",
		    strerror(errno));
	}
	if (fsync_dir(st->dir) == -1) {
		mstore_rollback(st);
		return mstore_err(st, errstr_r, "rename: %s", strerror(errno));
	}
	return mstore_commit(st, errstr_r);
}

/* ------------------------------------------------------- subscriptions */

static int
subs_load(struct mstore *st, struct name_list *l)
{
	char p[PATH_MAX], line[MSTORE_NAME_MAX + 2];
	FILE *f;

	memset(l, 0, sizeof(*l));
	if ((size_t)snprintf(p, sizeof(p), "%s/subscriptions", st->dir) >=
	    sizeof(p))
		return -1;
	if ((f = fopen(p, "re")) == NULL)
		return errno == ENOENT ? 0 : -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if (!mstore_name_ok(line, NULL))
			continue;
		if (l->n == l->cap) {
			l->cap = l->cap ? l->cap * 2 : 16;
			l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
		}
		l->v[l->n++] = xstrdup(line);
	}
	(void)fclose(f);	/* read-only */
	return 0;
}

static int
subs_save(struct mstore *st, const struct name_list *l)
{
	char p[PATH_MAX], t[PATH_MAX];
	size_t i;
	FILE *f;
	int bad = 0;

	if ((size_t)snprintf(p, sizeof(p), "%s/subscriptions", st->dir) >=
	    sizeof(p) || (size_t)snprintf(t, sizeof(t), "%s/.subscriptions.tmp",
	    st->dir) >= sizeof(t) || (f = fopen(t, "we")) == NULL)
		return -1;
	for (i = 0; i < l->n; i++)
		if (l->v[i] != NULL && fprintf(f, "%s\n", l->v[i]) < 0)
			bad = 1;
	if (fflush(f) == EOF || fsync(fileno(f)) == -1)
		bad = 1;
	if (fclose(f) == EOF || bad || rename(t, p) == -1) {
		(void)unlink(t);
		return -1;
	}
	return 0;
}

int
mstore_subscribe(struct mstore *st, const char *name, int on,
    const char **errstr_r)
{
	char canon[MSTORE_NAME_MAX + 1];
	struct name_list l;
	size_t i;
	int found = 0, rc;

	if (!mstore_name_ok(name, errstr_r))
		return -1;
	mstore_name_canon(name, canon, sizeof(canon));
	/* The index lock serializes writers of the file too. */
	if (mstore_begin(st, errstr_r) == -1)
		return -1;
	if (subs_load(st, &l) == -1) {
		mstore_rollback(st);
		return mstore_err(st, errstr_r, "subscriptions: %s",
		    strerror(errno));
	}
	for (i = 0; i < l.n; i++)
		if (strcmp(l.v[i], canon) == 0) {
			found = 1;
			if (!on) {
				free(l.v[i]);
				l.v[i] = NULL;
			}
		}
	if (on && !found) {
		if (l.n == l.cap) {
			l.cap = l.cap ? l.cap * 2 : 16;
			l.v = xrealloc(l.v, l.cap * sizeof(*l.v));
		}
		l.v[l.n++] = xstrdup(canon);
	}
	rc = (on && found) || (!on && !found) ? 0 : subs_save(st, &l);
	names_free(&l);
	mstore_rollback(st);	/* nothing written to the index */
	if (rc == -1)
		return mstore_err(st, errstr_r, "subscriptions: %s",
		    strerror(errno));
	return 1;
}

int
mstore_subscription_foreach(struct mstore *st,
    int (*fn)(void *arg, const char *name), void *arg)
{
	struct name_list l;
	size_t i;
	int count = 0;

	if (subs_load(st, &l) == -1)
		return -1;
	if (l.n > 0)
		qsort(l.v, l.n, sizeof(*l.v), str_cmp);
	for (i = 0; i < l.n; i++, count++)
		if (fn(arg, l.v[i]) == -1)
			break;
	names_free(&l);
	return count;
}

int
mstore_folder_status(struct mstore *st, const char *name,
    struct mbox_status *ms, const char **errstr_r)
{
	struct folder_row fr;
	sqlite3_stmt *s;
	int rc;

	memset(ms, 0, sizeof(*ms));
	if ((rc = mstore_folder_sync(st, name, &fr, errstr_r)) != 1)
		return rc;
	if ((s = mstore_prep(st, "SELECT count(*), total((flags & 1) = 0),"
	    " total(uid > ?2) FROM msgs WHERE folder = ?1")) == NULL)
		return mstore_err(st, errstr_r, "index: %s",
		    sqlite3_errmsg(st->db));
	(void)sqlite3_bind_int64(s, 1, fr.id);
	(void)sqlite3_bind_int64(s, 2, fr.recent_uid);
	if ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		ms->messages = (uint32_t)sqlite3_column_int64(s, 0);
		ms->unseen = (uint32_t)sqlite3_column_double(s, 1);
		ms->recent = (uint32_t)sqlite3_column_double(s, 2);
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_ROW)
		return mstore_err(st, errstr_r, "index: %s",
		    sqlite3_errmsg(st->db));
	ms->uidnext = fr.uidnext;
	ms->uidvalidity = fr.uidvalidity;
	ms->highestmodseq = fr.hms;
	return 1;
}
