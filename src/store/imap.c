/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * The IMAP session: the read loop (parser fed from the connection, "+"
 * continuations for literals), the command table and dispatcher (state
 * checks, UID forms, error limit), the one writer of tagged replies, the
 * untagged updates after every command (mbox_sync), and the commands that
 * touch no mailbox: CAPABILITY, NOOP, LOGOUT, ID, ENABLE, NAMESPACE,
 * CHECK, CLOSE, UNSELECT, IDLE. Authentication is in imap_auth.c, mailbox
 * commands in imap_mbox.c, message commands in imap_msg.h's files.
 */
#include "config.h"

#include <malloc.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/conn.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "store/imap.h"
#include "store/imap_msg.h"
#include "store/imap_priv.h"
#include "store/mstore.h"

#define IMAP_IDLE_LINE_MAX	1024
#define IMAP_IDLE_POLL_MS	1000	/* resync even without inotify */
#define IMAP_WRITE_CHUNK	16384

static unsigned long imap_session_seq;

static const char *const imap_state_names[] = {
	[IMAP_ST_NOAUTH] = "noauth",
	[IMAP_ST_AUTH] = "auth",
	[IMAP_ST_SELECTED] = "selected",
	[IMAP_ST_LOGOUT] = "logout",
};

static void imap_cmd_capability(struct imap_session *,
	    const struct imap_arg *, size_t);
static void imap_cmd_noop(struct imap_session *, const struct imap_arg *,
	    size_t);
static void imap_cmd_logout(struct imap_session *, const struct imap_arg *,
	    size_t);
static void imap_cmd_id(struct imap_session *, const struct imap_arg *,
	    size_t);
static void imap_cmd_enable(struct imap_session *, const struct imap_arg *,
	    size_t);
static void imap_cmd_namespace(struct imap_session *,
	    const struct imap_arg *, size_t);
static void imap_cmd_close(struct imap_session *, const struct imap_arg *,
	    size_t);
static void imap_cmd_unselect(struct imap_session *,
	    const struct imap_arg *, size_t);
static void imap_cmd_idle(struct imap_session *, const struct imap_arg *,
	    size_t);

static const struct imap_cmd_def imap_cmds[] = {
	{ "CAPABILITY",	imap_cmd_capability, IMAP_ST_ANY,	0 },
	{ "NOOP",	imap_cmd_noop,	IMAP_ST_ANY,		0 },
	{ "LOGOUT",	imap_cmd_logout, IMAP_ST_ANY,		IMAP_CMD_LEAVES },
	{ "ID",		imap_cmd_id,	IMAP_ST_ANY,		0 },
	{ "STARTTLS",	imap_cmd_starttls, IMAP_ST_NOAUTH,	0 },
	{ "LOGIN",	imap_cmd_login,	IMAP_ST_NOAUTH,		0 },
	{ "AUTHENTICATE", imap_cmd_authenticate, IMAP_ST_NOAUTH, 0 },
	{ "ENABLE",	imap_cmd_enable, IMAP_ST_AUTHED,	0 },
	{ "NAMESPACE",	imap_cmd_namespace, IMAP_ST_AUTHED,	0 },
	{ "SELECT",	imap_cmd_select, IMAP_ST_AUTHED,	IMAP_CMD_LEAVES },
	{ "EXAMINE",	imap_cmd_examine, IMAP_ST_AUTHED,	IMAP_CMD_LEAVES },
	{ "CREATE",	imap_cmd_create, IMAP_ST_AUTHED,	0 },
	{ "DELETE",	imap_cmd_delete, IMAP_ST_AUTHED,	0 },
	{ "RENAME",	imap_cmd_rename, IMAP_ST_AUTHED,	0 },
	{ "SUBSCRIBE",	imap_cmd_subscribe, IMAP_ST_AUTHED,	0 },
	{ "UNSUBSCRIBE", imap_cmd_unsubscribe, IMAP_ST_AUTHED,	0 },
	{ "LIST",	imap_cmd_list,	IMAP_ST_AUTHED,		0 },
	{ "LSUB",	imap_cmd_lsub,	IMAP_ST_AUTHED,		0 },
	{ "STATUS",	imap_cmd_status, IMAP_ST_AUTHED,	0 },
	{ "APPEND",	imap_cmd_append, IMAP_ST_AUTHED,	0 },
	{ "IDLE",	imap_cmd_idle,	IMAP_ST_AUTHED,		0 },
	{ "CHECK",	imap_cmd_noop,	IMAP_ST_SELECTED,	0 },
	{ "CLOSE",	imap_cmd_close,	IMAP_ST_SELECTED,	0 },
	{ "UNSELECT",	imap_cmd_unselect, IMAP_ST_SELECTED,
	    IMAP_CMD_LEAVES },
	{ "EXPUNGE",	imap_cmd_expunge, IMAP_ST_SELECTED,	IMAP_CMD_UID },
	{ "FETCH",	imap_cmd_fetch,	IMAP_ST_SELECTED,
	    IMAP_CMD_UID | IMAP_CMD_NOEXPUNGE },
	{ "STORE",	imap_cmd_store,	IMAP_ST_SELECTED,
	    IMAP_CMD_UID | IMAP_CMD_NOEXPUNGE },
	{ "SEARCH",	imap_cmd_search, IMAP_ST_SELECTED,
	    IMAP_CMD_UID | IMAP_CMD_NOEXPUNGE },
	{ "COPY",	imap_cmd_copy,	IMAP_ST_SELECTED,	IMAP_CMD_UID },
	{ "MOVE",	imap_cmd_move,	IMAP_ST_SELECTED,	IMAP_CMD_UID },
};

/* ------------------------------------------------------------ output */

void
imap_set_state(struct imap_session *s, enum imap_state st)
{
	if (s->state != st)
		log_debug("%s imap state %s -> %s", s->sid,
		    imap_state_names[s->state], imap_state_names[st]);
	s->state = st;
}

void
imap_reply(struct imap_session *s, enum imap_status st, const char *fmt, ...)
{
	va_list ap;

	buf_reset(&s->reply);
	va_start(ap, fmt);
	if (buf_vappendf(&s->reply, fmt, ap) == -1) {
		buf_reset(&s->reply);
		(void)buf_appends(&s->reply, "reply too long");
	}
	va_end(ap);
	s->status = st;
	s->replied = 1;
}

void
imap_write(struct imap_session *s, const void *p, size_t len)
{
	const char *c = p;
	size_t n;

	/* In pieces, so the connection's buffer (kept for the whole
	 * session) never grows to the size of a big FETCH. A failure
	 * leaves c->err set; the loop ends the session. */
	while (len > 0) {
		n = len > IMAP_WRITE_CHUNK ? IMAP_WRITE_CHUNK : len;
		if (conn_write(s->conn, c, n) == -1)
			return;
		c += n;
		len -= n;
	}
}

void
imap_printf(struct imap_session *s, const char *fmt, ...)
{
	va_list ap;

	buf_reset(&s->tmp);
	va_start(ap, fmt);
	(void)buf_vappendf(&s->tmp, fmt, ap);	/* tmp has no maximum */
	va_end(ap);
	imap_write(s, s->tmp.data, s->tmp.len);
}

void
imap_untagged(struct imap_session *s, const char *fmt, ...)
{
	va_list ap;

	buf_reset(&s->tmp);
	(void)buf_appends(&s->tmp, "* ");
	va_start(ap, fmt);
	(void)buf_vappendf(&s->tmp, fmt, ap);
	va_end(ap);
	(void)buf_appends(&s->tmp, "\r\n");
	imap_write(s, s->tmp.data, s->tmp.len);
}

const char *
imap_esc(struct imap_session *s, const char *p, size_t len)
{
	buf_reset(&s->esc);
	return log_escape(&s->esc, p, len, 200);
}

int
imap_quote(struct buf *b, const char *p, size_t len)
{
	size_t i;
	int quote = len <= 1024;

	for (i = 0; quote && i < len; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
			quote = 0;
	}
	if (quote) {
		if (buf_appendc(b, '"') == -1 || buf_append(b, p, len) == -1)
			return -1;
		return buf_appendc(b, '"');
	}
	if (buf_appendf(b, "{%zu}\r\n", len) == -1)
		return -1;
	return buf_append(b, p, len);
}

int
imap_nstring(struct buf *b, const char *p, size_t len)
{
	if (p == NULL)
		return buf_appends(b, "NIL");
	return imap_quote(b, p, len);
}

int
imap_flags_format(struct buf *b, uint32_t flags, const char *kw)
{
	static const struct {
		uint32_t	 bit;
		const char	*name;
	} names[] = {
		{ MSG_SEEN, "\\Seen" }, { MSG_ANSWERED, "\\Answered" },
		{ MSG_FLAGGED, "\\Flagged" }, { MSG_DELETED, "\\Deleted" },
		{ MSG_DRAFT, "\\Draft" }, { MSG_RECENT, "\\Recent" },
	};
	size_t i;
	int first = 1;

	if (buf_appendc(b, '(') == -1)
		return -1;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!(flags & names[i].bit))
			continue;
		if ((!first && buf_appendc(b, ' ') == -1) ||
		    buf_appends(b, names[i].name) == -1)
			return -1;
		first = 0;
	}
	if (kw != NULL && *kw != '\0') {
		if ((!first && buf_appendc(b, ' ') == -1) ||
		    buf_appends(b, kw) == -1)
			return -1;
	}
	return buf_appendc(b, ')');
}

void
imap_expunged_cb(void *arg, uint32_t seq)
{
	struct imap_session *s = arg;

	imap_untagged(s, "%u EXPUNGE", seq);
	s->nexpunge++;
}

/* --------------------------------------------------- untagged updates */

static void
imap_sync_flags_cb(void *arg, uint32_t seq)
{
	struct imap_session *s = arg;
	const struct mbox_msg *m = mbox_msg(s->mbox, seq);
	struct buf b = BUF_INIT(0);

	if (m == NULL)
		return;
	(void)imap_flags_format(&b, m->flags, m->keywords);
	if (s->uid)
		imap_untagged(s, "%u FETCH (UID %u FLAGS %s)", seq, m->uid,
		    buf_cstr(&b));
	else
		imap_untagged(s, "%u FETCH (FLAGS %s)", seq, buf_cstr(&b));
	buf_free(&b);
}

static void
imap_sync_exists_cb(void *arg, uint32_t count, uint32_t recent)
{
	struct imap_session *s = arg;

	imap_untagged(s, "%u EXISTS", count);
	imap_untagged(s, "%u RECENT", recent);
}

/*
 * The selected mailbox is gone under its name (deleted or renamed by
 * another session or program, or replaced): RFC 3501 and RFC 9051 give no
 * response that moves a client out of the selected state unasked, and RFC
 * 2180 3 lists closing the connection as what servers do; real clients
 * (imaplib, Thunderbird, mutt) handle an untagged BYE as "reconnect and
 * LIST again". So: "* BYE", no tagged reply, the session ends.
 */
static void
imap_gone(struct imap_session *s, const char *errstr)
{
	log_info("%s imap selected mailbox gone user=%s mailbox=%s "
	    "reason=\"%s\"", s->sid, s->user, imap_esc(s, s->mbox_name,
	    strlen(s->mbox_name)), errstr ? errstr : "?");
	imap_untagged(s, "BYE Selected mailbox was deleted or renamed by "
	    "another session");
	imap_deselect(s);
	imap_set_state(s, IMAP_ST_LOGOUT);
	s->outcome = "mailbox_gone";
	s->tagged_sent = 1;
}

/* mbox_sync with the session's reports: 1, 0 gone (nothing reported),
 * -1 an error (logged; the snapshot stays usable). */
static int
imap_sync_report(struct imap_session *s, int allow_expunge,
    const char **errstr_r)
{
	struct mbox_sync_cb cb = {
		imap_expunged_cb, imap_sync_flags_cb, imap_sync_exists_cb, s
	};
	int rc;

	*errstr_r = NULL;
	if ((rc = mbox_sync(s->mbox, allow_expunge, &cb, errstr_r)) == -1)
		log_error("%s imap sync failed user=%s mailbox=%s error=\"%s\"",
		    s->sid, s->user, imap_esc(s, s->mbox_name,
		    strlen(s->mbox_name)), *errstr_r ? *errstr_r : "?");
	return rc;
}

int
imap_sync(struct imap_session *s, int allow_expunge)
{
	const char *errstr = NULL;

	if (s->mbox == NULL)
		return 1;
	if (imap_sync_report(s, allow_expunge, &errstr) == 0) {
		imap_gone(s, errstr);
		return 0;
	}
	return 1;
}

/* --------------------------------------------------------- dispatcher */

static const struct imap_cmd_def *
imap_cmd_find(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < sizeof(imap_cmds) / sizeof(imap_cmds[0]); i++)
		if (strlen(imap_cmds[i].name) == len &&
		    strncasecmp(imap_cmds[i].name, name, len) == 0)
			return &imap_cmds[i];
	return NULL;
}

static void
imap_send_tagged(struct imap_session *s, const char *tag)
{
	static const char *const st[] = { "OK", "NO", "BAD" };

	(void)conn_printf(s->conn, "%s %s %s\r\n", tag, st[s->status],
	    buf_cstr(&s->reply));
	switch (s->status) {
	case IMAP_OK:
		s->nok++;
		break;
	case IMAP_NO:
		s->nno++;
		break;
	case IMAP_BAD:
		s->nbad++;
		s->errors++;
		break;
	}
}

/*
 * No command runs in a selected mailbox gone under its name: a message
 * command would act on files moved away (an EXPUNGE or MOVE on another
 * mailbox's index rows), and any command's own untagged data (LIST,
 * STATUS...) would come before a BYE that takes its tagged reply away. A
 * cheap check (a stat and an index row). The commands that leave the
 * mailbox (UNSELECT, SELECT, EXAMINE, LOGOUT) just do. 0 when the BYE
 * was sent instead of running def.
 */
static int
imap_present_before(struct imap_session *s, const struct imap_cmd_def *def)
{
	const char *errstr = NULL;

	if (s->state != IMAP_ST_SELECTED || s->mbox == NULL ||
	    (def->flags & IMAP_CMD_LEAVES) ||
	    mbox_present(s->mbox, &errstr) != 0)
		return 1;
	imap_gone(s, errstr);
	return 0;
}

/*
 * The sync after a command, before its tagged reply. RFC 3501 7.4.1: no
 * EXPUNGE during FETCH, STORE, SEARCH; their UID forms may report them. A
 * mailbox gone while the command ran (its data may be out already): the
 * command still gets its tagged reply (a BYE now would leave it
 * unanswered), nothing is reported, and imap_present_before ends the
 * session with BYE at the next command.
 */
static void
imap_sync_after(struct imap_session *s, const struct imap_cmd_def *def)
{
	const char *errstr = NULL;

	if (s->state != IMAP_ST_SELECTED || s->mbox == NULL)
		return;
	if (imap_sync_report(s, !(def->flags & IMAP_CMD_NOEXPUNGE) || s->uid,
	    &errstr) == 0)
		log_info("%s imap selected mailbox gone during a command "
		    "user=%s mailbox=%s reason=\"%s\": BYE at the next "
		    "command", s->sid, s->user, imap_esc(s, s->mbox_name,
		    strlen(s->mbox_name)), errstr ? errstr : "?");
}

void
imap_dispatch(struct imap_session *s, const struct imap_cmd *cmd)
{
	const struct imap_cmd_def *def;
	const struct imap_arg *args = cmd->args;
	size_t nargs = cmd->nargs;

	s->ncmd++;
	s->cmd = cmd;
	s->uid = 0;
	s->status = IMAP_OK;
	s->replied = 0;
	s->tagged_sent = 0;
	buf_reset(&s->reply);
	if (strcmp(cmd->name, "UID") == 0) {
		if (nargs == 0 || args[0].type != IMAP_ARG_ATOM ||
		    (def = imap_cmd_find(args[0].str, args[0].len)) == NULL ||
		    !(def->flags & IMAP_CMD_UID)) {
			imap_reply(s, IMAP_BAD, "Unknown UID command");
			goto done;
		}
		s->uid = 1;
		args++;
		nargs--;
	} else if ((def = imap_cmd_find(cmd->name, strlen(cmd->name))) ==
	    NULL) {
		imap_reply(s, IMAP_BAD, "Unknown command %s",
		    imap_esc(s, cmd->name, strlen(cmd->name)));
		goto done;
	}
	if (!(def->states & s->state)) {
		imap_reply(s, IMAP_BAD, "%s not valid in this state%s",
		    def->name, s->state == IMAP_ST_NOAUTH ?
		    " (log in first)" : s->state == IMAP_ST_AUTH &&
		    (def->states & IMAP_ST_SELECTED) ?
		    " (select a mailbox first)" : "");
		goto done;
	}
	if (!imap_present_before(s, def))
		return;
	def->fn(s, args, nargs);
	if (s->tagged_sent)
		return;
	if (!s->replied)
		imap_reply(s, IMAP_OK, "%s%s completed", s->uid ? "UID " : "",
		    def->name);
	imap_sync_after(s, def);
done:
	imap_send_tagged(s, cmd->tag);
	s->cmd = NULL;
}

/* ------------------------------------------------- simple commands */

void
imap_capability(struct imap_session *s, struct buf *b)
{
	(void)buf_appends(b, "IMAP4rev1 LITERAL+ SASL-IR ID ENABLE IDLE "
	    "NAMESPACE UIDPLUS MOVE SPECIAL-USE CHILDREN UNSELECT");
	if (s->state != IMAP_ST_NOAUTH)
		return;
	if (!s->tls && s->env->tls != NULL)
		(void)buf_appends(b, " STARTTLS");
	if (imap_auth_allowed(s))
		(void)buf_appends(b, " AUTH=PLAIN");
	else
		(void)buf_appends(b, " LOGINDISABLED");
}

static int
imap_noargs(struct imap_session *s, size_t nargs)
{
	if (nargs == 0)
		return 1;
	imap_reply(s, IMAP_BAD, "%s takes no arguments", s->cmd->name);
	return 0;
}

static void
imap_cmd_capability(struct imap_session *s, const struct imap_arg *args,
    size_t nargs)
{
	struct buf b = BUF_INIT(0);

	(void)args;
	if (!imap_noargs(s, nargs))
		return;
	imap_capability(s, &b);
	imap_untagged(s, "CAPABILITY %s", buf_cstr(&b));
	buf_free(&b);
}

static void
imap_cmd_noop(struct imap_session *s, const struct imap_arg *args,
    size_t nargs)
{
	(void)args;
	(void)imap_noargs(s, nargs);
}

static void
imap_cmd_logout(struct imap_session *s, const struct imap_arg *args,
    size_t nargs)
{
	(void)args;
	if (!imap_noargs(s, nargs))
		return;
	imap_untagged(s, "BYE Logging out");
	imap_deselect(s);
	imap_set_state(s, IMAP_ST_LOGOUT);
	s->outcome = "logout";
}

/* ID (RFC 2971): NIL or a list of at most 30 string pairs. */
static void
imap_cmd_id(struct imap_session *s, const struct imap_arg *args,
    size_t nargs)
{
	size_t i;

	if (nargs != 1 || (args[0].type != IMAP_ARG_NIL &&
	    args[0].type != IMAP_ARG_LIST)) {
		imap_reply(s, IMAP_BAD, "Syntax: ID NIL | (field value ...)");
		return;
	}
	if (args[0].type == IMAP_ARG_LIST) {
		if (args[0].nlist % 2 != 0 || args[0].nlist > 60) {
			imap_reply(s, IMAP_BAD, "Invalid ID list");
			return;
		}
		for (i = 0; i < args[0].nlist; i++)
			if (args[0].list[i].type != IMAP_ARG_STRING &&
			    args[0].list[i].type != IMAP_ARG_NIL &&
			    !(i % 2 == 0 &&
			    args[0].list[i].type == IMAP_ARG_ATOM)) {
				imap_reply(s, IMAP_BAD, "Invalid ID list");
				return;
			}
	}
	imap_untagged(s, "ID (\"name\" \"Estafeta\" \"vendor\" "
	    "\"Estafeta\" \"version\" \"%s\")", PACKAGE_VERSION);
}

/* ENABLE (RFC 5161): we have no extension that needs enabling. */
static void
imap_cmd_enable(struct imap_session *s, const struct imap_arg *args,
    size_t nargs)
{
	size_t i;

	if (nargs == 0) {
		imap_reply(s, IMAP_BAD, "Syntax: ENABLE capability ...");
		return;
	}
	for (i = 0; i < nargs; i++)
		if (args[i].type != IMAP_ARG_ATOM) {
			imap_reply(s, IMAP_BAD, "Invalid capability name");
			return;
		}
	imap_untagged(s, "ENABLED");
}

static void
imap_cmd_namespace(struct imap_session *s, const struct imap_arg *args,
    size_t nargs)
{
	(void)args;
	if (!imap_noargs(s, nargs))
		return;
	imap_untagged(s, "NAMESPACE ((\"\" \".\")) NIL NIL");
}

/* Drops the selected mailbox (no expunge). */
void
imap_deselect(struct imap_session *s)
{
	mbox_close(&s->mbox);
	free(s->mbox_name);
	s->mbox_name = NULL;
	s->readonly = 0;
	if (s->state == IMAP_ST_SELECTED)
		imap_set_state(s, IMAP_ST_AUTH);
}

static void
imap_cmd_close(struct imap_session *s, const struct imap_arg *args,
    size_t nargs)
{
	const char *errstr = NULL;

	(void)args;
	if (!imap_noargs(s, nargs))
		return;
	/* RFC 3501 6.4.2: expunge silently when read-write. */
	if (!s->readonly && mbox_expunge(s->mbox, NULL, 0, NULL, NULL,
	    &errstr) == -1)
		log_error("%s imap close expunge failed user=%s error=\"%s\"",
		    s->sid, s->user, errstr ? errstr : "?");
	imap_deselect(s);
}

static void
imap_cmd_unselect(struct imap_session *s, const struct imap_arg *args,
    size_t nargs)
{
	(void)args;
	if (!imap_noargs(s, nargs))
		return;
	imap_deselect(s);
}

/*
 * The session is about to wait for its client: the message entries the last
 * command read (a FETCH 1:* reads them all, ~50 octets each) and the heap it
 * left free go back, so an idle session costs its snapshot only.
 */
static void
imap_rest(struct imap_session *s)
{
	if (s->mbox != NULL)
		mbox_release(s->mbox);
	(void)malloc_trim(0);
}

/*
 * After conn_getline() answered CONN_TOOLONG before the line's LF arrived,
 * the connection is left "skipping"; only conn_getline() honours that, and
 * the command parser reads through conn_peek(). Drops the rest of the line
 * here so it is not parsed as commands. 1, or -1 when the connection broke.
 */
int
imap_skip_line(struct imap_session *s)
{
	const char *p, *nl;
	size_t avail;

	while (s->conn->skipping) {
		p = conn_peek(s->conn, &avail);
		if (avail == 0) {
			if (conn_fill(s->conn) == -1)
				return -1;
			continue;
		}
		if ((nl = memchr(p, '\n', avail)) != NULL) {
			conn_consume(s->conn, (size_t)(nl - p) + 1);
			s->conn->skipping = 0;
		} else
			conn_consume(s->conn, avail);
	}
	return 1;
}

/* ---------------------------------------------------------------- IDLE */

/* One line from the client during IDLE: 1 DONE, 0 something else, -1
 * connection gone. */
static int
imap_idle_line(struct imap_session *s)
{
	const char *line;
	size_t len;
	int r;

	r = conn_getline(s->conn, IMAP_IDLE_LINE_MAX, &line, &len);
	if (r == -1)
		return -1;
	if (r == CONN_TOOLONG)
		return imap_skip_line(s) == -1 ? -1 : 0;
	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	return len == 4 && strncasecmp(line, "DONE", 4) == 0;
}

static void
imap_cmd_idle(struct imap_session *s, const struct imap_arg *args,
    size_t nargs)
{
	struct pollfd pfd[2];
	const char *errstr;
	long long end, left;
	int wfd = -1, n, r, rested = 0;

	(void)args;
	if (!imap_noargs(s, nargs))
		return;
	if (s->store != NULL)
		wfd = mstore_watch_fd(s->store, &errstr);
	imap_printf(s, "+ idling\r\n");
	end = conn_now_ms() + s->env->idle_timeout_ms;
	for (;;) {
		if (conn_flush(s->conn) == -1)
			goto gone;
		if (conn_pending(s->conn)) {
			conn_set_deadline(s->conn, end - conn_now_ms());
			if ((r = imap_idle_line(s)) == -1)
				goto gone;
			if (r == 1)
				break;
			imap_reply(s, IMAP_BAD, "Expected DONE");
			return;
		}
		left = end - conn_now_ms();
		if (left <= 0) {
			imap_untagged(s, "BYE Autologout; idle for too long");
			imap_deselect(s);
			imap_set_state(s, IMAP_ST_LOGOUT);
			s->outcome = "timeout";
			s->tagged_sent = 1;
			return;
		}
		pfd[0].fd = s->conn->fd;
		pfd[0].events = POLLIN;
		pfd[1].fd = wfd;
		pfd[1].events = POLLIN;
		pfd[0].revents = pfd[1].revents = 0;
		/* Without inotify, poll the store every second. */
		if (left > (wfd < 0 ? IMAP_IDLE_POLL_MS : IMAP_IDLE_POLL_MS * 30))
			left = wfd < 0 ? IMAP_IDLE_POLL_MS :
			    IMAP_IDLE_POLL_MS * 30;
		if (!rested) {
			imap_rest(s);
			rested = 1;
		}
		n = poll(pfd, wfd >= 0 ? 2 : 1, (int)left);
		if (n == -1)
			continue;	/* EINTR */
		if (pfd[1].revents & POLLIN)
			mstore_watch_drain(s->store);
		if (s->mbox != NULL && (n == 0 || (pfd[1].revents & POLLIN))) {
			if (imap_sync(s, 1) == 0) {
				(void)conn_flush(s->conn);
				return;		/* BYE sent */
			}
			rested = 0;
		}
		if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			conn_set_deadline(s->conn, end - conn_now_ms());
			if ((r = imap_idle_line(s)) == -1)
				goto gone;
			if (r == 1)
				break;
			imap_reply(s, IMAP_BAD, "Expected DONE");
			return;
		}
	}
	imap_reply(s, IMAP_OK, "IDLE terminated");
	return;
gone:
	imap_set_state(s, IMAP_ST_LOGOUT);
	s->outcome = s->conn->err == CONN_ETIMEOUT ? "timeout" : "lost";
	s->tagged_sent = 1;
}

/* ------------------------------------------------------- session loop */

/* Sends "* BYE text", ends the session. */
static void
imap_bye(struct imap_session *s, const char *outcome, const char *text)
{
	imap_untagged(s, "BYE %s", text);
	imap_set_state(s, IMAP_ST_LOGOUT);
	s->outcome = outcome;
}

/*
 * The parser's literal check (imap_parser_literal_check): an APPEND's
 * message literal (a top-level argument after the mailbox) larger than
 * the room the quota leaves is refused as soon as its size is known, for
 * {n} before the continuation (RFC 9208 4.3.1, RFC 3501 7.5: the client
 * then sends nothing), for {n+} without holding its octets. The size
 * alone decides (a message may grow by the CRs of bare LFs, never
 * shrink); the check that decides otherwise is still the store's.
 */
static int
imap_literal_check(void *arg, const char *name, size_t depth, size_t nargs,
    size_t size, int nonsync)
{
	struct imap_session *s = arg;
	uint64_t used;

	if (!(s->state & IMAP_ST_AUTHED) || s->store == NULL ||
	    s->quota == 0 || name == NULL || strcmp(name, "APPEND") != 0 ||
	    depth != 0 || nargs == 0 ||
	    mstore_usage(s->store, &used, NULL) != 1)
		return 0;
	if (used <= s->quota && size <= s->quota - used)
		return 0;
	log_info("%s imap append refused user=%s size=%zu quota=%llu "
	    "rule=quota used=%llu literal=%s", s->sid, s->user, size,
	    (unsigned long long)s->quota, (unsigned long long)used,
	    nonsync ? "nonsync" : "sync");
	return 1;
}

/*
 * Reads and runs the next command (or answers a parse error). -1 when the
 * connection broke or timed out.
 */
static int
imap_step(struct imap_session *s, struct imap_parser *p, size_t lim_max)
{
	const struct imap_cmd *cmd;
	struct imap_parse_err err;
	enum imap_parse_result r;
	const char *data;
	size_t avail, used;
	long long tmo;

	tmo = s->state == IMAP_ST_NOAUTH ? s->env->login_timeout_ms :
	    s->env->idle_timeout_ms;
	/* An unauthenticated client gets no big buffers, and none at all
	 * where it may not log in: a password literal is refused before
	 * it is sent in clear text. */
	if (!imap_parser_busy(p)) {
		if (s->state == IMAP_ST_NOAUTH && !imap_auth_allowed(s))
			lim_max = 0;
		else if (s->state == IMAP_ST_NOAUTH &&
		    lim_max > IMAP_PREAUTH_LITERAL_MAX)
			lim_max = IMAP_PREAUTH_LITERAL_MAX;
		imap_parser_literal_limit(p, lim_max);
	}
	conn_set_deadline(s->conn, tmo);
	for (;;) {
		data = conn_peek(s->conn, &avail);
		if (avail == 0) {
			if (conn_flush(s->conn) == -1)
				return -1;
			/* About to wait for the client, maybe for long: keep
			 * only the snapshot and give the pages freed by the
			 * last command (a SELECT's scan, a FETCH's buffers,
			 * the entries it read) back to the system. */
			if (!imap_parser_busy(p))
				imap_rest(s);
			if (conn_fill(s->conn) == -1)
				return -1;
			continue;
		}
		r = imap_parser_feed(p, data, avail, &used, &cmd, &err);
		conn_consume(s->conn, used);
		switch (r) {
		case IMAP_PARSE_MORE:
			continue;
		case IMAP_PARSE_LITERAL:
			imap_printf(s, "+ Ready for literal data\r\n");
			if (conn_flush(s->conn) == -1)
				return -1;
			continue;
		case IMAP_PARSE_DONE:
			imap_dispatch(s, cmd);
			imap_parser_release(p);	/* an APPEND's literal */
			return 1;
		case IMAP_PARSE_TOOBIG:
			s->ncmd++;
			s->nno++;
			log_info("%s imap literal too large client=[%s] "
			    "size=%zu", s->sid, s->ip,
			    imap_parser_literal_size(p));
			if (err.fatal) {
				imap_bye(s, "toobig",
				    "[TOOBIG] Literal too large");
				return 1;
			}
			if (s->state == IMAP_ST_NOAUTH && !imap_auth_allowed(s))
				(void)conn_printf(s->conn, "%s NO "
				    "[PRIVACYREQUIRED] No literals before "
				    "STARTTLS\r\n", err.tag ? err.tag : "*");
			else
				(void)conn_printf(s->conn, "%s NO [TOOBIG] "
				    "Literal too large\r\n",
				    err.tag ? err.tag : "*");
			return 1;
		case IMAP_PARSE_REFUSED:
			/* Only imap_literal_check refuses. */
			s->ncmd++;
			s->nno++;
			(void)conn_printf(s->conn, "%s NO [OVERQUOTA] APPEND "
			    "would exceed the mailbox quota\r\n",
			    err.tag ? err.tag : "*");
			return 1;
		case IMAP_PARSE_ERROR:
			s->ncmd++;
			s->nbad++;
			s->errors++;
			(void)conn_printf(s->conn, "%s BAD %s\r\n",
			    err.tag ? err.tag : "*", err.text);
			return 1;
		}
	}
}

void
imap_env_default(struct imap_env *env)
{
	memset(env, 0, sizeof(*env));
	env->login_timeout_ms = IMAP_LOGIN_TIMEOUT_MS;
	env->idle_timeout_ms = IMAP_IDLE_TIMEOUT_MS;
	env->auth_fail_limit = IMAP_AUTH_FAIL_LIMIT;
	env->fail_ip_limit = IMAP_FAIL_IP_LIMIT;
	env->fail_ip_window_ms = IMAP_FAIL_IP_WINDOW_MS;
	env->error_limit = IMAP_ERROR_LIMIT;
	imap_limits_default(&env->limits);
	env->append_max = IMAP_APPEND_MAX;
	env->limits.literal_max = env->append_max;
	env->limits.total_max = env->append_max;
}

static void
imap_session_free(struct imap_session *s)
{
	imap_deselect(s);
	mstore_close(&s->store);
	free(s->user);
	buf_free(&s->reply);
	buf_free(&s->esc);
	buf_free(&s->tmp);
}

void
imap_run(struct conn *c, const struct imap_env *env, const char *ip,
    int implicit_tls)
{
	struct imap_session sess, *s = &sess;
	struct imap_parser *p;
	struct imap_limits lim;
	struct buf cap = BUF_INIT(0);

	memset(s, 0, sizeof(*s));
	s->env = env;
	s->conn = c;
	s->state = IMAP_ST_NOAUTH;
	s->outcome = "lost";
	buf_init(&s->reply, 4096);
	buf_init(&s->esc, 0);
	buf_init(&s->tmp, 0);
	(void)snprintf(s->sid, sizeof(s->sid), "i%05x%04lx",
	    (unsigned)getpid() & 0xfffff, ++imap_session_seq & 0xffff);
	(void)snprintf(s->ip, sizeof(s->ip), "%s", ip ? ip : "?");
	log_info("%s imap connect client=[%s]%s", s->sid, s->ip,
	    implicit_tls ? " tls=implicit" : "");
	/* A literal may be as big as the biggest message APPEND takes. */
	lim = env->limits;
	if (env->append_max > 0)
		lim.literal_max = lim.total_max = env->append_max;
	p = imap_parser_new(&lim);
	imap_parser_literal_check(p, imap_literal_check, s);

	if (implicit_tls && imap_tls_handshake(s) == -1)
		imap_set_state(s, IMAP_ST_LOGOUT);
	else {
		imap_capability(s, &cap);
		imap_untagged(s, "OK [CAPABILITY %s] Estafeta IMAP ready",
		    buf_cstr(&cap));
	}
	while (s->state != IMAP_ST_LOGOUT) {
		if (imap_step(s, p, lim.literal_max) == -1) {
			if (c->err == CONN_ETIMEOUT) {
				imap_bye(s, "timeout",
				    "Autologout; idle for too long");
				conn_set_deadline(c, 1000);
			} else
				s->outcome = "lost";
			break;
		}
		if (s->state != IMAP_ST_LOGOUT &&
		    s->errors >= env->error_limit) {
			log_info("%s imap too many errors client=[%s] "
			    "errors=%u", s->sid, s->ip, s->errors);
			imap_bye(s, "errors", "Too many errors");
		}
		if (s->state != IMAP_ST_LOGOUT &&
		    s->auth_failures >= env->auth_fail_limit) {
			imap_bye(s, "auth_failed",
			    "Too many authentication failures");
		}
	}
	(void)conn_flush(c);	/* closing: nothing more to do */
	log_info("%s imap disconnect client=[%s] user=%s commands=%u "
	    "ok=%u no=%u bad=%u appends=%u expunged=%u in=%llu out=%llu "
	    "tls=%s outcome=%s", s->sid, s->ip, s->user ? s->user : "-",
	    s->ncmd, s->nok, s->nno, s->nbad, s->nappend, s->nexpunge,
	    c->bytes_in, c->bytes_out, s->tls ? conn_tls_version(c) : "no",
	    s->outcome);
	imap_parser_free(&p);
	buf_free(&cap);
	imap_session_free(s);
}
