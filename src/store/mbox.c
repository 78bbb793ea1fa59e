/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * A selected folder (see mstore.h): a snapshot of its index rows in UID
 * order, brought up to date by mbox_sync, plus the changes a session makes
 * (flags, keywords, copies, expunges, cache blobs). Changes go to the index
 * and the Maildir in one write transaction; the snapshot follows.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <malloc.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "store/mstore.h"
#include "store/mstore_priv.h"

/*
 * The snapshot keeps per message its UID and one octet of flags (MSG_*
 * and F_GONE): an idle session on 10,000 messages holds 50 KiB. Whole
 * entries (struct mbox_msg: size, date, keywords, modseq) are read from
 * the index BLK positions at a time when mbox_msg() asks for them, and
 * dropped when a sync or an expunge renumbers (the contract's limit on
 * the pointer's life). File names are looked up when a file is opened.
 */
#define F_GONE		0x80	/* expunged, not yet reported */
#define F_GOING		0x40	/* mbox_expunge: F_GONE if it commits */
#define F_KEEP		(MSG_RECENT | F_GONE)	/* not in the index */
#define BLK		64

struct own_store {
	uint32_t	 uid;
	uint64_t	 modseq;
};

#define CACHE_BATCH	256	/* cache writes per index transaction */

struct cache_ent {
	uint32_t	 uid;
	char		*key;
	char		*data;
	size_t		 len;
};

struct mbox {
	struct mstore	*st;
	char		 canon[MSTORE_NAME_MAX + 1];
	char		 dir[PATH_MAX];
	int64_t		 fid;
	int		 ro;
	uint32_t	*uids;
	uint8_t		*fl;
	uint32_t	 n;
	uint32_t	 cap;
	struct mbox_msg	**blk;		/* BLK positions each, NULL: not read */
	uint32_t	 nblk;
	struct own_store *own;		/* this session's stores since sync */
	uint32_t	 nown;
	uint32_t	 uidvalidity;
	uint32_t	 uidnext;
	uint32_t	 lastuid;	/* highest UID in the snapshot */
	uint64_t	 hms;		/* HIGHESTMODSEQ of the snapshot */
	sqlite3_stmt	*st_file;	/* file name of a UID */
	sqlite3_stmt	*st_base;	/* base name of a UID */
	sqlite3_stmt	*st_blk;	/* rows of a UID range */
	sqlite3_stmt	*st_cget;
	sqlite3_stmt	*st_cset;
	struct cache_ent cache[CACHE_BATCH];	/* writes not yet flushed */
	size_t		 ncache;
};

static const char kw_none[] = "";

static int
mb_err(struct mbox *mb, const char **errstr_r, const char *what)
{
	return mstore_err(mb->st, errstr_r, "%s: %s", what,
	    sqlite3_errmsg(mb->st->db));
}

static void
ent_kw_free(struct mbox_msg *m)
{
	if (m->keywords != kw_none && m->keywords != NULL)
		free((char *)(uintptr_t)m->keywords);
	m->keywords = kw_none;
}

static void
ent_set(struct mbox_msg *m, uint32_t flags, const char *kw, uint64_t modseq)
{
	m->flags = flags;
	if (kw == NULL || *kw == '\0')
		ent_kw_free(m);
	else if (m->keywords == NULL || strcmp(m->keywords, kw) != 0) {
		ent_kw_free(m);
		m->keywords = xstrdup(kw);
	}
	m->modseq = modseq;
}

/* Forgets every loaded entry (the numbering changes). */
static void
blk_free_all(struct mbox *mb)
{
	uint32_t b, k;

	for (b = 0; b < mb->nblk; b++) {
		if (mb->blk[b] == NULL)
			continue;
		for (k = 0; k < BLK; k++)
			ent_kw_free(&mb->blk[b][k]);
		free(mb->blk[b]);
		mb->blk[b] = NULL;
	}
}

/* Reads block b's entries from the index (what it lacks stays empty). */
static void
blk_load(struct mbox *mb, uint32_t b)
{
	struct mbox_msg *e;
	uint32_t first = b * BLK, last, k, uid;
	sqlite3_stmt *s;

	last = first + BLK < mb->n ? first + BLK : mb->n;
	e = xcalloc(BLK, sizeof(*e));
	for (k = first; k < last; k++) {
		e[k - first].uid = mb->uids[k];
		e[k - first].flags = mb->fl[k] & ~F_GONE;
		e[k - first].keywords = kw_none;
	}
	mb->blk[b] = e;
	if (mb->st_blk == NULL && (mb->st_blk = mstore_prep(mb->st,
	    "SELECT uid, keywords, idate, size, modseq FROM msgs"
	    " WHERE folder = ? AND uid >= ? AND uid <= ? ORDER BY uid")) ==
	    NULL)
		return;
	s = mb->st_blk;
	(void)sqlite3_bind_int64(s, 1, mb->fid);
	(void)sqlite3_bind_int64(s, 2, mb->uids[first]);
	(void)sqlite3_bind_int64(s, 3, mb->uids[last - 1]);
	k = first;
	while (sqlite3_step(s) == SQLITE_ROW) {
		uid = (uint32_t)sqlite3_column_int64(s, 0);
		while (k < last && mb->uids[k] < uid)
			k++;
		if (k == last)
			break;
		if (mb->uids[k] != uid)
			continue;
		e[k - first].internaldate = (time_t)sqlite3_column_int64(s, 2);
		e[k - first].size = (uint64_t)sqlite3_column_int64(s, 3);
		ent_set(&e[k - first], e[k - first].flags,
		    (const char *)sqlite3_column_text(s, 1),
		    (uint64_t)sqlite3_column_int64(s, 4));
	}
	(void)sqlite3_reset(s);	/* a failed read leaves empty entries */
}

/* Position pos's loaded entry, or NULL when its block is not read. */
static struct mbox_msg *
ent_loaded(struct mbox *mb, uint32_t pos)
{
	if (mb->blk == NULL || mb->blk[pos / BLK] == NULL)
		return NULL;
	return &mb->blk[pos / BLK][pos % BLK];
}

static void
snap_grow(struct mbox *mb, uint32_t need)
{
	uint32_t nb;

	if (need > mb->cap) {
		mb->cap = need > mb->cap * 2 ? need : mb->cap * 2;
		mb->uids = xrealloc(mb->uids, mb->cap * sizeof(*mb->uids));
		mb->fl = xrealloc(mb->fl, mb->cap);
	}
	nb = (need + BLK - 1) / BLK;
	if (nb > mb->nblk) {
		mb->blk = xrealloc(mb->blk, nb * sizeof(*mb->blk));
		memset(mb->blk + mb->nblk, 0,
		    (nb - mb->nblk) * sizeof(*mb->blk));
		mb->nblk = nb;
	}
}

/* Writes the cache entries kept in memory in one transaction. */
static void
cache_flush(struct mbox *mb)
{
	const char *errstr = NULL;
	size_t i;
	int ok;

	if (mb->ncache == 0)
		return;
	ok = mstore_begin(mb->st, &errstr) == 1;
	/*
	 * Only for a message still in the index, in the same folder: another
	 * session may have expunged it, or deleted the folder, since the
	 * blob was computed. A row left for a deleted folder would be served
	 * for the messages of the next folder created, which may get the same
	 * id (and have a message of that UID already): its UIDVALIDITY
	 * differs.
	 */
	if (ok && mb->st_cset == NULL)
		mb->st_cset = mstore_prep(mb->st, "INSERT OR REPLACE INTO"
		    " cache SELECT ?1, ?2, ?3, ?4 WHERE EXISTS (SELECT 1"
		    " FROM msgs WHERE folder = ?1 AND uid = ?2) AND EXISTS"
		    " (SELECT 1 FROM folders WHERE id = ?1 AND"
		    " uidvalidity = ?5)");
	for (i = 0; i < mb->ncache; i++) {
		struct cache_ent *c = &mb->cache[i];
		sqlite3_stmt *s = mb->st_cset;

		if (ok && s != NULL) {
			(void)sqlite3_bind_int64(s, 1, mb->fid);
			(void)sqlite3_bind_int64(s, 2, c->uid);
			(void)sqlite3_bind_text(s, 3, c->key, -1,
			    SQLITE_STATIC);
			(void)sqlite3_bind_blob(s, 4, c->data, (int)c->len,
			    SQLITE_STATIC);
			(void)sqlite3_bind_int64(s, 5, mb->uidvalidity);
			ok = sqlite3_step(s) == SQLITE_DONE;
			(void)sqlite3_reset(s);	/* the error is in ok */
		}
		free(c->key);
		free(c->data);
	}
	mb->ncache = 0;
	if (ok)
		ok = mstore_commit(mb->st, &errstr) == 1;
	else
		mstore_rollback(mb->st);
	if (!ok)
		log_warn("store cache write failed: %s",
		    errstr ? errstr : sqlite3_errmsg(mb->st->db));
}

/* Appends rows with uid > after; recent when uid > recent_uid (rw). */
static int
snap_append(struct mbox *mb, uint32_t after, int claim, uint32_t recent_uid,
    uint32_t *added_r)
{
	sqlite3_stmt *s;
	uint32_t uid;
	int rc;

	*added_r = 0;
	if ((s = mstore_prep(mb->st, "SELECT uid, flags FROM msgs"
	    " WHERE folder = ? AND uid > ? ORDER BY uid")) == NULL)
		return -1;
	(void)sqlite3_bind_int64(s, 1, mb->fid);
	(void)sqlite3_bind_int64(s, 2, after);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (mb->n == mb->cap || mb->n + 1 > mb->nblk * BLK)
			snap_grow(mb, mb->n + 1);
		uid = (uint32_t)sqlite3_column_int64(s, 0);
		mb->uids[mb->n] = uid;
		mb->fl[mb->n] = (uint8_t)(sqlite3_column_int64(s, 1) &
		    MD_FLAGS);
		if (claim && uid > recent_uid)
			mb->fl[mb->n] |= MSG_RECENT;
		mb->n++;
		mb->lastuid = uid;
		(*added_r)++;
	}
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* Sizes the snapshot for the folder's messages (one allocation). */
static void
snap_reserve(struct mbox *mb)
{
	sqlite3_stmt *s;
	uint32_t n = 0;

	if ((s = mstore_prep(mb->st, "SELECT count(*) FROM msgs WHERE"
	    " folder = ?")) == NULL)
		return;
	(void)sqlite3_bind_int64(s, 1, mb->fid);
	if (sqlite3_step(s) == SQLITE_ROW)
		n = (uint32_t)sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	snap_grow(mb, n + 16);
}

int
mbox_open(struct mstore *st, const char *folder, int readonly,
    struct mbox **mb_r, const char **errstr_r)
{
	struct folder_row fr;
	struct mbox *mb;
	uint32_t added;
	int rc;

	*mb_r = NULL;
	if (!mstore_name_ok(folder, errstr_r))
		return 0;
	mb = xcalloc(1, sizeof(*mb));
	mb->st = st;
	mb->ro = readonly;
	mstore_name_canon(folder, mb->canon, sizeof(mb->canon));
	if (folder_path(st, mb->canon, mb->dir, sizeof(mb->dir)) == -1) {
		free(mb);
		return mstore_err(st, errstr_r, "store path too long");
	}
	/*
	 * Read-only: sync in its own write transaction, then read in a
	 * read transaction (upgrading one can fail under WAL).
	 */
	if (readonly && (rc = folder_sync(st, mb->canon, 0, &fr,
	    errstr_r)) != 1) {
		free(mb);
		return rc;
	}
	if ((rc = readonly ? mstore_exec(st, "BEGIN") == 1 ? 1 :
	    mb_err(mb, errstr_r, "index") : mstore_begin(st, errstr_r)) != 1) {
		free(mb);
		return rc;
	}
	if ((rc = readonly ? folder_row_get(st, mb->canon, &fr) :
	    folder_sync(st, mb->canon, 1, &fr, errstr_r)) != 1) {
		if (rc == 0)
			(void)set_no_folder(errstr_r);
		else if (readonly)
			(void)mb_err(mb, errstr_r, "index");
		goto fail;
	}
	mb->fid = fr.id;
	mb->uidvalidity = fr.uidvalidity;
	mb->uidnext = fr.uidnext;
	mb->hms = fr.hms;
	rc = -1;
	snap_reserve(mb);
	if (snap_append(mb, 0, !readonly, fr.recent_uid, &added) == -1) {
		(void)mb_err(mb, errstr_r, "index read");
		goto fail;
	}
	if (!readonly && fr.recent_uid + 1 < fr.uidnext) {
		fr.recent_uid = fr.uidnext - 1;
		if (folder_row_write(st, &fr) == -1) {
			(void)mb_err(mb, errstr_r, "index write");
			goto fail;
		}
	}
	if (mstore_commit(st, errstr_r) == -1) {
		mbox_close(&mb);
		return -1;
	}
	/* A read-write open (SELECT) also clears out tmp/: deliveries that
	 * died 36 hours ago or more (best effort; tmp/ is usually empty). */
	if (!readonly && (rc = md_clean_tmp(mb->dir, time(NULL))) > 0) {
		struct buf esc = BUF_INIT(0);

		log_info("store removed %d stale file%s from the tmp/ of "
		    "\"%s\"", rc, rc == 1 ? "" : "s", log_escape(&esc,
		    mb->canon, strlen(mb->canon), 200));
		buf_free(&esc);
	}
	/*
	 * The session now mostly waits: give SQLite's page cache and the
	 * heap left free by loading a big folder back to the system.
	 */
	(void)sqlite3_db_release_memory(st->db);	/* advisory */
	(void)malloc_trim(0);
	*mb_r = mb;
	return 1;
fail:
	mstore_rollback(st);
	mbox_close(&mb);
	return rc;
}

void
mbox_close(struct mbox **mbp)
{
	struct mbox *mb = *mbp;

	if (mb == NULL)
		return;
	cache_flush(mb);
	blk_free_all(mb);
	sqlite3_finalize(mb->st_file);
	sqlite3_finalize(mb->st_base);
	sqlite3_finalize(mb->st_blk);
	sqlite3_finalize(mb->st_cget);
	sqlite3_finalize(mb->st_cset);
	free(mb->uids);
	free(mb->fl);
	free(mb->blk);
	free(mb->own);
	free(mb);
	*mbp = NULL;
}

void
mbox_status(struct mbox *mb, struct mbox_status *ms)
{
	uint32_t i;

	memset(ms, 0, sizeof(*ms));
	ms->messages = mb->n;
	for (i = 0; i < mb->n; i++) {
		if (mb->fl[i] & MSG_RECENT)
			ms->recent++;
		if (!(mb->fl[i] & MSG_SEEN))
			ms->unseen++;
	}
	ms->uidnext = mb->uidnext;
	ms->uidvalidity = mb->uidvalidity;
	ms->highestmodseq = mb->hms;
}

uint32_t
mbox_count(const struct mbox *mb)
{
	return mb->n;
}

const struct mbox_msg *
mbox_msg(const struct mbox *mb, uint32_t seq)
{
	struct mbox *m = (struct mbox *)(uintptr_t)mb;	/* a cache fill */
	uint32_t pos = seq - 1;

	if (seq < 1 || seq > mb->n)
		return NULL;
	if (m->blk[pos / BLK] == NULL)
		blk_load(m, pos / BLK);
	return &m->blk[pos / BLK][pos % BLK];
}

uint32_t
mbox_flags(const struct mbox *mb, uint32_t seq)
{
	if (seq < 1 || seq > mb->n)
		return 0;
	return mb->fl[seq - 1] & ~F_GONE;
}

void
mbox_release(struct mbox *mb)
{
	blk_free_all(mb);
	cache_flush(mb);	/* its copies are heap too */
	(void)sqlite3_db_release_memory(mb->st->db);	/* advisory */
}

uint32_t
mbox_seq_of_uid(const struct mbox *mb, uint32_t uid)
{
	uint32_t lo = 0, hi = mb->n;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (mb->uids[mid] == uid)
			return mid + 1;
		if (mb->uids[mid] < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

/* Removes entry i (0-based) and reports it, RFC 3501 7.4.1 numbering. */
static void
snap_remove(struct mbox *mb, uint32_t i,
    void (*expunged)(void *, uint32_t), void *arg)
{
	blk_free_all(mb);	/* positions move */
	memmove(&mb->uids[i], &mb->uids[i + 1], (mb->n - i - 1) *
	    sizeof(*mb->uids));
	memmove(&mb->fl[i], &mb->fl[i + 1], mb->n - i - 1);
	mb->n--;
	if (expunged != NULL)
		expunged(arg, i + 1);
}

/* Marks snapshot entries whose rows are gone (uid <= lastuid). */
static int
snap_mark_gone(struct mbox *mb)
{
	sqlite3_stmt *s;
	uint32_t i = 0, present = 0, count = 0;
	int rc;

	for (i = 0; i < mb->n; i++)
		present += !(mb->fl[i] & F_GONE);
	if ((s = mstore_prep(mb->st, "SELECT count(*) FROM msgs WHERE"
	    " folder = ? AND uid <= ?")) == NULL)
		return -1;
	(void)sqlite3_bind_int64(s, 1, mb->fid);
	(void)sqlite3_bind_int64(s, 2, mb->lastuid);
	if ((rc = sqlite3_step(s)) == SQLITE_ROW)
		count = (uint32_t)sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	if (rc != SQLITE_ROW)
		return -1;
	if (count == present)
		return 0;
	if ((s = mstore_prep(mb->st, "SELECT uid FROM msgs WHERE folder = ?"
	    " AND uid <= ? ORDER BY uid")) == NULL)
		return -1;
	(void)sqlite3_bind_int64(s, 1, mb->fid);
	(void)sqlite3_bind_int64(s, 2, mb->lastuid);
	i = 0;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		uint32_t uid = (uint32_t)sqlite3_column_int64(s, 0);

		for (; i < mb->n && mb->uids[i] < uid; i++)
			mb->fl[i] |= F_GONE;
		if (i < mb->n && mb->uids[i] == uid)
			i++;
	}
	for (; i < mb->n; i++)
		mb->fl[i] |= F_GONE;
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* 1 when this session's own mbox_store gave uid this modseq. */
static int
own_change(const struct mbox *mb, uint32_t uid, uint64_t modseq)
{
	uint32_t i;

	for (i = mb->nown; i > 0; i--)
		if (mb->own[i - 1].uid == uid)
			return mb->own[i - 1].modseq == modseq;
	return 0;
}

/*
 * Applies rows changed since the snapshot; the uids whose change the
 * session has not seen (another session's, or a keyword change it did not
 * make) go to changed.
 */
static int
snap_changes(struct mbox *mb, uint32_t **changed, uint32_t *nchanged)
{
	sqlite3_stmt *s;
	int rc;

	if ((s = mstore_prep(mb->st, "SELECT uid, flags, modseq FROM msgs"
	    " WHERE folder = ? AND uid <= ? AND modseq > ?")) == NULL)
		return -1;
	(void)sqlite3_bind_int64(s, 1, mb->fid);
	(void)sqlite3_bind_int64(s, 2, mb->lastuid);
	(void)sqlite3_bind_int64(s, 3, (sqlite3_int64)mb->hms);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		uint32_t uid = (uint32_t)sqlite3_column_int64(s, 0);
		uint32_t seq = mbox_seq_of_uid(mb, uid);
		uint8_t flags = (uint8_t)(sqlite3_column_int64(s, 1) &
		    MD_FLAGS);
		uint8_t *f;

		if (seq == 0 || (*(f = &mb->fl[seq - 1]) & F_GONE))
			continue;
		if ((*f & MD_FLAGS) != flags || !own_change(mb, uid,
		    (uint64_t)sqlite3_column_int64(s, 2))) {
			*changed = xrealloc(*changed, (*nchanged + 1) *
			    sizeof(**changed));
			(*changed)[(*nchanged)++] = uid;
		}
		*f = (uint8_t)((*f & F_KEEP) | flags);
	}
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : -1;
}

int
mbox_sync(struct mbox *mb, int allow_expunge, const struct mbox_sync_cb *cb,
    const char **errstr_r)
{
	struct folder_row fr;
	uint32_t *changed = NULL, nchanged = 0, added = 0, i;
	int rc;

	cache_flush(mb);
	if ((rc = folder_sync(mb->st, mb->canon, 0, &fr, errstr_r)) != 1) {
		if (rc == 0)
			(void)mstore_err(mb->st, errstr_r,
			    "mailbox was deleted or renamed");
		return rc;
	}
	/* A new mailbox under the name: another id (row_create never gives
	 * a deleted folder's id again; an index from before it may have),
	 * and always another UIDVALIDITY. */
	if (fr.id != mb->fid || fr.uidvalidity != mb->uidvalidity) {
		(void)mstore_err(mb->st, errstr_r, "mailbox was replaced");
		return 0;
	}
	if (fr.hms != mb->hms || fr.uidnext != mb->uidnext) {
		if (mb->ro ? mstore_exec(mb->st, "BEGIN") == -1 :
		    mstore_begin(mb->st, errstr_r) == -1)
			return mb_err(mb, errstr_r, "index");
		if (folder_row_get(mb->st, mb->canon, &fr) != 1 ||
		    snap_mark_gone(mb) == -1 ||
		    snap_changes(mb, &changed, &nchanged) == -1 ||
		    snap_append(mb, mb->lastuid, !mb->ro, fr.recent_uid,
		    &added) == -1) {
			(void)mb_err(mb, errstr_r, "index read");
			goto fail;
		}
		if (!mb->ro && fr.recent_uid + 1 < fr.uidnext) {
			fr.recent_uid = fr.uidnext - 1;
			if (folder_row_write(mb->st, &fr) == -1) {
				(void)mb_err(mb, errstr_r, "index write");
				goto fail;
			}
		}
		if (mstore_commit(mb->st, errstr_r) == -1)
			goto fail2;
		mb->hms = fr.hms;
		mb->uidnext = fr.uidnext;
		mb->nown = 0;
		blk_free_all(mb);	/* flags, keywords or numbering moved */
	}
	for (i = 0; allow_expunge && i < mb->n; ) {
		if (mb->fl[i] & F_GONE)
			snap_remove(mb, i, cb ? cb->expunged : NULL,
			    cb ? cb->arg : NULL);
		else
			i++;
	}
	for (i = 0; cb != NULL && cb->flags != NULL && i < nchanged; i++) {
		uint32_t seq = mbox_seq_of_uid(mb, changed[i]);

		if (seq != 0)
			cb->flags(cb->arg, seq);
	}
	if (added > 0 && cb != NULL && cb->exists != NULL) {
		struct mbox_status ms;

		mbox_status(mb, &ms);
		cb->exists(cb->arg, ms.messages, ms.recent);
	}
	free(changed);
	return 1;
fail:
	mstore_rollback(mb->st);
fail2:
	free(changed);
	/* The snapshot may hold rows of the failed read: reload next time. */
	return -1;
}

int
mbox_present(struct mbox *mb, const char **errstr_r)
{
	struct folder_row fr;
	char cur[PATH_MAX];
	struct stat sb;
	int rc;

	if ((size_t)snprintf(cur, sizeof(cur), "%s/cur", mb->dir) >=
	    sizeof(cur))
		return mstore_err(mb->st, errstr_r, "store path too long");
	if ((rc = stat(cur, &sb)) == -1 && errno != ENOENT && errno != ENOTDIR)
		return mstore_err(mb->st, errstr_r, "stat %s: %s", cur,
		    strerror(errno));
	if (rc == -1 || !S_ISDIR(sb.st_mode))
		return mstore_err(mb->st, errstr_r,
		    "mailbox was deleted or renamed"), 0;
	if ((rc = folder_row_get(mb->st, mb->canon, &fr)) == -1)
		return mstore_err(mb->st, errstr_r, "index read");
	if (rc == 0 || fr.id != mb->fid || fr.uidvalidity != mb->uidvalidity)
		return mstore_err(mb->st, errstr_r, "mailbox was replaced"), 0;
	return 1;
}

/* The file name of uid from the index: 1, 0 no such row, -1 error. */
static int
msg_file(struct mbox *mb, uint32_t uid, char *file, size_t filesz)
{
	sqlite3_stmt *s;
	int rc;

	if (mb->st_file == NULL && (mb->st_file = mstore_prep(mb->st,
	    "SELECT file FROM msgs WHERE folder = ? AND uid = ?")) == NULL)
		return -1;
	s = mb->st_file;
	(void)sqlite3_bind_int64(s, 1, mb->fid);
	(void)sqlite3_bind_int64(s, 2, uid);
	if ((rc = sqlite3_step(s)) == SQLITE_ROW)
		rc = (size_t)snprintf(file, filesz, "%s",
		    (const char *)sqlite3_column_text(s, 0)) < filesz ? 1 : -1;
	else
		rc = rc == SQLITE_DONE ? 0 : -1;
	(void)sqlite3_reset(s);	/* the result is in rc */
	return rc;
}

int
mbox_base(struct mbox *mb, uint32_t seq, char *out, size_t outsz,
    const char **errstr_r)
{
	sqlite3_stmt *s;
	const char *base;
	int rc;

	if (seq < 1 || seq > mb->n)
		return set_err2(errstr_r, "no such message");
	if (mb->st_base == NULL && (mb->st_base = mstore_prep(mb->st,
	    "SELECT base FROM msgs WHERE folder = ? AND uid = ?")) == NULL)
		return mb_err(mb, errstr_r, "index");
	s = mb->st_base;
	(void)sqlite3_bind_int64(s, 1, mb->fid);
	(void)sqlite3_bind_int64(s, 2, mb->uids[seq - 1]);
	if ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		base = (const char *)sqlite3_column_text(s, 0);
		rc = base != NULL && (size_t)snprintf(out, outsz, "%s",
		    base) < outsz ? 1 : set_err2(errstr_r, "base name too long");
	} else if (rc == SQLITE_DONE) {
		if (errstr_r != NULL)
			*errstr_r = MBOX_ERR_EXPUNGED;
		rc = 0;
	} else
		rc = mb_err(mb, errstr_r, "index");
	(void)sqlite3_reset(s);	/* the result is in rc */
	return rc;
}

int
mbox_base_foreach(struct mbox *mb, int (*fn)(void *arg, uint32_t seq,
    const char *base), void *arg, const char **errstr_r)
{
	sqlite3_stmt *s;
	const char *base;
	uint32_t seq;
	int rc;

	if (mb->n == 0)
		return 1;
	if ((s = mstore_prep(mb->st, "SELECT uid, base FROM msgs"
	    " WHERE folder = ? AND uid >= ? AND uid <= ? ORDER BY uid")) ==
	    NULL)
		return mb_err(mb, errstr_r, "index");
	(void)sqlite3_bind_int64(s, 1, mb->fid);
	(void)sqlite3_bind_int64(s, 2, mb->uids[0]);
	(void)sqlite3_bind_int64(s, 3, mb->uids[mb->n - 1]);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		seq = mbox_seq_of_uid(mb,
		    (uint32_t)sqlite3_column_int64(s, 0));
		base = (const char *)sqlite3_column_text(s, 1);
		if (seq != 0 && base != NULL && fn(arg, seq, base) == -1) {
			rc = SQLITE_DONE;
			break;
		}
	}
	if (rc != SQLITE_DONE)
		(void)mb_err(mb, errstr_r, "index");
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 1 : -1;
}

/*
 * The path of file (relative, "new/.." or "cur/..") in the folder; with
 * refind, the file is looked for under its base name (renamed by another
 * program since the index saw it) and file is updated. 1 or 0.
 */
static int
msg_path(struct mbox *mb, char *file, size_t filesz, int refind,
    char *path, size_t pathsz)
{
	char found[NAME_MAX + 16], base[NAME_MAX + 1];
	size_t bl;

	if (refind) {
		bl = md_base_len(file + 4);
		if (strlen(file) < 5 || bl >= sizeof(base))
			return 0;
		memcpy(base, file + 4, bl);
		base[bl] = '\0';
		if (!md_find(mb->dir, base, found, sizeof(found)) ||
		    (size_t)snprintf(file, filesz, "%s", found) >= filesz)
			return 0;
	}
	return (size_t)snprintf(path, pathsz, "%s/%s", mb->dir, file) <
	    pathsz ? 1 : 0;
}

static int
msg_open(struct mbox *mb, uint32_t uid)
{
	char path[PATH_MAX], file[NAME_MAX + 16];
	int fd, pass;

	if (msg_file(mb, uid, file, sizeof(file)) != 1)
		return -1;
	for (pass = 0; pass < 2; pass++) {
		if (!msg_path(mb, file, sizeof(file), pass, path,
		    sizeof(path)))
			return -1;
		if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) != -1)
			return fd;
		if (errno != ENOENT)
			return -1;
	}
	return -1;
}

int
mbox_read(struct mbox *mb, uint32_t seq, int header_only, struct buf *out,
    const char **errstr_r)
{
	char b[65536];
	size_t start = out->len;
	ssize_t n;
	int fd, cr = 0;

	if (seq < 1 || seq > mb->n)
		return set_err2(errstr_r, "no such message");
	if ((fd = msg_open(mb, mb->uids[seq - 1])) == -1) {
		if (errstr_r != NULL)
			*errstr_r = "message vanished";
		return 0;
	}
	while ((n = read(fd, b, sizeof(b))) > 0) {
		if (md_crlf_append(out, b, (size_t)n, &cr) == -1) {
			(void)close(fd);	/* read-only */
			return set_err2(errstr_r, "message too large");
		}
		if (header_only) {
			const char *h = out->data + start;
			char *end;

			if (out->len - start >= 2 &&
			    memcmp(h, "\r\n", 2) == 0) {
				out->len = start + 2;
				break;
			}
			if ((end = memmem(h, out->len - start, "\r\n\r\n",
			    4)) != NULL) {
				out->len = (size_t)(end - out->data) + 4;
				break;
			}
		}
	}
	(void)close(fd);	/* read-only */
	if (out->data != NULL)
		out->data[out->len] = '\0';
	if (n == -1)
		return mstore_err(mb->st, errstr_r, "read: %s",
		    strerror(errno));
	return 1;
}

int
mbox_fd(struct mbox *mb, uint32_t seq, int *fd_r, const char **errstr_r)
{
	*fd_r = -1;
	if (seq < 1 || seq > mb->n)
		return set_err2(errstr_r, "no such message");
	if ((*fd_r = msg_open(mb, mb->uids[seq - 1])) == -1) {
		if (errstr_r != NULL)
			*errstr_r = "message vanished";
		return 0;
	}
	return 1;
}

ssize_t
mstore_read_crlf(int fd, int *cr, struct buf *out)
{
	char b[65536];
	ssize_t n;

	if ((n = read(fd, b, sizeof(b))) > 0 &&
	    md_crlf_append(out, b, (size_t)n, cr) == -1) {
		errno = ENOMEM;
		return -1;
	}
	return n;
}

/* ------------------------------------------------------------ store */

static int
kw_has(const char *list, const char *w, size_t wl)
{
	const char *p = list;

	while (*p != '\0') {
		size_t l = strcspn(p, " ");

		if (l == wl && strncasecmp(p, w, wl) == 0)
			return 1;
		p += l;
		p += strspn(p, " ");
	}
	return 0;
}

/* The keyword list after op; malloc'd. */
static char *
kw_apply(const char *old, int op, const char *kw)
{
	struct buf b = BUF_INIT(0);
	const char *p;

	if (kw == NULL)
		kw = "";
	if (op == '=')
		old = "";
	/* Keep old words (minus removed ones), then add new ones. */
	for (p = old; *p != '\0'; ) {
		size_t l = strcspn(p, " ");

		if (l > 0 && !(op == '-' && kw_has(kw, p, l)) &&
		    !kw_has(buf_cstr(&b), p, l))
			(void)buf_appendf(&b, "%s%.*s", b.len ? " " : "",
			    (int)l, p);
		p += l;
		p += strspn(p, " ");
	}
	for (p = op == '-' ? "" : kw; *p != '\0'; ) {
		size_t l = strcspn(p, " ");

		if (l > 0 && !kw_has(buf_cstr(&b), p, l))
			(void)buf_appendf(&b, "%s%.*s", b.len ? " " : "",
			    (int)l, p);
		p += l;
		p += strspn(p, " ");
	}
	return b.data ? buf_steal(&b) : xstrdup("");
}

static int
hms_bump(struct mstore *st, int64_t fid, uint64_t *hms_r)
{
	sqlite3_stmt *s;
	int rc;

	if ((s = mstore_prep(st, "UPDATE folders SET hms = hms + 1"
	    " WHERE id = ? RETURNING hms")) == NULL)
		return -1;
	(void)sqlite3_bind_int64(s, 1, fid);
	if ((rc = sqlite3_step(s)) == SQLITE_ROW)
		*hms_r = (uint64_t)sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return rc == SQLITE_ROW ? 0 : -1;
}

struct row {
	uint32_t	 flags;
	char		*kw;
	char		*file;
	uint64_t	 modseq;
};

static int
row_get(struct mbox *mb, uint32_t uid, struct row *r)
{
	sqlite3_stmt *s;
	int rc;

	memset(r, 0, sizeof(*r));
	if ((s = mstore_prep(mb->st, "SELECT flags, keywords, file, modseq"
	    " FROM msgs WHERE folder = ? AND uid = ?")) == NULL)
		return -1;
	(void)sqlite3_bind_int64(s, 1, mb->fid);
	(void)sqlite3_bind_int64(s, 2, uid);
	if ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		r->flags = (uint32_t)sqlite3_column_int64(s, 0);
		r->kw = xstrdup((const char *)sqlite3_column_text(s, 1));
		r->file = xstrdup((const char *)sqlite3_column_text(s, 2));
		r->modseq = (uint64_t)sqlite3_column_int64(s, 3);
	}
	sqlite3_finalize(s);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

static void
row_free(struct row *r)
{
	free(r->kw);
	free(r->file);
}

/* Renames curfile to carry flags; file_r gets the new name. */
static int
flags_rename(struct mbox *mb, const char *curfile, uint32_t flags,
    char *file_r, size_t filesz)
{
	char from[PATH_MAX], to[PATH_MAX], base[NAME_MAX + 1];
	char cur[NAME_MAX + 16];
	size_t bl = md_base_len(curfile + 4);
	int pass;

	if (bl >= sizeof(base) || (size_t)snprintf(cur, sizeof(cur), "%s",
	    curfile) >= sizeof(cur))
		return -1;
	memcpy(base, curfile + 4, bl);
	base[bl] = '\0';
	for (pass = 0; pass < 2; pass++) {
		if (!msg_path(mb, cur, sizeof(cur), pass, from,
		    sizeof(from)) ||
		    md_file_name(base, cur, flags, file_r, filesz) == -1 ||
		    (size_t)snprintf(to, sizeof(to), "%s/%s", mb->dir,
		    file_r) >= sizeof(to))
			return -1;
		if (strcmp(from, to) == 0 || rename(from, to) == 0)
			return 0;
		if (errno != ENOENT)
			return -1;
	}
	return -1;
}

/* Position pos now has these flags (system flags only), keywords, modseq. */
static void
snap_set(struct mbox *mb, uint32_t pos, uint32_t flags, const char *kw,
    uint64_t modseq)
{
	struct mbox_msg *m;

	mb->fl[pos] = (uint8_t)((mb->fl[pos] & F_KEEP) | (flags & MD_FLAGS));
	if ((m = ent_loaded(mb, pos)) != NULL)
		ent_set(m, mb->fl[pos] & ~F_GONE, kw, modseq);
}

int
mbox_store(struct mbox *mb, uint32_t seq, int op, uint32_t flags,
    const char *keywords, uint64_t unchanged_since, const char **errstr_r)
{
	char file[NAME_MAX + 16];
	struct row r;
	uint32_t nf, uid, pos = seq - 1;
	char *nkw = NULL;
	sqlite3_stmt *s;
	uint64_t modseq;
	int rc;

	if (mb->ro)
		return set_err2(errstr_r, "mailbox is read-only");
	if (seq < 1 || seq > mb->n)
		return set_err2(errstr_r, "no such message");
	uid = mb->uids[pos];
	flags &= MD_FLAGS;
	cache_flush(mb);
	if (mstore_begin(mb->st, errstr_r) == -1)
		return -1;
	if ((rc = row_get(mb, uid, &r)) != 1) {
		mstore_rollback(mb->st);
		return rc == 0 ? set_err2(errstr_r, MBOX_ERR_EXPUNGED) :
		    mb_err(mb, errstr_r, "index");
	}
	if (unchanged_since != 0 && r.modseq > unchanged_since) {
		mstore_rollback(mb->st);
		snap_set(mb, pos, r.flags, r.kw, r.modseq);
		row_free(&r);
		return 0;
	}
	nf = op == '+' ? r.flags | flags : op == '-' ? r.flags & ~flags :
	    flags;
	nkw = keywords == NULL && op != '=' ? xstrdup(r.kw) :
	    kw_apply(r.kw, op, keywords);
	if (nf == r.flags && strcmp(nkw, r.kw) == 0) {
		mstore_rollback(mb->st);
		snap_set(mb, pos, r.flags, r.kw, r.modseq);
		goto done;
	}
	if (strlen(nkw) > MBOX_KEYWORDS_MAX) {
		mstore_rollback(mb->st);
		rc = set_err2(errstr_r, MBOX_ERR_KEYWORDS);
		goto out;
	}
	(void)ms_strlcpy(file, r.file, sizeof(file));
	if ((nf & MD_FLAGS) != (r.flags & MD_FLAGS) &&
	    flags_rename(mb, r.file, nf, file, sizeof(file)) == -1) {
		mstore_rollback(mb->st);
		rc = mstore_err(mb->st, errstr_r, "message file: %s",
		    strerror(errno));
		goto out;
	}
	if (hms_bump(mb->st, mb->fid, &modseq) == -1 ||
	    (s = mstore_prep(mb->st, "UPDATE msgs SET file = ?, flags = ?,"
	    " keywords = ?, modseq = ? WHERE folder = ? AND uid = ?")) ==
	    NULL) {
		rc = mb_err(mb, errstr_r, "index");
		mstore_rollback(mb->st);
		goto out;
	}
	(void)sqlite3_bind_text(s, 1, file, -1, SQLITE_STATIC);
	(void)sqlite3_bind_int64(s, 2, nf);
	(void)sqlite3_bind_text(s, 3, nkw, -1, SQLITE_STATIC);
	(void)sqlite3_bind_int64(s, 4, (sqlite3_int64)modseq);
	(void)sqlite3_bind_int64(s, 5, mb->fid);
	(void)sqlite3_bind_int64(s, 6, uid);
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE) {
		rc = mb_err(mb, errstr_r, "index");
		mstore_rollback(mb->st);
		goto out;
	}
	if (mstore_commit(mb->st, errstr_r) == -1) {
		rc = -1;
		goto out;
	}
	snap_set(mb, pos, nf, nkw, modseq);
	mb->own = xrealloc(mb->own, (mb->nown + 1) * sizeof(*mb->own));
	mb->own[mb->nown].uid = uid;
	mb->own[mb->nown++].modseq = modseq;
done:
	rc = 1;
out:
	free(nkw);
	row_free(&r);
	return rc;
}

int
mbox_copy(struct mbox *mb, uint32_t seq, const char *folder,
    uint32_t *uidvalidity_r, uint32_t *uid_r, const char **errstr_r)
{
	char path[PATH_MAX], file[NAME_MAX + 16];
	const struct mbox_msg *e;
	int pass, rc = -1;

	if (seq < 1 || seq > mb->n)
		return set_err2(errstr_r, "no such message");
	e = mbox_msg(mb, seq);
	cache_flush(mb);
	if (!mstore_folder_exists(mb->st, folder))
		return set_no_folder(errstr_r);
	if (msg_file(mb, e->uid, file, sizeof(file)) != 1)
		return set_err2(errstr_r, "message vanished");
	/* The file, linked (not read): renamed meanwhile, look again. */
	for (pass = 0; pass < 2; pass++) {
		if (!msg_path(mb, file, sizeof(file), pass, path,
		    sizeof(path)))
			return set_err2(errstr_r, "message vanished");
		rc = mstore_add_file(mb->st, folder, path, e->size,
		    e->flags & MD_FLAGS, e->keywords, e->internaldate,
		    uidvalidity_r, uid_r, errstr_r);
		if (rc != -1 || errstr_r == NULL ||
		    strcmp(*errstr_r, "message vanished") != 0)
			break;
	}
	return rc;
}

static int
uid_in(const uint32_t *uids, size_t n, uint32_t uid)
{
	size_t i;

	if (uids == NULL)
		return 1;
	for (i = 0; i < n; i++)
		if (uids[i] == uid)
			return 1;
	return 0;
}

/* The expunge was rolled back: its messages are not gone after all. */
static void
expunge_undo(struct mbox *mb)
{
	uint32_t i;

	for (i = 0; i < mb->n; i++)
		if (mb->fl[i] & F_GOING)
			mb->fl[i] &= (uint8_t)~(F_GONE | F_GOING);
}

/* mbox_expunge, and mbox_remove (deleted_only 0: whatever the flags). */
static int
expunge_uids(struct mbox *mb, const uint32_t *uids, size_t nuids,
    int deleted_only, void (*expunged)(void *arg, uint32_t seq), void *arg,
    size_t *removed_r, const char **errstr_r)
{
	uint32_t i;
	uint64_t hms;
	struct row r;
	size_t removed = 0;
	int rc;

	if (mb->ro)
		return set_err2(errstr_r, "mailbox is read-only");
	cache_flush(mb);
	if (mstore_begin(mb->st, errstr_r) == -1)
		return -1;
	for (i = 0; i < mb->n; i++) {
		uint32_t uid = mb->uids[i];

		if ((mb->fl[i] & F_GONE) || !uid_in(uids, nuids, uid))
			continue;
		if ((rc = row_get(mb, uid, &r)) == -1)
			goto fail;
		if (rc == 0) {
			mb->fl[i] |= F_GONE;	/* expunged by another one */
			continue;
		}
		if ((r.flags & MSG_DELETED) || !deleted_only) {
			/* The file goes after the commit (msg_doom). */
			if (msg_doom(mb->st, mb->fid, mb->dir, r.file) == -1 ||
			    msg_gone(mb->st, mb->fid, uid) == -1) {
				row_free(&r);
				goto fail;
			}
			mb->fl[i] |= F_GONE | F_GOING;
			removed++;
		}
		row_free(&r);
	}
	if (removed > 0 && hms_bump(mb->st, mb->fid, &hms) == -1)
		goto fail;
	if (mstore_commit(mb->st, errstr_r) == -1) {
		expunge_undo(mb);
		return -1;
	}
	mbox_report_gone(mb, expunged, arg);
	if (removed_r != NULL)
		*removed_r = removed;
	return 1;
fail:
	(void)mb_err(mb, errstr_r, "index");
	mstore_rollback(mb->st);
	expunge_undo(mb);
	return -1;
}

int
mbox_expunge(struct mbox *mb, const uint32_t *uids, size_t nuids,
    void (*expunged)(void *arg, uint32_t seq), void *arg,
    const char **errstr_r)
{
	return expunge_uids(mb, uids, nuids, 1, expunged, arg, NULL,
	    errstr_r);
}

int
mbox_move(struct mbox *mb, const uint32_t *seqs, size_t n,
    const char *folder, uint32_t *uidvalidity_r, uint32_t *uids_r,
    const char **errstr_r)
{
	char canon[MSTORE_NAME_MAX + 1], dir[PATH_MAX], path[PATH_MAX];
	char file[NAME_MAX + 16];
	struct folder_row fr;
	struct arrival *a;
	struct row r;
	uint64_t hms;
	uint32_t pos;
	size_t i, moved = 0;
	int rc, pass, tries;

	for (i = 0; i < n; i++)
		uids_r[i] = 0;
	if (mb->ro)
		return set_err2(errstr_r, "mailbox is read-only");
	ASSERT(!mb->st->batch);
	cache_flush(mb);
	if ((rc = arrive_target(mb->st, folder, canon, sizeof(canon), dir,
	    sizeof(dir), errstr_r)) != 1)
		return rc;
	a = xcalloc(n ? n : 1, sizeof(*a));
	/* 1. Linked into the target's tmp/: no scan looks there. */
	for (i = 0; i < n; i++) {
		if (seqs[i] < 1 || seqs[i] > mb->n ||
		    (mb->fl[seqs[i] - 1] & F_GONE))
			continue;
		if ((rc = msg_file(mb, mb->uids[seqs[i] - 1], file,
		    sizeof(file))) == -1) {
			rc = mb_err(mb, errstr_r, "index");
			goto out;
		}
		if (rc == 0) {
			/* Expunged by another one: reported with ours. */
			mb->fl[seqs[i] - 1] |= F_GONE;
			continue;
		}
		a[i].size = mbox_msg(mb, seqs[i])->size;
		/* Renamed meanwhile (flags): look again. */
		for (pass = 0; pass < 2; pass++) {
			rc = msg_path(mb, file, sizeof(file), pass, path,
			    sizeof(path)) ? arrive_link(mb->st, dir, path,
			    &a[i], errstr_r) : 0;
			if (rc != 0)
				break;
		}
		if (rc == -1)
			goto out;
	}
	/*
	 * 2. Their marks committed, then the move's transaction, in which
	 * the marks must still be there (a scan of the target in between
	 * that saw none of the files cleared them): else mark again.
	 */
	for (tries = 0; ; tries++) {
		if ((rc = arrive_mark(mb->st, canon, a, n, errstr_r)) != 1)
			goto out;
		if (mstore_begin(mb->st, errstr_r) == -1) {
			rc = -1;
			goto out;
		}
		if ((rc = arrive_begin(mb->st, canon, &fr, a, n,
		    errstr_r)) == 1)
			break;
		mstore_rollback(mb->st);
		if (rc == -1)
			goto out;
		if (tries == 3) {
			rc = set_err2(errstr_r, "mailbox busy, try again");
			goto out;
		}
	}
	/* 3. Each still here: renamed in with its row, original removed. */
	for (i = 0; i < n; i++) {
		if (a[i].base[0] == '\0')
			continue;
		pos = seqs[i] - 1;
		if ((rc = row_get(mb, mb->uids[pos], &r)) == -1) {
			(void)mb_err(mb, errstr_r, "index");
			goto fail;
		}
		if (rc == 0) {
			mb->fl[pos] |= F_GONE;	/* expunged by another one */
			continue;
		}
		rc = arrive_add(mb->st, dir, &fr, &a[i], r.flags, r.kw,
		    mbox_msg(mb, seqs[i])->internaldate, errstr_r);
		if (rc == 1 && (msg_doom(mb->st, mb->fid, mb->dir, r.file) ==
		    -1 || msg_gone(mb->st, mb->fid, mb->uids[pos]) == -1))
			rc = mb_err(mb, errstr_r, "index");
		row_free(&r);
		if (rc != 1)
			goto fail;
		mb->fl[pos] |= F_GONE | F_GOING;
		moved++;
	}
	/* The source's HIGHESTMODSEQ after the target's row (the same row
	 * when both are one folder). */
	if (arrive_end(mb->st, dir, &fr, errstr_r) == -1)
		goto fail;
	if (moved > 0 && hms_bump(mb->st, mb->fid, &hms) == -1) {
		(void)mb_err(mb, errstr_r, "index");
		goto fail;
	}
	md_test_move();
	if (mstore_commit(mb->st, errstr_r) == -1) {
		expunge_undo(mb);
		for (i = 0; i < n; i++)
			a[i].uid = 0;
		rc = -1;
		goto out;
	}
	for (i = 0; i < n; i++) {
		uids_r[i] = a[i].uid;
		if (a[i].uid != 0)
			mb->fl[seqs[i] - 1] &= (uint8_t)~F_GOING;
	}
	*uidvalidity_r = fr.uidvalidity;
	rc = 1;
	goto out;
fail:
	/* Files renamed in stay marked: the next scan unlinks them. */
	mstore_rollback(mb->st);
	expunge_undo(mb);
	for (i = 0; i < n; i++)
		a[i].uid = 0;
	rc = -1;
out:
	arrive_drop(dir, a, n);
	free(a);
	return rc;
}

void
mbox_report_gone(struct mbox *mb, void (*expunged)(void *arg, uint32_t seq),
    void *arg)
{
	uint32_t i;

	for (i = 0; i < mb->n; ) {
		if (mb->fl[i] & F_GONE)
			snap_remove(mb, i, expunged, arg);
		else
			i++;
	}
}

int
mbox_remove(struct mbox *mb, const uint32_t *uids, size_t nuids,
    void (*expunged)(void *arg, uint32_t seq), void *arg,
    size_t *removed_r, const char **errstr_r)
{
	if (removed_r != NULL)
		*removed_r = 0;
	if (nuids == 0)
		return 1;
	return expunge_uids(mb, uids, nuids, 0, expunged, arg, removed_r,
	    errstr_r);
}

/* ------------------------------------------------------------ cache */

int
mbox_cache_get(struct mbox *mb, uint32_t seq, const char *key,
    struct buf *out)
{
	sqlite3_stmt *s;
	uint32_t uid;
	size_t i;
	int rc, found = 0;

	if (seq < 1 || seq > mb->n)
		return 0;
	uid = mb->uids[seq - 1];
	for (i = mb->ncache; i > 0; i--) {
		struct cache_ent *c = &mb->cache[i - 1];

		if (c->uid == uid && strcmp(c->key, key) == 0)
			return c->len == 0 ||
			    buf_append(out, c->data, c->len) == 1;
	}
	if (mb->st_cget == NULL && (mb->st_cget = mstore_prep(mb->st,
	    "SELECT v FROM cache WHERE folder = ? AND uid = ? AND k = ?")) ==
	    NULL)
		return 0;
	s = mb->st_cget;
	(void)sqlite3_bind_int64(s, 1, mb->fid);
	(void)sqlite3_bind_int64(s, 2, uid);
	(void)sqlite3_bind_text(s, 3, key, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const void *p = sqlite3_column_blob(s, 0);
		int len = sqlite3_column_bytes(s, 0);

		found = len == 0 || buf_append(out, p, (size_t)len) == 1;
		if (out->data != NULL)
			out->data[out->len] = '\0';
	}
	(void)sqlite3_reset(s);	/* the result is in rc */
	return found;
}

void
mbox_cache_set(struct mbox *mb, uint32_t seq, const char *key,
    const char *data, size_t len)
{
	struct cache_ent *c;

	if (seq < 1 || seq > mb->n || len > INT32_MAX)
		return;
	/* Kept in memory, written CACHE_BATCH at a time (or at the next
	 * call that changes or syncs): one transaction, not one per set. */
	if (mb->ncache == CACHE_BATCH)
		cache_flush(mb);
	c = &mb->cache[mb->ncache++];
	c->uid = mb->uids[seq - 1];
	c->key = xstrdup(key);
	c->data = xmalloc(len + 1);
	memcpy(c->data, data, len);
	c->len = len;
}
