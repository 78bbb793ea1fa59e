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
#define QMGR_MAX_SCHED_FDS	1001	/* deliver.sock + workers */

struct qmgr_idlist {
	char	**v;
	size_t	  n;
};

struct qmgr_pending {
	int	 fd;
	char	 id[SPOOL_ID_LEN + 1];
	int	 reply;		/* 1: COMMIT wants an answer */
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
	size_t j;

	(void)close(q->pfd[i].fd);
	/* Pending entries of this client no longer get a reply. */
	for (j = 0; j < q->npend; j++)
		if (q->pend[j].fd == q->pfd[i].fd)
			q->pend[j].reply = 0;
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

/* One syncfs covers every COMMIT of the batch; then each is moved into
 * queue/, acknowledged, and all are indexed in one transaction. */
static void
qmgr_commit_batch(struct qmgr *q)
{
	int ifd = spool_dirfd(q->spool, "incoming");
	int qfd = spool_dirfd(q->spool, "queue");
	struct qmgr_pending *p;
	int synced, need_sync = 0;
	size_t i;

	for (i = 0; i < q->npend; i++)
		need_sync |= q->pend[i].reply;
	synced = !need_sync || syncfs(qfd) == 0;
	if (!synced)
		log_error("qmgr syncfs failed: %s", strerror(errno));
	for (i = 0; i < q->npend; i++) {
		p = &q->pend[i];
		if (!p->reply)
			continue;
		if (synced && renameat(ifd, p->id, qfd, p->id) == -1 &&
		    (errno != ENOENT || faccessat(qfd, p->id, F_OK, 0) == -1)) {
			log_error("%s qmgr cannot queue: %s", p->id,
			    strerror(errno));
			synced = 0;
		}
		if (synced)
			(void)ipc_send(p->fd, IPC_COMMIT_OK, p->id,
			    SPOOL_ID_LEN);	/* a lost client retries */
		else
			(void)ipc_send(p->fd, IPC_COMMIT_FAIL, p->id,
			    SPOOL_ID_LEN);
	}
	for (i = 0; i < q->npend; i++)
		(void)qmgr_collect_id(q->toindex, q->pend[i].id);
	if (q->index_due == 0)
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
	if (qidx_begin(q->idx) == -1)
		log_error("qmgr index begin failed");
	for (i = 0; i < q->toindex->n; i++)
		(void)qmgr_index_one(q, q->toindex->v[i]);	/* logs errors */
	if (qidx_commit(q->idx) == -1)
		log_error("qmgr index commit failed");
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
	q->pfd = xcalloc(QMGR_MAX_CLIENTS + 1 + QMGR_MAX_SCHED_FDS,
	    sizeof(*q->pfd));
	q->pfd[0].fd = q->lfd;
	q->pfd[0].events = POLLIN;
	q->npfd = 1;

	qmgr_reconcile(q, recover);
	if ((q->sched = qmgr_sched_new(cfg, q->spool, q->idx)) == NULL)
		log_fatal("qmgr: cannot start the scheduler");
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
		size_t ns;

		if (q->index_due) {
			long long left = q->index_due - qmgr_now_ms();

			if (left < wait)
				wait = left < 0 ? 0 : (int)left;
		}
		/* The scheduler's descriptors follow the smtpd ones; its
		 * events are handled first, before accepting or dropping
		 * smtpd clients moves that boundary. */
		ns = qmgr_sched_pollfds(q->sched, q->pfd + q->npfd,
		    QMGR_MAX_SCHED_FDS);
		if (poll(q->pfd, (nfds_t)(q->npfd + ns), wait) > 0) {
			qmgr_sched_events(q->sched, q->pfd + q->npfd, ns);
			for (i = q->npfd; i-- > 1;)
				if (q->pfd[i].revents & (POLLIN | POLLHUP |
				    POLLERR))
					qmgr_read_client(q, i);
			if (q->pfd[0].revents & POLLIN)
				qmgr_accept(q);
		}
		if (q->npend > 0)
			qmgr_commit_batch(q);
		if (q->index_due && (qmgr_now_ms() >= q->index_due ||
		    q->toindex->n >= QMGR_INDEX_BATCH))
			qmgr_index_flush(q);
		qmgr_sched_run(q->sched);
		if (time(NULL) * 1000LL >= next_reconcile) {
			qmgr_reconcile(q, 0);
			next_reconcile = time(NULL) * 1000LL +
			    QMGR_RECONCILE_MS;
		}
	}
	qmgr_index_flush(q);
	qmgr_sched_free(&q->sched);
	for (i = 1; i < q->npfd; i++)
		(void)close(q->pfd[i].fd);	/* exiting */
	qidx_close(&q->idx);
	spool_close(&q->spool);
	log_info("qmgr stopped");
	exit(0);
}
