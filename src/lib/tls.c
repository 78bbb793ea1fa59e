/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * TLS contexts: see tls.h. One SSL_CTX per configured certificate, all with
 * the same protocol settings; the first one is the default, and its
 * servername callback moves a handshake to another context when the client's
 * SNI matches one of that certificate's names. Session tickets are encrypted
 * with the default context's keys (OpenSSL uses the initial context for
 * them), which the master creates once: every child forked from it can
 * resume the others' sessions.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "lib/buf.h"
#include "lib/cfg.h"
#include "lib/log.h"
#include "lib/tls.h"
#include "lib/xalloc.h"

#define TLS_SID_CTX	"estafeta"

struct tls_cert {
	SSL_CTX		 *ctx;
	char		**names;	/* lower case: SAN DNS names, else CN */
	size_t		  nnames;
};

struct tls_server {
	struct tls_cert	*certs;		/* [0] is the default */
	size_t		 ncerts;
};

struct tls_client {
	SSL_CTX		*ctx;
};

/* Set while a key is loaded: a passphrase was asked for. */
struct tls_pass {
	int		 asked;
};

static const char *
tls_reason(unsigned long e)
{
	const char *r = ERR_reason_error_string(e);

	return r != NULL ? r : "unknown OpenSSL error";
}

/* Never prompts: a protected key is refused, and we say why. */
static int
tls_no_passphrase(char *pw, int size, int rwflag, void *arg)
{
	struct tls_pass *tp = arg;

	(void)pw;
	(void)size;
	(void)rwflag;
	if (tp != NULL)
		tp->asked = 1;
	return -1;
}

/* "path: strerror" if the file cannot be read; OpenSSL says less. */
static int
tls_file_check(const char *path, struct buf *err)
{
	struct stat st;
	int fd, r = 1;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY |
	    O_NONBLOCK)) == -1) {
		(void)buf_appendf(err, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		(void)buf_appendf(err, "%s: not a regular file\n", path);
		r = -1;
	}
	(void)close(fd);	/* read-only: nothing to lose */
	return r;
}

static int
tls_ctx_common(SSL_CTX *ctx, int min_version, struct buf *err)
{
	ASSERT(min_version == TLS_MIN_12 || min_version == TLS_MIN_13);
	if (SSL_CTX_set_min_proto_version(ctx, min_version == TLS_MIN_13 ?
	    TLS1_3_VERSION : TLS1_2_VERSION) != 1) {
		(void)buf_appendf(err, "tls_min_version: %s\n",
		    tls_reason(ERR_get_error()));
		return -1;
	}
	(void)SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION |
	    SSL_OP_NO_RENEGOTIATION);	/* returns the new option mask */
	return 1;
}

/* Protocol settings shared by every server context. */
static SSL_CTX *
tls_server_ctx(const struct tls_server_cfg *cfg, struct buf *err)
{
	SSL_CTX *ctx;

	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		(void)buf_appendf(err, "SSL_CTX_new: %s\n",
		    tls_reason(ERR_get_error()));
		return NULL;
	}
	if (tls_ctx_common(ctx, cfg->min_version, err) == -1)
		goto fail;
	(void)SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
	(void)SSL_CTX_clear_options(ctx, SSL_OP_NO_TICKET |
	    SSL_OP_ALLOW_CLIENT_RENEGOTIATION);
	(void)SSL_CTX_set_dh_auto(ctx, 1);	/* cannot fail with 1 */
	if (SSL_CTX_set_session_id_context(ctx,
	    (const unsigned char *)TLS_SID_CTX, sizeof(TLS_SID_CTX) - 1) != 1)
		log_panic("tls: session id context too long");
	if (cfg->ciphers != NULL && *cfg->ciphers != '\0' &&
	    SSL_CTX_set_cipher_list(ctx, cfg->ciphers) != 1) {
		(void)buf_appendf(err, "tls_ciphers: no usable cipher in "
		    "\"%s\"\n", cfg->ciphers);
		goto fail;
	}
	if (cfg->ciphersuites != NULL && *cfg->ciphersuites != '\0' &&
	    SSL_CTX_set_ciphersuites(ctx, cfg->ciphersuites) != 1) {
		(void)buf_appendf(err, "tls_ciphersuites: bad TLS 1.3 suite "
		    "list \"%s\"\n", cfg->ciphersuites);
		goto fail;
	}
	if (cfg->groups != NULL && *cfg->groups != '\0' &&
	    SSL_CTX_set1_groups_list(ctx, cfg->groups) != 1) {
		(void)buf_appendf(err, "tls_groups: bad group list \"%s\"\n",
		    cfg->groups);
		goto fail;
	}
	ERR_clear_error();
	return ctx;
fail:
	ERR_clear_error();
	SSL_CTX_free(ctx);
	return NULL;
}

static void
tls_cert_addname(struct tls_cert *tc, const unsigned char *s, int len)
{
	char *name;
	size_t size;
	int i;

	if (len <= 0 || memchr(s, '\0', (size_t)len) != NULL)
		return;		/* not a usable host name */
	if (!size_mul(tc->nnames + 1, sizeof(char *), &size))
		log_panic("tls: too many certificate names");
	name = xstrndup((const char *)s, (size_t)len);
	for (i = 0; i < len; i++)
		if (name[i] >= 'A' && name[i] <= 'Z')
			name[i] = (char)(name[i] - 'A' + 'a');
	tc->names = xrealloc(tc->names, size);
	tc->names[tc->nnames++] = name;
}

/* SAN DNS entries; the subject CN only when there are none (RFC 6125). */
static void
tls_cert_names(struct tls_cert *tc, X509 *x)
{
	GENERAL_NAMES *gens;
	const GENERAL_NAME *g;
	X509_NAME_ENTRY *ne;
	unsigned char *cn;
	int i, len;

	gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	for (i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens); i++) {
		g = sk_GENERAL_NAME_value(gens, i);
		if (g->type == GEN_DNS)
			tls_cert_addname(tc,
			    ASN1_STRING_get0_data(g->d.dNSName),
			    ASN1_STRING_length(g->d.dNSName));
	}
	GENERAL_NAMES_free(gens);
	if (tc->nnames > 0)
		return;
	i = X509_NAME_get_index_by_NID(X509_get_subject_name(x),
	    NID_commonName, -1);
	if (i < 0 || (ne = X509_NAME_get_entry(X509_get_subject_name(x),
	    i)) == NULL)
		return;
	if ((len = ASN1_STRING_to_UTF8(&cn, X509_NAME_ENTRY_get_data(ne))) < 0)
		return;
	tls_cert_addname(tc, cn, len);
	OPENSSL_free(cn);
}

static void
tls_time_str(const ASN1_TIME *t, char *s, size_t size)
{
	struct tm tm;

	if (ASN1_TIME_to_tm(t, &tm) != 1 ||
	    strftime(s, size, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		(void)snprintf(s, size, "?");
}

/* Warnings only: validity dates, names, key file mode. */
static void
tls_cert_warn(struct tls_cert *tc, const char *cert, const char *key,
    size_t idx, struct buf *err)
{
	X509 *x = SSL_CTX_get0_certificate(tc->ctx);
	const ASN1_TIME *t;
	struct stat st;
	char when[64];

	t = X509_get0_notAfter(x);
	if (X509_cmp_current_time(t) <= 0) {
		tls_time_str(t, when, sizeof(when));
		(void)buf_appendf(err, "warning: %s: certificate expired on "
		    "%s\n", cert, when);
	}
	t = X509_get0_notBefore(x);
	if (X509_cmp_current_time(t) >= 0) {
		tls_time_str(t, when, sizeof(when));
		(void)buf_appendf(err, "warning: %s: certificate not valid "
		    "before %s\n", cert, when);
	}
	if (tc->nnames == 0 && idx > 0)
		(void)buf_appendf(err, "warning: %s: certificate has no DNS "
		    "name: SNI can never select it\n", cert);
	if (stat(key, &st) == 0 && (st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
		(void)buf_appendf(err, "warning: %s: private key is "
		    "accessible to group or others (mode %03o)\n", key,
		    (unsigned)(st.st_mode & 0777));
}

/* The chain, then the key, into tc->ctx. 1 or -1 (reported). */
static int
tls_cert_load(struct tls_cert *tc, const char *cert, const char *key,
    struct buf *err)
{
	struct tls_pass tp = { 0 };
	unsigned long e, first;
	int ok;

	if (tls_file_check(cert, err) == -1 || tls_file_check(key, err) == -1)
		return -1;
	ERR_clear_error();
	if (SSL_CTX_use_certificate_chain_file(tc->ctx, cert) != 1) {
		e = ERR_peek_error();	/* the first is the specific one */
		if (ERR_GET_LIB(e) == ERR_LIB_PEM &&
		    ERR_GET_REASON(e) == PEM_R_NO_START_LINE)
			(void)buf_appendf(err, "%s: no PEM certificate in the "
			    "file (no \"-----BEGIN CERTIFICATE-----\" line)\n",
			    cert);
		else
			(void)buf_appendf(err, "%s: cannot load the "
			    "certificate chain: %s\n", cert, tls_reason(e));
		ERR_clear_error();
		return -1;
	}
	SSL_CTX_set_default_passwd_cb(tc->ctx, tls_no_passphrase);
	SSL_CTX_set_default_passwd_cb_userdata(tc->ctx, &tp);
	ok = SSL_CTX_use_PrivateKey_file(tc->ctx, key, SSL_FILETYPE_PEM) == 1;
	SSL_CTX_set_default_passwd_cb_userdata(tc->ctx, NULL);
	first = ERR_peek_error();
	e = ERR_peek_last_error();
	if (ok)
		ok = SSL_CTX_check_private_key(tc->ctx) == 1;
	else if (tp.asked) {
		(void)buf_appendf(err, "%s: private key is protected by a "
		    "passphrase: store it unencrypted, readable by root only\n",
		    key);
		goto fail;
	} else if (ERR_GET_LIB(first) == ERR_LIB_OSSL_DECODER ||
	    (ERR_GET_LIB(first) == ERR_LIB_PEM &&
	    ERR_GET_REASON(first) == PEM_R_NO_START_LINE)) {
		(void)buf_appendf(err, "%s: no PEM private key in the file\n",
		    key);
		goto fail;
	} else if (ERR_GET_LIB(e) != ERR_LIB_X509) {
		/* X509: key values mismatch, reported below. */
		(void)buf_appendf(err, "%s: cannot load the private key: %s\n",
		    key, tls_reason(first));
		goto fail;
	}
	if (!ok) {
		(void)buf_appendf(err, "%s: private key does not match the "
		    "certificate in %s\n", key, cert);
		goto fail;
	}
	ERR_clear_error();
	return 1;
fail:
	ERR_clear_error();
	return -1;
}

/* Exact names first, then wildcards; -1 if nothing matches. */
static int
tls_server_lookup(const struct tls_server *srv, const char *name)
{
	size_t i, j;
	int pass;

	for (pass = 0; pass < 2; pass++)
		for (i = 0; i < srv->ncerts; i++)
			for (j = 0; j < srv->certs[i].nnames; j++) {
				const char *p = srv->certs[i].names[j];

				if ((p[0] == '*') == (pass == 1) &&
				    tls_name_match(p, name))
					return (int)i;
			}
	return -1;
}

static int
tls_servername_cb(SSL *ssl, int *alert, void *arg)
{
	const struct tls_server *srv = arg;
	const char *name;
	int i;

	(void)alert;
	name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	if (name == NULL)
		return SSL_TLSEXT_ERR_OK;
	/* No match: the default certificate, and the handshake goes on. */
	if ((i = tls_server_lookup(srv, name)) > 0 &&
	    SSL_set_SSL_CTX(ssl, srv->certs[i].ctx) == NULL)
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	return SSL_TLSEXT_ERR_OK;
}

int
tls_name_match(const char *pattern, const char *name)
{
	const char *dot;

	if (strcasecmp(pattern, name) == 0)
		return 1;
	if (pattern[0] != '*' || pattern[1] != '.')
		return 0;
	dot = strchr(name, '.');
	return dot != NULL && dot != name && strcasecmp(pattern + 1, dot) == 0;
}

int
tls_server_new(const struct tls_server_cfg *cfg, struct tls_server **srv_r,
    struct buf *err)
{
	struct tls_server *srv;
	struct tls_cert *tc;
	size_t i, n = cfg->certs != NULL ? cfg->certs->n : 0;
	int failed = 0;

	*srv_r = NULL;
	if (n == 0) {
		(void)buf_appendf(err, "tls_cert_files: no certificate "
		    "configured\n");
		return -1;
	}
	if (cfg->keys == NULL || cfg->keys->n != n) {
		(void)buf_appendf(err, "tls_cert_files has %zu entries but "
		    "tls_key_files %zu: give one key per certificate\n", n,
		    cfg->keys != NULL ? cfg->keys->n : 0);
		return -1;
	}
	srv = xcalloc(1, sizeof(*srv));
	srv->certs = xcalloc(n, sizeof(*srv->certs));
	srv->ncerts = n;
	for (i = 0; i < n; i++) {
		tc = &srv->certs[i];
		if ((tc->ctx = tls_server_ctx(cfg, err)) == NULL) {
			failed = 1;	/* settings: same for every entry */
			break;
		}
		SSL_CTX_set_app_data(tc->ctx, tc);
		if (tls_cert_load(tc, cfg->certs->v[i], cfg->keys->v[i],
		    err) == -1) {
			failed = 1;
			continue;
		}
		tls_cert_names(tc, SSL_CTX_get0_certificate(tc->ctx));
		tls_cert_warn(tc, cfg->certs->v[i], cfg->keys->v[i], i, err);
	}
	if (failed) {
		tls_server_free(&srv);
		return -1;
	}
	SSL_CTX_set_tlsext_servername_callback(srv->certs[0].ctx,
	    tls_servername_cb);
	SSL_CTX_set_tlsext_servername_arg(srv->certs[0].ctx, srv);
	*srv_r = srv;
	return 1;
}

void
tls_server_cfg_errors(const struct cfg_where *where, const char *msgs,
    struct buf *err)
{
	static const char *const keys[] = { "tls_min_version", "tls_ciphers",
	    "tls_ciphersuites", "tls_groups", "tls_cert_files", NULL };
	const char *p, *nl, *key;
	size_t i, len, klen;

	for (p = msgs; *p != '\0'; p = nl != NULL ? nl + 1 : p + len) {
		nl = strchr(p, '\n');
		len = nl != NULL ? (size_t)(nl - p) : strlen(p);
		if (len == 0)
			continue;
		for (i = 0, key = NULL; keys[i] != NULL && key == NULL; i++) {
			klen = strlen(keys[i]);
			if (len > klen && strncmp(p, keys[i], klen) == 0 &&
			    (p[klen] == ':' || p[klen] == ' '))
				key = keys[i];
		}
		if (key != NULL && strcmp(key, "tls_cert_files") != 0)
			cfg_where_error(where, err, CFG_KEYS(key),
			    "TLS: %.*s", (int)len, p);
		else
			cfg_where_error(where, err,
			    CFG_KEYS("tls_cert_files", "tls_key_files"),
			    "TLS: %.*s", (int)len, p);
	}
}

void
tls_server_free(struct tls_server **srvp)
{
	struct tls_server *srv = *srvp;
	size_t i, j;

	if (srv == NULL)
		return;
	for (i = 0; i < srv->ncerts; i++) {
		SSL_CTX_free(srv->certs[i].ctx); /* clears the key */
		for (j = 0; j < srv->certs[i].nnames; j++)
			free(srv->certs[i].names[j]);
		free(srv->certs[i].names);
	}
	free(srv->certs);
	free(srv);
	*srvp = NULL;
}

int
tls_client_new(const char *ca_file, int min_version,
    struct tls_client **cli_r, struct buf *err)
{
	SSL_CTX *ctx;

	*cli_r = NULL;
	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		(void)buf_appendf(err, "SSL_CTX_new: %s\n",
		    tls_reason(ERR_get_error()));
		return -1;
	}
	if (tls_ctx_common(ctx, min_version, err) == -1)
		goto fail;
	if (ca_file != NULL) {
		if (tls_file_check(ca_file, err) == -1)
			goto fail;
		if (SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
			(void)buf_appendf(err, "%s: cannot load CA "
			    "certificates: %s\n", ca_file,
			    tls_reason(ERR_peek_last_error()));
			goto fail;
		}
	} else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
		(void)buf_appendf(err, "system CA store: %s\n",
		    tls_reason(ERR_peek_last_error()));
		goto fail;
	}
	/* Each connection decides: conn_starttls_client(verify_name). */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	ERR_clear_error();
	*cli_r = xcalloc(1, sizeof(**cli_r));
	(*cli_r)->ctx = ctx;
	return 1;
fail:
	ERR_clear_error();
	SSL_CTX_free(ctx);
	return -1;
}

void
tls_client_free(struct tls_client **clip)
{
	if (*clip == NULL)
		return;
	SSL_CTX_free((*clip)->ctx);
	free(*clip);
	*clip = NULL;
}

static SSL *
tls_ssl_new(SSL_CTX *ctx, const char **errstr_r)
{
	SSL *ssl;

	ERR_clear_error();
	if ((ssl = SSL_new(ctx)) == NULL) {
		*errstr_r = tls_reason(ERR_get_error());
		ERR_clear_error();
	}
	return ssl;
}

SSL *
tls_server_ssl_new(struct tls_server *srv, const char **errstr_r)
{
	return tls_ssl_new(srv->certs[0].ctx, errstr_r);
}

SSL *
tls_client_ssl_new(struct tls_client *cli, const char **errstr_r)
{
	return tls_ssl_new(cli->ctx, errstr_r);
}

const char *
tls_ssl_certname(const SSL *ssl)
{
	const struct tls_cert *tc;

	if (ssl == NULL || SSL_is_server(ssl) != 1 ||
	    (tc = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl))) == NULL ||
	    tc->nnames == 0)
		return NULL;
	return tc->names[0];
}
