/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * qmgr: see qmgr.h for its job and what it may touch.
 */
#include "config.h"

#include <sys/file.h>
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
	int	 ok;		/* durable and in queue/ */
};

/*
 * The group commit runs in a thread of its own with its own socket,
 * spool_dir/commit.sock: smtpd's COMMIT requests never wait for
 * scheduling or delivery results, and a syncfs (several milliseconds on a
 * journaled disk) never stalls them; while one syncfs runs, the next batch
 * gathers in the sockets. The thread owns that listener and its clients;
 * it touches only the spool directories besides; the index stays the
 * main thread's, which gets the committed ids through done (and a byte on
 * wake). It also unlinks the files of delivered messages (already out of
 * the index).
 */
struct qmgr_sync {
	pthread_t		 th;
	pthread_mutex_t		 mu;
	int			 lfd;	/* commit.sock */
	struct pollfd		*pfd;	/* [0] kick, [1] lfd, then clients */
	size_t			 npfd;
	struct qmgr_pending	*cur;	/* the batch of the next syncfs */
	size_t			 ncur, capcur;
	struct buf		 frame;
	struct qmgr_idlist	 done;	/* committed: for the main thread */
	struct qmgr_idlist	 unl;	/* queue/ files to unlink */
	int			 unl_busy;	/* unlinking outside mu */
	pthread_cond_t		 idle;	/* unl empty and not busy */
	int			 wake[2];	/* thread -> main: done grew */
	int			 kick[2];	/* main -> thread: unl, stop */
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
	struct qmgr_idlist	*toindex;	/* queued, not yet indexed */
	struct qmgr_sched	*sched;		/* NULL: no delivery */
	long long		 index_due;	/* ms; 0 = nothing waiting */
	struct buf		 frame;
	struct qmgr_sync	 sync;
};

static volatile sig_atomic_t qmgr_stop;
/* The master killed the delivery workers left at its stop time limit. */
static volatile sig_atomic_t qmgr_workers_killed;

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

static void
qmgr_on_workers_killed(int sig)
{
	(void)sig;
	qmgr_workers_killed = 1;
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

/*
 * 1 when incoming/<id> is complete and its writer is gone (its flock
 * could be taken), and then moves it into queue/; 0 otherwise, with
 * *errstr_r set when the file is incomplete (NULL: locked or vanished).
 *
 * Such a file was never acknowledged unless the machine crashed (the
 * 250 follows the rename into queue/, which only a crash can undo), but
 * a duplicate is the lesser harm: the same rule serves the first start
 * after a crash, qmgr restarts and the periodic reconciliation, and a
 * live session (it holds the lock until its file is queued) is never
 * raced. The moved file is made durable by the caller's syncfs().
 */
static int
qmgr_recover_one(int ifd, int qfd, const char *id, const char **errstr_r)
{
	struct spool_env *e;
	int fd, r = 0;

	*errstr_r = NULL;
	if ((fd = openat(ifd, id, O_RDONLY | O_CLOEXEC)) == -1)
		return 0;		/* committed or removed meanwhile */
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		(void)close(fd);	/* read-only; a live writer */
		return 0;
	}
	if (spool_read(ifd, id, &e, NULL, errstr_r) == 1) {
		spool_env_free(&e);
		if (renameat(ifd, id, qfd, id) == 0)
			r = 1;
		else if (errno != ENOENT)
			log_error("%s qmgr cannot recover from incoming/: %s",
			    id, strerror(errno));
	}
	(void)close(fd);		/* read-only; releases the lock */
	return r;
}

/* incoming/: complete files whose writer died are queued; incomplete ones
 * older than QMGR_STALE_INCOMING were abandoned. */
static void
qmgr_reconcile_incoming(struct qmgr *q)
{
	struct qmgr_idlist l = { NULL, 0 };
	struct stat st;
	const char *errstr;
	int ifd = spool_dirfd(q->spool, "incoming");
	int qfd = spool_dirfd(q->spool, "queue");
	size_t i, moved = 0;

	if (qmgr_scan(q, "incoming", &l) == -1)
		return;
	for (i = 0; i < l.n; i++) {
		if (qmgr_recover_one(ifd, qfd, l.v[i], &errstr) == 1) {
			log_info("%s qmgr recovered complete file from "
			    "incoming/", l.v[i]);
			moved++;
			continue;
		}
		if (errstr != NULL && fstatat(ifd, l.v[i], &st, 0) == 0 &&
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
qmgr_reconcile(struct qmgr *q)
{
	struct qmgr_idlist files = { NULL, 0 }, rows = { NULL, 0 };
	size_t i, added = 0, failed = 0, dropped = 0;
	int r;

	qmgr_reconcile_incoming(q);
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
	(void)close(q->pfd[i].fd);
	q->pfd[i] = q->pfd[--q->npfd];
}

/* qmgr.sock: NOTIFY (smtpd made a file durable and queued it itself)
 * and estafetactl's CTL requests. */
static void
qmgr_read_client(struct qmgr *q, size_t i)
{
	enum ipc_type type;
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
		if (r != 1 || type != IPC_NOTIFY ||
		    q->frame.len != SPOOL_ID_LEN ||
		    !spool_valid_id(buf_cstr(&q->frame))) {
			if (r == 1 || (r == -1 && errno == EPROTO))
				log_error("qmgr malformed frame from smtpd: "
				    "dropping the connection");
			qmgr_drop_client(q, i);
			return;
		}
		(void)qmgr_collect_id(q->toindex, buf_cstr(&q->frame));
		if (q->index_due == 0)
			q->index_due = qmgr_now_ms() + QMGR_INDEX_DELAY_MS;
	}
}

static void
qmgr_sync_drop(struct qmgr_sync *y, size_t i)
{
	size_t j;

	/* Its entries of the batch get no answer (a lost client retries,
	 * or falls back to its own fsync). */
	for (j = 0; j < y->ncur; j++)
		if (y->cur[j].fd == y->pfd[i].fd)
			y->cur[j].fd = -1;
	(void)close(y->pfd[i].fd);
	y->pfd[i] = y->pfd[--y->npfd];
}

/* Reads every COMMIT waiting on client i into the batch. */
static void
qmgr_sync_read(struct qmgr_sync *y, size_t i)
{
	struct qmgr_pending *p;
	enum ipc_type type;
	int r;

	for (;;) {
		r = ipc_recv(y->pfd[i].fd, 0, &type, &y->frame);
		if (r == -1 && errno == EAGAIN)
			return;
		if (r != 1 || type != IPC_COMMIT ||
		    y->frame.len != SPOOL_ID_LEN ||
		    !spool_valid_id(buf_cstr(&y->frame))) {
			if (r == 1 || (r == -1 && errno == EPROTO))
				log_error("qmgr malformed commit request: "
				    "dropping the connection");
			qmgr_sync_drop(y, i);
			return;
		}
		if (y->ncur == y->capcur) {
			y->capcur = y->capcur ? y->capcur * 2 : 64;
			y->cur = xrealloc(y->cur, y->capcur * sizeof(*y->cur));
		}
		p = &y->cur[y->ncur++];
		p->fd = y->pfd[i].fd;
		memcpy(p->id, y->frame.data, SPOOL_ID_LEN);
		p->id[SPOOL_ID_LEN] = '\0';
	}
}

/* One syncfs covers the batch; then each file is moved into queue/ and
 * acknowledged, and the ids go to the main thread for indexing. */
static void
qmgr_sync_batch(struct qmgr_sync *y)
{
	struct qmgr_pending *p;
	size_t i;
	int synced;
	char c = 1;

	synced = syncfs(y->qfd) == 0;
	if (!synced)
		log_error("qmgr syncfs failed: %s", strerror(errno));
	for (i = 0; i < y->ncur; i++) {
		p = &y->cur[i];
		p->ok = synced;
		if (synced && renameat(y->ifd, p->id, y->qfd, p->id) == -1 &&
		    (errno != ENOENT || faccessat(y->qfd, p->id, F_OK, 0) ==
		    -1)) {
			log_error("%s qmgr cannot queue: %s", p->id,
			    strerror(errno));
			p->ok = 0;
		}
		/* A lost client retries. */
		if (p->fd != -1)
			(void)ipc_send(p->fd, p->ok ? IPC_COMMIT_OK :
			    IPC_COMMIT_FAIL, p->id, SPOOL_ID_LEN);
	}
	(void)pthread_mutex_lock(&y->mu);
	for (i = 0; i < y->ncur; i++)
		if (y->cur[i].ok)
			(void)qmgr_collect_id(&y->done, y->cur[i].id);
	(void)pthread_mutex_unlock(&y->mu);
	y->ncur = 0;
	if (write(y->wake[1], &c, 1) == -1 && errno != EAGAIN)
		log_error("qmgr commit wake-up: %s", strerror(errno));
}

/* Unlinks what the main thread handed over. */
static void
qmgr_sync_unlink(struct qmgr_sync *y)
{
	struct qmgr_idlist unl;
	size_t i;

	(void)pthread_mutex_lock(&y->mu);
	unl = y->unl;
	y->unl.v = NULL;
	y->unl.n = 0;
	y->unl_busy = unl.n > 0;
	(void)pthread_mutex_unlock(&y->mu);
	if (unl.n == 0)
		return;
	for (i = 0; i < unl.n; i++)
		if (unlinkat(y->qfd, unl.v[i], 0) == -1 && errno != ENOENT)
			log_error("%s qmgr cannot remove the delivered message "
			    "(it will be delivered again): %s", unl.v[i],
			    strerror(errno));
	qmgr_idlist_free(&unl);
	(void)pthread_mutex_lock(&y->mu);
	y->unl_busy = 0;
	if (y->unl.n == 0)
		(void)pthread_cond_broadcast(&y->idle);
	(void)pthread_mutex_unlock(&y->mu);
}

static void *
qmgr_sync_main(void *arg)
{
	struct qmgr_sync *y = arg;
	char drain[64];
	size_t i;
	int fd, stop;

	for (;;) {
		if (poll(y->pfd, (nfds_t)y->npfd, 1000) == -1 &&
		    errno != EINTR)
			log_error("qmgr commit thread poll: %s",
			    strerror(errno));
		if (y->pfd[0].revents & POLLIN)
			while (read(y->kick[0], drain, sizeof(drain)) > 0)
				;
		for (i = y->npfd; i-- > 2;)
			if (y->pfd[i].revents & (POLLIN | POLLHUP | POLLERR))
				qmgr_sync_read(y, i);
		if (y->pfd[1].revents & POLLIN)
			while ((fd = accept4(y->lfd, NULL, NULL,
			    SOCK_NONBLOCK | SOCK_CLOEXEC)) != -1) {
				if (y->npfd >= QMGR_MAX_CLIENTS + 2) {
					log_error("qmgr too many smtpd "
					    "connections");
					(void)close(fd);
					continue;
				}
				y->pfd[y->npfd].fd = fd;
				y->pfd[y->npfd].events = POLLIN;
				y->pfd[y->npfd++].revents = 0;
			}
		if (y->ncur > 0)
			qmgr_sync_batch(y);
		qmgr_sync_unlink(y);
		(void)pthread_mutex_lock(&y->mu);
		stop = y->stop && y->unl.n == 0;
		(void)pthread_mutex_unlock(&y->mu);
		if (stop)
			break;
	}
	for (i = 2; i < y->npfd; i++)
		(void)close(y->pfd[i].fd);	/* exiting */
	return NULL;
}

static void
qmgr_sync_start(struct qmgr *q)
{
	struct qmgr_sync *y = &q->sync;
	sigset_t all, old;
	int r;

	y->ifd = spool_dirfd(q->spool, "incoming");
	y->qfd = spool_dirfd(q->spool, "queue");
	buf_init(&y->frame, 0);
	if (pipe2(y->wake, O_NONBLOCK | O_CLOEXEC) == -1 ||
	    pipe2(y->kick, O_NONBLOCK | O_CLOEXEC) == -1)
		log_fatal("qmgr: pipe: %s", strerror(errno));
	y->pfd = xcalloc(QMGR_MAX_CLIENTS + 2, sizeof(*y->pfd));
	y->pfd[0].fd = y->kick[0];
	y->pfd[0].events = POLLIN;
	y->pfd[1].fd = y->lfd;
	y->pfd[1].events = POLLIN;
	y->npfd = 2;
	if ((r = pthread_mutex_init(&y->mu, NULL)) != 0 ||
	    (r = pthread_cond_init(&y->idle, NULL)) != 0)
		log_fatal("qmgr: commit thread: %s", strerror(r));
	/* The thread starts with every signal blocked (it inherits the
	 * mask), so SIGTERM/SIGHUP/SIGCHLD always reach the main thread and
	 * interrupt its poll; the main thread's mask is restored. */
	(void)sigfillset(&all);
	if ((r = pthread_sigmask(SIG_SETMASK, &all, &old)) != 0)
		log_fatal("qmgr: commit thread: sigmask: %s", strerror(r));
	r = pthread_create(&y->th, NULL, qmgr_sync_main, y);
	if (r == 0)
		(void)pthread_setname_np(y->th, "est-commit");
	(void)pthread_sigmask(SIG_SETMASK, &old, NULL);	/* was valid */
	if (r != 0)
		log_fatal("qmgr: commit thread: %s", strerror(r));
}

static void
qmgr_sync_kick(struct qmgr_sync *y)
{
	char c = 1;

	if (write(y->kick[1], &c, 1) == -1 && errno != EAGAIN)
		log_error("qmgr commit thread wake-up: %s", strerror(errno));
}

static void qmgr_sync_collect(struct qmgr *);

/* Lets the thread answer what it has read and finish its unlinks, joins
 * it and takes its last ids. The master stops qmgr after the last smtpd,
 * so no session waits for a commit any more. */
static void
qmgr_sync_stop(struct qmgr *q)
{
	struct qmgr_sync *y = &q->sync;

	(void)pthread_mutex_lock(&y->mu);
	y->stop = 1;
	(void)pthread_mutex_unlock(&y->mu);
	qmgr_sync_kick(y);
	(void)pthread_join(y->th, NULL);
	qmgr_sync_collect(q);
	(void)pthread_cond_destroy(&y->idle);
	(void)pthread_mutex_destroy(&y->mu);
	(void)close(y->wake[0]);	/* exiting */
	(void)close(y->wake[1]);
	(void)close(y->kick[0]);
	(void)close(y->kick[1]);
	(void)close(y->lfd);
	free(y->pfd);
	free(y->cur);
	buf_free(&y->frame);
}

/* The scheduler's unlinker: a delivered message's file, off the main
 * thread. */
static void
qmgr_unlink_later(void *arg, const char *id)
{
	struct qmgr_sync *y = arg;
	int first;

	(void)pthread_mutex_lock(&y->mu);
	first = y->unl.n == 0;
	(void)qmgr_collect_id(&y->unl, id);
	(void)pthread_mutex_unlock(&y->mu);
	if (first)
		qmgr_sync_kick(y);
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
		/* qmgr_index_one logs its errors */
		if (qmgr_index_one(q, q->toindex->v[i]) == 1 &&
		    q->sched != NULL)
			qmgr_sched_added(q->sched, q->toindex->v[i]);
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
qmgr_main(const struct relay_cfg *cfg, int status_fd)
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
	/* Sent by the master before it kills the workers at the stop time
	 * limit: its handler has run before qmgr reads their end of file. */
	sa.sa_handler = qmgr_on_workers_killed;
	sa.sa_flags = SA_RESTART;
	(void)sigaction(SIGUSR1, &sa, NULL);
	sa.sa_flags = 0;
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
	buf_reset(&path);
	(void)buf_appendf(&path, "%s/commit.sock", cfg->spool_dir);
	if ((q->sync.lfd = ipc_listen(path.data)) == -1)
		log_fatal("qmgr: listen %s: %s", path.data, strerror(errno));
	buf_free(&path);
	buf_init(&q->frame, 0);
	q->pfd = xcalloc(QMGR_MAX_CLIENTS + 1 + QMGR_MAX_SCHED_FDS + 1,
	    sizeof(*q->pfd));
	q->pfd[0].fd = q->lfd;
	q->pfd[0].events = POLLIN;
	q->npfd = 1;

	qmgr_reconcile(q);
	qmgr_sync_start(q);
	if ((q->sched = qmgr_sched_new(cfg, q->spool, q->idx)) == NULL)
		log_fatal("qmgr: cannot start the scheduler");
	qmgr_sched_set_unlinker(q->sched, qmgr_unlink_later, &q->sync);
	qmgr_sched_set_killed_flag(q->sched, &qmgr_workers_killed);
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
			/* Dropping a client only moves entries below base;
			 * accepting one writes at npfd, so it comes after the
			 * scheduler's events. */
			for (i = base; i-- > 1;)
				if (q->pfd[i].revents & (POLLIN | POLLHUP |
				    POLLERR))
					qmgr_read_client(q, i);
			qmgr_sched_events(q->sched, q->pfd + base, ns);
			if (q->pfd[0].revents & POLLIN)
				qmgr_accept(q);
			if (woken & POLLIN)
				qmgr_sync_collect(q);
		}
		if (q->index_due && (qmgr_now_ms() >= q->index_due ||
		    q->toindex->n >= QMGR_INDEX_BATCH))
			qmgr_index_flush(q);
		qmgr_sched_run(q->sched);
		if (qidx_batch_end(q->idx, QMGR_INDEX_COMMIT_MS) == -1)
			log_error("qmgr index commit failed");
		if (time(NULL) * 1000LL >= next_reconcile) {
			qmgr_unlink_wait(q);
			qmgr_reconcile(q);
			next_reconcile = time(NULL) * 1000LL +
			    QMGR_RECONCILE_MS;
		}
	}
	/* Results the workers sent before we were told to stop (in a
	 * drain, they all exited first). */
	qmgr_sched_collect(q->sched);
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
