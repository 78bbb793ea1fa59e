/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * buzond, the mail store daemon: LMTP delivery in, POP3 and IMAP out.
 *
 * The master is the only process that may run as root. It reads the
 * configuration, loads the TLS keys, creates store_root and binds every
 * listener (the LMTP unix socket and the TCP ports); then it only accepts
 * connections and forks one child per connection. The child closes the
 * listeners, drops to run_user (setgroups, setresgid, setresuid: no way
 * back) and only then reads from the network and opens the users database
 * and the store. The master never parses network input.
 *
 * Limits: max_sessions children at once, max_sessions_per_ip per client
 * address (TCP only); over a limit the client gets a one-line refusal in
 * its protocol and the connection is closed. SIGTERM/SIGINT: stop
 * listening, pass SIGTERM to the sessions, wait for them (a delivery in
 * progress either completed, durable, or was never acknowledged), SIGKILL
 * what is left after SHUTDOWN_MS. SIGHUP: reread the configuration and the
 * certificates for new sessions (listeners stay as they are).
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "lib/buf.h"
#include "lib/conn.h"
#include "lib/log.h"
#include "lib/ratelimit.h"
#include "lib/runuser.h"
#include "lib/netaddr.h"
#include "lib/pidfile.h"
#include "lib/selfpipe.h"
#include "lib/tls.h"
#include "lib/users.h"
#include "lib/xalloc.h"
#include "store/buzond_cfg.h"
#include "store/imap.h"
#include "store/pop3.h"
#include "store/session.h"

#define MAX_LISTENERS	32
#define BUZOND_BACKLOG	512	/* listen(2) */
#define SHUTDOWN_MS	10000

enum kind {
	K_LMTP,
	K_POP3,
	K_POP3S,
	K_IMAP,
	K_IMAPS,
};

static const char *const kind_names[] = { "lmtp", "pop3", "pop3s", "imap",
	"imaps" };

struct listener {
	int		 fd;
	enum kind	 kind;
	int		 is_unix;
	char		*addr;
};

struct child {
	pid_t		 pid;
	int		 counted;	/* TCP: counts for the per-IP limit */
	char		 ip[64];
};

struct master {
	struct buzond_cfg	*cfg;
	const char		*cfg_path;
	char			**overrides;
	int			 foreground;
	int			 drop;
	uid_t			 uid;
	gid_t			 gid;
	struct listener		 ls[MAX_LISTENERS];
	size_t			 nls;
	struct tls_server	*tls;
	struct ratelimit	*rl;		/* failed logins per address */
	struct child		*ch;
	size_t			 nch;
};

static int sigpipe_fds[2] = { -1, -1 };

static void
on_signal(int sig)
{
	selfpipe_write(sigpipe_fds[1], sig);
}

static void
usage(void)
{
	fprintf(stderr, "usage: buzond [-fnt] [-c file] [-o key=value]...\n"
	    "  -c file  configuration (default " SYSCONFDIR
	    "/estafeta/buzond.conf)\n"
	    "  -f       stay in the foreground, log to stderr\n"
	    "  -n       print the effective configuration and exit\n"
	    "  -t       check the configuration and exit\n"
	    "  -o k=v   override a setting\n");
	exit(2);
}

/* ----------------------------------------------------------- listeners */

/* The LMTP socket: a stale one is replaced, anything else is refused. */
static int
bind_unix(struct master *m, const char *path, struct buf *err)
{
	struct sockaddr_un sun;
	struct stat sb;
	char *dir, *slash;
	int fd;

	dir = xstrdup(path);
	if ((slash = strrchr(dir, '/')) != NULL && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0755) == 0 && m->drop &&
		    lchown(dir, m->uid, m->gid) == -1)
			log_warn("master cannot chown %s: %s", dir,
			    strerror(errno));
	}
	free(dir);
	if (lstat(path, &sb) == 0) {
		if (!S_ISSOCK(sb.st_mode)) {
			(void)buf_appendf(err, "listen_lmtp %s exists and is "
			    "not a socket", path);
			return -1;
		}
		(void)unlink(path);	/* bind reports what matters */
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	(void)snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
	    fchmodat(AT_FDCWD, path, 0660, AT_SYMLINK_NOFOLLOW) == -1 ||
	    (m->drop && lchown(path, m->uid, m->gid) == -1) ||
	    listen(fd, 512) == -1) {
		(void)buf_appendf(err, "cannot listen on %s: %s", path,
		    strerror(errno));
		if (fd != -1)
			(void)close(fd);
		return -1;
	}
	return fd;
}

static int
add_listener(struct master *m, enum kind k, const char *addr, int is_unix,
    struct buf *err)
{
	struct listener *l;
	int fd;

	if (m->nls == MAX_LISTENERS) {
		(void)buf_appendf(err, "more than %d listeners", MAX_LISTENERS);
		return -1;
	}
	if ((fd = is_unix ? bind_unix(m, addr, err) :
	    netaddr_listen_tcp(addr, BUZOND_BACKLOG, err)) == -1)
		return -1;
	l = &m->ls[m->nls++];
	l->fd = fd;
	l->kind = k;
	l->is_unix = is_unix;
	l->addr = xstrdup(addr);
	return 0;
}

static int
listeners_open(struct master *m, struct buf *err)
{
	const struct { enum kind k; const struct cfg_list *l; } t[] = {
		{ K_LMTP, &m->cfg->listen_lmtp_tcp },
		{ K_POP3, &m->cfg->listen_pop3 },
		{ K_POP3S, &m->cfg->listen_pop3s },
		{ K_IMAP, &m->cfg->listen_imap },
		{ K_IMAPS, &m->cfg->listen_imaps },
	};
	size_t i, j;

	if (m->cfg->listen_lmtp[0] != '\0' &&
	    add_listener(m, K_LMTP, m->cfg->listen_lmtp, 1, err) == -1)
		return -1;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		for (j = 0; j < t[i].l->n; j++)
			if (add_listener(m, t[i].k, t[i].l->v[j], 0, err) == -1)
				return -1;
	return 0;
}

static void
listeners_close(struct master *m)
{
	size_t i;

	for (i = 0; i < m->nls; i++) {
		(void)close(m->ls[i].fd);	/* listening socket */
		if (m->ls[i].is_unix)
			(void)unlink(m->ls[i].addr);	/* may be gone */
		free(m->ls[i].addr);
	}
	m->nls = 0;
}

/* ----------------------------------------------------------- setup */

static int
load_tls(const struct buzond_cfg *cfg, struct tls_server **tls_r,
    struct buf *err)
{
	struct tls_server_cfg tc;
	struct buf msgs = BUF_INIT(0);

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
	if (msgs.len > 0)
		log_warn("master TLS %s", buf_cstr(&msgs));
	buf_free(&msgs);
	return 1;
}

static void
setup_store(struct master *m)
{
	const char *errstr = NULL;
	struct stat sb;

	if (mkdir(m->cfg->store_root, 0700) == -1 && errno != EEXIST)
		log_fatal("cannot create store_root %s: %s",
		    m->cfg->store_root, strerror(errno));
	if (m->drop && lchown(m->cfg->store_root, m->uid, m->gid) == -1)
		log_fatal("cannot chown %s: %s", m->cfg->store_root,
		    strerror(errno));
	/*
	 * Sessions open the users database read-only as run_user, which
	 * users_open wants to own it (mode 0600): like estafetad's master,
	 * hand it to run_user (the same user for both daemons). The
	 * directory may belong to run_user, who could plant a symlink or a
	 * hard link: users_chown changes only the file it checked.
	 */
	if (m->drop && users_chown(m->cfg->users_db, m->uid, m->gid,
	    &errstr) == -1)
		log_warn("master cannot give the users database to %s: %s",
		    m->cfg->run_user, errstr);
	if (stat(m->cfg->users_db, &sb) == -1)
		log_warn("master users_db %s: %s (no user can log in or "
		    "receive mail)", m->cfg->users_db, strerror(errno));
	else if (sb.st_uid != (m->drop ? m->uid : geteuid()))
		log_warn("master users_db %s is not owned by %s: sessions "
		    "cannot read it (run estafetad with the same run_user)",
		    m->cfg->users_db, m->drop ? m->cfg->run_user :
		    "this user");
}

static void
write_pid(struct master *m)
{
	if (m->cfg->pid_file[0] != '\0' &&
	    pidfile_write(m->cfg->pid_file) == -1)
		log_fatal("cannot write pid file %s: %s", m->cfg->pid_file,
		    strerror(errno));
}

static void
setup_signals(void)
{
	if (selfpipe_open(sigpipe_fds, on_signal) == -1)
		log_fatal("pipe: %s", strerror(errno));
}

/* ----------------------------------------------------------- sessions */

static void
child_drop(struct master *m)
{
	if (!m->drop)
		return;
	if (setgroups(0, NULL) == -1 || setresgid(m->gid, m->gid, m->gid) ==
	    -1 || setresuid(m->uid, m->uid, m->uid) == -1)
		log_fatal("cannot drop privileges: %s", strerror(errno));
	if (setuid(0) != -1)
		log_panic("privileges not dropped: setuid(0) succeeded");
}

static struct users *
child_users(const struct buzond_ctx *ctx)
{
	struct users *u = NULL;
	const char *errstr = NULL;

	if (users_open(ctx->users_db, 0, &u, &errstr) == -1) {
		log_error("%s users database %s: %s", ctx->session_id,
		    ctx->users_db, errstr);
		return NULL;
	}
	return u;
}

static void
child_session(struct master *m, const struct listener *l, int fd,
    const char *ip, const struct sockaddr *sa, const sigset_t *mask)
{
	struct buzond_cfg *cfg = m->cfg;
	struct buzond_ctx ctx;
	struct pop3_params pp;
	struct imap_env ie;
	struct users *u = NULL;
	struct conn c;
	char sid[20];
	uint32_t r = 0;
	size_t i;

	for (i = 0; i < m->nls; i++)
		(void)close(m->ls[i].fd);	/* the master's */
	(void)close(sigpipe_fds[0]);
	(void)close(sigpipe_fds[1]);
	(void)signal(SIGTERM, SIG_DFL);
	(void)signal(SIGINT, SIG_DFL);
	(void)signal(SIGHUP, SIG_DFL);
	(void)signal(SIGCHLD, SIG_DFL);
	selfpipe_restore(mask);
	child_drop(m);
	/*
	 * A fixed threshold (glibc raises it after each free otherwise):
	 * big temporary blocks, like a folder scan's, go back to the system
	 * when freed instead of staying in an idle session's heap.
	 */
	(void)mallopt(M_MMAP_THRESHOLD, 128 * 1024);
	if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1)
		r = (uint32_t)getpid();
	(void)snprintf(sid, sizeof(sid), "%08x", r);
	memset(&ctx, 0, sizeof(ctx));
	ctx.cfg = cfg;
	ctx.tls = m->tls;
	ctx.hostname = cfg->hostname;
	ctx.store_root = cfg->store_root;
	ctx.users_db = cfg->users_db;
	ctx.peer = ip;
	ctx.session_id = sid;
	ctx.tls_implicit = l->kind == K_POP3S || l->kind == K_IMAPS;
	ctx.max_message_size = (uint64_t)cfg->max_message_size;
	ctx.default_quota = (uint64_t)cfg->default_quota;
	conn_init(&c, fd);
	log_debug("%s %s connect from %s", sid, kind_names[l->kind], ip);
	switch (l->kind) {
	case K_LMTP:
		ctx.idle_timeout = (int)(cfg->lmtp_timeout / 1000);
		lmtp_serve(&c, &ctx);
		break;
	case K_POP3:
	case K_POP3S:
		memset(&pp, 0, sizeof(pp));
		pp.hostname = cfg->hostname;
		pp.store_root = cfg->store_root;
		pp.users = u = child_users(&ctx);
		pp.tls = m->tls;
		pp.cleartext_networks = &cfg->auth_cleartext_networks;
		pp.idle_timeout_ms = cfg->pop3_idle_timeout;
		pp.error_limit = (unsigned)cfg->pop3_error_limit;
		pp.auth_fail_limit = (unsigned)cfg->pop3_auth_fail_limit;
		pp.line_limit = (size_t)cfg->pop3_command_line_limit;
		pp.rl = m->rl;
		pp.fail_ip_limit = cfg->auth_fail_ip_limit;
		pp.fail_ip_window_ms = cfg->auth_fail_ip_window;
		pop3_session(&c, &pp, ctx.tls_implicit);
		break;
	case K_IMAP:
	case K_IMAPS:
		imap_env_default(&ie);
		ie.store_root = cfg->store_root;
		ie.users = u = child_users(&ctx);
		ie.users_release = &u;	/* closed after login */
		ie.tls = m->tls;
		ie.cleartext_auth = sa != NULL &&
		    netaddr_in_list(sa, &cfg->auth_cleartext_networks) == 1;
		ie.login_timeout_ms = cfg->imap_login_timeout;
		ie.idle_timeout_ms = cfg->imap_idle_timeout;
		ie.auth_fail_limit = (unsigned)cfg->imap_auth_fail_limit;
		ie.error_limit = (unsigned)cfg->imap_error_limit;
		ie.append_max = (size_t)cfg->max_message_size;
		ie.default_quota = (uint64_t)cfg->default_quota;
		ie.rl = m->rl;
		ie.fail_ip_limit = cfg->auth_fail_ip_limit;
		ie.fail_ip_window_ms = cfg->auth_fail_ip_window;
		imap_run(&c, &ie, ip, ctx.tls_implicit);
		break;
	}
	conn_close(&c);
	users_close(&u);
	_exit(0);
}

static void
refuse(int fd, enum kind k, const char *why)
{
	char line[160];
	int n;

	if (k == K_LMTP)
		n = snprintf(line, sizeof(line), "421 4.3.2 %s, try again "
		    "later\r\n", why);
	else if (k == K_POP3 || k == K_POP3S)
		n = snprintf(line, sizeof(line), "-ERR [SYS/TEMP] %s\r\n",
		    why);
	else
		n = snprintf(line, sizeof(line), "* BYE %s\r\n", why);
	/* Best effort on a fresh socket; TLS ports get a plain close. */
	if (k != K_POP3S && k != K_IMAPS && n > 0)
		(void)!write(fd, line, (size_t)n);
	(void)close(fd);
}

static size_t
count_ip(const struct master *m, const char *ip)
{
	size_t i, n = 0;

	for (i = 0; i < m->nch; i++)
		n += m->ch[i].counted && strcmp(m->ch[i].ip, ip) == 0;
	return n;
}

static void
accept_one(struct master *m, const struct listener *l)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	sigset_t mask;
	char ip[64];
	pid_t pid;
	int fd, port;

	if ((fd = accept4(l->fd, (struct sockaddr *)&ss, &len,
	    SOCK_CLOEXEC | SOCK_NONBLOCK)) == -1) {
		if (errno != EAGAIN && errno != EINTR &&
		    errno != ECONNABORTED)
			log_warn("master accept on %s: %s", l->addr,
			    strerror(errno));
		return;
	}
	if (l->is_unix)
		(void)snprintf(ip, sizeof(ip), "unix");
	else
		netaddr_ntop((struct sockaddr *)&ss, ip, sizeof(ip), &port);
	if (m->nch >= (size_t)m->cfg->max_sessions) {
		log_warn("master refused %s client=%s rule=max_sessions",
		    kind_names[l->kind], ip);
		refuse(fd, l->kind, "too many sessions");
		return;
	}
	if (!l->is_unix &&
	    count_ip(m, ip) >= (size_t)m->cfg->max_sessions_per_ip) {
		log_warn("master refused %s client=%s "
		    "rule=max_sessions_per_ip", kind_names[l->kind], ip);
		refuse(fd, l->kind, "too many sessions from your address");
		return;
	}
	/* Signals wait across fork() until the child has its own actions:
	 * a signal to the process group never runs the master's handler
	 * in the child (child_session restores the mask). */
	selfpipe_block(&mask);
	if ((pid = fork()) == -1) {
		selfpipe_restore(&mask);
		log_error("master fork: %s", strerror(errno));
		refuse(fd, l->kind, "temporary failure");
		return;
	}
	if (pid == 0)
		child_session(m, l, fd, ip, l->is_unix ? NULL :
		    (struct sockaddr *)&ss, &mask);
	selfpipe_restore(&mask);
	(void)close(fd);	/* the child's now */
	m->ch[m->nch].pid = pid;
	m->ch[m->nch].counted = !l->is_unix;
	(void)snprintf(m->ch[m->nch].ip, sizeof(m->ch[m->nch].ip), "%s", ip);
	m->nch++;
}

static void
reap(struct master *m)
{
	size_t i;
	pid_t pid;
	int status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (i = 0; i < m->nch; i++)
			if (m->ch[i].pid == pid)
				break;
		if (i == m->nch)
			continue;
		if (WIFSIGNALED(status) && WTERMSIG(status) != SIGTERM &&
		    WTERMSIG(status) != SIGINT)
			log_warn("master session pid=%ld client=%s killed by "
			    "signal %d", (long)pid, m->ch[i].ip,
			    WTERMSIG(status));
		else if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
			log_warn("master session pid=%ld client=%s exit %d",
			    (long)pid, m->ch[i].ip, WEXITSTATUS(status));
		m->ch[i] = m->ch[--m->nch];
	}
}

/* ----------------------------------------------------------- control */

static int
lists_equal(const struct cfg_list *a, const struct cfg_list *b)
{
	size_t i;

	if (a->n != b->n)
		return 0;
	for (i = 0; i < a->n; i++)
		if (strcmp(a->v[i], b->v[i]) != 0)
			return 0;
	return 1;
}

static void
reload(struct master *m)
{
	struct buzond_cfg *ncfg = xcalloc(1, sizeof(*ncfg));
	struct tls_server *ntls = NULL;
	struct buf err = BUF_INIT(0);

	if (buzond_cfg_load(ncfg, m->cfg_path, m->overrides, &err) == -1 ||
	    load_tls(ncfg, &ntls, &err) == -1) {
		log_error("master reload failed, keeping the running "
		    "configuration: %s", buf_cstr(&err));
		buzond_cfg_free(ncfg);
		free(ncfg);
		buf_free(&err);
		return;
	}
	if (strcmp(ncfg->listen_lmtp, m->cfg->listen_lmtp) != 0 ||
	    !lists_equal(&ncfg->listen_lmtp_tcp, &m->cfg->listen_lmtp_tcp) ||
	    !lists_equal(&ncfg->listen_pop3, &m->cfg->listen_pop3) ||
	    !lists_equal(&ncfg->listen_pop3s, &m->cfg->listen_pop3s) ||
	    !lists_equal(&ncfg->listen_imap, &m->cfg->listen_imap) ||
	    !lists_equal(&ncfg->listen_imaps, &m->cfg->listen_imaps) ||
	    strcmp(ncfg->run_user, m->cfg->run_user) != 0)
		log_warn("master reload: listen_* and run_user changes take "
		    "effect at the next restart");
	/* Children forked before keep their copy; new ones get this. */
	tls_server_free(&m->tls);
	m->tls = ntls;
	buzond_cfg_free(m->cfg);
	free(m->cfg);
	m->cfg = ncfg;
	log_set_level(m->cfg->log_level);
	log_info("master reloaded %s", m->cfg_path);
	buf_free(&err);
}

static void
shutdown_all(struct master *m)
{
	long long deadline = conn_now_ms() + SHUTDOWN_MS;
	size_t i;

	listeners_close(m);
	for (i = 0; i < m->nch; i++)
		(void)kill(m->ch[i].pid, SIGTERM);	/* may be gone */
	while (m->nch > 0 && conn_now_ms() < deadline) {
		struct pollfd pfd = { sigpipe_fds[0], POLLIN, 0 };

		(void)poll(&pfd, 1, 100);
		while (selfpipe_next(sigpipe_fds[0]) != 0)
			;
		reap(m);
	}
	for (i = 0; i < m->nch; i++)
		(void)kill(m->ch[i].pid, SIGKILL);	/* may be gone */
	if (m->cfg->pid_file[0] != '\0')
		(void)unlink(m->cfg->pid_file);	/* ours */
	log_info("master stopped");
}

/* 1 to go on, 0 when told to stop. */
static int
handle_signals(struct master *m)
{
	int go = 1, sig;

	while ((sig = selfpipe_next(sigpipe_fds[0])) != 0) {
		if (sig == SIGHUP)
			reload(m);
		else if (sig == SIGTERM || sig == SIGINT)
			go = 0;
	}
	reap(m);
	return go;
}

static void
serve(struct master *m)
{
	struct pollfd pfd[MAX_LISTENERS + 1];
	size_t i;

	for (;;) {
		pfd[0].fd = sigpipe_fds[0];
		pfd[0].events = POLLIN;
		for (i = 0; i < m->nls; i++) {
			pfd[i + 1].fd = m->ls[i].fd;
			pfd[i + 1].events = POLLIN;
		}
		if (poll(pfd, m->nls + 1, 1000) == -1 && errno != EINTR)
			log_fatal("poll: %s", strerror(errno));
		if (!handle_signals(m))
			return;
		for (i = 0; i < m->nls; i++)
			if (pfd[i + 1].revents & POLLIN)
				accept_one(m, &m->ls[i]);
	}
}

int
main(int argc, char *argv[])
{
	struct master mm, *m = &mm;
	struct buf err = BUF_INIT(0);
	int ch, print = 0, check = 0, no = 0, loaded;

	memset(m, 0, sizeof(*m));
	(void)umask(077);	/* mail, indexes, sockets: private by default */
	m->cfg_path = SYSCONFDIR "/estafeta/buzond.conf";
	m->overrides = xcalloc((size_t)argc + 1, sizeof(*m->overrides));
	log_init("buzond", LOG_TARGET_STDERR, LOG_LEVEL_INFO);
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
			m->overrides[no++] = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	m->cfg = xcalloc(1, sizeof(*m->cfg));
	loaded = buzond_cfg_load(m->cfg, m->cfg_path, m->overrides, &err);
	if (loaded == 1 && load_tls(m->cfg, &m->tls, &err) == -1) {
		buzond_cfg_free(m->cfg);	/* loaded, but not usable */
		loaded = -1;
	}
	if (loaded == -1 || print || check) {
		if (loaded == -1)
			fprintf(stderr, "buzond: configuration errors:\n%s",
			    buf_cstr(&err));
		else if (print)
			(void)cfg_print(buzond_cfg_defs, m->cfg, 0, stdout);
		else
			printf("buzond: %s: configuration OK\n", m->cfg_path);
		tls_server_free(&m->tls);
		buzond_cfg_free(m->cfg);
		free(m->cfg);
		free(m->overrides);
		buf_free(&err);
		return loaded == -1 ? 1 : 0;
	}
	log_init("buzond", m->foreground ? LOG_TARGET_STDERR :
	    m->cfg->log_target, m->cfg->log_level);
	m->drop = runuser_lookup(m->cfg->run_user, &m->uid, &m->gid);
	setup_store(m);
	/*
	 * OpenSSL builds its tables (providers, the random generator) on
	 * first use: do it here once, so that every session shares them
	 * instead of building its own (~250 KiB each); the generator
	 * reseeds itself in each child after fork.
	 */
	{
		unsigned char warm[16];

		if (RAND_bytes(warm, sizeof(warm)) != 1)
			log_fatal("the random generator does not work");
	}
	if (listeners_open(m, &err) == -1)
		log_fatal("%s", buf_cstr(&err));
	/* Shared with every session forked from now on; a failure only
	 * leaves the per-session limits. */
	if ((m->rl = ratelimit_new(65536, 0)) == NULL)
		log_warn("ratelimit: %s: failed logins are limited per "
		    "session only", strerror(errno));
	m->ch = xcalloc(100001, sizeof(*m->ch));
	if (!m->foreground && daemon(0, 0) == -1)
		log_fatal("daemon: %s", strerror(errno));
	write_pid(m);
	setup_signals();
	log_info("master started pid=%ld listeners=%zu user=%s store=%s",
	    (long)getpid(), m->nls, m->drop ? m->cfg->run_user :
	    "(unchanged)", m->cfg->store_root);
	serve(m);
	shutdown_all(m);
	ratelimit_free(&m->rl);
	tls_server_free(&m->tls);
	buzond_cfg_free(m->cfg);
	free(m->cfg);
	free(m->ch);
	free(m->overrides);
	buf_free(&err);
	return 0;
}
