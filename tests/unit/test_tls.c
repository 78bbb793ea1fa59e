/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * Unit tests for tls and the TLS side of conn. The group set-up makes a
 * throw-away CA and server certificates with the OpenSSL API in a mkdtemp
 * directory (nothing checked in): "a" = mail.example.test + *.example.test,
 * "b" = mx.other.test, "cn" = CN cn.only.test without SAN, "old" = expired,
 * plus a second, untrusted CA and a few broken files. Loading is checked for
 * success and for each mistake an operator can make; handshakes run over
 * socketpairs with a peer thread using conn_starttls_client (and a raw
 * OpenSSL TLS 1.2-only client), and with Python's ssl module as an
 * independent peer on both sides: data both ways, SNI selection, name and
 * chain verification, minimum version, deadlines (handshake and read), the
 * STARTTLS injection guard. Only the main thread asserts: peers record what
 * they saw and the test checks it after pthread_join.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "lib/buf.h"
#include "lib/cfg.h"
#include "lib/conn.h"
#include "lib/tls.h"

#define DAY		(24L * 3600)
#define DEADLINE_MS	10000

static char dir[64];		/* certificates and keys */

/* dir/name; a few rotating buffers so several fit in one call. */
static const char *
fpath(const char *name)
{
	static char bufs[8][128];
	static int next;
	char *p = bufs[next++ % 8];

	assert_true(snprintf(p, sizeof(bufs[0]), "%s/%s", dir, name) <
	    (int)sizeof(bufs[0]));
	return p;
}

/* ------------------------------------------------------------ fixtures */

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

/* ca NULL: a self-signed CA. Validity from now + from to now + until. */
static X509 *
mkcert(EVP_PKEY *key, const char *cn, const char *san, X509 *ca,
    EVP_PKEY *cakey, long from, long until)
{
	static long serial = 1;
	X509 *x = X509_new();
	X509_NAME *name;

	assert_non_null(x);
	assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x),
	    serial++), 1);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), from));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), until));
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
		add_ext(x, x, NID_authority_key_identifier, "keyid:always");
	} else {
		add_ext(x, ca, NID_basic_constraints, "critical,CA:FALSE");
		add_ext(x, ca, NID_key_usage, "critical,digitalSignature");
		add_ext(x, ca, NID_ext_key_usage, "serverAuth");
		add_ext(x, ca, NID_subject_key_identifier, "hash");
		add_ext(x, ca, NID_authority_key_identifier, "keyid:always");
		if (san != NULL)
			add_ext(x, ca, NID_subject_alt_name, san);
	}
	assert_true(X509_sign(x, ca != NULL ? cakey : key, EVP_sha256()) > 0);
	return x;
}

static FILE *
wopen(const char *name, mode_t mode)
{
	int fd = open(fpath(name), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    mode);
	FILE *f;

	assert_true(fd >= 0);
	assert_int_equal(fchmod(fd, mode), 0);	/* whatever the umask */
	f = fdopen(fd, "w");
	assert_non_null(f);
	return f;
}

static void
write_cert(const char *name, X509 *x)
{
	FILE *f = wopen(name, 0644);

	assert_int_equal(PEM_write_X509(f, x), 1);
	assert_int_equal(fclose(f), 0);
}

static void
write_key(const char *name, EVP_PKEY *k, const char *pass, mode_t mode)
{
	FILE *f = wopen(name, mode);

	assert_int_equal(PEM_write_PrivateKey(f, k, pass != NULL ?
	    EVP_aes_256_cbc() : NULL, (const unsigned char *)pass,
	    pass != NULL ? (int)strlen(pass) : 0, NULL, NULL), 1);
	assert_int_equal(fclose(f), 0);
}

static void
write_text(const char *name, const char *text)
{
	FILE *f = wopen(name, 0600);

	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
}

/* name.pem + name.key signed by ca. */
static void
mkleaf(const char *name, const char *cn, const char *san, X509 *ca,
    EVP_PKEY *cakey, long from, long until)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	char file[64];
	X509 *x;

	assert_non_null(k);
	x = mkcert(k, cn, san, ca, cakey, from, until);
	(void)snprintf(file, sizeof(file), "%s.pem", name);
	write_cert(file, x);
	(void)snprintf(file, sizeof(file), "%s.key", name);
	write_key(file, k, NULL, 0600);
	X509_free(x);
	EVP_PKEY_free(k);
}

static int
group_setup(void **state)
{
	EVP_PKEY *cakey, *k;
	X509 *ca, *x;

	(void)state;
	(void)signal(SIGPIPE, SIG_IGN);	/* as the daemons do */
	(void)snprintf(dir, sizeof(dir), "/tmp/test_tls.XXXXXX");
	assert_non_null(mkdtemp(dir));

	cakey = EVP_EC_gen("P-256");
	assert_non_null(cakey);
	ca = mkcert(cakey, "Estafeta Test CA", NULL, NULL, NULL, -DAY,
	    30 * DAY);
	write_cert("ca.pem", ca);
	mkleaf("a", "mail.example.test",
	    "DNS:mail.example.test,DNS:*.example.test", ca, cakey, -DAY,
	    30 * DAY);
	mkleaf("b", "mx.other.test", "DNS:mx.other.test", ca, cakey, -DAY,
	    30 * DAY);
	mkleaf("cn", "cn.only.test", NULL, ca, cakey, -DAY, 30 * DAY);
	mkleaf("old", "old.example.test", "DNS:old.example.test", ca, cakey,
	    -30 * DAY, -DAY);
	X509_free(ca);
	EVP_PKEY_free(cakey);

	/* An unrelated CA: chains from it do not verify against ca.pem. */
	k = EVP_EC_gen("P-256");
	assert_non_null(k);
	x = mkcert(k, "Other CA", NULL, NULL, NULL, -DAY, 30 * DAY);
	write_cert("other-ca.pem", x);
	X509_free(x);
	EVP_PKEY_free(k);

	/* Broken files. */
	write_text("garbage.pem", "this is not PEM at all\n");
	k = EVP_EC_gen("P-256");
	assert_non_null(k);
	write_key("enc.key", k, "secret", 0600);
	EVP_PKEY_free(k);
	return 0;
}

static int
group_teardown(void **state)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	(void)state;
	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			(void)unlink(fpath(de->d_name)); /* best effort */
	(void)closedir(d);
	assert_int_equal(rmdir(dir), 0);
	return 0;
}

/* ------------------------------------------------------------ loading */

struct srvspec {
	const char	*certs[4];	/* names in dir, NULL-terminated */
	const char	*keys[4];
	int		 min_version;
	const char	*ciphers, *ciphersuites, *groups;
};

/* tls_server_new on files in dir; err gets the text. */
static int
load(const struct srvspec *sp, struct tls_server **srv_r, struct buf *err)
{
	char *cv[4], *kv[4];
	struct cfg_list certs = { 0, cv }, keys = { 0, kv };
	struct tls_server_cfg cfg = {
		&certs, &keys, sp->min_version,
		sp->ciphers ? sp->ciphers : "",
		sp->ciphersuites ? sp->ciphersuites : "",
		sp->groups ? sp->groups : "",
	};
	int r;

	buf_reset(err);
	for (; certs.n < 4 && sp->certs[certs.n] != NULL; certs.n++)
		cv[certs.n] = strdup(fpath(sp->certs[certs.n]));
	for (; keys.n < 4 && sp->keys[keys.n] != NULL; keys.n++)
		kv[keys.n] = strdup(fpath(sp->keys[keys.n]));
	r = tls_server_new(&cfg, srv_r, err);
	while (certs.n > 0)
		free(cv[--certs.n]);
	while (keys.n > 0)
		free(kv[--keys.n]);
	return r;
}

static void
expect_load_error(const struct srvspec *sp, const char *file,
    const char *text)
{
	struct tls_server *srv = (struct tls_server *)&srv;
	struct buf err = BUF_INIT(0);
	char want[256];

	assert_int_equal(load(sp, &srv, &err), -1);
	assert_null(srv);
	if (file != NULL)
		(void)snprintf(want, sizeof(want), "%s: %s", fpath(file),
		    text);
	else
		(void)snprintf(want, sizeof(want), "%s", text);
	if (strstr(buf_cstr(&err), want) == NULL)
		fail_msg("wanted \"%s\" in \"%s\"", want, buf_cstr(&err));
	buf_free(&err);
}

static void
test_name_match(void **state)
{
	(void)state;
	assert_true(tls_name_match("mail.example.test", "mail.example.test"));
	assert_true(tls_name_match("mail.example.test", "MAIL.Example.TEST"));
	assert_false(tls_name_match("mail.example.test", "mail.example.tes"));
	assert_true(tls_name_match("*.example.test", "x.example.test"));
	assert_true(tls_name_match("*.example.test", "X.EXAMPLE.test"));
	assert_false(tls_name_match("*.example.test", "example.test"));
	assert_false(tls_name_match("*.example.test", ".example.test"));
	assert_false(tls_name_match("*.example.test", "a.b.example.test"));
	assert_false(tls_name_match("*.example.test", "x.example.testx"));
	assert_false(tls_name_match("*.example.test", "*.example.test.x"));
	assert_false(tls_name_match("*example.test", "xexample.test"));
	assert_false(tls_name_match("x.*.test", "x.y.test"));
}

static void
test_load_ok(void **state)
{
	struct srvspec sp = { .certs = { "a.pem", "b.pem", "cn.pem" },
	    .keys = { "a.key", "b.key", "cn.key" }, .min_version = TLS_MIN_12,
	    .ciphers = "HIGH:!aNULL",
	    .ciphersuites = "TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256",
	    .groups = "X25519:P-256" };
	struct buf err = BUF_INIT(0);
	struct tls_server *srv;

	(void)state;
	assert_int_equal(load(&sp, &srv, &err), 1);
	assert_non_null(srv);
	assert_string_equal(buf_cstr(&err), "");	/* not even a warning */
	tls_server_free(&srv);
	assert_null(srv);
	tls_server_free(&srv);				/* NULL is fine */
	buf_free(&err);
}

static void
test_load_errors(void **state)
{
	struct srvspec sp;
	struct buf err = BUF_INIT(0);
	struct tls_server *srv;

	(void)state;
	/* A key that belongs to another certificate. */
	sp = (struct srvspec){ .certs = { "a.pem", "b.pem" },
	    .keys = { "a.key", "a.key" } };
	expect_load_error(&sp, "a.key", "private key does not match the "
	    "certificate in ");
	/* Missing files, either one. */
	sp = (struct srvspec){ .certs = { "nope.pem" }, .keys = { "a.key" } };
	expect_load_error(&sp, "nope.pem", "No such file or directory");
	sp = (struct srvspec){ .certs = { "a.pem" }, .keys = { "nope.key" } };
	expect_load_error(&sp, "nope.key", "No such file or directory");
	/* Not PEM. */
	sp = (struct srvspec){ .certs = { "garbage.pem" },
	    .keys = { "a.key" } };
	expect_load_error(&sp, "garbage.pem", "no PEM certificate in the "
	    "file");
	sp = (struct srvspec){ .certs = { "a.pem" },
	    .keys = { "garbage.pem" } };
	expect_load_error(&sp, "garbage.pem", "no PEM private key in the "
	    "file\n");
	/* A key file holding a certificate. */
	sp = (struct srvspec){ .certs = { "a.pem" }, .keys = { "a.pem" } };
	expect_load_error(&sp, "a.pem", "no PEM private key in the file\n");
	/* Passphrase-protected: refused, and nothing prompts on stdin. */
	sp = (struct srvspec){ .certs = { "a.pem" }, .keys = { "enc.key" } };
	expect_load_error(&sp, "enc.key", "private key is protected by a "
	    "passphrase");
	/* List shapes. */
	sp = (struct srvspec){ .certs = { "a.pem", "b.pem" },
	    .keys = { "a.key" } };
	expect_load_error(&sp, NULL, "tls_cert_files has 2 entries but "
	    "tls_key_files 1");
	sp = (struct srvspec){ .certs = { NULL }, .keys = { NULL } };
	expect_load_error(&sp, NULL, "tls_cert_files: no certificate");
	/* Protocol settings. */
	sp = (struct srvspec){ .certs = { "a.pem" }, .keys = { "a.key" },
	    .ciphers = "NOPE-CIPHER" };
	expect_load_error(&sp, NULL, "tls_ciphers: no usable cipher in "
	    "\"NOPE-CIPHER\"");
	sp = (struct srvspec){ .certs = { "a.pem" }, .keys = { "a.key" },
	    .ciphersuites = "TLS_NOPE" };
	expect_load_error(&sp, NULL, "tls_ciphersuites: bad TLS 1.3 suite "
	    "list \"TLS_NOPE\"");
	sp = (struct srvspec){ .certs = { "a.pem" }, .keys = { "a.key" },
	    .groups = "nogroup" };
	expect_load_error(&sp, NULL, "tls_groups: bad group list");

	/* Every broken entry is reported in one go, the good one is not. */
	sp = (struct srvspec){ .certs = { "nope.pem", "a.pem", "garbage.pem" },
	    .keys = { "a.key", "a.key", "b.key" } };
	assert_int_equal(load(&sp, &srv, &err), -1);
	assert_null(srv);
	assert_non_null(strstr(buf_cstr(&err), "nope.pem: No such file"));
	assert_non_null(strstr(buf_cstr(&err), "garbage.pem: no PEM "));
	assert_null(strstr(buf_cstr(&err), "a.pem"));
	assert_null(strstr(buf_cstr(&err), "a.key"));
	buf_free(&err);
}

static void
test_load_warnings(void **state)
{
	struct srvspec sp = { .certs = { "a.pem", "old.pem" },
	    .keys = { "a.key", "old.key" } };
	struct buf err = BUF_INIT(0);
	struct tls_server *srv;
	char want[256];

	(void)state;
	/* Expired: loads, with a warning naming the file and the date. */
	assert_int_equal(load(&sp, &srv, &err), 1);
	assert_non_null(srv);
	(void)snprintf(want, sizeof(want), "warning: %s: certificate expired "
	    "on 20", fpath("old.pem"));
	if (strstr(buf_cstr(&err), want) != buf_cstr(&err))
		fail_msg("wanted \"%s\" in \"%s\"", want, buf_cstr(&err));
	tls_server_free(&srv);

	/* A key readable by others. */
	sp = (struct srvspec){ .certs = { "b.pem", "cn.pem" },
	    .keys = { "b.key", "cn.key" } };
	assert_int_equal(chmod(fpath("cn.key"), 0644), 0);
	assert_int_equal(load(&sp, &srv, &err), 1);
	assert_int_equal(chmod(fpath("cn.key"), 0600), 0);
	(void)snprintf(want, sizeof(want), "warning: %s: private key is "
	    "accessible to group or others (mode 644)\n", fpath("cn.key"));
	assert_string_equal(buf_cstr(&err), want);
	tls_server_free(&srv);
	buf_free(&err);
}

static void
test_client_ctx(void **state)
{
	struct buf err = BUF_INIT(0);
	struct tls_client *cli = NULL;

	(void)state;
	assert_int_equal(tls_client_new(fpath("ca.pem"), TLS_MIN_12, &cli,
	    &err), 1);
	assert_non_null(cli);
	tls_client_free(&cli);
	assert_null(cli);
	assert_int_equal(tls_client_new(NULL, TLS_MIN_13, &cli, &err), 1);
	tls_client_free(&cli);
	assert_string_equal(buf_cstr(&err), "");

	assert_int_equal(tls_client_new(fpath("nope.pem"), TLS_MIN_12, &cli,
	    &err), -1);
	assert_null(cli);
	assert_non_null(strstr(buf_cstr(&err), "nope.pem: No such file"));
	buf_reset(&err);
	assert_int_equal(tls_client_new(fpath("garbage.pem"), TLS_MIN_12,
	    &cli, &err), -1);
	assert_non_null(strstr(buf_cstr(&err), "garbage.pem: cannot load CA "
	    "certificates: "));
	buf_free(&err);
}

/* ------------------------------------------------------------ handshakes */

/*
 * The exchange every handshake test runs once TLS is up: the client sends
 * nlines lines of LINE_LEN bytes then "QUIT"; the server counts them and
 * answers with its own lines, then "BYE"; both close.
 */
#define LINE_LEN	100

struct peer {
	int		 fd;
	struct tls_client *cli;
	const char	*servername, *verify_name;
	int		 tls12_only;	/* raw OpenSSL client, max TLS 1.2 */
	int		 plain_banner;	/* read a plaintext line first */
	int		 read_first;	/* after the handshake, read a line */
	size_t		 nlines;
	/* Results. */
	int		 rc;
	char		 err[256], version[32], servername_seen[64];
	char		 banner[64], first[64];
	size_t		 lines_in;
	unsigned long long bytes_out;
	int		 bye;
	pthread_t	 tid;
};

static void
copy(char *dst, size_t size, const char *s)
{
	(void)snprintf(dst, size, "%s", s != NULL ? s : "(null)");
}

static void
peer_exchange(struct peer *p, struct conn *c)
{
	char line[LINE_LEN + 1];
	const char *l;
	size_t i, len;

	memset(line, 'x', LINE_LEN - 2);
	memcpy(line + LINE_LEN - 2, "\r\n", 3);
	for (i = 0; i < p->nlines; i++)
		if (conn_write(c, line, LINE_LEN) == -1)
			return;
	if (conn_printf(c, "QUIT\r\n") == -1 || conn_flush(c) == -1)
		return;
	while (conn_getline(c, 1000, &l, &len) == 1) {
		if (len == 5 && memcmp(l, "BYE\r\n", 5) == 0) {
			p->bye = 1;
			break;
		}
		p->lines_in++;
	}
	p->bytes_out = c->bytes_out;
}

static void *
peer_main(void *arg)
{
	struct peer *p = arg;
	struct conn c;
	const char *errstr = NULL, *l;
	size_t len;

	conn_init(&c, p->fd);
	conn_set_deadline(&c, DEADLINE_MS);
	if (p->plain_banner && conn_getline(&c, 100, &l, &len) == 1)
		(void)snprintf(p->banner, sizeof(p->banner), "%.*s",
		    (int)len, l);
	p->rc = conn_starttls_client(&c, p->cli, p->servername,
	    p->verify_name, &errstr);
	if (p->rc == 1) {
		copy(p->version, sizeof(p->version), conn_tls_version(&c));
		copy(p->servername_seen, sizeof(p->servername_seen),
		    conn_tls_servername(&c));
		if (p->read_first && conn_getline(&c, 100, &l, &len) == 1)
			(void)snprintf(p->first, sizeof(p->first), "%.*s",
			    (int)len, l);
		peer_exchange(p, &c);
	} else
		copy(p->err, sizeof(p->err), errstr);
	conn_close(&c);
	return NULL;
}

/* A TLS 1.2-only client straight on OpenSSL, blocking. */
static void *
peer12_main(void *arg)
{
	struct peer *p = arg;
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	char rbuf[256];
	SSL *ssl;
	int n;

	if (ctx == NULL || SSL_CTX_set_max_proto_version(ctx,
	    TLS1_2_VERSION) != 1 || (ssl = SSL_new(ctx)) == NULL) {
		copy(p->err, sizeof(p->err), "set-up failed");
		p->rc = -1;
		SSL_CTX_free(ctx);
		return NULL;
	}
	(void)fcntl(p->fd, F_SETFL, 0);		/* blocking */
	(void)SSL_set_fd(ssl, p->fd);
	if (p->servername != NULL)
		(void)SSL_set_tlsext_host_name(ssl, p->servername);
	if (SSL_connect(ssl) != 1) {
		p->rc = -1;
		copy(p->err, sizeof(p->err),
		    ERR_reason_error_string(ERR_peek_last_error()));
	} else {
		p->rc = 1;
		copy(p->version, sizeof(p->version), SSL_get_version(ssl));
		(void)SSL_write(ssl, "QUIT\r\n", 6);
		while ((n = SSL_read(ssl, rbuf, sizeof(rbuf))) > 0)
			if (n >= 5 && memcmp(rbuf + n - 5, "BYE\r\n", 5) == 0)
				p->bye = 1;
		(void)SSL_shutdown(ssl);
	}
	ERR_clear_error();
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	(void)close(p->fd);
	return NULL;
}

/* A non-blocking socketpair: sv[0] for the server conn, sv[1] the peer. */
static void
pair(int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0, sv), 0);
}

static void
peer_start(struct peer *p, int fd)
{
	p->fd = fd;
	assert_int_equal(pthread_create(&p->tid, NULL, p->tls12_only ?
	    peer12_main : peer_main, p), 0);
}

static void
peer_join(struct peer *p)
{
	assert_int_equal(pthread_join(p->tid, NULL), 0);
}

/* Server half of the exchange; returns the client's line count. */
static size_t
server_exchange(struct conn *c, size_t reply_lines)
{
	const char *l;
	size_t len, n = 0, i;

	for (;;) {
		assert_int_equal(conn_getline(c, 1000, &l, &len), 1);
		if (len == 6 && memcmp(l, "QUIT\r\n", 6) == 0)
			break;
		assert_int_equal(len, LINE_LEN);
		n++;
	}
	for (i = 0; i < reply_lines; i++)
		assert_int_equal(conn_printf(c, "250-line %zu of the reply, "
		    "long enough to make the output span many records\r\n",
		    i), 1);
	assert_int_equal(conn_printf(c, "BYE\r\n"), 1);
	assert_int_equal(conn_flush(c), 1);
	return n;
}

/*
 * One handshake with p as the client; on success the exchange runs and
 * the server's view is returned in the strings (copied); rc of the server.
 */
struct seen {
	int		 rc;
	char		 err[256], version[32], cipher[64], sni[64], cert[64];
	int		 bits;
};

static void
handshake(struct tls_server *srv, struct peer *p, struct seen *s)
{
	const char *errstr = NULL;
	struct conn c;
	int sv[2];

	memset(s, 0, sizeof(*s));
	pair(sv);
	conn_init(&c, sv[0]);
	conn_set_deadline(&c, DEADLINE_MS);
	peer_start(p, sv[1]);
	s->rc = conn_starttls_server(&c, srv, &errstr);
	if (s->rc == 1) {
		assert_int_equal(conn_is_tls(&c), 1);
		copy(s->version, sizeof(s->version), conn_tls_version(&c));
		copy(s->cipher, sizeof(s->cipher), conn_tls_cipher(&c));
		copy(s->sni, sizeof(s->sni), conn_tls_servername(&c));
		copy(s->cert, sizeof(s->cert), conn_tls_certname(&c));
		s->bits = conn_tls_bits(&c);
		assert_int_equal(server_exchange(&c, 0), 0);
	} else {
		assert_non_null(errstr);
		copy(s->err, sizeof(s->err), errstr);
		assert_int_not_equal(c.err, CONN_OK);
		assert_int_equal(conn_is_tls(&c), 0);
		assert_null(conn_tls_version(&c));
	}
	conn_close(&c);
	peer_join(p);
}

static struct tls_client *
client(const char *ca)
{
	struct buf err = BUF_INIT(0);
	struct tls_client *cli;

	assert_int_equal(tls_client_new(fpath(ca), TLS_MIN_12, &cli, &err),
	    1);
	buf_free(&err);
	return cli;
}

static struct tls_server *
server(const struct srvspec *sp)
{
	struct buf err = BUF_INIT(0);
	struct tls_server *srv;

	assert_int_equal(load(sp, &srv, &err), 1);
	buf_free(&err);
	return srv;
}

static const struct srvspec spec_abc = {
    .certs = { "a.pem", "b.pem", "cn.pem" },
    .keys = { "a.key", "b.key", "cn.key" } };

/* Big transfers both ways through getline/write/flush, and the counters. */
static void
test_data(void **state)
{
	struct tls_server *srv = server(&spec_abc);
	struct peer p = { .servername = "mail.example.test",
	    .verify_name = "mail.example.test", .nlines = 20000 };
	const char *errstr = NULL, *l;
	struct conn c;
	size_t len, n;
	int sv[2];

	(void)state;
	p.cli = client("ca.pem");
	pair(sv);
	conn_init(&c, sv[0]);
	conn_set_deadline(&c, DEADLINE_MS);
	peer_start(&p, sv[1]);
	assert_int_equal(conn_starttls_server(&c, srv, &errstr), 1);
	assert_string_equal(conn_tls_version(&c), "TLSv1.3");
	assert_non_null(conn_tls_cipher(&c));
	assert_memory_equal(conn_tls_cipher(&c), "TLS_", 4);
	assert_true(conn_tls_bits(&c) >= 128);
	assert_string_equal(conn_tls_servername(&c), "mail.example.test");
	assert_string_equal(conn_tls_certname(&c), "mail.example.test");
	/* 2 MB in 100-byte lines: many records, partial reads. */
	n = server_exchange(&c, 30000);
	assert_int_equal(n, 20000);
	assert_int_equal(c.bytes_in, 20000 * LINE_LEN + 6);
	/* The client closes with close_notify: a clean EOF here. */
	assert_int_equal(conn_getline(&c, 1000, &l, &len), -1);
	assert_int_equal(c.err, CONN_EOF);
	assert_string_equal(conn_strerror(&c), "peer closed");
	n = (size_t)c.bytes_out;
	conn_close(&c);
	peer_join(&p);
	assert_int_equal(p.rc, 1);
	assert_string_equal(p.version, "TLSv1.3");
	assert_string_equal(p.servername_seen, "mail.example.test");
	assert_int_equal(p.lines_in, 30000);
	assert_true(p.bye);
	assert_int_equal(p.bytes_out, 20000 * LINE_LEN + 6);
	assert_true(n > 30000 * 60);
	tls_client_free(&p.cli);
	tls_server_free(&srv);
}

/* Lines pipelined in one record: pending after the first, none stall. */
static void
test_pending(void **state)
{
	struct tls_server *srv = server(&spec_abc);
	struct peer p = { .nlines = 3 };
	const char *errstr = NULL, *l;
	struct conn c;
	size_t len;
	int sv[2];

	(void)state;
	p.cli = client("ca.pem");
	pair(sv);
	conn_init(&c, sv[0]);
	conn_set_deadline(&c, DEADLINE_MS);
	peer_start(&p, sv[1]);
	assert_int_equal(conn_starttls_server(&c, srv, &errstr), 1);
	assert_int_equal(conn_getline(&c, 1000, &l, &len), 1);
	/* The rest came in the same write; it may sit in rbuf or OpenSSL. */
	while (!conn_pending(&c))
		assert_int_equal(conn_fill(&c), 1);
	assert_int_equal(conn_getline(&c, 1000, &l, &len), 1);
	assert_int_equal(conn_getline(&c, 1000, &l, &len), 1);
	assert_int_equal(conn_getline(&c, 1000, &l, &len), 1);
	assert_memory_equal(l, "QUIT\r\n", 6);
	assert_int_equal(conn_printf(&c, "BYE\r\n"), 1);
	assert_int_equal(conn_flush(&c), 1);
	conn_close(&c);
	peer_join(&p);
	assert_true(p.bye);
	tls_client_free(&p.cli);
	tls_server_free(&srv);
}

/*
 * A read that times out leaves the session usable: the server can still
 * say 421 through TLS, as smtpd does on an idle client.
 */
static void
test_read_timeout(void **state)
{
	struct tls_server *srv = server(&spec_abc);
	struct peer p = { .read_first = 1 };
	const char *errstr = NULL, *l;
	struct conn c;
	size_t len;
	int sv[2];

	(void)state;
	p.cli = client("ca.pem");
	pair(sv);
	conn_init(&c, sv[0]);
	conn_set_deadline(&c, DEADLINE_MS);
	peer_start(&p, sv[1]);
	assert_int_equal(conn_starttls_server(&c, srv, &errstr), 1);
	conn_set_deadline(&c, 100);
	assert_int_equal(conn_getline(&c, 1000, &l, &len), -1);
	assert_int_equal(c.err, CONN_ETIMEOUT);
	assert_string_equal(conn_strerror(&c), "timeout");
	c.err = CONN_OK;
	conn_set_deadline(&c, DEADLINE_MS);
	assert_int_equal(conn_printf(&c, "421 4.4.2 timeout\r\n"), 1);
	assert_int_equal(conn_flush(&c), 1);
	assert_int_equal(server_exchange(&c, 0), 0);
	conn_close(&c);
	peer_join(&p);
	assert_string_equal(p.first, "421 4.4.2 timeout\r\n");
	assert_true(p.bye);
	tls_client_free(&p.cli);
	tls_server_free(&srv);
}

/* A second STARTTLS on a TLS connection is a caller bug: abort. */
static void
test_starttls_twice(void **state)
{
	struct tls_server *srv = server(&spec_abc);
	struct peer p = { 0 };
	const char *errstr = NULL;
	struct conn c;
	int sv[2], status;
	pid_t pid;

	(void)state;
	p.cli = client("ca.pem");
	pair(sv);
	conn_init(&c, sv[0]);
	conn_set_deadline(&c, DEADLINE_MS);
	peer_start(&p, sv[1]);
	assert_int_equal(conn_starttls_server(&c, srv, &errstr), 1);
	if ((pid = fork()) == 0) {
		(void)close(STDERR_FILENO);	/* the panic line */
		(void)conn_starttls_server(&c, srv, &errstr);
		_exit(0);
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGABRT);
	assert_int_equal(server_exchange(&c, 0), 0);
	conn_close(&c);
	peer_join(&p);
	assert_true(p.bye);
	tls_client_free(&p.cli);
	tls_server_free(&srv);
}

static void
expect_sni(struct tls_server *srv, struct tls_client *cli, const char *sni,
    const char *cert)
{
	struct peer p = { .cli = cli, .servername = sni, .verify_name = cert };
	struct seen s;

	handshake(srv, &p, &s);
	if (s.rc != 1 || p.rc != 1)
		fail_msg("sni %s: server \"%s\", client \"%s\"", sni, s.err,
		    p.err);
	assert_true(p.bye);
	assert_string_equal(s.sni, sni != NULL ? sni : "(null)");
	assert_string_equal(s.cert, cert);
}

static void
test_sni(void **state)
{
	struct tls_server *srv = server(&spec_abc);
	struct srvspec sp = { .certs = { "b.pem", "a.pem" },
	    .keys = { "b.key", "a.key" } };
	struct tls_client *cli = client("ca.pem");

	(void)state;
	/* The client verifies the name too: the right chain was sent. */
	expect_sni(srv, cli, "mx.other.test", "mx.other.test");
	expect_sni(srv, cli, "MX.Other.TEST", "mx.other.test");
	expect_sni(srv, cli, "cn.only.test", "cn.only.test");
	expect_sni(srv, cli, "mail.example.test", "mail.example.test");
	expect_sni(srv, cli, "unknown.test", "mail.example.test");
	expect_sni(srv, cli, NULL, "mail.example.test");
	tls_server_free(&srv);

	/* b first: the wildcard of a (not the default) is selected. */
	srv = server(&sp);
	expect_sni(srv, cli, "anything.example.test", "mail.example.test");
	expect_sni(srv, cli, "a.b.example.test", "mx.other.test");
	expect_sni(srv, cli, "example.test", "mx.other.test");
	expect_sni(srv, cli, NULL, "mx.other.test");
	tls_server_free(&srv);
	tls_client_free(&cli);
}

static void
test_verify(void **state)
{
	struct tls_server *srv = server(&spec_abc);
	struct tls_client *cli = client("ca.pem");
	struct tls_client *other = client("other-ca.pem");
	struct peer p;
	struct seen s;

	(void)state;
	/* A name the certificate does not carry. */
	p = (struct peer){ .cli = cli, .servername = "mx.other.test",
	    .verify_name = "mail.example.test" };
	handshake(srv, &p, &s);
	assert_int_equal(p.rc, -1);
	assert_string_equal(p.err, "certificate verification failed: "
	    "hostname mismatch");
	assert_int_equal(s.rc, -1);
	assert_true(s.err[0] != '\0');

	/* An IP literal: no SNI sent, checked against IP SANs (none). */
	p = (struct peer){ .cli = cli, .servername = "127.0.0.1",
	    .verify_name = "127.0.0.1" };
	handshake(srv, &p, &s);
	assert_int_equal(p.rc, -1);
	assert_string_equal(p.err, "certificate verification failed: "
	    "IP address mismatch");
	assert_true(s.err[0] != '\0');
	assert_string_equal(s.sni, "");

	/* A chain from a CA the client does not trust. */
	p = (struct peer){ .cli = other, .servername = "mx.other.test",
	    .verify_name = "mx.other.test" };
	handshake(srv, &p, &s);
	assert_int_equal(p.rc, -1);
	assert_string_equal(p.err, "certificate verification failed: "
	    "unable to get local issuer certificate");

	/* Opportunistic: no verification, anything goes. */
	p = (struct peer){ .cli = other, .servername = "mx.other.test" };
	handshake(srv, &p, &s);
	assert_int_equal(p.rc, 1);
	assert_int_equal(s.rc, 1);
	assert_string_equal(s.cert, "mx.other.test");
	tls_client_free(&cli);
	tls_client_free(&other);
	tls_server_free(&srv);
}

static void
test_min_version(void **state)
{
	struct srvspec sp13 = { .certs = { "a.pem", "b.pem" },
	    .keys = { "a.key", "b.key" }, .min_version = TLS_MIN_13 };
	struct tls_server *srv = server(&spec_abc);
	struct peer p = { .tls12_only = 1, .servername = "mx.other.test" };
	struct seen s;

	(void)state;
	/* 1.2 is still allowed by default: SNI works there too. */
	handshake(srv, &p, &s);
	assert_int_equal(s.rc, 1);
	assert_int_equal(p.rc, 1);
	assert_true(p.bye);
	assert_string_equal(s.version, "TLSv1.2");
	assert_string_equal(p.version, "TLSv1.2");
	assert_string_equal(s.cipher, "ECDHE-ECDSA-AES256-GCM-SHA384");
	assert_int_equal(s.bits, 256);
	assert_string_equal(s.sni, "mx.other.test");
	assert_string_equal(s.cert, "mx.other.test");
	tls_server_free(&srv);

	srv = server(&sp13);
	p = (struct peer){ .tls12_only = 1, .servername = "mx.other.test" };
	handshake(srv, &p, &s);
	assert_int_equal(s.rc, -1);
	assert_string_equal(s.err, "unsupported protocol");
	assert_int_equal(p.rc, -1);
	assert_string_equal(p.err, "tlsv1 alert protocol version");
	tls_server_free(&srv);
}

/* The peer never sends a ClientHello: the deadline ends the handshake. */
static void
test_timeout(void **state)
{
	struct tls_server *srv = server(&spec_abc);
	const char *errstr = NULL;
	struct conn c;
	long long t0, dt;
	int sv[2];

	(void)state;
	pair(sv);
	conn_init(&c, sv[0]);
	t0 = conn_now_ms();
	conn_set_deadline(&c, 300);
	assert_int_equal(conn_starttls_server(&c, srv, &errstr), -1);
	dt = conn_now_ms() - t0;
	assert_string_equal(errstr, "timeout");
	assert_int_equal(c.err, CONN_ETIMEOUT);
	assert_true(dt >= 290 && dt < 3000);
	conn_close(&c);		/* mid-handshake: no close_notify attempt */
	assert_int_equal(close(sv[1]), 0);
	tls_server_free(&srv);
}

/* The peer goes away, or speaks something else than TLS. */
static void
test_peer_gone(void **state)
{
	struct tls_server *srv = server(&spec_abc);
	const char *errstr = NULL;
	struct conn c;
	int sv[2];

	(void)state;
	pair(sv);
	conn_init(&c, sv[0]);
	conn_set_deadline(&c, DEADLINE_MS);
	assert_int_equal(close(sv[1]), 0);
	assert_int_equal(conn_starttls_server(&c, srv, &errstr), -1);
	assert_string_equal(errstr, "peer closed");
	assert_int_equal(c.err, CONN_EOF);
	conn_close(&c);

	pair(sv);
	conn_init(&c, sv[0]);
	conn_set_deadline(&c, DEADLINE_MS);
	assert_int_equal(write(sv[1], "MAIL FROM:<a@b>\r\n", 17), 17);
	assert_int_equal(conn_starttls_server(&c, srv, &errstr), -1);
	assert_int_equal(c.err, CONN_EIO);
	assert_string_equal(errstr, "wrong version number");
	assert_string_equal(conn_strerror(&c), "wrong version number");
	conn_close(&c);
	assert_int_equal(close(sv[1]), 0);
	tls_server_free(&srv);
}

/*
 * STARTTLS with a command pipelined behind it: refused while that
 * plaintext is buffered; after conn_discard_input the 220 reply still
 * buffered goes out in plaintext, then the handshake runs.
 */
static void
test_plaintext_pending(void **state)
{
	struct tls_server *srv = server(&spec_abc);
	struct peer p = { .plain_banner = 1, .servername = "mx.other.test",
	    .verify_name = "mx.other.test", .nlines = 1 };
	const char *errstr = NULL, *l;
	struct conn c;
	size_t len;
	int sv[2];

	(void)state;
	p.cli = client("ca.pem");
	pair(sv);
	conn_init(&c, sv[0]);
	conn_set_deadline(&c, DEADLINE_MS);
	assert_int_equal(write(sv[1], "STARTTLS\r\nRSET\r\n", 16), 16);
	assert_int_equal(conn_getline(&c, 1000, &l, &len), 1);
	assert_memory_equal(l, "STARTTLS\r\n", 10);
	assert_int_equal(conn_printf(&c, "220 2.0.0 Ready to start TLS\r\n"),
	    1);
	assert_int_equal(conn_starttls_server(&c, srv, &errstr), -1);
	assert_string_equal(errstr, "plaintext input pending");
	assert_int_equal(c.err, CONN_OK);	/* still a usable session */
	assert_int_equal(conn_is_tls(&c), 0);

	conn_discard_input(&c);
	peer_start(&p, sv[1]);
	assert_int_equal(conn_starttls_server(&c, srv, &errstr), 1);
	assert_int_equal(server_exchange(&c, 2), 1);
	conn_close(&c);
	peer_join(&p);
	assert_string_equal(p.banner, "220 2.0.0 Ready to start TLS\r\n");
	assert_int_equal(p.rc, 1);
	assert_int_equal(p.lines_in, 2);
	assert_true(p.bye);
	tls_client_free(&p.cli);
	tls_server_free(&srv);
}

/* ------------------------------------------------------------ Python */

/*
 * Python's ssl module as the other side: the script gets the socket as fd
 * 3 and prints one JSON object. Client mode: SNI, verification against
 * ca.pem (check_hostname on), a line sent, the reply read. Server mode:
 * cert + key, echo one line.
 */
static const char pyscript[] =
    "import json, socket, ssl, sys\n"
    "out = {}\n"
    "try:\n"
    "    s = socket.socket(fileno=3)\n"
    "    s.settimeout(10)\n"
    "    if sys.argv[1] == 'client':\n"
    "        ctx = ssl.create_default_context(cafile=sys.argv[2])\n"
    "        if sys.argv[4] == '1.2':\n"
    "            ctx.maximum_version = ssl.TLSVersion.TLSv1_2\n"
    "        t = ctx.wrap_socket(s, server_hostname=sys.argv[3])\n"
    "        san = t.getpeercert().get('subjectAltName', ())\n"
    "        out['san'] = ' '.join(v for k, v in san if k == 'DNS')\n"
    "        t.sendall(b'EHLO python.test\\r\\n')\n"
    "    else:\n"
    "        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n"
    "        ctx.load_cert_chain(sys.argv[2], sys.argv[3])\n"
    "        t = ctx.wrap_socket(s, server_side=True)\n"
    "    out['version'] = t.version()\n"
    "    out['cipher'] = t.cipher()[0]\n"
    "    line = t.makefile('rb').readline()\n"
    "    if sys.argv[1] == 'server':\n"
    "        t.sendall(b'250 ' + line)\n"
    "    out['line'] = line.decode()\n"
    "    t.close()\n"
    "except Exception as e:\n"
    "    out['error'] = type(e).__name__ + ': ' + str(e)\n"
    "print(json.dumps(out))\n";

struct py {
	pid_t		 pid;
	int		 out;		/* its stdout */
	char		 text[2048];
};

/* 0 if python3 cannot run here (the test is skipped). */
static int
py_start(struct py *py, int fd, const char *a1, const char *a2,
    const char *a3, const char *a4)
{
	int p[2];

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	py->pid = fork();
	assert_true(py->pid >= 0);
	if (py->pid == 0) {
		if (dup2(fd, 3) == -1 || dup2(p[1], 1) == -1)
			_exit(126);
		(void)execlp("python3", "python3", "-c", pyscript, a1, a2, a3,
		    a4, (char *)NULL);
		_exit(127);
	}
	(void)close(p[1]);
	py->out = p[0];
	return 1;
}

/* Collects its output; 0 if python3 was not found. */
static int
py_wait(struct py *py)
{
	size_t len = 0;
	ssize_t n;
	int status;

	while ((n = read(py->out, py->text + len,
	    sizeof(py->text) - 1 - len)) > 0)
		len += (size_t)n;
	py->text[len] = '\0';
	(void)close(py->out);
	assert_int_equal(waitpid(py->pid, &status, 0), py->pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 127)
		return 0;
	assert_int_equal(WEXITSTATUS(status), 0);
	return 1;
}

static void
expect_json(const struct py *py, const char *kv)
{
	if (strstr(py->text, kv) == NULL)
		fail_msg("wanted %s in python's %s", kv, py->text);
}

/* Our server, Python's client: SNI, verification, data, versions. */
static void
test_python_client(void **state)
{
	struct tls_server *srv = server(&spec_abc);
	struct srvspec sp13 = { .certs = { "a.pem", "b.pem" },
	    .keys = { "a.key", "b.key" }, .min_version = TLS_MIN_13 };
	const char *errstr = NULL, *l;
	struct conn c;
	struct py py;
	size_t len;
	int sv[2];

	(void)state;
	pair(sv);
	conn_init(&c, sv[0]);
	conn_set_deadline(&c, DEADLINE_MS);
	py_start(&py, sv[1], "client", fpath("ca.pem"), "mx.other.test",
	    "1.3");
	(void)close(sv[1]);
	if (conn_starttls_server(&c, srv, &errstr) == -1) {
		conn_close(&c);
		if (!py_wait(&py))
			skip();
		fail_msg("handshake with python: %s (python: %s)", errstr,
		    py.text);
	}
	assert_string_equal(conn_tls_servername(&c), "mx.other.test");
	assert_string_equal(conn_tls_certname(&c), "mx.other.test");
	assert_int_equal(conn_getline(&c, 1000, &l, &len), 1);
	assert_int_equal(len, 18);
	assert_memory_equal(l, "EHLO python.test\r\n", len);
	assert_int_equal(conn_printf(&c, "250 hello python\r\n"), 1);
	assert_int_equal(conn_flush(&c), 1);
	conn_close(&c);
	assert_int_equal(py_wait(&py), 1);
	expect_json(&py, "\"san\": \"mx.other.test\"");
	expect_json(&py, "\"version\": \"TLSv1.3\"");
	expect_json(&py, "\"line\": \"250 hello python\\r\\n\"");

	/* TLS 1.2 from Python: default certificate for an unknown name. */
	pair(sv);
	conn_init(&c, sv[0]);
	conn_set_deadline(&c, DEADLINE_MS);
	py_start(&py, sv[1], "client", fpath("ca.pem"), "x.example.test",
	    "1.2");
	(void)close(sv[1]);
	assert_int_equal(conn_starttls_server(&c, srv, &errstr), 1);
	assert_string_equal(conn_tls_version(&c), "TLSv1.2");
	assert_string_equal(conn_tls_servername(&c), "x.example.test");
	assert_string_equal(conn_tls_certname(&c), "mail.example.test");
	assert_int_equal(conn_getline(&c, 1000, &l, &len), 1);
	assert_int_equal(conn_printf(&c, "250 ok\r\n"), 1);
	assert_int_equal(conn_flush(&c), 1);
	conn_close(&c);
	assert_int_equal(py_wait(&py), 1);
	expect_json(&py, "\"san\": \"mail.example.test *.example.test\"");
	expect_json(&py, "\"version\": \"TLSv1.2\"");
	tls_server_free(&srv);

	/* ... which a TLS 1.3-only server refuses. */
	srv = server(&sp13);
	pair(sv);
	conn_init(&c, sv[0]);
	conn_set_deadline(&c, DEADLINE_MS);
	py_start(&py, sv[1], "client", fpath("ca.pem"), "mx.other.test",
	    "1.2");
	(void)close(sv[1]);
	assert_int_equal(conn_starttls_server(&c, srv, &errstr), -1);
	assert_string_equal(errstr, "unsupported protocol");
	conn_close(&c);
	assert_int_equal(py_wait(&py), 1);
	expect_json(&py, "\"error\": \"SSLError: ");
	expect_json(&py, "TLSV1_ALERT_PROTOCOL_VERSION");
	tls_server_free(&srv);
}

/* Python's server, our client: verification passes and fails right. */
static void
test_python_server(void **state)
{
	struct tls_client *cli = client("ca.pem");
	const char *errstr = NULL, *l;
	struct conn c;
	struct py py;
	size_t len;
	int sv[2];

	(void)state;
	pair(sv);
	conn_init(&c, sv[0]);
	conn_set_deadline(&c, DEADLINE_MS);
	py_start(&py, sv[1], "server", fpath("b.pem"), fpath("b.key"), "-");
	(void)close(sv[1]);
	if (conn_starttls_client(&c, cli, "mx.other.test", "mx.other.test",
	    &errstr) == -1) {
		conn_close(&c);
		if (!py_wait(&py))
			skip();
		fail_msg("handshake with python: %s (python: %s)", errstr,
		    py.text);
	}
	assert_string_equal(conn_tls_version(&c), "TLSv1.3");
	assert_null(conn_tls_certname(&c));	/* client side */
	assert_int_equal(conn_printf(&c, "NOOP\r\n"), 1);
	assert_int_equal(conn_flush(&c), 1);
	assert_int_equal(conn_getline(&c, 1000, &l, &len), 1);
	assert_int_equal(len, 10);
	assert_memory_equal(l, "250 NOOP\r\n", len);
	conn_close(&c);
	assert_int_equal(py_wait(&py), 1);
	expect_json(&py, "\"version\": \"TLSv1.3\"");
	expect_json(&py, "\"line\": \"NOOP\\r\\n\"");

	pair(sv);
	conn_init(&c, sv[0]);
	conn_set_deadline(&c, DEADLINE_MS);
	py_start(&py, sv[1], "server", fpath("b.pem"), fpath("b.key"), "-");
	(void)close(sv[1]);
	assert_int_equal(conn_starttls_client(&c, cli, "mail.example.test",
	    "mail.example.test", &errstr), -1);
	assert_string_equal(errstr, "certificate verification failed: "
	    "hostname mismatch");
	conn_close(&c);
	assert_int_equal(py_wait(&py), 1);
	expect_json(&py, "\"error\": \"SSLError: ");
	tls_client_free(&cli);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name_match),
		cmocka_unit_test(test_load_ok),
		cmocka_unit_test(test_load_errors),
		cmocka_unit_test(test_load_warnings),
		cmocka_unit_test(test_client_ctx),
		cmocka_unit_test(test_data),
		cmocka_unit_test(test_pending),
		cmocka_unit_test(test_read_timeout),
		cmocka_unit_test(test_starttls_twice),
		cmocka_unit_test(test_sni),
		cmocka_unit_test(test_verify),
		cmocka_unit_test(test_min_version),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_peer_gone),
		cmocka_unit_test(test_plaintext_pending),
		cmocka_unit_test(test_python_client),
		cmocka_unit_test(test_python_server),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
