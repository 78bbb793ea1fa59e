/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * POP3 TRANSACTION and UPDATE states: the maildrop is INBOX as it was at
 * login (a snapshot: deliveries during the session show up at the next
 * one), locked against other POP3 sessions (mstore_lock_inbox). DELE only
 * marks; the marked messages are removed in the UPDATE state after QUIT,
 * and a session that ends any other way changes nothing (RFC 1939 6).
 * Handlers fill s->reply (multi-line replies included); pop3.c sends it.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/conn.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "store/mstore.h"
#include "store/pop3_cmd.h"
#include "store/pop3_priv.h"

int
pop3_mail_open(struct pop3_session *s)
{
	const char *errstr = NULL;
	int r;

	if (mstore_open(s->p->store_root, s->user, 1, &s->st, &errstr) != 1) {
		log_error("%s pop3 store open failed user=<%s> error=\"%s\"",
		    s->sid, s->user, errstr ? errstr : "?");
		pop3_reply(s, "-ERR [SYS/TEMP] Cannot open the mailbox");
		s->st = NULL;
		return -1;
	}
	if ((r = mstore_lock_inbox(s->st, &errstr)) != 1) {
		if (r == 0) {
			log_info("%s pop3 reject rule=inbox_lock user=<%s> "
			    "reply=\"-ERR [IN-USE]\"", s->sid, s->user);
			pop3_reply(s, "-ERR [IN-USE] Mailbox is locked by "
			    "another POP3 session");
		} else {
			log_error("%s pop3 lock failed user=<%s> error=\"%s\"",
			    s->sid, s->user, errstr ? errstr : "?");
			pop3_reply(s, "-ERR [SYS/TEMP] Cannot lock the mailbox");
		}
		mstore_close(&s->st);
		return -1;
	}
	if (mbox_open(s->st, "INBOX", 0, &s->mb, &errstr) != 1) {
		log_error("%s pop3 inbox open failed user=<%s> error=\"%s\"",
		    s->sid, s->user, errstr ? errstr : "?");
		pop3_reply(s, "-ERR [SYS/TEMP] Cannot open the mailbox");
		mstore_close(&s->st);
		return -1;
	}
	s->nmsg = mbox_count(s->mb);
	s->deleted = xcalloc(s->nmsg + 1, 1);
	s->retrieved = xcalloc(s->nmsg + 1, 1);
	s->ndeleted = 0;
	s->deleted_octets = 0;
	return 1;
}

void
pop3_mail_close(struct pop3_session *s)
{
	mbox_close(&s->mb);
	mstore_close(&s->st);	/* releases the lock */
	free(s->deleted);
	free(s->retrieved);
	s->deleted = s->retrieved = NULL;
	s->nmsg = 0;
}

/* Octets of the messages not marked deleted. */
static unsigned long long
pop3_octets(const struct pop3_session *s)
{
	unsigned long long total = 0;
	uint32_t seq;

	for (seq = 1; seq <= s->nmsg; seq++)
		if (!s->deleted[seq - 1])
			total += mbox_msg(s->mb, seq)->size;
	return total;
}

/* A message-number argument naming a message not marked deleted: 1 with
 * *seq_r, or -1 with the reply set. */
static int
pop3_msg_arg(struct pop3_session *s, const char *arg, size_t len,
    uint32_t *seq_r)
{
	uint32_t n;

	if (pop3_cmd_msgnum(arg, len, &n) == -1) {
		pop3_reply(s, "-ERR Invalid message number");
		return -1;
	}
	if (n > s->nmsg) {
		pop3_reply(s, "-ERR No such message");
		return -1;
	}
	if (s->deleted[n - 1]) {
		pop3_reply(s, "-ERR Message %u already deleted", n);
		return -1;
	}
	*seq_r = n;
	return 1;
}

void
pop3_stat(struct pop3_session *s, const char *arg, size_t len)
{
	(void)arg;
	if (len != 0) {
		pop3_reply(s, "-ERR Syntax: STAT");
		return;
	}
	pop3_reply(s, "+OK %u %llu", s->nmsg - s->ndeleted, pop3_octets(s));
}

static void
pop3_index_failed(struct pop3_session *s, const char *errstr)
{
	log_error("%s pop3 index read failed user=<%s> error=\"%s\"", s->sid,
	    s->user, errstr ? errstr : "?");
	pop3_reply(s, "-ERR [SYS/TEMP] Cannot read the maildrop");
}

/* mbox_base_foreach: a UIDL line for each message not marked deleted. */
static int
pop3_uidl_line(void *arg, uint32_t seq, const char *base)
{
	struct pop3_session *s = arg;
	char uid[POP3_UIDL_LEN + 1];

	if (seq <= s->nmsg && !s->deleted[seq - 1]) {
		(void)pop3_uidl(base, strlen(base), uid);
		(void)buf_appendf(&s->reply, "%u %s\r\n", seq, uid);
	}
	return 0;
}

/*
 * LIST and UIDL: one message, or every message not marked deleted. A
 * message another session expunged since login has no unique-id any more:
 * UIDL leaves it out (its RETR would fail too). The unique-id is
 * pop3_uidl of the message's base name.
 */
static void
pop3_listing(struct pop3_session *s, const char *arg, size_t len, int uidl)
{
	char base[NAME_MAX + 1], uid[POP3_UIDL_LEN + 1];
	const char *errstr = NULL;
	uint32_t seq;
	int r;

	if (len > 0) {
		if (pop3_msg_arg(s, arg, len, &seq) == -1)
			return;
		if (!uidl)
			pop3_reply(s, "+OK %u %llu", seq,
			    (unsigned long long)mbox_msg(s->mb, seq)->size);
		else if ((r = mbox_base(s->mb, seq, base, sizeof(base),
		    &errstr)) == 1) {
			(void)pop3_uidl(base, strlen(base), uid);
			pop3_reply(s, "+OK %u %s", seq, uid);
		} else if (r == 0)
			pop3_reply(s, "-ERR Message %u was removed by another "
			    "program", seq);
		else
			pop3_index_failed(s, errstr);
		return;
	}
	if (uidl) {
		pop3_reply(s, "+OK Unique-ID listing follows");
		if (mbox_base_foreach(s->mb, pop3_uidl_line, s, &errstr) ==
		    -1) {
			pop3_index_failed(s, errstr);
			return;
		}
	} else {
		pop3_reply(s, "+OK %u messages (%llu octets)",
		    s->nmsg - s->ndeleted, pop3_octets(s));
		for (seq = 1; seq <= s->nmsg; seq++)
			if (!s->deleted[seq - 1])
				(void)buf_appendf(&s->reply, "%u %llu\r\n",
				    seq, (unsigned long long)mbox_msg(s->mb,
				    seq)->size);
	}
	(void)buf_append(&s->reply, ".\r\n", 3);	/* unbounded */
}

void
pop3_list(struct pop3_session *s, const char *arg, size_t len)
{
	pop3_listing(s, arg, len, 0);
}

void
pop3_uidl_cmd(struct pop3_session *s, const char *arg, size_t len)
{
	pop3_listing(s, arg, len, 1);
}

/* RETR (lines < 0) and TOP: opens seq and sets the +OK; pop3.c's writer
 * then streams the message (pop3_mail_stream). */
static int
pop3_send_msg(struct pop3_session *s, uint32_t seq, long long lines)
{
	const char *errstr = NULL;
	int r, fd;

	r = mbox_fd(s->mb, seq, &fd, &errstr);
	if (r == 0) {
		pop3_reply(s, "-ERR Message %u was removed by another "
		    "program", seq);
		return -1;
	}
	if (r == -1) {
		log_error("%s pop3 read failed user=<%s> seq=%u error=\"%s\"",
		    s->sid, s->user, seq, errstr ? errstr : "?");
		pop3_reply(s, "-ERR [SYS/TEMP] Cannot read message %u", seq);
		return -1;
	}
	if (lines < 0)
		pop3_reply(s, "+OK %llu octets",
		    (unsigned long long)mbox_msg(s->mb, seq)->size);
	else
		pop3_reply(s, "+OK Top of message %u follows", seq);
	s->msg_fd = fd;
	s->msg_retr = lines < 0;
	pop3_stuff_init(&s->msg_stuff, lines);
	if (lines < 0) {
		s->nretr++;
		s->retrieved[seq - 1] = 1;
	} else
		s->ntop++;
	return 1;
}

#define POP3_STREAM_CHUNK	65536

int
pop3_mail_stream(struct pop3_session *s)
{
	char b[POP3_STREAM_CHUNK];
	ssize_t n;
	int r = 1, f = 1;

	ASSERT(s->msg_fd != -1);
	while (f == 1 && (n = read(s->msg_fd, b, sizeof(b))) != 0) {
		if (n == -1) {
			log_error("%s pop3 read failed user=<%s> error=\"%s\"",
			    s->sid, s->user, strerror(errno));
			r = -1;
			break;
		}
		buf_reset(&s->reply);
		/* Each piece gets the whole idle time to go out. */
		conn_set_deadline(s->conn, s->p->idle_timeout_ms);
		if ((f = pop3_stuff_feed(&s->msg_stuff, b, (size_t)n,
		    &s->reply)) == -1 || conn_write(s->conn, s->reply.data,
		    s->reply.len) == -1) {
			r = -1;
			break;
		}
	}
	buf_reset(&s->reply);
	if (r == 1 && (pop3_stuff_end(&s->msg_stuff, &s->reply) == -1 ||
	    conn_write(s->conn, s->reply.data, s->reply.len) == -1))
		r = -1;
	buf_reset(&s->reply);
	if (s->msg_retr)
		s->retr_octets += s->msg_stuff.octets;
	(void)close(s->msg_fd);	/* read-only */
	s->msg_fd = -1;
	return r;
}

void
pop3_retr(struct pop3_session *s, const char *arg, size_t len)
{
	uint32_t seq;

	if (pop3_msg_arg(s, arg, len, &seq) == -1)
		return;
	(void)pop3_send_msg(s, seq, -1);	/* reply set either way */
}

void
pop3_top(struct pop3_session *s, const char *arg, size_t len)
{
	uint32_t seq, lines;

	if (pop3_cmd_top(arg, len, &seq, &lines) == -1) {
		pop3_reply(s, "-ERR Syntax: TOP message lines");
		return;
	}
	if (seq > s->nmsg) {
		pop3_reply(s, "-ERR No such message");
		return;
	}
	if (s->deleted[seq - 1]) {
		pop3_reply(s, "-ERR Message %u already deleted", seq);
		return;
	}
	(void)pop3_send_msg(s, seq, lines);	/* reply set either way */
}

void
pop3_dele(struct pop3_session *s, const char *arg, size_t len)
{
	uint32_t seq;

	if (pop3_msg_arg(s, arg, len, &seq) == -1)
		return;
	s->deleted[seq - 1] = 1;
	s->ndeleted++;
	s->deleted_octets += mbox_msg(s->mb, seq)->size;
	pop3_reply(s, "+OK Message %u marked for deletion", seq);
}

void
pop3_rset(struct pop3_session *s, const char *arg, size_t len)
{
	(void)arg;
	if (len != 0) {
		pop3_reply(s, "-ERR Syntax: RSET");
		return;
	}
	memset(s->deleted, 0, s->nmsg);
	s->ndeleted = 0;
	s->deleted_octets = 0;
	pop3_reply(s, "+OK Maildrop has %u messages (%llu octets)", s->nmsg,
	    pop3_octets(s));
}

void
pop3_noop(struct pop3_session *s, const char *arg, size_t len)
{
	(void)arg;
	if (len != 0) {
		pop3_reply(s, "-ERR Syntax: NOOP");
		return;
	}
	pop3_reply(s, "+OK");
}

/*
 * UPDATE (RFC 1939 6): the marked messages are removed by UID in one index
 * transaction of their own (mbox_remove), and nothing on disk changes
 * before it commits: a session killed before that leaves them exactly as
 * they were (no \Deleted flag, which an IMAP client would see), after it
 * they are gone. Their flags are never touched: a \Deleted an IMAP client
 * set on another message stays for it to expunge. Then the messages
 * retrieved and kept get \Seen, so an IMAP client sees them as read (one
 * batch; a missing \Seen is harmless).
 */
void
pop3_mail_update(struct pop3_session *s)
{
	const char *errstr = NULL;
	uint32_t *uids, *seen, seq, n = 0, nseen = 0, i;
	size_t removed = 0;
	int failed = 0;

	uids = xcalloc(s->nmsg + 1, sizeof(*uids));
	seen = xcalloc(s->nmsg + 1, sizeof(*seen));
	for (seq = 1; seq <= s->nmsg; seq++) {
		if (s->deleted[seq - 1])
			uids[n++] = mbox_msg(s->mb, seq)->uid;
		else if (s->retrieved[seq - 1] &&
		    !(mbox_flags(s->mb, seq) & MSG_SEEN))
			seen[nseen++] = mbox_msg(s->mb, seq)->uid;
	}
	if (mbox_remove(s->mb, uids, n, NULL, NULL, &removed, &errstr) == -1)
		failed = 1;
	else
		s->expunged = (unsigned)removed;
	if (nseen > 0) {
		/* One index commit for them all, not one per message (a
		 * thousand fsyncs took seconds). Without a batch it still
		 * works. */
		int batch = mstore_batch_begin(s->st, NULL) == 1;

		for (i = 0; i < nseen; i++)
			if ((seq = mbox_seq_of_uid(s->mb, seen[i])) != 0)
				(void)mbox_store(s->mb, seq, '+', MSG_SEEN,
				    NULL, 0, NULL);	/* harmless if not */
		if (batch)
			(void)mstore_batch_end(s->st, NULL);	/* idem */
	}
	free(uids);
	free(seen);
	if (failed) {
		log_error("%s pop3 update failed user=<%s> marked=%u "
		    "error=\"%s\"", s->sid, s->user, s->ndeleted,
		    errstr ? errstr : "?");
		pop3_reply(s, "-ERR [SYS/TEMP] Deleted messages not removed");
		return;
	}
	pop3_reply(s, "+OK Bye: %u messages deleted", s->expunged);
}
