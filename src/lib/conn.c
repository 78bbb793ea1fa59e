/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * Buffered connection I/O with deadlines: see conn.h.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/conn.h"
#include "lib/log.h"

#define CONN_READ_CHUNK	16384
#define CONN_WBUF_FLUSH	65536

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
	/* The read buffer never holds more than one chunk beyond a line. */
	buf_init(&c->rbuf, 0);
	buf_init(&c->wbuf, 0);
}

void
conn_close(struct conn *c)
{
	buf_free(&c->rbuf);
	buf_free(&c->wbuf);
	if (c->fd >= 0)
		(void)close(c->fd);	/* nothing to do about a failure */
	c->fd = -1;
}

void
conn_set_deadline(struct conn *c, long long ms)
{
	c->deadline = conn_now_ms() + ms;
}

static int
conn_wait(struct conn *c, short ev)
{
	struct pollfd pfd = { c->fd, ev, 0 };
	long long left;
	int r;

	for (;;) {
		left = c->deadline ? c->deadline - conn_now_ms() : -1;
		if (c->deadline && left <= 0) {
			c->err = CONN_ETIMEOUT;
			return -1;
		}
		r = poll(&pfd, 1, left > 0x7fffffff ? 0x7fffffff : (int)left);
		if (r > 0)
			return 1;
		if (r == -1 && errno != EINTR) {
			c->err = CONN_EIO;
			return -1;
		}
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
	for (;;) {
		n = read(c->fd, w, CONN_READ_CHUNK);
		if (n > 0) {
			c->rbuf.len += (size_t)n;
			c->bytes_in += (unsigned long long)n;
			return 1;
		}
		if (n == 0) {
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
	return c->rbuf.len > c->rpos;
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
	if (buf_append(&c->wbuf, p, n) == -1)
		return -1;
	if (c->wbuf.len >= CONN_WBUF_FLUSH)
		return conn_flush(c);
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

int
conn_flush(struct conn *c)
{
	size_t off = 0;
	ssize_t n;

	while (off < c->wbuf.len) {
		n = write(c->fd, c->wbuf.data + off, c->wbuf.len - off);
		if (n > 0) {
			off += (size_t)n;
			c->bytes_out += (unsigned long long)n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (conn_wait(c, POLLOUT) == -1)
				goto fail;
			continue;
		}
		c->err = CONN_EIO;
		goto fail;
	}
	buf_reset(&c->wbuf);
	return 1;
fail:
	buf_reset(&c->wbuf);
	return -1;
}

const char *
conn_strerror(const struct conn *c)
{
	switch (c->err) {
	case CONN_OK:
		return "ok";
	case CONN_ETIMEOUT:
		return "timeout";
	case CONN_EIO:
		return "i/o error";
	case CONN_EOF:
		return "eof";
	}
	return "?";
}
