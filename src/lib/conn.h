/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * A network connection with a bounded read buffer, a write buffer and
 * deadlines: blocking I/O in one-session-per-process daemons, where every
 * wait is a poll() with a timeout. TLS (issue: TLS/AUTH) will sit behind the
 * same calls. It never parses protocol: callers get lines or raw bytes.
 */
#ifndef EST_CONN_H
#define EST_CONN_H

#include <stddef.h>

#include "lib/buf.h"

#define CONN_TOOLONG	(-2)

enum conn_err {
	CONN_OK = 0,
	CONN_ETIMEOUT,
	CONN_EIO,
	CONN_EOF,
};

struct conn {
	int		 fd;
	struct buf	 rbuf;		/* bytes read, from rpos on unconsumed */
	size_t		 rpos;
	struct buf	 wbuf;
	long long	 deadline;	/* absolute ms (monotonic), 0 = none */
	enum conn_err	 err;
	int		 skipping;	/* discarding the rest of a long line */
	unsigned long long bytes_in, bytes_out;
};

/* Monotonic clock in milliseconds. */
long long conn_now_ms(void);

void	 conn_init(struct conn *, int fd);
/* Frees buffers and closes the fd (if >= 0). */
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
/* 1 if input is buffered beyond what was consumed (pipelined). */
int	 conn_pending(const struct conn *);
/* Drops all buffered input (after STARTTLS, or on abuse). */
void	 conn_discard_input(struct conn *);

/* Buffers output; flushed by conn_flush or when large. 1 or -1. */
int	 conn_write(struct conn *, const void *, size_t);
int	 conn_printf(struct conn *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
/* Writes everything buffered before the deadline. 1 or -1. Blocks. */
int	 conn_flush(struct conn *);

const char *conn_strerror(const struct conn *);

#endif
