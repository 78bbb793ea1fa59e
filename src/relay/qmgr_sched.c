/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * qmgr's scheduler: see qmgr_sched.h. Times in the index (next_try,
 * arrival) are unix seconds; the scheduler's own timers are wall-clock
 * milliseconds.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/ipc.h"
#include "lib/log.h"
#include "lib/uxtext.h"
#include "lib/xalloc.h"
#include "relay/deliver.h"
#include "relay/downgrade.h"
#include "relay/dsn.h"
#include "relay/jobframe.h"
#include "relay/jobtrace.h"
#include "relay/qctl_req.h"
#include "relay/qidx.h"
#include "relay/qmgr_sched.h"
#include "relay/relay_cfg.h"
#include "relay/route.h"
#include "relay/spool.h"
#include "relay/throttle.h"

#define QS_MAX_WORKERS		1000
#define QS_LOG_REPLY_MAX	1000	/* octets of a reply logged */
#define QS_SCAN_ROWS		2000	/* due rows per page, at most */
#define QS_SCAN_PER_WORKER	32	/* due rows read per idle worker */
/* Due rows read in one run while workers stay idle: past the rows of
 * busy messages and throttled destinations, to the mail behind them.
 * The next run goes on from there (the scan cursor) after a short pause. */
#define QS_SCAN_RUN_MAX		20000
#define QS_SCAN_PAUSE_MS	50	/* doubling while nothing is placed */
#define QS_SCAN_PAUSE_MAX_MS	1000
/* A sweep of the due list (from its first row on, run after run) starts
 * anew at least this often, so rows passed over while their destination
 * or message was busy get another look. */
#define QS_SWEEP_MS		1000
#define QS_BUSY_BUCKETS		1024	/* power of two */
#define QS_DSN_MAX_ORIGINAL	(10LL * 1024 * 1024)
#define QS_ENVID_DSN		"estafeta-dsn"
#define QS_ENVID_DOUBLE		"estafeta-double-bounce"

/* The recipients of one message at one domain, as read from the due
 * list; a job carries one or more of them. */
struct qs_group {
	char		 id[SPOOL_ID_LEN + 1];
	char		*domain;
	int		 idx[DELIVER_MAX_RCPTS];
	int		 attempts[DELIVER_MAX_RCPTS];
	size_t		 n;
	long long	 arrival;
	int		 warned;
	int		 nrcpt;
	long long	 size;		/* of the message */
	/* Its first row in the due order: a scan that stops before the
	 * group resumes there. */
	long long	 first_try;
	int		 first_idx;
	struct qs_group	*next_busy;	/* chain of the busy table */
};

/*
 * A delivery worker and its job: up to deliver_job_messages messages
 * (groups) sharing one route key, one connection at a time. Each message
 * stays in the busy table until its own result arrives.
 */
struct qs_worker {
	int		 fd;
	int		 ready;
	int		 busy;
	int		 sent;		/* the job went out */
	int		 stopping;	/* said it stops on purpose */
	char		*key;		/* route key of the job */
	struct qs_group	*g;		/* [DELIVER_MAX_MSGS], made on use */
	size_t		 ng;		/* messages in the job */
	size_t		 ndone;		/* results received */
	long long	 size;		/* octets of its messages */
	size_t		 flen;		/* its frame's length, at most */
};

struct qmgr_sched {
	const struct relay_cfg	*cfg;
	struct spool		*spool;
	struct spool		*dsn_spool;	/* fsync writer for DSNs */
	struct qidx		*idx;
	int			 lfd;
	struct qs_worker	 w[QS_MAX_WORKERS];
	size_t			 nw;
	long long		 next_run;	/* wall ms, 0 = now */
	struct buf		 frame;
	int			 audit_fd;	/* spool_dir/audit.log */
	char			*audit_path;
	void			(*unlinker)(void *, const char *);
	void			*unlinker_arg;
	const volatile sig_atomic_t *killed;	/* or NULL */
	struct throttle		*thr;
	/* Messages in jobs, by id: chains of qs_group.next_busy. */
	struct qs_group		*busy[QS_BUSY_BUCKETS];
	/* Where the next run reads the due list from (cur_set), so that a
	 * run does not read again the rows the last ones passed over. */
	int			 cur_set;
	int			 cur_cap;	/* set at the run's row cap */
	char			 cur_id[SPOOL_ID_LEN + 1];
	struct qidx_due		 cur;
	long long		 sweep_ms;	/* when the sweep began */
	size_t			 passed;	/* groups passed over in it */
	size_t			 placed;	/* groups put in jobs, ever */
	long long		 pause_ms;	/* after a run at the cap */
	size_t			 run_max;	/* QS_SCAN_RUN_MAX */
};

struct qs_scan {
	struct qs_group	*g;
	size_t		 n, cap;
	size_t		 start;		/* first group of the current page */
	/* The last row read: where the next page starts. */
	char		 last_id[SPOOL_ID_LEN + 1];
	struct qidx_due	 last;
	char		 last_domain[256];	/* placing: key's domain */
	size_t		 nskip;		/* domains left out (qidx_due_skip) */
};

static long long
qs_now_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_REALTIME, &ts);	/* cannot fail */
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Unix seconds for next_try, on the clock of the due scan (qs_now_ms).
 * Never time(NULL): glibc reads the coarse clock for it, which runs a
 * tick behind, so a result recorded just after a second began (when the
 * scheduler wakes for the rows due then) got next_try = that second + 1
 * from the second before, and the due scan took it again at once: a
 * fast-failing recipient was tried over and over in the first
 * milliseconds of a second.
 */
static long long
qs_now_s(void)
{
	return qs_now_ms() / 1000;
}

static int
qs_audit_open(const char *path)
{
	return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC |
	    O_NOFOLLOW, 0600);
}

/* The next hop of a domain under the running configuration, for the
 * queue-control filter next-hop (qidx_set_hop). */
static void
qs_hop(void *arg, const char *domain, struct buf *key)
{
	const struct qmgr_sched *s = arg;

	route_key_for(s->cfg, domain, key);
}

struct qmgr_sched *
qmgr_sched_new(const struct relay_cfg *cfg, struct spool *spool,
    struct qidx *idx)
{
	struct qmgr_sched *s = xcalloc(1, sizeof(*s));
	struct buf path = BUF_INIT(0);
	const char *errstr, *env;
	long v;

	s->cfg = cfg;
	s->spool = spool;
	s->idx = idx;
	s->audit_fd = -1;
	buf_init(&s->frame, 0);
	s->thr = throttle_new(cfg, idx);
	if (qidx_set_hop(idx, qs_hop, s) == -1)
		log_error("qmgr cannot add the next-hop filter to the index");
	s->run_max = QS_SCAN_RUN_MAX;
	/* For tests only (README, "Tests"): a lower cap, so that a few
	 * blocked rows stand for the thousands it takes in production. */
	if ((env = getenv("ESTAFETA_TEST_SCAN_RUN_MAX")) != NULL &&
	    (v = strtol(env, NULL, 10)) > 0 && v < QS_SCAN_RUN_MAX)
		s->run_max = (size_t)v;
	(void)buf_appendf(&path, "%s/audit.log", cfg->spool_dir);
	s->audit_path = xstrdup(path.data);
	if ((s->audit_fd = qs_audit_open(s->audit_path)) == -1)
		log_error("qmgr cannot open %s: %s (queue changes from "
		    "estafetactl are refused)", path.data, strerror(errno));
	buf_reset(&path);
	(void)buf_appendf(&path, "%s/deliver.sock", cfg->spool_dir);
	if ((s->lfd = ipc_listen(path.data)) == -1) {
		log_error("qmgr cannot listen on %s: %s", path.data,
		    strerror(errno));
		goto fail;
	}
	if (spool_open(cfg->spool_dir, SPOOL_SYNC_FSYNC, 0, &s->dsn_spool,
	    &errstr) == -1) {
		log_error("qmgr cannot open the spool for DSNs: %s", errstr);
		goto fail;
	}
	/* qs_enqueue_dsn indexes what it writes: no NOTIFY to ourselves. */
	spool_set_notify(s->dsn_spool, 0);
	buf_free(&path);
	return s;
fail:
	buf_free(&path);
	qmgr_sched_free(&s);
	return NULL;
}

/* ------------------------------------------------------------ busy */

static unsigned
qs_hash(const char *id)
{
	unsigned h = 2166136261u;	/* FNV-1a */

	for (; *id; id++)
		h = (h ^ (unsigned char)*id) * 16777619u;
	return h & (QS_BUSY_BUCKETS - 1);
}

static void
qs_busy_add(struct qmgr_sched *s, struct qs_group *g)
{
	unsigned h = qs_hash(g->id);

	g->next_busy = s->busy[h];
	s->busy[h] = g;
}

static void
qs_busy_del(struct qmgr_sched *s, struct qs_group *g)
{
	struct qs_group **pp;

	for (pp = &s->busy[qs_hash(g->id)]; *pp != NULL;
	    pp = &(*pp)->next_busy)
		if (*pp == g) {
			*pp = g->next_busy;
			g->next_busy = NULL;
			return;
		}
}

/* 1 when a job holds message id (for domain; NULL: any domain). */
static int
qs_busy_has(const struct qmgr_sched *s, const char *id, const char *domain)
{
	const struct qs_group *g;

	for (g = s->busy[qs_hash(id)]; g != NULL; g = g->next_busy)
		if (strcmp(g->id, id) == 0 && (domain == NULL ||
		    strcasecmp(g->domain, domain) == 0))
			return 1;
	return 0;
}

/* Ends w's job: its messages without a result stay due as they are. */
static void
qs_worker_clear(struct qmgr_sched *s, struct qs_worker *w)
{
	size_t k;

	for (k = w->ndone; k < w->ng; k++)
		qs_busy_del(s, &w->g[k]);
	for (k = 0; k < w->ng; k++) {
		free(w->g[k].domain);
		w->g[k].domain = NULL;
	}
	free(w->key);
	w->key = NULL;
	w->busy = w->sent = 0;
	w->ng = w->ndone = w->flen = 0;
	w->size = 0;
}

void
qmgr_sched_free(struct qmgr_sched **sp)
{
	struct qmgr_sched *s = *sp;
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < s->nw; i++) {
		(void)close(s->w[i].fd);	/* exiting */
		qs_worker_clear(s, &s->w[i]);
		free(s->w[i].g);
	}
	if (s->lfd > 0)
		(void)close(s->lfd);
	if (s->audit_fd != -1)
		(void)close(s->audit_fd);	/* O_APPEND writes, nothing
						 * buffered */
	free(s->audit_path);
	spool_close(&s->dsn_spool);
	buf_free(&s->frame);
	throttle_free(&s->thr);
	free(s);
	*sp = NULL;
}

size_t
qmgr_sched_pollfds(struct qmgr_sched *s, struct pollfd *pfd, size_t max)
{
	size_t i, n = 0;

	if (max == 0)
		return 0;
	pfd[n].fd = s->lfd;
	pfd[n++].events = POLLIN;
	for (i = 0; i < s->nw && n < max; i++) {
		pfd[n].fd = s->w[i].fd;
		pfd[n++].events = POLLIN;
	}
	return n;
}

int
qmgr_sched_wait(struct qmgr_sched *s)
{
	long long left = s->next_run - qs_now_ms();

	if (s->next_run == 0 || left <= 0)
		return 0;
	return left > 1000 ? 1000 : (int)left;
}

void
qmgr_sched_set_unlinker(struct qmgr_sched *s,
    void (*fn)(void *, const char *), void *arg)
{
	s->unlinker = fn;
	s->unlinker_arg = arg;
}

void
qmgr_sched_set_killed_flag(struct qmgr_sched *s,
    const volatile sig_atomic_t *killed)
{
	s->killed = killed;
}

/* Rows may be due before the cursor: the next run starts a sweep. */
static void
qs_rescan(struct qmgr_sched *s)
{
	s->cur_set = 0;
}

static void qs_cursor(struct qmgr_sched *, long long, const char *, int,
    int);

/*
 * A message was indexed: its rows have next_try 0 and sort by its id,
 * which is the time its transaction began, not when it was committed (a
 * session that began earlier may commit later). When they sort before
 * the cursor, it moves back to just before them.
 */
static void
qs_new_rows(struct qmgr_sched *s, const char *id)
{
	if (s->cur_set && (s->cur.next_try > 0 || strcmp(id, s->cur_id) < 0))
		qs_cursor(s, 0, id, -1, s->cur_cap);
}

void
qmgr_sched_added(struct qmgr_sched *s, const char *id)
{
	qs_new_rows(s, id);
}

void
qmgr_sched_kick(struct qmgr_sched *s)
{
	s->next_run = 0;
}

/* ------------------------------------------------------------ dispatch */

static int
qs_collect(void *arg, const struct qidx_due *d)
{
	struct qs_scan *sc = arg;
	struct qs_group *g = NULL;
	size_t i;

	(void)snprintf(sc->last_id, sizeof(sc->last_id), "%s", d->id);
	sc->last.id = sc->last_id;
	sc->last.idx = d->idx;
	sc->last.next_try = d->next_try;
	/* Rows of one message due at the same time are adjacent (the order
	 * is next_try, id, idx): look back over its groups only. Groups of
	 * earlier pages were dispatched or passed over already. */
	for (i = sc->n; i-- > sc->start && strcmp(sc->g[i].id, d->id) == 0;)
		if (strcasecmp(sc->g[i].domain, d->domain) == 0 &&
		    sc->g[i].n < DELIVER_MAX_RCPTS) {
			g = &sc->g[i];
			break;
		}
	if (g == NULL) {
		if (sc->n == sc->cap) {
			sc->cap = sc->cap ? sc->cap * 2 : 64;
			sc->g = xrealloc(sc->g, sc->cap * sizeof(*sc->g));
		}
		g = &sc->g[sc->n++];
		memset(g, 0, sizeof(*g));
		(void)snprintf(g->id, sizeof(g->id), "%s", d->id);
		g->domain = xstrdup(d->domain);
		g->arrival = d->arrival;
		g->warned = d->warned;
		g->nrcpt = d->nrcpt;
		g->size = d->size;
		g->first_try = d->next_try;
		g->first_idx = d->idx;
	}
	g->idx[g->n] = d->idx;
	g->attempts[g->n++] = d->attempts;
	return 1;
}

static struct qs_worker *
qs_idle(struct qmgr_sched *s)
{
	size_t i;

	for (i = 0; i < s->nw; i++)
		if (s->w[i].ready && !s->w[i].busy)
			return &s->w[i];
	return NULL;
}

static size_t
qs_job_max(const struct qmgr_sched *s)
{
	return s->cfg->deliver_job_messages < DELIVER_MAX_MSGS ?
	    (size_t)s->cfg->deliver_job_messages : DELIVER_MAX_MSGS;
}

/* The most a message's block adds to a job frame. */
static size_t
qs_block_len(const struct qs_group *g)
{
	return SPOOL_ID_LEN + 1 + strlen(g->domain) + 1 + g->n * 8 + 1;
}

/* 1 when w's job, not sent yet, can take g too. */
static int
qs_job_room(const struct qmgr_sched *s, const struct qs_worker *w,
    const struct qs_group *g)
{
	return w->busy && !w->sent && w->ng < qs_job_max(s) &&
	    w->size + g->size <= s->cfg->deliver_job_size &&
	    w->flen + qs_block_len(g) <= IPC_MAX_PAYLOAD;
}

/* 1 while a job being built can take one more message. */
static int
qs_building(const struct qmgr_sched *s)
{
	size_t i;

	for (i = 0; i < s->nw; i++)
		if (s->w[i].busy && !s->w[i].sent &&
		    s->w[i].ng < qs_job_max(s))
			return 1;
	return 0;
}

/*
 * The jobs to key: how many are running or being built (each one
 * connection), into *same_r; returns the one being built with room for g
 * that has the fewest messages, or NULL.
 */
static struct qs_worker *
qs_dest(struct qmgr_sched *s, const char *key, const struct qs_group *g,
    size_t *same_r)
{
	struct qs_worker *best = NULL;
	size_t i;

	*same_r = 0;
	for (i = 0; i < s->nw; i++) {
		if (!s->w[i].busy || strcmp(s->w[i].key, key) != 0)
			continue;
		(*same_r)++;
		if (qs_job_room(s, &s->w[i], g) && (best == NULL ||
		    s->w[i].ng < best->ng))
			best = &s->w[i];
	}
	return best;
}

/* Adds g (its domain is taken) to w's job, which it starts when empty. */
static void
qs_job_add(struct qmgr_sched *s, struct qs_worker *w, struct qs_group *g,
    const char *key)
{
	struct qs_group *m;

	if (w->g == NULL)
		w->g = xcalloc(DELIVER_MAX_MSGS, sizeof(*w->g));
	if (w->ng == 0) {
		w->key = xstrdup(key);
		w->busy = 1;
	}
	m = &w->g[w->ng++];
	*m = *g;
	g->domain = NULL;
	w->size += m->size;
	w->flen += qs_block_len(m);
	qs_busy_add(s, m);
}

/* Sends w's job: "ID\nDOMAIN\nIDX ...\n" per message. */
static void
qs_job_send(struct qmgr_sched *s, struct qs_worker *w)
{
	struct buf job = BUF_INIT(IPC_MAX_PAYLOAD);
	const struct qs_group *g;
	size_t k;

	for (k = 0; k < w->ng; k++) {
		g = &w->g[k];
		/* qs_place took only groups that fit (qs_job_room) and
		 * that a frame can carry (qs_place). */
		if (jobframe_add(&job, g->id, g->domain, g->idx, g->n) == -1)
			log_panic("qmgr: job frame overflow");
		log_debug("%s qmgr dispatch to=%s rcpts=%zu next_hop=%s "
		    "job_msg=%zu/%zu", g->id, g->domain, g->n, w->key, k + 1,
		    w->ng);
	}
	if (ipc_send(w->fd, IPC_JOB, job.data, job.len) == -1) {
		log_error("qmgr cannot send a job: %s", strerror(errno));
		qs_worker_clear(s, w);	/* its messages stay due */
		qs_rescan(s);
	} else
		w->sent = 1;
	buf_free(&job);
}

/* 1 when a job for key being built may take one more message. */
static int
qs_key_open(const struct qmgr_sched *s, const char *key)
{
	size_t i;

	for (i = 0; i < s->nw; i++)
		if (s->w[i].busy && !s->w[i].sent &&
		    s->w[i].ng < qs_job_max(s) && strcmp(s->w[i].key, key) == 0)
			return 1;
	return 0;
}

/*
 * Places one group: a new job on an idle worker when its destination
 * may have one more connection, else into a job being built for the
 * same destination (the one with the fewest messages), else nowhere
 * (busy message, destination at its limit or paused, no worker).
 * Returns 1 when key can take nothing more in this run: no new job (no
 * idle worker, or the throttle says no: neither changes within a run,
 * whose clock stands still and whose jobs only grow) and no job being
 * built that may take more.
 */
static int
qs_place(struct qmgr_sched *s, struct qs_group *g, const char *key,
    long long now, long long *wake)
{
	struct qs_worker *w, *open;
	long long pace;
	size_t same;

	/* Not counted as passed over: its job's result makes it final or
	 * due later, never due again at once (a lost worker: qs_rescan). */
	if (qs_busy_has(s, g->id, g->domain))
		return 0;
	if (strchr(g->domain, '\n') != NULL) {
		log_error("%s qmgr recipient domain with a line feed: not "
		    "delivered", g->id);
		return 0;
	}
	open = qs_dest(s, key, g, &same);
	if ((w = qs_idle(s)) != NULL && throttle_allow(s->thr, key, same,
	    now, wake)) {
		qs_job_add(s, w, g, key);
		s->placed++;
		throttle_started(s->thr, key, now);
		return 0;
	}
	/* A paused destination gets one message per job: the pause is
	 * between deliveries. */
	if (open != NULL) {
		(void)throttle_limit(s->thr, key, &pace);	/* the pace */
		if (pace == 0) {
			qs_job_add(s, open, g, key);
			s->placed++;
			return 0;
		}
	}
	s->passed++;	/* worth another look in the next sweep */
	(void)throttle_limit(s->thr, key, &pace);
	return pace != 0 || !qs_key_open(s, key);
}

/* The next run starts at (after) the row r. */
static void
qs_cursor(struct qmgr_sched *s, long long next_try, const char *id, int idx,
    int cap)
{
	(void)snprintf(s->cur_id, sizeof(s->cur_id), "%s", id);
	s->cur.id = s->cur_id;
	s->cur.next_try = next_try;
	s->cur.idx = idx;
	s->cur_set = 1;
	s->cur_cap = cap;
}

/*
 * Places the groups of the page just read. 1 when all of them were
 * looked at; 0 when no worker can take anything more: the cursor is then
 * set before the first group not looked at.
 */
static int
qs_place_page(struct qmgr_sched *s, struct qs_scan *sc, long long now,
    long long *wake)
{
	struct qs_group *g;
	struct route r;
	struct buf key = BUF_INIT(0);
	const char *errstr, *last = NULL;	/* the domain key is for */
	size_t i;
	int all = 1;

	for (i = sc->start; i < sc->n; i++) {
		g = &sc->g[i];
		if (qs_idle(s) == NULL && !qs_building(s)) {
			/* Just before its first row: idx - 1 sorts there. */
			qs_cursor(s, g->first_try, g->id, g->first_idx - 1, 0);
			all = 0;
			break;
		}
		/* Mail in a queue mostly goes to few domains: the route of
		 * the last one is kept for the next group. */
		if (last == NULL || strcasecmp(last, g->domain) != 0) {
			last = NULL;
			if (route_for(s->cfg, g->domain, &r, &errstr) == -1) {
				log_error("%s qmgr no route for %s: %s", g->id,
				    g->domain, errstr);
				continue;
			}
			buf_reset(&key);
			route_key(&r, g->domain, &key);
			route_free(&r);
		}
		/* qs_place may take the group's domain: keep a copy. */
		(void)snprintf(sc->last_domain, sizeof(sc->last_domain), "%s",
		    g->domain);
		last = strlen(g->domain) < sizeof(sc->last_domain) ?
		    sc->last_domain : NULL;
		/* A domain whose destination can take nothing more: the
		 * next pages of this run leave its rows out (in SQL: they
		 * are neither read nor grouped nor routed again). */
		if (qs_place(s, g, key.data, now, wake) && last != NULL) {
			if (qidx_due_skip(s->idx, last) == 0)
				sc->nskip++;
			else
				log_error("qmgr cannot leave %s out of the due "
				    "scan", last);
		}
	}
	buf_free(&key);
	return all;
}

/*
 * The due list is read in sweeps: each run goes on from where the last
 * one stopped (the cursor), page by page while workers are idle. At the
 * end of the list the sweep wraps to the first row when it passed over
 * rows that may be taken now (destination at its limit or paused, no
 * worker free for it); else the cursor stays at the end, where new mail
 * comes (next_try 0, ids in time order; a message whose id sorts before
 * the cursor moves it back: qs_new_rows). A sweep also starts again from
 * the first row after QS_SWEEP_MS. The recipients of messages in jobs stay
 * due until their results: without the cursor every run read them again.
 * Past s->run_max rows in one run (a long stretch of blocked rows) the
 * next run, QS_SCAN_PAUSE_MS later, reads on behind them (the pause
 * doubles, up to QS_SCAN_PAUSE_MAX_MS, while such runs place nothing: a
 * long queue for a destination at its limit is not read over and over).
 * A domain whose destination can take nothing more in this run is left
 * out of its further pages (qidx_due_skip: the index still walks those
 * rows, but neither returns, groups nor routes them, and they do not
 * count toward s->run_max); the list is emptied at each run.
 * qs_sweep reads and places pages from the cursor on; 1 when it stopped at
 * s->run_max rows with workers still idle.
 */
static int
qs_sweep(struct qmgr_sched *s, size_t scan, long long now, long long *wake)
{
	struct qs_scan sc;
	const struct qidx_due *after;
	size_t i, total = 0;
	int got, wrapped, capped = 0;

	if (s->cur_set && !s->cur_cap && now - s->sweep_ms >= QS_SWEEP_MS)
		s->cur_set = 0;
	if (!s->cur_set) {
		s->sweep_ms = now;
		s->passed = 0;
	}
	after = s->cur_set ? &s->cur : NULL;
	wrapped = after == NULL;
	s->cur_cap = 0;
	memset(&sc, 0, sizeof(sc));
	if (qidx_due_skip_clear(s->idx) == -1)
		log_error("qmgr cannot reset the due scan's skip list");
	for (;;) {
		sc.start = sc.n;
		if ((got = qidx_foreach_due_after(s->idx, now / 1000, after,
		    (int)scan, qs_collect, &sc)) == -1) {
			log_error("qmgr cannot read due recipients");
			break;
		}
		total += (size_t)got;
		if (!qs_place_page(s, &sc, now, wake))
			break;	/* the cursor is before the first group left */
		if (got > 0)
			qs_cursor(s, sc.last.next_try, sc.last.id, sc.last.idx,
			    0);
		after = s->cur_set ? &s->cur : NULL;
		if ((size_t)got < scan) {	/* the end of the due list */
			if (wrapped || s->passed == 0)
				break;	/* the cursor stays at the end */
			wrapped = 1;	/* a new sweep from the first row */
			after = NULL;
			s->cur_set = 0;
			s->sweep_ms = now;
			s->passed = 0;
		}
		if (qs_idle(s) == NULL && !qs_building(s))
			break;
		if (total >= s->run_max) {
			capped = 1;
			s->cur_cap = s->cur_set;
			break;
		}
	}
	log_debug("qmgr scan rows=%zu groups=%zu skip_domains=%zu", total,
	    sc.n, sc.nskip);
	for (i = 0; i < sc.n; i++)
		free(sc.g[i].domain);
	free(sc.g);
	return capped;
}

void
qmgr_sched_run(struct qmgr_sched *s)
{
	long long now = qs_now_ms(), next, wake = 0;
	size_t i, idle, scan, per, placed = s->placed;
	int capped;

	if (s->next_run != 0 && now < s->next_run)
		return;
	throttle_expire(s->thr, now / 1000);
	if (qs_idle(s) == NULL) {
		s->next_run = now + 1000;	/* a finished job kicks us */
		return;
	}
	/* Read only about what the idle workers can take: after every
	 * finished job this runs again, and a scan of the whole due list
	 * each time made the cost per delivery grow with the queue. */
	for (i = 0, idle = 0; i < s->nw; i++)
		idle += s->w[i].ready && !s->w[i].busy;
	per = 2 * qs_job_max(s);
	scan = idle * (per > QS_SCAN_PER_WORKER ? per : QS_SCAN_PER_WORKER);
	if (scan > QS_SCAN_ROWS)
		scan = QS_SCAN_ROWS;
	capped = qs_sweep(s, scan, now, &wake);
	for (i = 0; i < s->nw; i++)
		if (s->w[i].busy && !s->w[i].sent)
			qs_job_send(s, &s->w[i]);
	/* Run again when the next recipient falls due, or when a worker
	 * finishes (kick); at least once a second; soon when the run
	 * stopped at its cap with workers idle. */
	next = qidx_next_due(s->idx) * 1000;
	s->next_run = next > now ? next : now + 1000;
	if (s->next_run > now + 1000)
		s->next_run = now + 1000;
	if (wake > now && wake < s->next_run)
		s->next_run = wake;	/* a paused destination resumes */
	if (capped) {
		if (s->placed != placed || s->pause_ms == 0)
			s->pause_ms = QS_SCAN_PAUSE_MS;
		else if ((s->pause_ms *= 2) > QS_SCAN_PAUSE_MAX_MS)
			s->pause_ms = QS_SCAN_PAUSE_MAX_MS;
		if (s->next_run > now + s->pause_ms)
			s->next_run = now + s->pause_ms;
	} else
		s->pause_ms = 0;	/* the next capped run starts short */
}

/* ------------------------------------------------------------ results */

/*
 * The enhanced status code a reply starts with ("550 5.1.1 ...", or
 * "4.4.1 ..." for a local reason) when it is of dflt's class, else dflt.
 * A dotted number further on is the peer's text, not a status.
 */
static void
qs_status(const char *reply, const char *dflt, char out[16])
{
	const char *p = reply;
	int a, b, c, n;

	if (p[0] >= '2' && p[0] <= '5' && p[1] >= '0' && p[1] <= '9' &&
	    p[2] >= '0' && p[2] <= '9' && p[3] == ' ')
		p += 4;
	if (*p == dflt[0] && sscanf(p, "%1d.%3d.%3d%n", &a, &b, &c, &n) ==
	    3 && (p[n] == ' ' || p[n] == '\0'))
		(void)snprintf(out, 16, "%d.%d.%d", a, b, c);
	else
		(void)snprintf(out, 16, "%s", dflt);
}

struct qs_outcome {
	int		 idx;
	char		 state;		/* DELIVER_* after expiry */
	char		 success;	/* DELIVER_OK_RELAYED, _FINAL or 0 */
	int		 unsure;	/* possibly delivered, counted so */
	char		 status[16];
	char		*remote;
	char		*reply;
	int		 expired;
	int		 attempts;	/* after this attempt */
};

struct qs_src {
	const struct buf	*b;
	int			 done;
};

static int
qs_read(void *arg, const char **p, size_t *n)
{
	struct qs_src *src = arg;

	if (src->done)
		return 0;
	src->done = 1;
	*p = buf_cstr(src->b);
	*n = src->b->len;
	return 1;
}

/* Writes a DSN into the queue (durably) and indexes it. */
static int
qs_enqueue_dsn(struct qmgr_sched *s, const char *orig_id, const char *to,
    const char *envid, int smtputf8, const struct buf *msg)
{
	struct spool_env e;
	struct spool_rcpt rc;
	struct spool_msg *m;
	struct spool_env *back;
	const char *errstr;

	memset(&e, 0, sizeof(e));
	memset(&rc, 0, sizeof(rc));
	spool_new_id(e.id);
	e.arrival = qs_now_s();
	e.sender = "";
	rc.addr = (char *)to;
	rc.notify = SPOOL_NOTIFY_NEVER;
	e.rcpts = &rc;
	e.nrcpt = 1;
	e.envid = (char *)envid;
	e.body = SPOOL_BODY_8BITMIME;
	e.smtputf8 = smtputf8;
	e.helo = (char *)s->cfg->hostname;
	e.client = "[local]:0";
	if ((m = spool_begin(s->dsn_spool, &e, &errstr)) == NULL ||
	    spool_append(m, msg->data, msg->len) == -1 ||
	    spool_commit(&m, &errstr) == -1) {
		spool_abort(&m);
		log_error("%s qmgr cannot queue the notification to <%s>: %s",
		    orig_id, to, errstr);
		return -1;
	}
	if (spool_read(spool_dirfd(s->spool, "queue"), e.id, &back, NULL,
	    &errstr) == 1) {
		/* Durable already; reconciliation indexes it if this fails. */
		if (qidx_add(s->idx, back) == -1)
			log_error("%s qmgr cannot index notification %s", orig_id,
			    e.id);
		qs_new_rows(s, e.id);
		spool_env_free(&back);
	}
	log_info("%s qmgr notification %s to=<%s> envid=%s", orig_id, e.id,
	    to, envid);
	return 1;
}

/* What the index knows of a message whose queue file cannot be read. */
struct qs_dmg_rcpt {
	int		 idx;
	char		*addr;
	int		 state;
	int		 attempts;
	char		*reply;
};

struct qs_dmg {
	int			 found;
	char			*sender;
	long long		 arrival;
	int			 nrcpt;
	struct qs_dmg_rcpt	*v;
	size_t			 n;
	struct spool_env	*env;	/* read from the file, or NULL */
};

static int
qs_dmg_msg(void *arg, const struct qidx_msg *m)
{
	struct qs_dmg *d = arg;

	d->found = 1;
	d->sender = xstrdup(m->sender);
	d->arrival = m->arrival;
	d->nrcpt = m->nrcpt;
	return 1;
}

static int
qs_dmg_rcpt(void *arg, const struct qidx_rcpt *r)
{
	struct qs_dmg *d = arg;
	struct qs_dmg_rcpt *x;

	d->v = xrealloc(d->v, (d->n + 1) * sizeof(*d->v));
	x = &d->v[d->n++];
	x->idx = r->idx;
	x->addr = xstrdup(r->addr);
	x->state = r->state;
	x->attempts = r->attempts;
	x->reply = xstrdup(r->last_reply);
	return 1;
}

static void
qs_dmg_free(struct qs_dmg *d)
{
	size_t i;

	for (i = 0; i < d->n; i++) {
		free(d->v[i].addr);
		free(d->v[i].reply);
	}
	free(d->v);
	free(d->sender);
	spool_env_free(&d->env);
}

/* The envelope read from a damaged file is used (for ENVID, ORCPT,
 * NOTIFY) only when it says what the index says. */
static int
qs_dmg_env_agrees(const struct spool_env *e, const struct qs_dmg *d,
    const char *id)
{
	size_t i;

	if (strcmp(e->id, id) != 0 || strcmp(e->sender, d->sender) != 0 ||
	    e->arrival != d->arrival || e->nrcpt != (size_t)d->nrcpt)
		return 0;
	for (i = 0; i < d->n; i++)
		if (d->v[i].idx < 0 || (size_t)d->v[i].idx >= e->nrcpt ||
		    strcmp(e->rcpts[d->v[i].idx].addr, d->v[i].addr) != 0)
			return 0;
	return 1;
}

/*
 * The stored ORCPT of recipient addr of message id for a DSN's
 * Original-Recipient, or NULL, logged, when it has none or no valid form
 * there (uxtext_orcpt_field; the field is optional).
 */
static const char *
qs_dsn_orcpt(const char *id, const char *addr, const char *orcpt)
{
	struct buf t = BUF_INIT(0), e = BUF_INIT(0);
	const char *why;

	if (orcpt == NULL || orcpt[0] == '\0')
		return NULL;
	if (uxtext_orcpt_field(&t, orcpt, 0, &why) == -1) {
		(void)log_escape(&e, addr, strlen(addr), 300);
		log_warn("%s qmgr orcpt left out of the DSN rcpt=<%s> "
		    "reason=\"%s\"", id, e.data, why);
		orcpt = NULL;
	}
	buf_free(&t);
	buf_free(&e);
	return orcpt;
}

/* The outcome of this job for index row r, or NULL. */
static const struct qs_outcome *
qs_dmg_outcome(const struct qs_outcome *o, size_t n,
    const struct qs_dmg_rcpt *r)
{
	size_t j;

	for (j = 0; j < n; j++)
		if (o[j].idx == r->idx)
			return &o[j];
	return NULL;
}

/*
 * The notice's recipients, into dr (room for d->n): this job's, and the
 * others not final yet, unless their NOTIFY (when the envelope is known)
 * says no (all: a double bounce, whatever the bounce's NOTIFY=NEVER).
 * Their count; *utf8_r set when an address needs SMTPUTF8.
 */
static size_t
qs_dmg_rcpts(struct qs_dmg *d, const struct qs_outcome *o, size_t n,
    const char *damage, long long now, int all, struct dsn_rcpt *dr,
    int *utf8_r)
{
	const struct qs_outcome *oc;
	const struct spool_rcpt *sr;
	struct qs_dmg_rcpt *x;
	struct buf why = BUF_INIT(0);
	size_t i, k = 0;

	*utf8_r = d->env != NULL ? d->env->smtputf8 : downgrade_has_8bit(d->sender, strlen(d->sender));
	for (i = 0; i < d->n; i++) {
		x = &d->v[i];
		oc = qs_dmg_outcome(o, n, x);
		if (oc == NULL && x->state != QIDX_PENDING &&
		    x->state != QIDX_DEFERRED)
			continue;	/* final before: told then, if due */
		sr = d->env != NULL ? &d->env->rcpts[x->idx] : NULL;
		if (!all && !dsn_wanted(sr != NULL ? sr->notify : 0,
		    DSN_FAILED))
			continue;
		if (d->env == NULL)
			*utf8_r |= downgrade_has_8bit(x->addr, strlen(x->addr));
		if (oc == NULL && x->reply[0] == '\0') {	/* never tried */
			buf_reset(&why);
			(void)buf_appendf(&why, "4.3.0 queue file damaged: %s",
			    damage);
			free(x->reply);
			x->reply = xstrdup(why.data);
		}
		dr[k].addr = x->addr;
		dr[k].orcpt = sr != NULL ? qs_dsn_orcpt(d->env->id, x->addr,
		    sr->orcpt) : NULL;
		dr[k].action = DSN_FAILED;
		dr[k].status = oc != NULL ? oc->status : "4.4.7";
		dr[k].diagnostic = oc != NULL ? oc->reply : x->reply;
		if (dr[k].diagnostic[0] == '\0')
			dr[k].diagnostic = NULL;
		dr[k].remote_mta = oc != NULL && strcmp(oc->remote, "-") ?
		    oc->remote : NULL;
		dr[k].last_attempt = now;
		k++;
	}
	buf_free(&why);
	return k;
}

/* Builds the notice to `to` and queues it. 1 or -1 (logged). */
static int
qs_dmg_send(struct qmgr_sched *s, const char *id, const struct qs_dmg *d,
    const char *to, const char *envid, const struct dsn_rcpt *dr,
    size_t k, int utf8)
{
	static const char note[] = "Your message could not be read from "
	    "the mail queue here: its queue file was damaged, so it cannot "
	    "be returned with this report, and the recipients above never "
	    "received it.";
	struct dsn_params p;
	struct buf msg = BUF_INIT(0);
	char pm[512];
	int r;

	(void)snprintf(pm, sizeof(pm), "MAILER-DAEMON@%s", s->cfg->hostname);
	memset(&p, 0, sizeof(p));
	p.reporting_mta = s->cfg->hostname;
	p.queue_id = id;
	p.arrival = d->arrival;
	p.envid = d->env != NULL ? d->env->envid : NULL;
	p.original_sender = to;
	p.postmaster = pm;
	p.ret_full = 0;		/* there is nothing to return */
	p.smtputf8 = utf8;
	p.note = note;
	if (dsn_build(&p, dr, k, NULL, NULL, &msg) != 1) {
		log_error("%s qmgr cannot build the failed notice", id);
		r = -1;
	} else
		r = qs_enqueue_dsn(s, id, to, envid, utf8, &msg);
	buf_free(&msg);
	return r;
}

/* The recipients no job had fail too; the file goes to corrupt/. */
static void
qs_dmg_finish(struct qmgr_sched *s, const char *id, const struct qs_dmg *d,
    const struct qs_outcome *o, size_t n, const char *damage,
    const char *notice)
{
	struct buf why = BUF_INIT(0);
	size_t i;

	(void)buf_appendf(&why, "4.4.7 queue_lifetime reached, queue file "
	    "damaged: %s", damage);
	for (i = 0; i < d->n; i++)
		if (qs_dmg_outcome(o, n, &d->v[i]) == NULL &&
		    (d->v[i].state == QIDX_PENDING ||
		    d->v[i].state == QIDX_DEFERRED) &&
		    qidx_rcpt_update(s->idx, id, d->v[i].idx, QIDX_BOUNCED,
		    d->v[i].attempts, 0, why.data) == -1)
			log_error("%s qmgr index update failed", id);
	buf_free(&why);
	if (renameat(spool_dirfd(s->spool, "queue"), id,
	    spool_dirfd(s->spool, "corrupt"), id) == -1)
		log_error("%s qmgr queue file damaged, queue_lifetime reached: "
		    "notice=%s error=\"%s\" move_failed=\"%s\"", id, notice,
		    damage, strerror(errno));
	else
		log_error("%s qmgr queue file damaged, queue_lifetime reached: "
		    "failed notice %s, file moved to corrupt/ error=\"%s\"", id,
		    notice, damage);
}

/*
 * The lifetime of a message whose queue file cannot be read is over. Its
 * failure notice cannot be built from the file, and retrying that would
 * keep the message queued for ever with nobody told: it is built from
 * what the index knows instead (sender, recipients, arrival, last reply;
 * ENVID, ORCPT and NOTIFY from the envelope when that part of the file
 * still reads and agrees with the index), without the original, and says
 * so. Every recipient not final yet fails with it (they all arrived
 * together, so their lifetime is over too). Then the file goes to
 * corrupt/ for the operator; qs_apply removes the index rows. 1 when done
 * (the notice is queued or none is due), -1 when the notice could not be
 * queued (the caller defers the recipients, as for any notice).
 */
static int
qs_notify_damaged(struct qmgr_sched *s, const char *id,
    const struct qs_outcome *o, size_t n, const char *damage)
{
	struct qs_dmg d;
	struct dsn_rcpt *dr = NULL;
	const char *errstr = "", *to, *envid = QS_ENVID_DSN, *notice = "none";
	size_t k;
	int r = 1, utf8 = 0;

	memset(&d, 0, sizeof(d));
	if (qidx_foreach_msg(s->idx, id, qs_dmg_msg, &d) == -1 || !d.found ||
	    qidx_foreach_rcpt(s->idx, id, qs_dmg_rcpt, &d) == -1) {
		log_error("%s qmgr cannot read the index for the notice of a "
		    "damaged queue file", id);
		qs_dmg_free(&d);
		return -1;
	}
	if (spool_read_envelope(spool_dirfd(s->spool, "queue"), id, &d.env,
	    &errstr) == 1 && !qs_dmg_env_agrees(d.env, &d, id))
		spool_env_free(&d.env);
	to = d.sender;
	if (to[0] == '\0') {
		if (d.env == NULL || d.env->envid == NULL ||
		    strcmp(d.env->envid, QS_ENVID_DSN) != 0 ||
		    s->cfg->postmaster_address[0] == '\0') {
			qs_dmg_finish(s, id, &d, o, n, damage,
			    "none (null sender)");
			qs_dmg_free(&d);
			return 1;
		}
		to = s->cfg->postmaster_address;	/* double bounce, once */
		envid = QS_ENVID_DOUBLE;
	}
	dr = xcalloc(d.n, sizeof(*dr));
	if ((k = qs_dmg_rcpts(&d, o, n, damage, qs_now_s(),
	    strcmp(envid, QS_ENVID_DOUBLE) == 0, dr, &utf8)) == 0)
		notice = "none (not wanted)";
	else if ((r = qs_dmg_send(s, id, &d, to, envid, dr, k, utf8)) == 1)
		notice = "sent";
	if (r == 1)
		qs_dmg_finish(s, id, &d, o, n, damage, notice);
	free(dr);
	qs_dmg_free(&d);
	return r;
}

/* Whether these outcomes are recipients whose queue_lifetime is over. */
static int
qs_expired(const struct qs_outcome *o, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (o[i].expired)
			return 1;
	return 0;
}

/*
 * Sends the sender a DSN for the outcomes of one action (failed or
 * delayed) whose recipients asked for it. Null-sender mail never gets
 * one; a failed notification of ours goes to postmaster_address once.
 * Returns 1 when the notice is queued or none is due, -1 when a due
 * notice could not be built or queued (the caller keeps the message).
 */
static int
qs_notify(struct qmgr_sched *s, const char *id, enum dsn_action action,
    const struct qs_outcome *o, size_t n, long long retry_until)
{
	struct spool_env *env = NULL;
	struct buf content = BUF_INIT(0), msg = BUF_INIT(0);
	struct dsn_rcpt *dr;
	struct dsn_params p;
	struct qs_src src = { &content, 0 };
	const char *errstr, *to, *envid = QS_ENVID_DSN;
	char pm[512];
	size_t i, k = 0;
	int r = 1;

	if ((r = spool_read(spool_dirfd(s->spool, "queue"), id, &env,
	    &content, &errstr)) != 1) {
		/* Damaged, not merely unopened now (out of descriptors):
		 * that one is deferred like any notice not queued. */
		if (r == -1 && action == DSN_FAILED && qs_expired(o, n) &&
		    strcmp(errstr, SPOOL_ERR_OPEN) != 0) {
			r = qs_notify_damaged(s, id, o, n, errstr);
			goto out;
		}
		log_error("%s qmgr cannot read the message for its DSN: %s", id,
		    r == 0 ? "no such file" : errstr);
		r = -1;
		goto out;
	}
	to = env->sender;
	if (to[0] == '\0') {
		if (action != DSN_FAILED || env->envid == NULL ||
		    strcmp(env->envid, QS_ENVID_DSN) != 0 ||
		    s->cfg->postmaster_address[0] == '\0') {
			log_info("%s qmgr no %s notice: null sender", id,
			    dsn_action_name(action));
			goto out;
		}
		to = s->cfg->postmaster_address;	/* double bounce, once */
		envid = QS_ENVID_DOUBLE;
	}
	dr = xcalloc(n, sizeof(*dr));
	for (i = 0; i < n; i++) {
		const struct spool_rcpt *rc = (size_t)o[i].idx < env->nrcpt ?
		    &env->rcpts[o[i].idx] : NULL;

		/* A bounce's recipient has NOTIFY=NEVER (for the hops
		 * after us): the double bounce is ours to send all the
		 * same. */
		if (rc == NULL || (!dsn_wanted(rc->notify, action) &&
		    strcmp(envid, QS_ENVID_DOUBLE) != 0))
			continue;
		dr[k].addr = rc->addr;
		dr[k].orcpt = qs_dsn_orcpt(id, rc->addr, rc->orcpt);
		dr[k].action = action;
		dr[k].status = o[i].status;
		dr[k].diagnostic = o[i].reply[0] ? o[i].reply : NULL;
		dr[k].remote_mta = strcmp(o[i].remote, "-") ? o[i].remote :
		    NULL;
		dr[k].last_attempt = qs_now_s();
		dr[k].will_retry_until = retry_until;
		k++;
	}
	(void)snprintf(pm, sizeof(pm), "MAILER-DAEMON@%s", s->cfg->hostname);
	memset(&p, 0, sizeof(p));
	p.reporting_mta = s->cfg->hostname;
	p.queue_id = id;
	p.arrival = env->arrival;
	p.envid = env->envid;
	p.original_sender = to;
	p.postmaster = pm;
	p.ret_full = env->ret == SPOOL_RET_FULL;
	p.max_original = QS_DSN_MAX_ORIGINAL;
	p.smtputf8 = env->smtputf8;
	if (k > 0 && dsn_build(&p, dr, k, qs_read, &src, &msg) == 1)
		r = qs_enqueue_dsn(s, id, to, envid, env->smtputf8, &msg);
	else if (k > 0) {
		log_error("%s qmgr cannot build the %s notice", id,
		    dsn_action_name(action));
		r = -1;
	}
	free(dr);
out:
	spool_env_free(&env);
	buf_free(&content);
	buf_free(&msg);
	return r;
}

/*
 * The failure notice for these recipients could not be queued: rather
 * than remove a message whose sender was never told, defer them again.
 * The next attempt bounces (or delivers) them anew and retries the notice.
 */
static void
qs_notice_failed(struct qmgr_sched *s, const char *id,
    const struct qs_outcome *o, size_t n)
{
	long long next = qs_now_s() + s->cfg->queue_retry_min / 1000;
	struct buf why = BUF_INIT(0);
	size_t i;

	for (i = 0; i < n; i++) {
		buf_reset(&why);
		(void)buf_appendf(&why, "bounce notice not queued, retrying: "
		    "%s", o[i].reply);
		if (qidx_rcpt_update(s->idx, id, o[i].idx, QIDX_DEFERRED,
		    o[i].attempts, next, why.data) == -1)
			log_error("%s qmgr index update failed", id);
	}
	buf_free(&why);
}

static long long
qs_backoff(const struct relay_cfg *cfg, int attempts)
{
	long long d = cfg->queue_retry_min;
	int i;

	for (i = 1; i < attempts && d < cfg->queue_retry_max; i++)
		d *= 2;
	return d < cfg->queue_retry_max ? d : cfg->queue_retry_max;
}

/* Removes a message: spool file, then its index rows. 1 or -1. With
 * later (a delivered message) and an unlinker, the file goes afterwards,
 * off the scheduling path: a crash in between delivers it again. */
static int
qs_remove(struct qmgr_sched *s, const char *id, const char *why, int later)
{
	if (later && s->unlinker != NULL) {
		if (qidx_remove(s->idx, id) == -1) {
			log_error("%s qmgr cannot remove from the index", id);
			return -1;
		}
		s->unlinker(s->unlinker_arg, id);
		log_info("%s qmgr removed (%s)", id, why);
		return 1;
	}
	if (unlinkat(spool_dirfd(s->spool, "queue"), id, 0) == -1 &&
	    errno != ENOENT) {
		log_error("%s qmgr cannot remove: %s", id, strerror(errno));
		return -1;
	}
	if (qidx_remove(s->idx, id) == -1) {
		log_error("%s qmgr cannot remove from the index", id);
		return -1;
	}
	log_info("%s qmgr removed (%s)", id, why);
	return 1;
}

/* Applies one job's results: index updates, notices, removal. */
/* Why the next try is when it is, for the timeline. */
static void
qs_why_next(const struct relay_cfg *cfg, const struct qs_outcome *o,
    int state, int attempts, long long next, long long now,
    long long until, struct buf *b)
{
	buf_reset(b);
	if (state == QIDX_DELIVERED)
		(void)buf_appends(b, o->unsure ? "possibly delivered, policy "
		    "delivered: no more tries" : "delivered: no more tries");
	else if (state == QIDX_BOUNCED)
		(void)buf_appends(b, o->expired ? "queue_lifetime reached: "
		    "bounced" : "permanent failure: bounced");
	else {
		(void)buf_appendf(b, "%sbackoff step %d: %llds (queue_retry_min "
		    "%llds doubled, at most queue_retry_max %llds)",
		    o->state == DELIVER_UNSURE ? "possibly delivered, policy "
		    "retry: " : "", attempts, next - now,
		    cfg->queue_retry_min / 1000, cfg->queue_retry_max / 1000);
		(void)buf_appendf(b, "; bounces after %llds more", until - now);
	}
}

/* Feeds a job's outcome to the throttling of its destination: a
 * connection that no address accepted, or a 421/451 saying the peer is
 * overloaded, lowers it; delivered recipients raise it back. AUTH that
 * failed where the peer answered (CONN "auth") is an account or
 * configuration problem, no sign of congestion: it changes nothing. */
static void
qs_throttle(struct qmgr_sched *s, const char *key, const struct qs_outcome *o,
    size_t n, const struct jobtrace *tr)
{
	const char *signal = NULL, *conn = tr->f[JOBTRACE_CONN];
	size_t i, ok = 0;

	for (i = 0; i < n; i++) {
		if (o[i].state == DELIVER_OK && !o[i].unsure)
			ok++;
		else if (signal == NULL && throttle_reply_signals(
		    s->cfg->deliver_throttle_patterns, o[i].reply))
			signal = o[i].reply;
	}
	/* Local decisions (routes to error:, discard) say nothing. */
	if (conn == NULL || strcmp(conn, "-") == 0)
		return;
	if (signal == NULL && strcmp(conn, "failed") == 0 && n > 0)
		signal = o[0].reply;	/* no address took the connection */
	throttle_result(s->thr, key, signal, ok, qs_now_ms());
}

static void
qs_apply(struct qmgr_sched *s, const char *key, const struct qs_group *w,
    struct qs_outcome *o, size_t n, const struct jobtrace *tr)
{
	const struct relay_cfg *cfg = s->cfg;
	struct qs_outcome *fail, *delay;
	long long now = qs_now_s(), next, until;
	size_t i, k, nf = 0, nd = 0, nfinal = 0;
	int state, attempts, whole, warn;
	struct buf why = BUF_INIT(0), wn = BUF_INIT(0), esc = BUF_INIT(0);
	struct qidx_attempt at;

	fail = xcalloc(n, sizeof(*fail));
	delay = xcalloc(n, sizeof(*delay));
	until = w->arrival + cfg->queue_lifetime / 1000;
	/* Success notices the peer could not take over (NOTIFY=SUCCESS,
	 * RFC 3461 5.2.2, 6.2.1), while the queue file is there: one for
	 * the recipients relayed, one for those delivered. Not retried. */
	for (k = 0; k < 2; k++) {
		char want = k == 0 ? DELIVER_OK_RELAYED : DELIVER_OK_FINAL;

		for (i = nf = 0; i < n; i++)
			if (o[i].success == want)
				fail[nf++] = o[i];
		if (nf > 0)
			(void)qs_notify(s, w->id, k == 0 ? DSN_RELAYED :
			    DSN_DELIVERED, fail, nf, 0);
	}
	nf = 0;
	/* possibly_delivered = delivered: no reply to the final dot counts
	 * as delivered (at most once), with no notice either way. */
	for (i = 0; i < n; i++)
		if (o[i].state == DELIVER_UNSURE &&
		    cfg->possibly_delivered == POSSIBLY_DELIVERED) {
			o[i].state = DELIVER_OK;
			o[i].unsure = 1;
		}
	/* The common case: this job delivered every recipient of the
	 * message. Remove it at once: its rows need no update and no
	 * timeline entry first (if the removal fails, they get them). */
	whole = n == (size_t)w->nrcpt;
	for (i = 0; i < n; i++)
		whole &= o[i].state == DELIVER_OK;
	if (whole && qs_remove(s, w->id, "every recipient delivered", 1) == -1)
		whole = 0;
	for (i = 0; i < n; i++) {
		for (k = 0; k < w->n && w->idx[k] != o[i].idx; k++)
			;
		attempts = (k < w->n ? w->attempts[k] : 0) + 1;
		next = 0;
		buf_reset(&why);
		(void)buf_appendf(&why, "%s%s", o[i].unsure ? "possibly "
		    "delivered (connection lost after the final dot), not "
		    "retried (possibly_delivered = delivered): " :
		    o[i].state == DELIVER_UNSURE ? "possibly delivered "
		    "(connection lost after the final dot), retrying: " : "",
		    o[i].reply);
		if (o[i].state == DELIVER_OK)
			state = QIDX_DELIVERED;
		else if (o[i].state == DELIVER_PERM)
			state = QIDX_BOUNCED;
		else if (now >= until) {
			state = QIDX_BOUNCED;
			o[i].expired = 1;
			(void)snprintf(o[i].status, sizeof(o[i].status),
			    "4.4.7");
		} else {
			state = QIDX_DEFERRED;
			next = now + qs_backoff(cfg, attempts) / 1000;
		}
		o[i].attempts = attempts;
		if (whole)
			goto logged;
		if (qidx_rcpt_update(s->idx, w->id, o[i].idx, state, attempts,
		    next, why.data) == -1)
			log_error("%s qmgr index update failed", w->id);
		qs_why_next(cfg, &o[i], state, attempts, next, now, until, &wn);
		memset(&at, 0, sizeof(at));
		at.idx = o[i].idx;
		at.t = now;
		at.kind = "attempt";
		at.attempt = attempts;
		at.state = state;
		at.route = tr->f[JOBTRACE_ROUTE];
		at.mx = tr->f[JOBTRACE_MX];
		at.tried = tr->f[JOBTRACE_TRIED];
		at.tls = tr->f[JOBTRACE_TLS];
		at.reply = why.data;
		at.next_try = next;
		at.why = wn.data;
		if (qidx_attempt_add(s->idx, w->id, &at) == -1)
			log_error("%s qmgr cannot record the attempt", w->id);
logged:
		/* the reply is the peer's text: escaped, so a quote in it
		 * cannot forge key=value fields */
		buf_reset(&esc);
		log_info("%s qmgr %s rcpt_idx=%d attempts=%d retry_in=%llds "
		    "reply=\"%s\"", w->id, state == QIDX_DELIVERED ?
		    "delivered" : state == QIDX_BOUNCED ? (o[i].expired ?
		    "expired" : "bounced") : "deferred", o[i].idx, attempts,
		    next ? next - now : 0, log_escape(&esc, why.data, why.len,
		    QS_LOG_REPLY_MAX));
		if (state == QIDX_BOUNCED)
			fail[nf++] = o[i];
		else if (state == QIDX_DEFERRED)
			delay[nd++] = o[i];
		nfinal += state != QIDX_DEFERRED;
	}
	qs_throttle(s, key, o, n, tr);
	if (nf > 0 && qs_notify(s, w->id, DSN_FAILED, fail, nf, 0) == -1)
		qs_notice_failed(s, w->id, fail, nf);
	if (nd > 0 && !w->warned && cfg->delay_warning_time > 0 &&
	    now - w->arrival >= cfg->delay_warning_time / 1000) {
		/* w->warned was read when the job was built: another job of
		 * the same message (another domain, or more recipients than
		 * a job takes) may have sent the notice since. The index
		 * decides; it is marked first, so a notice that could not be
		 * queued is not retried. */
		if ((warn = qidx_msg_warned(s->idx, w->id)) == -1)
			log_error("%s qmgr cannot record the delay notice: the "
			    "sender may get another", w->id);
		if (warn != 0)
			(void)qs_notify(s, w->id, DSN_DELAYED, delay, nd,
			    until);
	}
	/* A job that had every recipient of the message and made them all
	 * final needs no look at the index. */
	if (!whole && ((nfinal == n && n == (size_t)w->nrcpt && nf == 0) ||
	    qidx_msg_done(s->idx, w->id) == 1))
		qs_remove(s, w->id, "every recipient final", 0);
	buf_free(&why);
	buf_free(&wn);
	buf_free(&esc);
	free(fail);
	free(delay);
}

/* The result for the message w of a job (jobframe.h) into o[0..*n). */
static int
qs_parse_done(const struct qs_group *w, const struct buf *b,
    struct qs_outcome *o, size_t *n, struct jobtrace *tr)
{
	struct jobframe_rcpt r[DELIVER_MAX_RCPTS];
	size_t i;

	*n = 0;
	if (jobframe_result_parse(buf_cstr(b), b->len, w->id, w->idx, w->n, r,
	    tr) == -1)
		return -1;
	for (i = 0; i < w->n; i++) {
		memset(&o[i], 0, sizeof(o[i]));
		o[i].idx = r[i].idx;
		o[i].state = r[i].state;
		if (o[i].state == DELIVER_OK_RELAYED ||
		    o[i].state == DELIVER_OK_FINAL) {
			o[i].success = o[i].state;
			o[i].state = DELIVER_OK;
		}
		o[i].remote = r[i].remote;	/* taken */
		o[i].reply = r[i].reply;
		qs_status(o[i].reply, o[i].state == DELIVER_PERM ? "5.0.0" :
		    o[i].state == DELIVER_OK ? "2.0.0" : "4.0.0",
		    o[i].status);
	}
	*n = w->n;
	return 1;
}

/*
 * A worker lost without being told to stop, during the message it had
 * not reported yet: that try counts (backoff, queue_lifetime, notices),
 * as a connection lost would. A message that makes the worker crash
 * every time is otherwise retried at once for ever and never expires.
 * The rest of the job was not tried: it stays due as it was.
 */
static void
qs_lost(struct qmgr_sched *s, struct qs_worker *w)
{
	struct qs_group *g = &w->g[w->ndone];
	struct qs_outcome o[DELIVER_MAX_RCPTS];
	struct jobtrace tr;
	size_t k;

	memset(&tr, 0, sizeof(tr));
	memset(o, 0, sizeof(o));
	for (k = 0; k < g->n; k++) {
		o[k].idx = g->idx[k];
		o[k].state = DELIVER_TEMP;
		o[k].remote = (char *)"-";
		o[k].reply = (char *)"4.3.0 delivery worker lost during this "
		    "message (possibly delivered)";
		(void)snprintf(o[k].status, sizeof(o[k].status), "4.3.0");
	}
	if (qidx_batch(s->idx) == -1)
		log_error("qmgr index begin failed");
	qs_apply(s, w->key, g, o, g->n, &tr);
}

static void
qs_drop_worker(struct qmgr_sched *s, size_t i)
{
	struct qs_worker *w = &s->w[i];

	/* A worker told to stop (shutdown, reload) leaves the rest of its
	 * job on purpose: that is no news for the operator. */
	if (w->busy && w->stopping)
		log_info("%s qmgr delivery worker stopped during a job: %zu "
		    "message%s of it will be retried", w->g[w->ndone].id,
		    w->ng - w->ndone, w->ng - w->ndone == 1 ? "" : "s");
	else if (w->busy && s->killed != NULL && *s->killed)
		log_info("%s qmgr delivery worker killed at the stop time "
		    "limit during a job: %zu message%s of it will be retried",
		    w->g[w->ndone].id, w->ng - w->ndone,
		    w->ng - w->ndone == 1 ? "" : "s");
	else if (w->busy) {
		log_warn("%s qmgr delivery worker lost during a job: %zu "
		    "message%s of it will be retried", w->g[w->ndone].id,
		    w->ng - w->ndone, w->ng - w->ndone == 1 ? "" : "s");
		if (w->sent && w->ndone < w->ng)
			qs_lost(s, w);
	}
	(void)close(w->fd);	/* gone */
	if (w->busy)
		qs_rescan(s);	/* its messages stay due */
	qs_worker_clear(s, w);
	free(w->g);
	s->w[i] = s->w[--s->nw];
}

/*
 * One frame from worker i: READY, or the result of the next message of
 * its job (recorded at once). 1 when another frame may follow; 0 when
 * none is waiting; -1 when the worker was dropped.
 */
static int
qs_read_frame(struct qmgr_sched *s, size_t i)
{
	struct qs_worker *w = &s->w[i];
	struct qs_outcome o[DELIVER_MAX_RCPTS];
	struct qs_group *g;
	struct jobtrace tr;
	enum ipc_type type;
	size_t n = 0, k;
	int r;

	r = ipc_recv(w->fd, 0, &type, &s->frame);
	if (r == -1 && errno == EAGAIN)
		return 0;
	if (r != 1) {
		qs_drop_worker(s, i);
		return -1;
	}
	if (type == IPC_DELIVER_READY && !w->ready && !w->stopping) {
		w->ready = 1;
		s->next_run = 0;
		return 1;
	}
	if (type == IPC_DELIVER_STOP && !w->stopping) {
		/* Its end of file follows: no new job meanwhile. */
		w->stopping = 1;
		w->ready = 0;
		return 1;
	}
	memset(&tr, 0, sizeof(tr));
	g = w->busy && w->sent && w->ndone < w->ng ? &w->g[w->ndone] : NULL;
	if (type != IPC_JOB_DONE || g == NULL ||
	    qs_parse_done(g, &s->frame, o, &n, &tr) == -1) {
		log_error("qmgr malformed frame from a delivery worker: "
		    "dropping it");
		for (k = 0; k < n; k++) {
			free(o[k].remote);
			free(o[k].reply);
		}
		jobtrace_free(&tr);
		qs_drop_worker(s, i);
		return -1;
	}
	/* Results join the batch transaction (qmgr commits it). */
	if (qidx_batch(s->idx) == -1)
		log_error("qmgr index begin failed");
	qs_apply(s, w->key, g, o, n, &tr);
	jobtrace_free(&tr);
	for (k = 0; k < n; k++) {
		free(o[k].remote);
		free(o[k].reply);
	}
	qs_busy_del(s, g);
	if (++w->ndone == w->ng) {
		qs_worker_clear(s, w);
		s->next_run = 0;
	}
	return 1;
}

static void
qs_read_worker(struct qmgr_sched *s, size_t i)
{
	/* A job's results may come several at a time. */
	while (qs_read_frame(s, i) == 1)
		;
}

void
qmgr_sched_events(struct qmgr_sched *s, const struct pollfd *pfd, size_t n)
{
	size_t i;
	int fd;

	/* pfd[1..] mirror s->w[0..] as given to poll; walk backwards so
	 * that dropping a worker does not skip one. */
	for (i = n; i-- > 1;)
		if (i - 1 < s->nw && pfd[i].fd == s->w[i - 1].fd &&
		    (pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
			qs_read_worker(s, i - 1);
	if (n > 0 && (pfd[0].revents & POLLIN)) {
		while ((fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK |
		    SOCK_CLOEXEC)) != -1) {
			if (s->nw == QS_MAX_WORKERS) {
				(void)close(fd);	/* refused */
				continue;
			}
			memset(&s->w[s->nw], 0, sizeof(s->w[s->nw]));
			s->w[s->nw++].fd = fd;
		}
	}
}

void
qmgr_sched_collect(struct qmgr_sched *s)
{
	size_t i;

	/* Backwards: dropping a worker moves the last one into its place. */
	for (i = s->nw; i-- > 0;)
		qs_read_worker(s, i);
}

/* ------------------------------------------------------------ control */

#define QS_CTL_MAX_IDS		1000	/* ids listed in one reply */
#define QS_BOUNCE_REPLY		"5.0.0 bounced by the administrator"

struct qs_ids {
	char		(*id)[SPOOL_ID_LEN + 1];
	size_t		 n, cap;
};

static int
qs_ids_add(void *arg, const struct qidx_msg *m)
{
	struct qs_ids *ids = arg;

	if (ids->n == ids->cap) {
		ids->cap = ids->cap ? ids->cap * 2 : 64;
		ids->id = xrealloc(ids->id, ids->cap * sizeof(*ids->id));
	}
	(void)snprintf(ids->id[ids->n++], SPOOL_ID_LEN + 1, "%s", m->id);
	return 1;
}

struct qs_open {
	struct qs_outcome	*o;
	int			*attempts;
	size_t			 n, cap;
};

static int
qs_open_rcpt(void *arg, const struct qidx_rcpt *rc)
{
	struct qs_open *op = arg;

	if (rc->state != QIDX_PENDING && rc->state != QIDX_DEFERRED)
		return 1;
	if (op->n == op->cap) {
		op->cap = op->cap ? op->cap * 2 : 16;
		op->o = xrealloc(op->o, op->cap * sizeof(*op->o));
		op->attempts = xrealloc(op->attempts, op->cap *
		    sizeof(*op->attempts));
	}
	memset(&op->o[op->n], 0, sizeof(op->o[op->n]));
	op->o[op->n].idx = rc->idx;
	op->attempts[op->n++] = rc->attempts;
	return 1;
}

/* Bounces every non-final recipient of id, notifies the sender (unless
 * notice is 0), removes. */
static int
qs_bounce(struct qmgr_sched *s, const char *id, int notice)
{
	struct qs_open op = { NULL, NULL, 0, 0 };
	size_t i;
	int rc = 1;

	if (qidx_foreach_rcpt(s->idx, id, qs_open_rcpt, &op) == -1)
		rc = -1;
	for (i = 0; rc == 1 && i < op.n; i++) {
		if (qidx_rcpt_update(s->idx, id, op.o[i].idx, QIDX_BOUNCED,
		    op.attempts[i], 0, QS_BOUNCE_REPLY) == -1)
			rc = -1;
		op.o[i].state = DELIVER_PERM;
		(void)snprintf(op.o[i].status, sizeof(op.o[i].status),
		    "5.0.0");
		op.o[i].remote = (char *)"-";
		op.o[i].reply = (char *)QS_BOUNCE_REPLY;
		log_info("%s qmgr bounced rcpt_idx=%d by=estafetactl "
		    "reply=\"%s\"", id, op.o[i].idx, QS_BOUNCE_REPLY);
	}
	for (i = 0; i < op.n; i++)
		op.o[i].attempts = op.attempts[i];
	if (rc == 1 && op.n > 0 && !notice)
		log_info("%s qmgr no failed notice: bounced without notice by "
		    "the administrator", id);
	else if (rc == 1 && op.n > 0 && qs_notify(s, id, DSN_FAILED, op.o,
	    op.n, 0) == -1) {
		qs_notice_failed(s, id, op.o, op.n);
		rc = -1;
	}
	if (rc == 1 && qidx_msg_done(s->idx, id) == 1)
		rc = qs_remove(s, id, "bounced by the administrator", 0);
	free(op.o);
	free(op.attempts);
	return rc;
}

struct qs_rq {
	struct qmgr_sched	*s;
	const char		*id;
	int			 n;
	int			 failed;
};

/* One open recipient of a requeue: its route now, in the timeline. */
static int
qs_requeue_rcpt(void *arg, const struct qidx_rcpt *rc)
{
	struct qs_rq *rq = arg;
	struct buf route = BUF_INIT(0);
	struct qidx_attempt at;
	struct route r;
	const char *at_sign = strrchr(rc->addr, '@'), *errstr;

	if (rc->state != QIDX_PENDING && rc->state != QIDX_DEFERRED)
		return 1;
	if (route_for(rq->s->cfg, at_sign ? at_sign + 1 : "", &r,
	    &errstr) == -1)
		(void)buf_appendf(&route, "no route: %s", errstr);
	else {
		(void)buf_appendf(&route, "%s: ", r.rule);
		route_key(&r, at_sign ? at_sign + 1 : "", &route);
		route_free(&r);
	}
	memset(&at, 0, sizeof(at));
	at.idx = rc->idx;
	at.t = qs_now_s();
	at.kind = "requeue";
	at.attempt = rc->attempts;
	at.state = rc->state;
	at.route = route.data;
	at.why = "requeued by the administrator: route resolved again "
	    "from the current configuration, due now";
	if (qidx_attempt_add(rq->s->idx, rq->id, &at) == -1)
		rq->failed = 1;
	log_info("%s qmgr requeued rcpt_idx=%d by=estafetactl route=\"%s\"",
	    rq->id, rc->idx, buf_cstr(&route));
	buf_free(&route);
	rq->n++;
	return 1;
}

/* Makes the open recipients of id due now, noting each one's route. */
static int
qs_requeue(struct qmgr_sched *s, const char *id)
{
	struct qs_rq rq = { s, id, 0, 0 };

	if (qidx_foreach_rcpt(s->idx, id, qs_requeue_rcpt, &rq) == -1 ||
	    qidx_requeue(s->idx, id) == -1)
		return -1;
	if (rq.failed)
		log_error("%s qmgr cannot record the requeue in the timeline",
		    id);
	return 1;
}

/* One action on one message: 1 done, 0 busy, -1 failed. */
static int
qs_act(struct qmgr_sched *s, const struct qctl_req *r, const char *id)
{
	const char *verb = r->verb;

	if (strcmp(verb, "flush") == 0) {
		/* Only the next try changes: harmless while in delivery. */
		if (qidx_flush(s->idx, id) == -1)
			return -1;
		log_info("%s qmgr flushed by=estafetactl", id);
		return 1;
	}
	if (strcmp(verb, "hold") == 0 || strcmp(verb, "release") == 0) {
		if (qidx_hold(s->idx, id, verb[0] == 'h') == -1)
			return -1;
		log_info("%s qmgr %s by=estafetactl", id, verb[0] == 'h' ?
		    "held" : "released");
		return 1;
	}
	if (qs_busy_has(s, id, NULL))
		return 0;
	if (strcmp(verb, "delete") == 0)
		return qs_remove(s, id, "deleted by the administrator", 0);
	if (strcmp(verb, "requeue") == 0)
		return qs_requeue(s, id);
	return qs_bounce(s, id, !r->no_notice);
}

/* Appends "TIME VERB [filters] ids=A,B" to the audit log. */
/* The log was moved away (logrotate without copytruncate): a new file
 * under the name takes the next lines. */
static void
qs_audit_follow(struct qmgr_sched *s)
{
	struct stat a, b;
	int fd;

	if (fstat(s->audit_fd, &a) == 0 && stat(s->audit_path, &b) == 0 &&
	    a.st_ino == b.st_ino && a.st_dev == b.st_dev)
		return;
	if ((fd = qs_audit_open(s->audit_path)) == -1) {
		log_error("qmgr cannot open %s again: %s (writing to the "
		    "moved file)", s->audit_path, strerror(errno));
		return;
	}
	(void)close(s->audit_fd);	/* its lines are synced */
	s->audit_fd = fd;
	log_info("qmgr audit log %s opened again (moved away)",
	    s->audit_path);
}

static void
qs_audit(struct qmgr_sched *s, const struct qctl_req *r,
    const struct qs_ids *done)
{
	struct buf b = BUF_INIT(0), esc = BUF_INIT(0);
	char t[32];
	time_t now = (time_t)qs_now_s();
	struct tm tm;
	size_t i;

	(void)gmtime_r(&now, &tm);
	if (strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		t[0] = '\0';
	(void)buf_appendf(&b, "%s %s", t, r->verb);
	for (i = 0; i < r->nline; i++) {
		buf_reset(&esc);
		(void)buf_appendf(&b, " \"%s\"", log_escape(&esc, r->line[i],
		    strlen(r->line[i]), 512));
	}
	(void)buf_appends(&b, " ids=");
	for (i = 0; i < done->n; i++)
		(void)buf_appendf(&b, "%s%s", i ? "," : "", done->id[i]);
	(void)buf_appendc(&b, '\n');
	qs_audit_follow(s);
	/* One line per action, on disk before the action is answered. */
	if (write(s->audit_fd, b.data, b.len) != (ssize_t)b.len ||
	    fdatasync(s->audit_fd) == -1)
		log_error("qmgr cannot write the audit log: %s",
		    strerror(errno));
	buf_free(&b);
	buf_free(&esc);
}

static void
qs_reply_ids(struct buf *reply, const char *what, const struct qs_ids *ids)
{
	size_t i;

	if (ids->n == 0)
		return;
	(void)buf_appendf(reply, "\n%s", what);
	for (i = 0; i < ids->n && i < QS_CTL_MAX_IDS; i++)
		(void)buf_appendf(reply, "\n%s", ids->id[i]);
	if (ids->n > QS_CTL_MAX_IDS)
		(void)buf_appendf(reply, "\n... and %zu more",
		    ids->n - QS_CTL_MAX_IDS);
}

/* hold, release, delete, bounce, requeue, flush: on one ID or on a
 * filter. */
static void
qs_ctl_action(struct qmgr_sched *s, const struct qctl_req *r,
    struct buf *reply)
{
	struct qs_ids sel = { NULL, 0, 0 }, done = { NULL, 0, 0 },
	    busy = { NULL, 0, 0 };
	struct qidx_msg m;
	size_t i;
	int res, failed = 0;

	if (r->id[0] && (res = qidx_has(s->idx, r->id)) != 1) {
		(void)buf_appendf(reply, "error: %s: %s", r->id, res == 0 ?
		    "not in the queue" : "index read failed");
		return;
	}
	memset(&m, 0, sizeof(m));
	m.id = r->id;
	if (r->id[0])
		(void)qs_ids_add(&sel, &m);
	else if (qidx_foreach_match(s->idx, &r->f, qs_ids_add, &sel) == -1) {
		(void)buf_appends(reply, "error: index read failed");
		return;
	}
	if (r->dry) {
		(void)buf_appendf(reply, "ok: dry run: would %s %zu message%s",
		    r->verb, sel.n, sel.n == 1 ? "" : "s");
		qs_reply_ids(reply, "", &sel);
		goto out;
	}
	if (s->audit_fd == -1) {
		(void)buf_appends(reply, "error: no audit log: refused");
		goto out;
	}
	if (qidx_begin(s->idx) == -1)
		log_error("qmgr index begin failed");
	for (i = 0; i < sel.n; i++) {
		m.id = sel.id[i];
		if ((res = qs_act(s, r, sel.id[i])) == 1)
			(void)qs_ids_add(&done, &m);
		else if (res == 0)
			(void)qs_ids_add(&busy, &m);
		else
			failed++;
	}
	if (qidx_commit(s->idx) == -1)
		log_error("qmgr index commit failed");
	if (done.n > 0)
		qs_audit(s, r, &done);
	if (r->id[0] && busy.n > 0)
		(void)buf_appendf(reply, "error: %s: busy, try again", r->id);
	else if (r->id[0] && failed)
		(void)buf_appendf(reply, "error: %s: %s failed (see the log)",
		    r->id, r->verb);
	else {
		(void)buf_appendf(reply, "ok: %s: %zu message%s", r->verb,
		    done.n, done.n == 1 ? "" : "s");
		qs_reply_ids(reply, "", &done);
		qs_reply_ids(reply, "busy, try again:", &busy);
		if (failed)
			(void)buf_appendf(reply, "\nfailed: %d (see the log)",
			    failed);
	}
	s->next_run = 0;
	qs_rescan(s);	/* released or requeued rows */
out:
	free(sel.id);
	free(done.id);
	free(busy.id);
}

static void
qs_ctl_flush(struct qmgr_sched *s, const char *cmd, size_t len,
    struct buf *reply)
{
	char id[SPOOL_ID_LEN + 1];
	int n;

	if (len == 5)
		n = qidx_flush(s->idx, NULL);
	else if (len == 6 + SPOOL_ID_LEN && cmd[5] == ' ') {
		memcpy(id, cmd + 6, SPOOL_ID_LEN);
		id[SPOOL_ID_LEN] = '\0';
		if (!spool_valid_id(id)) {
			(void)buf_appends(reply, "error: bad queue id");
			return;
		}
		if ((n = qidx_has(s->idx, id)) != 1) {
			(void)buf_appendf(reply, "error: %s: %s", id, n == 0 ?
			    "not in the queue" : "index read failed");
			return;
		}
		n = qidx_flush(s->idx, id);
	} else {
		(void)buf_appends(reply, "error: usage: flush [ID]");
		return;
	}
	if (n == -1)
		(void)buf_appends(reply, "error: index update failed");
	else
		(void)buf_appendf(reply, "ok: %d recipient%s due now", n,
		    n == 1 ? "" : "s");
	log_info("qmgr flush requested: %d recipients due now", n);
	s->next_run = 0;
	qs_rescan(s);	/* flushed rows may be behind the cursor */
}

void
qmgr_sched_ctl(struct qmgr_sched *s, const char *cmd, size_t len,
    struct buf *reply)
{
	static const char *const actions[] = {
		"hold", "release", "delete", "bounce", "requeue", "flush",
	};
	struct qctl_req r;
	const char *err = NULL;
	size_t i;

	/* estafetactl reads the index after our answer: what is pending in
	 * the batch transaction is committed first, and what this command
	 * writes is committed before the answer (no batch is open now). */
	if (qidx_batch_end(s->idx, 0) == -1) {
		log_error("qmgr index commit failed");
		if (len == 6 && strncmp(cmd, "commit", 6) == 0) {
			(void)buf_appends(reply, "error: index commit failed");
			return;
		}
	}
	if (len == 6 && strncmp(cmd, "commit", 6) == 0) {
		(void)buf_appends(reply, "ok: committed");
		return;
	}
	/* A bare flush, or flush ID; with filters or dry-run, an action. */
	if (len >= 5 && strncmp(cmd, "flush", 5) == 0 &&
	    (len == 5 || cmd[5] == ' ') && memchr(cmd, '\n', len) == NULL) {
		qs_ctl_flush(s, cmd, len, reply);
		return;
	}
	if (qctl_req_parse(&r, cmd, len, qs_now_s(), &err) == -1) {
		(void)buf_appendf(reply, "error: %s", err);
		qctl_req_free(&r);
		return;
	}
	for (i = 0; i < sizeof(actions) / sizeof(*actions); i++)
		if (strcmp(r.verb, actions[i]) == 0)
			break;
	if (i == sizeof(actions) / sizeof(*actions))
		(void)buf_appends(reply, "error: unknown command");
	else
		qs_ctl_action(s, &r, reply);
	qctl_req_free(&r);
}
