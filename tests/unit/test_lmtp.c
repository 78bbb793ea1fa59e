/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * Unit tests for buzond's LMTP server: lmtp_detail, and whole sessions of
 * lmtp_serve on one end of a socketpair (the script written in advance,
 * the replies read after the session ended) against a users database and
 * a store in a temporary directory. The command and data parsers it uses
 * are the relay's, tested and fuzzed there.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>

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
#include "lib/users.h"
#include "store/buzond_cfg.h"
#include "store/lmtp.h"
#include "store/mstore.h"
#include "store/session.h"

struct fx {
	char			 dir[64];
	char			 root[96];
	char			 db[96];
	struct buzond_cfg	 cfg;
	struct buzond_ctx	 ctx;
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct buf err = BUF_INIT(0);
	struct users *u = NULL;
	const char *e = NULL;

	assert_non_null(f);
	(void)snprintf(f->dir, sizeof(f->dir), "/tmp/test_lmtp.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	(void)snprintf(f->root, sizeof(f->root), "%s/store", f->dir);
	(void)snprintf(f->db, sizeof(f->db), "%s/users.db", f->dir);
	assert_int_equal(mkdir(f->root, 0700), 0);
	assert_int_equal(users_open(f->db, 1, &u, &e), 1);
	assert_int_equal(users_add(u, "alice@example.test", "pw", 2, &e), 1);
	assert_int_equal(users_add(u, "bob@example.test", "pw", 2, &e), 1);
	assert_int_equal(users_set_quota(u, "bob@example.test", 10, &e), 1);
	assert_int_equal(users_alias_add(u, "fwd@example.test",
	    "someone@example.org", &e), 1);
	users_close(&u);
	assert_int_equal(cfg_defaults(buzond_cfg_defs, &f->cfg, &err), 1);
	f->cfg.lmtp_timeout = 2000;
	f->ctx.cfg = &f->cfg;
	f->ctx.hostname = "mail.example.test";
	f->ctx.store_root = f->root;
	f->ctx.users_db = f->db;
	f->ctx.peer = "unix";
	f->ctx.session_id = "t";
	f->ctx.max_message_size = 2000;
	buf_free(&err);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	buzond_cfg_free(&f->cfg);
	(void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* Runs a session on script; returns the replies (malloc'd). */
static char *
session(struct fx *f, const char *script)
{
	struct buf out = BUF_INIT(0);
	struct conn c;
	char b[4096];
	ssize_t n;
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(write(sv[1], script, strlen(script)),
	    (ssize_t)strlen(script));
	assert_int_equal(shutdown(sv[1], SHUT_WR), 0);
	conn_init(&c, sv[0]);
	lmtp_serve(&c, &f->ctx);
	conn_close(&c);
	while ((n = read(sv[1], b, sizeof(b))) > 0)
		assert_int_equal(buf_append(&out, b, (size_t)n), 1);
	close(sv[1]);
	return buf_steal(&out);
}

static int
count_msgs(struct fx *f, const char *user)
{
	struct mstore *st = NULL;
	struct mbox_status ms;
	const char *e = NULL;
	int rc;

	rc = mstore_open(f->root, user, 0, &st, &e);
	if (rc == 0)
		return 0;
	assert_int_equal(rc, 1);
	assert_int_equal(mstore_folder_status(st, "INBOX", &ms, &e), 1);
	mstore_close(&st);
	return (int)ms.messages;
}

static void
test_detail(void **state)
{
	char *d = NULL;

	(void)state;
	assert_int_equal(lmtp_detail("alice+news@example.test",
	    "alice@example.test", &d), 1);
	assert_string_equal(d, "news");
	free(d);
	assert_int_equal(lmtp_detail("Alice+A+B@example.test",
	    "alice@example.test", &d), 1);
	assert_string_equal(d, "A+B");
	free(d);
	assert_int_equal(lmtp_detail("alice@example.test",
	    "alice@example.test", &d), 0);
	assert_null(d);
	assert_int_equal(lmtp_detail("alice+@example.test",
	    "alice@example.test", &d), 0);
	assert_int_equal(lmtp_detail("list+x@example.test",
	    "alice@example.test", &d), 0);
	assert_int_equal(lmtp_detail("nodomain", "alice@example.test", &d),
	    0);
	assert_null(d);
}

static void
test_session_mixed(void **state)
{
	struct fx *f = *state;
	char *r;

	r = session(f, "LHLO c\r\nMAIL FROM:<s@example.org> SIZE=20\r\n"
	    "RCPT TO:<alice@example.test>\r\n"
	    "RCPT TO:<nobody@example.test>\r\n"
	    "RCPT TO:<fwd@example.test>\r\n"
	    "RCPT TO:<alice+tag@example.test>\r\n"
	    "RCPT TO:<bob@example.test>\r\n"
	    "DATA\r\nSubject: t\r\n\r\n..dot\r\n.\r\nQUIT\r\n");
	assert_non_null(strstr(r, "250 SIZE 2000\r\n"));
	assert_non_null(strstr(r, "550 5.1.1 <nobody@example.test>"));
	assert_non_null(strstr(r, "550 5.1.1 <fwd@example.test>"));
	assert_non_null(strstr(r, "552 5.2.2 <bob@example.test>"));
	assert_non_null(strstr(r, "354 "));
	assert_non_null(strstr(r, "250 2.0.0 <alice@example.test> t.1 Ok: "
	    "stored as UID 1\r\n250 2.0.0 <alice+tag@example.test> t.1 Ok: "
	    "stored as UID 2\r\n221 2.0.0 Bye\r\n"));
	free(r);
	assert_int_equal(count_msgs(f, "alice@example.test"), 2);
	assert_int_equal(count_msgs(f, "bob@example.test"), 0);
}

static void
test_session_limits(void **state)
{
	struct fx *f = *state;
	struct buf s = BUF_INIT(0);
	char *r;
	int i;

	/* Too big: SIZE at MAIL, and the data itself. */
	(void)buf_appends(&s, "LHLO c\r\nMAIL FROM:<> SIZE=5000\r\n"
	    "MAIL FROM:<>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n");
	for (i = 0; i < 50; i++)
		(void)buf_appends(&s, "0123456789012345678901234567890123456789"
		    "0123456789\r\n");
	(void)buf_appends(&s, ".\r\nRSET\r\nDATA\r\n");
	r = session(f, buf_cstr(&s));
	assert_non_null(strstr(r, "552 5.3.4 Error: message size exceeds"));
	assert_non_null(strstr(r, "552 5.3.4 <alice@example.test>: message"));
	assert_non_null(strstr(r, "250 2.0.0 Ok\r\n503 5.5.1"));
	free(r);
	assert_int_equal(count_msgs(f, "alice@example.test"), 0);
	/* A long command line, then too many errors. */
	buf_reset(&s);
	for (i = 0; i < 5000; i++)
		(void)buf_appendc(&s, 'x');
	(void)buf_appends(&s, "\r\n");
	for (i = 0; i < 30; i++)
		(void)buf_appends(&s, "FOO\r\n");
	r = session(f, buf_cstr(&s));
	assert_non_null(strstr(r, "500 5.5.2 Error: line too long"));
	assert_non_null(strstr(r, "421 4.7.0"));
	free(r);
	/* Connection lost in DATA: nothing stored. */
	r = session(f, "LHLO c\r\nMAIL FROM:<>\r\n"
	    "RCPT TO:<alice@example.test>\r\nDATA\r\nSubject: cut\r\n");
	assert_non_null(strstr(r, "354 "));
	assert_null(strstr(r, "stored"));
	free(r);
	assert_int_equal(count_msgs(f, "alice@example.test"), 0);
	buf_free(&s);
}

static void
test_session_no_users_db(void **state)
{
	struct fx *f = *state;
	char *r;

	f->ctx.users_db = "/nonexistent/users.db";
	r = session(f, "LHLO c\r\nMAIL FROM:<>\r\n"
	    "RCPT TO:<alice@example.test>\r\nDATA\r\n");
	assert_non_null(strstr(r, "451 4.3.0 <alice@example.test>: users "
	    "database unavailable"));
	/* RFC 2033 4.2: DATA with no accepted RCPT "MUST fail with a 503". */
	assert_non_null(strstr(r, "503 5.5.1 Error: no valid recipients"));
	free(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_detail),
		cmocka_unit_test_setup_teardown(test_session_mixed, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_session_limits, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_session_no_users_db,
		    setup, teardown),
	};

	log_init("test_lmtp", LOG_TARGET_STDERR, LOG_LEVEL_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
