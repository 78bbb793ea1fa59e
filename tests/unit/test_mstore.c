/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * Unit tests for the mail store (mstore.h) in a temporary directory: CRLF
 * round trip and sizes, UIDs across reopen, two handles on one user (as two
 * processes) seeing each other's flag changes and expunges with the right
 * sequence numbers, Maildir changes by another program, folder names
 * (traversal, modified UTF-7), INBOX rename, delete with children, the
 * POP3 lock, subscriptions, status and the cache.
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "lib/buf.h"
#include "store/mstore.h"

#define USER	"Alice@Example.TEST"

struct fx {
	char		 root[64];
	char		 udir[128];
	struct mstore	*st;
};

static int
rm_rf(const char *path)
{
	char cmd[320];

	(void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	return system(cmd);
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	const char *err = NULL;

	assert_non_null(f);
	(void)snprintf(f->root, sizeof(f->root), "/tmp/test_mstore.XXXXXX");
	assert_non_null(mkdtemp(f->root));
	(void)snprintf(f->udir, sizeof(f->udir), "%s/example.test/alice",
	    f->root);
	assert_int_equal(mstore_open(f->root, USER, 1, &f->st, &err), 1);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	mstore_close(&f->st);
	assert_null(f->st);
	assert_int_equal(rm_rf(f->root), 0);
	free(f);
	return 0;
}

static uint32_t
add(struct mstore *st, const char *folder, const char *msg)
{
	const char *err = NULL;
	uint32_t uid = 0, uv = 0;

	assert_int_equal(mstore_add(st, folder, msg, strlen(msg), 0, NULL, 0,
	    &uv, &uid, &err), 1);
	assert_true(uv > 0);
	return uid;
}

static int
count_files(const char *dir)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	int n = 0;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

static void
test_open_layout(void **state)
{
	struct fx *f = *state;
	struct mstore *st = NULL;
	const char *err = NULL;
	char p[256];
	struct stat sb;

	(void)snprintf(p, sizeof(p), "%s/new", f->udir);
	assert_int_equal(stat(p, &sb), 0);
	assert_true(S_ISDIR(sb.st_mode));
	(void)snprintf(p, sizeof(p), "%s/index.db", f->udir);
	assert_int_equal(stat(p, &sb), 0);
	/* Not there and not created: 0. */
	assert_int_equal(mstore_open(f->root, "bob@example.test", 0, &st,
	    &err), 0);
	assert_null(st);
	/* Escaping: nothing outside root. */
	assert_int_equal(mstore_open(f->root, "../../x@..", 1, &st, &err), 1);
	mstore_close(&st);
	(void)snprintf(p, sizeof(p), "%s/%%2e./%%2e.%%2f..%%2fx",
	    f->root);
	assert_int_equal(stat(p, &sb), 0);
	assert_int_equal(mstore_open(f->root, "nobody", 1, &st, &err), -1);
	assert_int_equal(mstore_open("relative", USER, 1, &st, &err), -1);
}

static void
test_add_read_crlf(void **state)
{
	struct fx *f = *state;
	const char *msg = "Subject: hi\r\nX: y\r\n\r\nline1\r\nline2\n.\r\n";
	struct buf b = BUF_INIT(0);
	struct mbox *mb = NULL;
	const struct mbox_msg *m;
	const char *err = NULL;
	char p[512], raw[256];
	struct dirent *de;
	DIR *d;
	int fd;
	ssize_t n;

	assert_int_equal(add(f->st, "INBOX", msg), 1);
	/* Stored with LF in new/. */
	(void)snprintf(p, sizeof(p), "%s/new", f->udir);
	assert_non_null(d = opendir(p));
	while ((de = readdir(d)) != NULL && de->d_name[0] == '.')
		;
	assert_non_null(de);
	(void)snprintf(p, sizeof(p), "%s/new/%s", f->udir, de->d_name);
	closedir(d);
	assert_true((fd = open(p, O_RDONLY)) != -1);
	n = read(fd, raw, sizeof(raw));
	close(fd);
	assert_int_equal(n, 32);
	assert_memory_equal(raw, "Subject: hi\nX: y\n\nline1\nline2\n.\n", 32);

	assert_int_equal(mbox_open(f->st, "inbox", 0, &mb, &err), 1);
	assert_int_equal(mbox_count(mb), 1);
	m = mbox_msg(mb, 1);
	assert_int_equal(m->uid, 1);
	assert_int_equal(m->size, 38);
	assert_true(m->flags & MSG_RECENT);
	assert_string_equal(m->keywords, "");
	assert_int_equal(mbox_read(mb, 1, 0, &b, &err), 1);
	assert_int_equal(b.len, 38);
	assert_string_equal(buf_cstr(&b),
	    "Subject: hi\r\nX: y\r\n\r\nline1\r\nline2\r\n.\r\n");
	buf_reset(&b);
	assert_int_equal(mbox_read(mb, 1, 1, &b, &err), 1);
	assert_string_equal(buf_cstr(&b), "Subject: hi\r\nX: y\r\n\r\n");
	buf_reset(&b);
	assert_int_equal(mbox_read(mb, 2, 0, &b, &err), -1);
	buf_free(&b);
	mbox_close(&mb);
	assert_null(mb);
	/* Recent only for the first read-write session. */
	assert_int_equal(mbox_open(f->st, "INBOX", 0, &mb, &err), 1);
	assert_false(mbox_msg(mb, 1)->flags & MSG_RECENT);
	mbox_close(&mb);
}

static void
test_uids_reopen(void **state)
{
	struct fx *f = *state;
	struct mbox_status ms;
	const char *err = NULL;
	uint32_t uv1, uv2;

	assert_int_equal(add(f->st, "INBOX", "a\n"), 1);
	assert_int_equal(add(f->st, "INBOX", "b\n"), 2);
	assert_int_equal(mstore_folder_status(f->st, "INBOX", &ms, &err), 1);
	uv1 = ms.uidvalidity;
	assert_int_equal(ms.messages, 2);
	assert_int_equal(ms.recent, 2);
	assert_int_equal(ms.unseen, 2);
	assert_int_equal(ms.uidnext, 3);
	mstore_close(&f->st);
	assert_int_equal(mstore_open(f->root, USER, 0, &f->st, &err), 1);
	assert_int_equal(add(f->st, "INBOX", "c\n"), 3);
	assert_int_equal(mstore_folder_status(f->st, "INBOX", &ms, &err), 1);
	uv2 = ms.uidvalidity;
	assert_int_equal(uv1, uv2);
	assert_int_equal(ms.uidnext, 4);
	assert_true(ms.highestmodseq >= 4);
}

struct events {
	char	log[512];
};

static void
ev_exp(void *arg, uint32_t seq)
{
	struct events *e = arg;
	size_t l = strlen(e->log);

	(void)snprintf(e->log + l, sizeof(e->log) - l, "X%u ", seq);
}

static void
ev_flags(void *arg, uint32_t seq)
{
	struct events *e = arg;
	size_t l = strlen(e->log);

	(void)snprintf(e->log + l, sizeof(e->log) - l, "F%u ", seq);
}

static void
ev_exists(void *arg, uint32_t count, uint32_t recent)
{
	struct events *e = arg;
	size_t l = strlen(e->log);

	(void)snprintf(e->log + l, sizeof(e->log) - l, "E%u/%u ", count,
	    recent);
}

static void
test_two_handles(void **state)
{
	struct fx *f = *state;
	struct mstore *st2 = NULL;
	struct mbox *a = NULL, *b = NULL;
	struct events ev;
	struct mbox_sync_cb cb = { ev_exp, ev_flags, ev_exists, &ev };
	const char *err = NULL;
	int i;

	for (i = 0; i < 5; i++)
		(void)add(f->st, "INBOX", "m\n");
	assert_int_equal(mstore_open(f->root, USER, 0, &st2, &err), 1);
	assert_int_equal(mbox_open(f->st, "INBOX", 0, &a, &err), 1);
	assert_int_equal(mbox_open(st2, "INBOX", 0, &b, &err), 1);
	assert_int_equal(mbox_count(b), 5);
	/* a: \Seen on 2, \Deleted on 2 and 4, expunge. */
	assert_int_equal(mbox_store(a, 2, '+', MSG_SEEN, "$Junk work", 0,
	    &err), 1);
	assert_int_equal(mbox_store(a, 3, '+', MSG_FLAGGED, NULL, 0, &err),
	    1);
	memset(&ev, 0, sizeof(ev));
	assert_int_equal(mbox_sync(b, 1, &cb, &err), 1);
	assert_string_equal(ev.log, "F2 F3 ");
	assert_int_equal(mbox_msg(b, 2)->flags, MSG_SEEN);
	assert_string_equal(mbox_msg(b, 2)->keywords, "$Junk work");
	assert_int_equal(mbox_store(a, 2, '+', MSG_DELETED, NULL, 0, &err),
	    1);
	assert_int_equal(mbox_store(a, 4, '+', MSG_DELETED, NULL, 0, &err),
	    1);
	memset(&ev, 0, sizeof(ev));
	assert_int_equal(mbox_expunge(a, NULL, 0, ev_exp, &ev, &err), 1);
	assert_string_equal(ev.log, "X2 X3 ");
	assert_int_equal(mbox_count(a), 3);
	/* b defers expunges when told to, then reports them. */
	(void)add(f->st, "INBOX", "new\n");
	memset(&ev, 0, sizeof(ev));
	assert_int_equal(mbox_sync(b, 0, &cb, &err), 1);
	assert_string_equal(ev.log, "E6/1 ");
	assert_int_equal(mbox_count(b), 6);
	memset(&ev, 0, sizeof(ev));
	assert_int_equal(mbox_sync(b, 1, &cb, &err), 1);
	assert_string_equal(ev.log, "X2 X3 ");
	assert_int_equal(mbox_count(b), 4);
	assert_int_equal(mbox_msg(b, 4)->uid, 6);
	assert_int_equal(mbox_seq_of_uid(b, 5), 3);
	assert_int_equal(mbox_seq_of_uid(b, 2), 0);
	/* Nothing new: no callbacks. */
	memset(&ev, 0, sizeof(ev));
	assert_int_equal(mbox_sync(b, 1, &cb, &err), 1);
	assert_string_equal(ev.log, "");
	/* a sees the new one as recent? b claimed it first: no. */
	memset(&ev, 0, sizeof(ev));
	assert_int_equal(mbox_sync(a, 1, &cb, &err), 1);
	assert_string_equal(ev.log, "E4/3 ");
	/* UNCHANGEDSINCE. */
	assert_int_equal(mbox_store(a, 1, '+', MSG_ANSWERED, NULL, 1, &err),
	    0);
	assert_int_equal(mbox_store(a, 1, '=', MSG_ANSWERED, "x", 0, &err),
	    1);
	assert_int_equal(mbox_msg(a, 1)->flags, MSG_ANSWERED | MSG_RECENT);
	assert_int_equal(mbox_store(a, 1, '-', 0, "x", 0, &err), 1);
	assert_string_equal(mbox_msg(a, 1)->keywords, "");
	mbox_close(&a);
	mbox_close(&b);
	mstore_close(&st2);
}

/* More messages than one block of loaded entries (64), changes on both. */
static void
test_many(void **state)
{
	struct fx *f = *state;
	struct mstore *st2 = NULL;
	struct mbox *a = NULL, *b = NULL;
	struct events ev;
	struct mbox_sync_cb cb = { ev_exp, ev_flags, ev_exists, &ev };
	const char *err = NULL;
	char body[32];
	uint32_t i, uids[3] = { 3, 70, 140 };

	for (i = 1; i <= 150; i++) {
		(void)snprintf(body, sizeof(body), "m%u\n", i);
		assert_int_equal(add(f->st, "INBOX", body), i);
	}
	assert_int_equal(mstore_open(f->root, USER, 0, &st2, &err), 1);
	assert_int_equal(mbox_open(f->st, "INBOX", 0, &a, &err), 1);
	assert_int_equal(mbox_open(st2, "INBOX", 0, &b, &err), 1);
	for (i = 1; i <= 150; i++) {
		assert_int_equal(mbox_msg(b, i)->uid, i);
		assert_int_equal(mbox_msg(b, i)->size, i < 10 ? 4 : i < 100 ?
		    5 : 6);
	}
	/* a: keywords on 70 (b must hear of it), \Deleted on 3, 70, 140. */
	assert_int_equal(mbox_store(a, 70, '+', 0, "tag", 0, &err), 1);
	memset(&ev, 0, sizeof(ev));
	assert_int_equal(mbox_sync(b, 1, &cb, &err), 1);
	assert_string_equal(ev.log, "F70 ");
	assert_string_equal(mbox_msg(b, 70)->keywords, "tag");
	/* b's own keyword change is not echoed back to b. */
	assert_int_equal(mbox_store(b, 71, '+', 0, "mine", 0, &err), 1);
	assert_string_equal(mbox_msg(b, 71)->keywords, "mine");
	memset(&ev, 0, sizeof(ev));
	assert_int_equal(mbox_sync(b, 1, &cb, &err), 1);
	assert_string_equal(ev.log, "");
	for (i = 0; i < 3; i++)
		assert_int_equal(mbox_store(a, uids[i], '+', MSG_DELETED,
		    NULL, 0, &err), 1);
	memset(&ev, 0, sizeof(ev));
	assert_int_equal(mbox_expunge(a, uids, 3, ev_exp, &ev, &err), 1);
	assert_string_equal(ev.log, "X3 X69 X138 ");
	memset(&ev, 0, sizeof(ev));
	assert_int_equal(mbox_sync(b, 1, &cb, &err), 1);
	assert_string_equal(ev.log, "X3 X69 X138 ");
	assert_int_equal(mbox_count(b), 147);
	assert_int_equal(mbox_msg(b, 69)->uid, 71);
	assert_string_equal(mbox_msg(b, 69)->keywords, "mine");
	assert_int_equal(mbox_msg(b, 147)->uid, 150);
	assert_int_equal(mbox_seq_of_uid(b, 141), 138);
	assert_null(mbox_msg(b, 148));
	/* Flags from the snapshot alone; released entries read again. */
	assert_int_equal(mbox_store(b, 100, '+', MSG_SEEN | MSG_FLAGGED,
	    NULL, 0, &err), 1);
	for (i = 1; i <= 147; i++)
		assert_int_equal(mbox_flags(b, i), mbox_msg(b, i)->flags);
	assert_int_equal(mbox_flags(b, 100), MSG_SEEN | MSG_FLAGGED);
	assert_int_equal(mbox_flags(b, 0), 0);
	assert_int_equal(mbox_flags(b, 148), 0);
	mbox_release(b);
	assert_int_equal(mbox_msg(b, 100)->flags, MSG_SEEN | MSG_FLAGGED);
	assert_int_equal(mbox_msg(b, 100)->uid, 102);
	assert_int_equal(mbox_msg(b, 100)->size, 6);
	assert_string_equal(mbox_msg(b, 69)->keywords, "mine");
	assert_int_equal(mbox_flags(b, 100), MSG_SEEN | MSG_FLAGGED);
	mbox_close(&a);
	mbox_close(&b);
	mstore_close(&st2);
}

static void
test_readonly(void **state)
{
	struct fx *f = *state;
	struct mbox *mb = NULL;
	const char *err = NULL;
	struct mbox_status ms;

	(void)add(f->st, "INBOX", "m\n");
	assert_int_equal(mbox_open(f->st, "INBOX", 1, &mb, &err), 1);
	assert_false(mbox_msg(mb, 1)->flags & MSG_RECENT);
	assert_int_equal(mbox_store(mb, 1, '+', MSG_SEEN, NULL, 0, &err), -1);
	assert_int_equal(mbox_expunge(mb, NULL, 0, NULL, NULL, &err), -1);
	mbox_close(&mb);
	assert_int_equal(mstore_folder_status(f->st, "INBOX", &ms, &err), 1);
	assert_int_equal(ms.recent, 1);
}

/* SELECT (a read-write open) clears tmp/ of files 36 hours old or more:
 * deliveries that died half-way. Younger ones, which may be in progress,
 * and directories stay; a read-only open (EXAMINE) touches nothing. */
static void
test_clean_tmp(void **state)
{
	struct fx *f = *state;
	struct mbox *mb = NULL;
	const char *err = NULL;
	struct timespec ts[2];
	char p[256];
	int fd;

	(void)add(f->st, "INBOX", "m\n");
	(void)snprintf(p, sizeof(p), "%s/tmp/old", f->udir);
	assert_true((fd = open(p, O_WRONLY | O_CREAT, 0600)) >= 0);
	ts[0].tv_sec = ts[1].tv_sec = time(NULL) - 37 * 3600;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	assert_int_equal(futimens(fd, ts), 0);
	assert_int_equal(close(fd), 0);
	(void)snprintf(p, sizeof(p), "%s/tmp/young", f->udir);
	assert_true((fd = open(p, O_WRONLY | O_CREAT, 0600)) >= 0);
	ts[0].tv_sec = ts[1].tv_sec = time(NULL) - 35 * 3600;
	assert_int_equal(futimens(fd, ts), 0);
	assert_int_equal(close(fd), 0);
	(void)snprintf(p, sizeof(p), "%s/tmp/olddir", f->udir);
	assert_int_equal(mkdir(p, 0700), 0);
	ts[0].tv_sec = ts[1].tv_sec = time(NULL) - 37 * 3600;
	assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);

	assert_int_equal(mbox_open(f->st, "INBOX", 1, &mb, &err), 1);
	mbox_close(&mb);
	(void)snprintf(p, sizeof(p), "%s/tmp/old", f->udir);
	assert_int_equal(access(p, F_OK), 0);	/* EXAMINE: untouched */

	assert_int_equal(mbox_open(f->st, "INBOX", 0, &mb, &err), 1);
	assert_int_equal(mbox_count(mb), 1);
	mbox_close(&mb);
	assert_int_equal(access(p, F_OK), -1);
	(void)snprintf(p, sizeof(p), "%s/tmp/young", f->udir);
	assert_int_equal(access(p, F_OK), 0);
	(void)snprintf(p, sizeof(p), "%s/tmp/olddir", f->udir);
	assert_int_equal(access(p, F_OK), 0);
}

static void
test_external_changes(void **state)
{
	struct fx *f = *state;
	struct mbox *mb = NULL;
	struct events ev;
	struct mbox_sync_cb cb = { ev_exp, ev_flags, ev_exists, &ev };
	const char *err = NULL;
	struct buf b = BUF_INIT(0);
	char p[256], q[256];
	FILE *fp;

	(void)add(f->st, "INBOX", "one\n");
	(void)add(f->st, "INBOX", "two\n");
	assert_int_equal(mbox_open(f->st, "INBOX", 0, &mb, &err), 1);
	assert_int_equal(mbox_count(mb), 2);
	/* Another program drops a file into new/ and one into cur/. */
	(void)snprintf(p, sizeof(p), "%s/new/100.ext1.host", f->udir);
	assert_non_null(fp = fopen(p, "w"));
	fputs("Subject: ext\n\nbody\n", fp);
	fclose(fp);
	(void)snprintf(p, sizeof(p), "%s/cur/101.ext2.host:2,FS", f->udir);
	assert_non_null(fp = fopen(p, "w"));
	fputs("x\r\n", fp);
	fclose(fp);
	memset(&ev, 0, sizeof(ev));
	assert_int_equal(mbox_sync(mb, 1, &cb, &err), 1);
	assert_string_equal(ev.log, "E4/4 ");
	assert_int_equal(mbox_msg(mb, 3)->uid, 3);
	assert_int_equal(mbox_msg(mb, 3)->size, 22);
	assert_int_equal(mbox_msg(mb, 4)->flags, MSG_SEEN | MSG_FLAGGED |
	    MSG_RECENT);
	assert_int_equal(mbox_msg(mb, 4)->size, 3);
	assert_int_equal(mbox_read(mb, 4, 0, &b, &err), 1);
	assert_string_equal(buf_cstr(&b), "x\r\n");
	/* It renames a flag letter away, then removes the first file. */
	(void)snprintf(q, sizeof(q), "%s/cur/101.ext2.host:2,S", f->udir);
	assert_int_equal(rename(p, q), 0);
	(void)snprintf(p, sizeof(p), "%s/new/100.ext1.host", f->udir);
	assert_int_equal(unlink(p), 0);
	memset(&ev, 0, sizeof(ev));
	assert_int_equal(mbox_sync(mb, 1, &cb, &err), 1);
	assert_string_equal(ev.log, "X3 F3 ");
	assert_int_equal(mbox_msg(mb, 3)->flags, MSG_SEEN | MSG_RECENT);
	/* Rename behind our back, then read: found again. */
	(void)snprintf(p, sizeof(p), "%s/cur/101.ext2.host:2,ST", f->udir);
	assert_int_equal(rename(q, p), 0);
	buf_reset(&b);
	assert_int_equal(mbox_read(mb, 3, 0, &b, &err), 1);
	assert_int_equal(unlink(p), 0);
	buf_reset(&b);
	assert_int_equal(mbox_read(mb, 3, 0, &b, &err), 0);
	assert_string_equal(err, "message vanished");
	buf_free(&b);
	mbox_close(&mb);
	/* A fresh index is rebuilt from the Maildir. */
	mstore_close(&f->st);
	(void)snprintf(p, sizeof(p), "%s/index.db", f->udir);
	assert_int_equal(unlink(p), 0);
	(void)snprintf(p, sizeof(p), "%s/index.db-wal", f->udir);
	(void)unlink(p);
	(void)snprintf(p, sizeof(p), "%s/index.db-shm", f->udir);
	(void)unlink(p);
	assert_int_equal(mstore_open(f->root, USER, 0, &f->st, &err), 1);
	assert_int_equal(mbox_open(f->st, "INBOX", 0, &mb, &err), 1);
	assert_int_equal(mbox_count(mb), 2);
	mbox_close(&mb);
}

static void
test_names(void **state)
{
	struct fx *f = *state;
	static const char *const bad[] = {
		"", "..", ".", "a..b", ".a", "a.", "a/b", "/etc", "a\\b",
		"a\tb", "a\x7f", "caf\xc3\xa9", "&", "&Jjo", "&AGE",
		"&-&ZZZ-", "&AGEA-", "&AEE-", "a*", "%", "../../etc/passwd",
	};
	static const char *const good[] = {
		"INBOX", "inbox", "Sent", "Work.Projects", "caf&AOk-",
		"&-amp", "a b", "&Jjo-!", "&2D3cAA-",
	};
	const char *err = NULL;
	char big[300];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err = NULL;
		assert_int_equal(mstore_name_ok(bad[i], &err), 0);
		assert_non_null(err);
		assert_int_equal(strncmp(err, "invalid mailbox name", 20), 0);
		assert_int_equal(mstore_folder_create(f->st, bad[i], &err),
		    -1);
	}
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_int_equal(mstore_name_ok(good[i], &err), 1);
	memset(big, 'a', sizeof(big));
	big[256] = '\0';
	assert_int_equal(mstore_name_ok(big, &err), 0);
	assert_int_equal(mstore_name_ok(NULL, &err), 0);
	/* Nothing was created outside the user directory. */
	assert_int_equal(count_files(f->root), 1);
}

static int
collect(void *arg, const char *name, int noselect, int has_children)
{
	struct buf *b = arg;

	(void)buf_appendf(b, "%s%s%s ", name, noselect ? "/n" : "",
	    has_children ? "/c" : "");
	return 0;
}

/* Children are found by a binary search in the sorted names: names that
 * sort between "A" and "A." ('-' < '.') or after it ('0' > '.') are not
 * children; a deep child alone makes its ancestors have children. */
static void
test_children(void **state)
{
	static const char *const names[] = { "A", "A-x", "A0", "A.b", "B",
	    "B.c.d", "C" };
	struct fx *f = *state;
	struct buf b = BUF_INIT(0);
	const char *err = NULL;
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		assert_int_equal(mstore_folder_create(f->st, names[i], &err),
		    1);
	assert_int_equal(mstore_folder_foreach(f->st, collect, &b), 9);
	assert_string_equal(buf_cstr(&b), "INBOX A/c A-x A.b A0 B/c B.c/c "
	    "B.c.d C ");
	buf_free(&b);
}

static void
test_folders(void **state)
{
	struct fx *f = *state;
	struct buf b = BUF_INIT(0);
	const char *err = NULL;
	struct mbox *mb = NULL;

	assert_int_equal(mstore_folder_create(f->st, "Work.Projects.X", &err),
	    1);
	assert_int_equal(mstore_folder_create(f->st, "Work", &err), -1);
	assert_string_equal(err, "mailbox exists");
	assert_int_equal(mstore_folder_create(f->st, "INBOX", &err), -1);
	assert_int_equal(mstore_folder_create(f->st, "Sent", &err), 1);
	assert_int_equal(mstore_folder_foreach(f->st, collect, &b), 5);
	assert_string_equal(buf_cstr(&b), "INBOX Sent Work/c Work.Projects/c "
	    "Work.Projects.X ");
	(void)add(f->st, "Work", "w\n");
	/* Delete with children: \Noselect, messages gone. */
	assert_int_equal(mstore_folder_delete(f->st, "Work", &err), 1);
	assert_int_equal(mbox_open(f->st, "Work", 0, &mb, &err), 0);
	assert_int_equal(mstore_add(f->st, "Work", "x", 1, 0, NULL, 0, NULL,
	    NULL, &err), 0);
	assert_int_equal(mstore_folder_delete(f->st, "Work", &err), -1);
	assert_string_equal(err, "mailbox has children");
	buf_reset(&b);
	assert_int_equal(mstore_folder_foreach(f->st, collect, &b), 5);
	assert_string_equal(buf_cstr(&b), "INBOX Sent Work/n/c "
	    "Work.Projects/c Work.Projects.X ");
	assert_int_equal(mstore_folder_delete(f->st, "INBOX", &err), -1);
	assert_int_equal(mstore_folder_delete(f->st, "Nope", &err), 0);
	/* Recreating a \Noselect folder makes it selectable, new UIDs. */
	assert_int_equal(mstore_folder_create(f->st, "Work", &err), 1);
	assert_int_equal(add(f->st, "Work", "w\n"), 1);
	/* Rename with children. */
	assert_int_equal(mstore_folder_rename(f->st, "Work", "Old.Work", &err),
	    1);
	assert_int_equal(mstore_folder_rename(f->st, "Sent", "Old", &err), -1);
	assert_int_equal(mstore_folder_rename(f->st, "Nope", "X", &err), 0);
	assert_int_equal(mstore_folder_rename(f->st, "Sent", "Sent.Sub",
	    &err), -1);
	buf_reset(&b);
	assert_int_equal(mstore_folder_foreach(f->st, collect, &b), 6);
	assert_string_equal(buf_cstr(&b), "INBOX Old/c Old.Work/c "
	    "Old.Work.Projects/c Old.Work.Projects.X Sent ");
	assert_int_equal(mbox_open(f->st, "Old.Work", 0, &mb, &err), 1);
	assert_int_equal(mbox_count(mb), 1);
	mbox_close(&mb);
	assert_int_equal(mstore_folder_exists(f->st, "old.work"), 0);
	assert_int_equal(mstore_folder_exists(f->st, "Old.Work"), 1);
	buf_free(&b);
}

static void
test_rename_inbox(void **state)
{
	struct fx *f = *state;
	struct mbox_status ms;
	const char *err = NULL;
	struct mbox *mb = NULL;
	struct buf b = BUF_INIT(0);

	(void)add(f->st, "INBOX", "1\n");
	(void)add(f->st, "INBOX", "2\n");
	assert_int_equal(mstore_folder_rename(f->st, "INBOX", "Archive",
	    &err), 1);
	assert_int_equal(mstore_folder_status(f->st, "INBOX", &ms, &err), 1);
	assert_int_equal(ms.messages, 0);
	assert_int_equal(ms.uidnext, 3);	/* never reused */
	assert_int_equal(mbox_open(f->st, "Archive", 0, &mb, &err), 1);
	assert_int_equal(mbox_count(mb), 2);
	assert_int_equal(mbox_read(mb, 2, 0, &b, &err), 1);
	assert_string_equal(buf_cstr(&b), "2\r\n");
	mbox_close(&mb);
	assert_int_equal(add(f->st, "INBOX", "3\n"), 3);
	assert_int_equal(mstore_folder_rename(f->st, "Archive", "INBOX",
	    &err), -1);
	buf_free(&b);
}

static void
test_copy_usage(void **state)
{
	struct fx *f = *state;
	struct mbox *mb = NULL;
	const char *err = NULL;
	uint32_t uid = 0, uv = 0;
	uint64_t used = 0;

	assert_int_equal(mstore_add(f->st, "INBOX", "ab\r\n", 4, MSG_SEEN,
	    "k1", 1000000, NULL, NULL, &err), 1);
	assert_int_equal(mstore_folder_create(f->st, "Copy", &err), 1);
	assert_int_equal(mbox_open(f->st, "INBOX", 0, &mb, &err), 1);
	assert_int_equal(mbox_msg(mb, 1)->internaldate, 1000000);
	assert_int_equal(mbox_msg(mb, 1)->flags, MSG_SEEN | MSG_RECENT);
	assert_int_equal(mbox_copy(mb, 1, "Copy", &uv, &uid, &err), 1);
	assert_int_equal(uid, 1);
	assert_int_equal(mbox_copy(mb, 1, "Nope", &uv, &uid, &err), 0);
	mbox_close(&mb);
	assert_int_equal(mbox_open(f->st, "Copy", 1, &mb, &err), 1);
	assert_int_equal(mbox_msg(mb, 1)->flags, MSG_SEEN);
	assert_string_equal(mbox_msg(mb, 1)->keywords, "k1");
	assert_int_equal(mbox_msg(mb, 1)->internaldate, 1000000);
	mbox_close(&mb);
	assert_int_equal(mstore_usage(f->st, &used, &err), 1);
	assert_int_equal(used, 8);
}

/* A folder whose directory another program removed stops counting
 * towards the usage (the quota), though no session ever syncs it again. */
static void
test_usage_vanished(void **state)
{
	struct fx *f = *state;
	const char *err = NULL;
	uint64_t used = 0;
	char p[256];

	assert_int_equal(mstore_add(f->st, "INBOX", "ab\r\n", 4, 0, NULL, 0,
	    NULL, NULL, &err), 1);
	assert_int_equal(mstore_folder_create(f->st, "Old", &err), 1);
	assert_int_equal(mstore_add(f->st, "Old", "abcdef\r\n", 8, 0, NULL,
	    0, NULL, NULL, &err), 1);
	assert_int_equal(mstore_usage(f->st, &used, &err), 1);
	assert_int_equal(used, 12);
	(void)snprintf(p, sizeof(p), "%s/.Old", f->udir);
	assert_int_equal(rm_rf(p), 0);
	assert_int_equal(mstore_usage(f->st, &used, &err), 1);
	assert_int_equal(used, 4);
}

/* What the store must give back for s: CRs before LFs dropped (stored),
 * then every LF not after a CR shown as CRLF. */
static void
crlf_reference(const char *s, size_t n, struct buf *out)
{
	char last = '\0';
	size_t i;

	for (i = 0; i < n; i++) {
		if (s[i] == '\r' && i + 1 < n && s[i + 1] == '\n')
			continue;
		if (s[i] == '\n' && last != '\r')
			assert_int_equal(buf_appendc(out, '\r'), 1);
		assert_int_equal(buf_appendc(out, s[i]), 1);
		last = s[i];
	}
}

/* mstore_addv with the message cut in two at every point stores what
 * mstore_add stores for it whole, and its size is what reading gives. */
static void
test_addv_pieces(void **state)
{
	static const char *const msgs[] = {
		"A: b\r\n\r\nx\r\n",
		"A: b\n\nx\ny",
		"A\r\r\nb\r\r\r\n\rc\r",
		"\r\n\n\r\r\n.\r",
		"x\ry\n\r",
	};
	struct fx *f = *state;
	struct buf want = BUF_INIT(0), got = BUF_INIT(0);
	struct iovec iov[2];
	struct mbox *mb = NULL;
	const char *err = NULL;
	uint32_t uid, seq;
	size_t i, k, n;

	for (i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
		n = strlen(msgs[i]);
		buf_reset(&want);
		crlf_reference(msgs[i], n, &want);
		for (k = 0; k <= n; k++) {
			iov[0].iov_base = (void *)(uintptr_t)msgs[i];
			iov[0].iov_len = k;
			iov[1].iov_base = (void *)(uintptr_t)(msgs[i] + k);
			iov[1].iov_len = n - k;
			assert_int_equal(mstore_addv(f->st, "INBOX", iov, 2, 0,
			    NULL, 0, NULL, &uid, &err), 1);
			assert_int_equal(mbox_open(f->st, "INBOX", 1, &mb,
			    &err), 1);
			seq = mbox_seq_of_uid(mb, uid);
			buf_reset(&got);
			assert_int_equal(mbox_read(mb, seq, 0, &got, &err), 1);
			assert_int_equal(got.len, want.len);
			assert_memory_equal(got.data, want.data, want.len);
			assert_int_equal(mbox_msg(mb, seq)->size, want.len);
			mbox_close(&mb);
		}
	}
	buf_free(&want);
	buf_free(&got);
}

/* With a quota set, mstore_add refuses what would exceed it (every
 * folder counts), leaves nothing behind, and takes what still fits. */
static void
test_add_quota(void **state)
{
	struct fx *f = *state;
	const char *err = NULL;
	uint64_t used = 0;
	char p[256];

	assert_int_equal(mstore_folder_create(f->st, "Old", &err), 1);
	assert_int_equal(mstore_add(f->st, "Old", "abcdef\r\n", 8, 0, NULL,
	    0, NULL, NULL, &err), 1);
	mstore_set_quota(f->st, 20);
	assert_int_equal(mstore_add(f->st, "INBOX", "0123456789\r\n", 12, 0,
	    NULL, 0, NULL, NULL, &err), 1);
	err = NULL;
	assert_int_equal(mstore_add(f->st, "INBOX", "ab\r\n", 4, 0, NULL, 0,
	    NULL, NULL, &err), -1);
	assert_string_equal(err, MSTORE_ERR_QUOTA);
	assert_int_equal(mstore_usage(f->st, &used, &err), 1);
	assert_int_equal(used, 20);
	(void)snprintf(p, sizeof(p), "%s/tmp", f->udir);
	assert_int_equal(count_files(p), 0);
	mstore_set_quota(f->st, 24);
	assert_int_equal(mstore_add(f->st, "INBOX", "ab\r\n", 4, 0, NULL, 0,
	    NULL, NULL, &err), 1);
	mstore_set_quota(f->st, 0);
	assert_int_equal(mstore_add(f->st, "INBOX", "ab\r\n", 4, 0, NULL, 0,
	    NULL, NULL, &err), 1);
}

/* mbox_copy counts against the quota too, also inside a batch (where the
 * usage is read once and then counted on): the copy that would exceed it
 * is refused and leaves no file; expunges and the batch's end make the
 * store read the usage again. */
static void
test_copy_quota(void **state)
{
	struct fx *f = *state;
	const char *err = NULL;
	struct mbox *mb = NULL;
	uint32_t uid = 0;
	uint64_t used = 0;
	char p[256];

	assert_int_equal(mstore_folder_create(f->st, "Copy", &err), 1);
	assert_int_equal(mstore_add(f->st, "INBOX", "0123456789\r\n", 12, 0,
	    NULL, 0, NULL, NULL, &err), 1);
	assert_int_equal(mbox_open(f->st, "INBOX", 0, &mb, &err), 1);
	mstore_set_quota(f->st, 30);
	assert_int_equal(mstore_batch_begin(f->st, &err), 1);
	assert_int_equal(mbox_copy(mb, 1, "Copy", NULL, &uid, &err), 1);
	err = NULL;
	assert_int_equal(mbox_copy(mb, 1, "Copy", NULL, &uid, &err), -1);
	assert_string_equal(err, MSTORE_ERR_QUOTA);
	/* Still refused: the failed add left the count as it was. */
	err = NULL;
	assert_int_equal(mbox_copy(mb, 1, "Copy", NULL, &uid, &err), -1);
	assert_string_equal(err, MSTORE_ERR_QUOTA);
	/* 6 more octets fit in the same batch. */
	assert_int_equal(mstore_add(f->st, "Copy", "ab\r\n", 4, 0, NULL, 0,
	    NULL, NULL, &err), 1);
	assert_int_equal(mstore_add(f->st, "Copy", "a\r\n", 3, 0, NULL, 0,
	    NULL, NULL, &err), -1);
	assert_int_equal(mstore_batch_end(f->st, &err), 1);
	assert_int_equal(mstore_usage(f->st, &used, &err), 1);
	assert_int_equal(used, 28);
	(void)snprintf(p, sizeof(p), "%s/.Copy/tmp", f->udir);
	assert_int_equal(count_files(p), 0);
	(void)snprintf(p, sizeof(p), "%s/.Copy/new", f->udir);
	assert_int_equal(count_files(p), 2);
	/* After an expunge in a batch the room is there again (the count
	 * an add started is not trusted past it). */
	mstore_set_quota(f->st, 32);
	assert_int_equal(mstore_batch_begin(f->st, &err), 1);
	assert_int_equal(mstore_add(f->st, "Copy", "a\r\n", 3, 0, NULL, 0,
	    NULL, NULL, &err), 1);
	assert_int_equal(mbox_copy(mb, 1, "Copy", NULL, &uid, &err), -1);
	assert_int_equal(mbox_store(mb, 1, '+', MSG_DELETED, NULL, 0, &err),
	    1);
	assert_int_equal(mbox_expunge(mb, NULL, 0, NULL, NULL, &err), 1);
	assert_int_equal(mstore_add(f->st, "INBOX", "0123456789\r\n", 12, 0,
	    NULL, 0, NULL, NULL, &err), 1);
	assert_int_equal(mstore_batch_end(f->st, &err), 1);
	mbox_close(&mb);
}

/* A spool written in odd pieces (a CRLF split between two writes, more
 * than one buffer's worth) gives, for the host, its whole text and, for
 * another folder, a new prefix and the text after the mark: each exact,
 * sized as mstore_add would, and nothing left in tmp/. */
static void
test_spool(void **state)
{
	struct fx *f = *state;
	struct mstore_spool *sp = NULL;
	struct buf b = BUF_INIT(0), want = BUF_INIT(0);
	struct iovec iov;
	const char *err = NULL;
	struct mbox *mb = NULL;
	char p[256];
	size_t i;

	assert_int_equal(mstore_folder_create(f->st, "Other", &err), 1);
	assert_int_equal(mstore_spool_open(f->st, &sp, &err), 1);
	assert_int_equal(mstore_spool_write(sp, "X-Host: 1\r", 10, &err), 1);
	assert_int_equal(mstore_spool_write(sp, "\n", 1, &err), 1);
	mstore_spool_mark(sp);
	assert_int_equal(mstore_spool_write(sp, "Subject: s\r\n\r", 13, &err),
	    1);
	(void)buf_appends(&want, "Subject: s\r\n\r\n");
	assert_int_equal(mstore_spool_write(sp, "\n", 1, &err), 1);
	for (i = 0; i < 20000; i++) {
		assert_int_equal(mstore_spool_write(sp, "0123456789\r\n", 12,
		    &err), 1);
		(void)buf_appends(&want, "0123456789\r\n");
	}
	assert_int_equal(mstore_spool_write(sp, "end\r", 4, &err), 1);
	(void)buf_appends(&want, "end\r");
	assert_int_equal(mstore_spool_finish(sp, &err), 1);
	assert_int_equal(mstore_add_spool(f->st, "INBOX", NULL, 0, sp, 0,
	    NULL, 0, NULL, NULL, &err), 1);
	iov.iov_base = (void *)"X-Other: 2\r\n";
	iov.iov_len = 12;
	assert_int_equal(mstore_add_spool(f->st, "Other", &iov, 1, sp, 0,
	    NULL, 0, NULL, NULL, &err), 1);
	mstore_spool_close(&sp);
	assert_null(sp);

	assert_int_equal(mbox_open(f->st, "INBOX", 1, &mb, &err), 1);
	assert_int_equal(mbox_read(mb, 1, 0, &b, &err), 1);
	assert_int_equal(mbox_msg(mb, 1)->size, b.len);
	assert_int_equal(b.len, 11 + want.len);
	assert_memory_equal(b.data, "X-Host: 1\r\n", 11);
	assert_memory_equal(b.data + 11, want.data, want.len);
	mbox_close(&mb);
	buf_reset(&b);
	assert_int_equal(mbox_open(f->st, "Other", 1, &mb, &err), 1);
	assert_int_equal(mbox_read(mb, 1, 0, &b, &err), 1);
	assert_int_equal(mbox_msg(mb, 1)->size, b.len);
	assert_int_equal(b.len, 12 + want.len);
	assert_memory_equal(b.data, "X-Other: 2\r\n", 12);
	assert_memory_equal(b.data + 12, want.data, want.len);
	mbox_close(&mb);
	(void)snprintf(p, sizeof(p), "%s/tmp", f->udir);
	assert_int_equal(count_files(p), 0);
	buf_free(&b);
	buf_free(&want);
}

/* A damaged index (here: not a database at all) is set aside and
 * rebuilt from the Maildir on the next open, instead of failing every
 * session and delivery for good. */
static void
test_damaged_index(void **state)
{
	struct fx *f = *state;
	struct mbox *mb = NULL;
	const char *err = NULL;
	char p[256];
	int fd;

	(void)add(f->st, "INBOX", "one\n");
	(void)add(f->st, "INBOX", "two\n");
	mstore_close(&f->st);
	(void)snprintf(p, sizeof(p), "%s/index.db", f->udir);
	assert_true((fd = open(p, O_WRONLY | O_TRUNC)) >= 0);
	assert_int_equal(write(fd, "garbage, not SQLite, garbage, not SQLite",
	    40), 40);
	assert_int_equal(close(fd), 0);
	(void)snprintf(p, sizeof(p), "%s/index.db-wal", f->udir);
	(void)unlink(p);	/* may not exist */
	(void)snprintf(p, sizeof(p), "%s/index.db-shm", f->udir);
	(void)unlink(p);
	assert_int_equal(mstore_open(f->root, USER, 0, &f->st, &err), 1);
	assert_int_equal(mbox_open(f->st, "INBOX", 0, &mb, &err), 1);
	assert_int_equal(mbox_count(mb), 2);
	mbox_close(&mb);
	(void)snprintf(p, sizeof(p), "%s/index.db.damaged", f->udir);
	assert_int_equal(access(p, F_OK), 0);
}

/*
 * A rebuilt index never hands out a UIDVALIDITY used before (RFC 3501
 * 2.3.1.1: its UIDs are new), even in the same second, and even when
 * folder creations pushed the earlier ones ahead of the clock: the last
 * one is kept in the file "uidvalidity", outside the index.
 */
static void
test_uidvalidity_rebuild(void **state)
{
	struct fx *f = *state;
	struct mbox_status ms;
	const char *err = NULL;
	uint32_t max = 0;
	char p[256], name[16];
	int i;

	(void)add(f->st, "INBOX", "one\n");
	for (i = 0; i < 20; i++) {
		(void)snprintf(name, sizeof(name), "F%d", i);
		assert_int_equal(mstore_folder_create(f->st, name, &err), 1);
		assert_int_equal(mstore_folder_status(f->st, name, &ms, &err),
		    1);
		assert_true(ms.uidvalidity > max);
		max = ms.uidvalidity;
	}
	mstore_close(&f->st);
	(void)snprintf(p, sizeof(p), "%s/index.db", f->udir);
	assert_int_equal(unlink(p), 0);
	(void)snprintf(p, sizeof(p), "%s/index.db-wal", f->udir);
	(void)unlink(p);	/* may not exist */
	(void)snprintf(p, sizeof(p), "%s/index.db-shm", f->udir);
	(void)unlink(p);
	assert_int_equal(mstore_open(f->root, USER, 0, &f->st, &err), 1);
	assert_int_equal(mstore_folder_status(f->st, "INBOX", &ms, &err), 1);
	assert_int_equal(ms.messages, 1);
	assert_true(ms.uidvalidity > max);
	assert_int_equal(mstore_folder_status(f->st, "F0", &ms, &err), 1);
	assert_true(ms.uidvalidity > max + 1);
}

/* A uidvalidity file holding no UIDVALIDITY (corrupt, edited by hand) is
 * written again at the next new UIDVALIDITY: the rebuild floor is back. */
static void
test_uidvalidity_file_bad(void **state)
{
	struct fx *f = *state;
	struct mbox_status ms;
	const char *err = NULL;
	char p[256], b[32];
	long long v;
	ssize_t n;
	int fd;

	(void)snprintf(p, sizeof(p), "%s/uidvalidity", f->udir);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "99999999999\n", 12), 12);
	assert_int_equal(close(fd), 0);
	assert_int_equal(mstore_folder_create(f->st, "Fresh", &err), 1);
	assert_int_equal(mstore_folder_status(f->st, "Fresh", &ms, &err), 1);
	fd = open(p, O_RDONLY);
	assert_true(fd >= 0);
	n = read(fd, b, sizeof(b) - 1);
	assert_true(n > 0);
	b[n] = '\0';
	(void)close(fd);
	v = strtoll(b, NULL, 10);
	assert_true(v > (long long)ms.uidvalidity);
	assert_true(v < (long long)UINT32_MAX);
}

/* More than MBOX_KEYWORDS_MAX octets of keywords: refused by APPEND's
 * mstore_add and by mbox_store, which leaves the message as it was. */
static void
test_keyword_cap(void **state)
{
	struct fx *f = *state;
	struct buf kw = BUF_INIT(0);
	struct mbox *mb = NULL;
	const char *err = NULL;
	int i;

	for (i = 0; kw.len <= MBOX_KEYWORDS_MAX; i++)
		assert_int_equal(buf_appendf(&kw, "%s$k%d", i ? " " : "", i),
		    1);
	assert_int_equal(mstore_add(f->st, "INBOX", "m\r\n", 3, 0, kw.data, 0,
	    NULL, NULL, &err), -1);
	assert_string_equal(err, MBOX_ERR_KEYWORDS);
	(void)add(f->st, "INBOX", "m\n");
	assert_int_equal(mbox_open(f->st, "INBOX", 0, &mb, &err), 1);
	assert_int_equal(mbox_store(mb, 1, '+', 0, "$a $b", 0, &err), 1);
	assert_int_equal(mbox_store(mb, 1, '+', 0, kw.data, 0, &err), -1);
	assert_string_equal(err, MBOX_ERR_KEYWORDS);
	assert_string_equal(mbox_msg(mb, 1)->keywords, "$a $b");
	mbox_close(&mb);
	buf_free(&kw);
}

static void
test_lock(void **state)
{
	struct fx *f = *state;
	struct mstore *st2 = NULL;
	const char *err = NULL;
	pid_t pid;
	int status;

	assert_int_equal(mstore_lock_inbox(f->st, &err), 1);
	assert_int_equal(mstore_open(f->root, USER, 0, &st2, &err), 1);
	assert_int_equal(mstore_lock_inbox(st2, &err), 0);
	/* Another process too. */
	pid = fork();
	assert_true(pid != -1);
	if (pid == 0) {
		struct mstore *st3 = NULL;

		if (mstore_open(f->root, USER, 0, &st3, &err) != 1)
			_exit(2);
		_exit(mstore_lock_inbox(st3, &err) == 0 ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(WEXITSTATUS(status), 0);
	mstore_close(&f->st);
	assert_int_equal(mstore_lock_inbox(st2, &err), 1);
	mstore_close(&st2);
	assert_int_equal(mstore_open(f->root, USER, 0, &f->st, &err), 1);
}

static int
collect_sub(void *arg, const char *name)
{
	return buf_appends(arg, name) == 1 ? 0 : -1;
}

static void
test_cache_subs_watch(void **state)
{
	struct fx *f = *state;
	struct buf b = BUF_INIT(0);
	struct mbox *mb = NULL;
	const char *err = NULL;
	struct pollfd pfd;
	int fd;

	(void)add(f->st, "INBOX", "m\n");
	assert_int_equal(mbox_open(f->st, "INBOX", 0, &mb, &err), 1);
	assert_int_equal(mbox_cache_get(mb, 1, "env", &b), 0);
	mbox_cache_set(mb, 1, "env", "(NIL)", 5);
	assert_int_equal(mbox_cache_get(mb, 1, "env", &b), 1);
	assert_string_equal(buf_cstr(&b), "(NIL)");
	mbox_cache_set(mb, 1, "env", "(X)", 3);
	buf_reset(&b);
	assert_int_equal(mbox_cache_get(mb, 1, "env", &b), 1);
	assert_string_equal(buf_cstr(&b), "(X)");
	assert_int_equal(mbox_cache_get(mb, 2, "env", &b), 0);

	assert_true((fd = mstore_watch_fd(f->st, &err)) >= 0);
	mstore_watch_drain(f->st);
	pfd.fd = fd;
	pfd.events = POLLIN;
	assert_int_equal(poll(&pfd, 1, 0), 0);
	(void)add(f->st, "INBOX", "m2\n");
	assert_int_equal(poll(&pfd, 1, 1000), 1);
	mstore_watch_drain(f->st);
	/* A folder made after the watch started is watched after a drain. */
	assert_int_equal(mstore_folder_create(f->st, "Later", &err), 1);
	assert_int_equal(poll(&pfd, 1, 1000), 1);
	mstore_watch_drain(f->st);
	assert_int_equal(poll(&pfd, 1, 0), 0);
	{
		char p[256];
		FILE *fp;

		(void)snprintf(p, sizeof(p), "%s/.Later/new/1.ext.host",
		    f->udir);
		assert_non_null(fp = fopen(p, "w"));
		(void)fputs("x\n", fp);
		(void)fclose(fp);
	}
	assert_int_equal(poll(&pfd, 1, 1000), 1);
	mstore_watch_drain(f->st);
	mbox_close(&mb);

	assert_int_equal(mstore_subscribe(f->st, "Sent", 1, &err), 1);
	assert_int_equal(mstore_subscribe(f->st, "inbox", 1, &err), 1);
	assert_int_equal(mstore_subscribe(f->st, "Sent", 1, &err), 1);
	assert_int_equal(mstore_subscribe(f->st, "A.B", 1, &err), 1);
	assert_int_equal(mstore_subscribe(f->st, "../x", 1, &err), -1);
	assert_int_equal(mstore_subscribe(f->st, "A.B", 0, &err), 1);
	buf_reset(&b);
	assert_int_equal(mstore_subscription_foreach(f->st, collect_sub, &b),
	    2);
	assert_string_equal(buf_cstr(&b), "INBOXSent");
	buf_free(&b);
}

/*
 * A batch: many flag changes and an expunge in one index transaction. A
 * failing call inside it (a message expunged by another handle) undoes
 * only itself; a second handle sees nothing before the end, all after.
 */
static void
test_batch(void **state)
{
	struct fx *f = *state;
	struct mstore *st2 = NULL;
	struct mbox *mb = NULL, *mb2 = NULL;
	const char *err = NULL;
	const uint32_t gone[] = { 2 };
	uint32_t uids[] = { 3 }, seq;
	struct mbox_status ms;
	char path[256];
	int n;

	for (seq = 1; seq <= 4; seq++)
		(void)add(f->st, "INBOX", "Subject: b\n\nbody\n");
	assert_int_equal(mbox_open(f->st, "INBOX", 0, &mb, &err), 1);
	assert_int_equal(mstore_open(f->root, USER, 0, &st2, &err), 1);
	assert_int_equal(mbox_open(st2, "INBOX", 0, &mb2, &err), 1);
	/* Message 2 goes away behind mb's back. */
	assert_int_equal(mbox_store(mb2, 2, '+', MSG_DELETED, NULL, 0, &err),
	    1);
	assert_int_equal(mbox_expunge(mb2, gone, 1, NULL, NULL, &err), 1);

	assert_int_equal(mstore_batch_begin(f->st, &err), 1);
	assert_int_equal(mbox_store(mb, 1, '+', MSG_SEEN, NULL, 0, &err), 1);
	assert_int_not_equal(mbox_store(mb, 2, '+', MSG_SEEN, NULL, 0, &err),
	    1);
	assert_int_equal(mbox_store(mb, 3, '+', MSG_DELETED, NULL, 0, &err),
	    1);
	assert_int_equal(mbox_expunge(mb, uids, 1, NULL, NULL, &err), 1);
	assert_int_equal(mstore_batch_end(f->st, &err), 1);

	assert_int_equal(mbox_sync(mb2, 1, NULL, &err), 1);
	mbox_status(mb2, &ms);
	assert_int_equal(ms.messages, 2);	/* 1 and 4 */
	assert_int_equal(mbox_msg(mb2, 1)->uid, 1);
	assert_true(mbox_msg(mb2, 1)->flags & MSG_SEEN);
	assert_int_equal(mbox_msg(mb2, 2)->uid, 4);
	assert_false(mbox_msg(mb2, 2)->flags & MSG_SEEN);
	(void)snprintf(path, sizeof(path), "%s/cur", f->udir);
	n = count_files(path);
	(void)snprintf(path, sizeof(path), "%s/new", f->udir);
	assert_int_equal(n + count_files(path), 2);
	mbox_close(&mb2);
	mstore_close(&st2);
	mbox_close(&mb);
}

/* The one file name in dir, into out; 1 when there is exactly one. */
static int
only_file(const char *dir, char *out, size_t outsz)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	int n = 0;

	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.' && n++ == 0)
			(void)snprintf(out, outsz, "%s/%s", dir, de->d_name);
	closedir(d);
	return n == 1;
}

/*
 * Expunge is two-phase: a message's file is unlinked only after the
 * commit that drops its row (never inside a batch before its end), and a
 * file a crash left behind after that commit (here: linked back by hand)
 * is removed by the next sync instead of coming back as a new message.
 */
static void
test_expunge_two_phase(void **state)
{
	struct fx *f = *state;
	struct mstore *st2 = NULL;
	struct mbox *mb = NULL, *mb2 = NULL;
	const char *err = NULL;
	char cur[256], file[512], keep[256];
	struct mbox_status ms;

	(void)add(f->st, "INBOX", "Subject: 1\n\none\n");
	(void)add(f->st, "INBOX", "Subject: 2\n\ntwo\n");
	assert_int_equal(mbox_open(f->st, "INBOX", 0, &mb, &err), 1);
	assert_int_equal(mbox_store(mb, 2, '+', MSG_DELETED, NULL, 0, &err),
	    1);
	(void)snprintf(cur, sizeof(cur), "%s/cur", f->udir);
	assert_true(only_file(cur, file, sizeof(file)));
	(void)snprintf(keep, sizeof(keep), "%s/keep", f->root);
	assert_int_equal(link(file, keep), 0);

	assert_int_equal(mstore_batch_begin(f->st, &err), 1);
	assert_int_equal(mbox_expunge(mb, NULL, 0, NULL, NULL, &err), 1);
	assert_int_equal(access(file, F_OK), 0);	/* not committed */
	assert_int_equal(mstore_batch_end(f->st, &err), 1);
	assert_int_equal(access(file, F_OK), -1);
	mbox_close(&mb);

	/* The crash: the commit happened, the unlink did not. */
	assert_int_equal(link(keep, file), 0);
	assert_int_equal(mstore_open(f->root, USER, 0, &st2, &err), 1);
	assert_int_equal(mbox_open(st2, "INBOX", 0, &mb2, &err), 1);
	mbox_status(mb2, &ms);
	assert_int_equal(ms.messages, 1);
	assert_int_equal(mbox_msg(mb2, 1)->uid, 1);
	assert_int_equal(access(file, F_OK), -1);
	mbox_close(&mb2);
	mstore_close(&st2);
}

static int
collect_none(void *arg, const char *name, int noselect, int has_children)
{
	(void)arg;
	(void)name;
	(void)noselect;
	(void)has_children;
	return 0;
}

static void
count_expunged(void *arg, uint32_t seq)
{
	(void)seq;
	(*(int *)arg)++;
}

/*
 * A cache blob computed for a message of a folder another handle deletes
 * before it is written (an IMAP FETCH running while another session
 * DELETEs the mailbox) is dropped: written, it was served as the
 * ENVELOPE of the first message of the next folder created, which got
 * the deleted folder's id.
 */
static void
test_cache_orphan(void **state)
{
	struct fx *f = *state;
	struct mstore *st2 = NULL;
	struct mbox *mb = NULL;
	struct buf b = BUF_INIT(0);
	const char *err = NULL;

	(void)add(f->st, "INBOX", "m\n");
	assert_int_equal(mstore_folder_create(f->st, "X", &err), 1);
	(void)add(f->st, "X", "Subject: old\n\nold\n");
	assert_int_equal(mbox_open(f->st, "X", 0, &mb, &err), 1);
	assert_int_equal(mstore_open(f->root, USER, 0, &st2, &err), 1);
	mbox_cache_set(mb, 1, "env", "(\"old\")", 7);
	assert_int_equal(mstore_folder_delete(st2, "X", &err), 1);
	assert_int_equal(mbox_sync(mb, 1, NULL, &err), 0);	/* flushes */
	mbox_close(&mb);
	assert_int_equal(mstore_folder_create(st2, "Y", &err), 1);
	(void)add(st2, "Y", "Subject: new\n\nnew\n");
	assert_int_equal(mbox_open(st2, "Y", 0, &mb, &err), 1);
	assert_int_equal(mbox_cache_get(mb, 1, "env", &b), 0);
	mbox_close(&mb);
	mstore_close(&st2);
	buf_free(&b);
}

/*
 * The same when the next folder (same id) already has a message of that
 * UID when the old handle flushes: the blob belongs to the old folder's
 * message, so the folder's UIDVALIDITY must still match too.
 */
static void
test_cache_orphan_reused(void **state)
{
	struct fx *f = *state;
	struct mstore *st2 = NULL;
	struct mbox *mb = NULL;
	struct buf b = BUF_INIT(0);
	const char *err = NULL;

	(void)add(f->st, "INBOX", "m\n");
	assert_int_equal(mstore_folder_create(f->st, "X", &err), 1);
	(void)add(f->st, "X", "Subject: old\n\nold\n");
	assert_int_equal(mbox_open(f->st, "X", 0, &mb, &err), 1);
	assert_int_equal(mstore_open(f->root, USER, 0, &st2, &err), 1);
	mbox_cache_set(mb, 1, "env", "(\"old\")", 7);
	assert_int_equal(mstore_folder_delete(st2, "X", &err), 1);
	assert_int_equal(mstore_folder_create(st2, "Y", &err), 1);
	(void)add(st2, "Y", "Subject: new\n\nnew\n");
	assert_int_equal(mbox_sync(mb, 1, NULL, &err), 0);	/* flushes */
	mbox_close(&mb);
	assert_int_equal(mbox_open(st2, "Y", 0, &mb, &err), 1);
	assert_int_equal(mbox_cache_get(mb, 1, "env", &b), 0);
	mbox_close(&mb);
	mstore_close(&st2);
	buf_free(&b);
}

/*
 * A folder deleted and created again never gets the deleted one's id
 * (ids were rowids: the last folder's came back). A handle still open on
 * the old folder (a session between its gone check and its command)
 * reached the new folder's messages by UID: here its EXPUNGE of UID 1
 * removed the new folder's UID 1, \Deleted there too.
 */
static void
test_folder_id_not_reused(void **state)
{
	struct fx *f = *state;
	struct mstore *st2 = NULL;
	struct mbox *mb = NULL, *mb2 = NULL;
	struct mbox_status ms;
	const char *err = NULL;
	uint32_t uid = 1;

	(void)add(f->st, "INBOX", "m\n");
	assert_int_equal(mstore_folder_create(f->st, "X", &err), 1);
	(void)add(f->st, "X", "Subject: old\n\nold\n");
	assert_int_equal(mbox_open(f->st, "X", 0, &mb, &err), 1);
	assert_int_equal(mbox_store(mb, 1, '+', MSG_DELETED, NULL, 0, &err),
	    1);
	assert_int_equal(mstore_open(f->root, USER, 0, &st2, &err), 1);
	assert_int_equal(mstore_folder_delete(st2, "X", &err), 1);
	assert_int_equal(mstore_folder_create(st2, "X", &err), 1);
	(void)add(st2, "X", "Subject: new\n\nnew\n");
	assert_int_equal(mbox_open(st2, "X", 0, &mb2, &err), 1);
	assert_int_equal(mbox_store(mb2, 1, '+', MSG_DELETED, NULL, 0, &err),
	    1);
	mbox_close(&mb2);
	(void)mbox_expunge(mb, &uid, 1, NULL, NULL, &err);
	mbox_close(&mb);
	assert_int_equal(mstore_folder_status(st2, "X", &ms, &err), 1);
	assert_int_equal(ms.messages, 1);
	mstore_close(&st2);
}

static int
collect_base(void *arg, uint32_t seq, const char *base)
{
	struct buf *b = arg;

	(void)buf_appendf(b, "%u %s\n", seq, base);
	return 0;
}

/*
 * mbox_base and mbox_base_foreach: the files' base names (no flag info,
 * the same after a flag change), in sequence order; a message another
 * handle expunged is left out of the walk and 0 for mbox_base.
 */
static void
test_base_names(void **state)
{
	struct fx *f = *state;
	struct mbox *mb = NULL, *mb2 = NULL;
	struct buf b = BUF_INIT(0), want = BUF_INIT(0);
	const char *err = NULL;
	char base[3][256];
	uint32_t seq, gone = 2;

	(void)add(f->st, "INBOX", "one\n");
	(void)add(f->st, "INBOX", "two\n");
	(void)add(f->st, "INBOX", "three\n");
	assert_int_equal(mbox_open(f->st, "INBOX", 0, &mb, &err), 1);
	for (seq = 1; seq <= 3; seq++) {
		assert_int_equal(mbox_base(mb, seq, base[seq - 1],
		    sizeof(base[0]), &err), 1);
		assert_null(strchr(base[seq - 1], ':'));
		assert_null(strchr(base[seq - 1], '/'));
	}
	assert_string_not_equal(base[0], base[1]);
	assert_int_equal(mbox_store(mb, 3, '+', MSG_SEEN, NULL, 0, &err), 1);
	assert_int_equal(mbox_base(mb, 3, base[1], sizeof(base[1]), &err), 1);
	assert_string_equal(base[1], base[2]);
	assert_int_equal(mbox_base(mb, 4, base[1], sizeof(base[1]), &err), -1);

	assert_int_equal(mbox_open(f->st, "INBOX", 0, &mb2, &err), 1);
	assert_int_equal(mbox_store(mb2, 2, '+', MSG_DELETED, NULL, 0, &err),
	    1);
	assert_int_equal(mbox_expunge(mb2, &gone, 1, NULL, NULL, &err), 1);
	mbox_close(&mb2);
	assert_int_equal(mbox_base(mb, 2, base[1], sizeof(base[1]), &err), 0);
	assert_string_equal(err, MBOX_ERR_EXPUNGED);
	assert_int_equal(mbox_base_foreach(mb, collect_base, &b, &err), 1);
	(void)buf_appendf(&want, "1 %s\n3 %s\n", base[0], base[2]);
	assert_string_equal(buf_cstr(&b), buf_cstr(&want));
	mbox_close(&mb);
	buf_free(&b);
	buf_free(&want);
}

/*
 * mbox_remove (POP3's UPDATE): the messages named by UID go whatever
 * their flags, no file is renamed or unlinked before the commit (so no
 * \Deleted can be left behind), UIDs that are not in the snapshot are
 * skipped, and a message another handle expunged first is reported but
 * not counted.
 */
static void
test_remove(void **state)
{
	struct fx *f = *state;
	struct mbox *mb = NULL, *mb2 = NULL;
	const char *err = NULL;
	char dir[256];
	uint32_t uids[] = { 1, 3, 4, 99 }, gone = 4;
	size_t removed = 7;
	int n = 0;

	(void)add(f->st, "INBOX", "one\n");
	(void)add(f->st, "INBOX", "two\n");
	(void)add(f->st, "INBOX", "three\n");
	(void)add(f->st, "INBOX", "four\n");
	assert_int_equal(mbox_open(f->st, "INBOX", 0, &mb, &err), 1);
	assert_int_equal(mbox_open(f->st, "INBOX", 0, &mb2, &err), 1);
	assert_int_equal(mbox_store(mb2, 4, '+', MSG_DELETED, NULL, 0, &err),
	    1);
	assert_int_equal(mbox_expunge(mb2, &gone, 1, NULL, NULL, &err), 1);
	mbox_close(&mb2);
	assert_int_equal(mbox_remove(mb, uids, 0, NULL, NULL, &removed, &err),
	    1);
	assert_int_equal(removed, 0);

	assert_int_equal(mstore_batch_begin(f->st, &err), 1);
	assert_int_equal(mbox_remove(mb, uids, 4, count_expunged, &n,
	    &removed, &err), 1);
	(void)snprintf(dir, sizeof(dir), "%s/new", f->udir);
	assert_int_equal(count_files(dir), 3);	/* not committed yet */
	(void)snprintf(dir, sizeof(dir), "%s/cur", f->udir);
	assert_int_equal(count_files(dir), 0);	/* nothing renamed */
	assert_int_equal(mstore_batch_end(f->st, &err), 1);
	assert_int_equal(removed, 2);
	assert_int_equal(n, 3);
	assert_int_equal(mbox_count(mb), 1);
	assert_int_equal(mbox_msg(mb, 1)->uid, 2);
	assert_int_equal(mbox_msg(mb, 1)->flags & ~MSG_RECENT, 0);
	(void)snprintf(dir, sizeof(dir), "%s/new", f->udir);
	assert_int_equal(count_files(dir), 1);
	mbox_close(&mb);
	assert_int_equal(mbox_open(f->st, "INBOX", 1, &mb, &err), 1);
	assert_int_equal(mbox_remove(mb, uids, 1, NULL, NULL, NULL, &err),
	    -1);	/* read-only */
	mbox_close(&mb);
}

/* Doomed rows of the folder Dest (a move's marks while it runs). */
static int
doomed_rows(const char *udir)
{
	char p[256];
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int n = -1;

	(void)snprintf(p, sizeof(p), "%s/index.db", udir);
	assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM doomed"
	    " WHERE folder = (SELECT id FROM folders WHERE name = 'Dest')",
	    -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

static int
folder_files(const char *udir, const char *sub)
{
	char dir[256];
	int n = 0;

	(void)snprintf(dir, sizeof(dir), "%s/.Dest/%s", udir, sub);
	n = count_files(dir);
	return n;
}

/*
 * mbox_move: one transaction. A move whose transaction fails (a trigger
 * refuses to delete the second original's row, after both arrivals were
 * renamed into Dest) leaves every message in INBOX only: the next scan of
 * Dest removes the renamed links (their doomed marks were committed
 * first). Then a move goes through with flags, keywords and internal
 * date, the originals leave the snapshot at mbox_report_gone (with a
 * message another handle expunged meanwhile, not moved: UID 0), and no
 * mark of Dest or tmp/ link is left.
 */
static void
test_move(void **state)
{
	struct fx *f = *state;
	struct mbox *mb = NULL, *mb2 = NULL, *dst = NULL;
	const char *err = NULL;
	uint32_t seqs[] = { 1, 2 }, uids[2], uv = 0, three = 3;
	time_t idate;
	char p[256];
	sqlite3 *db = NULL;
	int n = 0;

	(void)add(f->st, "INBOX", "Subject: 1\n\none\n");
	(void)add(f->st, "INBOX", "Subject: 2\n\ntwo\n");
	(void)add(f->st, "INBOX", "Subject: 3\n\nthree\n");
	assert_int_equal(mstore_folder_create(f->st, "Dest", &err), 1);
	assert_int_equal(mbox_open(f->st, "INBOX", 0, &mb, &err), 1);
	assert_int_equal(mbox_store(mb, 2, '+', MSG_FLAGGED, "$Work", 0,
	    &err), 1);
	idate = mbox_msg(mb, 2)->internaldate;
	assert_int_equal(mbox_move(mb, seqs, 2, "Nope", &uv, uids, &err), 0);

	(void)snprintf(p, sizeof(p), "%s/index.db", f->udir);
	assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "CREATE TRIGGER nodel BEFORE DELETE"
	    " ON msgs WHEN old.uid = 2 AND old.folder = (SELECT folder FROM"
	    " msgs WHERE uid = 3) BEGIN SELECT RAISE(ABORT, 'no'); END",
	    NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(mbox_move(mb, seqs, 2, "Dest", &uv, uids, &err), -1);
	assert_int_equal(uids[0], 0);
	assert_int_equal(folder_files(f->udir, "new") +
	    folder_files(f->udir, "cur"), 2);	/* renamed in, marked */
	assert_int_equal(folder_files(f->udir, "tmp"), 0);
	assert_int_equal(sqlite3_exec(db, "DROP TRIGGER nodel", NULL, NULL,
	    NULL), SQLITE_OK);
	sqlite3_close(db);
	mbox_report_gone(mb, count_expunged, &n);
	assert_int_equal(n, 0);
	assert_int_equal(mbox_count(mb), 3);
	assert_int_equal(mbox_open(f->st, "Dest", 0, &dst, &err), 1);
	assert_int_equal(mbox_count(dst), 0);
	mbox_close(&dst);
	assert_int_equal(folder_files(f->udir, "new") +
	    folder_files(f->udir, "cur"), 0);	/* the scan unlinked them */
	assert_int_equal(doomed_rows(f->udir), 0);

	/* Now for real; UID 3 goes elsewhere first. */
	assert_int_equal(mbox_open(f->st, "INBOX", 0, &mb2, &err), 1);
	assert_int_equal(mbox_remove(mb2, &three, 1, NULL, NULL, NULL, &err),
	    1);
	mbox_close(&mb2);
	assert_int_equal(mbox_move(mb, seqs, 2, "Dest", &uv, uids, &err), 1);
	assert_true(uids[0] != 0 && uids[1] == uids[0] + 1 && uv != 0);
	seqs[0] = 3;
	assert_int_equal(mbox_move(mb, seqs, 1, "Dest", &uv, uids, &err), 1);
	assert_int_equal(uids[0], 0);		/* gone meanwhile */
	mbox_report_gone(mb, count_expunged, &n);
	assert_int_equal(n, 3);
	assert_int_equal(mbox_count(mb), 0);
	assert_int_equal(doomed_rows(f->udir), 0);
	assert_int_equal(folder_files(f->udir, "tmp"), 0);
	assert_int_equal(mbox_open(f->st, "Dest", 0, &dst, &err), 1);
	assert_int_equal(mbox_count(dst), 2);
	assert_int_equal(mbox_msg(dst, 2)->flags & (MSG_FLAGGED | MSG_SEEN),
	    MSG_FLAGGED);
	assert_string_equal(mbox_msg(dst, 2)->keywords, "$Work");
	assert_int_equal(mbox_msg(dst, 2)->internaldate, idate);
	mbox_close(&dst);
	(void)snprintf(p, sizeof(p), "%s/new", f->udir);
	n = count_files(p);
	(void)snprintf(p, sizeof(p), "%s/cur", f->udir);
	assert_int_equal(n + count_files(p), 0);	/* originals unlinked */
	mbox_close(&mb);
}

/*
 * An expunge whose transaction fails (here: a trigger refuses to delete
 * UID 3's row, after UID 2's went) changes nothing: no file goes, and
 * the session's snapshot does not report UID 2 expunged at the next sync
 * (it did: its mark stayed after the rollback).
 */
static void
test_expunge_fails(void **state)
{
	struct fx *f = *state;
	struct mbox *mb = NULL;
	struct mbox_sync_cb cb;
	const char *err = NULL;
	char p[256];
	sqlite3 *db = NULL;
	int n = 0;

	(void)add(f->st, "INBOX", "Subject: 1\n\none\n");
	(void)add(f->st, "INBOX", "Subject: 2\n\ntwo\n");
	(void)add(f->st, "INBOX", "Subject: 3\n\nthree\n");
	assert_int_equal(mbox_open(f->st, "INBOX", 0, &mb, &err), 1);
	assert_int_equal(mbox_store(mb, 2, '+', MSG_DELETED, NULL, 0, &err),
	    1);
	assert_int_equal(mbox_store(mb, 3, '+', MSG_DELETED, NULL, 0, &err),
	    1);
	(void)snprintf(p, sizeof(p), "%s/index.db", f->udir);
	assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "CREATE TRIGGER nodel BEFORE DELETE"
	    " ON msgs WHEN old.uid = 3 BEGIN SELECT RAISE(ABORT, 'no'); END",
	    NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(mbox_expunge(mb, NULL, 0, count_expunged, &n, &err),
	    -1);
	assert_int_equal(n, 0);
	(void)snprintf(p, sizeof(p), "%s/cur", f->udir);
	assert_int_equal(count_files(p), 2);	/* 1 is still in new/ */
	memset(&cb, 0, sizeof(cb));
	cb.expunged = count_expunged;
	cb.arg = &n;
	assert_int_equal(mbox_sync(mb, 1, &cb, &err), 1);
	assert_int_equal(n, 0);
	assert_int_equal(mbox_count(mb), 3);
	assert_int_equal(sqlite3_exec(db, "DROP TRIGGER nodel", NULL, NULL,
	    NULL), SQLITE_OK);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
	assert_int_equal(mbox_expunge(mb, NULL, 0, count_expunged, &n, &err),
	    1);
	assert_int_equal(n, 2);
	assert_int_equal(mbox_count(mb), 1);
	assert_int_equal(count_files(p), 0);
	mbox_close(&mb);
}

/* A deleted folder never shows again, even when the removal of its
 * files was cut short (its trash is no folder, and goes at the next
 * delete). */
static void
test_delete_trash(void **state)
{
	struct fx *f = *state;
	const char *err = NULL;
	char p[256];

	assert_int_equal(mstore_folder_create(f->st, "Old", &err), 1);
	(void)add(f->st, "Old", "Subject: o\n\nold\n");
	/* What a crash after the commit leaves: a trash directory. */
	(void)snprintf(p, sizeof(p), "%s/..deleted.1.2.3", f->udir);
	assert_int_equal(mkdir(p, 0700), 0);
	(void)snprintf(p, sizeof(p), "%s/..deleted.1.2.3/cur", f->udir);
	assert_int_equal(mkdir(p, 0700), 0);
	assert_int_equal(mstore_folder_exists(f->st, ".deleted.1.2.3"), 0);
	assert_int_equal(mstore_folder_foreach(f->st, collect_none, NULL), 2);
	assert_int_equal(mstore_folder_delete(f->st, "Old", &err), 1);
	(void)snprintf(p, sizeof(p), "%s/..deleted.1.2.3", f->udir);
	assert_int_equal(access(p, F_OK), -1);
	assert_int_equal(mstore_folder_exists(f->st, "Old"), 0);
	assert_int_equal(mstore_folder_foreach(f->st, collect_none, NULL), 1);
}

/* The selected folder goes away under its name: renamed, deleted,
 * replaced, its directory removed by another program. mbox_present and
 * mbox_sync say 0 (and report nothing); INBOX renamed stays present. */
static void
test_selected_gone(void **state)
{
	struct fx *f = *state;
	struct mstore *st2 = NULL;
	struct mbox *mb = NULL;
	struct events ev;
	struct mbox_sync_cb cb = { ev_exp, ev_flags, ev_exists, &ev };
	const char *err = NULL;
	char dir[256];

	assert_int_equal(mstore_open(f->root, USER, 0, &st2, &err), 1);
	/* Renamed by another handle. */
	assert_int_equal(mstore_folder_create(f->st, "W", &err), 1);
	(void)add(f->st, "W", "1\n");
	(void)add(f->st, "W", "2\n");
	assert_int_equal(mbox_open(f->st, "W", 0, &mb, &err), 1);
	assert_int_equal(mbox_present(mb, &err), 1);
	assert_int_equal(mstore_folder_rename(st2, "W", "W2", &err), 1);
	assert_int_equal(mbox_present(mb, &err), 0);
	memset(&ev, 0, sizeof(ev));
	assert_int_equal(mbox_sync(mb, 1, &cb, &err), 0);
	assert_string_equal(ev.log, "");
	assert_non_null(strstr(err, "renamed"));
	mbox_close(&mb);
	assert_int_equal(mbox_open(f->st, "W2", 0, &mb, &err), 1);
	assert_int_equal(mbox_count(mb), 2);
	mbox_close(&mb);
	/* Deleted. */
	assert_int_equal(mstore_folder_create(f->st, "D", &err), 1);
	assert_int_equal(mbox_open(f->st, "D", 0, &mb, &err), 1);
	assert_int_equal(mstore_folder_delete(st2, "D", &err), 1);
	assert_int_equal(mbox_present(mb, &err), 0);
	assert_int_equal(mbox_sync(mb, 1, &cb, &err), 0);
	mbox_close(&mb);
	/* Replaced: renamed away, a new one created in its place. */
	assert_int_equal(mstore_folder_create(f->st, "R", &err), 1);
	(void)add(f->st, "R", "1\n");
	assert_int_equal(mbox_open(f->st, "R", 0, &mb, &err), 1);
	assert_int_equal(mstore_folder_rename(st2, "R", "R2", &err), 1);
	assert_int_equal(mstore_folder_create(st2, "R", &err), 1);
	assert_int_equal(mbox_present(mb, &err), 0);
	memset(&ev, 0, sizeof(ev));
	assert_int_equal(mbox_sync(mb, 1, &cb, &err), 0);
	assert_string_equal(ev.log, "");
	assert_non_null(strstr(err, "replaced"));
	mbox_close(&mb);
	/* Deleted and created again: the folder's id may come back (the
	 * last rowid), its UIDVALIDITY never does. */
	assert_int_equal(mstore_folder_create(f->st, "Z", &err), 1);
	(void)add(f->st, "Z", "1\n");
	assert_int_equal(mbox_open(f->st, "Z", 0, &mb, &err), 1);
	assert_int_equal(mstore_folder_delete(st2, "Z", &err), 1);
	assert_int_equal(mstore_folder_create(st2, "Z", &err), 1);
	(void)add(st2, "Z", "new 1\n");
	(void)add(st2, "Z", "new 2\n");
	assert_int_equal(mbox_present(mb, &err), 0);
	memset(&ev, 0, sizeof(ev));
	assert_int_equal(mbox_sync(mb, 1, &cb, &err), 0);
	assert_string_equal(ev.log, "");
	assert_non_null(strstr(err, "replaced"));
	mbox_close(&mb);
	/* The Maildir directory removed by another program. */
	assert_int_equal(mstore_folder_create(f->st, "E", &err), 1);
	assert_int_equal(mbox_open(f->st, "E", 1, &mb, &err), 1);
	(void)snprintf(dir, sizeof(dir), "%s/.E", f->udir);
	assert_int_equal(rm_rf(dir), 0);
	assert_int_equal(mbox_present(mb, &err), 0);
	assert_int_equal(mbox_sync(mb, 1, &cb, &err), 0);
	mbox_close(&mb);
	/* INBOX renamed: its messages move, INBOX stays (expunges). */
	(void)add(f->st, "INBOX", "i\n");
	assert_int_equal(mbox_open(f->st, "INBOX", 0, &mb, &err), 1);
	assert_int_equal(mbox_count(mb), 1);
	assert_int_equal(mstore_folder_rename(st2, "INBOX", "Old", &err), 1);
	assert_int_equal(mbox_present(mb, &err), 1);
	memset(&ev, 0, sizeof(ev));
	assert_int_equal(mbox_sync(mb, 1, &cb, &err), 1);
	assert_string_equal(ev.log, "X1 ");
	assert_int_equal(mbox_count(mb), 0);
	mbox_close(&mb);
	mstore_close(&st2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_move, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_layout, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_add_read_crlf, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_uids_reopen, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_two_handles, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_many, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readonly, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_clean_tmp, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_external_changes, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_children, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_folders, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rename_inbox, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_copy_usage, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_usage_vanished, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_addv_pieces, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_add_quota, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_copy_quota, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_spool, setup, teardown),
		cmocka_unit_test_setup_teardown(test_damaged_index, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_uidvalidity_rebuild,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_uidvalidity_file_bad,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_keyword_cap, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_lock, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache_subs_watch, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expunge_two_phase, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_remove, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache_orphan, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_cache_orphan_reused,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_folder_id_not_reused,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_base_names, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_delete_trash, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_expunge_fails, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_selected_gone, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
