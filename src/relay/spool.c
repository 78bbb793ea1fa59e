/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * The durable spool: see spool.h. Writers are smtpd (and the local
 * submission path); qmgr reads, moves and removes. This module must never
 * report a message as committed before it is on stable storage.
 */
#include "config.h"

#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "lib/buf.h"
#include "lib/ipc.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "relay/relay_cfg.h"
#include "relay/spool.h"

#define SPOOL_MAGIC		"ESTAFETA-SPOOL 1\n"
#define SPOOL_MAGIC_LEN		(sizeof(SPOOL_MAGIC) - 1)
#define SPOOL_CHUNK		65536
#define SPOOL_DIRECT		8192	/* appended without a copy from here */
#define SPOOL_MAX_ENVREC	65536
#define SPOOL_COMMIT_TIMEOUT	120000	/* ms to wait for qmgr */

struct spool {
	char	*path;
	char	*sock;		/* qmgr.sock: NOTIFY */
	char	*csock;		/* commit.sock: COMMIT (qmgr's commit thread) */
	int	 dirfd, incfd, queuefd, corruptfd;
	int	 sync_mode;
	int	 qmgr_fd, commit_fd;
	int	 no_notify;	/* qmgr's own writer: see spool_set_notify */
};

struct spool_msg {
	struct spool	*sp;
	char		 id[SPOOL_ID_LEN + 1];
	int		 fd;		/* holds the writer's flock */
	struct buf	 out;		/* encoded records not yet written */
	struct buf	 chunk;		/* content for the next 'D' record */
	unsigned long long total;
	int		 failed;
};

static int
spool_mkdirat(int dfd, const char *name, int create)
{
	int fd;

	if (create && mkdirat(dfd, name, 0700) == -1 && errno != EEXIST)
		return -1;
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return fd;
}

int
spool_open(const char *dir, int sync_mode, int create, struct spool **sp_r,
    const char **errstr_r)
{
	struct spool *sp = xcalloc(1, sizeof(*sp));
	struct buf b = BUF_INIT(0);

	sp->incfd = sp->queuefd = sp->corruptfd = sp->qmgr_fd = -1;
	sp->commit_fd = -1;
	sp->path = xstrdup(dir);
	sp->sync_mode = sync_mode;
	if (create && mkdir(dir, 0700) == -1 && errno != EEXIST) {
		*errstr_r = "cannot create spool directory";
		goto fail;
	}
	if ((sp->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		*errstr_r = "cannot open spool directory";
		goto fail;
	}
	if ((sp->incfd = spool_mkdirat(sp->dirfd, "incoming", create)) == -1 ||
	    (sp->queuefd = spool_mkdirat(sp->dirfd, "queue", create)) == -1 ||
	    (sp->corruptfd = spool_mkdirat(sp->dirfd, "corrupt", create)) ==
	    -1) {
		*errstr_r = "cannot open spool subdirectories";
		goto fail;
	}
	(void)buf_appendf(&b, "%s/qmgr.sock", dir);
	sp->sock = buf_steal(&b);
	(void)buf_appendf(&b, "%s/commit.sock", dir);
	sp->csock = buf_steal(&b);
	*sp_r = sp;
	return 1;
fail:
	spool_close(&sp);
	return -1;
}

void
spool_close(struct spool **spp)
{
	struct spool *sp = *spp;

	if (sp == NULL)
		return;
	if (sp->dirfd >= 0)
		(void)close(sp->dirfd);	/* read-only directory fds */
	if (sp->incfd >= 0)
		(void)close(sp->incfd);
	if (sp->queuefd >= 0)
		(void)close(sp->queuefd);
	if (sp->corruptfd >= 0)
		(void)close(sp->corruptfd);
	if (sp->qmgr_fd >= 0)
		(void)close(sp->qmgr_fd);
	if (sp->commit_fd >= 0)
		(void)close(sp->commit_fd);
	free(sp->path);
	free(sp->sock);
	free(sp->csock);
	free(sp);
	*spp = NULL;
}

void
spool_set_notify(struct spool *sp, int on)
{
	sp->no_notify = !on;
}

int
spool_dirfd(const struct spool *sp, const char *sub)
{
	if (strcmp(sub, "incoming") == 0)
		return sp->incfd;
	if (strcmp(sub, "queue") == 0)
		return sp->queuefd;
	if (strcmp(sub, "corrupt") == 0)
		return sp->corruptfd;
	return sp->dirfd;
}

const char *
spool_path(const struct spool *sp)
{
	return sp->path;
}

void
spool_new_id(char id[SPOOL_ID_LEN + 1])
{
	struct timespec ts;
	unsigned char rnd[4];
	unsigned long long us;

	(void)clock_gettime(CLOCK_REALTIME, &ts);	/* cannot fail */
	us = (unsigned long long)ts.tv_sec * 1000000ULL +
	    (unsigned long long)ts.tv_nsec / 1000;
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		log_fatal("spool: RAND_bytes failed");
	(void)snprintf(id, SPOOL_ID_LEN + 1, "%012llx%02x%02x%02x%02x",
	    us & 0xffffffffffffULL, rnd[0], rnd[1], rnd[2], rnd[3]);
}

int
spool_valid_id(const char *name)
{
	size_t i;

	for (i = 0; i < SPOOL_ID_LEN; i++)
		if (!((name[i] >= '0' && name[i] <= '9') ||
		    (name[i] >= 'a' && name[i] <= 'f')))
			return 0;
	return name[i] == '\0';
}

static void
spool_put_be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static uint32_t
spool_get_be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

static void
spool_rec(struct buf *b, char type, const void *p, size_t n)
{
	unsigned char h[5];

	ASSERT(n <= UINT32_MAX);
	h[0] = (unsigned char)type;
	spool_put_be32(h + 1, (uint32_t)n);
	if (buf_append(b, h, sizeof(h)) == -1 || buf_append(b, p, n) == -1)
		log_panic("spool_rec: unbounded buffer refused");
}

static void
spool_recs(struct buf *b, char type, const char *s)
{
	if (s != NULL)
		spool_rec(b, type, s, strlen(s));
}

static void
spool_recf(struct buf *b, char type, long long v)
{
	char num[32];
	int n = snprintf(num, sizeof(num), "%lld", v);

	ASSERT(n > 0 && (size_t)n < sizeof(num));
	spool_rec(b, type, num, (size_t)n);
}

struct spool_msg *
spool_begin(struct spool *sp, const struct spool_env *env,
    const char **errstr_r)
{
	struct spool_msg *m;
	size_t i;

	m = xcalloc(1, sizeof(*m));
	m->sp = sp;
	memcpy(m->id, env->id, sizeof(m->id));
	buf_init(&m->out, 0);
	buf_init(&m->chunk, 0);
	m->fd = openat(sp->incfd, m->id, O_WRONLY | O_CREAT | O_EXCL |
	    O_CLOEXEC, 0600);
	if (m->fd == -1) {
		*errstr_r = errno == ENOSPC ? "spool disk full" :
		    "cannot create spool file";
		buf_free(&m->out);
		free(m);
		return NULL;
	}
	/* Held until the file is queued or removed: qmgr leaves a locked
	 * file alone and recovers a complete one whose writer died. It may
	 * wait only for qmgr's short probe of this new, empty file. */
	if (flock(m->fd, LOCK_EX) == -1) {
		*errstr_r = "cannot lock spool file";
		spool_abort(&m);
		return NULL;
	}
	(void)buf_append(&m->out, SPOOL_MAGIC, SPOOL_MAGIC_LEN);
	spool_recs(&m->out, 'I', env->id);
	spool_recf(&m->out, 'T', env->arrival);
	spool_recs(&m->out, 'F', env->sender);
	for (i = 0; i < env->nrcpt; i++) {
		spool_recs(&m->out, 'R', env->rcpts[i].addr);
		if (env->rcpts[i].notify)
			spool_recf(&m->out, 'N', env->rcpts[i].notify);
		spool_recs(&m->out, 'O', env->rcpts[i].orcpt);
	}
	spool_recs(&m->out, 'E', env->envid);
	if (env->ret)
		spool_recf(&m->out, 'r', env->ret);
	if (env->body)
		spool_recf(&m->out, 'B', env->body);
	if (env->smtputf8)
		spool_recf(&m->out, 'U', 1);
	spool_recs(&m->out, 'H', env->helo);
	spool_recs(&m->out, 'C', env->client);
	spool_recs(&m->out, 'A', env->auth_user);
	return m;
}

/* Writes iov[0..n) whole. 1, or -1 with errno set. */
static int
spool_writev_all(int fd, struct iovec *iov, int n)
{
	ssize_t w;

	while (n > 0) {
		w = writev(fd, iov, n);
		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		for (; n > 0 && (size_t)w >= iov->iov_len; iov++, n--)
			w -= (ssize_t)iov->iov_len;
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
	return 1;
}

/*
 * Writes the pending records, the chunk as a 'D' record and p[0..n) as
 * another (when n > 0) with one writev: content handed over in large
 * pieces is never copied.
 */
static int
spool_flush(struct spool_msg *m, const void *p, size_t n)
{
	unsigned char h[2][5];
	struct iovec iov[5];
	int k = 0;

	ASSERT(m->chunk.len <= UINT32_MAX && n <= UINT32_MAX);
	if (m->out.len > 0)
		iov[k++] = (struct iovec){ m->out.data, m->out.len };
	if (m->chunk.len > 0) {
		h[0][0] = 'D';
		spool_put_be32(h[0] + 1, (uint32_t)m->chunk.len);
		iov[k++] = (struct iovec){ h[0], sizeof(h[0]) };
		iov[k++] = (struct iovec){ m->chunk.data, m->chunk.len };
	}
	if (n > 0) {
		h[1][0] = 'D';
		spool_put_be32(h[1] + 1, (uint32_t)n);
		iov[k++] = (struct iovec){ h[1], sizeof(h[1]) };
		iov[k++] = (struct iovec){ (void *)(uintptr_t)p, n };
	}
	if (k > 0 && spool_writev_all(m->fd, iov, k) == -1) {
		m->failed = 1;
		return -1;
	}
	buf_reset(&m->out);
	buf_reset(&m->chunk);
	return 1;
}

int
spool_append(struct spool_msg *m, const void *p, size_t n)
{
	const char *s = p;
	size_t take;

	if (m->failed)
		return -1;
	/* Large pieces go out as their own records, small ones are
	 * gathered into chunks of SPOOL_CHUNK octets. */
	while (n >= SPOOL_DIRECT) {
		take = n < SPOOL_CHUNK ? n : SPOOL_CHUNK;
		m->total += take;
		if (spool_flush(m, s, take) == -1)
			return -1;
		s += take;
		n -= take;
	}
	while (n > 0) {
		take = SPOOL_CHUNK - m->chunk.len;
		if (take > n)
			take = n;
		(void)buf_append(&m->chunk, s, take);	/* unbounded buf */
		m->total += take;
		s += take;
		n -= take;
		if (m->chunk.len == SPOOL_CHUNK && spool_flush(m, NULL, 0) ==
		    -1)
			return -1;
	}
	return 1;
}

static void
spool_msg_free(struct spool_msg **mp)
{
	struct spool_msg *m = *mp;

	/* Releases the lock once the file is in queue/ or unlinked; its
	 * durability came from fsync or qmgr's syncfs, not from close. */
	if (m->fd >= 0)
		(void)close(m->fd);
	buf_free(&m->out);
	buf_free(&m->chunk);
	free(m);
	*mp = NULL;
}

void
spool_abort(struct spool_msg **mp)
{
	if (*mp == NULL)
		return;
	(void)unlinkat((*mp)->sp->incfd, (*mp)->id, 0);	/* may not exist */
	spool_msg_free(mp);
}

/* Asks qmgr to cover the message with its next syncfs. 1, or -1 on any
 * IPC trouble (the caller falls back to its own fsync). */
static int
spool_commit_group(struct spool_msg *m)
{
	struct spool *sp = m->sp;
	struct buf reply = BUF_INIT(0);
	enum ipc_type type;
	int attempt, r = -1;

	for (attempt = 0; attempt < 2 && r == -1; attempt++) {
		if (sp->commit_fd == -1 &&
		    (sp->commit_fd = ipc_connect(sp->csock)) == -1)
			break;
		if (ipc_send(sp->commit_fd, IPC_COMMIT, m->id,
		    SPOOL_ID_LEN) == 1 &&
		    ipc_recv(sp->commit_fd, SPOOL_COMMIT_TIMEOUT, &type,
		    &reply) == 1) {
			if (type == IPC_COMMIT_OK && reply.len == SPOOL_ID_LEN &&
			    memcmp(reply.data, m->id, SPOOL_ID_LEN) == 0)
				r = 1;
			else {
				log_error("%s spool: qmgr refused commit: %s",
				    m->id, buf_cstr(&reply));
				break;
			}
		} else {
			(void)close(sp->commit_fd);	/* reconnect below */
			sp->commit_fd = -1;
		}
	}
	buf_free(&reply);
	return r;
}

/*
 * Tells qmgr that queue/<id> exists. A cached connection to a qmgr that
 * has since died fails on send: reconnect once, or the file would wait for
 * the next periodic reconciliation. If no qmgr listens, the next one finds
 * the file when it starts (it listens before it scans queue/).
 */
static void
spool_notify(struct spool *sp, const char *id)
{
	int attempt;

	if (sp->no_notify)
		return;

	for (attempt = 0; attempt < 2; attempt++) {
		if (sp->qmgr_fd == -1 &&
		    (sp->qmgr_fd = ipc_connect(sp->sock)) == -1)
			return;
		if (ipc_send(sp->qmgr_fd, IPC_NOTIFY, id, SPOOL_ID_LEN) == 1)
			return;
		(void)close(sp->qmgr_fd);	/* stale: qmgr restarted */
		sp->qmgr_fd = -1;
	}
}

static int
spool_commit_fsync(struct spool_msg *m)
{
	struct spool *sp = m->sp;
	int fd, queued = 0;

	/* Not in incoming/: qmgr queued it after all (a reply we gave up
	 * on); make sure it is durable where it is. */
	fd = openat(sp->incfd, m->id, O_RDONLY | O_CLOEXEC);
	if (fd == -1 && errno == ENOENT) {
		fd = openat(sp->queuefd, m->id, O_RDONLY | O_CLOEXEC);
		queued = 1;
	}
	if (fd == -1 || fsync(fd) == -1) {
		if (fd != -1)
			(void)close(fd);
		return -1;
	}
	(void)close(fd);	/* read-only, already synced */
	if ((!queued && renameat(sp->incfd, m->id, sp->queuefd, m->id) == -1)
	    || fsync(sp->queuefd) == -1)
		return -1;
	spool_notify(sp, m->id);
	return 1;
}

int
spool_commit(struct spool_msg **mp, const char **errstr_r)
{
	struct spool_msg *m = *mp;
	unsigned char z[8];
	int i;

	for (i = 0; i < 8; i++)
		z[i] = (unsigned char)(m->total >> (56 - 8 * i));
	if (!m->failed && m->chunk.len > 0)
		spool_rec(&m->out, 'D', m->chunk.data, m->chunk.len);
	buf_reset(&m->chunk);
	spool_rec(&m->out, 'Z', z, sizeof(z));
	/* The descriptor stays open (and locked) until the file is queued. */
	if (m->failed || spool_flush(m, NULL, 0) == -1 || (m->sp->sync_mode == SPOOL_SYNC_FSYNC && fsync(m->fd) == -1))
		goto fail;
	if (m->sp->sync_mode == SPOOL_SYNC_GROUP &&
	    spool_commit_group(m) == 1) {
		spool_msg_free(mp);
		return 1;
	}
	if (spool_commit_fsync(m) == 1) {
		spool_msg_free(mp);
		return 1;
	}
fail:
	*errstr_r = errno == ENOSPC ? "spool disk full" : "spool write failed";
	spool_abort(mp);
	return -1;
}

/* ------------------------------------------------------------ reading */

struct spool_reader {
	int		 fd;
	unsigned char	*buf;
	size_t		 cap, pos, len;
	char		 rec;		/* 'D' or 'Z': the record being read */
	size_t		 left;		/* its octets not read yet */
	unsigned long long total;	/* content octets the 'D' records hold */
};

static struct spool_reader *
spool_reader_new(int fd, size_t cap)
{
	struct spool_reader *r = xcalloc(1, sizeof(*r));

	r->fd = fd;
	r->cap = cap;
	r->buf = xmalloc(cap);
	return r;
}

static void
spool_reader_free(struct spool_reader *r)
{
	if (r != NULL) {
		free(r->buf);
		free(r);
	}
}

/* Refills an empty buffer. 1, or -1 at the end of the file or on error. */
static int
spool_fill(struct spool_reader *r)
{
	ssize_t got;

	r->pos = r->len = 0;
	do {
		got = read(r->fd, r->buf, r->cap);
	} while (got == -1 && errno == EINTR);
	if (got <= 0)
		return -1;
	r->len = (size_t)got;
	return 1;
}

static int
spool_rd(struct spool_reader *r, void *p, size_t n)
{
	unsigned char *d = p;
	size_t take;

	while (n > 0) {
		if (r->pos == r->len && spool_fill(r) == -1)
			return -1;
		take = r->len - r->pos;
		if (take > n)
			take = n;
		memcpy(d, r->buf + r->pos, take);
		d += take;
		r->pos += take;
		n -= take;
	}
	return 1;
}

/* Skips n octets: what is not buffered is seeked over, not read. Past the
 * end of the file, the next read fails. */
static int
spool_skip(struct spool_reader *r, size_t n)
{
	size_t take = r->len - r->pos;

	if (take > n)
		take = n;
	r->pos += take;
	n -= take;
	if (n > 0 && lseek(r->fd, (off_t)n, SEEK_CUR) == (off_t)-1)
		return -1;
	return 1;
}

static int
spool_at_eof(struct spool_reader *r)
{
	unsigned char c;

	return spool_rd(r, &c, 1) == -1;
}

static char *
spool_env_str(const unsigned char *p, size_t n)
{
	return xstrndup((const char *)p, n);
}

static int
spool_parse_num(const unsigned char *p, size_t n, long long *v)
{
	long long x = 0;
	size_t i;

	if (n == 0 || n > 18)
		return -1;
	for (i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		x = x * 10 + (p[i] - '0');
	}
	*v = x;
	return 1;
}

static int
spool_env_rec(struct spool_env *e, char type, const unsigned char *p,
    size_t n, const char *name)
{
	struct spool_rcpt *rc;
	long long v;

	switch (type) {
	case 'I':
		/* name may be shorter than an id: no memcmp past its end. */
		if (n != SPOOL_ID_LEN || strlen(name) != SPOOL_ID_LEN ||
		    memcmp(p, name, n) != 0)
			return -1;
		memcpy(e->id, p, n);
		return 1;
	case 'T':
		return spool_parse_num(p, n, &e->arrival);
	case 'F':
		free(e->sender);
		e->sender = spool_env_str(p, n);
		return 1;
	case 'R':
		e->rcpts = xrealloc(e->rcpts, (e->nrcpt + 1) * sizeof(*rc));
		rc = &e->rcpts[e->nrcpt++];
		memset(rc, 0, sizeof(*rc));
		rc->addr = spool_env_str(p, n);
		return 1;
	case 'N':
	case 'O':
		if (e->nrcpt == 0)
			return -1;
		rc = &e->rcpts[e->nrcpt - 1];
		if (type == 'O') {
			free(rc->orcpt);
			rc->orcpt = spool_env_str(p, n);
			return 1;
		}
		if (spool_parse_num(p, n, &v) == -1 || v > 15)
			return -1;
		rc->notify = (unsigned)v;
		return 1;
	case 'E':
		free(e->envid);
		e->envid = spool_env_str(p, n);
		return 1;
	case 'r':
	case 'B':
	case 'U':
		if (spool_parse_num(p, n, &v) == -1 || v > 2)
			return -1;
		*(type == 'r' ? &e->ret : type == 'B' ? &e->body :
		    &e->smtputf8) = (int)v;
		return 1;
	case 'H':
		free(e->helo);
		e->helo = spool_env_str(p, n);
		return 1;
	case 'C':
		free(e->client);
		e->client = spool_env_str(p, n);
		return 1;
	case 'A':
		free(e->auth_user);
		e->auth_user = spool_env_str(p, n);
		return 1;
	}
	return -1;
}

/* Reads a record header into h. 1, or -1 (truncated). */
static int
spool_rec_head(struct spool_reader *r, unsigned char h[5], size_t *n_r)
{
	if (spool_rd(r, h, 5) == -1)
		return -1;
	*n_r = spool_get_be32(h + 1);
	return 1;
}

/*
 * Reads the magic and the envelope records into e, up to the header of the
 * first content record ('D' or 'Z'), which r then holds. 1, or -1 with
 * *errstr_r.
 */
static int
spool_read_env(struct spool_reader *r, const char *name, struct spool_env *e,
    const char **errstr_r)
{
	unsigned char h[5], magic[SPOOL_MAGIC_LEN], *rec = NULL;
	size_t n;
	int ok = -1;

	*errstr_r = "truncated";
	if (spool_rd(r, magic, sizeof(magic)) == -1)
		return -1;
	if (memcmp(magic, SPOOL_MAGIC, sizeof(magic)) != 0) {
		*errstr_r = "bad magic or version";
		return -1;
	}
	for (;;) {
		*errstr_r = "truncated";
		if (spool_rec_head(r, h, &n) == -1)
			break;
		if (h[0] == 'D' || h[0] == 'Z') {
			r->rec = (char)h[0];
			r->left = n;
			r->total = h[0] == 'D' ? n : 0;
			ok = 1;
			break;
		}
		*errstr_r = "bad envelope record";
		if (n > SPOOL_MAX_ENVREC)
			break;
		rec = xrealloc(rec, n + 1);
		if (spool_rd(r, rec, n) == -1) {
			*errstr_r = "truncated";
			break;
		}
		if (spool_env_rec(e, (char)h[0], rec, n, name) == -1)
			break;
	}
	free(rec);
	return ok;
}

/*
 * The next piece of content, straight from the reader's buffer (valid
 * until the next call): 1 with *p_r, *n_r; 0 after the end record, checked
 * against the content length and the end of the file; -1 with *errstr_r.
 * With skip set, the content is seeked over and never returned.
 */
static int
spool_next(struct spool_reader *r, int skip, const unsigned char **p_r,
    size_t *n_r, const char **errstr_r)
{
	unsigned char h[5], z[8];
	unsigned long long ztotal = 0;
	size_t n;
	int i;

	*errstr_r = "truncated";
	while (r->rec == 'D') {
		if (r->left > 0 && skip) {
			if (spool_skip(r, r->left) == -1)
				return -1;
			r->left = 0;
		}
		if (r->left > 0) {
			if (r->pos == r->len && spool_fill(r) == -1)
				return -1;
			n = r->len - r->pos;
			if (n > r->left)
				n = r->left;
			*p_r = r->buf + r->pos;
			*n_r = n;
			r->pos += n;
			r->left -= n;
			return 1;
		}
		if (spool_rec_head(r, h, &n) == -1)
			return -1;
		if (h[0] != 'D' && h[0] != 'Z') {
			*errstr_r = "bad envelope record";
			return -1;
		}
		r->rec = (char)h[0];
		r->left = n;
		if (h[0] == 'D')
			r->total += n;
	}
	if (r->left != 8 || spool_rd(r, z, 8) == -1)
		return -1;
	for (i = 0; i < 8; i++)
		ztotal = ztotal << 8 | z[i];
	*errstr_r = "content length mismatch";
	if (ztotal != r->total)
		return -1;
	*errstr_r = "data after end record";
	if (!spool_at_eof(r))
		return -1;
	return 0;
}

static int
spool_read_fd(int fd, const char *name, struct spool_env *e,
    struct buf *content, const char **errstr_r)
{
	/* Without content, a small buffer: the content is seeked over. */
	struct spool_reader *r = spool_reader_new(fd, content != NULL ?
	    SPOOL_CHUNK : 4096);
	const unsigned char *p;
	size_t n;
	int ok = -1, got;

	if (spool_read_env(r, name, e, errstr_r) == -1)
		goto out;
	while ((got = spool_next(r, content == NULL, &p, &n, errstr_r)) == 1)
		if (buf_append(content, p, n) == -1) {
			*errstr_r = "content over the buffer's maximum";
			goto out;
		}
	if (got == -1)
		goto out;
	*errstr_r = "incomplete envelope";
	if (e->id[0] == '\0' || e->sender == NULL || e->nrcpt == 0)
		goto out;
	e->size = r->total;
	ok = 1;
out:
	spool_reader_free(r);
	return ok;
}

int
spool_read(int dirfd, const char *name, struct spool_env **env_r,
    struct buf *content, const char **errstr_r)
{
	struct spool_env *e;
	int fd, r;

	if ((fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC)) == -1) {
		if (errno == ENOENT)
			return 0;
		*errstr_r = SPOOL_ERR_OPEN;
		return -1;
	}
	e = xcalloc(1, sizeof(*e));
	r = spool_read_fd(fd, name, e, content, errstr_r);
	(void)close(fd);	/* read-only */
	if (r == -1) {
		spool_env_free(&e);
		return -1;
	}
	*env_r = e;
	return 1;
}

int
spool_read_envelope(int dirfd, const char *name, struct spool_env **env_r,
    const char **errstr_r)
{
	struct spool_reader *r;
	struct spool_env *e;
	int fd, ok;

	if ((fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC)) == -1) {
		if (errno == ENOENT)
			return 0;
		*errstr_r = SPOOL_ERR_OPEN;
		return -1;
	}
	e = xcalloc(1, sizeof(*e));
	r = spool_reader_new(fd, 4096);
	ok = spool_read_env(r, name, e, errstr_r);
	spool_reader_free(r);
	(void)close(fd);	/* read-only */
	if (ok == 1 && (e->id[0] == '\0' || e->sender == NULL ||
	    e->nrcpt == 0)) {
		*errstr_r = "incomplete envelope";
		ok = -1;
	}
	if (ok == -1) {
		spool_env_free(&e);
		return -1;
	}
	*env_r = e;
	return 1;
}

struct spool_content {
	struct spool_reader	*r;
	const char		*errstr;
};

/* Octets of the file at off, for spool_content_size(): from the reader's
 * buffer (which holds the file from bufoff) or a small window of its own,
 * refilled with pread. 1, or -1 past the end of the file. */
struct spool_walk {
	const struct spool_reader *r;
	off_t		 bufoff;
	unsigned char	 win[512];
	off_t		 woff;
	size_t		 wlen;
};

static int
spool_walk_get(struct spool_walk *w, off_t off, unsigned char *p, size_t n)
{
	ssize_t got;

	ASSERT(n <= sizeof(w->win));
	if (off >= w->bufoff && off - w->bufoff + (off_t)n <=
	    (off_t)w->r->len) {
		memcpy(p, w->r->buf + (off - w->bufoff), n);
		return 1;
	}
	if (off < w->woff || off - w->woff + (off_t)n > (off_t)w->wlen) {
		do {
			got = pread(w->r->fd, w->win, sizeof(w->win), off);
		} while (got == -1 && errno == EINTR);
		w->woff = off;
		w->wlen = got > 0 ? (size_t)got : 0;
		if (w->wlen < n)
			return -1;
	}
	memcpy(p, w->win + (off - w->woff), n);
	return 1;
}

/*
 * The content length, from the record headers that follow the envelope
 * (their contents are stepped over, not read): delivery announces it
 * (SIZE=) and checks it against the peer's limit before any content is
 * sent, so the end record's total is only trusted when the records
 * before it add up to it and it ends the file. A file damaged since it
 * was queued fails here, before any connection is made, with the same
 * reasons spool_next() would give at the end. 1, or -1 with *errstr_r.
 */
static int
spool_content_size(const struct spool_reader *r, unsigned long long *size_r,
    const char **errstr_r)
{
	struct spool_walk w;
	struct stat st;
	unsigned char h[8];
	unsigned long long total = 0, ztotal = 0;
	off_t off, end;
	size_t n;
	char rec = r->rec;
	int i;

	memset(&w, 0, sizeof(w));
	w.r = r;
	*errstr_r = "cannot read";
	if (fstat(r->fd, &st) == -1 ||
	    (end = lseek(r->fd, 0, SEEK_CUR)) == (off_t)-1)
		return -1;
	w.bufoff = end - (off_t)r->len;
	off = w.bufoff + (off_t)r->pos;	/* the first record's data */
	n = r->left;
	*errstr_r = "truncated";
	while (rec == 'D') {
		total += n;
		off += (off_t)n;
		if (off > st.st_size || spool_walk_get(&w, off, h, 5) == -1)
			return -1;
		off += 5;
		if (h[0] != 'D' && h[0] != 'Z') {
			*errstr_r = "bad envelope record";
			return -1;
		}
		rec = (char)h[0];
		n = spool_get_be32(h + 1);
	}
	if (n != 8 || spool_walk_get(&w, off, h, 8) == -1)
		return -1;
	for (i = 0; i < 8; i++)
		ztotal = ztotal << 8 | h[i];
	*errstr_r = "content length mismatch";
	if (ztotal != total)
		return -1;
	*errstr_r = "data after end record";
	if (off + 8 != st.st_size)
		return -1;
	*size_r = total;
	return 1;
}

int
spool_open_content(int dirfd, const char *name, struct spool_env **env_r,
    struct spool_content **c_r, const char **errstr_r)
{
	struct spool_content *c;
	struct spool_env *e;
	int fd;

	if ((fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC)) == -1) {
		if (errno == ENOENT)
			return 0;
		*errstr_r = SPOOL_ERR_OPEN;
		return -1;
	}
	e = xcalloc(1, sizeof(*e));
	c = xcalloc(1, sizeof(*c));
	c->r = spool_reader_new(fd, SPOOL_CHUNK);
	if (spool_read_env(c->r, name, e, errstr_r) == -1 ||
	    e->id[0] == '\0' || e->sender == NULL || e->nrcpt == 0 ||
	    spool_content_size(c->r, &e->size, errstr_r) == -1) {
		if (e->id[0] == '\0' || e->sender == NULL || e->nrcpt == 0)
			*errstr_r = "incomplete envelope";
		spool_env_free(&e);
		spool_content_close(&c);
		return -1;
	}
	*env_r = e;
	*c_r = c;
	return 1;
}

int
spool_content_next(struct spool_content *c, const char **p_r, size_t *n_r)
{
	const unsigned char *p;
	int r;

	if ((r = spool_next(c->r, 0, &p, n_r, &c->errstr)) == 1)
		*p_r = (const char *)p;
	return r;
}

const char *
spool_content_error(const struct spool_content *c)
{
	return c->errstr != NULL ? c->errstr : "";
}

void
spool_content_close(struct spool_content **cp)
{
	struct spool_content *c = *cp;

	if (c == NULL)
		return;
	(void)close(c->r->fd);	/* read-only */
	spool_reader_free(c->r);
	free(c);
	*cp = NULL;
}

void
spool_env_free(struct spool_env **ep)
{
	struct spool_env *e = *ep;
	size_t i;

	if (e == NULL)
		return;
	for (i = 0; i < e->nrcpt; i++) {
		free(e->rcpts[i].addr);
		free(e->rcpts[i].orcpt);
	}
	free(e->rcpts);
	free(e->sender);
	free(e->envid);
	free(e->helo);
	free(e->client);
	free(e->auth_user);
	free(e);
	*ep = NULL;
}
