/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * The IMAP message commands that change messages (imap_msg.h): STORE,
 * COPY, MOVE and EXPUNGE with their UID forms, on the mailbox selected in
 * the session (imap_priv.h), plus the flag-list parser APPEND shares and
 * the sequence-set helper of every message command. FETCH and SEARCH are
 * in imap_msgread.c. Never changes anything in a read-only (EXAMINE)
 * mailbox.
 */
#include "config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "store/imap_msg.h"
#include "store/imap_parse.h"
#include "store/imap_priv.h"
#include "store/imap_seqset.h"
#include "store/mstore.h"

#define KEYWORDS_MAX	64			/* in one flag list */

/* ------------------------------------------------------------ helpers */

static uint32_t
uid_at(void *arg, uint32_t seq)
{
	return mbox_msg(arg, seq)->uid;
}

uint32_t
imap_msg_maxuid(struct mbox *mb)
{
	uint32_t n = mbox_count(mb);

	return n > 0 ? mbox_msg(mb, n)->uid : 0;
}

int
imap_msg_seqs(struct imap_session *s, const struct imap_arg *a, uint32_t **seqs_r,
    size_t *n_r)
{
	struct imap_seqset set;
	const char *err = "invalid sequence set";
	uint32_t count = mbox_count(s->mbox);

	*seqs_r = NULL;
	*n_r = 0;
	if (a->type != IMAP_ARG_ATOM ||
	    imap_seqset_parse(a->str, a->len, &set, &err) == -1 ||
	    imap_seqset_resolve(&set, s->uid, s->uid ? imap_msg_maxuid(s->mbox) :
	    count, &err) == -1) {
		if (a->type == IMAP_ARG_ATOM)
			imap_seqset_free(&set);
		imap_reply(s, IMAP_BAD, "%s", err);
		return -1;
	}
	imap_seqset_seqs(&set, s->uid, count, uid_at, s->mbox, seqs_r, n_r);
	imap_seqset_free(&set);
	return 1;
}

/* ------------------------------------------------------------ batches */

void
imap_batch_begin(struct imap_batch *b, struct mstore *st)
{
	memset(b, 0, sizeof(*b));
	b->st = st;
	b->open = mstore_batch_begin(st, &b->err) == 1;
}

void
imap_batch_step(struct imap_batch *b)
{
	if (!b->open || ++b->n < IMAP_BATCH_MAX)
		return;
	if (mstore_batch_end(b->st, &b->err) != 1)
		b->failed = 1;
	b->n = 0;
	b->open = mstore_batch_begin(b->st, &b->err) == 1;
}

int
imap_batch_end(struct imap_batch *b)
{
	if (b->open && mstore_batch_end(b->st, &b->err) != 1)
		b->failed = 1;
	b->open = 0;
	return b->failed ? -1 : 1;
}

/* ------------------------------------------------------------ flags */

static int
atom_ok(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)p[i] <= 0x20 || (unsigned char)p[i] >= 0x7f ||
		    strchr("(){%*\"\\]", p[i]) != NULL)
			return 0;
	return n > 0;
}

static int
kw_has(const struct buf *kw, const char *p, size_t n)
{
	const char *k = kw->data, *end;

	while (k != NULL && *k != '\0') {
		end = strchr(k, ' ');
		if (end == NULL)
			end = k + strlen(k);
		if ((size_t)(end - k) == n && strncasecmp(k, p, n) == 0)
			return 1;
		k = *end ? end + 1 : end;
	}
	return 0;
}

int
imap_flags_parse(const struct imap_arg *args, size_t n, uint32_t *flags_r,
    struct buf *kw, const char **errstr_r)
{
	static const struct {
		const char	*name;
		uint32_t	 bit;
	} sys[] = {
		{ "\\Seen", MSG_SEEN }, { "\\Answered", MSG_ANSWERED },
		{ "\\Flagged", MSG_FLAGGED }, { "\\Deleted", MSG_DELETED },
		{ "\\Draft", MSG_DRAFT },
	};
	size_t i, k, nkw = 0;
	const struct imap_arg *a;

	*flags_r = 0;
	buf_reset(kw);
	for (i = 0; i < n; i++) {
		a = &args[i];
		if (a->type != IMAP_ARG_ATOM || a->len == 0)
			goto bad;
		if (a->str[0] == '\\') {
			for (k = 0; k < sizeof(sys) / sizeof(sys[0]); k++)
				if (strlen(sys[k].name) == a->len &&
				    strncasecmp(sys[k].name, a->str,
				    a->len) == 0)
					break;
			if (k == sizeof(sys) / sizeof(sys[0])) {
				*errstr_r = "unknown or read-only system flag";
				return -1;
			}
			*flags_r |= sys[k].bit;
			continue;
		}
		if (!atom_ok(a->str, a->len))
			goto bad;
		if (kw_has(kw, a->str, a->len))
			continue;
		if (++nkw > KEYWORDS_MAX) {
			*errstr_r = "too many keywords";
			return -1;
		}
		if ((kw->len > 0 && buf_appendc(kw, ' ') == -1) ||
		    buf_append(kw, a->str, a->len) == -1) {
			*errstr_r = "keywords too long";
			return -1;
		}
	}
	return 1;
bad:
	*errstr_r = "invalid flag";
	return -1;
}

/* ------------------------------------------------------------ STORE */

void
imap_cmd_store(struct imap_session *s, const struct imap_arg *args,
    size_t nargs)
{
	struct buf kw = BUF_INIT(8192), out = BUF_INIT(0);
	struct imap_batch b;
	const struct imap_arg *fl;
	const struct mbox_msg *m;
	const char *item, *err = NULL;
	uint32_t *seqs, flags;
	size_t n, nfl, i, ilen;
	int op, silent = 0, r, failed = 0, limited = 0;

	if (nargs < 3 || args[1].type != IMAP_ARG_ATOM) {
		imap_reply(s, IMAP_BAD, "STORE needs a sequence set, an item "
		    "and flags");
		return;
	}
	item = args[1].str;
	ilen = args[1].len;
	op = '=';
	if (ilen > 0 && (item[0] == '+' || item[0] == '-')) {
		op = item[0];
		item++;
		ilen--;
	}
	if (ilen == 12 && strncasecmp(item, "FLAGS.SILENT", 12) == 0)
		silent = 1;
	else if (ilen != 5 || strncasecmp(item, "FLAGS", 5) != 0) {
		imap_reply(s, IMAP_BAD, "unknown STORE item");
		return;
	}
	if (nargs == 3 && args[2].type == IMAP_ARG_LIST) {
		fl = args[2].list;
		nfl = args[2].nlist;
	} else {
		fl = &args[2];
		nfl = nargs - 2;
	}
	if (imap_flags_parse(fl, nfl, &flags, &kw, &err) == -1) {
		imap_reply(s, IMAP_BAD, "%s", err);
		buf_free(&kw);
		return;
	}
	if (imap_msg_seqs(s, &args[0], &seqs, &n) == -1) {
		buf_free(&kw);
		return;
	}
	if (s->readonly) {
		imap_reply(s, IMAP_NO, "[READ-ONLY] mailbox is read-only");
		goto done;
	}
	imap_batch_begin(&b, s->store);
	for (i = 0; i < n; i++) {
		imap_batch_step(&b);
		r = mbox_store(s->mbox, seqs[i], op, flags,
		    kw.len ? kw.data : NULL, 0, &err);
		if (r != 1) {
			log_warn("%s imap store seq=%u error=\"%s\"", s->sid,
			    seqs[i], err != NULL ? err : "?");
			failed++;
			limited += err != NULL &&
			    strcmp(err, MBOX_ERR_KEYWORDS) == 0;
			continue;
		}
		if (silent)
			continue;
		m = mbox_msg(s->mbox, seqs[i]);
		buf_reset(&out);
		(void)buf_appendf(&out, "* %u FETCH (", seqs[i]);
		if (s->uid)
			(void)buf_appendf(&out, "UID %u ", m->uid);
		(void)buf_appends(&out, "FLAGS ");
		(void)imap_flags_format(&out, m->flags, m->keywords);
		(void)buf_appends(&out, ")\r\n");
		imap_write(s, out.data, out.len);
	}
	if (imap_batch_end(&b) == -1) {
		log_error("%s imap store error=\"%s\"", s->sid,
		    b.err != NULL ? b.err : "?");
		imap_reply(s, IMAP_NO, "flags could not be saved");
	} else if (failed > 0 && limited == failed)
		/* RFC 5530 LIMIT: the request exceeds a server limit. */
		imap_reply(s, IMAP_NO, "[LIMIT] too many keywords on %d "
		    "message(s): at most %d octets of keywords each", failed,
		    MBOX_KEYWORDS_MAX);
	else if (failed > 0)
		imap_reply(s, IMAP_NO, "flags of %d message(s) could not be "
		    "changed", failed);
done:
	buf_free(&kw);
	buf_free(&out);
	free(seqs);
}

/* ------------------------------------------------------------ COPY/MOVE */

/*
 * Removes the copies dst[0..n) from folder again after a COPY failed
 * halfway (RFC 3501 6.4.7: the destination must be restored). Best
 * effort: a failure is logged.
 */
static void
copy_rollback(struct imap_session *s, const char *folder,
    const uint32_t *dst, size_t n)
{
	struct mbox *mb = NULL;
	const char *err = NULL;
	uint32_t seq;
	size_t i;

	if (mbox_open(s->store, folder, 0, &mb, &err) != 1)
		goto fail;
	for (i = 0; i < n; i++)
		if ((seq = mbox_seq_of_uid(mb, dst[i])) != 0 &&
		    mbox_store(mb, seq, '+', MSG_DELETED, NULL, 0, &err) != 1)
			goto fail;
	if (mbox_expunge(mb, dst, n, NULL, NULL, &err) == -1)
		goto fail;
	mbox_close(&mb);
	return;
fail:
	log_error("%s imap copy rollback failed mailbox=%s error=\"%s\"",
	    s->sid, imap_esc(s, folder, strlen(folder)),
	    err != NULL ? err : "?");
	if (mb != NULL)
		mbox_close(&mb);
}

/*
 * 1 when copies of seqs[0..n) fit the quota as far as an unlocked look
 * can tell, else 0 with NO [OVERQUOTA] set. It spares linking the files
 * of a copy bound to fail; the check that decides is the store's, under
 * the index write lock, at every add (mstore_set_quota).
 */
static int
copy_fits(struct imap_session *s, const uint32_t *seqs, size_t n)
{
	const char *err = NULL;
	uint64_t used, total = 0;
	size_t i;

	if (s->quota == 0 || mstore_usage(s->store, &used, &err) != 1)
		return 1;	/* none, or unknown: the store decides */
	for (i = 0; i < n; i++)
		total += mbox_msg(s->mbox, seqs[i])->size;
	if (used <= s->quota && total <= s->quota - used)
		return 1;
	log_info("%s imap copy refused user=%s size=%llu used=%llu "
	    "quota=%llu rule=quota", s->sid, s->user,
	    (unsigned long long)total, (unsigned long long)used,
	    (unsigned long long)s->quota);
	imap_reply(s, IMAP_NO, "[OVERQUOTA] COPY would exceed the mailbox "
	    "quota");
	return 0;
}

/* The response code "[COPYUID v src dst]" (RFC 4315) into code. */
static void
copyuid_code(struct buf *code, uint32_t uidv, const uint32_t *src,
    const uint32_t *dst, size_t n)
{
	(void)buf_appendf(code, "[COPYUID %u ", uidv);
	(void)imap_seqset_format(src, n, code);
	(void)buf_appendc(code, ' ');
	(void)imap_seqset_format(dst, n, code);
	(void)buf_appendc(code, ']');
}

/*
 * Copies seqs[0..n) to the folder named by args[1]; on success fills
 * COPYUID data into code ("[COPYUID v src dst]") and returns 1; else
 * replies NO/BAD and returns -1. A copy that would exceed the store's
 * quota copies nothing (NO [OVERQUOTA]).
 */
static int
copy_msgs(struct imap_session *s, const struct imap_arg *a,
    const uint32_t *seqs, size_t n, struct buf *code)
{
	struct imap_batch b;
	uint32_t *src, *dst, uidv = 0;
	const char *err = NULL;
	char *name;
	size_t i;
	int r = 1;

	if (!imap_mailbox_arg(s, a, &name))
		return -1;
	if (n == 0) {
		/* Nothing to copy; still say whether the target exists. */
		r = mstore_folder_exists(s->store, name) ? 1 : -1;
		if (r == -1)
			imap_reply(s, IMAP_NO, "[TRYCREATE] no such mailbox");
		free(name);
		return r;
	}
	if (!copy_fits(s, seqs, n)) {
		free(name);
		return -1;
	}
	src = xcalloc(n, sizeof(*src));
	dst = xcalloc(n, sizeof(*dst));
	imap_batch_begin(&b, s->store);
	for (i = 0; i < n; i++) {
		src[i] = mbox_msg(s->mbox, seqs[i])->uid;
		r = mbox_copy(s->mbox, seqs[i], name, &uidv, &dst[i], &err);
		if (r != 1)
			break;
		imap_batch_step(&b);
	}
	if (imap_batch_end(&b) == -1 && r == 1) {
		r = -1;		/* the index rows of some copies are gone */
		err = b.err;
	}
	if (r != 1 && i > 0)
		copy_rollback(s, name, dst, i < n ? i : n);
	if (r == 0)
		imap_reply(s, IMAP_NO, "[TRYCREATE] no such mailbox");
	else if (r == -1 && err != NULL && strcmp(err, MSTORE_ERR_QUOTA) ==
	    0) {
		/* Another session or a delivery took the room meanwhile. */
		log_info("%s imap copy refused user=%s quota=%llu rule=quota",
		    s->sid, s->user, (unsigned long long)s->quota);
		imap_reply(s, IMAP_NO, "[OVERQUOTA] COPY would exceed the "
		    "mailbox quota");
	} else if (r == -1) {
		log_error("%s imap copy error=\"%s\"", s->sid,
		    err != NULL ? err : "?");
		imap_reply(s, IMAP_NO, "copy failed: %s",
		    err != NULL ? err : "error");
	} else {
		copyuid_code(code, uidv, src, dst, n);
	}
	free(src);
	free(dst);
	free(name);
	return r == 1 ? 1 : -1;
}

void
imap_cmd_copy(struct imap_session *s, const struct imap_arg *args,
    size_t nargs)
{
	struct buf code = BUF_INIT(0);
	uint32_t *seqs;
	size_t n;

	if (nargs != 2) {
		imap_reply(s, IMAP_BAD, "COPY needs a sequence set and a "
		    "mailbox");
		return;
	}
	if (imap_msg_seqs(s, &args[0], &seqs, &n) == -1)
		return;
	if (copy_msgs(s, &args[1], seqs, n, &code) == 1)
		imap_reply(s, IMAP_OK, "%s%sCOPY completed", buf_cstr(&code),
		    code.len ? " " : "");
	buf_free(&code);
	free(seqs);
}

/* Messages per mbox_move: one index transaction each (the write lock is
 * not held across a whole mailbox). */
#define MOVE_CHUNK	256

void
imap_cmd_move(struct imap_session *s, const struct imap_arg *args,
    size_t nargs)
{
	struct buf code = BUF_INIT(0);
	const char *err = NULL;
	uint32_t *seqs, *src, *dst, uidv = 0;
	size_t n, i, k, moved = 0;
	char *name = NULL;
	int r = 1;

	if (nargs != 2) {
		imap_reply(s, IMAP_BAD, "MOVE needs a sequence set and a "
		    "mailbox");
		return;
	}
	if (imap_msg_seqs(s, &args[0], &seqs, &n) == -1)
		return;
	if (s->readonly) {
		imap_reply(s, IMAP_NO, "[READ-ONLY] mailbox is read-only");
		free(seqs);
		return;
	}
	if (!imap_mailbox_arg(s, &args[1], &name)) {
		free(seqs);
		return;
	}
	if (n == 0) {
		/* Nothing to move; still say whether the target exists. */
		if (!mstore_folder_exists(s->store, name))
			imap_reply(s, IMAP_NO, "[TRYCREATE] no such mailbox");
		free(name);
		free(seqs);
		return;
	}
	/*
	 * No quota check: a MOVE never adds to the usage (the copies are
	 * links, the originals go in the same transaction). Checking would
	 * refuse a user at the quota the very MOVE to Trash that helps them
	 * clean up. Each chunk is atomic (mbox_move): a crash leaves every
	 * message in exactly one of the two mailboxes.
	 */
	src = xcalloc(n, sizeof(*src));
	dst = xcalloc(n, sizeof(*dst));
	for (i = 0; i < n; i++)
		src[i] = mbox_msg(s->mbox, seqs[i])->uid;
	for (i = 0; i < n && r == 1; i += k) {
		k = n - i < MOVE_CHUNK ? n - i : MOVE_CHUNK;
		r = mbox_move(s->mbox, &seqs[i], k, name, &uidv, &dst[i],
		    &err);
	}
	/* COPYUID of what moved (not what another session expunged). */
	for (i = 0; i < n; i++)
		if (dst[i] != 0) {
			src[moved] = src[i];
			dst[moved++] = dst[i];
		}
	if (moved > 0) {
		/* RFC 6851 3.3: COPYUID in an untagged OK before EXPUNGEs. */
		copyuid_code(&code, uidv, src, dst, moved);
		imap_untagged(s, "OK %s moved", buf_cstr(&code));
	}
	mbox_report_gone(s->mbox, imap_expunged_cb, s);
	if (r == 0)
		imap_reply(s, IMAP_NO, "[TRYCREATE] no such mailbox");
	else if (r == -1) {
		log_error("%s imap move error=\"%s\"", s->sid,
		    err != NULL ? err : "?");
		if (moved > 0)
			imap_reply(s, IMAP_NO, "%zu of %zu message(s) moved, "
			    "then: %s", moved, n, err != NULL ? err : "error");
		else
			imap_reply(s, IMAP_NO, "move failed: %s",
			    err != NULL ? err : "error");
	}
	buf_free(&code);
	free(src);
	free(dst);
	free(name);
	free(seqs);
}

/* ------------------------------------------------------------ EXPUNGE */

void
imap_cmd_expunge(struct imap_session *s, const struct imap_arg *args,
    size_t nargs)
{
	const char *err = NULL;
	uint32_t *seqs = NULL, *uids = NULL;
	size_t n = 0, i;
	int r;

	if (nargs != (s->uid ? 1u : 0u)) {
		imap_reply(s, IMAP_BAD, s->uid ? "UID EXPUNGE needs a UID set" :
		    "EXPUNGE takes no arguments");
		return;
	}
	if (s->uid && imap_msg_seqs(s, &args[0], &seqs, &n) == -1)
		return;
	if (s->readonly) {
		imap_reply(s, IMAP_NO, "[READ-ONLY] mailbox is read-only");
		free(seqs);
		return;
	}
	if (s->uid) {
		uids = xcalloc(n ? n : 1, sizeof(*uids));
		for (i = 0; i < n; i++)
			uids[i] = mbox_msg(s->mbox, seqs[i])->uid;
	}
	if (s->uid && n == 0)
		r = 1;		/* nothing designated: nothing to expunge */
	else
		r = mbox_expunge(s->mbox, uids, n, imap_expunged_cb, s, &err);
	if (r == -1) {
		log_error("%s imap expunge error=\"%s\"", s->sid,
		    err != NULL ? err : "?");
		imap_reply(s, IMAP_NO, "expunge failed: %s",
		    err != NULL ? err : "error");
	}
	free(uids);
	free(seqs);
}
