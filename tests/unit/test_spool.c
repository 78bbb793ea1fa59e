/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * Unit tests for the spool file format: messages written with
 * spool_begin/append/commit into a scratch spool (fsync mode, no qmgr) read
 * back field by field and byte-exact at sizes around the 64 KiB chunk, and
 * every kind of damage the reader must refuse: a file cut at each length,
 * bad magic, trailing bytes, a wrong end record, an id that does not match
 * the name, unknown records, envelope records after content, bad numbers.
 * Damaged files are written to a second scratch directory.
 */
#include "config.h"

#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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
#include "lib/uxtext.h"
#include "relay/relay_cfg.h"
#include "relay/spool.h"

#define MAGIC	"ESTAFETA-SPOOL 1\n"

struct fixture {
	char		 dir[64];	/* the spool */
	char		 scratch[64];	/* damaged copies */
	int		 scratchfd;
	struct spool	*sp;
};

static void
rm_tree(int dfd, const char *name)
{
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
	struct dirent *de;
	DIR *d;

	if (fd == -1) {
		(void)unlinkat(dfd, name, 0);	/* a file, or gone */
		return;
	}
	d = fdopendir(fd);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			rm_tree(fd, de->d_name);
	(void)closedir(d);
	assert_int_equal(unlinkat(dfd, name, AT_REMOVEDIR), 0);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	const char *errstr = NULL;

	assert_non_null(f);
	(void)snprintf(f->dir, sizeof(f->dir), "/tmp/test_spool.XXXXXX");
	(void)snprintf(f->scratch, sizeof(f->scratch),
	    "/tmp/test_spool_x.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_non_null(mkdtemp(f->scratch));
	f->scratchfd = open(f->scratch, O_RDONLY | O_DIRECTORY);
	assert_true(f->scratchfd >= 0);
	assert_int_equal(spool_open(f->dir, SPOOL_SYNC_FSYNC, 1, &f->sp,
	    &errstr), 1);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	spool_close(&f->sp);
	assert_null(f->sp);
	(void)close(f->scratchfd);
	rm_tree(AT_FDCWD, f->dir);
	rm_tree(AT_FDCWD, f->scratch);
	free(f);
	return 0;
}

static uint32_t
rnd(uint32_t *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 8;
}

static void
fill(struct buf *b, size_t n, uint32_t seed)
{
	char *w;
	size_t i;

	buf_reset(b);
	w = buf_reserve(b, n);
	assert_non_null(w);
	for (i = 0; i < n; i++)
		w[i] = (char)rnd(&seed);
	b->len = n;
	b->data[n] = '\0';
}

static struct spool_rcpt rcpts_full[] = {
	{ "x@example.com", "rfc822;x@example.com",
	    SPOOL_NOTIFY_SUCCESS | SPOOL_NOTIFY_FAILURE },
	{ "z@example.org", NULL, 0 },
	{ "Postmaster", "rfc822;postmaster", SPOOL_NOTIFY_NEVER },
	{ "\"a b\"@example.net", NULL, SPOOL_NOTIFY_DELAY },
};

static void
env_full(struct spool_env *e)
{
	memset(e, 0, sizeof(*e));
	spool_new_id(e->id);
	e->arrival = 1767225600;
	e->sender = "sender@example.com";
	e->rcpts = rcpts_full;
	e->nrcpt = sizeof(rcpts_full) / sizeof(rcpts_full[0]);
	e->envid = "QQ314159";
	e->ret = SPOOL_RET_HDRS;
	e->body = SPOOL_BODY_8BITMIME;
	e->smtputf8 = 1;
	e->helo = "client.example";
	e->client = "[192.0.2.1]:12345";
	e->auth_user = "alice";
}

static struct spool_rcpt rcpt_min = { "r@example.com", NULL, 0 };

static void
env_min(struct spool_env *e)
{
	memset(e, 0, sizeof(*e));
	spool_new_id(e->id);
	e->sender = "";		/* null sender */
	e->rcpts = &rcpt_min;
	e->nrcpt = 1;
}

static int
streq(const char *x, const char *y)
{
	if (x == NULL || y == NULL)
		return x == y;
	return strcmp(x, y) == 0;
}

static void
env_eq(const struct spool_env *w, const struct spool_env *g)
{
	size_t i;

	assert_string_equal(g->id, w->id);
	assert_true(g->arrival == w->arrival);
	assert_true(streq(g->sender, w->sender));
	assert_int_equal(g->nrcpt, w->nrcpt);
	for (i = 0; i < w->nrcpt; i++) {
		assert_true(streq(g->rcpts[i].addr, w->rcpts[i].addr));
		assert_true(streq(g->rcpts[i].orcpt, w->rcpts[i].orcpt));
		assert_int_equal(g->rcpts[i].notify, w->rcpts[i].notify);
	}
	assert_true(streq(g->envid, w->envid));
	assert_int_equal(g->ret, w->ret);
	assert_int_equal(g->body, w->body);
	assert_int_equal(g->smtputf8, w->smtputf8);
	assert_true(streq(g->helo, w->helo));
	assert_true(streq(g->client, w->client));
	assert_true(streq(g->auth_user, w->auth_user));
}

/* Writes and commits a message, appending in pieces of up to step. */
static void
write_msg(struct fixture *f, const struct spool_env *e, const struct buf *c,
    size_t step)
{
	struct spool_msg *m;
	const char *errstr = NULL;
	size_t off, take;

	m = spool_begin(f->sp, e, &errstr);
	if (m == NULL)
		fail_msg("spool_begin: %s", errstr);
	for (off = 0; off < c->len; off += take) {
		take = c->len - off < step ? c->len - off : step;
		assert_int_equal(spool_append(m, c->data + off, take), 1);
	}
	if (spool_commit(&m, &errstr) != 1)
		fail_msg("spool_commit: %s", errstr);
	assert_null(m);
}

static int
exists(int dfd, const char *name)
{
	struct stat st;

	return fstatat(dfd, name, &st, 0) == 0;
}

/* The raw bytes of file name in dfd. */
static void
slurp(int dfd, const char *name, struct buf *b)
{
	int fd = openat(dfd, name, O_RDONLY);
	char tmp[8192];
	ssize_t n;

	assert_true(fd >= 0);
	buf_reset(b);
	while ((n = read(fd, tmp, sizeof(tmp))) > 0)
		assert_int_equal(buf_append(b, tmp, (size_t)n), 1);
	assert_int_equal(n, 0);
	(void)close(fd);
}

static void
put(int dfd, const char *name, const void *p, size_t n)
{
	int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	assert_int_equal(close(fd), 0);
}

/* Streams name from dfd (spool_open_content): 1 with e_r and c filled
 * when the stream ended cleanly, 0 when there is no file, else -1.
 * Damage is found when the file is opened, before any content is read
 * (delivery has made no connection yet): once open, the stream ends
 * cleanly, and the size known at open is the content's. */
static int
read_stream(int dfd, const char *name, struct spool_env **e_r, struct buf *c)
{
	struct spool_content *sc = NULL;
	const char *errstr = NULL, *p;
	size_t n;
	int r;

	buf_reset(c);
	*e_r = NULL;
	if ((r = spool_open_content(dfd, name, e_r, &sc, &errstr)) != 1) {
		assert_null(*e_r);
		if (r == -1)
			assert_true(errstr != NULL && errstr[0] != '\0');
		return r;
	}
	while ((r = spool_content_next(sc, &p, &n)) == 1) {
		assert_true(n > 0);
		assert_int_equal(buf_append(c, p, n), 1);
	}
	if (r == -1)
		fail_msg("%s: damage found only while streaming: %s", name,
		    spool_content_error(sc));
	spool_content_close(&sc);
	assert_true((*e_r)->size == c->len);
	return 1;
}

/* Reads name from dfd in the three ways (whole, envelope only, streamed);
 * all must agree. Returns the result. */
static int
read_both(int dfd, const char *name, struct spool_env **e_r, struct buf *c,
    const char **errstr_r)
{
	struct spool_env *e = NULL, *e3 = NULL;
	struct buf c3 = BUF_INIT(0);
	const char *errstr = NULL;
	int r, r2, r3;

	buf_reset(c);
	*e_r = NULL;
	r = spool_read(dfd, name, e_r, c, errstr_r);
	r2 = spool_read(dfd, name, &e, NULL, &errstr);
	assert_int_equal(r, r2);
	r3 = read_stream(dfd, name, &e3, &c3);
	assert_int_equal(r, r3);
	if (r == 1) {
		env_eq(*e_r, e3);
		assert_true(e3->size == c->len);
		assert_int_equal(c3.len, c->len);
		if (c->len > 0)
			assert_memory_equal(c3.data, c->data, c->len);
		spool_env_free(&e3);
	}
	buf_free(&c3);
	if (r == 1) {
		assert_non_null(*e_r);
		assert_non_null(e);
		assert_true((*e_r)->size == c->len);
		assert_true(e->size == c->len);
		env_eq(*e_r, e);
		spool_env_free(&e);
		assert_null(e);
	} else {
		assert_null(*e_r);
		assert_null(e);
		if (r == -1) {
			assert_non_null(*errstr_r);
			assert_non_null(errstr);
		}
	}
	return r;
}

/* Damaged bytes: spool_read must refuse them (and not crash). */
static void
expect_corrupt(struct fixture *f, const char *name, const void *p, size_t n,
    const char *why)
{
	struct spool_env *e;
	struct buf c = BUF_INIT(0);
	const char *errstr = NULL;

	put(f->scratchfd, name, p, n);
	if (read_both(f->scratchfd, name, &e, &c, &errstr) != -1)
		fail_msg("accepted: %s (%zu bytes)", why, n);
	buf_free(&c);
}

static void
test_roundtrip(void **state)
{
	static const size_t sizes[] = { 0, 1, 2, 100, 65535, 65536, 65537,
	    131072, 131073, 300000 };
	static const size_t steps[] = { 1 << 20, 1, 1000, 65536, 4097 };
	struct fixture *f = *state;
	struct spool_env w, *g;
	struct buf c = BUF_INIT(0), got = BUF_INIT(0);
	const char *errstr = NULL;
	size_t i, step;
	int qfd = spool_dirfd(f->sp, "queue");
	int ifd = spool_dirfd(f->sp, "incoming");

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		if (i % 2)
			env_full(&w);
		else
			env_min(&w);
		fill(&c, sizes[i], (uint32_t)i + 1);
		step = sizes[i] > 1000 && steps[i % 5] == 1 ? 977 :
		    steps[i % 5];
		write_msg(f, &w, &c, step);
		assert_false(exists(ifd, w.id));
		assert_true(exists(qfd, w.id));
		assert_int_equal(read_both(qfd, w.id, &g, &got, &errstr), 1);
		env_eq(&w, g);
		assert_true(g->size == sizes[i]);
		assert_int_equal(got.len, sizes[i]);
		if (sizes[i])
			assert_memory_equal(got.data, c.data, sizes[i]);
		spool_env_free(&g);
	}
	buf_free(&c);
	buf_free(&got);
}

static int
truncate_at(int dfd, const char *name, off_t len)
{
	int fd = openat(dfd, name, O_WRONLY), r;

	if (fd == -1)
		return -1;
	r = ftruncate(fd, len);
	(void)close(fd);
	return r;
}

/* Small pieces are gathered into chunks, large ones (8 KiB and more) are
 * written as their own records: any mix reads back as the same content. */
static void
test_mixed_pieces(void **state)
{
	static const size_t pieces[] = { 100, 9000, 3, 70000, 8192, 8191,
	    65536, 1, 200000 };
	struct fixture *f = *state;
	struct spool_env w, *g;
	struct spool_msg *m;
	struct buf c = BUF_INIT(0), got = BUF_INIT(0);
	const char *errstr = NULL;
	size_t i, off = 0, total = 0;
	int qfd = spool_dirfd(f->sp, "queue");

	for (i = 0; i < sizeof(pieces) / sizeof(pieces[0]); i++)
		total += pieces[i];
	fill(&c, total, 7);
	env_full(&w);
	m = spool_begin(f->sp, &w, &errstr);
	assert_non_null(m);
	for (i = 0; i < sizeof(pieces) / sizeof(pieces[0]); i++) {
		assert_int_equal(spool_append(m, c.data + off, pieces[i]), 1);
		off += pieces[i];
	}
	assert_int_equal(spool_commit(&m, &errstr), 1);
	assert_int_equal(read_both(qfd, w.id, &g, &got, &errstr), 1);
	env_eq(&w, g);
	assert_true(g->size == total);
	assert_int_equal(got.len, total);
	assert_memory_equal(got.data, c.data, total);
	spool_env_free(&g);
	buf_free(&c);
	buf_free(&got);
}

/* Random mixes of piece sizes, small ones gathered and large ones (8 KiB
 * and more) written uncopied, around the chunk size: the three readers
 * agree with what was appended, and each cut of the file is refused. */
static void
test_random_pieces(void **state)
{
	struct fixture *f = *state;
	struct spool_env w, *g;
	struct spool_msg *m;
	struct buf c = BUF_INIT(0), got = BUF_INIT(0), file = BUF_INIT(0);
	const char *errstr = NULL;
	uint32_t seed, st;
	size_t off, n, total;
	int qfd = spool_dirfd(f->sp, "queue");

	for (seed = 1; seed <= 40; seed++) {
		st = seed;
		total = rnd(&st) % 300000;
		fill(&c, total, seed);
		env_full(&w);
		m = spool_begin(f->sp, &w, &errstr);
		assert_non_null(m);
		for (off = 0; off < total; off += n) {
			switch (rnd(&st) % 4) {
			case 0:
				n = rnd(&st) % 16;
				break;
			case 1:
				n = 8192 + rnd(&st) % 3 - 1;
				break;
			case 2:
				n = 65536 + rnd(&st) % 3 - 1;
				break;
			default:
				n = rnd(&st) % 100000;
			}
			if (n > total - off)
				n = total - off;
			assert_int_equal(spool_append(m, c.data + off, n), 1);
		}
		assert_int_equal(spool_commit(&m, &errstr), 1);
		assert_int_equal(read_both(qfd, w.id, &g, &got, &errstr), 1);
		env_eq(&w, g);
		assert_true(g->size == total);
		assert_int_equal(got.len, total);
		if (total > 0)
			assert_memory_equal(got.data, c.data, total);
		spool_env_free(&g);
		if (seed % 8 != 0)
			continue;
		slurp(qfd, w.id, &file);
		for (n = 0; n < 40; n++)
			expect_corrupt(f, w.id, file.data, rnd(&st) %
			    file.len, "truncated");
	}
	buf_free(&c);
	buf_free(&got);
	buf_free(&file);
}

/* spool_open_content streams what spool_read reads; damage after the
 * envelope shows as -1 from spool_content_next. */
static void
test_stream(void **state)
{
	static const size_t sizes[] = { 0, 1, 65535, 65536, 65537, 300000 };
	struct fixture *f = *state;
	struct spool_env w, *g;
	struct spool_content *sc;
	struct buf c = BUF_INIT(0), got = BUF_INIT(0);
	const char *errstr = NULL, *p;
	size_t i, n;
	int qfd = spool_dirfd(f->sp, "queue"), r;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		env_full(&w);
		fill(&c, sizes[i], (uint32_t)i + 3);
		write_msg(f, &w, &c, i % 2 ? 1000 : 1 << 20);
		assert_int_equal(spool_open_content(qfd, w.id, &g, &sc,
		    &errstr), 1);
		env_eq(&w, g);
		/* The size is known before the content is read (SIZE=). */
		assert_true(g->size == sizes[i]);
		buf_reset(&got);
		while ((r = spool_content_next(sc, &p, &n)) == 1) {
			assert_true(n > 0);
			assert_int_equal(buf_append(&got, p, n), 1);
		}
		assert_int_equal(r, 0);
		assert_int_equal(got.len, sizes[i]);
		if (sizes[i])
			assert_memory_equal(got.data, c.data, sizes[i]);
		spool_content_close(&sc);
		assert_null(sc);
		spool_env_free(&g);
		if (sizes[i] < 65536)
			continue;
		/* Cut in the middle of the content while it is read: the
		 * stream fails at the cut. */
		assert_int_equal(spool_open_content(qfd, w.id, &g, &sc,
		    &errstr), 1);
		assert_int_equal(truncate_at(qfd, w.id, 40000), 0);
		while ((r = spool_content_next(sc, &p, &n)) == 1)
			;
		assert_int_equal(r, -1);
		assert_string_equal(spool_content_error(sc), "truncated");
		spool_content_close(&sc);
		spool_env_free(&g);
		/* Cut before it is opened: the open says so. */
		errstr = NULL;
		assert_int_equal(spool_open_content(qfd, w.id, &g, &sc,
		    &errstr), -1);
		assert_string_equal(errstr, "truncated");
		assert_null(g);
	}
	assert_int_equal(spool_open_content(qfd, "nosuchfile", &g, &sc,
	    &errstr), 0);
	buf_free(&c);
	buf_free(&got);
}

/* The reader appends to what the content buffer holds. */
static void
test_read_appends(void **state)
{
	struct fixture *f = *state;
	struct spool_env w, *g;
	struct buf c = BUF_INIT(0), got = BUF_INIT(0);
	const char *errstr = NULL;
	int qfd = spool_dirfd(f->sp, "queue");

	env_full(&w);
	assert_int_equal(buf_appends(&c, "Subject: x\r\n\r\nhi\r\n"), 1);
	write_msg(f, &w, &c, 5);
	assert_int_equal(buf_appends(&got, "HDR\r\n"), 1);
	assert_int_equal(spool_read(qfd, w.id, &g, &got, &errstr), 1);
	assert_string_equal(buf_cstr(&got), "HDR\r\nSubject: x\r\n\r\nhi\r\n");
	assert_true(g->size == c.len);
	spool_env_free(&g);
	spool_env_free(&g);	/* NULL is fine */

	/* A content buffer with a too small maximum: -1. */
	buf_free(&got);
	buf_init(&got, 4);
	assert_int_equal(spool_read(qfd, w.id, &g, &got, &errstr), -1);
	buf_free(&got);
	buf_free(&c);
}

static void
test_missing(void **state)
{
	struct fixture *f = *state;
	struct spool_env *e = NULL;
	struct buf c = BUF_INIT(0);
	const char *errstr = NULL;

	assert_int_equal(spool_read(spool_dirfd(f->sp, "queue"),
	    "0123456789abcdef0123", &e, &c, &errstr), 0);
	assert_null(e);
	buf_free(&c);
}

static void
test_abort(void **state)
{
	struct fixture *f = *state;
	struct spool_env w;
	struct spool_msg *m, *none = NULL;
	const char *errstr = NULL;
	int ifd = spool_dirfd(f->sp, "incoming");
	int qfd = spool_dirfd(f->sp, "queue");

	env_full(&w);
	m = spool_begin(f->sp, &w, &errstr);
	assert_non_null(m);
	assert_true(exists(ifd, w.id));
	assert_int_equal(spool_append(m, "abc", 3), 1);
	spool_abort(&m);
	assert_null(m);
	assert_false(exists(ifd, w.id));
	assert_false(exists(qfd, w.id));
	spool_abort(&none);

	/* Abort after more than a chunk was flushed to disk. */
	env_min(&w);
	m = spool_begin(f->sp, &w, &errstr);
	assert_non_null(m);
	{
		struct buf c = BUF_INIT(0);

		fill(&c, 200000, 7);
		assert_int_equal(spool_append(m, c.data, c.len), 1);
		buf_free(&c);
	}
	spool_abort(&m);
	assert_false(exists(ifd, w.id));

	/* An id that is already in incoming/: refused. */
	env_min(&w);
	m = spool_begin(f->sp, &w, &errstr);
	assert_non_null(m);
	errstr = NULL;
	assert_null(spool_begin(f->sp, &w, &errstr));
	assert_string_equal(errstr, "cannot create spool file");
	spool_abort(&m);
}

static void
test_valid_id(void **state)
{
	char id[SPOOL_ID_LEN + 1], id2[SPOOL_ID_LEN + 1];

	(void)state;
	assert_int_equal(spool_valid_id("0123456789abcdef0123"), 1);
	assert_int_equal(spool_valid_id("ffffffffffffffffffff"), 1);
	assert_int_equal(spool_valid_id("00000000000000000000"), 1);
	assert_int_equal(spool_valid_id(""), 0);
	assert_int_equal(spool_valid_id("0123456789abcdef012"), 0);
	assert_int_equal(spool_valid_id("0123456789abcdef01234"), 0);
	assert_int_equal(spool_valid_id("0123456789ABCDEF0123"), 0);
	assert_int_equal(spool_valid_id("0123456789abcdef012g"), 0);
	assert_int_equal(spool_valid_id("g123456789abcdef0123"), 0);
	assert_int_equal(spool_valid_id("0123456789abcdef012/"), 0);
	assert_int_equal(spool_valid_id("0123456789abcdef012:"), 0);
	assert_int_equal(spool_valid_id("0123456789abcdef012`"), 0);
	assert_int_equal(spool_valid_id("."), 0);
	assert_int_equal(spool_valid_id(".."), 0);
	assert_int_equal(spool_valid_id("0123456789abcdef0123.tmp"), 0);
	assert_int_equal(spool_valid_id(" 123456789abcdef0123"), 0);
	spool_new_id(id);
	spool_new_id(id2);
	assert_int_equal(spool_valid_id(id), 1);
	assert_int_equal(spool_valid_id(id2), 1);
	assert_string_not_equal(id, id2);
}

/* ------------------------------------------------------------ damage */

/* Offsets of each record start, and the end, in a well-formed file. */
static size_t
records(const struct buf *b, size_t *off, size_t max)
{
	const unsigned char *p = (const unsigned char *)b->data;
	size_t pos = sizeof(MAGIC) - 1, n = 0, len;

	while (pos + 5 <= b->len && n < max) {
		off[n++] = pos;
		len = (size_t)p[pos + 1] << 24 | (size_t)p[pos + 2] << 16 |
		    (size_t)p[pos + 3] << 8 | p[pos + 4];
		pos += 5 + len;
	}
	assert_int_equal(pos, b->len);
	return n;
}

static void
test_truncated(void **state)
{
	struct fixture *f = *state;
	struct spool_env w;
	struct buf c = BUF_INIT(0), file = BUF_INIT(0);
	size_t n, k, off[64], nrec;
	int qfd = spool_dirfd(f->sp, "queue");
	long d;

	/* A small message: every length. */
	env_full(&w);
	fill(&c, 100, 3);
	write_msg(f, &w, &c, 1 << 20);
	slurp(qfd, w.id, &file);
	for (n = 0; n < file.len; n++)
		expect_corrupt(f, w.id, file.data, n, "truncated");

	/* Three content records: around every record boundary. */
	env_min(&w);
	fill(&c, 65536 * 2 + 10, 4);
	write_msg(f, &w, &c, 1 << 20);
	slurp(qfd, w.id, &file);
	nrec = records(&file, off, 64);
	assert_true(nrec >= 7);
	for (k = 0; k < nrec; k++)
		for (d = -2; d <= 14; d++) {
			if ((long)off[k] + d < 0 ||
			    (size_t)((long)off[k] + d) >= file.len)
				continue;
			expect_corrupt(f, w.id, file.data,
			    (size_t)((long)off[k] + d), "truncated");
		}
	expect_corrupt(f, w.id, file.data, file.len - 1, "truncated");
	expect_corrupt(f, w.id, file.data, 65536, "truncated");
	buf_free(&c);
	buf_free(&file);
}

static void
test_damaged(void **state)
{
	struct fixture *f = *state;
	struct spool_env w, *g;
	struct buf c = BUF_INIT(0), file = BUF_INIT(0), x = BUF_INIT(0);
	const char *errstr = NULL;
	char other[SPOOL_ID_LEN + 1];
	size_t i, off[64], nrec, z;
	int qfd = spool_dirfd(f->sp, "queue");

	env_full(&w);
	fill(&c, 1000, 5);
	write_msg(f, &w, &c, 1 << 20);
	slurp(qfd, w.id, &file);
	nrec = records(&file, off, 64);
	z = off[nrec - 1];
	assert_int_equal(file.data[z], 'Z');
	assert_int_equal(file.data[off[nrec - 2]], 'D');

	/* The undamaged copy reads fine from the scratch directory. */
	put(f->scratchfd, w.id, file.data, file.len);
	assert_int_equal(read_both(f->scratchfd, w.id, &g, &x, &errstr), 1);
	env_eq(&w, g);
	spool_env_free(&g);

	/* Every byte of the magic line. */
	for (i = 0; i < sizeof(MAGIC) - 1; i++) {
		buf_reset(&x);
		assert_int_equal(buf_append(&x, file.data, file.len), 1);
		x.data[i] ^= 0x01;
		expect_corrupt(f, w.id, x.data, x.len, "magic");
	}
	buf_reset(&x);
	assert_int_equal(buf_appends(&x, "ESTAFETA-SPOOL 2\n"), 1);
	assert_int_equal(buf_append(&x, file.data + sizeof(MAGIC) - 1,
	    file.len - (sizeof(MAGIC) - 1)), 1);
	expect_corrupt(f, w.id, x.data, x.len, "version 2");

	/* Anything after the end record. */
	for (i = 0; i < 3; i++) {
		buf_reset(&x);
		assert_int_equal(buf_append(&x, file.data, file.len), 1);
		assert_int_equal(buf_append(&x, "\0Z\n", i + 1), 1);
		expect_corrupt(f, w.id, x.data, x.len, "trailing bytes");
	}

	/* The end record: its length, and the length it states. */
	buf_reset(&x);
	assert_int_equal(buf_append(&x, file.data, file.len), 1);
	x.data[z + 4] = 7;
	expect_corrupt(f, w.id, x.data, x.len - 1, "Z length 7");
	x.data[z + 4] = 9;
	assert_int_equal(buf_appendc(&x, '\0'), 1);
	expect_corrupt(f, w.id, x.data, x.len, "Z length 9");
	for (i = 0; i < 8; i++) {
		buf_reset(&x);
		assert_int_equal(buf_append(&x, file.data, file.len), 1);
		x.data[z + 5 + i] ^= 0x01;
		expect_corrupt(f, w.id, x.data, x.len, "Z total");
	}
	/* A total far larger than the content (it would exceed any peer's
	 * SIZE limit) or smaller: damaged, said at open, never taken for
	 * the message's size. */
	for (i = 0; i < 2; i++) {
		struct spool_content *sc = NULL;
		static const unsigned char big[8] = { 0, 0, 0, 0, 0x40, 0, 0,
		    0 }, small[8] = { 0, 0, 0, 0, 0, 0, 0, 10 };

		buf_reset(&x);
		assert_int_equal(buf_append(&x, file.data, file.len), 1);
		memcpy(x.data + z + 5, i == 0 ? big : small, 8);
		expect_corrupt(f, w.id, x.data, x.len, "Z total");
		g = NULL;
		errstr = NULL;
		assert_int_equal(spool_open_content(f->scratchfd, w.id, &g,
		    &sc, &errstr), -1);
		assert_null(g);
		assert_null(sc);
		assert_string_equal(errstr, "content length mismatch");
	}
	/* No end record at all. */
	expect_corrupt(f, w.id, file.data, z, "no Z");

	/* The same bytes under another (valid) name: the 'I' record. */
	memcpy(other, w.id, sizeof(other));
	other[SPOOL_ID_LEN - 1] = other[SPOOL_ID_LEN - 1] == '0' ? '1' : '0';
	expect_corrupt(f, other, file.data, file.len, "I != name");
	(void)unlinkat(f->scratchfd, other, 0);

	/* Every record type byte changed into each unknown type. */
	for (i = 0; i < nrec; i++) {
		static const char bad[] = "XZDa\0\xff";
		size_t j;

		for (j = 0; j < sizeof(bad) - 1; j++) {
			if (file.data[off[i]] == bad[j])
				continue;
			buf_reset(&x);
			assert_int_equal(buf_append(&x, file.data, file.len),
			    1);
			x.data[off[i]] = bad[j];
			expect_corrupt(f, w.id, x.data, x.len, "record type");
		}
	}

	/* An envelope record after the content. */
	buf_reset(&x);
	assert_int_equal(buf_append(&x, file.data, z), 1);
	assert_int_equal(buf_append(&x, "H\0\0\0\1x", 6), 1);
	assert_int_equal(buf_append(&x, file.data + z, file.len - z), 1);
	expect_corrupt(f, w.id, x.data, x.len, "envelope after D");

	buf_free(&c);
	buf_free(&file);
	buf_free(&x);
}

/* ------------------------------------------------------------ hand-made */

static void
rec(struct buf *b, char type, const void *p, size_t n)
{
	unsigned char h[5];

	h[0] = (unsigned char)type;
	h[1] = (unsigned char)(n >> 24);
	h[2] = (unsigned char)(n >> 16);
	h[3] = (unsigned char)(n >> 8);
	h[4] = (unsigned char)n;
	assert_int_equal(buf_append(b, h, 5), 1);
	assert_int_equal(buf_append(b, p, n), 1);
}

static void
recs(struct buf *b, char type, const char *s)
{
	rec(b, type, s, strlen(s));
}

static void
rec_z(struct buf *b, unsigned long long total)
{
	unsigned char z[8];
	int i;

	for (i = 0; i < 8; i++)
		z[i] = (unsigned char)(total >> (56 - 8 * i));
	rec(b, 'Z', z, 8);
}

#define ID	"0123456789abcdef0123"

/* Builds a file: magic, I, then the records in spec ("tvalue|..."), with
 * "D..." content and a correct Z unless spec holds "Z...". */
static void
build(struct buf *b, const char *spec)
{
	unsigned long long total = 0;
	const char *p = spec, *e;
	int has_z = 0;

	buf_reset(b);
	assert_int_equal(buf_appends(b, MAGIC), 1);
	while (*p != '\0') {
		e = strchr(p, '|');
		if (e == NULL)
			e = p + strlen(p);
		if (p[0] == 'Z') {
			rec_z(b, strtoull(p + 1, NULL, 10));
			has_z = 1;
		} else {
			if (p[0] == 'D')
				total += (unsigned long long)(e - p - 1);
			rec(b, p[0], p + 1, (size_t)(e - p - 1));
		}
		p = *e ? e + 1 : e;
	}
	if (!has_z)
		rec_z(b, total);
}

/* spool_read_envelope: the envelope of a file whose content is damaged
 * (qmgr's notice at queue_lifetime); never a damaged envelope. */
static void
test_read_envelope(void **state)
{
	struct fixture *f = *state;
	struct spool_env w, *g;
	struct buf c = BUF_INIT(0), file = BUF_INIT(0), x = BUF_INIT(0);
	const char *errstr;
	size_t off[64], nrec, z, d0, i;
	int qfd = spool_dirfd(f->sp, "queue");

	env_full(&w);
	fill(&c, 70000, 6);
	write_msg(f, &w, &c, 1 << 20);
	slurp(qfd, w.id, &file);
	nrec = records(&file, off, 64);
	z = off[nrec - 1];
	for (d0 = 0; file.data[off[d0]] != 'D'; d0++)
		;
	assert_true(d0 >= 3);
	d0 = off[d0];

	/* Intact: the same envelope as spool_read, no size. */
	g = NULL;
	assert_int_equal(spool_read_envelope(qfd, w.id, &g, &errstr), 1);
	env_eq(&w, g);
	assert_int_equal(g->size, 0);
	spool_env_free(&g);

	/* Content damaged (the Z total, a cut in the content, no end
	 * record): spool_read fails, the envelope still reads. */
	for (i = 0; i < 3; i++) {
		buf_reset(&x);
		assert_int_equal(buf_append(&x, file.data, i == 0 ? file.len :
		    i == 1 ? d0 + 100 : z), 1);
		if (i == 0)
			x.data[z + 12] ^= 0x01;
		put(f->scratchfd, w.id, x.data, x.len);
		assert_int_equal(spool_read(f->scratchfd, w.id, &g, NULL,
		    &errstr), -1);
		g = NULL;
		assert_int_equal(spool_read_envelope(f->scratchfd, w.id, &g,
		    &errstr), 1);
		env_eq(&w, g);
		spool_env_free(&g);
	}

	/* Envelope damaged: the magic, a cut inside the envelope. */
	buf_reset(&x);
	assert_int_equal(buf_append(&x, file.data, file.len), 1);
	x.data[0] ^= 0x01;
	put(f->scratchfd, w.id, x.data, x.len);
	g = NULL;
	errstr = NULL;
	assert_int_equal(spool_read_envelope(f->scratchfd, w.id, &g, &errstr),
	    -1);
	assert_null(g);
	assert_string_equal(errstr, "bad magic or version");
	put(f->scratchfd, w.id, file.data, off[2] + 3);
	errstr = NULL;
	assert_int_equal(spool_read_envelope(f->scratchfd, w.id, &g, &errstr),
	    -1);
	assert_null(g);
	assert_non_null(errstr);

	/* No such file. */
	assert_int_equal(spool_read_envelope(f->scratchfd, "nosuchfile", &g,
	    &errstr), 0);
	assert_null(g);
	buf_free(&c);
	buf_free(&file);
	buf_free(&x);
}

static void
test_handmade(void **state)
{
	static const struct {
		const char	*spec;
		int		 ok;
	} t[] = {
		{ "I" ID "|Fa@b|Rc@d", 1 },
		{ "I" ID "|T123|Fa@b|Rc@d|N6|Orfc822;c@d|Dhello|D|Dworld", 1 },
		{ "I" ID "|F|RPostmaster|r1|B1|U1|Hh|C[::1]:25|Au|Ex", 1 },
		{ "I" ID "|Fa@b|Rc@d|Fe@f", 1 },	/* last wins */
		{ "I" ID "|Fa@b|Rc@d|r2|B2|N15", 1 },
		{ "I" ID "|Fa@b|Rc@d|Rx@y|Rz@w|N1", 1 },
		/* incomplete envelopes */
		{ "", 0 },
		{ "I" ID, 0 },
		{ "I" ID "|Fa@b", 0 },
		{ "I" ID "|Rc@d", 0 },
		{ "Fa@b|Rc@d", 0 },
		/* bad records */
		{ "I" ID "|I" ID "x|Fa@b|Rc@d", 0 },
		{ "I" ID "|I0123456789abcdef012|Fa@b|Rc@d", 0 },
		{ "I" ID "|Fa@b|N1|Rc@d", 0 },
		{ "I" ID "|Fa@b|Orfc822;x|Rc@d", 0 },
		{ "I" ID "|Fa@b|Rc@d|N16", 0 },
		{ "I" ID "|Fa@b|Rc@d|N", 0 },
		{ "I" ID "|Fa@b|Rc@d|N-1", 0 },
		{ "I" ID "|Fa@b|Rc@d|N1x", 0 },
		{ "I" ID "|Fa@b|Rc@d|r3", 0 },
		{ "I" ID "|Fa@b|Rc@d|B3", 0 },
		{ "I" ID "|Fa@b|Rc@d|U3", 0 },
		{ "I" ID "|Fa@b|Rc@d|Tx", 0 },
		{ "I" ID "|Fa@b|Rc@d|T", 0 },
		{ "I" ID "|Fa@b|Rc@d|T1234567890123456789", 0 },
		{ "I" ID "|Fa@b|Rc@d|T 1", 0 },
		{ "I" ID "|Fa@b|Rc@d|x", 0 },
		{ "I" ID "|Fa@b|Rc@d|Dx|Hh", 0 },
		{ "I" ID "|Fa@b|Rc@d|Dx|Rz@w", 0 },
		{ "I" ID "|Fa@b|Rc@d|Dx|Z0", 0 },
		{ "I" ID "|Fa@b|Rc@d|Dx|Z2", 0 },
		{ "I" ID "|Fa@b|Rc@d|Z1", 0 },
	};
	struct fixture *f = *state;
	struct spool_env *e;
	struct buf b = BUF_INIT(0), c = BUF_INIT(0);
	const char *errstr;
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		build(&b, t[i].spec);
		put(f->scratchfd, ID, b.data, b.len);
		errstr = NULL;
		if (read_both(f->scratchfd, ID, &e, &c, &errstr) !=
		    (t[i].ok ? 1 : -1))
			fail_msg("%s: %s", t[i].spec, t[i].ok ? errstr :
			    "accepted");
		spool_env_free(&e);
	}

	/* Field values of the second case. */
	build(&b, t[1].spec);
	put(f->scratchfd, ID, b.data, b.len);
	assert_int_equal(spool_read(f->scratchfd, ID, &e, &c, &errstr), 1);
	assert_true(e->arrival == 123);
	assert_int_equal(e->nrcpt, 1);
	assert_int_equal(e->rcpts[0].notify, 6);
	assert_string_equal(e->rcpts[0].orcpt, "rfc822;c@d");
	assert_string_equal(buf_cstr(&c), "helloworld");
	spool_env_free(&e);

	buf_free(&b);
	buf_free(&c);
}

/*
 * An ORCPT of the utf-8 type in a file written before bbdfe8d holds the
 * address in its utf-8-addr-xtext form (smtpd then kept it encoded); one
 * written since holds it decoded. Both read back as written, and both
 * leave as the same ORCPT and Original-Recipient, encoded once.
 */
static void
test_orcpt_old_form(void **state)
{
	static const char *const want[][3] = {
		/* ORCPT= without, with SMTPUTF8; Original-Recipient */
		{ "utf-8;j\\x{F6}rg\\x{2B}x@b\\x{FC}ro.example",
		  "utf-8;j\xc3\xb6rg\\x{2B}x@b\xc3\xbcro.example",
		  "utf-8;j\\x{F6}rg\\x{2B}x@b\\x{FC}ro.example" },
	};
	struct fixture *f = *state;
	struct spool_env *e;
	struct buf b = BUF_INIT(0), c = BUF_INIT(0), o = BUF_INIT(0);
	const char *why;
	size_t i;

	build(&b, "I" ID "|Fa@b|Rc@d|N4|"
	    "OUTF-8;j\\x{F6}rg\\x{2B}x@b\\x{FC}ro.example|"
	    "Re@f|N4|Outf-8;j\xc3\xb6rg+x@b\xc3\xbcro.example|Dx");
	put(f->scratchfd, ID, b.data, b.len);
	assert_int_equal(spool_read(f->scratchfd, ID, &e, &c, &why), 1);
	assert_int_equal(e->nrcpt, 2);
	assert_string_equal(e->rcpts[0].orcpt,
	    "UTF-8;j\\x{F6}rg\\x{2B}x@b\\x{FC}ro.example");
	for (i = 0; i < e->nrcpt; i++) {
		buf_reset(&o);
		assert_int_equal(uxtext_orcpt_param(&o, e->rcpts[i].orcpt, 0,
		    &why), 1);
		assert_string_equal(buf_cstr(&o), want[0][0]);
		buf_reset(&o);
		assert_int_equal(uxtext_orcpt_param(&o, e->rcpts[i].orcpt, 1,
		    &why), 1);
		assert_string_equal(buf_cstr(&o), want[0][1]);
		buf_reset(&o);
		assert_int_equal(uxtext_orcpt_field(&o, e->rcpts[i].orcpt, 0,
		    &why), 1);
		assert_string_equal(buf_cstr(&o), want[0][2]);
	}
	spool_env_free(&e);
	buf_free(&b);
	buf_free(&c);
	buf_free(&o);
}

/* Record lengths that promise more than the file holds, or too much. */
static void
test_lengths(void **state)
{
	struct fixture *f = *state;
	struct buf b = BUF_INIT(0), big = BUF_INIT(0);
	struct buf c = BUF_INIT(0);
	struct spool_env *e;
	const char *errstr;

	/* A 'D' record claiming 4 GiB in a tiny file: refused without
	 * reserving the claimed size first. */
	build(&b, "I" ID "|Fa@b|Rc@d|Z0");
	b.len -= 13;	/* drop Z */
	assert_int_equal(buf_append(&b, "D\xff\xff\xff\xffxyz", 8), 1);
	put(f->scratchfd, ID, b.data, b.len);
	assert_int_equal(read_both(f->scratchfd, ID, &e, &c, &errstr), -1);
	assert_true(c.cap <= 2 * 65536 + 64);
	buf_free(&c);

	/* fuzz_spool crasher (oom-a26c0e64): 'D' length 0x53007512, the
	 * reader used to buf_reserve() 1.3 GiB before reading. */
	{
		static const unsigned char oom[] =
		    "ESTAFETA-SPOOL 1\nI\0\0\0\x14" ID
		    "T\0\0\0\x0a" "1767225600F\0\0\0\0R\0\0\0\x0aPostmaster"
		    "DS\0u\x12\0\0bject: x\r\n\r\nhi\r\n"
		    "Z\0\0\0\x08\0\0\0\0\0\0\0\x12";

		put(f->scratchfd, ID, oom, sizeof(oom) - 1);
		assert_int_equal(read_both(f->scratchfd, ID, &e, &c, &errstr),
		    -1);
		assert_true(c.cap <= 2 * 65536 + 64);
		buf_free(&c);
	}
	/* An envelope record over 64 KiB. */
	build(&b, "I" ID "|Fa@b|Rc@d");
	b.len -= 13;
	fill(&big, 65537, 9);
	rec(&b, 'H', big.data, big.len);
	rec_z(&b, 0);
	put(f->scratchfd, ID, b.data, b.len);
	assert_int_equal(read_both(f->scratchfd, ID, &e, &c, &errstr), -1);
	/* 64 KiB exactly is fine. */
	build(&b, "I" ID "|Fa@b|Rc@d");
	b.len -= 13;
	rec(&b, 'H', big.data, 65536);
	rec_z(&b, 0);
	put(f->scratchfd, ID, b.data, b.len);
	assert_int_equal(read_both(f->scratchfd, ID, &e, &c, &errstr), 1);
	spool_env_free(&e);
	/* An envelope record claiming 4 GiB. */
	build(&b, "I" ID "|Fa@b|Rc@d");
	b.len -= 13;
	assert_int_equal(buf_append(&b, "H\xff\xff\xff\xffxyz", 8), 1);
	put(f->scratchfd, ID, b.data, b.len);
	assert_int_equal(read_both(f->scratchfd, ID, &e, &c, &errstr), -1);
	buf_free(&b);
	buf_free(&big);
	buf_free(&c);
}

/* A name shorter than a queue id must not be over-read when the 'I'
 * record is compared with it. */
static void
test_short_name(void **state)
{
	struct fixture *f = *state;
	struct buf b = BUF_INIT(0), c = BUF_INIT(0);
	struct spool_env *e = NULL;
	const char *errstr = NULL;
	char *name = strdup("abc");

	assert_non_null(name);
	buf_reset(&b);
	assert_int_equal(buf_appends(&b, MAGIC), 1);
	rec(&b, 'I', "abc\0defghijklmnopqr", 20);
	recs(&b, 'F', "a@b");
	recs(&b, 'R', "c@d");
	rec_z(&b, 0);
	put(f->scratchfd, name, b.data, b.len);
	assert_int_equal(spool_read(f->scratchfd, name, &e, &c, &errstr), -1);
	assert_null(e);
	(void)unlinkat(f->scratchfd, name, 0);
	free(name);
	buf_free(&b);
	buf_free(&c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_roundtrip, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_mixed_pieces, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_stream, setup, teardown),
		cmocka_unit_test_setup_teardown(test_random_pieces, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_read_appends, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_missing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_abort, setup, teardown),
		cmocka_unit_test(test_valid_id),
		cmocka_unit_test_setup_teardown(test_truncated, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_damaged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_envelope, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_handmade, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_lengths, setup, teardown),
		cmocka_unit_test_setup_teardown(test_orcpt_old_form, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_short_name, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
