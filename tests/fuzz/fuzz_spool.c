/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * libFuzzer target for the spool file reader. Once per process it makes a
 * scratch directory (under $TMPDIR, removed at exit); each input is
 * written there as a file named like a queue id and read with spool_read,
 * with and without a content buffer. Both reads must agree; an accepted
 * file must have the id of its name, a sender, a recipient, small enum
 * values and a size equal to the content read. spool_read_envelope (the
 * envelope of a file whose content is damaged) must accept every file
 * spool_read accepts, with the same envelope, and return only complete
 * envelopes. Aborts otherwise.
 */
#include "config.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/buf.h"
#include "relay/spool.h"

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define NAME	"0123456789abcdef0123"

static char	fuzz_dir[4096];
static int	fuzz_dfd = -1;

static void
check(int cond)
{
	if (!cond)
		abort();
}

static void
cleanup(void)
{
	if (fuzz_dfd != -1) {
		(void)unlinkat(fuzz_dfd, NAME, 0);	/* may not exist */
		(void)close(fuzz_dfd);
		(void)rmdir(fuzz_dir);	/* best effort at exit */
	}
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");
	int n;

	(void)argc;
	(void)argv;
	n = snprintf(fuzz_dir, sizeof(fuzz_dir), "%s/fuzz_spool.XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	check(n > 0 && (size_t)n < sizeof(fuzz_dir));
	check(mkdtemp(fuzz_dir) != NULL);
	fuzz_dfd = open(fuzz_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	check(fuzz_dfd != -1);
	check(atexit(cleanup) == 0);
	return 0;
}

static void
put(const uint8_t *data, size_t size)
{
	int fd = openat(fuzz_dfd, NAME, O_WRONLY | O_CREAT | O_TRUNC |
	    O_CLOEXEC, 0600);
	size_t off = 0;
	ssize_t w;

	check(fd != -1);
	while (off < size) {
		w = write(fd, data + off, size - off);
		check(w > 0);
		off += (size_t)w;
	}
	check(close(fd) == 0);
}

static void
check_env(const struct spool_env *e)
{
	size_t i;

	check(strcmp(e->id, NAME) == 0);
	check(e->sender != NULL && e->nrcpt > 0 && e->rcpts != NULL);
	for (i = 0; i < e->nrcpt; i++) {
		check(e->rcpts[i].addr != NULL);
		check(e->rcpts[i].notify <= 15);
	}
	check(e->ret >= 0 && e->ret <= 2);
	check(e->body >= 0 && e->body <= 2);
	check(e->smtputf8 >= 0 && e->smtputf8 <= 2);
	check(e->arrival >= 0);
}

/* The streaming reader agrees with spool_read: same content and size
 * when that succeeds; an error somewhere (envelope or content) when it
 * fails. */
static void
check_stream(int r1, const struct buf *content)
{
	struct spool_env *e = NULL;
	struct spool_content *sc = NULL;
	struct buf got = BUF_INIT(0);
	const char *errstr = NULL, *p;
	size_t n;
	int r;

	r = spool_open_content(fuzz_dfd, NAME, &e, &sc, &errstr);
	if (r == 1) {
		while ((r = spool_content_next(sc, &p, &n)) == 1)
			check(buf_append(&got, p, n) == 1);
		spool_content_close(&sc);
		/* Damage is found at open, before any content. */
		check(r == 0);
		r = 1;
	}
	check(r == r1);
	if (r1 == 1) {
		check(got.len == content->len && (got.len == 0 ||
		    memcmp(got.data, content->data, got.len) == 0));
		/* Known before the content is read (delivery's SIZE=). */
		check(e != NULL && e->size == content->len);
	}
	spool_env_free(&e);
	buf_free(&got);
}

/* The envelope alone: whenever the whole file reads, and the same. */
static void
check_envelope(int r1, const struct spool_env *whole)
{
	struct spool_env *e = NULL;
	const char *errstr = NULL;
	size_t i;
	int r;

	r = spool_read_envelope(fuzz_dfd, NAME, &e, &errstr);
	check(r == 1 || r == -1);
	if (r1 == 1)
		check(r == 1);
	if (r == -1) {
		check(e == NULL && errstr != NULL);
		return;
	}
	check_env(e);
	check(e->size == 0);
	if (r1 == 1) {
		check(strcmp(e->sender, whole->sender) == 0);
		check(e->arrival == whole->arrival && e->ret == whole->ret);
		check(e->nrcpt == whole->nrcpt);
		check((e->envid == NULL) == (whole->envid == NULL));
		for (i = 0; i < e->nrcpt; i++) {
			check(strcmp(e->rcpts[i].addr,
			    whole->rcpts[i].addr) == 0);
			check(e->rcpts[i].notify == whole->rcpts[i].notify);
		}
	}
	spool_env_free(&e);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct spool_env *e1 = NULL, *e2 = NULL;
	struct buf content = BUF_INIT(0);
	const char *err1 = NULL, *err2 = NULL;
	int r1, r2;

	put(data, size);
	r1 = spool_read(fuzz_dfd, NAME, &e1, &content, &err1);
	r2 = spool_read(fuzz_dfd, NAME, &e2, NULL, &err2);
	check(r1 == r2);
	check_stream(r1, &content);
	check_envelope(r1, e1);
	if (r1 == 1) {
		check(e1 != NULL && e2 != NULL);
		check_env(e1);
		check_env(e2);
		check(e1->size == content.len && e2->size == content.len);
		check(e1->nrcpt == e2->nrcpt);
		check(content.len < size);
	} else {
		check(r1 == -1 && e1 == NULL && e2 == NULL);
		check(err1 != NULL && err2 != NULL && strcmp(err1, err2) == 0);
	}
	spool_env_free(&e1);
	spool_env_free(&e2);
	buf_free(&content);
	return 0;
}
