/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * Recipient verification for relay domains: see verify.h. The probe is a
 * minimal SMTP client that never sends DATA; every reply is read with the
 * line limit and deadline of the connection layer.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "lib/buf.h"
#include "lib/conn.h"
#include "lib/log.h"
#include "lib/netaddr.h"
#include "lib/xalloc.h"
#include "relay/verify.h"

#define VERIFY_LINE_MAX	1000

struct verify {
	sqlite3		*db;
	sqlite3_stmt	*get, *put;
	long long	 pos_ttl, neg_ttl;	/* ms */
};

static const char verify_schema[] =
    "CREATE TABLE IF NOT EXISTS verify(rcpt TEXT PRIMARY KEY COLLATE NOCASE,"
    " primary_mx TEXT NOT NULL, result INTEGER NOT NULL,"
    " reply TEXT, expires INTEGER NOT NULL) WITHOUT ROWID;";

int
verify_open(const char *dbpath, long long positive_ttl_ms,
    long long negative_ttl_ms, struct verify **vp, const char **errstr_r)
{
	struct verify *v = xcalloc(1, sizeof(*v));

	v->pos_ttl = positive_ttl_ms;
	v->neg_ttl = negative_ttl_ms;
	if (sqlite3_open_v2(dbpath, &v->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK)
		goto fail;
	(void)sqlite3_busy_timeout(v->db, 2000);
	/*
	 * Workers starting together race to switch the new file to WAL, and
	 * the losers get SQLITE_BUSY at once (the busy handler does not cover
	 * a journal mode change). The winner's switch is all we need (the
	 * mode is kept in the file), and any journal mode works anyway.
	 */
	(void)sqlite3_exec(v->db, "PRAGMA journal_mode=WAL;", NULL, NULL,
	    NULL);
	if (sqlite3_exec(v->db, "PRAGMA synchronous=NORMAL;", NULL, NULL,
	    NULL) != SQLITE_OK ||
	    sqlite3_exec(v->db, verify_schema, NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(v->db, "SELECT result, reply FROM verify WHERE"
	    " rcpt = ? AND primary_mx = ? AND expires > ?", -1, &v->get,
	    NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(v->db, "INSERT OR REPLACE INTO verify VALUES"
	    "(?, ?, ?, ?, ?)", -1, &v->put, NULL) != SQLITE_OK)
		goto fail;
	*vp = v;
	return 1;
fail:
	*errstr_r = v->db ? "cannot open the verification cache" :
	    "out of memory";
	verify_close(&v);
	return -1;
}

void
verify_close(struct verify **vp)
{
	struct verify *v = *vp;

	if (v == NULL)
		return;
	sqlite3_finalize(v->get);
	sqlite3_finalize(v->put);
	(void)sqlite3_close(v->db);	/* statements finalized */
	free(v);
	*vp = NULL;
}

static long long
verify_wallclock_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_REALTIME, &ts);	/* cannot fail */
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------ probe */

static int
verify_connect(const char *primary, long long timeout_ms)
{
	struct sockaddr_storage ss;
	struct pollfd pfd;
	socklen_t len;
	int fd, r, err = 0;
	socklen_t elen = sizeof(err);

	if (netaddr_parse_listen(primary, &ss, &len) == -1)
		return -1;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd == -1)
		return -1;
	if (connect(fd, (struct sockaddr *)&ss, len) == 0)
		return fd;
	if (errno != EINPROGRESS)
		goto fail;
	pfd.fd = fd;
	pfd.events = POLLOUT;
	if ((r = poll(&pfd, 1, (int)timeout_ms)) != 1) {
		if (r == 0)
			errno = ETIMEDOUT;
		goto fail;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) == -1)
		goto fail;
	if (err != 0) {
		errno = err;	/* the connect() result, for the reply text */
		goto fail;
	}
	return fd;
fail:
	err = errno;
	(void)close(fd);	/* failed connection */
	errno = err;
	return -1;
}

/* Reads one (multi-line) reply; returns the code, or -1. The last line
 * goes into text (CRLF stripped). */
static int
verify_reply(struct conn *c, struct buf *text)
{
	const char *line;
	size_t len;
	int code;

	for (;;) {
		if (conn_getline(c, VERIFY_LINE_MAX, &line, &len) != 1)
			return -1;
		while (len > 0 && (line[len - 1] == '\n' ||
		    line[len - 1] == '\r'))
			len--;
		if (len < 3 || line[0] < '2' || line[0] > '5' ||
		    line[1] < '0' || line[1] > '9' || line[2] < '0' ||
		    line[2] > '9')
			return -1;
		code = (line[0] - '0') * 100 + (line[1] - '0') * 10 +
		    (line[2] - '0');
		if (len == 3 || line[3] == ' ') {
			buf_reset(text);
			(void)buf_append(text, line, len);	/* unbounded */
			return code;
		}
		if (line[3] != '-')
			return -1;
	}
}

/* Replaces text with why the dialogue broke off (no usable reply). */
static void
verify_broken(const struct conn *c, const char *primary, struct buf *text)
{
	buf_reset(text);
	(void)buf_appendf(text, "probe of %s failed: %s", primary,
	    c->err == CONN_ETIMEOUT ? "timeout" : c->err == CONN_OK ?
	    "malformed reply" : "connection lost");
}

/* Sends "verb arg CRLF" and reads the reply. */
static int
verify_cmd(struct conn *c, struct buf *text, const char *verb,
    const char *arg)
{
	(void)conn_write(c, verb, strlen(verb));	/* unbounded buffer */
	(void)conn_write(c, arg, strlen(arg));
	(void)conn_write(c, "\r\n", 2);
	if (conn_flush(c) == -1)
		return -1;
	return verify_reply(c, text);
}

static enum verify_result
verify_smtp(const char *primary, const char *helo, const char *rcpt,
    long long timeout_ms, struct buf *text)
{
	struct conn c;
	enum verify_result r = VERIFY_UNKNOWN;
	long long start = conn_now_ms();
	int fd, code;

	if ((fd = verify_connect(primary, timeout_ms)) == -1) {
		(void)buf_appendf(text, "cannot connect to %s: %s", primary,
		    strerror(errno));
		return VERIFY_UNKNOWN;
	}
	conn_init(&c, fd);
	/* One deadline for the whole probe, the connection included. */
	timeout_ms -= conn_now_ms() - start;
	conn_set_deadline(&c, timeout_ms > 0 ? timeout_ms : 1);
	if ((code = verify_reply(&c, text)) != 220 ||
	    (code = verify_cmd(&c, text, "EHLO ", helo)) != 250 ||
	    (code = verify_cmd(&c, text, "MAIL FROM:<>", "")) != 250) {
		if (code == -1)
			verify_broken(&c, primary, text);
		goto out;
	}
	{
		struct buf path = BUF_INIT(0);

		(void)buf_appendf(&path, "<%s>", rcpt);	/* unbounded */
		code = verify_cmd(&c, text, "RCPT TO:", path.data);
		buf_free(&path);
	}
	if (code == -1) {
		verify_broken(&c, primary, text);	/* not MAIL's reply */
		goto out;
	}
	if (code >= 200 && code < 300)
		r = VERIFY_VALID;
	else if (code >= 500)
		r = VERIFY_INVALID;
	{
		struct buf quit = BUF_INIT(0);

		/* The RCPT reply is what we keep; QUIT's only ends politely. */
		(void)verify_cmd(&c, &quit, "QUIT", "");
		buf_free(&quit);
	}
out:
	conn_close(&c);
	return r;
}

enum verify_result
verify_probe(struct verify *v, const char *primary, const char *helo,
    const char *rcpt, long long timeout_ms, char **reply_r, int *cached_r)
{
	struct buf text = BUF_INIT(0);
	enum verify_result r;
	long long now = verify_wallclock_ms();

	*cached_r = 0;
	*reply_r = NULL;
	if (v == NULL) {
		/* No cache (it could not be opened): probe every time. */
		r = verify_smtp(primary, helo, rcpt, timeout_ms, &text);
		*reply_r = buf_steal(&text);
		return r;
	}
	(void)sqlite3_bind_text(v->get, 1, rcpt, -1, SQLITE_STATIC);
	(void)sqlite3_bind_text(v->get, 2, primary, -1, SQLITE_STATIC);
	(void)sqlite3_bind_int64(v->get, 3, now);
	if (sqlite3_step(v->get) == SQLITE_ROW) {
		r = sqlite3_column_int(v->get, 0) ? VERIFY_VALID :
		    VERIFY_INVALID;
		if (sqlite3_column_text(v->get, 1) != NULL)
			*reply_r = xstrdup((const char *)
			    sqlite3_column_text(v->get, 1));
		(void)sqlite3_reset(v->get);
		*cached_r = 1;
		return r;
	}
	(void)sqlite3_reset(v->get);
	r = verify_smtp(primary, helo, rcpt, timeout_ms, &text);
	if (r != VERIFY_UNKNOWN) {
		(void)sqlite3_bind_text(v->put, 1, rcpt, -1, SQLITE_STATIC);
		(void)sqlite3_bind_text(v->put, 2, primary, -1, SQLITE_STATIC);
		(void)sqlite3_bind_int(v->put, 3, r == VERIFY_VALID);
		(void)sqlite3_bind_text(v->put, 4, buf_cstr(&text), -1,
		    SQLITE_STATIC);
		(void)sqlite3_bind_int64(v->put, 5, now + (r == VERIFY_VALID ?
		    v->pos_ttl : v->neg_ttl));
		if (sqlite3_step(v->put) != SQLITE_DONE)
			log_warn("verify cache write failed: %s",
			    sqlite3_errmsg(v->db));
		(void)sqlite3_reset(v->put);
	}
	*reply_r = buf_steal(&text);
	return r;
}

/* ------------------------------------------------------------ table */

static struct {
	char		*path;
	struct timespec	 mtime;
	off_t		 size;
	char		**v;
	size_t		 n;
} verify_tab;

static int
verify_cmp(const void *a, const void *b)
{
	return strcasecmp(*(char *const *)a, *(char *const *)b);
}

static void
verify_table_free(void)
{
	size_t i;

	for (i = 0; i < verify_tab.n; i++)
		free(verify_tab.v[i]);
	free(verify_tab.v);
	free(verify_tab.path);
	memset(&verify_tab, 0, sizeof(verify_tab));
}

static int
verify_table_load(const char *path, const struct stat *st)
{
	FILE *f;
	char *line = NULL, *p, *e;
	size_t cap = 0;

	if ((f = fopen(path, "re")) == NULL)
		return -1;
	verify_table_free();
	while (getline(&line, &cap, f) != -1) {
		for (p = line; *p == ' ' || *p == '\t'; p++)
			;
		for (e = p; *e && *e != '\n' && *e != '\r' && *e != ' ' &&
		    *e != '\t' && *e != '#'; e++)
			;
		if (e == p || *p == '#')
			continue;
		verify_tab.v = xrealloc(verify_tab.v, (verify_tab.n + 1) *
		    sizeof(*verify_tab.v));
		verify_tab.v[verify_tab.n++] = xstrndup(p, (size_t)(e - p));
	}
	free(line);
	(void)fclose(f);	/* read-only */
	if (verify_tab.n > 0)
		qsort(verify_tab.v, verify_tab.n, sizeof(*verify_tab.v),
		    verify_cmp);
	verify_tab.path = xstrdup(path);
	verify_tab.mtime = st->st_mtim;
	verify_tab.size = st->st_size;
	return 1;
}

static int
verify_table_has(const char *key)
{
	return verify_tab.n > 0 && bsearch(&key, verify_tab.v, verify_tab.n,
	    sizeof(*verify_tab.v), verify_cmp) != NULL;
}

int
verify_table(const char *path, const char *rcpt, const char **errstr_r)
{
	struct stat st;
	const char *at;

	if (stat(path, &st) == -1) {
		*errstr_r = "cannot read the relay recipients table";
		return -1;
	}
	if (verify_tab.path == NULL || strcmp(verify_tab.path, path) != 0 ||
	    st.st_mtim.tv_sec != verify_tab.mtime.tv_sec ||
	    st.st_mtim.tv_nsec != verify_tab.mtime.tv_nsec ||
	    st.st_size != verify_tab.size) {
		if (verify_table_load(path, &st) == -1) {
			*errstr_r = "cannot read the relay recipients table";
			return -1;
		}
	}
	if (verify_table_has(rcpt))
		return 1;
	at = strrchr(rcpt, '@');
	return at != NULL && verify_table_has(at) ? 1 : 0;
}
