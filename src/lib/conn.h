/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * A network connection with a bounded read buffer, a write buffer and
 * deadlines: blocking I/O in one-session-per-process daemons, where every
 * wait is a poll() with a timeout on a non-blocking socket. After
 * conn_starttls_server/client every read and write below goes through TLS
 * (OpenSSL, contexts from lib/tls.h) with the same calls and the same
 * deadlines. It never parses protocol: callers get lines or raw bytes.
 * Writes to a closed peer raise SIGPIPE, on TLS too: daemons ignore it.
 */
#ifndef EST_CONN_H
#define EST_CONN_H

#include <stddef.h>

#include "lib/buf.h"

struct ssl_st;
struct tls_client;
struct tls_server;

#define CONN_TOOLONG	(-2)
#define CONN_TLS_SHUTDOWN_MS	1000	/* conn_close's close_notify wait */

enum conn_err {
	CONN_OK = 0,
	CONN_ETIMEOUT,
	CONN_EIO,
	CONN_EOF,
	CONN_ESTOP,	/* stop_fd became readable while waiting for input */
};

struct conn {
	int		 fd;
	struct buf	 rbuf;		/* bytes read, from rpos on unconsumed */
	size_t		 rpos;
	struct buf	 wbuf;
	long long	 deadline;	/* absolute ms (monotonic), 0 = none */
	enum conn_err	 err;
	int		 skipping;	/* discarding the rest of a long line */
	unsigned long long bytes_in, bytes_out;	/* application bytes */
	struct ssl_st	*ssl;		/* NULL: plaintext */
	int		 tls_up;	/* the handshake succeeded */
	int		 tls_dead;	/* fatal TLS error: no close_notify */
	struct buf	 tls_err;	/* text behind the last TLS *errstr_r */
	/* -1 (conn_init), or a descriptor (a self-pipe) that becomes readable
	 * when the owner must stop: a wait for input then fails at once
	 * with CONN_ESTOP. Waits to write are not affected. */
	int		 stop_fd;
};

/* Monotonic clock in milliseconds. */
long long conn_now_ms(void);

void	 conn_init(struct conn *, int fd);
/*
 * Frees buffers and closes the fd (if >= 0). On a TLS connection whose
 * session is intact it first sends a close_notify, waiting at most
 * CONN_TLS_SHUTDOWN_MS for the socket to take it (without waiting for the
 * peer's), then frees the TLS state.
 */
void	 conn_close(struct conn *);

/* Each wait from now on ends at now + ms (absolute: the whole operation). */
void	 conn_set_deadline(struct conn *, long long ms);

/*
 * Reads at least one more byte into the buffer. 1 on data, -1 on EOF,
 * error or deadline (c->err says which). Blocks until then.
 */
int	 conn_fill(struct conn *);

/*
 * Returns the next line, terminator (LF, with any CR before it) included, in
 * line_r/len_r (valid until the next read call); the line is consumed.
 * 1 on a line; -1 on EOF/error/deadline; CONN_TOOLONG when more than max
 * bytes arrive without LF: those bytes are dropped and the rest of that line
 * is discarded silently by the following calls. Blocks.
 */
int	 conn_getline(struct conn *, size_t max, const char **line_r,
	    size_t *len_r);

/* Unconsumed buffered input: pointer and length. Never blocks. */
const char *conn_peek(struct conn *, size_t *avail_r);
void	 conn_consume(struct conn *, size_t n);
/*
 * 1 if input is buffered beyond what was consumed (pipelined), here or, on
 * TLS, decrypted inside OpenSSL and not read yet.
 */
int	 conn_pending(const struct conn *);
/* Drops all buffered input (before a STARTTLS handshake, or on abuse). */
void	 conn_discard_input(struct conn *);

/* Buffers output; flushed by conn_flush or when large. A piece of 16 KiB
 * or more is sent at once, after what is buffered, without a copy. 1 or
 * -1. May block, like conn_flush. */
int	 conn_write(struct conn *, const void *, size_t);
int	 conn_printf(struct conn *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
/* Writes everything buffered before the deadline. 1 or -1. Blocks. */
int	 conn_flush(struct conn *);

/* Text for c->err; for a TLS failure, the TLS reason. */
const char *conn_strerror(const struct conn *);

/*
 * Server-side TLS handshake on an accepted socket (STARTTLS, or at once for
 * implicit TLS), bounded by the connection's deadline (conn_set_deadline;
 * without one it can wait forever). Output still buffered is flushed first,
 * in plaintext (the "220 Ready to start TLS" reply). Unconsumed input must
 * be empty: the caller discards pipelined plaintext first (STARTTLS
 * injection), else this returns -1 with "plaintext input pending" and
 * changes nothing. Sets the socket non-blocking. 1 on success: from then on
 * every read and write goes through TLS. -1 on failure with *errstr_r (the
 * OpenSSL reason, "timeout", "peer closed"; valid until the next call on c)
 * and c->err set; the connection is then unusable and must be closed.
 * Blocks.
 */
int	 conn_starttls_server(struct conn *, struct tls_server *,
	    const char **errstr_r);

/*
 * Client side, same contract. servername (may be NULL; an IP literal is not
 * sent) goes in SNI. When verify_name is non-NULL the server's chain must
 * verify against the client context's CAs and its certificate must match
 * verify_name (a host name, or an IP literal matched against IP SANs); on
 * failure *errstr_r names the verification error. With verify_name NULL any
 * certificate is accepted (opportunistic TLS).
 */
int	 conn_starttls_client(struct conn *, struct tls_client *,
	    const char *servername, const char *verify_name,
	    const char **errstr_r);

/* After a successful handshake; otherwise 0 / NULL. Never block. */
int	 conn_is_tls(const struct conn *);
const char *conn_tls_version(const struct conn *);	/* "TLSv1.3" */
const char *conn_tls_cipher(const struct conn *);	/* "TLS_AES_128_.." */
int	 conn_tls_bits(const struct conn *);		/* cipher strength */
/* The SNI host name (server: as the client sent it, pass it through
 * log_escape(); client: the one we sent), or NULL. */
const char *conn_tls_servername(const struct conn *);
/* Server: first DNS name of the certificate presented, or NULL. */
const char *conn_tls_certname(const struct conn *);

#endif
