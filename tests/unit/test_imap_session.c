/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * Tests of the IMAP session (imap.c, imap_auth.c, imap_mbox.c) over a
 * socketpair: a child process runs imap_run() on one end against a real
 * store (mstore, temporary directory) and a real users database; the test
 * is the client on the other end. Covers the login rules without TLS,
 * AUTHENTICATE PLAIN with and without SASL-IR, mailbox management, LIST
 * patterns and attributes, STATUS, APPEND (flags, date, literals, the
 * size limit before the literal is sent), IDLE woken by a delivery, the
 * selected mailbox renamed or deleted by another session (BYE),
 * untagged updates, traversal attempts and a malformed-command battery.
 * TLS paths are covered end to end (tests/e2e/80-84).
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/buf.h"
#include "lib/conn.h"
#include "lib/log.h"
#include "lib/ratelimit.h"
#include "lib/users.h"
#include "store/imap.h"
#include "store/imap_priv.h"
#include "store/mstore.h"

#define USER	"alice@example.test"
#define PASS	"s3cret pw"

struct fx {
	char		 dir[64];
	char		 root[96];
	char		 db[96];
	int		 fd;		/* client end */
	pid_t		 pid;
	struct buf	 in;		/* unread server output */
	struct buf	 last;		/* the last response, all lines */
	struct ratelimit *rl;		/* shared by the sessions, or NULL */
};

static void
rm_rf(const char *path)
{
	char cmd[200];

	(void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	assert_int_equal(system(cmd), 0);
}

/* Starts a session child; cleartext: allow LOGIN without TLS. */
static void
start(struct fx *f, int cleartext, size_t append_max)
{
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	f->pid = fork();
	assert_true(f->pid >= 0);
	if (f->pid == 0) {
		struct imap_env env;
		struct users *u = NULL;
		const char *err;
		struct conn c;

		close(sv[0]);
		log_init("test_imap_session", LOG_TARGET_STDERR,
		    getenv("IMAP_TEST_DEBUG") ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARN);
		imap_env_default(&env);
		if (users_open(f->db, 0, &u, &err) != 1)
			_exit(3);
		env.users = u;
		env.users_release = &u;	/* closed at login: u becomes NULL */
		env.store_root = f->root;
		env.cleartext_auth = cleartext;
		env.login_timeout_ms = 20000;
		env.idle_timeout_ms = 20000;
		env.rl = f->rl;
		env.fail_ip_limit = 2;
		if (append_max) {
			env.append_max = append_max;
			env.limits.literal_max = append_max;
			env.limits.total_max = append_max;
		}
		conn_init(&c, sv[1]);
		imap_run(&c, &env, "test", 0);
		conn_close(&c);
		users_close(&u);
		/* exit, not _exit: LeakSanitizer checks the session too. */
		exit(0);
	}
	close(sv[1]);
	f->fd = sv[0];
	buf_reset(&f->in);
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct users *u = NULL;
	const char *err;

	assert_non_null(f);
	(void)snprintf(f->dir, sizeof(f->dir), "/tmp/test_imap.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	(void)snprintf(f->root, sizeof(f->root), "%s/store", f->dir);
	(void)snprintf(f->db, sizeof(f->db), "%s/users.db", f->dir);
	assert_int_equal(mkdir(f->root, 0700), 0);
	assert_int_equal(users_open(f->db, 1, &u, &err), 1);
	assert_int_equal(users_add(u, USER, PASS, strlen(PASS), &err), 1);
	assert_int_equal(users_add(u, "bob@example.test", "bobpw", 5, &err),
	    1);
	users_close(&u);
	buf_init(&f->in, 0);
	buf_init(&f->last, 0);
	f->fd = -1;
	*state = f;
	return 0;
}

static void
stop(struct fx *f)
{
	int st;

	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
	if (f->pid > 0) {
		assert_int_equal(waitpid(f->pid, &st, 0), f->pid);
		assert_true(WIFEXITED(st));
		assert_int_equal(WEXITSTATUS(st), 0);
	}
	f->pid = 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	stop(f);
	rm_rf(f->dir);
	buf_free(&f->in);
	buf_free(&f->last);
	free(f);
	return 0;
}

static void
sendraw(struct fx *f, const char *p, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(f->fd, p, len);
		assert_true(n > 0);
		p += n;
		len -= (size_t)n;
	}
}

static void
sendf(struct fx *f, const char *fmt, ...)
{
	struct buf b = BUF_INIT(0);
	va_list ap;

	va_start(ap, fmt);
	assert_int_equal(buf_vappendf(&b, fmt, ap), 1);
	va_end(ap);
	sendraw(f, b.data, b.len);
	buf_free(&b);
}

/* One line from the server (CRLF stripped) into line; 0 on EOF. Fails
 * after 10 s without one. */
static int
getline_(struct fx *f, struct buf *line)
{
	char tmp[65536], *nl;
	struct pollfd pfd;
	ssize_t n;

	for (;;) {
		if (f->in.len > 0 &&
		    (nl = memchr(f->in.data, '\n', f->in.len)) != NULL) {
			size_t len = (size_t)(nl - f->in.data);

			buf_reset(line);
			buf_append(line, f->in.data,
			    len > 0 && nl[-1] == '\r' ? len - 1 : len);
			buf_consume(&f->in, len + 1);
			return 1;
		}
		pfd.fd = f->fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 10000) != 1)
			fail_msg("no reply within 10 s; have \"%s\" last \"%s\"",
			    buf_cstr(&f->in), buf_cstr(&f->last));
		n = read(f->fd, tmp, sizeof(tmp));
		if (n <= 0)
			return 0;
		buf_append(&f->in, tmp, (size_t)n);
	}
}

/* Reads up to the tagged reply of tag; returns it; f->last has every
 * line of the response ("\n"-separated). */
static const char *
until(struct fx *f, const char *tag)
{
	struct buf line = BUF_INIT(0);
	size_t tl = strlen(tag);
	static char tagged[4096];

	buf_reset(&f->last);
	for (;;) {
		if (!getline_(f, &line))
			fail_msg("EOF waiting for %s; got:\n%s", tag,
			    buf_cstr(&f->last));
		buf_appendf(&f->last, "%s\n", buf_cstr(&line));
		if (line.len > tl && strncmp(line.data, tag, tl) == 0 &&
		    line.data[tl] == ' ')
			break;
	}
	(void)snprintf(tagged, sizeof(tagged), "%s", line.data + tl + 1);
	buf_free(&line);
	return tagged;
}

static const char *
cmd(struct fx *f, const char *tag, const char *line)
{
	sendf(f, "%s %s\r\n", tag, line);
	return until(f, tag);
}

#define ASSERT_PREFIX(s, p) do {					\
	const char *s_ = (s);						\
	if (strncmp(s_, (p), strlen(p)) != 0)				\
		fail_msg("\"%s\" does not start with \"%s\"", s_, (p));	\
} while (0)
#define ASSERT_HAS(f, p) do {						\
	if (strstr(buf_cstr(&(f)->last), (p)) == NULL)			\
		fail_msg("response lacks \"%s\":\n%s", (p),		\
		    buf_cstr(&(f)->last));				\
} while (0)
#define ASSERT_LACKS(f, p) do {						\
	if (strstr(buf_cstr(&(f)->last), (p)) != NULL)			\
		fail_msg("response has \"%s\":\n%s", (p),		\
		    buf_cstr(&(f)->last));				\
} while (0)

static void
greeting(struct fx *f, struct buf *line)
{
	assert_int_equal(getline_(f, line), 1);
	ASSERT_PREFIX(buf_cstr(line), "* OK [CAPABILITY IMAP4rev1 ");
}

static void
login(struct fx *f)
{
	struct buf line = BUF_INIT(0);

	greeting(f, &line);
	buf_free(&line);
	ASSERT_PREFIX(cmd(f, "l", "LOGIN " USER " \"" PASS "\""),
	    "OK [CAPABILITY IMAP4rev1");
}

static void
test_login_rules(void **state)
{
	struct fx *f = *state;
	struct buf line = BUF_INIT(0);
	const char *r;

	/* No TLS and no cleartext allowance: LOGINDISABLED, no AUTH=. */
	start(f, 0, 0);
	greeting(f, &line);
	assert_non_null(strstr(buf_cstr(&line), "LOGINDISABLED"));
	assert_null(strstr(buf_cstr(&line), "AUTH=PLAIN"));
	assert_null(strstr(buf_cstr(&line), "STARTTLS"));	/* no certs */
	ASSERT_PREFIX(cmd(f, "a", "LOGIN " USER " \"" PASS "\""),
	    "NO [PRIVACYREQUIRED]");
	ASSERT_PREFIX(cmd(f, "b", "AUTHENTICATE PLAIN"),
	    "NO [PRIVACYREQUIRED]");
	ASSERT_PREFIX(cmd(f, "c", "SELECT INBOX"), "BAD");
	ASSERT_PREFIX(cmd(f, "d", "STARTTLS"), "NO");
	/* Where logins are disabled, a password literal is refused
	 * before it is sent. */
	sendf(f, "t LOGIN {5}\r\n");
	ASSERT_PREFIX(until(f, "t"), "NO [PRIVACYREQUIRED]");
	ASSERT_LACKS(f, "+ Ready");
	ASSERT_PREFIX(cmd(f, "e", "LOGOUT"), "OK");
	ASSERT_HAS(f, "* BYE");
	stop(f);

	/* Cleartext allowed. */
	start(f, 1, 0);
	greeting(f, &line);
	assert_null(strstr(buf_cstr(&line), "LOGINDISABLED"));
	assert_non_null(strstr(buf_cstr(&line), "AUTH=PLAIN"));
	/* Before login a literal may not be big. */
	sendf(f, "t LOGIN {9000}\r\n");
	ASSERT_PREFIX(until(f, "t"), "NO [TOOBIG]");
	r = cmd(f, "a", "LOGIN " USER " wrong");
	ASSERT_PREFIX(r, "NO [AUTHENTICATIONFAILED]");
	r = cmd(f, "b", "LOGIN nobody@example.test \"" PASS "\"");
	ASSERT_PREFIX(r, "NO [AUTHENTICATIONFAILED]");
	r = cmd(f, "c", "LOGIN ALICE@EXAMPLE.TEST \"" PASS "\"");
	ASSERT_PREFIX(r, "OK [CAPABILITY");
	r = cmd(f, "d", "LOGIN " USER " \"" PASS "\"");
	ASSERT_PREFIX(r, "BAD");	/* already authenticated */
	r = cmd(f, "e", "CAPABILITY");
	ASSERT_LACKS(f, "AUTH=");
	ASSERT_HAS(f, "IDLE");
	ASSERT_PREFIX(cmd(f, "f", "LOGOUT"), "OK");
	stop(f);

	/* Three failures end the session. */
	start(f, 1, 0);
	greeting(f, &line);
	ASSERT_PREFIX(cmd(f, "a", "LOGIN " USER " x"), "NO");
	ASSERT_PREFIX(cmd(f, "b", "LOGIN " USER " y"), "NO");
	ASSERT_PREFIX(cmd(f, "c", "LOGIN " USER " z"), "NO");
	assert_int_equal(getline_(f, &line), 1);
	ASSERT_PREFIX(buf_cstr(&line), "* BYE");
	assert_int_equal(getline_(f, &line), 0);
	stop(f);
	buf_free(&line);
}

static void
test_authenticate(void **state)
{
	struct fx *f = *state;
	struct buf line = BUF_INIT(0);

	/* "\0alice@example.test\0s3cret pw" */
	static const char ir[] = "AGFsaWNlQGV4YW1wbGUudGVzdABzM2NyZXQgcHc=";
	/* "bob@example.test\0alice@example.test\0s3cret pw": authzid */
	static const char other[] =
	    "Ym9iQGV4YW1wbGUudGVzdABhbGljZUBleGFtcGxlLnRlc3QAczNjcmV0IHB3";

	start(f, 1, 0);
	greeting(f, &line);
	ASSERT_PREFIX(cmd(f, "a", "AUTHENTICATE CRAM-MD5"), "NO");
	sendf(f, "b AUTHENTICATE PLAIN\r\n");
	assert_int_equal(getline_(f, &line), 1);
	assert_string_equal(buf_cstr(&line), "+ ");
	sendf(f, "*\r\n");
	ASSERT_PREFIX(until(f, "b"), "BAD");
	sendf(f, "c AUTHENTICATE PLAIN\r\n");
	assert_int_equal(getline_(f, &line), 1);
	sendf(f, "!!notbase64\r\n");
	ASSERT_PREFIX(until(f, "c"), "BAD");
	ASSERT_PREFIX(cmd(f, "d", "AUTHENTICATE PLAIN ="), "NO");
	buf_reset(&line);
	buf_appendf(&line, "AUTHENTICATE PLAIN %s", other);
	ASSERT_PREFIX(cmd(f, "e", buf_cstr(&line)),
	    "NO [AUTHORIZATIONFAILED]");
	sendf(f, "f AUTHENTICATE PLAIN\r\n");
	assert_int_equal(getline_(f, &line), 1);
	sendf(f, "%s\r\n", ir);
	ASSERT_PREFIX(until(f, "f"), "OK [CAPABILITY");
	ASSERT_PREFIX(cmd(f, "g", "LOGOUT"), "OK");
	stop(f);

	start(f, 1, 0);
	greeting(f, &line);
	buf_reset(&line);
	buf_appendf(&line, "AUTHENTICATE PLAIN %s", ir);
	ASSERT_PREFIX(cmd(f, "a", buf_cstr(&line)), "OK");
	ASSERT_PREFIX(cmd(f, "b", "LOGOUT"), "OK");
	stop(f);
	buf_free(&line);
}

/*
 * A line too long for AUTHENTICATE's response or for IDLE is refused, and
 * nothing of it is then read as commands: it arrives in pieces, so the
 * refusal comes before its end.
 */
static void
test_long_line(void **state)
{
	struct fx *f = *state;
	struct buf line = BUF_INIT(0);
	char *big = malloc(100001);

	assert_non_null(big);
	memset(big, 'A', 100000);
	big[100000] = '\0';
	start(f, 1, 0);
	greeting(f, &line);
	sendf(f, "a AUTHENTICATE PLAIN\r\n");
	assert_int_equal(getline_(f, &line), 1);
	assert_string_equal(buf_cstr(&line), "+ ");
	sendf(f, "%s\r\n", big);
	ASSERT_PREFIX(until(f, "a"), "BAD");
	ASSERT_PREFIX(cmd(f, "b", "NOOP"), "OK");
	ASSERT_LACKS(f, "BAD");
	ASSERT_PREFIX(cmd(f, "c", "LOGIN " USER " \"" PASS "\""), "OK");
	ASSERT_PREFIX(cmd(f, "d", "SELECT INBOX"), "OK");
	sendf(f, "e IDLE\r\n");
	assert_int_equal(getline_(f, &line), 1);
	ASSERT_PREFIX(buf_cstr(&line), "+ ");
	sendf(f, "%s\r\n", big);
	ASSERT_PREFIX(until(f, "e"), "BAD");
	ASSERT_PREFIX(cmd(f, "f", "NOOP"), "OK");
	ASSERT_LACKS(f, "BAD");
	ASSERT_PREFIX(cmd(f, "g", "LOGOUT"), "OK");
	stop(f);
	free(big);
	buf_free(&line);
}

/*
 * AUTHENTICATE's SASL-IR initial response holds the password: it is wiped
 * from the parsed argument, whatever the outcome (run through
 * imap_dispatch on a session made here, so the argument can be looked at
 * afterwards).
 */
static void
test_sasl_ir_wiped(void **state)
{
	struct fx *f = *state;
	/* "\0alice@example.test\0s3cret pw", then a bad password */
	static const char *const irs[] = {
	    "AGFsaWNlQGV4YW1wbGUudGVzdABzM2NyZXQgcHc=",
	    "AGFsaWNlQGV4YW1wbGUudGVzdAB3cm9uZw==",
	    "!!not base64 but a secret",
	};
	struct imap_session sess, *s = &sess;
	struct imap_env env;
	struct imap_arg args[2];
	struct imap_cmd c;
	struct users *u = NULL;
	struct conn cn;
	const char *err;
	char ir[64];
	size_t i, k;
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(users_open(f->db, 0, &u, &err), 1);
	imap_env_default(&env);
	env.users = u;
	env.store_root = f->root;
	env.cleartext_auth = 1;
	env.auth_fail_limit = 100;
	for (i = 0; i < sizeof(irs) / sizeof(irs[0]); i++) {
		conn_init(&cn, dup(sv[1]));
		memset(s, 0, sizeof(*s));
		s->env = &env;
		s->conn = &cn;
		s->state = IMAP_ST_NOAUTH;
		buf_init(&s->reply, 4096);
		buf_init(&s->esc, 0);
		buf_init(&s->tmp, 0);
		(void)snprintf(ir, sizeof(ir), "%s", irs[i]);
		memset(args, 0, sizeof(args));
		args[0].type = IMAP_ARG_ATOM;
		args[0].str = "PLAIN";
		args[0].len = 5;
		args[1].type = IMAP_ARG_ATOM;
		args[1].str = ir;
		args[1].len = strlen(ir);
		memset(&c, 0, sizeof(c));
		c.tag = "a";
		c.name = "AUTHENTICATE";
		c.args = args;
		c.nargs = 2;
		imap_dispatch(s, &c);
		assert_int_equal(s->state, i == 0 ? IMAP_ST_AUTH :
		    IMAP_ST_NOAUTH);
		for (k = 0; k < strlen(irs[i]); k++)
			if (ir[k] != '\0')
				fail_msg("response %zu not wiped: \"%s\"", i,
				    ir);
		conn_close(&cn);
		mstore_close(&s->store);
		free(s->user);
		buf_free(&s->reply);
		buf_free(&s->esc);
		buf_free(&s->tmp);
	}
	users_close(&u);
	close(sv[0]);
	close(sv[1]);
}

/*
 * RENAME's log line escapes the new name too: a '"' in it (valid in a
 * mailbox name) must not end the quoted field and forge others.
 */
static void
test_rename_log(void **state)
{
	struct fx *f = *state;
	static const char to[] = "x\" user=mallory";
	struct imap_session sess, *s = &sess;
	struct imap_env env;
	struct imap_arg args[2];
	struct imap_cmd c;
	struct conn cn;
	const char *err;
	char logpath[128], text[4096];
	ssize_t n;
	int sv[2], fd, saved;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	imap_env_default(&env);
	env.store_root = f->root;
	conn_init(&cn, sv[1]);
	memset(s, 0, sizeof(*s));
	s->env = &env;
	s->conn = &cn;
	s->state = IMAP_ST_AUTH;
	s->user = strdup(USER);
	buf_init(&s->reply, 4096);
	buf_init(&s->esc, 0);
	buf_init(&s->tmp, 0);
	assert_int_equal(mstore_open(f->root, USER, 1, &s->store, &err), 1);
	assert_int_equal(mstore_folder_create(s->store, "a", &err), 1);

	memset(args, 0, sizeof(args));
	args[0].type = IMAP_ARG_ATOM;
	args[0].str = "a";
	args[0].len = 1;
	args[1].type = IMAP_ARG_STRING;
	args[1].str = to;
	args[1].len = strlen(to);
	memset(&c, 0, sizeof(c));
	c.tag = "a";
	c.name = "RENAME";
	c.args = args;
	c.nargs = 2;
	(void)snprintf(logpath, sizeof(logpath), "%s/log", f->dir);
	fd = open(logpath, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	fflush(stderr);
	saved = dup(2);
	assert_int_equal(dup2(fd, 2), 2);
	imap_dispatch(s, &c);
	fflush(stderr);
	assert_int_equal(dup2(saved, 2), 2);
	close(saved);
	assert_int_equal(s->status, IMAP_OK);
	n = pread(fd, text, sizeof(text) - 1, 0);
	close(fd);
	assert_true(n > 0);
	text[n] = '\0';
	if (strstr(text, "to=\"x\\\" user=mallory\"") == NULL)
		fail_msg("new name not escaped in the log: %s", text);

	conn_close(&cn);
	mstore_close(&s->store);
	free(s->user);
	buf_free(&s->reply);
	buf_free(&s->esc);
	buf_free(&s->tmp);
	close(sv[0]);
}

static void
test_mailboxes(void **state)
{
	struct fx *f = *state;

	start(f, 1, 0);
	login(f);
	ASSERT_PREFIX(cmd(f, "a1", "CREATE Work"), "OK");
	ASSERT_PREFIX(cmd(f, "a2", "CREATE Work.Projects."), "OK");
	ASSERT_PREFIX(cmd(f, "a3", "CREATE Sent"), "OK");
	ASSERT_PREFIX(cmd(f, "a4", "CREATE work"), "OK");
	ASSERT_PREFIX(cmd(f, "a5", "CREATE Work"), "NO [ALREADYEXISTS]");
	ASSERT_PREFIX(cmd(f, "a6", "CREATE inbox"), "NO");
	ASSERT_PREFIX(cmd(f, "a7", "CREATE \"Caf&AOk-\""), "OK");

	ASSERT_PREFIX(cmd(f, "l1", "LIST \"\" \"\""), "OK");
	ASSERT_HAS(f, "* LIST (\\Noselect) \".\" \"\"");
	ASSERT_PREFIX(cmd(f, "l2", "LIST \"\" *"), "OK");
	ASSERT_HAS(f, "* LIST (\\HasNoChildren) \".\" \"INBOX\"");
	ASSERT_HAS(f, "* LIST (\\HasChildren) \".\" \"Work\"");
	ASSERT_HAS(f, "* LIST (\\HasNoChildren) \".\" \"Work.Projects\"");
	ASSERT_HAS(f, "* LIST (\\HasNoChildren \\Sent) \".\" \"Sent\"");
	ASSERT_HAS(f, "\"Caf&AOk-\"");
	ASSERT_PREFIX(cmd(f, "l3", "LIST \"\" %"), "OK");
	ASSERT_LACKS(f, "Work.Projects");
	ASSERT_HAS(f, "\"Work\"");
	ASSERT_PREFIX(cmd(f, "l4", "LIST Work. %"), "OK");
	ASSERT_HAS(f, "\"Work.Projects\"");
	ASSERT_LACKS(f, "\"Work\"\n");
	ASSERT_PREFIX(cmd(f, "l5", "LIST \"\" inBOX"), "OK");
	ASSERT_HAS(f, "\"INBOX\"");
	ASSERT_PREFIX(cmd(f, "l6", "LIST \"\" W*s"), "OK");
	ASSERT_HAS(f, "\"Work.Projects\"");
	ASSERT_LACKS(f, "\"Sent\"");

	ASSERT_PREFIX(cmd(f, "s1", "SUBSCRIBE Work"), "OK");
	ASSERT_PREFIX(cmd(f, "s2", "SUBSCRIBE Nope"), "NO");
	ASSERT_PREFIX(cmd(f, "s3", "LSUB \"\" *"), "OK");
	ASSERT_HAS(f, "* LSUB () \".\" \"Work\"");
	ASSERT_PREFIX(cmd(f, "s4", "UNSUBSCRIBE Work"), "OK");
	ASSERT_PREFIX(cmd(f, "s5", "LSUB \"\" *"), "OK");
	ASSERT_LACKS(f, "LSUB ()");
	/* "%" lists an unsubscribed parent of a subscription \Noselect. */
	ASSERT_PREFIX(cmd(f, "s6", "SUBSCRIBE Work.Projects"), "OK");
	ASSERT_PREFIX(cmd(f, "s7", "LSUB \"\" %"), "OK");
	ASSERT_HAS(f, "* LSUB (\\Noselect) \".\" \"Work\"");
	ASSERT_LACKS(f, "Projects");
	ASSERT_PREFIX(cmd(f, "s8", "LSUB \"\" *"), "OK");
	ASSERT_HAS(f, "* LSUB () \".\" \"Work.Projects\"");
	ASSERT_LACKS(f, "\"Work\"\n");
	ASSERT_PREFIX(cmd(f, "s9", "UNSUBSCRIBE Work.Projects"), "OK");

	/* DELETE of a parent keeps it as \Noselect. */
	ASSERT_PREFIX(cmd(f, "d1", "DELETE Work"), "OK");
	ASSERT_PREFIX(cmd(f, "d2", "LIST \"\" Work"), "OK");
	ASSERT_HAS(f, "\\Noselect");
	ASSERT_PREFIX(cmd(f, "d3", "SELECT Work"), "NO");
	ASSERT_PREFIX(cmd(f, "d4", "DELETE INBOX"), "NO");
	ASSERT_PREFIX(cmd(f, "d5", "DELETE Nope"), "NO [NONEXISTENT]");

	/* RENAME, and INBOX's special rename. */
	ASSERT_PREFIX(cmd(f, "r1", "RENAME work Other"), "OK");
	ASSERT_PREFIX(cmd(f, "r2", "RENAME Nope X"), "NO [NONEXISTENT]");
	ASSERT_PREFIX(cmd(f, "r3", "RENAME Other Sent"), "NO [ALREADYEXISTS]");
	ASSERT_PREFIX(cmd(f, "r3b", "RENAME Other Other.Sub"), "NO [CANNOT]");
	sendf(f, "p1 APPEND INBOX {5}\r\n");
	until(f, "+");
	sendf(f, "hello\r\n");
	ASSERT_PREFIX(until(f, "p1"), "OK [APPENDUID ");
	ASSERT_PREFIX(cmd(f, "r4", "RENAME INBOX Old"), "OK");
	ASSERT_PREFIX(cmd(f, "r5", "STATUS INBOX (MESSAGES)"), "OK");
	ASSERT_HAS(f, "* STATUS \"INBOX\" (MESSAGES 0)");
	ASSERT_PREFIX(cmd(f, "r6", "STATUS Old (MESSAGES UIDNEXT UNSEEN)"),
	    "OK");
	ASSERT_HAS(f, "* STATUS \"Old\" (MESSAGES 1 UIDNEXT ");
	ASSERT_HAS(f, " UNSEEN 1)");
	ASSERT_PREFIX(cmd(f, "r7", "STATUS Old (BOGUS)"), "BAD");
	ASSERT_PREFIX(cmd(f, "r8", "STATUS Nope (MESSAGES)"), "NO");
	ASSERT_PREFIX(cmd(f, "z", "LOGOUT"), "OK");
	stop(f);
}

static void
test_traversal(void **state)
{
	static const char *const bad[] = {
		"../x", "/etc", "a/../../b", "..", ".hidden", "a..b",
		"a\\b", "&", "&AOk", "&Jjo!", "\"x\\\"y/z\"", "a.",
		"\"\"",
	};
	struct fx *f = *state;
	struct buf big = BUF_INIT(0);
	char tag[16];
	size_t i;

	start(f, 1, 0);
	login(f);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		(void)snprintf(tag, sizeof(tag), "t%zu", i);
		buf_reset(&big);
		buf_appendf(&big, "CREATE %s", bad[i]);
		if (strcmp(bad[i], "a.") == 0)
			continue;	/* trailing delimiter: creates "a" */
		if (strncmp(cmd(f, tag, buf_cstr(&big)), "NO", 2) != 0)
			fail_msg("CREATE %s accepted", bad[i]);
		buf_reset(&big);
		buf_appendf(&big, "SELECT %s", bad[i]);
		ASSERT_PREFIX(cmd(f, tag, buf_cstr(&big)), "NO");
		buf_reset(&big);
		buf_appendf(&big, "RENAME INBOX %s", bad[i]);
		ASSERT_PREFIX(cmd(f, tag, buf_cstr(&big)), "NO");
	}
	buf_reset(&big);
	buf_appends(&big, "CREATE ");
	for (i = 0; i < 300; i++)
		buf_appendc(&big, 'x');
	ASSERT_PREFIX(cmd(f, "long", buf_cstr(&big)), "NO");
	ASSERT_PREFIX(cmd(f, "l", "LIST \"\" *"), "OK");
	ASSERT_LACKS(f, "..");
	ASSERT_LACKS(f, "etc");
	ASSERT_PREFIX(cmd(f, "z", "LOGOUT"), "OK");
	stop(f);
	buf_free(&big);
}

static void
test_append_select(void **state)
{
	struct fx *f = *state;
	struct buf msg = BUF_INIT(0);
	size_t i;

	start(f, 1, 4096);
	login(f);
	sendf(f, "a1 APPEND INBOX (\\Seen $Work) \" 7-jUL-2026 10:00:00 "
	    "+0200\" {19}\r\n");
	ASSERT_PREFIX(until(f, "+"), "Ready");
	sendf(f, "Subject: one\r\n\r\nx\r\n\r\n");
	ASSERT_PREFIX(until(f, "a1"), "OK [APPENDUID ");
	sendf(f, "a2 APPEND INBOX {19+}\r\nSubject: two\r\n\r\ny\r\n\r\n");
	ASSERT_PREFIX(until(f, "a2"), "OK [APPENDUID ");
	ASSERT_PREFIX(cmd(f, "a3", "APPEND INBOX (\\Recent) {1+}\r\nx"),
	    "BAD");
	ASSERT_PREFIX(cmd(f, "a4", "APPEND INBOX \"bad date\" {1+}\r\nx"),
	    "BAD");
	ASSERT_PREFIX(cmd(f, "a4b", "APPEND INBOX \"31-Feb-2026 10:00:00 "
	    "+0000\" {1+}\r\nx"), "BAD");
	ASSERT_PREFIX(cmd(f, "a4c", "APPEND INBOX \" 1-Jan-2026 24:00:00 "
	    "+0000\" {1+}\r\nx"), "BAD");
	ASSERT_PREFIX(cmd(f, "a4d", "APPEND INBOX \"01-Jxn-2026 10:00:00 "
	    "+0000\" {1+}\r\nx"), "BAD");
	ASSERT_PREFIX(cmd(f, "a5", "APPEND Nope {1+}\r\nx"), "NO [TRYCREATE]");
	/* Over the limit: refused before the client sends the literal. */
	sendf(f, "a6 APPEND INBOX {5000}\r\n");
	ASSERT_PREFIX(until(f, "a6"), "NO [TOOBIG]");
	ASSERT_LACKS(f, "+ Ready");
	/* Exactly the limit is fine. */
	buf_appends(&msg, "Subject: big\r\n\r\n");
	for (i = msg.len; i < 4096 - 2; i++)
		buf_appendc(&msg, (char)('a' + i % 26));
	buf_appends(&msg, "\r\n");
	sendf(f, "a7 APPEND INBOX {4096}\r\n");
	until(f, "+");
	sendraw(f, msg.data, msg.len);
	sendf(f, "\r\n");
	ASSERT_PREFIX(until(f, "a7"), "OK");

	ASSERT_PREFIX(cmd(f, "s1", "EXAMINE INBOX"), "OK [READ-ONLY]");
	ASSERT_HAS(f, "* 3 EXISTS");
	ASSERT_HAS(f, "* OK [UNSEEN 2]");
	ASSERT_HAS(f, "* OK [UIDVALIDITY ");
	ASSERT_HAS(f, "* OK [UIDNEXT 4]");
	ASSERT_HAS(f, "* OK [PERMANENTFLAGS ()]");
	ASSERT_PREFIX(cmd(f, "s2", "SELECT inbox"), "OK [READ-WRITE]");
	ASSERT_HAS(f, "* FLAGS (");
	ASSERT_HAS(f, "\\*)]");
	ASSERT_PREFIX(cmd(f, "s3", "CHECK"), "OK");
	ASSERT_PREFIX(cmd(f, "s4", "NOOP"), "OK");
	ASSERT_PREFIX(cmd(f, "s5", "UNSELECT"), "OK");
	ASSERT_PREFIX(cmd(f, "s6", "CLOSE"), "BAD");
	ASSERT_PREFIX(cmd(f, "s7", "SELECT Nope"), "NO [NONEXISTENT]");
	ASSERT_PREFIX(cmd(f, "s8", "CHECK"), "BAD");
	ASSERT_PREFIX(cmd(f, "n1", "NAMESPACE"), "OK");
	ASSERT_HAS(f, "* NAMESPACE ((\"\" \".\")) NIL NIL");
	ASSERT_PREFIX(cmd(f, "n2", "ID (\"name\" \"test\")"), "OK");
	ASSERT_HAS(f, "* ID (\"name\" \"Estafeta\"");
	ASSERT_PREFIX(cmd(f, "n3", "ID NIL"), "OK");
	ASSERT_PREFIX(cmd(f, "n4", "ENABLE CONDSTORE"), "OK");
	ASSERT_HAS(f, "* ENABLED\n");
	ASSERT_PREFIX(cmd(f, "z", "LOGOUT"), "OK");
	stop(f);
	buf_free(&msg);
}

static void
test_idle(void **state)
{
	struct fx *f = *state;
	struct buf line = BUF_INIT(0);
	struct mstore *st = NULL;
	const char *err;
	uint32_t uid;

	start(f, 1, 0);
	login(f);
	ASSERT_PREFIX(cmd(f, "a", "SELECT INBOX"), "OK");
	ASSERT_HAS(f, "* 0 EXISTS");
	sendf(f, "b IDLE\r\n");
	assert_int_equal(getline_(f, &line), 1);
	ASSERT_PREFIX(buf_cstr(&line), "+ ");
	/* A delivery by another process wakes the session. */
	assert_int_equal(mstore_open(f->root, USER, 1, &st, &err), 1);
	assert_int_equal(mstore_add(st, "INBOX", "Subject: hi\n\nbody\n", 18,
	    0, NULL, 0, NULL, &uid, &err), 1);
	assert_int_equal(getline_(f, &line), 1);
	assert_string_equal(buf_cstr(&line), "* 1 EXISTS");
	sendf(f, "DONE\r\n");
	ASSERT_PREFIX(until(f, "b"), "OK");
	/* Another one outside IDLE: reported after the next command. */
	assert_int_equal(mstore_add(st, "INBOX", "Subject: 2\n\nb\n", 14,
	    0, NULL, 0, NULL, &uid, &err), 1);
	ASSERT_PREFIX(cmd(f, "c", "NOOP"), "OK");
	ASSERT_HAS(f, "* 2 EXISTS");
	sendf(f, "d IDLE\r\n");
	assert_int_equal(getline_(f, &line), 1);
	sendf(f, "NOTDONE\r\n");
	ASSERT_PREFIX(until(f, "d"), "BAD");
	ASSERT_PREFIX(cmd(f, "z", "LOGOUT"), "OK");
	mstore_close(&st);
	stop(f);
	buf_free(&line);
}

/* Another session renames or deletes the selected mailbox: the next
 * command gets "* BYE" and no tagged reply, the session ends (exit 0); a
 * message command is not run; a SELECT of another mailbox moves on. The
 * session's own RENAME of its selected mailbox closes it (OK [CLOSED]). */
static void
test_selected_gone(void **state)
{
	struct fx *f = *state;
	struct buf line = BUF_INIT(0);
	struct mstore *st = NULL;
	const char *err;
	uint32_t uid;

	assert_int_equal(mstore_open(f->root, USER, 1, &st, &err), 1);
	assert_int_equal(mstore_folder_create(st, "Work", &err), 1);
	assert_int_equal(mstore_folder_create(st, "Old", &err), 1);
	assert_int_equal(mstore_folder_create(st, "Next", &err), 1);
	assert_int_equal(mstore_add(st, "Work", "Subject: w\n\nw\n", 14,
	    0, NULL, 0, NULL, &uid, &err), 1);
	/* NOOP after a rename. */
	start(f, 1, 0);
	login(f);
	ASSERT_PREFIX(cmd(f, "a", "SELECT Work"), "OK");
	ASSERT_HAS(f, "* 1 EXISTS");
	assert_int_equal(mstore_folder_rename(st, "Work", "Archive", &err),
	    1);
	sendf(f, "b NOOP\r\n");
	assert_int_equal(getline_(f, &line), 1);
	assert_string_equal(buf_cstr(&line), "* BYE Selected mailbox was "
	    "deleted or renamed by another session");
	assert_int_equal(getline_(f, &line), 0);	/* no tagged reply */
	stop(f);
	/* UID FETCH on a deleted mailbox (EXAMINE): not run. */
	start(f, 1, 0);
	login(f);
	ASSERT_PREFIX(cmd(f, "a", "EXAMINE Old"), "OK");
	assert_int_equal(mstore_folder_delete(st, "Old", &err), 1);
	sendf(f, "b UID FETCH 1:* (FLAGS)\r\n");
	assert_int_equal(getline_(f, &line), 1);
	ASSERT_PREFIX(buf_cstr(&line), "* BYE Selected mailbox was deleted");
	assert_int_equal(getline_(f, &line), 0);
	stop(f);
	/* A client moving to another mailbox is not disconnected. */
	start(f, 1, 0);
	login(f);
	ASSERT_PREFIX(cmd(f, "a", "SELECT Archive"), "OK");
	assert_int_equal(mstore_folder_rename(st, "Archive", "Work", &err),
	    1);
	ASSERT_PREFIX(cmd(f, "b", "SELECT Next"), "OK");
	ASSERT_LACKS(f, "BYE");
	ASSERT_PREFIX(cmd(f, "c", "STATUS Work (MESSAGES)"), "OK");
	ASSERT_HAS(f, "(MESSAGES 1)");
	/* Its own RENAME of the selected mailbox, or of its parent: closed
	 * with OK [CLOSED], the session goes on in the authenticated state. */
	ASSERT_PREFIX(cmd(f, "d", "RENAME Next Next2"), "OK");
	ASSERT_HAS(f, "* OK [CLOSED]");
	ASSERT_PREFIX(cmd(f, "e", "FETCH 1 (FLAGS)"), "BAD");
	ASSERT_PREFIX(cmd(f, "f", "NOOP"), "OK");
	ASSERT_LACKS(f, "BYE");
	ASSERT_PREFIX(cmd(f, "g", "CREATE P.C"), "OK");
	ASSERT_PREFIX(cmd(f, "h", "SELECT P.C"), "OK");
	ASSERT_PREFIX(cmd(f, "i", "RENAME P Q"), "OK");
	ASSERT_HAS(f, "* OK [CLOSED]");
	ASSERT_PREFIX(cmd(f, "j", "SELECT Q.C"), "OK");
	/* A rename of another mailbox leaves it selected. */
	ASSERT_PREFIX(cmd(f, "k", "RENAME Work Work2"), "OK");
	ASSERT_LACKS(f, "CLOSED");
	ASSERT_PREFIX(cmd(f, "l", "CHECK"), "OK");
	/* UNSELECT of a mailbox renamed elsewhere: OK, no BYE. */
	assert_int_equal(mstore_folder_rename(st, "Q.C", "R", &err), 1);
	ASSERT_PREFIX(cmd(f, "m", "UNSELECT"), "OK");
	ASSERT_LACKS(f, "BYE");
	ASSERT_PREFIX(cmd(f, "n", "SELECT R"), "OK");
	ASSERT_PREFIX(cmd(f, "z", "LOGOUT"), "OK");
	stop(f);
	mstore_close(&st);
	buf_free(&line);
}

static void
test_malformed(void **state)
{
	static const char *const battery[] = {
		"",
		" ",
		"*",
		"a",
		"+ NOOP",
		"a NOOP extra",
		"a FOO",
		"a UID",
		"a UID NOOP",
		"a LOGIN",
		"a LOGIN a b c",
		"a LOGIN (a) b",
		"a SELECT",
		"a SELECT (INBOX)",
		"a LIST",
		"a LIST \"\"",
		"a STATUS INBOX",
		"a STATUS INBOX ()",
		"a STATUS INBOX MESSAGES",
		"a APPEND",
		"a APPEND INBOX",
		"a APPEND INBOX (\\Seen)",
		"a APPEND INBOX (\\Seen) \"x\" \"y\" {1+}\r\nz",
		"a CREATE",
		"a RENAME a",
		"a ENABLE",
		"a ENABLE \"x\"",
		"a ID",
		"a ID (\"a\")",
		"a ID x",
		"a IDLE x",
		"a \"quoted\"",
		"a NOOP (",
		"a NOOP )",
		"a NOOP \"unterminated",
		"a NOOP {x}",
		"a NOOP [",
		"a\tNOOP",
		"a NO\x01OP",
		"a NOOP \xff",
		"a AUTHENTICATE",
		"a AUTHENTICATE PLAIN a b",
		"a FETCH 1 FLAGS",
		"a CLOSE",
	};
	struct fx *f = *state;
	size_t i;
	char tag[16];

	start(f, 1, 0);
	login(f);
	for (i = 0; i < sizeof(battery) / sizeof(battery[0]); i++) {
		sendf(f, "%s\r\n", battery[i]);
		(void)snprintf(tag, sizeof(tag), "ok%zu", i);
		/* The session goes on: the next command is answered. */
		ASSERT_PREFIX(cmd(f, tag, "NOOP"), "OK");
		if (strstr(buf_cstr(&f->last), " BAD ") == NULL &&
		    strncmp(buf_cstr(&f->last), "a BAD", 5) != 0 &&
		    strncmp(buf_cstr(&f->last), "* BAD", 5) != 0)
			fail_msg("no BAD for \"%s\":\n%s", battery[i],
			    buf_cstr(&f->last));
	}
	ASSERT_PREFIX(cmd(f, "z", "LOGOUT"), "OK");
	stop(f);
}

static void
test_error_limit(void **state)
{
	struct fx *f = *state;
	struct buf line = BUF_INIT(0);
	int i, bad = 0, bye = 0;

	start(f, 1, 0);
	greeting(f, &line);
	for (i = 0; i < IMAP_ERROR_LIMIT + 5; i++)
		sendf(f, "a BOGUS\r\n");
	while (getline_(f, &line) == 1) {
		if (strncmp(buf_cstr(&line), "* BYE", 5) == 0)
			bye++;
		else if (strncmp(buf_cstr(&line), "a BAD", 5) == 0) {
			assert_int_equal(bye, 0);
			bad++;
		}
	}
	assert_int_equal(bye, 1);
	assert_int_equal(bad, IMAP_ERROR_LIMIT);
	stop(f);
	buf_free(&line);
}

static void
test_list_match(void **state)
{
	static const struct {
		const char	*pat, *name;
		int		 want;
	} t[] = {
		{ "*", "INBOX", 1 }, { "*", "a.b.c", 1 }, { "%", "a", 1 },
		{ "%", "a.b", 0 }, { "a.%", "a.b", 1 }, { "a.%", "a.b.c", 0 },
		{ "a.*", "a.b.c", 1 }, { "a.*", "a", 0 }, { "a*", "a", 1 },
		{ "*c", "a.b.c", 1 }, { "%c", "a.b.c", 0 }, { "a%c", "abc", 1 },
		{ "a%c", "a.c", 0 }, { "a*c", "a.c", 1 }, { "", "", 1 },
		{ "", "a", 0 }, { "INBOX", "INBOX", 1 }, { "INBOX", "inbox", 0 },
		{ "%.%", "a.b", 1 }, { "%.%", "a.b.c", 0 }, { "*.*", "a.b.c", 1 },
		{ "%%%", "abc", 1 }, { "**", "a.b", 1 }, { "a", "ab", 0 },
		{ "ab", "a", 0 }, { "W*s", "Work.Projects", 1 },
	};
	struct buf pat = BUF_INIT(0), name = BUF_INIT(0);
	size_t i;

	(void)state;
	/* Many wildcards against a long name: must not backtrack forever. */
	for (i = 0; i < 400; i++)
		buf_appends(&pat, i % 2 ? "a" : (i % 4 ? "%" : "*"));
	buf_appends(&pat, "b");
	for (i = 0; i < 255; i++)
		buf_appendc(&name, 'a');
	assert_int_equal(imap_list_match(buf_cstr(&pat), buf_cstr(&name)), 0);
	buf_free(&pat);
	buf_free(&name);
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (imap_list_match(t[i].pat, t[i].name) != t[i].want)
			fail_msg("match(\"%s\", \"%s\") != %d", t[i].pat,
			    t[i].name, t[i].want);
}

/* Failed logins add up per client address over sessions; past the limit
 * no credentials are checked, not even right ones. */
static void
test_ip_limit(void **state)
{
	struct fx *f = *state;
	struct buf line = BUF_INIT(0);

	f->rl = ratelimit_new(64, 0);
	assert_non_null(f->rl);
	start(f, 1, 0);
	greeting(f, &line);
	ASSERT_PREFIX(cmd(f, "a", "LOGIN " USER " wrong"),
	    "NO [AUTHENTICATIONFAILED]");
	ASSERT_PREFIX(cmd(f, "b", "LOGOUT"), "OK");
	stop(f);
	assert_int_equal(ratelimit_peek(f->rl, "authfail", "test", 600000,
	    conn_now_ms()), 1);
	start(f, 1, 0);
	greeting(f, &line);
	ASSERT_PREFIX(cmd(f, "a", "LOGIN bob@example.test wrong"),
	    "NO [AUTHENTICATIONFAILED]");
	ASSERT_PREFIX(cmd(f, "b", "LOGIN " USER " \"" PASS "\""),
	    "NO [UNAVAILABLE] Too many failed logins");
	/* AUTHENTICATE too; the third refusal ends the session. */
	ASSERT_PREFIX(cmd(f, "c", "AUTHENTICATE PLAIN "
	    "AGFsaWNlQGV4YW1wbGUudGVzdABzM2NyZXQgcHc="),
	    "NO [UNAVAILABLE]");
	assert_int_equal(getline_(f, &line), 1);
	ASSERT_PREFIX(buf_cstr(&line), "* BYE");
	stop(f);
	/* Refusals are not failures: the count stays at the limit. */
	assert_int_equal(ratelimit_peek(f->rl, "authfail", "test", 600000,
	    conn_now_ms()), 2);
	ratelimit_free(&f->rl);
	buf_free(&line);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_login_rules, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_authenticate, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_long_line, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_sasl_ir_wiped, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_rename_log, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_mailboxes, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_traversal, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_append_select, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_idle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_selected_gone, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_malformed, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_error_limit, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_ip_limit, setup,
		    teardown),
		cmocka_unit_test(test_list_match),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
