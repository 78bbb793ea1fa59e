/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * The IMAP commands that read messages (imap_msg.h): FETCH and SEARCH with
 * their UID forms, on the mailbox selected in the session (imap_priv.h).
 * They glue the pure parts (imap_fetch.c, imap_search.c) to the store
 * (mstore.h) and the session's output: a message file is read only when an
 * item or key needs it (the header alone when enough), ENVELOPE and
 * BODYSTRUCTURE go through the store's per-message cache, and each FETCH
 * response goes straight into the connection's output buffer. FETCH of a
 * body section without .PEEK sets \Seen unless the mailbox is read-only.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "store/imap_fetch.h"
#include "store/imap_msg.h"
#include "store/imap_parse.h"
#include "store/imap_priv.h"
#include "store/imap_search.h"
#include "store/mstore.h"

#define MSG_TEXT_MAX	(1024u * 1024 * 1024)	/* one message in memory */

/* Message text for the pure parts, read through the store. */
struct loader {
	struct imap_session *s;		/* FETCH: where emit writes */
	struct mbox	*mb;
	uint32_t	 seq;
	struct buf	 text;
	int		 whole;		/* text holds the whole message */
	int		 have;		/* text is for seq */
	int		 vanished;
	int		 fd;		/* streaming: seq's file, or -1 */
	int		 broken;	/* the file did not match its size */
	struct buf	 piece;		/* streaming: a piece in CRLF form */
};

static int
load(void *arg, int whole, const char **data_r, size_t *len_r)
{
	struct loader *l = arg;
	const char *err;
	int r;

	if (!l->have || (whole && !l->whole)) {
		buf_reset(&l->text);
		r = mbox_read(l->mb, l->seq, !whole, &l->text, &err);
		if (r != 1) {
			l->vanished = 1;
			return r;
		}
		l->have = 1;
		l->whole = whole;
	}
	*data_r = l->text.data != NULL ? l->text.data : "";
	*len_r = l->text.len;
	return 1;
}

static void
loader_at(struct loader *l, uint32_t seq)
{
	l->seq = seq;
	l->have = 0;
	l->whole = 0;
	if (l->fd != -1)
		(void)close(l->fd);	/* read-only */
	l->fd = -1;
}

static int emit(void *, const char *, size_t);

static int
text_open(void *arg)
{
	struct loader *l = arg;
	const char *err = NULL;
	int r;

	if (l->fd != -1)
		return 1;
	if ((r = mbox_fd(l->mb, l->seq, &l->fd, &err)) != 1)
		l->vanished = 1;
	return r;
}

/*
 * Octets [off, off + n) of the message's CRLF form, read from its file in
 * pieces (from the start: offsets are in the CRLF form), each passed to
 * fn. A file that is not as long as the index says (changed in place by
 * another program) cannot give the literal announced: the session ends.
 */
static int
text_pipe(struct loader *l, uint64_t off, uint64_t n,
    int (*fn)(void *, const char *, size_t), void *fnarg)
{
	uint64_t pos = 0, skip, k;
	ssize_t r = 1;
	int cr = 0;

	if (lseek(l->fd, 0, SEEK_SET) == -1)
		r = -1;
	while (n > 0 && r > 0) {
		buf_reset(&l->piece);
		if ((r = mstore_read_crlf(l->fd, &cr, &l->piece)) <= 0)
			break;
		if (pos + l->piece.len > off) {
			skip = off > pos ? off - pos : 0;
			k = l->piece.len - skip < n ? l->piece.len - skip : n;
			if (fn(fnarg, l->piece.data + skip, (size_t)k) == -1)
				return -1;
			off += k;
			n -= k;
		}
		pos += l->piece.len;
	}
	if (l->piece.cap > 2 * IMAP_FETCH_STREAM_MIN + 1024)
		buf_free(&l->piece);
	if (n > 0) {
		log_error("%s imap fetch seq=%u error=\"message file %s\"",
		    l->s->sid, l->seq, r == -1 ? strerror(errno) :
		    "shorter than its indexed size");
		l->broken = 1;
		return -1;
	}
	return 1;
}

static int
text_emit(void *arg, uint64_t off, uint64_t n)
{
	struct loader *l = arg;

	return text_pipe(l, off, n, emit, l);
}

static int
append_to(void *arg, const char *p, size_t n)
{
	return buf_append(arg, p, n) == -1 ? -1 : 1;
}

static int
text_read(void *arg, uint64_t off, uint64_t n, struct buf *out)
{
	struct loader *l = arg;

	return text_pipe(l, off, n, append_to, out);
}

struct scan_fn {
	void	(*fn)(void *, const char *, size_t);
	void	*arg;
};

static int
scan_to(void *arg, const char *p, size_t n)
{
	struct scan_fn *sf = arg;

	sf->fn(sf->arg, p, n);
	return 1;
}

static int
text_scan(void *arg, void (*fn)(void *, const char *, size_t), void *fnarg)
{
	struct loader *l = arg;
	struct scan_fn sf = { fn, fnarg };

	return text_pipe(l, 0, mbox_msg(l->mb, l->seq)->size, scan_to, &sf);
}

/* Big literals go to the connection in pieces, never copied whole. */
static int
emit(void *arg, const char *p, size_t n)
{
	struct loader *l = arg;
	size_t k;

	while (n > 0 && l->s->conn->err == 0) {
		k = n < IMAP_FETCH_STREAM_MIN ? n : IMAP_FETCH_STREAM_MIN;
		imap_write(l->s, p, k);
		p += k;
		n -= k;
	}
	return l->s->conn->err == 0 ? 1 : -1;
}

static int
cache_get(void *arg, const char *key, struct buf *out)
{
	struct loader *l = arg;

	return mbox_cache_get(l->mb, l->seq, key, out);
}

static void
cache_set(void *arg, const char *key, const char *data, size_t len)
{
	struct loader *l = arg;

	mbox_cache_set(l->mb, l->seq, key, data, len);
}

/* ------------------------------------------------------------ FETCH */

/*
 * Sets \Seen on seqs[0..n) that lack it, in store batches, before any
 * response is written (so no index lock is held while the client reads);
 * *set_r[i] tells which changed (their responses carry FLAGS).
 */
static void
fetch_set_seen(struct imap_session *s, const uint32_t *seqs, size_t n,
    uint8_t **set_r)
{
	struct imap_batch b;
	const char *err = NULL;
	size_t i;

	*set_r = xcalloc(n ? n : 1, 1);
	imap_batch_begin(&b, s->store);
	for (i = 0; i < n; i++) {
		if (mbox_msg(s->mbox, seqs[i])->flags & MSG_SEEN)
			continue;
		if (mbox_store(s->mbox, seqs[i], '+', MSG_SEEN, NULL, 0,
		    &err) == 1)
			(*set_r)[i] = 1;
		else
			log_warn("%s imap fetch seen=failed seq=%u error=\"%s\"",
			    s->sid, seqs[i], err != NULL ? err : "?");
		imap_batch_step(&b);
	}
	if (imap_batch_end(&b) == -1) {
		log_error("%s imap fetch seen=failed error=\"%s\"", s->sid,
		    b.err != NULL ? b.err : "?");
		memset(*set_r, 0, n);
	}
}

/* One message of a FETCH: writes its response. imap_fetch_render's. */
static int
fetch_one(struct imap_session *s, const struct imap_fetch *f, uint32_t seq,
    int add_flags, struct loader *l, struct buf *out, struct buf *scratch)
{
	struct imap_fetch_msg fm;
	const struct mbox_msg *m = mbox_msg(s->mbox, seq);
	int r;

	memset(&fm, 0, sizeof(fm));
	fm.add_flags = add_flags;
	fm.seq = seq;
	fm.uid = m->uid;
	fm.flags = m->flags;
	fm.keywords = m->keywords;
	fm.internaldate = m->internaldate;
	fm.size = m->size;
	fm.load = load;
	fm.cache_get = cache_get;
	fm.cache_set = cache_set;
	fm.emit = emit;
	fm.text_open = text_open;
	fm.text_emit = text_emit;
	fm.text_read = text_read;
	fm.text_scan = text_scan;
	fm.arg = l;
	loader_at(l, seq);
	buf_reset(out);
	if ((r = imap_fetch_render(f, &fm, out, scratch)) == 1)
		imap_write(s, out->data, out->len);	/* the rest */
	else if (r == -1 && l->broken) {
		/* Mid-literal: no reply can follow. */
		imap_set_state(s, IMAP_ST_LOGOUT);
		s->outcome = "store_error";
		s->tagged_sent = 1;
	} else if (r == -1)
		log_error("%s imap fetch seq=%u error=\"response too large\"",
		    s->sid, seq);
	loader_at(l, 0);	/* closes the file */
	/* Big messages: do not keep their text between messages. */
	if (l->text.cap > 1024 * 1024)
		buf_free(&l->text);	/* keeps its maximum */
	if (out->cap > 1024 * 1024)
		buf_free(out);
	return r;
}

void
imap_cmd_fetch(struct imap_session *s, const struct imap_arg *args,
    size_t nargs)
{
	struct imap_fetch f;
	struct loader l;
	struct buf out = BUF_INIT(0), scratch = BUF_INIT(0);
	const char *err = NULL;
	uint32_t *seqs;
	size_t n, i;
	unsigned vanished = 0, failed = 0;
	uint8_t *seen = NULL;
	int r;

	if (nargs != 2) {
		imap_reply(s, IMAP_BAD, "FETCH needs a sequence set and items");
		return;
	}
	if (imap_msg_seqs(s, &args[0], &seqs, &n) == -1)
		return;
	if (imap_fetch_parse(&args[1], s->uid, &f, &err) == -1) {
		imap_reply(s, IMAP_BAD, "%s", err);
		free(seqs);
		return;
	}
	if (f.sets_seen && !s->readonly)
		fetch_set_seen(s, seqs, n, &seen);
	memset(&l, 0, sizeof(l));
	l.s = s;
	l.mb = s->mbox;
	l.fd = -1;
	buf_init(&l.text, MSG_TEXT_MAX);
	buf_init(&l.piece, 0);
	for (i = 0; i < n && s->conn->err == 0 && s->state != IMAP_ST_LOGOUT;
	    i++) {
		if ((r = fetch_one(s, &f, seqs[i], seen != NULL && seen[i], &l,
		    &out, &scratch)) == 0)
			vanished++;
		else if (r == -1)
			failed++;
	}
	if (vanished > 0)
		imap_reply(s, IMAP_NO, "[EXPUNGEISSUED] %u of the messages "
		    "could not be read (expunged?)", vanished);
	else if (failed > 0)
		imap_reply(s, IMAP_NO, "[LIMIT] %u of the responses were too "
		    "large", failed);
	buf_free(&l.text);
	buf_free(&l.piece);
	buf_free(&out);
	buf_free(&scratch);
	imap_fetch_free(&f);
	free(seen);
	free(seqs);
}

/* ------------------------------------------------------------ SEARCH */

void
imap_cmd_search(struct imap_session *s, const struct imap_arg *args,
    size_t nargs)
{
	struct imap_search *prog;
	struct imap_search_msg sm;
	struct loader l;
	struct buf out = BUF_INIT(0);
	const struct mbox_msg *m;
	const char *err = NULL;
	uint32_t count = mbox_count(s->mbox), seq;
	int r;

	r = imap_search_parse(args, nargs, &prog, &err);
	if (r == 0) {
		imap_reply(s, IMAP_NO, "[BADCHARSET (UTF-8 US-ASCII)] %s",
		    err);
		return;
	}
	if (r == -1) {
		imap_reply(s, IMAP_BAD, "%s", err);
		return;
	}
	imap_search_prepare(prog, count, imap_msg_maxuid(s->mbox));
	memset(&l, 0, sizeof(l));
	l.mb = s->mbox;
	l.fd = -1;
	buf_init(&l.text, MSG_TEXT_MAX);
	(void)buf_appends(&out, "* SEARCH");	/* no maximum */
	for (seq = 1; seq <= count; seq++) {
		m = mbox_msg(s->mbox, seq);
		memset(&sm, 0, sizeof(sm));
		sm.seq = seq;
		sm.uid = m->uid;
		sm.flags = m->flags;
		sm.keywords = m->keywords;
		sm.internaldate = m->internaldate;
		sm.size = m->size;
		sm.load = load;
		sm.arg = &l;
		loader_at(&l, seq);
		if (imap_search_match(prog, &sm) == 1)
			(void)buf_appendf(&out, " %u", s->uid ? m->uid : seq);
		if (l.text.cap > 1024 * 1024)
			buf_free(&l.text);	/* keeps its maximum */
	}
	(void)buf_appends(&out, "\r\n");
	imap_write(s, out.data, out.len);
	buf_free(&out);
	buf_free(&l.text);
	imap_search_free(&prog);
}

