/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * Buffered connection I/O with deadlines: see conn.h. On TLS the socket
 * stays non-blocking under OpenSSL: every SSL_* call that wants to read or
 * write waits in conn_wait() until the connection's deadline, then is
 * retried with the same arguments. SSL_read is always tried before waiting,
 * so records OpenSSL already holds are never stuck behind a poll().
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "lib/buf.h"
#include "lib/conn.h"
#include "lib/log.h"
#include "lib/tls.h"

#define CONN_READ_CHUNK	16384
#define CONN_WBUF_FLUSH	65536
#define CONN_WRITE_DIRECT	16384	/* conn_write() sends at once from here */

long long
conn_now_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);	/* cannot fail */
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
conn_init(struct conn *c, int fd)
{
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->stop_fd = -1;
	/* The read buffer never holds more than one chunk beyond a line.
	 * It sees passwords (AUTH, LOGIN, PASS): consumed input is cleared
	 * when the buffer is compacted, and all of it at conn_close. */
	buf_init(&c->rbuf, 0);
	c->rbuf.wipe = 1;
	buf_init(&c->wbuf, 0);
	buf_init(&c->tls_err, 0);
}

static int conn_wait(struct conn *, short);
static const char *conn_errname(enum conn_err);

/* Best effort close_notify; never waits past CONN_TLS_SHUTDOWN_MS. */
static void
conn_tls_shutdown(struct conn *c)
{
	int r;

	if (!c->tls_up || c->tls_dead)
		return;
	c->deadline = conn_now_ms() + CONN_TLS_SHUTDOWN_MS;
	for (;;) {
		ERR_clear_error();
		if ((r = SSL_shutdown(c->ssl)) >= 0)
			break;	/* ours is sent; not waiting for theirs */
		if (SSL_get_error(c->ssl, r) != SSL_ERROR_WANT_WRITE ||
		    conn_wait(c, POLLOUT) == -1)
			break;
	}
	ERR_clear_error();
}

void
conn_close(struct conn *c)
{
	if (c->ssl != NULL) {
		conn_tls_shutdown(c);
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	/* The socket first: the peer learns at once, the wipe can wait. */
	if (c->fd >= 0)
		(void)close(c->fd);	/* nothing to do about a failure */
	c->fd = -1;
	buf_free_wipe(&c->rbuf);
	buf_free(&c->wbuf);
	buf_free(&c->tls_err);
}

void
conn_set_deadline(struct conn *c, long long ms)
{
	c->deadline = conn_now_ms() + ms;
}

static ssize_t	conn_write_some(struct conn *, const char *, size_t);

static int
conn_wait(struct conn *c, short ev)
{
	struct pollfd pfd[2] = { { c->fd, ev, 0 }, { c->stop_fd, POLLIN, 0 } };
	nfds_t n = (ev & POLLIN) && c->stop_fd >= 0 ? 2 : 1;
	long long left;
	int r;

	for (;;) {
		left = c->deadline ? c->deadline - conn_now_ms() : -1;
		if (c->deadline && left <= 0) {
			c->err = CONN_ETIMEOUT;
			return -1;
		}
		r = poll(pfd, n, left > 0x7fffffff ? 0x7fffffff : (int)left);
		if (r > 0 && n == 2 && pfd[1].revents != 0) {
			c->err = CONN_ESTOP;
			return -1;
		}
		if (r > 0)
			return 1;
		if (r == -1 && errno != EINTR) {
			c->err = CONN_EIO;
			return -1;
		}
	}
}

static void
conn_tls_seterr(struct conn *c, enum conn_err err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
conn_tls_seterr(struct conn *c, enum conn_err err, const char *fmt, ...)
{
	va_list ap;

	c->err = err;
	buf_reset(&c->tls_err);
	va_start(ap, fmt);
	if (buf_vappendf(&c->tls_err, fmt, ap) == -1)
		log_panic("conn: TLS error text too long");
	va_end(ap);
}

/* A fatal SSL_ERROR_SSL: the reason, the verification result if that is it. */
static void
conn_tls_sslerr(struct conn *c)
{
	unsigned long e = ERR_peek_last_error();
	const char *reason = ERR_reason_error_string(e);
	long v;

	if (reason == NULL)
		reason = "TLS protocol error";
	if (ERR_GET_LIB(e) == ERR_LIB_SSL &&
	    ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
		conn_tls_seterr(c, CONN_EOF, "peer closed");
	else if (ERR_GET_LIB(e) == ERR_LIB_SSL &&
	    ERR_GET_REASON(e) == SSL_R_CERTIFICATE_VERIFY_FAILED &&
	    (v = SSL_get_verify_result(c->ssl)) != X509_V_OK)
		conn_tls_seterr(c, CONN_EIO, "certificate verification "
		    "failed: %s", X509_verify_cert_error_string(v));
	else
		conn_tls_seterr(c, CONN_EIO, "%s", reason);
}

/*
 * After an SSL_* call returned r <= 0: waits for what OpenSSL wants and
 * returns 1 to retry the call, or -1 with c->err and c->tls_err set.
 */
static int
conn_tls_retry(struct conn *c, int r)
{
	int saved = errno, e = SSL_get_error(c->ssl, r);

	switch (e) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		if (conn_wait(c, e == SSL_ERROR_WANT_READ ? POLLIN :
		    POLLOUT) == 1)
			return 1;
		conn_tls_seterr(c, c->err, "%s", conn_errname(c->err));
		return -1;
	case SSL_ERROR_ZERO_RETURN:
		conn_tls_seterr(c, CONN_EOF, "peer closed");
		return -1;
	case SSL_ERROR_SYSCALL:
		c->tls_dead = 1;
		if (ERR_peek_error() != 0)
			conn_tls_sslerr(c);
		else if (r == 0 || saved == 0)
			conn_tls_seterr(c, CONN_EOF, "peer closed");
		else
			conn_tls_seterr(c, CONN_EIO, "%s", strerror(saved));
		break;
	case SSL_ERROR_SSL:
		c->tls_dead = 1;
		conn_tls_sslerr(c);
		break;
	default:
		c->tls_dead = 1;
		conn_tls_seterr(c, CONN_EIO, "unexpected SSL_get_error %d", e);
		break;
	}
	ERR_clear_error();
	return -1;
}

/* One read of at most n bytes into w: the count (> 0), or -1. Waits. */
static ssize_t
conn_read(struct conn *c, char *w, size_t n)
{
	ssize_t r;
	int tr;

	for (;;) {
		if (c->ssl != NULL) {
			ERR_clear_error();
			if ((tr = SSL_read(c->ssl, w, (int)n)) > 0)
				return tr;
			if (conn_tls_retry(c, tr) == -1)
				return -1;
			continue;
		}
		if ((r = read(c->fd, w, n)) > 0)
			return r;
		if (r == 0) {
			c->err = CONN_EOF;
			return -1;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			c->err = CONN_EIO;
			return -1;
		}
		if (conn_wait(c, POLLIN) == -1)
			return -1;
	}
}

int
conn_fill(struct conn *c)
{
	char *w;
	ssize_t n;

	if (c->rpos > 0 && (c->rpos == c->rbuf.len ||
	    c->rpos > c->rbuf.len / 2)) {
		buf_consume(&c->rbuf, c->rpos);
		c->rpos = 0;
	}
	if ((w = buf_reserve(&c->rbuf, CONN_READ_CHUNK)) == NULL)
		log_panic("conn_fill: read buffer limit");
	if ((n = conn_read(c, w, CONN_READ_CHUNK)) == -1)
		return -1;
	c->rbuf.len += (size_t)n;
	c->bytes_in += (unsigned long long)n;
	return 1;
}

int
conn_getline(struct conn *c, size_t max, const char **line_r, size_t *len_r)
{
	const char *p, *nl;
	size_t avail, scanned = 0;

	for (;;) {
		p = c->rbuf.data + c->rpos;
		avail = c->rbuf.len - c->rpos;
		nl = avail > scanned ? memchr(p + scanned, '\n',
		    avail - scanned) : NULL;
		if (c->skipping) {
			c->rpos += nl ? (size_t)(nl - p) + 1 : avail;
			scanned = 0;
			if (nl) {
				c->skipping = 0;
				continue;
			}
		} else if (nl != NULL && (size_t)(nl - p) + 1 <= max) {
			*line_r = p;
			*len_r = (size_t)(nl - p) + 1;
			c->rpos += *len_r;
			return 1;
		} else if (nl != NULL || avail > max) {
			/* Too long: drop it, and the rest up to LF if any. */
			c->rpos += nl ? (size_t)(nl - p) + 1 : avail;
			c->skipping = nl == NULL;
			return CONN_TOOLONG;
		} else
			scanned = avail;
		if (conn_fill(c) == -1)
			return -1;
	}
}

const char *
conn_peek(struct conn *c, size_t *avail_r)
{
	*avail_r = c->rbuf.len - c->rpos;
	return c->rbuf.data ? c->rbuf.data + c->rpos : "";
}

void
conn_consume(struct conn *c, size_t n)
{
	ASSERT(n <= c->rbuf.len - c->rpos);
	c->rpos += n;
}

int
conn_pending(const struct conn *c)
{
	return c->rbuf.len > c->rpos ||
	    (c->ssl != NULL && SSL_pending(c->ssl) > 0);
}

void
conn_discard_input(struct conn *c)
{
	buf_reset(&c->rbuf);
	c->rpos = 0;
	c->skipping = 0;
}

int
conn_write(struct conn *c, const void *p, size_t n)
{
	const char *s = p;
	ssize_t w;

	if (n < CONN_WRITE_DIRECT) {
		if (buf_append(&c->wbuf, p, n) == -1)
			return -1;
		if (c->wbuf.len >= CONN_WBUF_FLUSH)
			return conn_flush(c);
		return 1;
	}
	/* Large pieces go to the socket from where they are, uncopied. */
	if (conn_flush(c) == -1)
		return -1;
	while (n > 0) {
		if ((w = conn_write_some(c, s, n)) == -1)
			return -1;
		s += w;
		n -= (size_t)w;
		c->bytes_out += (unsigned long long)w;
	}
	return 1;
}

int
conn_printf(struct conn *c, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = buf_vappendf(&c->wbuf, fmt, ap);
	va_end(ap);
	return r;
}

/* One write of at most n bytes from p: the count (> 0), or -1. Waits. */
static ssize_t
conn_write_some(struct conn *c, const char *p, size_t n)
{
	ssize_t r;
	int tr;

	for (;;) {
		if (c->ssl != NULL) {
			/* Retries repeat the same arguments, as required. */
			ERR_clear_error();
			tr = SSL_write(c->ssl, p, n > INT_MAX ? INT_MAX :
			    (int)n);
			if (tr > 0)
				return tr;
			if (conn_tls_retry(c, tr) == -1) {
				c->tls_dead = 1;	/* a record half sent */
				return -1;
			}
			continue;
		}
		if ((r = write(c->fd, p, n)) > 0)
			return r;
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (conn_wait(c, POLLOUT) == -1)
				return -1;
			continue;
		}
		c->err = CONN_EIO;
		return -1;
	}
}

int
conn_flush(struct conn *c)
{
	size_t off = 0;
	ssize_t n;

	while (off < c->wbuf.len) {
		if ((n = conn_write_some(c, c->wbuf.data + off,
		    c->wbuf.len - off)) == -1) {
			buf_reset(&c->wbuf);
			return -1;
		}
		off += (size_t)n;
		c->bytes_out += (unsigned long long)n;
	}
	buf_reset(&c->wbuf);
	return 1;
}

const char *
conn_strerror(const struct conn *c)
{
	if (c->err != CONN_OK && c->ssl != NULL && c->tls_err.len > 0)
		return buf_cstr(&c->tls_err);
	return conn_errname(c->err);
}

static const char *
conn_errname(enum conn_err err)
{
	switch (err) {
	case CONN_OK:
		return "ok";
	case CONN_ETIMEOUT:
		return "timeout";
	case CONN_EIO:
		return "i/o error";
	case CONN_EOF:
		return "eof";
	case CONN_ESTOP:
		return "stopped";
	}
	return "?";
}

/* ------------------------------------------------------------ TLS */

static int
conn_tls_fail(struct conn *c, enum conn_err err, const char *what,
    const char **errstr_r)
{
	conn_tls_seterr(c, err, "%s", what);
	*errstr_r = buf_cstr(&c->tls_err);
	return -1;
}

/* Takes ssl (freed by conn_close from here on) and runs the handshake. */
static int
conn_tls_handshake(struct conn *c, SSL *ssl, const char **errstr_r)
{
	int fl, r;

	c->ssl = ssl;
	if ((fl = fcntl(c->fd, F_GETFL)) == -1 ||
	    fcntl(c->fd, F_SETFL, fl | O_NONBLOCK) == -1 ||
	    SSL_set_fd(ssl, c->fd) != 1) {
		ERR_clear_error();
		return conn_tls_fail(c, CONN_EIO, "cannot set up the socket",
		    errstr_r);
	}
	for (;;) {
		ERR_clear_error();
		if ((r = SSL_do_handshake(ssl)) == 1)
			break;
		if (conn_tls_retry(c, r) == -1) {
			*errstr_r = buf_cstr(&c->tls_err);
			return -1;
		}
	}
	buf_reset(&c->tls_err);
	c->tls_up = 1;
	return 1;
}

/* Checks shared by both sides before a handshake; 1 to go on. */
static int
conn_tls_ready(struct conn *c, const char **errstr_r)
{
	ASSERT(c->ssl == NULL);
	ASSERT(c->fd >= 0);
	if (conn_pending(c)) {
		/* Refused; the plaintext session can go on. */
		*errstr_r = "plaintext input pending";
		return -1;
	}
	if (conn_flush(c) == -1)
		return conn_tls_fail(c, c->err, conn_errname(c->err),
		    errstr_r);
	return 1;
}

int
conn_starttls_server(struct conn *c, struct tls_server *srv,
    const char **errstr_r)
{
	SSL *ssl;

	if (conn_tls_ready(c, errstr_r) == -1)
		return -1;
	if ((ssl = tls_server_ssl_new(srv, errstr_r)) == NULL)
		return conn_tls_fail(c, CONN_EIO, *errstr_r, errstr_r);
	SSL_set_accept_state(ssl);
	return conn_tls_handshake(c, ssl, errstr_r);
}

static int
conn_is_ip(const char *s)
{
	unsigned char a[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1;
}

int
conn_starttls_client(struct conn *c, struct tls_client *cli,
    const char *servername, const char *verify_name, const char **errstr_r)
{
	X509_VERIFY_PARAM *vp;
	SSL *ssl;
	int ok;

	if (conn_tls_ready(c, errstr_r) == -1)
		return -1;
	if ((ssl = tls_client_ssl_new(cli, errstr_r)) == NULL)
		return conn_tls_fail(c, CONN_EIO, *errstr_r, errstr_r);
	SSL_set_connect_state(ssl);
	ok = 1;
	if (servername != NULL && !conn_is_ip(servername))
		ok = SSL_set_tlsext_host_name(ssl, servername) == 1;
	if (ok && verify_name != NULL) {
		SSL_set_verify(ssl, SSL_VERIFY_PEER, NULL);
		vp = SSL_get0_param(ssl);
		X509_VERIFY_PARAM_set_hostflags(vp,
		    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		ok = conn_is_ip(verify_name) ?
		    X509_VERIFY_PARAM_set1_ip_asc(vp, verify_name) == 1 :
		    X509_VERIFY_PARAM_set1_host(vp, verify_name, 0) == 1;
	}
	if (!ok) {
		SSL_free(ssl);
		ERR_clear_error();
		return conn_tls_fail(c, CONN_EIO, "bad server or verify name",
		    errstr_r);
	}
	return conn_tls_handshake(c, ssl, errstr_r);
}

int
conn_is_tls(const struct conn *c)
{
	return c->ssl != NULL && c->tls_up;
}

const char *
conn_tls_version(const struct conn *c)
{
	return conn_is_tls(c) ? SSL_get_version(c->ssl) : NULL;
}

const char *
conn_tls_cipher(const struct conn *c)
{
	return conn_is_tls(c) ?
	    SSL_CIPHER_get_name(SSL_get_current_cipher(c->ssl)) : NULL;
}

int
conn_tls_bits(const struct conn *c)
{
	return conn_is_tls(c) ?
	    SSL_CIPHER_get_bits(SSL_get_current_cipher(c->ssl), NULL) : 0;
}

const char *
conn_tls_servername(const struct conn *c)
{
	return conn_is_tls(c) ?
	    SSL_get_servername(c->ssl, TLSEXT_NAMETYPE_host_name) : NULL;
}

const char *
conn_tls_certname(const struct conn *c)
{
	return conn_is_tls(c) ? tls_ssl_certname(c->ssl) : NULL;
}
