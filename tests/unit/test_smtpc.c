/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * Unit tests for smtpc, the outbound SMTP/LMTP client, against real peers:
 *
 *   - the reply parser alone: multi-line replies, codes, enhanced status
 *     codes, the limits, fed whole and byte by byte;
 *   - a scripted fake server: a forked child that accepts on a loopback
 *     socket (IPv4, IPv6 or AF_UNIX) and plays a script: "> text" sends a
 *     reply ('\n' becomes CRLF), "= raw" sends bytes as they are, "< line"
 *     requires exactly that command, "<." records DATA content up to the
 *     final dot, "quiet" requires that nothing more arrives for a moment
 *     (no pipelining), "~ms" sleeps, "tls" runs conn_starttls_server
 *     ("tls?" may fail), "close", "accept" (the next connection), "eof"
 *     (the client must hang up). Any difference makes it exit non-zero
 *     with a transcript saying where; the content it received is compared
 *     byte for byte. It produces the edge cases: per-recipient 4xx/5xx
 *     mixes, 421, EHLO 502, no PIPELINING or DSN, SIZE, drops after the
 *     final dot, each deadline, the STARTTLS policies over a throw-away CA
 *     made here, AUTH PLAIN and LOGIN, LMTP;
 *   - Postfix's smtp-sink (skipped when not installed), a real server
 *     whose -d dumps show what arrived: extensions on and off, rejected
 *     commands, 421, a hang-up after the dot, a slow reply, LMTP, IPv6;
 *   - our own estafetad (skipped when not built): verified STARTTLS, AUTH
 *     against its users database, and the envelope and content it spooled,
 *     read back with spool_read(), equal to what was sent.
 */
#include "config.h"

#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <netinet/in.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "lib/buf.h"
#include "lib/cfg.h"
#include "lib/conn.h"
#include "lib/log.h"
#include "lib/tls.h"
#include "relay/smtpc.h"
#include "relay/spool.h"

#define DAY		(24L * 3600)
#define T_MS		5000	/* every deadline unless a test sets one */
#define SHORT_MS	200	/* the deadline a timeout test runs into */
#define FAKE_MS		10000	/* the fake server's own deadline per op */
#define SINK		"/usr/sbin/smtp-sink"

static char dir[64];		/* certificates */
static struct tls_server *srv;	/* mx.example.test and IP 127.0.0.1 */
static struct tls_client *cli;	/* trusts ca.pem */
static struct tls_client *cli_other;	/* trusts another CA */

static void	sink_kill(void);

/* ------------------------------------------------------------ fixtures */

static const char *
fpath(const char *name)
{
	static char bufs[8][160];
	static int next;
	char *p = bufs[next++ % 8];

	assert_true(snprintf(p, sizeof(bufs[0]), "%s/%s", dir, name) <
	    (int)sizeof(bufs[0]));
	return p;
}

static void
add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ex;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	ex = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	assert_non_null(ex);
	assert_int_equal(X509_add_ext(x, ex, -1), 1);
	X509_EXTENSION_free(ex);
}

/* ca NULL: a self-signed CA. */
static X509 *
mkcert(EVP_PKEY *key, const char *cn, const char *san, X509 *ca,
    EVP_PKEY *cakey)
{
	static long serial = 1;
	X509 *x = X509_new();
	X509_NAME *name;

	assert_non_null(x);
	assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x),
	    serial++), 1);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), -DAY));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 30 * DAY));
	assert_int_equal(X509_set_pubkey(x, key), 1);
	name = X509_get_subject_name(x);
	assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	    (const unsigned char *)cn, -1, -1, 0), 1);
	assert_int_equal(X509_set_issuer_name(x, ca != NULL ?
	    X509_get_subject_name(ca) : name), 1);
	if (ca == NULL) {
		add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE");
		add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign");
		add_ext(x, x, NID_subject_key_identifier, "hash");
	} else {
		add_ext(x, ca, NID_basic_constraints, "critical,CA:FALSE");
		add_ext(x, ca, NID_key_usage, "critical,digitalSignature");
		add_ext(x, ca, NID_ext_key_usage, "serverAuth");
		add_ext(x, ca, NID_subject_alt_name, san);
	}
	assert_true(X509_sign(x, ca != NULL ? cakey : key, EVP_sha256()) > 0);
	return x;
}

static void
write_pem(const char *name, X509 *x, EVP_PKEY *k)
{
	int fd = open(fpath(name), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600);
	FILE *f;

	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	if (x != NULL)
		assert_int_equal(PEM_write_X509(f, x), 1);
	else
		assert_int_equal(PEM_write_PrivateKey(f, k, NULL, NULL, 0,
		    NULL, NULL), 1);
	assert_int_equal(fclose(f), 0);
}

static int
group_setup(void **state)
{
	EVP_PKEY *cakey, *k, *ok;
	X509 *ca, *x, *oca;
	char *cv[1], *kv[1];
	struct cfg_list certs = { 1, cv }, keys = { 1, kv };
	struct tls_server_cfg cfg = { &certs, &keys, TLS_MIN_12, "", "", "" };
	struct buf err = BUF_INIT(0);

	(void)state;
	(void)signal(SIGPIPE, SIG_IGN);	/* as the daemons do */
	log_init("test_smtpc", LOG_TARGET_STDERR, LOG_LEVEL_ERROR);
	(void)snprintf(dir, sizeof(dir), "/tmp/test_smtpc.XXXXXX");
	assert_non_null(mkdtemp(dir));

	cakey = EVP_EC_gen("P-256");
	k = EVP_EC_gen("P-256");
	ok = EVP_EC_gen("P-256");
	assert_true(cakey != NULL && k != NULL && ok != NULL);
	ca = mkcert(cakey, "Estafeta smtpc test CA", NULL, NULL, NULL);
	x = mkcert(k, "mx.example.test", "DNS:mx.example.test,IP:127.0.0.1",
	    ca, cakey);
	oca = mkcert(ok, "Other CA", NULL, NULL, NULL);
	write_pem("ca.pem", ca, NULL);
	write_pem("other-ca.pem", oca, NULL);
	write_pem("mx.pem", x, NULL);
	write_pem("mx.key", NULL, k);
	X509_free(ca);
	X509_free(x);
	X509_free(oca);
	EVP_PKEY_free(cakey);
	EVP_PKEY_free(k);
	EVP_PKEY_free(ok);

	cv[0] = strdup(fpath("mx.pem"));
	kv[0] = strdup(fpath("mx.key"));
	if (tls_server_new(&cfg, &srv, &err) != 1)
		fail_msg("tls_server_new: %s", buf_cstr(&err));
	free(cv[0]);
	free(kv[0]);
	assert_int_equal(tls_client_new(fpath("ca.pem"), TLS_MIN_12, &cli,
	    &err), 1);
	assert_int_equal(tls_client_new(fpath("other-ca.pem"), TLS_MIN_12,
	    &cli_other, &err), 1);
	buf_free(&err);
	return 0;
}

/* Removes a directory tree of plain files (one level of subdirectories). */
static void
rmtree(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	char p[768];

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		(void)snprintf(p, sizeof(p), "%s/%s", path, de->d_name);
		if (de->d_type == DT_DIR)
			rmtree(p);
		else
			(void)unlink(p);	/* best effort */
	}
	(void)closedir(d);
	(void)rmdir(path);
}

static int
group_teardown(void **state)
{
	(void)state;
	sink_kill();
	tls_server_free(&srv);
	tls_client_free(&cli);
	tls_client_free(&cli_other);
	rmtree(dir);
	return 0;
}

/* ------------------------------------------------------------ helpers */

static struct smtpc_opts
opts(void)
{
	struct smtpc_opts o;

	memset(&o, 0, sizeof(o));
	o.helo = "client.test";
	o.to = (struct smtpc_timeouts){ T_MS, T_MS, T_MS, T_MS, T_MS, T_MS,
	    T_MS, T_MS, T_MS, T_MS };
	return o;
}

static struct spool_rcpt rcpts[] = {
	{ "a@example.test", NULL, 0 },
	{ "b@example.test", NULL, 0 },
	{ "c@example.test", NULL, 0 },
	{ "d@example.test", NULL, 0 },
};

static void
env_init(struct spool_env *e, size_t nrcpt, unsigned long long size)
{
	memset(e, 0, sizeof(*e));
	(void)snprintf(e->id, sizeof(e->id), "TESTQUEUEID000000001");
	e->sender = "s@example.test";
	e->rcpts = rcpts;
	e->nrcpt = nrcpt;
	e->size = size;
}

/* A server this test started (smtp-sink, estafetad) gets SIGTERM when the
 * test process ends, also when a failed assertion skips its teardown. */
static void
die_with_parent(void)
{
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) == -1)
		_exit(126);
}

/* Content from memory in chunks of at most chunk bytes; fails (-1) once
 * fail_at bytes were handed out, if set. */
struct src {
	const char	*p;
	size_t		 len, off, chunk, fail_at;
};

static int
src_read(void *arg, const char **p_r, size_t *n_r)
{
	struct src *s = arg;
	size_t n;

	if (s->fail_at > 0 && s->off >= s->fail_at)
		return -1;
	if (s->off == s->len)
		return 0;
	n = s->len - s->off;
	if (s->chunk > 0 && n > s->chunk)
		n = s->chunk;
	*p_r = s->p + s->off;
	*n_r = n;
	s->off += n;
	return 1;
}

/* A large message made of the same 64 KiB block. */
struct gen {
	size_t	 left;
};

static char genblock[65536];

static int
gen_read(void *arg, const char **p_r, size_t *n_r)
{
	struct gen *g = arg;
	size_t i;

	if (genblock[0] == '\0') {
		for (i = 0; i < sizeof(genblock); i += 64) {
			memset(genblock + i, 'x', 62);
			memcpy(genblock + i + 62, "\r\n", 2);
		}
	}
	if (g->left == 0)
		return 0;
	*p_r = genblock;
	*n_r = g->left < sizeof(genblock) ? g->left : sizeof(genblock);
	g->left -= *n_r;
	return 1;
}

static void
results_free(struct smtpc_result *r, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		smtpc_result_free(&r[i]);
		assert_null(r[i].text);
	}
}

/* code, enhanced, temporary/permanent and a piece of the text. */
static void
expect_res(const struct smtpc_result *r, int code, const char *enh,
    int temp, int perm, const char *text)
{
	if (r->code != code || strcmp(r->enhanced, enh) != 0 ||
	    r->temporary != temp || r->permanent != perm || r->text == NULL ||
	    strstr(r->text, text) == NULL)
		fail_msg("got %d \"%s\" temp=%d perm=%d \"%s\"; wanted %d "
		    "\"%s\" temp=%d perm=%d \"%s\"", r->code, r->enhanced,
		    r->temporary, r->permanent, r->text ? r->text : "(null)",
		    code, enh, temp, perm, text);
}

static long long
now_ms(void)
{
	return conn_now_ms();
}

static void
expect_elapsed(long long t0, long long want)
{
	long long dt = now_ms() - t0;

	if (dt < want - 10 || dt > want + 1500)
		fail_msg("took %lld ms, wanted about %lld", dt, want);
}

/* ------------------------------------------------------------ script */

struct sc {
	char	*op[160];
	size_t	 n;
};

static void
sc(struct sc *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
sc(struct sc *s, const char *fmt, ...)
{
	va_list ap;
	char *p;

	assert_true(s->n + 1 < sizeof(s->op) / sizeof(s->op[0]));
	va_start(ap, fmt);
	assert_true(vasprintf(&p, fmt, ap) >= 0);
	va_end(ap);
	s->op[s->n++] = p;
	s->op[s->n] = NULL;
}

/* Adds literal ops up to NULL. */
static void
scl(struct sc *s, ...)
{
	va_list ap;
	const char *op;

	va_start(ap, s);
	while ((op = va_arg(ap, const char *)) != NULL)
		sc(s, "%s", op);
	va_end(ap);
}

static void
sc_free(struct sc *s)
{
	while (s->n > 0)
		free(s->op[--s->n]);
	s->op[0] = NULL;
}

/* The EHLO reply offering ext ("PIPELINING\nDSN", or "" for none). */
static void
sc_ehlo_reply(struct sc *s, const char *ext)
{
	struct buf b = BUF_INIT(0);
	const char *q = ext, *nl;
	size_t len;

	(void)buf_appends(&b, ext[0] ? "> 250-fake.test" : "> 250 fake.test");
	while (*q != '\0') {
		nl = strchr(q, '\n');
		len = nl != NULL ? (size_t)(nl - q) : strlen(q);
		(void)buf_appendf(&b, "\n250%c%.*s", nl != NULL ? '-' : ' ',
		    (int)len, q);
		q += len + (nl != NULL);
	}
	sc(s, "%s", buf_cstr(&b));
	buf_free(&b);
}

/* Greeting, EHLO and its reply. */
static void
sc_hello(struct sc *s, const char *ext)
{
	sc(s, "> 220 fake.test ESMTP");
	sc(s, "< EHLO client.test");
	sc_ehlo_reply(s, ext);
}

static void
sc_quit(struct sc *s)
{
	scl(s, "< QUIT", "> 221 2.0.0 bye", NULL);
}

/* ------------------------------------------------------------ fake server */

struct fake {
	pid_t			 pid;
	struct sockaddr_storage	 ss;
	socklen_t		 len;
	char			 dir[64];
	int			 status;
	char			*transcript;
	struct buf		 data[5];	/* what "<." recorded */
};

static FILE *fake_t;

static void
tlog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
tlog(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)vfprintf(fake_t, fmt, ap);
	va_end(ap);
	(void)fputc('\n', fake_t);
	(void)fflush(fake_t);
}

static void __attribute__((noreturn))
fake_exit(int code)
{
	(void)fflush(fake_t);
	_exit(code);
}

/* Sends text, '\n' as CRLF, and a final CRLF; raw: as is. */
static void
fake_send(struct conn *c, const char *text, int raw)
{
	const char *nl;

	if (raw)
		(void)conn_write(c, text, strlen(text));
	else {
		while ((nl = strchr(text, '\n')) != NULL) {
			(void)conn_write(c, text, (size_t)(nl - text));
			(void)conn_write(c, "\r\n", 2);
			text = nl + 1;
		}
		(void)conn_write(c, text, strlen(text));
		(void)conn_write(c, "\r\n", 2);
	}
	if (conn_flush(c) == -1) {
		tlog("ERR: cannot send \"%s\": %s", text, conn_strerror(c));
		fake_exit(1);
	}
}

static void
fake_expect(struct conn *c, const char *want)
{
	const char *l;
	size_t len;

	if (conn_getline(c, 100000, &l, &len) != 1) {
		tlog("ERR: wanted \"%s\", got %s", want, conn_strerror(c));
		fake_exit(1);
	}
	tlog("C: %.*s", (int)len, l);
	if (len < 2 || l[len - 2] != '\r' || strlen(want) != len - 2 ||
	    memcmp(l, want, len - 2) != 0) {
		tlog("ERR: wanted \"%s\\r\\n\"", want);
		fake_exit(1);
	}
}

/* DATA content up to the final dot (excluded) into dir/data.N. */
static void
fake_data(struct conn *c, const char *fdir, int n)
{
	struct buf b = BUF_INIT(0);
	const char *l;
	size_t len;
	char path[128];
	int fd, eof = 0;

	for (;;) {
		if (conn_getline(c, 1 << 20, &l, &len) != 1) {
			eof = 1;
			break;
		}
		if (len == 3 && memcmp(l, ".\r\n", 3) == 0)
			break;
		(void)buf_append(&b, l, len);
	}
	(void)snprintf(path, sizeof(path), "%s/data.%d", fdir, n);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd == -1 || write(fd, b.data ? b.data : "", b.len) !=
	    (ssize_t)b.len || close(fd) == -1) {
		tlog("ERR: cannot write %s", path);
		fake_exit(1);
	}
	tlog("D%s: %zu bytes", eof ? "-EOF" : "", b.len);
	buf_free(&b);
	if (eof)
		fake_exit(0);	/* the client gave up: nothing else to do */
}

/*
 * BDAT (RFC 3030): one chunk, "BDAT n[ LAST]" and its n octets, appended
 * to b. 1 when it was LAST, 0 when not, -1 at EOF (logged).
 */
static int
fake_bdat_chunk(struct conn *c, struct buf *b)
{
	const char *l, *p;
	size_t len, n = 0, i, avail, take;
	int last;

	if (conn_getline(c, 1000, &l, &len) != 1)
		return -1;
	tlog("C: %.*s", (int)len, l);
	if (len < 8 || memcmp(l, "BDAT ", 5) != 0) {
		tlog("ERR: wanted BDAT");
		fake_exit(1);
	}
	for (i = 5; i < len && l[i] >= '0' && l[i] <= '9'; i++)
		n = n * 10 + (size_t)(l[i] - '0');
	last = len - i == 7 && memcmp(l + i, " LAST\r\n", 7) == 0;
	if (!last && (len - i != 2 || memcmp(l + i, "\r\n", 2) != 0)) {
		tlog("ERR: bad BDAT line");
		fake_exit(1);
	}
	while (n > 0) {
		p = conn_peek(c, &avail);
		if (avail == 0) {
			if (conn_fill(c) == -1)
				return -1;
			continue;
		}
		take = avail < n ? avail : n;
		(void)buf_append(b, p, take);
		conn_consume(c, take);
		n -= take;
	}
	return last;
}

static void
fake_save(struct buf *b, const char *fdir, int n)
{
	char path[128];
	int fd;

	(void)snprintf(path, sizeof(path), "%s/data.%d", fdir, n);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd == -1 || write(fd, b->data ? b->data : "", b->len) !=
	    (ssize_t)b->len || close(fd) == -1) {
		tlog("ERR: cannot write %s", path);
		fake_exit(1);
	}
}

/*
 * "<B": BDAT chunks up to LAST, each but LAST answered "250 2.0.0 ok",
 * their octets into dir/data.N. "<b": one chunk, unanswered, its octets
 * into dir/data.N.
 */
static void
fake_bdat(struct conn *c, const char *fdir, int n, int all)
{
	struct buf b = BUF_INIT(0);
	int r, chunks = 0;

	while ((r = fake_bdat_chunk(c, &b)) == 0) {
		chunks++;
		if (!all)
			break;
		fake_send(c, "250 2.0.0 ok", 0);
	}
	fake_save(&b, fdir, n);
	tlog("B%s: %d chunks, %zu bytes", r == -1 ? "-EOF" : "",
	    chunks + (r == 1), b.len);
	buf_free(&b);
	if (r == -1)
		fake_exit(0);
}

/* Nothing more may arrive for 150 ms (the client waits for a reply). */
static void
fake_quiet(struct conn *c)
{
	struct pollfd pfd = { c->fd, POLLIN, 0 };

	if (conn_pending(c) || poll(&pfd, 1, 150) != 0) {
		tlog("ERR: input before the reply (pipelined?)");
		fake_exit(1);
	}
}

static int
fake_accept(int lfd, struct conn *c)
{
	int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd == -1) {
		tlog("ERR: accept: %s", strerror(errno));
		fake_exit(1);
	}
	conn_init(c, fd);
	return fd;
}

static void __attribute__((noreturn))
fake_child(int lfd, char *const *op, const char *fdir)
{
	struct conn c;
	const char *errstr = NULL, *l;
	char path[128];
	size_t len;
	int ndata = 0, open_ = 1;

	(void)snprintf(path, sizeof(path), "%s/transcript", fdir);
	if ((fake_t = fopen(path, "w")) == NULL)
		_exit(3);
	(void)fake_accept(lfd, &c);
	for (; *op != NULL; op++) {
		conn_set_deadline(&c, FAKE_MS);
		if (strncmp(*op, "> ", 2) == 0 || strncmp(*op, "= ", 2) == 0)
			fake_send(&c, *op + 2, **op == '=');
		else if (strcmp(*op, "<.") == 0)
			fake_data(&c, fdir, ndata++);
		else if (strcmp(*op, "<B") == 0 || strcmp(*op, "<b") == 0)
			fake_bdat(&c, fdir, ndata++, (*op)[1] == 'B');
		else if (strncmp(*op, "< ", 2) == 0)
			fake_expect(&c, *op + 2);
		else if (strcmp(*op, "quiet") == 0)
			fake_quiet(&c);
		else if ((*op)[0] == '~')
			(void)usleep((useconds_t)strtol(*op + 1, NULL, 10) *
			    1000);
		else if (strncmp(*op, "tls", 3) == 0) {
			if (conn_starttls_server(&c, srv, &errstr) == 1)
				tlog("TLS: %s", conn_tls_version(&c));
			else {
				tlog("TLS failed: %s", errstr);
				fake_exit((*op)[3] == '?' ? 0 : 1);
			}
		} else if (strcmp(*op, "close") == 0) {
			conn_close(&c);
			open_ = 0;
		} else if (strcmp(*op, "accept") == 0) {
			if (open_)
				conn_close(&c);
			(void)fake_accept(lfd, &c);
			open_ = 1;
			tlog("accepted");
		} else if (strcmp(*op, "eof") == 0) {
			if (conn_getline(&c, 100000, &l, &len) == 1) {
				tlog("ERR: wanted EOF, got \"%.*s\"", (int)len,
				    l);
				fake_exit(1);
			}
			/* A reset counts: the client closed with input
			 * unread. */
			if (c.err != CONN_EOF && c.err != CONN_EIO) {
				tlog("ERR: wanted EOF, got %s",
				    conn_strerror(&c));
				fake_exit(1);
			}
			tlog("EOF");
		} else {
			tlog("ERR: bad op \"%s\"", *op);
			fake_exit(2);
		}
	}
	if (open_)
		conn_close(&c);
	fake_exit(0);
}

/* Starts the server; rcvbuf > 0 shrinks its receive buffer. */
static void
fake_start_opts(struct fake *f, int family, int rcvbuf, struct sc *s)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&f->ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&f->ss;
	struct sockaddr_un *sun = (struct sockaddr_un *)&f->ss;
	int lfd;

	memset(f, 0, sizeof(*f));
	(void)snprintf(f->dir, sizeof(f->dir), "/tmp/test_smtpc.f.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	f->ss.ss_family = (sa_family_t)family;
	if (family == AF_INET) {
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		f->len = sizeof(*sin);
	} else if (family == AF_INET6) {
		sin6->sin6_addr = in6addr_loopback;
		f->len = sizeof(*sin6);
	} else {
		(void)snprintf(sun->sun_path, sizeof(sun->sun_path),
		    "%s/lmtp.sock", f->dir);
		f->len = sizeof(*sun);
	}
	lfd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(lfd >= 0);
	if (rcvbuf > 0)
		assert_int_equal(setsockopt(lfd, SOL_SOCKET, SO_RCVBUF,
		    &rcvbuf, sizeof(rcvbuf)), 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&f->ss, f->len), 0);
	assert_int_equal(listen(lfd, 8), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&f->ss,
	    &f->len), 0);
	f->pid = fork();
	assert_true(f->pid >= 0);
	if (f->pid == 0)
		fake_child(lfd, s->op, f->dir);
	assert_int_equal(close(lfd), 0);
}

static void
fake_start(struct fake *f, struct sc *s)
{
	fake_start_opts(f, AF_INET, 0, s);
}

static char *
slurp(const char *path, size_t *len_r)
{
	struct buf b = BUF_INIT(0);
	char chunk[4096];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd == -1)
		return NULL;
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		(void)buf_append(&b, chunk, (size_t)n);
	(void)close(fd);
	*len_r = b.len;
	if (b.data == NULL)
		return strdup("");
	return buf_steal(&b);
}

/* Waits for the server and collects its transcript and data. */
static void
fake_wait(struct fake *f)
{
	char path[128];
	size_t len;
	int i;

	assert_int_equal(waitpid(f->pid, &f->status, 0), f->pid);
	(void)snprintf(path, sizeof(path), "%s/transcript", f->dir);
	f->transcript = slurp(path, &len);
	for (i = 0; i < 5; i++) {
		char *d;

		buf_init(&f->data[i], 0);
		(void)snprintf(path, sizeof(path), "%s/data.%d", f->dir, i);
		if ((d = slurp(path, &len)) != NULL) {
			(void)buf_append(&f->data[i], d, len);
			free(d);
		}
	}
	rmtree(f->dir);
}

/* The server must have played its whole script. */
static void
fake_ok(struct fake *f)
{
	fake_wait(f);
	if (!WIFEXITED(f->status) || WEXITSTATUS(f->status) != 0)
		fail_msg("fake server failed (status %d):\n%s", f->status,
		    f->transcript ? f->transcript : "(no transcript)");
}

static void
fake_free(struct fake *f)
{
	int i;

	free(f->transcript);
	for (i = 0; i < 5; i++)
		buf_free(&f->data[i]);
}

static void
expect_data(struct fake *f, int n, const char *want)
{
	if (f->data[n].len != strlen(want) ||
	    memcmp(f->data[n].data, want, f->data[n].len) != 0)
		fail_msg("data.%d is \"%s\", wanted \"%s\"", n,
		    buf_cstr(&f->data[n]), want);
}

static struct smtpc *
open_ok(struct fake *f, const struct smtpc_opts *o)
{
	struct smtpc_result err;
	struct smtpc *s;

	s = smtpc_open((struct sockaddr *)&f->ss, f->len, o, &err);
	if (s == NULL) {
		fake_wait(f);
		fail_msg("smtpc_open: %d \"%s\" \"%s\"; server:\n%s", err.code,
		    err.enhanced, err.text, f->transcript);
	}
	assert_null(err.text);
	return s;
}

/* smtpc_open must fail like this. */
/* err.auth_failed of the last open_fail. */
static int last_auth_failed;

static void
open_fail(struct fake *f, const struct smtpc_opts *o, int code,
    const char *enh, int temp, const char *text)
{
	struct smtpc_result err;
	struct smtpc *s;

	s = smtpc_open((struct sockaddr *)&f->ss, f->len, o, &err);
	assert_null(s);
	expect_res(&err, code, enh, temp, !temp, text);
	assert_int_equal(err.possibly_delivered, 0);
	last_auth_failed = err.auth_failed;
	smtpc_result_free(&err);
}

static int
send_mem(struct smtpc *s, struct spool_env *env, const char *content,
    size_t chunk, struct smtpc_result *res)
{
	struct src src = { content, strlen(content), 0, chunk, 0 };

	if (env->size == 0)
		env->size = strlen(content);
	return smtpc_send(s, env, src_read, &src, res);
}

static const char msg1[] = "Subject: test\r\n\r\nHello.\r\n";

/* ------------------------------------------------------------ parser */

/* Parses in whole, then every prefix (byte by byte): a prefix is never an
 * error and never complete before the reply ends. */
static void
parse_ok(const char *in, int enhanced, int code, const char *enh,
    const char *text, size_t want_used)
{
	struct smtpc_reply r;
	const char *errstr = NULL;
	size_t used = 0, len = strlen(in), i;
	int rc;

	smtpc_reply_init(&r);
	rc = smtpc_parse_reply(in, len, enhanced, &r, &used, &errstr);
	if (rc != 1)
		fail_msg("\"%s\": %d %s", in, rc, errstr ? errstr : "");
	assert_int_equal(r.code, code);
	assert_string_equal(r.enhanced, enh);
	assert_string_equal(buf_cstr(&r.text), text);
	assert_int_equal(used, want_used);
	assert_true(r.done);
	for (i = 0; i < want_used; i++) {
		rc = smtpc_parse_reply(in, i, enhanced, &r, &used, &errstr);
		if (rc != 0)
			fail_msg("\"%s\" cut at %zu: %d", in, i, rc);
		assert_int_equal(used, 0);
	}
	smtpc_reply_free(&r);
}

static void
parse_bad(const char *in, size_t len, int enhanced, const char *why)
{
	struct smtpc_reply r;
	const char *errstr = NULL;
	size_t used = 0;

	smtpc_reply_init(&r);
	assert_int_equal(smtpc_parse_reply(in, len, enhanced, &r, &used,
	    &errstr), -1);
	assert_non_null(errstr);
	assert_string_equal(errstr, why);
	smtpc_reply_free(&r);
}

static void
test_parse(void **state)
{
	struct smtpc_reply r;
	const char *errstr;
	size_t used;

	(void)state;
	parse_ok("250 ok\r\n", 0, 250, "", "ok", 8);
	parse_ok("250 ok\n", 0, 250, "", "ok", 7);
	parse_ok("250\r\n", 0, 250, "", "", 5);
	parse_ok("220-mx.test ESMTP\r\n220-second\r\n220 third\r\n", 0, 220,
	    "", "mx.test ESMTP second third", 42);
	parse_ok("250-\r\n250 x\r\n", 0, 250, "", "x", 13);
	/* Only the first reply is taken. */
	parse_ok("250 a\r\n354 b\r\n", 0, 250, "", "a", 7);
	/* Control characters are shown, tabs become spaces. */
	parse_ok("250 a\tb\001c\177d\r\n", 0, 250, "", "a b?c?d", 13);
	parse_ok("554 x\r\n", 0, 554, "", "x", 7);

	/* The EHLO lines keep their order and text. */
	smtpc_reply_init(&r);
	assert_int_equal(smtpc_parse_reply("250-mx\r\n250-SIZE 10\r\n"
	    "250 DSN\r\n", 30, 0, &r, &used, &errstr), 1);
	assert_string_equal(buf_cstr(&r.lines), "mx\nSIZE 10\nDSN\n");
	assert_int_equal(r.nlines, 3);
	/* A complete reply takes no more lines. */
	assert_int_equal(smtpc_reply_line(&r, "250 x", 5, 0, &errstr), -1);
	assert_string_equal(errstr, "reply already complete");
	smtpc_reply_free(&r);

	parse_bad("hello\r\n", 7, 0, "malformed reply code");
	parse_bad("25\r\n", 4, 0, "malformed reply code");
	parse_bad("199 x\r\n", 7, 0, "malformed reply code");
	parse_bad("600 x\r\n", 7, 0, "malformed reply code");
	parse_bad("260 x\r\n", 7, 0, "malformed reply code");
	parse_bad("590 x\r\n", 7, 0, "malformed reply code");
	parse_bad("25x x\r\n", 7, 0, "malformed reply code");
	parse_bad("\r\n", 2, 0, "malformed reply code");
	parse_bad("250x\r\n", 6, 0, "malformed reply separator");
	parse_bad("250_ok\r\n", 8, 0, "malformed reply separator");
	parse_bad("250-a\r\n251 b\r\n", 14, 0, "inconsistent reply codes");
	parse_bad("250-a\r\n550 b\r\n", 14, 0, "inconsistent reply codes");
	parse_bad("250-a\r\nxyz\r\n", 12, 0, "malformed reply code");
}

static void
test_parse_enhanced(void **state)
{
	(void)state;
	parse_ok("550 5.1.1 no such user\r\n", 1, 550, "5.1.1",
	    "no such user", 24);
	/* Without ENHANCEDSTATUSCODES it is just text. */
	parse_ok("550 5.1.1 no such user\r\n", 0, 550, "", "5.1.1 no such "
	    "user", 24);
	parse_ok("550-5.1.1 first\r\n550 5.1.1 second\r\n", 1, 550, "5.1.1",
	    "first second", 35);
	/* A different code on a later line stays in the text. */
	parse_ok("550-5.1.1 a\r\n550 5.2.2 b\r\n", 1, 550, "5.1.1",
	    "a 5.2.2 b", 26);
	parse_ok("250 2.0.0\r\n", 1, 250, "2.0.0", "", 11);
	parse_ok("452 4.5.3 Too many recipients\r\n", 1, 452, "4.5.3",
	    "Too many recipients", 31);
	parse_ok("250 2.123.456 x\r\n", 1, 250, "2.123.456", "x", 17);
	/* Not a code: class mismatch, malformed, too many digits, 3xx. */
	parse_ok("550 4.1.1 x\r\n", 1, 550, "", "4.1.1 x", 13);
	parse_ok("550 5.1.1x\r\n", 1, 550, "", "5.1.1x", 12);
	parse_ok("550 5.1234.1 x\r\n", 1, 550, "", "5.1234.1 x", 16);
	parse_ok("550 5..1 x\r\n", 1, 550, "", "5..1 x", 12);
	parse_ok("550 3.1.1 x\r\n", 1, 550, "", "3.1.1 x", 13);
	parse_ok("550 5.1.\r\n", 1, 550, "", "5.1.", 10);
	parse_ok("354 3.0.0 go\r\n", 1, 354, "", "3.0.0 go", 14);
	parse_ok("550 5.1\r\n", 1, 550, "", "5.1", 9);
}

static void
test_parse_limits(void **state)
{
	struct smtpc_reply r;
	struct buf b = BUF_INIT(0);
	const char *errstr = NULL;
	size_t used, i;

	(void)state;
	smtpc_reply_init(&r);
	/* SMTPC_LINE_MAX octets with CRLF: whole; one more: cut, "...". */
	(void)buf_appends(&b, "250 ");
	for (i = 0; i < SMTPC_LINE_MAX - 6; i++)
		(void)buf_appendc(&b, 'x');
	(void)buf_appends(&b, "\r\n");
	assert_int_equal(b.len, SMTPC_LINE_MAX);
	assert_int_equal(smtpc_parse_reply(b.data, b.len, 0, &r, &used,
	    &errstr), 1);
	assert_int_equal(used, SMTPC_LINE_MAX);
	assert_int_equal(r.text.len, SMTPC_LINE_MAX - 6);
	assert_int_equal(r.truncated, 0);
	buf_reset(&b);
	(void)buf_appends(&b, "250 ");
	for (i = 0; i < SMTPC_LINE_MAX - 5; i++)
		(void)buf_appendc(&b, i == SMTPC_LINE_MAX - 6 ? 'y' : 'x');
	(void)buf_appends(&b, "\r\n");
	assert_int_equal(smtpc_parse_reply(b.data, b.len, 0, &r, &used,
	    &errstr), 1);
	assert_int_equal(used, b.len);
	assert_int_equal(r.truncated, 1);
	assert_int_equal(r.text.len, SMTPC_LINE_MAX - 6 + 3);
	assert_null(strchr(r.text.data, 'y'));
	assert_string_equal(r.text.data + r.text.len - 4, "x...");
	/* Unterminated, however long: more input needed, never an error. */
	assert_int_equal(smtpc_parse_reply(b.data, b.len - 2, 0, &r,
	    &used, &errstr), 0);
	/* A line of 100,000 octets (an enhanced code first): cut. */
	buf_reset(&b);
	(void)buf_appends(&b, "550-5.7.1 ");
	for (i = 0; i < 100000; i++)
		(void)buf_appendc(&b, 'a' + (char)(i % 26));
	(void)buf_appends(&b, "\r\n550 5.7.1 end\r\n");
	assert_int_equal(smtpc_parse_reply(b.data, b.len, 1, &r, &used,
	    &errstr), 1);
	assert_int_equal(used, b.len);
	assert_string_equal(r.enhanced, "5.7.1");
	assert_int_equal(r.nlines, 2);
	assert_int_equal(r.truncated, 1);
	assert_int_equal(r.text.len, SMTPC_LINE_MAX - 2 - 10 + 3 + 4);
	assert_string_equal(r.text.data + r.text.len - 7, "... end");
	/* The text stops at SMTPC_TEXT_MAX, the lines at SMTPC_LINES_KEPT. */
	buf_reset(&b);
	for (i = 0; i < SMTPC_LINES_MAX; i++) {
		size_t k;

		(void)buf_appends(&b, i + 1 < SMTPC_LINES_MAX ? "250-" :
		    "250 ");
		for (k = 0; k < 2000; k++)
			(void)buf_appendc(&b, 'z');
		(void)buf_appends(&b, "\r\n");
	}
	assert_int_equal(smtpc_parse_reply(b.data, b.len, 0, &r, &used,
	    &errstr), 1);
	assert_int_equal(used, b.len);
	assert_int_equal(r.nlines, SMTPC_LINES_MAX);
	assert_int_equal(r.truncated, 1);
	assert_int_equal(r.text.len, SMTPC_TEXT_MAX + 3);
	assert_string_equal(r.text.data + r.text.len - 4, "z...");
	assert_true(r.lines.len <= SMTPC_LINES_KEPT);
	assert_int_equal(r.lines.len, (SMTPC_LINES_KEPT / 2001) * 2001);

	/* 100 lines: fine; 101: too many. */
	buf_reset(&b);
	for (i = 0; i < SMTPC_LINES_MAX - 1; i++)
		(void)buf_appends(&b, "250-line\r\n");
	(void)buf_appends(&b, "250 last\r\n");
	assert_int_equal(smtpc_parse_reply(b.data, b.len, 0, &r, &used,
	    &errstr), 1);
	assert_int_equal(r.nlines, SMTPC_LINES_MAX);
	assert_int_equal(used, b.len);
	buf_reset(&b);
	for (i = 0; i < SMTPC_LINES_MAX; i++)
		(void)buf_appends(&b, "250-line\r\n");
	(void)buf_appends(&b, "250 last\r\n");
	parse_bad(b.data, b.len, 0, "too many reply lines");
	buf_free(&b);
	smtpc_reply_free(&r);
}

/* ------------------------------------------------------------ transactions */

/* Dot-stuffing, a bare LF, a lone dot line, no final CRLF. */
static const char dots[] = "Subject: dots\r\n\r\n.leading\r\n..two\r\n"
    "no dot\r\n.\r\nbare\nlf\r\n.\nend";
static const char dots_sent[] = "Subject: dots\r\n\r\n..leading\r\n"
    "...two\r\nno dot\r\n..\r\nbare\r\nlf\r\n..\r\nend\r\n";

/*
 * PIPELINING with every extension: one write for MAIL, the RCPTs and DATA
 * (the server reads them all before it answers), DSN parameters in xtext,
 * a 4xx and a multi-line 5xx recipient among accepted ones.
 */
static void
test_pipelined_mix(void **state)
{
	struct spool_rcpt rc[4] = {
		{ "a@example.test", "rfc822;a+x@example.test",
		  SPOOL_NOTIFY_SUCCESS | SPOOL_NOTIFY_FAILURE },
		{ "b@example.test", NULL, 0 },
		{ "c@example.test", "rfc822;c=\xc3\xa9@example.test",
		  SPOOL_NOTIFY_NEVER },
		{ "d@example.test", "x y;d@example.test", SPOOL_NOTIFY_DELAY },
	};
	struct smtpc_opts o = opts();
	struct smtpc_result res[4];
	const struct smtpc_caps *caps;
	struct spool_env env;
	struct smtpc *s;
	struct fake f;
	struct sc sc_ = { .n = 0 };

	(void)state;
	o.no_chunking = 1;	/* CHUNKING offered: DATA all the same */
	env_init(&env, 4, 0);
	env.rcpts = rc;
	env.ret = SPOOL_RET_HDRS;
	env.envid = "id+x=1 \x01";
	env.body = SPOOL_BODY_8BITMIME;
	sc_hello(&sc_, "PIPELINING\nSIZE 1000000\n8BITMIME\n"
	    "ENHANCEDSTATUSCODES\nSMTPUTF8\nCHUNKING\nDSN\nAUTH PLAIN");
	sc(&sc_, "< MAIL FROM:<s@example.test> SIZE=%zu BODY=8BITMIME "
	    "RET=HDRS ENVID=id+2Bx+3D1+20+01", strlen(dots));
	scl(&sc_, "< RCPT TO:<a@example.test> NOTIFY=SUCCESS,FAILURE "
	    "ORCPT=rfc822;a+2Bx@example.test",
	    "< RCPT TO:<b@example.test>",
	    "< RCPT TO:<c@example.test> NOTIFY=NEVER "
	    "ORCPT=utf-8;c\\x{3D}\\x{E9}@example.test",
	    "< RCPT TO:<d@example.test> NOTIFY=DELAY",
	    "< DATA",
	    "> 250 2.1.0 sender ok",
	    "> 250 2.1.5 ok",
	    "> 450 4.2.0 greylisted, try later",
	    "> 550-5.1.1 no such\n550 5.1.1 user here",
	    "> 250 2.1.5 ok",
	    "> 354 go ahead",
	    "<.",
	    "> 250 2.0.0 Ok: queued as 4711", NULL);
	sc_quit(&sc_);
	fake_start(&f, &sc_);
	s = open_ok(&f, &o);
	caps = smtpc_caps(s);
	assert_true(caps->esmtp && caps->pipelining && caps->eightbitmime &&
	    caps->smtputf8 && caps->dsn && caps->chunking && caps->size_ext &&
	    caps->enhancedstatuscodes && caps->auth && caps->auth_plain);
	assert_false(caps->auth_login || caps->starttls || caps->tls ||
	    caps->authenticated);
	assert_int_equal(caps->size, 1000000);
	assert_null(caps->tls_version);
	assert_int_equal(send_mem(s, &env, dots, 0, res), 1);
	expect_res(&res[0], 250, "2.0.0", 0, 0, "Ok: queued as 4711");
	expect_res(&res[1], 450, "4.2.0", 1, 0, "greylisted, try later");
	expect_res(&res[2], 550, "5.1.1", 0, 1, "no such user here");
	expect_res(&res[3], 250, "2.0.0", 0, 0, "queued as 4711");
	assert_string_equal(res[2].text, "no such user here");
	assert_int_equal(smtpc_bare_lf(s), 2);
	results_free(res, 4);
	assert_int_equal(smtpc_reusable(s), 1);	/* no RSET needed */
	smtpc_close(&s);
	assert_null(s);
	smtpc_close(&s);	/* NULL is fine */
	fake_ok(&f);
	expect_data(&f, 0, dots_sent);
	fake_free(&f);
	sc_free(&sc_);
}

/* ------------------------------------------------------------ BDAT */

/* The dots message as BDAT carries it: line ends fixed, no stuffing. */
static const char dots_bdat[] = "Subject: dots\r\n\r\n.leading\r\n"
    "..two\r\nno dot\r\n.\r\nbare\r\nlf\r\n.\r\nend\r\n";

/*
 * CHUNKING + PIPELINING: MAIL and RCPT in one write (no DATA), then a
 * small message as one "BDAT n LAST", not dot-stuffed, bare LFs made
 * CRLF, the final CRLF added; the connection is reused without RSET. A
 * 200,000-octet message in pieces of every size: chunks of at least 64
 * KiB then LAST, the octets as they were. An empty message: BDAT 0 LAST.
 */
static void
test_bdat(void **state)
{
	static const size_t pieces[] = { 0, 1000, 70000 };
	struct smtpc_opts o = opts();
	struct smtpc_result res[2];
	struct spool_env env;
	struct smtpc *s;
	struct fake f;
	struct sc sc_ = { .n = 0 };
	struct buf big = BUF_INIT(0);
	size_t i;

	(void)state;
	for (i = 0; big.len < 200000; i++)
		(void)buf_appendf(&big, ".line %zu of a long message\r\n", i);
	sc_hello(&sc_, "PIPELINING\nCHUNKING\nENHANCEDSTATUSCODES\n8BITMIME");
	scl(&sc_, "< MAIL FROM:<s@example.test>", "< RCPT TO:<a@example.test>",
	    "< RCPT TO:<b@example.test>", "> 250 2.1.0 ok",
	    "> 250 2.1.5 ok", "> 550 5.1.1 unknown", "<B",
	    "> 250 2.0.0 Ok: queued as 1", NULL);
	for (i = 0; i < 3; i++)
		scl(&sc_, "< MAIL FROM:<s@example.test>",
		    "< RCPT TO:<a@example.test>", "> 250 2.1.0 ok",
		    "> 250 2.1.5 ok", "<B", "> 250 2.0.0 big", NULL);
	scl(&sc_, "< MAIL FROM:<s@example.test>", "< RCPT TO:<a@example.test>",
	    "> 250 2.1.0 ok", "> 250 2.1.5 ok", "<B", "> 250 2.0.0 empty",
	    NULL);
	sc_quit(&sc_);
	fake_start(&f, &sc_);
	s = open_ok(&f, &o);
	env_init(&env, 2, 0);
	assert_int_equal(send_mem(s, &env, dots, 0, res), 1);
	expect_res(&res[0], 250, "2.0.0", 0, 0, "queued as 1");
	expect_res(&res[1], 550, "5.1.1", 0, 1, "unknown");
	assert_int_equal(smtpc_bare_lf(s), 2);
	results_free(res, 2);
	for (i = 0; i < 3; i++) {
		assert_int_equal(smtpc_reusable(s), 1);
		env_init(&env, 1, 0);
		assert_int_equal(send_mem(s, &env, big.data, pieces[i], res),
		    1);
		expect_res(&res[0], 250, "2.0.0", 0, 0, "big");
		results_free(res, 1);
	}
	assert_int_equal(smtpc_reusable(s), 1);
	env_init(&env, 1, 0);
	assert_int_equal(send_mem(s, &env, "", 0, res), 1);
	results_free(res, 1);
	smtpc_close(&s);
	fake_ok(&f);
	expect_data(&f, 0, dots_bdat);
	for (i = 1; i <= 3; i++)
		expect_data(&f, (int)i, big.data);
	expect_data(&f, 4, "");
	/* The big ones went in several chunks, the small one in one. */
	assert_non_null(strstr(f.transcript, "C: BDAT 63 LAST\r\n"));
	assert_non_null(strstr(f.transcript, "B: 1 chunks, 63 bytes"));
	assert_non_null(strstr(f.transcript, "C: BDAT 66000\r\n"));
	assert_non_null(strstr(f.transcript, "C: BDAT 70000\r\n"));
	assert_non_null(strstr(f.transcript, "C: BDAT 0 LAST"));
	fake_free(&f);
	sc_free(&sc_);
	buf_free(&big);
}

/*
 * A small message to a pipelining peer: MAIL, RCPT and BDAT LAST in one
 * write (the server reads them all before it answers). Every recipient
 * refused: the 503 to the chunk changes nothing, RSET before the next
 * transaction. The connection lost after that write, before the replies:
 * possibly delivered (the peer may have taken it all).
 */
static void
test_bdat_oneshot(void **state)
{
	struct smtpc_opts o = opts();
	struct smtpc_result res[1];
	struct spool_env env;
	struct smtpc *s;
	struct fake f;
	struct sc sc_ = { .n = 0 };

	(void)state;
	sc_hello(&sc_, "PIPELINING\nCHUNKING\n8BITMIME\nENHANCEDSTATUSCODES");
	scl(&sc_, "< MAIL FROM:<s@example.test>", "< RCPT TO:<a@example.test>",
	    "<B", "> 250 2.1.0 ok", "> 550 5.1.1 unknown",
	    "> 503 5.5.1 need RCPT", "< RSET", "> 250 2.0.0 ok",
	    "< MAIL FROM:<s@example.test>", "< RCPT TO:<a@example.test>",
	    "<B", "close", NULL);
	fake_start(&f, &sc_);
	s = open_ok(&f, &o);
	env_init(&env, 1, 0);
	assert_int_equal(send_mem(s, &env, msg1, 0, res), 1);
	expect_res(&res[0], 550, "5.1.1", 0, 1, "unknown");
	results_free(res, 1);
	assert_int_equal(smtpc_reusable(s), 1);
	env_init(&env, 1, 0);
	assert_int_equal(send_mem(s, &env, msg1, 3, res), -1);
	assert_int_equal(res[0].temporary, 1);
	assert_int_equal(res[0].possibly_delivered, 1);
	results_free(res, 1);
	smtpc_close(&s);
	fake_ok(&f);
	expect_data(&f, 0, msg1);
	expect_data(&f, 1, msg1);
	fake_free(&f);
	sc_free(&sc_);
}

/*
 * Without PIPELINING each chunk waits for its reply; a chunk refused
 * (552) ends the transaction: no more chunks, no LAST, the recipients get
 * that reply, RSET before the next one. The connection lost after LAST:
 * possibly delivered.
 */
static void
test_bdat_refused(void **state)
{
	struct smtpc_opts o = opts();
	struct smtpc_result res[1];
	struct spool_env env;
	struct smtpc *s;
	struct fake f;
	struct sc sc_ = { .n = 0 };
	struct buf big = BUF_INIT(0);

	(void)state;
	while (big.len < 100000)
		(void)buf_appends(&big, "0123456789abcdef0123456789\r\n");
	sc_hello(&sc_, "CHUNKING\nENHANCEDSTATUSCODES");
	scl(&sc_, "< MAIL FROM:<s@example.test>", "> 250 2.1.0 ok",
	    "< RCPT TO:<a@example.test>", "> 250 2.1.5 ok", "<b", "quiet",
	    "> 552 5.3.4 message too big for me",
	    "< RSET", "> 250 2.0.0 ok",
	    "< MAIL FROM:<s@example.test>", "> 250 2.1.0 ok",
	    "< RCPT TO:<a@example.test>", "> 250 2.1.5 ok", "<b", "quiet",
	    "> 250 2.0.0 more", "<b", "close", NULL);
	fake_start(&f, &sc_);
	s = open_ok(&f, &o);
	env_init(&env, 1, 0);
	assert_int_equal(send_mem(s, &env, big.data, 0, res), 0);
	expect_res(&res[0], 552, "5.3.4", 0, 1, "message too big for me");
	assert_int_equal(res[0].possibly_delivered, 0);
	results_free(res, 1);
	assert_int_equal(smtpc_reusable(s), 1);	/* RSET, no LAST */
	env_init(&env, 1, 0);
	assert_int_equal(send_mem(s, &env, big.data, 0, res), -1);
	assert_int_equal(res[0].temporary, 1);
	assert_int_equal(res[0].possibly_delivered, 1);
	results_free(res, 1);
	assert_int_equal(smtpc_reusable(s), 0);
	smtpc_close(&s);
	fake_ok(&f);
	expect_data(&f, 0, big.data);
	fake_free(&f);
	sc_free(&sc_);
	buf_free(&big);
}

/*
 * BODY=BINARYMIME: to a peer with CHUNKING and BINARYMIME, exactly as
 * stored (a bare LF, no final CRLF); to one without BINARYMIME, refused
 * here (5.6.1), nothing sent.
 */
static void
test_bdat_binarymime(void **state)
{
	static const char bin[] = "Subject: b\r\n\r\n\x01\x02\nbare\r\xff";
	struct smtpc_opts o = opts();
	struct smtpc_result res[1];
	struct spool_env env;
	struct smtpc *s;
	struct fake f;
	struct sc sc_ = { .n = 0 };
	int with;

	(void)state;
	for (with = 1; with >= 0; with--) {
		sc_hello(&sc_, with ? "CHUNKING\nBINARYMIME\n8BITMIME" :
		    "CHUNKING\n8BITMIME");
		if (with)
			scl(&sc_, "< MAIL FROM:<s@example.test> "
			    "BODY=BINARYMIME", "> 250 ok",
			    "< RCPT TO:<a@example.test>", "> 250 ok", "<B",
			    "> 250 2.0.0 binary ok", NULL);
		sc_quit(&sc_);
		fake_start(&f, &sc_);
		s = open_ok(&f, &o);
		env_init(&env, 1, 0);
		env.body = SPOOL_BODY_BINARYMIME;
		if (with) {
			assert_int_equal(send_mem(s, &env, bin, 0, res), 1);
			expect_res(&res[0], 250, "", 0, 0, "binary ok");
			assert_int_equal(smtpc_bare_lf(s), 0);
		} else {
			assert_int_equal(send_mem(s, &env, bin, 0, res), 0);
			expect_res(&res[0], 0, "5.6.1", 0, 1, "BINARYMIME");
		}
		results_free(res, 1);
		smtpc_close(&s);
		fake_ok(&f);
		if (with)
			expect_data(&f, 0, bin);
		fake_free(&f);
		sc_free(&sc_);
	}
}

/*
 * ORCPT of a non-ASCII address (RFC 6533 3): the utf-8 type, in
 * utf-8-addr-xtext, or utf-8-addr-unitext in an SMTPUTF8 transaction; an
 * ASCII utf-8 one stays utf-8; octets that are not UTF-8 stay xtext under
 * their type.
 */
static void
test_orcpt_utf8(void **state)
{
	struct spool_rcpt rc[] = {
		{ "a@example.test", "utf-8;j\xc3\xb6rg+x@b\xc3\xbcro.example",
		  0 },
		{ "b@example.test", "UTF-8;b@example.test", 0 },
		{ "c@example.test", "rfc822;\xe9t\xe9@example.test", 0 },
		{ "d@example.test", "rfc822;\xe4\xb8\xad@example.test", 0 },
	};
	struct smtpc_opts o = opts();
	struct smtpc_result res[4];
	struct spool_env env;
	struct smtpc *s;
	struct fake f;
	struct sc sc_ = { .n = 0 };
	int utf8;

	(void)state;
	sc_hello(&sc_, "SMTPUTF8\nDSN\n8BITMIME");
	for (utf8 = 0; utf8 < 2; utf8++) {
		sc(&sc_, "< MAIL FROM:<s@example.test>%s", utf8 ?
		    " SMTPUTF8" : "");
		sc(&sc_, "> 250 ok");
		sc(&sc_, "< RCPT TO:<a@example.test> ORCPT=utf-8;%s", utf8 ?
		    "j\xc3\xb6rg\\x{2B}x@b\xc3\xbcro.example" :
		    "j\\x{F6}rg\\x{2B}x@b\\x{FC}ro.example");
		scl(&sc_, "> 250 ok",
		    "< RCPT TO:<b@example.test> ORCPT=utf-8;b@example.test",
		    "> 250 ok",
		    "< RCPT TO:<c@example.test> ORCPT=rfc822;"
		    "+E9t+E9@example.test", "> 250 ok", NULL);
		sc(&sc_, "< RCPT TO:<d@example.test> ORCPT=utf-8;%s", utf8 ?
		    "\xe4\xb8\xad@example.test" :
		    "\\x{4E2D}@example.test");
		scl(&sc_, "> 250 ok", "< DATA", "> 354 go", "<.",
		    "> 250 queued", NULL);
	}
	sc_quit(&sc_);
	fake_start(&f, &sc_);
	s = open_ok(&f, &o);
	for (utf8 = 0; utf8 < 2; utf8++) {
		env_init(&env, 4, 0);
		env.rcpts = rc;
		env.smtputf8 = utf8;
		assert_int_equal(send_mem(s, &env, msg1, 0, res), 1);
		expect_res(&res[3], 250, "", 0, 0, "queued");
		results_free(res, 4);
	}
	smtpc_close(&s);
	fake_ok(&f);
	fake_free(&f);
	sc_free(&sc_);
}

/*
 * A stored ORCPT with no valid form goes without ORCPT (never "utf-8;"
 * with "+HH" or empty); the encoded utf-8 form older spool files hold is
 * sent encoded once, not twice.
 */
static void
test_orcpt_invalid(void **state)
{
	struct spool_rcpt rc[] = {
		{ "a@example.test", "utf-8;a\xff@example.test", 0 },
		{ "b@example.test", "utf-8;", 0 },
		{ "c@example.test", "utf-8;j\\x{F6}rg\\x{2B}x@example.test", 0 },
		{ "d@example.test", "rfc822;d+x=y z@example.test", 0 },
	};
	struct smtpc_opts o = opts();
	struct smtpc_result res[4];
	struct spool_env env;
	struct smtpc *s;
	struct fake f;
	struct sc sc_ = { .n = 0 };
	int utf8;

	(void)state;
	sc_hello(&sc_, "SMTPUTF8\nDSN\n8BITMIME");
	for (utf8 = 0; utf8 < 2; utf8++) {
		sc(&sc_, "< MAIL FROM:<s@example.test>%s", utf8 ?
		    " SMTPUTF8" : "");
		scl(&sc_, "> 250 ok",
		    "< RCPT TO:<a@example.test>", "> 250 ok",
		    "< RCPT TO:<b@example.test>", "> 250 ok", NULL);
		sc(&sc_, "< RCPT TO:<c@example.test> ORCPT=utf-8;%s", utf8 ?
		    "j\xc3\xb6rg\\x{2B}x@example.test" :
		    "j\\x{F6}rg\\x{2B}x@example.test");
		scl(&sc_, "> 250 ok",
		    "< RCPT TO:<d@example.test> ORCPT=rfc822;"
		    "d+2Bx+3Dy+20z@example.test", "> 250 ok",
		    "< DATA", "> 354 go", "<.", "> 250 queued", NULL);
	}
	sc_quit(&sc_);
	fake_start(&f, &sc_);
	s = open_ok(&f, &o);
	for (utf8 = 0; utf8 < 2; utf8++) {
		env_init(&env, 4, 0);
		env.rcpts = rc;
		env.smtputf8 = utf8;
		assert_int_equal(send_mem(s, &env, msg1, 0, res), 1);
		expect_res(&res[0], 250, "", 0, 0, "queued");
		results_free(res, 4);
	}
	smtpc_close(&s);
	fake_ok(&f);
	fake_free(&f);
	sc_free(&sc_);
}

/*
 * One connection, several transactions, the content cut into chunks of
 * every awkward size (CR and LF apart, a dot alone at a chunk start): the
 * bytes on the wire are the same each time.
 */
static void
test_chunks_and_reuse(void **state)
{
	static const size_t chunks[] = { 1, 2, 3, 7, 0 };
	struct smtpc_opts o = opts();
	struct smtpc_result res[1];
	struct spool_env env;
	struct smtpc *s;
	struct fake f;
	struct sc sc_ = { .n = 0 };
	size_t i;

	(void)state;
	sc_hello(&sc_, "PIPELINING\nENHANCEDSTATUSCODES");
	for (i = 0; i < 5; i++)
		scl(&sc_, "< MAIL FROM:<s@example.test>",
		    "< RCPT TO:<a@example.test>", "< DATA",
		    "> 250 2.1.0 ok\n250 2.1.5 ok\n354 go", "<.",
		    "> 250 2.0.0 ok", NULL);
	sc_quit(&sc_);
	fake_start(&f, &sc_);
	s = open_ok(&f, &o);
	for (i = 0; i < 5; i++) {
		env_init(&env, 1, 0);
		assert_int_equal(send_mem(s, &env, dots, chunks[i], res), 1);
		expect_res(&res[0], 250, "2.0.0", 0, 0, "ok");
		assert_int_equal(smtpc_bare_lf(s), 2);
		results_free(res, 1);
		assert_int_equal(smtpc_reusable(s), 1);
	}
	smtpc_close(&s);
	fake_ok(&f);
	for (i = 0; i < 5; i++)
		expect_data(&f, (int)i, dots_sent);
	fake_free(&f);
	sc_free(&sc_);
}

/* Without PIPELINING: one command, one reply; DSN and SIZE not offered:
 * no parameters; 8BITMIME offered: BODY passes. */
static void
test_lockstep_no_dsn(void **state)
{
	struct spool_rcpt rc[2] = {
		{ "a@example.test", "rfc822;a@example.test",
		  SPOOL_NOTIFY_FAILURE },
		{ "b@example.test", NULL, SPOOL_NOTIFY_NEVER },
	};
	struct smtpc_opts o = opts();
	struct smtpc_result res[2];
	struct spool_env env;
	struct smtpc *s;
	struct fake f;
	struct sc sc_ = { .n = 0 };

	(void)state;
	env_init(&env, 2, 0);
	env.rcpts = rc;
	env.ret = SPOOL_RET_FULL;
	env.envid = "envid";
	env.body = SPOOL_BODY_8BITMIME;
	sc_hello(&sc_, "8BITMIME");
	scl(&sc_, "< MAIL FROM:<s@example.test> BODY=8BITMIME", "quiet",
	    "> 250 ok", "< RCPT TO:<a@example.test>", "quiet", "> 250 ok",
	    "< RCPT TO:<b@example.test>", "quiet", "> 250 ok", "< DATA",
	    "quiet", "> 354 go", "<.", "> 250 ok", NULL);
	sc_quit(&sc_);
	fake_start(&f, &sc_);
	s = open_ok(&f, &o);
	assert_false(smtpc_caps(s)->pipelining || smtpc_caps(s)->dsn ||
	    smtpc_caps(s)->size_ext);
	assert_int_equal(send_mem(s, &env, msg1, 0, res), 1);
	expect_res(&res[0], 250, "", 0, 0, "ok");
	expect_res(&res[1], 250, "", 0, 0, "ok");
	results_free(res, 2);
	smtpc_close(&s);
	fake_ok(&f);
	expect_data(&f, 0, msg1);
	fake_free(&f);
	sc_free(&sc_);
}

/* EHLO refused with 502: HELO, and then no parameter at all. */
static void
test_helo_fallback(void **state)
{
	struct spool_rcpt rc[1] = {
		{ "a@example.test", "rfc822;a@example.test",
		  SPOOL_NOTIFY_FAILURE },
	};
	struct smtpc_opts o = opts();
	struct smtpc_result res[1];
	struct spool_env env;
	struct smtpc *s;
	struct fake f;
	struct sc sc_ = { .n = 0 };

	(void)state;
	env_init(&env, 1, 0);
	env.rcpts = rc;
	env.ret = SPOOL_RET_FULL;
	env.envid = "x";
	env.body = SPOOL_BODY_8BITMIME;
	scl(&sc_, "> 220 old.test", "< EHLO client.test",
	    "> 502 5.5.2 what?", "< HELO client.test", "> 250 old.test",
	    "< MAIL FROM:<s@example.test>", "> 250 ok",
	    "< RCPT TO:<a@example.test>", "> 250 ok", "< DATA",
	    "> 354 go", "<.", "> 250 ok", NULL);
	sc_quit(&sc_);
	fake_start(&f, &sc_);
	s = open_ok(&f, &o);
	assert_int_equal(smtpc_caps(s)->esmtp, 0);
	assert_int_equal(send_mem(s, &env, msg1, 0, res), 1);
	expect_res(&res[0], 250, "", 0, 0, "ok");
	results_free(res, 1);
	smtpc_close(&s);
	fake_ok(&f);
	fake_free(&f);
	sc_free(&sc_);
}

/* EHLO 4xx is no reason for HELO; HELO refused too; LHLO never falls
 * back. */
static void
test_hello_refused(void **state)
{
	struct smtpc_opts o = opts();
	struct fake f;
	struct sc sc_ = { .n = 0 };

	(void)state;
	scl(&sc_, "> 220 x", "< EHLO client.test", "> 450 4.3.2 later",
	    "< QUIT", "> 221 bye", NULL);
	fake_start(&f, &sc_);
	open_fail(&f, &o, 450, "", 1, "4.3.2 later");
	fake_ok(&f);
	fake_free(&f);
	sc_free(&sc_);

	scl(&sc_, "> 220 x", "< EHLO client.test", "> 500 no",
	    "< HELO client.test", "> 550 go away", "< QUIT", "> 221 bye",
	    NULL);
	fake_start(&f, &sc_);
	open_fail(&f, &o, 550, "", 0, "go away");
	fake_ok(&f);
	fake_free(&f);
	sc_free(&sc_);

	o.lmtp = 1;
	scl(&sc_, "> 220 x", "< LHLO client.test", "> 500 5.5.1 no",
	    "< QUIT", "> 221 bye", NULL);
	fake_start(&f, &sc_);
	open_fail(&f, &o, 500, "", 0, "5.5.1 no");
	fake_ok(&f);
	fake_free(&f);
	sc_free(&sc_);

	/* 421 to EHLO: no HELO, no QUIT. */
	o.lmtp = 0;
	scl(&sc_, "> 220 x", "< EHLO client.test", "> 421 4.3.2 bye",
	    "eof", NULL);
	fake_start(&f, &sc_);
	open_fail(&f, &o, 421, "", 1, "4.3.2 bye");
	fake_ok(&f);
	fake_free(&f);
	sc_free(&sc_);
}

/* A 4xx or 5xx greeting is reported as given; QUIT after 554, not 421. */
static void
test_greeting_refused(void **state)
{
	struct smtpc_opts o = opts();
	struct fake f;
	struct sc sc_ = { .n = 0 };

	(void)state;
	scl(&sc_, "> 421-mx.test busy\n421 4.3.2 come back later", "eof",
	    NULL);
	fake_start(&f, &sc_);
	open_fail(&f, &o, 421, "", 1, "mx.test busy 4.3.2 come back later");
	fake_ok(&f);
	fake_free(&f);
	sc_free(&sc_);

	scl(&sc_, "> 554 5.7.1 no service for you", "< QUIT", "> 221 bye",
	    NULL);
	fake_start(&f, &sc_);
	open_fail(&f, &o, 554, "", 0, "no service for you");
	fake_ok(&f);
	fake_free(&f);
	sc_free(&sc_);

	/* A 2xx that is not 220 is no greeting. */
	scl(&sc_, "> 250 hello?", "< QUIT", "> 221 bye", NULL);
	fake_start(&f, &sc_);
	open_fail(&f, &o, 0, "4.5.0", 1, "unexpected reply: 250 hello?");
	fake_ok(&f);
	fake_free(&f);
	sc_free(&sc_);
}

/* Malformed replies end the session: nothing more is sent. */
static void
test_malformed(void **state)
{
	static const struct {
		const char	*reply, *why;
	} cases[] = {
		{ "= 250-fake\r\n251 ok\r\n", "inconsistent reply codes" },
		{ "= hello there\r\n", "malformed reply code" },
		{ "= 250ok\r\n", "malformed reply separator" },
		{ NULL, "too many reply lines" },
	};
	struct smtpc_opts o = opts();
	struct buf b = BUF_INIT(0);
	struct fake f;
	struct sc sc_ = { .n = 0 };
	char want[128];
	size_t i, j;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		buf_reset(&b);
		if (cases[i].reply != NULL)
			(void)buf_appends(&b, cases[i].reply);
		else {
			(void)buf_appends(&b, "= ");
			for (j = 0; j < 101; j++)
				(void)buf_appends(&b, "250-x\r\n");
			(void)buf_appends(&b, "250 x\r\n");
		}
		scl(&sc_, "> 220 x", "< EHLO client.test", buf_cstr(&b),
		    "eof", NULL);
		fake_start(&f, &sc_);
		(void)snprintf(want, sizeof(want), "protocol error waiting "
		    "for the reply to EHLO: %s", cases[i].why);
		open_fail(&f, &o, 0, "4.5.0", 1, want);
		fake_ok(&f);
		fake_free(&f);
		sc_free(&sc_);
	}
	buf_free(&b);
}

/*
 * Lines longer than SMTPC_LINE_MAX through the real reader: the rest of
 * each is read and dropped, the session stays in step (the EHLO keyword
 * after a 6,000-octet line is seen), the kept text ends in "...".
 */
static void
test_long_replies(void **state)
{
	struct smtpc_opts o = opts();
	struct smtpc_result res[1];
	struct spool_env env;
	struct smtpc *s;
	struct fake f;
	struct sc sc_ = { .n = 0 };
	struct buf b = BUF_INIT(0), want = BUF_INIT(0);
	size_t i;

	(void)state;
	(void)buf_appends(&b, "> 220 ");
	for (i = 0; i < 5000; i++)
		(void)buf_appendc(&b, 'g');
	sc(&sc_, "%s", b.data);
	sc(&sc_, "< EHLO client.test");
	buf_reset(&b);
	(void)buf_appends(&b, "> 250-fake.test\n250-X-LONG ");
	for (i = 0; i < 6000; i++)
		(void)buf_appendc(&b, 'e');
	(void)buf_appends(&b, "\n250-ENHANCEDSTATUSCODES\n250 SIZE 1000");
	sc(&sc_, "%s", b.data);
	sc(&sc_, "< MAIL FROM:<s@example.test> SIZE=25");
	buf_reset(&b);
	(void)buf_appends(&b, "> 550 5.7.1 ");
	for (i = 0; i < 9000; i++)
		(void)buf_appendc(&b, (char)('a' + i % 26));
	sc(&sc_, "%s", b.data);
	sc_quit(&sc_);
	fake_start(&f, &sc_);
	s = open_ok(&f, &o);
	assert_true(smtpc_caps(s)->enhancedstatuscodes);
	assert_int_equal(smtpc_caps(s)->size, 1000);
	env_init(&env, 1, 0);
	assert_int_equal(send_mem(s, &env, msg1, 0, res), 0);
	for (i = 0; i < SMTPC_LINE_MAX - 2 - 10; i++)
		(void)buf_appendc(&want, (char)('a' + i % 26));
	(void)buf_appends(&want, "...");
	expect_res(&res[0], 550, "5.7.1", 0, 1, want.data);
	assert_int_equal(strlen(res[0].text), want.len);
	results_free(res, 1);
	smtpc_close(&s);
	fake_ok(&f);
	fake_free(&f);
	sc_free(&sc_);
	buf_free(&b);
	buf_free(&want);
}

/* Per-recipient mixes without PIPELINING; all refused: no DATA, RSET on
 * reuse; DATA refused; the final dot refused. */
static void
test_refusals(void **state)
{
	struct smtpc_opts o = opts();
	struct smtpc_result res[3];
	struct spool_env env;
	struct smtpc *s;
	struct fake f;
	struct sc sc_ = { .n = 0 };

	(void)state;
	sc_hello(&sc_, "ENHANCEDSTATUSCODES");
	/* 1: every recipient refused. */
	scl(&sc_, "< MAIL FROM:<s@example.test>", "> 250 2.1.0 ok",
	    "< RCPT TO:<a@example.test>", "> 550 5.1.1 unknown",
	    "< RCPT TO:<b@example.test>", "> 452 4.2.2 mailbox full",
	    "< RSET", "> 250 2.0.0 ok", NULL);
	/* 2: MAIL refused. */
	scl(&sc_, "< MAIL FROM:<s@example.test>", "> 553 5.7.1 not you",
	    "< RSET", "> 250 2.0.0 ok", NULL);
	/* 3: DATA refused: the refused recipient keeps its reply. */
	scl(&sc_, "< MAIL FROM:<s@example.test>", "> 250 2.1.0 ok",
	    "< RCPT TO:<a@example.test>", "> 250 2.1.5 ok",
	    "< RCPT TO:<b@example.test>", "> 550 5.1.1 unknown",
	    "< DATA", "> 554 5.5.1 no valid recipients?",
	    "< RSET", "> 250 2.0.0 ok", NULL);
	/* 4: the final dot refused (temporary); no RSET after it. */
	scl(&sc_, "< MAIL FROM:<s@example.test>", "> 250 2.1.0 ok",
	    "< RCPT TO:<a@example.test>", "> 250 2.1.5 ok", "< DATA",
	    "> 354 go", "<.", "> 451 4.3.0 disk trouble", NULL);
	/* 5: DATA answered 250: a protocol failure, never a success. */
	scl(&sc_, "< MAIL FROM:<s@example.test>", "> 250 2.1.0 ok",
	    "< RCPT TO:<a@example.test>", "> 250 2.1.5 ok", "< DATA",
	    "> 250 2.0.0 what?", "< RSET", "> 250 2.0.0 ok", NULL);
	/* 6: RSET refused: not reusable, QUIT still polite. */
	scl(&sc_, "< MAIL FROM:<s@example.test>", "> 550 5.7.1 no",
	    "< RSET", "> 500 5.5.1 what RSET?", NULL);
	sc_quit(&sc_);
	fake_start(&f, &sc_);
	s = open_ok(&f, &o);

	env_init(&env, 2, 0);
	assert_int_equal(send_mem(s, &env, msg1, 0, res), 1);
	expect_res(&res[0], 550, "5.1.1", 0, 1, "unknown");
	expect_res(&res[1], 452, "4.2.2", 1, 0, "mailbox full");
	results_free(res, 2);
	assert_int_equal(smtpc_reusable(s), 1);
	assert_int_equal(smtpc_reusable(s), 1);	/* RSET once */

	env_init(&env, 2, 0);
	assert_int_equal(send_mem(s, &env, msg1, 0, res), 0);
	expect_res(&res[0], 553, "5.7.1", 0, 1, "not you");
	expect_res(&res[1], 553, "5.7.1", 0, 1, "not you");
	results_free(res, 2);
	assert_int_equal(smtpc_reusable(s), 1);

	env_init(&env, 2, 0);
	assert_int_equal(send_mem(s, &env, msg1, 0, res), 0);
	expect_res(&res[0], 554, "5.5.1", 0, 1, "no valid recipients?");
	expect_res(&res[1], 550, "5.1.1", 0, 1, "unknown");
	results_free(res, 2);
	assert_int_equal(smtpc_reusable(s), 1);

	env_init(&env, 1, 0);
	assert_int_equal(send_mem(s, &env, msg1, 0, res), 0);
	expect_res(&res[0], 451, "4.3.0", 1, 0, "disk trouble");
	results_free(res, 1);
	assert_int_equal(smtpc_reusable(s), 1);

	env_init(&env, 1, 0);
	assert_int_equal(send_mem(s, &env, msg1, 0, res), 0);
	expect_res(&res[0], 0, "4.5.0", 1, 0, "unexpected reply: 250 2.0.0 "
	    "what?");
	results_free(res, 1);
	assert_int_equal(smtpc_reusable(s), 1);

	env_init(&env, 1, 0);
	assert_int_equal(send_mem(s, &env, msg1, 0, res), 0);
	results_free(res, 1);
	assert_int_equal(smtpc_reusable(s), 0);
	assert_int_equal(smtpc_reusable(s), 0);
	/* Not usable: refused without a word on the wire. */
	env_init(&env, 1, 0);
	assert_int_equal(send_mem(s, &env, msg1, 0, res), -1);
	expect_res(&res[0], 0, "4.4.2", 1, 0, "connection not usable");
	results_free(res, 1);
	smtpc_close(&s);
	fake_ok(&f);
	expect_data(&f, 0, msg1);
	fake_free(&f);
	sc_free(&sc_);
}

/* PIPELINING: all recipients refused but DATA still gets 354 (a broken
 * server): the client ends it with an empty message. MAIL refused in a
 * pipeline: every recipient gets the MAIL reply. */
static void
test_pipelined_refusals(void **state)
{
	struct smtpc_opts o = opts();
	struct smtpc_result res[2];
	struct spool_env env;
	struct smtpc *s;
	struct fake f;
	struct sc sc_ = { .n = 0 };

	(void)state;
	sc_hello(&sc_, "PIPELINING");
	scl(&sc_, "< MAIL FROM:<s@example.test>", "< RCPT TO:<a@example.test>",
	    "< RCPT TO:<b@example.test>", "< DATA",
	    "> 250 ok\n550 no a\n550 no b\n354 go ahead anyway", "<.",
	    "> 554 no recipients", "< RSET", "> 250 ok",
	    "< MAIL FROM:<s@example.test>", "< RCPT TO:<a@example.test>",
	    "< RCPT TO:<b@example.test>", "< DATA",
	    "> 451 sender deferred\n503 need MAIL\n503 need MAIL\n"
	    "503 need MAIL", "< RSET", "> 250 ok", NULL);
	sc_quit(&sc_);
	fake_start(&f, &sc_);
	s = open_ok(&f, &o);
	env_init(&env, 2, 0);
	assert_int_equal(send_mem(s, &env, msg1, 0, res), 1);
	expect_res(&res[0], 550, "", 0, 1, "no a");
	expect_res(&res[1], 550, "", 0, 1, "no b");
	results_free(res, 2);
	assert_int_equal(smtpc_reusable(s), 1);
	env_init(&env, 2, 0);
	assert_int_equal(send_mem(s, &env, msg1, 0, res), 0);
	expect_res(&res[0], 451, "", 1, 0, "sender deferred");
	expect_res(&res[1], 451, "", 1, 0, "sender deferred");
	results_free(res, 2);
	assert_int_equal(smtpc_reusable(s), 1);
	smtpc_close(&s);
	fake_ok(&f);
	expect_data(&f, 0, "");
	fake_free(&f);
	sc_free(&sc_);
}

/* 421 in the middle of a pipeline: what is left gets it, no QUIT. */
static void
test_421_midway(void **state)
{
	struct smtpc_opts o = opts();
	struct smtpc_result res[3];
	struct spool_env env;
	struct smtpc *s;
	struct fake f;
	struct sc sc_ = { .n = 0 };

	(void)state;
	sc_hello(&sc_, "PIPELINING\nENHANCEDSTATUSCODES");
	scl(&sc_, "< MAIL FROM:<s@example.test>", "< RCPT TO:<a@example.test>",
	    "< RCPT TO:<b@example.test>", "< RCPT TO:<c@example.test>",
	    "< DATA", "> 250 2.1.0 ok\n250 2.1.5 ok\n"
	    "421 4.3.2 shutting down", "close", NULL);
	fake_start(&f, &sc_);
	s = open_ok(&f, &o);
	env_init(&env, 3, 0);
	assert_int_equal(send_mem(s, &env, msg1, 0, res), 0);
	expect_res(&res[0], 421, "4.3.2", 1, 0, "shutting down");
	expect_res(&res[1], 421, "4.3.2", 1, 0, "shutting down");
	expect_res(&res[2], 421, "4.3.2", 1, 0, "shutting down");
	results_free(res, 3);
	assert_int_equal(smtpc_reusable(s), 0);
	/* The session is over: later sends get the 421 at once. */
	env_init(&env, 1, 0);
	assert_int_equal(send_mem(s, &env, msg1, 0, res), -1);
	expect_res(&res[0], 421, "4.3.2", 1, 0, "shutting down");
	results_free(res, 1);
	smtpc_close(&s);
	fake_ok(&f);
	fake_free(&f);
	sc_free(&sc_);
}

/* A 421 sent while the session idles: not reusable, no RSET, no QUIT. */
static void
test_idle_421(void **state)
{
	struct smtpc_opts o = opts();
	struct smtpc_result res[1];
	struct spool_env env;
	struct smtpc *s;
	struct fake f;
	struct sc sc_ = { .n = 0 };

	(void)state;
	sc_hello(&sc_, "PIPELINING");
	scl(&sc_, "< MAIL FROM:<s@example.test>", "< RCPT TO:<a@example.test>",
	    "< DATA", "> 250 ok\n250 ok\n354 go", "<.", "> 250 ok",
	    "> 421 4.4.2 idle timeout", "close", NULL);
	fake_start(&f, &sc_);
	s = open_ok(&f, &o);
	env_init(&env, 1, 0);
	assert_int_equal(send_mem(s, &env, msg1, 0, res), 1);
	results_free(res, 1);
	fake_ok(&f);	/* the 421 was sent and the socket closed */
	assert_int_equal(smtpc_reusable(s), 0);
	smtpc_close(&s);
	fake_free(&f);
	sc_free(&sc_);
}

/* SIZE and SMTPUTF8: refused here, before MAIL; the session stays clean. */
static void
test_local_refusals(void **state)
{
	struct smtpc_opts o = opts();
	struct smtpc_result res[2];
	struct spool_rcpt rc[2] = {
		{ "a@example.test", NULL, 0 },
		{ "b\r\nRSET@example.test", NULL, 0 },
	};
	struct spool_env env;
	struct smtpc *s;
	struct fake f;
	struct sc sc_ = { .n = 0 };

	(void)state;
	sc_hello(&sc_, "PIPELINING\nSIZE 20\n8BITMIME");
	/* Only the recipient without control characters is sent. */
	scl(&sc_, "< MAIL FROM:<s@example.test> SIZE=5",
	    "< RCPT TO:<a@example.test>", "< DATA",
	    "> 250 ok\n250 ok\n354 go", "<.", "> 250 ok", NULL);
	sc_quit(&sc_);
	fake_start(&f, &sc_);
	s = open_ok(&f, &o);
	assert_int_equal(smtpc_caps(s)->size, 20);

	env_init(&env, 2, 21);
	assert_int_equal(send_mem(s, &env, msg1, 0, res), 0);
	expect_res(&res[0], 0, "5.3.4", 0, 1, "message size 21 exceeds the "
	    "peer's limit of 20");
	expect_res(&res[1], 0, "5.3.4", 0, 1, "exceeds");
	results_free(res, 2);
	assert_int_equal(smtpc_reusable(s), 1);

	env_init(&env, 2, 5);
	env.smtputf8 = 1;
	env.sender = "\xc3\xbc@example.test";
	assert_int_equal(send_mem(s, &env, msg1, 0, res), 0);
	expect_res(&res[0], 0, "5.6.7", 0, 1, "SMTPUTF8 required but not "
	    "offered by the receiving server: the sender address is not "
	    "ASCII");
	expect_res(&res[1], 0, "5.6.7", 0, 1, "SMTPUTF8 required");
	results_free(res, 2);

	env_init(&env, 1, 5);
	env.body = SPOOL_BODY_BINARYMIME;
	assert_int_equal(send_mem(s, &env, msg1, 0, res), 0);
	expect_res(&res[0], 0, "5.6.1", 0, 1, "BINARYMIME");
	results_free(res, 1);

	env_init(&env, 1, 5);
	env.sender = "s@example.test>\r\nRCPT TO:<x@y";
	assert_int_equal(send_mem(s, &env, msg1, 0, res), 0);
	expect_res(&res[0], 0, "5.1.7", 0, 1, "control characters");
	results_free(res, 1);

	env_init(&env, 2, 5);
	env.rcpts = rc;
	assert_int_equal(send_mem(s, &env, "x\r\n", 0, res), 1);
	expect_res(&res[0], 250, "", 0, 0, "ok");
	expect_res(&res[1], 0, "5.1.3", 0, 1, "control characters");
	results_free(res, 2);

	/* Nobody left to send to: nothing is sent at all. */
	env_init(&env, 1, 5);
	env.rcpts = rc + 1;
	assert_int_equal(send_mem(s, &env, "x\r\n", 0, res), 1);
	expect_res(&res[0], 0, "5.1.3", 0, 1, "control characters");
	results_free(res, 1);
	assert_int_equal(smtpc_reusable(s), 1);
	smtpc_close(&s);
	fake_ok(&f);
	fake_free(&f);
	sc_free(&sc_);
}

/* SMTPUTF8 offered: the parameter goes with MAIL. */
static void
test_smtputf8(void **state)
{
	struct smtpc_opts o = opts();
	struct smtpc_result res[1];
	struct spool_rcpt rc[1] = { { "\xc3\xa9@example.test", NULL, 0 } };
	struct spool_env env;
	struct smtpc *s;
	struct fake f;
	struct sc sc_ = { .n = 0 };

	(void)state;
	sc_hello(&sc_, "SMTPUTF8\n8BITMIME");
	scl(&sc_, "< MAIL FROM:<\xc3\xbc@example.test> BODY=8BITMIME SMTPUTF8",
	    "> 250 ok", "< RCPT TO:<\xc3\xa9@example.test>", "> 250 ok",
	    "< DATA", "> 354 go", "<.", "> 250 ok", NULL);
	sc_quit(&sc_);
	fake_start(&f, &sc_);
	s = open_ok(&f, &o);
	env_init(&env, 1, 0);
	env.rcpts = rc;
	env.smtputf8 = 1;
	env.body = SPOOL_BODY_8BITMIME;
	env.sender = "\xc3\xbc@example.test";
	assert_int_equal(send_mem(s, &env, "Subject: \xc3\xa9\r\n\r\nx\r\n", 0,
	    res), 1);
	expect_res(&res[0], 250, "", 0, 0, "ok");
	results_free(res, 1);
	smtpc_close(&s);
	fake_ok(&f);
	expect_data(&f, 0, "Subject: \xc3\xa9\r\n\r\nx\r\n");
	fake_free(&f);
	sc_free(&sc_);
}

/*
 * A peer without 8BITMIME: the 8-bit body goes as quoted-printable with
 * no BODY= and the converted SIZE; a 7-bit one as it is; 8-bit header
 * fields and a non-ASCII recipient are refused with 5.6.7, a read error
 * before anything is sent is temporary.
 */
static void
test_downgrade(void **state)
{
	static const char m8[] = "Subject: t\r\nMIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: 8bit\r\n\r\ncaf\xc3\xa9\r\n";
	static const char q8[] = "Subject: t\r\nMIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
	    "caf=C3=A9\r\n";
	struct smtpc_opts o = opts();
	struct smtpc_result res[2];
	struct spool_rcpt rc[2] = { { "a@example.test", NULL, 0 },
	    { "\xc3\xa9@example.test", NULL, 0 } };
	struct src bad = { m8, sizeof(m8) - 1, 0, 10, 20 };
	struct spool_env env;
	struct smtpc *s;
	struct fake f;
	struct sc sc_ = { .n = 0 };
	char size[64];

	(void)state;
	(void)snprintf(size, sizeof(size), "< MAIL FROM:<s@example.test> "
	    "SIZE=%zu", sizeof(q8) - 1);
	sc_hello(&sc_, "SIZE 1000");
	scl(&sc_, size, "> 250 ok",
	    "< RCPT TO:<a@example.test>", "> 250 ok", "< DATA", "> 354 go", "<.",
	    "> 250 ok", NULL);
	scl(&sc_, "< MAIL FROM:<s@example.test> SIZE=25", "> 250 ok",
	    "< RCPT TO:<a@example.test>", "> 250 ok", "< DATA", "> 354 go",
	    "<.", "> 250 ok", NULL);
	sc_quit(&sc_);
	fake_start(&f, &sc_);
	s = open_ok(&f, &o);
	assert_int_equal(smtpc_caps(s)->eightbitmime, 0);
	env_init(&env, 1, 0);
	env.body = SPOOL_BODY_8BITMIME;
	assert_int_equal(send_mem(s, &env, m8, 7, res), 1);
	expect_res(&res[0], 250, "", 0, 0, "ok");
	results_free(res, 1);
	/* 7-bit content declared 8BITMIME: as it is, without BODY=. */
	env_init(&env, 1, 0);
	env.body = SPOOL_BODY_8BITMIME;
	assert_int_equal(send_mem(s, &env, msg1, 0, res), 1);
	results_free(res, 1);
	/* 8-bit header fields: no 7-bit form, no SMTPUTF8 here. */
	env_init(&env, 1, 0);
	assert_int_equal(send_mem(s, &env, "Subject: \xc3\xa9\r\n\r\nx\r\n",
	    0, res), 0);
	expect_res(&res[0], 0, "5.6.7", 0, 1, "SMTPUTF8 required but not "
	    "offered by the receiving server: the message has 8-bit header "
	    "fields");
	results_free(res, 1);
	/* A preamble with 8-bit octets: no conversion. */
	env_init(&env, 1, 0);
	assert_int_equal(send_mem(s, &env, "Content-Type: multipart/mixed; "
	    "boundary=b\r\n\r\n\xe9\r\n--b\r\n\r\nx\r\n--b--\r\n", 0,
	    res), 0);
	expect_res(&res[0], 0, "5.6.3", 0, 1, "conversion to 7 bits required "
	    "(the receiving server does not offer 8BITMIME) but not possible");
	results_free(res, 1);
	/* A non-ASCII recipient alone is refused; a read error at once. */
	env_init(&env, 2, 0);
	env.rcpts = rc;
	assert_int_equal(smtpc_send(s, &env, src_read, &bad, res), 0);
	expect_res(&res[0], 0, "4.3.0", 1, 0, "cannot read the message");
	expect_res(&res[1], 0, "5.6.7", 0, 1, "the recipient address is not "
	    "ASCII");
	results_free(res, 2);
	assert_int_equal(smtpc_reusable(s), 1);
	smtpc_close(&s);
	fake_ok(&f);
	expect_data(&f, 0, q8);
	expect_data(&f, 1, msg1);
	fake_free(&f);
	sc_free(&sc_);
}

/*
 * A peer offering SMTPUTF8 but not 8BITMIME (RFC 6531 3.1 says it takes
 * 8-bit anyway): 8-bit header fields go as they are, with SMTPUTF8 and
 * without BODY=.
 */
static void
test_downgrade_utf8_peer(void **state)
{
	static const char m[] = "Subject: \xc3\xa9\r\n\r\ncaf\xc3\xa9\r\n";
	struct smtpc_opts o = opts();
	struct smtpc_result res[1];
	struct spool_env env;
	struct smtpc *s;
	struct fake f;
	struct sc sc_ = { .n = 0 };

	(void)state;
	sc_hello(&sc_, "SMTPUTF8");
	scl(&sc_, "< MAIL FROM:<s@example.test> SMTPUTF8", "> 250 ok",
	    "< RCPT TO:<a@example.test>", "> 250 ok", "< DATA", "> 354 go",
	    "<.", "> 250 ok", NULL);
	sc_quit(&sc_);
	fake_start(&f, &sc_);
	s = open_ok(&f, &o);
	env_init(&env, 1, 0);
	env.body = SPOOL_BODY_8BITMIME;
	assert_int_equal(send_mem(s, &env, m, 0, res), 1);
	expect_res(&res[0], 250, "", 0, 0, "ok");
	results_free(res, 1);
	smtpc_close(&s);
	fake_ok(&f);
	expect_data(&f, 0, m);
	fake_free(&f);
	sc_free(&sc_);
}

/* The connection drops after the final dot: possibly delivered (the
 * refused recipient keeps its own reply); and before it: not. */
static void
test_drop_after_dot(void **state)
{
	struct smtpc_opts o = opts();
	struct smtpc_result res[3];
	struct spool_env env;
	struct smtpc *s;
	struct fake f;
	struct sc sc_ = { .n = 0 };

	(void)state;
	sc_hello(&sc_, "PIPELINING");
	scl(&sc_, "< MAIL FROM:<s@example.test>", "< RCPT TO:<a@example.test>",
	    "< RCPT TO:<b@example.test>", "< RCPT TO:<c@example.test>",
	    "< DATA", "> 250 ok\n250 ok\n550 no\n250 ok\n354 go", "<.",
	    "close", NULL);
	fake_start(&f, &sc_);
	s = open_ok(&f, &o);
	env_init(&env, 3, 0);
	assert_int_equal(send_mem(s, &env, msg1, 0, res), -1);
	expect_res(&res[0], 0, "4.4.2", 1, 0, "lost connection waiting for "
	    "the reply to the final dot");
	assert_int_equal(res[0].possibly_delivered, 1);
	expect_res(&res[1], 550, "", 0, 1, "no");
	assert_int_equal(res[1].possibly_delivered, 0);
	assert_int_equal(res[2].possibly_delivered, 1);
	results_free(res, 3);
	assert_int_equal(smtpc_reusable(s), 0);
	smtpc_close(&s);
	fake_ok(&f);
	expect_data(&f, 0, msg1);
	fake_free(&f);
	sc_free(&sc_);
}

/* The server goes away while the content is still being sent. */
static void
test_drop_during_data(void **state)
{
	struct smtpc_opts o = opts();
	struct smtpc_result res[1];
	struct spool_env env;
	struct gen g = { 64 << 20 };
	struct smtpc *s;
	struct fake f;
	struct sc sc_ = { .n = 0 };

	(void)state;
	sc_hello(&sc_, "PIPELINING");
	scl(&sc_, "< MAIL FROM:<s@example.test>", "< RCPT TO:<a@example.test>",
	    "< DATA", "> 250 ok\n250 ok\n354 go", "close", NULL);
	fake_start(&f, &sc_);
	s = open_ok(&f, &o);
	env_init(&env, 1, g.left);
	assert_int_equal(smtpc_send(s, &env, gen_read, &g, res), -1);
	expect_res(&res[0], 0, "4.4.2", 1, 0, "lost connection sending the "
	    "message content");
	assert_int_equal(res[0].possibly_delivered, 0);
	results_free(res, 1);
	smtpc_close(&s);
	fake_ok(&f);
	fake_free(&f);
	sc_free(&sc_);
}

/* read() fails halfway: the connection is closed without a final dot. */
static void
test_read_error(void **state)
{
	static const char content[] = "Subject: x\r\n\r\nline one\r\n"
	    "line two\r\n";
	struct smtpc_opts o = opts();
	struct smtpc_result res[1];
	struct src src = { content, sizeof(content) - 1, 0, 10, 20 };
	struct spool_env env;
	struct smtpc *s;
	struct fake f;
	struct sc sc_ = { .n = 0 };

	(void)state;
	/* 8BITMIME: streamed (without it, read whole first: see
	 * test_downgrade). */
	sc_hello(&sc_, "PIPELINING\n8BITMIME");
	scl(&sc_, "< MAIL FROM:<s@example.test>", "< RCPT TO:<a@example.test>",
	    "< DATA", "> 250 ok\n250 ok\n354 go", "<.", NULL);
	fake_start(&f, &sc_);
	s = open_ok(&f, &o);
	env_init(&env, 1, src.len);
	assert_int_equal(smtpc_send(s, &env, src_read, &src, res), -1);
	expect_res(&res[0], 0, "4.3.0", 1, 0, "cannot read the message");
	assert_int_equal(res[0].possibly_delivered, 0);
	results_free(res, 1);
	assert_int_equal(smtpc_reusable(s), 0);
	smtpc_close(&s);
	fake_ok(&f);
	if (strstr(f.transcript, "D-EOF") == NULL)
		fail_msg("the server saw the end of DATA:\n%s", f.transcript);
	fake_free(&f);
	sc_free(&sc_);
}

/* LMTP: one reply per accepted recipient after the dot, over AF_UNIX. */
static void
test_lmtp(void **state)
{
	struct smtpc_opts o = opts();
	struct smtpc_result res[4];
	struct spool_env env;
	struct smtpc *s;
	struct fake f;
	struct sc sc_ = { .n = 0 };

	(void)state;
	o.lmtp = 1;
	scl(&sc_, "> 220 store.test LMTP", "< LHLO client.test",
	    "> 250-store.test\n250-PIPELINING\n250-ENHANCEDSTATUSCODES\n"
	    "250 8BITMIME",
	    "< MAIL FROM:<s@example.test>", "< RCPT TO:<a@example.test>",
	    "< RCPT TO:<b@example.test>", "< RCPT TO:<c@example.test>",
	    "< RCPT TO:<d@example.test>", "< DATA",
	    "> 250 2.1.0 ok\n250 2.1.5 ok\n550 5.1.1 unknown\n250 2.1.5 ok\n"
	    "250 2.1.5 ok\n354 go", "<.",
	    "> 250 2.0.0 <a> delivered\n452 4.2.2 <c> over quota\n"
	    "552-5.2.2 <d> mailbox\n552 5.2.2 full",
	    /* Second transaction: the connection drops after one reply. */
	    "< MAIL FROM:<s@example.test>", "< RCPT TO:<a@example.test>",
	    "< RCPT TO:<b@example.test>", "< DATA",
	    "> 250 2.1.0 ok\n250 2.1.5 ok\n250 2.1.5 ok\n354 go", "<.",
	    "> 250 2.0.0 <a> delivered", "close", NULL);
	fake_start_opts(&f, AF_UNIX, 0, &sc_);
	s = open_ok(&f, &o);
	env_init(&env, 4, 0);
	assert_int_equal(send_mem(s, &env, msg1, 0, res), 1);
	expect_res(&res[0], 250, "2.0.0", 0, 0, "<a> delivered");
	expect_res(&res[1], 550, "5.1.1", 0, 1, "unknown");
	expect_res(&res[2], 452, "4.2.2", 1, 0, "<c> over quota");
	expect_res(&res[3], 552, "5.2.2", 0, 1, "<d> mailbox full");
	results_free(res, 4);
	assert_int_equal(smtpc_reusable(s), 1);

	env_init(&env, 2, 0);
	assert_int_equal(send_mem(s, &env, msg1, 0, res), -1);
	expect_res(&res[0], 250, "2.0.0", 0, 0, "<a> delivered");
	assert_int_equal(res[0].possibly_delivered, 0);
	expect_res(&res[1], 0, "4.4.2", 1, 0, "lost connection");
	assert_int_equal(res[1].possibly_delivered, 1);
	results_free(res, 2);
	smtpc_close(&s);
	fake_ok(&f);
	expect_data(&f, 0, msg1);
	expect_data(&f, 1, msg1);
	fake_free(&f);
	sc_free(&sc_);
}

/* IPv6 works the same. */
static void
test_ipv6(void **state)
{
	struct smtpc_opts o = opts();
	struct smtpc_result res[1];
	struct spool_env env;
	struct smtpc *s;
	struct fake f;
	struct sc sc_ = { .n = 0 };

	(void)state;
	sc_hello(&sc_, "PIPELINING");
	scl(&sc_, "< MAIL FROM:<s@example.test>", "< RCPT TO:<a@example.test>",
	    "< DATA", "> 250 ok\n250 ok\n354 go", "<.", "> 250 ok", NULL);
	sc_quit(&sc_);
	fake_start_opts(&f, AF_INET6, 0, &sc_);
	s = open_ok(&f, &o);
	env_init(&env, 1, 0);
	assert_int_equal(send_mem(s, &env, msg1, 0, res), 1);
	expect_res(&res[0], 250, "", 0, 0, "ok");
	results_free(res, 1);
	smtpc_close(&s);
	fake_ok(&f);
	expect_data(&f, 0, msg1);
	fake_free(&f);
	sc_free(&sc_);
}

static int free_port(int);

/* Connecting where nobody listens. */
static void
test_connect_refused(void **state)
{
	struct smtpc_opts o = opts();
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	struct smtpc_result err;

	(void)state;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	/* reserved and free: nobody listens there, so refused */
	sin.sin_port = htons(free_port(AF_INET));
	assert_null(smtpc_open((struct sockaddr *)&sin, len, &o, &err));
	expect_res(&err, 0, "4.4.1", 1, 0, "connect: Connection refused");
	smtpc_result_free(&err);
}

/* ------------------------------------------------------------ deadlines */

static void
set_to(struct smtpc_opts *o, size_t off, long long ms)
{
	*(long long *)(void *)((char *)&o->to + off) = ms;
}

/* A deadline during smtpc_open. */
static void
open_timeout(size_t off, enum smtpc_tls tls, const char *const *ops,
    const char *want)
{
	struct smtpc_opts o = opts();
	struct fake f;
	struct sc sc_ = { .n = 0 };
	long long t0;

	set_to(&o, off, SHORT_MS);
	o.tls = tls;
	o.tls_ctx = tls ? cli : NULL;
	for (; *ops != NULL; ops++)
		sc(&sc_, "%s", *ops);
	fake_start(&f, &sc_);
	t0 = now_ms();
	open_fail(&f, &o, 0, strstr(want, "TLS handshake") ? "4.7.5" :
	    "4.4.2", 1, want);
	expect_elapsed(t0, SHORT_MS);
	fake_ok(&f);
	fake_free(&f);
	sc_free(&sc_);
}

static void
test_timeout_open(void **state)
{
	static const char *const greeting[] = { "~800", NULL };
	static const char *const helo[] = { "> 220 x", "< EHLO client.test",
	    "~800", NULL };
	static const char *const starttls[] = { "> 220 x",
	    "< EHLO client.test", "> 250-x\r\n250 STARTTLS", "< STARTTLS",
	    "~800", NULL };
	static const char *const handshake[] = { "> 220 x",
	    "< EHLO client.test", "> 250-x\r\n250 STARTTLS", "< STARTTLS",
	    "> 220 go", "~800", NULL };

	(void)state;
	open_timeout(offsetof(struct smtpc_timeouts, greeting),
	    SMTPC_TLS_NONE, greeting, "timeout waiting for the greeting");
	open_timeout(offsetof(struct smtpc_timeouts, helo), SMTPC_TLS_NONE,
	    helo, "timeout waiting for the reply to EHLO");
	open_timeout(offsetof(struct smtpc_timeouts, helo),
	    SMTPC_TLS_ENCRYPT, starttls, "timeout waiting for the reply to "
	    "STARTTLS");
	open_timeout(offsetof(struct smtpc_timeouts, helo),
	    SMTPC_TLS_ENCRYPT, handshake, "TLS handshake failed: timeout");
}

/* A deadline during smtpc_send: the recipients get a temporary result. */
static void
tx_timeout(size_t off, const char *ext, const char *const *ops,
    const char *want, int possibly)
{
	struct smtpc_opts o = opts();
	struct smtpc_result res[2];
	struct spool_env env;
	struct smtpc *s;
	struct fake f;
	struct sc sc_ = { .n = 0 };
	long long t0;

	set_to(&o, off, SHORT_MS);
	sc_hello(&sc_, ext);
	for (; *ops != NULL; ops++)
		sc(&sc_, "%s", *ops);
	fake_start(&f, &sc_);
	s = open_ok(&f, &o);
	env_init(&env, 1, 0);
	t0 = now_ms();
	assert_int_equal(send_mem(s, &env, msg1, 0, res), -1);
	expect_elapsed(t0, SHORT_MS);
	expect_res(&res[0], 0, "4.4.2", 1, 0, want);
	assert_int_equal(res[0].possibly_delivered, possibly);
	results_free(res, 1);
	assert_int_equal(smtpc_reusable(s), 0);
	t0 = now_ms();
	smtpc_close(&s);	/* no QUIT on a broken session */
	assert_true(now_ms() - t0 < SHORT_MS);
	fake_ok(&f);
	fake_free(&f);
	sc_free(&sc_);
}

#define M	"< MAIL FROM:<s@example.test>"
#define R	"< RCPT TO:<a@example.test>"
#define D	"< DATA"

static void
test_timeout_send(void **state)
{
	static const char *const mail[] = { M, "~800", NULL };
	static const char *const mail_p[] = { M, R, D, "~800", NULL };
	static const char *const rcpt[] = { M, "> 250 ok", R, "~800", NULL };
	static const char *const rcpt_p[] = { M, R, D, "> 250 ok", "~800",
	    NULL };
	static const char *const data[] = { M, "> 250 ok", R, "> 250 ok", D,
	    "~800", NULL };
	static const char *const data_p[] = { M, R, D, "> 250 ok\n250 ok",
	    "~800", NULL };
	static const char *const done[] = { M, R, D,
	    "> 250 ok\n250 ok\n354 go", "<.", "~800", NULL };

	(void)state;
	tx_timeout(offsetof(struct smtpc_timeouts, mail), "", mail,
	    "timeout waiting for the reply to MAIL", 0);
	tx_timeout(offsetof(struct smtpc_timeouts, mail), "PIPELINING",
	    mail_p, "timeout waiting for the reply to MAIL", 0);
	tx_timeout(offsetof(struct smtpc_timeouts, rcpt), "", rcpt,
	    "timeout waiting for the reply to RCPT", 0);
	tx_timeout(offsetof(struct smtpc_timeouts, rcpt), "PIPELINING",
	    rcpt_p, "timeout waiting for the reply to RCPT", 0);
	tx_timeout(offsetof(struct smtpc_timeouts, data_init), "", data,
	    "timeout waiting for the reply to DATA", 0);
	tx_timeout(offsetof(struct smtpc_timeouts, data_init), "PIPELINING",
	    data_p, "timeout waiting for the reply to DATA", 0);
	tx_timeout(offsetof(struct smtpc_timeouts, data_done), "PIPELINING",
	    done, "timeout waiting for the reply to the final dot", 1);
}

/* The server stops reading the content: each write has its deadline. */
static void
test_timeout_data_block(void **state)
{
	struct smtpc_opts o = opts();
	struct smtpc_result res[1];
	struct spool_env env;
	struct gen g = { 256 << 20 };
	struct smtpc *s;
	struct fake f;
	struct sc sc_ = { .n = 0 };
	long long t0;

	(void)state;
	o.to.data_block = SHORT_MS;
	sc_hello(&sc_, "PIPELINING\n8BITMIME");	/* streamed */
	scl(&sc_, M, R, D, "> 250 ok\n250 ok\n354 go", "~1500", NULL);
	fake_start_opts(&f, AF_INET, 4096, &sc_);
	s = open_ok(&f, &o);
	env_init(&env, 1, g.left);
	t0 = now_ms();
	assert_int_equal(smtpc_send(s, &env, gen_read, &g, res), -1);
	expect_elapsed(t0, SHORT_MS);
	assert_true(g.left > 0);	/* never all sent */
	expect_res(&res[0], 0, "4.4.2", 1, 0, "timeout sending the message "
	    "content");
	assert_int_equal(res[0].possibly_delivered, 0);
	results_free(res, 1);
	smtpc_close(&s);
	fake_ok(&f);
	fake_free(&f);
	sc_free(&sc_);
}

/* QUIT and RSET wait at most their deadlines. */
static void
test_timeout_quit_rset(void **state)
{
	struct smtpc_opts o = opts();
	struct smtpc_result res[1];
	struct spool_env env;
	struct smtpc *s;
	struct fake f;
	struct sc sc_ = { .n = 0 };
	long long t0;

	(void)state;
	o.to.quit = o.to.rset = SHORT_MS;
	sc_hello(&sc_, "");
	scl(&sc_, "< QUIT", "~800", NULL);
	fake_start(&f, &sc_);
	s = open_ok(&f, &o);
	t0 = now_ms();
	smtpc_close(&s);
	expect_elapsed(t0, SHORT_MS);
	fake_ok(&f);
	fake_free(&f);
	sc_free(&sc_);

	sc_hello(&sc_, "");
	scl(&sc_, M, "> 550 no", "< RSET", "~800", NULL);
	fake_start(&f, &sc_);
	s = open_ok(&f, &o);
	env_init(&env, 1, 0);
	assert_int_equal(send_mem(s, &env, msg1, 0, res), 0);
	results_free(res, 1);
	t0 = now_ms();
	assert_int_equal(smtpc_reusable(s), 0);
	expect_elapsed(t0, SHORT_MS);
	smtpc_close(&s);
	fake_ok(&f);
	fake_free(&f);
	sc_free(&sc_);
}

/* A listener whose accept queue is full drops the SYN: connect times
 * out. */
static void
test_timeout_connect(void **state)
{
	struct smtpc_opts o = opts();
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	struct smtpc_result err;
	struct smtpc *s;
	int lfd, fill[3], i;
	long long t0;

	(void)state;
	o.to.connect = SHORT_MS;
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sin, len), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&sin, &len), 0);
	assert_int_equal(listen(lfd, 0), 0);
	for (i = 0; i < 3; i++) {
		fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0);
		(void)connect(fill[i], (struct sockaddr *)&sin, len);
	}
	t0 = now_ms();
	s = smtpc_open((struct sockaddr *)&sin, len, &o, &err);
	assert_null(s);
	expect_elapsed(t0, SHORT_MS);
	expect_res(&err, 0, "4.4.1", 1, 0, "connect: timeout");
	smtpc_result_free(&err);
	for (i = 0; i < 3; i++)
		(void)close(fill[i]);
	(void)close(lfd);
}

/* Content edge cases, whole and byte by byte: empty, a final CR without
 * LF, bare LFs only, a lone dot, a bare CR (passed on as it is). */
static void
test_content_edges(void **state)
{
	static const struct {
		const char	*in, *out;
		unsigned long long bare_lf;
	} cases[] = {
		{ "", "", 0 },
		{ "x\r\ny\r", "x\r\ny\r\n", 0 },
		{ "\n\n.\n", "\r\n\r\n..\r\n", 3 },
		{ ".\r\n", "..\r\n", 0 },
		{ "a\rb\r\n.", "a\rb\r\n..\r\n", 0 },
	};
	struct smtpc_opts o = opts();
	struct smtpc_result res[1];
	struct spool_env env;
	struct smtpc *s;
	struct fake f;
	struct sc sc_ = { .n = 0 };
	size_t i, chunk;

	(void)state;
	for (chunk = 0; chunk <= 1; chunk++) {
		sc_hello(&sc_, "PIPELINING");
		for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
			scl(&sc_, M, R, D, "> 250 ok\n250 ok\n354 go", "<.",
			    "> 250 ok", NULL);
		sc_quit(&sc_);
		fake_start(&f, &sc_);
		s = open_ok(&f, &o);
		for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			env_init(&env, 1, 1);
			assert_int_equal(send_mem(s, &env, cases[i].in, chunk,
			    res), 1);
			assert_int_equal(smtpc_bare_lf(s), cases[i].bare_lf);
			results_free(res, 1);
		}
		smtpc_close(&s);
		fake_ok(&f);
		for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
			expect_data(&f, (int)i, cases[i].out);
		fake_free(&f);
		sc_free(&sc_);
	}
}

/* A large content with dots and bare LFs here and there, in chunks that
 * split lines anywhere: on the wire exactly the stuffed, CRLF form (the
 * spans between the places that need care go out uncopied). */
static void
test_content_large(void **state)
{
	static const size_t chunks[] = { 0, 7, 4096, 65536 };
	struct buf in = BUF_INIT(0), out = BUF_INIT(0);
	struct smtpc_opts o = opts();
	struct smtpc_result res[1];
	struct spool_env env;
	struct src src;
	struct smtpc *s;
	struct fake f;
	struct sc sc_ = { .n = 0 };
	size_t i, k;

	(void)state;
	for (i = 0; i < 3000; i++) {
		switch (i % 7) {
		case 0:
			(void)buf_appendf(&in, ".dot %zu\r\n", i);
			(void)buf_appendf(&out, "..dot %zu\r\n", i);
			break;
		case 3:
			(void)buf_appendf(&in, "bare %zu\n", i);
			(void)buf_appendf(&out, "bare %zu\r\n", i);
			break;
		default:
			for (k = 0; k < i % 90; k++) {
				(void)buf_appendc(&in, (char)('a' + k % 26));
				(void)buf_appendc(&out, (char)('a' + k % 26));
			}
			(void)buf_appends(&in, "\r\n");
			(void)buf_appends(&out, "\r\n");
		}
	}
	sc_hello(&sc_, "PIPELINING");
	for (i = 0; i < 4; i++)
		scl(&sc_, M, R, D, "> 250 ok\n250 ok\n354 go", "<.",
		    "> 250 ok", NULL);
	sc_quit(&sc_);
	fake_start(&f, &sc_);
	s = open_ok(&f, &o);
	for (i = 0; i < 4; i++) {
		env_init(&env, 1, 1);
		env.size = in.len;
		src = (struct src){ in.data, in.len, 0, chunks[i], 0 };
		assert_int_equal(smtpc_send(s, &env, src_read, &src, res), 1);
		assert_int_equal(smtpc_bare_lf(s), 3000 / 7 + 1);
		results_free(res, 1);
	}
	smtpc_close(&s);
	fake_ok(&f);
	for (i = 0; i < 4; i++)
		expect_data(&f, (int)i, out.data);
	fake_free(&f);
	sc_free(&sc_);
	buf_free(&in);
	buf_free(&out);
}

/* What the peer must get for in[0..n): bare LFs made CRLF, the last line
 * completed, and with stuff a dot at the start of a line doubled. */
static void
content_ref(const char *in, size_t n, int stuff, struct buf *out)
{
	size_t i;
	int bol = 1;
	char prev = '\0';

	buf_reset(out);
	for (i = 0; i < n; i++) {
		if (stuff && bol && in[i] == '.')
			(void)buf_appendc(out, '.');
		if (in[i] == '\n' && prev != '\r')
			(void)buf_appendc(out, '\r');
		(void)buf_appendc(out, in[i]);
		bol = in[i] == '\n';
		prev = in[i];
	}
	if (!bol)
		(void)buf_appends(out, prev == '\r' ? "\n" : "\r\n");
	if (out->data == NULL)
		(void)buf_appends(out, "");
}

/*
 * Random content made of dots, CRs, LFs and letters, handed over in pieces
 * of 1, 3, 4095, 65535 octets and whole, so that CR LF pairs, line starts
 * and dots fall on every kind of piece boundary: with DATA the peer gets
 * the stuffed, CRLF form, with BDAT (chunks around 64 KiB) the CRLF form,
 * exactly as a plain model of the rules says.
 */
static void
test_content_random(void **state)
{
	static const size_t chunks[] = { 1, 3, 4095, 65535, 0 };
	static const char alpha[] = "..\r\r\n\n\naab";
	struct smtpc_opts o = opts();
	struct smtpc_result res[1];
	struct spool_env env;
	struct buf in[5], want[5];
	struct src src;
	struct smtpc *s;
	struct fake f;
	struct sc sc_;
	uint32_t seed, st;
	size_t i, k, len;
	int bdat;

	(void)state;
	for (i = 0; i < 5; i++) {
		buf_init(&in[i], 0);
		buf_init(&want[i], 0);
	}
	for (seed = 1; seed <= 6; seed++) {
		bdat = seed % 2 == 0;
		st = seed * 2654435761u;
		memset(&sc_, 0, sizeof(sc_));
		sc_hello(&sc_, bdat ? "PIPELINING\nCHUNKING\n8BITMIME" :
		    "PIPELINING\n8BITMIME");
		for (i = 0; i < 5; i++) {
			st = st * 1103515245u + 12345u;
			len = i == 4 ? (st >> 8) % 64 : (st >> 8) % 150000;
			buf_reset(&in[i]);
			for (k = 0; k < len; k++) {
				st = st * 1103515245u + 12345u;
				(void)buf_appendc(&in[i],
				    alpha[(st >> 16) % (sizeof(alpha) - 1)]);
			}
			content_ref(in[i].data ? in[i].data : "", in[i].len,
			    !bdat, &want[i]);
			if (bdat)
				scl(&sc_, M, R, "> 250 ok", "> 250 ok", "<B",
				    "> 250 ok", NULL);
			else
				scl(&sc_, M, R, D, "> 250 ok\n250 ok\n354 go",
				    "<.", "> 250 ok", NULL);
		}
		sc_quit(&sc_);
		fake_start(&f, &sc_);
		s = open_ok(&f, &o);
		for (i = 0; i < 5; i++) {
			env_init(&env, 1, 1);
			env.size = in[i].len;
			src = (struct src){ in[i].data ? in[i].data : "",
			    in[i].len, 0, chunks[i], 0 };
			assert_int_equal(smtpc_send(s, &env, src_read, &src,
			    res), 1);
			results_free(res, 1);
		}
		smtpc_close(&s);
		fake_ok(&f);
		for (i = 0; i < 5; i++)
			expect_data(&f, (int)i, want[i].data);
		fake_free(&f);
		sc_free(&sc_);
	}
	for (i = 0; i < 5; i++) {
		buf_free(&in[i]);
		buf_free(&want[i]);
	}
}

/* ------------------------------------------------------------ STARTTLS */

static void
starttls_ops(struct sc *s, const char *ext_after)
{
	sc_hello(s, "PIPELINING\nSTARTTLS");
	scl(s, "< STARTTLS", "> 220 2.0.0 Ready to start TLS", "tls",
	    "< EHLO client.test", NULL);
	sc_ehlo_reply(s, ext_after);
}

/* MAY: TLS when offered, clear text when not, refused, or broken. */
static void
test_tls_may(void **state)
{
	struct smtpc_opts o = opts();
	struct smtpc_result res[1];
	const struct smtpc_caps *caps;
	struct spool_env env;
	struct smtpc *s;
	struct fake f;
	struct sc sc_ = { .n = 0 };

	(void)state;
	o.tls = SMTPC_TLS_MAY;
	o.tls_ctx = cli;
	/* Not offered: clear text. */
	sc_hello(&sc_, "PIPELINING");
	sc_quit(&sc_);
	fake_start(&f, &sc_);
	s = open_ok(&f, &o);
	assert_int_equal(smtpc_caps(s)->tls, 0);
	smtpc_close(&s);
	fake_ok(&f);
	fake_free(&f);
	sc_free(&sc_);

	/* Offered: TLS, EHLO again, a transaction inside. */
	starttls_ops(&sc_, "PIPELINING");
	scl(&sc_, M, R, D, "> 250 ok\n250 ok\n354 go", "<.", "> 250 ok",
	    NULL);
	sc_quit(&sc_);
	fake_start(&f, &sc_);
	s = open_ok(&f, &o);
	caps = smtpc_caps(s);
	assert_int_equal(caps->tls, 1);
	assert_string_equal(caps->tls_version, "TLSv1.3");
	assert_non_null(caps->tls_cipher);
	assert_int_equal(caps->starttls, 0);	/* the EHLO after TLS */
	assert_int_equal(caps->pipelining, 1);
	env_init(&env, 1, 0);
	assert_int_equal(send_mem(s, &env, dots, 5, res), 1);
	expect_res(&res[0], 250, "", 0, 0, "ok");
	results_free(res, 1);
	smtpc_close(&s);
	fake_ok(&f);
	expect_data(&f, 0, dots_sent);
	fake_free(&f);
	sc_free(&sc_);

	/* Refused: clear text on the same connection. */
	sc_hello(&sc_, "STARTTLS");
	scl(&sc_, "< STARTTLS", "> 454 4.7.0 TLS not available now", NULL);
	sc_quit(&sc_);
	fake_start(&f, &sc_);
	s = open_ok(&f, &o);
	assert_int_equal(smtpc_caps(s)->tls, 0);
	smtpc_close(&s);
	fake_ok(&f);
	fake_free(&f);
	sc_free(&sc_);

	/* The handshake fails: a second connection, no STARTTLS there. */
	sc_hello(&sc_, "STARTTLS");
	scl(&sc_, "< STARTTLS", "> 220 go", "~50", "= this is not TLS\r\n",
	    "close", "accept", NULL);
	sc_hello(&sc_, "STARTTLS\nPIPELINING");
	sc_quit(&sc_);
	fake_start(&f, &sc_);
	s = open_ok(&f, &o);
	assert_int_equal(smtpc_caps(s)->tls, 0);
	assert_int_equal(smtpc_caps(s)->starttls, 1);
	assert_int_equal(smtpc_caps(s)->pipelining, 1);
	smtpc_close(&s);
	fake_ok(&f);
	fake_free(&f);
	sc_free(&sc_);
}

/* ENCRYPT and VERIFY: TLS or nothing. */
static void
test_tls_required(void **state)
{
	struct smtpc_opts o = opts();
	struct smtpc *s;
	struct fake f;
	struct sc sc_ = { .n = 0 };

	(void)state;
	o.tls = SMTPC_TLS_ENCRYPT;
	o.tls_ctx = cli;
	/* Not offered. */
	sc_hello(&sc_, "PIPELINING");
	sc_quit(&sc_);
	fake_start(&f, &sc_);
	open_fail(&f, &o, 0, "4.7.4", 1, "TLS required but STARTTLS not "
	    "offered");
	fake_ok(&f);
	fake_free(&f);
	sc_free(&sc_);

	/* Refused. */
	sc_hello(&sc_, "STARTTLS");
	scl(&sc_, "< STARTTLS", "> 454 4.7.0 not now", NULL);
	sc_quit(&sc_);
	fake_start(&f, &sc_);
	open_fail(&f, &o, 0, "4.7.4", 1, "TLS required but STARTTLS "
	    "refused: 454 4.7.0 not now");
	fake_ok(&f);
	fake_free(&f);
	sc_free(&sc_);

	/* The peer hangs up in the handshake: no second try in clear. */
	sc_hello(&sc_, "STARTTLS");
	scl(&sc_, "< STARTTLS", "> 220 go", "close", NULL);
	fake_start(&f, &sc_);
	open_fail(&f, &o, 0, "4.7.5", 1, "TLS handshake failed: ");
	fake_ok(&f);
	fake_free(&f);
	sc_free(&sc_);

	/* ENCRYPT does not verify: a name the certificate lacks is fine. */
	o.tls_verify_name = "wrong.example.test";
	starttls_ops(&sc_, "PIPELINING");
	sc_quit(&sc_);
	fake_start(&f, &sc_);
	s = open_ok(&f, &o);
	assert_int_equal(smtpc_caps(s)->tls, 1);
	smtpc_close(&s);
	fake_ok(&f);
	fake_free(&f);
	sc_free(&sc_);

	/* VERIFY: the right name, by DNS name and by IP address. */
	o.tls = SMTPC_TLS_VERIFY;
	o.tls_verify_name = "mx.example.test";
	starttls_ops(&sc_, "PIPELINING");
	sc_quit(&sc_);
	fake_start(&f, &sc_);
	s = open_ok(&f, &o);
	assert_int_equal(smtpc_caps(s)->tls, 1);
	smtpc_close(&s);
	fake_ok(&f);
	fake_free(&f);
	sc_free(&sc_);

	o.tls_verify_name = "127.0.0.1";
	starttls_ops(&sc_, "PIPELINING");
	sc_quit(&sc_);
	fake_start(&f, &sc_);
	s = open_ok(&f, &o);
	smtpc_close(&s);
	fake_ok(&f);
	fake_free(&f);
	sc_free(&sc_);

	/* VERIFY: a wrong name, an unknown CA. */
	o.tls_verify_name = "other.example.test";
	sc_hello(&sc_, "STARTTLS");
	scl(&sc_, "< STARTTLS", "> 220 go", "tls?", NULL);
	fake_start(&f, &sc_);
	open_fail(&f, &o, 0, "4.7.5", 1, "TLS handshake failed: certificate "
	    "verification failed: hostname mismatch");
	fake_ok(&f);
	fake_free(&f);
	sc_free(&sc_);

	o.tls_verify_name = "mx.example.test";
	o.tls_ctx = cli_other;
	sc_hello(&sc_, "STARTTLS");
	scl(&sc_, "< STARTTLS", "> 220 go", "tls?", NULL);
	fake_start(&f, &sc_);
	open_fail(&f, &o, 0, "4.7.5", 1, "TLS handshake failed: certificate "
	    "verification failed: unable to get local issuer certificate");
	fake_ok(&f);
	fake_free(&f);
	sc_free(&sc_);

	/* Plaintext injected behind the 220: refused, never sent on. */
	o.tls_ctx = cli;
	sc_hello(&sc_, "STARTTLS");
	scl(&sc_, "< STARTTLS", "= 220 go\r\n250 injected\r\n", "eof", NULL);
	fake_start(&f, &sc_);
	open_fail(&f, &o, 0, "4.7.5", 1, "TLS handshake failed: plaintext "
	    "input pending");
	fake_ok(&f);
	fake_free(&f);
	sc_free(&sc_);
}

/* ------------------------------------------------------------ AUTH */

static void
auth_case(struct smtpc_opts *o, const char *ext, const char *const *ops,
    int code, const char *enh, const char *why)
{
	struct smtpc *s;
	struct fake f;
	struct sc sc_ = { .n = 0 };

	if (o->tls == SMTPC_TLS_ENCRYPT)
		starttls_ops(&sc_, ext);
	else
		sc_hello(&sc_, ext);
	for (; *ops != NULL; ops++)
		sc(&sc_, "%s", *ops);
	sc_quit(&sc_);
	fake_start(&f, &sc_);
	if (why == NULL) {
		s = open_ok(&f, o);
		assert_int_equal(smtpc_caps(s)->authenticated, code == 235);
		smtpc_close(&s);
	} else
		open_fail(&f, o, code, enh, code < 500, why);
	fake_ok(&f);
	fake_free(&f);
	sc_free(&sc_);
}

static void
test_auth(void **state)
{
	static const char *const plain[] = {
	    "< AUTH PLAIN AHVzZXIAc2VjcmV0", "> 235 2.7.0 Authenticated",
	    NULL };
	static const char *const login[] = { "< AUTH LOGIN",
	    "> 334 VXNlcm5hbWU6", "< dXNlcg==", "> 334 UGFzc3dvcmQ6",
	    "< c2VjcmV0", "> 235 2.7.0 ok", NULL };
	static const char *const bad[] = { "< AUTH PLAIN AHVzZXIAc2VjcmV0",
	    "> 535 5.7.8 Authentication credentials invalid", NULL };
	static const char *const tmp[] = { "< AUTH PLAIN AHVzZXIAc2VjcmV0",
	    "> 454 4.7.0 Temporary authentication failure", NULL };
	static const char *const ir[] = { "< AUTH PLAIN AHVzZXIAc2VjcmV0",
	    "> 334 ", "< *", "> 501 5.7.0 cancelled", NULL };
	static const char *const none[] = { NULL };
	struct smtpc_opts o = opts();

	(void)state;
	o.tls = SMTPC_TLS_ENCRYPT;
	o.tls_ctx = cli;
	o.auth_user = "user";
	o.auth_pass = "secret";
	auth_case(&o, "ENHANCEDSTATUSCODES\nAUTH LOGIN PLAIN", plain, 235,
	    NULL, NULL);
	auth_case(&o, "AUTH=LOGIN", login, 235, NULL, NULL);
	/* A 5xx to AUTH is an account problem: temporary, class 4, the
	 * server's reply kept in the text. */
	auth_case(&o, "ENHANCEDSTATUSCODES\nAUTH PLAIN", bad, 0,
	    "4.7.8", "authentication failed, the server said: 535 5.7.8 "
	    "Authentication credentials invalid");
	auth_case(&o, "AUTH PLAIN", bad, 0, "4.7.0",
	    "authentication failed, the server said: 535 5.7.8 "
	    "Authentication credentials invalid");
	assert_int_equal(last_auth_failed, 1);
	/* A 4xx: as temporary, said the same way. */
	auth_case(&o, "ENHANCEDSTATUSCODES\nAUTH PLAIN", tmp, 0,
	    "4.7.0", "authentication failed, the server said: 454 4.7.0 "
	    "Temporary authentication failure");
	assert_int_equal(last_auth_failed, 1);
	auth_case(&o, "ENHANCEDSTATUSCODES\nAUTH PLAIN", ir, 0,
	    "4.7.0", "the server said: 501 5.7.0 cancelled");
	{
		static const char *const lbad[] = { "< AUTH LOGIN",
		    "> 334 VXNlcm5hbWU6", "< dXNlcg==", "> 334 UGFzc3dvcmQ6",
		    "< c2VjcmV0", "> 535 5.7.8 no", NULL };

		auth_case(&o, "ENHANCEDSTATUSCODES\nAUTH LOGIN", lbad, 0,
		    "4.7.8", "the server said: 535 5.7.8 no");
	}
	auth_case(&o, "AUTH CRAM-MD5 DIGEST-MD5", none, 0, "4.7.0",
	    "no supported AUTH mechanism");
	assert_int_equal(last_auth_failed, 1);
	/* Not offered: on without it. */
	auth_case(&o, "PIPELINING", none, 0, NULL, NULL);

	/* Clear text: never, unless allowed. */
	o.tls = SMTPC_TLS_NONE;
	o.tls_ctx = NULL;
	auth_case(&o, "AUTH PLAIN LOGIN", none, 0, "4.7.0",
	    "AUTH refused over clear text");
	/* MAY with STARTTLS refused: clear text, so no AUTH either. */
	o.tls = SMTPC_TLS_MAY;
	o.tls_ctx = cli;
	{
		static const char *const refused[] = {
		    "< STARTTLS", "> 454 4.7.0 no TLS today", NULL };

		auth_case(&o, "STARTTLS\nAUTH PLAIN", refused, 0, "4.7.0",
		    "AUTH refused over clear text");
	}
	o.auth_pass = NULL;	/* an empty password */
	o.tls = SMTPC_TLS_NONE;
	o.tls_ctx = NULL;
	o.auth_cleartext = 1;
	{
		static const char *const clear[] = {
		    "< AUTH PLAIN AHVzZXIA", "> 235 ok", NULL };

		auth_case(&o, "AUTH PLAIN", clear, 235, NULL, NULL);
	}
}

/* ------------------------------------------------------------ smtp-sink */

/* The running smtp-sink, stopped even when a test fails midway. */
static pid_t sink_pid;

static void
sink_kill(void)
{
	int status;

	if (sink_pid > 0) {
		(void)kill(sink_pid, SIGTERM);
		(void)waitpid(sink_pid, &status, 0);
	}
	sink_pid = 0;
}

struct sink {
	pid_t			 pid;
	char			 dir[64];
	struct sockaddr_storage	 ss;
	socklen_t		 len;
};

/*
 * A loopback port free right now and reserved for this process until it
 * exits, as tests/e2e/lib/testports.py does: outside the kernel's
 * ephemeral range (so no outgoing connection takes it before the server
 * binds it), and locked with flock(2) on a file under PORT_DIR (so no
 * parallel test picks it). The lock descriptor is kept open on purpose.
 */
#define PORT_DIR "/tmp/estafeta-test-ports"

static int
free_port(int family)
{
	static unsigned seed;
	struct sockaddr_storage ss;
	socklen_t len = family == AF_INET ? sizeof(struct sockaddr_in) :
	    sizeof(struct sockaddr_in6);
	int lo = 32768, hi = 60999, first, last, port, fd, lk, ok, i;
	char path[64];
	FILE *f;

	if ((f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r")) !=
	    NULL) {
		if (fscanf(f, "%d %d", &lo, &hi) != 2)
			lo = 32768, hi = 60999;
		(void)fclose(f);
	}
	if (lo > 12000)
		first = 10000, last = lo - 1;
	else
		first = hi + 1, last = 65535;
	(void)mkdir(PORT_DIR, 01777);
	(void)chmod(PORT_DIR, 01777);
	if (seed == 0)
		seed = ((unsigned)getpid() ^ (unsigned)time(NULL)) | 1u;
	for (i = 0; i < 2000; i++) {
		port = first + rand_r(&seed) % (last - first + 1);
		(void)snprintf(path, sizeof(path), PORT_DIR "/%d", port);
		if ((lk = open(path, O_RDONLY | O_CREAT | O_CLOEXEC, 0644)) ==
		    -1)
			continue;
		if (flock(lk, LOCK_EX | LOCK_NB) == -1) {
			(void)close(lk);
			continue;
		}
		memset(&ss, 0, sizeof(ss));
		ss.ss_family = (sa_family_t)family;
		if (family == AF_INET) {
			((struct sockaddr_in *)&ss)->sin_addr.s_addr =
			    htonl(INADDR_LOOPBACK);
			((struct sockaddr_in *)&ss)->sin_port = htons(port);
		} else {
			((struct sockaddr_in6 *)&ss)->sin6_addr =
			    in6addr_loopback;
			((struct sockaddr_in6 *)&ss)->sin6_port = htons(port);
		}
		fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		assert_true(fd != -1);
		ok = bind(fd, (struct sockaddr *)&ss, len) == 0;
		assert_int_equal(close(fd), 0);
		if (ok)
			return port;	/* lk stays open: the reservation */
		(void)close(lk);
	}
	fail_msg("no free loopback port in %d-%d", first, last);
	return -1;
}

/*
 * Starts smtp-sink with the extra flags (NULL-terminated) on loopback,
 * dumping each transaction under dir/dump/; waits until it accepts.
 * Skips the test when smtp-sink is not installed.
 */
static void
sink_start(struct sink *k, int family, ...)
{
	const char *argv[32], *a;
	char addr[96], dump[96];
	int n = 0, port, fd;
	long long deadline;
	va_list ap;

	if (access(SINK, X_OK) != 0)
		skip();
	sink_kill();
	memset(k, 0, sizeof(*k));
	(void)snprintf(k->dir, sizeof(k->dir), "/tmp/test_smtpc.k.XXXXXX");
	assert_non_null(mkdtemp(k->dir));
	assert_int_equal(chmod(k->dir, 0755), 0);
	(void)snprintf(dump, sizeof(dump), "%s/dump/", k->dir);
	assert_int_equal(mkdir(dump, 0777), 0);
	assert_int_equal(chmod(dump, 0777), 0);
	port = free_port(family);
	k->ss.ss_family = (sa_family_t)family;
	if (family == AF_INET) {
		((struct sockaddr_in *)&k->ss)->sin_addr.s_addr =
		    htonl(INADDR_LOOPBACK);
		((struct sockaddr_in *)&k->ss)->sin_port = htons(port);
		k->len = sizeof(struct sockaddr_in);
		(void)snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	} else {
		((struct sockaddr_in6 *)&k->ss)->sin6_addr = in6addr_loopback;
		((struct sockaddr_in6 *)&k->ss)->sin6_port = htons(port);
		k->len = sizeof(struct sockaddr_in6);
		(void)snprintf(addr, sizeof(addr), "[::1]:%d", port);
	}
	argv[n++] = SINK;
	if (geteuid() == 0) {
		argv[n++] = "-u";
		argv[n++] = "nobody";
	}
	va_start(ap, family);
	while ((a = va_arg(ap, const char *)) != NULL && n < 24)
		argv[n++] = a;
	va_end(ap);
	argv[n++] = "-d";
	argv[n++] = dump;
	argv[n++] = addr;
	argv[n++] = "10";
	argv[n] = NULL;
	k->pid = fork();
	assert_true(k->pid >= 0);
	if (k->pid == 0) {
		die_with_parent();
		if ((fd = open("/dev/null", O_RDWR)) == -1 ||
		    dup2(fd, 0) == -1 || dup2(fd, 1) == -1)
			_exit(126);
		(void)execv(SINK, (char *const *)(void *)argv);
		_exit(127);
	}
	sink_pid = k->pid;
	/* Wait until it listens (a probe session is harmless). */
	deadline = now_ms() + 10000;
	for (;;) {
		fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (connect(fd, (struct sockaddr *)&k->ss, k->len) == 0) {
			(void)close(fd);
			break;
		}
		(void)close(fd);
		if (now_ms() > deadline)
			fail_msg("smtp-sink did not start on %s", addr);
		(void)usleep(10000);
	}
}

/* Stops it and returns every dump file, concatenated with "\n--\n". */
static char *
sink_stop(struct sink *k, int *nfiles_r)
{
	struct buf all = BUF_INIT(0);
	char path[384], *d;
	struct dirent *de;
	size_t len;
	DIR *dp;
	int status;

	assert_int_equal(kill(k->pid, SIGTERM), 0);
	assert_int_equal(waitpid(k->pid, &status, 0), k->pid);
	sink_pid = 0;
	*nfiles_r = 0;
	(void)snprintf(path, sizeof(path), "%s/dump", k->dir);
	assert_non_null(dp = opendir(path));
	while ((de = readdir(dp)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		(void)snprintf(path, sizeof(path), "%s/dump/%s", k->dir,
		    de->d_name);
		if ((d = slurp(path, &len)) == NULL)
			continue;
		(void)buf_append(&all, d, len);
		(void)buf_appends(&all, "\n--\n");
		free(d);
		(*nfiles_r)++;
	}
	(void)closedir(dp);
	rmtree(k->dir);
	if (all.data == NULL)
		return strdup("");
	return buf_steal(&all);
}

static struct smtpc *
sink_open(struct sink *k, const struct smtpc_opts *o)
{
	struct smtpc_result err;
	struct smtpc *s;

	s = smtpc_open((struct sockaddr *)&k->ss, k->len, o, &err);
	if (s == NULL)
		fail_msg("smtpc_open to smtp-sink: %d \"%s\" \"%s\"", err.code,
		    err.enhanced, err.text);
	return s;
}

static void
expect_in(const char *hay, const char *needle)
{
	if (strstr(hay, needle) == NULL)
		fail_msg("wanted \"%s\" in:\n%s", needle, hay);
}

/* The dots message as smtp-sink dumps it: unstuffed, LF line ends. */
static const char dots_dumped[] = "Subject: dots\n\n.leading\n..two\n"
    "no dot\n.\nbare\nlf\n.\nend\n";

/* Everything on: pipelining, DSN parameters, two transactions on one
 * connection. */
static void
test_sink_basic(void **state)
{
	struct spool_rcpt rc[2] = {
		{ "a@example.test", "rfc822;a+x@example.test",
		  SPOOL_NOTIFY_SUCCESS | SPOOL_NOTIFY_FAILURE },
		{ "b@example.test", NULL, 0 },
	};
	struct smtpc_opts o = opts();
	struct smtpc_result res[2];
	const struct smtpc_caps *caps;
	struct spool_env env;
	struct smtpc *s;
	struct sink k;
	char *dump;
	int n;

	(void)state;
	sink_start(&k, AF_INET, NULL);
	s = sink_open(&k, &o);
	caps = smtpc_caps(s);
	assert_true(caps->esmtp && caps->pipelining && caps->eightbitmime &&
	    caps->dsn && caps->enhancedstatuscodes && caps->auth_plain &&
	    caps->auth_login);
	assert_false(caps->starttls || caps->smtputf8 || caps->size_ext);
	env_init(&env, 2, 0);
	env.rcpts = rc;
	env.ret = SPOOL_RET_HDRS;
	env.envid = "id+1";
	env.body = SPOOL_BODY_8BITMIME;
	assert_int_equal(send_mem(s, &env, dots, 4, res), 1);
	expect_res(&res[0], 250, "2.0.0", 0, 0, "Ok");
	expect_res(&res[1], 250, "2.0.0", 0, 0, "Ok");
	results_free(res, 2);
	assert_int_equal(smtpc_reusable(s), 1);
	env_init(&env, 1, 0);
	env.sender = "";
	assert_int_equal(send_mem(s, &env, msg1, 0, res), 1);
	results_free(res, 1);
	smtpc_close(&s);
	dump = sink_stop(&k, &n);
	assert_int_equal(n, 2);
	expect_in(dump, "X-Mail-Args: <s@example.test> BODY=8BITMIME "
	    "RET=HDRS ENVID=id+2B1\n");
	expect_in(dump, "X-Rcpt-Args: <a@example.test> NOTIFY=SUCCESS,FAILURE"
	    " ORCPT=rfc822;a+2Bx@example.test\n");
	expect_in(dump, "X-Rcpt-Args: <b@example.test>\n");
	expect_in(dump, dots_dumped);
	expect_in(dump, "X-Mail-Args: <>\n");
	expect_in(dump, "X-Helo-Args: client.test\n");
	expect_in(dump, "Subject: test\n\nHello.\n");
	free(dump);
}

/* No PIPELINING, DSN, ENHANCEDSTATUSCODES, 8BITMIME: no parameters. */
static void
test_sink_no_ext(void **state)
{
	struct spool_rcpt rc[1] = {
		{ "a@example.test", "rfc822;a@example.test",
		  SPOOL_NOTIFY_DELAY },
	};
	struct smtpc_opts o = opts();
	struct smtpc_result res[1];
	const struct smtpc_caps *caps;
	struct spool_env env;
	struct smtpc *s;
	struct sink k;
	char *dump;
	int n;

	(void)state;
	sink_start(&k, AF_INET, "-p", "-N", "-E", "-8", NULL);
	s = sink_open(&k, &o);
	caps = smtpc_caps(s);
	assert_true(caps->esmtp);
	assert_false(caps->pipelining || caps->dsn || caps->eightbitmime ||
	    caps->enhancedstatuscodes);
	env_init(&env, 1, 0);
	env.rcpts = rc;
	env.ret = SPOOL_RET_FULL;
	env.envid = "x";
	env.body = SPOOL_BODY_8BITMIME;
	assert_int_equal(send_mem(s, &env, dots, 0, res), 1);
	assert_int_equal(res[0].code, 250);
	assert_string_equal(res[0].enhanced, "");
	results_free(res, 1);
	smtpc_close(&s);
	dump = sink_stop(&k, &n);
	assert_int_equal(n, 1);
	expect_in(dump, "X-Mail-Args: <s@example.test>\n");
	expect_in(dump, "X-Rcpt-Args: <a@example.test>\n");
	expect_in(dump, dots_dumped);
	free(dump);
}

/* Refused recipients (5xx, 4xx), a refused final dot, 421 on MAIL. */
static void
test_sink_refusals(void **state)
{
	struct smtpc_opts o = opts();
	struct smtpc_result res[2];
	struct spool_env env;
	struct smtpc *s;
	struct sink k;
	char *dump;
	int n;

	(void)state;
	sink_start(&k, AF_INET, "-f", "RCPT", NULL);
	s = sink_open(&k, &o);
	env_init(&env, 2, 0);
	assert_int_equal(send_mem(s, &env, msg1, 0, res), 1);
	expect_res(&res[0], 500, "5.3.0", 0, 1, "Error: command failed");
	expect_res(&res[1], 500, "5.3.0", 0, 1, "Error: command failed");
	results_free(res, 2);
	assert_int_equal(smtpc_reusable(s), 1);	/* after RSET */
	smtpc_close(&s);
	free(sink_stop(&k, &n));
	assert_int_equal(n, 0);

	sink_start(&k, AF_INET, "-r", "RCPT", NULL);
	s = sink_open(&k, &o);
	env_init(&env, 1, 0);
	assert_int_equal(send_mem(s, &env, msg1, 0, res), 1);
	expect_res(&res[0], 450, "4.3.0", 1, 0, "Error: command failed");
	results_free(res, 1);
	smtpc_close(&s);
	free(sink_stop(&k, &n));

	sink_start(&k, AF_INET, "-f", ".", NULL);
	s = sink_open(&k, &o);
	env_init(&env, 2, 0);
	assert_int_equal(send_mem(s, &env, msg1, 0, res), 0);
	expect_res(&res[0], 500, "5.3.0", 0, 1, "Error: command failed");
	expect_res(&res[1], 500, "5.3.0", 0, 1, "Error: command failed");
	results_free(res, 2);
	assert_int_equal(smtpc_reusable(s), 1);
	smtpc_close(&s);
	free(sink_stop(&k, &n));

	sink_start(&k, AF_INET, "-Q", "MAIL", NULL);
	s = sink_open(&k, &o);
	env_init(&env, 2, 0);
	assert_int_equal(send_mem(s, &env, msg1, 0, res), 0);
	assert_int_equal(res[0].code, 421);
	assert_int_equal(res[0].temporary, 1);
	assert_int_equal(res[1].code, 421);
	results_free(res, 2);
	assert_int_equal(smtpc_reusable(s), 0);
	smtpc_close(&s);
	dump = sink_stop(&k, &n);
	assert_int_equal(n, 0);
	free(dump);
}

/* smtp-sink hangs up after the final dot without a word. */
static void
test_sink_drop_after_dot(void **state)
{
	struct smtpc_opts o = opts();
	struct smtpc_result res[2];
	struct spool_env env;
	struct smtpc *s;
	struct sink k;
	int n;

	(void)state;
	sink_start(&k, AF_INET, "-q", ".", NULL);
	s = sink_open(&k, &o);
	env_init(&env, 2, 0);
	assert_int_equal(send_mem(s, &env, msg1, 0, res), -1);
	expect_res(&res[0], 0, "4.4.2", 1, 0, "lost connection waiting for "
	    "the reply to the final dot");
	assert_int_equal(res[0].possibly_delivered, 1);
	assert_int_equal(res[1].possibly_delivered, 1);
	results_free(res, 2);
	smtpc_close(&s);
	free(sink_stop(&k, &n));
}

/* A slow DATA reply hits the data_init deadline (without PIPELINING:
 * smtp-sink holds back the whole pipelined batch). */
static void
test_sink_slow(void **state)
{
	struct smtpc_opts o = opts();
	struct smtpc_result res[1];
	struct spool_env env;
	struct smtpc *s;
	struct sink k;
	long long t0;
	int n;

	(void)state;
	o.to.data_init = SHORT_MS;
	sink_start(&k, AF_INET, "-p", "-w", "2", NULL);
	s = sink_open(&k, &o);
	env_init(&env, 1, 0);
	t0 = now_ms();
	assert_int_equal(send_mem(s, &env, msg1, 0, res), -1);
	expect_elapsed(t0, SHORT_MS);
	expect_res(&res[0], 0, "4.4.2", 1, 0, "timeout waiting for the reply "
	    "to DATA");
	results_free(res, 1);
	smtpc_close(&s);
	free(sink_stop(&k, &n));
}

/* LMTP: LHLO and one reply per recipient after the dot. */
static void
test_sink_lmtp(void **state)
{
	struct smtpc_opts o = opts();
	struct smtpc_result res[3];
	struct spool_env env;
	struct smtpc *s;
	struct sink k;
	char *dump;
	int n;

	(void)state;
	o.lmtp = 1;
	sink_start(&k, AF_INET, "-L", NULL);
	s = sink_open(&k, &o);
	env_init(&env, 3, 0);
	assert_int_equal(send_mem(s, &env, dots, 0, res), 1);
	expect_res(&res[0], 250, "2.2.0", 0, 0, "Ok");
	expect_res(&res[1], 250, "2.2.0", 0, 0, "Ok");
	expect_res(&res[2], 250, "2.2.0", 0, 0, "Ok");
	results_free(res, 3);
	/* In step: the next transaction works on the same connection. */
	assert_int_equal(smtpc_reusable(s), 1);
	env_init(&env, 1, 0);
	assert_int_equal(send_mem(s, &env, msg1, 0, res), 1);
	expect_res(&res[0], 250, "2.2.0", 0, 0, "Ok");
	results_free(res, 1);
	smtpc_close(&s);
	dump = sink_stop(&k, &n);
	assert_int_equal(n, 2);
	expect_in(dump, "X-Client-Proto: LMTP\n");
	expect_in(dump, dots_dumped);
	free(dump);
}

/* No ESMTP at all: HELO. */
static void
test_sink_helo(void **state)
{
	struct smtpc_opts o = opts();
	struct smtpc_result res[1];
	struct spool_env env;
	struct smtpc *s;
	struct sink k;
	char *dump;
	int n;

	(void)state;
	sink_start(&k, AF_INET, "-e", NULL);
	s = sink_open(&k, &o);
	assert_int_equal(smtpc_caps(s)->esmtp, 0);
	env_init(&env, 1, 0);
	env.ret = SPOOL_RET_FULL;
	assert_int_equal(send_mem(s, &env, msg1, 0, res), 1);
	assert_int_equal(res[0].code, 250);
	results_free(res, 1);
	smtpc_close(&s);
	dump = sink_stop(&k, &n);
	assert_int_equal(n, 1);
	expect_in(dump, "X-Client-Proto: SMTP\n");
	expect_in(dump, "X-Mail-Args: <s@example.test>\n");
	free(dump);
}

/* Credentials never go out in clear text; without AUTH offered: none. */
static void
test_sink_auth(void **state)
{
	struct smtpc_opts o = opts();
	struct smtpc_result err;
	struct smtpc *s;
	struct sink k;
	int n;

	(void)state;
	o.auth_user = "user";
	o.auth_pass = "secret";
	sink_start(&k, AF_INET, NULL);
	assert_null(smtpc_open((struct sockaddr *)&k.ss, k.len, &o, &err));
	expect_res(&err, 0, "4.7.0", 1, 0, "AUTH refused over clear text");
	smtpc_result_free(&err);
	free(sink_stop(&k, &n));

	sink_start(&k, AF_INET, "-a", NULL);
	s = sink_open(&k, &o);
	assert_int_equal(smtpc_caps(s)->auth, 0);
	assert_int_equal(smtpc_caps(s)->authenticated, 0);
	smtpc_close(&s);
	free(sink_stop(&k, &n));
}

/* The same over IPv6. */
static void
test_sink_ipv6(void **state)
{
	struct smtpc_opts o = opts();
	struct smtpc_result res[1];
	struct spool_env env;
	struct smtpc *s;
	struct sink k;
	char *dump;
	int n;

	(void)state;
	sink_start(&k, AF_INET6, NULL);
	s = sink_open(&k, &o);
	env_init(&env, 1, 0);
	assert_int_equal(send_mem(s, &env, dots, 0, res), 1);
	expect_res(&res[0], 250, "2.0.0", 0, 0, "Ok");
	results_free(res, 1);
	smtpc_close(&s);
	dump = sink_stop(&k, &n);
	assert_int_equal(n, 1);
	expect_in(dump, "X-Client-Addr: ipv6:::1\n");
	expect_in(dump, dots_dumped);
	free(dump);
}

/* ------------------------------------------------------------ estafetad */

/*
 * Our own estafetad as the peer (skipped when it is not built): STARTTLS
 * verified against the throw-away CA, AUTH PLAIN against its users
 * database, every extension it offers, two transactions on one
 * connection; the spool files it wrote must hold the envelope we sent
 * (DSN fields decoded back to what we had) and our content unstuffed.
 */
struct estd {
	pid_t	 pid;
	char	 dir[64], conf[128], bin[256], ctl[256];
	struct sockaddr_in sin;
};

static int
estd_run(const char *const *argv, const char *input, const char *log)
{
	int p[2], status, fd;
	pid_t pid;

	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
		if (fd == -1 || dup2(p[0], 0) == -1 || dup2(fd, 1) == -1 ||
		    dup2(fd, 2) == -1)
			_exit(126);
		(void)close(p[1]);
		(void)execv(argv[0], (char *const *)(void *)argv);
		_exit(127);
	}
	(void)close(p[0]);
	if (input != NULL)
		assert_int_equal(write(p[1], input, strlen(input)),
		    (ssize_t)strlen(input));
	(void)close(p[1]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* 1 when a connection gets a 220 greeting. */
static int
estd_ready(const struct estd *e)
{
	char buf[8];
	struct pollfd pfd;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), ok = 0;

	if (connect(fd, (const struct sockaddr *)&e->sin,
	    sizeof(e->sin)) == 0) {
		pfd.fd = fd;
		pfd.events = POLLIN;
		ok = poll(&pfd, 1, 2000) == 1 && read(fd, buf, 4) == 4 &&
		    memcmp(buf, "220 ", 4) == 0;
	}
	(void)close(fd);
	return ok;
}

static int
estd_start(struct estd *e)
{
	const char *bdir = getenv("BUILDDIR"), *argv[8];
	char log[128];
	FILE *f;
	int port;
	long long deadline;

	memset(e, 0, sizeof(*e));
	if (bdir == NULL)
		bdir = ".";
	(void)snprintf(e->bin, sizeof(e->bin), "%s/src/relay/estafetad",
	    bdir);
	(void)snprintf(e->ctl, sizeof(e->ctl), "%s/src/ctl/estafetactl",
	    bdir);
	if (access(e->bin, X_OK) != 0 || access(e->ctl, X_OK) != 0)
		return 0;
	(void)snprintf(e->dir, sizeof(e->dir), "/tmp/test_smtpc.e.XXXXXX");
	assert_non_null(mkdtemp(e->dir));
	assert_int_equal(chmod(e->dir, 0755), 0);
	(void)snprintf(e->conf, sizeof(e->conf), "%s/estafetad.conf", e->dir);
	(void)snprintf(log, sizeof(log), "%s/log", e->dir);
	port = free_port(AF_INET);
	e->sin.sin_family = AF_INET;
	e->sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	e->sin.sin_port = htons(port);
	assert_non_null(f = fopen(e->conf, "w"));
	(void)fprintf(f, "hostname = mx.example.test\nspool_dir = %s/spool\n"
	    "listen_mx = 127.0.0.1:%d\nrelay_domains = example.test\n"
	    "log_target = stderr\nlog_level = info\nsmtpd_workers_min = 1\n"
	    "tls_cert_files = %s\ntls_key_files = %s\n%s", e->dir, port,
	    fpath("mx.pem"), fpath("mx.key"),
	    geteuid() == 0 ? "run_user = estafeta\n" : "");
	assert_int_equal(fclose(f), 0);
	e->pid = fork();
	assert_true(e->pid >= 0);
	if (e->pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);

		die_with_parent();
		if (fd == -1 || setsid() == -1 || dup2(fd, 1) == -1 ||
		    dup2(fd, 2) == -1)
			_exit(126);
		(void)execl(e->bin, e->bin, "-f", "-c", e->conf, (char *)NULL);
		_exit(127);
	}
	deadline = now_ms() + 20000;
	while (!estd_ready(e)) {
		int status;

		if (waitpid(e->pid, &status, WNOHANG) == e->pid)
			fail_msg("estafetad exited; see %s", log);
		if (now_ms() > deadline)
			fail_msg("estafetad did not start; see %s", log);
		(void)usleep(20000);
	}
	/* Users after the start: estafetad makes spool_dir. */
	argv[0] = e->ctl;
	argv[1] = "-c";
	argv[2] = e->conf;
	argv[3] = "user";
	argv[4] = "add";
	argv[5] = "alice@example.test";
	argv[6] = NULL;
	if (estd_run(argv, "Alice's secret: 42\n", log) != 0)
		fail_msg("estafetactl user add failed; see %s", log);
	return 1;
}

static void
estd_stop(struct estd *e)
{
	long long deadline = now_ms() + 20000;
	int status;

	(void)kill(e->pid, SIGTERM);
	while (waitpid(e->pid, &status, WNOHANG) != e->pid) {
		if (now_ms() > deadline) {
			(void)kill(-e->pid, SIGKILL);	/* its group */
			(void)waitpid(e->pid, &status, 0);
			break;
		}
		(void)usleep(20000);
	}
	(void)kill(-e->pid, SIGKILL);	/* any child left behind */
}

/* The spooled message from sender, or NULL. */
static struct spool_env *
estd_find(struct estd *e, const char *sender, struct buf *content)
{
	struct spool_env *env = NULL;
	const char *errstr;
	struct dirent *de;
	char path[128];
	DIR *d;
	int dfd;

	(void)snprintf(path, sizeof(path), "%s/spool/queue", e->dir);
	assert_non_null(d = opendir(path));
	dfd = dirfd(d);
	while ((de = readdir(d)) != NULL) {
		if (!spool_valid_id(de->d_name))
			continue;
		buf_reset(content);
		if (spool_read(dfd, de->d_name, &env, content, &errstr) != 1)
			fail_msg("spool_read %s: %s", de->d_name, errstr);
		if (strcmp(env->sender, sender) == 0)
			break;
		spool_env_free(&env);
	}
	(void)closedir(d);
	return env;
}

static int
ends_with(const struct buf *b, const char *s)
{
	size_t n = strlen(s);

	return b->len >= n && memcmp(b->data + b->len - n, s, n) == 0;
}

static void
test_estafetad(void **state)
{
	static const char unstuffed[] = "Subject: dots\r\n\r\n.leading\r\n"
	    "..two\r\nno dot\r\n.\r\nbare\r\nlf\r\n.\r\nend\r\n";
	struct spool_rcpt rc[2] = {
		{ "x@example.test", "rfc822;x+tag@example.test",
		  SPOOL_NOTIFY_SUCCESS | SPOOL_NOTIFY_DELAY },
		{ "y@example.test", NULL, SPOOL_NOTIFY_NEVER },
	};
	struct smtpc_opts o = opts();
	struct smtpc_result res[2];
	const struct smtpc_caps *caps;
	struct buf content = BUF_INIT(0);
	struct spool_env env, *got;
	struct smtpc *s;
	struct smtpc_result err;
	struct estd e;

	(void)state;
	if (!estd_start(&e))
		skip();
	o.tls = SMTPC_TLS_VERIFY;
	o.tls_ctx = cli;
	o.tls_verify_name = "mx.example.test";
	o.auth_user = "alice@example.test";
	o.auth_pass = "Alice's secret: 42";
	s = smtpc_open((struct sockaddr *)&e.sin, sizeof(e.sin), &o, &err);
	if (s == NULL) {
		estd_stop(&e);
		fail_msg("smtpc_open: %d %s %s (log in %s)", err.code,
		    err.enhanced, err.text, e.dir);
	}
	caps = smtpc_caps(s);
	assert_true(caps->tls && caps->authenticated && caps->pipelining &&
	    caps->eightbitmime && caps->smtputf8 && caps->dsn &&
	    caps->chunking && caps->enhancedstatuscodes && caps->size > 0);

	env_init(&env, 2, 0);
	env.sender = "alice@example.test";
	env.rcpts = rc;
	env.ret = SPOOL_RET_HDRS;
	env.envid = "env=id+1";
	env.body = SPOOL_BODY_8BITMIME;
	assert_int_equal(send_mem(s, &env, dots, 3, res), 1);
	expect_res(&res[0], 250, "2.0.0", 0, 0, "");
	expect_res(&res[1], 250, "2.0.0", 0, 0, "");
	results_free(res, 2);
	assert_int_equal(smtpc_reusable(s), 1);

	env_init(&env, 1, 0);
	env.sender = "";
	env.smtputf8 = 1;
	env.rcpts = rc + 1;
	assert_int_equal(send_mem(s, &env, msg1, 0, res), 1);
	expect_res(&res[0], 250, "2.0.0", 0, 0, "");
	results_free(res, 1);
	/* Sender identity: alice may not send as bob. */
	env_init(&env, 1, 0);
	env.sender = "bob@example.test";
	assert_int_equal(send_mem(s, &env, msg1, 0, res), 0);
	expect_res(&res[0], 553, "5.7.1", 0, 1, "");
	results_free(res, 1);
	assert_int_equal(smtpc_reusable(s), 1);
	smtpc_close(&s);

	got = estd_find(&e, "alice@example.test", &content);
	assert_non_null(got);
	assert_int_equal(got->nrcpt, 2);
	assert_string_equal(got->rcpts[0].addr, "x@example.test");
	assert_string_equal(got->rcpts[0].orcpt, "rfc822;x+tag@example.test");
	assert_int_equal(got->rcpts[0].notify, SPOOL_NOTIFY_SUCCESS |
	    SPOOL_NOTIFY_DELAY);
	assert_string_equal(got->rcpts[1].addr, "y@example.test");
	assert_null(got->rcpts[1].orcpt);
	assert_int_equal(got->rcpts[1].notify, SPOOL_NOTIFY_NEVER);
	assert_string_equal(got->envid, "env=id+1");
	assert_int_equal(got->ret, SPOOL_RET_HDRS);
	assert_int_equal(got->body, SPOOL_BODY_8BITMIME);
	assert_int_equal(got->smtputf8, 0);
	assert_string_equal(got->auth_user, "alice@example.test");
	if (!ends_with(&content, unstuffed))
		fail_msg("spooled content: \"%s\"", buf_cstr(&content));
	spool_env_free(&got);

	got = estd_find(&e, "", &content);
	assert_non_null(got);
	assert_int_equal(got->smtputf8, 1);
	assert_true(ends_with(&content, msg1));
	spool_env_free(&got);
	buf_free(&content);
	estd_stop(&e);
	rmtree(e.dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_parse_enhanced),
		cmocka_unit_test(test_parse_limits),
		cmocka_unit_test(test_pipelined_mix),
		cmocka_unit_test(test_chunks_and_reuse),
		cmocka_unit_test(test_content_edges),
		cmocka_unit_test(test_content_large),
		cmocka_unit_test(test_content_random),
		cmocka_unit_test(test_lockstep_no_dsn),
		cmocka_unit_test(test_helo_fallback),
		cmocka_unit_test(test_hello_refused),
		cmocka_unit_test(test_greeting_refused),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_long_replies),
		cmocka_unit_test(test_orcpt_utf8),
		cmocka_unit_test(test_orcpt_invalid),
		cmocka_unit_test(test_bdat),
		cmocka_unit_test(test_bdat_oneshot),
		cmocka_unit_test(test_bdat_refused),
		cmocka_unit_test(test_bdat_binarymime),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_pipelined_refusals),
		cmocka_unit_test(test_421_midway),
		cmocka_unit_test(test_idle_421),
		cmocka_unit_test(test_local_refusals),
		cmocka_unit_test(test_smtputf8),
		cmocka_unit_test(test_downgrade),
		cmocka_unit_test(test_downgrade_utf8_peer),
		cmocka_unit_test(test_drop_after_dot),
		cmocka_unit_test(test_drop_during_data),
		cmocka_unit_test(test_read_error),
		cmocka_unit_test(test_lmtp),
		cmocka_unit_test(test_ipv6),
		cmocka_unit_test(test_connect_refused),
		cmocka_unit_test(test_timeout_open),
		cmocka_unit_test(test_timeout_send),
		cmocka_unit_test(test_timeout_data_block),
		cmocka_unit_test(test_timeout_quit_rset),
		cmocka_unit_test(test_timeout_connect),
		cmocka_unit_test(test_tls_may),
		cmocka_unit_test(test_tls_required),
		cmocka_unit_test(test_auth),
		cmocka_unit_test(test_sink_basic),
		cmocka_unit_test(test_sink_no_ext),
		cmocka_unit_test(test_sink_refusals),
		cmocka_unit_test(test_sink_drop_after_dot),
		cmocka_unit_test(test_sink_slow),
		cmocka_unit_test(test_sink_lmtp),
		cmocka_unit_test(test_sink_helo),
		cmocka_unit_test(test_sink_auth),
		cmocka_unit_test(test_sink_ipv6),
		cmocka_unit_test(test_estafetad),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
