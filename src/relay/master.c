/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * estafetad master. The only process that may run as root: it reads the
 * configuration, binds the listening sockets, creates the spool, writes the
 * pid file and forks every child (qmgr, smtpd workers), which drop to
 * run_user before they read a byte from the network. It never parses
 * network input itself. It also creates the local submission socket
 * (listen_local) with the mode and group that decide who may submit.
 *
 * Pool: smtpd workers mark their slot of a shared scoreboard busy or idle
 * and wake the master on a status pipe when few are idle; the master keeps
 * at least smtpd_workers_min and a couple idle, never more than
 * smtpd_workers_max. Dead children are replaced, with a growing delay when
 * they die abnormally. SIGHUP: parse the configuration into a new struct;
 * on success swap it, rebind changed listeners, let old workers finish
 * their sessions and start new ones. SIGTERM/SIGINT: stop accepting, have
 * sessions idle between transactions told 421, let the others finish
 * their transaction (up to shutdown_timeout), then stop qmgr last.
 */
#include "config.h"

#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/conn.h"
#include "lib/log.h"
#include "lib/netaddr.h"
#include "lib/pidfile.h"
#include "lib/selfpipe.h"
#include "lib/ratelimit.h"
#include "lib/runuser.h"
#include "lib/tls.h"
#include "lib/users.h"
#include "lib/xalloc.h"
#include "relay/deliver.h"
#include "relay/qmgr.h"
#include "relay/relay_cfg.h"
#include "relay/smtpd.h"

#define MAX_LISTENERS		16
#define MASTER_BACKLOG		1024	/* listen(2) */
#define MAX_CHILDREN		10001
#define QMGR_STOP_GRACE_MS	10000	/* for qmgr after the workers' kill */
#define IDLE_TARGET		2
#define RATELIMIT_KEYS		65536	/* client addresses and users */
/* A child that ran this long was healthy: its death restarts the backoff
 * from the first step instead of doubling it. */
#define STABLE_MS		10000

enum child_kind { CHILD_SMTPD = 1, CHILD_QMGR, CHILD_DELIVER };

struct child {
	int		 pid;
	int		 kind;
	int		 gen;		/* configuration generation */
	int		 stopping;	/* told to finish and exit */
	long long	 started;	/* conn_now_ms() at fork */
	size_t		 slot;		/* smtpd: ratelimit slot */
};

struct master {
	struct relay_cfg	*cfg;
	const char		*cfg_path;
	char *const		*overrides;
	int			 foreground;
	struct listener		 ls[MAX_LISTENERS];
	size_t			 nls;
	struct child		*ch;
	size_t			 nch;
	int			 gen;
	int			 status_r, status_w;
	uid_t			 uid;
	gid_t			 gid;
	int			 drop;
	long long		 qmgr_backoff_ms, qmgr_restart_at;
	long long		 smtpd_backoff_ms, smtpd_fork_at;
	long long		 drain_deadline;
	int			 draining;
	int			 drain_killed;	/* workers killed at the limit */
	int			 qmgr_ready;
	long long		 start_deadline;
	struct tls_server	*tls;		/* NULL: no certificates */
	struct ratelimit	*rl;		/* shared by smtpd workers */
	char			*relay_user;	/* relayhost AUTH, read as root */
	char			*relay_pass;
	long long		 deliver_fork_at;
	unsigned char		*slot_used;	/* [MAX_CHILDREN] */
	int			*board;		/* [MAX_CHILDREN + 1], shared */
};

static int master_sigpipe[2] = { -1, -1 };

static void
master_on_signal(int sig)
{
	selfpipe_write(master_sigpipe[1], sig);
}

static void
usage(void)
{
	fprintf(stderr, "usage: estafetad [-fnt] [-c file] [-o key=value]...\n"
	    "  -c file  configuration (default " SYSCONFDIR
	    "/estafeta/estafetad.conf)\n"
	    "  -f       stay in the foreground, log to stderr\n"
	    "  -n       print the effective configuration and exit\n"
	    "  -t       check the configuration and exit\n"
	    "  -o k=v   override a setting\n");
	exit(2);
}

/* ----------------------------------------------------------- listeners */

/*
 * Gives the local submission socket its access rights: every local user
 * (0666), or root and listen_local_group (0660). Run on every (re)load so
 * that a changed group applies to the socket kept across a reload.
 */
static int
master_local_perms(const char *path, const char *group, struct buf *err)
{
	struct group *gr = NULL;

	if (group[0] != '\0' && (gr = getgrnam(group)) == NULL) {
		(void)buf_appendf(err, "listen_local_group '%s' does not exist",
		    group);
		return -1;
	}
	/* Never follow a symbolic link: whoever can write the socket's
	 * directory could point it at any file for root to open up. */
	if ((gr != NULL && lchown(path, geteuid(), gr->gr_gid) == -1) ||
	    fchmodat(AT_FDCWD, path, gr != NULL ? 0660 : 0666,
	    AT_SYMLINK_NOFOLLOW) == -1) {
		(void)buf_appendf(err, "cannot set the mode of %s: %s", path,
		    strerror(errno));
		return -1;
	}
	return 1;
}

/* Creates the socket's directory (one level, mode 0755, owned by the
 * master) when it is missing, as for /run/estafeta after a reboot. */
static void
master_local_dir(const char *path)
{
	struct buf dir = BUF_INIT(0);
	const char *slash = strrchr(path, '/');

	if (slash == NULL || slash == path)
		return;
	(void)buf_append(&dir, path, (size_t)(slash - path));	/* unbounded */
	if (mkdir(dir.data, 0755) == 0)
		log_info("master created %s for listen_local", dir.data);
	buf_free(&dir);	/* EEXIST and other errors: bind() will tell */
}

/*
 * Binds the local submission socket at path. A socket file left by a
 * daemon that died is replaced; one a running daemon answers on is not.
 * Created with mode 0600 (umask) and opened up by master_local_perms.
 */
static int
master_bind_local(const char *path, struct buf *err)
{
	struct sockaddr_un sun;
	struct stat st;
	mode_t old;
	int fd, probe, r;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		(void)buf_appendf(err, "listen_local path too long: %s", path);
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	master_local_dir(path);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			(void)buf_appendf(err, "listen_local %s exists and is "
			    "not a socket", path);
			return -1;
		}
		if ((probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) ==
		    -1)
			goto fail_nofd;
		r = connect(probe, (struct sockaddr *)&sun, sizeof(sun));
		(void)close(probe);	/* a probe: nothing was sent */
		if (r == 0) {
			(void)buf_appendf(err, "listen_local %s: another "
			    "daemon is listening there", path);
			return -1;
		}
		if (unlink(path) == -1 && errno != ENOENT)
			goto fail_nofd;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1)
		goto fail_nofd;
	old = umask(0177);
	r = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	(void)umask(old);
	if (r == -1 || listen(fd, 1024) == -1) {
		(void)buf_appendf(err, "cannot listen on %s: %s", path,
		    strerror(errno));
		(void)close(fd);
		return -1;
	}
	return fd;
fail_nofd:
	(void)buf_appendf(err, "cannot listen on %s: %s", path,
	    strerror(errno));
	return -1;
}

/*
 * The master's own limit on listeners, checked with the configuration so
 * that -t reports it (relay_cfg checks each address; binding is left to
 * the start, so that -t works beside a running daemon holding the ports).
 */
static int
master_check_listen(const struct relay_cfg *cfg, struct buf *err)
{
	size_t n = cfg->listen_mx.n + cfg->listen_submission.n +
	    cfg->listen_smtps.n + (cfg->listen_local[0] != '\0');

	if (n <= MAX_LISTENERS)
		return 1;
	cfg_where_error(cfg->where, err, CFG_KEYS("listen_mx",
	    "listen_submission", "listen_smtps", "listen_local"), "%zu listen "
	    "addresses in listen_mx, listen_submission and listen_smtps%s: "
	    "at most %d", n, cfg->listen_local[0] != '\0' ?
	    " (and listen_local)" : "", MAX_LISTENERS);
	return -1;
}

/*
 * Stops a listener for every process at once: workers still in a session
 * hold copies of the socket, and a plain close() would leave it listening,
 * with new clients waiting unserved for a greeting. shutdown() on the
 * shared listening socket makes new connections fail at once (the client
 * tries its next MX) and resets those no worker took yet. Closes fd.
 */
static void
master_unlisten(struct listener *l)
{
	if (shutdown(l->fd, SHUT_RD) == -1)
		log_warn("master cannot stop listening on %s: %s", l->addr,
		    strerror(errno));
	(void)close(l->fd);	/* a listening socket: nothing to flush */
	l->fd = -1;
	/* A client of the sendmail command now learns at once that nobody
	 * listens (EX_TEMPFAIL), and the next start binds afresh. */
	if (l->kind == LISTEN_LOCAL && unlink(l->addr) == -1 &&
	    errno != ENOENT)
		log_warn("master cannot remove %s: %s", l->addr,
		    strerror(errno));
}

/* Brings the listener set in line with cfg, reusing sockets whose address
 * is unchanged (so a reload never refuses a connection). */
static int
master_listeners(struct master *m, const struct relay_cfg *cfg,
    struct buf *err)
{
	char *local[1] = { cfg->listen_local };
	const struct cfg_list llocal = { cfg->listen_local[0] != '\0', local };
	const struct cfg_list *lists[4] = { &cfg->listen_mx,
	    &cfg->listen_submission, &cfg->listen_smtps, &llocal };
	struct listener nls[MAX_LISTENERS];
	size_t n = 0, i, j, k;
	int kind;

	for (kind = 0; kind < 4; kind++) {
		for (i = 0; i < lists[kind]->n; i++) {
			if (n == MAX_LISTENERS) {
				(void)buf_appendf(err, "too many listen "
				    "addresses (at most %d)", MAX_LISTENERS);
				goto fail;
			}
			nls[n].kind = kind;
			nls[n].addr = xstrdup(lists[kind]->v[i]);
			nls[n].fd = -1;
			for (j = 0; j < m->nls; j++)
				if (m->ls[j].fd != -1 && m->ls[j].kind == kind &&
				    strcmp(m->ls[j].addr, nls[n].addr) == 0) {
					nls[n].fd = m->ls[j].fd;
					m->ls[j].fd = -1;
				}
			n++;
			if (nls[n - 1].fd == -1 &&
			    (nls[n - 1].fd = kind == LISTEN_LOCAL ?
			    master_bind_local(nls[n - 1].addr, err) :
			    netaddr_listen_tcp(nls[n - 1].addr,
			    MASTER_BACKLOG, err)) == -1)
				goto fail;
			if (kind == LISTEN_LOCAL && master_local_perms(
			    nls[n - 1].addr, cfg->listen_local_group, err) ==
			    -1)
				goto fail;
		}
	}
	for (j = 0; j < m->nls; j++) {
		if (m->ls[j].fd != -1)
			master_unlisten(&m->ls[j]);	/* removed listener */
		free(m->ls[j].addr);
	}
	memcpy(m->ls, nls, n * sizeof(*nls));
	m->nls = n;
	return 1;
fail:
	/* Give reused sockets back, close new ones. */
	for (k = 0; k < n; k++) {
		for (j = 0; j < m->nls; j++)
			if (m->ls[j].fd == -1 && m->ls[j].kind == nls[k].kind &&
			    strcmp(m->ls[j].addr, nls[k].addr) == 0) {
				m->ls[j].fd = nls[k].fd;
				nls[k].fd = -1;
			}
		if (nls[k].fd != -1)
			(void)close(nls[k].fd);
		free(nls[k].addr);
	}
	return -1;
}

/* ----------------------------------------------------------- children */

static void
master_drop_privileges(struct master *m)
{
	if (!m->drop)
		return;
	if (setgroups(0, NULL) == -1 || setresgid(m->gid, m->gid, m->gid) ==
	    -1 || setresuid(m->uid, m->uid, m->uid) == -1)
		log_fatal("cannot drop privileges: %s", strerror(errno));
	if (setuid(0) != -1)
		log_panic("privileges not dropped: setuid(0) succeeded");
}

/* The master's pid, for a new child to check that its parent is alive. */
static pid_t master_pid;

/*
 * In a new child, with the master's signals still blocked: SIGTERM gets
 * its default action (one already pending ends a child that has not
 * started: master_reap takes that as the stop it asked for), SIGHUP and
 * SIGINT are ignored (sent to the whole group, the master handles them;
 * smtpd and qmgr install their own handlers first thing), then unblock.
 */
static void
master_child_setup(struct master *m, int keep_listeners,
    const sigset_t *mask)
{
	struct sigaction sa;
	size_t i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	(void)sigaction(SIGCHLD, &sa, NULL);
	(void)sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	(void)sigaction(SIGHUP, &sa, NULL);
	(void)sigaction(SIGINT, &sa, NULL);
	/* The master's note to qmgr (master_drain_step): never fatal to a
	 * child, qmgr's own handler included before it is set. */
	(void)sigaction(SIGUSR1, &sa, NULL);
	selfpipe_restore(mask);
	(void)close(master_sigpipe[0]);
	(void)close(master_sigpipe[1]);
	(void)close(m->status_r);
	if (!keep_listeners) {
		(void)close(m->status_w);
		for (i = 0; i < m->nls; i++)
			(void)close(m->ls[i].fd);
	}
	master_drop_privileges(m);
	/* A master that dies (SIGKILL, crash) takes its children along:
	 * a qmgr left running would schedule the queue beside the next
	 * master's own (duplicate deliveries). Set after the privilege
	 * drop, which clears it; a master gone already is checked once. */
	if (prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0) == -1)
		log_error("cannot set the parent death signal: %s",
		    strerror(errno));
	if (getppid() != master_pid)
		(void)raise(SIGTERM);
}

/* The name top(1), ps -o comm and /proc/PID/comm show: "est-smtpd". The
 * master keeps "estafetad", so `pkill estafetad` signals only the master. */
static void
master_child_name(const char *role)
{
	char name[16];

	(void)snprintf(name, sizeof(name), "est-%s", role);
	(void)prctl(PR_SET_NAME, name, 0, 0, 0);
}

static struct child *
master_new_child(struct master *m, int kind)
{
	struct child *c;
	sigset_t mask;
	size_t slot = 0;
	pid_t pid;

	if (m->nch >= MAX_CHILDREN)
		return NULL;
	/* Each smtpd gets a ratelimit slot no live worker holds. */
	for (slot = 0; kind == CHILD_SMTPD && m->slot_used[slot]; slot++)
		;
	if (kind == CHILD_SMTPD) {
		__atomic_store_n(&m->board[slot], SMTPD_SLOT_IDLE,
		    __ATOMIC_SEQ_CST);
		if ((size_t)m->board[MAX_CHILDREN] < slot + 1)
			__atomic_store_n(&m->board[MAX_CHILDREN], (int)slot + 1,
			    __ATOMIC_SEQ_CST);
	}
	/* The signals the master handles through master_sigpipe are
	 * blocked across fork() so that a child never runs the master's
	 * handler: it would write into the master's pipe (SIGTERM sent to a
	 * new worker during a reload read by the master as its own SIGTERM)
	 * and be lost for the child. */
	selfpipe_block(&mask);
	master_pid = getpid();
	if ((pid = fork()) == -1) {
		log_error("master fork failed: %s", strerror(errno));
		if (kind == CHILD_SMTPD)	/* no phantom idle worker */
			__atomic_store_n(&m->board[slot], SMTPD_SLOT_FREE,
			    __ATOMIC_SEQ_CST);
		selfpipe_restore(&mask);
		return NULL;
	}
	if (pid == 0) {
		if (kind == CHILD_QMGR) {
			int status_w = dup(m->status_w);

			master_child_name("qmgr");
			master_child_setup(m, 0, &mask);
			log_init("estafetad/qmgr", m->foreground ?
			    LOG_TARGET_STDERR : m->cfg->log_target,
			    m->cfg->log_level);
			qmgr_main(m->cfg, status_w);
		}
		if (kind == CHILD_DELIVER) {
			master_child_name("deliver");
			master_child_setup(m, 0, &mask);
			log_init("estafetad/deliver", m->foreground ?
			    LOG_TARGET_STDERR : m->cfg->log_target,
			    m->cfg->log_level);
			deliver_main(m->cfg, m->relay_user, m->relay_pass);
		}
		master_child_name("smtpd");
		master_child_setup(m, 1, &mask);
		log_init("estafetad/smtpd", m->foreground ? LOG_TARGET_STDERR :
		    m->cfg->log_target, m->cfg->log_level);
		{
			struct smtpd_worker_args wa = {
				m->cfg, m->ls, m->nls, m->status_w, m->tls,
				m->rl, slot, m->board, MAX_CHILDREN,
			};

			smtpd_worker(&wa);
		}
	}
	c = &m->ch[m->nch++];
	memset(c, 0, sizeof(*c));
	c->pid = pid;
	c->kind = kind;
	c->gen = m->gen;
	c->started = conn_now_ms();
	if (kind == CHILD_SMTPD) {
		c->slot = slot;
		m->slot_used[slot] = 1;
	}
	selfpipe_restore(&mask);	/* pending signals arrive now */
	return c;
}

/* An smtpd worker in a session, as its slot of the scoreboard says. */
static int
master_busy(const struct master *m, const struct child *c)
{
	return c->kind == CHILD_SMTPD && __atomic_load_n(&m->board[c->slot],
	    __ATOMIC_RELAXED) == SMTPD_SLOT_BUSY;
}

static size_t
master_count(const struct master *m, int kind, int idle_only)
{
	size_t i, n = 0;

	for (i = 0; i < m->nch; i++)
		if (m->ch[i].kind == kind && !m->ch[i].stopping &&
		    m->ch[i].gen == m->gen && (!idle_only ||
		    !master_busy(m, &m->ch[i])))
			n++;
	return n;
}

/* Starts smtpd workers until the pool has its minimum and a few idle. */
static void
master_fill_pool(struct master *m)
{
	size_t total, idle, max = (size_t)m->cfg->smtpd_workers_max;

	if (m->draining || conn_now_ms() < m->smtpd_fork_at)
		return;
	/* The first qmgr recovers incoming/ before any smtpd may write. */
	if (!m->qmgr_ready && conn_now_ms() < m->start_deadline)
		return;
	for (;;) {
		total = master_count(m, CHILD_SMTPD, 0);
		idle = master_count(m, CHILD_SMTPD, 1);
		if (total >= max || (total >= (size_t)m->cfg->smtpd_workers_min
		    && idle >= IDLE_TARGET))
			break;
		if (master_new_child(m, CHILD_SMTPD) == NULL)
			break;
	}
}

/* Keeps deliver_workers delivery workers once qmgr is up (they connect
 * to it); a worker that died abnormally is replaced after a second. */
static void
master_fill_deliver(struct master *m)
{
	size_t i, n, qmgr = 0;

	if (m->draining || !m->qmgr_ready || conn_now_ms() < m->deliver_fork_at)
		return;
	for (i = 0; i < m->nch; i++)
		qmgr += m->ch[i].kind == CHILD_QMGR && !m->ch[i].stopping;
	if (qmgr == 0)
		return;
	for (n = master_count(m, CHILD_DELIVER, 0);
	    n < (size_t)m->cfg->deliver_workers; n++)
		if (master_new_child(m, CHILD_DELIVER) == NULL)
			break;
}

/* Asks idle workers beyond the minimum to exit (they are cheap to make). */
static void
master_trim_pool(struct master *m)
{
	size_t i, total = master_count(m, CHILD_SMTPD, 0);
	size_t idle = master_count(m, CHILD_SMTPD, 1);

	for (i = 0; i < m->nch && idle > IDLE_TARGET * 4 &&
	    total > (size_t)m->cfg->smtpd_workers_min; i++) {
		struct child *c = &m->ch[i];

		if (c->kind == CHILD_SMTPD && !master_busy(m, c) &&
		    !c->stopping &&
		    c->gen == m->gen) {
			(void)kill(c->pid, SIGTERM);
			c->stopping = 1;
			idle--;
			total--;
		}
	}
}

/* Starts qmgr unless one runs, or is still finishing (never two: it is
 * the only index writer). */
static void
master_start_qmgr(struct master *m)
{
	size_t i;

	if (m->draining || conn_now_ms() < m->qmgr_restart_at)
		return;
	for (i = 0; i < m->nch; i++)
		if (m->ch[i].kind == CHILD_QMGR)
			return;
	(void)master_new_child(m, CHILD_QMGR);	/* NULL: retried next round */
}

static const char *
master_kind_name(int kind)
{
	return kind == CHILD_QMGR ? "qmgr" : kind == CHILD_DELIVER ?
	    "deliver" : "smtpd";
}

static void
master_reap(struct master *m)
{
	struct child *c;
	int status, abnormal;
	pid_t pid;
	size_t i;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (i = 0; i < m->nch && m->ch[i].pid != pid; i++)
			;
		if (i == m->nch)
			continue;
		c = &m->ch[i];
		abnormal = !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		/* Told to stop before it had its own handler: a clean stop. */
		if (c->stopping && WIFSIGNALED(status) &&
		    WTERMSIG(status) == SIGTERM)
			abnormal = 0;
		if (abnormal && !(c->stopping && WIFSIGNALED(status) &&
		    WTERMSIG(status) == SIGKILL)) {
			if (WIFSIGNALED(status))
				log_error("master %s pid=%d killed by signal "
				    "%d", master_kind_name(c->kind), pid,
				    WTERMSIG(status));
			else
				log_error("master %s pid=%d exited with status "
				    "%d", master_kind_name(c->kind), pid,
				    WEXITSTATUS(status));
		}
		/* Without this, rare deaths over weeks would add up to the
		 * longest delay for every later one. */
		if (abnormal && conn_now_ms() - c->started >= STABLE_MS) {
			if (c->kind == CHILD_QMGR)
				m->qmgr_backoff_ms = 0;
			else
				m->smtpd_backoff_ms = 0;
		}
		if (c->kind == CHILD_QMGR && abnormal && !m->draining) {
			m->qmgr_backoff_ms = m->qmgr_backoff_ms ?
			    m->qmgr_backoff_ms * 2 : 1000;
			if (m->qmgr_backoff_ms > 60000)
				m->qmgr_backoff_ms = 60000;
			m->qmgr_restart_at = conn_now_ms() + m->qmgr_backoff_ms;
			log_info("master restarting qmgr in %lld ms",
			    m->qmgr_backoff_ms);
		}
		if (c->kind == CHILD_DELIVER && abnormal && !c->stopping)
			m->deliver_fork_at = conn_now_ms() + 1000;
		if (c->kind == CHILD_SMTPD && abnormal && !c->stopping) {
			m->smtpd_backoff_ms = m->smtpd_backoff_ms ?
			    m->smtpd_backoff_ms * 2 : 100;
			if (m->smtpd_backoff_ms > 30000)
				m->smtpd_backoff_ms = 30000;
			m->smtpd_fork_at = conn_now_ms() + m->smtpd_backoff_ms;
		}
		if (c->kind == CHILD_SMTPD) {
			/* A dead worker's concurrency slot must not leak. */
			ratelimit_clear_slot(m->rl, c->slot);
			m->slot_used[c->slot] = 0;
			__atomic_store_n(&m->board[c->slot], SMTPD_SLOT_FREE,
			    __ATOMIC_SEQ_CST);
		}
		m->ch[i] = m->ch[--m->nch];
	}
}

static void
master_read_status(struct master *m)
{
	struct smtpd_status st;
	size_t i;

	while (read(m->status_r, &st, sizeof(st)) == (ssize_t)sizeof(st)) {
		for (i = 0; i < m->nch; i++)
			if (m->ch[i].pid == st.pid) {
				/* smtpd writes only to wake us: the pool
				 * is filled from the scoreboard. */
				if (m->ch[i].kind == CHILD_QMGR &&
				    st.busy == QMGR_STATUS_READY)
					m->qmgr_ready = 1;
				break;
			}
	}
}

static void
master_signal_all(struct master *m, int kind, int sig)
{
	size_t i;

	for (i = 0; i < m->nch; i++)
		if (m->ch[i].kind == kind) {
			(void)kill(m->ch[i].pid, sig);
			m->ch[i].stopping = 1;
		}
}

/* Stopping: SIGTERM with a value that tells smtpd workers to end idle
 * sessions at once (a plain SIGTERM lets every session go on). */
static void
master_drain_smtpd(struct master *m)
{
	union sigval v = { .sival_int = SMTPD_SIGVAL_DRAIN };
	size_t i;

	for (i = 0; i < m->nch; i++)
		if (m->ch[i].kind == CHILD_SMTPD) {
			/* ESRCH: it died and is reaped soon. */
			(void)sigqueue(m->ch[i].pid, SIGTERM, v);
			m->ch[i].stopping = 1;
		}
}

/* ----------------------------------------------------------- reload */

/* Loads the certificates of cfg (as root: keys are read now, never by
 * the children). *tls_r is NULL when none are configured. 1 or -1. */
static int
master_load_tls(const struct relay_cfg *cfg, struct tls_server **tls_r,
    struct buf *err)
{
	struct tls_server_cfg tc;
	struct buf msgs = BUF_INIT(0);
	const char *p, *nl;

	*tls_r = NULL;
	if (cfg->tls_cert_files.n == 0)
		return 1;
	memset(&tc, 0, sizeof(tc));
	tc.certs = &cfg->tls_cert_files;
	tc.keys = &cfg->tls_key_files;
	tc.min_version = cfg->tls_min_version;
	tc.ciphers = cfg->tls_ciphers;
	tc.ciphersuites = cfg->tls_ciphersuites;
	tc.groups = cfg->tls_groups;
	if (tls_server_new(&tc, tls_r, &msgs) == -1) {
		tls_server_cfg_errors(cfg->where, buf_cstr(&msgs), err);
		buf_free(&msgs);
		return -1;
	}
	/* Warnings (expiry, key permissions) go to the log line by line. */
	for (p = buf_cstr(&msgs); *p != '\0'; p = nl ? nl + 1 : p +
	    strlen(p)) {
		nl = strchr(p, '\n');
		if (nl != p)
			log_warn("master TLS %.*s", nl ? (int)(nl - p) :
			    (int)strlen(p), p);
	}
	buf_free(&msgs);
	return 1;
}

/* The users database must exist (AUTH and local recipients) and, when
 * we drop privileges, belong to run_user: smtpd opens it read-only. */
static void
master_setup_users_db(struct master *m)
{
	struct users *u;
	const char *errstr;

	if (access(m->cfg->users_db, F_OK) == -1) {
		if (users_open(m->cfg->users_db, 1, &u, &errstr) == -1) {
			log_error("master cannot create users database %s: %s",
			    m->cfg->users_db, errstr);
			return;
		}
		users_close(&u);
		log_info("master created empty users database %s",
		    m->cfg->users_db);
	}
	/* run_user owns the directory and could have put a symlink or a
	 * hard link here to be handed some other file. */
	if (m->drop && users_chown(m->cfg->users_db, m->uid, m->gid,
	    &errstr) == -1)
		log_warn("master cannot give the users database to %s: %s",
		    m->cfg->run_user, errstr);
}

static void
master_free_auth(struct master *m)
{
	if (m->relay_pass != NULL)
		xbzero(m->relay_pass, strlen(m->relay_pass));
	free(m->relay_user);
	free(m->relay_pass);
	m->relay_user = m->relay_pass = NULL;
}

static void
master_reload(struct master *m)
{
	struct relay_cfg *ncfg = xcalloc(1, sizeof(*ncfg));
	struct tls_server *ntls = NULL;
	struct buf err = BUF_INIT(0);
	size_t i;

	log_info("master reloading %s", m->cfg_path);
	if (relay_cfg_load(ncfg, m->cfg_path, m->overrides, &err) == -1 ||
	    master_load_tls(ncfg, &ntls, &err) == -1 ||
	    master_listeners(m, ncfg, &err) == -1) {
		/* One log line: the messages end in newlines. */
		while (err.len > 0 && err.data[err.len - 1] == '\n')
			err.data[--err.len] = '\0';
		for (i = 0; i < err.len; i++)
			if (err.data[i] == '\n')
				err.data[i] = ';';
		log_error("master reload failed, keeping the running "
		    "configuration: %s", buf_cstr(&err));
		tls_server_free(&ntls);
		relay_cfg_free(ncfg);
		free(ncfg);
		buf_free(&err);
		return;
	}
	buf_free(&err);
	/* Old workers finish their session and exit; new ones get ncfg. */
	master_signal_all(m, CHILD_SMTPD, SIGTERM);
	master_signal_all(m, CHILD_DELIVER, SIGTERM);
	master_signal_all(m, CHILD_QMGR, SIGTERM);
	/* Children have their own copy of the old struct: free ours. */
	relay_cfg_free(m->cfg);
	free(m->cfg);
	m->cfg = ncfg;
	tls_server_free(&m->tls);	/* children keep their copy */
	m->tls = ntls;
	{
		char *u, *p;
		const char *errstr;

		if (deliver_load_auth(m->cfg->relayhost_auth_file, &u, &p,
		    &errstr) == -1)
			log_error("master reload: %s: %s; relayhost AUTH "
			    "disabled", m->cfg->relayhost_auth_file, errstr);
		else {
			master_free_auth(m);
			m->relay_user = u;
			m->relay_pass = p;
		}
	}
	master_setup_users_db(m);
	m->gen++;
	log_set_level(m->cfg->log_level);
	m->qmgr_restart_at = 0;
	m->qmgr_backoff_ms = 0;
	log_info("master reloaded generation=%d", m->gen);
}

/* ----------------------------------------------------------- main */

static void
master_setup_spool(struct master *m)
{
	static const char *const subs[] = { "", "/incoming", "/queue",
		"/corrupt" };
	struct buf p = BUF_INIT(0);
	size_t i;

	for (i = 0; i < sizeof(subs) / sizeof(*subs); i++) {
		buf_reset(&p);
		(void)buf_appendf(&p, "%s%s", m->cfg->spool_dir, subs[i]);
		if (mkdir(p.data, 0700) == -1 && errno != EEXIST)
			log_fatal("cannot create %s: %s", p.data,
			    strerror(errno));
		if (m->drop && lchown(p.data, m->uid, m->gid) == -1)
			log_fatal("cannot chown %s: %s", p.data,
			    strerror(errno));
	}
	buf_free(&p);
}

static void
master_write_pid(struct master *m)
{
	if (m->cfg->pid_file[0] != '\0' &&
	    pidfile_write(m->cfg->pid_file) == -1)
		log_fatal("cannot write pid file %s: %s", m->cfg->pid_file,
		    strerror(errno));
}

static void
master_signals(void)
{
	if (selfpipe_open(master_sigpipe, master_on_signal) == -1)
		log_fatal("pipe: %s", strerror(errno));
}

/* Handles the signals that arrived since the last call. */
static void
master_handle_signals(struct master *m)
{
	size_t i;
	int sig;

	while ((sig = selfpipe_next(master_sigpipe[0])) != 0) {
		switch (sig) {
		case SIGCHLD:
			master_reap(m);
			break;
		case SIGHUP:
			if (!m->draining)
				master_reload(m);
			break;
		case SIGTERM:
		case SIGINT:
			if (m->draining) {
				log_info("master second stop signal: "
				    "killing children now");
				m->drain_deadline = conn_now_ms();
				break;
			}
			log_info("master stopping: sessions may finish "
			    "(up to %lld s)", m->cfg->shutdown_timeout / 1000);
			for (i = 0; i < m->nls; i++)
				master_unlisten(&m->ls[i]);
			m->draining = 1;
			m->drain_deadline = conn_now_ms() +
			    m->cfg->shutdown_timeout;
			master_drain_smtpd(m);
			master_signal_all(m, CHILD_DELIVER, SIGTERM);
			break;
		}
	}
}

/*
 * Drain: smtpd workers (they may still commit to qmgr) and delivery
 * workers (they report to it) first, then qmgr. At shutdown_timeout
 * (or a second stop signal) the workers left are killed; qmgr is told
 * first (SIGUSR1), so that it notes the jobs they leave as stopped on
 * purpose, not lost, and then stops as usual, or is killed too once
 * QMGR_STOP_GRACE_MS more have passed.
 */
static int
master_drain_step(struct master *m)
{
	int workers_left = 0;
	size_t i;

	for (i = 0; i < m->nch; i++)
		workers_left += m->ch[i].kind != CHILD_QMGR;
	if (!workers_left)
		master_signal_all(m, CHILD_QMGR, SIGTERM);
	if (conn_now_ms() < m->drain_deadline)
		return m->nch > 0;
	if (workers_left && !m->drain_killed) {
		log_info("master stop time limit reached: killing %d worker%s",
		    workers_left, workers_left == 1 ? "" : "s");
		master_signal_all(m, CHILD_QMGR, SIGUSR1);
		for (i = 0; i < m->nch; i++)
			if (m->ch[i].kind != CHILD_QMGR)
				(void)kill(m->ch[i].pid, SIGKILL);
		m->drain_killed = 1;
		m->drain_deadline = conn_now_ms() + QMGR_STOP_GRACE_MS;
		return 1;
	}
	for (i = 0; i < m->nch; i++)
		(void)kill(m->ch[i].pid, SIGKILL);
	return m->nch > 0;
}

int
main(int argc, char *argv[])
{
	struct master mm, *m = &mm;
	struct pollfd pfd[2];
	struct buf err = BUF_INIT(0);
	char **overrides;
	size_t i;
	int ch, print = 0, check = 0, no = 0, loaded;

	memset(m, 0, sizeof(*m));
	m->cfg_path = SYSCONFDIR "/estafeta/estafetad.conf";
	overrides = xcalloc((size_t)argc + 1, sizeof(*overrides));
	log_init("estafetad", LOG_TARGET_STDERR, LOG_LEVEL_INFO);
	while ((ch = getopt(argc, argv, "c:fnto:h")) != -1) {
		switch (ch) {
		case 'c':
			m->cfg_path = optarg;
			break;
		case 'f':
			m->foreground = 1;
			break;
		case 'n':
			print = 1;
			break;
		case 't':
			check = 1;
			break;
		case 'o':
			overrides[no++] = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	m->overrides = overrides;
	m->cfg = xcalloc(1, sizeof(*m->cfg));
	loaded = relay_cfg_load(m->cfg, m->cfg_path, overrides, &err);
	if (loaded == 1 && (master_check_listen(m->cfg, &err) ==
	    -1 || master_load_tls(m->cfg, &m->tls, &err) == -1)) {
		relay_cfg_free(m->cfg);	/* loaded, but not usable */
		loaded = -1;
	}
	if (loaded == -1 || print || check) {
		if (loaded == -1)
			fprintf(stderr, "estafetad: configuration errors:\n%s",
			    buf_cstr(&err));
		else if (print)
			(void)cfg_print(relay_cfg_defs, m->cfg, 0, stdout);
		else
			printf("estafetad: %s: configuration OK\n",
			    m->cfg_path);
		tls_server_free(&m->tls);
		relay_cfg_free(m->cfg);
		free(m->cfg);
		free(overrides);
		buf_free(&err);
		return loaded == -1 ? 1 : 0;
	}
	log_init("estafetad", m->foreground ? LOG_TARGET_STDERR :
	    m->cfg->log_target, m->cfg->log_level);
	m->drop = runuser_lookup(m->cfg->run_user, &m->uid, &m->gid);
	if (master_listeners(m, m->cfg, &err) == -1)
		log_fatal("%s", buf_cstr(&err));
	master_setup_spool(m);
	master_setup_users_db(m);
	{
		const char *errstr;

		if (deliver_load_auth(m->cfg->relayhost_auth_file,
		    &m->relay_user, &m->relay_pass, &errstr) == -1)
			log_fatal("%s: %s", m->cfg->relayhost_auth_file,
			    errstr);
	}
	/* Shared counters for every smtpd, one slot per possible worker. */
	if ((m->rl = ratelimit_new(RATELIMIT_KEYS, MAX_CHILDREN)) == NULL)
		log_fatal("cannot create the rate-limit table: %s",
		    strerror(errno));
	m->slot_used = xcalloc(MAX_CHILDREN, 1);
	m->board = mmap(NULL, (MAX_CHILDREN + 1) * sizeof(*m->board),
	    PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (m->board == MAP_FAILED)
		log_fatal("cannot map the worker scoreboard: %s",
		    strerror(errno));
	if (!m->foreground && daemon(0, 0) == -1)
		log_fatal("daemon: %s", strerror(errno));
	master_write_pid(m);
	master_signals();
	{
		int sp[2];

		if (pipe2(sp, O_CLOEXEC) == -1)
			log_fatal("pipe: %s", strerror(errno));
		m->status_r = sp[0];
		m->status_w = sp[1];
		(void)fcntl(m->status_r, F_SETFL, O_NONBLOCK);
		(void)fcntl(m->status_w, F_SETFL, O_NONBLOCK);
	}
	m->ch = xcalloc(MAX_CHILDREN, sizeof(*m->ch));
	log_info("master started pid=%ld listeners=%zu user=%s",
	    (long)getpid(), m->nls, m->drop ? m->cfg->run_user : "(unchanged)");

	m->start_deadline = conn_now_ms() + 10000;
	master_start_qmgr(m);
	master_fill_pool(m);
	pfd[0].fd = master_sigpipe[0];
	pfd[0].events = POLLIN;
	pfd[1].fd = m->status_r;
	pfd[1].events = POLLIN;
	for (;;) {
		(void)poll(pfd, 2, m->draining ? 100 : 500);
		master_handle_signals(m);
		master_read_status(m);
		if (m->draining) {
			master_reap(m);
			if (!master_drain_step(m))
				break;
			continue;
		}
		master_start_qmgr(m);
		master_fill_pool(m);
		master_fill_deliver(m);
		master_trim_pool(m);
	}
	if (m->cfg->pid_file[0] != '\0')
		(void)unlink(m->cfg->pid_file);	/* best effort */
	log_info("master stopped");
	for (i = 0; i < m->nls; i++) {
		if (m->ls[i].fd != -1)	/* -1: shut down by the drain */
			(void)close(m->ls[i].fd);	/* exiting */
		free(m->ls[i].addr);
	}
	relay_cfg_free(m->cfg);
	free(m->cfg);
	free(m->ch);
	free(m->slot_used);
	(void)munmap(m->board, (MAX_CHILDREN + 1) * sizeof(*m->board));
	tls_server_free(&m->tls);
	ratelimit_free(&m->rl);
	master_free_auth(m);
	free(overrides);
	buf_free(&err);
	return 0;
}
