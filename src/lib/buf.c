/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * Bounded growable buffers: see buf.h.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "lib/xalloc.h"

static size_t
buf_limit(const struct buf *b)
{
	return b->max ? b->max : SIZE_MAX / 2;
}

void
buf_init(struct buf *b, size_t max)
{
	b->data = NULL;
	b->len = b->cap = 0;
	b->max = max;
	b->wipe = 0;
}

void
buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

void
buf_free_wipe(struct buf *b)
{
	if (b->data != NULL)
		xbzero(b->data, b->cap);
	buf_free(b);
}

void
buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

char *
buf_reserve(struct buf *b, size_t n)
{
	size_t need, ncap;

	if (!size_add(b->len, n, &need) || need > buf_limit(b))
		return NULL;
	if (need + 1 > b->cap) {
		ncap = b->cap ? b->cap : 64;
		while (ncap < need + 1)
			ncap *= 2;
		if (b->wipe && b->data != NULL) {
			/* realloc could leave the old block as it was. */
			char *p = xmalloc(ncap);

			memcpy(p, b->data, b->len + 1);
			xbzero(b->data, b->cap);
			free(b->data);
			b->data = p;
		} else
			b->data = xrealloc(b->data, ncap);
		b->cap = ncap;
	}
	return b->data + b->len;
}

int
buf_append(struct buf *b, const void *p, size_t n)
{
	char *w = buf_reserve(b, n);

	if (w == NULL)
		return -1;
	if (n)
		memcpy(w, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 1;
}

int
buf_appendc(struct buf *b, char c)
{
	return buf_append(b, &c, 1);
}

int
buf_appends(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

int
buf_vappendf(struct buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	char *w;
	int n;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		log_panic("buf_vappendf: bad format \"%s\"", fmt);
	if ((w = buf_reserve(b, (size_t)n)) == NULL)
		return -1;
	(void)vsnprintf(w, (size_t)n + 1, fmt, ap);	/* length known */
	b->len += (size_t)n;
	return 1;
}

int
buf_appendf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = buf_vappendf(b, fmt, ap);
	va_end(ap);
	return r;
}

void
buf_consume(struct buf *b, size_t n)
{
	if (n > b->len)
		log_panic("buf_consume: %zu > %zu", n, b->len);
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
	/* What moved down is still behind the new end: clear it. */
	if (b->wipe)
		memset(b->data + b->len, 0, n);
	b->data[b->len] = '\0';
}

const char *
buf_cstr(const struct buf *b)
{
	return b->data ? b->data : "";
}

char *
buf_steal(struct buf *b)
{
	char *p;

	if (b->data == NULL)
		return xstrdup("");
	p = b->data;
	b->data = NULL;
	b->len = b->cap = 0;
	return p;
}
