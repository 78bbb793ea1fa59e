/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * IMAP mailbox commands: SELECT, EXAMINE, CREATE, DELETE, RENAME,
 * SUBSCRIBE, UNSUBSCRIBE, LIST, LSUB, STATUS, APPEND. Every mailbox name
 * passes imap_mailbox_arg() (mstore_name_ok: no traversal, valid modified
 * UTF-7, bounded length) before it reaches the store. The hierarchy
 * delimiter is "."; INBOX is case-insensitive; well-known top-level names
 * get SPECIAL-USE attributes (RFC 6154) in LIST.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "store/imap_msg.h"
#include "store/imap_priv.h"
#include "store/mstore.h"

int
imap_mailbox_arg(struct imap_session *s, const struct imap_arg *a,
    char **name_r)
{
	const char *p, *errstr = NULL;
	size_t len;

	*name_r = NULL;
	if (!imap_arg_astring(a, &p, &len)) {
		imap_reply(s, IMAP_BAD, "Invalid mailbox name argument");
		return 0;
	}
	if (memchr(p, '\0', len) != NULL || len > MSTORE_NAME_MAX) {
		imap_reply(s, IMAP_NO, "[CANNOT] Invalid mailbox name");
		return 0;
	}
	if (strcasecmp(p, "INBOX") == 0) {
		*name_r = xstrdup("INBOX");
		return 1;
	}
	if (len > 6 && strncasecmp(p, "INBOX.", 6) == 0) {
		/* The INBOX prefix of a child is case-insensitive too. */
		*name_r = xstrdup(p);
		memcpy(*name_r, "INBOX", 5);
	} else
		*name_r = xstrdup(p);
	if (mstore_name_ok(*name_r, &errstr) != 1) {
		log_info("%s imap bad mailbox name user=%s name=\"%s\"",
		    s->sid, s->user ? s->user : "-", imap_esc(s, p, len));
		imap_reply(s, IMAP_NO, "[CANNOT] %s",
		    errstr ? errstr : "Invalid mailbox name");
		free(*name_r);
		*name_r = NULL;
		return 0;
	}
	return 1;
}

/* --------------------------------------------------- SELECT / EXAMINE */

static void
imap_select(struct imap_session *s, const struct imap_arg *args,
    size_t nargs, int readonly)
{
	struct mbox_status st;
	const char *errstr = NULL;
	char *name;
	uint32_t i, n, unseen = 0;
	struct mbox *mb = NULL;
	int r;

	if (nargs != 1) {
		imap_reply(s, IMAP_BAD, "Syntax: %s mailbox", s->cmd->name);
		return;
	}
	/* A SELECT, even a failing one, deselects (RFC 3501 6.3.1). */
	imap_deselect(s);
	if (!imap_mailbox_arg(s, &args[0], &name))
		return;
	r = mbox_open(s->store, name, readonly, &mb, &errstr);
	if (r != 1) {
		if (r == -1)
			log_error("%s imap select failed user=%s error=\"%s\"",
			    s->sid, s->user, errstr ? errstr : "?");
		imap_reply(s, IMAP_NO, r == 0 ? "[NONEXISTENT] No such "
		    "mailbox" : "[SERVERBUG] Cannot open mailbox");
		free(name);
		return;
	}
	s->mbox = mb;
	s->mbox_name = name;
	s->readonly = readonly;
	imap_set_state(s, IMAP_ST_SELECTED);
	mbox_status(mb, &st);
	n = mbox_count(mb);
	/*
	 * The first unseen message, from the snapshot's flags: mbox_msg()
	 * would read whole entries from the index (all of them when nothing
	 * is seen), kept by the idle session until its next sync.
	 */
	for (i = 1; i <= n && st.unseen > 0; i++)
		if (!(mbox_flags(mb, i) & MSG_SEEN)) {
			unseen = i;
			break;
		}
	imap_untagged(s, "FLAGS (\\Answered \\Flagged \\Deleted \\Seen "
	    "\\Draft)");
	if (readonly)
		imap_untagged(s, "OK [PERMANENTFLAGS ()] Read-only mailbox");
	else
		imap_untagged(s, "OK [PERMANENTFLAGS (\\Answered \\Flagged "
		    "\\Deleted \\Seen \\Draft \\*)] Flags permitted");
	imap_untagged(s, "%u EXISTS", n);
	imap_untagged(s, "%u RECENT", st.recent);
	if (unseen)
		imap_untagged(s, "OK [UNSEEN %u] First unseen", unseen);
	imap_untagged(s, "OK [UIDVALIDITY %u] UIDs valid", st.uidvalidity);
	imap_untagged(s, "OK [UIDNEXT %u] Predicted next UID", st.uidnext);
	imap_reply(s, IMAP_OK, "[%s] %s completed",
	    readonly ? "READ-ONLY" : "READ-WRITE", s->cmd->name);
}

void
imap_cmd_select(struct imap_session *s, const struct imap_arg *args,
    size_t nargs)
{
	imap_select(s, args, nargs, 0);
}

void
imap_cmd_examine(struct imap_session *s, const struct imap_arg *args,
    size_t nargs)
{
	imap_select(s, args, nargs, 1);
}

/* ------------------------------------------ CREATE / DELETE / RENAME */

/* NO reply for a store error text. */
static void
imap_store_no(struct imap_session *s, int r, const char *errstr)
{
	if (r == 0)
		imap_reply(s, IMAP_NO, "[NONEXISTENT] No such mailbox");
	else if (errstr != NULL && strstr(errstr, "exists") != NULL)
		imap_reply(s, IMAP_NO, "[ALREADYEXISTS] Mailbox exists");
	else if (errstr != NULL && (strstr(errstr, "INBOX") != NULL ||
	    strstr(errstr, "children") != NULL ||
	    strstr(errstr, "invalid") != NULL))
		imap_reply(s, IMAP_NO, "[CANNOT] %s", errstr);
	else {
		log_error("%s imap %s failed user=%s error=\"%s\"", s->sid,
		    s->cmd->name, s->user, errstr ? errstr : "?");
		imap_reply(s, IMAP_NO, "[SERVERBUG] %s failed",
		    s->cmd->name);
	}
}

void
imap_cmd_create(struct imap_session *s, const struct imap_arg *args,
    size_t nargs)
{
	const char *errstr = NULL, *p;
	char *name;
	size_t len;
	int r;

	if (nargs != 1 || !imap_arg_astring(&args[0], &p, &len)) {
		imap_reply(s, IMAP_BAD, "Syntax: CREATE mailbox");
		return;
	}
	/* A trailing delimiter only says children will follow. */
	if (len > 1 && p[len - 1] == '.') {
		struct imap_arg a = args[0];

		a.str = xstrndup(p, len - 1);
		a.len = len - 1;
		r = imap_mailbox_arg(s, &a, &name);
		free((char *)(uintptr_t)a.str);
	} else
		r = imap_mailbox_arg(s, &args[0], &name);
	if (!r)
		return;
	if (strcmp(name, "INBOX") == 0) {
		imap_reply(s, IMAP_NO, "[ALREADYEXISTS] INBOX always exists");
		free(name);
		return;
	}
	r = mstore_folder_create(s->store, name, &errstr);
	if (r != 1)
		imap_store_no(s, r, errstr);
	else
		log_info("%s imap create user=%s mailbox=\"%s\"", s->sid,
		    s->user, imap_esc(s, name, strlen(name)));
	free(name);
}

void
imap_cmd_delete(struct imap_session *s, const struct imap_arg *args,
    size_t nargs)
{
	const char *errstr = NULL;
	char *name;
	int r, selected;

	if (nargs != 1) {
		imap_reply(s, IMAP_BAD, "Syntax: DELETE mailbox");
		return;
	}
	if (!imap_mailbox_arg(s, &args[0], &name))
		return;
	if (strcmp(name, "INBOX") == 0) {
		imap_reply(s, IMAP_NO, "[CANNOT] INBOX cannot be deleted");
		free(name);
		return;
	}
	/*
	 * Its own selected mailbox: closed only once it is deleted (RFC 9051
	 * 7.1 CLOSED, as for RENAME); a DELETE that fails leaves the session
	 * selected as it was. Its cache writes go to the index first.
	 */
	selected = s->mbox_name != NULL && strcmp(s->mbox_name, name) == 0;
	if (selected)
		mbox_release(s->mbox);
	r = mstore_folder_delete(s->store, name, &errstr);
	if (r != 1)
		imap_store_no(s, r, errstr);
	else {
		log_info("%s imap delete user=%s mailbox=\"%s\"", s->sid,
		    s->user, imap_esc(s, name, strlen(name)));
		if (selected) {
			imap_deselect(s);
			imap_untagged(s, "OK [CLOSED] The selected mailbox was "
			    "deleted");
		}
	}
	free(name);
}

void
imap_cmd_rename(struct imap_session *s, const struct imap_arg *args,
    size_t nargs)
{
	struct buf esc = BUF_INIT(0);
	const char *errstr = NULL;
	char *from = NULL, *to = NULL;
	int r;

	if (nargs != 2) {
		imap_reply(s, IMAP_BAD, "Syntax: RENAME from to");
		return;
	}
	if (!imap_mailbox_arg(s, &args[0], &from) ||
	    !imap_mailbox_arg(s, &args[1], &to))
		goto out;
	if (strcmp(to, "INBOX") == 0) {
		imap_reply(s, IMAP_NO, "[ALREADYEXISTS] INBOX always exists");
		goto out;
	}
	if (strcmp(from, "INBOX") != 0 && strncmp(to, from, strlen(from)) ==
	    0 && to[strlen(from)] == '.') {
		imap_reply(s, IMAP_NO, "[CANNOT] Cannot move a mailbox into "
		    "itself");
		goto out;
	}
	r = mstore_folder_rename(s->store, from, to, &errstr);
	if (r != 1) {
		imap_store_no(s, r, errstr);
		goto out;
	}
	log_info("%s imap rename user=%s from=\"%s\" to=\"%s\"",
	    s->sid, s->user, imap_esc(s, from, strlen(from)),
	    log_escape(&esc, to, strlen(to), 200));
	/* Its own selected mailbox (or one under it) renamed: closed, as a
	 * SELECT elsewhere would (RFC 9051 7.1 CLOSED), not left to the
	 * sync's BYE for mailboxes gone under another session. INBOX stays
	 * (its messages moved: the sync reports them expunged). */
	if (s->mbox_name != NULL && strcmp(from, "INBOX") != 0 &&
	    strncmp(s->mbox_name, from, strlen(from)) == 0 &&
	    (s->mbox_name[strlen(from)] == '\0' ||
	    s->mbox_name[strlen(from)] == '.')) {
		imap_deselect(s);
		imap_untagged(s, "OK [CLOSED] The selected mailbox was renamed");
	}
out:
	buf_free(&esc);
	free(from);
	free(to);
}

/* -------------------------------------------- SUBSCRIBE / UNSUBSCRIBE */

static void
imap_subscribe(struct imap_session *s, const struct imap_arg *args,
    size_t nargs, int on)
{
	const char *errstr = NULL;
	char *name;

	if (nargs != 1) {
		imap_reply(s, IMAP_BAD, "Syntax: %s mailbox", s->cmd->name);
		return;
	}
	if (!imap_mailbox_arg(s, &args[0], &name))
		return;
	if (on && !mstore_folder_exists(s->store, name))
		imap_reply(s, IMAP_NO, "[NONEXISTENT] No such mailbox");
	else if (mstore_subscribe(s->store, name, on, &errstr) == -1)
		imap_store_no(s, -1, errstr);
	free(name);
}

void
imap_cmd_subscribe(struct imap_session *s, const struct imap_arg *args,
    size_t nargs)
{
	imap_subscribe(s, args, nargs, 1);
}

void
imap_cmd_unsubscribe(struct imap_session *s, const struct imap_arg *args,
    size_t nargs)
{
	imap_subscribe(s, args, nargs, 0);
}

/* ------------------------------------------------------ LIST / LSUB */

int
imap_list_match(const char *pat, const char *name)
{
	size_t n = strlen(name), j;
	unsigned char *prev, *cur, *tmp;
	int r;

	/*
	 * prev[j]: the pattern so far matches name[0..j). Row by row over
	 * the pattern: O(pattern x name) whatever the wildcards (a
	 * recursive matcher takes exponential time on "*a*a*a...b").
	 */
	prev = xcalloc(n + 1, 1);
	cur = xcalloc(n + 1, 1);
	prev[0] = 1;
	for (; *pat != '\0'; pat++) {
		cur[0] = (*pat == '*' || *pat == '%') && prev[0];
		for (j = 1; j <= n; j++) {
			if (*pat == '*')
				cur[j] = prev[j] || cur[j - 1];
			else if (*pat == '%')
				cur[j] = prev[j] ||
				    (cur[j - 1] && name[j - 1] != '.');
			else
				cur[j] = prev[j - 1] && *pat == name[j - 1];
		}
		tmp = prev;
		prev = cur;
		cur = tmp;
	}
	r = prev[n];
	free(prev);
	free(cur);
	return r;
}

/* Well-known top-level names and their RFC 6154 attribute. */
static const char *
imap_special_use(const char *name)
{
	static const struct {
		const char	*name;
		const char	*attr;
	} su[] = {
		{ "Sent", "\\Sent" }, { "Sent Messages", "\\Sent" },
		{ "Sent Items", "\\Sent" }, { "Drafts", "\\Drafts" },
		{ "Trash", "\\Trash" }, { "Deleted Messages", "\\Trash" },
		{ "Junk", "\\Junk" }, { "Spam", "\\Junk" },
		{ "Archive", "\\Archive" },
	};
	size_t i;

	for (i = 0; i < sizeof(su) / sizeof(su[0]); i++)
		if (strcasecmp(name, su[i].name) == 0)
			return su[i].attr;
	return NULL;
}

struct imap_list_ctx {
	struct imap_session	*s;
	const char		*pattern;
	int			 lsub;
	int			 n;
	char			**names;	/* every name walked */
	size_t			 nnames, cap;
};

static void
imap_list_line(struct imap_session *s, const char *what, const char *attrs,
    const char *name)
{
	struct buf b = BUF_INIT(0);

	(void)imap_quote(&b, name, strlen(name));
	imap_untagged(s, "%s (%s) \".\" %s", what, attrs, buf_cstr(&b));
	buf_free(&b);
}

static void
imap_list_keep(struct imap_list_ctx *lc, const char *name)
{
	if (lc->nnames == lc->cap) {
		lc->cap = lc->cap ? lc->cap * 2 : 32;
		lc->names = xrealloc(lc->names, lc->cap * sizeof(*lc->names));
	}
	lc->names[lc->nnames++] = xstrdup(name);
}

static int
imap_list_known(char *const *v, size_t n, const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strlen(v[i]) == len && strncmp(v[i], name, len) == 0)
			return 1;
	return 0;
}

/*
 * RFC 3501 6.3.8/6.3.9: with "%", a level that is not a mailbox (or not
 * subscribed) but has matching children below it is listed \Noselect.
 */
static void
imap_list_parents(struct imap_list_ctx *lc)
{
	char **done = NULL, *prefix;
	size_t ndone = 0, cap = 0, i, len;
	const char *dot;

	if (strchr(lc->pattern, '%') == NULL)
		return;
	for (i = 0; i < lc->nnames; i++) {
		for (dot = strchr(lc->names[i], '.'); dot != NULL;
		    dot = strchr(dot + 1, '.')) {
			len = (size_t)(dot - lc->names[i]);
			if (imap_list_known(lc->names, lc->nnames,
			    lc->names[i], len))
				continue;
			prefix = xstrndup(lc->names[i], len);
			if (!imap_list_known(done, ndone, prefix, len) &&
			    imap_list_match(lc->pattern, prefix)) {
				if (ndone == cap) {
					cap = cap ? cap * 2 : 8;
					done = xrealloc(done,
					    cap * sizeof(*done));
				}
				imap_list_line(lc->s, lc->lsub ? "LSUB" :
				    "LIST", lc->lsub ? "\\Noselect" :
				    "\\Noselect \\HasChildren", prefix);
				done[ndone++] = prefix;
				prefix = NULL;
			}
			free(prefix);
		}
	}
	for (i = 0; i < ndone; i++)
		free(done[i]);
	free(done);
}

static int
imap_list_cb(void *arg, const char *name, int noselect, int has_children)
{
	struct imap_list_ctx *lc = arg;
	struct buf attrs = BUF_INIT(0);
	const char *su;

	imap_list_keep(lc, name);
	if (!imap_list_match(lc->pattern, name))
		return 0;
	if (noselect)
		(void)buf_appends(&attrs, "\\Noselect ");
	(void)buf_appends(&attrs, has_children ? "\\HasChildren" :
	    "\\HasNoChildren");
	if ((su = imap_special_use(name)) != NULL)
		(void)buf_appendf(&attrs, " %s", su);
	imap_list_line(lc->s, "LIST", buf_cstr(&attrs), name);
	buf_free(&attrs);
	lc->n++;
	return 0;
}

static int
imap_lsub_cb(void *arg, const char *name)
{
	struct imap_list_ctx *lc = arg;

	imap_list_keep(lc, name);
	if (!imap_list_match(lc->pattern, name))
		return 0;
	imap_list_line(lc->s, "LSUB",
	    mstore_folder_exists(lc->s->store, name) ? "" : "\\Noselect",
	    name);
	lc->n++;
	return 0;
}

/* Reference + pattern as one pattern; an "INBOX" prefix in any case is
 * written "INBOX" (malloc'd). NULL when not a string. */
static char *
imap_list_pattern(const struct imap_arg *ref, const struct imap_arg *pat)
{
	const char *r, *p;
	size_t rl, pl;
	char *all;

	if (!imap_arg_astring(ref, &r, &rl) || !imap_arg_astring(pat, &p, &pl))
		return NULL;
	if (memchr(r, '\0', rl) != NULL || memchr(p, '\0', pl) != NULL ||
	    rl + pl > 4 * MSTORE_NAME_MAX)
		return NULL;
	all = xmalloc(rl + pl + 1);
	memcpy(all, r, rl);
	memcpy(all + rl, p, pl);
	all[rl + pl] = '\0';
	if (strncasecmp(all, "INBOX", 5) == 0 &&
	    (all[5] == '\0' || all[5] == '.'))
		memcpy(all, "INBOX", 5);
	return all;
}

static void
imap_list(struct imap_session *s, const struct imap_arg *args,
    size_t nargs, int lsub)
{
	struct imap_list_ctx lc;
	const char *p;
	size_t pl;
	char *pattern;
	int r;

	if (nargs != 2) {
		imap_reply(s, IMAP_BAD, "Syntax: %s reference pattern",
		    s->cmd->name);
		return;
	}
	if ((pattern = imap_list_pattern(&args[0], &args[1])) == NULL) {
		imap_reply(s, IMAP_BAD, "Invalid reference or pattern");
		return;
	}
	if (imap_arg_astring(&args[1], &p, &pl) && pl == 0) {
		/* The delimiter and the root of the reference. */
		if (!lsub)
			imap_untagged(s, "LIST (\\Noselect) \".\" \"\"");
		free(pattern);
		return;
	}
	memset(&lc, 0, sizeof(lc));
	lc.s = s;
	lc.pattern = pattern;
	lc.lsub = lsub;
	if (lsub)
		r = mstore_subscription_foreach(s->store, imap_lsub_cb, &lc);
	else
		r = mstore_folder_foreach(s->store, imap_list_cb, &lc);
	if (r == -1) {
		log_error("%s imap %s failed user=%s", s->sid, s->cmd->name,
		    s->user);
		imap_reply(s, IMAP_NO, "[SERVERBUG] %s failed", s->cmd->name);
	} else
		imap_list_parents(&lc);
	while (lc.nnames > 0)
		free(lc.names[--lc.nnames]);
	free(lc.names);
	free(pattern);
}

void
imap_cmd_list(struct imap_session *s, const struct imap_arg *args,
    size_t nargs)
{
	imap_list(s, args, nargs, 0);
}

void
imap_cmd_lsub(struct imap_session *s, const struct imap_arg *args,
    size_t nargs)
{
	imap_list(s, args, nargs, 1);
}

/* ------------------------------------------------------------ STATUS */

void
imap_cmd_status(struct imap_session *s, const struct imap_arg *args,
    size_t nargs)
{
	struct mbox_status st;
	struct buf out = BUF_INIT(0), q = BUF_INIT(0);
	const char *errstr = NULL;
	const struct imap_arg *it;
	char *name;
	size_t i;
	int r;

	if (nargs != 2 || args[1].type != IMAP_ARG_LIST ||
	    args[1].nlist == 0) {
		imap_reply(s, IMAP_BAD, "Syntax: STATUS mailbox (items)");
		return;
	}
	for (i = 0; i < args[1].nlist; i++) {
		it = &args[1].list[i];
		if (!imap_arg_is(it, "MESSAGES") && !imap_arg_is(it, "RECENT") &&
		    !imap_arg_is(it, "UIDNEXT") &&
		    !imap_arg_is(it, "UIDVALIDITY") &&
		    !imap_arg_is(it, "UNSEEN")) {
			imap_reply(s, IMAP_BAD, "Unknown STATUS item");
			return;
		}
	}
	if (!imap_mailbox_arg(s, &args[0], &name))
		return;
	r = mstore_folder_status(s->store, name, &st, &errstr);
	if (r != 1) {
		imap_store_no(s, r, errstr);
		free(name);
		return;
	}
	for (i = 0; i < args[1].nlist; i++) {
		it = &args[1].list[i];
		if (i > 0)
			(void)buf_appendc(&out, ' ');
		if (imap_arg_is(it, "MESSAGES"))
			(void)buf_appendf(&out, "MESSAGES %u", st.messages);
		else if (imap_arg_is(it, "RECENT"))
			(void)buf_appendf(&out, "RECENT %u", st.recent);
		else if (imap_arg_is(it, "UIDNEXT"))
			(void)buf_appendf(&out, "UIDNEXT %u", st.uidnext);
		else if (imap_arg_is(it, "UIDVALIDITY"))
			(void)buf_appendf(&out, "UIDVALIDITY %u",
			    st.uidvalidity);
		else
			(void)buf_appendf(&out, "UNSEEN %u", st.unseen);
	}
	(void)imap_quote(&q, name, strlen(name));
	imap_untagged(s, "STATUS %s (%s)", buf_cstr(&q), buf_cstr(&out));
	buf_free(&out);
	buf_free(&q);
	free(name);
}

/* ------------------------------------------------------------ APPEND */

/* date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP time
 * SP zone DQUOTE, e.g. " 7-Jul-2026 10:00:00 +0200". 1 or 0. */
static int
imap_parse_datetime(const char *p, size_t len, time_t *t_r)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	struct tm tm, check;
	time_t t;
	const char *m;
	char buf[32];
	int day, year, hh, mm, ss, zone, n = 0;
	char mon[4], sign;
	long off;

	if (len >= sizeof(buf))
		return 0;
	memcpy(buf, p, len);
	buf[len] = '\0';
	if (buf[0] == ' ')
		buf[0] = '0';
	if (sscanf(buf, "%2d-%3s-%4d %2d:%2d:%2d %c%4d%n", &day, mon, &year,
	    &hh, &mm, &ss, &sign, &zone, &n) != 8 || (size_t)n != len ||
	    len != 26)
		return 0;
	/* ABNF literals ignore case: "jan" is "Jan". */
	mon[0] = (char)(mon[0] >= 'a' && mon[0] <= 'z' ? mon[0] - 32 : mon[0]);
	mon[1] = (char)(mon[1] >= 'A' && mon[1] <= 'Z' ? mon[1] + 32 : mon[1]);
	mon[2] = (char)(mon[2] >= 'A' && mon[2] <= 'Z' ? mon[2] + 32 : mon[2]);
	if (strlen(mon) != 3 || (m = strstr(months, mon)) == NULL ||
	    (m - months) % 3 != 0 ||
	    day < 1 || day > 31 || year < 1970 || year > 9999 || hh > 23 ||
	    mm > 59 || ss > 60 || (sign != '+' && sign != '-') || zone < 0 ||
	    zone % 100 > 59 || hh < 0 || mm < 0 || ss < 0)
		return 0;
	memset(&tm, 0, sizeof(tm));
	tm.tm_mday = day;
	tm.tm_mon = (int)((m - months) / 3);
	tm.tm_year = year - 1900;
	tm.tm_hour = hh;
	tm.tm_min = mm;
	tm.tm_sec = ss;
	off = (zone / 100) * 3600L + (zone % 100) * 60L;
	t = timegm(&tm);
	/* timegm() normalizes: 31-Feb would become 3-Mar. */
	if (gmtime_r(&t, &check) == NULL || check.tm_mday != day ||
	    check.tm_mon != tm.tm_mon)
		return 0;
	*t_r = t - (sign == '+' ? off : -off);
	return 1;
}

void
imap_cmd_append(struct imap_session *s, const struct imap_arg *args,
    size_t nargs)
{
	struct buf kw = BUF_INIT(8192);
	const struct imap_arg *msg;
	const char *errstr = NULL;
	uint32_t flags = 0, uidvalidity = 0, uid = 0;
	time_t date = 0;
	size_t i = 1;
	char *name;
	int r;

	if (nargs < 2 || nargs > 4) {
		imap_reply(s, IMAP_BAD, "Syntax: APPEND mailbox [(flags)] "
		    "[date-time] message");
		return;
	}
	if (args[i].type == IMAP_ARG_LIST) {
		if (imap_flags_parse(args[i].list, args[i].nlist, &flags,
		    &kw, &errstr) == -1) {
			imap_reply(s, IMAP_BAD, "Invalid flags: %s", errstr);
			goto out0;
		}
		i++;
	}
	if (i < nargs - 1) {
		if (args[i].type != IMAP_ARG_STRING || args[i].literal ||
		    !imap_parse_datetime(args[i].str, args[i].len, &date)) {
			imap_reply(s, IMAP_BAD, "Invalid date-time");
			goto out0;
		}
		i++;
	}
	if (i != nargs - 1 || args[i].type != IMAP_ARG_STRING) {
		imap_reply(s, IMAP_BAD, "Syntax: APPEND mailbox [(flags)] "
		    "[date-time] message");
		goto out0;
	}
	msg = &args[i];
	if (msg->len == 0) {
		imap_reply(s, IMAP_NO, "Empty message");
		goto out0;
	}
	if (msg->len > s->env->append_max) {
		imap_reply(s, IMAP_NO, "[TOOBIG] Message too large");
		goto out0;
	}
	if (memchr(msg->str, '\0', msg->len) != NULL) {
		imap_reply(s, IMAP_NO, "Message contains NUL octets");
		goto out0;
	}
	if (!imap_mailbox_arg(s, &args[0], &name))
		goto out0;
	r = mstore_add(s->store, name, msg->str, msg->len, flags,
	    kw.len ? kw.data : NULL, date, &uidvalidity, &uid, &errstr);
	if (r == 0)
		imap_reply(s, IMAP_NO, "[TRYCREATE] No such mailbox");
	else if (r == -1 && errstr != NULL &&
	    strcmp(errstr, MSTORE_ERR_QUOTA) == 0) {
		/* RFC 9208 4.3.1; nothing is left behind (mstore_add). */
		log_info("%s imap append refused user=%s size=%zu quota=%llu "
		    "rule=quota", s->sid, s->user, msg->len,
		    (unsigned long long)s->quota);
		imap_reply(s, IMAP_NO, "[OVERQUOTA] APPEND would exceed the "
		    "mailbox quota");
	} else if (r == -1 && errstr != NULL &&
	    strcmp(errstr, MBOX_ERR_KEYWORDS) == 0)
		imap_reply(s, IMAP_NO, "[LIMIT] at most %d octets of keywords "
		    "on a message", MBOX_KEYWORDS_MAX);
	else if (r == -1) {
		log_error("%s imap append failed user=%s error=\"%s\"",
		    s->sid, s->user, errstr ? errstr : "?");
		imap_reply(s, IMAP_NO, "[SERVERBUG] APPEND failed");
	} else {
		s->nappend++;
		imap_reply(s, IMAP_OK, "[APPENDUID %u %u] APPEND completed",
		    uidvalidity, uid);
	}
	free(name);
out0:
	buf_free(&kw);
}
