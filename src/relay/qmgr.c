/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * qmgr: see qmgr.h for its job and what it may touch.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/ipc.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "relay/qidx.h"
#include "relay/qmgr.h"
#include "relay/qmgr_sched.h"
#include "relay/relay_cfg.h"
#include "relay/smtpd.h"
#include "relay/spool.h"

#define QMGR_MAX_CLIENTS	4096
#define QMGR_RECONCILE_MS	(10 * 60 * 1000)
#define QMGR_STALE_INCOMING	(2 * 60 * 60)	/* seconds */
/* Indexing waits to make one transaction of many messages (fewer WAL
 * pages for the next syncfs to write), but never longer than this. */
#define QMGR_INDEX_DELAY_MS	50
#define QMGR_INDEX_BATCH	128
/* Index writes (new messages, delivery results) are committed together
 * at most this often: the WAL then holds each changed page once per
 * commit instead of once per round, and every syncfs has that much less
 * to write. The index is a cache of the spool: a crash loses nothing. */
#define QMGR_INDEX_COMMIT_MS	20
#define QMGR_MAX_SCHED_FDS	1001	/* deliver.sock + workers */

struct qmgr_idlist {
	char	**v;
	size_t	  n;
};

struct qmgr_pending {
	int	 fd;
	char	 id[SPOOL_ID_LEN + 1];
	int	 reply;		/* 1: COMMIT wants an answer */
	int	 ok;		/* durable and in queue/ */
};

/*
 * The group commit runs in a thread of its own, so that a syncfs (several
 * milliseconds on a journaled disk) never stalls scheduling and delivery
 * results never delay a commit: while one syncfs runs, the next batch
 * gathers. The thread touches only the spool directories and the smtpd
 * sockets of its batch (under mu, so the main thread never closes one
 * while it answers); the index stays the main thread's. It also unlinks
 * the files of delivered messages (already out of the index).
 */
struct qmgr_sync {
	pthread_t		 th;
	pthread_mutex_t		 mu;
	pthread_cond_t		 cv;
	struct qmgr_pending	*in;	/* waiting for the next syncfs */
	size_t			 nin, capin;
	struct qmgr_pending	*cur;	/* in the running syncfs */
	size_t			 ncur, capcur;
	struct qmgr_idlist	 done;	/* committed: for the main thread */
	struct qmgr_idlist	 unl;	/* queue/ files to unlink */
	int			 unl_busy;	/* unlinking outside mu */
	pthread_cond_t		 idle;	/* unl empty and not busy */
	int			 wake[2];	/* thread -> main: done grew */
	int			 stop;
	int			 ifd, qfd;
};

struct qmgr {
	const struct relay_cfg	*cfg;
	struct spool		*spool;
	struct qidx		*idx;
	int			 lfd;
	struct pollfd		*pfd;	/* [0] = listener, then clients */
	size_t			 npfd;
	struct qmgr_pending	*pend;
	size_t			 npend, cappend;
	struct qmgr_idlist	*toindex;	/* queued, not yet indexed */
	struct qmgr_sched	*sched;		/* NULL: no delivery */
	long long		 index_due;	/* ms; 0 = nothing waiting */
	struct buf		 frame;
	struct qmgr_sync	 sync;
};

static volatile sig_atomic_t qmgr_stop;

static long long
qmgr_now_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);	/* cannot fail */
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
qmgr_on_signal(int sig)
{
	(void)sig;
	qmgr_stop = 1;
}

/* Indexes queue/<id>; an unreadable file goes to corrupt/. 1: added to
 * the index; 0: indexed already or no such file; -1: corrupt or error. */
static int
qmgr_index_one(struct qmgr *q, const char *id)
{
	struct spool_env *e;
	const char *errstr;
	int qfd = spool_dirfd(q->spool, "queue");
	int r;

	if ((r = qidx_has(q->idx, id)) != 0) {
		if (r == -1)
			log_error("%s qmgr index lookup failed", id);
		return r == 1 ? 0 : -1;
	}
	r = spool_read(qfd, id, &e, NULL, &errstr);
	if (r == 0)
		return 0;
	if (r == -1) {
		if (renameat(qfd, id, spool_dirfd(q->spool, "corrupt"), id) ==
		    -1)
			log_error("%s qmgr corrupt file error=\"%s\" "
			    "move_failed=\"%s\"", id, errstr, strerror(errno));
		else
			log_error("%s qmgr corrupt file moved to corrupt/ "
			    "error=\"%s\"", id, errstr);
		return -1;
	}
	r = qidx_add(q->idx, e);
	if (r == -1)
		log_error("%s qmgr index add failed", id);
	else
		log_info("%s qmgr queued from=<%s> nrcpt=%zu size=%llu", id,
		    e->sender, e->nrcpt, e->size);
	spool_env_free(&e);
	return r == -1 ? -1 : 1;
}

/* ---------------------------------------------------------- reconcile */

static int
qmgr_collect_id(void *arg, const char *id)
{
	struct qmgr_idlist *l = arg;

	l->v = xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
	l->v[l->n++] = xstrdup(id);
	return 1;
}

static void
qmgr_idlist_free(struct qmgr_idlist *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* Lists the queue-id names in a spool subdirectory. */
static int
qmgr_scan(struct qmgr *q, const char *sub, struct qmgr_idlist *l)
{
	DIR *d;
	struct dirent *de;
	int fd = openat(spool_dirfd(q->spool, sub), ".", O_RDONLY |
	    O_DIRECTORY | O_CLOEXEC);

	if (fd == -1 || (d = fdopendir(fd)) == NULL) {
		if (fd != -1)
			(void)close(fd);
		log_error("qmgr cannot scan %s/: %s", sub, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (!spool_valid_id(de->d_name)) {
			log_warn("qmgr ignoring stray file %s/%s", sub,
			    de->d_name);
			continue;
		}
		(void)qmgr_collect_id(l, de->d_name);
	}
	(void)closedir(d);	/* read-only */
	return 1;
}

/* incoming/: complete files may have been acknowledged -> queue them;
 * incomplete ones older than QMGR_STALE_INCOMING were abandoned. */
static void
qmgr_reconcile_incoming(struct qmgr *q, int recover)
{
	struct qmgr_idlist l = { NULL, 0 };
	struct spool_env *e;
	struct stat st;
	const char *errstr;
	int ifd = spool_dirfd(q->spool, "incoming");
	int qfd = spool_dirfd(q->spool, "queue");
	size_t i, moved = 0;

	if (qmgr_scan(q, "incoming", &l) == -1)
		return;
	for (i = 0; i < l.n; i++) {
		if (spool_read(ifd, l.v[i], &e, NULL, &errstr) == 1) {
			spool_env_free(&e);
			/* Only before any smtpd runs: a live one may be
			 * about to COMMIT this very file. */
			if (!recover)
				continue;
			if (renameat(ifd, l.v[i], qfd, l.v[i]) == 0) {
				log_info("%s qmgr recovered complete file from "
				    "incoming/", l.v[i]);
				moved++;
			}
			continue;
		}
		if (fstatat(ifd, l.v[i], &st, 0) == 0 &&
		    time(NULL) - st.st_mtime > QMGR_STALE_INCOMING) {
			log_info("%s qmgr removing abandoned incomplete file "
			    "error=\"%s\"", l.v[i], errstr);
			(void)unlinkat(ifd, l.v[i], 0);	/* logged */
		}
	}
	if (moved && syncfs(qfd) == -1)
		log_error("qmgr syncfs: %s", strerror(errno));
	qmgr_idlist_free(&l);
}

static int
qmgr_idcmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
qmgr_reconcile(struct qmgr *q, int recover)
{
	struct qmgr_idlist files = { NULL, 0 }, rows = { NULL, 0 };
	size_t i, added = 0, failed = 0, dropped = 0;
	int r;

	qmgr_reconcile_incoming(q, recover);
	if (qmgr_scan(q, "queue", &files) == -1)
		return;
	if (qidx_foreach_id(q->idx, qmgr_collect_id, &rows) == -1) {
		log_error("qmgr cannot read the index");
		goto out;
	}
	if (files.n > 0)
		qsort(files.v, files.n, sizeof(*files.v), qmgr_idcmp);
	if (qidx_begin(q->idx) == -1)
		goto out;
	for (i = 0; i < files.n; i++) {
		if ((r = qmgr_index_one(q, files.v[i])) == 1)
			added++;
		else if (r == -1)
			failed++;
	}
	for (i = 0; i < rows.n; i++)
		if (files.n == 0 || bsearch(&rows.v[i], files.v, files.n,
		    sizeof(*files.v), qmgr_idcmp) == NULL) {
			log_warn("%s qmgr index row without spool file: "
			    "dropped", rows.v[i]);
			if (qidx_remove(q->idx, rows.v[i]) == -1)
				log_error("%s qmgr cannot drop the index row",
				    rows.v[i]);
			else
				dropped++;
		}
	if (qidx_commit(q->idx) == -1)
		log_error("qmgr index commit failed");
	log_info("qmgr reconciled files=%zu indexed_before=%zu added=%zu "
	    "failed=%zu dropped=%zu", files.n, rows.n, added, failed,
	    dropped);
out:
	qmgr_idlist_free(&files);
	qmgr_idlist_free(&rows);
}

/* --------------------------------------------------------- commits */

static void
qmgr_drop_client(struct qmgr *q, size_t i)
{
	struct qmgr_sync *y = &q->sync;
	int fd = q->pfd[i].fd;
	size_t j;

	/* Pending entries of this client no longer get a reply; the commit
	 * thread answers under mu, so the descriptor is closed under it. */
	for (j = 0; j < q->npend; j++)
		if (q->pend[j].fd == fd)
			q->pend[j].reply = 0;
	(void)pthread_mutex_lock(&y->mu);
	for (j = 0; j < y->nin; j++)
		if (y->in[j].fd == fd)
			y->in[j].reply = 0;
	for (j = 0; j < y->ncur; j++)
		if (y->cur[j].fd == fd)
			y->cur[j].reply = 0;
	(void)close(fd);
	(void)pthread_mutex_unlock(&y->mu);
	q->pfd[i] = q->pfd[--q->npfd];
}

static void
qmgr_read_client(struct qmgr *q, size_t i)
{
	enum ipc_type type;
	struct qmgr_pending *p;
	int r;

	for (;;) {
		r = ipc_recv(q->pfd[i].fd, 0, &type, &q->frame);
		if (r == -1 && errno == EAGAIN)
			return;
		if (r == 1 && type == IPC_CTL && q->sched != NULL) {
			struct buf reply = BUF_INIT(0);

			qmgr_sched_ctl(q->sched, buf_cstr(&q->frame),
			    q->frame.len, &reply);
			(void)ipc_send(q->pfd[i].fd, IPC_CTL_REPLY, reply.data,
			    reply.len);	/* estafetactl reports a loss */
			buf_free(&reply);
			continue;
		}
		if (r != 1 || (type != IPC_COMMIT && type != IPC_NOTIFY) ||
		    q->frame.len != SPOOL_ID_LEN ||
		    !spool_valid_id(buf_cstr(&q->frame))) {
			if (r == 1 || (r == -1 && errno == EPROTO))
				log_error("qmgr malformed frame from smtpd: "
				    "dropping the connection");
			qmgr_drop_client(q, i);
			return;
		}
		if (q->npend == q->cappend) {
			q->cappend = q->cappend ? q->cappend * 2 : 64;
			q->pend = xrealloc(q->pend, q->cappend *
			    sizeof(*q->pend));
		}
		p = &q->pend[q->npend++];
		p->fd = q->pfd[i].fd;
		p->reply = type == IPC_COMMIT;
		memcpy(p->id, q->frame.data, SPOOL_ID_LEN);
		p->id[SPOOL_ID_LEN] = '\0';
	}
}

/* The commit thread: one syncfs covers every COMMIT gathered since the
 * last one; then each file is moved into queue/ and acknowledged, and the
 * ids go to the main thread for indexing. */
static void *
qmgr_sync_main(void *arg)
{
	struct qmgr_sync *y = arg;
	struct qmgr_pending *p, *t;
	struct qmgr_idlist unl;
	size_t i, tc;
	int synced;
	char c = 1;

	(void)pthread_mutex_lock(&y->mu);
	for (;;) {
		while (y->nin == 0 && y->unl.n == 0 && !y->stop)
			(void)pthread_cond_wait(&y->cv, &y->mu);
		if (y->unl.n > 0) {
			unl = y->unl;
			y->unl.v = NULL;
			y->unl.n = 0;
			y->unl_busy = 1;
			(void)pthread_mutex_unlock(&y->mu);
			for (i = 0; i < unl.n; i++)
				if (unlinkat(y->qfd, unl.v[i], 0) == -1 &&
				    errno != ENOENT)
					log_error("%s qmgr cannot remove the "
					    "delivered message (it will be "
					    "delivered again): %s", unl.v[i],
					    strerror(errno));
			qmgr_idlist_free(&unl);
			(void)pthread_mutex_lock(&y->mu);
			y->unl_busy = 0;
			if (y->unl.n == 0)
				(void)pthread_cond_broadcast(&y->idle);
		}
		if (y->nin == 0) {
			if (y->stop && y->unl.n == 0)
				break;		/* stopping, nothing left */
			continue;
		}
		t = y->cur;
		y->cur = y->in;
		y->in = t;
		tc = y->capcur;
		y->capcur = y->capin;
		y->capin = tc;
		y->ncur = y->nin;
		y->nin = 0;
		(void)pthread_mutex_unlock(&y->mu);

		/* cur is ours now; only the reply flags may change. */
		synced = syncfs(y->qfd) == 0;
		if (!synced)
			log_error("qmgr syncfs failed: %s", strerror(errno));
		for (i = 0; i < y->ncur; i++) {
			p = &y->cur[i];
			p->ok = synced;
			if (synced && renameat(y->ifd, p->id, y->qfd, p->id) ==
			    -1 && (errno != ENOENT || faccessat(y->qfd, p->id,
			    F_OK, 0) == -1)) {
				log_error("%s qmgr cannot queue: %s", p->id,
				    strerror(errno));
				p->ok = 0;
			}
		}

		(void)pthread_mutex_lock(&y->mu);
		for (i = 0; i < y->ncur; i++) {
			p = &y->cur[i];
			/* A lost client retries. */
			if (p->reply)
				(void)ipc_send(p->fd, p->ok ? IPC_COMMIT_OK :
				    IPC_COMMIT_FAIL, p->id, SPOOL_ID_LEN);
			if (p->ok)
				(void)qmgr_collect_id(&y->done, p->id);
		}
		y->ncur = 0;
		(void)pthread_mutex_unlock(&y->mu);
		if (write(y->wake[1], &c, 1) == -1 && errno != EAGAIN)
			log_error("qmgr commit wake-up: %s", strerror(errno));
		(void)pthread_mutex_lock(&y->mu);
	}
	(void)pthread_mutex_unlock(&y->mu);
	return NULL;
}

static void
qmgr_sync_start(struct qmgr *q)
{
	struct qmgr_sync *y = &q->sync;
	int r;

	y->ifd = spool_dirfd(q->spool, "incoming");
	y->qfd = spool_dirfd(q->spool, "queue");
	if (pipe2(y->wake, O_NONBLOCK | O_CLOEXEC) == -1)
		log_fatal("qmgr: pipe: %s", strerror(errno));
	if ((r = pthread_mutex_init(&y->mu, NULL)) != 0 ||
	    (r = pthread_cond_init(&y->cv, NULL)) != 0 ||
	    (r = pthread_cond_init(&y->idle, NULL)) != 0 ||
	    (r = pthread_create(&y->th, NULL, qmgr_sync_main, y)) != 0)
		log_fatal("qmgr: commit thread: %s", strerror(r));
}

static void qmgr_sync_collect(struct qmgr *);

/* Lets the thread finish what it has, joins it and takes its last ids. */
static void
qmgr_sync_stop(struct qmgr *q)
{
	struct qmgr_sync *y = &q->sync;

	(void)pthread_mutex_lock(&y->mu);
	y->stop = 1;
	(void)pthread_cond_signal(&y->cv);
	(void)pthread_mutex_unlock(&y->mu);
	(void)pthread_join(y->th, NULL);
	qmgr_sync_collect(q);
	(void)pthread_cond_destroy(&y->cv);
	(void)pthread_cond_destroy(&y->idle);
	(void)pthread_mutex_destroy(&y->mu);
	(void)close(y->wake[0]);	/* exiting */
	(void)close(y->wake[1]);
	free(y->in);
	free(y->cur);
}

/* The scheduler's unlinker: a delivered message's file, off the main
 * thread. */
static void
qmgr_unlink_later(void *arg, const char *id)
{
	struct qmgr_sync *y = arg;

	(void)pthread_mutex_lock(&y->mu);
	(void)qmgr_collect_id(&y->unl, id);
	(void)pthread_cond_signal(&y->cv);
	(void)pthread_mutex_unlock(&y->mu);
}

/* Waits until the thread has unlinked every file handed to it, so that a
 * scan of queue/ sees no file whose index rows are gone already. */
static void
qmgr_unlink_wait(struct qmgr *q)
{
	struct qmgr_sync *y = &q->sync;

	(void)pthread_mutex_lock(&y->mu);
	while (y->unl.n > 0 || y->unl_busy)
		(void)pthread_cond_wait(&y->idle, &y->mu);
	(void)pthread_mutex_unlock(&y->mu);
}

/* Takes what the thread has committed into the to-index list. */
static void
qmgr_sync_collect(struct qmgr *q)
{
	struct qmgr_sync *y = &q->sync;
	char drain[64];
	size_t i;

	while (read(y->wake[0], drain, sizeof(drain)) > 0)
		;
	(void)pthread_mutex_lock(&y->mu);
	for (i = 0; i < y->done.n; i++)
		(void)qmgr_collect_id(q->toindex, y->done.v[i]);
	qmgr_idlist_free(&y->done);
	(void)pthread_mutex_unlock(&y->mu);
	if (q->toindex->n > 0 && q->index_due == 0)
		q->index_due = qmgr_now_ms() + QMGR_INDEX_DELAY_MS;
}

/* COMMITs go to the commit thread; NOTIFYs (already durable and queued
 * by smtpd itself) straight to indexing. */
static void
qmgr_commit_batch(struct qmgr *q)
{
	struct qmgr_sync *y = &q->sync;
	struct qmgr_pending *p;
	size_t i;
	int handed = 0;

	(void)pthread_mutex_lock(&y->mu);
	for (i = 0; i < q->npend; i++) {
		p = &q->pend[i];
		if (!p->reply) {
			(void)qmgr_collect_id(q->toindex, p->id);
			continue;
		}
		if (y->nin == y->capin) {
			y->capin = y->capin ? y->capin * 2 : 64;
			y->in = xrealloc(y->in, y->capin * sizeof(*y->in));
		}
		y->in[y->nin++] = *p;
		handed = 1;
	}
	if (handed)
		(void)pthread_cond_signal(&y->cv);
	(void)pthread_mutex_unlock(&y->mu);
	if (q->toindex->n > 0 && q->index_due == 0)
		q->index_due = qmgr_now_ms() + QMGR_INDEX_DELAY_MS;
	q->npend = 0;
}

/* Indexes everything queued since the last flush, in one transaction. */
static void
qmgr_index_flush(struct qmgr *q)
{
	size_t i;

	if (q->toindex->n == 0)
		return;
	if (qidx_batch(q->idx) == -1)
		log_error("qmgr index begin failed");
	for (i = 0; i < q->toindex->n; i++)
		(void)qmgr_index_one(q, q->toindex->v[i]);	/* logs errors */
	qmgr_idlist_free(q->toindex);
	q->index_due = 0;
	if (q->sched != NULL)
		qmgr_sched_kick(q->sched);
}

static void
qmgr_accept(struct qmgr *q)
{
	int fd;

	while ((fd = accept4(q->lfd, NULL, NULL, SOCK_NONBLOCK |
	    SOCK_CLOEXEC)) != -1) {
		if (q->npfd >= QMGR_MAX_CLIENTS) {
			log_error("qmgr too many smtpd connections");
			(void)close(fd);
			continue;
		}
		q->pfd[q->npfd].fd = fd;
		q->pfd[q->npfd].events = POLLIN;
		q->npfd++;
	}
}

void
qmgr_main(const struct relay_cfg *cfg, int status_fd, int recover)
{
	struct smtpd_status ready;
	struct qmgr_idlist toindex = { NULL, 0 };
	struct qmgr qm, *q = &qm;
	struct sigaction sa;
	struct buf path = BUF_INIT(0);
	const char *errstr;
	long long next_reconcile;
	size_t i;

	memset(q, 0, sizeof(*q));
	q->cfg = cfg;
	q->toindex = &toindex;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = qmgr_on_signal;
	(void)sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	/* Ctrl-C reaches the whole process group: qmgr stops only when the
	 * master says so, after the last smtpd (it may still commit). */
	(void)sigaction(SIGINT, &sa, NULL);
	(void)sigaction(SIGPIPE, &sa, NULL);
	(void)sigaction(SIGHUP, &sa, NULL);

	if (spool_open(cfg->spool_dir, cfg->spool_sync, 1, &q->spool,
	    &errstr) == -1)
		log_fatal("qmgr: spool %s: %s", cfg->spool_dir, errstr);
	(void)buf_appendf(&path, "%s/index.db", cfg->spool_dir);
	if (qidx_open(path.data, 0, &q->idx, &errstr) == -1)
		log_fatal("qmgr: index %s: %s", path.data, errstr);
	buf_reset(&path);
	(void)buf_appendf(&path, "%s/qmgr.sock", cfg->spool_dir);
	if ((q->lfd = ipc_listen(path.data)) == -1)
		log_fatal("qmgr: listen %s: %s", path.data, strerror(errno));
	buf_free(&path);
	buf_init(&q->frame, 0);
	q->pfd = xcalloc(QMGR_MAX_CLIENTS + 1 + QMGR_MAX_SCHED_FDS + 1,
	    sizeof(*q->pfd));
	q->pfd[0].fd = q->lfd;
	q->pfd[0].events = POLLIN;
	q->npfd = 1;

	qmgr_reconcile(q, recover);
	qmgr_sync_start(q);
	if ((q->sched = qmgr_sched_new(cfg, q->spool, q->idx)) == NULL)
		log_fatal("qmgr: cannot start the scheduler");
	qmgr_sched_set_unlinker(q->sched, qmgr_unlink_later, &q->sync);
	next_reconcile = time(NULL) * 1000LL + QMGR_RECONCILE_MS;
	log_info("qmgr ready spool=%s sync=%s", cfg->spool_dir,
	    cfg->spool_sync == SPOOL_SYNC_GROUP ? "group" : "fsync");
	ready.pid = (int)getpid();
	ready.busy = QMGR_STATUS_READY;
	if (write(status_fd, &ready, sizeof(ready)) != sizeof(ready))
		log_warn("qmgr cannot report readiness to the master");
	(void)close(status_fd);
	while (!qmgr_stop) {
		int wait = qmgr_sched_wait(q->sched);
		short woken;
		size_t ns;

		int txleft = qidx_batch_left(q->idx, QMGR_INDEX_COMMIT_MS);

		if (q->index_due) {
			long long left = q->index_due - qmgr_now_ms();

			if (left < wait)
				wait = left < 0 ? 0 : (int)left;
		}
		if (txleft >= 0 && txleft < wait)
			wait = txleft;
		/* The scheduler's descriptors follow the smtpd ones. */
		ns = qmgr_sched_pollfds(q->sched, q->pfd + q->npfd,
		    QMGR_MAX_SCHED_FDS);
		/* Last: the commit thread's wake-up pipe. */
		q->pfd[q->npfd + ns].fd = q->sync.wake[0];
		q->pfd[q->npfd + ns].events = POLLIN;
		q->pfd[q->npfd + ns].revents = 0;
		if (poll(q->pfd, (nfds_t)(q->npfd + ns + 1), wait) > 0) {
			size_t base = q->npfd;

			woken = q->pfd[base + ns].revents;
			/* Commits first: the sessions wait for them. Dropping
			 * a client only moves entries below base; accepting
			 * one writes at npfd, so it comes after the
			 * scheduler's events. */
			for (i = base; i-- > 1;)
				if (q->pfd[i].revents & (POLLIN | POLLHUP |
				    POLLERR))
					qmgr_read_client(q, i);
			if (q->npend > 0)
				qmgr_commit_batch(q);
			qmgr_sched_events(q->sched, q->pfd + base, ns);
			if (q->pfd[0].revents & POLLIN)
				qmgr_accept(q);
			if (woken & POLLIN)
				qmgr_sync_collect(q);
		}
		if (q->npend > 0)
			qmgr_commit_batch(q);
		if (q->index_due && (qmgr_now_ms() >= q->index_due ||
		    q->toindex->n >= QMGR_INDEX_BATCH))
			qmgr_index_flush(q);
		qmgr_sched_run(q->sched);
		if (qidx_batch_end(q->idx, QMGR_INDEX_COMMIT_MS) == -1)
			log_error("qmgr index commit failed");
		if (time(NULL) * 1000LL >= next_reconcile) {
			qmgr_unlink_wait(q);
			qmgr_reconcile(q, 0);
			next_reconcile = time(NULL) * 1000LL +
			    QMGR_RECONCILE_MS;
		}
	}
	if (q->npend > 0)
		qmgr_commit_batch(q);
	qmgr_sync_stop(q);
	qmgr_index_flush(q);
	if (qidx_batch_end(q->idx, 0) == -1)
		log_error("qmgr index commit failed");
	qmgr_sched_free(&q->sched);
	for (i = 1; i < q->npfd; i++)
		(void)close(q->pfd[i].fd);	/* exiting */
	qidx_close(&q->idx);
	spool_close(&q->spool);
	log_info("qmgr stopped");
	exit(0);
}
