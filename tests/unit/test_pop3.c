/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * The POP3 session (pop3_session) on a loopback TCP connection, against a
 * real store (mstore, in a temporary directory) and a real users database:
 * each session runs in a forked child as in buzond, the test is the
 * client. Covers the state machine (commands refused in the wrong state,
 * credentials refused without TLS outside cleartext networks), USER/PASS
 * and AUTH PLAIN (initial response, continuation, cancel, authzid), STAT,
 * LIST, UIDL, TOP, RETR (byte-exact dot-stuffing), DELE/RSET with removal
 * only at QUIT, a dropped session deleting nothing, the [IN-USE] lock, the
 * [AUTH] codes and the failure limits (per session and, through a shared
 * ratelimit region, per client address), the error limit, the line limit and
 * the idle timeout. The daemon around it is tested end to end in
 * tests/e2e/75-77.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/buf.h"
#include "lib/cfg.h"
#include "lib/conn.h"
#include "lib/log.h"
#include "lib/ratelimit.h"
#include "lib/users.h"
#include "store/mstore.h"
#include "store/pop3.h"
#include "store/pop3_cmd.h"

#define ALICE		"alice@example.test"
#define ALICE_PW	"alice pass 1"
#define BOB		"bob@example.test"
#define BOB_PW		"bobs-Pa55"

/* Messages as stored (LF) and as POP3 must send them (CRLF, stuffed). */
static const char *const msgs[] = {
	"From: a@example.org\nSubject: one\n\nfirst body\n",
	"From: b@example.org\nSubject: dots\n\n.leading dot\n..two\n.\n"
	    "end\n",
	"From: c@example.org\nSubject: three\n\nl1\nl2\nl3\nl4\n",
};

struct fx {
	char		 dir[64];
	char		 root[96];
	char		 db[96];
	int		 lfd;		/* listening socket */
	int		 port;
	pid_t		 child;
	struct cfg_list	 nets;
	char		*netv[1];
	struct pop3_params p;
};

static struct fx *F;

/* ------------------------------------------------------------ server */

/* Serves exactly one connection in a child process. */
static void
serve_one(struct fx *f)
{
	struct users *u = NULL;
	struct pop3_params p = f->p;
	struct conn c;
	const char *err;
	pid_t pid;
	int fd;

	pid = fork();
	assert_true(pid != -1);
	if (pid > 0) {
		f->child = pid;
		return;
	}
	(void)signal(SIGPIPE, SIG_IGN);
	fd = accept(f->lfd, NULL, NULL);
	if (fd == -1)
		_exit(2);
	if (users_open(f->db, 0, &u, &err) == -1)
		_exit(3);
	p.users = u;
	conn_init(&c, fd);
	pop3_session(&c, &p, 0);
	conn_close(&c);
	users_close(&u);
	_exit(0);
}

static void
reap(struct fx *f)
{
	int status;

	if (f->child <= 0)
		return;
	assert_int_equal(waitpid(f->child, &status, 0), f->child);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	f->child = 0;
}

/* ------------------------------------------------------------ client */

struct cli {
	int	 fd;
	char	 buf[1 << 16];
	size_t	 len;
};

static void
cli_open(struct cli *c)
{
	struct sockaddr_in sin;
	struct timeval tv = { 10, 0 };

	serve_one(F);
	memset(c, 0, sizeof(*c));
	c->fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(c->fd >= 0);
	(void)setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)F->port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(c->fd, (struct sockaddr *)&sin,
	    sizeof(sin)), 0);
}

static void
cli_close(struct cli *c)
{
	(void)close(c->fd);
	reap(F);
}

static void
cli_send(struct cli *c, const char *s)
{
	size_t n = strlen(s);

	assert_int_equal(write(c->fd, s, n), (ssize_t)n);
}

/* Reads until the buffer ends with end (or EOF); returns it, consumed. */
static char *
cli_until(struct cli *c, const char *end)
{
	size_t n = strlen(end);
	ssize_t r;
	char *out, *hit;

	for (;;) {
		c->buf[c->len] = '\0';
		if ((hit = strstr(c->buf, end)) != NULL) {
			size_t k = (size_t)(hit - c->buf) + n;

			out = strndup(c->buf, k);
			memmove(c->buf, c->buf + k, c->len - k);
			c->len -= k;
			return out;
		}
		assert_true(c->len < sizeof(c->buf) - 1);
		r = read(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len);
		if (r <= 0) {
			out = strndup(c->buf, c->len);
			c->len = 0;
			return out;	/* EOF: whatever came */
		}
		c->len += (size_t)r;
	}
}

/* Sends cmd (CRLF added unless NULL) and checks the one-line reply. */
static void
cli_expect(struct cli *c, const char *cmd, const char *reply)
{
	char line[1024], *got;

	if (cmd != NULL) {
		(void)snprintf(line, sizeof(line), "%s\r\n", cmd);
		cli_send(c, line);
	}
	got = cli_until(c, "\r\n");
	(void)snprintf(line, sizeof(line), "%s\r\n", reply);
	if (strcmp(got, line) != 0)
		fail_msg("%s: expected %s got %s", cmd ? cmd : "greeting",
		    reply, got);
	free(got);
}

/* Sends cmd and checks the whole multi-line reply (terminator included). */
static void
cli_expect_multi(struct cli *c, const char *cmd, const char *reply)
{
	char line[256], *got;

	(void)snprintf(line, sizeof(line), "%s\r\n", cmd);
	cli_send(c, line);
	got = cli_until(c, "\r\n.\r\n");
	if (strcmp(got, reply) != 0)
		fail_msg("%s: expected\n%s\ngot\n%s", cmd, reply, got);
	free(got);
}

static void
cli_login(struct cli *c, const char *user, const char *pw)
{
	char line[256];

	cli_open(c);
	cli_expect(c, NULL, "+OK pop.example.test POP3 ready");
	(void)snprintf(line, sizeof(line), "USER %s", user);
	cli_expect(c, line, "+OK Send PASS");
	(void)snprintf(line, sizeof(line), "PASS %s", pw);
	cli_send(c, line);
	cli_send(c, "\r\n");
	free(cli_until(c, "\r\n"));
}

/* ------------------------------------------------------------ fixture */

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct users *u = NULL;
	struct mstore *st = NULL;
	struct sockaddr_in sin;
	socklen_t slen = sizeof(sin);
	const char *err = NULL;
	size_t i;

	assert_non_null(f);
	(void)snprintf(f->dir, sizeof(f->dir), "/tmp/test_pop3.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	(void)snprintf(f->root, sizeof(f->root), "%s/store", f->dir);
	(void)snprintf(f->db, sizeof(f->db), "%s/users.db", f->dir);
	assert_int_equal(mkdir(f->root, 0700), 0);
	assert_int_equal(users_open(f->db, 1, &u, &err), 1);
	assert_int_equal(users_add(u, ALICE, ALICE_PW, strlen(ALICE_PW),
	    &err), 1);
	assert_int_equal(users_add(u, BOB, BOB_PW, strlen(BOB_PW), &err), 1);
	users_close(&u);
	assert_int_equal(mstore_open(f->root, ALICE, 1, &st, &err), 1);
	for (i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++)
		assert_int_equal(mstore_add(st, "INBOX", msgs[i],
		    strlen(msgs[i]), 0, NULL, 0, NULL, NULL, &err), 1);
	mstore_close(&st);

	f->lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(f->lfd >= 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(f->lfd, (struct sockaddr *)&sin, sizeof(sin)),
	    0);
	assert_int_equal(listen(f->lfd, 8), 0);
	assert_int_equal(getsockname(f->lfd, (struct sockaddr *)&sin, &slen),
	    0);
	f->port = ntohs(sin.sin_port);

	f->netv[0] = (char *)"127.0.0.0/8";
	f->nets.n = 1;
	f->nets.v = f->netv;
	f->p.hostname = "pop.example.test";
	f->p.store_root = f->root;
	f->p.cleartext_networks = &f->nets;
	f->p.idle_timeout_ms = 10000;
	f->p.error_limit = 10;
	f->p.auth_fail_limit = 3;
	f->p.line_limit = 512;
	F = f;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	(void)close(f->lfd);
	(void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	F = NULL;
	return 0;
}

static uint32_t
inbox_count(const char *user)
{
	struct mstore *st = NULL;
	struct mbox *mb = NULL;
	const char *err = NULL;
	uint32_t n;

	assert_int_equal(mstore_open(F->root, user, 0, &st, &err), 1);
	assert_int_equal(mbox_open(st, "INBOX", 1, &mb, &err), 1);
	n = mbox_count(mb);
	mbox_close(&mb);
	mstore_close(&st);
	return n;
}

/* Flags of message seq of user's INBOX. */
static uint32_t
inbox_flags(const char *user, uint32_t seq)
{
	struct mstore *st = NULL;
	struct mbox *mb = NULL;
	const char *err = NULL;
	uint32_t flags;

	assert_int_equal(mstore_open(F->root, user, 0, &st, &err), 1);
	assert_int_equal(mbox_open(st, "INBOX", 1, &mb, &err), 1);
	assert_true(seq <= mbox_count(mb));
	flags = mbox_msg(mb, seq)->flags;
	mbox_close(&mb);
	mstore_close(&st);
	return flags;
}

/* The unique-id of message seq of user's INBOX: pop3_uidl of its base
 * name. */
static void
inbox_uidl(const char *user, uint32_t seq, char out[POP3_UIDL_LEN + 1])
{
	struct mstore *st = NULL;
	struct mbox *mb = NULL;
	const char *err = NULL;
	char base[256];

	assert_int_equal(mstore_open(F->root, user, 0, &st, &err), 1);
	assert_int_equal(mbox_open(st, "INBOX", 1, &mb, &err), 1);
	assert_int_equal(mbox_base(mb, seq, base, sizeof(base), &err), 1);
	(void)pop3_uidl(base, strlen(base), out);
	mbox_close(&mb);
	mstore_close(&st);
}

/* ------------------------------------------------------------ tests */

static void
test_authorization_state(void **state)
{
	struct cli c;

	(void)state;
	cli_open(&c);
	cli_expect(&c, NULL, "+OK pop.example.test POP3 ready");
	cli_expect_multi(&c, "CAPA", "+OK Capability list follows\r\n"
	    "TOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\n"
	    "USER\r\nSASL PLAIN\r\nIMPLEMENTATION Estafeta\r\n.\r\n");
	cli_expect(&c, "STAT", "-ERR Not logged in yet");
	cli_expect(&c, "RETR 1", "-ERR Not logged in yet");
	cli_expect(&c, "PASS x", "-ERR Send USER first");
	cli_expect(&c, "STLS", "-ERR STLS not available");
	cli_expect(&c, "APOP alice 0123", "-ERR Unknown command");
	cli_expect(&c, "QUIT", "+OK Bye");
	cli_close(&c);
}

static void
test_full_flow(void **state)
{
	char uid[3][POP3_UIDL_LEN + 1], want[512];
	struct cli c;
	int i;

	(void)state;
	cli_login(&c, "Alice@Example.Test", ALICE_PW);
	cli_expect(&c, "USER x", "-ERR Already logged in");
	cli_expect(&c, "STAT", "+OK 3 171");
	cli_expect_multi(&c, "LIST", "+OK 3 messages (171 octets)\r\n"
	    "1 49\r\n2 67\r\n3 55\r\n.\r\n");
	cli_expect(&c, "LIST 2", "+OK 2 67");
	cli_expect(&c, "LIST 4", "-ERR No such message");
	cli_expect(&c, "LIST 0", "-ERR Invalid message number");
	cli_expect(&c, "LIST x", "-ERR Invalid message number");
	/* UIDL: the files' base names (RFC 1939 7 form). */
	for (i = 0; i < 3; i++)
		inbox_uidl(ALICE, i + 1, uid[i]);
	assert_string_not_equal(uid[0], uid[1]);
	assert_string_not_equal(uid[1], uid[2]);
	(void)snprintf(want, sizeof(want), "+OK Unique-ID listing follows\r\n"
	    "1 %s\r\n2 %s\r\n3 %s\r\n.\r\n", uid[0], uid[1], uid[2]);
	cli_expect_multi(&c, "UIDL", want);
	(void)snprintf(want, sizeof(want), "+OK 2 %s", uid[1]);
	cli_expect(&c, "UIDL 2", want);
	cli_expect(&c, "UIDL 4", "-ERR No such message");
	cli_expect_multi(&c, "RETR 2", "+OK 67 octets\r\n"
	    "From: b@example.org\r\nSubject: dots\r\n\r\n..leading dot\r\n"
	    "...two\r\n..\r\nend\r\n.\r\n");
	cli_expect_multi(&c, "TOP 3 2", "+OK Top of message 3 follows\r\n"
	    "From: c@example.org\r\nSubject: three\r\n\r\nl1\r\nl2\r\n.\r\n");
	cli_expect_multi(&c, "TOP 1 0", "+OK Top of message 1 follows\r\n"
	    "From: a@example.org\r\nSubject: one\r\n\r\n.\r\n");
	cli_expect(&c, "TOP 1", "-ERR Syntax: TOP message lines");
	cli_expect(&c, "DELE 1", "+OK Message 1 marked for deletion");
	cli_expect(&c, "DELE 1", "-ERR Message 1 already deleted");
	cli_expect(&c, "RETR 1", "-ERR Message 1 already deleted");
	cli_expect(&c, "STAT", "+OK 2 122");
	cli_expect(&c, "RSET", "+OK Maildrop has 3 messages (171 octets)");
	cli_expect(&c, "STAT", "+OK 3 171");
	cli_expect(&c, "DELE 3", "+OK Message 3 marked for deletion");
	cli_expect_multi(&c, "LIST", "+OK 2 messages (116 octets)\r\n"
	    "1 49\r\n2 67\r\n.\r\n");
	cli_expect(&c, "NOOP", "+OK");
	/* Nothing is removed before QUIT. */
	assert_int_equal(inbox_count(ALICE), 3);
	cli_expect(&c, "QUIT", "+OK Bye: 1 messages deleted");
	cli_close(&c);
	assert_int_equal(inbox_count(ALICE), 2);
	/* RETR'd and kept: \Seen for IMAP; only listed: unchanged. */
	assert_true(inbox_flags(ALICE, 2) & MSG_SEEN);
	assert_false(inbox_flags(ALICE, 1) & MSG_SEEN);

	/* UIDLs survive: message 3 is now message 2. */
	cli_login(&c, ALICE, ALICE_PW);
	cli_expect(&c, "STAT", "+OK 2 116");
	(void)snprintf(want, sizeof(want), "+OK 2 %s", uid[1]);
	cli_expect(&c, "UIDL 2", want);
	cli_expect(&c, "QUIT", "+OK Bye: 0 messages deleted");
	cli_close(&c);
}

/* A login typed in another form of the address (quoted local part) opens
 * the user's own maildrop, not a new one named after what was typed. */
static void
test_login_canonical(void **state)
{
	struct cli c;

	(void)state;
	cli_open(&c);
	cli_expect(&c, NULL, "+OK pop.example.test POP3 ready");
	cli_expect(&c, "USER \"alice\"@Example.TEST", "+OK Send PASS");
	cli_expect(&c, "PASS " ALICE_PW, "+OK Logged in: 3 messages");
	cli_expect(&c, "QUIT", "+OK Bye: 0 messages deleted");
	cli_close(&c);
}

static void
test_drop_deletes_nothing(void **state)
{
	struct cli c;

	(void)state;
	cli_login(&c, ALICE, ALICE_PW);
	cli_expect(&c, "DELE 1", "+OK Message 1 marked for deletion");
	cli_expect(&c, "DELE 2", "+OK Message 2 marked for deletion");
	cli_close(&c);	/* no QUIT */
	assert_int_equal(inbox_count(ALICE), 3);
}

/* Another session (IMAP) expunges a message this one marked: QUIT still
 * succeeds and removes the others (RFC 1939 6: the message is gone). */
static void
test_update_after_foreign_expunge(void **state)
{
	struct mstore *st = NULL;
	struct mbox *mb = NULL;
	const char *err = NULL;
	struct cli c;

	(void)state;
	cli_login(&c, ALICE, ALICE_PW);
	cli_expect(&c, "DELE 1", "+OK Message 1 marked for deletion");
	cli_expect(&c, "DELE 3", "+OK Message 3 marked for deletion");
	assert_int_equal(mstore_open(F->root, ALICE, 0, &st, &err), 1);
	assert_int_equal(mbox_open(st, "INBOX", 0, &mb, &err), 1);
	assert_int_equal(mbox_store(mb, 1, '+', MSG_DELETED, NULL, 0, &err),
	    1);
	assert_int_equal(mbox_expunge(mb, NULL, 0, NULL, NULL, &err), 1);
	mbox_close(&mb);
	mstore_close(&st);
	cli_expect(&c, "QUIT", "+OK Bye: 1 messages deleted");
	cli_close(&c);
	assert_int_equal(inbox_count(ALICE), 1);
}

static void
test_in_use(void **state)
{
	struct cli a, b;
	pid_t first;

	(void)state;
	cli_login(&a, ALICE, ALICE_PW);
	cli_expect(&a, "STAT", "+OK 3 171");
	first = F->child;
	cli_open(&b);
	cli_expect(&b, NULL, "+OK pop.example.test POP3 ready");
	cli_expect(&b, "USER " ALICE, "+OK Send PASS");
	cli_expect(&b, "PASS " ALICE_PW, "-ERR [IN-USE] Mailbox is locked by "
	    "another POP3 session");
	/* Still in AUTHORIZATION: another user may log in. */
	cli_expect(&b, "USER " BOB, "+OK Send PASS");
	cli_expect(&b, "PASS " BOB_PW, "+OK Logged in: 0 messages");
	cli_expect(&b, "QUIT", "+OK Bye: 0 messages deleted");
	cli_close(&b);
	F->child = first;
	cli_expect(&a, "QUIT", "+OK Bye: 0 messages deleted");
	cli_close(&a);
}

static void
test_auth_plain(void **state)
{
	struct cli c;

	(void)state;
	cli_open(&c);
	cli_expect(&c, NULL, "+OK pop.example.test POP3 ready");
	cli_expect_multi(&c, "AUTH", "+OK\r\nPLAIN\r\n.\r\n");
	cli_expect(&c, "AUTH LOGIN", "-ERR Unsupported authentication "
	    "mechanism");
	cli_expect(&c, "AUTH CRAM-MD5", "-ERR Unsupported authentication "
	    "mechanism");
	cli_expect(&c, "AUTH PLAIN", "+ ");
	cli_expect(&c, "*", "-ERR Authentication cancelled");
	cli_expect(&c, "AUTH PLAIN", "+ ");
	cli_expect(&c, "!!!", "-ERR Invalid base64 data");
	/* "\0alice@example.test\0wrong" */
	cli_expect(&c, "AUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdAB3cm9uZw==",
	    "-ERR [AUTH] Authentication failed");
	/* authzid bob, authcid alice */
	cli_expect(&c, "AUTH PLAIN Ym9iQGV4YW1wbGUudGVzdABhbGljZUBleGFtcGxlLnR"
	    "lc3QAYWxpY2UgcGFzcyAx", "-ERR [AUTH] Authorization identity "
	    "differs from the login");
	/* Continuation: "\0alice@example.test\0alice pass 1" */
	cli_expect(&c, "AUTH PLAIN", "+ ");
	cli_expect(&c, "AGFsaWNlQGV4YW1wbGUudGVzdABhbGljZSBwYXNzIDE=",
	    "+OK Logged in: 3 messages");
	cli_expect(&c, "AUTH PLAIN", "-ERR Already logged in");
	cli_expect(&c, "QUIT", "+OK Bye: 0 messages deleted");
	cli_close(&c);
}

static void
test_auth_fail_limit(void **state)
{
	struct cli c;
	char *rest;

	(void)state;
	cli_open(&c);
	cli_expect(&c, NULL, "+OK pop.example.test POP3 ready");
	cli_expect(&c, "USER " ALICE, "+OK Send PASS");
	cli_expect(&c, "PASS nope", "-ERR [AUTH] Authentication failed");
	cli_expect(&c, "USER nobody@example.test", "+OK Send PASS");
	cli_expect(&c, "PASS nope", "-ERR [AUTH] Authentication failed");
	cli_expect(&c, "USER " ALICE, "+OK Send PASS");
	cli_expect(&c, "PASS nope", "-ERR [AUTH] Authentication failed; too "
	    "many failures, closing");
	rest = cli_until(&c, "never");	/* EOF */
	assert_string_equal(rest, "");
	free(rest);
	cli_close(&c);
}

static void
test_cleartext_refused(void **state)
{
	struct cli c;

	(void)state;
	F->p.cleartext_networks = NULL;
	cli_open(&c);
	cli_expect(&c, NULL, "+OK pop.example.test POP3 ready");
	cli_expect_multi(&c, "CAPA", "+OK Capability list follows\r\n"
	    "TOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\n"
	    "IMPLEMENTATION Estafeta\r\n.\r\n");
	cli_expect(&c, "USER " ALICE, "-ERR [AUTH] Plaintext authentication "
	    "disallowed on non-secure connections: use STLS first");
	cli_expect(&c, "AUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABhbGljZSBwYXNzIDE"
	    "=", "-ERR [AUTH] Plaintext authentication disallowed on "
	    "non-secure connections: use STLS first");
	cli_expect(&c, "QUIT", "+OK Bye");
	cli_close(&c);
}

static void
test_limits(void **state)
{
	struct cli c;
	char line[700], *rest;

	(void)state;
	F->p.error_limit = 5;
	cli_login(&c, ALICE, ALICE_PW);
	memset(line, 'A', sizeof(line) - 3);
	memcpy(line + sizeof(line) - 3, "\r\n", 3);
	cli_send(&c, line);
	cli_expect(&c, NULL, "-ERR Line too long");
	cli_expect(&c, "STAT", "+OK 3 171");	/* still in sync */
	cli_expect(&c, "FOO", "-ERR Unknown command");
	cli_expect(&c, "RETR 9", "-ERR No such message");
	cli_expect(&c, "STLS", "-ERR Already logged in");
	cli_expect(&c, "NOOP", "+OK");		/* not an error */
	cli_send(&c, "DELE 0\r\n");
	rest = cli_until(&c, "never");
	assert_string_equal(rest, "-ERR Invalid message number\r\n"
	    "-ERR Too many errors, closing\r\n");
	free(rest);
	cli_close(&c);
	assert_int_equal(inbox_count(ALICE), 3);
}

static void
test_pipelining(void **state)
{
	struct cli c;
	char *got;

	(void)state;
	cli_open(&c);
	cli_expect(&c, NULL, "+OK pop.example.test POP3 ready");
	cli_send(&c, "USER " ALICE "\r\nPASS " ALICE_PW "\r\nSTAT\r\n"
	    "DELE 2\r\nLIST 2\r\nQUIT\r\n");
	got = cli_until(&c, "never");
	assert_string_equal(got, "+OK Send PASS\r\n"
	    "+OK Logged in: 3 messages\r\n+OK 3 171\r\n"
	    "+OK Message 2 marked for deletion\r\n"
	    "-ERR Message 2 already deleted\r\n"
	    "+OK Bye: 1 messages deleted\r\n");
	free(got);
	cli_close(&c);
	assert_int_equal(inbox_count(ALICE), 2);
}

static void
test_idle_timeout(void **state)
{
	struct cli c;
	char *rest;

	(void)state;
	F->p.idle_timeout_ms = 300;
	cli_login(&c, ALICE, ALICE_PW);
	cli_send(&c, "DELE 1\r\n");
	rest = cli_until(&c, "never");	/* waits for the server to close */
	assert_string_equal(rest, "+OK Message 1 marked for deletion\r\n"
	    "-ERR Disconnected for inactivity\r\n");
	free(rest);
	cli_close(&c);
	assert_int_equal(inbox_count(ALICE), 3);
}

static void
test_ip_limit(void **state)
{
	struct cli c;

	(void)state;
	F->p.rl = ratelimit_new(64, 0);
	assert_non_null(F->p.rl);
	F->p.fail_ip_limit = 2;
	F->p.fail_ip_window_ms = 60000;
	cli_open(&c);
	cli_expect(&c, NULL, "+OK pop.example.test POP3 ready");
	cli_expect(&c, "USER " ALICE, "+OK Send PASS");
	cli_expect(&c, "PASS nope", "-ERR [AUTH] Authentication failed");
	cli_expect(&c, "QUIT", "+OK Bye");
	cli_close(&c);
	cli_open(&c);
	cli_expect(&c, NULL, "+OK pop.example.test POP3 ready");
	cli_expect(&c, "USER " BOB, "+OK Send PASS");
	cli_expect(&c, "PASS nope", "-ERR [AUTH] Authentication failed");
	/* The address used up its failures: even the right password of
	 * another user is not checked. */
	cli_expect(&c, "USER " ALICE, "+OK Send PASS");
	cli_expect(&c, "PASS " ALICE_PW, "-ERR [SYS/TEMP] Too many failed logins "
	    "from your address; try again later");
	cli_expect(&c, "QUIT", "+OK Bye");
	cli_close(&c);
	ratelimit_free(&F->p.rl);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_authorization_state,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_flow, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_login_canonical, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_drop_deletes_nothing,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_update_after_foreign_expunge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_in_use, setup, teardown),
		cmocka_unit_test_setup_teardown(test_auth_plain, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_auth_fail_limit, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_cleartext_refused, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pipelining, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_idle_timeout, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_ip_limit, setup, teardown),
	};

	log_init("test_pop3", LOG_TARGET_STDERR, getenv("TEST_LOG_DEBUG") ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
